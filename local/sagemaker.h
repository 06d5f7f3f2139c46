/* What the SageMaker control plane (local/sagemaker.c) offers the rest of
 * the engine besides the JSON 1.1 service in engine.h. */
#ifndef SAGERUN_LOCAL_SAGEMAKER_H
#define SAGERUN_LOCAL_SAGEMAKER_H

#include "engine.h"

struct local_hosting;

/* For SageMaker Runtime: the hosting that serves endpoint `name`, which
 * must match exactly (InvokeEndpoint is case-sensitive where the control
 * plane is not). Returns 0 with *out when the endpoint is InService (or
 * Updating, while its old configuration still serves); SR_ENOENT when
 * there is no such endpoint or it does not serve. */
int local_sagemaker_endpoint_hosting(struct local_engine *e, const char *name,
                                     struct local_hosting **out);

/* Quotas that ResourceLimitExceeded is measured against. Defaults, or
 * from the environment at local_sagemaker_init:
 *   SAGERUN_LOCAL_MAX_TRAINING_JOBS       concurrent jobs (20)
 *   SAGERUN_LOCAL_MAX_TRAINING_INSTANCES  instances across jobs (40)
 *   SAGERUN_LOCAL_MAX_ENDPOINT_INSTANCES  instances across endpoints (40)
 * A value of 0 leaves a quota unchanged. Returns SR_ENOENT before
 * init. */
int local_sagemaker_set_quotas(struct local_engine *e, long max_jobs,
                               long max_training_instances,
                               long max_endpoint_instances);

/* How long a training job's instances take to launch: the job stays in
 * Starting ("Launching requested ML instances") that long before its run
 * starts, as real jobs spend minutes there; StopTrainingJob in that time
 * stops it at once. From SAGERUN_LOCAL_LAUNCH_SECONDS at
 * local_sagemaker_init, else 0. Returns SR_ENOENT before init. */
int local_sagemaker_set_launch_delay(struct local_engine *e, double seconds);

#endif
