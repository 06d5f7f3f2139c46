/* sagemaker.evaluate: scores test data on an endpoint. The data (S3
 * objects or a prefix, RecordIO-protobuf or CSV with the label in
 * label_column) is downloaded, split into payloads of at most
 * max_payload_bytes (the invoke limit is 6 MB), sent with at most
 * `concurrency` invocations in flight, and the predictions are compared
 * with the labels: MSE, MAE, R², rows and throughput. Parsing and
 * payload building run on the thread pool; the invocations on the loop.
 * (The seed sent one batch at a time and used 5 MB batches.) */
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/floattext.h"
#include "../runner/recordio.h"
#include "../runner/s3.h"
#include "sagemaker_api.h"

#define EVAL_MAX_RECORD (64u << 20)

static unsigned long eval_files; /* names download files (loop only) */

struct evaluate;

struct payload {
  struct buf body;
  float *labels;
  size_t rows;
  struct evaluate *owner; /* set once all payloads are built */
};

struct evaluate {
  struct step_ctx *ctx;
  /* Objects to score. */
  char **keys;
  char *bucket;
  size_t nkeys, next_key;
  char **files;
  /* Payloads and the invocations. */
  struct payload *payloads;
  size_t npayloads, next_payload, done_payloads;
  int inflight;
  /* Running sums for the metrics. */
  double n, sum_err2, sum_abs, sum_y, sum_y2;
  double started_ms;
  int canceled;
  char error[1024];
  struct s3_op *download;
};

static void eval_free(struct evaluate *e)
{
  size_t i;

  for (i = 0; i < e->nkeys; i++) {
    free(e->keys[i]);
    if (e->files && e->files[i]) {
      unlink(e->files[i]);
      free(e->files[i]);
    }
  }
  free(e->keys);
  free(e->files);
  free(e->bucket);
  for (i = 0; i < e->npayloads; i++) {
    buf_free(&e->payloads[i].body);
    free(e->payloads[i].labels);
  }
  free(e->payloads);
  free(e);
}

static void finish(struct evaluate *e)
{
  struct step_ctx *ctx = e->ctx;
  double seconds = (uv_now(step_loop(ctx)) - e->started_ms) / 1e3;
  double mean, ss_tot;

  step_set_data(ctx, NULL);
  if (e->error[0]) {
    step_done(ctx, SR_EIO, NULL, "%s", e->error);
  } else if (e->canceled) {
    step_done(ctx, SR_ECANCELED, NULL, "canceled");
  } else if (step_planning(ctx)) {
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "mse",
                        "(known after InvokeEndpoint)", "mae",
                        "(known after InvokeEndpoint)", "r2",
                        "(known after InvokeEndpoint)", "rows",
                        "(known after GetObject)", "payloads",
                        "(known after GetObject)", "seconds",
                        "(known after the run)", "rows_per_second",
                        "(known after the run)"),
              NULL);
  } else if (e->n == 0) {
    step_done(ctx, SR_EINVAL, NULL, "the test data has no rows");
  } else {
    mean = e->sum_y / e->n;
    ss_tot = e->sum_y2 - e->n * mean * mean;
    step_done(ctx, 0,
              json_pack("{s:f,s:f,s:o,s:I,s:I,s:f,s:f}", "mse",
                        e->sum_err2 / e->n, "mae", e->sum_abs / e->n, "r2",
                        ss_tot > 0 ? json_real(1 - e->sum_err2 / ss_tot)
                                   : json_null(),
                        "rows", (json_int_t)e->n, "payloads",
                        (json_int_t)e->npayloads, "seconds", seconds,
                        "rows_per_second", seconds > 0 ? e->n / seconds : 0.0),
              NULL);
  }
  eval_free(e);
}

/* ---- invoking ----------------------------------------------------------- */

static void invoke_next(struct evaluate *e);

static void invoked(struct aws_call *call, const struct aws_result *res,
                    void *data)
{
  struct payload *p = data;
  struct evaluate *e = NULL;
  json_t *preds;
  size_t i;
  char err[1200];

  (void)call;
  e = p->owner;
  e->inflight--;
  e->done_payloads++;
  if (res->error) {
    if (!e->error[0])
      snprintf(e->error, sizeof(e->error), "InvokeEndpoint: %s",
               sm_error(res, err, sizeof(err)));
  } else if (!step_planning(e->ctx)) {
    json_t *body = res->output;
    json_t *parsed = NULL;
    if (body == NULL) {
      parsed = json_loadb(buf_str(&res->response->body),
                          buf_len(&res->response->body), 0, NULL);
      body = parsed;
    }
    preds = json_object_get(body, "predictions");
    if (json_array_size(preds) != p->rows) {
      if (!e->error[0])
        snprintf(e->error, sizeof(e->error),
                 "the endpoint returned %zu predictions for %zu rows",
                 json_array_size(preds), p->rows);
    } else {
      for (i = 0; i < p->rows; i++) {
        json_t *score = json_object_get(json_array_get(preds, i), "score");
        double y = p->labels[i], yhat = json_number_value(score);
        e->n++;
        e->sum_err2 += (y - yhat) * (y - yhat);
        e->sum_abs += fabs(y - yhat);
        e->sum_y += y;
        e->sum_y2 += y * y;
      }
    }
    json_decref(parsed);
  }
  buf_free(&p->body);
  if (e->done_payloads % 8 == 0 || e->done_payloads == e->npayloads)
    step_progress(e->ctx, "%zu of %zu payloads scored", e->done_payloads,
                  e->npayloads);
  invoke_next(e);
}

