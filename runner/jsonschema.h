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
 * Other keywords are ignored, as the specification allows (so are
 * unevaluatedProperties/unevaluatedItems: not supported).
 *
 * Patterns are ECMA-262 translated to POSIX extended regexes: \d \w \s
 * (and negations), \uXXXX, (?:...) and lazy quantifiers work; lookaround,
 * back references, \b and \p{...} fail to compile with SR_ENOTSUP, as do
 * $refs to other documents (nothing is fetched). */
#ifndef SAGERUN_JSONSCHEMA_H
#define SAGERUN_JSONSCHEMA_H

#include <jansson.h>

struct jsonschema;

/* One validation failure. instance_path is a JSON pointer ("" for the
 * root, "/steps/train/with/epochs"; for an unexpected property, the
 * property itself), keyword_path the location of the failing keyword in
 * the schema document ("/properties/steps/.../minimum"; behind a $ref,
 * the location in the referenced subschema, e.g. "/$defs/step/..."),
 * message a lowercase sentence without a final period saying what was
 * expected and what was found, e.g. "expected integer, found string
 * \"five\"" (found values are cut to about 40 bytes with "..."). */
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
int jsonschema_compile(json_t *schema, struct jsonschema **out, char *errbuf,
                       size_t errlen);

/* Validates instance. Any node pointer-equal to `unknown` (may be NULL)
 * stands for a value known only at run time and is valid against every
 * schema; it must be a node of its own, not a jansson singleton such as
 * json_null(). Nothing fails merely because of it: a "not", a second
 * matching oneOf branch or a maxContains match that holds only thanks to
 * `unknown` is not a failure, and an "if" it decides applies neither
 * "then" nor "else". Reports each failure through cb (may be NULL) and
 * returns the number of failures reported (0 = valid; when cb stops the
 * run, those reported so far), or a negative SR_ code on internal error.
 * More than 64 $refs in a row without descending into the instance (a
 * schema that loops) is reported as a failure of that $ref.
 *
 * Failures inside anyOf/oneOf/not branches are summarised as one failure
 * of that keyword ("expected one of 2 alternatives, found object", or
 * "expected string or array, found integer 5" when every branch has a
 * "type" and none fits) unless exactly one branch is "closest", whose
 * failures are reported instead; this keeps messages useful for users. A
 * branch is close when its "type" (if any) matches and each of its
 * "properties" constrained by "const" or "enum" (a discriminator) matches
 * or, if not "required", is absent; $ref targets and allOf members of the
 * branch must be close too. Among several close branches the one with a
 * discriminator present wins, else the one with all its "required"
 * properties present, if either is unique. */
int jsonschema_validate(const struct jsonschema *schema, const json_t *instance,
                        const json_t *unknown, jsonschema_error_cb cb,
                        void *data);

void jsonschema_free(struct jsonschema *schema);

/* The JSON Schema type name of v ("integer" only for JSON integers,
 * "number" for reals, "null", ...). */
const char *jsonschema_type_name(const json_t *v);

#endif
