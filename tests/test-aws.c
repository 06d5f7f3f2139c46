/* The AWS client: request shapes, error parsing, retries, the retry
 * quota, the adaptive rate limiter, cancellation and waiters, through the
 * recorder transport (scripted responses), then for real against the
 * HTTP test server (tests/helpers/http-test-server.c). */
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/aws.h"
#include "../runner/error.h"
#include "../runner/sigv4.h"
#include "test.h"

/* ---- A scripted recorder ----------------------------------------------- */

struct step {
  int status;
  const char *body;
  const char *hname, *hvalue; /* one extra response header, or NULL */
  int error;                  /* a transport failure to play */
};

struct rec {
  struct aws_recorder base;
  const struct step *steps;
  size_t nsteps, next; /* the last step repeats */
  int count;
  json_t *log; /* every request, as JSON */
};

static int add_header(struct http_response *res, const char *n, const char *v)
{
  struct http_header *h =
      realloc(res->headers, (res->nheaders + 1) * sizeof(*h));

  if (h == NULL)
    return SR_ENOMEM;
  res->headers = h;
  h[res->nheaders].name = strdup(n);
  h[res->nheaders].value = strdup(v);
  res->nheaders++;
  return 0;
}

static json_t *request_json(const struct aws_transport_request *req)
{
  json_t *j = json_object(), *h = json_object();
  size_t i;

  json_object_set_new(j, "service", json_string(req->service));
  json_object_set_new(j, "operation", json_string(req->operation));
  json_object_set_new(j, "method", json_string(req->method));
  json_object_set_new(j, "url", json_string(req->url));
  for (i = 0; i < req->nheaders; i++)
    json_object_set_new(h, req->headers[i].name,
                        json_string(req->headers[i].value));
  json_object_set_new(j, "headers", h);
  if (req->body)
    json_object_set_new(j, "body",
                        json_stringn((const char *)req->body, req->body_len));
  if (req->body_file) {
    json_object_set_new(j, "body_file", json_string(req->body_file));
    json_object_set_new(j, "offset", json_integer(req->body_file_offset));
    json_object_set_new(j, "len", json_integer(req->body_file_len));
  }
  if (req->input)
    json_object_set_new(j, "input", json_deep_copy(req->input));
  return j;
}

static int rec_record(struct aws_recorder *r,
                      const struct aws_transport_request *req,
                      struct http_response *res)
{
  struct rec *rc = (struct rec *)r;
  const struct step *s;

  json_array_append_new(rc->log, request_json(req));
  rc->count++;
  if (rc->nsteps == 0) {
    res->status = 200;
    return buf_adds(&res->body, "{}");
  }
  s = &rc->steps[rc->next < rc->nsteps ? rc->next : rc->nsteps - 1];
  rc->next++;
  if (s->error) {
    res->error = s->error;
    return 0;
  }
  res->status = s->status;
  add_header(res, "x-amzn-RequestId", "req-1");
  if (s->hname)
    add_header(res, s->hname, s->hvalue);
  return s->body ? buf_adds(&res->body, s->body) : 0;
}

static void rec_init(struct rec *r, const struct step *steps, size_t n)
{
  memset(r, 0, sizeof(*r));
  r->base.record = rec_record;
  r->steps = steps;
  r->nsteps = n;
  r->log = json_array();
}

static double zero_random(void *data)
{
  (void)data;
  return 0;
}

/* ---- Outcomes ---------------------------------------------------------- */

struct outcome {
  int called;
  int error, status, attempts;
  char *code, *message, *request_id;
  json_t *output;
  char *body;
  char *hdr_sha, *hdr_len; /* /echo's x-body-sha256 and x-body-length */
};

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

static void on_done(struct aws_call *call, const struct aws_result *r,
                    void *data)
{
  struct outcome *o = data;
  size_t i;

  (void)call;
  o->called++;
  o->error = r->error;
  o->status = r->http_status;
  o->attempts = r->attempts;
  o->code = dup_or_null(r->error_code);
  o->message = dup_or_null(r->error_message);
  o->request_id = dup_or_null(r->request_id);
  o->output = r->output ? json_incref(r->output) : NULL;
  ASSERT(r->response != NULL);
  o->body = strdup(buf_str(&r->response->body));
  for (i = 0; i < r->response->nheaders; i++) {
    if (strcasecmp(r->response->headers[i].name, "x-body-sha256") == 0)
      o->hdr_sha = strdup(r->response->headers[i].value);
    if (strcasecmp(r->response->headers[i].name, "x-body-length") == 0)
      o->hdr_len = strdup(r->response->headers[i].value);
  }
}

static void outcome_free(struct outcome *o)
{
  free(o->code);
  free(o->message);
  free(o->request_id);
  json_decref(o->output);
  free(o->body);
  free(o->hdr_sha);
  free(o->hdr_len);
  memset(o, 0, sizeof(*o));
}

static void on_closed(void *data)
{
  (*(int *)data)++;
}

/* Closes the client, runs the loop dry and checks nothing is left. */
static void finish(uv_loop_t *loop, struct aws_client *c)
{
  int closed = 0;

  aws_client_close(c, on_closed, &closed);
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, uv_loop_close(loop));
}

static struct aws_client *rec_client(uv_loop_t *loop, struct rec *r,
                                     int max_attempts)
{
  struct aws_client_opts o;
  struct aws_client *c = NULL;

  memset(&o, 0, sizeof(o));
  o.loop = loop;
  o.region = "us-east-1";
  o.recorder = &r->base;
  o.max_attempts = max_attempts;
  o.random = zero_random;
  o.waiter_speedup = 1e6;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  return c;
}

