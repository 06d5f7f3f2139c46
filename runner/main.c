/* sagerun: git-style subcommands from one table. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "version.h"

static void usage(FILE *out)
{
  const struct cli_command *c;

  fputs("usage: sagerun [--version] [--help] COMMAND [ARGS]\n\ncommands:\n",
        out);
  for (c = cli_commands; c->name; c++)
    fprintf(out, "  %-10s %s\n", c->name, c->summary);
  fputs("\n'sagerun COMMAND --help' tells more about one command.\n"
        "Exit status: 0 ok, 1 a run failed, 2 bad usage or invalid "
        "workflow.\n",
        out);
}

int main(int argc, char **argv)
{
  const struct cli_command *c;

  if (argc < 2) {
    usage(stderr);
    return EXIT_USAGE;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("sagerun %s\n", SAGERUN_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "help") == 0) {
    if (argc < 3) {
      usage(stdout);
      return 0;
    }
    c = cli_find(argv[2]);
    if (c == NULL) {
      fprintf(stderr, "sagerun: unknown command \"%s\"\n", argv[2]);
      return EXIT_USAGE;
    }
    fputs(c->usage, stdout);
    return 0;
  }
  c = cli_find(argv[1]);
  if (c == NULL) {
    fprintf(stderr, "sagerun: unknown command \"%s\" (see sagerun --help)\n",
            argv[1]);
    return EXIT_USAGE;
  }
  return c->fn(argc - 1, argv + 1);
}
