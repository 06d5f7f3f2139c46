/* Linear learner training: the scaler's statistics, num_models models
 * trained together on mini-batches, evaluation, early stopping and the
 * choice of the final model.
 *
 * Layout: every per-model quantity is a row of MP floats (num_models
 * padded to a multiple of VW), model m at column m, so one pass over a
 * row updates all models with vector instructions. Weights are rows
 * 0..d-1 of W and the bias row d. A mini-batch runs in three dense
 * passes: predictions P = X W (+ bias) for every row and model, the
 * loss's derivative in place of P, and the gradient G = X^T P; then one
 * optimizer step per parameter. Padding models have a zero learning rate
 * and stay zero. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../runner/error.h"
#include "ll_internal.h"
#include "linear_learner.h"

/* GCC and Clang vector extensions: plain C arithmetic on 8 floats, which
 * the compiler maps to SSE, AVX or NEON; no intrinsics, no -march. The
 * helpers are macros so that no function takes or returns a vector by
 * value (that would tie the code to an AVX calling convention). v8u is
 * the same vector for loads and stores at any float address. */
#define VW 8
typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

#define VLD(p) (*(const v8u *)(const void *)(p))
#define VST(p, v) (*(v8u *)(void *)(p) = (v))
#define VDUP(s) ((v8){0} + (float)(s))
#define VSEL(mask, a, b) ((v8)(((v8i)(a) & (mask)) | ((v8i)(b) & ~(mask))))
#define VABS(a) ((v8)((v8i)(a)&0x7fffffff))
#define VMAX0(a) VSEL((a) > 0.0f, (a), VDUP(0))
#define VSIGN(a) VSEL((a) > 0.0f, VDUP(1), VSEL((a) < 0.0f, VDUP(-1), VDUP(0)))

/* The kernels also get an AVX2+FMA build, picked at load time on CPUs
 * that have it (about three times the throughput of the SSE2 baseline).
 * Needs ifunc, so x86-64 Linux only. */
#if defined(__x86_64__) && defined(__linux__) &&                               \
    (defined(__clang__) || defined(__GNUC__))
#define KERNEL __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERNEL
#endif

#define NBINS 1024        /* score histogram bins for the threshold */
#define CHUNK 256         /* rows scored at a time */
#define SAMPLE_MAX 100000 /* training sample rows kept at most */
#define LL_PI 3.14159265358979323846

/* The loss's parameters in the units it is applied in. */
struct loss_params {
  enum ll_loss loss;
  float delta, eps, q, margin;
};

struct ll_trainer {
  struct ll_config c;
  size_t d, M, MP, nc;
  /* State, (d + 1) * MP each: weights (bias row last), moments. */
  float *W, *S1, *S2;
  float *G; /* gradient */
  /* A mini-batch goes through in chunks of CHUNK rows, its gradient
   * summed in G, so memory does not grow with mini_batch_size. */
  float *P;  /* CHUNK * MP: predictions, then derivatives */
  float *xb; /* CHUNK * d: the normalised rows */
  float *yb, *wb;
  size_t nb;         /* rows in the chunk */
  size_t batch_rows; /* rows of the mini-batch already in G */
  struct ll_model_params *params;
  float *lr, *wd, *l1; /* MP each: the models' own values */
  float *lr_now;       /* MP: learning rates after the schedule */
  struct loss_params lp_train, lp_eval;
  /* Scaler: x_norm = (x - shift) * scale, likewise the label. */
  float *shift, *scale;
  float label_shift, label_scale;
  double *mean, *stdev; /* d + 1: for the record */
  float pos_weight;
  /* The first epoch's first rows, raw, for evaluation without a
   * validation channel. */
  float *sx, *sy;
  size_t sn, scap;
  /* Progress. */
  size_t epoch;
  int begun, in_epoch;
  size_t updates, epoch_batches, epochs_finished;
  double rows_since_sync;
  double *train_sum, train_weight;
  float *batch_sum;
  /* Early stopping and per-model best snapshots. */
  double best_criterion;
  size_t bad_epochs;
  float *bestW;
  double *best_key, *best_value;
  size_t *best_epoch;
  struct ll_model_metrics *metrics, *best_metrics;
  char error[512];
};

struct ll_eval {
  size_t M, MP, d, per_model;
  int binary;
  double *sums; /* per model: objective, squared, absolute, count, then
                   NBINS negatives' and NBINS positives' histogram */
  float *xb, *P;
};

/* ---- memory ---- */

static void *zalloc(size_t n, size_t size)
{
  void *p;

  if (n == 0)
    n = 1;
  if (size && n > SIZE_MAX / size)
    return NULL;
  /* 64-byte aligned: rows of MP floats start on cache lines. */
  if (posix_memalign(&p, 64, n * size) != 0)
    return NULL;
  memset(p, 0, n * size);
  return p;
}

/* ---- moments ---- */

int ll_moments_init(struct ll_moments *s, size_t feature_dim, size_t cap)
{
  memset(s, 0, sizeof(*s));
  s->dim = feature_dim + 1;
  s->cap = cap;
  s->mean = calloc(s->dim, sizeof(double));
  s->m2 = calloc(s->dim, sizeof(double));
  if (s->mean == NULL || s->m2 == NULL) {
    ll_moments_free(s);
    return SR_ENOMEM;
  }
  return 0;
}

void ll_moments_free(struct ll_moments *s)
{
  free(s->mean);
  free(s->m2);
  s->mean = s->m2 = NULL;
}

/* Welford's update, one value. */
static void welford(double *mean, double *m2, double count, double v)
{
  double delta = v - *mean;

  *mean += delta / count;
  *m2 += delta * (v - *mean);
}

size_t ll_moments_add(struct ll_moments *s, const float *x, const float *y,
                      size_t n)
{
  size_t d = s->dim - 1, i, j;

  if (s->cap && s->count + (double)n > (double)s->cap)
    n = s->count >= (double)s->cap ? 0 : (size_t)((double)s->cap - s->count);
  for (i = 0; i < n; i++) {
    s->count += 1;
    for (j = 0; j < d; j++)
      welford(&s->mean[j], &s->m2[j], s->count, x[i * d + j]);
    welford(&s->mean[d], &s->m2[d], s->count, y[i]);
  }
  return n;
}

