/* GDELT data: column layouts, number parsing, every drop reason and
 * missing policy, seed_compat, chunked scans that tile a file exactly,
 * gzip and zip sources, the dirty-input corpus, the real rows in
 * ../shared/data/gdelt (skipped visibly when absent), shuffling and
 * splitting, profiles, the three steps run by the scheduler (file://,
 * http:// and s3:// through a recording client; plan), and the seed's
 * pandas preparation as the oracle. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../runner/aws.h"
#include "../runner/buf.h"
#include "../runner/dag.h"
#include "../runner/error.h"
#include "../runner/exec.h"
#include "../runner/gdelt.h"
#include "../runner/recordio.h"
#include "../runner/workflow.h"
#include "test.h"

#define PEER_PYTHON "/usr/bin/python3"
#define SHARED_DATA "../shared/data/gdelt"

static const char *const seed_features[] = {"NumArticles", "Actor1Geo_Lat",
                                            "Actor1Geo_Long", "Actor2Geo_Lat",
                                            "Actor2Geo_Long"};

/* ---- Helpers ------------------------------------------------------------- */

static char *path_in_tmp(const char *name)
{
  struct buf b;

  buf_init(&b, 4096);
  buf_addf(&b, "%s/%s", test_tmpdir(), name);
  return buf_detach(&b, NULL);
}

static void write_bytes(const char *path, const void *data, size_t len)
{
  FILE *f = fopen(path, "wb");

  ASSERT(f != NULL);
  ASSERT_EQ(len, fwrite(data, 1, len, f));
  ASSERT_EQ(0, fclose(f));
}

static char *read_all(const char *path, size_t *len)
{
  char *s = test_read_file(path, len);

  ASSERT(s != NULL);
  return s;
}

/* A spec for prepare-like scans: the seed's label and features. */
static void spec_prepare(struct gdelt_spec *s, const char *const *events,
                         size_t nevents)
{
  size_t i;

  memset(s, 0, sizeof(*s));
  s->events = events;
  s->nevents = nevents;
  s->one_hot = 1;
  s->label = "AvgTone";
  for (i = 0; i < 5; i++)
    s->features[i] = seed_features[i];
  s->nfeatures = 5;
  s->drop_zero_geo = 1;
}

/* Compiles s (twice, freeing in between: compile after free works). */
static void compile(struct gdelt_spec *s)
{
  char err[256];
  int rc = gdelt_spec_compile(s, err, sizeof(err));

  if (rc != 0)
    printf("# %s\n", err);
  ASSERT_EQ(0, rc);
  gdelt_spec_free(s);
  ASSERT_EQ(0, gdelt_spec_compile(s, err, sizeof(err)));
}

/* Scans path whole (nchunks 1) or as nchunks byte ranges, merged. */
static int scan_path(const struct gdelt_spec *s, const char *path,
                     size_t nchunks, struct gdelt_scan *out, char *err,
                     size_t errlen)
{
  struct gdelt_source *src;
  struct stat st;
  size_t i;
  int rc = 0;

  ASSERT_EQ(0, stat(path, &st));
  gdelt_scan_init(out, s, 1);
  for (i = 0; rc == 0 && i < nchunks; i++) {
    struct gdelt_scan part;
    uint64_t size = (uint64_t)st.st_size;
    uint64_t start = size * i / nchunks, end = size * (i + 1) / nchunks;
    /* end 0 means "to the end": an empty range is no range at all. */
    if (start == end && i + 1 < nchunks)
      continue;
    rc = gdelt_source_open(path, &src, err, errlen);
    if (rc)
      break;
    gdelt_scan_init(&part, s, start == 0);
    rc = gdelt_scan_source(s, &part, src, start, i + 1 == nchunks ? 0 : end,
                           NULL, err, errlen);
    gdelt_source_close(src);
    if (rc && part.error)
      rc = 0; /* kept in the scan, reported by merge */
    ASSERT_EQ(0, gdelt_scan_merge(out, &part));
  }
  return rc;
}

static int scan_line_text(const struct gdelt_spec *s, struct gdelt_scan *sc,
                          const char *line)
{
  return gdelt_scan_line(s, sc, line, strlen(line));
}

/* ---- Synthetic rows -------------------------------------------------------
 * Lines in GDELT's layouts with made-up values: realistic shapes (codes
 * with leading zeros and skewed counts, many (0, 0) places, long tones),
 * deterministic from a seed. */

struct row_values {
  const char *code, *articles, *tone, *lat1, *long1, *lat2, *long2;
};

static uint64_t lcg(uint64_t *x)
{
  *x = *x * 6364136223846793005ull + 1442695040888963407ull;
  return *x >> 33;
}

/* Appends one line (with '\n') of layout l. */
static void row_add(struct buf *b, enum gdelt_layout l,
                    const struct row_values *v, uint64_t id)
{
  const char *f[GDELT_MAX_COLUMNS];
  char idtext[32];
  size_t i, n = gdelt_layout_columns(l);

  snprintf(idtext, sizeof(idtext), "%llu", (unsigned long long)id);
  for (i = 0; i < n; i++) {
    const char *name = gdelt_column_name(l, i);
    f[i] = "";
    if (strcmp(name, "GLOBALEVENTID") == 0)
      f[i] = idtext;
    else if (strcmp(name, "SQLDATE") == 0)
      f[i] = "19790101";
    else if (strcmp(name, "Year") == 0)
      f[i] = "1979";
    else if (strcmp(name, "Actor1Name") == 0)
      f[i] = "UNITED STATES";
    else if (strcmp(name, "Actor1Geo_FullName") == 0)
      f[i] = "Washington, District of Columbia, United States";
    else if (strcmp(name, "EventCode") == 0)
      f[i] = v->code;
    else if (strcmp(name, "NumArticles") == 0)
      f[i] = v->articles;
    else if (strcmp(name, "AvgTone") == 0)
      f[i] = v->tone;
    else if (strcmp(name, "Actor1Geo_Lat") == 0)
      f[i] = v->lat1;
    else if (strcmp(name, "Actor1Geo_Long") == 0)
      f[i] = v->long1;
    else if (strcmp(name, "Actor2Geo_Lat") == 0)
      f[i] = v->lat2;
    else if (strcmp(name, "Actor2Geo_Long") == 0)
      f[i] = v->long2;
    else if (strcmp(name, "DATEADDED") == 0)
      f[i] = "20130203";
    else if (strcmp(name, "SOURCEURL") == 0)
      f[i] = "http://example.com/a";
  }
  for (i = 0; i < n; i++) {
    if (i)
      ASSERT_EQ(0, buf_addc(b, '\t'));
    ASSERT_EQ(0, buf_adds(b, f[i]));
  }
  ASSERT_EQ(0, buf_addc(b, '\n'));
}

#define SYNTH_MIXED 1  /* daily and v2 lines too */
#define SYNTH_BLANKS 2 /* some blank values */
#define SYNTH_JUNK 4   /* blank and malformed lines */

static void synth_write(const char *path, size_t nrows, uint64_t seed,
                        int flags)
{
  static const char *const codes[] = {
      "010", "042", "043",  "040", "020", "036", "051", "046",  "190",
      "173", "112", "013",  "120", "030", "071", "193", "110",  "060",
      "012", "090", "0211", "111", "084", "141", "172", "1011", "0331"};
  struct buf b;
  uint64_t x = seed;
  size_t i;

  buf_init(&b, (size_t)1 << 30);
  for (i = 0; i < nrows; i++) {
    char articles[16], tone[40], lat1[24], long1[24], lat2[24], long2[24];
    struct row_values v;
    enum gdelt_layout l = GDELT_LAYOUT_HISTORICAL;
    uint64_t r = lcg(&x) % 1000;
    /* A skewed code mix: the first codes are the most frequent. */
    size_t c = (size_t)(lcg(&x) % 27);
    if (lcg(&x) % 3)
      c = c % 9;
    v.code = codes[c];
    snprintf(articles, sizeof(articles), "%llu",
             (unsigned long long)(1 + lcg(&x) % 30));
    if (lcg(&x) % 4 == 0)
      snprintf(tone, sizeof(tone), "%llu", (unsigned long long)(lcg(&x) % 12));
    else
      snprintf(tone, sizeof(tone), "%.15g",
               (double)(lcg(&x) % 1000000000) / 83333333.0);
    snprintf(lat1, sizeof(lat1), "%.4f",
             (double)(lcg(&x) % 1800000) / 10000.0 - 90);
    snprintf(long1, sizeof(long1), "%.4f",
             (double)(lcg(&x) % 3600000) / 10000.0 - 180);
    snprintf(lat2, sizeof(lat2), "%lld", (long long)(lcg(&x) % 180) - 90);
    snprintf(long2, sizeof(long2), "%lld", (long long)(lcg(&x) % 360) - 180);
    v.articles = articles;
    v.tone = tone;
    v.lat1 = lat1;
    v.long1 = long1;
    v.lat2 = lat2;
    v.long2 = long2;
    if (r < 150) {
      v.lat1 = "0";
      v.long1 = "0";
    } else if (r < 450) {
      v.lat2 = "0";
      v.long2 = "0";
    }
    if (flags & SYNTH_MIXED) {
      uint64_t m = lcg(&x) % 100;
      if (m < 10)
        l = GDELT_LAYOUT_DAILY;
      else if (m < 15)
        l = GDELT_LAYOUT_V2;
      /* Daily files leave an unknown place blank. */
      if (l != GDELT_LAYOUT_HISTORICAL && r < 150) {
        v.lat1 = "";
        v.long1 = "";
      }
    }
    if ((flags & SYNTH_BLANKS) && lcg(&x) % 100 == 0)
      v.tone = "";
    if ((flags & SYNTH_BLANKS) && lcg(&x) % 150 == 0)
      v.articles = "";
    row_add(&b, l, &v, i);
    if ((flags & SYNTH_JUNK) && lcg(&x) % 200 == 0)
      ASSERT_EQ(0, buf_adds(&b, lcg(&x) % 2 ? "\n" : "only\tthree\tfields\n"));
  }
  write_bytes(path, buf_str(&b), buf_len(&b));
  buf_free(&b);
}

/* ---- Columns and numbers ------------------------------------------------- */

