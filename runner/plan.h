/* The recorder behind `sagerun plan`: every request the run's steps
 * would send is written down, in order, with its step, and answered as
 * the service would answer a successful call, with values that only the
 * real call can give marked "(known after Operation)". Nothing is sent
 * and no credentials are needed. */
#ifndef SAGERUN_PLAN_H
#define SAGERUN_PLAN_H

#include <jansson.h>
#include <stdio.h>

#include "aws.h"

struct plan {
  struct aws_recorder recorder; /* first: the client calls it */
  json_t *requests;             /* array of recorded requests */
  json_t *deleted;              /* endpoint names deleted so far */
  const char *region;
  char *current_step; /* the step running now: the sender */
};

void plan_init(struct plan *p, const char *region);
void plan_free(struct plan *p);
/* The step whose requests come next (plan runs one step at a time). */
void plan_set_step(struct plan *p, const char *step);

/* Human-readable plan, then a summary of what would be created and
 * deleted. */
void plan_print(const struct plan *p, FILE *out, int colour);
/* One JSON object per request and a final summary object. */
void plan_print_json(const struct plan *p, FILE *out);

#endif
