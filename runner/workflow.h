/* A workflow as declared: the YAML file loaded, checked against
 * schemas/workflow.schema.json, its params resolved with overrides, its
 * steps typed against the registry and every expression parsed and its
 * references checked. dag.h expands it into step instances. */
#ifndef SAGERUN_WORKFLOW_H
#define SAGERUN_WORKFLOW_H

#include <jansson.h>
#include <stddef.h>

#include "diag.h"
#include "yamltree.h"

struct step_type;
struct jsonschema;

struct wf_param {
  char *name;
  json_t *schema;              /* the declaration as a JSON Schema */
  json_t *value;               /* final value, or NULL when missing */
  const struct ynode *node;    /* declaration, for errors */
  struct jsonschema *compiled; /* schema compiled */
};

/* A step type used by the workflow, with its compiled `with:` schema and
 * its declared outputs (from the schema's "x-sagerun-outputs"). */
struct wf_type {
  const struct step_type *type;
  json_t *schema_json;
  struct jsonschema *schema;
  json_t *outputs; /* borrowed from schema_json */
};

struct wf_retry {
  int attempts;     /* 1 = no retry */
  double delay;     /* seconds before the 2nd attempt */
  double factor;    /* backoff multiplier */
  double max_delay; /* 0 = no cap */
};

struct wf_step {
  char *id;                        /* as written: "train" */
  char *path;                      /* dotted from the top: "variant.train" */
  struct wf_step *parent;          /* enclosing group, or NULL */
  size_t index;                    /* position among its siblings */
  size_t ordinal;                  /* position in workflow.all */
  int finally;                     /* declared under finally: */
  const struct ynode *node;        /* the step's mapping */
  const struct ynode *with;        /* may be NULL */
  const struct ynode *for_each;    /* may be NULL */
  const struct step_type *type;    /* NULL for a group */
  const struct wf_type *wtype;     /* NULL for a group */
  struct wf_step **children;       /* a group's steps */
  struct wf_step **children_by_id; /* the same, sorted by id */
  size_t nchildren;
  struct wf_step **needs; /* resolved `needs:` and references */
  size_t nneeds, allocneeds;
  struct wf_retry retry;
  double timeout; /* seconds; 0 = none */
  int continue_on_error;
};

struct workflow {
  char *file;
  struct ydoc *doc;
  json_t *json; /* the whole file as JSON */
  const char *name;
  const char *target; /* "local" or "aws" */
  const char *region; /* may be NULL */
  int max_parallel;
  json_t *limits; /* step type -> max running, borrowed from json */
  struct wf_param *params;
  size_t nparams;
  json_t *param_values;   /* object name -> final value */
  struct wf_step **steps; /* top level, declaration order */
  size_t nsteps;
  struct wf_step **finally_steps;
  size_t nfinally;
  struct wf_step **top_by_id; /* steps and finally steps, sorted by id */
  struct wf_step **all;       /* every declared step, groups included */
  size_t nall;
  json_t *unknown;       /* the sentinel for values known only at run time */
  struct wf_type *types; /* the step types used, with their schemas */
  size_t ntypes;
};

/* Param overrides given on the command line. */
struct wf_overrides {
  const char *params_file;  /* --params-file, or NULL */
  const char **assignments; /* "-p key=value" texts */
  size_t nassignments;
  /* Values set before the file and -p (a resumed run's params): name ->
   * value. May be NULL. */
  const json_t *values;
};

/* Loads and checks path. Every problem found is added to diags; returns
 * 0 and sets *out, or SR_EINVALID (diags lists why), SR_ENOENT or
 * SR_ENOMEM. */
int workflow_load(const char *path, const struct wf_overrides *ov,
                  struct workflow **out, struct diags *diags);

/* The same, from text already in memory (fuzzing, tests). */
int workflow_load_text(const char *name, const char *text, size_t len,
                       const struct wf_overrides *ov, struct workflow **out,
                       struct diags *diags);

void workflow_free(struct workflow *wf);

/* The parsed template of a scalar (cached on the node), or NULL for a
 * scalar without expressions. */
const struct expr *workflow_expr(const struct ynode *scalar);

/* Validates value against schema and reports each failure to diags at
 * the YAML node it comes from (base is the node of value; prefix names it
 * in messages, e.g. "steps.train.with"). Values pointer-equal to unknown
 * pass. Returns the number of failures or a negative SR_ code. */
int workflow_validate_value(const char *file, const struct jsonschema *schema,
                            const json_t *value, const json_t *unknown,
                            const struct ynode *base, const char *prefix,
                            struct diags *diags);

/* Line and column of byte offset within a scalar's text, as far as the
 * scalar's style allows (exact for plain and quoted one-line scalars). */
void workflow_scalar_position(const struct ynode *scalar, size_t offset,
                              int *line, int *col);

#endif