TEST(gdelt_columns_by_name)
{
  enum gdelt_layout l;

  /* gdelt-facts.md §1: zero-based indices of the historical layout. */
  ASSERT_EQ(26, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "EventCode"));
  ASSERT_EQ(33, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "NumArticles"));
  ASSERT_EQ(34, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "AvgTone"));
  ASSERT_EQ(39, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "Actor1Geo_Lat"));
  ASSERT_EQ(40, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "Actor1Geo_Long"));
  ASSERT_EQ(46, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "Actor2Geo_Lat"));
  ASSERT_EQ(47, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "Actor2Geo_Long"));
  ASSERT_EQ(56, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "DATEADDED"));
  ASSERT_EQ(-1, gdelt_column_index(GDELT_LAYOUT_HISTORICAL, "SOURCEURL"));
  /* Daily: the same plus SOURCEURL. */
  ASSERT_EQ(57, gdelt_column_index(GDELT_LAYOUT_DAILY, "SOURCEURL"));
  ASSERT_EQ(47, gdelt_column_index(GDELT_LAYOUT_DAILY, "Actor2Geo_Long"));
  /* 2.0: an ADM2Code after each ADM1Code shifts what follows. */
  ASSERT_EQ(38, gdelt_column_index(GDELT_LAYOUT_V2, "Actor1Geo_ADM1Code"));
  ASSERT_EQ(39, gdelt_column_index(GDELT_LAYOUT_V2, "Actor1Geo_ADM2Code"));
  ASSERT_EQ(40, gdelt_column_index(GDELT_LAYOUT_V2, "Actor1Geo_Lat"));
  ASSERT_EQ(47, gdelt_column_index(GDELT_LAYOUT_V2, "Actor2Geo_ADM2Code"));
  ASSERT_EQ(48, gdelt_column_index(GDELT_LAYOUT_V2, "Actor2Geo_Lat"));
  ASSERT_EQ(55, gdelt_column_index(GDELT_LAYOUT_V2, "ActionGeo_ADM2Code"));
  ASSERT_EQ(59, gdelt_column_index(GDELT_LAYOUT_V2, "DATEADDED"));
  ASSERT_EQ(60, gdelt_column_index(GDELT_LAYOUT_V2, "SOURCEURL"));
  ASSERT_EQ(26, gdelt_column_index(GDELT_LAYOUT_V2, "EventCode"));
  ASSERT(gdelt_column_name(GDELT_LAYOUT_V2, 61) == NULL);
  ASSERT_EQ(GDELT_LAYOUT_DAILY, gdelt_layout_of(58));
  ASSERT_EQ(GDELT_LAYOUT_AUTO, gdelt_layout_of(59));
  ASSERT_EQ(0, gdelt_layout_parse("v2", &l));
  ASSERT_EQ(GDELT_LAYOUT_V2, l);
  ASSERT_EQ(SR_EINVAL, gdelt_layout_parse("v3", &l));
  ASSERT_STR_EQ("historical", gdelt_layout_name(GDELT_LAYOUT_HISTORICAL));
}

/* Every decimal the parser reads becomes the float32 that strtod and a
 * cast would give, fast path or not. */
TEST(gdelt_numbers_round_correctly)
{
  static const char *const extra[] = {"0",
                                      "-0",
                                      "1",
                                      "4.8",
                                      "-97",
                                      "38.8951",
                                      "1e3",
                                      "1E-3",
                                      "+7",
                                      ".5",
                                      "5.",
                                      "2.63157894736842",
                                      "0.000000000000000000000001",
                                      "123456789012345678901234567890",
                                      "9007199254740993",
                                      "3.4028235e38",
                                      "1.17549435e-38",
                                      "7.0064923e-46"};
  struct gdelt_spec s;
  struct gdelt_scan sc;
  struct buf line;
  const char *ev[1] = {"010"};
  uint64_t x = 7;
  size_t i, n = 0;
  char text[64];

  spec_prepare(&s, ev, 1);
  s.drop_zero_geo = 0;
  compile(&s);
  gdelt_scan_init(&sc, &s, 1);
  buf_init(&line, 1 << 20);
  for (i = 0; i < 2000 + sizeof(extra) / sizeof(*extra); i++) {
    struct row_values v = {"010", "1", text, "1", "1", "1", "1"};
    const float *rows;
    double want;
    if (i < 2000) {
      /* Random digits, random point, some exponents. */
      int digits = 1 + (int)(lcg(&x) % 19), k, p = 0;
      p += snprintf(text + p, sizeof(text) - (size_t)p, "%s",
                    lcg(&x) % 2 ? "-" : "");
      int point = (int)(lcg(&x) % 24);
      for (k = 0; k < digits; k++) {
        if (k == point)
          text[p++] = '.';
        text[p++] = (char)('0' + lcg(&x) % 10);
      }
      text[p] = '\0';
      if (lcg(&x) % 5 == 0)
        snprintf(text + p, sizeof(text) - (size_t)p, "e%d",
                 (int)(lcg(&x) % 60) - 30);
    } else {
      snprintf(text, sizeof(text), "%s", extra[i - 2000]);
    }
    buf_reset(&line);
    row_add(&line, GDELT_LAYOUT_HISTORICAL, &v, i);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&line), buf_len(&line) - 1));
    want = strtod(text, NULL);
    if (!isfinite(want))
      continue;
    rows = (const float *)buf_str(&sc.rows);
    if (rows[n * 6] != (float)want)
      printf("# %s: got %.9g, want %.9g\n", text, (double)rows[n * 6], want);
    ASSERT(rows[n * 6] == (float)want);
    n++;
  }
  ASSERT_EQ(n, sc.kept);
  buf_free(&line);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);
}

/* ---- Scanning lines ------------------------------------------------------ */

static void add_line(struct buf *b, const char *code, const char *tone,
                     const char *lat1, const char *long1, enum gdelt_layout l)
{
  struct row_values v = {code, "3", tone, lat1, long1, "10", "20"};

  buf_reset(b);
  row_add(b, l, &v, 1);
  buf_truncate(b, buf_len(b) - 1);
}

