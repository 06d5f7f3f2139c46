/* The local engine's core and S3: unit tests of the pieces (key checks,
 * ETags, ranges, error XML, listing, atomic writes, faults, credentials,
 * SigV4 verification), then the engine driven by clients nobody here
 * wrote: the AWS CLI (s3 mb, cp up and down with multipart, ls, sync, rm)
 * and boto3 (tests/peers/local_s3_boto3.py: refused and accepted
 * signatures, presigned URLs, virtual hosts, S3's rules), and an engine
 * killed with SIGKILL in the middle of an upload. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "../local/credentials.h"
#include "../local/faults.h"
#include "../local/s3api.h"
#include "../local/s3store.h"
#include "../local/verify.h"
#include "../runner/buf.h"
#include "../runner/error.h"
#include "../runner/sigv4.h"
#include "test.h"

#define AWS_CLI "/usr/bin/aws"
#define PEER_PYTHON "/usr/bin/python3"
#define MIB (1024 * 1024)

static void sleep_ms(long ms)
{
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* --- units --- */

TEST(local_s3_key_check)
{
  char long_key[S3STORE_MAX_KEY + 2];

  ASSERT_EQ(0, s3store_key_check("a", 1));
  ASSERT_EQ(0, s3store_key_check("../../etc/passwd", 16));
  ASSERT_EQ(0, s3store_key_check("/absolute", 9));
  ASSERT_EQ(0, s3store_key_check("\xc3\xbc", 2)); /* ü */
  ASSERT_EQ(SR_EINVAL, s3store_key_check("", 0));
  ASSERT_EQ(SR_EINVAL, s3store_key_check("a\0b", 3));
  ASSERT_EQ(SR_EINVAL, s3store_key_check("\xc0\xaf", 2));     /* overlong */
  ASSERT_EQ(SR_EINVAL, s3store_key_check("\xed\xa0\x80", 3)); /* surrogate */
  ASSERT_EQ(SR_EINVAL, s3store_key_check("\xff", 1));
  memset(long_key, 'k', sizeof(long_key));
  ASSERT_EQ(0, s3store_key_check(long_key, S3STORE_MAX_KEY));
  ASSERT_EQ(SR_ETOOBIG, s3store_key_check(long_key, S3STORE_MAX_KEY + 1));
  ASSERT_EQ(0, s3store_bucket_name_check("my-bucket.1"));
  ASSERT_EQ(SR_EINVAL, s3store_bucket_name_check("ab"));
  ASSERT_EQ(SR_EINVAL, s3store_bucket_name_check("Upper"));
  ASSERT_EQ(SR_EINVAL, s3store_bucket_name_check("a..b"));
  ASSERT_EQ(SR_EINVAL, s3store_bucket_name_check("-ab"));
  ASSERT_EQ(SR_EINVAL, s3store_bucket_name_check("192.168.5.4"));
  ASSERT_EQ(SR_EINVAL, s3store_bucket_name_check("../x"));
}

TEST(local_s3_etag)
{
  static const unsigned char md5_empty[16] = {
      0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
      0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};
  unsigned char parts[2][16], back[16];
  char etag[48];

  s3store_etag_simple(md5_empty, etag);
  ASSERT_STR_EQ("\"d41d8cd98f00b204e9800998ecf8427e\"", etag);
  ASSERT_EQ(0, s3store_etag_md5(etag, back));
  ASSERT(memcmp(back, md5_empty, 16) == 0);
  ASSERT_EQ(0, s3store_etag_md5("d41d8cd98f00b204e9800998ecf8427e", back));
  ASSERT_EQ(SR_EINVAL, s3store_etag_md5("\"abc-2\"", back));
  /* md5("a") and md5("b"): the multipart ETag is the MD5 of the two
   * binary digests, then "-2" (as boto3's tests and S3 compute it). */
  ASSERT_EQ(0, s3store_etag_md5("0cc175b9c0f1b6a831c399e269772661", parts[0]));
  ASSERT_EQ(0, s3store_etag_md5("92eb5ffee6ae2fec3ad71c777531578f", parts[1]));
  ASSERT_EQ(0,
            s3store_etag_multipart((const unsigned char(*)[16])parts, 2, etag));
  ASSERT_STR_EQ("\"96e024ba2074fe77e8e965ba43a704be-2\"", etag);
  ASSERT_EQ(SR_EINVAL, s3store_etag_multipart(NULL, 0, etag));
}

TEST(local_s3_range)
{
  long long a = -1, b = -1;

  ASSERT_EQ(1, s3api_parse_range("bytes=0-9", 100, &a, &b));
  ASSERT_EQ(0, a);
  ASSERT_EQ(9, b);
  ASSERT_EQ(1, s3api_parse_range("bytes=90-200", 100, &a, &b));
  ASSERT_EQ(90, a);
  ASSERT_EQ(99, b);
  ASSERT_EQ(1, s3api_parse_range("bytes=95-", 100, &a, &b));
  ASSERT_EQ(95, a);
  ASSERT_EQ(99, b);
  ASSERT_EQ(1, s3api_parse_range("bytes=-10", 100, &a, &b));
  ASSERT_EQ(90, a);
  ASSERT_EQ(99, b);
  ASSERT_EQ(1, s3api_parse_range("bytes=-1000", 100, &a, &b));
  ASSERT_EQ(0, a);
  ASSERT_EQ(99, b);
  /* Not satisfiable: 416. */
  ASSERT_EQ(-1, s3api_parse_range("bytes=100-", 100, &a, &b));
  ASSERT_EQ(-1, s3api_parse_range("bytes=-0", 100, &a, &b));
  ASSERT_EQ(-1, s3api_parse_range("bytes=0-", 0, &a, &b));
  /* Ignored (the whole object is sent): absent, malformed, other units,
   * several ranges, last < first. */
  ASSERT_EQ(0, s3api_parse_range(NULL, 100, &a, &b));
  ASSERT_EQ(0, s3api_parse_range("bytes=abc", 100, &a, &b));
  ASSERT_EQ(0, s3api_parse_range("items=0-1", 100, &a, &b));
  ASSERT_EQ(0, s3api_parse_range("bytes=0-1,5-6", 100, &a, &b));
  ASSERT_EQ(0, s3api_parse_range("bytes=9-1", 100, &a, &b));
  ASSERT_EQ(0, s3api_parse_range("bytes=-", 100, &a, &b));
}

