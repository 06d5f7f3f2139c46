/* The AWS client (aws.h).
 *
 * A call goes through states on its own timer: KICK (deferred start),
 * HASHING (a file body's SHA-256 on the thread pool, once per call),
 * TOKEN (waiting in its service's rate limiter), SENDING (an HTTP request
 * or the recorder), BACKOFF (the retry delay) and FINISHING (a deferred
 * callback). Every path ends in call_finish, which runs the callback
 * once and closes the timer; the call is freed in the close callback.
 *
 * Retries follow botocore's standard mode (retries/standard.py,
 * quota.py); the per-service rate limiter follows its adaptive mode
 * (retries/adaptive.py, bucket.py, throttling.py): a token bucket whose
 * rate CUBIC sets from the measured send rate, off until the first
 * throttle. Calls wait for tokens in FIFO order on a timer. */
#include "aws.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "embedded.h"
#include "error.h"
#include "sigv4.h"
#include "version.h"
#include "xml.h"

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

#define AWS_DEFAULT_MAX_ATTEMPTS 3
#define AWS_RETRY_QUOTA 500 /* quota.py INITIAL_CAPACITY */
#define AWS_RETRY_COST 5
#define AWS_TIMEOUT_RETRY_COST 10
#define AWS_NO_RETRY_INCREMENT 1
#define AWS_MAX_BACKOFF 20.0
#define AWS_BODY_CAP ((size_t)1 << 30)

/* ---- Services ---------------------------------------------------------- */

enum aws_protocol { AWS_JSON, AWS_REST_JSON, AWS_REST_XML };

struct aws_service {
  const char *id;
  enum aws_protocol protocol;
  const char *target_prefix; /* JSON 1.1: X-Amz-Target = prefix.Op */
  const char *json_version;  /* JSON 1.1: application/x-amz-json-VERSION */
};

/* The services sagerun talks to, from their botocore models. */
static const struct aws_service aws_services[] = {
    {"logs", AWS_JSON, "Logs_20140328", "1.1"},
    {"s3", AWS_REST_XML, NULL, NULL},
    {"sagemaker", AWS_JSON, "SageMaker", "1.1"},
    {"sagemaker-runtime", AWS_REST_JSON, NULL, NULL},
};

#define AWS_NSERVICES (sizeof(aws_services) / sizeof(aws_services[0]))

static int service_index(const char *id)
{
  size_t i;

  if (id == NULL)
    return -1;
  for (i = 0; i < AWS_NSERVICES; i++)
    if (strcmp(aws_services[i].id, id) == 0)
      return (int)i;
  return -1;
}

/* Retryable error codes (retries/standard.py). */
static const char *const transient_codes[] = {"RequestTimeout",
                                              "RequestTimeoutException",
                                              "PriorRequestNotComplete", NULL};

static const char *const throttle_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    NULL};

static int in_list(const char *const *list, const char *s)
{
  if (s == NULL)
    return 0;
  for (; *list; list++)
    if (strcmp(*list, s) == 0)
      return 1;
  return 0;
}

/* ---- Clock and randomness ---------------------------------------------- */

static double now_s(void)
{
  return (double)uv_hrtime() / 1e9;
}