TEST(gdelt_drop_reasons_and_missing_policies)
{
  const char *ev[3] = {"042", "010", "1011"};
  struct gdelt_spec s;
  struct gdelt_scan sc;
  struct buf b;
  const float *r;
  const uint16_t *e;
  int policy;

  buf_init(&b, 1 << 20);
  for (policy = 0; policy < 3; policy++) {
    spec_prepare(&s, ev, 3);
    s.missing = (enum gdelt_missing)policy;
    compile(&s);
    gdelt_scan_init(&sc, &s, 1);
    add_line(&b, "042", "4.5", "1", "2", GDELT_LAYOUT_HISTORICAL);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    /* "42" is not "042" outside seed_compat. */
    add_line(&b, "42", "4.5", "1", "2", GDELT_LAYOUT_HISTORICAL);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    add_line(&b, "1011", "1", "0", "0", GDELT_LAYOUT_DAILY);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    /* A blank pair in a daily line is an unknown place. */
    add_line(&b, "010", "1", "", "", GDELT_LAYOUT_DAILY);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    add_line(&b, "010", "", "5", "6", GDELT_LAYOUT_V2);
    ASSERT_EQ(policy == GDELT_MISSING_ERROR ? SR_EINVAL : 0,
              gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    if (policy == GDELT_MISSING_ERROR) {
      ASSERT_STR_EQ("blank AvgTone", sc.error_text);
      ASSERT_EQ(5, sc.error_line);
      /* The error sticks. */
      ASSERT_EQ(SR_EINVAL, scan_line_text(&s, &sc, "x"));
      gdelt_scan_free(&sc);
      gdelt_spec_free(&s);
      continue;
    }
    /* Half a pair blank: missing; with zero it becomes (0, 0). */
    add_line(&b, "010", "2", "", "0", GDELT_LAYOUT_HISTORICAL);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    add_line(&b, "010", "x1", "7", "8", GDELT_LAYOUT_HISTORICAL);
    ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
    ASSERT_EQ(7, sc.rows_read);
    ASSERT_EQ(1, sc.dropped_event);
    ASSERT_EQ(1, sc.by_layout[2]);
    if (policy == GDELT_MISSING_DROP) {
      ASSERT_EQ(2, sc.dropped_zero_geo);
      ASSERT_EQ(3, sc.dropped_missing);
      ASSERT_EQ(1, sc.kept);
    } else {
      ASSERT_EQ(3, sc.dropped_zero_geo);
      ASSERT_EQ(0, sc.dropped_missing);
      ASSERT_EQ(3, sc.kept);
      r = (const float *)buf_str(&sc.rows);
      ASSERT(r[6] == 0);  /* blank AvgTone read as 0 */
      ASSERT(r[12] == 0); /* "x1" read as 0 */
    }
    r = (const float *)buf_str(&sc.rows);
    e = (const uint16_t *)buf_str(&sc.row_events);
    ASSERT(r[0] == 4.5f && r[1] == 3 && r[2] == 1 && r[3] == 2 && r[4] == 10 &&
           r[5] == 20);
    ASSERT_EQ(0, e[0]);
    if (policy == GDELT_MISSING_ZERO)
      ASSERT_EQ(1, e[1]);
    gdelt_scan_free(&sc);
    gdelt_spec_free(&s);
  }
  buf_free(&b);
}

TEST(gdelt_seed_compat_reading)
{
  const char *ev[2] = {"42", "0211"};
  struct gdelt_spec s;
  struct gdelt_scan sc;
  struct buf b;
  const float *r;

  buf_init(&b, 1 << 20);
  spec_prepare(&s, ev, 2);
  s.seed_compat = 1;
  s.count_codes = 1;
  compile(&s);
  gdelt_scan_init(&sc, &s, 1);
  /* The first line is the header pandas takes. */
  add_line(&b, "042", "1", "1", "1", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  ASSERT_EQ(0, sc.rows_read);
  ASSERT_EQ(0, sc.kept);
  /* "042" is 42, "211" is "0211". */
  add_line(&b, "042", "2", "1", "1", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  add_line(&b, "211", "3", "1", "1", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  /* Blank and non-numeric values are NaN and stay; a NaN pair is not
   * (0, 0). */
  add_line(&b, "42", "", "", "", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  add_line(&b, "42", "abc", "0", "0", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  ASSERT_EQ(4, sc.rows_read);
  ASSERT_EQ(3, sc.kept);
  ASSERT_EQ(1, sc.dropped_zero_geo);
  ASSERT_EQ(3, gdelt_codes_get(&sc.codes, "42"));
  ASSERT_EQ(1, gdelt_codes_get(&sc.codes, "211"));
  ASSERT_EQ(0, gdelt_codes_get(&sc.codes, "042"));
  r = (const float *)buf_str(&sc.rows);
  ASSERT(r[0] == 2 && r[6] == 3);
  ASSERT(isnan(r[12]) && isnan(r[14]) && isnan(r[15]));
  gdelt_scan_free(&sc);
  /* Only at the start of the file. */
  gdelt_scan_init(&sc, &s, 0);
  add_line(&b, "042", "1", "1", "1", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  ASSERT_EQ(1, sc.kept);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);
  buf_free(&b);
}

TEST(gdelt_malformed_strict_layout_and_max_rows)
{
  struct gdelt_spec s;
  struct gdelt_scan sc;
  struct buf b;
  int i;

  buf_init(&b, 1 << 20);
  memset(&s, 0, sizeof(s));
  s.count_codes = 1;
  s.layout = GDELT_LAYOUT_DAILY;
  compile(&s);
  gdelt_scan_init(&sc, &s, 1);
  add_line(&b, "010", "1", "1", "1", GDELT_LAYOUT_HISTORICAL);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  add_line(&b, "010", "1", "1", "1", GDELT_LAYOUT_DAILY);
  ASSERT_EQ(0, gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  ASSERT_EQ(0, scan_line_text(&s, &sc, "\r"));
  ASSERT_EQ(0, scan_line_text(&s, &sc, "a\tb"));
  ASSERT_EQ(3, sc.rows_read);
  ASSERT_EQ(1, sc.blank);
  ASSERT_EQ(2, sc.malformed);
  ASSERT_EQ(2, sc.nmalformed_lines);
  ASSERT_EQ(1, sc.malformed_lines[0]);
  ASSERT_EQ(4, sc.malformed_lines[1]);
  ASSERT_EQ(1, gdelt_codes_get(&sc.codes, "010"));
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);

  /* strict: the first malformed line fails, naming its column count. */
  s.layout = GDELT_LAYOUT_AUTO;
  s.strict = 1;
  compile(&s);
  gdelt_scan_init(&sc, &s, 1);
  ASSERT_EQ(SR_EPARSE, scan_line_text(&s, &sc, "a\tb\tc"));
  ASSERT_STR_EQ("3 columns; GDELT lines have 57, 58 or 61", sc.error_text);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);

  /* max_rows: blank lines do not count. */
  s.strict = 0;
  s.max_rows = 3;
  compile(&s);
  gdelt_scan_init(&sc, &s, 1);
  for (i = 0; i < 5; i++) {
    /* Once max_rows is reached every line stops the scan. */
    ASSERT_EQ(i < 3 ? 0 : 1, scan_line_text(&s, &sc, ""));
    add_line(&b, "010", "1", "1", "1", GDELT_LAYOUT_HISTORICAL);
    ASSERT_EQ(i < 3 ? 0 : 1,
              gdelt_scan_line(&s, &sc, buf_str(&b), buf_len(&b)));
  }
  ASSERT_EQ(3, sc.rows_read);
  ASSERT_EQ(3, sc.blank);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);
  buf_free(&b);
}

/* ---- Sources and chunks -------------------------------------------------- */

static void assert_same_scan(const struct gdelt_scan *a,
                             const struct gdelt_scan *b)
{
  size_t i;

  ASSERT_EQ(a->lines, b->lines);
  ASSERT_EQ(a->blank, b->blank);
  ASSERT_EQ(a->rows_read, b->rows_read);
  ASSERT_EQ(a->malformed, b->malformed);
  ASSERT_EQ(a->dropped_event, b->dropped_event);
  ASSERT_EQ(a->dropped_zero_geo, b->dropped_zero_geo);
  ASSERT_EQ(a->dropped_missing, b->dropped_missing);
  ASSERT_EQ(a->kept, b->kept);
  ASSERT_EQ(a->nmalformed_lines, b->nmalformed_lines);
  for (i = 0; i < a->nmalformed_lines; i++)
    ASSERT_EQ(a->malformed_lines[i], b->malformed_lines[i]);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(a->by_layout[i], b->by_layout[i]);
  ASSERT_EQ(buf_len(&a->rows), buf_len(&b->rows));
  ASSERT(memcmp(buf_str(&a->rows), buf_str(&b->rows), buf_len(&a->rows)) == 0);
  ASSERT(memcmp(buf_str(&a->row_events), buf_str(&b->row_events),
                buf_len(&a->row_events)) == 0);
  ASSERT_EQ(a->codes.count, b->codes.count);
}

/* Byte ranges anywhere (mid-line, on a '\n', one byte long) tile the
 * file: every line is scanned once, in order. */
TEST(gdelt_chunks_tile_the_file)
{
  const char *ev[4] = {"010", "042", "043", "0211"};
  char *path = path_in_tmp("synth.tsv"), err[256];
  struct gdelt_spec s;
  struct gdelt_scan whole, parts;
  size_t n;
  int compat;

  synth_write(path, 3000, 11, SYNTH_MIXED | SYNTH_BLANKS | SYNTH_JUNK);
  for (compat = 0; compat < 2; compat++) {
    spec_prepare(&s, ev, 4);
    s.count_codes = 1;
    s.seed_compat = compat;
    compile(&s);
    ASSERT_EQ(0, scan_path(&s, path, 1, &whole, err, sizeof(err)));
    ASSERT(whole.malformed > 0 && whole.blank > 0);
    ASSERT(whole.by_layout[1] > 0 && whole.by_layout[2] > 0);
    for (n = 2; n < 40; n += 5) {
      ASSERT_EQ(0, scan_path(&s, path, n, &parts, err, sizeof(err)));
      assert_same_scan(&whole, &parts);
      gdelt_scan_free(&parts);
    }
    gdelt_scan_free(&whole);
    gdelt_spec_free(&s);
  }
  /* Ranges of one byte each on a small file. */
  {
    char *small = path_in_tmp("small.tsv");
    synth_write(small, 7, 3, SYNTH_JUNK);
    spec_prepare(&s, ev, 4);
    compile(&s);
    ASSERT_EQ(0, scan_path(&s, small, 1, &whole, err, sizeof(err)));
    {
      struct stat st;
      ASSERT_EQ(0, stat(small, &st));
      ASSERT_EQ(0, scan_path(&s, small, (size_t)st.st_size, &parts, err,
                             sizeof(err)));
    }
    assert_same_scan(&whole, &parts);
    gdelt_scan_free(&parts);
    gdelt_scan_free(&whole);
    gdelt_spec_free(&s);
    free(small);
  }
  free(path);
}

static void gzip_file(const char *in, const char *out, int members)
{
  size_t len, half;
  char *data = read_all(in, &len);
  int m;

  half = len / 2;
  for (m = 0; m < members; m++) {
    gzFile g = gzopen(out, m == 0 ? "wb" : "ab");
    ASSERT(g != NULL);
    if (members == 1)
      ASSERT_EQ((int)len, gzwrite(g, data, (unsigned)len));
    else if (m == 0)
      ASSERT_EQ((int)half, gzwrite(g, data, (unsigned)half));
    else
      ASSERT_EQ((int)(len - half),
                gzwrite(g, data + half, (unsigned)(len - half)));
    ASSERT_EQ(Z_OK, gzclose(g));
  }
  free(data);
}

static void put16(struct buf *b, unsigned v)
{
  unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};

  ASSERT_EQ(0, buf_add(b, p, 2));
}

static void put32le(struct buf *b, unsigned long v)
{
  put16(b, (unsigned)(v & 0xFFFF));
  put16(b, (unsigned)(v >> 16));
}

/* A zip archive of the named entries (a directory entry first when
 * with_dir), stored or deflated. */
static void zip_file(const char *in, const char *out, int deflated,
                     int with_dir, int corrupt_crc)
{
  size_t len, i;
  char *data = read_all(in, &len);
  struct buf z, cd, comp;
  unsigned long crc = crc32(0, (const Bytef *)data, (uInt)len);
  unsigned long offsets[2];
  const char *names[2] = {"events/", "1979.csv"};
  size_t first = with_dir ? 0 : 1;

  buf_init(&z, (size_t)1 << 30);
  buf_init(&cd, 1 << 20);
  buf_init(&comp, (size_t)1 << 30);
  if (deflated) {
    z_stream s;
    unsigned char chunk[65536];
    int zrc;
    memset(&s, 0, sizeof(s));
    ASSERT_EQ(Z_OK,
              deflateInit2(&s, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY));
    s.next_in = (Bytef *)data;
    s.avail_in = (uInt)len;
    do {
      s.next_out = chunk;
      s.avail_out = sizeof(chunk);
      zrc = deflate(&s, Z_FINISH);
      ASSERT_EQ(0, buf_add(&comp, chunk, sizeof(chunk) - s.avail_out));
    } while (zrc == Z_OK);
    ASSERT_EQ(Z_STREAM_END, zrc);
    deflateEnd(&s);
  } else {
    ASSERT_EQ(0, buf_add(&comp, data, len));
  }
  if (corrupt_crc)
    crc ^= 1;
  for (i = first; i < 2; i++) {
    int dir = i == 0;
    size_t clen = dir ? 0 : buf_len(&comp), ulen = dir ? 0 : len;
    unsigned method = dir || !deflated ? 0 : 8;
    offsets[i] = (unsigned long)buf_len(&z);
    put32le(&z, 0x04034b50);
    put16(&z, 20);
    put16(&z, 0);
    put16(&z, method);
    put16(&z, 0);
    put16(&z, 0);
    put32le(&z, dir ? 0 : crc);
    put32le(&z, (unsigned long)clen);
    put32le(&z, (unsigned long)ulen);
    put16(&z, (unsigned)strlen(names[i]));
    put16(&z, 0);
    ASSERT_EQ(0, buf_adds(&z, names[i]));
    if (!dir)
      ASSERT_EQ(0, buf_add(&z, buf_str(&comp), clen));
    put32le(&cd, 0x02014b50);
    put16(&cd, 20);
    put16(&cd, 20);
    put16(&cd, 0);
    put16(&cd, method);
    put16(&cd, 0);
    put16(&cd, 0);
    put32le(&cd, dir ? 0 : crc);
    put32le(&cd, (unsigned long)clen);
    put32le(&cd, (unsigned long)ulen);
    put16(&cd, (unsigned)strlen(names[i]));
    put16(&cd, 0);
    put16(&cd, 0);
    put16(&cd, 0);
    put16(&cd, 0);
    put32le(&cd, 0);
    put32le(&cd, offsets[i]);
    ASSERT_EQ(0, buf_adds(&cd, names[i]));
  }
  {
    unsigned long cd_off = (unsigned long)buf_len(&z);
    ASSERT_EQ(0, buf_add(&z, buf_str(&cd), buf_len(&cd)));
    put32le(&z, 0x06054b50);
    put16(&z, 0);
    put16(&z, 0);
    put16(&z, (unsigned)(2 - first));
    put16(&z, (unsigned)(2 - first));
    put32le(&z, (unsigned long)buf_len(&cd));
    put32le(&z, cd_off);
    put16(&z, 0);
  }
  write_bytes(out, buf_str(&z), buf_len(&z));
  buf_free(&z);
  buf_free(&cd);
  buf_free(&comp);
  free(data);
}

TEST_TIMEOUT(gdelt_gzip_and_zip_sources, 60000);
TEST(gdelt_gzip_and_zip_sources)
{
  const char *ev[3] = {"010", "042", "043"};
  char *plain = path_in_tmp("p.tsv"), *gz = path_in_tmp("p.gz"),
       *gz2 = path_in_tmp("p2.gz"), *zs = path_in_tmp("s.zip"),
       *zd = path_in_tmp("d.zip"), *zbad = path_in_tmp("bad.zip"),
       *cut = path_in_tmp("cut.gz"), err[256];
  const char *compressed[4];
  struct gdelt_source *src;
  struct gdelt_spec s;
  struct gdelt_scan want, got;
  size_t i, len;
  char *data;

  synth_write(plain, 20000, 5, SYNTH_MIXED | SYNTH_JUNK);
  gzip_file(plain, gz, 1);
  gzip_file(plain, gz2, 2);
  zip_file(plain, zs, 0, 1, 0);
  zip_file(plain, zd, 1, 0, 0);
  compressed[0] = gz;
  compressed[1] = gz2;
  compressed[2] = zs;
  compressed[3] = zd;
  spec_prepare(&s, ev, 3);
  s.count_codes = 1;
  compile(&s);
  ASSERT_EQ(0, scan_path(&s, plain, 1, &want, err, sizeof(err)));
  ASSERT_EQ(0, gdelt_source_open(plain, &src, err, sizeof(err)));
  ASSERT_STR_EQ("plain", gdelt_source_kind(src));
  gdelt_source_close(src);
  for (i = 0; i < 4; i++) {
    ASSERT_EQ(0, gdelt_source_open(compressed[i], &src, err, sizeof(err)));
    ASSERT_STR_EQ(i < 2 ? "gzip" : "zip", gdelt_source_kind(src));
    ASSERT_EQ(0, gdelt_source_size(src));
    gdelt_scan_init(&got, &s, 1);
    if (gdelt_scan_source(&s, &got, src, 0, 0, NULL, err, sizeof(err)))
      printf("# %s: %s\n", compressed[i], err);
    gdelt_source_close(src);
    assert_same_scan(&want, &got);
    gdelt_scan_free(&got);
  }
  /* A wrong CRC, a truncated gzip stream: errors, not rows. */
  zip_file(plain, zbad, 1, 0, 1);
  ASSERT_EQ(0, gdelt_source_open(zbad, &src, err, sizeof(err)));
  gdelt_scan_init(&got, &s, 1);
  ASSERT_EQ(SR_EPARSE,
            gdelt_scan_source(&s, &got, src, 0, 0, NULL, err, sizeof(err)));
  ASSERT_CONTAINS(err, "CRC");
  gdelt_scan_free(&got);
  gdelt_source_close(src);
  data = read_all(gz, &len);
  write_bytes(cut, data, len / 2);
  free(data);
  ASSERT_EQ(0, gdelt_source_open(cut, &src, err, sizeof(err)));
  gdelt_scan_init(&got, &s, 1);
  ASSERT_EQ(SR_EPARSE,
            gdelt_scan_source(&s, &got, src, 0, 0, NULL, err, sizeof(err)));
  ASSERT_CONTAINS(err, "truncated");
  gdelt_scan_free(&got);
  gdelt_source_close(src);
  /* Not archives at all, or missing. */
  write_bytes(zbad, "PK\x05\x06", 4);
  ASSERT_EQ(SR_EPARSE, gdelt_source_open(zbad, &src, err, sizeof(err)));
  ASSERT_EQ(SR_ENOENT,
            gdelt_source_open("/nonexistent/x", &src, err, sizeof(err)));
  ASSERT_CONTAINS(err, "cannot open /nonexistent/x");
  gdelt_scan_free(&want);
  gdelt_spec_free(&s);
  free(plain);
  free(gz);
  free(gz2);
  free(zs);
  free(zd);
  free(zbad);
  free(cut);
}

/* A line longer than the reader keeps (1 MiB) is malformed; the next
 * one is read. */
TEST(gdelt_overlong_line)
{
  char *path = path_in_tmp("long.tsv"), err[256];
  struct gdelt_spec s;
  struct gdelt_scan sc;
  struct buf b;
  size_t i;

  buf_init(&b, 64 << 20);
  synth_write(path, 3, 1, 0);
  {
    size_t len;
    char *head = read_all(path, &len);
    ASSERT_EQ(0, buf_add(&b, head, len));
    free(head);
  }
  for (i = 0; i < (3u << 20); i++)
    ASSERT_EQ(0, buf_addc(&b, i % 100 == 0 ? '\t' : 'x'));
  ASSERT_EQ(0, buf_addc(&b, '\n'));
  {
    size_t len;
    char *tail = read_all(path, &len);
    ASSERT_EQ(0, buf_add(&b, tail, len));
    free(tail);
  }
  write_bytes(path, buf_str(&b), buf_len(&b));
  buf_free(&b);
  memset(&s, 0, sizeof(s));
  s.count_codes = 1;
  compile(&s);
  ASSERT_EQ(0, scan_path(&s, path, 1, &sc, err, sizeof(err)));
  ASSERT_EQ(7, sc.rows_read);
  ASSERT_EQ(1, sc.malformed);
  ASSERT_EQ(4, sc.malformed_lines[0]);
  gdelt_scan_free(&sc);
  /* Split in the middle of the long line. */
  ASSERT_EQ(0, scan_path(&s, path, 3, &sc, err, sizeof(err)));
  ASSERT_EQ(7, sc.rows_read);
  ASSERT_EQ(1, sc.malformed);
  ASSERT_EQ(4, sc.malformed_lines[0]);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);
  free(path);
}

/* ---- The dirty corpus ---------------------------------------------------- */

TEST(gdelt_dirty_corpus)
{
  const char *ev[3] = {"010", "042", "043"};
  char path[1024], name[256], err[256], *text, *line, *save = NULL;
  struct gdelt_spec s;
  size_t n = 0;

  spec_prepare(&s, ev, 3);
  s.count_codes = 1;
  compile(&s);
  snprintf(path, sizeof(path), "%s/tests/data/gdelt-dirty/EXPECTED",
           test_srcdir());
  text = read_all(path, NULL);
  for (line = text; line && *line; line = save) {
    unsigned long long c[10];
    struct gdelt_scan sc;
    size_t k;
    save = strchr(line, '\n');
    if (save)
      *save++ = '\0';
    if (line[0] == '#')
      continue;
    ASSERT_EQ(11, sscanf(line,
                         "%255s %llu %llu %llu %llu %llu %llu %llu "
                         "%llu %llu %llu",
                         name, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6],
                         &c[7], &c[8], &c[9]));
    snprintf(path, sizeof(path), "%s/tests/data/gdelt-dirty/%s", test_srcdir(),
             name);
    /* Whole and in chunks of every size: the same counts. */
    for (k = 1; k <= 4; k++) {
      ASSERT_EQ(0, scan_path(&s, path, k, &sc, err, sizeof(err)));
      if (sc.rows_read != c[0] || sc.kept != c[3])
        printf("# %s: %llu rows, %llu kept\n", name,
               (unsigned long long)sc.rows_read, (unsigned long long)sc.kept);
      ASSERT_EQ(c[0], sc.rows_read);
      ASSERT_EQ(c[1], sc.malformed);
      ASSERT_EQ(c[2], sc.blank);
      ASSERT_EQ(c[3], sc.kept);
      ASSERT_EQ(c[4], sc.dropped_event);
      ASSERT_EQ(c[5], sc.dropped_zero_geo);
      ASSERT_EQ(c[6], sc.dropped_missing);
      ASSERT_EQ(c[7], sc.by_layout[0]);
      ASSERT_EQ(c[8], sc.by_layout[1]);
      ASSERT_EQ(c[9], sc.by_layout[2]);
      /* Every read row is accounted for exactly once. */
      ASSERT_EQ(sc.rows_read, sc.malformed + sc.kept + sc.dropped_event +
                                  sc.dropped_zero_geo + sc.dropped_missing);
      gdelt_scan_free(&sc);
    }
    n++;
  }
  ASSERT(n >= 10);
  free(text);
  gdelt_spec_free(&s);
}

/* ---- Real rows ----------------------------------------------------------- */

static int shared_data(char *path, size_t len, const char *name)
{
  snprintf(path, len, "%s/%s/%s", test_srcdir(), SHARED_DATA, name);
  if (access(path, R_OK) == 0)
    return 1;
  printf("# skipped: %s not present\n", path);
  return 0;
}

TEST(gdelt_real_rows)
{
  static const struct {
    const char *file;
    unsigned long long rows, historical, daily;
  } files[] = {
      /* ../shared/data/gdelt/SOURCES.md: the layouts of each file. */
      {"spark-gdelt-events1.tsv", 100, 40, 60},
      {"gdelt-demo-events.tsv", 710, 201, 509},
      {"undp-georgia-2011-2012.historical57.tsv", 89456, 89456, 0},
  };
  const char *ev[20] = {"040", "010", "042", "043", "036", "020", "051",
                        "046", "173", "190", "090", "112", "120", "013",
                        "030", "071", "193", "110", "060", "012"};
  struct gdelt_code_count *top = NULL;
  char path[1024], err[256];
  struct gdelt_spec s;
  struct gdelt_scan sc;
  size_t i, n;

  spec_prepare(&s, ev, 20);
  s.count_codes = 1;
  compile(&s);
  for (i = 0; i < 3; i++) {
    if (!shared_data(path, sizeof(path), files[i].file))
      continue;
    ASSERT_EQ(0, scan_path(&s, path, 3, &sc, err, sizeof(err)));
    ASSERT_EQ(files[i].rows, sc.rows_read);
    ASSERT_EQ(0, sc.malformed);
    ASSERT_EQ(files[i].historical, sc.by_layout[0]);
    ASSERT_EQ(files[i].daily, sc.by_layout[1]);
    ASSERT_EQ(sc.rows_read, sc.kept + sc.dropped_event + sc.dropped_zero_geo +
                                sc.dropped_missing);
    if (i == 2) {
      /* gdelt-facts.md §3A: after the top 20 and the (0, 0) filter
       * 36.6% of the rows remain; 040 leads. */
      ASSERT_EQ(32764, sc.kept);
      ASSERT_EQ(0, sc.dropped_missing);
      gdelt_scan_free(&sc);
      gdelt_spec_free(&s);
      memset(&s, 0, sizeof(s));
      s.count_codes = 1;
      compile(&s);
      ASSERT_EQ(0, scan_path(&s, path, 2, &sc, err, sizeof(err)));
      ASSERT_EQ(0, gdelt_codes_sorted(&sc.codes, 0, &top, &n));
      ASSERT_EQ(200, n);
      ASSERT_STR_EQ("040", top[0].code);
      ASSERT_EQ(7083, top[0].count);
      ASSERT_STR_EQ("010", top[1].code);
      free(top);
    } else {
      /* Daily rows mark an unknown place with blanks: no row is
       * "missing". */
      ASSERT_EQ(0, sc.dropped_missing);
    }
    gdelt_scan_free(&sc);
  }
  gdelt_spec_free(&s);
}

/* ---- Shuffle, split, write, profile -------------------------------------- */

TEST(gdelt_shuffle_is_a_seeded_permutation)
{
  uint32_t *a = malloc(10000 * sizeof(*a)), *b = malloc(10000 * sizeof(*b));
  unsigned char *seen = calloc(10000, 1);
  size_t i, moved = 0, differ = 0;

  ASSERT(a && b && seen);
  gdelt_shuffle(a, 10000, 1729);
  gdelt_shuffle(b, 10000, 1729);
  ASSERT(memcmp(a, b, 10000 * sizeof(*a)) == 0);
  for (i = 0; i < 10000; i++) {
    ASSERT(a[i] < 10000 && !seen[a[i]]);
    seen[a[i]] = 1;
    moved += a[i] != i;
  }
  ASSERT(moved > 9900);
  gdelt_shuffle(b, 10000, 1730);
  for (i = 0; i < 10000; i++)
    differ += a[i] != b[i];
  ASSERT(differ > 9900);
  /* Fixed values pin the generator (xoshiro256** from splitmix64). */
  gdelt_shuffle(a, 5, 1729);
  printf("# seed 1729, 5 rows: %u %u %u %u %u\n", a[0], a[1], a[2], a[3], a[4]);
  gdelt_shuffle(a, 1, 1);
  ASSERT_EQ(0, a[0]);
  gdelt_shuffle(a, 0, 1);
  free(a);
  free(b);
  free(seen);
}

/* Reads a RecordIO file into rows of 1 + dim floats (label first). */
static float *read_rows(const char *path, size_t dim, size_t *nrows)
{
  size_t len, n = 0, cap = 16;
  char *data = read_all(path, &len);
  float *rows = malloc(cap * (1 + dim) * sizeof(float));
  struct recordio_reader r;
  const void *rec;
  size_t rlen;
  int rc;

  ASSERT(rows != NULL);
  recordio_reader_init_mem(&r, data, len, 0);
  while ((rc = recordio_next(&r, &rec, &rlen)) == 1) {
    struct recordio_example ex;
    if (n == cap) {
      cap *= 2;
      rows = realloc(rows, cap * (1 + dim) * sizeof(float));
      ASSERT(rows != NULL);
    }
    ASSERT_EQ(0, recordio_example_decode(rec, rlen, &ex));
    ASSERT_EQ(
        0, recordio_tensor_dense(&ex.features, rows + n * (1 + dim) + 1, dim));
    ASSERT_EQ(1, ex.label.nvalues);
    rows[n * (1 + dim)] = ex.label.f32[0];
    recordio_example_free(&ex);
    n++;
  }
  ASSERT_EQ(0, rc);
  recordio_reader_free(&r);
  free(data);
  *nrows = n;
  return rows;
}

TEST(gdelt_write_split_one_hot_and_csv)
{
  const char *ev[3] = {"042", "010", "0211"};
  char *src = path_in_tmp("w.tsv"), *tr = path_in_tmp("train.data"),
       *va = path_in_tmp("validation.data"), *csv = path_in_tmp("t.csv"),
       err[256];
  struct gdelt_write_opts o;
  struct gdelt_write_result r;
  struct gdelt_spec s;
  struct gdelt_scan sc;
  size_t nt, nv, i, j;
  float *t, *v;
  char *text;

  synth_write(src, 2000, 9, 0);
  spec_prepare(&s, ev, 3);
  compile(&s);
  ASSERT_EQ(0, scan_path(&s, src, 1, &sc, err, sizeof(err)));
  memset(&o, 0, sizeof(o));
  o.shuffle = 1;
  o.seed = 1729;
  o.split = 0.9;
  o.train_path = tr;
  o.validation_path = va;
  ASSERT_EQ(0, gdelt_write(&s, &sc, &o, &r, err, sizeof(err)));
  ASSERT_EQ(8, r.feature_dim);
  ASSERT_STR_EQ("NumArticles", r.feature_names[0]);
  ASSERT_STR_EQ("EventCode=042", r.feature_names[5]);
  ASSERT_STR_EQ("EventCode=0211", r.feature_names[7]);
  /* int(0.9 * n), the seed's split. */
  ASSERT_EQ((uint64_t)(0.9 * (double)sc.kept), r.train_rows);
  ASSERT_EQ(sc.kept - r.train_rows, r.validation_rows);
  t = read_rows(tr, 8, &nt);
  v = read_rows(va, 8, &nv);
  ASSERT_EQ(r.train_rows, nt);
  ASSERT_EQ(r.validation_rows, nv);
  /* Each row has exactly one hot code column; the label is AvgTone. */
  for (i = 0; i < nt; i++) {
    float hot = 0;
    for (j = 6; j < 9; j++) {
      ASSERT(t[i * 9 + j] == 0 || t[i * 9 + j] == 1);
      hot += t[i * 9 + j];
    }
    ASSERT(hot == 1);
    ASSERT(t[i * 9 + 0] >= 0 && t[i * 9 + 0] < 13);
  }
  free(t);
  free(v);
  gdelt_write_result_free(&r);

  /* No shuffle, CSV, everything to train. */
  o.shuffle = 0;
  o.split = 1;
  o.format = GDELT_FORMAT_CSV;
  o.train_path = csv;
  o.validation_path = NULL;
  ASSERT_EQ(0, gdelt_write(&s, &sc, &o, &r, err, sizeof(err)));
  ASSERT_EQ(sc.kept, r.train_rows);
  text = read_all(csv, NULL);
  {
    const float *rows = (const float *)buf_str(&sc.rows);
    const char *p = text;
    for (i = 0; i < sc.kept; i++) {
      char *end;
      ASSERT(strtof(p, &end) == rows[i * 6]);
      for (j = 1; j < 6; j++) {
        ASSERT(*end == ',');
        ASSERT(strtof(end + 1, &end) == rows[i * 6 + j]);
      }
      p = strchr(end, '\n') + 1;
    }
  }
  free(text);
  gdelt_write_result_free(&r);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);

  /* seed_compat: one-hot only the present codes, in numeric order. */
  {
    const char *ev2[4] = {"42", "1011", "10", "999"};
    spec_prepare(&s, ev2, 4);
    s.seed_compat = 1;
    compile(&s);
    ASSERT_EQ(0, scan_path(&s, src, 1, &sc, err, sizeof(err)));
    o.format = GDELT_FORMAT_RECORDIO;
    o.train_path = tr;
    ASSERT_EQ(0, gdelt_write(&s, &sc, &o, &r, err, sizeof(err)));
    ASSERT_EQ(8, r.feature_dim);
    ASSERT_STR_EQ("EventCode_10", r.feature_names[5]);
    ASSERT_STR_EQ("EventCode_42", r.feature_names[6]);
    ASSERT_STR_EQ("EventCode_1011", r.feature_names[7]);
    gdelt_write_result_free(&r);
    gdelt_scan_free(&sc);
    gdelt_spec_free(&s);
  }
  free(src);
  free(tr);
  free(va);
  free(csv);
}

