/* model.tar.gz: see tarball.h. ustar is POSIX.1-1988's tar format: 512-byte
 * header blocks (octal numbers, a checksum over the header), the data
 * padded to 512 bytes, two zero blocks at the end. */
#include "tarball.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "../runner/error.h"

#define TAR_BLOCK 512

/* Header fields: offset and size. */
#define TAR_NAME 0
#define TAR_MODE 100
#define TAR_UID 108
#define TAR_GID 116
#define TAR_SIZE 124
#define TAR_MTIME 136
#define TAR_CHKSUM 148
#define TAR_TYPE 156
#define TAR_MAGIC 257
#define TAR_VERSION 263
#define TAR_PREFIX 345

/* Writes v in octal into width bytes: width - 1 digits, then NUL. */
static void put_octal(unsigned char *p, size_t width, unsigned long long v)
{
  size_t i = width - 1;

  p[i] = '\0';
  while (i > 0) {
    p[--i] = (unsigned char)('0' + (v & 7));
    v >>= 3;
  }
}

static unsigned long header_sum(const unsigned char *h)
{
  unsigned long sum = 0;
  size_t i;

  for (i = 0; i < TAR_BLOCK; i++)
    sum += i >= TAR_CHKSUM && i < TAR_CHKSUM + 8 ? ' ' : h[i];
  return sum;
}

static int name_ok(const char *name)
{
  size_t len = strlen(name);

  return len > 0 && len < 100 && name[0] != '/' && strstr(name, "..") == NULL;
}

/* The ustar archive of the files, uncompressed, into tar. */
static int tar_build(const struct tarball_file *files, size_t n,
                     long long mtime, struct buf *tar)
{
  static const unsigned char zeros[TAR_BLOCK * 2];
  unsigned char h[TAR_BLOCK];
  size_t i, pad;
  int rc;

  for (i = 0; i < n; i++) {
    if (!name_ok(files[i].name))
      return SR_EINVAL;
    memset(h, 0, sizeof(h));
    memcpy(h + TAR_NAME, files[i].name, strlen(files[i].name));
    put_octal(h + TAR_MODE, 8, 0644);
    put_octal(h + TAR_UID, 8, 0);
    put_octal(h + TAR_GID, 8, 0);
    put_octal(h + TAR_SIZE, 12, files[i].len);
    put_octal(h + TAR_MTIME, 12, mtime > 0 ? (unsigned long long)mtime : 0);
    h[TAR_TYPE] = '0';
    memcpy(h + TAR_MAGIC, "ustar", 6);
    memcpy(h + TAR_VERSION, "00", 2);
    /* Six octal digits, NUL, space: what tar itself writes. */
    put_octal(h + TAR_CHKSUM, 7, header_sum(h));
    h[TAR_CHKSUM + 7] = ' ';
    pad = (TAR_BLOCK - files[i].len % TAR_BLOCK) % TAR_BLOCK;
    rc = buf_add(tar, h, sizeof(h));
    if (rc == 0)
      rc = buf_add(tar, files[i].data, files[i].len);
    if (rc == 0)
      rc = buf_add(tar, zeros, pad);
    if (rc)
      return rc;
  }
  return buf_add(tar, zeros, sizeof(zeros));
}

int tarball_gz_write(const struct tarball_file *files, size_t n,
                     long long mtime, struct buf *out)
{
  unsigned char chunk[16384];
  struct buf tar;
  z_stream z;
  int rc, zrc;

  buf_init(&tar, TARBALL_MAX_INFLATED);
  rc = tar_build(files, n, mtime, &tar);
  if (rc)
    goto out;
  memset(&z, 0, sizeof(z));
  /* windowBits 15 + 16: a gzip wrapper rather than zlib's. */
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    rc = SR_ENOMEM;
    goto out;
  }
  z.next_in = (Bytef *)buf_str(&tar);
  z.avail_in = (uInt)buf_len(&tar);
  do {
    z.next_out = chunk;
    z.avail_out = sizeof(chunk);
    zrc = deflate(&z, Z_FINISH);
    if (zrc == Z_STREAM_ERROR) {
      rc = SR_EIO;
      break;
    }
    rc = buf_add(out, chunk, sizeof(chunk) - z.avail_out);
  } while (rc == 0 && zrc != Z_STREAM_END);
  deflateEnd(&z);
