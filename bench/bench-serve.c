/* Endpoint scoring of 5 MB CSV payloads (issue 6): a linear-learner model
 * trained by a real training job on a local engine opened in this process
 * (its worker is the sagerun binary next to this one), served by a real
 * endpoint, invoked through local_runtime_invoke, the function the
 * engine's HTTP front calls for InvokeEndpoint. HTTP transfer and SigV4
 * are therefore not in the numbers: this measures the scoring path (CSV
 * parse, predict, JSON answer) on the engine's one loop thread.
 *
 * Two measurements, printed as a Markdown table:
 * - one client: invocations back to back; MB/s of payload;
 * - 8 concurrent clients: 8 threads each invoking in a loop. The engine
 *   scores on its one loop, so invocations are serialised by a mutex, as
 *   the loop serialises them; a request's latency runs from the moment
 *   its client issues it (queueing for the core included) to the answer.
 * Goal: at least 150 MB/s and p99 under 100 ms with 8 clients. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../local/engine.h"
#include "../local/s3store.h"
#include "../runner/buf.h"

#define ROLE "arn:aws:iam::123456789012:role/SageMakerRole"
#define LL_IMAGE "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
#define DIM 25
#define PAYLOAD (5u << 20)
#define CLIENTS 8
#define PER_CLIENT 12
#define SEQUENTIAL 40

static uint64_t rng_state = 7;

static double uniform(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One GDELT-shaped row as gdelt.prepare writes it to CSV: five numbers
 * (NumArticles, two latitudes, two longitudes), twenty one-hot codes;
 * labelled rows start with AvgTone. */
static int add_row(struct buf *b, int labelled)
{
  size_t code = (size_t)(uniform() * 20), j;
  double f[5];
  int rc = 0;

  f[0] = 1 + (double)(int)(30 * uniform() * uniform());
  f[1] = 40 + 30 * (uniform() - 0.5);
  f[2] = -20 + 120 * (uniform() - 0.5);
  f[3] = 40 + 30 * (uniform() - 0.5);
  f[4] = -20 + 120 * (uniform() - 0.5);
  if (labelled)
    rc |= buf_addf(b, "%.4g,",
                   3 + 0.05 * f[0] + 0.2 * (double)code / 5 +
                       3 * (uniform() - 0.5));
  rc |= buf_addf(b, "%.9g,%.9g,%.9g,%.9g,%.9g", f[0], (double)(float)f[1],
                 (double)(float)f[2], (double)(float)f[3], (double)(float)f[4]);
  for (j = 0; j < 20; j++)
    rc |= buf_adds(b, j == code ? ",1" : ",0");
  rc |= buf_addc(b, '\n');
  return rc;
}

static void wake_cb(uv_timer_t *t)
{
  uv_stop(t->loop);
}

