/* Checks made by implementations nobody here wrote. */
#include <stdlib.h>
#include <unistd.h>

#include "test.h"

#define PEER_PYTHON "/usr/bin/python3"

/* python3-jsonschema: our schemas are valid 2020-12, our workflows pass
 * them, and it rejects the structure errors our validator rejects. */
TEST_TIMEOUT(peers_jsonschema_agrees, 60000);
TEST(peers_jsonschema_agrees)
{
  const char *argv[] = {PEER_PYTHON, "tests/peers/check_schemas.py",
                        test_srcdir(), NULL};
  char *out = NULL, *err = NULL;
  int status;

  if (access(PEER_PYTHON, X_OK) != 0) {
    printf("# skipped: %s not installed\n", PEER_PYTHON);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  status = test_exec(argv, NULL, &out, &err);
  if (status != 0)
    printf("# %s\n# %s\n", out ? out : "", err ? err : "");
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, "workflow ok: workflows/gdelt-distribution.yaml");
  ASSERT_CONTAINS(out, "disagreements: 0");
  free(out);
  free(err);
}

/* Runs `sagerun plan --json` on wf and checks every request with
 * botocore's parameter validation against its service model. */
static void plan_validates(const char *wf)
{
  char path[1024], *out = NULL, *err = NULL;
  const char *plan[] = {test_sagerun_bin(), "plan", wf, "--json", NULL};
  const char *check[] = {PEER_PYTHON, "tests/peers/validate_plan.py", path,
                         NULL};
  int status;

  if (access(PEER_PYTHON, X_OK) != 0) {
    printf("# skipped: %s not installed\n", PEER_PYTHON);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  status = test_exec(plan, NULL, &out, &err);
  if (status != 0)
    printf("# plan: %s\n", err);
  ASSERT_EQ(0, status);
  snprintf(path, sizeof(path), "%s/plan.jsonl", test_tmpdir());
  ASSERT_EQ(0, test_write_file(path, out));
  free(out);
  free(err);
  status = test_exec(check, NULL, &out, &err);
  if (status != 0)
    printf("# %s\n# %s\n", out, err);
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, ", 0 invalid");
  free(out);
  free(err);
}

TEST_TIMEOUT(peers_botocore_validates_plan, 60000);
TEST(peers_botocore_validates_plan)
{
  plan_validates("workflows/gdelt-distribution.yaml");
  plan_validates("workflows/quickstart.yaml");
  plan_validates("tests/data/sagemaker-steps.yaml");
}
