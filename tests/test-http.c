/* The HTTP client (runner/http.c) against tests/helpers/http-test-server:
 * bodies from memory and files, streaming to files, status codes versus
 * transport errors, timeouts, cancel, concurrency, connection reuse and
 * closing with requests in flight. Every callback checks that it does not
 * run inside an API call, and every test ends with uv_loop_close() == 0. */
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/http.h"
#include "test.h"

struct env {
  uv_loop_t loop;
  struct http_client *c;
  int port;
  char url[4][512]; /* a ring for url() */
  int nurl;
};

/* What a callback saw. */
struct got {
  int calls;
  int status, error, curl_code;
  long long body_bytes;
  double seconds;
  struct buf body;
  struct buf headers; /* "name: value\n" lines, as received */
};

/* Set around API calls that must not run callbacks. */
static int in_api;

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void env_init(struct env *e)
{
  memset(e, 0, sizeof(*e));
  e->port = test_http_server_start();
  ASSERT_EQ(0, uv_loop_init(&e->loop));
  ASSERT_EQ(0, http_client_new(&e->loop, &e->c));
}

/* A URL on the test server; valid until three more calls. */
static const char *url(struct env *e, const char *path)
{
  char *u = e->url[e->nurl++ % 4];

  snprintf(u, sizeof(e->url[0]), "http://127.0.0.1:%d%s", e->port, path);
  return u;
}

static void closed_cb(void *data)
{
  ASSERT(!in_api);
  (*(int *)data)++;
}

/* Closes the client and checks that nothing of it stays on the loop. */
static void env_close(struct env *e)
{
  int closed = 0;

  in_api = 1;
  http_client_close(e->c, closed_cb, &closed);
  in_api = 0;
  ASSERT_EQ(0, closed);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, uv_loop_close(&e->loop));
}

static void got_init(struct got *g)
{
  memset(g, 0, sizeof(*g));
  buf_init(&g->body, (size_t)128 << 20);
  buf_init(&g->headers, (size_t)1 << 20);
}

static void got_free(struct got *g)
{
  buf_free(&g->body);
  buf_free(&g->headers);
}

static void got_cb(struct http_request *req, const struct http_response *res,
                   void *data)
{
  struct got *g = data;
  size_t i;

  (void)req;
  ASSERT(!in_api);
  g->calls++;
  g->status = res->status;
  g->error = res->error;
  g->curl_code = res->curl_code;
  g->body_bytes = res->body_bytes;
  g->seconds = res->seconds;
  ASSERT(res->error_text != NULL);
  ASSERT((res->error == 0) == (res->error_text[0] == '\0'));
  ASSERT_EQ(0, buf_add(&g->body, buf_str(&res->body), buf_len(&res->body)));
  for (i = 0; i < res->nheaders; i++)
    ASSERT_EQ(0, buf_addf(&g->headers, "%s: %s\n", res->headers[i].name,
                          res->headers[i].value));
}

static struct http_request *
start(struct env *e, const struct http_request_opts *o, struct got *g)
{
  struct http_request *req = NULL;
  int rc;

  in_api = 1;
  rc = http_request_start(e->c, o, got_cb, g, &req);
  in_api = 0;
  ASSERT_EQ(0, rc);
  ASSERT(req != NULL);
  return req;
}

/* Runs the loop until *calls reaches n. */
static void wait_calls(struct env *e, const int *calls, int n)
{
  while (*calls < n)
    if (uv_run(&e->loop, UV_RUN_ONCE) == 0 && *calls < n)
      test_fail(__FILE__, __LINE__, "loop ran dry at %d of %d calls", *calls,
                n);
}

static void timer_flag(uv_timer_t *t)
{
  (*(int *)t->data)++;
}

/* Runs the loop for ms more, so late duplicate callbacks would show. */
static void settle(struct env *e, unsigned ms)
{
  uv_timer_t t;
  int fired = 0;

  uv_timer_init(&e->loop, &t);
  t.data = &fired;
  uv_timer_start(&t, timer_flag, ms, 0);
  while (!fired)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&e->loop, UV_RUN_NOWAIT);
}

/* One request, run to its callback. */
static void run1(struct env *e, const struct http_request_opts *o,
                 struct got *g)
{
  start(e, o, g);
  wait_calls(e, &g->calls, 1);
  ASSERT_EQ(1, g->calls);
}

