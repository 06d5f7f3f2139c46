#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "commands.h"
#include "graph.h"

int cmd_graph(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("graph");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  enum graph_format format = GRAPH_TEXT;
  int rc;

  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_FORMAT, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0 && a.format && graph_format_parse(a.format, &format) != 0) {
    cli_error("graph", "unknown format \"%s\": expected text, dot or mermaid",
              a.format);
    rc = EXIT_USAGE;
  }
  if (rc == 0)
    rc = cli_load(&a, &wf, &dag);
  if (rc == 0 && graph_write(dag, format, stdout) != 0) {
    cli_error("graph", "cannot write the graph");
    rc = EXIT_FAILED;
  }
out:
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
