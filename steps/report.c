/* report: compares the variants of an experiment. Its `variants` input is
 * a table by column (one list per column, one element per variant); from
 * it the step derives training minutes and instance-seconds, picks a
 * baseline variant, computes ratios and differences against it, and
 * writes the comparison table (to the log and the `table` output),
 * report.md, report.json and report.html (report_html.c) into output_dir.
 *
 * Everything that reads or writes files, and the rendering, runs on the
 * thread pool on a private copy of the inputs; the loop only starts the
 * work, logs the table and finishes the step. Under plan nothing is
 * written: the paths are known, the table and ratios are not. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../runner/error.h"
#include "report.h"
#include "step.h"

#define REPORT_PLACEHOLDER "(known after the run)"
#define REPORT_FILE_CAP ((size_t)64 << 20)
#define REPORT_TABLE_CAP ((size_t)4 << 20)

/* ---- Shared helpers (report.h) ------------------------------------------ */

void report_out_init(struct report_out *o, size_t cap)
{
  buf_init(&o->buf, cap);
  o->rc = 0;
}

void report_out_free(struct report_out *o)
{
  buf_free(&o->buf);
}

void report_out_adds(struct report_out *o, const char *s)
{
  int rc;

  if (o->rc)
    return;
  rc = buf_adds(&o->buf, s);
  if (rc)
    o->rc = rc;
}

void report_out_addf(struct report_out *o, const char *fmt, ...)
{
  va_list ap;
  int rc;

  if (o->rc)
    return;
  va_start(ap, fmt);
  rc = buf_vaddf(&o->buf, fmt, ap);
  va_end(ap);
  if (rc)
    o->rc = rc;
}

void report_out_html(struct report_out *o, const char *s)
{
  const char *run = s;

  for (; *s; s++) {
    const char *ent = NULL;
    switch (*s) {
    case '&':
      ent = "&amp;";
      break;
    case '<':
      ent = "&lt;";
      break;
    case '>':
      ent = "&gt;";
      break;
    case '"':
      ent = "&quot;";
      break;
    case '\'':
      ent = "&#39;";
      break;
    default:
      continue;
    }
    if (o->rc == 0)
      o->rc = buf_add(&o->buf, run, (size_t)(s - run));
    report_out_adds(o, ent);
    run = s + 1;
  }
  report_out_adds(o, run);
}

/* "-0.000" reads as a sign where there is none: drop it. */
static void drop_negative_zero(char *s)
{
  const char *p;

  if (s[0] != '-')
    return;
  for (p = s + 1; *p; p++)
    if (*p != '0' && *p != '.')
      return;
  memmove(s, s + 1, strlen(s));
}

/* Decimals that give digits significant digits to the magnitude m (> 0),
 * or -1 when m needs an exponent. */
static int decimals_for(double m, int digits)
{
  int dec;

  if (m >= 1e15 || m < 1e-6)
    return -1;
  dec = digits - 1 - (int)floor(log10(m));
  return dec < 0 ? 0 : dec;
}

void report_format_g(double v, int digits, char *out, size_t outlen)
{
  int dec;

  if (!isfinite(v)) {
    snprintf(out, outlen, "-");
    return;
  }
  if (v == 0) {
    snprintf(out, outlen, "0");
    return;
  }
  dec = decimals_for(fabs(v), digits);
  if (dec < 0)
    snprintf(out, outlen, "%.*g", digits, v);
  else
    snprintf(out, outlen, "%.*f", dec, v);
  drop_negative_zero(out);
}

const char *report_cell(const struct report *r, size_t row, size_t col)
{
  return r->cells[row * r->ncols + col];
}

int report_column_find(const struct report *r, const char *key)
{
  size_t i;

  for (i = 0; i < r->ncols; i++)
    if (strcmp(r->cols[i].key, key) == 0)
      return (int)i;
  return -1;
}

static void report_free(struct report *r)
{
  size_t i;

  for (i = 0; r->cells && i < r->nrows * r->ncols; i++)
    free(r->cells[i]);
  free(r->cells);
  for (i = 0; r->cols && i < r->ncols; i++) {
    free(r->cols[i].key);
    free(r->cols[i].head);
  }
  free(r->cols);
  json_decref(r->doc);
  memset(r, 0, sizeof(*r));
}

/* ---- Text ---------------------------------------------------------------- */

/* Terminal columns of UTF-8 text: one per code point (names and headers
 * are Latin text; wide scripts would only misalign their own row). */
static size_t text_width(const char *s)
{
  size_t w = 0;

  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80)
      w++;
  return w;
}

/* A copy of s fit for one table cell: control characters (a newline in
 * a name would break every format's table) become spaces. */
static char *cell_text(const char *s)
{
  char *c = strdup(s), *p;

  for (p = c; p && *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = ' ';
  return c;
}

/* ---- Building the model -------------------------------------------------- */

/* Columns with a meaning: units, formatting and derived columns. */
static const char *const known_numeric[] = {"training_seconds",
                                            "billable_seconds",
                                            "instance_count",
                                            "mse",
                                            "mae",
                                            "r2"};
static const char *const known_text[] = {"name", "instance_type"};
/* Derived when their sources are given; shown in their own columns. */
static const char *const derived_numeric[] = {"training_minutes",
                                              "instance_seconds"};

static int in_list(const char *key, const char *const *list, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcmp(key, list[i]) == 0)
      return 1;
  return 0;
}

#define IN_LIST(key, list) in_list(key, list, sizeof(list) / sizeof(*list))

/* Numeric: a known numeric column, or one whose values are all numbers or
 * null with at least one number. */
static int column_is_numeric(const char *key, const json_t *values)
{
  size_t i;
  json_t *v;
  int numbers = 0;

  if (IN_LIST(key, known_numeric) || IN_LIST(key, derived_numeric))
    return 1;
  if (IN_LIST(key, known_text))
    return 0;
  json_array_foreach(values, i, v)
  {
    if (json_is_number(v))
      numbers++;
    else if (!json_is_null(v))
      return 0;
  }
  return numbers > 0;
}

