/* S3 operations (s3.h) as REST-XML calls of the AWS client.
 *
 * An operation (struct s3_op) runs one call at a time, except a multipart
 * upload, which keeps up to `parallel` UploadPart calls in flight. Every
 * operation ends in op_finish, which runs the callback once and frees
 * it; since calls only call back from the loop, so do operations. */
#include "s3.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "error.h"
#include "sigv4.h"
#include "xml.h"

#define S3_NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define S3_MAX_PARTS 10000
#define S3_MAX_DELETE 1000
#define S3_PATH_CAP ((size_t)64 << 10)

enum s3_kind {
  S3_PUT,
  S3_GET,
  S3_HEAD,
  S3_LIST,
  S3_LIST_ALL,
  S3_DELETE,
  S3_DELETE_MANY,
  S3_CREATE_MPU,
  S3_UPLOAD_PART,
  S3_COMPLETE_MPU,
  S3_ABORT_MPU,
  S3_UPLOAD_FILE
};

struct s3_mpu_part {
  struct s3_op *op;
  int number;
  long long offset, len;
  struct aws_call *call;
  char *etag;
};

struct s3_op {
  struct aws_client *client;
  enum s3_kind kind;
  s3_done_cb cb;
  void *data;
  char *bucket, *key;
  struct aws_call *call; /* the one call in flight, but for parts */
  int canceled;
  long long sent; /* body bytes of an upload */
  /* Outputs. */
  char *etag, *content_type, *last_modified, *upload_id, *next_token;
  long long content_length;
  struct s3_object *objects;
  size_t nobjects, aobjects;
  char **prefixes;
  size_t nprefixes, aprefixes;
  struct s3_delete_error *errors;
  size_t nerrors;
  int truncated, pages;
  /* A failure kept for later: a multipart upload reports it after its
   * abort, a parse error after the call. */
  int error, http_status;
  char *error_code, *error_message, *request_id;
  /* s3_list_all: the request, for each page. */
  char *prefix, *delimiter, *start_after;
  int max_keys;
  /* s3_upload_file. */
  char *path, *upload_content_type;
  long long size, part_size;
  int parallel;
  struct s3_mpu_part *parts;
  size_t nparts, next, inflight, ndone;
  int aborting;
};

/* What one call sends. */
struct s3_req {
  const char *operation, *method;
  const char *key; /* NULL: the bucket itself */
  const char *query;
  struct http_header headers[4];
  size_t nheaders;
  const void *body;
  size_t body_len;
  const char *file;
  long long offset, len;
  const char *response_file;
  const char *content_type;
};

/* ---- URIs and addressing ----------------------------------------------- */

int s3_uri_parse(const char *uri, struct s3_uri *out)
{
  const char *b, *slash;

  out->bucket = out->key = NULL;
  if (uri == NULL || strncmp(uri, "s3://", 5) != 0)
    return SR_EINVAL;
  b = uri + 5;
  slash = strchr(b, '/');
  if (slash == b || *b == '\0')
    return SR_EINVAL;
  out->bucket = slash ? strndup(b, (size_t)(slash - b)) : strdup(b);
  out->key = strdup(slash ? slash + 1 : "");
  if (out->bucket == NULL || out->key == NULL) {
    s3_uri_free(out);
    return SR_ENOMEM;
  }
  return 0;
}

void s3_uri_free(struct s3_uri *u)
{
  free(u->bucket);
  free(u->key);
  u->bucket = u->key = NULL;
}

/* botocore's check_dns_name, without dots (they break TLS wildcards). */
static int dns_compatible(const char *bucket)
{
  size_t n = strlen(bucket), i;

  if (n < 3 || n > 63 || bucket[0] == '-' || bucket[n - 1] == '-')
    return 0;
  for (i = 0; i < n; i++) {
    char ch = bucket[i];

    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
      return 0;
  }
  return 1;
}

/* A host that cannot take a bucket label in front: an IP or localhost. */
static int host_is_literal(const char *endpoint)
{
  const char *h = endpoint ? strstr(endpoint, "://") : NULL;
  size_t n, i;

  if (h == NULL)
    return 1;
  h += 3;
  if (*h == '[')
    return 1;
  n = strcspn(h, ":/");
  if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
    return 1;
  for (i = 0; i < n; i++)
    if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
      return 0;
  return 1;
}

/* The path (and, virtual-host style, the host prefix) of bucket/key. */
static int s3_address(struct aws_client *c, const char *bucket, const char *key,
                      struct buf *path, struct buf *prefix)
{
  int path_style = aws_client_is_local(c) || !dns_compatible(bucket) ||
                   host_is_literal(aws_client_endpoint(c, "s3"));
  int rc = 0;

  if (path_style) {
    rc = buf_addc(path, '/');
    if (rc == 0)
      rc = sigv4_uri_encode(path, bucket, strlen(bucket), 0);
    if (rc == 0 && key)
      rc = buf_addc(path, '/');
  } else {
    rc = buf_addf(prefix, "%s.", bucket);
    if (rc == 0)
      rc = buf_addc(path, '/');
  }
  if (rc == 0 && key)
    rc = sigv4_uri_encode(path, key, strlen(key), 1);
  return rc;
}

/* ---- Small helpers ----------------------------------------------------- */

static int set_str(char **dst, const char *s)
{
  free(*dst);
  *dst = NULL;
  if (s == NULL)
    return 0;
  *dst = strdup(s);
  return *dst ? 0 : SR_ENOMEM;
}

static const char *resp_header(const struct http_response *res,
                               const char *name)
{
  size_t i;

  if (res == NULL)
    return NULL;
  for (i = 0; i < res->nheaders; i++)
    if (res->headers[i].name && strcasecmp(res->headers[i].name, name) == 0)
      return res->headers[i].value;
  return NULL;
}

