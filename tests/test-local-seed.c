/* The seed study's training on the local engine, on data prepared as
 * gdelt.prepare prepares it (issue 6's "Done when"): synthetic GDELT 1979
 * (local/gdelt_synth.h) scanned for its top 20 EventCodes, then filtered,
 * one-hot encoded, shuffled and split 90/10 into RecordIO-protobuf by
 * runner/gdelt.h, exactly the rows a `sagerun run` of the quickstart
 * writes, at a scale that keeps each test short.
 *
 * - local_seed_distribution: the seed's configuration (5 instances,
 *   absolute_loss, 32 models, mini_batch_size 500, 2 epochs) with
 *   ShardedByS3Key and FullyReplicated; each instance's log stream and
 *   the DescribeTrainingJob output must show exactly the objects the
 *   distribution gives it.
 * - local_seed_sklearn: each trained model's validation MSE within 10 %
 *   of the best linear model scikit-learn fits for the same loss
 *   (tests/peers/ll_sklearn.py ref, on the same rows decoded from the
 *   same RecordIO). */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../local/gdelt_synth.h"
#include "../local/s3store.h"
#include "../local/sagemaker.h"
#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/gdelt.h"
#include "../runner/recordio.h"
#include "local-helpers.h"
#include "test.h"

#define ROLE "arn:aws:iam::123456789012:role/SageMakerRole"
#define LL_IMAGE "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
#define PEER_PYTHON "/usr/bin/python3"
#define DIM 25 /* 5 numeric features + 20 one-hot EventCodes */
/* 1979 at this scale is about 43,000 rows; the seed's filter keeps about
 * half: about 19,000 to train, 2,100 to validate. */
#define SCALE 0.1
/* Training objects. More than the 5 instances, so that sharding deals
 * some instances two objects (index r and r + 5). */
#define NOBJ 7
#define NINST 5

/* The seed's hyperparameters (the quickstart's `train` step). */
#define SEED_HPS                                                               \
  "\"predictor_type\": \"regressor\", \"feature_dim\": \"25\", "               \
  "\"mini_batch_size\": \"500\", \"epochs\": \"2\", \"num_models\": \"32\""

static const char *const seed_features[] = {"NumArticles", "Actor1Geo_Lat",
                                            "Actor1Geo_Long", "Actor2Geo_Lat",
                                            "Actor2Geo_Long"};

/* ---- prepared data ------------------------------------------------------ */

struct prepared {
  /* The training objects, in creation order (not key order: the keys
   * are put shuffled, so key order is the engine's work). */
  char key[NOBJ][64];
  struct buf obj[NOBJ];
  size_t rows[NOBJ];
  struct buf validation;
  size_t train_rows, validation_rows;
  char train_path[4096], validation_path[4096]; /* RecordIO files */
};

static int to_file(void *arg, const void *data, size_t len)
{
  return fwrite(data, 1, len, arg) == len ? 0 : SR_EIO;
}

static void scan_file(const struct gdelt_spec *s, const char *path,
                      struct gdelt_scan *sc)
{
  struct gdelt_source *src;
  char err[256];
  int rc;

  ASSERT_EQ(0, gdelt_source_open(path, &src, err, sizeof(err)));
  gdelt_scan_init(sc, s, 1);
  rc = gdelt_scan_source(s, sc, src, 0, 0, NULL, err, sizeof(err));
  if (rc)
    test_fail(__FILE__, __LINE__, "scan: %s", err);
  gdelt_source_close(src);
}

/* gdelt.top_events then gdelt.prepare (RecordIO, shuffled, 90/10) on
 * synthetic 1979; the training rows are then cut into NOBJ objects of
 * unequal sizes. */
