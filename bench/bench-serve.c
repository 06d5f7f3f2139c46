/* Endpoint scoring of 5 MB CSV payloads (issue 6): a linear-learner model
 * trained by a real training job, served by a real endpoint of the local
 * engine, invoked over HTTP with SigV4 as a client would.
 *
 * Setup: an engine opened in this process trains the model (its worker
 * is the sagerun binary next to this one) and creates endpoint "ep";
 * then `sagerun local start` serves the same data directory, and the
 * endpoint comes back InService from the engine's database.
 *
 * Rows of the table (Markdown):
 * - in-process: the scoring path alone (local_runtime_invoke: CSV parse,
 *   predict, JSON answer on the thread pool), one request at a time;
 * - HTTP, engine on one core: the engine process pinned to CPU 0
 *   (taskset) and the clients to CPU 1, 1 client then 8 concurrent
 *   clients, each invoking in a closed loop (the next request when the
 *   answer came); latency from sending to the whole answer;
 * - HTTP, engine on all cores: 1, 4 and 8 clients, nothing pinned.
 * Clients are threads with their own libcurl handle (keep-alive), each
 * request signed anew by runner/sigv4.h (the payload's hash computed
 * once); every answer is checked to hold one score per row.
 * Goal: at least 150 MB/s, and p99 under 100 ms with 8 clients. */
#define _GNU_SOURCE /* sched_setaffinity */
#include <curl/curl.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../local/credentials.h"
#include "../local/engine.h"
#include "../local/s3store.h"
#include "../runner/buf.h"
#include "../runner/floattext.h"
#include "../runner/sigv4.h"

#define ROLE "arn:aws:iam::123456789012:role/SageMakerRole"
#define LL_IMAGE "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
#define DIM 25
#define PAYLOAD (5u << 20)
#define CLIENTS 8
#define PER_CLIENT 16
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
  for (j = 0; j < 5; j++) {
    if (j)
      rc |= buf_addc(b, ',');
    rc |= floattext_add(b, (float)f[j]);
  }
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

/* ---- the scoring path in-process ------------------------------------- */

struct answer_wait {
  struct local_runtime_answer a;
  int done;
};

static void answered(struct local_runtime_answer *a, void *arg)
{
  struct answer_wait *w = arg;

  w->a = *a;
  w->done = 1;
}

/* Counts the scores in a JSON answer. */
static size_t count_scores(const char *body, size_t len)
{
  const char *p = body, *end = body + len;
  size_t n = 0;

  while ((p = memchr(p, 's', (size_t)(end - p))) != NULL) {
    if (end - p >= 5 && memcmp(p, "score", 5) == 0)
      n++;
    p++;
  }
  return n;
}

static int invoke_in_process(struct local_engine *e, const struct buf *payload,
                             size_t rows)
{
  struct local_runtime_request r = {"ep", "text/csv",       "application/json",
                                    NULL, buf_str(payload), buf_len(payload)};
  struct answer_wait w;
  struct local_error err;
  size_t n;

  memset(&w, 0, sizeof(w));
  if (local_runtime_invoke(e, &r, answered, &w, &err) != 0) {
    fprintf(stderr, "bench-serve: invoke: %s: %s\n", err.code, err.message);
    return -1;
  }
  while (!w.done)
    uv_run(local_engine_loop(e), UV_RUN_ONCE);
  if (w.a.failed) {
    fprintf(stderr, "bench-serve: invoke: %s: %s\n", w.a.err.code,
            w.a.err.message);
    return -1;
  }
  n = count_scores(w.a.body, w.a.len);
  free(w.a.body);
  if (n != rows) {
    fprintf(stderr, "bench-serve: %zu scores for %zu rows\n", n, rows);
    return -1;
  }
  return 0;
}

/* ---- over HTTP -------------------------------------------------------- */

struct target {
  char url[128];
  char host[64];
  struct local_credentials cred;
  const struct buf *payload;
  char payload_hash[65];
  size_t rows;
};