/* The value of header name in resp, or NULL. */
static const char *response_header(const struct local_response *resp,
                                   const char *name)
{
  const char *h = buf_str(&resp->headers);
  const char *end = h + buf_len(&resp->headers);

  while (h < end) {
    const char *v = h + strlen(h) + 1;

    if (strcmp(h, name) == 0)
      return v;
    h = v + strlen(v) + 1;
  }
  return NULL;
}

TEST(local_s3_error_xml)
{
  struct local_response resp;
  struct local_error err;

  local_response_init(&resp);
  local_fail(&err, 404, "NoSuchKey", "The specified key does not exist.");
  s3api_error(&resp, &err, "0123456789ABCDEF", "Key", "a&b<c>\"d'\n");
  ASSERT_EQ(404, resp.status);
  ASSERT_STR_EQ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<Error><Code>NoSuchKey</Code>"
                "<Message>The specified key does not exist.</Message>"
                "<Key>a&amp;b&lt;c&gt;&quot;d&apos;&#10;</Key>"
                "<RequestId>0123456789ABCDEF</RequestId>"
                "<HostId>sagerun/0123456789ABCDEF</HostId></Error>",
                buf_str(&resp.body));
  ASSERT_STR_EQ("application/xml", response_header(&resp, "Content-Type"));
  ASSERT_STR_EQ("0123456789ABCDEF", response_header(&resp, "x-amz-request-id"));
  ASSERT_STR_EQ("NoSuchKey", resp.error_code);
  local_response_free(&resp);
}

/* --- the store, in process --- */

struct listed {
  struct buf items; /* "K:key\n" or "P:prefix\n" */
  int n;
};

static int list_cb(const struct s3store_item *item, void *arg)
{
  struct listed *l = arg;

  l->n++;
  return buf_addf(&l->items, "%c:%s\n", item->is_prefix ? 'P' : 'K', item->key);
}

static void put(struct s3store *s, const char *bucket, const char *key,
                const char *data)
{
  struct s3store_writer *w;

  ASSERT_EQ(0, s3store_writer_begin(s, &w));
  ASSERT_EQ(0, s3store_writer_write(w, data, strlen(data)));
  ASSERT_EQ(0, s3store_writer_commit(w, bucket, key, NULL, 1e9, NULL));
}

/* Lists everything with prefix/delimiter in pages of max, each page
 * continued from the last item of the one before, into out. */
static void list_all(struct s3store *s, const char *prefix,
                     const char *delimiter, int max, struct buf *out)
{
  struct listed l;
  struct buf after;
  int truncated = 1, pages = 0;

  buf_init(&after, 4096);
  while (truncated) {
    const char *last, *nl;

    memset(&l, 0, sizeof(l));
    buf_init(&l.items, 1 << 20);
    ASSERT_EQ(0, s3store_list(s, "b", prefix, delimiter, buf_str(&after), max,
                              list_cb, &l, &truncated));
    ASSERT(l.n <= max);
    ASSERT_EQ(0, buf_add(out, buf_str(&l.items), buf_len(&l.items)));
    /* The last item becomes the next page's start. */
    if (l.n > 0) {
      nl = buf_str(&l.items) + buf_len(&l.items) - 1;
      for (last = nl; last > buf_str(&l.items) && last[-1] != '\n'; last--)
        ;
      buf_reset(&after);
      ASSERT_EQ(0, buf_add(&after, last + 2, (size_t)(nl - last - 2)));
    }
    buf_free(&l.items);
    ASSERT(++pages < 100);
  }
  buf_free(&after);
}

static sqlite3 *open_db(const char *dir)
{
  char path[4096];
  sqlite3 *db = NULL;

  snprintf(path, sizeof(path), "%s/engine.db", dir);
  ASSERT_EQ(SQLITE_OK, sqlite3_open(path, &db));
  return db;
}

TEST(local_s3_store_listing)
{
  static const char *const keys[] = {"a/1", "a/2", "b",     "c/x/1", "c/x/2",
                                     "c/y", "d/1", "d/2/z", "e"};
  const char *dir = test_tmpdir();
  struct s3store *s;
  struct buf all;
  sqlite3 *db = open_db(dir);
  size_t i;
  int max;

  ASSERT_EQ(0, s3store_open(db, dir, &s));
  ASSERT_EQ(0, s3store_bucket_create(s, "b", 0, 1e9));
  ASSERT_EQ(SR_EEXIST, s3store_bucket_create(s, "b", 0, 1e9));
  for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
    put(s, "b", keys[i], keys[i]);
  /* Any page size gives the same listing, each item once. */
  for (max = 1; max <= 10; max++) {
    buf_init(&all, 1 << 20);
    list_all(s, "", "/", max, &all);
    ASSERT_STR_EQ("P:a/\nK:b\nP:c/\nP:d/\nK:e\n", buf_str(&all));
    buf_free(&all);
    buf_init(&all, 1 << 20);
    list_all(s, "c/", "/", max, &all);
    ASSERT_STR_EQ("P:c/x/\nK:c/y\n", buf_str(&all));
    buf_free(&all);
    buf_init(&all, 1 << 20);
    list_all(s, "d", NULL, max, &all);
    ASSERT_STR_EQ("K:d/1\nK:d/2/z\n", buf_str(&all));
    buf_free(&all);
  }
  ASSERT_EQ(SR_EEXIST, s3store_bucket_delete(s, "b"));
  s3store_close(s);
  sqlite3_close(db);
}

/* Counts the regular files under dir (recursively). */
static int count_files(const char *dir)
{
  char path[4096];
  struct dirent *de;
  struct stat st;
  DIR *d = opendir(dir);
  int n = 0;

  if (d == NULL)
    return 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    if (lstat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode))
      n += count_files(path);
    else
      n++;
  }
  closedir(d);
  return n;
}

