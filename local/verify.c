/* SigV4 verification: parse what the client says it signed, rebuild the
 * signature from the request as received with the shared stage
 * functions, compare in constant time. */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/sigv4.h"

#define VERIFY_CAP ((size_t)1 << 20)
#define VERIFY_MAX_HEADERS 64
#define ALGORITHM "AWS4-HMAC-SHA256"
#define MAX_EXPIRES 604800LL

/* What a request claims about its signature. */
struct claim {
  char access_key[128];
  char date8[9];
  char region[64];
  char service[64];
  char signed_headers[2048]; /* "host;x-amz-date" */
  char signature[65];
  char amz_date[17];
  long long expires; /* presigned only */
};

/* The kinds of failure, answered per protocol. */
enum failure {
  F_MISSING,
  F_MALFORMED,
  F_ALGORITHM,
  F_UNKNOWN_KEY,
  F_SIGNATURE,
  F_SKEW,
  F_EXPIRED,
  F_NOT_YET,
  F_SCOPE
};

static int ascii_lower(int c)
{
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int name_eq(const char *a, const char *b)
{
  for (; *a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b);
       a++, b++)
    ;
  return *a == '\0' && *b == '\0';
}

const char *local_verify_header(const struct sigv4_header *headers, size_t n,
                                const char *name)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (name_eq(headers[i].name, name))
      return headers[i].value;
  return NULL;
}

static int fail(const struct local_verify_request *r, struct local_error *err,
                enum failure f, const char *detail)
{
  const char *d = detail ? detail : "";

  if (r->s3) {
    switch (f) {
    case F_MISSING:
      return local_fail(err, 403, "AccessDenied", "Access Denied");
    case F_MALFORMED:
      return local_fail(err, 400,
                        local_verify_kind(r) == LOCAL_AUTH_QUERY
                            ? "AuthorizationQueryParametersError"
                            : "AuthorizationHeaderMalformed",
                        "%s", d);
    case F_ALGORITHM:
      return local_fail(err, 400, "InvalidRequest",
                        "The authorization mechanism you have provided is "
                        "not supported. Please use AWS4-HMAC-SHA256.");
    case F_UNKNOWN_KEY:
      return local_fail(err, 403, "InvalidAccessKeyId",
                        "The AWS Access Key Id you provided does not exist "
                        "in our records.");
    case F_SIGNATURE:
      return local_fail(err, 403, "SignatureDoesNotMatch",
                        "The request signature we calculated does not match "
                        "the signature you provided. Check your key and "
                        "signing method.");
    case F_SKEW:
      return local_fail(err, 403, "RequestTimeTooSkewed",
                        "The difference between the request time and the "
                        "current time is too large.");
    case F_EXPIRED:
      return local_fail(err, 403, "AccessDenied", "Request has expired");
    case F_NOT_YET:
      return local_fail(err, 403, "AccessDenied", "Request is not valid yet");
    case F_SCOPE:
      return local_fail(err, 400, "AuthorizationHeaderMalformed", "%s", d);
    }
  }
  switch (f) {
  case F_MISSING:
    return local_fail(err, 403, "MissingAuthenticationTokenException",
                      "Missing Authentication Token");
  case F_MALFORMED:
  case F_ALGORITHM:
    return local_fail(err, 400, "IncompleteSignatureException", "%s",
                      *d ? d : "Unsupported authorization type");
  case F_UNKNOWN_KEY:
    return local_fail(err, 403, "UnrecognizedClientException",
                      "The security token included in the request is "
                      "invalid.");
  case F_SIGNATURE:
    return local_fail(err, 403, "InvalidSignatureException",
                      "The request signature we calculated does not match "
                      "the signature you provided. Check your AWS Secret "
                      "Access Key and signing method. Consult the service "
                      "documentation for details.");
  case F_SKEW:
  case F_EXPIRED:
  case F_NOT_YET:
    return local_fail(err, 403, "InvalidSignatureException",
                      "Signature expired: %s", d);
  case F_SCOPE:
    return local_fail(err, 403, "InvalidSignatureException", "%s", d);
  }
  return local_fail(err, 500, "InternalFailure", "unexpected failure");
}

