/* GDELT preparation, sagerun against the seed's pandas code, on the same
 * 1979-sized file: the local engine's synthetic 1979 (about 0.43 M rows,
 * 57 columns; local/gdelt_synth.h), written once to a temporary
 * directory.
 *
 * sagerun: `sagerun run` of a workflow with gdelt.top_events (the top 20
 * codes) and gdelt.prepare (filter, one-hot, shuffle, split 90/10,
 * RecordIO-protobuf), file:// source and destinations: the whole
 * program, process start and state store included.
 * pandas: tests/peers/gdelt_seed.py seed, the notebook's sequence (read
 * the year for the exploration and its top 20, then prepare_gdelt, which
 * reads it again), by Debian's /usr/bin/python3.
 *
 * Wall time and peak resident memory (getrusage of the child, maxrss) of
 * each, median of RUNS runs. Prints a Markdown table and the ratios
 * against issue 7's goal (at least 20x less time, at most 1/8 of the
 * memory). Set SAGERUN_BENCH_SCALE (e.g. 0.1) for a quicker run, and
 * SAGERUN_BENCH_KEEP=1 to keep the directory (its path is printed). */
#define _DEFAULT_SOURCE /* wait4: the rusage of one child */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../local/gdelt_synth.h"
#include "../runner/buf.h"

#define RUNS 5
#define PANDAS_RUNS 3
#define PEER_PYTHON "/usr/bin/python3"

struct measure {
  double seconds, cpu;
  long maxrss_kb;
  int status;
};

static double now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs argv in dir with stdout to /dev/null; wall time and the child's
 * peak RSS. */
static struct measure run(const char *const argv[], const char *dir)
{
  struct measure m = {0, 0, 0, -1};
  struct rusage ru;
  double t0 = now_s();
  int status;
  pid_t pid = fork();

  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0)
      dup2(null, 1);
    if (dir && chdir(dir) != 0)
      _exit(126);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  if (pid < 0)
    return m;
  if (wait4(pid, &status, 0, &ru) < 0)
    return m;
  m.seconds = now_s() - t0;
  m.cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
  m.maxrss_kb = ru.ru_maxrss;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return m;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static int cmp_long(const void *a, const void *b)
{
  long x = *(const long *)a, y = *(const long *)b;

  return x < y ? -1 : x > y;
}

/* Medians of wall time, CPU time and peak memory of n runs; -1 when one
 * failed. */
static int median(const char *const argv[], const char *dir, int n,
                  struct measure *out)
{
  double t[RUNS], c[RUNS];
  long k[RUNS];
  int i;

  for (i = 0; i < n; i++) {
    struct measure m = run(argv, dir);
    if (m.status != 0) {
      fprintf(stderr, "bench-prepare: %s exited with %d\n", argv[0], m.status);
      return -1;
    }
    t[i] = m.seconds;
    c[i] = m.cpu;
    k[i] = m.maxrss_kb;
  }
  qsort(t, (size_t)n, sizeof(*t), cmp_double);
  qsort(c, (size_t)n, sizeof(*c), cmp_double);
  qsort(k, (size_t)n, sizeof(*k), cmp_long);
  out->seconds = t[n / 2];
  out->cpu = c[n / 2];
  out->maxrss_kb = k[n / 2];
  out->status = 0;
  return 0;
}

static int sink(void *arg, const void *data, size_t len)
{
  return fwrite(data, 1, len, arg) == len ? 0 : -EIO;
}

