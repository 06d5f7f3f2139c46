/* Linear learner models: the artifact's JSON form (see linear_learner.h),
 * reading it back, and scoring rows for hosting. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../runner/error.h"
#include "ll_internal.h"
#include "linear_learner.h"

#define LL_MODEL_FORMAT "sagerun-linear-learner"
#define LL_MODEL_VERSION 1
/* A model file larger than this is not one of ours. */
#define LL_MODEL_MAX ((size_t)256 << 20)

static const char *const score_names[] = {"identity", "sigmoid", "margin"};

struct ll_model *ll_model_alloc(size_t d, int trained)
{
  struct ll_model *m = calloc(1, sizeof(*m));

  if (m == NULL)
    return NULL;
  m->d = d;
  m->trained = trained;
  m->w = calloc(d ? d : 1, sizeof(double));
  if (trained) {
    m->w_norm = calloc(d ? d : 1, sizeof(double));
    m->shift = calloc(d ? d : 1, sizeof(double));
    m->scale = calloc(d ? d : 1, sizeof(double));
  }
  if (m->w == NULL ||
      (trained && (m->w_norm == NULL || m->shift == NULL || !m->scale))) {
    ll_model_free(m);
    return NULL;
  }
  return m;
}

void ll_model_free(struct ll_model *m)
{
  if (m == NULL)
    return;
  free(m->w);
  free(m->w_norm);
  free(m->shift);
  free(m->scale);
  free(m->config);
  free(m);
}

size_t ll_model_feature_dim(const struct ll_model *m)
{
  return m->d;
}

enum ll_predictor ll_model_predictor(const struct ll_model *m)
{
  return m->predictor;
}

size_t ll_model_index(const struct ll_model *m)
{
  return m->index;
}

const struct ll_model_metrics *ll_model_metrics(const struct ll_model *m)
{
  return m->trained ? &m->metrics : NULL;
}

/* JSON has no NaN or infinity: those become null. */
static json_t *real(double v)
{
  return isfinite(v) ? json_real(v) : json_null();
}

static json_t *reals(const double *v, size_t n)
{
  json_t *a = json_array();
  size_t i;

  for (i = 0; a && i < n; i++)
    if (json_array_append_new(a, real(v[i])) != 0) {
      json_decref(a);
      return NULL;
    }
  return a;
}

static json_t *metrics_json(const struct ll_model *m)
{
  const struct ll_model_metrics *mm = &m->metrics;

  return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                   "train_objective", real(mm->train_objective),
                   ll_loss_objective_name(m->loss), real(mm->objective), "mse",
                   real(mm->mse), "absolute_loss", real(mm->absolute_loss),
                   "accuracy", real(mm->accuracy), "precision",
                   real(mm->precision), "recall", real(mm->recall), "f_beta",
                   real(mm->f_beta), "threshold", real(mm->threshold), "count",
                   real(mm->count));
}

static json_t *record_json(const struct ll_model *m)
{
  const struct ll_model_params *p = &m->params;
  json_t *config = json_loads(m->config ? m->config : "{}", 0, NULL);

  return json_pack(
      "{s:I, s:I, s:{s:s, s:o, s:o, s:o, s:I, s:o, s:o}, s:o?, "
      "s:{s:o?, s:o?, s:o, s:o}, s:o?, s:o, s:o?}",
      "model", (json_int_t)m->index, "epoch", (json_int_t)m->epoch,
      "hyperparameters", "optimizer", ll_optimizer_name(p->optimizer),
      "learning_rate", real(p->learning_rate), "wd", real(p->wd), "l1",
      real(p->l1), "lr_scheduler_step", (json_int_t)p->lr_scheduler_step,
      "lr_scheduler_factor", real(p->lr_scheduler_factor),
      "lr_scheduler_minimum_lr", real(p->lr_scheduler_minimum_lr), "validation",
      metrics_json(m), "scaler", "feature_shift", reals(m->shift, m->d),
      "feature_scale", reals(m->scale, m->d), "label_shift",
      real(m->label_shift), "label_scale", real(m->label_scale),
      "normalized_weights", reals(m->w_norm, m->d), "normalized_bias",
      real(m->b_norm), "configuration", config);
}

