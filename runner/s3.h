/* S3 over the AWS client (aws.h): objects, listings, deletes, multipart
 * uploads and whole-file transfers, as requests in libuv's sense. A start
 * function fails (returns < 0, callback never runs) or the operation's
 * callback runs exactly once, from the loop, with a struct s3_result.
 *
 * Addressing: path-style (ENDPOINT/bucket/key) when the client targets
 * local_url, when the endpoint's host is an IP address or localhost, or
 * when the bucket name is not DNS-compatible (3-63 of [a-z0-9-], no dots,
 * botocore's check_dns_name); virtual-host style (bucket.ENDPOINT/key)
 * otherwise. Keys are percent-encoded with '/' kept. */
#ifndef SAGERUN_S3_H
#define SAGERUN_S3_H

#include <stddef.h>

#include "aws.h"
#include "buf.h"

/* "s3://bucket/key/with/slashes": bucket and key (key may be ""), both
 * malloc'ed. Returns 0, SR_EINVAL for anything else (no bucket, another
 * scheme), or SR_ENOMEM. */
struct s3_uri {
  char *bucket;
  char *key;
};
int s3_uri_parse(const char *uri, struct s3_uri *out);
void s3_uri_free(struct s3_uri *u);

struct s3_object {
  char *key;
  long long size;
  char *etag; /* with its quotes, as S3 sends it */
  char *last_modified;
};

struct s3_delete_error {
  char *key;
  char *code;
  char *message;
};

/* What an operation ends with. Everything lives until the callback
 * returns. Fields an operation does not produce are zero or NULL. */
struct s3_result {
  int error; /* 0; SR_EIO for an S3 error (error_code says which); a
                transport code; SR_EPARSE for a response we cannot read;
                SR_ECANCELED */
  int http_status;
  const char *error_code; /* "NoSuchKey", "NotFound" (HEAD), ... */
  const char *error_message;
  const char *request_id;
  /* The call that decided the outcome, while it is still at hand (NULL
   * for a multipart failure reported after its abort, say). */
  const struct aws_result *aws;
  /* Objects: PutObject, GetObject, HeadObject, UploadPart and
   * CompleteMultipartUpload. */
  const char *etag;
  long long content_length; /* -1 when unknown */
  const char *content_type;
  const char *last_modified;
  const struct buf *body; /* GetObject to memory */
  long long bytes;        /* GetObject: received; uploads: sent */
  const char *upload_id;  /* CreateMultipartUpload */
  int parts;              /* s3_upload_file: parts sent (0: PutObject) */
  /* ListObjectsV2: one page, or all of them (s3_list_all). */
  const struct s3_object *objects;
  size_t nobjects;
  char *const *prefixes; /* CommonPrefixes */
  size_t nprefixes;
  int truncated;
  const char *next_token;
  int pages;
  /* DeleteObjects: the keys S3 did not delete (the call itself
   * succeeded). */
  const struct s3_delete_error *errors;
  size_t nerrors;
};

struct s3_op;
typedef void (*s3_done_cb)(struct s3_op *op, const struct s3_result *r,
                           void *data);

/* Cancels an operation in flight: its callback runs once with
 * SR_ECANCELED. A multipart upload aborts its upload first. An operation
 * whose callback already ran must not be passed. */
void s3_op_cancel(struct s3_op *op);

/* PutObject from memory (with Content-MD5) or from a file region (len
 * -1: to the end). */
struct s3_put_opts {
  const char *bucket, *key;
  const void *body;
  size_t body_len;
  const char *file;
  long long offset, len;
  const char *content_type; /* NULL: none sent */
};
int s3_put_object(struct aws_client *c, const struct s3_put_opts *o,
                  s3_done_cb cb, void *data, struct s3_op **out);

/* GetObject to memory (file NULL; capped at 64 MiB) or into file
 * (written to file.part and renamed on success), whole or a byte range
 * ("Range: bytes=first-last", inclusive; last -1 for to the end). */
struct s3_get_opts {
  const char *bucket, *key;
  const char *file;
  int has_range;
  long long range_first, range_last;
};
int s3_get_object(struct aws_client *c, const struct s3_get_opts *o,
                  s3_done_cb cb, void *data, struct s3_op **out);