/* Every column a list with one value per variant. */
static int check_columns(const json_t *variants, size_t *n, char *err,
                         size_t errlen)
{
  const json_t *names = json_object_get(variants, "name");
  const char *key;
  json_t *col;

  if (!json_is_array(names) || json_array_size(names) == 0) {
    snprintf(err, errlen, "variants.name: expected a non-empty list");
    return SR_EINVAL;
  }
  *n = json_array_size(names);
  json_object_foreach((json_t *)variants, key, col)
  {
    if (!json_is_array(col)) {
      snprintf(err, errlen, "variants.%s: expected a list", key);
      return SR_EINVAL;
    }
    if (json_array_size(col) != *n) {
      snprintf(err, errlen,
               "variants.%s has %zu value%s for %zu variants (variants.name): "
               "every column needs one value per variant",
               key, json_array_size(col), json_array_size(col) == 1 ? "" : "s",
               *n);
      return SR_EINVAL;
    }
  }
  return 0;
}

static const char *name_of(const json_t *names, size_t i)
{
  const char *s = json_string_value(json_array_get(names, i));

  return s ? s : "?";
}

/* The baseline row: an index, or the first name equal to the string, or
 * the first containing it; otherwise row 0 and a warning. */
static size_t find_baseline(const json_t *names, const json_t *spec,
                            json_t *warnings)
{
  size_t i, n = json_array_size(names);
  const char *want = json_string_value(spec);
  char text[512];

  if (json_is_integer(spec)) {
    json_int_t k = json_integer_value(spec);
    if (k >= 0 && (size_t)k < n)
      return (size_t)k;
    snprintf(text, sizeof(text),
             "baseline %" JSON_INTEGER_FORMAT
             " is not a variant index (0 to %zu); using the first, %s",
             k, n - 1, name_of(names, 0));
    json_array_append_new(warnings, json_string(text));
    return 0;
  }
  if (want == NULL)
    return 0;
  for (i = 0; i < n; i++)
    if (strcmp(name_of(names, i), want) == 0)
      return i;
  for (i = 0; i < n; i++)
    if (strstr(name_of(names, i), want) != NULL)
      return i;
  snprintf(text, sizeof(text),
           "baseline \"%s\" matches no variant name; using the first, %s", want,
           name_of(names, 0));
  json_array_append_new(warnings, json_string(text));
  return 0;
}

