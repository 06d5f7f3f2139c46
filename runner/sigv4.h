/* AWS Signature Version 4, pure and synchronous, in stages (canonical
 * request, string to sign, signature), as aws-c-auth lays it out. The
 * clock and the credentials are inputs: nothing here reads the time, the
 * environment or the network.
 *
 * Rules follow botocore's SigV4Auth / S3SigV4Auth (see
 * shared/reference/aws-spec.md §6): non-S3 services normalise the path
 * (dot segments, duplicate slashes) and encode it twice; S3 encodes it
 * once and does not normalise. */
#ifndef SAGERUN_SIGV4_H
#define SAGERUN_SIGV4_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"

struct sigv4_credentials {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token; /* NULL or "" when none */
};

struct sigv4_header {
  const char *name; /* any case; repeated names are joined with "," */
  const char *value;
};

/* A request as it will be sent. path is the raw path as it goes on the
 * wire (already percent-encoded where the wire needs it, e.g.
 * "/bucket/my%20key"); query is the raw query string without "?" (may be
 * NULL or ""), as sent. */
struct sigv4_request {
  const char *method;
  const char *path;
  const char *query;
  const struct sigv4_header *headers; /* must include Host */
  size_t nheaders;
  /* The payload hash, lowercase hex SHA-256 of the body, or a literal
   * such as "UNSIGNED-PAYLOAD". sigv4_payload_hash* compute it. */
  const char *payload_hash;
};

struct sigv4_params {
  const char *region;  /* "us-east-1" */
  const char *service; /* signing name: "s3", "sagemaker", "logs" */
  time_t now;          /* signing time, UTC seconds */
  int s3;              /* S3 rules: encode the path once, no normalising */
  /* Add X-Amz-Content-Sha256 (S3 requires it): 1 for header signing. */
  int content_sha256_header;
  const struct sigv4_credentials *credentials;
};

/* What signing produced. All are NUL-terminated and owned by the struct
 * (sigv4_result_free). headers_to_add are the headers the caller must
 * send in addition to its own (X-Amz-Date, X-Amz-Security-Token,
 * X-Amz-Content-Sha256, Authorization), in that order. */
struct sigv4_result {
  struct buf canonical_request;
  struct buf string_to_sign;
  struct buf signature;     /* lowercase hex */
  struct buf authorization; /* the Authorization header value */
  struct buf signed_headers;
  struct buf credential_scope;
  struct buf amz_date; /* YYYYMMDDTHHMMSSZ */
  struct sigv4_header headers_to_add[4];
  size_t nheaders_to_add;
  /* Presigning: the full query string to send instead of req->query. */
  struct buf presigned_query;
};

void sigv4_result_init(struct sigv4_result *r);
void sigv4_result_free(struct sigv4_result *r);

/* Signs with the Authorization header. Returns 0 or a negative SR_ code
 * (SR_EINVAL for a request without Host or without credentials). */
int sigv4_sign_header(const struct sigv4_request *req,
                      const struct sigv4_params *p, struct sigv4_result *r);

/* Presigns into the query (X-Amz-Algorithm, -Credential, -Date, -Expires,
 * -SignedHeaders, -Security-Token, -Signature). expires in seconds
 * (1..604800). Only Host is signed unless the request has more headers.
 * The payload hash for presigned S3 URLs is "UNSIGNED-PAYLOAD". */
int sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *p,
                  long expires, struct sigv4_result *r);

/* The stages, for tests and for the verifier in the local engine. */
int sigv4_canonical_request(const struct sigv4_request *req,
                            const struct sigv4_params *p, const char *amz_date,
                            struct buf *out, struct buf *signed_headers);
int sigv4_string_to_sign(const char *amz_date, const char *scope,
                         const char *canonical_request, struct buf *out);
int sigv4_signature(const char *secret, const char *date8, const char *region,
                    const char *service, const char *string_to_sign,
                    struct buf *hex_out);

/* "20150830T123600Z" for t. out must hold 17 bytes. */
void sigv4_format_time(time_t t, char out[17]);

/* Lowercase hex SHA-256 of data (out: 65 bytes). */
void sigv4_payload_hash(const void *data, size_t len, char out[65]);
/* The same, streaming a file from its current position to EOF and back;
 * returns 0 or SR_EIO. */
int sigv4_payload_hash_file(FILE *f, char out[65]);

/* Percent-decoding, the other way: %XX decoded (malformed escapes stay
 * literal), and '+' as a space when plus (query strings, as Python's
 * unquote_plus). Appends to out (which may then hold NUL bytes); returns
 * 0 or the buf error. */
int sigv4_uri_decode(struct buf *out, const char *s, size_t len, int plus);

/* Percent-encoding with AWS's unreserved set (A-Z a-z 0-9 - _ . ~);
 * keep_slash leaves '/' as is (paths). Appends to out. */
int sigv4_uri_encode(struct buf *out, const char *s, size_t len,
                     int keep_slash);

#endif
