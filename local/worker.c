/* The training worker: see worker.h for how it is started and the
 * protocol. This file is what runs inside one "instance": it copies its
 * objects, reads its channels, and trains linear-learner in lockstep with
 * the other instances, logging as SageMaker's container does.
 *
 * Channel rows are read once, in the first pass, into a cache file per
 * channel under WORK (blocks of CACHE_BLOCK rows: the features, then the
 * labels), which every epoch streams back; the first pass also feeds the
 * scaler. Parsing is then paid once, reading every epoch, as the
 * container reads its files every epoch.
 *
 * Synchronisation (linear_learner.h's model averaging): after each epoch
 * (more often with SAGERUN_SYNCS_PER_EPOCH=K in the job's Environment,
 * K from 1 to 1000: each instance splits its rows into K equal segments
 * and syncs after each) the instances' parameters are replaced by their
 * mean weighted by the rows each trained since the last sync; an
 * instance with no rows takes part with weight 0. Evaluation sums are
 * merged the same way, so every instance takes the same decisions.
 *
 * Everything a worker allocates hangs off struct wk and is freed before
 * it exits, whatever the outcome (LeakSanitizer checks workers too). */
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "linear_learner.h"
#include "llio.h"

#define CACHE_BLOCK 4096 /* rows per cache block */
#define COPY_CHUNK (1 << 20)
#define MAX_SYNCS 1000

enum { CH_TRAIN, CH_VALIDATION, CH_TEST, CH_COUNT };

static const char *const channel_names[CH_COUNT] = {"train", "validation",
                                                    "test"};

struct channel {
  int present;
  int replicated;          /* FullyReplicated: every instance has it all */
  enum llio_format format; /* LLIO_CSV or LLIO_RECORDIO */
  char cache[PATH_MAX];
  size_t rows;
};

/* Writes rows into a cache file, a block at a time. */
struct cache_writer {
  struct wk *w;
  FILE *f;
  size_t dim, k, rows;
  float *x, *y;
  struct ll_moments *moments; /* train: the scaler's sample, or NULL */
};

struct wk {
  const char *root, *work;
  char host[64];
  size_t rank, hosts;
  int syncs;
  json_t *hyperparameters, *inputs, *download;
  struct channel ch[CH_COUNT];
  struct ll_config config;
  size_t dim;
  struct ll_moments local, merged;
  int local_init, merged_init;
  struct ll_trainer *trainer;
  struct ll_eval *eval;
  struct ll_model *model;
  float *params, *x, *y, *score; /* x, y: one cache block */
  double *sums;
  struct buf err;  /* the failure reason */
  int exit_status; /* for a failure: LOCAL_WORKER_EXIT_* */
  json_t *final;   /* FinalMetricDataList items */
  double started;  /* monotonic seconds */
  double epoch_train_s, epoch_eval_s, setup_s;
  size_t epochs_run;
};

/* ---- time and logs ----------------------------------------------------- */

static double mono_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double wall_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One line on stdout in the container's format:
 * "[MM/DD/YYYY HH:MM:SS LEVEL PID] text". */
static void wlogv(const char *level, const char *fmt, va_list ap)
{
  time_t now = time(NULL);
  struct tm tm;

  gmtime_r(&now, &tm);
  printf("[%02d/%02d/%04d %02d:%02d:%02d %s %ld] ", tm.tm_mon + 1, tm.tm_mday,
         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, level,
         (long)getpid());
  vprintf(fmt, ap);
  putchar('\n');
}

static void wlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void wlog(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  wlogv("INFO", fmt, ap);
  va_end(ap);
}

static void wlog_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void wlog_error(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  wlogv("ERROR", fmt, ap);
  va_end(ap);
}

/* A "#metrics" line: one metric (count 1) with dimensions. */
static void log_metric(const struct wk *w, const char *name, double v,
                       long epoch, long model)
{
  double now = wall_now();

  printf("#metrics {\"StartTime\": %.6f, \"EndTime\": %.6f, \"Dimensions\": "
         "{\"Algorithm\": \"Linear Learner\", \"Host\": \"%s\", "
         "\"Operation\": \"training\"",
         now, now, w->host);
  if (epoch >= 0)
    printf(", \"epoch\": %ld", epoch);
  if (model >= 0)
    printf(", \"model\": %ld", model);
  printf("}, \"Metrics\": {\"%s\": {\"sum\": %.17g, \"count\": 1, "
         "\"min\": %.17g, \"max\": %.17g}}}\n",
         name, v, v, v);
}

/* Records a failure: kind is LOCAL_WORKER_EXIT_CLIENT or _ALGORITHM; the
 * message gets the matching prefix unless it has one. Returns
 * SR_EINVAL. */
static int wfail(struct wk *w, int kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wfail(struct wk *w, int kind, const char *fmt, ...)
{
  const char *prefix =
      kind == LOCAL_WORKER_EXIT_CLIENT ? "ClientError: " : "AlgorithmError: ";
  struct buf msg;
  va_list ap;

  if (buf_len(&w->err) > 0)
    return SR_EINVAL; /* the first reason stands */
  buf_init(&msg, 1 << 16);
  va_start(ap, fmt);
  buf_vaddf(&msg, fmt, ap);
  va_end(ap);
  if (strncmp(buf_str(&msg), "ClientError: ", 13) != 0 &&
      strncmp(buf_str(&msg), "AlgorithmError: ", 16) != 0)
    buf_adds(&w->err, prefix);
  buf_adds(&w->err, buf_str(&msg));
  buf_free(&msg);
  w->exit_status = kind;
  return SR_EINVAL;
}

/* ---- files -------------------------------------------------------------- */

static int path_join(char *out, size_t len, const char *a, const char *b)
{
  int n = snprintf(out, len, "%s/%s", a, b);

  return n < 0 || (size_t)n >= len ? SR_ETOOBIG : 0;
}

static int mkdir_parents(const char *path)
{
  char tmp[PATH_MAX];
  size_t i, len = strlen(path);

  if (len >= sizeof(tmp))
    return SR_ETOOBIG;
  memcpy(tmp, path, len + 1);
  for (i = 1; i < len; i++) {
    if (tmp[i] != '/')
      continue;
    tmp[i] = '\0';
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return SR_EIO;
    tmp[i] = '/';
  }
  return 0;
}

static json_t *load_json(struct wk *w, const char *dir, const char *name)
{
  char path[PATH_MAX];
  json_error_t jerr;
  json_t *doc;

  if (path_join(path, sizeof(path), dir, name) != 0)
    return NULL;
  doc = json_load_file(path, 0, &jerr);
  if (doc == NULL)
    wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot read %s: %s", name,
          jerr.text);
  return doc;
}

