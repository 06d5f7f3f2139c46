/* The report step's model, shared by its two files: report.c builds it
 * from the step's inputs and writes the table, report.md and report.json;
 * report_html.c writes report.html from the same model, so every format
 * shows the same cells. Internal to steps/report*.c. */
#ifndef SAGERUN_REPORT_H
#define SAGERUN_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "../runner/buf.h"

/* At most this many EventCodes of the profile's shares are listed; the
 * rest are summed into one line. */
#define REPORT_MAX_SHARES 30

/* One column of the comparison table. */
struct report_column {
  char *key;   /* field of doc's variants ("mse", "training_minutes") or a
                  derived list ("speedup", "ratio:mse", "diff:mse") */
  char *head;  /* header text, UTF-8 */
  int numeric; /* right-aligned */
};

struct report {
  /* report.json's content: title, description, baseline, definitions,
   * summary, variants (one object per variant), ratios, differences,
   * speedup, profile, warnings. Owned. */
  json_t *doc;
  size_t nrows;    /* variants */
  size_t ncols;    /* table columns */
  size_t baseline; /* row of the baseline variant */
  int precision;   /* significant digits of table numbers */
  struct report_column *cols;
  /* nrows * ncols cells, row-major, plain text without control
   * characters, "-" where a value is missing. Renderers escape them. */
  char **cells;
};

/* The cell of row, col. */
const char *report_cell(const struct report *r, size_t row, size_t col);

/* The index of the column whose key is key, or -1. */
int report_column_find(const struct report *r, const char *key);

/* Writes v with digits significant digits into out: fixed notation for
 * ordinary magnitudes ("0.0123", "1235"), exponent only for very large or
 * small ones, never "-0". */
void report_format_g(double v, int digits, char *out, size_t outlen);

/* A buffer that remembers its first error, so a renderer can append
 * many pieces and check once at the end. */
struct report_out {
  struct buf buf;
  int rc; /* 0 or the first negative code of an append */
};

void report_out_init(struct report_out *o, size_t cap);
void report_out_free(struct report_out *o);
void report_out_adds(struct report_out *o, const char *s);
void report_out_addf(struct report_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s HTML-escaped (& < > " '), for text and attribute values. */
void report_out_html(struct report_out *o, const char *s);

/* Appends the self-contained report.html of r to o (inline CSS and SVG,
 * no script, no external reference). Errors are left in o->rc. */
void report_html_render(const struct report *r, struct report_out *o);

#endif
