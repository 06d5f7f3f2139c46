/* `sagerun run`: load, check, record a new run in the state store, and
 * execute the DAG on one loop. A step type this version cannot run is
 * refused, by name, before anything starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../steps/step.h"
#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "diag.h"
#include "error.h"
#include "exec.h"
#include "progress.h"
#include "state.h"

/* Every step type must be runnable before the run starts. */
static size_t refuse_unrunnable(const struct workflow *wf)
{
  size_t i, refused = 0;

  for (i = 0; i < wf->nall; i++) {
    const struct wf_step *s = wf->all[i];
    if (s->type && s->type->exec == NULL) {
      fprintf(stderr,
              "%s:%d:%d: error: step \"%s\" uses %s, which this version of "
              "sagerun cannot run yet\n",
              wf->file, s->node->line, s->node->col, s->path, s->type->name);
      refused++;
    }
  }
  return refused;
}

/* .sagerun/runs/RUN next to the state database. */
static char *run_dir(const char *state_path, const char *run_id)
{
  struct buf b;
  const char *slash = strrchr(state_path, '/');

  buf_init(&b, 1 << 16);
  if (slash)
    buf_add(&b, state_path, (size_t)(slash - state_path + 1));
  buf_addf(&b, "runs");
  mkdir(buf_str(&b), 0700);
  buf_addf(&b, "/%s", run_id);
  mkdir(buf_str(&b), 0700);
  return buf_detach(&b, NULL);
}

int cmd_run(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("run");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct state *state = NULL;
  struct exec_summary summary;
  struct exec_opts opts;
  struct progress progress;
  char run_id[64], err[512], *dir = NULL;
  uv_loop_t loop;
  size_t refused;
  int rc, loop_open = 0;

  memset(&summary, 0, sizeof(summary));
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
  refused = refuse_unrunnable(wf);
  if (refused) {
    cli_error("run", "refused: %zu step%s cannot run; nothing was started",
              refused, refused == 1 ? "" : "s");
    rc = EXIT_USAGE;
    goto out;
  }
  rc = state_open(cli_state_path(&a), &state, err, sizeof(err));
  if (rc == 0)
    rc = state_run_create(state, wf->name, wf->file, wf->target,
                          wf->param_values, run_id, sizeof(run_id));
  if (rc) {
    cli_error("run", "%s", rc == SR_EIO && err[0] ? err : sr_strerror(rc));
    rc = EXIT_FAILED;
    goto out;
  }
  dir = run_dir(cli_state_path(&a), run_id);
  memset(&progress, 0, sizeof(progress));
  progress.out = stdout;
  progress.json = a.json;
  progress.verbose = a.verbose;
  progress.colour = !a.json && diag_use_colour(stdout);
  progress.run_id = run_id;
  if (!a.json)
    printf("run %s of %s (%zu steps, target %s)\n", run_id, wf->name,
           dag->count, wf->target);
  memset(&opts, 0, sizeof(opts));
  opts.state = state;
  opts.run_id = run_id;
  opts.work_dir = dir;
  opts.on_event = progress_event;
  opts.event_data = &progress;
  opts.handle_signals = 1;
  uv_loop_init(&loop);
  loop_open = 1;
  rc = exec_run(&loop, dag, &opts, &summary);
  if (rc < 0) {
    cli_error("run", "%s", sr_strerror(rc));
    rc = EXIT_FAILED;
    goto out;
  }
  state_run_finish(state, run_id,
                   rc == 0     ? "succeeded"
                   : rc == 130 ? "interrupted"
                               : "failed");
  progress_summary(&progress, dag, &summary, rc);
out:
  if (loop_open && uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  exec_summary_free(&summary);
  free(dir);
  state_close(state);
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
