/* The scheduler. Each node has a count of dependencies not yet finished;
 * when it reaches zero the node is ready if all of them succeeded (or
 * failed with continue_on_error), skipped otherwise. Ready nodes wait in
 * FIFO order for a slot under max_parallel and their type's limit.
 * Finally nodes become eligible only when every main node has finished.
 *
 * A step instance's life: start -> (step_done) -> succeeded, or failed
 * -> retry timer -> start again, until attempts run out. A timeout timer
 * cancels a step that runs too long. All waiting is uv timers. */
#include "exec.h"

#include <math.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../steps/step.h"
#include "buf.h"
#include "defaults.h"
#include "error.h"
#include "expr.h"
#include "jsonschema.h"
#include "state.h"

struct exec;

struct step_ctx {
  struct exec *ex;
  size_t index; /* node index */
  json_t *inputs;
  int attempt;
  int done;         /* step_done was called */
  int cancel_asked; /* cancel() was called */
  int timed_out;
  uv_timer_t timeout; /* embedded: closed before the ctx is freed */
  uv_timer_t retry;   /* retry backoff */
  double started;     /* loop time, ms */
  char *progress;
  json_t *journal; /* what step_journal_find last returned */
  void *data;      /* the step's own */
  int closing;     /* timers still closing */
  /* Resume: the earlier run's row (borrowed from opts->prior) while
   * identify finds out whether its data is still the same. */
  const json_t *identifying;
};

struct exec {
  uv_loop_t *loop;
  struct dag *dag;
  const struct exec_opts *opts;
  json_t *run; /* run.* values */
  enum exec_status *status;
  size_t *waiting;     /* unfinished dependencies */
  size_t **dependents; /* reverse edges */
  size_t *ndependents;
  json_t **outputs;
  json_t **inputs; /* resolved inputs of the current attempt */
  char (*fingerprints)[65];
  char **errors;
  int *attempts;
  struct step_ctx **ctx;
  size_t *queue; /* ready, FIFO */
  size_t qhead, qtail;
  size_t running;
  json_t *running_by_type; /* type name -> count */
  json_t *ledger;          /* without a state store: created resources */
  size_t main_left;        /* main nodes not yet finished */
  size_t left;             /* all nodes not yet finished */
  int stopping;            /* interrupted: start nothing but finally */
  int finally_open;        /* finally nodes may start */
  int handles;             /* open uv handles of ours */
  uv_signal_t sigint, sigterm;
  int signals;
  uv_idle_t kick;  /* starts ready nodes outside callbacks */
  uv_timer_t tick; /* progress redraws */
  int ticking;
  int kick_active;
};

const char *exec_status_name(enum exec_status s)
{
  static const char *const names[] = {"pending",   "running", "retry-wait",
                                      "succeeded", "failed",  "skipped",
                                      "canceled",  "reused"};
  return names[s];
}

static void emit(struct exec *ex, enum exec_event_kind kind, size_t i,
                 const char *text, double seconds)
{
  struct exec_event ev;

  if (ex->opts->on_event == NULL)
    return;
  memset(&ev, 0, sizeof(ev));
  ev.kind = kind;
  ev.node = i == (size_t)-1 ? NULL : &ex->dag->nodes[i];
  ev.status = i == (size_t)-1 ? EXEC_PENDING : ex->status[i];
  ev.attempt = i == (size_t)-1 ? 0 : ex->attempts[i];
  ev.text = text;
  ev.seconds = seconds;
  ev.outputs = i == (size_t)-1 ? NULL : ex->outputs[i];
  ex->opts->on_event(ex->opts->event_data, &ev);
}

static void persist(struct exec *ex, size_t i)
{
  const struct dag_node *n = &ex->dag->nodes[i];

  if (ex->opts->state == NULL)
    return;
  state_step_update(ex->opts->state, ex->opts->run_id, n->id,
                    n->step->type->name, exec_status_name(ex->status[i]),
                    ex->attempts[i],
                    ex->fingerprints[i][0] ? ex->fingerprints[i] : NULL,
                    ex->inputs[i], ex->outputs[i], ex->errors[i]);
}

/* ---- Inputs at run time ------------------------------------------------ */

/* Sets obj[path...] = value, creating objects on the way. */
static int set_path(json_t *obj, const char *const *keys, size_t n,
                    json_t *value)
{
  size_t i;

  for (i = 0; i + 1 < n; i++) {
    json_t *next = json_object_get(obj, keys[i]);
    if (next == NULL) {
      next = json_object();
      if (next == NULL || json_object_set_new(obj, keys[i], next) != 0) {
        json_decref(value);
        return SR_ENOMEM;
      }
    }
    obj = next;
  }
  return json_object_set_new(obj, keys[n - 1], value) ? SR_ENOMEM : 0;
}

/* {"outputs": {...}} for one instance, or for a list of instances
 * {"outputs": {name: [v0, v1, ...]}} with one element per instance (null
 * where an instance has no such output). */
