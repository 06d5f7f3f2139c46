#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"

#define DIAGS_MAX_DEFAULT 100

void diags_init(struct diags *d)
{
  memset(d, 0, sizeof(*d));
  d->max = DIAGS_MAX_DEFAULT;
}

void diags_free(struct diags *d)
{
  size_t i;

  for (i = 0; i < d->count; i++) {
    free(d->items[i].file);
    free(d->items[i].message);
  }
  free(d->items);
  diags_init(d);
}

static int same_text(const char *a, const char *b)
{
  if (a == NULL || b == NULL)
    return a == b;
  return strcmp(a, b) == 0;
}

void diags_add(struct diags *d, const char *file, int line, int col,
               const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  diags_vadd(d, file, line, col, fmt, ap);
  va_end(ap);
}

void diags_vadd(struct diags *d, const char *file, int line, int col,
                const char *fmt, va_list ap)
{
  struct buf msg;
  struct diag *item;
  size_t i;

  buf_init(&msg, 4096);
  if (buf_vaddf(&msg, fmt, ap) != 0)
    d->oom = 1;
  for (i = 0; i < d->count; i++) {
    item = &d->items[i];
    if (item->line == line && item->col == col && same_text(item->file, file) &&
        strcmp(item->message, buf_str(&msg)) == 0) {
      buf_free(&msg);
      return;
    }
  }
  if (d->count == d->max) {
    d->dropped++;
    buf_free(&msg);
    return;
  }
  if (d->count == d->alloc) {
    size_t n = d->alloc ? d->alloc * 2 : 8;
    struct diag *p = realloc(d->items, n * sizeof(*p));
    if (p == NULL) {
      d->oom = 1;
      buf_free(&msg);
      return;
    }
    d->items = p;
    d->alloc = n;
  }
  item = &d->items[d->count];
  item->file = file ? strdup(file) : NULL;
  item->line = line;
  item->col = col;
  item->message = buf_detach(&msg, NULL);
  if ((file && item->file == NULL) || item->message == NULL) {
    free(item->file);
    free(item->message);
    d->oom = 1;
    return;
  }
  d->count++;
}

static int diag_cmp(const void *pa, const void *pb)
{
  const struct diag *a = pa, *b = pb;
  int c;

  if (a->file && b->file) {
    c = strcmp(a->file, b->file);
    if (c)
      return c;
  } else if (a->file || b->file) {
    return a->file ? 1 : -1;
  }
  if (a->line != b->line)
    return a->line < b->line ? -1 : 1;
  if (a->col != b->col)
    return a->col < b->col ? -1 : 1;
  return strcmp(a->message, b->message);
}

void diags_print(struct diags *d, FILE *out, int colour)
{
  const char *red = colour ? "\033[1;31m" : "";
  const char *bold = colour ? "\033[1m" : "";
  const char *reset = colour ? "\033[0m" : "";
  size_t i;

  if (d->count > 1)
    qsort(d->items, d->count, sizeof(*d->items), diag_cmp);
  for (i = 0; i < d->count; i++) {
    const struct diag *item = &d->items[i];
    if (item->file && item->line > 0)
      fprintf(out, "%s%s:%d:%d:%s ", bold, item->file, item->line, item->col,
              reset);
    else if (item->file)
      fprintf(out, "%s%s:%s ", bold, item->file, reset);
    fprintf(out, "%serror:%s %s\n", red, reset, item->message);
  }
  if (d->dropped)
    fprintf(out, "... and %zu more errors\n", d->dropped);
  if (d->oom)
    fprintf(out, "%serror:%s out of memory while reporting errors\n", red,
            reset);
  if (d->count + d->dropped > 1)
    fprintf(out, "%zu errors\n", d->count + d->dropped);
}

int diag_use_colour(FILE *stream)
{
  const char *nc = getenv("NO_COLOR");

  if (nc && *nc)
    return 0;
  return isatty(fileno(stream));
}
