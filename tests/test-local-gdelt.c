/* The synthetic GDELT 1.0 historical files of the local engine's public
 * bucket (local/gdelt_synth.h): format, row counts, the statistics
 * gdelt-facts.md measured on real rows (with tolerances), determinism,
 * and how the object store is filled. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../local/gdelt_synth.h"
#include "../local/s3store.h"
#include "../runner/buf.h"
#include "../runner/error.h"
#include "local-helpers.h"
#include "test.h"

static int to_buf(void *arg, const void *data, size_t len)
{
  return buf_add(arg, data, len);
}

/* The file of year at scale, in memory. */
static char *generate(int year, double scale, size_t *len)
{
  struct buf b;

  buf_init(&b, (size_t)1 << 30);
  ASSERT_EQ(0, gdelt_synth_generate(year, scale, to_buf, &b));
  return buf_detach(&b, len);
}

TEST(local_gdelt_rows_by_year)
{
  long long prev = 0, n;
  int y;

  /* ~0.4 M rows for 1979 to ~0.9 M for 1984, growing every year. */
  ASSERT(gdelt_synth_rows(1979, 1) > 380000);
  ASSERT(gdelt_synth_rows(1979, 1) < 480000);
  ASSERT(gdelt_synth_rows(1984, 1) > 850000);
  ASSERT(gdelt_synth_rows(1984, 1) < 950000);
  for (y = GDELT_SYNTH_FIRST_YEAR; y <= GDELT_SYNTH_LAST_YEAR; y++) {
    n = gdelt_synth_rows(y, 1);
    ASSERT(n > prev);
    prev = n;
  }
  ASSERT_EQ(0, gdelt_synth_rows(1978, 1));
  ASSERT_EQ(0, gdelt_synth_rows(2013, 1));
  ASSERT_EQ(0, gdelt_synth_rows(1979, 0));
  /* The scale multiplies; a tiny scale still makes a file. */
  n = gdelt_synth_rows(1979, 0.01);
  ASSERT(llabs(n - gdelt_synth_rows(1979, 1) / 100) <= 1);
  ASSERT_EQ(1, gdelt_synth_rows(1979, 1e-9));
  ASSERT_EQ(1979, gdelt_synth_key_year("events/1979.csv"));
  ASSERT_EQ(2012, gdelt_synth_key_year("events/2012.csv"));
  ASSERT_EQ(0, gdelt_synth_key_year("events/2013.csv"));
  ASSERT_EQ(0, gdelt_synth_key_year("events/1979.csv.gz"));
  ASSERT_EQ(0, gdelt_synth_key_year("other/1979.csv"));
  ASSERT_EQ(0, gdelt_synth_key_year("events/19x9.csv"));
}

/* Splits line (up to '\n') into fields; returns how many. */
static int split(char *line, char **fields, int max)
{
  int n = 0;
  char *p = line;

  for (;;) {
    if (n < max)
      fields[n] = p;
    n++;
    p = strpbrk(p, "\t\n");
    if (p == NULL || *p == '\n') {
      if (p)
        *p = '\0';
      return n;
    }
    *p++ = '\0';
  }
}

TEST(local_gdelt_format)
{
  size_t len;
  char *data = generate(1979, 0.02, &len), *line, *next;
  char *f[64];
  long long rows = 0;
  long prev_date = 0;

  ASSERT(len > 0 && data[len - 1] == '\n');
  /* FractionDate as the files print it: 1 January is 1979.0027. */
  {
    static const char first[] = "19790101\t197901\t1979\t1979.0027\t";

    ASSERT(strncmp(strchr(data, '\t') + 1, first, strlen(first)) == 0);
  }
  for (line = data; line < data + len; line = next) {
    next = strchr(line, '\n') + 1;
    ASSERT_EQ(57, split(line, f, 64));
    /* No header: every row starts with a number. */
    ASSERT(f[0][0] >= '0' && f[0][0] <= '9');
    /* Sorted by date, all in the year. */
    ASSERT(strtol(f[1], NULL, 10) >= prev_date);
    prev_date = strtol(f[1], NULL, 10);
    ASSERT(strncmp(f[1], "1979", 4) == 0);
    ASSERT_STR_EQ("1979", f[3]);
    /* Codes: base and root are prefixes; QuadClass follows the root. */
    ASSERT(strncmp(f[26], f[27], 3) == 0 && strlen(f[27]) == 3);
    ASSERT(strncmp(f[26], f[28], 2) == 0 && strlen(f[28]) == 2);
    ASSERT(f[29][0] >= '1' && f[29][0] <= '4' && f[29][1] == '\0');
    /* Missing places as historical files write them. */
    if (f[35][0] == '\0') {
      ASSERT_STR_EQ("0", f[39]);
      ASSERT_STR_EQ("0", f[40]);
      ASSERT_STR_EQ("0", f[41]);
    }
    if (f[49][0] == '\0') {
      ASSERT_STR_EQ("0", f[53]);
      ASSERT_STR_EQ("", f[55]);
    }
    /* Numbers without trailing zeros or ".0". */
    ASSERT(strchr(f[34], '.') == NULL || f[34][strlen(f[34]) - 1] != '0');
    ASSERT(f[34][strlen(f[34]) - 1] != '.');
    ASSERT(strncmp(f[56], "201302", 6) == 0);
    rows++;
  }
  ASSERT_EQ(gdelt_synth_rows(1979, 0.02), rows);
  free(data);
}

