/* The scheduler on real step types (core.command, core.wait, core.echo):
 * parallelism and its limits, failure propagation, continue_on_error,
 * retry, timeout, finally, interruption, outputs flowing between steps. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runner/dag.h"
#include "../runner/exec.h"
#include "../runner/workflow.h"
#include "test.h"

struct trace {
  int started, finished, max_running, running;
  char order[4096];
};

static void on_event(void *data, const struct exec_event *ev)
{
  struct trace *t = data;

  if (ev->kind == EXEC_EVENT_STARTED) {
    t->started++;
    if (++t->running > t->max_running)
      t->max_running = t->running;
    strncat(t->order, "+", sizeof(t->order) - strlen(t->order) - 1);
    strncat(t->order, ev->node->id, sizeof(t->order) - strlen(t->order) - 1);
    strncat(t->order, " ", sizeof(t->order) - strlen(t->order) - 1);
  } else if (ev->kind == EXEC_EVENT_FINISHED) {
    t->finished++;
    if (ev->status != EXEC_SKIPPED && ev->status != EXEC_REUSED &&
        ev->seconds >= 0 && ev->attempt > 0)
      t->running--;
  } else if (ev->kind == EXEC_EVENT_RETRYING) {
    t->running--;
  }
}

/* Runs text; returns exec_run's result, fills summary and trace. */
static int run_text(const char *text, struct exec_summary *s, struct trace *t,
                    int signals)
{
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct exec_opts opts;
  uv_loop_t loop;
  int rc;

  diags_init(&diags);
  if (workflow_load_text("t.yaml", text, strlen(text), NULL, &wf, &diags) ||
      dag_expand(wf, &dag, &diags)) {
    diags_print(&diags, stdout, 0);
    ASSERT(0);
  }
  memset(&opts, 0, sizeof(opts));
  memset(t, 0, sizeof(*t));
  opts.run_id = "test";
  opts.on_event = on_event;
  opts.event_data = t;
  opts.handle_signals = signals;
  ASSERT_EQ(0, uv_loop_init(&loop));
  rc = exec_run(&loop, dag, &opts, s);
  ASSERT_EQ(0, uv_loop_close(&loop));
  dag_free(dag);
  workflow_free(wf);
  diags_free(&diags);
  return rc;
}

static const char *status_of(const struct exec_summary *s, const char *id)
{
  return json_string_value(json_object_get(s->errors, id));
}

TEST(exec_outputs_flow_and_fan_in)
{
  struct exec_summary s;
  struct trace t;

  ASSERT_EQ(0, run_text("name: t\nparams:\n  n: [1, 2, 3]\nsteps:\n"
                        "  sq:\n    uses: core.command\n"
                        "    for_each: {i: \"${{ params.n }}\"}\n"
                        "    with: {run: [expr, \"${{ each.i }}\", '*', "
                        "\"${{ each.i }}\"]}\n"
                        "  sum:\n    uses: core.echo\n"
                        "    with: {values: {all: \"${{ steps.sq.outputs."
                        "stdout }}\", n: \"${{ length(steps.sq.outputs."
                        "stdout) }}\"}}\n",
                        &s, &t, 0));
  ASSERT_EQ(4, s.succeeded);
  {
    json_t *sum = json_object_get(s.outputs, "sum");
    char *text = json_dumps(sum, JSON_COMPACT);
    ASSERT_STR_EQ("{\"all\":[\"1\\n\",\"4\\n\",\"9\\n\"],\"n\":3}", text);
    free(text);
  }
  exec_summary_free(&s);
}

TEST(exec_parallel_within_limits)
{
  struct exec_summary s;
  struct trace t;

  /* Eight waits, max_parallel 3: never more than 3 at once. */
  ASSERT_EQ(0, run_text("name: t\nmax_parallel: 3\nsteps:\n"
                        "  w:\n    uses: core.wait\n"
                        "    for_each: {i: [1, 2, 3, 4, 5, 6, 7, 8]}\n"
                        "    with: {seconds: 0.05}\n",
                        &s, &t, 0));
  ASSERT_EQ(8, s.succeeded);
  ASSERT_EQ(3, t.max_running);
  exec_summary_free(&s);
  /* A per-type limit of 1 serialises that type only. */
  ASSERT_EQ(0, run_text("name: t\nlimits: {core.wait: 1}\nsteps:\n"
                        "  w:\n    uses: core.wait\n"
                        "    for_each: {i: [1, 2, 3]}\n"
                        "    with: {seconds: 0.05}\n"
                        "  c:\n    uses: core.command\n"
                        "    for_each: {i: [1, 2]}\n"
                        "    with: {run: [sleep, '0.1']}\n",
                        &s, &t, 0));
  ASSERT_EQ(5, s.succeeded);
  ASSERT(t.max_running >= 2 && t.max_running <= 3);
  exec_summary_free(&s);
}

TEST(exec_failure_stops_dependents_not_branches)
{
  struct exec_summary s;
  struct trace t;

  ASSERT_EQ(1, run_text("name: t\nsteps:\n"
                        "  bad: {uses: core.command, with: {run: [false]}}\n"
                        "  child: {uses: core.echo, needs: [bad]}\n"
                        "  grandchild: {uses: core.echo, needs: [child]}\n"
                        "  other: {uses: core.wait, with: {seconds: 0.1}}\n"
                        "  tolerant:\n    uses: core.command\n"
                        "    continue_on_error: true\n"
                        "    with: {run: [false]}\n"
                        "  after_tolerant: {uses: core.echo, needs: "
                        "[tolerant]}\n"
                        "finally:\n  last: {uses: core.echo, with: "
                        "{values: {x: 1}}}\n",
                        &s, &t, 0));
  ASSERT_EQ(2, s.failed);
  ASSERT_EQ(2, s.skipped);
  ASSERT(json_object_get(s.outputs, "other") != NULL);
  ASSERT(json_object_get(s.outputs, "after_tolerant") != NULL);
  ASSERT(json_object_get(s.outputs, "last") != NULL);
  ASSERT_CONTAINS(status_of(&s, "child"), "not run: bad failed");
  ASSERT_CONTAINS(status_of(&s, "grandchild"), "not run: child skipped");
  exec_summary_free(&s);
}

