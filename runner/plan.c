/* The recorder behind `sagerun plan`: each request is written down with
 * the step that sends it (plan runs one step at a time, so the running
 * step is the sender) and answered as a successful call would be, with
 * "(known after Operation)" where only the real answer can tell. */
#include "plan.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "error.h"

/* "(known after CreateTrainingJob)" */
static json_t *known_after(const char *operation)
{
  struct buf b;
  json_t *v;

  buf_init(&b, 256);
  buf_addf(&b, "(known after %s)", operation);
  v = json_string(buf_str(&b));
  buf_free(&b);
  return v;
}

static const char *input_str(const struct aws_transport_request *req,
                             const char *key)
{
  return json_string_value(json_object_get(req->input, key));
}

/* The answer of a JSON service, enough for the steps to go on. */
static json_t *json_answer(struct plan *p,
                           const struct aws_transport_request *req, int *status,
                           const char **error_code)
{
  const char *op = req->operation;
  json_t *out = json_object();

  *status = 200;
  *error_code = NULL;
  if (strncmp(op, "Create", 6) == 0) {
    /* CreateTrainingJob -> TrainingJobArn, CreateModel -> ModelArn. */
    struct buf key;
    buf_init(&key, 128);
    buf_addf(&key, "%sArn", op + 6);
    json_object_set_new(out, buf_str(&key), known_after(op));
    buf_free(&key);
  } else if (strcmp(op, "DescribeTrainingJob") == 0) {
    json_object_set_new(out, "TrainingJobName",
                        json_string(input_str(req, "TrainingJobName")));
    json_object_set_new(out, "TrainingJobArn",
                        known_after("CreateTrainingJob"));
    json_object_set_new(out, "TrainingJobStatus", json_string("Completed"));
    json_object_set_new(out, "SecondaryStatus", json_string("Completed"));
    json_object_set_new(out, "TrainingTimeInSeconds", known_after(op));
    json_object_set_new(out, "BillableTimeInSeconds", known_after(op));
  } else if (strcmp(op, "DescribeEndpoint") == 0) {
    const char *name = input_str(req, "EndpointName");
    size_t i;
    json_t *v;
    json_array_foreach(p->deleted, i, v)
    {
      if (name && strcmp(json_string_value(v), name) == 0) {
        *status = 400;
        *error_code = "ValidationException";
        json_object_set_new(out, "__type", json_string("ValidationException"));
        json_object_set_new(out, "message",
                            json_string("Could not find endpoint."));
        return out;
      }
    }
    json_object_set_new(out, "EndpointName", json_string(name ? name : ""));
    json_object_set_new(out, "EndpointArn", known_after("CreateEndpoint"));
    json_object_set_new(out, "EndpointStatus", json_string("InService"));
  } else if (strcmp(op, "DeleteEndpoint") == 0) {
    json_array_append_new(p->deleted,
                          json_string(input_str(req, "EndpointName")));
  } else if (strcmp(op, "DescribeLogStreams") == 0) {
    struct buf stream;
    buf_init(&stream, 1024);
    buf_addf(&stream, "%salgo-1-(known after the job starts)",
             input_str(req, "logStreamNamePrefix")
                 ? input_str(req, "logStreamNamePrefix")
                 : "");
    json_object_set_new(
        out, "logStreams",
        json_pack("[{s:s}]", "logStreamName", buf_str(&stream)));
    buf_free(&stream);
  } else if (strcmp(op, "GetLogEvents") == 0) {
    json_object_set_new(out, "events", json_array());
    json_object_set_new(out, "nextForwardToken", json_string("f/0"));
    json_object_set_new(out, "nextBackwardToken", json_string("b/0"));
  }
  return out;
}

/* The answer of S3 and the runtime. */
static void rest_answer(const struct aws_transport_request *req,
                        struct http_response *res)
{
  const char *op = req->operation ? req->operation : "";

