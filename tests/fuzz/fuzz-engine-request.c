/* libFuzzer target: the local engine's request handling behind the HTTP
 * front, on an in-process engine opened once in a temporary directory.
 *
 * Input: one flags byte, then
 * - S3 (flags bit 0 clear): lines method, path, query, headers as
 *   "name:value", an empty line, and the body. The request goes through
 *   s3api_route_parse and, when it names an operation, s3api_handle on
 *   the engine's object store (bodies of PutObject and UploadPart in an
 *   object store writer, as the server streams them).
 * - JSON 1.1 (bit 0 set): the operation's name on the first line and the
 *   JSON input after it, to SageMaker (bit 1 clear) or CloudWatch Logs.
 *
 * Answers must be well formed: a status, and an error code with every
 * error status. The loop is turned after each request so that whatever
 * the services scheduled runs too. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../../local/engine.h"
#include "../../local/s3api.h"
#include "../../local/s3store.h"
#include "../../local/server.h"
#include "../../runner/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 24

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

static uv_loop_t loop;
static struct local_engine *engine;
static char dir[] = "/tmp/fuzz-engine-XXXXXX";

/* libFuzzer leaves through exit(): the data directory goes with it. The
 * name is mkdtemp's, so it needs no quoting. */
static void remove_dir(void)
{
  char cmd[64];

  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "fuzz-engine-request: could not remove %s\n", dir);
}

static void open_engine(void)
{
  struct local_engine_options o;
  char err[512];
  struct s3store *s3;

  check(mkdtemp(dir) != NULL, "temp dir");
  atexit(remove_dir);
  check(uv_loop_init(&loop) == 0, "loop");
  memset(&o, 0, sizeof(o));
  o.data_dir = dir;
  if (local_engine_open(&loop, &o, &engine, err, sizeof(err)) != 0) {
    fprintf(stderr, "local_engine_open: %s\n", err);
    abort();
  }
  /* Something to find: a bucket with an object in it. */
  s3 = local_engine_s3(engine);
  check(s3store_bucket_ensure(s3, "b", 0, local_engine_now(engine)) == 0,
        "bucket");
  {
    struct s3store_writer *w;
    struct s3store_put put = {NULL, NULL};

    check(s3store_writer_begin(s3, &w) == 0 &&
              s3store_writer_write(w, "1,2,3\n", 6) == 0 &&
              s3store_writer_commit(w, "b", "data/train.csv", &put,
                                    local_engine_now(engine), NULL) == 0,
          "object");
  }
}

static void turn(void)
{
  uv_run(&loop, UV_RUN_NOWAIT);
}

/* Operations that start worker processes (uv_spawn of this executable,
 * which here is the fuzzer) are left out: what they validate before
 * spawning is reached by the others' shared validators, and a fuzzer
 * forking itself per input would measure nothing. */
static int spawns(const char *op)
{
  return strcmp(op, "CreateTrainingJob") == 0 ||
         strcmp(op, "CreateEndpoint") == 0 || strcmp(op, "UpdateEndpoint") == 0;
}

static void json_call(int logs, char *text, size_t len)
{
  char *nl = memchr(text, '\n', len);
  const char *op = text;
  json_t *in, *out = NULL;
  struct local_error err;
  int rc;

  if (nl == NULL)
    return;
  *nl = '\0';
  if (!logs && spawns(op))
    return;
  in = json_loadb(nl + 1, len - (size_t)(nl + 1 - text), JSON_DECODE_ANY, NULL);
  if (in == NULL)
    return;
  memset(&err, 0, sizeof(err));
  rc = logs ? local_logs_call(engine, op, in, &out, &err)
            : local_sagemaker_call(engine, op, in, &out, &err);
  if (rc == 0)
    check(out != NULL, "a success has an output");
  else
    check(err.status >= 400 && err.code[0] != '\0', "a failure says why");
  json_decref(out);
  json_decref(in);
}

static void s3_call(char *text, size_t len)
{
  struct sigv4_header headers[MAX_HEADERS];
  struct local_request r;
  struct local_response resp;
  struct s3api_route rt;
  char *line, *next, *end = text + len, *fields[3] = {"GET", "/", ""};
  const char *body = "";
  size_t nfields = 0, nh = 0, body_len = 0;

  for (line = text; line < end; line = next) {
    char *colon;

    next = memchr(line, '\n', (size_t)(end - line));
    if (next == NULL)
      next = end;
    *next++ = '\0';
    if (nfields < 3) {
      fields[nfields++] = line;
      continue;
    }
    if (*line == '\0') {
      body = next < end ? next : "";
      body_len = next < end ? (size_t)(end - next) : 0;
      break;
    }
    colon = strchr(line, ':');
    if (colon == NULL || nh == MAX_HEADERS)
      continue;
    *colon = '\0';
    headers[nh].name = line;
    headers[nh].value = colon + 1;
    nh++;
  }
  memset(&r, 0, sizeof(r));
  r.engine = engine;
  r.s3 = local_engine_s3(engine);
  r.method = fields[0];
  r.path = fields[1];
  r.query = fields[2];
  r.headers = headers;
  r.nheaders = nh;
  r.request_id = "FUZZ0000000000000000";
  r.body = body;
  r.body_len = body_len;
  if (s3api_route_parse(&r, &rt) != 0)
    return;
  if (rt.op == S3API_BAD) {
    check(rt.error.status >= 400 && rt.error.code[0] != '\0',
          "a bad request says why");
    s3api_route_free(&rt);
    return;
  }
  /* GETs of the GDELT bucket synthesise a year of events first: seconds
   * per input, and the generator has its own tests. */
  if (rt.bucket && strcmp(rt.bucket, LOCAL_GDELT_BUCKET) == 0) {
    s3api_route_free(&rt);
    return;
  }
  s3api_op_name(rt.op);
  s3api_op_is_read(rt.op);
  if (s3api_op_body_to_store(rt.op)) {
    check(s3store_writer_begin(r.s3, &r.upload) == 0, "writer");
    check(s3store_writer_write(r.upload, body, body_len) == 0, "write");
  }
  local_response_init(&resp);
  s3api_handle(&r, &rt, &resp);
  check(resp.status >= 200 && resp.status < 600, "an answer has a status");
  check(resp.status < 300 || resp.error_code[0] != '\0' || resp.status == 304,
        "an error answer has a code");
  if (r.upload)
    s3store_writer_abort(r.upload);
  local_response_free(&resp);
  s3api_route_free(&rt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text;
  long long first, last;

  if (engine == NULL)
    open_engine();
  if (size == 0)
    return 0;
  text = malloc(size);
  if (text == NULL)
    abort();
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  if (data[0] & 1) {
    json_call((data[0] & 2) != 0, text, size - 1);
  } else {
    s3_call(text, size - 1);
    s3api_parse_range(text, (long long)data[0] << 4, &first, &last);
  }
  free(text);
  turn();
  return 0;
}