int ll_moments_merge(struct ll_moments *dst, const struct ll_moments *src)
{
  double na = dst->count, nb = src->count, n = na + nb;
  size_t j;

  if (dst->dim != src->dim)
    return SR_EINVAL;
  if (nb == 0)
    return 0;
  for (j = 0; j < dst->dim; j++) {
    double delta = src->mean[j] - dst->mean[j];

    dst->mean[j] += delta * nb / n;
    dst->m2[j] += src->m2[j] + delta * delta * na * nb / n;
  }
  dst->count = n;
  return 0;
}

size_t ll_moments_size(size_t feature_dim)
{
  return 1 + 2 * (feature_dim + 1);
}

void ll_moments_export(const struct ll_moments *s, double *out)
{
  out[0] = s->count;
  memcpy(out + 1, s->mean, s->dim * sizeof(double));
  memcpy(out + 1 + s->dim, s->m2, s->dim * sizeof(double));
}

int ll_moments_import(struct ll_moments *s, const double *in, size_t n)
{
  if (n != ll_moments_size(s->dim - 1))
    return SR_EINVAL;
  s->count = in[0];
  memcpy(s->mean, in + 1, s->dim * sizeof(double));
  memcpy(s->m2, in + 1 + s->dim, s->dim * sizeof(double));
  return 0;
}

/* ---- the models' hyperparameters ---- */

/* Point k of the van der Corput sequence in base b: the Halton sequence's
 * coordinates, evenly spread for every prefix. */
static double halton(size_t k, unsigned b)
{
  double f = 1, r = 0;

  while (k) {
    f /= b;
    r += f * (double)(k % b);
    k /= b;
  }
  return r;
}

/* A value around centre c: half a decade either side when given, the
 * whole [lo, hi] decade range when auto; 0 given stays 0. */
static double spread(double c, int given, double u, double lo, double hi)
{
  if (given)
    return c == 0 ? 0 : c * pow(10, u - 0.5);
  return pow(10, lo + (hi - lo) * u);
}

static void models_params(struct ll_trainer *t)
{
  const struct ll_config *c = &t->c;
  size_t k;

  for (k = 0; k < t->M; k++) {
    struct ll_model_params *p = &t->params[k];

    p->optimizer = c->optimizer;
    p->lr_scheduler_step = c->lr_scheduler_step;
    p->lr_scheduler_factor = c->lr_scheduler_factor;
    p->lr_scheduler_minimum_lr = c->lr_scheduler_minimum_lr;
    if (k == 0) {
      p->learning_rate = c->learning_rate;
      p->wd = c->wd;
      p->l1 = c->l1;
    } else {
      p->learning_rate =
          spread(c->learning_rate, c->learning_rate_given, halton(k, 2), -4, 0);
      p->wd = spread(c->wd, c->wd_given, halton(k, 3), -8, -2);
      p->l1 = spread(c->l1, c->l1_given, halton(k, 5), -8, -2);
    }
    t->lr[k] = (float)p->learning_rate;
    t->wd[k] = (float)p->wd;
    t->l1[k] = (float)p->l1;
  }
}

