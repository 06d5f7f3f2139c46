/* libFuzzer target: the workflow loader and expander on arbitrary bytes.
 * Any input must give a workflow or errors, never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>

#include "../../runner/dag.h"
#include "../../runner/diag.h"
#include "../../runner/workflow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;

  diags_init(&diags);
  if (workflow_load_text("fuzz.yaml", (const char *)data, size, NULL, &wf,
                         &diags) == 0) {
    dag_expand(wf, &dag, &diags);
    dag_free(dag);
    workflow_free(wf);
  }
  diags_free(&diags);
  return 0;
}
