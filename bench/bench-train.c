/* Training throughput of the linear learner (local/linear_learner.h)
 * against scikit-learn's SGDRegressor on the same rows and epochs, one
 * core each. The rows are GDELT-shaped (25 features: five numeric, twenty
 * one-hot event codes; a weak signal under heavy-tailed noise) and the
 * hyperparameters the seed's (mini_batch_size 500, 2 epochs, 32 models).
 * Timed: for ours the scaler, the epochs and the final choice; for
 * scikit-learn StandardScaler + SGDRegressor.fit (measured inside Python,
 * loading excluded). Validation MSE is measured untimed. Prints a
 * Markdown table, median of RUNS runs. The peer runs under Debian's
 * /usr/bin/python3 (python3-sklearn); without it its row says so. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../local/linear_learner.h"
#include "../runner/buf.h"

#define RUNS 3
#define ROWS 500000
#define VALID_ROWS 50000
#define DIM 25
#define EPOCHS 2
#define PEER_PYTHON "/usr/bin/python3"
#define PEER_SCRIPT "tests/peers/ll_sklearn.py"

static uint64_t rng_state = 42;

static double uniform(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

static double gauss(void)
{
  return sqrt(-2 * log(uniform())) * cos(2 * 3.14159265358979 * uniform());
}

/* n GDELT-like rows: NumArticles, two lat/long pairs, a one-hot code. */
static void generate(float *x, float *y, size_t n)
{
  size_t i, j;

  for (i = 0; i < n; i++) {
    float *r = x + i * DIM;
    size_t code = (size_t)(uniform() * uniform() * 20);
    double t = 0.5;

    r[0] = (float)(1 + 30 * uniform() * uniform());
    r[1] = (float)(40 + 15 * gauss());
    r[2] = (float)(-20 + 60 * gauss());
    r[3] = (float)(40 + 15 * gauss());
    r[4] = (float)(-20 + 60 * gauss());
    for (j = 0; j < 20; j++)
      r[5 + j] = j == code ? 1.0f : 0.0f;
    t += 0.05 * r[0] - 0.02 * r[1] + 0.004 * r[2] + 0.3 * (double)code / 5;
    t += 3 * gauss() * (uniform() < 0.9 ? 1 : 3);
    y[i] = (float)t;
  }
}

static double now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
  double p = *(const double *)a, q = *(const double *)b;

  return p < q ? -1 : p > q;
}

struct result {
  double seconds; /* median */
  double mse;
};

/* Trains once with the given loss and model count; seconds and the
 * validation MSE of the chosen model. */
static int train_once(const float *x, const float *y, const float *vx,
                      const float *vy, const char *loss, const char *models,
                      double *seconds, double *mse)
{
  const char *names[] = {"predictor_type", "feature_dim", "mini_batch_size",
                         "epochs",         "num_models",  "loss"};
  const char *values[] = {"regressor", "25", "500", "2", models, loss};
  struct ll_config c;
  struct ll_moments mo;
  struct ll_trainer *t = NULL;
  struct ll_model *m = NULL;
  struct ll_epoch_report r;
  struct buf err;
  float *s;
  double t0, sum = 0;
  size_t i, e;
  int rc = 1;

  buf_init(&err, 4096);
  s = malloc(VALID_ROWS * sizeof(float));
  if (s == NULL || ll_moments_init(&mo, DIM, 10000) != 0) {
    free(s);
    return 1;
  }
  t0 = now_s();
  if (ll_config_parse(&c, names, values, 6, &err) != 0 ||
      ll_config_check_dim(&c, DIM, &err) != 0)
    goto out;
  ll_moments_add(&mo, x, y, ROWS);
  if (ll_trainer_new(&t, &c, &mo, &err) != 0)
    goto out;
  for (e = 0; e < EPOCHS; e++) {
    ll_epoch_begin(t);
    if (ll_train_rows(t, x, y, ROWS) != 0 || ll_epoch_end(t) != 0)
      goto out;
    ll_epoch_finish(t, NULL, &r);
  }
  if (ll_trainer_finish(t, &m, &err) != 0)
    goto out;
  *seconds = now_s() - t0;
  ll_predict(m, vx, VALID_ROWS, s, NULL);
  for (i = 0; i < VALID_ROWS; i++)
    sum += ((double)s[i] - vy[i]) * ((double)s[i] - vy[i]);
  *mse = sum / VALID_ROWS;
  rc = 0;
out:
  if (rc)
    fprintf(stderr, "bench-train: %s\n", buf_str(&err));
  ll_model_free(m);
  ll_trainer_free(t);
  ll_moments_free(&mo);
  buf_free(&err);
  free(s);
  return rc;
}

static int ours(const float *x, const float *y, const float *vx,
                const float *vy, const char *loss, const char *models,
                struct result *res)
{
  double secs[RUNS];
  int r;

  for (r = 0; r < RUNS; r++)
    if (train_once(x, y, vx, vy, loss, models, &secs[r], &res->mse) != 0)
      return 1;
  qsort(secs, RUNS, sizeof(double), cmp_double);
  res->seconds = secs[RUNS / 2];
  return 0;
}

