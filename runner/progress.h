/* Progress of a run on the terminal: plain timestamped lines, or one JSON
 * object per line with --json. */
#ifndef SAGERUN_PROGRESS_H
#define SAGERUN_PROGRESS_H

#include <stdio.h>

#include "exec.h"

struct progress {
  FILE *out;
  int json;
  int colour;
  int verbose; /* step log lines too */
  int live;    /* a terminal: keep a block of running steps at the bottom */
  const char *run_id;
  /* Live view: running steps (id -> {"since": s, "detail": text}) and
   * how many lines the block took when last drawn. */
  json_t *running;
  int drawn;
};

void progress_free(struct progress *p);

/* An exec_opts.on_event callback; data is a struct progress. */
void progress_event(void *data, const struct exec_event *ev);

/* The closing summary: counts, and each failure with its message. */
void progress_summary(struct progress *p, const struct dag *dag,
                      const struct exec_summary *s, int result);

#endif
