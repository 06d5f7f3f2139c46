/* Training runs: the interface is local/training.h; the worker and the
 * protocol are in local/worker.h.
 *
 * A run of a linear-learner job, all on the engine's loop:
 *
 *   Starting     the next loop turn (never inside local_training_start)
 *   Downloading  plan: list each channel's objects in the store, deal
 *                them to instances by distribution type, write every
 *                instance's /opt/ml files under DATA_DIR/training/JOB/;
 *                spawn one worker per instance (uv_spawn of this binary,
 *                `sagerun local worker`), which copies its objects
 *   Training     once every worker said DOWNLOADED; the engine is the
 *                coordinator of their sync points (it merges, averages
 *                and answers, see worker.h) and writes each worker's
 *                stdout and stderr lines to its log stream
 *   Uploading    every worker exited 0: algo-1's model/ is packed into
 *                model.tar.gz (tarball.h) at ModelArtifacts
 *   Completed    with algo-1's FinalMetricDataList
 *
 * Distribution (aws-spec.md section 10, our rule where SageMaker
 * publishes none): the keys under a channel's prefix, in byte order;
 * FullyReplicated gives every instance every object, ShardedByS3Key
 * gives the instance of rank r the objects whose index i has
 * i % N == r. Ranks are the hosts' order sorted as strings ("algo-1",
 * "algo-10", "algo-2", ...), as resourceconfig.json lists them. Each
 * object lands at input/data/CHANNEL/ plus the key after the prefix's
 * last "/".
 *
 * Failures: planning errors (missing bucket or objects) fail the job from
 * Downloading. A worker that exits non-zero fails it with the first 1,024
 * characters of its output/failure (the control plane trims), or with
 * its exit status when it wrote none; the other workers are killed at
 * once. A protocol breach (different sync ops, no training rows at all)
 * fails it the same way. StopTrainingJob sends SIGTERM to the workers and
 * SIGKILL TR_KILL_GRACE_MS later; the run reports Stopped once all have
 * exited and their pipes are drained.
 *
 * After the end, the copied input data is deleted (the job's Environment
 * may say SAGERUN_LOCAL_KEEP_INPUT=true to keep it); configuration,
 * model/ and output/ stay for inspection. */
#include "training.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/s3.h"
#include "engine.h"
#include "linear_learner.h"
#include "s3store.h"
#include "tarball.h"
#include "worker.h"

#define TR_GROUP "/aws/sagemaker/TrainingJobs"
#define TR_KILL_GRACE_MS 10000
#define TR_READ_CHUNK 65536
/* CloudWatch's largest event is 256 KiB less 26 bytes of overhead. */
#define TR_LINE_MAX (262144 - 26)
#define TR_REASON_MAX 1024

const char *const local_training_supported = "linear-learner";

enum tr_phase { TR_STARTING, TR_DOWNLOADING, TR_TRAINING, TR_OVER };
enum tr_kind { TR_CTL, TR_OUT, TR_ERR };

struct tr_stream {
  uv_pipe_t pipe;
  struct tr_worker *w;
  int kind;
  int open;      /* initialised, not yet closing */
  struct buf in; /* ctl: unparsed bytes; out, err: a partial line */
};

struct tr_worker {
  struct local_training *t;
  size_t rank;
  char host[32];
  char stream[320]; /* JOB/algo-N-EPOCHSECONDS */
  uv_process_t proc;
  int spawned, exited, proc_open;
  int64_t exit_status;
  int term_signal;
  struct tr_stream s[3];
  int downloaded;
  int pending; /* a REDUCE waits in msg */
  uint32_t op;
  struct buf msg;
};

struct local_training {
  struct local_engine *e;
  local_training_cb on_report;
  void *data;
  json_t *job;
  const char *name; /* in job */
  size_t n;
  struct tr_worker *w; /* by rank */
  uv_timer_t timer;
  enum tr_phase phase;
  int stopping, detached, killed, closing;
  char *failure;
  json_t *final;
  char dir[PATH_MAX];
  int keep_input;
  int handles; /* open libuv handles; freed at 0 once closing */
};

struct tr_write {
  uv_write_t req;
  char *data;
};

static void tr_maybe_end(struct local_training *t);

/* ---- small helpers ------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

int local_image_is_linear_learner(const char *image)
{
  const char *slash = strrchr(image, '/');
  const char *repo = slash ? slash + 1 : image;
  size_t len = strcspn(repo, ":@");

  return len == strlen("linear-learner") &&
         strncmp(repo, "linear-learner", len) == 0;
}

static int env_true(const json_t *job, const char *name)
{
  const char *v = jstr(json_object_get(job, "Environment"), name);

  return v && (strcmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

static int mkdirs(const char *path)
{
  char tmp[PATH_MAX];
  size_t i, len = strlen(path);

  if (len == 0 || len >= sizeof(tmp))
    return SR_ETOOBIG;
  memcpy(tmp, path, len + 1);
  for (i = 1; i <= len; i++) {
    if (tmp[i] != '/' && tmp[i] != '\0')
      continue;
    tmp[i] = '\0';
    if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
      return SR_EIO;
    tmp[i] = path[i];
  }
  return 0;
}

/* Removes dirfd/name and everything under it (symlinks are not
 * followed). */
static int remove_tree(int dirfd, const char *name)
{
  struct stat st;
  struct dirent *de;
  DIR *d;
  int fd, rc = 0;

  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : SR_EIO;
  if (!S_ISDIR(st.st_mode))
    return unlinkat(dirfd, name, 0) == 0 ? 0 : SR_EIO;
  fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return SR_EIO;
  d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return SR_EIO;
  }
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (remove_tree(fd, de->d_name) != 0)
      rc = SR_EIO;
  }
  closedir(d);
  if (rc == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) != 0)
    rc = SR_EIO;
  return rc;
}

static int write_json(const char *dir, const char *name, const json_t *doc)
{
  char path[PATH_MAX];

  if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
    return SR_ETOOBIG;
  return json_dump_file(doc, path, JSON_INDENT(1) | JSON_SORT_KEYS) == 0
             ? 0
             : SR_EIO;
}

/* Records the run's failure (the first one counts). */
static void tr_set_failure(struct local_training *t, const char *reason)
{
  if (t->failure == NULL)
    t->failure = strdup(reason);
}

static void tr_kill(struct local_training *t, int sig)
{
  size_t i;

  for (i = 0; i < t->n; i++)
    if (t->w[i].spawned && !t->w[i].exited)
      uv_process_kill(&t->w[i].proc, sig);
  if (sig == SIGKILL)
    t->killed = 1;
}

