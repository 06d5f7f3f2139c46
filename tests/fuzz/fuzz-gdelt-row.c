/* libFuzzer target: GDELT lines, the line splitter and the sources. The
 * input's first byte picks the options (seed_compat, missing policy,
 * strict, layout, events or none); the rest is a file's content. It is
 * scanned line by line, then as a file whole and in two ranges (plain
 * text, or gzip and zip when it starts like them), and the invariants
 * must hold: every line read is counted once, the ranges agree with the
 * whole, the rows written read back. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/gdelt.h"
#include "../../runner/recordio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const features[] = {"NumArticles", "Actor1Geo_Lat",
                                       "Actor1Geo_Long", "Actor2Geo_Lat",
                                       "Actor2Geo_Long"};
static const char *const events[] = {"010", "042", "43", "0211"};
static const char *const profile[] = {"AvgTone", "NumArticles"};

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

static void check_counts(const struct gdelt_scan *sc)
{
  check(sc->rows_read == sc->malformed + sc->kept + sc->dropped_event +
                             sc->dropped_zero_geo + sc->dropped_missing ||
            sc->error,
        "rows_read adds up");
  check(buf_len(&sc->row_events) == sc->kept * sizeof(uint16_t),
        "one event per kept row");
}

static void spec_from(uint8_t opt, struct gdelt_spec *s)
{
  size_t i;

  memset(s, 0, sizeof(*s));
  s->seed_compat = opt & 1;
  s->missing = (enum gdelt_missing)((opt >> 1) % 3);
  s->strict = (opt >> 3) & 1;
  s->layout = (enum gdelt_layout)((opt >> 4) & 3);
  if (opt & 0x40) {
    s->events = events;
    s->nevents = 4;
    s->one_hot = 1;
  }
  s->count_codes = 1;
  s->drop_zero_geo = !(opt & 0x80);
  s->label = "AvgTone";
  for (i = 0; i < 5; i++)
    s->features[i] = features[i];
  s->nfeatures = 5;
  s->profile[0] = profile[0];
  s->profile[1] = profile[1];
  s->nprofile = 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char path[64], out[64];
  struct gdelt_spec s;
  struct gdelt_scan lines, whole, parts[2];
  struct gdelt_source *src;
  char err[256];
  const char *p, *e, *nl;
  size_t i;
  FILE *f;

  if (size < 1)
    return 0;
  if (path[0] == '\0') {
    snprintf(path, sizeof(path), "/tmp/fuzz-gdelt-%d.in", (int)getpid());
    snprintf(out, sizeof(out), "/tmp/fuzz-gdelt-%d.out", (int)getpid());
  }
  spec_from(data[0], &s);
  if (gdelt_spec_compile(&s, err, sizeof(err)) != 0)
    abort();
  data++;
  size--;

  /* Line by line, straight from memory. */
  gdelt_scan_init(&lines, &s, 1);
  for (p = (const char *)data, e = p + size; p < e; p = nl + 1) {
    nl = memchr(p, '\n', (size_t)(e - p));
    if (nl == NULL)
      nl = e;
    if (gdelt_scan_line(&s, &lines, p, (size_t)(nl - p)) != 0)
      break;
  }
  check_counts(&lines);

  /* As a file: whole, then in two ranges. */
  f = fopen(path, "wb");
  if (f == NULL)
    abort();
  fwrite(data, 1, size, f);
  fclose(f);
  gdelt_scan_init(&whole, &s, 1);
  if (gdelt_source_open(path, &src, err, sizeof(err)) == 0) {
    int rc = gdelt_scan_source(&s, &whole, src, 0, 0, NULL, err, sizeof(err));
    int plain = gdelt_source_size(src) > 0;
    gdelt_source_close(src);
    check_counts(&whole);
    if (plain && rc == 0 && !whole.error && !lines.error) {
      /* Plain text read as a file is the lines read from memory. */
      check(whole.rows_read == lines.rows_read && whole.kept == lines.kept,
            "file and memory agree");
    }
    if (plain && rc == 0 && size > 1) {
      uint64_t mid = size / 2;
      struct gdelt_scan merged;
      gdelt_scan_init(&merged, &s, 1);
      for (i = 0; i < 2; i++) {
        gdelt_scan_init(&parts[i], &s, i == 0);
        if (gdelt_source_open(path, &src, err, sizeof(err)) != 0)
          abort();
        gdelt_scan_source(&s, &parts[i], src, i ? mid : 0, i ? 0 : mid, NULL,
                          err, sizeof(err));
        gdelt_source_close(src);
        if (gdelt_scan_merge(&merged, &parts[i]) != 0)
          abort();
      }
      if (!whole.error && !merged.error && !s.max_rows)
        check(merged.rows_read == whole.rows_read &&
                  merged.kept == whole.kept && merged.lines == whole.lines &&
                  buf_len(&merged.rows) == buf_len(&whole.rows) &&
                  memcmp(buf_str(&merged.rows), buf_str(&whole.rows),
                         buf_len(&whole.rows)) == 0,
              "ranges tile the file");
      gdelt_scan_free(&merged);
    }
    /* Write what was kept and read it back. */
    if (whole.kept > 0 && !whole.error) {
      struct gdelt_write_opts o;
      struct gdelt_write_result r;
      memset(&o, 0, sizeof(o));
      o.shuffle = 1;
      o.seed = size;
      o.split = 1;
      o.train_path = out;
      if (gdelt_write(&s, &whole, &o, &r, err, sizeof(err)) == 0) {
        struct recordio_reader rd;
        const void *rec;
        size_t len, n = 0;
        FILE *in = fopen(out, "rb");
        static char buf[1 << 20];
        size_t got = in ? fread(buf, 1, sizeof(buf), in) : 0;
        if (in)
          fclose(in);
        recordio_reader_init_mem(&rd, buf, got, 0);
        while (recordio_next(&rd, &rec, &len) == 1) {
          struct recordio_example ex;
          check(recordio_example_decode(rec, len, &ex) == 0, "decodes");
          check(ex.features.nvalues == r.feature_dim, "feature_dim");
          recordio_example_free(&ex);
          n++;
        }
        recordio_reader_free(&rd);
        check(got == sizeof(buf) || n == r.train_rows, "rows read back");
        gdelt_write_result_free(&r);
      }
    }
  }
  gdelt_scan_free(&whole);
  gdelt_scan_free(&lines);
  gdelt_spec_free(&s);
  return 0;
}