/* Copies source to dest (created), checking the size; a real copy, since
 * downloading is part of the cost being measured. */
static int copy_file(struct wk *w, const char *source, const char *dest,
                     long long size, const char *key)
{
  char *chunk = malloc(COPY_CHUNK);
  long long copied = 0;
  int in = -1, out = -1, rc = 0;

  if (chunk == NULL)
    return SR_ENOMEM;
  in = open(source, O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    rc = wfail(w, LOCAL_WORKER_EXIT_CLIENT,
               "Data download failed: %s changed or was deleted while the "
               "job ran",
               key);
    goto out;
  }
  if (mkdir_parents(dest) != 0) {
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot create %s", dest);
    goto out;
  }
  out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot create %s: %s", dest,
               strerror(errno));
    goto out;
  }
  for (;;) {
    ssize_t n = read(in, chunk, COPY_CHUNK), off = 0;

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "reading %s: %s", key,
                 strerror(errno));
      goto out;
    }
    if (n == 0)
      break;
    while (off < n) {
      ssize_t m = write(out, chunk + off, (size_t)(n - off));

      if (m < 0 && errno == EINTR)
        continue;
      if (m <= 0) {
        rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "writing %s: %s", dest,
                   m < 0 ? strerror(errno) : "short write");
        goto out;
      }
      off += m;
    }
    copied += n;
  }
  if (copied != size)
    rc = wfail(w, LOCAL_WORKER_EXIT_CLIENT,
               "Data download failed: %s has %lld bytes, expected %lld (it "
               "changed while the job ran)",
               key, copied, size);
out:
  if (in >= 0)
    close(in);
  if (out >= 0 && close(out) != 0 && rc == 0)
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "writing %s: %s", dest,
               strerror(errno));
  free(chunk);
  return rc;
}

/* ---- the engine's socket ------------------------------------------------ */

static int write_all(const void *data, size_t len)
{
  const char *p = data;

  while (len > 0) {
    ssize_t n = write(LOCAL_WORKER_FD, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return SR_ECONN;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int read_all(void *data, size_t len)
{
  char *p = data;

  while (len > 0) {
    ssize_t n = read(LOCAL_WORKER_FD, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return SR_ECONN;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Sends a message of two parts (either may be empty). */
static int send_msg(uint32_t type, uint32_t op, const void *a, size_t alen,
                    const void *b, size_t blen)
{
  struct local_worker_header h;
  int rc;

  h.type = type;
  h.op = op;
  h.len = alen + blen;
  rc = write_all(&h, sizeof(h));
  if (rc == 0 && alen)
    rc = write_all(a, alen);
  if (rc == 0 && blen)
    rc = write_all(b, blen);
  return rc;
}

/* Reads the reply to a REDUCE op: exactly len bytes into out. */
static int recv_reply(struct wk *w, uint32_t op, void *out, size_t len)
{
  struct local_worker_header h;
  int rc = read_all(&h, sizeof(h));

  if (rc)
    return rc;
  if (h.type != LOCAL_WORKER_REDUCE || h.op != op || h.len != len)
    return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM,
                 "unexpected message from the coordinator (type %u, op %u, "
                 "%llu bytes)",
                 h.type, h.op, (unsigned long long)h.len);
  return read_all(out, len);
}

/* ---- configuration --------------------------------------------------------
 */

static int read_resources(struct wk *w)
{
  json_t *rc = load_json(w, w->root, "input/config/resourceconfig.json");
  json_t *hosts, *h;
  const char *current;
  size_t i;

  if (rc == NULL)
    return SR_EINVAL;
  current = json_string_value(json_object_get(rc, "current_host"));
  hosts = json_object_get(rc, "hosts");
  w->hosts = json_array_size(hosts);
  snprintf(w->host, sizeof(w->host), "%s", current ? current : "algo-1");
  w->rank = w->hosts;
  json_array_foreach(hosts, i, h)
  {
    if (current && json_string_value(h) &&
        strcmp(json_string_value(h), current) == 0)
      w->rank = i;
  }
  json_decref(rc);
  if (w->rank >= w->hosts)
    return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM,
                 "resourceconfig.json does not list current_host");
  return 0;
}

/* The sync count from SAGERUN_SYNCS_PER_EPOCH (see the top). */
static int read_syncs(struct wk *w)
{
  const char *s = getenv("SAGERUN_SYNCS_PER_EPOCH");
  char *end;
  long v;

  w->syncs = 1;
  if (s == NULL || *s == '\0')
    return 0;
  errno = 0;
  v = strtol(s, &end, 10);
  if (errno || *end != '\0' || v < 1 || v > MAX_SYNCS)
    return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                 "SAGERUN_SYNCS_PER_EPOCH must be a whole number from 1 to "
                 "%d, not '%.32s'",
                 MAX_SYNCS, s);
  w->syncs = (int)v;
  return 0;
}

/* Checks inputdataconfig.json as the algorithm does. */
static int read_inputs(struct wk *w)
{
  const char *name;
  json_t *c;
  size_t i;

  json_object_foreach(w->inputs, name, c)
  {
    const char *ct = json_string_value(json_object_get(c, "ContentType"));
    const char *mode =
        json_string_value(json_object_get(c, "TrainingInputMode"));
    const char *dist =
        json_string_value(json_object_get(c, "S3DistributionType"));
    const char *comp = json_string_value(json_object_get(c, "CompressionType"));
    const char *wrap =
        json_string_value(json_object_get(c, "RecordWrapperType"));
    struct channel *ch = NULL;

    for (i = 0; i < CH_COUNT; i++)
      if (strcmp(name, channel_names[i]) == 0)
        ch = &w->ch[i];
    if (ch == NULL)
      return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                   "Unable to initialize the algorithm. Failed to validate "
                   "input data configuration: channel '%.64s' is not one of "
                   "train, validation, test",
                   name);
    ch->present = 1;
    ch->replicated = dist == NULL || strcmp(dist, "ShardedByS3Key") != 0;
    ch->format = ct == NULL || *ct == '\0' ? LLIO_RECORDIO : llio_format_of(ct);
    if (ch->format != LLIO_CSV && ch->format != LLIO_RECORDIO)
      return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                   "Unable to initialize the algorithm. Failed to validate "
                   "input data configuration: channel '%s' has content type "
                   "'%.64s'; linear-learner reads text/csv and "
                   "application/x-recordio-protobuf",
                   name, ct);
    if (mode && strcmp(mode, "File") != 0 && strcmp(mode, "FastFile") != 0)
      return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                   "channel '%s': input mode %.32s is not supported by the "
                   "local engine; use File",
                   name, mode);
    if (comp && strcmp(comp, "None") != 0)
      return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                   "channel '%s': CompressionType %.32s is not supported by "
                   "the local engine; use None",
                   name, comp);
    if (wrap && strcmp(wrap, "None") != 0)
      return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                   "channel '%s': RecordWrapperType %.32s is not supported "
                   "by linear-learner in File mode; use None",
                   name, wrap);
  }
  if (!w->ch[CH_TRAIN].present)
    return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                 "Unable to initialize the algorithm. Failed to validate "
                 "input data configuration: 'train' is a required channel "
                 "(channels given: %zu)",
                 json_object_size(w->inputs));
  return 0;
}

