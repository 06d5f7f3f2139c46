/* logs.training_time: the seed study's measure of a training job's time:
 * the last event minus the first event over all of the job's log streams
 * (JOB/algo-N-...), reading every stream and every page of each (the
 * seed read only the first page; seed_compat reproduces that). */
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"
#include "sagemaker_api.h"

struct timing {
  struct step_ctx *ctx;
  json_t *streams; /* names */
  char *stream_token;
  size_t stream; /* being read */
  char *event_token;
  long long first, last, events;
  int canceled;
  uv_timer_t retry; /* waits for streams to appear */
  int timer_open;
  double deadline;
};

static void timing_free(struct timing *t)
{
  json_decref(t->streams);
  free(t->stream_token);
  free(t->event_token);
  free(t);
}

static void timer_closed(uv_handle_t *h)
{
  timing_free(h->data);
}

static void finish(struct timing *t, int status, const char *msg)
{
  struct step_ctx *ctx = t->ctx;

  step_set_data(ctx, NULL);
  if (status)
    step_done(ctx, status, NULL, "%s", msg);
  else if (step_planning(ctx))
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s,s:s,s:s}", "seconds",
                        "(known after GetLogEvents)", "first_event_ms",
                        "(known after GetLogEvents)", "last_event_ms",
                        "(known after GetLogEvents)", "streams",
                        "(known after DescribeLogStreams)", "events",
                        "(known after GetLogEvents)"),
              NULL);
  else
    step_done(ctx, 0,
              json_pack("{s:f,s:I,s:I,s:i,s:I}", "seconds",
                        t->events ? (t->last - t->first) / 1000.0 : 0.0,
                        "first_event_ms", t->first, "last_event_ms", t->last,
                        "streams", (int)json_array_size(t->streams), "events",
                        t->events),
              NULL);
  uv_close((uv_handle_t *)&t->retry, timer_closed);
}

static void read_stream(struct timing *t);
static void list_streams(struct timing *t);

static void got_events(struct step_ctx *ctx, const struct aws_result *res,
                       void *data)
{
  struct timing *t = data;
  const json_t *events = json_object_get(res->output, "events");
  const char *token =
      json_string_value(json_object_get(res->output, "nextForwardToken"));
  int seed = json_is_true(json_object_get(step_inputs(ctx), "seed_compat"));
  char err[1200];
  size_t i;

  if (res->error) {
    finish(t, SR_EIO, sm_error(res, err, sizeof(err)));
    return;
  }
  for (i = 0; i < json_array_size(events); i++) {
    long long ts = json_integer_value(
        json_object_get(json_array_get(events, i), "timestamp"));
    if (t->events == 0 || ts < t->first)
      t->first = ts;
    if (t->events == 0 || ts > t->last)
      t->last = ts;
    t->events++;
  }
  /* The end of a stream: the same token comes back (or no events). */
  if (!seed && token && json_array_size(events) > 0 &&
      (t->event_token == NULL || strcmp(token, t->event_token) != 0)) {
    free(t->event_token);
    t->event_token = strdup(token);
    read_stream(t);
    return;
  }
  free(t->event_token);
  t->event_token = NULL;
  t->stream++;
  read_stream(t);
}

static void read_stream(struct timing *t)
{
  const json_t *in = step_inputs(t->ctx);
  json_t *input;
  int rc;

  if (t->canceled) {
    finish(t, SR_ECANCELED, "canceled");
    return;
  }
  if (t->stream == json_array_size(t->streams)) {
    finish(t, 0, NULL);
    return;
  }
  input = json_pack("{s:O,s:O,s:b}", "logGroupName",
                    json_object_get(in, "log_group"), "logStreamName",
                    json_array_get(t->streams, t->stream), "startFromHead", 1);
  if (t->event_token)
    json_object_set_new(input, "nextToken", json_string(t->event_token));
  rc = sm_call(t->ctx, "logs", "GetLogEvents", input, got_events, t);
  if (rc)
    finish(t, rc, "cannot read the log events");
}