/* xorshift64*: jitter needs spread, not secrecy. */
static double xorshift_random(void *data)
{
  uint64_t *s = data;

  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ---- The client -------------------------------------------------------- */

struct aws_limiter {
  struct aws_client *client;
  uv_timer_t timer;
  int enabled;
  /* Token bucket (bucket.py). */
  double fill_rate, max_capacity, capacity, last_refill;
  int refilled;
  /* CUBIC (throttling.py). */
  double w_max, k, last_fail;
  /* Send rate (adaptive.py RateClocker). */
  double measured, last_bucket, count;
  /* Calls waiting for a token, oldest first. */
  struct aws_call *head, *tail;
  unsigned long throttles, waits;
  double waited;
};

struct aws_client {
  uv_loop_t *loop;
  char *region;
  int local;
  struct aws_credentials creds; /* strings owned; empty with a recorder */
  struct aws_recorder *recorder;
  struct http_client *http;
  int max_attempts;
  double waiter_speedup;
  double (*random)(void *data);
  void *random_data;
  uint64_t xorshift;
  int retry_quota;
  char *endpoints[AWS_NSERVICES];
  struct aws_limiter limiters[AWS_NSERVICES];
  json_t *waiters; /* parsed aws_waiters.json, on first use */
  struct aws_call *calls;
  struct aws_waiter *waiter_list;
  size_t ncalls, nwaiters; /* alive: not yet freed */
  int closing;
  int handles_closing; /* limiter timers and the HTTP client */
  void (*close_cb)(void *data);
  void *close_data;
};

enum call_state {
  CALL_KICK,
  CALL_HASHING,
  CALL_TOKEN,
  CALL_SENDING,
  CALL_BACKOFF,
  CALL_FINISHING,
  CALL_DONE
};

struct aws_call {
  struct aws_client *client;
  const struct aws_service *svc;
  struct aws_limiter *limiter;
  struct aws_call *prev, *next; /* the client's calls */
  struct aws_call *qnext;       /* the limiter's queue */
  uv_timer_t timer;
  uv_work_t work;
  enum call_state state;
  int canceled;
  aws_done_cb cb;
  void *data;
  /* The request, built once. */
  char *operation, *method, *url, *sign_path, *query;
  struct http_header *headers; /* Host first; no signing headers */
  size_t nheaders;
  struct buf body;
  int has_body_file;
  char *body_file;
  long long body_file_offset, body_file_len;
  char *response_file;
  json_t *input;
  char payload_hash[65];
  int no_retry;
  /* Attempts. */
  int attempt, max_attempts;
  int quota_cost; /* the last retry cost taken from the quota, or 0 */
  double wait_start;
  struct http_request *req;
  /* The outcome. */
  int error;
  char *error_code, *error_message, *request_id;
  json_t *output;
};

static void maybe_closed(struct aws_client *c);
static void attempt_send(struct aws_call *call);
static void on_limiter_timer(uv_timer_t *t);
static void on_call_timer(uv_timer_t *t);
static void call_finish(struct aws_call *call, const struct http_response *res);

/* ---- Adaptive rate limiter --------------------------------------------- */

static void limiter_refill(struct aws_limiter *l, double now)
{
  double fill;

  if (!l->refilled) {
    l->last_refill = now;
    l->refilled = 1;
    return;
  }
  fill = (now - l->last_refill) * l->fill_rate;
  l->capacity = fmin(l->max_capacity, l->capacity + fill);
  l->last_refill = now;
}

static void limiter_arm(struct aws_limiter *l)
{
  double wait = (1.0 - l->capacity) / l->fill_rate;
  uint64_t ms = wait > 0 ? (uint64_t)ceil(wait * 1000.0) : 0;

  if (l->head == NULL)
    return;
  uv_timer_start(&l->timer, on_limiter_timer, ms ? ms : 1, 0);
}

/* TokenBucket.max_rate's setter: settle what the old rate filled first. */
static void limiter_set_rate(struct aws_limiter *l, double rate, double now)
{
  limiter_refill(l, now);
  l->fill_rate = fmax(rate, 0.5);
  l->max_capacity = rate >= 1 ? rate : 1;
  l->capacity = fmin(l->capacity, l->max_capacity);
  limiter_arm(l);
}

static void limiter_init(struct aws_limiter *l, struct aws_client *c,
                         double now)
{
  memset(l, 0, sizeof(*l));
  l->client = c;
  l->last_fail = now;
  l->last_bucket = floor(now);
  limiter_set_rate(l, 1, now);
}

/* RateClocker.record: the send rate over half-second buckets, smoothed. */
static double limiter_clock(struct aws_limiter *l, double now)
{
  double bucket = floor(now * 2.0) / 2.0;

  l->count += 1;
  if (bucket > l->last_bucket) {
    double rate = l->count / (bucket - l->last_bucket);

    l->measured = rate * 0.8 + l->measured * 0.2;
    l->count = 0;
    l->last_bucket = bucket;
  }
  return l->measured;
}

/* ClientRateLimiter.on_receiving_response with CubicCalculator. */
static void limiter_response(struct aws_limiter *l, int throttled)
{
  double now = now_s(), measured = limiter_clock(l, now), rate, x;

  if (!throttled) {
    x = now - l->last_fail - l->k;
    rate = 0.4 * x * x * x + l->w_max;
  } else {
    l->w_max = l->enabled ? fmin(measured, l->fill_rate) : measured;
    l->k = cbrt(l->w_max * (1 - 0.7) / 0.4);
    l->last_fail = now;
    rate = l->w_max * 0.7;
    l->enabled = 1;
    l->throttles++;
  }
  limiter_set_rate(l, fmin(rate, 2.0 * measured), now);
}

/* Takes a token for call now (returns 1) or queues it (returns 0; the
 * limiter's timer sends it). */
static int limiter_acquire(struct aws_limiter *l, struct aws_call *call)
{
  double now;

  if (!l->enabled)
    return 1;
  now = now_s();
  limiter_refill(l, now);
  if (l->head == NULL && l->capacity >= 1) {
    l->capacity -= 1;
    return 1;
  }
  call->qnext = NULL;
  call->wait_start = now;
  if (l->tail)
    l->tail->qnext = call;
  else
    l->head = call;
  l->tail = call;
  l->waits++;
  limiter_arm(l);
  return 0;
}

static void limiter_remove(struct aws_limiter *l, struct aws_call *call)
{
  struct aws_call **p, *prev = NULL;

  for (p = &l->head; *p; prev = *p, p = &(*p)->qnext) {
    if (*p == call) {
      *p = call->qnext;
      if (l->tail == call)
        l->tail = prev;
      call->qnext = NULL;
      break;
    }
  }
  if (l->head == NULL)
    uv_timer_stop(&l->timer);
}

static void on_limiter_timer(uv_timer_t *t)
{
  struct aws_limiter *l = container_of(t, struct aws_limiter, timer);
  double now = now_s();
  struct aws_call *call;

  limiter_refill(l, now);
  while (l->head && l->capacity >= 1) {
    call = l->head;
    l->head = call->qnext;
    if (l->head == NULL)
      l->tail = NULL;
    call->qnext = NULL;
    l->capacity -= 1;
    l->waited += now - call->wait_start;
    /* Sending can finish the call and run user code, which may queue or
     * cancel other calls: the loop re-reads the head each time. */
    attempt_send(call);
  }
  if (l->head)
    limiter_arm(l);
}

/* ---- Retry quota ------------------------------------------------------- */

static int quota_acquire(struct aws_client *c, int cost)
{
  if (cost > c->retry_quota)
    return 0;
  c->retry_quota -= cost;
  return 1;
}

static void quota_release(struct aws_client *c, int amount)
{
  c->retry_quota += amount;
  if (c->retry_quota > AWS_RETRY_QUOTA)
    c->retry_quota = AWS_RETRY_QUOTA;
}

/* ---- Client lifetime --------------------------------------------------- */

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

static int max_attempts_from_env(const struct aws_client_opts *opts)
{
  const char *v = NULL;
  char *end;
  long n;

  if (opts->config && opts->config->getenv)
    v = opts->config->getenv("AWS_MAX_ATTEMPTS");
  else
    v = getenv("AWS_MAX_ATTEMPTS");
  if (v == NULL || *v == '\0')
    return AWS_DEFAULT_MAX_ATTEMPTS;
  errno = 0;
  n = strtol(v, &end, 10);
  if (errno || *end != '\0' || n < 1 || n > 100)
    return AWS_DEFAULT_MAX_ATTEMPTS;
  return (int)n;
}

static void client_free(struct aws_client *c)
{
  size_t i;

  for (i = 0; i < AWS_NSERVICES; i++)
    free(c->endpoints[i]);
  free(c->region);
  free(c->creds.access_key_id);
  free(c->creds.secret_access_key);
  free(c->creds.session_token);
  json_decref(c->waiters);
  free(c);
}

int aws_client_new(const struct aws_client_opts *opts, struct aws_client **out)
{
  struct aws_client *c;
  double now = now_s();
  size_t i;
  int rc;

  *out = NULL;
  if (opts->loop == NULL || opts->region == NULL || *opts->region == '\0')
    return SR_EINVAL;
  if (opts->recorder == NULL &&
      (opts->credentials == NULL || opts->credentials->access_key_id == NULL ||
       opts->credentials->secret_access_key == NULL))
    return SR_EINVAL;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return SR_ENOMEM;
  c->loop = opts->loop;
  c->local = opts->local_url != NULL;
  c->recorder = opts->recorder;
  c->region = strdup(opts->region);
  if (c->region == NULL)
    goto nomem;
  /* With a recorder the secrets are not even kept: plan never signs. */
  if (opts->recorder == NULL) {
    c->creds.access_key_id = strdup(opts->credentials->access_key_id);
    c->creds.secret_access_key = strdup(opts->credentials->secret_access_key);
    c->creds.session_token = dup_or_null(opts->credentials->session_token);
    if (c->creds.access_key_id == NULL || c->creds.secret_access_key == NULL ||
        (opts->credentials->session_token && c->creds.session_token == NULL))
      goto nomem;
  }
  for (i = 0; i < AWS_NSERVICES; i++) {
    c->endpoints[i] = aws_endpoint_resolve(aws_services[i].id, opts->region,
                                           opts->local_url, opts->config);
    /* Every service here is known: NULL means a region without hosts. */
    if (c->endpoints[i] == NULL) {
      client_free(c);
      return SR_EINVAL;
    }
  }
  c->max_attempts =
      opts->max_attempts > 0 ? opts->max_attempts : max_attempts_from_env(opts);
  c->waiter_speedup = opts->waiter_speedup > 1 ? opts->waiter_speedup : 1;
  if (opts->random) {
    c->random = opts->random;
    c->random_data = opts->random_data;
  } else {
    c->xorshift =
        uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)c;
    if (c->xorshift == 0)
      c->xorshift = 88172645463325252ULL;
    c->random = xorshift_random;
    c->random_data = &c->xorshift;
  }
  c->retry_quota = AWS_RETRY_QUOTA;
  if (opts->recorder == NULL) {
    rc = http_client_new(opts->loop, &c->http);
    if (rc) {
      client_free(c);
      return rc;
    }
  }
  /* From here on handles exist: no more failures. */
  for (i = 0; i < AWS_NSERVICES; i++) {
    limiter_init(&c->limiters[i], c, now);
    uv_timer_init(opts->loop, &c->limiters[i].timer);
  }
  *out = c;
  return 0;

nomem:
  client_free(c);
  return SR_ENOMEM;
}

