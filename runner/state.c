/* The state store over SQLite. Every function is one statement or one
 * transaction; SQLite's journal makes an interrupted write roll back on
 * the next open, so the file is never silently half-written. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"

struct state {
  sqlite3 *db;
};

static const char *const schema_sql =
    "PRAGMA foreign_keys = ON;"
    "CREATE TABLE IF NOT EXISTS runs ("
    "  id TEXT PRIMARY KEY, workflow TEXT NOT NULL, path TEXT NOT NULL,"
    "  target TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,"
    "  started_at TEXT NOT NULL, finished_at TEXT, pid INTEGER);"
    "CREATE TABLE IF NOT EXISTS steps ("
    "  run_id TEXT NOT NULL REFERENCES runs(id), instance TEXT NOT NULL,"
    "  type TEXT NOT NULL, status TEXT NOT NULL, attempt INTEGER NOT NULL,"
    "  fingerprint TEXT, inputs TEXT, outputs TEXT, error TEXT,"
    "  started_at TEXT,"
    "  updated_at TEXT NOT NULL, identity TEXT,"
    "  PRIMARY KEY (run_id, instance));"
    "CREATE TABLE IF NOT EXISTS journal ("
    "  run_id TEXT NOT NULL REFERENCES runs(id), instance TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"
    "  details TEXT, created_at TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, instance, attempt, kind));"
    "CREATE TABLE IF NOT EXISTS ledger ("
    "  run_id TEXT NOT NULL REFERENCES runs(id), instance TEXT NOT NULL,"
    "  kind TEXT NOT NULL, name TEXT NOT NULL, arn TEXT,"
    "  created_at TEXT NOT NULL, deleted_at TEXT,"
    "  PRIMARY KEY (run_id, kind, name));"
    "CREATE TABLE IF NOT EXISTS events ("
    "  id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, instance TEXT,"
    "  kind TEXT NOT NULL, text TEXT, at TEXT NOT NULL);";

static void now_text(char out[32])
{
  struct timespec ts;
  struct tm tm;
  char base[24];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, 32, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000 % 1000));
}

/* Creates the directories of path (mode 0700). */
static int mkdirs(const char *path)
{
  char *copy = strdup(path), *p;
  int rc = 0;

  if (copy == NULL)
    return SR_ENOMEM;
  for (p = copy + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(copy, 0700) != 0 && errno != EEXIST)
      rc = SR_EIO;
    *p = '/';
  }
  free(copy);
  return rc;
}

/* SQLite's quick_check of the file (the WAL already replayed), 0 when it
 * says ok. Queries over a damaged page fail, and a failed query reads as
 * "no row": a corrupted file showed "no run yet" and an empty history
 * (found by tests/chaos). Refusing it here turns that into one clear
 * error. SQLITE_OK on success, SR_EIO with err set when damaged, another
 * SQLite code when the check itself could not run. */
static int quick_check(struct state *s, const char *path, char *err,
                       size_t errlen)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL);
  const char *res;

  if (rc != SQLITE_OK)
    return rc;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    res = (const char *)sqlite3_column_text(st, 0);
    if (res && strncmp(res, "*** in database main ***\n", 25) == 0)
      res += 25;
    if (res && strcmp(res, "ok") == 0) {
      rc = SQLITE_OK;
    } else {
      snprintf(err, errlen,
               "%s is damaged (SQLite quick_check: %s); restore it from a "
               "copy or move it away",
               path, res ? res : "no answer");
      rc = SR_EIO;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

/* Databases from before steps had an identity column get it. */
static int add_identity_column(struct state *s, char **msg)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, "SELECT identity FROM steps LIMIT 0", -1,
                              &st, NULL);

  sqlite3_finalize(st);
  if (rc == SQLITE_OK)
    return SQLITE_OK;
  return sqlite3_exec(s->db, "ALTER TABLE steps ADD COLUMN identity TEXT", NULL,
                      NULL, msg);
}

