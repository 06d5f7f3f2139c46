/* RecordIO framing and Record encoding: bytes on the wire, split records
 * (dmlc's continuation flags), every malformed framing the reader must
 * refuse, memory and fd readers, dense and sparse tensors, and an
 * independent decoder (python3-protobuf) reading what we write. */
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/recordio.h"
#include "test.h"

#define PEER_PYTHON "/usr/bin/python3"

static void put32(unsigned char *p, uint32_t v)
{
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

/* Reads every record of data; returns how many, or the error. */
static int count_records(const void *data, size_t len, size_t max_len)
{
  struct recordio_reader r;
  const void *rec;
  size_t rlen;
  int n = 0, rc;

  recordio_reader_init_mem(&r, data, len, max_len);
  while ((rc = recordio_next(&r, &rec, &rlen)) == 1)
    n++;
  recordio_reader_free(&r);
  return rc < 0 ? rc : n;
}

TEST(recordio_frame_bytes)
{
  struct buf b;
  const unsigned char *p;
  struct recordio_reader r;
  const void *rec;
  size_t len;

  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, recordio_frame(&b, "abcde", 5, 0));
  ASSERT_EQ(0, recordio_frame(&b, "", 0, 0));
  ASSERT_EQ(0, recordio_frame(&b, "wxyz", 4, 0));
  p = (const unsigned char *)buf_str(&b);
  /* Magic 0xCED7230A little-endian, length 5, payload, 3 bytes of pad. */
  ASSERT_EQ(8 + 8 + 8 + 0 + 8 + 4, buf_len(&b));
  ASSERT(memcmp(p,
                "\x0a\x23\xd7\xce\x05\x00\x00\x00"
                "abcde\0\0\0",
                16) == 0);
  ASSERT(memcmp(p + 16, "\x0a\x23\xd7\xce\0\0\0\0", 8) == 0);
  ASSERT(memcmp(p + 24, "\x0a\x23\xd7\xce\x04\0\0\0wxyz", 12) == 0);

  recordio_reader_init_mem(&r, buf_str(&b), buf_len(&b), 0);
  ASSERT_EQ(1, recordio_next(&r, &rec, &len));
  ASSERT_EQ(5, len);
  ASSERT(memcmp(rec, "abcde", 5) == 0);
  ASSERT_EQ(0, r.record_offset);
  ASSERT_EQ(1, recordio_next(&r, &rec, &len));
  ASSERT_EQ(0, len);
  ASSERT_EQ(1, recordio_next(&r, &rec, &len));
  ASSERT_EQ(4, len);
  ASSERT_EQ(24, r.record_offset);
  ASSERT_EQ(0, recordio_next(&r, &rec, &len));
  ASSERT_EQ(0, recordio_next(&r, &rec, &len));
  recordio_reader_free(&r);
  buf_free(&b);
}

/* dmlc splits a payload at every aligned magic word, drops the word and
 * flags the parts 1 (first), 2 (middle), 3 (last); the reader joins them
 * with the magic put back. */
