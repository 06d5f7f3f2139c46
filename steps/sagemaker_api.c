#include "sagemaker_api.h"

#include <stdlib.h>
#include <string.h>

#include "../runner/buf.h"
#include "../runner/error.h"

struct sm_call_state {
  struct step_ctx *ctx;
  json_t *input;
  sm_cb cb;
  void *data;
};

static void sm_call_done(struct aws_call *call, const struct aws_result *res,
                         void *data)
{
  struct sm_call_state *st = data;

  (void)call;
  st->cb(st->ctx, res, st->data);
  json_decref(st->input);
  free(st);
}

int sm_call(struct step_ctx *ctx, const char *service, const char *operation,
            json_t *input, sm_cb cb, void *data)
{
  struct sm_call_state *st = calloc(1, sizeof(*st));
  struct aws_call_opts o;
  int rc;

  if (st == NULL) {
    json_decref(input);
    return SR_ENOMEM;
  }
  st->ctx = ctx;
  st->input = input ? input : json_object();
  st->cb = cb;
  st->data = data;
  memset(&o, 0, sizeof(o));
  o.service = service;
  o.operation = operation;
  o.input = st->input;
  rc = aws_call_start(step_aws(ctx), &o, sm_call_done, st, NULL);
  if (rc) {
    json_decref(st->input);
    free(st);
  }
  return rc;
}

int sm_not_found(const struct aws_result *res)
{
  const char *code = res->error_code, *msg = res->error_message;

  if (code == NULL)
    return 0;
  if (strcmp(code, "ResourceNotFound") == 0 ||
      strcmp(code, "ResourceNotFoundException") == 0)
    return 1;
  return strcmp(code, "ValidationException") == 0 && msg &&
         (strstr(msg, "Could not find") || strstr(msg, "not found") ||
          strstr(msg, "does not exist"));
}

int sm_in_use(const struct aws_result *res)
{
  const char *code = res->error_code, *msg = res->error_message;

  if (code == NULL)
    return 0;
  if (strcmp(code, "ResourceInUse") == 0)
    return 1;
  return strcmp(code, "ValidationException") == 0 && msg &&
         strstr(msg, "already exist");
}

const char *sm_error(const struct aws_result *res, char *buf, size_t len)
{
  if (res->error_code)
    snprintf(buf, len, "%s: %s", res->error_code,
             res->error_message ? res->error_message : "");
  else if (res->http_status)
    snprintf(buf, len, "%s (HTTP %d)", sr_strerror(res->error),
             res->http_status);
  else if (res->response && res->response->error_text &&
           res->response->error_text[0])
    snprintf(buf, len, "%s: %s", sr_strerror(res->error),
             res->response->error_text);
  else
    snprintf(buf, len, "%s", sr_strerror(res->error));
  return buf;
}

/* Accounts that host linear-learner's image per region (the SageMaker
 * Python SDK's image_uri_config/linear-learner.json). */
static const struct {
  const char *region, *account;
} ll_registries[] = {
    {"af-south-1", "455444449433"},     {"ap-east-1", "286214385809"},
    {"ap-northeast-1", "351501993468"}, {"ap-northeast-2", "835164637446"},
    {"ap-northeast-3", "364406365360"}, {"ap-south-1", "991648021394"},
    {"ap-southeast-1", "475088953585"}, {"ap-southeast-2", "712309505854"},
    {"ca-central-1", "469771592824"},   {"cn-north-1", "390948362332"},
    {"cn-northwest-1", "387376663083"}, {"eu-central-1", "664544806723"},
    {"eu-north-1", "669576153137"},     {"eu-south-1", "257386234256"},
    {"eu-west-1", "438346466558"},      {"eu-west-2", "644912444149"},
    {"eu-west-3", "749696950732"},      {"me-south-1", "249704162688"},
    {"sa-east-1", "855470959533"},      {"us-east-1", "382416733822"},
    {"us-east-2", "404615174143"},      {"us-gov-west-1", "226302683700"},
    {"us-west-1", "632365934929"},      {"us-west-2", "174872318107"},
};

