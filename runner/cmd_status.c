/* `sagerun status [RUN]` and `sagerun runs`: what the state store knows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "error.h"
#include "state.h"

static const char *text(const json_t *row, const char *key)
{
  const char *s = json_string_value(json_object_get(row, key));

  return s ? s : "-";
}

int cmd_runs(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("runs");
  struct cli_workflow_args a;
  struct state *state = NULL;
  json_t *runs = NULL, *run;
  size_t i;
  int rc;

  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_RUN | CLI_NO_PATH, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0)
    rc = cli_state_open("runs", &a, &state);
  if (rc)
    goto out;
  runs = state_runs_list(state, 0);
  if (a.json) {
    char *s = json_dumps(runs, JSON_COMPACT);
    printf("%s\n", s ? s : "[]");
    free(s);
    goto out;
  }
  printf("%-22s %-24s %-11s %-24s %s\n", "RUN", "WORKFLOW", "STATUS", "STARTED",
         "FINISHED");
  json_array_foreach(runs, i, run) printf(
      "%-22s %-24s %-11s %-24s %s\n", text(run, "id"), text(run, "workflow"),
      text(run, "status"), text(run, "started_at"), text(run, "finished_at"));
out:
  json_decref(runs);
  state_close(state);
  free(a.overrides.assignments);
  return rc;
}

int cmd_status(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("status");
  struct cli_workflow_args a;
  struct state *state = NULL;
  json_t *run = NULL, *steps = NULL, *ledger = NULL, *row, *runs;
  const char *run_id;
  size_t i;
  int rc;

  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_RUN | CLI_NO_PATH, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0)
    rc = cli_state_open("status", &a, &state);
  if (rc)
    goto out;
  if (a.path) {
    run = state_run_get(state, a.path, NULL);
  } else {
    runs = state_runs_list(state, 1);
    run = json_incref(json_array_get(runs, 0));
    json_decref(runs);
  }
  if (run == NULL) {
    cli_error("status", "no run %s in %s", a.path ? a.path : "yet",
              cli_state_path(&a));
    rc = EXIT_USAGE;
    goto out;
  }
  run_id = json_string_value(json_object_get(run, "id"));
  steps = state_steps_list(state, run_id);
  ledger = state_ledger_list(state, run_id, NULL);
  if (a.json) {
    json_t *o = json_pack("{s:O,s:O,s:O}", "run", run, "steps", steps,
                          "resources", ledger);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(o);
    goto out;
  }
  printf("run %s of %s (%s): %s\nstarted %s, finished %s\n\n", run_id,
         text(run, "workflow"), text(run, "path"), text(run, "status"),
         text(run, "started_at"), text(run, "finished_at"));
  printf("%-44s %-26s %-11s %-7s %s\n", "STEP", "TYPE", "STATUS", "ATTEMPT",
         "UPDATED");
  json_array_foreach(steps, i, row)
  {
    printf("%-44s %-26s %-11s %-7lld %s\n", text(row, "instance"),
           text(row, "type"), text(row, "status"),
           (long long)json_integer_value(json_object_get(row, "attempt")),
           text(row, "updated_at"));
    if (json_string_value(json_object_get(row, "error")))
      printf("    %s\n", text(row, "error"));
  }
  if (json_array_size(ledger)) {
    printf("\n%-16s %-44s %-26s %s\n", "RESOURCE", "NAME", "STEP", "STATE");
    json_array_foreach(ledger, i, row) printf(
        "%-16s %-44s %-26s %s\n", text(row, "kind"), text(row, "name"),
        text(row, "step"),
        json_string_value(json_object_get(row, "deleted_at")) ? "deleted"
                                                              : "exists");
  }
out:
  json_decref(run);
  json_decref(steps);
  json_decref(ledger);
  state_close(state);
  free(a.overrides.assignments);
  return rc;
}
