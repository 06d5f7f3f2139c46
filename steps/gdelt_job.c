/* Source fetching and parallel scanning for the gdelt.* steps
 * (gdelt_job.h). */
#include "gdelt_job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/http.h"
#include "../runner/s3.h"
#include "../runner/sigv4.h"
#include "source_identity.h"

/* Chunks smaller than this are not worth a work item of their own. */
#define CHUNK_MIN ((uint64_t)8 << 20)
#define CHUNKS_MAX 16

struct chunk {
  struct gdelt_job *job;
  uint64_t start, end;
  struct gdelt_scan scan;
  int rc;
  char err[256];
};

struct gdelt_job {
  struct step_ctx *ctx;
  const struct gdelt_spec *spec;
  char *source;
  char *local_path; /* the file scanned */
  int downloaded;   /* local_path is ours to remove */
  char *dir;
  int (*finish)(struct gdelt_job *job, char *err, size_t errlen);
  gdelt_job_done_cb done;
  void *data;

  atomic_int cancel; /* set on the loop, read by the work items */
  int status;
  char err[512];
  const char *kind;
  uint64_t size;
  struct stat st; /* file:// sources: for the identity */
  int have_st;

  struct chunk *chunks;
  size_t nchunks, nalloc, pending;
  struct gdelt_scan scan;
  int scan_live;

  struct http_client *http;
  struct http_request *req;
  struct s3_op *s3op;
  int http_closing, free_requested, done_called;
};

/* ---- Helpers ------------------------------------------------------------- */

char *gdelt_file_uri_path(const char *uri)
{
  const char *p;
  struct buf b;

  if (strncmp(uri, "file://", 7) != 0)
    return NULL;
  p = uri + 7;
  if (strncmp(p, "localhost/", 10) == 0)
    p += 9;
  buf_init(&b, 1 << 16);
  if (sigv4_uri_decode(&b, p, strlen(p), 0) != 0)
    return NULL;
  if (buf_len(&b) == 0 || strlen(buf_str(&b)) != buf_len(&b)) {
    buf_free(&b);
    return NULL;
  }
  return buf_detach(&b, NULL);
}

int gdelt_job_common_inputs(const json_t *in, struct gdelt_spec *spec,
                            char *err, size_t errlen)
{
  const char *layout = json_string_value(json_object_get(in, "layout"));
  json_t *max_rows = json_object_get(in, "max_rows");

  spec->layout = GDELT_LAYOUT_AUTO;
  if (layout && gdelt_layout_parse(layout, &spec->layout) != 0) {
    snprintf(err, errlen, "unknown layout \"%s\"", layout);
    return SR_EINVAL;
  }
  spec->max_rows = 0;
  if (json_is_integer(max_rows) && json_integer_value(max_rows) > 0)
    spec->max_rows = (uint64_t)json_integer_value(max_rows);
  spec->seed_compat = json_is_true(json_object_get(in, "seed_compat"));
  return 0;
}

static int mkdir_p(const char *path)
{
  struct buf b;
  const char *p;
  int rc = 0;

  buf_init(&b, 1 << 16);
  for (p = path; rc == 0 && *p; p++) {
    if (*p == '/' && p != path) {
      if (mkdir(buf_str(&b), 0700) != 0 && errno != EEXIST)
        rc = SR_EIO;
    }
    if (rc == 0 && buf_addc(&b, *p))
      rc = SR_ENOMEM;
  }
  if (rc == 0 && mkdir(buf_str(&b), 0700) != 0 && errno != EEXIST)
    rc = SR_EIO;
  buf_free(&b);
  return rc;
}

const char *gdelt_job_dir(struct gdelt_job *job)
{
  const char *id = step_instance_id(job->ctx), *p;
  struct buf b;

  if (job->dir)
    return job->dir;
  buf_init(&b, 1 << 16);
  buf_addf(&b, "%s/gdelt-", step_work_dir(job->ctx));
  /* The instance id names the directory: "prepare[1979]" ->
   * "prepare_1979_". */
  for (p = id; *p; p++) {
    char c = *p;
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '-' || c == '.';
    buf_addc(&b, ok ? c : '_');
  }
  if (buf_addf(&b, "-%d", step_attempt(job->ctx)))
    return NULL;
  if (mkdir_p(buf_str(&b)) != 0) {
    buf_free(&b);
    return NULL;
  }
  job->dir = buf_detach(&b, NULL);
  return job->dir;
}

void *gdelt_job_data(const struct gdelt_job *job)
{
  return job->data;
}

struct gdelt_scan *gdelt_job_scan(struct gdelt_job *job)
{
  return &job->scan;
}