static long long parse_ll(const char *s)
{
  char *end;
  long long v;

  if (s == NULL || *s == '\0')
    return -1;
  errno = 0;
  v = strtoll(s, &end, 10);
  return errno || *end != '\0' || v < 0 ? -1 : v;
}

/* Base64 of the body's MD5: Content-MD5 (out: 25 bytes). */
static int content_md5(const void *data, size_t len, char out[25])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;

  if (EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL) != 1 || mdlen != 16)
    return SR_EIO;
  EVP_EncodeBlock((unsigned char *)out, md, 16);
  return 0;
}

/* urllib's unquote_plus, in place: what encoding-type=url undoes. */
static void url_decode(char *s)
{
  char *w = s;

  for (; *s; s++) {
    if (*s == '+') {
      *w++ = ' ';
    } else if (*s == '%' && s[1] && s[2]) {
      char hex[3] = {s[1], s[2], 0}, *end;
      long v = strtol(hex, &end, 16);

      if (*end == '\0') {
        *w++ = (char)v;
        s += 2;
      } else {
        *w++ = *s;
      }
    } else {
      *w++ = *s;
    }
  }
  *w = '\0';
}

/* ---- Operations -------------------------------------------------------- */

static void op_free(struct s3_op *op)
{
  size_t i;

  free(op->bucket);
  free(op->key);
  free(op->etag);
  free(op->content_type);
  free(op->last_modified);
  free(op->upload_id);
  free(op->next_token);
  for (i = 0; i < op->nobjects; i++) {
    free(op->objects[i].key);
    free(op->objects[i].etag);
    free(op->objects[i].last_modified);
  }
  free(op->objects);
  for (i = 0; i < op->nprefixes; i++)
    free(op->prefixes[i]);
  free(op->prefixes);
  for (i = 0; i < op->nerrors; i++) {
    free(op->errors[i].key);
    free(op->errors[i].code);
    free(op->errors[i].message);
  }
  free(op->errors);
  free(op->error_code);
  free(op->error_message);
  free(op->request_id);
  free(op->prefix);
  free(op->delimiter);
  free(op->start_after);
  free(op->path);
  free(op->upload_content_type);
  for (i = 0; i < op->nparts; i++)
    free(op->parts[i].etag);
  free(op->parts);
  free(op);
}

static struct s3_op *op_new(struct aws_client *c, enum s3_kind kind,
                            const char *bucket, const char *key, s3_done_cb cb,
                            void *data)
{
  struct s3_op *op = calloc(1, sizeof(*op));

  if (op == NULL)
    return NULL;
  op->client = c;
  op->kind = kind;
  op->cb = cb;
  op->data = data;
  op->content_length = -1;
  op->bucket = strdup(bucket);
  op->key = key ? strdup(key) : NULL;
  if (op->bucket == NULL || (key && op->key == NULL)) {
    op_free(op);
    return NULL;
  }
  return op;
}

/* Keeps the outcome of a failed call for a later op_finish. */
static int op_keep_error(struct s3_op *op, const struct aws_result *ar)
{
  int rc;

  if (op->error)
    return 0; /* the first failure is the one to report */
  op->error = ar->error;
  op->http_status = ar->http_status;
  rc = set_str(&op->error_code, ar->error_code);
  if (rc == 0)
    rc = set_str(&op->error_message, ar->error_message);
  if (rc == 0)
    rc = set_str(&op->request_id, ar->request_id);
  return rc;
}

/* Runs the callback once with the operation's outcome and frees it. ar
 * is the deciding call's result, or NULL when a kept error decides. */
static void op_finish(struct s3_op *op, const struct aws_result *ar)
{
  struct s3_result r;

  memset(&r, 0, sizeof(r));
  if (op->error || ar == NULL) {
    r.error = op->error ? op->error : SR_EIO;
    r.http_status = op->http_status;
    r.error_code = op->error_code;
    r.error_message = op->error_message;
    r.request_id = op->request_id;
    r.aws = ar;
    if (ar && !op->http_status)
      r.http_status = ar->http_status;
    if (ar && !op->request_id)
      r.request_id = ar->request_id;
  } else {
    r.error = ar->error;
    r.http_status = ar->http_status;
    r.error_code = ar->error_code;
    r.error_message = ar->error_message;
    r.request_id = ar->request_id;
    r.aws = ar;
  }
  r.etag = op->etag;
  r.content_length = op->content_length;
  r.content_type = op->content_type;
  r.last_modified = op->last_modified;
  if (r.error == 0 && ar && ar->response && op->kind == S3_GET &&
      op->path == NULL)
    r.body = &ar->response->body;
  r.bytes = op->sent;
  r.upload_id = op->upload_id;
  r.parts = (int)op->nparts;
  r.objects = op->objects;
  r.nobjects = op->nobjects;
  r.prefixes = op->prefixes;
  r.nprefixes = op->nprefixes;
  r.truncated = op->truncated;
  r.next_token = op->next_token;
  r.pages = op->pages;
  r.errors = op->errors;
  r.nerrors = op->nerrors;
  op->cb(op, &r, op->data);
  op_free(op);
}

