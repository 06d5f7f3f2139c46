/* Local training and hosting (issue 6): linear-learner jobs run by real
 * worker processes on data distributed by channel type, the artifact, the
 * logs, the failure paths, and endpoints answering CSV, JSON and
 * RecordIO. The engine runs in-process (local-helpers.h); its workers are
 * the sagerun binary under test. The same through boto3 and the engine's
 * HTTP front is local_training_peer_boto3. No timed assertions: the loop
 * turns until a job or endpoint reaches the state a check needs. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../local/credentials.h"
#include "../local/linear_learner.h"
#include "../local/llio.h"
#include "../local/s3store.h"
#include "../local/sagemaker.h"
#include "../local/tarball.h"
#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/recordio.h"
#include "local-helpers.h"
#include "test.h"

#define ROLE "arn:aws:iam::123456789012:role/SageMakerRole"
#define LL_IMAGE "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
#define XGB_IMAGE                                                              \
  "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.5-1"
#define PEER_PYTHON "/usr/bin/python3"
#define DIM 3

/* ---- data ---------------------------------------------------------------- */

static uint64_t rng = 12345;

static double uniform(void)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

/* y = 1 + 2 x0 - x1 + 0.5 x2 + small noise. */
static void make_row(float *x, float *y)
{
  size_t j;

  for (j = 0; j < DIM; j++)
    x[j] = (float)(uniform() * 4 - 2);
  *y = (float)(1 + 2 * x[0] - x[1] + 0.5 * x[2] + (uniform() - 0.5) * 0.1);
}

static double truth(const float *x)
{
  return 1 + 2 * x[0] - x[1] + 0.5 * x[2];
}

static char *csv_rows(size_t n, int labelled)
{
  struct buf b;
  float x[DIM], y;
  size_t i;

  buf_init(&b, 1 << 24);
  for (i = 0; i < n; i++) {
    make_row(x, &y);
    if (labelled)
      ASSERT_EQ(0, buf_addf(&b, "%.6g,", (double)y));
    ASSERT_EQ(0, buf_addf(&b, "%.6g,%.6g,%.6g\n", (double)x[0], (double)x[1],
                          (double)x[2]));
  }
  return buf_detach(&b, NULL);
}

static void recordio_rows(struct buf *b, size_t n, int flags)
{
  float x[DIM], y;
  size_t i;

  for (i = 0; i < n; i++) {
    make_row(x, &y);
    ASSERT_EQ(0, recordio_write_dense(b, x, DIM, &y, 1, flags));
  }
}

/* ---- the engine ------------------------------------------------------------
 */

static void setup(struct lt_engine *t)
{
  /* Writes to a worker that just died must not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  setenv("SAGERUN_WORKER_BIN", test_sagerun_bin(), 1);
  lt_loop_init(t);
  lt_open(t, "e");
  ASSERT_EQ(0, s3store_bucket_create(local_engine_s3(t->e), "bucket", 0,
                                     local_engine_now(t->e)));
}

static void put(struct lt_engine *t, const char *key, const void *data,
                size_t len)
{
  struct s3store_writer *w;

  ASSERT_EQ(0, s3store_writer_begin(local_engine_s3(t->e), &w));
  ASSERT_EQ(0, s3store_writer_write(w, data, len));
  ASSERT_EQ(0, s3store_writer_commit(w, "bucket", key, NULL,
                                     local_engine_now(t->e), NULL));
}

static void put_text(struct lt_engine *t, const char *key, char *text)
{
  put(t, key, text, strlen(text));
  free(text);
}

static void put_recordio(struct lt_engine *t, const char *key, size_t n)
{
  struct buf b;

  buf_init(&b, 1 << 24);
  recordio_rows(&b, n, 0);
  put(t, key, buf_str(&b), buf_len(&b));
  buf_free(&b);
}

/* An InputDataConfig channel. */
static void channel(struct buf *b, const char *name, const char *prefix,
                    const char *dist, const char *ct)
{
  ASSERT_EQ(0, buf_addf(b,
                        "%s{\"ChannelName\": \"%s\", \"DataSource\": "
                        "{\"S3DataSource\": {\"S3DataType\": \"S3Prefix\", "
                        "\"S3Uri\": \"s3://bucket/%s\", "
                        "\"S3DataDistributionType\": \"%s\"}}%s%s%s}",
                        buf_len(b) ? ", " : "", name, prefix, dist,
                        ct ? ", \"ContentType\": \"" : "", ct ? ct : "",
                        ct ? "\"" : ""));
}

/* Creates job name with channels (JSON list items), hyperparameters and
 * environment (JSON object members). */
static void create_job(struct lt_engine *t, const char *name, const char *image,
                       int instances, const char *channels, const char *hps,
                       const char *env)
{
  struct buf b;

  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, buf_addf(&b,
                        "{\"TrainingJobName\": \"%s\","
                        " \"AlgorithmSpecification\": {\"TrainingImage\": "
                        "\"%s\", \"TrainingInputMode\": \"File\"},"
                        " \"RoleArn\": \"" ROLE "\","
                        " \"HyperParameters\": {%s},"
                        " \"InputDataConfig\": [%s],"
                        " \"OutputDataConfig\": {\"S3OutputPath\": "
                        "\"s3://bucket/out/\"},"
                        " \"ResourceConfig\": {\"InstanceType\": "
                        "\"ml.m5.large\", \"InstanceCount\": %d, "
                        "\"VolumeSizeInGB\": 10},"
                        " \"Environment\": {%s},"
                        " \"StoppingCondition\": {\"MaxRuntimeInSeconds\": "
                        "3600}}",
                        name, image, hps, channels, instances, env ? env : ""));
  json_decref(lt_ok(t, local_sagemaker_call, "CreateTrainingJob", buf_str(&b)));
  buf_free(&b);
}

static json_t *describe(struct lt_engine *t, const char *name)
{
  char req[256];

  snprintf(req, sizeof(req), "{\"TrainingJobName\": \"%s\"}", name);
  return lt_ok(t, local_sagemaker_call, "DescribeTrainingJob", req);
}

/* Turns the loop until the job has ended. */
static json_t *wait_job(struct lt_engine *t, const char *name)
{
  for (;;) {
    json_t *d = describe(t, name);
    const char *s = lt_str(d, "TrainingJobStatus");

    if (strcmp(s, "InProgress") != 0 && strcmp(s, "Stopping") != 0)
      return d;
    json_decref(d);
    lt_turn(t);
  }
}

static json_t *wait_completed(struct lt_engine *t, const char *name)
{
  json_t *d = wait_job(t, name);

  if (strcmp(lt_str(d, "TrainingJobStatus"), "Completed") != 0)
    test_fail(__FILE__, __LINE__, "job %s: %s: %s", name,
              lt_str(d, "TrainingJobStatus"), lt_str(d, "FailureReason"));
  return d;
}

/* The job's SecondaryStatusTransitions, joined. */
static void transitions(const json_t *job, char *out, size_t n)
{
  json_t *tr;
  size_t i, len = 0;

  out[0] = '\0';
  json_array_foreach(json_object_get(job, "SecondaryStatusTransitions"), i, tr)
  {
    len += (size_t)snprintf(out + len, n - len, "%s%s", i ? "," : "",
                            lt_str(tr, "Status"));
    ASSERT(len < n);
  }
}

