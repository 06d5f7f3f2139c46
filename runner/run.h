/* What `run` and `resume` share: executing a loaded workflow as one run
 * recorded in the state store, with progress on stdout. */
#ifndef SAGERUN_RUN_H
#define SAGERUN_RUN_H

#include <jansson.h>

#include "cli.h"
#include "dag.h"
#include "state.h"

/* Runs dag as run (its state row: already created or locked). prior: the
 * run's step rows for resume (NULL for a new run). Returns the exit code
 * (0, 1, 130) and marks the run finished in the state store. */
int run_execute(const struct cli_workflow_args *a, struct workflow *wf,
                struct dag *dag, struct state *state, const json_t *run,
                const json_t *prior);

/* Refuses, with errors on stderr, a workflow whose step types cannot all
 * run in this version; returns how many were refused. */
size_t run_refuse_unrunnable(const struct workflow *wf);

#endif
