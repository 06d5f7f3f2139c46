/* `sagerun run`: until the execution engine lands, it loads and checks
 * the workflow and refuses step types that cannot run yet, by name, so
 * nothing is half-started. */
#include <stdio.h>
#include <stdlib.h>

#include "../steps/step.h"
#include "cli.h"
#include "commands.h"

int cmd_run(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("run");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  size_t i, refused = 0;
  int rc;

  rc = cli_parse_workflow_args(cmd, argc, argv, 0, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0)
    rc = cli_load(&a, &wf, &dag);
  if (rc)
    goto out;
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
  if (refused) {
    cli_error("run", "refused: %zu step%s cannot run; nothing was started",
              refused, refused == 1 ? "" : "s");
    rc = EXIT_USAGE;
  }
out:
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