static unsigned char pattern(long long i)
{
  return (unsigned char)(i % 251);
}

static void sha256_hex(const void *data, size_t len, char hex[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0, i;

  ASSERT_EQ(1, EVP_Digest(data, len, md, &n, EVP_sha256(), NULL));
  ASSERT_EQ(32, n);
  for (i = 0; i < n; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A header line "name: value" as the callback saw it. */
static void assert_header(const struct got *g, const char *name,
                          const char *value)
{
  char line[512];

  snprintf(line, sizeof(line), "\n%s: %s\n", name, value);
  /* The leading newline anchors the name; the first line has none. */
  if (strncmp(buf_str(&g->headers), line + 1, strlen(line + 1)) == 0)
    return;
  ASSERT_CONTAINS(buf_str(&g->headers), line);
}

static long long file_size(const char *path)
{
  struct stat st;

  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static long proc_status_kb(const char *field)
{
  char *text = test_read_file("/proc/self/status", NULL), *p;
  long kb = -1;

  if (text == NULL)
    return -1;
  p = strstr(text, field);
  if (p)
    kb = strtol(p + strlen(field) + 1, NULL, 10);
  free(text);
  return kb;
}

TEST(http_get_memory)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  char u[128];
  size_t i;

  env_init(&e);
  got_init(&g);
  o.method = "GET";
  o.url = url(&e, "/bytes/100000");
  run1(&e, &o, &g);
  ASSERT_EQ(200, g.status);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(100000, buf_len(&g.body));
  ASSERT_EQ(100000, g.body_bytes);
  for (i = 0; i < 100000; i++)
    ASSERT_EQ(pattern((long long)i), (unsigned char)buf_str(&g.body)[i]);
  ASSERT(g.seconds > 0);
  ASSERT_EQ(0, http_client_active(e.c));
  settle(&e, 20);
  ASSERT_EQ(1, g.calls);
  got_free(&g);

  /* By name: curl's resolver runs in a thread it watches through the
   * same socket callback. */
  got_init(&g);
  snprintf(u, sizeof(u), "http://localhost:%d/bytes/10", e.port);
  o.url = u;
  run1(&e, &o, &g);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(200, g.status);
  ASSERT_EQ(10, buf_len(&g.body));
  got_free(&g);
  env_close(&e);
}

/* Request headers go out as given (an empty value too), with no Expect;
 * response headers come back lowercased and trimmed. */
static void check_headers_cb(struct http_request *req,
                             const struct http_response *res, void *data)
{
  ASSERT_STR_EQ("application/json", http_response_header(res, "content-type"));
  ASSERT(http_response_header(res, "Content-Type") == NULL);
  ASSERT(http_response_header(res, "x-connection-id") != NULL);
  ASSERT(http_response_header(res, "no-such-header") == NULL);
  got_cb(req, res, data);
}

TEST(http_response_headers)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  struct http_header h[] = {{"X-Test", "hello world"}, {"X-Empty", ""}};
  const char *s;
  int rc;

  env_init(&e);
  got_init(&g);
  o.method = "GET";
  o.url = url(&e, "/headers");
  o.headers = h;
  o.nheaders = 2;
  in_api = 1;
  ASSERT_EQ(0, http_request_start(e.c, &o, check_headers_cb, &g, NULL));
  in_api = 0;
  wait_calls(&e, &g.calls, 1);
  ASSERT_EQ(200, g.status);
  s = buf_str(&g.body);
  ASSERT_CONTAINS(s, "\"X-Test\": \"hello world\"");
  ASSERT_CONTAINS(s, "\"X-Empty\": \"\"");
  ASSERT_CONTAINS(s, "\"User-Agent\": \"sagerun/");
  ASSERT(strstr(s, "Expect") == NULL);
  assert_header(&g, "content-type", "application/json");
  for (s = buf_str(&g.headers); *s; s++) {
    const char *colon = strchr(s, ':');
    for (; s < colon; s++)
      ASSERT(!(*s >= 'A' && *s <= 'Z'));
    s = strchr(s, '\n');
  }
  /* A header that would break the header block is refused. */
  h[0].value = "a\r\nInjected: yes";
  in_api = 1;
  rc = http_request_start(e.c, &o, got_cb, &g, NULL);
  in_api = 0;
  ASSERT_EQ(SR_EINVAL, rc);
  settle(&e, 20);
  ASSERT_EQ(1, g.calls);
  got_free(&g);
  env_close(&e);
}

/* Sends body (len bytes) with method to /echo and checks what the server
 * received. */
static void echo_check(struct env *e, const char *method, const void *body,
                       size_t len, const char *expect_body)
{
  struct got g;
  struct http_request_opts o = {0};
  char hex[65], n[32];

  got_init(&g);
  o.method = method;
  o.url = url(e, "/echo");
  o.body = body;
  o.body_len = len;
  run1(e, &o, &g);
  ASSERT_EQ(200, g.status);
  ASSERT_EQ(0, g.error);
  sha256_hex(expect_body ? expect_body : "", expect_body ? len : 0, hex);
  assert_header(&g, "x-body-sha256", hex);
  snprintf(n, sizeof(n), "%zu", expect_body ? len : (size_t)0);
  assert_header(&g, "x-body-length", n);
  assert_header(&g, "x-method", method);
  got_free(&g);
}

TEST(http_put_memory)
{
  struct env e;
  size_t len = 3 << 20, i;
  char *body = malloc(len);

  ASSERT(body != NULL);
  for (i = 0; i < len; i++)
    body[i] = (char)(i * 7 + (i >> 9));
  env_init(&e);
  echo_check(&e, "PUT", body, 100000, body);
  /* Bigger than curl's threshold for "Expect: 100-continue". */
  echo_check(&e, "PUT", body, len, body);
  echo_check(&e, "POST", body, 1000, body);
  echo_check(&e, "POST", NULL, 0, NULL);
  echo_check(&e, "PUT", NULL, 0, NULL);
  echo_check(&e, "DELETE", body, 777, body);
  echo_check(&e, "DELETE", NULL, 0, NULL);
  echo_check(&e, "PATCH", body, 10, body);
  free(body);
  env_close(&e);
}

TEST(http_put_file_region)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  char path[4096], hex[65];
  size_t len = 3 << 20, i;
  char *data = malloc(len);
  FILE *f;
  struct http_request *req = NULL;
  const char *methods[] = {"PUT", "POST"};
  int m, rc;

  ASSERT(data != NULL);
  for (i = 0; i < len; i++)
    data[i] = (char)(i * 13 + (i >> 11));
  snprintf(path, sizeof(path), "%s/body", test_tmpdir());
  f = fopen(path, "wb");
  ASSERT(f != NULL);
  ASSERT_EQ(len, fwrite(data, 1, len, f));
  ASSERT_EQ(0, fclose(f));
  env_init(&e);
  for (m = 0; m < 2; m++) {
    /* A region in the middle. */
    got_init(&g);
    o.method = methods[m];
    o.url = url(&e, "/echo?discard=1");
    o.body_file = path;
    o.body_file_offset = 12345;
    o.body_file_len = 1 << 20;
    run1(&e, &o, &g);
    ASSERT_EQ(200, g.status);
    sha256_hex(data + 12345, 1 << 20, hex);
    assert_header(&g, "x-body-sha256", hex);
    assert_header(&g, "x-body-length", "1048576");
    assert_header(&g, "x-method", methods[m]);
    got_free(&g);
    /* To the end of the file. */
    got_init(&g);
    o.body_file_offset = 1000;
    o.body_file_len = -1;
    run1(&e, &o, &g);
    ASSERT_EQ(200, g.status);
    sha256_hex(data + 1000, len - 1000, hex);
    assert_header(&g, "x-body-sha256", hex);
    got_free(&g);
  }
  /* Failing starts never call back. */
  got_init(&g);
  o.body_file_offset = 0;
  o.body_file_len = (long long)len + 1;
  in_api = 1;
  rc = http_request_start(e.c, &o, got_cb, &g, &req);
  ASSERT_EQ(SR_EINVAL, rc);
  ASSERT(req == NULL);
  o.body_file_len = -1;
  o.body_file = "/nonexistent/body";
  rc = http_request_start(e.c, &o, got_cb, &g, &req);
  ASSERT_EQ(SR_ENOENT, rc);
  in_api = 0;
  settle(&e, 20);
  ASSERT_EQ(0, g.calls);
  got_free(&g);
  free(data);
  env_close(&e);
}

TEST_TIMEOUT(http_download_file, 60000);
TEST(http_download_file)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  char path[4096], part[4096 + 8];
  unsigned char chunk[4096];
  long long total = 50000000, offs[] = {0, 65536 * 3 + 17, 49999000};
  long rss_before, hwm_after;
  FILE *f;
  size_t k, i;

  snprintf(path, sizeof(path), "%s/download", test_tmpdir());
  snprintf(part, sizeof(part), "%s.part", path);
  env_init(&e);
  got_init(&g);
  rss_before = proc_status_kb("VmRSS:");
  o.method = "GET";
  o.url = url(&e, "/bytes/50000000");
  o.response_file = path;
  /* Far smaller than the body: only streaming can succeed. */
  o.response_cap = 1024;
  run1(&e, &o, &g);
  hwm_after = proc_status_kb("VmHWM:");
  ASSERT_EQ(200, g.status);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(total, g.body_bytes);
  ASSERT_EQ(0, buf_len(&g.body));
  ASSERT_EQ(total, file_size(path));
  ASSERT_EQ(-1, file_size(part));
  /* The process did not hold the body: well under 50 MB more. */
  ASSERT(hwm_after - rss_before < 32 * 1024);
  f = fopen(path, "rb");
  ASSERT(f != NULL);
  for (k = 0; k < sizeof(offs) / sizeof(offs[0]); k++) {
    ASSERT_EQ(0, fseek(f, (long)offs[k], SEEK_SET));
    ASSERT_EQ(1000, fread(chunk, 1, 1000, f));
    for (i = 0; i < 1000; i++)
      ASSERT_EQ(pattern(offs[k] + (long long)i), chunk[i]);
  }
  fclose(f);
  got_free(&g);
  env_close(&e);
}

