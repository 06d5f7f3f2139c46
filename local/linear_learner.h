/* Linear learner: SageMaker's linear-learner algorithm as a library, for the
 * local engine's training workers (one process per instance) and for
 * hosting. No I/O except the model file; the caller reads the channels and
 * feeds dense float rows.
 *
 * A worker drives it like this (N workers, one of them the coordinator):
 *
 *   ll_config_init, ll_config_set per hyperparameter, ll_config_finish
 *   ll_moments_add on up to num_point_for_scaler local rows
 *     -> export, coordinator ll_moments_merge, import      (sync point 1)
 *   ll_config_check_dim, ll_trainer_new(config, merged moments)
 *   for each epoch:
 *     ll_epoch_begin; ll_train_rows ...; ll_epoch_end
 *     ll_params_export -> coordinator ll_params_mean -> ll_params_import
 *                                                          (sync point 2)
 *     ll_eval_reset; ll_eval_rows over the validation channel (or
 *       ll_eval_sample: the training sample); ll_epoch_finish -> report
 *     stop when report.stop
 *   ll_trainer_finish -> model; ll_model_write (algo-1)
 *
 * Synchronisation is model averaging: every worker trains all models on
 * its own rows from the same starting point; at a sync point each exports
 * its state (weights, biases and optimizer moments of every model) as one
 * flat float vector and all import the mean, weighted by the rows each
 * trained since the last sync. Syncing after every epoch is the minimum;
 * a worker may sync more often (every K calls to ll_train_rows), as long
 * as all workers sync the same number of times (a worker whose shard ran
 * out exports its unchanged state, weight 0); rows of a mini-batch not
 * yet complete carry over the sync. This approximates MXNet's dist_sync
 * key-value store, which aggregates every batch: with averaging per epoch
 * a sharded worker takes its steps on its 1/N of the rows, a replicated
 * one on all of them. The learning-rate schedule and Adam's step count
 * stay local (they count a worker's own updates).
 *
 * Decisions (early stopping, per-model best snapshots, the final choice)
 * are a pure function of the synchronised parameters and the evaluation
 * sums, so workers that evaluate the same validation channel decide the
 * same. Workers that evaluate their own training sample must merge their
 * ll_eval sums (ll_eval_export / ll_eval_merge) before ll_epoch_finish,
 * or let the coordinator decide and broadcast `stop`.
 *
 * The num_models models (auto: 32, as observed in the container's logs)
 * share optimizer, loss, schedule and data; model 0 uses the given
 * hyperparameters, models k >= 1 "close parameters": point k of a Halton
 * sequence (bases 2, 3, 5) picks learning_rate, wd and l1 on a log scale,
 * within half a decade either side of an explicit value, or over a wide
 * range when the value is auto (learning_rate 1e-4..1, wd and l1
 * 1e-8..1e-2); an explicit 0 stays 0. The sequence is deterministic, so
 * every worker trains the same models. See ll_trainer_model_params.
 *
 * Auto values (ours where the documentation leaves them open): loss
 * squared_loss (regressor) or logistic (binary); optimizer adam;
 * learning_rate 0.1 for adam and rmsprop (what a logged all-auto job
 * chose), 0.01 for sgd; momentum 0.9 for sgd; beta_1 0.9, beta_2 0.999;
 * wd and l1 0 for model 0; bias_lr_mult 1, bias_wd_mult 0;
 * lr_scheduler_step 10, lr_scheduler_factor 0.99 (logged),
 * lr_scheduler_minimum_lr 1e-5; normalize_label true for regressors only;
 * unbias_data use_bias, unbias_label use_bias for regressors (centring
 * stands in for the bias); positive_example_weight_mult 1, balanced
 * negatives/positives from the scaler's sample.
 *
 * Losses, r = prediction - label: squared r^2; absolute |r|; huber
 * r^2/2 within huber_delta, linear beyond; eps_insensitive_squared and
 * _absolute max(|r| - loss_insensitivity, 0) squared or not; quantile
 * q max(-r, 0) + (1 - q) max(r, 0); logistic log(1 + e^p) - y p on the
 * logit p; hinge max(0, margin - s p), s = 2y - 1. wd adds wd * w to the
 * gradient (the bias times bias_wd_mult), l1 is a proximal step after it;
 * rmsprop decays its squares by 0.9 (MXNet's gamma1). A mini-batch is
 * scored in chunks of 256 rows and its gradient summed, so memory does
 * not grow with mini_batch_size.
 *
 * Errors: functions return 0 or a negative SR_ code (runner/error.h).
 * Client errors (bad hyperparameters, bad data) also write a message fit
 * for a training job's FailureReason, starting with "ClientError: ". */
#ifndef SAGERUN_LOCAL_LINEAR_LEARNER_H
#define SAGERUN_LOCAL_LINEAR_LEARNER_H