int local_verify_fail_anonymous(const struct local_verify_request *r,
                                struct local_error *err)
{
  return fail(r, err, F_MISSING, NULL);
}

/* The raw value of query parameter name (not decoded) and its length;
 * NULL when absent. */
static const char *query_raw(const char *query, const char *name, size_t *len)
{
  size_t n = strlen(name);
  const char *p = query;

  while (p && *p) {
    const char *end = strchr(p, '&');
    size_t plen = end ? (size_t)(end - p) : strlen(p);

    if (plen >= n && strncmp(p, name, n) == 0 && (plen == n || p[n] == '=')) {
      *len = plen > n ? plen - n - 1 : 0;
      return plen > n ? p + n + 1 : p + n;
    }
    p = end ? end + 1 : NULL;
  }
  return NULL;
}

/* Query parameter name percent-decoded into out (size outlen); 0, or -1
 * when absent or too long. */
static int query_get(const char *query, const char *name, char *out,
                     size_t outlen)
{
  size_t len;
  const char *v = query_raw(query, name, &len);
  struct buf b;
  int rc;

  if (v == NULL)
    return -1;
  buf_init(&b, len + 1);
  rc =
      sigv4_uri_decode(&b, v, len, 1) != 0 || buf_len(&b) + 1 > outlen ? -1 : 0;
  if (rc == 0)
    memcpy(out, buf_str(&b), buf_len(&b) + 1);
  buf_free(&b);
  return rc;
}

long long local_verify_parse_time(const char *s)
{
  int v[6], widths[6] = {4, 2, 2, 2, 2, 2}, i, k, pos = 0;
  long long y, m, d, era, yoe, doy, doe, days;

  if (s == NULL || strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z')
    return -1;
  for (i = 0; i < 6; i++) {
    if (i == 3)
      pos++; /* the 'T' */
    v[i] = 0;
    for (k = 0; k < widths[i]; k++, pos++) {
      if (s[pos] < '0' || s[pos] > '9')
        return -1;
      v[i] = v[i] * 10 + (s[pos] - '0');
    }
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 ||
      v[4] > 59 || v[5] > 60)
    return -1;
  /* Days from the civil date (Howard Hinnant's algorithm): no timegm in
   * POSIX. */
  y = v[0] - (v[1] <= 2);
  m = v[1];
  d = v[2];
  era = y / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  days = era * 146097 + doe - 719468;
  return days * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
}

enum local_auth local_verify_kind(const struct local_verify_request *r)
{
  size_t len;

  if (local_verify_header(r->headers, r->nheaders, "authorization"))
    return LOCAL_AUTH_HEADER;
  /* SigV2's AWSAccessKeyId counts too: refused as the wrong mechanism
   * rather than taken for an anonymous request. */
  if (r->query && (query_raw(r->query, "X-Amz-Signature", &len) ||
                   query_raw(r->query, "AWSAccessKeyId", &len)))
    return LOCAL_AUTH_QUERY;
  return LOCAL_AUTH_NONE;
}

const char *local_verify_declared_hash(const struct local_verify_request *r)
{
  const char *h =
      local_verify_header(r->headers, r->nheaders, "x-amz-content-sha256");

  if (h)
    return h;
  if (r->s3 && local_verify_kind(r) == LOCAL_AUTH_QUERY)
    return "UNSIGNED-PAYLOAD";
  return NULL;
}

/* Splits "AKID/20150830/us-east-1/s3/aws4_request" into c. */
static int parse_credential(const char *cred, struct claim *c)
{
  const char *parts[5];
  size_t lens[5];
  const char *p = cred;
  int i;

  for (i = 0; i < 5; i++) {
    const char *slash = i < 4 ? strchr(p, '/') : p + strlen(p);

    if (slash == NULL)
      return -1;
    parts[i] = p;
    lens[i] = (size_t)(slash - p);
    p = slash + 1;
  }
  if (lens[0] == 0 || lens[0] >= sizeof(c->access_key) || lens[1] != 8 ||
      lens[2] == 0 || lens[2] >= sizeof(c->region) || lens[3] == 0 ||
      lens[3] >= sizeof(c->service) || lens[4] != 12 ||
      strncmp(parts[4], "aws4_request", 12) != 0)
    return -1;
  memcpy(c->access_key, parts[0], lens[0]);
  c->access_key[lens[0]] = '\0';
  memcpy(c->date8, parts[1], 8);
  c->date8[8] = '\0';
  memcpy(c->region, parts[2], lens[2]);
  c->region[lens[2]] = '\0';
  memcpy(c->service, parts[3], lens[3]);
  c->service[lens[3]] = '\0';
  return 0;
}

/* Copies the value of "Name=value" (up to ',' or the end) from an
 * Authorization header into out; -1 when absent or too long. */
static int auth_field(const char *auth, const char *name, char *out,
                      size_t outlen)
{
  size_t n = strlen(name), len;
  const char *p = auth;

  for (;;) {
    while (*p == ' ' || *p == ',')
      p++;
    if (*p == '\0')
      return -1;
    len = strcspn(p, ",");
    if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
      size_t vlen = len - n - 1;

      while (vlen > 0 && p[n + vlen] == ' ')
        vlen--;
      if (vlen >= outlen)
        return -1;
      memcpy(out, p + n + 1, vlen);
      out[vlen] = '\0';
      return 0;
    }
    p += len;
  }
}