static void retry_fired(uv_timer_t *timer)
{
  list_streams(timer->data);
}

static void got_streams(struct step_ctx *ctx, const struct aws_result *res,
                        void *data)
{
  struct timing *t = data;
  const json_t *in = step_inputs(ctx);
  const json_t *list = json_object_get(res->output, "logStreams");
  const char *token =
      json_string_value(json_object_get(res->output, "nextToken"));
  long long min = json_integer_value(json_object_get(in, "min_streams"));
  char err[1200];
  size_t i;

  /* No log group yet: the container has not logged (the SDK ignores
   * this too). */
  if (res->error &&
      !(res->error_code &&
        strcmp(res->error_code, "ResourceNotFoundException") == 0)) {
    finish(t, SR_EIO, sm_error(res, err, sizeof(err)));
    return;
  }
  for (i = 0; i < json_array_size(list); i++)
    json_array_append(
        t->streams, json_object_get(json_array_get(list, i), "logStreamName"));
  if (token && !res->error) {
    free(t->stream_token);
    t->stream_token = strdup(token);
    list_streams(t);
    return;
  }
  free(t->stream_token);
  t->stream_token = NULL;
  /* Streams of all instances may show up a little after the job ends. */
  if (!step_planning(ctx) && (long long)json_array_size(t->streams) < min &&
      uv_now(step_loop(ctx)) < t->deadline && !t->canceled) {
    json_array_clear(t->streams);
    step_progress(ctx, "waiting for %lld log streams", min);
    uv_timer_start(&t->retry, retry_fired, 2000, 0);
    return;
  }
  if ((long long)json_array_size(t->streams) < min && !step_planning(ctx)) {
    snprintf(err, sizeof(err),
             "expected at least %lld log streams for %s, found %zu", min,
             json_string_value(json_object_get(in, "job")),
             json_array_size(t->streams));
    finish(t, SR_EIO, err);
    return;
  }
  step_progress(ctx, "reading %zu streams", json_array_size(t->streams));
  read_stream(t);
}

static void list_streams(struct timing *t)
{
  const json_t *in = step_inputs(t->ctx);
  char prefix[300];
  json_t *input;
  int rc;

  snprintf(prefix, sizeof(prefix), "%s/",
           json_string_value(json_object_get(in, "job")));
  input = json_pack("{s:O,s:s,s:s}", "logGroupName",
                    json_object_get(in, "log_group"), "logStreamNamePrefix",
                    prefix, "orderBy", "LogStreamName");
  if (t->stream_token)
    json_object_set_new(input, "nextToken", json_string(t->stream_token));
  rc = sm_call(t->ctx, "logs", "DescribeLogStreams", input, got_streams, t);
  if (rc)
    finish(t, rc, "cannot list the log streams");
}

static int timing_start(struct step_ctx *ctx)
{
  struct timing *t = calloc(1, sizeof(*t));

  if (t == NULL)
    return SR_ENOMEM;
  t->ctx = ctx;
  t->streams = json_array();
  uv_timer_init(step_loop(ctx), &t->retry);
  t->retry.data = t;
  t->deadline = (double)uv_now(step_loop(ctx)) +
                1e3 * (double)json_integer_value(
                          json_object_get(step_inputs(ctx), "max_wait"));
  step_set_data(ctx, t);
  list_streams(t);
  return 0;
}

static void timing_cancel(struct step_ctx *ctx)
{
  struct timing *t = step_data(ctx);

  if (t == NULL)
    return;
  t->canceled = 1;
  if (uv_is_active((uv_handle_t *)&t->retry)) {
    uv_timer_stop(&t->retry);
    finish(t, SR_ECANCELED, "canceled");
  }
}

const struct step_exec logs_training_time_exec = {
    STEP_ABI_VERSION, timing_start, timing_cancel, NULL};