static void prepare(struct prepared *p)
{
  static const char *const names[NOBJ] = {
      "part-3.rec", "part-0.rec", "part-6.rec", "part-1.rec",
      "part-5.rec", "part-2.rec", "part-4.rec"};
  char src_path[4096], err[256];
  const char *events[20];
  struct gdelt_code_count *top;
  struct gdelt_spec s;
  struct gdelt_scan sc;
  struct gdelt_write_opts o;
  struct gdelt_write_result r;
  struct recordio_reader rd;
  const void *rec;
  size_t ntop, i, len, k, len_train;
  char *train;
  FILE *f;

  memset(p, 0, sizeof(*p));
  snprintf(src_path, sizeof(src_path), "%s/1979.csv", test_tmpdir());
  snprintf(p->train_path, sizeof(p->train_path), "%s/train.rec", test_tmpdir());
  snprintf(p->validation_path, sizeof(p->validation_path), "%s/validation.rec",
           test_tmpdir());
  f = fopen(src_path, "wb");
  ASSERT(f != NULL);
  ASSERT_EQ(0, gdelt_synth_generate(1979, SCALE, to_file, f));
  ASSERT_EQ(0, fclose(f));

  /* top_events: the 20 most frequent EventCodes. */
  memset(&s, 0, sizeof(s));
  s.count_codes = 1;
  ASSERT_EQ(0, gdelt_spec_compile(&s, err, sizeof(err)));
  scan_file(&s, src_path, &sc);
  ASSERT_EQ(0, gdelt_codes_sorted(&sc.codes, 0, &top, &ntop));
  ASSERT(ntop >= 20);
  for (i = 0; i < 20; i++)
    events[i] = top[i].code;
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);

  /* prepare: the seed's label, features, filter and one-hot columns. */
  memset(&s, 0, sizeof(s));
  s.events = events;
  s.nevents = 20;
  s.one_hot = 1;
  s.label = "AvgTone";
  for (i = 0; i < 5; i++)
    s.features[i] = seed_features[i];
  s.nfeatures = 5;
  s.drop_zero_geo = 1;
  ASSERT_EQ(0, gdelt_spec_compile(&s, err, sizeof(err)));
  scan_file(&s, src_path, &sc);
  memset(&o, 0, sizeof(o));
  o.format = GDELT_FORMAT_RECORDIO;
  o.shuffle = 1;
  o.seed = 42;
  o.split = 0.9;
  o.train_path = p->train_path;
  o.validation_path = p->validation_path;
  if (gdelt_write(&s, &sc, &o, &r, err, sizeof(err)) != 0)
    test_fail(__FILE__, __LINE__, "write: %s", err);
  ASSERT_EQ(DIM, r.feature_dim);
  p->train_rows = (size_t)r.train_rows;
  p->validation_rows = (size_t)r.validation_rows;
  ASSERT(p->train_rows > 10000);
  gdelt_write_result_free(&r);
  gdelt_scan_free(&sc);
  gdelt_spec_free(&s);
  free(top);
  unlink(src_path);

  /* Object k (in creation order) gets a share proportional to k + 1,
   * so every instance's row count differs. */
  train = test_read_file(p->train_path, &len_train);
  ASSERT(train != NULL);
  recordio_reader_init_mem(&rd, train, len_train, 0);
  for (k = 0; k < NOBJ; k++) {
    size_t want = p->train_rows * (k + 1) / (NOBJ * (NOBJ + 1) / 2);

    snprintf(p->key[k], sizeof(p->key[k]), "%s", names[k]);
    buf_init(&p->obj[k], 1 << 26);
    while (k == NOBJ - 1 || p->rows[k] < want) {
      int rc = recordio_next(&rd, &rec, &len);

      ASSERT(rc >= 0);
      if (rc == 0)
        break;
      ASSERT_EQ(0, recordio_frame(&p->obj[k], rec, len, 0));
      p->rows[k]++;
    }
  }
  recordio_reader_free(&rd);
  free(train);
  buf_init(&p->validation, 1 << 26);
  train = test_read_file(p->validation_path, &len);
  ASSERT(train != NULL);
  ASSERT_EQ(0, buf_add(&p->validation, train, len));
  free(train);
}

static void prepared_free(struct prepared *p)
{
  size_t k;

  for (k = 0; k < NOBJ; k++)
    buf_free(&p->obj[k]);
  buf_free(&p->validation);
}

/* ---- the engine --------------------------------------------------------- */

static void put(struct lt_engine *t, const char *key, const struct buf *b)
{
  struct s3store_writer *w;

  ASSERT_EQ(0, s3store_writer_begin(local_engine_s3(t->e), &w));
  ASSERT_EQ(0, s3store_writer_write(w, buf_str(b), buf_len(b)));
  ASSERT_EQ(0, s3store_writer_commit(w, "bucket", key, NULL,
                                     local_engine_now(t->e), NULL));
}

/* An engine with the prepared objects at s3://bucket/seed/train/ and
 * s3://bucket/seed/validation/. */
