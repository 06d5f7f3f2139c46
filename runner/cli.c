#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "error.h"
#include "state.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "sagerun %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

const struct cli_command *cli_find(const char *name)
{
  const struct cli_command *c;

  for (c = cli_commands; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

/* Matches --name VALUE and --name=VALUE; advances *i past the value. */
static int option_value(const char *name, int argc, char **argv, int *i,
                        const char **value)
{
  size_t n = strlen(name);
  const char *arg = argv[*i];

  if (strncmp(arg, name, n) != 0)
    return 0;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] != '\0')
    return 0;
  if (*i + 1 >= argc) {
    *value = NULL;
    return 1;
  }
  *value = argv[++*i];
  return 1;
}

int cli_parse_workflow_args(const struct cli_command *cmd, int argc,
                            char **argv, int flags, struct cli_workflow_args *a)
{
  const char **assignments;
  const char *v;
  int i, only_args = 0;

  memset(a, 0, sizeof(*a));
  assignments = calloc((size_t)argc + 1, sizeof(*assignments));
  if (assignments == NULL) {
    cli_error(cmd->name, "out of memory");
    return EXIT_FAILED;
  }
  a->overrides.assignments = assignments;
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (only_args || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (a->path) {
        cli_error(cmd->name,
                  "unexpected argument \"%s\": expected one "
                  "workflow file",
                  arg);
        return EXIT_USAGE;
      }
      a->path = arg;
    } else if (strcmp(arg, "--") == 0) {
      only_args = 1;
    } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
      a->help = 1;
    } else if (strncmp(arg, "-p", 2) == 0 && arg[2] != '\0') {
      assignments[a->overrides.nassignments++] = arg + 2;
    } else if (option_value("-p", argc, argv, &i, &v) ||
               option_value("--param", argc, argv, &i, &v)) {
      if (v == NULL) {
        cli_error(cmd->name, "-p needs key=value");
        return EXIT_USAGE;
      }
      assignments[a->overrides.nassignments++] = v;
    } else if (option_value("--params-file", argc, argv, &i, &v)) {
      if (v == NULL) {
        cli_error(cmd->name, "--params-file needs a file");
        return EXIT_USAGE;
      }
      a->overrides.params_file = v;
    } else if ((flags & CLI_FORMAT) &&
               option_value("--format", argc, argv, &i, &v)) {
      if (v == NULL) {
        cli_error(cmd->name, "--format needs text, dot or mermaid");
        return EXIT_USAGE;
      }
      a->format = v;
    } else if ((flags & CLI_RUN) && strcmp(arg, "--json") == 0) {
      a->json = 1;
    } else if ((flags & CLI_RUN) &&
               (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0)) {
      a->verbose = 1;
    } else if ((flags & CLI_RUN) &&
               option_value("--state", argc, argv, &i, &v)) {
      if (v == NULL || *v == '\0') {
        cli_error(cmd->name, "--state needs a file");
        return EXIT_USAGE;
      }
      a->state_path = v;
    } else if ((flags & CLI_RUN) &&
               option_value("--target", argc, argv, &i, &v)) {
      if (v == NULL || (strcmp(v, "local") != 0 && strcmp(v, "aws") != 0)) {
        cli_error(cmd->name, "--target: expected local or aws, found \"%s\"",
                  v ? v : "");
        return EXIT_USAGE;
      }
      a->target = v;
    } else if ((flags & CLI_RUN) &&
               option_value("--region", argc, argv, &i, &v)) {
      if (v == NULL || *v == '\0') {
        cli_error(cmd->name, "--region needs a region name");
        return EXIT_USAGE;
      }
      a->region = v;
    } else {
      cli_error(cmd->name, "unknown option \"%s\" (see sagerun %s --help)", arg,
                cmd->name);
      return EXIT_USAGE;
    }
  }
  if (a->help)
    return 0;
  if (a->path == NULL && !(flags & CLI_NO_PATH)) {
    cli_error(cmd->name, "expected a workflow file (see sagerun %s --help)",
              cmd->name);
    return EXIT_USAGE;
  }
  return 0;
}

const char *cli_state_path(const struct cli_workflow_args *a)
{
  const char *env = getenv("SAGERUN_STATE");

  if (a && a->state_path)
    return a->state_path;
  return env && *env ? env : ".sagerun/state.db";
}

int cli_state_open(const char *cmd, const struct cli_workflow_args *a,
                   struct state **state)
{
  char err[512] = "";

  if (state_open(cli_state_path(a), state, err, sizeof(err)) != 0) {
    cli_error(cmd, "%s", err);
    return EXIT_FAILED;
  }
  return 0;
}

int cli_load(const struct cli_workflow_args *a, struct workflow **wf,
             struct dag **dag)
{
  struct diags diags;
  int rc;

  *wf = NULL;
  *dag = NULL;
  diags_init(&diags);
  rc = workflow_load(a->path, &a->overrides, wf, &diags);
  if (rc == 0)
    rc = dag_expand(*wf, dag, &diags);
  if (rc) {
    diags_print(&diags, stderr, diag_use_colour(stderr));
    if (diags.count == 0)
      fprintf(stderr, "%s: error: %s\n", a->path, sr_strerror(rc));
    workflow_free(*wf);
    *wf = NULL;
  }
  diags_free(&diags);
  if (rc == SR_ENOMEM)
    return EXIT_FAILED;
  return rc ? EXIT_USAGE : 0;
}