static double metric(const json_t *job, const char *name)
{
  json_t *m;
  size_t i;

  json_array_foreach(json_object_get(job, "FinalMetricDataList"), i, m)
  {
    if (strcmp(lt_str(m, "MetricName"), name) == 0) {
      ASSERT(json_is_number(json_object_get(m, "Timestamp")));
      return json_number_value(json_object_get(m, "Value"));
    }
  }
  test_fail(__FILE__, __LINE__, "no metric %s", name);
}

/* Reads an object of the store. */
static char *get_object(struct lt_engine *t, const char *bucket,
                        const char *key, size_t *len)
{
  struct s3store *s = local_engine_s3(t->e);
  struct s3store_object o;
  char path[4096];
  char *data;

  ASSERT_EQ(0, s3store_object_get(s, bucket, key, &o));
  ASSERT_EQ(0, s3store_data_path(s, o.file, path, sizeof(path)));
  s3store_object_free(&o);
  data = test_read_file(path, len);
  ASSERT(data != NULL);
  return data;
}

/* The job's model, from its artifact. */
static struct ll_model *artifact_model(struct lt_engine *t, const char *job)
{
  char key[256];
  struct buf file, err;
  struct ll_model *m = NULL;
  size_t len;
  char *gz;

  snprintf(key, sizeof(key), "out/%s/output/model.tar.gz", job);
  gz = get_object(t, "bucket", key, &len);
  buf_init(&file, 1 << 24);
  buf_init(&err, 4096);
  ASSERT_EQ(0, tarball_gz_find(gz, len, "model_algo-1", &file));
  if (ll_model_load(&m, buf_str(&file), buf_len(&file), &err) != 0)
    test_fail(__FILE__, __LINE__, "model: %s", buf_str(&err));
  buf_free(&file);
  buf_free(&err);
  free(gz);
  return m;
}

/* Mean squared distance of the model from the true function. */
static double model_error(const struct ll_model *m)
{
  float x[DIM], y, s;
  double sum = 0;
  size_t i;

  for (i = 0; i < 200; i++) {
    make_row(x, &y);
    ll_predict(m, x, 1, &s, NULL);
    sum += (s - truth(x)) * (s - truth(x));
  }
  return sum / 200;
}

/* The events of group's streams named prefix..., "STREAM\tMESSAGE\n"
 * each, and the stream names, comma-joined. */
static char *group_logs(struct lt_engine *t, const char *group,
                        const char *prefix, char *streams, size_t slen)
{
  struct buf b, req;
  json_t *out, *s, *ev;
  size_t i, k, used = 0;

  buf_init(&b, 1 << 26);
  buf_init(&req, 1 << 16);
  ASSERT_EQ(0, buf_addf(&req,
                        "{\"logGroupName\": \"%s\","
                        " \"logStreamNamePrefix\": \"%s\"}",
                        group, prefix));
  out = lt_ok(t, local_logs_call, "DescribeLogStreams", buf_str(&req));
  streams[0] = '\0';
  json_array_foreach(json_object_get(out, "logStreams"), i, s)
  {
    const char *name = lt_str(s, "logStreamName");
    char *token = NULL;

    used += (size_t)snprintf(streams + used, slen - used, "%s%s", i ? "," : "",
                             name);
    ASSERT(used < slen);
    for (;;) {
      json_t *page;

      buf_reset(&req);
      ASSERT_EQ(0, buf_addf(&req,
                            "{\"logGroupName\": \"%s\", "
                            "\"logStreamName\": \"%s\", \"startFromHead\": "
                            "true%s%s%s}",
                            group, name, token ? ", \"nextToken\": \"" : "",
                            token ? token : "", token ? "\"" : ""));
      page = lt_ok(t, local_logs_call, "GetLogEvents", buf_str(&req));
      json_array_foreach(json_object_get(page, "events"), k, ev)
      {
        ASSERT(json_is_integer(json_object_get(ev, "timestamp")));
        ASSERT_EQ(0, buf_addf(&b, "%s\t%s\n", name, lt_str(ev, "message")));
      }
      if (json_array_size(json_object_get(page, "events")) == 0) {
        json_decref(page);
        break;
      }
      free(token);
      token = strdup(lt_str(page, "nextForwardToken"));
      json_decref(page);
    }
    free(token);
  }
  json_decref(out);
  buf_free(&req);
  /* Workers' stderr is in their streams: sanitizer reports would be. */
  if (strstr(buf_str(&b), "Sanitizer") || strstr(buf_str(&b), "runtime error"))
    test_fail(__FILE__, __LINE__, "sanitizer report in %s%s logs:\n%s", group,
              prefix, buf_str(&b));
  return buf_detach(&b, NULL);
}

/* A training job's streams (JOB/algo-N-EPOCH), as group_logs. */
static char *job_logs(struct lt_engine *t, const char *job, char *streams,
                      size_t slen)
{
  char prefix[256];

  snprintf(prefix, sizeof(prefix), "%s/", job);
  return group_logs(t, "/aws/sagemaker/TrainingJobs", prefix, streams, slen);
}

/* The sorted file names in dir, comma-joined. */
static void list_dir(const char *dir, char *out, size_t n)
{
  struct dirent **names;
  int count, i;
  size_t used = 0;

  out[0] = '\0';
  count = scandir(dir, &names, NULL, alphasort);
  ASSERT(count >= 0);
  for (i = 0; i < count; i++) {
    if (names[i]->d_name[0] != '.') {
      used += (size_t)snprintf(out + used, n - used, "%s%s", used ? "," : "",
                               names[i]->d_name);
      ASSERT(used < n);
    }
    free(names[i]);
  }
  free(names);
}

static void instance_files(struct lt_engine *t, const char *job,
                           const char *host, const char *channel, char *out,
                           size_t n)
{
  char dir[8192];

  snprintf(dir, sizeof(dir), "%s/training/%s/%s/input/data/%s", t->dir, job,
           host, channel);
  list_dir(dir, out, n);
}

#define REGRESSOR                                                              \
  "\"predictor_type\": \"regressor\", \"mini_batch_size\": \"50\", "           \
  "\"epochs\": \"6\", \"num_models\": \"4\""

/* ---- training --------------------------------------------------------------
 */

