/* Loading a workflow: YAML to a checked declaration. The order matters
 * for good errors: YAML syntax, then the workflow schema (structure), then
 * params, step types, expressions and references. Structure errors stop
 * the load, since later checks rely on the structure; within each later
 * phase every error is collected. */
#include "workflow.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../steps/step.h"
#include "buf.h"
#include "embedded.h"
#include "error.h"
#include "expr.h"
#include "jsonschema.h"
#include "suggest.h"

#define WORKFLOW_SCHEMA "schemas/workflow.schema.json"
#define MAX_PARALLEL_DEFAULT 16

struct loader {
  struct workflow *wf;
  struct diags *diags;
  int failed;
};

static void error_at(struct loader *l, const struct ynode *n, const char *fmt,
                     ...) __attribute__((format(printf, 3, 4)));

static void error_at(struct loader *l, const struct ynode *n, const char *fmt,
                     ...)
{
  va_list ap;

  va_start(ap, fmt);
  diags_vadd(l->diags, l->wf->file, n ? n->line : 0, n ? n->col : 0, fmt, ap);
  va_end(ap);
  l->failed = 1;
}

/* Appends ` (did you mean "X"?)` to msg when suggest has a candidate. */
static void add_hint(struct buf *msg, const struct suggest *s)
{
  if (suggest_best(s))
    buf_addf(msg, " (did you mean \"%s\"?)", suggest_best(s));
}

/* ---- Schema validation with positions ---------------------------------- */

struct schema_report {
  struct diags *diags;
  const struct ynode *base; /* node of the validated instance */
  const char *prefix;       /* dotted path of base, for the message */
  const char *file;         /* file for positions (a params file, say) */
};

/* "/steps/train/with" -> "steps.train.with", appended to out. */
static void pointer_to_dotted(struct buf *out, const char *prefix,
                              const char *pointer)
{
  const char *p = pointer;

  buf_adds(out, prefix);
  while (*p == '/') {
    p++;
    if (buf_len(out) > 0)
      buf_addc(out, '.');
    while (*p && *p != '/') {
      if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
        buf_addc(out, p[1] == '0' ? '~' : '/');
        p += 2;
      } else {
        buf_addc(out, *p++);
      }
    }
  }
}

/* For errors about one property ("unexpected property "x""), the key's
 * own position is the helpful one. */
static const struct ynode *property_key(const struct ynode *n,
                                        const char *message)
{
  const char *q = strstr(message, "property \"");
  char name[256];
  size_t len;
  const struct ynode *key;

  if (q == NULL || n->kind != YNODE_MAPPING)
    return n;
  q += strlen("property \"");
  len = strcspn(q, "\"");
  if (len >= sizeof(name))
    return n;
  memcpy(name, q, len);
  name[len] = '\0';
  key = ynode_get_key(n, name);
  return key ? key : n;
}

static int on_schema_error(void *data, const struct jsonschema_error *e)
{
  struct schema_report *r = data;
  const struct ynode *n = ynode_at_pointer(r->base, e->instance_path);
  struct buf msg;

  if (n && strstr(e->message, "unexpected property"))
    n = property_key(n, e->message);
  buf_init(&msg, 8192);
  pointer_to_dotted(&msg, r->prefix, e->instance_path);
  if (buf_len(&msg) > 0)
    buf_adds(&msg, ": ");
  buf_adds(&msg, e->message);
  diags_add(r->diags, r->file, n ? n->line : 0, n ? n->col : 0, "%s",
            buf_str(&msg));
  buf_free(&msg);
  return 0;
}

int workflow_validate_value(const char *file, const struct jsonschema *schema,
                            const json_t *value, const json_t *unknown,
                            const struct ynode *base, const char *prefix,
                            struct diags *diags)
{
  struct schema_report r = {diags, base, prefix, file};

  return jsonschema_validate(schema, value, unknown, on_schema_error, &r);
}

/* Compiles an embedded schema; a failure here is a bug in the tree. */
static int schema_load(struct loader *l, const char *path, json_t **json,
                       struct jsonschema **out)
{
  const struct embedded_file *f = embedded_find(path);
  json_error_t jerr;
  char err[256];
  int rc;

  *json = NULL;
  *out = NULL;
  if (f == NULL) {
    diags_add(l->diags, NULL, 0, 0, "internal: schema %s is not built in",
              path);
    return SR_ENOENT;
  }
  *json = json_loadb(f->data, f->len, 0, &jerr);
  if (*json == NULL) {
    diags_add(l->diags, NULL, 0, 0, "internal: schema %s: %s", path, jerr.text);
    return SR_EINVAL;
  }
  rc = jsonschema_compile(*json, out, err, sizeof(err));
  if (rc) {
    diags_add(l->diags, NULL, 0, 0, "internal: schema %s: %s", path, err);
    json_decref(*json);
    *json = NULL;
  }
  return rc;
}

/* ---- Params ------------------------------------------------------------ */

static struct wf_param *param_find(struct workflow *wf, const char *name)
{
  size_t i;

  for (i = 0; i < wf->nparams; i++)
    if (strcmp(wf->params[i].name, name) == 0)
      return &wf->params[i];
  return NULL;
}

