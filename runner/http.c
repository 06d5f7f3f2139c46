/* The HTTP client: libcurl's multi interface driven by a libuv loop, the
 * multi-uv pattern of curl's docs/examples/multi-uv.c with the fixes
 * STYLE.md §2 lists.
 *
 * Shape. A client owns one CURLM, one uv_timer_t for curl's timeouts, one
 * uv_poll_t per socket curl asks us to watch, and one uv_idle_t that
 * delivers completions. A request owns one easy handle while it is
 * active.
 *
 * Deferral. No user callback runs from a curl callback, from
 * http_request_start, from http_request_cancel or from http_client_close.
 * A request that ends (curl said CURLMSG_DONE, it was canceled, or its
 * socket could not be watched) is taken out of the multi at once, its
 * easy handle is released, and it goes on the client's pending list with
 * its response filled in; the idle handle, started whenever that list is
 * non-empty, hands each pending request to its callback and frees it. So
 * there is one path to the callback and it runs once.
 *
 * Cancel. An active request is removed from the multi right away (curl
 * closes a connection in the middle of a transfer rather than return it
 * to the cache) and becomes pending with SR_ECANCELED. A request that is
 * already pending keeps its place but its outcome becomes SR_ECANCELED:
 * the header promises that outcome for any request whose callback has
 * not run, which is also why a downloaded file is only renamed into place
 * just before the callback.
 *
 * Response files. A 2xx body streams into response_file + ".part", which
 * is renamed to response_file right before the callback. Any other status
 * sends its body to memory instead (capped as a memory body), so callers
 * can parse an error document, and the .part file is removed. */
#include "http.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "version.h"

#define container_of(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

/* Enough parallel connections per host for S3 transfers; more only adds
 * handshakes. Further requests wait in curl for a free connection. */
#define HTTP_MAX_HOST_CONNECTIONS 64L
#define HTTP_MAX_TOTAL_CONNECTIONS 256L
/* Idle connections kept for reuse. Without it curl sizes its cache by the
 * number of easy handles attached, which shrinks as requests finish and
 * would close connections at the end of every burst. */
#define HTTP_MAX_CACHED_CONNECTIONS 64L

#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_TOTAL_TIMEOUT_MS 300000L
#define HTTP_LOW_SPEED_BYTES 1L
#define HTTP_LOW_SPEED_TIME_S 60L
/* All response header lines together; a server cannot grow them
 * without bound. */
#define HTTP_HEADERS_CAP ((size_t)1 << 20)

enum http_state { HTTP_ACTIVE, HTTP_PENDING };

/* Where the response body goes; decided at its first byte, when the
 * status is known. */
enum http_sink { HTTP_SINK_UNDECIDED, HTTP_SINK_MEMORY, HTTP_SINK_FILE };

struct http_sock {
  uv_poll_t poll;
  curl_socket_t fd;
  struct http_client *client;
  struct http_sock *prev, *next;
};

struct http_client {
  uv_loop_t *loop;
  CURLM *multi; /* NULL once closing */
  uv_timer_t timer;
  uv_idle_t idle;
  struct http_request *active; /* in the multi; doubly linked */
  struct http_request *pending_head, *pending_tail; /* done, FIFO */
  struct http_sock *socks;
  size_t nrequests; /* started and not yet called back */
  size_t nfailed;   /* active requests marked by fail_later */
  int open_handles; /* uv handles not yet through their close callback */
  int closing;
  void (*close_cb)(void *data);
  void *close_data;
};

struct http_request {
  struct http_client *client;
  CURL *easy; /* NULL once pending */
  struct curl_slist *req_headers;
  http_done_cb cb;
  void *data;
  enum http_state state;
  struct http_request *prev, *next;
  int canceled;
  int fail_error;         /* set by fail_later */
  int local_error;        /* an error one of our curl callbacks hit */
  const char *local_text; /* its message */
  /* The request body: a private copy of a memory body, or a file region
   * read with pread. */
  char *body;
  int body_fd;
  long long body_off, body_len, body_pos;
  /* The response body file. */
  int out_fd;
  char *out_path, *part_path;
  enum http_sink sink;
  size_t headers_alloc, headers_bytes;
  char errbuf[CURL_ERROR_SIZE];
  struct http_response res;
};

static void http_idle_cb(uv_idle_t *idle);

/* Maps a curl result to an SR_ code: connection-level failures, which a
 * retry may cure, become SR_ECONN; timeouts SR_ETIMEDOUT. */
