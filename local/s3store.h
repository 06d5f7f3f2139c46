/* The local engine's object store: buckets and objects as S3 has them.
 *
 * Layout: object bytes are files under DATA_DIR/s3/data/XX/ID, where ID is
 * 32 random hex digits and XX its first two; metadata (bucket, key, size,
 * ETag, headers, which file) is in SQLite (the engine's engine.db). Keys
 * never become file names, so no key can reach outside the data
 * directory.
 *
 * Atomicity: a new object (or part) is written to DATA_DIR/s3/tmp, fsynced,
 * renamed into data/, and only then is its metadata committed. A reader
 * sees the old object or the new one, whole; a crash at any point leaves
 * at worst an unreferenced file, which s3store_open sweeps away.
 *
 * All functions run on the engine's loop thread (the store is not
 * thread-safe) and return 0 or a negative SR_ code. */
#ifndef SAGERUN_LOCAL_S3STORE_H
#define SAGERUN_LOCAL_S3STORE_H

#include <sqlite3.h>
#include <stddef.h>

#define S3STORE_MAX_KEY 1024
#define S3STORE_MAX_PARTS 10000
#define S3STORE_MIN_PART_SIZE (5LL << 20) /* except the last part */
#define S3STORE_MAX_OBJECT (5LL << 40)    /* 5 TiB */
#define S3STORE_MAX_PUT (5LL << 30)       /* one PUT or part: 5 GiB */

struct s3store;
struct s3store_writer;

/* An object's (or part's) metadata. Strings are owned by the struct
 * (s3store_object_free). */
struct s3store_object {
  long long size;
  char etag[48];      /* quoted, as S3 sends it: "\"<md5 hex>\"" or
                         "\"<hex>-<n>\"" */
  double modified;    /* seconds since the epoch */
  char *content_type; /* NULL when not given */
  char *headers;      /* JSON object of stored headers (x-amz-meta-*,
                         Content-Encoding ...) or NULL */
  char file[33];      /* the data file's ID */
};

/* What a put stores besides the bytes. */
struct s3store_put {
  const char *content_type; /* NULL for none */
  const char *headers;      /* JSON object text or NULL */
};

/* Opens the store in data_dir on db (which the caller keeps open and
 * closes after s3store_close): creates tables and directories, clears
 * s3/tmp and removes data files no metadata refers to (leftovers of a
 * crash). */
int s3store_open(sqlite3 *db, const char *data_dir, struct s3store **out);
void s3store_close(struct s3store *s);

/* Checks a key: 1 to 1024 bytes of valid UTF-8 without NUL. Returns 0,
 * SR_ETOOBIG for an overlong key, SR_EINVAL otherwise. */
int s3store_key_check(const char *key, size_t len);
/* Checks a bucket name by S3's rules (3-63 of [a-z0-9.-], starting and
 * ending with a letter or digit, no "..", not an IP address). */
int s3store_bucket_name_check(const char *name);

/* The path of a data file ID under the store (for tests and for readers
 * that want a path rather than an fd), into out. */
int s3store_data_path(const struct s3store *s, const char *file_id, char *out,
                      size_t outlen);

/* Buckets. create: SR_EEXIST if it exists. ensure: creates if missing and
 * sets the public flag either way. exists: 0 or SR_ENOENT, *is_public
 * (may be NULL) gets the flag. delete: SR_ENOENT, or SR_EEXIST while it
 * still holds objects (its unfinished multipart uploads are aborted). */
int s3store_bucket_create(struct s3store *s, const char *name, int is_public,
                          double now);
int s3store_bucket_ensure(struct s3store *s, const char *name, int is_public,
                          double now);
int s3store_bucket_exists(struct s3store *s, const char *name, int *is_public);
int s3store_bucket_delete(struct s3store *s, const char *name);

typedef int (*s3store_bucket_cb)(const char *name, double created, void *arg);
/* Calls cb for each bucket in name order; a non-zero return stops and is
 * returned. */
int s3store_bucket_list(struct s3store *s, s3store_bucket_cb cb, void *arg);

/* Objects. get: 0 or SR_ENOENT; fills *o (s3store_object_free it).
 * open: opens o's data for reading (O_CLOEXEC); the fd stays valid when
 * the object is overwritten or deleted meanwhile. delete: 0 also when it
 * did not exist. */
int s3store_object_get(struct s3store *s, const char *bucket, const char *key,
                       struct s3store_object *o);
