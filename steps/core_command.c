/* core.command: runs a program (no shell) as a child process, off the
 * loop, and outputs its exit code and standard output (as text, or parsed
 * as JSON with `output: json`). A nonzero exit fails the step. Cancel
 * sends SIGTERM. Under plan nothing runs. */
#include <signal.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "step.h"

#define COMMAND_OUTPUT_CAP (1 << 20)

struct command {
  struct step_ctx *ctx;
  uv_process_t proc;
  uv_pipe_t out, err;
  struct buf stdout_buf, stderr_buf;
  int open; /* handles not yet closed */
  int exited;
  int64_t status;
  int term_signal;
  char **argv;
  char **env;
};

static void command_free(struct command *c)
{
  size_t i;

  for (i = 0; c->argv && c->argv[i]; i++)
    free(c->argv[i]);
  free(c->argv);
  for (i = 0; c->env && c->env[i]; i++)
    free(c->env[i]);
  free(c->env);
  buf_free(&c->stdout_buf);
  buf_free(&c->stderr_buf);
  free(c);
}

/* Finishes once the process has exited and both pipes are closed. */
static void command_finish(struct command *c)
{
  struct step_ctx *ctx = c->ctx;
  const char *mode;
  json_t *out, *parsed;

  if (c->open > 0)
    return;
  mode = json_string_value(json_object_get(step_inputs(ctx), "output"));
  if (c->term_signal) {
    step_done(ctx, SR_ECANCELED, NULL, "%s ended by signal %d", c->argv[0],
              c->term_signal);
  } else if (c->status != 0) {
    size_t len = buf_len(&c->stderr_buf);
    const char *tail = buf_str(&c->stderr_buf);
    while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == '\r'))
      buf_truncate(&c->stderr_buf, --len);
    if (len > 400)
      tail += len - 400;
    step_done(ctx, SR_EIO, NULL, "%s exited with status %lld%s%s", c->argv[0],
              (long long)c->status, len ? ": " : "", tail);
  } else if (mode && strcmp(mode, "json") == 0) {
    json_error_t jerr;
    parsed = json_loadb(buf_str(&c->stdout_buf), buf_len(&c->stdout_buf),
                        JSON_DECODE_ANY, &jerr);
    if (parsed == NULL) {
      step_done(ctx, SR_EINVAL, NULL, "standard output of %s is not JSON: %s",
                c->argv[0], jerr.text);
    } else {
      out = json_pack("{s:i,s:o}", "exit_code", 0, "json", parsed);
      step_done(ctx, 0, out, NULL);
    }
  } else {
    out = json_pack("{s:i,s:s%}", "exit_code", 0, "stdout",
                    buf_str(&c->stdout_buf), buf_len(&c->stdout_buf));
    step_done(ctx, 0, out, NULL);
  }
  command_free(c);
}