static void invoke_next(struct evaluate *e)
{
  const json_t *in = step_inputs(e->ctx);
  int limit = (int)json_integer_value(json_object_get(in, "concurrency"));
  struct aws_call_opts o;
  struct buf path;
  int rc;

  while (!e->error[0] && !e->canceled && e->inflight < limit &&
         e->next_payload < e->npayloads) {
    struct payload *p = &e->payloads[e->next_payload++];
    struct http_header accept = {"Accept", "application/json"};
    buf_init(&path, 1024);
    buf_adds(&path, "/endpoints/");
    buf_adds(&path, json_string_value(json_object_get(in, "endpoint")));
    buf_adds(&path, "/invocations");
    memset(&o, 0, sizeof(o));
    o.service = "sagemaker-runtime";
    o.operation = "InvokeEndpoint";
    o.method = "POST";
    o.path = buf_str(&path);
    o.body = buf_str(&p->body);
    o.body_len = buf_len(&p->body);
    o.content_type = json_string_value(json_object_get(in, "content_type"));
    o.headers = &accept;
    o.nheaders = 1;
    rc = aws_call_start(step_aws(e->ctx), &o, invoked, p, NULL);
    buf_free(&path);
    if (rc) {
      snprintf(e->error, sizeof(e->error), "InvokeEndpoint: %s",
               sr_strerror(rc));
      break;
    }
    e->inflight++;
  }
  if (e->inflight == 0)
    finish(e);
}

/* ---- building payloads (thread pool) ------------------------------------ */

struct build {
  struct evaluate *e;
  const char *content_type, *format;
  size_t cap;
  long label_column;
  int status;
  char error[512];
};

/* Adds one row to the payload list, starting a new payload when this
 * one would pass the cap. */