static int http_map_curl(CURLcode rc)
{
  switch (rc) {
  case CURLE_OK:
    return 0;
  case CURLE_OPERATION_TIMEDOUT:
    return SR_ETIMEDOUT;
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
    return SR_ECONN;
  case CURLE_OUT_OF_MEMORY:
    return SR_ENOMEM;
  case CURLE_FILESIZE_EXCEEDED:
    return SR_ETOOBIG;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_BAD_FUNCTION_ARGUMENT:
    return SR_EINVAL;
  default:
    return SR_EIO;
  }
}

/* Frees the header array entries and empties it (the array stays). */
static void http_headers_clear(struct http_response *res)
{
  size_t i;

  for (i = 0; i < res->nheaders; i++) {
    free(res->headers[i].name);
    free(res->headers[i].value);
  }
  res->nheaders = 0;
}

static int http_is_space(char ch)
{
  return ch == ' ' || ch == '\t';
}

/* Appends one "Name: value" line (no line end) to the response headers,
 * the name lowercased and the value trimmed. Lines without a colon are
 * ignored. Returns 0 or SR_ENOMEM. */
static int http_header_add(struct http_request *req, const char *line,
                           size_t len)
{
  struct http_response *res = &req->res;
  const char *colon = memchr(line, ':', len), *v, *end = line + len;
  size_t nlen, vlen, i;
  char *name = NULL, *value = NULL;

  if (colon == NULL)
    return 0;
  nlen = (size_t)(colon - line);
  while (nlen > 0 && http_is_space(line[nlen - 1]))
    nlen--;
  v = colon + 1;
  while (v < end && http_is_space(*v))
    v++;
  while (end > v && http_is_space(end[-1]))
    end--;
  vlen = (size_t)(end - v);
  if (res->nheaders == req->headers_alloc) {
    size_t n = req->headers_alloc ? req->headers_alloc * 2 : 16;
    struct http_header *h = realloc(res->headers, n * sizeof(*h));

    if (h == NULL)
      return SR_ENOMEM;
    res->headers = h;
    req->headers_alloc = n;
  }
  name = malloc(nlen + 1);
  value = malloc(vlen + 1);
  if (name == NULL || value == NULL) {
    free(name);
    free(value);
    return SR_ENOMEM;
  }
  for (i = 0; i < nlen; i++) {
    char ch = line[i];
    name[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
  }
  name[nlen] = '\0';
  memcpy(value, v, vlen);
  value[vlen] = '\0';
  res->headers[res->nheaders].name = name;
  res->headers[res->nheaders].value = value;
  res->nheaders++;
  return 0;
}

/* An obsolete folded line continues the previous header's value. */
static int http_header_continue(struct http_request *req, const char *line,
                                size_t len)
{
  struct http_response *res = &req->res;
  struct http_header *h;
  size_t old;
  char *p;

  while (len > 0 && http_is_space(*line)) {
    line++;
    len--;
  }
  if (res->nheaders == 0 || len == 0)
    return 0;
  h = &res->headers[res->nheaders - 1];
  old = strlen(h->value);
  p = realloc(h->value, old + len + 2);
  if (p == NULL)
    return SR_ENOMEM;
  p[old] = ' ';
  memcpy(p + old + 1, line, len);
  p[old + 1 + len] = '\0';
  h->value = p;
  return 0;
}

/* CURLOPT_HEADERFUNCTION: one header line per call, status lines
 * included. A status line starts a new response (after a 1xx, say), so
 * it drops what earlier responses left. */
static size_t http_header_cb(char *line, size_t size, size_t nitems,
                             void *userdata)
{
  struct http_request *req = userdata;
  size_t n = size * nitems, len = n;
  int rc;

  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
    len--;
  if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
    http_headers_clear(&req->res);
    req->headers_bytes = 0;
    return n;
  }
  if (len == 0)
    return n;
  req->headers_bytes += len;
  if (req->headers_bytes > HTTP_HEADERS_CAP) {
    req->local_error = SR_ETOOBIG;
    req->local_text = "response headers too large";
    return 0;
  }
  if (http_is_space(line[0]))
    rc = http_header_continue(req, line, len);
  else
    rc = http_header_add(req, line, len);
  if (rc) {
    req->local_error = rc;
    req->local_text = "out of memory reading response headers";
    return 0;
  }
  return n;
}