static int parse_header_auth(const struct local_verify_request *r,
                             struct claim *c, struct local_error *err)
{
  const char *auth =
      local_verify_header(r->headers, r->nheaders, "authorization");
  const char *date = local_verify_header(r->headers, r->nheaders, "x-amz-date");
  char cred[512];

  if (strncmp(auth, ALGORITHM " ", sizeof(ALGORITHM)) != 0)
    return fail(r, err, F_ALGORITHM, NULL);
  auth += sizeof(ALGORITHM);
  if (auth_field(auth, "Credential", cred, sizeof(cred)) != 0 ||
      parse_credential(cred, c) != 0)
    return fail(r, err, F_MALFORMED,
                "The authorization header is malformed; the Credential is "
                "mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/REGION/"
                "SERVICE/aws4_request\".");
  if (auth_field(auth, "SignedHeaders", c->signed_headers,
                 sizeof(c->signed_headers)) != 0 ||
      auth_field(auth, "Signature", c->signature, sizeof(c->signature)) != 0 ||
      strlen(c->signature) != 64)
    return fail(r, err, F_MALFORMED,
                "The authorization header is malformed; it needs "
                "Credential, SignedHeaders and Signature.");
  if (date == NULL || local_verify_parse_time(date) < 0)
    return fail(r, err, F_MALFORMED,
                "AWS authentication requires a valid Date or x-amz-date "
                "header");
  snprintf(c->amz_date, sizeof(c->amz_date), "%s", date);
  return 0;
}

static int parse_query_auth(const struct local_verify_request *r,
                            struct claim *c, struct local_error *err)
{
  char alg[64], cred[512], expires[32], *end;
  size_t len;

