#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../runner/floattext.h"
#include "test.h"

/* Fails with both texts unless floattext_g9 writes what printf does. */
static int same_as_printf(float v)
{
  char ours[FLOATTEXT_MAX], want[64];
  size_t len = floattext_g9(v, ours);

  snprintf(want, sizeof(want), "%.9g", (double)v);
  if (strcmp(ours, want) != 0 || len != strlen(want)) {
    fprintf(stderr, "floattext_g9(%a) = \"%s\", printf says \"%s\"\n",
            (double)v, ours, want);
    return 0;
  }
  return 1;
}

TEST(floattext_matches_printf_on_edges)
{
  static const float fixed[] = {0.0f,
                                -0.0f,
                                1.0f,
                                -1.0f,
                                0.1f,
                                7.151234f,
                                123456789.0f,
                                999999999.0f,
                                1e9f,
                                1e-4f,
                                1.2e-4f,
                                9.99999975e-05f,
                                0.5f,
                                3.40282347e38f,
                                1.17549435e-38f,
                                1.40129846e-45f,
                                16777216.0f,
                                16777217.0f,
                                8388608.5f};
  size_t i;
  int k;

  for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    ASSERT(same_as_printf(fixed[i]));
  ASSERT(same_as_printf(INFINITY));
  ASSERT(same_as_printf(-INFINITY));
  ASSERT(same_as_printf(NAN));
  /* Around every power of ten the fast range covers, where the decimal
   * exponent guess and the rounding up to ten digits meet. */
  for (k = -5; k <= 10; k++) {
    float p = (float)pow(10, k), a = p, b = p;
    int j;

    for (j = 0; j < 64; j++) {
      ASSERT(same_as_printf(a));
      ASSERT(same_as_printf(-b));
      a = nextafterf(a, INFINITY);
      b = nextafterf(b, 0);
    }
  }
}

TEST(floattext_matches_printf_on_random_bits)
{
  uint64_t s = 0x243f6a8885a308d3ULL;
  int i;

  for (i = 0; i < 400000; i++) {
    uint32_t bits;
    float v;

    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    bits = (uint32_t)(s >> 16);
    /* Half anywhere, half in the range answers use (2^-14 .. 2^31). */
    if (i & 1)
      bits = (bits & 0x807fffffu) | (uint32_t)(113 + (s >> 58) % 45) << 23;
    memcpy(&v, &bits, sizeof(v));
    ASSERT(same_as_printf(v));
  }
}

TEST(floattext_matches_printf_on_short_decimals)
{
  int i, k;

  /* Scores like 7.25 and 0.001 whose nine digits end in zeros. */
  for (k = 0; k < 7; k++)
    for (i = -20000; i <= 20000; i += 7)
      ASSERT(same_as_printf((float)(i / pow(10, k))));
}

TEST(floattext_add_appends)
{
  struct buf b;

  buf_init(&b, 64);
  ASSERT_EQ(0, floattext_add(&b, 2.5f));
  ASSERT_EQ(0, buf_adds(&b, ","));
  ASSERT_EQ(0, floattext_add(&b, -0.125f));
  ASSERT_STR_EQ("2.5,-0.125", buf_str(&b));
  buf_free(&b);
}