/* Writes all of data to fd; returns 0 or SR_EIO. */
static int http_write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return SR_EIO;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* CURLOPT_WRITEFUNCTION: the response body, to memory or to the .part
 * file. Returning less than given makes curl abort the transfer. */
static size_t http_write_cb(char *ptr, size_t size, size_t nmemb,
                            void *userdata)
{
  struct http_request *req = userdata;
  size_t n = size * nmemb;
  int rc;

  if (req->sink == HTTP_SINK_UNDECIDED) {
    long status = 0;

    curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
    req->sink = req->out_fd >= 0 && status >= 200 && status < 300
                    ? HTTP_SINK_FILE
                    : HTTP_SINK_MEMORY;
  }
  if (req->sink == HTTP_SINK_FILE) {
    rc = http_write_all(req->out_fd, ptr, n);
    if (rc) {
      req->local_error = rc;
      req->local_text = "cannot write the response file";
      return 0;
    }
  } else {
    rc = buf_add(&req->res.body, ptr, n);
    if (rc) {
      req->local_error = rc;
      req->local_text = rc == SR_ETOOBIG ? "response body exceeds its cap"
                                         : "out of memory reading response";
      return 0;
    }
  }
  req->res.body_bytes += (long long)n;
  return n;
}

/* CURLOPT_READFUNCTION: the request body from memory or from the file
 * region. */
static size_t http_read_cb(char *buffer, size_t size, size_t nitems,
                           void *userdata)
{
  struct http_request *req = userdata;
  size_t want = size * nitems;
  long long left = req->body_len - req->body_pos;
  ssize_t got;

  if (left <= 0)
    return 0;
  if ((long long)want > left)
    want = (size_t)left;
  if (req->body_fd < 0) {
    memcpy(buffer, req->body + req->body_pos, want);
    req->body_pos += (long long)want;
    return want;
  }
  do {
    got = pread(req->body_fd, buffer, want,
                (off_t)(req->body_off + req->body_pos));
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    /* got == 0: the file shrank under us. */
    req->local_error = SR_EIO;
    req->local_text = "cannot read the request body file";
    return CURL_READFUNC_ABORT;
  }
  req->body_pos += got;
  return (size_t)got;
}

/* CURLOPT_SEEKFUNCTION: lets curl rewind the body to send it again (a
 * reused connection that turned out dead, an auth retry). */
static int http_seek_cb(void *userp, curl_off_t offset, int origin)
{
  struct http_request *req = userp;

  if (origin != SEEK_SET)
    return CURL_SEEKFUNC_CANTSEEK;
  if (offset < 0 || offset > req->body_len)
    return CURL_SEEKFUNC_FAIL;
  req->body_pos = offset;
  return CURL_SEEKFUNC_OK;
}

static void http_active_unlink(struct http_request *req)
{
  struct http_client *c = req->client;

  if (req->prev)
    req->prev->next = req->next;
  else
    c->active = req->next;
  if (req->next)
    req->next->prev = req->prev;
  req->prev = req->next = NULL;
}

/* Ends an active request: takes it out of the multi, records the outcome
 * (error, when not 0, wins over result), releases the easy handle and
 * queues the request for its callback. Never calls the callback. */
static void http_request_finish(struct http_request *req, CURLcode result,
                                int error)
{
  struct http_client *c = req->client;
  struct http_response *res = &req->res;
  long status = 0;
  double secs = 0;

  assert(req->state == HTTP_ACTIVE);
  curl_multi_remove_handle(c->multi, req->easy);
  curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME, &secs);
  res->status = (int)status;
  res->seconds = secs;
  if (req->fail_error) {
    assert(c->nfailed > 0);
    c->nfailed--;
  }
  if (error) {
    res->error = error;
    res->curl_code = CURLE_ABORTED_BY_CALLBACK;
    res->error_text = error == SR_ECANCELED ? "canceled" : sr_strerror(error);
  } else if (result != CURLE_OK) {
    res->curl_code = (int)result;
    if (req->local_error) {
      res->error = req->local_error;
      res->error_text = req->local_text;
    } else {
      res->error = http_map_curl(result);
      res->error_text =
          req->errbuf[0] ? req->errbuf : curl_easy_strerror(result);
    }
  }
  curl_easy_cleanup(req->easy);
  req->easy = NULL;
  curl_slist_free_all(req->req_headers);
  req->req_headers = NULL;
  if (req->body_fd >= 0) {
    close(req->body_fd);
    req->body_fd = -1;
  }
  if (req->out_fd >= 0 && close(req->out_fd) != 0 && res->error == 0) {
    res->error = SR_EIO;
    res->error_text = "cannot write the response file";
  }
  req->out_fd = -1;
  http_active_unlink(req);
  req->state = HTTP_PENDING;
  if (c->pending_tail)
    c->pending_tail->next = req;
  else
    c->pending_head = req;
  c->pending_tail = req;
  uv_idle_start(&c->idle, http_idle_cb);
}

