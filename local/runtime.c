/* SageMaker Runtime's InvokeEndpoint (aws-spec.md §3) on the local
 * engine: the front door checks, then the endpoint's hosting answers
 * (hosting.h).
 *
 * What a client sees, in the order the service checks:
 * - a body over 6 MiB (6,291,456 bytes): 413, "HTTP content length
 *   exceeded 6291456 bytes." (the front end refuses it before anything
 *   else, as it refused bodies over the old 5 MB limit);
 * - a request the model rejects (endpoint name pattern, header
 *   patterns): 400 ValidationError with the usual "N validation error(s)
 *   detected" text;
 * - an endpoint that does not exist or does not serve (Creating, Failed,
 *   Deleting), or whose name differs in case (InvokeEndpoint is
 *   case-sensitive): 400 ValidationError "Endpoint NAME of account ID
 *   not found.";
 * - a content type the model's container does not read: 424 ModelError,
 *   the container's 415 passed on as SageMaker passes container errors;
 * - everything else is the container's (hosting's) answer.
 *
 * Runtime's error code is ValidationError, not SageMaker's
 * ValidationException: the two services differ, and clients (botocore's
 * modeled exceptions) follow each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "awsmodel.h"
#include "engine.h"
#include "hosting.h"
#include "sagemaker.h"

#define RUNTIME_MAX_BODY 6291456 /* BodyBlob's max, 6 MiB */

/* Only read, loaded on first use (the engine is single-threaded). */
static struct awsmodel *runtime_model;

/* The content types linear-learner's inference container reads
 * (aws-spec.md §8), compared without parameters ("text/csv;
 * charset=utf-8" is text/csv). */
static const char *const runtime_content_types[] = {
    "text/csv", "application/json", "application/x-recordio-protobuf", NULL};

static int content_type_known(const char *ct)
{
  size_t len = strcspn(ct, ";"), i;

  while (len > 0 && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
    len--;
  for (i = 0; runtime_content_types[i]; i++)
    if (strlen(runtime_content_types[i]) == len &&
        strncasecmp(runtime_content_types[i], ct, len) == 0)
      return 1;
  return 0;
}

/* Checks the request against the runtime model, as the front end does. */
static int runtime_validate(const struct local_runtime_request *r,
                            struct local_error *err)
{
  json_t *in;
  struct buf msg;
  int rc;

  if (runtime_model == NULL) {
    rc = awsmodel_load("sagemaker-runtime", &runtime_model);
    if (rc < 0)
      return local_fail(err, 500, "InternalFailure",
                        "cannot load the runtime model: %s", sr_strerror(rc));
  }
  in = json_pack("{s:s, s:s}", "EndpointName", r->endpoint, "Body", "");
  if (in == NULL ||
      (r->content_type &&
       json_object_set_new(in, "ContentType", json_string(r->content_type)) !=
           0) ||
      (r->accept &&
       json_object_set_new(in, "Accept", json_string(r->accept)) != 0) ||
      (r->target_variant &&
       json_object_set_new(in, "TargetVariant",
                           json_string(r->target_variant)) != 0)) {
    json_decref(in);
    return local_fail(err, 500, "InternalFailure", "out of memory");
  }
  buf_init(&msg, (size_t)1 << 20);
  rc = awsmodel_validate(runtime_model, "InvokeEndpoint", in, &msg);
  if (rc == SR_EINVAL || rc == SR_EPARSE)
    rc = local_fail(err, 400, "ValidationError", "%s", buf_str(&msg));
  else if (rc < 0)
    rc = local_fail(err, 500, "InternalFailure", "out of memory");
  buf_free(&msg);
  json_decref(in);
  return rc;
}

int local_runtime_invoke(struct local_engine *e,
                         const struct local_runtime_request *r,
                         local_runtime_cb cb, void *arg,
                         struct local_error *err)
{
  struct local_runtime_request req = *r;
  struct local_hosting *h = NULL;
  int rc;

  if (r->len > RUNTIME_MAX_BODY)
    return local_fail(err, 413, "ValidationError",
                      "HTTP content length exceeded %d bytes.",
                      RUNTIME_MAX_BODY);
  rc = runtime_validate(r, err);
  if (rc < 0)
    return rc;
  if (local_sagemaker_endpoint_hosting(e, r->endpoint, &h) < 0)
    return local_fail(err, 400, "ValidationError",
                      "Endpoint %s of account %s not found.", r->endpoint,
                      local_engine_account(e));
  if (req.content_type == NULL || *req.content_type == '\0')
    req.content_type = "application/octet-stream";
  if (!content_type_known(req.content_type))
    return local_fail(err, 424, "ModelError",
                      "Received client error (415) from primary with "
                      "message \"unsupported content type %s; the model "
                      "reads text/csv, application/json and "
                      "application/x-recordio-protobuf\". See "
                      "/aws/sagemaker/Endpoints/%s in account %s for more "
                      "information.",
                      req.content_type, r->endpoint, local_engine_account(e));
  return local_hosting_invoke(h, &req, cb, arg, err);
}