static json_t *outputs_value(const struct dag *dag, json_t *const *outputs,
                             const size_t *idx, size_t n, int as_list,
                             json_t *unknown)
{
  json_t *merged, *v = json_object();
  size_t k;

  if (v == NULL)
    return NULL;
  if (!as_list) {
    json_t *o = n == 1 && outputs[idx[0]] ? outputs[idx[0]] : unknown;
    json_object_set(v, "outputs", o);
    return v;
  }
  merged = json_object();
  json_object_set_new(v, "outputs", merged);
  /* Every output name any instance has, or the declared ones. */
  for (k = 0; k < n; k++) {
    const char *key;
    json_t *val;
    json_t *o = outputs[idx[k]];
    if (o == NULL || o == unknown)
      continue;
    json_object_foreach(o, key, val)
    {
      if (json_object_get(merged, key) == NULL)
        json_object_set_new(merged, key, json_array());
    }
  }
  {
    const char *key;
    json_t *list;
    json_object_foreach(merged, key, list)
    {
      for (k = 0; k < n; k++) {
        json_t *o = outputs[idx[k]];
        json_t *item = o && o != unknown ? json_object_get(o, key) : NULL;
        json_array_append(list,
                          item ? item : (o == NULL ? unknown : json_null()));
      }
    }
  }
  (void)dag;
  return v;
}

#define PLACEHOLDER_PREFIX "(known after "

/* A copy of v in which placeholder strings, "(known after X)", are the
 * unknown sentinel (or v itself, with a new reference, when it has
 * none). */
static json_t *placeholders_unknown(json_t *v, json_t *unknown)
{
  const char *key;
  json_t *item, *copy;
  size_t i;

  if (json_is_string(v) && strncmp(json_string_value(v), PLACEHOLDER_PREFIX,
                                   strlen(PLACEHOLDER_PREFIX)) == 0)
    return json_incref(unknown);
  if (json_is_object(v)) {
    copy = json_object();
    json_object_foreach(v, key, item)
        json_object_set_new(copy, key, placeholders_unknown(item, unknown));
    return copy;
  }
  if (json_is_array(v)) {
    copy = json_array();
    json_array_foreach(v, i, item)
        json_array_append_new(copy, placeholders_unknown(item, unknown));
    return copy;
  }
  return json_incref(v);
}

struct first_error {
  char *buf;
  size_t len;
  int seen;
};

static int first_error_cb(void *data, const struct jsonschema_error *e)
{
  struct first_error *fe = data;

  if (!fe->seen)
    snprintf(fe->buf, fe->len, "with%s: %s", e->instance_path, e->message);
  fe->seen = 1;
  return 1;
}

