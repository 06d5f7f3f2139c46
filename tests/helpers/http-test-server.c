/* http-test-server: a local HTTP/1.1 server for the HTTP client's tests
 * and benchmark, with fault injection. libmicrohttpd runs it on its own
 * threads (epoll, a pool of two), so it carries a thousand connections.
 *
 *   http-test-server --port-file FILE
 *
 * binds 127.0.0.1 on an ephemeral port, writes the port number to FILE
 * (atomically, by rename) and serves until SIGTERM or SIGINT.
 *
 * Endpoints (every response carries x-connection-id, a number unique to
 * the TCP connection, so clients can see connection reuse):
 *   GET  /bytes/N[?chunked=1]
 *                          N bytes of the pattern byte(i) = i % 251 (chunked:
 *                          without a Content-Length)
 *   ANY  /echo[?discard=1] the request body back (discard: not kept), with
 *                          x-body-sha256, x-body-length and x-method
 *   GET  /status/CODE[?code=NAME&format=json|xml]
 *                          that status with an AWS-style error body
 *   GET  /slow/MS          waits MS milliseconds, then answers "slow"
 *   GET  /drop             closes the connection without a response
 *   GET  /headers          the request headers as JSON, with the method
 *                          and the connection id
 *   ANY  /flaky/KEY?fail=N&kind=503|throttle|drop
 *                          the first N requests for KEY fail as kind says,
 *                          later ones answer {"ok": true, "attempts": k}
 *                          with x-body-sha256 and x-body-length */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../runner/buf.h"

#define ECHO_CAP ((size_t)1 << 30)
#define FLAKY_KEYS 256
#define PATTERN_BLOCK (64 * 1024)

enum endpoint {
  EP_UNKNOWN,
  EP_BYTES,
  EP_ECHO,
  EP_STATUS,
  EP_SLOW,
  EP_DROP,
  EP_HEADERS,
  EP_FLAKY
};

/* Per request, from the first call of the handler to completion. */
struct req_state {
  enum endpoint ep;
  EVP_MD_CTX *sha;
  struct buf body;
  int keep_body;
  unsigned long long body_len;
  /* /slow: suspended until deadline, then resumed by the timer thread. */
  struct MHD_Connection *conn;
  double deadline_ms;
  int slow_started, slow_done;
  struct req_state *slow_next;
};

struct flaky_key {
  char key[128];
  int count;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static struct req_state *slow_list; /* under lock */
static int quitting;                /* under lock */
static struct flaky_key flaky[FLAKY_KEYS];
static int nflaky;
static uintptr_t next_conn_id;

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Resumes the /slow requests whose time has come (all when quitting).
 * Resuming happens outside the lock: a suspended connection cannot go
 * away before it is resumed. */
static void *slow_thread(void *arg)
{
  (void)arg;
  pthread_mutex_lock(&lock);
  for (;;) {
    struct req_state *s, **pp, *ready = NULL;
    double now = now_ms(), next = -1;

    for (pp = &slow_list; *pp;) {
      s = *pp;
      if (quitting || s->deadline_ms <= now) {
        *pp = s->slow_next;
        s->slow_next = ready;
        ready = s;
        continue;
      }
      if (next < 0 || s->deadline_ms < next)
        next = s->deadline_ms;
      pp = &s->slow_next;
    }
    if (ready) {
      pthread_mutex_unlock(&lock);
      while (ready) {
        s = ready;
        ready = s->slow_next;
        s->slow_done = 1;
        MHD_resume_connection(s->conn);
      }
      pthread_mutex_lock(&lock);
      continue;
    }
    if (quitting)
      break;
    if (next < 0) {
      pthread_cond_wait(&cond, &lock);
    } else {
      struct timespec ts;
      double when = next - now;

      clock_gettime(CLOCK_MONOTONIC, &ts);
      ts.tv_sec += (time_t)(when / 1e3);
      ts.tv_nsec += (long)((when - (double)(long)(when / 1e3) * 1e3) * 1e6);
      if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
      }
      pthread_cond_timedwait(&cond, &lock, &ts);
    }
  }
  pthread_mutex_unlock(&lock);
  return NULL;
}

