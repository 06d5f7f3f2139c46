/* The local engine's CloudWatch Logs (aws-spec.md §4): log groups,
 * streams and events in the engine's SQLite database, read as clients
 * read them: DescribeLogGroups, DescribeLogStreams (prefix, ordering,
 * pagination), GetLogEvents (forward and backward tokens), FilterLogEvents;
 * written by PutLogEvents and, for the engine's own producers (training
 * workers writing JOB/algo-N-EPOCH streams of /aws/sagemaker/TrainingJobs),
 * by local_logs_put.
 *
 * GetLogEvents tokens are positions between events, which are ordered by
 * (timestamp, event id): "f/" or "b/", the timestamp and id of the event
 * the position follows, "/s". A forward read returns the events after the
 * position, a backward read the `limit` events before it; when nothing is
 * left, the token passed in comes back unchanged, which is how clients
 * know they reached the end (the service's documented contract).
 *
 * Requests are checked against botocore's model first (awsmodel.h);
 * CloudWatch Logs answers broken constraints as InvalidParameterException
 * with the same "N validation error(s) detected" text. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "awsmodel.h"
#include "engine.h"

#define LOGS_MAX_PAGE_BYTES 1048576 /* GetLogEvents / FilterLogEvents */
#define LOGS_EVENT_OVERHEAD 26      /* bytes the service counts per event */
#define LOGS_MAX_BATCH_BYTES 1048576
#define LOGS_DAY_MS (24LL * 3600 * 1000)
#define LOGS_TOO_NEW_MS (2LL * 3600 * 1000)
#define LOGS_TOO_OLD_MS (14 * LOGS_DAY_MS)

static const char *const logs_schema =
    "CREATE TABLE IF NOT EXISTS logs_groups ("
    "  name TEXT PRIMARY KEY, creation_time INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS logs_streams ("
    "  id INTEGER PRIMARY KEY, group_name TEXT NOT NULL, name TEXT NOT NULL,"
    "  creation_time INTEGER NOT NULL, first_event INTEGER,"
    "  last_event INTEGER, last_ingestion INTEGER,"
    "  stored_bytes INTEGER NOT NULL DEFAULT 0,"
    "  seq INTEGER NOT NULL DEFAULT 0, UNIQUE (group_name, name));"
    "CREATE TABLE IF NOT EXISTS logs_events ("
    "  id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL,"
    "  timestamp INTEGER NOT NULL, ingestion INTEGER NOT NULL,"
    "  message TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS logs_events_by_time"
    "  ON logs_events (stream_id, timestamp, id);"
    "CREATE INDEX IF NOT EXISTS logs_events_by_stream_id"
    "  ON logs_events (stream_id, id);";

/* The model is the same for every engine and only read (its pattern
 * cache aside, and the engine is single-threaded): loaded once. */
static struct awsmodel *logs_model;

static long long logs_now_ms(struct local_engine *e)
{
  return (long long)floor(local_engine_now(e) * 1000.0 + 0.5);
}

static const char *jstr(const json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

static int jhas_int(const json_t *o, const char *key, long long *v)
{
  json_t *x = json_object_get(o, key);

  if (!json_is_integer(x))
    return 0;
  *v = json_integer_value(x);
  return 1;
}

static int jset(json_t *o, const char *key, json_t *v)
{
  if (v == NULL)
    return SR_ENOMEM;
  return json_object_set_new(o, key, v) == 0 ? 0 : SR_ENOMEM;
}

static int fail_nomem(struct local_error *err)
{
  return local_fail(err, 500, "ServiceUnavailableException", "out of memory");
}

static int fail_db(struct local_engine *e, struct local_error *err)
{
  return local_fail(err, 500, "ServiceUnavailableException",
                    "database error: %s", sqlite3_errmsg(local_engine_db(e)));
}

static int fail_param(struct local_error *err, const char *msg)
{
  return local_fail(err, 400, "InvalidParameterException", "%s", msg);
}

static int fail_no_group(struct local_error *err)
{
  return local_fail(err, 400, "ResourceNotFoundException",
                    "The specified log group does not exist.");
}

static int fail_no_stream(struct local_error *err)
{
  return local_fail(err, 400, "ResourceNotFoundException",
                    "The specified log stream does not exist.");
}

static int prepare(struct local_engine *e, const char *sql, sqlite3_stmt **stmt)
{
  return sqlite3_prepare_v2(local_engine_db(e), sql, -1, stmt, NULL) ==
                 SQLITE_OK
             ? 0
             : SR_EIO;
}

static int exec(struct local_engine *e, const char *sql)
{
  return sqlite3_exec(local_engine_db(e), sql, NULL, NULL, NULL) == SQLITE_OK
             ? 0
             : SR_EIO;
}

/* The group an operation names: logGroupName, or logGroupIdentifier (a
 * name or an ARN "arn:aws:logs:R:A:log-group:NAME[:*]"), into out. */
static int group_of(const json_t *in, struct buf *out, struct local_error *err)
{
  const char *name = jstr(in, "logGroupName");
  const char *id = jstr(in, "logGroupIdentifier");

  if (name && id)
    return fail_param(err, "LogGroup name and LogGroup ARN are mutually "
                           "exclusive parameters.");
  if (name == NULL && id == NULL)
    return fail_param(err, "Either logGroupName or logGroupIdentifier must "
                           "be specified.");
  if (name)
    return buf_adds(out, name) == 0 ? 0 : fail_nomem(err);
  if (strncmp(id, "arn:", 4) == 0) {
    const char *p = strstr(id, ":log-group:");
    size_t len;

    if (p == NULL)
      return fail_param(err, "The specified logGroupIdentifier is not a log "
                             "group ARN.");
    p += strlen(":log-group:");
    len = strlen(p);
    if (len >= 2 && strcmp(p + len - 2, ":*") == 0)
      len -= 2;
    return buf_add(out, p, len) == 0 ? 0 : fail_nomem(err);
  }
  return buf_adds(out, id) == 0 ? 0 : fail_nomem(err);
}

/* 0 if the group exists, SR_ENOENT if not, SR_EIO. */
static int group_exists(struct local_engine *e, const char *group)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (prepare(e, "SELECT 1 FROM logs_groups WHERE name = ?", &stmt) < 0)
    return SR_EIO;
  sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SR_ENOENT : SR_EIO;
}