TEST_TIMEOUT(local_training_one_instance, 60000);
TEST(local_training_one_instance)
{
  struct lt_engine t;
  struct buf ch;
  struct ll_model *m;
  json_t *d;
  char trs[256];
  long long secs;

  setup(&t);
  put_text(&t, "csv/train/part-1.csv", csv_rows(1500, 1));
  put_text(&t, "csv/validation/v.csv", csv_rows(300, 1));
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "csv/train/", "FullyReplicated", "text/csv");
  channel(&ch, "validation", "csv/validation", "FullyReplicated", "text/csv");
  create_job(&t, "one", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  d = wait_completed(&t, "one");
  transitions(d, trs, sizeof(trs));
  ASSERT_STR_EQ("Starting,Downloading,Training,Uploading,Completed", trs);
  ASSERT_STR_EQ(
      "s3://bucket/out/one/output/model.tar.gz",
      lt_str(json_object_get(d, "ModelArtifacts"), "S3ModelArtifacts"));
  secs = json_integer_value(json_object_get(d, "TrainingTimeInSeconds"));
  ASSERT(secs >= 1);
  ASSERT_EQ(secs,
            json_integer_value(json_object_get(d, "BillableTimeInSeconds")));
  /* The noise's variance is 0.1^2/12: the fit is close to it. */
  ASSERT(metric(d, "validation:mse") < 0.01);
  ASSERT(metric(d, "validation:objective_loss") < 0.01);
  ASSERT(metric(d, "validation:absolute_loss") < 0.1);
  json_decref(d);
  m = artifact_model(&t, "one");
  ASSERT_EQ(DIM, ll_model_feature_dim(m));
  ASSERT(model_error(m) < 0.01);
  ll_model_free(m);
  /* The copied input is gone; the model and configuration stay. */
  {
    char path[4200];

    snprintf(path, sizeof(path), "%s/training/one/algo-1/input/data", t.dir);
    ASSERT(access(path, F_OK) != 0);
    snprintf(path, sizeof(path),
             "%s/training/one/algo-1/input/config/hyperparameters.json", t.dir);
    ASSERT(access(path, F_OK) == 0);
  }
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

/* Sharded: instance r gets the objects i with i % 3 == r; replicated:
 * all of them. Both jobs run at once. */
TEST_TIMEOUT(local_training_distribution, 90000);
TEST(local_training_distribution)
{
  static const char *const want[3] = {"part-0.data,part-3.data",
                                      "part-1.data,part-4.data",
                                      "part-2.data,part-5.data"};
  struct lt_engine t;
  struct buf ch;
  char key[64], host[16], got[512], streams[1024];
  char *logs;
  json_t *d;
  int i;

  setup(&t);
  for (i = 0; i < 6; i++) {
    snprintf(key, sizeof(key), "rio/train/part-%d.data", i);
    put_recordio(&t, key, 300);
  }
  put_recordio(&t, "rio/validation/all.data", 200);
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "rio/train/", "ShardedByS3Key", NULL);
  channel(&ch, "validation", "rio/validation/", "FullyReplicated",
          "application/x-recordio-protobuf");
  /* (Also: parameters averaged three times per epoch.) */
  create_job(&t, "sharded", LL_IMAGE, 3, buf_str(&ch), REGRESSOR,
             "\"SAGERUN_LOCAL_KEEP_INPUT\": \"true\", "
             "\"SAGERUN_SYNCS_PER_EPOCH\": \"3\"");
  buf_reset(&ch);
  channel(&ch, "train", "rio/train/", "FullyReplicated",
          "application/x-recordio-protobuf");
  channel(&ch, "validation", "rio/validation/", "FullyReplicated", NULL);
  create_job(&t, "replicated", LL_IMAGE, 3, buf_str(&ch), REGRESSOR,
             "\"SAGERUN_LOCAL_KEEP_INPUT\": \"true\"");

  d = wait_completed(&t, "sharded");
  ASSERT_EQ(3 * json_integer_value(json_object_get(d, "TrainingTimeInSeconds")),
            json_integer_value(json_object_get(d, "BillableTimeInSeconds")));
  ASSERT(metric(d, "validation:mse") < 0.02);
  json_decref(d);
  d = wait_completed(&t, "replicated");
  ASSERT(metric(d, "validation:mse") < 0.02);
  json_decref(d);
  for (i = 0; i < 3; i++) {
    snprintf(host, sizeof(host), "algo-%d", i + 1);
    instance_files(&t, "sharded", host, "train", got, sizeof(got));
    ASSERT_STR_EQ(want[i], got);
    instance_files(&t, "sharded", host, "validation", got, sizeof(got));
    ASSERT_STR_EQ("all.data", got);
    instance_files(&t, "replicated", host, "train", got, sizeof(got));
    ASSERT_STR_EQ("part-0.data,part-1.data,part-2.data,part-3.data,"
                  "part-4.data,part-5.data",
                  got);
  }
  /* The logs say the same, one stream per instance. */
  logs = job_logs(&t, "sharded", streams, sizeof(streams));
  ASSERT_CONTAINS(logs, "/algo-1-");
  ASSERT_CONTAINS(logs, "Downloaded channel train to "
                        "/opt/ml/input/data/train: 2 object(s)");
  ASSERT_CONTAINS(logs, ": part-1.data, part-4.data");
  ASSERT_CONTAINS(logs, "Channel train: 600 record(s)");
  ASSERT_CONTAINS(logs, "averaged across 3 instance(s) 3 time(s) per epoch");
  free(logs);
  logs = job_logs(&t, "replicated", streams, sizeof(streams));
  ASSERT_CONTAINS(logs, "Channel train: 1800 record(s)");
  free(logs);
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

/* One object, two instances, sharded: algo-2 has nothing and still takes
 * part (the quickstart's case). */
TEST_TIMEOUT(local_training_empty_shard, 60000);
TEST(local_training_empty_shard)
{
  struct lt_engine t;
  struct buf ch;
  struct ll_model *m;
  char got[256], streams[1024];
  char *logs;
  json_t *d;

  setup(&t);
  put_text(&t, "one/train.csv", csv_rows(1000, 1));
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "one/", "ShardedByS3Key", "text/csv");
  create_job(&t, "two", LL_IMAGE, 2, buf_str(&ch), REGRESSOR,
             "\"SAGERUN_LOCAL_KEEP_INPUT\": \"true\"");
  d = wait_completed(&t, "two");
  /* No validation channel: selection on the training sample. */
  ASSERT(metric(d, "train:objective_loss") < 0.05);
  json_decref(d);
  instance_files(&t, "two", "algo-1", "train", got, sizeof(got));
  ASSERT_STR_EQ("train.csv", got);
  instance_files(&t, "two", "algo-2", "train", got, sizeof(got));
  ASSERT_STR_EQ("", got);
  m = artifact_model(&t, "two");
  ASSERT(model_error(m) < 0.01);
  ll_model_free(m);
  logs = job_logs(&t, "two", streams, sizeof(streams));
  ASSERT_CONTAINS(logs, "this instance's shard is empty");
  free(logs);
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

/* Every line a check expects, in every instance's own stream. */
TEST_TIMEOUT(local_training_logs, 60000);
TEST(local_training_logs)
{
  static const char *const lines[] = {
      "Reading provided configuration from "
      "/opt/ml/input/config/hyperparameters.json: {",
      "Final configuration: {",
      "Scaling model computed with parameters: {",
      "#metrics {\"StartTime\": ",
      "\"Dimensions\": {\"Algorithm\": \"Linear Learner\", \"Host\": "
      "\"HOST\", \"Operation\": \"training\", \"epoch\": 0, \"model\": 3}, "
      "\"Metrics\": {\"train_mse_objective\": {\"sum\": ",
      "\"validation_mse_objective\": {\"sum\": ",
      "#quality_metric: host=HOST, epoch=0, train mse_objective <loss>=",
      "#quality_metric: host=HOST, epoch=5, validation mse_objective <loss>=",
      "#early_stopping_criteria_metric: host=HOST, epoch=0",
      "#progress_metric: host=HOST, completed 100 % of epochs",
      "#throughput_metric: host=HOST, train throughput=",
      "Best model found for hyperparameters: {",
      "#validation_score (HOST) : ('mse', ",
      "#quality_metric: host=HOST, validation mse <loss>=",
      "#test_score (HOST) : ('mse', ",
      "#quality_metric: host=HOST, test absolute_loss <loss>=",
      "\"totaltime\": {\"sum\": ",
      NULL};
  struct lt_engine t;
  struct buf ch;
  char streams[1024], line[512], prefix[128];
  char *logs, *a, *b;
  size_t i, h;
  json_t *d;

  setup(&t);
  put_text(&t, "l/train/a.csv", csv_rows(500, 1));
  put_text(&t, "l/train/b.csv", csv_rows(500, 1));
  put_text(&t, "l/validation/v.csv", csv_rows(200, 1));
  put_text(&t, "l/test/t.csv", csv_rows(200, 1));
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "l/train/", "ShardedByS3Key", "text/csv");
  channel(&ch, "validation", "l/validation/", "FullyReplicated", "text/csv");
  channel(&ch, "test", "l/test/", "FullyReplicated", "text/csv");
  create_job(&t, "logged", LL_IMAGE, 2, buf_str(&ch),
             REGRESSOR ", \"early_stopping_patience\": \"10\"", NULL);
  d = wait_completed(&t, "logged");
  ASSERT(metric(d, "test:mse") < 0.02);
  ASSERT(metric(d, "test:absolute_loss") < 0.2);
  json_decref(d);
  logs = job_logs(&t, "logged", streams, sizeof(streams));
  /* Two streams, JOB/algo-N-EPOCHSECONDS. */
  a = strstr(streams, "logged/algo-1-");
  b = strstr(streams, ",logged/algo-2-");
  ASSERT(a == streams && b != NULL && strchr(b + 1, ',') == NULL);
  ASSERT(strtol(a + 14, NULL, 10) > 1000000000);
  for (h = 1; h <= 2; h++) {
    snprintf(prefix, sizeof(prefix), "algo-%zu", h);
    for (i = 0; lines[i]; i++) {
      const char *mark = strstr(lines[i], "HOST");

      if (mark)
        snprintf(line, sizeof(line), "%.*s%s%s", (int)(mark - lines[i]),
                 lines[i], prefix, mark + 4);
      else
        snprintf(line, sizeof(line), "%s", lines[i]);
      ASSERT_CONTAINS(logs, line);
    }
  }
  /* Lines carry the container's timestamp prefix. */
  ASSERT_CONTAINS(logs, " INFO ");
  ASSERT_CONTAINS(logs, "\t[");
  /* Only algo-1 saves the model. */
  ASSERT_CONTAINS(logs, "Saved the model to /opt/ml/model/model_algo-1");
  free(logs);
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

/* Sparse and split RecordIO records train like dense ones. */
TEST_TIMEOUT(local_training_recordio_sparse_split, 60000);
TEST(local_training_recordio_sparse_split)
{
  struct lt_engine t;
  struct buf b, ch;
  struct ll_model *m;
  float x[DIM], y;
  uint64_t keys[DIM] = {0, 1, 2};
  json_t *d;
  size_t i;

  setup(&t);
  buf_init(&b, 1 << 24);
  for (i = 0; i < 1500; i++) {
    make_row(x, &y);
    if (i % 2)
      ASSERT_EQ(0, recordio_write_sparse(&b, x, keys, DIM, DIM, &y, 1,
                                         RECORDIO_SPLIT_MAGIC));
    else
      ASSERT_EQ(0,
                recordio_write_dense(&b, x, DIM, &y, 1, RECORDIO_SPLIT_MAGIC));
  }
  put(&t, "sp/train.data", buf_str(&b), buf_len(&b));
  buf_free(&b);
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "sp/", "FullyReplicated",
          "application/x-recordio-protobuf");
  create_job(&t, "sparse", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  d = wait_completed(&t, "sparse");
  json_decref(d);
  m = artifact_model(&t, "sparse");
  ASSERT(model_error(m) < 0.01);
  ll_model_free(m);
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

static void expect_failure(struct lt_engine *t, const char *name,
                           const char *reason)
{
  json_t *d = wait_job(t, name);

  ASSERT_STR_EQ("Failed", lt_str(d, "TrainingJobStatus"));
  ASSERT_CONTAINS(lt_str(d, "FailureReason"), reason);
  json_decref(d);
}

TEST_TIMEOUT(local_training_failures, 90000);
TEST(local_training_failures)
{
  struct lt_engine t;
  struct buf ch;
  char trs[256];
  json_t *d;

  setup(&t);
  put_text(&t, "f/train/a.csv", csv_rows(200, 1));
  put_text(&t, "f/bad/a.csv", strdup("1,2,3,4\n5,6,x,8\n"));
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "f/train/", "FullyReplicated", "text/csv");
  create_job(&t, "bad-hp", LL_IMAGE, 2, buf_str(&ch),
             REGRESSOR ", \"mini_batch_size\": \"0\"", NULL);
  create_job(&t, "unknown-hp", LL_IMAGE, 1, buf_str(&ch),
             REGRESSOR ", \"foo\": \"1\"", NULL);
  create_job(&t, "no-predictor", LL_IMAGE, 1, buf_str(&ch),
             "\"feature_dim\": \"3\"", NULL);
  create_job(&t, "wrong-dim", LL_IMAGE, 2, buf_str(&ch),
             REGRESSOR ", \"feature_dim\": \"7\"", NULL);
  create_job(&t, "xgb", XGB_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  buf_reset(&ch);
  channel(&ch, "validation", "f/train/", "FullyReplicated", "text/csv");
  create_job(&t, "no-train", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  buf_reset(&ch);
  channel(&ch, "train", "f/train/", "FullyReplicated", "application/x-parquet");
  create_job(&t, "parquet", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  buf_reset(&ch);
  channel(&ch, "train", "f/nothing/", "FullyReplicated", "text/csv");
  create_job(&t, "no-data", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  buf_reset(&ch);
  channel(&ch, "train", "f/bad/", "FullyReplicated", "text/csv");
  create_job(&t, "bad-data", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);

  expect_failure(&t, "bad-hp",
                 "ClientError: Invalid hyperparameter value for "
                 "mini_batch_size: '0'");
  expect_failure(&t, "unknown-hp",
                 "ClientError: Additional hyperparameters are not allowed "
                 "('foo' was unexpected)");
  expect_failure(&t, "no-predictor", "ClientError: ");
  expect_failure(&t, "no-predictor", "predictor_type");
  expect_failure(&t, "wrong-dim",
                 "ClientError: feature_dim is 7 but the data has 3 "
                 "feature(s) per record");
  expect_failure(&t, "xgb", "supported algorithms: linear-learner");
  expect_failure(&t, "no-train", "'train' is a required channel");
  expect_failure(&t, "parquet", "content type 'application/x-parquet'");
  expect_failure(&t, "parquet", "text/csv and application/x-recordio-protobuf");
  expect_failure(&t, "no-data",
                 "ClientError: No S3 objects found under S3 URL "
                 "\"s3://bucket/f/nothing/\"");
  expect_failure(&t, "bad-data",
                 "ClientError: Unable to read data channel 'train': "
                 "train/a.csv: line 2: field 3 is not a number ('x')");
  {
    static const char *const jobs[] = {"bad-hp",   "unknown-hp", "wrong-dim",
                                       "no-train", "parquet",    "bad-data",
                                       NULL};
    char streams[1024];
    size_t i;

    /* Each worker said why in its stream, and left nothing behind. */
    for (i = 0; jobs[i]; i++) {
      char *logs = job_logs(&t, jobs[i], streams, sizeof(streams));

      ASSERT_CONTAINS(logs, " ERROR ");
      ASSERT_CONTAINS(logs, "ClientError: ");
      free(logs);
    }
  }
  /* The image is refused before anything is downloaded. */
  d = describe(&t, "xgb");
  transitions(d, trs, sizeof(trs));
  ASSERT_STR_EQ("Starting,Failed", trs);
  json_decref(d);
  d = describe(&t, "bad-hp");
  transitions(d, trs, sizeof(trs));
  ASSERT_STR_EQ("Starting,Downloading,Training,Failed", trs);
  json_decref(d);
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

TEST_TIMEOUT(local_training_stop, 60000);
TEST(local_training_stop)
{
  struct lt_engine t;
  struct buf ch;
  char trs[256];
  json_t *d;

  setup(&t);
  put_text(&t, "s/a.csv", csv_rows(2000, 1));
  put_text(&t, "s/b.csv", csv_rows(2000, 1));
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "s/", "ShardedByS3Key", "text/csv");
  create_job(&t, "long", LL_IMAGE, 2, buf_str(&ch),
             "\"predictor_type\": \"regressor\", \"epochs\": \"100000\", "
             "\"early_stopping_patience\": \"100000\"",
             NULL);
  /* Once it trains, the workers need the engine at every epoch: the job
   * cannot end before the stop is seen. */
  for (;;) {
    d = describe(&t, "long");
    if (strcmp(lt_str(d, "SecondaryStatus"), "Training") == 0)
      break;
    ASSERT_STR_EQ("InProgress", lt_str(d, "TrainingJobStatus"));
    json_decref(d);
    lt_turn(&t);
  }
  json_decref(d);
  json_decref(lt_ok(&t, local_sagemaker_call, "StopTrainingJob",
                    "{\"TrainingJobName\": \"long\"}"));
  d = wait_job(&t, "long");
  ASSERT_STR_EQ("Stopped", lt_str(d, "TrainingJobStatus"));
  transitions(d, trs, sizeof(trs));
  ASSERT_STR_EQ("Starting,Downloading,Training,Stopping,Stopped", trs);
  ASSERT(json_object_get(d, "FailureReason") == NULL);
  json_decref(d);
  buf_free(&ch);
  /* The workers are gone: their process handles closed, so the loop
   * closes (lt_loop_done). */
  lt_close(&t);
  lt_loop_done(&t);
}

/* ---- hosting ---------------------------------------------------------------
 */

static void make_endpoint(struct lt_engine *t, const char *job,
                          const char *name)
{
  char req[1024];
  json_t *d;

  snprintf(req, sizeof(req),
           "{\"ModelName\": \"%s-model\", \"ExecutionRoleArn\": \"" ROLE "\","
           " \"PrimaryContainer\": {\"Image\": \"" LL_IMAGE "\","
           " \"ModelDataUrl\": \"s3://bucket/out/%s/output/model.tar.gz\"}}",
           name, job);
  json_decref(lt_ok(t, local_sagemaker_call, "CreateModel", req));
  snprintf(req, sizeof(req),
           "{\"EndpointConfigName\": \"%s-config\", \"ProductionVariants\": "
           "[{\"VariantName\": \"AllTraffic\", \"ModelName\": \"%s-model\","
           " \"InstanceType\": \"ml.m5.large\", \"InitialInstanceCount\": 1}]}",
           name, name);
  json_decref(lt_ok(t, local_sagemaker_call, "CreateEndpointConfig", req));
  snprintf(req, sizeof(req),
           "{\"EndpointName\": \"%s\", \"EndpointConfigName\": \"%s-config\"}",
           name, name);
  json_decref(lt_ok(t, local_sagemaker_call, "CreateEndpoint", req));
  snprintf(req, sizeof(req), "{\"EndpointName\": \"%s\"}", name);
  for (;;) {
    d = lt_ok(t, local_sagemaker_call, "DescribeEndpoint", req);
    if (strcmp(lt_str(d, "EndpointStatus"), "Creating") != 0)
      break;
    json_decref(d);
    lt_turn(t);
  }
  if (strcmp(lt_str(d, "EndpointStatus"), "InService") != 0)
    test_fail(__FILE__, __LINE__, "endpoint %s: %s: %s", name,
              lt_str(d, "EndpointStatus"), lt_str(d, "FailureReason"));
  json_decref(d);
}

/* Invokes and returns the body (NUL-terminated), failing on error. */
static char *invoke(struct lt_engine *t, const char *ep, const char *ct,
                    const char *accept, const void *data, size_t len,
                    char *ct_out, size_t *out_len)
{
  struct local_runtime_request r = {ep, ct, accept, NULL, data, len};
  struct local_runtime_answer a;
  char *text;

  if (lt_invoke(t, &r, &a) != 0)
    test_fail(__FILE__, __LINE__, "invoke %s: %d %s %s", ct, a.err.status,
              a.err.code, a.err.message);
  text = malloc(a.len + 1);
  ASSERT(text != NULL);
  memcpy(text, a.body, a.len);
  text[a.len] = '\0';
  free(a.body);
  if (ct_out)
    snprintf(ct_out, 128, "%s", a.content_type);
  if (out_len)
    *out_len = a.len;
  return text;
}

static void invoke_fails(struct lt_engine *t, const char *ep, const char *ct,
                         const char *accept, const char *data, int status,
                         const char *code, const char *part)
{
  struct local_runtime_request r = {ep, ct, accept, NULL, data, strlen(data)};
  struct local_runtime_answer a;

  ASSERT(lt_invoke(t, &r, &a) != 0);
  ASSERT(a.body == NULL);
  ASSERT_EQ(status, a.err.status);
  ASSERT_STR_EQ(code, a.err.code);
  ASSERT_CONTAINS(a.err.message, part);
}

static int has_bytes(const void *data, size_t len, const char *s)
{
  const char *p = data;
  size_t n = strlen(s), i;

  for (i = 0; i + n <= len; i++)
    if (memcmp(p + i, s, n) == 0)
      return 1;
  return 0;
}

/* The scores of a {"predictions": [...]} answer. */
static size_t scores(const char *body, double *out, size_t max)
{
  json_error_t jerr;
  json_t *doc = json_loads(body, 0, &jerr), *p;
  size_t i, n;

  if (doc == NULL)
    test_fail(__FILE__, __LINE__, "bad JSON answer: %s", body);
  n = json_array_size(json_object_get(doc, "predictions"));
  json_array_foreach(json_object_get(doc, "predictions"), i, p)
  {
    ASSERT(json_is_number(json_object_get(p, "score")));
    if (i < max)
      out[i] = json_number_value(json_object_get(p, "score"));
  }
  json_decref(doc);
  return n;
}

/* Trains job "host" on 2,000 rows (truth 1 + 2a - b + 0.5c) and serves
 * its model as endpoint "ep". */
static void host_trained(struct lt_engine *t)
{
  struct buf ch;

  setup(t);
  put_text(t, "h/train.csv", csv_rows(2000, 1));
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "h/", "FullyReplicated", "text/csv");
  create_job(t, "host", LL_IMAGE, 1, buf_str(&ch), REGRESSOR, NULL);
  buf_free(&ch);
  json_decref(wait_completed(t, "host"));
  make_endpoint(t, "host", "ep");
}

TEST_TIMEOUT(local_training_hosting, 60000);
TEST(local_training_hosting)
{
  struct lt_engine t;
  struct buf rio;
  struct recordio_reader r;
  const void *rec;
  size_t rlen, n;
  double s[4];
  float x[2][DIM] = {{1, 0, 0}, {0, 1, -2}}, y[2] = {0, 0};
  char ct[128], streams[256];
  const char *text;
  char *body, *logs;

  host_trained(&t);

  /* CSV rows without a label: truth is 3 and -1. */
  body = invoke(&t, "ep", "text/csv", NULL, "1,0,0\n0,1,-2\n", 13, ct, NULL);
  ASSERT_STR_EQ("application/json", ct);
  ASSERT_CONTAINS(body, "{\"predictions\": [{\"score\": ");
  ASSERT_EQ(2, scores(body, s, 4));
  ASSERT(fabs(s[0] - 3) < 0.1 && fabs(s[1] + 1) < 0.1);
  free(body);
  /* JSON: instances, and a single row. */
  text = "{\"instances\": [{\"features\": [1, 0, 0]}, "
         "{\"features\": [0, 1, -2]}]}";
  body = invoke(&t, "ep", "application/json", "application/json", text,
                strlen(text), NULL, NULL);
  ASSERT_EQ(2, scores(body, s, 4));
  ASSERT(fabs(s[1] + 1) < 0.1);
  free(body);
  body = invoke(&t, "ep", "application/json; charset=utf-8", "*/*",
                "{\"features\": [1, 0, 0]}", 23, NULL, NULL);
  ASSERT_EQ(1, scores(body, s, 4));
  ASSERT(fabs(s[0] - 3) < 0.1);
  free(body);
  /* RecordIO in (labels ignored), JSON Lines out. */
  buf_init(&rio, 1 << 16);
  ASSERT_EQ(0, recordio_write_dense(&rio, x[0], DIM, &y[0], 1, 0));
  ASSERT_EQ(0, recordio_write_dense(&rio, x[1], DIM, NULL, 0, 0));
  body =
      invoke(&t, "ep", "application/x-recordio-protobuf",
             "application/jsonlines", buf_str(&rio), buf_len(&rio), ct, NULL);
  ASSERT_STR_EQ("application/jsonlines", ct);
  ASSERT(strncmp(body, "{\"score\": 2.9", 13) == 0 ||
         strncmp(body, "{\"score\": 3", 11) == 0);
  ASSERT(strchr(body, '\n') != NULL && strchr(strchr(body, '\n') + 1, '\n'));
  free(body);
  /* RecordIO out: one record per row, a "score" label. */
  body = invoke(&t, "ep", "text/csv", "application/x-recordio-protobuf",
                "1,0,0\n0,1,-2\n", 13, ct, &rlen);
  ASSERT_STR_EQ("application/x-recordio-protobuf", ct);
  recordio_reader_init_mem(&r, body, rlen, 0);
  n = 0;
  while (recordio_next(&r, &rec, &rlen) == 1) {
    ASSERT(has_bytes(rec, rlen, "score"));
    n++;
  }
  recordio_reader_free(&r);
  ASSERT_EQ(2, n);
  free(body);
  buf_free(&rio);

  /* What the model cannot read is the container's 4xx, passed on. */
  invoke_fails(&t, "ep", "text/csv", NULL, "1,2\n", 424, "ModelError",
               "line 1 has 2 features, expected 3");
  invoke_fails(&t, "ep", "text/csv", NULL, "1,abc,3\n", 424, "ModelError",
               "Received client error (400) from primary with message "
               "\"line 1: field 2 is not a number ('abc')\"");
  invoke_fails(&t, "ep", "text/csv", NULL, "", 424, "ModelError",
               "no rows to score");
  invoke_fails(&t, "ep", "application/json", NULL, "{\"instances\": [", 424,
               "ModelError", "not valid JSON");
  invoke_fails(&t, "ep", "application/json", NULL, "{\"instances\": [{}]}", 424,
               "ModelError", "has no \"features\"");
  invoke_fails(&t, "ep", "application/x-recordio-protobuf", NULL, "garbage!",
               424, "ModelError", "not RecordIO-protobuf data");
  invoke_fails(&t, "ep", "text/csv", "text/html", "1,0,0", 424, "ModelError",
               "(406)");
  invoke_fails(&t, "ep", "image/png", NULL, "1,0,0", 424, "ModelError",
               "(415)");
  /* The endpoint's log stream, where a ModelError sends its reader. */
  logs = group_logs(&t, "/aws/sagemaker/Endpoints/ep", "AllTraffic/i-", streams,
                    sizeof(streams));
  ASSERT(strchr(streams, ',') == NULL); /* one instance, one stream */
  ASSERT_EQ(strlen("AllTraffic/i-") + 17, strlen(streams));
  ASSERT_CONTAINS(logs, "Model loaded from s3://bucket/out/host/output/"
                        "model.tar.gz: regressor, 3 features");
  ASSERT_CONTAINS(logs, "ClientError (400): line 1 has 2 features, "
                        "expected 3");
  ASSERT_CONTAINS(logs, "ClientError (406): accept type text/html");
  free(logs);
  lt_close(&t);
  lt_loop_done(&t);
}

struct answer_count {
  struct local_runtime_answer a;
  int calls;
};

static void count_answer(struct local_runtime_answer *a, void *arg)
{
  struct answer_count *c = arg;

  c->a = *a;
  c->calls++;
}

/* Scoring runs on the thread pool: an endpoint deleted, or the engine
 * closed, while a request scores still answers it exactly once, and
 * nothing is left behind (the model is freed after the answer). */
TEST_TIMEOUT(local_training_hosting_ends_while_scoring, 60000);
TEST(local_training_hosting_ends_while_scoring)
{
  struct lt_engine t;
  struct local_runtime_request r = {"ep", "text/csv", NULL, NULL, NULL, 0};
  struct local_runtime_answer plain;
  struct answer_count c;
  struct local_error err;
  struct buf rows;
  double s[2];
  int i;

  host_trained(&t);
  buf_init(&rows, 1 << 24);
  for (i = 0; i < 50000; i++)
    ASSERT_EQ(0, buf_adds(&rows, "1,0,0\n"));
  r.data = buf_str(&rows);
  r.len = buf_len(&rows);
  ASSERT_EQ(0, lt_invoke(&t, &r, &plain));
  ASSERT_STR_EQ("AllTraffic", plain.variant);
  ASSERT_EQ(50000, scores(plain.body, s, 2));
  ASSERT(fabs(s[0] - 3) < 0.1);
  free(plain.body);

  memset(&c, 0, sizeof(c));
  ASSERT_EQ(0, local_runtime_invoke(t.e, &r, count_answer, &c, &err));
  json_decref(lt_ok(&t, local_sagemaker_call, "DeleteEndpoint",
                    "{\"EndpointName\": \"ep\"}"));
  for (i = 0; i < 30000 && c.calls == 0; i++)
    lt_turn(&t);
  ASSERT_EQ(1, c.calls);
  ASSERT(!c.a.failed);
  ASSERT(c.a.len > 50000 * 10);
  free(c.a.body);
  lt_fails(&t, local_sagemaker_call, "DescribeEndpoint",
           "{\"EndpointName\": \"ep\"}", 400, "ValidationException", NULL);

  make_endpoint(&t, "host", "ep2");
  r.endpoint = "ep2";
  memset(&c, 0, sizeof(c));
  ASSERT_EQ(0, local_runtime_invoke(t.e, &r, count_answer, &c, &err));
  lt_close(&t);
  lt_loop_done(&t); /* runs until the job has answered */
  ASSERT_EQ(1, c.calls);
  free(c.a.body);
  buf_free(&rows);
}

TEST_TIMEOUT(local_training_hosting_binary, 60000);
TEST(local_training_hosting_binary)
{
  struct lt_engine t;
  struct buf ch, rows;
  json_error_t jerr;
  json_t *doc, *p;
  char *body;
  float x[DIM], y;
  size_t i;
  json_t *d;

  setup(&t);
  buf_init(&rows, 1 << 20);
  for (i = 0; i < 2000; i++) {
    make_row(x, &y);
    ASSERT_EQ(0, buf_addf(&rows, "%d,%.6g,%.6g,%.6g\n", y > 1, (double)x[0],
                          (double)x[1], (double)x[2]));
  }
  put(&t, "b/train.csv", buf_str(&rows), buf_len(&rows));
  buf_free(&rows);
  buf_init(&ch, 1 << 16);
  channel(&ch, "train", "b/", "FullyReplicated", "text/csv");
  create_job(&t, "binary", LL_IMAGE, 1, buf_str(&ch),
             "\"predictor_type\": \"binary_classifier\", "
             "\"mini_batch_size\": \"100\", \"epochs\": \"5\"",
             NULL);
  d = wait_completed(&t, "binary");
  json_decref(d);
  make_endpoint(&t, "binary", "bin");
  body = invoke(&t, "bin", "text/csv", NULL, "3,0,0\n-3,0,0\n", 13, NULL, NULL);
  doc = json_loads(body, 0, &jerr);
  ASSERT(doc != NULL);
  p = json_object_get(doc, "predictions");
  ASSERT_EQ(1, json_integer_value(
                   json_object_get(json_array_get(p, 0), "predicted_label")));
  ASSERT_EQ(0, json_integer_value(
                   json_object_get(json_array_get(p, 1), "predicted_label")));
  ASSERT(json_number_value(json_object_get(json_array_get(p, 0), "score")) >
         0.5);
  json_decref(doc);
  free(body);
  buf_free(&ch);
  lt_close(&t);
  lt_loop_done(&t);
}

/* An endpoint whose model cannot be loaded fails, saying why. */
TEST(local_training_hosting_bad_model)
{
  struct lt_engine t;
  json_t *d;

  setup(&t);
  put(&t, "junk/model.tar.gz", "not a tarball", 13);
  json_decref(lt_ok(&t, local_sagemaker_call, "CreateModel",
                    "{\"ModelName\": \"m\", \"ExecutionRoleArn\": \"" ROLE
                    "\", \"PrimaryContainer\": {\"Image\": \"" LL_IMAGE
                    "\", \"ModelDataUrl\": "
                    "\"s3://bucket/junk/model.tar.gz\"}}"));
  json_decref(lt_ok(&t, local_sagemaker_call, "CreateModel",
                    "{\"ModelName\": \"gone\", \"ExecutionRoleArn\": \"" ROLE
                    "\", \"PrimaryContainer\": {\"Image\": \"" LL_IMAGE
                    "\", \"ModelDataUrl\": \"s3://bucket/nope.tar.gz\"}}"));
  json_decref(lt_ok(&t, local_sagemaker_call, "CreateEndpointConfig",
                    "{\"EndpointConfigName\": \"c\", \"ProductionVariants\": "
                    "[{\"VariantName\": \"v\", \"ModelName\": \"m\","
                    " \"InstanceType\": \"ml.m5.large\","
                    " \"InitialInstanceCount\": 1}]}"));
  json_decref(lt_ok(&t, local_sagemaker_call, "CreateEndpointConfig",
                    "{\"EndpointConfigName\": \"g\", \"ProductionVariants\": "
                    "[{\"VariantName\": \"v\", \"ModelName\": \"gone\","
                    " \"InstanceType\": \"ml.m5.large\","
                    " \"InitialInstanceCount\": 1}]}"));
  json_decref(lt_ok(&t, local_sagemaker_call, "CreateEndpoint",
                    "{\"EndpointName\": \"e1\", \"EndpointConfigName\": "
                    "\"c\"}"));
  json_decref(lt_ok(&t, local_sagemaker_call, "CreateEndpoint",
                    "{\"EndpointName\": \"e2\", \"EndpointConfigName\": "
                    "\"g\"}"));
  for (;;) {
    d = lt_ok(&t, local_sagemaker_call, "DescribeEndpoint",
              "{\"EndpointName\": \"e2\"}");
    if (strcmp(lt_str(d, "EndpointStatus"), "Creating") != 0)
      break;
    json_decref(d);
    lt_turn(&t);
  }
  ASSERT_STR_EQ("Failed", lt_str(d, "EndpointStatus"));
  ASSERT_CONTAINS(lt_str(d, "FailureReason"),
                  "Failed to download model data for container");
  json_decref(d);
  d = lt_ok(&t, local_sagemaker_call, "DescribeEndpoint",
            "{\"EndpointName\": \"e1\"}");
  ASSERT_STR_EQ("Failed", lt_str(d, "EndpointStatus"));
  ASSERT_CONTAINS(lt_str(d, "FailureReason"), "cannot load model_algo-1");
  json_decref(d);
  lt_close(&t);
  lt_loop_done(&t);
}

/* ---- pieces
 * ------------------------------------------------------------------ */

TEST(local_training_tarball_round_trip)
{
  struct tarball_file files[2] = {{"model_algo-1", "{\"a\": 1}", 8},
                                  {"other", "", 0}};
  struct buf gz, out;
  const char *argv[6];
  char path[8192], dir[4096], *text;

  buf_init(&gz, 1 << 20);
  buf_init(&out, 1 << 20);
  ASSERT_EQ(0, tarball_gz_write(files, 2, 1700000000, &gz));
  ASSERT_EQ(0,
            tarball_gz_find(buf_str(&gz), buf_len(&gz), "model_algo-1", &out));
  ASSERT_STR_EQ("{\"a\": 1}", buf_str(&out));
  ASSERT_EQ(SR_ENOENT,
            tarball_gz_find(buf_str(&gz), buf_len(&gz), "nope", &out));
  ASSERT_EQ(SR_EPARSE, tarball_gz_find("\x1f\x8b garbage", 10, "x", &out));
  /* GNU tar reads what we write, and we read what it writes. */
  snprintf(path, sizeof(path), "%s/model.tar.gz", test_tmpdir());
  {
    FILE *f = fopen(path, "wb");

    ASSERT(f != NULL);
    ASSERT_EQ(buf_len(&gz), fwrite(buf_str(&gz), 1, buf_len(&gz), f));
    fclose(f);
  }
  snprintf(dir, sizeof(dir), "%s/x", test_tmpdir());
  ASSERT_EQ(0, mkdir(dir, 0700));
  argv[0] = "/bin/tar";
  argv[1] = "-xzf";
  argv[2] = path;
  argv[3] = "-C";
  argv[4] = dir;
  argv[5] = NULL;
  ASSERT_EQ(0, test_exec(argv, NULL, NULL, NULL));
  snprintf(path, sizeof(path), "%s/model_algo-1", dir);
  text = test_read_file(path, NULL);
  ASSERT_STR_EQ("{\"a\": 1}", text);
  free(text);
  {
    const char *cargv[] = {"/bin/tar", "-czf", "y.tar.gz", "-C",
                           "x",        ".",    NULL};
    char *cwd = getcwd(NULL, 0), *data;
    size_t len;

    ASSERT(cwd != NULL);
    ASSERT_EQ(0, chdir(test_tmpdir()));
    ASSERT_EQ(0, test_exec(cargv, NULL, NULL, NULL));
    data = test_read_file("y.tar.gz", &len);
    ASSERT_EQ(0, chdir(cwd));
    free(cwd);
    buf_reset(&out);
    ASSERT_EQ(0, tarball_gz_find(data, len, "model_algo-1", &out));
    ASSERT_STR_EQ("{\"a\": 1}", buf_str(&out));
    free(data);
  }
  buf_free(&gz);
  buf_free(&out);
}

TEST(local_training_number_parser)
{
  static const char *const ok[] = {
      "0",     "-1.5",         " 2.25 ",
      "1e3",   "1.5E-3",       "+7",
      ".5",    "5.",           "123456789012345678901234",
      "1e-40", "3.4028234e38", NULL};
  static const char *const bad[] = {"",    " ",   "x",   "1x",   "nan",
                                    "inf", "1e",  "--1", "1e99", "0x10",
                                    ".",   "1,2", NULL};
  size_t i;
  float v;

  for (i = 0; ok[i]; i++) {
    if (llio_parse_float(ok[i], ok[i] + strlen(ok[i]), &v) != 0)
      test_fail(__FILE__, __LINE__, "refused '%s'", ok[i]);
    ASSERT(v == strtof(ok[i], NULL));
  }
  for (i = 0; bad[i]; i++)
    if (llio_parse_float(bad[i], bad[i] + strlen(bad[i]), &v) == 0)
      test_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
  /* Many random decimals agree with strtof. */
  for (i = 0; i < 100000; i++) {
    char text[64];
    double d = (uniform() - 0.5) * pow(10, (int)(uniform() * 20) - 10);

    snprintf(text, sizeof(text), i % 2 ? "%.9g" : "%.6f", d);
    ASSERT_EQ(0, llio_parse_float(text, text + strlen(text), &v));
    if (v != strtof(text, NULL))
      test_fail(__FILE__, __LINE__, "'%s': %.9g, strtof %.9g", text, (double)v,
                (double)strtof(text, NULL));
  }
}

struct csv_check {
  const float *want; /* dim + 1 values a row: label, features */
  size_t dim, row;
  int mismatches;
};

static int check_row(void *arg, const float *x, float y)
{
  struct csv_check *c = arg;
  const float *w = c->want + c->row * (c->dim + 1);
  size_t j;

  if (memcmp(&y, &w[0], sizeof(y)) != 0)
    c->mismatches++;
  for (j = 0; j < c->dim; j++)
    if (memcmp(&x[j], &w[j + 1], sizeof(float)) != 0)
      c->mismatches++;
  c->row++;
  return 0;
}

/* llio_csv's fast path for plain lines reads every field exactly as
 * the careful per-field parser does (llio_parse_float), bit for bit,
 * across the forms it takes and those it hands over. */
TEST(local_training_csv_fast_path_agrees)
{
  static const char *const forms[] = {"%.0f",  "%.1f",  "%.9g",  "%.6f",
                                      "%.3e",  "%.15g", "%.17g", " %.2f",
                                      "%+.4f", "%.20f"};
  enum { ROWS = 4000, DIM4 = 6 };
  struct buf text;
  float *want;
  struct csv_check c;
  struct llio_parser p;
  struct buf err;
  size_t i, j;

  want = malloc(ROWS * (DIM4 + 1) * sizeof(float));
  ASSERT(want != NULL);
  buf_init(&text, 1 << 24);
  buf_init(&err, 4096);
  for (i = 0; i < ROWS; i++) {
    for (j = 0; j <= DIM4; j++) {
      char field[96];
      double d = (uniform() - 0.5) * pow(10, (int)(uniform() * 14) - 6);
      const char *form = forms[(size_t)(uniform() * 10) % 10];

      if (uniform() < 0.3)
        d = (double)(int)(uniform() * 10); /* one-hot style digits */
      snprintf(field, sizeof(field), form, d);
      ASSERT_EQ(0, llio_parse_float(field, field + strlen(field),
                                    &want[i * (DIM4 + 1) + j]));
      ASSERT_EQ(0, buf_adds(&text, field));
      ASSERT_EQ(0, buf_addc(&text, j == DIM4 ? '\n' : ','));
    }
  }
  memset(&c, 0, sizeof(c));
  c.want = want;
  c.dim = DIM4;
  llio_init(&p, DIM4, 1, &err);
  ASSERT_EQ(0, llio_csv(&p, buf_str(&text), buf_len(&text), check_row, &c));
  llio_free(&p);
  ASSERT_EQ(ROWS, c.row);
  ASSERT_EQ(0, c.mismatches);
  buf_free(&text);
  buf_free(&err);
  free(want);
}

static int count_row(void *arg, const float *x, float y)
{
  (void)x;
  (void)y;
  ++*(int *)arg;
  return 0;
}

/* Found by tests/fuzz/fuzz-payload.c: RecordIO features are raw Float32
 * bytes, which can be NaN or infinity; the parser passed them on. */
TEST(local_training_recordio_nonfinite_features)
{
  float bad[3][3] = {{1, NAN, 3}, {INFINITY, 2, 3}, {1, 2, -INFINITY}};
  float good[3] = {1, 2, 3}, label = 1;
  struct llio_parser p;
  struct buf err, rec;
  int i, rows;

  for (i = 0; i < 3; i++) {
    buf_init(&err, 4096);
    buf_init(&rec, 1 << 20);
    ASSERT_EQ(0, recordio_write_dense(&rec, good, 3, &label, 1,
                                      RECORDIO_SPLIT_MAGIC));
    ASSERT_EQ(0, recordio_write_dense(&rec, bad[i], 3, &label, 1,
                                      RECORDIO_SPLIT_MAGIC));
    rows = 0;
    llio_init(&p, 0, i == 2, &err);
    ASSERT_EQ(SR_EINVAL, llio_recordio(&p, buf_str(&rec), buf_len(&rec),
                                       count_row, &rows));
    ASSERT_EQ(1, rows);
    ASSERT_CONTAINS(buf_str(&err), "record 2: feature");
    ASSERT_CONTAINS(buf_str(&err), "is not a finite number");
    llio_free(&p);
    buf_free(&rec);
    buf_free(&err);
  }
}

/* ---- peers
 * ------------------------------------------------------------------- */

/* boto3 against the engine's HTTP front: `sagerun local start` in its own
 * process, whose workers are its own executable. */
TEST_TIMEOUT(local_training_peer_boto3, 240000);
TEST(local_training_peer_boto3)
{
  struct lt_process p;
  const char *argv[] = {PEER_PYTHON, "tests/peers/local_training_boto3.py",
                        NULL, NULL};
  char *out = NULL, *err = NULL;
  int status;

  if (lt_peer_missing(PEER_PYTHON))
    return;
  unsetenv("SAGERUN_WORKER_BIN");
  lt_spawn(&p, "engine");
  lt_client_env(&p);
  argv[2] = p.url;
  status = test_exec(argv, NULL, &out, &err);
  if (status == 77) {
    printf("# skipped: %s", out ? out : "");
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  } else if (status != 0) {
    printf("%s\n# stderr: %s\n", out ? out : "", err ? err : "");
  }
  ASSERT(status == 0 || status == 77);
  if (status == 0) {
    ASSERT_CONTAINS(out, "ok - job_completed");
    ASSERT_CONTAINS(out, "ok - invoke_csv");
    ASSERT_CONTAINS(out, "ok - invoke_variant");
    ASSERT_CONTAINS(out, "ok - invoke_concurrent");
    ASSERT_CONTAINS(out, "ok - endpoint_log_lines");
    ASSERT_CONTAINS(out, "failures: 0");
  }
  free(out);
  free(err);
  lt_spawn_stop(&p);
}