static void on_client_handle_closed(void *data)
{
  struct aws_client *c = data;
  void (*cb)(void *) = c->close_cb;
  void *cb_data = c->close_data;

  if (--c->handles_closing > 0)
    return;
  client_free(c);
  if (cb)
    cb(cb_data);
}

static void on_limiter_closed(uv_handle_t *h)
{
  struct aws_limiter *l =
      container_of((uv_timer_t *)h, struct aws_limiter, timer);

  on_client_handle_closed(l->client);
}

/* Once no call and no waiter is left, closes the client's own handles. */
static void maybe_closed(struct aws_client *c)
{
  size_t i;

  if (!c->closing || c->ncalls || c->nwaiters || c->handles_closing)
    return;
  c->handles_closing = (int)AWS_NSERVICES + (c->http ? 1 : 0);
  for (i = 0; i < AWS_NSERVICES; i++)
    uv_close((uv_handle_t *)&c->limiters[i].timer, on_limiter_closed);
  if (c->http)
    http_client_close(c->http, on_client_handle_closed, c);
}

const char *aws_client_endpoint(const struct aws_client *c, const char *service)
{
  int i = service_index(service);

  return i < 0 ? NULL : c->endpoints[i];
}

int aws_client_is_local(const struct aws_client *c)
{
  return c->local;
}

int aws_client_stats(const struct aws_client *c, const char *service,
                     struct aws_client_stats *out)
{
  int i = service_index(service);
  const struct aws_limiter *l;

  memset(out, 0, sizeof(*out));
  out->retry_quota = c->retry_quota;
  if (i < 0)
    return SR_EINVAL;
  l = &c->limiters[i];
  out->limiter_enabled = l->enabled;
  out->limiter_rate = l->fill_rate;
  out->measured_rate = l->measured;
  out->throttles = l->throttles;
  out->token_waits = l->waits;
  out->token_wait_seconds = l->waited;
  return 0;
}

/* ---- Building requests ------------------------------------------------- */

static void headers_free(struct http_header *h, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    free(h[i].name);
    free(h[i].value);
  }
  free(h);
}

static int header_add(struct http_header **h, size_t *n, const char *name,
                      const char *value)
{
  struct http_header *p = realloc(*h, (*n + 1) * sizeof(**h));

  if (p == NULL)
    return SR_ENOMEM;
  *h = p;
  p[*n].name = strdup(name);
  p[*n].value = strdup(value);
  if (p[*n].name == NULL || p[*n].value == NULL) {
    free(p[*n].name);
    free(p[*n].value);
    return SR_ENOMEM;
  }
  (*n)++;
  return 0;
}

static int has_header(const struct http_header *h, size_t n, const char *name)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (strcasecmp(h[i].name, name) == 0)
      return 1;
  return 0;
}

/* Splits endpoint "scheme://authority/base" and builds the URL of path
 * and query, the Host header value (authority without a default port) and
 * the path as signed (base + path). */
static int build_url(struct aws_call *call, const char *endpoint,
                     const char *host_prefix, const char *path,
                     const char *query, struct buf *host)
{
  const char *sep = strstr(endpoint, "://"), *auth, *base;
  struct buf url, spath;
  size_t scheme_len, auth_len;
  int rc;

  if (sep == NULL)
    return SR_EINVAL;
  scheme_len = (size_t)(sep - endpoint);
  auth = sep + 3;
  auth_len = strcspn(auth, "/?");
  base = auth + auth_len;
  if (*base == '?')
    return SR_EINVAL;
  buf_init(&url, 65536);
  buf_init(&spath, 65536);
  rc = buf_add(&url, endpoint, scheme_len + 3);
  if (rc == 0 && host_prefix)
    rc = buf_adds(host, host_prefix);
  if (rc == 0)
    rc = buf_add(host, auth, auth_len);
  /* botocore leaves a scheme's default port out of Host. */
  if (rc == 0) {
    const char *h = buf_str(host);
    size_t hl = buf_len(host);

    if ((scheme_len == 5 && strncmp(endpoint, "https", 5) == 0 && hl > 4 &&
         strcmp(h + hl - 4, ":443") == 0) ||
        (scheme_len == 4 && strncmp(endpoint, "http", 4) == 0 && hl > 3 &&
         strcmp(h + hl - 3, ":80") == 0))
      buf_truncate(host, hl - (h[hl - 3] == ':' ? 3 : 4));
  }
  if (rc == 0)
    rc = buf_adds(&url, buf_str(host));
  if (rc == 0) {
    size_t bl = strlen(base);

    while (bl > 0 && base[bl - 1] == '/')
      bl--;
    rc = buf_add(&spath, base, bl);
  }
  /* botocore's _urljoin: "/" alone keeps the endpoint's own path. */
  if (rc == 0 && (buf_len(&spath) == 0 || !path || strcmp(path, "/") != 0))
    rc = buf_adds(&spath, path && *path ? path : "/");
  if (rc == 0)
    rc = buf_adds(&url, buf_str(&spath));
  if (rc == 0 && query && *query)
    rc = buf_addf(&url, "?%s", query);
  if (rc == 0) {
    call->url = buf_detach(&url, NULL);
    call->sign_path = buf_detach(&spath, NULL);
    call->query = strdup(query ? query : "");
    if (call->url == NULL || call->sign_path == NULL || call->query == NULL)
      rc = SR_ENOMEM;
  }
  buf_free(&url);
  buf_free(&spath);
  return rc;
}

