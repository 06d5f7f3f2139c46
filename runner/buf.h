/* Growable byte buffer, the one buffer type of sagerun.
 *
 * Invariants: the data is never NULL and always NUL-terminated, so
 * buf_str() of an empty buffer is "". Every buffer has a cap set at init;
 * growing past it fails with SR_ETOOBIG. A failing add frees the buffer
 * (it is then empty but still usable) and returns the error. Fields are
 * private: use the functions. buf_detach() is the only way to take the
 * bytes over. */
#ifndef SAGERUN_BUF_H
#define SAGERUN_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
  char *priv_data;
  size_t priv_len;
  size_t priv_alloc;
  size_t priv_cap;
};

#define BUF_CAP_DEFAULT ((size_t)64 << 20)

void buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_addc(struct buf *b, char c);
int buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap);
/* Makes room for len more bytes at once (when the size is known, this
 * spares the copies of growing by doubling); 0 or as buf_add fails. */
int buf_reserve(struct buf *b, size_t len);
/* Shortens the content to len bytes; len must not exceed buf_len(). */
void buf_truncate(struct buf *b, size_t len);
const char *buf_str(const struct buf *b);
size_t buf_len(const struct buf *b);
/* Returns the malloc'ed bytes (NUL-terminated; never NULL unless out of
 * memory) and leaves the buffer empty. *len gets the length if not NULL. */
char *buf_detach(struct buf *b, size_t *len);

#endif