TEST(gdelt_profile_statistics)
{
  double v[10] = {5, 1, 4, 2, 3, 10, 0, 7, 6, 8};
  double same[3] = {2, 2, 2};
  uint64_t counts[5];
  double edges[6];
  struct gdelt_stats st;

  gdelt_profile_column(v, 10, 3, 5, &st, counts, edges);
  ASSERT_EQ(10, st.count);
  ASSERT_EQ(3, st.missing);
  ASSERT_EQ(1, st.zeros);
  ASSERT(st.min == 0 && st.max == 10);
  ASSERT(fabs(st.mean - 4.6) < 1e-12);
  /* pandas: Series([5,1,4,2,3,10,0,7,6,8]).describe() */
  ASSERT(fabs(st.std - 3.2041639575194445) < 1e-12);
  ASSERT(st.p25 == 2.25 && st.p50 == 4.5 && st.p75 == 6.75);
  /* numpy.histogram(v, 5): edges 0 2 4 6 8 10, last bin closed. */
  ASSERT(edges[0] == 0 && edges[1] == 2 && edges[5] == 10);
  ASSERT_EQ(2, counts[0]);
  ASSERT_EQ(2, counts[1]);
  ASSERT_EQ(2, counts[2]);
  ASSERT_EQ(2, counts[3]);
  ASSERT_EQ(2, counts[4]); /* 8 and 10: the last bin is closed */
  /* All equal: numpy widens the range by 0.5 each side. */
  gdelt_profile_column(same, 3, 0, 5, &st, counts, edges);
  ASSERT(edges[0] == 1.5 && edges[5] == 2.5);
  ASSERT_EQ(3, counts[2]);
  ASSERT(st.p25 == 2 && st.std == 0);
  /* Nothing: NaN statistics, empty counts. */
  gdelt_profile_column(same, 0, 4, 5, &st, counts, edges);
  ASSERT(isnan(st.mean) && isnan(st.p50));
  ASSERT_EQ(0, counts[0]);
}

