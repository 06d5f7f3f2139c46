/* The local engine's CloudWatch Logs, called in-process
 * (local-helpers.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/buf.h"
#include "local-helpers.h"
#include "test.h"

#define GROUP "/aws/sagemaker/TrainingJobs"

static void put(struct lt_engine *t, const char *stream, long long ts,
                const char *msg)
{
  ASSERT_EQ(0, local_logs_put(t->e, GROUP, stream, ts, msg));
}

/* GetLogEvents with a request built from fmt. */
static json_t *get_events(struct lt_engine *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *get_events(struct lt_engine *t, const char *fmt, ...)
{
  char req[1024];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(req, sizeof(req), fmt, ap);
  va_end(ap);
  return lt_ok(t, local_logs_call, "GetLogEvents", req);
}

/* The messages of an answer's events, joined by ",". */
static void messages(const json_t *out, char *buf, size_t n)
{
  json_t *ev;
  size_t i, len = 0;

  buf[0] = '\0';
  json_array_foreach(json_object_get(out, "events"), i, ev)
  {
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "",
                            lt_str(ev, "message"));
    ASSERT(len < n);
  }
}

static void open_with_events(struct lt_engine *t)
{
  char msg[32];
  int i;

  lt_loop_init(t);
  lt_open(t, "e");
  /* As SageMaker names training streams: JOB/algo-N-EPOCHSECONDS. */
  for (i = 0; i < 10; i++) {
    snprintf(msg, sizeof(msg), "e%d", i);
    put(t, "job-a/algo-1-1700000000", 1700000000000LL + i * 1000, msg);
  }
  put(t, "job-a/algo-2-1700000001", 1700000000500LL, "other first");
  put(t, "job-a/algo-2-1700000001", 1700000099000LL, "other last");
  put(t, "job-b/algo-1-1700000100", 1700000050000LL, "b only");
}

TEST(local_logs_get_events_forward)
{
  struct lt_engine t;
  json_t *out;
  char got[256], *tok, *end_tok;

  open_with_events(&t);
  out = get_events(&t, "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                       "\"job-a/algo-1-1700000000\", \"startFromHead\": true, "
                       "\"limit\": 4}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e0,e1,e2,e3", got);
  ASSERT_EQ(
      1700000000000LL,
      json_integer_value(json_object_get(
          json_array_get(json_object_get(out, "events"), 0), "timestamp")));
  ASSERT(json_is_integer(json_object_get(
      json_array_get(json_object_get(out, "events"), 0), "ingestionTime")));
  tok = strdup(lt_str(out, "nextForwardToken"));
  ASSERT(strncmp(tok, "f/", 2) == 0);
  ASSERT(strncmp(lt_str(out, "nextBackwardToken"), "b/", 2) == 0);
  json_decref(out);
  /* Page after page, as the SDK tails a stream. */
  out = get_events(&t,
                   "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                   "\"job-a/algo-1-1700000000\", \"startFromHead\": true, "
                   "\"limit\": 4, \"nextToken\": \"%s\"}",
                   tok);
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e4,e5,e6,e7", got);
  free(tok);
  tok = strdup(lt_str(out, "nextForwardToken"));
  json_decref(out);
  out = get_events(&t,
                   "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                   "\"job-a/algo-1-1700000000\", \"startFromHead\": true, "
                   "\"limit\": 4, \"nextToken\": \"%s\"}",
                   tok);
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e8,e9", got);
  free(tok);
  end_tok = strdup(lt_str(out, "nextForwardToken"));
  json_decref(out);
  /* At the end: no events, and the very token passed in comes back. */
  out = get_events(&t,
                   "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                   "\"job-a/algo-1-1700000000\", \"startFromHead\": true, "
                   "\"nextToken\": \"%s\"}",
                   end_tok);
  ASSERT_EQ(0, json_array_size(json_object_get(out, "events")));
  ASSERT_STR_EQ(end_tok, lt_str(out, "nextForwardToken"));
  json_decref(out);
  /* New events continue from that token. */
  put(&t, "job-a/algo-1-1700000000", 1700000100000LL, "late");
  out = get_events(&t,
                   "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                   "\"job-a/algo-1-1700000000\", \"startFromHead\": true, "
                   "\"nextToken\": \"%s\"}",
                   end_tok);
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("late", got);
  json_decref(out);
  free(end_tok);
  lt_close(&t);
  lt_loop_done(&t);
}