/* Starts one call of op. */
static int s3_call(struct s3_op *op, const struct s3_req *q, aws_done_cb cb,
                   void *data, struct aws_call **out)
{
  struct aws_call_opts o;
  struct buf path, prefix;
  int rc;

  buf_init(&path, S3_PATH_CAP);
  buf_init(&prefix, 256);
  rc = s3_address(op->client, op->bucket, q->key, &path, &prefix);
  if (rc)
    goto out;
  memset(&o, 0, sizeof(o));
  o.service = "s3";
  o.operation = q->operation;
  o.method = q->method;
  o.path = buf_str(&path);
  o.query = q->query;
  o.headers = q->headers;
  o.nheaders = q->nheaders;
  o.body = q->body;
  o.body_len = q->body_len;
  o.body_file = q->file;
  o.body_file_offset = q->offset;
  o.body_file_len = q->len;
  o.response_file = q->response_file;
  o.content_type = q->content_type;
  o.host_prefix = buf_len(&prefix) ? buf_str(&prefix) : NULL;
  rc = aws_call_start(op->client, &o, cb, data, out);
out:
  buf_free(&path);
  buf_free(&prefix);
  return rc;
}

/* The object metadata every object response carries. */
static int keep_object_headers(struct s3_op *op, const struct aws_result *ar)
{
  const struct http_response *res = ar->response;
  int rc;

  rc = set_str(&op->etag, resp_header(res, "etag"));
  if (rc == 0)
    rc = set_str(&op->content_type, resp_header(res, "content-type"));
  if (rc == 0)
    rc = set_str(&op->last_modified, resp_header(res, "last-modified"));
  op->content_length = parse_ll(resp_header(res, "content-length"));
  return rc;
}

static int list_add_object(struct s3_op *op, const struct xml_node *n,
                           int decode)
{
  const char *key = xml_child_text(n, "Key");
  struct s3_object *o;

  if (key == NULL)
    return SR_EPARSE;
  if (op->nobjects == op->aobjects) {
    size_t a = op->aobjects ? op->aobjects * 2 : 64;
    struct s3_object *p = realloc(op->objects, a * sizeof(*p));

    if (p == NULL)
      return SR_ENOMEM;
    op->objects = p;
    op->aobjects = a;
  }
  o = &op->objects[op->nobjects];
  memset(o, 0, sizeof(*o));
  o->key = strdup(key);
  o->etag = strdup(xml_child_text(n, "ETag") ? xml_child_text(n, "ETag") : "");
  o->last_modified = strdup(xml_child_text(n, "LastModified")
                                ? xml_child_text(n, "LastModified")
                                : "");
  o->size = parse_ll(xml_child_text(n, "Size"));
  if (o->key == NULL || o->etag == NULL || o->last_modified == NULL) {
    free(o->key);
    free(o->etag);
    free(o->last_modified);
    return SR_ENOMEM;
  }
  if (decode)
    url_decode(o->key);
  op->nobjects++;
  return 0;
}

static int list_add_prefix(struct s3_op *op, const char *prefix, int decode)
{
  char *p;

  if (op->nprefixes == op->aprefixes) {
    size_t a = op->aprefixes ? op->aprefixes * 2 : 16;
    char **np = realloc(op->prefixes, a * sizeof(*np));

    if (np == NULL)
      return SR_ENOMEM;
    op->prefixes = np;
    op->aprefixes = a;
  }
  p = strdup(prefix);
  if (p == NULL)
    return SR_ENOMEM;
  if (decode)
    url_decode(p);
  op->prefixes[op->nprefixes++] = p;
  return 0;
}

/* Adds one ListBucketResult page to op. */
static int parse_list(struct s3_op *op, const struct buf *body)
{
  struct xml_node *root = NULL;
  const struct xml_node *n;
  const char *s;
  int rc, decode;

  rc = xml_parse(buf_str(body), buf_len(body), &root);
  if (rc)
    return rc == SR_ENOMEM ? rc : SR_EPARSE;
  if (strcmp(root->name, "ListBucketResult") != 0) {
    rc = SR_EPARSE;
    goto out;
  }
  s = xml_child_text(root, "EncodingType");
  decode = s && strcmp(s, "url") == 0;
  for (n = xml_child(root, "Contents"); n && rc == 0; n = xml_next(n))
    rc = list_add_object(op, n, decode);
  for (n = xml_child(root, "CommonPrefixes"); n && rc == 0; n = xml_next(n)) {
    s = xml_child_text(n, "Prefix");
    if (s)
      rc = list_add_prefix(op, s, decode);
  }
  if (rc)
    goto out;
  s = xml_child_text(root, "IsTruncated");
  op->truncated = s && strcmp(s, "true") == 0;
  rc = set_str(&op->next_token, xml_child_text(root, "NextContinuationToken"));
  op->pages++;
out:
  xml_free(root);
  return rc;
}

