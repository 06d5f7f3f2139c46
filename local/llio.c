/* Rows for linear-learner from SageMaker's data formats: see llio.h. */
#include "llio.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../runner/error.h"
#include "../runner/recordio.h"

/* Features per row at most: keeps a hostile shape from allocating. */
#define LLIO_MAX_DIM ((size_t)1 << 26)

void llio_init(struct llio_parser *p, size_t dim, int labelled, struct buf *err)
{
  memset(p, 0, sizeof(*p));
  p->dim = dim;
  p->labelled = labelled;
  p->err = err;
}

void llio_free(struct llio_parser *p)
{
  free(p->priv_row);
  p->priv_row = NULL;
  p->priv_alloc = 0;
}

/* Makes room for n floats in the row buffer. */
static int row_reserve(struct llio_parser *p, size_t n)
{
  size_t alloc = p->priv_alloc ? p->priv_alloc : 64;
  float *row;

  if (n <= p->priv_alloc)
    return 0;
  if (n > LLIO_MAX_DIM)
    return SR_ETOOBIG;
  while (alloc < n)
    alloc *= 2;
  row = realloc(p->priv_row, alloc * sizeof(float));
  if (row == NULL)
    return SR_ENOMEM;
  p->priv_row = row;
  p->priv_alloc = alloc;
  return 0;
}

/* Appends "SOURCE: " (when there is one) and the message; returns
 * SR_EINVAL. */
static int fail(struct llio_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct llio_parser *p, const char *fmt, ...)
{
  va_list ap;

  if (p->err == NULL)
    return SR_EINVAL;
  if (p->source)
    buf_addf(p->err, "%s: ", p->source);
  va_start(ap, fmt);
  buf_vaddf(p->err, fmt, ap);
  va_end(ap);
  return SR_EINVAL;
}

/* Checks (and learns) the row width; 0 or SR_EINVAL. what names the
 * row ("line 3", "record 7"). */
static int check_dim(struct llio_parser *p, size_t d, const char *what,
                     size_t index)
{
  if (d == 0)
    return fail(p, "%s %zu has no features", what, index);
  if (d > LLIO_MAX_DIM)
    return fail(p, "%s %zu has %zu features, more than the %zu supported", what,
                index, d, LLIO_MAX_DIM);
  if (p->dim == 0)
    p->dim = d;
  if (d != p->dim)
    return fail(p, "%s %zu has %zu features, expected %zu", what, index, d,
                p->dim);
  return 0;
}

/* ---- numbers ---------------------------------------------------------- */

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* strtod on a bounded copy, for what the fast path does not take. */
static int parse_slow(const char *s, const char *end, double *out)
{
  char tmp[128];
  size_t len = (size_t)(end - s);
  char *stop;

  /* Decimal only: strtod would also take hexadecimal. */
  if (len == 0 || len >= sizeof(tmp) || memchr(s, 'x', len) ||
      memchr(s, 'X', len))
    return -1;
  memcpy(tmp, s, len);
  tmp[len] = '\0';
  *out = strtod(tmp, &stop);
  return *stop == '\0' ? 0 : -1;
}

/* The fast path: a plain decimal ("-12.5e3") starting at s, up to end.
 * Returns where the number ends, with *v set, or NULL when the text
 * needs strtod or is not a number. */
static const char *scan_decimal(const char *s, const char *end, double *v)
{
  const char *p = s;
  uint64_t m = 0;
  int neg = 0, exp10 = 0, digits = 0;

  if (p < end && (*p == '-' || *p == '+'))
    neg = *p++ == '-';
  /* Up to 18 significant digits are exact in m; more only round below
   * double precision. */
  for (; p < end && *p >= '0' && *p <= '9'; p++, digits++) {
    if (m < 100000000000000000ULL)
      m = m * 10 + (uint64_t)(*p - '0');
    else
      exp10++;
  }
  if (p < end && *p == '.') {
    for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++)
      if (m < 100000000000000000ULL) {
        m = m * 10 + (uint64_t)(*p - '0');
        exp10--;
      }
  }
  if (digits == 0)
    return NULL;
  if (p < end && (*p == 'e' || *p == 'E')) {
    int eneg = 0, e = 0;
    const char *q = p + 1;

    if (q < end && (*q == '-' || *q == '+'))
      eneg = *q++ == '-';
    if (q >= end || *q < '0' || *q > '9')
      return NULL;
    for (; q < end && *q >= '0' && *q <= '9'; q++)
      if (e < 100000)
        e = e * 10 + (*q - '0');
    exp10 += eneg ? -e : e;
    p = q;
  }
  if (m == 0) {
    *v = neg ? -0.0 : 0.0;
    return p;
  }
  if (m >= (1ULL << 53) || exp10 < -22 || exp10 > 22)
    return NULL;
  /* m and 10^|exp10| are exact doubles: one correctly rounded step. */
  *v = exp10 >= 0 ? (double)m * pow10_exact[exp10]
                  : (double)m / pow10_exact[-exp10];
  if (neg)
    *v = -*v;
  return p;
}