/* ---- The steps, run by the scheduler ------------------------------------- */

struct run {
  struct exec_summary s;
  int rc;
};

static void run_workflow(const char *text, struct aws_client *aws,
                         uv_loop_t *loop, int planning, struct run *out)
{
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct exec_opts opts;

  diags_init(&diags);
  if (workflow_load_text("t.yaml", text, strlen(text), NULL, &wf, &diags) ||
      dag_expand(wf, &dag, &diags)) {
    diags_print(&diags, stdout, 0);
    ASSERT(0);
  }
  memset(&opts, 0, sizeof(opts));
  opts.run_id = "test";
  opts.work_dir = test_tmpdir();
  opts.aws = aws;
  opts.planning = planning;
  memset(&out->s, 0, sizeof(out->s));
  out->rc = exec_run(loop, dag, &opts, &out->s);
  dag_free(dag);
  workflow_free(wf);
  diags_free(&diags);
}

static void run_local(const char *text, struct run *out)
{
  uv_loop_t loop;

  ASSERT_EQ(0, uv_loop_init(&loop));
  run_workflow(text, NULL, &loop, 0, out);
  ASSERT_EQ(0, uv_loop_close(&loop));
}

static const json_t *outputs_of(const struct run *r, const char *id)
{
  const json_t *o = json_object_get(r->s.outputs, id);

  if (o == NULL) {
    char *e = json_dumps(r->s.errors, JSON_COMPACT);
    printf("# no outputs for %s; errors: %s\n", id, e ? e : "");
    free(e);
  }
  ASSERT(o != NULL);
  return o;
}

static long long out_int(const json_t *o, const char *key)
{
  const json_t *v = json_object_get(o, key);

  ASSERT(json_is_integer(v));
  return (long long)json_integer_value(v);
}

TEST_TIMEOUT(gdelt_steps_file_sources, 60000);
TEST(gdelt_steps_file_sources)
{
  char *src = path_in_tmp("year.tsv"), wf[4096];
  const json_t *top, *prep, *prof, *v;
  struct run r;
  size_t nt, nv;
  float *rows;

  synth_write(src, 30000, 21, SYNTH_MIXED | SYNTH_BLANKS | SYNTH_JUNK);
  snprintf(wf, sizeof(wf),
           "name: t\n"
           "steps:\n"
           "  events:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"file://%s\", count: 20}\n"
           "  profile:\n"
           "    uses: gdelt.profile\n"
           "    with: {source: \"file://%s\", bins: 10}\n"
           "  prepare:\n"
           "    uses: gdelt.prepare\n"
           "    with:\n"
           "      source: \"file://%s\"\n"
           "      events: \"${{ steps.events.outputs.codes }}\"\n"
           "      train: \"file://%s/train.data\"\n"
           "      validation: \"file://%s/validation.data\"\n",
           src, src, src, test_tmpdir(), test_tmpdir());
  run_local(wf, &r);
  ASSERT_EQ(0, r.rc);
  ASSERT_EQ(3, r.s.succeeded);
  top = outputs_of(&r, "events");
  ASSERT_EQ(20, json_array_size(json_object_get(top, "codes")));
  /* The synthetic mix favours its first nine codes. */
  ASSERT(strstr("010 042 043 040 020 036 051 046 190",
                json_string_value(
                    json_array_get(json_object_get(top, "codes"), 0))) != NULL);
  ASSERT(json_number_value(json_object_get(top, "coverage")) > 0.5);
  ASSERT_EQ(27, out_int(top, "distinct"));

  prep = outputs_of(&r, "prepare");
  ASSERT_EQ(25, out_int(prep, "feature_dim"));
  ASSERT_EQ(30000, out_int(prep, "rows_read") - out_int(prep, "malformed"));
  v = json_object_get(prep, "dropped");
  ASSERT_EQ(out_int(prep, "rows_read"),
            out_int(prep, "rows_kept") + out_int(prep, "malformed") +
                out_int(v, "event_code") + out_int(v, "zero_geo") +
                out_int(v, "missing"));
  ASSERT(out_int(v, "missing") > 0);
  ASSERT(out_int(prep, "malformed") > 0);
  ASSERT(out_int(prep, "blank_lines") > 0);
  ASSERT_EQ(
      out_int(prep, "malformed"),
      json_array_size(json_object_get(prep, "malformed_lines")) < 100
          ? (long long)json_array_size(json_object_get(prep, "malformed_lines"))
          : out_int(prep, "malformed"));
  ASSERT_EQ(30000, out_int(json_object_get(prep, "layouts"), "historical") +
                       out_int(json_object_get(prep, "layouts"), "daily") +
                       out_int(json_object_get(prep, "layouts"), "v2"));
  ASSERT_STR_EQ("plain",
                json_string_value(json_object_get(prep, "source_format")));
  ASSERT_STR_EQ("NumArticles", json_string_value(json_array_get(
                                   json_object_get(prep, "feature_names"), 0)));
  ASSERT(strncmp(json_string_value(
                     json_array_get(json_object_get(prep, "feature_names"), 5)),
                 "EventCode=", 10) == 0);
  rows = read_rows(
      strchr(json_string_value(json_object_get(prep, "train")), '/') + 2, 25,
      &nt);
  free(rows);
  ASSERT_EQ(out_int(prep, "train_rows"), (long long)nt);
  {
    char *vpath = path_in_tmp("validation.data");
    rows = read_rows(vpath, 25, &nv);
    free(rows);
    free(vpath);
  }
  ASSERT_EQ(out_int(prep, "validation_rows"), (long long)nv);
  ASSERT_EQ(out_int(prep, "rows_kept"), (long long)(nt + nv));

  prof = outputs_of(&r, "profile");
  ASSERT_EQ(30000, out_int(prof, "rows"));
  v = json_object_get(json_object_get(prof, "stats"), "AvgTone");
  ASSERT(out_int(v, "missing") > 0);
  ASSERT_EQ(30000, out_int(v, "count") + out_int(v, "missing"));
  v = json_object_get(json_object_get(prof, "histograms"), "NumArticles");
  ASSERT_EQ(10, json_array_size(json_object_get(v, "counts")));
  ASSERT_EQ(11, json_array_size(json_object_get(v, "edges")));
  ASSERT_EQ(27, json_array_size(json_object_get(prof, "shares")));
  exec_summary_free(&r.s);
  free(src);
}