struct client {
  const struct target *t;
  CURL *curl;
  struct buf answer;
  double lat_ms[PER_CLIENT];
  size_t n;
  int failed;
  uv_thread_t tid;
};

static size_t take_answer(char *data, size_t size, size_t n, void *arg)
{
  struct client *c = arg;

  return buf_add(&c->answer, data, size * n) == 0 ? size * n : 0;
}

/* One signed InvokeEndpoint; 0 when the answer has a score per row. */
static int invoke_http(struct client *c)
{
  const struct target *t = c->t;
  struct sigv4_header h[3] = {{"Host", t->host},
                              {"Content-Type", "text/csv"},
                              {"Accept", "application/json"}};
  struct sigv4_request req = {
      "POST", "/endpoints/ep/invocations", "", h, 3, t->payload_hash};
  struct sigv4_credentials cred = {t->cred.access_key_id,
                                   t->cred.secret_access_key, NULL};
  struct sigv4_params p = {"us-east-1", "sagemaker", time(NULL), 0, 0, &cred};
  struct sigv4_result sig;
  struct curl_slist *list = NULL;
  char line[1024], url[256];
  long status = 0;
  size_t i, n;
  int rc = -1;

  sigv4_result_init(&sig);
  if (sigv4_sign_header(&req, &p, &sig) != 0)
    goto out;
  list = curl_slist_append(list, "Content-Type: text/csv");
  list = curl_slist_append(list, "Accept: application/json");
  list = curl_slist_append(list, "Expect:");
  for (i = 0; i < sig.nheaders_to_add; i++) {
    snprintf(line, sizeof(line), "%s: %s", sig.headers_to_add[i].name,
             sig.headers_to_add[i].value);
    list = curl_slist_append(list, line);
  }
  snprintf(url, sizeof(url), "%s/endpoints/ep/invocations", t->url);
  buf_reset(&c->answer);
  curl_easy_setopt(c->curl, CURLOPT_URL, url);
  curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, buf_str(t->payload));
  curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                   (curl_off_t)buf_len(t->payload));
  curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, take_answer);
  curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
  if (curl_easy_perform(c->curl) != CURLE_OK)
    goto out;
  curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200)
    goto out;
  n = count_scores(buf_str(&c->answer), buf_len(&c->answer));
  if (n == t->rows)
    rc = 0;
  else
    fprintf(stderr, "bench-serve: %zu scores for %zu rows\n", n, t->rows);
out:
  if (rc && status && status != 200)
    fprintf(stderr, "bench-serve: HTTP %ld: %.300s\n", status,
            buf_str(&c->answer));
  curl_slist_free_all(list);
  sigv4_result_free(&sig);
  return rc;
}

static int client_init(struct client *c, const struct target *t)
{
  memset(c, 0, sizeof(*c));
  c->t = t;
  buf_init(&c->answer, (size_t)1 << 28);
  c->curl = curl_easy_init();
  return c->curl ? 0 : -1;
}

static void client_free(struct client *c)
{
  curl_easy_cleanup(c->curl);
  buf_free(&c->answer);
}

static void client_main(void *arg)
{
  struct client *c = arg;

  for (c->n = 0; c->n < PER_CLIENT; c->n++) {
    double t0 = now_s();

    if (invoke_http(c) != 0) {
      c->failed = 1;
      return;
    }
    c->lat_ms[c->n] = (now_s() - t0) * 1e3;
  }
}

static void print_row(const char *what, int clients, double mb, size_t rows,
                      double *lat, size_t n, double wall)
{
  qsort(lat, n, sizeof(double), cmp_double);
  printf("| %-28s | %7d | %10.2f | %12zu | %8zu | %6.1f | %6.1f | %6.1f |\n",
         what, clients, mb, rows, n, mb * (double)n / wall, pct(lat, n, 0.5),
         pct(lat, n, 0.99));
}

