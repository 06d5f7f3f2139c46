/* AWS Signature Version 4, in the stages aws-c-auth uses: canonical
 * request, string to sign, signature. The rules are botocore's
 * (botocore/auth.py: SigV4Auth, S3SigV4Auth, SigV4QueryAuth,
 * S3SigV4QueryAuth); tests/test-sigv4.c checks them byte for byte against
 * botocore itself and against the aws-c-auth v4 suite.
 *
 * Where botocore takes the wire form verbatim (the S3 path, the query for
 * header signing), bytes that cannot stand unencoded in a request target
 * (space, controls, non-ASCII, a '%' that starts no escape) are encoded
 * first: botocore never sends those, and the suite expects them encoded.
 * For anything legal on the wire the result is botocore's. */
#include "sigv4.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "error.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_EMPTY_SHA256                                                     \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
#define SIGV4_MAX_EXPIRES 604800L
/* Requests are small; a cap keeps a runaway header or query from eating
 * memory. */
#define SIGV4_CAP ((size_t)1 << 20)

/* Never signed: hop-by-hop headers a proxy may change, and headers
 * clients rewrite. This is aws-spec.md §6's list, botocore's current
 * SIGNED_HEADERS_BLACKLIST; Debian 12's botocore 1.29 leaves out only
 * expect, user-agent and x-amzn-trace-id, and would sign the others. */
static const char *const unsigned_headers[] = {"connection",
                                               "expect",
                                               "keep-alive",
                                               "proxy-authenticate",
                                               "proxy-authorization",
                                               "te",
                                               "trailer",
                                               "transfer-encoding",
                                               "upgrade",
                                               "user-agent",
                                               "x-amzn-trace-id",
                                               NULL};