TEST(exec_retry_then_success)
{
  struct exec_summary s;
  struct trace t;
  char text[2048], flag[512];

  /* Fails while the flag file is missing, and creates it: the second
   * attempt succeeds. */
  snprintf(flag, sizeof(flag), "%s/flag", test_tmpdir());
  snprintf(text, sizeof(text),
           "name: t\nsteps:\n  flaky:\n    uses: core.command\n"
           "    retry: {attempts: 3, delay: 0.05, factor: 2}\n"
           "    with: {run: [sh, -c, 'test -e %s || { touch %s; exit 1; }']}"
           "\n",
           flag, flag);
  ASSERT_EQ(0, run_text(text, &s, &t, 0));
  ASSERT_EQ(1, s.succeeded);
  ASSERT_EQ(2, t.started);
  exec_summary_free(&s);
}

TEST(exec_timeout_cancels_and_fails)
{
  struct exec_summary s;
  struct trace t;

  ASSERT_EQ(1, run_text("name: t\nsteps:\n  slow:\n    uses: core.wait\n"
                        "    timeout: 1\n    with: {seconds: 30}\n",
                        &s, &t, 0));
  ASSERT_EQ(1, s.failed);
  ASSERT_CONTAINS(status_of(&s, "slow"), "timed out after 1 s");
  exec_summary_free(&s);
}

static void send_sigint(uv_timer_t *timer)
{
  uv_close((uv_handle_t *)timer, (uv_close_cb)free);
  kill(getpid(), SIGINT);
}

TEST(exec_interrupt_cancels_and_runs_finally)
{
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct exec_opts opts;
  struct exec_summary s;
  struct trace t;
  uv_loop_t loop;
  uv_timer_t *timer = malloc(sizeof(*timer));
  const char *text = "name: t\nsteps:\n"
                     "  long: {uses: core.wait, with: {seconds: 30}}\n"
                     "  sleeper: {uses: core.command, with: {run: [sleep, "
                     "'30']}}\n"
                     "  later: {uses: core.echo, needs: [long]}\n"
                     "finally:\n  cleanup: {uses: core.echo, with: {values: "
                     "{ok: true}}}\n";

  diags_init(&diags);
  ASSERT_EQ(
      0, workflow_load_text("t.yaml", text, strlen(text), NULL, &wf, &diags));
  ASSERT_EQ(0, dag_expand(wf, &dag, &diags));
  memset(&opts, 0, sizeof(opts));
  memset(&t, 0, sizeof(t));
  opts.run_id = "test";
  opts.on_event = on_event;
  opts.event_data = &t;
  opts.handle_signals = 1;
  ASSERT_EQ(0, uv_loop_init(&loop));
  uv_timer_init(&loop, timer);
  uv_timer_start(timer, send_sigint, 200, 0);
  ASSERT_EQ(130, exec_run(&loop, dag, &opts, &s));
  ASSERT_EQ(0, uv_loop_close(&loop));
  ASSERT(s.interrupted);
  ASSERT_EQ(3, s.canceled);
  ASSERT(json_object_get(s.outputs, "cleanup") != NULL);
  exec_summary_free(&s);
  dag_free(dag);
  workflow_free(wf);
  diags_free(&diags);
}

TEST(exec_unresolvable_input_fails_step)
{
  struct exec_summary s;
  struct trace t;

  ASSERT_EQ(1, run_text("name: t\nsteps:\n"
                        "  a: {uses: core.echo, with: {values: {x: [1]}}}\n"
                        "  b: {uses: core.echo, with: {values: {y: \"${{ "
                        "steps.a.outputs.x[3] }}\"}}}\n",
                        &s, &t, 0));
  ASSERT_CONTAINS(status_of(&s, "b"), "index 3 out of range");
  ASSERT_CONTAINS(status_of(&s, "b"), "t.yaml:");
  exec_summary_free(&s);
}

TEST(exec_inputs_checked_when_known)
{
  struct exec_summary s;
  struct trace t;

  /* The wait's seconds come from another step: valid at load, checked
   * against the schema when known. */
  ASSERT_EQ(1, run_text("name: t\nsteps:\n"
                        "  a: {uses: core.echo, with: {values: {s: -5}}}\n"
                        "  w: {uses: core.wait, with: {seconds: \"${{ "
                        "steps.a.outputs.s }}\"}}\n",
                        &s, &t, 0));
  ASSERT_CONTAINS(status_of(&s, "w"), "with/seconds: expected a value >= 0");
  exec_summary_free(&s);
}

TEST(exec_schema_defaults_filled)
{
  struct exec_summary s;
  struct trace t;

  ASSERT_EQ(0, run_text("name: t\nsteps:\n"
                        "  c: {uses: core.command, with: {run: [printf, "
                        "'{\"a\": 1}'], output: json}}\n"
                        "  d: {uses: core.command, with: {run: [printf, "
                        "x]}}\n",
                        &s, &t, 0));
  /* output defaults to text for d. */
  ASSERT_STR_EQ("x", json_string_value(json_object_get(
                         json_object_get(s.outputs, "d"), "stdout")));
  exec_summary_free(&s);
}
