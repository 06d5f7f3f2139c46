/* Helpers for the local engine's service tests: see local-helpers.h. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../local/credentials.h"
#include "local-helpers.h"
#include "test.h"

void lt_loop_init(struct lt_engine *t)
{
  memset(t, 0, sizeof(*t));
  ASSERT_EQ(0, uv_loop_init(&t->loop));
}

void lt_open(struct lt_engine *t, const char *name)
{
  struct local_engine_options o;
  char err[512];
  int rc;

  snprintf(t->dir, sizeof(t->dir), "%s/%s", test_tmpdir(), name);
  memset(&o, 0, sizeof(o));
  o.data_dir = t->dir;
  o.port = 0;
  rc = local_engine_open(&t->loop, &o, &t->e, err, sizeof(err));
  if (rc != 0)
    printf("# local_engine_open: %s\n", err);
  ASSERT_EQ(0, rc);
  t->closed = 0;
}

static void closed_cb(void *arg)
{
  *(int *)arg = 1;
}

void lt_close(struct lt_engine *t)
{
  local_engine_close(t->e, closed_cb, &t->closed);
  while (!t->closed)
    lt_turn(t);
  t->e = NULL;
}

void lt_loop_done(struct lt_engine *t)
{
  uv_run(&t->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, uv_loop_close(&t->loop));
}

static json_t *parse(const char *json)
{
  json_error_t jerr;
  json_t *in = json_loads(json, 0, &jerr);

  if (in == NULL)
    test_fail(__FILE__, __LINE__, "bad test JSON: %s: %s", jerr.text, json);
  return in;
}

json_t *lt_ok(struct lt_engine *t, lt_service fn, const char *op,
              const char *json)
{
  struct local_error err;
  json_t *in = parse(json), *out = NULL;
  int rc;

  memset(&err, 0, sizeof(err));
  rc = fn(t->e, op, in, &out, &err);
  json_decref(in);
  if (rc != 0)
    test_fail(__FILE__, __LINE__, "%s failed: %d %s: %s", op, err.status,
              err.code, err.message);
  ASSERT(out != NULL);
  return out;
}

void lt_fails(struct lt_engine *t, lt_service fn, const char *op,
              const char *json, int status, const char *code, const char *part)
{
  struct local_error err;
  json_t *in = parse(json), *out = NULL;
  int rc;

  memset(&err, 0, sizeof(err));
  rc = fn(t->e, op, in, &out, &err);
  json_decref(in);
  if (rc == 0) {
    char *text = json_dumps(out, JSON_COMPACT);

    printf("# %s succeeded: %s\n", op, text ? text : "");
    free(text);
    json_decref(out);
  }
  ASSERT(rc != 0);
  ASSERT(out == NULL);
  if (err.status != status || strcmp(err.code, code) != 0 ||
      (part && strstr(err.message, part) == NULL))
    test_fail(__FILE__, __LINE__, "%s: expected %d %s \"%s\", got %d %s \"%s\"",
              op, status, code, part ? part : "", err.status, err.code,
              err.message);
}

static void wake_cb(uv_timer_t *timer)
{
  uv_stop(timer->loop);
}

void lt_turn(struct lt_engine *t)
{
  uv_timer_t wake;

  /* The engine's listening socket keeps the loop alive, so the loop runs
   * until a wake-up stops it, having run whatever came due meanwhile.
   * (No assertion depends on time: this only paces the polling.) */
  uv_update_time(&t->loop);
  ASSERT_EQ(0, uv_timer_init(&t->loop, &wake));
  ASSERT_EQ(0, uv_timer_start(&wake, wake_cb, 2, 0));
  uv_run(&t->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&wake, NULL);
  uv_run(&t->loop, UV_RUN_NOWAIT); /* completes the close */
}

struct invoke_wait {
  struct local_runtime_answer *a;
  int answered;
};

static void invoke_answered(struct local_runtime_answer *a, void *arg)
{
  struct invoke_wait *w = arg;

  *w->a = *a;
  w->answered++;
}

int lt_invoke(struct lt_engine *t, const struct local_runtime_request *r,
              struct local_runtime_answer *a)
{
  struct invoke_wait w = {a, 0};
  int turns;

  memset(a, 0, sizeof(*a));
  if (local_runtime_invoke(t->e, r, invoke_answered, &w, &a->err) != 0) {
    a->failed = 1;
    return -1;
  }
  ASSERT_EQ(0, w.answered); /* never from inside the call */
  for (turns = 0; w.answered == 0 && turns < 30000; turns++)
    lt_turn(t);
  ASSERT_EQ(1, w.answered);
  return a->failed ? -1 : 0;
}

const char *lt_str(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));

  return s ? s : "";
}

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

void lt_spawn(struct lt_process *p, const char *name)
{
  char port_file[PATH_MAX + 16];
  const char *argv[] = {test_sagerun_bin(), "local",  "start",
                        "--foreground",     "--port", "0",
                        "--data-dir",       p->dir,   NULL};
  char *text;
  int status;

  snprintf(p->dir, sizeof(p->dir), "%s/%s", test_tmpdir(), name);
  snprintf(port_file, sizeof(port_file), "%s/engine.port", p->dir);
  unlink(port_file);
  p->pid = test_helper_spawn(argv);
  ASSERT(p->pid > 0);
  /* The engine writes its port once it serves. */
  for (;;) {
    text = test_read_file(port_file, NULL);
    if (text && strchr(text, '\n'))
      break;
    free(text);
    ASSERT_EQ(0, waitpid(p->pid, &status, WNOHANG));
    sleep_ms(20);
  }
  snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%ld",
           strtol(text, NULL, 10));
  free(text);
}

void lt_spawn_stop(struct lt_process *p)
{
  int status;

  ASSERT_EQ(0, kill(p->pid, SIGTERM));
  ASSERT_EQ(p->pid, waitpid(p->pid, &status, 0));
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(0, WEXITSTATUS(status));
}

void lt_client_env(const struct lt_process *p)
{
  struct local_credentials c;
  char path[PATH_MAX + 32], err[512];

  ASSERT_EQ(0, local_credentials_load(p->dir, &c, err, sizeof(err)));
  setenv("AWS_ACCESS_KEY_ID", c.access_key_id, 1);
  setenv("AWS_SECRET_ACCESS_KEY", c.secret_access_key, 1);
  setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
  snprintf(path, sizeof(path), "%s/aws-empty-config", test_tmpdir());
  ASSERT_EQ(0, test_write_file(path, ""));
  setenv("AWS_CONFIG_FILE", path, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_PAGER", "", 1);
  setenv("HOME", test_tmpdir(), 1);
  unsetenv("AWS_PROFILE");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_ENDPOINT_URL");
  local_credentials_clear(&c);
}

int lt_peer_missing(const char *path)
{
  if (access(path, X_OK) == 0)
    return 0;
  printf("# skipped: %s not installed\n", path);
  ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  return 1;
}
