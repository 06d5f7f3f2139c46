/* The local engine's SageMaker control plane: training jobs, models,
 * endpoint configurations and endpoints, answering as SageMaker does
 * (aws-spec.md §1, §2). Requests are first checked against botocore's
 * model (awsmodel.h), then against the rules the model cannot say; the
 * records live in the engine's SQLite database, one row per resource
 * holding its Describe document, so a restart keeps them.
 *
 * The work behind the records is elsewhere: training runs behind
 * training.h, hosting behind hosting.h. This file owns statuses and
 * their history: a run reports phases, the control plane turns them into
 * TrainingJobStatus, SecondaryStatus, SecondaryStatusTransitions and
 * times.
 *
 * What SageMaker answers, as clients rely on it:
 * - a missing training job: ValidationException "Requested resource not
 *   found."; a missing model, configuration or endpoint: "Could not find
 *   model|endpoint configuration|endpoint "ARN"." (the waiters treat
 *   ValidationException from DescribeEndpoint as "deleted");
 * - a taken name: ResourceInUse for training jobs, ValidationException
 *   "Cannot create already existing ..." for the others;
 * - names are unique regardless of case, and ARNs spell them in lower
 *   case.
 *
 * Per-engine state (running jobs, endpoints' hostings, quotas) hangs off
 * a small registry keyed by the engine, since struct local_engine belongs
 * to the core and the services keep their own state. */
#include "sagemaker.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "awsmodel.h"
#include "hosting.h"
#include "training.h"

#define SM_DEFAULT_MAX_JOBS 20
#define SM_DEFAULT_MAX_TRAINING_INSTANCES 40
#define SM_DEFAULT_MAX_ENDPOINT_INSTANCES 40
#define SM_FAILURE_REASON_MAX 1024
#define SM_DEFAULT_MAX_RUNTIME 86400 /* SageMaker's default: one day */
#define SM_LIST_DEFAULT 10           /* MaxResults when not given */
#define SM_RESTART_REASON "the local engine restarted while the job ran"

enum { SM_STOP_NONE, SM_STOP_USER, SM_STOP_MAX_RUNTIME };

struct sm_state;

/* A training job whose run is in progress. */
struct sm_job {
  struct sm_state *st;
  struct sm_job *next;
  char *name;
  struct local_training *t; /* NULL while launching and once ended */
  uv_timer_t timer;         /* the launch delay, then MaxRuntimeInSeconds */
  int launching;            /* instances still launching: no run yet */
  int out_of_time;          /* the time limit comes before the launch */
  int stop_reason;
};

/* An endpoint with hostings alive (serving, loading or stopping). */
struct sm_endpoint {
  struct sm_state *st;
  struct sm_endpoint *next;
  char *name;
  struct local_hosting *h;      /* current configuration */
  struct local_hosting *next_h; /* UpdateEndpoint: the new one loading */
  char *next_config;
  json_t *next_variants;
  int ready; /* h reported ready */
  int live;  /* hostings started and not yet stopped */
  int deleting;
};

struct sm_state {
  struct local_engine *e;
  struct sm_state *next;
  struct awsmodel *model;
  struct sm_job *jobs;
  struct sm_endpoint *endpoints;
  long max_jobs, max_training_instances, max_endpoint_instances;
  uint64_t launch_ms; /* how long instances take to launch */
  int refs;           /* 1 while open, +1 per job and endpoint in memory */
  int closing;
};

static struct sm_state *sm_registry;

static struct sm_state *sm_state_of(struct local_engine *e)
{
  struct sm_state *st;

  for (st = sm_registry; st; st = st->next)
    if (st->e == e)
      return st;
  return NULL;
}

static void sm_unref(struct sm_state *st)
{
  if (--st->refs > 0)
    return;
  awsmodel_free(st->model);
  free(st);
}

static const char *const sm_schema =
    "CREATE TABLE IF NOT EXISTS sm_training_jobs ("
    "  name TEXT PRIMARY KEY COLLATE NOCASE, status TEXT,"
    "  creation_time REAL NOT NULL, last_modified_time REAL NOT NULL,"
    "  instances INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL, extra TEXT);"
    "CREATE TABLE IF NOT EXISTS sm_models ("
    "  name TEXT PRIMARY KEY COLLATE NOCASE, status TEXT,"
    "  creation_time REAL NOT NULL, last_modified_time REAL NOT NULL,"
    "  instances INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL, extra TEXT);"
    "CREATE TABLE IF NOT EXISTS sm_endpoint_configs ("
    "  name TEXT PRIMARY KEY COLLATE NOCASE, status TEXT,"
    "  creation_time REAL NOT NULL, last_modified_time REAL NOT NULL,"
    "  instances INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL, extra TEXT);"
    "CREATE TABLE IF NOT EXISTS sm_endpoints ("
    "  name TEXT PRIMARY KEY COLLATE NOCASE, status TEXT,"
    "  creation_time REAL NOT NULL, last_modified_time REAL NOT NULL,"
    "  instances INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL, extra TEXT);";

/* ---- Small helpers ----------------------------------------------------- */

/* The engine's clock in milliseconds, as SageMaker's timestamps are. */
static double sm_now(struct sm_state *st)
{
  return floor(local_engine_now(st->e) * 1000.0 + 0.5) / 1000.0;
}

static const char *jstr(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

static long long jint(const json_t *o, const char *key, long long dflt)
{
  json_t *v = json_object_get(o, key);

  return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* Sets o[key] = v, taking v over (also on failure). */
static int jset(json_t *o, const char *key, json_t *v)
{
  if (v == NULL)
    return SR_ENOMEM;
  return json_object_set_new(o, key, v) == 0 ? 0 : SR_ENOMEM;
}

/* Copies src[key] into dst when present. */
static int jcopy(json_t *dst, const json_t *src, const char *key)
{
  json_t *v = json_object_get(src, key);

  if (v == NULL)
    return 0;
  return jset(dst, key, json_deep_copy(v));
}

/* arn:aws:sagemaker:REGION:ACCOUNT:KIND/name-in-lower-case. */
static int sm_arn(struct sm_state *st, const char *kind, const char *name,
                  char *out, size_t n)
{
  size_t i, len;
  int w;

  w = snprintf(out, n, "arn:aws:sagemaker:%s:%s:%s/",
               local_engine_region(st->e), local_engine_account(st->e), kind);
  if (w < 0 || (size_t)w >= n)
    return SR_ETOOBIG;
  len = (size_t)w;
  for (i = 0; name[i] && len + 1 < n; i++)
    out[len++] = (char)tolower((unsigned char)name[i]);
  out[len] = '\0';
  return name[i] ? SR_ETOOBIG : 0;
}

static int fail_nomem(struct local_error *err)
{
  return local_fail(err, 500, "InternalFailure", "out of memory");
}

static int fail_db(struct sm_state *st, struct local_error *err)
{
  return local_fail(err, 500, "InternalFailure", "database error: %s",
                    sqlite3_errmsg(local_engine_db(st->e)));
}

/* Failure text cut to SageMaker's 1,024 characters, whole UTF-8
 * sequences only. */
static json_t *failure_reason(const char *reason)
{
  size_t n = strlen(reason), chars = 0, i;

  for (i = 0; i < n; i++) {
    if (((unsigned char)reason[i] & 0xC0) == 0x80)
      continue;
    if (chars++ == SM_FAILURE_REASON_MAX)
      break;
  }
  return json_stringn(reason, i);
}

/* ---- Rows: one per resource, its Describe document in `doc` ------------ */

struct sm_kind {
  const char *table;
  const char *arn_kind;   /* "training-job", "model", ... */
  const char *name_key;   /* "TrainingJobName", ... */
  const char *status_key; /* "TrainingJobStatus" or NULL */
  const char *what;       /* "model": 'Could not find model "..."' */
};

static const struct sm_kind sm_jobs = {"sm_training_jobs", "training-job",
                                       "TrainingJobName", "TrainingJobStatus",
                                       "training job"};
static const struct sm_kind sm_models = {"sm_models", "model", "ModelName",
                                         NULL, "model"};
static const struct sm_kind sm_configs = {
    "sm_endpoint_configs", "endpoint-config", "EndpointConfigName", NULL,
    "endpoint configuration"};
static const struct sm_kind sm_endpoints = {
    "sm_endpoints", "endpoint", "EndpointName", "EndpointStatus", "endpoint"};

static int sm_prepare(struct sm_state *st, sqlite3_stmt **stmt, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));

/* Prepares SQL built from fmt (table names only, never user text). */
static int sm_prepare(struct sm_state *st, sqlite3_stmt **stmt, const char *fmt,
                      ...)
{
  char sql[1024];
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(sql, sizeof(sql), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(sql))
    return SR_ETOOBIG;
  return sqlite3_prepare_v2(local_engine_db(st->e), sql, -1, stmt, NULL) ==
                 SQLITE_OK
             ? 0
             : SR_EIO;
}

/* Loads the document (and extra, if asked) of kind's row `name`. Returns
 * 0, SR_ENOENT, SR_EIO or SR_ENOMEM. */
static int row_load(struct sm_state *st, const struct sm_kind *k,
                    const char *name, json_t **doc, json_t **extra)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  *doc = NULL;
  if (extra)
    *extra = NULL;
  rc = sm_prepare(st, &stmt, "SELECT doc, extra FROM %s WHERE name = ?",
                  k->table);
  if (rc < 0)
    return rc;
  sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE) {
    rc = SR_ENOENT;
  } else if (rc != SQLITE_ROW) {
    rc = SR_EIO;
  } else {
    json_error_t jerr;
    const char *text = (const char *)sqlite3_column_text(stmt, 0);
    const char *x = (const char *)sqlite3_column_text(stmt, 1);

    *doc = text ? json_loads(text, 0, &jerr) : NULL;
    if (extra && x)
      *extra = json_loads(x, 0, &jerr);
    rc = *doc && (!extra || !x || *extra) ? 0 : SR_EIO;
    if (rc) {
      json_decref(*doc);
      *doc = NULL;
      if (extra) {
        json_decref(*extra);
        *extra = NULL;
      }
    }
  }
  sqlite3_finalize(stmt);
  return rc;
}