int main(int argc, char **argv)
{
  char dir[] = "/tmp/sagerun-bench-prepare-XXXXXX";
  const char *scale_env = getenv("SAGERUN_BENCH_SCALE");
  double scale = scale_env ? strtod(scale_env, NULL) : 1.0;
  struct measure sg = {0, 0, 0, 0}, pd = {0, 0, 0, 0};
  struct buf b;
  struct stat st;
  char *bin, *src, *wf, *script = NULL, *train, *validation;
  const char *slash = strrchr(argv[0], '/');
  long long rows = gdelt_synth_rows(1979, scale);
  int have_pandas = access(PEER_PYTHON, X_OK) == 0, rc = 1;
  FILE *f;

  (void)argc;
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  buf_init(&b, 1 << 16);
  /* sagerun next to this binary, by absolute path: runs chdir. */
  if (argv[0][0] != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
      return 1;
    buf_addf(&b, "%s/", cwd);
  }
  buf_add(&b, argv[0], slash ? (size_t)(slash - argv[0] + 1) : 0);
  buf_adds(&b, "sagerun");
  bin = buf_detach(&b, NULL);
  buf_addf(&b, "%s/1979.csv", dir);
  src = buf_detach(&b, NULL);
  buf_addf(&b, "%s/prepare.yaml", dir);
  wf = buf_detach(&b, NULL);
  buf_addf(&b, "%s/train.data", dir);
  train = buf_detach(&b, NULL);
  buf_addf(&b, "%s/validation.data", dir);
  validation = buf_detach(&b, NULL);
  {
    char cwd[4096];
    if (getcwd(cwd, sizeof(cwd)) == NULL)
      goto out;
    buf_addf(&b, "%s/tests/peers/gdelt_seed.py", cwd);
    script = buf_detach(&b, NULL);
  }

  f = fopen(src, "wb");
  if (f == NULL || gdelt_synth_generate(1979, scale, sink, f) != 0) {
    fprintf(stderr, "bench-prepare: cannot write %s\n", src);
    goto out;
  }
  fclose(f);
  stat(src, &st);
  f = fopen(wf, "w");
  if (f == NULL)
    goto out;
  fprintf(f,
          "name: bench-prepare\n"
          "steps:\n"
          "  events:\n"
          "    uses: gdelt.top_events\n"
          "    with: {source: \"file://%s\", count: 20}\n"
          "  prepare:\n"
          "    uses: gdelt.prepare\n"
          "    with:\n"
          "      source: \"file://%s\"\n"
          "      events: \"${{ steps.events.outputs.codes }}\"\n"
          "      train: \"file://%s\"\n"
          "      validation: \"file://%s\"\n",
          src, src, train, validation);
  fclose(f);

  {
    const char *args[] = {bin, "run", wf, NULL};
    if (median(args, dir, RUNS, &sg) != 0)
      goto out;
  }
  if (have_pandas) {
    const char *args[] = {PEER_PYTHON, script, "seed",         src,
                          "--train",   train,  "--validation", validation,
                          NULL};
    if (median(args, dir, PANDAS_RUNS, &pd) != 0)
      goto out;
  }

  printf("\n## GDELT preparation (bench/bench-prepare.c)\n\n");
  printf("Synthetic 1979 (local/gdelt_synth.h, scale %g): %lld rows, %.1f "
         "MB. top 20 EventCodes, then filter, one-hot, shuffle, split "
         "90/10 and RecordIO-protobuf; wall time, CPU time (user + system) "
         "and peak RSS of the whole process, median of %d (sagerun) and %d "
         "(pandas) runs.\n\n",
         scale, rows, (double)st.st_size / 1e6, RUNS, PANDAS_RUNS);
  printf("| program                                  | wall s |  CPU s | "
         "peak MiB |\n");
  printf("|------------------------------------------|--------|--------|-"
         "---------|\n");
  printf("| sagerun run (top_events + prepare)       | %6.3f | %6.3f | "
         "%8.1f |\n",
         sg.seconds, sg.cpu, (double)sg.maxrss_kb / 1024);
  if (have_pandas) {
    printf("| pandas seed (python3-pandas, read twice) | %6.3f | %6.3f | "
           "%8.1f |\n",
           pd.seconds, pd.cpu, (double)pd.maxrss_kb / 1024);
    printf("\nsagerun: %.1fx less wall time (goal: 20x), %.1fx less CPU "
           "time, %.1fx less peak memory (goal: 8x).\n",
           pd.seconds / sg.seconds, pd.cpu / sg.cpu,
           (double)pd.maxrss_kb / (double)sg.maxrss_kb);
  } else {
    printf("\n(pandas not measured: %s not installed)\n", PEER_PYTHON);
  }
  rc = 0;
out:
  if (getenv("SAGERUN_BENCH_KEEP")) {
    fprintf(stderr, "bench-prepare: kept %s\n", dir);
  } else {
    const char *args[] = {"/bin/rm", "-rf", dir, NULL};
    run(args, NULL);
  }
  free(bin);
  free(src);
  free(wf);
  free(script);
  free(train);
  free(validation);
  return rc;
}