static int read_config(struct wk *w)
{
  const char *name;
  char *text;
  json_t *v;
  int rc;

  text = json_dumps(w->hyperparameters, JSON_SORT_KEYS);
  wlog("Reading provided configuration from "
       "/opt/ml/input/config/hyperparameters.json: %s",
       text ? text : "{}");
  free(text);
  ll_config_init(&w->config);
  json_object_foreach(w->hyperparameters, name, v)
  {
    if (!json_is_string(v))
      return wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                   "Invalid hyperparameter value for %.64s: not a string",
                   name);
    rc = ll_config_set(&w->config, name, json_string_value(v), &w->err);
    if (rc) {
      w->exit_status = LOCAL_WORKER_EXIT_CLIENT;
      return rc;
    }
  }
  rc = ll_config_finish(&w->config, &w->err);
  if (rc) {
    w->exit_status = LOCAL_WORKER_EXIT_CLIENT;
    return rc;
  }
  return 0;
}

/* ---- download ---------------------------------------------------------- */

static int download(struct wk *w)
{
  json_t *channels = json_object_get(w->download, "channels"), *list, *o;
  const char *name;
  double objects = 0, bytes = 0, stats[2];
  size_t i;
  int rc;

  json_object_foreach(channels, name, list)
  {
    double start = mono_now(), cbytes = 0;
    struct buf names;

    buf_init(&names, 1 << 16);
    json_array_foreach(list, i, o)
    {
      const char *source = json_string_value(json_object_get(o, "source"));
      const char *dest = json_string_value(json_object_get(o, "dest"));
      const char *key = json_string_value(json_object_get(o, "key"));
      long long size = json_integer_value(json_object_get(o, "size"));
      char rel[PATH_MAX], path[PATH_MAX];

      if (source == NULL || dest == NULL || key == NULL ||
          snprintf(rel, sizeof(rel), "input/data/%s/%s", name, dest) >=
              (int)sizeof(rel) ||
          path_join(path, sizeof(path), w->root, rel) != 0) {
        buf_free(&names);
        return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "bad download.json");
      }
      rc = copy_file(w, source, path, size, key);
      if (rc) {
        buf_free(&names);
        return rc;
      }
      cbytes += (double)size;
      if (i < 20)
        buf_addf(&names, "%s%s", i ? ", " : "", dest);
      else if (i == 20)
        buf_addf(&names, ", and %zu more", json_array_size(list) - 20);
    }
    wlog("Downloaded channel %s to /opt/ml/input/data/%s: %zu object(s), "
         "%.0f bytes in %.3f s%s%s",
         name, name, json_array_size(list), cbytes, mono_now() - start,
         json_array_size(list) ? ": " : "", buf_str(&names));
    buf_free(&names);
    objects += (double)json_array_size(list);
    bytes += cbytes;
  }
  stats[0] = objects;
  stats[1] = bytes;
  return send_msg(LOCAL_WORKER_DOWNLOADED, LOCAL_WORKER_OP_NONE, stats,
                  sizeof(stats), NULL, 0);
}

/* ---- channel caches ------------------------------------------------------ */

static int cache_flush(struct cache_writer *c)
{
  if (c->k == 0)
    return 0;
  if (fwrite(c->x, sizeof(float), c->k * c->dim, c->f) != c->k * c->dim ||
      fwrite(c->y, sizeof(float), c->k, c->f) != c->k)
    return wfail(c->w, LOCAL_WORKER_EXIT_ALGORITHM,
                 "cannot write the row cache: %s", strerror(errno));
  if (c->moments)
    ll_moments_add(c->moments, c->x, c->y, c->k);
  c->k = 0;
  return 0;
}

/* Row callback: the first row fixes the width (and starts the scaler's
 * sample for train). */
