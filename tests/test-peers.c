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