int sm_algorithm_image(const char *algorithm, const char *region, char *out,
                       size_t len)
{
  size_t i;

  if (algorithm == NULL || strcmp(algorithm, "linear-learner") != 0)
    return SR_EINVAL;
  for (i = 0; i < sizeof(ll_registries) / sizeof(ll_registries[0]); i++)
    if (strcmp(ll_registries[i].region, region) == 0) {
      snprintf(out, len, "%s.dkr.ecr.%s.amazonaws.com%s/linear-learner:1",
               ll_registries[i].account, region,
               strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
      return 0;
    }
  return SR_EINVAL;
}

/* A tag value in SageMaker's alphabet (letters, digits, spaces and
 * _.:/=+-@): "variant[5,ShardedByS3Key].train" becomes
 * "variant:5+ShardedByS3Key.train". At most 256 characters. */
static void tag_value(const char *id, char out[257])
{
  size_t i, n = 0;

  for (i = 0; id[i] && n < 256; i++) {
    char c = id[i];
    if (c == '[')
      out[n++] = ':';
    else if (c == ',')
      out[n++] = '+';
    else if (c == ']')
      continue;
    else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || strchr(" _.:/=+-@", c))
      out[n++] = c;
    else
      out[n++] = '_';
  }
  out[n] = '\0';
}

json_t *sm_tags(const struct step_ctx *ctx, const json_t *user_tags)
{
  json_t *tags = json_array();
  const char *key;
  json_t *v;
  char step[257];

  json_object_foreach((json_t *)user_tags, key, v)
  {
    json_array_append_new(
        tags, json_pack("{s:s,s:s}", "Key", key, "Value",
                        json_string_value(v) ? json_string_value(v) : ""));
  }
  json_array_append_new(tags, json_pack("{s:s,s:s}", "Key", "sagerun:run",
                                        "Value", step_run_id(ctx)));
  tag_value(step_instance_id(ctx), step);
  json_array_append_new(
      tags, json_pack("{s:s,s:s}", "Key", "sagerun:step", "Value", step));
  return tags;
}

void sm_name(struct step_ctx *ctx, const char *default_prefix, char out[64])
{
  const char *prefix =
      json_string_value(json_object_get(step_inputs(ctx), "name"));

  step_resource_name(ctx, prefix ? prefix : default_prefix, out, 64);
}

/* ---- create or re-attach ------------------------------------------------ */

static void create_finish(struct sm_create *c, int status, const char *arn,
                          const json_t *described, const char *error)
{
  if (status == 0)
    step_ledger_add(c->ctx, c->kind, c->name, arn);
  c->done(c, status, arn, described, error);
}

static void described(struct step_ctx *ctx, const struct aws_result *res,
                      void *data);

static int describe(struct sm_create *c)
{
  return sm_call(c->ctx, "sagemaker", c->describe_op,
                 json_pack("{s:s}", c->name_member, c->name), described, c);
}

static void created(struct step_ctx *ctx, const struct aws_result *res,
                    void *data)
{
  struct sm_create *c = data;
  char err[1200];

  (void)ctx;
  if (res->error == 0) {
    create_finish(
        c, 0, json_string_value(json_object_get(res->output, c->arn_member)),
        NULL, NULL);
    return;
  }
  /* The name is ours (deterministic per run and step): an earlier run
   * created it and died before recording it. */
  if (sm_in_use(res) && describe(c) == 0)
    return;
  create_finish(c, SR_EIO, NULL, NULL, sm_error(res, err, sizeof(err)));
}

static int create(struct sm_create *c)
{
  json_t *details = json_pack("{s:s}", "operation", c->create_op);
  int rc;

  rc = step_journal_intent(c->ctx, c->kind, c->name, details);
  json_decref(details);
  if (rc)
    return rc;
  rc = sm_call(c->ctx, "sagemaker", c->create_op, json_incref(c->input),
               created, c);
  return rc;
}

static void described(struct step_ctx *ctx, const struct aws_result *res,
                      void *data)
{
  struct sm_create *c = data;
  char err[1200];
  int rc;

  (void)ctx;
  if (res->error == 0) {
    create_finish(
        c, 0, json_string_value(json_object_get(res->output, c->arn_member)),
        res->output, NULL);
    return;
  }
  if (sm_not_found(res)) {
    /* The intent was written but the resource never came to be. */
    rc = create(c);
    if (rc == 0)
      return;
    create_finish(c, rc, NULL, NULL, sr_strerror(rc));
    return;
  }
  create_finish(c, SR_EIO, NULL, NULL, sm_error(res, err, sizeof(err)));
}

int sm_create_start(struct sm_create *c)
{
  const json_t *intent = step_journal_find(c->ctx, c->kind);

  if (intent && json_string_value(json_object_get(intent, "name"))) {
    snprintf(c->name, sizeof(c->name), "%s",
             json_string_value(json_object_get(intent, "name")));
    step_log(c->ctx, "re-attaching to %s %s", c->kind, c->name);
    return describe(c);
  }
  return create(c);
}