int state_open(const char *path, struct state **out, char *err, size_t errlen)
{
  struct state *s;
  char *msg = NULL;
  int fd, rc;

  *out = NULL;
  if (mkdirs(path) != 0) {
    snprintf(err, errlen, "cannot create the directory of %s: %s", path,
             strerror(errno));
    return SR_EIO;
  }
  /* Created 0600 before SQLite opens it: other users never see it. */
  fd = open(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return SR_EIO;
  }
  fchmod(fd, 0600);
  close(fd);
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return SR_ENOMEM;
  rc = sqlite3_open_v2(path, &s->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "cannot open %s: %s", path,
             s->db ? sqlite3_errmsg(s->db) : "out of memory");
    state_close(s);
    return SR_EIO;
  }
  sqlite3_busy_timeout(s->db, 5000);
  rc = sqlite3_exec(s->db,
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
                    NULL, NULL, &msg);
  if (rc == SQLITE_OK)
    rc = quick_check(s, path, err, errlen);
  if (rc == SR_EIO) {
    state_close(s);
    return SR_EIO;
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, &msg);
  if (rc == SQLITE_OK)
    rc = add_identity_column(s, &msg);
  if (rc != SQLITE_OK) {
    snprintf(err, errlen, "%s is not a usable state database: %s", path,
             msg ? msg : sqlite3_errmsg(s->db));
    sqlite3_free(msg);
    state_close(s);
    return SR_EIO;
  }
  *out = s;
  return 0;
}

void state_close(struct state *s)
{
  if (s == NULL)
    return;
  sqlite3_close(s->db);
  free(s);
}

/* Runs one statement with text/int/null arguments given by a format:
 * 's' text (NULL binds null), 'i' int, 'j' JSON (compact text or null). */
static int exec_sql(struct state *s, const char *sql, const char *types, ...)
{
  sqlite3_stmt *st = NULL;
  va_list ap;
  char *texts[16];
  int ntexts = 0, i, rc;

  rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK)
    return SR_EIO;
  va_start(ap, types);
  for (i = 0; types[i]; i++) {
    if (types[i] == 's') {
      const char *v = va_arg(ap, const char *);
      if (v)
        sqlite3_bind_text(st, i + 1, v, -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(st, i + 1);
    } else if (types[i] == 'i') {
      sqlite3_bind_int64(st, i + 1, va_arg(ap, long long));
    } else {
      const json_t *v = va_arg(ap, const json_t *);
      char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
      if (t && ntexts < 16)
        texts[ntexts++] = t;
      if (t)
        sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT);
      else
        sqlite3_bind_null(st, i + 1);
    }
  }
  va_end(ap);
  rc = sqlite3_step(st);
  sqlite3_finalize(st);
  for (i = 0; i < ntexts; i++)
    free(texts[i]);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : SR_EIO;
}

/* Rows of a query as an array of objects, columns by name; columns named
 * params, outputs or details hold JSON text and are parsed. */
static json_t *query_rows(struct state *s, const char *sql, const char *a1,
                          const char *a2, long long limit)
{
  sqlite3_stmt *st = NULL;
  json_t *rows = json_array();
  int i, rc, n = 1;

  if (rows == NULL ||
      sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
    json_decref(rows);
    return NULL;
  }
  if (a1)
    sqlite3_bind_text(st, n++, a1, -1, SQLITE_TRANSIENT);
  if (a2)
    sqlite3_bind_text(st, n++, a2, -1, SQLITE_TRANSIENT);
  if (limit > 0)
    sqlite3_bind_int64(st, n++, limit);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    json_t *row = json_object();
    for (i = 0; i < sqlite3_column_count(st); i++) {
      const char *name = sqlite3_column_name(st, i);
      int type = sqlite3_column_type(st, i);
      json_t *v;
      if (type == SQLITE_NULL) {
        v = json_null();
      } else if (type == SQLITE_INTEGER) {
        v = json_integer(sqlite3_column_int64(st, i));
      } else {
        const char *t = (const char *)sqlite3_column_text(st, i);
        if (strcmp(name, "params") == 0 || strcmp(name, "outputs") == 0 ||
            strcmp(name, "details") == 0 || strcmp(name, "inputs") == 0 ||
            strcmp(name, "identity") == 0)
          v = json_loads(t, JSON_DECODE_ANY, NULL);
        else
          v = json_string(t);
        if (v == NULL)
          v = json_null();
      }
      json_object_set_new(row, name, v);
    }
    json_array_append_new(rows, row);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    json_decref(rows);
    return NULL;
  }
  return rows;
}

