/* RecordIO framing and aialgs.data.Record encoding (see recordio.h). */
#include "recordio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "record.pb-c.h"

#define READ_CHUNK (64u << 10)
#define PACK_STACK 4096

static void put_le32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* One part: header, bytes, zero padding to 4. */
static int frame_part(struct buf *out, uint32_t cflag, const void *data,
                      size_t len)
{
  static const unsigned char zeros[4];
  unsigned char head[8];
  size_t pad = ((len + 3) & ~(size_t)3) - len;
  int rc;

  put_le32(head, RECORDIO_MAGIC);
  put_le32(head + 4, cflag << 29 | (uint32_t)len);
  rc = buf_add(out, head, sizeof(head));
  if (rc == 0)
    rc = buf_add(out, data, len);
  if (rc == 0)
    rc = buf_add(out, zeros, pad);
  return rc;
}

int recordio_frame(struct buf *out, const void *data, size_t len, int flags)
{
  const unsigned char *p = data;
  unsigned char magic[4];
  size_t i, start = 0, aligned = len & ~(size_t)3;
  int rc;

  if (len > RECORDIO_MAX_LEN) {
    buf_free(out);
    return SR_ETOOBIG;
  }
  if (!(flags & RECORDIO_SPLIT_MAGIC))
    return frame_part(out, 0, data, len);
  /* dmlc's writer: the magic at an aligned offset ends a part and is
   * dropped; the reader puts it back. Parts stay aligned, so only the
   * last one is padded. */
  put_le32(magic, RECORDIO_MAGIC);
  for (i = 0; i < aligned; i += 4) {
    if (memcmp(p + i, magic, 4) != 0)
      continue;
    rc = frame_part(out, start == 0 ? 1 : 2, p + start, i - start);
    if (rc)
      return rc;
    start = i + 4;
  }
  return frame_part(out, start ? 3 : 0, p + start, len - start);
}

/* ---- Reader -------------------------------------------------------------- */

static void reader_init(struct recordio_reader *r, size_t max_len)
{
  memset(r, 0, sizeof(*r));
  r->priv_fd = -1;
  r->priv_max_len =
      max_len == 0 || max_len > RECORDIO_MAX_LEN ? RECORDIO_MAX_LEN : max_len;
  /* A part may be a whole record plus its header. */
  buf_init(&r->priv_in, (size_t)RECORDIO_MAX_LEN + READ_CHUNK + 16);
  buf_init(&r->priv_record, r->priv_max_len);
}

void recordio_reader_init_mem(struct recordio_reader *r, const void *data,
                              size_t len, size_t max_len)
{
  reader_init(r, max_len);
  r->priv_p = data;
  r->priv_end = r->priv_p + len;
}

void recordio_reader_init_fd(struct recordio_reader *r, int fd, size_t max_len)
{
  reader_init(r, max_len);
  r->priv_fd = fd;
  r->priv_p = (const unsigned char *)buf_str(&r->priv_in);
  r->priv_end = r->priv_p;
}

void recordio_reader_free(struct recordio_reader *r)
{
  buf_free(&r->priv_in);
  buf_free(&r->priv_record);
}

/* Makes at least need unread bytes available, unless the input ends
 * first (then fewer are). The unread tail moves to a fresh buffer, so
 * pointers into the old one die here. */
static int reader_fill(struct recordio_reader *r, size_t need)
{
  unsigned char chunk[READ_CHUNK];
  struct buf next;
  size_t have = (size_t)(r->priv_end - r->priv_p);
  ssize_t n;
  int rc;

  if (have >= need || r->priv_fd < 0 || r->priv_eof)
    return 0;
  buf_init(&next, (size_t)RECORDIO_MAX_LEN + READ_CHUNK + 16);
  rc = buf_add(&next, r->priv_p, have);
  while (rc == 0 && have < need) {
    n = read(r->priv_fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = SR_EIO;
      break;
    }
    if (n == 0) {
      r->priv_eof = 1;
      break;
    }
    rc = buf_add(&next, chunk, (size_t)n);
    have += (size_t)n;
  }
  buf_free(&r->priv_in);
  r->priv_in = next;
  r->priv_p = (const unsigned char *)buf_str(&r->priv_in);
  r->priv_end = r->priv_p + buf_len(&r->priv_in);
  if (rc)
    buf_free(&r->priv_in);
  return rc;
}

static void reader_skip(struct recordio_reader *r, size_t n)
{
  r->priv_p += n;
  r->priv_consumed += n;
}

static int reader_fail(struct recordio_reader *r, int rc)
{
  r->priv_err = rc;
  r->priv_p = r->priv_end;
  return rc;
}

