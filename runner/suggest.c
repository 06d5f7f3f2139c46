#include "suggest.h"

#include <string.h>

#define SUGGEST_MAX_LEN 64

size_t suggest_distance(const char *a, const char *b, size_t cap)
{
  size_t la = strlen(a), lb = strlen(b), i, j;
  size_t row[SUGGEST_MAX_LEN + 1];

  if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
    return cap + 1;
  if ((la > lb ? la - lb : lb - la) > cap)
    return cap + 1;
  for (j = 0; j <= lb; j++)
    row[j] = j;
  for (i = 1; i <= la; i++) {
    size_t diag = row[0], rowmin;
    row[0] = i;
    rowmin = row[0];
    for (j = 1; j <= lb; j++) {
      size_t up = row[j], v;
      v = diag + (a[i - 1] != b[j - 1]);
      if (up + 1 < v)
        v = up + 1;
      if (row[j - 1] + 1 < v)
        v = row[j - 1] + 1;
      row[j] = v;
      diag = up;
      if (v < rowmin)
        rowmin = v;
    }
    if (rowmin > cap)
      return cap + 1;
  }
  return row[lb] > cap ? cap + 1 : row[lb];
}

void suggest_init(struct suggest *s, const char *word, size_t max_distance)
{
  s->word = word;
  s->best = NULL;
  s->best_distance = max_distance + 1;
  s->max_distance = max_distance;
}

void suggest_add(struct suggest *s, const char *candidate)
{
  size_t d;

  if (strcmp(s->word, candidate) == 0)
    return;
  d = suggest_distance(s->word, candidate, s->max_distance);
  /* Short words with many edits are noise: "a" is not "did you mean b". */
  if (d >= strlen(s->word) && d > 1)
    return;
  if (d < s->best_distance) {
    s->best = candidate;
    s->best_distance = d;
  }
}

const char *suggest_best(const struct suggest *s)
{
  return s->best;
}