int exec_resolve_inputs(const struct dag *dag, size_t index,
                        json_t *const *outputs, const json_t *run, json_t **out,
                        char *err, size_t errlen)
{
  const struct dag_node *node = &dag->nodes[index];
  const struct wf_step *s = node->step;
  struct workflow *wf = dag->wf;
  json_t *steps = json_object(), *ctx = json_object();
  struct diags diags;
  size_t i;
  int rc = 0;

  *out = NULL;
  if (steps == NULL || ctx == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  /* steps.X... for every declared step this one refers to. */
  for (i = 0; rc == 0 && i < s->nneeds; i++) {
    const struct wf_step *t = s->needs[i], *root, *p;
    const char *keys[16];
    size_t *idx = NULL, n, depth = 0, k;
    int as_list;
    json_t *v;

    rc = dag_instances_of(dag, node, t, &idx, &n, &as_list, &root);
    if (rc)
      break;
    v = outputs_value(dag, outputs, idx, n, as_list, wf->unknown);
    free(idx);
    if (v == NULL) {
      rc = SR_ENOMEM;
      break;
    }
    /* The path from root down to t: steps.root.child...t */
    for (p = t; p && depth < 16; p = p->parent) {
      keys[depth++] = p->id;
      if (p == root)
        break;
    }
    for (k = 0; k < depth / 2; k++) {
      const char *tmp = keys[k];
      keys[k] = keys[depth - 1 - k];
      keys[depth - 1 - k] = tmp;
    }
    rc = set_path(steps, keys, depth, v);
  }
  if (rc)
    goto out;
  if (json_object_set(ctx, "params", wf->param_values) ||
      json_object_set(ctx, "each", node->each) ||
      json_object_set(ctx, "run", (json_t *)run) ||
      json_object_set(ctx, "steps", steps)) {
    rc = SR_ENOMEM;
    goto out;
  }
  diags_init(&diags);
  rc = dag_eval_node(wf, s->with, ctx, out, &diags);
  if (rc && diags.count)
    snprintf(err, errlen, "%s:%d:%d: %s", wf->file, diags.items[0].line,
             diags.items[0].col, diags.items[0].message);
  else if (rc)
    snprintf(err, errlen, "%s", sr_strerror(rc));
  diags_free(&diags);
  if (rc == 0 && s->wtype)
    rc = defaults_apply(s->wtype->schema_json, *out, wf->unknown);
  /* Values known only now (step outputs) are checked now; under plan,
   * the placeholders steps return stand for values of any type. */
  if (rc == 0 && s->wtype && s->wtype->schema) {
    struct first_error fe = {err, errlen, 0};
    json_t *checked = placeholders_unknown(*out, wf->unknown);
    int bad = jsonschema_validate(s->wtype->schema, checked, wf->unknown,
                                  first_error_cb, &fe) > 0;
    json_decref(checked);
    if (bad) {
      rc = SR_EINVAL;
      json_decref(*out);
      *out = NULL;
    }
  }
out:
  json_decref(steps);
  json_decref(ctx);
  return rc;
}

json_t *exec_run_info(const struct dag *dag, const char *run_id,
                      const char *started_at, const char *region)
{
  char now_text[32];
  time_t now = time(NULL);
  struct tm tm;

  if (started_at == NULL) {
    gmtime_r(&now, &tm);
    strftime(now_text, sizeof(now_text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    started_at = now_text;
  }
  if (region == NULL)
    region = dag->wf->region;
  return json_pack("{s:s?,s:s,s:s,s:s?,s:s}", "id", run_id, "workflow",
                   dag->wf->name, "target", dag->wf->target, "region", region,
                   "started_at", started_at);
}

void exec_fingerprint(const struct dag_node *node, const json_t *inputs,
                      char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0, k;
  char *text =
      json_dumps(inputs, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
  char head[160];
  EVP_MD_CTX *c = EVP_MD_CTX_new();

  snprintf(head, sizeof(head), "%s\n%d\n", node->step->type->name,
           node->step->type->version);
  out[0] = '\0';
  if (c && text && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
      EVP_DigestUpdate(c, head, strlen(head)) &&
      EVP_DigestUpdate(c, text, strlen(text)) &&
      EVP_DigestFinal_ex(c, md, &mdlen)) {
    for (k = 0; k < mdlen && k < 32; k++)
      snprintf(out + 2 * k, 3, "%02x", md[k]);
  }
  EVP_MD_CTX_free(c);
  free(text);
}

/* ---- Lifecycle ---------------------------------------------------------- */

static void schedule(struct exec *ex);
static void node_finished(struct exec *ex, size_t i);

static int type_count(struct exec *ex, const char *type)
{
  return (int)json_integer_value(json_object_get(ex->running_by_type, type));
}

static void type_add(struct exec *ex, const char *type, int delta)
{
  json_object_set_new(ex->running_by_type, type,
                      json_integer(type_count(ex, type) + delta));
}

static int type_allows(struct exec *ex, const char *type)
{
  json_t *limit = json_object_get(ex->dag->wf->limits, type);

  return limit == NULL || type_count(ex, type) < json_integer_value(limit);
}

static void handle_closed(uv_handle_t *h)
{
  struct exec *ex = h->data;

  ex->handles--;
}

static void ctx_timer_closed(uv_handle_t *h)
{
  struct step_ctx *ctx = h->data;

  /* Freed when the second of its two timers has closed. */
  if (--ctx->closing > 0)
    return;
  ctx->ex->handles--;
  free(ctx->progress);
  json_decref(ctx->inputs);
  json_decref(ctx->journal);
  free(ctx);
}

static void ctx_free(struct step_ctx *ctx)
{
  ctx->closing = 2;
  uv_close((uv_handle_t *)&ctx->timeout, ctx_timer_closed);
  uv_close((uv_handle_t *)&ctx->retry, ctx_timer_closed);
}

static void kick_cb(uv_idle_t *idle)
{
  struct exec *ex = idle->data;

  uv_idle_stop(idle);
  ex->kick_active = 0;
  schedule(ex);
}

/* Defers scheduling to the loop, so that no step starts from inside
 * another step's callback. */
static void kick(struct exec *ex)
{
  if (ex->kick_active)
    return;
  ex->kick_active = 1;
  uv_idle_start(&ex->kick, kick_cb);
}

static void finish(struct exec *ex, size_t i, enum exec_status st)
{
  ex->status[i] = st;
  persist(ex, i);
  node_finished(ex, i);
  kick(ex);
}

static void timeout_cb(uv_timer_t *t)
{
  struct step_ctx *ctx = t->data;
  const struct step_type *type = ctx->ex->dag->nodes[ctx->index].step->type;

  ctx->timed_out = 1;
  if (type->exec->cancel && !ctx->cancel_asked) {
    ctx->cancel_asked = 1;
    type->exec->cancel(ctx);
  }
}

static void start_attempt(struct exec *ex, size_t i);

static void retry_cb(uv_timer_t *t)
{
  struct step_ctx *ctx = t->data;
  struct exec *ex = ctx->ex;
  size_t i = ctx->index;

  ctx_free(ctx);
  ex->ctx[i] = NULL;
  if (ex->stopping) {
    ex->running--;
    type_add(ex, ex->dag->nodes[i].step->type->name, -1);
    finish(ex, i, EXEC_CANCELED);
    return;
  }
  ex->running--;
  type_add(ex, ex->dag->nodes[i].step->type->name, -1);
  start_attempt(ex, i);
}

void step_done(struct step_ctx *ctx, int status, json_t *outputs,
               const char *fmt, ...)
{
  struct exec *ex = ctx->ex;
  size_t i = ctx->index;
  const struct wf_step *s = ex->dag->nodes[i].step;
  double seconds = (uv_now(ex->loop) - ctx->started) / 1e3;
  struct buf msg;
  va_list ap;

  if (ctx->done) {
    /* A second completion is a bug in the step; keep the first. */
    json_decref(outputs);
    return;
  }
  ctx->done = 1;
  uv_timer_stop(&ctx->timeout);
  if (status == 0) {
    ex->outputs[i] = outputs ? outputs : json_object();
    free(ex->errors[i]);
    ex->errors[i] = NULL;
    ex->running--;
    type_add(ex, s->type->name, -1);
    ex->status[i] = EXEC_SUCCEEDED;
    emit(ex, EXEC_EVENT_FINISHED, i, NULL, seconds);
    ctx_free(ctx);
    ex->ctx[i] = NULL;
    finish(ex, i, EXEC_SUCCEEDED);
    return;
  }
  json_decref(outputs);
  buf_init(&msg, 1 << 16);
  if (ctx->timed_out) {
    buf_addf(&msg, "timed out after %.0f s", s->timeout);
  } else if (fmt) {
    va_start(ap, fmt);
    buf_vaddf(&msg, fmt, ap);
    va_end(ap);
  } else {
    buf_adds(&msg, sr_strerror(status));
  }
  free(ex->errors[i]);
  ex->errors[i] = buf_detach(&msg, NULL);
  if (ctx->cancel_asked && !ctx->timed_out) {
    ex->running--;
    type_add(ex, s->type->name, -1);
    ex->status[i] = EXEC_CANCELED;
    emit(ex, EXEC_EVENT_FINISHED, i, ex->errors[i], seconds);
    ctx_free(ctx);
    ex->ctx[i] = NULL;
    finish(ex, i, EXEC_CANCELED);
    return;
  }
  if (ex->attempts[i] < s->retry.attempts && !ex->stopping &&
      status != SR_EINVALID) {
    double delay = s->retry.delay * pow(s->retry.factor, ex->attempts[i] - 1);
    if (s->retry.max_delay > 0 && delay > s->retry.max_delay)
      delay = s->retry.max_delay;
    ex->status[i] = EXEC_RETRY_WAIT;
    persist(ex, i);
    emit(ex, EXEC_EVENT_RETRYING, i, ex->errors[i], seconds);
    /* The slot stays taken while waiting: a retry is the same step. */
    uv_timer_start(&ctx->retry, retry_cb, (uint64_t)(delay * 1e3), 0);
    return;
  }
  ex->running--;
  type_add(ex, s->type->name, -1);
  ex->status[i] = EXEC_FAILED;
  emit(ex, EXEC_EVENT_FINISHED, i, ex->errors[i], seconds);
  ctx_free(ctx);
  ex->ctx[i] = NULL;
  finish(ex, i, EXEC_FAILED);
}

/* An earlier run's row of node i that a resume may reuse: succeeded (or
 * reused) with the same fingerprint. */
static int reusable(struct exec *ex, size_t i, const json_t *prior)
{
  const char *st = json_string_value(json_object_get(prior, "status"));
  const char *fp = json_string_value(json_object_get(prior, "fingerprint"));

  return st && (strcmp(st, "succeeded") == 0 || strcmp(st, "reused") == 0) &&
         fp && strcmp(fp, ex->fingerprints[i]) == 0 &&
         json_is_object(json_object_get(prior, "outputs"));
}

/* Node i takes the earlier run's outputs. */
static void reuse(struct exec *ex, size_t i, const json_t *prior,
                  const char *why)
{
  char text[128];

  ex->attempts[i] = (int)json_integer_value(json_object_get(prior, "attempt"));
  ex->outputs[i] = json_incref(json_object_get(prior, "outputs"));
  ex->status[i] = EXEC_REUSED;
  snprintf(text, sizeof(text), "reused from the earlier run%s", why ? why : "");
  emit(ex, EXEC_EVENT_FINISHED, i, text, 0);
  finish(ex, i, EXEC_REUSED);
}

static void run_step(struct step_ctx *ctx);

static void start_attempt(struct exec *ex, size_t i)
{
  const struct dag_node *n = &ex->dag->nodes[i];
  const struct step_type *type = n->step->type;
  struct step_ctx *ctx;
  char err[1024];
  json_t *inputs = NULL;
  int rc;

  const json_t *prior =
      ex->opts->prior ? json_object_get(ex->opts->prior, n->id) : NULL;
  const json_t *check = NULL; /* the earlier row, whose data identify checks */
  int first = ex->attempts[i] == 0;

  /* On resume, continue the attempt that was in flight (its journal
   * re-attaches), or start the next after one that ended badly. */
  if (first && prior) {
    const char *st = json_string_value(json_object_get(prior, "status"));
    int was = (int)json_integer_value(json_object_get(prior, "attempt"));
    if (st && (strcmp(st, "running") == 0 || strcmp(st, "retry-wait") == 0 ||
               strcmp(st, "pending") == 0))
      ex->attempts[i] = was > 0 ? was - 1 : 0;
    else
      ex->attempts[i] = was;
  }
  ex->attempts[i]++;
  rc = exec_resolve_inputs(ex->dag, i, ex->outputs, ex->run, &inputs, err,
                           sizeof(err));
  if (rc) {
    free(ex->errors[i]);
    ex->errors[i] = strdup(err);
    emit(ex, EXEC_EVENT_FINISHED, i, err, 0);
    finish(ex, i, EXEC_FAILED);
    return;
  }
  exec_fingerprint(n, inputs, ex->fingerprints[i]);
  json_decref(ex->inputs[i]);
  ex->inputs[i] = json_incref(inputs);
  /* Finally steps always run again: a resumed run may have created what
   * they clean up. A step that read outside data is reused only when
   * that data is still the same, which identify finds out first. */
  if (first && prior && !n->step->finally && reusable(ex, i, prior)) {
    const json_t *was = json_object_get(prior, "identity");

    if (!json_is_object(was) || type->exec == NULL ||
        type->exec->identify == NULL) {
      json_decref(inputs);
      reuse(ex, i, prior, NULL);
      return;
    }
    check = prior;
  }
  if (type->exec == NULL) {
    json_decref(inputs);
    free(ex->errors[i]);
    ex->errors[i] = strdup("this version of sagerun cannot run this step "
                           "type");
    finish(ex, i, EXEC_FAILED);
    return;
  }
  ctx = calloc(1, sizeof(*ctx));
  if (ctx == NULL) {
    json_decref(inputs);
    finish(ex, i, EXEC_FAILED);
    return;
  }
  ctx->ex = ex;
  ctx->index = i;
  ctx->inputs = inputs;
  ctx->attempt = ex->attempts[i];
  ctx->started = (double)uv_now(ex->loop);
  uv_timer_init(ex->loop, &ctx->timeout);
  uv_timer_init(ex->loop, &ctx->retry);
  ctx->timeout.data = ctx;
  ctx->retry.data = ctx;
  ex->handles++;
  ex->ctx[i] = ctx;
  ex->status[i] = EXEC_RUNNING;
  ex->running++;
  type_add(ex, type->name, 1);
  persist(ex, i);
  emit(ex, EXEC_EVENT_STARTED, i, NULL, 0);
  if (check) {
    ctx->identifying = check;
    step_progress(ctx, "checking whether the data it read changed");
    if (type->exec->identify(ctx) == 0)
      return; /* step_identified goes on */
    ctx->identifying = NULL;
    step_log(ctx, "cannot tell whether the data it read changed: it runs "
                  "again");
  }
  run_step(ctx);
}

/* Starts the step proper (after any identify). */
static void run_step(struct step_ctx *ctx)
{
  struct exec *ex = ctx->ex;
  const struct wf_step *s = ex->dag->nodes[ctx->index].step;
  int rc;

  if (s->timeout > 0)
    uv_timer_start(&ctx->timeout, timeout_cb, (uint64_t)(s->timeout * 1e3), 0);
  rc = s->type->exec->start(ctx);
  if (rc) {
    /* start failed: its step_done never comes; finish it here. */
    ctx->done = 0;
    step_done(ctx, rc, NULL, "could not start: %s", sr_strerror(rc));
  }
}

void step_identified(struct step_ctx *ctx, json_t *identity)
{
  struct exec *ex = ctx->ex;
  size_t i = ctx->index;
  const json_t *prior = ctx->identifying, *was;

  if (prior == NULL) {
    json_decref(identity); /* not asked, or asked twice: a step's bug */
    return;
  }
  ctx->identifying = NULL;
  was = json_object_get(prior, "identity");
  if (ctx->cancel_asked) {
    json_decref(identity);
    step_done(ctx, SR_ECANCELED, NULL, "canceled");
    return;
  }
  if (identity && json_equal(identity, was)) {
    json_decref(identity);
    ex->running--;
    type_add(ex, ex->dag->nodes[i].step->type->name, -1);
    ctx_free(ctx);
    ex->ctx[i] = NULL;
    reuse(ex, i, prior, " (the data it read is unchanged)");
    return;
  }
  {
    char *now =
        identity ? json_dumps(identity, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *then = json_dumps(was, JSON_COMPACT | JSON_SORT_KEYS);

    step_log(ctx, "the data it read changed since the earlier run: %s, now %s",
             then ? then : "?", now ? now : "unknown");
    if (ex->opts->state)
      state_event(ex->opts->state, ex->opts->run_id, ex->dag->nodes[i].id,
                  "data-changed", then);
    free(now);
    free(then);
  }
  json_decref(identity);
  run_step(ctx);
}

void step_set_identity(struct step_ctx *ctx, json_t *identity)
{
  struct exec *ex = ctx->ex;

  if (identity && ex->opts->state)
    state_step_set_identity(ex->opts->state, ex->opts->run_id,
                            ex->dag->nodes[ctx->index].id, identity);
  json_decref(identity);
}

/* A node has finished: release what waited for it. */
static void node_finished(struct exec *ex, size_t i)
{
  const struct dag_node *n = &ex->dag->nodes[i];
  int ok = ex->status[i] == EXEC_SUCCEEDED || ex->status[i] == EXEC_REUSED ||
           (ex->status[i] == EXEC_FAILED && n->step->continue_on_error);
  size_t k;

  ex->left--;
  if (!n->step->finally)
    ex->main_left--;
  for (k = 0; k < ex->ndependents[i]; k++) {
    size_t d = ex->dependents[i][k];
    if (ex->status[d] != EXEC_PENDING)
      continue;
    if (!ok && !ex->dag->nodes[d].step->finally) {
      free(ex->errors[d]);
      ex->errors[d] = NULL;
      {
        struct buf msg;
        buf_init(&msg, 4096);
        buf_addf(&msg, "not run: %s %s", n->id,
                 exec_status_name(ex->status[i]));
        ex->errors[d] = buf_detach(&msg, NULL);
      }
      ex->status[d] =
          ex->status[i] == EXEC_CANCELED ? EXEC_CANCELED : EXEC_SKIPPED;
      ex->waiting[d] = 0;
      emit(ex, EXEC_EVENT_FINISHED, d, ex->errors[d], 0);
      persist(ex, d);
      node_finished(ex, d);
      continue;
    }
    if (ex->waiting[d] > 0 && --ex->waiting[d] == 0) {
      ex->queue[ex->qtail++] = d;
    }
  }
  if (ex->main_left == 0 && !ex->finally_open) {
    ex->finally_open = 1;
    for (k = 0; k < ex->dag->count; k++)
      if (ex->dag->nodes[k].step->finally && ex->status[k] == EXEC_PENDING &&
          ex->waiting[k] == 0)
        ex->queue[ex->qtail++] = k;
  }
}

static void schedule(struct exec *ex)
{
  size_t limit = ex->opts->sequential ? 1 : (size_t)ex->dag->wf->max_parallel;
  size_t scanned = 0, pending = ex->qtail - ex->qhead;

  /* Ready nodes in FIFO order; one held back by its type's limit goes to
   * the back so others can pass it. */
  while (ex->qhead < ex->qtail && ex->running < limit && scanned < pending) {
    size_t i = ex->queue[ex->qhead];
    const struct dag_node *n = &ex->dag->nodes[i];
    scanned++;
    if (n->step->finally && !ex->finally_open)
      break;
    ex->qhead++;
    if (ex->status[i] != EXEC_PENDING)
      continue;
    if (ex->stopping && !n->step->finally) {
      ex->status[i] = EXEC_CANCELED;
      emit(ex, EXEC_EVENT_FINISHED, i, "not started: interrupted", 0);
      persist(ex, i);
      node_finished(ex, i);
      continue;
    }
    if (!type_allows(ex, n->step->type->name)) {
      ex->queue[ex->qtail++] = i;
      continue;
    }
    start_attempt(ex, i);
  }
  if (ex->left == 0) {
    if (ex->signals) {
      uv_close((uv_handle_t *)&ex->sigint, handle_closed);
      uv_close((uv_handle_t *)&ex->sigterm, handle_closed);
      ex->signals = 0;
    }
    if (!uv_is_closing((uv_handle_t *)&ex->kick))
      uv_close((uv_handle_t *)&ex->kick, handle_closed);
    if (ex->ticking) {
      uv_close((uv_handle_t *)&ex->tick, handle_closed);
      ex->ticking = 0;
    }
  }
}

static void tick_cb(uv_timer_t *t)
{
  emit(t->data, EXEC_EVENT_TICK, (size_t)-1, NULL, 0);
}

static void signal_cb(uv_signal_t *sig, int signum)
{
  struct exec *ex = sig->data;
  size_t i;

  if (ex->stopping) {
    /* Second signal: leave now; the state store has what resume needs. */
    signal(signum, SIG_DFL);
    raise(signum);
    _exit(130);
  }
  ex->stopping = 1;
  emit(ex, EXEC_EVENT_INTERRUPTED, (size_t)-1, NULL, 0);
  for (i = 0; i < ex->dag->count; i++) {
    struct step_ctx *ctx = ex->ctx[i];
    const struct step_type *type = ex->dag->nodes[i].step->type;
    if (ctx == NULL || ctx->done || ex->dag->nodes[i].step->finally)
      continue;
    if (ex->status[i] == EXEC_RETRY_WAIT) {
      uv_timer_stop(&ctx->retry);
      retry_cb(&ctx->retry);
      continue;
    }
    /* While identify works, its answer sees cancel_asked instead. */
    if (ctx->identifying) {
      ctx->cancel_asked = 1;
      continue;
    }
    if (type->exec->cancel && !ctx->cancel_asked) {
      ctx->cancel_asked = 1;
      type->exec->cancel(ctx);
    }
  }
  kick(ex);
}

static int exec_init(struct exec *ex, uv_loop_t *loop, struct dag *dag,
                     const struct exec_opts *opts)
{
  size_t n = dag->count, i, k;

  memset(ex, 0, sizeof(*ex));
  ex->loop = loop;
  ex->dag = dag;
  ex->opts = opts;
  ex->status = calloc(n + 1, sizeof(*ex->status));
  ex->waiting = calloc(n + 1, sizeof(*ex->waiting));
  ex->dependents = calloc(n + 1, sizeof(*ex->dependents));
  ex->ndependents = calloc(n + 1, sizeof(*ex->ndependents));
  ex->outputs = calloc(n + 1, sizeof(*ex->outputs));
  ex->inputs = calloc(n + 1, sizeof(*ex->inputs));
  ex->fingerprints = calloc(n + 1, sizeof(*ex->fingerprints));
  ex->errors = calloc(n + 1, sizeof(*ex->errors));
  ex->attempts = calloc(n + 1, sizeof(*ex->attempts));
  ex->ctx = calloc(n + 1, sizeof(*ex->ctx));
  /* A node can be queued again when its type's limit holds it back, but
   * never more than once per pass over the queue. */
  ex->queue = calloc(n * 4 + 16, sizeof(*ex->queue));
  ex->running_by_type = json_object();
  ex->ledger = json_array();
  ex->run = json_object();
  if (!ex->status || !ex->waiting || !ex->dependents || !ex->ndependents ||
      !ex->outputs || !ex->inputs || !ex->fingerprints || !ex->errors ||
      !ex->attempts || !ex->ctx || !ex->queue || !ex->running_by_type ||
      !ex->run)
    return SR_ENOMEM;
  json_decref(ex->run);
  ex->run = exec_run_info(dag, opts->run_id, opts->started_at, opts->region);
  if (ex->run == NULL)
    return SR_ENOMEM;
  for (i = 0; i < n; i++)
    for (k = 0; k < dag->nodes[i].ndeps; k++)
      ex->ndependents[dag->nodes[i].deps[k]]++;
  for (i = 0; i < n; i++) {
    ex->dependents[i] = calloc(ex->ndependents[i] + 1, sizeof(size_t));
    if (ex->dependents[i] == NULL)
      return SR_ENOMEM;
    ex->ndependents[i] = 0;
  }
  for (i = 0; i < n; i++) {
    const struct dag_node *node = &dag->nodes[i];
    ex->waiting[i] = node->ndeps;
    for (k = 0; k < node->ndeps; k++) {
      size_t d = node->deps[k];
      ex->dependents[d][ex->ndependents[d]++] = i;
    }
    if (!node->step->finally)
      ex->main_left++;
  }
  ex->left = n;
  return 0;
}

static void exec_destroy(struct exec *ex)
{
  size_t i;

  for (i = 0; i < ex->dag->count; i++) {
    if (ex->dependents)
      free(ex->dependents[i]);
    if (ex->outputs)
      json_decref(ex->outputs[i]);
    if (ex->inputs)
      json_decref(ex->inputs[i]);
    if (ex->errors)
      free(ex->errors[i]);
  }
  free(ex->status);
  free(ex->waiting);
  free(ex->dependents);
  free(ex->ndependents);
  free(ex->outputs);
  free(ex->inputs);
  free(ex->fingerprints);
  free(ex->errors);
  free(ex->attempts);
  free(ex->ctx);
  free(ex->queue);
  json_decref(ex->running_by_type);
  json_decref(ex->ledger);
  json_decref(ex->run);
}

int exec_run(uv_loop_t *loop, struct dag *dag, const struct exec_opts *opts,
             struct exec_summary *summary)
{
  struct exec ex;
  size_t i;
  int rc, result = 0, main_failed = 0, finally_failed = 0;

  if (summary)
    memset(summary, 0, sizeof(*summary));
  rc = exec_init(&ex, loop, dag, opts);
  if (rc) {
    exec_destroy(&ex);
    return rc;
  }
  uv_idle_init(loop, &ex.kick);
  ex.kick.data = &ex;
  ex.handles++;
  if (opts->ticks && opts->on_event) {
    uv_timer_init(loop, &ex.tick);
    ex.tick.data = &ex;
    uv_timer_start(&ex.tick, tick_cb, 1000, 1000);
    ex.handles++;
    ex.ticking = 1;
  }
  if (opts->handle_signals) {
    uv_signal_init(loop, &ex.sigint);
    uv_signal_init(loop, &ex.sigterm);
    ex.sigint.data = &ex;
    ex.sigterm.data = &ex;
    uv_signal_start(&ex.sigint, signal_cb, SIGINT);
    uv_signal_start(&ex.sigterm, signal_cb, SIGTERM);
    ex.handles += 2;
    ex.signals = 1;
  }
  for (i = 0; i < dag->count; i++)
    if (ex.status[i] == EXEC_PENDING && ex.waiting[i] == 0 &&
        (!dag->nodes[i].step->finally || ex.finally_open)) {
      int queued = 0;
      for (size_t q = ex.qhead; q < ex.qtail; q++)
        queued |= ex.queue[q] == i;
      if (!queued)
        ex.queue[ex.qtail++] = i;
    }
  kick(&ex);
  uv_run(loop, UV_RUN_DEFAULT);

  for (i = 0; i < dag->count; i++) {
    int fin = dag->nodes[i].step->finally;
    switch (ex.status[i]) {
    case EXEC_SUCCEEDED:
      if (summary)
        summary->succeeded++;
      break;
    case EXEC_REUSED:
      if (summary)
        summary->reused++;
      break;
    case EXEC_FAILED:
      if (summary)
        summary->failed++;
      if (!dag->nodes[i].step->continue_on_error)
        *(fin ? &finally_failed : &main_failed) = 1;
      break;
    case EXEC_SKIPPED:
      if (summary)
        summary->skipped++;
      break;
    default:
      if (summary)
        summary->canceled++;
      if (!fin)
        main_failed = 1;
      break;
    }
  }
  if (summary) {
    summary->interrupted = ex.stopping;
    summary->outputs = json_object();
    summary->errors = json_object();
    for (i = 0; i < dag->count; i++) {
      if (ex.outputs[i])
        json_object_set(summary->outputs, dag->nodes[i].id, ex.outputs[i]);
      if (ex.errors[i])
        json_object_set_new(summary->errors, dag->nodes[i].id,
                            json_string(ex.errors[i]));
    }
  }
  if (ex.stopping)
    result = 130;
  else if (main_failed || finally_failed)
    result = 1;
  exec_destroy(&ex);
  return result;
}

void exec_summary_free(struct exec_summary *s)
{
  json_decref(s->outputs);
  json_decref(s->errors);
  s->outputs = NULL;
  s->errors = NULL;
}

/* ---- The ctx API steps use ---------------------------------------------- */

const json_t *step_inputs(const struct step_ctx *ctx)
{
  return ctx->inputs;
}

uv_loop_t *step_loop(const struct step_ctx *ctx)
{
  return ctx->ex->loop;
}

struct aws_client *step_aws(const struct step_ctx *ctx)
{
  return ctx->ex->opts->aws;
}

const char *step_region(const struct step_ctx *ctx)
{
  return ctx->ex->opts->region ? ctx->ex->opts->region : "us-east-1";
}

const char *step_instance_id(const struct step_ctx *ctx)
{
  return ctx->ex->dag->nodes[ctx->index].id;
}

const char *step_run_id(const struct step_ctx *ctx)
{
  return ctx->ex->opts->run_id;
}

int step_attempt(const struct step_ctx *ctx)
{
  return ctx->attempt;
}

int step_planning(const struct step_ctx *ctx)
{
  return ctx->ex->opts->planning;
}

void step_set_data(struct step_ctx *ctx, void *data)
{
  ctx->data = data;
}

void *step_data(const struct step_ctx *ctx)
{
  return ctx->data;
}

const char *step_work_dir(const struct step_ctx *ctx)
{
  return ctx->ex->opts->work_dir ? ctx->ex->opts->work_dir : ".";
}

void step_progress(struct step_ctx *ctx, const char *fmt, ...)
{
  struct buf b;
  va_list ap;

  buf_init(&b, 4096);
  va_start(ap, fmt);
  buf_vaddf(&b, fmt, ap);
  va_end(ap);
  free(ctx->progress);
  ctx->progress = buf_detach(&b, NULL);
  emit(ctx->ex, EXEC_EVENT_PROGRESS, ctx->index, ctx->progress, 0);
}

void step_log(struct step_ctx *ctx, const char *fmt, ...)
{
  struct buf b;
  va_list ap;

  buf_init(&b, 1 << 16);
  va_start(ap, fmt);
  buf_vaddf(&b, fmt, ap);
  va_end(ap);
  emit(ctx->ex, EXEC_EVENT_LOG, ctx->index, buf_str(&b), 0);
  if (ctx->ex->opts->state)
    state_event(ctx->ex->opts->state, ctx->ex->opts->run_id,
                step_instance_id(ctx), "log", buf_str(&b));
  buf_free(&b);
}

/* FNV-1a: a stable short hash for resource names. */
static unsigned long long fnv1a(const char *s, unsigned long long h)
{
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

int step_resource_name(const struct step_ctx *ctx, const char *prefix,
                       char *out, size_t outlen)
{
  char attempt[16], clean[64];
  unsigned long long h = 14695981039346656037ULL;
  const char *run = step_run_id(ctx) ? step_run_id(ctx) : "plan";
  size_t i, n = 0;

  if (outlen < 64)
    return SR_EINVAL;
  /* Only [a-zA-Z0-9-], no leading, trailing or double dash. */
  for (i = 0; prefix && prefix[i] && n < 30; i++) {
    char c = prefix[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9');
    if (ok)
      clean[n++] = c;
    else if (n > 0 && clean[n - 1] != '-')
      clean[n++] = '-';
  }
  while (n > 0 && clean[n - 1] == '-')
    n--;
  clean[n] = '\0';
  snprintf(attempt, sizeof(attempt), "#%d", ctx->attempt);
  h = fnv1a(run, h);
  h = fnv1a(step_instance_id(ctx), h);
  h = fnv1a(attempt, h);
  /* prefix (<= 30) + "-" + run (<= 20 kept) + "-" + 8 hex: <= 63. */
  snprintf(out, outlen, "%s%s%.20s-%08llx", clean, n ? "-" : "", run,
           h & 0xffffffffULL);
  for (i = 0; out[i]; i++)
    if (!((out[i] >= 'a' && out[i] <= 'z') ||
          (out[i] >= 'A' && out[i] <= 'Z') || (out[i] >= '0' && out[i] <= '9')))
      out[i] = '-';
  return 0;
}

int step_journal_intent(struct step_ctx *ctx, const char *kind,
                        const char *name, const json_t *details)
{
  if (ctx->ex->opts->state == NULL)
    return 0;
  return state_journal_intent(ctx->ex->opts->state, ctx->ex->opts->run_id,
                              step_instance_id(ctx), ctx->attempt, kind, name,
                              details);
}

const json_t *step_journal_find(const struct step_ctx *ctx, const char *kind)
{
  json_t *found;

  if (ctx->ex->opts->state == NULL)
    return NULL;
  found = state_journal_find(ctx->ex->opts->state, ctx->ex->opts->run_id,
                             step_instance_id(ctx), ctx->attempt, kind);
  if (found == NULL)
    return NULL;
  /* Kept with the context, so the borrowed pointer lives as long. */
  json_decref(((struct step_ctx *)ctx)->journal);
  ((struct step_ctx *)ctx)->journal = found;
  return found;
}

/* Without a state store (plan, tests) the ledger lives in memory for
 * the run, so cleanup steps still see what the run created. */
int step_ledger_add(struct step_ctx *ctx, const char *kind, const char *name,
                    const char *arn)
{
  struct exec *ex = ctx->ex;

  if (ex->opts->state)
    return state_ledger_add(ex->opts->state, ex->opts->run_id,
                            step_instance_id(ctx), kind, name, arn);
  return json_array_append_new(ex->ledger,
                               json_pack("{s:s,s:s,s:s?,s:s,s:n}", "kind", kind,
                                         "name", name, "arn", arn, "step",
                                         step_instance_id(ctx), "deleted_at"))
             ? SR_ENOMEM
             : 0;
}

int step_ledger_mark_deleted(struct step_ctx *ctx, const char *kind,
                             const char *name)
{
  struct exec *ex = ctx->ex;
  size_t i;
  json_t *row;

  if (ex->opts->state)
    return state_ledger_mark_deleted(ex->opts->state, ex->opts->run_id, kind,
                                     name);
  json_array_foreach(ex->ledger, i, row)
  {
    if (strcmp(json_string_value(json_object_get(row, "kind")), kind) == 0 &&
        strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
      json_object_set_new(row, "deleted_at", json_string("now"));
  }
  return 0;
}

json_t *step_ledger_list(const struct step_ctx *ctx, const char *kind)
{
  struct exec *ex = ctx->ex;
  json_t *out, *row;
  size_t i;

  if (ex->opts->state)
    return state_ledger_list(ex->opts->state, ex->opts->run_id, kind);
  out = json_array();
  json_array_foreach(ex->ledger, i, row)
  {
    if (kind == NULL ||
        strcmp(json_string_value(json_object_get(row, "kind")), kind) == 0)
      json_array_append_new(out, json_deep_copy(row));
  }
  return out;
}

struct work {
  uv_work_t req;
  struct step_ctx *ctx;
  void (*work)(void *data);
  void (*after)(void *data, int status);
  void *data;
};

static void work_cb(uv_work_t *req)
{
  struct work *w = req->data;

  w->work(w->data);
}

static void after_work_cb(uv_work_t *req, int status)
{
  struct work *w = req->data;

  w->after(w->data, status);
  free(w);
}

int step_work(struct step_ctx *ctx, void (*work)(void *data),
              void (*after)(void *data, int status), void *data)
{
  struct work *w = calloc(1, sizeof(*w));
  int rc;

  if (w == NULL)
    return SR_ENOMEM;
  w->ctx = ctx;
  w->work = work;
  w->after = after;
  w->data = data;
  w->req.data = w;
  rc = uv_queue_work(ctx->ex->loop, &w->req, work_cb, after_work_cb);
  if (rc) {
    free(w);
    return SR_ENOMEM;
  }
  return 0;
}
