/* Rows for linear-learner from SageMaker's data formats: text/csv,
 * application/x-recordio-protobuf and (for inference) application/json.
 * Training workers read channel files with it, hosting reads request
 * bodies, so both accept exactly the same bytes.
 *
 * A parser turns bytes into rows of dim floats (and a label, when the
 * data has one) and hands each to a callback. dim is learned from the
 * first row when it starts at 0, and every later row must have it.
 *
 * Formats (aws-spec.md section 8 and 9):
 * - text/csv: one row per line, comma-separated numbers, the label first
 *   when the rows are labelled; no header; blank lines are skipped; "\r"
 *   before "\n" is ignored; spaces around a number are allowed.
 * - application/x-recordio-protobuf: RecordIO-framed aialgs.data.Record
 *   messages (runner/recordio.h; split records are reassembled); the
 *   features are the Float32 tensor under "values", dense or sparse
 *   (keys plus shape), the label the first value of the label map's
 *   "values" tensor (any numeric type).
 * - application/json (inference): {"instances": [ROW, ...]} or one ROW,
 *   where ROW is {"features": [numbers]} or, sparse,
 *   {"data": {"features": {"keys": [...], "shape": [dim],
 *   "values": [...]}}}.
 *
 * Numbers must be finite. Messages name the line or record and say what
 * was expected, in lowercase without a final period; callers prefix
 * them ("ClientError: ", a ModelError's text). */
#ifndef SAGERUN_LOCAL_LLIO_H
#define SAGERUN_LOCAL_LLIO_H

#include <stddef.h>

#include "../runner/buf.h"

/* Gets each row: x holds dim floats, y the label (0 when unlabelled).
 * A non-zero return stops the parser, which returns it. */
typedef int (*llio_row_cb)(void *arg, const float *x, float y);

struct llio_parser {
  size_t dim;         /* 0: learn from the first row */
  int labelled;       /* rows carry a label (training) */
  const char *source; /* name for messages ("train/part-1.csv") or NULL */
  size_t rows;        /* rows handed over so far */
  struct buf *err;    /* gets the message of SR_EINVAL */
  float *priv_row;    /* dim floats */
  size_t priv_alloc;
};

/* A parser for rows of dim features (0: learned), labelled or not,
 * writing messages to err. */
void llio_init(struct llio_parser *p, size_t dim, int labelled,
               struct buf *err);
void llio_free(struct llio_parser *p);

/* Parse len bytes of the format. Return 0, SR_EINVAL (message in err)
 * for data the format does not allow, SR_ENOMEM, or the callback's
 * non-zero return. */
int llio_csv(struct llio_parser *p, const char *data, size_t len,
             llio_row_cb cb, void *arg);
int llio_recordio(struct llio_parser *p, const void *data, size_t len,
                  llio_row_cb cb, void *arg);
int llio_json(struct llio_parser *p, const char *data, size_t len,
              llio_row_cb cb, void *arg);

/* Which parser reads a MIME type (parameters such as "; charset=utf-8"
 * and "; label_size=1" are ignored, case is not significant). */
enum llio_format {
  LLIO_UNKNOWN = 0,
  LLIO_CSV,
  LLIO_RECORDIO,
  LLIO_JSON,
  LLIO_JSONLINES
};
enum llio_format llio_format_of(const char *mime);

/* Parses one decimal number from s to end (surrounding spaces and tabs
 * allowed), as strtod would, into *out rounded to float. Returns 0, or
 * -1 when it is not a finite number. A fast path handles the usual
 * forms ("-12.5e3") without strtod. */
int llio_parse_float(const char *s, const char *end, float *out);

#endif