/* Failures leave neither the file nor its .part; an error status keeps
 * its body in memory for the caller to parse. */
TEST(http_download_file_failure)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  char path[4096], part[4096 + 8];

  snprintf(path, sizeof(path), "%s/download", test_tmpdir());
  snprintf(part, sizeof(part), "%s.part", path);
  env_init(&e);

  got_init(&g);
  o.method = "GET";
  o.url = url(&e, "/drop");
  o.response_file = path;
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ECONN, g.error);
  ASSERT_EQ(-1, file_size(path));
  ASSERT_EQ(-1, file_size(part));
  got_free(&g);

  got_init(&g);
  o.url = url(&e, "/status/404?code=NoSuchKey&format=xml");
  run1(&e, &o, &g);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(404, g.status);
  ASSERT_CONTAINS(buf_str(&g.body), "<Code>NoSuchKey</Code>");
  ASSERT_EQ(-1, file_size(path));
  ASSERT_EQ(-1, file_size(part));
  got_free(&g);

  /* Cut off by the total timeout. */
  got_init(&g);
  o.url = url(&e, "/slow/3000");
  o.total_timeout_ms = 100;
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ETIMEDOUT, g.error);
  ASSERT_EQ(-1, file_size(path));
  ASSERT_EQ(-1, file_size(part));
  got_free(&g);

  /* An empty 2xx body still makes a (empty) file. */
  got_init(&g);
  o.url = url(&e, "/bytes/0");
  o.total_timeout_ms = 0;
  run1(&e, &o, &g);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(0, file_size(path));
  ASSERT_EQ(-1, file_size(part));
  got_free(&g);

  /* The directory does not exist: the start fails. */
  o.response_file = "/nonexistent/dir/file";
  in_api = 1;
  ASSERT_EQ(SR_ENOENT, http_request_start(e.c, &o, got_cb, &g, NULL));
  in_api = 0;
  env_close(&e);
}

