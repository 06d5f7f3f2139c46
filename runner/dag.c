/* Expansion of a declared workflow into step instances.
 *
 * Phase 1 walks the declaration depth first, multiplying out for_each and
 * recording, for every group instance (a scope), which range of nodes
 * each child produced: instances of one declared step in one scope are
 * contiguous. Phase 2 turns each declared dependency into node indices
 * through those ranges, so a sibling reference costs O(1) lookups even
 * with thousands of instances. Phase 3 looks for cycles. */
#include "dag.h"

#include <stdlib.h>
#include <string.h>

#include "../steps/step.h"
#include "buf.h"
#include "error.h"
#include "expr.h"
#include "jsonschema.h"

struct range {
  size_t begin, end;
};

struct dag_scope {
  const struct dag_scope *parent;
  const struct wf_step *group; /* NULL at the top */
  char *label;                 /* "variant[5,ShardedByS3Key]" or "" */
  json_t *each;
  struct range *ranges; /* per child (top: steps, then finally steps) */
};

struct expander {
  struct dag *dag;
  struct workflow *wf;
  struct diags *diags;
  json_t *run;
  unsigned char *reported; /* per wf_step ordinal: `with:` already failed */
  int failed;
};

const char *dag_scope_label(const struct dag_scope *scope)
{
  return scope ? scope->label : "";
}

const struct dag_scope *dag_scope_parent(const struct dag_scope *scope)
{
  return scope ? scope->parent : NULL;
}

static size_t slot_of(const struct workflow *wf, const struct wf_step *s)
{
  if (s->parent == NULL && s->finally)
    return wf->nsteps + s->index;
  return s->index;
}

/* ---- Evaluating YAML subtrees ------------------------------------------ */

struct eval {
  const struct workflow *wf;
  json_t *ctx;
  struct diags *diags;
  int rc;
};

static json_t *eval_node(struct eval *ev, const struct ynode *n)
{
  const struct expr *e;
  struct expr_error err;
  json_t *v = NULL;
  size_t i;
  int rc;

  switch (n->kind) {
  case YNODE_SCALAR:
    e = workflow_expr(n);
    if (e == NULL)
      return ynode_scalar_json(n);
    rc = expr_eval(e, ev->ctx, ev->wf->unknown, &v, &err);
    if (rc == 0)
      return v;
    if (rc == SR_ENOMEM) {
      ev->rc = rc;
      return NULL;
    }
    {
      int line, col;
      workflow_scalar_position(n, err.offset, &line, &col);
      diags_add(ev->diags, ev->wf->file, line, col, "%s", err.message);
    }
    if (ev->rc == 0)
      ev->rc = SR_EINVALID;
    return json_incref(ev->wf->unknown);
  case YNODE_SEQUENCE:
    v = json_array();
    for (i = 0; v && i < n->count; i++) {
      json_t *item = eval_node(ev, n->items[i]);
      if (item == NULL || json_array_append_new(v, item) != 0) {
        json_decref(v);
        v = NULL;
      }
    }
    break;
  case YNODE_MAPPING:
    v = json_object();
    for (i = 0; v && i < n->count; i++) {
      json_t *item = eval_node(ev, n->pairs[i].value);
      if (item == NULL ||
          json_object_setn_new(v, n->pairs[i].key->text, n->pairs[i].key->len,
                               item) != 0) {
        json_decref(v);
        v = NULL;
      }
    }
    break;
  }
  if (v == NULL && ev->rc == 0)
    ev->rc = SR_ENOMEM;
  return v;
}

int dag_eval_node(const struct workflow *wf, const struct ynode *node,
                  json_t *ctx, json_t **out, struct diags *diags)
{
  struct eval ev = {wf, ctx, diags, 0};

  *out = NULL;
  if (node == NULL) {
    *out = json_object();
    return *out ? 0 : SR_ENOMEM;
  }
  *out = eval_node(&ev, node);
  if (ev.rc) {
    json_decref(*out);
    *out = NULL;
  }
  return ev.rc;
}