static const char hex_digits[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF";

/* A header as collected for signing: name compared without case, order
 * the position among the request's headers so that repeated headers keep
 * their order after sorting. */
struct hdr {
  const char *name;
  const char *value;
  size_t order;
};

/* A query parameter, pointing into a store buffer. */
struct qparam {
  const char *key;
  size_t key_len;
  const char *value;
  size_t value_len;
};

static int ascii_lower(int c)
{
  return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int is_alnum(unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9');
}

static int is_unreserved(unsigned char c)
{
  return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static int hex_value(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* What Python's str.split() takes for whitespace among ASCII characters
 * (botocore trims header values with ' '.join(value.split())). */
static int is_py_space(unsigned char c)
{
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* An RFC 9110 token: header names and methods. */
static int is_token(const char *s)
{
  if (s == NULL || *s == '\0')
    return 0;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (!is_alnum(c) && strchr("!#$%&'*+-.^_`|~", c) == NULL)
      return 0;
  }
  return 1;
}

/* Text that goes into a header or a line of the canonical request must
 * not carry a line break. */
static int has_line_break(const char *s)
{
  return strpbrk(s, "\r\n") != NULL;
}

/* A scope part (region, service): non-empty, no '/', no space or
 * control. */
static int is_scope_part(const char *s)
{
  if (s == NULL || *s == '\0')
    return 0;
  for (; *s; s++)
    if (*s == '/' || (unsigned char)*s <= ' ' || *s == 0x7f)
      return 0;
  return 1;
}

static void hex_encode(const unsigned char *in, size_t len, char *out)
{
  size_t i;

  for (i = 0; i < len; i++) {
    out[2 * i] = hex_digits[in[i] >> 4];
    out[2 * i + 1] = hex_digits[in[i] & 15];
  }
  out[2 * len] = '\0';
}

static int add_escape(struct buf *out, unsigned char c)
{
  char esc[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};

  return buf_add(out, esc, 3);
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t len, int keep_slash)
{
  size_t i, run = 0;
  int rc;

  if (len == 0)
    return 0;
  /* Copies runs of safe bytes in one go. */
  for (i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];

    if (is_unreserved(c) || (keep_slash && c == '/'))
      continue;
    rc = buf_add(out, s + run, i - run);
    if (rc == 0)
      rc = add_escape(out, c);
    if (rc)
      return rc;
    run = i + 1;
  }
  return buf_add(out, s + run, len - run);
}

/* Bytes that may stand unencoded in a request target besides the
 * unreserved ones: RFC 3986 sub-delims, ':', '@', '/', and in a query
 * '?'. */
static int is_wire_char(unsigned char c, int in_query)
{
  if (is_unreserved(c))
    return 1;
  switch (c) {
  case '!':
  case '$':
  case '&':
  case '\'':
  case '(':
  case ')':
  case '*':
  case '+':
  case ',':
  case ';':
  case '=':
  case ':':
  case '@':
  case '/':
    return 1;
  case '?':
    return in_query;
  default:
    return 0;
  }
}

/* Appends s as it is on the wire, already encoded once: valid escapes and
 * legal characters stay as they are (botocore signs them verbatim), bytes
 * that cannot be on the wire are escaped. */
static int encode_once(struct buf *out, const char *s, size_t len, int in_query)
{
  size_t i;
  int rc = 0;

  for (i = 0; i < len && rc == 0; i++) {
    unsigned char c = (unsigned char)s[i];

    if (c == '%' && i + 2 < len && hex_value((unsigned char)s[i + 1]) >= 0 &&
        hex_value((unsigned char)s[i + 2]) >= 0) {
      rc = buf_add(out, s + i, 3);
      i += 2;
    } else if (is_wire_char(c, in_query)) {
      rc = buf_addc(out, (char)c);
    } else {
      rc = add_escape(out, c);
    }
  }
  return rc;
}

int sigv4_uri_decode(struct buf *out, const char *s, size_t len, int plus)
{
  size_t i;
  int rc = 0;

  for (i = 0; i < len && rc == 0; i++) {
    unsigned char c = (unsigned char)s[i];
    int hi, lo;

    if (plus && c == '+') {
      rc = buf_addc(out, ' ');
      continue;
    }
    hi = c == '%' && i + 2 < len ? hex_value((unsigned char)s[i + 1]) : -1;
    lo = hi >= 0 ? hex_value((unsigned char)s[i + 2]) : -1;
    if (lo >= 0) {
      rc = buf_addc(out, (char)(hi << 4 | lo));
      i += 2;
    } else {
      rc = buf_addc(out, (char)c);
    }
  }
  return rc;
}

/* The canonical URI. Non-S3: botocore's normalize_url_path (RFC 3986 dot
 * segments, duplicate slashes collapsed, a trailing slash kept), then
 * every byte outside the unreserved set and '/' encoded, so an encoded
 * path is encoded twice. S3: the path as sent, encoded once. */
static int canonical_uri(struct buf *out, const char *path, int s3)
{
  struct buf segs;
  size_t *marks = NULL, nmarks = 0, len, i, start;
  int rc;

  if (path == NULL || *path == '\0')
    return buf_addc(out, '/');
  len = strlen(path);
  if (s3)
    return encode_once(out, path, len, 0);

  buf_init(&segs, SIGV4_CAP);
  /* marks[k] is the length of segs before segment k was added, so ".."
   * drops the last segment by truncating to it. */
  for (i = 0, nmarks = 1; i < len; i++)
    nmarks += path[i] == '/';
  marks = malloc(nmarks * sizeof(*marks));
  if (marks == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  nmarks = 0;
  rc = 0;
  for (start = 0; start <= len && rc == 0; start = i + 1) {
    const char *seg = path + start;
    size_t seglen;

    for (i = start; i < len && path[i] != '/'; i++)
      ;
    seglen = i - start;
    if (seglen == 0 || (seglen == 1 && seg[0] == '.'))
      continue;
    if (seglen == 2 && seg[0] == '.' && seg[1] == '.') {
      if (nmarks > 0)
        buf_truncate(&segs, marks[--nmarks]);
      continue;
    }
    marks[nmarks] = buf_len(&segs);
    if (nmarks++ > 0)
      rc = buf_addc(&segs, '/');
    if (rc == 0)
      rc = buf_add(&segs, seg, seglen);
  }
  if (rc == 0 && path[0] == '/')
    rc = buf_addc(out, '/');
  if (rc == 0)
    rc = sigv4_uri_encode(out, buf_str(&segs), buf_len(&segs), 1);
  if (rc == 0 && path[len - 1] == '/' && nmarks > 0)
    rc = buf_addc(out, '/');
out:
  free(marks);
  buf_free(&segs);
  return rc;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
  size_t n = alen < blen ? alen : blen;
  int c = n ? memcmp(a, b, n) : 0;

  if (c)
    return c;
  return (alen > blen) - (alen < blen);
}

static int qparam_cmp(const void *pa, const void *pb)
{
  const struct qparam *a = pa, *b = pb;
  int c = bytes_cmp(a->key, a->key_len, b->key, b->key_len);

  return c ? c : bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

/* The canonical query string, as botocore's _canonical_query_string_url
 * builds it from the URL: every '&'-separated piece (empty ones too) split
 * at its first '=', sorted by key then value, joined again. Each key and
 * value is taken as sent (encoded once). */
static int canonical_query(struct buf *out, const char *query)
{
  struct buf store;
  struct qparam *params = NULL;
  size_t *offs = NULL, n = 1, i, k, len;
  const char *p;
  int rc = 0;

  if (query == NULL || *query == '\0')
    return 0;
  len = strlen(query);
  for (i = 0; i < len; i++)
    n += query[i] == '&';
  buf_init(&store, SIGV4_CAP);
  params = calloc(n, sizeof(*params));
  offs = calloc(2 * n, sizeof(*offs));
  if (params == NULL || offs == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  /* Encode into store first and record offsets: store moves as it
   * grows, so pointers are taken only once it is complete. */
  for (p = query, k = 0; k < n && rc == 0; k++) {
    const char *end = strchr(p, '&'), *eq;

    if (end == NULL)
      end = query + len;
    eq = memchr(p, '=', (size_t)(end - p));
    offs[2 * k] = buf_len(&store);
    rc = encode_once(&store, p, (size_t)((eq ? eq : end) - p), 1);
    offs[2 * k + 1] = buf_len(&store);
    if (rc == 0 && eq)
      rc = encode_once(&store, eq + 1, (size_t)(end - eq - 1), 1);
    p = end + 1;
  }
  if (rc)
    goto out;
  for (k = 0; k < n; k++) {
    size_t vend = k + 1 < n ? offs[2 * (k + 1)] : buf_len(&store);

    params[k].key = buf_str(&store) + offs[2 * k];
    params[k].key_len = offs[2 * k + 1] - offs[2 * k];
    params[k].value = buf_str(&store) + offs[2 * k + 1];
    params[k].value_len = vend - offs[2 * k + 1];
  }
  qsort(params, n, sizeof(*params), qparam_cmp);
  for (k = 0; k < n && rc == 0; k++) {
    if (k > 0)
      rc = buf_addc(out, '&');
    if (rc == 0)
      rc = buf_add(out, params[k].key, params[k].key_len);
    if (rc == 0)
      rc = buf_addc(out, '=');
    if (rc == 0)
      rc = buf_add(out, params[k].value, params[k].value_len);
  }
out:
  free(params);
  free(offs);
  buf_free(&store);
  return rc;
}

/* The caller's query re-encoded for a presigned URL, as SigV4QueryAuth
 * does with parse_qs(keep_blank_values=True) and percent_encode_sequence:
 * empty pieces dropped, '+' and escapes decoded, then keys and values
 * encoded with the unreserved set. Each pair is followed by '&'. Unlike
 * botocore, a repeated key keeps all its values (botocore keeps the
 * first), and decoded bytes are not checked to be UTF-8. */
static int presign_operation_params(struct buf *out, const char *query)
{
  struct buf tmp;
  const char *p = query;
  int rc = 0;

  if (query == NULL)
    return 0;
  buf_init(&tmp, SIGV4_CAP);
  while (*p && rc == 0) {
    const char *end = strchr(p, '&'), *eq;

    if (end == NULL)
      end = p + strlen(p);
    if (end > p) {
      eq = memchr(p, '=', (size_t)(end - p));
      buf_reset(&tmp);
      rc = sigv4_uri_decode(&tmp, p, (size_t)((eq ? eq : end) - p), 1);
      if (rc == 0)
        rc = sigv4_uri_encode(out, buf_str(&tmp), buf_len(&tmp), 0);
      if (rc == 0)
        rc = buf_addc(out, '=');
      buf_reset(&tmp);
      if (rc == 0 && eq)
        rc = sigv4_uri_decode(&tmp, eq + 1, (size_t)(end - eq - 1), 1);
      if (rc == 0)
        rc = sigv4_uri_encode(out, buf_str(&tmp), buf_len(&tmp), 0);
      if (rc == 0)
        rc = buf_addc(out, '&');
    }
    if (*end == '\0')
      break;
    p = end + 1;
  }
  buf_free(&tmp);
  return rc;
}

static int name_cmp(const char *a, const char *b)
{
  for (; *a && ascii_lower((unsigned char)*a) == ascii_lower((unsigned char)*b);
       a++, b++)
    ;
  return ascii_lower((unsigned char)*a) - ascii_lower((unsigned char)*b);
}

static int hdr_cmp(const void *pa, const void *pb)
{
  const struct hdr *a = pa, *b = pb;
  int c = name_cmp(a->name, b->name);

  if (c)
    return c;
  return (a->order > b->order) - (a->order < b->order);
}

static int in_list(const char *name, const char *const *list)
{
  for (; *list; list++)
    if (name_cmp(name, *list) == 0)
      return 1;
  return 0;
}

/* Collects the headers to sign into *out (malloc'ed, sorted by lowercase
 * name, repeated names in request order): the request's, less the never
 * signed ones and those named in skip, plus extra. Returns SR_EINVAL for
 * a malformed header or a request without Host. */
static int headers_collect(const struct sigv4_request *req,
                           const char *const *skip,
                           const struct sigv4_header *extra, size_t nextra,
                           struct hdr **out, size_t *n)
{
  struct hdr *h;
  size_t i, k = 0;
  int host = 0;

  *out = NULL;
  *n = 0;
  if (req->nheaders > 0 && req->headers == NULL)
    return SR_EINVAL;
  for (i = 0; i < req->nheaders; i++) {
    const struct sigv4_header *rh = &req->headers[i];

    if (!is_token(rh->name) || rh->value == NULL || has_line_break(rh->value))
      return SR_EINVAL;
    host |= name_cmp(rh->name, "host") == 0;
  }
  if (!host)
    return SR_EINVAL;
  h = malloc((req->nheaders + nextra) * sizeof(*h));
  if (h == NULL)
    return SR_ENOMEM;
  for (i = 0; i < req->nheaders; i++) {
    const struct sigv4_header *rh = &req->headers[i];

    if (in_list(rh->name, unsigned_headers) || in_list(rh->name, skip))
      continue;
    h[k].name = rh->name;
    h[k].value = rh->value;
    h[k].order = k;
    k++;
  }
  for (i = 0; i < nextra; i++) {
    h[k].name = extra[i].name;
    h[k].value = extra[i].value;
    h[k].order = k;
    k++;
  }
  qsort(h, k, sizeof(*h), hdr_cmp);
  *out = h;
  *n = k;
  return 0;
}

static int add_lower(struct buf *out, const char *s)
{
  int rc = 0;

  for (; *s && rc == 0; s++)
    rc = buf_addc(out, (char)ascii_lower((unsigned char)*s));
  return rc;
}

/* Appends value trimmed, inner whitespace runs made one space. */
static int add_trimmed(struct buf *out, const char *value)
{
  const char *p = value;
  int rc = 0, first = 1;

  while (rc == 0) {
    const char *word;

    while (*p && is_py_space((unsigned char)*p))
      p++;
    if (*p == '\0')
      break;
    for (word = p; *p && !is_py_space((unsigned char)*p); p++)
      ;
    if (!first)
      rc = buf_addc(out, ' ');
    if (rc == 0)
      rc = buf_add(out, word, (size_t)(p - word));
    first = 0;
  }
  return rc;
}

/* "a;b;c": the distinct lowercase names of h. */
static int signed_headers_build(const struct hdr *h, size_t n, struct buf *out)
{
  size_t i;
  int rc = 0;

  for (i = 0; i < n && rc == 0; i++) {
    if (i > 0 && name_cmp(h[i - 1].name, h[i].name) == 0)
      continue;
    if (i > 0)
      rc = buf_addc(out, ';');
    if (rc == 0)
      rc = add_lower(out, h[i].name);
  }
  return rc;
}

/* Replaces out with the canonical request of req with the collected
 * headers h, the given (raw) query and payload hash. */
static int canonical_build(const struct sigv4_request *req, int s3,
                           const struct hdr *h, size_t n, const char *query,
                           const char *payload, struct buf *out)
{
  const char *m;
  size_t i;
  int rc = 0;

  buf_reset(out);
  for (m = req->method; *m && rc == 0; m++) {
    char c = *m;

    rc = buf_addc(out, c >= 'a' && c <= 'z' ? (char)(c - ('a' - 'A')) : c);
  }
  if (rc == 0)
    rc = buf_addc(out, '\n');
  if (rc == 0)
    rc = canonical_uri(out, req->path, s3);
  if (rc == 0)
    rc = buf_addc(out, '\n');
  if (rc == 0)
    rc = canonical_query(out, query);
  if (rc == 0)
    rc = buf_addc(out, '\n');
  for (i = 0; i < n && rc == 0; i++) {
    int same = i > 0 && name_cmp(h[i - 1].name, h[i].name) == 0;

    if (same) {
      /* Repeated headers: one line, values joined with ','. */
      buf_truncate(out, buf_len(out) - 1);
      rc = buf_addc(out, ',');
    } else {
      rc = add_lower(out, h[i].name);
      if (rc == 0)
        rc = buf_addc(out, ':');
    }
    if (rc == 0)
      rc = add_trimmed(out, h[i].value);
    if (rc == 0)
      rc = buf_addc(out, '\n');
  }
  if (rc == 0)
    rc = buf_addc(out, '\n');
  if (rc == 0)
    rc = signed_headers_build(h, n, out);
  if (rc == 0)
    rc = buf_addc(out, '\n');
  if (rc == 0)
    rc = buf_adds(out, payload);
  return rc;
}

/* Checks what every request needs: a method, a path that is empty or
 * absolute, a payload hash without line breaks. */
static int request_check(const struct sigv4_request *req)
{
  if (req == NULL || !is_token(req->method))
    return SR_EINVAL;
  if (req->path && req->path[0] != '\0' && req->path[0] != '/')
    return SR_EINVAL;
  if (req->payload_hash && has_line_break(req->payload_hash))
    return SR_EINVAL;
  return 0;
}

/* The session token to sign, or NULL. */
static const char *session_token(const struct sigv4_credentials *c)
{
  return c && c->session_token && *c->session_token ? c->session_token : NULL;
}

/* Stage one for header signing, shared by sigv4_sign_header and the
 * public stage function. amz_date NULL signs the request's own headers as
 * they are (a verifier's view). */
static int canonical_header_mode(const struct sigv4_request *req,
                                 const struct sigv4_params *p,
                                 const char *amz_date, struct buf *out,
                                 struct buf *signed_headers)
{
  struct sigv4_header extra[3];
  const char *skip[5];
  const char *token = session_token(p->credentials);
  const char *payload =
      req->payload_hash ? req->payload_hash : SIGV4_EMPTY_SHA256;
  struct hdr *h = NULL;
  size_t nextra = 0, nskip = 0, nh;
  int rc;

  if (token && has_line_break(token))
    return SR_EINVAL;
  /* Like botocore, the headers the signer sets replace the caller's. */
  skip[nskip++] = "authorization";
  if (amz_date) {
    skip[nskip++] = "x-amz-date";
    extra[nextra].name = "x-amz-date";
    extra[nextra++].value = amz_date;
  }
  if (token) {
    skip[nskip++] = "x-amz-security-token";
    extra[nextra].name = "x-amz-security-token";
    extra[nextra++].value = token;
  }
  if (p->content_sha256_header) {
    skip[nskip++] = "x-amz-content-sha256";
    extra[nextra].name = "x-amz-content-sha256";
    extra[nextra++].value = payload;
  }
  skip[nskip] = NULL;
  rc = headers_collect(req, skip, extra, nextra, &h, &nh);
  if (rc == 0 && signed_headers) {
    buf_reset(signed_headers);
    rc = signed_headers_build(h, nh, signed_headers);
  }
  if (rc == 0)
    rc = canonical_build(req, p->s3, h, nh, req->query, payload, out);
  free(h);
  return rc;
}

int sigv4_canonical_request(const struct sigv4_request *req,
                            const struct sigv4_params *p, const char *amz_date,
                            struct buf *out, struct buf *signed_headers)
{
  int rc = request_check(req);

  if (rc == 0 && p == NULL)
    rc = SR_EINVAL;
  if (rc == 0)
    rc = canonical_header_mode(req, p, amz_date, out, signed_headers);
  return rc;
}

static int sha256_hex(const void *data, size_t len, char out[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) {
    out[0] = '\0';
    return SR_ENOMEM; /* OpenSSL fails here only when out of memory */
  }
  hex_encode(md, 32, out);
  return 0;
}

int sigv4_string_to_sign(const char *amz_date, const char *scope,
                         const char *canonical_request, struct buf *out)
{
  char hash[65];
  int rc;

  if (amz_date == NULL || scope == NULL || canonical_request == NULL)
    return SR_EINVAL;
  rc = sha256_hex(canonical_request, strlen(canonical_request), hash);
  if (rc)
    return rc;
  buf_reset(out);
  return buf_addf(out, "%s\n%s\n%s\n%s", SIGV4_ALGORITHM, amz_date, scope,
                  hash);
}

static int hmac_sha256(const void *key, size_t keylen, const char *data,
                       unsigned char out[32])
{
  size_t outlen = 0;

  if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen,
                (const unsigned char *)data, strlen(data), out, 32,
                &outlen) == NULL ||
      outlen != 32)
    return SR_ENOMEM; /* as for EVP_Digest: allocation is what fails */
  return 0;
}

int sigv4_signature(const char *secret, const char *date8, const char *region,
                    const char *service, const char *string_to_sign,
                    struct buf *hex_out)
{
  unsigned char *key = NULL, k1[32], k2[32];
  char hex[65];
  size_t slen;
  int rc;

  if (secret == NULL || date8 == NULL || region == NULL || service == NULL ||
      string_to_sign == NULL)
    return SR_EINVAL;
  slen = strlen(secret);
  key = malloc(slen + 4);
  if (key == NULL)
    return SR_ENOMEM;
  memcpy(key, "AWS4", 4);
  memcpy(key + 4, secret, slen);
  /* kDate, kRegion, kService, kSigning, then the signature. */
  rc = hmac_sha256(key, slen + 4, date8, k1);
  if (rc == 0)
    rc = hmac_sha256(k1, 32, region, k2);
  if (rc == 0)
    rc = hmac_sha256(k2, 32, service, k1);
  if (rc == 0)
    rc = hmac_sha256(k1, 32, "aws4_request", k2);
  if (rc == 0)
    rc = hmac_sha256(k2, 32, string_to_sign, k1);
  if (rc == 0) {
    hex_encode(k1, 32, hex);
    buf_reset(hex_out);
    rc = buf_add(hex_out, hex, 64);
  }
  /* The derived keys are as good as the secret: wipe them. */
  OPENSSL_cleanse(key, slen + 4);
  OPENSSL_cleanse(k1, sizeof(k1));
  OPENSSL_cleanse(k2, sizeof(k2));
  free(key);
  return rc;
}

void sigv4_format_time(time_t t, char out[17])
{
  struct tm tm;

  if (gmtime_r(&t, &tm) == NULL ||
      strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
    out[0] = '\0';
}

void sigv4_payload_hash(const void *data, size_t len, char out[65])
{
  sha256_hex(data, len, out);
}

int sigv4_payload_hash_file(FILE *f, char out[65])
{
  EVP_MD_CTX *ctx = NULL;
  unsigned char chunk[65536], md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  off_t start;
  size_t got;
  int rc = SR_EIO;

  out[0] = '\0';
  start = ftello(f);
  if (start < 0)
    return SR_EIO;
  ctx = EVP_MD_CTX_new();
  if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
    rc = SR_ENOMEM;
    goto out;
  }
  while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
    if (!EVP_DigestUpdate(ctx, chunk, got)) {
      rc = SR_ENOMEM;
      goto out;
    }
  if (ferror(f))
    goto out;
  if (!EVP_DigestFinal_ex(ctx, md, &mdlen) || mdlen != 32) {
    rc = SR_ENOMEM;
    goto out;
  }
  hex_encode(md, 32, out);
  rc = 0;
out:
  /* Back to where the caller was, as botocore does, even on failure. */
  if (fseeko(f, start, SEEK_SET) != 0 && rc == 0)
    rc = SR_EIO;
  if (rc)
    out[0] = '\0';
  EVP_MD_CTX_free(ctx);
  return rc;
}

void sigv4_result_init(struct sigv4_result *r)
{
  buf_init(&r->canonical_request, SIGV4_CAP);
  buf_init(&r->string_to_sign, SIGV4_CAP);
  buf_init(&r->signature, SIGV4_CAP);
  buf_init(&r->authorization, SIGV4_CAP);
  buf_init(&r->signed_headers, SIGV4_CAP);
  buf_init(&r->credential_scope, SIGV4_CAP);
  buf_init(&r->amz_date, SIGV4_CAP);
  buf_init(&r->presigned_query, SIGV4_CAP);
  memset(r->headers_to_add, 0, sizeof(r->headers_to_add));
  r->nheaders_to_add = 0;
}

void sigv4_result_free(struct sigv4_result *r)
{
  size_t i;

  /* The values are our own copies (the names are literals). */
  for (i = 0; i < r->nheaders_to_add; i++)
    free((char *)r->headers_to_add[i].value);
  buf_free(&r->canonical_request);
  buf_free(&r->string_to_sign);
  buf_free(&r->signature);
  buf_free(&r->authorization);
  buf_free(&r->signed_headers);
  buf_free(&r->credential_scope);
  buf_free(&r->amz_date);
  buf_free(&r->presigned_query);
  memset(r->headers_to_add, 0, sizeof(r->headers_to_add));
  r->nheaders_to_add = 0;
}

/* Appends a header to send, copying its value. */
static int result_add_header(struct sigv4_result *r, const char *name,
                             const char *value)
{
  char *copy;

  assert(r->nheaders_to_add <
         sizeof(r->headers_to_add) / sizeof(r->headers_to_add[0]));
  copy = strdup(value);
  if (copy == NULL)
    return SR_ENOMEM;
  r->headers_to_add[r->nheaders_to_add].name = name;
  r->headers_to_add[r->nheaders_to_add].value = copy;
  r->nheaders_to_add++;
  return 0;
}

/* What both kinds of signing check and compute first: the request and
 * parameters are whole, r->amz_date and r->credential_scope are set,
 * date8 gets "YYYYMMDD". */
static int signing_begin(const struct sigv4_request *req,
                         const struct sigv4_params *p, struct sigv4_result *r,
                         char date8[9])
{
  const struct sigv4_credentials *c;
  char amz_date[17];
  int rc = request_check(req);

  if (rc)
    return rc;
  if (p == NULL || !is_scope_part(p->region) || !is_scope_part(p->service))
    return SR_EINVAL;
  c = p->credentials;
  if (c == NULL || c->access_key_id == NULL || *c->access_key_id == '\0' ||
      c->secret_access_key == NULL || *c->secret_access_key == '\0' ||
      has_line_break(c->access_key_id))
    return SR_EINVAL;
  sigv4_format_time(p->now, amz_date);
  if (amz_date[0] == '\0')
    return SR_EINVAL;
  memcpy(date8, amz_date, 8);
  date8[8] = '\0';
  rc = buf_adds(&r->amz_date, amz_date);
  if (rc == 0)
    rc = buf_addf(&r->credential_scope, "%s/%s/%s/aws4_request", date8,
                  p->region, p->service);
  return rc;
}

/* Stages two and three: string to sign and signature into r. */
static int signing_finish(const struct sigv4_params *p, struct sigv4_result *r,
                          const char *date8)
{
  int rc =
      sigv4_string_to_sign(buf_str(&r->amz_date), buf_str(&r->credential_scope),
                           buf_str(&r->canonical_request), &r->string_to_sign);

  if (rc == 0)
    rc =
        sigv4_signature(p->credentials->secret_access_key, date8, p->region,
                        p->service, buf_str(&r->string_to_sign), &r->signature);
  return rc;
}

int sigv4_sign_header(const struct sigv4_request *req,
                      const struct sigv4_params *p, struct sigv4_result *r)
{
  char date8[9];
  const char *token;
  int rc;

  sigv4_result_free(r);
  rc = signing_begin(req, p, r, date8);
  if (rc)
    goto out;
  rc = canonical_header_mode(req, p, buf_str(&r->amz_date),
                             &r->canonical_request, &r->signed_headers);
  if (rc == 0)
    rc = signing_finish(p, r, date8);
  if (rc == 0)
    rc = buf_addf(&r->authorization,
                  SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, "
                                  "Signature=%s",
                  p->credentials->access_key_id, buf_str(&r->credential_scope),
                  buf_str(&r->signed_headers), buf_str(&r->signature));
  if (rc)
    goto out;
  token = session_token(p->credentials);
  rc = result_add_header(r, "X-Amz-Date", buf_str(&r->amz_date));
  if (rc == 0 && token)
    rc = result_add_header(r, "X-Amz-Security-Token", token);
  if (rc == 0 && p->content_sha256_header)
    rc = result_add_header(r, "X-Amz-Content-Sha256",
                           req->payload_hash ? req->payload_hash
                                             : SIGV4_EMPTY_SHA256);
  if (rc == 0)
    rc = result_add_header(r, "Authorization", buf_str(&r->authorization));
out:
  if (rc)
    sigv4_result_free(r);
  return rc;
}

/* Appends "&name=" and value encoded with the unreserved set. */
static int add_query_param(struct buf *out, const char *name, const char *value)
{
  int rc = buf_addf(out, "&%s=", name);

  return rc ? rc : sigv4_uri_encode(out, value, strlen(value), 0);
}

/* Like SigV4QueryAuth / S3SigV4QueryAuth, with two differences where the
 * aws-c-auth suite (and the caller's intent) win: a Content-Type of
 * "application/x-www-form-urlencoded; charset=utf-8" is signed like any
 * other header (botocore drops it, having set it itself), and a body is
 * never moved into the query (botocore moves form bodies there). */
int sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *p,
                  long expires, struct sigv4_result *r)
{
  static const char *const skip[] = {"authorization", "x-amz-date", NULL};
  struct buf cred;
  struct hdr *h = NULL;
  const char *token, *payload;
  char date8[9];
  size_t nh;
  int rc;

  buf_init(&cred, SIGV4_CAP);
  sigv4_result_free(r);
  if (expires < 1 || expires > SIGV4_MAX_EXPIRES) {
    rc = SR_EINVAL;
    goto out;
  }
  rc = signing_begin(req, p, r, date8);
  if (rc)
    goto out;
  token = session_token(p->credentials);
  /* S3 presigned URLs sign no payload (S3SigV4QueryAuth.payload). */
  payload = p->s3               ? SIGV4_UNSIGNED_PAYLOAD
            : req->payload_hash ? req->payload_hash
                                : SIGV4_EMPTY_SHA256;
  rc = headers_collect(req, skip, NULL, 0, &h, &nh);
  if (rc == 0)
    rc = signed_headers_build(h, nh, &r->signed_headers);
  if (rc == 0)
    rc = buf_addf(&cred, "%s/%s", p->credentials->access_key_id,
                  buf_str(&r->credential_scope));
  /* botocore's layout: the operation's parameters, then the auth ones in
   * this order; the signature is appended last. */
  if (rc == 0)
    rc = presign_operation_params(&r->presigned_query, req->query);
  if (rc == 0)
    rc = buf_adds(&r->presigned_query, "X-Amz-Algorithm=" SIGV4_ALGORITHM);
  if (rc == 0)
    rc = add_query_param(&r->presigned_query, "X-Amz-Credential",
                         buf_str(&cred));
  if (rc == 0)
    rc = add_query_param(&r->presigned_query, "X-Amz-Date",
                         buf_str(&r->amz_date));
  if (rc == 0)
    rc = buf_addf(&r->presigned_query, "&X-Amz-Expires=%ld", expires);
  if (rc == 0)
    rc = add_query_param(&r->presigned_query, "X-Amz-SignedHeaders",
                         buf_str(&r->signed_headers));
  if (rc == 0 && token)
    rc = add_query_param(&r->presigned_query, "X-Amz-Security-Token", token);
  if (rc == 0)
    rc = canonical_build(req, p->s3, h, nh, buf_str(&r->presigned_query),
                         payload, &r->canonical_request);
  if (rc == 0)
    rc = signing_finish(p, r, date8);
  if (rc == 0)
    rc = buf_addf(&r->presigned_query, "&X-Amz-Signature=%s",
                  buf_str(&r->signature));
out:
  free(h);
  buf_free(&cred);
  if (rc)
    sigv4_result_free(r);
  return rc;
}