TEST(local_s3_store_atomic)
{
  const char *dir = test_tmpdir();
  struct s3store_object o;
  struct s3store_writer *w;
  struct s3store *s;
  char path[4096], data_dir[2048], tmp_dir[2048];
  sqlite3 *db = open_db(dir);
  int fd;

  snprintf(data_dir, sizeof(data_dir), "%s/s3/data", dir);
  snprintf(tmp_dir, sizeof(tmp_dir), "%s/s3/tmp", dir);
  ASSERT_EQ(0, s3store_open(db, dir, &s));
  ASSERT_EQ(0, s3store_bucket_create(s, "b", 0, 1e9));
  put(s, "b", "k", "old contents");
  ASSERT_EQ(1, count_files(data_dir));
  /* Written but not committed: invisible, in tmp only. */
  ASSERT_EQ(0, s3store_writer_begin(s, &w));
  ASSERT_EQ(0, s3store_writer_write(w, "new", 3));
  ASSERT_EQ(0, s3store_object_get(s, "b", "k", &o));
  ASSERT_EQ(12, o.size);
  s3store_object_free(&o);
  ASSERT_EQ(1, count_files(tmp_dir));
  s3store_writer_abort(w);
  ASSERT_EQ(0, count_files(tmp_dir));
  /* Overwriting replaces the data file; the old one goes. */
  put(s, "b", "k", "new contents!");
  ASSERT_EQ(0, s3store_object_get(s, "b", "k", &o));
  ASSERT_EQ(13, o.size);
  s3store_object_free(&o);
  ASSERT_EQ(1, count_files(data_dir));
  /* A commit to a missing bucket fails and leaves nothing. */
  ASSERT_EQ(0, s3store_writer_begin(s, &w));
  ASSERT_EQ(0, s3store_writer_write(w, "x", 1));
  ASSERT_EQ(SR_ENOENT,
            s3store_writer_commit(w, "no-bucket", "k", NULL, 1e9, NULL));
  ASSERT_EQ(1, count_files(data_dir));
  ASSERT_EQ(0, count_files(tmp_dir));
  s3store_close(s);
  /* What a crash leaves (a temp file; a placed file never committed) is
   * swept at the next open. */
  snprintf(path, sizeof(path), "%s/half-written", tmp_dir);
  ASSERT_EQ(0, test_write_file(path, "partial"));
  snprintf(path, sizeof(path), "%s/ab", data_dir);
  mkdir(path, 0700);
  snprintf(path, sizeof(path), "%s/ab/ab000000000000000000000000000000",
           data_dir);
  fd = open(path, O_WRONLY | O_CREAT, 0600);
  ASSERT(fd >= 0);
  close(fd);
  ASSERT_EQ(0, s3store_open(db, dir, &s));
  ASSERT_EQ(0, count_files(tmp_dir));
  ASSERT_EQ(1, count_files(data_dir));
  ASSERT_EQ(0, s3store_object_get(s, "b", "k", &o));
  ASSERT_EQ(13, o.size);
  s3store_object_free(&o);
  /* IDs never become paths unless they are 32 hex digits. */
  ASSERT_EQ(SR_EINVAL,
            s3store_data_path(s, "../../etc/passwd", path, sizeof(path)));
  s3store_close(s);
  sqlite3_close(db);
}

TEST(local_faults_spec)
{
  struct local_faults a, b;
  enum local_fault fa, fb;
  char err[256];
  unsigned lat;
  int i, throttles = 0, drops = 0, same = 1;

  ASSERT_EQ(0, local_faults_parse("throttle=0.25,5xx=0.25,drop=0.25,"
                                  "latency=50ms,seed=7,service=s3",
                                  &a, err, sizeof(err)));
  ASSERT_EQ(0, local_faults_parse("seed=7,throttle=0.25,drop=0.25,5xx=0.25,"
                                  "latency=50,service=s3",
                                  &b, err, sizeof(err)));
  for (i = 0; i < 1000; i++) {
    fa = local_faults_next(&a, LOCAL_SVC_S3, &lat);
    ASSERT_EQ(50, lat);
    fb = local_faults_next(&b, LOCAL_SVC_S3, &lat);
    same &= fa == fb;
    throttles += fa == LOCAL_FAULT_THROTTLE;
    drops += fa == LOCAL_FAULT_DROP;
  }
  ASSERT(same); /* the same seed, the same faults */
  ASSERT(throttles > 150 && throttles < 350);
  ASSERT(drops > 150 && drops < 350);
  /* Other services are untouched. */
  ASSERT_EQ(LOCAL_FAULT_NONE, local_faults_next(&a, LOCAL_SVC_LOGS, &lat));
  ASSERT_EQ(0, lat);
  ASSERT_EQ(0, local_faults_parse("latency=2s", &a, err, sizeof(err)));
  ASSERT_EQ(LOCAL_FAULT_NONE, local_faults_next(&a, LOCAL_SVC_LOGS, &lat));
  ASSERT_EQ(2000, lat);
  ASSERT_EQ(SR_EINVAL, local_faults_parse("throttle=2", &a, err, sizeof(err)));
  ASSERT_CONTAINS(err, "throttle");
  ASSERT_EQ(SR_EINVAL,
            local_faults_parse("throttle=0.6,5xx=0.6", &a, err, sizeof(err)));
  ASSERT_EQ(SR_EINVAL, local_faults_parse("bogus=1", &a, err, sizeof(err)));
  ASSERT_CONTAINS(err, "unknown fault");
  ASSERT_EQ(SR_EINVAL, local_faults_parse("service=ec2", &a, err, sizeof(err)));
  ASSERT_EQ(SR_EINVAL,
            local_faults_parse("latency=fast", &a, err, sizeof(err)));
}

TEST(local_credentials_file)
{
  const char *dir = test_tmpdir();
  struct local_credentials a, b;
  char path[4096], err[512];
  struct stat st;

  ASSERT_EQ(0, local_credentials_load(dir, &a, err, sizeof(err)));
  ASSERT_EQ(20, strlen(a.access_key_id));
  ASSERT_EQ(40, strlen(a.secret_access_key));
  ASSERT(strncmp(a.access_key_id, "LKIA", 4) == 0);
  snprintf(path, sizeof(path), "%s/credentials", dir);
  ASSERT_EQ(0, stat(path, &st));
  ASSERT_EQ(0600, st.st_mode & 0777);
  /* Kept: the second load reads the same. */
  ASSERT_EQ(0, local_credentials_load(dir, &b, err, sizeof(err)));
  ASSERT_STR_EQ(a.access_key_id, b.access_key_id);
  ASSERT_STR_EQ(a.secret_access_key, b.secret_access_key);
  ASSERT_EQ(0, chmod(path, 0644));
  ASSERT_EQ(SR_EINVAL, local_credentials_load(dir, &b, err, sizeof(err)));
  ASSERT_CONTAINS(err, "chmod 600");
}

/* --- verification, in process, against our own signer --- */

struct signed_req {
  struct sigv4_header headers[8];
  size_t n;
  struct sigv4_result res;
};

