/* Hosting: the interface is local/hosting.h.
 *
 * An endpoint serves linear-learner models. On the loop turn after
 * local_hosting_start, each variant's model is loaded: ModelDataUrl's
 * object from the engine's store, gunzipped and untarred in memory
 * (tarball.h), model_algo-1 parsed (ll_model_load); then on_ready says
 * InService, or Failed with a reason. Images other than linear-learner's
 * fail, naming what is supported.
 *
 * InvokeEndpoint (linear-learner's inference formats, aws-spec.md
 * section 8):
 * - Content-Type text/csv (rows of features, no label),
 *   application/json ({"instances": [{"features": [...]}]} or one
 *   {"features": [...]}, sparse rows too, see llio.h) and
 *   application/x-recordio-protobuf (labels, if any, ignored);
 * - Accept application/json (the default, also for wildcards):
 *   {"predictions": [{"score": S}, ...]}, binary classifiers adding
 *   "predicted_label"; application/jsonlines: one {"score": S} per line;
 *   application/x-recordio-protobuf: one Record per row whose label map
 *   holds "score" (and "predicted_label") Float32 tensors. Accept lists
 *   are read in order, parameters and q-values ignored; none of these
 *   is a 424 ModelError passing on the container's 406.
 * - A payload the model cannot read (not numbers, wrong feature count,
 *   no rows) is a 424 ModelError passing on the container's 400 with
 *   the reason, as SageMaker Runtime passes container errors.
 *
 * Scoring runs on libuv's thread pool, one job per invocation: the
 * largest payload (6 MiB, about 60,000 rows of 25 features) takes 15-25
 * ms to parse, predict and print, which on the loop would hold up every
 * other request the engine serves, and with 8 clients would queue them
 * all behind one core. A job reads the request's bytes and the model in
 * place (neither changes while it runs: the model is freed only after
 * the last job has answered) and writes its own answer.
 *
 * Logs: each instance of a variant has a stream VARIANT/i-ID in the
 * group /aws/sagemaker/Endpoints/NAME, as SageMaker's containers do
 * (the stream names change with every start, as instances do): the
 * model's loading, and every payload the model refused with the reason,
 * which is where a ModelError's message sends its reader. Successful
 * invocations are not logged: a line each would cost a database write
 * per request.
 *
 * Variants: a target variant header picks one (unknown names are a 400
 * ValidationError, as SageMaker answers); otherwise requests go round
 * the variants in proportion to their weights (a deterministic weighted
 * round robin). */
#include "hosting.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <openssl/rand.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/floattext.h"
#include "../runner/recordio.h"
#include "../runner/s3.h"
#include "linear_learner.h"
#include "llio.h"
#include "s3store.h"
#include "tarball.h"
#include "training.h"

#define HOSTING_MAX_MODEL_TAR ((size_t)1 << 30)
#define HOSTING_MAX_RESPONSE ((size_t)1 << 30)
#define HOSTING_LOG_GROUP "/aws/sagemaker/Endpoints/"
/* Streams per variant at most (one per instance). */
#define HOSTING_MAX_STREAMS 8

const char *const local_hosting_supported = "linear-learner";

struct hosting_variant {
  char name[64];
  double weight;
  double credit; /* weighted round robin */
  struct ll_model *model;
  char stream[HOSTING_MAX_STREAMS][96]; /* VARIANT/i-ID per instance */
  size_t nstreams, next_stream;
};

struct local_hosting {
  struct local_engine *e;
  uv_timer_t timer; /* on_ready on the next loop turn, never inline */
  local_hosting_ready_cb on_ready;
  void (*on_stopped)(void *data);
  void *data, *stopped_data;
  json_t *variants; /* as given, until loaded */
  char endpoint[128];
  char account[16]; /* for messages, which may come after the engine closed */
  struct hosting_variant *v;
  size_t nv;
  int stopping;
  size_t scoring; /* jobs on the thread pool */
};

