/* Linear learner internals shared by ll_train.c (which builds the final
 * model) and ll_model.c (which saves, loads and applies it). */
#ifndef SAGERUN_LOCAL_LL_INTERNAL_H
#define SAGERUN_LOCAL_LL_INTERNAL_H

#include <stddef.h>

#include "linear_learner.h"

enum ll_score { LL_SCORE_IDENTITY = 0, LL_SCORE_SIGMOID, LL_SCORE_MARGIN };

struct ll_model {
  enum ll_predictor predictor;
  enum ll_loss loss;
  enum ll_score score;
  size_t d;
  double *w; /* d weights in raw units: score = b + w . x */
  double b;
  double threshold; /* binary: in score units */
  /* For the record (a trained model only): */
  int trained;
  size_t index, epoch;
  struct ll_model_params params;
  struct ll_model_metrics metrics;
  double *w_norm; /* d normalised weights */
  double b_norm;
  double *shift, *scale; /* d each: x_norm = (x - shift) * scale */
  double label_shift, label_scale;
  char *config; /* final configuration JSON */
};

/* An empty model for d features (all arrays allocated, zeroed, the record
 * arrays too when trained). NULL when out of memory. */
struct ll_model *ll_model_alloc(size_t d, int trained);

/* For the tests: the training kernel's loss value *l and derivative *g
 * with respect to the prediction p, at label y; param is huber_delta,
 * loss_insensitivity, quantile and margin. */
void ll_loss_eval(enum ll_loss loss, const double param[4], float p, float y,
                  float *l, float *g);

#endif
