/* sagemaker.delete: stops training jobs still running, then deletes
 * endpoints, endpoint configs and models (that order, since each depends
 * on the next), given by name or taken from the run's ledger
 * (created_by_this_run). SageMaker keeps training jobs: they are stopped,
 * not deleted. Idempotent: what is already
 * gone is reported, not failed. With wait, it waits until each endpoint
 * is gone (EndpointDeleted). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runner/error.h"
#include "sagemaker_api.h"

struct target {
  const char *kind; /* ledger kind */
  const char *op;   /* DeleteEndpoint ... */
  const char *member;
  char *name;
};

struct deletion {
  struct step_ctx *ctx;
  struct target *targets;
  size_t n, next;
  json_t *deleted, *gone;
  struct aws_waiter *waiter;
  int canceled;
  char error[1200];
};

static const struct {
  const char *input, *kind, *op, *member;
} kinds[] = {
    {"training_jobs", "training_job", "StopTrainingJob", "TrainingJobName"},
    {"endpoints", "endpoint", "DeleteEndpoint", "EndpointName"},
    {"endpoint_configs", "endpoint_config", "DeleteEndpointConfig",
     "EndpointConfigName"},
    {"models", "model", "DeleteModel", "ModelName"},
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void deletion_free(struct deletion *d)
{
  size_t i;

  for (i = 0; i < d->n; i++)
    free(d->targets[i].name);
  free(d->targets);
  json_decref(d->deleted);
  json_decref(d->gone);
  free(d);
}

static void next(struct deletion *d);

static void finish(struct deletion *d)
{
  struct step_ctx *ctx = d->ctx;

  step_set_data(ctx, NULL);
  if (d->error[0])
    step_done(ctx, SR_EIO, NULL, "%s", d->error);
  else if (d->canceled)
    step_done(ctx, SR_ECANCELED, NULL, "canceled");
  else
    step_done(
        ctx, 0,
        json_pack("{s:O,s:O}", "deleted", d->deleted, "already_gone", d->gone),
        NULL);
  deletion_free(d);
}

static void waited(struct aws_waiter *w, int status,
                   const struct aws_result *last, void *data)
{
  struct deletion *d = data;
  char err[1200];

  (void)w;
  d->waiter = NULL;
  if (status && status != SR_ECANCELED)
    snprintf(d->error, sizeof(d->error), "endpoint %s was not deleted: %s",
             d->targets[d->next - 1].name,
             last && last->error_code ? sm_error(last, err, sizeof(err))
                                      : sr_strerror(status));
  next(d);
}

static void deleted(struct step_ctx *ctx, const struct aws_result *res,
                    void *data)
{
  struct deletion *d = data;
  struct target *t = &d->targets[d->next - 1];
  json_t *entry = json_pack("{s:s,s:s}", "kind", t->kind, "name", t->name);
  const json_t *in = step_inputs(ctx);
  char err[1200];
  int rc;

  /* A training job that already ended cannot be stopped: nothing to do. */
  if (res->error == 0 || sm_not_found(res) ||
      (strcmp(t->kind, "training_job") == 0 && res->error_code &&
       strcmp(res->error_code, "ValidationException") == 0)) {
    json_array_append_new(res->error ? d->gone : d->deleted, entry);
    step_ledger_mark_deleted(ctx, t->kind, t->name);
    if (res->error == 0 && strcmp(t->kind, "endpoint") == 0 &&
        json_is_true(json_object_get(in, "wait"))) {
      json_t *input = json_pack("{s:s}", "EndpointName", t->name);
      step_progress(ctx, "waiting for %s to go", t->name);
      rc = aws_waiter_start(
          step_aws(ctx), "sagemaker.EndpointDeleted", input,
          time(NULL) + json_integer_value(json_object_get(in, "max_wait")),
          NULL, waited, d, &d->waiter);
      json_decref(input);
      if (rc == 0)
        return;
    }
  } else {
    json_decref(entry);
    snprintf(d->error, sizeof(d->error), "%s %s: %s", t->op, t->name,
             sm_error(res, err, sizeof(err)));
  }
  next(d);
}

static void next(struct deletion *d)
{
  struct target *t;
  int rc;

  /* Stop at the first error: a config still used by a live endpoint
   * must not be attempted. */
  if (d->error[0] || d->canceled || d->next == d->n) {
    finish(d);
    return;
  }
  t = &d->targets[d->next++];
  step_progress(d->ctx, "%s %s", t->op, t->name);
  rc = sm_call(d->ctx, "sagemaker", t->op,
               json_pack("{s:s}", t->member, t->name), deleted, d);
  if (rc) {
    snprintf(d->error, sizeof(d->error), "%s %s: %s", t->op, t->name,
             sr_strerror(rc));
    finish(d);
  }
}

static int add_target(struct deletion *d, size_t k, const char *name)
{
  size_t i;

  for (i = 0; i < d->n; i++)
    if (d->targets[i].kind == kinds[k].kind &&
        strcmp(d->targets[i].name, name) == 0)
      return 0;
  d->targets[d->n].kind = kinds[k].kind;
  d->targets[d->n].op = kinds[k].op;
  d->targets[d->n].member = kinds[k].member;
  d->targets[d->n].name = strdup(name);
  if (d->targets[d->n].name == NULL)
    return SR_ENOMEM;
  d->n++;
  return 0;
}

static int delete_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  struct deletion *d = calloc(1, sizeof(*d));
  json_t *ledger[NKINDS] = {NULL};
  size_t k, i, total = 0;
  int rc = 0;

  if (d == NULL)
    return SR_ENOMEM;
  d->ctx = ctx;
  d->deleted = json_array();
  d->gone = json_array();
  for (k = 0; k < NKINDS; k++) {
    total += json_array_size(json_object_get(in, kinds[k].input));
    if (json_is_true(json_object_get(in, "created_by_this_run"))) {
      ledger[k] = step_ledger_list(ctx, kinds[k].kind);
      total += json_array_size(ledger[k]);
    }
  }
  d->targets = calloc(total + 1, sizeof(*d->targets));
  if (d->targets == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  for (k = 0; k < NKINDS && rc == 0; k++) {
    const json_t *names = json_object_get(in, kinds[k].input);
    for (i = 0; i < json_array_size(names) && rc == 0; i++)
      if (json_string_value(json_array_get(names, i)))
        rc = add_target(d, k, json_string_value(json_array_get(names, i)));
    for (i = 0; i < json_array_size(ledger[k]) && rc == 0; i++) {
      json_t *row = json_array_get(ledger[k], i);
      /* Already deleted by an earlier cleanup: nothing to do. */
      if (!json_is_null(json_object_get(row, "deleted_at")) &&
          json_object_get(row, "deleted_at"))
        continue;
      rc = add_target(d, k, json_string_value(json_object_get(row, "name")));
    }
  }
out:
  for (k = 0; k < NKINDS; k++)
    json_decref(ledger[k]);
  if (rc) {
    deletion_free(d);
    return rc;
  }
  step_set_data(ctx, d);
  next(d);
  return 0;
}

static void delete_cancel(struct step_ctx *ctx)
{
  struct deletion *d = step_data(ctx);

  /* Cleanup is what cancellation relies on: finish the deletions in
   * flight, start no new ones. */
  if (d)
    d->canceled = 1;
}

const struct step_exec sagemaker_delete_exec = {STEP_ABI_VERSION, delete_start,
                                                delete_cancel, NULL};
