/* `sagerun destroy RUN`: deletes every resource in RUN's ledger that
 * still exists, and stops its training jobs that still run, through the
 * same sagemaker.delete step a workflow's finally: uses. Idempotent: what
 * is already gone is reported, not failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "dag.h"
#include "error.h"
#include "run.h"
#include "state.h"

/* The one-step workflow that deletes what the ledger lists. */
static char *destroy_workflow(const json_t *run, const json_t *ledger)
{
  static const char *const kinds[][2] = {
      {"training_job", "training_jobs"},
      {"endpoint", "endpoints"},
      {"endpoint_config", "endpoint_configs"},
      {"model", "models"}};
  json_t *with = json_object(), *row, *doc;
  size_t i, k;
  struct buf text;
  char *json;

  for (k = 0; k < 4; k++)
    json_object_set_new(with, kinds[k][1], json_array());
  json_array_foreach(ledger, i, row)
  {
    const char *kind = json_string_value(json_object_get(row, "kind"));
    const char *name = json_string_value(json_object_get(row, "name"));
    if (!json_is_null(json_object_get(row, "deleted_at")) || kind == NULL ||
        name == NULL)
      continue;
    for (k = 0; k < 4; k++)
      if (strcmp(kind, kinds[k][0]) == 0)
        json_array_append_new(json_object_get(with, kinds[k][1]),
                              json_string(name));
  }
  /* JSON is YAML: the workflow is written as JSON. */
  doc = json_pack("{s:s,s:O,s:{s:{s:s,s:o}}}", "name", "destroy", "target",
                  json_object_get(run, "target"), "steps", "destroy", "uses",
                  "sagemaker.delete", "with", with);
  json = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  buf_init(&text, 1 << 20);
  buf_adds(&text, json ? json : "");
  free(json);
  return buf_detach(&text, NULL);
}

int cmd_destroy(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("destroy");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct state *state = NULL;
  struct diags diags;
  json_t *run = NULL, *ledger = NULL;
  char *text = NULL;
  int rc;

  diags_init(&diags);
  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_RUN | CLI_NO_PATH, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0 && a.path == NULL) {
    cli_error("destroy", "expected a run id (see sagerun runs)");
    rc = EXIT_USAGE;
  }
  if (rc)
    goto out;
  rc = cli_state_open("destroy", &a, &state);
  if (rc)
    goto out;
  run = state_run_get(state, a.path, NULL);
  if (run == NULL) {
    cli_error("destroy", "no run %s in %s", a.path, cli_state_path(&a));
    rc = EXIT_USAGE;
    goto out;
  }
  if (state_run_lock(state, a.path) == SR_EEXIST) {
    cli_error("destroy",
              "run %s is being run by another process; stop it "
              "first",
              a.path);
    rc = EXIT_FAILED;
    goto out;
  }
  ledger = state_ledger_list(state, a.path, NULL);
  text = destroy_workflow(run, ledger);
  rc = workflow_load_text("(destroy)", text, strlen(text), NULL, &wf, &diags);
  if (rc == 0)
    rc = dag_expand(wf, &dag, &diags);
  if (rc) {
    diags_print(&diags, stderr, 0);
    rc = EXIT_FAILED;
    goto out;
  }
  if (a.target)
    wf->target = a.target;
  /* Runs as part of RUN, so the deletions are marked in its ledger; the
   * run keeps the outcome it had. */
  rc = run_execute(&a, wf, dag, state, run, NULL);
  state_run_finish(state, a.path,
                   json_string_value(json_object_get(run, "status")));
out:
  diags_free(&diags);
  free(text);
  json_decref(ledger);
  json_decref(run);
  state_close(state);
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
