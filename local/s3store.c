/* The object store: data files named by random IDs, metadata in SQLite.
 * See s3store.h for the layout and the atomicity argument. */
#include "s3store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "../runner/buf.h"
#include "../runner/error.h"

#define COPY_CHUNK ((size_t)1 << 20)

struct s3store {
  sqlite3 *db;
  char root[PATH_MAX / 2]; /* DATA_DIR/s3; short enough for any file in it */
};

struct s3store_writer {
  struct s3store *s;
  int fd;
  char id[33];
  char tmp_path[PATH_MAX];
  long long size;
  EVP_MD_CTX *md5;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS s3_buckets("
    " name TEXT PRIMARY KEY, created REAL NOT NULL,"
    " public INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS s3_objects("
    " bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,"
    " etag TEXT NOT NULL, modified REAL NOT NULL, content_type TEXT,"
    " headers TEXT, file TEXT NOT NULL,"
    " PRIMARY KEY(bucket, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS s3_objects_file ON s3_objects(file);"
    "CREATE TABLE IF NOT EXISTS s3_uploads("
    " id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,"
    " created REAL NOT NULL, content_type TEXT, headers TEXT);"
    "CREATE TABLE IF NOT EXISTS s3_parts("
    " upload TEXT NOT NULL, number INTEGER NOT NULL, size INTEGER NOT NULL,"
    " etag TEXT NOT NULL, modified REAL NOT NULL, file TEXT NOT NULL,"
    " PRIMARY KEY(upload, number)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS s3_parts_file ON s3_parts(file);";

static const char hex[] = "0123456789abcdef";

/* --- small helpers --- */

static int random_id(char out[33])
{
  unsigned char raw[16];
  int i;

  if (RAND_bytes(raw, sizeof(raw)) != 1)
    return SR_EIO;
  for (i = 0; i < 16; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[32] = '\0';
  return 0;
}

/* A data file ID is exactly 32 lowercase hex digits: anything else (a
 * corrupted row, say) never becomes part of a path. */
static int id_valid(const char *id)
{
  int i;

  for (i = 0; i < 32; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return 0;
  return id[32] == '\0';
}

int s3store_data_path(const struct s3store *s, const char *file_id, char *out,
                      size_t outlen)
{
  int n;

  if (!id_valid(file_id))
    return SR_EINVAL;
  n = snprintf(out, outlen, "%s/data/%.2s/%s", s->root, file_id, file_id);
  return n < 0 || (size_t)n >= outlen ? SR_ETOOBIG : 0;
}

static int make_dir(const char *path)
{
  if (mkdir(path, 0700) == 0 || errno == EEXIST)
    return 0;
  return SR_EIO;
}

static int fsync_dir(const char *path)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

  if (fd < 0)
    return SR_EIO;
  if (fsync(fd) != 0)
    rc = SR_EIO;
  close(fd);
  return rc;
}

static int db_exec(sqlite3 *db, const char *sql)
{
  return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : SR_EIO;
}

static int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
  return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? 0 : SR_EIO;
}

static void db_rollback(sqlite3 *db)
{
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static char *col_strdup(sqlite3_stmt *st, int col)
{
  const unsigned char *t = sqlite3_column_text(st, col);

  return t ? strdup((const char *)t) : NULL;
}

/* Copies a text column into a fixed array (truncating; the columns this
 * is used for have a fixed length). */
static void col_copy(sqlite3_stmt *st, int col, char *out, size_t outlen)
{
  const unsigned char *t = sqlite3_column_text(st, col);

  snprintf(out, outlen, "%s", t ? (const char *)t : "");
}

static void unlink_data(struct s3store *s, const char *file_id)
{
  char path[PATH_MAX];

  if (s3store_data_path(s, file_id, path, sizeof(path)) == 0)
    unlink(path);
}

/* --- checks and ETags --- */

int s3store_key_check(const char *key, size_t len)
{
  size_t i = 0;

  if (key == NULL || len == 0)
    return SR_EINVAL;
  if (len > S3STORE_MAX_KEY)
    return SR_ETOOBIG;
  /* UTF-8 as RFC 3629 defines it: no overlongs, no surrogates, nothing
   * above U+10FFFF. */
  while (i < len) {
    unsigned char c = (unsigned char)key[i];
    size_t n, k;
    unsigned cp;

    if (c == 0)
      return SR_EINVAL;
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3;
      cp = c & 0x07;
    } else {
      return SR_EINVAL;
    }
    if (len - i - 1 < n)
      return SR_EINVAL;
    for (k = 1; k <= n; k++) {
      unsigned char cc = (unsigned char)key[i + k];
      if ((cc & 0xC0) != 0x80)
        return SR_EINVAL;
      cp = cp << 6 | (cc & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return SR_EINVAL;
    i += n + 1;
  }
  return 0;
}

int s3store_bucket_name_check(const char *name)
{
  size_t len = name ? strlen(name) : 0, i;
  int dots = 0, digits_only = 1;

  if (len < 3 || len > 63)
    return SR_EINVAL;
  for (i = 0; i < len; i++) {
    char c = name[i];
    int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

    if (!alnum && c != '.' && c != '-')
      return SR_EINVAL;
    if ((i == 0 || i == len - 1) && !alnum)
      return SR_EINVAL;
    if (c == '.' && name[i + 1] == '.')
      return SR_EINVAL;
    dots += c == '.';
    if (c != '.' && !(c >= '0' && c <= '9'))
      digits_only = 0;
  }
  /* "192.168.5.4" is refused: it would read as an address. */
  if (dots == 3 && digits_only)
    return SR_EINVAL;
  return 0;
}

void s3store_etag_simple(const unsigned char md5[16], char out[48])
{
  int i;

  out[0] = '"';
  for (i = 0; i < 16; i++) {
    out[1 + 2 * i] = hex[md5[i] >> 4];
    out[2 + 2 * i] = hex[md5[i] & 15];
  }
  out[33] = '"';
  out[34] = '\0';
}

int s3store_etag_multipart(const unsigned char (*part_md5s)[16], size_t n,
                           char out[48])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *ctx;
  size_t i;
  int rc = SR_ENOMEM;

  if (n == 0 || n > S3STORE_MAX_PARTS)
    return SR_EINVAL;
  ctx = EVP_MD_CTX_new();
  if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_md5(), NULL))
    goto out;
  for (i = 0; i < n; i++)
    if (!EVP_DigestUpdate(ctx, part_md5s[i], 16))
      goto out;
  if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 16)
    goto out;
  s3store_etag_simple(md, out);
  snprintf(out + 33, 48 - 33, "-%zu\"", n);
  rc = 0;
out:
  EVP_MD_CTX_free(ctx);
  return rc;
}