/* Signs GET /b/k (header auth) at time t with secret. */
static void sign_get(struct signed_req *s, const char *secret, time_t t,
                     const char *query)
{
  struct sigv4_credentials c = {"LKIAEXAMPLEEXAMPLE12", secret, NULL};
  struct sigv4_params p = {"us-east-1", "s3", t, 1, 1, &c};
  struct sigv4_request r;
  size_t i;

  memset(s, 0, sizeof(*s));
  sigv4_result_init(&s->res);
  s->headers[s->n++] = (struct sigv4_header){"Host", "127.0.0.1:4566"};
  s->headers[s->n++] = (struct sigv4_header){"x-amz-meta-a", "1"};
  memset(&r, 0, sizeof(r));
  r.method = "GET";
  r.path = "/b/k";
  r.query = query;
  r.headers = s->headers;
  r.nheaders = s->n;
  r.payload_hash = "UNSIGNED-PAYLOAD";
  ASSERT_EQ(0, sigv4_sign_header(&r, &p, &s->res));
  for (i = 0; i < s->res.nheaders_to_add; i++)
    s->headers[s->n++] = s->res.headers_to_add[i];
}

static void verify_setup(struct local_verify_request *v,
                         const struct signed_req *s, const char *query,
                         double now)
{
  memset(v, 0, sizeof(*v));
  v->method = "GET";
  v->path = "/b/k";
  v->query = query;
  v->headers = s->headers;
  v->nheaders = s->n;
  v->s3 = 1;
  v->service = "s3";
  v->now = now;
}

