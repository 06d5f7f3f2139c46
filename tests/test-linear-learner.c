/* The linear learner library (local/linear_learner.h): hyperparameters,
 * losses, optimizers, normalisation, model selection, early stopping,
 * parameter synchronisation, the model file, and scikit-learn as a peer.
 * No timing assertions: bench/bench-train.c measures speed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../local/linear_learner.h"
#include "../local/ll_internal.h"
#include "../runner/buf.h"
#include "../runner/error.h"
#include "test.h"

#define PEER_PYTHON "/usr/bin/python3"

/* ---- synthetic data ---- */

struct data {
  size_t n, d;
  float *x, *y;
};

static uint64_t rng_state;

static double uniform(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
  return sqrt(-2 * log(uniform())) * cos(2 * 3.14159265358979 * uniform());
}

static void data_alloc(struct data *D, size_t n, size_t d)
{
  D->n = n;
  D->d = d;
  D->x = malloc(n * d * sizeof(float));
  D->y = malloc(n * sizeof(float));
  ASSERT(D->x != NULL && D->y != NULL);
}

static void data_free(struct data *D)
{
  free(D->x);
  free(D->y);
}

/* y = bias + beta . x + noise, features on different scales and offsets
 * (feature j ~ N(j, (1 + j)^2)) so that normalisation matters. */
static void gen_linear(struct data *D, size_t n, size_t d, const double *beta,
                       double bias, double noise, uint64_t seed)
{
  size_t i, j;

  rng_state = seed;
  data_alloc(D, n, d);
  for (i = 0; i < n; i++) {
    double t = bias;

    for (j = 0; j < d; j++) {
      float v = (float)(j + (1 + j) * gauss());

      D->x[i * d + j] = v;
      t += beta[j] * v;
    }
    D->y[i] = (float)(t + noise * gauss());
  }
}

/* ---- driving the library ---- */

/* Hyperparameters as "name", "value", ..., NULL. */
static int parse(struct ll_config *c, const char *const *kv, struct buf *err)
{
  size_t i;
  int rc;

  ll_config_init(c);
  for (i = 0; kv[i] != NULL; i += 2) {
    rc = ll_config_set(c, kv[i], kv[i + 1], err);
    if (rc)
      return rc;
  }
  return ll_config_finish(c, err);
}

static struct ll_trainer *trainer_for(const char *const *kv,
                                      const struct data *train)
{
  struct ll_config c;
  struct ll_moments mo;
  struct ll_trainer *t = NULL;
  struct buf err;

  buf_init(&err, 4096);
  if (parse(&c, kv, &err) != 0 || ll_config_check_dim(&c, train->d, &err))
    test_fail(__FILE__, __LINE__, "config: %s", buf_str(&err));
  ASSERT_EQ(0, ll_moments_init(&mo, train->d, c.num_point_for_scaler));
  ll_moments_add(&mo, train->x, train->y, train->n);
  if (ll_trainer_new(&t, &c, &mo, &err) != 0)
    test_fail(__FILE__, __LINE__, "trainer: %s", buf_str(&err));
  ll_moments_free(&mo);
  buf_free(&err);
  return t;
}

/* One epoch on train, evaluated on valid (NULL: the training sample). */
static void run_epoch(struct ll_trainer *t, struct ll_eval *e,
                      const struct data *train, const struct data *valid,
                      struct ll_epoch_report *r)
{
  ll_epoch_begin(t);
  ASSERT_EQ(0, ll_train_rows(t, train->x, train->y, train->n));
  ASSERT_EQ(0, ll_epoch_end(t));
  ll_eval_reset(e);
  if (valid)
    ASSERT_EQ(0, ll_eval_rows(t, e, valid->x, valid->y, valid->n));
  else
    ASSERT_EQ(0, ll_eval_sample(t, e));
  ASSERT_EQ(0, ll_epoch_finish(t, e, r));
}

/* Trains until the library says stop; returns the chosen model. */
static struct ll_model *fit(const char *const *kv, const struct data *train,
                            const struct data *valid)
{
  struct ll_trainer *t = trainer_for(kv, train);
  struct ll_eval *e;
  struct ll_epoch_report r;
  struct ll_model *m = NULL;
  struct buf err;

  buf_init(&err, 4096);
  ASSERT_EQ(0, ll_eval_new(&e, t));
  do
    run_epoch(t, e, train, valid, &r);
  while (!r.stop);
  if (ll_trainer_finish(t, &m, &err) != 0)
    test_fail(__FILE__, __LINE__, "finish: %s", buf_str(&err));
  ll_eval_free(e);
  ll_trainer_free(t);
  buf_free(&err);
  return m;
}

static double model_mse(const struct ll_model *m, const struct data *D)
{
  float *s = malloc(D->n * sizeof(float));
  double sum = 0;
  size_t i;

  ASSERT(s != NULL);
  ll_predict(m, D->x, D->n, s, NULL);
  for (i = 0; i < D->n; i++)
    sum += ((double)s[i] - D->y[i]) * ((double)s[i] - D->y[i]);
  free(s);
  return sum / (double)D->n;
}

static double model_mae(const struct ll_model *m, const struct data *D)
{
  float *s = malloc(D->n * sizeof(float));
  double sum = 0;
  size_t i;

  ASSERT(s != NULL);
  ll_predict(m, D->x, D->n, s, NULL);
  for (i = 0; i < D->n; i++)
    sum += fabs((double)s[i] - D->y[i]);
  free(s);
  return sum / (double)D->n;
}

/* ---- hyperparameters ---- */

