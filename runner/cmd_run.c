/* `sagerun run`: load, check, record a new run in the state store, and
 * execute it. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "error.h"
#include "run.h"
#include "state.h"

int cmd_run(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("run");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct state *state = NULL;
  json_t *run = NULL;
  char run_id[64], err[512] = "";
  size_t refused;
  int rc;

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
  refused = run_refuse_unrunnable(wf);
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
    cli_error("run", "%s", err[0] ? err : sr_strerror(rc));
    rc = EXIT_FAILED;
    goto out;
  }
  run = state_run_get(state, run_id, NULL);
  rc = run ? run_execute(&a, wf, dag, state, run, NULL) : EXIT_FAILED;
out:
  json_decref(run);
  state_close(state);
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
