/* The expanded DAG: one node per step instance. Fan-outs are multiplied
 * out, `with:` is resolved as far as it can be before the run (values of
 * step outputs stay wf->unknown) and checked against the step type's
 * schema, dependencies are made concrete and cycles reported. */
#ifndef SAGERUN_DAG_H
#define SAGERUN_DAG_H

#include <jansson.h>
#include <stddef.h>

#include "diag.h"
#include "workflow.h"

struct dag_scope;

struct dag_node {
  char *id;                   /* "variant[5,ShardedByS3Key].train" */
  const struct wf_step *step; /* its declaration */
  json_t *each;               /* fan-out values visible here (object) */
  json_t *with;               /* resolved as far as known before the run */
  size_t *deps;               /* nodes this one waits for, ascending */
  size_t ndeps;
  const struct dag_scope *scope; /* the group instance it belongs to */
};

struct dag {
  struct workflow *wf; /* borrowed */
  struct dag_node *nodes;
  size_t count, alloc;
  size_t nfinally; /* nodes of finally: steps */
  size_t nfanouts; /* declared steps and groups with for_each */
  struct dag_scope **scopes;
  size_t nscopes, allocscopes;
};

/* Expands wf. Errors (fan-out over a non-list, expression errors, schema
 * errors in `with:`, cycles) go to diags; returns 0 and sets *out, or
 * SR_EINVALID or SR_ENOMEM. */
int dag_expand(struct workflow *wf, struct dag **out, struct diags *diags);

void dag_free(struct dag *dag);

/* The id prefix of the group instance a node belongs to ("" at the top,
 * "variant[5,ShardedByS3Key]" inside a group instance). */
const char *dag_scope_label(const struct dag_scope *scope);
const struct dag_scope *dag_scope_parent(const struct dag_scope *scope);

/* The instances of declared step t as node sees them (indices into
 * dag->nodes, malloc'ed into *out). *as_list (may be NULL) is 1 when a
 * reference gives a list, one value per instance: t or a group between t
 * and *root is fanned out. *root (may be NULL) is the declared step whose
 * id a reference from node starts with (t itself, or the group holding
 * it). Returns 0 or SR_ENOMEM. */
int dag_instances_of(const struct dag *dag, const struct dag_node *node,
                     const struct wf_step *t, size_t **out, size_t *n,
                     int *as_list, const struct wf_step **root);

/* Evaluates a `with:`-like YAML subtree to JSON against ctx (see
 * expr_eval). Errors go to diags at the failing expression; returns 0,
 * SR_EINVALID or SR_ENOMEM. */
int dag_eval_node(const struct workflow *wf, const struct ynode *node,
                  json_t *ctx, json_t **out, struct diags *diags);

#endif
