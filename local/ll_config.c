/* Linear learner hyperparameters: names, defaults and validation as
 * ../shared/reference/aws-spec.md §8 gives them (the defaults are the
 * container's default-input.json), and the resolution of every "auto".
 * One table drives parsing, defaults and the final configuration. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../runner/error.h"
#include "linear_learner.h"

/* What a value may be. */
enum hp_kind {
  HP_ENUM,   /* one of choices; the index goes to an int field */
  HP_INT,    /* positive integer into a size_t; auto (if allowed) is 0 */
  HP_FLOAT,  /* float in [lo, hi] (open ends by flags) into a double */
  HP_BOOL,   /* true/false into an int; auto (if allowed) is -1 */
  HP_STRING, /* anything (hidden keys); not stored */
  HP_WEIGHT  /* positive_example_weight_mult: float, balanced or auto */
};

#define HP_AUTO 1u     /* "auto" accepted */
#define HP_LO_OPEN 2u  /* lo excluded */
#define HP_HI_OPEN 4u  /* hi excluded */
#define HP_NO_FIELD 8u /* accepted and logged, not stored */

struct hp {
  const char *name;
  const char *def; /* NULL: required */
  enum hp_kind kind;
  unsigned flags;
  size_t off;
  double lo, hi;
  const char *const *choices; /* HP_ENUM: NULL-terminated, index = value */
  const char *expect;         /* the valid values, for messages */
};

#define OFF(f) offsetof(struct ll_config, f)

static const char *const predictors[] = {"", "regressor", "binary_classifier",
                                         "multiclass_classifier", NULL};
static const char *const losses[] = {"auto",
                                     "squared_loss",
                                     "absolute_loss",
                                     "huber_loss",
                                     "eps_insensitive_squared_loss",
                                     "eps_insensitive_absolute_loss",
                                     "quantile_loss",
                                     "logistic",
                                     "hinge_loss",
                                     "softmax_loss",
                                     NULL};
static const char *const optimizers[] = {"auto", "sgd", "adam", "rmsprop",
                                         NULL};
static const char *const inits[] = {"uniform", "normal", NULL};
static const char *const criteria[] = {"accuracy",
                                       "f_beta",
                                       "precision_at_target_recall",
                                       "recall_at_target_precision",
                                       "loss_function",
                                       NULL};