static void setup(struct lt_engine *t, const struct prepared *p)
{
  char key[128];
  size_t k;

  /* Writes to a worker that just died must not kill the test. */
  signal(SIGPIPE, SIG_IGN);
  setenv("SAGERUN_WORKER_BIN", test_sagerun_bin(), 1);
  lt_loop_init(t);
  lt_open(t, "e");
  ASSERT_EQ(0, s3store_bucket_create(local_engine_s3(t->e), "bucket", 0,
                                     local_engine_now(t->e)));
  for (k = 0; k < NOBJ; k++) {
    snprintf(key, sizeof(key), "seed/train/%s", p->key[k]);
    put(t, key, &p->obj[k]);
  }
  put(t, "seed/validation/validation.rec", &p->validation);
}

/* Creates a job as the quickstart's train step does: RecordIO train
 * channel with the given distribution, validation replicated. */
static void create_job(struct lt_engine *t, const char *name, int instances,
                       const char *dist, const char *hps)
{
  struct buf b;

  buf_init(&b, 1 << 16);
  ASSERT_EQ(
      0,
      buf_addf(&b,
               "{\"TrainingJobName\": \"%s\","
               " \"AlgorithmSpecification\": {\"TrainingImage\": \"" LL_IMAGE
               "\", \"TrainingInputMode\": \"File\"},"
               " \"RoleArn\": \"" ROLE "\","
               " \"HyperParameters\": {%s},"
               " \"InputDataConfig\": ["
               "{\"ChannelName\": \"train\", \"DataSource\": {\"S3DataSource\":"
               " {\"S3DataType\": \"S3Prefix\", \"S3Uri\": "
               "\"s3://bucket/seed/train/\", \"S3DataDistributionType\": "
               "\"%s\"}}, \"ContentType\": "
               "\"application/x-recordio-protobuf\"},"
               " {\"ChannelName\": \"validation\", \"DataSource\": "
               "{\"S3DataSource\": {\"S3DataType\": \"S3Prefix\", \"S3Uri\": "
               "\"s3://bucket/seed/validation/\", \"S3DataDistributionType\": "
               "\"FullyReplicated\"}}, \"ContentType\": "
               "\"application/x-recordio-protobuf\"}],"
               " \"OutputDataConfig\": {\"S3OutputPath\": "
               "\"s3://bucket/out/\"},"
               " \"ResourceConfig\": {\"InstanceType\": \"ml.m5.large\", "
               "\"InstanceCount\": %d, \"VolumeSizeInGB\": 10},"
               " \"StoppingCondition\": {\"MaxRuntimeInSeconds\": 3600}}",
               name, hps, dist, instances));
  json_decref(lt_ok(t, local_sagemaker_call, "CreateTrainingJob", buf_str(&b)));
  buf_free(&b);
}

static json_t *describe(struct lt_engine *t, const char *name)
{
  char req[256];

  snprintf(req, sizeof(req), "{\"TrainingJobName\": \"%s\"}", name);
  return lt_ok(t, local_sagemaker_call, "DescribeTrainingJob", req);
}

/* Turns the loop until the job has ended; asserts it completed. */
static json_t *wait_completed(struct lt_engine *t, const char *name)
{
  for (;;) {
    json_t *d = describe(t, name);
    const char *s = lt_str(d, "TrainingJobStatus");

    if (strcmp(s, "Completed") == 0)
      return d;
    if (strcmp(s, "InProgress") != 0)
      test_fail(__FILE__, __LINE__, "job %s: %s: %s", name, s,
                lt_str(d, "FailureReason"));
    json_decref(d);
    lt_turn(t);
  }
}

static double metric(const json_t *job, const char *name)
{
  json_t *m;
  size_t i;

  json_array_foreach(json_object_get(job, "FinalMetricDataList"), i, m)
  {
    if (strcmp(lt_str(m, "MetricName"), name) == 0)
      return json_number_value(json_object_get(m, "Value"));
  }
  test_fail(__FILE__, __LINE__, "no metric %s", name);
}

