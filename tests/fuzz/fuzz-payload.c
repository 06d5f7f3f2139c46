/* libFuzzer target: invocation payloads as hosting reads them
 * (local/llio.h): text/csv, application/json and RecordIO-protobuf.
 *
 * Input: one flags byte (bits 0-1 the format, 3 meaning "the first line
 * is a Content-Type, as a client sent it"; bit 2 labelled rows; bits 3-7
 * the model's feature count, 0 to learn it), then the body. Every row a
 * parser hands over must have the same dim of finite floats, the count
 * must match p.rows, and a refusal must say why. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../local/llio.h"
#include "../../runner/buf.h"
#include "../../runner/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

struct seen {
  const struct llio_parser *p;
  size_t rows;
  int stop_at; /* a callback's refusal must come back unchanged */
};

static int on_row(void *arg, const float *x, float y)
{
  struct seen *s = arg;
  size_t i;

  check(s->p->dim > 0 && s->p->dim <= ((size_t)1 << 24), "dim is known");
  for (i = 0; i < s->p->dim; i++)
    check(isfinite(x[i]), "features are finite");
  check(isfinite(y), "labels are finite");
  if (++s->rows == (size_t)s->stop_at)
    return 42;
  return 0;
}

static int parse(enum llio_format f, size_t dim, int labelled, const char *body,
                 size_t len, int stop_at)
{
  struct llio_parser p;
  struct seen s = {&p, 0, stop_at};
  struct buf err;
  int rc;

  buf_init(&err, 4096);
  llio_init(&p, dim, labelled, &err);
  switch (f) {
  case LLIO_CSV:
    rc = llio_csv(&p, body, len, on_row, &s);
    break;
  case LLIO_JSON:
    rc = llio_json(&p, body, len, on_row, &s);
    break;
  case LLIO_RECORDIO:
    rc = llio_recordio(&p, body, len, on_row, &s);
    break;
  default:
    rc = SR_EINVAL;
    buf_adds(&err, "unsupported content type");
  }
  check(rc == 0 || rc == SR_EINVAL || rc == SR_ENOMEM || rc == 42,
        "the parser returns its codes or the callback's");
  check(rc != 42 || s.rows == (size_t)stop_at, "a refusal stops it");
  check(rc != SR_EINVAL || buf_len(&err) > 0, "a refusal says why");
  check(s.rows == p.rows || (rc == 42 && s.rows == p.rows + 1) ||
            (rc == 42 && s.rows == p.rows),
        "rows are counted");
  llio_free(&p);
  buf_free(&err);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const enum llio_format formats[] = {LLIO_CSV, LLIO_JSON,
                                             LLIO_RECORDIO};
  const char *body;
  size_t len, dim;
  enum llio_format f;
  int labelled;
  float v;

  if (size == 0)
    return 0;
  labelled = (data[0] & 0x04) != 0;
  dim = data[0] >> 3;
  body = (const char *)data + 1;
  len = size - 1;
  if ((data[0] & 3) == 3) {
    const char *nl = memchr(body, '\n', len);
    char mime[256];
    size_t n = nl ? (size_t)(nl - body) : len;

    if (n >= sizeof(mime))
      n = sizeof(mime) - 1;
    memcpy(mime, body, n);
    mime[n] = '\0';
    f = llio_format_of(mime);
    if (nl) {
      len -= (size_t)(nl + 1 - body);
      body = nl + 1;
    } else {
      len = 0;
    }
  } else {
    f = formats[data[0] & 3];
  }
  /* A body that parses is read again with the callback refusing its
   * second row, as hosting does past its row cap. */
  if (parse(f, dim, labelled, body, len, 0) == 0)
    parse(f, dim, labelled, body, len, 2);
  llio_parse_float(body, body + len, &v);
  return 0;
}