TEST(recordio_split_records_round_trip)
{
  static const size_t places[][3] = {
      {0, 999, 999}, {4, 999, 999}, {8, 16, 999}, {0, 4, 8}, {12, 999, 999}};
  size_t k;

  for (k = 0; k < sizeof(places) / sizeof(places[0]); k++) {
    unsigned char payload[22];
    struct buf b;
    struct recordio_reader r;
    const unsigned char *p;
    const void *rec;
    size_t len, i, off, parts = 0;

    for (i = 0; i < sizeof(payload); i++)
      payload[i] = (unsigned char)(0x40 + i);
    for (i = 0; i < 3; i++)
      if (places[k][i] + 4 <= sizeof(payload))
        put32(payload + places[k][i], RECORDIO_MAGIC);
    /* An unaligned magic is not a split point. */
    put32(payload + 17, RECORDIO_MAGIC);
    buf_init(&b, 1 << 20);
    ASSERT_EQ(
        0, recordio_frame(&b, payload, sizeof(payload), RECORDIO_SPLIT_MAGIC));
    /* Walk the parts: flags 1, 2..., 3 when split, 0 otherwise. */
    p = (const unsigned char *)buf_str(&b);
    for (off = 0; off < buf_len(&b); parts++) {
      uint32_t lrec = (uint32_t)p[off + 4] | (uint32_t)p[off + 5] << 8 |
                      (uint32_t)p[off + 6] << 16 | (uint32_t)p[off + 7] << 24;
      uint32_t cflag = lrec >> 29, plen = lrec & RECORDIO_MAX_LEN;
      ASSERT_EQ(RECORDIO_MAGIC, (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 |
                                    (uint32_t)p[off + 2] << 16 |
                                    (uint32_t)p[off + 3] << 24);
      if (places[k][0] == 999)
        ASSERT_EQ(0, cflag);
      else if (parts == 0)
        ASSERT_EQ(1, cflag);
      off += 8 + ((plen + 3) & ~3u);
      if (off >= buf_len(&b) && parts > 0)
        ASSERT_EQ(3, cflag);
    }
    recordio_reader_init_mem(&r, buf_str(&b), buf_len(&b), 0);
    ASSERT_EQ(1, recordio_next(&r, &rec, &len));
    ASSERT_EQ(sizeof(payload), len);
    ASSERT(memcmp(rec, payload, len) == 0);
    ASSERT_EQ(0, recordio_next(&r, &rec, &len));
    recordio_reader_free(&r);
    buf_free(&b);
  }
}

TEST(recordio_reader_refuses_bad_framing)
{
  unsigned char good[16], bad[64];
  struct buf b;

  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, recordio_frame(&b, "abcdefgh", 8, 0));
  memcpy(good, buf_str(&b), 16);
  buf_free(&b);

  /* Wrong magic. */
  memcpy(bad, good, 16);
  bad[0] ^= 1;
  ASSERT_EQ(SR_EPARSE, count_records(bad, 16, 0));
  /* A header cut short, and a payload cut short. */
  ASSERT_EQ(SR_EPARSE, count_records(good, 5, 0));
  ASSERT_EQ(SR_EPARSE, count_records(good, 12, 0));
  /* A good record then garbage shorter than a header. */
  memcpy(bad, good, 16);
  memcpy(bad + 16, "xyz", 3);
  ASSERT_EQ(SR_EPARSE, count_records(bad, 19, 0));
  /* Continuation flags out of order: a middle part first; an end part
   * first; a whole record inside a split one; flags 4-7. */
  memcpy(bad, good, 16);
  put32(bad + 4, 2u << 29 | 8);
  ASSERT_EQ(SR_EPARSE, count_records(bad, 16, 0));
  put32(bad + 4, 3u << 29 | 8);
  ASSERT_EQ(SR_EPARSE, count_records(bad, 16, 0));
  memcpy(bad, good, 16);
  memcpy(bad + 16, good, 16);
  put32(bad + 4, 1u << 29 | 8);
  ASSERT_EQ(SR_EPARSE, count_records(bad, 32, 0));
  put32(bad + 4, 5u << 29 | 8);
  ASSERT_EQ(SR_EPARSE, count_records(bad, 16, 0));
  /* A split record never finished. */
  put32(bad + 4, 1u << 29 | 8);
  ASSERT_EQ(SR_EPARSE, count_records(bad, 16, 0));
  /* Longer than the reader's cap. */
  ASSERT_EQ(SR_ETOOBIG, count_records(good, 16, 4));
  /* The last record's padding may be missing (the SDK reader allows it),
   * the payload may not. */
  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, recordio_frame(&b, "abcde", 5, 0));
  ASSERT_EQ(1, count_records(buf_str(&b), 13, 0));
  ASSERT_EQ(SR_EPARSE, count_records(buf_str(&b), 12, 0));
  buf_free(&b);
  /* Empty input: no records, no error. */
  ASSERT_EQ(0, count_records("", 0, 0));
}

TEST(recordio_dense_record_bytes)
{
  /* features {values: [1, 2]}, label {values: [3]}, as python-protobuf
   * serialises them (map entries: key, then value). */
  static const unsigned char want[] = {
      0x0a, 0x16, 0x0a, 0x06, 'v',  'a',  'l',  'u',  'e',  's',  0x12,
      0x0c, 0x12, 0x0a, 0x0a, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00,
      0x00, 0x40, 0x12, 0x12, 0x0a, 0x06, 'v',  'a',  'l',  'u',  'e',
      's',  0x12, 0x08, 0x12, 0x06, 0x0a, 0x04, 0x00, 0x00, 0x40, 0x40};
  float x[2] = {1, 2}, y = 3;
  struct buf b;
  struct recordio_reader r;
  struct recordio_example ex;
  const void *rec;
  size_t len;
  float dense[2];

  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, recordio_write_dense(&b, x, 2, &y, 1, 0));
  ASSERT_EQ(8 + 44, buf_len(&b));
  ASSERT(memcmp(buf_str(&b) + 8, want, sizeof(want)) == 0);
  recordio_reader_init_mem(&r, buf_str(&b), buf_len(&b), 0);
  ASSERT_EQ(1, recordio_next(&r, &rec, &len));
  ASSERT_EQ(0, recordio_example_decode(rec, len, &ex));
  ASSERT_EQ(RECORDIO_FLOAT32, ex.features.dtype);
  ASSERT_EQ(2, ex.features.nvalues);
  ASSERT_EQ(0, ex.features.nkeys);
  ASSERT_EQ(RECORDIO_FLOAT32, ex.label.dtype);
  ASSERT(ex.label.nvalues == 1 && ex.label.f32[0] == 3);
  ASSERT_EQ(0, recordio_tensor_dense(&ex.features, dense, 2));
  ASSERT(dense[0] == 1 && dense[1] == 2);
  /* Dense values must fill the dimension exactly. */
  ASSERT_EQ(SR_EINVAL, recordio_tensor_dense(&ex.features, dense, 1));
  recordio_example_free(&ex);
  recordio_reader_free(&r);

  /* No label: the label tensor is absent. */
  buf_reset(&b);
  ASSERT_EQ(0, recordio_write_dense(&b, x, 2, NULL, 0, 0));
  ASSERT_EQ(0, recordio_example_decode(buf_str(&b) + 8, buf_len(&b) - 8, &ex));
  ASSERT_EQ(RECORDIO_NONE, ex.label.dtype);
  recordio_example_free(&ex);
  buf_free(&b);
}