static int build_request(struct aws_call *call, const struct aws_call_opts *o)
{
  const struct aws_service *svc = call->svc;
  struct aws_client *c = call->client;
  struct buf host, tmp;
  const char *path = o->path, *method = o->method;
  char *json = NULL;
  size_t i;
  int rc;

  buf_init(&host, 4096);
  buf_init(&tmp, 4096);
  if (svc->protocol == AWS_JSON) {
    path = "/";
    method = "POST";
  } else if (method == NULL) {
    method = svc->protocol == AWS_REST_JSON ? "POST" : "GET";
  }
  call->method = strdup(method);
  call->operation = strdup(o->operation ? o->operation : "");
  rc = call->method && call->operation ? 0 : SR_ENOMEM;
  if (rc == 0)
    rc = build_url(call, c->endpoints[svc - aws_services], o->host_prefix, path,
                   svc->protocol == AWS_JSON ? NULL : o->query, &host);
  if (rc)
    goto out;
  rc = header_add(&call->headers, &call->nheaders, "Host", buf_str(&host));
  if (rc)
    goto out;
  if (svc->protocol == AWS_JSON) {
    rc = buf_addf(&tmp, "%s.%s", svc->target_prefix, o->operation);
    if (rc == 0)
      rc = header_add(&call->headers, &call->nheaders, "X-Amz-Target",
                      buf_str(&tmp));
    buf_reset(&tmp);
    if (rc == 0)
      rc = buf_addf(&tmp, "application/x-amz-json-%s", svc->json_version);
    if (rc == 0)
      rc = header_add(&call->headers, &call->nheaders, "Content-Type",
                      buf_str(&tmp));
    if (rc)
      goto out;
  }
  for (i = 0; i < o->nheaders; i++) {
    /* Host and the signing headers are the client's. */
    if (strcasecmp(o->headers[i].name, "Host") == 0 ||
        strcasecmp(o->headers[i].name, "Authorization") == 0)
      continue;
    rc = header_add(&call->headers, &call->nheaders, o->headers[i].name,
                    o->headers[i].value);
    if (rc)
      goto out;
  }
  if (svc->protocol != AWS_JSON &&
      !has_header(call->headers, call->nheaders, "Content-Type")) {
    const char *ct = o->content_type;

    if (ct == NULL && o->input && o->body == NULL && o->body_file == NULL)
      ct = "application/json";
    if (ct) {
      rc = header_add(&call->headers, &call->nheaders, "Content-Type", ct);
      if (rc)
        goto out;
    }
  }
  rc = header_add(&call->headers, &call->nheaders, "User-Agent",
                  "sagerun/" SAGERUN_VERSION);
  if (rc)
    goto out;

  /* The body. */
  buf_init(&call->body, AWS_BODY_CAP);
  if (svc->protocol == AWS_JSON ||
      (o->input && o->body == NULL && o->body_file == NULL)) {
    if (o->input) {
      json = json_dumps(o->input, JSON_COMPACT | JSON_ENCODE_ANY);
      rc = json ? buf_adds(&call->body, json) : SR_ENOMEM;
      if (rc == 0) {
        call->input = json_deep_copy(o->input);
        rc = call->input ? 0 : SR_ENOMEM;
      }
    } else {
      rc = buf_adds(&call->body, "{}");
    }
  } else if (o->body_file) {
    call->has_body_file = 1;
    call->body_file = strdup(o->body_file);
    call->body_file_offset = o->body_file_offset;
    call->body_file_len = o->body_file_len;
    rc = call->body_file ? 0 : SR_ENOMEM;
    if (rc == 0 && (o->body_file_offset < 0 || o->body_file_len < -1))
      rc = SR_EINVAL;
  } else if (o->body && o->body_len) {
    rc = buf_add(&call->body, o->body, o->body_len);
  }
  if (rc)
    goto out;
  if (o->response_file) {
    call->response_file = strdup(o->response_file);
    if (call->response_file == NULL)
      rc = SR_ENOMEM;
  }

out:
  free(json);
  buf_free(&host);
  buf_free(&tmp);
  return rc;
}

/* SHA-256 (hex) of a file region; len -1 reads to the end. Runs on the
 * thread pool: sigv4_payload_hash_file hashes to EOF, and a multipart
 * part ends before it. */