#include <stddef.h>

#include "../runner/buf.h"

enum ll_predictor {
  LL_PREDICTOR_UNSET = 0,
  LL_REGRESSOR,
  LL_BINARY_CLASSIFIER,
  LL_MULTICLASS_CLASSIFIER /* parsed, then refused: not supported */
};

enum ll_loss {
  LL_LOSS_AUTO = 0,
  LL_SQUARED_LOSS,
  LL_ABSOLUTE_LOSS,
  LL_HUBER_LOSS,
  LL_EPS_INSENSITIVE_SQUARED_LOSS,
  LL_EPS_INSENSITIVE_ABSOLUTE_LOSS,
  LL_QUANTILE_LOSS,
  LL_LOGISTIC,
  LL_HINGE_LOSS,
  LL_SOFTMAX_LOSS /* multiclass only: refused */
};

enum ll_optimizer { LL_OPT_AUTO = 0, LL_SGD, LL_ADAM, LL_RMSPROP };

enum ll_init_method { LL_INIT_UNIFORM = 0, LL_INIT_NORMAL };

enum ll_criterion {
  LL_CRIT_ACCURACY = 0,
  LL_CRIT_F_BETA,
  LL_CRIT_PRECISION_AT_TARGET_RECALL,
  LL_CRIT_RECALL_AT_TARGET_PRECISION,
  LL_CRIT_LOSS_FUNCTION
};

#define LL_HP_MAX 64       /* hyperparameters known (hidden ones included) */
#define LL_HP_VALUE_MAX 64 /* longest value kept, terminator included */

/* Hyperparameters, parsed from SageMaker's strings. After
 * ll_config_finish every field holds its resolved value (no auto left but
 * feature_dim, resolved by ll_config_check_dim). */
struct ll_config {
  enum ll_predictor predictor_type;
  size_t feature_dim; /* 0 until resolved */
  size_t mini_batch_size;
  size_t epochs;
  enum ll_loss loss;
  enum ll_optimizer optimizer;
  double learning_rate;
  double momentum, beta_1, beta_2;
  double wd, l1;
  double bias_lr_mult, bias_wd_mult;
  int use_bias;
  int use_lr_scheduler;
  size_t lr_scheduler_step;
  double lr_scheduler_factor, lr_scheduler_minimum_lr;
  int normalize_data, normalize_label, unbias_data, unbias_label;
  size_t num_point_for_scaler;
  size_t num_models;
  enum ll_init_method init_method;
  double init_scale, init_sigma, init_bias;
  size_t early_stopping_patience;
  double early_stopping_tolerance;
  double margin, quantile, loss_insensitivity, huber_delta;
  enum ll_criterion selection;
  double target_recall, target_precision, f_beta;
  double positive_example_weight_mult; /* NAN until resolved: balanced */
  size_t num_classes, num_calibration_samples, accuracy_top_k;
  int balance_multiclass_weights;
  /* Whether learning_rate, wd and l1 were given (not auto): their models'
   * spread depends on it. */
  int learning_rate_given, wd_given, l1_given;
  /* Private: the string of every hyperparameter, as given or default. */
  char priv_text[LL_HP_MAX][LL_HP_VALUE_MAX];
  unsigned char priv_given[LL_HP_MAX];
  int priv_finished;
};

/* Sets every hyperparameter to its default; predictor_type stays unset. */
void ll_config_init(struct ll_config *c);

/* Sets one hyperparameter from its string. An unknown name or an invalid
 * value returns SR_EINVAL and appends a ClientError message to err. */
int ll_config_set(struct ll_config *c, const char *name, const char *value,
                  struct buf *err);

/* Checks what single values cannot (the required predictor_type, the loss
 * against the predictor type, multiclass refused) and resolves every auto
 * but feature_dim. SR_EINVAL with a ClientError message in err. */
int ll_config_finish(struct ll_config *c, struct buf *err);

/* ll_config_init, ll_config_set for each pair, ll_config_finish. */
int ll_config_parse(struct ll_config *c, const char *const *names,
                    const char *const *values, size_t n, struct buf *err);

/* Resolves feature_dim against the data's width: auto takes it, an
 * explicit value must equal it (SR_EINVAL and a ClientError otherwise). */
int ll_config_check_dim(struct ll_config *c, size_t data_dim, struct buf *err);

/* Appends the final configuration, every hyperparameter name to its
 * string (as given or default), as one JSON object with sorted keys. */
int ll_config_format(const struct ll_config *c, struct buf *out);

/* "squared_loss", "logistic" ...; "mse_objective",
 * "binary_classification_cross_entropy_objective" ... (the names in the
 * container's #quality_metric lines; unobserved ones follow the pattern
 * "<loss>_objective"). Never NULL. */
