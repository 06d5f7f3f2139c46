/* The HTTP front of the local engine: libmicrohttpd in external epoll
 * mode on the libuv loop, routing, faults, SigV4 and bodies. See
 * server.h.
 *
 * A request goes through these states, one MHD access-handler call (or
 * more, for the body) each:
 *   NEW      headers are in: pick the service, draw a fault, maybe
 *            suspend the connection for injected latency (DELAYED);
 *   BEGIN    verify what can be verified before the body (S3 declares its
 *            payload hash in a header), prepare the body's sink;
 *   BODY     take the body chunks (hashing them when the signature or the
 *            declared hash needs it);
 *   DONE     the last call: finish verification, run the operation, queue
 *            the answer;
 *   SCORING  InvokeEndpoint only: the connection is suspended while the
 *            model scores on the thread pool (hosting.h); the answer
 *            resumes it and the next call queues the answer.
 * An error found before the body is answered at once only when the
 * client waits for "100 Continue" or sends too big a body; otherwise the
 * body (often empty) is read and dropped first, so that a client still
 * sending sees the answer rather than a reset connection, and the
 * connection stays open (MHD closes it after an answer queued early). */
#include "server.h"

/* microhttpd.h needs these first. */
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/sigv4.h"
#include "s3api.h"
#include "s3store.h"
#include "verify.h"

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

#define SERVER_CONNECTION_TIMEOUT_S 600u
#define SERVER_MAX_HEADERS 256
/* Above this, an early error is answered without reading the body (the
 * connection is then closed). */
#define SERVER_DISCARD_MAX ((unsigned long long)1 << 20)
#define SERVER_LOG_URI_MAX 160

enum req_state { REQ_NEW, REQ_DELAYED, REQ_BODY, REQ_SCORING, REQ_DONE };

struct delay {
  uv_timer_t timer;
  struct srv_req *q;
};

struct srv_req {
  struct local_server *srv;
  struct MHD_Connection *conn;
  enum req_state state;
  char *uri;   /* the raw request target, as received */
  char *split; /* a copy split into path and query */
  struct local_request view;
  struct sigv4_header *headers;
  size_t nheaders;
  enum local_service service;
  const char *operation; /* JSON services: after the target prefix */
  char *endpoint;        /* Runtime: the endpoint name, decoded */
  struct s3api_route route;
  int route_parsed;
  char request_id[40];
  double started;
  /* Auth: verify after the body when the hash is not declared. */
  int verify_after;
  int check_hash; /* declared hash is hex: compare with the body's */
  char declared_hash[80];
  EVP_MD_CTX *sha;
  /* Body. */
  int to_store;
  struct buf body;
  unsigned long long body_len, body_cap;
  int discard;
  /* An answer decided before the body was read. */
  int has_pending;
  struct local_error pending;
  const char *pending_tag;
  char *pending_value;
  struct delay *delay;
  /* Runtime: the model's answer, once it came. */
  struct local_runtime_answer answer;
  int answered;
  int orphaned; /* the connection ended while scoring: free on answer */
  struct srv_req *next_suspended;
};

struct local_server {
  struct local_engine *engine;
  uv_loop_t *loop;
  struct MHD_Daemon *mhd;
  uv_poll_t poll;
  uv_timer_t timer;
  int port;
  const struct local_credentials *credentials;
  struct local_faults *faults;
  struct s3store *s3;
  struct srv_req *suspended; /* delayed or scoring */
  unsigned long long id_state;
  int open_handles;
  int closing;
  void (*close_cb)(void *arg);
  void *close_arg;
};

static void srv_req_free(struct srv_req *q);
static void server_run(struct local_server *s);

/* --- request/response helpers --- */

const char *local_request_header(const struct local_request *r,
                                 const char *name)
{
  return local_verify_header(r->headers, r->nheaders, name);
}

void local_response_init(struct local_response *r)
{
  r->status = 200;
  buf_init(&r->body, BUF_CAP_DEFAULT);
  buf_init(&r->headers, (size_t)1 << 20);
  r->fd = -1;
  r->offset = 0;
  r->length = 0;
  r->error_code[0] = '\0';
}

void local_response_free(struct local_response *r)
{
  buf_free(&r->body);
  buf_free(&r->headers);
  if (r->fd >= 0)
    close(r->fd);
  r->fd = -1;
}

int local_response_header(struct local_response *r, const char *name,
                          const char *value)
{
  int rc = buf_add(&r->headers, name, strlen(name) + 1);

  return rc ? rc : buf_add(&r->headers, value, strlen(value) + 1);
}

