/* Runner overhead with 1,000 concurrent waiting steps: a generated
 * workflow of core.wait x 1,000 (for_each, max_parallel 1000, 2 s each)
 * loaded, expanded and run in-process through runner/exec.h.
 *
 * Reported: memory per waiting step (RSS once all 1,000 have started,
 * minus RSS just before exec_run, over 1,000), the loop's latency (the
 * lateness of a 10 ms repeating uv_timer on the run's loop: median, p99
 * and max), the time to start all 1,000, and the run's wall time beyond
 * the 2 s wait. Each run is a fresh child process, so that one run's
 * freed memory does not hide the next one's; the table has medians. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/dag.h"
#include "../runner/diag.h"
#include "../runner/exec.h"
#include "../runner/workflow.h"

#define RUNS 5
#define STEPS 1000
#define WAIT_S 2.0
#define TICK_MS 10
#define MAX_TICKS 4096

struct sample {
  double kib_per_step;
  double lag_median_ms, lag_p99_ms, lag_max_ms;
  double start_all_ms; /* exec_run's start to the 1,000th STARTED */
  double overhead_ms;  /* wall time of exec_run minus the wait */
  int ok;
};

struct probe {
  uv_timer_t tick;
  double last_ms;
  double lags[MAX_TICKS];
  size_t nlags;
  long rss_before_kib, rss_peak_kib;
  int started;
  double t0_ms, all_started_ms;
};

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Resident set in KiB, from /proc/self/statm. */
static long rss_kib(void)
{
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;

  if (f == NULL)
    return 0;
  if (fscanf(f, "%ld %ld", &size, &resident) != 2)
    resident = 0;
  fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
  qsort(v, n, sizeof(*v), cmp_double);
  return n ? v[n / 2] : 0;
}

static void on_tick(uv_timer_t *t)
{
  struct probe *p = t->data;
  double now = now_ms();

  if (p->last_ms > 0 && p->nlags < MAX_TICKS)
    p->lags[p->nlags++] = now - p->last_ms - TICK_MS;
  p->last_ms = now;
}

static void on_event(void *data, const struct exec_event *ev)
{
  struct probe *p = data;

  if (ev->kind == EXEC_EVENT_STARTED && ++p->started == STEPS) {
    p->all_started_ms = now_ms();
    p->rss_peak_kib = rss_kib();
  }
}

static struct sample run_once(const char *text)
{
  struct sample s;
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct exec_opts opts;
  struct exec_summary sum;
  struct probe *p = calloc(1, sizeof(*p));
  uv_loop_t loop;
  double t1;

  memset(&s, 0, sizeof(s));
  diags_init(&diags);
  if (p == NULL ||
      workflow_load_text("bench.yaml", text, strlen(text), NULL, &wf, &diags) ||
      dag_expand(wf, &dag, &diags)) {
    diags_print(&diags, stderr, 0);
    exit(1);
  }
  uv_loop_init(&loop);
  uv_timer_init(&loop, &p->tick);
  p->tick.data = p;
  uv_timer_start(&p->tick, on_tick, TICK_MS, TICK_MS);
  /* The probe must not keep exec_run's loop alive past the run. */
  uv_unref((uv_handle_t *)&p->tick);
  memset(&opts, 0, sizeof(opts));
  opts.run_id = "bench";
  opts.on_event = on_event;
  opts.event_data = p;
  p->rss_before_kib = rss_kib();
  p->t0_ms = now_ms();
  s.ok = exec_run(&loop, dag, &opts, &sum) == 0 && sum.succeeded == STEPS;
  t1 = now_ms();
  exec_summary_free(&sum);
  uv_close((uv_handle_t *)&p->tick, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  s.kib_per_step = (double)(p->rss_peak_kib - p->rss_before_kib) / STEPS;
  s.start_all_ms = p->all_started_ms - p->t0_ms;
  s.overhead_ms = t1 - p->t0_ms - WAIT_S * 1e3;
  qsort(p->lags, p->nlags, sizeof(double), cmp_double);
  if (p->nlags) {
    s.lag_median_ms = p->lags[p->nlags / 2];
    s.lag_p99_ms = p->lags[p->nlags * 99 / 100];
    s.lag_max_ms = p->lags[p->nlags - 1];
  }
  free(p);
  dag_free(dag);
  workflow_free(wf);
  diags_free(&diags);
  return s;
}

/* One run in a child, its sample back through a pipe. */
static int run_child(const char *text, struct sample *out)
{
  int fds[2], status;
  pid_t pid;
  ssize_t n;

  if (pipe(fds) != 0)
    return -1;
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    struct sample s = run_once(text);

    close(fds[0]);
    if (write(fds[1], &s, sizeof(s)) != (ssize_t)sizeof(s))
      _exit(1);
    _exit(0);
  }
  close(fds[1]);
  n = read(fds[0], out, sizeof(*out));
  close(fds[0]);
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0 || n != (ssize_t)sizeof(*out) || !out->ok)
    return -1;
  return 0;
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

int main(void)
{
  double kib[RUNS], med[RUNS], p99[RUNS], max[RUNS], start[RUNS], over[RUNS];
  struct sample s;
  struct buf text;
  int i;

  buf_init(&text, 1 << 20);
  buf_adds(&text, "name: bench\nmax_parallel: 1000\nparams:\n  ids: [");
  for (i = 0; i < STEPS; i++)
    buf_addf(&text, "%s%d", i ? ", " : "", i);
  buf_addf(&text,
           "]\nsteps:\n  w:\n    uses: core.wait\n"
           "    for_each: {id: \"${{ params.ids }}\"}\n"
           "    with: {seconds: %g}\n",
           WAIT_S);
  fflush(stdout);
  for (i = 0; i < RUNS; i++) {
    if (run_child(buf_str(&text), &s) != 0) {
      fprintf(stderr, "bench-runner: run %d failed\n", i + 1);
      return 1;
    }
    kib[i] = s.kib_per_step;
    med[i] = s.lag_median_ms;
    p99[i] = s.lag_p99_ms;
    max[i] = s.lag_max_ms;
    start[i] = s.start_all_ms;
    over[i] = s.overhead_ms;
  }
  buf_free(&text);
  printf("## Runner overhead: 1,000 concurrent waiting steps "
         "(bench/bench-runner.c)\n\n");
  machine();
  printf("core.wait x %d (for_each, max_parallel 1000, %g s each), run "
         "in-process by exec_run; median of %d runs, each in a fresh "
         "process.\n\n",
         STEPS, WAIT_S, RUNS);
  printf("| measurement                              |     value |\n"
         "|------------------------------------------|-----------|\n");
  printf("| memory per waiting step (RSS delta/1000) | %5.2f KiB |\n",
         median(kib, RUNS));
  printf("| time to start all 1,000 steps            | %6.1f ms |\n",
         median(start, RUNS));
  printf("| loop lag of a 10 ms timer, median        | %6.2f ms |\n",
         median(med, RUNS));
  printf("| loop lag of a 10 ms timer, p99           | %6.2f ms |\n",
         median(p99, RUNS));
  printf("| loop lag of a 10 ms timer, max           | %6.2f ms |\n",
         median(max, RUNS));
  printf("| run wall time beyond the 2 s wait        | %6.1f ms |\n\n",
         median(over, RUNS));
  return 0;
}
