/* sagemaker.endpoint: CreateEndpoint from an endpoint config, then wait
 * until it is InService (botocore's EndpointInService waiter). On
 * cancel the wait stops; the endpoint stays in the run's ledger, where
 * finally: cleanup or `sagerun destroy` finds it. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runner/error.h"
#include "sagemaker_api.h"

struct endpoint {
  struct sm_create create;
  struct aws_waiter *waiter;
  int canceled;
  char arn[512];
};

static void endpoint_free(struct endpoint *ep)
{
  json_decref(ep->create.input);
  free(ep);
}

static void on_poll(const struct aws_result *r, void *data)
{
  struct endpoint *ep = data;
  const char *status =
      json_string_value(json_object_get(r->output, "EndpointStatus"));

  if (status)
    step_progress(ep->create.ctx, "%s", status);
}

static void waited(struct aws_waiter *w, int status,
                   const struct aws_result *last, void *data)
{
  struct endpoint *ep = data;
  struct step_ctx *ctx = ep->create.ctx;
  const char *reason =
      last ? json_string_value(json_object_get(last->output, "FailureReason"))
           : NULL;
  char err[1200];

  (void)w;
  step_set_data(ctx, NULL);
  if (status == 0) {
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s}", "name", ep->create.name, "arn",
                        ep->arn, "status", "InService"),
              NULL);
  } else if (status == SR_ECANCELED) {
    step_done(ctx, status, NULL, "canceled while %s was being created",
              ep->create.name);
  } else if (reason) {
    step_done(ctx, status, NULL, "endpoint %s failed: %s", ep->create.name,
              reason);
  } else {
    step_done(ctx, status, NULL, "endpoint %s did not reach InService: %s",
              ep->create.name,
              last && last->error ? sm_error(last, err, sizeof(err))
                                  : sr_strerror(status));
  }
  endpoint_free(ep);
}

static void created(struct sm_create *c, int status, const char *arn,
                    const json_t *described, const char *error)
{
  struct endpoint *ep = (struct endpoint *)c;
  struct step_ctx *ctx = c->ctx;
  const json_t *in = step_inputs(ctx);
  json_t *input;
  int rc;

  (void)described;
  if (status) {
    step_set_data(ctx, NULL);
    step_done(ctx, status, NULL, "%s", error);
    endpoint_free(ep);
    return;
  }
  snprintf(ep->arn, sizeof(ep->arn), "%s",
           arn ? arn : "(known after CreateEndpoint)");
  if (ep->canceled) {
    step_set_data(ctx, NULL);
    step_done(ctx, SR_ECANCELED, NULL, "canceled while %s was being created",
              c->name);
    endpoint_free(ep);
    return;
  }
  if (!json_is_true(json_object_get(in, "wait"))) {
    step_set_data(ctx, NULL);
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s}", "name", c->name, "arn", ep->arn,
                        "status", "Creating"),
              NULL);
    endpoint_free(ep);
    return;
  }
  step_progress(ctx, "Creating");
  input = json_pack("{s:s}", "EndpointName", c->name);
  rc = aws_waiter_start(step_aws(ctx), "sagemaker.EndpointInService", input,
                        time(NULL) +
                            json_integer_value(json_object_get(in, "max_wait")),
                        on_poll, waited, ep, &ep->waiter);
  json_decref(input);
  if (rc) {
    step_set_data(ctx, NULL);
    step_done(ctx, rc, NULL, "cannot wait for %s: %s", c->name,
              sr_strerror(rc));
    endpoint_free(ep);
  }
}

static int endpoint_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  struct endpoint *ep = calloc(1, sizeof(*ep));
  struct sm_create *c = &ep->create;
  int rc;

  if (ep == NULL)
    return SR_ENOMEM;
  c->ctx = ctx;
  c->kind = "endpoint";
  c->create_op = "CreateEndpoint";
  c->describe_op = "DescribeEndpoint";
  c->name_member = "EndpointName";
  c->arn_member = "EndpointArn";
  c->done = created;
  sm_name(ctx, "endpoint", c->name);
  c->input = json_pack("{s:s,s:O,s:o}", "EndpointName", c->name,
                       "EndpointConfigName", json_object_get(in, "config"),
                       "Tags", sm_tags(ctx, json_object_get(in, "tags")));
  step_set_data(ctx, ep);
  rc = c->input ? sm_create_start(c) : SR_ENOMEM;
  if (rc) {
    step_set_data(ctx, NULL);
    endpoint_free(ep);
  }
  return rc;
}

static void endpoint_cancel(struct step_ctx *ctx)
{
  struct endpoint *ep = step_data(ctx);

  if (ep == NULL)
    return;
  /* A Create in flight finishes first; then the step ends canceled. */
  ep->canceled = 1;
  if (ep->waiter)
    aws_waiter_cancel(ep->waiter);
}

const struct step_exec sagemaker_endpoint_exec = {
    STEP_ABI_VERSION, endpoint_start, endpoint_cancel, NULL};
