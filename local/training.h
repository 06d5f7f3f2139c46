/* Training runs behind the local engine's SageMaker control plane.
 *
 * The control plane (local/sagemaker.c) owns a job's record: validation,
 * names, quotas, TrainingJobStatus, SecondaryStatus and its transitions,
 * timestamps, MaxRuntimeInSeconds, persistence. A training run (this
 * module) owns what happens on the machine: worker processes, channel
 * downloads, logs, the artifact. The two meet here, and only here:
 *
 *   control plane                         training run
 *   local_training_start(job) ─────────►  starts; reports each phase:
 *   on_report(Downloading, ...)  ◄──────  "Downloading", "Training", ...
 *   local_training_stop(t)       ───────► ends the workers
 *   on_report(terminal)          ◄──────  "Completed" | "Failed" |
 *                                          "Stopped" (then t is gone)
 *
 * Reports come from the engine's loop, never from inside a call into
 * this module, so the caller has always finished its own bookkeeping.
 * A run reports exactly one terminal report, after which the handle is
 * freed by this module and must not be used. If local_training_start
 * fails, on_report never runs (libuv's rule).
 *
 * local/training.c trains linear-learner with one worker process per
 * instance (issue 6) and fails any other image with a reason that names
 * what is supported. The control plane may hold a job in Starting
 * before calling local_training_start (SAGERUN_LOCAL_LAUNCH_SECONDS,
 * instances launching); a stop in that time never reaches this module. */
#ifndef SAGERUN_LOCAL_TRAINING_H
#define SAGERUN_LOCAL_TRAINING_H

#include <jansson.h>

struct local_engine;
struct local_training; /* one run, owned by this module */

/* One step of a run. Strings are borrowed for the call only. */
struct local_training_report {
  /* A SageMaker SecondaryStatus: "Starting", "Downloading", "Training",
   * "Uploading" while running; "Completed", "Failed" or "Stopped" at the
   * end (terminal). The control plane derives TrainingJobStatus from it,
   * and turns a Stopped that it caused for MaxRuntimeInSeconds into
   * MaxRuntimeExceeded. */
  const char *secondary_status;
  /* StatusMessage of the transition, e.g. "Downloading input data";
   * NULL for SageMaker's usual text. */
  const char *message;
  /* Failed: FailureReason (the control plane keeps 1,024 characters, as
   * SageMaker keeps of /opt/ml/output/failure). */
  const char *failure_reason;
  /* Completed (or Stopped with a model): FinalMetricDataList, an array of
   * {"MetricName", "Value", "Timestamp"}; NULL when there are none. */
  const json_t *final_metrics;
  /* Terminal: BillableTimeInSeconds if the run knows better; 0 lets the
   * control plane use instances x training seconds (issue 6's rule). */
  long long billable_seconds;
};

typedef void (*local_training_cb)(struct local_training *t,
                                  const struct local_training_report *r,
                                  void *data);

/* Starts the job described by job, the DescribeTrainingJob document as
 * recorded at creation (borrowed for the call; copy what you keep):
 * TrainingJobName, TrainingJobArn, AlgorithmSpecification (TrainingImage,
 * TrainingInputMode), ResourceConfig (InstanceType, InstanceCount),
 * InputDataConfig, OutputDataConfig, HyperParameters (object, maybe
 * empty), StoppingCondition, Environment, ModelArtifacts (where the
 * artifact goes), CreationTime.
 *
 * Returns 0 with *out and then reports through on_report (with data);
 * or a negative SR_ code, and on_report never runs. An image the module
 * cannot run is not an error here: the run reports Failed with a reason,
 * as SageMaker fails a job whose image it cannot use. */
int local_training_start(struct local_engine *e, const json_t *job,
                         local_training_cb on_report, void *data,
                         struct local_training **out);

/* StopTrainingJob (or MaxRuntimeInSeconds): ends the workers. The run
 * then reports a terminal status (Stopped, or Completed / Failed if it
 * got there first). Calling it again, or after the run ended, is a
 * no-op. */
void local_training_stop(struct local_training *t);

/* The engine shuts down: stop reporting and free t; workers end (or are
 * left to be re-attached, if local_training_reattach can). on_report
 * does not run again. */
void local_training_detach(struct local_training *t);

/* At engine start, for each job recorded InProgress or Stopping (the
 * engine stopped or died while it ran): take it over and report as for
 * local_training_start, or return SR_ENOTSUP and the control plane fails
 * the job with "the local engine restarted while the job ran". */
int local_training_reattach(struct local_engine *e, const json_t *job,
                            local_training_cb on_report, void *data,
                            struct local_training **out);

/* Whether image (a registry path with tag or digest) is linear-learner's:
 * its repository's last component is "linear-learner", in any registry,
 * with any tag. Hosting uses the same rule. */
int local_image_is_linear_learner(const char *image);

/* What this build trains, for messages: "linear-learner". */
extern const char *const local_training_supported;

#endif
