/* What the subcommands share: exit codes, option parsing for a workflow
 * and its params, and loading plus expanding with errors printed. */
#ifndef SAGERUN_CLI_H
#define SAGERUN_CLI_H

#include <stddef.h>

#include "dag.h"
#include "workflow.h"

#define EXIT_OK 0
#define EXIT_FAILED 1 /* a run failed */
#define EXIT_USAGE 2  /* bad usage or invalid workflow */

struct cli_command {
  const char *name;
  int (*fn)(int argc, char **argv);
  const char *summary;
  const char *usage; /* full --help text */
};

/* The table of subcommands, NULL-terminated (runner/main.c). */
extern const struct cli_command cli_commands[];

/* Options every workflow command takes. */
struct cli_workflow_args {
  const char *path;
  struct wf_overrides overrides;
  const char *format; /* --format (CLI_FORMAT) */
  /* CLI_RUN */
  int json;               /* --json: one JSON object per line */
  int verbose;            /* --verbose: step logs too */
  const char *state_path; /* --state FILE */
  const char *target;     /* --target local|aws */
  const char *region;     /* --region */
  int help;
};

#define CLI_FORMAT 1  /* accepts --format */
#define CLI_RUN 2     /* accepts --json, --verbose, --state, --target */
#define CLI_NO_PATH 4 /* the positional argument is optional */

/* Parses argv[1..] into a; flags says which options beyond -p and
 * --params-file the command takes. Prints a usage error and returns
 * EXIT_USAGE on bad options, else 0. a->overrides.assignments must be
 * freed by the caller (free()). */
int cli_parse_workflow_args(const struct cli_command *cmd, int argc,
                            char **argv, int flags,
                            struct cli_workflow_args *a);

/* The state database: --state, SAGERUN_STATE, or .sagerun/state.db. */
const char *cli_state_path(const struct cli_workflow_args *a);

struct state;
/* Opens it for command cmd; on failure says why on stderr and returns
 * EXIT_FAILED, else 0. */
int cli_state_open(const char *cmd, const struct cli_workflow_args *a,
                   struct state **state);

/* Loads and expands; on failure prints the errors to stderr and returns
 * EXIT_USAGE (or EXIT_FAILED when out of memory). */
int cli_load(const struct cli_workflow_args *a, struct workflow **wf,
             struct dag **dag);

/* "sagerun CMD: message" on stderr, lowercase, no final period. */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

const struct cli_command *cli_find(const char *name);

#endif