int ll_model_save(const struct ll_model *m, struct buf *out)
{
  const char *predictor =
      m->predictor == LL_REGRESSOR ? "regressor" : "binary_classifier";
  json_t *o;
  char *text;
  int rc;

  o = json_pack("{s:s, s:i, s:s, s:I, s:s, s:s, s:o?, s:o}", "format",
                LL_MODEL_FORMAT, "version", LL_MODEL_VERSION, "predictor_type",
                predictor, "feature_dim", (json_int_t)m->d, "loss",
                ll_loss_name(m->loss), "score", score_names[m->score],
                "weights", reals(m->w, m->d), "bias", real(m->b));
  if (o == NULL)
    return SR_ENOMEM;
  if (m->predictor == LL_BINARY_CLASSIFIER &&
      json_object_set_new(o, "threshold", real(m->threshold)) != 0)
    goto nomem;
  if (m->trained) {
    json_t *r = record_json(m);

    if (r == NULL || json_object_set_new(o, "training", r) != 0)
      goto nomem;
  }
  /* Default precision (17 digits): every double reads back exactly. */
  text = json_dumps(o, JSON_INDENT(1));
  json_decref(o);
  if (text == NULL)
    return SR_ENOMEM;
  rc = buf_adds(out, text);
  if (rc == 0)
    rc = buf_addc(out, '\n');
  free(text);
  return rc;
nomem:
  json_decref(o);
  return SR_ENOMEM;
}

int ll_model_write(const struct ll_model *m, const char *path)
{
  struct buf b;
  FILE *f;
  int rc;

  buf_init(&b, LL_MODEL_MAX);
  rc = ll_model_save(m, &b);
  if (rc)
    goto out;
  f = fopen(path, "wb");
  if (f == NULL) {
    rc = errno == ENOENT ? SR_ENOENT : SR_EIO;
    goto out;
  }
  if (fwrite(buf_str(&b), 1, buf_len(&b), f) != buf_len(&b))
    rc = SR_EIO;
  if (fclose(f) != 0)
    rc = SR_EIO;
out:
  buf_free(&b);
  return rc;
}

static int bad(struct buf *err, const char *what)
{
  buf_addf(err, "not a linear-learner model: %s", what);
  return SR_EINVAL;
}

/* A finite number or null (NaN). */
static int number(const json_t *v, double *out)
{
  if (json_is_null(v)) {
    *out = NAN;
    return 0;
  }
  if (!json_is_number(v))
    return -1;
  *out = json_number_value(v);
  return 0;
}

int ll_model_load(struct ll_model **out, const char *text, size_t len,
                  struct buf *err)
{
  struct ll_model *m = NULL;
  json_t *o, *w;
  json_error_t jerr;
  const char *format, *predictor, *loss, *score;
  json_int_t version, d;
  size_t i;
  int rc = SR_EINVAL;

