/* Diagnostics: errors with file:line:column, collected so that many can be
 * reported at once, then printed sorted by position. */
#ifndef SAGERUN_DIAG_H
#define SAGERUN_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

struct diag {
  char *file;    /* may be NULL: an error not tied to a file */
  int line, col; /* 1-based; 0 when unknown */
  char *message; /* lowercase, no final period */
};

struct diags {
  struct diag *items;
  size_t count, alloc;
  size_t max; /* further errors are counted but not kept */
  size_t dropped;
  int oom;
};

void diags_init(struct diags *d);
void diags_free(struct diags *d);
/* Adds an error; an identical one (same place and text) is kept once.
 * Never fails: out of memory is remembered and printed. */
void diags_add(struct diags *d, const char *file, int line, int col,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void diags_vadd(struct diags *d, const char *file, int line, int col,
                const char *fmt, va_list ap);
/* Prints "file:line:col: error: message" lines, sorted by file, line and
 * column, followed by a count when there is more than one. colour adds
 * ANSI colour. */
void diags_print(struct diags *d, FILE *out, int colour);

/* Whether to colour output on this stream: a terminal, and NO_COLOR unset
 * or empty. */
int diag_use_colour(FILE *stream);

#endif