int recordio_next(struct recordio_reader *r, const void **data, size_t *len)
{
  const unsigned char *p;
  uint32_t lrec, cflag, plen;
  size_t padded, have;
  int parts = 0, rc;

  if (r->priv_err)
    return r->priv_err;
  buf_reset(&r->priv_record);
  for (;;) {
    rc = reader_fill(r, 8);
    if (rc)
      return reader_fail(r, rc);
    have = (size_t)(r->priv_end - r->priv_p);
    if (have == 0 && parts == 0)
      return 0;
    if (have < 8)
      return reader_fail(r, SR_EPARSE);
    p = r->priv_p;
    if (get_le32(p) != RECORDIO_MAGIC)
      return reader_fail(r, SR_EPARSE);
    lrec = get_le32(p + 4);
    cflag = lrec >> 29;
    plen = lrec & RECORDIO_MAX_LEN;
    /* 0 whole; 1 first; 2 middle; 3 last. */
    if (cflag > 3 || (parts == 0 && (cflag == 2 || cflag == 3)) ||
        (parts > 0 && (cflag == 0 || cflag == 1)))
      return reader_fail(r, SR_EPARSE);
    if (parts == 0)
      r->record_offset = r->priv_consumed;
    padded = ((size_t)plen + 3) & ~(size_t)3;
    rc = reader_fill(r, 8 + padded);
    if (rc)
      return reader_fail(r, rc);
    p = r->priv_p;
    have = (size_t)(r->priv_end - p);
    /* The final record's padding may be missing: the SDK's own reader
     * tolerates that too. */
    if (have < 8 + (size_t)plen)
      return reader_fail(r, SR_EPARSE);
    if (have < 8 + padded)
      padded = have - 8;
    if (cflag == 0) {
      if (plen > r->priv_max_len)
        return reader_fail(r, SR_ETOOBIG);
      *data = p + 8;
      *len = plen;
      reader_skip(r, 8 + padded);
      return 1;
    }
    if (parts > 0) {
      unsigned char magic[4];
      put_le32(magic, RECORDIO_MAGIC);
      rc = buf_add(&r->priv_record, magic, 4);
    }
    if (rc == 0)
      rc = buf_add(&r->priv_record, p + 8, plen);
    if (rc)
      return reader_fail(r, rc);
    reader_skip(r, 8 + padded);
    parts++;
    if (cflag == 3) {
      *data = buf_str(&r->priv_record);
      *len = buf_len(&r->priv_record);
      return 1;
    }
  }
}

/* ---- Records ------------------------------------------------------------- */

/* Packs rec and frames it. Small records (every GDELT row) pack on the
 * stack; larger ones through a heap buffer. */
static int write_record(struct buf *out, const Aialgs__Data__Record *rec,
                        int flags)
{
  unsigned char stack[PACK_STACK], *p = stack;
  size_t size = aialgs__data__record__get_packed_size(rec);
  int rc;

  if (size > RECORDIO_MAX_LEN) {
    buf_free(out);
    return SR_ETOOBIG;
  }
  if (size > sizeof(stack)) {
    p = malloc(size);
    if (p == NULL) {
      buf_free(out);
      return SR_ENOMEM;
    }
  }
  aialgs__data__record__pack(rec, p);
  rc = recordio_frame(out, p, size, flags);
  if (p != stack)
    free(p);
  return rc;
}

/* The Record's messages, built on the caller's stack around borrowed
 * arrays: nothing is copied before packing. */
struct record_parts {
  Aialgs__Data__Float32Tensor ft, lt;
  Aialgs__Data__Value fv, lv;
  Aialgs__Data__Record__FeaturesEntry fe, *fes[1];
  Aialgs__Data__Record__LabelEntry le, *les[1];
  Aialgs__Data__Record rec;
};

static void record_parts_init(struct record_parts *s, const float *features,
                              size_t nfeatures, const float *label,
                              size_t nlabel)
{
  static char values_key[] = "values";
  static const Aialgs__Data__Float32Tensor tinit =
      AIALGS__DATA__FLOAT32_TENSOR__INIT;
  static const Aialgs__Data__Value vinit = AIALGS__DATA__VALUE__INIT;
  static const Aialgs__Data__Record__FeaturesEntry finit =
      AIALGS__DATA__RECORD__FEATURES_ENTRY__INIT;
  static const Aialgs__Data__Record__LabelEntry linit =
      AIALGS__DATA__RECORD__LABEL_ENTRY__INIT;
  static const Aialgs__Data__Record rinit = AIALGS__DATA__RECORD__INIT;

  s->ft = tinit;
  s->ft.n_values = nfeatures;
  /* protobuf-c's structs are not const-correct; packing only reads. */
  s->ft.values = (float *)features;
  s->fv = vinit;
  s->fv.value_case = AIALGS__DATA__VALUE__VALUE_FLOAT32_TENSOR;
  s->fv.float32_tensor = &s->ft;
  s->fe = finit;
  s->fe.key = values_key;
  s->fe.value = &s->fv;
  s->fes[0] = &s->fe;
  s->rec = rinit;
  s->rec.n_features = 1;
  s->rec.features = s->fes;
  if (label == NULL)
    return;
  s->lt = tinit;
  s->lt.n_values = nlabel;
  s->lt.values = (float *)label;
  s->lv = vinit;
  s->lv.value_case = AIALGS__DATA__VALUE__VALUE_FLOAT32_TENSOR;
  s->lv.float32_tensor = &s->lt;
  s->le = linit;
  s->le.key = values_key;
  s->le.value = &s->lv;
  s->les[0] = &s->le;
  s->rec.n_label = 1;
  s->rec.label = s->les;
}

