/* SigV4 verification of the requests the local engine receives, header
 * (Authorization) and presigned (X-Amz-* query) forms. It rebuilds the
 * canonical request, string to sign and signature with runner/sigv4.h's
 * stage functions, so signing and verifying share one implementation.
 *
 * Failures are answered as each service answers them: S3 with its codes
 * (SignatureDoesNotMatch, RequestTimeTooSkewed, AccessDenied "Request has
 * expired", InvalidAccessKeyId ...), the JSON services with theirs
 * (InvalidSignatureException, UnrecognizedClientException,
 * MissingAuthenticationTokenException ...). */
#ifndef SAGERUN_LOCAL_VERIFY_H
#define SAGERUN_LOCAL_VERIFY_H

#include <stddef.h>

#include "../runner/sigv4.h"
#include "credentials.h"
#include "engine.h"

/* Requests whose time is further than this from the engine's clock are
 * refused (S3's and the JSON services' window). */
#define LOCAL_VERIFY_MAX_SKEW 900

enum local_auth {
  LOCAL_AUTH_NONE,   /* neither Authorization nor X-Amz-Signature */
  LOCAL_AUTH_HEADER, /* Authorization: AWS4-HMAC-SHA256 ... */
  LOCAL_AUTH_QUERY   /* presigned URL */
};

/* A request as received. path and query are the raw wire forms (query
 * without '?', "" when none); headers as received, any case. */
struct local_verify_request {
  const char *method;
  const char *path;
  const char *query;
  const struct sigv4_header *headers;
  size_t nheaders;
  int s3;              /* S3 signing rules and S3 error codes */
  const char *service; /* signing name the route requires: "s3" ... */
  double now;          /* the engine's clock, seconds since the epoch */
};

/* The value of the first header called name (any case), or NULL. */
const char *local_verify_header(const struct sigv4_header *headers, size_t n,
                                const char *name);

enum local_auth local_verify_kind(const struct local_verify_request *r);

/* The payload hash the signature covers, when it is known before the
 * body arrives: the X-Amz-Content-Sha256 header, else UNSIGNED-PAYLOAD
 * for a presigned S3 URL. NULL means the SHA-256 of the body (the JSON
 * services). */
const char *local_verify_declared_hash(const struct local_verify_request *r);

/* Verifies r's signature against c, with payload_hash the declared hash
 * or the body's. Returns 0, or -1 with err filled as the service would
 * answer (LOCAL_AUTH_NONE too is an error here: whether an anonymous
 * request may pass is the caller's decision). */
int local_verify(const struct local_verify_request *r,
                 const struct local_credentials *c, const char *payload_hash,
                 struct local_error *err);

/* The error an anonymous request gets where it is not allowed. */
int local_verify_fail_anonymous(const struct local_verify_request *r,
                                struct local_error *err);

/* Seconds since the epoch for "YYYYMMDDTHHMMSSZ", or -1 when malformed. */
long long local_verify_parse_time(const char *amz_date);

#endif