const char *gdelt_job_source_kind(const struct gdelt_job *job)
{
  return job->kind ? job->kind : "plain";
}

const atomic_int *gdelt_job_cancel_flag(const struct gdelt_job *job)
{
  return &job->cancel;
}

/* ---- Completion ---------------------------------------------------------- */

static void job_release(struct gdelt_job *job)
{
  size_t i;

  for (i = 0; job->chunks && i < job->nalloc; i++)
    gdelt_scan_free(&job->chunks[i].scan);
  free(job->chunks);
  if (job->scan_live)
    gdelt_scan_free(&job->scan);
  if (job->downloaded && job->local_path)
    unlink(job->local_path);
  if (job->dir)
    rmdir(job->dir); /* only when empty: the step may keep files */
  free(job->local_path);
  free(job->source);
  free(job->dir);
  free(job);
}

static void http_closed(void *data)
{
  struct gdelt_job *job = data;

  job->http = NULL;
  job->http_closing = 0;
  if (job->free_requested)
    job_release(job);
}

void gdelt_job_free(struct gdelt_job *job)
{
  if (job == NULL)
    return;
  if (job->http_closing) {
    job->free_requested = 1;
    return;
  }
  job_release(job);
}

static void job_finish(struct gdelt_job *job, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void job_finish(struct gdelt_job *job, int status, const char *fmt, ...)
{
  char message[sizeof(job->err)];
  va_list ap;

  if (job->done_called)
    return;
  job->done_called = 1;
  if (job->cancel && status != 0)
    status = SR_ECANCELED;
  job->status = status;
  /* fmt's arguments may point into job->err: format aside first. */
  message[0] = '\0';
  if (fmt) {
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
  }
  memcpy(job->err, message, sizeof(job->err));
  if (status == SR_ECANCELED)
    snprintf(job->err, sizeof(job->err), "canceled");
  job->done(job, status, job->err, job->data);
}

/* ---- Scanning ------------------------------------------------------------ */

static void merge_work(void *data)
{
  struct gdelt_job *job = data;
  size_t i;
  int rc = 0;

  job->status = 0;
  job->err[0] = '\0';
  /* The first chunk's own failure (I/O, cancel) in file order wins; a
   * scan error (strict, missing: error) is kept in the merged scan with
   * its line number. */
  for (i = 0; i < job->nchunks; i++) {
    struct chunk *c = &job->chunks[i];
    if (c->rc && !(c->scan.error && c->rc == c->scan.error)) {
      job->status = c->rc;
      snprintf(job->err, sizeof(job->err), "%s", c->err);
      return;
    }
  }
  gdelt_scan_init(&job->scan, job->spec, 1);
  job->scan_live = 1;
  for (i = 0; rc == 0 && i < job->nchunks; i++)
    rc = gdelt_scan_merge(&job->scan, &job->chunks[i].scan);
  if (rc == 0 && job->scan.error) {
    rc = job->scan.error;
    snprintf(job->err, sizeof(job->err), "line %llu: %s",
             (unsigned long long)job->scan.error_line, job->scan.error_text);
  } else if (rc) {
    snprintf(job->err, sizeof(job->err), "%s", sr_strerror(rc));
  }
  if (rc == 0 && job->finish && !job->cancel)
    rc = job->finish(job, job->err, sizeof(job->err));
  if (rc == 0 && job->cancel)
    rc = SR_ECANCELED;
  job->status = rc;
}

static void merge_after(void *data, int status)
{
  struct gdelt_job *job = data;

  (void)status;
  if (job->status)
    job_finish(job, job->status, "%s", job->err);
  else
    job_finish(job, 0, NULL);
}

static void chunk_work(void *data)
{
  struct chunk *c = data;
  struct gdelt_job *job = c->job;
  struct gdelt_source *src = NULL;

  c->rc = gdelt_source_open(job->local_path, &src, c->err, sizeof(c->err));
  if (c->rc == 0)
    c->rc = gdelt_scan_source(job->spec, &c->scan, src, c->start, c->end,
                              &job->cancel, c->err, sizeof(c->err));
  gdelt_source_close(src);
}

static void chunk_after(void *data, int status)
{
  struct chunk *c = data;
  struct gdelt_job *job = c->job;
  int rc;

  (void)status;
  if (--job->pending > 0)
    return;
  step_progress(job->ctx, "merging");
  rc = step_work(job->ctx, merge_work, merge_after, job);
  if (rc)
    job_finish(job, rc, "cannot queue work: %s", sr_strerror(rc));
}

/* Off the loop: open the local file to learn its kind and size. */
static void probe_work(void *data)
{
  struct gdelt_job *job = data;
  struct gdelt_source *src = NULL;

  job->status =
      gdelt_source_open(job->local_path, &src, job->err, sizeof(job->err));
  if (job->status == 0 && !job->downloaded)
    job->have_st = stat(job->local_path, &job->st) == 0;
  if (job->status == 0) {
    job->kind = gdelt_source_kind(src);
    job->size = gdelt_source_size(src);
  }
  gdelt_source_close(src);
}

/* Queues one work item per chunk of the file; compressed sources are one
 * chunk, since inflating is a stream. */
static void probe_after(void *data, int status)
{
  struct gdelt_job *job = data;
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  uint64_t per;
  size_t i, n = 1;
  int rc;

  (void)status;
  if (job->status) {
    job_finish(job, job->status, "%s", job->err);
    return;
  }
  /* What was read, for a resume to compare (step.h). */
  if (job->have_st)
    step_set_identity(
        job->ctx, source_identity_make(job->source, NULL, NULL, -1, &job->st));
  if (job->cancel) {
    job_finish(job, SR_ECANCELED, NULL);
    return;
  }
  /* max_rows reads the first lines: one chunk, in order. */
  if (job->size > 0 && job->spec->max_rows == 0) {
    n = (size_t)((job->size + CHUNK_MIN - 1) / CHUNK_MIN);
    if (ncpu < 1)
      ncpu = 1;
    if (n > (size_t)ncpu)
      n = (size_t)ncpu;
    if (n > CHUNKS_MAX)
      n = CHUNKS_MAX;
    if (n < 1)
      n = 1;
  }
  job->chunks = calloc(n, sizeof(*job->chunks));
  if (job->chunks == NULL) {
    job_finish(job, SR_ENOMEM, "out of memory");
    return;
  }
  job->nchunks = job->nalloc = n;
  per = job->size / n;
  for (i = 0; i < n; i++) {
    struct chunk *c = &job->chunks[i];
    c->job = job;
    c->start = per * i;
    c->end = i + 1 == n ? 0 : per * (i + 1);
    gdelt_scan_init(&c->scan, job->spec, i == 0);
  }
  step_progress(job->ctx, "reading the %s source (%zu part%s)", job->kind, n,
                n == 1 ? "" : "s");
  for (i = 0; i < n; i++) {
    rc = step_work(job->ctx, chunk_work, chunk_after, &job->chunks[i]);
    if (rc) {
      /* The queued ones still complete; the merge then reports a
       * cancel. */
      job->cancel = 1;
      job->nchunks = i;
      if (i == 0)
        job_finish(job, rc, "cannot queue work: %s", sr_strerror(rc));
      return;
    }
    job->pending++;
  }
}

static int scan_start(struct gdelt_job *job)
{
  return step_work(job->ctx, probe_work, probe_after, job);
}

/* ---- Fetching ------------------------------------------------------------ */

static void http_done(struct http_request *req, const struct http_response *res,
                      void *data)
{
  struct gdelt_job *job = data;

  (void)req;
  job->req = NULL;
  job->http_closing = 1;
  http_client_close(job->http, http_closed, job);
  if (res->error) {
    job_finish(job, res->error, "GET %s: %s", job->source,
               res->error_text && res->error_text[0] ? res->error_text
                                                     : sr_strerror(res->error));
    return;
  }
  if (res->status != 200) {
    job_finish(job, SR_EIO, "GET %s: HTTP %d", job->source, res->status);
    return;
  }
  step_set_identity(
      job->ctx,
      source_identity_make(job->source, http_response_header(res, "etag"),
                           http_response_header(res, "last-modified"),
                           res->body_bytes, NULL));
  if (job->cancel) {
    job_finish(job, SR_ECANCELED, NULL);
    return;
  }
  if (scan_start(job) != 0)
    job_finish(job, SR_ENOMEM, "cannot queue work");
}

static int fetch_http(struct gdelt_job *job)
{
  struct http_request_opts o;
  const char *dir = gdelt_job_dir(job);
  struct buf path;
  int rc;

  if (dir == NULL)
    return SR_EIO;
  buf_init(&path, 1 << 16);
  if (buf_addf(&path, "%s/source", dir))
    return SR_ENOMEM;
  job->local_path = buf_detach(&path, NULL);
  job->downloaded = 1;
  rc = http_client_new(step_loop(job->ctx), &job->http);
  if (rc)
    return rc;
  memset(&o, 0, sizeof(o));
  o.method = "GET";
  o.url = job->source;
  o.response_file = job->local_path;
  rc = http_request_start(job->http, &o, http_done, job, &job->req);
  if (rc) {
    job->http_closing = 1;
    http_client_close(job->http, http_closed, job);
  }
  step_progress(job->ctx, "downloading %s", job->source);
  return rc;
}

static void s3_done(struct s3_op *op, const struct s3_result *r, void *data)
{
  struct gdelt_job *job = data;

  (void)op;
  job->s3op = NULL;
  if (r->error) {
    job_finish(job, r->error, "GET %s: %s%s%s", job->source,
               r->error_code ? r->error_code : sr_strerror(r->error),
               r->error_message ? ": " : "",
               r->error_message ? r->error_message : "");
    return;
  }
  if (job->cancel) {
    job_finish(job, SR_ECANCELED, NULL);
    return;
  }
  step_set_identity(job->ctx,
                    source_identity_make(job->source, r->etag, r->last_modified,
                                         r->content_length, NULL));
  if (scan_start(job) != 0)
    job_finish(job, SR_ENOMEM, "cannot queue work");
}

static int fetch_s3(struct gdelt_job *job)
{
  struct aws_client *aws = step_aws(job->ctx);
  const char *dir = gdelt_job_dir(job);
  struct s3_uri u = {NULL, NULL};
  struct buf path;
  int rc;

  if (aws == NULL || dir == NULL)
    return aws == NULL ? SR_ENOTSUP : SR_EIO;
  rc = s3_uri_parse(job->source, &u);
  if (rc)
    return rc;
  buf_init(&path, 1 << 16);
  if (buf_addf(&path, "%s/source", dir)) {
    s3_uri_free(&u);
    return SR_ENOMEM;
  }
  job->local_path = buf_detach(&path, NULL);
  job->downloaded = 1;
  rc = s3_download_file(aws, u.bucket, u.key, job->local_path, s3_done, job,
                        &job->s3op);
  s3_uri_free(&u);
  if (rc == 0)
    step_progress(job->ctx, "downloading %s", job->source);
  return rc;
}

static int job_start(const struct gdelt_job_opts *o, struct gdelt_job **out)
{
  struct gdelt_job *job;
  int rc;

  *out = NULL;
  job = calloc(1, sizeof(*job));
  if (job == NULL)
    return SR_ENOMEM;
  job->ctx = o->ctx;
  job->spec = o->spec;
  job->finish = o->finish;
  job->done = o->done;
  job->data = o->data;
  job->source = strdup(o->source);
  if (job->source == NULL) {
    free(job);
    return SR_ENOMEM;
  }
  if (strncmp(o->source, "file://", 7) == 0) {
    job->local_path = gdelt_file_uri_path(o->source);
    if (job->local_path == NULL) {
      job_release(job);
      return SR_EINVAL;
    }
    rc = scan_start(job);
    if (rc) {
      job_release(job);
      return rc;
    }
    *out = job;
    return 0;
  }
  if (strncmp(o->source, "http://", 7) == 0 ||
      strncmp(o->source, "https://", 8) == 0) {
    rc = fetch_http(job);
    if (rc) {
      gdelt_job_free(job);
      return rc;
    }
    *out = job;
    return 0;
  }
  if (strncmp(o->source, "s3://", 5) == 0) {
    rc = fetch_s3(job);
    if (rc) {
      job_release(job);
      return rc;
    }
    *out = job;
    return 0;
  }
  job_release(job);
  return SR_ENOTSUP;
}

int gdelt_job_start(const struct gdelt_job_opts *o, struct gdelt_job **out,
                    char *err, size_t errlen)
{
  int rc = job_start(o, out);

  if (rc == 0)
    return 0;
  if (rc == SR_ENOTSUP && strncmp(o->source, "s3://", 5) == 0)
    snprintf(err, errlen, "cannot read %s: this run has no AWS client",
             o->source);
  else if (rc == SR_ENOTSUP)
    snprintf(err, errlen,
             "cannot read %s: sources are s3://, file:// or http(s)://",
             o->source);
  else if (rc == SR_EINVAL)
    snprintf(err, errlen, "cannot read %s: not a valid URI", o->source);
  else
    snprintf(err, errlen, "cannot read %s: %s", o->source, sr_strerror(rc));
  return rc;
}

void gdelt_job_cancel(struct gdelt_job *job)
{
  job->cancel = 1;
  if (job->req) {
    http_request_cancel(job->req);
    job->req = NULL;
  }
  if (job->s3op) {
    s3_op_cancel(job->s3op);
    job->s3op = NULL;
  }
}
