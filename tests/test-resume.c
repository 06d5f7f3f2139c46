/* Crash safety with real processes: a runner killed with SIGKILL is
 * resumed; what succeeded is reused, the rest runs; a second runner on a
 * live run is refused. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static void wait_for_file(const char *path)
{
  struct timespec ts = {0, 20 * 1000 * 1000};
  struct stat st;
  int i;

  for (i = 0; i < 1000 && stat(path, &st) != 0; i++)
    nanosleep(&ts, NULL);
  ASSERT(stat(path, &st) == 0);
}

static int count_lines(const char *path)
{
  char *text = test_read_file(path, NULL);
  int n = 0;
  char *p;

  for (p = text; p && *p; p++)
    n += *p == '\n';
  free(text);
  return n;
}

/* The workflow: `once` appends a line to a file each time it runs; `slow`
 * marks that it started, then sleeps; `after` needs both. */
static void write_workflow(const char *dir, char *wf, size_t len,
                           const char *sleep_s)
{
  char text[4096];

  snprintf(wf, len, "%s/wf.yaml", dir);
  snprintf(text, sizeof(text),
           "name: crash\nsteps:\n"
           "  once:\n    uses: core.command\n"
           "    with: {run: [sh, -c, 'echo ran >> %s/once.log; echo 42']}\n"
           "  slow:\n    uses: core.command\n    needs: [once]\n"
           "    with: {run: [sh, -c, 'touch %s/slow.started; sleep %s; "
           "echo done']}\n"
           "  after:\n    uses: core.echo\n"
           "    with: {values: {a: \"${{ steps.once.outputs.stdout }}\", b: "
           "\"${{ steps.slow.outputs.stdout }}\"}}\n",
           dir, dir, sleep_s);
  ASSERT_EQ(0, test_write_file(wf, text));
}

TEST_TIMEOUT(resume_after_sigkill, 60000);
TEST(resume_after_sigkill)
{
  const char *dir = test_tmpdir();
  char wf[1024], state[1024], started[1024], log[1024];
  char *out = NULL, *err = NULL;
  int pid, status;

  write_workflow(dir, wf, sizeof(wf), "30");
  snprintf(state, sizeof(state), "%s/state/state.db", dir);
  snprintf(started, sizeof(started), "%s/slow.started", dir);
  snprintf(log, sizeof(log), "%s/once.log", dir);
  {
    const char *argv[] = {test_sagerun_bin(), "run", wf,
                          "--state",          state, NULL};
    pid = test_helper_spawn(argv);
    ASSERT(pid > 0);
  }
  wait_for_file(started);
  ASSERT_EQ(0, kill(pid, SIGKILL));
  waitpid(pid, &status, 0);
  ASSERT_EQ(1, count_lines(log));

  /* Faster this time: the resumed slow step runs again to the end. */
  write_workflow(dir, wf, sizeof(wf), "0");
  {
    const char *argv[] = {test_sagerun_bin(), "resume", "--state", state, NULL};
    status = test_exec(argv, NULL, &out, &err);
  }
  if (status != 0)
    printf("# %s\n# %s\n", out, err);
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, "reused     once");
  ASSERT_CONTAINS(out, "succeeded  slow");
  ASSERT_CONTAINS(out, "succeeded  after");
  /* once ran exactly once across both runners. */
  ASSERT_EQ(1, count_lines(log));
  free(out);
  free(err);
  {
    const char *argv[] = {test_sagerun_bin(), "status", "--state", state, NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, ": succeeded");
    free(out);
    free(err);
  }
}

TEST_TIMEOUT(resume_refuses_second_runner, 60000);
TEST(resume_refuses_second_runner)
{
  const char *dir = test_tmpdir();
  char wf[1024], state[1024], started[1024];
  char *out = NULL, *err = NULL;
  int pid;

  write_workflow(dir, wf, sizeof(wf), "30");
  snprintf(state, sizeof(state), "%s/state/state.db", dir);
  snprintf(started, sizeof(started), "%s/slow.started", dir);
  {
    const char *argv[] = {test_sagerun_bin(), "run", wf,
                          "--state",          state, NULL};
    pid = test_helper_spawn(argv);
    ASSERT(pid > 0);
  }
  wait_for_file(started);
  {
    const char *argv[] = {test_sagerun_bin(), "resume", wf,
                          "--state",          state,    NULL};
    ASSERT_EQ(1, test_exec(argv, NULL, &out, &err));
  }
  ASSERT_CONTAINS(err, "is being run by process");
  free(out);
  free(err);
}