static int hexval(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int s3store_etag_md5(const char *etag, unsigned char md5[16])
{
  size_t len = etag ? strlen(etag) : 0;
  int i;

  if (len == 34 && etag[0] == '"' && etag[33] == '"') {
    etag++;
    len -= 2;
  }
  if (len != 32)
    return SR_EINVAL;
  for (i = 0; i < 16; i++) {
    int hi = hexval(etag[2 * i]), lo = hexval(etag[2 * i + 1]);

    if (hi < 0 || lo < 0)
      return SR_EINVAL;
    md5[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

/* --- open, sweep --- */

/* Removes every file in dir (not recursive). */
static void clear_dir(const char *dir)
{
  char path[PATH_MAX];
  DIR *d = opendir(dir);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) <
        (int)sizeof(path))
      unlink(path);
  }
  closedir(d);
}

/* Whether any object or part refers to file id. */
static int file_referenced(sqlite3_stmt *obj, sqlite3_stmt *part,
                           const char *id)
{
  int found;

  sqlite3_bind_text(obj, 1, id, -1, SQLITE_STATIC);
  found = sqlite3_step(obj) != SQLITE_DONE;
  sqlite3_reset(obj);
  if (found)
    return 1;
  sqlite3_bind_text(part, 1, id, -1, SQLITE_STATIC);
  found = sqlite3_step(part) != SQLITE_DONE;
  sqlite3_reset(part);
  return found;
}

/* Removes data files that no metadata refers to: written and renamed by
 * an engine that died before committing, or replaced by a commit that
 * died before unlinking the old file. */
static int sweep_data(struct s3store *s)
{
  sqlite3_stmt *obj = NULL, *part = NULL;
  char dir[PATH_MAX], sub[PATH_MAX], path[PATH_MAX];
  DIR *d = NULL, *sd;
  struct dirent *de, *fe;
  int rc;

  rc = db_prepare(s->db, "SELECT 1 FROM s3_objects WHERE file = ?1", &obj);
  if (rc == 0)
    rc = db_prepare(s->db, "SELECT 1 FROM s3_parts WHERE file = ?1", &part);
  if (rc)
    goto out;
  snprintf(dir, sizeof(dir), "%s/data", s->root);
  d = opendir(dir);
  if (d == NULL) {
    rc = SR_EIO;
    goto out;
  }
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' || strlen(de->d_name) != 2)
      continue;
    if (snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >=
        (int)sizeof(sub))
      continue;
    sd = opendir(sub);
    if (sd == NULL)
      continue;
    while ((fe = readdir(sd)) != NULL) {
      if (fe->d_name[0] == '.')
        continue;
      if (id_valid(fe->d_name) && file_referenced(obj, part, fe->d_name))
        continue;
      if (snprintf(path, sizeof(path), "%s/%s", sub, fe->d_name) <
          (int)sizeof(path))
        unlink(path);
    }
    closedir(sd);
  }
out:
  if (d)
    closedir(d);
  sqlite3_finalize(obj);
  sqlite3_finalize(part);
  return rc;
}

