/* sagemaker.model: CreateModel from a training artifact, created once per
 * run and step (re-attached on resume). */
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"
#include "sagemaker_api.h"

static void model_done(struct sm_create *c, int status, const char *arn,
                       const json_t *described, const char *error)
{
  struct step_ctx *ctx = c->ctx;
  const char *image = json_string_value(
      json_object_get(json_object_get(c->input, "PrimaryContainer"), "Image"));

  (void)described;
  if (status)
    step_done(ctx, status, NULL, "%s", error);
  else
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s}", "name", c->name, "arn",
                        arn ? arn : "(known after CreateModel)", "image",
                        image ? image : ""),
              NULL);
  json_decref(c->input);
  free(c);
}

static int model_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  const char *image = json_string_value(json_object_get(in, "image"));
  struct sm_create *c = calloc(1, sizeof(*c));
  char resolved[256];
  json_t *container;
  int rc;

  if (c == NULL)
    return SR_ENOMEM;
  if (image == NULL &&
      sm_algorithm_image(json_string_value(json_object_get(in, "algorithm")),
                         step_region(ctx), resolved, sizeof(resolved)) != 0) {
    free(c);
    step_done(ctx, SR_EINVAL, NULL, "no %s image for region %s",
              json_string_value(json_object_get(in, "algorithm")),
              step_region(ctx));
    return 0;
  }
  c->ctx = ctx;
  c->kind = "model";
  c->create_op = "CreateModel";
  c->describe_op = "DescribeModel";
  c->name_member = "ModelName";
  c->arn_member = "ModelArn";
  c->done = model_done;
  sm_name(ctx, "model", c->name);
  container = json_pack("{s:s,s:O}", "Image", image ? image : resolved,
                        "ModelDataUrl", json_object_get(in, "model_data"));
  if (json_object_size(json_object_get(in, "environment")))
    json_object_set(container, "Environment",
                    json_object_get(in, "environment"));
  c->input =
      json_pack("{s:s,s:o,s:O,s:o}", "ModelName", c->name, "PrimaryContainer",
                container, "ExecutionRoleArn", json_object_get(in, "role"),
                "Tags", sm_tags(ctx, json_object_get(in, "tags")));
  rc = c->input ? sm_create_start(c) : SR_ENOMEM;
  if (rc) {
    json_decref(c->input);
    free(c);
  }
  return rc;
}

const struct step_exec sagemaker_model_exec = {
    STEP_ABI_VERSION, model_start, NULL /* one quick call: not cancelled */,
    NULL};