/* Runs the loop for about 2 ms. */
static void turn(uv_loop_t *loop)
{
  uv_timer_t wake;

  uv_update_time(loop);
  uv_timer_init(loop, &wake);
  uv_timer_start(&wake, wake_cb, 2, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&wake, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
}

/* Calls the SageMaker API in-process; returns the output or NULL (with a
 * message on stderr). */
static json_t *call(struct local_engine *e, const char *op, const char *json)
{
  struct local_error err;
  json_error_t jerr;
  json_t *in = json_loads(json, 0, &jerr), *out = NULL;

  if (in == NULL) {
    fprintf(stderr, "bench-serve: bad JSON: %s\n", jerr.text);
    return NULL;
  }
  memset(&err, 0, sizeof(err));
  if (local_sagemaker_call(e, op, in, &out, &err) != 0) {
    fprintf(stderr, "bench-serve: %s: %s: %s\n", op, err.code, err.message);
    out = NULL;
  }
  json_decref(in);
  return out;
}

static const char *jstr(const json_t *o, const char *key)
{
  const char *s = json_string_value(json_object_get(o, key));

  return s ? s : "";
}

/* Polls Describe<what> until its status leaves busy; returns 0 when it
 * reached want. */
static int wait_status(struct local_engine *e, const char *op, const char *req,
                       const char *field, const char *busy, const char *want)
{
  for (;;) {
    json_t *d = call(e, op, req);
    int rc;

    if (d == NULL)
      return -1;
    if (strcmp(jstr(d, field), busy) != 0) {
      rc = strcmp(jstr(d, field), want) == 0 ? 0 : -1;
      if (rc)
        fprintf(stderr, "bench-serve: %s: %s\n", jstr(d, field),
                jstr(d, "FailureReason"));
      json_decref(d);
      return rc;
    }
    json_decref(d);
    turn(local_engine_loop(e));
  }
}

/* Trains on 20,000 rows (1 instance, squared loss) and creates endpoint
 * "ep" on the model. */
static int train_and_host(struct local_engine *e)
{
  static const char *const steps[][2] = {
      {"CreateTrainingJob",
       "{\"TrainingJobName\": \"bench\", \"AlgorithmSpecification\": "
       "{\"TrainingImage\": \"" LL_IMAGE "\", \"TrainingInputMode\": "
       "\"File\"}, \"RoleArn\": \"" ROLE "\", \"HyperParameters\": "
       "{\"predictor_type\": \"regressor\", \"feature_dim\": \"25\", "
       "\"mini_batch_size\": \"500\", \"epochs\": \"2\"}, "
       "\"InputDataConfig\": [{\"ChannelName\": \"train\", \"DataSource\": "
       "{\"S3DataSource\": {\"S3DataType\": \"S3Prefix\", \"S3Uri\": "
       "\"s3://bucket/train/\", \"S3DataDistributionType\": "
       "\"FullyReplicated\"}}, \"ContentType\": \"text/csv\"}], "
       "\"OutputDataConfig\": {\"S3OutputPath\": \"s3://bucket/out/\"}, "
       "\"ResourceConfig\": {\"InstanceType\": \"ml.m5.large\", "
       "\"InstanceCount\": 1, \"VolumeSizeInGB\": 10}, "
       "\"StoppingCondition\": {\"MaxRuntimeInSeconds\": 3600}}"},
      {"CreateModel",
       "{\"ModelName\": \"m\", \"ExecutionRoleArn\": \"" ROLE "\", "
       "\"PrimaryContainer\": {\"Image\": \"" LL_IMAGE "\", "
       "\"ModelDataUrl\": \"s3://bucket/out/bench/output/model.tar.gz\"}}"},
      {"CreateEndpointConfig",
       "{\"EndpointConfigName\": \"c\", \"ProductionVariants\": "
       "[{\"VariantName\": \"AllTraffic\", \"ModelName\": \"m\", "
       "\"InstanceType\": \"ml.m5.large\", \"InitialInstanceCount\": 1}]}"},
      {"CreateEndpoint",
       "{\"EndpointName\": \"ep\", \"EndpointConfigName\": \"c\"}"}};
  struct s3store *s3 = local_engine_s3(e);
  struct s3store_writer *w;
  struct buf b;
  size_t i;
  json_t *out;
  int rc;

  buf_init(&b, 1 << 26);
  for (i = 0; i < 20000; i++) {
    if (add_row(&b, 1) != 0) {
      buf_free(&b);
      return -1;
    }
  }
  rc = s3store_bucket_create(s3, "bucket", 0, local_engine_now(e));
  if (rc == 0)
    rc = s3store_writer_begin(s3, &w);
  if (rc == 0) {
    rc = s3store_writer_write(w, buf_str(&b), buf_len(&b));
    if (rc == 0)
      rc = s3store_writer_commit(w, "bucket", "train/rows.csv", NULL,
                                 local_engine_now(e), NULL);
  }
  buf_free(&b);
  if (rc)
    return -1;
  for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
    out = call(e, steps[i][0], steps[i][1]);
    if (out == NULL)
      return -1;
    json_decref(out);
    if (i == 0 &&
        wait_status(e, "DescribeTrainingJob",
                    "{\"TrainingJobName\": \"bench\"}", "TrainingJobStatus",
                    "InProgress", "Completed") != 0)
      return -1;
  }
  return wait_status(e, "DescribeEndpoint", "{\"EndpointName\": \"ep\"}",
                     "EndpointStatus", "Creating", "InService");
}