/* Writes doc as kind's row: a new row when insert (SR_EEXIST if the name
 * is taken, in any case), else creates or updates it. extra NULL keeps
 * the row's extra. */
static int row_save(struct sm_state *st, const struct sm_kind *k,
                    const json_t *doc, long long instances, const json_t *extra,
                    int insert)
{
  sqlite3_stmt *stmt = NULL;
  char *text = NULL, *xtext = NULL;
  const char *status = k->status_key ? jstr(doc, k->status_key) : NULL;
  json_t *modified = json_object_get(doc, "LastModifiedTime");
  int rc;

  text = json_dumps(doc, JSON_COMPACT);
  if (extra)
    xtext = json_dumps(extra, JSON_COMPACT);
  if (text == NULL || (extra && xtext == NULL)) {
    rc = SR_ENOMEM;
    goto out;
  }
  rc = sm_prepare(
      st, &stmt,
      "INSERT INTO %s (name, status, creation_time, last_modified_time,"
      " instances, doc, extra) VALUES (?, ?, ?, ?, ?, ?, ?)%s",
      k->table,
      insert ? ""
             : " ON CONFLICT(name) DO UPDATE SET status = excluded.status,"
               " last_modified_time = excluded.last_modified_time,"
               " instances = excluded.instances, doc = excluded.doc,"
               " extra = coalesce(excluded.extra, extra)");
  if (rc < 0)
    goto out;
  sqlite3_bind_text(stmt, 1, jstr(doc, k->name_key), -1, SQLITE_STATIC);
  if (status)
    sqlite3_bind_text(stmt, 2, status, -1, SQLITE_STATIC);
  sqlite3_bind_double(stmt, 3,
                      json_number_value(json_object_get(doc, "CreationTime")));
  sqlite3_bind_double(
      stmt, 4,
      json_number_value(modified ? modified
                                 : json_object_get(doc, "CreationTime")));
  sqlite3_bind_int64(stmt, 5, instances);
  sqlite3_bind_text(stmt, 6, text, -1, SQLITE_STATIC);
  if (xtext)
    sqlite3_bind_text(stmt, 7, xtext, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_DONE)
    rc = 0;
  else if ((rc & 0xff) == SQLITE_CONSTRAINT)
    rc = SR_EEXIST;
  else
    rc = SR_EIO;
out:
  sqlite3_finalize(stmt);
  free(text);
  free(xtext);
  return rc;
}

/* Updates the row's doc only (status and times follow the doc). */
static int row_update(struct sm_state *st, const struct sm_kind *k,
                      const json_t *doc, const json_t *extra)
{
  sqlite3_stmt *stmt = NULL;
  long long instances = 0;
  int rc;

  rc = sm_prepare(st, &stmt, "SELECT instances FROM %s WHERE name = ?",
                  k->table);
  if (rc < 0)
    return rc;
  sqlite3_bind_text(stmt, 1, jstr(doc, k->name_key), -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    instances = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_ROW)
    return rc == SQLITE_DONE ? SR_ENOENT : SR_EIO;
  return row_save(st, k, doc, instances, extra, 0);
}

static int row_delete(struct sm_state *st, const struct sm_kind *k,
                      const char *name)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  rc = sm_prepare(st, &stmt, "DELETE FROM %s WHERE name = ?", k->table);
  if (rc < 0)
    return rc;
  sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : SR_EIO;
  sqlite3_finalize(stmt);
  return rc;
}

/* The "Could not find <what> "ARN"." answer. */
static int fail_not_found(struct sm_state *st, const struct sm_kind *k,
                          const char *name, struct local_error *err)
{
  char arn[256];

  if (sm_arn(st, k->arn_kind, name, arn, sizeof(arn)) < 0)
    arn[0] = '\0';
  return local_fail(err, 400, "ValidationException",
                    "Could not find %s \"%s\".", k->what, arn);
}

/* Loads a row for an operation, answering the service's errors. */
static int load_or_fail(struct sm_state *st, const struct sm_kind *k,
                        const char *name, json_t **doc, json_t **extra,
                        struct local_error *err)
{
  int rc = row_load(st, k, name, doc, extra);

  if (rc == SR_ENOENT && k == &sm_jobs)
    return local_fail(err, 400, "ValidationException",
                      "Requested resource not found.");
  if (rc == SR_ENOENT)
    return fail_not_found(st, k, name, err);
  if (rc == SR_ENOMEM)
    return fail_nomem(err);
  if (rc < 0)
    return fail_db(st, err);
  return 0;
}

/* Sum of a column over rows in statuses (a SQL list). */
static int usage(struct sm_state *st, const char *table, const char *where,
                 long long *count, long long *instances)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  rc = sm_prepare(st, &stmt,
                  "SELECT count(*), coalesce(sum(instances), 0) FROM %s"
                  " WHERE %s",
                  table, where);
  if (rc < 0)
    return rc;
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    *count = sqlite3_column_int64(stmt, 0);
    *instances = sqlite3_column_int64(stmt, 1);
    rc = 0;
  } else {
    rc = SR_EIO;
  }
  sqlite3_finalize(stmt);
  return rc;
}

static int fail_limit(struct local_error *err, const char *limit, long quota,
                      long long used, long long delta, const char *unit)
{
  return local_fail(err, 400, "ResourceLimitExceeded",
                    "The account-level service limit '%s' is %ld %s, with "
                    "current utilization of %lld %s and a request delta of "
                    "%lld %s. Please contact AWS support to request an "
                    "increase for this limit.",
                    limit, quota, unit, used, unit, delta, unit);
}

/* ---- Training jobs ------------------------------------------------------ */

static const struct {
  const char *status, *message;
} sm_messages[] = {
    {"Starting", "Launching requested ML instances"},
    {"LaunchingMLInstances", "Launching requested ML instances"},
    {"PreparingTrainingStack", "Preparing the instances for training"},
    {"Downloading", "Downloading input data"},
    {"DownloadingTrainingImage", "Downloading the training image"},
    {"Training", "Training image download completed. Training in progress."},
    {"Uploading", "Uploading generated training model"},
    {"Completed", "Training job completed"},
    {"Failed", "Training job failed"},
    {"Stopping", "Stopping the training job"},
    {"Stopped", "Training job stopped"},
    {"MaxRuntimeExceeded",
     "Training job stopped: it exceeded its maximum runtime"},
    {NULL, NULL}};

static const char *default_message(const char *status)
{
  size_t i;

  for (i = 0; sm_messages[i].status; i++)
    if (strcmp(sm_messages[i].status, status) == 0)
      return sm_messages[i].message;
  return status;
}

static int is_terminal(const char *secondary)
{
  return strcmp(secondary, "Completed") == 0 ||
         strcmp(secondary, "Failed") == 0 ||
         strcmp(secondary, "Stopped") == 0 ||
         strcmp(secondary, "MaxRuntimeExceeded") == 0 ||
         strcmp(secondary, "MaxWaitTimeExceeded") == 0;
}

/* TrainingJobStatus for a SecondaryStatus, given the current one. */
static const char *primary_status(const char *secondary, const char *current)
{
  if (strcmp(secondary, "Completed") == 0)
    return "Completed";
  if (strcmp(secondary, "Failed") == 0)
    return "Failed";
  if (is_terminal(secondary))
    return "Stopped";
  if (strcmp(secondary, "Stopping") == 0 ||
      (current && strcmp(current, "Stopping") == 0))
    return "Stopping";
  return "InProgress";
}

/* Records one step of job `name` in its document: the transition, the
 * statuses and, at the end, times, failure and metrics. */