TEST(gdelt_steps_report_failures)
{
  char *src = path_in_tmp("bad.tsv"), wf[4096];
  const char *msg;
  struct run r;

  synth_write(src, 500, 4, SYNTH_BLANKS | SYNTH_JUNK);
  snprintf(wf, sizeof(wf),
           "name: t\n"
           "steps:\n"
           "  gone:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"file://%s/nope.tsv\"}\n"
           "  noaws:\n"
           "    uses: gdelt.profile\n"
           "    with: {source: \"s3://gdelt-open-data/events/1979.csv\"}\n"
           "  strict:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"file://%s\", layout: daily}\n"
           "  missing:\n"
           "    uses: gdelt.prepare\n"
           "    with:\n"
           "      source: \"file://%s\"\n"
           "      events: [\"010\", \"042\", \"043\", \"040\"]\n"
           "      missing: error\n"
           "      train: \"file://%s/t.data\"\n"
           "      validation: \"file://%s/v.data\"\n"
           "  malformed:\n"
           "    uses: gdelt.prepare\n"
           "    with:\n"
           "      source: \"file://%s\"\n"
           "      events: [\"010\"]\n"
           "      strict: true\n"
           "      split: 1\n"
           "      train: \"file://%s/t2.data\"\n",
           test_tmpdir(), src, src, test_tmpdir(), test_tmpdir(), src,
           test_tmpdir());
  run_local(wf, &r);
  ASSERT_EQ(1, r.rc);
  ASSERT_EQ(4, r.s.failed);
  msg = json_string_value(json_object_get(r.s.errors, "gone"));
  ASSERT_CONTAINS(msg, "cannot open");
  msg = json_string_value(json_object_get(r.s.errors, "noaws"));
  ASSERT_CONTAINS(msg, "no AWS client");
  msg = json_string_value(json_object_get(r.s.errors, "missing"));
  ASSERT_CONTAINS(msg, "line ");
  ASSERT_CONTAINS(msg, "blank");
  msg = json_string_value(json_object_get(r.s.errors, "malformed"));
  ASSERT_CONTAINS(msg, "3 columns");
  /* A fixed layout reads no line of the others: all malformed. */
  ASSERT_EQ(0, out_int(outputs_of(&r, "strict"), "distinct"));
  /* Nothing is left behind by the failed steps. */
  {
    char *t = path_in_tmp("t.data");
    ASSERT(access(t, F_OK) != 0);
    free(t);
  }
  exec_summary_free(&r.s);
  free(src);
}

/* ---- S3 through a recording client --------------------------------------- */

/* Plays S3 for the steps: GetObject from a local file, PutObject and
 * multipart uploads kept in memory by key. */
struct mini_s3 {
  struct aws_recorder base;
  const char *get_path;
  json_t *puts; /* url -> path of a file holding the body */
  json_t *log;  /* "METHOD operation url" lines */
};

static int mini_s3_record(struct aws_recorder *rec,
                          const struct aws_transport_request *req,
                          struct http_response *res)
{
  struct mini_s3 *m = (struct mini_s3 *)rec;
  char line[2048];

  snprintf(line, sizeof(line), "%s %s %s", req->method, req->operation,
           req->url);
  json_array_append_new(m->log, json_string(line));
  res->status = 200;
  if (strcmp(req->operation, "GetObject") == 0) {
    size_t len;
    char *data = read_all(m->get_path, &len);
    int rc = buf_add(&res->body, data, len);
    free(data);
    return rc;
  }
  if (strcmp(req->operation, "PutObject") == 0) {
    struct buf body;
    buf_init(&body, (size_t)1 << 30);
    if (req->body_file) {
      size_t len;
      char *data = read_all(req->body_file, &len);
      long long off = req->body_file_offset;
      long long n =
          req->body_file_len < 0 ? (long long)len - off : req->body_file_len;
      buf_add(&body, data + off, (size_t)n);
      free(data);
    } else if (req->body) {
      buf_add(&body, req->body, req->body_len);
    }
    {
      char path[1024];
      snprintf(path, sizeof(path), "%s/put-%zu", test_tmpdir(),
               json_object_size(m->puts));
      write_bytes(path, buf_str(&body), buf_len(&body));
      json_object_set_new(m->puts, req->url, json_string(path));
    }
    buf_free(&body);
  }
  return 0;
}

static struct aws_client *mini_client(uv_loop_t *loop, struct mini_s3 *m)
{
  struct aws_client_opts o;
  struct aws_client *c = NULL;

  memset(&o, 0, sizeof(o));
  o.loop = loop;
  o.region = "us-east-1";
  o.recorder = &m->base;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  return c;
}

static void closed_cb(void *data)
{
  (*(int *)data)++;
}

static const char *s3_workflow =
    "name: t\n"
    "steps:\n"
    "  events:\n"
    "    uses: gdelt.top_events\n"
    "    with: {source: \"s3://gdelt-open-data/events/1979.csv\"}\n"
    "  prepare:\n"
    "    uses: gdelt.prepare\n"
    "    with:\n"
    "      source: \"s3://gdelt-open-data/events/1979.csv\"\n"
    "      events: [\"010\", \"042\", \"043\"]\n"
    "      train: \"s3://sagerun-demo/gd/train/1979.data\"\n"
    "      validation: \"s3://sagerun-demo/gd/validation/1979.data\"\n";

static const char *plan_workflow =
    "name: t\n"
    "steps:\n"
    "  events:\n"
    "    uses: gdelt.top_events\n"
    "    with: {source: \"s3://gdelt-open-data/events/1979.csv\"}\n"
    "  prepare:\n"
    "    uses: gdelt.prepare\n"
    "    with:\n"
    "      source: \"s3://gdelt-open-data/events/1979.csv\"\n"
    "      events: \"${{ steps.events.outputs.codes }}\"\n"
    "      train: \"s3://sagerun-demo/gd/train/1979.data\"\n"
    "      validation: \"s3://sagerun-demo/gd/validation/1979.data\"\n";

TEST(gdelt_steps_s3)
{
  char *src = path_in_tmp("s3src.tsv");
  struct mini_s3 m;
  struct aws_client *c;
  struct run r;
  uv_loop_t loop;
  int closed = 0;
  const json_t *prep;
  char *log;

  synth_write(src, 5000, 8, 0);
  memset(&m, 0, sizeof(m));
  m.base.record = mini_s3_record;
  m.get_path = src;
  m.puts = json_object();
  m.log = json_array();
  ASSERT_EQ(0, uv_loop_init(&loop));
  c = mini_client(&loop, &m);
  run_workflow(s3_workflow, c, &loop, 0, &r);
  aws_client_close(c, closed_cb, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, uv_loop_close(&loop));
  ASSERT_EQ(0, r.rc);
  prep = outputs_of(&r, "prepare");
  log = json_dumps(m.log, 0);
  ASSERT_CONTAINS(log, "GET GetObject ");
  ASSERT_CONTAINS(log, "gdelt-open-data");
  ASSERT_CONTAINS(log, "/events/1979.csv");
  ASSERT_CONTAINS(log, "PUT PutObject ");
  free(log);
  ASSERT_EQ(2, json_object_size(m.puts));
  {
    const char *url;
    json_t *v;
    long long total = 0;
    size_t rows = 0, n;
    json_object_foreach(m.puts, url, v)
    {
      struct stat st;
      float *data;
      ASSERT_CONTAINS(url, "sagerun-demo");
      ASSERT_EQ(0, stat(json_string_value(v), &st));
      total += (long long)st.st_size;
      data = read_rows(json_string_value(v), 8, &n);
      free(data);
      rows += n;
      if (strstr(url, "/train/"))
        ASSERT_EQ(out_int(prep, "train_rows"), (long long)n);
    }
    ASSERT_EQ(out_int(prep, "bytes_written"), total);
    ASSERT_EQ(out_int(prep, "rows_kept"), (long long)rows);
  }
  /* The downloaded source and written files are gone from the work
   * directory. */
  {
    char *d = path_in_tmp("gdelt-prepare-1/train.data");
    ASSERT(access(d, F_OK) != 0);
    free(d);
  }
  exec_summary_free(&r.s);
  json_decref(m.puts);
  json_decref(m.log);
  free(src);
}

/* plan: nothing read, placeholders out, the PUTs a run would send shown
 * to the recorder with empty bodies. */
TEST(gdelt_steps_plan)
{
  struct mini_s3 m;
  struct aws_client *c;
  struct run r;
  uv_loop_t loop;
  int closed = 0;
  const json_t *prep;
  char *log;

  memset(&m, 0, sizeof(m));
  m.base.record = mini_s3_record;
  m.get_path = "/nonexistent";
  m.puts = json_object();
  m.log = json_array();
  ASSERT_EQ(0, uv_loop_init(&loop));
  c = mini_client(&loop, &m);
  /* The event list is known only after top_events: plan goes on. */
  run_workflow(plan_workflow, c, &loop, 1, &r);
  aws_client_close(c, closed_cb, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, uv_loop_close(&loop));
  log = json_dumps(m.log, 0);
  ASSERT(strstr(log, "GetObject") == NULL);
  ASSERT_CONTAINS(log, "PUT PutObject ");
  ASSERT_CONTAINS(log, "/train/1979.data");
  ASSERT_CONTAINS(log, "/validation/1979.data");
  free(log);
  ASSERT_STR_EQ(
      "(known after gdelt.top_events)",
      json_string_value(json_object_get(outputs_of(&r, "events"), "codes")));
  ASSERT_EQ(0, r.rc);
  prep = outputs_of(&r, "prepare");
  ASSERT_STR_EQ("s3://sagerun-demo/gd/train/1979.data",
                json_string_value(json_object_get(prep, "train")));
  ASSERT_STR_EQ("(known after gdelt.prepare)",
                json_string_value(json_object_get(prep, "rows_kept")));
  exec_summary_free(&r.s);
  json_decref(m.puts);
  json_decref(m.log);
}