static void http_request_free(struct http_request *req)
{
  if (req->easy)
    curl_easy_cleanup(req->easy);
  curl_slist_free_all(req->req_headers);
  free(req->body);
  if (req->body_fd >= 0)
    close(req->body_fd);
  if (req->out_fd >= 0)
    close(req->out_fd);
  free(req->out_path);
  free(req->part_path);
  http_headers_clear(&req->res);
  free(req->res.headers);
  buf_free(&req->res.body);
  free(req);
}

/* Settles the response file, runs the callback once and frees the
 * request. */
static void http_request_complete(struct http_request *req)
{
  struct http_client *c = req->client;
  struct http_response *res = &req->res;

  if (req->canceled) {
    res->error = SR_ECANCELED;
    res->curl_code = CURLE_ABORTED_BY_CALLBACK;
    res->error_text = "canceled";
  }
  if (req->part_path) {
    int ok = res->error == 0 && res->status >= 200 && res->status < 300 &&
             req->sink != HTTP_SINK_MEMORY;

    if (ok && rename(req->part_path, req->out_path) != 0) {
      res->error = SR_EIO;
      res->error_text = "cannot rename the response file into place";
      ok = 0;
    }
    if (!ok)
      unlink(req->part_path);
  }
  assert(c->nrequests > 0);
  c->nrequests--;
  req->cb(req, res, req->data);
  http_request_free(req);
}

static void http_maybe_free(struct http_client *c)
{
  void (*cb)(void *data) = c->close_cb;
  void *data = c->close_data;

  if (!c->closing || c->open_handles > 0)
    return;
  free(c);
  curl_global_cleanup();
  if (cb)
    cb(data);
}

static void http_handle_closed(uv_handle_t *h)
{
  struct http_client *c = h->data;

  c->open_handles--;
  http_maybe_free(c);
}

/* Runs pending callbacks. Only the requests pending on entry are run, so
 * callbacks that start and cancel requests cannot keep the loop here. */
static void http_idle_cb(uv_idle_t *idle)
{
  struct http_client *c = container_of(idle, struct http_client, idle);
  struct http_request *list, *req, *next;

  if (c->nfailed > 0) {
    for (req = c->active; req; req = next) {
      next = req->next;
      if (req->fail_error)
        http_request_finish(req, CURLE_OK, req->fail_error);
    }
  }
  list = c->pending_head;
  c->pending_head = c->pending_tail = NULL;
  while (list) {
    req = list;
    list = req->next;
    req->next = NULL;
    http_request_complete(req);
  }
  if (c->pending_head == NULL && c->nfailed == 0) {
    uv_idle_stop(idle);
    if (c->closing && !uv_is_closing((uv_handle_t *)idle))
      uv_close((uv_handle_t *)idle, http_handle_closed);
  }
}

/* Fails an active request from the loop: used where curl cannot be
 * re-entered (inside its socket callback). */
static void http_request_fail_later(struct http_request *req, int error)
{
  struct http_client *c = req->client;

  if (req->fail_error || req->state != HTTP_ACTIVE)
    return;
  req->fail_error = error;
  c->nfailed++;
  uv_idle_start(&c->idle, http_idle_cb);
}

/* Hands every finished transfer to http_request_finish. */
static void http_check_multi(struct http_client *c)
{
  CURLMsg *msg;
  int left;

  for (;;) {
    CURL *easy;
    CURLcode result;
    char *priv = NULL;
    struct http_request *req;

    msg = curl_multi_info_read(c->multi, &left);
    if (msg == NULL)
      break;
    if (msg->msg != CURLMSG_DONE)
      continue;
    /* msg is invalid once the handle is removed: copy what we need. */
    easy = msg->easy_handle;
    result = msg->data.result;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
    req = (struct http_request *)priv;
    assert(req != NULL && req->easy == easy);
    http_request_finish(req, result, 0);
  }
}