static int cache_row(void *arg, const float *x, float y)
{
  struct cache_writer *c = arg;
  struct wk *w = c->w;
  int rc;

  if (c->x == NULL) {
    c->x = malloc(CACHE_BLOCK * w->dim * sizeof(float));
    c->y = malloc(CACHE_BLOCK * sizeof(float));
    if (c->x == NULL || c->y == NULL)
      return SR_ENOMEM;
    c->dim = w->dim;
  }
  memcpy(c->x + c->k * c->dim, x, c->dim * sizeof(float));
  c->y[c->k++] = y;
  c->rows++;
  if (c->k == CACHE_BLOCK) {
    rc = cache_flush(c);
    if (rc)
      return rc;
  }
  return 0;
}

/* Maps a file; *data NULL for an empty one. */
static int map_file(const char *path, void **data, size_t *len)
{
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  *data = NULL;
  *len = 0;
  if (fd < 0)
    return SR_EIO;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return SR_EIO;
  }
  if (st.st_size > 0) {
    *data = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (*data == MAP_FAILED) {
      *data = NULL;
      close(fd);
      return SR_EIO;
    }
    *len = (size_t)st.st_size;
  }
  close(fd);
  return 0;
}

struct parse_ctx {
  struct cache_writer *c;
  struct llio_parser *p;
};

/* Row callback for every channel: on the first train row the parser
 * knows the width; the scaler starts then. */
static int parse_row(void *arg, const float *x, float y)
{
  struct parse_ctx *ctx = arg;
  struct wk *w = ctx->c->w;
  int rc;

  if (w->dim == 0) {
    w->dim = ctx->p->dim;
    rc = ll_moments_init(&w->local, w->dim, w->config.num_point_for_scaler);
    if (rc)
      return rc;
    w->local_init = 1;
    ctx->c->moments = &w->local;
  }
  return cache_row(ctx->c, x, y);
}

/* Reads channel k's files (as download.json lists them, in key order)
 * into its cache. */
static int read_channel(struct wk *w, int k)
{
  struct channel *ch = &w->ch[k];
  const char *name = channel_names[k];
  json_t *list =
             json_object_get(json_object_get(w->download, "channels"), name),
         *o;
  struct cache_writer c;
  struct llio_parser p;
  struct parse_ctx ctx;
  char cache[64];
  size_t i;
  int rc = 0;

  memset(&c, 0, sizeof(c));
  c.w = w;
  c.dim = w->dim;
  if (k != CH_TRAIN && w->dim > 0) {
    c.x = malloc(CACHE_BLOCK * w->dim * sizeof(float));
    c.y = malloc(CACHE_BLOCK * sizeof(float));
    if (c.x == NULL || c.y == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
  }
  snprintf(cache, sizeof(cache), "%s.rows", name);
  if (path_join(ch->cache, sizeof(ch->cache), w->work, cache) != 0) {
    rc = SR_ETOOBIG;
    goto out;
  }
  c.f = fopen(ch->cache, "wb");
  if (c.f == NULL) {
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot create %s: %s",
               ch->cache, strerror(errno));
    goto out;
  }
  llio_init(&p, w->dim, 1, &w->err);
  ctx.c = &c;
  ctx.p = &p;
  json_array_foreach(list, i, o)
  {
    const char *dest = json_string_value(json_object_get(o, "dest"));
    char rel[PATH_MAX], path[PATH_MAX], source[PATH_MAX + 64];
    void *data;
    size_t len;

    if (dest == NULL ||
        snprintf(rel, sizeof(rel), "input/data/%s/%s", name, dest) >=
            (int)sizeof(rel) ||
        path_join(path, sizeof(path), w->root, rel) != 0) {
      rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "bad download.json");
      break;
    }
    if (map_file(path, &data, &len) != 0) {
      rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot read %s: %s", path,
                 strerror(errno));
      break;
    }
    snprintf(source, sizeof(source), "%s/%s", name, dest);
    p.source = source;
    if (len == 0)
      rc = 0;
    else if (ch->format == LLIO_CSV)
      rc = llio_csv(&p, data, len, parse_row, &ctx);
    else
      rc = llio_recordio(&p, data, len, parse_row, &ctx);
    if (data)
      munmap(data, len);
    if (rc == SR_EINVAL && w->exit_status == 0) {
      /* The parser's message is in w->err: make it a ClientError. */
      struct buf msg;

      buf_init(&msg, 1 << 16);
      buf_adds(&msg, buf_str(&w->err));
      buf_reset(&w->err);
      rc = wfail(w, LOCAL_WORKER_EXIT_CLIENT,
                 "Unable to read data channel "
                 "'%s': %s",
                 name, buf_str(&msg));
      buf_free(&msg);
    }
    if (rc)
      break;
  }
  llio_free(&p);
  if (rc == 0)
    rc = cache_flush(&c);
  ch->rows = c.rows;
out:
  if (c.f && fclose(c.f) != 0 && rc == 0)
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot write %s", ch->cache);
  free(c.x);
  free(c.y);
  return rc;
}

/* Reads block b (k rows) of channel ch's cache into w->x and w->y. */
static int cache_read(struct wk *w, FILE *f, size_t k)
{
  if (fread(w->x, sizeof(float), k * w->dim, f) != k * w->dim ||
      fread(w->y, sizeof(float), k, f) != k)
    return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot read the row cache");
  return 0;
}

/* ---- synchronisation ----------------------------------------------------- */