TEST(recordio_sparse_record)
{
  float v[3] = {5, -1.5f, 7}, y = 0.25f, dense[10];
  uint64_t keys[3] = {0, 4, 9};
  struct recordio_example ex;
  struct buf b;

  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, recordio_write_sparse(&b, v, keys, 3, 10, &y, 1, 0));
  ASSERT_EQ(0, recordio_example_decode(buf_str(&b) + 8, buf_len(&b) - 8, &ex));
  ASSERT_EQ(3, ex.features.nkeys);
  ASSERT_EQ(1, ex.features.nshape);
  ASSERT_EQ(10, ex.features.shape[0]);
  ASSERT_EQ(0, recordio_tensor_dense(&ex.features, dense, 10));
  ASSERT(dense[0] == 5 && dense[4] == -1.5f && dense[9] == 7);
  ASSERT(dense[1] == 0 && dense[8] == 0);
  /* A key beyond the dimension is refused. */
  ASSERT_EQ(SR_EINVAL, recordio_tensor_dense(&ex.features, dense, 9));
  recordio_example_free(&ex);
  buf_free(&b);
}

/* Records other writers produce: float64 and int32 tensors, a Bytes
 * value, extra fields, a repeated map key. Built by hand on the wire. */
TEST(recordio_decode_other_types)
{
  /* features{"values": Value{float64_tensor{values: [2.5]}}} */
  static const unsigned char f64[] = {
      0x0a, 0x19, 0x0a, 0x06, 'v',  'a',  'l',  'u', 'e', 's',
      0x12, 0x0f, 0x1a, 0x0d, 0x0a, 0x08, 0,    0,   0,   0,
      0,    0,    0x04, 0x40, 0x1a, 0x01, 0x02, /* shape [2]: read, not used for
                                                   dense */
      0x1a, 0x03, 'u',  'i',  'd'};
  /* features{"values": Value{int32_tensor{values: [7, -1]}}} */
  static const unsigned char i32[] = {
      0x0a, 0x1b, 0x0a, 0x06, 'v',  'a',  'l',  'u',  'e',  's',
      0x12, 0x11, 0x3a, 0x0f, 0x0a, 0x0b, 0x07, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x12, 0x00};
  /* Only a Bytes value: no numeric features. */
  static const unsigned char bytes[] = {0x0a, 0x0e, 0x0a, 0x06, 'v',  'a',
                                        'l',  'u',  'e',  's',  0x12, 0x04,
                                        0x4a, 0x02, 0x0a, 0x00};
  /* A feature under another key only. */
  static const unsigned char other_key[] = {0x0a, 0x0d, 0x0a, 0x01, 'x',
                                            0x12, 0x08, 0x12, 0x06, 0x0a,
                                            0x04, 0,    0,    0,    0};
  struct recordio_example ex;
  float out[2];

  ASSERT_EQ(0, recordio_example_decode(f64, sizeof(f64), &ex));
  ASSERT_EQ(RECORDIO_FLOAT64, ex.features.dtype);
  ASSERT_EQ(0, recordio_tensor_dense(&ex.features, out, 1));
  ASSERT(out[0] == 2.5f);
  recordio_example_free(&ex);

  ASSERT_EQ(0, recordio_example_decode(i32, sizeof(i32), &ex));
  ASSERT_EQ(RECORDIO_INT32, ex.features.dtype);
  ASSERT_EQ(0, recordio_tensor_dense(&ex.features, out, 2));
  ASSERT(out[0] == 7 && out[1] == -1);
  recordio_example_free(&ex);

  ASSERT_EQ(0, recordio_example_decode(bytes, sizeof(bytes), &ex));
  ASSERT_EQ(RECORDIO_NONE, ex.features.dtype);
  ASSERT_EQ(SR_EINVAL, recordio_tensor_dense(&ex.features, out, 1));
  recordio_example_free(&ex);

  ASSERT_EQ(SR_EPARSE,
            recordio_example_decode(other_key, sizeof(other_key), &ex));
  ASSERT_EQ(SR_EPARSE, recordio_example_decode("\xff\xff", 2, &ex));
}

