/* The local engine: what ties the data directory, the object store, the
 * HTTP front and the services together, and the accessors the services
 * use (engine.h). */
#include "engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../runner/error.h"
#include "credentials.h"
#include "faults.h"
#include "s3store.h"
#include "server.h"

#define ENGINE_DB "engine.db"
#define ENGINE_DEFAULT_REGION "us-east-1"
#define ENGINE_BUSY_TIMEOUT_MS 5000

struct local_engine {
  uv_loop_t *loop;
  sqlite3 *db;
  char *data_dir;
  char region[64];
  char account[13];
  char url[128];
  double clock_offset;
  struct local_credentials credentials;
  struct local_faults faults;
  int have_faults;
  struct s3store *s3;
  struct local_server *server;
  int sagemaker_up;
  void (*close_cb)(void *arg);
  void *close_arg;
};

int local_fail(struct local_error *err, int status, const char *code,
               const char *fmt, ...)
{
  va_list ap;

  err->status = status;
  snprintf(err->code, sizeof(err->code), "%s", code);
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
  return -1;
}

uv_loop_t *local_engine_loop(struct local_engine *e)
{
  return e->loop;
}

sqlite3 *local_engine_db(struct local_engine *e)
{
  return e->db;
}

const char *local_engine_data_dir(struct local_engine *e)
{
  return e->data_dir;
}

const char *local_engine_region(struct local_engine *e)
{
  return e->region;
}

const char *local_engine_account(struct local_engine *e)
{
  return e->account;
}

const char *local_engine_url(struct local_engine *e)
{
  return e->url;
}

double local_engine_now(struct local_engine *e)
{
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + e->clock_offset;
}

void local_engine_set_clock_offset(struct local_engine *e, double seconds)
{
  e->clock_offset = seconds;
}

struct s3store *local_engine_s3(struct local_engine *e)
{
  return e->s3;
}

int local_engine_port(struct local_engine *e)
{
  return e->server ? local_server_port(e->server) : 0;
}

void local_engine_log(struct local_engine *e, const char *fmt, ...)
{
  char when[32];
  struct tm tm;
  time_t t = (time_t)local_engine_now(e);
  va_list ap;

  if (gmtime_r(&t, &tm) == NULL ||
      strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    when[0] = '\0';
  fprintf(stderr, "%s ", when);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
}

/* A 12-digit account ID that stays the same for a data directory: taken
 * from its access key (FNV-1a), so ARNs survive restarts. */
static void account_make(const char *access_key, char out[13])
{
  unsigned long long h = 14695981039346656037ULL;

  for (; *access_key; access_key++) {
    h ^= (unsigned char)*access_key;
    h *= 1099511628211ULL;
  }
  snprintf(out, 13, "%012llu", h % 1000000000000ULL);
}

static int db_open(struct local_engine *e, char *err, size_t errlen)
{
  char path[4096];
  char *msg = NULL;

  if (snprintf(path, sizeof(path), "%s/%s", e->data_dir, ENGINE_DB) >=
      (int)sizeof(path)) {
    snprintf(err, errlen, "data directory path too long");
    return SR_ETOOBIG;
  }
  if (sqlite3_open_v2(path, &e->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path,
             e->db ? sqlite3_errmsg(e->db) : "out of memory");
    return SR_EIO;
  }
  sqlite3_busy_timeout(e->db, ENGINE_BUSY_TIMEOUT_MS);
  /* WAL: readers never block the writer. synchronous=FULL: an object
   * acknowledged to a client is on disk, not only in the OS's cache. */
  if (sqlite3_exec(e->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;",
                   NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, errlen, "cannot set up %s: %s", path,
             msg ? msg : "unknown error");
    sqlite3_free(msg);
    return SR_EIO;
  }
  return 0;
}

static void engine_free(struct local_engine *e)
{
  if (e->s3)
    s3store_close(e->s3);
  if (e->db)
    sqlite3_close(e->db);
  local_credentials_clear(&e->credentials);
  free(e->data_dir);
  free(e);
}

int local_engine_open(uv_loop_t *loop, const struct local_engine_options *o,
                      struct local_engine **out, char *err, size_t errlen)
{
  struct local_server_config sc;
  struct local_engine *e;
  const char *bind = o->bind ? o->bind : "127.0.0.1";
  int rc;

  *out = NULL;
  if (errlen > 0)
    err[0] = '\0';
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    return SR_ENOMEM;
  e->loop = loop;
  snprintf(e->region, sizeof(e->region), "%s",
           o->region ? o->region : ENGINE_DEFAULT_REGION);
  e->data_dir = strdup(o->data_dir);
  if (e->data_dir == NULL) {
    rc = SR_ENOMEM;
    goto fail;
  }
  if (mkdir(e->data_dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", e->data_dir, strerror(errno));
    rc = SR_EIO;
    goto fail;
  }
  rc = local_faults_parse(o->faults, &e->faults, err, errlen);
  if (rc)
    goto fail;
  e->have_faults = o->faults && *o->faults;
  rc = local_credentials_load(e->data_dir, &e->credentials, err, errlen);
  if (rc)
    goto fail;
  account_make(e->credentials.access_key_id, e->account);
  rc = db_open(e, err, errlen);
  if (rc)
    goto fail;
  rc = s3store_open(e->db, e->data_dir, &e->s3);
  if (rc == 0)
    rc = s3store_bucket_ensure(e->s3, LOCAL_GDELT_BUCKET, 1,
                               local_engine_now(e));
  if (rc) {
    snprintf(err, errlen, "cannot open the object store in %s/s3: %s",
             e->data_dir, sr_strerror(rc));
    goto fail;
  }
  memset(&sc, 0, sizeof(sc));
  sc.engine = e;
  sc.bind = bind;
  sc.port = o->port;
  sc.credentials = &e->credentials;
  sc.faults = e->have_faults ? &e->faults : NULL;
  sc.s3 = e->s3;
  rc = local_server_start(loop, &sc, &e->server, err, errlen);
  if (rc)
    goto fail;
  snprintf(e->url, sizeof(e->url),
           strchr(bind, ':') ? "http://[%s]:%d" : "http://%s:%d",
           strcmp(bind, "0.0.0.0") == 0 ? "127.0.0.1" : bind,
           local_server_port(e->server));
  /* The services come last: they may want the URL. No request is served
   * before the loop runs, so none sees them half set up. */
  rc = local_logs_init(e);
  if (rc == 0) {
    rc = local_sagemaker_init(e);
    e->sagemaker_up = rc == 0;
  }
  if (rc) {
    snprintf(err, errlen, "cannot set up the services: %s", sr_strerror(rc));
    local_engine_close(e, NULL, NULL);
    return rc;
  }
  *out = e;
  return 0;
fail:
  if (err[0] == '\0')
    snprintf(err, errlen, "%s", sr_strerror(rc));
  engine_free(e);
  return rc;
}

static void server_closed(void *arg)
{
  struct local_engine *e = arg;
  void (*cb)(void *) = e->close_cb;
  void *cb_arg = e->close_arg;

  engine_free(e);
  if (cb)
    cb(cb_arg);
}

void local_engine_close(struct local_engine *e, void (*cb)(void *arg),
                        void *arg)
{
  e->close_cb = cb;
  e->close_arg = arg;
  if (e->sagemaker_up)
    local_sagemaker_close(e);
  e->sagemaker_up = 0;
  local_server_close(e->server, server_closed, e);
  e->server = NULL;
}