struct code_count {
  char code[8];
  long long n;
};

static int by_count(const void *a, const void *b)
{
  const struct code_count *x = a, *y = b;

  return x->n < y->n ? 1 : x->n > y->n ? -1 : strcmp(x->code, y->code);
}

/* The distributions gdelt-facts.md §3 measured, within tolerances. */
TEST(local_gdelt_statistics)
{
  size_t len, i;
  char *data = generate(1979, 0.25, &len), *line, *next;
  char *f[64];
  struct code_count codes[400];
  size_t ncodes = 0;
  long long rows = 0, a1_zero = 0, a2_zero = 0, either = 0, four = 0;
  long long articles_one = 0, articles_max = 0, hist[64] = {0};
  double articles_sum = 0, tone_sum = 0, tone_sq = 0, tone_min = 1e9;
  double coop_sum = 0, conflict_sum = 0, coop_n = 0, conflict_n = 0;
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, top20 = 0, mean, sd;
  long long cum;
  int median = 0;

  for (line = data; line < data + len; line = next) {
    double tone, la;
    long long articles;
    int root;

    next = strchr(line, '\n') + 1;
    split(line, f, 64);
    rows++;
    for (i = 0; i < ncodes && strcmp(codes[i].code, f[26]) != 0; i++)
      ;
    if (i == ncodes) {
      ASSERT(ncodes < 400);
      snprintf(codes[ncodes].code, sizeof(codes[ncodes].code), "%s", f[26]);
      codes[ncodes++].n = 0;
    }
    codes[i].n++;
    four += strlen(f[26]) == 4;
    a1_zero += strcmp(f[39], "0") == 0 && strcmp(f[40], "0") == 0;
    a2_zero += strcmp(f[46], "0") == 0 && strcmp(f[47], "0") == 0;
    either += (strcmp(f[39], "0") == 0 && strcmp(f[40], "0") == 0) ||
              (strcmp(f[46], "0") == 0 && strcmp(f[47], "0") == 0);
    articles = strtoll(f[33], NULL, 10);
    ASSERT(articles >= 1);
    articles_one += articles == 1;
    articles_sum += (double)articles;
    if (articles > articles_max)
      articles_max = articles;
    hist[articles < 63 ? articles : 63]++;
    tone = strtod(f[34], NULL);
    if (tone < tone_min)
      tone_min = tone;
    tone_sum += tone;
    tone_sq += tone * tone;
    root = (int)strtol(f[28], NULL, 10);
    if (root <= 5) {
      coop_sum += tone;
      coop_n++;
    } else if (root >= 15) {
      conflict_sum += tone;
      conflict_n++;
    }
    la = log((double)articles);
    sx += la;
    sy += tone;
    sxx += la * la;
    syy += tone * tone;
    sxy += la * tone;
  }
  free(data);
  qsort(codes, ncodes, sizeof(codes[0]), by_count);
  printf("# rows %lld, codes %zu, top %s %.2f%%\n", rows, ncodes, codes[0].code,
         100.0 * (double)codes[0].n / (double)rows);
  /* EventCode: ~200 distinct, the top ones 7-8 % each, the top 20
   * about 77 %, 97 % three-digit. */
  ASSERT(ncodes >= 180 && ncodes <= 240);
  for (i = 0; i < 4; i++) {
    double share = (double)codes[i].n / (double)rows;

    ASSERT(share > 0.065 && share < 0.09);
  }
  for (i = 0; i < 20; i++)
    top20 += (double)codes[i].n / (double)rows;
  ASSERT(top20 > 0.72 && top20 < 0.82);
  ASSERT(fabs((double)four / (double)rows - 0.03) < 0.01);
  /* Geography at (0, 0): ~16 % and ~38 %, rarely both. */
  ASSERT(fabs((double)a1_zero / (double)rows - 0.159) < 0.015);
  ASSERT(fabs((double)a2_zero / (double)rows - 0.384) < 0.02);
  ASSERT(fabs((double)either / (double)rows - 0.53) < 0.03);
  /* NumArticles: median 4, ~16 % ones, mean ~9, a long tail. */
  for (cum = 0; cum * 2 < rows; median++)
    cum += hist[median];
  ASSERT_EQ(4, median - 1);
  ASSERT(fabs((double)articles_one / (double)rows - 0.159) < 0.03);
  ASSERT(articles_sum / (double)rows > 7 && articles_sum / (double)rows < 11);
  ASSERT(articles_max > 300);
  /* AvgTone: never negative, mean ~5, sd ~3. */
  mean = tone_sum / (double)rows;
  sd = sqrt(tone_sq / (double)rows - mean * mean);
  printf("# AvgTone mean %.3f sd %.3f\n", mean, sd);
  ASSERT(tone_min >= 0);
  ASSERT(fabs(mean - 5.08) < 0.4);
  ASSERT(fabs(sd - 2.88) < 0.4);
  /* Learnable: cooperation reads warmer than violence, and tone grows
   * with log(NumArticles). */
  ASSERT(coop_sum / coop_n - conflict_sum / conflict_n > 1.0);
  {
    double n = (double)rows;
    double r =
        (n * sxy - sx * sy) / sqrt((n * sxx - sx * sx) * (n * syy - sy * sy));

    printf("# corr(AvgTone, log NumArticles) %.3f\n", r);
    ASSERT(r > 0.1);
  }
}