/* A memory body over its cap fails with SR_ETOOBIG, whether curl knows the
 * length up front or finds out while reading. */
TEST(http_memory_cap)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};

  env_init(&e);
  got_init(&g);
  o.method = "GET";
  o.url = url(&e, "/bytes/100000");
  o.response_cap = 1000;
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ETOOBIG, g.error);
  got_free(&g);

  got_init(&g);
  o.url = url(&e, "/bytes/300000?chunked=1");
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ETOOBIG, g.error);
  ASSERT_EQ(0, buf_len(&g.body));
  got_free(&g);

  got_init(&g);
  o.url = url(&e, "/bytes/1000?chunked=1");
  run1(&e, &o, &g);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(1000, buf_len(&g.body));
  got_free(&g);
  env_close(&e);
}

TEST(http_head)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  int rc;

  env_init(&e);
  got_init(&g);
  o.method = "HEAD";
  o.url = url(&e, "/bytes/50000000");
  o.response_cap = 1000; /* the length is not a body */
  run1(&e, &o, &g);
  ASSERT_EQ(200, g.status);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(0, buf_len(&g.body));
  ASSERT_EQ(0, g.body_bytes);
  assert_header(&g, "content-length", "50000000");
  /* HEAD has no body to send. */
  o.body = "x";
  o.body_len = 1;
  in_api = 1;
  rc = http_request_start(e.c, &o, got_cb, &g, NULL);
  in_api = 0;
  ASSERT_EQ(SR_EINVAL, rc);
  got_free(&g);
  env_close(&e);
}

