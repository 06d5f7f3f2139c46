/* The AWS client: one per run, shared by all steps. It builds requests
 * for the protocols sagerun needs (JSON 1.1 for SageMaker and CloudWatch
 * Logs, REST-JSON for SageMaker Runtime, REST-XML for S3), signs them
 * (sigv4.h), sends them through the transport (the HTTP client, or a
 * recorder for `plan`), retries as the SDKs' standard mode does, and
 * parses errors into code, message and request id as botocore does.
 *
 * One adaptive rate limiter per service is shared by every call, so
 * parallel steps back off together when a service throttles.
 *
 * Calls are requests in libuv's sense: aws_call_start fails (callback
 * never runs) or the callback runs exactly once, from the loop. */
#ifndef SAGERUN_AWS_H
#define SAGERUN_AWS_H

#include <jansson.h>
#include <stddef.h>
#include <time.h>
#include <uv.h>

#include "aws_config.h"
#include "buf.h"
#include "http.h"

struct aws_client;
struct aws_call;

/* How requests leave the process. The real transport signs and sends
 * through http.h; the recorder used by `plan` writes each request down
 * and answers it itself. */
struct aws_transport_request {
  const char *service;   /* "sagemaker", "s3", "logs", "sagemaker-runtime" */
  const char *operation; /* "CreateTrainingJob", "PutObject", ... */
  const char *method;
  const char *url; /* as sent */
  const struct http_header *headers;
  size_t nheaders;
  const void *body; /* memory body, or NULL */
  size_t body_len;
  const char *body_file; /* file body (path), or NULL */
  long long body_file_offset, body_file_len;
  const json_t *input; /* the call's input as given (JSON protocols), or
                          NULL: for the recorder */
};

struct aws_recorder {
  /* Called for each request instead of sending it. Must fill res (status
   * and body as a service would) and return 0; runs on the loop. res
   * comes zeroed with an empty body buffer; headers, if set, are a
   * malloc'ed array of malloc'ed strings that the client frees. Setting
   * res->error plays a transport failure (retried like one); returning
   * non-zero fails the call with that code, without retries. */
  int (*record)(struct aws_recorder *r, const struct aws_transport_request *req,
                struct http_response *res);
};

struct aws_client_opts {
  uv_loop_t *loop;
  const char *region;    /* required */
  const char *local_url; /* target local: every service at this URL */
  const struct aws_credentials *credentials; /* copied; NULL with recorder */
  const struct aws_config_opts *config;      /* endpoints; may be NULL */
  struct aws_recorder *recorder;             /* NULL: send for real */
  int max_attempts;                          /* 0: AWS_MAX_ATTEMPTS or 3 */
  /* Waiter delays are divided by this (the local engine answers in
   * seconds, not minutes); 0 or 1 = as defined. */
  double waiter_speedup;
  /* Randomness for backoff jitter; NULL uses a seeded xorshift. Tests
   * inject a fixed sequence. Returns a double in [0, 1). */
  double (*random)(void *data);
  void *random_data;
};

int aws_client_new(const struct aws_client_opts *opts, struct aws_client **out);
/* Cancels calls in flight (their callbacks run with SR_ECANCELED), then
 * releases; close_cb runs when nothing of the client is left on the
 * loop. */
void aws_client_close(struct aws_client *c, void (*close_cb)(void *data),
                      void *data);

/* A call. For JSON 1.1 services give operation and input (the request
 * body). For REST services give method, path (encoded, starting with
 * "/"), query (encoded, no "?"), extra headers and a body. */
struct aws_call_opts {
  const char *service;
  const char *operation;
  const json_t *input; /* JSON 1.1: the body; REST-JSON: the body */
  const char *method;
  const char *path;
  const char *query;
  const struct http_header *headers;
  size_t nheaders;
  const void *body;
  size_t body_len;
  const char *body_file;
  long long body_file_offset, body_file_len; /* len -1: to the end */
  const char *response_file;                 /* stream the response body here */
  const char *content_type;                  /* REST bodies */
  /* e.g. non-idempotent REST calls */
  int no_retry;
  /* Added: prepended to the endpoint's host, as botocore's hostPrefix
   * (S3 virtual-host style: "bucket."). NULL for none. */
  const char *host_prefix;
};

struct aws_result {
  int error;                 /* 0, a transport SR_ code, or SR_EIO for
                                an AWS error (error_code is set) */
  int http_status;           /* 0 when no response arrived */
  const char *error_code;    /* "ThrottlingException", "NoSuchKey"... */
  const char *error_message; /* the service's message */
  const char *request_id;    /* x-amzn-RequestId / x-amz-request-id */
  /* JSON protocols: the parsed body (REST-JSON: when the response says
   * JSON). Owned by the call: json_incref to keep it. */
  json_t *output;
  /* Headers and raw body; never NULL (status 0 without a response). */
  const struct http_response *response;
  int attempts; /* how many were made */
};
/* Everything in a result lives until the callback returns. */

typedef void (*aws_done_cb)(struct aws_call *call, const struct aws_result *res,
                            void *data);

int aws_call_start(struct aws_client *c, const struct aws_call_opts *opts,
                   aws_done_cb cb, void *data, struct aws_call **out);
/* Its callback then runs once with SR_ECANCELED (from the loop). A call
 * whose callback already ran must not be passed. */
void aws_call_cancel(struct aws_call *call);

/* Added: what S3 addressing needs. The endpoint URL of a service (no
 * trailing slash), or NULL; and whether the client targets local_url. */
const char *aws_client_endpoint(const struct aws_client *c,
                                const char *service);
int aws_client_is_local(const struct aws_client *c);

/* Added: counters for tests and progress output. */
struct aws_client_stats {
  int retry_quota;           /* standard mode's retry tokens left (of 500) */
  int limiter_enabled;       /* the service has throttled at least once */
  double limiter_rate;       /* the service's token fill rate, per second */
  double measured_rate;      /* measured send rate, per second */
  unsigned long throttles;   /* throttling responses from the service */
  unsigned long token_waits; /* calls that had to wait for a token */
  double token_wait_seconds; /* their total wait */
};
int aws_client_stats(const struct aws_client *c, const char *service,
                     struct aws_client_stats *out);

/* Waiters: botocore-style definitions (delay, maxAttempts, operation,
 * acceptors with matcher path / pathAll / pathAny / status / error,
 * expected, state success / failure / retry), built in for the waiters
 * sagerun uses: "sagemaker.TrainingJobCompletedOrStopped",
 * "sagemaker.EndpointInService", "sagemaker.EndpointDeleted". The waiter
 * polls on timers until an acceptor decides or deadline (absolute, 0 =
 * the definition's delay x maxAttempts, counted as maxAttempts polls)
 * passes. on_poll (may be NULL) is
 * called with each response, for progress. The callback gets 0 with the
 * last output, SR_EIO with the failure's result (also an unexpected AWS
 * error, as botocore), a transport code, SR_ETIMEDOUT after maxAttempts
 * polls or at the deadline (last: the last poll), or SR_ECANCELED (last:
 * NULL). The definitions are runner/aws_waiters.json, embedded. */
struct aws_waiter;
typedef void (*aws_waiter_cb)(struct aws_waiter *w, int status,
                              const struct aws_result *last, void *data);
int aws_waiter_start(struct aws_client *c, const char *name,
                     const json_t *input, time_t deadline,
                     void (*on_poll)(const struct aws_result *r, void *data),
                     aws_waiter_cb cb, void *data, struct aws_waiter **out);
void aws_waiter_cancel(struct aws_waiter *w);

#endif