int s3store_object_open(struct s3store *s, const struct s3store_object *o,
                        int *fd);
int s3store_object_delete(struct s3store *s, const char *bucket,
                          const char *key);
void s3store_object_free(struct s3store_object *o);

/* Writing: begin creates a temporary file; write appends (computing MD5
 * as it goes); commit makes it the object bucket/key (or a part) and
 * frees the writer whatever happens; abort removes it. */
int s3store_writer_begin(struct s3store *s, struct s3store_writer **w);
int s3store_writer_write(struct s3store_writer *w, const void *data,
                         size_t len);
/* Appends len bytes of fd from offset. */
int s3store_writer_copy(struct s3store_writer *w, int fd, long long offset,
                        long long len);
long long s3store_writer_size(const struct s3store_writer *w);
/* The MD5 of what was written so far (16 bytes); the writer stays
 * usable. */
int s3store_writer_md5(struct s3store_writer *w, unsigned char md5[16]);
/* Commits as bucket/key; the bucket must exist (SR_ENOENT). *out (may be
 * NULL) gets the new object's metadata. etag NULL means the MD5. */
int s3store_writer_commit(struct s3store_writer *w, const char *bucket,
                          const char *key, const struct s3store_put *put,
                          double now, struct s3store_object *out);
void s3store_writer_abort(struct s3store_writer *w);

/* Listing in key (byte) order: keys starting with prefix, after `after`
 * (exclusive; NULL or "" for the start), at most max items. With a
 * delimiter, keys that contain it after the prefix are rolled up into one
 * common prefix item (key up to and including the delimiter); a common
 * prefix equal to `after` is skipped with all its keys, so a listing
 * continued from its last item never repeats. *truncated is set when
 * more items follow. */
struct s3store_item {
  const char *key; /* key or common prefix */
  int is_prefix;
  long long size;
  const char *etag;
  double modified;
};
typedef int (*s3store_item_cb)(const struct s3store_item *item, void *arg);
int s3store_list(struct s3store *s, const char *bucket, const char *prefix,
                 const char *delimiter, const char *after, int max,
                 s3store_item_cb cb, void *arg, int *truncated);

/* Multipart uploads. create: *upload_id (65 bytes) gets a new ID. get:
 * 0 when the upload exists for bucket/key, SR_ENOENT otherwise; put (may
 * be NULL) gets its content type and headers (free with
 * s3store_put_free). */
int s3store_upload_create(struct s3store *s, const char *bucket,
                          const char *key, const struct s3store_put *put,
                          double now, char upload_id[65]);
int s3store_upload_get(struct s3store *s, const char *upload_id,
                       const char *bucket, const char *key,
                       struct s3store_put *put);
void s3store_put_free(struct s3store_put *put);
int s3store_upload_abort(struct s3store *s, const char *upload_id);
/* Commits what w holds as part number of upload_id (replacing an earlier
 * upload of that number); frees w whatever happens. */
int s3store_part_commit(struct s3store_writer *w, const char *upload_id,
                        int number, double now, struct s3store_object *out);

typedef int (*s3store_part_cb)(int number, const struct s3store_object *part,
                               void *arg);
/* Calls cb for the parts numbered above marker in order, at most max;
 * *truncated says whether more follow. */
int s3store_part_list(struct s3store *s, const char *upload_id, int marker,
                      int max, s3store_part_cb cb, void *arg, int *truncated);
/* Joins the given parts (validated by the caller) in order into the
 * object bucket/key with the multipart ETag, and ends the upload, in one
 * transaction. *out gets the object's metadata. */
int s3store_upload_complete(struct s3store *s, const char *upload_id,
                            const char *bucket, const char *key,
                            const int *numbers, size_t n, double now,
                            struct s3store_object *out);

/* ETags as S3 computes them: "\"<md5 hex>\"" for a single PUT, and for a
 * multipart upload the MD5 of the parts' binary MD5s joined, then "-N".
 * out must hold 48 bytes. */
void s3store_etag_simple(const unsigned char md5[16], char out[48]);
int s3store_etag_multipart(const unsigned char (*part_md5s)[16], size_t n,
                           char out[48]);
/* Parses a quoted or bare ETag of a single PUT into its MD5; SR_EINVAL
 * when it is not 32 hex digits. */
int s3store_etag_md5(const char *etag, unsigned char md5[16]);

#endif
