/* S3's REST API (rest-xml) over the object store: the routes, their
 * parameters and S3's answers and error XML.
 *
 * Addressing: path-style (/BUCKET/KEY) always; virtual-host style when
 * the Host header names a bucket: BUCKET.localhost[:PORT] or
 * BUCKET.s3.localhost[:PORT] (any *.localhost name resolves to loopback,
 * RFC 6761). Host names that are IP addresses or plain "localhost" mean
 * path-style. */
#ifndef SAGERUN_LOCAL_S3API_H
#define SAGERUN_LOCAL_S3API_H

#include <stddef.h>

#include "engine.h"
#include "server.h"

enum s3api_op {
  S3API_BAD, /* not a valid request: rt->error says why */
  S3API_LIST_BUCKETS,
  S3API_CREATE_BUCKET,
  S3API_HEAD_BUCKET,
  S3API_DELETE_BUCKET,
  S3API_LIST_OBJECTS,    /* V1 */
  S3API_LIST_OBJECTS_V2, /* list-type=2 */
  S3API_GET_BUCKET_LOCATION,
  S3API_DELETE_OBJECTS,
  S3API_PUT_OBJECT,
  S3API_COPY_OBJECT,
  S3API_GET_OBJECT,
  S3API_HEAD_OBJECT,
  S3API_DELETE_OBJECT,
  S3API_CREATE_MULTIPART,
  S3API_UPLOAD_PART,
  S3API_COMPLETE_MULTIPART,
  S3API_ABORT_MULTIPART,
  S3API_LIST_PARTS
};

/* A decoded query parameter; value is "" for a bare name. */
struct s3api_param {
  char *name;
  char *value;
};

struct s3api_route {
  enum s3api_op op;
  char *bucket; /* NULL at the service level */
  char *key;    /* decoded; NULL at the bucket level */
  struct s3api_param *params;
  size_t nparams;
  struct local_error error; /* for S3API_BAD */
};

/* Works out which operation r is (from method, Host, path and query)
 * without touching the store. Returns 0 (with rt->op S3API_BAD for an
 * invalid request) or SR_ENOMEM. Free with s3api_route_free. */
int s3api_route_parse(const struct local_request *r, struct s3api_route *rt);
void s3api_route_free(struct s3api_route *rt);

/* The operation's name, for logs: "PutObject" ... */
const char *s3api_op_name(enum s3api_op op);
/* Whether an anonymous client may do it on a public bucket (GET, HEAD
 * and List). */
int s3api_op_is_read(enum s3api_op op);
/* Whether the body goes straight into the object store (PutObject,
 * UploadPart) rather than into memory. */
int s3api_op_body_to_store(enum s3api_op op);
/* The decoded value of query parameter name, or NULL. */
const char *s3api_param(const struct s3api_route *rt, const char *name);

/* Runs the operation; resp gets S3's answer or error. */
void s3api_handle(struct local_request *r, const struct s3api_route *rt,
                  struct local_response *resp);

/* S3's error answer: status, the error XML (Code, Message, the optional
 * extra element tag/value such as Key, RequestId, HostId) and the
 * x-amz-request-id and x-amz-id-2 headers. */
void s3api_error(struct local_response *resp, const struct local_error *err,
                 const char *request_id, const char *tag, const char *value);

/* Parses a Range header against an object of size bytes. Returns 1 with
 * [*first, *last] for a satisfiable single range, 0 when the header is
 * to be ignored (absent, malformed, several ranges: the whole object is
 * sent), -1 when it is not satisfiable (416 InvalidRange). */
int s3api_parse_range(const char *header, long long size, long long *first,
                      long long *last);

#endif
