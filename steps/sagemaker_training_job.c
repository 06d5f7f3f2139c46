/* sagemaker.training_job: CreateTrainingJob from readable inputs, then
 * wait with botocore's TrainingJobCompletedOrStopped waiter, showing
 * SecondaryStatus. Created once per run, step and attempt: a resumed run
 * re-attaches to the job by name. Cancel stops the job (StopTrainingJob)
 * and waits for it to stop. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "sagemaker_api.h"

struct job {
  struct sm_create create;
  struct aws_waiter *waiter;
  int canceled, stop_sent;
  char arn[512];
};

static void job_free(struct job *j)
{
  json_decref(j->create.input);
  free(j);
}

static void finish(struct job *j, int status, json_t *outputs, const char *msg)
{
  struct step_ctx *ctx = j->create.ctx;

  step_set_data(ctx, NULL);
  if (status)
    step_done(ctx, status, NULL, "%s", msg);
  else
    step_done(ctx, 0, outputs, NULL);
  job_free(j);
}

/* "s3://b/p/" + "JOB/output/model.tar.gz", as the SageMaker SDK joins. */
static void artifact_path(const char *output_path, const char *job,
                          struct buf *out)
{
  size_t n = strlen(output_path);

  buf_add(out, output_path, n);
  if (n == 0 || output_path[n - 1] != '/')
    buf_addc(out, '/');
  buf_addf(out, "%s/output/model.tar.gz", job);
}

static json_t *job_outputs(struct job *j, const json_t *d)
{
  const json_t *in = step_inputs(j->create.ctx);
  const char *artifacts = json_string_value(json_object_get(
      json_object_get(d, "ModelArtifacts"), "S3ModelArtifacts"));
  json_t *training = json_object_get(d, "TrainingTimeInSeconds");
  json_t *billable = json_object_get(d, "BillableTimeInSeconds");
  json_t *out;
  struct buf path;

  buf_init(&path, 4096);
  if (artifacts == NULL)
    artifact_path(json_string_value(json_object_get(in, "output_path")),
                  j->create.name, &path);
  out = json_pack(
      "{s:s,s:s,s:s,s:s,s:O,s:O,s:s?,s:s?,s:s?,s:O,s:O}", "name",
      j->create.name, "base_name",
      json_string_value(json_object_get(in, "name"))
          ? json_string_value(json_object_get(in, "name"))
          : "job",
      "arn",
      json_string_value(json_object_get(d, "TrainingJobArn"))
          ? json_string_value(json_object_get(d, "TrainingJobArn"))
          : j->arn,
      "model_artifacts", artifacts ? artifacts : buf_str(&path),
      "training_seconds", training ? training : json_null(), "billable_seconds",
      billable ? billable : json_null(), "status",
      json_string_value(json_object_get(d, "TrainingJobStatus")),
      "secondary_status",
      json_string_value(json_object_get(d, "SecondaryStatus")),
      "failure_reason", json_string_value(json_object_get(d, "FailureReason")),
      "instance_type", json_object_get(in, "instance_type"), "instance_count",
      json_object_get(in, "instance_count"));
  buf_free(&path);
  return out;
}

static void on_poll(const struct aws_result *r, void *data)
{
  struct job *j = data;
  const char *secondary =
      json_string_value(json_object_get(r->output, "SecondaryStatus"));

  if (secondary)
    step_progress(j->create.ctx, "%s", secondary);
}

static void waited(struct aws_waiter *w, int status,
                   const struct aws_result *last, void *data)
{
  struct job *j = data;
  const json_t *d = last ? last->output : NULL;
  const char *st = json_string_value(json_object_get(d, "TrainingJobStatus"));
  const char *reason = json_string_value(json_object_get(d, "FailureReason"));
  char msg[1500], why[600];

  (void)w;
  j->waiter = NULL;
  if (status == 0 && st && strcmp(st, "Completed") == 0) {
    finish(j, 0, job_outputs(j, d), NULL);
  } else if (status == 0 || (st && strcmp(st, "Stopped") == 0)) {
    snprintf(msg, sizeof(msg), "training job %s was stopped", j->create.name);
    finish(j, j->canceled ? SR_ECANCELED : SR_EIO, NULL, msg);
  } else if (status == SR_ECANCELED) {
    finish(j, status, NULL, "canceled");
  } else {
    snprintf(msg, sizeof(msg), "training job %s %s: %s", j->create.name,
             st ? st : "failed",
             reason                     ? reason
             : last && last->error_code ? sm_error(last, why, sizeof(why))
                                        : sr_strerror(status));
    finish(j, SR_EIO, NULL, msg);
  }
}

static void stopped(struct step_ctx *ctx, const struct aws_result *res,
                    void *data)
{
  (void)ctx;
  (void)res;
  (void)data;
  /* Whatever StopTrainingJob answered, the waiter sees the outcome. */
}

static void send_stop(struct job *j)
{
  if (j->stop_sent)
    return;
  j->stop_sent = 1;
  step_progress(j->create.ctx, "Stopping");
  sm_call(j->create.ctx, "sagemaker", "StopTrainingJob",
          json_pack("{s:s}", "TrainingJobName", j->create.name), stopped, NULL);
}

