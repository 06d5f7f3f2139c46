/* A compact JSON Schema validator over jansson.
 *
 * Dialects: draft 2020-12 (the default, and what sagerun's own schemas
 * use) and draft-07 (selected by "$schema"; used to run the official test
 * suite, which Debian ships for drafts 3-7 only). Keywords: type, enum,
 * const, properties, patternProperties, additionalProperties, required,
 * propertyNames, minProperties, maxProperties, dependentRequired,
 * dependentSchemas (draft-07: dependencies), items, prefixItems (draft-07:
 * array-form items and additionalItems), contains, minContains,
 * maxContains, minItems, maxItems, uniqueItems, minimum, maximum,
 * exclusiveMinimum, exclusiveMaximum, multipleOf, minLength, maxLength
 * (in code points), pattern, allOf, anyOf, oneOf, not, if/then/else,
 * $ref to "#", "#/json/pointer" and "#anchor"/$id within the same
 * document, $defs (draft-07: definitions), format (annotation only).
 * Other keywords are ignored, as the specification allows. */
#ifndef SAGERUN_JSONSCHEMA_H
#define SAGERUN_JSONSCHEMA_H

#include <jansson.h>

struct jsonschema;

/* One validation failure. instance_path is a JSON pointer ("" for the
 * root, "/steps/train/with/epochs"), keyword_path the schema keyword
 * that failed ("/properties/steps/.../minimum"), message a lowercase
 * sentence without a final period saying what was expected and what was
 * found, e.g. "expected integer, found string \"five\"". */
struct jsonschema_error {
  const char *instance_path;
  const char *keyword_path;
  const char *message;
};

/* Called once per failure; the strings live only during the call.
 * Return nonzero to stop validating. */
typedef int (*jsonschema_error_cb)(void *data,
                                   const struct jsonschema_error *err);

/* Compiles schema (borrowed; the compiled schema keeps its own reference)
 * and checks it is well formed (known types, valid regexes, resolvable
 * $refs). Returns 0 and sets *out, or a negative SR_ code and writes a
 * reason to errbuf (size errlen). */
int jsonschema_compile(json_t *schema, struct jsonschema **out,
                       char *errbuf, size_t errlen);

/* Validates instance. Any node pointer-equal to `unknown` (may be NULL)
 * stands for a value known only at run time and is valid against every
 * schema. Reports each failure through cb (may be NULL) and returns the
 * number of failures (0 = valid), or a negative SR_ code on internal
 * error. Failures inside anyOf/oneOf/not branches are summarised as one
 * failure of that keyword unless exactly one branch is "closest" (the
 * branch whose "type"/"const" matches), whose failures are reported
 * instead; this keeps messages useful for users. */
int jsonschema_validate(const struct jsonschema *schema,
                        const json_t *instance, const json_t *unknown,
                        jsonschema_error_cb cb, void *data);

void jsonschema_free(struct jsonschema *schema);

#endif
