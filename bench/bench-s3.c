/* S3 throughput: sagerun's S3 client (runner/s3.h) against the AWS CLI
 * (/usr/bin/aws s3 cp --endpoint-url) on the same local engine, started
 * for the benchmark in a temporary data directory (`sagerun local start
 * --port 0 --data-dir D`) and stopped at the end.
 *
 * Transfers: one 256 MiB file (multipart both ways: sagerun's defaults of
 * 8 MiB parts, 4 in flight; the CLI's of 8 MiB chunks, 10 threads) up and
 * down, and 100 objects of 16 KiB up and down (sagerun: all 100 started
 * at once on one loop; the CLI: cp --recursive). Wall time, median of
 * several runs; the CLI's includes its Python start (about 0.3 s), shown
 * on its own row. Prints a Markdown table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../local/credentials.h"
#include "../runner/aws.h"
#include "../runner/aws_config.h"
#include "../runner/buf.h"
#include "../runner/s3.h"

#define RUNS 3
#define BIG ((long long)256 << 20)
#define SMALL_N 100
#define SMALL_SIZE (16 << 10)
#define AWS_CLI "/usr/bin/aws"

static char tmp[] = "/tmp/bench-s3-XXXXXX";
static char data_dir[512], url[64], sagerun_bin[512];
static struct local_credentials cred;

static double now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
  qsort(v, n, sizeof(*v), cmp_double);
  return v[n / 2];
}

static int engine_started;
static void stop_engine(void);

/* Leaves nothing running behind a failure. */
static void die(const char *what)
{
  fprintf(stderr, "bench-s3: %s\n", what);
  if (engine_started)
    stop_engine();
  exit(1);
}

/* Runs a shell command (every path in it is ours: no quoting needed);
 * returns its wall time in seconds. */
static double shell(const char *cmd)
{
  double t0 = now_s();

  if (system(cmd) != 0) {
    fprintf(stderr, "bench-s3: failed: %s\n", cmd);
    die("a command failed");
  }
  return now_s() - t0;
}

static double aws_cli(const char *args)
{
  char cmd[4096];

  snprintf(cmd, sizeof(cmd), "%s --endpoint-url %s %s >/dev/null", AWS_CLI, url,
           args);
  return shell(cmd);
}

static void write_file(const char *path, long long size, unsigned seed)
{
  FILE *f = fopen(path, "wb");
  static unsigned char block[1 << 16];
  unsigned x = seed | 1;
  long long left = size;
  size_t i;

  if (f == NULL)
    die("cannot write the test files");
  while (left > 0) {
    size_t n = left < (long long)sizeof(block) ? (size_t)left : sizeof(block);

    /* Incompressible bytes, so nothing along the way can shortcut. */
    for (i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      block[i] = (unsigned char)x;
    }
    if (fwrite(block, 1, n, f) != n)
      die("cannot write the test files");
    left -= (long long)n;
  }
  fclose(f);
}