static void param_unknown(struct loader *l, const char *file, int line, int col,
                          const char *name)
{
  struct suggest s;
  struct buf msg;
  size_t i;

  suggest_init(&s, name, 3);
  for (i = 0; i < l->wf->nparams; i++)
    suggest_add(&s, l->wf->params[i].name);
  buf_init(&msg, 4096);
  buf_addf(&msg,
           "unknown param \"%s\": expected one declared under params:", name);
  add_hint(&msg, &s);
  diags_add(l->diags, file, line, col, "%s", buf_str(&msg));
  buf_free(&msg);
  l->failed = 1;
}

/* Declarations: a mapping with "type" or "default" is a small schema; any
 * other value is a default whose type is the param's type. */
static int params_declare(struct loader *l, const struct ynode *params)
{
  struct workflow *wf = l->wf;
  size_t i;
  int rc;

  if (params == NULL || params->kind != YNODE_MAPPING)
    return 0;
  wf->params = calloc(params->count ? params->count : 1, sizeof(*wf->params));
  if (wf->params == NULL)
    return SR_ENOMEM;
  for (i = 0; i < params->count; i++) {
    struct wf_param *p = &wf->params[wf->nparams++];
    const struct ynode *decl = params->pairs[i].value;
    json_t *v = NULL;
    char err[256];

    p->name = strdup(params->pairs[i].key->text);
    p->node = params->pairs[i].key;
    if (p->name == NULL)
      return SR_ENOMEM;
    rc = ynode_to_json(wf->doc, decl, &v, l->diags);
    if (rc)
      return rc;
    if (decl->kind == YNODE_MAPPING &&
        (ynode_get(decl, "type") || ynode_get(decl, "default"))) {
      json_t *def = json_object_get(v, "default");
      if (def)
        p->value = json_incref(def);
      json_object_del(v, "default");
      json_object_del(v, "description");
      p->schema = v;
    } else {
      /* A null default says nothing about the type. */
      const char *type = json_is_null(v) ? NULL : jsonschema_type_name(v);
      p->value = v;
      p->schema = json_object();
      if (p->schema == NULL)
        return SR_ENOMEM;
      if (type)
        json_object_set_new(p->schema, "type", json_string(type));
    }
    rc = jsonschema_compile(p->schema, &p->compiled, err, sizeof(err));
    if (rc) {
      error_at(l, decl, "param \"%s\": invalid declaration: %s", p->name, err);
      p->compiled = NULL;
    }
  }
  return 0;
}

/* Sets value at a dotted key below the param (hyperparameters.epochs),
 * creating objects on the way. Takes the reference to value. */
static int param_set(struct loader *l, const char *file, int line, int col,
                     const char *key, json_t *value)
{
  char *copy = strdup(key), *dot, *name;
  struct wf_param *p;
  json_t *obj;
  int rc = 0;

  if (copy == NULL) {
    json_decref(value);
    return SR_ENOMEM;
  }
  dot = strchr(copy, '.');
  if (dot)
    *dot = '\0';
  p = param_find(l->wf, copy);
  if (p == NULL) {
    param_unknown(l, file, line, col, copy);
    json_decref(value);
    goto out;
  }
  if (dot == NULL) {
    json_decref(p->value);
    p->value = value;
    goto out;
  }
  if (p->value == NULL || !json_is_object(p->value)) {
    diags_add(l->diags, file, line, col,
              "cannot set \"%s\": expected param \"%s\" to be an object", key,
              copy);
    l->failed = 1;
    json_decref(value);
    goto out;
  }
  /* The default may be shared with the declaration: copy before writing. */
  obj = json_deep_copy(p->value);
  if (obj == NULL) {
    json_decref(value);
    rc = SR_ENOMEM;
    goto out;
  }
  json_decref(p->value);
  p->value = obj;
  name = dot + 1;
  while ((dot = strchr(name, '.')) != NULL) {
    json_t *next;
    *dot = '\0';
    next = json_object_get(obj, name);
    if (next == NULL || !json_is_object(next)) {
      next = json_object();
      if (next == NULL || json_object_set_new(obj, name, next) != 0) {
        json_decref(value);
        rc = SR_ENOMEM;
        goto out;
      }
    }
    obj = next;
    name = dot + 1;
  }
  if (json_object_set_new(obj, name, value) != 0)
    rc = SR_ENOMEM;
out:
  free(copy);
  return rc;
}

static int params_file(struct loader *l, const char *path)
{
  struct ydoc *doc = NULL;
  size_t i;
  int rc;

  rc = ydoc_load(path, &doc, l->diags);
  if (rc) {
    l->failed = 1;
    return rc == SR_ENOMEM ? rc : 0;
  }
  if (doc->root == NULL) {
    ydoc_free(doc);
    return 0;
  }
  if (doc->root->kind != YNODE_MAPPING) {
    diags_add(l->diags, path, doc->root->line, doc->root->col,
              "expected a mapping of param names to values, found %s",
              doc->root->kind == YNODE_SEQUENCE ? "a sequence" : "a scalar");
    l->failed = 1;
    ydoc_free(doc);
    return 0;
  }
  for (i = 0; i < doc->root->count && rc == 0; i++) {
    const struct ynode *k = doc->root->pairs[i].key;
    json_t *v = NULL;
    if (ynode_to_json(doc, doc->root->pairs[i].value, &v, l->diags) != 0) {
      l->failed = 1;
      continue;
    }
    rc = param_set(l, path, k->line, k->col, k->text, v);
  }
  ydoc_free(doc);
  return rc;
}