  res->status = strcmp(op, "DeleteObject") == 0 ? 204 : 200;
  if (strcmp(op, "CreateMultipartUpload") == 0)
    buf_adds(&res->body, "<InitiateMultipartUploadResult><UploadId>"
                         "(known after CreateMultipartUpload)</UploadId>"
                         "</InitiateMultipartUploadResult>");
  else if (strcmp(op, "CompleteMultipartUpload") == 0)
    buf_adds(&res->body, "<CompleteMultipartUploadResult><ETag>\"plan\""
                         "</ETag></CompleteMultipartUploadResult>");
  else if (strncmp(op, "ListObjects", 11) == 0)
    buf_adds(&res->body, "<ListBucketResult><IsTruncated>false</IsTruncated>"
                         "<KeyCount>0</KeyCount></ListBucketResult>");
  else if (strcmp(op, "DeleteObjects") == 0)
    buf_adds(&res->body, "<DeleteResult></DeleteResult>");
  else if (strcmp(req->service, "sagemaker-runtime") == 0)
    buf_adds(&res->body, "{\"predictions\": []}");
  res->headers = calloc(2, sizeof(*res->headers));
  if (res->headers) {
    res->headers[0].name = strdup("etag");
    res->headers[0].value = strdup("\"(known after the upload)\"");
    res->nheaders = 1;
  }
}

static int record(struct aws_recorder *r,
                  const struct aws_transport_request *req,
                  struct http_response *res)
{
  struct plan *p = (struct plan *)r;
  json_t *entry = json_object();
  size_t i;

  json_object_set_new(
      entry, "seq", json_integer((json_int_t)json_array_size(p->requests) + 1));
  json_object_set_new(entry, "step",
                      json_string(p->current_step ? p->current_step : "-"));
  json_object_set_new(entry, "service", json_string(req->service));
  json_object_set_new(entry, "operation",
                      json_string(req->operation ? req->operation : ""));
  json_object_set_new(entry, "method", json_string(req->method));
  json_object_set_new(entry, "url", json_string(req->url));
  for (i = 0; i < req->nheaders; i++)
    if (strcasecmp(req->headers[i].name, "x-amz-target") == 0 ||
        strcasecmp(req->headers[i].name, "content-type") == 0 ||
        strcasecmp(req->headers[i].name, "range") == 0)
      json_object_set_new(entry, req->headers[i].name,
                          json_string(req->headers[i].value));
  if (req->input)
    json_object_set_new(entry, "input", json_deep_copy(req->input));
  else if (req->body_file)
    json_object_set_new(entry, "body",
                        json_pack("{s:s,s:I}", "file", req->body_file, "bytes",
                                  (json_int_t)req->body_file_len));
  else if (req->body && req->body_len)
    json_object_set_new(entry, "body",
                        json_pack("{s:I}", "bytes", (json_int_t)req->body_len));
  json_array_append_new(p->requests, entry);

  if (req->input || strcmp(req->service, "sagemaker") == 0 ||
      strcmp(req->service, "logs") == 0) {
    int status;
    const char *code;
    json_t *answer = json_answer(p, req, &status, &code);
    char *text = json_dumps(answer, JSON_COMPACT);
    res->status = status;
    if (text)
      buf_adds(&res->body, text);
    free(text);
    json_decref(answer);
  } else {
    rest_answer(req, res);
  }
  return 0;
}

void plan_init(struct plan *p, const char *region)
{
  memset(p, 0, sizeof(*p));
  p->recorder.record = record;
  p->requests = json_array();
  p->deleted = json_array();
  p->region = region;
}

void plan_free(struct plan *p)
{
  json_decref(p->requests);
  json_decref(p->deleted);
  free(p->current_step);
  p->requests = p->deleted = NULL;
}

void plan_set_step(struct plan *p, const char *step)
{
  free(p->current_step);
  p->current_step = step ? strdup(step) : NULL;
}