static int add_row(struct build *b, const float *x, size_t dim, float y)
{
  struct evaluate *e = b->e;
  struct payload *p;
  struct buf row;
  size_t i;
  int rc = 0;

  buf_init(&row, 1 << 20);
  if (strcmp(b->content_type, "application/json") == 0) {
    buf_adds(&row, "{\"features\":[");
    for (i = 0; i < dim; i++) {
      if (i)
        buf_addc(&row, ',');
      floattext_add(&row, x[i]);
    }
    buf_adds(&row, "]}");
  } else if (strcmp(b->content_type, "text/csv") == 0) {
    for (i = 0; i < dim; i++) {
      if (i)
        buf_addc(&row, ',');
      floattext_add(&row, x[i]);
    }
    buf_addc(&row, '\n');
  } else {
    rc = recordio_write_dense(&row, x, dim, NULL, 0, 0);
  }
  if (rc)
    goto out;
  p = e->npayloads ? &e->payloads[e->npayloads - 1] : NULL;
  /* JSON wraps rows in {"instances":[...]}: 16 bytes of envelope. */
  if (p == NULL || buf_len(&p->body) + buf_len(&row) + 16 > b->cap) {
    struct payload *grown =
        realloc(e->payloads, (e->npayloads + 1) * sizeof(*grown));
    if (grown == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
    e->payloads = grown;
    p = &e->payloads[e->npayloads++];
    memset(p, 0, sizeof(*p));
    buf_init(&p->body, b->cap + 64);
    if (strcmp(b->content_type, "application/json") == 0)
      buf_adds(&p->body, "{\"instances\":[");
  } else if (strcmp(b->content_type, "application/json") == 0) {
    buf_addc(&p->body, ',');
  }
  rc = buf_add(&p->body, buf_str(&row), buf_len(&row));
  if (rc == 0) {
    float *l = realloc(p->labels, (p->rows + 1) * sizeof(float));
    if (l == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
    p->labels = l;
    p->labels[p->rows++] = y;
  }
out:
  buf_free(&row);
  return rc;
}

static int build_recordio(struct build *b, const char *file)
{
  struct recordio_reader r;
  const void *data;
  size_t len, dim = 0;
  float *x = NULL;
  int fd = open(file, O_RDONLY), rc = 0;

  if (fd < 0)
    return SR_EIO;
  recordio_reader_init_fd(&r, fd, EVAL_MAX_RECORD);
  while (rc == 0 && (rc = recordio_next(&r, &data, &len)) == 1) {
    struct recordio_example ex;
    float y;
    rc = recordio_example_decode(data, len, &ex);
    if (rc)
      break;
    if (dim == 0) {
      dim = ex.features.nshape ? (size_t)ex.features.shape[0]
                               : ex.features.nvalues;
      x = calloc(dim ? dim : 1, sizeof(float));
    }
    if (x == NULL || recordio_tensor_dense(&ex.features, x, dim) != 0) {
      recordio_example_free(&ex);
      rc = x ? SR_EINVAL : SR_ENOMEM;
      break;
    }
    y = ex.label.nvalues && ex.label.f32 ? ex.label.f32[0] : 0.0f;
    rc = add_row(b, x, dim, y);
    recordio_example_free(&ex);
  }
  if (rc == 0 || rc == 1)
    rc = 0;
  recordio_reader_free(&r);
  close(fd);
  free(x);
  return rc;
}

static int build_csv(struct build *b, const char *file)
{
  FILE *f = fopen(file, "r");
  char *line = NULL;
  size_t cap = 0, dim;
  ssize_t n;
  float x[4096];
  int rc = 0;

  if (f == NULL)
    return SR_EIO;
  while (rc == 0 && (n = getline(&line, &cap, f)) > 0) {
    char *p = line, *end;
    float y = 0;
    long col = 0;
    dim = 0;
    while (*p && *p != '\n' && dim < 4096) {
      double v = strtod(p, &end);
      if (end == p) {
        rc = SR_EINVAL;
        break;
      }
      if (col++ == b->label_column)
        y = (float)v;
      else
        x[dim++] = (float)v;
      p = *end == ',' ? end + 1 : end;
      if (*end != ',')
        break;
    }
    if (rc == 0 && col > 0)
      rc = add_row(b, x, dim, y);
  }
  free(line);
  fclose(f);
  return rc;
}

static void build_work(void *data)
{
  struct build *b = data;
  size_t i;

  for (i = 0; i < b->e->nkeys && b->status == 0; i++) {
    b->status = strcmp(b->format, "csv") == 0
                    ? build_csv(b, b->e->files[i])
                    : build_recordio(b, b->e->files[i]);
    if (b->status)
      snprintf(b->error, sizeof(b->error), "cannot read s3://%s/%s: %s",
               b->e->bucket, b->e->keys[i], sr_strerror(b->status));
  }
}

static void build_done(void *data, int status)
{
  struct build *b = data;
  struct evaluate *e = b->e;
  size_t i;

  if (status == 0 && b->status)
    snprintf(e->error, sizeof(e->error), "%s", b->error);
  for (i = 0; i < e->npayloads; i++) {
    struct payload *p = &e->payloads[i];
    if (strcmp(b->content_type, "application/json") == 0)
      buf_adds(&p->body, "]}");
    p->owner = e;
  }
  free(b);
  step_progress(e->ctx, "%zu payloads", e->npayloads);
  invoke_next(e);
}

/* ---- downloading ------------------------------------------------------- */

static void download_next(struct evaluate *e);

static void downloaded(struct s3_op *op, const struct s3_result *r, void *data)
{
  struct evaluate *e = data;
  char err[1200];

  (void)op;
  e->download = NULL;
  if (r->error && !e->error[0])
    snprintf(e->error, sizeof(e->error), "GetObject s3://%s/%s: %s", e->bucket,
             e->keys[e->next_key - 1],
             r->error_code ? r->error_code
             : r->aws      ? sm_error(r->aws, err, sizeof(err))
                           : sr_strerror(r->error));
  download_next(e);
}

static void start_build(struct evaluate *e)
{
  const json_t *in = step_inputs(e->ctx);
  struct build *b = calloc(1, sizeof(*b));

  if (b == NULL) {
    snprintf(e->error, sizeof(e->error), "out of memory");
    finish(e);
    return;
  }
  b->e = e;
  b->content_type = json_string_value(json_object_get(in, "content_type"));
  b->format = json_string_value(json_object_get(in, "data_format"));
  b->cap = (size_t)json_integer_value(json_object_get(in, "max_payload_bytes"));
  b->label_column =
      (long)json_integer_value(json_object_get(in, "label_column"));
  if (step_planning(e->ctx)) {
    /* One invocation shows what a run sends; rows are not known. */
    float zero[1] = {0};
    add_row(b, zero, 1, 0);
    build_done(b, 0);
    return;
  }
  if (step_work(e->ctx, build_work, build_done, b) != 0) {
    free(b);
    snprintf(e->error, sizeof(e->error), "cannot queue the work");
    finish(e);
  }
}

static void download_next(struct evaluate *e)
{
  struct buf path;
  int rc;

  if (e->error[0] || e->canceled) {
    finish(e);
    return;
  }
  if (e->next_key == e->nkeys) {
    start_build(e);
    return;
  }
  /* Evaluations of several variants run at once in one process: each
   * object gets a file of its own. */
  buf_init(&path, 4096);
  buf_addf(&path, "%s/evaluate-%d-%lu.data", step_work_dir(e->ctx), getpid(),
           ++eval_files);
  e->files[e->next_key] = buf_detach(&path, NULL);
  step_progress(e->ctx, "downloading %s", e->keys[e->next_key]);
  if (step_planning(e->ctx)) {
    /* The recorder answers; there is no file to write under plan. */
    struct s3_get_opts go;
    memset(&go, 0, sizeof(go));
    go.bucket = e->bucket;
    go.key = e->keys[e->next_key];
    rc = s3_get_object(step_aws(e->ctx), &go, downloaded, e, &e->download);
  } else {
    rc = s3_download_file(step_aws(e->ctx), e->bucket, e->keys[e->next_key],
                          e->files[e->next_key], downloaded, e, &e->download);
  }
  e->next_key++;
  if (rc) {
    snprintf(e->error, sizeof(e->error), "GetObject: %s", sr_strerror(rc));
    finish(e);
  }
}

/* s3://bucket/key, one or several (same bucket), or s3://bucket/prefix/
 * for every object under it (listed at run time). */
static void listed(struct s3_op *op, const struct s3_result *r, void *data)
{
  struct evaluate *e = data;
  size_t i;

  (void)op;
  if (r->error) {
    snprintf(e->error, sizeof(e->error), "ListObjectsV2 s3://%s: %s", e->bucket,
             r->error_code ? r->error_code : sr_strerror(r->error));
    finish(e);
    return;
  }
  free(e->keys[0]);
  free(e->keys);
  free(e->files);
  e->nkeys = 0;
  e->keys = calloc(r->nobjects + 1, sizeof(*e->keys));
  e->files = calloc(r->nobjects + 1, sizeof(*e->files));
  for (i = 0; e->keys && i < r->nobjects; i++)
    e->keys[e->nkeys++] = strdup(r->objects[i].key);
  download_next(e);
}

static int eval_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  const json_t *data = json_object_get(in, "data");
  struct evaluate *e = calloc(1, sizeof(*e));
  size_t i, n = json_is_array(data) ? json_array_size(data) : 1;

  if (e == NULL)
    return SR_ENOMEM;
  e->ctx = ctx;
  e->started_ms = (double)uv_now(step_loop(ctx));
  e->keys = calloc(n + 1, sizeof(*e->keys));
  e->files = calloc(n + 1, sizeof(*e->files));
  if (e->keys == NULL || e->files == NULL) {
    eval_free(e);
    return SR_ENOMEM;
  }
  for (i = 0; i < n; i++) {
    const json_t *item = json_is_array(data) ? json_array_get(data, i) : data;
    struct s3_uri u;
    if (s3_uri_parse(json_string_value(item), &u) != 0) {
      eval_free(e);
      step_done(ctx, SR_EINVAL, NULL,
                "data: expected s3://bucket/key, "
                "found %s",
                json_string_value(item) ? json_string_value(item) : "?");
      return 0;
    }
    if (e->bucket && strcmp(e->bucket, u.bucket) != 0) {
      s3_uri_free(&u);
      eval_free(e);
      step_done(ctx, SR_EINVAL, NULL, "data: expected objects of one bucket");
      return 0;
    }
    if (e->bucket == NULL)
      e->bucket = strdup(u.bucket);
    e->keys[e->nkeys++] = strdup(u.key);
    s3_uri_free(&u);
  }
  step_set_data(ctx, e);
  if (e->nkeys == 1 && e->keys[0][0] &&
      e->keys[0][strlen(e->keys[0]) - 1] == '/') {
    struct s3_list_opts lo;
    memset(&lo, 0, sizeof(lo));
    lo.bucket = e->bucket;
    lo.prefix = e->keys[0];
    if (s3_list_all(step_aws(ctx), &lo, listed, e, NULL) != 0) {
      step_set_data(ctx, NULL);
      eval_free(e);
      return SR_ENOMEM;
    }
    return 0;
  }
  download_next(e);
  return 0;
}

static void eval_cancel(struct step_ctx *ctx)
{
  struct evaluate *e = step_data(ctx);

  if (e == NULL)
    return;
  e->canceled = 1;
  if (e->download)
    s3_op_cancel(e->download);
}

const struct step_exec sagemaker_evaluate_exec = {STEP_ABI_VERSION, eval_start,
                                                  eval_cancel, NULL};