/* Runs one JSON 1.1 call to its end. */
static void run_json(uv_loop_t *loop, struct aws_client *c, const char *service,
                     const char *op, json_t *input, struct outcome *out)
{
  struct aws_call_opts o;

  memset(&o, 0, sizeof(o));
  o.service = service;
  o.operation = op;
  o.input = input;
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, out, NULL));
  ASSERT_EQ(0, out->called); /* never from inside the start */
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out->called);
}

static const char *log_str(struct rec *r, size_t i, const char *key)
{
  return json_string_value(json_object_get(json_array_get(r->log, i), key));
}

static const char *log_header(struct rec *r, size_t i, const char *name)
{
  json_t *h = json_object_get(json_array_get(r->log, i), "headers");
  const char *k;
  json_t *v;

  json_object_foreach(h, k, v)
  {
    if (strcasecmp(k, name) == 0)
      return json_string_value(v);
  }
  return NULL;
}

/* ---- Request shapes ---------------------------------------------------- */

TEST(aws_json_request_shape)
{
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct outcome out = {0};
  json_t *in = json_pack("{s:s, s:{s:s}}", "TrainingJobName", "job-1",
                         "HyperParameters", "epochs", "2");

  uv_loop_init(&loop);
  rec_init(&r, NULL, 0);
  c = rec_client(&loop, &r, 0);
  run_json(&loop, c, "sagemaker", "CreateTrainingJob", in, &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(200, out.status);
  ASSERT_EQ(1, out.attempts);
  ASSERT(json_is_object(out.output));
  ASSERT_STR_EQ("sagemaker", log_str(&r, 0, "service"));
  ASSERT_STR_EQ("CreateTrainingJob", log_str(&r, 0, "operation"));
  ASSERT_STR_EQ("POST", log_str(&r, 0, "method"));
  ASSERT_STR_EQ("https://api.sagemaker.us-east-1.amazonaws.com/",
                log_str(&r, 0, "url"));
  ASSERT_STR_EQ("SageMaker.CreateTrainingJob",
                log_header(&r, 0, "X-Amz-Target"));
  ASSERT_STR_EQ("application/x-amz-json-1.1",
                log_header(&r, 0, "Content-Type"));
  ASSERT_STR_EQ("api.sagemaker.us-east-1.amazonaws.com",
                log_header(&r, 0, "Host"));
  ASSERT_STR_EQ("{\"TrainingJobName\":\"job-1\","
                "\"HyperParameters\":{\"epochs\":\"2\"}}",
                log_str(&r, 0, "body"));
  ASSERT(json_equal(in, json_object_get(json_array_get(r.log, 0), "input")));
  /* Plan never signs. */
  ASSERT(log_header(&r, 0, "Authorization") == NULL);
  ASSERT(log_header(&r, 0, "X-Amz-Date") == NULL);
  outcome_free(&out);

  /* CloudWatch Logs: its own target prefix; no input gives "{}". */
  run_json(&loop, c, "logs", "DescribeLogStreams", NULL, &out);
  ASSERT_STR_EQ("Logs_20140328.DescribeLogStreams",
                log_header(&r, 1, "X-Amz-Target"));
  ASSERT_STR_EQ("https://logs.us-east-1.amazonaws.com/", log_str(&r, 1, "url"));
  ASSERT_STR_EQ("{}", log_str(&r, 1, "body"));
  outcome_free(&out);
  json_decref(in);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(aws_rest_json_request_shape)
{
  static const struct step steps[] = {
      {200, "{\"predictions\":[{\"score\":0.5}]}", "Content-Type",
       "application/json", 0},
      {424, "{\"message\":\"boom\",\"OriginalStatusCode\":500}",
       "x-amzn-errortype", "ModelError:http://internal.amazon.com/", 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct outcome out = {0};
  struct aws_call_opts o;

  uv_loop_init(&loop);
  rec_init(&r, steps, 2);
  c = rec_client(&loop, &r, 1);
  memset(&o, 0, sizeof(o));
  o.service = "sagemaker-runtime";
  o.operation = "InvokeEndpoint";
  o.method = "POST";
  o.path = "/endpoints/ep-1/invocations";
  o.body = "1.5,16.0\n";
  o.body_len = 9;
  o.content_type = "text/csv";
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_STR_EQ("https://runtime.sagemaker.us-east-1.amazonaws.com"
                "/endpoints/ep-1/invocations",
                log_str(&r, 0, "url"));
  ASSERT_STR_EQ("text/csv", log_header(&r, 0, "Content-Type"));
  ASSERT(log_header(&r, 0, "X-Amz-Target") == NULL);
  ASSERT_STR_EQ("1.5,16.0\n", log_str(&r, 0, "body"));
  ASSERT(json_is_array(json_object_get(out.output, "predictions")));
  outcome_free(&out);

  /* REST-JSON takes the code from x-amzn-errortype, cut at ':'. */
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(424, out.status);
  ASSERT_STR_EQ("ModelError", out.code);
  ASSERT_STR_EQ("boom", out.message);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(aws_recorder_never_sees_secrets)
{
  static const char *const services[] = {"sagemaker", "logs", "s3",
                                         "sagemaker-runtime"};
  uv_loop_t loop;
  struct rec r;
  struct aws_client_opts o;
  struct aws_credentials creds = {"AKIDRECORDERTEST", "SECRETRECORDERTEST",
                                  "TOKENRECORDERTEST", 0, "static"};
  struct aws_client *c = NULL;
  struct outcome out = {0};
  struct aws_call_opts co;
  char *dump;
  size_t i;

  uv_loop_init(&loop);
  rec_init(&r, NULL, 0);
  memset(&o, 0, sizeof(o));
  o.loop = &loop;
  o.region = "eu-west-1";
  o.recorder = &r.base;
  o.credentials = &creds; /* given, and still never used */
  ASSERT_EQ(0, aws_client_new(&o, &c));
  for (i = 0; i < 4; i++) {
    memset(&co, 0, sizeof(co));
    co.service = services[i];
    co.operation = "Op";
    co.method = "PUT";
    co.path = "/b/k";
    co.body = "data";
    co.body_len = 4;
    ASSERT_EQ(0, aws_call_start(c, &co, on_done, &out, NULL));
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(0, out.error);
    outcome_free(&out);
  }
  ASSERT_EQ(4, r.count);
  dump = json_dumps(r.log, JSON_COMPACT);
  ASSERT(strstr(dump, "AKIDRECORDERTEST") == NULL);
  ASSERT(strstr(dump, "SECRETRECORDERTEST") == NULL);
  ASSERT(strstr(dump, "TOKENRECORDERTEST") == NULL);
  for (i = 0; i < 4; i++) {
    ASSERT(log_header(&r, i, "Authorization") == NULL);
    ASSERT(log_header(&r, i, "X-Amz-Security-Token") == NULL);
  }
  free(dump);
  json_decref(r.log);
  finish(&loop, c);
}

/* ---- Error parsing ----------------------------------------------------- */

TEST(aws_error_json_forms)
{
  static const struct step steps[] = {
      {400,
       "{\"__type\":\"com.amazon.coral.validate#ValidationException\","
       "\"message\":\"Requested resource not found.\"}",
       NULL, NULL, 0},
      {400,
       "{\"__type\":\"ResourceInUse:http://internal.amazon.com/coral/\","
       "\"Message\":\"in use\"}",
       NULL, NULL, 0},
      {400, "{\"message\":\"no type\"}", "x-amzn-errortype",
       "AccessDeniedException:http://internal.amazon.com/", 0},
      {418, "", NULL, NULL, 0},
      {404, "not json", NULL, NULL, 0},
  };
  static const char *const codes[] = {"ValidationException", "ResourceInUse",
                                      "AccessDeniedException", "418", "404"};
  static const char *const messages[] = {"Requested resource not found.",
                                         "in use", "no type", "", ""};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct outcome out = {0};
  size_t i;

  uv_loop_init(&loop);
  rec_init(&r, steps, 5);
  c = rec_client(&loop, &r, 0);
  for (i = 0; i < 5; i++) {
    run_json(&loop, c, "sagemaker", "DescribeTrainingJob", NULL, &out);
    ASSERT_EQ(SR_EIO, out.error);
    ASSERT_EQ(1, out.attempts); /* none of them is retryable */
    ASSERT_STR_EQ(codes[i], out.code);
    ASSERT_STR_EQ(messages[i], out.message);
    ASSERT_STR_EQ("req-1", out.request_id);
    ASSERT(out.output == NULL);
    outcome_free(&out);
  }
  json_decref(r.log);
  finish(&loop, c);
}

static void run_s3(uv_loop_t *loop, struct aws_client *c, const char *method,
                   const char *path, struct outcome *out)
{
  struct aws_call_opts o;

  memset(&o, 0, sizeof(o));
  o.service = "s3";
  o.operation = "GetObject";
  o.method = method;
  o.path = path;
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, out, NULL));
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out->called);
}

TEST(aws_error_xml_forms)
{
  static const struct step steps[] = {
      {404,
       "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey"
       "</Code><Message>The specified key does not exist.</Message>"
       "<Key>k</Key><RequestId>R123</RequestId><HostId>h</HostId></Error>",
       NULL, NULL, 0},
      {404, NULL, "x-amz-request-id", "R404", 0},
      {403, NULL, NULL, NULL, 0},
      {400, "<html>not xml", NULL, NULL, 0},
      {503,
       "<Error><Code>SlowDown</Code><Message>Reduce your request rate"
       "</Message></Error>",
       NULL, NULL, 0},
  };
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct outcome out = {0};

  uv_loop_init(&loop);
  rec_init(&r, steps, 5);
  c = rec_client(&loop, &r, 1);
  run_s3(&loop, c, "GET", "/b/k", &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_STR_EQ("NoSuchKey", out.code);
  ASSERT_STR_EQ("The specified key does not exist.", out.message);
  ASSERT_STR_EQ("req-1", out.request_id); /* the header wins */
  outcome_free(&out);
  /* HEAD errors have no body: the status names the code. */
  run_s3(&loop, c, "HEAD", "/b/k", &out);
  ASSERT_STR_EQ("NotFound", out.code);
  ASSERT_STR_EQ("Not Found", out.message);
  outcome_free(&out);
  run_s3(&loop, c, "HEAD", "/b/k", &out);
  ASSERT_STR_EQ("Forbidden", out.code);
  outcome_free(&out);
  run_s3(&loop, c, "GET", "/b/k", &out);
  ASSERT_STR_EQ("400", out.code);
  outcome_free(&out);
  run_s3(&loop, c, "GET", "/b/k", &out);
  ASSERT_STR_EQ("SlowDown", out.code);
  ASSERT_STR_EQ("Reduce your request rate", out.message);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

/* ---- Retries ----------------------------------------------------------- */

static const char unavailable[] =
    "{\"__type\":\"ServiceUnavailable\",\"message\":\"try later\"}";

TEST(aws_retry_then_success)
{
  static const struct step steps[] = {
      {503, unavailable, NULL, NULL, 0},
      {0, NULL, NULL, NULL, SR_ECONN},
      {200, "{\"TrainingJobStatus\":\"InProgress\"}", NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct aws_client_stats st;
  struct outcome out = {0};

  uv_loop_init(&loop);
  rec_init(&r, steps, 3);
  c = rec_client(&loop, &r, 0);
  run_json(&loop, c, "sagemaker", "DescribeTrainingJob", NULL, &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(3, out.attempts);
  ASSERT_EQ(3, r.count);
  ASSERT_STR_EQ("InProgress", json_string_value(json_object_get(
                                  out.output, "TrainingJobStatus")));
  /* Two retries took 5 each; the success gave the last 5 back. */
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker", &st));
  ASSERT_EQ(495, st.retry_quota);
  ASSERT_EQ(0, st.limiter_enabled); /* 503 is no throttle */
  /* Each attempt is the same request. */
  ASSERT_STR_EQ(log_str(&r, 0, "body"), log_str(&r, 2, "body"));
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(aws_retry_gives_up_after_max_attempts)
{
  static const struct step steps[] = {{503, unavailable, NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct outcome out = {0};

  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  c = rec_client(&loop, &r, 0);
  run_json(&loop, c, "sagemaker", "DescribeTrainingJob", NULL, &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(3, out.attempts); /* the default */
  ASSERT_EQ(3, r.count);
  ASSERT_STR_EQ("ServiceUnavailable", out.code);
  ASSERT_EQ(503, out.status);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);

  /* max_attempts from the client's options. */
  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  c = rec_client(&loop, &r, 5);
  run_json(&loop, c, "sagemaker", "DescribeTrainingJob", NULL, &out);
  ASSERT_EQ(5, out.attempts);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);

  /* And from AWS_MAX_ATTEMPTS. */
  setenv("AWS_MAX_ATTEMPTS", "2", 1);
  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  c = rec_client(&loop, &r, 0);
  run_json(&loop, c, "sagemaker", "DescribeTrainingJob", NULL, &out);
  ASSERT_EQ(2, out.attempts);
  unsetenv("AWS_MAX_ATTEMPTS");
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(aws_no_retry_for_client_errors)
{
  static const struct step steps[] = {
      {400, "{\"__type\":\"ValidationException\",\"message\":\"bad\"}", NULL,
       NULL, 0}};
  static const struct step transient[] = {
      {400, "{\"__type\":\"RequestTimeoutException\"}", NULL, NULL, 0},
      {200, "{}", NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct outcome out = {0};
  struct aws_call_opts o;

  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  c = rec_client(&loop, &r, 0);
  run_json(&loop, c, "sagemaker", "CreateTrainingJob", NULL, &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(1, out.attempts);
  ASSERT_EQ(1, r.count);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);

  /* A transient code retries even on 400; no_retry stops that. */
  uv_loop_init(&loop);
  rec_init(&r, transient, 2);
  c = rec_client(&loop, &r, 0);
  run_json(&loop, c, "sagemaker", "CreateTrainingJob", NULL, &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(2, out.attempts);
  outcome_free(&out);
  r.next = 0;
  memset(&o, 0, sizeof(o));
  o.service = "sagemaker";
  o.operation = "CreateTrainingJob";
  o.no_retry = 1;
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(1, out.attempts);
  ASSERT_STR_EQ("RequestTimeoutException", out.code);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(aws_retry_quota_exhaustion)
{
  static const struct step fail[] = {{500, "{}", NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct aws_client_stats st;
  struct outcome out = {0};
  int i;

  uv_loop_init(&loop);
  rec_init(&r, fail, 1);
  c = rec_client(&loop, &r, 0);
  /* Each failing call spends 2 retries x 5 of the 500 tokens. */
  for (i = 0; i < 50; i++) {
    run_json(&loop, c, "logs", "GetLogEvents", NULL, &out);
    ASSERT_EQ(3, out.attempts);
    outcome_free(&out);
  }
  ASSERT_EQ(0, aws_client_stats(c, "logs", &st));
  ASSERT_EQ(0, st.retry_quota);
  /* Empty: the next failure is not retried. */
  run_json(&loop, c, "logs", "GetLogEvents", NULL, &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(1, out.attempts);
  outcome_free(&out);
  /* A success without retries gives one token back; the quota is the
   * client's, across services. */
  r.nsteps = 0; /* 200 {} from here on */
  run_json(&loop, c, "sagemaker", "ListTrainingJobs", NULL, &out);
  ASSERT_EQ(0, out.error);
  outcome_free(&out);
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker", &st));
  ASSERT_EQ(1, st.retry_quota);
  json_decref(r.log);
  finish(&loop, c);
}

static const char throttled[] =
    "{\"__type\":\"ThrottlingException\",\"message\":\"Rate exceeded\"}";

TEST_TIMEOUT(aws_throttle_slows_the_service, 90000);
TEST(aws_throttle_slows_the_service)
{
  static const struct step steps[] = {{400, throttled, NULL, NULL, 0},
                                      {400, throttled, NULL, NULL, 0},
                                      {200, "{}", NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct aws_client_stats st, s3;
  struct outcome out = {0}, more[3];
  unsigned long waits;
  int i;

  uv_loop_init(&loop);
  rec_init(&r, steps, 3);
  c = rec_client(&loop, &r, 0);
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker", &st));
  ASSERT_EQ(0, st.limiter_enabled);
  run_json(&loop, c, "sagemaker", "DescribeEndpoint", NULL, &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(3, out.attempts);
  outcome_free(&out);
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker", &st));
  ASSERT_EQ(1, st.limiter_enabled);
  ASSERT_EQ(2, st.throttles);
  /* The retries after the throttles had to wait for tokens. */
  ASSERT(st.token_waits >= 1);
  ASSERT(st.token_wait_seconds > 0);
  waits = st.token_waits;

  /* Now every call to the service waits its turn, in parallel too. */
  memset(more, 0, sizeof(more));
  for (i = 0; i < 3; i++) {
    struct aws_call_opts o;

    memset(&o, 0, sizeof(o));
    o.service = "sagemaker";
    o.operation = "DescribeEndpoint";
    ASSERT_EQ(0, aws_call_start(c, &o, on_done, &more[i], NULL));
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(1, more[i].called);
    ASSERT_EQ(0, more[i].error);
    outcome_free(&more[i]);
  }
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker", &st));
  ASSERT(st.token_waits >= waits + 2);
  /* Other services are not held back. */
  run_s3(&loop, c, "GET", "/b/k", &out);
  outcome_free(&out);
  ASSERT_EQ(0, aws_client_stats(c, "s3", &s3));
  ASSERT_EQ(0, s3.limiter_enabled);
  ASSERT_EQ(0, s3.token_waits);
  json_decref(r.log);
  finish(&loop, c);
}

/* ---- Cancellation ------------------------------------------------------ */

struct cancel_ctx {
  uv_timer_t timer;
  struct aws_call *call;
};

static void on_cancel_timer(uv_timer_t *t)
{
  struct cancel_ctx *x = (struct cancel_ctx *)t;

  aws_call_cancel(x->call);
  uv_close((uv_handle_t *)t, NULL);
}

static double slow_random(void *data)
{
  (void)data;
  return 0.99; /* a backoff near a second: time to cancel */
}

TEST(aws_cancel_runs_callback_once)
{
  static const struct step steps[] = {{503, unavailable, NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct aws_client_opts o;
  struct outcome out = {0};
  struct aws_call_opts co;
  struct cancel_ctx x;

  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  memset(&o, 0, sizeof(o));
  o.loop = &loop;
  o.region = "us-east-1";
  o.recorder = &r.base;
  o.random = slow_random;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  memset(&co, 0, sizeof(co));
  co.service = "sagemaker";
  co.operation = "DescribeEndpoint";

  /* Before anything was sent. */
  ASSERT_EQ(0, aws_call_start(c, &co, on_done, &out, &x.call));
  aws_call_cancel(x.call);
  aws_call_cancel(x.call); /* twice is once */
  ASSERT_EQ(0, out.called);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ECANCELED, out.error);
  ASSERT_EQ(0, out.attempts);
  ASSERT_EQ(0, r.count);
  outcome_free(&out);

  /* During the backoff after a 503. */
  ASSERT_EQ(0, aws_call_start(c, &co, on_done, &out, &x.call));
  uv_timer_init(&loop, &x.timer);
  uv_timer_start(&x.timer, on_cancel_timer, 100, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ECANCELED, out.error);
  ASSERT_EQ(1, out.attempts);
  ASSERT_EQ(1, r.count);
  outcome_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(aws_close_cancels_calls_in_flight)
{
  static const struct step steps[] = {{503, unavailable, NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct aws_client_opts o;
  struct outcome out[3];
  struct aws_call_opts co;
  int i, closed = 0;

  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  memset(&o, 0, sizeof(o));
  o.loop = &loop;
  o.region = "us-east-1";
  o.recorder = &r.base;
  o.random = slow_random;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  memset(&co, 0, sizeof(co));
  co.service = "sagemaker";
  co.operation = "DescribeEndpoint";
  memset(out, 0, sizeof(out));
  for (i = 0; i < 3; i++)
    ASSERT_EQ(0, aws_call_start(c, &co, on_done, &out[i], NULL));
  /* One turn: every call has failed once and sleeps in its backoff. */
  uv_run(&loop, UV_RUN_NOWAIT);
  ASSERT_EQ(3, r.count);
  aws_client_close(c, on_closed, &closed);
  ASSERT_EQ(SR_ECANCELED, aws_call_start(c, &co, on_done, &out[0], NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  for (i = 0; i < 3; i++) {
    ASSERT_EQ(1, out[i].called);
    ASSERT_EQ(SR_ECANCELED, out[i].error);
    outcome_free(&out[i]);
  }
  ASSERT_EQ(0, uv_loop_close(&loop));
  json_decref(r.log);
}

/* ---- Waiters ----------------------------------------------------------- */

struct wait_out {
  int called, polls;
  int status;
  char *code;
  json_t *output;
};

static void on_poll(const struct aws_result *r, void *data)
{
  struct wait_out *w = data;

  (void)r;
  w->polls++;
}

static void on_wait(struct aws_waiter *w, int status,
                    const struct aws_result *last, void *data)
{
  struct wait_out *o = data;

  (void)w;
  o->called++;
  o->status = status;
  o->code = last && last->error_code ? strdup(last->error_code) : NULL;
  o->output = last && last->output ? json_incref(last->output) : NULL;
}

static void run_waiter(const char *name, const struct step *steps, size_t n,
                       time_t deadline, struct wait_out *out, int *requests)
{
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  json_t *in = json_pack("{s:s}", "TrainingJobName", "job-1");

  memset(out, 0, sizeof(*out));
  uv_loop_init(&loop);
  rec_init(&r, steps, n);
  c = rec_client(&loop, &r, 1);
  ASSERT_EQ(
      0, aws_waiter_start(c, name, in, deadline, on_poll, on_wait, out, NULL));
  ASSERT_EQ(0, out->called);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out->called);
  *requests = r.count;
  ASSERT_STR_EQ("{\"TrainingJobName\":\"job-1\"}", log_str(&r, 0, "body"));
  json_decref(in);
  json_decref(r.log);
  finish(&loop, c);
}

static const char in_progress[] = "{\"TrainingJobStatus\":\"InProgress\"}";
static const char validation[] =
    "{\"__type\":\"ValidationException\",\"message\":\"Could not find\"}";

TEST(aws_waiter_success_and_failure)
{
  static const struct step completed[] = {
      {200, in_progress, NULL, NULL, 0},
      {200, in_progress, NULL, NULL, 0},
      {200, "{\"TrainingJobStatus\":\"Completed\"}", NULL, NULL, 0}};
  static const struct step failed[] = {
      {200, in_progress, NULL, NULL, 0},
      {200, "{\"TrainingJobStatus\":\"Failed\",\"FailureReason\":\"oom\"}",
       NULL, NULL, 0}};
  static const struct step missing[] = {{400, validation, NULL, NULL, 0}};
  static const struct step denied[] = {
      {400, "{\"__type\":\"AccessDeniedException\"}", NULL, NULL, 0}};
  struct wait_out w;
  int n;

  run_waiter("sagemaker.TrainingJobCompletedOrStopped", completed, 3, 0, &w,
             &n);
  ASSERT_EQ(0, w.status);
  ASSERT_EQ(3, w.polls);
  ASSERT_EQ(3, n);
  ASSERT_STR_EQ("Completed", json_string_value(json_object_get(
                                 w.output, "TrainingJobStatus")));
  json_decref(w.output);

  run_waiter("sagemaker.TrainingJobCompletedOrStopped", failed, 2, 0, &w, &n);
  ASSERT_EQ(SR_EIO, w.status);
  ASSERT_EQ(2, w.polls);
  ASSERT_STR_EQ("oom",
                json_string_value(json_object_get(w.output, "FailureReason")));
  json_decref(w.output);

  /* An error acceptor with state failure. */
  run_waiter("sagemaker.TrainingJobCompletedOrStopped", missing, 1, 0, &w, &n);
  ASSERT_EQ(SR_EIO, w.status);
  ASSERT_STR_EQ("ValidationException", w.code);
  free(w.code);

  /* An error no acceptor names ends the wait too, as in botocore. */
  run_waiter("sagemaker.EndpointInService", denied, 1, 0, &w, &n);
  ASSERT_EQ(SR_EIO, w.status);
  ASSERT_EQ(1, n);
  ASSERT_STR_EQ("AccessDeniedException", w.code);
  free(w.code);
}

TEST(aws_waiter_endpoint_deleted)
{
  static const struct step steps[] = {
      {200, "{\"EndpointStatus\":\"Deleting\"}", NULL, NULL, 0},
      {200, "{\"EndpointStatus\":\"Deleting\"}", NULL, NULL, 0},
      {400, validation, NULL, NULL, 0}};
  static const struct step in_service[] = {
      {200, "{\"EndpointStatus\":\"Creating\"}", NULL, NULL, 0},
      {200, "{\"EndpointStatus\":\"InService\"}", NULL, NULL, 0}};
  static const struct step failed[] = {
      {200, "{\"EndpointStatus\":\"Failed\"}", NULL, NULL, 0}};
  struct wait_out w;
  int n;

  run_waiter("sagemaker.EndpointDeleted", steps, 3, 0, &w, &n);
  ASSERT_EQ(0, w.status); /* success on the error */
  ASSERT_EQ(3, w.polls);
  ASSERT_STR_EQ("ValidationException", w.code);
  free(w.code);
  run_waiter("sagemaker.EndpointInService", in_service, 2, 0, &w, &n);
  ASSERT_EQ(0, w.status);
  ASSERT_EQ(2, n);
  json_decref(w.output);
  run_waiter("sagemaker.EndpointDeleted", failed, 1, 0, &w, &n);
  ASSERT_EQ(SR_EIO, w.status);
  json_decref(w.output);
}

TEST(aws_waiter_timeout)
{
  static const struct step steps[] = {{200, in_progress, NULL, NULL, 0}};
  struct wait_out w;
  int n;

  /* maxAttempts (180) polls, then the timeout with the last poll. */
  run_waiter("sagemaker.TrainingJobCompletedOrStopped", steps, 1, 0, &w, &n);
  ASSERT_EQ(SR_ETIMEDOUT, w.status);
  ASSERT_EQ(180, n);
  ASSERT_EQ(180, w.polls);
  ASSERT_STR_EQ("InProgress", json_string_value(json_object_get(
                                  w.output, "TrainingJobStatus")));
  json_decref(w.output);
  /* A deadline already past: one poll, then the timeout. */
  run_waiter("sagemaker.EndpointInService", steps, 1, time(NULL) - 10, &w, &n);
  ASSERT_EQ(SR_ETIMEDOUT, w.status);
  ASSERT_EQ(1, n);
  json_decref(w.output);
}

static void on_wait_cancel_timer(uv_timer_t *t)
{
  aws_waiter_cancel(t->data);
  uv_close((uv_handle_t *)t, NULL);
}

TEST(aws_waiter_cancel_and_unknown)
{
  static const struct step steps[] = {{200, in_progress, NULL, NULL, 0}};
  uv_loop_t loop;
  struct rec r;
  struct aws_client *c;
  struct aws_client_opts o;
  struct aws_waiter *w = NULL;
  struct wait_out out = {0};
  uv_timer_t t;

  uv_loop_init(&loop);
  rec_init(&r, steps, 1);
  memset(&o, 0, sizeof(o));
  o.loop = &loop;
  o.region = "us-east-1";
  o.recorder = &r.base;
  o.waiter_speedup = 100; /* 30 s / 100: cancel lands in the sleep */
  ASSERT_EQ(0, aws_client_new(&o, &c));
  ASSERT_EQ(SR_ENOENT, aws_waiter_start(c, "sagemaker.NoSuchWaiter", NULL, 0,
                                        NULL, on_wait, &out, NULL));
  ASSERT_EQ(SR_ENOENT,
            aws_waiter_start(c, "nothing", NULL, 0, NULL, on_wait, &out, NULL));
  ASSERT_EQ(0, aws_waiter_start(c, "sagemaker.EndpointInService", NULL, 0,
                                on_poll, on_wait, &out, &w));
  uv_timer_init(&loop, &t);
  t.data = w;
  uv_timer_start(&t, on_wait_cancel_timer, 50, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ECANCELED, out.status);
  ASSERT_EQ(1, out.polls);

  /* A waiter still running when the client closes is canceled. */
  memset(&out, 0, sizeof(out));
  ASSERT_EQ(0, aws_waiter_start(c, "sagemaker.EndpointInService", NULL, 0,
                                on_poll, on_wait, &out, &w));
  uv_run(&loop, UV_RUN_NOWAIT);
  json_decref(r.log);
  finish(&loop, c);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ECANCELED, out.status);
}

/* ---- Against the HTTP test server -------------------------------------- */

static struct aws_credentials test_creds = {
    "AKIDTESTTEST", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "SESSIONTOKEN",
    0, "static"};

static struct aws_client *http_client(uv_loop_t *loop, int port,
                                      const char *base)
{
  struct aws_client_opts o;
  struct aws_client *c = NULL;
  char url[256];

  snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, base);
  memset(&o, 0, sizeof(o));
  o.loop = loop;
  o.region = "us-east-1";
  o.local_url = url;
  o.credentials = &test_creds;
  o.random = zero_random;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  return c;
}

static const char *json_header(json_t *headers, const char *name)
{
  const char *k;
  json_t *v;

  json_object_foreach(headers, k, v)
  {
    if (strcasecmp(k, name) == 0)
      return json_string_value(v);
  }
  return NULL;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm): timegm
 * is not POSIX. */
static long long days_from_civil(int y, int m, int d)
{
  int era, yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (long long)era * 146097 + doe - 719468;
}

TEST(aws_http_json_request_signed)
{
  uv_loop_t loop;
  struct aws_client *c;
  struct outcome out = {0};
  json_t *in = json_pack("{s:s}", "TrainingJobName", "job-1"), *h;
  const char *auth, *date;
  struct sigv4_header sh[4];
  struct sigv4_request req;
  struct sigv4_params p;
  struct sigv4_credentials cr = {test_creds.access_key_id,
                                 test_creds.secret_access_key,
                                 test_creds.session_token};
  struct sigv4_result sr;
  char host[64], hash[65], *body;
  int port = test_http_server_start(), y, mo, d, hh, mi, ss;

  uv_loop_init(&loop);
  /* /headers answers the request's headers as JSON: our output. */
  c = http_client(&loop, port, "/headers");
  run_json(&loop, c, "sagemaker", "DescribeTrainingJob", in, &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(1, out.attempts);
  ASSERT_STR_EQ("POST",
                json_string_value(json_object_get(out.output, "method")));
  h = json_object_get(out.output, "headers");
  snprintf(host, sizeof(host), "127.0.0.1:%d", port);
  ASSERT_STR_EQ(host, json_header(h, "Host"));
  ASSERT_STR_EQ("SageMaker.DescribeTrainingJob",
                json_header(h, "X-Amz-Target"));
  ASSERT_STR_EQ("application/x-amz-json-1.1", json_header(h, "Content-Type"));
  ASSERT_STR_EQ("SESSIONTOKEN", json_header(h, "X-Amz-Security-Token"));
  date = json_header(h, "X-Amz-Date");
  ASSERT(date && strlen(date) == 16 && date[8] == 'T' && date[15] == 'Z');
  auth = json_header(h, "Authorization");
  ASSERT(auth != NULL);
  ASSERT(strncmp(auth, "AWS4-HMAC-SHA256 Credential=AKIDTESTTEST/", 41) == 0);
  ASSERT(strncmp(auth + 41, date, 8) == 0);
  ASSERT_CONTAINS(auth, "/us-east-1/sagemaker/aws4_request, SignedHeaders="
                        "content-type;host;x-amz-date;x-amz-security-token;"
                        "x-amz-target, Signature=");
  ASSERT_EQ(64, strlen(strstr(auth, "Signature=") + 10));

  /* What arrived is what was signed: sign it again from the wire. */
  ASSERT_EQ(6,
            sscanf(date, "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &hh, &mi, &ss));
  body = json_dumps(in, JSON_COMPACT);
  sigv4_payload_hash(body, strlen(body), hash);
  sh[0] = (struct sigv4_header){"Host", json_header(h, "Host")};
  sh[1] = (struct sigv4_header){"X-Amz-Target", json_header(h, "X-Amz-Target")};
  sh[2] = (struct sigv4_header){"Content-Type", json_header(h, "Content-Type")};
  memset(&req, 0, sizeof(req));
  req.method = "POST";
  req.path = "/headers";
  req.headers = sh;
  req.nheaders = 3;
  req.payload_hash = hash;
  memset(&p, 0, sizeof(p));
  p.region = "us-east-1";
  p.service = "sagemaker";
  p.now =
      (time_t)(days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss);
  p.credentials = &cr;
  sigv4_result_init(&sr);
  ASSERT_EQ(0, sigv4_sign_header(&req, &p, &sr));
  ASSERT_STR_EQ(buf_str(&sr.authorization), auth);
  sigv4_result_free(&sr);
  free(body);
  outcome_free(&out);

  /* /echo: the body comes back, so the output is the input. */
  json_decref(in);
  finish(&loop, c);
  uv_loop_init(&loop);
  c = http_client(&loop, port, "/echo");
  in = json_pack("{s:s, s:i}", "EndpointName", "ep", "MaxResults", 3);
  run_json(&loop, c, "sagemaker", "DescribeEndpoint", in, &out);
  ASSERT_EQ(0, out.error);
  ASSERT(json_equal(in, out.output));
  outcome_free(&out);
  json_decref(in);
  finish(&loop, c);
}

/* One REST-JSON call (GET PATH?QUERY) to the test server. */
static void run_rest(uv_loop_t *loop, struct aws_client *c, const char *svc,
                     const char *method, const char *path, const char *query,
                     struct outcome *out)
{
  struct aws_call_opts o;

  memset(&o, 0, sizeof(o));
  o.service = svc;
  o.operation = "Test";
  o.method = method;
  o.path = path;
  o.query = query;
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, out, NULL));
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out->called);
}

TEST_TIMEOUT(aws_http_retries, 60000);
TEST(aws_http_retries)
{
  uv_loop_t loop;
  struct aws_client *c;
  struct aws_client_stats st;
  struct outcome out = {0};
  int port = test_http_server_start();

  uv_loop_init(&loop);
  c = http_client(&loop, port, "");
  /* Dropped connections are retried like 5xx. First, on a fresh client:
   * curl itself retries once when a reused connection dies. */
  run_rest(&loop, c, "sagemaker-runtime", "GET", "/flaky/b", "fail=2&kind=drop",
           &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(3, out.attempts);
  ASSERT_EQ(3, json_integer_value(json_object_get(out.output, "attempts")));
  outcome_free(&out);
  /* 503 twice, then success on the third attempt. */
  run_rest(&loop, c, "sagemaker-runtime", "GET", "/flaky/a", "fail=2&kind=503",
           &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(3, out.attempts);
  ASSERT_EQ(3, json_integer_value(json_object_get(out.output, "attempts")));
  outcome_free(&out);
  /* Giving up: the last error is the result. */
  run_rest(&loop, c, "sagemaker-runtime", "GET", "/flaky/c", "fail=5&kind=503",
           &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(3, out.attempts);
  ASSERT_EQ(503, out.status);
  ASSERT_STR_EQ("ServiceUnavailable", out.code);
  outcome_free(&out);
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker-runtime", &st));
  ASSERT_EQ(0, st.limiter_enabled);
  /* A throttle: retried, and the service's limiter turns on. */
  run_rest(&loop, c, "sagemaker-runtime", "GET", "/flaky/d",
           "fail=1&kind=throttle", &out);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(2, out.attempts);
  outcome_free(&out);
  ASSERT_EQ(0, aws_client_stats(c, "sagemaker-runtime", &st));
  ASSERT_EQ(1, st.limiter_enabled);
  ASSERT_EQ(1, st.throttles);
  /* Not retryable: one attempt. */
  run_rest(&loop, c, "sagemaker-runtime", "GET", "/status/400",
           "code=ValidationException", &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(1, out.attempts);
  ASSERT_STR_EQ("ValidationException", out.code);
  ASSERT_STR_EQ("injected failure", out.message);
  outcome_free(&out);
  /* S3's XML errors. */
  run_rest(&loop, c, "s3", "GET", "/status/404", "code=NoSuchKey&format=xml",
           &out);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(1, out.attempts);
  ASSERT_STR_EQ("NoSuchKey", out.code);
  ASSERT_STR_EQ("test-request", out.request_id);
  outcome_free(&out);
  run_rest(&loop, c, "s3", "HEAD", "/status/404", NULL, &out);
  ASSERT_STR_EQ("NotFound", out.code);
  outcome_free(&out);
  finish(&loop, c);
}

TEST(aws_http_file_body)
{
  uv_loop_t loop;
  struct aws_client *c;
  struct outcome out = {0};
  struct aws_call_opts o;
  unsigned char data[10000];
  char path[512], want[65];
  FILE *f;
  size_t i;
  int port = test_http_server_start();

  for (i = 0; i < sizeof(data); i++)
    data[i] = (unsigned char)(i * 7 + 3);
  snprintf(path, sizeof(path), "%s/body.bin", test_tmpdir());
  f = fopen(path, "wb");
  ASSERT(f && fwrite(data, 1, sizeof(data), f) == sizeof(data));
  ASSERT_EQ(0, fclose(f));
  sigv4_payload_hash(data + 100, 5000, want);
  uv_loop_init(&loop);
  c = http_client(&loop, port, "");
  memset(&o, 0, sizeof(o));
  o.service = "s3";
  o.operation = "PutObject";
  o.method = "PUT";
  o.body_file = path;
  o.body_file_offset = 100;
  o.body_file_len = 5000;
  /* Each attempt streams the file again (a fresh client: see above). */
  o.path = "/flaky/file";
  o.query = "fail=2&kind=drop";
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(3, out.attempts);
  outcome_free(&out);
  /* The region arrives whole. */
  o.path = "/echo";
  o.query = "discard=1";
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_STR_EQ(want, out.hdr_sha);
  ASSERT_STR_EQ("5000", out.hdr_len);
  outcome_free(&out);
  /* A missing file fails the call, once, without retries. */
  o.body_file = "/nonexistent/file";
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ENOENT, out.error);
  ASSERT_EQ(0, out.attempts);
  outcome_free(&out);
  finish(&loop, c);
}

TEST(aws_http_cancel_in_flight)
{
  uv_loop_t loop;
  struct aws_client *c;
  struct outcome out = {0}, out2 = {0};
  struct aws_call_opts o;
  struct cancel_ctx x;
  int port = test_http_server_start(), closed = 0;

  uv_loop_init(&loop);
  c = http_client(&loop, port, "");
  memset(&o, 0, sizeof(o));
  o.service = "sagemaker-runtime";
  o.operation = "Slow";
  o.method = "GET";
  o.path = "/slow/20000";
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out, &x.call));
  uv_timer_init(&loop, &x.timer);
  uv_timer_start(&x.timer, on_cancel_timer, 100, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ECANCELED, out.error);
  ASSERT_EQ(1, out.attempts);
  outcome_free(&out);

  /* Closing the client cancels what is in flight. */
  ASSERT_EQ(0, aws_call_start(c, &o, on_done, &out2, NULL));
  uv_run(&loop, UV_RUN_ONCE);
  aws_client_close(c, on_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(1, out2.called);
  ASSERT_EQ(SR_ECANCELED, out2.error);
  outcome_free(&out2);
  ASSERT_EQ(0, uv_loop_close(&loop));
}