/* Sync point 1: the width and the scaler across instances. */
static int sync_moments(struct wk *w)
{
  size_t local_n =
      w->local_init && w->local.count > 0 ? ll_moments_size(w->dim) : 0;
  struct local_worker_header h;
  double *msg = malloc((1 + local_n) * sizeof(double)), *reply = NULL;
  size_t got;
  int rc;

  if (msg == NULL)
    return SR_ENOMEM;
  msg[0] = local_n ? (double)w->dim : 0;
  if (local_n)
    ll_moments_export(&w->local, msg + 1);
  rc = send_msg(LOCAL_WORKER_REDUCE, LOCAL_WORKER_OP_MOMENTS, msg,
                (1 + local_n) * sizeof(double), NULL, 0);
  /* The reply's size follows the width, which an empty shard learns
   * only from it. */
  if (rc == 0)
    rc = read_all(&h, sizeof(h));
  if (rc)
    goto out;
  if (h.type != LOCAL_WORKER_REDUCE || h.op != LOCAL_WORKER_OP_MOMENTS ||
      h.len < 2 * sizeof(double) || h.len > LOCAL_WORKER_MAX_MSG ||
      h.len % sizeof(double)) {
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM,
               "unexpected reply from the coordinator");
    goto out;
  }
  got = (size_t)h.len / sizeof(double);
  reply = malloc((size_t)h.len);
  if (reply == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  rc = read_all(reply, (size_t)h.len);
  if (rc)
    goto out;
  if (reply[0] < 1 || got != 1 + ll_moments_size((size_t)reply[0])) {
    rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM,
               "bad moments from the coordinator");
    goto out;
  }
  if (w->dim == 0)
    w->dim = (size_t)reply[0];
  rc = ll_config_check_dim(&w->config, w->dim, &w->err);
  if (rc) {
    w->exit_status = LOCAL_WORKER_EXIT_CLIENT;
    goto out;
  }
  rc = ll_moments_init(&w->merged, w->dim, 0);
  if (rc)
    goto out;
  w->merged_init = 1;
  rc = ll_moments_import(&w->merged, reply + 1, got - 1);
out:
  free(msg);
  free(reply);
  return rc;
}

/* Sync point 2: parameters replaced by the weighted mean. */
static int sync_params(struct wk *w)
{
  size_t n = ll_params_size(w->trainer);
  double weight = ll_trainer_rows_since_sync(w->trainer);
  int rc;

  ll_params_export(w->trainer, w->params);
  rc = send_msg(LOCAL_WORKER_REDUCE, LOCAL_WORKER_OP_MEAN, &weight,
                sizeof(weight), w->params, n * sizeof(float));
  if (rc == 0)
    rc = recv_reply(w, LOCAL_WORKER_OP_MEAN, w->params, n * sizeof(float));
  if (rc == 0)
    rc = ll_params_import(w->trainer, w->params, n);
  return rc;
}

/* Sums across instances: op SUM or FIRST; in place. */
static int sync_sums(struct wk *w, double *v, size_t n, int replicated)
{
  uint32_t op = replicated ? LOCAL_WORKER_OP_FIRST : LOCAL_WORKER_OP_SUM;
  int rc = send_msg(LOCAL_WORKER_REDUCE, op, v, n * sizeof(double), NULL, 0);

  if (rc == 0)
    rc = recv_reply(w, op, v, n * sizeof(double));
  return rc;
}

/* ---- training ------------------------------------------------------------ */

static int train_epoch(struct wk *w, size_t epoch)
{
  struct channel *ch = &w->ch[CH_TRAIN];
  size_t done = 0, seg = 0, block;
  FILE *f = NULL;
  int rc = 0;

  (void)epoch;
  ll_epoch_begin(w->trainer);
  f = fopen(ch->cache, "rb");
  if (f == NULL)
    return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot open %s", ch->cache);
  for (block = 0; block * CACHE_BLOCK < ch->rows; block++) {
    size_t k = ch->rows - block * CACHE_BLOCK, i = 0;

    if (k > CACHE_BLOCK)
      k = CACHE_BLOCK;
    rc = cache_read(w, f, k);
    if (rc)
      goto out;
    while (i < k) {
      /* Rows up to the end of the current segment. */
      size_t bound = ch->rows * (seg + 1) / (size_t)w->syncs;
      size_t take = bound > done ? bound - done : 0;

      if (take > k - i)
        take = k - i;
      if (take > 0) {
        rc = ll_train_rows(w->trainer, w->x + i * w->dim, w->y + i, take);
        if (rc == SR_EINVAL) {
          rc = wfail(w, LOCAL_WORKER_EXIT_CLIENT, "%s",
                     ll_trainer_error(w->trainer));
          goto out;
        }
        if (rc)
          goto out;
        i += take;
        done += take;
      }
      if (done >= bound && (int)seg + 1 < w->syncs) {
        rc = sync_params(w);
        if (rc)
          goto out;
        seg++;
      }
    }
  }
  /* Instances with fewer rows (or none) still sync K times in all. */
  while ((int)seg + 1 < w->syncs) {
    rc = sync_params(w);
    if (rc)
      goto out;
    seg++;
  }
  rc = ll_epoch_end(w->trainer);
  if (rc == 0)
    rc = sync_params(w);
out:
  fclose(f);
  return rc;
}

/* Evaluates channel ch (or the training sample) into w->eval and merges
 * the sums across instances. */
static int evaluate(struct wk *w)
{
  struct channel *v = &w->ch[CH_VALIDATION];
  size_t n = ll_eval_size(w->eval), block;
  int replicated, rc = 0;
  FILE *f;

  ll_eval_reset(w->eval);
  if (v->present) {
    replicated = v->replicated;
    f = fopen(v->cache, "rb");
    if (f == NULL)
      return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot open %s", v->cache);
    for (block = 0; rc == 0 && block * CACHE_BLOCK < v->rows; block++) {
      size_t k = v->rows - block * CACHE_BLOCK;

      if (k > CACHE_BLOCK)
        k = CACHE_BLOCK;
      rc = cache_read(w, f, k);
      if (rc == 0)
        rc = ll_eval_rows(w->trainer, w->eval, w->x, w->y, k);
      if (rc == SR_EINVAL && w->exit_status == 0)
        rc = wfail(w, LOCAL_WORKER_EXIT_CLIENT, "validation channel: %s",
                   ll_trainer_error(w->trainer));
    }
    fclose(f);
  } else {
    replicated = w->ch[CH_TRAIN].replicated;
    rc = ll_eval_sample(w->trainer, w->eval);
  }
  if (rc)
    return rc;
  ll_eval_export(w->eval, w->sums);
  rc = sync_sums(w, w->sums, n, replicated);
  if (rc)
    return rc;
  ll_eval_reset(w->eval);
  return ll_eval_merge(w->eval, w->sums, n);
}

