/* The HTTP client under load: one loop keeps 1,000 GET /bytes/1024
 * requests in flight against the local test server until 10,000 are
 * done. Prints a Markdown table of requests per second, p50/p99 latency
 * (start to callback) and peak RSS growth per request in flight, next to
 * curl's own CLI (`curl --parallel --parallel-max 1000`) doing the same
 * when curl is installed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/http.h"

#define TOTAL 10000
#define INFLIGHT 1000
#define BODY 1024
#define RUNS 3

struct run {
  uv_loop_t *loop;
  struct http_client *c;
  char url[128];
  int started, done, ok;
  double *lat_ms;  /* per request */
  uint64_t *t0_ns; /* per request */
};

struct slot {
  struct run *run;
  int i;
};

static struct slot slots[TOTAL];

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long proc_status_kb(const char *field)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  size_t n = strlen(field);

  if (f == NULL)
    return -1;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, field, n) == 0) {
      kb = strtol(line + n, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
  int i = (int)(p * n);

  if (i >= n)
    i = n - 1;
  return v[i];
}

static void done_cb(struct http_request *req, const struct http_response *res,
                    void *data);

static int start_next(struct run *r)
{
  struct http_request_opts o = {0};
  struct slot *s = &slots[r->started];

  o.method = "GET";
  o.url = r->url;
  s->run = r;
  s->i = r->started;
  r->t0_ns[s->i] = uv_hrtime();
  r->started++;
  return http_request_start(r->c, &o, done_cb, s, NULL);
}

static void done_cb(struct http_request *req, const struct http_response *res,
                    void *data)
{
  struct slot *s = data;
  struct run *r = s->run;

  (void)req;
  r->lat_ms[s->i] = (double)(uv_hrtime() - r->t0_ns[s->i]) / 1e6;
  r->done++;
  r->ok += res->error == 0 && res->status == 200 && buf_len(&res->body) == BODY;
  if (r->started < TOTAL && start_next(r) != 0)
    r->done = TOTAL; /* give up; reported as failures */
}

static void closed_cb(void *data)
{
  (*(int *)data)++;
}

/* The table row numbers for one client. */
struct row {
  double rps, p50, p99, kb_per_req;
  int ok;
  long conns; /* curl CLI: connections it opened */
};

/* One run of TOTAL requests with inflight of them in flight; rss says
 * whether to measure the peak RSS growth (only meaningful the first time:
 * memory freed by a run stays with the process). */
static int bench_ours(int port, int inflight, int rss, struct row *row)
{
  uv_loop_t loop;
  struct run r;
  long rss0 = 0, hwm = 0;
  double t0, secs;
  int i, closed = 0;

  memset(&r, 0, sizeof(r));
  memset(row, 0, sizeof(*row));
  r.lat_ms = calloc(TOTAL, sizeof(double));
  r.t0_ns = calloc(TOTAL, sizeof(uint64_t));
  if (r.lat_ms == NULL || r.t0_ns == NULL || uv_loop_init(&loop) != 0)
    return -1;
  r.loop = &loop;
  snprintf(r.url, sizeof(r.url), "http://127.0.0.1:%d/bytes/%d", port, BODY);
  if (http_client_new(&loop, &r.c) != 0)
    return -1;
  if (rss)
    rss0 = proc_status_kb("VmRSS:");
  t0 = now_ms();
  for (i = 0; i < inflight; i++)
    if (start_next(&r) != 0)
      return -1;
  while (r.done < TOTAL)
    uv_run(&loop, UV_RUN_ONCE);
  secs = (now_ms() - t0) / 1e3;
  if (rss)
    hwm = proc_status_kb("VmHWM:");
  http_client_close(r.c, closed_cb, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (!closed || uv_loop_close(&loop) != 0)
    return -1;
  qsort(r.lat_ms, TOTAL, sizeof(double), cmp_double);
  row->rps = TOTAL / secs;
  row->p50 = pct(r.lat_ms, TOTAL, 0.50);
  row->p99 = pct(r.lat_ms, TOTAL, 0.99);
  row->kb_per_req = rss ? (double)(hwm - rss0) / inflight : -1;
  row->ok = r.ok;
  free(r.lat_ms);
  free(r.t0_ns);
  return 0;
}

/* Runs argv with stdout to out_path and stderr to /dev/null; returns the
 * exit status and the peak RSS in KiB of the largest child so far (run
 * the smaller first). */
static int run_child(const char *const argv[], const char *out_path,
                     long *maxrss_kb)
{
  struct rusage ru;
  int status;
  pid_t pid;

  fflush(stdout);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (freopen(out_path, "w", stdout) == NULL ||
        freopen("/dev/null", "w", stderr) == NULL)
      _exit(127);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  if (getrusage(RUSAGE_CHILDREN, &ru) != 0)
    return -1;
  *maxrss_kb = ru.ru_maxrss;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int bench_curl(const char *dir, int port, struct row *row)
{
  char cfg[4096], out[4096], single_url[128];
  const char *argv[12];
  double t0, secs;
  long rss_one, rss_par, conns;
  FILE *f;
  int i, n = 0;

  snprintf(cfg, sizeof(cfg), "%s/curl.cfg", dir);
  snprintf(out, sizeof(out), "%s/curl.out", dir);
  snprintf(single_url, sizeof(single_url), "http://127.0.0.1:%d/bytes/%d", port,
           BODY);
  f = fopen(cfg, "w");
  if (f == NULL)
    return -1;
  for (i = 0; i < TOTAL; i++)
    fprintf(f, "url = \"%s?%d\"\noutput = \"/dev/null\"\n", single_url, i);
  if (fclose(f) != 0)
    return -1;
  /* Its footprint with one transfer, to subtract. */
  argv[0] = "curl";
  argv[1] = "-s";
  argv[2] = "-o";
  argv[3] = "/dev/null";
  argv[4] = single_url;
  argv[5] = NULL;
  if (run_child(argv, out, &rss_one) != 0)
    return -1;
  argv[0] = "curl";
  argv[1] = "--no-progress-meter";
  argv[2] = "--parallel";
  argv[3] = "--parallel-immediate";
  argv[4] = "--parallel-max";
  argv[5] = "1000";
  argv[6] = "-w";
  argv[7] = "%{num_connects}\\n";
  argv[8] = "-K";
  argv[9] = cfg;
  argv[10] = NULL;
  t0 = now_ms();
  if (run_child(argv, out, &rss_par) != 0)
    return -1;
  secs = (now_ms() - t0) / 1e3;
  f = fopen(out, "r");
  if (f == NULL)
    return -1;
  memset(row, 0, sizeof(*row));
  while (fscanf(f, "%ld", &conns) == 1) {
    n++;
    row->conns += conns;
  }
  fclose(f);
  if (n == 0)
    return -1;
  row->rps = n / secs;
  row->p50 = row->p99 = -1;
  /* Per transfer it really ran at once: about one per connection. */
  row->kb_per_req =
      (double)(rss_par - rss_one) / (double)(row->conns ? row->conns : 1);
  row->ok = n;
  return 0;
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

/* Starts the test server found next to this binary; returns its pid and
 * port, or -1. */
static int server_start(const char *self, const char *dir, int *port)
{
  char bin[4096], port_file[4096];
  const char *slash = strrchr(self, '/');
  double deadline = now_ms() + 10000;
  pid_t pid;

  snprintf(bin, sizeof(bin), "%.*s/http-test-server",
           slash ? (int)(slash - self) : 1, slash ? self : ".");
  snprintf(port_file, sizeof(port_file), "%s/port", dir);
  fflush(stdout);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    execl(bin, bin, "--port-file", port_file, (char *)NULL);
    _exit(127);
  }
  while (now_ms() < deadline) {
    FILE *f = fopen(port_file, "r");

    if (f) {
      int ok = fscanf(f, "%d", port) == 1;

      fclose(f);
      if (ok)
        return pid;
    }
    nanosleep(&(struct timespec){0, 5000000}, NULL);
  }
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  return -1;
}

static void print_num(double v, const char *fmt)
{
  if (v < 0)
    printf(" %11s |", "n/a");
  else
    printf(fmt, v);
}

static void print_row(const char *name, const struct row *r)
{
  printf("| %-36s | %5d | %8.0f |", name, r->ok, r->rps);
  print_num(r->p50, " %11.1f |");
  print_num(r->p99, " %11.1f |");
  print_num(r->kb_per_req, " %11.1f |");
  printf("\n");
}

static int cmp_row_rps(const void *a, const void *b)
{
  const struct row *x = a, *y = b;

  return x->rps < y->rps ? -1 : x->rps > y->rps;
}

/* The median run by requests per second; the RSS figure comes from the
 * first run, the only one that measures it. */
static struct row median(struct row *runs)
{
  double kb = runs[0].kb_per_req;
  struct row m;

  qsort(runs, RUNS, sizeof(*runs), cmp_row_rps);
  m = runs[RUNS / 2];
  m.kb_per_req = kb;
  return m;
}

int main(int argc, char **argv)
{
  char dir[] = "/tmp/sagerun-bench-http-XXXXXX";
  struct row ours[RUNS], small[RUNS], peer[RUNS], m;
  int port, pid, have_curl, i, rc = 1;
  char rm[256];

  (void)argc;
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  pid = server_start(argv[0], dir, &port);
  if (pid < 0) {
    fprintf(stderr, "bench-http: cannot start http-test-server\n");
    goto out;
  }
  have_curl = system("command -v curl >/dev/null 2>&1") == 0;
  /* curl first: a child's peak RSS includes this process's size at fork
   * time, so it must be measured while this process is still small. */
  for (i = 0; have_curl && i < RUNS; i++)
    if (bench_curl(dir, port, &peer[i]) != 0)
      have_curl = 0;
  for (i = 0; i < RUNS; i++)
    if (bench_ours(port, INFLIGHT, i == 0, &ours[i]) != 0 ||
        bench_ours(port, 64, 0, &small[i]) != 0) {
      fprintf(stderr, "bench-http: the client run failed\n");
      goto stop;
    }
  machine();
  printf("%d x GET /bytes/%d on 127.0.0.1 (http-test-server: libmicrohttpd, "
         "epoll, 2 threads); median of %d runs\n\n",
         TOTAL, BODY, RUNS);
  printf("| %-36s | %5s | %8s | %11s | %11s | %11s |\n", "client", "ok",
         "req/s", "p50 ms", "p99 ms", "KiB/in-fl.");
  printf("|--------------------------------------|-------|----------|"
         "-------------|-------------|-------------|\n");
  m = median(ours);
  print_row("http.c, 1000 in flight, one loop", &m);
  rc = m.ok == TOTAL ? 0 : 1;
  m = median(small);
  print_row("http.c, 64 in flight, one loop", &m);
  if (have_curl) {
    m = median(peer);
    print_row("curl CLI --parallel-max 1000", &m);
  }
  printf("\nLatency is start to callback, so at 1000 in flight it is mostly "
         "the wait\nfor one of the client's 64 connections per host. "
         "KiB/in-fl. is peak RSS\ngrowth over the run divided by the "
         "requests in flight.\n");
  if (have_curl)
    printf("curl CLI: the same URLs from a -K file, --parallel-immediate; "
           "it opened %ld\nconnections; its per-transfer times are not "
           "comparable (cached clock), so\nno latency; its RSS growth is "
           "over a one-transfer curl run,\nper connection.\n",
           m.conns);
  else
    printf("curl CLI not found: no peer row.\n");
stop:
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
out:
  snprintf(rm, sizeof(rm), "rm -rf %s", dir);
  if (system(rm) != 0)
    rc = 1;
  return rc;
}
