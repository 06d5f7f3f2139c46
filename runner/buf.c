#include "buf.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static char buf_slop[1];

void buf_init(struct buf *b, size_t cap)
{
  b->priv_data = buf_slop;
  b->priv_len = 0;
  b->priv_alloc = 0;
  b->priv_cap = cap;
}

void buf_free(struct buf *b)
{
  if (b->priv_alloc)
    free(b->priv_data);
  buf_init(b, b->priv_cap);
}

void buf_reset(struct buf *b)
{
  b->priv_len = 0;
  b->priv_data[0] = '\0';
}

/* Makes room for len more bytes plus the terminator. */
static int buf_grow(struct buf *b, size_t len)
{
  size_t need, alloc;
  char *p;

  if (len > b->priv_cap || b->priv_len > b->priv_cap - len) {
    buf_free(b);
    return SR_ETOOBIG;
  }
  need = b->priv_len + len + 1;
  if (need <= b->priv_alloc)
    return 0;
  alloc = b->priv_alloc ? b->priv_alloc : 32;
  while (alloc < need)
    alloc *= 2;
  if (alloc > b->priv_cap + 1)
    alloc = b->priv_cap + 1;
  p = realloc(b->priv_alloc ? b->priv_data : NULL, alloc);
  if (p == NULL) {
    buf_free(b);
    return SR_ENOMEM;
  }
  if (!b->priv_alloc)
    p[0] = '\0';
  b->priv_data = p;
  b->priv_alloc = alloc;
  return 0;
}

int buf_reserve(struct buf *b, size_t len)
{
  return len == 0 ? 0 : buf_grow(b, len);
}

int buf_add(struct buf *b, const void *data, size_t len)
{
  int rc;

  if (len == 0)
    return 0;
  rc = buf_grow(b, len);
  if (rc)
    return rc;
  memcpy(b->priv_data + b->priv_len, data, len);
  b->priv_len += len;
  b->priv_data[b->priv_len] = '\0';
  return 0;
}

int buf_adds(struct buf *b, const char *s)
{
  return buf_add(b, s, strlen(s));
}

int buf_addc(struct buf *b, char c)
{
  return buf_add(b, &c, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
  va_list ap2;
  size_t room = b->priv_alloc ? b->priv_alloc - b->priv_len : 0;
  int n, rc;

  /* Format straight into the free space when it fits (the common case):
   * one pass instead of measuring first. */
  va_copy(ap2, ap);
  n = room ? vsnprintf(b->priv_data + b->priv_len, room, fmt, ap2)
           : vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) {
    if (room)
      b->priv_data[b->priv_len] = '\0';
    return SR_EINVAL;
  }
  if ((size_t)n < room && b->priv_len + (size_t)n <= b->priv_cap) {
    b->priv_len += (size_t)n;
    return 0;
  }
  if (room)
    b->priv_data[b->priv_len] = '\0';
  rc = buf_grow(b, (size_t)n);
  if (rc)
    return rc;
  vsnprintf(b->priv_data + b->priv_len, (size_t)n + 1, fmt, ap);
  b->priv_len += (size_t)n;
  return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
  va_list ap;
  int rc;

  va_start(ap, fmt);
  rc = buf_vaddf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void buf_truncate(struct buf *b, size_t len)
{
  assert(len <= b->priv_len);
  if (!b->priv_alloc)
    return;
  b->priv_len = len;
  b->priv_data[len] = '\0';
}

const char *buf_str(const struct buf *b)
{
  return b->priv_data;
}

size_t buf_len(const struct buf *b)
{
  return b->priv_len;
}

char *buf_detach(struct buf *b, size_t *len)
{
  char *p;

  if (len)
    *len = b->priv_len;
  if (b->priv_alloc) {
    p = b->priv_data;
  } else {
    p = calloc(1, 1);
  }
  buf_init(b, b->priv_cap);
  return p;
}