static void log_epoch(struct wk *w, const struct ll_epoch_report *r,
                      double seconds)
{
  const char *obj = ll_loss_objective_name(w->config.loss);
  char name[128];
  size_t k;

  snprintf(name, sizeof(name), "train_%s", obj);
  for (k = 0; k < r->num_models; k++)
    log_metric(w, name, r->models[k].train_objective, (long)r->epoch, (long)k);
  wlog("#quality_metric: host=%s, epoch=%zu, train %s <loss>=%.12g", w->host,
       r->epoch, obj, r->models[0].train_objective);
  if (w->ch[CH_VALIDATION].present) {
    snprintf(name, sizeof(name), "validation_%s", obj);
    for (k = 0; k < r->num_models; k++)
      log_metric(w, name, r->models[k].objective, (long)r->epoch, (long)k);
    wlog("#quality_metric: host=%s, epoch=%zu, validation %s <loss>=%.12g",
         w->host, r->epoch, obj, r->models[0].objective);
  }
  wlog("#early_stopping_criteria_metric: host=%s, epoch=%zu, criteria=%s, "
       "value=%.12g",
       w->host, r->epoch, obj, r->criterion);
  if (r->improved)
    wlog("Epoch %zu: Loss improved. Updating best model", r->epoch);
  else
    wlog("Epoch %zu: Loss has not improved for %zu epochs.", r->epoch,
         r->epochs_without_improvement);
  wlog("#progress_metric: host=%s, completed %.12g %% of epochs", w->host,
       100.0 * (double)(r->epoch + 1) / (double)w->config.epochs);
  wlog("#throughput_metric: host=%s, train throughput=%.12g records/second",
       w->host, seconds > 0 ? (double)w->ch[CH_TRAIN].rows / seconds : 0);
}

/* Adds {"MetricName": name, "Value": v} to the final metrics. */
static void final_metric(struct wk *w, const char *name, double v)
{
  if (!isfinite(v))
    return;
  json_array_append_new(
      w->final, json_pack("{s:s, s:f}", "MetricName", name, "Value", v));
}

/* The chosen model's evaluation lines and final metrics. */
static void log_chosen(struct wk *w)
{
  const struct ll_model_metrics *m = ll_model_metrics(w->model);
  const char *obj = ll_loss_objective_name(w->config.loss);
  const char *set = w->ch[CH_VALIDATION].present ? "validation" : "train";
  char metric[128];
  struct {
    const char *name;
    double v;
    int score;
  } lines[8];
  size_t n = 0, i;

  final_metric(w, "train:objective_loss", m->train_objective);
  lines[n].name = obj;
  lines[n].v = m->objective;
  lines[n++].score = 0;
  if (w->config.predictor_type == LL_BINARY_CLASSIFIER) {
    lines[n].name = "binary_classification_accuracy";
    lines[n].v = m->accuracy;
    lines[n++].score = 1;
    lines[n].name = "binary_f_beta";
    lines[n].v = m->f_beta;
    lines[n++].score = 1;
    lines[n].name = "precision";
    lines[n].v = m->precision;
    lines[n++].score = 1;
    lines[n].name = "recall";
    lines[n].v = m->recall;
    lines[n++].score = 1;
  } else {
    lines[n].name = "mse";
    lines[n].v = m->mse;
    lines[n++].score = 0;
    lines[n].name = "absolute_loss";
    lines[n].v = m->absolute_loss;
    lines[n++].score = 0;
  }
  for (i = 0; i < n; i++) {
    printf("#%s_score (%s) : ('%s', %.17g)\n", set, w->host, lines[i].name,
           lines[i].v);
    wlog("#quality_metric: host=%s, %s %s %s=%.12g", w->host, set,
         lines[i].name, lines[i].score ? "<score>" : "<loss>", lines[i].v);
    if (w->ch[CH_VALIDATION].present) {
      snprintf(metric, sizeof(metric), "validation:%s",
               i == 0 ? "objective_loss" : lines[i].name);
      final_metric(w, metric, lines[i].v);
    }
  }
}