TEST(ll_config_defaults)
{
  static const char *const kv[] = {"predictor_type", "regressor", NULL};
  static const char *const kvb[] = {"predictor_type", "binary_classifier",
                                    "optimizer", "sgd", NULL};
  struct ll_config c;
  struct buf err;

  buf_init(&err, 4096);
  ASSERT_EQ(0, parse(&c, kv, &err));
  ASSERT_EQ(LL_REGRESSOR, c.predictor_type);
  ASSERT_EQ(0, c.feature_dim); /* auto until the data says */
  ASSERT_EQ(1000, c.mini_batch_size);
  ASSERT_EQ(15, c.epochs);
  ASSERT_EQ(LL_SQUARED_LOSS, c.loss);
  ASSERT_EQ(LL_ADAM, c.optimizer);
  ASSERT_EQ(32, c.num_models);
  ASSERT(c.learning_rate == 0.1 && !c.learning_rate_given);
  ASSERT(c.wd == 0 && c.l1 == 0 && !c.wd_given && !c.l1_given);
  ASSERT(c.beta_1 == 0.9 && c.beta_2 == 0.999);
  ASSERT_EQ(1, c.normalize_data);
  ASSERT_EQ(1, c.normalize_label);
  ASSERT_EQ(1, c.unbias_data);
  ASSERT_EQ(1, c.unbias_label);
  ASSERT_EQ(1, c.use_bias);
  ASSERT_EQ(1, c.use_lr_scheduler);
  ASSERT_EQ(10000, c.num_point_for_scaler);
  ASSERT_EQ(3, c.early_stopping_patience);
  ASSERT(c.early_stopping_tolerance == 0.001);
  ASSERT(c.huber_delta == 1.0 && c.quantile == 0.5 && c.margin == 1.0);
  ASSERT(c.loss_insensitivity == 0.01);
  ASSERT(c.init_scale == 0.07 && c.init_sigma == 0.01 && c.init_bias == 0);
  ASSERT_EQ(LL_INIT_UNIFORM, c.init_method);
  ASSERT_EQ(LL_CRIT_ACCURACY, c.selection);
  ASSERT_EQ(0, ll_config_check_dim(&c, 25, &err));
  ASSERT_EQ(25, c.feature_dim);

  ASSERT_EQ(0, parse(&c, kvb, &err));
  ASSERT_EQ(LL_LOGISTIC, c.loss);
  ASSERT_EQ(0, c.normalize_label); /* labels are classes */
  ASSERT_EQ(0, c.unbias_label);
  ASSERT_EQ(LL_SGD, c.optimizer);
  ASSERT(c.learning_rate == 0.01 && c.momentum == 0.9);
  ASSERT_STR_EQ("binary_classification_cross_entropy_objective",
                ll_loss_objective_name(c.loss));
  ASSERT_STR_EQ("mse_objective", ll_loss_objective_name(LL_SQUARED_LOSS));
  /* finishing again changes nothing; a later set is taken */
  ASSERT_EQ(0, ll_config_finish(&c, &err));
  ASSERT(c.learning_rate == 0.01 && !c.learning_rate_given);
  ASSERT_EQ(0, ll_config_set(&c, "learning_rate", "0.2", &err));
  ASSERT_EQ(0, ll_config_finish(&c, &err));
  ASSERT(c.learning_rate == 0.2 && c.learning_rate_given);
  ASSERT_EQ(0, ll_config_set(&c, "learning_rate", "auto", &err));
  ASSERT_EQ(0, ll_config_finish(&c, &err));
  ASSERT(c.learning_rate == 0.01 && !c.learning_rate_given);
  ASSERT_STR_EQ("", buf_str(&err));
  buf_free(&err);
}

TEST(ll_config_seed_values)
{
  /* The seed workflow's hyperparameters, as SageMaker passes them. */
  static const char *const kv[] = {"feature_dim",
                                   "25",
                                   "mini_batch_size",
                                   "500",
                                   "predictor_type",
                                   "regressor",
                                   "epochs",
                                   "2",
                                   "num_models",
                                   "32",
                                   "loss",
                                   "absolute_loss",
                                   NULL};
  struct ll_config c;
  struct buf err, out;

  buf_init(&err, 4096);
  buf_init(&out, 1 << 16);
  ASSERT_EQ(0, parse(&c, kv, &err));
  ASSERT_EQ(25, c.feature_dim);
  ASSERT_EQ(500, c.mini_batch_size);
  ASSERT_EQ(2, c.epochs);
  ASSERT_EQ(LL_ABSOLUTE_LOSS, c.loss);
  ASSERT_EQ(0, ll_config_check_dim(&c, 25, &err));
  ASSERT_EQ(SR_EINVAL, ll_config_check_dim(&c, 24, &err));
  ASSERT_CONTAINS(buf_str(&err), "ClientError: feature_dim is 25 but the "
                                 "data has 24 feature(s)");
  ASSERT_EQ(0, ll_config_format(&c, &out));
  ASSERT_CONTAINS(buf_str(&out), "\"epochs\": \"2\"");
  ASSERT_CONTAINS(buf_str(&out), "\"predictor_type\": \"regressor\"");
  ASSERT_CONTAINS(buf_str(&out), "\"wd\": \"auto\"");
  ASSERT_CONTAINS(buf_str(&out), "\"_kvstore\": \"auto\"");
  buf_free(&err);
  buf_free(&out);
}

/* Sets one pair on a regressor's config; returns the message or "". */
static void expect_invalid(const char *name, const char *value,
                           const char *message)
{
  struct ll_config c;
  struct buf err;
  int rc;

  buf_init(&err, 4096);
  ll_config_init(&c);
  rc = ll_config_set(&c, "predictor_type", "regressor", &err);
  ASSERT_EQ(0, rc);
  rc = ll_config_set(&c, name, value, &err);
  if (rc == 0)
    rc = ll_config_finish(&c, &err);
  if (rc != SR_EINVAL)
    test_fail(__FILE__, __LINE__, "%s=%s: accepted", name, value);
  ASSERT(strncmp(buf_str(&err), "ClientError: ", 13) == 0);
  ASSERT_CONTAINS(buf_str(&err), message);
  buf_free(&err);
}

TEST(ll_config_rejects)
{
  static const char *const none[] = {"epochs", "3", NULL};
  static const char *const multi[] = {"predictor_type", "multiclass_classifier",
                                      "num_classes", "3", NULL};
  struct ll_config c;
  struct buf err;

  expect_invalid("epoch", "2",
                 "Additional hyperparameters are not allowed ('epoch' was "
                 "unexpected)");
  expect_invalid("epochs", "0",
                 "Invalid hyperparameter value for epochs: '0' (expected a "
                 "positive integer)");
  expect_invalid("epochs", "two", "for epochs: 'two'");
  expect_invalid("epochs", "1.5", "for epochs: '1.5'");
  expect_invalid("mini_batch_size", "-5", "for mini_batch_size");
  expect_invalid("mini_batch_size", "", "for mini_batch_size");
  expect_invalid("feature_dim", "0", "for feature_dim");
  expect_invalid("learning_rate", "0",
                 "for learning_rate: '0' (expected "
                 "auto or a positive float)");
  expect_invalid("learning_rate", "nan", "for learning_rate");
  expect_invalid("learning_rate", "1e999", "for learning_rate");
  expect_invalid("learning_rate", " 0.1", "for learning_rate");
  expect_invalid("wd", "-1", "for wd");
  expect_invalid("quantile", "1", "for quantile");
  expect_invalid("beta_1", "1.0", "for beta_1");
  expect_invalid("momentum", "auto2", "for momentum");
  expect_invalid("lr_scheduler_factor", "1.5", "for lr_scheduler_factor");
  expect_invalid("normalize_data", "auto", "for normalize_data");
  expect_invalid("use_bias", "yes", "for use_bias");
  expect_invalid("optimizer", "adagrad",
                 "for optimizer: 'adagrad' (expected auto, sgd, adam or "
                 "rmsprop)");
  expect_invalid("loss", "logistic",
                 "'logistic' is not valid with predictor_type 'regressor'");
  expect_invalid("loss", "softmax_loss", "not valid with predictor_type");
  expect_invalid("binary_classifier_model_selection_criteria", "auc",
                 "binary_classifier_model_selection_criteria");
  expect_invalid("positive_example_weight_mult", "0",
                 "positive_example_weight_mult");
  expect_invalid("init_method", "xavier", "for init_method");

  buf_init(&err, 4096);
  ASSERT_EQ(SR_EINVAL, parse(&c, none, &err));
  ASSERT_STR_EQ("ClientError: No value(s) were specified for "
                "'predictor_type' which are required hyperparameter(s)",
                buf_str(&err));
  buf_reset(&err);
  ASSERT_EQ(SR_EINVAL, parse(&c, multi, &err));
  ASSERT_CONTAINS(buf_str(&err), "'multiclass_classifier' is not supported");
  buf_reset(&err);
  /* Strings SageMaker's SDK produces for Python values are accepted. */
  ll_config_init(&c);
  ASSERT_EQ(0, ll_config_set(&c, "use_bias", "False", &err));
  ASSERT_EQ(0, c.use_bias);
  ASSERT_EQ(0, ll_config_set(&c, "learning_rate", "1e-3", &err));
  ASSERT_EQ(
      0, ll_config_set(&c, "positive_example_weight_mult", "balanced", &err));
  ASSERT_EQ(0, ll_config_set(&c, "_tuning_objective_metric",
                             "validation:objective_loss", &err));
  ASSERT_STR_EQ("", buf_str(&err));
  buf_free(&err);
}

