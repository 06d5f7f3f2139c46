#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"

int cmd_validate(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("validate");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  size_t groups = 0, i;
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
  for (i = 0; i < wf->nall; i++)
    groups += wf->all[i]->type == NULL;
  printf("ok: %s: %zu steps (%zu groups), %zu step instances, %zu fan-outs, "
         "%zu params, target %s\n",
         wf->name, wf->nall - groups, groups, dag->count, dag->nfanouts,
         wf->nparams, wf->target);
out:
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