static uintptr_t conn_id(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

  return ci ? (uintptr_t)ci->socket_context : 0;
}

static void notify_connection(void *cls, struct MHD_Connection *conn,
                              void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
  (void)cls;
  (void)conn;
  if (toe != MHD_CONNECTION_NOTIFY_STARTED)
    return;
  pthread_mutex_lock(&lock);
  *socket_context = (void *)++next_conn_id;
  pthread_mutex_unlock(&lock);
}

static void request_completed(void *cls, struct MHD_Connection *conn,
                              void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
  struct req_state *st = *con_cls;

  (void)cls;
  (void)conn;
  (void)toe;
  if (st == NULL)
    return;
  EVP_MD_CTX_free(st->sha);
  buf_free(&st->body);
  free(st);
  *con_cls = NULL;
}

/* Queues a response with the connection id added; takes resp over. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
  char id[32];
  enum MHD_Result ret;

  if (resp == NULL)
    return MHD_NO;
  snprintf(id, sizeof(id), "%lu", (unsigned long)conn_id(conn));
  MHD_add_response_header(resp, "x-connection-id", id);
  ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

/* Replies with the content of b (taken over) and a content type. */
static enum MHD_Result reply_buf(struct MHD_Connection *conn, unsigned status,
                                 struct buf *b, const char *type)
{
  size_t len;
  char *data = buf_detach(b, &len);
  struct MHD_Response *resp;

  if (data == NULL)
    return MHD_NO;
  resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free(data);
    return MHD_NO;
  }
  if (type)
    MHD_add_response_header(resp, "Content-Type", type);
  return reply(conn, status, resp);
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned status,
                                  const char *type, const char *fmt, ...)
{
  struct buf b;
  va_list ap;
  int rc;

  buf_init(&b, BUF_CAP_DEFAULT);
  va_start(ap, fmt);
  rc = buf_vaddf(&b, fmt, ap);
  va_end(ap);
  if (rc)
    return MHD_NO;
  return reply_buf(conn, status, &b, type);
}

/* cls is the body size when it is sent chunked (the response size is
 * then unknown to MHD), else unused. */
static ssize_t pattern_reader(void *cls, uint64_t pos, char *out, size_t max)
{
  uint64_t total = (uint64_t)(uintptr_t)cls;
  unsigned v = (unsigned)(pos % 251);
  size_t i;

  if (total) {
    if (pos >= total)
      return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > total - pos)
      max = (size_t)(total - pos);
  }
  for (i = 0; i < max; i++) {
    out[i] = (char)v;
    if (++v == 251)
      v = 0;
  }
  return (ssize_t)max;
}

static enum MHD_Result serve_bytes(struct MHD_Connection *conn, const char *arg)
{
  char *end;
  unsigned long long n;
  struct MHD_Response *resp;

  errno = 0;
  n = strtoull(arg, &end, 10);
  if (errno || end == arg || *end)
    return reply_text(conn, 400, "text/plain", "bad size\n");
  if (MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "chunked") &&
      n > 0)
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, PATTERN_BLOCK,
                                             pattern_reader,
                                             (void *)(uintptr_t)n, NULL);
  else
    resp = MHD_create_response_from_callback(n, PATTERN_BLOCK, pattern_reader,
                                             NULL, NULL);
  if (resp)
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
  return reply(conn, 200, resp);
}

/* Adds x-body-sha256 and x-body-length for the request body received;
 * returns 0 or -1. */