/* ---- losses ---- */

TEST(ll_loss_gradients)
{
  static const enum ll_loss losses[] = {LL_SQUARED_LOSS,
                                        LL_ABSOLUTE_LOSS,
                                        LL_HUBER_LOSS,
                                        LL_EPS_INSENSITIVE_SQUARED_LOSS,
                                        LL_EPS_INSENSITIVE_ABSOLUTE_LOSS,
                                        LL_QUANTILE_LOSS,
                                        LL_LOGISTIC,
                                        LL_HINGE_LOSS};
  static const float preds[] = {-2.7f, -0.9f, -0.3f, 0.25f, 0.6f, 1.7f, 3.1f};
  static const float labels[] = {0.0f, 1.0f, 0.45f};
  /* delta, eps, q, margin: no kink within h of a checked point */
  const double param[4] = {0.8, 0.12, 0.3, 1.2};
  size_t a, i, k;

  for (a = 0; a < sizeof(losses) / sizeof(losses[0]); a++) {
    int checked = 0;

    for (k = 0; k < sizeof(labels) / sizeof(labels[0]); k++) {
      float y = labels[k];

      /* classification losses take labels 0 and 1 only */
      if ((losses[a] == LL_LOGISTIC || losses[a] == LL_HINGE_LOSS) && k == 2)
        continue;
      for (i = 0; i < sizeof(preds) / sizeof(preds[0]); i++) {
        float p = preds[i], h = 1e-2f, l, g, lp, lm, gd;
        double numeric;

        ll_loss_eval(losses[a], param, p, y, &l, &g);
        ll_loss_eval(losses[a], param, p + h, y, &lp, &gd);
        ll_loss_eval(losses[a], param, p - h, y, &lm, &gd);
        ASSERT(l >= 0);
        numeric = ((double)lp - lm) / (2 * h);
        if (fabs(numeric - g) > 2e-3 * (1 + fabs(g)))
          test_fail(__FILE__, __LINE__,
                    "%s at p=%g y=%g: derivative %g, numeric %g",
                    ll_loss_name(losses[a]), p, y, g, numeric);
        checked++;
      }
    }
    ASSERT(checked >= 14);
  }
  /* The values themselves, at a few points. */
  {
    float l, g;

    ll_loss_eval(LL_SQUARED_LOSS, param, 3, 1, &l, &g);
    ASSERT(l == 4 && g == 4);
    ll_loss_eval(LL_ABSOLUTE_LOSS, param, -1, 1, &l, &g);
    ASSERT(l == 2 && g == -1);
    ll_loss_eval(LL_QUANTILE_LOSS, param, 0, 1, &l, &g);
    ASSERT(fabsf(l - 0.3f) < 1e-6f && fabsf(g + 0.3f) < 1e-6f);
    ll_loss_eval(LL_HINGE_LOSS, param, 2, 1, &l, &g);
    ASSERT(l == 0 && g == 0);
    ll_loss_eval(LL_LOGISTIC, param, 0, 1, &l, &g);
    ASSERT(fabsf(l - logf(2)) < 1e-6f && fabsf(g + 0.5f) < 1e-6f);
  }
}

/* ---- convergence ---- */

static void check_recovers(const char *optimizer, const char *lr,
                           const char *epochs)
{
  const char *const kv[] = {"predictor_type",
                            "regressor",
                            "optimizer",
                            optimizer,
                            "learning_rate",
                            lr,
                            "num_models",
                            "1",
                            "mini_batch_size",
                            "100",
                            "epochs",
                            epochs,
                            NULL};
  double beta[6] = {1.5, -2, 0.5, 0, 3, -0.75};
  struct data train, valid;
  struct ll_model *m;
  size_t j;

  gen_linear(&train, 20000, 6, beta, 4, 0.1, 1);
  gen_linear(&valid, 2000, 6, beta, 4, 0.1, 2);
  m = fit(kv, &train, &valid);
  for (j = 0; j < 6; j++)
    if (fabs(m->w[j] - beta[j]) > 0.02)
      test_fail(__FILE__, __LINE__, "%s: weight %zu is %g, not %g", optimizer,
                j, m->w[j], beta[j]);
  /* the bias carries the optimizer's last steps' jitter (the label's
   * spread is 16) */
  if (fabs(m->b - 4) > 0.1)
    test_fail(__FILE__, __LINE__, "%s: bias is %g, not 4", optimizer, m->b);
  /* the noise is 0.1: the mse cannot go below 0.01 */
  ASSERT(model_mse(m, &valid) < 0.0105);
  ll_model_free(m);
  data_free(&train);
  data_free(&valid);
}

TEST(ll_converges_sgd)
{
  check_recovers("sgd", "0.01", "8");
}

TEST(ll_converges_adam)
{
  check_recovers("adam", "0.01", "8");
}

TEST(ll_converges_rmsprop)
{
  check_recovers("rmsprop", "0.003", "15");
}

TEST(ll_converges_every_regression_loss)
{
  static const char *const losses[] = {
      "squared_loss",  "absolute_loss",
      "huber_loss",    "eps_insensitive_squared_loss",
      "quantile_loss", "eps_insensitive_absolute_loss"};
  double beta[4] = {1, -1, 2, 0.5};
  struct data train, valid;
  size_t i;

  /* Symmetric noise: every one of these losses has the same optimum. */
  gen_linear(&train, 10000, 4, beta, -3, 0.2, 3);
  gen_linear(&valid, 2000, 4, beta, -3, 0.2, 4);
  for (i = 0; i < sizeof(losses) / sizeof(losses[0]); i++) {
    const char *const kv[] = {"predictor_type",  "regressor", "loss",
                              losses[i],         "epochs",    "6",
                              "mini_batch_size", "200",       NULL};
    struct ll_model *m = fit(kv, &train, &valid);
    double mse = model_mse(m, &valid);

    if (mse > 0.04 * 1.1)
      test_fail(__FILE__, __LINE__, "%s: mse %g", losses[i], mse);
    ll_model_free(m);
  }
  data_free(&train);
  data_free(&valid);
}