TEST(local_verify_header_auth)
{
  struct local_credentials c = {"LKIAEXAMPLEEXAMPLE12",
                                "secretsecretsecretsecretsecretsecret1234"};
  struct local_verify_request v;
  struct local_error err;
  struct signed_req s;
  time_t now = 1700000000;

  sign_get(&s, c.secret_access_key, now, "a=1");
  verify_setup(&v, &s, "a=1", (double)now);
  ASSERT_EQ(LOCAL_AUTH_HEADER, local_verify_kind(&v));
  ASSERT_STR_EQ("UNSIGNED-PAYLOAD", local_verify_declared_hash(&v));
  ASSERT_EQ(0, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  /* Tampered query, header, method. */
  verify_setup(&v, &s, "a=2", (double)now);
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("SignatureDoesNotMatch", err.code);
  ASSERT_EQ(403, err.status);
  verify_setup(&v, &s, "a=1", (double)now);
  s.headers[1].value = "2";
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("SignatureDoesNotMatch", err.code);
  s.headers[1].value = "1";
  v.method = "DELETE";
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  v.method = "GET";
  /* Skew beyond 15 minutes either way. */
  verify_setup(&v, &s, "a=1", (double)now + 901);
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("RequestTimeTooSkewed", err.code);
  verify_setup(&v, &s, "a=1", (double)now - 901);
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("RequestTimeTooSkewed", err.code);
  verify_setup(&v, &s, "a=1", (double)now + 899);
  ASSERT_EQ(0, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  /* The JSON services' codes for the same failures. */
  v.s3 = 0;
  v.service = "s3";
  verify_setup(&v, &s, "a=2", (double)now);
  v.s3 = 0;
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("InvalidSignatureException", err.code);
  /* A wrong secret and a wrong key. */
  sigv4_result_free(&s.res);
  sign_get(&s, "another-secret", now, "a=1");
  verify_setup(&v, &s, "a=1", (double)now);
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("SignatureDoesNotMatch", err.code);
  snprintf(c.access_key_id, sizeof(c.access_key_id), "LKIAOTHEROTHEROTHER1");
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("InvalidAccessKeyId", err.code);
  /* Another service's scope. */
  snprintf(c.access_key_id, sizeof(c.access_key_id), "LKIAEXAMPLEEXAMPLE12");
  v.service = "sagemaker";
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_CONTAINS(err.message, "scoped to correct service");
  sigv4_result_free(&s.res);
}

TEST(local_verify_presigned)
{
  struct local_credentials c = {"LKIAEXAMPLEEXAMPLE12",
                                "secretsecretsecretsecretsecretsecret1234"};
  struct sigv4_credentials sc = {c.access_key_id, c.secret_access_key, NULL};
  struct sigv4_params p = {"us-east-1", "s3", 1700000000, 1, 0, &sc};
  struct sigv4_header h[1] = {{"Host", "127.0.0.1:4566"}};
  struct local_verify_request v;
  struct sigv4_request r;
  struct sigv4_result res;
  struct local_error err;
  struct buf tampered;

  memset(&r, 0, sizeof(r));
  r.method = "GET";
  r.path = "/b/k";
  r.query = "";
  r.headers = h;
  r.nheaders = 1;
  r.payload_hash = "UNSIGNED-PAYLOAD";
  sigv4_result_init(&res);
  ASSERT_EQ(0, sigv4_presign(&r, &p, 60, &res));
  memset(&v, 0, sizeof(v));
  v.method = "GET";
  v.path = "/b/k";
  v.query = buf_str(&res.presigned_query);
  v.headers = h;
  v.nheaders = 1;
  v.s3 = 1;
  v.service = "s3";
  v.now = 1700000030;
  ASSERT_EQ(LOCAL_AUTH_QUERY, local_verify_kind(&v));
  ASSERT_STR_EQ("UNSIGNED-PAYLOAD", local_verify_declared_hash(&v));
  ASSERT_EQ(0, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  v.now = 1700000061;
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("AccessDenied", err.code);
  ASSERT_STR_EQ("Request has expired", err.message);
  /* A longer expiry written into the URL breaks the signature. */
  v.now = 1700000030;
  buf_init(&tampered, 1 << 16);
  ASSERT_EQ(0, buf_adds(&tampered, buf_str(&res.presigned_query)));
  ASSERT(strstr(buf_str(&tampered), "X-Amz-Expires=60") != NULL);
  memcpy(strstr(buf_str(&tampered), "X-Amz-Expires=60") + 14, "90", 2);
  v.query = buf_str(&tampered);
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("SignatureDoesNotMatch", err.code);
  /* No signature at all. */
  v.query = "";
  ASSERT_EQ(LOCAL_AUTH_NONE, local_verify_kind(&v));
  ASSERT_EQ(-1, local_verify(&v, &c, "UNSIGNED-PAYLOAD", &err));
  ASSERT_STR_EQ("AccessDenied", err.code);
  buf_free(&tampered);
  sigv4_result_free(&res);
}

/* --- the engine with real clients --- */

struct engine {
  char dir[4096];
  char url[64];
  int pid;
  int port;
};

static int peer_missing(const char *path)
{
  if (access(path, X_OK) == 0)
    return 0;
  printf("# skipped: %s not installed\n", path);
  ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  return 1;
}

/* Starts `sagerun local start --foreground --port 0` on dir and waits
 * for it to write its port. */
static void engine_start(struct engine *e, const char *dir)
{
  char port_file[4200];
  const char *argv[] = {test_sagerun_bin(), "local",  "start",
                        "--foreground",     "--port", "0",
                        "--data-dir",       dir,      NULL};
  char *text;
  int status;

  snprintf(e->dir, sizeof(e->dir), "%s", dir);
  snprintf(port_file, sizeof(port_file), "%s/engine.port", dir);
  unlink(port_file);
  e->pid = test_helper_spawn(argv);
  ASSERT(e->pid > 0);
  for (;;) {
    text = test_read_file(port_file, NULL);
    if (text && strchr(text, '\n'))
      break;
    free(text);
    ASSERT_EQ(0, waitpid(e->pid, &status, WNOHANG));
    sleep_ms(20);
  }
  e->port = (int)strtol(text, NULL, 10);
  free(text);
  ASSERT(e->port > 0);
  snprintf(e->url, sizeof(e->url), "http://127.0.0.1:%d", e->port);
}

/* Stops it with SIGTERM and checks it exits cleanly (under sanitizers
 * that includes LeakSanitizer's verdict). */
static void engine_stop(struct engine *e)
{
  int status;

  ASSERT_EQ(0, kill(e->pid, SIGTERM));
  ASSERT_EQ(e->pid, waitpid(e->pid, &status, 0));
  ASSERT(WIFEXITED(status));
  ASSERT_EQ(0, WEXITSTATUS(status));
}

/* The environment the AWS CLI and boto3 run in: the engine's credentials
 * and nothing from this machine's AWS configuration. */
static void client_env(const struct engine *e)
{
  struct local_credentials c;
  char path[4200], err[512];

  ASSERT_EQ(0, local_credentials_load(e->dir, &c, err, sizeof(err)));
  setenv("AWS_ACCESS_KEY_ID", c.access_key_id, 1);
  setenv("AWS_SECRET_ACCESS_KEY", c.secret_access_key, 1);
  setenv("AWS_DEFAULT_REGION", "us-east-1", 1);
  snprintf(path, sizeof(path), "%s/aws-empty-config", test_tmpdir());
  ASSERT_EQ(0, test_write_file(path, ""));
  setenv("AWS_CONFIG_FILE", path, 1);
  setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
  setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  setenv("AWS_PAGER", "", 1);
  setenv("HOME", test_tmpdir(), 1);
  unsetenv("AWS_PROFILE");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_ENDPOINT_URL");
  local_credentials_clear(&c);
}

/* Runs `aws --endpoint-url URL ARGS...` and returns its stdout; fails
 * the test when it exits non-zero. */
static char *aws(const struct engine *e, const char *const *args)
{
  const char *argv[24];
  char *out = NULL, *err = NULL;
  int n = 0, status;

  argv[n++] = AWS_CLI;
  argv[n++] = "--endpoint-url";
  argv[n++] = e->url;
  argv[n++] = "--no-cli-pager";
  while (*args && n < 23)
    argv[n++] = *args++;
  argv[n] = NULL;
  status = test_exec(argv, NULL, &out, &err);
  if (status != 0) {
    printf("# aws %s %s: exit %d\n# %s\n", argv[4], argv[5], status,
           err ? err : "");
    ASSERT_EQ(0, status);
  }
  free(err);
  return out;
}

/* Writes len pseudo-random bytes (seeded) to path. */
static void write_random(const char *path, size_t len, unsigned seed)
{
  FILE *f = fopen(path, "wb");
  unsigned long long x = seed * 0x9E3779B97F4A7C15ULL + 1;
  size_t i;

  ASSERT(f != NULL);
  for (i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ASSERT(fputc((int)(x & 0xff), f) != EOF);
  }
  ASSERT_EQ(0, fclose(f));
}

static void assert_same_file(const char *a, const char *b)
{
  size_t la = 0, lb = 0;
  char *da = test_read_file(a, &la), *db = test_read_file(b, &lb);

  ASSERT(da != NULL && db != NULL);
  ASSERT_EQ(la, lb);
  ASSERT(memcmp(da, db, la) == 0);
  free(da);
  free(db);
}

TEST_TIMEOUT(local_s3_awscli, 180000);
TEST(local_s3_awscli)
{
  const char *tmp = test_tmpdir();
  char dir[2048], small[4096], big[4096], down[4096], syncdir[2560],
      syncback[2560], path[4096], *out;
  struct engine e;

  if (peer_missing(AWS_CLI))
    return;
  snprintf(dir, sizeof(dir), "%s/engine", tmp);
  engine_start(&e, dir);
  client_env(&e);
  snprintf(small, sizeof(small), "%s/small.txt", tmp);
  snprintf(big, sizeof(big), "%s/big.bin", tmp);
  snprintf(down, sizeof(down), "%s/down.bin", tmp);
  ASSERT_EQ(0, test_write_file(small, "hello from the aws cli\n"));
  /* Over the CLI's 8 MiB multipart threshold: three parts. */
  write_random(big, 20 * MIB + 12345, 1);

  free(aws(&e, (const char *[]){"s3", "mb", "s3://cli-bucket", NULL}));
  free(aws(&e, (const char *[]){"s3", "cp", small,
                                "s3://cli-bucket/dir/"
                                "small.txt",
                                "--only-show-errors", NULL}));
  free(aws(&e, (const char *[]){"s3", "cp", big, "s3://cli-bucket/big.bin",
                                "--only-show-errors", NULL}));
  out = aws(&e, (const char *[]){"s3api", "head-object", "--bucket",
                                 "cli-bucket", "--key", "big.bin", NULL});
  ASSERT_CONTAINS(out, "-3\\\"");   /* a multipart ETag of three parts */
  ASSERT_CONTAINS(out, "20983865"); /* 20 MiB + 12345 */
  free(out);
  free(aws(&e, (const char *[]){"s3", "cp", "s3://cli-bucket/big.bin", down,
                                "--only-show-errors", NULL}));
  assert_same_file(big, down);
  free(aws(&e, (const char *[]){"s3", "cp", "s3://cli-bucket/dir/small.txt",
                                down, "--only-show-errors", NULL}));
  assert_same_file(small, down);
  out = aws(&e, (const char *[]){"s3", "ls", "s3://cli-bucket/", NULL});
  ASSERT_CONTAINS(out, "PRE dir/");
  ASSERT_CONTAINS(out, "20983865 big.bin");
  free(out);
  out = aws(&e, (const char *[]){"s3", "ls", NULL});
  ASSERT_CONTAINS(out, "cli-bucket");
  ASSERT_CONTAINS(out, "gdelt-open-data");
  free(out);

  /* sync up, change one file, sync again, sync down. */
  snprintf(syncdir, sizeof(syncdir), "%s/sync", tmp);
  snprintf(syncback, sizeof(syncback), "%s/syncback", tmp);
  ASSERT_EQ(0, mkdir(syncdir, 0700));
  snprintf(path, sizeof(path), "%s/nested", syncdir);
  ASSERT_EQ(0, mkdir(path, 0700));
  snprintf(path, sizeof(path), "%s/one.txt", syncdir);
  ASSERT_EQ(0, test_write_file(path, "one\n"));
  snprintf(path, sizeof(path), "%s/nested/two.txt", syncdir);
  ASSERT_EQ(0, test_write_file(path, "two\n"));
  snprintf(path, sizeof(path), "%s/nested/three.bin", syncdir);
  write_random(path, 9 * MIB, 2);
  out = aws(&e, (const char *[]){"s3", "sync", syncdir, "s3://cli-bucket/sync",
                                 NULL});
  ASSERT_CONTAINS(out, "upload:");
  free(out);
  out = aws(&e, (const char *[]){"s3", "sync", syncdir, "s3://cli-bucket/sync",
                                 NULL});
  ASSERT(strstr(out, "upload:") == NULL); /* nothing changed */
  free(out);
  snprintf(path, sizeof(path), "%s/one.txt", syncdir);
  ASSERT_EQ(0, test_write_file(path, "one, longer now\n"));
  out = aws(&e, (const char *[]){"s3", "sync", syncdir, "s3://cli-bucket/sync",
                                 NULL});
  ASSERT_CONTAINS(out, "one.txt");
  ASSERT(strstr(out, "two.txt") == NULL);
  free(out);
  free(aws(&e, (const char *[]){"s3", "sync", "s3://cli-bucket/sync", syncback,
                                "--only-show-errors", NULL}));
  snprintf(path, sizeof(path), "%s/nested/three.bin", syncdir);
  snprintf(down, sizeof(down), "%s/nested/three.bin", syncback);
  assert_same_file(path, down);
  snprintf(path, sizeof(path), "%s/one.txt", syncdir);
  snprintf(down, sizeof(down), "%s/one.txt", syncback);
  assert_same_file(path, down);
  out = aws(&e, (const char *[]){"s3", "ls", "--recursive",
                                 "s3://cli-bucket/sync/", NULL});
  ASSERT_CONTAINS(out, "sync/nested/two.txt");
  free(out);

  /* rm one, rm the rest, then the bucket. */
  free(aws(&e, (const char *[]){"s3", "rm", "s3://cli-bucket/big.bin",
                                "--only-show-errors", NULL}));
  out = aws(&e, (const char *[]){"s3", "ls", "s3://cli-bucket/", NULL});
  ASSERT(strstr(out, "big.bin") == NULL);
  free(out);
  free(aws(&e, (const char *[]){"s3", "rm", "s3://cli-bucket/", "--recursive",
                                "--only-show-errors", NULL}));
  free(aws(&e, (const char *[]){"s3", "rb", "s3://cli-bucket", NULL}));
  out = aws(&e, (const char *[]){"s3", "ls", NULL});
  ASSERT(strstr(out, "cli-bucket") == NULL);
  free(out);
  engine_stop(&e);
}

/* Every file under the object store is named by an ID, whatever the keys
 * were. */
static void assert_no_key_names(const char *dir)
{
  char path[4300];
  struct dirent *de;
  struct stat st;
  DIR *d = opendir(dir);

  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name), i;

    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    ASSERT(len == 2 || len == 32);
    for (i = 0; i < len; i++)
      ASSERT(strchr("0123456789abcdef", de->d_name[i]) != NULL);
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    ASSERT_EQ(0, lstat(path, &st));
    if (S_ISDIR(st.st_mode))
      assert_no_key_names(path);
  }
  closedir(d);
}

TEST_TIMEOUT(local_s3_boto3, 180000);
TEST(local_s3_boto3)
{
  const char *tmp = test_tmpdir();
  char dir[4096], data[4200], escaped[4200];
  const char *argv[5];
  char *out = NULL, *err = NULL;
  struct engine e;
  int status;

  if (peer_missing(PEER_PYTHON))
    return;
  snprintf(dir, sizeof(dir), "%s/engine", tmp);
  engine_start(&e, dir);
  client_env(&e);
  argv[0] = PEER_PYTHON;
  argv[1] = "tests/peers/local_s3_boto3.py";
  argv[2] = e.url;
  argv[3] = e.dir;
  argv[4] = NULL;
  status = test_exec(argv, NULL, &out, &err);
  if (status == 77) {
    printf("# skipped: %s\n", out ? out : "boto3 missing");
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    goto done;
  }
  if (status != 0 || strstr(out ? out : "", "failures: 0") == NULL)
    printf("# %s\n# %s\n", out ? out : "", err ? err : "");
  ASSERT_EQ(0, status);
  ASSERT_CONTAINS(out, "ok - wrong_secret_refused");
  ASSERT_CONTAINS(out, "ok - presigned_expired_refused");
  ASSERT_CONTAINS(out, "ok - virtual_host_addressing");
  ASSERT_CONTAINS(out, "failures: 0");
  /* Keys like "../../escape.txt" stayed keys. */
  snprintf(escaped, sizeof(escaped), "%s/escape.txt", tmp);
  ASSERT(access(escaped, F_OK) != 0);
  snprintf(escaped, sizeof(escaped), "%s/../escape.txt", dir);
  ASSERT(access(escaped, F_OK) != 0);
  snprintf(data, sizeof(data), "%s/s3/data", dir);
  assert_no_key_names(data);
done:
  free(out);
  free(err);
  engine_stop(&e);
}

/* --- SIGKILL in the middle of an upload --- */

static int connect_port(int port)
{
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0);

  ASSERT(fd >= 0);
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  ASSERT_EQ(0, connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
  return fd;
}

static void send_all(int fd, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0) {
    ssize_t n = write(fd, p, len);

    if (n < 0 && errno == EINTR)
      continue;
    ASSERT(n > 0);
    p += n;
    len -= (size_t)n;
  }
}