static int job_apply(struct sm_state *st, const char *name,
                     const struct local_training_report *r, int stop_reason)
{
  json_t *doc = NULL, *transitions, *last, *tr = NULL;
  const char *secondary = r->secondary_status;
  const char *current;
  double now = sm_now(st);
  int rc, terminal;

  rc = row_load(st, &sm_jobs, name, &doc, NULL);
  if (rc < 0)
    return rc;
  current = jstr(doc, "TrainingJobStatus");
  if (current && strcmp(current, "InProgress") != 0 &&
      strcmp(current, "Stopping") != 0) {
    rc = 0; /* already ended: a late report changes nothing */
    goto out;
  }
  if (strcmp(secondary, "Stopped") == 0 && stop_reason == SM_STOP_MAX_RUNTIME)
    secondary = "MaxRuntimeExceeded";
  terminal = is_terminal(secondary);
  /* Phases reported after a stop request keep the job Stopping. */
  if (!terminal && current && strcmp(current, "Stopping") == 0 &&
      strcmp(secondary, "Stopping") != 0) {
    rc = 0;
    goto out;
  }
  transitions = json_object_get(doc, "SecondaryStatusTransitions");
  if (!json_is_array(transitions)) {
    rc = jset(doc, "SecondaryStatusTransitions", json_array());
    if (rc < 0)
      goto out;
    transitions = json_object_get(doc, "SecondaryStatusTransitions");
  }
  last = json_array_get(transitions, json_array_size(transitions) - 1);
  if (last && json_object_get(last, "EndTime") == NULL &&
      (rc = jset(last, "EndTime", json_real(now))) < 0)
    goto out;
  tr = json_pack("{s:s, s:f, s:s}", "Status", secondary, "StartTime", now,
                 "StatusMessage",
                 r->message ? r->message
                 : strcmp(secondary, "Failed") == 0 && r->failure_reason
                     ? r->failure_reason
                     : default_message(secondary));
  if (tr == NULL || (terminal && jset(tr, "EndTime", json_real(now)) < 0) ||
      json_array_append_new(transitions, tr) != 0) {
    rc = SR_ENOMEM;
    goto out;
  }
  rc = jset(doc, "SecondaryStatus", json_string(secondary));
  if (rc == 0)
    rc = jset(doc, "TrainingJobStatus",
              json_string(primary_status(secondary, current)));
  if (rc == 0)
    rc = jset(doc, "LastModifiedTime", json_real(now));
  if (rc == 0 && !terminal && strcmp(secondary, "Starting") != 0 &&
      strcmp(secondary, "Stopping") != 0 &&
      json_object_get(doc, "TrainingStartTime") == NULL)
    rc = jset(doc, "TrainingStartTime", json_real(now));
  if (rc == 0 && terminal && json_object_get(doc, "TrainingStartTime")) {
    double start = json_number_value(json_object_get(doc, "TrainingStartTime"));
    long long secs = (long long)ceil(now - start);
    long long billable = r->billable_seconds;

    if (secs < 1)
      secs = 1; /* the model's minimum */
    if (billable <= 0)
      billable = secs * jint(json_object_get(doc, "ResourceConfig"),
                             "InstanceCount", 1);
    rc = jset(doc, "TrainingEndTime", json_real(now));
    if (rc == 0)
      rc = jset(doc, "TrainingTimeInSeconds", json_integer(secs));
    if (rc == 0)
      rc = jset(doc, "BillableTimeInSeconds", json_integer(billable));
  }
  if (rc == 0 && strcmp(secondary, "Failed") == 0)
    rc = jset(doc, "FailureReason",
              failure_reason(r->failure_reason ? r->failure_reason
                                               : "InternalServerError"));
  if (rc == 0 && terminal && json_is_array(r->final_metrics))
    rc = jset(doc, "FinalMetricDataList", json_deep_copy(r->final_metrics));
  if (rc == 0)
    rc = row_update(st, &sm_jobs, doc, NULL);
out:
  json_decref(doc);
  return rc;
}

static void job_closed(uv_handle_t *h)
{
  struct sm_job *j = h->data;
  struct sm_state *st = j->st;

  free(j->name);
  free(j);
  sm_unref(st);
}

static void job_unlink(struct sm_job *j)
{
  struct sm_job **p;

  for (p = &j->st->jobs; *p; p = &(*p)->next)
    if (*p == j) {
      *p = j->next;
      break;
    }
  uv_close((uv_handle_t *)&j->timer, job_closed);
}

static void job_report(struct local_training *t,
                       const struct local_training_report *r, void *data)
{
  struct sm_job *j = data;
  int rc;

  (void)t;
  if (r->secondary_status == NULL)
    return;
  rc = job_apply(j->st, j->name, r, j->stop_reason);
  if (rc < 0)
    local_engine_log(j->st->e, "training job %s: cannot record %s: %s", j->name,
                     r->secondary_status, sr_strerror(rc));
  if (is_terminal(r->secondary_status)) {
    j->t = NULL; /* the run is over and gone */
    job_unlink(j);
  }
}

/* Milliseconds left of the job's MaxRuntimeInSeconds, from creation. */
static uint64_t runtime_left_ms(struct sm_state *st, const json_t *doc)
{
  long long max_runtime = jint(json_object_get(doc, "StoppingCondition"),
                               "MaxRuntimeInSeconds", SM_DEFAULT_MAX_RUNTIME);
  double elapsed =
      sm_now(st) - json_number_value(json_object_get(doc, "CreationTime"));
  double left = ((double)max_runtime - elapsed) * 1000.0;

  return left > 0 ? (uint64_t)left : 0;
}

/* A job stopped (by StopTrainingJob or its time limit) while its
 * instances were still launching: no run to stop, it ends now. */
static void job_end_unstarted(struct sm_job *j)
{
  struct local_training_report r;
  int rc;

  memset(&r, 0, sizeof(r));
  r.secondary_status = "Stopped";
  rc = job_apply(j->st, j->name, &r, j->stop_reason);
  if (rc < 0)
    local_engine_log(j->st->e, "training job %s: cannot record its stop: %s",
                     j->name, sr_strerror(rc));
  j->launching = 0;
  job_unlink(j);
}

static void job_max_runtime(uv_timer_t *timer)
{
  struct sm_job *j = timer->data;

  if (j->stop_reason != SM_STOP_NONE)
    return;
  j->stop_reason = SM_STOP_MAX_RUNTIME;
  if (j->t)
    local_training_stop(j->t);
  else if (j->launching)
    job_end_unstarted(j);
}

/* The instances are up: the run starts. */
static void job_launched(uv_timer_t *timer)
{
  struct sm_job *j = timer->data;
  struct local_training_report r;
  json_t *doc = NULL;
  char reason[256];
  int rc;

  if (j->out_of_time) {
    job_max_runtime(timer);
    return;
  }
  rc = row_load(j->st, &sm_jobs, j->name, &doc, NULL);
  j->launching = 0;
  if (rc == 0)
    rc = local_training_start(j->st->e, doc, job_report, j, &j->t);
  if (rc == 0) {
    uv_timer_start(&j->timer, job_max_runtime, runtime_left_ms(j->st, doc), 0);
    json_decref(doc);
    return;
  }
  json_decref(doc);
  memset(&r, 0, sizeof(r));
  snprintf(reason, sizeof(reason),
           "InternalServerError: the local engine could not start the job: "
           "%s",
           sr_strerror(rc));
  r.secondary_status = "Failed";
  r.failure_reason = reason;
  job_apply(j->st, j->name, &r, SM_STOP_NONE);
  job_unlink(j);
}

/* Tracks a job whose run starts (now, or once the instances launched) or
 * restarts (reattach). Returns 0, or SR_ENOTSUP when the run cannot be
 * taken over (reattach), or another error; on error nothing is
 * tracked. */
static int job_run(struct sm_state *st, const json_t *doc, int reattach)
{
  struct sm_job *j;
  uint64_t left = runtime_left_ms(st, doc);
  int rc = 0;

  j = calloc(1, sizeof(*j));
  if (j == NULL)
    return SR_ENOMEM;
  j->st = st;
  j->name = strdup(jstr(doc, "TrainingJobName"));
  if (j->name == NULL) {
    free(j);
    return SR_ENOMEM;
  }
  if (reattach)
    rc = local_training_reattach(st->e, doc, job_report, j, &j->t);
  else if (st->launch_ms == 0)
    rc = local_training_start(st->e, doc, job_report, j, &j->t);
  else
    j->launching = 1;
  if (rc < 0) {
    free(j->name);
    free(j);
    return rc;
  }
  if (j->t && strcmp(jstr(doc, "TrainingJobStatus"), "Stopping") == 0) {
    j->stop_reason = SM_STOP_USER;
    local_training_stop(j->t);
  }
  /* From here the timer exists, and closing it is how a job leaves. */
  uv_timer_init(local_engine_loop(st->e), &j->timer);
  j->timer.data = j;
  uv_unref((uv_handle_t *)&j->timer);
  j->out_of_time = j->launching && left <= st->launch_ms;
  if (j->launching)
    uv_timer_start(&j->timer, job_launched,
                   j->out_of_time ? left : st->launch_ms, 0);
  else
    uv_timer_start(&j->timer, job_max_runtime, left, 0);
  j->next = st->jobs;
  st->jobs = j;
  st->refs++;
  return 0;
}

static struct sm_job *job_find(struct sm_state *st, const char *name)
{
  struct sm_job *j;

  for (j = st->jobs; j; j = j->next)
    if (strcasecmp(j->name, name) == 0)
      return j;
  return NULL;
}

/* Rules of CreateTrainingJob the model cannot say. */
static int check_training_request(const json_t *in, struct local_error *err)
{
  const json_t *spec = json_object_get(in, "AlgorithmSpecification");
  const json_t *rc = json_object_get(in, "ResourceConfig");
  const json_t *channels = json_object_get(in, "InputDataConfig");
  size_t i, k;
  json_t *c, *d;

  if (jstr(spec, "TrainingImage") == NULL &&
      jstr(spec, "AlgorithmName") == NULL)
    return local_fail(err, 400, "ValidationException",
                      "Either TrainingImage or AlgorithmName must be "
                      "specified in AlgorithmSpecification.");
  if (jstr(spec, "AlgorithmName"))
    return local_fail(err, 400, "ValidationException",
                      "Could not find algorithm \"%s\" (the local engine "
                      "runs training images; algorithm resources are not "
                      "supported).",
                      jstr(spec, "AlgorithmName"));
  if (json_object_get(rc, "InstanceGroups"))
    return local_fail(err, 400, "ValidationException",
                      "InstanceGroups (heterogeneous clusters) are not "
                      "supported by the local engine; use InstanceType and "
                      "InstanceCount.");
  if (jstr(rc, "InstanceType") == NULL)
    return local_fail(err, 400, "ValidationException",
                      "1 validation error detected: Value null at "
                      "'resourceConfig.instanceType' failed to satisfy "
                      "constraint: Member must not be null");
  if (!json_is_integer(json_object_get(rc, "InstanceCount")))
    return local_fail(err, 400, "ValidationException",
                      "1 validation error detected: Value null at "
                      "'resourceConfig.instanceCount' failed to satisfy "
                      "constraint: Member must not be null");
  if (jint(rc, "InstanceCount", 0) < 1)
    return local_fail(err, 400, "ValidationException",
                      "1 validation error detected: Value '%lld' at "
                      "'resourceConfig.instanceCount' failed to satisfy "
                      "constraint: Member must have value greater than or "
                      "equal to 1",
                      jint(rc, "InstanceCount", 0));
  json_array_foreach(channels, i, c)
  {
    if (json_object_get(json_object_get(c, "DataSource"), "S3DataSource") ==
        NULL)
      return local_fail(err, 400, "ValidationException",
                        "Channel '%s': the local engine reads S3DataSource "
                        "channels only.",
                        jstr(c, "ChannelName"));
    for (k = 0; k < i; k++) {
      d = json_array_get(channels, k);
      if (strcmp(jstr(c, "ChannelName"), jstr(d, "ChannelName")) == 0)
        return local_fail(err, 400, "ValidationException",
                          "Channel names must be unique within a training "
                          "job: '%s' is given more than once.",
                          jstr(c, "ChannelName"));
    }
  }
  return 0;
}