TEST(ll_absolute_loss_resists_outliers)
{
  static const char *const sq[] = {
      "predictor_type", "regressor", "loss", "squared_loss",
      "epochs",         "6",         NULL};
  static const char *const ab[] = {
      "predictor_type", "regressor", "loss", "absolute_loss",
      "epochs",         "6",         NULL};
  double beta[2] = {2, -1};
  struct data train, valid;
  struct ll_model *ms, *ma;
  size_t i;

  gen_linear(&train, 20000, 2, beta, 1, 0.1, 5);
  gen_linear(&valid, 2000, 2, beta, 1, 0.1, 6);
  /* one row in ten is off by +50: the mean moves, the median does not */
  for (i = 0; i < train.n; i += 10)
    train.y[i] += 50;
  ms = fit(sq, &train, &valid);
  ma = fit(ab, &train, &valid);
  ASSERT(fabs(ma->b - 1) < 0.2);
  ASSERT(fabs(ma->w[0] - 2) < 0.05 && fabs(ma->w[1] + 1) < 0.05);
  ASSERT(ms->b - 1 > 4); /* the mean shift: 50 / 10 */
  ASSERT(model_mae(ma, &valid) < model_mae(ms, &valid) / 10);
  ll_model_free(ms);
  ll_model_free(ma);
  data_free(&train);
  data_free(&valid);
}

/* ---- normalisation ---- */

TEST(ll_moments_match_two_pass)
{
  struct ll_moments all, a, b, c;
  double beta[3] = {1, 2, 3};
  struct data D;
  double flat[1 + 2 * 4], mean, var;
  size_t i, j, took;

  gen_linear(&D, 3000, 3, beta, 100, 1, 7);
  ASSERT_EQ(0, ll_moments_init(&all, 3, 0));
  ASSERT_EQ(0, ll_moments_init(&a, 3, 1000));
  ASSERT_EQ(0, ll_moments_init(&b, 3, 0));
  ASSERT_EQ(0, ll_moments_init(&c, 3, 0));
  ASSERT_EQ(3000, ll_moments_add(&all, D.x, D.y, D.n));
  /* the cap: 1,000 rows, the rest refused */
  took = ll_moments_add(&a, D.x, D.y, 600);
  took += ll_moments_add(&a, D.x + 600 * 3, D.y + 600, 2400);
  ASSERT_EQ(1000, took);
  ll_moments_add(&b, D.x + 1000 * 3, D.y + 1000, 2000);
  /* a worker's statistics travel as flat doubles and merge */
  ASSERT_EQ(9, ll_moments_size(3));
  ll_moments_export(&b, flat);
  ASSERT_EQ(0, ll_moments_import(&c, flat, 9));
  ASSERT_EQ(SR_EINVAL, ll_moments_import(&c, flat, 8));
  ASSERT_EQ(0, ll_moments_merge(&a, &c));
  ASSERT(a.count == 3000);
  for (j = 0; j <= 3; j++) {
    mean = 0;
    for (i = 0; i < D.n; i++)
      mean += j < 3 ? D.x[i * 3 + j] : D.y[i];
    mean /= (double)D.n;
    var = 0;
    for (i = 0; i < D.n; i++) {
      double v = (j < 3 ? D.x[i * 3 + j] : D.y[i]) - mean;

      var += v * v;
    }
    ASSERT(fabs(all.mean[j] - mean) < 1e-9 * (1 + fabs(mean)));
    ASSERT(fabs(all.m2[j] - var) < 1e-9 * var);
    ASSERT(fabs(a.mean[j] - mean) < 1e-9 * (1 + fabs(mean)));
    ASSERT(fabs(a.m2[j] - var) < 1e-9 * var);
  }
  ll_moments_free(&all);
  ll_moments_free(&a);
  ll_moments_free(&b);
  ll_moments_free(&c);
  data_free(&D);
}

TEST(ll_normalisation_applied)
{
  static const char *const kv[] = {"predictor_type", "regressor",
                                   "num_point_for_scaler", "500", NULL};
  static const char *const raw[] = {"predictor_type",
                                    "regressor",
                                    "normalize_data",
                                    "false",
                                    "normalize_label",
                                    "false",
                                    "unbias_data",
                                    "false",
                                    "unbias_label",
                                    "false",
                                    "learning_rate",
                                    "0.001",
                                    "num_models",
                                    "1",
                                    "epochs",
                                    "1",
                                    NULL};
  /* Labels around a million with a spread of thousands: without the
   * scaler the models would crawl; with it they fit at once. */
  double beta[3] = {2000, -500, 0};
  struct data train, valid;
  struct ll_trainer *t;
  struct ll_model *m;
  struct buf out;
  size_t j;

  gen_linear(&train, 5000, 3, beta, 1e6, 10, 8);
  gen_linear(&valid, 1000, 3, beta, 1e6, 10, 9);
  /* a constant column: scale 1, not a division by zero */
  for (j = 0; j < train.n; j++)
    train.x[j * 3 + 2] = 7;
  for (j = 0; j < valid.n; j++)
    valid.x[j * 3 + 2] = 7;
  t = trainer_for(kv, &train);
  buf_init(&out, 1 << 16);
  ASSERT_EQ(0, ll_trainer_format_scaler(t, &out));
  ASSERT_CONTAINS(buf_str(&out), "\"mean_weight\": [");
  ASSERT_CONTAINS(buf_str(&out), "\"stdev_label\": ");
  ll_trainer_free(t);
  m = fit(kv, &train, &valid);
  ASSERT(m->scale[2] == 1 && m->shift[2] == 7);
  ASSERT(fabs(m->scale[0] - 1.0) < 0.1);  /* feature 0 ~ N(0, 1) */
  ASSERT(fabs(m->scale[1] - 0.5) < 0.05); /* feature 1 ~ N(1, 2^2) */
  ASSERT(m->label_scale < 1e-3 && fabs(m->label_shift - 1e6) < 1e4);
  /* The fit is in label units: the noise is 10, so the floor is 100;
   * five mini-batches an epoch get within half of it (unnormalised
   * features and labels would leave millions). */
  ASSERT(model_mse(m, &valid) < 100 * 1.5);
  ASSERT(fabs(m->w[0] - 2000) < 20 && fabs(m->w[1] + 500) < 10);
  ll_model_free(m);
  /* normalisation off: shift 0, scale 1 */
  t = trainer_for(raw, &train);
  buf_reset(&out);
  ll_trainer_free(t);
  m = fit(raw, &train, &valid);
  ASSERT(m->scale[0] == 1 && m->shift[0] == 0 && m->label_scale == 1);
  ll_model_free(m);
  buf_free(&out);
  data_free(&train);
  data_free(&valid);
}