static json_t *number_or_null(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

/* value / base and value - base per variant, null where undefined. */
static int ratio_lists(const json_t *values, size_t base, json_t **ratios,
                       json_t **diffs)
{
  const json_t *b = json_array_get(values, base);
  size_t i;
  json_t *v;

  *ratios = json_array();
  *diffs = json_array();
  if (*ratios == NULL || *diffs == NULL)
    return SR_ENOMEM;
  json_array_foreach(values, i, v)
  {
    double x = json_number_value(v), y = json_number_value(b);
    int known = json_is_number(v) && json_is_number(b);
    if (json_array_append_new(*ratios, known && y != 0 ? number_or_null(x / y)
                                                       : json_null()) ||
        json_array_append_new(*diffs,
                              known ? number_or_null(x - y) : json_null()))
      return SR_ENOMEM;
  }
  return 0;
}

/* training_minutes and instance_seconds, added to columns. */
static int derive_columns(json_t *columns, size_t n)
{
  const json_t *secs = json_object_get(columns, "training_seconds");
  const json_t *bill = json_object_get(columns, "billable_seconds");
  const json_t *count = json_object_get(columns, "instance_count");
  json_t *minutes = NULL, *cost = NULL;
  size_t i;

  /* A column given as such is kept as given. */
  if (secs && json_object_get(columns, "training_minutes") == NULL) {
    minutes = json_array();
    if (minutes == NULL ||
        json_object_set_new(columns, "training_minutes", minutes))
      return SR_ENOMEM;
    for (i = 0; i < n; i++) {
      const json_t *v = json_array_get(secs, i);
      if (json_array_append_new(minutes,
                                json_is_number(v)
                                    ? number_or_null(json_number_value(v) / 60)
                                    : json_null()))
        return SR_ENOMEM;
    }
  }
  /* billable_seconds is per instance (BillableTimeInSeconds): the bill is
   * that times the instances. */
  if (bill && count && json_object_get(columns, "instance_seconds") == NULL) {
    cost = json_array();
    if (cost == NULL || json_object_set_new(columns, "instance_seconds", cost))
      return SR_ENOMEM;
    for (i = 0; i < n; i++) {
      const json_t *b = json_array_get(bill, i), *c = json_array_get(count, i);
      json_t *v;
      if (json_is_integer(b) && json_is_integer(c))
        v = json_integer(json_integer_value(b) * json_integer_value(c));
      else if (json_is_number(b) && json_is_number(c))
        v = number_or_null(json_number_value(b) * json_number_value(c));
      else
        v = json_null();
      if (json_array_append_new(cost, v))
        return SR_ENOMEM;
    }
  }
  return 0;
}

enum cell_kind { CELL_TEXT, CELL_NUMBER, CELL_RATIO, CELL_DIFF };

/* A table column while the table is built. */
struct tcol {
  const char *key, *head;
  enum cell_kind kind;
  const json_t *values; /* one per variant (borrowed) */
  const json_t *like;   /* CELL_DIFF: the values whose format it shares */
};

/* How a column's numbers are written: all the same number of decimals,
 * chosen so the largest has the significant digits asked for. */
struct numfmt {
  int integer; /* every value is an integer */
  int dec;     /* decimals, or -1: %g */
  int digits;
};

static void numfmt_for(const json_t *values, int digits, struct numfmt *f)
{
  size_t i;
  json_t *v;
  double m = 0;

  f->integer = 1;
  f->digits = digits;
  json_array_foreach(values, i, v)
  {
    if (!json_is_number(v))
      continue;
    if (!json_is_integer(v))
      f->integer = 0;
    if (fabs(json_number_value(v)) > m)
      m = fabs(json_number_value(v));
  }
  f->dec = m > 0 ? decimals_for(m, digits) : 0;
}

static void numfmt_write(const struct numfmt *f, const json_t *v, int sign,
                         char *out, size_t outlen)
{
  double x = json_number_value(v);

  if (f->integer && json_is_integer(v))
    snprintf(out, outlen,
             sign ? "%+" JSON_INTEGER_FORMAT : "%" JSON_INTEGER_FORMAT,
             json_integer_value(v));
  else if (f->dec < 0)
    snprintf(out, outlen, sign ? "%+.*g" : "%.*g", f->digits, x);
  else
    snprintf(out, outlen, sign && x != 0 ? "%+.*f" : "%.*f", f->dec, x);
  drop_negative_zero(out);
}

static char *cell_for(const struct tcol *c, const struct numfmt *f,
                      const json_t *v)
{
  char text[128];

  if (json_is_null(v) || v == NULL)
    return strdup("-");
  if (json_is_string(v))
    return cell_text(json_string_value(v));
  if (json_is_boolean(v))
    return strdup(json_is_true(v) ? "true" : "false");
  if (!json_is_number(v))
    return strdup("-");
  switch (c->kind) {
  case CELL_RATIO:
    /* Each to its own significant digits: ratios span magnitudes (a
     * 0.0656x cost next to a 3.33x speedup). */
    report_format_g(json_number_value(v), f->digits, text, sizeof(text) - 1);
    strncat(text, "x", sizeof(text) - strlen(text) - 1);
    break;
  case CELL_DIFF:
    numfmt_write(f, v, 1, text, sizeof(text));
    break;
  case CELL_TEXT:
    report_format_g(json_number_value(v), f->digits, text, sizeof(text));
    break;
  case CELL_NUMBER:
  default:
    numfmt_write(f, v, 0, text, sizeof(text));
    break;
  }
  return strdup(text);
}

/* "5 x ml.c4.2xlarge" per variant, from what is given of both. */
static json_t *instances_list(const json_t *count, const json_t *type, size_t n)
{
  json_t *list = json_array();
  size_t i;
  char text[256];

  for (i = 0; list && i < n; i++) {
    const json_t *c = json_array_get(count, i);
    const char *t = json_string_value(json_array_get(type, i));
    json_t *v;
    if (json_is_number(c) && t)
      snprintf(text, sizeof(text), "%.0f x %s", json_number_value(c), t);
    else if (json_is_number(c))
      snprintf(text, sizeof(text), "%.0f", json_number_value(c));
    else if (t)
      snprintf(text, sizeof(text), "%s", t);
    v = json_is_number(c) || t ? json_string(text) : json_null();
    if (json_array_append_new(list, v)) {
      json_decref(list);
      return NULL;
    }
  }
  return list;
}

/* The table's columns, those the inputs allow, in reading order: who,
 * on what, how long, what it cost, how good, anything else, then how it
 * compares. scratch keeps lists made for display only. */
static int table_columns(const json_t *variants, const json_t *columns,
                         json_t *doc, json_t *scratch, struct tcol *out,
                         size_t max, size_t *nout)
{
  const json_t *ratios = json_object_get(doc, "ratios");
  const json_t *diffs = json_object_get(doc, "differences");
  const char *cost =
      json_object_get(columns, "instance_seconds")   ? "instance_seconds"
      : json_object_get(columns, "billable_seconds") ? "billable_seconds"
                                                     : NULL;
  const char *key;
  json_t *values;
  size_t n = 0;

#define ADD(k, h, kind_, vals, like_)                                          \
  do {                                                                         \
    if (n < max && (vals) != NULL) {                                           \
      out[n].key = (k);                                                        \
      out[n].head = (h);                                                       \
      out[n].kind = (kind_);                                                   \
      out[n].values = (vals);                                                  \
      out[n].like = (like_);                                                   \
      n++;                                                                     \
    }                                                                          \
  } while (0)

  ADD("name", "variant", CELL_TEXT, json_object_get(columns, "name"), NULL);
  if (json_object_get(columns, "instance_count") ||
      json_object_get(columns, "instance_type")) {
    json_t *list =
        instances_list(json_object_get(columns, "instance_count"),
                       json_object_get(columns, "instance_type"),
                       json_array_size(json_object_get(columns, "name")));
    if (list == NULL || json_object_set_new(scratch, "instances", list))
      return SR_ENOMEM;
    ADD("instances", "instances", CELL_TEXT, list, NULL);
  }
  ADD("training_minutes", "train min", CELL_NUMBER,
      json_object_get(columns, "training_minutes"), NULL);
  if (cost)
    ADD(cost,
        strcmp(cost, "instance_seconds") == 0 ? "instance-s" : "billable s",
        CELL_NUMBER, json_object_get(columns, cost), NULL);
  ADD("mse", "MSE", CELL_NUMBER, json_object_get(columns, "mse"), NULL);
  ADD("mae", "MAE", CELL_NUMBER, json_object_get(columns, "mae"), NULL);
  ADD("r2", "R\xc2\xb2", CELL_NUMBER, json_object_get(columns, "r2"), NULL);
  json_object_foreach((json_t *)variants, key, values)
  {
    if (IN_LIST(key, known_numeric) || IN_LIST(key, known_text) ||
        IN_LIST(key, derived_numeric))
      continue;
    ADD(key, key, column_is_numeric(key, values) ? CELL_NUMBER : CELL_TEXT,
        values, NULL);
  }
  ADD("speedup", "speedup", CELL_RATIO, json_object_get(doc, "speedup"), NULL);
  ADD("ratio:mse", "MSE ratio", CELL_RATIO, json_object_get(ratios, "mse"),
      NULL);
  ADD("diff:mse", "MSE diff", CELL_DIFF, json_object_get(diffs, "mse"),
      json_object_get(columns, "mse"));
  if (cost) {
    const char *k = strcmp(cost, "instance_seconds") == 0
                        ? "ratio:instance_seconds"
                        : "ratio:billable_seconds";
    ADD(k, "cost ratio", CELL_RATIO, json_object_get(ratios, cost), NULL);
  }
#undef ADD
  *nout = n;
  return 0;
}

/* The cells of every row, and the column descriptions, into r. */
static int table_cells(struct report *r, const struct tcol *tc, size_t ncols)
{
  struct numfmt *fmts = calloc(ncols, sizeof(*fmts));
  size_t i, j;
  int rc = SR_ENOMEM;

  r->cols = calloc(ncols, sizeof(*r->cols));
  r->cells = calloc(r->nrows * ncols, sizeof(*r->cells));
  if (fmts == NULL || r->cols == NULL || r->cells == NULL)
    goto out;
  r->ncols = ncols;
  for (j = 0; j < ncols; j++) {
    int digits = r->precision;
    /* Ratios need a digit less than the values to read well: 3.33x. */
    if (tc[j].kind == CELL_RATIO && digits > 1)
      digits--;
    numfmt_for(tc[j].like ? tc[j].like : tc[j].values, digits, &fmts[j]);
    if (tc[j].kind == CELL_RATIO)
      fmts[j].integer = 0;
    r->cols[j].key = strdup(tc[j].key);
    r->cols[j].head = strdup(tc[j].head);
    r->cols[j].numeric = tc[j].kind != CELL_TEXT;
    if (r->cols[j].key == NULL || r->cols[j].head == NULL)
      goto out;
  }
  for (i = 0; i < r->nrows; i++)
    for (j = 0; j < ncols; j++) {
      char *cell = cell_for(&tc[j], &fmts[j], json_array_get(tc[j].values, i));
      if (cell == NULL)
        goto out;
      r->cells[i * ncols + j] = cell;
    }
  rc = 0;
out:
  free(fmts);
  return rc;
}

/* The cell of row in the column with key, or NULL. */
static const char *cell_of(const struct report *r, size_t row, const char *key)
{
  int col = report_column_find(r, key);

  return col >= 0 ? report_cell(r, row, (size_t)col) : NULL;
}

/* One sentence per variant against the baseline, worded from the table's
 * cells so the summary and the table never disagree. */
static int summary_lines(const struct report *r, json_t *out)
{
  const json_t *speed = json_object_get(r->doc, "speedup");
  const char *cost = report_column_find(r, "ratio:instance_seconds") >= 0
                         ? "ratio:instance_seconds"
                         : "ratio:billable_seconds";
  size_t i;

  for (i = 0; i < r->nrows; i++) {
    struct report_out line;
    const json_t *v = json_array_get(speed, i);
    const char *mse = cell_of(r, i, "mse"), *diff = cell_of(r, i, "diff:mse");
    const char *ratio = cell_of(r, i, cost);
    int parts = 0, rc;
    if (i == r->baseline)
      continue;
    report_out_init(&line, 1 << 16);
    report_out_addf(&line, "%s against %s: ", report_cell(r, i, 0),
                    report_cell(r, r->baseline, 0));
    if (json_is_number(v) && json_number_value(v) >= 1) {
      report_out_addf(&line, "trains %s faster", cell_of(r, i, "speedup"));
      parts++;
    } else if (json_is_number(v) && json_number_value(v) > 0) {
      char slower[64];
      report_format_g(1 / json_number_value(v),
                      r->precision > 1 ? r->precision - 1 : 1, slower,
                      sizeof(slower));
      report_out_addf(&line, "trains %sx slower", slower);
      parts++;
    }
    if (mse && diff && strcmp(diff, "-") != 0) {
      report_out_addf(&line, "%sMSE %s (%s)", parts ? ", " : "", mse, diff);
      parts++;
    }
    if (ratio && strcmp(ratio, "-") != 0) {
      report_out_addf(&line, "%scosts %s the instance-seconds",
                      parts ? ", " : "", ratio);
      parts++;
    }
    if (parts == 0)
      report_out_adds(&line, "nothing to compare");
    rc = line.rc ? line.rc
         : json_array_append_new(out, json_string(buf_str(&line.buf)))
             ? SR_ENOMEM
             : 0;
    report_out_free(&line);
    if (rc)
      return rc;
  }
  return 0;
}

/* What each derived column means, for the reader of every format. */
static json_t *definitions(const json_t *columns)
{
  json_t *d = json_array();

  if (d == NULL)
    return NULL;
  if (json_object_get(columns, "training_minutes"))
    json_array_append_new(
        d, json_string("train min: training time (from the training logs), "
                       "minutes"));
  if (json_object_get(columns, "instance_seconds"))
    json_array_append_new(
        d, json_string("instance-s: billable seconds x instance count, the "
                       "compute SageMaker bills"));
  if (json_object_get(columns, "training_seconds"))
    json_array_append_new(
        d, json_string("speedup: the baseline's training time divided by the "
                       "variant's"));
  json_array_append_new(
      d, json_string("ratios: the variant's value divided by the "
                     "baseline's; differences: the variant's minus the "
                     "baseline's"));
  return d;
}

static void now_iso(char *out, size_t outlen)
{
  time_t now = time(NULL);
  struct tm tm;

  gmtime_r(&now, &tm);
  strftime(out, outlen, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Builds r from the step's inputs (in). Returns 0, or a negative code
 * with a message in err. On error r is left empty. */
static int report_build(struct report *r, const json_t *in, const char *run_id,
                        char *err, size_t errlen)
{
  const json_t *variants = json_object_get(in, "variants");
  const json_t *precision = json_object_get(in, "precision");
  const json_t *profile = json_object_get(in, "profile");
  json_t *columns = NULL, *scratch = NULL, *ratios, *diffs, *rows, *warnings;
  json_t *summary, *defs, *values;
  struct tcol *tc = NULL;
  size_t n = 0, i, ntc = 0;
  const char *key;
  char when[32];
  int rc;

  memset(r, 0, sizeof(*r));
  rc = check_columns(variants, &n, err, errlen);
  if (rc)
    return rc;
  r->nrows = n;
  r->precision =
      json_is_integer(precision) ? (int)json_integer_value(precision) : 4;
  if (r->precision < 1 || r->precision > 17)
    r->precision = 4;
  rc = SR_ENOMEM;
  now_iso(when, sizeof(when));
  columns = json_object();
  scratch = json_object();
  ratios = json_object();
  diffs = json_object();
  rows = json_array();
  warnings = json_array();
  summary = json_array();
  if (columns == NULL || scratch == NULL || ratios == NULL || diffs == NULL ||
      rows == NULL || warnings == NULL || summary == NULL) {
    json_decref(ratios);
    json_decref(diffs);
    json_decref(rows);
    json_decref(warnings);
    json_decref(summary);
    goto out;
  }
  /* json_pack takes the "o" references, also when it fails. */
  r->doc = json_pack("{s:s,s:s,s:s?,s:s,s:{},s:o,s:o,s:o,s:o,s:o}", "title",
                     json_string_value(json_object_get(in, "title"))
                         ? json_string_value(json_object_get(in, "title"))
                         : "sagerun report",
                     "description",
                     json_string_value(json_object_get(in, "description"))
                         ? json_string_value(json_object_get(in, "description"))
                         : "",
                     "run_id", run_id, "generated_at", when, "baseline",
                     "summary", summary, "variants", rows, "ratios", ratios,
                     "differences", diffs, "warnings", warnings);
  if (r->doc == NULL)
    goto out;
  /* The input columns, then the derived ones, in the rows' key order. */
  json_object_foreach((json_t *)variants, key, values)
  {
    if (json_object_set(columns, key, values))
      goto out;
  }
  if (derive_columns(columns, n))
    goto out;
  r->baseline = find_baseline(json_object_get(columns, "name"),
                              json_object_get(in, "baseline"), warnings);
  if (json_object_set_new(json_object_get(r->doc, "baseline"), "index",
                          json_integer((json_int_t)r->baseline)) ||
      json_object_set_new(
          json_object_get(r->doc, "baseline"), "name",
          json_string(name_of(json_object_get(columns, "name"), r->baseline))))
    goto out;
  json_object_foreach(columns, key, values)
  {
    json_t *rl, *dl;
    if (strcmp(key, "training_minutes") == 0 || !column_is_numeric(key, values))
      continue;
    if (ratio_lists(values, r->baseline, &rl, &dl) != 0) {
      json_decref(rl);
      json_decref(dl);
      goto out;
    }
    /* set_new takes the reference whether or not it succeeds. */
    if (json_object_set_new(ratios, key, rl)) {
      json_decref(dl);
      goto out;
    }
    if (json_object_set_new(diffs, key, dl))
      goto out;
  }
  values = json_object_get(columns, "training_seconds");
  if (values) {
    /* baseline / value: how many times faster than the baseline. */
    json_t *speed = json_array();
    const json_t *b = json_array_get(values, r->baseline);
    if (speed == NULL || json_object_set_new(r->doc, "speedup", speed))
      goto out;
    for (i = 0; i < n; i++) {
      const json_t *v = json_array_get(values, i);
      int known =
          json_is_number(v) && json_is_number(b) && json_number_value(v) > 0;
      if (json_array_append_new(speed,
                                known ? number_or_null(json_number_value(b) /
                                                       json_number_value(v))
                                      : json_null()))
        goto out;
    }
  }
  for (i = 0; i < n; i++) {
    json_t *row = json_object();
    if (row == NULL || json_array_append_new(rows, row))
      goto out;
    json_object_foreach(columns, key, values)
    {
      if (json_object_set(row, key, json_array_get(values, i)))
        goto out;
    }
    if (json_object_set_new(row, "is_baseline", json_boolean(i == r->baseline)))
      goto out;
  }
  defs = definitions(columns);
  if (defs == NULL || json_object_set_new(r->doc, "definitions", defs))
    goto out;
  if (json_is_object(profile) &&
      json_object_set_new(r->doc, "profile", json_deep_copy(profile)))
    goto out;
  /* Every input column, and at most 12 of the report's own. */
  tc = calloc(json_object_size(variants) + 12, sizeof(*tc));
  if (tc == NULL ||
      table_columns(variants, columns, r->doc, scratch, tc,
                    json_object_size(variants) + 12, &ntc) ||
      table_cells(r, tc, ntc) || summary_lines(r, summary))
    goto out;
  rc = 0;
out:
  free(tc);
  json_decref(columns);
  json_decref(scratch);
  if (rc) {
    snprintf(err, errlen, "out of memory");
    report_free(r);
  }
  return rc;
}

/* ---- Renderers ---------------------------------------------------------- */

/* The aligned plain-text table: the terminal's and the `table` output. */
static void render_text(const struct report *r, struct report_out *o)
{
  size_t *w = calloc(r->ncols ? r->ncols : 1, sizeof(*w));
  size_t i, j, k;

  if (w == NULL) {
    o->rc = SR_ENOMEM;
    return;
  }
  for (j = 0; j < r->ncols; j++) {
    w[j] = text_width(r->cols[j].head);
    for (i = 0; i < r->nrows; i++)
      if (text_width(report_cell(r, i, j)) > w[j])
        w[j] = text_width(report_cell(r, i, j));
  }
  /* Line 0 is the header, line 1 a rule, then one line per variant. */
  for (k = 0; k < r->nrows + 2; k++) {
    for (j = 0; j < r->ncols; j++) {
      const char *s = k == 0   ? r->cols[j].head
                      : k == 1 ? NULL
                               : report_cell(r, k - 2, j);
      size_t pad = s ? w[j] - text_width(s) : 0, p;
      int last = j + 1 == r->ncols;
      if (j > 0)
        report_out_adds(o, "  ");
      if (s == NULL) {
        for (p = 0; p < w[j]; p++)
          report_out_adds(o, "-");
        continue;
      }
      for (p = 0; r->cols[j].numeric && p < pad; p++)
        report_out_adds(o, " ");
      report_out_adds(o, s);
      for (p = 0; !r->cols[j].numeric && !last && p < pad; p++)
        report_out_adds(o, " ");
    }
    report_out_adds(o, "\n");
  }
  free(w);
}

/* s as Markdown text: punctuation that could start markup, HTML or an
 * entity, or end a table cell is backslash-escaped, so "<script>" reads
 * as itself. */
static void md_text(struct report_out *o, const char *s)
{
  char one[3] = {'\\', 0, 0};

  for (; *s; s++) {
    if (strchr("\\`*_[]<>|#~&$", *s)) {
      one[1] = *s;
      report_out_adds(o, one);
    } else if (*s == '\n' || *s == '\r') {
      report_out_adds(o, " ");
    } else {
      char c[2] = {*s, 0};
      report_out_adds(o, c);
    }
  }
}

static void md_row(struct report_out *o, const char *const *cells, size_t n)
{
  size_t i;

  report_out_adds(o, "|");
  for (i = 0; i < n; i++) {
    report_out_adds(o, " ");
    md_text(o, cells[i]);
    report_out_adds(o, " |");
  }
  report_out_adds(o, "\n");
}

static void md_rule(struct report_out *o, const int *right, size_t n)
{
  size_t i;

  report_out_adds(o, "|");
  for (i = 0; i < n; i++)
    report_out_adds(o, right[i] ? " ---: |" : " :--- |");
  report_out_adds(o, "\n");
}

static void md_profile(struct report_out *o, const json_t *profile,
                       int precision)
{
  const json_t *shares = json_object_get(profile, "shares");
  const json_t *stats = json_object_get(profile, "stats");
  const json_t *hists = json_object_get(profile, "histograms");
  const json_t *events = json_object_get(profile, "events");
  static const char *const stat_keys[] = {"count", "missing", "zeros", "mean",
                                          "std",   "min",     "p25",   "p50",
                                          "p75",   "max"};
  static const int share_right[] = {0, 1, 1};
  int stat_right[11];
  const char *key;
  json_t *v;
  size_t i;

  report_out_adds(o, "\n## Data profile\n\n");
  if (json_is_integer(json_object_get(profile, "rows")))
    report_out_addf(o, "Rows profiled: %" JSON_INTEGER_FORMAT ".\n\n",
                    json_integer_value(json_object_get(profile, "rows")));
  if (json_array_size(events) > 0) {
    report_out_addf(o, "EventCodes used (%zu): ", json_array_size(events));
    json_array_foreach(events, i, v)
    {
      if (i > 0)
        report_out_adds(o, ", ");
      md_text(o, json_is_string(v) ? json_string_value(v) : "?");
    }
    report_out_adds(o, ".\n\n");
  }
  if (json_array_size(shares) > 0) {
    const char *head[] = {"EventCode", "rows", "share"};
    double rest = 0;
    json_int_t rest_rows = 0;
    report_out_adds(o, "### EventCode shares\n\n");
    md_row(o, head, 3);
    md_rule(o, share_right, 3);
    json_array_foreach(shares, i, v)
    {
      char count[32], share[32];
      const char *cells[3];
      const json_t *code = json_object_get(v, "code");
      if (i >= REPORT_MAX_SHARES) {
        rest += json_number_value(json_object_get(v, "share"));
        rest_rows += json_integer_value(json_object_get(v, "count"));
        continue;
      }
      snprintf(count, sizeof(count), "%" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(v, "count")));
      report_format_g(100 * json_number_value(json_object_get(v, "share")), 3,
                      share, sizeof(share));
      strncat(share, "%", sizeof(share) - strlen(share) - 1);
      cells[0] = json_is_string(code) ? json_string_value(code) : "?";
      cells[1] = count;
      cells[2] = share;
      md_row(o, cells, 3);
    }
    if (json_array_size(shares) > REPORT_MAX_SHARES) {
      char label[64], count[32], share[32];
      const char *cells[3] = {label, count, share};
      snprintf(label, sizeof(label), "%zu other codes",
               json_array_size(shares) - REPORT_MAX_SHARES);
      snprintf(count, sizeof(count), "%" JSON_INTEGER_FORMAT, rest_rows);
      report_format_g(100 * rest, 3, share, sizeof(share));
      strncat(share, "%", sizeof(share) - strlen(share) - 1);
      md_row(o, cells, 3);
    }
    report_out_adds(o, "\n");
  }
  if (json_object_size(stats) > 0) {
    const char *head[11] = {"column"};
    for (i = 0; i < 10; i++)
      head[i + 1] = stat_keys[i];
    for (i = 0; i < 11; i++)
      stat_right[i] = i > 0;
    report_out_adds(o, "### Column statistics\n\n");
    md_row(o, head, 11);
    md_rule(o, stat_right, 11);
    json_object_foreach((json_t *)stats, key, v)
    {
      char text[10][48];
      const char *cells[11];
      cells[0] = key;
      for (i = 0; i < 10; i++) {
        const json_t *x = json_object_get(v, stat_keys[i]);
        if (json_is_integer(x))
          snprintf(text[i], sizeof(text[i]), "%" JSON_INTEGER_FORMAT,
                   json_integer_value(x));
        else if (json_is_number(x))
          report_format_g(json_number_value(x), precision, text[i],
                          sizeof(text[i]));
        else
          snprintf(text[i], sizeof(text[i]), "-");
        cells[i + 1] = text[i];
      }
      md_row(o, cells, 11);
    }
    report_out_adds(o, "\n");
  }
  if (json_object_size(hists) > 0) {
    report_out_adds(o, "Histograms of ");
    i = 0;
    json_object_foreach((json_t *)hists, key, v)
    {
      report_out_adds(o, i++ ? ", " : "");
      md_text(o, key);
    }
    report_out_adds(o, " are drawn in report.html.\n");
  }
}

static void render_md(const struct report *r, struct report_out *o)
{
  const json_t *doc = r->doc;
  const char *desc = json_string_value(json_object_get(doc, "description"));
  const json_t *list;
  const char **cells = calloc(r->ncols, sizeof(*cells));
  int *right = calloc(r->ncols, sizeof(*right));
  json_t *v;
  size_t i, j;

  if (cells == NULL || right == NULL) {
    o->rc = SR_ENOMEM;
    goto out;
  }
  report_out_adds(o, "# ");
  md_text(o, json_string_value(json_object_get(doc, "title")));
  report_out_adds(o, "\n\n");
  /* The description is Markdown already. */
  if (desc && *desc)
    report_out_addf(o, "%s\n\n", desc);
  report_out_adds(o, "## Comparison\n\n");
  for (j = 0; j < r->ncols; j++) {
    cells[j] = r->cols[j].head;
    right[j] = r->cols[j].numeric;
  }
  md_row(o, cells, r->ncols);
  md_rule(o, right, r->ncols);
  for (i = 0; i < r->nrows; i++) {
    for (j = 0; j < r->ncols; j++)
      cells[j] = report_cell(r, i, j);
    md_row(o, cells, r->ncols);
  }
  report_out_adds(o, "\nBaseline: **");
  md_text(o, json_string_value(
                 json_object_get(json_object_get(doc, "baseline"), "name")));
  report_out_adds(o, "**.\n\n");
  list = json_object_get(doc, "summary");
  json_array_foreach(list, i, v)
  {
    report_out_adds(o, "- ");
    md_text(o, json_string_value(v));
    report_out_adds(o, "\n");
  }
  if (json_array_size(list))
    report_out_adds(o, "\n");
  list = json_object_get(doc, "definitions");
  json_array_foreach(list, i, v)
  {
    report_out_adds(o, i ? "; " : "");
    md_text(o, json_string_value(v));
  }
  report_out_adds(o, json_array_size(list) ? ".\n" : "");
  list = json_object_get(doc, "warnings");
  json_array_foreach(list, i, v)
  {
    report_out_adds(o, "\n> **Warning:** ");
    md_text(o, json_string_value(v));
    report_out_adds(o, "\n");
  }
  if (json_is_object(json_object_get(doc, "profile")))
    md_profile(o, json_object_get(doc, "profile"), r->precision);
  report_out_adds(o, "\n---\n\nGenerated by sagerun");
  if (json_is_string(json_object_get(doc, "run_id"))) {
    report_out_adds(o, ", run ");
    md_text(o, json_string_value(json_object_get(doc, "run_id")));
  }
  report_out_addf(o, ", at %s.\n",
                  json_string_value(json_object_get(doc, "generated_at")));
out:
  free(cells);
  free(right);
}

/* ---- Files --------------------------------------------------------------- */

/* Creates dir and its parents. Returns 0 or -1 with errno set. */
static int mkdir_p(const char *dir)
{
  char *copy = strdup(dir), *p;
  struct stat st;
  int rc = -1;

  if (copy == NULL) {
    errno = ENOMEM;
    return -1;
  }
  for (p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, 0777) != 0 && errno != EEXIST)
      goto out;
    *p = '/';
  }
  if (mkdir(copy, 0777) != 0 && errno != EEXIST)
    goto out;
  if (stat(copy, &st) != 0)
    goto out;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    goto out;
  }
  rc = 0;
