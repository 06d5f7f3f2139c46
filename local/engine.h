/* The embedded AWS-compatible engine (`sagerun local`): one loopback port
 * serving S3 (REST-XML), SageMaker and CloudWatch Logs (JSON 1.1 by
 * X-Amz-Target) and SageMaker Runtime (REST-JSON), with every request's
 * SigV4 signature verified. State lives in the data directory: objects as
 * files, metadata in SQLite (engine.db), so a restart keeps everything.
 *
 * The HTTP front (local/server.c) parses and verifies requests, then
 * calls the services below. JSON 1.1 services are functions from
 * (operation, input) to output or an AWS error; they run on the engine's
 * loop and must not block for long (training runs in worker processes,
 * see local/training.h, hosting in local/hosting.h). */
#ifndef SAGERUN_LOCAL_ENGINE_H
#define SAGERUN_LOCAL_ENGINE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stddef.h>
#include <uv.h>

struct local_engine;

/* An AWS error as the service would send it. */
struct local_error {
  int status;        /* HTTP status: 400, 404, 409, 500 ... */
  char code[64];     /* "ValidationException", "ResourceInUse" ... */
  char message[512]; /* the service's text */
};

/* Fills err and returns -1, for `return local_fail(err, 400, ...);`. */
int local_fail(struct local_error *err, int status, const char *code,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

uv_loop_t *local_engine_loop(struct local_engine *e);
sqlite3 *local_engine_db(struct local_engine *e);
const char *local_engine_data_dir(struct local_engine *e);
const char *local_engine_region(struct local_engine *e);
const char *local_engine_account(struct local_engine *e); /* 12 digits */
/* Base URL the engine serves, e.g. "http://127.0.0.1:4566". */
const char *local_engine_url(struct local_engine *e);
/* Seconds since the epoch, as the engine sees it (tests may shift it). */
double local_engine_now(struct local_engine *e);

/* JSON 1.1 services. Return 0 with *output (new reference), or -1 with
 * err filled. */
int local_sagemaker_call(struct local_engine *e, const char *operation,
                         const json_t *input, json_t **output,
                         struct local_error *err);
int local_logs_call(struct local_engine *e, const char *operation,
                    const json_t *input, json_t **output,
                    struct local_error *err);

/* Set up / tear down each service's tables and background work. */
int local_sagemaker_init(struct local_engine *e);
void local_sagemaker_close(struct local_engine *e);
int local_logs_init(struct local_engine *e);

/* CloudWatch Logs for the engine's own producers (training workers):
 * creates group/stream as needed and appends events (ms timestamps). */
int local_logs_put(struct local_engine *e, const char *group,
                   const char *stream, long long timestamp_ms,
                   const char *message);
/* The same for a burst of events (a worker's lines arrive many at a
 * time), appended in one transaction: one commit, one fsync, rather than
 * one per line. Events must be in time order. (Added by the services.) */
struct local_log_event {
  long long timestamp_ms;
  const char *message;
};
int local_logs_put_many(struct local_engine *e, const char *group,
                        const char *stream,
                        const struct local_log_event *events, size_t n);

/* SageMaker Runtime: POST /endpoints/NAME/invocations (local/runtime.c).
 * Payloads up to 6 MiB take tens of milliseconds to parse and score, so
 * scoring runs on libuv's thread pool while the loop goes on serving:
 * the front door's checks answer at once, the model's answer comes to a
 * callback. */
struct local_runtime_request {
  const char *endpoint;
  const char *content_type;   /* NULL: application/octet-stream */
  const char *accept;         /* NULL: the model's default */
  const char *target_variant; /* X-Amzn-SageMaker-Target-Variant or NULL */
  const void *data;           /* must stay valid until the answer */
  size_t len;
};

struct local_runtime_answer {
  int failed;             /* 1: err says why, body is NULL */
  struct local_error err; /* ModelError (424), ValidationError (400) */
  char *body;             /* malloc'ed; the callback takes it over */
  size_t len;
  char content_type[128];
  char variant[64]; /* x-Amzn-Invoked-Production-Variant */
};

typedef void (*local_runtime_cb)(struct local_runtime_answer *a, void *arg);

/* Returns 0, and cb runs exactly once, from the loop and never inside
 * this call; or -1 with err (a request the front door refuses: too big,
 * invalid, no such endpoint), and cb never runs. */
int local_runtime_invoke(struct local_engine *e,
                         const struct local_runtime_request *r,
                         local_runtime_cb cb, void *arg,
                         struct local_error *err);

/* S3 for the engine's own users (training reads channels, writes
 * artifacts; the GDELT bucket is filled): the object store's functions
 * are in local/s3store.h, on the store local_engine_s3() returns. */
struct s3store;
struct s3store *local_engine_s3(struct local_engine *e);

/* The public bucket of GDELT events, created and marked public at every
 * start: anonymous GET, HEAD and List are allowed on public buckets,
 * everything else must be signed. A GET or HEAD of events/YEAR.csv makes
 * the file first (local_gdelt_ensure, local/gdelt_synth.h). */
#define LOCAL_GDELT_BUCKET "gdelt-open-data"

/* Lines for engine.log (stderr of the engine): a UTC timestamp, then
 * the text. */
void local_engine_log(struct local_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Shifts local_engine_now() by seconds (tests of clocks and expiry). */
void local_engine_set_clock_offset(struct local_engine *e, double seconds);

/* Lifecycle (local/engine.c), for `sagerun local start` and tests. */
struct local_engine_options {
  const char *data_dir; /* created when missing (mode 0700) */
  const char *bind;     /* listen address; NULL: 127.0.0.1 */
  int port;             /* 0: any free port (see local_engine_port) */
  const char *faults;   /* --faults SPEC (local/faults.h) or NULL */
  const char *region;   /* NULL: us-east-1 */
};

/* Opens the data directory (credentials, engine.db, object store), starts
 * serving on loop and sets up the services (local_logs_init,
 * local_sagemaker_init). Returns 0 with *out, or a negative SR_ code with
 * a lowercase message in err; after a failure, run the loop once more
 * before uv_loop_close, as handles made before it may still be closing. */
int local_engine_open(uv_loop_t *loop, const struct local_engine_options *o,
                      struct local_engine **out, char *err, size_t errlen);

/* The port served (useful after port 0). */
int local_engine_port(struct local_engine *e);

/* Stops serving, closes the services (local_sagemaker_close) and frees
 * the engine; cb (may be NULL) runs once from the loop when every handle
 * is closed. */
void local_engine_close(struct local_engine *e, void (*cb)(void *arg),
                        void *arg);

#endif
