/* The state store: one SQLite database per project directory
 * (.sagerun/state.db), WAL mode, mode 0600. It holds runs, step
 * instances (status, attempt, input fingerprint, outputs, error, times),
 * the journal of intents written before anything is created, the ledger
 * of created resources, and an event log. Every write is a transaction
 * committed before the call returns, so a crash loses nothing that was
 * acknowledged. */
#ifndef SAGERUN_STATE_H
#define SAGERUN_STATE_H

#include <jansson.h>
#include <stddef.h>

struct state;

/* Opens (creating when missing) the database at path, creating its
 * directory. Returns 0 or a negative SR_ code with a message in err. */
int state_open(const char *path, struct state **out, char *err, size_t errlen);
void state_close(struct state *s);

/* Runs. A run is refused when another live process holds it
 * (SR_EEXIST). */
int state_run_create(struct state *s, const char *workflow_name,
                     const char *workflow_path, const char *target,
                     const json_t *params, char *run_id, size_t run_id_len);
int state_run_lock(struct state *s, const char *run_id);
int state_run_finish(struct state *s, const char *run_id, const char *status);
/* The newest unfinished run of a workflow path, or the run with this
 * id; NULL when none. New reference: {id, workflow, path, target,
 * params, status, started_at, finished_at}. */
json_t *state_run_get(struct state *s, const char *run_id,
                      const char *workflow_path);
json_t *state_runs_list(struct state *s, int limit);

/* Step instances. */
int state_step_update(struct state *s, const char *run_id, const char *instance,
                      const char *type, const char *status, int attempt,
                      const char *fingerprint, const json_t *inputs,
                      const json_t *outputs, const char *error);
/* Records the identity of the outside data the step read (step.h,
 * step_set_identity): its row's "identity", for a resume to compare. */
int state_step_set_identity(struct state *s, const char *run_id,
                            const char *instance, const json_t *identity);
/* The step's row as JSON, or NULL. New reference. */
json_t *state_step_get(struct state *s, const char *run_id,
                       const char *instance);
json_t *state_steps_list(struct state *s, const char *run_id);
/* The same rows as an object keyed by instance id (what resume and
 * explain compare against). New reference, or NULL. */
json_t *state_steps_by_instance(struct state *s, const char *run_id);

/* Journal and ledger. */
int state_journal_intent(struct state *s, const char *run_id,
                         const char *instance, int attempt, const char *kind,
                         const char *name, const json_t *details);
/* {kind, name, details} or NULL. New reference. */
json_t *state_journal_find(struct state *s, const char *run_id,
                           const char *instance, int attempt, const char *kind);
int state_ledger_add(struct state *s, const char *run_id, const char *instance,
                     const char *kind, const char *name, const char *arn);
int state_ledger_mark_deleted(struct state *s, const char *run_id,
                              const char *kind, const char *name);
/* Array of {kind, name, arn, step, deleted}; kind NULL for all. */
json_t *state_ledger_list(struct state *s, const char *run_id,
                          const char *kind);

int state_event(struct state *s, const char *run_id, const char *instance,
                const char *kind, const char *text);

#endif