out:
  free(copy);
  return rc;
}

/* dir/name, or name alone when dir is ".". malloc'ed or NULL. */
static char *path_join(const char *dir, const char *name)
{
  struct buf b;
  size_t len = strlen(dir);

  while (len > 1 && dir[len - 1] == '/')
    len--;
  buf_init(&b, 1 << 16);
  if (!(len == 1 && dir[0] == '.')) {
    buf_add(&b, dir, len);
    if (dir[len - 1] != '/')
      buf_addc(&b, '/');
  }
  buf_adds(&b, name);
  return buf_len(&b) ? buf_detach(&b, NULL) : NULL;
}

/* Writes data to path through a temporary file and a rename, so a reader
 * never sees half a report. Returns 0 or -1 with errno set. */
static int write_file(const char *path, const char *data, size_t len)
{
  struct buf b;
  int fd = -1, rc = -1, saved;
  size_t done = 0;

  buf_init(&b, 1 << 16);
  if (buf_addf(&b, "%s.tmp", path) != 0) {
    errno = ENOMEM;
    return -1;
  }
  fd = open(buf_str(&b), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0)
    goto out;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      goto out;
    done += (size_t)n;
  }
  if (close(fd) != 0) {
    fd = -1;
    goto out;
  }
  fd = -1;
  if (rename(buf_str(&b), path) != 0)
    goto out;
  rc = 0;
