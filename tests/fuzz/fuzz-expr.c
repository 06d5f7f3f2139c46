/* libFuzzer target: the expression parser, reference walker and
 * evaluator on arbitrary bytes, against a small fixed context. */
#include <stddef.h>
#include <stdint.h>

#include "../../runner/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_ref(void *data, const struct expr_ref *ref)
{
  *(size_t *)data += ref->count;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static json_t *ctx, *unknown;
  struct expr *e = NULL;
  struct expr_error err;
  json_t *out = NULL;
  size_t segments = 0;

  if (ctx == NULL) {
    unknown = json_object();
    ctx = json_pack("{s:{s:[i,i,i],s:s,s:{s:i}},s:{s:i},s:{s:s},s:O}", "params",
                    "years", 1979, 1980, 1981, "bucket", "b", "hp", "epochs", 2,
                    "each", "year", 1979, "run", "workflow", "w", "steps",
                    unknown);
  }
  if (expr_parse((const char *)data, size, &e, &err) != 0)
    return 0;
  expr_foreach_ref(e, count_ref, &segments);
  if (expr_eval(e, ctx, unknown, &out, &err) == 0)
    json_decref(out);
  expr_free(e);
  return 0;
}