static void http_poll_cb(uv_poll_t *poll, int status, int events)
{
  struct http_sock *hs = container_of(poll, struct http_sock, poll);
  struct http_client *c = hs->client;
  int flags = 0, running;

  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  /* hs may be closed by this call (CURL_POLL_REMOVE): not used after. */
  curl_multi_socket_action(c->multi, hs->fd, flags, &running);
  http_check_multi(c);
}

static void http_timeout_cb(uv_timer_t *timer)
{
  struct http_client *c = container_of(timer, struct http_client, timer);
  int running;

  curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  http_check_multi(c);
}

/* CURLMOPT_TIMERFUNCTION. Must not call curl back: a 0 ms timeout becomes
 * a 1 ms timer. */
static int http_timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
  struct http_client *c = userp;

  (void)multi;
  if (timeout_ms < 0)
    uv_timer_stop(&c->timer);
  else
    uv_timer_start(&c->timer, http_timeout_cb,
                   timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
  return 0;
}

static void http_sock_closed(uv_handle_t *h)
{
  struct http_sock *hs = container_of((uv_poll_t *)h, struct http_sock, poll);
  struct http_client *c = hs->client;

  free(hs);
  c->open_handles--;
  http_maybe_free(c);
}

static void http_sock_close(struct http_sock *hs)
{
  struct http_client *c = hs->client;

  if (hs->prev)
    hs->prev->next = hs->next;
  else
    c->socks = hs->next;
  if (hs->next)
    hs->next->prev = hs->prev;
  /* Stopping first frees the fd's slot in the loop at once, so curl may
   * reuse the descriptor number before the close callback runs. */
  uv_poll_stop(&hs->poll);
  uv_close((uv_handle_t *)&hs->poll, http_sock_closed);
}

/* CURLMOPT_SOCKETFUNCTION. Returns 0 always: -1 would mark the whole
 * multi dead, so a failure to watch a socket fails its transfer only. */
static int http_socket_cb(CURL *easy, curl_socket_t s, int action, void *userp,
                          void *socketp)
{
  struct http_client *c = userp;
  struct http_sock *hs = socketp;
  char *priv = NULL;
  int events = 0;

  if (action == CURL_POLL_REMOVE) {
    if (hs) {
      http_sock_close(hs);
      curl_multi_assign(c->multi, s, NULL);
    }
    return 0;
  }
  if (action == CURL_POLL_IN || action == CURL_POLL_INOUT)
    events |= UV_READABLE;
  if (action == CURL_POLL_OUT || action == CURL_POLL_INOUT)
    events |= UV_WRITABLE;
  if (hs == NULL) {
    hs = calloc(1, sizeof(*hs));
    if (hs == NULL)
      goto fail;
    if (uv_poll_init_socket(c->loop, &hs->poll, s) != 0) {
      free(hs);
      goto fail;
    }
    hs->fd = s;
    hs->client = c;
    hs->next = c->socks;
    if (c->socks)
      c->socks->prev = hs;
    c->socks = hs;
    c->open_handles++;
    curl_multi_assign(c->multi, s, hs);
  }
  if (uv_poll_start(&hs->poll, events, http_poll_cb) != 0)
    goto fail;
  return 0;

fail:
  if (easy)
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
  if (priv)
    http_request_fail_later((struct http_request *)priv, SR_ENOMEM);
  return 0;
}

int http_client_new(uv_loop_t *loop, struct http_client **out)
{
  struct http_client *c = NULL;
  int rc = SR_ENOMEM;

  *out = NULL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return SR_EIO;
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    goto out;
  c->loop = loop;
  c->multi = curl_multi_init();
  if (c->multi == NULL)
    goto out;
  rc = SR_EINVAL;
  if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, http_socket_cb) ||
      curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) ||
      curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, http_timer_fn) ||
      curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) ||
      curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                        HTTP_MAX_HOST_CONNECTIONS) ||
      curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                        HTTP_MAX_TOTAL_CONNECTIONS) ||
      curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS,
                        HTTP_MAX_CACHED_CONNECTIONS))
    goto out;
  /* Neither init can fail on a live loop; the handles exist from here
   * on and leave only through http_client_close. */
  uv_timer_init(loop, &c->timer);
  uv_idle_init(loop, &c->idle);
  c->timer.data = c;
  c->idle.data = c;
  c->open_handles = 2;
  *out = c;
  return 0;