static unsigned long long next_random(unsigned long long *state)
{
  unsigned long long z = (*state += 0x9E3779B97F4A7C15ULL);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* S3 request IDs are 16 uppercase hex digits; the JSON services use
 * UUIDs. */
static void request_id_make(struct local_server *s, struct srv_req *q)
{
  unsigned long long a = next_random(&s->id_state);
  unsigned long long b = next_random(&s->id_state);

  if (q->service == LOCAL_SVC_S3)
    snprintf(q->request_id, sizeof(q->request_id), "%016llX", a);
  else
    snprintf(q->request_id, sizeof(q->request_id),
             "%08llx-%04llx-4%03llx-%04llx-%012llx", a >> 32,
             (a >> 16) & 0xffff, a & 0xfff, 0x8000 | (b >> 48 & 0x3fff),
             b & 0xffffffffffffULL);
}

/* --- answers --- */

static void json_error(struct local_response *resp,
                       const struct local_error *err, const char *request_id,
                       int rest)
{
  json_t *o =
      json_pack("{s:s, s:s}", "__type", err->code, "message", err->message);
  char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

  buf_reset(&resp->body);
  buf_reset(&resp->headers);
  resp->status = err->status;
  if (text == NULL || buf_adds(&resp->body, text) != 0)
    buf_reset(&resp->body);
  free(text);
  json_decref(o);
  local_response_header(resp, "Content-Type",
                        rest ? "application/json"
                             : "application/x-amz-json-1.1");
  local_response_header(resp, "x-amzn-RequestId", request_id);
  local_response_header(resp, "x-amzn-ErrorType", err->code);
  snprintf(resp->error_code, sizeof(resp->error_code), "%s", err->code);
}

/* The error answer in q's service's protocol. */
static void error_response(struct srv_req *q, struct local_response *resp,
                           const struct local_error *err, const char *tag,
                           const char *value)
{
  if (q->service == LOCAL_SVC_S3)
    s3api_error(resp, err, q->request_id, tag, value);
  else
    json_error(resp, err, q->request_id, q->service == LOCAL_SVC_RUNTIME);
}

/* The request target as the log shows it: cut to a length, and without
 * the query of a presigned URL (its signature works for anyone who reads
 * it until it expires). */
static const char *log_target(const struct srv_req *q, char *out, size_t outlen)
{
  const char *query = strchr(q->uri, '?');

  if (query &&
      (strstr(query, "X-Amz-Signature=") || strstr(query, "Signature=")))
    snprintf(out, outlen, "%.*s?(presigned)",
             (int)((size_t)(query - q->uri) < SERVER_LOG_URI_MAX
                       ? (size_t)(query - q->uri)
                       : SERVER_LOG_URI_MAX),
             q->uri);
  else
    snprintf(out, outlen, "%.*s%s", SERVER_LOG_URI_MAX, q->uri,
             strlen(q->uri) > SERVER_LOG_URI_MAX ? "..." : "");
  return out;
}

static void log_request(struct srv_req *q, const struct local_response *resp,
                        const char *code)
{
  char target[SERVER_LOG_URI_MAX + 16];
  double ms = (local_engine_now(q->srv->engine) - q->started) * 1e3;
  const char *op = q->service == LOCAL_SVC_S3
                       ? (q->route_parsed ? s3api_op_name(q->route.op) : "-")
                   : q->operation                    ? q->operation
                   : q->service == LOCAL_SVC_RUNTIME ? "InvokeEndpoint"
                                                     : "-";

  local_engine_log(q->srv->engine, "%s %s %s %s -> %d%s%s (%.1f ms) %s",
                   local_service_name(q->service), op, q->view.method,
                   log_target(q, target, sizeof(target)), resp->status,
                   code && *code ? " " : "", code ? code : "", ms,
                   q->request_id);
}

/* Hands resp to MHD. Returns MHD_YES, or MHD_NO (the connection is then
 * closed) when MHD refuses it. */
static enum MHD_Result queue(struct srv_req *q, struct local_response *resp)
{
  struct MHD_Response *r;
  const char *h, *end;
  enum MHD_Result ok;

  if (resp->fd >= 0) {
    r = MHD_create_response_from_fd_at_offset64(
        (uint64_t)resp->length, resp->fd, (uint64_t)resp->offset);
    if (r)
      resp->fd = -1; /* MHD closes it */
  } else {
    size_t len;
    char *data = buf_detach(&resp->body, &len);

    if (data == NULL)
      return MHD_NO;
    r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (r == NULL)
      free(data);
  }
  if (r == NULL)
    return MHD_NO;
  h = buf_str(&resp->headers);
  end = h + buf_len(&resp->headers);
  while (h < end) {
    const char *v = h + strlen(h) + 1;

    MHD_add_response_header(r, h, v);
    h = v + strlen(v) + 1;
  }
  MHD_add_response_header(r, "Server", "sagerun-local");
  log_request(q, resp, resp->error_code);
  ok = MHD_queue_response(q->conn, (unsigned)resp->status, r);
  MHD_destroy_response(r);
  q->state = REQ_DONE;
  return ok;
}

static enum MHD_Result queue_error(struct srv_req *q,
                                   const struct local_error *err,
                                   const char *tag, const char *value)
{
  struct local_response resp;
  enum MHD_Result ok;

  local_response_init(&resp);
  error_response(q, &resp, err, tag, value);
  ok = queue(q, &resp);
  local_response_free(&resp);
  return ok;
}

/* --- parsing the request --- */

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
                                    const char *key, const char *value)
{
  struct srv_req *q = cls;

  (void)kind;
  if (q->nheaders == SERVER_MAX_HEADERS)
    return MHD_NO;
  q->headers[q->nheaders].name = key;
  q->headers[q->nheaders].value = value ? value : "";
  q->nheaders++;
  return MHD_YES;
}