/* Opens a PUT of declared_len bytes to path, signed with the engine's
 * credentials (UNSIGNED-PAYLOAD), and sends the first sent bytes of its
 * body. Returns the socket. */
static int put_begin(const struct engine *e, const char *path,
                     size_t declared_len, size_t sent)
{
  struct local_credentials c;
  struct sigv4_credentials sc;
  struct sigv4_params p;
  struct sigv4_request r;
  struct sigv4_result res;
  struct sigv4_header h[1];
  struct buf head;
  char host[64], err[512], *body;
  size_t i;
  int fd;

  ASSERT_EQ(0, local_credentials_load(e->dir, &c, err, sizeof(err)));
  snprintf(host, sizeof(host), "127.0.0.1:%d", e->port);
  h[0].name = "Host";
  h[0].value = host;
  memset(&r, 0, sizeof(r));
  r.method = "PUT";
  r.path = path;
  r.query = "";
  r.headers = h;
  r.nheaders = 1;
  r.payload_hash = "UNSIGNED-PAYLOAD";
  sc.access_key_id = c.access_key_id;
  sc.secret_access_key = c.secret_access_key;
  sc.session_token = NULL;
  memset(&p, 0, sizeof(p));
  p.region = "us-east-1";
  p.service = "s3";
  p.now = time(NULL);
  p.s3 = 1;
  p.content_sha256_header = 1;
  p.credentials = &sc;
  sigv4_result_init(&res);
  ASSERT_EQ(0, sigv4_sign_header(&r, &p, &res));
  buf_init(&head, 1 << 16);
  ASSERT_EQ(0, buf_addf(&head,
                        "PUT %s HTTP/1.1\r\nHost: %s\r\n"
                        "Content-Length: %zu\r\n",
                        path, host, declared_len));
  for (i = 0; i < res.nheaders_to_add; i++)
    ASSERT_EQ(0, buf_addf(&head, "%s: %s\r\n", res.headers_to_add[i].name,
                          res.headers_to_add[i].value));
  ASSERT_EQ(0, buf_adds(&head, "\r\n"));
  fd = connect_port(e->port);
  send_all(fd, buf_str(&head), buf_len(&head));
  body = malloc(sent);
  ASSERT(body != NULL);
  memset(body, 'N', sent);
  send_all(fd, body, sent);
  free(body);
  buf_free(&head);
  sigv4_result_free(&res);
  local_credentials_clear(&c);
  return fd;
}

