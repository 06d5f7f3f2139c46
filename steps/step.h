/* The step plugin interface. A step type is one const struct in the table
 * of steps/registry.c; its `with:` schema, inputs and outputs are described
 * once, in schemas/steps/NAME.json (embedded in the binary): the schema's
 * "x-sagerun-outputs" object names each output with a type and a
 * description. */
#ifndef SAGERUN_STEP_H
#define SAGERUN_STEP_H

/* Bumped whenever struct step_type changes shape. */
#define STEP_ABI_VERSION 1

struct step_exec; /* execution functions: defined by the execution engine */

struct step_type {
  int abi;             /* STEP_ABI_VERSION */
  const char *name;    /* "sagemaker.training_job" */
  const char *summary; /* one line for `sagerun steps` */
  int version;         /* bumped when behaviour changes; part of resume's
                          fingerprint */
  const struct step_exec *exec; /* NULL: not runnable yet */
};

/* All step types, sorted by name, NULL-terminated. */
extern const struct step_type *const step_registry[];

/* The step type called name, or NULL. */
const struct step_type *step_registry_find(const char *name);

/* The registered name closest to name (edit distance at most 3), or NULL:
 * for "did you mean". */
const char *step_registry_suggest(const char *name);

/* Path of a step type's schema among the embedded files:
 * "schemas/steps/NAME.json", written into out (size outlen). */
void step_schema_path(const struct step_type *t, char *out, size_t outlen);

#endif