TEST(ll_without_bias)
{
  static const char *const kv[] = {"predictor_type", "regressor", "use_bias",
                                   "false", NULL};
  double beta[3] = {1, -2, 0.5};
  struct data train, valid;
  struct ll_config c;
  struct buf err;
  struct ll_model *m;

  buf_init(&err, 4096);
  ASSERT_EQ(0, parse(&c, kv, &err));
  ASSERT(c.use_bias == 0 && c.unbias_data == 0 && c.unbias_label == 0);
  ASSERT_EQ(1, c.normalize_data); /* scaling stays */
  /* a true intercept of 5 the model cannot represent */
  gen_linear(&train, 5000, 3, beta, 5, 0.1, 30);
  gen_linear(&valid, 1000, 3, beta, 0, 0.1, 31);
  m = fit(kv, &train, &train);
  ASSERT(m->b == 0 && m->b_norm == 0 && m->label_shift == 0);
  ll_model_free(m);
  /* through the origin it fits when the truth does */
  data_free(&train);
  gen_linear(&train, 10000, 3, beta, 0, 0.1, 32);
  m = fit(kv, &train, &valid);
  ASSERT(model_mse(m, &valid) < 0.01 * 1.1);
  ll_model_free(m);
  buf_free(&err);
  data_free(&train);
  data_free(&valid);
}

/* ---- model selection and early stopping ---- */

TEST(ll_selection_picks_best_validation_loss)
{
  static const char *const kv[] = {"predictor_type",
                                   "regressor",
                                   "epochs",
                                   "4",
                                   "mini_batch_size",
                                   "250",
                                   "early_stopping_patience",
                                   "10",
                                   NULL};
  double beta[5] = {1, 2, -1, 0.5, 0}, best[64];
  struct data train, valid;
  struct ll_trainer *t;
  struct ll_eval *e;
  struct ll_epoch_report r;
  struct ll_model *m;
  struct buf err;
  size_t k, argmin = 0, epochs = 0;

  gen_linear(&train, 5000, 5, beta, 0, 1, 10);
  gen_linear(&valid, 1000, 5, beta, 0, 1, 11);
  t = trainer_for(kv, &train);
  ASSERT_EQ(32, ll_trainer_num_models(t));
  for (k = 0; k < 32; k++)
    best[k] = HUGE_VAL;
  ASSERT_EQ(0, ll_eval_new(&e, t));
  do {
    double crit = HUGE_VAL;

    run_epoch(t, e, &train, &valid, &r);
    epochs++;
    ASSERT_EQ(32, r.num_models);
    for (k = 0; k < 32; k++) {
      ASSERT(r.models[k].count == 1000);
      if (r.models[k].objective < best[k])
        best[k] = r.models[k].objective;
      if (r.models[k].objective < crit)
        crit = r.models[k].objective;
      /* squared loss: the objective is the mse */
      ASSERT(r.models[k].objective == r.models[k].mse);
    }
    ASSERT(r.criterion == crit);
    ASSERT(r.models[r.best_model].objective == crit);
  } while (!r.stop);
  ASSERT_EQ(4, epochs);
  for (k = 1; k < 32; k++)
    if (best[k] < best[argmin])
      argmin = k;
  buf_init(&err, 4096);
  ASSERT_EQ(0, ll_trainer_finish(t, &m, &err));
  ASSERT_EQ(argmin, ll_model_index(m));
  ASSERT(ll_model_metrics(m)->mse == best[argmin]);
  /* the snapshot is what predicts: its mse on the validation rows */
  ASSERT(fabs(model_mse(m, &valid) - best[argmin]) < 1e-3 * best[argmin]);
  /* the models are "close parameters": distinct learning rates */
  ASSERT(ll_trainer_model_params(t, 0)->learning_rate == 0.1);
  ASSERT(ll_trainer_model_params(t, 1)->learning_rate !=
         ll_trainer_model_params(t, 2)->learning_rate);
  ASSERT(ll_trainer_model_params(t, 32) == NULL);
  buf_reset(&err);
  ASSERT_EQ(0, ll_trainer_describe_model(t, 0, &err));
  ASSERT_CONTAINS(buf_str(&err), "\"optimizer\": \"adam\", "
                                 "\"learning_rate\": 0.1, \"wd\": 0.0");
  ll_model_free(m);
  ll_eval_free(e);
  ll_trainer_free(t);
  buf_free(&err);
  data_free(&train);
  data_free(&valid);
}

TEST(ll_early_stopping_triggers)
{
  /* A tolerance no epoch can beat: only the first epoch improves. */
  static const char *const kv[] = {"predictor_type",
                                   "regressor",
                                   "epochs",
                                   "15",
                                   "early_stopping_patience",
                                   "2",
                                   "early_stopping_tolerance",
                                   "100",
                                   NULL};
  static const char *const patient[] = {"predictor_type", "regressor", "epochs",
                                        "3", NULL};
  double beta[3] = {1, 1, 1};
  struct data train;
  struct ll_trainer *t;
  struct ll_eval *e;
  struct ll_epoch_report r;

  gen_linear(&train, 2000, 3, beta, 0, 1, 12);
  t = trainer_for(kv, &train);
  ASSERT_EQ(0, ll_eval_new(&e, t));
  run_epoch(t, e, &train, NULL, &r);
  ASSERT(r.epoch == 0 && r.improved && !r.stop);
  run_epoch(t, e, &train, NULL, &r);
  ASSERT(r.epoch == 1 && !r.improved && !r.stop);
  ASSERT_EQ(1, r.epochs_without_improvement);
  run_epoch(t, e, &train, NULL, &r);
  ASSERT(r.epoch == 2 && !r.improved && r.stop);
  ASSERT_EQ(2, r.epochs_without_improvement);
  ll_eval_free(e);
  ll_trainer_free(t);
  /* without early stopping's trigger: the last epoch stops */
  t = trainer_for(patient, &train);
  ASSERT_EQ(0, ll_eval_new(&e, t));
  run_epoch(t, e, &train, NULL, &r);
  ASSERT(!r.stop);
  run_epoch(t, e, &train, NULL, &r);
  ASSERT(!r.stop);
  run_epoch(t, e, &train, NULL, &r);
  ASSERT(r.stop && r.epoch == 2);
  ll_eval_free(e);
  ll_trainer_free(t);
  data_free(&train);
}

TEST(ll_batches_independent_of_feeding)
{
  /* 700: a mini-batch spans chunks of the kernels' working size */
  static const char *const kv[] = {"predictor_type", "regressor",
                                   "mini_batch_size", "700", NULL};
  static const char *const huge[] = {"predictor_type", "regressor",
                                     "mini_batch_size", "100000000", NULL};
  double beta[3] = {1, 2, 3};
  struct data D;
  struct ll_trainer *a, *b;
  float *pa, *pb;
  size_t n, i;

  gen_linear(&D, 2000, 3, beta, 0, 1, 40);
  a = trainer_for(kv, &D);
  b = trainer_for(kv, &D);
  ll_epoch_begin(a);
  ll_epoch_begin(b);
  ASSERT_EQ(0, ll_train_rows(a, D.x, D.y, D.n));
  for (i = 0; i < D.n; i += 333) {
    size_t k = D.n - i < 333 ? D.n - i : 333;

    ASSERT_EQ(0, ll_train_rows(b, D.x + i * 3, D.y + i, k));
  }
  ll_epoch_end(a);
  ll_epoch_end(b);
  ASSERT_EQ(3, ll_trainer_epoch_batches(a)); /* 700, 700 and 600 rows */
  ASSERT_EQ(3, ll_trainer_epoch_batches(b));
  n = ll_params_size(a);
  pa = malloc(n * sizeof(float));
  pb = malloc(n * sizeof(float));
  ASSERT(pa && pb);
  ll_params_export(a, pa);
  ll_params_export(b, pb);
  ASSERT(memcmp(pa, pb, n * sizeof(float)) == 0);
  free(pa);
  free(pb);
  ll_trainer_free(a);
  ll_trainer_free(b);
  /* a mini-batch larger than the data: one step at the epoch's end, and
   * no buffer of mini_batch_size rows */
  a = trainer_for(huge, &D);
  ll_epoch_begin(a);
  ASSERT_EQ(0, ll_train_rows(a, D.x, D.y, D.n));
  ASSERT_EQ(0, ll_trainer_epoch_batches(a));
  ll_epoch_end(a);
  ASSERT_EQ(1, ll_trainer_epoch_batches(a));
  ll_trainer_free(a);
  data_free(&D);
}

