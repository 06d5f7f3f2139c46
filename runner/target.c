#include "target.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "http.h"

/* Waiters poll every 30-120 s against AWS; the local engine moves in
 * seconds, so its waiters poll this many times more often. */
#define LOCAL_WAITER_SPEEDUP 60.0

struct resolve {
  int done, status;
  struct aws_credentials *creds;
  char message[512];
};

static void resolved(int status, struct aws_credentials *creds,
                     const char *message, void *data)
{
  struct resolve *r = data;

  r->done = 1;
  r->status = status;
  r->creds = creds;
  snprintf(r->message, sizeof(r->message), "%s", message ? message : "");
}

static void http_closed(void *data)
{
  *(int *)data = 1;
}

/* The credential chain, run to completion on loop. */
static int resolve_credentials(uv_loop_t *loop, struct aws_credentials **out,
                               char *err, size_t errlen)
{
  struct http_client *http = NULL;
  struct resolve r;
  int rc, closed = 0;

  memset(&r, 0, sizeof(r));
  *out = NULL;
  rc = http_client_new(loop, &http);
  if (rc == 0)
    rc = aws_credentials_resolve(loop, http, NULL, resolved, &r);
  if (rc == 0)
    while (!r.done && uv_run(loop, UV_RUN_ONCE))
      ;
  if (http) {
    http_client_close(http, http_closed, &closed);
    while (!closed && uv_run(loop, UV_RUN_ONCE))
      ;
  }
  if (rc) {
    snprintf(err, errlen, "cannot look for AWS credentials: %s",
             sr_strerror(rc));
    return rc;
  }
  if (r.status) {
    snprintf(err, errlen, "%s", r.message);
    return r.status;
  }
  *out = r.creds;
  return 0;
}

int target_open(uv_loop_t *loop, const char *target, const char *region_flag,
                const char *wf_region, struct aws_client **out, char *region,
                size_t region_len, char *err, size_t errlen)
{
  struct aws_credentials local_creds, *creds = NULL;
  struct aws_client_opts o;
  char url[256], *r;
  int rc, local = strcmp(target, "local") == 0, found;

  *out = NULL;
  memset(&local_creds, 0, sizeof(local_creds));
  r = aws_region_resolve(region_flag ? region_flag : wf_region, NULL);
  snprintf(region, region_len, "%s", r ? r : "us-east-1");
  found = r != NULL;
  free(r);
  /* The embedded engine serves any region; AWS needs one chosen. */
  if (!local && !found) {
    snprintf(err, errlen,
             "no AWS region: set --region, the workflow's region, "
             "AWS_REGION or a profile region");
    return SR_EINVAL;
  }
  if (local) {
    rc = local_connect(url, sizeof(url), &local_creds, err, errlen);
    if (rc)
      return rc;
    creds = &local_creds;
  } else {
    rc = resolve_credentials(loop, &creds, err, errlen);
    if (rc)
      return rc;
  }
  memset(&o, 0, sizeof(o));
  o.loop = loop;
  o.region = region;
  o.local_url = local ? url : NULL;
  o.credentials = creds;
  o.waiter_speedup = local ? LOCAL_WAITER_SPEEDUP : 1;
  rc = aws_client_new(&o, out);
  if (rc)
    snprintf(err, errlen, "cannot create the AWS client: %s", sr_strerror(rc));
  if (local) {
    free(local_creds.access_key_id);
    free(local_creds.secret_access_key);
    free(local_creds.session_token);
  } else {
    aws_credentials_free(creds);
  }
  return rc;
}

static void aws_closed(void *data)
{
  *(int *)data = 1;
}

void target_close(uv_loop_t *loop, struct aws_client *aws)
{
  int closed = 0;

  if (aws == NULL)
    return;
  aws_client_close(aws, aws_closed, &closed);
  while (!closed && uv_run(loop, UV_RUN_ONCE))
    ;
}
