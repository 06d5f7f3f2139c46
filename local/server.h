/* The local engine's HTTP front: libmicrohttpd without threads of its
 * own, in external epoll mode, driven by the engine's libuv loop (one
 * uv_poll on MHD's epoll fd, one uv_timer from MHD_get_timeout).
 *
 * Per request it collects the headers and the raw request target, picks
 * the service (S3 REST, SageMaker or CloudWatch Logs by X-Amz-Target,
 * SageMaker Runtime by POST /endpoints/NAME/invocations), applies
 * injected faults, verifies the SigV4 signature (local/verify.h), takes
 * the body (to memory, or for S3 uploads straight into the object store)
 * and answers with the service's result or error in the service's
 * protocol.
 *
 * Limits: headers must fit LOCAL_SERVER_CONNECTION_MEMORY (MHD answers
 * 431 otherwise), which is also the most a body read takes at once
 * (fewer, larger reads per 5 MB invocation body: bench/RESULTS.md,
 * endpoint scoring); bodies are capped per service (S3 uploads 5 GiB, other S3
 * bodies 8 MiB, JSON 16 MiB, invocations 6 MiB). Connections are kept
 * alive (HTTP/1.1). */
#ifndef SAGERUN_LOCAL_SERVER_H
#define SAGERUN_LOCAL_SERVER_H

#include <stddef.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/sigv4.h"
#include "credentials.h"
#include "engine.h"
#include "faults.h"

#define LOCAL_SERVER_CONNECTION_MEMORY ((size_t)1 << 20)
#define LOCAL_SERVER_JSON_CAP ((size_t)16 << 20)
#define LOCAL_SERVER_INVOKE_CAP ((size_t)6 << 20)
#define LOCAL_SERVER_S3_BODY_CAP ((size_t)8 << 20)

struct local_server;
struct s3store;
struct s3store_writer;

struct local_server_config {
  struct local_engine *engine;
  const char *bind; /* NULL: 127.0.0.1 */
  int port;         /* 0: any free port */
  const struct local_credentials *credentials;
  struct local_faults *faults; /* NULL: none */
  struct s3store *s3;
};

/* Listens and serves on loop. Returns 0 with *out, or a negative SR_ code
 * with a lowercase message in err (e.g. the port is taken). */
int local_server_start(uv_loop_t *loop, const struct local_server_config *c,
                       struct local_server **out, char *err, size_t errlen);

int local_server_port(const struct local_server *s);

/* Stops listening, ends every connection and frees the server; cb (may be
 * NULL) runs once from the loop when its handles are closed. */
void local_server_close(struct local_server *s, void (*cb)(void *arg),
                        void *arg);

/* A received request, as the services see it. Strings live as long as
 * the request. */
struct local_request {
  struct local_engine *engine;
  struct s3store *s3;
  const char *method;
  const char *path;  /* raw, as on the wire: "/bucket/my%20key" */
  const char *query; /* raw, without '?'; "" when none */
  const struct sigv4_header *headers;
  size_t nheaders;
  const char *request_id;
  int anonymous; /* passed unsigned (a public bucket's read) */
  /* The body: in memory, or (S3 uploads) in an object store writer that
   * a handler may take over (setting it to NULL); the server aborts it
   * otherwise. */
  const char *body;
  size_t body_len;
  struct s3store_writer *upload;
};

/* The value of header name (any case) or NULL. */
const char *local_request_header(const struct local_request *r,
                                 const char *name);

/* An answer. The body is body, or when fd >= 0, length bytes of fd from
 * offset (the response owns fd and closes it). */
struct local_response {
  int status;
  struct buf body;
  int fd;
  long long offset, length;
  struct buf headers;  /* "name\0value\0" pairs */
  char error_code[64]; /* an error answer's code, for the log; "" if none */
};

void local_response_init(struct local_response *r);
void local_response_free(struct local_response *r);
/* Adds a header; 0 or SR_ENOMEM. */
int local_response_header(struct local_response *r, const char *name,
                          const char *value);

#endif
