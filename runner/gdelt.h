/* GDELT 1.0 events: reading the tab-separated files, filtering and
 * one-hot encoding their rows, and writing them as RecordIO-protobuf or
 * CSV training data. Pure and synchronous: the gdelt.* steps run it on
 * the loop's thread pool, a chunk of a file per work item.
 *
 * Layouts (gdelt-facts.md §1): historical files have 57 columns, daily
 * files add SOURCEURL (58), GDELT 2.0 adds an ADM2Code after each
 * ADM1Code (61). Columns are found by their GDELT header name; the layout
 * is detected per line from its column count, since real files mix them.
 *
 * One pass over the lines (gdelt_scan_*) does what a step needs: count
 * EventCodes, keep the values of profiled columns, or keep filtered rows
 * as compact float arrays. Each dropped row is counted once, under the
 * first reason in this order: event_code (not in the list), zero_geo
 * (Actor1 or Actor2 lat and long both 0, or both blank as daily files
 * write an unknown place), missing (a blank or non-numeric label or
 * feature, or half of a geo pair, under `missing: drop`).
 *
 * seed_compat reproduces the original notebook's pandas reading: the
 * first line is lost (read as a header), EventCodes compare as integers
 * ("042" is 42), blank or non-numeric values become NaN and stay, and the
 * one-hot columns are the codes present in the kept rows, sorted
 * numerically. */
#ifndef SAGERUN_GDELT_H
#define SAGERUN_GDELT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum gdelt_layout {
  GDELT_LAYOUT_AUTO = 0, /* per line, from its column count */
  GDELT_LAYOUT_HISTORICAL,
  GDELT_LAYOUT_DAILY,
  GDELT_LAYOUT_V2
};

enum gdelt_missing {
  GDELT_MISSING_DROP = 0,
  GDELT_MISSING_ZERO,
  GDELT_MISSING_ERROR
};

#define GDELT_MAX_COLUMNS 61
#define GDELT_MAX_FEATURES 32
#define GDELT_MAX_EVENTS 1000
#define GDELT_MAX_PROFILE 32
#define GDELT_MALFORMED_KEEP 100 /* line numbers of malformed lines kept */
#define GDELT_CODE_MAX 15        /* longer EventCodes are counted as one */

/* Column count of a layout (57, 58, 61), and the layout with n columns
 * (GDELT_LAYOUT_AUTO when none has n). */
size_t gdelt_layout_columns(enum gdelt_layout l);
enum gdelt_layout gdelt_layout_of(size_t ncolumns);
/* "auto", "historical", "daily", "v2" <-> the enum; parse returns 0 or
 * SR_EINVAL. */
const char *gdelt_layout_name(enum gdelt_layout l);
int gdelt_layout_parse(const char *name, enum gdelt_layout *out);
/* Zero-based index of the column called name in layout l (not AUTO), or
 * -1. Names are GDELT's header names, "AvgTone", "Actor1Geo_Lat". */
int gdelt_column_index(enum gdelt_layout l, const char *name);
const char *gdelt_column_name(enum gdelt_layout l, size_t index);

/* What a scan reads and keeps. Fill the public fields (strings are
 * borrowed and must outlive the spec), then call gdelt_spec_compile. */
struct gdelt_spec {
  enum gdelt_layout layout;
  int seed_compat;
  int strict; /* a malformed line fails the scan */
  enum gdelt_missing missing;
  int drop_zero_geo;
  uint64_t max_rows; /* data lines to read; 0: all */
  /* EventCodes to keep (NULL/0: every row); with one_hot each gets a
   * 0/1 feature, in this order. */
  const char *const *events;
  size_t nevents;
  int one_hot;
  /* Kept rows: label and feature columns (label NULL: rows not kept). */
  const char *label;
  const char *features[GDELT_MAX_FEATURES];
  size_t nfeatures;
  /* Profiled columns: their values are kept as doubles. */
  const char *profile[GDELT_MAX_PROFILE];
  size_t nprofile;
  int count_codes; /* count rows per EventCode */

  /* Private, set by gdelt_spec_compile. */
  int priv_label[3], priv_features[3][GDELT_MAX_FEATURES];
  int priv_profile[3][GDELT_MAX_PROFILE];
  int priv_geo[3][4];
  size_t priv_want; /* fields to split a line into */
  struct gdelt_code_index *priv_index;
};

/* Resolves column names and builds the event lookup. Returns 0, or
 * SR_EINVAL with a message in err for an unknown column, too many
 * events or an empty event code; SR_ENOMEM. */
int gdelt_spec_compile(struct gdelt_spec *s, char *err, size_t errlen);
void gdelt_spec_free(struct gdelt_spec *s);

/* Row counts per EventCode: an open-addressing table of short strings. */
struct gdelt_codes {
  struct gdelt_code_slot *priv_slots;
  size_t priv_cap, count; /* count: distinct codes */
};

struct gdelt_code_count {
  char code[GDELT_CODE_MAX + 1];
  uint64_t count;
};

/* The result of scanning lines. Rows are kept as 1 + nfeatures floats
 * (label first) plus the event index (uint16, into spec->events, or
 * 0xFFFF without events) per row. */