/* ---- http(s):// sources -------------------------------------------------- */

/* Serves dir over HTTP on an ephemeral port (python's http.server);
 * returns the port, or 0 when python is missing. */
static int http_serve(const char *dir)
{
  char portfile[1024], code[8192];
  const char *argv[] = {PEER_PYTHON, "-c", code, NULL};
  int i;

  if (access(PEER_PYTHON, X_OK) != 0)
    return 0;
  snprintf(portfile, sizeof(portfile), "%s/port", test_tmpdir());
  snprintf(code, sizeof(code),
           "import functools, http.server, os\n"
           "h = functools.partial(http.server.SimpleHTTPRequestHandler, "
           "directory=%s%s%s)\n"
           "h.func.log_message = lambda *a: None\n"
           "s = http.server.HTTPServer(('127.0.0.1', 0), h)\n"
           "open(%s%s.tmp%s, 'w').write(str(s.server_port))\n"
           "os.rename(%s%s.tmp%s, %s%s%s)\n"
           "s.serve_forever()\n",
           "'", dir, "'", "'", portfile, "'", "'", portfile, "'", "'", portfile,
           "'");
  ASSERT(test_helper_spawn(argv) > 0);
  for (i = 0; i < 500; i++) {
    char *t = test_read_file(portfile, NULL);
    if (t) {
      int port = (int)strtol(t, NULL, 10);
      free(t);
      return port;
    }
    {
      struct timespec ts = {0, 10000000};
      nanosleep(&ts, NULL);
    }
  }
  ASSERT(0);
  return 0;
}

