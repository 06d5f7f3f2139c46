#include "suggest.h"

#include <string.h>

#define SUGGEST_MAX_LEN 64

static int fold(char c)
{
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* Optimal string alignment distance: edits plus transpositions (so
 * "jion" is one from "join"), ignoring ASCII case (so "tojson" is close
 * to "toJSON"). */
size_t suggest_distance(const char *a, const char *b, size_t cap)
{
  size_t rows[3][SUGGEST_MAX_LEN + 1];
  size_t *prev2 = rows[0], *prev = rows[1], *cur = rows[2], *tmp;
  size_t la = strlen(a), lb = strlen(b), i, j, best, v;

  if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN ||
      (la > lb ? la - lb : lb - la) > cap)
    return cap + 1;
  for (j = 0; j <= lb; j++)
    prev[j] = j;
  for (i = 1; i <= la; i++) {
    cur[0] = i;
    for (j = 1; j <= lb; j++) {
      best = prev[j] + 1;
      v = cur[j - 1] + 1;
      if (v < best)
        best = v;
      v = prev[j - 1] + (fold(a[i - 1]) != fold(b[j - 1]));
      if (v < best)
        best = v;
      if (i > 1 && j > 1 && fold(a[i - 1]) == fold(b[j - 2]) &&
          fold(a[i - 2]) == fold(b[j - 1])) {
        v = prev2[j - 2] + 1;
        if (v < best)
          best = v;
      }
      cur[j] = best;
    }
    tmp = prev2;
    prev2 = prev;
    prev = cur;
    cur = tmp;
  }
  return prev[lb] > cap ? cap + 1 : prev[lb];
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
