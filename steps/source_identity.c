/* Identities of sources: see source_identity.h. */
#include "source_identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../runner/error.h"
#include "../runner/http.h"
#include "../runner/s3.h"
#include "gdelt_job.h"

json_t *source_identity_make(const char *source, const char *etag,
                             const char *last_modified, long long size,
                             const struct stat *st)
{
  json_t *id = json_pack("{s:s}", "source", source);
  int rc = id == NULL;

  if (rc == 0 && etag && *etag)
    rc = json_object_set_new(id, "etag", json_string(etag));
  else if (rc == 0 && last_modified && *last_modified)
    rc = json_object_set_new(id, "last_modified", json_string(last_modified));
  if (rc == 0 && st)
    size = (long long)st->st_size;
  if (rc == 0 && size >= 0)
    rc = json_object_set_new(id, "size", json_integer(size));
  if (rc == 0 && st) {
    char mtime[48];

    snprintf(mtime, sizeof(mtime), "%lld.%09ld", (long long)st->st_mtim.tv_sec,
             (long)st->st_mtim.tv_nsec);
    rc = json_object_set_new(id, "mtime", json_string(mtime));
  }
  if (rc) {
    json_decref(id);
    return NULL;
  }
  return id;
}

/* One check in flight. */
struct check {
  struct step_ctx *ctx;
  char *source;
  uv_fs_t fs;
  struct http_client *http;
  json_t *found; /* handed over once the client has closed */
};

static void check_end(struct check *c, json_t *identity)
{
  struct step_ctx *ctx = c->ctx;

  free(c->source);
  free(c);
  step_identified(ctx, identity);
}

static void stat_done(uv_fs_t *fs)
{
  struct check *c = fs->data;
  json_t *id = NULL;

  if (fs->result == 0) {
    struct stat st;

    memset(&st, 0, sizeof(st));
    st.st_size = (off_t)fs->statbuf.st_size;
    st.st_mtim.tv_sec = (time_t)fs->statbuf.st_mtim.tv_sec;
    st.st_mtim.tv_nsec = (long)fs->statbuf.st_mtim.tv_nsec;
    id = source_identity_make(c->source, NULL, NULL, -1, &st);
  }
  uv_fs_req_cleanup(fs);
  check_end(c, id);
}

static void head_s3_done(struct s3_op *op, const struct s3_result *r,
                         void *data)
{
  struct check *c = data;

  (void)op;
  check_end(c, r->error
                   ? NULL
                   : source_identity_make(c->source, r->etag, r->last_modified,
                                          r->content_length, NULL));
}

static void http_closed(void *data)
{
  struct check *c = data;

  check_end(c, c->found);
}

static void head_http_done(struct http_request *req,
                           const struct http_response *res, void *data)
{
  struct check *c = data;
  const char *len;

  (void)req;
  if (res->error == 0 && res->status == 200) {
    len = http_response_header(res, "content-length");
    c->found =
        source_identity_make(c->source, http_response_header(res, "etag"),
                             http_response_header(res, "last-modified"),
                             len ? strtoll(len, NULL, 10) : -1, NULL);
  }
  http_client_close(c->http, http_closed, c);
}

int source_identity_check(struct step_ctx *ctx)
{
  const char *source =
      json_string_value(json_object_get(step_inputs(ctx), "source"));
  struct check *c;
  int rc = SR_ENOTSUP;

  if (source == NULL)
    return SR_EINVAL;
  c = calloc(1, sizeof(*c));
  if (c == NULL || (c->source = strdup(source)) == NULL) {
    free(c);
    return SR_ENOMEM;
  }
  c->ctx = ctx;
  if (strncmp(source, "file://", 7) == 0) {
    char *path = gdelt_file_uri_path(source);

    c->fs.data = c;
    rc = SR_EINVAL;
    if (path && uv_fs_stat(step_loop(ctx), &c->fs, path, stat_done) == 0)
      rc = 0;
    free(path);
  } else if (strncmp(source, "s3://", 5) == 0 && step_aws(ctx)) {
    struct s3_uri u = {NULL, NULL};

    rc = s3_uri_parse(source, &u);
    if (rc == 0)
      rc =
          s3_head_object(step_aws(ctx), u.bucket, u.key, head_s3_done, c, NULL);
    s3_uri_free(&u);
  } else if (strncmp(source, "http://", 7) == 0 ||
             strncmp(source, "https://", 8) == 0) {
    struct http_request_opts o;

    rc = http_client_new(step_loop(ctx), &c->http);
    if (rc == 0) {
      memset(&o, 0, sizeof(o));
      o.method = "HEAD";
      o.url = source;
      rc = http_request_start(c->http, &o, head_http_done, c, NULL);
      if (rc) {
        /* The close's callback ends the check: no step_identified twice. */
        http_client_close(c->http, http_closed, c);
        return 0;
      }
    }
  }
  if (rc) {
    free(c->source);
    free(c);
  }
  return rc;
}