/* The messages of one log stream, one a line. */
static char *stream_text(struct lt_engine *t, const char *stream)
{
  struct buf b, req;
  char *token = NULL;
  json_t *page, *ev;
  size_t k;

  buf_init(&b, 1 << 24);
  buf_init(&req, 4096);
  for (;;) {
    buf_reset(&req);
    ASSERT_EQ(0, buf_addf(&req,
                          "{\"logGroupName\": \"/aws/sagemaker/TrainingJobs\","
                          " \"logStreamName\": \"%s\", \"startFromHead\": "
                          "true%s%s%s}",
                          stream, token ? ", \"nextToken\": \"" : "",
                          token ? token : "", token ? "\"" : ""));
    page = lt_ok(t, local_logs_call, "GetLogEvents", buf_str(&req));
    json_array_foreach(json_object_get(page, "events"), k, ev)
    {
      ASSERT_EQ(0, buf_addf(&b, "%s\n", lt_str(ev, "message")));
    }
    if (json_array_size(json_object_get(page, "events")) == 0) {
      json_decref(page);
      break;
    }
    free(token);
    token = strdup(lt_str(page, "nextForwardToken"));
    ASSERT(token != NULL);
    json_decref(page);
  }
  free(token);
  buf_free(&req);
  if (strstr(buf_str(&b), "Sanitizer") || strstr(buf_str(&b), "runtime error"))
    test_fail(__FILE__, __LINE__, "sanitizer report in %s:\n%s", stream,
              buf_str(&b));
  return buf_detach(&b, NULL);
}

/* The job's log stream names (JOB/algo-N-EPOCHSECONDS), in order. */
static size_t job_streams(struct lt_engine *t, const char *job,
                          char names[][128], size_t max)
{
  char req[256];
  json_t *out, *s;
  size_t i, n = 0;

  snprintf(req, sizeof(req),
           "{\"logGroupName\": \"/aws/sagemaker/TrainingJobs\","
           " \"logStreamNamePrefix\": \"%s/\"}",
           job);
  out = lt_ok(t, local_logs_call, "DescribeLogStreams", req);
  json_array_foreach(json_object_get(out, "logStreams"), i, s)
  {
    ASSERT(n < max);
    snprintf(names[n++], 128, "%s", lt_str(s, "logStreamName"));
  }
  json_decref(out);
  return n;
}