static json_t *first_row(json_t *rows)
{
  json_t *row = json_incref(json_array_get(rows, 0));

  json_decref(rows);
  return row;
}

int state_run_create(struct state *s, const char *workflow_name,
                     const char *workflow_path, const char *target,
                     const json_t *params, char *run_id, size_t run_id_len)
{
  char now[32], stamp[32];
  time_t t = time(NULL);
  struct tm tm;
  unsigned r;
  FILE *f;

  gmtime_r(&t, &tm);
  strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  /* Four random hex digits keep two runs of one second apart. */
  f = fopen("/dev/urandom", "rb");
  if (f == NULL || fread(&r, sizeof(r), 1, f) != 1)
    r = (unsigned)getpid() ^ (unsigned)t;
  if (f)
    fclose(f);
  snprintf(run_id, run_id_len, "%s-%04x", stamp, r & 0xffff);
  now_text(now);
  return exec_sql(s,
                  "INSERT INTO runs (id, workflow, path, target, params, "
                  "status, started_at, pid) VALUES (?, ?, ?, ?, ?, "
                  "'running', ?, ?)",
                  "ssssjsi", run_id, workflow_name, workflow_path, target,
                  params, now, (long long)getpid());
}

int state_run_lock(struct state *s, const char *run_id)
{
  json_t *run = state_run_get(s, run_id, NULL);
  long long pid;
  int rc;

  if (run == NULL)
    return SR_ENOENT;
  pid = json_integer_value(json_object_get(run, "pid"));
  json_decref(run);
  /* A live process other than us holds the run. */
  if (pid > 0 && pid != getpid() && kill((pid_t)pid, 0) == 0)
    return SR_EEXIST;
  rc = exec_sql(s,
                "UPDATE runs SET pid = ?, status = 'running', finished_at = "
                "NULL WHERE id = ?",
                "is", (long long)getpid(), run_id);
  return rc;
}

int state_run_finish(struct state *s, const char *run_id, const char *status)
{
  char now[32];

  now_text(now);
  return exec_sql(s,
                  "UPDATE runs SET status = ?, finished_at = ?, pid = NULL "
                  "WHERE id = ?",
                  "sss", status, now, run_id);
}

json_t *state_run_get(struct state *s, const char *run_id,
                      const char *workflow_path)
{
  if (run_id)
    return first_row(
        query_rows(s, "SELECT * FROM runs WHERE id = ?", run_id, NULL, 0));
  return first_row(query_rows(s,
                              "SELECT * FROM runs WHERE path = ? AND status "
                              "!= 'succeeded' ORDER BY started_at DESC, id "
                              "DESC LIMIT 1",
                              workflow_path, NULL, 0));
}

json_t *state_runs_list(struct state *s, int limit)
{
  return query_rows(s,
                    "SELECT * FROM runs ORDER BY started_at DESC, id DESC "
                    "LIMIT ?",
                    NULL, NULL, limit > 0 ? limit : 1000000);
}

int state_step_update(struct state *s, const char *run_id, const char *instance,
                      const char *type, const char *status, int attempt,
                      const char *fingerprint, const json_t *inputs,
                      const json_t *outputs, const char *error)
{
  char now[32];

  now_text(now);
  return exec_sql(
      s,
      "INSERT INTO steps (run_id, instance, type, status, attempt, "
      "fingerprint, inputs, outputs, error, started_at, updated_at) VALUES "
      "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, instance) DO "
      "UPDATE SET type = excluded.type, status = excluded.status, attempt = "
      "excluded.attempt, fingerprint = coalesce(excluded.fingerprint, "
      "fingerprint), inputs = coalesce(excluded.inputs, inputs), outputs = "
      "excluded.outputs, error = excluded.error, updated_at = "
      "excluded.updated_at",
      "ssssisjjsss", run_id, instance, type, status, (long long)attempt,
      fingerprint, inputs, outputs, error, now, now);
}

int state_step_set_identity(struct state *s, const char *run_id,
                            const char *instance, const json_t *identity)
{
  return exec_sql(s,
                  "UPDATE steps SET identity = ? WHERE run_id = ? AND "
                  "instance = ?",
                  "jss", identity, run_id, instance);
}

json_t *state_step_get(struct state *s, const char *run_id,
                       const char *instance)
{
  return first_row(query_rows(s,
                              "SELECT * FROM steps WHERE run_id = ? AND "
                              "instance = ?",
                              run_id, instance, 0));
}