/* Fails the run and ends every worker now. */
static void tr_fail(struct local_training *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tr_fail(struct local_training *t, const char *fmt, ...)
{
  char reason[TR_REASON_MAX + 1];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(reason, sizeof(reason), fmt, ap);
  va_end(ap);
  tr_set_failure(t, reason);
  tr_kill(t, SIGKILL);
}

static void tr_report(struct local_training *t, const char *status,
                      const char *reason, const json_t *metrics)
{
  struct local_training_report r;

  if (t->detached)
    return;
  memset(&r, 0, sizeof(r));
  r.secondary_status = status;
  r.failure_reason = reason;
  r.final_metrics = metrics;
  t->on_report(t, &r, t->data);
}

/* ---- handles ----------------------------------------------------------- */

static void tr_free(struct local_training *t)
{
  size_t i, k;

  for (i = 0; t->w && i < t->n; i++) {
    for (k = 0; k < 3; k++)
      buf_free(&t->w[i].s[k].in);
    buf_free(&t->w[i].msg);
  }
  free(t->w);
  free(t->failure);
  json_decref(t->final);
  json_decref(t->job);
  free(t);
}

static void tr_closed(uv_handle_t *h)
{
  struct local_training *t = h->data;

  if (--t->handles == 0 && t->closing)
    tr_free(t);
}

static void tr_close_handle(struct local_training *t, uv_handle_t *h)
{
  h->data = t;
  uv_close(h, tr_closed);
}

static void tr_stream_close(struct tr_stream *s)
{
  if (!s->open)
    return;
  s->open = 0;
  tr_close_handle(s->w->t, (uv_handle_t *)&s->pipe);
}

/* Closes what is left; t is freed once every handle closed. Process
 * handles close when their process exited (tr_exit_cb). */
static void tr_close(struct local_training *t)
{
  size_t i, k;

  t->closing = 1;
  t->phase = TR_OVER;
  for (i = 0; i < t->n; i++)
    for (k = 0; k < 3; k++)
      tr_stream_close(&t->w[i].s[k]);
  if (!uv_is_closing((uv_handle_t *)&t->timer))
    tr_close_handle(t, (uv_handle_t *)&t->timer);
}

/* ---- logs --------------------------------------------------------------- */

static void tr_log_line(struct tr_worker *w, const char *line, size_t len)
{
  struct local_training *t = w->t;
  long long ms = (long long)(local_engine_now(t->e) * 1000.0);
  char *text;

  if (len == 0)
    return;
  text = malloc(len + 1);
  if (text == NULL)
    return;
  memcpy(text, line, len);
  text[len] = '\0';
  if (local_logs_put(t->e, TR_GROUP, w->stream, ms, text) < 0)
    local_engine_log(t->e, "training job %s: cannot write to log stream %s",
                     t->name, w->stream);
  free(text);
}

/* Sends complete lines of s->in to the stream; at_eof also the rest. */
static void tr_log_lines(struct tr_stream *s, int at_eof)
{
  const char *p = buf_str(&s->in), *end = p + buf_len(&s->in), *nl;
  sqlite3 *db = local_engine_db(s->w->t->e);
  int began = 0;
  struct buf rest;

  /* One transaction for the lot: every commit is a sync to disk. */
  if (sqlite3_get_autocommit(db) &&
      sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
    began = 1;
  while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL ||
         (size_t)(end - p) >= TR_LINE_MAX) {
    size_t len = nl ? (size_t)(nl - p) : TR_LINE_MAX;

    if (len > TR_LINE_MAX)
      len = TR_LINE_MAX;
    tr_log_line(s->w, p, len);
    p += nl && len == (size_t)(nl - p) ? len + 1 : len;
  }
  if (at_eof && p < end) {
    tr_log_line(s->w, p, (size_t)(end - p));
    p = end;
  }
  if (began)
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  buf_init(&rest, BUF_CAP_DEFAULT);
  if (p < end && buf_add(&rest, p, (size_t)(end - p)) != 0)
    buf_init(&rest, BUF_CAP_DEFAULT);
  buf_free(&s->in);
  s->in = rest;
}

/* ---- the coordinator -------------------------------------------------------
 */

static void tr_write_cb(uv_write_t *req, int status)
{
  struct tr_write *wr = req->data;

  (void)status; /* a worker that is gone fails the run by its exit */
  free(wr->data);
  free(wr);
}

static void tr_send(struct tr_worker *w, uint32_t type, uint32_t op,
                    const void *a, size_t alen, const void *b, size_t blen)
{
  struct local_worker_header h;
  struct tr_write *wr;
  uv_buf_t ub;

  if (!w->s[TR_CTL].open)
    return;
  wr = malloc(sizeof(*wr));
  if (wr)
    wr->data = malloc(sizeof(h) + alen + blen);
  if (wr == NULL || wr->data == NULL) {
    free(wr);
    tr_fail(w->t, "InternalServerError: out of memory");
    return;
  }
  h.type = type;
  h.op = op;
  h.len = alen + blen;
  memcpy(wr->data, &h, sizeof(h));
  if (alen)
    memcpy(wr->data + sizeof(h), a, alen);
  if (blen)
    memcpy(wr->data + sizeof(h) + alen, b, blen);
  wr->req.data = wr;
  ub = uv_buf_init(wr->data, (unsigned)(sizeof(h) + alen + blen));
  if (uv_write(&wr->req, (uv_stream_t *)&w->s[TR_CTL].pipe, &ub, 1,
               tr_write_cb) != 0) {
    free(wr->data);
    free(wr);
  }
}

/* Sends the same reply to every worker. */
static void tr_reply_all(struct local_training *t, uint32_t op,
                         const void *data, size_t len)
{
  size_t i;

  for (i = 0; i < t->n; i++)
    tr_send(&t->w[i], LOCAL_WORKER_REDUCE, op, data, len, NULL, 0);
}

/* Sync point 1: width check and merged scaler statistics. */
static void tr_reduce_moments(struct local_training *t)
{
  struct ll_moments all, one;
  size_t i, dim = 0, size;
  double *reply = NULL;

  for (i = 0; i < t->n; i++) {
    const double *p = (const double *)buf_str(&t->w[i].msg);
    size_t len = buf_len(&t->w[i].msg), d;

    if (len < sizeof(double) || p[0] < 0 || p[0] > 1e9) {
      tr_fail(t, "AlgorithmError: bad scaler message from %s", t->w[i].host);
      return;
    }
    d = (size_t)p[0];
    if (len != sizeof(double) * (d ? 1 + ll_moments_size(d) : 1)) {
      tr_fail(t, "AlgorithmError: bad scaler message from %s", t->w[i].host);
      return;
    }
    if (d && dim && d != dim) {
      tr_fail(t,
              "ClientError: the train channel's records have %zu features on "
              "one instance and %zu on %s",
              dim, d, t->w[i].host);
      return;
    }
    if (d)
      dim = d;
  }
  if (dim == 0) {
    tr_fail(t, "ClientError: No training data: the train channel has no "
               "records on any instance");
    return;
  }
  size = ll_moments_size(dim);
  if (ll_moments_init(&all, dim, 0) != 0) {
    tr_fail(t, "InternalServerError: out of memory");
    return;
  }
  if (ll_moments_init(&one, dim, 0) != 0) {
    ll_moments_free(&all);
    tr_fail(t, "InternalServerError: out of memory");
    return;
  }
  for (i = 0; i < t->n; i++) {
    const double *p = (const double *)buf_str(&t->w[i].msg);

    if (p[0] == 0)
      continue;
    if (ll_moments_import(&one, p + 1, size) == 0)
      ll_moments_merge(&all, &one);
  }
  reply = malloc((1 + size) * sizeof(double));
  if (reply) {
    reply[0] = (double)dim;
    ll_moments_export(&all, reply + 1);
    tr_reply_all(t, LOCAL_WORKER_OP_MOMENTS, reply,
                 (1 + size) * sizeof(double));
  } else {
    tr_fail(t, "InternalServerError: out of memory");
  }
  free(reply);
  ll_moments_free(&one);
  ll_moments_free(&all);
}

/* Sync point 2: the weighted mean of the parameter vectors. */
static void tr_reduce_mean(struct local_training *t)
{
  size_t len = buf_len(&t->w[0].msg), n, i;
  const float **vecs = calloc(t->n, sizeof(*vecs));
  double *weights = calloc(t->n, sizeof(*weights));
  float *out = NULL;

  if (vecs == NULL || weights == NULL)
    goto nomem;
  if (len < sizeof(double) || (len - sizeof(double)) % sizeof(float)) {
    tr_fail(t, "AlgorithmError: bad parameter message from %s", t->w[0].host);
    goto out;
  }
  n = (len - sizeof(double)) / sizeof(float);
  for (i = 0; i < t->n; i++) {
    const char *p = buf_str(&t->w[i].msg);

    memcpy(&weights[i], p, sizeof(double));
    /* The payload was copied to a malloc'ed buffer: p + 8 is aligned. */
    vecs[i] = (const float *)(const void *)(p + sizeof(double));
  }
  out = malloc(n ? n * sizeof(float) : 1);
  if (out == NULL)
    goto nomem;
  ll_params_mean(out, vecs, weights, t->n, n);
  tr_reply_all(t, LOCAL_WORKER_OP_MEAN, out, n * sizeof(float));
  goto out;
nomem:
  tr_fail(t, "InternalServerError: out of memory");
out:
  free(out);
  free(vecs);
  free(weights);
}

static void tr_reduce_sums(struct local_training *t, uint32_t op)
{
  size_t len = buf_len(&t->w[0].msg), n = len / sizeof(double), i, k;
  double *out;

  if (len % sizeof(double)) {
    tr_fail(t, "AlgorithmError: bad evaluation message from %s", t->w[0].host);
    return;
  }
  out = calloc(n ? n : 1, sizeof(double));
  if (out == NULL) {
    tr_fail(t, "InternalServerError: out of memory");
    return;
  }
  if (op == LOCAL_WORKER_OP_FIRST) {
    memcpy(out, buf_str(&t->w[0].msg), len);
  } else {
    for (i = 0; i < t->n; i++) {
      const double *p = (const double *)buf_str(&t->w[i].msg);

      for (k = 0; k < n; k++)
        out[k] += p[k];
    }
  }
  tr_reply_all(t, op, out, len);
  free(out);
}

/* Every worker sent a REDUCE: check they agree, answer all. */
static void tr_reduce(struct local_training *t)
{
  uint32_t op = t->w[0].op;
  size_t i;

  for (i = 1; i < t->n; i++)
    if (t->w[i].op != op || (op != LOCAL_WORKER_OP_MOMENTS &&
                             buf_len(&t->w[i].msg) != buf_len(&t->w[0].msg))) {
      tr_fail(t,
              "AlgorithmError: instances out of step: %s and %s sent "
              "different sync messages",
              t->w[0].host, t->w[i].host);
      return;
    }
  switch (op) {
  case LOCAL_WORKER_OP_MOMENTS:
    tr_reduce_moments(t);
    break;
  case LOCAL_WORKER_OP_MEAN:
    tr_reduce_mean(t);
    break;
  case LOCAL_WORKER_OP_SUM:
  case LOCAL_WORKER_OP_FIRST:
    tr_reduce_sums(t, op);
    break;
  default:
    tr_fail(t, "AlgorithmError: unknown sync operation %u", op);
    return;
  }
  for (i = 0; i < t->n; i++) {
    t->w[i].pending = 0;
    buf_reset(&t->w[i].msg);
  }
}

static void tr_on_message(struct tr_worker *w,
                          const struct local_worker_header *h,
                          const char *payload)
{
  struct local_training *t = w->t;
  size_t i;

  if (t->failure || t->stopping)
    return; /* the workers are being ended */
  switch (h->type) {
  case LOCAL_WORKER_DOWNLOADED:
    w->downloaded = 1;
    for (i = 0; i < t->n; i++)
      if (!t->w[i].downloaded)
        return;
    if (t->phase == TR_DOWNLOADING) {
      t->phase = TR_TRAINING;
      tr_report(t, "Training", NULL, NULL);
    }
    return;
  case LOCAL_WORKER_REDUCE:
    if (w->pending) {
      tr_fail(t, "AlgorithmError: %s sent a sync message out of turn", w->host);
      return;
    }
    buf_reset(&w->msg);
    if (buf_add(&w->msg, payload, (size_t)h->len) != 0) {
      tr_fail(t, "InternalServerError: out of memory");
      return;
    }
    w->op = h->op;
    w->pending = 1;
    for (i = 0; i < t->n; i++)
      if (!t->w[i].pending)
        return;
    tr_reduce(t);
    return;
  case LOCAL_WORKER_FINAL:
    if (w->rank == 0) {
      json_decref(t->final);
      t->final = json_loadb(payload, (size_t)h->len, 0, NULL);
    }
    return;
  default:
    tr_fail(t, "AlgorithmError: unknown message %u from %s", h->type, w->host);
  }
}

/* Handles the complete messages in the control stream's buffer. */
static void tr_ctl_data(struct tr_stream *s)
{
  const char *p = buf_str(&s->in), *end = p + buf_len(&s->in);
  struct local_worker_header h;
  struct buf rest;

  while ((size_t)(end - p) >= sizeof(h)) {
    memcpy(&h, p, sizeof(h));
    if (h.len > LOCAL_WORKER_MAX_MSG) {
      tr_fail(s->w->t, "AlgorithmError: oversized message from %s", s->w->host);
      p = end;
      break;
    }
    if ((size_t)(end - p) - sizeof(h) < h.len)
      break;
    tr_on_message(s->w, &h, p + sizeof(h));
    p += sizeof(h) + h.len;
  }
  buf_init(&rest, LOCAL_WORKER_MAX_MSG + sizeof(h));
  if (p < end && buf_add(&rest, p, (size_t)(end - p)) != 0)
    buf_init(&rest, LOCAL_WORKER_MAX_MSG + sizeof(h));
  buf_free(&s->in);
  s->in = rest;
}

/* ---- worker processes -----------------------------------------------------
 */

static int tr_worker_finished(const struct tr_worker *w)
{
  return !w->spawned ||
         (w->exited && !w->s[0].open && !w->s[1].open && !w->s[2].open);
}

/* What a failed worker says: its output/failure, else its status. */
static void tr_worker_failure(struct tr_worker *w)
{
  struct local_training *t = w->t;
  char path[PATH_MAX + 64], reason[TR_REASON_MAX + 1];
  size_t n = 0;
  FILE *f;

  snprintf(path, sizeof(path), "%s/%s/output/failure", t->dir, w->host);
  f = fopen(path, "r");
  if (f) {
    n = fread(reason, 1, TR_REASON_MAX, f);
    fclose(f);
  }
  reason[n] = '\0';
  if (n == 0) {
    if (w->term_signal)
      snprintf(reason, sizeof(reason),
               "AlgorithmError: instance %s was killed by signal %d", w->host,
               w->term_signal);
    else
      snprintf(reason, sizeof(reason),
               "AlgorithmError: instance %s exited with status %lld", w->host,
               (long long)w->exit_status);
  }
  tr_set_failure(t, reason);
}

static void tr_worker_check(struct tr_worker *w)
{
  struct local_training *t = w->t;

  if (!tr_worker_finished(w) || t->closing)
    return;
  if ((w->exit_status != 0 || w->term_signal != 0) && !t->stopping &&
      !t->killed && t->failure == NULL) {
    tr_worker_failure(w);
    tr_kill(t, SIGKILL);
  }
  tr_maybe_end(t);
}

static void tr_exit_cb(uv_process_t *proc, int64_t status, int term_signal)
{
  struct tr_worker *w = proc->data;

  w->exited = 1;
  w->exit_status = status;
  w->term_signal = term_signal;
  w->proc_open = 0;
  tr_close_handle(w->t, (uv_handle_t *)proc);
  tr_worker_check(w);
}

static void tr_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
  (void)h;
  (void)suggested;
  b->base = malloc(TR_READ_CHUNK);
  b->len = b->base ? TR_READ_CHUNK : 0;
}