int s3_head_object(struct aws_client *c, const char *bucket, const char *key,
                   s3_done_cb cb, void *data, struct s3_op **out);

/* ListObjectsV2. s3_list_objects returns one page; s3_list_all follows
 * continuation tokens and returns every key (and common prefix) of every
 * page, in order. Keys are asked for URL-encoded and decoded here, as
 * botocore does, so any key survives the XML. */
struct s3_list_opts {
  const char *bucket;
  const char *prefix;    /* may be NULL */
  const char *delimiter; /* may be NULL */
  int max_keys;          /* 0: S3's default (1000) */
  const char *continuation_token;
  const char *start_after;
};
int s3_list_objects(struct aws_client *c, const struct s3_list_opts *o,
                    s3_done_cb cb, void *data, struct s3_op **out);
int s3_list_all(struct aws_client *c, const struct s3_list_opts *o,
                s3_done_cb cb, void *data, struct s3_op **out);

int s3_delete_object(struct aws_client *c, const char *bucket, const char *key,
                     s3_done_cb cb, void *data, struct s3_op **out);

/* DeleteObjects in Quiet mode: 1 to 1000 keys (SR_EINVAL otherwise). */
int s3_delete_objects(struct aws_client *c, const char *bucket,
                      const char *const *keys, size_t nkeys, s3_done_cb cb,
                      void *data, struct s3_op **out);

/* Multipart upload, step by step. Part numbers are 1..10000. */
struct s3_part {
  int number;
  const char *etag;
};
int s3_create_multipart_upload(struct aws_client *c, const char *bucket,
                               const char *key, const char *content_type,
                               s3_done_cb cb, void *data, struct s3_op **out);
int s3_upload_part(struct aws_client *c, const char *bucket, const char *key,
                   const char *upload_id, int part_number, const char *file,
                   long long offset, long long len, s3_done_cb cb, void *data,
                   struct s3_op **out);
int s3_complete_multipart_upload(struct aws_client *c, const char *bucket,
                                 const char *key, const char *upload_id,
                                 const struct s3_part *parts, size_t nparts,
                                 s3_done_cb cb, void *data, struct s3_op **out);
int s3_abort_multipart_upload(struct aws_client *c, const char *bucket,
                              const char *key, const char *upload_id,
                              s3_done_cb cb, void *data, struct s3_op **out);

/* A whole file: one PutObject below part_size, else a multipart upload
 * of part_size parts (grown to stay within 10000 parts) with up to
 * parallel parts in flight, completed with their ETags, and aborted on
 * any failure or cancellation. S3 wants parts of at least 5 MiB but the
 * last; smaller sizes are for tests and local engines. The file must not
 * change during the upload. */
#define S3_DEFAULT_PART_SIZE ((long long)8 << 20)
#define S3_DEFAULT_PARALLEL 4
struct s3_upload_opts {
  const char *bucket, *key;
  const char *path;
  long long part_size; /* 0: S3_DEFAULT_PART_SIZE */
  int parallel;        /* 0: S3_DEFAULT_PARALLEL */
  const char *content_type;
};
int s3_upload_file(struct aws_client *c, const struct s3_upload_opts *o,
                   s3_done_cb cb, void *data, struct s3_op **out);

/* Parses body as S3's answer to operation ("ListObjectsV2",
 * "DeleteObjects", "CreateMultipartUpload" or "CompleteMultipartUpload")
 * with the code a live call runs, and runs cb once with the outcome
 * (error 0, SR_EPARSE or SR_ENOMEM; op NULL; no http_status). It exists
 * so the response parsers can be tested and fuzzed without a server
 * (tests/fuzz/fuzz-s3xml.c). Returns 0, or SR_EINVAL for another
 * operation (cb does not run) or SR_ENOMEM. */
int s3_parse_response(const char *operation, const void *body, size_t len,
                      s3_done_cb cb, void *data);

/* GetObject into path (see s3_get_object). */
int s3_download_file(struct aws_client *c, const char *bucket, const char *key,
                     const char *path, s3_done_cb cb, void *data,
                     struct s3_op **out);

#endif
