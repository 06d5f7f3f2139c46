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

#include <jansson.h>

#include "test.h"

#define AWS_CLI "/usr/bin/aws"

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

  nanosleep(&ts, NULL);
}

static char workflow[4096];

/* Each test has its own engine (data dir under the test's tmpdir, any
 * free port, stopped at the end) and works in its own directory (reports
 * are written relative to it), with the quickstart by absolute path
 * (test_srcdir() is absolute: run-tests makes it so). */
static void engine_env(char *dir, size_t len)
{
  snprintf(workflow, sizeof(workflow), "%s/workflows/quickstart.yaml",
           test_srcdir());
  snprintf(dir, len, "%s/engine", test_tmpdir());
  setenv("SAGERUN_LOCAL_DIR", dir, 1);
  ASSERT_EQ(0, chdir(test_tmpdir()));
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

/* The report agrees with the steps' own outputs in the state store: both
 * variants trained with their distribution type, have a training time,
 * billable seconds and a finite MSE. */
static void check_report_against_state(const char *state)
{
  const char *argv[] = {test_sagerun_bin(), "status", "--state", state,
                        "--json",           NULL};
  char *out = NULL, *err = NULL, path[4096], *text;
  json_t *status, *steps, *row, *report, *variants, *v;
  const char *dists[] = {"ShardedByS3Key", "FullyReplicated"};
  size_t i, k;

  ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
  status = json_loads(out, 0, NULL);
  ASSERT(status != NULL);
  free(out);
  free(err);
  steps = json_object_get(status, "steps");
  /* The report step's outputs name its files. */
  report = NULL;
  json_array_foreach(steps, i, row)
  {
    if (strcmp(json_string_value(json_object_get(row, "instance")), "report") ==
        0)
      snprintf(path, sizeof(path), "%s",
               json_string_value(
                   json_object_get(json_object_get(row, "outputs"), "json")));
  }
  text = test_read_file(path, NULL);
  ASSERT(text != NULL);
  report = json_loads(text, 0, NULL);
  free(text);
  ASSERT(report != NULL);
  variants = json_object_get(report, "variants");
  ASSERT_EQ(2, json_array_size(variants));
  for (k = 0; k < 2; k++) {
    char train[128], evaluate[128];
    json_t *train_out = NULL, *eval_out = NULL, *train_in = NULL;
    snprintf(train, sizeof(train), "variant[2,%s].train", dists[k]);
    snprintf(evaluate, sizeof(evaluate), "variant[2,%s].evaluate", dists[k]);
    json_array_foreach(steps, i, row)
    {
      const char *id = json_string_value(json_object_get(row, "instance"));
      if (strcmp(id, train) == 0) {
        train_out = json_object_get(row, "outputs");
        train_in = json_object_get(row, "inputs");
      } else if (strcmp(id, evaluate) == 0) {
        eval_out = json_object_get(row, "outputs");
      }
    }
    ASSERT(train_out && eval_out && train_in);
    /* The train channel went out with this variant's distribution. */
    ASSERT_STR_EQ(
        dists[k],
        json_string_value(json_object_get(
            json_object_get(json_object_get(train_in, "channels"), "train"),
            "distribution")));
    v = NULL;
    json_array_foreach(variants, i, row)
    {
      const char *job = json_string_value(json_object_get(row, "training_job"));

      if (job && strcmp(job, json_string_value(
                                 json_object_get(train_out, "name"))) == 0)
        v = row;
    }
    ASSERT(v != NULL);
    /* Rows are named by the variant's short name ("ShardedByS3Key-2"). */
    ASSERT_STR_EQ(json_string_value(json_object_get(train_out, "base_name")),
                  json_string_value(json_object_get(v, "name")));
    ASSERT(strncmp(json_string_value(json_object_get(v, "name")), dists[k],
                   strlen(dists[k])) == 0);
    ASSERT(json_number_value(json_object_get(v, "training_seconds")) > 0);
    ASSERT(json_number_value(json_object_get(v, "billable_seconds")) > 0);
    ASSERT(json_number_value(json_object_get(v, "mse")) > 0);
    ASSERT(json_number_value(json_object_get(v, "mse")) < 1e6);
    ASSERT(json_number_value(json_object_get(v, "mse")) ==
           json_number_value(json_object_get(eval_out, "mse")));
    ASSERT_STR_EQ("Completed",
                  json_string_value(json_object_get(train_out, "status")));
  }
  json_decref(report);
  json_decref(status);
}

TEST_TIMEOUT(e2e_quickstart_on_local_engine, 300000);
TEST(e2e_quickstart_on_local_engine)
{
  char dir[1024], state[1024], *out = NULL, *err = NULL;
  int status;

  engine_env(dir, sizeof(dir));
  snprintf(state, sizeof(state), "%s/state.db", test_tmpdir());
  {
    const char *argv[] = {test_sagerun_bin(), "run", workflow,
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
  check_report_against_state(state);
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
    const char *argv[] = {test_sagerun_bin(), "run", workflow,
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

/* MSE of each variant from the run's report.json, in order. */
static void report_mse(const char *run_out, double mse[2])
{
  const char *at = strstr(run_out, "\nreport: ");
  char path[1024], *text;
  json_t *doc, *variants;
  size_t n;

  ASSERT(at != NULL);
  at++;
  n = strcspn(at + 8, ",\n");
  snprintf(path, sizeof(path), "%.*s", (int)n, at + 8);
  /* report.md -> report.json beside it. */
  ASSERT(n > 3);
  memcpy(path + strlen(path) - 2, "json", 5);
  text = test_read_file(path, NULL);
  if (text == NULL)
    printf("# no %s\n", path);
  ASSERT(text != NULL);
  doc = json_loads(text, 0, NULL);
  ASSERT(doc != NULL);
  variants = json_object_get(doc, "variants");
  ASSERT_EQ(2, json_array_size(variants));
  mse[0] =
      json_number_value(json_object_get(json_array_get(variants, 0), "mse"));
  mse[1] =
      json_number_value(json_object_get(json_array_get(variants, 1), "mse"));
  json_decref(doc);
  free(text);
}

TEST_TIMEOUT(e2e_faults_same_outputs, 300000);
TEST(e2e_faults_same_outputs)
{
  char dir[1024], state[1024], *out = NULL, *err = NULL;
  double clean[2], faulty[2];
  int status;

  engine_env(dir, sizeof(dir));
  snprintf(state, sizeof(state), "%s/clean.db", test_tmpdir());
  {
    const char *argv[] = {test_sagerun_bin(), "run", workflow,
                          "--state",          state, NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
  }
  report_mse(out, clean);
  free(out);
  free(err);
  engine_stop();
  /* The same study against an engine that throttles, fails and drops. */
  snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "-faults");
  setenv("SAGERUN_LOCAL_DIR", dir, 1);
  {
    const char *argv[] = {test_sagerun_bin(),
                          "local",
                          "start",
                          "--port",
                          "0",
                          "--faults",
                          "throttle=0.1,5xx=0.05,drop=0.02,seed=7",
                          NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    free(out);
    free(err);
  }
  snprintf(state, sizeof(state), "%s/faulty.db", test_tmpdir());
  {
    const char *argv[] = {test_sagerun_bin(), "run", workflow,
                          "--state",          state, NULL};
    status = test_exec(argv, NULL, &out, &err);
  }
  if (status != 0)
    printf("# %s\n# %s\n", out, err);
  ASSERT_EQ(0, status);
  report_mse(out, faulty);
  free(out);
  free(err);
  engine_stop();
  ASSERT(clean[0] > 0 && clean[1] > 0);
  ASSERT(clean[0] == faulty[0] && clean[1] == faulty[1]);
}