static void tr_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b)
{
  struct tr_stream *s = stream->data;
  struct tr_worker *w = s->w;

  if (nread > 0 && buf_add(&s->in, b->base, (size_t)nread) != 0)
    nread = UV_ENOMEM;
  free(b->base);
  if (nread > 0) {
    if (s->kind == TR_CTL)
      tr_ctl_data(s);
    else
      tr_log_lines(s, 0);
    return;
  }
  if (nread == 0)
    return;
  /* EOF or an error: this stream is over. */
  if (s->kind != TR_CTL)
    tr_log_lines(s, 1);
  tr_stream_close(s);
  tr_worker_check(w);
}

/* The worker binary: SAGERUN_WORKER_BIN (tests, whose own executable is
 * not sagerun), else this executable. */
static int worker_bin(char *out, size_t len)
{
  const char *env = getenv("SAGERUN_WORKER_BIN");

  if (env && *env) {
    char cwd[PATH_MAX];
    int n;

    /* Absolute: the worker starts in its instance directory. */
    if (env[0] == '/')
      n = snprintf(out, len, "%s", env);
    else if (getcwd(cwd, sizeof(cwd)) != NULL)
      n = snprintf(out, len, "%s/%s", cwd, env);
    else
      return SR_EIO;
    return n < 0 || (size_t)n >= len ? SR_ETOOBIG : 0;
  }
  return uv_exepath(out, &len) == 0 ? 0 : SR_EIO;
}