static int add_body_headers(struct MHD_Response *resp, struct req_state *st)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, i;
  char hex[2 * EVP_MAX_MD_SIZE + 1], len[32];

  if (EVP_DigestFinal_ex(st->sha, md, &mdlen) != 1)
    return -1;
  for (i = 0; i < mdlen; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  hex[2 * mdlen] = '\0';
  snprintf(len, sizeof(len), "%llu", st->body_len);
  if (MHD_add_response_header(resp, "x-body-sha256", hex) != MHD_YES ||
      MHD_add_response_header(resp, "x-body-length", len) != MHD_YES)
    return -1;
  return 0;
}

/* Replies with b (taken over) as the body and the request body's digest
 * in the headers. */
static enum MHD_Result reply_with_digest(struct MHD_Connection *conn,
                                         struct req_state *st, struct buf *b,
                                         const char *method, const char *type)
{
  size_t blen;
  char *data = buf_detach(b, &blen);
  struct MHD_Response *resp;

  if (data == NULL)
    return MHD_NO;
  resp = MHD_create_response_from_buffer(blen, data, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free(data);
    return MHD_NO;
  }
  if (add_body_headers(resp, st) != 0 ||
      MHD_add_response_header(resp, "x-method", method) != MHD_YES ||
      MHD_add_response_header(resp, "Content-Type", type) != MHD_YES) {
    MHD_destroy_response(resp);
    return MHD_NO;
  }
  return reply(conn, 200, resp);
}

/* An AWS-style error document: JSON (__type, message) or S3's XML. */
static enum MHD_Result serve_error(struct MHD_Connection *conn, unsigned status,
                                   const char *code, const char *format)
{
  const char *msg = strcmp(code, "ThrottlingException") == 0
                        ? "Rate exceeded"
                        : "injected failure";

  if (format && strcmp(format, "xml") == 0)
    return reply_text(conn, status, "application/xml",
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<Error><Code>%s</Code><Message>%s</Message>"
                      "<RequestId>test-request</RequestId></Error>\n",
                      code, msg);
  return reply_text(conn, status, "application/x-amz-json-1.1",
                    "{\"__type\": \"%s\", \"message\": \"%s\"}\n", code, msg);
}

static enum MHD_Result serve_status(struct MHD_Connection *conn,
                                    const char *arg)
{
  char *end;
  long status;
  const char *code =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "code");
  const char *format =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "format");

  errno = 0;
  status = strtol(arg, &end, 10);
  if (errno || end == arg || *end || status < 100 || status > 599)
    return reply_text(conn, 400, "text/plain", "bad status\n");
  if (status < 300)
    return reply_text(conn, (unsigned)status, "application/json",
                      "{\"status\": %ld}\n", status);
  return serve_error(conn, (unsigned)status, code ? code : "TestError", format);
}

static void json_string(struct buf *b, const char *s)
{
  buf_addc(b, '"');
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;

    if (ch == '"' || ch == '\\')
      buf_addf(b, "\\%c", ch);
    else if (ch < 0x20)
      buf_addf(b, "\\u%04x", ch);
    else
      buf_addc(b, (char)ch);
  }
  buf_addc(b, '"');
}

static enum MHD_Result add_header_json(void *cls, enum MHD_ValueKind kind,
                                       const char *key, const char *value)
{
  struct buf *b = cls;

  (void)kind;
  if (buf_str(b)[buf_len(b) - 1] != '{')
    buf_adds(b, ", ");
  json_string(b, key);
  buf_adds(b, ": ");
  json_string(b, value ? value : "");
  return MHD_YES;
}

static enum MHD_Result serve_headers(struct MHD_Connection *conn,
                                     const char *method)
{
  struct buf b;

  buf_init(&b, BUF_CAP_DEFAULT);
  buf_addf(&b,
           "{\"connection\": %lu, \"method\": ", (unsigned long)conn_id(conn));
  json_string(&b, method);
  buf_adds(&b, ", \"headers\": {");
  MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header_json, &b);
  buf_adds(&b, "}}\n");
  return reply_buf(conn, 200, &b, "application/json");
}

