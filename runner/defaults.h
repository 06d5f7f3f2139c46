/* Filling in the defaults a step's schema declares, so a step sees every
 * input with its value whether the workflow wrote it or not. */
#ifndef SAGERUN_DEFAULTS_H
#define SAGERUN_DEFAULTS_H

#include <jansson.h>

/* For each property of schema (and of nested object schemas under
 * "properties" and "additionalProperties") that instance lacks, sets the
 * schema's "default". instance is changed in place. Values pointer-equal
 * to unknown are left alone. Returns 0 or SR_ENOMEM. */
int defaults_apply(const json_t *schema, json_t *instance,
                   const json_t *unknown);

#endif