/* HTTP error statuses are responses, not transport errors. */
TEST(http_status_codes)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  static const struct {
    const char *path;
    int status;
    const char *body;
  } cases[] = {
      {"/status/400?code=ThrottlingException", 400,
       "{\"__type\": \"ThrottlingException\", \"message\": \"Rate exceeded\"}"},
      {"/status/503", 503, "TestError"},
      {"/status/500?code=InternalError&format=xml", 500,
       "<Code>InternalError</Code>"},
      {"/status/204", 204, ""},
      {"/status/201", 201, "201"},
      {"/no/such/path", 404, "NotFound"},
      {"/status/301", 301, "TestError"},
  };
  size_t i;

  env_init(&e);
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    got_init(&g);
    o.method = "GET";
    o.url = url(&e, cases[i].path);
    run1(&e, &o, &g);
    ASSERT_EQ(0, g.error);
    ASSERT_EQ(cases[i].status, g.status);
    ASSERT_CONTAINS(buf_str(&g.body), cases[i].body);
    got_free(&g);
  }
  env_close(&e);
}

TEST(http_connection_refused)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  struct sockaddr_in sa;
  socklen_t salen = sizeof(sa);
  char u[128];
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  /* A port that was free a moment ago and has no listener. */
  ASSERT(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(0, bind(fd, (struct sockaddr *)&sa, sizeof(sa)));
  ASSERT_EQ(0, getsockname(fd, (struct sockaddr *)&sa, &salen));
  close(fd);
  snprintf(u, sizeof(u), "http://127.0.0.1:%d/bytes/10", ntohs(sa.sin_port));
  env_init(&e);
  got_init(&g);
  o.method = "GET";
  o.url = u;
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ECONN, g.error);
  ASSERT_EQ(CURLE_COULDNT_CONNECT, g.curl_code);
  ASSERT_EQ(0, g.status);
  got_free(&g);

  /* Not a URL curl can use: an error through the callback too. */
  got_init(&g);
  o.url = "ftp://127.0.0.1/x";
  run1(&e, &o, &g);
  ASSERT(g.error != 0);
  got_free(&g);
  env_close(&e);
}

TEST(http_drop)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};

  env_init(&e);
  got_init(&g);
  o.method = "GET";
  o.url = url(&e, "/drop");
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ECONN, g.error);
  ASSERT_EQ(0, g.status);
  got_free(&g);
  env_close(&e);
}

TEST(http_timeout)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  double t0;

  env_init(&e);
  got_init(&g);
  o.method = "GET";
  o.url = url(&e, "/slow/5000");
  o.total_timeout_ms = 200;
  t0 = now_ms();
  run1(&e, &o, &g);
  ASSERT_EQ(SR_ETIMEDOUT, g.error);
  ASSERT_EQ(CURLE_OPERATION_TIMEDOUT, g.curl_code);
  /* Well before the server would have answered. */
  ASSERT(now_ms() - t0 < 4000);
  got_free(&g);

  /* The same request with room to finish. */
  got_init(&g);
  o.url = url(&e, "/slow/100");
  o.total_timeout_ms = 5000;
  run1(&e, &o, &g);
  ASSERT_EQ(0, g.error);
  ASSERT_EQ(200, g.status);
  got_free(&g);
  env_close(&e);
}

static void cancel_timer_cb(uv_timer_t *t)
{
  in_api = 1;
  http_request_cancel(t->data);
  in_api = 0;
  uv_close((uv_handle_t *)t, NULL);
}