static enum MHD_Result serve_flaky(struct MHD_Connection *conn,
                                   struct req_state *st, const char *key,
                                   const char *method)
{
  struct buf b;
  const char *fail_s =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "fail");
  const char *kind =
      MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "kind");
  long fail = fail_s ? strtol(fail_s, NULL, 10) : 0;
  int i, attempts = 0;

  if (strlen(key) >= sizeof(flaky[0].key))
    return reply_text(conn, 400, "text/plain", "key too long\n");
  pthread_mutex_lock(&lock);
  for (i = 0; i < nflaky; i++)
    if (strcmp(flaky[i].key, key) == 0)
      break;
  if (i == nflaky && nflaky < FLAKY_KEYS) {
    snprintf(flaky[i].key, sizeof(flaky[i].key), "%s", key);
    flaky[i].count = 0;
    nflaky++;
  }
  if (i < nflaky)
    attempts = ++flaky[i].count;
  pthread_mutex_unlock(&lock);
  if (attempts == 0)
    return reply_text(conn, 500, "text/plain", "too many keys\n");
  if (attempts <= fail) {
    if (kind && strcmp(kind, "drop") == 0)
      return MHD_NO;
    if (kind && strcmp(kind, "throttle") == 0)
      return serve_error(conn, 400, "ThrottlingException", "json");
    return serve_error(conn, 503, "ServiceUnavailable", "json");
  }
  buf_init(&b, BUF_CAP_DEFAULT);
  if (buf_addf(&b, "{\"ok\": true, \"attempts\": %d}\n", attempts) != 0)
    return MHD_NO;
  return reply_with_digest(conn, st, &b, method, "application/json");
}

static enum endpoint classify(const char *url, const char **arg)
{
  static const struct {
    const char *prefix;
    enum endpoint ep;
  } table[] = {{"/bytes/", EP_BYTES},   {"/status/", EP_STATUS},
               {"/slow/", EP_SLOW},     {"/flaky/", EP_FLAKY},
               {"/echo", EP_ECHO},      {"/drop", EP_DROP},
               {"/headers", EP_HEADERS}};
  size_t i, n;

  for (i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
    n = strlen(table[i].prefix);
    if (strncmp(url, table[i].prefix, n) != 0)
      continue;
    /* Exact names must match whole. */
    if (table[i].prefix[n - 1] != '/' && url[n] != '\0')
      continue;
    *arg = url + n;
    return table[i].ep;
  }
  *arg = url;
  return EP_UNKNOWN;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn,
                               const char *url, const char *method,
                               const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
  struct req_state *st = *con_cls;
  const char *arg;

  (void)cls;
  (void)version;
  if (st == NULL) {
    st = calloc(1, sizeof(*st));
    if (st == NULL)
      return MHD_NO;
    *con_cls = st;
    st->ep = classify(url, &arg);
    buf_init(&st->body, ECHO_CAP);
    if (st->ep == EP_DROP)
      return MHD_NO;
    /* Every request body is hashed; /echo also keeps it. */
    st->keep_body = st->ep == EP_ECHO &&
                    MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND,
                                                "discard") == NULL;
    st->sha = EVP_MD_CTX_new();
    if (st->sha == NULL || EVP_DigestInit_ex(st->sha, EVP_sha256(), NULL) != 1)
      return MHD_NO;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    if (EVP_DigestUpdate(st->sha, upload_data, *upload_data_size) != 1)
      return MHD_NO;
    if (st->keep_body &&
        buf_add(&st->body, upload_data, *upload_data_size) != 0)
      return MHD_NO;
    st->body_len += *upload_data_size;
    *upload_data_size = 0;
    return MHD_YES;
  }
  st->ep = classify(url, &arg);
  switch (st->ep) {
  case EP_BYTES:
    return serve_bytes(conn, arg);
  case EP_ECHO:
    return reply_with_digest(conn, st, &st->body, method,
                             "application/octet-stream");
  case EP_STATUS:
    return serve_status(conn, arg);
  case EP_SLOW:
    if (!st->slow_started) {
      st->slow_started = 1;
      st->conn = conn;
      st->deadline_ms = now_ms() + strtod(arg, NULL);
      pthread_mutex_lock(&lock);
      if (quitting) {
        pthread_mutex_unlock(&lock);
        return reply_text(conn, 200, "text/plain", "slow\n");
      }
      /* Suspended before the timer thread can see it, so a resume never
       * precedes its suspend; the timer thread resumes outside the lock,
       * so taking MHD's lock under ours cannot deadlock. */
      MHD_suspend_connection(conn);
      st->slow_next = slow_list;
      slow_list = st;
      pthread_cond_signal(&cond);
      pthread_mutex_unlock(&lock);
      return MHD_YES;
    }
    if (!st->slow_done)
      return MHD_YES;
    return reply_text(conn, 200, "text/plain", "slow\n");
  case EP_HEADERS:
    return serve_headers(conn, method);
  case EP_FLAKY:
    return serve_flaky(conn, st, arg, method);
  case EP_DROP:
    return MHD_NO;
  case EP_UNKNOWN:
    break;
  }
  return serve_error(conn, 404, "NotFound", "json");
}