static int write_rows(const char *path, const float *x, const float *y,
                      size_t n)
{
  FILE *f = fopen(path, "wb");
  size_t i;
  int ok = f != NULL;

  for (i = 0; ok && i < n; i++)
    ok = fwrite(&y[i], sizeof(float), 1, f) == 1 &&
         fwrite(x + i * DIM, sizeof(float), DIM, f) == DIM;
  if (f != NULL && fclose(f) != 0)
    ok = 0;
  return ok ? 0 : 1;
}

/* scikit-learn's median fit time; 1 when the peer cannot run. */
static int peer(const char *dir, struct result *res)
{
  char cmd[8192], line[256];
  double secs[RUNS];
  int r;

  if (access(PEER_PYTHON, X_OK) != 0 || access(PEER_SCRIPT, R_OK) != 0)
    return 1;
  snprintf(cmd, sizeof(cmd), "%s %s bench %s/train.f32 %s/valid.f32 %d %d",
           PEER_PYTHON, PEER_SCRIPT, dir, dir, DIM, EPOCHS);
  for (r = 0; r < RUNS; r++) {
    FILE *p = popen(cmd, "r");
    int got = 0;

    if (p == NULL)
      return 1;
    while (fgets(line, sizeof(line), p) != NULL) {
      if (strncmp(line, "fit_seconds ", 12) == 0)
        got |= sscanf(line + 12, "%lf", &secs[r]) == 1;
      else if (strncmp(line, "valid_mse ", 10) == 0)
        got |= (sscanf(line + 10, "%lf", &res->mse) == 1) << 1;
    }
    if (pclose(p) != 0 || got != 3)
      return 1;
  }
  qsort(secs, RUNS, sizeof(double), cmp_double);
  res->seconds = secs[RUNS / 2];
  return 0;
}

static void row(const char *name, int models, const char *loss,
                const struct result *res)
{
  double updates = (double)ROWS * EPOCHS;

  printf("| %-32s | %6d | %-13s | %8.3f | %9.2f | %13.1f | %8.3f |\n", name,
         models, loss, res->seconds, updates / res->seconds / 1e6,
         updates * models / res->seconds / 1e6, res->mse);
}

int main(void)
{
  float *x, *y, *vx, *vy;
  struct result r32, r1, rab, rsk;
  char dir[] = "/tmp/sagerun-bench-train-XXXXXX", path[4096];
  int have_peer;

  x = malloc((size_t)ROWS * DIM * sizeof(float));
  y = malloc((size_t)ROWS * sizeof(float));
  vx = malloc((size_t)VALID_ROWS * DIM * sizeof(float));
  vy = malloc((size_t)VALID_ROWS * sizeof(float));
  if (!x || !y || !vx || !vy || mkdtemp(dir) == NULL)
    return 1;
  generate(x, y, ROWS);
  generate(vx, vy, VALID_ROWS);
  snprintf(path, sizeof(path), "%s/train.f32", dir);
  if (write_rows(path, x, y, ROWS) != 0)
    return 1;
  snprintf(path, sizeof(path), "%s/valid.f32", dir);
  if (write_rows(path, vx, vy, VALID_ROWS) != 0)
    return 1;

  printf("linear learner training, %d rows x %d features, %d epochs, "
         "mini_batch_size 500, one core; median of %d runs\n",
         ROWS, DIM, EPOCHS, RUNS);
#if defined(__x86_64__) && defined(__linux__) &&                               \
    (defined(__clang__) || defined(__GNUC__))
  printf("kernels: %s\n",
         __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
             ? "x86-64-v3 (AVX2, FMA)"
             : "baseline (SSE2)");
#endif
  printf("\n| %-32s | %6s | %-13s | %8s | %9s | %13s | %8s |\n", "trainer",
         "models", "loss", "seconds", "M rows/s", "M row-model/s", "val. MSE");
  printf("|%s|%s|%s|%s|%s|%s|%s|\n", "----------------------------------",
         "--------", "---------------", "----------", "-----------",
         "---------------", "----------");
  if (ours(x, y, vx, vy, "squared_loss", "32", &r32) ||
      ours(x, y, vx, vy, "squared_loss", "1", &r1) ||
      ours(x, y, vx, vy, "absolute_loss", "32", &rab))
    return 1;
  row("sagerun linear learner", 32, "squared_loss", &r32);
  row("sagerun linear learner", 32, "absolute_loss", &rab);
  row("sagerun linear learner", 1, "squared_loss", &r1);
  have_peer = peer(dir, &rsk) == 0;
  if (have_peer)
    row("scikit-learn SGDRegressor", 1, "squared_error", &rsk);
  else
    printf("| %-32s | %6d | %-13s | %8s | %9s | %13s | %8s |\n",
           "scikit-learn SGDRegressor", 1, "squared_error", "n/a", "n/a", "n/a",
           "n/a");
  if (have_peer)
    printf("\n32 models take %.2fx the time scikit-learn needs for one "
           "(goal: under 1)\n",
           r32.seconds / rsk.seconds);
  snprintf(path, sizeof(path), "%s/train.f32", dir);
  unlink(path);
  snprintf(path, sizeof(path), "%s/valid.f32", dir);
  unlink(path);
  rmdir(dir);
  free(x);
  free(y);
  free(vx);
  free(vy);
  return 0;
}