/* ---- distributed training ---- */

TEST(ll_params_export_import_average)
{
  static const char *const kv[] = {"predictor_type", "regressor", "epochs", "3",
                                   "num_models",     "5",         NULL};
  double beta[4] = {1, -2, 3, -4};
  struct data D, V;
  struct ll_trainer *a, *b;
  float *pa, *pb, *pm;
  const float *vecs[2];
  double weights[2];
  size_t n, i;

  gen_linear(&D, 4000, 4, beta, 1, 0.5, 13);
  gen_linear(&V, 500, 4, beta, 1, 0.5, 14);
  a = trainer_for(kv, &D);
  b = trainer_for(kv, &D);
  n = ll_params_size(a);
  ASSERT_EQ(3 * 5 * 5, n);
  pa = malloc(n * sizeof(float));
  pb = malloc(n * sizeof(float));
  pm = malloc(n * sizeof(float));
  ASSERT(pa && pb && pm);
  /* every worker starts from the same parameters */
  ll_params_export(a, pa);
  ll_params_export(b, pb);
  ASSERT(memcmp(pa, pb, n * sizeof(float)) == 0);
  /* two shards, one per worker */
  ll_epoch_begin(a);
  ll_epoch_begin(b);
  ASSERT_EQ(0, ll_train_rows(a, D.x, D.y, 3000));
  ASSERT_EQ(0, ll_train_rows(b, D.x + 3000 * 4, D.y + 3000, 1000));
  ll_epoch_end(a);
  ll_epoch_end(b);
  ASSERT(ll_trainer_rows_since_sync(a) == 3000);
  ASSERT(ll_trainer_rows_since_sync(b) == 1000);
  ll_params_export(a, pa);
  ll_params_export(b, pb);
  ASSERT(memcmp(pa, pb, n * sizeof(float)) != 0);
  vecs[0] = pa;
  vecs[1] = pb;
  weights[0] = ll_trainer_rows_since_sync(a);
  weights[1] = ll_trainer_rows_since_sync(b);
  ll_params_mean(pm, vecs, weights, 2, n);
  for (i = 0; i < n; i++)
    ASSERT(fabsf(pm[i] - (0.75f * pa[i] + 0.25f * pb[i])) <=
           1e-6f * (1 + fabsf(pm[i])));
  ASSERT_EQ(SR_EINVAL, ll_params_import(a, pm, n - 1));
  ASSERT_EQ(0, ll_params_import(a, pm, n));
  ASSERT_EQ(0, ll_params_import(b, pm, n));
  ASSERT(ll_trainer_rows_since_sync(a) == 0);
  /* after the import both hold exactly the mean */
  ll_params_export(a, pa);
  ll_params_export(b, pb);
  ASSERT(memcmp(pa, pm, n * sizeof(float)) == 0);
  ASSERT(memcmp(pb, pm, n * sizeof(float)) == 0);
  /* equal weights (NULL) and in place */
  ll_params_mean(pa, vecs, NULL, 2, n);
  ASSERT(memcmp(pa, pm, n * sizeof(float)) == 0);
  /* the weight layout: part 0, weight j, model m */
  ASSERT(pm[(0 * 5 + 4) * 5 + 0] != 0); /* model 0's bias moved */
  free(pa);
  free(pb);
  free(pm);
  ll_trainer_free(a);
  ll_trainer_free(b);
  data_free(&D);
  data_free(&V);
}

/* Four workers on four shards, averaging after every epoch, against one
 * worker on everything: the sharded model is nearly as good. */
TEST(ll_sharded_workers_converge)
{
  static const char *const kv[] = {
      "predictor_type",  "regressor", "epochs", "4",
      "mini_batch_size", "100",       NULL};
  double beta[5] = {0.5, -1, 2, 1, -0.5};
  struct data D, V;
  struct ll_trainer *w[4];
  struct ll_eval *e[4];
  struct ll_epoch_report r[4];
  struct ll_model *m, *single;
  struct buf err;
  float *p[4];
  const float *vecs[4];
  double weights[4];
  size_t n, k, epoch;

  gen_linear(&D, 8000, 5, beta, 2, 1, 15);
  gen_linear(&V, 2000, 5, beta, 2, 1, 16);
  buf_init(&err, 4096);
  for (k = 0; k < 4; k++) {
    w[k] = trainer_for(kv, &D); /* merged moments: the whole data */
    ASSERT_EQ(0, ll_eval_new(&e[k], w[k]));
    p[k] = malloc(ll_params_size(w[k]) * sizeof(float));
    ASSERT(p[k] != NULL);
    vecs[k] = p[k];
  }
  n = ll_params_size(w[0]);
  for (epoch = 0;; epoch++) {
    for (k = 0; k < 4; k++) {
      ll_epoch_begin(w[k]);
      ASSERT_EQ(0,
                ll_train_rows(w[k], D.x + k * 2000 * 5, D.y + k * 2000, 2000));
      ll_epoch_end(w[k]);
      ll_params_export(w[k], p[k]);
      weights[k] = ll_trainer_rows_since_sync(w[k]);
    }
    ll_params_mean(p[0], vecs, weights, 4, n);
    for (k = 0; k < 4; k++) {
      ASSERT_EQ(0, ll_params_import(w[k], p[0], n));
      ll_eval_reset(e[k]);
      ASSERT_EQ(0, ll_eval_rows(w[k], e[k], V.x, V.y, V.n));
      ASSERT_EQ(0, ll_epoch_finish(w[k], e[k], &r[k]));
    }
    /* same parameters, same validation rows: the same decisions */
    for (k = 1; k < 4; k++) {
      ASSERT(r[k].criterion == r[0].criterion);
      ASSERT(r[k].stop == r[0].stop && r[k].best_model == r[0].best_model);
    }
    if (r[0].stop)
      break;
  }
  ASSERT_EQ(3, epoch);
  ASSERT_EQ(0, ll_trainer_finish(w[0], &m, &err));
  single = fit(kv, &D, &V);
  /* noise variance 1: both near it, sharded within 5% of single */
  ASSERT(model_mse(single, &V) < 1.1);
  ASSERT(model_mse(m, &V) < model_mse(single, &V) * 1.05);
  ll_model_free(m);
  ll_model_free(single);
  for (k = 0; k < 4; k++) {
    ll_eval_free(e[k]);
    ll_trainer_free(w[k]);
    free(p[k]);
  }
  buf_free(&err);
  data_free(&D);
  data_free(&V);
}

