/* S3 operations: URIs, request shapes through the recorder (addressing,
 * Range, Content-MD5, listing pages, DeleteObjects, the multipart flow
 * and its abort), and round trips against the HTTP test server. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/aws.h"
#include "../runner/error.h"
#include "../runner/s3.h"
#include "../runner/xml.h"
#include "test.h"

/* ---- A recorder that plays a small S3 ---------------------------------- */

struct s3rec {
  struct aws_recorder base;
  json_t *log;
  int fail_part;        /* UploadPart of this number answers 500 */
  int complete_200;     /* CompleteMultipartUpload: 200 <Error> this often */
  int part_backoff;     /* UploadPart answers 503 (to cancel in a backoff) */
  const char *pages[3]; /* ListObjectsV2 bodies, in order */
  int npage;
  const char *body; /* GetObject/other bodies */
  int status;       /* for everything else; 0 = 200 */
};

static void add_header(struct http_response *res, const char *n, const char *v)
{
  struct http_header *h =
      realloc(res->headers, (res->nheaders + 1) * sizeof(*h));

  ASSERT(h != NULL);
  res->headers = h;
  h[res->nheaders].name = strdup(n);
  h[res->nheaders].value = strdup(v);
  res->nheaders++;
}

static int part_number(const char *url)
{
  const char *p = strstr(url, "partNumber=");

  return p ? (int)strtol(p + 11, NULL, 10) : 0;
}

static int s3rec_record(struct aws_recorder *r,
                        const struct aws_transport_request *req,
                        struct http_response *res)
{
  struct s3rec *s = (struct s3rec *)r;
  json_t *j = json_object(), *h = json_object();
  char etag[64];
  size_t i;
  int n;

  json_object_set_new(j, "operation", json_string(req->operation));
  json_object_set_new(j, "method", json_string(req->method));
  json_object_set_new(j, "url", json_string(req->url));
  for (i = 0; i < req->nheaders; i++)
    json_object_set_new(h, req->headers[i].name,
                        json_string(req->headers[i].value));
  json_object_set_new(j, "headers", h);
  if (req->body)
    json_object_set_new(j, "body",
                        json_stringn((const char *)req->body, req->body_len));
  if (req->body_file) {
    json_object_set_new(j, "file", json_string(req->body_file));
    json_object_set_new(j, "offset", json_integer(req->body_file_offset));
    json_object_set_new(j, "len", json_integer(req->body_file_len));
  }
  json_array_append_new(s->log, j);
  res->status = s->status ? s->status : 200;
  add_header(res, "x-amz-request-id", "S3REQ");
  if (strcmp(req->operation, "CreateMultipartUpload") == 0)
    return buf_adds(&res->body,
                    "<InitiateMultipartUploadResult xmlns=\"http://s3."
                    "amazonaws.com/doc/2006-03-01/\"><Bucket>b</Bucket>"
                    "<Key>k</Key><UploadId>up/1+x</UploadId>"
                    "</InitiateMultipartUploadResult>");
  if (strcmp(req->operation, "UploadPart") == 0) {
    n = part_number(req->url);
    if (s->part_backoff || n == s->fail_part) {
      res->status = s->part_backoff ? 503 : 500;
      return buf_adds(&res->body, "<Error><Code>InternalError</Code>"
                                  "<Message>boom</Message></Error>");
    }
    snprintf(etag, sizeof(etag), "\"etag-%d\"", n);
    add_header(res, "ETag", etag);
    return 0;
  }
  if (strcmp(req->operation, "CompleteMultipartUpload") == 0) {
    if (s->complete_200 > 0) {
      s->complete_200--;
      return buf_adds(&res->body, "<Error><Code>InternalError</Code>"
                                  "<Message>later</Message></Error>");
    }
    return buf_adds(&res->body, "<CompleteMultipartUploadResult><ETag>"
                                "&quot;whole-3&quot;</ETag>"
                                "</CompleteMultipartUploadResult>");
  }
  if (strcmp(req->operation, "AbortMultipartUpload") == 0) {
    res->status = 204;
    return 0;
  }
  if (strcmp(req->operation, "ListObjectsV2") == 0)
    return buf_adds(&res->body, s->pages[s->npage++]);
  if (strcmp(req->operation, "PutObject") == 0 ||
      strcmp(req->operation, "HeadObject") == 0 ||
      strcmp(req->operation, "GetObject") == 0) {
    add_header(res, "ETag", "\"abc\"");
    add_header(res, "Content-Type", "text/plain");
    add_header(res, "Content-Length", "11");
    add_header(res, "Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT");
  }
  return s->body ? buf_adds(&res->body, s->body) : 0;
}

