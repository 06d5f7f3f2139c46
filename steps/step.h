/* The step plugin interface. A step type is one const struct in the table
 * of steps/registry.c; its `with:` schema, inputs and outputs are described
 * once, in schemas/steps/NAME.json (embedded in the binary): the schema's
 * "x-sagerun-outputs" object names each output with a type and a
 * description. */
#ifndef SAGERUN_STEP_H
#define SAGERUN_STEP_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

/* Bumped whenever struct step_type or step_exec changes shape. */
#define STEP_ABI_VERSION 2

struct step_ctx; /* one running step instance: runner/exec.c */

/* How a step type runs. start begins the step and returns 0, after which
 * step_done() is called exactly once, later, from the loop; or it returns
 * a negative SR_ code and step_done() is never called. cancel (may be
 * NULL: the step cannot be interrupted and the scheduler waits for it)
 * asks a started step to stop; the step still finishes through
 * step_done(), with SR_ECANCELED or whatever outcome it reached.
 *
 * Resume: before a call that creates something, a step journals its
 * intent (step_journal_intent) with the deterministic name it will use;
 * on a resumed run, start first looks for that intent (step_journal_find)
 * and re-attaches by name instead of creating a second resource.
 *
 * Data from outside the run: a step that reads something the run does
 * not make (a GDELT file, an object someone else writes) names what it
 * read while it runs (step_set_identity: the source and its ETag, size
 * or modification time). A resumed run reuses such a step's result only
 * when identify, asked again, names the same data: identify (may be
 * NULL) starts finding the identity (a HEAD, a stat) and returns 0,
 * after which step_identified is called exactly once, later, from the
 * loop; or it returns a negative code, and the step runs again. cancel
 * is not called while identify works. */
struct step_exec {
  int abi; /* STEP_ABI_VERSION */
  int (*start)(struct step_ctx *ctx);
  void (*cancel)(struct step_ctx *ctx);
  int (*identify)(struct step_ctx *ctx);
};

struct step_type {
  int abi;             /* STEP_ABI_VERSION */
  const char *name;    /* "sagemaker.training_job" */
  const char *summary; /* one line for `sagerun steps` */
  int version;         /* bumped when behaviour changes; part of resume's
                          fingerprint */
  const struct step_exec *exec; /* NULL: not runnable yet */
};

/* ---- What a running step may use (runner/exec.c) ---------------------- */

struct aws_client;

/* The step's `with:`, fully resolved (borrowed, valid until step_done). */
const json_t *step_inputs(const struct step_ctx *ctx);
uv_loop_t *step_loop(const struct step_ctx *ctx);
/* The run's AWS client (real, or recording for plan). */
struct aws_client *step_aws(const struct step_ctx *ctx);
/* The AWS region the run works in. */
const char *step_region(const struct step_ctx *ctx);
/* "variant[5,ShardedByS3Key].train" */
const char *step_instance_id(const struct step_ctx *ctx);
const char *step_run_id(const struct step_ctx *ctx);
int step_attempt(const struct step_ctx *ctx); /* 1, 2, ... */
/* 1 under `sagerun plan`: nothing is sent or created, data is not read;
 * steps return placeholder outputs that say when they would be known. */
int step_planning(const struct step_ctx *ctx);
/* The step's own state for this instance, for cancel to find. */
void step_set_data(struct step_ctx *ctx, void *data);
void *step_data(const struct step_ctx *ctx);
/* A directory of the run where the step may keep files. */
const char *step_work_dir(const struct step_ctx *ctx);

/* A resource name that is the same for this run, step instance and
 * attempt every time it is asked (so a resumed run finds it), valid for
 * SageMaker (at most 63 characters of [a-zA-Z0-9-], starting with a letter
 * or digit), readable: "<prefix>-<run>-<hash>" shortened as needed. */
int step_resource_name(const struct step_ctx *ctx, const char *prefix,
                       char *out, size_t outlen);

/* Records, durably, that the step is about to create resource kind/name
 * (details: anything needed to re-attach). Returns 0 or a negative code;
 * a step must not create the resource when this fails. */
int step_journal_intent(struct step_ctx *ctx, const char *kind,
                        const char *name, const json_t *details);
/* The intent of this kind recorded by an earlier run of this very step
 * instance and attempt (a resumed run), or NULL. Borrowed. */
const json_t *step_journal_find(const struct step_ctx *ctx, const char *kind);
/* Records a created resource in the run's ledger (for destroy and
 * cleanup). arn may be NULL. */
int step_ledger_add(struct step_ctx *ctx, const char *kind, const char *name,
                    const char *arn);
/* Marks a ledger entry as deleted (it stays in the history). */
int step_ledger_mark_deleted(struct step_ctx *ctx, const char *kind,
                             const char *name);
/* The resources of this run's ledger of one kind (array of objects with
 * kind, name, arn, step), new reference. */
json_t *step_ledger_list(const struct step_ctx *ctx, const char *kind);

/* A one-line detail shown next to the step ("Training", "42%"). */
void step_progress(struct step_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A log line of the step (shown with --verbose and kept in the run's
 * log). */
void step_log(struct step_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Runs work on the loop's thread pool (CPU-heavy or blocking code), then
 * after on the loop. work must not touch the loop or the ctx API. */
int step_work(struct step_ctx *ctx, void (*work)(void *data),
              void (*after)(void *data, int status), void *data);

/* The identity of the outside data the step read (reference taken), kept
 * with the step's state for a resume to compare. */
void step_set_identity(struct step_ctx *ctx, json_t *identity);
/* Ends identify: the identity found now (reference taken), or NULL when
 * it cannot be told (the step then runs again). */
void step_identified(struct step_ctx *ctx, json_t *identity);

/* Finishes the step: status 0 with outputs (reference taken; NULL = {}),
 * or a negative code and a message (lowercase, no final period). Exactly
 * once per successful start. */
void step_done(struct step_ctx *ctx, int status, json_t *outputs,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- The registry -------------------------------------------------------- */

/* All step types, sorted by name, NULL-terminated. */
extern const struct step_type *const step_registry[];

/* The step type called name, or NULL. */
const struct step_type *step_registry_find(const char *name);

/* The registered name closest to name (edit distance at most 3), or NULL:
 * for "did you mean". */
const char *step_registry_suggest(const char *name);

/* Path of a step type's schema among the embedded files:
 * "schemas/steps/NAME.json", written into out (size outlen). */
void step_schema_path(const struct step_type *t, char *out, size_t outlen);

#endif