/* "/endpoints/NAME/invocations" -> NAME decoded (malloc'ed), or NULL. */
static char *runtime_endpoint(const char *path)
{
  static const char pre[] = "/endpoints/", post[] = "/invocations";
  size_t len = strlen(path), n;
  struct buf b;

  if (len <= sizeof(pre) - 1 + sizeof(post) - 1 ||
      strncmp(path, pre, sizeof(pre) - 1) != 0 ||
      strcmp(path + len - (sizeof(post) - 1), post) != 0)
    return NULL;
  n = len - (sizeof(pre) - 1) - (sizeof(post) - 1);
  path += sizeof(pre) - 1;
  if (memchr(path, '/', n))
    return NULL;
  buf_init(&b, n + 1);
  if (sigv4_uri_decode(&b, path, n, 0) != 0)
    return NULL;
  return buf_detach(&b, NULL);
}

/* Whether the query names an S3 multipart or delete subresource: a POST
 * with one of them is S3 even if its path looks like an invocation. */
static int s3_post_query(const char *query)
{
  return strstr(query, "uploads") || strstr(query, "uploadId") ||
         strstr(query, "delete");
}

/* Picks the service from the headers and path. */
static void classify(struct srv_req *q)
{
  const char *target = local_request_header(&q->view, "x-amz-target");

  q->service = LOCAL_SVC_S3;
  if (strcmp(q->view.method, "POST") != 0)
    return;
  if (target) {
    if (strncmp(target, "SageMaker.", 10) == 0) {
      q->service = LOCAL_SVC_SAGEMAKER;
      q->operation = target + 10;
    } else if (strncmp(target, "Logs_20140328.", 14) == 0) {
      q->service = LOCAL_SVC_LOGS;
      q->operation = target + 14;
    } else {
      /* A JSON request for a service this engine does not have. */
      q->service = LOCAL_SVC_SAGEMAKER;
      q->operation = NULL;
    }
    return;
  }
  if (!s3_post_query(q->view.query)) {
    q->endpoint = runtime_endpoint(q->view.path);
    if (q->endpoint)
      q->service = LOCAL_SVC_RUNTIME;
  }
}

static const char *signing_name(enum local_service s)
{
  switch (s) {
  case LOCAL_SVC_S3:
    return "s3";
  case LOCAL_SVC_LOGS:
    return "logs";
  default:
    return "sagemaker"; /* also Runtime's signing name */
  }
}

static void verify_request_make(struct srv_req *q,
                                struct local_verify_request *v)
{
  memset(v, 0, sizeof(*v));
  v->method = q->view.method;
  v->path = q->view.path;
  v->query = q->view.query;
  v->headers = q->headers;
  v->nheaders = q->nheaders;
  v->s3 = q->service == LOCAL_SVC_S3;
  v->service = signing_name(q->service);
  v->now = local_engine_now(q->srv->engine);
}