static int finite_float(double v, float *out)
{
  float f = (float)v;

  if (!isfinite(v) || !isfinite(f))
    return -1;
  *out = f;
  return 0;
}

int llio_parse_float(const char *s, const char *end, float *out)
{
  double v;

  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  if (scan_decimal(s, end, &v) != end && parse_slow(s, end, &v) != 0)
    return -1;
  return finite_float(v, out);
}

/* One CSV field from f, up to le: the value and where it ends (at the
 * comma or le). */
static int csv_field(const char *f, const char *le, float *out, const char **fe)
{
  const char *q = f, *after;
  double v;

  while (q < le && (*q == ' ' || *q == '\t'))
    q++;
  after = scan_decimal(q, le, &v);
  if (after) {
    while (after < le && (*after == ' ' || *after == '\t'))
      after++;
    if ((after == le || *after == ',') && finite_float(v, out) == 0) {
      *fe = after;
      return 0;
    }
  }
  /* Anything unusual: find the field's end and take the careful path. */
  after = memchr(f, ',', (size_t)(le - f));
  *fe = after ? after : le;
  return llio_parse_float(f, *fe, out);
}

/* ---- text/csv --------------------------------------------------------- */

/* The usual line, fast: fields that are plain decimals ("-12.5", "0")
 * of at most 15 digits, no spaces, no exponent. Parses the fields of f
 * up to le into out (at most cap) and returns how many, or -1 when the
 * line has anything else; llio_csv then takes the careful path, which
 * accepts the rest and words the messages. Up to 15 digits the value is
 * below 2^53 and 10^-k exact, so one division rounds it correctly, as
 * scan_decimal does. */
static long csv_line_fast(const char *f, const char *le, float *out, size_t cap)
{
  size_t n = 0;

  for (;;) {
    const char *start;
    uint64_t m = 0;
    int neg = 0, digits, frac = 0;
    double v;

    /* One-hot columns are mostly "0" and "1": one digit and a comma. */
    if (le - f >= 2 && (unsigned)(*f - '0') < 10 && f[1] == ',' && n < cap) {
      out[n++] = (float)(*f - '0');
      f += 2;
      continue;
    }
    if (f < le && *f == '-') {
      neg = 1;
      f++;
    }
    start = f;
    while (f < le && (unsigned)(*f - '0') < 10)
      m = m * 10 + (uint64_t)(*f++ - '0');
    digits = (int)(f - start);
    if (f < le && *f == '.') {
      const char *dot = ++f;

      while (f < le && (unsigned)(*f - '0') < 10)
        m = m * 10 + (uint64_t)(*f++ - '0');
      frac = (int)(f - dot);
      digits += frac;
    }
    if (digits == 0 || digits > 15 || n == cap || (f < le && *f != ','))
      return -1;
    v = frac ? (double)m / pow10_exact[frac] : (double)m;
    out[n++] = (float)(neg ? -v : v);
    if (f == le)
      return (long)n;
    f++; /* the comma */
  }
}

