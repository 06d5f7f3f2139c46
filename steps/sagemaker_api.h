/* What the SageMaker and CloudWatch Logs steps share: one JSON call with
 * a callback, error classification as the waiters and retries need it,
 * built-in algorithm images, tags, and the create-or-re-attach pattern
 * that makes creation safe to resume. */
#ifndef SAGERUN_SAGEMAKER_API_H
#define SAGERUN_SAGEMAKER_API_H

#include <jansson.h>

#include "../runner/aws.h"
#include "step.h"

typedef void (*sm_cb)(struct step_ctx *ctx, const struct aws_result *res,
                      void *data);

/* Calls operation of service ("sagemaker" or "logs") with input (the
 * reference is taken). cb runs once from the loop. Returns 0 or a
 * negative code (cb never runs). */
int sm_call(struct step_ctx *ctx, const char *service, const char *operation,
            json_t *input, sm_cb cb, void *data);

/* A SageMaker "does not exist" answer: ValidationException "Could not
 * find ..." / "... not found", or ResourceNotFound. */
int sm_not_found(const struct aws_result *res);
/* The name is taken: ResourceInUse, or "already existing". */
int sm_in_use(const struct aws_result *res);
/* "Code: message" of a failed call, into buf. */
const char *sm_error(const struct aws_result *res, char *buf, size_t len);

/* The container image of a built-in algorithm in region, into out.
 * Returns 0 or SR_EINVAL for an unknown algorithm or region. */
int sm_algorithm_image(const char *algorithm, const char *region, char *out,
                       size_t len);

/* [{"Key": k, "Value": v}, ...] from the step's tags plus sagerun's own
 * (sagerun:run, sagerun:step). New reference. */
json_t *sm_tags(const struct step_ctx *ctx, const json_t *user_tags);

/* The SageMaker name for this step: the `name` input as prefix (or the
 * default), made unique per run, step instance and attempt. */
void sm_name(struct step_ctx *ctx, const char *default_prefix, char out[64]);

/* Create-or-re-attach. The resource's intent is journalled before the
 * Create call; a resumed run finds the intent and describes the resource
 * by name instead of creating it again, and a Create that finds the name
 * taken (the earlier run created it before dying) re-attaches too. */
struct sm_create {
  struct step_ctx *ctx;
  const char *kind;        /* ledger kind: "model", "endpoint", ... */
  const char *create_op;   /* "CreateModel" */
  const char *describe_op; /* "DescribeModel" */
  const char *name_member; /* "ModelName" */
  const char *arn_member;  /* "ModelArn" */
  char name[64];
  json_t *input; /* Create's input (owned) */
  /* Called once: status 0 with the ARN (and the Describe output when the
   * resource was found rather than created), or an error message. */
  void (*done)(struct sm_create *c, int status, const char *arn,
               const json_t *described, const char *error);
  void *data;
};

/* Starts; returns 0 (done will run) or a negative code. */
int sm_create_start(struct sm_create *c);

#endif