/* Sorted by name: the final configuration prints in this order. */
static const struct hp hps[] = {
    {"_enable_profiler", "false", HP_STRING, HP_NO_FIELD, 0, 0, 0, NULL, ""},
    {"_kvstore", "auto", HP_STRING, HP_NO_FIELD, 0, 0, 0, NULL, ""},
    {"_log_level", "info", HP_STRING, HP_NO_FIELD, 0, 0, 0, NULL, ""},
    {"_num_gpus", "auto", HP_STRING, HP_NO_FIELD, 0, 0, 0, NULL, ""},
    {"_num_kv_servers", "auto", HP_STRING, HP_NO_FIELD, 0, 0, 0, NULL, ""},
    {"_tuning_objective_metric", "", HP_STRING, HP_NO_FIELD, 0, 0, 0, NULL, ""},
    {"accuracy_top_k", "3", HP_INT, 0, OFF(accuracy_top_k), 0, 0, NULL,
     "a positive integer"},
    {"balance_multiclass_weights", "false", HP_BOOL, 0,
     OFF(balance_multiclass_weights), 0, 0, NULL, "true or false"},
    {"beta_1", "auto", HP_FLOAT, HP_AUTO | HP_HI_OPEN, OFF(beta_1), 0, 1, NULL,
     "auto or a float in [0, 1)"},
    {"beta_2", "auto", HP_FLOAT, HP_AUTO | HP_HI_OPEN, OFF(beta_2), 0, 1, NULL,
     "auto or a float in [0, 1)"},
    {"bias_lr_mult", "auto", HP_FLOAT, HP_AUTO | HP_LO_OPEN, OFF(bias_lr_mult),
     0, HUGE_VAL, NULL, "auto or a positive float"},
    {"bias_wd_mult", "auto", HP_FLOAT, HP_AUTO, OFF(bias_wd_mult), 0, HUGE_VAL,
     NULL, "auto or a non-negative float"},
    {"binary_classifier_model_selection_criteria", "accuracy", HP_ENUM, 0,
     OFF(selection), 0, 0, criteria,
     "accuracy, f_beta, precision_at_target_recall, "
     "recall_at_target_precision or loss_function"},
    {"early_stopping_patience", "3", HP_INT, 0, OFF(early_stopping_patience), 0,
     0, NULL, "a positive integer"},
    {"early_stopping_tolerance", "0.001", HP_FLOAT, HP_LO_OPEN,
     OFF(early_stopping_tolerance), 0, HUGE_VAL, NULL, "a positive float"},
    {"epochs", "15", HP_INT, 0, OFF(epochs), 0, 0, NULL, "a positive integer"},
    {"f_beta", "1.0", HP_FLOAT, HP_LO_OPEN, OFF(f_beta), 0, HUGE_VAL, NULL,
     "a positive float"},
    {"feature_dim", "auto", HP_INT, HP_AUTO, OFF(feature_dim), 0, 0, NULL,
     "auto or a positive integer"},
    {"huber_delta", "1.0", HP_FLOAT, HP_LO_OPEN, OFF(huber_delta), 0, HUGE_VAL,
     NULL, "a positive float"},
    {"init_bias", "0.0", HP_FLOAT, 0, OFF(init_bias), -HUGE_VAL, HUGE_VAL, NULL,
     "a float"},
    {"init_method", "uniform", HP_ENUM, 0, OFF(init_method), 0, 0, inits,
     "uniform or normal"},
    {"init_scale", "0.07", HP_FLOAT, HP_LO_OPEN, OFF(init_scale), 0, HUGE_VAL,
     NULL, "a positive float"},
    {"init_sigma", "0.01", HP_FLOAT, HP_LO_OPEN, OFF(init_sigma), 0, HUGE_VAL,
     NULL, "a positive float"},
    {"l1", "auto", HP_FLOAT, HP_AUTO, OFF(l1), 0, HUGE_VAL, NULL,
     "auto or a non-negative float"},
    {"learning_rate", "auto", HP_FLOAT, HP_AUTO | HP_LO_OPEN,
     OFF(learning_rate), 0, HUGE_VAL, NULL, "auto or a positive float"},
    {"loss", "auto", HP_ENUM, 0, OFF(loss), 0, 0, losses,
     "auto, squared_loss, absolute_loss, huber_loss, "
     "eps_insensitive_squared_loss, eps_insensitive_absolute_loss, "
     "quantile_loss, logistic, hinge_loss or softmax_loss"},
    {"loss_insensitivity", "0.01", HP_FLOAT, HP_LO_OPEN,
     OFF(loss_insensitivity), 0, HUGE_VAL, NULL, "a positive float"},
    {"lr_scheduler_factor", "auto", HP_FLOAT, HP_AUTO | HP_LO_OPEN,
     OFF(lr_scheduler_factor), 0, 1, NULL, "auto or a float in (0, 1]"},
    {"lr_scheduler_minimum_lr", "auto", HP_FLOAT, HP_AUTO | HP_LO_OPEN,
     OFF(lr_scheduler_minimum_lr), 0, HUGE_VAL, NULL,
     "auto or a positive float"},
    {"lr_scheduler_step", "auto", HP_INT, HP_AUTO, OFF(lr_scheduler_step), 0, 0,
     NULL, "auto or a positive integer"},
    {"margin", "1.0", HP_FLOAT, HP_LO_OPEN, OFF(margin), 0, HUGE_VAL, NULL,
     "a positive float"},
    {"mini_batch_size", "1000", HP_INT, 0, OFF(mini_batch_size), 0, 0, NULL,
     "a positive integer"},
    {"momentum", "auto", HP_FLOAT, HP_AUTO | HP_HI_OPEN, OFF(momentum), 0, 1,
     NULL, "auto or a float in [0, 1)"},
    {"normalize_data", "true", HP_BOOL, 0, OFF(normalize_data), 0, 0, NULL,
     "true or false"},
    {"normalize_label", "auto", HP_BOOL, HP_AUTO, OFF(normalize_label), 0, 0,
     NULL, "auto, true or false"},
    {"num_calibration_samples", "10000000", HP_INT, 0,
     OFF(num_calibration_samples), 0, 0, NULL, "a positive integer"},
    {"num_classes", "1", HP_INT, 0, OFF(num_classes), 0, 0, NULL,
     "a positive integer"},
    {"num_models", "auto", HP_INT, HP_AUTO, OFF(num_models), 0, 0, NULL,
     "auto or a positive integer"},
    {"num_point_for_scaler", "10000", HP_INT, 0, OFF(num_point_for_scaler), 0,
     0, NULL, "a positive integer"},
    {"optimizer", "auto", HP_ENUM, 0, OFF(optimizer), 0, 0, optimizers,
     "auto, sgd, adam or rmsprop"},
    {"positive_example_weight_mult", "1.0", HP_WEIGHT, 0,
     OFF(positive_example_weight_mult), 0, 0, NULL,
     "auto, balanced or a positive float"},
    {"predictor_type", NULL, HP_ENUM, 0, OFF(predictor_type), 0, 0, predictors,
     "regressor, binary_classifier or multiclass_classifier"},
    {"quantile", "0.5", HP_FLOAT, HP_LO_OPEN | HP_HI_OPEN, OFF(quantile), 0, 1,
     NULL, "a float in (0, 1)"},
    {"target_precision", "0.8", HP_FLOAT, HP_LO_OPEN, OFF(target_precision), 0,
     1, NULL, "a float in (0, 1]"},
    {"target_recall", "0.8", HP_FLOAT, HP_LO_OPEN, OFF(target_recall), 0, 1,
     NULL, "a float in (0, 1]"},
    {"unbias_data", "auto", HP_BOOL, HP_AUTO, OFF(unbias_data), 0, 0, NULL,
     "auto, true or false"},
    {"unbias_label", "auto", HP_BOOL, HP_AUTO, OFF(unbias_label), 0, 0, NULL,
     "auto, true or false"},
    {"use_bias", "true", HP_BOOL, 0, OFF(use_bias), 0, 0, NULL,
     "true or false"},
    {"use_lr_scheduler", "true", HP_BOOL, 0, OFF(use_lr_scheduler), 0, 0, NULL,
     "true or false"},
    {"wd", "auto", HP_FLOAT, HP_AUTO, OFF(wd), 0, HUGE_VAL, NULL,
     "auto or a non-negative float"},
};