TEST(http_cancel_in_flight)
{
  struct env e;
  struct got g, g2, g3;
  struct http_request_opts o = {0};
  struct http_request *req;
  uv_timer_t t;

  env_init(&e);
  got_init(&g);
  got_init(&g2);
  got_init(&g3);
  o.method = "GET";
  o.url = url(&e, "/slow/5000");
  /* Canceled after it is on the wire. */
  req = start(&e, &o, &g);
  uv_timer_init(&e.loop, &t);
  t.data = req;
  uv_timer_start(&t, cancel_timer_cb, 100, 0);
  /* Canceled before the loop ever ran it, twice. */
  req = start(&e, &o, &g2);
  in_api = 1;
  http_request_cancel(req);
  http_request_cancel(req);
  in_api = 0;
  ASSERT_EQ(0, g2.calls);
  /* A bystander is unaffected. */
  o.url = url(&e, "/bytes/10");
  start(&e, &o, &g3);
  wait_calls(&e, &g.calls, 1);
  wait_calls(&e, &g3.calls, 1);
  settle(&e, 50);
  ASSERT_EQ(1, g.calls);
  ASSERT_EQ(SR_ECANCELED, g.error);
  ASSERT_EQ(1, g2.calls);
  ASSERT_EQ(SR_ECANCELED, g2.error);
  ASSERT_EQ(1, g3.calls);
  ASSERT_EQ(0, g3.error);
  ASSERT_EQ(200, g3.status);
  ASSERT_EQ(0, http_client_active(e.c));
  got_free(&g);
  got_free(&g2);
  got_free(&g3);
  env_close(&e);
}

#define NCONC 200

struct conc {
  int calls[NCONC];
  int total, ok;
  long conn_ids[NCONC];
};

struct conc_req {
  struct conc *conc;
  int i;
};

static void conc_cb(struct http_request *req, const struct http_response *res,
                    void *data)
{
  struct conc_req *cr = data;
  const char *id = http_response_header(res, "x-connection-id");

  (void)req;
  ASSERT(!in_api);
  cr->conc->calls[cr->i]++;
  cr->conc->total++;
  if (res->error == 0 && res->status == 200 && buf_len(&res->body) == 1024)
    cr->conc->ok++;
  cr->conc->conn_ids[cr->i] = id ? strtol(id, NULL, 10) : -1;
}

TEST(http_concurrent)
{
  struct env e;
  static struct conc conc;
  static struct conc_req crs[NCONC];
  struct http_request_opts o = {0};
  int i, j, distinct = 0;

  env_init(&e);
  o.method = "GET";
  o.url = url(&e, "/bytes/1024");
  for (i = 0; i < NCONC; i++) {
    crs[i].conc = &conc;
    crs[i].i = i;
    in_api = 1;
    ASSERT_EQ(0, http_request_start(e.c, &o, conc_cb, &crs[i], NULL));
    in_api = 0;
  }
  ASSERT_EQ(NCONC, http_client_active(e.c));
  wait_calls(&e, &conc.total, NCONC);
  settle(&e, 50);
  ASSERT_EQ(NCONC, conc.total);
  ASSERT_EQ(NCONC, conc.ok);
  for (i = 0; i < NCONC; i++)
    ASSERT_EQ(1, conc.calls[i]);
  ASSERT_EQ(0, http_client_active(e.c));
  /* The per-host connection limit holds. */
  for (i = 0; i < NCONC; i++) {
    for (j = 0; j < i; j++)
      if (conc.conn_ids[j] == conc.conn_ids[i])
        break;
    distinct += j == i;
  }
  ASSERT(distinct >= 1 && distinct <= 64);
  env_close(&e);
}

/* Sequential requests, each started from the previous callback, share
 * one connection: uploads and downloads alike. */
struct chain {
  struct env *e;
  int left, calls;
  long first_id;
  int same;
};

static void chain_cb(struct http_request *req, const struct http_response *res,
                     void *data)
{
  struct chain *ch = data;
  const char *id = http_response_header(res, "x-connection-id");
  struct http_request_opts o = {0};
  long n;

  (void)req;
  ASSERT(!in_api);
  ASSERT_EQ(0, res->error);
  ASSERT_EQ(200, res->status);
  ASSERT(id != NULL);
  n = strtol(id, NULL, 10);
  if (ch->calls++ == 0)
    ch->first_id = n;
  ch->same += n == ch->first_id;
  if (--ch->left == 0)
    return;
  o.method = ch->left % 2 ? "GET" : "PUT";
  o.url = url(ch->e, ch->left % 2 ? "/headers" : "/echo");
  o.body = "some body";
  o.body_len = ch->left % 2 ? 0 : 9;
  if (ch->left % 2)
    o.body = NULL;
  ASSERT_EQ(0, http_request_start(ch->e->c, &o, chain_cb, ch, NULL));
}