/* Whether name may be passed from the job's Environment. */
static int env_name_ok(const char *name)
{
  size_t i;

  if (!((name[0] >= 'A' && name[0] <= 'Z') ||
        (name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
    return 0;
  for (i = 1; name[i]; i++)
    if (!((name[i] >= 'A' && name[i] <= 'Z') ||
          (name[i] >= 'a' && name[i] <= 'z') ||
          (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
      return 0;
  /* The dynamic loader's variables would reach into this binary. */
  return strncmp(name, "LD_", 3) != 0;
}

/* The worker's environment: the engine's, TRAINING_JOB_NAME and
 * TRAINING_JOB_ARN (as SageMaker sets them), and the job's Environment.
 * A NULL-terminated array of malloc'ed strings. */
static char **tr_env(const struct local_training *t)
{
  const json_t *env = json_object_get(t->job, "Environment");
  uv_env_item_t *items = NULL;
  int count = 0, i;
  size_t n = 0, cap;
  const char *key;
  json_t *v;
  char **out;
  struct buf b;

  if (uv_os_environ(&items, &count) != 0)
    count = 0;
  cap = (size_t)count + json_object_size(env) + 3;
  out = calloc(cap, sizeof(*out));
  if (out == NULL)
    goto out;
  buf_init(&b, 1 << 20);
  for (i = 0; i < count; i++) {
    if (strcmp(items[i].name, "TRAINING_JOB_NAME") == 0 ||
        strcmp(items[i].name, "TRAINING_JOB_ARN") == 0 ||
        json_object_get(env, items[i].name))
      continue;
    buf_reset(&b);
    if (buf_addf(&b, "%s=%s", items[i].name, items[i].value) == 0)
      out[n++] = buf_detach(&b, NULL);
  }
  buf_reset(&b);
  if (buf_addf(&b, "TRAINING_JOB_NAME=%s", t->name) == 0)
    out[n++] = buf_detach(&b, NULL);
  if (buf_addf(&b, "TRAINING_JOB_ARN=%s",
               jstr(t->job, "TrainingJobArn") ? jstr(t->job, "TrainingJobArn")
                                              : "") == 0)
    out[n++] = buf_detach(&b, NULL);
  json_object_foreach((json_t *)env, key, v)
  {
    if (!json_is_string(v) || !env_name_ok(key))
      continue;
    if (buf_addf(&b, "%s=%s", key, json_string_value(v)) == 0)
      out[n++] = buf_detach(&b, NULL);
  }
  buf_free(&b);
out:
  uv_os_free_environ(items, count);
  return out;
}

static void tr_env_free(char **env)
{
  size_t i;

  for (i = 0; env && env[i]; i++)
    free(env[i]);
  free(env);
}

static int tr_spawn(struct tr_worker *w, const char *bin, char **env)
{
  struct local_training *t = w->t;
  uv_loop_t *loop = local_engine_loop(t->e);
  uv_process_options_t o;
  uv_stdio_container_t stdio[4];
  char root[PATH_MAX + 64], work[PATH_MAX + 64];
  char *args[8];
  int k, rc;

  snprintf(root, sizeof(root), "%s/%s", t->dir, w->host);
  snprintf(work, sizeof(work), "%s/work/%s", t->dir, w->host);
  snprintf(w->stream, sizeof(w->stream), "%s/%s-%lld", t->name, w->host,
           (long long)local_engine_now(t->e));
  for (k = 0; k < 3; k++) {
    w->s[k].w = w;
    w->s[k].kind = k;
    rc = uv_pipe_init(loop, &w->s[k].pipe, 0);
    if (rc)
      return rc;
    t->handles++;
    w->s[k].open = 1;
    w->s[k].pipe.data = &w->s[k];
  }
  args[0] = (char *)bin;
  args[1] = "local";
  args[2] = "worker";
  args[3] = "--root";
  args[4] = root;
  args[5] = "--work";
  args[6] = work;
  args[7] = NULL;
  memset(&o, 0, sizeof(o));
  memset(stdio, 0, sizeof(stdio));
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&w->s[TR_OUT].pipe;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&w->s[TR_ERR].pipe;
  stdio[3].flags = UV_CREATE_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;
  stdio[3].data.stream = (uv_stream_t *)&w->s[TR_CTL].pipe;
  o.file = bin;
  o.args = args;
  o.env = env;
  o.cwd = root;
  o.stdio = stdio;
  o.stdio_count = 4;
  o.exit_cb = tr_exit_cb;
  w->proc.data = w;
  rc = uv_spawn(loop, &w->proc, &o);
  /* Success or failure, the handle must be closed (libuv's rule). */
  t->handles++;
  w->proc_open = 1;
  if (rc) {
    w->proc_open = 0;
    tr_close_handle(t, (uv_handle_t *)&w->proc);
    return rc;
  }
  w->spawned = 1;
  for (k = 0; k < 3; k++) {
    rc = uv_read_start((uv_stream_t *)&w->s[k].pipe, tr_alloc_cb, tr_read_cb);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- planning: the instances' /opt/ml --------------------------------------
 */

struct tr_list {
  json_t *keys; /* [[key, size], ...] */
  char *last;   /* the last key listed, placeholders included */
};

static int tr_list_cb(const struct s3store_item *item, void *arg)
{
  struct tr_list *l = arg;
  size_t len = strlen(item->key);

  free(l->last);
  l->last = strdup(item->key);
  if (l->last == NULL)
    return SR_ENOMEM;
  /* "folder/" placeholders are not data. */
  if (item->is_prefix || (len > 0 && item->key[len - 1] == '/'))
    return 0;
  return json_array_append_new(l->keys, json_pack("[s, I]", item->key,
                                                  (json_int_t)item->size)) == 0
             ? 0
             : SR_ENOMEM;
}

/* Whether rel (a key after the prefix) is usable as a relative path. */
static int rel_path_ok(const char *rel)
{
  const char *p = rel;

  if (*rel == '\0' || *rel == '/')
    return 0;
  while (*p) {
    size_t seg = strcspn(p, "/");

    if (seg == 0 || (seg == 1 && p[0] == '.') ||
        (seg == 2 && p[0] == '.' && p[1] == '.'))
      return 0;
    p += seg;
    if (*p == '/')
      p++;
  }
  return p[-1] != '/';
}

/* Lists channel c's objects and deals them into each instance's
 * download list (downloads[rank][channel]). Fills reason on a client
 * error and returns SR_EINVAL. */
static int tr_plan_channel(struct local_training *t, const json_t *c,
                           json_t **downloads, char *reason, size_t rlen)
{
  struct s3store *store = local_engine_s3(t->e);
  const json_t *src =
      json_object_get(json_object_get(c, "DataSource"), "S3DataSource");
  const char *name = jstr(c, "ChannelName");
  const char *uri = jstr(src, "S3Uri");
  const char *type = jstr(src, "S3DataType");
  const char *dist = jstr(src, "S3DataDistributionType");
  int sharded = dist && strcmp(dist, "ShardedByS3Key") == 0;
  struct s3_uri u = {NULL, NULL};
  struct tr_list l = {NULL, NULL};
  const char *after = NULL, *cut;
  char *last = NULL;
  size_t i, r, cutlen;
  json_t *item;
  int truncated = 1, rc;

  l.keys = json_array();
  if (l.keys == NULL)
    return SR_ENOMEM;
  if (type && strcmp(type, "S3Prefix") != 0) {
    snprintf(reason, rlen,
             "ClientError: channel '%s': S3DataType %s is not supported by "
             "the local engine; use S3Prefix",
             name, type);
    rc = SR_EINVAL;
    goto out;
  }
  rc = uri ? s3_uri_parse(uri, &u) : SR_EINVAL;
  if (rc == SR_EINVAL) {
    snprintf(reason, rlen, "ClientError: channel '%s': '%s' is not an S3 URI",
             name, uri ? uri : "");
    goto out;
  }
  if (rc)
    goto out;
  rc = s3store_bucket_exists(store, u.bucket, NULL);
  while (rc == 0 && truncated) {
    rc = s3store_list(store, u.bucket, u.key, NULL, after, 1000, tr_list_cb, &l,
                      &truncated);
    free(last);
    last = l.last;
    l.last = NULL;
    after = last;
    if (rc == 0 && truncated && last == NULL)
      break;
  }
  if (rc == SR_ENOENT || (rc == 0 && json_array_size(l.keys) == 0)) {
    snprintf(reason, rlen,
             "ClientError: No S3 objects found under S3 URL \"%s\" given in "
             "input data source. Please ensure that the bucket exists in the "
             "selected region (%s), that objects exist under that S3 prefix, "
             "and that the role \"%s\" has \"s3:ListBucket\" permissions on "
             "bucket \"%s\".",
             uri, local_engine_region(t->e),
             jstr(t->job, "RoleArn") ? jstr(t->job, "RoleArn") : "", u.bucket);
    rc = SR_EINVAL;
    goto out;
  }
  if (rc)
    goto out;
  /* The object's path in the channel: the key after the prefix's last
   * "/". */
  cut = strrchr(u.key, '/');
  cutlen = cut ? (size_t)(cut - u.key) + 1 : 0;
  json_array_foreach(l.keys, i, item)
  {
    const char *key = json_string_value(json_array_get(item, 0));
    struct s3store_object o;
    char path[PATH_MAX], full[S3STORE_MAX_KEY + 128];
    json_t *entry;

    if (!rel_path_ok(key + cutlen)) {
      snprintf(reason, rlen,
               "ClientError: channel '%s': the object key '%s' cannot be a "
               "file name under /opt/ml/input/data/%s",
               name, key, name);
      rc = SR_EINVAL;
      goto out;
    }
    rc = s3store_object_get(store, u.bucket, key, &o);
    if (rc == 0)
      rc = s3store_data_path(store, o.file, path, sizeof(path));
    if (rc == 0)
      s3store_object_free(&o);
    if (rc)
      goto out;
    snprintf(full, sizeof(full), "s3://%s/%s", u.bucket, key);
    entry = json_pack("{s:s, s:s, s:s, s:I}", "key", full, "source", path,
                      "dest", key + cutlen, "size",
                      json_integer_value(json_array_get(item, 1)));
    if (entry == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
    for (r = 0; r < t->n; r++) {
      json_t *list;

      if (sharded && i % t->n != r)
        continue;
      list = json_object_get(downloads[r], name);
      if (list == NULL) {
        json_object_set_new(downloads[r], name, json_array());
        list = json_object_get(downloads[r], name);
      }
      if (list == NULL || json_array_append(list, entry) != 0) {
        json_decref(entry);
        rc = SR_ENOMEM;
        goto out;
      }
    }
    json_decref(entry);
  }
  for (r = 0; r < t->n; r++)
    if (json_object_get(downloads[r], name) == NULL &&
        json_object_set_new(downloads[r], name, json_array()) != 0) {
      rc = SR_ENOMEM;
      goto out;
    }
out:
  free(last);
  s3_uri_free(&u);
  json_decref(l.keys);
  free(l.last);
  return rc;
}

static int strcmp_cb(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The hosts, sorted as strings; w[] by rank. */
static int tr_hosts(struct local_training *t, json_t **hosts)
{
  char **names = calloc(t->n, sizeof(*names));
  char tmp[32];
  size_t i;
  int rc = 0;

  *hosts = json_array();
  if (names == NULL || *hosts == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  for (i = 0; i < t->n; i++) {
    snprintf(tmp, sizeof(tmp), "algo-%zu", i + 1);
    names[i] = strdup(tmp);
    if (names[i] == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
  }
  qsort(names, t->n, sizeof(*names), strcmp_cb);
  for (i = 0; i < t->n; i++) {
    t->w[i].rank = i;
    snprintf(t->w[i].host, sizeof(t->w[i].host), "%s", names[i]);
    if (json_array_append_new(*hosts, json_string(names[i])) != 0)
      rc = SR_ENOMEM;
  }
out:
  for (i = 0; names && i < t->n; i++)
    free(names[i]);
  free(names);
  return rc;
}

/* inputdataconfig.json's entry for channel c. */
static json_t *tr_input_config(const struct local_training *t, const json_t *c)
{
  const json_t *src =
      json_object_get(json_object_get(c, "DataSource"), "S3DataSource");
  const char *mode = jstr(c, "InputMode");
  json_t *o;

  if (mode == NULL)
    mode = jstr(json_object_get(t->job, "AlgorithmSpecification"),
                "TrainingInputMode");
  o = json_pack(
      "{s:s, s:s, s:s}", "TrainingInputMode", mode ? mode : "File",
      "S3DistributionType",
      jstr(src, "S3DataDistributionType") ? jstr(src, "S3DataDistributionType")
                                          : "FullyReplicated",
      "RecordWrapperType",
      jstr(c, "RecordWrapperType") ? jstr(c, "RecordWrapperType") : "None");
  if (o && jstr(c, "ContentType"))
    json_object_set_new(o, "ContentType", json_string(jstr(c, "ContentType")));
  if (o && jstr(c, "CompressionType"))
    json_object_set_new(o, "CompressionType",
                        json_string(jstr(c, "CompressionType")));
  return o;
}

/* Writes every instance's files. Returns 0, or SR_EINVAL with reason
 * (the job fails with it), or another error. */
static int tr_plan(struct local_training *t, char *reason, size_t rlen)
{
  const json_t *channels = json_object_get(t->job, "InputDataConfig");
  json_t *hp = json_object_get(t->job, "HyperParameters");
  json_t **downloads = calloc(t->n, sizeof(*downloads));
  json_t *hosts = NULL, *inputs = json_object(), *c, *doc;
  char root[PATH_MAX + 64], sub[PATH_MAX + 128];
  size_t i, r;
  int rc = 0;

  if (downloads == NULL || inputs == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  if (!json_is_object(hp)) {
    /* A request without HyperParameters: the container sees {}. */
    json_object_set_new(t->job, "HyperParameters", json_object());
    hp = json_object_get(t->job, "HyperParameters");
  }
  rc = tr_hosts(t, &hosts);
  if (rc)
    goto out;
  for (r = 0; r < t->n; r++) {
    downloads[r] = json_object();
    if (downloads[r] == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
  }
  json_array_foreach(channels, i, c)
  {
    rc = tr_plan_channel(t, c, downloads, reason, rlen);
    if (rc == 0)
      rc = json_object_set_new(inputs, jstr(c, "ChannelName"),
                               tr_input_config(t, c)) == 0
               ? 0
               : SR_ENOMEM;
    if (rc)
      goto out;
  }
  if (remove_tree(AT_FDCWD, t->dir) != 0) {
    rc = SR_EIO;
    goto out;
  }
  for (r = 0; r < t->n && rc == 0; r++) {
    const char *host = t->w[r].host;
    const char *ch;
    json_t *list;

    snprintf(root, sizeof(root), "%s/%s", t->dir, host);
    snprintf(sub, sizeof(sub), "%s/input/config", root);
    rc = mkdirs(sub);
    snprintf(sub, sizeof(sub), "%s/model", root);
    if (rc == 0)
      rc = mkdirs(sub);
    snprintf(sub, sizeof(sub), "%s/output/data", root);
    if (rc == 0)
      rc = mkdirs(sub);
    json_object_foreach(downloads[r], ch, list)
    {
      snprintf(sub, sizeof(sub), "%s/input/data/%s", root, ch);
      if (rc == 0)
        rc = mkdirs(sub);
    }
    snprintf(sub, sizeof(sub), "%s/input/config", root);
    if (rc == 0)
      rc = write_json(sub, "hyperparameters.json", hp);
    doc = json_pack(
        "{s:s, s:s, s:O, s:s}", "current_host", host, "current_instance_type",
        jstr(json_object_get(t->job, "ResourceConfig"), "InstanceType")
            ? jstr(json_object_get(t->job, "ResourceConfig"), "InstanceType")
            : "ml.m5.large",
        "hosts", hosts, "network_interface_name", "eth0");
    if (rc == 0)
      rc = doc ? write_json(sub, "resourceconfig.json", doc) : SR_ENOMEM;
    json_decref(doc);
    if (rc == 0)
      rc = write_json(sub, "inputdataconfig.json", inputs);
    snprintf(sub, sizeof(sub), "%s/work/%s", t->dir, host);
    if (rc == 0)
      rc = mkdirs(sub);
    doc = json_pack("{s:O}", "channels", downloads[r]);
    if (rc == 0)
      rc = doc ? write_json(sub, "download.json", doc) : SR_ENOMEM;
    json_decref(doc);
  }
out:
  for (r = 0; downloads && r < t->n; r++)
    json_decref(downloads[r]);
  free(downloads);
  json_decref(hosts);
  json_decref(inputs);
  return rc;
}

/* ---- the end --------------------------------------------------------------
 */

/* Packs algo-1's model directory into model.tar.gz at ModelArtifacts. */
static int tr_upload(struct local_training *t, char *reason, size_t rlen)
{
  const char *dest =
      jstr(json_object_get(t->job, "ModelArtifacts"), "S3ModelArtifacts");
  struct s3store *store = local_engine_s3(t->e);
  struct tarball_file files[64];
  struct buf data[64], gz;
  struct s3store_writer *wr = NULL;
  struct s3_uri u = {NULL, NULL};
  char dir[PATH_MAX + 64], path[PATH_MAX + 400];
  struct dirent *de;
  size_t n = 0, i;
  DIR *d;
  int rc;

  buf_init(&gz, (size_t)1 << 31);
  snprintf(dir, sizeof(dir), "%s/%s/model", t->dir, t->w[0].host);
  d = opendir(dir);
  if (d == NULL) {
    snprintf(reason, rlen, "AlgorithmError: no model directory");
    return SR_EINVAL;
  }
  rc = 0;
  while (rc == 0 && (de = readdir(d)) != NULL && n < 64) {
    FILE *f;
    char chunk[65536];
    size_t got;

    if (de->d_name[0] == '.')
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    f = fopen(path, "rb");
    if (f == NULL)
      continue;
    buf_init(&data[n], (size_t)1 << 30);
    while (rc == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
      rc = buf_add(&data[n], chunk, got);
    fclose(f);
    files[n].name = strdup(de->d_name);
    if (files[n].name == NULL)
      rc = SR_ENOMEM;
    files[n].data = buf_str(&data[n]);
    files[n].len = buf_len(&data[n]);
    n++;
  }
  closedir(d);
  if (rc == 0 && n == 0) {
    snprintf(reason, rlen, "AlgorithmError: the model directory is empty");
    rc = SR_EINVAL;
  }
  if (rc == 0)
    rc = tarball_gz_write(files, n, (long long)local_engine_now(t->e), &gz);
  if (rc == 0 && (dest == NULL || s3_uri_parse(dest, &u) != 0)) {
    snprintf(reason, rlen, "ClientError: bad S3ModelArtifacts '%s'",
             dest ? dest : "");
    rc = SR_EINVAL;
  }
  if (rc == 0 && s3store_bucket_exists(store, u.bucket, NULL) != 0) {
    snprintf(reason, rlen,
             "ClientError: Failed to upload the model artifact to %s: the "
             "bucket %s does not exist",
             dest, u.bucket);
    rc = SR_EINVAL;
  }
  if (rc == 0)
    rc = s3store_writer_begin(store, &wr);
  if (rc == 0)
    rc = s3store_writer_write(wr, buf_str(&gz), buf_len(&gz));
  if (rc == 0) {
    struct s3store_put put = {"application/x-tar", NULL};

    rc = s3store_writer_commit(wr, u.bucket, u.key, &put,
                               local_engine_now(t->e), NULL);
    wr = NULL; /* commit frees it either way */
  }
  if (wr)
    s3store_writer_abort(wr);
  for (i = 0; i < n; i++) {
    free((char *)files[i].name);
    buf_free(&data[i]);
  }
  s3_uri_free(&u);
  buf_free(&gz);
  if (rc && rc != SR_EINVAL)
    snprintf(reason, rlen,
             "InternalServerError: cannot store the model artifact: %s",
             sr_strerror(rc));
  return rc;
}

/* FinalMetricDataList: algo-1's metrics, stamped now. */
static json_t *tr_metrics(struct local_training *t)
{
  json_t *out = json_array(), *m;
  double now = local_engine_now(t->e);
  size_t i;

  json_array_foreach(t->final, i, m)
  {
    if (!json_is_string(json_object_get(m, "MetricName")) ||
        !json_is_number(json_object_get(m, "Value")))
      continue;
    json_array_append_new(
        out, json_pack("{s:s, s:f, s:f}", "MetricName", jstr(m, "MetricName"),
                       "Value", json_number_value(json_object_get(m, "Value")),
                       "Timestamp", now));
  }
  return out;
}

/* Deletes the copied input data (see the top). */
static void tr_cleanup_files(struct local_training *t)
{
  char path[PATH_MAX + 64];
  size_t i;

  if (t->keep_input || t->dir[0] == '\0')
    return;
  for (i = 0; i < t->n; i++) {
    snprintf(path, sizeof(path), "%s/%s/input/data", t->dir, t->w[i].host);
    remove_tree(AT_FDCWD, path);
  }
  snprintf(path, sizeof(path), "%s/work", t->dir);
  remove_tree(AT_FDCWD, path);
}

/* The one terminal report, then the handles go. */
static void tr_end(struct local_training *t)
{
  char reason[TR_REASON_MAX + 1];
  json_t *metrics;

  if (t->closing)
    return;
  uv_timer_stop(&t->timer);
  if (t->stopping) {
    tr_report(t, "Stopped", NULL, NULL);
  } else if (t->failure) {
    tr_report(t, "Failed", t->failure, NULL);
  } else {
    tr_report(t, "Uploading", NULL, NULL);
    reason[0] = '\0';
    if (tr_upload(t, reason, sizeof(reason)) != 0) {
      tr_report(t, "Failed", reason, NULL);
    } else {
      metrics = tr_metrics(t);
      tr_report(t, "Completed", NULL,
                json_array_size(metrics) > 0 ? metrics : NULL);
      json_decref(metrics);
    }
  }
  tr_cleanup_files(t);
  tr_close(t);
}

static void tr_maybe_end(struct local_training *t)
{
  size_t i;

  if (t->phase == TR_STARTING || t->closing)
    return;
  for (i = 0; i < t->n; i++)
    if (!tr_worker_finished(&t->w[i]))
      return;
  tr_end(t);
}

/* Starting → Downloading: plan and spawn. */
static void tr_begin(struct local_training *t)
{
  const char *image =
      jstr(json_object_get(t->job, "AlgorithmSpecification"), "TrainingImage");
  char reason[TR_REASON_MAX + 1], bin[PATH_MAX];
  char **env = NULL;
  size_t i;
  int rc;

  if (t->stopping) {
    tr_end(t);
    return;
  }
  if (image == NULL || !local_image_is_linear_learner(image)) {
    snprintf(reason, sizeof(reason),
             "ClientError: the local engine cannot run the training image "
             "'%s'; supported algorithms: %s (any registry and tag whose "
             "repository is linear-learner, e.g. "
             "382416733822.dkr.ecr.us-east-1.amazonaws.com/"
             "linear-learner:1)",
             image ? image : "", local_training_supported);
    tr_set_failure(t, reason);
    tr_end(t);
    return;
  }
  t->phase = TR_DOWNLOADING;
  tr_report(t, "Downloading", NULL, NULL);
  reason[0] = '\0';
  rc = tr_plan(t, reason, sizeof(reason));
  if (rc) {
    if (rc != SR_EINVAL || reason[0] == '\0')
      snprintf(reason, sizeof(reason),
               "InternalServerError: the local engine could not prepare the "
               "instances: %s",
               sr_strerror(rc));
    tr_set_failure(t, reason);
    tr_end(t);
    return;
  }
  rc = worker_bin(bin, sizeof(bin));
  if (rc == 0) {
    env = tr_env(t);
    if (env == NULL)
      rc = SR_ENOMEM;
  }
  for (i = 0; rc == 0 && i < t->n; i++) {
    rc = tr_spawn(&t->w[i], bin, env);
    if (rc) {
      snprintf(reason, sizeof(reason),
               "InternalServerError: cannot start instance %s (%.300s): %s",
               t->w[i].host, bin, uv_strerror(rc));
      tr_fail(t, "%s", reason);
    }
  }
  if (rc && t->failure == NULL)
    tr_fail(t, "InternalServerError: cannot start the instances: %s",
            sr_strerror(rc));
  tr_env_free(env);
  if (rc)
    tr_maybe_end(t);
}

static void tr_timer_cb(uv_timer_t *timer)
{
  struct local_training *t = timer->data;

  if (t->phase == TR_STARTING)
    tr_begin(t);
  else
    tr_kill(t, SIGKILL); /* the stop's grace period is over */
}

/* ---- the interface ------------------------------------------------------- */

int local_training_start(struct local_engine *e, const json_t *job,
                         local_training_cb on_report, void *data,
                         struct local_training **out)
{
  struct local_training *t;
  json_int_t n = json_integer_value(
      json_object_get(json_object_get(job, "ResourceConfig"), "InstanceCount"));
  size_t i, k;
  int rc;

  *out = NULL;
  if (n < 1)
    n = 1;
  if (n > 1000)
    return SR_EINVAL;
  t = calloc(1, sizeof(*t));
  if (t == NULL)
    return SR_ENOMEM;
  t->e = e;
  t->on_report = on_report;
  t->data = data;
  t->n = (size_t)n;
  t->job = json_deep_copy(job);
  t->w = calloc(t->n, sizeof(*t->w));
  if (t->job == NULL || t->w == NULL ||
      jstr(t->job, "TrainingJobName") == NULL) {
    rc = t->job && t->w ? SR_EINVAL : SR_ENOMEM;
    goto fail;
  }
  t->name = jstr(t->job, "TrainingJobName");
  t->keep_input = env_true(t->job, "SAGERUN_LOCAL_KEEP_INPUT");
  if (snprintf(t->dir, sizeof(t->dir), "%s/training/%s",
               local_engine_data_dir(e),
               t->name) >= (int)sizeof(t->dir) - 200) {
    rc = SR_ETOOBIG;
    goto fail;
  }
  for (i = 0; i < t->n; i++) {
    t->w[i].t = t;
    snprintf(t->w[i].host, sizeof(t->w[i].host), "algo-%zu", i + 1);
    for (k = 0; k < 3; k++)
      buf_init(&t->w[i].s[k].in,
               k == TR_CTL ? LOCAL_WORKER_MAX_MSG + 64 : BUF_CAP_DEFAULT);
    buf_init(&t->w[i].msg, LOCAL_WORKER_MAX_MSG);
  }
  rc = uv_timer_init(local_engine_loop(e), &t->timer);
  if (rc) {
    rc = SR_EIO;
    goto fail;
  }
  t->handles++;
  t->timer.data = t;
  /* Starting lasts until the next loop turn: reports never come from
   * inside this call. (uv_timer_start fails only without a callback.) */
  uv_timer_start(&t->timer, tr_timer_cb, 0, 0);
  *out = t;
  return 0;
fail:
  tr_free(t);
  return rc;
}

void local_training_stop(struct local_training *t)
{
  if (t->stopping || t->closing)
    return;
  t->stopping = 1;
  if (t->phase == TR_STARTING)
    return; /* the pending turn ends it */
  tr_kill(t, SIGTERM);
  uv_timer_start(&t->timer, tr_timer_cb, TR_KILL_GRACE_MS, 0);
}

void local_training_detach(struct local_training *t)
{
  if (t->closing)
    return;
  t->detached = 1;
  tr_kill(t, SIGKILL);
  tr_cleanup_files(t);
  tr_close(t);
}

int local_training_reattach(struct local_engine *e, const json_t *job,
                            local_training_cb on_report, void *data,
                            struct local_training **out)
{
  (void)e;
  (void)job;
  (void)on_report;
  (void)data;
  *out = NULL;
  return SR_ENOTSUP;
}