/* The stream's id: 0 with *id, SR_ENOENT, SR_EIO. */
static int stream_id(struct local_engine *e, const char *group,
                     const char *stream, long long *id)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (prepare(e,
              "SELECT id FROM logs_streams WHERE group_name = ? AND name = ?",
              &stmt) < 0)
    return SR_EIO;
  sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, stream, -1, SQLITE_STATIC);
  rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW)
    *id = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? SR_ENOENT : SR_EIO;
}

/* Creates the group (ignore: no error when it exists). */
static int group_create(struct local_engine *e, const char *group, int ignore)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (prepare(e,
              ignore ? "INSERT OR IGNORE INTO logs_groups VALUES (?, ?)"
                     : "INSERT INTO logs_groups VALUES (?, ?)",
              &stmt) < 0)
    return SR_EIO;
  sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2, logs_now_ms(e));
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc == SQLITE_DONE)
    return 0;
  return (rc & 0xff) == SQLITE_CONSTRAINT ? SR_EEXIST : SR_EIO;
}

static int stream_create(struct local_engine *e, const char *group,
                         const char *stream, int ignore)
{
  sqlite3_stmt *stmt = NULL;
  int rc;

  if (prepare(e,
              ignore ? "INSERT OR IGNORE INTO logs_streams"
                       " (group_name, name, creation_time) VALUES (?, ?, ?)"
                     : "INSERT INTO logs_streams"
                       " (group_name, name, creation_time) VALUES (?, ?, ?)",
              &stmt) < 0)
    return SR_EIO;
  sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, stream, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 3, logs_now_ms(e));
  rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc == SQLITE_DONE)
    return 0;
  return (rc & 0xff) == SQLITE_CONSTRAINT ? SR_EEXIST : SR_EIO;
}

/* Appends events to a stream (in the caller's transaction) and updates
 * its statistics. */
static int events_append(struct local_engine *e, long long sid,
                         const struct local_log_event *ev, size_t n)
{
  sqlite3_stmt *ins = NULL, *upd = NULL;
  long long now = logs_now_ms(e), first = 0, last = 0, bytes = 0;
  size_t i;
  int rc = 0;

  if (n == 0)
    return 0;
  if (prepare(e,
              "INSERT INTO logs_events (stream_id, timestamp, ingestion,"
              " message) VALUES (?, ?, ?, ?)",
              &ins) < 0 ||
      prepare(e,
              "UPDATE logs_streams SET"
              " first_event = min(coalesce(first_event, ?1), ?1),"
              " last_event = max(coalesce(last_event, ?2), ?2),"
              " last_ingestion = ?3, stored_bytes = stored_bytes + ?4,"
              " seq = seq + 1 WHERE id = ?5",
              &upd) < 0) {
    rc = SR_EIO;
    goto out;
  }
  for (i = 0; i < n; i++) {
    if (i == 0 || ev[i].timestamp_ms < first)
      first = ev[i].timestamp_ms;
    if (i == 0 || ev[i].timestamp_ms > last)
      last = ev[i].timestamp_ms;
    bytes += (long long)strlen(ev[i].message);
    sqlite3_reset(ins);
    sqlite3_bind_int64(ins, 1, sid);
    sqlite3_bind_int64(ins, 2, ev[i].timestamp_ms);
    sqlite3_bind_int64(ins, 3, now);
    sqlite3_bind_text(ins, 4, ev[i].message, -1, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) {
      rc = SR_EIO;
      goto out;
    }
  }
  sqlite3_bind_int64(upd, 1, first);
  sqlite3_bind_int64(upd, 2, last);
  sqlite3_bind_int64(upd, 3, now);
  sqlite3_bind_int64(upd, 4, bytes);
  sqlite3_bind_int64(upd, 5, sid);
  if (sqlite3_step(upd) != SQLITE_DONE)
    rc = SR_EIO;
out:
  sqlite3_finalize(ins);
  sqlite3_finalize(upd);
  return rc;
}

int local_logs_put_many(struct local_engine *e, const char *group,
                        const char *stream,
                        const struct local_log_event *events, size_t n)
{
  long long sid;
  int rc;

  if (exec(e, "SAVEPOINT logs_put") < 0)
    return SR_EIO;
  rc = group_create(e, group, 1);
  if (rc == 0)
    rc = stream_create(e, group, stream, 1);
  if (rc == 0)
    rc = stream_id(e, group, stream, &sid);
  if (rc == 0)
    rc = events_append(e, sid, events, n);
  if (rc < 0)
    exec(e, "ROLLBACK TO logs_put");
  exec(e, "RELEASE logs_put");
  return rc;
}

int local_logs_put(struct local_engine *e, const char *group,
                   const char *stream, long long timestamp_ms,
                   const char *message)
{
  struct local_log_event ev = {timestamp_ms, message};

  return local_logs_put_many(e, group, stream, &ev, 1);
}

/* ---- Groups and streams ------------------------------------------------ */

