/* Float32 numbers as text, fast: the same characters as printf's "%.9g"
 * (nine significant digits, enough for any float to read back
 * unchanged), without printf's arbitrary-precision machinery.
 *
 * Endpoint answers print one score per row, tens of thousands per
 * request; glibc's printf spends about 200 ns on each, this about 20.
 * Values from 1e-4 up to 1e9 (where "%.9g" writes plain decimals) are
 * converted with exact integer arithmetic; zero, infinities, NaN and
 * anything outside that range go to snprintf, so the text is always
 * exactly printf's. */
#ifndef SAGERUN_FLOATTEXT_H
#define SAGERUN_FLOATTEXT_H

#include <stddef.h>

#include "buf.h"

/* Room for any "%.9g" of a float, with its NUL: "-1.17549435e-38". */
#define FLOATTEXT_MAX 24

/* Writes "%.9g" of v into out, NUL-terminated; returns its length. */
size_t floattext_g9(float v, char out[FLOATTEXT_MAX]);

/* Appends "%.9g" of v to b; 0 or buf's error. */
int floattext_add(struct buf *b, float v);

#endif