  *out = NULL;
  o = json_loadb(text, len, 0, &jerr);
  if (o == NULL) {
    buf_addf(err, "not a linear-learner model: %s (line %d)", jerr.text,
             jerr.line);
    return SR_EINVAL;
  }
  if (json_unpack(o, "{s:s, s:I, s:s, s:I, s:s, s:s, s:o}", "format", &format,
                  "version", &version, "predictor_type", &predictor,
                  "feature_dim", &d, "loss", &loss, "score", &score, "weights",
                  &w) != 0 ||
      strcmp(format, LL_MODEL_FORMAT) != 0) {
    rc = bad(err, "missing format, version, predictor_type, feature_dim, "
                  "loss, score or weights");
    goto out;
  }
  if (version != LL_MODEL_VERSION) {
    buf_addf(err,
             "linear-learner model version %lld is not supported (%d "
             "is)",
             (long long)version, LL_MODEL_VERSION);
    goto out;
  }
  if (d < 1 || d > (1 << 24) || !json_is_array(w) ||
      json_array_size(w) != (size_t)d) {
    rc = bad(err, "weights do not match feature_dim");
    goto out;
  }
  m = ll_model_alloc((size_t)d, 0);
  if (m == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  if (strcmp(predictor, "regressor") == 0)
    m->predictor = LL_REGRESSOR;
  else if (strcmp(predictor, "binary_classifier") == 0)
    m->predictor = LL_BINARY_CLASSIFIER;
  else {
    rc = bad(err, "unknown predictor_type");
    goto out;
  }
  for (i = 0; i < sizeof(score_names) / sizeof(score_names[0]); i++)
    if (strcmp(score, score_names[i]) == 0)
      break;
  if (i == sizeof(score_names) / sizeof(score_names[0])) {
    rc = bad(err, "unknown score");
    goto out;
  }
  m->score = (enum ll_score)i;
  for (i = LL_SQUARED_LOSS; i <= LL_HINGE_LOSS; i++)
    if (strcmp(loss, ll_loss_name((enum ll_loss)i)) == 0)
      m->loss = (enum ll_loss)i;
  for (i = 0; i < (size_t)d; i++)
    if (number(json_array_get(w, i), &m->w[i]) != 0 || !isfinite(m->w[i])) {
      rc = bad(err, "a weight is not a finite number");
      goto out;
    }
  if (number(json_object_get(o, "bias"), &m->b) != 0 || !isfinite(m->b)) {
    rc = bad(err, "bias is not a finite number");
    goto out;
  }
  m->threshold = m->score == LL_SCORE_SIGMOID ? 0.5 : 0;
  if (m->predictor == LL_BINARY_CLASSIFIER &&
      json_object_get(o, "threshold") != NULL &&
      (number(json_object_get(o, "threshold"), &m->threshold) != 0 ||
       isnan(m->threshold))) {
    rc = bad(err, "threshold is not a number");
    goto out;
  }
  *out = m;
  m = NULL;
  rc = 0;
out:
  ll_model_free(m);
  json_decref(o);
  return rc;
}

int ll_model_read(struct ll_model **out, const char *path, struct buf *err)
{
  struct buf b;
  char chunk[65536];
  FILE *f;
  size_t n;
  int rc = 0;

  *out = NULL;
  f = fopen(path, "rb");
  if (f == NULL) {
    buf_addf(err, "cannot open %s: %s", path, strerror(errno));
    return errno == ENOENT ? SR_ENOENT : SR_EIO;
  }
  buf_init(&b, LL_MODEL_MAX);
  while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    rc = buf_add(&b, chunk, n);
  if (rc == 0 && ferror(f))
    rc = SR_EIO;
  fclose(f);
  if (rc == 0)
    rc = ll_model_load(out, buf_str(&b), buf_len(&b), err);
  else
    buf_addf(err, "cannot read %s: %s", path, sr_strerror(rc));
  buf_free(&b);
  return rc;
}

void ll_predict(const struct ll_model *m, const float *x, size_t n,
                float *score, float *label)
{
  size_t i, j, d = m->d;

  for (i = 0; i < n; i++) {
    const float *r = x + i * d;
    /* Four running sums, so that additions do not wait on each other. */
    double a[4] = {0, 0, 0, 0}, s, v;

    for (j = 0; j + 4 <= d; j += 4) {
      a[0] += m->w[j] * r[j];
      a[1] += m->w[j + 1] * r[j + 1];
      a[2] += m->w[j + 2] * r[j + 2];
      a[3] += m->w[j + 3] * r[j + 3];
    }
    for (; j < d; j++)
      a[0] += m->w[j] * r[j];
    s = m->b + ((a[0] + a[1]) + (a[2] + a[3]));
    switch (m->score) {
    case LL_SCORE_SIGMOID:
      v = s >= 0 ? 1 / (1 + exp(-s)) : exp(s) / (1 + exp(s));
      break;
    default:
      v = s;
      break;
    }
    score[i] = (float)v;
    if (label != NULL)
      label[i] = m->predictor == LL_BINARY_CLASSIFIER
                     ? (v >= m->threshold ? 1.0f : 0.0f)
                     : (float)v;
  }
}