TEST_TIMEOUT(gdelt_steps_http_source, 60000);
TEST(gdelt_steps_http_source)
{
  char *src = path_in_tmp("web.tsv"), *gz = path_in_tmp("web.tsv.gz"), wf[4096];
  const json_t *a, *b;
  struct run r;
  int port;

  synth_write(src, 4000, 33, SYNTH_MIXED);
  gzip_file(src, gz, 1);
  port = http_serve(test_tmpdir());
  if (port == 0) {
    printf("# skipped: %s not installed\n", PEER_PYTHON);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  snprintf(wf, sizeof(wf),
           "name: t\n"
           "steps:\n"
           "  plain:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"http://127.0.0.1:%d/web.tsv\"}\n"
           "  gz:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"http://127.0.0.1:%d/web.tsv.gz\"}\n"
           "  local:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"file://%s\"}\n"
           "  gone:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"http://127.0.0.1:%d/nope\"}\n",
           port, port, src, port);
  run_local(wf, &r);
  ASSERT_EQ(3, r.s.succeeded);
  a = outputs_of(&r, "plain");
  b = outputs_of(&r, "local");
  ASSERT(json_equal((json_t *)a, (json_t *)b));
  b = outputs_of(&r, "gz");
  ASSERT(json_equal((json_t *)a, (json_t *)b));
  ASSERT_CONTAINS(json_string_value(json_object_get(r.s.errors, "gone")),
                  "HTTP 404");
  exec_summary_free(&r.s);
  free(src);
  free(gz);
}

/* A step canceled while its source downloads (a server that answers
 * after 30 s; the step's timeout is 1 s) stops at once, and leaves no
 * file behind. */
TEST(gdelt_steps_cancel_while_downloading)
{
  char wf[2048];
  const char *msg;
  struct run r;
  int port = test_http_server_start();

  snprintf(wf, sizeof(wf),
           "name: t\n"
           "steps:\n"
           "  slow:\n"
           "    uses: gdelt.prepare\n"
           "    timeout: 1\n"
           "    with:\n"
           "      source: \"http://127.0.0.1:%d/slow/30000\"\n"
           "      events: [\"010\"]\n"
           "      split: 1\n"
           "      train: \"file://%s/never.data\"\n",
           port, test_tmpdir());
  run_local(wf, &r);
  ASSERT_EQ(1, r.rc);
  msg = json_string_value(json_object_get(r.s.errors, "slow"));
  ASSERT(msg != NULL);
  printf("# %s\n", msg);
  {
    char *t = path_in_tmp("never.data");
    ASSERT(access(t, F_OK) != 0);
    free(t);
    t = path_in_tmp("gdelt-slow-1/source");
    ASSERT(access(t, F_OK) != 0);
    free(t);
  }
  exec_summary_free(&r.s);
}

/* ---- The pandas oracle --------------------------------------------------- */

static int have_peer(void)
{
  if (access(PEER_PYTHON, X_OK) == 0)
    return 1;
  printf("# skipped: %s not installed\n", PEER_PYTHON);
  ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  return 0;
}

static char *peer(const char *const *args)
{
  const char *argv[24];
  char script[1024];
  char *out = NULL, *err = NULL;
  size_t i;
  int status;

  snprintf(script, sizeof(script), "%s/tests/peers/%s", test_srcdir(), args[0]);
  argv[0] = PEER_PYTHON;
  argv[1] = script;
  for (i = 1; args[i] && i < 22; i++)
    argv[i + 1] = args[i];
  argv[i + 1] = NULL;
  status = test_exec(argv, NULL, &out, &err);
  if (status != 0)
    printf("# %s: %s\n# %s\n", args[0], out ? out : "", err ? err : "");
  ASSERT_EQ(0, status);
  free(err);
  return out;
}

/* Runs gdelt.prepare on src with extra `with:` lines; writes
 * tmp/<tag>.train and tmp/<tag>.validation; returns its outputs. */
static json_t *prepare_step(const char *src, const char *events_yaml,
                            const char *extra, const char *tag)
{
  char wf[8192];
  struct run r;
  json_t *out;

  snprintf(wf, sizeof(wf),
           "name: t\n"
           "steps:\n"
           "  prepare:\n"
           "    uses: gdelt.prepare\n"
           "    with:\n"
           "      source: \"file://%s\"\n"
           "      events: %s\n"
           "      train: \"file://%s/%s.train\"\n"
           "      validation: \"file://%s/%s.validation\"\n"
           "%s",
           src, events_yaml, test_tmpdir(), tag, test_tmpdir(), tag, extra);
  run_local(wf, &r);
  out = json_deep_copy(outputs_of(&r, "prepare"));
  exec_summary_free(&r.s);
  return out;
}

/* The pandas seed's events for a file: its top 20 by crosstab. */
static void seed_events(const char *src, char *yaml, size_t yamllen, char *csv,
                        size_t csvlen, int fixed)
{
  const char *args[] = {"gdelt_seed.py", "top", src, fixed ? "--fixed" : NULL,
                        NULL};
  char *out = peer(args);
  json_t *j = json_loads(out, 0, NULL), *codes;
  size_t i, y = 0, c = 0;

  ASSERT(j != NULL);
  codes = json_object_get(j, "codes");
  y += (size_t)snprintf(yaml + y, yamllen - y, "[");
  for (i = 0; i < 20 && i < json_array_size(codes); i++) {
    const char *code =
        json_string_value(json_array_get(json_array_get(codes, i), 0));
    y += (size_t)snprintf(yaml + y, yamllen - y, "%s\"%s\"", i ? ", " : "",
                          code);
    c += (size_t)snprintf(csv + c, csvlen - c, "%s%s", i ? "," : "", code);
  }
  snprintf(yaml + y, yamllen - y, "]");
  json_decref(j);
  free(out);
}

/* seed_compat against the seed itself: the same multiset of rows and the
 * same split sizes (the shuffles differ), and without a shuffle the very
 * same bytes. */
static void parity_seed_compat(const char *src, const char *tag)
{
  char yaml[1024], csv[512], a[4096], b[4096], pt[1024], pv[1024];
  const char *args[12];
  json_t *ours, *theirs;
  char *out;

  seed_events(src, yaml, sizeof(yaml), csv, sizeof(csv), 0);
  snprintf(pt, sizeof(pt), "%s/%s-pandas.train", test_tmpdir(), tag);
  snprintf(pv, sizeof(pv), "%s/%s-pandas.validation", test_tmpdir(), tag);
  args[0] = "gdelt_seed.py";
  args[1] = "prepare";
  args[2] = src;
  args[3] = "--events";
  args[4] = csv;
  args[5] = "--train";
  args[6] = pt;
  args[7] = "--validation";
  args[8] = pv;
  args[9] = NULL;
  out = peer(args);
  theirs = json_loads(out, 0, NULL);
  free(out);
  ASSERT(theirs != NULL);
  ours = prepare_step(src, yaml, "      seed_compat: true\n", tag);
  ASSERT_EQ(out_int(theirs, "rows_read"), out_int(ours, "rows_read"));
  ASSERT_EQ(out_int(theirs, "rows_kept"), out_int(ours, "rows_kept"));
  ASSERT_EQ(out_int(theirs, "train_rows"), out_int(ours, "train_rows"));
  ASSERT_EQ(out_int(theirs, "validation_rows"),
            out_int(ours, "validation_rows"));
  ASSERT(json_equal(json_object_get(theirs, "columns"),
                    json_object_get(ours, "feature_names")));
  snprintf(a, sizeof(a), "%s,%s", pt, pv);
  snprintf(b, sizeof(b), "%s/%s.train,%s/%s.validation", test_tmpdir(), tag,
           test_tmpdir(), tag);
  args[0] = "recordio_decode.py";
  args[1] = "same-multiset";
  args[2] = a;
  args[3] = b;
  args[4] = NULL;
  out = peer(args);
  printf("# %s: pandas %lld rows (%lld + %lld); %s", tag,
         out_int(theirs, "rows_kept"), out_int(theirs, "train_rows"),
         out_int(theirs, "validation_rows"), out);
  free(out);
  json_decref(ours);
  json_decref(theirs);

  /* No shuffle: byte for byte what write_numpy_to_dense_tensor writes. */
  args[0] = "gdelt_seed.py";
  args[1] = "prepare";
  args[2] = src;
  args[3] = "--events";
  args[4] = csv;
  args[5] = "--train";
  args[6] = pt;
  args[7] = "--validation";
  args[8] = pv;
  args[9] = "--no-shuffle";
  args[10] = NULL;
  free(peer(args));
  ours = prepare_step(src, yaml,
                      "      seed_compat: true\n      shuffle: false\n", tag);
  json_decref(ours);
  snprintf(b, sizeof(b), "%s/%s.train", test_tmpdir(), tag);
  args[0] = "recordio_decode.py";
  args[1] = "same-bytes";
  args[2] = pt;
  args[3] = b;
  args[4] = NULL;
  free(peer(args));
  snprintf(b, sizeof(b), "%s/%s.validation", test_tmpdir(), tag);
  args[2] = pv;
  free(peer(args));
}

TEST_TIMEOUT(gdelt_peer_seed_compat_parity, 240000);
TEST(gdelt_peer_seed_compat_parity)
{
  char *src = path_in_tmp("parity.tsv"), real[1024];

  if (!have_peer())
    return;
  /* Historical lines only (the seed's read_csv fails on mixed ones),
   * blank values included (NaN rows). */
  synth_write(src, 20000, 1729, SYNTH_BLANKS);
  parity_seed_compat(src, "synthetic");
  if (shared_data(real, sizeof(real),
                  "undp-georgia-2011-2012.historical57.tsv"))
    parity_seed_compat(real, "undp");
  free(src);
}

/* Without seed_compat the differences from the seed are exactly the
 * documented ones: the peer applies those fixes to the seed's pandas
 * code (--fixed) and the rows agree, mixed layouts and blanks included. */
static void parity_fixed(const char *src, const char *tag)
{
  char yaml[1024], csv[512], a[4096], b[4096], pt[1024], pv[1024];
  const char *args[12];
  json_t *ours, *theirs;
  char *out;

  seed_events(src, yaml, sizeof(yaml), csv, sizeof(csv), 1);
  snprintf(pt, sizeof(pt), "%s/%s-fixed.train", test_tmpdir(), tag);
  snprintf(pv, sizeof(pv), "%s/%s-fixed.validation", test_tmpdir(), tag);
  args[0] = "gdelt_seed.py";
  args[1] = "prepare";
  args[2] = src;
  args[3] = "--events";
  args[4] = csv;
  args[5] = "--train";
  args[6] = pt;
  args[7] = "--validation";
  args[8] = pv;
  args[9] = "--fixed";
  args[10] = NULL;
  out = peer(args);
  theirs = json_loads(out, 0, NULL);
  free(out);
  ASSERT(theirs != NULL);
  ours = prepare_step(src, yaml, "", tag);
  ASSERT_EQ(out_int(theirs, "rows_read"),
            out_int(ours, "rows_read") - out_int(ours, "malformed"));
  ASSERT_EQ(out_int(theirs, "rows_kept"), out_int(ours, "rows_kept"));
  ASSERT_EQ(out_int(theirs, "train_rows"), out_int(ours, "train_rows"));
  ASSERT(json_equal(json_object_get(theirs, "columns"),
                    json_object_get(ours, "feature_names")));
  snprintf(a, sizeof(a), "%s,%s", pt, pv);
  snprintf(b, sizeof(b), "%s/%s.train,%s/%s.validation", test_tmpdir(), tag,
           test_tmpdir(), tag);
  args[0] = "recordio_decode.py";
  args[1] = "same-multiset";
  args[2] = a;
  args[3] = b;
  args[4] = NULL;
  out = peer(args);
  printf("# %s (fixed): %lld rows; %s", tag, out_int(theirs, "rows_kept"), out);
  free(out);
  json_decref(ours);
  json_decref(theirs);
}

TEST_TIMEOUT(gdelt_peer_documented_differences, 240000);
TEST(gdelt_peer_documented_differences)
{
  char *src = path_in_tmp("fixed.tsv"), real[1024];

  if (!have_peer())
    return;
  synth_write(src, 20000, 99, SYNTH_MIXED | SYNTH_BLANKS);
  parity_fixed(src, "synthetic");
  if (shared_data(real, sizeof(real), "gdelt-demo-events.tsv"))
    parity_fixed(real, "demo");
  if (shared_data(real, sizeof(real), "spark-gdelt-events1.tsv"))
    parity_fixed(real, "spark");
  free(src);
}

/* top_events counts and profile statistics against pandas' crosstab,
 * describe() and numpy's histogram. */
TEST_TIMEOUT(gdelt_peer_top_events_and_profile, 240000);
TEST(gdelt_peer_top_events_and_profile)
{
  char *src = path_in_tmp("prof.tsv"), wf[4096];
  const char *args[6];
  json_t *pandas, *codes, *stats, *hists, *shares;
  const json_t *top, *prof, *v;
  struct run r;
  size_t i;
  char *out;
  const char *key;

  if (!have_peer())
    return;
  synth_write(src, 20000, 5150, SYNTH_BLANKS);
  snprintf(wf, sizeof(wf),
           "name: t\n"
           "steps:\n"
           "  events:\n"
           "    uses: gdelt.top_events\n"
           "    with: {source: \"file://%s\", count: 1000, seed_compat: true}\n"
           "  profile:\n"
           "    uses: gdelt.profile\n"
           "    with: {source: \"file://%s\", seed_compat: true}\n",
           src, src);
  run_local(wf, &r);
  ASSERT_EQ(0, r.rc);
  top = outputs_of(&r, "events");
  prof = outputs_of(&r, "profile");

  args[0] = "gdelt_seed.py";
  args[1] = "top";
  args[2] = src;
  args[3] = NULL;
  out = peer(args);
  pandas = json_loads(out, 0, NULL);
  free(out);
  codes = json_object_get(pandas, "codes");
  ASSERT_EQ(json_array_size(codes),
            json_array_size(json_object_get(top, "codes")));
  ASSERT_EQ(out_int(pandas, "rows"), out_int(top, "rows"));
  /* Same counts per code (the order of ties is pandas' quicksort's). */
  for (i = 0; i < json_array_size(codes); i++) {
    json_t *pair = json_array_get(codes, i);
    const char *code = json_string_value(json_array_get(pair, 0));
    size_t k;
    for (k = 0; k < json_array_size(json_object_get(top, "codes")); k++)
      if (strcmp(code, json_string_value(json_array_get(
                           json_object_get(top, "codes"), k))) == 0)
        break;
    ASSERT(k < json_array_size(json_object_get(top, "codes")));
    ASSERT_EQ(
        json_integer_value(json_array_get(pair, 1)),
        json_integer_value(json_array_get(json_object_get(top, "counts"), k)));
  }
  json_decref(pandas);

  args[1] = "profile";
  out = peer(args);
  pandas = json_loads(out, 0, NULL);
  free(out);
  ASSERT(pandas != NULL);
  ASSERT_EQ(out_int(pandas, "rows"), out_int(prof, "rows"));
  stats = json_object_get(pandas, "stats");
  hists = json_object_get(pandas, "histograms");
  json_object_foreach(stats, key, v)
  {
    const json_t *ours = json_object_get(json_object_get(prof, "stats"), key);
    static const char *const pk[] = {"count", "mean", "std", "min",
                                     "25%",   "50%",  "75%", "max"};
    static const char *const ok[] = {"count", "mean", "std", "min",
                                     "p25",   "p50",  "p75", "max"};
    ASSERT(ours != NULL);
    for (i = 0; i < 8; i++) {
      double want = json_number_value(json_object_get(v, pk[i]));
      double got = json_number_value(json_object_get(ours, ok[i]));
      if (fabs(want - got) > 1e-9 * (1 + fabs(want)))
        printf("# %s %s: pandas %.17g, ours %.17g\n", key, pk[i], want, got);
      ASSERT(fabs(want - got) <= 1e-9 * (1 + fabs(want)));
    }
    ASSERT(json_equal(
        json_object_get(json_object_get(hists, key), "counts"),
        json_object_get(
            json_object_get(json_object_get(prof, "histograms"), key),
            "counts")));
  }
  ASSERT_EQ(6, json_object_size(stats));
  shares = json_object_get(pandas, "shares");
  ASSERT_EQ(json_object_size(shares),
            json_array_size(json_object_get(prof, "shares")));
  for (i = 0; i < json_array_size(json_object_get(prof, "shares")); i++) {
    const json_t *s = json_array_get(json_object_get(prof, "shares"), i);
    double want = json_number_value(
        json_object_get(shares, json_string_value(json_object_get(s, "code"))));
    ASSERT(fabs(want - json_number_value(json_object_get(s, "share"))) < 1e-12);
  }
  json_decref(pandas);
  exec_summary_free(&r.s);
  free(src);
}

/* Resume reuses a gdelt step only while its source is the data it read:
 * the step records the file's size and modification time, and a resume
 * stats it again (source_identity.h). */
TEST_TIMEOUT(gdelt_resume_checks_source_data, 60000);
TEST(gdelt_resume_checks_source_data)
{
  char *src = path_in_tmp("year.tsv"), wf[1024], state[1024], text[2048];
  const char *run[] = {test_sagerun_bin(), "run", wf, "--state", state, NULL};
  const char *resume[] = {test_sagerun_bin(), "resume", "--state", state, NULL};
  char *out = NULL, *err = NULL;
  struct timespec later[2] = {{0, UTIME_OMIT}, {0, 0}};

  const char *stop[] = {test_sagerun_bin(), "local", "stop", NULL};
  char run_id[64] = "";
  const char *explain[] = {
      test_sagerun_bin(), "explain", "--state", state, run_id, "events", NULL};

  /* gdelt steps may read s3://, so the run opens the local engine: its
   * own, stopped at the end. */
  snprintf(text, sizeof(text), "%s/engine", test_tmpdir());
  setenv("SAGERUN_LOCAL_DIR", text, 1);
  synth_write(src, 2000, 3, SYNTH_MIXED);
  snprintf(wf, sizeof(wf), "%s/wf.yaml", test_tmpdir());
  snprintf(state, sizeof(state), "%s/state.db", test_tmpdir());
  snprintf(text, sizeof(text),
           "name: ident\nsteps:\n"
           "  events: {uses: gdelt.top_events, with: {source: \"file://%s\", "
           "count: 5}}\n"
           "  fails: {uses: core.command, needs: [events], with: {run: "
           "[false]}}\n",
           src);
  ASSERT_EQ(0, test_write_file(wf, text));
  ASSERT_EQ(1, test_exec(run, NULL, &out, &err));
  {
    const char *at = strstr(out, "(run ");

    ASSERT(at != NULL);
    snprintf(run_id, sizeof(run_id), "%.*s", (int)strcspn(at + 5, ")"), at + 5);
  }
  free(out);
  free(err);
  /* explain says what resume will check. */
  ASSERT_EQ(0, test_exec(explain, NULL, &out, &err));
  ASSERT_CONTAINS(out, "events would be reused");
  ASSERT_CONTAINS(out, "if the data it read is unchanged");
  ASSERT_CONTAINS(out, "\"mtime\":");
  free(out);
  free(err);
  /* Same file: reused. */
  ASSERT_EQ(1, test_exec(resume, NULL, &out, &err));
  ASSERT_CONTAINS(out, "reused     events");
  free(out);
  free(err);
  /* Same bytes, newer modification time: it cannot know, so it reads
   * again; then other rows. */
  later[1].tv_sec = time(NULL) + 60;
  ASSERT_EQ(0, utimensat(AT_FDCWD, src, later, 0));
  ASSERT_EQ(1, test_exec(resume, NULL, &out, &err));
  ASSERT_CONTAINS(out, "succeeded  events");
  free(out);
  free(err);
  ASSERT_EQ(1, test_exec(resume, NULL, &out, &err));
  ASSERT_CONTAINS(out, "reused     events");
  free(out);
  free(err);
  synth_write(src, 2500, 4, SYNTH_MIXED);
  ASSERT_EQ(1, test_exec(resume, NULL, &out, &err));
  ASSERT_CONTAINS(out, "succeeded  events");
  free(out);
  free(err);
  test_exec(stop, NULL, &out, &err);
  free(out);
  free(err);
  free(src);
}