static void s3rec_init(struct s3rec *s)
{
  memset(s, 0, sizeof(*s));
  s->base.record = s3rec_record;
  s->log = json_array();
}

static double zero_random(void *data)
{
  (void)data;
  return 0;
}

static double slow_random(void *data)
{
  (void)data;
  return 0.99;
}

static struct aws_client *client(uv_loop_t *loop, struct s3rec *r,
                                 const char *local_url)
{
  struct aws_client_opts o;
  struct aws_client *c = NULL;

  memset(&o, 0, sizeof(o));
  o.loop = loop;
  o.region = "us-east-1";
  o.local_url = local_url;
  o.recorder = &r->base;
  o.random = zero_random;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  return c;
}

static void on_closed(void *data)
{
  (*(int *)data)++;
}

static void finish(uv_loop_t *loop, struct aws_client *c)
{
  int closed = 0;

  aws_client_close(c, on_closed, &closed);
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, closed);
  ASSERT_EQ(0, uv_loop_close(loop));
}

struct result {
  int called, error, status, parts, pages;
  char *code, *etag, *body, *upload_id, *content_type;
  long long content_length, bytes;
  json_t *keys; /* ListObjectsV2: [[key, size, etag]...]; prefixes */
  json_t *prefixes;
  json_t *errors;
};

static void result_free(struct result *o);

/* Keeps the last outcome and counts them all. */
static void on_s3(struct s3_op *op, const struct s3_result *r, void *data)
{
  struct result *o = data;
  int called = o->called;
  size_t i;

  (void)op;
  result_free(o);
  o->called = called + 1;
  o->error = r->error;
  o->status = r->http_status;
  o->parts = r->parts;
  o->pages = r->pages;
  o->code = r->error_code ? strdup(r->error_code) : NULL;
  o->etag = r->etag ? strdup(r->etag) : NULL;
  if (r->body) {
    o->body = malloc(buf_len(r->body) + 1);
    ASSERT(o->body != NULL);
    memcpy(o->body, buf_str(r->body), buf_len(r->body) + 1);
  }
  o->upload_id = r->upload_id ? strdup(r->upload_id) : NULL;
  o->content_type = r->content_type ? strdup(r->content_type) : NULL;
  o->content_length = r->content_length;
  o->bytes = r->bytes;
  o->keys = json_array();
  for (i = 0; i < r->nobjects; i++)
    json_array_append_new(o->keys, json_pack("[s,I,s]", r->objects[i].key,
                                             (json_int_t)r->objects[i].size,
                                             r->objects[i].etag));
  o->prefixes = json_array();
  for (i = 0; i < r->nprefixes; i++)
    json_array_append_new(o->prefixes, json_string(r->prefixes[i]));
  o->errors = json_array();
  for (i = 0; i < r->nerrors; i++)
    json_array_append_new(
        o->errors, json_pack("[s,s]", r->errors[i].key, r->errors[i].code));
}

static void result_free(struct result *o)
{
  free(o->code);
  free(o->etag);
  free(o->body);
  free(o->upload_id);
  free(o->content_type);
  json_decref(o->keys);
  json_decref(o->prefixes);
  json_decref(o->errors);
  memset(o, 0, sizeof(*o));
}

static const char *log_str(struct s3rec *r, size_t i, const char *key)
{
  return json_string_value(json_object_get(json_array_get(r->log, i), key));
}

static const char *log_header(struct s3rec *r, size_t i, const char *name)
{
  json_t *h = json_object_get(json_array_get(r->log, i), "headers");
  const char *k;
  json_t *v;

  json_object_foreach(h, k, v)
  {
    if (strcasecmp(k, name) == 0)
      return json_string_value(v);
  }
  return NULL;
}

/* ---- URIs -------------------------------------------------------------- */