static int create_log_group(struct local_engine *e, const json_t *in,
                            json_t **out, struct local_error *err)
{
  int rc = group_create(e, jstr(in, "logGroupName"), 0);

  if (rc == SR_EEXIST)
    return local_fail(err, 400, "ResourceAlreadyExistsException",
                      "The specified log group already exists");
  if (rc < 0)
    return fail_db(e, err);
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

static int create_log_stream(struct local_engine *e, const json_t *in,
                             json_t **out, struct local_error *err)
{
  const char *group = jstr(in, "logGroupName");
  int rc = group_exists(e, group);

  if (rc == SR_ENOENT)
    return fail_no_group(err);
  if (rc == 0)
    rc = stream_create(e, group, jstr(in, "logStreamName"), 0);
  if (rc == SR_EEXIST)
    return local_fail(err, 400, "ResourceAlreadyExistsException",
                      "The specified log stream already exists");
  if (rc < 0)
    return fail_db(e, err);
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

static int delete_log_group(struct local_engine *e, const json_t *in,
                            json_t **out, struct local_error *err)
{
  const char *group = jstr(in, "logGroupName");
  sqlite3_stmt *stmt = NULL;
  int rc = group_exists(e, group);

  if (rc == SR_ENOENT)
    return fail_no_group(err);
  if (rc < 0 || exec(e, "SAVEPOINT logs_delete") < 0)
    return fail_db(e, err);
  rc = prepare(e,
               "DELETE FROM logs_events WHERE stream_id IN"
               " (SELECT id FROM logs_streams WHERE group_name = ?)",
               &stmt);
  if (rc == 0) {
    sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : SR_EIO;
    sqlite3_finalize(stmt);
  }
  if (rc == 0 &&
      prepare(e, "DELETE FROM logs_streams WHERE group_name = ?", &stmt) == 0) {
    sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : SR_EIO;
    sqlite3_finalize(stmt);
  }
  if (rc == 0 &&
      prepare(e, "DELETE FROM logs_groups WHERE name = ?", &stmt) == 0) {
    sqlite3_bind_text(stmt, 1, group, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : SR_EIO;
    sqlite3_finalize(stmt);
  }
  if (rc < 0) {
    exec(e, "ROLLBACK TO logs_delete");
    exec(e, "RELEASE logs_delete");
    return fail_db(e, err);
  }
  exec(e, "RELEASE logs_delete");
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

static int delete_log_stream(struct local_engine *e, const json_t *in,
                             json_t **out, struct local_error *err)
{
  const char *group = jstr(in, "logGroupName");
  sqlite3_stmt *stmt = NULL;
  long long sid;
  int rc = group_exists(e, group);

  if (rc == SR_ENOENT)
    return fail_no_group(err);
  if (rc == 0)
    rc = stream_id(e, group, jstr(in, "logStreamName"), &sid);
  if (rc == SR_ENOENT)
    return fail_no_stream(err);
  if (rc < 0 || exec(e, "SAVEPOINT logs_delete") < 0)
    return fail_db(e, err);
  rc = prepare(e, "DELETE FROM logs_events WHERE stream_id = ?", &stmt);
  if (rc == 0) {
    sqlite3_bind_int64(stmt, 1, sid);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : SR_EIO;
    sqlite3_finalize(stmt);
  }
  if (rc == 0 &&
      prepare(e, "DELETE FROM logs_streams WHERE id = ?", &stmt) == 0) {
    sqlite3_bind_int64(stmt, 1, sid);
    rc = sqlite3_step(stmt) == SQLITE_DONE ? 0 : SR_EIO;
    sqlite3_finalize(stmt);
  }
  if (rc < 0)
    exec(e, "ROLLBACK TO logs_delete");
  exec(e, "RELEASE logs_delete");
  if (rc < 0)
    return fail_db(e, err);
  *out = json_object();
  return *out ? 0 : fail_nomem(err);
}

/* Page tokens of the Describe calls: a letter and the hex of the last
 * item's sort key, so a page continues after that item even when items
 * come and go in between. */
static int hex_encode(struct buf *b, const char *s)
{
  static const char hex[] = "0123456789abcdef";
  int rc = 0;

  for (; *s && rc == 0; s++) {
    rc = buf_addc(b, hex[(unsigned char)*s >> 4]);
    if (rc == 0)
      rc = buf_addc(b, hex[(unsigned char)*s & 15]);
  }
  return rc;
}

static int hex_decode(const char *hex, struct buf *out)
{
  size_t i, n = strlen(hex);

  if (n % 2)
    return SR_EINVAL;
  for (i = 0; i < n; i += 2) {
    int hi = isdigit((unsigned char)hex[i])   ? hex[i] - '0'
             : hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 10
                                              : -1;
    int lo = isdigit((unsigned char)hex[i + 1])       ? hex[i + 1] - '0'
             : hex[i + 1] >= 'a' && hex[i + 1] <= 'f' ? hex[i + 1] - 'a' + 10
                                                      : -1;

    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
      return SR_EINVAL;
    if (buf_addc(out, (char)(hi * 16 + lo)) < 0)
      return SR_ENOMEM;
  }
  return 0;
}

static int describe_log_groups(struct local_engine *e, const json_t *in,
                               json_t **out, struct local_error *err)
{
  const char *prefix = jstr(in, "logGroupNamePrefix");
  const char *tok = jstr(in, "nextToken");
  long long limit = 50, n = 0;
  sqlite3_stmt *stmt = NULL;
  struct buf after, next;
  json_t *groups = NULL, *result = NULL;
  int rc;

  jhas_int(in, "limit", &limit);
  buf_init(&after, 4096);
  buf_init(&next, 8192);
  if (tok && (strncmp(tok, "g/", 2) != 0 || hex_decode(tok + 2, &after) < 0)) {
    rc = fail_param(err, "The specified nextToken is invalid.");
    goto out;
  }
  if (prepare(e,
              "SELECT g.name, g.creation_time, (SELECT coalesce(sum("
              "stored_bytes), 0) FROM logs_streams s WHERE s.group_name ="
              " g.name) FROM logs_groups g WHERE substr(g.name, 1, length(?1))"
              " = ?1 AND g.name > ?2 ORDER BY g.name LIMIT ?3",
              &stmt) < 0) {
    rc = fail_db(e, err);
    goto out;
  }
  sqlite3_bind_text(stmt, 1, prefix ? prefix : "", -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, buf_str(&after), -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 3, limit + 1);
  groups = json_array();
  if (groups == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(stmt, 0);
    json_t *g;
    char arn[1024];

    if (n++ == limit)
      break;
    snprintf(arn, sizeof(arn), "arn:aws:logs:%s:%s:log-group:%s:*",
             local_engine_region(e), local_engine_account(e), name);
    g = json_pack("{s:s, s:I, s:i, s:s, s:I}", "logGroupName", name,
                  "creationTime", (json_int_t)sqlite3_column_int64(stmt, 1),
                  "metricFilterCount", 0, "arn", arn, "storedBytes",
                  (json_int_t)sqlite3_column_int64(stmt, 2));
    buf_reset(&next);
    if (g == NULL || json_array_append_new(groups, g) != 0 ||
        buf_adds(&next, "g/") < 0 || hex_encode(&next, name) < 0) {
      rc = fail_nomem(err);
      goto out;
    }
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    rc = fail_db(e, err);
    goto out;
  }
  result = json_pack("{s:O}", "logGroups", groups);
  if (result == NULL ||
      (n > limit && jset(result, "nextToken", json_string(buf_str(&next))))) {
    rc = fail_nomem(err);
    goto out;
  }
  *out = result;
  result = NULL;
  rc = 0;
out:
  sqlite3_finalize(stmt);
  json_decref(groups);
  json_decref(result);
  buf_free(&after);
  buf_free(&next);
  return rc;
}

static int describe_log_streams(struct local_engine *e, const json_t *in,
                                json_t **out, struct local_error *err)
{
  const char *prefix = jstr(in, "logStreamNamePrefix");
  const char *order = jstr(in, "orderBy");
  const char *tok = jstr(in, "nextToken");
  int by_time = order && strcmp(order, "LastEventTime") == 0;
  int desc = json_is_true(json_object_get(in, "descending"));
  long long limit = 50, n = 0, after_time = 0;
  sqlite3_stmt *stmt = NULL;
  struct buf group, after, next, sql;
  json_t *streams = NULL, *result = NULL;
  int rc;

  jhas_int(in, "limit", &limit);
  buf_init(&group, 4096);
  buf_init(&after, 4096);
  buf_init(&next, 8192);
  buf_init(&sql, 4096);
  rc = group_of(in, &group, err);
  if (rc < 0)
    goto out;
  if (by_time && prefix) {
    rc = fail_param(err, "Cannot order by LastEventTime with a "
                         "logStreamNamePrefix.");
    goto out;
  }
  rc = group_exists(e, buf_str(&group));
  if (rc < 0) {
    rc = rc == SR_ENOENT ? fail_no_group(err) : fail_db(e, err);
    goto out;
  }
  /* Tokens: "n/HEX(name)" by name, "t/TIME/HEX(name)" by time. */
  if (tok) {
    const char *p = tok + 2, *slash = NULL;
    char *end;

    rc = SR_EINVAL;
    if (!by_time && strncmp(tok, "n/", 2) == 0) {
      rc = hex_decode(p, &after);
    } else if (by_time && strncmp(tok, "t/", 2) == 0 &&
               (slash = strchr(p, '/')) != NULL) {
      after_time = strtoll(p, &end, 10);
      if (end == slash)
        rc = hex_decode(slash + 1, &after);
    }
    if (rc < 0 || buf_len(&after) == 0) {
      rc = fail_param(err, "The specified nextToken is invalid.");
      goto out;
    }
  }
  rc = buf_adds(&sql, "SELECT name, creation_time, first_event, last_event,"
                      " last_ingestion, stored_bytes, seq,"
                      " coalesce(last_event, 0) AS t FROM logs_streams"
                      " WHERE group_name = ?1"
                      " AND substr(name, 1, length(?2)) = ?2");
  if (rc == 0 && tok && by_time)
    rc = buf_addf(&sql, " AND (t %s ?3 OR (t = ?3 AND name %s ?4))",
                  desc ? "<" : ">", desc ? "<" : ">");
  else if (rc == 0 && tok)
    rc = buf_addf(&sql, " AND name %s ?4", desc ? "<" : ">");
  if (rc == 0)
    rc = buf_addf(&sql, " ORDER BY %s name %s LIMIT ?5",
                  by_time ? (desc ? "t DESC," : "t ASC,") : "",
                  desc ? "DESC" : "ASC");
  if (rc < 0) {
    rc = fail_nomem(err);
    goto out;
  }
  if (prepare(e, buf_str(&sql), &stmt) < 0) {
    rc = fail_db(e, err);
    goto out;
  }
  sqlite3_bind_text(stmt, 1, buf_str(&group), -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, prefix ? prefix : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 3, after_time);
  sqlite3_bind_text(stmt, 4, buf_str(&after), -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 5, limit + 1);
  streams = json_array();
  if (streams == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(stmt, 0);
    json_t *s;
    struct buf arn;
    char seq[64];
    int k;

    if (n++ == limit)
      break;
    buf_init(&arn, 4096);
    snprintf(seq, sizeof(seq), "%056lld",
             (long long)sqlite3_column_int64(stmt, 6));
    s = NULL;
    if (buf_addf(&arn, "arn:aws:logs:%s:%s:log-group:%s:log-stream:%s",
                 local_engine_region(e), local_engine_account(e),
                 buf_str(&group), name) == 0)
      s = json_pack("{s:s, s:I, s:s, s:s, s:I}", "logStreamName", name,
                    "creationTime", (json_int_t)sqlite3_column_int64(stmt, 1),
                    "arn", buf_str(&arn), "uploadSequenceToken", seq,
                    "storedBytes", (json_int_t)sqlite3_column_int64(stmt, 5));
    buf_free(&arn);
    rc = s ? 0 : SR_ENOMEM;
    /* Streams without events have no event times yet. */
    for (k = 2; k <= 4 && rc == 0; k++) {
      static const char *const keys[] = {
          "firstEventTimestamp", "lastEventTimestamp", "lastIngestionTime"};

      if (sqlite3_column_type(stmt, k) != SQLITE_NULL)
        rc = jset(s, keys[k - 2], json_integer(sqlite3_column_int64(stmt, k)));
    }
    buf_reset(&next);
    if (rc == 0 && by_time)
      rc = buf_addf(&next, "t/%lld/", (long long)sqlite3_column_int64(stmt, 7));
    else if (rc == 0)
      rc = buf_adds(&next, "n/");
    if (rc == 0)
      rc = hex_encode(&next, name);
    if (rc < 0 || json_array_append_new(streams, s) != 0) {
      if (rc < 0)
        json_decref(s);
      rc = fail_nomem(err);
      goto out;
    }
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    rc = fail_db(e, err);
    goto out;
  }
  result = json_pack("{s:O}", "logStreams", streams);
  if (result == NULL ||
      (n > limit && jset(result, "nextToken", json_string(buf_str(&next))))) {
    rc = fail_nomem(err);
    goto out;
  }
  *out = result;
  result = NULL;
  rc = 0;
out:
  sqlite3_finalize(stmt);
  json_decref(streams);
  json_decref(result);
  buf_free(&group);
  buf_free(&after);
  buf_free(&next);
  buf_free(&sql);
  return rc;
}

/* ---- Reading events ------------------------------------------------------ */

/* A position in a stream: the event (timestamp, id) it is at. Forward
 * reads return the events after it, backward reads those before it;
 * (0, 0) is before every event. */
struct logs_pos {
  long long timestamp, id;
};

static int token_format(char out[64], char dir, const struct logs_pos *p)
{
  return snprintf(out, 64, "%c/%020lld%020lld%016d/s", dir, p->timestamp, p->id,
                  0) < 64
             ? 0
             : SR_ETOOBIG;
}

/* Parses "f/..." or "b/..." (dir gets 'f' or 'b'). */
static int token_parse(const char *tok, char *dir, struct logs_pos *p)
{
  char digits[21];
  size_t i;

  if (strlen(tok) != 60 || (tok[0] != 'f' && tok[0] != 'b') || tok[1] != '/' ||
      strcmp(tok + 58, "/s") != 0)
    return SR_EINVAL;
  for (i = 2; i < 58; i++)
    if (!isdigit((unsigned char)tok[i]))
      return SR_EINVAL;
  *dir = tok[0];
  memcpy(digits, tok + 2, 20);
  digits[20] = '\0';
  p->timestamp = strtoll(digits, NULL, 10);
  memcpy(digits, tok + 22, 20);
  p->id = strtoll(digits, NULL, 10);
  return 0;
}

static json_t *event_json(sqlite3_stmt *stmt)
{
  return json_pack("{s:I, s:s, s:I}", "timestamp",
                   (json_int_t)sqlite3_column_int64(stmt, 0), "message",
                   (const char *)sqlite3_column_text(stmt, 2), "ingestionTime",
                   (json_int_t)sqlite3_column_int64(stmt, 3));
}

static int get_log_events(struct local_engine *e, const json_t *in,
                          json_t **out, struct local_error *err)
{
  const char *tok = jstr(in, "nextToken");
  int from_head = json_is_true(json_object_get(in, "startFromHead"));
  long long start = 0, end = 0, limit = 10000, sid, n = 0, bytes = 0;
  int has_start = jhas_int(in, "startTime", &start);
  int has_end = jhas_int(in, "endTime", &end);
  struct logs_pos pos = {0, 0}, first = {0, 0}, last = {0, 0};
  char dir = 'f', ftok[64], btok[64];
  int forward, rc;
  sqlite3_stmt *stmt = NULL;
  struct buf group, sql;
  json_t *events = NULL, *result = NULL;

  jhas_int(in, "limit", &limit);
  buf_init(&group, 4096);
  buf_init(&sql, 4096);
  rc = group_of(in, &group, err);
  if (rc < 0)
    goto out;
  rc = group_exists(e, buf_str(&group));
  if (rc == 0)
    rc = stream_id(e, buf_str(&group), jstr(in, "logStreamName"), &sid);
  if (rc < 0) {
    rc = rc != SR_ENOENT                         ? fail_db(e, err)
         : group_exists(e, buf_str(&group)) == 0 ? fail_no_stream(err)
                                                 : fail_no_group(err);
    goto out;
  }
  if (tok && token_parse(tok, &dir, &pos) < 0) {
    rc = fail_param(err, "The specified nextToken is invalid.");
    goto out;
  }
  /* Without a token: the first events from the head, or the last ones. */
  forward = tok ? dir == 'f' : from_head;
  rc = buf_adds(&sql, "SELECT timestamp, id, message, ingestion FROM"
                      " logs_events WHERE stream_id = ?1");
  if (rc == 0 && has_start)
    rc = buf_adds(&sql, " AND timestamp >= ?2");
  if (rc == 0 && has_end)
    rc = buf_adds(&sql, " AND timestamp < ?3");
  if (rc == 0 && tok)
    /* Row values: the index (stream_id, timestamp, id) bounds the scan. */
    rc = buf_adds(&sql, forward ? " AND (timestamp, id) > (?4, ?5)"
                                : " AND (timestamp, id) < (?4, ?5)");
  if (rc == 0)
    rc = buf_adds(&sql, forward ? " ORDER BY timestamp, id LIMIT ?6"
                                : " ORDER BY timestamp DESC, id DESC LIMIT ?6");
  if (rc < 0) {
    rc = fail_nomem(err);
    goto out;
  }
  if (prepare(e, buf_str(&sql), &stmt) < 0) {
    rc = fail_db(e, err);
    goto out;
  }
  sqlite3_bind_int64(stmt, 1, sid);
  sqlite3_bind_int64(stmt, 2, start);
  sqlite3_bind_int64(stmt, 3, end);
  sqlite3_bind_int64(stmt, 4, pos.timestamp);
  sqlite3_bind_int64(stmt, 5, pos.id);
  sqlite3_bind_int64(stmt, 6, limit);
  events = json_array();
  if (events == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    struct logs_pos p = {sqlite3_column_int64(stmt, 0),
                         sqlite3_column_int64(stmt, 1)};
    long long size = sqlite3_column_bytes(stmt, 2) + LOGS_EVENT_OVERHEAD;
    json_t *ev;

    if (n > 0 && bytes + size > LOGS_MAX_PAGE_BYTES)
      break; /* a page holds at most 1 MB */
    ev = event_json(stmt);
    /* Backward reads collect newest first; the page is oldest first. */
    if (ev == NULL || (forward ? json_array_append_new(events, ev)
                               : json_array_insert_new(events, 0, ev)) != 0) {
      rc = fail_nomem(err);
      goto out;
    }
    if (n == 0)
      first = last = p;
    if (forward)
      last = p;
    else
      first = p;
    n++;
    bytes += size;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    rc = fail_db(e, err);
    goto out;
  }
  if (n > 0) {
    /* The page spans first..last: forward reads continue after last,
     * backward reads before first. */
    token_format(ftok, 'f', &last);
    token_format(btok, 'b', &first);
  } else if (tok) {
    /* Nothing left this way: the same token comes back. */
    snprintf(forward ? ftok : btok, 64, "%s", tok);
    token_format(forward ? btok : ftok, forward ? 'b' : 'f', &pos);
  } else {
    /* An empty read without a token: both point at the end. */
    struct logs_pos end_pos = {0, 0};

    if (!from_head) {
      sqlite3_stmt *q = NULL;

      if (prepare(e,
                  "SELECT timestamp, id FROM logs_events WHERE stream_id = ?"
                  " ORDER BY timestamp DESC, id DESC LIMIT 1",
                  &q) == 0) {
        sqlite3_bind_int64(q, 1, sid);
        if (sqlite3_step(q) == SQLITE_ROW) {
          end_pos.timestamp = sqlite3_column_int64(q, 0);
          end_pos.id = sqlite3_column_int64(q, 1);
        }
        sqlite3_finalize(q);
      }
    }
    token_format(ftok, 'f', &end_pos);
    token_format(btok, 'b', &end_pos);
  }
  result = json_pack("{s:O, s:s, s:s}", "events", events, "nextForwardToken",
                     ftok, "nextBackwardToken", btok);
  if (result == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  *out = result;
  rc = 0;
out:
  sqlite3_finalize(stmt);
  json_decref(events);
  buf_free(&group);
  buf_free(&sql);
  return rc;
}

/* filterPattern for unstructured events: terms that must all occur, a
 * "quoted phrase" as one term, -term for one that must not. (JSON and
 * space-delimited patterns are beyond this engine.) */
struct logs_filter {
  struct buf terms; /* NUL-separated; each starts with '+' or '-' */
  size_t n;
};

static int filter_parse(const char *pattern, struct logs_filter *f)
{
  const char *p = pattern;
  int rc = 0;

  buf_init(&f->terms, 65536);
  f->n = 0;
  while (p && *p && rc == 0) {
    char sign = '+';
    const char *start, *end;

    while (*p == ' ')
      p++;
    if (*p == '\0')
      break;
    if (*p == '-' && p[1] && p[1] != ' ') {
      sign = '-';
      p++;
    }
    if (*p == '"') {
      start = ++p;
      end = strchr(p, '"');
      if (end == NULL)
        end = p + strlen(p);
      p = *end ? end + 1 : end;
    } else {
      start = p;
      end = p + strcspn(p, " ");
      p = end;
    }
    if (end == start)
      continue;
    rc = buf_addc(&f->terms, sign);
    if (rc == 0)
      rc = buf_add(&f->terms, start, (size_t)(end - start));
    if (rc == 0)
      rc = buf_addc(&f->terms, '\0');
    f->n++;
  }
  return rc;
}

static int filter_match(const struct logs_filter *f, const char *message)
{
  const char *t = buf_str(&f->terms);
  size_t i;

  for (i = 0; i < f->n; i++) {
    int found = strstr(message, t + 1) != NULL;

    if (found != (t[0] == '+'))
      return 0;
    t += strlen(t) + 1;
  }
  return 1;
}

static int filter_log_events(struct local_engine *e, const json_t *in,
                             json_t **out, struct local_error *err)
{
  const json_t *names = json_object_get(in, "logStreamNames");
  const char *prefix = jstr(in, "logStreamNamePrefix");
  const char *tok = jstr(in, "nextToken");
  long long start = 0, end = 0, limit = 10000, n = 0, bytes = 0;
  int has_start = jhas_int(in, "startTime", &start);
  int has_end = jhas_int(in, "endTime", &end);
  struct logs_pos pos = {0, 0}, last = {0, 0};
  struct logs_filter filter;
  sqlite3_stmt *stmt = NULL;
  struct buf group, sql;
  json_t *events = NULL, *result = NULL, *searched = NULL;
  size_t i;
  int rc, more = 0;

  jhas_int(in, "limit", &limit);
  buf_init(&group, 4096);
  buf_init(&sql, 8192);
  rc = filter_parse(jstr(in, "filterPattern"), &filter);
  if (rc < 0) {
    rc = fail_nomem(err);
    goto out;
  }
  rc = group_of(in, &group, err);
  if (rc < 0)
    goto out;
  if (names && prefix) {
    rc = fail_param(err, "Cannot specify both logStreamNames and "
                         "logStreamNamePrefix.");
    goto out;
  }
  rc = group_exists(e, buf_str(&group));
  if (rc < 0) {
    rc = rc == SR_ENOENT ? fail_no_group(err) : fail_db(e, err);
    goto out;
  }
  if (tok) {
    char dir;

    /* FilterLogEvents' tokens are positions too, always forward. */
    if (token_parse(tok, &dir, &pos) < 0 || dir != 'f') {
      rc = fail_param(err, "The specified nextToken is invalid.");
      goto out;
    }
  }
  rc = buf_adds(&sql, "SELECT e.timestamp, e.id, e.message, e.ingestion,"
                      " s.name FROM logs_events e JOIN logs_streams s"
                      " ON s.id = e.stream_id WHERE s.group_name = ?1");
  if (rc == 0 && prefix)
    rc = buf_adds(&sql, " AND substr(s.name, 1, length(?2)) = ?2");
  if (rc == 0 && names) {
    rc = buf_adds(&sql, " AND s.name IN (");
    for (i = 0; rc == 0 && i < json_array_size(names); i++)
      rc = buf_addf(&sql, "%s?%zu", i ? ", " : "", 10 + i);
    if (rc == 0)
      rc = buf_addc(&sql, ')');
  }
  if (rc == 0 && has_start)
    rc = buf_adds(&sql, " AND e.timestamp >= ?3");
  if (rc == 0 && has_end)
    rc = buf_adds(&sql, " AND e.timestamp <= ?4");
  if (rc == 0)
    rc = buf_adds(&sql, " AND (e.timestamp, e.id) > (?5, ?6)"
                        " ORDER BY e.timestamp, e.id");
  if (rc < 0) {
    rc = fail_nomem(err);
    goto out;
  }
  if (prepare(e, buf_str(&sql), &stmt) < 0) {
    rc = fail_db(e, err);
    goto out;
  }
  sqlite3_bind_text(stmt, 1, buf_str(&group), -1, SQLITE_STATIC);
  if (prefix)
    sqlite3_bind_text(stmt, 2, prefix, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 3, start);
  sqlite3_bind_int64(stmt, 4, end);
  sqlite3_bind_int64(stmt, 5, pos.timestamp);
  sqlite3_bind_int64(stmt, 6, tok ? pos.id : 0);
  for (i = 0; i < json_array_size(names); i++)
    sqlite3_bind_text(stmt, (int)(10 + i),
                      json_string_value(json_array_get(names, i)), -1,
                      SQLITE_STATIC);
  events = json_array();
  if (events == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const char *message = (const char *)sqlite3_column_text(stmt, 2);
    long long size = sqlite3_column_bytes(stmt, 2) + LOGS_EVENT_OVERHEAD;
    char event_id[64];
    json_t *ev;

    if (!filter_match(&filter, message))
      continue;
    if (n == limit || (n > 0 && bytes + size > LOGS_MAX_PAGE_BYTES)) {
      more = 1;
      break;
    }
    snprintf(event_id, sizeof(event_id), "%056lld",
             (long long)sqlite3_column_int64(stmt, 1));
    ev =
        json_pack("{s:s, s:I, s:s, s:I, s:s}", "logStreamName",
                  (const char *)sqlite3_column_text(stmt, 4), "timestamp",
                  (json_int_t)sqlite3_column_int64(stmt, 0), "message", message,
                  "ingestionTime", (json_int_t)sqlite3_column_int64(stmt, 3),
                  "eventId", event_id);
    if (ev == NULL || json_array_append_new(events, ev) != 0) {
      rc = fail_nomem(err);
      goto out;
    }
    last.timestamp = sqlite3_column_int64(stmt, 0);
    last.id = sqlite3_column_int64(stmt, 1);
    n++;
    bytes += size;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    rc = fail_db(e, err);
    goto out;
  }
  searched = json_array();
  result =
      json_pack("{s:O, s:o}", "events", events, "searchedLogStreams", searched);
  searched = NULL;
  if (result == NULL) {
    rc = fail_nomem(err);
    goto out;
  }
  if (more) {
    char next[64];

    token_format(next, 'f', &last);
    if (jset(result, "nextToken", json_string(next)) < 0) {
      rc = fail_nomem(err);
      goto out;
    }
  }
  *out = result;
  result = NULL;
  rc = 0;
out:
  sqlite3_finalize(stmt);
  json_decref(events);
  json_decref(result);
  buf_free(&filter.terms);
  buf_free(&group);
  buf_free(&sql);
  return rc;
}

/* ---- Writing events ------------------------------------------------------ */

static int put_log_events(struct local_engine *e, const json_t *in,
                          json_t **out, struct local_error *err)
{
  const char *group = jstr(in, "logGroupName");
  const json_t *list = json_object_get(in, "logEvents");
  size_t i, n = json_array_size(list), kept = 0;
  struct local_log_event *ev = NULL;
  long long now = logs_now_ms(e), bytes = 0, sid, seq = 0;
  long long too_new = -1, too_old = -1;
  sqlite3_stmt *stmt = NULL;
  json_t *result = NULL, *x;
  char token[64];
  int rc;

  rc = group_exists(e, group);
  if (rc == 0)
    rc = stream_id(e, group, jstr(in, "logStreamName"), &sid);
  if (rc < 0)
    return rc != SR_ENOENT               ? fail_db(e, err)
           : group_exists(e, group) == 0 ? fail_no_stream(err)
                                         : fail_no_group(err);
  ev = calloc(n ? n : 1, sizeof(*ev));
  if (ev == NULL)
    return fail_nomem(err);
  json_array_foreach(list, i, x)
  {
    long long t = json_integer_value(json_object_get(x, "timestamp"));

    bytes += (long long)json_string_length(json_object_get(x, "message")) +
             LOGS_EVENT_OVERHEAD;
    if (i > 0 && t < json_integer_value(json_object_get(
                         json_array_get(list, i - 1), "timestamp"))) {
      free(ev);
      return fail_param(err, "Log events in a single PutLogEvents request "
                             "must be in chronological order.");
    }
    if (t > now + LOGS_TOO_NEW_MS) {
      if (too_new < 0)
        too_new = (long long)i;
      continue;
    }
    if (t < now - LOGS_TOO_OLD_MS) {
      too_old = (long long)i + 1;
      continue;
    }
    ev[kept].timestamp_ms = t;
    ev[kept].message = json_string_value(json_object_get(x, "message"));
    kept++;
  }
  if (bytes > LOGS_MAX_BATCH_BYTES) {
    free(ev);
    return local_fail(err, 400, "InvalidParameterException",
                      "Upload too large: %lld bytes exceeds limit of %d", bytes,
                      LOGS_MAX_BATCH_BYTES);
  }
  if (kept > 1 &&
      ev[kept - 1].timestamp_ms - ev[0].timestamp_ms > LOGS_DAY_MS) {
    free(ev);
    return fail_param(err, "The batch of log events in a single "
                           "PutLogEvents request cannot span more than 24 "
                           "hours.");
  }
  rc = exec(e, "SAVEPOINT logs_put");
  if (rc == 0)
    rc = events_append(e, sid, ev, kept);
  if (rc == 0 &&
      prepare(e, "SELECT seq FROM logs_streams WHERE id = ?", &stmt) == 0) {
    sqlite3_bind_int64(stmt, 1, sid);
    if (sqlite3_step(stmt) == SQLITE_ROW)
      seq = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
  }
  if (rc < 0)
    exec(e, "ROLLBACK TO logs_put");
  exec(e, "RELEASE logs_put");
  free(ev);
  if (rc < 0)
    return fail_db(e, err);
  snprintf(token, sizeof(token), "%056lld", seq);
  result = json_pack("{s:s}", "nextSequenceToken", token);
  if (result && (too_new >= 0 || too_old >= 0)) {
    json_t *info = json_object();

    if (info == NULL || jset(result, "rejectedLogEventsInfo", info) < 0 ||
        (too_new >= 0 &&
         jset(info, "tooNewLogEventStartIndex", json_integer(too_new)) < 0) ||
        (too_old >= 0 &&
         jset(info, "tooOldLogEventEndIndex", json_integer(too_old - 1)) < 0)) {
      json_decref(result);
      result = NULL;
    }
  }
  if (result == NULL)
    return fail_nomem(err);
  *out = result;
  return 0;
}

/* ---- The service ----------------------------------------------------------
 */

static const struct logs_op {
  const char *name;
  int (*fn)(struct local_engine *e, const json_t *in, json_t **out,
            struct local_error *err);
} logs_ops[] = {{"CreateLogGroup", create_log_group},
                {"CreateLogStream", create_log_stream},
                {"DeleteLogGroup", delete_log_group},
                {"DeleteLogStream", delete_log_stream},
                {"DescribeLogGroups", describe_log_groups},
                {"DescribeLogStreams", describe_log_streams},
                {"FilterLogEvents", filter_log_events},
                {"GetLogEvents", get_log_events},
                {"PutLogEvents", put_log_events},
                {NULL, NULL}};

int local_logs_init(struct local_engine *e)
{
  char *errmsg = NULL;
  int rc;

  if (logs_model == NULL) {
    rc = awsmodel_load("logs", &logs_model);
    if (rc < 0)
      return rc;
  }
  if (sqlite3_exec(local_engine_db(e), logs_schema, NULL, NULL, &errmsg) !=
      SQLITE_OK) {
    local_engine_log(e, "logs tables: %s", errmsg ? errmsg : "error");
    sqlite3_free(errmsg);
    return SR_EIO;
  }
  return 0;
}

int local_logs_call(struct local_engine *e, const char *operation,
                    const json_t *input, json_t **output,
                    struct local_error *err)
{
  const struct logs_op *op;
  json_t *empty = NULL;
  struct buf msg;
  int rc;

  *output = NULL;
  if (logs_model == NULL)
    return local_fail(err, 503, "ServiceUnavailableException",
                      "the logs service is not running");
  for (op = logs_ops; op->name; op++)
    if (strcmp(op->name, operation) == 0)
      break;
  if (op->name == NULL || !awsmodel_has_operation(logs_model, operation))
    return local_fail(err, 400, "UnknownOperationException",
                      "The local engine does not implement Logs.%s", operation);
  if (input != NULL && !json_is_object(input))
    return local_fail(err, 400, "SerializationException",
                      "the request body must be a JSON object");
  buf_init(&msg, (size_t)1 << 20);
  rc = awsmodel_validate(logs_model, operation, input, &msg);
  if (rc == SR_EINVAL)
    rc = local_fail(err, 400, "InvalidParameterException", "%s", buf_str(&msg));
  else if (rc == SR_EPARSE)
    rc = local_fail(err, 400, "SerializationException", "%s", buf_str(&msg));
  else if (rc < 0)
    rc = fail_nomem(err);
  buf_free(&msg);
  if (rc < 0)
    return rc;
  if (input == NULL) {
    empty = json_object();
    if (empty == NULL)
      return fail_nomem(err);
    input = empty;
  }
  rc = op->fn(e, input, output, err);
  json_decref(empty);
  if (rc < 0) {
    json_decref(*output);
    *output = NULL;
    return -1;
  }
  return 0;
}
