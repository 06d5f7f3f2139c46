/* The public bucket's GDELT 1.0 events, made up: gdelt-open-data/events/
 * YEAR.csv for the historical years 1979-2012, from a deterministic
 * generator, so the seed workflow runs on one machine without the real
 * files (which can be PUT in their place at any time).
 *
 * The files look like the real ones (gdelt-facts.md): 57 tab-separated
 * columns, no header, rows sorted by date, missing geography written as
 * historical files write it (empty type and name, lat 0, long 0), numbers
 * without ".0". The values follow the measured distributions:
 * - EventCode: about 200 distinct CAMEO codes; the most frequent ones
 *   near 8 % each, the top 20 about 77 % of rows, 97 % three-digit; the
 *   weights vary a little by year, so the top 20 of one year is not quite
 *   that of the next (as in real data);
 * - Actor1Geo at (0, 0) in about 16 % of rows, Actor2Geo in about 38 %,
 *   rarely both (so the notebook's filter drops about 53 %);
 * - NumArticles long-tailed: median 4, about 16 % equal to 1, mean near
 *   9, a tail into the hundreds;
 * - AvgTone >= 0, mean about 5, sd about 3, right-skewed, and learnable:
 *   its median is higher for cooperative than for conflictual event
 *   roots and grows with log(NumArticles); the rest is multiplicative
 *   gamma noise (on the seed's features and filter, a linear model
 *   explains about a fifth of its variance).
 * Row counts grow by year as the yearly zip sizes do (about 0.43 M rows
 * in 1979, 0.9 M in 1984; later years extrapolated, see gdelt_synth.c),
 * times a scale factor for quick runs.
 *
 * Everything is a pure function of (year, scale): the same bytes on every
 * run and machine with the same libm. */
#ifndef SAGERUN_LOCAL_GDELT_SYNTH_H
#define SAGERUN_LOCAL_GDELT_SYNTH_H

#include <stddef.h>

struct local_engine;

#define GDELT_SYNTH_FIRST_YEAR 1979
#define GDELT_SYNTH_LAST_YEAR 2012

/* Rows of year at scale (>= 1 for a valid year; 0 outside 1979-2012 or
 * for scale <= 0). */
long long gdelt_synth_rows(int year, double scale);

/* Receives the file in pieces (up to about 1 MB each); a negative return
 * stops the generator, which returns it. */
typedef int (*gdelt_synth_sink)(void *arg, const void *data, size_t len);

/* Streams year's file at scale into sink. Returns 0, SR_EINVAL for a year
 * outside 1979-2012 or a scale <= 0, SR_ENOMEM, or the sink's error. */
int gdelt_synth_generate(int year, double scale, gdelt_synth_sink sink,
                         void *arg);

/* The scale the engine uses: SAGERUN_GDELT_SCALE from the environment
 * (a positive number, e.g. 0.01), else 1. */
double gdelt_synth_scale(void);

/* The year of an object key "events/YEAR.csv" the generator makes, or 0
 * for any other key. */
int gdelt_synth_key_year(const char *key);

/* Makes gdelt-open-data/events/YEAR.csv exist in the engine's object
 * store: generated on the first call at the current scale and stored
 * with metadata naming it synthetic (x-amz-meta-sagerun-synthetic and
 * -scale); later calls find it and return at once. An object without
 * that metadata (real data PUT there) is never replaced; a synthetic one
 * made at another scale is made again. Runs on the loop thread and
 * blocks it while generating (about a second per 0.5 M rows).
 * Returns 0, SR_ENOENT for a year the generator does not make, or the
 * store's or generator's error. */
int local_gdelt_ensure(struct local_engine *e, int year);

#endif