static void handle_closed(uv_handle_t *h)
{
  struct command *c = h->data;

  c->open--;
  command_finish(c);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal)
{
  struct command *c = p->data;

  c->exited = 1;
  c->status = status;
  c->term_signal = term_signal;
  uv_close((uv_handle_t *)p, handle_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
  (void)h;
  b->base = malloc(suggested);
  b->len = b->base ? suggested : 0;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
  struct command *c = s->data;
  struct buf *dst = (uv_pipe_t *)s == &c->out ? &c->stdout_buf : &c->stderr_buf;

  if (n > 0 && buf_len(dst) + (size_t)n <= COMMAND_OUTPUT_CAP)
    buf_add(dst, b->base, (size_t)n);
  free(b->base);
  if (n < 0)
    uv_close((uv_handle_t *)s, handle_closed);
}

static char **strings_from(const json_t *arr)
{
  size_t i, n = json_array_size(arr);
  char **v = calloc(n + 1, sizeof(*v));

  for (i = 0; v && i < n; i++) {
    json_t *item = json_array_get(arr, i);
    if (json_is_string(item)) {
      v[i] = strdup(json_string_value(item));
    } else {
      v[i] = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
    }
  }
  return v;
}

/* The process environment plus the step's `env:` entries. */
static char **env_from(const json_t *extra)
{
  extern char **environ;
  size_t n = 0, i, k;
  const char *key;
  json_t *v;
  char **env;

  while (environ[n])
    n++;
  env = calloc(n + json_object_size(extra) + 1, sizeof(*env));
  if (env == NULL)
    return NULL;
  for (i = 0, k = 0; i < n; i++) {
    const char *eq = strchr(environ[i], '=');
    if (eq &&
        json_object_getn(extra, environ[i], (size_t)(eq - environ[i])) != NULL)
      continue;
    env[k++] = strdup(environ[i]);
  }
  json_object_foreach((json_t *)extra, key, v)
  {
    struct buf b;
    buf_init(&b, 1 << 16);
    buf_addf(&b, "%s=", key);
    if (json_is_string(v))
      buf_adds(&b, json_string_value(v));
    else {
      char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
      buf_adds(&b, s ? s : "");
      free(s);
    }
    env[k++] = buf_detach(&b, NULL);
  }
  return env;
}

static int command_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  uv_process_options_t o;
  uv_stdio_container_t stdio[3];
  struct command *c;
  int rc;

  if (step_planning(ctx)) {
    step_done(ctx, 0,
              json_pack("{s:s,s:s}", "exit_code", "(known after the run)",
                        "stdout", "(known after the run)"),
              NULL);
    return 0;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    return SR_ENOMEM;
  c->ctx = ctx;
  buf_init(&c->stdout_buf, COMMAND_OUTPUT_CAP);
  buf_init(&c->stderr_buf, COMMAND_OUTPUT_CAP);
  c->argv = strings_from(json_object_get(in, "run"));
  c->env = env_from(json_object_get(in, "env"));
  if (c->argv == NULL || c->env == NULL || c->argv[0] == NULL) {
    command_free(c);
    return SR_ENOMEM;
  }
  uv_pipe_init(step_loop(ctx), &c->out, 0);
  uv_pipe_init(step_loop(ctx), &c->err, 0);
  c->out.data = c;
  c->err.data = c;
  c->proc.data = c;
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&c->out;
  stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[2].data.stream = (uv_stream_t *)&c->err;
  memset(&o, 0, sizeof(o));
  o.file = c->argv[0];
  o.args = c->argv;
  o.env = c->env;
  o.cwd = json_string_value(json_object_get(in, "cwd"));
  o.stdio = stdio;
  o.stdio_count = 3;
  /* Its own process group, so cancel reaches the program's children too
   * (a shell waiting on `sleep` would not act on SIGTERM until then). */
  o.flags = UV_PROCESS_DETACHED;
  o.exit_cb = on_exit_cb;
  c->open = 3;
  step_set_data(ctx, c);
  rc = uv_spawn(step_loop(ctx), &c->proc, &o);
  if (rc) {
    /* The pipes were initialised: close them; report through step_done
     * from their close callbacks, as a failed run of the program. */
    c->open = 2;
    c->status = 127;
    buf_addf(&c->stderr_buf, "cannot run: %s", uv_strerror(rc));
    uv_close((uv_handle_t *)&c->out, handle_closed);
    uv_close((uv_handle_t *)&c->err, handle_closed);
    uv_close((uv_handle_t *)&c->proc, NULL);
    return 0;
  }
  step_progress(ctx, "running %s (pid %d)", c->argv[0], c->proc.pid);
  uv_read_start((uv_stream_t *)&c->out, alloc_cb, read_cb);
  uv_read_start((uv_stream_t *)&c->err, alloc_cb, read_cb);
  return 0;
}

static void command_cancel(struct step_ctx *ctx)
{
  struct command *c = step_data(ctx);

  if (c && !c->exited && kill(-c->proc.pid, SIGTERM) != 0)
    uv_process_kill(&c->proc, SIGTERM);
}

const struct step_exec core_command_exec = {STEP_ABI_VERSION, command_start,
                                            command_cancel, NULL};
