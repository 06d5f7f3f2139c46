/* The one HTTP client: libcurl's multi interface driven by a libuv loop
 * (the multi-uv pattern, with the fixes STYLE.md lists). One client per
 * loop; connections are reused across requests. TLS verification is
 * always on.
 *
 * Lifetimes: the client is a handle (http_client_close(c, cb)); a request
 * is one-shot. http_request_start either fails (returns < 0, callback
 * never called) or calls the request's callback exactly once, with the
 * outcome, from the loop (never from inside http_request_start). */
#ifndef SAGERUN_HTTP_H
#define SAGERUN_HTTP_H

#include <stddef.h>
#include <stdio.h>
#include <uv.h>

#include "buf.h"

struct http_client;
struct http_request;

struct http_header {
  char *name;
  char *value;
};

/* What a request is given. Strings are copied by http_request_start. */
struct http_request_opts {
  const char *method; /* "GET", "PUT", "POST", "HEAD", "DELETE" */
  const char *url;    /* full URL, already encoded as it goes on the wire */
  const struct http_header *headers;
  size_t nheaders;
  /* Body: either bytes in memory, or a file region streamed from disk. */
  const void *body;
  size_t body_len;
  const char *body_file; /* path; NULL for none */
  long long body_file_offset;
  long long body_file_len; /* -1: to the end of the file */
  /* Response body: to memory (capped at response_cap; 0 = 64 MiB) or
   * streamed into a file created at response_file (written to
   * response_file + ".part" and renamed on success). */
  const char *response_file;
  size_t response_cap;
  /* Timeouts in milliseconds; 0 means the client's default. */
  long connect_timeout_ms; /* default 10 s */
  long total_timeout_ms;   /* default 0 = none for file bodies, 300 s else */
  /* Abort when fewer than low_speed_bytes/s for low_speed_time_s. */
  long low_speed_bytes;  /* default 1 */
  long low_speed_time_s; /* default 60 */
};

struct http_response {
  int status;             /* HTTP status; 0 when no response arrived */
  int error;              /* 0, or a negative SR_ code for transport failures */
  int curl_code;          /* CURLcode when error != 0, for messages */
  const char *error_text; /* curl's message, or "" */
  struct http_header *headers; /* names lowercased, in order */
  size_t nheaders;
  struct buf body;      /* empty when streamed to a file */
  long long body_bytes; /* received body bytes (memory or file) */
  double seconds;       /* total time */
};

/* Called once per request. The response and the request are freed after
 * the callback returns. */
typedef void (*http_done_cb)(struct http_request *req,
                             const struct http_response *res, void *data);

/* Creates a client on loop. Returns 0 or a negative SR_ code. */
int http_client_new(uv_loop_t *loop, struct http_client **out);

/* Starts a request. On success *out (may be NULL) identifies it for
 * http_request_cancel until the callback runs. */
int http_request_start(struct http_client *c,
                       const struct http_request_opts *opts, http_done_cb cb,
                       void *data, struct http_request **out);

/* Cancels a request in flight: its callback runs once with error
 * SR_ECANCELED (from the loop, not from inside this call). A request
 * whose callback already ran must not be passed. */
void http_request_cancel(struct http_request *req);

/* The value of a response header (name lowercase), or NULL. */
const char *http_response_header(const struct http_response *res,
                                 const char *name);

/* Requests in flight. */
size_t http_client_active(const struct http_client *c);

/* Cancels what is in flight (each callback runs with SR_ECANCELED), then
 * releases the client; close_cb runs when every handle is closed, after
 * which the loop has nothing left of the client. */
void http_client_close(struct http_client *c, void (*close_cb)(void *data),
                       void *data);

#endif