int llio_csv(struct llio_parser *p, const char *data, size_t len,
             llio_row_cb cb, void *arg)
{
  const char *s = data, *end = data + len;
  size_t line = 0;
  int rc;

  while (s < end) {
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    const char *le = nl ? nl : end, *f = s, *t;
    size_t nf = 0, nfeat;
    float y = 0;

    line++;
    s = nl ? nl + 1 : end;
    if (le > f && le[-1] == '\r')
      le--;
    if (p->dim > 0) {
      size_t want = p->dim + (p->labelled ? 1 : 0);
      long got;

      rc = row_reserve(p, want + 1);
      if (rc)
        return rc;
      got = csv_line_fast(f, le, p->priv_row, want);
      if (got == (long)want) {
        p->rows++;
        rc = p->labelled ? cb(arg, p->priv_row + 1, p->priv_row[0])
                         : cb(arg, p->priv_row, 0);
        if (rc)
          return rc;
        continue;
      }
    }
    for (t = f; t < le && (*t == ' ' || *t == '\t'); t++)
      ;
    if (t == le)
      continue; /* blank */
    for (;;) {
      const char *fe, *comma;
      float v;

      if (csv_field(f, le, &v, &fe) != 0)
        return fail(p, "line %zu: field %zu is not a number ('%.*s')", line,
                    nf + 1, (int)(fe - f > 32 ? 32 : fe - f), f);
      comma = fe < le ? fe : NULL;
      if (nf == 0 && p->labelled) {
        y = v;
      } else {
        size_t j = nf - (p->labelled ? 1 : 0);

        if (p->dim && j >= p->dim)
          return fail(p, "line %zu has more than %zu features", line, p->dim);
        rc = row_reserve(p, j + 1);
        if (rc == SR_ETOOBIG)
          return fail(p, "line %zu has more than %zu features", line,
                      LLIO_MAX_DIM);
        if (rc)
          return rc;
        p->priv_row[j] = v;
      }
      nf++;
      if (comma == NULL)
        break;
      f = comma + 1;
    }
    nfeat = nf - (p->labelled ? 1 : 0);
    rc = check_dim(p, nfeat, "line", line);
    if (rc)
      return rc;
    p->rows++;
    rc = cb(arg, p->priv_row, y);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- application/x-recordio-protobuf ---------------------------------- */

static double tensor_first(const struct recordio_tensor *t)
{
  switch (t->dtype) {
  case RECORDIO_FLOAT32:
    return t->f32[0];
  case RECORDIO_FLOAT64:
    return t->f64[0];
  case RECORDIO_INT32:
    return t->i32[0];
  default:
    return NAN;
  }
}

/* One decoded record to a row. */
static int record_row(struct llio_parser *p, const struct recordio_example *ex,
                      size_t index, float *y)
{
  const struct recordio_tensor *t = &ex->features;
  size_t d;
  int rc;

  if (t->dtype != RECORDIO_FLOAT32)
    return fail(p,
                "record %zu: the features are not a Float32 tensor (only "
                "Float32 tensors are supported)",
                index);
  if (t->nkeys > 0 && t->nshape == 0)
    return fail(p, "record %zu: a sparse tensor without a shape", index);
  d = t->nkeys > 0 ? (size_t)t->shape[0] : t->nvalues;
  rc = check_dim(p, d, "record", index);
  if (rc)
    return rc;
  rc = row_reserve(p, p->dim);
  if (rc)
    return rc;
  if (recordio_tensor_dense(t, p->priv_row, p->dim) != 0)
    return fail(p,
                "record %zu: the sparse tensor's keys do not fit its shape "
                "of %zu",
                index, p->dim);
  /* Float32 bytes can spell NaN or infinity, which CSV and JSON refuse
   * as text; let them through here and they poison training's weights
   * and hosting's scores (found by tests/fuzz/fuzz-payload.c). */
  for (d = 0; d < p->dim; d++)
    if (!isfinite(p->priv_row[d]))
      return fail(p, "record %zu: feature %zu is not a finite number", index,
                  d + 1);
  *y = 0;
  if (p->labelled) {
    double v;

    if (ex->label.dtype == RECORDIO_NONE || ex->label.nvalues == 0)
      return fail(p, "record %zu has no label (label[\"values\"])", index);
    v = tensor_first(&ex->label);
    if (!isfinite(v) || !isfinite((float)v))
      return fail(p, "record %zu: the label is not a finite number", index);
    *y = (float)v;
  }
  return 0;
}

int llio_recordio(struct llio_parser *p, const void *data, size_t len,
                  llio_row_cb cb, void *arg)
{
  struct recordio_reader r;
  struct recordio_example ex;
  const void *rec;
  size_t rlen, index = 0;
  float y = 0;
  int rc;

  recordio_reader_init_mem(&r, data, len, 0);
  for (;;) {
    rc = recordio_next(&r, &rec, &rlen);
    if (rc == 0)
      break;
    if (rc < 0) {
      if (rc == SR_EPARSE || rc == SR_ETOOBIG)
        rc = fail(p,
                  "not RecordIO-protobuf data: bad framing after %zu "
                  "record(s) (byte %llu)",
                  index, (unsigned long long)r.record_offset);
      break;
    }
    index++;
    rc = recordio_example_decode(rec, rlen, &ex);
    if (rc == SR_EPARSE) {
      rc = fail(p,
                "record %zu is not an aialgs.data.Record with features "
                "under \"values\"",
                index);
      break;
    }
    if (rc)
      break;
    rc = record_row(p, &ex, index, &y);
    recordio_example_free(&ex);
    if (rc)
      break;
    p->rows++;
    rc = cb(arg, p->priv_row, y);
    if (rc)
      break;
  }
  recordio_reader_free(&r);
  return rc;
}

/* ---- application/json ------------------------------------------------- */

/* One JSON number array into the row, starting from zero. */
static int json_dense(struct llio_parser *p, const json_t *a, size_t index)
{
  size_t i, n = json_array_size(a);
  json_t *v;
  int rc;

  rc = check_dim(p, n, "instance", index);
  if (rc)
    return rc;
  rc = row_reserve(p, p->dim);
  if (rc)
    return rc;
  json_array_foreach(a, i, v)
  {
    double d = json_number_value(v);

    if (!json_is_number(v) || !isfinite(d) || !isfinite((float)d))
      return fail(p, "instance %zu: feature %zu is not a finite number", index,
                  i + 1);
    p->priv_row[i] = (float)d;
  }
  return 0;
}

static int json_sparse(struct llio_parser *p, const json_t *f, size_t index)
{
  const json_t *keys = json_object_get(f, "keys");
  const json_t *values = json_object_get(f, "values");
  const json_t *shape = json_object_get(f, "shape");
  json_int_t d = json_integer_value(json_array_get(shape, 0));
  size_t i;
  json_t *v;
  int rc;

  if (!json_is_array(values))
    return fail(p, "instance %zu: \"features\" has no \"values\" array", index);
  if (!json_is_array(keys)) /* dense, in the sparse wrapper */
    return json_dense(p, values, index);
  if (d <= 0 || json_array_size(keys) != json_array_size(values))
    return fail(p,
                "instance %zu: sparse features need \"shape\" [dim] and as "
                "many \"keys\" as \"values\"",
                index);
  rc = check_dim(p, (size_t)d, "instance", index);
  if (rc)
    return rc;
  rc = row_reserve(p, p->dim);
  if (rc)
    return rc;
  memset(p->priv_row, 0, p->dim * sizeof(float));
  json_array_foreach(values, i, v)
  {
    json_int_t k = json_integer_value(json_array_get(keys, i));
    double x = json_number_value(v);

    if (!json_is_integer(json_array_get(keys, i)) || k < 0 ||
        (size_t)k >= p->dim)
      return fail(p, "instance %zu: key %zu is not an index below %zu", index,
                  i + 1, p->dim);
    if (!json_is_number(v) || !isfinite(x) || !isfinite((float)x))
      return fail(p, "instance %zu: value %zu is not a finite number", index,
                  i + 1);
    p->priv_row[k] = (float)x;
  }
  return 0;
}

static int json_instance(struct llio_parser *p, const json_t *row, size_t index)
{
  const json_t *f = json_object_get(row, "features");
  const json_t *data = json_object_get(row, "data");

  if (json_is_array(row))
    return json_dense(p, row, index);
  if (json_is_array(f))
    return json_dense(p, f, index);
  if (json_is_object(data) && json_is_object(json_object_get(data, "features")))
    return json_sparse(p, json_object_get(data, "features"), index);
  return fail(p,
              "instance %zu has no \"features\" (expected {\"features\": "
              "[numbers]})",
              index);
}

int llio_json(struct llio_parser *p, const char *data, size_t len,
              llio_row_cb cb, void *arg)
{
  json_error_t jerr;
  json_t *doc, *list, *row;
  size_t i;
  int rc = 0;

  doc = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
  if (doc == NULL)
    return fail(p, "not valid JSON: %s (line %d, column %d)", jerr.text,
                jerr.line, jerr.column);
  list = json_object_get(doc, "instances");
  if (json_is_array(list)) {
    json_array_foreach(list, i, row)
    {
      rc = json_instance(p, row, i + 1);
      if (rc == 0) {
        p->rows++;
        rc = cb(arg, p->priv_row, 0);
      }
      if (rc)
        break;
    }
  } else if (json_is_object(doc) && list == NULL) {
    rc = json_instance(p, doc, 1);
    if (rc == 0) {
      p->rows++;
      rc = cb(arg, p->priv_row, 0);
    }
  } else {
    rc = fail(p, "expected {\"instances\": [{\"features\": [numbers]}, ...]}");
  }
  json_decref(doc);
  return rc;
}

enum llio_format llio_format_of(const char *mime)
{
  static const struct {
    const char *name;
    enum llio_format format;
  } types[] = {{"text/csv", LLIO_CSV},
               {"application/x-recordio-protobuf", LLIO_RECORDIO},
               {"application/json", LLIO_JSON},
               {"application/jsonlines", LLIO_JSONLINES}};
  size_t len, i;

  if (mime == NULL)
    return LLIO_UNKNOWN;
  while (*mime == ' ' || *mime == '\t')
    mime++;
  len = strcspn(mime, ";");
  while (len > 0 && (mime[len - 1] == ' ' || mime[len - 1] == '\t'))
    len--;
  for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
    if (strlen(types[i].name) == len &&
        strncasecmp(types[i].name, mime, len) == 0)
      return types[i].format;
  return LLIO_UNKNOWN;
}