#define NHPS (sizeof(hps) / sizeof(hps[0]))

_Static_assert(NHPS <= LL_HP_MAX, "raise LL_HP_MAX");

static const struct hp *hp_find(const char *name, size_t *index)
{
  size_t i;

  for (i = 0; i < NHPS; i++)
    if (strcmp(hps[i].name, name) == 0) {
      *index = i;
      return &hps[i];
    }
  return NULL;
}

static void *field(struct ll_config *c, const struct hp *h)
{
  return (char *)c + h->off;
}

/* Strict number syntax: all of s, finite. */
static int parse_double(const char *s, double *out)
{
  char *end;
  double v;

  if (*s == '\0' || strchr(" \t\n\r\f\v", *s) != NULL)
    return -1;
  errno = 0;
  v = strtod(s, &end);
  if (*end != '\0' || errno == ERANGE || !isfinite(v))
    return -1;
  *out = v;
  return 0;
}

/* A positive decimal integer that fits in size_t (and in a double
 * exactly, which every count here does). */
static int parse_count(const char *s, size_t *out)
{
  size_t v = 0;
  const char *p;

  if (*s == '+')
    s++;
  if (*s == '\0')
    return -1;
  for (p = s; *p; p++) {
    if (*p < '0' || *p > '9')
      return -1;
    if (v > ((size_t)1 << 52) / 10)
      return -1;
    v = v * 10 + (size_t)(*p - '0');
  }
  if (v == 0)
    return -1;
  *out = v;
  return 0;
}

static int invalid(struct buf *err, const struct hp *h, const char *value)
{
  if (err == NULL)
    return SR_EINVAL;
  buf_addf(err,
           "ClientError: Invalid hyperparameter value for %s: '%.64s' "
           "(expected %s)",
           h->name, value, h->expect);
  return SR_EINVAL;
}

