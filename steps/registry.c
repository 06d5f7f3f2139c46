/* The table of step types. Keep it sorted by name: a test checks that
 * order and that every entry has its schemas/steps/NAME.json. Execution
 * functions arrive with the issues that implement each step; until then
 * `exec` is NULL and `sagerun run` refuses the step. */
#include <stdio.h>
#include <string.h>

#include "../runner/suggest.h"
#include "step.h"

extern const struct step_exec core_command_exec;
extern const struct step_exec core_echo_exec;
extern const struct step_exec core_wait_exec;
extern const struct step_exec gdelt_prepare_exec;
extern const struct step_exec gdelt_profile_exec;
extern const struct step_exec gdelt_top_events_exec;
extern const struct step_exec logs_training_time_exec;
extern const struct step_exec report_exec;
extern const struct step_exec s3_bucket_exec;
extern const struct step_exec sagemaker_delete_exec;
extern const struct step_exec sagemaker_endpoint_exec;
extern const struct step_exec sagemaker_endpoint_config_exec;
extern const struct step_exec sagemaker_evaluate_exec;
extern const struct step_exec sagemaker_model_exec;
extern const struct step_exec sagemaker_training_job_exec;

static const struct step_type core_command = {
    STEP_ABI_VERSION, "core.command",
    "run a program; its exit code and standard output are the outputs", 1,
    &core_command_exec};

static const struct step_type core_echo = {STEP_ABI_VERSION, "core.echo",
                                           "output the values it is given", 1,
                                           &core_echo_exec};

static const struct step_type core_wait = {STEP_ABI_VERSION, "core.wait",
                                           "wait a number of seconds", 1,
                                           &core_wait_exec};

static const struct step_type gdelt_prepare = {
    STEP_ABI_VERSION, "gdelt.prepare",
    "GDELT events to RecordIO-protobuf or CSV objects, split and shuffled", 1,
    &gdelt_prepare_exec};

static const struct step_type gdelt_profile = {
    STEP_ABI_VERSION, "gdelt.profile",
    "share per EventCode, column statistics and histograms of a source", 1,
    &gdelt_profile_exec};

static const struct step_type gdelt_top_events = {
    STEP_ABI_VERSION, "gdelt.top_events",
    "the N most frequent EventCodes of a GDELT source", 1,
    &gdelt_top_events_exec};

static const struct step_type logs_training_time = {
    STEP_ABI_VERSION, "logs.training_time",
    "a training job's time from its CloudWatch log streams", 1,
    &logs_training_time_exec};

static const struct step_type report = {
    STEP_ABI_VERSION, "report",
    "comparison table and report.md, report.json, report.html", 1,
    &report_exec};

static const struct step_type s3_bucket = {
    STEP_ABI_VERSION, "s3.bucket",
    "make sure an S3 bucket exists (create it when missing)", 1,
    &s3_bucket_exec};

static const struct step_type sagemaker_delete = {
    STEP_ABI_VERSION, "sagemaker.delete",
    "delete endpoints, endpoint configs and models; idempotent", 1,
    &sagemaker_delete_exec};

static const struct step_type sagemaker_endpoint = {
    STEP_ABI_VERSION, "sagemaker.endpoint",
    "create an endpoint and wait until it is InService", 1,
    &sagemaker_endpoint_exec};

static const struct step_type sagemaker_endpoint_config = {
    STEP_ABI_VERSION, "sagemaker.endpoint_config",
    "create an endpoint configuration for a model", 1,
    &sagemaker_endpoint_config_exec};

static const struct step_type sagemaker_evaluate = {
    STEP_ABI_VERSION, "sagemaker.evaluate",
    "score test data on an endpoint: MSE, MAE, R2, throughput", 1,
    &sagemaker_evaluate_exec};

static const struct step_type sagemaker_model = {
    STEP_ABI_VERSION, "sagemaker.model",
    "create a SageMaker model from a training artifact", 1,
    &sagemaker_model_exec};

static const struct step_type sagemaker_training_job = {
    STEP_ABI_VERSION, "sagemaker.training_job",
    "run a SageMaker training job and wait for it", 1,
    &sagemaker_training_job_exec};

const struct step_type *const step_registry[] = {
    &core_command,
    &core_echo,
    &core_wait,
    &gdelt_prepare,
    &gdelt_profile,
    &gdelt_top_events,
    &logs_training_time,
    &report,
    &s3_bucket,
    &sagemaker_delete,
    &sagemaker_endpoint,
    &sagemaker_endpoint_config,
    &sagemaker_evaluate,
    &sagemaker_model,
    &sagemaker_training_job,
    NULL,
};

const struct step_type *step_registry_find(const char *name)
{
  const struct step_type *const *t;

  for (t = step_registry; *t; t++)
    if (strcmp((*t)->name, name) == 0)
      return *t;
  return NULL;
}

const char *step_registry_suggest(const char *name)
{
  struct suggest s;
  const struct step_type *const *t;

  suggest_init(&s, name, 3);
  for (t = step_registry; *t; t++)
    suggest_add(&s, (*t)->name);
  return suggest_best(&s);
}

void step_schema_path(const struct step_type *t, char *out, size_t outlen)
{
  snprintf(out, outlen, "schemas/steps/%s.json", t->name);
}