/* A cheap digest for comparing files. */
static unsigned long long fnv(const char *p, size_t n)
{
  unsigned long long h = 1469598103934665603ull;
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

TEST(local_gdelt_deterministic)
{
  size_t a_len, b_len, c_len;
  char *a = generate(1980, 0.02, &a_len);
  char *b = generate(1980, 0.02, &b_len);
  char *c = generate(1981, 0.02, &c_len);

  ASSERT_EQ(a_len, b_len);
  ASSERT(memcmp(a, b, a_len) == 0);
  ASSERT(fnv(a, a_len) != fnv(c, c_len));
  free(a);
  free(b);
  free(c);
  ASSERT_EQ(SR_EINVAL, gdelt_synth_generate(1978, 1, to_buf, NULL));
}

/* The object store gets the file once; real data PUT there stays. */
TEST(local_gdelt_ensure)
{
  struct lt_engine t;
  struct s3store *s;
  struct s3store_object o, o2;
  struct s3store_writer *w;
  struct s3store_put put = {"text/csv", NULL};
  size_t len;
  char *data;

  ASSERT_EQ(0, setenv("SAGERUN_GDELT_SCALE", "0.005", 1));
  lt_loop_init(&t);
  lt_open(&t, "e");
  s = local_engine_s3(t.e);
  ASSERT_EQ(SR_ENOENT,
            s3store_object_get(s, "gdelt-open-data", "events/1979.csv", &o));
  ASSERT_EQ(0, local_gdelt_ensure(t.e, 1979));
  ASSERT_EQ(0, s3store_object_get(s, "gdelt-open-data", "events/1979.csv", &o));
  data = generate(1979, 0.005, &len);
  ASSERT_EQ((long long)len, o.size);
  free(data);
  ASSERT_CONTAINS(o.headers, "x-amz-meta-sagerun-synthetic");
  /* Once made, it is served as it is. */
  ASSERT_EQ(0, local_gdelt_ensure(t.e, 1979));
  ASSERT_EQ(0,
            s3store_object_get(s, "gdelt-open-data", "events/1979.csv", &o2));
  ASSERT_STR_EQ(o.file, o2.file);
  s3store_object_free(&o2);
  /* Another scale makes it again. */
  ASSERT_EQ(0, setenv("SAGERUN_GDELT_SCALE", "0.002", 1));
  ASSERT_EQ(0, local_gdelt_ensure(t.e, 1979));
  ASSERT_EQ(0,
            s3store_object_get(s, "gdelt-open-data", "events/1979.csv", &o2));
  ASSERT(strcmp(o.file, o2.file) != 0);
  ASSERT(o2.size < o.size);
  s3store_object_free(&o2);
  s3store_object_free(&o);
  /* Real data put in its place is never replaced. */
  ASSERT_EQ(0, s3store_writer_begin(s, &w));
  ASSERT_EQ(0, s3store_writer_write(w, "real\n", 5));
  ASSERT_EQ(0, s3store_writer_commit(w, "gdelt-open-data", "events/1979.csv",
                                     &put, local_engine_now(t.e), NULL));
  ASSERT_EQ(0, local_gdelt_ensure(t.e, 1979));
  ASSERT_EQ(0, s3store_object_get(s, "gdelt-open-data", "events/1979.csv", &o));
  ASSERT_EQ(5, o.size);
  s3store_object_free(&o);
  ASSERT_EQ(SR_ENOENT, local_gdelt_ensure(t.e, 1978));
  lt_close(&t);
  lt_loop_done(&t);
}