/* 1 client, then (when clients > 1) that many at once. */
static int measure_http(const struct target *t, const char *what, int clients)
{
  static struct client c[CLIENTS];
  double lat[CLIENTS * PER_CLIENT], t0, wall,
      mb = (double)buf_len(t->payload) / 1e6;
  size_t i, k, n = 0;
  int failed = 0;

  for (i = 0; i < (size_t)clients; i++)
    if (client_init(&c[i], t) != 0)
      return -1;
  for (i = 0; i < 3; i++) /* warm up: connections, first pages */
    if (invoke_http(&c[0]) != 0)
      return -1;
  t0 = now_s();
  if (clients == 1) {
    client_main(&c[0]);
  } else {
    for (i = 0; i < (size_t)clients; i++)
      if (uv_thread_create(&c[i].tid, client_main, &c[i]) != 0)
        return -1;
    for (i = 0; i < (size_t)clients; i++)
      uv_thread_join(&c[i].tid);
  }
  wall = now_s() - t0;
  for (i = 0; i < (size_t)clients; i++) {
    failed |= c[i].failed;
    for (k = 0; k < c[i].n; k++)
      lat[n++] = c[i].lat_ms[k];
    client_free(&c[i]);
  }
  if (failed)
    return -1;
  print_row(what, clients, mb, t->rows, lat, n, wall);
  return 0;
}