static void start_engine(void)
{
  char cmd[2048], path[600], err[256];
  FILE *f;
  int port = 0;

  snprintf(cmd, sizeof(cmd),
           "%s local start --port 0 --data-dir %s >/dev/null 2>&1", sagerun_bin,
           data_dir);
  shell(cmd);
  engine_started = 1;
  snprintf(path, sizeof(path), "%s/engine.port", data_dir);
  f = fopen(path, "r");
  if (f == NULL || fscanf(f, "%d", &port) != 1)
    die("no engine.port");
  fclose(f);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
  if (local_credentials_load(data_dir, &cred, err, sizeof(err)) != 0)
    die(err);
  /* The CLI gets the engine's credentials and nothing of this machine's
   * AWS configuration. */
  setenv("AWS_ACCESS_KEY_ID", cred.access_key_id, 1);
  setenv("AWS_SECRET_ACCESS_KEY", cred.secret_access_key, 1);
  setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
  setenv("AWS_CONFIG_FILE", "/dev/null", 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
  unsetenv("AWS_PROFILE");
  unsetenv("AWS_SESSION_TOKEN");
}

static void stop_engine(void)
{
  char cmd[2048];

  snprintf(cmd, sizeof(cmd), "%s local stop --data-dir %s >/dev/null 2>&1",
           sagerun_bin, data_dir);
  engine_started = 0;
  if (system(cmd) != 0)
    fprintf(stderr, "bench-s3: could not stop the engine\n");
}

/* ---- sagerun's client ---------------------------------------------- */

struct batch {
  int pending, failed;
};

static void on_done(struct s3_op *op, const struct s3_result *r, void *data)
{
  struct batch *b = data;

  (void)op;
  if (r->error) {
    fprintf(stderr, "bench-s3: %s %s\n", r->error_code ? r->error_code : "",
            r->error_message ? r->error_message : "");
    b->failed++;
  }
  b->pending--;
}

static void closed(void *data)
{
  *(int *)data = 1;
}

struct client {
  uv_loop_t loop;
  struct aws_client *c;
};

static void client_open(struct client *cl)
{
  struct aws_credentials ac;
  struct aws_client_opts o;

  memset(&ac, 0, sizeof(ac));
  ac.access_key_id = cred.access_key_id;
  ac.secret_access_key = cred.secret_access_key;
  ac.source = "static";
  memset(&o, 0, sizeof(o));
  uv_loop_init(&cl->loop);
  o.loop = &cl->loop;
  o.region = "us-east-1";
  o.local_url = url;
  o.credentials = &ac;
  if (aws_client_new(&o, &cl->c) != 0)
    die("aws_client_new");
}

static void client_close(struct client *cl)
{
  int done = 0;

  aws_client_close(cl->c, closed, &done);
  while (!done)
    uv_run(&cl->loop, UV_RUN_ONCE);
  uv_run(&cl->loop, UV_RUN_DEFAULT);
  uv_loop_close(&cl->loop);
}

static double wait_batch(struct client *cl, struct batch *b, double t0)
{
  while (b->pending > 0)
    uv_run(&cl->loop, UV_RUN_ONCE);
  if (b->failed)
    die("a sagerun transfer failed");
  return now_s() - t0;
}

static double ours_upload_big(struct client *cl, const char *path)
{
  struct s3_upload_opts o;
  struct batch b = {1, 0};
  double t0 = now_s();

  memset(&o, 0, sizeof(o));
  o.bucket = "bench";
  o.key = "big-ours";
  o.path = path;
  if (s3_upload_file(cl->c, &o, on_done, &b, NULL) != 0)
    die("s3_upload_file");
  return wait_batch(cl, &b, t0);
}

static double ours_download_big(struct client *cl, const char *path)
{
  struct batch b = {1, 0};
  double t0 = now_s();

  if (s3_download_file(cl->c, "bench", "big-ours", path, on_done, &b, NULL) !=
      0)
    die("s3_download_file");
  return wait_batch(cl, &b, t0);
}

static double ours_small(struct client *cl, const char *dir, int up)
{
  struct batch b = {SMALL_N, 0};
  char key[64], path[600];
  static char body[SMALL_SIZE];
  double t0 = now_s();
  int i, rc;

  for (i = 0; i < SMALL_N; i++) {
    snprintf(key, sizeof(key), "small-ours/%03d", i);
    if (up) {
      struct s3_put_opts o;

      /* From memory, as the steps write small objects. */
      memset(&o, 0, sizeof(o));
      memset(body, 'a' + i % 26, sizeof(body));
      o.bucket = "bench";
      o.key = key;
      o.body = body;
      o.body_len = sizeof(body);
      rc = s3_put_object(cl->c, &o, on_done, &b, NULL);
    } else {
      snprintf(path, sizeof(path), "%s/%03d", dir, i);
      rc = s3_download_file(cl->c, "bench", key, path, on_done, &b, NULL);
    }
    if (rc != 0)
      die("could not start a small transfer");
  }
  return wait_batch(cl, &b, t0);
}

static void machine(void)
{
  struct utsname u;
  char line[256], model[200] = "?";
  FILE *f = fopen("/proc/cpuinfo", "r");

  while (f && fgets(line, sizeof(line), f))
    if (strncmp(line, "model name", 10) == 0) {
      const char *c = strchr(line, ':');

      snprintf(model, sizeof(model), "%.190s", c ? c + 2 : line);
      model[strcspn(model, "\n")] = '\0';
      break;
    }
  if (f)
    fclose(f);
  uname(&u);
  printf("Machine: %ld CPUs, %s, %s %s %s\n\n", sysconf(_SC_NPROCESSORS_ONLN),
         model, u.sysname, u.release, u.machine);
}

static void row(const char *what, double ours, double cli, double mib)
{
  printf("| %-30s | %9.3f | %8.1f | %8.3f | %8.1f | %5.2fx |\n", what, ours,
         mib / ours, cli, mib / cli, cli / ours);
}

int main(void)
{
  double t[8][RUNS], startup[RUNS];
  char big[600], small_dir[600], cmd[2048], args[2048];
  struct client cl;
  const char *bin = getenv("SAGERUN_BIN");
  int i, r;

  if (access(AWS_CLI, X_OK) != 0) {
    printf("bench-s3: skipped, %s is not installed\n", AWS_CLI);
    return 0;
  }
  snprintf(sagerun_bin, sizeof(sagerun_bin), "%s",
           bin ? bin : "build/default/sagerun");
  if (mkdtemp(tmp) == NULL)
    die("mkdtemp");
  snprintf(data_dir, sizeof(data_dir), "%s/engine", tmp);
  snprintf(big, sizeof(big), "%s/big.bin", tmp);
  snprintf(small_dir, sizeof(small_dir), "%s/small", tmp);
  write_file(big, BIG, 7);
  if (mkdir(small_dir, 0700) != 0)
    die("mkdir");
  for (i = 0; i < SMALL_N; i++) {
    char p[700];

    snprintf(p, sizeof(p), "%s/%03d", small_dir, i);
    write_file(p, SMALL_SIZE, (unsigned)i + 11);
  }
  start_engine();
  aws_cli("s3 mb s3://bench");
  client_open(&cl);
  for (r = 0; r < RUNS; r++) {
    char down[700];

    t[0][r] = ours_upload_big(&cl, big);
    snprintf(args, sizeof(args), "s3 cp --no-progress %s s3://bench/big-cli",
             big);
    t[1][r] = aws_cli(args);
    snprintf(down, sizeof(down), "%s/big.down", tmp);
    t[2][r] = ours_download_big(&cl, down);
    unlink(down);
    snprintf(args, sizeof(args), "s3 cp --no-progress s3://bench/big-cli %s",
             down);
    t[3][r] = aws_cli(args);
    unlink(down);
    t[4][r] = ours_small(&cl, NULL, 1);
    snprintf(args, sizeof(args),
             "s3 cp --no-progress --recursive %s s3://bench/small-cli/",
             small_dir);
    t[5][r] = aws_cli(args);
    snprintf(down, sizeof(down), "%s/down-%d", tmp, r);
    if (mkdir(down, 0700) != 0)
      die("mkdir");
    t[6][r] = ours_small(&cl, down, 0);
    snprintf(args, sizeof(args),
             "s3 cp --no-progress --recursive s3://bench/small-cli/ %s", down);
    t[7][r] = aws_cli(args);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", down);
    shell(cmd);
    startup[r] = aws_cli("--version");
  }
  client_close(&cl);
  stop_engine();
  snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
  shell(cmd);

  printf("## S3 throughput: sagerun's client vs the AWS CLI "
         "(bench/bench-s3.c)\n\n");
  machine();
  printf("Same local engine (`sagerun local start`, loopback), wall seconds "
         "and MiB/s, median of %d runs. AWS CLI %s `s3 cp`.\n\n",
         RUNS, "2.9 (Debian awscli)");
  printf("| transfer                       | sagerun s | MiB/s    |  aws s   "
         "| MiB/s    | ratio |\n"
         "|--------------------------------|-----------|----------|----------"
         "|----------|--------|\n");
  row("256 MiB upload (multipart)", median(t[0], RUNS), median(t[1], RUNS),
      256);
  row("256 MiB download", median(t[2], RUNS), median(t[3], RUNS), 256);
  row("100 x 16 KiB upload", median(t[4], RUNS), median(t[5], RUNS),
      SMALL_N * SMALL_SIZE / 1048576.0);
  row("100 x 16 KiB download", median(t[6], RUNS), median(t[7], RUNS),
      SMALL_N * SMALL_SIZE / 1048576.0);
  printf("\nratio: the CLI's time over sagerun's. `aws --version` alone "
         "takes %.3f s (the CLI's start, included in its times).\n\n",
         median(startup, RUNS));
  return 0;
}