out:
  saved = errno;
  if (fd >= 0)
    close(fd);
  if (rc)
    unlink(buf_str(&b));
  buf_free(&b);
  errno = saved;
  return rc;
}

/* ---- The step ----------------------------------------------------------- */

enum { FMT_MD, FMT_JSON, FMT_HTML, FMT_COUNT };

static const char *const fmt_names[FMT_COUNT] = {"md", "json", "html"};
static const char *const fmt_files[FMT_COUNT] = {"report.md", "report.json",
                                                 "report.html"};
static const char *const fmt_outputs[FMT_COUNT] = {"markdown", "json", "html"};

/* Which formats are asked for; all when formats is not a list (its
 * default is all three). */
static void formats_wanted(const json_t *formats, int want[FMT_COUNT])
{
  size_t i, k;
  json_t *v;

  for (k = 0; k < FMT_COUNT; k++)
    want[k] = !json_is_array(formats);
  json_array_foreach(formats, i, v)
  {
    for (k = 0; k < FMT_COUNT; k++)
      if (json_is_string(v) && strcmp(json_string_value(v), fmt_names[k]) == 0)
        want[k] = 1;
  }
}

struct report_job {
  struct step_ctx *ctx;
  json_t *in; /* the inputs, copied: the work thread reads only this */
  char *run_id;
  /* Results, for the loop. */
  int rc;
  char err[512];
  json_t *outputs;
  json_t *warnings;
  char *table;
  char *paths[FMT_COUNT];
};

