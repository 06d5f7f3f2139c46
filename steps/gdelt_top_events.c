/* gdelt.top_events: the N most frequent EventCodes of a GDELT source, with
 * their counts and shares. Given a non-empty `events`, returns it as-is
 * without reading anything. Under plan nothing is read either: the
 * outputs say when they will be known. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"
#include "gdelt_job.h"
#include "source_identity.h"

#define PLACEHOLDER "(known after gdelt.top_events)"

struct top_events {
  struct step_ctx *ctx;
  struct gdelt_spec spec;
  struct gdelt_job *job;
  size_t count;
};

static void top_free(struct top_events *t)
{
  gdelt_job_free(t->job);
  gdelt_spec_free(&t->spec);
  free(t);
}

static json_t *top_outputs(const struct gdelt_scan *sc, size_t count,
                           int numeric)
{
  struct gdelt_code_count *v = NULL;
  json_t *codes = json_array(), *counts = json_array(), *shares = json_array(),
         *out = NULL;
  uint64_t covered = 0, rows = sc->rows_read - sc->malformed;
  size_t n = 0, i;

  if (codes == NULL || counts == NULL || shares == NULL ||
      gdelt_codes_sorted(&sc->codes, numeric, &v, &n) != 0)
    goto out;
  for (i = 0; i < n && i < count; i++) {
    covered += v[i].count;
    json_array_append_new(codes, json_string(v[i].code));
    json_array_append_new(counts, json_integer((json_int_t)v[i].count));
    json_array_append_new(
        shares, json_real(rows ? (double)v[i].count / (double)rows : 0));
  }
  out = json_pack("{s:O,s:O,s:O,s:f,s:I,s:I}", "codes", codes, "counts", counts,
                  "shares", shares, "coverage",
                  rows ? (double)covered / (double)rows : 0.0, "distinct",
                  (json_int_t)n, "rows", (json_int_t)rows);
out:
  json_decref(codes);
  json_decref(counts);
  json_decref(shares);
  free(v);
  return out;
}

static void top_done(struct gdelt_job *job, int status, const char *message,
                     void *data)
{
  struct top_events *t = data;
  struct step_ctx *ctx = t->ctx;
  struct gdelt_scan *sc = gdelt_job_scan(job);
  json_t *out;

  step_set_data(ctx, NULL);
  if (status) {
    char text[512];
    /* message lives in the job: keep it past the free. */
    snprintf(text, sizeof(text), "%s", message);
    top_free(t);
    step_done(ctx, status, NULL, "%s", text);
    return;
  }
  step_log(ctx,
           "%llu rows, %llu malformed lines, %zu distinct EventCodes (%s "
           "source)",
           (unsigned long long)sc->rows_read, (unsigned long long)sc->malformed,
           sc->codes.count, gdelt_job_source_kind(job));
  out = top_outputs(sc, t->count, t->spec.seed_compat);
  top_free(t);
  if (out == NULL)
    step_done(ctx, SR_ENOMEM, NULL, "out of memory");
  else
    step_done(ctx, 0, out, NULL);
}

static int top_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  const json_t *events = json_object_get(in, "events");
  const json_t *count = json_object_get(in, "count");
  const char *source = json_string_value(json_object_get(in, "source"));
  struct gdelt_job_opts o;
  struct top_events *t;
  char err[512];
  int rc;

  if (json_array_size(events) > 0) {
    step_done(ctx, 0,
              json_pack("{s:O,s:n,s:n,s:n,s:n,s:n}", "codes", events, "counts",
                        "shares", "coverage", "distinct", "rows"),
              NULL);
    return 0;
  }
  if (step_planning(ctx)) {
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "codes", PLACEHOLDER,
                        "counts", PLACEHOLDER, "shares", PLACEHOLDER,
                        "coverage", PLACEHOLDER, "distinct", PLACEHOLDER,
                        "rows", PLACEHOLDER),
              NULL);
    return 0;
  }
  if (source == NULL)
    return SR_EINVAL;
  t = calloc(1, sizeof(*t));
  if (t == NULL)
    return SR_ENOMEM;
  t->ctx = ctx;
  t->count = json_is_integer(count) && json_integer_value(count) > 0
                 ? (size_t)json_integer_value(count)
                 : 20;
  rc = gdelt_job_common_inputs(in, &t->spec, err, sizeof(err));
  t->spec.count_codes = 1;
  if (rc == 0)
    rc = gdelt_spec_compile(&t->spec, err, sizeof(err));
  if (rc) {
    top_free(t);
    step_done(ctx, rc, NULL, "%s", err);
    return 0;
  }
  memset(&o, 0, sizeof(o));
  o.ctx = ctx;
  o.source = source;
  o.spec = &t->spec;
  o.done = top_done;
  o.data = t;
  step_set_data(ctx, t);
  rc = gdelt_job_start(&o, &t->job, err, sizeof(err));
  if (rc) {
    step_set_data(ctx, NULL);
    top_free(t);
    step_done(ctx, rc, NULL, "%s", err);
  }
  return 0;
}

static void top_cancel(struct step_ctx *ctx)
{
  struct top_events *t = step_data(ctx);

  if (t && t->job)
    gdelt_job_cancel(t->job);
}

const struct step_exec gdelt_top_events_exec = {
    STEP_ABI_VERSION, top_start, top_cancel, source_identity_check};