/* The rest of the line in text after the first occurrence of mark. */
static void line_after(const char *text, const char *mark, char *out, size_t n)
{
  const char *p = strstr(text, mark);
  size_t len;

  if (p == NULL)
    test_fail(__FILE__, __LINE__, "no \"%s\" in:\n%s", mark, text);
  p += strlen(mark);
  len = strcspn(p, "\n");
  ASSERT(len < n);
  memcpy(out, p, len);
  out[len] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What the job's Describe output says each instance must get, checked
 * against what each instance's log stream says it got: the objects of
 * the train channel (names and bytes) and its record count. The
 * expectation is derived from Describe (InstanceCount and the channel's
 * S3DataDistributionType) and the objects in key order. */
static void check_instances(struct lt_engine *t, const struct prepared *p,
                            const char *job, json_t *d)
{
  const json_t *rc = json_object_get(d, "ResourceConfig");
  const json_t *ch = json_array_get(json_object_get(d, "InputDataConfig"), 0);
  const char *dist =
      lt_str(json_object_get(json_object_get(ch, "DataSource"), "S3DataSource"),
             "S3DataDistributionType");
  long long n = json_integer_value(json_object_get(rc, "InstanceCount"));
  const char *order[NOBJ];
  char streams[8][128], want[1024], got[1024], prefix[160];
  size_t i, k, nstreams, rows, objects, bytes, used;
  int sharded;

  ASSERT_STR_EQ("train", lt_str(ch, "ChannelName"));
  ASSERT_EQ(NINST, n);
  ASSERT_EQ(n * json_integer_value(json_object_get(d, "TrainingTimeInSeconds")),
            json_integer_value(json_object_get(d, "BillableTimeInSeconds")));
  sharded = strcmp(dist, "ShardedByS3Key") == 0;
  ASSERT(sharded || strcmp(dist, "FullyReplicated") == 0);
  for (k = 0; k < NOBJ; k++)
    order[k] = p->key[k];
  qsort(order, NOBJ, sizeof(order[0]), cmp_str);

  nstreams = job_streams(t, job, streams, 8);
  ASSERT_EQ(n, nstreams);
  for (i = 0; i < nstreams; i++) {
    char *text;

    /* Streams list in name order: algo-1 … algo-5. */
    snprintf(prefix, sizeof(prefix), "%s/algo-%zu-", job, i + 1);
    ASSERT(strncmp(streams[i], prefix, strlen(prefix)) == 0);
    /* Instance of rank i: objects whose key-order index is i mod n
     * (sharded), or all of them. */
    used = 0;
    objects = bytes = rows = 0;
    want[0] = '\0';
    for (k = 0; k < NOBJ; k++) {
      size_t c;

      if (sharded && k % (size_t)n != i)
        continue;
      for (c = 0; c < NOBJ && strcmp(p->key[c], order[k]) != 0; c++)
        ;
      used += (size_t)snprintf(want + used, sizeof(want) - used, "%s%s",
                               objects ? ", " : "", order[k]);
      ASSERT(used < sizeof(want));
      objects++;
      bytes += buf_len(&p->obj[c]);
      rows += p->rows[c];
    }
    text = stream_text(t, streams[i]);
    /* "Downloaded channel train to /opt/ml/input/data/train: K
     * object(s), B bytes in S s: NAME, NAME" (local/worker.c). */
    line_after(text,
               "Downloaded channel train to /opt/ml/input/data/train: ", got,
               sizeof(got));
    {
      char *end;
      size_t gobjects = (size_t)strtoull(got, &end, 10);
      size_t gbytes;
      const char *names;

      ASSERT_EQ(objects, gobjects);
      ASSERT(strncmp(end, " object(s), ", 12) == 0);
      gbytes = (size_t)strtoull(end + 12, &end, 10);
      ASSERT_EQ(bytes, gbytes);
      names = strstr(end, " s: ");
      ASSERT(names != NULL);
      ASSERT_STR_EQ(want, names + 4);
    }
    line_after(text, "Channel train: ", got, sizeof(got));
    ASSERT_EQ(rows, strtoull(got, NULL, 10));
    line_after(text,
               "Downloaded channel validation to "
               "/opt/ml/input/data/validation: ",
               got, sizeof(got));
    ASSERT(strncmp(got, "1 object(s), ", 13) == 0);
    ASSERT(strstr(got, " s: validation.rec") != NULL);
    line_after(text, "Channel validation: ", got, sizeof(got));
    ASSERT_EQ(p->validation_rows, strtoull(got, NULL, 10));
    printf("# %s algo-%zu: %s (%zu rows)\n", job, i + 1, want, rows);
    free(text);
  }
}

/* ---- tests ----------------------------------------------------------- */

/* The seed's configuration, both distribution types, run at once. */
TEST_TIMEOUT(local_seed_distribution, 120000);
TEST(local_seed_distribution)
{
  struct prepared p;
  struct lt_engine t;
  json_t *sharded, *replicated;

  prepare(&p);
  setup(&t, &p);
  create_job(&t, "seed-sharded", NINST, "ShardedByS3Key",
             SEED_HPS ", \"loss\": \"absolute_loss\"");
  create_job(&t, "seed-replicated", NINST, "FullyReplicated",
             SEED_HPS ", \"loss\": \"absolute_loss\"");
  sharded = wait_completed(&t, "seed-sharded");
  replicated = wait_completed(&t, "seed-replicated");
  ASSERT_STR_EQ("absolute_loss",
                lt_str(json_object_get(sharded, "HyperParameters"), "loss"));
  ASSERT_STR_EQ(
      "32", lt_str(json_object_get(sharded, "HyperParameters"), "num_models"));
  check_instances(&t, &p, "seed-sharded", sharded);
  check_instances(&t, &p, "seed-replicated", replicated);
  printf("# validation mse: sharded %.4f, replicated %.4f\n",
         metric(sharded, "validation:mse"),
         metric(replicated, "validation:mse"));
  json_decref(sharded);
  json_decref(replicated);
  prepared_free(&p);
  lt_close(&t);
  lt_loop_done(&t);
}

/* ---- scikit-learn as a peer -------------------------------------------- */

/* Decodes a RecordIO file of labelled dense rows into the peer's format:
 * float32 rows, label first. Returns the row count. */
static size_t recordio_to_f32(const char *from, const char *to)
{
  struct recordio_reader rd;
  struct recordio_example ex;
  const void *rec;
  float row[DIM + 1];
  size_t len, n = 0;
  char *data;
  FILE *f;
  int rc;

  data = test_read_file(from, &len);
  ASSERT(data != NULL);
  f = fopen(to, "wb");
  ASSERT(f != NULL);
  recordio_reader_init_mem(&rd, data, len, 0);
  while ((rc = recordio_next(&rd, &rec, &len)) == 1) {
    ASSERT_EQ(0, recordio_example_decode(rec, len, &ex));
    ASSERT_EQ(0, recordio_tensor_dense(&ex.label, row, 1));
    ASSERT_EQ(0, recordio_tensor_dense(&ex.features, row + 1, DIM));
    recordio_example_free(&ex);
    ASSERT(fwrite(row, sizeof(float), DIM + 1, f) == DIM + 1);
    n++;
  }
  ASSERT_EQ(0, rc);
  recordio_reader_free(&rd);
  ASSERT_EQ(0, fclose(f));
  free(data);
  return n;
}

static double peer_value(const char *out, const char *name)
{
  const char *p = strstr(out, name);

  if (p == NULL)
    test_fail(__FILE__, __LINE__, "peer printed no %s: %s", name, out);
  return strtod(p + strlen(name), NULL);
}

/* Issue 6: on the same prepared data, each trained model's validation
 * MSE within 10 % of the best linear model scikit-learn fits for the
 * same loss: LinearRegression for squared_loss, QuantileRegressor at the
 * median without penalty (least absolute deviations) for absolute_loss.
 * The jobs run the seed's configuration (5 instances, sharded). */
TEST_TIMEOUT(local_seed_sklearn, 180000);
TEST(local_seed_sklearn)
{
  char train_f32[4096], valid_f32[4096];
  const char *argv[] = {PEER_PYTHON, "tests/peers/ll_sklearn.py",
                        "ref",       train_f32,
                        valid_f32,   "25",
                        NULL};
  struct prepared p;
  struct lt_engine t;
  char *out = NULL, *err = NULL;
  double linear, lad, lad_mae, mean_mse, sq, ab, ab_mae;
  json_t *d;
  int status;

  if (lt_peer_missing(PEER_PYTHON))
    return;
  prepare(&p);
  snprintf(train_f32, sizeof(train_f32), "%s/train.f32", test_tmpdir());
  snprintf(valid_f32, sizeof(valid_f32), "%s/validation.f32", test_tmpdir());
  ASSERT_EQ(p.train_rows, recordio_to_f32(p.train_path, train_f32));
  ASSERT_EQ(p.validation_rows, recordio_to_f32(p.validation_path, valid_f32));
  setup(&t, &p);
  /* The jobs train while scikit-learn fits. */
  create_job(&t, "seed-squared", NINST, "ShardedByS3Key",
             SEED_HPS ", \"loss\": \"squared_loss\"");
  create_job(&t, "seed-absolute", NINST, "ShardedByS3Key",
             SEED_HPS ", \"loss\": \"absolute_loss\"");
  status = test_exec(argv, NULL, &out, &err);
  if (status == 77) {
    printf("# skipped: %s", out ? out : "scikit-learn missing\n");
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  } else {
    if (status != 0)
      printf("# %s\n# %s\n", out ? out : "", err ? err : "");
    ASSERT_EQ(0, status);
  }
  d = wait_completed(&t, "seed-squared");
  sq = metric(d, "validation:mse");
  json_decref(d);
  d = wait_completed(&t, "seed-absolute");
  ab = metric(d, "validation:mse");
  ab_mae = metric(d, "validation:absolute_loss");
  json_decref(d);
  if (status == 0) {
    linear = peer_value(out, "linear_mse ");
    lad = peer_value(out, "lad_mse ");
    lad_mae = peer_value(out, "lad_mae ");
    mean_mse = peer_value(out, "mean_mse ");
    printf("# validation mse: squared_loss %.4f, LinearRegression %.4f; "
           "absolute_loss %.4f, QuantileRegressor(0.5) %.4f; mean only "
           "%.4f\n# validation mae: absolute_loss %.4f, "
           "QuantileRegressor(0.5) %.4f\n",
           sq, linear, ab, lad, mean_mse, ab_mae, lad_mae);
    ASSERT(linear < 0.95 * mean_mse); /* there is a signal to find */
    ASSERT(sq <= 1.1 * linear);
    ASSERT(ab <= 1.1 * lad);
    /* And for the loss it minimises. */
    ASSERT(ab_mae <= 1.1 * lad_mae);
  }
  free(out);
  free(err);
  prepared_free(&p);
  lt_close(&t);
  lt_loop_done(&t);
}