/* The fd reader over a file with small, large (beyond its read-ahead)
 * and split records. */
TEST(recordio_fd_reader)
{
  char path[512];
  struct buf b;
  struct recordio_reader r;
  const void *rec;
  size_t len, i;
  float *big;
  int fd, n = 0;

  snprintf(path, sizeof(path), "%s/many.rec", test_tmpdir());
  buf_init(&b, 64 << 20);
  big = calloc(100000, sizeof(*big));
  ASSERT(big != NULL);
  for (i = 0; i < 100000; i++)
    big[i] = (float)i;
  /* A float whose bytes are the magic, aligned: a split point. */
  {
    unsigned char m[4];
    put32(m, RECORDIO_MAGIC);
    memcpy(&big[10], m, 4);
  }
  for (i = 0; i < 3000; i++) {
    float y = (float)i;
    ASSERT_EQ(0, recordio_write_dense(&b, big, i % 500 == 0 ? 100000 : 25, &y,
                                      1, RECORDIO_SPLIT_MAGIC));
  }
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT(fd >= 0);
  ASSERT_EQ((long long)buf_len(&b),
            (long long)write(fd, buf_str(&b), buf_len(&b)));
  close(fd);
  buf_free(&b);
  fd = open(path, O_RDONLY);
  ASSERT(fd >= 0);
  recordio_reader_init_fd(&r, fd, 0);
  for (;;) {
    struct recordio_example ex;
    int rc = recordio_next(&r, &rec, &len);
    ASSERT(rc >= 0);
    if (rc == 0)
      break;
    ASSERT_EQ(0, recordio_example_decode(rec, len, &ex));
    ASSERT_EQ(n % 500 == 0 ? 100000 : 25, ex.features.nvalues);
    ASSERT(memcmp(ex.features.f32, big, 25 * sizeof(float)) == 0);
    ASSERT(ex.label.f32[0] == (float)n);
    recordio_example_free(&ex);
    n++;
  }
  ASSERT_EQ(3000, n);
  recordio_reader_free(&r);
  close(fd);
  free(big);
}

/* python3-protobuf, with message classes built from the field list and a
 * reader of its own, reads what we write (split records included). */
TEST_TIMEOUT(recordio_peer_python_decodes, 60000);
TEST(recordio_peer_python_decodes)
{
  char path[512], script[512];
  const char *argv[] = {PEER_PYTHON, script, "rows", path, NULL};
  float x[3] = {1.5f, -2, 0}, y, vals[2] = {4, 8};
  uint64_t keys[2] = {1, 3};
  unsigned char m[4];
  char *out = NULL, *err = NULL;
  struct buf b;
  int status;

  if (access(PEER_PYTHON, X_OK) != 0) {
    printf("# skipped: %s not installed\n", PEER_PYTHON);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  snprintf(script, sizeof(script), "%s/tests/peers/recordio_decode.py",
           test_srcdir());
  snprintf(path, sizeof(path), "%s/peer.rec", test_tmpdir());
  buf_init(&b, 1 << 20);
  y = 0.5f;
  ASSERT_EQ(0, recordio_write_dense(&b, x, 3, &y, 1, 0));
  /* Features holding the magic: split on the wire. */
  put32(m, RECORDIO_MAGIC);
  memcpy(&x[1], m, 4);
  y = 1;
  ASSERT_EQ(0, recordio_write_dense(&b, x, 3, &y, 1, RECORDIO_SPLIT_MAGIC));
  y = 2;
  ASSERT_EQ(0, recordio_write_sparse(&b, vals, keys, 2, 5, &y, 1, 0));
  ASSERT_EQ(0, test_write_file(path, ""));
  {
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT_EQ(buf_len(&b), fwrite(buf_str(&b), 1, buf_len(&b), f));
    fclose(f);
  }
  buf_free(&b);
  status = test_exec(argv, NULL, &out, &err);
  if (status != 0)
    printf("# %s\n# %s\n", out ? out : "", err ? err : "");
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, "[[0.5], [1.5, -2.0, 0.0]]\n");
  /* 0xCED7230A as a little-endian float32. */
  ASSERT_CONTAINS(out, "[[1.0], [1.5, -1804698880.0, 0.0]]\n");
  ASSERT_CONTAINS(out, "[[2.0], [0.0, 4.0, 0.0, 8.0, 0.0]]\n");
  free(out);
  free(err);
}
