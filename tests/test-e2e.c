/* The runner against the embedded engine, end to end: the quickstart
 * study runs and reports; a runner killed while its training jobs run is
 * resumed, re-attaches to the jobs it started (the engine's own list shows
 * exactly one job per variant) and leaves no endpoint behind. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define AWS_CLI "/usr/bin/aws"

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

  nanosleep(&ts, NULL);
}

/* Each test has its own engine (data dir under the test's tmpdir, any
 * free port), stopped at the end. */
static void engine_env(char *dir, size_t len)
{
  snprintf(dir, len, "%s/engine", test_tmpdir());
  setenv("SAGERUN_LOCAL_DIR", dir, 1);
}

static void engine_stop(void)
{
  const char *argv[] = {test_sagerun_bin(), "local", "stop", NULL};
  char *out = NULL, *err = NULL;

  test_exec(argv, NULL, &out, &err);
  free(out);
  free(err);
}

/* The engine's own answer to `aws sagemaker LIST`, as text. */
static char *engine_list(const char *what)
{
  const char *creds[] = {test_sagerun_bin(), "local", "credentials", NULL};
  char *out = NULL, *err = NULL, *line, empty[1024];
  const char *argv[8];

  ASSERT_EQ(0, test_exec(creds, NULL, &out, &err));
  /* "export NAME=value" lines into this process's environment. */
  for (line = out; line && *line;) {
    char *nl = strchr(line, '\n'), *eq;
    if (nl)
      *nl = '\0';
    if (strncmp(line, "export ", 7) == 0 && (eq = strchr(line, '='))) {
      *eq = '\0';
      setenv(line + 7, eq + 1, 1);
    }
    line = nl ? nl + 1 : NULL;
  }
  free(out);
  free(err);
  snprintf(empty, sizeof(empty), "%s/empty", test_tmpdir());
  test_write_file(empty, "");
  setenv("AWS_CONFIG_FILE", empty, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", empty, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  /* Debian's AWS CLI (2.9) predates AWS_ENDPOINT_URL: pass it. */
  argv[0] = AWS_CLI;
  argv[1] = "sagemaker";
  argv[2] = what;
  argv[3] = "--output";
  argv[4] = "json";
  argv[5] = "--endpoint-url";
  argv[6] = getenv("AWS_ENDPOINT_URL");
  argv[7] = NULL;
  ASSERT(argv[6] != NULL);
  ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
  free(err);
  return out;
}

static int count(const char *text, const char *needle)
{
  int n = 0;

  while (text && (text = strstr(text, needle)) != NULL) {
    n++;
    text += strlen(needle);
  }
  return n;
}

TEST_TIMEOUT(e2e_quickstart_on_local_engine, 300000);
TEST(e2e_quickstart_on_local_engine)
{
  char dir[1024], state[1024], *out = NULL, *err = NULL;
  int status;

  engine_env(dir, sizeof(dir));
  snprintf(state, sizeof(state), "%s/state.db", test_tmpdir());
  {
    const char *argv[] = {
        test_sagerun_bin(), "run", "workflows/quickstart.yaml",
        "--state",          state, NULL};
    status = test_exec(argv, NULL, &out, &err);
  }
  if (status != 0)
    printf("# %s\n# %s\n", out, err);
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, "quickstart: done: 19 succeeded");
  ASSERT_CONTAINS(out, "speedup");
  ASSERT_CONTAINS(out, "report: reports/");
  free(out);
  free(err);
  if (access(AWS_CLI, X_OK) == 0) {
    out = engine_list("list-endpoints");
    ASSERT_EQ(0, count(out, "EndpointName"));
    free(out);
  }
  engine_stop();
}

TEST_TIMEOUT(e2e_resume_reattaches_training, 300000);
TEST(e2e_resume_reattaches_training)
{
  char dir[1024], state[1024], log[1024], *out = NULL, *err = NULL, *text;
  int pid, status, i;

  if (access(AWS_CLI, X_OK) != 0) {
    printf("# skipped: %s not installed\n", AWS_CLI);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  engine_env(dir, sizeof(dir));
  /* Jobs stay in Starting for a while, as instances take time to launch:
   * the runner is killed while they are in flight. */
  setenv("SAGERUN_LOCAL_LAUNCH_SECONDS", "3", 1);
  snprintf(state, sizeof(state), "%s/state.db", test_tmpdir());
  snprintf(log, sizeof(log), "%s/helper-0.log", test_tmpdir());
  {
    const char *argv[] = {
        test_sagerun_bin(), "run", "workflows/quickstart.yaml",
        "--state",          state, NULL};
    pid = test_helper_spawn(argv);
    ASSERT(pid > 0);
  }
  for (i = 0; i < 600; i++) {
    text = test_read_file(log, NULL);
    if (text && count(text, "started    variant[") >= 2) {
      free(text);
      break;
    }
    free(text);
    sleep_ms(50);
  }
  ASSERT(i < 600);
  sleep_ms(300);
  ASSERT_EQ(0, kill(pid, SIGKILL));
  waitpid(pid, &status, 0);
  {
    const char *argv[] = {test_sagerun_bin(), "resume", "--state", state, NULL};
    status = test_exec(argv, NULL, &out, &err);
  }
  if (status != 0)
    printf("# %s\n# %s\n", out, err);
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, "reused     prepare[1979]");
  ASSERT_CONTAINS(out, "quickstart: done:");
  free(out);
  free(err);
  /* One training job per variant, whatever the kill interrupted. */
  out = engine_list("list-training-jobs");
  ASSERT_EQ(2, count(out, "\"TrainingJobName\""));
  free(out);
  out = engine_list("list-endpoints");
  ASSERT_EQ(0, count(out, "EndpointName"));
  free(out);
  engine_stop();
}