struct shared {
  struct local_engine *e;
  const struct buf *payload;
  size_t rows;
  /* The engine's one loop, as a FIFO ticket lock: the loop answers
   * requests in arrival order (a plain mutex would let one client starve
   * the others, which the loop does not). */
  uv_mutex_t lock;
  uv_cond_t turn;
  unsigned long next_ticket, serving;
  int failed;
};

struct client {
  struct shared *s;
  double lat_ms[PER_CLIENT];
  uv_thread_t tid;
};

/* One invocation; checks the answer has a score per row. */
static int invoke(struct shared *s)
{
  struct local_error err;
  char *body = NULL, ct[128];
  size_t len = 0, n = 0;
  const char *p;
  int rc;

  memset(&err, 0, sizeof(err));
  rc = local_runtime_invoke(s->e, "ep", "text/csv", "application/json",
                            buf_str(s->payload), buf_len(s->payload), &body,
                            &len, ct, sizeof(ct), &err);
  if (rc != 0) {
    fprintf(stderr, "bench-serve: invoke: %s: %s\n", err.code, err.message);
    free(body);
    return -1;
  }
  for (p = body; (p = strstr(p, "\"score\"")) != NULL; p += 7)
    n++;
  free(body);
  if (n != s->rows) {
    fprintf(stderr, "bench-serve: %zu scores for %zu rows\n", n, s->rows);
    return -1;
  }
  return 0;
}

static void client_main(void *arg)
{
  struct client *c = arg;
  size_t i;

  for (i = 0; i < PER_CLIENT; i++) {
    double t0 = now_s();
    int rc;

    unsigned long ticket;

    uv_mutex_lock(&c->s->lock);
    ticket = c->s->next_ticket++;
    while (c->s->serving != ticket)
      uv_cond_wait(&c->s->turn, &c->s->lock);
    uv_mutex_unlock(&c->s->lock);
    rc = invoke(c->s);
    uv_mutex_lock(&c->s->lock);
    c->s->serving++;
    uv_cond_broadcast(&c->s->turn);
    uv_mutex_unlock(&c->s->lock);
    c->lat_ms[i] = (now_s() - t0) * 1e3;
    if (rc)
      c->s->failed = 1;
  }
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);

  return v[i < n ? i : n - 1];
}

static void machine(void)
{
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[256], model[256] = "unknown";

  if (f) {
    while (fgets(line, sizeof(line), f)) {
      char *colon = strchr(line, ':');

      if (strncmp(line, "model name", 10) == 0 && colon) {
        snprintf(model, sizeof(model), "%s", colon + 2);
        model[strcspn(model, "\n")] = '\0';
        break;
      }
    }
    fclose(f);
  }
  printf("Machine: %ld CPUs (nproc), %s\n\n", sysconf(_SC_NPROCESSORS_ONLN),
         model);
}

/* Removes the engine's data directory (nftw needs _XOPEN_SOURCE). */
static void remove_dir(const char *dir)
{
  pid_t pid = fork();
  int status;

  if (pid == 0) {
    execlp("rm", "rm", "-rf", dir, (char *)NULL);
    _exit(127);
  }
  if (pid > 0)
    waitpid(pid, &status, 0);
}

static void closed_cb(void *arg)
{
  *(int *)arg = 1;
}