static int in_range(const struct hp *h, double v)
{
  if (v < h->lo || (v == h->lo && (h->flags & HP_LO_OPEN)))
    return 0;
  if (v > h->hi || (v == h->hi && (h->flags & HP_HI_OPEN)))
    return 0;
  return 1;
}

/* Stores a valid value, or says why it is not. */
static int hp_store(struct ll_config *c, const struct hp *h, const char *v,
                    struct buf *err)
{
  int is_auto = strcmp(v, "auto") == 0;
  double d;
  size_t n, i;

  if (h->flags & HP_NO_FIELD)
    return 0;
  if (is_auto && !(h->flags & HP_AUTO) && h->kind != HP_ENUM &&
      h->kind != HP_WEIGHT)
    return invalid(err, h, v);
  switch (h->kind) {
  case HP_ENUM:
    for (i = 0; h->choices[i]; i++)
      if (h->choices[i][0] && strcmp(h->choices[i], v) == 0) {
        *(int *)field(c, h) = (int)i;
        return 0;
      }
    return invalid(err, h, v);
  case HP_INT:
    if (is_auto)
      n = 0;
    else if (parse_count(v, &n) != 0)
      return invalid(err, h, v);
    *(size_t *)field(c, h) = n;
    return 0;
  case HP_FLOAT:
    if (is_auto)
      d = NAN;
    else if (parse_double(v, &d) != 0 || !in_range(h, d))
      return invalid(err, h, v);
    *(double *)field(c, h) = d;
    return 0;
  case HP_BOOL:
    if (is_auto)
      *(int *)field(c, h) = -1;
    else if (strcasecmp(v, "true") == 0)
      *(int *)field(c, h) = 1;
    else if (strcasecmp(v, "false") == 0)
      *(int *)field(c, h) = 0;
    else
      return invalid(err, h, v);
    return 0;
  case HP_WEIGHT:
    /* auto: the documented "choose the weight", taken as 1 (no
     * reweighting); balanced: NAN until the scaler knows the classes. */
    if (is_auto)
      d = 1.0;
    else if (strcmp(v, "balanced") == 0)
      d = NAN;
    else if (parse_double(v, &d) != 0 || !(d > 0))
      return invalid(err, h, v);
    *(double *)field(c, h) = d;
    return 0;
  case HP_STRING:
    return 0;
  }
  return invalid(err, h, v);
}

void ll_config_init(struct ll_config *c)
{
  size_t i;

  memset(c, 0, sizeof(*c));
  for (i = 0; i < NHPS; i++) {
    if (hps[i].def == NULL)
      continue;
    /* The defaults are valid by construction. */
    hp_store(c, &hps[i], hps[i].def, NULL);
    memcpy(c->priv_text[i], hps[i].def, strlen(hps[i].def) + 1);
  }
  c->predictor_type = LL_PREDICTOR_UNSET;
}

int ll_config_set(struct ll_config *c, const char *name, const char *value,
                  struct buf *err)
{
  const struct hp *h;
  size_t i, len;
  int rc;

  h = hp_find(name, &i);
  if (h == NULL) {
    /* The wording of SageMaker's first-party algorithms. */
    buf_addf(err,
             "ClientError: Additional hyperparameters are not allowed "
             "('%.128s' was unexpected)",
             name);
    return SR_EINVAL;
  }
  len = strlen(value);
  if (len >= LL_HP_VALUE_MAX)
    return invalid(err, h, value);
  rc = hp_store(c, h, value, err);
  if (rc)
    return rc;
  memcpy(c->priv_text[i], value, len + 1);
  c->priv_given[i] = 1;
  c->priv_finished = 0;
  return 0;
}