out:
  buf_free(&tar);
  return rc;
}

/* Inflates gzip (or zlib) data into out; plain tar passes through. */
static int inflate_all(const void *data, size_t len, struct buf *out)
{
  const unsigned char *p = data;
  unsigned char chunk[65536];
  z_stream z;
  int rc = 0, zrc;

  if (len < 2 || p[0] != 0x1f || p[1] != 0x8b)
    return buf_add(out, data, len);
  memset(&z, 0, sizeof(z));
  /* 15 + 32: detect gzip or zlib headers. */
  if (inflateInit2(&z, 15 + 32) != Z_OK)
    return SR_ENOMEM;
  z.next_in = (Bytef *)(uintptr_t)data;
  z.avail_in = (uInt)len;
  do {
    z.next_out = chunk;
    z.avail_out = sizeof(chunk);
    zrc = inflate(&z, Z_NO_FLUSH);
    if (zrc == Z_MEM_ERROR) {
      rc = SR_ENOMEM;
      break;
    }
    if (zrc != Z_OK && zrc != Z_STREAM_END) {
      rc = SR_EPARSE; /* damaged, or ended before the end of the stream */
      break;
    }
    rc = buf_add(out, chunk, sizeof(chunk) - z.avail_out);
  } while (rc == 0 && zrc != Z_STREAM_END);
  inflateEnd(&z);
  return rc;
}

/* Reads an octal field (spaces and NULs end it); -1 when malformed. */
static long long get_octal(const unsigned char *p, size_t width)
{
  long long v = 0;
  size_t i = 0;

  while (i < width && p[i] == ' ')
    i++;
  for (; i < width && p[i] >= '0' && p[i] <= '7'; i++) {
    if (v > (1LL << 58))
      return -1;
    v = v * 8 + (p[i] - '0');
  }
  if (i < width && p[i] != ' ' && p[i] != '\0')
    return -1;
  return v;
}

/* The entry's full name (prefix/name), without a leading "./". */
static void entry_name(const unsigned char *h, char out[260])
{
  char name[101], prefix[156];
  const char *n;

  memcpy(name, h + TAR_NAME, 100);
  name[100] = '\0';
  prefix[0] = '\0';
  if (memcmp(h + TAR_MAGIC, "ustar", 5) == 0) {
    memcpy(prefix, h + TAR_PREFIX, 155);
    prefix[155] = '\0';
  }
  if (prefix[0])
    snprintf(out, 260, "%s/%s", prefix, name);
  else
    snprintf(out, 260, "%s", name);
  n = out;
  while (n[0] == '.' && n[1] == '/')
    n += 2;
  memmove(out, n, strlen(n) + 1);
}

int tarball_gz_find(const void *data, size_t len, const char *name,
                    struct buf *out)
{
  static const unsigned char zero[TAR_BLOCK];
  struct buf tar;
  const unsigned char *p;
  size_t off = 0, total;
  char full[260];
  int rc;

  while (name[0] == '.' && name[1] == '/')
    name += 2;
  buf_init(&tar, TARBALL_MAX_INFLATED);
  rc = inflate_all(data, len, &tar);
  if (rc)
    goto out;
  p = (const unsigned char *)buf_str(&tar);
  total = buf_len(&tar);
  rc = SR_ENOENT;
  while (off + TAR_BLOCK <= total) {
    const unsigned char *h = p + off;
    long long size, sum;

    if (memcmp(h, zero, TAR_BLOCK) == 0)
      break; /* the end-of-archive blocks */
    size = get_octal(h + TAR_SIZE, 12);
    sum = get_octal(h + TAR_CHKSUM, 8);
    if (size < 0 || sum < 0 || (unsigned long)sum != header_sum(h) ||
        (size_t)size > total - off - TAR_BLOCK) {
      rc = SR_EPARSE;
      goto out;
    }
    entry_name(h, full);
    if ((h[TAR_TYPE] == '0' || h[TAR_TYPE] == '\0') &&
        strcmp(full, name) == 0) {
      rc = buf_add(out, h + TAR_BLOCK, (size_t)size);
      goto out;
    }
    off += TAR_BLOCK + ((size_t)size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
  }
  if (off + TAR_BLOCK > total && total > 0 && off < total)
    rc = SR_EPARSE; /* a header cut short */
out:
  buf_free(&tar);
  return rc;
}