static int params_assign(struct loader *l, const char *text)
{
  const char *eq = strchr(text, '=');
  struct buf key, label;
  struct ydoc *doc = NULL;
  json_t *v = NULL;
  int rc = 0;

  if (eq == NULL || eq == text) {
    diags_add(l->diags, "-p", 0, 0, "expected key=value, found \"%s\"", text);
    l->failed = 1;
    return 0;
  }
  buf_init(&key, 4096);
  buf_init(&label, 4096);
  buf_add(&key, text, (size_t)(eq - text));
  buf_addf(&label, "-p %s", buf_str(&key));
  rc = ydoc_parse(buf_str(&label), eq + 1, strlen(eq + 1), &doc, l->diags);
  if (rc == 0)
    rc = ynode_to_json(doc, doc->root, &v, l->diags);
  if (rc == 0)
    rc = param_set(l, buf_str(&label), 0, 0, buf_str(&key), v);
  else if (rc != SR_ENOMEM)
    l->failed = 1, rc = 0;
  ydoc_free(doc);
  buf_free(&key);
  buf_free(&label);
  return rc;
}

static int params_check(struct loader *l)
{
  struct workflow *wf = l->wf;
  size_t i;

  wf->param_values = json_object();
  if (wf->param_values == NULL)
    return SR_ENOMEM;
  for (i = 0; i < wf->nparams; i++) {
    struct wf_param *p = &wf->params[i];
    struct buf prefix;

    if (p->value == NULL) {
      error_at(l, p->node,
               "param \"%s\" has no value: expected a default or -p %s=...",
               p->name, p->name);
      continue;
    }
    if (p->compiled == NULL)
      continue;
    /* An override's value has no place in the file: name the param at its
     * declaration and say what is wrong with the value. */
    buf_init(&prefix, 4096);
    buf_addf(&prefix, "params.%s", p->name);
    if (workflow_validate_value(wf->file, p->compiled, p->value, NULL, p->node,
                                buf_str(&prefix), l->diags) != 0)
      l->failed = 1;
    buf_free(&prefix);
    if (json_object_set(wf->param_values, p->name, p->value) != 0)
      return SR_ENOMEM;
  }
  return 0;
}

/* ---- Steps ------------------------------------------------------------- */

