/* RecordIO-protobuf: SageMaker's "application/x-recordio-protobuf", as the
 * first-party algorithms read it and the Python SDK writes it.
 *
 * Framing (aws-spec.md §9, after dmlc-core's recordio): each record is the
 * magic 0xCED7230A and a length word, both little-endian uint32, then the
 * payload and zero padding to a multiple of 4 bytes. The length word's low
 * 29 bits are the payload length; its top 3 bits are a continuation flag:
 * 0 a whole record, 1/2/3 the first/middle/last part of a record that dmlc
 * split where the magic occurred (4-byte aligned) in its payload. The
 * reader masks and reassembles, putting the magic back between parts; the
 * writer writes flag 0 as the SDK does, or splits as dmlc does on request.
 *
 * Payload: one aialgs.data.Record (proto/record.proto) packed by protobuf-c.
 * Features are the tensor under the key "values" of the features map, the
 * label the one under "values" of the label map.
 *
 * The same code serves the runner (gdelt.prepare writes) and the local
 * engine (training and hosting read). */
#ifndef SAGERUN_RECORDIO_H
#define SAGERUN_RECORDIO_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define RECORDIO_MAGIC 0xCED7230Au
/* Payload lengths must fit the 29-bit length field. */
#define RECORDIO_MAX_LEN ((1u << 29) - 1)

/* ---- Framing -------------------------------------------------------- */

/* recordio_frame flags. */
#define RECORDIO_SPLIT_MAGIC 1 /* split at aligned magic words, as dmlc */

/* Appends one framed record holding data (len bytes) to out. Returns 0,
 * SR_ETOOBIG when len exceeds RECORDIO_MAX_LEN, or buf's error (out is
 * then freed, as buf_add does). */
int recordio_frame(struct buf *out, const void *data, size_t len, int flags);

/* Reads framed records from memory, or from a file descriptor through a
 * buffer. Records are returned one at a time; their bytes stay valid until
 * the next call. */
struct recordio_reader {
  const unsigned char *priv_p, *priv_end; /* unread bytes */
  int priv_fd;                            /* -1: memory only */
  int priv_eof;                           /* fd mode: read returned 0 */
  int priv_err;                           /* sticky error */
  struct buf priv_in;                     /* fd mode: read-ahead */
  struct buf priv_record;                 /* reassembled split records */
  uint64_t priv_consumed;                 /* bytes before priv_p */
  size_t priv_max_len;                    /* cap on one reassembled record */
  uint64_t record_offset; /* stream offset of the last record returned */
};

/* Readers over len bytes at data (borrowed, must outlive the reader) or
 * over fd (borrowed, not closed). max_len caps a record, split parts
 * together (0: RECORDIO_MAX_LEN). */
void recordio_reader_init_mem(struct recordio_reader *r, const void *data,
                              size_t len, size_t max_len);
void recordio_reader_init_fd(struct recordio_reader *r, int fd, size_t max_len);
void recordio_reader_free(struct recordio_reader *r);

/* The next record: 1 with *data and *len set, 0 at a clean end of input,
 * or a negative code: SR_EPARSE for a wrong magic, a truncated record, a
 * continuation flag out of order or trailing bytes shorter than a header;
 * SR_ETOOBIG above max_len; SR_EIO on a read error; SR_ENOMEM. After an
 * error the reader returns the same error again. */
int recordio_next(struct recordio_reader *r, const void **data, size_t *len);

/* ---- Records -------------------------------------------------------- */

enum recordio_dtype {
  RECORDIO_NONE = 0, /* absent, or a Bytes value */
  RECORDIO_FLOAT32,
  RECORDIO_FLOAT64,
  RECORDIO_INT32
};

/* One tensor of a decoded record; the arrays point into the decoded
 * message (valid until recordio_example_free). keys empty: dense. */
struct recordio_tensor {
  enum recordio_dtype dtype;
  size_t nvalues;
  const float *f32;
  const double *f64;
  const int32_t *i32;
  size_t nkeys;
  const uint64_t *keys;
  size_t nshape;
  const uint64_t *shape;
};

struct recordio_example {
  struct recordio_tensor features; /* features["values"] */
  struct recordio_tensor label;    /* label["values"]; NONE when absent */
  void *priv_msg;                  /* the unpacked Record */
};

/* Appends one framed Record with dense Float32 features (nfeatures
 * values) and, when label is not NULL, a dense Float32 label of nlabel
 * values: byte for byte what the SDK's write_numpy_to_dense_tensor writes
 * for float32 arrays. flags as recordio_frame. Returns 0 or a negative
 * code (out freed on error). */
int recordio_write_dense(struct buf *out, const float *features,
                         size_t nfeatures, const float *label, size_t nlabel,
                         int flags);

/* The same for a sparse row: values[i] at column keys[i] (strictly
 * increasing, below dim) and shape [dim], as write_spmatrix_to_sparse_tensor
 * writes. */
int recordio_write_sparse(struct buf *out, const float *values,
                          const uint64_t *keys, size_t nnz, uint64_t dim,
                          const float *label, size_t nlabel, int flags);

/* Decodes one record payload. Returns 0, or SR_EPARSE when it is not a
 * Record (bad wire format) or its features lack a "values" tensor, or
 * SR_ENOMEM. On error ex is left freed. */
int recordio_example_decode(const void *data, size_t len,
                            struct recordio_example *ex);
void recordio_example_free(struct recordio_example *ex);

/* Writes tensor t as dim dense floats into out: dense values in order
 * (there must be exactly dim of them), or sparse values at their keys
 * with zeros elsewhere (every key below dim). float64 and int32 values
 * are converted. Returns 0, or SR_EINVAL when the sizes or keys do not
 * fit dim, or the tensor is not numeric. */
int recordio_tensor_dense(const struct recordio_tensor *t, float *out,
                          size_t dim);

#endif
