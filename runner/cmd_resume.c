/* `sagerun resume [RUN | WORKFLOW]`: continues a run that did not finish.
 * Steps that succeeded with the same fingerprint are reused; steps that
 * were in flight re-attach to what they created (through the journal);
 * failed steps run again with a new attempt; finally: steps run again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "error.h"
#include "run.h"
#include "state.h"

/* The run to resume: by id, by workflow file, or the newest unfinished. */
static json_t *find_run(struct state *state, const char *arg)
{
  struct stat st;
  json_t *runs, *run;
  size_t i;

  if (arg && stat(arg, &st) == 0 && S_ISREG(st.st_mode))
    return state_run_get(state, NULL, arg);
  if (arg)
    return state_run_get(state, arg, NULL);
  runs = state_runs_list(state, 0);
  json_array_foreach(runs, i, run)
  {
    const char *status = json_string_value(json_object_get(run, "status"));
    if (status && strcmp(status, "succeeded") != 0) {
      json_incref(run);
      json_decref(runs);
      return run;
    }
  }
  json_decref(runs);
  return NULL;
}

int cmd_resume(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("resume");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct state *state = NULL;
  json_t *run = NULL, *prior = NULL;
  const char *run_id, *status;
  int rc;

  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_RUN | CLI_NO_PATH, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc)
    goto out;
  rc = cli_state_open("resume", &a, &state);
  if (rc)
    goto out;
  run = find_run(state, a.path);
  if (run == NULL) {
    cli_error("resume", "no unfinished run%s%s in %s", a.path ? " " : "",
              a.path ? a.path : "", cli_state_path(&a));
    rc = EXIT_USAGE;
    goto out;
  }
  run_id = json_string_value(json_object_get(run, "id"));
  status = json_string_value(json_object_get(run, "status"));
  if (strcmp(status, "succeeded") == 0) {
    printf("run %s already succeeded: nothing to resume\n", run_id);
    goto out;
  }
  rc = state_run_lock(state, run_id);
  if (rc == SR_EEXIST) {
    cli_error("resume",
              "run %s is being run by process %lld: refusing a "
              "second runner",
              run_id,
              (long long)json_integer_value(json_object_get(run, "pid")));
    rc = EXIT_FAILED;
    goto out;
  }
  /* The run's params, then any -p given now (which changes fingerprints
   * and so reruns what depends on them). */
  a.path = json_string_value(json_object_get(run, "path"));
  a.overrides.values = json_object_get(run, "params");
  rc = cli_load(&a, &wf, &dag);
  if (rc)
    goto out;
  if (a.target)
    wf->target = a.target;
  if (run_refuse_unrunnable(wf)) {
    rc = EXIT_USAGE;
    goto out;
  }
  prior = state_steps_by_instance(state, run_id);
  rc = run_execute(&a, wf, dag, state, run, prior);
out:
  json_decref(prior);
  json_decref(run);
  state_close(state);
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