static int resolve_loss(struct ll_config *c, struct buf *err)
{
  enum ll_loss l = c->loss;

  if (c->predictor_type == LL_REGRESSOR) {
    if (l == LL_LOSS_AUTO)
      c->loss = LL_SQUARED_LOSS;
    else if (l == LL_LOGISTIC || l == LL_HINGE_LOSS || l == LL_SOFTMAX_LOSS)
      goto bad;
  } else {
    if (l == LL_LOSS_AUTO)
      c->loss = LL_LOGISTIC;
    else if (l != LL_LOGISTIC && l != LL_HINGE_LOSS)
      goto bad;
  }
  return 0;
bad:
  buf_addf(err,
           "ClientError: Invalid hyperparameter value for loss: '%s' is not "
           "valid with predictor_type '%s' (expected %s)",
           ll_loss_name(l), predictors[c->predictor_type],
           c->predictor_type == LL_REGRESSOR
               ? "auto, squared_loss, absolute_loss, huber_loss, "
                 "eps_insensitive_squared_loss, "
                 "eps_insensitive_absolute_loss or quantile_loss"
               : "auto, logistic or hinge_loss");
  return SR_EINVAL;
}

/* Whether the hyperparameter name was set (not left to its default). */
static int was_given(const struct ll_config *c, const char *name)
{
  size_t i;

  return hp_find(name, &i) != NULL && c->priv_given[i];
}

/* The auto values (ours where the documentation leaves them open; the
 * observed ones where a container log shows them): see linear_learner.h
 * for the per-model spread around them. Every field is first read again
 * from its string, so finishing twice, or after more sets, is the same
 * as finishing once. */
int ll_config_finish(struct ll_config *c, struct buf *err)
{
  size_t i, dim = c->feature_dim;
  int rc;

  c->predictor_type = LL_PREDICTOR_UNSET;
  for (i = 0; i < NHPS; i++)
    if (hps[i].def != NULL || c->priv_given[i])
      hp_store(c, &hps[i], c->priv_text[i], NULL); /* valid when set */
  if (c->feature_dim == 0)
    c->feature_dim = dim; /* resolved by ll_config_check_dim */

  if (c->predictor_type == LL_PREDICTOR_UNSET) {
    buf_adds(err, "ClientError: No value(s) were specified for "
                  "'predictor_type' which are required hyperparameter(s)");
    return SR_EINVAL;
  }
  if (c->predictor_type == LL_MULTICLASS_CLASSIFIER) {
    buf_adds(err, "ClientError: predictor_type 'multiclass_classifier' is "
                  "not supported by the sagerun local engine (supported: "
                  "regressor, binary_classifier); run it on SageMaker "
                  "(target: aws)");
    return SR_EINVAL;
  }
  rc = resolve_loss(c, err);
  if (rc)
    return rc;
  if (c->optimizer == LL_OPT_AUTO)
    c->optimizer = LL_ADAM; /* "The default setting for auto is adam" */
  c->learning_rate_given =
      was_given(c, "learning_rate") && !isnan(c->learning_rate);
  c->wd_given = was_given(c, "wd") && !isnan(c->wd);
  c->l1_given = was_given(c, "l1") && !isnan(c->l1);
  /* Model 0's learning rate: the log of a linear-learner job with every
   * value auto chose adam at 0.1; sgd's steps are not normalised by the
   * gradient's size, so it starts smaller. */
  if (!c->learning_rate_given)
    c->learning_rate = c->optimizer == LL_SGD ? 0.01 : 0.1;
  if (!c->wd_given)
    c->wd = 0;
  if (!c->l1_given)
    c->l1 = 0;
  if (isnan(c->momentum))
    c->momentum = c->optimizer == LL_SGD ? 0.9 : 0;
  if (isnan(c->beta_1))
    c->beta_1 = 0.9;
  if (isnan(c->beta_2))
    c->beta_2 = 0.999;
  if (isnan(c->bias_lr_mult))
    c->bias_lr_mult = 1;
  if (isnan(c->bias_wd_mult))
    c->bias_wd_mult = 0; /* the bias is not regularised */
  /* The schedule a logged all-auto job chose: x0.99 every 10 updates. */
  if (c->lr_scheduler_step == 0)
    c->lr_scheduler_step = 10;
  if (isnan(c->lr_scheduler_factor))
    c->lr_scheduler_factor = 0.99;
  if (isnan(c->lr_scheduler_minimum_lr))
    c->lr_scheduler_minimum_lr = 1e-5;
  /* Labels are normalised for regression only (aws-spec.md §8). */
  if (c->predictor_type != LL_REGRESSOR)
    c->normalize_label = 0;
  else if (c->normalize_label < 0)
    c->normalize_label = 1;
  /* Centring stands in for the bias term, so it follows use_bias (the
   * documentation ties unbias_data and unbias_label to it); labels are
   * centred for regression only. */
  if (c->unbias_data < 0)
    c->unbias_data = c->use_bias;
  if (c->predictor_type != LL_REGRESSOR)
    c->unbias_label = 0;
  else if (c->unbias_label < 0)
    c->unbias_label = c->use_bias;
  if (c->num_models == 0)
    c->num_models = 32; /* observed: models 0..31 */
  if (c->predictor_type != LL_BINARY_CLASSIFIER)
    c->positive_example_weight_mult = 1;
  c->priv_finished = 1;
  return 0;
}