  if (!query_raw(r->query, "X-Amz-Signature", &len))
    return fail(r, err, F_ALGORITHM, NULL);
  if (query_get(r->query, "X-Amz-Algorithm", alg, sizeof(alg)) != 0 ||
      strcmp(alg, ALGORITHM) != 0)
    return fail(r, err, F_MALFORMED,
                "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"");
  if (query_get(r->query, "X-Amz-Credential", cred, sizeof(cred)) != 0 ||
      parse_credential(cred, c) != 0)
    return fail(r, err, F_MALFORMED,
                "Error parsing the X-Amz-Credential parameter; the "
                "Credential is mal-formed; expecting \"<YOUR-AKID>/YYYYMMDD/"
                "REGION/SERVICE/aws4_request\".");
  if (query_get(r->query, "X-Amz-Date", c->amz_date, sizeof(c->amz_date)) !=
          0 ||
      local_verify_parse_time(c->amz_date) < 0)
    return fail(r, err, F_MALFORMED,
                "X-Amz-Date must be in the ISO8601 Long Format "
                "\"yyyyMMdd'T'HHmmss'Z'\"");
  if (query_get(r->query, "X-Amz-Expires", expires, sizeof(expires)) != 0 ||
      expires[0] < '0' || expires[0] > '9')
    return fail(r, err, F_MALFORMED, "X-Amz-Expires should be a number");
  c->expires = strtoll(expires, &end, 10);
  if (*end != '\0' || c->expires > MAX_EXPIRES)
    return fail(r, err, F_MALFORMED,
                "X-Amz-Expires must be less than a week (in seconds) that "
                "is 604800");
  if (query_get(r->query, "X-Amz-SignedHeaders", c->signed_headers,
                sizeof(c->signed_headers)) != 0 ||
      query_get(r->query, "X-Amz-Signature", c->signature,
                sizeof(c->signature)) != 0 ||
      strlen(c->signature) != 64)
    return fail(r, err, F_MALFORMED,
                "Query-string authentication version 4 requires the "
                "X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
                "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires "
                "parameters.");
  return 0;
}

/* Whether name (lowercase) is one of the ';'-separated signed names. */
static int is_signed(const char *list, const char *name)
{
  size_t n = strlen(name);
  const char *p = list;

  while (*p) {
    size_t len = strcspn(p, ";");
    size_t i;

    if (len == n) {
      for (i = 0; i < n && ascii_lower((unsigned char)p[i]) ==
                               ascii_lower((unsigned char)name[i]);
           i++)
        ;
      if (i == n)
        return 1;
    }
    p += len;
    if (*p == ';')
      p++;
  }
  return 0;
}

/* The raw query without its X-Amz-Signature piece, into out. */
static int query_without_signature(const char *query, struct buf *out)
{
  const char *p = query;
  int rc = 0, first = 1;

  while (p && *p && rc == 0) {
    const char *end = strchr(p, '&');
    size_t len = end ? (size_t)(end - p) : strlen(p);

    if (!(len >= 15 && strncmp(p, "X-Amz-Signature", 15) == 0 &&
          (len == 15 || p[15] == '='))) {
      if (!first)
        rc = buf_addc(out, '&');
      if (rc == 0)
        rc = buf_add(out, p, len);
      first = 0;
    }
    p = end ? end + 1 : NULL;
  }
  return rc;
}

static void format_amz(long long t, char out[17])
{
  sigv4_format_time((time_t)t, out);
}

int local_verify(const struct local_verify_request *r,
                 const struct local_credentials *c, const char *payload_hash,
                 struct local_error *err)
{
  enum local_auth kind = local_verify_kind(r);
  struct sigv4_header signed_list[VERIFY_MAX_HEADERS];
  struct sigv4_request req;
  struct sigv4_params p;
  struct buf canon, names, sts, sig, query, scope;
  struct claim claim;
  char detail[256];
  long long t, now = (long long)r->now;
  size_t i, n = 0;
  int rc = -1, src;

