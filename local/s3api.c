/* S3's REST API over the object store (local/s3store.h): routing by
 * method, Host, path and subresource; S3's answers, headers and error
 * XML. Element names and codes follow botocore's s3 model and S3's
 * documented errors (aws-spec.md §5). */
#include "s3api.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "../runner/error.h"
#include "../runner/sigv4.h"
#include "../runner/xml.h"
#include "gdelt_synth.h"
#include "s3store.h"

#define XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define MAX_LIST_KEYS 1000
#define MAX_DELETE_KEYS 1000
#define MAX_USER_METADATA 2048
#define DEFAULT_CONTENT_TYPE "binary/octet-stream"

/* Subresources this engine does not implement: a request naming one gets
 * 501 NotImplemented rather than being taken for a plain GET or PUT. */
static const char *const unsupported_subresources[] = {"accelerate",
                                                       "acl",
                                                       "analytics",
                                                       "attributes",
                                                       "cors",
                                                       "encryption",
                                                       "intelligent-tiering",
                                                       "inventory",
                                                       "legal-hold",
                                                       "lifecycle",
                                                       "logging",
                                                       "metrics",
                                                       "notification",
                                                       "object-lock",
                                                       "ownershipControls",
                                                       "policy",
                                                       "policyStatus",
                                                       "publicAccessBlock",
                                                       "replication",
                                                       "requestPayment",
                                                       "restore",
                                                       "retention",
                                                       "select",
                                                       "tagging",
                                                       "torrent",
                                                       "versioning",
                                                       "versions",
                                                       "website",
                                                       NULL};

/* The stored headers, besides Content-Type and x-amz-meta-*. */
static const char *const stored_headers[] = {
    "Cache-Control",    "Content-Disposition",
    "Content-Encoding", "Content-Language",
    "Expires",          NULL};

/* GetObject's response-* overrides and the headers they set. */
static const char *const response_overrides[][2] = {
    {"response-content-type", "Content-Type"},
    {"response-content-language", "Content-Language"},
    {"response-expires", "Expires"},
    {"response-cache-control", "Cache-Control"},
    {"response-content-disposition", "Content-Disposition"},
    {"response-content-encoding", "Content-Encoding"}};

static const char *const op_names[] = {"Bad",
                                       "ListBuckets",
                                       "CreateBucket",
                                       "HeadBucket",
                                       "DeleteBucket",
                                       "ListObjects",
                                       "ListObjectsV2",
                                       "GetBucketLocation",
                                       "DeleteObjects",
                                       "PutObject",
                                       "CopyObject",
                                       "GetObject",
                                       "HeadObject",
                                       "DeleteObject",
                                       "CreateMultipartUpload",
                                       "UploadPart",
                                       "CompleteMultipartUpload",
                                       "AbortMultipartUpload",
                                       "ListParts"};

const char *s3api_op_name(enum s3api_op op)
{
  return (size_t)op < sizeof(op_names) / sizeof(op_names[0]) ? op_names[op]
                                                             : "Unknown";
}

int s3api_op_is_read(enum s3api_op op)
{
  return op == S3API_HEAD_BUCKET || op == S3API_LIST_OBJECTS ||
         op == S3API_LIST_OBJECTS_V2 || op == S3API_GET_BUCKET_LOCATION ||
         op == S3API_GET_OBJECT || op == S3API_HEAD_OBJECT;
}

int s3api_op_body_to_store(enum s3api_op op)
{
  return op == S3API_PUT_OBJECT || op == S3API_UPLOAD_PART;
}

/* --- small helpers --- */

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

/* Percent-decodes s[0..len) (and '+' as space when plus) into a new
 * string; *outlen gets its length (it may hold NUL bytes). */
static char *decode(const char *s, size_t len, int plus, size_t *outlen)
{
  struct buf b;

  buf_init(&b, len + 1);
  if (sigv4_uri_decode(&b, s, len, plus) != 0)
    return NULL;
  return buf_detach(&b, outlen);
}

/* <tag>escaped text</tag> */
static int xml_elem(struct buf *out, const char *tag, const char *text)
{
  int rc = buf_addf(out, "<%s>", tag);

  if (rc == 0)
    rc = xml_escape(out, text);
  return rc ? rc : buf_addf(out, "</%s>", tag);
}

/* A listing value: URL-encoded when the client asked encoding-type=url
 * (botocore then decodes it), XML-escaped otherwise. */
static int xml_elem_enc(struct buf *out, const char *tag, const char *text,
                        int url)
{
  int rc;

  if (!url)
    return xml_elem(out, tag, text);
  rc = buf_addf(out, "<%s>", tag);
  if (rc == 0)
    rc = sigv4_uri_encode(out, text, strlen(text), 1);
  return rc ? rc : buf_addf(out, "</%s>", tag);
}

static void iso8601(double t, char out[32])
{
  time_t secs = (time_t)t;
  struct tm tm;
  int ms = (int)((t - (double)secs) * 1000.0);
  char date[24];

  if (ms < 0 || ms > 999)
    ms = 0;
  if (gmtime_r(&secs, &tm) == NULL) {
    snprintf(out, 32, "1970-01-01T00:00:00.000Z");
    return;
  }

  if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
    date[0] = '\0';
  snprintf(out, 32, "%.19s.%03dZ", date, ms);
}