/* Writes the port to path atomically: tests poll for the file. */
static int write_port(const char *path, unsigned port)
{
  struct buf tmp;
  FILE *f;
  int rc = -1;

  buf_init(&tmp, BUF_CAP_DEFAULT);
  if (buf_addf(&tmp, "%s.tmp", path) != 0)
    return -1;
  f = fopen(buf_str(&tmp), "w");
  if (f == NULL)
    goto out;
  fprintf(f, "%u\n", port);
  if (fclose(f) != 0)
    goto out;
  if (rename(buf_str(&tmp), path) != 0)
    goto out;
  rc = 0;
out:
  buf_free(&tmp);
  return rc;
}

int main(int argc, char **argv)
{
  const char *port_file = NULL;
  struct sockaddr_in addr;
  struct MHD_Daemon *d;
  const union MHD_DaemonInfo *info;
  struct rlimit rl;
  pthread_condattr_t ca;
  pthread_t slow;
  sigset_t set;
  int sig, i;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc)
      port_file = argv[++i];
    else
      break;
  }
  if (port_file == NULL || i != argc) {
    fprintf(stderr, "usage: http-test-server --port-file FILE\n");
    return 2;
  }
  /* A thousand clients need more descriptors than the usual 1024. */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  /* Blocked before any thread starts, so only sigwait sees them. */
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);

  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&cond, &ca);
  pthread_condattr_destroy(&ca);
  if (pthread_create(&slow, NULL, slow_thread, NULL) != 0) {
    fprintf(stderr, "http-test-server: cannot start a thread\n");
    return 1;
  }

  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  d = MHD_start_daemon(
      MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
      handler, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_THREAD_POOL_SIZE, (unsigned)2, MHD_OPTION_CONNECTION_LIMIT,
      (unsigned)4000, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
      MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL,
      MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_END);
  if (d == NULL) {
    fprintf(stderr, "http-test-server: cannot start the daemon\n");
    return 1;
  }
  info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  if (info == NULL || info->port == 0 ||
      write_port(port_file, info->port) != 0) {
    fprintf(stderr, "http-test-server: cannot write %s\n", port_file);
    MHD_stop_daemon(d);
    return 1;
  }
  while (sigwait(&set, &sig) != 0)
    ;
  /* Resume every waiting /slow request: MHD will not stop with
   * suspended connections. */
  pthread_mutex_lock(&lock);
  quitting = 1;
  pthread_cond_signal(&cond);
  pthread_mutex_unlock(&lock);
  pthread_join(slow, NULL);
  MHD_stop_daemon(d);
  pthread_cond_destroy(&cond);
  return 0;
}
