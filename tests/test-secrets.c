/* Secrets never appear in output, logs, plans, error messages or files
 * sagerun writes: credentials are planted in the environment, a run
 * signs real requests with them (against the test server, which refuses
 * them), and everything sagerun printed or wrote is searched. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"

#define PLANTED_SECRET "PlantedSecret0123456789/abcdefghij+KLMNOP"
#define PLANTED_TOKEN "PlantedSessionToken0123456789XYZ"
#define PLANTED_KEY "AKIAPLANTEDKEY000001"

static void assert_clean(const char *what, const char *text)
{
  if (text == NULL)
    return;
  if (strstr(text, PLANTED_SECRET) || strstr(text, PLANTED_TOKEN) ||
      strstr(text, "Signature=") || strstr(text, "AWS4-HMAC-SHA256 "))
    test_fail(__FILE__, __LINE__, "a secret leaked into %s", what);
}

/* Every file below dir, recursively. */
static void assert_tree_clean(const char *dir)
{
  DIR *d = opendir(dir);
  struct dirent *de;
  char path[4096];
  struct stat st;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    if (stat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode)) {
      assert_tree_clean(path);
    } else {
      size_t len = 0, i;
      char *text = test_read_file(path, &len);
      /* Binary files (SQLite) may hold NULs: search byte-wise. */
      for (i = 0; text && i + sizeof(PLANTED_SECRET) - 1 <= len; i++)
        if (memcmp(text + i, PLANTED_SECRET, sizeof(PLANTED_SECRET) - 1) == 0 ||
            memcmp(text + i, PLANTED_TOKEN, sizeof(PLANTED_TOKEN) - 1) == 0)
          test_fail(__FILE__, __LINE__, "a secret leaked into %s", path);
      free(text);
    }
  }
  closedir(d);
}

TEST_TIMEOUT(secrets_never_leak, 120000);
TEST(secrets_never_leak)
{
  const char *dir = test_tmpdir();
  char wf[1024], state[1024], url[256], empty[1024];
  char *out = NULL, *err = NULL;
  int port = test_http_server_start();

  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  snprintf(empty, sizeof(empty), "%s/empty", dir);
  ASSERT_EQ(0, test_write_file(empty, ""));
  setenv("AWS_ACCESS_KEY_ID", PLANTED_KEY, 1);
  setenv("AWS_SECRET_ACCESS_KEY", PLANTED_SECRET, 1);
  setenv("AWS_SESSION_TOKEN", PLANTED_TOKEN, 1);
  setenv("AWS_ENDPOINT_URL", url, 1);
  setenv("AWS_REGION", "us-east-1", 1);
  setenv("AWS_CONFIG_FILE", empty, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", empty, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_MAX_ATTEMPTS", "1", 1);
  snprintf(wf, sizeof(wf), "%s/wf.yaml", dir);
  snprintf(state, sizeof(state), "%s/state/state.db", dir);
  ASSERT_EQ(
      0, test_write_file(wf, "name: leak\ntarget: aws\nsteps:\n"
                             "  model:\n    uses: sagemaker.model\n    with:\n"
                             "      model_data: s3://bkt/m.tar.gz\n"
                             "      role: arn:aws:iam::123456789012:role/r\n"));
  {
    const char *argv[] = {
        test_sagerun_bin(), "run", wf, "--state", state, "-v", NULL};
    /* The test server answers POST / with an error: the step fails. */
    ASSERT_EQ(1, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, "failed");
    assert_clean("run stdout", out);
    assert_clean("run stderr", err);
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(), "run", wf, "--state", state,
                          "--json",           NULL};
    ASSERT_EQ(1, test_exec(argv, NULL, &out, &err));
    assert_clean("run --json", out);
    assert_clean("run --json stderr", err);
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(), "plan", wf, NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    ASSERT_CONTAINS(out, "CreateModel");
    assert_clean("plan", out);
    free(out);
    free(err);
  }
  {
    const char *argv[] = {test_sagerun_bin(), "status", "--state", state,
                          "--json",           NULL};
    ASSERT_EQ(0, test_exec(argv, NULL, &out, &err));
    assert_clean("status", out);
    free(out);
    free(err);
  }
  snprintf(state, sizeof(state), "%s/state", dir);
  assert_tree_clean(state);
}