TEST(http_connection_reuse)
{
  struct env e;
  struct chain ch = {0};
  struct http_request_opts o = {0};

  env_init(&e);
  ch.e = &e;
  ch.left = 20;
  o.method = "GET";
  o.url = url(&e, "/headers");
  in_api = 1;
  ASSERT_EQ(0, http_request_start(e.c, &o, chain_cb, &ch, NULL));
  in_api = 0;
  wait_calls(&e, &ch.calls, 20);
  ASSERT_EQ(20, ch.same);
  env_close(&e);
}

/* Closing with requests in flight: each callback once, with
 * SR_ECANCELED for the unfinished, then close_cb once. */
struct closing {
  int calls, canceled, closed;
  struct env *e;
};

static void closing_cb(struct http_request *req,
                       const struct http_response *res, void *data)
{
  struct closing *cl = data;

  (void)req;
  ASSERT(!in_api);
  cl->calls++;
  cl->canceled += res->error == SR_ECANCELED;
}

static void closing_closed_cb(void *data)
{
  struct closing *cl = data;

  ASSERT(!in_api);
  cl->closed++;
}

TEST(http_close_in_flight)
{
  struct env e;
  struct closing cl = {0};
  struct http_request_opts o = {0};
  int i, before;

  env_init(&e);
  o.method = "GET";
  for (i = 0; i < 50; i++) {
    o.url = url(&e, i % 2 ? "/slow/5000" : "/bytes/1000000");
    in_api = 1;
    ASSERT_EQ(0, http_request_start(e.c, &o, closing_cb, &cl, NULL));
    in_api = 0;
  }
  /* Let some get on the wire. */
  for (i = 0; i < 20; i++)
    uv_run(&e.loop, UV_RUN_NOWAIT);
  before = cl.calls;
  in_api = 1;
  http_client_close(e.c, closing_closed_cb, &cl);
  in_api = 0;
  ASSERT_EQ(before, cl.calls);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(50, cl.calls);
  ASSERT(cl.canceled >= 25);
  ASSERT_EQ(1, cl.closed);
  ASSERT_EQ(0, uv_loop_close(&e.loop));
}

/* A callback closes the client: the rest are canceled, starting more is
 * refused, and close_cb still runs once. */
static void close_from_cb(struct http_request *req,
                          const struct http_response *res, void *data)
{
  struct closing *cl = data;
  struct http_request_opts o = {0};

  closing_cb(req, res, data);
  o.method = "GET";
  o.url = "http://127.0.0.1:1/";
  if (cl->calls == 1) {
    ASSERT_EQ(0, res->error);
    http_client_close(cl->e->c, closing_closed_cb, cl);
  }
  ASSERT_EQ(SR_ECANCELED,
            http_request_start(cl->e->c, &o, closing_cb, cl, NULL));
}

TEST(http_close_from_callback)
{
  struct env e;
  struct closing cl = {0};
  struct http_request_opts o = {0};
  int i;

  env_init(&e);
  cl.e = &e;
  o.method = "GET";
  o.url = url(&e, "/bytes/10");
  in_api = 1;
  ASSERT_EQ(0, http_request_start(e.c, &o, close_from_cb, &cl, NULL));
  o.url = url(&e, "/slow/5000");
  for (i = 0; i < 10; i++)
    ASSERT_EQ(0, http_request_start(e.c, &o, close_from_cb, &cl, NULL));
  in_api = 0;
  uv_run(&e.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(11, cl.calls);
  ASSERT_EQ(10, cl.canceled);
  ASSERT_EQ(1, cl.closed);
  ASSERT_EQ(0, uv_loop_close(&e.loop));
}

TEST(http_start_errors)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  struct http_header bad[] = {{"Bad Name", "v"}};

  env_init(&e);
  got_init(&g);
  in_api = 1;
  ASSERT_EQ(SR_EINVAL, http_request_start(e.c, &o, got_cb, &g, NULL));
  o.method = "GET";
  ASSERT_EQ(SR_EINVAL, http_request_start(e.c, &o, got_cb, &g, NULL));
  o.url = url(&e, "/bytes/1");
  ASSERT_EQ(SR_EINVAL, http_request_start(e.c, &o, NULL, &g, NULL));
  o.body = "x";
  o.body_len = 1;
  o.body_file = "/etc/hostname";
  ASSERT_EQ(SR_EINVAL, http_request_start(e.c, &o, got_cb, &g, NULL));
  o.body = NULL;
  o.body_len = 0;
  o.body_file = NULL;
  o.headers = bad;
  o.nheaders = 1;
  ASSERT_EQ(SR_EINVAL, http_request_start(e.c, &o, got_cb, &g, NULL));
  in_api = 0;
  settle(&e, 20);
  ASSERT_EQ(0, g.calls);
  ASSERT_EQ(0, http_client_active(e.c));
  got_free(&g);
  env_close(&e);
}