TEST(ll_eval_sums_merge)
{
  static const char *const kv[] = {"predictor_type", "regressor", "num_models",
                                   "3", NULL};
  double beta[2] = {1, 2};
  struct data D;
  struct ll_trainer *t;
  struct ll_eval *whole, *half1, *half2;
  struct ll_epoch_report r1, r2;
  double *flat;
  size_t n;

  gen_linear(&D, 1000, 2, beta, 0, 1, 17);
  t = trainer_for(kv, &D);
  ASSERT_EQ(0, ll_eval_new(&whole, t));
  ASSERT_EQ(0, ll_eval_new(&half1, t));
  ASSERT_EQ(0, ll_eval_new(&half2, t));
  ll_epoch_begin(t);
  ASSERT_EQ(0, ll_train_rows(t, D.x, D.y, D.n));
  ll_epoch_end(t);
  ASSERT_EQ(0, ll_eval_rows(t, whole, D.x, D.y, D.n));
  ASSERT_EQ(0, ll_eval_rows(t, half1, D.x, D.y, 400));
  ASSERT_EQ(0, ll_eval_rows(t, half2, D.x + 800, D.y + 400, 600));
  n = ll_eval_size(half2);
  flat = malloc(n * sizeof(double));
  ASSERT(flat != NULL);
  ll_eval_export(half2, flat);
  ASSERT_EQ(SR_EINVAL, ll_eval_merge(half1, flat, n + 1));
  ASSERT_EQ(0, ll_eval_merge(half1, flat, n));
  ASSERT_EQ(0, ll_epoch_finish(t, whole, &r1));
  ASSERT(r1.models[1].count == 1000);
  r1.criterion = r1.models[1].mse;
  ASSERT_EQ(0, ll_epoch_finish(t, half1, &r2));
  ASSERT(fabs(r2.models[1].mse - r1.criterion) < 1e-9 * r1.criterion);
  free(flat);
  ll_eval_free(whole);
  ll_eval_free(half1);
  ll_eval_free(half2);
  ll_trainer_free(t);
  data_free(&D);
}

/* ---- the model file ---- */

TEST(ll_model_save_load_predict)
{
  static const char *const kv[] = {"predictor_type", "regressor", "epochs", "2",
                                   NULL};
  double beta[4] = {1, 0.5, -0.25, 2};
  struct data D;
  struct ll_model *m, *back, *again;
  struct buf text, err;
  float s1[100], s2[100], l2[100];
  char path[4096];
  size_t i;

  gen_linear(&D, 3000, 4, beta, 10, 0.3, 18);
  m = fit(kv, &D, NULL);
  buf_init(&text, 1 << 20);
  buf_init(&err, 4096);
  ASSERT_EQ(0, ll_model_save(m, &text));
  ASSERT_CONTAINS(buf_str(&text), "\"format\": \"sagerun-linear-learner\"");
  ASSERT_CONTAINS(buf_str(&text), "\"predictor_type\": \"regressor\"");
  ASSERT_CONTAINS(buf_str(&text), "\"normalized_weights\"");
  ASSERT_CONTAINS(buf_str(&text), "\"mse_objective\"");
  ASSERT_EQ(0, ll_model_load(&back, buf_str(&text), buf_len(&text), &err));
  ASSERT_EQ(4, ll_model_feature_dim(back));
  ASSERT_EQ(LL_REGRESSOR, ll_model_predictor(back));
  ASSERT(ll_model_metrics(back) == NULL);
  ll_predict(m, D.x, 100, s1, NULL);
  ll_predict(back, D.x, 100, s2, l2);
  for (i = 0; i < 100; i++)
    ASSERT(s1[i] == s2[i] && l2[i] == s2[i]);
  /* through a file */
  snprintf(path, sizeof(path), "%s/model_algo-1", test_tmpdir());
  ASSERT_EQ(0, ll_model_write(m, path));
  ASSERT_EQ(0, ll_model_read(&again, path, &err));
  ll_predict(again, D.x, 100, s2, NULL);
  ASSERT(memcmp(s1, s2, sizeof(s1)) == 0);
  ll_model_free(again);
  /* broken files are refused with a reason */
  ASSERT_EQ(SR_EINVAL, ll_model_load(&again, "{", 1, &err));
  ASSERT_CONTAINS(buf_str(&err), "not a linear-learner model");
  buf_reset(&err);
  ASSERT_EQ(SR_EINVAL, ll_model_load(&again, "{\"format\": \"x\"}", 15, &err));
  buf_reset(&err);
  ASSERT_EQ(SR_ENOENT, ll_model_read(&again, "/nonexistent/model", &err));
  ll_model_free(m);
  ll_model_free(back);
  buf_free(&text);
  buf_free(&err);
  data_free(&D);
}

TEST(ll_binary_classifier)
{
  /* by loss, so that the weights are the likelihood's */
  static const char *const logistic[] = {
      "predictor_type",
      "binary_classifier",
      "epochs",
      "4",
      "binary_classifier_model_selection_criteria",
      "loss_function",
      NULL};
  static const char *const hinge[] = {"predictor_type",
                                      "binary_classifier",
                                      "loss",
                                      "hinge_loss",
                                      "epochs",
                                      "4",
                                      NULL};
  double beta[3] = {1.5, -1, 0.5};
  struct data train, valid;
  struct ll_model *m, *back;
  struct buf text, err;
  float s[2000], l[2000], s2[2000], l2[2000];
  size_t i, pass;

  gen_linear(&train, 10000, 3, beta, -1, 0, 19);
  gen_linear(&valid, 2000, 3, beta, -1, 0, 20);
  /* label 1 with probability sigmoid(score): a logistic model */
  rng_state = 99;
  for (i = 0; i < train.n; i++)
    train.y[i] = uniform() < 1 / (1 + exp(-train.y[i])) ? 1.0f : 0.0f;
  for (i = 0; i < valid.n; i++)
    valid.y[i] = uniform() < 1 / (1 + exp(-valid.y[i])) ? 1.0f : 0.0f;
  buf_init(&text, 1 << 20);
  buf_init(&err, 4096);
  for (pass = 0; pass < 2; pass++) {
    size_t right = 0;

    m = fit(pass ? hinge : logistic, &train, &valid);
    ASSERT_EQ(LL_BINARY_CLASSIFIER, ll_model_predictor(m));
    ll_predict(m, valid.x, valid.n, s, l);
    for (i = 0; i < valid.n; i++) {
      ASSERT(l[i] == 0 || l[i] == 1);
      if (!pass)
        ASSERT(s[i] >= 0 && s[i] <= 1);
      right += l[i] == valid.y[i];
    }
    /* the Bayes rate of this data is about 0.85 */
    ASSERT((double)right / valid.n > 0.8);
    ASSERT(fabs(ll_model_metrics(m)->accuracy - (double)right / valid.n) <
           0.02);
    if (!pass)
      ASSERT(fabs(m->w[0] - 1.5) < 0.2 && fabs(m->b + 1) < 0.3);
    buf_reset(&text);
    ASSERT_EQ(0, ll_model_save(m, &text));
    ASSERT_CONTAINS(buf_str(&text), "\"threshold\": ");
    ASSERT_EQ(0, ll_model_load(&back, buf_str(&text), buf_len(&text), &err));
    ll_predict(back, valid.x, valid.n, s2, l2);
    ASSERT(memcmp(s, s2, valid.n * sizeof(float)) == 0);
    ASSERT(memcmp(l, l2, valid.n * sizeof(float)) == 0);
    ll_model_free(back);
    ll_model_free(m);
  }
  buf_free(&text);
  buf_free(&err);
  data_free(&train);
  data_free(&valid);
}

