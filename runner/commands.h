/* The subcommands, one file each (runner/cmd_NAME.c). */
#ifndef SAGERUN_COMMANDS_H
#define SAGERUN_COMMANDS_H

int cmd_destroy(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_graph(int argc, char **argv);
int cmd_local(int argc, char **argv); /* local/cmd_local.c */
int cmd_plan(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_runs(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_steps(int argc, char **argv);
int cmd_validate(int argc, char **argv);

#endif
