/* The scheduler: runs an expanded DAG on one libuv loop. Every step whose
 * dependencies have succeeded starts at once, within the workflow's
 * max_parallel and per-type limits. A failed step stops what depends on
 * it; independent branches finish; then finally: steps run. retry,
 * timeout and continue_on_error are honoured. The first SIGINT or SIGTERM
 * stops new starts, cancels running steps and runs finally:; a second one
 * exits at once (the state store keeps what resume needs). */
#ifndef SAGERUN_EXEC_H
#define SAGERUN_EXEC_H

#include <jansson.h>
#include <uv.h>

#include "dag.h"

struct aws_client;
struct state;

enum exec_status {
  EXEC_PENDING,
  EXEC_RUNNING,
  EXEC_RETRY_WAIT,
  EXEC_SUCCEEDED,
  EXEC_FAILED,
  EXEC_SKIPPED,  /* a dependency failed */
  EXEC_CANCELED, /* interrupted */
  EXEC_REUSED    /* succeeded in an earlier run (resume) */
};

const char *exec_status_name(enum exec_status s);

enum exec_event_kind {
  EXEC_EVENT_STARTED,
  EXEC_EVENT_PROGRESS,
  EXEC_EVENT_LOG,
  EXEC_EVENT_FINISHED, /* status says how */
  EXEC_EVENT_RETRYING,
  EXEC_EVENT_INTERRUPTED, /* a signal arrived (node is NULL) */
  EXEC_EVENT_TICK         /* a second passed (node is NULL): redraw */
};

struct exec_event {
  enum exec_event_kind kind;
  const struct dag_node *node; /* NULL for run-wide events */
  enum exec_status status;
  int attempt;
  const char *text; /* progress, log line, error; may be NULL */
  double seconds;   /* for FINISHED: time of the last attempt */
  const json_t *outputs;
};

struct exec_opts {
  struct aws_client *aws; /* may be NULL for workflows without AWS steps */
  struct state *state;    /* NULL: nothing persisted (plan, tests) */
  const char *run_id;
  const char *region;     /* the AWS region steps work in */
  const char *started_at; /* run.started_at; NULL: now (a new run) */
  const char *work_dir;   /* per-run directory for step files */
  int planning;           /* sagerun plan */
  int sequential;         /* one step at a time (plan: requests in order) */
  /* Resume: the steps of the run as the state store had them, instance
   * id -> {status, attempt, fingerprint, outputs}. A step that succeeded
   * with the same fingerprint (type, version and resolved inputs) is
   * reused; one that was in flight continues its attempt (and so
   * re-attaches through the journal); one that failed gets a new attempt.
   * May be NULL. */
  const json_t *prior;
  /* Progress and logs; may be NULL. */
  void (*on_event)(void *data, const struct exec_event *ev);
  void *event_data;
  int handle_signals; /* install SIGINT/SIGTERM handlers */
  int ticks;          /* send EXEC_EVENT_TICK every second */
};

struct exec_summary {
  size_t succeeded, failed, skipped, canceled, reused;
  int interrupted; /* a signal stopped the run */
  json_t *outputs; /* instance id -> outputs, new reference */
  json_t *errors;  /* instance id -> error message */
};

/* Runs dag on loop until every step has finished. Returns 0 when the
 * main steps all succeeded (finally steps' failures are reported but the
 * run's result is that of its main steps; a failing finally step makes
 * the run fail too), 1 when any failed, 130 when interrupted, or a
 * negative SR_ code when the run could not start. summary may be NULL. */
int exec_run(uv_loop_t *loop, struct dag *dag, const struct exec_opts *opts,
             struct exec_summary *summary);

void exec_summary_free(struct exec_summary *s);

/* run.* as expressions see it (new reference). */
json_t *exec_run_info(const struct dag *dag, const char *run_id,
                      const char *started_at, const char *region);

/* The fingerprint of a step instance: SHA-256 (hex) over its type, the
 * type's version and its resolved inputs (keys sorted). out: 65 bytes. */
void exec_fingerprint(const struct dag_node *node, const json_t *inputs,
                      char out[65]);

/* The `with:` of node resolved with the outputs known so far (outputs:
 * instance index -> outputs object or NULL). Errors are written to err.
 * Returns 0 and a new reference in *out. For plan, unknown values may
 * remain; at run time every reference must resolve. */
int exec_resolve_inputs(const struct dag *dag, size_t node,
                        json_t *const *outputs, const json_t *run, json_t **out,
                        char *err, size_t errlen);

#endif