TEST(local_logs_get_events_backward_and_times)
{
  struct lt_engine t;
  json_t *out;
  char got[256], *tok;

  open_with_events(&t);
  /* Without startFromHead: the newest events, oldest first. */
  out = get_events(&t, "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                       "\"job-a/algo-1-1700000000\", \"limit\": 3}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e7,e8,e9", got);
  tok = strdup(lt_str(out, "nextBackwardToken"));
  json_decref(out);
  out = get_events(&t,
                   "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                   "\"job-a/algo-1-1700000000\", \"limit\": 3, "
                   "\"nextToken\": \"%s\"}",
                   tok);
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e4,e5,e6", got);
  free(tok);
  json_decref(out);
  /* Reading backward from the head: the same token comes back. */
  out = get_events(&t, "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                       "\"job-a/algo-1-1700000000\", \"startFromHead\": "
                       "true, \"limit\": 2}");
  tok = strdup(lt_str(out, "nextBackwardToken"));
  json_decref(out);
  out = get_events(&t,
                   "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                   "\"job-a/algo-1-1700000000\", \"nextToken\": \"%s\"}",
                   tok);
  ASSERT_EQ(0, json_array_size(json_object_get(out, "events")));
  ASSERT_STR_EQ(tok, lt_str(out, "nextBackwardToken"));
  free(tok);
  json_decref(out);
  /* startTime inclusive, endTime exclusive. */
  out = get_events(&t, "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                       "\"job-a/algo-1-1700000000\", \"startFromHead\": "
                       "true, \"startTime\": 1700000002000, \"endTime\": "
                       "1700000005000}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e2,e3,e4", got);
  json_decref(out);
  lt_fails(&t, local_logs_call, "GetLogEvents",
           "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
           "\"job-a/algo-1-1700000000\", \"nextToken\": \"f/123\"}",
           400, "InvalidParameterException",
           "The specified nextToken is invalid.");
  lt_fails(&t, local_logs_call, "GetLogEvents",
           "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": \"nope\"}",
           400, "ResourceNotFoundException",
           "The specified log stream does not exist.");
  lt_fails(&t, local_logs_call, "GetLogEvents",
           "{\"logGroupName\": \"/nope\", \"logStreamName\": \"x\"}", 400,
           "ResourceNotFoundException",
           "The specified log group does not exist.");
  lt_fails(&t, local_logs_call, "GetLogEvents",
           "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": \"x\","
           " \"limit\": 0}",
           400, "InvalidParameterException",
           "1 validation error detected: Value '0' at 'limit' failed to "
           "satisfy constraint: Member must have value greater than or "
           "equal to 1");
  lt_close(&t);
  lt_loop_done(&t);
}

/* A page holds at most 1 MB of events. */
TEST(local_logs_get_events_megabyte_pages)
{
  struct lt_engine t;
  json_t *out;
  char *big = malloc(400001);
  int i;

  ASSERT(big != NULL);
  memset(big, 'x', 400000);
  big[400000] = '\0';
  lt_loop_init(&t);
  lt_open(&t, "e");
  for (i = 0; i < 3; i++)
    put(&t, "s", 1700000000000LL + i, big);
  out = get_events(&t, "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
                       "\"s\", \"startFromHead\": true}");
  ASSERT_EQ(2, json_array_size(json_object_get(out, "events")));
  json_decref(out);
  free(big);
  lt_close(&t);
  lt_loop_done(&t);
}

/* Stream names of a DescribeLogStreams answer, joined. */
static void stream_names(const json_t *out, char *buf, size_t n)
{
  json_t *s;
  size_t i, len = 0;

  buf[0] = '\0';
  json_array_foreach(json_object_get(out, "logStreams"), i, s)
  {
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i ? "," : "",
                            lt_str(s, "logStreamName"));
    ASSERT(len < n);
  }
}

