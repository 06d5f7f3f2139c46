/* The table of subcommands: name, function, summary and --help text. */
#include <stddef.h>

#include "cli.h"
#include "commands.h"

#define WF_OPTIONS                                                             \
  "  -p, --param KEY=VALUE  set a param (VALUE read as YAML; KEY may be\n"     \
  "                         dotted: -p hyperparameters.epochs=4)\n"            \
  "  --params-file FILE     params from a YAML mapping (-p wins)\n"            \
  "  -h, --help             this help\n"

const struct cli_command cli_commands[] = {
    {"validate", cmd_validate, "check a workflow and print a summary",
     "usage: sagerun validate WORKFLOW [options]\n\n"
     "Loads WORKFLOW, checks it against the workflow schema, the step\n"
     "types' schemas and every expression, expands fan-outs and looks for\n"
     "cycles. Prints \"ok: ...\" with a summary, or every error found as\n"
     "FILE:LINE:COLUMN: error: MESSAGE. Exit status 0 ok, 2 invalid.\n\n"
     "options:\n" WF_OPTIONS},
    {"graph", cmd_graph, "show the expanded DAG (text, dot or mermaid)",
     "usage: sagerun graph WORKFLOW [--format text|dot|mermaid] [options]\n\n"
     "Prints the DAG of step instances. text groups them in stages: steps\n"
     "of one stage run in parallel. dot is for Graphviz, mermaid for\n"
     "Markdown renderers.\n\n"
     "options:\n"
     "  --format FORMAT        text (default), dot or mermaid\n" WF_OPTIONS},
    {"run", cmd_run, "run a workflow",
     "usage: sagerun run WORKFLOW [options]\n\n"
     "Runs WORKFLOW: records a new run in the state database and runs\n"
     "every step whose dependencies are done, in parallel. Step types\n"
     "this version cannot run are refused before anything starts.\n"
     "Ctrl-C cancels running steps and runs finally:; a second Ctrl-C\n"
     "quits at once. Exit status 0 ok, 1 a step failed, 2 invalid,\n"
     "130 interrupted.\n\n"
     "options:\n"
     "  --json                 one JSON object per event on stdout\n"
     "  -v, --verbose          show the steps' log lines too\n"
     "  --state FILE           state database (default .sagerun/state.db,\n"
     "                         or SAGERUN_STATE)\n"
     "  --target local|aws     override the workflow's target\n"
     "  --region REGION        AWS region\n" WF_OPTIONS},
    {"plan", cmd_plan, "print every request a run would send",
     "usage: sagerun plan WORKFLOW [--json] [options]\n\n"
     "A dry run: the same step code runs against a recording transport,\n"
     "one step at a time, and every request a run would send is printed\n"
     "in order with the step that sends it (service, operation, method,\n"
     "URL, body). Values known only at run time are marked (known after\n"
     "Operation). Nothing is sent or created; no credentials are needed.\n\n"
     "options:\n"
     "  --json                 one JSON object per request, then a summary\n"
     "  --target local|aws     plan against the other target\n"
     "  --region REGION        AWS region (default: environment, config,\n"
     "                         or us-east-1)\n" WF_OPTIONS},
    {"resume", cmd_resume, "continue a run that did not finish",
     "usage: sagerun resume [RUN | WORKFLOW] [options]\n\n"
     "Continues RUN, the newest unfinished run of WORKFLOW, or the newest\n"
     "unfinished run. Steps that succeeded with the same inputs are\n"
     "reused; steps that were in flight re-attach to the jobs and\n"
     "endpoints they created (never a duplicate); failed steps run again\n"
     "with a new attempt; finally: steps run again. -p changes params:\n"
     "what depends on them runs again.\n\n"
     "options:\n"
     "  --json, -v, --state FILE, --target, --region: as for run\n" WF_OPTIONS},
    {"status", cmd_status, "show a run's steps and resources",
     "usage: sagerun status [RUN] [--json] [--state FILE]\n\n"
     "Shows RUN (default: the newest): each step with its status, attempt\n"
     "and error, and every resource the run created.\n"},
    {"runs", cmd_runs, "list the runs in the state database",
     "usage: sagerun runs [--json] [--state FILE]\n\n"
     "Lists runs, newest first.\n"},
    {"destroy", cmd_destroy, "delete every resource a run created",
     "usage: sagerun destroy RUN [--state FILE] [--json] [-v]\n\n"
     "Deletes every endpoint, endpoint config and model in RUN's ledger\n"
     "that still exists, and stops its training jobs that still run\n"
     "(SageMaker keeps training jobs). Idempotent: what is already gone\n"
     "is reported. The deletions are recorded in the run's ledger.\n"},
    {"explain", cmd_explain, "say why resuming a run would rerun a step",
     "usage: sagerun explain RUN STEP [-p KEY=VALUE] [--state FILE]\n\n"
     "Says whether `sagerun resume RUN` would reuse STEP (an instance id\n"
     "such as prepare[1979], or a declared step such as variant.train for\n"
     "all its instances) and, if not, why: the inputs that changed, the\n"
     "dependency that runs again, or how it ended last time.\n"},
    {"steps", cmd_steps, "list step types, or show one's inputs and outputs",
     "usage: sagerun steps [TYPE]\n\n"
     "Without TYPE, lists every step type. With TYPE, shows its inputs\n"
     "(the keys of with:, their types and defaults) and its outputs.\n"},
    {"local", cmd_local, "run the embedded AWS-compatible engine",
     "usage: sagerun local COMMAND [options]\n\n"
     "The embedded engine serves S3, SageMaker, CloudWatch Logs and\n"
     "SageMaker Runtime on one loopback port, for runs with no AWS\n"
     "account. Every request must be SigV4-signed with its credentials.\n\n"
     "commands:\n"
     "  start        start it in the background (engine.log, engine.pid)\n"
     "               and wait until its port answers\n"
     "  stop         stop it (SIGTERM) and wait\n"
     "  status       print its URL, pid and data directory (exit 1 when\n"
     "               not running)\n"
     "  logs         print engine.log (-f, --follow: keep printing)\n"
     "  reset        stop it and delete its data directory\n"
     "  credentials  print its credentials as shell exports\n\n"
     "options:\n"
     "  --data-dir DIR   data directory (default $SAGERUN_LOCAL_DIR, else\n"
     "                   ~/.local/share/sagerun/local)\n"
     "  --port N         port to serve (default 4566; 0 picks a free one,\n"
     "                   written to DATA_DIR/engine.port)\n"
     "  --foreground     start: run in this process, log to stderr\n"
     "  --bind ADDR      start: listen on ADDR (default 127.0.0.1); any\n"
     "                   other than loopback exposes the engine\n"
     "  --faults SPEC    start: inject faults, e.g.\n"
     "                   throttle=0.1,5xx=0.05,drop=0.02,latency=50ms,seed=7\n"
     "                   (rates per request; service=s3|sagemaker|logs|\n"
     "                   runtime limits them to one service)\n"
     "  -h, --help       this help\n"},
    {NULL, NULL, NULL, NULL}};
