/* Helpers for tests of the local engine's services: an engine opened
 * in-process on its own loop (no HTTP involved), JSON 1.1 calls straight
 * into the services, and the loop turned until a condition holds. */
#ifndef SAGERUN_TESTS_LOCAL_HELPERS_H
#define SAGERUN_TESTS_LOCAL_HELPERS_H

#include <jansson.h>
#include <limits.h>
#include <uv.h>

#include "../local/engine.h"

struct lt_engine {
  uv_loop_t loop;
  struct local_engine *e;
  char dir[PATH_MAX];
  int closed;
};

typedef int (*lt_service)(struct local_engine *e, const char *operation,
                          const json_t *input, json_t **output,
                          struct local_error *err);

/* Opens an engine on a fresh loop with data in test_tmpdir()/name. */
void lt_loop_init(struct lt_engine *t);
void lt_open(struct lt_engine *t, const char *name);
/* Closes the engine and turns the loop until it is gone. */
void lt_close(struct lt_engine *t);
/* Asserts the loop closes (nothing left on it). */
void lt_loop_done(struct lt_engine *t);

/* Calls fn(op, JSON text) and asserts success; returns the output (the
 * caller decrefs). */
json_t *lt_ok(struct lt_engine *t, lt_service fn, const char *op,
              const char *json);
/* Calls and asserts failure with status, code and a message containing
 * part (NULL: any). */
void lt_fails(struct lt_engine *t, lt_service fn, const char *op,
              const char *json, int status, const char *code, const char *part);
/* Turns the loop once: runs what is due, waits a few ms at most. */
void lt_turn(struct lt_engine *t);

/* InvokeEndpoint, the loop turned until the answer: 0 with a's body
 * (the caller frees it), or -1 with a->err (refused at once or by the
 * model). */
int lt_invoke(struct lt_engine *t, const struct local_runtime_request *r,
              struct local_runtime_answer *a);

/* A string member of o ("" when absent). */
const char *lt_str(const json_t *o, const char *key);

/* The engine as a separate process: `sagerun local start --foreground
 * --port 0 --data-dir DIR` (a test helper, killed with the test). */
struct lt_process {
  char dir[PATH_MAX];
  char url[64];
  int pid;
};

/* Starts it on test_tmpdir()/name and waits until it serves. */
void lt_spawn(struct lt_process *p, const char *name);
/* Stops it with SIGTERM and asserts a clean exit (LeakSanitizer's verdict
 * included under sanitizers). */
void lt_spawn_stop(struct lt_process *p);
/* The environment for AWS clients: the engine's credentials, nothing of
 * this machine's AWS configuration. */
void lt_client_env(const struct lt_process *p);
/* 1 (and "# skipped", failing when SAGERUN_REQUIRE_PEERS is set) when
 * the peer program is missing. */
int lt_peer_missing(const char *path);

#endif
