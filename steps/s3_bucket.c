/* s3.bucket: makes sure a bucket exists (HeadBucket, then CreateBucket in
 * the run's region when it is missing). Buckets hold data: sagerun never
 * deletes them, so they are not in the run's ledger. */
#include <stdlib.h>
#include <string.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "sagemaker_api.h"

struct bucket {
  struct step_ctx *ctx;
  char path[300];
};

static void done(struct bucket *b, int status, int created, const char *msg)
{
  struct step_ctx *ctx = b->ctx;

  if (status)
    step_done(ctx, status, NULL, "%s", msg);
  else
    step_done(ctx, 0,
              json_pack("{s:O,s:b}", "name",
                        json_object_get(step_inputs(ctx), "name"), "created",
                        created),
              NULL);
  free(b);
}

static void created(struct aws_call *call, const struct aws_result *res,
                    void *data)
{
  struct bucket *b = data;
  char err[1200], msg[1400];

  (void)call;
  /* Created meanwhile by someone else of this account: fine. */
  if (res->error == 0 ||
      (res->error_code &&
       strcmp(res->error_code, "BucketAlreadyOwnedByYou") == 0)) {
    done(b, 0, res->error == 0, NULL);
    return;
  }
  snprintf(msg, sizeof(msg), "CreateBucket %s: %s", b->path + 1,
           sm_error(res, err, sizeof(err)));
  done(b, SR_EIO, 0, msg);
}

static void headed(struct aws_call *call, const struct aws_result *res,
                   void *data)
{
  struct bucket *b = data;
  struct step_ctx *ctx = b->ctx;
  struct aws_call_opts o;
  struct buf body;
  char err[1200], msg[1400];
  int rc;

  (void)call;
  if (res->error == 0) {
    done(b, 0, 0, NULL);
    return;
  }
  if (res->http_status != 404) {
    snprintf(msg, sizeof(msg), "HeadBucket %s: %s%s", b->path + 1,
             sm_error(res, err, sizeof(err)),
             res->http_status == 403 ? " (it belongs to another account?)"
                                     : "");
    done(b, SR_EIO, 0, msg);
    return;
  }
  if (!json_is_true(json_object_get(step_inputs(ctx), "create"))) {
    snprintf(msg, sizeof(msg), "bucket %s does not exist", b->path + 1);
    done(b, SR_EIO, 0, msg);
    return;
  }
  buf_init(&body, 4096);
  /* us-east-1 takes no location constraint; every other region needs it. */
  if (strcmp(step_region(ctx), "us-east-1") != 0)
    buf_addf(&body,
             "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/"
             "2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
             "</CreateBucketConfiguration>",
             step_region(ctx));
  memset(&o, 0, sizeof(o));
  o.service = "s3";
  o.operation = "CreateBucket";
  o.method = "PUT";
  o.path = b->path;
  o.body = buf_len(&body) ? buf_str(&body) : NULL;
  o.body_len = buf_len(&body);
  o.content_type = buf_len(&body) ? "application/xml" : NULL;
  rc = aws_call_start(step_aws(ctx), &o, created, b, NULL);
  buf_free(&body);
  if (rc)
    done(b, rc, 0, "cannot send CreateBucket");
}

static int bucket_start(struct step_ctx *ctx)
{
  struct bucket *b = calloc(1, sizeof(*b));
  struct aws_call_opts o;
  int rc;

  if (b == NULL)
    return SR_ENOMEM;
  b->ctx = ctx;
  snprintf(b->path, sizeof(b->path), "/%s",
           json_string_value(json_object_get(step_inputs(ctx), "name")));
  memset(&o, 0, sizeof(o));
  o.service = "s3";
  o.operation = "HeadBucket";
  o.method = "HEAD";
  o.path = b->path;
  rc = aws_call_start(step_aws(ctx), &o, headed, b, NULL);
  if (rc)
    free(b);
  return rc;
}

const struct step_exec s3_bucket_exec = {STEP_ABI_VERSION, bucket_start,
                                         NULL /* two quick calls */, NULL};