/* <S3OutputPath without trailing slashes>/NAME/output/model.tar.gz. */
static json_t *artifact_path(const char *output, const char *name)
{
  size_t n = strlen(output);
  struct buf b;
  json_t *s;

  while (n > 0 && output[n - 1] == '/')
    n--;
  buf_init(&b, 4096);
  if (buf_addf(&b, "%.*s/%s/output/model.tar.gz", (int)n, output, name) < 0)
    return NULL;
  s = json_string(buf_str(&b));
  buf_free(&b);
  return s;
}

static int create_training_job(struct sm_state *st, const json_t *in,
                               json_t **out, struct local_error *err)
{
  const char *name = jstr(in, "TrainingJobName");
  json_t *doc = NULL, *existing = NULL, *spec;
  long long instances, jobs_used, inst_used;
  char arn[256];
  double now = sm_now(st);
  int rc;

  rc = check_training_request(in, err);
  if (rc < 0)
    return rc;
  if (sm_arn(st, "training-job", name, arn, sizeof(arn)) < 0)
    return fail_nomem(err);
  rc = row_load(st, &sm_jobs, name, &existing, NULL);
  json_decref(existing);
  if (rc == 0)
    return local_fail(err, 400, "ResourceInUse",
                      "Training job names must be unique within an AWS "
                      "account and region, and a training job with this "
                      "name already exists (%s)",
                      arn);
  instances = jint(json_object_get(in, "ResourceConfig"), "InstanceCount", 1);
  if (usage(st, sm_jobs.table, "status IN ('InProgress', 'Stopping')",
            &jobs_used, &inst_used) < 0)
    return fail_db(st, err);
  if (jobs_used + 1 > st->max_jobs)
    return fail_limit(err, "Number of concurrent training jobs", st->max_jobs,
                      jobs_used, 1, "Jobs");
  if (inst_used + instances > st->max_training_instances)
    return fail_limit(err, "Number of instances across all training jobs",
                      st->max_training_instances, inst_used, instances,
                      "Instances");

  doc = json_pack(
      "{s:s, s:s, s:{s:o}, s:s, s:s, s:f, s:f, s:[{s:s, s:f, "
      "s:s}], s:b, s:b, s:b}",
      "TrainingJobName", name, "TrainingJobArn", arn, "ModelArtifacts",
      "S3ModelArtifacts",
      artifact_path(
          jstr(json_object_get(in, "OutputDataConfig"), "S3OutputPath"), name),
      "TrainingJobStatus", "InProgress", "SecondaryStatus", "Starting",
      "CreationTime", now, "LastModifiedTime", now,
      "SecondaryStatusTransitions", "Status", "Starting", "StartTime", now,
      "StatusMessage", default_message("Starting"), "EnableNetworkIsolation",
      json_is_true(json_object_get(in, "EnableNetworkIsolation")),
      "EnableInterContainerTrafficEncryption",
      json_is_true(
          json_object_get(in, "EnableInterContainerTrafficEncryption")),
      "EnableManagedSpotTraining",
      json_is_true(json_object_get(in, "EnableManagedSpotTraining")));
  if (doc == NULL)
    return fail_nomem(err);
  rc = jset(doc, "HyperParameters",
            json_object_get(in, "HyperParameters")
                ? json_deep_copy(json_object_get(in, "HyperParameters"))
                : json_object());
  if (rc == 0)
    rc = jcopy(doc, in, "AlgorithmSpecification");
  spec = json_object_get(doc, "AlgorithmSpecification");
  if (rc == 0 &&
      json_object_get(spec, "EnableSageMakerMetricsTimeSeries") == NULL)
    rc = jset(spec, "EnableSageMakerMetricsTimeSeries", json_false());
  if (rc == 0)
    rc = jcopy(doc, in, "RoleArn");
  if (rc == 0)
    rc = jcopy(doc, in, "InputDataConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "OutputDataConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "ResourceConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "StoppingCondition");
  if (rc == 0 && jint(json_object_get(doc, "StoppingCondition"),
                      "MaxRuntimeInSeconds", 0) == 0)
    rc = jset(json_object_get(doc, "StoppingCondition"), "MaxRuntimeInSeconds",
              json_integer(SM_DEFAULT_MAX_RUNTIME));
  if (rc == 0)
    rc = jcopy(doc, in, "VpcConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "Environment");
  if (rc == 0)
    rc = jcopy(doc, in, "CheckpointConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "RetryStrategy");
  if (rc == 0)
    rc = jcopy(doc, in, "ExperimentConfig");
  if (rc < 0) {
    json_decref(doc);
    return fail_nomem(err);
  }
  rc = row_save(st, &sm_jobs, doc, instances, NULL, 1);
  if (rc == SR_EEXIST) {
    json_decref(doc);
    return local_fail(err, 400, "ResourceInUse",
                      "Training job names must be unique within an AWS "
                      "account and region, and a training job with this "
                      "name already exists (%s)",
                      arn);
  }
  if (rc < 0) {
    json_decref(doc);
    return rc == SR_ENOMEM ? fail_nomem(err) : fail_db(st, err);
  }
  rc = job_run(st, doc, 0);
  if (rc < 0) {
    /* The job exists; it fails as SageMaker fails a job it could not
     * provision. */
    struct local_training_report r;
    char reason[256];

    memset(&r, 0, sizeof(r));
    snprintf(reason, sizeof(reason),
             "InternalServerError: the local engine could not start the "
             "job: %s",
             sr_strerror(rc));
    r.secondary_status = "Failed";
    r.failure_reason = reason;
    job_apply(st, name, &r, SM_STOP_NONE);
  }
  json_decref(doc);
  *out = json_pack("{s:s}", "TrainingJobArn", arn);
  return *out ? 0 : fail_nomem(err);
}

static int describe_training_job(struct sm_state *st, const json_t *in,
                                 json_t **out, struct local_error *err)
{
  return load_or_fail(st, &sm_jobs, jstr(in, "TrainingJobName"), out, NULL,
                      err);
}

static int stop_training_job(struct sm_state *st, const json_t *in,
                             json_t **out, struct local_error *err)
{
  const char *name = jstr(in, "TrainingJobName");
  struct local_training_report r;
  struct sm_job *j;
  json_t *doc = NULL;
  const char *status;
  int rc;

  rc = load_or_fail(st, &sm_jobs, name, &doc, NULL, err);
  if (rc < 0)
    return rc;
  status = jstr(doc, "TrainingJobStatus");
  if (strcmp(status, "InProgress") != 0) {
    rc = local_fail(err, 400, "ValidationException",
                    "The request was rejected because the training job is "
                    "in status %s.",
                    status);
    json_decref(doc);
    return rc;
  }
  memset(&r, 0, sizeof(r));
  r.secondary_status = "Stopping";
  rc = job_apply(st, jstr(doc, "TrainingJobName"), &r, SM_STOP_USER);
  if (rc == 0) {
    j = job_find(st, name);
    if (j && j->t) {
      j->stop_reason = SM_STOP_USER;
      local_training_stop(j->t);
    } else if (j && j->launching) {
      j->stop_reason = SM_STOP_USER;
      job_end_unstarted(j);
    } else {
      /* No run to stop (it could not start): it is stopped at once. */
      r.secondary_status = "Stopped";
      rc = job_apply(st, jstr(doc, "TrainingJobName"), &r, SM_STOP_USER);
    }
  }
  json_decref(doc);
  if (rc < 0)
    return rc == SR_ENOMEM ? fail_nomem(err) : fail_db(st, err);
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

/* ---- Lists -------------------------------------------------------------- */

struct sm_list {
  const struct sm_kind *kind;
  const char *result;      /* "TrainingJobSummaries" */
  const char *const *keys; /* members of a summary */
  int status_filter;       /* accepts StatusEquals */
  int modified_filter;     /* accepts LastModifiedTime{After,Before} */
};

/* NextToken: "sm1." and the offset of the next page. */
static int token_parse(const char *tok, long long *offset)
{
  char *end;
  long long v;

  if (tok == NULL) {
    *offset = 0;
    return 0;
  }
  if (strncmp(tok, "sm1.", 4) != 0 || !isdigit((unsigned char)tok[4]))
    return SR_EINVAL;
  v = strtoll(tok + 4, &end, 10);
  if (*end != '\0' || v < 0)
    return SR_EINVAL;
  *offset = v;
  return 0;
}

/* A timestamp member as epoch seconds; 0 when absent or unreadable. */
static int time_member(const json_t *in, const char *key, double *t)
{
  json_t *v = json_object_get(in, key);

  if (json_is_number(v)) {
    *t = json_number_value(v);
    return 1;
  }
  if (json_is_string(v)) {
    char *end;

    *t = strtod(json_string_value(v), &end);
    return *end == '\0';
  }
  return 0;
}

static int list_rows(struct sm_state *st, const struct sm_list *spec,
                     const json_t *in, json_t **out, struct local_error *err)
{
  static const struct {
    const char *member, *cond;
  } times[] = {{"CreationTimeAfter", " AND creation_time > ?"},
               {"CreationTimeBefore", " AND creation_time < ?"},
               {"LastModifiedTimeAfter", " AND last_modified_time > ?"},
               {"LastModifiedTimeBefore", " AND last_modified_time < ?"}};
  const char *sort_by = jstr(in, "SortBy");
  const char *order = jstr(in, "SortOrder");
  const char *contains = jstr(in, "NameContains");
  const char *status = spec->status_filter ? jstr(in, "StatusEquals") : NULL;
  long long max = jint(in, "MaxResults", SM_LIST_DEFAULT), offset, n = 0;
  const char *column = "creation_time";
  double tv[4];
  int have[4], bind = 1, rc;
  size_t i;
  sqlite3_stmt *stmt = NULL;
  struct buf sql;
  json_t *items = NULL, *result = NULL;

  if (token_parse(jstr(in, "NextToken"), &offset) < 0)
    return local_fail(err, 400, "ValidationException",
                      "The NextToken provided is not valid.");
  if (sort_by && strcmp(sort_by, "Name") == 0)
    column = "name";
  else if (sort_by && strcmp(sort_by, "Status") == 0)
    column = "status";
  buf_init(&sql, 4096);
  rc = buf_addf(&sql, "SELECT doc FROM %s WHERE 1", spec->kind->table);
  if (rc == 0 && contains)
    rc = buf_adds(&sql, " AND instr(lower(name), lower(?)) > 0");
  if (rc == 0 && status)
    rc = buf_adds(&sql, " AND status = ?");
  for (i = 0; i < 4; i++) {
    have[i] = (i < 2 || spec->modified_filter) &&
              time_member(in, times[i].member, &tv[i]);
    if (rc == 0 && have[i])
      rc = buf_adds(&sql, times[i].cond);
  }
  if (rc == 0)
    rc = buf_addf(&sql, " ORDER BY %s %s, name %s LIMIT ? OFFSET ?", column,
                  order && strcmp(order, "Ascending") == 0 ? "ASC" : "DESC",
                  order && strcmp(order, "Ascending") == 0 ? "ASC" : "DESC");
  if (rc < 0) {
    buf_free(&sql);
    return fail_nomem(err);
  }
  if (sqlite3_prepare_v2(local_engine_db(st->e), buf_str(&sql), -1, &stmt,
                         NULL) != SQLITE_OK) {
    buf_free(&sql);
    return fail_db(st, err);
  }
  buf_free(&sql);
  if (contains)
    sqlite3_bind_text(stmt, bind++, contains, -1, SQLITE_STATIC);
  if (status)
    sqlite3_bind_text(stmt, bind++, status, -1, SQLITE_STATIC);
  for (i = 0; i < 4; i++)
    if (have[i])
      sqlite3_bind_double(stmt, bind++, tv[i]);
  sqlite3_bind_int64(stmt, bind++, max + 1); /* one more: is there a next? */
  sqlite3_bind_int64(stmt, bind++, offset);
  items = json_array();
  if (items == NULL)
    goto nomem;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    json_error_t jerr;
    json_t *doc, *summary;
    size_t k;

    if (n++ == max)
      break;
    doc = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, &jerr);
    summary = json_object();
    if (doc == NULL || summary == NULL) {
      json_decref(doc);
      json_decref(summary);
      goto nomem;
    }
    for (k = 0; spec->keys[k]; k++)
      if (jcopy(summary, doc, spec->keys[k]) < 0)
        rc = SR_ENOMEM;
    json_decref(doc);
    if (rc == SR_ENOMEM || json_array_append_new(items, summary) != 0)
      goto nomem;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    sqlite3_finalize(stmt);
    json_decref(items);
    return fail_db(st, err);
  }
  sqlite3_finalize(stmt);
  stmt = NULL;
  result = json_object();
  if (result == NULL || jset(result, spec->result, items) < 0) {
    items = NULL;
    goto nomem;
  }
  items = NULL;
  if (n > max) {
    char tok[32];

    snprintf(tok, sizeof(tok), "sm1.%lld", offset + max);
    if (jset(result, "NextToken", json_string(tok)) < 0)
      goto nomem;
  }
  *out = result;
  return 0;
nomem:
  sqlite3_finalize(stmt);
  json_decref(items);
  json_decref(result);
  return fail_nomem(err);
}

static const char *const job_summary_keys[] = {"TrainingJobName",
                                               "TrainingJobArn",
                                               "CreationTime",
                                               "TrainingEndTime",
                                               "LastModifiedTime",
                                               "TrainingJobStatus",
                                               NULL};
static const char *const model_summary_keys[] = {"ModelName", "ModelArn",
                                                 "CreationTime", NULL};
static const char *const config_summary_keys[] = {
    "EndpointConfigName", "EndpointConfigArn", "CreationTime", NULL};
static const char *const endpoint_summary_keys[] = {
    "EndpointName",     "EndpointArn",    "CreationTime",
    "LastModifiedTime", "EndpointStatus", NULL};

static int list_training_jobs(struct sm_state *st, const json_t *in,
                              json_t **out, struct local_error *err)
{
  static const struct sm_list spec = {&sm_jobs, "TrainingJobSummaries",
                                      job_summary_keys, 1, 1};

  return list_rows(st, &spec, in, out, err);
}

static int list_models(struct sm_state *st, const json_t *in, json_t **out,
                       struct local_error *err)
{
  static const struct sm_list spec = {&sm_models, "Models", model_summary_keys,
                                      0, 0};

  return list_rows(st, &spec, in, out, err);
}

static int list_endpoint_configs(struct sm_state *st, const json_t *in,
                                 json_t **out, struct local_error *err)
{
  static const struct sm_list spec = {&sm_configs, "EndpointConfigs",
                                      config_summary_keys, 0, 0};

  return list_rows(st, &spec, in, out, err);
}

static int list_endpoints(struct sm_state *st, const json_t *in, json_t **out,
                          struct local_error *err)
{
  static const struct sm_list spec = {&sm_endpoints, "Endpoints",
                                      endpoint_summary_keys, 1, 1};

  return list_rows(st, &spec, in, out, err);
}

/* ---- Models and endpoint configurations -------------------------------- */

/* Creates kind's row from doc, answering "Cannot create already existing
 * <what> "ARN"." for a taken name. Takes doc over. */
static int create_row(struct sm_state *st, const struct sm_kind *k, json_t *doc,
                      long long instances, const json_t *extra,
                      const char *arn_key, json_t **out,
                      struct local_error *err)
{
  const char *arn = jstr(doc, arn_key);
  int rc;

  rc = row_save(st, k, doc, instances, extra, 1);
  if (rc == SR_EEXIST)
    rc = local_fail(err, 400, "ValidationException",
                    "Cannot create already existing %s \"%s\".", k->what, arn);
  else if (rc == SR_ENOMEM)
    rc = fail_nomem(err);
  else if (rc < 0)
    rc = fail_db(st, err);
  else if ((*out = json_pack("{s:s}", arn_key, arn)) == NULL)
    rc = fail_nomem(err);
  json_decref(doc);
  return rc;
}

static int create_model(struct sm_state *st, const json_t *in, json_t **out,
                        struct local_error *err)
{
  const char *name = jstr(in, "ModelName");
  const json_t *primary = json_object_get(in, "PrimaryContainer");
  const json_t *containers = json_object_get(in, "Containers");
  json_t *doc, *pc;
  char arn[256];
  int rc;

  if (primary == NULL && json_array_size(containers) == 0)
    return local_fail(err, 400, "ValidationException",
                      "Either PrimaryContainer or Containers must be "
                      "specified.");
  if (primary && containers)
    return local_fail(err, 400, "ValidationException",
                      "PrimaryContainer and Containers cannot both be "
                      "specified.");
  if (primary == NULL)
    primary = json_array_get(containers, 0);
  if (jstr(primary, "ModelPackageName"))
    return local_fail(err, 400, "ValidationException",
                      "Could not find model package \"%s\".",
                      jstr(primary, "ModelPackageName"));
  if (jstr(primary, "Image") == NULL)
    return local_fail(err, 400, "ValidationException",
                      "Image must be specified for a container without a "
                      "ModelPackageName.");
  if (sm_arn(st, "model", name, arn, sizeof(arn)) < 0)
    return fail_nomem(err);
  doc = json_pack("{s:s, s:s, s:f, s:b}", "ModelName", name, "ModelArn", arn,
                  "CreationTime", sm_now(st), "EnableNetworkIsolation",
                  json_is_true(json_object_get(in, "EnableNetworkIsolation")));
  if (doc == NULL)
    return fail_nomem(err);
  rc = jcopy(doc, in, "ExecutionRoleArn");
  if (rc == 0)
    rc = jcopy(doc, in, "PrimaryContainer");
  if (rc == 0)
    rc = jcopy(doc, in, "Containers");
  if (rc == 0)
    rc = jcopy(doc, in, "VpcConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "InferenceExecutionConfig");
  pc = json_object_get(doc, "PrimaryContainer");
  if (rc == 0 && pc && json_object_get(pc, "Mode") == NULL)
    rc = jset(pc, "Mode", json_string("SingleModel"));
  if (rc == 0 && pc && json_object_get(pc, "Environment") == NULL)
    rc = jset(pc, "Environment", json_object());
  if (rc < 0) {
    json_decref(doc);
    return fail_nomem(err);
  }
  return create_row(st, &sm_models, doc, 0, NULL, "ModelArn", out, err);
}

static int describe_model(struct sm_state *st, const json_t *in, json_t **out,
                          struct local_error *err)
{
  return load_or_fail(st, &sm_models, jstr(in, "ModelName"), out, NULL, err);
}

/* Delete* of a row with no work behind it. */
static int delete_plain(struct sm_state *st, const struct sm_kind *k,
                        const char *name, json_t **out, struct local_error *err)
{
  json_t *doc = NULL;
  int rc;

  rc = load_or_fail(st, k, name, &doc, NULL, err);
  json_decref(doc);
  if (rc < 0)
    return rc;
  if (row_delete(st, k, name) < 0)
    return fail_db(st, err);
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

static int delete_model(struct sm_state *st, const json_t *in, json_t **out,
                        struct local_error *err)
{
  return delete_plain(st, &sm_models, jstr(in, "ModelName"), out, err);
}

static int create_endpoint_config(struct sm_state *st, const json_t *in,
                                  json_t **out, struct local_error *err)
{
  const char *name = jstr(in, "EndpointConfigName");
  const json_t *variants = json_object_get(in, "ProductionVariants");
  json_t *doc = NULL, *copy, *v, *model = NULL;
  char arn[256];
  size_t i, k;
  int rc;

  json_array_foreach(variants, i, v)
  {
    for (k = 0; k < i; k++)
      if (strcasecmp(jstr(v, "VariantName"),
                     jstr(json_array_get(variants, k), "VariantName")) == 0)
        return local_fail(err, 400, "ValidationException",
                          "Variant names must be unique within an endpoint "
                          "configuration: '%s' is given more than once.",
                          jstr(v, "VariantName"));
    if (json_object_get(v, "ServerlessConfig") == NULL &&
        (jstr(v, "InstanceType") == NULL ||
         !json_is_integer(json_object_get(v, "InitialInstanceCount"))))
      return local_fail(err, 400, "ValidationException",
                        "Variant '%s': InstanceType and InitialInstanceCount "
                        "must be specified unless ServerlessConfig is.",
                        jstr(v, "VariantName"));
    rc = load_or_fail(st, &sm_models, jstr(v, "ModelName"), &model, NULL, err);
    json_decref(model);
    if (rc < 0)
      return rc;
  }
  if (sm_arn(st, "endpoint-config", name, arn, sizeof(arn)) < 0)
    return fail_nomem(err);
  doc = json_pack("{s:s, s:s, s:f}", "EndpointConfigName", name,
                  "EndpointConfigArn", arn, "CreationTime", sm_now(st));
  if (doc == NULL)
    return fail_nomem(err);
  rc = jcopy(doc, in, "ProductionVariants");
  copy = json_object_get(doc, "ProductionVariants");
  json_array_foreach(copy, i, v)
  {
    if (rc == 0 && json_object_get(v, "InitialVariantWeight") == NULL)
      rc = jset(v, "InitialVariantWeight", json_real(1.0));
  }
  if (rc == 0)
    rc = jcopy(doc, in, "DataCaptureConfig");
  if (rc == 0)
    rc = jcopy(doc, in, "KmsKeyId");
  if (rc == 0)
    rc = jcopy(doc, in, "AsyncInferenceConfig");
  if (rc < 0) {
    json_decref(doc);
    return fail_nomem(err);
  }
  return create_row(st, &sm_configs, doc, 0, NULL, "EndpointConfigArn", out,
                    err);
}

static int describe_endpoint_config(struct sm_state *st, const json_t *in,
                                    json_t **out, struct local_error *err)
{
  return load_or_fail(st, &sm_configs, jstr(in, "EndpointConfigName"), out,
                      NULL, err);
}

static int delete_endpoint_config(struct sm_state *st, const json_t *in,
                                  json_t **out, struct local_error *err)
{
  return delete_plain(st, &sm_configs, jstr(in, "EndpointConfigName"), out,
                      err);
}

/* ---- Endpoints ---------------------------------------------------------- */

static void endpoint_free(struct sm_endpoint *ep)
{
  struct sm_state *st = ep->st;

  free(ep->name);
  free(ep->next_config);
  json_decref(ep->next_variants);
  free(ep);
  sm_unref(st);
}

static void endpoint_unlink(struct sm_endpoint *ep)
{
  struct sm_endpoint **p;

  for (p = &ep->st->endpoints; *p; p = &(*p)->next)
    if (*p == ep) {
      *p = ep->next;
      break;
    }
}

static struct sm_endpoint *endpoint_find(struct sm_state *st, const char *name)
{
  struct sm_endpoint *ep;

  for (ep = st->endpoints; ep; ep = ep->next)
    if (strcasecmp(ep->name, name) == 0)
      return ep;
  return NULL;
}

/* A hosting of ep stopped; the endpoint goes when it was being deleted
 * and nothing of it is left. */
static void endpoint_hosting_stopped(void *data)
{
  struct sm_endpoint *ep = data;

  if (--ep->live > 0 || !(ep->deleting || ep->st->closing))
    return;
  if (!ep->st->closing) {
    if (row_delete(ep->st, &sm_endpoints, ep->name) < 0)
      local_engine_log(ep->st->e, "endpoint %s: cannot delete: %s", ep->name,
                       sqlite3_errmsg(local_engine_db(ep->st->e)));
    endpoint_unlink(ep);
  }
  endpoint_free(ep);
}

/* DescribeEndpoint's ProductionVariants from the variants snapshot. */
static json_t *variant_summaries(const json_t *variants, int serving,
                                 double now)
{
  json_t *out = json_array(), *v, *s;
  size_t i;

  if (out == NULL)
    return NULL;
  json_array_foreach(variants, i, v)
  {
    json_t *weight = json_object_get(v, "InitialVariantWeight");
    long long count = jint(v, "InitialInstanceCount", 1);
    const char *image =
        jstr(json_object_get(json_object_get(v, "Model"), "PrimaryContainer"),
             "Image");

    s = json_pack("{s:s, s:o, s:I}", "VariantName", jstr(v, "VariantName"),
                  "DesiredWeight",
                  weight ? json_deep_copy(weight) : json_real(1.0),
                  "DesiredInstanceCount", (json_int_t)count);
    if (s && serving &&
        (jset(s, "CurrentWeight",
              json_deep_copy(json_object_get(s, "DesiredWeight"))) < 0 ||
         jset(s, "CurrentInstanceCount", json_integer(count)) < 0 ||
         (image && jset(s, "DeployedImages",
                        json_pack("[{s:s, s:s, s:f}]", "SpecifiedImage", image,
                                  "ResolvedImage", image, "ResolutionTime",
                                  now)) < 0))) {
      json_decref(s);
      s = NULL;
    }
    if (s == NULL || json_array_append_new(out, s) != 0) {
      json_decref(out);
      return NULL;
    }
  }
  return out;
}

/* Sets the endpoint's status (and reason, variants) in its record. */
static int endpoint_record(struct sm_state *st, const char *name,
                           const char *status, const char *reason,
                           const char *config, const json_t *variants,
                           int serving)
{
  json_t *doc = NULL, *extra = NULL;
  double now = sm_now(st);
  int rc;

  rc = row_load(st, &sm_endpoints, name, &doc, &extra);
  if (rc < 0)
    return rc;
  if (variants == NULL)
    variants = extra;
  rc = jset(doc, "EndpointStatus", json_string(status));
  if (rc == 0)
    rc = jset(doc, "LastModifiedTime", json_real(now));
  if (rc == 0 && config)
    rc = jset(doc, "EndpointConfigName", json_string(config));
  if (rc == 0 && variants)
    rc = jset(doc, "ProductionVariants",
              variant_summaries(variants, serving, now));
  if (rc == 0 && reason)
    rc = jset(doc, "FailureReason", failure_reason(reason));
  else if (rc == 0 && strcmp(status, "InService") == 0 && !reason)
    json_object_del(doc, "FailureReason");
  if (rc == 0) {
    long long instances = 0;
    size_t i;
    json_t *v;

    json_array_foreach(variants, i, v) instances +=
        jint(v, "InitialInstanceCount", 1);
    rc = row_save(st, &sm_endpoints, doc, instances, variants, 0);
  }
  json_decref(doc);
  json_decref(extra);
  return rc;
}

static void endpoint_ready(struct local_hosting *h, int status,
                           const char *reason, void *data)
{
  struct sm_endpoint *ep = data;
  struct sm_state *st = ep->st;
  int rc = 0;

  if (st->closing || ep->deleting)
    return;
  if (h == ep->h) {
    ep->ready = status == 0;
    rc = endpoint_record(st, ep->name, status == 0 ? "InService" : "Failed",
                         status == 0 ? NULL : reason, NULL, NULL, status == 0);
  } else if (h == ep->next_h && status == 0) {
    /* UpdateEndpoint: the new configuration serves, the old one goes. */
    struct local_hosting *old = ep->h;

    ep->h = ep->next_h;
    ep->next_h = NULL;
    ep->ready = 1;
    if (old)
      local_hosting_stop(old, endpoint_hosting_stopped, ep);
    rc = endpoint_record(st, ep->name, "InService", NULL, ep->next_config,
                         ep->next_variants, 1);
  } else if (h == ep->next_h) {
    /* The update failed: the old configuration keeps serving. */
    ep->next_h = NULL;
    local_hosting_stop(h, endpoint_hosting_stopped, ep);
    rc = endpoint_record(st, ep->name, ep->ready ? "InService" : "Failed",
                         reason, NULL, NULL, ep->ready);
  }
  if (rc < 0)
    local_engine_log(st->e, "endpoint %s: cannot record status: %s", ep->name,
                     sr_strerror(rc));
}

/* Starts hosting variants for the endpoint in doc; ep is created (and
 * tracked) when *epp is NULL. */
static int endpoint_start(struct sm_state *st, const json_t *doc,
                          const json_t *variants, struct sm_endpoint **epp)
{
  struct sm_endpoint *ep = *epp;
  struct local_hosting *h = NULL;
  int fresh = ep == NULL, rc;

  if (fresh) {
    ep = calloc(1, sizeof(*ep));
    if (ep == NULL)
      return SR_ENOMEM;
    ep->st = st;
    ep->name = strdup(jstr(doc, "EndpointName"));
    if (ep->name == NULL) {
      free(ep);
      return SR_ENOMEM;
    }
  }
  rc = local_hosting_start(st->e, doc, variants, endpoint_ready, ep, &h);
  if (rc < 0) {
    if (fresh) {
      free(ep->name);
      free(ep);
    }
    return rc;
  }
  ep->live++;
  if (fresh) {
    ep->h = h;
    ep->next = st->endpoints;
    st->endpoints = ep;
    st->refs++;
    *epp = ep;
  } else {
    ep->next_h = h;
  }
  return 0;
}

/* The snapshot of a configuration's variants with their models, as an
 * endpoint is created from it. */
static int resolve_variants(struct sm_state *st, const char *config,
                            json_t **out, long long *instances,
                            struct local_error *err)
{
  json_t *cfg = NULL, *v, *model = NULL, *snap, *list = NULL;
  size_t i;
  int rc;

  *out = NULL;
  *instances = 0;
  rc = load_or_fail(st, &sm_configs, config, &cfg, NULL, err);
  if (rc < 0)
    return rc;
  list = json_array();
  if (list == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  json_array_foreach(json_object_get(cfg, "ProductionVariants"), i, v)
  {
    rc = load_or_fail(st, &sm_models, jstr(v, "ModelName"), &model, NULL, err);
    if (rc < 0)
      goto out;
    snap = json_deep_copy(v);
    if (snap == NULL || jset(snap, "Model", model) < 0 ||
        json_array_append_new(list, snap) != 0) {
      rc = fail_nomem(err);
      goto out;
    }
    model = NULL;
    *instances += jint(v, "InitialInstanceCount", 1);
  }
  *out = list;
  list = NULL;
out:
  json_decref(cfg);
  json_decref(list);
  return rc;
}

static int create_endpoint(struct sm_state *st, const json_t *in, json_t **out,
                           struct local_error *err)
{
  const char *name = jstr(in, "EndpointName");
  const char *config = jstr(in, "EndpointConfigName");
  struct sm_endpoint *ep = NULL;
  json_t *doc = NULL, *variants = NULL, *existing = NULL;
  long long instances, count, used;
  char arn[256];
  double now = sm_now(st);
  int rc;

  if (sm_arn(st, "endpoint", name, arn, sizeof(arn)) < 0)
    return fail_nomem(err);
  rc = row_load(st, &sm_endpoints, name, &existing, NULL);
  json_decref(existing);
  if (rc == 0)
    return local_fail(err, 400, "ValidationException",
                      "Cannot create already existing endpoint \"%s\".", arn);
  rc = resolve_variants(st, config, &variants, &instances, err);
  if (rc < 0)
    return rc;
  if (usage(st, sm_endpoints.table, "status NOT IN ('Failed', 'Deleting')",
            &count, &used) < 0) {
    rc = fail_db(st, err);
    goto out;
  }
  if (used + instances > st->max_endpoint_instances) {
    rc = fail_limit(err, "Number of instances across all endpoints",
                    st->max_endpoint_instances, used, instances, "Instances");
    goto out;
  }
  doc = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f}", "EndpointName", name,
                  "EndpointArn", arn, "EndpointConfigName", config,
                  "EndpointStatus", "Creating", "CreationTime", now,
                  "LastModifiedTime", now);
  if (doc == NULL || jset(doc, "ProductionVariants",
                          variant_summaries(variants, 0, now)) < 0) {
    rc = fail_nomem(err);
    goto out;
  }
  rc = row_save(st, &sm_endpoints, doc, instances, variants, 1);
  if (rc == SR_EEXIST) {
    rc = local_fail(err, 400, "ValidationException",
                    "Cannot create already existing endpoint \"%s\".", arn);
    goto out;
  }
  if (rc < 0) {
    rc = fail_db(st, err);
    goto out;
  }
  rc = endpoint_start(st, doc, variants, &ep);
  if (rc < 0) {
    char reason[256];

    snprintf(reason, sizeof(reason),
             "the local engine could not start hosting: %s", sr_strerror(rc));
    endpoint_record(st, name, "Failed", reason, NULL, NULL, 0);
  }
  *out = json_pack("{s:s}", "EndpointArn", arn);
  rc = *out ? 0 : fail_nomem(err);
out:
  json_decref(doc);
  json_decref(variants);
  return rc;
}

static int describe_endpoint(struct sm_state *st, const json_t *in,
                             json_t **out, struct local_error *err)
{
  return load_or_fail(st, &sm_endpoints, jstr(in, "EndpointName"), out, NULL,
                      err);
}

static int delete_endpoint(struct sm_state *st, const json_t *in, json_t **out,
                           struct local_error *err)
{
  const char *name = jstr(in, "EndpointName");
  struct sm_endpoint *ep;
  json_t *doc = NULL;
  int rc;

  rc = load_or_fail(st, &sm_endpoints, name, &doc, NULL, err);
  if (rc < 0)
    return rc;
  if (strcmp(jstr(doc, "EndpointStatus"), "Deleting") != 0) {
    ep = endpoint_find(st, name);
    rc = endpoint_record(st, jstr(doc, "EndpointName"), "Deleting", NULL, NULL,
                         NULL, 0);
    if (rc < 0) {
      json_decref(doc);
      return fail_db(st, err);
    }
    if (ep) {
      struct local_hosting *h = ep->h, *next = ep->next_h;

      ep->deleting = 1;
      ep->ready = 0;
      ep->h = ep->next_h = NULL;
      if (h)
        local_hosting_stop(h, endpoint_hosting_stopped, ep);
      if (next)
        local_hosting_stop(next, endpoint_hosting_stopped, ep);
    } else if (row_delete(st, &sm_endpoints, name) < 0) {
      json_decref(doc);
      return fail_db(st, err);
    }
  }
  json_decref(doc);
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

static int update_endpoint(struct sm_state *st, const json_t *in, json_t **out,
                           struct local_error *err)
{
  const char *name = jstr(in, "EndpointName");
  const char *config = jstr(in, "EndpointConfigName");
  struct sm_endpoint *ep;
  json_t *doc = NULL, *variants = NULL;
  long long instances;
  int rc;

  rc = load_or_fail(st, &sm_endpoints, name, &doc, NULL, err);
  if (rc < 0)
    return rc;
  ep = endpoint_find(st, name);
  if (strcmp(jstr(doc, "EndpointStatus"), "Failed") == 0) {
    rc = local_fail(err, 400, "ValidationException",
                    "Cannot update failed endpoint \"%s\".",
                    jstr(doc, "EndpointArn"));
    goto out;
  }
  if (strcmp(jstr(doc, "EndpointStatus"), "InService") != 0 || ep == NULL ||
      ep->next_h) {
    rc = local_fail(err, 400, "ValidationException",
                    "Cannot update in-progress endpoint \"%s\".",
                    jstr(doc, "EndpointArn"));
    goto out;
  }
  rc = resolve_variants(st, config, &variants, &instances, err);
  if (rc < 0)
    goto out;
  rc = endpoint_record(st, jstr(doc, "EndpointName"), "Updating", NULL, NULL,
                       NULL, 1);
  if (rc == 0)
    rc = endpoint_start(st, doc, variants, &ep);
  if (rc < 0) {
    rc = rc == SR_ENOMEM ? fail_nomem(err) : fail_db(st, err);
    goto out;
  }
  free(ep->next_config);
  json_decref(ep->next_variants);
  ep->next_config = strdup(config);
  ep->next_variants = variants;
  variants = NULL;
  if (ep->next_config == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  *out = json_pack("{s:s}", "EndpointArn", jstr(doc, "EndpointArn"));
  rc = *out ? 0 : fail_nomem(err);
out:
  json_decref(doc);
  json_decref(variants);
  return rc;
}

int local_sagemaker_endpoint_hosting(struct local_engine *e, const char *name,
                                     struct local_hosting **out)
{
  struct sm_state *st = sm_state_of(e);
  struct sm_endpoint *ep;

  *out = NULL;
  if (st == NULL)
    return SR_ENOENT;
  for (ep = st->endpoints; ep; ep = ep->next)
    if (strcmp(ep->name, name) == 0 && ep->ready && !ep->deleting && ep->h) {
      *out = ep->h;
      return 0;
    }
  return SR_ENOENT;
}

/* ---- The service -------------------------------------------------------- */

typedef int (*sm_op_fn)(struct sm_state *st, const json_t *in, json_t **out,
                        struct local_error *err);

static const struct sm_op {
  const char *name;
  sm_op_fn fn;
} sm_ops[] = {{"CreateEndpoint", create_endpoint},
              {"CreateEndpointConfig", create_endpoint_config},
              {"CreateModel", create_model},
              {"CreateTrainingJob", create_training_job},
              {"DeleteEndpoint", delete_endpoint},
              {"DeleteEndpointConfig", delete_endpoint_config},
              {"DeleteModel", delete_model},
              {"DescribeEndpoint", describe_endpoint},
              {"DescribeEndpointConfig", describe_endpoint_config},
              {"DescribeModel", describe_model},
              {"DescribeTrainingJob", describe_training_job},
              {"ListEndpointConfigs", list_endpoint_configs},
              {"ListEndpoints", list_endpoints},
              {"ListModels", list_models},
              {"ListTrainingJobs", list_training_jobs},
              {"StopTrainingJob", stop_training_job},
              {"UpdateEndpoint", update_endpoint},
              {NULL, NULL}};

int local_sagemaker_call(struct local_engine *e, const char *operation,
                         const json_t *input, json_t **output,
                         struct local_error *err)
{
  struct sm_state *st = sm_state_of(e);
  const struct sm_op *op;
  struct buf msg;
  int rc;

  *output = NULL;
  if (st == NULL)
    return local_fail(err, 500, "InternalFailure",
                      "the SageMaker service is not running");
  for (op = sm_ops; op->name; op++)
    if (strcmp(op->name, operation) == 0)
      break;
  if (op->name == NULL || !awsmodel_has_operation(st->model, operation))
    return local_fail(err, 400, "UnknownOperationException",
                      "The local engine does not implement SageMaker.%s",
                      operation);
  if (input != NULL && !json_is_object(input))
    return local_fail(err, 400, "SerializationException",
                      "the request body must be a JSON object");
  buf_init(&msg, (size_t)1 << 20);
  rc = awsmodel_validate(st->model, operation, input, &msg);
  if (rc == SR_EINVAL)
    rc = local_fail(err, 400, "ValidationException", "%s", buf_str(&msg));
  else if (rc == SR_EPARSE)
    rc = local_fail(err, 400, "SerializationException", "%s", buf_str(&msg));
  else if (rc < 0)
    rc = fail_nomem(err);
  buf_free(&msg);
  if (rc < 0)
    return rc;
  if (input == NULL) {
    json_t *empty = json_object();

    if (empty == NULL)
      return fail_nomem(err);
    rc = op->fn(st, empty, output, err);
    json_decref(empty);
  } else {
    rc = op->fn(st, input, output, err);
  }
  if (rc < 0) {
    json_decref(*output);
    *output = NULL;
    return -1;
  }
  return 0;
}

/* ---- Start and stop ----------------------------------------------------- */

static long env_quota(const char *name, long dflt)
{
  const char *s = getenv(name);
  char *end;
  long v;

  if (s == NULL || *s == '\0')
    return dflt;
  v = strtol(s, &end, 10);
  return *end == '\0' && v > 0 ? v : dflt;
}

int local_sagemaker_set_quotas(struct local_engine *e, long max_jobs,
                               long max_training_instances,
                               long max_endpoint_instances)
{
  struct sm_state *st = sm_state_of(e);

  if (st == NULL)
    return SR_ENOENT;
  if (max_jobs > 0)
    st->max_jobs = max_jobs;
  if (max_training_instances > 0)
    st->max_training_instances = max_training_instances;
  if (max_endpoint_instances > 0)
    st->max_endpoint_instances = max_endpoint_instances;
  return 0;
}

int local_sagemaker_set_launch_delay(struct local_engine *e, double seconds)
{
  struct sm_state *st = sm_state_of(e);

  if (st == NULL)
    return SR_ENOENT;
  st->launch_ms = seconds > 0 ? (uint64_t)(seconds * 1000.0) : 0;
  return 0;
}

/* Rows of a query as an array of documents (so the table can change
 * while they are handled). */
static int load_docs(struct sm_state *st, const char *sql, json_t **out,
                     json_t **extras)
{
  sqlite3_stmt *stmt = NULL;
  json_t *docs = json_array(), *xs = json_array();
  int rc;

  *out = *extras = NULL;
  if (docs == NULL || xs == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  if (sqlite3_prepare_v2(local_engine_db(st->e), sql, -1, &stmt, NULL) !=
      SQLITE_OK) {
    rc = SR_EIO;
    goto out;
  }
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    json_error_t jerr;
    const char *x = (const char *)sqlite3_column_text(stmt, 1);
    json_t *doc =
        json_loads((const char *)sqlite3_column_text(stmt, 0), 0, &jerr);
    json_t *extra = x ? json_loads(x, 0, &jerr) : json_null();

    if (doc == NULL || extra == NULL || json_array_append_new(docs, doc) != 0) {
      json_decref(extra);
      rc = SR_EIO;
      goto out;
    }
    if (json_array_append_new(xs, extra) != 0) {
      rc = SR_ENOMEM;
      goto out;
    }
  }
  if (rc != SQLITE_DONE) {
    rc = SR_EIO;
    goto out;
  }
  *out = docs;
  *extras = xs;
  docs = xs = NULL;
  rc = 0;
out:
  sqlite3_finalize(stmt);
  json_decref(docs);
  json_decref(xs);
  return rc;
}

/* Jobs that were running when the engine went down: re-attached, or
 * ended in a defined state. */
static int resume_jobs(struct sm_state *st)
{
  json_t *docs = NULL, *extras = NULL, *doc;
  size_t i;
  int rc;

  rc = load_docs(st,
                 "SELECT doc, extra FROM sm_training_jobs"
                 " WHERE status IN ('InProgress', 'Stopping')",
                 &docs, &extras);
  if (rc < 0)
    return rc;
  json_array_foreach(docs, i, doc)
  {
    struct local_training_report r;
    int stopping = strcmp(jstr(doc, "TrainingJobStatus"), "Stopping") == 0;

    if (job_run(st, doc, 1) == 0)
      continue;
    memset(&r, 0, sizeof(r));
    r.secondary_status = stopping ? "Stopped" : "Failed";
    r.failure_reason = SM_RESTART_REASON;
    rc = job_apply(st, jstr(doc, "TrainingJobName"), &r, SM_STOP_NONE);
    if (rc < 0)
      break;
  }
  json_decref(docs);
  json_decref(extras);
  return rc;
}

/* Endpoints that were serving: their hosting starts again (status
 * SystemUpdating, then InService); deletions in flight complete. */
static int resume_endpoints(struct sm_state *st)
{
  json_t *docs = NULL, *extras = NULL, *doc;
  size_t i;
  int rc;

  rc = load_docs(st,
                 "SELECT doc, extra FROM sm_endpoints"
                 " WHERE status NOT IN ('Failed')",
                 &docs, &extras);
  if (rc < 0)
    return rc;
  json_array_foreach(docs, i, doc)
  {
    const char *name = jstr(doc, "EndpointName");
    const char *status = jstr(doc, "EndpointStatus");
    json_t *variants = json_array_get(extras, i);
    struct sm_endpoint *ep = NULL;

    if (strcmp(status, "Deleting") == 0) {
      rc = row_delete(st, &sm_endpoints, name);
    } else {
      rc = endpoint_record(st, name,
                           strcmp(status, "Creating") == 0 ? "Creating"
                                                           : "SystemUpdating",
                           NULL, NULL, NULL, 0);
      if (rc == 0 && endpoint_start(st, doc, variants, &ep) < 0)
        rc = endpoint_record(st, name, "Failed",
                             "the local engine could not restart hosting", NULL,
                             NULL, 0);
    }
    if (rc < 0)
      break;
  }
  json_decref(docs);
  json_decref(extras);
  return rc;
}

int local_sagemaker_init(struct local_engine *e)
{
  struct sm_state *st;
  char *errmsg = NULL;
  int rc;

  if (sm_state_of(e))
    return 0;
  st = calloc(1, sizeof(*st));
  if (st == NULL)
    return SR_ENOMEM;
  st->e = e;
  st->refs = 1;
  st->max_jobs =
      env_quota("SAGERUN_LOCAL_MAX_TRAINING_JOBS", SM_DEFAULT_MAX_JOBS);
  st->max_training_instances = env_quota("SAGERUN_LOCAL_MAX_TRAINING_INSTANCES",
                                         SM_DEFAULT_MAX_TRAINING_INSTANCES);
  st->max_endpoint_instances = env_quota("SAGERUN_LOCAL_MAX_ENDPOINT_INSTANCES",
                                         SM_DEFAULT_MAX_ENDPOINT_INSTANCES);
  {
    const char *launch = getenv("SAGERUN_LOCAL_LAUNCH_SECONDS");
    char *end;
    double v = launch ? strtod(launch, &end) : 0;

    if (launch && *end == '\0' && v > 0 && v < 86400)
      st->launch_ms = (uint64_t)(v * 1000.0);
  }
  rc = awsmodel_load("sagemaker", &st->model);
  if (rc < 0)
    goto fail;
  if (sqlite3_exec(local_engine_db(e), sm_schema, NULL, NULL, &errmsg) !=
      SQLITE_OK) {
    local_engine_log(e, "sagemaker tables: %s", errmsg ? errmsg : "error");
    sqlite3_free(errmsg);
    rc = SR_EIO;
    goto fail;
  }
  st->next = sm_registry;
  sm_registry = st;
  rc = resume_jobs(st);
  if (rc == 0)
    rc = resume_endpoints(st);
  if (rc < 0) {
    local_sagemaker_close(e);
    return rc;
  }
  return 0;
fail:
  awsmodel_free(st->model);
  free(st);
  return rc;
}

void local_sagemaker_close(struct local_engine *e)
{
  struct sm_state *st = sm_state_of(e), **p;
  struct sm_job *j, *jnext;
  struct sm_endpoint *ep, *epnext;

  if (st == NULL)
    return;
  for (p = &sm_registry; *p; p = &(*p)->next)
    if (*p == st) {
      *p = st->next;
      break;
    }
  st->closing = 1;
  /* Runs are detached, not failed: their records stay InProgress, and the
   * next start re-attaches them or ends them as restarted. */
  for (j = st->jobs; j; j = jnext) {
    jnext = j->next;
    if (j->t)
      local_training_detach(j->t);
    j->t = NULL;
    uv_close((uv_handle_t *)&j->timer, job_closed);
  }
  st->jobs = NULL;
  for (ep = st->endpoints; ep; ep = epnext) {
    struct local_hosting *h = ep->h, *next = ep->next_h;

    epnext = ep->next;
    ep->h = ep->next_h = NULL;
    ep->ready = 0;
    if (h)
      local_hosting_stop(h, endpoint_hosting_stopped, ep);
    if (next)
      local_hosting_stop(next, endpoint_hosting_stopped, ep);
    if (ep->live == 0)
      endpoint_free(ep);
  }
  st->endpoints = NULL;
  sm_unref(st);
}