static void job_free(struct report_job *job)
{
  size_t k;

  json_decref(job->in);
  json_decref(job->outputs);
  json_decref(job->warnings);
  free(job->run_id);
  free(job->table);
  for (k = 0; k < FMT_COUNT; k++)
    free(job->paths[k]);
  free(job);
}

static void render(const struct report *r, int fmt, struct report_out *o)
{
  char *text;

  if (fmt == FMT_MD) {
    render_md(r, o);
  } else if (fmt == FMT_HTML) {
    report_html_render(r, o);
  } else {
    text = json_dumps(r->doc, JSON_INDENT(2));
    if (text == NULL)
      o->rc = SR_ENOMEM;
    report_out_adds(o, text ? text : "");
    report_out_adds(o, "\n");
    free(text);
  }
}

/* Off the loop: the model, the renderings, the files. */
static void report_work(void *data)
{
  struct report_job *job = data;
  const char *dir = json_string_value(json_object_get(job->in, "output_dir"));
  struct report r;
  struct report_out table;
  int want[FMT_COUNT], k;
  json_t *outputs = NULL;

  memset(&r, 0, sizeof(r));
  report_out_init(&table, REPORT_TABLE_CAP);
  formats_wanted(json_object_get(job->in, "formats"), want);
  if (dir == NULL)
    dir = ".";
  job->rc = report_build(&r, job->in, job->run_id, job->err, sizeof(job->err));
  if (job->rc)
    goto out;
  job->rc = SR_ENOMEM;
  snprintf(job->err, sizeof(job->err), "out of memory");
  render_text(&r, &table);
  if (table.rc ||
      json_object_set_new(r.doc, "table", json_string(buf_str(&table.buf))))
    goto out;
  outputs =
      json_pack("{s:s,s:O,s:O*,s:O*}", "table", buf_str(&table.buf), "baseline",
                json_object_get(json_object_get(r.doc, "baseline"), "name"),
                "ratios", json_object_get(r.doc, "ratios"), "speedup",
                json_object_get(r.doc, "speedup"));
  if (outputs == NULL)
    goto out;
  if (json_object_get(outputs, "speedup") == NULL &&
      json_object_set_new(outputs, "speedup", json_null()))
    goto out;
  job->rc = 0;
  for (k = 0; k < FMT_COUNT && job->rc == 0; k++) {
    struct report_out file;
    if (!want[k]) {
      if (json_object_set_new(outputs, fmt_outputs[k], json_null()))
        job->rc = SR_ENOMEM;
      continue;
    }
    job->paths[k] = path_join(dir, fmt_files[k]);
    if (job->paths[k] == NULL ||
        json_object_set_new(outputs, fmt_outputs[k],
                            json_string(job->paths[k]))) {
      job->rc = SR_ENOMEM;
      break;
    }
    report_out_init(&file, REPORT_FILE_CAP);
    render(&r, k, &file);
    if (file.rc) {
      job->rc = file.rc;
      snprintf(job->err, sizeof(job->err), "%s: %s", fmt_files[k],
               sr_strerror(file.rc));
    } else if (mkdir_p(dir) != 0) {
      job->rc = SR_EIO;
      snprintf(job->err, sizeof(job->err), "cannot create directory %s: %s",
               dir, uv_strerror(uv_translate_sys_error(errno)));
    } else if (write_file(job->paths[k], buf_str(&file.buf),
                          buf_len(&file.buf)) != 0) {
      job->rc = SR_EIO;
      snprintf(job->err, sizeof(job->err), "cannot write %s: %s", job->paths[k],
               uv_strerror(uv_translate_sys_error(errno)));
    }
    report_out_free(&file);
  }
  if (job->rc)
    goto out;
  job->table = buf_detach(&table.buf, NULL);
  job->warnings = json_incref(json_object_get(r.doc, "warnings"));
  job->outputs = outputs;
  outputs = NULL;
  if (job->table == NULL) {
    job->rc = SR_ENOMEM;
    snprintf(job->err, sizeof(job->err), "out of memory");
  }
out:
  json_decref(outputs);
  report_out_free(&table);
  report_free(&r);
}