/* ---- loading --------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

/* Reads the whole object bucket/key of the store into out. */
static int read_object(struct local_engine *e, const char *bucket,
                       const char *key, struct buf *out)
{
  struct s3store *s = local_engine_s3(e);
  struct s3store_object o;
  char chunk[65536];
  int fd = -1, rc;

  rc = s3store_object_get(s, bucket, key, &o);
  if (rc)
    return rc;
  rc = s3store_object_open(s, &o, &fd);
  s3store_object_free(&o);
  if (rc)
    return rc;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));

    if (n < 0) {
      rc = SR_EIO;
      break;
    }
    if (n == 0)
      break;
    rc = buf_add(out, chunk, (size_t)n);
    if (rc)
      break;
  }
  close(fd);
  return rc;
}

/* Names the variant's instances' streams: VARIANT/i- and 17 random hex
 * digits, new at every start as a real endpoint's instances are. */
static void name_streams(struct hosting_variant *hv, long long instances)
{
  unsigned long long id;
  size_t i;

  hv->nstreams = instances < 1                     ? 1
                 : instances > HOSTING_MAX_STREAMS ? HOSTING_MAX_STREAMS
                                                   : (size_t)instances;
  for (i = 0; i < hv->nstreams; i++) {
    if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
      id = 0;
    snprintf(hv->stream[i], sizeof(hv->stream[i]), "%s/i-%016llx%x", hv->name,
             id, (unsigned)(i & 0xf));
  }
}

/* A line in the log stream of one of hv's instances (all of them when
 * every is set), as the container's output would be. Logging is best
 * effort: a line that cannot be written fails nothing. */