json_t *state_steps_list(struct state *s, const char *run_id)
{
  return query_rows(s,
                    "SELECT * FROM steps WHERE run_id = ? ORDER BY "
                    "started_at, instance",
                    run_id, NULL, 0);
}

json_t *state_steps_by_instance(struct state *s, const char *run_id)
{
  json_t *rows = state_steps_list(s, run_id), *by = json_object(), *row;
  size_t i;

  if (rows == NULL || by == NULL) {
    json_decref(rows);
    json_decref(by);
    return NULL;
  }
  json_array_foreach(rows, i, row) json_object_set(
      by, json_string_value(json_object_get(row, "instance")), row);
  json_decref(rows);
  return by;
}

int state_journal_intent(struct state *s, const char *run_id,
                         const char *instance, int attempt, const char *kind,
                         const char *name, const json_t *details)
{
  char now[32];

  now_text(now);
  return exec_sql(s,
                  "INSERT OR REPLACE INTO journal (run_id, instance, "
                  "attempt, kind, name, details, created_at) VALUES (?, ?, "
                  "?, ?, ?, ?, ?)",
                  "ssissjs", run_id, instance, (long long)attempt, kind, name,
                  details, now);
}

json_t *state_journal_find(struct state *s, const char *run_id,
                           const char *instance, int attempt, const char *kind)
{
  sqlite3_stmt *st = NULL;
  json_t *row = NULL;

  if (sqlite3_prepare_v2(s->db,
                         "SELECT kind, name, details FROM journal WHERE "
                         "run_id = ? AND instance = ? AND attempt = ? AND "
                         "kind = ?",
                         -1, &st, NULL) != SQLITE_OK)
    return NULL;
  sqlite3_bind_text(st, 1, run_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, instance, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 3, attempt);
  sqlite3_bind_text(st, 4, kind, -1, SQLITE_TRANSIENT);
  if (sqlite3_step(st) == SQLITE_ROW) {
    const char *details = (const char *)sqlite3_column_text(st, 2);
    json_t *d = details ? json_loads(details, JSON_DECODE_ANY, NULL) : NULL;
    row = json_pack("{s:s,s:s,s:o}", "kind",
                    (const char *)sqlite3_column_text(st, 0), "name",
                    (const char *)sqlite3_column_text(st, 1), "details",
                    d ? d : json_null());
  }
  sqlite3_finalize(st);
  return row;
}

int state_ledger_add(struct state *s, const char *run_id, const char *instance,
                     const char *kind, const char *name, const char *arn)
{
  char now[32];

  now_text(now);
  return exec_sql(s,
                  "INSERT INTO ledger (run_id, instance, kind, name, arn, "
                  "created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                  "(run_id, kind, name) DO UPDATE SET arn = "
                  "coalesce(excluded.arn, arn), deleted_at = NULL",
                  "ssssss", run_id, instance, kind, name, arn, now);
}

int state_ledger_mark_deleted(struct state *s, const char *run_id,
                              const char *kind, const char *name)
{
  char now[32];

  now_text(now);
  return exec_sql(s,
                  "UPDATE ledger SET deleted_at = ? WHERE run_id = ? AND "
                  "kind = ? AND name = ?",
                  "ssss", now, run_id, kind, name);
}

json_t *state_ledger_list(struct state *s, const char *run_id, const char *kind)
{
  if (kind)
    return query_rows(s,
                      "SELECT kind, name, arn, instance AS step, deleted_at "
                      "FROM ledger WHERE run_id = ? AND kind = ? ORDER BY "
                      "created_at",
                      run_id, kind, 0);
  return query_rows(s,
                    "SELECT kind, name, arn, instance AS step, deleted_at "
                    "FROM ledger WHERE run_id = ? ORDER BY created_at",
                    run_id, NULL, 0);
}

int state_event(struct state *s, const char *run_id, const char *instance,
                const char *kind, const char *text)
{
  char now[32];

  now_text(now);
  return exec_sql(s,
                  "INSERT INTO events (run_id, instance, kind, text, at) "
                  "VALUES (?, ?, ?, ?, ?)",
                  "sssss", run_id, instance, kind, text, now);
}
