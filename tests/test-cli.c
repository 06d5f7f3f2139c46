/* The binary as users meet it: exit codes, --help on every command,
 * colour rules, params overrides, graph formats. */
#include <stdlib.h>
#include <string.h>

#include "../runner/cli.h"
#include "../steps/step.h"
#include "test.h"

static int run(const char *a1, const char *a2, const char *a3, const char *a4,
               const char *a5, char **out, char **err)
{
  const char *argv[7] = {test_sagerun_bin(), a1, a2, a3, a4, a5, NULL};

  return test_exec(argv, NULL, out, err);
}

TEST(cli_help_on_every_command)
{
  const struct cli_command *c;
  char *out = NULL, *err = NULL;

  for (c = cli_commands; c->name; c++) {
    ASSERT_EQ(0, run(c->name, "--help", NULL, NULL, NULL, &out, &err));
    ASSERT_CONTAINS(out, "usage: sagerun ");
    ASSERT_CONTAINS(out, c->name);
    free(out);
    free(err);
    ASSERT_EQ(0, run("help", c->name, NULL, NULL, NULL, &out, &err));
    ASSERT_CONTAINS(out, "usage: sagerun ");
    free(out);
    free(err);
  }
  ASSERT_EQ(0, run("--help", NULL, NULL, NULL, NULL, &out, &err));
  for (c = cli_commands; c->name; c++)
    ASSERT_CONTAINS(out, c->name);
  free(out);
  free(err);
  ASSERT_EQ(0, run("--version", NULL, NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(out, "sagerun ");
  free(out);
  free(err);
}

TEST(cli_bad_usage_exits_2)
{
  char *out = NULL, *err = NULL;

  ASSERT_EQ(2, run(NULL, NULL, NULL, NULL, NULL, &out, &err));
  free(out);
  free(err);
  ASSERT_EQ(2, run("frobnicate", NULL, NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(err, "unknown command \"frobnicate\"");
  free(out);
  free(err);
  ASSERT_EQ(2, run("validate", NULL, NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(err, "expected a workflow file");
  free(out);
  free(err);
  ASSERT_EQ(2, run("validate", "--bogus", "x.yaml", NULL, NULL, &out, &err));
  ASSERT_CONTAINS(err, "unknown option \"--bogus\"");
  free(out);
  free(err);
  ASSERT_EQ(2,
            run("validate", "/nonexistent.yaml", NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(err, "/nonexistent.yaml");
  ASSERT_CONTAINS(err, "No such file");
  free(out);
  free(err);
  ASSERT_EQ(2, run("graph", "workflows/gdelt-distribution.yaml", "--format",
                   "png", NULL, &out, &err));
  ASSERT_CONTAINS(err, "unknown format \"png\"");
  free(out);
  free(err);
  ASSERT_EQ(2, run("steps", "gdelt.prepar", NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(err, "did you mean \"gdelt.prepare\"");
  free(out);
  free(err);
}

TEST(cli_validate_seed)
{
  char *out = NULL, *err = NULL;

  ASSERT_EQ(0, run("validate", "workflows/gdelt-distribution.yaml", NULL, NULL,
                   NULL, &out, &err));
  ASSERT_CONTAINS(out, "ok: gdelt-distribution: ");
  ASSERT_CONTAINS(out, "23 step instances");
  free(out);
  free(err);
  /* A scaling sweep: 3 sizes x 2 distributions = 6 variants of 6 steps. */
  ASSERT_EQ(0, run("validate", "workflows/gdelt-distribution.yaml", "-p",
                   "instance_counts=[1, 2, 5]", NULL, &out, &err));
  ASSERT_CONTAINS(out, "47 step instances");
  free(out);
  free(err);
  ASSERT_EQ(0, run("validate", "workflows/quickstart.yaml", NULL, NULL, NULL,
                   &out, &err));
  ASSERT_CONTAINS(out, "ok: ");
  free(out);
  free(err);
}

TEST(cli_params_override_checked)
{
  char *out = NULL, *err = NULL, path[1024];

  ASSERT_EQ(2, run("validate", "workflows/gdelt-distribution.yaml", "-p",
                   "instance_counts=[0]", NULL, &out, &err));
  ASSERT_CONTAINS(err, "params.instance_counts.0: expected a value >= 1");
  ASSERT(out == NULL || *out == '\0');
  free(out);
  free(err);
  snprintf(path, sizeof(path), "%s/p.yaml", test_tmpdir());
  ASSERT_EQ(0, test_write_file(path, "train_years: [1990, 1991]\n"
                                     "hyperparameters: {epochs: 3}\n"));
  ASSERT_EQ(0, run("graph", "workflows/gdelt-distribution.yaml",
                   "--params-file", path, NULL, &out, &err));
  ASSERT_CONTAINS(out, "prepare[1991]");
  ASSERT(strstr(out, "prepare[1979]") == NULL);
  free(out);
  free(err);
  /* -p wins over the file; a dotted key sets one field of an object. */
  ASSERT_EQ(0, test_write_file(path, "train_years: [1990]\n"));
  {
    const char *argv[] = {test_sagerun_bin(),
                          "graph",
                          "workflows/gdelt-distribution.yaml",
                          "--params-file",
                          path,
                          "-p",
                          "train_years=[1995]",
                          "-p",
                          "hyperparameters.epochs=7",
                          NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, "prepare[1995]");
    ASSERT(strstr(out, "prepare[1990]") == NULL);
    free(out);
    free(err);
  }
  snprintf(path, sizeof(path), "%s/bad.yaml", test_tmpdir());
  ASSERT_EQ(0, test_write_file(path, "train_years: [1990]\nyeers: 1\n"));
  ASSERT_EQ(2, run("validate", "workflows/gdelt-distribution.yaml",
                   "--params-file", path, NULL, &out, &err));
  ASSERT_CONTAINS(err, "bad.yaml:2:1: error: unknown param \"yeers\"");
  free(out);
  free(err);
}

TEST(cli_graph_formats)
{
  char *out = NULL, *err = NULL;

  ASSERT_EQ(0, run("graph", "workflows/gdelt-distribution.yaml", NULL, NULL,
                   NULL, &out, &err));
  /* The two variants are parallel branches: same stage, no edge between
   * them. */
  ASSERT_CONTAINS(out, "stage 3 (in parallel)\n"
                       "  variant[5,ShardedByS3Key].train");
  ASSERT_CONTAINS(out, "  variant[5,FullyReplicated].train");
  ASSERT_CONTAINS(out, "<- prepare[*] (5)");
  ASSERT_CONTAINS(out, "finally (always runs");
  free(out);
  free(err);
  ASSERT_EQ(0, run("graph", "workflows/gdelt-distribution.yaml", "--format",
                   "dot", NULL, &out, &err));
  ASSERT_CONTAINS(out, "digraph \"gdelt-distribution\" {");
  ASSERT_CONTAINS(out, "label=\"variant[5,ShardedByS3Key]\"");
  ASSERT_CONTAINS(out, " -> ");
  free(out);
  free(err);
  ASSERT_EQ(0, run("graph", "workflows/gdelt-distribution.yaml",
                   "--format=mermaid", NULL, NULL, &out, &err));
  ASSERT_CONTAINS(out, "flowchart LR\n");
  ASSERT_CONTAINS(out, "subgraph ");
  ASSERT_CONTAINS(out, " --> ");
  free(out);
  free(err);
}

TEST(cli_no_colour_unless_terminal)
{
  char *out = NULL, *err = NULL;

  /* stderr is a file here: no escape codes, whatever NO_COLOR says. */
  ASSERT_EQ(2, run("validate", "tests/invalid/step-unknown-type.yaml", NULL,
                   NULL, NULL, &out, &err));
  ASSERT(strchr(err, '\033') == NULL);
  ASSERT_CONTAINS(err, "tests/invalid/step-unknown-type.yaml:7:11: error: ");
  free(out);
  free(err);
}

TEST(cli_steps)
{
  char *out = NULL, *err = NULL;

  ASSERT_EQ(0, run("steps", NULL, NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(out, "sagemaker.training_job");
  ASSERT_CONTAINS(out, "gdelt.prepare");
  free(out);
  free(err);
  ASSERT_EQ(
      0, run("steps", "sagemaker.training_job", NULL, NULL, NULL, &out, &err));
  ASSERT_CONTAINS(out, "inputs (with:)");
  ASSERT_CONTAINS(out, "instance_count");
  ASSERT_CONTAINS(out, "outputs (steps.ID.outputs.NAME)");
  ASSERT_CONTAINS(out, "model_artifacts");
  free(out);
  free(err);
}

TEST(cli_run_refuses_unimplemented_steps)
{
  const struct step_type *const *t;
  char *out = NULL, *err = NULL, path[1024], text[512];

  /* A step type this build cannot run is refused before anything
   * starts; with every type runnable there is nothing to refuse. */
  for (t = step_registry; *t; t++)
    if ((*t)->exec == NULL)
      break;
  if (*t == NULL) {
    printf("# every step type is runnable\n");
    return;
  }
  snprintf(path, sizeof(path), "%s/wf.yaml", test_tmpdir());
  snprintf(text, sizeof(text),
           "name: t\nsteps:\n  a: {uses: core.echo}\n  b: {uses: %s}\n",
           (*t)->name);
  ASSERT_EQ(0, test_write_file(path, text));
  ASSERT_EQ(2, run("run", path, "--state", "/nonexistent/state.db", NULL, &out,
                   &err));
  ASSERT_CONTAINS(err, "which this version of sagerun cannot run yet");
  ASSERT_CONTAINS(err, "nothing was started");
  free(out);
  free(err);
}