static int measure(struct shared *s)
{
  static struct client clients[CLIENTS];
  double seq[SEQUENTIAL], all[CLIENTS * PER_CLIENT], t0, wall, mb;
  size_t i, k;

  mb = (double)buf_len(s->payload) / 1e6;
  for (i = 0; i < 3; i++) /* warm up */
    if (invoke(s) != 0)
      return -1;
  t0 = now_s();
  for (i = 0; i < SEQUENTIAL; i++) {
    double t = now_s();

    if (invoke(s) != 0)
      return -1;
    seq[i] = (now_s() - t) * 1e3;
  }
  wall = now_s() - t0;
  qsort(seq, SEQUENTIAL, sizeof(double), cmp_double);
  printf("| clients | payload MB | rows/payload | requests |   MB/s | p50 ms "
         "| p99 ms |\n");
  printf("|---------|------------|--------------|----------|--------|-------"
         "-|--------|\n");
  printf("| %7d | %10.2f | %12zu | %8d | %6.1f | %6.1f | %6.1f |\n", 1, mb,
         s->rows, SEQUENTIAL, mb * SEQUENTIAL / wall, pct(seq, SEQUENTIAL, 0.5),
         pct(seq, SEQUENTIAL, 0.99));

  if (uv_mutex_init(&s->lock) != 0)
    return -1;
  if (uv_cond_init(&s->turn) != 0) {
    uv_mutex_destroy(&s->lock);
    return -1;
  }
  t0 = now_s();
  for (i = 0; i < CLIENTS; i++) {
    clients[i].s = s;
    if (uv_thread_create(&clients[i].tid, client_main, &clients[i]) != 0) {
      fprintf(stderr, "bench-serve: cannot start a client thread\n");
      exit(1);
    }
  }
  for (i = 0; i < CLIENTS; i++)
    uv_thread_join(&clients[i].tid);
  wall = now_s() - t0;
  uv_cond_destroy(&s->turn);
  uv_mutex_destroy(&s->lock);
  if (s->failed)
    return -1;
  for (i = 0; i < CLIENTS; i++)
    for (k = 0; k < PER_CLIENT; k++)
      all[i * PER_CLIENT + k] = clients[i].lat_ms[k];
  qsort(all, CLIENTS * PER_CLIENT, sizeof(double), cmp_double);
  printf("| %7d | %10.2f | %12zu | %8d | %6.1f | %6.1f | %6.1f |\n", CLIENTS,
         mb, s->rows, CLIENTS * PER_CLIENT, mb * CLIENTS * PER_CLIENT / wall,
         pct(all, CLIENTS * PER_CLIENT, 0.5),
         pct(all, CLIENTS * PER_CLIENT, 0.99));
  return 0;
}

int main(int argc, char **argv)
{
  char dir[] = "/tmp/bench-serve.XXXXXX", worker[4096], err[512];
  struct local_engine_options o;
  struct local_engine *e = NULL;
  struct shared s;
  struct buf payload;
  uv_loop_t loop;
  const char *slash;
  int rc = 1, closed = 0;

  (void)argc;
  /* The training job's worker: the sagerun binary built next to us. */
  slash = strrchr(argv[0], '/');
  snprintf(worker, sizeof(worker), "%.*ssagerun",
           slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
  if (access(worker, X_OK) != 0) {
    fprintf(stderr, "bench-serve: %s: not found (make first)\n", worker);
    return 1;
  }
  setenv("SAGERUN_WORKER_BIN", worker, 1);
  if (mkdtemp(dir) == NULL || uv_loop_init(&loop) != 0) {
    fprintf(stderr, "bench-serve: %s\n", strerror(errno));
    return 1;
  }
  memset(&o, 0, sizeof(o));
  o.data_dir = dir;
  if (local_engine_open(&loop, &o, &e, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench-serve: %s\n", err);
    e = NULL;
    goto out;
  }
  printf("## Endpoint scoring (bench/bench-serve.c)\n\n");
  machine();
  if (train_and_host(e) != 0)
    goto out;
  buf_init(&payload, PAYLOAD + 4096);
  memset(&s, 0, sizeof(s));
  s.e = e;
  s.payload = &payload;
  while (buf_len(&payload) < PAYLOAD - 200) {
    if (add_row(&payload, 0) != 0) {
      buf_free(&payload);
      goto out;
    }
    s.rows++;
  }
  if (measure(&s) == 0)
    rc = 0;
  buf_free(&payload);
  printf("\nIn-process: local_runtime_invoke (what the HTTP front calls for "
         "InvokeEndpoint), text/csv in, application/json out; HTTP and "
         "SigV4 not included. Goal: >= 150 MB/s, p99 < 100 ms with %d "
         "clients.\n\n",
         CLIENTS);
out:
  if (e) {
    local_engine_close(e, closed_cb, &closed);
    while (!closed)
      turn(&loop);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    rc = 1;
  remove_dir(dir);
  return rc;
}