/* splitmix64: a small deterministic generator, the same in every worker. */
static uint64_t rng_next(uint64_t *s)
{
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s)
{
  return ((double)(rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static void models_init(struct ll_trainer *t)
{
  const struct ll_config *c = &t->c;
  size_t m, j, MP = t->MP;

  for (m = 0; m < t->M; m++) {
    uint64_t s = 0x11ea7e5a6e5eedULL + 0x1000 * (uint64_t)m;

    for (j = 0; j < t->d; j++) {
      double v;

      if (c->init_method == LL_INIT_NORMAL) {
        double u1 = rng_uniform(&s), u2 = rng_uniform(&s);

        v = c->init_sigma * sqrt(-2 * log(u1)) * cos(2 * LL_PI * u2);
      } else {
        v = c->init_scale * (2 * rng_uniform(&s) - 1);
      }
      t->W[j * MP + m] = (float)v;
    }
    t->W[t->d * MP + m] = c->use_bias ? (float)c->init_bias : 0;
  }
}

/* ---- scaler ---- */

static int scaler_init(struct ll_trainer *t, const struct ll_moments *s,
                       struct buf *err)
{
  const struct ll_config *c = &t->c;
  size_t d = t->d, j;
  int need = c->normalize_data || c->unbias_data || c->normalize_label ||
             c->unbias_label || isnan(c->positive_example_weight_mult);

  for (j = 0; j < d; j++)
    t->scale[j] = 1;
  t->label_scale = 1;
  t->pos_weight = 1;
  if (!isnan(c->positive_example_weight_mult))
    t->pos_weight = (float)c->positive_example_weight_mult;
  if (s == NULL) {
    if (!need)
      return 0;
    buf_adds(err, "the scaler's statistics are required");
    return SR_EINVAL;
  }
  if (s->dim != d + 1) {
    buf_addf(err, "the scaler's statistics have %zu features, not %zu",
             s->dim - 1, d);
    return SR_EINVAL;
  }
  if (s->count <= 0) {
    buf_adds(err, "ClientError: no records in the train channel");
    return SR_EINVAL;
  }
  for (j = 0; j <= d; j++) {
    t->mean[j] = s->mean[j];
    t->stdev[j] = sqrt(s->m2[j] / s->count);
  }
  /* A constant feature keeps scale 1: it only moves the bias. */
  for (j = 0; j < d; j++) {
    t->shift[j] = c->unbias_data ? (float)t->mean[j] : 0;
    if (c->normalize_data && t->stdev[j] > 0 && isfinite(1 / t->stdev[j]))
      t->scale[j] = (float)(1 / t->stdev[j]);
  }
  t->label_shift = c->unbias_label ? (float)t->mean[d] : 0;
  if (c->normalize_label && t->stdev[d] > 0 && isfinite(1 / t->stdev[d]))
    t->label_scale = (float)(1 / t->stdev[d]);
  if (isnan(c->positive_example_weight_mult)) {
    /* balanced: positives weigh negatives / positives */
    double p = t->mean[d];

    if (p > 0 && p < 1)
      t->pos_weight = (float)((1 - p) / p);
  }
  return 0;
}

/* ---- construction ---- */

void ll_trainer_free(struct ll_trainer *t)
{
  if (t == NULL)
    return;
  free(t->W);
  free(t->S1);
  free(t->S2);
  free(t->G);
  free(t->P);
  free(t->xb);
  free(t->yb);
  free(t->wb);
  free(t->params);
  free(t->lr);
  free(t->wd);
  free(t->l1);
  free(t->lr_now);
  free(t->shift);
  free(t->scale);
  free(t->mean);
  free(t->stdev);
  free(t->sx);
  free(t->sy);
  free(t->train_sum);
  free(t->batch_sum);
  free(t->bestW);
  free(t->best_key);
  free(t->best_value);
  free(t->best_epoch);
  free(t->metrics);
  free(t->best_metrics);
  free(t);
}

int ll_trainer_new(struct ll_trainer **out, const struct ll_config *c,
                   const struct ll_moments *stats, struct buf *err)
{
  struct ll_trainer *t;
  size_t d = c->feature_dim, rows, m;
  int rc = SR_ENOMEM;

  *out = NULL;
  if (!c->priv_finished || d == 0) {
    buf_adds(err, "the configuration is not finished");
    return SR_EINVAL;
  }
  t = calloc(1, sizeof(*t));
  if (t == NULL)
    return SR_ENOMEM;
  t->c = *c;
  t->d = d;
  t->M = c->num_models;
  t->MP = (t->M + VW - 1) / VW * VW;
  t->nc = t->MP / VW;
  rows = (d + 1) * t->MP;
  /* The sample: num_point_for_scaler rows, as the scaler saw. */
  t->scap = c->num_point_for_scaler < SAMPLE_MAX ? c->num_point_for_scaler
                                                 : SAMPLE_MAX;
  t->W = zalloc(rows, sizeof(float));
  t->S1 = zalloc(rows, sizeof(float));
  t->S2 = zalloc(rows, sizeof(float));
  t->G = zalloc(rows, sizeof(float));
  t->bestW = zalloc(rows, sizeof(float));
  t->P = zalloc(CHUNK * t->MP, sizeof(float));
  t->xb = zalloc(CHUNK * d, sizeof(float));
  t->yb = zalloc(CHUNK, sizeof(float));
  t->wb = zalloc(CHUNK, sizeof(float));
  t->params = calloc(t->M, sizeof(*t->params));
  t->lr = zalloc(t->MP, sizeof(float));
  t->wd = zalloc(t->MP, sizeof(float));
  t->l1 = zalloc(t->MP, sizeof(float));
  t->lr_now = zalloc(t->MP, sizeof(float));
  t->shift = zalloc(d, sizeof(float));
  t->scale = zalloc(d, sizeof(float));
  t->mean = zalloc(d + 1, sizeof(double));
  t->stdev = zalloc(d + 1, sizeof(double));
  t->train_sum = zalloc(t->MP, sizeof(double));
  t->batch_sum = zalloc(t->MP, sizeof(float));
  t->best_key = zalloc(t->M, sizeof(double));
  t->best_value = zalloc(t->M, sizeof(double));
  t->best_epoch = zalloc(t->M, sizeof(size_t));
  t->metrics = zalloc(t->M, sizeof(*t->metrics));
  t->best_metrics = zalloc(t->M, sizeof(*t->best_metrics));
  if (!t->W || !t->S1 || !t->S2 || !t->G || !t->bestW || !t->P || !t->xb ||
      !t->yb || !t->wb || !t->params || !t->lr || !t->wd || !t->l1 ||
      !t->lr_now || !t->shift || !t->scale || !t->mean || !t->stdev ||
      !t->train_sum || !t->batch_sum || !t->best_key || !t->best_value ||
      !t->best_epoch || !t->metrics || !t->best_metrics)
    goto out;
  rc = scaler_init(t, stats, err);
  if (rc)
    goto out;
  t->lp_train.loss = t->lp_eval.loss = c->loss;
  t->lp_eval.delta = (float)c->huber_delta;
  t->lp_eval.eps = (float)c->loss_insensitivity;
  t->lp_eval.q = t->lp_train.q = (float)c->quantile;
  t->lp_eval.margin = t->lp_train.margin = (float)c->margin;
  /* Training sees normalised labels: the loss's own units scale along. */
  t->lp_train.delta = (float)(c->huber_delta * t->label_scale);
  t->lp_train.eps = (float)(c->loss_insensitivity * t->label_scale);
  models_params(t);
  models_init(t);
  memcpy(t->bestW, t->W, rows * sizeof(float));
  for (m = 0; m < t->M; m++) {
    t->best_key[m] = HUGE_VAL;
    t->best_value[m] = -HUGE_VAL;
  }
  t->best_criterion = HUGE_VAL;
  *out = t;
  return 0;
out:
  ll_trainer_free(t);
  return rc;
}

size_t ll_trainer_num_models(const struct ll_trainer *t)
{
  return t->M;
}

size_t ll_trainer_feature_dim(const struct ll_trainer *t)
{
  return t->d;
}

const struct ll_model_params *
ll_trainer_model_params(const struct ll_trainer *t, size_t k)
{
  return k < t->M ? &t->params[k] : NULL;
}

const char *ll_trainer_error(const struct ll_trainer *t)
{
  return t->error;
}

static int dump_json(json_t *o, size_t flags, struct buf *out)
{
  char *text;
  int rc;

  if (o == NULL)
    return SR_ENOMEM;
  text = json_dumps(o, flags);
  json_decref(o);
  if (text == NULL)
    return SR_ENOMEM;
  rc = buf_adds(out, text);
  free(text);
  return rc;
}

int ll_trainer_describe_model(const struct ll_trainer *t, size_t k,
                              struct buf *out)
{
  const struct ll_model_params *p = ll_trainer_model_params(t, k);

  if (p == NULL)
    return SR_EINVAL;
  return dump_json(
      json_pack("{s:s, s:f, s:f, s:f, s:I, s:f, s:f}", "optimizer",
                ll_optimizer_name(p->optimizer), "learning_rate",
                p->learning_rate, "wd", p->wd, "l1", p->l1, "lr_scheduler_step",
                (json_int_t)p->lr_scheduler_step, "lr_scheduler_factor",
                p->lr_scheduler_factor, "lr_scheduler_minimum_lr",
                p->lr_scheduler_minimum_lr),
      JSON_REAL_PRECISION(7), out);
}

static json_t *doubles(const double *v, size_t n)
{
  json_t *a = json_array();
  size_t i;

  for (i = 0; a && i < n; i++)
    if (json_array_append_new(a, json_real(isfinite(v[i]) ? v[i] : 0))) {
      json_decref(a);
      return NULL;
    }
  return a;
}

int ll_trainer_format_scaler(const struct ll_trainer *t, struct buf *out)
{
  return dump_json(json_pack("{s:o?, s:o?, s:f, s:f}", "mean_weight",
                             doubles(t->mean, t->d), "stdev_weight",
                             doubles(t->stdev, t->d), "mean_label",
                             t->mean[t->d], "stdev_label", t->stdev[t->d]),
                   JSON_REAL_PRECISION(8), out);
}

/* ---- the mini-batch kernels ---- */

/* P[i] = bias + X[i] . W for rows 0..n-1, all models; four rows at a
 * time so each weight vector loaded serves four rows. */
KERNEL static void forward(const float *W, size_t d, size_t MP, const float *X,
                           size_t n, float *P)
{
  size_t nc = MP / VW, i = 0, c, j;

  for (; i + 4 <= n; i += 4) {
    const float *x0 = X + i * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;

    for (c = 0; c < nc; c++) {
      v8 b = VLD(W + d * MP + c * VW), a0 = b, a1 = b, a2 = b, a3 = b;

      for (j = 0; j < d; j++) {
        v8 w = VLD(W + j * MP + c * VW);

        a0 += x0[j] * w;
        a1 += x1[j] * w;
        a2 += x2[j] * w;
        a3 += x3[j] * w;
      }
      VST(P + i * MP + c * VW, a0);
      VST(P + (i + 1) * MP + c * VW, a1);
      VST(P + (i + 2) * MP + c * VW, a2);
      VST(P + (i + 3) * MP + c * VW, a3);
    }
  }
  for (; i < n; i++) {
    const float *x = X + i * d;

    for (c = 0; c < nc; c++) {
      v8 a = VLD(W + d * MP + c * VW);

      for (j = 0; j < d; j++)
        a += x[j] * VLD(W + j * MP + c * VW);
      VST(P + i * MP + c * VW, a);
    }
  }
}

/* G += X^T D (rows 0..d-1) and the bias row d += the sum of D; four rows
 * at a time so each gradient vector is loaded and stored once per four. */
KERNEL static void backward(size_t d, size_t MP, const float *X, size_t n,
                            const float *D, float *G)
{
  size_t nc = MP / VW, i = 0, c, j;

  for (; i + 4 <= n; i += 4) {
    const float *x0 = X + i * d, *x1 = x0 + d, *x2 = x1 + d, *x3 = x2 + d;

    for (c = 0; c < nc; c++) {
      v8 g0 = VLD(D + i * MP + c * VW), g1 = VLD(D + (i + 1) * MP + c * VW);
      v8 g2 = VLD(D + (i + 2) * MP + c * VW);
      v8 g3 = VLD(D + (i + 3) * MP + c * VW);
      float *gp;

      for (j = 0; j < d; j++) {
        gp = G + j * MP + c * VW;
        VST(gp, VLD(gp) + x0[j] * g0 + x1[j] * g1 + x2[j] * g2 + x3[j] * g3);
      }
      gp = G + d * MP + c * VW;
      VST(gp, VLD(gp) + g0 + g1 + g2 + g3);
    }
  }
  for (; i < n; i++) {
    const float *x = X + i * d;

    for (c = 0; c < nc; c++) {
      v8 g = VLD(D + i * MP + c * VW);
      float *gp;

      for (j = 0; j < d; j++) {
        gp = G + j * MP + c * VW;
        VST(gp, VLD(gp) + x[j] * g);
      }
      gp = G + d * MP + c * VW;
      VST(gp, VLD(gp) + g);
    }
  }
}

/* Scalar logistic loss and derivative at logit p, label y in {0, 1}. */
static void logistic(float p, float y, float *l, float *g)
{
  float e = expf(-fabsf(p));

  *l = (p > 0 ? p : 0) - y * p + log1pf(e);
  *g = (p >= 0 ? 1 / (1 + e) : e / (1 + e)) - y;
}

/* One loss on eight (prediction, label) pairs: value l, derivative g. */
#define LOSS_CASES(p, y, lp, l, g)                                             \
  case LL_SQUARED_LOSS: {                                                      \
    v8 r = p - y;                                                              \
    l = r * r;                                                                 \
    g = 2 * r;                                                                 \
    break;                                                                     \
  }                                                                            \
  case LL_ABSOLUTE_LOSS: {                                                     \
    v8 r = p - y;                                                              \
    l = VABS(r);                                                               \
    g = VSIGN(r);                                                              \
    break;                                                                     \
  }                                                                            \
  case LL_HUBER_LOSS: {                                                        \
    v8 r = p - y, a = VABS(r), dl = VDUP(lp->delta);                           \
    l = VSEL(a <= dl, 0.5f * r * r, dl * (a - 0.5f * dl));                     \
    g = VSEL(r > dl, dl, VSEL(r < -dl, -dl, r));                               \
    break;                                                                     \
  }                                                                            \
  case LL_EPS_INSENSITIVE_SQUARED_LOSS: {                                      \
    v8 r = p - y, e = VMAX0(VABS(r) - lp->eps);                                \
    l = e * e;                                                                 \
    g = 2 * e * VSIGN(r);                                                      \
    break;                                                                     \
  }                                                                            \
  case LL_EPS_INSENSITIVE_ABSOLUTE_LOSS: {                                     \
    v8 r = p - y, e = VMAX0(VABS(r) - lp->eps);                                \
    l = e;                                                                     \
    g = VSEL(e > 0.0f, VSIGN(r), VDUP(0));                                     \
    break;                                                                     \
  }                                                                            \
  case LL_QUANTILE_LOSS: {                                                     \
    v8 e = y - p, q = VDUP(lp->q);                                             \
    l = VSEL(e >= 0.0f, q * e, (q - 1) * e);                                   \
    g = VSEL(e > 0.0f, -q, VSEL(e < 0.0f, 1 - q, VDUP(0)));                    \
    break;                                                                     \
  }                                                                            \
  case LL_HINGE_LOSS: {                                                        \
    v8 s = 2 * y - 1, z = lp->margin - s * p;                                  \
    l = VMAX0(z);                                                              \
    g = VSEL(z > 0.0f, -s, VDUP(0));                                           \
    break;                                                                     \
  }                                                                            \
  case LL_LOGISTIC: {                                                          \
    float lg_l[VW], lg_g[VW], lg_p[VW], lg_y[VW];                              \
    int lg_k;                                                                  \
    VST(lg_p, p);                                                              \
    VST(lg_y, y);                                                              \
    for (lg_k = 0; lg_k < VW; lg_k++)                                          \
      logistic(lg_p[lg_k], lg_y[lg_k], &lg_l[lg_k], &lg_g[lg_k]);              \
    l = VLD(lg_l);                                                             \
    g = VLD(lg_g);                                                             \
    break;                                                                     \
  }                                                                            \
  default:                                                                     \
    l = g = VDUP(NAN);                                                         \
    break;

/* Replaces P (n rows of MP) with w_i * dloss/dp and adds sum_i w_i * loss
 * to sums[MP]. The switch sits outside the loops: each loss gets its own
 * vectorised loop. */
KERNEL static void loss_grad(const struct loss_params *lp, size_t MP, float *P,
                             const float *y, const float *w, size_t n,
                             float *sums)
{
  size_t nc = MP / VW, i, c;

  switch (lp->loss) {
#define LOOP(CASE)                                                             \
  case CASE:                                                                   \
    for (c = 0; c < nc; c++) {                                                 \
      v8 acc = VDUP(0);                                                        \
      for (i = 0; i < n; i++) {                                                \
        float *pp = P + i * MP + c * VW;                                       \
        v8 p = VLD(pp), yv = VDUP(y[i]), wv = VDUP(w[i]), l, g;                \
        switch (CASE) {                                                        \
          LOSS_CASES(p, yv, lp, l, g)                                          \
        }                                                                      \
        acc += wv * l;                                                         \
        VST(pp, wv *g);                                                        \
      }                                                                        \
      VST(sums + c * VW, VLD(sums + c * VW) + acc);                            \
    }                                                                          \
    break;
    LOOP(LL_SQUARED_LOSS)
    LOOP(LL_ABSOLUTE_LOSS)
    LOOP(LL_HUBER_LOSS)
    LOOP(LL_EPS_INSENSITIVE_SQUARED_LOSS)
    LOOP(LL_EPS_INSENSITIVE_ABSOLUTE_LOSS)
    LOOP(LL_QUANTILE_LOSS)
    LOOP(LL_HINGE_LOSS)
    LOOP(LL_LOGISTIC)
#undef LOOP
  default:
    break;
  }
}

void ll_loss_eval(enum ll_loss loss, const double param[4], float p, float y,
                  float *l, float *g)
{
  struct loss_params lpv = {loss, (float)param[0], (float)param[1],
                            (float)param[2], (float)param[3]};
  const struct loss_params *lp = &lpv;
  v8 pv = VDUP(p), yv = VDUP(y), lv, gv;
  float lo[VW], go[VW];

  switch (loss) {
    LOSS_CASES(pv, yv, lp, lv, gv)
  }
  VST(lo, lv);
  VST(go, gv);
  *l = lo[0];
  *g = go[0];
}

/* The learning rate of model m after the schedule's decays so far. */
static double scheduled_lr(const struct ll_trainer *t, size_t m)
{
  const struct ll_model_params *p = &t->params[m];
  double lr = p->learning_rate, decayed;

  if (!t->c.use_lr_scheduler || lr <= p->lr_scheduler_minimum_lr)
    return lr;
  decayed = lr * pow(p->lr_scheduler_factor,
                     (double)(t->updates / p->lr_scheduler_step));
  return decayed > p->lr_scheduler_minimum_lr ? decayed
                                              : p->lr_scheduler_minimum_lr;
}

/* One optimizer step from the gradient sum G over n rows. Per batch, not
 * per row, so plain scalar code. */
static void step(struct ll_trainer *t, size_t n)
{
  const struct ll_config *c = &t->c;
  size_t MP = t->MP, d = t->d, j, m;
  float inv = 1.0f / (float)n;
  double b1t, b2t;
  float c1, c2;

  t->updates++;
  b1t = pow(c->beta_1, (double)t->updates);
  b2t = pow(c->beta_2, (double)t->updates);
  c1 = (float)(1 - b1t);
  c2 = (float)(1 - b2t);
  for (m = 0; m < t->M; m++)
    t->lr_now[m] = (float)scheduled_lr(t, m);
  for (j = 0; j <= d; j++) {
    int bias = j == d;

    if (bias && !c->use_bias)
      break;
    for (m = 0; m < t->M; m++) {
      size_t i = j * MP + m;
      float w = t->W[i], g = t->G[i] * inv, a, wd, l1;

      a = t->lr_now[m];
      wd = t->wd[m];
      l1 = t->l1[m];
      if (bias) {
        a *= (float)c->bias_lr_mult;
        wd *= (float)c->bias_wd_mult;
        l1 = 0;
      }
      g += wd * w;
      switch (c->optimizer) {
      case LL_SGD:
        t->S1[i] = (float)c->momentum * t->S1[i] - a * g;
        w += t->S1[i];
        break;
      case LL_RMSPROP:
        /* MXNet's RMSProp: decay 0.9 (its gamma1), no momentum */
        t->S2[i] = 0.9f * t->S2[i] + 0.1f * g * g;
        w -= a * g / (sqrtf(t->S2[i]) + 1e-8f);
        break;
      default: /* adam */
        t->S1[i] = (float)c->beta_1 * t->S1[i] + (1 - (float)c->beta_1) * g;
        t->S2[i] = (float)c->beta_2 * t->S2[i] + (1 - (float)c->beta_2) * g * g;
        w -= a * (t->S1[i] / c1) / (sqrtf(t->S2[i] / c2) + 1e-8f);
        break;
      }
      if (l1 > 0) {
        /* L1 as a proximal step: shrink towards 0, stop at 0 */
        float s = a * l1;

        w = w > s ? w - s : w < -s ? w + s : 0;
      }
      t->W[i] = w;
    }
  }
}

/* Adds the chunk's rows to the mini-batch: their loss to the epoch's
 * sums, their gradient to G. */
static void flush_chunk(struct ll_trainer *t)
{
  size_t n = t->nb, m;
  double wsum = 0;

  if (n == 0)
    return;
  forward(t->W, t->d, t->MP, t->xb, n, t->P);
  memset(t->batch_sum, 0, t->MP * sizeof(float));
  loss_grad(&t->lp_train, t->MP, t->P, t->yb, t->wb, n, t->batch_sum);
  for (m = 0; m < n; m++)
    wsum += t->wb[m];
  for (m = 0; m < t->M; m++)
    t->train_sum[m] += t->batch_sum[m];
  t->train_weight += wsum;
  backward(t->d, t->MP, t->xb, n, t->P, t->G);
  t->batch_rows += n;
  t->nb = 0;
}

/* Ends the mini-batch: one step for every model. */
static void end_batch(struct ll_trainer *t)
{
  flush_chunk(t);
  if (t->batch_rows == 0)
    return;
  step(t, t->batch_rows);
  memset(t->G, 0, (t->d + 1) * t->MP * sizeof(float));
  t->batch_rows = 0;
  t->epoch_batches++;
}

static int fail(struct ll_trainer *t, const char *what, double v)
{
  snprintf(t->error, sizeof(t->error), "ClientError: %s (%g)", what, v);
  return SR_EINVAL;
}

/* Checks one row and normalises it into xo (d floats) and *yo. */
static int prepare_row(struct ll_trainer *t, const float *x, float y, float *xo,
                       float *yo)
{
  size_t j;
  float bad = 0;

  for (j = 0; j < t->d; j++) {
    float v = x[j];

    if (!isfinite(v))
      bad = 1;
    xo[j] = (v - t->shift[j]) * t->scale[j];
  }
  if (bad) {
    for (j = 0; j < t->d && isfinite(x[j]); j++)
      ;
    return fail(t, "non-finite feature value in the data", x[j]);
  }
  if (!isfinite(y))
    return fail(t, "non-finite label in the data", y);
  if (t->c.predictor_type == LL_BINARY_CLASSIFIER) {
    if (y != 0 && y != 1)
      return fail(t,
                  "binary_classifier labels must be 0 or 1, found a label "
                  "of",
                  y);
    *yo = y;
  } else {
    *yo = (y - t->label_shift) * t->label_scale;
  }
  return 0;
}

void ll_epoch_begin(struct ll_trainer *t)
{
  if (t->begun)
    t->epoch++;
  t->begun = 1;
  t->in_epoch = 1;
  t->epoch_batches = 0;
  t->train_weight = 0;
  memset(t->train_sum, 0, t->MP * sizeof(double));
}

/* Keeps the first epoch's first rows for evaluation. */
static int sample_keep(struct ll_trainer *t, const float *x, float y)
{
  if (t->epoch != 0 || t->sn >= t->scap)
    return 0;
  if (t->sx == NULL) {
    t->sx = malloc(t->scap * t->d * sizeof(float));
    t->sy = malloc(t->scap * sizeof(float));
    if (t->sx == NULL || t->sy == NULL)
      return SR_ENOMEM;
  }
  memcpy(t->sx + t->sn * t->d, x, t->d * sizeof(float));
  t->sy[t->sn++] = y;
  return 0;
}

int ll_train_rows(struct ll_trainer *t, const float *x, const float *y,
                  size_t n)
{
  size_t i;
  int rc;

  if (!t->in_epoch)
    ll_epoch_begin(t);
  for (i = 0; i < n; i++) {
    const float *row = x + i * t->d;
    size_t k = t->nb;

    rc = prepare_row(t, row, y[i], t->xb + k * t->d, &t->yb[k]);
    if (rc)
      return rc;
    rc = sample_keep(t, row, y[i]);
    if (rc)
      return rc;
    t->wb[k] = t->c.predictor_type == LL_BINARY_CLASSIFIER && y[i] == 1
                   ? t->pos_weight
                   : 1;
    t->nb++;
    t->rows_since_sync += 1;
    if (t->batch_rows + t->nb == t->c.mini_batch_size)
      end_batch(t);
    else if (t->nb == CHUNK)
      flush_chunk(t);
  }
  return 0;
}

int ll_epoch_end(struct ll_trainer *t)
{
  end_batch(t);
  t->in_epoch = 0;
  return 0;
}

double ll_trainer_rows_since_sync(const struct ll_trainer *t)
{
  return t->rows_since_sync;
}

size_t ll_trainer_epoch_batches(const struct ll_trainer *t)
{
  return t->epoch_batches;
}

/* ---- parameter synchronisation ---- */

size_t ll_params_size(const struct ll_trainer *t)
{
  return 3 * (t->d + 1) * t->M;
}

void ll_params_export(const struct ll_trainer *t, float *out)
{
  const float *parts[3] = {t->W, t->S1, t->S2};
  size_t k, j, rows = t->d + 1;

  for (k = 0; k < 3; k++)
    for (j = 0; j < rows; j++)
      memcpy(out + (k * rows + j) * t->M, parts[k] + j * t->MP,
             t->M * sizeof(float));
}

int ll_params_import(struct ll_trainer *t, const float *in, size_t n)
{
  float *parts[3] = {t->W, t->S1, t->S2};
  size_t k, j, rows = t->d + 1;

  if (n != ll_params_size(t))
    return SR_EINVAL;
  for (k = 0; k < 3; k++)
    for (j = 0; j < rows; j++)
      memcpy(parts[k] + j * t->MP, in + (k * rows + j) * t->M,
             t->M * sizeof(float));
  t->rows_since_sync = 0;
  return 0;
}

void ll_params_mean(float *out, const float *const *vecs, const double *weights,
                    size_t count, size_t n)
{
  double total = 0;
  size_t i, k;
  int equal = weights == NULL;

  for (k = 0; !equal && k < count; k++)
    total += weights[k];
  if (!(total > 0))
    equal = 1;
  if (equal)
    total = (double)count;
  for (i = 0; i < n; i++) {
    double s = 0;

    for (k = 0; k < count; k++)
      s += (equal ? 1 : weights[k]) * vecs[k][i];
    out[i] = (float)(s / total);
  }
}

/* ---- evaluation ---- */

int ll_eval_new(struct ll_eval **out, const struct ll_trainer *t)
{
  struct ll_eval *e;

  *out = NULL;
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    return SR_ENOMEM;
  e->M = t->M;
  e->MP = t->MP;
  e->d = t->d;
  e->binary = t->c.predictor_type == LL_BINARY_CLASSIFIER;
  e->per_model = 4 + (e->binary ? 2 * NBINS : 0);
  e->sums = calloc(e->M * e->per_model, sizeof(double));
  e->xb = zalloc(CHUNK * t->d, sizeof(float));
  e->P = zalloc(CHUNK * t->MP, sizeof(float));
  if (e->sums == NULL || e->xb == NULL || e->P == NULL) {
    ll_eval_free(e);
    return SR_ENOMEM;
  }
  *out = e;
  return 0;
}

void ll_eval_free(struct ll_eval *e)
{
  if (e == NULL)
    return;
  free(e->sums);
  free(e->xb);
  free(e->P);
  free(e);
}

void ll_eval_reset(struct ll_eval *e)
{
  memset(e->sums, 0, e->M * e->per_model * sizeof(double));
}

size_t ll_eval_size(const struct ll_eval *e)
{
  return e->M * e->per_model;
}

void ll_eval_export(const struct ll_eval *e, double *out)
{
  memcpy(out, e->sums, ll_eval_size(e) * sizeof(double));
}

int ll_eval_merge(struct ll_eval *e, const double *in, size_t n)
{
  size_t i;

  if (n != ll_eval_size(e))
    return SR_EINVAL;
  for (i = 0; i < n; i++)
    e->sums[i] += in[i];
  return 0;
}

/* One loss value, in double: evaluation's sums span many rows. */
static double loss1(const struct loss_params *lp, double p, double y)
{
  double r = p - y, a = fabs(r), e, z;

  switch (lp->loss) {
  case LL_SQUARED_LOSS:
    return r * r;
  case LL_ABSOLUTE_LOSS:
    return a;
  case LL_HUBER_LOSS:
    return a <= lp->delta ? 0.5 * r * r : lp->delta * (a - 0.5 * lp->delta);
  case LL_EPS_INSENSITIVE_SQUARED_LOSS:
    e = a - lp->eps;
    return e > 0 ? e * e : 0;
  case LL_EPS_INSENSITIVE_ABSOLUTE_LOSS:
    e = a - lp->eps;
    return e > 0 ? e : 0;
  case LL_QUANTILE_LOSS:
    e = y - p;
    return e >= 0 ? lp->q * e : (lp->q - 1) * e;
  case LL_HINGE_LOSS:
    z = lp->margin - (2 * y - 1) * p;
    return z > 0 ? z : 0;
  case LL_LOGISTIC:
    return (p > 0 ? p : 0) - y * p + log1p(exp(-fabs(p)));
  default:
    return NAN;
  }
}

static double sigmoid(double z)
{
  return z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
}

static size_t bin_of(double prob)
{
  if (!(prob > 0))
    return 0;
  if (prob >= 1)
    return NBINS - 1;
  return (size_t)(prob * NBINS);
}

/* Scores a chunk of n prepared rows (in e->xb, raw labels in y). */
static void eval_chunk(const struct ll_trainer *t, struct ll_eval *e,
                       const float *y, size_t n)
{
  size_t i, m;

  forward(t->W, t->d, t->MP, e->xb, n, e->P);
  for (m = 0; m < t->M; m++) {
    double *s = e->sums + m * e->per_model;
    double obj = 0, sq = 0, ab = 0;

    for (i = 0; i < n; i++) {
      double p = e->P[i * t->MP + m];

      if (e->binary) {
        double prob = sigmoid(p);

        s[4 + (y[i] == 1 ? NBINS : 0) + bin_of(prob)] += 1;
      } else {
        /* back to the label's units */
        p = p / t->label_scale + t->label_shift;
        sq += (p - y[i]) * (p - y[i]);
        ab += fabs(p - y[i]);
      }
      obj += loss1(&t->lp_eval, p, y[i]);
    }
    s[0] += obj;
    s[1] += sq;
    s[2] += ab;
    s[3] += (double)n;
  }
}

int ll_eval_rows(struct ll_trainer *t, struct ll_eval *e, const float *x,
                 const float *y, size_t n)
{
  size_t i, k;
  int rc;

  for (i = 0; i < n; i += k) {
    size_t chunk = n - i < CHUNK ? n - i : CHUNK;
    float ys[CHUNK], yn;

    for (k = 0; k < chunk; k++) {
      rc = prepare_row(t, x + (i + k) * t->d, y[i + k], e->xb + k * t->d, &yn);
      if (rc)
        return rc;
      ys[k] = y[i + k];
    }
    eval_chunk(t, e, ys, chunk);
  }
  return 0;
}

int ll_eval_sample(struct ll_trainer *t, struct ll_eval *e)
{
  if (t->sn == 0)
    return 0;
  return ll_eval_rows(t, e, t->sx, t->sy, t->sn);
}

/* ---- epochs, early stopping, the choice ---- */

/* The threshold for model m's histograms (neg, pos), by the selection
 * criterion, and the metrics there. Candidates: bin edges 1..NBINS-1 of
 * the probability; "loss_function" keeps 0.5. Returns the criterion's
 * value (higher is better). */
static double calibrate(const struct ll_config *c, const double *neg,
                        const double *pos, struct ll_model_metrics *mm)
{
  double P = 0, N = 0, tp = 0, fp = 0, best = -HUGE_VAL, fallback = -1;
  double b2 = c->f_beta * c->f_beta, prob;
  size_t b, best_b = NBINS / 2, fallback_b = NBINS / 2;

  for (b = 0; b < NBINS; b++) {
    P += pos[b];
    N += neg[b];
  }
  for (b = NBINS - 1; b >= 1; b--) {
    double prec, rec, acc, fb, v;

    tp += pos[b];
    fp += neg[b];
    prec = tp + fp > 0 ? tp / (tp + fp) : 0;
    rec = P > 0 ? tp / P : 0;
    acc = P + N > 0 ? (tp + N - fp) / (P + N) : 0;
    fb = b2 * prec + rec > 0 ? (1 + b2) * prec * rec / (b2 * prec + rec) : 0;
    switch (c->selection) {
    case LL_CRIT_F_BETA:
      v = fb;
      break;
    case LL_CRIT_PRECISION_AT_TARGET_RECALL:
      v = rec >= c->target_recall ? prec : -HUGE_VAL;
      break;
    case LL_CRIT_RECALL_AT_TARGET_PRECISION:
      v = prec >= c->target_precision ? rec : -HUGE_VAL;
      break;
    case LL_CRIT_LOSS_FUNCTION:
      v = b == NBINS / 2 ? 1 : -HUGE_VAL;
      break;
    default:
      v = acc;
      break;
    }
    if (v > best) {
      best = v;
      best_b = b;
    }
    if (acc > fallback) {
      fallback = acc;
      fallback_b = b;
    }
  }
  if (best == -HUGE_VAL)
    best_b = fallback_b; /* the target is out of reach: best accuracy */
  tp = fp = 0;
  for (b = best_b; b < NBINS; b++) {
    tp += pos[b];
    fp += neg[b];
  }
  mm->precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  mm->recall = P > 0 ? tp / P : 0;
  mm->accuracy = P + N > 0 ? (tp + N - fp) / (P + N) : 0;
  mm->f_beta = b2 * mm->precision + mm->recall > 0
                   ? (1 + b2) * mm->precision * mm->recall /
                         (b2 * mm->precision + mm->recall)
                   : 0;
  prob = (double)best_b / NBINS;
  mm->threshold = c->loss == LL_HINGE_LOSS ? log(prob / (1 - prob)) : prob;
  switch (c->selection) {
  case LL_CRIT_F_BETA:
    return mm->f_beta;
  case LL_CRIT_PRECISION_AT_TARGET_RECALL:
    return mm->precision;
  case LL_CRIT_RECALL_AT_TARGET_PRECISION:
    return mm->recall;
  default:
    return mm->accuracy;
  }
}

static double or_inf(double v)
{
  return isnan(v) ? HUGE_VAL : v;
}

int ll_epoch_finish(struct ll_trainer *t, const struct ll_eval *e,
                    struct ll_epoch_report *r)
{
  const struct ll_config *c = &t->c;
  int have_eval = e != NULL && e->M == t->M && e->sums[3] > 0;
  double crit = HUGE_VAL;
  size_t m, j, best = 0;

  memset(r, 0, sizeof(*r));
  for (m = 0; m < t->M; m++) {
    struct ll_model_metrics *mm = &t->metrics[m];
    double key, value = 0;

    mm->train_objective =
        t->train_weight > 0 ? t->train_sum[m] / t->train_weight : NAN;
    mm->objective = mm->mse = mm->absolute_loss = NAN;
    mm->accuracy = mm->precision = mm->recall = mm->f_beta = NAN;
    mm->threshold = NAN;
    mm->count = 0;
    if (have_eval) {
      const double *s = e->sums + m * e->per_model;

      mm->count = s[3];
      mm->objective = s[0] / s[3];
      if (!e->binary) {
        mm->mse = s[1] / s[3];
        mm->absolute_loss = s[2] / s[3];
      } else {
        value = calibrate(c, s + 4, s + 4 + NBINS, mm);
      }
    } else if (c->predictor_type == LL_BINARY_CLASSIFIER) {
      mm->threshold = c->loss == LL_HINGE_LOSS ? 0 : 0.5;
    }
    key = or_inf(have_eval ? mm->objective : mm->train_objective);
    if (key < crit) {
      crit = key;
      best = m;
    }
    if (key < t->best_key[m]) {
      /* this model's best so far: keep its parameters */
      t->best_key[m] = key;
      t->best_value[m] = isnan(value) ? -HUGE_VAL : value;
      t->best_epoch[m] = t->epoch;
      t->best_metrics[m] = *mm;
      for (j = 0; j <= t->d; j++)
        t->bestW[j * t->MP + m] = t->W[j * t->MP + m];
    }
  }
  t->epochs_finished++;
  r->epoch = t->epoch;
  r->num_models = t->M;
  r->models = t->metrics;
  r->criterion = crit;
  r->best_model = best;
  if (crit < HUGE_VAL &&
      (t->best_criterion == HUGE_VAL ||
       crit < t->best_criterion -
                  c->early_stopping_tolerance * fabs(t->best_criterion))) {
    r->improved = 1;
    t->best_criterion = crit;
    t->bad_epochs = 0;
  } else {
    t->bad_epochs++;
  }
  r->epochs_without_improvement = t->bad_epochs;
  r->stop =
      t->bad_epochs >= c->early_stopping_patience || t->epoch + 1 >= c->epochs;
  return 0;
}

/* Picks the model to keep: lowest objective, or for binary classifiers
 * the best criterion value (ties to the lower objective). */
static size_t choose(const struct ll_trainer *t)
{
  int by_value = t->c.predictor_type == LL_BINARY_CLASSIFIER &&
                 t->c.selection != LL_CRIT_LOSS_FUNCTION;
  size_t m, k = 0;

  for (m = 1; m < t->M; m++) {
    if (by_value && t->best_key[m] < HUGE_VAL &&
        (t->best_value[m] > t->best_value[k] ||
         (t->best_value[m] == t->best_value[k] &&
          t->best_key[m] < t->best_key[k])))
      k = m;
    else if (!by_value && t->best_key[m] < t->best_key[k])
      k = m;
  }
  return k;
}

int ll_trainer_finish(struct ll_trainer *t, struct ll_model **out,
                      struct buf *err)
{
  struct ll_model *mo;
  struct buf cfg;
  size_t k, j, MP = t->MP, d = t->d;
  double b;
  int rc;

  *out = NULL;
  if (t->epochs_finished == 0) {
    buf_adds(err, "no epoch finished");
    return SR_EINVAL;
  }
  k = choose(t);
  if (!(t->best_key[k] < HUGE_VAL)) {
    buf_adds(err, "ClientError: training diverged in every model (the loss "
                  "is not finite); normalize the data or lower "
                  "learning_rate");
    return SR_EINVAL;
  }
  mo = ll_model_alloc(d, 1);
  if (mo == NULL)
    return SR_ENOMEM;
  mo->predictor = t->c.predictor_type;
  mo->loss = t->c.loss;
  mo->score = mo->predictor == LL_REGRESSOR ? LL_SCORE_IDENTITY
              : mo->loss == LL_HINGE_LOSS   ? LL_SCORE_MARGIN
                                            : LL_SCORE_SIGMOID;
  mo->index = k;
  mo->epoch = t->best_epoch[k];
  mo->params = t->params[k];
  mo->metrics = t->best_metrics[k];
  mo->threshold =
      mo->predictor == LL_BINARY_CLASSIFIER ? t->best_metrics[k].threshold : 0;
  if (isnan(mo->threshold))
    mo->threshold = mo->score == LL_SCORE_MARGIN ? 0 : 0.5;
  mo->label_shift = t->label_shift;
  mo->label_scale = t->label_scale;
  /* Fold the scaler into raw-unit weights: score = (b + sum w_j (x_j -
   * shift_j) scale_j) / label_scale + label_shift. */
  b = t->bestW[d * MP + k];
  mo->b_norm = b;
  for (j = 0; j < d; j++) {
    double w = t->bestW[j * MP + k];

    mo->w_norm[j] = w;
    mo->shift[j] = t->shift[j];
    mo->scale[j] = t->scale[j];
    mo->w[j] = w * t->scale[j] / t->label_scale;
    b -= w * t->scale[j] * t->shift[j];
  }
  mo->b = b / t->label_scale + t->label_shift;
  buf_init(&cfg, BUF_CAP_DEFAULT);
  rc = ll_config_format(&t->c, &cfg);
  if (rc == 0)
    mo->config = buf_detach(&cfg, NULL);
  buf_free(&cfg);
  if (rc || mo->config == NULL) {
    ll_model_free(mo);
    return SR_ENOMEM;
  }
  *out = mo;
  return 0;
}
