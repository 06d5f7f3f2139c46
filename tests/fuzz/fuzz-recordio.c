/* libFuzzer target: the RecordIO reader and the Record decoder on
 * arbitrary bytes. The memory and fd readers must agree record for
 * record; every decoded record converts to dense floats or is refused
 * cleanly; float32 dense records re-encode to a record that decodes to
 * the same values. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../runner/buf.h"
#include "../../runner/recordio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

static void example(const void *rec, size_t len)
{
  struct recordio_example ex, again;
  struct buf b;
  size_t dim, i;
  float *dense;

  if (recordio_example_decode(rec, len, &ex) != 0)
    return;
  dim = ex.features.nvalues;
  for (i = 0; i < ex.features.nkeys; i++)
    if (ex.features.keys[i] < 4096 && ex.features.keys[i] + 1 > dim)
      dim = (size_t)ex.features.keys[i] + 1;
  if (dim > 4096)
    dim = 4096;
  dense = calloc(dim ? dim : 1, sizeof(*dense));
  if (dense == NULL)
    abort();
  if (recordio_tensor_dense(&ex.features, dense, dim) == 0 &&
      ex.features.dtype == RECORDIO_FLOAT32 && ex.features.nkeys == 0) {
    buf_init(&b, 1 << 24);
    check(recordio_write_dense(&b, dense, dim,
                               ex.label.dtype == RECORDIO_FLOAT32 ? ex.label.f32
                                                                  : NULL,
                               ex.label.nvalues, RECORDIO_SPLIT_MAGIC) == 0,
          "re-encodes");
    {
      struct recordio_reader r;
      const void *p;
      size_t n;
      recordio_reader_init_mem(&r, buf_str(&b), buf_len(&b), 0);
      check(recordio_next(&r, &p, &n) == 1, "re-read");
      check(recordio_example_decode(p, n, &again) == 0, "re-decode");
      check(again.features.nvalues == dim &&
                (dim == 0 ||
                 memcmp(again.features.f32, dense, dim * sizeof(float)) == 0),
            "same values");
      recordio_example_free(&again);
      recordio_reader_free(&r);
    }
    buf_free(&b);
  }
  free(dense);
  recordio_example_free(&ex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char path[64];
  struct recordio_reader mem, fdr;
  const void *a, *b;
  size_t alen, blen;
  int ra, rb, fd;
  FILE *f;

  if (path[0] == '\0')
    snprintf(path, sizeof(path), "/tmp/fuzz-recordio-%d", (int)getpid());
  f = fopen(path, "wb");
  if (f == NULL)
    abort();
  fwrite(data, 1, size, f);
  fclose(f);
  fd = open(path, O_RDONLY);
  if (fd < 0)
    abort();
  recordio_reader_init_mem(&mem, data, size, 1 << 20);
  recordio_reader_init_fd(&fdr, fd, 1 << 20);
  do {
    ra = recordio_next(&mem, &a, &alen);
    rb = recordio_next(&fdr, &b, &blen);
    check(ra == rb, "readers agree on the outcome");
    if (ra == 1) {
      check(alen == blen && memcmp(a, b, alen) == 0, "readers agree");
      example(a, alen);
    }
  } while (ra == 1);
  recordio_reader_free(&mem);
  recordio_reader_free(&fdr);
  close(fd);
  return 0;
}