out:
  if (c) {
    if (c->multi)
      curl_multi_cleanup(c->multi);
    free(c);
  }
  curl_global_cleanup();
  return rc;
}

/* Appends a line to a curl header list; returns 0 or SR_ENOMEM. */
static int http_list_append(struct curl_slist **list, const char *line)
{
  struct curl_slist *n = curl_slist_append(*list, line);

  if (n == NULL)
    return SR_ENOMEM;
  *list = n;
  return 0;
}

/* Adds "name: value" to a curl header list; an empty value is written
 * "name;", curl's way to send a header with no value ("name:" would
 * remove it instead). Rejects names and values that would break the
 * header block. Returns 0, SR_EINVAL or SR_ENOMEM. */
static int http_list_add(struct curl_slist **list, const char *name,
                         const char *value)
{
  struct buf b;
  int rc;

  if (name == NULL || value == NULL || name[0] == '\0' ||
      strpbrk(name, ":\r\n \t") != NULL || strpbrk(value, "\r\n") != NULL)
    return SR_EINVAL;
  buf_init(&b, BUF_CAP_DEFAULT);
  if (value[0])
    rc = buf_addf(&b, "%s: %s", name, value);
  else
    rc = buf_addf(&b, "%s;", name);
  if (rc)
    return rc;
  rc = http_list_append(list, buf_str(&b));
  buf_free(&b);
  return rc;
}

static int http_has_header(const struct http_request_opts *opts,
                           const char *name)
{
  size_t i;

  for (i = 0; i < opts->nheaders; i++)
    if (opts->headers[i].name && strcasecmp(opts->headers[i].name, name) == 0)
      return 1;
  return 0;
}

/* Prepares the request body: copies a memory body, or opens the file
 * and checks the region against its size. */
static int http_body_setup(struct http_request *req,
                           const struct http_request_opts *opts)
{
  struct stat st;

  if (opts->body_file) {
    req->body_fd = open(opts->body_file, O_RDONLY | O_CLOEXEC);
    if (req->body_fd < 0)
      return errno == ENOENT ? SR_ENOENT : SR_EIO;
    if (fstat(req->body_fd, &st) != 0)
      return SR_EIO;
    if (opts->body_file_offset < 0 || opts->body_file_offset > st.st_size)
      return SR_EINVAL;
    req->body_off = opts->body_file_offset;
    if (opts->body_file_len < 0)
      req->body_len = (long long)st.st_size - req->body_off;
    else if (opts->body_file_len > (long long)st.st_size - req->body_off)
      return SR_EINVAL;
    else
      req->body_len = opts->body_file_len;
    return 0;
  }
  if (opts->body_len > 0) {
    if (opts->body == NULL)
      return SR_EINVAL;
    /* A copy: the caller's bytes need not outlive the start call. */
    req->body = malloc(opts->body_len);
    if (req->body == NULL)
      return SR_ENOMEM;
    memcpy(req->body, opts->body, opts->body_len);
    req->body_len = (long long)opts->body_len;
  }
  return 0;
}

