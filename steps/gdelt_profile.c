/* gdelt.profile: what the seed's exploration shows of a GDELT source, as
 * data for the report: the share of rows per EventCode, describe()-style
 * statistics of numeric columns and equal-width histograms (numpy's
 * binning, so the counts match the seed's plots). Blank and non-numeric
 * values are counted as missing and left out of the statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"
#include "gdelt_job.h"
#include "source_identity.h"

#define PLACEHOLDER "(known after gdelt.profile)"

static const char *const default_columns[] = {
    "NumArticles",    "AvgTone",       "Actor1Geo_Lat",
    "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long"};

struct profile {
  struct step_ctx *ctx;
  struct gdelt_spec spec;
  struct gdelt_job *job;
  const char **events;
  size_t bins;
  json_t *result; /* built off the loop by finish */
};

static void profile_free(struct profile *p)
{
  gdelt_job_free(p->job);
  gdelt_spec_free(&p->spec);
  free(p->events);
  json_decref(p->result);
  free(p);
}

/* NaN and infinities have no JSON form: null. */
static json_t *number(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

/* Off the loop: statistics and histograms of every profiled column. */
static int profile_finish(struct gdelt_job *job, char *err, size_t errlen)
{
  struct profile *p = gdelt_job_data(job);
  struct gdelt_scan *sc = gdelt_job_scan(job);
  struct gdelt_code_count *v = NULL;
  json_t *shares = json_array(), *stats = json_object(), *hists = json_object();
  uint64_t *counts = calloc(p->bins, sizeof(*counts));
  double *edges = calloc(p->bins + 1, sizeof(*edges));
  uint64_t rows = sc->kept;
  size_t i, k, n = 0;
  int rc = SR_ENOMEM;

  if (shares == NULL || stats == NULL || hists == NULL || counts == NULL ||
      edges == NULL ||
      gdelt_codes_sorted(&sc->codes, p->spec.seed_compat, &v, &n) != 0)
    goto out;
  for (i = 0; i < n; i++)
    json_array_append_new(
        shares, json_pack("{s:s,s:I,s:f}", "code", v[i].code, "count",
                          (json_int_t)v[i].count, "share",
                          rows ? (double)v[i].count / (double)rows : 0.0));
  for (k = 0; k < p->spec.nprofile; k++) {
    struct gdelt_stats st;
    json_t *c = json_array(), *e = json_array();
    size_t nv = buf_len(&sc->profile[k]) / sizeof(double);
    /* The values are ours to reorder: selection happens in place. */
    double *values = (double *)buf_str(&sc->profile[k]);
    gdelt_profile_column(values, nv, sc->profile_missing[k], p->bins, &st,
                         counts, edges);
    for (i = 0; c && i < p->bins; i++)
      json_array_append_new(c, json_integer((json_int_t)counts[i]));
    for (i = 0; e && i <= p->bins; i++)
      json_array_append_new(e, number(edges[i]));
    json_object_set_new(
        stats, p->spec.profile[k],
        json_pack("{s:I,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "count",
                  (json_int_t)st.count, "missing", (json_int_t)st.missing,
                  "zeros", (json_int_t)st.zeros, "mean", number(st.mean), "std",
                  number(st.std), "min", number(st.min), "p25", number(st.p25),
                  "p50", number(st.p50), "p75", number(st.p75), "max",
                  number(st.max)));
    json_object_set_new(hists, p->spec.profile[k],
                        json_pack("{s:o,s:o}", "edges", e, "counts", c));
  }
  p->result = json_pack("{s:O,s:O,s:O,s:I,s:I}", "shares", shares, "stats",
                        stats, "histograms", hists, "rows", (json_int_t)rows,
                        "malformed", (json_int_t)sc->malformed);
  if (p->result)
    rc = 0;
out:
  if (rc)
    snprintf(err, errlen, "out of memory");
  json_decref(shares);
  json_decref(stats);
  json_decref(hists);
  free(counts);
  free(edges);
  free(v);
  return rc;
}

static void profile_done(struct gdelt_job *job, int status, const char *message,
                         void *data)
{
  struct profile *p = data;
  struct step_ctx *ctx = p->ctx;
  json_t *out;

  (void)job;
  step_set_data(ctx, NULL);
  if (status) {
    char text[512];
    /* message lives in the job: keep it past the free. */
    snprintf(text, sizeof(text), "%s", message);
    profile_free(p);
    step_done(ctx, status, NULL, "%s", text);
    return;
  }
  out = json_incref(p->result);
  profile_free(p);
  step_done(ctx, 0, out, NULL);
}

static int profile_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  const json_t *events = json_object_get(in, "events");
  const json_t *columns = json_object_get(in, "columns");
  const json_t *bins = json_object_get(in, "bins");
  const char *source = json_string_value(json_object_get(in, "source"));
  struct gdelt_job_opts o;
  struct profile *p;
  char err[512];
  size_t i;
  int rc;

  if (step_planning(ctx)) {
    step_done(ctx, 0,
              json_pack("{s:s,s:s,s:s,s:s,s:s}", "shares", PLACEHOLDER, "stats",
                        PLACEHOLDER, "histograms", PLACEHOLDER, "rows",
                        PLACEHOLDER, "malformed", PLACEHOLDER),
              NULL);
    return 0;
  }
  if (source == NULL)
    return SR_EINVAL;
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return SR_ENOMEM;
  p->ctx = ctx;
  p->bins = json_is_integer(bins) && json_integer_value(bins) > 0
                ? (size_t)json_integer_value(bins)
                : 30;
  rc = gdelt_job_common_inputs(in, &p->spec, err, sizeof(err));
  p->spec.count_codes = 1;
  if (json_array_size(columns) > GDELT_MAX_PROFILE) {
    rc = SR_EINVAL;
    snprintf(err, sizeof(err), "at most %d columns", GDELT_MAX_PROFILE);
  } else if (json_array_size(columns) > 0) {
    for (i = 0; i < json_array_size(columns); i++)
      p->spec.profile[i] = json_string_value(json_array_get(columns, i));
    p->spec.nprofile = json_array_size(columns);
  } else {
    for (i = 0; i < sizeof(default_columns) / sizeof(*default_columns); i++)
      p->spec.profile[i] = default_columns[i];
    p->spec.nprofile = i;
  }
  if (rc == 0 && json_array_size(events) > 0) {
    p->events = calloc(json_array_size(events), sizeof(*p->events));
    if (p->events == NULL) {
      profile_free(p);
      return SR_ENOMEM;
    }
    for (i = 0; i < json_array_size(events); i++)
      p->events[i] = json_string_value(json_array_get(events, i));
    p->spec.events = p->events;
    p->spec.nevents = json_array_size(events);
  }
  for (i = 0; rc == 0 && i < p->spec.nprofile; i++) {
    if (p->spec.profile[i] == NULL) {
      rc = SR_EINVAL;
      snprintf(err, sizeof(err), "columns must be names");
    }
  }
  if (rc == 0)
    rc = gdelt_spec_compile(&p->spec, err, sizeof(err));
  if (rc) {
    profile_free(p);
    step_done(ctx, rc, NULL, "%s", err);
    return 0;
  }
  memset(&o, 0, sizeof(o));
  o.ctx = ctx;
  o.source = source;
  o.spec = &p->spec;
  o.finish = profile_finish;
  o.done = profile_done;
  o.data = p;
  step_set_data(ctx, p);
  rc = gdelt_job_start(&o, &p->job, err, sizeof(err));
  if (rc) {
    step_set_data(ctx, NULL);
    profile_free(p);
    step_done(ctx, rc, NULL, "%s", err);
  }
  return 0;
}

static void profile_cancel(struct step_ctx *ctx)
{
  struct profile *p = step_data(ctx);

  if (p && p->job)
    gdelt_job_cancel(p->job);
}

const struct step_exec gdelt_profile_exec = {
    STEP_ABI_VERSION, profile_start, profile_cancel, source_identity_check};