/* On the loop: the table and warnings into the log, then done. */
static void report_after(void *data, int status)
{
  struct report_job *job = data;
  struct step_ctx *ctx = job->ctx;
  const char *line, *end;
  json_t *v;
  size_t i;

  if (status != 0) {
    step_done(ctx, SR_ECANCELED, NULL, "canceled");
    goto out;
  }
  if (job->rc) {
    step_done(ctx, job->rc, NULL, "%s", job->err);
    goto out;
  }
  json_array_foreach(job->warnings, i, v)
      step_log(ctx, "warning: %s", json_string_value(v));
  for (line = job->table; *line; line = *end ? end + 1 : end) {
    end = strchr(line, '\n');
    if (end == NULL)
      end = line + strlen(line);
    step_log(ctx, "%.*s", (int)(end - line), line);
  }
  for (i = 0; i < FMT_COUNT; i++)
    if (job->paths[i])
      step_log(ctx, "wrote %s", job->paths[i]);
  step_done(ctx, 0, json_incref(job->outputs), NULL);
out:
  job_free(job);
}

/* Under plan: the paths follow from the inputs, the rest from the run. */
static json_t *plan_outputs(const json_t *in)
{
  const json_t *dir = json_object_get(in, "output_dir");
  const json_t *names =
      json_object_get(json_object_get(in, "variants"), "name");
  json_t *out =
      json_pack("{s:s,s:s,s:s}", "table", REPORT_PLACEHOLDER, "ratios",
                REPORT_PLACEHOLDER, "speedup", REPORT_PLACEHOLDER);
  int want[FMT_COUNT], k;
  size_t i, strings = 0;
  json_t *v;

  if (out == NULL)
    return NULL;
  formats_wanted(json_object_get(in, "formats"), want);
  for (k = 0; k < FMT_COUNT; k++) {
    char *path = json_is_string(dir)
                     ? path_join(json_string_value(dir), fmt_files[k])
                     : NULL;
    json_object_set_new(out, fmt_outputs[k],
                        !want[k]       ? json_null()
                        : path == NULL ? json_string(REPORT_PLACEHOLDER)
                                       : json_string(path));
    free(path);
  }
  json_array_foreach(names, i, v) strings += json_is_string(v);
  if (strings > 0 && strings == json_array_size(names)) {
    json_t *warnings = json_array();
    size_t b = find_baseline(names, json_object_get(in, "baseline"), warnings);
    json_object_set_new(
        out, "baseline",
        json_string(json_string_value(json_array_get(names, b))));
    json_decref(warnings);
  } else {
    json_object_set_new(out, "baseline", json_string(REPORT_PLACEHOLDER));
  }
  return out;
}

static int report_start(struct step_ctx *ctx)
{
  struct report_job *job;
  int rc;

  if (step_planning(ctx)) {
    json_t *out = plan_outputs(step_inputs(ctx));
    if (out == NULL)
      return SR_ENOMEM;
    step_done(ctx, 0, out, NULL);
    return 0;
  }
  job = calloc(1, sizeof(*job));
  if (job == NULL)
    return SR_ENOMEM;
  job->ctx = ctx;
  job->in = json_deep_copy(step_inputs(ctx));
  job->run_id = step_run_id(ctx) ? strdup(step_run_id(ctx)) : NULL;
  if (job->in == NULL || (step_run_id(ctx) && job->run_id == NULL)) {
    job_free(job);
    return SR_ENOMEM;
  }
  step_progress(ctx, "writing the report");
  rc = step_work(ctx, report_work, report_after, job);
  if (rc)
    job_free(job);
  return rc;
}

const struct step_exec report_exec = {STEP_ABI_VERSION, report_start,
                                      NULL /* short; runs to the end */, NULL};