/* Test channel: the chosen model's scores, summed across instances. */
static int test_model(struct wk *w)
{
  struct channel *ch = &w->ch[CH_TEST];
  /* sse, sae, n, tp, fp, tn, fn */
  double s[7] = {0, 0, 0, 0, 0, 0, 0}, mse, mae;
  size_t block, i;
  int binary = w->config.predictor_type == LL_BINARY_CLASSIFIER, rc = 0;
  FILE *f;

  if (!ch->present) {
    wlog("Test data is not provided.");
    return 0;
  }
  f = fopen(ch->cache, "rb");
  if (f == NULL)
    return wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot open %s", ch->cache);
  for (block = 0; rc == 0 && block * CACHE_BLOCK < ch->rows; block++) {
    size_t k = ch->rows - block * CACHE_BLOCK;

    if (k > CACHE_BLOCK)
      k = CACHE_BLOCK;
    rc = cache_read(w, f, k);
    if (rc)
      break;
    ll_predict(w->model, w->x, k, w->score, w->score + CACHE_BLOCK);
    for (i = 0; i < k; i++) {
      double p = binary ? w->score[CACHE_BLOCK + i] : w->score[i];
      double d = p - w->y[i];

      s[0] += d * d;
      s[1] += fabs(d);
      s[2] += 1;
      if (binary) {
        int yes = p >= 0.5, truth = w->y[i] >= 0.5;

        s[3] += yes && truth;
        s[4] += yes && !truth;
        s[5] += !yes && !truth;
        s[6] += !yes && truth;
      }
    }
  }
  fclose(f);
  if (rc)
    return rc;
  rc = sync_sums(w, s, 7, ch->replicated);
  if (rc)
    return rc;
  if (s[2] == 0) {
    wlog("Test data has no records.");
    return 0;
  }
  mse = s[0] / s[2];
  mae = s[1] / s[2];
  if (binary) {
    double acc = (s[3] + s[5]) / s[2];
    double prec = s[3] + s[4] > 0 ? s[3] / (s[3] + s[4]) : 0;
    double rec = s[3] + s[6] > 0 ? s[3] / (s[3] + s[6]) : 0;
    double b2 = w->config.f_beta * w->config.f_beta;
    double fb = prec + rec > 0 ? (1 + b2) * prec * rec / (b2 * prec + rec) : 0;
    const char *names[4] = {"binary_classification_accuracy", "precision",
                            "recall", "binary_f_beta"};
    double vals[4];
    char metric[96];

    vals[0] = acc;
    vals[1] = prec;
    vals[2] = rec;
    vals[3] = fb;
    for (i = 0; i < 4; i++) {
      printf("#test_score (%s) : ('%s', %.17g)\n", w->host, names[i], vals[i]);
      wlog("#quality_metric: host=%s, test %s <score>=%.12g", w->host, names[i],
           vals[i]);
      snprintf(metric, sizeof(metric), "test:%s", names[i]);
      final_metric(w, metric, vals[i]);
    }
  } else {
    printf("#test_score (%s) : ('mse', %.17g)\n", w->host, mse);
    printf("#test_score (%s) : ('absolute_loss', %.17g)\n", w->host, mae);
    wlog("#quality_metric: host=%s, test mse <loss>=%.12g", w->host, mse);
    wlog("#quality_metric: host=%s, test absolute_loss <loss>=%.12g", w->host,
         mae);
    final_metric(w, "test:mse", mse);
    final_metric(w, "test:absolute_loss", mae);
    if (w->config.loss == LL_SQUARED_LOSS)
      final_metric(w, "test:objective_loss", mse);
    else if (w->config.loss == LL_ABSOLUTE_LOSS)
      final_metric(w, "test:objective_loss", mae);
  }
  return 0;
}