static int all_append(struct workflow *wf, struct wf_step *s)
{
  if ((wf->nall & (wf->nall - 1)) == 0) {
    size_t cap = wf->nall ? wf->nall * 2 : 8;
    struct wf_step **p = realloc(wf->all, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    wf->all = p;
  }
  wf->all[wf->nall++] = s;
  return 0;
}

static const struct wf_type *type_use(struct loader *l,
                                      const struct step_type *t)
{
  struct workflow *wf = l->wf;
  struct wf_type *wt;
  char path[256];
  size_t i;

  for (i = 0; i < wf->ntypes; i++)
    if (wf->types[i].type == t)
      return &wf->types[i];
  wt = &wf->types[wf->ntypes];
  step_schema_path(t, path, sizeof(path));
  if (schema_load(l, path, &wt->schema_json, &wt->schema) != 0) {
    l->failed = 1;
    return NULL;
  }
  wt->type = t;
  wt->outputs = json_object_get(wt->schema_json, "x-sagerun-outputs");
  wf->ntypes++;
  return wt;
}

/* "90s", "30m", "2h", "1d" or a number of seconds. */
static double duration_seconds(const json_t *v)
{
  const char *s;
  char *end;
  double n;

  if (json_is_number(v))
    return json_number_value(v);
  s = json_string_value(v);
  if (s == NULL)
    return 0;
  n = strtod(s, &end);
  switch (*end) {
  case 'm':
    return n * 60;
  case 'h':
    return n * 3600;
  case 'd':
    return n * 86400;
  default:
    return n;
  }
}

static int steps_parse(struct loader *l, const struct ynode *map,
                       struct wf_step *parent, int finally,
                       struct wf_step ***out, size_t *nout);

static int step_parse(struct loader *l, const struct ynode *key,
                      const struct ynode *node, struct wf_step *parent,
                      int finally, size_t index, struct wf_step **out)
{
  struct wf_step *s = calloc(1, sizeof(*s));
  const struct ynode *uses, *children, *retry, *v;
  struct buf path;
  int rc = 0;

  *out = s;
  if (s == NULL)
    return SR_ENOMEM;
  rc = all_append(l->wf, s);
  if (rc) {
    free(s);
    *out = NULL;
    return rc;
  }
  s->index = index;
  s->ordinal = l->wf->nall - 1;
  s->id = strdup(key->text);
  buf_init(&path, 1 << 16);
  if (parent)
    buf_addf(&path, "%s.", parent->path);
  buf_adds(&path, key->text);
  s->path = buf_detach(&path, NULL);
  if (s->id == NULL || s->path == NULL)
    return SR_ENOMEM;
  s->parent = parent;
  s->finally = finally;
  s->node = node;
  s->with = ynode_get(node, "with");
  s->for_each = ynode_get(node, "for_each");
  s->retry.attempts = 1;
  s->retry.factor = 2;

  uses = ynode_get(node, "uses");
  if (uses) {
    s->type = step_registry_find(uses->text);
    if (s->type == NULL) {
      struct buf msg;
      struct suggest sg;
      const struct step_type *const *t;
      suggest_init(&sg, uses->text, 4);
      for (t = step_registry; *t; t++)
        suggest_add(&sg, (*t)->name);
      buf_init(&msg, 4096);
      buf_addf(&msg,
               "unknown step type \"%s\": expected one listed by `sagerun "
               "steps`",
               uses->text);
      add_hint(&msg, &sg);
      error_at(l, uses, "%s", buf_str(&msg));
      buf_free(&msg);
    } else {
      s->wtype = type_use(l, s->type);
    }
  }
  children = ynode_get(node, "steps");
  if (children) {
    rc = steps_parse(l, children, s, finally, &s->children, &s->nchildren);
    if (rc)
      return rc;
  }
  retry = ynode_get(node, "retry");
  if (retry) {
    json_t *r = NULL;
    rc = ynode_to_json(l->wf->doc, retry, &r, l->diags);
    if (rc)
      return rc;
    if (json_object_get(r, "attempts"))
      s->retry.attempts =
          (int)json_integer_value(json_object_get(r, "attempts"));
    if (json_object_get(r, "delay"))
      s->retry.delay = json_number_value(json_object_get(r, "delay"));
    if (json_object_get(r, "factor"))
      s->retry.factor = json_number_value(json_object_get(r, "factor"));
    if (json_object_get(r, "max_delay"))
      s->retry.max_delay = json_number_value(json_object_get(r, "max_delay"));
    json_decref(r);
  }
  v = ynode_get(node, "timeout");
  if (v) {
    json_t *t = ynode_scalar_json(v);
    s->timeout = duration_seconds(t);
    json_decref(t);
  }
  v = ynode_get(node, "continue_on_error");
  if (v) {
    json_t *t = ynode_scalar_json(v);
    s->continue_on_error = json_is_true(t);
    json_decref(t);
  }
  return 0;
}

static int steps_parse(struct loader *l, const struct ynode *map,
                       struct wf_step *parent, int finally,
                       struct wf_step ***out, size_t *nout)
{
  size_t i;
  int rc;

  *out = NULL;
  *nout = 0;
  if (map == NULL || map->kind != YNODE_MAPPING || map->count == 0)
    return 0;
  *out = calloc(map->count, sizeof(**out));
  if (*out == NULL)
    return SR_ENOMEM;
  for (i = 0; i < map->count; i++) {
    rc = step_parse(l, map->pairs[i].key, map->pairs[i].value, parent, finally,
                    i, &(*out)[i]);
    if (rc)
      return rc;
    (*nout)++;
  }
  return 0;
}

/* ---- Expressions and references ---------------------------------------- */

const struct expr *workflow_expr(const struct ynode *scalar)
{
  return scalar && scalar->kind == YNODE_SCALAR ? scalar->user : NULL;
}

void workflow_scalar_position(const struct ynode *scalar, size_t offset,
                              int *line, int *col)
{
  *line = scalar->line;
  *col = scalar->col;
  if (offset > scalar->len || memchr(scalar->text, '\n', offset))
    return;
  /* Exact only where the text is written as it is read: plain and quoted
   * scalars on one line without escapes before the offset. */
  if (scalar->plain || scalar->quoted) {
    if (scalar->quoted)
      *col += 1;
    *col += (int)offset;
  }
}

static void release_expr(void *user)
{
  expr_free(user);
}

/* Parses the expressions of every string scalar below n. */
static int exprs_parse(struct loader *l, struct ynode *n)
{
  struct expr *e = NULL;
  struct expr_error err;
  size_t i;
  int rc, line, col;

  if (n == NULL || n->user)
    return 0;
  switch (n->kind) {
  case YNODE_SEQUENCE:
    for (i = 0; i < n->count; i++) {
      rc = exprs_parse(l, n->items[i]);
      if (rc)
        return rc;
    }
    return 0;
  case YNODE_MAPPING:
    for (i = 0; i < n->count; i++) {
      rc = exprs_parse(l, n->pairs[i].value);
      if (rc)
        return rc;
    }
    return 0;
  case YNODE_SCALAR:
    break;
  }
  if (n->len < 3 || strstr(n->text, "${{") == NULL)
    return 0;
  rc = expr_parse(n->text, n->len, &e, &err);
  if (rc == SR_ENOMEM)
    return rc;
  if (rc) {
    workflow_scalar_position(n, err.offset, &line, &col);
    diags_add(l->diags, l->wf->file, line, col, "%s", err.message);
    l->failed = 1;
    return 0;
  }
  /* Kept even without expressions: `$${{` still has to be unescaped. */
  n->user = e;
  return 0;
}

static int step_id_cmp(const void *a, const void *b)
{
  const struct wf_step *x = *(struct wf_step *const *)a;
  const struct wf_step *y = *(struct wf_step *const *)b;

  return strcmp(x->id, y->id);
}

/* A sorted copy of steps (plus more, when given), so that name lookups
 * stay fast with thousands of steps. NULL only when out of memory. */
static struct wf_step **steps_index(struct wf_step **steps, size_t n,
                                    struct wf_step **more, size_t nmore)
{
  struct wf_step **sorted = malloc((n + nmore + 1) * sizeof(*sorted));

  if (sorted == NULL)
    return NULL;
  if (n)
    memcpy(sorted, steps, n * sizeof(*sorted));
  if (nmore)
    memcpy(sorted + n, more, nmore * sizeof(*sorted));
  qsort(sorted, n + nmore, sizeof(*sorted), step_id_cmp);
  return sorted;
}

static struct wf_step *steps_find(struct wf_step **sorted, size_t n,
                                  const char *name)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(sorted[mid]->id, name);
    if (c == 0)
      return sorted[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Builds the lookup indexes; a finally step may not reuse a main step's
 * id, since references could not tell them apart. */
static int steps_index_all(struct loader *l)
{
  struct workflow *wf = l->wf;
  size_t i, n = wf->nsteps + wf->nfinally;

  wf->top_by_id =
      steps_index(wf->steps, wf->nsteps, wf->finally_steps, wf->nfinally);
  if (wf->top_by_id == NULL)
    return SR_ENOMEM;
  for (i = 1; i < n; i++)
    if (strcmp(wf->top_by_id[i]->id, wf->top_by_id[i - 1]->id) == 0) {
      const struct wf_step *dup =
          wf->top_by_id[i]->finally ? wf->top_by_id[i] : wf->top_by_id[i - 1];
      error_at(l, ynode_get_key(wf->doc->root, "finally"),
               "finally step \"%s\" has the id of a main step: expected "
               "ids unique across steps and finally",
               dup->id);
    }
  for (i = 0; i < wf->nall; i++) {
    struct wf_step *g = wf->all[i];
    if (g->nchildren == 0)
      continue;
    g->children_by_id = steps_index(g->children, g->nchildren, NULL, 0);
    if (g->children_by_id == NULL)
      return SR_ENOMEM;
  }
  return 0;
}

/* A step visible by name from scope (a group, or NULL for the top):
 * siblings first, then enclosing groups' siblings, then the top level. */
static struct wf_step *step_lookup(struct workflow *wf, struct wf_step *scope,
                                   const char *name)
{
  struct wf_step *s;

  for (; scope; scope = scope->parent) {
    s = steps_find(scope->children_by_id, scope->nchildren, name);
    if (s)
      return s;
  }
  /* Main steps cannot use finally steps, but finding them lets the
   * caller say so rather than "unknown step". */
  return steps_find(wf->top_by_id, wf->nsteps + wf->nfinally, name);
}

static void step_suggest(struct workflow *wf, struct wf_step *scope,
                         int finally, const char *name, struct suggest *sg)
{
  size_t i;

  suggest_init(sg, name, 3);
  for (; scope; scope = scope->parent)
    for (i = 0; i < scope->nchildren; i++)
      suggest_add(sg, scope->children[i]->id);
  for (i = 0; i < wf->nsteps; i++)
    suggest_add(sg, wf->steps[i]->id);
  if (finally)
    for (i = 0; i < wf->nfinally; i++)
      suggest_add(sg, wf->finally_steps[i]->id);
}

static struct wf_step *group_child(struct wf_step *g, const char *name)
{
  return steps_find(g->children_by_id, g->nchildren, name);
}

static int needs_add(struct wf_step *s, struct wf_step *dep)
{
  size_t i;

  for (i = 0; i < s->nneeds; i++)
    if (s->needs[i] == dep)
      return 0;
  if (s->nneeds == s->allocneeds) {
    size_t cap = s->allocneeds ? s->allocneeds * 2 : 4;
    struct wf_step **p = realloc(s->needs, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    s->needs = p;
    s->allocneeds = cap;
  }
  s->needs[s->nneeds++] = dep;
  return 0;
}

struct ref_check {
  struct loader *l;
  struct wf_step *step;
  const struct ynode *scalar;
  int in_for_each; /* checking the step's own for_each */
  int rc;
};

static void ref_error(struct ref_check *c, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ref_error(struct ref_check *c, size_t offset, const char *fmt, ...)
{
  va_list ap;
  int line, col;

  workflow_scalar_position(c->scalar, offset, &line, &col);
  va_start(ap, fmt);
  diags_vadd(c->l->diags, c->l->wf->file, line, col, fmt, ap);
  va_end(ap);
  c->l->failed = 1;
}

/* Fan-out keys visible to step s: its own (unless checking its own
 * for_each) and its enclosing groups'. */
static int each_visible(const struct wf_step *s, int own, const char *name,
                        struct suggest *sg)
{
  const struct wf_step *g;
  size_t i;
  int any = 0;

  for (g = own ? s : s->parent; g; g = g->parent) {
    if (g->for_each == NULL)
      continue;
    for (i = 0; i < g->for_each->count; i++) {
      any = 1;
      if (strcmp(g->for_each->pairs[i].key->text, name) == 0)
        return 1;
      suggest_add(sg, g->for_each->pairs[i].key->text);
    }
  }
  return any ? 0 : -1;
}

static const char *const run_keys[] = {"id",     "workflow",   "target",
                                       "region", "started_at", NULL};

static void check_steps_ref(struct ref_check *c, const struct expr_ref *ref)
{
  struct workflow *wf = c->l->wf;
  struct wf_step *t;
  struct suggest sg;
  struct buf msg;
  size_t k;

  if (ref->count < 2 || ref->segments[1].name == NULL) {
    ref_error(c, ref->segments[0].offset,
              "expected steps.STEP.outputs.NAME, found \"steps\" alone");
    return;
  }
  if (c->in_for_each) {
    ref_error(c, ref->segments[0].offset,
              "for_each cannot use step outputs: expected values known "
              "before the run starts (params, literals)");
    return;
  }
  t = step_lookup(wf, c->step->parent, ref->segments[1].name);
  if (t == NULL) {
    buf_init(&msg, 4096);
    step_suggest(wf, c->step->parent, c->step->finally, ref->segments[1].name,
                 &sg);
    buf_addf(&msg, "unknown step \"%s\": expected a step id in scope",
             ref->segments[1].name);
    add_hint(&msg, &sg);
    ref_error(c, ref->segments[1].offset, "%s", buf_str(&msg));
    buf_free(&msg);
    return;
  }
  if (t->finally && !c->step->finally) {
    ref_error(c, ref->segments[1].offset,
              "step \"%s\" is a finally step: expected main steps to depend "
              "only on main steps",
              t->id);
    return;
  }
  k = 2;
  while (t->type == NULL && k < ref->count && ref->segments[k].name) {
    struct wf_step *child = group_child(t, ref->segments[k].name);
    if (child == NULL) {
      size_t i;
      suggest_init(&sg, ref->segments[k].name, 3);
      for (i = 0; i < t->nchildren; i++)
        suggest_add(&sg, t->children[i]->id);
      buf_init(&msg, 4096);
      buf_addf(&msg, "group \"%s\" has no step \"%s\"", t->path,
               ref->segments[k].name);
      add_hint(&msg, &sg);
      ref_error(c, ref->segments[k].offset, "%s", buf_str(&msg));
      buf_free(&msg);
      return;
    }
    t = child;
    k++;
  }
  if (t->type == NULL) {
    ref_error(c, ref->segments[k - 1].offset,
              "\"%s\" is a group: expected steps.%s.STEP.outputs.NAME", t->path,
              t->path);
    return;
  }
  if (k >= ref->count || ref->segments[k].name == NULL ||
      strcmp(ref->segments[k].name, "outputs") != 0) {
    ref_error(c,
              k < ref->count ? ref->segments[k].offset
                             : ref->segments[k - 1].offset,
              "expected \"outputs\" after steps.%s, found %s%s%s", t->path,
              k < ref->count && ref->segments[k].name ? "\"" : "",
              k < ref->count && ref->segments[k].name ? ref->segments[k].name
                                                      : "nothing",
              k < ref->count && ref->segments[k].name ? "\"" : "");
    return;
  }
  k++;
  /* "*" declares outputs named by the step's inputs (core.echo). */
  if (k < ref->count && ref->segments[k].name && t->wtype &&
      t->wtype->outputs && !json_object_get(t->wtype->outputs, "*") &&
      json_object_get(t->wtype->outputs, ref->segments[k].name) == NULL) {
    const char *key;
    json_t *value;
    suggest_init(&sg, ref->segments[k].name, 3);
    json_object_foreach(t->wtype->outputs, key, value) suggest_add(&sg, key);
    buf_init(&msg, 4096);
    buf_addf(&msg, "step type %s has no output \"%s\": expected one of",
             t->type->name, ref->segments[k].name);
    json_object_foreach(t->wtype->outputs, key, value)
        buf_addf(&msg, " %s", key);
    add_hint(&msg, &sg);
    ref_error(c, ref->segments[k].offset, "%s", buf_str(&msg));
    buf_free(&msg);
    return;
  }
  if (needs_add(c->step, t) != 0)
    c->rc = SR_ENOMEM;
}

static int check_ref(void *data, const struct expr_ref *ref)
{
  struct ref_check *c = data;
  const char *root = ref->segments[0].name;
  struct suggest sg;
  struct buf msg;

  if (root == NULL)
    return 0;
  if (strcmp(root, "params") == 0) {
    if (ref->count > 1 && ref->segments[1].name &&
        param_find(c->l->wf, ref->segments[1].name) == NULL) {
      size_t i;
      suggest_init(&sg, ref->segments[1].name, 3);
      for (i = 0; i < c->l->wf->nparams; i++)
        suggest_add(&sg, c->l->wf->params[i].name);
      buf_init(&msg, 4096);
      buf_addf(&msg,
               "unknown param \"%s\": expected one declared under "
               "params:",
               ref->segments[1].name);
      add_hint(&msg, &sg);
      ref_error(c, ref->segments[1].offset, "%s", buf_str(&msg));
      buf_free(&msg);
    }
  } else if (strcmp(root, "each") == 0) {
    int found;
    if (ref->count < 2 || ref->segments[1].name == NULL)
      return 0;
    suggest_init(&sg, ref->segments[1].name, 3);
    found = each_visible(c->step, !c->in_for_each, ref->segments[1].name, &sg);
    if (found == -1) {
      ref_error(c, ref->segments[0].offset,
                "each.%s is only available inside a for_each: expected a "
                "for_each on this step or an enclosing group",
                ref->segments[1].name);
    } else if (found == 0) {
      buf_init(&msg, 4096);
      buf_addf(&msg,
               "unknown fan-out value \"%s\": expected a for_each key "
               "of this step or an enclosing group",
               ref->segments[1].name);
      add_hint(&msg, &sg);
      ref_error(c, ref->segments[1].offset, "%s", buf_str(&msg));
      buf_free(&msg);
    }
  } else if (strcmp(root, "run") == 0) {
    size_t i;
    if (ref->count < 2 || ref->segments[1].name == NULL)
      return 0;
    suggest_init(&sg, ref->segments[1].name, 3);
    for (i = 0; run_keys[i]; i++) {
      if (strcmp(run_keys[i], ref->segments[1].name) == 0)
        return 0;
      suggest_add(&sg, run_keys[i]);
    }
    buf_init(&msg, 4096);
    buf_addf(&msg,
             "unknown run value \"%s\": expected id, workflow, target, "
             "region or started_at",
             ref->segments[1].name);
    add_hint(&msg, &sg);
    ref_error(c, ref->segments[1].offset, "%s", buf_str(&msg));
    buf_free(&msg);
  } else if (strcmp(root, "steps") == 0) {
    check_steps_ref(c, ref);
  } else if (strcmp(root, "env") != 0) {
    static const char *const roots[] = {"params", "steps", "each",
                                        "run",    "env",   NULL};
    size_t i;
    suggest_init(&sg, root, 3);
    for (i = 0; roots[i]; i++)
      suggest_add(&sg, roots[i]);
    buf_init(&msg, 4096);
    buf_addf(&msg,
             "unknown name \"%s\": expected params, steps, each, run or "
             "env",
             root);
    add_hint(&msg, &sg);
    ref_error(c, ref->segments[0].offset, "%s", buf_str(&msg));
    buf_free(&msg);
  }
  return c->rc;
}

static int refs_check(struct ref_check *c, const struct ynode *n)
{
  size_t i;
  int rc;

  if (n == NULL)
    return 0;
  switch (n->kind) {
  case YNODE_SEQUENCE:
    for (i = 0; i < n->count; i++) {
      rc = refs_check(c, n->items[i]);
      if (rc)
        return rc;
    }
    return 0;
  case YNODE_MAPPING:
    for (i = 0; i < n->count; i++) {
      rc = refs_check(c, n->pairs[i].value);
      if (rc)
        return rc;
    }
    return 0;
  case YNODE_SCALAR:
    if (n->user == NULL)
      return 0;
    c->scalar = n;
    return expr_foreach_ref(n->user, check_ref, c);
  }
  return 0;
}

/* Resolves `needs:` names (dotted paths reach into groups). */
static int needs_resolve(struct loader *l, struct wf_step *s)
{
  const struct ynode *needs = ynode_get(s->node, "needs");
  const struct ynode *one;
  size_t i, n;
  int rc;

  if (needs == NULL)
    return 0;
  n = needs->kind == YNODE_SEQUENCE ? needs->count : 1;
  for (i = 0; i < n; i++) {
    char *copy, *name, *dot;
    struct wf_step *t;

    one = needs->kind == YNODE_SEQUENCE ? needs->items[i] : needs;
    if (one->kind != YNODE_SCALAR)
      continue;
    copy = strdup(one->text);
    if (copy == NULL)
      return SR_ENOMEM;
    name = copy;
    dot = strchr(name, '.');
    if (dot)
      *dot = '\0';
    t = step_lookup(l->wf, s->parent, name);
    while (t && dot) {
      name = dot + 1;
      dot = strchr(name, '.');
      if (dot)
        *dot = '\0';
      t = group_child(t, name);
    }
    if (t == NULL) {
      struct suggest sg;
      struct buf msg;
      step_suggest(l->wf, s->parent, s->finally, one->text, &sg);
      buf_init(&msg, 4096);
      buf_addf(&msg,
               "unknown step \"%s\" in needs: expected a step id in "
               "scope",
               one->text);
      add_hint(&msg, &sg);
      error_at(l, one, "%s", buf_str(&msg));
      buf_free(&msg);
    } else if (t->finally && !s->finally) {
      error_at(l, one,
               "step \"%s\" is a finally step: expected main steps to "
               "depend only on main steps",
               t->id);
    } else {
      rc = needs_add(s, t);
      if (rc) {
        free(copy);
        return rc;
      }
    }
    free(copy);
  }
  return 0;
}

/* Fan-out keys must not shadow an enclosing group's. */
static void for_each_check(struct loader *l, const struct wf_step *s)
{
  const struct wf_step *g;
  size_t i, j;

  if (s->for_each == NULL)
    return;
  for (g = s->parent; g; g = g->parent) {
    if (g->for_each == NULL)
      continue;
    for (i = 0; i < s->for_each->count; i++)
      for (j = 0; j < g->for_each->count; j++)
        if (strcmp(s->for_each->pairs[i].key->text,
                   g->for_each->pairs[j].key->text) == 0)
          error_at(l, s->for_each->pairs[i].key,
                   "fan-out key \"%s\" is already used by group \"%s\": "
                   "expected a new name",
                   s->for_each->pairs[i].key->text, g->path);
  }
}

static int steps_check(struct loader *l)
{
  struct workflow *wf = l->wf;
  size_t i;
  int rc;

  for (i = 0; i < wf->nall; i++) {
    struct wf_step *s = wf->all[i];
    struct ref_check c = {l, s, NULL, 0, 0};

    rc = exprs_parse(l, (struct ynode *)s->with);
    if (rc == 0)
      rc = exprs_parse(l, (struct ynode *)s->for_each);
    if (rc)
      return rc;
    for_each_check(l, s);
    rc = refs_check(&c, s->with);
    if (rc)
      return rc;
    c.in_for_each = 1;
    rc = refs_check(&c, s->for_each);
    if (rc)
      return rc;
    rc = needs_resolve(l, s);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- Loading ----------------------------------------------------------- */

static int structure_check(struct loader *l)
{
  struct jsonschema *schema = NULL;
  json_t *schema_json = NULL;
  int rc;

  rc = schema_load(l, WORKFLOW_SCHEMA, &schema_json, &schema);
  if (rc)
    return rc;
  rc = workflow_validate_value(l->wf->file, schema, l->wf->json, NULL,
                               l->wf->doc->root, "", l->diags);
  if (rc > 0)
    l->failed = 1;
  jsonschema_free(schema);
  json_decref(schema_json);
  return rc < 0 ? rc : 0;
}

static int load(struct loader *l, const struct wf_overrides *ov)
{
  struct workflow *wf = l->wf;
  const struct ynode *root = wf->doc->root;
  json_t *v;
  size_t i;
  int rc;

  if (root == NULL || root->kind != YNODE_MAPPING) {
    static const struct ynode start = {.line = 1, .col = 1};
    error_at(l, root ? root : &start,
             "expected a mapping with name and steps, found %s",
             root == NULL                   ? "an empty document"
             : root->kind == YNODE_SEQUENCE ? "a sequence"
                                            : "a scalar");
    return 0;
  }
  rc = ynode_to_json(wf->doc, root, &wf->json, l->diags);
  if (rc) {
    l->failed = 1;
    return rc == SR_ENOMEM ? rc : 0;
  }
  rc = structure_check(l);
  if (rc || l->failed)
    return rc;

  wf->name = json_string_value(json_object_get(wf->json, "name"));
  v = json_object_get(wf->json, "target");
  wf->target = v ? json_string_value(v) : "local";
  wf->region = json_string_value(json_object_get(wf->json, "region"));
  v = json_object_get(wf->json, "max_parallel");
  wf->max_parallel = v ? (int)json_integer_value(v) : MAX_PARALLEL_DEFAULT;
  wf->limits = json_object_get(wf->json, "limits");

  rc = params_declare(l, ynode_get(root, "params"));
  if (rc == 0 && ov && ov->values) {
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)ov->values, key, value)
    {
      /* A param the workflow no longer declares is dropped. */
      if (param_find(wf, key) && rc == 0)
        rc = param_set(l, wf->file, 0, 0, key, json_deep_copy(value));
    }
  }
  if (rc == 0 && ov && ov->params_file)
    rc = params_file(l, ov->params_file);
  for (i = 0; rc == 0 && ov && i < ov->nassignments; i++)
    rc = params_assign(l, ov->assignments[i]);
  if (rc == 0)
    rc = params_check(l);
  if (rc)
    return rc;

  for (i = 0; step_registry[i]; i++)
    ;
  wf->types = calloc(i ? i : 1, sizeof(*wf->types));
  if (wf->types == NULL)
    return SR_ENOMEM;
  rc = steps_parse(l, ynode_get(root, "steps"), NULL, 0, &wf->steps,
                   &wf->nsteps);
  if (rc == 0)
    rc = steps_parse(l, ynode_get(root, "finally"), NULL, 1, &wf->finally_steps,
                     &wf->nfinally);
  if (rc == 0)
    rc = steps_index_all(l);
  if (rc == 0)
    rc = steps_check(l);
  return rc;
}

int workflow_load_text(const char *name, const char *text, size_t len,
                       const struct wf_overrides *ov, struct workflow **out,
                       struct diags *diags)
{
  struct loader l;
  struct workflow *wf;
  int rc;

  *out = NULL;
  wf = calloc(1, sizeof(*wf));
  if (wf == NULL)
    return SR_ENOMEM;
  wf->file = strdup(name);
  wf->unknown = json_object();
  if (wf->file == NULL || wf->unknown == NULL) {
    workflow_free(wf);
    return SR_ENOMEM;
  }
  rc = ydoc_parse(name, text, len, &wf->doc, diags);
  if (rc) {
    workflow_free(wf);
    return rc == SR_ENOMEM ? rc : SR_EINVALID;
  }
  wf->doc->release = release_expr;
  memset(&l, 0, sizeof(l));
  l.wf = wf;
  l.diags = diags;
  rc = load(&l, ov);
  if (rc == 0 && l.failed)
    rc = SR_EINVALID;
  if (rc) {
    workflow_free(wf);
    return rc;
  }
  *out = wf;
  return 0;
}

int workflow_load(const char *path, const struct wf_overrides *ov,
                  struct workflow **out, struct diags *diags)
{
  struct buf text;
  FILE *f;
  char chunk[65536];
  size_t n;
  int rc = 0;

  *out = NULL;
  f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) {
    diags_add(diags, path, 0, 0, "cannot open workflow: %s", strerror(errno));
    return SR_ENOENT;
  }
  buf_init(&text, (size_t)64 << 20);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    rc = buf_add(&text, chunk, n);
    if (rc)
      break;
  }
  if (f != stdin)
    fclose(f);
  if (rc) {
    diags_add(diags, path, 0, 0, "cannot read workflow: %s", sr_strerror(rc));
    return rc;
  }
  rc = workflow_load_text(path, buf_str(&text), buf_len(&text), ov, out, diags);
  buf_free(&text);
  return rc;
}

static void step_free(struct wf_step *s)
{
  free(s->id);
  free(s->path);
  free(s->children);
  free(s->children_by_id);
  free(s->needs);
  free(s);
}

void workflow_free(struct workflow *wf)
{
  size_t i;

  if (wf == NULL)
    return;
  for (i = 0; i < wf->nall; i++)
    step_free(wf->all[i]);
  free(wf->all);
  free(wf->top_by_id);
  free(wf->steps);
  free(wf->finally_steps);
  for (i = 0; i < wf->nparams; i++) {
    free(wf->params[i].name);
    json_decref(wf->params[i].schema);
    json_decref(wf->params[i].value);
    jsonschema_free(wf->params[i].compiled);
  }
  free(wf->params);
  for (i = 0; i < wf->ntypes; i++) {
    jsonschema_free(wf->types[i].schema);
    json_decref(wf->types[i].schema_json);
  }
  free(wf->types);
  json_decref(wf->param_values);
  json_decref(wf->json);
  json_decref(wf->unknown);
  ydoc_free(wf->doc);
  free(wf->file);
  free(wf);
}
