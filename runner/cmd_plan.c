/* `sagerun plan`: a dry run. The same step code runs against a recording
 * transport, one step at a time, and every request a run would send is
 * printed with the step that sends it. Nothing is sent, nothing is
 * created, no credentials are needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "cli.h"
#include "commands.h"
#include "diag.h"
#include "error.h"
#include "exec.h"
#include "plan.h"
#include "run.h"

#define LOCAL_URL_DEFAULT "http://127.0.0.1:4566"

static void on_event(void *data, const struct exec_event *ev)
{
  struct plan *p = data;

  if (ev->kind == EXEC_EVENT_STARTED)
    plan_set_step(p, ev->node->id);
}

static void client_closed(void *data)
{
  (void)data;
}

int cmd_plan(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("plan");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct aws_client *aws = NULL;
  struct aws_client_opts co;
  struct exec_opts opts;
  struct exec_summary summary;
  struct plan plan;
  char *region = NULL;
  uv_loop_t loop;
  int rc, loop_open = 0;
  const char *key;
  json_t *v;

  memset(&summary, 0, sizeof(summary));
  plan_init(&plan, NULL);
  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_RUN, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0)
    rc = cli_load(&a, &wf, &dag);
  if (rc)
    goto out;
  if (a.target)
    wf->target = a.target;
  if (run_refuse_unrunnable(wf)) {
    rc = EXIT_USAGE;
    goto out;
  }
  region = aws_region_resolve(a.region ? a.region : wf->region, NULL);
  if (region == NULL)
    region = strdup("us-east-1");
  plan.region = region;
  uv_loop_init(&loop);
  loop_open = 1;
  memset(&co, 0, sizeof(co));
  co.loop = &loop;
  co.region = region;
  co.local_url = strcmp(wf->target, "local") == 0 ? LOCAL_URL_DEFAULT : NULL;
  co.recorder = &plan.recorder;
  co.waiter_speedup = 1e6; /* the recorder answers at once */
  rc = aws_client_new(&co, &aws);
  if (rc) {
    cli_error("plan", "%s", sr_strerror(rc));
    rc = EXIT_FAILED;
    goto out;
  }
  memset(&opts, 0, sizeof(opts));
  opts.aws = aws;
  opts.run_id = "plan";
  opts.region = region;
  opts.planning = 1;
  opts.sequential = 1;
  opts.work_dir = ".sagerun/plan";
  opts.on_event = on_event;
  opts.event_data = &plan;
  rc = exec_run(&loop, dag, &opts, &summary);
  aws_client_close(aws, client_closed, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (rc < 0) {
    cli_error("plan", "%s", sr_strerror(rc));
    rc = EXIT_FAILED;
    goto out;
  }
  if (a.json)
    plan_print_json(&plan, stdout);
  else {
    printf("plan for %s (target %s, region %s): %zu steps\n", wf->name,
           wf->target, region, dag->count);
    plan_print(&plan, stdout, diag_use_colour(stdout));
  }
  /* A step that cannot even be planned is an error in the workflow. */
  if (rc != 0) {
    json_object_foreach(summary.errors, key, v)
    {
      if (strncmp(json_string_value(v), "not run:", 8) != 0)
        fprintf(stderr, "sagerun plan: %s: %s\n", key, json_string_value(v));
    }
    rc = EXIT_FAILED;
  }
out:
  exec_summary_free(&summary);
  if (loop_open && uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  plan_free(&plan);
  free(region);
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