/* Creates response_file + ".part" for a streamed response body. */
static int http_out_setup(struct http_request *req, const char *path)
{
  struct buf b;
  int rc;

  req->out_path = strdup(path);
  if (req->out_path == NULL)
    return SR_ENOMEM;
  buf_init(&b, BUF_CAP_DEFAULT);
  rc = buf_addf(&b, "%s.part", path);
  if (rc)
    return rc;
  req->part_path = buf_detach(&b, NULL);
  if (req->part_path == NULL)
    return SR_ENOMEM;
  req->out_fd =
      open(req->part_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (req->out_fd < 0) {
    rc = errno == ENOENT ? SR_ENOENT : SR_EIO;
    free(req->part_path);
    req->part_path = NULL; /* not ours to unlink */
    return rc;
  }
  return 0;
}

/* curl_easy_setopt through one error path: the first failure sticks. */
#define HTTP_SETOPT(req, opt, val)                                             \
  do {                                                                         \
    if (rc == 0) {                                                             \
      CURLcode e_ = curl_easy_setopt((req)->easy, opt, val);                   \
      if (e_ != CURLE_OK)                                                      \
        rc = e_ == CURLE_OUT_OF_MEMORY ? SR_ENOMEM : SR_EINVAL;                \
    }                                                                          \
  } while (0)

/* Sets every option of the easy handle: method, body, headers, sinks,
 * timeouts and safety. Returns 0 or an SR_ code. */
static int http_easy_setup(struct http_request *req,
                           const struct http_request_opts *opts)
{
  const char *m = opts->method;
  int has_body = opts->body != NULL || opts->body_file != NULL;
  int file_io = opts->body_file != NULL || opts->response_file != NULL;
  int rc = 0;
  size_t i, cap;
  long v;

  for (i = 0; i < opts->nheaders && rc == 0; i++)
    rc = http_list_add(&req->req_headers, opts->headers[i].name,
                       opts->headers[i].value);
  /* "Name:" removes a header curl would add. No "Expect: 100-continue"
   * round trip before bodies. */
  if (rc == 0 && !http_has_header(opts, "Expect"))
    rc = http_list_append(&req->req_headers, "Expect:");
  /* curl would label a POST body form-urlencoded. */
  if (rc == 0 && strcmp(m, "POST") == 0 &&
      !http_has_header(opts, "Content-Type"))
    rc = http_list_append(&req->req_headers, "Content-Type:");
  if (rc)
    return rc;

  HTTP_SETOPT(req, CURLOPT_URL, opts->url);
  HTTP_SETOPT(req, CURLOPT_PRIVATE, (char *)req);
  HTTP_SETOPT(req, CURLOPT_ERRORBUFFER, req->errbuf);
  HTTP_SETOPT(req, CURLOPT_NOSIGNAL, 1L);
  HTTP_SETOPT(req, CURLOPT_PROTOCOLS_STR, "http,https");
  HTTP_SETOPT(req, CURLOPT_FOLLOWLOCATION, 0L);
  HTTP_SETOPT(req, CURLOPT_SSL_VERIFYPEER, 1L);
  HTTP_SETOPT(req, CURLOPT_SSL_VERIFYHOST, 2L);
  HTTP_SETOPT(req, CURLOPT_TCP_KEEPALIVE, 1L);
  HTTP_SETOPT(req, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  HTTP_SETOPT(req, CURLOPT_USERAGENT, "sagerun/" SAGERUN_VERSION);
  HTTP_SETOPT(req, CURLOPT_HTTPHEADER, req->req_headers);
  HTTP_SETOPT(req, CURLOPT_HEADERFUNCTION, http_header_cb);
  HTTP_SETOPT(req, CURLOPT_HEADERDATA, req);
  HTTP_SETOPT(req, CURLOPT_WRITEFUNCTION, http_write_cb);
  HTTP_SETOPT(req, CURLOPT_WRITEDATA, req);

  if (strcmp(m, "HEAD") == 0) {
    HTTP_SETOPT(req, CURLOPT_NOBODY, 1L);
  } else if (strcmp(m, "GET") == 0 && !has_body) {
    HTTP_SETOPT(req, CURLOPT_HTTPGET, 1L);
  } else if (strcmp(m, "POST") == 0) {
    /* No POSTFIELDS: curl reads the given size through the callback,
     * and an empty body is sent as Content-Length: 0. */
    HTTP_SETOPT(req, CURLOPT_POST, 1L);
    HTTP_SETOPT(req, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  } else if (has_body || strcmp(m, "PUT") == 0) {
    HTTP_SETOPT(req, CURLOPT_UPLOAD, 1L);
    HTTP_SETOPT(req, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
    if (strcmp(m, "PUT") != 0)
      HTTP_SETOPT(req, CURLOPT_CUSTOMREQUEST, m);
  } else {
    HTTP_SETOPT(req, CURLOPT_CUSTOMREQUEST, m);
  }
  HTTP_SETOPT(req, CURLOPT_READFUNCTION, http_read_cb);
  HTTP_SETOPT(req, CURLOPT_READDATA, req);
  HTTP_SETOPT(req, CURLOPT_SEEKFUNCTION, http_seek_cb);
  HTTP_SETOPT(req, CURLOPT_SEEKDATA, req);
  /* A memory body may stop early, before the whole body arrives (not for
   * HEAD, whose Content-Length describes a body never sent). */
  cap = opts->response_cap ? opts->response_cap : BUF_CAP_DEFAULT;
  if (opts->response_file == NULL && strcmp(m, "HEAD") != 0 &&
      cap <= (size_t)INT64_MAX)
    HTTP_SETOPT(req, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)cap);

  v = opts->connect_timeout_ms ? opts->connect_timeout_ms
                               : HTTP_CONNECT_TIMEOUT_MS;
  HTTP_SETOPT(req, CURLOPT_CONNECTTIMEOUT_MS, v);
  v = opts->total_timeout_ms ? opts->total_timeout_ms
                             : (file_io ? 0L : HTTP_TOTAL_TIMEOUT_MS);
  HTTP_SETOPT(req, CURLOPT_TIMEOUT_MS, v);
  v = opts->low_speed_bytes ? opts->low_speed_bytes : HTTP_LOW_SPEED_BYTES;
  HTTP_SETOPT(req, CURLOPT_LOW_SPEED_LIMIT, v);
  v = opts->low_speed_time_s ? opts->low_speed_time_s : HTTP_LOW_SPEED_TIME_S;
  HTTP_SETOPT(req, CURLOPT_LOW_SPEED_TIME, v);
  return rc;
}

int http_request_start(struct http_client *c,
                       const struct http_request_opts *opts, http_done_cb cb,
                       void *data, struct http_request **out)
{
  struct http_request *req = NULL;
  int rc = SR_EINVAL;

  if (out)
    *out = NULL;
  if (c == NULL || opts == NULL || cb == NULL || opts->url == NULL ||
      opts->method == NULL || opts->method[0] == '\0')
    return SR_EINVAL;
  if (c->closing)
    return SR_ECANCELED;
  if (opts->body_file && opts->body)
    return SR_EINVAL;
  if (strcmp(opts->method, "HEAD") == 0 && (opts->body || opts->body_file))
    return SR_EINVAL;
  req = calloc(1, sizeof(*req));
  if (req == NULL)
    return SR_ENOMEM;
  req->client = c;
  req->cb = cb;
  req->data = data;
  req->body_fd = -1;
  req->out_fd = -1;
  req->res.error_text = "";
  buf_init(&req->res.body,
           opts->response_cap ? opts->response_cap : BUF_CAP_DEFAULT);
  rc = http_body_setup(req, opts);
  if (rc)
    goto out;
  if (opts->response_file) {
    rc = http_out_setup(req, opts->response_file);
    if (rc)
      goto out;
  }
  rc = SR_ENOMEM;
  req->easy = curl_easy_init();
  if (req->easy == NULL)
    goto out;
  rc = http_easy_setup(req, opts);
  if (rc)
    goto out;
  /* Adding arms curl's timer (0 ms, so our 1 ms one-shot): that is the
   * kick-start, and it runs on the loop, not in here. */
  if (curl_multi_add_handle(c->multi, req->easy) != CURLM_OK) {
    rc = SR_ENOMEM;
    goto out;
  }
  req->state = HTTP_ACTIVE;
  req->next = c->active;
  if (c->active)
    c->active->prev = req;
  c->active = req;
  c->nrequests++;
  if (out)
    *out = req;
  return 0;

out:
  if (req->part_path)
    unlink(req->part_path);
  http_request_free(req);
  return rc;
}

void http_request_cancel(struct http_request *req)
{
  if (req == NULL)
    return;
  if (req->state == HTTP_ACTIVE)
    http_request_finish(req, CURLE_OK, SR_ECANCELED);
  else
    req->canceled = 1;
}

const char *http_response_header(const struct http_response *res,
                                 const char *name)
{
  size_t i;

  for (i = 0; i < res->nheaders; i++)
    if (strcmp(res->headers[i].name, name) == 0)
      return res->headers[i].value;
  return NULL;
}

size_t http_client_active(const struct http_client *c)
{
  return c->nrequests;
}

void http_client_close(struct http_client *c, void (*close_cb)(void *data),
                       void *data)
{
  struct http_sock *hs, *next;

  assert(!c->closing);
  c->closing = 1;
  c->close_cb = close_cb;
  c->close_data = data;
  while (c->active)
    http_request_finish(c->active, CURLE_OK, SR_ECANCELED);
  /* May report CURL_POLL_REMOVE for sockets still watched. */
  curl_multi_cleanup(c->multi);
  c->multi = NULL;
  /* Whatever curl did not report is closed by curl now: stop watching. */
  for (hs = c->socks; hs; hs = next) {
    next = hs->next;
    http_sock_close(hs);
  }
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, http_handle_closed);
  /* The idle handle runs the canceled callbacks, then closes itself. */
  uv_idle_start(&c->idle, http_idle_cb);
}
