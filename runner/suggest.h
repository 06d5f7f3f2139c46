/* "Did you mean": the closest of several candidate names. */
#ifndef SAGERUN_SUGGEST_H
#define SAGERUN_SUGGEST_H

#include <stddef.h>

struct suggest {
  const char *word;
  const char *best;
  size_t best_distance;
  size_t max_distance;
};

/* Candidates farther than max_distance edits from word are never
 * suggested. */
void suggest_init(struct suggest *s, const char *word, size_t max_distance);
void suggest_add(struct suggest *s, const char *candidate);
/* The closest candidate (the first of equals), or NULL. Borrowed. */
const char *suggest_best(const struct suggest *s);

/* Edit distance (insertions, deletions, substitutions and swaps of two
 * neighbours; ASCII case ignored), capped: cap + 1 when above cap. */
size_t suggest_distance(const char *a, const char *b, size_t cap);

#endif