/* Pins the calling thread (and the threads it starts) to cpu. */
static void pin(int cpu)
{
  cpu_set_t set;

  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

static void unpin(void)
{
  cpu_set_t set;
  long i, n = sysconf(_SC_NPROCESSORS_ONLN);

  CPU_ZERO(&set);
  for (i = 0; i < n && i < CPU_SETSIZE; i++)
    CPU_SET((int)i, &set);
  sched_setaffinity(0, sizeof(set), &set);
}

static int run_quiet(const char *cmd)
{
  int rc = system(cmd);

  return rc == 0 ? 0 : -1;
}

/* Starts `sagerun local start` on dir (under taskset when cpu >= 0) and
 * waits until the endpoint answers. */
static int engine_start(const char *sagerun, const char *dir, int cpu,
                        struct target *t)
{
  char cmd[2048], path[600], err[256];
  struct client probe;
  FILE *f;
  int port = 0, i;

  if (cpu >= 0)
    snprintf(cmd, sizeof(cmd),
             "taskset -c %d %s local start --port 0 --data-dir %s "
             ">/dev/null 2>&1",
             cpu, sagerun, dir);
  else
    snprintf(cmd, sizeof(cmd),
             "%s local start --port 0 --data-dir %s >/dev/null 2>&1", sagerun,
             dir);
  if (run_quiet(cmd) != 0)
    return -1;
  snprintf(path, sizeof(path), "%s/engine.port", dir);
  f = fopen(path, "r");
  if (f == NULL || fscanf(f, "%d", &port) != 1) {
    if (f)
      fclose(f);
    return -1;
  }
  fclose(f);
  snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%d", port);
  snprintf(t->host, sizeof(t->host), "127.0.0.1:%d", port);
  if (local_credentials_load(dir, &t->cred, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench-serve: %s\n", err);
    return -1;
  }
  /* The endpoint's hosting reloads the model after the start. */
  if (client_init(&probe, t) != 0)
    return -1;
  for (i = 0; i < 300 && invoke_http(&probe) != 0; i++)
    usleep(100000);
  client_free(&probe);
  return i < 300 ? 0 : -1;
}

static void engine_stop(const char *sagerun, const char *dir)
{
  char cmd[2048];

  snprintf(cmd, sizeof(cmd), "%s local stop --data-dir %s >/dev/null 2>&1",
           sagerun, dir);
  if (run_quiet(cmd) != 0)
    fprintf(stderr, "bench-serve: could not stop the engine\n");
}

static void closed_cb(void *arg)
{
  *(int *)arg = 1;
}

/* Trains and hosts on an engine in this process, and measures the
 * scoring path there; the engine is closed again after. */
static int setup_in_process(const char *dir, const struct buf *payload,
                            size_t rows)
{
  struct local_engine_options o;
  struct local_engine *e = NULL;
  double lat[SEQUENTIAL], t0, wall;
  char err[512];
  uv_loop_t loop;
  int rc = -1, closed = 0;
  size_t i;

  if (uv_loop_init(&loop) != 0)
    return -1;
  memset(&o, 0, sizeof(o));
  o.data_dir = dir;
  if (local_engine_open(&loop, &o, &e, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench-serve: %s\n", err);
    e = NULL;
    goto out;
  }
  if (train_and_host(e) != 0)
    goto out;
  for (i = 0; i < 3; i++)
    if (invoke_in_process(e, payload, rows) != 0)
      goto out;
  t0 = now_s();
  for (i = 0; i < SEQUENTIAL; i++) {
    double t = now_s();

    if (invoke_in_process(e, payload, rows) != 0)
      goto out;
    lat[i] = (now_s() - t) * 1e3;
  }
  wall = now_s() - t0;
  print_row("in-process (scoring path)", 1, (double)buf_len(payload) / 1e6,
            rows, lat, SEQUENTIAL, wall);
  rc = 0;
out:
  if (e) {
    local_engine_close(e, closed_cb, &closed);
    while (!closed)
      turn(&loop);
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    rc = -1;
  return rc;
}

int main(int argc, char **argv)
{
  char dir[] = "/tmp/bench-serve.XXXXXX", worker[4096];
  struct target t;
  struct buf payload;
  const char *slash;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  int rc = 1;

  (void)argc;
  /* The training job's worker and the engine: the sagerun binary built
   * next to us. */
  slash = strrchr(argv[0], '/');
  snprintf(worker, sizeof(worker), "%.*ssagerun",
           slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
  if (access(worker, X_OK) != 0) {
    fprintf(stderr, "bench-serve: %s: not found (make first)\n", worker);
    return 1;
  }
  setenv("SAGERUN_WORKER_BIN", worker, 1);
  if (mkdtemp(dir) == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    fprintf(stderr, "bench-serve: %s\n", strerror(errno));
    return 1;
  }
  memset(&t, 0, sizeof(t));
  buf_init(&payload, PAYLOAD + 4096);
  while (buf_len(&payload) < PAYLOAD - 200) {
    if (add_row(&payload, 0) != 0)
      goto out;
    t.rows++;
  }
  t.payload = &payload;
  sigv4_payload_hash(buf_str(&payload), buf_len(&payload), t.payload_hash);
  printf("## Endpoint scoring (bench/bench-serve.c)\n\n");
  machine();
  printf("| %-28s | clients | payload MB | rows/payload | requests |   MB/s "
         "| p50 ms | p99 ms |\n",
         "path");
  printf("|------------------------------|---------|------------|------------"
         "--|----------|--------|--------|--------|\n");
  if (setup_in_process(dir, &payload, t.rows) != 0)
    goto out;
  if (cpus >= 2) {
    if (engine_start(worker, dir, 0, &t) != 0)
      goto out;
    pin(1);
    if (measure_http(&t, "HTTP, engine on 1 core", 1) != 0 ||
        measure_http(&t, "HTTP, engine on 1 core", CLIENTS) != 0) {
      engine_stop(worker, dir);
      goto out;
    }
    unpin();
    engine_stop(worker, dir);
  }
  if (engine_start(worker, dir, -1, &t) != 0)
    goto out;
  /* 4 clients too: how much concurrency stays under the latency goal. */
  if (measure_http(&t, "HTTP, engine on all cores", 1) != 0 ||
      measure_http(&t, "HTTP, engine on all cores", CLIENTS / 2) != 0 ||
      measure_http(&t, "HTTP, engine on all cores", CLIENTS) != 0) {
    engine_stop(worker, dir);
    goto out;
  }
  engine_stop(worker, dir);
  printf("\ntext/csv in (%zu rows of %d features), application/json out. "
         "Goal: >= 150 MB/s, p99 < 100 ms with %d clients.\n\n",
         t.rows, DIM, CLIENTS);
  rc = 0;
out:
  buf_free(&payload);
  curl_global_cleanup();
  remove_dir(dir);
  return rc;
}