TEST(resume_with_changed_param_reruns_dependents)
{
  const char *dir = test_tmpdir();
  char wf[1024], state[1024], text[2048];
  char *out = NULL, *err = NULL;

  snprintf(wf, sizeof(wf), "%s/p.yaml", dir);
  snprintf(state, sizeof(state), "%s/state.db", dir);
  snprintf(text, sizeof(text),
           "name: p\nparams:\n  x: 1\nsteps:\n"
           "  fixed: {uses: core.echo, with: {values: {v: 1}}}\n"
           "  uses_x: {uses: core.echo, with: {values: {v: \"${{ params.x "
           "}}\"}}}\n"
           "  fails: {uses: core.command, needs: [uses_x], with: {run: "
           "[false]}}\n");
  ASSERT_EQ(0, test_write_file(wf, text));
  {
    const char *argv[] = {test_sagerun_bin(), "run", wf,
                          "--state",          state, NULL};
    ASSERT_EQ(1, test_exec(argv, NULL, &out, &err));
    free(out);
    free(err);
  }
  {
    const char *argv[] = {
        test_sagerun_bin(), "resume", "--state", state, "-p", "x=2", NULL};
    ASSERT_EQ(1, test_exec(argv, NULL, &out, &err));
  }
  ASSERT_CONTAINS(out, "reused     fixed");
  ASSERT_CONTAINS(out, "succeeded  uses_x");
  free(out);
  free(err);
}

TEST(resume_explain_says_why)
{
  const char *dir = test_tmpdir();
  char wf[1024], state[1024], text[2048], *run_id, *nl;
  char *out = NULL, *err = NULL;

  snprintf(wf, sizeof(wf), "%s/e.yaml", dir);
  snprintf(state, sizeof(state), "%s/state.db", dir);
  snprintf(text, sizeof(text),
           "name: e\nparams:\n  x: 1\nsteps:\n"
           "  a: {uses: core.echo, with: {values: {v: \"${{ params.x }}\"}}}\n"
           "  b: {uses: core.echo, with: {values: {w: \"${{ steps.a.outputs.v "
           "}}\"}}}\n");
  ASSERT_EQ(0, test_write_file(wf, text));
  {
    const char *argv[] = {test_sagerun_bin(), "run", wf,
                          "--state",          state, NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(), "runs", "--state", state, NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    run_id = strchr(out, '\n') + 1;
    nl = strchr(run_id, ' ');
    *nl = '\0';
    run_id = strdup(run_id);
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(), "explain", run_id, "b",
                          "--state",          state,     NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, "b would be reused");
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(),
                          "explain",
                          run_id,
                          "a",
                          "--state",
                          state,
                          "-p",
                          "x=5",
                          NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, "a would run again: its inputs changed");
    ASSERT_CONTAINS(out, "with.values.v: 1 -> 5");
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(),
                          "explain",
                          run_id,
                          "b",
                          "--state",
                          state,
                          "-p",
                          "x=5",
                          NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, "it depends on a, which runs again");
    free(out);
    free(err);
  }
  free(run_id);
}

/* A state file whose pages are damaged (not something an interrupted
 * write leaves: SQLite's WAL rolls those back) is refused with a clear
 * error. Before, a query over the damaged page failed, the failure read
 * as "no row", and `runs` showed an empty history. */
TEST(resume_refuses_damaged_state)
{
  const char *dir = test_tmpdir();
  char wf[1024], state[1024], junk[512];
  char *out = NULL, *err = NULL;
  FILE *f;
  size_t i;

  snprintf(wf, sizeof(wf), "%s/d.yaml", dir);
  snprintf(state, sizeof(state), "%s/state.db", dir);
  ASSERT_EQ(0, test_write_file(wf, "name: d\nsteps:\n"
                                   "  a: {uses: core.echo, with: {values: "
                                   "{v: 1}}}\n"));
  {
    const char *argv[] = {test_sagerun_bin(), "run", wf,
                          "--state",          state, NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    free(out);
    free(err);
  }
  /* Page 2 (4096-byte pages): the first table's root. */
  for (i = 0; i < sizeof(junk); i++)
    junk[i] = (char)(i * 37 + 11);
  f = fopen(state, "r+b");
  ASSERT(f != NULL);
  ASSERT_EQ(0, fseek(f, 4096, SEEK_SET));
  ASSERT_EQ(sizeof(junk), fwrite(junk, 1, sizeof(junk), f));
  ASSERT_EQ(0, fclose(f));
  {
    const char *argv[] = {test_sagerun_bin(), "runs", "--state", state, NULL};
    ASSERT(test_exec(argv, NULL, &out, &err) != 0);
  }
  ASSERT_CONTAINS(err, "is damaged (SQLite quick_check:");
  free(out);
  free(err);
  {
    const char *argv[] = {test_sagerun_bin(), "resume", "--state", state, NULL};
    ASSERT(test_exec(argv, NULL, &out, &err) != 0);
  }
  ASSERT_CONTAINS(err, "is damaged");
  free(out);
  free(err);
}