struct gdelt_scan {
  uint64_t lines;     /* lines seen, blank ones included */
  uint64_t blank;     /* empty lines (skipped, as pandas does) */
  uint64_t rows_read; /* non-blank data lines read */
  uint64_t malformed; /* lines with a column count of no layout */
  uint64_t dropped_event, dropped_zero_geo, dropped_missing;
  uint64_t kept;
  uint64_t by_layout[3]; /* well-formed rows per layout */
  uint64_t malformed_lines[GDELT_MALFORMED_KEEP]; /* 1-based */
  size_t nmalformed_lines;
  int error;            /* strict / missing: error; 0 otherwise */
  uint64_t error_line;  /* where (1-based) */
  char error_text[200]; /* "blank AvgTone" */
  int header_pending;   /* seed_compat: the next line is dropped */
  struct gdelt_codes codes;
  struct buf rows;                       /* floats */
  struct buf row_events;                 /* uint16 */
  struct buf profile[GDELT_MAX_PROFILE]; /* doubles */
  uint64_t profile_missing[GDELT_MAX_PROFILE];
};

/* first: whether this scan starts at the beginning of the file (the
 * seed_compat header line is dropped only there). */
void gdelt_scan_init(struct gdelt_scan *sc, const struct gdelt_spec *s,
                     int first);
void gdelt_scan_free(struct gdelt_scan *sc);

/* Processes one line (without its '\n'; a trailing '\r' is ignored).
 * Returns 0, 1 when max_rows is reached (the line was not read), or the
 * scan's error (also stored in sc->error). */
int gdelt_scan_line(const struct gdelt_spec *s, struct gdelt_scan *sc,
                    const char *line, size_t len);

/* Appends src (the scan of the lines that follow dst's) to dst: counts
 * add, rows and values append, src's line numbers shift by dst->lines.
 * src is freed. Returns 0 or SR_ENOMEM. */
int gdelt_scan_merge(struct gdelt_scan *dst, struct gdelt_scan *src);

/* Sources: a local file, read plainly, or inflated when it starts with a
 * gzip header (members concatenated as gzip allows) or is a zip archive
 * (its first file; stored or deflated; CRC checked). */
struct gdelt_source;
int gdelt_source_open(const char *path, struct gdelt_source **out, char *err,
                      size_t errlen);
/* "plain", "gzip" or "zip". */
const char *gdelt_source_kind(const struct gdelt_source *src);
/* Size of a plain file (0 for compressed ones). */
uint64_t gdelt_source_size(const struct gdelt_source *src);
void gdelt_source_close(struct gdelt_source *src);

/* Scans the lines of src. For plain files, [start, end) selects the
 * lines that begin in that byte range (end 0: to the end), so ranges
 * that tile the file scan each line exactly once, in parallel. cancel
 * (may be NULL) is polled between blocks: when it becomes nonzero the
 * scan stops with SR_ECANCELED. Returns 0 or a negative code (err says
 * why). */
int gdelt_scan_source(const struct gdelt_spec *s, struct gdelt_scan *sc,
                      struct gdelt_source *src, uint64_t start, uint64_t end,
                      const atomic_int *cancel, char *err, size_t errlen);

/* Codes by count, most frequent first, ties by code ascending (as
 * numbers under seed_compat). *out is malloc'ed, *n entries. */
int gdelt_codes_sorted(const struct gdelt_codes *c, int numeric,
                       struct gdelt_code_count **out, size_t *n);
uint64_t gdelt_codes_get(const struct gdelt_codes *c, const char *code);

/* ---- Writing the kept rows -------------------------------------------- */

enum gdelt_format { GDELT_FORMAT_RECORDIO = 0, GDELT_FORMAT_CSV };

struct gdelt_write_opts {
  enum gdelt_format format;
  int shuffle;
  uint64_t seed;
  double split;                /* share of rows to train, (0, 1] */
  const char *train_path;      /* local files, created or replaced */
  const char *validation_path; /* NULL when split is 1 */
  const atomic_int *cancel;
};

struct gdelt_write_result {
  uint64_t train_rows, validation_rows;
  uint64_t train_bytes, validation_bytes;
  size_t feature_dim;
  char **feature_names; /* feature_dim strings, malloc'ed */
};

/* Shuffles (xoshiro256** seeded through splitmix64), splits the first
 * floor(split * n) rows to train and writes both files. Returns 0 or a
 * negative code with err set. */
int gdelt_write(const struct gdelt_spec *s, const struct gdelt_scan *sc,
                const struct gdelt_write_opts *o, struct gdelt_write_result *r,
                char *err, size_t errlen);
void gdelt_write_result_free(struct gdelt_write_result *r);

/* The row permutation gdelt_write uses: perm[i] is the row written i-th.
 * Exposed for tests. */
void gdelt_shuffle(uint32_t *perm, size_t n, uint64_t seed);

/* ---- Profiles ----------------------------------------------------------- */

struct gdelt_stats {
  uint64_t count, missing, zeros;
  double mean, std, min, p25, p50, p75, max;
};

/* Statistics as pandas' describe() computes them (std with ddof 1,
 * quartiles by linear interpolation) and a histogram as numpy's (bins
 * equal-width bins from min to max, the last one closed; edges has
 * bins + 1 entries). values (n doubles) is reordered in place. counts and
 * edges are the caller's. */
void gdelt_profile_column(double *values, size_t n, uint64_t missing,
                          size_t bins, struct gdelt_stats *st, uint64_t *counts,
                          double *edges);

#endif