static int is_hex64(const char *s)
{
  int i;

  for (i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return s[64] == '\0';
}

/* Content-Length as a number; -1 when absent or malformed. */
static long long content_length(struct srv_req *q)
{
  const char *h = local_request_header(&q->view, "content-length");
  long long v = 0;

  if (h == NULL || *h == '\0')
    return -1;
  for (; *h; h++) {
    if (*h < '0' || *h > '9' || v > (LLONG_MAX - 9) / 10)
      return -1;
    v = v * 10 + (*h - '0');
  }
  return v;
}

static int has_body(struct srv_req *q)
{
  const char *te = local_request_header(&q->view, "transfer-encoding");

  return content_length(q) > 0 || (te && strstr(te, "chunked"));
}

/* Sets the answer to give for an error found before the body. MHD closes
 * the connection after an answer queued this early, so it is queued now
 * only when that is worth it: the client waits for "100 Continue" (and
 * will not send the body) or the body is too big to read for nothing.
 * Otherwise the (small or empty) body is read and dropped and the answer
 * goes out on a connection that stays open. */
static enum MHD_Result fail_early(struct srv_req *q,
                                  const struct local_error *err,
                                  const char *tag, const char *value)
{
  const char *expect = local_request_header(&q->view, "expect");
  long long len = content_length(q);

  if ((has_body(q) && expect && strstr(expect, "100")) ||
      len > (long long)SERVER_DISCARD_MAX)
    return queue_error(q, err, tag, value);
  q->has_pending = 1;
  q->pending = *err;
  q->pending_tag = tag;
  free(q->pending_value);
  q->pending_value = value ? strdup(value) : NULL;
  q->discard = 1;
  q->state = REQ_BODY;
  return MHD_YES;
}

/* --- faults --- */

static void delay_closed(uv_handle_t *h)
{
  free(container_of(h, struct delay, timer));
}

/* Suspends q's connection (MHD calls no handler for it until resume). */
static void suspend(struct srv_req *q)
{
  q->next_suspended = q->srv->suspended;
  q->srv->suspended = q;
  MHD_suspend_connection(q->conn);
}

/* The connection goes on where it stopped; ends a delay's timer. */
static void resume(struct srv_req *q)
{
  struct srv_req **pp;

  for (pp = &q->srv->suspended; *pp; pp = &(*pp)->next_suspended)
    if (*pp == q) {
      *pp = q->next_suspended;
      break;
    }
  q->next_suspended = NULL;
  if (q->delay) {
    uv_close((uv_handle_t *)&q->delay->timer, delay_closed);
    q->delay = NULL;
  }
  MHD_resume_connection(q->conn);
}

static void on_delay(uv_timer_t *t)
{
  struct delay *d = container_of(t, struct delay, timer);
  struct local_server *s = d->q->srv;

  resume(d->q);
  /* MHD wants a run after a resume in external polling mode. */
  server_run(s);
}

/* Suspends the connection for ms. Returns 0, or SR_ENOMEM. */
static int delay_start(struct srv_req *q, unsigned ms)
{
  struct delay *d = calloc(1, sizeof(*d));

  if (d == NULL)
    return SR_ENOMEM;
  d->q = q;
  if (uv_timer_init(q->srv->loop, &d->timer) != 0) {
    free(d);
    return SR_ENOMEM;
  }
  uv_timer_start(&d->timer, on_delay, ms, 0);
  q->delay = d;
  q->state = REQ_DELAYED;
  suspend(q);
  return 0;
}

static enum MHD_Result inject(struct srv_req *q, enum local_fault f)
{
  char target[SERVER_LOG_URI_MAX + 16];
  struct local_error err;

  if (f == LOCAL_FAULT_DROP) {
    local_engine_log(q->srv->engine, "fault: drop %s %s", q->view.method,
                     log_target(q, target, sizeof(target)));
    return MHD_NO; /* MHD closes the connection without an answer */
  }
  if (f == LOCAL_FAULT_THROTTLE) {
    if (q->service == LOCAL_SVC_S3)
      local_fail(&err, 503, "SlowDown", "Please reduce your request rate.");
    else
      local_fail(&err, 400, "ThrottlingException", "Rate exceeded");
  } else if (q->service == LOCAL_SVC_S3) {
    local_fail(&err, 500, "InternalError",
               "We encountered an internal error. Please try again.");
  } else {
    local_fail(&err, 500, "InternalFailure",
               "The request processing has failed because of an unknown "
               "error, exception or failure.");
  }
  return fail_early(q, &err, NULL, NULL);
}

/* --- BEGIN --- */

static enum MHD_Result begin(struct srv_req *q)
{
  struct local_server *s = q->srv;
  struct local_verify_request v;
  struct local_error err;
  enum local_auth kind;
  const char *declared;
  long long len;
  int rc, is_public = 0;

  verify_request_make(q, &v);
  kind = local_verify_kind(&v);
  if (q->service == LOCAL_SVC_S3) {
    if (s3api_route_parse(&q->view, &q->route) != 0)
      return MHD_NO;
    q->route_parsed = 1;
  }
  if (q->service != LOCAL_SVC_S3 && q->operation == NULL &&
      q->service != LOCAL_SVC_RUNTIME) {
    local_fail(&err, 400, "UnknownOperationException", "%s",
               "The action or operation requested is invalid. Verify that "
               "the action is typed correctly.");
    return fail_early(q, &err, NULL, NULL);
  }
  if (kind == LOCAL_AUTH_NONE) {
    if (q->service == LOCAL_SVC_S3 && s3api_op_is_read(q->route.op) &&
        q->route.bucket &&
        s3store_bucket_exists(s->s3, q->route.bucket, &is_public) == 0 &&
        is_public) {
      q->view.anonymous = 1;
    } else {
      local_verify_fail_anonymous(&v, &err);
      return fail_early(q, &err, NULL, NULL);
    }
  } else {
    declared = local_verify_declared_hash(&v);
    if (declared == NULL && q->service == LOCAL_SVC_S3) {
      local_fail(&err, 400, "InvalidRequest",
                 "Missing required header for this request: "
                 "x-amz-content-sha256");
      return fail_early(q, &err, NULL, NULL);
    }
    if (declared && strncmp(declared, "STREAMING-", 10) == 0) {
      local_fail(&err, 501, "NotImplemented",
                 "sagerun local does not take aws-chunked (%s) bodies; "
                 "send the payload's SHA-256 or UNSIGNED-PAYLOAD",
                 declared);
      return fail_early(q, &err, NULL, NULL);
    }
    if (declared && strcmp(declared, "UNSIGNED-PAYLOAD") != 0 &&
        !is_hex64(declared)) {
      local_fail(&err, 400, "InvalidArgument",
                 "x-amz-content-sha256 must be UNSIGNED-PAYLOAD or a valid "
                 "sha256 value.");
      return fail_early(q, &err, "ArgumentName", "x-amz-content-sha256");
    }
    if (declared) {
      if (local_verify(&v, s->credentials, declared, &err) != 0)
        return fail_early(q, &err, NULL, NULL);
      q->check_hash = is_hex64(declared);
      snprintf(q->declared_hash, sizeof(q->declared_hash), "%s", declared);
    } else {
      q->verify_after = 1;
    }
  }
  /* A request S3 cannot take (bad key, unsupported subresource) is
   * answered now that its signature is known to be good. */
  if (q->service == LOCAL_SVC_S3 && q->route.op == S3API_BAD)
    return fail_early(q, &q->route.error,
                      q->route.key && q->route.error.status == 400 ? "Key"
                                                                   : NULL,
                      q->route.key);
  if (q->check_hash || q->verify_after) {
    q->sha = EVP_MD_CTX_new();
    if (q->sha == NULL || !EVP_DigestInit_ex(q->sha, EVP_sha256(), NULL))
      return MHD_NO;
  }
  /* The body's sink and cap. */
  if (q->service == LOCAL_SVC_S3 && s3api_op_body_to_store(q->route.op)) {
    q->to_store = 1;
    q->body_cap = (unsigned long long)S3STORE_MAX_PUT;
  } else if (q->service == LOCAL_SVC_S3) {
    q->body_cap = LOCAL_SERVER_S3_BODY_CAP;
  } else if (q->service == LOCAL_SVC_RUNTIME) {
    q->body_cap = LOCAL_SERVER_INVOKE_CAP;
  } else {
    q->body_cap = LOCAL_SERVER_JSON_CAP;
  }
  len = content_length(q);
  if (len > (long long)q->body_cap) {
    if (q->service == LOCAL_SVC_S3)
      local_fail(&err, 400, "EntityTooLarge",
                 "Your proposed upload exceeds the maximum allowed size");
    else if (q->service == LOCAL_SVC_RUNTIME)
      local_fail(&err, 413, "ValidationError",
                 "Request payload size %lld exceeds the limit of %zu bytes",
                 len, LOCAL_SERVER_INVOKE_CAP);
    else
      local_fail(&err, 413, "SerializationException",
                 "Request body is too large");
    return queue_error(q, &err, NULL, NULL);
  }
  buf_init(&q->body, (size_t)q->body_cap);
  /* The declared length (within the cap) in one allocation. */
  if (!q->to_store && len > 0 && buf_reserve(&q->body, (size_t)len) != 0)
    return MHD_NO;
  if (q->to_store) {
    rc = s3store_writer_begin(s->s3, &q->view.upload);
    if (rc) {
      local_fail(&err, 500, "InternalError", "cannot store the upload: %s",
                 sr_strerror(rc));
      return fail_early(q, &err, NULL, NULL);
    }
  }
  q->state = REQ_BODY;
  return MHD_YES;
}

/* --- BODY --- */

static void take_chunk(struct srv_req *q, const char *data, size_t len)
{
  struct local_error err;
  int rc;

  if (q->discard)
    return;
  q->body_len += len;
  if (q->body_len > q->body_cap) {
    /* A chunked body that grew past the cap: read on, answer at the end. */
    local_fail(&q->pending, q->service == LOCAL_SVC_S3 ? 400 : 413,
               q->service == LOCAL_SVC_S3        ? "EntityTooLarge"
               : q->service == LOCAL_SVC_RUNTIME ? "ValidationError"
                                                 : "SerializationException",
               "Request body exceeds the limit of %llu bytes", q->body_cap);
    q->discard = 1;
    q->has_pending = 1;
    return;
  }
  if (q->sha && !EVP_DigestUpdate(q->sha, data, len))
    rc = SR_ENOMEM;
  else if (q->to_store)
    rc = s3store_writer_write(q->view.upload, data, len);
  else
    rc = buf_add(&q->body, data, len);
  if (rc) {
    local_fail(&err, 500,
               q->service == LOCAL_SVC_S3 ? "InternalError" : "InternalFailure",
               "cannot take the request body: %s", sr_strerror(rc));
    q->pending = err;
    q->has_pending = 1;
    q->discard = 1;
  }
}

/* --- DONE --- */

static void handle_json(struct srv_req *q, struct local_response *resp,
                        struct local_error *err, int *failed)
{
  struct local_engine *e = q->srv->engine;
  json_t *in = NULL, *out = NULL;
  json_error_t jerr;
  char *text = NULL;
  int rc;

  if (q->view.body_len == 0)
    in = json_object();
  else
    in = json_loadb(q->view.body, q->view.body_len, JSON_REJECT_DUPLICATES,
                    &jerr);
  if (in == NULL || !json_is_object(in)) {
    local_fail(err, 400, "SerializationException",
               "Start of structure or map found where not expected.");
    *failed = 1;
    goto out;
  }
  if (q->service == LOCAL_SVC_SAGEMAKER)
    rc = local_sagemaker_call(e, q->operation, in, &out, err);
  else
    rc = local_logs_call(e, q->operation, in, &out, err);
  if (rc != 0) {
    *failed = 1;
    goto out;
  }
  text = json_dumps(out ? out : json_object(), JSON_COMPACT);
  if (text == NULL || buf_adds(&resp->body, text) != 0) {
    local_fail(err, 500, "InternalFailure", "out of memory");
    *failed = 1;
    goto out;
  }
  local_response_header(resp, "Content-Type", "application/x-amz-json-1.1");
  local_response_header(resp, "x-amzn-RequestId", q->request_id);
out:
  free(text);
  json_decref(in);
  json_decref(out);
}

/* The model's answer, from the loop: resume the connection, whose next
 * handler call queues it (runtime_answer). */
static void runtime_answered(struct local_runtime_answer *a, void *arg)
{
  struct srv_req *q = arg;

  if (q->orphaned) {
    free(a->body);
    srv_req_free(q);
    return;
  }
  q->answer = *a;
  q->answered = 1;
  resume(q);
  server_run(q->srv);
}

/* Starts scoring; 0 with the connection suspended, or -1 with err. */
static int runtime_start(struct srv_req *q, struct local_error *err)
{
  struct local_runtime_request r;

  memset(&r, 0, sizeof(r));
  r.endpoint = q->endpoint;
  r.content_type = local_request_header(&q->view, "content-type");
  r.accept = local_request_header(&q->view, "accept");
  r.target_variant =
      local_request_header(&q->view, "x-amzn-sagemaker-target-variant");
  r.data = q->view.body;
  r.len = q->view.body_len;
  if (local_runtime_invoke(q->srv->engine, &r, runtime_answered, q, err) != 0)
    return -1;
  q->state = REQ_SCORING;
  suspend(q);
  return 0;
}

static enum MHD_Result runtime_answer(struct srv_req *q)
{
  struct local_runtime_answer *a = &q->answer;
  struct local_response resp;
  enum MHD_Result ok;

  local_response_init(&resp);
  if (a->failed) {
    error_response(q, &resp, &a->err, NULL, NULL);
  } else if (buf_add(&resp.body, a->body ? a->body : "", a->len) != 0) {
    local_fail(&a->err, 500, "InternalFailure", "out of memory");
    error_response(q, &resp, &a->err, NULL, NULL);
  } else {
    local_response_header(&resp, "Content-Type", a->content_type);
    local_response_header(&resp, "x-Amzn-Invoked-Production-Variant",
                          a->variant);
    local_response_header(&resp, "x-amzn-RequestId", q->request_id);
  }
  free(a->body);
  a->body = NULL;
  ok = queue(q, &resp);
  local_response_free(&resp);
  return ok;
}

static enum MHD_Result finish(struct srv_req *q)
{
  struct local_response resp;
  struct local_verify_request v;
  struct local_error err;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  char hash[65];
  enum MHD_Result ok;
  int failed = 0, i;

  if (q->has_pending)
    return queue_error(q, &q->pending, q->pending_tag, q->pending_value);
  hash[0] = '\0';
  if (q->sha) {
    if (!EVP_DigestFinal_ex(q->sha, md, &mdlen) || mdlen != 32)
      return MHD_NO;
    for (i = 0; i < 32; i++)
      snprintf(hash + 2 * i, 3, "%02x", md[i]);
  }
  if (q->verify_after) {
    verify_request_make(q, &v);
    if (local_verify(&v, q->srv->credentials, hash, &err) != 0)
      return queue_error(q, &err, NULL, NULL);
  }
  if (q->check_hash && strcmp(hash, q->declared_hash) != 0) {
    if (q->service == LOCAL_SVC_S3)
      local_fail(&err, 400, "XAmzContentSHA256Mismatch",
                 "The provided 'x-amz-content-sha256' header does not match "
                 "what was computed.");
    else
      local_fail(&err, 400, "InvalidSignatureException",
                 "The provided 'x-amz-content-sha256' header does not match "
                 "what was computed.");
    return queue_error(q, &err, "ClientComputedContentSHA256",
                       q->declared_hash);
  }
  q->view.body = buf_str(&q->body);
  q->view.body_len = buf_len(&q->body);
  local_response_init(&resp);
  err.code[0] = '\0';
  switch (q->service) {
  case LOCAL_SVC_S3:
    s3api_handle(&q->view, &q->route, &resp);
    break;
  case LOCAL_SVC_RUNTIME:
    if (runtime_start(q, &err) == 0) {
      local_response_free(&resp);
      return MHD_YES; /* runtime_answered resumes */
    }
    failed = 1;
    break;
  default:
    handle_json(q, &resp, &err, &failed);
    break;
  }
  if (failed)
    error_response(q, &resp, &err, NULL, NULL);
  ok = queue(q, &resp);
  local_response_free(&resp);
  return ok;
}

/* --- MHD callbacks --- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
  struct local_server *s = cls;
  struct srv_req *q = calloc(1, sizeof(*q));

  (void)conn;
  if (q == NULL)
    return NULL;
  q->srv = s;
  q->uri = strdup(uri);
  q->split = strdup(uri);
  q->headers = calloc(SERVER_MAX_HEADERS, sizeof(*q->headers));
  buf_init(&q->body, 1);
  if (q->uri == NULL || q->split == NULL || q->headers == NULL) {
    free(q->uri);
    free(q->split);
    free(q->headers);
    free(q);
    return NULL;
  }
  q->started = local_engine_now(s->engine);
  return q;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct srv_req *q = *con_cls;
  char target[SERVER_LOG_URI_MAX + 16];

  (void)cls;
  (void)conn;
  (void)toe;
  if (q == NULL)
    return;
  *con_cls = NULL;
  if (q->state != REQ_DONE && q->view.method)
    local_engine_log(q->srv->engine,
                     "%s %s: connection ended before the answer",
                     q->view.method, log_target(q, target, sizeof(target)));
  /* The thread pool still reads the body: the answer frees q. */
  if (q->state == REQ_SCORING && !q->answered) {
    q->orphaned = 1;
    return;
  }
  srv_req_free(q);
}