TEST(local_logs_describe_streams)
{
  struct lt_engine t;
  json_t *out, *s;
  char got[512], req[512], all[512];
  char *tok;
  size_t len = 0;

  open_with_events(&t);
  /* The SDK's discovery: prefix JOB/, by name. */
  out = lt_ok(&t, local_logs_call, "DescribeLogStreams",
              "{\"logGroupName\": \"" GROUP "\", \"logStreamNamePrefix\": "
              "\"job-a/\", \"orderBy\": \"LogStreamName\", \"limit\": 5}");
  stream_names(out, got, sizeof(got));
  ASSERT_STR_EQ("job-a/algo-1-1700000000,job-a/algo-2-1700000001", got);
  ASSERT(json_object_get(out, "nextToken") == NULL);
  s = json_array_get(json_object_get(out, "logStreams"), 0);
  ASSERT_EQ(1700000000000LL,
            json_integer_value(json_object_get(s, "firstEventTimestamp")));
  ASSERT_EQ(1700000009000LL,
            json_integer_value(json_object_get(s, "lastEventTimestamp")));
  ASSERT_CONTAINS(lt_str(s, "arn"), ":log-group:" GROUP ":log-stream:job-a/");
  json_decref(out);
  /* By last event time, newest first. */
  out = lt_ok(&t, local_logs_call, "DescribeLogStreams",
              "{\"logGroupName\": \"" GROUP "\", \"orderBy\": "
              "\"LastEventTime\", \"descending\": true}");
  stream_names(out, got, sizeof(got));
  ASSERT_STR_EQ("job-a/algo-2-1700000001,job-b/algo-1-1700000100,"
                "job-a/algo-1-1700000000",
                got);
  json_decref(out);
  /* Pages of one, each stream exactly once. */
  all[0] = '\0';
  tok = NULL;
  for (;;) {
    if (tok)
      snprintf(req, sizeof(req),
               "{\"logGroupName\": \"" GROUP "\", \"limit\": 1,"
               " \"descending\": true, \"nextToken\": \"%s\"}",
               tok);
    else
      snprintf(req, sizeof(req),
               "{\"logGroupName\": \"" GROUP "\", \"limit\": 1,"
               " \"descending\": true}");
    free(tok);
    out = lt_ok(&t, local_logs_call, "DescribeLogStreams", req);
    stream_names(out, got, sizeof(got));
    len += (size_t)snprintf(all + len, sizeof(all) - len, "%s%s",
                            len ? "," : "", got);
    tok = json_object_get(out, "nextToken") ? strdup(lt_str(out, "nextToken"))
                                            : NULL;
    json_decref(out);
    if (tok == NULL)
      break;
  }
  ASSERT_STR_EQ("job-b/algo-1-1700000100,job-a/algo-2-1700000001,"
                "job-a/algo-1-1700000000",
                all);
  lt_fails(&t, local_logs_call, "DescribeLogStreams",
           "{\"logGroupName\": \"" GROUP "\", \"orderBy\": "
           "\"LastEventTime\", \"logStreamNamePrefix\": \"job-a/\"}",
           400, "InvalidParameterException",
           "Cannot order by LastEventTime with a logStreamNamePrefix.");
  lt_fails(&t, local_logs_call, "DescribeLogStreams",
           "{\"logGroupName\": \"/aws/sagemaker/Nope\"}", 400,
           "ResourceNotFoundException",
           "The specified log group does not exist.");
  lt_close(&t);
  lt_loop_done(&t);
}

TEST(local_logs_groups)
{
  struct lt_engine t;
  json_t *out, *g;

  open_with_events(&t);
  json_decref(lt_ok(&t, local_logs_call, "CreateLogGroup",
                    "{\"logGroupName\": \"/aws/sagemaker/Endpoints/x\"}"));
  lt_fails(&t, local_logs_call, "CreateLogGroup",
           "{\"logGroupName\": \"/aws/sagemaker/Endpoints/x\"}", 400,
           "ResourceAlreadyExistsException",
           "The specified log group already exists");
  out = lt_ok(&t, local_logs_call, "DescribeLogGroups",
              "{\"logGroupNamePrefix\": \"/aws/sagemaker/\", \"limit\": 1}");
  ASSERT_EQ(1, json_array_size(json_object_get(out, "logGroups")));
  g = json_array_get(json_object_get(out, "logGroups"), 0);
  ASSERT_STR_EQ("/aws/sagemaker/Endpoints/x", lt_str(g, "logGroupName"));
  ASSERT_CONTAINS(lt_str(g, "arn"), ":log-group:/aws/sagemaker/Endpoints/x:*");
  ASSERT(json_object_get(out, "nextToken") != NULL);
  {
    char req[512];

    snprintf(req, sizeof(req),
             "{\"logGroupNamePrefix\": \"/aws/sagemaker/\", \"limit\": 1,"
             " \"nextToken\": \"%s\"}",
             lt_str(out, "nextToken"));
    json_decref(out);
    out = lt_ok(&t, local_logs_call, "DescribeLogGroups", req);
  }
  g = json_array_get(json_object_get(out, "logGroups"), 0);
  ASSERT_STR_EQ(GROUP, lt_str(g, "logGroupName"));
  ASSERT(json_object_get(out, "nextToken") == NULL);
  json_decref(out);
  json_decref(lt_ok(&t, local_logs_call, "DeleteLogGroup",
                    "{\"logGroupName\": \"" GROUP "\"}"));
  lt_fails(&t, local_logs_call, "DescribeLogStreams",
           "{\"logGroupName\": \"" GROUP "\"}", 400,
           "ResourceNotFoundException", NULL);
  lt_close(&t);
  lt_loop_done(&t);
}