/* RFC 7231 IMF-fixdate, with English names whatever the locale. */
static void http_date(double t, char out[32])
{
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t secs = (time_t)t;
  struct tm tm;

  if (gmtime_r(&secs, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 ||
      tm.tm_mon < 0 || tm.tm_mon > 11) {
    snprintf(out, 32, "Thu, 01 Jan 1970 00:00:00 GMT");
    return;
  }
  snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
           tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

static int base64_encode(struct buf *out, const void *data, size_t len)
{
  size_t n = 4 * ((len + 2) / 3);
  unsigned char *tmp = malloc(n + 1);
  int rc;

  if (tmp == NULL)
    return SR_ENOMEM;
  EVP_EncodeBlock(tmp, data, (int)len);
  rc = buf_add(out, tmp, n);
  free(tmp);
  return rc;
}

/* Decodes standard base64 text (with padding) into out; SR_EINVAL for
 * anything malformed. */
static int base64_decode(const char *text, struct buf *out)
{
  size_t len = strlen(text), pad = 0;
  unsigned char *tmp;
  int n;

  if (len == 0 || len % 4 != 0)
    return SR_EINVAL;
  if (text[len - 1] == '=')
    pad++;
  if (text[len - 2] == '=')
    pad++;
  tmp = malloc(len / 4 * 3 + 1);
  if (tmp == NULL)
    return SR_ENOMEM;
  n = EVP_DecodeBlock(tmp, (const unsigned char *)text, (int)len);
  if (n < 0 || (size_t)n < pad) {
    free(tmp);
    return SR_EINVAL;
  }
  n = buf_add(out, tmp, (size_t)n - pad);
  free(tmp);
  return n;
}

/* --- routing --- */

const char *s3api_param(const struct s3api_route *rt, const char *name)
{
  size_t i;

  for (i = 0; i < rt->nparams; i++)
    if (strcmp(rt->params[i].name, name) == 0)
      return rt->params[i].value;
  return NULL;
}

static int params_parse(const char *query, struct s3api_route *rt)
{
  size_t n = 1, k = 0;
  const char *p;

  for (p = query; *p; p++)
    n += *p == '&';
  rt->params = calloc(n, sizeof(*rt->params));
  if (rt->params == NULL)
    return SR_ENOMEM;
  for (p = query; p && *p;) {
    const char *end = strchr(p, '&'), *eq;
    size_t len = end ? (size_t)(end - p) : strlen(p);

    if (len > 0) {
      eq = memchr(p, '=', len);
      rt->params[k].name = decode(p, eq ? (size_t)(eq - p) : len, 1, NULL);
      rt->params[k].value =
          eq ? decode(eq + 1, len - (size_t)(eq - p) - 1, 1, NULL)
             : decode("", 0, 0, NULL);
      if (rt->params[k].name == NULL || rt->params[k].value == NULL) {
        rt->nparams = k + 1;
        return SR_ENOMEM;
      }
      k++;
    }
    p = end ? end + 1 : NULL;
  }
  rt->nparams = k;
  return 0;
}

/* The bucket a virtual-host style Host names (malloc'ed), or NULL for
 * path-style: BUCKET.localhost or BUCKET.s3.localhost, with any port. */
static char *host_bucket(const char *host)
{
  static const char suffix[] = ".localhost";
  char name[300];
  size_t len, i;

  if (host == NULL || host[0] == '[')
    return NULL;
  len = strcspn(host, ":");
  if (len >= sizeof(name))
    return NULL;
  for (i = 0; i < len; i++)
    name[i] = (char)ascii_lower((unsigned char)host[i]);
  name[len] = '\0';
  if (len > sizeof(suffix) - 1 && name[len - 1] == '.')
    name[--len] = '\0'; /* a fully qualified "b.localhost." */
  if (len <= sizeof(suffix) - 1 ||
      strcmp(name + len - (sizeof(suffix) - 1), suffix) != 0)
    return NULL;
  len -= sizeof(suffix) - 1;
  name[len] = '\0';
  if (len > 3 && strcmp(name + len - 3, ".s3") == 0)
    name[len -= 3] = '\0';
  if (len == 0 || strcmp(name, "s3") == 0)
    return NULL;
  return strdup(name);
}

static int has_unsupported(const struct s3api_route *rt)
{
  const char *const *s;

  for (s = unsupported_subresources; *s; s++)
    if (s3api_param(rt, *s))
      return 1;
  return 0;
}

static void route_bad(struct s3api_route *rt, int status, const char *code,
                      const char *message)
{
  rt->op = S3API_BAD;
  local_fail(&rt->error, status, code, "%s", message);
}

/* Picks the operation once bucket, key and params are known. */
static void route_op(const struct local_request *r, struct s3api_route *rt)
{
  const char *m = r->method;
  int copy = local_request_header(r, "x-amz-copy-source") != NULL;

  if (has_unsupported(rt) ||
      (rt->key == NULL && rt->bucket && strcmp(m, "GET") == 0 &&
       s3api_param(rt, "uploads"))) {
    route_bad(rt, 501, "NotImplemented",
              "A header you provided implies functionality that is not "
              "implemented");
    return;
  }
  if (rt->bucket == NULL) {
    if (strcmp(m, "GET") == 0)
      rt->op = S3API_LIST_BUCKETS;
    else
      route_bad(rt, 405, "MethodNotAllowed",
                "The specified method is not allowed against this resource.");
    return;
  }
  if (rt->key == NULL) {
    if (strcmp(m, "GET") == 0)
      rt->op = s3api_param(rt, "location")    ? S3API_GET_BUCKET_LOCATION
               : s3api_param(rt, "list-type") ? S3API_LIST_OBJECTS_V2
                                              : S3API_LIST_OBJECTS;
    else if (strcmp(m, "PUT") == 0)
      rt->op = S3API_CREATE_BUCKET;
    else if (strcmp(m, "HEAD") == 0)
      rt->op = S3API_HEAD_BUCKET;
    else if (strcmp(m, "DELETE") == 0)
      rt->op = S3API_DELETE_BUCKET;
    else if (strcmp(m, "POST") == 0 && s3api_param(rt, "delete"))
      rt->op = S3API_DELETE_OBJECTS;
    else
      route_bad(rt, 405, "MethodNotAllowed",
                "The specified method is not allowed against this resource.");
    return;
  }
  if (strcmp(m, "GET") == 0)
    rt->op = s3api_param(rt, "uploadId") ? S3API_LIST_PARTS : S3API_GET_OBJECT;
  else if (strcmp(m, "HEAD") == 0)
    rt->op = S3API_HEAD_OBJECT;
  else if (strcmp(m, "PUT") == 0 && s3api_param(rt, "uploadId") &&
           s3api_param(rt, "partNumber"))
    rt->op = S3API_UPLOAD_PART;
  else if (strcmp(m, "PUT") == 0)
    rt->op = copy ? S3API_COPY_OBJECT : S3API_PUT_OBJECT;
  else if (strcmp(m, "DELETE") == 0)
    rt->op = s3api_param(rt, "uploadId") ? S3API_ABORT_MULTIPART
                                         : S3API_DELETE_OBJECT;
  else if (strcmp(m, "POST") == 0 && s3api_param(rt, "uploads"))
    rt->op = S3API_CREATE_MULTIPART;
  else if (strcmp(m, "POST") == 0 && s3api_param(rt, "uploadId"))
    rt->op = S3API_COMPLETE_MULTIPART;
  else
    route_bad(rt, 405, "MethodNotAllowed",
              "The specified method is not allowed against this resource.");
  if (rt->op == S3API_UPLOAD_PART && copy)
    route_bad(rt, 501, "NotImplemented",
              "UploadPartCopy is not implemented by sagerun local");
}

int s3api_route_parse(const struct local_request *r, struct s3api_route *rt)
{
  const char *path = r->path, *slash;
  size_t keylen = 0;
  int rc;

  memset(rt, 0, sizeof(*rt));
  rc = params_parse(r->query, rt);
  if (rc)
    return rc;
  rt->bucket = host_bucket(local_request_header(r, "host"));
  if (path[0] == '/')
    path++;
  if (rt->bucket == NULL && *path) {
    slash = strchr(path, '/');
    rt->bucket =
        decode(path, slash ? (size_t)(slash - path) : strlen(path), 0, NULL);
    if (rt->bucket == NULL)
      return SR_ENOMEM;
    path = slash ? slash + 1 : path + strlen(path);
  }
  if (rt->bucket && *path) {
    rt->key = decode(path, strlen(path), 0, &keylen);
    if (rt->key == NULL)
      return SR_ENOMEM;
  }
  if (rt->bucket && rt->bucket[0] == '\0') {
    free(rt->bucket);
    rt->bucket = NULL;
  }
  route_op(r, rt);
  if (rt->op == S3API_BAD || rt->key == NULL)
    return 0;
  rc = s3store_key_check(rt->key, keylen);
  if (rc == SR_ETOOBIG)
    route_bad(rt, 400, "KeyTooLongError", "Your key is too long");
  else if (rc)
    route_bad(rt, 400, "InvalidArgument",
              "Object keys must be valid UTF-8 without NUL characters");
  return 0;
}

void s3api_route_free(struct s3api_route *rt)
{
  size_t i;

  for (i = 0; i < rt->nparams; i++) {
    free(rt->params[i].name);
    free(rt->params[i].value);
  }
  free(rt->params);
  free(rt->bucket);
  free(rt->key);
  memset(rt, 0, sizeof(*rt));
}

/* --- answers --- */

/* The headers every S3 answer carries. */
static void common_headers(struct local_response *resp, const char *request_id)
{
  char id2[64];

  snprintf(id2, sizeof(id2), "sagerun/%s", request_id);
  local_response_header(resp, "x-amz-request-id", request_id);
  local_response_header(resp, "x-amz-id-2", id2);
}

void s3api_error(struct local_response *resp, const struct local_error *err,
                 const char *request_id, const char *tag, const char *value)
{
  struct buf *b = &resp->body;
  int rc;

  buf_reset(b);
  buf_reset(&resp->headers);
  if (resp->fd >= 0)
    close(resp->fd);
  resp->fd = -1;
  resp->status = err->status;
  rc = buf_adds(b, XML_DECL "<Error>");
  if (rc == 0)
    rc = xml_elem(b, "Code", err->code);
  if (rc == 0)
    rc = xml_elem(b, "Message", err->message);
  if (rc == 0 && tag && value)
    rc = xml_elem(b, tag, value);
  if (rc == 0)
    rc = xml_elem(b, "RequestId", request_id);
  if (rc == 0)
    rc = buf_addf(b, "<HostId>sagerun/%s</HostId></Error>", request_id);
  if (rc)
    buf_reset(b);
  local_response_header(resp, "Content-Type", "application/xml");
  common_headers(resp, request_id);
  snprintf(resp->error_code, sizeof(resp->error_code), "%s", err->code);
}

/* The state of one S3 call. */
struct call {
  struct local_request *r;
  const struct s3api_route *rt;
  struct local_response *resp;
  struct s3store *s3;
  struct local_engine *e;
  int failed;
};

static void fail_with(struct call *c, int status, const char *code,
                      const char *tag, const char *value, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void fail_with(struct call *c, int status, const char *code,
                      const char *tag, const char *value, const char *fmt, ...)
{
  struct local_error err;
  va_list ap;

  err.status = status;
  snprintf(err.code, sizeof(err.code), "%s", code);
  va_start(ap, fmt);
  vsnprintf(err.message, sizeof(err.message), fmt, ap);
  va_end(ap);
  s3api_error(c->resp, &err, c->r->request_id, tag, value);
  c->failed = 1;
}

static void fail_internal(struct call *c, int rc)
{
  fail_with(c, 500, "InternalError", NULL, NULL,
            "We encountered an internal error. Please try again. (%s)",
            sr_strerror(rc));
}

static void fail_no_bucket(struct call *c)
{
  fail_with(c, 404, "NoSuchBucket", "BucketName", c->rt->bucket,
            "The specified bucket does not exist");
}

static void fail_no_key(struct call *c)
{
  fail_with(c, 404, "NoSuchKey", "Key", c->rt->key,
            "The specified key does not exist.");
}

static void fail_no_upload(struct call *c)
{
  fail_with(c, 404, "NoSuchUpload", "UploadId", s3api_param(c->rt, "uploadId"),
            "The specified upload does not exist. The upload ID may be "
            "invalid, or the upload may have been aborted or completed.");
}

static void fail_malformed_xml(struct call *c)
{
  fail_with(c, 400, "MalformedXML", NULL, NULL,
            "The XML you provided was not well-formed or did not validate "
            "against our published schema");
}

/* Sends an XML body built in x (taken over). */
static void answer_xml(struct call *c, int status, struct buf *x)
{
  c->resp->status = status;
  buf_free(&c->resp->body);
  c->resp->body = *x;
  buf_init(x, BUF_CAP_DEFAULT);
  local_response_header(c->resp, "Content-Type", "application/xml");
}

/* Checks the bucket exists; answers NoSuchBucket (or an internal error)
 * and returns -1 when not. */
static int need_bucket(struct call *c)
{
  int rc = s3store_bucket_exists(c->s3, c->rt->bucket, NULL);

  if (rc == 0)
    return 0;
  if (rc == SR_ENOENT)
    fail_no_bucket(c);
  else
    fail_internal(c, rc);
  return -1;
}

/* --- buckets --- */

static int list_bucket_cb(const char *name, double created, void *arg)
{
  struct buf *x = arg;
  char when[32];
  int rc;

  iso8601(created, when);
  rc = buf_adds(x, "<Bucket>");
  if (rc == 0)
    rc = xml_elem(x, "Name", name);
  if (rc == 0)
    rc = buf_addf(x, "<CreationDate>%s</CreationDate></Bucket>", when);
  return rc;
}

static void op_list_buckets(struct call *c)
{
  struct buf x;
  int rc;

  buf_init(&x, BUF_CAP_DEFAULT);
  rc = buf_addf(&x,
                XML_DECL "<ListAllMyBucketsResult xmlns=\"" XMLNS "\">"
                         "<Owner><ID>%s</ID><DisplayName>sagerun</DisplayName>"
                         "</Owner><Buckets>",
                local_engine_account(c->e));
  if (rc == 0)
    rc = s3store_bucket_list(c->s3, list_bucket_cb, &x);
  if (rc == 0)
    rc = buf_adds(&x, "</Buckets></ListAllMyBucketsResult>");
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
  buf_free(&x);
}

static void op_create_bucket(struct call *c)
{
  char location[128];
  int rc;

  if (s3store_bucket_name_check(c->rt->bucket) != 0) {
    fail_with(c, 400, "InvalidBucketName", "BucketName", c->rt->bucket,
              "The specified bucket is not valid.");
    return;
  }
  rc = s3store_bucket_create(c->s3, c->rt->bucket, 0, local_engine_now(c->e));
  if (rc == SR_EEXIST) {
    fail_with(c, 409, "BucketAlreadyOwnedByYou", "BucketName", c->rt->bucket,
              "Your previous request to create the named bucket succeeded "
              "and you already own it.");
    return;
  }
  if (rc) {
    fail_internal(c, rc);
    return;
  }
  snprintf(location, sizeof(location), "/%s", c->rt->bucket);
  local_response_header(c->resp, "Location", location);
}

static void op_head_bucket(struct call *c)
{
  if (need_bucket(c) == 0)
    local_response_header(c->resp, "x-amz-bucket-region",
                          local_engine_region(c->e));
}

static void op_delete_bucket(struct call *c)
{
  int rc = s3store_bucket_delete(c->s3, c->rt->bucket);

  if (rc == SR_ENOENT)
    fail_no_bucket(c);
  else if (rc == SR_EEXIST)
    fail_with(c, 409, "BucketNotEmpty", "BucketName", c->rt->bucket,
              "The bucket you tried to delete is not empty");
  else if (rc)
    fail_internal(c, rc);
  else
    c->resp->status = 204;
}

static void op_get_bucket_location(struct call *c)
{
  const char *region = local_engine_region(c->e);
  struct buf x;
  int rc;

  if (need_bucket(c))
    return;
  buf_init(&x, BUF_CAP_DEFAULT);
  /* us-east-1 is the empty constraint. */
  if (strcmp(region, "us-east-1") == 0)
    rc = buf_adds(&x, XML_DECL "<LocationConstraint xmlns=\"" XMLNS "\"/>");
  else
    rc = buf_addf(&x,
                  XML_DECL "<LocationConstraint xmlns=\"" XMLNS "\">%s"
                           "</LocationConstraint>",
                  region);
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
  buf_free(&x);
}

/* --- listing --- */

struct listing {
  struct buf contents, prefixes;
  struct buf last; /* the last item, for the next token or marker */
  int url;         /* encoding-type=url */
  int count;
};

static int listing_cb(const struct s3store_item *item, void *arg)
{
  struct listing *l = arg;
  char when[32];
  int rc;

  buf_reset(&l->last);
  rc = buf_adds(&l->last, item->key);
  if (rc)
    return rc;
  l->count++;
  if (item->is_prefix) {
    rc = buf_adds(&l->prefixes, "<CommonPrefixes>");
    if (rc == 0)
      rc = xml_elem_enc(&l->prefixes, "Prefix", item->key, l->url);
    return rc ? rc : buf_adds(&l->prefixes, "</CommonPrefixes>");
  }
  iso8601(item->modified, when);
  rc = buf_adds(&l->contents, "<Contents>");
  if (rc == 0)
    rc = xml_elem_enc(&l->contents, "Key", item->key, l->url);
  if (rc == 0)
    rc = buf_addf(&l->contents, "<LastModified>%s</LastModified>", when);
  if (rc == 0)
    rc = xml_elem(&l->contents, "ETag", item->etag ? item->etag : "");
  if (rc == 0)
    rc = buf_addf(&l->contents,
                  "<Size>%lld</Size><StorageClass>STANDARD</StorageClass>"
                  "</Contents>",
                  item->size);
  return rc;
}

/* max-keys: absent means 1000; more than 1000 is 1000. Returns -1 and
 * answers when malformed. */
static int max_keys(struct call *c, const char *name, int *out)
{
  const char *v = s3api_param(c->rt, name);
  long long n = 0;

  *out = MAX_LIST_KEYS;
  if (v == NULL)
    return 0;
  if (*v == '\0')
    goto bad;
  for (; *v; v++) {
    if (*v < '0' || *v > '9')
      goto bad;
    if (n < 100000000)
      n = n * 10 + (*v - '0');
  }
  *out = n > MAX_LIST_KEYS ? MAX_LIST_KEYS : (int)n;
  return 0;
bad:
  fail_with(c, 400, "InvalidArgument", "ArgumentName", name,
            "Provided %s not an integer or within integer range", name);
  return -1;
}

static void op_list_objects(struct call *c, int v2)
{
  const struct s3api_route *rt = c->rt;
  const char *prefix = s3api_param(rt, "prefix");
  const char *delimiter = s3api_param(rt, "delimiter");
  const char *token = v2 ? s3api_param(rt, "continuation-token") : NULL;
  const char *start_after = s3api_param(rt, v2 ? "start-after" : "marker");
  const char *encoding = s3api_param(rt, "encoding-type");
  struct listing l;
  struct buf x, after;
  int rc = 0, max, truncated = 0;

  memset(&l, 0, sizeof(l));
  buf_init(&l.contents, BUF_CAP_DEFAULT);
  buf_init(&l.prefixes, BUF_CAP_DEFAULT);
  buf_init(&l.last, 4 * S3STORE_MAX_KEY);
  buf_init(&x, BUF_CAP_DEFAULT);
  buf_init(&after, 4 * S3STORE_MAX_KEY);
  if (need_bucket(c) || max_keys(c, "max-keys", &max))
    goto out;
  if (encoding && strcmp(encoding, "url") != 0) {
    fail_with(c, 400, "InvalidArgument", "ArgumentName", "encoding-type",
              "Invalid Encoding Method specified in Request");
    goto out;
  }
  l.url = encoding != NULL;
  if (delimiter && *delimiter == '\0')
    delimiter = NULL;
  /* The token is the last item of the previous page, base64. */
  if (token && (base64_decode(token, &after) != 0 ||
                s3store_key_check(buf_str(&after), buf_len(&after)) != 0)) {
    fail_with(c, 400, "InvalidArgument", "ArgumentName", "continuation-token",
              "The continuation token provided is incorrect");
    goto out;
  }
  if (!token && start_after) {
    rc = buf_adds(&after, start_after);
    if (rc)
      goto fail;
  }
  rc = s3store_list(c->s3, rt->bucket, prefix ? prefix : "", delimiter,
                    buf_str(&after), max, listing_cb, &l, &truncated);
  if (rc)
    goto fail;
  rc = buf_adds(&x, XML_DECL "<ListBucketResult xmlns=\"" XMLNS "\">");
  if (rc == 0)
    rc = xml_elem(&x, "Name", rt->bucket);
  if (rc == 0)
    rc = xml_elem_enc(&x, "Prefix", prefix ? prefix : "", l.url);
  if (rc == 0 && delimiter)
    rc = xml_elem_enc(&x, "Delimiter", delimiter, l.url);
  if (rc == 0)
    rc = buf_addf(&x, "<MaxKeys>%d</MaxKeys>", max);
  if (rc == 0 && encoding)
    rc = xml_elem(&x, "EncodingType", encoding);
  if (rc == 0)
    rc = buf_addf(&x, "<IsTruncated>%s</IsTruncated>",
                  truncated ? "true" : "false");
  if (v2) {
    if (rc == 0)
      rc = buf_addf(&x, "<KeyCount>%d</KeyCount>", l.count);
    if (rc == 0 && token)
      rc = xml_elem(&x, "ContinuationToken", token);
    if (rc == 0 && start_after)
      rc = xml_elem_enc(&x, "StartAfter", start_after, l.url);
    if (rc == 0 && truncated) {
      rc = buf_adds(&x, "<NextContinuationToken>");
      if (rc == 0)
        rc = base64_encode(&x, buf_str(&l.last), buf_len(&l.last));
      if (rc == 0)
        rc = buf_adds(&x, "</NextContinuationToken>");
    }
  } else {
    if (rc == 0)
      rc = xml_elem_enc(&x, "Marker", start_after ? start_after : "", l.url);
    if (rc == 0 && truncated)
      rc = xml_elem_enc(&x, "NextMarker", buf_str(&l.last), l.url);
  }
  if (rc == 0)
    rc = buf_add(&x, buf_str(&l.contents), buf_len(&l.contents));
  if (rc == 0)
    rc = buf_add(&x, buf_str(&l.prefixes), buf_len(&l.prefixes));
  if (rc == 0)
    rc = buf_adds(&x, "</ListBucketResult>");
fail:
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
out:
  buf_free(&l.contents);
  buf_free(&l.prefixes);
  buf_free(&l.last);
  buf_free(&x);
  buf_free(&after);
}

/* --- objects --- */

/* The request's stored headers as a JSON object text (NULL when none) in
 * *out; -1 (answered) when user metadata is too large. */
static int headers_collect(struct call *c, char **out)
{
  json_t *o = json_object();
  size_t i, meta = 0;
  int rc = 0;

  *out = NULL;
  if (o == NULL)
    goto oom;
  for (i = 0; i < c->r->nheaders; i++) {
    const char *name = c->r->headers[i].name;
    const char *value = c->r->headers[i].value;
    const char *const *h;
    char lower[256];
    size_t k;

    if (strlen(name) >= sizeof(lower))
      continue;
    for (k = 0; name[k]; k++)
      lower[k] = (char)ascii_lower((unsigned char)name[k]);
    lower[k] = '\0';
    if (strncmp(lower, "x-amz-meta-", 11) == 0) {
      meta += strlen(lower) - 11 + strlen(value);
      rc = json_object_set_new(o, lower, json_string(value));
    } else {
      for (h = stored_headers; *h; h++)
        if (name_eq(lower, *h))
          rc = json_object_set_new(o, *h, json_string(value));
    }
    if (rc)
      goto oom;
  }
  if (meta > MAX_USER_METADATA) {
    fail_with(c, 400, "MetadataTooLarge", NULL, NULL,
              "Your metadata headers exceed the maximum allowed metadata "
              "size.");
    json_decref(o);
    return -1;
  }
  if (json_object_size(o) > 0) {
    *out = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (*out == NULL)
      goto oom;
  }
  json_decref(o);
  return 0;
oom:
  json_decref(o);
  fail_internal(c, SR_ENOMEM);
  return -1;
}

/* Whether two ETags name the same entity ("*" matches any). */
static int etag_match(const char *want, const char *etag)
{
  size_t wl, el;

  while (*want == ' ')
    want++;
  if (strcmp(want, "*") == 0)
    return 1;
  if (*want == '"')
    want++;
  if (*etag == '"')
    etag++;
  wl = strcspn(want, "\"");
  el = strcspn(etag, "\"");
  return wl == el && strncmp(want, etag, wl) == 0;
}

/* Checks Content-MD5 against md5 when the header is there. Returns -1
 * (answered) on a malformed or different digest. */
static int check_content_md5(struct call *c, const unsigned char md5[16])
{
  const char *h = local_request_header(c->r, "content-md5");
  struct buf raw;
  int rc = 0;

  if (h == NULL)
    return 0;
  buf_init(&raw, 64);
  if (base64_decode(h, &raw) != 0 || buf_len(&raw) != 16) {
    fail_with(c, 400, "InvalidDigest", "Content-MD5", h,
              "The Content-MD5 you specified was invalid.");
    rc = -1;
  } else if (memcmp(buf_str(&raw), md5, 16) != 0) {
    fail_with(c, 400, "BadDigest", "ExpectedDigest", h,
              "The Content-MD5 you specified did not match what we "
              "received.");
    rc = -1;
  }
  buf_free(&raw);
  return rc;
}

/* Takes the upload the server streamed the body into. */
static struct s3store_writer *take_upload(struct call *c)
{
  struct s3store_writer *w = c->r->upload;

  c->r->upload = NULL;
  if (w == NULL)
    fail_internal(c, SR_EINVAL);
  return w;
}

static void op_put_object(struct call *c)
{
  struct s3store_put put = {NULL, NULL};
  struct s3store_object o;
  struct s3store_writer *w;
  unsigned char md5[16];
  char *headers = NULL;
  int rc;

  memset(&o, 0, sizeof(o));
  if (need_bucket(c))
    goto out;
  if (c->r->upload == NULL) {
    fail_internal(c, SR_EINVAL);
    goto out;
  }
  rc = s3store_writer_md5(c->r->upload, md5);
  if (rc) {
    fail_internal(c, rc);
    goto out;
  }
  if (check_content_md5(c, md5) || headers_collect(c, &headers))
    goto out;
  put.content_type = local_request_header(c->r, "content-type");
  put.headers = headers;
  w = take_upload(c);
  rc = s3store_writer_commit(w, c->rt->bucket, c->rt->key, &put,
                             local_engine_now(c->e), &o);
  if (rc == SR_ENOENT)
    fail_no_bucket(c);
  else if (rc)
    fail_internal(c, rc);
  else
    local_response_header(c->resp, "ETag", o.etag);
out:
  s3store_object_free(&o);
  free(headers);
}

/* Splits x-amz-copy-source ("bucket/key" or "/bucket/key", URL-encoded,
 * maybe "?versionId=...") into malloc'ed bucket and key. */
static int copy_source(const char *h, char **bucket, char **key, size_t *keylen)
{
  char *all, *slash, *q;
  size_t len;

  *bucket = *key = NULL;
  q = strstr(h, "?versionId=");
  len = q ? (size_t)(q - h) : strlen(h);
  all = decode(h, len, 0, &len);
  if (all == NULL)
    return SR_ENOMEM;
  slash = all[0] == '/' ? all + 1 : all;
  q = strchr(slash, '/');
  if (q == NULL || q == slash || q[1] == '\0') {
    free(all);
    return SR_EINVAL;
  }
  *q = '\0';
  *bucket = strdup(slash);
  *keylen = len - (size_t)(q + 1 - all);
  *key = malloc(*keylen + 1);
  if (*bucket == NULL || *key == NULL) {
    free(*bucket);
    free(*key);
    free(all);
    *bucket = *key = NULL;
    return SR_ENOMEM;
  }
  memcpy(*key, q + 1, *keylen + 1);
  free(all);
  return 0;
}

static void op_copy_object(struct call *c)
{
  const char *directive =
      local_request_header(c->r, "x-amz-metadata-directive");
  struct s3store_object src, o;
  struct s3store_put put = {NULL, NULL};
  struct s3store_writer *w = NULL;
  char *sbucket = NULL, *skey = NULL, *headers = NULL, when[32];
  size_t skeylen = 0;
  struct buf x;
  int rc, fd = -1, replace;

  memset(&src, 0, sizeof(src));
  memset(&o, 0, sizeof(o));
  buf_init(&x, BUF_CAP_DEFAULT);
  rc = copy_source(local_request_header(c->r, "x-amz-copy-source"), &sbucket,
                   &skey, &skeylen);
  if (rc == SR_ENOMEM) {
    fail_internal(c, rc);
    goto out;
  }
  if (rc || s3store_key_check(skey, skeylen) != 0) {
    fail_with(c, 400, "InvalidArgument", "ArgumentName", "x-amz-copy-source",
              "Copy Source must mention the source bucket and key: "
              "sourcebucket/sourcekey");
    goto out;
  }
  if (directive && strcmp(directive, "COPY") != 0 &&
      strcmp(directive, "REPLACE") != 0) {
    fail_with(c, 400, "InvalidArgument", "ArgumentName",
              "x-amz-metadata-directive", "Unknown metadata directive.");
    goto out;
  }
  replace = directive && strcmp(directive, "REPLACE") == 0;
  if (need_bucket(c))
    goto out;
  rc = s3store_object_get(c->s3, sbucket, skey, &src);
  if (rc == SR_ENOENT) {
    if (s3store_bucket_exists(c->s3, sbucket, NULL) == SR_ENOENT)
      fail_with(c, 404, "NoSuchBucket", "BucketName", sbucket,
                "The specified bucket does not exist");
    else
      fail_with(c, 404, "NoSuchKey", "Key", skey,
                "The specified key does not exist.");
    goto out;
  }
  if (rc) {
    fail_internal(c, rc);
    goto out;
  }
  if (!replace && strcmp(sbucket, c->rt->bucket) == 0 &&
      strcmp(skey, c->rt->key) == 0) {
    fail_with(c, 400, "InvalidRequest", NULL, NULL,
              "This copy request is illegal because it is trying to copy an "
              "object to itself without changing the object's metadata, "
              "storage class, website redirect location or encryption "
              "attributes.");
    goto out;
  }
  if (replace) {
    if (headers_collect(c, &headers))
      goto out;
    put.content_type = local_request_header(c->r, "content-type");
    put.headers = headers;
  } else {
    put.content_type = src.content_type;
    put.headers = src.headers;
  }
  rc = s3store_writer_begin(c->s3, &w);
  if (rc == 0)
    rc = s3store_object_open(c->s3, &src, &fd);
  if (rc == 0)
    rc = s3store_writer_copy(w, fd, 0, src.size);
  if (rc == 0) {
    rc = s3store_writer_commit(w, c->rt->bucket, c->rt->key, &put,
                               local_engine_now(c->e), &o);
    w = NULL;
  }
  if (rc) {
    fail_internal(c, rc);
    goto out;
  }
  iso8601(o.modified, when);
  rc = buf_addf(&x,
                XML_DECL "<CopyObjectResult xmlns=\"" XMLNS "\">"
                         "<LastModified>%s</LastModified>",
                when);
  if (rc == 0)
    rc = xml_elem(&x, "ETag", o.etag);
  if (rc == 0)
    rc = buf_adds(&x, "</CopyObjectResult>");
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
out:
  if (fd >= 0)
    close(fd);
  s3store_writer_abort(w);
  s3store_object_free(&src);
  s3store_object_free(&o);
  free(sbucket);
  free(skey);
  free(headers);
  buf_free(&x);
}

int s3api_parse_range(const char *h, long long size, long long *first,
                      long long *last)
{
  long long a = -1, b = -1;
  const char *p;

  if (h == NULL)
    return 0;
  while (*h == ' ')
    h++;
  if (strncmp(h, "bytes=", 6) != 0 || strchr(h, ','))
    return 0; /* another unit or several ranges: send it all */
  p = h + 6;
  while (*p == ' ')
    p++;
  if (*p >= '0' && *p <= '9') {
    for (a = 0; *p >= '0' && *p <= '9'; p++)
      if (a < (1LL << 53))
        a = a * 10 + (*p - '0');
  }
  if (*p++ != '-')
    return 0;
  if (*p >= '0' && *p <= '9') {
    for (b = 0; *p >= '0' && *p <= '9'; p++)
      if (b < (1LL << 53))
        b = b * 10 + (*p - '0');
  }
  while (*p == ' ')
    p++;
  if (*p != '\0' || (a < 0 && b < 0))
    return 0;
  if (a < 0) {
    /* "-N": the last N bytes. */
    if (b == 0 || size == 0)
      return -1;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return 1;
  }
  if (b >= 0 && b < a)
    return 0; /* RFC 7233: an invalid range is ignored */
  if (a >= size)
    return -1;
  *first = a;
  *last = b < 0 || b >= size ? size - 1 : b;
  return 1;
}

/* Adds the stored headers (x-amz-meta-*, Content-Encoding ...). */
static void stored_headers_add(struct call *c, const char *headers)
{
  json_t *o = headers ? json_loads(headers, 0, NULL) : NULL;
  const char *name;
  json_t *v;

  json_object_foreach(o, name, v)
  {
    if (json_is_string(v))
      local_response_header(c->resp, name, json_string_value(v));
  }
  json_decref(o);
}

static void op_get_object(struct call *c)
{
  const char *if_match = local_request_header(c->r, "if-match");
  const char *if_none = local_request_header(c->r, "if-none-match");
  const char *range = local_request_header(c->r, "range");
  struct s3store_object o;
  long long first = 0, last = 0;
  char when[32], cr[96], size[32];
  size_t i;
  int rc, fd = -1, ranged;

  if (need_bucket(c))
    return;
  /* The public GDELT files are made on their first read
   * (local/gdelt_synth.h); a real file PUT in their place is kept. */
  if (strcmp(c->rt->bucket, LOCAL_GDELT_BUCKET) == 0 &&
      gdelt_synth_key_year(c->rt->key) != 0) {
    rc = local_gdelt_ensure(c->e, gdelt_synth_key_year(c->rt->key));
    if (rc && rc != SR_ENOENT) {
      fail_internal(c, rc);
      return;
    }
  }
  rc = s3store_object_get(c->s3, c->rt->bucket, c->rt->key, &o);
  if (rc == SR_ENOENT) {
    fail_no_key(c);
    return;
  }
  if (rc) {
    fail_internal(c, rc);
    return;
  }
  http_date(o.modified, when);
  if (if_match && !etag_match(if_match, o.etag)) {
    fail_with(c, 412, "PreconditionFailed", "Condition", "If-Match",
              "At least one of the pre-conditions you specified did not "
              "hold");
    goto out;
  }
  if (if_none && etag_match(if_none, o.etag)) {
    c->resp->status = 304;
    local_response_header(c->resp, "ETag", o.etag);
    local_response_header(c->resp, "Last-Modified", when);
    goto out;
  }
  for (i = 0; i < sizeof(response_overrides) / sizeof(response_overrides[0]);
       i++)
    if (s3api_param(c->rt, response_overrides[i][0]) && c->r->anonymous) {
      fail_with(c, 400, "InvalidRequest", NULL, NULL,
                "Request specific response headers cannot be used for "
                "anonymous GET requests.");
      goto out;
    }
  ranged = s3api_parse_range(range, o.size, &first, &last);
  if (ranged < 0) {
    snprintf(size, sizeof(size), "bytes */%lld", o.size);
    fail_with(c, 416, "InvalidRange", "RangeRequested", range,
              "The requested range is not satisfiable");
    local_response_header(c->resp, "Content-Range", size);
    goto out;
  }
  if (!ranged) {
    first = 0;
    last = o.size - 1;
  }
  rc = s3store_object_open(c->s3, &o, &fd);
  if (rc) {
    fail_internal(c, rc);
    goto out;
  }
  c->resp->fd = fd;
  c->resp->offset = first;
  c->resp->length = last - first + 1;
  c->resp->status = ranged ? 206 : 200;
  if (ranged) {
    snprintf(cr, sizeof(cr), "bytes %lld-%lld/%lld", first, last, o.size);
    local_response_header(c->resp, "Content-Range", cr);
  }
  local_response_header(c->resp, "ETag", o.etag);
  local_response_header(c->resp, "Last-Modified", when);
  local_response_header(c->resp, "Accept-Ranges", "bytes");
  stored_headers_add(c, o.headers);
  /* Content-Type last among the stored ones, overrides after all. */
  for (i = 0; i < sizeof(response_overrides) / sizeof(response_overrides[0]);
       i++) {
    const char *v = s3api_param(c->rt, response_overrides[i][0]);

    if (v)
      local_response_header(c->resp, response_overrides[i][1], v);
  }
  if (!s3api_param(c->rt, "response-content-type"))
    local_response_header(c->resp, "Content-Type",
                          o.content_type ? o.content_type
                                         : DEFAULT_CONTENT_TYPE);
out:
  s3store_object_free(&o);
}

static void op_delete_object(struct call *c)
{
  int rc;

  if (need_bucket(c))
    return;
  rc = s3store_object_delete(c->s3, c->rt->bucket, c->rt->key);
  if (rc)
    fail_internal(c, rc);
  else
    c->resp->status = 204;
}

/* Whether the request carries Content-MD5 or another checksum, which S3
 * requires of DeleteObjects. */
static int has_checksum(struct call *c)
{
  size_t i;

  if (local_request_header(c->r, "content-md5"))
    return 1;
  for (i = 0; i < c->r->nheaders; i++)
    if (strncmp(c->r->headers[i].name, "x-amz-checksum-", 15) == 0 ||
        strncmp(c->r->headers[i].name, "X-Amz-Checksum-", 15) == 0)
      return 1;
  return 0;
}

static int body_md5_check(struct call *c)
{
  unsigned char md5[16];
  unsigned int len = 0;

  if (!EVP_Digest(c->r->body, c->r->body_len, md5, &len, EVP_md5(), NULL)) {
    fail_internal(c, SR_ENOMEM);
    return -1;
  }
  return check_content_md5(c, md5);
}

/* --- DeleteObjects --- */

static void op_delete_objects(struct call *c)
{
  struct xml_node *root = NULL;
  const struct xml_node *o;
  const char *quiet_text;
  struct buf x;
  size_t n = 0;
  int rc, quiet;

  buf_init(&x, BUF_CAP_DEFAULT);
  if (need_bucket(c))
    goto out;
  if (!has_checksum(c)) {
    fail_with(c, 400, "InvalidRequest", NULL, NULL,
              "Missing required header for this request: Content-MD5");
    goto out;
  }
  if (body_md5_check(c))
    goto out;
  rc = xml_parse(c->r->body, c->r->body_len, &root);
  if (rc == SR_ENOMEM) {
    fail_internal(c, rc);
    goto out;
  }
  for (o = rc ? NULL : xml_child(root, "Object"); o; o = xml_next(o))
    n++;
  if (rc || strcmp(root->name, "Delete") != 0 || n == 0 ||
      n > MAX_DELETE_KEYS) {
    fail_malformed_xml(c);
    goto out;
  }
  quiet_text = xml_child_text(root, "Quiet");
  quiet = quiet_text && strcmp(quiet_text, "true") == 0;
  rc = buf_adds(&x, XML_DECL "<DeleteResult xmlns=\"" XMLNS "\">");
  for (o = xml_child(root, "Object"); o && rc == 0; o = xml_next(o)) {
    const struct xml_node *k = xml_child(o, "Key");
    const char *key = k ? k->text : "";
    int src = s3store_key_check(key, k ? k->text_len : 0);

    if (src == 0)
      src = s3store_object_delete(c->s3, c->rt->bucket, key);
    if (src == 0 && quiet)
      continue;
    rc = buf_adds(&x, src ? "<Error>" : "<Deleted>");
    if (rc == 0)
      rc = xml_elem(&x, "Key", key);
    if (rc == 0 && src)
      rc = buf_addf(&x, "<Code>%s</Code><Message>%s</Message></Error>",
                    src == SR_EINVAL || src == SR_ETOOBIG ? "InvalidArgument"
                                                          : "InternalError",
                    src == SR_EINVAL || src == SR_ETOOBIG
                        ? "Invalid key"
                        : "We encountered an internal error. Please try "
                          "again.");
    else if (rc == 0)
      rc = buf_adds(&x, "</Deleted>");
  }
  if (rc == 0)
    rc = buf_adds(&x, "</DeleteResult>");
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
out:
  xml_free(root);
  buf_free(&x);
}

/* --- multipart --- */

static void op_create_multipart(struct call *c)
{
  struct s3store_put put = {NULL, NULL};
  char *headers = NULL, id[65];
  struct buf x;
  int rc;

  buf_init(&x, BUF_CAP_DEFAULT);
  if (need_bucket(c) || headers_collect(c, &headers))
    goto out;
  put.content_type = local_request_header(c->r, "content-type");
  put.headers = headers;
  rc = s3store_upload_create(c->s3, c->rt->bucket, c->rt->key, &put,
                             local_engine_now(c->e), id);
  if (rc == 0)
    rc = buf_adds(&x, XML_DECL "<InitiateMultipartUploadResult xmlns=\"" XMLNS
                               "\">");
  if (rc == 0)
    rc = xml_elem(&x, "Bucket", c->rt->bucket);
  if (rc == 0)
    rc = xml_elem(&x, "Key", c->rt->key);
  if (rc == 0)
    rc = buf_addf(&x,
                  "<UploadId>%s</UploadId>"
                  "</InitiateMultipartUploadResult>",
                  id);
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
out:
  free(headers);
  buf_free(&x);
}

/* A decimal in [lo, hi] from the whole of text, or -1. */
static long long number_in(const char *text, long long lo, long long hi)
{
  long long v = 0;

  if (text == NULL || *text == '\0')
    return -1;
  for (; *text; text++) {
    if (*text < '0' || *text > '9' || v > hi)
      return -1;
    v = v * 10 + (*text - '0');
  }
  return v < lo || v > hi ? -1 : v;
}

/* Checks the upload ID names an upload of this bucket and key; answers
 * and returns -1 when not. */
static int need_upload(struct call *c)
{
  const char *id = s3api_param(c->rt, "uploadId");
  int rc;

  if (need_bucket(c))
    return -1;
  rc = s3store_upload_get(c->s3, id, c->rt->bucket, c->rt->key, NULL);
  if (rc == 0)
    return 0;
  if (rc == SR_ENOENT)
    fail_no_upload(c);
  else
    fail_internal(c, rc);
  return -1;
}

static void op_upload_part(struct call *c)
{
  long long number =
      number_in(s3api_param(c->rt, "partNumber"), 1, S3STORE_MAX_PARTS);
  struct s3store_object o;
  unsigned char md5[16];
  int rc;

  memset(&o, 0, sizeof(o));
  if (number < 0) {
    fail_with(c, 400, "InvalidArgument", "ArgumentName", "partNumber",
              "Part number must be an integer between 1 and 10000, "
              "inclusive");
    return;
  }
  if (need_upload(c))
    return;
  if (c->r->upload == NULL) {
    fail_internal(c, SR_EINVAL);
    return;
  }
  rc = s3store_writer_md5(c->r->upload, md5);
  if (rc) {
    fail_internal(c, rc);
    return;
  }
  if (check_content_md5(c, md5))
    return;
  rc = s3store_part_commit(take_upload(c), s3api_param(c->rt, "uploadId"),
                           (int)number, local_engine_now(c->e), &o);
  if (rc == SR_ENOENT)
    fail_no_upload(c);
  else if (rc)
    fail_internal(c, rc);
  else
    local_response_header(c->resp, "ETag", o.etag);
}

struct part_want {
  int number;
  char etag[80];
};

/* The parts a CompleteMultipartUpload body lists, in its order. Returns
 * 0, SR_EPARSE for a body that does not validate, or SR_ENOMEM. */
static int complete_parts(const char *body, size_t len, struct part_want **out,
                          size_t *n)
{
  struct xml_node *root = NULL;
  const struct xml_node *p;
  struct part_want *parts = NULL;
  size_t count = 0, k = 0;
  int rc;

  *out = NULL;
  *n = 0;
  rc = xml_parse(body, len, &root);
  if (rc)
    return rc == SR_ENOMEM ? rc : SR_EPARSE;
  if (strcmp(root->name, "CompleteMultipartUpload") != 0)
    rc = SR_EPARSE;
  for (p = xml_child(root, "Part"); p && rc == 0; p = xml_next(p))
    count++;
  if (rc == 0 && (count == 0 || count > S3STORE_MAX_PARTS))
    rc = SR_EPARSE;
  if (rc == 0) {
    parts = calloc(count, sizeof(*parts));
    if (parts == NULL)
      rc = SR_ENOMEM;
  }
  for (p = xml_child(root, "Part"); p && rc == 0; p = xml_next(p), k++) {
    const char *etag = xml_child_text(p, "ETag");

    parts[k].number =
        (int)number_in(xml_child_text(p, "PartNumber"), 1, S3STORE_MAX_PARTS);
    if (parts[k].number < 0 || etag == NULL ||
        strlen(etag) >= sizeof(parts[k].etag))
      rc = SR_EPARSE;
    else
      memcpy(parts[k].etag, etag, strlen(etag) + 1);
  }
  xml_free(root);
  if (rc) {
    free(parts);
    return rc;
  }
  *out = parts;
  *n = count;
  return 0;
}

/* What is stored of each part, by number. */
struct part_have {
  long long size;
  char etag[48];
  int present;
};

static int part_have_cb(int number, const struct s3store_object *part,
                        void *arg)
{
  struct part_have *have = arg;

  if (number < 1 || number > S3STORE_MAX_PARTS)
    return 0;
  have[number].present = 1;
  have[number].size = part->size;
  snprintf(have[number].etag, sizeof(have[number].etag), "%s", part->etag);
  return 0;
}

static void op_complete_multipart(struct call *c)
{
  const char *id = s3api_param(c->rt, "uploadId");
  struct part_want *parts = NULL;
  size_t nparts = 0;
  struct part_have *have = NULL;
  struct s3store_object o;
  int *numbers = NULL, truncated, rc;
  char num[16];
  size_t i;
  struct buf x, loc;

  memset(&o, 0, sizeof(o));
  buf_init(&x, BUF_CAP_DEFAULT);
  buf_init(&loc, 16 * S3STORE_MAX_KEY);
  if (need_upload(c))
    goto out;
  rc = complete_parts(c->r->body, c->r->body_len, &parts, &nparts);
  if (rc == SR_ENOMEM) {
    fail_internal(c, rc);
    goto out;
  }
  if (rc) {
    fail_malformed_xml(c);
    goto out;
  }
  for (i = 1; i < nparts; i++)
    if (parts[i].number <= parts[i - 1].number) {
      fail_with(c, 400, "InvalidPartOrder", "UploadId", id,
                "The list of parts was not in ascending order. Parts must "
                "be ordered by part number.");
      goto out;
    }
  have = calloc(S3STORE_MAX_PARTS + 1, sizeof(*have));
  numbers = calloc(nparts, sizeof(*numbers));
  if (have == NULL || numbers == NULL) {
    fail_internal(c, SR_ENOMEM);
    goto out;
  }
  rc = s3store_part_list(c->s3, id, 0, S3STORE_MAX_PARTS, part_have_cb, have,
                         &truncated);
  if (rc) {
    fail_internal(c, rc);
    goto out;
  }
  for (i = 0; i < nparts; i++) {
    const struct part_want *w = &parts[i];
    const struct part_have *h = &have[w->number];

    snprintf(num, sizeof(num), "%d", w->number);
    if (!h->present || !etag_match(w->etag, h->etag) || strchr(w->etag, '*')) {
      fail_with(c, 400, "InvalidPart", "PartNumber", num,
                "One or more of the specified parts could not be found.  "
                "The part may not have been uploaded, or the specified "
                "entity tag may not match the part's entity tag.");
      goto out;
    }
    if (i + 1 < nparts && h->size < S3STORE_MIN_PART_SIZE) {
      fail_with(c, 400, "EntityTooSmall", "PartNumber", num,
                "Your proposed upload is smaller than the minimum allowed "
                "size");
      goto out;
    }
    numbers[i] = w->number;
  }
  rc = s3store_upload_complete(c->s3, id, c->rt->bucket, c->rt->key, numbers,
                               nparts, local_engine_now(c->e), &o);
  if (rc == SR_ENOENT) {
    fail_no_upload(c);
    goto out;
  }
  if (rc) {
    fail_internal(c, rc);
    goto out;
  }
  rc = buf_addf(&loc, "%s/%s/", local_engine_url(c->e), c->rt->bucket);
  if (rc == 0)
    rc = sigv4_uri_encode(&loc, c->rt->key, strlen(c->rt->key), 1);
  if (rc == 0)
    rc = buf_adds(&x, XML_DECL "<CompleteMultipartUploadResult xmlns=\"" XMLNS
                               "\">");
  if (rc == 0)
    rc = xml_elem(&x, "Location", buf_str(&loc));
  if (rc == 0)
    rc = xml_elem(&x, "Bucket", c->rt->bucket);
  if (rc == 0)
    rc = xml_elem(&x, "Key", c->rt->key);
  if (rc == 0)
    rc = xml_elem(&x, "ETag", o.etag);
  if (rc == 0)
    rc = buf_adds(&x, "</CompleteMultipartUploadResult>");
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
out:
  s3store_object_free(&o);
  free(parts);
  free(have);
  free(numbers);
  buf_free(&x);
  buf_free(&loc);
}

static void op_abort_multipart(struct call *c)
{
  int rc;

  if (need_upload(c))
    return;
  rc = s3store_upload_abort(c->s3, s3api_param(c->rt, "uploadId"));
  if (rc == SR_ENOENT)
    fail_no_upload(c);
  else if (rc)
    fail_internal(c, rc);
  else
    c->resp->status = 204;
}

struct parts_listing {
  struct buf *x;
  int last;
};

static int list_part_cb(int number, const struct s3store_object *part,
                        void *arg)
{
  struct parts_listing *l = arg;
  char when[32];
  int rc;

  iso8601(part->modified, when);
  l->last = number;
  rc = buf_addf(l->x,
                "<Part><PartNumber>%d</PartNumber>"
                "<LastModified>%s</LastModified>",
                number, when);
  if (rc == 0)
    rc = xml_elem(l->x, "ETag", part->etag);
  return rc ? rc : buf_addf(l->x, "<Size>%lld</Size></Part>", part->size);
}

static void op_list_parts(struct call *c)
{
  const char *id = s3api_param(c->rt, "uploadId");
  const char *max_text = s3api_param(c->rt, "max-parts");
  const char *marker_text = s3api_param(c->rt, "part-number-marker");
  long long max = max_text ? number_in(max_text, 0, 1LL << 31) : 1000;
  long long marker = marker_text ? number_in(marker_text, 0, 1LL << 31) : 0;
  struct buf x, parts;
  struct parts_listing l;
  int rc, truncated = 0;

  buf_init(&x, BUF_CAP_DEFAULT);
  buf_init(&parts, BUF_CAP_DEFAULT);
  if (max < 0 || marker < 0) {
    fail_with(c, 400, "InvalidArgument", "ArgumentName",
              max < 0 ? "max-parts" : "part-number-marker",
              "Provided %s not an integer or within integer range",
              max < 0 ? "max-parts" : "part-number-marker");
    goto out;
  }
  if (max > 1000)
    max = 1000;
  if (need_upload(c))
    goto out;
  l.x = &parts;
  l.last = (int)(marker > S3STORE_MAX_PARTS ? S3STORE_MAX_PARTS : marker);
  rc = s3store_part_list(c->s3, id, l.last, (int)max, list_part_cb, &l,
                         &truncated);
  if (rc == 0)
    rc = buf_adds(&x, XML_DECL "<ListPartsResult xmlns=\"" XMLNS "\">");
  if (rc == 0)
    rc = xml_elem(&x, "Bucket", c->rt->bucket);
  if (rc == 0)
    rc = xml_elem(&x, "Key", c->rt->key);
  if (rc == 0)
    rc = buf_addf(&x,
                  "<UploadId>%s</UploadId>"
                  "<PartNumberMarker>%lld</PartNumberMarker>"
                  "<NextPartNumberMarker>%d</NextPartNumberMarker>"
                  "<MaxParts>%lld</MaxParts>"
                  "<IsTruncated>%s</IsTruncated>"
                  "<StorageClass>STANDARD</StorageClass>",
                  id, marker, l.last, max, truncated ? "true" : "false");
  if (rc == 0)
    rc = buf_add(&x, buf_str(&parts), buf_len(&parts));
  if (rc == 0)
    rc = buf_adds(&x, "</ListPartsResult>");
  if (rc)
    fail_internal(c, rc);
  else
    answer_xml(c, 200, &x);
out:
  buf_free(&x);
  buf_free(&parts);
}

/* --- dispatch --- */

void s3api_handle(struct local_request *r, const struct s3api_route *rt,
                  struct local_response *resp)
{
  struct call c;

  c.r = r;
  c.rt = rt;
  c.resp = resp;
  c.s3 = r->s3;
  c.e = r->engine;
  c.failed = 0;
  resp->status = 200;
  switch (rt->op) {
  case S3API_BAD:
    s3api_error(resp, &rt->error, r->request_id,
                rt->key && rt->error.status == 400 ? "Key" : NULL, rt->key);
    return;
  case S3API_LIST_BUCKETS:
    op_list_buckets(&c);
    break;
  case S3API_CREATE_BUCKET:
    op_create_bucket(&c);
    break;
  case S3API_HEAD_BUCKET:
    op_head_bucket(&c);
    break;
  case S3API_DELETE_BUCKET:
    op_delete_bucket(&c);
    break;
  case S3API_LIST_OBJECTS:
    op_list_objects(&c, 0);
    break;
  case S3API_LIST_OBJECTS_V2:
    op_list_objects(&c, 1);
    break;
  case S3API_GET_BUCKET_LOCATION:
    op_get_bucket_location(&c);
    break;
  case S3API_DELETE_OBJECTS:
    op_delete_objects(&c);
    break;
  case S3API_PUT_OBJECT:
    op_put_object(&c);
    break;
  case S3API_COPY_OBJECT:
    op_copy_object(&c);
    break;
  case S3API_GET_OBJECT:
    op_get_object(&c);
    break;
  case S3API_HEAD_OBJECT:
    op_get_object(&c); /* MHD sends HEAD no body */
    break;
  case S3API_DELETE_OBJECT:
    op_delete_object(&c);
    break;
  case S3API_CREATE_MULTIPART:
    op_create_multipart(&c);
    break;
  case S3API_UPLOAD_PART:
    op_upload_part(&c);
    break;
  case S3API_COMPLETE_MULTIPART:
    op_complete_multipart(&c);
    break;
  case S3API_ABORT_MULTIPART:
    op_abort_multipart(&c);
    break;
  case S3API_LIST_PARTS:
    op_list_parts(&c);
    break;
  }
  /* Error answers carry these already (s3api_error). */
  if (!c.failed)
    common_headers(resp, r->request_id);
}