/* ---- Phase 1: instances ------------------------------------------------- */

static json_t *context_new(struct expander *x, json_t *each)
{
  json_t *ctx = json_object();

  if (ctx == NULL || json_object_set(ctx, "params", x->wf->param_values) ||
      json_object_set(ctx, "each", each) ||
      json_object_set(ctx, "run", x->run) ||
      json_object_set(ctx, "steps", x->wf->unknown)) {
    json_decref(ctx);
    return NULL;
  }
  return ctx;
}

/* The text of a fan-out value in an instance id. */
static int label_add(struct buf *b, const json_t *v)
{
  char *s;
  int rc;

  if (json_is_string(v))
    return buf_add(b, json_string_value(v), json_string_length(v));
  s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  if (s == NULL)
    return SR_ENOMEM;
  rc = buf_adds(b, s);
  free(s);
  return rc;
}

static int node_append(struct dag *dag, struct dag_node **out)
{
  if (dag->count == dag->alloc) {
    size_t cap = dag->alloc ? dag->alloc * 2 : 64;
    struct dag_node *p = realloc(dag->nodes, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    dag->nodes = p;
    dag->alloc = cap;
  }
  *out = &dag->nodes[dag->count++];
  memset(*out, 0, sizeof(**out));
  return 0;
}

static int scope_new(struct dag *dag, const struct dag_scope *parent,
                     const struct wf_step *group, const char *label,
                     json_t *each, size_t nslots, struct dag_scope **out)
{
  struct dag_scope *sc = calloc(1, sizeof(*sc));

  *out = sc;
  if (sc == NULL)
    return SR_ENOMEM;
  if (dag->nscopes == dag->allocscopes) {
    size_t cap = dag->allocscopes ? dag->allocscopes * 2 : 16;
    struct dag_scope **p = realloc(dag->scopes, cap * sizeof(*p));
    if (p == NULL) {
      free(sc);
      *out = NULL;
      return SR_ENOMEM;
    }
    dag->scopes = p;
    dag->allocscopes = cap;
  }
  dag->scopes[dag->nscopes++] = sc;
  sc->parent = parent;
  sc->group = group;
  sc->label = strdup(label);
  sc->each = json_incref(each);
  sc->ranges = calloc(nslots ? nslots : 1, sizeof(*sc->ranges));
  if (sc->label == NULL || sc->ranges == NULL)
    return SR_ENOMEM;
  return 0;
}

static int expand_steps(struct expander *x, struct dag_scope *sc,
                        struct wf_step **steps, size_t n);

/* Checks a leaf instance's `with:` against its type's schema, once per
 * declared step: the first failing instance speaks for all. */
static int with_validate(struct expander *x, const struct dag_node *node)
{
  const struct wf_step *s = node->step;
  struct buf prefix;
  int n;

  if (s->wtype == NULL || s->wtype->schema == NULL || x->reported[s->ordinal])
    return 0;
  buf_init(&prefix, 1 << 16);
  if (s->with)
    buf_addf(&prefix, "%s.with", node->id);
  else
    buf_addf(&prefix, "%s: with", node->id);
  n = workflow_validate_value(x->wf->file, s->wtype->schema, node->with,
                              x->wf->unknown, s->with ? s->with : s->node,
                              buf_str(&prefix), x->diags);
  buf_free(&prefix);
  if (n < 0)
    return n;
  if (n > 0) {
    x->reported[s->ordinal] = 1;
    x->failed = 1;
  }
  return 0;
}

static int expand_instance(struct expander *x, struct dag_scope *sc,
                           const struct wf_step *s, json_t *each,
                           const char *suffix)
{
  struct buf id;
  int rc;

  buf_init(&id, 1 << 16);
  if (sc->label[0])
    buf_addf(&id, "%s.", sc->label);
  buf_addf(&id, "%s%s", s->id, suffix);
  if (buf_len(&id) == 0) {
    buf_free(&id);
    return SR_ENOMEM;
  }
  if (s->type == NULL) {
    struct dag_scope *child;
    rc = scope_new(x->dag, sc, s, buf_str(&id), each, s->nchildren, &child);
    if (rc == 0)
      rc = expand_steps(x, child, s->children, s->nchildren);
  } else {
    struct dag_node *node;
    json_t *ctx;
    rc = node_append(x->dag, &node);
    if (rc)
      goto out;
    node->id = buf_detach(&id, NULL);
    node->step = s;
    node->each = json_incref(each);
    node->scope = sc;
    if (node->id == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
    if (s->finally)
      x->dag->nfinally++;
    ctx = context_new(x, each);
    if (ctx == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
    rc = dag_eval_node(x->wf, s->with, ctx, &node->with, x->diags);
    json_decref(ctx);
    if (rc == SR_EINVALID) {
      x->failed = 1;
      rc = 0;
    } else if (rc == 0) {
      rc = with_validate(x, node);
    }
  }
out:
  buf_free(&id);
  return rc;
}

/* Evaluates a for_each: one array per key, checked. Returns the arrays
 * in *lists (new references) or reports and returns SR_EINVALID. */
static int for_each_lists(struct expander *x, const struct wf_step *s,
                          json_t *each, json_t **lists)
{
  const struct ynode *fe = s->for_each;
  json_t *ctx = context_new(x, each);
  size_t i;
  int rc = 0;

  if (ctx == NULL)
    return SR_ENOMEM;
  for (i = 0; i < fe->count; i++) {
    const struct ynode *v = fe->pairs[i].value;
    int r = dag_eval_node(x->wf, v, ctx, &lists[i], x->diags);
    if (r == SR_ENOMEM) {
      rc = r;
      break;
    }
    if (r) {
      rc = SR_EINVALID;
      continue;
    }
    if (!json_is_array(lists[i])) {
      diags_add(x->diags, x->wf->file, v->line, v->col,
                "for_each \"%s\" of step \"%s\": expected a list, found %s",
                fe->pairs[i].key->text, s->path,
                json_is_object(lists[i])   ? "an object"
                : json_is_string(lists[i]) ? "a string"
                : json_is_null(lists[i])   ? "null"
                                           : "a scalar");
      rc = SR_EINVALID;
    }
  }
  json_decref(ctx);
  return rc;
}

static int label_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fan-out values must give distinct ids. */
static int labels_check(struct expander *x, const struct wf_step *s,
                        char **labels, size_t n)
{
  char **sorted;
  size_t i;

  if (n < 2)
    return 0;
  sorted = malloc(n * sizeof(*sorted));
  if (sorted == NULL)
    return SR_ENOMEM;
  memcpy(sorted, labels, n * sizeof(*sorted));
  qsort(sorted, n, sizeof(*sorted), label_cmp);
  for (i = 1; i < n; i++)
    if (strcmp(sorted[i], sorted[i - 1]) == 0) {
      diags_add(x->diags, x->wf->file, s->for_each->line, s->for_each->col,
                "for_each of step \"%s\" gives instance %s%s twice: expected "
                "distinct values",
                s->path, s->id, sorted[i]);
      x->failed = 1;
      break;
    }
  free(sorted);
  return 0;
}

static int expand_step(struct expander *x, struct dag_scope *sc,
                       const struct wf_step *s)
{
  json_t **lists = NULL;
  size_t *pos = NULL, nkeys, total = 1, i, k;
  char **labels = NULL;
  int rc = 0;

  if (s->for_each == NULL)
    return expand_instance(x, sc, s, sc->each, "");
  x->dag->nfanouts++;
  nkeys = s->for_each->count;
  lists = calloc(nkeys, sizeof(*lists));
  pos = calloc(nkeys, sizeof(*pos));
  if (lists == NULL || pos == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  rc = for_each_lists(x, s, sc->each, lists);
  if (rc == SR_EINVALID) {
    x->failed = 1;
    rc = 0;
    goto out;
  }
  if (rc)
    goto out;
  for (k = 0; k < nkeys; k++)
    total *= json_array_size(lists[k]);
  if (total == 0)
    goto out;
  labels = calloc(total, sizeof(*labels));
  if (labels == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  /* The product in the order written: the last key varies fastest. */
  for (i = 0; i < total && rc == 0; i++) {
    json_t *each = json_deep_copy(sc->each);
    struct buf suffix;
    buf_init(&suffix, 1 << 16);
    buf_addc(&suffix, '[');
    for (k = 0; k < nkeys && each; k++) {
      json_t *v = json_array_get(lists[k], pos[k]);
      if (k)
        buf_addc(&suffix, ',');
      label_add(&suffix, v);
      json_object_set(each, s->for_each->pairs[k].key->text, v);
    }
    buf_addc(&suffix, ']');
    if (each == NULL || buf_len(&suffix) == 0) {
      rc = SR_ENOMEM;
    } else {
      labels[i] = strdup(buf_str(&suffix));
      rc = labels[i] ? expand_instance(x, sc, s, each, buf_str(&suffix))
                     : SR_ENOMEM;
    }
    json_decref(each);
    buf_free(&suffix);
    for (k = nkeys; k-- > 0;) {
      if (++pos[k] < json_array_size(lists[k]))
        break;
      pos[k] = 0;
    }
  }
  if (rc == 0)
    rc = labels_check(x, s, labels, total);
out:
  for (k = 0; lists && k < nkeys; k++)
    json_decref(lists[k]);
  for (i = 0; labels && i < total; i++)
    free(labels[i]);
  free(labels);
  free(lists);
  free(pos);
  return rc;
}

static int expand_steps(struct expander *x, struct dag_scope *sc,
                        struct wf_step **steps, size_t n)
{
  size_t i;
  int rc;

  for (i = 0; i < n; i++) {
    size_t slot = slot_of(x->wf, steps[i]);
    sc->ranges[slot].begin = x->dag->count;
    rc = expand_step(x, sc, steps[i]);
    sc->ranges[slot].end = x->dag->count;
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- Phase 2: dependencies ---------------------------------------------- */

static int in_chain(const struct dag_scope *sc, const struct wf_step *group)
{
  for (; sc; sc = sc->parent)
    if (sc->group == group)
      return 1;
  return 0;
}

static const struct dag_scope *chain_find(const struct dag_scope *sc,
                                          const struct wf_step *group)
{
  for (; sc; sc = sc->parent)
    if (sc->group == group)
      return sc;
  return NULL;
}

static int is_within(const struct wf_step *s, const struct wf_step *t)
{
  for (; s; s = s->parent)
    if (s == t)
      return 1;
  return 0;
}

static int deps_add(struct dag_node *node, size_t dep, size_t *alloc)
{
  if (node->ndeps == *alloc) {
    size_t cap = *alloc ? *alloc * 2 : 4;
    size_t *p = realloc(node->deps, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    node->deps = p;
    *alloc = cap;
  }
  node->deps[node->ndeps++] = dep;
  return 0;
}

static int size_cmp(const void *a, const void *b)
{
  size_t x = *(const size_t *)a, y = *(const size_t *)b;

  return x < y ? -1 : x > y;
}

int dag_instances_of(const struct dag *dag, const struct dag_node *node,
                     const struct wf_step *t, size_t **out, size_t *n,
                     int *as_list, const struct wf_step **root)
{
  const struct wf_step *a = t;
  const struct dag_scope *sc;
  struct range r;
  size_t j, k = 0;

  *out = NULL;
  *n = 0;
  /* The reference starts at the outermost ancestor of t that is visible
   * from node: a sibling, or one in an enclosing scope. */
  while (a->parent && !in_chain(node->scope, a->parent))
    a = a->parent;
  sc = chain_find(node->scope, a->parent);
  r = sc->ranges[slot_of(dag->wf, a)];
  if (root)
    *root = a;
  if (as_list) {
    const struct wf_step *p;
    *as_list = 0;
    for (p = t; p; p = p->parent) {
      if (p->for_each)
        *as_list = 1;
      if (p == a)
        break;
    }
  }
  *out = malloc((r.end - r.begin + 1) * sizeof(**out));
  if (*out == NULL)
    return SR_ENOMEM;
  for (j = r.begin; j < r.end; j++)
    if (is_within(dag->nodes[j].step, t))
      (*out)[k++] = j;
  *n = k;
  return 0;
}

/* Adds the nodes of declared dependency t, as seen from node. */
static int deps_add_step(struct expander *x, struct dag_node *node,
                         const struct wf_step *t, size_t *alloc)
{
  size_t *idx = NULL, n, j;
  int rc;

  rc = dag_instances_of(x->dag, node, t, &idx, &n, NULL, NULL);
  for (j = 0; rc == 0 && j < n; j++)
    rc = deps_add(node, idx[j], alloc);
  free(idx);
  return rc;
}

/* Whether any dependency so far lies inside group instance sc. */
static int deps_inside(const struct dag *dag, const struct dag_node *node,
                       const struct dag_scope *sc)
{
  size_t i;
  const struct dag_scope *d;

  for (i = 0; i < node->ndeps; i++)
    for (d = dag->nodes[node->deps[i]].scope; d; d = d->parent)
      if (d == sc)
        return 1;
  return 0;
}

static int deps_resolve(struct expander *x, size_t idx)
{
  struct dag *dag = x->dag;
  struct dag_node *node = &dag->nodes[idx];
  const struct wf_step *s = node->step;
  const struct dag_scope *sc = node->scope;
  size_t i, alloc = 0, w;
  int rc;

  for (i = 0; i < s->nneeds; i++) {
    rc = deps_add_step(x, node, s->needs[i], &alloc);
    if (rc)
      return rc;
  }
  /* A group's dependencies hold for all its steps. Only the steps that
   * wait for nothing else in the group instance take them on: the others
   * wait for those, so the order is the same with fewer edges. */
  for (s = s->parent; s; s = s->parent, sc = sc->parent) {
    if (deps_inside(dag, node, sc))
      continue;
    for (i = 0; i < s->nneeds; i++) {
      rc = deps_add_step(x, node, s->needs[i], &alloc);
      if (rc)
        return rc;
    }
  }
  if (node->ndeps < 2)
    return 0;
  qsort(node->deps, node->ndeps, sizeof(*node->deps), size_cmp);
  for (i = 1, w = 1; i < node->ndeps; i++)
    if (node->deps[i] != node->deps[w - 1])
      node->deps[w++] = node->deps[i];
  node->ndeps = w;
  return 0;
}

/* ---- Phase 3: cycles ---------------------------------------------------- */

/* Iterative DFS (deep graphs must not exhaust the C stack). Reports the
 * first cycle found, whole, at its first step's declaration. */
static int cycles_check(struct expander *x)
{
  struct dag *dag = x->dag;
  unsigned char *colour = calloc(dag->count ? dag->count : 1, 1);
  size_t *stack = malloc((dag->count + 1) * sizeof(*stack));
  size_t *edge = malloc((dag->count + 1) * sizeof(*edge));
  size_t root, depth, i;
  int rc = 0;

  if (colour == NULL || stack == NULL || edge == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  for (root = 0; root < dag->count; root++) {
    if (colour[root])
      continue;
    depth = 0;
    stack[depth] = root;
    edge[depth] = 0;
    colour[root] = 1;
    while (1) {
      size_t n = stack[depth];
      if (edge[depth] < dag->nodes[n].ndeps) {
        size_t m = dag->nodes[n].deps[edge[depth]++];
        if (colour[m] == 0) {
          colour[m] = 1;
          stack[++depth] = m;
          edge[depth] = 0;
        } else if (colour[m] == 1) {
          struct buf msg;
          const struct wf_step *s = dag->nodes[m].step;
          size_t first = depth;
          while (stack[first] != m)
            first--;
          buf_init(&msg, 1 << 16);
          buf_addf(&msg, "dependency cycle: %s", dag->nodes[m].id);
          /* The stack runs from dependent to dependency; print it in
           * the order of "needs". */
          for (i = first + 1; i <= depth; i++)
            buf_addf(&msg, " -> %s", dag->nodes[stack[i]].id);
          buf_addf(&msg,
                   " -> %s: expected steps that do not depend on "
                   "themselves",
                   dag->nodes[m].id);
          diags_add(x->diags, x->wf->file, s->node->line, s->node->col, "%s",
                    buf_str(&msg));
          buf_free(&msg);
          x->failed = 1;
          goto out;
        }
      } else {
        colour[n] = 2;
        if (depth == 0)
          break;
        depth--;
      }
    }
  }
out:
  free(colour);
  free(stack);
  free(edge);
  return rc;
}

/* ---- Driver ------------------------------------------------------------- */

static json_t *run_info(struct workflow *wf)
{
  json_t *run = json_object();

  if (run == NULL)
    return NULL;
  json_object_set(run, "id", wf->unknown);
  json_object_set_new(run, "workflow", json_string(wf->name));
  json_object_set_new(run, "target", json_string(wf->target));
  if (wf->region)
    json_object_set_new(run, "region", json_string(wf->region));
  else
    json_object_set(run, "region", wf->unknown);
  json_object_set(run, "started_at", wf->unknown);
  return run;
}

int dag_expand(struct workflow *wf, struct dag **out, struct diags *diags)
{
  struct expander x;
  struct dag_scope *top;
  json_t *no_each = NULL;
  size_t i;
  int rc;

  *out = NULL;
  memset(&x, 0, sizeof(x));
  x.wf = wf;
  x.diags = diags;
  x.dag = calloc(1, sizeof(*x.dag));
  x.reported = calloc(wf->nall ? wf->nall : 1, 1);
  x.run = run_info(wf);
  no_each = json_object();
  if (x.dag == NULL || x.reported == NULL || x.run == NULL || no_each == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  x.dag->wf = wf;
  rc = scope_new(x.dag, NULL, NULL, "", no_each, wf->nsteps + wf->nfinally,
                 &top);
  if (rc == 0)
    rc = expand_steps(&x, top, wf->steps, wf->nsteps);
  if (rc == 0)
    rc = expand_steps(&x, top, wf->finally_steps, wf->nfinally);
  for (i = 0; rc == 0 && i < x.dag->count; i++)
    rc = deps_resolve(&x, i);
  if (rc == 0)
    rc = cycles_check(&x);
  if (rc == 0 && x.failed)
    rc = SR_EINVALID;
out:
  json_decref(no_each);
  json_decref(x.run);
  free(x.reported);
  if (rc) {
    dag_free(x.dag);
    return rc;
  }
  *out = x.dag;
  return 0;
}

void dag_free(struct dag *dag)
{
  size_t i;

  if (dag == NULL)
    return;
  for (i = 0; i < dag->count; i++) {
    free(dag->nodes[i].id);
    json_decref(dag->nodes[i].each);
    json_decref(dag->nodes[i].with);
    free(dag->nodes[i].deps);
  }
  free(dag->nodes);
  for (i = 0; i < dag->nscopes; i++) {
    free(dag->scopes[i]->label);
    json_decref(dag->scopes[i]->each);
    free(dag->scopes[i]->ranges);
    free(dag->scopes[i]);
  }
  free(dag->scopes);
  free(dag);
}