TEST(s3_uri_parse_forms)
{
  struct s3_uri u;

  ASSERT_EQ(0, s3_uri_parse("s3://bucket/a/b/c.csv", &u));
  ASSERT_STR_EQ("bucket", u.bucket);
  ASSERT_STR_EQ("a/b/c.csv", u.key);
  s3_uri_free(&u);
  ASSERT_EQ(0, s3_uri_parse("s3://gdelt-open-data", &u));
  ASSERT_STR_EQ("gdelt-open-data", u.bucket);
  ASSERT_STR_EQ("", u.key);
  s3_uri_free(&u);
  ASSERT_EQ(0, s3_uri_parse("s3://b/", &u));
  ASSERT_STR_EQ("", u.key);
  s3_uri_free(&u);
  ASSERT_EQ(SR_EINVAL, s3_uri_parse("s3://", &u));
  ASSERT_EQ(SR_EINVAL, s3_uri_parse("s3:///key", &u));
  ASSERT_EQ(SR_EINVAL, s3_uri_parse("https://b/k", &u));
  ASSERT_EQ(SR_EINVAL, s3_uri_parse("b/k", &u));
  ASSERT(u.bucket == NULL && u.key == NULL);
}

/* ---- Request shapes ---------------------------------------------------- */

TEST(s3_addressing_styles)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};

  uv_loop_init(&loop);
  s3rec_init(&r);
  c = client(&loop, &r, NULL);
  /* DNS-safe: virtual-host style; keys encoded once, '/' kept. */
  ASSERT_EQ(
      0, s3_head_object(c, "my-bucket", "dir/a key+x.csv", on_s3, &out, NULL));
  /* Dots, capitals, underscores: path-style. */
  ASSERT_EQ(0, s3_head_object(c, "my.bucket", "k", on_s3, &out, NULL));
  ASSERT_EQ(0, s3_head_object(c, "My_Bucket", "k", on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(3, out.called);
  ASSERT_STR_EQ("https://my-bucket.s3.us-east-1.amazonaws.com/"
                "dir/a%20key%2Bx.csv",
                log_str(&r, 0, "url"));
  ASSERT_STR_EQ("my-bucket.s3.us-east-1.amazonaws.com",
                log_header(&r, 0, "Host"));
  ASSERT_STR_EQ("HEAD", log_str(&r, 0, "method"));
  ASSERT_STR_EQ("https://s3.us-east-1.amazonaws.com/my.bucket/k",
                log_str(&r, 1, "url"));
  ASSERT_STR_EQ("s3.us-east-1.amazonaws.com", log_header(&r, 1, "Host"));
  ASSERT_STR_EQ("https://s3.us-east-1.amazonaws.com/My_Bucket/k",
                log_str(&r, 2, "url"));
  ASSERT_EQ(11, out.content_length);
  ASSERT_STR_EQ("\"abc\"", out.etag);
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);

  /* Target local: path-style always. */
  uv_loop_init(&loop);
  s3rec_init(&r);
  c = client(&loop, &r, "http://127.0.0.1:4566");
  ASSERT_EQ(0, s3_head_object(c, "my-bucket", "k", on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_STR_EQ("http://127.0.0.1:4566/my-bucket/k", log_str(&r, 0, "url"));
  ASSERT_STR_EQ("127.0.0.1:4566", log_header(&r, 0, "Host"));
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(s3_put_and_get_shapes)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};
  struct s3_put_opts p;
  struct s3_get_opts g;
  char path[512];
  char *text;

  uv_loop_init(&loop);
  s3rec_init(&r);
  c = client(&loop, &r, "http://127.0.0.1:4566");
  memset(&p, 0, sizeof(p));
  p.bucket = "b";
  p.key = "k.txt";
  p.body = "hello";
  p.body_len = 5;
  p.content_type = "text/plain";
  ASSERT_EQ(0, s3_put_object(c, &p, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_STR_EQ("\"abc\"", out.etag);
  ASSERT_EQ(5, out.bytes);
  ASSERT_STR_EQ("PUT", log_str(&r, 0, "method"));
  ASSERT_STR_EQ("hello", log_str(&r, 0, "body"));
  /* base64(md5("hello")) */
  ASSERT_STR_EQ("XUFAKrxLKna5cZ2REBfFkg==", log_header(&r, 0, "Content-MD5"));
  ASSERT_STR_EQ("text/plain", log_header(&r, 0, "Content-Type"));
  result_free(&out);

  /* From a file region: no Content-MD5 (it would need a second read). */
  p.body = NULL;
  p.body_len = 0;
  p.file = "/etc/hostname";
  p.offset = 1;
  p.len = 3;
  ASSERT_EQ(0, s3_put_object(c, &p, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_STR_EQ("/etc/hostname", log_str(&r, 1, "file"));
  ASSERT_EQ(1, json_integer_value(
                   json_object_get(json_array_get(r.log, 1), "offset")));
  ASSERT_EQ(
      3, json_integer_value(json_object_get(json_array_get(r.log, 1), "len")));
  ASSERT(log_header(&r, 1, "Content-MD5") == NULL);
  result_free(&out);

  /* GetObject with a range, to memory. */
  r.body = "hello world";
  memset(&g, 0, sizeof(g));
  g.bucket = "b";
  g.key = "k.txt";
  g.has_range = 1;
  g.range_first = 10;
  g.range_last = 19;
  ASSERT_EQ(0, s3_get_object(c, &g, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_STR_EQ("GET", log_str(&r, 2, "method"));
  ASSERT_STR_EQ("bytes=10-19", log_header(&r, 2, "Range"));
  ASSERT_STR_EQ("hello world", out.body);
  ASSERT_EQ(11, out.content_length);
  ASSERT_STR_EQ("text/plain", out.content_type);
  result_free(&out);
  g.range_last = -1;
  g.file = path;
  snprintf(path, sizeof(path), "%s/out.txt", test_tmpdir());
  ASSERT_EQ(0, s3_get_object(c, &g, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_STR_EQ("bytes=10-", log_header(&r, 3, "Range"));
  ASSERT(out.body == NULL);
  text = test_read_file(path, NULL);
  ASSERT_STR_EQ("hello world", text);
  free(text);
  result_free(&out);
  g.range_first = 5;
  g.range_last = 4;
  ASSERT_EQ(SR_EINVAL, s3_get_object(c, &g, on_s3, &out, NULL));
  ASSERT_EQ(SR_EINVAL, s3_head_object(c, "b", "", on_s3, &out, NULL));
  ASSERT_EQ(SR_EINVAL, s3_head_object(c, "", "k", on_s3, &out, NULL));
  ASSERT_EQ(0, out.called);

  /* DeleteObject. */
  ASSERT_EQ(0, s3_delete_object(c, "b", "k.txt", on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_STR_EQ("DELETE", log_str(&r, 4, "method"));
  ASSERT_STR_EQ("http://127.0.0.1:4566/b/k.txt", log_str(&r, 4, "url"));
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

static const char page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<Name>b</Name><Prefix>data%2F</Prefix><MaxKeys>2</MaxKeys>"
    "<EncodingType>url</EncodingType><KeyCount>2</KeyCount>"
    "<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>tok 1/+=</NextContinuationToken>"
    "<Contents><Key>data/a+b.csv</Key><LastModified>2014-11-21T19:40:05.000Z"
    "</LastModified><ETag>&quot;e1&quot;</ETag><Size>11</Size>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>data/c%26d.csv</Key><ETag>&quot;e2&quot;</ETag>"
    "<Size>22</Size></Contents>"
    "<CommonPrefixes><Prefix>data/sub%2F</Prefix></CommonPrefixes>"
    "</ListBucketResult>";
static const char page2[] =
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>"
    "<Contents><Key>data/z.csv</Key><ETag>&quot;e3&quot;</ETag>"
    "<Size>33</Size></Contents></ListBucketResult>";

TEST(s3_list_follows_pages)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};
  struct s3_list_opts o;
  char *keys;

  uv_loop_init(&loop);
  s3rec_init(&r);
  r.pages[0] = page1;
  r.pages[1] = page2;
  c = client(&loop, &r, NULL);
  memset(&o, 0, sizeof(o));
  o.bucket = "bucket-1";
  o.prefix = "data/";
  o.delimiter = "/";
  o.max_keys = 2;
  ASSERT_EQ(0, s3_list_all(c, &o, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(2, out.pages);
  ASSERT_EQ(2, (int)json_array_size(r.log));
  ASSERT_STR_EQ("https://bucket-1.s3.us-east-1.amazonaws.com/?list-type=2"
                "&encoding-type=url&prefix=data%2F&delimiter=%2F&max-keys=2",
                log_str(&r, 0, "url"));
  ASSERT_STR_EQ("https://bucket-1.s3.us-east-1.amazonaws.com/?list-type=2"
                "&encoding-type=url&prefix=data%2F&delimiter=%2F"
                "&continuation-token=tok%201%2F%2B%3D&max-keys=2",
                log_str(&r, 1, "url"));
  keys = json_dumps(out.keys, JSON_COMPACT);
  /* Decoded as botocore does (unquote_plus): '+' is a space. */
  ASSERT_STR_EQ("[[\"data/a b.csv\",11,\"\\\"e1\\\"\"],"
                "[\"data/c&d.csv\",22,\"\\\"e2\\\"\"],"
                "[\"data/z.csv\",33,\"\\\"e3\\\"\"]]",
                keys);
  free(keys);
  ASSERT_STR_EQ("data/sub/",
                json_string_value(json_array_get(out.prefixes, 0)));
  result_free(&out);

  /* One page only. */
  r.npage = 0;
  o.continuation_token = "abc";
  ASSERT_EQ(0, s3_list_objects(c, &o, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.pages);
  ASSERT_EQ(2, (int)json_array_size(out.keys));
  ASSERT_STR_EQ("https://bucket-1.s3.us-east-1.amazonaws.com/?list-type=2"
                "&encoding-type=url&prefix=data%2F&delimiter=%2F"
                "&continuation-token=abc&max-keys=2",
                log_str(&r, 2, "url"));
  result_free(&out);

  /* Not a listing: a parse error, once. */
  r.npage = 0;
  r.pages[0] = "<Nope/>";
  ASSERT_EQ(0, s3_list_all(c, &o, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_EPARSE, out.error);
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(s3_delete_objects_batch)
{
  static const char *const keys[] = {"a.csv", "b&<c>.csv", "d"};
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};
  unsigned char md[16];
  unsigned char b64[32];
  const char *body;
  const char *many[1001];
  char *dump;
  int i;

  uv_loop_init(&loop);
  s3rec_init(&r);
  r.body = "<DeleteResult><Error><Key>d</Key><Code>AccessDenied</Code>"
           "<Message>no</Message></Error></DeleteResult>";
  c = client(&loop, &r, "http://127.0.0.1:4566");
  ASSERT_EQ(0, s3_delete_objects(c, "b", keys, 3, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_STR_EQ("POST", log_str(&r, 0, "method"));
  ASSERT_STR_EQ("http://127.0.0.1:4566/b?delete", log_str(&r, 0, "url"));
  body = log_str(&r, 0, "body");
  ASSERT_CONTAINS(body, "<Object><Key>a.csv</Key></Object>");
  ASSERT_CONTAINS(body, "<Object><Key>b&amp;&lt;c&gt;.csv</Key></Object>");
  ASSERT_CONTAINS(body, "<Quiet>true</Quiet></Delete>");
  EVP_Digest(body, strlen(body), md, NULL, EVP_md5(), NULL);
  EVP_EncodeBlock(b64, md, 16);
  ASSERT_STR_EQ((char *)b64, log_header(&r, 0, "Content-MD5"));
  dump = json_dumps(out.errors, JSON_COMPACT);
  ASSERT_STR_EQ("[[\"d\",\"AccessDenied\"]]", dump);
  free(dump);
  result_free(&out);
  for (i = 0; i < 1001; i++)
    many[i] = "k";
  ASSERT_EQ(SR_EINVAL,
            s3_delete_objects(c, "b", many, 1001, on_s3, &out, NULL));
  ASSERT_EQ(SR_EINVAL, s3_delete_objects(c, "b", many, 0, on_s3, &out, NULL));
  json_decref(r.log);
  finish(&loop, c);
}

/* A file of n bytes in the test directory. */
static const char *make_file(const char *name, size_t n)
{
  static char path[512];
  FILE *f;
  size_t i;

  snprintf(path, sizeof(path), "%s/%s", test_tmpdir(), name);
  f = fopen(path, "wb");
  ASSERT(f != NULL);
  for (i = 0; i < n; i++)
    fputc((int)(i % 251), f);
  ASSERT_EQ(0, fclose(f));
  return path;
}

static int count_op(struct s3rec *r, const char *op)
{
  size_t i;
  int n = 0;

  for (i = 0; i < json_array_size(r->log); i++)
    n += strcmp(log_str(r, i, "operation"), op) == 0;
  return n;
}

static size_t find_op(struct s3rec *r, const char *op)
{
  size_t i;

  for (i = 0; i < json_array_size(r->log); i++)
    if (strcmp(log_str(r, i, "operation"), op) == 0)
      return i;
  test_fail(__FILE__, __LINE__, "no %s request", op);
}

TEST(s3_multipart_flow)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};
  struct s3_upload_opts u;
  const char *path = make_file("big.bin", 10);
  size_t i, complete;
  int seen[4] = {0};

  uv_loop_init(&loop);
  s3rec_init(&r);
  c = client(&loop, &r, "http://127.0.0.1:4566");
  memset(&u, 0, sizeof(u));
  u.bucket = "b";
  u.key = "data/big.bin";
  u.path = path;
  u.part_size = 4; /* 4 + 4 + 2 */
  u.parallel = 2;
  u.content_type = "application/octet-stream";
  ASSERT_EQ(0, s3_upload_file(c, &u, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(3, out.parts);
  ASSERT_EQ(10, out.bytes);
  ASSERT_STR_EQ("\"whole-3\"", out.etag);
  ASSERT_STR_EQ("CreateMultipartUpload", log_str(&r, 0, "operation"));
  ASSERT_STR_EQ("POST", log_str(&r, 0, "method"));
  ASSERT_STR_EQ("http://127.0.0.1:4566/b/data/big.bin?uploads",
                log_str(&r, 0, "url"));
  ASSERT_STR_EQ("application/octet-stream", log_header(&r, 0, "Content-Type"));
  ASSERT_EQ(3, count_op(&r, "UploadPart"));
  for (i = 1; i <= 3; i++) {
    json_t *e = json_array_get(r.log, i);
    int n = part_number(log_str(&r, i, "url"));

    ASSERT_STR_EQ("UploadPart", log_str(&r, i, "operation"));
    ASSERT_STR_EQ("PUT", log_str(&r, i, "method"));
    ASSERT(n >= 1 && n <= 3);
    seen[n]++;
    ASSERT_CONTAINS(log_str(&r, i, "url"), "uploadId=up%2F1%2Bx");
    ASSERT_STR_EQ(path, log_str(&r, i, "file"));
    ASSERT_EQ((n - 1) * 4, json_integer_value(json_object_get(e, "offset")));
    ASSERT_EQ(n == 3 ? 2 : 4, json_integer_value(json_object_get(e, "len")));
  }
  ASSERT(seen[1] == 1 && seen[2] == 1 && seen[3] == 1);
  complete = find_op(&r, "CompleteMultipartUpload");
  ASSERT_EQ(4, (int)complete);
  ASSERT_STR_EQ("http://127.0.0.1:4566/b/data/big.bin?uploadId=up%2F1%2Bx",
                log_str(&r, complete, "url"));
  ASSERT_CONTAINS(log_str(&r, complete, "body"),
                  "<Part><PartNumber>1</PartNumber><ETag>&quot;etag-1&quot;"
                  "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;"
                  "etag-2&quot;</ETag></Part><Part><PartNumber>3</PartNumber>"
                  "<ETag>&quot;etag-3&quot;</ETag></Part>"
                  "</CompleteMultipartUpload>");
  ASSERT_EQ(0, count_op(&r, "AbortMultipartUpload"));
  result_free(&out);

  /* Below the part size: one PutObject from the file. */
  json_array_clear(r.log);
  u.part_size = 0;
  ASSERT_EQ(0, s3_upload_file(c, &u, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(0, out.parts);
  ASSERT_EQ(1, (int)json_array_size(r.log));
  ASSERT_STR_EQ("PutObject", log_str(&r, 0, "operation"));
  ASSERT_STR_EQ(path, log_str(&r, 0, "file"));
  result_free(&out);

  /* A 200 OK <Error> on completion is retried, as botocore does. */
  json_array_clear(r.log);
  r.complete_200 = 1;
  u.part_size = 4;
  ASSERT_EQ(0, s3_upload_file(c, &u, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(2, count_op(&r, "CompleteMultipartUpload"));
  result_free(&out);
  ASSERT_EQ(SR_ENOENT,
            s3_upload_file(c,
                           &(struct s3_upload_opts){"b", "k", "/nonexistent/x",
                                                    0, 0, NULL},
                           on_s3, &out, NULL));
  json_decref(r.log);
  finish(&loop, c);
}

TEST(s3_multipart_aborts_on_failure)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};
  struct s3_upload_opts u;
  const char *path = make_file("big.bin", 20);
  size_t abort_at;

  uv_loop_init(&loop);
  s3rec_init(&r);
  r.fail_part = 2;
  c = client(&loop, &r, "http://127.0.0.1:4566");
  memset(&u, 0, sizeof(u));
  u.bucket = "b";
  u.key = "k";
  u.path = path;
  u.part_size = 4; /* five parts */
  u.parallel = 4;
  ASSERT_EQ(0, s3_upload_file(c, &u, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_STR_EQ("InternalError", out.code); /* the part's, not the abort's */
  ASSERT_EQ(500, out.status);
  ASSERT_EQ(0, count_op(&r, "CompleteMultipartUpload"));
  ASSERT_EQ(1, count_op(&r, "AbortMultipartUpload"));
  abort_at = find_op(&r, "AbortMultipartUpload");
  ASSERT_EQ(json_array_size(r.log) - 1, abort_at); /* last, after parts */
  ASSERT_STR_EQ("DELETE", log_str(&r, abort_at, "method"));
  ASSERT_STR_EQ("http://127.0.0.1:4566/b/k?uploadId=up%2F1%2Bx",
                log_str(&r, abort_at, "url"));
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

static void on_cancel_timer(uv_timer_t *t)
{
  s3_op_cancel(t->data);
  uv_close((uv_handle_t *)t, NULL);
}

TEST(s3_multipart_cancel_aborts)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct aws_client_opts o;
  struct result out = {0};
  struct s3_upload_opts u;
  struct s3_op *op = NULL;
  uv_timer_t t;

  uv_loop_init(&loop);
  s3rec_init(&r);
  r.part_backoff = 1; /* parts sit in a ~1 s backoff */
  memset(&o, 0, sizeof(o));
  o.loop = &loop;
  o.region = "us-east-1";
  o.local_url = "http://127.0.0.1:4566";
  o.recorder = &r.base;
  o.random = slow_random;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  memset(&u, 0, sizeof(u));
  u.bucket = "b";
  u.key = "k";
  u.path = make_file("big.bin", 12);
  u.part_size = 4;
  ASSERT_EQ(0, s3_upload_file(c, &u, on_s3, &out, &op));
  uv_timer_init(&loop, &t);
  t.data = op;
  uv_timer_start(&t, on_cancel_timer, 100, 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(1, out.called);
  ASSERT_EQ(SR_ECANCELED, out.error);
  ASSERT_EQ(3, count_op(&r, "UploadPart"));
  ASSERT_EQ(1, count_op(&r, "AbortMultipartUpload"));
  ASSERT_EQ(0, count_op(&r, "CompleteMultipartUpload"));
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

TEST(s3_errors_reach_the_result)
{
  uv_loop_t loop;
  struct s3rec r;
  struct aws_client *c;
  struct result out = {0};
  struct s3_get_opts g;

  uv_loop_init(&loop);
  s3rec_init(&r);
  r.status = 404;
  r.body = "<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>";
  c = client(&loop, &r, NULL);
  memset(&g, 0, sizeof(g));
  g.bucket = "b-1";
  g.key = "missing";
  ASSERT_EQ(0, s3_get_object(c, &g, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(404, out.status);
  ASSERT_STR_EQ("NoSuchKey", out.code);
  ASSERT(out.body == NULL);
  result_free(&out);
  json_decref(r.log);
  finish(&loop, c);
}

/* ---- The XML reader ---------------------------------------------------- */

TEST(s3_xml_reader)
{
  static const char doc[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/"
      "2006-03-01/\">\n  <s3:Name>b</s3:Name>\n"
      "  <s3:Contents><s3:Key> a &amp; b&#13;</s3:Key></s3:Contents>\n"
      "  <s3:Contents><s3:Key>c<![CDATA[<d>]]></s3:Key></s3:Contents>\n"
      "  <!-- a comment --><s3:Other a=\"1\"/>\n"
      "</s3:ListBucketResult>";
  struct xml_node *root = NULL;
  const struct xml_node *n;
  struct buf b;
  int count = 0;

  ASSERT_EQ(0, xml_parse(doc, strlen(doc), &root));
  ASSERT_STR_EQ("ListBucketResult", root->name);
  ASSERT_STR_EQ("b", xml_child_text(root, "Name"));
  n = xml_child(root, "Contents");
  ASSERT_STR_EQ(" a & b\r", xml_child_text(n, "Key")); /* kept as is */
  n = xml_next(n);
  ASSERT_STR_EQ("c<d>", xml_child_text(n, "Key"));
  ASSERT(xml_next(n) == NULL);
  for (n = xml_child(root, "Contents"); n; n = xml_next(n))
    count++;
  ASSERT_EQ(2, count);
  ASSERT_STR_EQ("", xml_child_text(root, "Other"));
  ASSERT(xml_child_text(root, "Missing") == NULL);
  ASSERT(xml_child(NULL, "Name") == NULL);
  xml_free(root);

  /* Refused: malformed, empty, a DTD (where entity bombs live). */
  ASSERT_EQ(SR_EPARSE, xml_parse("<a><b></a>", 10, &root));
  ASSERT(root == NULL);
  ASSERT_EQ(SR_EPARSE, xml_parse("", 0, &root));
  ASSERT_EQ(SR_EPARSE, xml_parse("<a>", 3, &root));
  {
    static const char bomb[] =
        "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;\">]><l>&b;</l>";

    ASSERT_EQ(SR_EPARSE, xml_parse(bomb, strlen(bomb), &root));
  }
  {
    struct buf deep;
    int i;

    buf_init(&deep, 1 << 20);
    for (i = 0; i < 100; i++)
      buf_adds(&deep, "<a>");
    for (i = 0; i < 100; i++)
      buf_adds(&deep, "</a>");
    ASSERT_EQ(SR_ETOOBIG, xml_parse(buf_str(&deep), buf_len(&deep), &root));
    buf_free(&deep);
  }

  /* Escaping round-trips through the parser. */
  buf_init(&b, 4096);
  ASSERT_EQ(0, buf_adds(&b, "<k>"));
  ASSERT_EQ(0, xml_escape(&b, "a&b<c>\"d'\te\r\nf"));
  ASSERT_EQ(0, buf_adds(&b, "</k>"));
  ASSERT_EQ(0, xml_parse(buf_str(&b), buf_len(&b), &root));
  ASSERT_STR_EQ("a&b<c>\"d'\te\r\nf", root->text);
  xml_free(root);
  buf_free(&b);
}

/* ---- Against the HTTP test server -------------------------------------- */

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int server_start(void)
{
  char bin[4096], port_file[4096];
  const char *sagerun = test_sagerun_bin(), *slash = strrchr(sagerun, '/');
  const char *argv[4];
  double deadline = now_ms() + 10000;
  char *text;
  int port;

  snprintf(bin, sizeof(bin), "%.*s/http-test-server",
           slash ? (int)(slash - sagerun) : 1, slash ? sagerun : ".");
  if (access(bin, X_OK) != 0)
    test_fail(__FILE__, __LINE__, "%s: not built (make %s)", bin, bin);
  snprintf(port_file, sizeof(port_file), "%s/http-port", test_tmpdir());
  argv[0] = bin;
  argv[1] = "--port-file";
  argv[2] = port_file;
  argv[3] = NULL;
  ASSERT(test_helper_spawn(argv) > 0);
  while ((text = test_read_file(port_file, NULL)) == NULL) {
    if (now_ms() > deadline)
      test_fail(__FILE__, __LINE__, "http-test-server wrote no port");
    nanosleep(&(struct timespec){0, 5000000}, NULL);
  }
  port = (int)strtol(text, NULL, 10);
  free(text);
  ASSERT(port > 0);
  return port;
}

/* Path-style against the server: bucket "bytes", key "N" is its
 * GET /bytes/N (N bytes, byte i = i % 251). */
TEST(s3_http_get_and_download)
{
  uv_loop_t loop;
  struct aws_client_opts o;
  struct aws_credentials creds = {"AKIDTEST", "SECRET", NULL, 0, "static"};
  struct aws_client *c = NULL;
  struct result out = {0};
  struct s3_get_opts g;
  char url[64], path[512];
  char *data;
  size_t len, i;

  snprintf(url, sizeof(url), "http://127.0.0.1:%d", server_start());
  uv_loop_init(&loop);
  memset(&o, 0, sizeof(o));
  o.loop = &loop;
  o.region = "us-east-1";
  o.local_url = url;
  o.credentials = &creds;
  ASSERT_EQ(0, aws_client_new(&o, &c));
  memset(&g, 0, sizeof(g));
  g.bucket = "bytes";
  g.key = "1000";
  ASSERT_EQ(0, s3_get_object(c, &g, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(200, out.status);
  ASSERT_EQ(1000, out.content_length);
  for (i = 0; i < 1000; i++)
    ASSERT_EQ(i % 251, (unsigned char)out.body[i]);
  result_free(&out);

  snprintf(path, sizeof(path), "%s/download.bin", test_tmpdir());
  ASSERT_EQ(0, s3_download_file(c, "bytes", "300000", path, on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(0, out.error);
  ASSERT_EQ(300000, out.content_length);
  data = test_read_file(path, &len);
  ASSERT(data != NULL);
  ASSERT_EQ(300000, len);
  for (i = 0; i < len; i++)
    if ((unsigned char)data[i] != i % 251)
      test_fail(__FILE__, __LINE__, "byte %zu differs", i);
  free(data);
  result_free(&out);

  /* HEAD of what is not there: no body, the status names the code. */
  ASSERT_EQ(0, s3_head_object(c, "status", "404", on_s3, &out, NULL));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(SR_EIO, out.error);
  ASSERT_EQ(404, out.status);
  ASSERT_STR_EQ("NotFound", out.code);
  result_free(&out);
  finish(&loop, c);
}