int s3store_open(sqlite3 *db, const char *data_dir, struct s3store **out)
{
  struct s3store *s;
  char path[PATH_MAX];
  int rc;

  *out = NULL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return SR_ENOMEM;
  s->db = db;
  if (snprintf(s->root, sizeof(s->root), "%s/s3", data_dir) >=
      (int)sizeof(s->root) - 64) {
    rc = SR_ETOOBIG;
    goto out;
  }
  rc = make_dir(s->root);
  snprintf(path, sizeof(path), "%s/tmp", s->root);
  if (rc == 0)
    rc = make_dir(path);
  if (rc == 0)
    clear_dir(path);
  snprintf(path, sizeof(path), "%s/data", s->root);
  if (rc == 0)
    rc = make_dir(path);
  if (rc == 0)
    rc = db_exec(db, schema_sql);
  if (rc == 0)
    rc = sweep_data(s);
out:
  if (rc) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void s3store_close(struct s3store *s)
{
  free(s);
}

/* --- buckets --- */

int s3store_bucket_create(struct s3store *s, const char *name, int is_public,
                          double now)
{
  sqlite3_stmt *st = NULL;
  int rc, step;

  rc = db_prepare(s->db,
                  "INSERT INTO s3_buckets(name, created, public) "
                  "VALUES(?1, ?2, ?3)",
                  &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_int(st, 3, is_public ? 1 : 0);
  step = sqlite3_step(st);
  if (step == SQLITE_CONSTRAINT)
    rc = SR_EEXIST;
  else if (step != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

int s3store_bucket_ensure(struct s3store *s, const char *name, int is_public,
                          double now)
{
  sqlite3_stmt *st = NULL;
  int rc;

  rc = db_prepare(s->db,
                  "INSERT INTO s3_buckets(name, created, public) "
                  "VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET "
                  "public = excluded.public",
                  &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 2, now);
  sqlite3_bind_int(st, 3, is_public ? 1 : 0);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

int s3store_bucket_exists(struct s3store *s, const char *name, int *is_public)
{
  sqlite3_stmt *st = NULL;
  int rc, step;

  rc = db_prepare(s->db, "SELECT public FROM s3_buckets WHERE name = ?1", &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  step = sqlite3_step(st);
  if (step == SQLITE_ROW) {
    if (is_public)
      *is_public = sqlite3_column_int(st, 0);
  } else {
    rc = step == SQLITE_DONE ? SR_ENOENT : SR_EIO;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Collects the data files of rows sql selects (one text bind) into a
 * malloc'ed array of IDs. */
static int collect_files(sqlite3 *db, const char *sql, const char *arg,
                         char (**ids)[33], size_t *n)
{
  sqlite3_stmt *st = NULL;
  char(*v)[33] = NULL, (*p)[33];
  size_t count = 0, alloc = 0;
  int rc, step;

  *ids = NULL;
  *n = 0;
  rc = db_prepare(db, sql, &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    if (count == alloc) {
      alloc = alloc ? 2 * alloc : 16;
      p = realloc(v, alloc * sizeof(*v));
      if (p == NULL) {
        rc = SR_ENOMEM;
        goto out;
      }
      v = p;
    }
    col_copy(st, 0, v[count++], 33);
  }
  if (step != SQLITE_DONE)
    rc = SR_EIO;
out:
  sqlite3_finalize(st);
  if (rc) {
    free(v);
    return rc;
  }
  *ids = v;
  *n = count;
  return 0;
}

/* Runs a statement with one or two text binds to completion. */
static int db_run(sqlite3 *db, const char *sql, const char *a, const char *b)
{
  sqlite3_stmt *st = NULL;
  int rc = db_prepare(db, sql, &st);

  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
  if (b)
    sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

int s3store_bucket_delete(struct s3store *s, const char *name)
{
  sqlite3_stmt *st = NULL;
  char(*files)[33] = NULL;
  size_t nfiles = 0, i;
  int rc, step;

  rc = db_exec(s->db, "BEGIN IMMEDIATE");
  if (rc)
    return rc;
  rc = s3store_bucket_exists(s, name, NULL);
  if (rc)
    goto out;
  rc = db_prepare(s->db, "SELECT 1 FROM s3_objects WHERE bucket = ?1 LIMIT 1",
                  &st);
  if (rc)
    goto out;
  sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
  step = sqlite3_step(st);
  sqlite3_finalize(st);
  if (step != SQLITE_DONE) {
    rc = step == SQLITE_ROW ? SR_EEXIST : SR_EIO;
    goto out;
  }
  rc = collect_files(s->db,
                     "SELECT p.file FROM s3_parts p JOIN s3_uploads u ON "
                     "p.upload = u.id WHERE u.bucket = ?1",
                     name, &files, &nfiles);
  if (rc == 0)
    rc = db_run(s->db,
                "DELETE FROM s3_parts WHERE upload IN (SELECT id FROM "
                "s3_uploads WHERE bucket = ?1)",
                name, NULL);
  if (rc == 0)
    rc = db_run(s->db, "DELETE FROM s3_uploads WHERE bucket = ?1", name, NULL);
  if (rc == 0)
    rc = db_run(s->db, "DELETE FROM s3_buckets WHERE name = ?1", name, NULL);
  if (rc == 0)
    rc = db_exec(s->db, "COMMIT");
out:
  if (rc)
    db_rollback(s->db);
  else
    for (i = 0; i < nfiles; i++)
      unlink_data(s, files[i]);
  free(files);
  return rc;
}

int s3store_bucket_list(struct s3store *s, s3store_bucket_cb cb, void *arg)
{
  sqlite3_stmt *st = NULL;
  int rc, step;

  rc = db_prepare(s->db, "SELECT name, created FROM s3_buckets ORDER BY name",
                  &st);
  if (rc)
    return rc;
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    rc = cb((const char *)sqlite3_column_text(st, 0),
            sqlite3_column_double(st, 1), arg);
    if (rc)
      break;
  }
  if (rc == 0 && step != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

/* --- objects --- */

void s3store_object_free(struct s3store_object *o)
{
  free(o->content_type);
  free(o->headers);
  o->content_type = NULL;
  o->headers = NULL;
}

int s3store_object_get(struct s3store *s, const char *bucket, const char *key,
                       struct s3store_object *o)
{
  sqlite3_stmt *st = NULL;
  int rc, step;

  memset(o, 0, sizeof(*o));
  rc = db_prepare(s->db,
                  "SELECT size, etag, modified, content_type, headers, file "
                  "FROM s3_objects WHERE bucket = ?1 AND key = ?2",
                  &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
  step = sqlite3_step(st);
  if (step == SQLITE_ROW) {
    o->size = sqlite3_column_int64(st, 0);
    col_copy(st, 1, o->etag, sizeof(o->etag));
    o->modified = sqlite3_column_double(st, 2);
    col_copy(st, 5, o->file, sizeof(o->file));
    o->content_type = col_strdup(st, 3);
    o->headers = col_strdup(st, 4);
    if ((sqlite3_column_type(st, 3) != SQLITE_NULL && !o->content_type) ||
        (sqlite3_column_type(st, 4) != SQLITE_NULL && !o->headers))
      rc = SR_ENOMEM;
  } else {
    rc = step == SQLITE_DONE ? SR_ENOENT : SR_EIO;
  }
  sqlite3_finalize(st);
  if (rc)
    s3store_object_free(o);
  return rc;
}

int s3store_object_open(struct s3store *s, const struct s3store_object *o,
                        int *fd)
{
  char path[PATH_MAX];
  int rc = s3store_data_path(s, o->file, path, sizeof(path));

  *fd = -1;
  if (rc)
    return rc;
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  return *fd < 0 ? SR_EIO : 0;
}

int s3store_object_delete(struct s3store *s, const char *bucket,
                          const char *key)
{
  struct s3store_object o;
  int rc = s3store_object_get(s, bucket, key, &o);

  if (rc == SR_ENOENT)
    return 0;
  if (rc)
    return rc;
  rc = db_run(s->db, "DELETE FROM s3_objects WHERE bucket = ?1 AND key = ?2",
              bucket, key);
  /* After the row is gone: a crash in between leaves only an orphan. */
  if (rc == 0)
    unlink_data(s, o.file);
  s3store_object_free(&o);
  return rc;
}

/* --- writers --- */

int s3store_writer_begin(struct s3store *s, struct s3store_writer **out)
{
  struct s3store_writer *w;
  int rc;

  *out = NULL;
  w = calloc(1, sizeof(*w));
  if (w == NULL)
    return SR_ENOMEM;
  w->s = s;
  w->fd = -1;
  rc = random_id(w->id);
  if (rc)
    goto out;
  snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/tmp/%s", s->root, w->id);
  w->md5 = EVP_MD_CTX_new();
  if (w->md5 == NULL || !EVP_DigestInit_ex(w->md5, EVP_md5(), NULL)) {
    rc = SR_ENOMEM;
    goto out;
  }
  w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (w->fd < 0)
    rc = SR_EIO;
out:
  if (rc) {
    EVP_MD_CTX_free(w->md5);
    free(w);
    return rc;
  }
  *out = w;
  return 0;
}

int s3store_writer_write(struct s3store_writer *w, const void *data, size_t len)
{
  const char *p = data;

  if (!EVP_DigestUpdate(w->md5, data, len))
    return SR_ENOMEM;
  w->size += (long long)len;
  while (len > 0) {
    ssize_t n = write(w->fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return SR_EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int s3store_writer_copy(struct s3store_writer *w, int fd, long long offset,
                        long long len)
{
  char *chunk = malloc(COPY_CHUNK);
  int rc = 0;

  if (chunk == NULL)
    return SR_ENOMEM;
  while (len > 0 && rc == 0) {
    size_t want = len < (long long)COPY_CHUNK ? (size_t)len : COPY_CHUNK;
    ssize_t n = pread(fd, chunk, want, (off_t)offset);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = SR_EIO; /* the source is shorter than its metadata says */
      break;
    }
    rc = s3store_writer_write(w, chunk, (size_t)n);
    offset += n;
    len -= n;
  }
  free(chunk);
  return rc;
}

long long s3store_writer_size(const struct s3store_writer *w)
{
  return w->size;
}

int s3store_writer_md5(struct s3store_writer *w, unsigned char md5[16])
{
  EVP_MD_CTX *copy = EVP_MD_CTX_new();
  unsigned int len = 0;
  int rc = SR_ENOMEM;

  if (copy && EVP_MD_CTX_copy_ex(copy, w->md5) &&
      EVP_DigestFinal_ex(copy, md5, &len) && len == 16)
    rc = 0;
  EVP_MD_CTX_free(copy);
  return rc;
}

void s3store_writer_abort(struct s3store_writer *w)
{
  if (w == NULL)
    return;
  if (w->fd >= 0) {
    close(w->fd);
    unlink(w->tmp_path);
  }
  EVP_MD_CTX_free(w->md5);
  free(w);
}

/* Makes the written file durable and moves it to its data path; on
 * success the writer's fd is closed and the file is no longer in tmp. */
static int writer_place(struct s3store_writer *w)
{
  char dir[PATH_MAX], path[PATH_MAX];
  int rc = 0;

  if (fsync(w->fd) != 0)
    rc = SR_EIO;
  if (close(w->fd) != 0 && rc == 0)
    rc = SR_EIO;
  w->fd = -1;
  if (rc)
    goto out;
  snprintf(dir, sizeof(dir), "%s/data/%.2s", w->s->root, w->id);
  rc = make_dir(dir);
  if (rc == 0)
    rc = s3store_data_path(w->s, w->id, path, sizeof(path));
  if (rc == 0 && rename(w->tmp_path, path) != 0)
    rc = SR_EIO;
  /* The rename must be on disk before the metadata points at it. */
  if (rc == 0)
    rc = fsync_dir(dir);
out:
  if (rc)
    unlink(w->tmp_path);
  return rc;
}

/* Replaces the object row bucket/key with the placed file of id; *old
 * gets the replaced file's ID ("" for none). Runs inside a
 * transaction. */
static int object_row_put(struct s3store *s, const char *bucket,
                          const char *key, const struct s3store_put *put,
                          const struct s3store_object *o, char old[33])
{
  sqlite3_stmt *st = NULL;
  int rc, step;

  old[0] = '\0';
  rc = db_prepare(
      s->db, "SELECT file FROM s3_objects WHERE bucket = ?1 AND key = ?2", &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
  step = sqlite3_step(st);
  if (step == SQLITE_ROW)
    col_copy(st, 0, old, 33);
  else if (step != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  if (rc)
    return rc;
  rc = db_prepare(s->db,
                  "INSERT OR REPLACE INTO s3_objects(bucket, key, size, "
                  "etag, modified, content_type, headers, file) "
                  "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                  &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 3, o->size);
  sqlite3_bind_text(st, 4, o->etag, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 5, o->modified);
  if (put && put->content_type)
    sqlite3_bind_text(st, 6, put->content_type, -1, SQLITE_STATIC);
  if (put && put->headers)
    sqlite3_bind_text(st, 7, put->headers, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 8, o->file, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

/* Fills the metadata out of a committed object. */
static int object_fill(struct s3store_object *out,
                       const struct s3store_object *o,
                       const struct s3store_put *put)
{
  *out = *o;
  out->content_type = NULL;
  out->headers = NULL;
  if (put && put->content_type) {
    out->content_type = strdup(put->content_type);
    if (out->content_type == NULL)
      return SR_ENOMEM;
  }
  if (put && put->headers) {
    out->headers = strdup(put->headers);
    if (out->headers == NULL) {
      s3store_object_free(out);
      return SR_ENOMEM;
    }
  }
  return 0;
}

/* Places w's file and commits it as bucket/key with the given ETag (or
 * its MD5), also running extra (may be NULL) in the same transaction.
 * Frees w. */
static int writer_commit_object(struct s3store_writer *w, const char *bucket,
                                const char *key, const struct s3store_put *put,
                                const char *etag, double now,
                                int (*extra)(struct s3store *s, void *arg),
                                void *extra_arg, struct s3store_object *out)
{
  struct s3store *s = w->s;
  struct s3store_object o;
  unsigned char md5[16];
  char old[33];
  int rc, placed = 0;

  memset(&o, 0, sizeof(o));
  if (out)
    memset(out, 0, sizeof(*out));
  rc = s3store_writer_md5(w, md5);
  if (rc)
    goto out;
  o.size = w->size;
  o.modified = now;
  if (etag)
    snprintf(o.etag, sizeof(o.etag), "%s", etag);
  else
    s3store_etag_simple(md5, o.etag);
  memcpy(o.file, w->id, sizeof(o.file));
  rc = writer_place(w);
  if (rc)
    goto out;
  placed = 1;
  rc = db_exec(s->db, "BEGIN IMMEDIATE");
  if (rc)
    goto out;
  rc = s3store_bucket_exists(s, bucket, NULL);
  if (rc == 0)
    rc = object_row_put(s, bucket, key, put, &o, old);
  if (rc == 0 && extra)
    rc = extra(s, extra_arg);
  if (rc == 0)
    rc = db_exec(s->db, "COMMIT");
  if (rc) {
    db_rollback(s->db);
    goto out;
  }
  if (old[0])
    unlink_data(s, old);
  if (out)
    rc = object_fill(out, &o, put);
  placed = 0;
out:
  if (rc && placed)
    unlink_data(s, w->id);
  s3store_writer_abort(w);
  return rc;
}

int s3store_writer_commit(struct s3store_writer *w, const char *bucket,
                          const char *key, const struct s3store_put *put,
                          double now, struct s3store_object *out)
{
  return writer_commit_object(w, bucket, key, put, NULL, now, NULL, NULL, out);
}

/* --- listing --- */

/* Replaces b with the smallest string above every string that starts
 * with it; returns 0 when there is none (b is all 0xff bytes). */
static int successor(struct buf *b)
{
  size_t len = buf_len(b);
  const unsigned char *p = (const unsigned char *)buf_str(b);
  char last;

  while (len > 0 && p[len - 1] == 0xff)
    len--;
  if (len == 0)
    return 0;
  last = (char)(p[len - 1] + 1);
  buf_truncate(b, len - 1);
  return buf_addc(b, last) == 0;
}

int s3store_list(struct s3store *s, const char *bucket, const char *prefix,
                 const char *delimiter, const char *after, int max,
                 s3store_item_cb cb, void *arg, int *truncated)
{
  static const char *const sql[2] = {
      "SELECT key, size, etag, modified FROM s3_objects "
      "WHERE bucket = ?1 AND key > ?2 ORDER BY key",
      "SELECT key, size, etag, modified FROM s3_objects "
      "WHERE bucket = ?1 AND key >= ?2 ORDER BY key"};
  sqlite3_stmt *st[2] = {NULL, NULL}, *cur;
  struct buf bound, cp;
  size_t plen = prefix ? strlen(prefix) : 0;
  size_t dlen = delimiter ? strlen(delimiter) : 0;
  int rc, count = 0, inclusive, step = SQLITE_DONE;

  *truncated = 0;
  if (max <= 0)
    return 0;
  buf_init(&bound, 4 * S3STORE_MAX_KEY);
  buf_init(&cp, 4 * S3STORE_MAX_KEY);
  rc = db_prepare(s->db, sql[0], &st[0]);
  if (rc == 0)
    rc = db_prepare(s->db, sql[1], &st[1]);
  if (rc)
    goto out;
  /* Start at the prefix unless `after` lies beyond it. */
  if (after && *after && (plen == 0 || strcmp(after, prefix) >= 0)) {
    rc = buf_adds(&bound, after);
    inclusive = 0;
  } else {
    rc = buf_add(&bound, prefix ? prefix : "", plen);
    inclusive = 1;
  }
  if (rc)
    goto out;
restart:
  cur = st[inclusive];
  sqlite3_reset(cur);
  sqlite3_bind_text(cur, 1, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_text(cur, 2, buf_str(&bound), (int)buf_len(&bound),
                    SQLITE_TRANSIENT);
  while ((step = sqlite3_step(cur)) == SQLITE_ROW) {
    const char *key = (const char *)sqlite3_column_text(cur, 0);
    const char *d = NULL;
    struct s3store_item item;

    if (key == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
    if (plen && strncmp(key, prefix, plen) != 0)
      break; /* sorted: nothing later has the prefix */
    if (dlen)
      d = strstr(key + plen, delimiter);
    if (d) {
      buf_reset(&cp);
      rc = buf_add(&cp, key, (size_t)(d - key) + dlen);
      if (rc)
        goto out;
      if (!(after && strcmp(buf_str(&cp), after) == 0)) {
        if (count == max) {
          *truncated = 1;
          break;
        }
        memset(&item, 0, sizeof(item));
        item.key = buf_str(&cp);
        item.is_prefix = 1;
        rc = cb(&item, arg);
        if (rc)
          goto out;
        count++;
      }
      /* Skip the rest of the rolled-up keys in one jump. */
      buf_reset(&bound);
      rc = buf_add(&bound, buf_str(&cp), buf_len(&cp));
      if (rc)
        goto out;
      if (!successor(&bound)) {
        step = SQLITE_DONE;
        break;
      }
      inclusive = 1;
      goto restart;
    }
    if (count == max) {
      *truncated = 1;
      break;
    }
    item.key = key;
    item.is_prefix = 0;
    item.size = sqlite3_column_int64(cur, 1);
    item.etag = (const char *)sqlite3_column_text(cur, 2);
    item.modified = sqlite3_column_double(cur, 3);
    rc = cb(&item, arg);
    if (rc)
      goto out;
    count++;
  }
  if (step != SQLITE_ROW && step != SQLITE_DONE)
    rc = SR_EIO;
out:
  sqlite3_finalize(st[0]);
  sqlite3_finalize(st[1]);
  buf_free(&bound);
  buf_free(&cp);
  return rc;
}

/* --- multipart --- */

void s3store_put_free(struct s3store_put *put)
{
  free((char *)put->content_type);
  free((char *)put->headers);
  put->content_type = NULL;
  put->headers = NULL;
}

int s3store_upload_create(struct s3store *s, const char *bucket,
                          const char *key, const struct s3store_put *put,
                          double now, char upload_id[65])
{
  sqlite3_stmt *st = NULL;
  char a[33], b[33];
  int rc;

  rc = random_id(a);
  if (rc == 0)
    rc = random_id(b);
  if (rc)
    return rc;
  snprintf(upload_id, 65, "%s%s", a, b);
  rc = s3store_bucket_exists(s, bucket, NULL);
  if (rc == 0)
    rc = db_prepare(s->db,
                    "INSERT INTO s3_uploads(id, bucket, key, created, "
                    "content_type, headers) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                    &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 4, now);
  if (put && put->content_type)
    sqlite3_bind_text(st, 5, put->content_type, -1, SQLITE_STATIC);
  if (put && put->headers)
    sqlite3_bind_text(st, 6, put->headers, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

int s3store_upload_get(struct s3store *s, const char *upload_id,
                       const char *bucket, const char *key,
                       struct s3store_put *put)
{
  sqlite3_stmt *st = NULL;
  int rc, step;

  if (put)
    memset(put, 0, sizeof(*put));
  rc = db_prepare(s->db,
                  "SELECT content_type, headers FROM s3_uploads "
                  "WHERE id = ?1 AND bucket = ?2 AND key = ?3",
                  &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, bucket, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 3, key, -1, SQLITE_STATIC);
  step = sqlite3_step(st);
  if (step == SQLITE_ROW) {
    if (put) {
      put->content_type = col_strdup(st, 0);
      put->headers = col_strdup(st, 1);
      if ((sqlite3_column_type(st, 0) != SQLITE_NULL && !put->content_type) ||
          (sqlite3_column_type(st, 1) != SQLITE_NULL && !put->headers)) {
        s3store_put_free(put);
        rc = SR_ENOMEM;
      }
    }
  } else {
    rc = step == SQLITE_DONE ? SR_ENOENT : SR_EIO;
  }
  sqlite3_finalize(st);
  return rc;
}

/* Deletes the upload's rows (inside a transaction). */
static int upload_rows_delete(struct s3store *s, const char *upload_id)
{
  int rc =
      db_run(s->db, "DELETE FROM s3_parts WHERE upload = ?1", upload_id, NULL);

  return rc ? rc
            : db_run(s->db, "DELETE FROM s3_uploads WHERE id = ?1", upload_id,
                     NULL);
}

int s3store_upload_abort(struct s3store *s, const char *upload_id)
{
  sqlite3_stmt *st = NULL;
  char(*files)[33] = NULL;
  size_t nfiles = 0, i;
  int rc, step;

  rc = db_exec(s->db, "BEGIN IMMEDIATE");
  if (rc)
    return rc;
  rc = db_prepare(s->db, "SELECT 1 FROM s3_uploads WHERE id = ?1", &st);
  if (rc)
    goto out;
  sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
  step = sqlite3_step(st);
  sqlite3_finalize(st);
  if (step != SQLITE_ROW) {
    rc = step == SQLITE_DONE ? SR_ENOENT : SR_EIO;
    goto out;
  }
  rc = collect_files(s->db, "SELECT file FROM s3_parts WHERE upload = ?1",
                     upload_id, &files, &nfiles);
  if (rc == 0)
    rc = upload_rows_delete(s, upload_id);
  if (rc == 0)
    rc = db_exec(s->db, "COMMIT");
out:
  if (rc)
    db_rollback(s->db);
  else
    for (i = 0; i < nfiles; i++)
      unlink_data(s, files[i]);
  free(files);
  return rc;
}

int s3store_part_commit(struct s3store_writer *w, const char *upload_id,
                        int number, double now, struct s3store_object *out)
{
  struct s3store *s = w->s;
  struct s3store_object o;
  sqlite3_stmt *st = NULL;
  unsigned char md5[16];
  char old[33] = "";
  int rc, step, placed = 0;

  memset(&o, 0, sizeof(o));
  if (out)
    memset(out, 0, sizeof(*out));
  rc = s3store_writer_md5(w, md5);
  if (rc)
    goto out;
  o.size = w->size;
  o.modified = now;
  s3store_etag_simple(md5, o.etag);
  memcpy(o.file, w->id, sizeof(o.file));
  rc = writer_place(w);
  if (rc)
    goto out;
  placed = 1;
  rc = db_exec(s->db, "BEGIN IMMEDIATE");
  if (rc)
    goto out;
  rc = db_prepare(s->db,
                  "SELECT (SELECT 1 FROM s3_uploads WHERE id = ?1), "
                  "(SELECT file FROM s3_parts WHERE upload = ?1 AND "
                  "number = ?2)",
                  &st);
  if (rc)
    goto fail;
  sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, number);
  step = sqlite3_step(st);
  if (step != SQLITE_ROW)
    rc = SR_EIO;
  else if (sqlite3_column_type(st, 0) == SQLITE_NULL)
    rc = SR_ENOENT; /* aborted or completed meanwhile */
  else if (sqlite3_column_type(st, 1) != SQLITE_NULL)
    col_copy(st, 1, old, sizeof(old));
  sqlite3_finalize(st);
  st = NULL;
  if (rc)
    goto fail;
  rc = db_prepare(s->db,
                  "INSERT OR REPLACE INTO s3_parts(upload, number, size, "
                  "etag, modified, file) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
                  &st);
  if (rc)
    goto fail;
  sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, number);
  sqlite3_bind_int64(st, 3, o.size);
  sqlite3_bind_text(st, 4, o.etag, -1, SQLITE_STATIC);
  sqlite3_bind_double(st, 5, now);
  sqlite3_bind_text(st, 6, o.file, -1, SQLITE_STATIC);
  if (sqlite3_step(st) != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  if (rc == 0)
    rc = db_exec(s->db, "COMMIT");
fail:
  if (rc) {
    db_rollback(s->db);
    goto out;
  }
  placed = 0;
  if (old[0])
    unlink_data(s, old);
  if (out)
    *out = o;
out:
  if (rc && placed)
    unlink_data(s, w->id);
  s3store_writer_abort(w);
  return rc;
}

int s3store_part_list(struct s3store *s, const char *upload_id, int marker,
                      int max, s3store_part_cb cb, void *arg, int *truncated)
{
  sqlite3_stmt *st = NULL;
  int rc, step, count = 0;

  *truncated = 0;
  rc = db_prepare(s->db,
                  "SELECT number, size, etag, modified, file FROM s3_parts "
                  "WHERE upload = ?1 AND number > ?2 ORDER BY number",
                  &st);
  if (rc)
    return rc;
  sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, marker);
  while ((step = sqlite3_step(st)) == SQLITE_ROW) {
    struct s3store_object part;

    if (count == max) {
      *truncated = 1;
      break;
    }
    memset(&part, 0, sizeof(part));
    part.size = sqlite3_column_int64(st, 1);
    col_copy(st, 2, part.etag, sizeof(part.etag));
    part.modified = sqlite3_column_double(st, 3);
    col_copy(st, 4, part.file, sizeof(part.file));
    rc = cb(sqlite3_column_int(st, 0), &part, arg);
    if (rc)
      break;
    count++;
  }
  if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
    rc = SR_EIO;
  sqlite3_finalize(st);
  return rc;
}

struct complete_state {
  const char *upload_id;
  char (*files)[33];
  size_t nfiles;
};

static int complete_extra(struct s3store *s, void *arg)
{
  struct complete_state *c = arg;
  int rc = collect_files(s->db, "SELECT file FROM s3_parts WHERE upload = ?1",
                         c->upload_id, &c->files, &c->nfiles);

  return rc ? rc : upload_rows_delete(s, c->upload_id);
}

int s3store_upload_complete(struct s3store *s, const char *upload_id,
                            const char *bucket, const char *key,
                            const int *numbers, size_t n, double now,
                            struct s3store_object *out)
{
  struct s3store_put put = {NULL, NULL};
  struct complete_state cs = {upload_id, NULL, 0};
  struct s3store_writer *w = NULL;
  sqlite3_stmt *st = NULL;
  unsigned char(*md5s)[16] = NULL;
  char etag[48];
  size_t i;
  int rc, fd = -1;

  if (n == 0 || n > S3STORE_MAX_PARTS)
    return SR_EINVAL;
  md5s = calloc(n, sizeof(*md5s));
  if (md5s == NULL)
    return SR_ENOMEM;
  rc = s3store_upload_get(s, upload_id, bucket, key, &put);
  if (rc == 0)
    rc = s3store_writer_begin(s, &w);
  if (rc == 0)
    rc = db_prepare(s->db,
                    "SELECT size, etag, file FROM s3_parts "
                    "WHERE upload = ?1 AND number = ?2",
                    &st);
  for (i = 0; i < n && rc == 0; i++) {
    struct s3store_object part;

    memset(&part, 0, sizeof(part));
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, upload_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, numbers[i]);
    if (sqlite3_step(st) != SQLITE_ROW) {
      rc = SR_ENOENT;
      break;
    }
    part.size = sqlite3_column_int64(st, 0);
    col_copy(st, 1, part.etag, sizeof(part.etag));
    col_copy(st, 2, part.file, sizeof(part.file));
    rc = s3store_etag_md5(part.etag, md5s[i]);
    if (rc == 0)
      rc = s3store_object_open(s, &part, &fd);
    if (rc == 0)
      rc = s3store_writer_copy(w, fd, 0, part.size);
    if (fd >= 0)
      close(fd);
    fd = -1;
  }
  sqlite3_finalize(st);
  if (rc == 0)
    rc = s3store_etag_multipart((const unsigned char(*)[16])md5s, n, etag);
  if (rc == 0) {
    rc = writer_commit_object(w, bucket, key, &put, etag, now, complete_extra,
                              &cs, out);
    w = NULL;
  }
  if (rc == 0)
    for (i = 0; i < cs.nfiles; i++)
      unlink_data(s, cs.files[i]);
  s3store_writer_abort(w);
  s3store_put_free(&put);
  free(cs.files);
  free(md5s);
  return rc;
}
