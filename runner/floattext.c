/* Float32 as "%.9g" text: see floattext.h.
 *
 * A normal float is m * 2^e2 with m below 2^24. For nine significant
 * digits we need N = round(|v| * 10^q) with q = 8 - floor(log10 |v|).
 * The binary exponent gives floor(log10 |v|) to within one (too low at
 * most), so N is first computed with that guess and, when it comes out
 * with ten digits, once more with q one smaller. With |v| between
 * 2^-13 and 2^30, m * 10^q stays below 2^64 and the shift by -e2 below
 * 64 bits, so N and its rounding (to even on ties, as printf rounds the
 * exact binary value) are exact in 64-bit integers. */
#include "floattext.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const uint64_t pow10_u64[13] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL};

static const char digit_pairs[201] =
    "0001020304050607080910111213141516171819202122232425262728293031323334"
    "3536373839404142434445464748495051525354555657585960616263646566676869"
    "707172737475767778798081828384858687888990919293949596979899";

/* round(m * 2^e2 * 10^q), ties to even; q in 0..12, e2 in -36..6. */
static uint64_t scaled(uint64_t m, int e2, int q)
{
  uint64_t num = m * pow10_u64[q], n, rem, half;
  int s;

  if (e2 >= 0)
    return num << e2;
  s = -e2;
  n = num >> s;
  rem = num & ((1ULL << s) - 1);
  half = 1ULL << (s - 1);
  if (rem > half || (rem == half && (n & 1)))
    n++;
  return n;
}

static size_t slow(float v, char out[FLOATTEXT_MAX])
{
  int n = snprintf(out, FLOATTEXT_MAX, "%.9g", (double)v);

  return n > 0 ? (size_t)n : 0;
}

size_t floattext_g9(float v, char out[FLOATTEXT_MAX])
{
  uint32_t bits;
  uint64_t m, n;
  int be, e2, q, x, nd, i;
  char digits[9], *p = out;

  memcpy(&bits, &v, sizeof(bits));
  be = (int)((bits >> 23) & 0xff) - 127;
  /* Zero, subnormals, tiny, huge, infinities and NaN: printf's way. */
  if (be < -13 || be > 29)
    return slow(v, out);
  m = (bits & 0x7fffff) | 0x800000;
  e2 = be - 23;
  /* floor(be * log10(2)), never above floor(log10 |v|). */
  q = 8 - (be * 78913 >> 18);
  if (q < 0 || q > 12)
    return slow(v, out);
  n = scaled(m, e2, q);
  if (n >= pow10_u64[9]) {
    if (--q < 0)
      return slow(v, out);
    n = scaled(m, e2, q);
  }
  x = 8 - q; /* the decimal exponent of the rounded value */
  if (x < -4 || x > 8)
    return slow(v, out);
  /* Two digits a step: n / 100 is a multiplication, 9 digits 5 steps. */
  for (i = 7; i >= 1; i -= 2) {
    memcpy(digits + i, digit_pairs + 2 * (n % 100), 2);
    n /= 100;
  }
  digits[0] = (char)('0' + n);
  /* "%g" drops trailing zeros of the fraction, never of the integer. */
  nd = 9;
  while (nd > x + 1 && nd > 1 && digits[nd - 1] == '0')
    nd--;
  if (bits >> 31)
    *p++ = '-';
  if (x >= 0) {
    memcpy(p, digits, (size_t)x + 1);
    p += x + 1;
    if (nd > x + 1) {
      *p++ = '.';
      memcpy(p, digits + x + 1, (size_t)(nd - x - 1));
      p += nd - x - 1;
    }
  } else {
    *p++ = '0';
    *p++ = '.';
    for (i = 0; i < -x - 1; i++)
      *p++ = '0';
    memcpy(p, digits, (size_t)nd);
    p += nd;
  }
  *p = '\0';
  return (size_t)(p - out);
}

int floattext_add(struct buf *b, float v)
{
  char text[FLOATTEXT_MAX];
  size_t len = floattext_g9(v, text);

  return buf_add(b, text, len);
}