/* Bytes in the files of dir (not recursive). */
static long long dir_bytes(const char *dir)
{
  char path[4300];
  struct dirent *de;
  struct stat st;
  long long n = 0;
  DIR *d = opendir(dir);

  if (d == NULL)
    return 0;
  while ((de = readdir(d)) != NULL) {
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    if (de->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
      n += st.st_size;
  }
  closedir(d);
  return n;
}

TEST_TIMEOUT(local_s3_kill_during_upload, 120000);
TEST(local_s3_kill_during_upload)
{
  const char *tmp = test_tmpdir();
  char dir[4096], orig[4200], down[4200], tmpdir[4200], *out;
  struct engine e;
  int fd_new, fd_over, status;

  if (peer_missing(AWS_CLI))
    return;
  snprintf(dir, sizeof(dir), "%s/engine", tmp);
  snprintf(tmpdir, sizeof(tmpdir), "%s/s3/tmp", dir);
  engine_start(&e, dir);
  client_env(&e);
  snprintf(orig, sizeof(orig), "%s/orig.bin", tmp);
  write_random(orig, 3 * MIB, 3);
  free(aws(&e, (const char *[]){"s3", "mb", "s3://kill-bucket", NULL}));
  free(aws(&e, (const char *[]){"s3", "cp", orig, "s3://kill-bucket/victim",
                                "--only-show-errors", NULL}));
  /* Two uploads under way: a new key, and an overwrite of victim. Half
   * their bodies are sent; the engine is killed once it has written both
   * halves to its temporary files, so the kill lands mid-upload. */
  fd_new = put_begin(&e, "/kill-bucket/new-object", 8 * MIB, 4 * MIB);
  fd_over = put_begin(&e, "/kill-bucket/victim", 8 * MIB, 4 * MIB);
  while (dir_bytes(tmpdir) < 8LL * MIB - 2 * 65536)
    sleep_ms(10);
  ASSERT_EQ(0, kill(e.pid, SIGKILL));
  ASSERT_EQ(e.pid, waitpid(e.pid, &status, 0));
  close(fd_new);
  close(fd_over);

  engine_start(&e, dir);
  /* Neither upload is visible; victim is whole and old. */
  ASSERT_EQ(0, dir_bytes(tmpdir));
  out = aws(&e, (const char *[]){"s3", "ls", "s3://kill-bucket/", NULL});
  ASSERT(strstr(out, "new-object") == NULL);
  ASSERT_CONTAINS(out, "3145728 victim");
  free(out);
  snprintf(down, sizeof(down), "%s/down.bin", tmp);
  free(aws(&e, (const char *[]){"s3", "cp", "s3://kill-bucket/victim", down,
                                "--only-show-errors", NULL}));
  assert_same_file(orig, down);
  {
    const char *argv[] = {
        AWS_CLI,    "--endpoint-url", e.url,   "s3api",      "head-object",
        "--bucket", "kill-bucket",    "--key", "new-object", NULL};
    char *err = NULL;

    ASSERT(test_exec(argv, NULL, NULL, &err) != 0);
    ASSERT_CONTAINS(err, "404");
    free(err);
  }
  engine_stop(&e);
}

/* --- faults --- */

/* Starts an engine with faults on dir and runs the faults peer against
 * it; returns its output (malloc'ed). */
static char *faults_run(const char *dir, const char *spec)
{
  char port_file[4200], *text, *out = NULL, *err = NULL;
  const char *argv[] = {
      test_sagerun_bin(), "local", "start",    "--foreground", "--port", "0",
      "--data-dir",       dir,     "--faults", spec,           NULL};
  const char *peer[6];
  struct engine e;
  int status;

  snprintf(e.dir, sizeof(e.dir), "%s", dir);
  snprintf(port_file, sizeof(port_file), "%s/engine.port", dir);
  e.pid = test_helper_spawn(argv);
  ASSERT(e.pid > 0);
  while ((text = test_read_file(port_file, NULL)) == NULL ||
         !strchr(text, '\n')) {
    free(text);
    ASSERT_EQ(0, waitpid(e.pid, &status, WNOHANG));
    sleep_ms(20);
  }
  e.port = (int)strtol(text, NULL, 10);
  free(text);
  snprintf(e.url, sizeof(e.url), "http://127.0.0.1:%d", e.port);
  peer[0] = PEER_PYTHON;
  peer[1] = "tests/peers/local_faults_boto3.py";
  peer[2] = e.url;
  peer[3] = dir;
  peer[4] = "40";
  peer[5] = NULL;
  status = test_exec(peer, NULL, &out, &err);
  if (status != 0)
    printf("# %s\n# %s\n", out ? out : "", err ? err : "");
  ASSERT_EQ(0, status);
  free(err);
  engine_stop(&e);
  return out;
}

TEST_TIMEOUT(local_s3_faults, 120000);
TEST(local_s3_faults)
{
  static const char spec[] =
      "throttle=0.15,5xx=0.15,drop=0.15,latency=5ms,seed=11";
  char a[4096], b[4096], *out_a, *out_b, *s3, *sm;

  if (peer_missing(PEER_PYTHON))
    return;
  snprintf(a, sizeof(a), "%s/a", test_tmpdir());
  snprintf(b, sizeof(b), "%s/b", test_tmpdir());
  out_a = faults_run(a, spec);
  out_b = faults_run(b, spec);
  /* The same seed, the same faults, request by request. */
  ASSERT_STR_EQ(out_a, out_b);
  s3 = strstr(out_a, "s3: ");
  sm = strstr(out_a, "sagemaker: ");
  ASSERT(s3 != NULL && sm != NULL);
  *strchr(s3, '\n') = '\0';
  *strchr(sm, '\n') = '\0';
  /* Each kind shows up in both protocols: S3's 503 SlowDown and 500
   * InternalError, SageMaker's 400 ThrottlingException and 500
   * InternalFailure, and dropped connections. */
  ASSERT(strchr(s3, 'T') && strchr(s3, 'E') && strchr(s3, 'D') &&
         strchr(s3, '.'));
  ASSERT(strchr(sm, 'T') && strchr(sm, 'E') && strchr(sm, 'D') &&
         strchr(sm, '.'));
  ASSERT(strchr(s3, '?') == NULL && strchr(sm, '?') == NULL);
  ASSERT_CONTAINS(sm + strlen(sm) + 1, "retried: ok");
  free(out_a);
  free(out_b);
}

/* --- the command --- */

/* Runs `sagerun local ARGS... --data-dir dir`; returns the exit status
 * with stdout in *out (malloc'ed). */
static int local_cmd(const char *dir, const char *const *args, char **out)
{
  const char *argv[16];
  int n = 0;

  argv[n++] = test_sagerun_bin();
  argv[n++] = "local";
  while (*args && n < 13)
    argv[n++] = *args++;
  argv[n++] = "--data-dir";
  argv[n++] = dir;
  argv[n] = NULL;
  return test_exec(argv, NULL, out, NULL);
}

TEST_TIMEOUT(local_cmd_lifecycle, 60000);
TEST(local_cmd_lifecycle)
{
  char dir[4096], *start = NULL, *status = NULL, *creds = NULL, *stop = NULL,
                  *after = NULL, *reset = NULL, *log;
  char path[4200];
  struct stat st;
  int rc_start, rc_status, rc_creds, rc_stop, rc_after, rc_reset;

  snprintf(dir, sizeof(dir), "%s/data", test_tmpdir());
  /* The engine runs detached (its own session): stop it before any
   * assertion can end the test. */
  rc_start =
      local_cmd(dir, (const char *[]){"start", "--port", "0", NULL}, &start);
  rc_status = local_cmd(dir, (const char *[]){"status", NULL}, &status);
  rc_creds = local_cmd(dir, (const char *[]){"credentials", NULL}, &creds);
  rc_stop = local_cmd(dir, (const char *[]){"stop", NULL}, &stop);
  rc_after = local_cmd(dir, (const char *[]){"status", NULL}, &after);
  ASSERT_EQ(0, rc_start);
  ASSERT_CONTAINS(start, "running at http://127.0.0.1:");
  ASSERT_EQ(0, rc_status);
  ASSERT_CONTAINS(status, "url: http://127.0.0.1:");
  ASSERT_CONTAINS(status, "pid: ");
  ASSERT_CONTAINS(status, dir);
  ASSERT_EQ(0, rc_creds);
  ASSERT_CONTAINS(creds, "export AWS_ACCESS_KEY_ID=LKIA");
  ASSERT_CONTAINS(creds, "export AWS_SECRET_ACCESS_KEY=");
  ASSERT_EQ(0, rc_stop);
  ASSERT_CONTAINS(stop, "stopped");
  ASSERT_EQ(1, rc_after);
  ASSERT_CONTAINS(after, "not running");
  snprintf(path, sizeof(path), "%s/engine.log", dir);
  log = test_read_file(path, NULL);
  ASSERT_CONTAINS(log, "listening on http://127.0.0.1:");
  ASSERT_CONTAINS(log, "stopping");
  free(log);
  snprintf(path, sizeof(path), "%s/engine.pid", dir);
  ASSERT(access(path, F_OK) != 0);
  rc_reset = local_cmd(dir, (const char *[]){"reset", NULL}, &reset);
  ASSERT_EQ(0, rc_reset);
  ASSERT_CONTAINS(reset, "removed");
  ASSERT(stat(dir, &st) != 0);
  /* reset refuses a directory that is not an engine's. */
  ASSERT_EQ(0, mkdir(dir, 0700));
  snprintf(path, sizeof(path), "%s/precious.txt", dir);
  ASSERT_EQ(0, test_write_file(path, "keep me"));
  free(reset);
  ASSERT_EQ(1, local_cmd(dir, (const char *[]){"reset", NULL}, &reset));
  ASSERT_EQ(0, access(path, F_OK));
  free(start);
  free(status);
  free(creds);
  free(stop);
  free(after);
  free(reset);
}