static void srv_req_free(struct srv_req *q)
{
  s3store_writer_abort(q->view.upload);
  if (q->route_parsed)
    s3api_route_free(&q->route);
  EVP_MD_CTX_free(q->sha);
  buf_free(&q->body);
  free(q->pending_value);
  free(q->answer.body);
  free(q->endpoint);
  free(q->headers);
  free(q->uri);
  free(q->split);
  free(q);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
  struct local_server *s = cls;
  struct srv_req *q = *con_cls;
  unsigned latency = 0;
  enum local_fault f;
  char *mark;

  (void)url;
  (void)version;
  if (q == NULL)
    return MHD_NO; /* out of memory when the request began */
  switch (q->state) {
  case REQ_NEW:
    q->conn = conn;
    q->view.engine = s->engine;
    q->view.s3 = s->s3;
    q->view.method = method;
    mark = strchr(q->split, '?');
    if (mark)
      *mark = '\0';
    q->view.path = q->split;
    q->view.query = mark ? mark + 1 : "";
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, q);
    q->view.headers = q->headers;
    q->view.nheaders = q->nheaders;
    q->view.request_id = q->request_id;
    classify(q);
    request_id_make(s, q);
    f = s->faults ? local_faults_next(s->faults, q->service, &latency)
                  : LOCAL_FAULT_NONE;
    if (f != LOCAL_FAULT_NONE)
      return inject(q, f);
    if (latency > 0)
      return delay_start(q, latency) == 0 ? MHD_YES : MHD_NO;
    return begin(q);
  case REQ_DELAYED:
    return begin(q);
  case REQ_BODY:
    if (*upload_data_size > 0) {
      take_chunk(q, upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    return finish(q);
  case REQ_SCORING:
    *upload_data_size = 0;
    return q->answered ? runtime_answer(q) : MHD_YES;
  case REQ_DONE:
    /* MHD may call again while the answer goes out; drop any body. */
    *upload_data_size = 0;
    return MHD_YES;
  }
  return MHD_NO;
}

/* --- the loop side --- */

static void on_timer(uv_timer_t *t);

/* Lets MHD do its work, then arms the timer for its next deadline. */
static void server_run(struct local_server *s)
{
  MHD_UNSIGNED_LONG_LONG ms;

  if (s->mhd == NULL || s->closing)
    return;
  MHD_run(s->mhd);
  if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
    uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
  else
    uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *t)
{
  server_run(container_of(t, struct local_server, timer));
}

static void on_poll(uv_poll_t *p, int status, int events)
{
  (void)status;
  (void)events;
  server_run(container_of(p, struct local_server, poll));
}

static int parse_bind(const char *bind, int port, struct sockaddr_storage *ss,
                      int *ipv6)
{
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

  memset(ss, 0, sizeof(*ss));
  *ipv6 = 0;
  if (inet_pton(AF_INET, bind, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    return 0;
  }
  if (inet_pton(AF_INET6, bind, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *ipv6 = 1;
    return 0;
  }
  return SR_EINVAL;
}

int local_server_start(uv_loop_t *loop, const struct local_server_config *c,
                       struct local_server **out, char *err, size_t errlen)
{
  const union MHD_DaemonInfo *info;
  struct sockaddr_storage ss;
  struct local_server *s;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  int ipv6, rc, epfd;

  *out = NULL;
  if (c->port < 0 || c->port > 65535 ||
      parse_bind(c->bind ? c->bind : "127.0.0.1", c->port, &ss, &ipv6) != 0) {
    snprintf(err, errlen, "bad listen address \"%s\" or port %d",
             c->bind ? c->bind : "127.0.0.1", c->port);
    return SR_EINVAL;
  }
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return SR_ENOMEM;
  s->engine = c->engine;
  s->loop = loop;
  s->credentials = c->credentials;
  s->faults = c->faults;
  s->s3 = c->s3;
  if (RAND_bytes((unsigned char *)&s->id_state, sizeof(s->id_state)) != 1)
    s->id_state = (unsigned long long)getpid();
  if (ipv6)
    flags |= MHD_USE_IPv6;
  s->mhd = MHD_start_daemon(
      flags, (uint16_t)c->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, LOCAL_SERVER_CONNECTION_MEMORY,
      MHD_OPTION_CONNECTION_TIMEOUT, SERVER_CONNECTION_TIMEOUT_S,
      MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1, MHD_OPTION_END);
  if (s->mhd == NULL) {
    snprintf(err, errlen, "cannot listen on %s port %d (in use?)",
             c->bind ? c->bind : "127.0.0.1", c->port);
    free(s);
    return SR_EIO;
  }
  info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
  s->port = info ? info->port : c->port;
  info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
  epfd = info ? info->epoll_fd : -1;
  rc = epfd >= 0 ? uv_poll_init(loop, &s->poll, epfd) : UV_EINVAL;
  if (rc != 0) {
    snprintf(err, errlen, "cannot watch the server's epoll fd: %s",
             uv_strerror(rc));
    MHD_stop_daemon(s->mhd);
    free(s);
    return SR_EIO;
  }
  uv_timer_init(loop, &s->timer);
  s->open_handles = 2;
  uv_poll_start(&s->poll, UV_READABLE, on_poll);
  server_run(s);
  *out = s;
  return 0;
}

int local_server_port(const struct local_server *s)
{
  return s->port;
}

static void server_handle_closed(uv_handle_t *h)
{
  struct local_server *s = h->data;

  if (--s->open_handles > 0)
    return;
  if (s->close_cb)
    s->close_cb(s->close_arg);
  free(s);
}

void local_server_close(struct local_server *s, void (*cb)(void *arg),
                        void *arg)
{
  s->close_cb = cb;
  s->close_arg = arg;
  /* MHD must not stop with suspended connections: resume them first
   * (those still scoring are then orphaned: their answer frees them). */
  while (s->suspended)
    resume(s->suspended);
  s->closing = 1;
  s->poll.data = s;
  s->timer.data = s;
  /* Stop watching the epoll fd before MHD closes it. */
  uv_close((uv_handle_t *)&s->poll, server_handle_closed);
  uv_close((uv_handle_t *)&s->timer, server_handle_closed);
  MHD_stop_daemon(s->mhd);
  s->mhd = NULL;
}