/* Counts of what the run would create and delete, by operation. */
static json_t *summary(const struct plan *p)
{
  json_t *creates = json_object(), *deletes = json_object(), *e;
  size_t i;

  json_array_foreach(p->requests, i, e)
  {
    const char *op = json_string_value(json_object_get(e, "operation"));
    json_t *target = NULL;
    if (strncmp(op, "Create", 6) == 0 && strcmp(op, "CreateMultipartUpload"))
      target = creates;
    else if (strcmp(op, "PutObject") == 0 ||
             strcmp(op, "CompleteMultipartUpload") == 0)
      target = creates;
    else if (strncmp(op, "Delete", 6) == 0)
      target = deletes;
    if (target)
      json_object_set_new(
          target, op,
          json_integer(json_integer_value(json_object_get(target, op)) + 1));
  }
  return json_pack("{s:o,s:o,s:I}", "creates", creates, "deletes", deletes,
                   "requests", (json_int_t)json_array_size(p->requests));
}

void plan_print(const struct plan *p, FILE *out, int colour)
{
  const char *bold = colour ? "\033[1m" : "", *reset = colour ? "\033[0m" : "";
  const char *last_step = NULL, *key;
  json_t *e, *s, *v;
  size_t i;

  json_array_foreach(p->requests, i, e)
  {
    const char *step = json_string_value(json_object_get(e, "step"));
    json_t *input = json_object_get(e, "input");
    if (last_step == NULL || strcmp(last_step, step) != 0)
      fprintf(out, "\n%s%s%s\n", bold, step, reset);
    last_step = step;
    fprintf(out, "  %3zu. %s %s  %s %s\n", i + 1,
            json_string_value(json_object_get(e, "service")),
            json_string_value(json_object_get(e, "operation")),
            json_string_value(json_object_get(e, "method")),
            json_string_value(json_object_get(e, "url")));
    if (json_object_get(e, "range"))
      fprintf(out, "       Range: %s\n",
              json_string_value(json_object_get(e, "range")));
    if (input) {
      char *text = json_dumps(input, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
      const char *line = text;
      while (line && *line) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        fprintf(out, "       %.*s\n", len, line);
        line = nl ? nl + 1 : NULL;
      }
      free(text);
    } else if (json_object_get(e, "body")) {
      json_t *body = json_object_get(e, "body");
      if (json_object_get(body, "file"))
        fprintf(out, "       body: %s (%lld bytes)\n",
                json_string_value(json_object_get(body, "file")),
                (long long)json_integer_value(json_object_get(body, "bytes")));
      else
        fprintf(out, "       body: %lld bytes\n",
                (long long)json_integer_value(json_object_get(body, "bytes")));
    }
  }
  s = summary(p);
  fprintf(out, "\n%s%zu requests%s; would create:", bold,
          (size_t)json_integer_value(json_object_get(s, "requests")), reset);
  if (json_object_size(json_object_get(s, "creates")) == 0)
    fprintf(out, " nothing");
  json_object_foreach(json_object_get(s, "creates"), key, v)
      fprintf(out, " %lld %s", (long long)json_integer_value(v), key);
  fprintf(out, "; would delete:");
  if (json_object_size(json_object_get(s, "deletes")) == 0)
    fprintf(out, " nothing");
  json_object_foreach(json_object_get(s, "deletes"), key, v)
      fprintf(out, " %lld %s", (long long)json_integer_value(v), key);
  fprintf(out, "\nNothing was sent. Values marked (known after ...) come "
               "from the calls named.\n");
  json_decref(s);
}

void plan_print_json(const struct plan *p, FILE *out)
{
  json_t *e, *s;
  size_t i;
  char *text;

  json_array_foreach(p->requests, i, e)
  {
    text = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text)
      fprintf(out, "%s\n", text);
    free(text);
  }
  s = summary(p);
  json_object_set_new(s, "event", json_string("summary"));
  text = json_dumps(s, JSON_COMPACT);
  if (text)
    fprintf(out, "%s\n", text);
  free(text);
  json_decref(s);
}