static int parse_delete_result(struct s3_op *op, const struct buf *body)
{
  struct xml_node *root = NULL;
  const struct xml_node *n;
  size_t count = 0;
  int rc;

  if (buf_len(body) == 0)
    return 0;
  rc = xml_parse(buf_str(body), buf_len(body), &root);
  if (rc)
    return rc == SR_ENOMEM ? rc : SR_EPARSE;
  for (n = xml_child(root, "Error"); n; n = xml_next(n))
    count++;
  if (count) {
    op->errors = calloc(count, sizeof(*op->errors));
    if (op->errors == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
  }
  for (n = xml_child(root, "Error"); n; n = xml_next(n)) {
    struct s3_delete_error *e = &op->errors[op->nerrors++];
    const char *k = xml_child_text(n, "Key"), *c = xml_child_text(n, "Code");
    const char *m = xml_child_text(n, "Message");

    e->key = strdup(k ? k : "");
    e->code = strdup(c ? c : "");
    e->message = strdup(m ? m : "");
    if (e->key == NULL || e->code == NULL || e->message == NULL) {
      rc = SR_ENOMEM;
      goto out;
    }
  }
out:
  xml_free(root);
  return rc;
}

/* The text of the root's child name in an XML body, kept in *dst. */
static int parse_xml_field(const struct buf *body, const char *root_name,
                           const char *name, char **dst)
{
  struct xml_node *root = NULL;
  const char *s;
  int rc;

  rc = xml_parse(buf_str(body), buf_len(body), &root);
  if (rc)
    return rc == SR_ENOMEM ? rc : SR_EPARSE;
  s = xml_child_text(root, name);
  if (strcmp(root->name, root_name) != 0 || s == NULL)
    rc = SR_EPARSE;
  else
    rc = set_str(dst, s);
  xml_free(root);
  return rc;
}

int s3_parse_response(const char *operation, const void *body, size_t len,
                      s3_done_cb cb, void *data)
{
  struct s3_result r;
  struct s3_op *op;
  struct buf b;
  int rc;

  op = op_new(NULL, S3_LIST, "", NULL, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  buf_init(&b, BUF_CAP_DEFAULT);
  rc = buf_add(&b, body, len);
  if (rc) {
    op_free(op);
    buf_free(&b);
    return SR_ENOMEM;
  }
  if (strcmp(operation, "ListObjectsV2") == 0)
    rc = parse_list(op, &b);
  else if (strcmp(operation, "DeleteObjects") == 0)
    rc = parse_delete_result(op, &b);
  else if (strcmp(operation, "CreateMultipartUpload") == 0)
    rc = parse_xml_field(&b, "InitiateMultipartUploadResult", "UploadId",
                         &op->upload_id);
  else if (strcmp(operation, "CompleteMultipartUpload") == 0)
    rc =
        parse_xml_field(&b, "CompleteMultipartUploadResult", "ETag", &op->etag);
  else {
    op_free(op);
    buf_free(&b);
    return SR_EINVAL;
  }
  buf_free(&b);
  memset(&r, 0, sizeof(r));
  r.error = rc;
  r.content_length = -1;
  r.etag = op->etag;
  r.upload_id = op->upload_id;
  r.objects = op->objects;
  r.nobjects = op->nobjects;
  r.prefixes = op->prefixes;
  r.nprefixes = op->nprefixes;
  r.truncated = op->truncated;
  r.next_token = op->next_token;
  r.pages = op->pages;
  r.errors = op->errors;
  r.nerrors = op->nerrors;
  cb(NULL, &r, data);
  op_free(op);
  return 0;
}

static int list_query(const struct s3_op *op, const char *token, struct buf *q)
{
  int rc = buf_adds(q, "list-type=2&encoding-type=url");

#define S3_PARAM(name, value)                                                  \
  if (rc == 0 && (value)) {                                                    \
    rc = buf_adds(q, "&" name "=");                                            \
    if (rc == 0)                                                               \
      rc = sigv4_uri_encode(q, (value), strlen(value), 0);                     \
  }
  S3_PARAM("prefix", op->prefix)
  S3_PARAM("delimiter", op->delimiter)
  S3_PARAM("continuation-token", token)
  S3_PARAM("start-after", op->start_after)
#undef S3_PARAM
  if (rc == 0 && op->max_keys > 0)
    rc = buf_addf(q, "&max-keys=%d", op->max_keys);
  return rc;
}

static void on_simple_done(struct aws_call *call, const struct aws_result *ar,
                           void *data);

static int list_next_page(struct s3_op *op, const char *token)
{
  struct s3_req q;
  struct buf query;
  int rc;

  buf_init(&query, S3_PATH_CAP);
  rc = list_query(op, token, &query);
  if (rc == 0) {
    memset(&q, 0, sizeof(q));
    q.operation = "ListObjectsV2";
    q.method = "GET";
    q.query = buf_str(&query);
    rc = s3_call(op, &q, on_simple_done, op, &op->call);
  }
  buf_free(&query);
  return rc;
}

/* The end of a call for the operations of one call, and the pages of
 * s3_list_all. */
static void on_simple_done(struct aws_call *call, const struct aws_result *ar,
                           void *data)
{
  struct s3_op *op = data;
  int rc = 0;

  (void)call;
  op->call = NULL;
  if (ar->error) {
    op_finish(op, ar);
    return;
  }
  switch (op->kind) {
  case S3_PUT:
  case S3_HEAD:
  case S3_GET:
    rc = keep_object_headers(op, ar);
    if (op->kind == S3_GET)
      op->content_length = ar->response->body_bytes;
    break;
  case S3_UPLOAD_PART:
    rc = set_str(&op->etag, resp_header(ar->response, "etag"));
    if (rc == 0 && op->etag == NULL)
      rc = SR_EPARSE; /* a part without an ETag cannot be completed */
    break;
  case S3_LIST:
  case S3_LIST_ALL:
    rc = parse_list(op, &ar->response->body);
    if (rc == 0 && op->kind == S3_LIST_ALL && op->truncated) {
      if (op->next_token == NULL || *op->next_token == '\0') {
        rc = SR_EPARSE; /* truncated without a way on */
      } else if (op->canceled) {
        rc = SR_ECANCELED;
      } else {
        rc = list_next_page(op, op->next_token);
        if (rc == 0)
          return;
      }
    }
    if (rc == 0 && op->kind == S3_LIST_ALL) {
      op->truncated = 0;
      set_str(&op->next_token, NULL);
    }
    break;
  case S3_DELETE_MANY:
    rc = parse_delete_result(op, &ar->response->body);
    break;
  case S3_CREATE_MPU:
    rc = parse_xml_field(&ar->response->body, "InitiateMultipartUploadResult",
                         "UploadId", &op->upload_id);
    break;
  case S3_COMPLETE_MPU:
    rc = parse_xml_field(&ar->response->body, "CompleteMultipartUploadResult",
                         "ETag", &op->etag);
    break;
  default:
    break;
  }
  if (rc) {
    op_keep_error(op, ar);
    op->error = rc;
  }
  op_finish(op, ar);
}

/* Starts a one-call operation; on failure frees op. */
static int op_start(struct s3_op *op, const struct s3_req *q,
                    struct s3_op **out)
{
  int rc = s3_call(op, q, on_simple_done, op, &op->call);

  if (rc) {
    op_free(op);
    return rc;
  }
  if (out)
    *out = op;
  return 0;
}

static int check_names(const char *bucket, const char *key)
{
  if (bucket == NULL || *bucket == '\0' || (key && *key == '\0'))
    return SR_EINVAL;
  return 0;
}

int s3_put_object(struct aws_client *c, const struct s3_put_opts *o,
                  s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_req q;
  struct s3_op *op;
  char md5[25];
  int rc;

  if (out)
    *out = NULL;
  rc = check_names(o->bucket, o->key ? o->key : "");
  if (rc || o->key == NULL || cb == NULL)
    return SR_EINVAL;
  memset(&q, 0, sizeof(q));
  q.operation = "PutObject";
  q.method = "PUT";
  q.key = o->key;
  q.content_type = o->content_type;
  if (o->file) {
    q.file = o->file;
    q.offset = o->offset;
    q.len = o->len;
  } else {
    q.body = o->body;
    q.body_len = o->body_len;
    rc = content_md5(o->body ? o->body : "", o->body_len, md5);
    if (rc)
      return rc;
    q.headers[q.nheaders].name = "Content-MD5";
    q.headers[q.nheaders++].value = md5;
  }
  op = op_new(c, S3_PUT, o->bucket, o->key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  op->sent = o->file ? o->len : (long long)o->body_len;
  if (o->file && o->len < 0) {
    struct stat st;

    op->sent = stat(o->file, &st) == 0 ? (long long)st.st_size - o->offset : -1;
  }
  return op_start(op, &q, out);
}

int s3_get_object(struct aws_client *c, const struct s3_get_opts *o,
                  s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_req q;
  struct s3_op *op;
  char range[64];
  int rc;

  if (out)
    *out = NULL;
  rc = check_names(o->bucket, o->key ? o->key : "");
  if (rc || o->key == NULL || cb == NULL)
    return SR_EINVAL;
  memset(&q, 0, sizeof(q));
  q.operation = "GetObject";
  q.method = "GET";
  q.key = o->key;
  q.response_file = o->file;
  if (o->has_range) {
    if (o->range_first < 0 ||
        (o->range_last >= 0 && o->range_last < o->range_first))
      return SR_EINVAL;
    if (o->range_last >= 0)
      snprintf(range, sizeof(range), "bytes=%lld-%lld", o->range_first,
               o->range_last);
    else
      snprintf(range, sizeof(range), "bytes=%lld-", o->range_first);
    q.headers[q.nheaders].name = "Range";
    q.headers[q.nheaders++].value = range;
  }
  op = op_new(c, S3_GET, o->bucket, o->key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  if (o->file) {
    op->path = strdup(o->file);
    if (op->path == NULL) {
      op_free(op);
      return SR_ENOMEM;
    }
  }
  return op_start(op, &q, out);
}

int s3_download_file(struct aws_client *c, const char *bucket, const char *key,
                     const char *path, s3_done_cb cb, void *data,
                     struct s3_op **out)
{
  struct s3_get_opts o;

  if (path == NULL)
    return SR_EINVAL;
  memset(&o, 0, sizeof(o));
  o.bucket = bucket;
  o.key = key;
  o.file = path;
  return s3_get_object(c, &o, cb, data, out);
}

int s3_head_object(struct aws_client *c, const char *bucket, const char *key,
                   s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_req q;
  struct s3_op *op;

  if (out)
    *out = NULL;
  if (check_names(bucket, key ? key : "") || key == NULL || cb == NULL)
    return SR_EINVAL;
  memset(&q, 0, sizeof(q));
  q.operation = "HeadObject";
  q.method = "HEAD";
  q.key = key;
  op = op_new(c, S3_HEAD, bucket, key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  return op_start(op, &q, out);
}

static int list_start(struct aws_client *c, enum s3_kind kind,
                      const struct s3_list_opts *o, s3_done_cb cb, void *data,
                      struct s3_op **out)
{
  struct s3_op *op;
  int rc;

  if (out)
    *out = NULL;
  if (check_names(o->bucket, NULL) || cb == NULL || o->max_keys < 0)
    return SR_EINVAL;
  op = op_new(c, kind, o->bucket, NULL, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  op->max_keys = o->max_keys;
  rc = set_str(&op->prefix, o->prefix);
  if (rc == 0)
    rc = set_str(&op->delimiter, o->delimiter);
  if (rc == 0)
    rc = set_str(&op->start_after, o->start_after);
  if (rc == 0)
    rc = list_next_page(op, o->continuation_token);
  if (rc) {
    op_free(op);
    return rc;
  }
  if (out)
    *out = op;
  return 0;
}

int s3_list_objects(struct aws_client *c, const struct s3_list_opts *o,
                    s3_done_cb cb, void *data, struct s3_op **out)
{
  return list_start(c, S3_LIST, o, cb, data, out);
}

int s3_list_all(struct aws_client *c, const struct s3_list_opts *o,
                s3_done_cb cb, void *data, struct s3_op **out)
{
  return list_start(c, S3_LIST_ALL, o, cb, data, out);
}

int s3_delete_object(struct aws_client *c, const char *bucket, const char *key,
                     s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_req q;
  struct s3_op *op;

  if (out)
    *out = NULL;
  if (check_names(bucket, key ? key : "") || key == NULL || cb == NULL)
    return SR_EINVAL;
  memset(&q, 0, sizeof(q));
  q.operation = "DeleteObject";
  q.method = "DELETE";
  q.key = key;
  op = op_new(c, S3_DELETE, bucket, key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  return op_start(op, &q, out);
}

int s3_delete_objects(struct aws_client *c, const char *bucket,
                      const char *const *keys, size_t nkeys, s3_done_cb cb,
                      void *data, struct s3_op **out)
{
  struct s3_req q;
  struct s3_op *op;
  struct buf body;
  char md5[25];
  size_t i;
  int rc;

  if (out)
    *out = NULL;
  if (check_names(bucket, NULL) || nkeys == 0 || nkeys > S3_MAX_DELETE ||
      cb == NULL)
    return SR_EINVAL;
  buf_init(&body, BUF_CAP_DEFAULT);
  rc = buf_adds(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                       "<Delete xmlns=\"" S3_NS "\">");
  for (i = 0; i < nkeys && rc == 0; i++) {
    if (keys[i] == NULL || *keys[i] == '\0') {
      buf_free(&body);
      return SR_EINVAL;
    }
    rc = buf_adds(&body, "<Object><Key>");
    if (rc == 0)
      rc = xml_escape(&body, keys[i]);
    if (rc == 0)
      rc = buf_adds(&body, "</Key></Object>");
  }
  if (rc == 0)
    rc = buf_adds(&body, "<Quiet>true</Quiet></Delete>");
  /* S3 requires Content-MD5 (or a checksum) on DeleteObjects. */
  if (rc == 0)
    rc = content_md5(buf_str(&body), buf_len(&body), md5);
  if (rc)
    goto out;
  memset(&q, 0, sizeof(q));
  q.operation = "DeleteObjects";
  q.method = "POST";
  q.query = "delete";
  q.body = buf_str(&body);
  q.body_len = buf_len(&body);
  q.content_type = "application/xml";
  q.headers[q.nheaders].name = "Content-MD5";
  q.headers[q.nheaders++].value = md5;
  op = op_new(c, S3_DELETE_MANY, bucket, NULL, cb, data);
  rc = op ? op_start(op, &q, out) : SR_ENOMEM;
out:
  buf_free(&body);
  return rc;
}

int s3_create_multipart_upload(struct aws_client *c, const char *bucket,
                               const char *key, const char *content_type,
                               s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_req q;
  struct s3_op *op;

  if (out)
    *out = NULL;
  if (check_names(bucket, key ? key : "") || key == NULL || cb == NULL)
    return SR_EINVAL;
  memset(&q, 0, sizeof(q));
  q.operation = "CreateMultipartUpload";
  q.method = "POST";
  q.key = key;
  q.query = "uploads";
  q.content_type = content_type;
  op = op_new(c, S3_CREATE_MPU, bucket, key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  return op_start(op, &q, out);
}

/* "partNumber=N&uploadId=U" or "uploadId=U". */
static int upload_query(struct buf *q, int part, const char *upload_id)
{
  int rc = 0;

  if (part > 0)
    rc = buf_addf(q, "partNumber=%d&", part);
  if (rc == 0)
    rc = buf_adds(q, "uploadId=");
  if (rc == 0)
    rc = sigv4_uri_encode(q, upload_id, strlen(upload_id), 0);
  return rc;
}

/* The UploadPart request of a file region. */
static int part_call(struct s3_op *op, const char *upload_id, int number,
                     const char *file, long long offset, long long len,
                     aws_done_cb cb, void *data, struct aws_call **out)
{
  struct s3_req q;
  struct buf query;
  int rc;

  buf_init(&query, S3_PATH_CAP);
  rc = upload_query(&query, number, upload_id);
  if (rc == 0) {
    memset(&q, 0, sizeof(q));
    q.operation = "UploadPart";
    q.method = "PUT";
    q.key = op->key;
    q.query = buf_str(&query);
    q.file = file;
    q.offset = offset;
    q.len = len;
    rc = s3_call(op, &q, cb, data, out);
  }
  buf_free(&query);
  return rc;
}

int s3_upload_part(struct aws_client *c, const char *bucket, const char *key,
                   const char *upload_id, int part_number, const char *file,
                   long long offset, long long len, s3_done_cb cb, void *data,
                   struct s3_op **out)
{
  struct s3_op *op;
  int rc;

  if (out)
    *out = NULL;
  if (check_names(bucket, key ? key : "") || key == NULL || cb == NULL ||
      upload_id == NULL || *upload_id == '\0' || part_number < 1 ||
      part_number > S3_MAX_PARTS || file == NULL || offset < 0 || len < -1)
    return SR_EINVAL;
  op = op_new(c, S3_UPLOAD_PART, bucket, key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  op->sent = len;
  rc = part_call(op, upload_id, part_number, file, offset, len, on_simple_done,
                 op, &op->call);
  if (rc) {
    op_free(op);
    return rc;
  }
  if (out)
    *out = op;
  return 0;
}

/* The CompleteMultipartUpload request; parts in ascending order. */
static int complete_call(struct s3_op *op, const char *upload_id,
                         const struct s3_part *parts, size_t nparts,
                         aws_done_cb cb, void *data, struct aws_call **out)
{
  struct buf body, query;
  struct s3_req q;
  size_t i;
  int rc;

  buf_init(&body, BUF_CAP_DEFAULT);
  buf_init(&query, S3_PATH_CAP);
  rc = upload_query(&query, 0, upload_id);
  if (rc == 0)
    rc = buf_adds(&body, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                         "<CompleteMultipartUpload xmlns=\"" S3_NS "\">");
  for (i = 0; i < nparts && rc == 0; i++) {
    if (parts[i].etag == NULL || parts[i].number < 1 ||
        (i > 0 && parts[i].number <= parts[i - 1].number)) {
      rc = SR_EINVAL;
      break;
    }
    rc = buf_addf(&body, "<Part><PartNumber>%d</PartNumber><ETag>",
                  parts[i].number);
    if (rc == 0)
      rc = xml_escape(&body, parts[i].etag);
    if (rc == 0)
      rc = buf_adds(&body, "</ETag></Part>");
  }
  if (rc == 0)
    rc = buf_adds(&body, "</CompleteMultipartUpload>");
  if (rc == 0) {
    memset(&q, 0, sizeof(q));
    q.operation = "CompleteMultipartUpload";
    q.method = "POST";
    q.key = op->key;
    q.query = buf_str(&query);
    q.body = buf_str(&body);
    q.body_len = buf_len(&body);
    q.content_type = "application/xml";
    rc = s3_call(op, &q, cb, data, out);
  }
  buf_free(&body);
  buf_free(&query);
  return rc;
}

int s3_complete_multipart_upload(struct aws_client *c, const char *bucket,
                                 const char *key, const char *upload_id,
                                 const struct s3_part *parts, size_t nparts,
                                 s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_op *op;
  int rc;

  if (out)
    *out = NULL;
  if (check_names(bucket, key ? key : "") || key == NULL || cb == NULL ||
      upload_id == NULL || *upload_id == '\0' || nparts == 0 ||
      nparts > S3_MAX_PARTS)
    return SR_EINVAL;
  op = op_new(c, S3_COMPLETE_MPU, bucket, key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  rc = complete_call(op, upload_id, parts, nparts, on_simple_done, op,
                     &op->call);
  if (rc) {
    op_free(op);
    return rc;
  }
  if (out)
    *out = op;
  return 0;
}

static int abort_call(struct s3_op *op, const char *upload_id, aws_done_cb cb,
                      void *data, struct aws_call **out)
{
  struct buf query;
  struct s3_req q;
  int rc;

  buf_init(&query, S3_PATH_CAP);
  rc = upload_query(&query, 0, upload_id);
  if (rc == 0) {
    memset(&q, 0, sizeof(q));
    q.operation = "AbortMultipartUpload";
    q.method = "DELETE";
    q.key = op->key;
    q.query = buf_str(&query);
    rc = s3_call(op, &q, cb, data, out);
  }
  buf_free(&query);
  return rc;
}

int s3_abort_multipart_upload(struct aws_client *c, const char *bucket,
                              const char *key, const char *upload_id,
                              s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_op *op;
  int rc;

  if (out)
    *out = NULL;
  if (check_names(bucket, key ? key : "") || key == NULL || cb == NULL ||
      upload_id == NULL || *upload_id == '\0')
    return SR_EINVAL;
  op = op_new(c, S3_ABORT_MPU, bucket, key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  rc = abort_call(op, upload_id, on_simple_done, op, &op->call);
  if (rc) {
    op_free(op);
    return rc;
  }
  if (out)
    *out = op;
  return 0;
}

/* ---- s3_upload_file ---------------------------------------------------- */

static void mpu_pump(struct s3_op *op);

static void on_mpu_aborted(struct aws_call *call, const struct aws_result *ar,
                           void *data)
{
  struct s3_op *op = data;

  (void)call;
  (void)ar; /* the failure that led here is what the caller hears */
  op->call = NULL;
  op_finish(op, NULL);
}

/* After a failure, once nothing is in flight: abort, then report. */
static void mpu_abort(struct s3_op *op)
{
  int rc;

  if (op->aborting)
    return;
  op->aborting = 1;
  rc = abort_call(op, op->upload_id, on_mpu_aborted, op, &op->call);
  if (rc)
    op_finish(op, NULL); /* in a call's callback: the loop */
}

static void mpu_fail(struct s3_op *op, int error)
{
  size_t i;

  if (op->error == 0)
    op->error = error;
  for (i = 0; i < op->nparts; i++)
    if (op->parts[i].call)
      aws_call_cancel(op->parts[i].call);
}

static void on_mpu_completed(struct aws_call *call, const struct aws_result *ar,
                             void *data)
{
  struct s3_op *op = data;
  int rc;

  (void)call;
  op->call = NULL;
  if (ar->error) {
    op_keep_error(op, ar);
    mpu_abort(op);
    return;
  }
  rc = parse_xml_field(&ar->response->body, "CompleteMultipartUploadResult",
                       "ETag", &op->etag);
  if (rc) {
    op_keep_error(op, ar);
    op->error = rc;
    mpu_abort(op);
    return;
  }
  op_finish(op, ar);
}

static void mpu_complete(struct s3_op *op)
{
  struct s3_part *parts;
  size_t i;
  int rc;

  parts = calloc(op->nparts, sizeof(*parts));
  if (parts == NULL) {
    op->error = SR_ENOMEM;
    mpu_abort(op);
    return;
  }
  for (i = 0; i < op->nparts; i++) {
    parts[i].number = op->parts[i].number;
    parts[i].etag = op->parts[i].etag;
  }
  rc = complete_call(op, op->upload_id, parts, op->nparts, on_mpu_completed, op,
                     &op->call);
  free(parts);
  if (rc) {
    op->error = rc;
    mpu_abort(op);
  }
}

static void on_part_done(struct aws_call *call, const struct aws_result *ar,
                         void *data)
{
  struct s3_mpu_part *p = data;
  struct s3_op *op = p->op;
  const char *etag;

  (void)call;
  p->call = NULL;
  op->inflight--;
  if (ar->error) {
    op_keep_error(op, ar);
    mpu_fail(op, ar->error);
  } else {
    etag = resp_header(ar->response, "etag");
    if (etag == NULL) {
      op_keep_error(op, ar);
      mpu_fail(op, SR_EPARSE);
    } else if (set_str(&p->etag, etag)) {
      mpu_fail(op, SR_ENOMEM);
    } else {
      op->ndone++;
      op->sent += p->len;
    }
  }
  mpu_pump(op);
}

/* Keeps up to `parallel` parts in flight; completes or aborts when none
 * is left. */
static void mpu_pump(struct s3_op *op)
{
  struct s3_mpu_part *p;
  int rc;

  while (!op->error && op->inflight < (size_t)op->parallel &&
         op->next < op->nparts) {
    p = &op->parts[op->next++];
    rc = part_call(op, op->upload_id, p->number, op->path, p->offset, p->len,
                   on_part_done, p, &p->call);
    if (rc) {
      mpu_fail(op, rc);
      break;
    }
    op->inflight++;
  }
  if (op->inflight)
    return;
  if (op->error)
    mpu_abort(op);
  else if (op->ndone == op->nparts)
    mpu_complete(op);
}

static void on_mpu_created(struct aws_call *call, const struct aws_result *ar,
                           void *data)
{
  struct s3_op *op = data;
  int rc;

  (void)call;
  op->call = NULL;
  if (ar->error) {
    op_finish(op, ar);
    return;
  }
  rc = parse_xml_field(&ar->response->body, "InitiateMultipartUploadResult",
                       "UploadId", &op->upload_id);
  if (rc) {
    op_keep_error(op, ar);
    op->error = rc;
    op_finish(op, NULL);
    return;
  }
  if (op->canceled) {
    op->error = SR_ECANCELED;
    mpu_abort(op);
    return;
  }
  mpu_pump(op);
}

int s3_upload_file(struct aws_client *c, const struct s3_upload_opts *o,
                   s3_done_cb cb, void *data, struct s3_op **out)
{
  struct s3_op *op;
  struct s3_req q;
  struct stat st;
  long long part_size = o->part_size > 0 ? o->part_size : S3_DEFAULT_PART_SIZE;
  size_t i;
  int rc;

  if (out)
    *out = NULL;
  if (check_names(o->bucket, o->key ? o->key : "") || o->key == NULL ||
      o->path == NULL || cb == NULL || o->part_size < 0 || o->parallel < 0)
    return SR_EINVAL;
  if (stat(o->path, &st) != 0)
    return errno == ENOENT ? SR_ENOENT : SR_EIO;
  if (!S_ISREG(st.st_mode))
    return SR_EINVAL;
  op = op_new(c, S3_UPLOAD_FILE, o->bucket, o->key, cb, data);
  if (op == NULL)
    return SR_ENOMEM;
  op->size = (long long)st.st_size;
  op->parallel = o->parallel > 0 ? o->parallel : S3_DEFAULT_PARALLEL;
  rc = set_str(&op->path, o->path);
  if (rc == 0)
    rc = set_str(&op->upload_content_type, o->content_type);
  if (rc)
    goto fail;
  memset(&q, 0, sizeof(q));
  if (op->size < part_size) {
    /* One request; the op reads as a PutObject from here on. */
    op->kind = S3_PUT;
    op->sent = op->size;
    q.operation = "PutObject";
    q.method = "PUT";
    q.key = op->key;
    q.file = op->path;
    q.offset = 0;
    q.len = op->size;
    q.content_type = op->upload_content_type;
    rc = s3_call(op, &q, on_simple_done, op, &op->call);
    if (rc)
      goto fail;
    /* s3_result.body is for downloads only. */
    free(op->path);
    op->path = NULL;
    if (out)
      *out = op;
    return 0;
  }
  if ((op->size + part_size - 1) / part_size > S3_MAX_PARTS)
    part_size = (op->size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
  op->part_size = part_size;
  op->nparts = (size_t)((op->size + part_size - 1) / part_size);
  op->parts = calloc(op->nparts, sizeof(*op->parts));
  if (op->parts == NULL) {
    rc = SR_ENOMEM;
    goto fail;
  }
  for (i = 0; i < op->nparts; i++) {
    op->parts[i].op = op;
    op->parts[i].number = (int)i + 1;
    op->parts[i].offset = (long long)i * part_size;
    op->parts[i].len = op->size - op->parts[i].offset < part_size
                           ? op->size - op->parts[i].offset
                           : part_size;
  }
  q.operation = "CreateMultipartUpload";
  q.method = "POST";
  q.key = op->key;
  q.query = "uploads";
  q.content_type = op->upload_content_type;
  rc = s3_call(op, &q, on_mpu_created, op, &op->call);
  if (rc)
    goto fail;
  if (out)
    *out = op;
  return 0;
fail:
  op_free(op);
  return rc;
}

void s3_op_cancel(struct s3_op *op)
{
  if (op == NULL || op->canceled)
    return;
  op->canceled = 1;
  if (op->kind == S3_UPLOAD_FILE) {
    if (op->aborting)
      return; /* cleaning up already; the abort is not canceled */
    if (op->nparts && op->upload_id && op->call == NULL) {
      mpu_fail(op, SR_ECANCELED); /* parts in flight */
      return;
    }
    if (op->error == 0)
      op->error = SR_ECANCELED;
  }
  if (op->call)
    aws_call_cancel(op->call);
}