const char *ll_loss_name(enum ll_loss loss);
const char *ll_loss_objective_name(enum ll_loss loss);
const char *ll_optimizer_name(enum ll_optimizer opt);
const char *ll_criterion_name(enum ll_criterion crit);

/* The scaler's statistics: count, mean and sum of squared deviations (M2)
 * of each feature and of the label (index feature_dim), from up to cap
 * rows. Mergeable across workers (Chan et al.'s parallel update). */
struct ll_moments {
  size_t dim; /* feature_dim + 1 */
  size_t cap; /* rows ll_moments_add takes at most */
  double count;
  double *mean;
  double *m2;
};

/* cap 0 means no limit. SR_ENOMEM. */
int ll_moments_init(struct ll_moments *s, size_t feature_dim, size_t cap);
void ll_moments_free(struct ll_moments *s);
/* Adds up to the cap's remaining rows of x (n rows of feature_dim floats)
 * and y; returns the rows taken. */
size_t ll_moments_add(struct ll_moments *s, const float *x, const float *y,
                      size_t n);
/* dst += src, as if dst had seen src's rows too. SR_EINVAL on a dim
 * mismatch. */
int ll_moments_merge(struct ll_moments *dst, const struct ll_moments *src);
/* Flat form: [count, mean[dim], m2[dim]], 1 + 2 * (feature_dim + 1)
 * doubles. Import replaces s's statistics; SR_EINVAL on a size mismatch. */
size_t ll_moments_size(size_t feature_dim);
void ll_moments_export(const struct ll_moments *s, double *out);
int ll_moments_import(struct ll_moments *s, const double *in, size_t n);

struct ll_trainer;

/* One model's hyperparameters (see the num_models scheme above). */
struct ll_model_params {
  enum ll_optimizer optimizer;
  double learning_rate, wd, l1;
  size_t lr_scheduler_step;
  double lr_scheduler_factor, lr_scheduler_minimum_lr;
};

/* Per-model metrics of one epoch. train_objective: mean loss of the
 * epoch's mini-batches before their update, in normalised label units (as
 * the container logs it). The rest come from the evaluation rows, in the
 * label's own units; for binary classifiers at the calibrated threshold.
 * NAN where not measured. */
struct ll_model_metrics {
  double train_objective;
  double objective; /* the loss, its parameters in label units */
  double mse;
  double absolute_loss;
  double accuracy, precision, recall, f_beta;
  double threshold; /* binary: score at or above it predicts 1 */
  double count;     /* evaluation rows */
};

struct ll_epoch_report {
  size_t epoch; /* 0-based, as the container logs it */
  size_t num_models;
  const struct ll_model_metrics *models; /* borrowed, num_models */
  /* Early stopping: the lowest objective over the models (validation, or
   * training when no evaluation rows), improved if it beat the best so far
   * by more than early_stopping_tolerance relatively. */
  double criterion;
  int improved;
  size_t epochs_without_improvement;
  size_t best_model; /* lowest objective this epoch */
  int stop;          /* patience exhausted, or the last epoch */
};

/* A trainer for c (finished, feature_dim resolved) with the scaler from
 * stats (merged moments; NULL when nothing is normalised or unbiased and
 * positive_example_weight_mult is not balanced). Models start from the
 * same deterministic initial values in every worker. SR_EINVAL (err) or
 * SR_ENOMEM. */
int ll_trainer_new(struct ll_trainer **out, const struct ll_config *c,
                   const struct ll_moments *stats, struct buf *err);
void ll_trainer_free(struct ll_trainer *t);

size_t ll_trainer_num_models(const struct ll_trainer *t);
size_t ll_trainer_feature_dim(const struct ll_trainer *t);
const struct ll_model_params *
ll_trainer_model_params(const struct ll_trainer *t, size_t k);
/* Appends model k's hyperparameters as JSON, as the container's "Best
 * model found for hyperparameters" line shows them. */
int ll_trainer_describe_model(const struct ll_trainer *t, size_t k,
                              struct buf *out);
/* Appends the scaler as JSON: mean_weight, stdev_weight, mean_label,
 * stdev_label (the container's "Scaling model computed with parameters"). */
int ll_trainer_format_scaler(const struct ll_trainer *t, struct buf *out);
/* The message of the last SR_EINVAL from a training or evaluation call. */
const char *ll_trainer_error(const struct ll_trainer *t);

/* Starts an epoch: clears the epoch's training sums. */
void ll_epoch_begin(struct ll_trainer *t);
/* Trains on n rows (x: n * feature_dim floats, row-major; y: n labels).
 * Rows gather into mini-batches of mini_batch_size; each full one updates
 * every model. The first epoch also keeps up to num_point_for_scaler rows
 * as the training sample. SR_EINVAL for a non-finite value or a binary
 * label other than 0 or 1 (message in ll_trainer_error; the rows before it
 * are trained). */