/* The server's fault mode, which retry tests rely on: the first N
 * requests for a key fail, the next succeeds and counts attempts. */
TEST(http_server_flaky)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  int i;

  env_init(&e);
  o.method = "GET";
  for (i = 0; i < 3; i++) {
    got_init(&g);
    o.url = url(&e, "/flaky/a?fail=2&kind=503");
    run1(&e, &o, &g);
    ASSERT_EQ(0, g.error);
    ASSERT_EQ(i < 2 ? 503 : 200, g.status);
    if (i == 2)
      ASSERT_CONTAINS(buf_str(&g.body), "\"attempts\": 3");
    got_free(&g);
  }
  got_init(&g);
  o.url = url(&e, "/flaky/b?fail=1&kind=throttle");
  run1(&e, &o, &g);
  ASSERT_EQ(400, g.status);
  ASSERT_CONTAINS(buf_str(&g.body), "ThrottlingException");
  got_free(&g);
  /* On a reused connection curl itself retries a request that got no
   * answer at all, once, on a fresh connection: the drop then shows as
   * a success at the second attempt. */
  for (i = 0; i < 2; i++) {
    got_init(&g);
    o.url = url(&e, "/flaky/c?fail=1&kind=drop");
    run1(&e, &o, &g);
    if (g.error == 0)
      break;
    ASSERT_EQ(0, i);
    ASSERT_EQ(SR_ECONN, g.error);
    ASSERT_EQ(0, g.status);
    got_free(&g);
  }
  ASSERT_EQ(200, g.status);
  ASSERT_CONTAINS(buf_str(&g.body), "\"attempts\": 2");
  got_free(&g);
  env_close(&e);
}

/* A dropped answer on a reused connection makes curl send the request
 * again on a new one, rewinding the body through the seek callback: the
 * second attempt must carry the whole body again, from memory and from a
 * file region. */
TEST(http_rewind_on_retry)
{
  struct env e;
  struct got g;
  struct http_request_opts o = {0};
  char path[4096], hex[65], u[64];
  size_t len = 300000, i;
  char *data = malloc(len);
  FILE *f;
  int k;

  ASSERT(data != NULL);
  for (i = 0; i < len; i++)
    data[i] = (char)(i * 5 + (i >> 10));
  snprintf(path, sizeof(path), "%s/body", test_tmpdir());
  f = fopen(path, "wb");
  ASSERT(f != NULL);
  ASSERT_EQ(len, fwrite(data, 1, len, f));
  ASSERT_EQ(0, fclose(f));
  env_init(&e);
  for (k = 0; k < 2; k++) {
    /* A connection to reuse. */
    got_init(&g);
    memset(&o, 0, sizeof(o));
    o.method = "GET";
    o.url = url(&e, "/bytes/10");
    run1(&e, &o, &g);
    ASSERT_EQ(200, g.status);
    got_free(&g);

    got_init(&g);
    snprintf(u, sizeof(u), "/flaky/rewind%d?fail=1&kind=drop", k);
    o.method = "PUT";
    o.url = url(&e, u);
    if (k == 0) {
      o.body = data;
      o.body_len = len;
    } else {
      o.body_file = path;
      o.body_file_offset = 1000;
      o.body_file_len = (long long)len - 2000;
    }
    run1(&e, &o, &g);
    ASSERT_EQ(0, g.error);
    ASSERT_EQ(200, g.status);
    ASSERT_CONTAINS(buf_str(&g.body), "\"attempts\": 2");
    if (k == 0)
      sha256_hex(data, len, hex);
    else
      sha256_hex(data + 1000, len - 2000, hex);
    assert_header(&g, "x-body-sha256", hex);
    got_free(&g);
  }
  free(data);
  env_close(&e);
}