  memset(&claim, 0, sizeof(claim));
  buf_init(&canon, VERIFY_CAP);
  buf_init(&names, VERIFY_CAP);
  buf_init(&sts, VERIFY_CAP);
  buf_init(&sig, VERIFY_CAP);
  buf_init(&query, VERIFY_CAP);
  buf_init(&scope, VERIFY_CAP);
  if (kind == LOCAL_AUTH_NONE) {
    fail(r, err, F_MISSING, NULL);
    goto out;
  }
  if ((kind == LOCAL_AUTH_HEADER ? parse_header_auth(r, &claim, err)
                                 : parse_query_auth(r, &claim, err)) != 0)
    goto out;
  if (strncmp(claim.amz_date, claim.date8, 8) != 0) {
    fail(r, err, F_MALFORMED,
         "The authorization header is malformed; the credential date does "
         "not match the request date.");
    goto out;
  }
  if (strcmp(claim.service, r->service) != 0) {
    snprintf(detail, sizeof(detail),
             "Credential should be scoped to correct service: '%s'.",
             r->service);
    fail(r, err, F_SCOPE, detail);
    goto out;
  }
  if (strcmp(claim.access_key, c->access_key_id) != 0) {
    fail(r, err, F_UNKNOWN_KEY, NULL);
    goto out;
  }
  /* The time is checked before the signature, as AWS does. */
  t = local_verify_parse_time(claim.amz_date);
  if (kind == LOCAL_AUTH_HEADER &&
      (t < now - LOCAL_VERIFY_MAX_SKEW || t > now + LOCAL_VERIFY_MAX_SKEW)) {
    char a[17], b[17];

    format_amz(now - LOCAL_VERIFY_MAX_SKEW, a);
    format_amz(now, b);
    snprintf(detail, sizeof(detail), "%s is now earlier than %s (%s - 15 min.)",
             claim.amz_date, a, b);
    fail(r, err, F_SKEW, detail);
    goto out;
  }
  if (kind == LOCAL_AUTH_QUERY && now > t + claim.expires) {
    fail(r, err, F_EXPIRED, claim.amz_date);
    goto out;
  }
  if (kind == LOCAL_AUTH_QUERY && t > now + LOCAL_VERIFY_MAX_SKEW) {
    fail(r, err, F_NOT_YET, claim.amz_date);
    goto out;
  }
  /* Headers that decide how the request is read must be signed: the
   * host, and the date and payload hash when sent as headers. */
  if (!is_signed(claim.signed_headers, "host") ||
      (kind == LOCAL_AUTH_HEADER &&
       !is_signed(claim.signed_headers, "x-amz-date")) ||
      (local_verify_header(r->headers, r->nheaders, "x-amz-content-sha256") &&
       !is_signed(claim.signed_headers, "x-amz-content-sha256"))) {
    fail(r, err, F_SIGNATURE, NULL);
    goto out;
  }
  for (i = 0; i < r->nheaders; i++) {
    if (!is_signed(claim.signed_headers, r->headers[i].name))
      continue;
    if (n == VERIFY_MAX_HEADERS) {
      fail(r, err, F_MALFORMED, "Too many signed headers.");
      goto out;
    }
    signed_list[n++] = r->headers[i];
  }
  if (kind == LOCAL_AUTH_QUERY) {
    if (query_without_signature(r->query, &query) != 0) {
      local_fail(err, 500, r->s3 ? "InternalError" : "InternalFailure",
                 "out of memory");
      goto out;
    }
  }
  memset(&req, 0, sizeof(req));
  req.method = r->method;
  req.path = r->path;
  req.query = kind == LOCAL_AUTH_QUERY ? buf_str(&query) : r->query;
  req.headers = signed_list;
  req.nheaders = n;
  req.payload_hash = payload_hash;
  memset(&p, 0, sizeof(p));
  p.region = claim.region;
  p.service = claim.service;
  p.s3 = r->s3;
  src = sigv4_canonical_request(&req, &p, NULL, &canon, &names);
  if (src == 0)
    src = buf_addf(&scope, "%s/%s/%s/aws4_request", claim.date8, claim.region,
                   claim.service);
  if (src == 0)
    src = sigv4_string_to_sign(claim.amz_date, buf_str(&scope), buf_str(&canon),
                               &sts);
  if (src == 0)
    src = sigv4_signature(c->secret_access_key, claim.date8, claim.region,
                          claim.service, buf_str(&sts), &sig);
  if (src == SR_EINVAL) {
    fail(r, err, F_SIGNATURE, NULL);
    goto out;
  }
  if (src) {
    local_fail(err, 500, r->s3 ? "InternalError" : "InternalFailure", "%s",
               sr_strerror(src));
    goto out;
  }
  /* Every header the client named must be there, and nothing more. */
  if (strcmp(buf_str(&names), claim.signed_headers) != 0 ||
      buf_len(&sig) != 64 ||
      CRYPTO_memcmp(buf_str(&sig), claim.signature, 64) != 0) {
    fail(r, err, F_SIGNATURE, NULL);
    goto out;
  }
  rc = 0;
out:
  OPENSSL_cleanse(claim.signature, sizeof(claim.signature));
  buf_free(&canon);
  buf_free(&names);
  buf_free(&sts);
  buf_free(&sig);
  buf_free(&query);
  buf_free(&scope);
  return rc;
}