int recordio_write_dense(struct buf *out, const float *features,
                         size_t nfeatures, const float *label, size_t nlabel,
                         int flags)
{
  struct record_parts s;

  record_parts_init(&s, features, nfeatures, label, nlabel);
  return write_record(out, &s.rec, flags);
}

int recordio_write_sparse(struct buf *out, const float *values,
                          const uint64_t *keys, size_t nnz, uint64_t dim,
                          const float *label, size_t nlabel, int flags)
{
  struct record_parts s;
  uint64_t shape[1];

  shape[0] = dim;
  record_parts_init(&s, values, nnz, label, nlabel);
  s.ft.n_keys = nnz;
  s.ft.keys = (uint64_t *)keys;
  s.ft.n_shape = 1;
  s.ft.shape = shape;
  return write_record(out, &s.rec, flags);
}

static void tensor_from_value(const Aialgs__Data__Value *v,
                              struct recordio_tensor *t)
{
  memset(t, 0, sizeof(*t));
  if (v == NULL)
    return;
  switch (v->value_case) {
  case AIALGS__DATA__VALUE__VALUE_FLOAT32_TENSOR:
    t->dtype = RECORDIO_FLOAT32;
    t->nvalues = v->float32_tensor->n_values;
    t->f32 = v->float32_tensor->values;
    t->nkeys = v->float32_tensor->n_keys;
    t->keys = v->float32_tensor->keys;
    t->nshape = v->float32_tensor->n_shape;
    t->shape = v->float32_tensor->shape;
    break;
  case AIALGS__DATA__VALUE__VALUE_FLOAT64_TENSOR:
    t->dtype = RECORDIO_FLOAT64;
    t->nvalues = v->float64_tensor->n_values;
    t->f64 = v->float64_tensor->values;
    t->nkeys = v->float64_tensor->n_keys;
    t->keys = v->float64_tensor->keys;
    t->nshape = v->float64_tensor->n_shape;
    t->shape = v->float64_tensor->shape;
    break;
  case AIALGS__DATA__VALUE__VALUE_INT32_TENSOR:
    t->dtype = RECORDIO_INT32;
    t->nvalues = v->int32_tensor->n_values;
    t->i32 = v->int32_tensor->values;
    t->nkeys = v->int32_tensor->n_keys;
    t->keys = v->int32_tensor->keys;
    t->nshape = v->int32_tensor->n_shape;
    t->shape = v->int32_tensor->shape;
    break;
  default:
    break;
  }
}

int recordio_example_decode(const void *data, size_t len,
                            struct recordio_example *ex)
{
  Aialgs__Data__Record *rec;
  const Aialgs__Data__Value *fv = NULL, *lv = NULL;
  size_t i;

  memset(ex, 0, sizeof(*ex));
  rec = aialgs__data__record__unpack(NULL, len, data);
  if (rec == NULL)
    return SR_EPARSE;
  /* A map may repeat a key on the wire; the last one wins, as in every
   * protobuf implementation. */
  for (i = 0; i < rec->n_features; i++)
    if (rec->features[i]->key && strcmp(rec->features[i]->key, "values") == 0)
      fv = rec->features[i]->value;
  for (i = 0; i < rec->n_label; i++)
    if (rec->label[i]->key && strcmp(rec->label[i]->key, "values") == 0)
      lv = rec->label[i]->value;
  if (fv == NULL) {
    aialgs__data__record__free_unpacked(rec, NULL);
    return SR_EPARSE;
  }
  ex->priv_msg = rec;
  tensor_from_value(fv, &ex->features);
  tensor_from_value(lv, &ex->label);
  return 0;
}

void recordio_example_free(struct recordio_example *ex)
{
  if (ex->priv_msg)
    aialgs__data__record__free_unpacked(ex->priv_msg, NULL);
  memset(ex, 0, sizeof(*ex));
}

static float tensor_value(const struct recordio_tensor *t, size_t i)
{
  switch (t->dtype) {
  case RECORDIO_FLOAT32:
    return t->f32[i];
  case RECORDIO_FLOAT64:
    return (float)t->f64[i];
  case RECORDIO_INT32:
    return (float)t->i32[i];
  default:
    return 0;
  }
}

int recordio_tensor_dense(const struct recordio_tensor *t, float *out,
                          size_t dim)
{
  size_t i;

  if (t->dtype == RECORDIO_NONE)
    return SR_EINVAL;
  if (t->nkeys == 0) {
    if (t->nvalues != dim)
      return SR_EINVAL;
    for (i = 0; i < dim; i++)
      out[i] = tensor_value(t, i);
    return 0;
  }
  if (t->nkeys != t->nvalues)
    return SR_EINVAL;
  for (i = 0; i < t->nkeys; i++)
    if (t->keys[i] >= dim)
      return SR_EINVAL;
  memset(out, 0, dim * sizeof(*out));
  for (i = 0; i < t->nkeys; i++)
    out[t->keys[i]] = tensor_value(t, i);
  return 0;
}