static void hosting_log(struct local_hosting *h, struct hosting_variant *hv,
                        int every, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void hosting_log(struct local_hosting *h, struct hosting_variant *hv,
                        int every, const char *fmt, ...)
{
  char group[256], line[2048];
  long long ms = (long long)(local_engine_now(h->e) * 1000);
  va_list ap;
  size_t i;

  if (hv->nstreams == 0)
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  snprintf(group, sizeof(group), HOSTING_LOG_GROUP "%s", h->endpoint);
  if (every) {
    for (i = 0; i < hv->nstreams; i++)
      local_logs_put(h->e, group, hv->stream[i], ms, line);
    return;
  }
  local_logs_put(h->e, group, hv->stream[hv->next_stream++ % hv->nstreams], ms,
                 line);
}

/* Loads one variant's model; on failure writes the endpoint's
 * FailureReason into reason. */
static int load_variant(struct local_hosting *h, const json_t *variant,
                        struct hosting_variant *hv, char *reason, size_t rlen)
{
  const json_t *model = json_object_get(variant, "Model");
  const json_t *pc = json_object_get(model, "PrimaryContainer");
  const char *image = jstr(pc, "Image"), *url = jstr(pc, "ModelDataUrl");
  const json_t *weight = json_object_get(variant, "InitialVariantWeight");
  struct s3_uri u = {NULL, NULL};
  struct buf gz, file, err;
  int rc;

  if (pc == NULL) {
    /* Containers: the first one serves, as for a single container. */
    pc = json_array_get(json_object_get(model, "Containers"), 0);
    image = jstr(pc, "Image");
    url = jstr(pc, "ModelDataUrl");
  }
  snprintf(hv->name, sizeof(hv->name), "%s",
           jstr(variant, "VariantName") ? jstr(variant, "VariantName")
                                        : "AllTraffic");
  hv->weight = weight ? json_number_value(weight) : 1.0;
  name_streams(
      hv, json_integer_value(json_object_get(variant, "InitialInstanceCount")));
  hosting_log(h, hv, 1, "Starting the inference container for variant %s: %s",
              hv->name, image ? image : "(no image)");
  if (image == NULL || !local_image_is_linear_learner(image)) {
    snprintf(reason, rlen,
             "The local engine cannot host the image '%s' of model '%s' "
             "(variant %s); supported algorithms: %s",
             image ? image : "", jstr(model, "ModelName"), hv->name,
             local_hosting_supported);
    hosting_log(h, hv, 1, "%s", reason);
    return SR_ENOTSUP;
  }
  if (url == NULL) {
    snprintf(reason, rlen,
             "Model '%s' (variant %s) has no ModelDataUrl: a linear-learner "
             "container needs its model.tar.gz",
             jstr(model, "ModelName"), hv->name);
    hosting_log(h, hv, 1, "%s", reason);
    return SR_EINVAL;
  }
  buf_init(&gz, HOSTING_MAX_MODEL_TAR);
  buf_init(&file, HOSTING_MAX_MODEL_TAR);
  buf_init(&err, 4096);
  rc = s3_uri_parse(url, &u);
  if (rc == 0)
    rc = read_object(h->e, u.bucket, u.key, &gz);
  if (rc) {
    snprintf(reason, rlen,
             "Failed to download model data for container \"container_1\" "
             "from URL: \"%s\". Please ensure that there is an object "
             "located at the URL and that the role passed to CreateModel "
             "has permissions to download the object.",
             url);
    goto out;
  }
  rc = tarball_gz_find(buf_str(&gz), buf_len(&gz), "model_algo-1", &file);
  if (rc == 0)
    rc = ll_model_load(&hv->model, buf_str(&file), buf_len(&file), &err);
  if (rc)
    snprintf(reason, rlen,
             "The primary container for production variant %s did not pass "
             "the ping health check: cannot load model_algo-1 from %s: %s",
             hv->name, url,
             buf_len(&err)     ? buf_str(&err)
             : rc == SR_ENOENT ? "the archive has no model_algo-1"
                               : sr_strerror(rc));
out:
  if (rc == 0)
    hosting_log(h, hv, 1,
                "Model loaded from %s: %s, %zu features; serving text/csv, "
                "application/json and application/x-recordio-protobuf",
                url,
                ll_model_predictor(hv->model) == LL_BINARY_CLASSIFIER
                    ? "binary_classifier"
                    : "regressor",
                ll_model_feature_dim(hv->model));
  else
    hosting_log(h, hv, 1, "%s", reason);
  s3_uri_free(&u);
  buf_free(&gz);
  buf_free(&file);
  buf_free(&err);
  return rc;
}

static void hosting_ready_cb(uv_timer_t *timer)
{
  struct local_hosting *h = timer->data;
  char reason[1024];
  size_t i;
  json_t *v;
  int rc = 0;

  reason[0] = '\0';
  h->nv = json_array_size(h->variants);
  h->v = calloc(h->nv ? h->nv : 1, sizeof(*h->v));
  if (h->v == NULL) {
    rc = SR_ENOMEM;
    snprintf(reason, sizeof(reason), "out of memory");
  }
  json_array_foreach(h->variants, i, v)
  {
    if (rc)
      break;
    rc = load_variant(h, v, &h->v[i], reason, sizeof(reason));
  }
  if (rc == 0 && h->nv == 0) {
    rc = SR_EINVAL;
    snprintf(reason, sizeof(reason), "The endpoint has no variants");
  }
  json_decref(h->variants);
  h->variants = NULL;
  h->on_ready(h, rc, rc ? reason : NULL, h->data);
}

static void hosting_close_cb(uv_handle_t *handle)
{
  struct local_hosting *h = handle->data;
  size_t i;

  if (h->on_stopped)
    h->on_stopped(h->stopped_data);
  for (i = 0; i < h->nv && h->v; i++)
    ll_model_free(h->v[i].model);
  free(h->v);
  json_decref(h->variants);
  free(h);
}

int local_hosting_start(struct local_engine *e, const json_t *endpoint,
                        const json_t *variants, local_hosting_ready_cb on_ready,
                        void *data, struct local_hosting **out)
{
  struct local_hosting *h;

  *out = NULL;
  h = calloc(1, sizeof(*h));
  if (h == NULL)
    return SR_ENOMEM;
  h->e = e;
  h->on_ready = on_ready;
  h->data = data;
  snprintf(h->endpoint, sizeof(h->endpoint), "%s",
           jstr(endpoint, "EndpointName") ? jstr(endpoint, "EndpointName")
                                          : "");
  snprintf(h->account, sizeof(h->account), "%s", local_engine_account(e));
  h->variants = json_deep_copy(variants);
  if (h->variants == NULL) {
    free(h);
    return SR_ENOMEM;
  }
  if (uv_timer_init(local_engine_loop(e), &h->timer) != 0) {
    json_decref(h->variants);
    free(h);
    return SR_EIO;
  }
  h->timer.data = h;
  uv_timer_start(&h->timer, hosting_ready_cb, 0, 0);
  *out = h;
  return 0;
}

void local_hosting_stop(struct local_hosting *h, void (*on_stopped)(void *data),
                        void *data)
{
  if (h->stopping)
    return;
  h->stopping = 1;
  h->on_stopped = on_stopped;
  h->stopped_data = data;
  uv_timer_stop(&h->timer);
  /* With jobs still scoring, the last one's answer closes. */
  if (h->scoring == 0)
    uv_close((uv_handle_t *)&h->timer, hosting_close_cb);
}

/* ---- invocations ------------------------------------------------------- */

/* A container's client error, as SageMaker Runtime passes it on. */
static int model_error(struct local_hosting *h, struct local_error *err,
                       int original, const char *msg)
{
  return local_fail(err, 424, "ModelError",
                    "Received client error (%d) from primary with message "
                    "\"%s\". See /aws/sagemaker/Endpoints/%s in account %s "
                    "for more information.",
                    original, msg, h->endpoint, h->account);
}

static struct hosting_variant *pick_variant(struct local_hosting *h,
                                            const char *target)
{
  struct hosting_variant *best = NULL;
  double total = 0;
  size_t i;

  if (target && *target) {
    for (i = 0; i < h->nv; i++)
      if (strcmp(h->v[i].name, target) == 0)
        return &h->v[i];
    return NULL;
  }
  if (h->nv == 1)
    return &h->v[0];
  /* Smooth weighted round robin: each turn every variant earns its
   * weight, the richest serves and pays the total. */
  for (i = 0; i < h->nv; i++) {
    double w = h->v[i].weight > 0 ? h->v[i].weight : 0;

    h->v[i].credit += w;
    total += w;
    if (best == NULL || h->v[i].credit > best->credit)
      best = &h->v[i];
  }
  best->credit -= total;
  return best;
}

/* The Accept type to answer with, or LLIO_UNKNOWN. */
static enum llio_format pick_accept(const char *accept)
{
  const char *p = accept;

  if (accept == NULL || *accept == '\0')
    return LLIO_JSON;
  while (*p) {
    size_t len = strcspn(p, ","), n;
    char one[128];
    enum llio_format f;

    n = len < sizeof(one) - 1 ? len : sizeof(one) - 1;
    memcpy(one, p, n);
    one[n] = '\0';
    f = llio_format_of(one);
    if (f == LLIO_JSON || f == LLIO_JSONLINES || f == LLIO_RECORDIO)
      return f;
    {
      const char *s = one;

      while (*s == ' ' || *s == '\t')
        s++;
      if (strncmp(s, "*/*", 3) == 0 || strncasecmp(s, "application/*", 13) == 0)
        return LLIO_JSON;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  return LLIO_UNKNOWN;
}

/* Appends a length-delimited protobuf field: tag, varint length. */
static int pb_len(struct buf *out, unsigned field, size_t len)
{
  unsigned char b[16];
  size_t n = 0;

  b[n++] = (unsigned char)(field << 3 | 2);
  do {
    b[n] = (unsigned char)(len & 0x7f);
    len >>= 7;
    if (len)
      b[n] |= 0x80;
    n++;
  } while (len);
  return buf_add(out, b, n);
}

/* The encoded label-map entry {key: Value{float32_tensor{values: [v]}}}
 * of an aialgs.data.Record (field 2). */
static int pb_label(struct buf *rec, const char *key, float v)
{
  size_t klen = strlen(key);
  /* Float32Tensor: values packed (field 1): tag, len 4, 4 bytes. */
  size_t tensor = 1 + 1 + 4;
  size_t value = 1 + 1 + tensor;               /* Value.float32_tensor (2) */
  size_t entry = 1 + 1 + klen + 1 + 1 + value; /* key (1), value (2) */
  int rc = pb_len(rec, 2, entry);

  if (rc == 0)
    rc = pb_len(rec, 1, klen);
  if (rc == 0)
    rc = buf_add(rec, key, klen);
  if (rc == 0)
    rc = pb_len(rec, 2, value);
  if (rc == 0)
    rc = pb_len(rec, 2, tensor);
  if (rc == 0)
    rc = pb_len(rec, 1, 4);
  if (rc == 0)
    rc = buf_add(rec, &v, 4); /* little-endian float, as protobuf wants */
  return rc;
}

static int format_answer(enum llio_format f, int binary, const float *score,
                         const float *label, size_t n, struct buf *out)
{
  struct buf rec;
  size_t i;
  int rc = 0;

  buf_init(&rec, 1 << 16);
  if (f == LLIO_JSON)
    rc = buf_adds(out, "{\"predictions\": [");
  for (i = 0; rc == 0 && i < n; i++) {
    switch (f) {
    case LLIO_JSON:
    case LLIO_JSONLINES:
      rc = buf_adds(out,
                    f == LLIO_JSON && i ? ", {\"score\": " : "{\"score\": ");
      if (rc == 0)
        rc = floattext_add(out, score[i]);
      if (rc == 0 && binary)
        rc = buf_adds(out, label[i] >= 0.5f ? ", \"predicted_label\": 1"
                                            : ", \"predicted_label\": 0");
      if (rc == 0)
        rc = buf_adds(out, f == LLIO_JSON ? "}" : "}\n");
      break;
    case LLIO_RECORDIO:
      buf_reset(&rec);
      rc = pb_label(&rec, "score", score[i]);
      if (rc == 0 && binary)
        rc = pb_label(&rec, "predicted_label", label[i] >= 0.5f ? 1.0f : 0.0f);
      if (rc == 0)
        rc = recordio_frame(out, buf_str(&rec), buf_len(&rec), 0);
      break;
    default:
      rc = SR_EINVAL;
    }
  }
  if (rc == 0 && f == LLIO_JSON)
    rc = buf_adds(out, "]}");
  buf_free(&rec);
  return rc;
}

/* One invocation on the thread pool. */
struct hosting_job {
  uv_work_t work;
  struct local_hosting *h;
  struct hosting_variant *v; /* lives until the last job answered */
  const struct ll_model *model;
  enum llio_format in, out;
  char content_type[128]; /* for the message when unknown */
  const void *data;
  size_t len;
  local_runtime_cb cb;
  void *arg;
  /* Written by the job. */
  int container_status; /* 0, or the container's 400/415 with msg */
  struct buf msg;
  struct buf body;
  int rc;
};

/* Rows as the parser gives them, kept for one ll_predict call. */
struct rows {
  struct buf x;
  size_t n, dim;
};

static int add_row(void *arg, const float *x, float y)
{
  struct rows *r = arg;

  (void)y;
  r->n++;
  return buf_add(&r->x, x, r->dim * sizeof(float));
}

/* Parses, predicts and writes the answer: on the thread pool. */
static void score(uv_work_t *work)
{
  struct hosting_job *j = work->data;
  struct llio_parser p;
  struct rows rows;
  float *out = NULL;
  int rc;

  rows.n = 0;
  rows.dim = ll_model_feature_dim(j->model);
  buf_init(&rows.x, (size_t)1 << 31);
  /* A CSV feature takes at least 2 bytes ("0,"), so a payload of len
   * bytes has at most len / 2 of them: one allocation, no regrowth. */
  if (j->in == LLIO_CSV && buf_reserve(&rows.x, j->len / 2 * sizeof(float))) {
    j->rc = SR_ENOMEM;
    buf_free(&rows.x);
    return;
  }
  llio_init(&p, rows.dim, 0, &j->msg);
  switch (j->in) {
  case LLIO_CSV:
    rc = llio_csv(&p, j->data, j->len, add_row, &rows);
    break;
  case LLIO_JSON:
    rc = llio_json(&p, j->data, j->len, add_row, &rows);
    break;
  case LLIO_RECORDIO:
    rc = llio_recordio(&p, j->data, j->len, add_row, &rows);
    break;
  default:
    buf_addf(&j->msg, "unsupported content type %s", j->content_type);
    rc = SR_EINVAL;
  }
  llio_free(&p);
  if (rc == 0 && rows.n == 0) {
    buf_adds(&j->msg, "the payload has no rows to score");
    rc = SR_EINVAL;
  }
  if (rc == SR_EINVAL) {
    j->container_status = j->in == LLIO_UNKNOWN ? 415 : 400;
    rc = 0;
    goto out;
  }
  if (rc)
    goto out;
  /* Scores, then labels, in one allocation. */
  out = malloc(rows.n * 2 * sizeof(float));
  if (out == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  ll_predict(j->model, (const float *)(const void *)buf_str(&rows.x), rows.n,
             out, out + rows.n);
  /* About 25 bytes an answer row: {"score": 7.15123415}, */
  rc = buf_reserve(&j->body, rows.n * 32 + 64);
  if (rc)
    goto out;
  rc = format_answer(j->out,
                     ll_model_predictor(j->model) == LL_BINARY_CLASSIFIER, out,
                     out + rows.n, rows.n, &j->body);
out:
  j->rc = rc;
  free(out);
  buf_free(&rows.x);
}

/* Back on the loop: the answer to its callback. */
static void scored(uv_work_t *work, int status)
{
  struct hosting_job *j = work->data;
  struct local_hosting *h = j->h;
  struct local_runtime_answer a;

  memset(&a, 0, sizeof(a));
  if (status != 0 && j->rc == 0)
    j->rc = SR_EIO;
  if (j->container_status) {
    a.failed = 1;
    model_error(h, &a.err, j->container_status, buf_str(&j->msg));
    /* (Not once the endpoint stops: the engine may be closing.) */
    if (!h->stopping)
      hosting_log(h, j->v, 0, "ClientError (%d): %s", j->container_status,
                  buf_str(&j->msg));
  } else if (j->rc) {
    a.failed = 1;
    local_fail(&a.err, 500, "InternalFailure", "%s", sr_strerror(j->rc));
  } else {
    snprintf(a.content_type, sizeof(a.content_type), "%s",
             j->out == LLIO_JSON        ? "application/json"
             : j->out == LLIO_JSONLINES ? "application/jsonlines"
                                        : "application/x-recordio-protobuf");
    snprintf(a.variant, sizeof(a.variant), "%s", j->v->name);
    a.body = buf_detach(&j->body, &a.len);
    if (a.body == NULL) {
      a.failed = 1;
      local_fail(&a.err, 500, "InternalFailure", "out of memory");
    }
  }
  j->cb(&a, j->arg);
  buf_free(&j->msg);
  buf_free(&j->body);
  free(j);
  if (--h->scoring == 0 && h->stopping)
    uv_close((uv_handle_t *)&h->timer, hosting_close_cb);
}

int local_hosting_invoke(struct local_hosting *h,
                         const struct local_runtime_request *r,
                         local_runtime_cb cb, void *arg,
                         struct local_error *err)
{
  struct hosting_variant *v;
  struct hosting_job *j;
  enum llio_format outf;

  v = pick_variant(h, r->target_variant);
  if (v == NULL)
    return local_fail(err, 400, "ValidationError",
                      "The variant %s is not part of endpoint %s.",
                      r->target_variant, h->endpoint);
  outf = pick_accept(r->accept);
  if (outf == LLIO_UNKNOWN) {
    char text[512];

    snprintf(text, sizeof(text),
             "accept type %.200s is not supported; the model answers "
             "application/json, application/jsonlines and "
             "application/x-recordio-protobuf",
             r->accept);
    hosting_log(h, v, 0, "ClientError (406): %s", text);
    return model_error(h, err, 406, text);
  }
  j = calloc(1, sizeof(*j));
  if (j == NULL)
    return local_fail(err, 500, "InternalFailure", "out of memory");
  j->h = h;
  j->v = v;
  j->model = v->model;
  j->in = llio_format_of(r->content_type ? r->content_type : "");
  j->out = outf;
  snprintf(j->content_type, sizeof(j->content_type), "%s",
           r->content_type ? r->content_type : "");
  j->data = r->data;
  j->len = r->len;
  j->cb = cb;
  j->arg = arg;
  buf_init(&j->msg, 4096);
  buf_init(&j->body, HOSTING_MAX_RESPONSE);
  j->work.data = j;
  if (uv_queue_work(local_engine_loop(h->e), &j->work, score, scored) != 0) {
    free(j);
    return local_fail(err, 500, "InternalFailure",
                      "cannot queue the invocation");
  }
  h->scoring++;
  return 0;
}