int ll_config_parse(struct ll_config *c, const char *const *names,
                    const char *const *values, size_t n, struct buf *err)
{
  size_t i;
  int rc;

  ll_config_init(c);
  for (i = 0; i < n; i++) {
    rc = ll_config_set(c, names[i], values[i], err);
    if (rc)
      return rc;
  }
  return ll_config_finish(c, err);
}

int ll_config_check_dim(struct ll_config *c, size_t data_dim, struct buf *err)
{
  if (data_dim == 0) {
    buf_adds(err, "ClientError: the data has no features");
    return SR_EINVAL;
  }
  if (c->feature_dim == 0) {
    c->feature_dim = data_dim;
    return 0;
  }
  if (c->feature_dim != data_dim) {
    buf_addf(err,
             "ClientError: feature_dim is %zu but the data has %zu "
             "feature(s) per record",
             c->feature_dim, data_dim);
    return SR_EINVAL;
  }
  return 0;
}

int ll_config_format(const struct ll_config *c, struct buf *out)
{
  json_t *o;
  char *text;
  size_t i;
  int rc = SR_ENOMEM;

  o = json_object();
  if (o == NULL)
    return SR_ENOMEM;
  for (i = 0; i < NHPS; i++) {
    json_t *v;

    if (hps[i].def == NULL && !c->priv_given[i])
      continue;
    v = json_string(c->priv_text[i]);
    if (v == NULL)
      v = json_string("(not UTF-8)");
    if (v == NULL || json_object_set_new(o, hps[i].name, v) != 0)
      goto out;
  }
  text = json_dumps(o, JSON_SORT_KEYS);
  if (text == NULL)
    goto out;
  rc = buf_adds(out, text);
  free(text);
out:
  json_decref(o);
  return rc;
}

const char *ll_loss_name(enum ll_loss loss)
{
  if ((size_t)loss < sizeof(losses) / sizeof(losses[0]) - 1)
    return losses[loss];
  return "unknown";
}

const char *ll_loss_objective_name(enum ll_loss loss)
{
  switch (loss) {
  case LL_SQUARED_LOSS:
    return "mse_objective";
  case LL_ABSOLUTE_LOSS:
    return "absolute_loss_objective";
  case LL_HUBER_LOSS:
    return "huber_loss_objective";
  case LL_EPS_INSENSITIVE_SQUARED_LOSS:
    return "eps_insensitive_squared_loss_objective";
  case LL_EPS_INSENSITIVE_ABSOLUTE_LOSS:
    return "eps_insensitive_absolute_loss_objective";
  case LL_QUANTILE_LOSS:
    return "quantile_loss_objective";
  case LL_LOGISTIC:
    return "binary_classification_cross_entropy_objective";
  case LL_HINGE_LOSS:
    return "binary_classification_hinge_loss_objective";
  case LL_SOFTMAX_LOSS:
    return "multiclass_cross_entropy_objective";
  case LL_LOSS_AUTO:
    break;
  }
  return "objective";
}

const char *ll_optimizer_name(enum ll_optimizer opt)
{
  if ((size_t)opt < sizeof(optimizers) / sizeof(optimizers[0]) - 1)
    return optimizers[opt];
  return "unknown";
}

const char *ll_criterion_name(enum ll_criterion crit)
{
  if ((size_t)crit < sizeof(criteria) / sizeof(criteria[0]) - 1)
    return criteria[crit];
  return "unknown";
}