int ll_train_rows(struct ll_trainer *t, const float *x, const float *y,
                  size_t n);
/* Ends the epoch's training: a last partial mini-batch updates too. */
int ll_epoch_end(struct ll_trainer *t);
/* Rows trained since the last ll_params_import (its averaging weight) and
 * mini-batch updates in the current epoch. */
double ll_trainer_rows_since_sync(const struct ll_trainer *t);
size_t ll_trainer_epoch_batches(const struct ll_trainer *t);

/* The synchronised state as one flat vector of ll_params_size floats:
 * element ((k * (feature_dim + 1) + j) * num_models + m) is, for model m,
 * part k (0 weights, 1 first moment or momentum, 2 second moment) of
 * weight j (j == feature_dim: the bias), all in normalised units. Import
 * replaces the state (SR_EINVAL on a size mismatch) and restarts the rows
 * count. */
size_t ll_params_size(const struct ll_trainer *t);
void ll_params_export(const struct ll_trainer *t, float *out);
int ll_params_import(struct ll_trainer *t, const float *in, size_t n);
/* out = the mean of count vectors of n floats, weighted by weights (NULL:
 * equal; all zero: equal). out may be one of vecs. */
void ll_params_mean(float *out, const float *const *vecs, const double *weights,
                    size_t count, size_t n);

/* Evaluation sums over rows, for every model: loss, squared and absolute
 * error, and for binary classifiers score histograms per class (for the
 * threshold). Mergeable across workers. */
struct ll_eval;

int ll_eval_new(struct ll_eval **out, const struct ll_trainer *t);
void ll_eval_free(struct ll_eval *e);
void ll_eval_reset(struct ll_eval *e);
/* Adds n rows scored with the trainer's current parameters. SR_EINVAL
 * like ll_train_rows. */
int ll_eval_rows(struct ll_trainer *t, struct ll_eval *e, const float *x,
                 const float *y, size_t n);
/* Adds the training sample kept in the first epoch. */
int ll_eval_sample(struct ll_trainer *t, struct ll_eval *e);
size_t ll_eval_size(const struct ll_eval *e);
void ll_eval_export(const struct ll_eval *e, double *out);
/* e += the exported sums in (SR_EINVAL on a size mismatch). */
int ll_eval_merge(struct ll_eval *e, const double *in, size_t n);

/* Ends an epoch: metrics per model from e (NULL or empty: training loss
 * only), early stopping, and each model's best snapshot (its parameters
 * at its lowest objective so far, with that epoch's metrics and binary
 * threshold). r borrows the trainer's metrics until the next call. */
int ll_epoch_finish(struct ll_trainer *t, const struct ll_eval *e,
                    struct ll_epoch_report *r);

struct ll_model;

/* The final model: among the models' best snapshots, the lowest objective
 * (regressor, or binary with loss_function) or the best
 * binary_classifier_model_selection_criteria (binary). SR_EINVAL with a
 * message when every model diverged; SR_ENOMEM. */
int ll_trainer_finish(struct ll_trainer *t, struct ll_model **out,
                      struct buf *err);

/* The model file is JSON (format "sagerun-linear-learner", version 1):
 *   predictor_type, feature_dim, loss, score ("identity", "sigmoid" or
 *   "margin"), weights[feature_dim] and bias in the raw feature and label
 *   units (score = bias + weights . x, through the sigmoid for logistic),
 *   threshold (binary); then, for the record, the chosen model's index,
 *   epoch, hyperparameters and validation metrics, the scaler, the
 *   normalised weights and bias, and the final configuration.
 * Only the first group is read back. */
int ll_model_save(const struct ll_model *m, struct buf *out);
int ll_model_write(const struct ll_model *m, const char *path);
/* Parses a model file; SR_EINVAL with a message in err (not a
 * ClientError: the caller words it for its context); SR_ENOMEM. */
int ll_model_load(struct ll_model **out, const char *text, size_t len,
                  struct buf *err);
int ll_model_read(struct ll_model **out, const char *path, struct buf *err);
void ll_model_free(struct ll_model *m);

size_t ll_model_feature_dim(const struct ll_model *m);
enum ll_predictor ll_model_predictor(const struct ll_model *m);
/* The chosen model's index and metrics (NULL for a loaded model). */
size_t ll_model_index(const struct ll_model *m);
const struct ll_model_metrics *ll_model_metrics(const struct ll_model *m);

/* Scores n rows of feature_dim floats: score[i] (regressor: the
 * prediction; binary: the probability for logistic, the margin for hinge)
 * and, when label is not NULL, the predicted label (binary: 0 or 1;
 * regressor: the score). */
void ll_predict(const struct ll_model *m, const float *x, size_t n,
                float *score, float *label);

#endif