static int train(struct wk *w)
{
  struct ll_epoch_report r;
  double t0, t1, t_train = 0, t_eval = 0, setup_end, stop;
  size_t epoch, n;
  struct buf text;
  int rc;

  buf_init(&text, 1 << 20);
  rc = ll_trainer_new(&w->trainer, &w->config, &w->merged, &w->err);
  if (rc) {
    w->exit_status = LOCAL_WORKER_EXIT_CLIENT;
    goto out;
  }
  rc = ll_trainer_format_scaler(w->trainer, &text);
  if (rc)
    goto out;
  wlog("Scaling model computed with parameters: %s", buf_str(&text));
  rc = ll_eval_new(&w->eval, w->trainer);
  if (rc)
    goto out;
  n = ll_params_size(w->trainer);
  w->params = malloc(n * sizeof(float));
  w->sums = malloc(ll_eval_size(w->eval) * sizeof(double));
  w->x = malloc((size_t)CACHE_BLOCK * w->dim * sizeof(float));
  w->y = malloc(CACHE_BLOCK * sizeof(float));
  w->score = malloc(2 * CACHE_BLOCK * sizeof(float));
  if (w->params == NULL || w->sums == NULL || w->x == NULL || w->y == NULL ||
      w->score == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  setup_end = mono_now();
  wlog("Training %zu model(s) on %zu row(s) of %zu feature(s); parameters "
       "averaged across %zu instance(s) %d time(s) per epoch",
       ll_trainer_num_models(w->trainer), w->ch[CH_TRAIN].rows, w->dim,
       w->hosts, w->syncs);
  for (epoch = 0;; epoch++) {
    t0 = mono_now();
    rc = train_epoch(w, epoch);
    if (rc)
      goto out;
    t1 = mono_now();
    t_train += t1 - t0;
    rc = evaluate(w);
    if (rc)
      goto out;
    rc = ll_epoch_finish(w->trainer, w->eval, &r);
    if (rc)
      goto out;
    t_eval += mono_now() - t1;
    log_epoch(w, &r, t1 - t0);
    stop = r.stop;
    rc = sync_sums(w, &stop, 1, 1);
    if (rc)
      goto out;
    w->epochs_run = epoch + 1;
    if (stop != 0) {
      if (r.epoch + 1 < w->config.epochs)
        wlog("Early stop condition met. Stopping training.");
      break;
    }
  }
  t0 = mono_now();
  rc = ll_trainer_finish(w->trainer, &w->model, &w->err);
  if (rc) {
    w->exit_status = LOCAL_WORKER_EXIT_CLIENT;
    goto out;
  }
  buf_reset(&text);
  rc = ll_trainer_describe_model(w->trainer, ll_model_index(w->model), &text);
  if (rc)
    goto out;
  wlog("Best model found for hyperparameters: %s", buf_str(&text));
  log_chosen(w);
  rc = test_model(w);
  if (rc)
    goto out;
  if (w->rank == 0) {
    char path[PATH_MAX];

    rc = path_join(path, sizeof(path), w->root, "model/model_algo-1");
    if (rc == 0)
      rc = ll_model_write(w->model, path);
    if (rc) {
      rc = wfail(w, LOCAL_WORKER_EXIT_ALGORITHM, "cannot write the model: %s",
                 sr_strerror(rc));
      goto out;
    }
    wlog("Saved the model to /opt/ml/model/model_algo-1");
  }
  {
    double now = wall_now(), total = mono_now() - w->started;

    printf("#metrics {\"StartTime\": %.6f, \"EndTime\": %.6f, "
           "\"Dimensions\": {\"Algorithm\": \"Linear Learner\", \"Host\": "
           "\"%s\", \"Operation\": \"training\"}, \"Metrics\": {"
           "\"initialize.time\": {\"sum\": %.6f, \"count\": 1, \"min\": %.6f, "
           "\"max\": %.6f}, \"epochs\": {\"sum\": %zu, \"count\": 1, "
           "\"min\": %zu, \"max\": %zu}, \"update.time\": {\"sum\": %.6f, "
           "\"count\": %zu, \"min\": 0, \"max\": %.6f}, "
           "\"check_early_stopping.time\": {\"sum\": %.6f, \"count\": %zu, "
           "\"min\": 0, \"max\": %.6f}, \"finalize.time\": {\"sum\": %.6f, "
           "\"count\": 1, \"min\": %.6f, \"max\": %.6f}, \"totaltime\": "
           "{\"sum\": %.6f, \"count\": 1, \"min\": %.6f, \"max\": %.6f}}}\n",
           now - total, now, w->host, (setup_end - w->started) * 1000,
           (setup_end - w->started) * 1000, (setup_end - w->started) * 1000,
           w->epochs_run, w->epochs_run, w->epochs_run, t_train * 1000,
           w->epochs_run, t_train * 1000, t_eval * 1000, w->epochs_run,
           t_eval * 1000, (mono_now() - t0) * 1000, (mono_now() - t0) * 1000,
           (mono_now() - t0) * 1000, total * 1000, total * 1000, total * 1000);
  }
out:
  buf_free(&text);
  return rc;
}

/* ---- the process --------------------------------------------------------- */

static int run(struct wk *w)
{
  int k, rc;

  rc = read_resources(w);
  if (rc)
    return rc;
  w->download = load_json(w, w->work, "download.json");
  if (w->download == NULL)
    return SR_EINVAL;
  rc = download(w);
  if (rc)
    return rc;
  w->hyperparameters =
      load_json(w, w->root, "input/config/hyperparameters.json");
  w->inputs = load_json(w, w->root, "input/config/inputdataconfig.json");
  if (w->hyperparameters == NULL || w->inputs == NULL)
    return SR_EINVAL;
  rc = read_syncs(w);
  if (rc == 0)
    rc = read_config(w);
  if (rc)
    return rc;
  {
    struct buf conf;

    buf_init(&conf, 1 << 20);
    rc = ll_config_format(&w->config, &conf);
    if (rc == 0)
      wlog("Final configuration: %s", buf_str(&conf));
    buf_free(&conf);
    if (rc)
      return rc;
  }
  rc = read_inputs(w);
  if (rc)
    return rc;
  rc = read_channel(w, CH_TRAIN);
  if (rc)
    return rc;
  wlog("Channel train: %zu record(s)%s", w->ch[CH_TRAIN].rows,
       w->ch[CH_TRAIN].rows ? ""
                            : " (this instance's shard is empty: it trains "
                              "nothing and takes part in every sync with "
                              "weight 0)");
  rc = sync_moments(w);
  if (rc)
    return rc;
  for (k = CH_VALIDATION; k < CH_COUNT; k++) {
    if (!w->ch[k].present)
      continue;
    rc = read_channel(w, k);
    if (rc)
      return rc;
    wlog("Channel %s: %zu record(s)", channel_names[k], w->ch[k].rows);
  }
  return train(w);
}

static void write_failure(const struct wk *w)
{
  char path[PATH_MAX];
  FILE *f;

  if (path_join(path, sizeof(path), w->root, "output/failure") != 0)
    return;
  f = fopen(path, "w");
  if (f == NULL)
    return;
  fputs(buf_str(&w->err), f);
  fclose(f);
}

static void wk_free(struct wk *w)
{
  json_decref(w->hyperparameters);
  json_decref(w->inputs);
  json_decref(w->download);
  json_decref(w->final);
  if (w->local_init)
    ll_moments_free(&w->local);
  if (w->merged_init)
    ll_moments_free(&w->merged);
  ll_model_free(w->model);
  ll_eval_free(w->eval);
  ll_trainer_free(w->trainer);
  free(w->params);
  free(w->sums);
  free(w->x);
  free(w->y);
  free(w->score);
  buf_free(&w->err);
}

int local_worker_main(int argc, char **argv)
{
  struct wk w;
  int i, rc, status;

  memset(&w, 0, sizeof(w));
  buf_init(&w.err, 1 << 16);
  w.started = mono_now();
  for (i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--root") == 0)
      w.root = argv[i + 1];
    else if (strcmp(argv[i], "--work") == 0)
      w.work = argv[i + 1];
  }
  if (w.root == NULL || w.work == NULL || fcntl(LOCAL_WORKER_FD, F_GETFD) < 0) {
    fprintf(stderr, "sagerun local worker: started by the local engine "
                    "only (--root DIR --work DIR, fd 3)\n");
    return 2;
  }
  /* Lines reach the log stream as they are written. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  w.final = json_array();
  rc = w.final ? run(&w) : SR_ENOMEM;
  if (rc == SR_ECONN && buf_len(&w.err) == 0) {
    status = LOCAL_WORKER_EXIT_ORPHAN; /* the engine went away */
  } else if (rc) {
    if (buf_len(&w.err) == 0)
      wfail(&w, LOCAL_WORKER_EXIT_ALGORITHM, "%s", sr_strerror(rc));
    if (w.exit_status == 0)
      w.exit_status = LOCAL_WORKER_EXIT_ALGORITHM;
    write_failure(&w);
    wlog_error("%s", buf_str(&w.err));
    status = w.exit_status;
  } else {
    status = 0;
    if (w.rank == 0) {
      char *text = json_dumps(w.final, JSON_COMPACT);

      if (text == NULL || send_msg(LOCAL_WORKER_FINAL, LOCAL_WORKER_OP_NONE,
                                   text, strlen(text), NULL, 0) != 0)
        status = LOCAL_WORKER_EXIT_ORPHAN;
      free(text);
    }
  }
  fflush(stdout);
  wk_free(&w);
  return status;
}