static void created(struct sm_create *c, int status, const char *arn,
                    const json_t *described, const char *error)
{
  struct job *j = (struct job *)c;
  struct step_ctx *ctx = c->ctx;
  const json_t *in = step_inputs(ctx);
  json_t *input;
  int rc;

  if (status) {
    finish(j, status, NULL, error);
    return;
  }
  snprintf(j->arn, sizeof(j->arn), "%s",
           arn ? arn : "(known after CreateTrainingJob)");
  if (!json_is_true(json_object_get(in, "wait"))) {
    finish(j, 0, job_outputs(j, described), NULL);
    return;
  }
  if (j->canceled)
    send_stop(j);
  step_progress(ctx, "Starting");
  input = json_pack("{s:s}", "TrainingJobName", c->name);
  /* The job stops itself at max_runtime; allow for start and upload. */
  rc = aws_waiter_start(
      step_aws(ctx), "sagemaker.TrainingJobCompletedOrStopped", input,
      time(NULL) + json_integer_value(json_object_get(in, "max_runtime")) +
          3600,
      on_poll, waited, j, &j->waiter);
  json_decref(input);
  if (rc)
    finish(j, rc, NULL, "cannot wait for the training job");
}

/* The CreateTrainingJob request from the step's inputs. */
static json_t *create_input(struct step_ctx *ctx, const char *name, char *err,
                            size_t errlen)
{
  const json_t *in = step_inputs(ctx);
  const char *image = json_string_value(json_object_get(in, "image"));
  json_t *hp = json_object(), *channels = json_array(), *req;
  const char *key;
  json_t *v;
  char resolved[256];

  if (image == NULL) {
    if (sm_algorithm_image(json_string_value(json_object_get(in, "algorithm")),
                           step_region(ctx), resolved, sizeof(resolved)) != 0) {
      snprintf(err, errlen, "no linear-learner image for region %s",
               step_region(ctx));
      json_decref(hp);
      json_decref(channels);
      return NULL;
    }
    image = resolved;
  }
  /* SageMaker takes every hyperparameter as a string. */
  json_object_foreach((json_t *)json_object_get(in, "hyperparameters"), key, v)
  {
    char *text = json_is_string(v)
                     ? strdup(json_string_value(v))
                     : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    json_object_set_new(hp, key, json_string(text ? text : ""));
    free(text);
  }
  json_object_foreach((json_t *)json_object_get(in, "channels"), key, v)
  {
    json_t *src =
        json_pack("{s:{s:O,s:O,s:O}}", "S3DataSource", "S3DataType",
                  json_object_get(v, "s3_data_type"), "S3Uri",
                  json_object_get(v, "s3_uri"), "S3DataDistributionType",
                  json_object_get(v, "distribution"));
    json_t *ch =
        json_pack("{s:s,s:o,s:O}", "ChannelName", key, "DataSource", src,
                  "ContentType", json_object_get(v, "content_type"));
    if (json_object_get(v, "record_wrapper"))
      json_object_set(ch, "RecordWrapperType",
                      json_object_get(v, "record_wrapper"));
    json_array_append_new(channels, ch);
  }
  req = json_pack(
      "{s:s,s:O,s:{s:s,s:O},s:{s:O,s:O,s:O},s:{s:O},s:{s:O},s:o,s:o,s:o}",
      "TrainingJobName", name, "RoleArn", json_object_get(in, "role"),
      "AlgorithmSpecification", "TrainingImage", image, "TrainingInputMode",
      json_object_get(in, "input_mode"), "ResourceConfig", "InstanceType",
      json_object_get(in, "instance_type"), "InstanceCount",
      json_object_get(in, "instance_count"), "VolumeSizeInGB",
      json_object_get(in, "volume_size_gb"), "StoppingCondition",
      "MaxRuntimeInSeconds", json_object_get(in, "max_runtime"),
      "OutputDataConfig", "S3OutputPath", json_object_get(in, "output_path"),
      "HyperParameters", hp, "InputDataConfig", channels, "Tags",
      sm_tags(ctx, json_object_get(in, "tags")));
  if (req && json_object_size(json_object_get(in, "environment")))
    json_object_set(req, "Environment", json_object_get(in, "environment"));
  if (req == NULL)
    snprintf(err, errlen, "cannot build CreateTrainingJob: missing input");
  return req;
}

static int job_start(struct step_ctx *ctx)
{
  struct job *j = calloc(1, sizeof(*j));
  struct sm_create *c = &j->create;
  char err[256];
  int rc;

  if (j == NULL)
    return SR_ENOMEM;
  c->ctx = ctx;
  c->kind = "training_job";
  c->create_op = "CreateTrainingJob";
  c->describe_op = "DescribeTrainingJob";
  c->name_member = "TrainingJobName";
  c->arn_member = "TrainingJobArn";
  c->done = created;
  sm_name(ctx, "job", c->name);
  c->input = create_input(ctx, c->name, err, sizeof(err));
  if (c->input == NULL) {
    free(j);
    step_done(ctx, SR_EINVAL, NULL, "%s", err);
    return 0;
  }
  step_set_data(ctx, j);
  rc = sm_create_start(c);
  if (rc) {
    step_set_data(ctx, NULL);
    job_free(j);
  }
  return rc;
}

static void job_cancel(struct step_ctx *ctx)
{
  struct job *j = step_data(ctx);

  if (j == NULL)
    return;
  j->canceled = 1;
  /* Before the job exists, created() sends the stop once it does. */
  if (j->waiter)
    send_stop(j);
}

const struct step_exec sagemaker_training_job_exec = {
    STEP_ABI_VERSION, job_start, job_cancel, NULL};