static int hash_file_region(const char *path, long long off, long long len,
                            char out[65])
{
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE], chunk[65536];
  unsigned int mdlen = 0, i;
  EVP_MD_CTX *ctx = NULL;
  FILE *f = NULL;
  size_t want, got;
  int rc = SR_EIO;

  f = fopen(path, "rb");
  if (f == NULL) {
    rc = errno == ENOENT ? SR_ENOENT : SR_EIO;
    goto out;
  }
  if (fseeko(f, (off_t)off, SEEK_SET) != 0)
    goto out;
  ctx = EVP_MD_CTX_new();
  if (ctx == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
    goto out;
  for (;;) {
    want = sizeof(chunk);
    if (len >= 0 && (long long)want > len)
      want = (size_t)len;
    if (want == 0)
      break;
    got = fread(chunk, 1, want, f);
    if (got > 0 && EVP_DigestUpdate(ctx, chunk, got) != 1)
      goto out;
    if (len >= 0)
      len -= (long long)got;
    if (got < want) {
      if (ferror(f) || len > 0)
        goto out; /* shorter than the region */
      break;
    }
  }
  if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
    goto out;
  for (i = 0; i < mdlen; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[2 * mdlen] = '\0';
  rc = 0;
out:
  EVP_MD_CTX_free(ctx);
  if (f)
    fclose(f);
  return rc;
}

/* ---- Calls ------------------------------------------------------------- */

static void call_free(struct aws_call *call)
{
  free(call->operation);
  free(call->method);
  free(call->url);
  free(call->sign_path);
  free(call->query);
  headers_free(call->headers, call->nheaders);
  buf_free(&call->body);
  free(call->body_file);
  free(call->response_file);
  json_decref(call->input);
  free(call->error_code);
  free(call->error_message);
  free(call->request_id);
  json_decref(call->output);
  free(call);
}

static void on_call_closed(uv_handle_t *h)
{
  struct aws_call *call = container_of((uv_timer_t *)h, struct aws_call, timer);
  struct aws_client *c = call->client;

  call_free(call);
  c->ncalls--;
  maybe_closed(c);
}

static void call_unlink(struct aws_call *call)
{
  struct aws_client *c = call->client;

  if (call->prev)
    call->prev->next = call->next;
  else if (c->calls == call)
    c->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  call->prev = call->next = NULL;
}

/* Runs the callback once and releases the call. res is the last
 * response, or NULL when none is at hand. */
static void call_finish(struct aws_call *call, const struct http_response *res)
{
  struct http_response empty;
  struct aws_result r;

  if (call->state == CALL_DONE)
    return;
  call->state = CALL_DONE;
  call_unlink(call);
  uv_timer_stop(&call->timer);
  memset(&empty, 0, sizeof(empty));
  empty.error_text = "";
  buf_init(&empty.body, 1);
  if (res == NULL) {
    empty.error = call->error;
    res = &empty;
  }
  memset(&r, 0, sizeof(r));
  r.error = call->error;
  r.http_status = res->status;
  r.error_code = call->error_code;
  r.error_message = call->error_message;
  r.request_id = call->request_id;
  r.output = call->output;
  r.response = res;
  r.attempts = call->attempt;
  call->cb(call, &r, call->data);
  uv_close((uv_handle_t *)&call->timer, on_call_closed);
}

/* Finishes from the loop, later: for cancellation and early errors. */
static void call_finish_later(struct aws_call *call, int error)
{
  if (call->state == CALL_DONE || call->state == CALL_FINISHING)
    return;
  call->error = error;
  call->state = CALL_FINISHING;
  uv_timer_start(&call->timer, on_call_timer, 0, 0);
}

static const char *resp_header(const struct http_response *res,
                               const char *name)
{
  size_t i;

  for (i = 0; i < res->nheaders; i++)
    if (res->headers[i].name && strcasecmp(res->headers[i].name, name) == 0)
      return res->headers[i].value;
  return NULL;
}

static int set_str(char **dst, const char *s, size_t len)
{
  free(*dst);
  *dst = NULL;
  if (s == NULL)
    return 0;
  *dst = malloc(len + 1);
  if (*dst == NULL)
    return SR_ENOMEM;
  memcpy(*dst, s, len);
  (*dst)[len] = '\0';
  return 0;
}

/* "aws.protocoljson#ThrottlingException:http://..." -> the bare code. */
static int set_json_code(struct aws_call *call, const char *code)
{
  size_t len = strcspn(code, ":");
  const char *hash = NULL, *p;

  for (p = code; p < code + len; p++)
    if (*p == '#')
      hash = p;
  if (hash) {
    len -= (size_t)(hash + 1 - code);
    code = hash + 1;
  }
  return set_str(&call->error_code, code, len);
}

static const char *status_reason(int status)
{
  switch (status) {
  case 301:
    return "Moved Permanently";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 412:
    return "Precondition Failed";
  case 416:
    return "Requested Range Not Satisfiable";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "";
  }
}

/* Fills error_code and error_message from an error response, as
 * botocore's parsers do. Returns 0 or SR_ENOMEM. */
static int parse_error(struct aws_call *call, const struct http_response *res)
{
  const char *body = buf_str(&res->body), *hdr, *s;
  size_t body_len = buf_len(&res->body);
  char status[16];
  int rc = 0;

  snprintf(status, sizeof(status), "%d", res->status);
  if (call->svc->protocol == AWS_REST_XML) {
    struct xml_node *root = NULL;

    if (body_len && xml_parse(body, body_len, &root) == 0) {
      const struct xml_node *e = root;

      /* S3: <Error>; other REST-XML: <ErrorResponse><Error>. */
      if (strcmp(root->name, "Error") != 0)
        e = xml_child(root, "Error");
      s = xml_child_text(e, "Code");
      if (s)
        rc = set_str(&call->error_code, s, strlen(s));
      s = xml_child_text(e, "Message");
      if (rc == 0 && s)
        rc = set_str(&call->error_message, s, strlen(s));
      s = xml_child_text(e, "RequestId");
      if (s == NULL)
        s = xml_child_text(root, "RequestId");
      if (rc == 0 && s && call->request_id == NULL)
        rc = set_str(&call->request_id, s, strlen(s));
    }
    xml_free(root);
    if (rc == 0 && call->error_code == NULL) {
      /* No body (HEAD) or no XML: the status says it. */
      const char *code = status;

      if (res->status == 404)
        code = "NotFound";
      else if (res->status == 403)
        code = "Forbidden";
      rc = set_str(&call->error_code, code, strlen(code));
      if (rc == 0 && call->error_message == NULL) {
        s = status_reason(res->status);
        rc = set_str(&call->error_message, s, strlen(s));
      }
    }
    return rc;
  }

  /* JSON protocols. */
  {
    json_t *doc = NULL, *v;
    const char *code = NULL;

    if (body_len)
      doc = json_loadb(body, body_len, 0, NULL);
    if (doc && !json_is_object(doc)) {
      json_decref(doc);
      doc = NULL;
    }
    hdr = resp_header(res, "x-amzn-errortype");
    v = json_object_get(doc, "__type");
    if (call->svc->protocol == AWS_REST_JSON && hdr)
      code = hdr; /* RestJSONParser._inject_error_code: the header wins */
    else if (json_is_string(v))
      code = json_string_value(v);
    else if (hdr)
      code = hdr;
    else if (call->svc->protocol == AWS_REST_JSON) {
      v = json_object_get(doc, "code");
      if (!json_is_string(v))
        v = json_object_get(doc, "Code");
      if (json_is_string(v))
        code = json_string_value(v);
    }
    rc = set_json_code(call, code ? code : status);
    v = json_object_get(doc, "message");
    if (!json_is_string(v))
      v = json_object_get(doc, "Message");
    if (rc == 0)
      rc = set_str(&call->error_message,
                   json_is_string(v) ? json_string_value(v) : "",
                   json_is_string(v) ? json_string_length(v) : 0);
    json_decref(doc);
    return rc;
  }
}

/* S3 answers some operations 200 OK with an <Error> body: botocore's
 * check_for_200_error treats those as 500s. */
static int is_200_error(const struct aws_call *call,
                        const struct http_response *res)
{
  struct xml_node *root = NULL;
  int yes = 0;

  if (call->svc->protocol != AWS_REST_XML || res->status != 200 ||
      (strcmp(call->operation, "CompleteMultipartUpload") != 0 &&
       strcmp(call->operation, "CopyObject") != 0 &&
       strcmp(call->operation, "UploadPartCopy") != 0))
    return 0;
  if (buf_len(&res->body) == 0)
    return 1; /* cut short: retry as botocore does */
  if (xml_parse(buf_str(&res->body), buf_len(&res->body), &root) != 0)
    return 1;
  yes = strcmp(root->name, "Error") == 0;
  xml_free(root);
  return yes;
}

/* Transport errors worth another attempt: the network's, not ours. */
static int transport_retryable(int error)
{
  return error != SR_ECANCELED && error != SR_ENOMEM && error != SR_EINVAL &&
         error != SR_ENOENT && error != SR_ETOOBIG;
}

/* Decides what the response to an attempt means: done, or another
 * attempt after a backoff. */
static void handle_response(struct aws_call *call,
                            const struct http_response *res)
{
  struct aws_client *c = call->client;
  int status = res->status, transient = 0, throttled = 0, error = 0, rc;
  int cost;
  const char *rid;
  double delay;

  call->req = NULL;
  free(call->error_code);
  free(call->error_message);
  call->error_code = call->error_message = NULL;
  json_decref(call->output);
  call->output = NULL;
  free(call->request_id);
  call->request_id = NULL;

  if (res->error || call->canceled) {
    error = call->canceled ? SR_ECANCELED : res->error;
    transient = transport_retryable(error);
    status = 0;
  } else {
    rid = resp_header(res, "x-amzn-requestid");
    if (rid == NULL)
      rid = resp_header(res, "x-amz-request-id");
    if (rid && set_str(&call->request_id, rid, strlen(rid))) {
      error = SR_ENOMEM;
      goto decided;
    }
    if (status >= 300 || status < 200 || is_200_error(call, res)) {
      rc = parse_error(call, res);
      error = rc ? rc : SR_EIO;
      if (status == 200)
        status = 500; /* for the retry rules */
    } else if (call->svc->protocol == AWS_JSON ||
               (call->svc->protocol == AWS_REST_JSON &&
                resp_header(res, "content-type") &&
                strstr(resp_header(res, "content-type"), "json"))) {
      if (buf_len(&res->body) == 0) {
        call->output = json_object();
      } else {
        call->output =
            json_loadb(buf_str(&res->body), buf_len(&res->body), 0, NULL);
        /* REST-JSON bodies are the model's answer: not ours to judge. */
        if (call->output == NULL && call->svc->protocol == AWS_JSON)
          error = SR_EPARSE;
      }
      if (call->output == NULL && error == 0 && call->svc->protocol == AWS_JSON)
        error = SR_ENOMEM;
    }
    if (error == SR_EIO) {
      transient = in_list(transient_codes, call->error_code) || status == 500 ||
                  status == 502 || status == 503 || status == 504;
      throttled = in_list(throttle_codes, call->error_code) || status == 429;
    }
  }
  if (error != SR_ECANCELED)
    limiter_response(call->limiter, throttled);

decided:
  call->error = error;
  if (error == 0) {
    /* quota.py: a success gives back what its retries took, or 1. */
    quota_release(c,
                  call->quota_cost ? call->quota_cost : AWS_NO_RETRY_INCREMENT);
    call_finish(call, res);
    return;
  }
  if (!(transient || throttled) || call->no_retry || call->canceled ||
      call->attempt >= call->max_attempts) {
    call_finish(call, res);
    return;
  }
  cost = error == SR_ETIMEDOUT ? AWS_TIMEOUT_RETRY_COST : AWS_RETRY_COST;
  if (!quota_acquire(c, cost)) {
    call_finish(call, res);
    return;
  }
  call->quota_cost = cost;
  /* Full jitter: rand * min(2^(attempt-1), 20) seconds. */
  delay = c->random(c->random_data) *
          fmin(pow(2.0, call->attempt - 1), AWS_MAX_BACKOFF);
  call->state = CALL_BACKOFF;
  uv_timer_start(&call->timer, on_call_timer,
                 (uint64_t)(delay > 0 ? delay * 1000.0 : 0), 0);
}

static void on_http_done(struct http_request *req,
                         const struct http_response *res, void *data)
{
  struct aws_call *call = data;

  (void)req;
  handle_response(call, res);
}

/* The headers of one attempt: the built ones plus what signing adds. */
static int sign_attempt(struct aws_call *call, struct sigv4_result *sr,
                        struct http_header **out, size_t *nout)
{
  struct aws_client *c = call->client;
  struct sigv4_header *sh = NULL;
  struct http_header *h = NULL;
  struct sigv4_credentials creds;
  struct sigv4_request req;
  struct sigv4_params p;
  size_t i, n = call->nheaders;
  int rc;

  *out = NULL;
  *nout = 0;
  sh = calloc(n, sizeof(*sh));
  if (sh == NULL)
    return SR_ENOMEM;
  for (i = 0; i < n; i++) {
    sh[i].name = call->headers[i].name;
    sh[i].value = call->headers[i].value;
  }
  memset(&req, 0, sizeof(req));
  req.method = call->method;
  req.path = call->sign_path;
  req.query = call->query;
  req.headers = sh;
  req.nheaders = n;
  req.payload_hash = call->payload_hash;
  creds.access_key_id = c->creds.access_key_id;
  creds.secret_access_key = c->creds.secret_access_key;
  creds.session_token = c->creds.session_token;
  memset(&p, 0, sizeof(p));
  p.region = c->region;
  p.service = aws_signing_name(call->svc->id);
  p.now = time(NULL);
  p.s3 = call->svc->protocol == AWS_REST_XML;
  p.content_sha256_header = p.s3;
  p.credentials = &creds;
  rc = p.service ? sigv4_sign_header(&req, &p, sr) : SR_EINVAL;
  if (rc)
    goto out;
  h = calloc(n + sr->nheaders_to_add, sizeof(*h));
  if (h == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  /* http copies every string: these only borrow. */
  for (i = 0; i < n; i++)
    h[i] = call->headers[i];
  for (i = 0; i < sr->nheaders_to_add; i++) {
    h[n + i].name = (char *)sr->headers_to_add[i].name;
    h[n + i].value = (char *)sr->headers_to_add[i].value;
  }
  *out = h;
  *nout = n + sr->nheaders_to_add;
out:
  free(sh);
  return rc;
}

static void rec_response_free(struct http_response *res)
{
  headers_free(res->headers, res->nheaders);
  res->headers = NULL;
  res->nheaders = 0;
  buf_free(&res->body);
}

/* The recorder's answer to a request that streams its body to a file:
 * write it there as the HTTP client would. */
static int rec_write_file(const char *path, struct http_response *res)
{
  struct buf tmp;
  FILE *f;
  int rc = SR_EIO;

  buf_init(&tmp, 65536);
  if (buf_addf(&tmp, "%s.part", path))
    return SR_ENOMEM;
  f = fopen(buf_str(&tmp), "wb");
  if (f == NULL)
    goto out;
  if (fwrite(buf_str(&res->body), 1, buf_len(&res->body), f) !=
      buf_len(&res->body)) {
    fclose(f);
    goto out;
  }
  if (fclose(f) != 0 || rename(buf_str(&tmp), path) != 0)
    goto out;
  res->body_bytes = (long long)buf_len(&res->body);
  buf_reset(&res->body);
  rc = 0;
out:
  if (rc)
    remove(buf_str(&tmp));
  buf_free(&tmp);
  return rc;
}

static void send_recorded(struct aws_call *call)
{
  struct aws_client *c = call->client;
  struct aws_transport_request tr;
  struct http_response res;
  int rc;

  memset(&tr, 0, sizeof(tr));
  tr.service = call->svc->id;
  tr.operation = call->operation;
  tr.method = call->method;
  tr.url = call->url;
  tr.headers = call->headers;
  tr.nheaders = call->nheaders;
  if (call->has_body_file) {
    tr.body_file = call->body_file;
    tr.body_file_offset = call->body_file_offset;
    tr.body_file_len = call->body_file_len;
  } else if (buf_len(&call->body)) {
    tr.body = buf_str(&call->body);
    tr.body_len = buf_len(&call->body);
  }
  tr.input = call->input;
  memset(&res, 0, sizeof(res));
  res.error_text = "";
  buf_init(&res.body, BUF_CAP_DEFAULT);
  rc = c->recorder->record(c->recorder, &tr, &res);
  if (rc == 0 && res.body_bytes == 0)
    res.body_bytes = (long long)buf_len(&res.body);
  if (rc == 0 && res.error == 0 && call->response_file && res.status >= 200 &&
      res.status < 300)
    rc = rec_write_file(call->response_file, &res);
  if (rc) {
    /* The recorder refused: no retry, whatever it was. */
    call->error = rc;
    call_finish(call, NULL);
  } else {
    handle_response(call, &res);
  }
  rec_response_free(&res);
}

static void attempt_send(struct aws_call *call)
{
  struct aws_client *c = call->client;
  struct http_request_opts ho;
  struct http_response fail;
  struct http_header *h = NULL;
  struct sigv4_result sr;
  size_t nh = 0;
  int rc;

  call->state = CALL_SENDING;
  call->attempt++;
  if (c->recorder) {
    send_recorded(call);
    return;
  }
  sigv4_result_init(&sr);
  rc = sign_attempt(call, &sr, &h, &nh);
  if (rc) {
    call->error = rc;
    call_finish(call, NULL);
    goto out;
  }
  memset(&ho, 0, sizeof(ho));
  ho.method = call->method;
  ho.url = call->url;
  ho.headers = h;
  ho.nheaders = nh;
  if (call->has_body_file) {
    ho.body_file = call->body_file;
    ho.body_file_offset = call->body_file_offset;
    ho.body_file_len = call->body_file_len;
  } else if (buf_len(&call->body)) {
    ho.body = buf_str(&call->body); /* none at all for HEAD and GET */
    ho.body_len = buf_len(&call->body);
  }
  ho.response_file = call->response_file;
  rc = http_request_start(c->http, &ho, on_http_done, call, &call->req);
  if (rc) {
    /* As if the connection failed: the retry rules decide. */
    memset(&fail, 0, sizeof(fail));
    fail.error = rc;
    fail.error_text = "";
    buf_init(&fail.body, 1);
    handle_response(call, &fail);
  }
out:
  free(h);
  sigv4_result_free(&sr);
}

/* The start of each attempt: a token first. */
static void attempt_begin(struct aws_call *call)
{
  if (call->canceled) {
    call->error = SR_ECANCELED;
    call_finish(call, NULL);
    return;
  }
  call->state = CALL_TOKEN;
  if (limiter_acquire(call->limiter, call))
    attempt_send(call);
}

static void on_call_timer(uv_timer_t *t)
{
  struct aws_call *call = container_of(t, struct aws_call, timer);

  if (call->state == CALL_FINISHING)
    call_finish(call, NULL);
  else
    attempt_begin(call);
}

static void on_hash_work(uv_work_t *w)
{
  struct aws_call *call = container_of(w, struct aws_call, work);

  call->error = hash_file_region(call->body_file, call->body_file_offset,
                                 call->body_file_len, call->payload_hash);
}

static void on_hash_done(uv_work_t *w, int status)
{
  struct aws_call *call = container_of(w, struct aws_call, work);

  if (status == UV_ECANCELED || call->canceled)
    call->error = SR_ECANCELED;
  if (call->error) {
    call_finish(call, NULL);
    return;
  }
  attempt_begin(call);
}

int aws_call_start(struct aws_client *c, const struct aws_call_opts *opts,
                   aws_done_cb cb, void *data, struct aws_call **out)
{
  struct aws_call *call;
  int idx, rc;

  if (out)
    *out = NULL;
  if (c->closing)
    return SR_ECANCELED;
  idx = service_index(opts->service);
  if (idx < 0 || cb == NULL)
    return SR_EINVAL;
  if (aws_services[idx].protocol == AWS_JSON
          ? opts->operation == NULL || *opts->operation == '\0'
          : opts->path == NULL || opts->path[0] != '/')
    return SR_EINVAL;
  call = calloc(1, sizeof(*call));
  if (call == NULL)
    return SR_ENOMEM;
  call->client = c;
  call->svc = &aws_services[idx];
  call->limiter = &c->limiters[idx];
  call->cb = cb;
  call->data = data;
  call->no_retry = opts->no_retry;
  call->max_attempts = call->no_retry ? 1 : c->max_attempts;
  buf_init(&call->body, AWS_BODY_CAP);
  rc = build_request(call, opts);
  if (rc) {
    call_free(call);
    return rc;
  }
  /* Hashed once per call: retries re-send the same bytes. The recorder
   * never signs, so it needs no hash. */
  if (c->recorder == NULL && !call->has_body_file)
    sigv4_payload_hash(buf_str(&call->body), buf_len(&call->body),
                       call->payload_hash);
  uv_timer_init(c->loop, &call->timer);
  call->next = c->calls;
  if (c->calls)
    c->calls->prev = call;
  c->calls = call;
  c->ncalls++;
  if (c->recorder == NULL && call->has_body_file) {
    call->state = CALL_HASHING;
    rc = uv_queue_work(c->loop, &call->work, on_hash_work, on_hash_done);
    if (rc) {
      call->error = SR_EIO;
      call->state = CALL_KICK;
      call_finish_later(call, SR_EIO);
    }
  } else {
    call->state = CALL_KICK;
    uv_timer_start(&call->timer, on_call_timer, 0, 0);
  }
  if (out)
    *out = call;
  return 0;
}

void aws_call_cancel(struct aws_call *call)
{
  if (call == NULL || call->canceled || call->state == CALL_DONE ||
      call->state == CALL_FINISHING)
    return;
  call->canceled = 1;
  switch (call->state) {
  case CALL_HASHING:
    /* on_hash_done sees the flag (or UV_ECANCELED) and finishes. */
    uv_cancel((uv_req_t *)&call->work);
    break;
  case CALL_SENDING:
    /* Only real requests are in flight across loop turns. */
    if (call->req)
      http_request_cancel(call->req);
    break;
  case CALL_TOKEN:
    limiter_remove(call->limiter, call);
    call_finish_later(call, SR_ECANCELED);
    break;
  default:
    uv_timer_stop(&call->timer);
    call_finish_later(call, SR_ECANCELED);
    break;
  }
}

/* ---- Waiters ----------------------------------------------------------- */

struct aws_waiter {
  struct aws_client *client;
  struct aws_waiter *prev, *next;
  uv_timer_t timer;
  char *service, *operation;
  json_t *input;
  const json_t *acceptors; /* in client->waiters */
  double delay;            /* seconds, after the speed-up */
  int max_attempts, attempts;
  double deadline; /* now_s() clock */
  struct aws_call *call;
  int canceled, done;
  void (*on_poll)(const struct aws_result *r, void *data);
  aws_waiter_cb cb;
  void *data;
};

static void on_waiter_closed(uv_handle_t *h)
{
  struct aws_waiter *w =
      container_of((uv_timer_t *)h, struct aws_waiter, timer);
  struct aws_client *c = w->client;

  free(w->service);
  free(w->operation);
  json_decref(w->input);
  free(w);
  c->nwaiters--;
  maybe_closed(c);
}

static void waiter_finish(struct aws_waiter *w, int status,
                          const struct aws_result *last)
{
  struct aws_client *c = w->client;

  if (w->done)
    return;
  w->done = 1;
  uv_timer_stop(&w->timer);
  if (w->prev)
    w->prev->next = w->next;
  else if (c->waiter_list == w)
    c->waiter_list = w->next;
  if (w->next)
    w->next->prev = w->prev;
  w->cb(w, status, last, w->data);
  uv_close((uv_handle_t *)&w->timer, on_waiter_closed);
}

/* A dotted path with [] projections and [N] indexes, JMESPath's subset
 * the waiters use. Returns a new reference, or NULL for no value. */
static json_t *path_eval(const json_t *v, const char *p)
{
  char *end;
  long idx;
  size_t n;

  while (v && *p) {
    if (*p == '.') {
      p++;
      continue;
    }
    if (p[0] == '[' && p[1] == ']') {
      json_t *outv, *r;
      size_t i;

      if (!json_is_array(v))
        return NULL;
      outv = json_array();
      if (outv == NULL)
        return NULL;
      for (i = 0; i < json_array_size(v); i++) {
        r = path_eval(json_array_get(v, i), p + 2);
        if (r && !json_is_null(r) && json_array_append_new(outv, r) != 0) {
          json_decref(outv);
          return NULL;
        } else if (r && json_is_null(r)) {
          json_decref(r);
        }
      }
      return outv;
    }
    if (*p == '[') {
      errno = 0;
      idx = strtol(p + 1, &end, 10);
      if (errno || end == p + 1 || *end != ']' || !json_is_array(v))
        return NULL;
      if (idx < 0)
        idx += (long)json_array_size(v);
      v = idx < 0 ? NULL : json_array_get(v, (size_t)idx);
      p = end + 1;
      continue;
    }
    n = strcspn(p, ".[");
    v = json_is_object(v) ? json_object_getn(v, p, n) : NULL;
    p += n;
  }
  return v ? json_incref((json_t *)v) : NULL;
}

/* Does the acceptor match this poll? botocore's waiter matchers. */
static int acceptor_matches(const json_t *a, const struct aws_result *r)
{
  const char *matcher = json_string_value(json_object_get(a, "matcher"));
  const char *arg = json_string_value(json_object_get(a, "argument"));
  const json_t *expected = json_object_get(a, "expected");
  json_t *v;
  size_t i;
  int yes = 0;

  if (matcher == NULL || expected == NULL)
    return 0;
  if (strcmp(matcher, "error") == 0) {
    if (json_is_boolean(expected))
      return json_is_true(expected) ? r->error_code != NULL : r->error == 0;
    return r->error_code && json_is_string(expected) &&
           strcmp(r->error_code, json_string_value(expected)) == 0;
  }
  if (strcmp(matcher, "status") == 0)
    return r->http_status &&
           json_integer_value(expected) == (json_int_t)r->http_status;
  if (r->error || r->output == NULL || arg == NULL)
    return 0;
  v = path_eval(r->output, arg);
  if (v == NULL)
    return 0;
  if (strcmp(matcher, "path") == 0) {
    yes = json_equal(v, (json_t *)expected);
  } else if (strcmp(matcher, "pathAll") == 0) {
    yes = json_is_array(v) && json_array_size(v) > 0;
    for (i = 0; yes && i < json_array_size(v); i++)
      yes = json_equal(json_array_get(v, i), (json_t *)expected);
  } else if (strcmp(matcher, "pathAny") == 0) {
    for (i = 0; !yes && json_is_array(v) && i < json_array_size(v); i++)
      yes = json_equal(json_array_get(v, i), (json_t *)expected);
  }
  json_decref(v);
  return yes;
}

static void waiter_poll(struct aws_waiter *w);

static void on_waiter_timer(uv_timer_t *t)
{
  struct aws_waiter *w = container_of(t, struct aws_waiter, timer);

  if (w->canceled)
    waiter_finish(w, SR_ECANCELED, NULL);
  else
    waiter_poll(w);
}

static void on_waiter_call(struct aws_call *call, const struct aws_result *r,
                           void *data)
{
  struct aws_waiter *w = data;
  const char *state = NULL;
  double now, wait;
  size_t i;

  (void)call;
  w->call = NULL;
  if (w->canceled || r->error == SR_ECANCELED) {
    waiter_finish(w, SR_ECANCELED, NULL);
    return;
  }
  w->attempts++;
  if (w->on_poll)
    w->on_poll(r, w->data);
  for (i = 0; i < json_array_size(w->acceptors); i++) {
    const json_t *a = json_array_get(w->acceptors, i);

    if (acceptor_matches(a, r)) {
      state = json_string_value(json_object_get(a, "state"));
      break;
    }
  }
  if (state && strcmp(state, "success") == 0) {
    waiter_finish(w, 0, r);
    return;
  }
  if (state && strcmp(state, "failure") == 0) {
    waiter_finish(w, SR_EIO, r);
    return;
  }
  /* No acceptor for an error: botocore stops there too. */
  if (state == NULL && r->error) {
    waiter_finish(w, r->error, r);
    return;
  }
  now = now_s();
  if (w->attempts >= w->max_attempts || now >= w->deadline) {
    waiter_finish(w, SR_ETIMEDOUT, r);
    return;
  }
  /* The last poll lands on the deadline rather than past it. */
  wait = fmin(w->delay, w->deadline - now);
  uv_timer_start(&w->timer, on_waiter_timer,
                 (uint64_t)(wait > 0 ? llround(wait * 1000.0) : 0), 0);
}

static void waiter_poll(struct aws_waiter *w)
{
  struct aws_call_opts o;
  int rc;

  memset(&o, 0, sizeof(o));
  o.service = w->service;
  o.operation = w->operation;
  o.input = w->input;
  rc = aws_call_start(w->client, &o, on_waiter_call, w, &w->call);
  if (rc)
    waiter_finish(w, rc, NULL); /* from a timer: the loop */
}

static int waiters_load(struct aws_client *c)
{
  const struct embedded_file *f;

  if (c->waiters)
    return 0;
  f = embedded_find("runner/aws_waiters.json");
  if (f == NULL)
    return SR_ENOENT;
  c->waiters = json_loadb(f->data, f->len, 0, NULL);
  return c->waiters ? 0 : SR_EPARSE;
}

int aws_waiter_start(struct aws_client *c, const char *name,
                     const json_t *input, time_t deadline,
                     void (*on_poll)(const struct aws_result *r, void *data),
                     aws_waiter_cb cb, void *data, struct aws_waiter **out)
{
  const json_t *def, *svc;
  const char *dot, *op;
  struct aws_waiter *w;
  double delay, now = now_s();
  json_int_t max;
  int rc;

  if (out)
    *out = NULL;
  if (c->closing)
    return SR_ECANCELED;
  if (name == NULL || cb == NULL)
    return SR_EINVAL;
  rc = waiters_load(c);
  if (rc)
    return rc;
  dot = strchr(name, '.');
  if (dot == NULL)
    return SR_ENOENT;
  svc = json_object_getn(c->waiters, name, (size_t)(dot - name));
  def = json_object_get(json_object_get(svc, "waiters"), dot + 1);
  op = json_string_value(json_object_get(def, "operation"));
  delay = json_number_value(json_object_get(def, "delay"));
  max = json_integer_value(json_object_get(def, "maxAttempts"));
  if (def == NULL || op == NULL || delay <= 0 || max <= 0 ||
      !json_is_array(json_object_get(def, "acceptors")))
    return SR_ENOENT;
  w = calloc(1, sizeof(*w));
  if (w == NULL)
    return SR_ENOMEM;
  w->client = c;
  w->service = strndup(name, (size_t)(dot - name));
  w->operation = strdup(op);
  w->input = input ? json_deep_copy(input) : json_object();
  if (w->service == NULL || w->operation == NULL || w->input == NULL) {
    free(w->service);
    free(w->operation);
    json_decref(w->input);
    free(w);
    return SR_ENOMEM;
  }
  w->acceptors = json_object_get(def, "acceptors");
  w->delay = delay / c->waiter_speedup;
  w->max_attempts = (int)max;
  /* Without a deadline, maxAttempts polls are the budget: delay x
   * maxAttempts of sleep, counted without the clock. */
  w->deadline = deadline > 0 ? now + difftime(deadline, time(NULL)) : HUGE_VAL;
  w->on_poll = on_poll;
  w->cb = cb;
  w->data = data;
  uv_timer_init(c->loop, &w->timer);
  w->next = c->waiter_list;
  if (c->waiter_list)
    c->waiter_list->prev = w;
  c->waiter_list = w;
  c->nwaiters++;
  /* The first poll right away (botocore), from the loop. */
  uv_timer_start(&w->timer, on_waiter_timer, 0, 0);
  if (out)
    *out = w;
  return 0;
}

void aws_waiter_cancel(struct aws_waiter *w)
{
  if (w == NULL || w->done || w->canceled)
    return;
  w->canceled = 1;
  if (w->call) {
    aws_call_cancel(w->call); /* its callback finishes the waiter */
    return;
  }
  uv_timer_start(&w->timer, on_waiter_timer, 0, 0);
}

/* ---- Closing ----------------------------------------------------------- */

void aws_client_close(struct aws_client *c, void (*close_cb)(void *data),
                      void *data)
{
  struct aws_waiter *w, *wnext;
  struct aws_call *call, *next;

  if (c->closing)
    return;
  c->closing = 1;
  c->close_cb = close_cb;
  c->close_data = data;
  for (w = c->waiter_list; w; w = wnext) {
    wnext = w->next;
    aws_waiter_cancel(w);
  }
  for (call = c->calls; call; call = next) {
    next = call->next;
    aws_call_cancel(call);
  }
  maybe_closed(c);
}