TEST(local_logs_filter_events)
{
  struct lt_engine t;
  json_t *out, *ev;
  char got[512], req[512];

  open_with_events(&t);
  /* Across streams, in time order. */
  out = lt_ok(&t, local_logs_call, "FilterLogEvents",
              "{\"logGroupName\": \"" GROUP "\", \"logStreamNamePrefix\": "
              "\"job-a/\", \"startTime\": 1700000000000,"
              " \"endTime\": 1700000001000}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("e0,other first,e1", got);
  ev = json_array_get(json_object_get(out, "events"), 1);
  ASSERT_STR_EQ("job-a/algo-2-1700000001", lt_str(ev, "logStreamName"));
  ASSERT(strlen(lt_str(ev, "eventId")) > 0);
  json_decref(out);
  out = lt_ok(&t, local_logs_call, "FilterLogEvents",
              "{\"logGroupName\": \"" GROUP "\", \"filterPattern\": "
              "\"other -first\"}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("other last", got);
  json_decref(out);
  out = lt_ok(&t, local_logs_call, "FilterLogEvents",
              "{\"logGroupName\": \"" GROUP "\", \"logStreamNames\": "
              "[\"job-b/algo-1-1700000100\", \"job-a/algo-2-1700000001\"],"
              " \"filterPattern\": \"\\\"b only\\\"\"}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("b only", got);
  json_decref(out);
  /* Pages. */
  out = lt_ok(&t, local_logs_call, "FilterLogEvents",
              "{\"logGroupName\": \"" GROUP "\", \"limit\": 12}");
  ASSERT_EQ(12, json_array_size(json_object_get(out, "events")));
  snprintf(req, sizeof(req),
           "{\"logGroupName\": \"" GROUP "\", \"limit\": 12,"
           " \"nextToken\": \"%s\"}",
           lt_str(out, "nextToken"));
  json_decref(out);
  out = lt_ok(&t, local_logs_call, "FilterLogEvents", req);
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("other last", got);
  ASSERT(json_object_get(out, "nextToken") == NULL);
  json_decref(out);
  lt_fails(&t, local_logs_call, "FilterLogEvents",
           "{\"logGroupName\": \"" GROUP "\", \"logStreamNames\": [\"a\"],"
           " \"logStreamNamePrefix\": \"a\"}",
           400, "InvalidParameterException", NULL);
  lt_fails(&t, local_logs_call, "FilterLogEvents",
           "{\"logGroupName\": \"" GROUP "\", \"logStreamNames\": []}", 400,
           "InvalidParameterException",
           "Value '[]' at 'logStreamNames' failed to satisfy constraint: "
           "Member must have length greater than or equal to 1");
  lt_close(&t);
  lt_loop_done(&t);
}

TEST(local_logs_put_events)
{
  struct lt_engine t;
  json_t *out;
  char req[1024], got[256];
  long long now;

  lt_loop_init(&t);
  lt_open(&t, "e");
  now = (long long)(local_engine_now(t.e) * 1000);
  lt_fails(&t, local_logs_call, "PutLogEvents",
           "{\"logGroupName\": \"g\", \"logStreamName\": \"s\", "
           "\"logEvents\": [{\"timestamp\": 1, \"message\": \"m\"}]}",
           400, "ResourceNotFoundException",
           "The specified log group does not exist.");
  json_decref(lt_ok(&t, local_logs_call, "CreateLogGroup",
                    "{\"logGroupName\": \"g\"}"));
  json_decref(lt_ok(&t, local_logs_call, "CreateLogStream",
                    "{\"logGroupName\": \"g\", \"logStreamName\": \"s\"}"));
  lt_fails(&t, local_logs_call, "CreateLogStream",
           "{\"logGroupName\": \"g\", \"logStreamName\": \"s\"}", 400,
           "ResourceAlreadyExistsException",
           "The specified log stream already exists");
  snprintf(req, sizeof(req),
           "{\"logGroupName\": \"g\", \"logStreamName\": \"s\", "
           "\"logEvents\": [{\"timestamp\": %lld, \"message\": \"b\"},"
           " {\"timestamp\": %lld, \"message\": \"a\"}]}",
           now, now - 1);
  lt_fails(&t, local_logs_call, "PutLogEvents", req, 400,
           "InvalidParameterException",
           "Log events in a single PutLogEvents request must be in "
           "chronological order.");
  snprintf(req, sizeof(req),
           "{\"logGroupName\": \"g\", \"logStreamName\": \"s\", "
           "\"logEvents\": [{\"timestamp\": %lld, \"message\": \"one\"},"
           " {\"timestamp\": %lld, \"message\": \"two\"},"
           " {\"timestamp\": %lld, \"message\": \"future\"}]}",
           now, now + 1, now + 3LL * 3600 * 1000);
  out = lt_ok(&t, local_logs_call, "PutLogEvents", req);
  ASSERT(strlen(lt_str(out, "nextSequenceToken")) > 0);
  ASSERT_EQ(2, json_integer_value(json_object_get(
                   json_object_get(out, "rejectedLogEventsInfo"),
                   "tooNewLogEventStartIndex")));
  json_decref(out);
  out = lt_ok(&t, local_logs_call, "GetLogEvents",
              "{\"logGroupName\": \"g\", \"logStreamName\": \"s\","
              " \"startFromHead\": true}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("one,two", got);
  json_decref(out);
  /* Records survive a restart. */
  lt_close(&t);
  lt_open(&t, "e");
  out = lt_ok(&t, local_logs_call, "GetLogEvents",
              "{\"logGroupName\": \"g\", \"logStreamName\": \"s\","
              " \"startFromHead\": true}");
  messages(out, got, sizeof(got));
  ASSERT_STR_EQ("one,two", got);
  json_decref(out);
  lt_close(&t);
  lt_loop_done(&t);
}

/* What logs.training_time does: first and last event over every stream
 * and every page, the original notebook's first-page-only defect
 * avoided. */
TEST(local_logs_training_time_all_pages)
{
  struct lt_engine t;
  json_t *out, *ev;
  long long first = -1, last = -1, n = 0;
  char req[512], *tok = NULL, *prev = NULL;
  int i;

  lt_loop_init(&t);
  lt_open(&t, "e");
  for (i = 0; i < 2500; i++)
    put(&t, i % 2 ? "job/algo-2-1" : "job/algo-1-1", 1700000000000LL + i * 10,
        "line");
  for (i = 1; i <= 2; i++) {
    for (;;) {
      size_t k;

      snprintf(req, sizeof(req),
               "{\"logGroupName\": \"" GROUP "\", \"logStreamName\": "
               "\"job/algo-%d-1\", \"startFromHead\": true, \"limit\": 500"
               "%s%s%s}",
               i, tok ? ", \"nextToken\": \"" : "", tok ? tok : "",
               tok ? "\"" : "");
      out = lt_ok(&t, local_logs_call, "GetLogEvents", req);
      json_array_foreach(json_object_get(out, "events"), k, ev)
      {
        long long ts = json_integer_value(json_object_get(ev, "timestamp"));

        if (first < 0 || ts < first)
          first = ts;
        if (ts > last)
          last = ts;
        n++;
      }
      free(prev);
      prev = tok;
      tok = strdup(lt_str(out, "nextForwardToken"));
      json_decref(out);
      if (prev && strcmp(prev, tok) == 0)
        break;
    }
    free(prev);
    free(tok);
    prev = tok = NULL;
  }
  ASSERT_EQ(2500, n);
  ASSERT_EQ(1700000000000LL, first);
  ASSERT_EQ(1700000000000LL + 2499 * 10, last);
  lt_close(&t);
  lt_loop_done(&t);
}