TEST(ll_bad_rows_rejected)
{
  static const char *const reg[] = {"predictor_type", "regressor", NULL};
  static const char *const bin[] = {"predictor_type", "binary_classifier",
                                    NULL};
  double beta[2] = {1, 1};
  struct data D;
  struct ll_trainer *t;
  float x[2] = {1, NAN}, y = 1, two = 2;

  gen_linear(&D, 100, 2, beta, 0, 0, 21);
  t = trainer_for(reg, &D);
  ASSERT_EQ(SR_EINVAL, ll_train_rows(t, x, &y, 1));
  ASSERT_CONTAINS(ll_trainer_error(t), "ClientError: non-finite feature value");
  x[1] = 0;
  y = INFINITY;
  ASSERT_EQ(SR_EINVAL, ll_train_rows(t, x, &y, 1));
  ASSERT_CONTAINS(ll_trainer_error(t), "non-finite label");
  ll_trainer_free(t);
  for (size_t i = 0; i < D.n; i++)
    D.y[i] = (float)(i % 2);
  t = trainer_for(bin, &D);
  ASSERT_EQ(SR_EINVAL, ll_train_rows(t, x, &two, 1));
  ASSERT_CONTAINS(ll_trainer_error(t), "labels must be 0 or 1");
  ll_trainer_free(t);
  data_free(&D);
}

/* ---- scikit-learn as a peer ---- */

static void write_rows(const char *path, const struct data *D)
{
  FILE *f = fopen(path, "wb");
  size_t i;

  ASSERT(f != NULL);
  for (i = 0; i < D->n; i++) {
    ASSERT(fwrite(&D->y[i], sizeof(float), 1, f) == 1);
    ASSERT(fwrite(D->x + i * D->d, sizeof(float), D->d, f) == D->d);
  }
  ASSERT(fclose(f) == 0);
}

static double peer_value(const char *out, const char *name)
{
  const char *p = strstr(out, name);

  if (p == NULL)
    test_fail(__FILE__, __LINE__, "peer printed no %s: %s", name, out);
  return strtod(p + strlen(name), NULL);
}

/* The done criterion of issue 6: our validation error within 10% of the
 * best linear model scikit-learn fits for the same loss. GDELT-like
 * shape: 25 features, 20 of them one-hot, a weak signal under heavy
 * noise. */
TEST_TIMEOUT(ll_peer_sklearn, 120000);
TEST(ll_peer_sklearn)
{
  static const char *const sq[] = {"predictor_type",
                                   "regressor",
                                   "feature_dim",
                                   "25",
                                   "mini_batch_size",
                                   "500",
                                   "epochs",
                                   "2",
                                   NULL};
  static const char *const ab[] = {"predictor_type",
                                   "regressor",
                                   "feature_dim",
                                   "25",
                                   "mini_batch_size",
                                   "500",
                                   "epochs",
                                   "2",
                                   "loss",
                                   "absolute_loss",
                                   NULL};
  char train_path[4096], valid_path[4096];
  const char *argv[] = {PEER_PYTHON, "tests/peers/ll_sklearn.py",
                        "fit",       train_path,
                        valid_path,  "25",
                        NULL};
  struct data train, valid;
  struct ll_model *m;
  char *out = NULL, *err = NULL;
  double ours_mse, ours_mae, linear, lad, mean_mse;
  size_t i, j;
  int status;

  if (access(PEER_PYTHON, X_OK) != 0) {
    printf("# skipped: %s not installed\n", PEER_PYTHON);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  rng_state = 23;
  data_alloc(&train, 40000, 25);
  data_alloc(&valid, 5000, 25);
  for (i = 0; i < train.n + valid.n; i++) {
    struct data *D = i < train.n ? &train : &valid;
    size_t r = i < train.n ? i : i - train.n;
    float *x = D->x + r * 25;
    size_t code = (size_t)(uniform() * uniform() * 20); /* skewed */
    double t = 0.5;

    x[0] = (float)(1 + 30 * uniform() * uniform()); /* NumArticles-like */
    x[1] = (float)(40 + 15 * gauss());              /* latitudes */
    x[2] = (float)(-20 + 60 * gauss());             /* longitudes */
    x[3] = (float)(40 + 15 * gauss());
    x[4] = (float)(-20 + 60 * gauss());
    for (j = 0; j < 20; j++)
      x[5 + j] = j == code ? 1.0f : 0.0f;
    t += 0.05 * x[0] - 0.02 * x[1] + 0.004 * x[2] + 0.3 * (double)code / 5;
    /* heavy-tailed noise, as AvgTone's */
    t += 3 * gauss() * (uniform() < 0.9 ? 1 : 3);
    D->y[r] = (float)t;
  }
  snprintf(train_path, sizeof(train_path), "%s/train.f32", test_tmpdir());
  snprintf(valid_path, sizeof(valid_path), "%s/valid.f32", test_tmpdir());
  write_rows(train_path, &train);
  write_rows(valid_path, &valid);
  status = test_exec(argv, NULL, &out, &err);
  if (status == 77) {
    printf("# skipped: %s", out ? out : "scikit-learn missing\n");
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    goto out;
  }
  if (status != 0)
    printf("# %s\n# %s\n", out ? out : "", err ? err : "");
  ASSERT_EQ(0, status);
  linear = peer_value(out, "linear_mse ");
  lad = peer_value(out, "lad_mae ");
  mean_mse = peer_value(out, "mean_mse ");
  m = fit(sq, &train, &valid);
  ours_mse = model_mse(m, &valid);
  ll_model_free(m);
  m = fit(ab, &train, &valid);
  ours_mae = model_mae(m, &valid);
  ll_model_free(m);
  printf("# mse: ours %.4f, LinearRegression %.4f (mean only %.4f); "
         "mae: ours %.4f, QuantileRegressor %.4f\n",
         ours_mse, linear, mean_mse, ours_mae, lad);
  ASSERT(linear < mean_mse); /* there is a signal to find */
  ASSERT(ours_mse <= 1.1 * linear);
  ASSERT(ours_mae <= 1.1 * lad);
out:
  free(out);
  free(err);
  data_free(&train);
  data_free(&valid);
}
