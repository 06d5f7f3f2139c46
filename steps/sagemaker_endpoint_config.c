/* sagemaker.endpoint_config: CreateEndpointConfig with one production
 * variant serving a model; created once per run and step. */
#include <stdlib.h>

#include "../runner/error.h"
#include "sagemaker_api.h"

static void config_done(struct sm_create *c, int status, const char *arn,
                        const json_t *described, const char *error)
{
  (void)described;
  if (status)
    step_done(c->ctx, status, NULL, "%s", error);
  else
    step_done(c->ctx, 0,
              json_pack("{s:s,s:s}", "name", c->name, "arn",
                        arn ? arn : "(known after CreateEndpointConfig)"),
              NULL);
  json_decref(c->input);
  free(c);
}

static int config_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  struct sm_create *c = calloc(1, sizeof(*c));
  json_t *variant;
  int rc;

  if (c == NULL)
    return SR_ENOMEM;
  c->ctx = ctx;
  c->kind = "endpoint_config";
  c->create_op = "CreateEndpointConfig";
  c->describe_op = "DescribeEndpointConfig";
  c->name_member = "EndpointConfigName";
  c->arn_member = "EndpointConfigArn";
  c->done = config_done;
  sm_name(ctx, "config", c->name);
  variant = json_pack("{s:O,s:O,s:O,s:O,s:f}", "VariantName",
                      json_object_get(in, "variant_name"), "ModelName",
                      json_object_get(in, "model"), "InitialInstanceCount",
                      json_object_get(in, "instance_count"), "InstanceType",
                      json_object_get(in, "instance_type"),
                      "InitialVariantWeight", 1.0);
  c->input = json_pack("{s:s,s:[o],s:o}", "EndpointConfigName", c->name,
                       "ProductionVariants", variant, "Tags",
                       sm_tags(ctx, json_object_get(in, "tags")));
  rc = c->input ? sm_create_start(c) : SR_ENOMEM;
  if (rc) {
    json_decref(c->input);
    free(c);
  }
  return rc;
}

const struct step_exec sagemaker_endpoint_config_exec = {
    STEP_ABI_VERSION, config_start, NULL /* one quick call */, NULL};
