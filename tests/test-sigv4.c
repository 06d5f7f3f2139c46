/* SigV4: the rules one by one, the aws-c-auth v4 suite stage by stage, and
 * botocore's own signers on generated requests. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "../runner/error.h"
#include "../runner/sigv4.h"
#include "test.h"

#define PEER_PYTHON "/usr/bin/python3"
#define EMPTY_SHA256                                                           \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T_20150830 ((time_t)1440938160) /* 2015-08-30T12:36:00Z */

static const struct sigv4_credentials example_creds = {AKID, SECRET, NULL};

static void params_example(struct sigv4_params *p,
                           const struct sigv4_credentials *c)
{
  p->region = "us-east-1";
  p->service = "service";
  p->now = T_20150830;
  p->s3 = 0;
  p->content_sha256_header = 0;
  p->credentials = c;
}

/* Line n (0-based) of text, into a static buffer. */
static const char *line_of(const char *text, int n)
{
  static char out[4096];
  const char *end;
  size_t len;

  for (; n > 0 && text; n--) {
    text = strchr(text, '\n');
    if (text)
      text++;
  }
  if (text == NULL)
    return "(no such line)";
  end = strchr(text, '\n');
  len = end ? (size_t)(end - text) : strlen(text);
  if (len >= sizeof(out))
    len = sizeof(out) - 1;
  memcpy(out, text, len);
  out[len] = '\0';
  return out;
}

/* The canonical URI (p->s3 decides the rules) of path. */
static const char *canon_uri(const char *path, int s3)
{
  struct sigv4_header h = {"Host", "example.amazonaws.com"};
  struct sigv4_request req = {"GET", path, NULL, &h, 1, NULL};
  struct sigv4_params p;
  struct buf out;
  static char copy[4096];

  params_example(&p, &example_creds);
  p.s3 = s3;
  buf_init(&out, 1 << 20);
  ASSERT_EQ(0, sigv4_canonical_request(&req, &p, NULL, &out, NULL));
  snprintf(copy, sizeof(copy), "%s", line_of(buf_str(&out), 1));
  buf_free(&out);
  return copy;
}

/* The canonical query string of query (header signing). */
static const char *canon_query(const char *query)
{
  struct sigv4_header h = {"Host", "example.amazonaws.com"};
  struct sigv4_request req = {"GET", "/", query, &h, 1, NULL};
  struct sigv4_params p;
  struct buf out;
  static char copy[4096];

  params_example(&p, &example_creds);
  buf_init(&out, 1 << 20);
  ASSERT_EQ(0, sigv4_canonical_request(&req, &p, NULL, &out, NULL));
  snprintf(copy, sizeof(copy), "%s", line_of(buf_str(&out), 2));
  buf_free(&out);
  return copy;
}

TEST(sigv4_payload_hash_known_values)
{
  char out[65];

  sigv4_payload_hash("", 0, out);
  ASSERT_STR_EQ(EMPTY_SHA256, out);
  sigv4_payload_hash("abc", 3, out);
  ASSERT_STR_EQ(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", out);
  sigv4_payload_hash("Param1=value1", 13, out);
  ASSERT_STR_EQ(
      "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e", out);
}

TEST(sigv4_payload_hash_file_equals_memory)
{
  static unsigned char data[300000];
  char path[4096], mem[65], file[65];
  uint32_t x = 12345;
  size_t i;
  FILE *f;

  for (i = 0; i < sizeof(data); i++) {
    x = x * 1103515245u + 12345u;
    data[i] = (unsigned char)(x >> 16);
  }
  snprintf(path, sizeof(path), "%s/body.bin", test_tmpdir());
  f = fopen(path, "wb");
  ASSERT(f != NULL);
  ASSERT_EQ(sizeof(data), fwrite(data, 1, sizeof(data), f));
  ASSERT_EQ(0, fclose(f));

  f = fopen(path, "rb");
  ASSERT(f != NULL);
  /* From the start, and from the middle: the hash covers what is left
   * and the position comes back. */
  sigv4_payload_hash(data, sizeof(data), mem);
  ASSERT_EQ(0, sigv4_payload_hash_file(f, file));
  ASSERT_STR_EQ(mem, file);
  ASSERT_EQ(0, ftell(f));
  ASSERT_EQ(0, fseek(f, 70001, SEEK_SET));
  sigv4_payload_hash(data + 70001, sizeof(data) - 70001, mem);
  ASSERT_EQ(0, sigv4_payload_hash_file(f, file));
  ASSERT_STR_EQ(mem, file);
  ASSERT_EQ(70001, ftell(f));
  ASSERT_EQ(0, fseek(f, 0, SEEK_END));
  ASSERT_EQ(0, sigv4_payload_hash_file(f, file));
  ASSERT_STR_EQ(EMPTY_SHA256, file);
  ASSERT_EQ(0, fclose(f));
}

TEST(sigv4_uri_encode_unreserved_set)
{
  struct buf b;
  char all[256];
  int i;

  buf_init(&b, 1 << 20);
  ASSERT_EQ(0, sigv4_uri_encode(&b, "a b/c~-_.!", 10, 1));
  ASSERT_STR_EQ("a%20b/c~-_.%21", buf_str(&b));
  buf_reset(&b);
  ASSERT_EQ(0, sigv4_uri_encode(&b, "a b/c~-_.!", 10, 0));
  ASSERT_STR_EQ("a%20b%2Fc~-_.%21", buf_str(&b));
  buf_reset(&b);
  /* Appends; '%' is data like any other byte; UTF-8 bytes one by one. */
  ASSERT_EQ(0, buf_adds(&b, "x="));
  ASSERT_EQ(0, sigv4_uri_encode(&b, "%20\xc3\xa9+", 6, 0));
  ASSERT_STR_EQ("x=%2520%C3%A9%2B", buf_str(&b));
  buf_reset(&b);
  for (i = 0; i < 256; i++)
    all[i] = (char)i;
  ASSERT_EQ(0, sigv4_uri_encode(&b, all, sizeof(all), 0));
  /* 66 unreserved bytes stay, 190 become three bytes each. */
  ASSERT_EQ(66 + 190 * 3, buf_len(&b));
  ASSERT(strncmp(buf_str(&b), "%00%01", 6) == 0);
  ASSERT_CONTAINS(buf_str(&b), "%2C-.%2F0123456789%3A");
  ASSERT_CONTAINS(buf_str(&b), "z%7B%7C%7D~%7F%80");
  buf_free(&b);
}

TEST(sigv4_format_time_utc)
{
  char out[17];

  sigv4_format_time(T_20150830, out);
  ASSERT_STR_EQ("20150830T123600Z", out);
  sigv4_format_time(0, out);
  ASSERT_STR_EQ("19700101T000000Z", out);
  sigv4_format_time((time_t)4102444799, out);
  ASSERT_STR_EQ("20991231T235959Z", out);
}

/* aws-spec.md §6: get-vanilla's known values. */
TEST(sigv4_get_vanilla_known_values)
{
  struct sigv4_header h = {"Host", "example.amazonaws.com"};
  struct sigv4_request req = {"GET", "/", "", &h, 1, EMPTY_SHA256};
  struct sigv4_params p;
  struct sigv4_result r;

  params_example(&p, &example_creds);
  sigv4_result_init(&r);
  ASSERT_EQ(0, sigv4_sign_header(&req, &p, &r));
  ASSERT_STR_EQ("GET\n/\n\nhost:example.amazonaws.com\n"
                "x-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY_SHA256,
                buf_str(&r.canonical_request));
  ASSERT_STR_EQ("AWS4-HMAC-SHA256\n20150830T123600Z\n"
                "20150830/us-east-1/service/aws4_request\n"
                "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292"
                "927e63",
                buf_str(&r.string_to_sign));
  ASSERT_STR_EQ(
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      buf_str(&r.signature));
  ASSERT_STR_EQ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/"
                "service/aws4_request, SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9"
                "b8aae1d763fbf31",
                buf_str(&r.authorization));
  ASSERT_STR_EQ("host;x-amz-date", buf_str(&r.signed_headers));
  ASSERT_STR_EQ("20150830/us-east-1/service/aws4_request",
                buf_str(&r.credential_scope));
  ASSERT_STR_EQ("20150830T123600Z", buf_str(&r.amz_date));
  ASSERT_EQ(2, r.nheaders_to_add);
  ASSERT_STR_EQ("X-Amz-Date", r.headers_to_add[0].name);
  ASSERT_STR_EQ("20150830T123600Z", r.headers_to_add[0].value);
  ASSERT_STR_EQ("Authorization", r.headers_to_add[1].name);
  ASSERT_STR_EQ(buf_str(&r.authorization), r.headers_to_add[1].value);
  ASSERT_EQ(0, buf_len(&r.presigned_query));

  /* A NULL payload hash is the empty body's; the result is reusable. */
  req.payload_hash = NULL;
  ASSERT_EQ(0, sigv4_sign_header(&req, &p, &r));
  ASSERT_STR_EQ(
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      buf_str(&r.signature));
  sigv4_result_free(&r);
}

TEST(sigv4_stages_compose)
{
  struct sigv4_header h[] = {{"Host", "example.amazonaws.com"},
                             {"X-Amz-Date", "20150830T123600Z"}};
  struct sigv4_request req = {"GET", "/", NULL, h, 2, NULL};
  struct sigv4_params p;
  struct buf cr, sh, sts, sig;

  params_example(&p, &example_creds);
  buf_init(&cr, 1 << 20);
  buf_init(&sh, 1 << 20);
  buf_init(&sts, 1 << 20);
  buf_init(&sig, 1 << 20);
  /* A verifier's view: the request's own X-Amz-Date, no date added. */
  ASSERT_EQ(0, sigv4_canonical_request(&req, &p, NULL, &cr, &sh));
  ASSERT_STR_EQ("host;x-amz-date", buf_str(&sh));
  ASSERT_EQ(0, sigv4_string_to_sign("20150830T123600Z",
                                    "20150830/us-east-1/service/aws4_request",
                                    buf_str(&cr), &sts));
  ASSERT_EQ(0, sigv4_signature(SECRET, "20150830", "us-east-1", "service",
                               buf_str(&sts), &sig));
  ASSERT_STR_EQ(
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
      buf_str(&sig));
  /* Given a date, the signer's replaces the caller's. */
  h[1].value = "19990101T000000Z";
  ASSERT_EQ(0, sigv4_canonical_request(&req, &p, "20150830T123600Z", &cr, &sh));
  ASSERT_CONTAINS(buf_str(&cr), "x-amz-date:20150830T123600Z\n");
  ASSERT(strstr(buf_str(&cr), "1999") == NULL);
  buf_free(&cr);
  buf_free(&sh);
  buf_free(&sts);
  buf_free(&sig);
}

TEST(sigv4_path_rules)
{
  /* Not S3: dot segments go, slashes collapse, a trailing slash stays,
   * and everything but unreserved bytes and '/' is encoded again. */
  ASSERT_STR_EQ("/", canon_uri("/", 0));
  ASSERT_STR_EQ("/", canon_uri("", 0));
  ASSERT_STR_EQ("/", canon_uri(NULL, 0));
  ASSERT_STR_EQ("/", canon_uri("//", 0));
  ASSERT_STR_EQ("/", canon_uri("/./", 0));
  ASSERT_STR_EQ("/", canon_uri("/a/..", 0));
  ASSERT_STR_EQ("/a", canon_uri("/a/b/..", 0));
  ASSERT_STR_EQ("/x", canon_uri("/../../x", 0));
  ASSERT_STR_EQ("/example/", canon_uri("//example//", 0));
  ASSERT_STR_EQ("/a/c/d/", canon_uri("/a/./b/../c//d/", 0));
  ASSERT_STR_EQ("/.../a..", canon_uri("/.../a..", 0));
  ASSERT_STR_EQ("/a%2520b/%252F", canon_uri("/a%20b/%2F", 0));
  ASSERT_STR_EQ("/a%252F..%252Fb", canon_uri("/a%2F..%2Fb", 0));
  ASSERT_STR_EQ("/a%3Ab%40c%21%24%2B", canon_uri("/a:b@c!$+", 0));
  ASSERT_STR_EQ("/%C3%BC%20x", canon_uri("/\xc3\xbc x", 0));
  ASSERT_STR_EQ("/~user/", canon_uri("/~user/", 0));

  /* S3: as sent, not normalised, encoded once: escapes and characters
   * legal on the wire stay, the rest is encoded. */
  ASSERT_STR_EQ("/", canon_uri("", 1));
  ASSERT_STR_EQ("//", canon_uri("//", 1));
  ASSERT_STR_EQ("/b/a%20b/../c", canon_uri("/b/a%20b/../c", 1));
  ASSERT_STR_EQ("/b//x/./y/", canon_uri("/b//x/./y/", 1));
  ASSERT_STR_EQ("/b/a:b+c=d@e!$&'()*,;", canon_uri("/b/a:b+c=d@e!$&'()*,;", 1));
  ASSERT_STR_EQ("/b/%e2%82%ac", canon_uri("/b/%e2%82%ac", 1));
  ASSERT_STR_EQ("/example%20space/", canon_uri("/example space/", 1));
  ASSERT_STR_EQ("/b/%E1%88%B4%3F%23", canon_uri("/b/\xe1\x88\xb4?#", 1));
  ASSERT_STR_EQ("/b/50%25/%252x", canon_uri("/b/50%/%2x", 1));
}

TEST(sigv4_query_rules)
{
  ASSERT_STR_EQ("", canon_query(NULL));
  ASSERT_STR_EQ("", canon_query(""));
  ASSERT_STR_EQ("a=0&a=1&b=2", canon_query("b=2&a=1&a=0"));
  /* Sorted by key, then value: "Param" before "Param-3". */
  ASSERT_STR_EQ("Param=Value2&Param-3=Value3",
                canon_query("Param-3=Value3&Param=Value2"));
  ASSERT_STR_EQ("A=1&a=1", canon_query("a=1&A=1"));
  ASSERT_STR_EQ("k=", canon_query("k"));
  ASSERT_STR_EQ("k=", canon_query("k="));
  ASSERT_STR_EQ("=v&k=", canon_query("=v&k"));
  /* botocore keeps empty pieces as "=" entries. */
  ASSERT_STR_EQ("=&=&a=1&b=", canon_query("a=1&&b&"));
  /* As sent: '=' in a value, '+', '/', lowercase escapes stay. */
  ASSERT_STR_EQ("x=a=b=c", canon_query("x=a=b=c"));
  ASSERT_STR_EQ("p=a+b/c:d@e?f", canon_query("p=a+b/c:d@e?f"));
  ASSERT_STR_EQ("u=%2f%2F", canon_query("u=%2f%2F"));
  /* Not legal on the wire: encoded. */
  ASSERT_STR_EQ("%E1%88%B4=bar", canon_query("\xe1\x88\xb4=bar"));
  ASSERT_STR_EQ("s=a%20b%22", canon_query("s=a b\""));
  ASSERT_STR_EQ("p=50%25&q=%25zz", canon_query("p=50%&q=%zz"));
}

TEST(sigv4_header_rules)
{
  static const char *const never[] = {"Connection",
                                      "Expect",
                                      "Keep-Alive",
                                      "Proxy-Authenticate",
                                      "Proxy-Authorization",
                                      "TE",
                                      "Trailer",
                                      "Transfer-Encoding",
                                      "Upgrade",
                                      "User-Agent",
                                      "X-Amzn-Trace-Id"};
  struct sigv4_header h[32];
  struct sigv4_credentials c = {AKID, SECRET, "tok/en+=="};
  struct sigv4_request req = {"put", "/b/k", NULL, h, 0, "UNSIGNED-PAYLOAD"};
  struct sigv4_params p;
  struct sigv4_result r;
  size_t i, n = 0;

  h[n++] = (struct sigv4_header){"host", "  example.amazonaws.com "};
  for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
    h[n++] = (struct sigv4_header){never[i], "x"};
  h[n++] = (struct sigv4_header){"My-Header", " a  "};
  h[n++] = (struct sigv4_header){"X-Trim", "  a \t b\v\f c\x1f d  "};
  h[n++] = (struct sigv4_header){"my-header", "b"};
  h[n++] = (struct sigv4_header){"X-Empty", ""};
  h[n++] = (struct sigv4_header){"X-Blank", " \t "};
  h[n++] = (struct sigv4_header){"MY-HEADER", "\"c   d\""};
  h[n++] = (struct sigv4_header){"Authorization", "old"};
  h[n++] = (struct sigv4_header){"X-Amz-Date", "old"};
  h[n++] = (struct sigv4_header){"X-Amz-Security-Token", "old"};
  h[n++] = (struct sigv4_header){"X-Amz-Content-SHA256", "old"};
  h[n++] = (struct sigv4_header){"X-Utf8", "caf\xc3\xa9  \xe2\x82\xac"};
  req.nheaders = n;
  params_example(&p, &c);
  p.s3 = 1;
  p.service = "s3";
  p.content_sha256_header = 1;
  sigv4_result_init(&r);
  ASSERT_EQ(0, sigv4_sign_header(&req, &p, &r));
  ASSERT_STR_EQ("PUT\n/b/k\n\n"
                "host:example.amazonaws.com\n"
                "my-header:a,b,\"c d\"\n"
                "x-amz-content-sha256:UNSIGNED-PAYLOAD\n"
                "x-amz-date:20150830T123600Z\n"
                "x-amz-security-token:tok/en+==\n"
                "x-blank:\n"
                "x-empty:\n"
                "x-trim:a b c d\n"
                "x-utf8:caf\xc3\xa9 \xe2\x82\xac\n\n"
                "host;my-header;x-amz-content-sha256;x-amz-date;"
                "x-amz-security-token;x-blank;x-empty;x-trim;x-utf8\n"
                "UNSIGNED-PAYLOAD",
                buf_str(&r.canonical_request));
  ASSERT_EQ(4, r.nheaders_to_add);
  ASSERT_STR_EQ("X-Amz-Date", r.headers_to_add[0].name);
  ASSERT_STR_EQ("20150830T123600Z", r.headers_to_add[0].value);
  ASSERT_STR_EQ("X-Amz-Security-Token", r.headers_to_add[1].name);
  ASSERT_STR_EQ("tok/en+==", r.headers_to_add[1].value);
  ASSERT_STR_EQ("X-Amz-Content-Sha256", r.headers_to_add[2].name);
  ASSERT_STR_EQ("UNSIGNED-PAYLOAD", r.headers_to_add[2].value);
  ASSERT_STR_EQ("Authorization", r.headers_to_add[3].name);
  ASSERT_CONTAINS(r.headers_to_add[3].value,
                  "Credential=AKIDEXAMPLE/20150830/us-east-1/s3/aws4_request, "
                  "SignedHeaders=host;my-header;x-amz-content-sha256;");
  /* The values are the result's own. */
  ASSERT(r.headers_to_add[1].value != c.session_token);
  sigv4_result_free(&r);
  ASSERT_EQ(0, r.nheaders_to_add);
}

TEST(sigv4_presign_with_session_token)
{
  struct sigv4_header h[] = {{"Host", "example.amazonaws.com"},
                             {"X-Amz-Date", "ignored"}};
  struct sigv4_credentials c = {AKID, SECRET, "AQo/Db+x="};
  struct sigv4_request req = {"GET", "/a/../b", "b+c=1%2f2&&k&dup=2&dup=1",
                              h,     2,         NULL};
  struct sigv4_params p;
  struct sigv4_result r;
  struct buf sts, sig;
  const char *q;

  params_example(&p, &c);
  sigv4_result_init(&r);
  buf_init(&sts, 1 << 20);
  buf_init(&sig, 1 << 20);
  ASSERT_EQ(0, sigv4_presign(&req, &p, 3600, &r));
  q = buf_str(&r.presigned_query);
  /* The operation's parameters decoded and encoded again, all kept, then
   * the auth parameters in botocore's order, the signature last. */
  ASSERT(strncmp(q,
                 "b%20c=1%2F2&k=&dup=2&dup=1&X-Amz-Algorithm=AWS4-HMAC-SHA256"
                 "&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2F"
                 "service%2Faws4_request&X-Amz-Date=20150830T123600Z"
                 "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
                 "&X-Amz-Security-Token=AQo%2FDb%2Bx%3D&X-Amz-Signature=",
                 strlen(q) - 64) == 0);
  ASSERT_STR_EQ(buf_str(&r.signature), q + strlen(q) - 64);
  ASSERT_STR_EQ("GET\n/b\n"
                "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential="
                "AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request"
                "&X-Amz-Date=20150830T123600Z&X-Amz-Expires=3600"
                "&X-Amz-Security-Token=AQo%2FDb%2Bx%3D"
                "&X-Amz-SignedHeaders=host&b%20c=1%2F2&dup=1&dup=2&k=\n"
                "host:example.amazonaws.com\n\nhost\n" EMPTY_SHA256,
                buf_str(&r.canonical_request));
  /* The stages agree with the result. */
  ASSERT_EQ(0, sigv4_string_to_sign("20150830T123600Z",
                                    "20150830/us-east-1/service/aws4_request",
                                    buf_str(&r.canonical_request), &sts));
  ASSERT_STR_EQ(buf_str(&sts), buf_str(&r.string_to_sign));
  ASSERT_EQ(0, sigv4_signature(SECRET, "20150830", "us-east-1", "service",
                               buf_str(&sts), &sig));
  ASSERT_STR_EQ(buf_str(&sig), buf_str(&r.signature));
  ASSERT_EQ(0, r.nheaders_to_add);
  ASSERT_EQ(0, buf_len(&r.authorization));

  /* S3: no normalising, UNSIGNED-PAYLOAD whatever the request says. */
  p.s3 = 1;
  p.service = "s3";
  req.payload_hash = EMPTY_SHA256;
  req.query = NULL;
  ASSERT_EQ(0, sigv4_presign(&req, &p, 604800, &r));
  ASSERT_STR_EQ("/a/../b", line_of(buf_str(&r.canonical_request), 1));
  ASSERT_STR_EQ("UNSIGNED-PAYLOAD", line_of(buf_str(&r.canonical_request), 6));
  ASSERT(strncmp(buf_str(&r.presigned_query), "X-Amz-Algorithm=", 16) == 0);
  ASSERT_CONTAINS(buf_str(&r.presigned_query), "&X-Amz-Expires=604800&");
  sigv4_result_free(&r);
  buf_free(&sts);
  buf_free(&sig);
}

static void expect_einval_empty(int rc, struct sigv4_result *r)
{
  ASSERT_EQ(SR_EINVAL, rc);
  ASSERT_EQ(0, buf_len(&r->canonical_request));
  ASSERT_EQ(0, buf_len(&r->signature));
  ASSERT_EQ(0, buf_len(&r->amz_date));
  ASSERT_EQ(0, r->nheaders_to_add);
}

TEST(sigv4_errors)
{
  struct sigv4_header h[] = {{"Host", "example.amazonaws.com"},
                             {"X-Other", "v"}};
  struct sigv4_header bad_name = {"Bad Name", "v"};
  struct sigv4_header bad_value = {"X-Bad", "a\r\nX-Injected: 1"};
  struct sigv4_request req = {"GET", "/", NULL, h + 1, 1, NULL};
  struct sigv4_credentials no_key = {"", SECRET, NULL};
  struct sigv4_credentials no_secret = {AKID, NULL, NULL};
  struct sigv4_params p;
  struct sigv4_result r;
  struct buf out;

  params_example(&p, &example_creds);
  sigv4_result_init(&r);
  buf_init(&out, 1 << 20);
  /* Missing Host. */
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  expect_einval_empty(sigv4_presign(&req, &p, 60, &r), &r);
  ASSERT_EQ(SR_EINVAL, sigv4_canonical_request(&req, &p, NULL, &out, NULL));
  req.headers = h;
  req.nheaders = 2;
  /* A failed call leaves a previous result freed, not half-replaced. */
  ASSERT_EQ(0, sigv4_sign_header(&req, &p, &r));
  p.credentials = NULL;
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  expect_einval_empty(sigv4_presign(&req, &p, 60, &r), &r);
  p.credentials = &no_key;
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  p.credentials = &no_secret;
  expect_einval_empty(sigv4_presign(&req, &p, 60, &r), &r);
  p.credentials = &example_creds;
  /* Expiry out of 1..604800. */
  expect_einval_empty(sigv4_presign(&req, &p, 0, &r), &r);
  expect_einval_empty(sigv4_presign(&req, &p, 604801, &r), &r);
  ASSERT_EQ(0, sigv4_presign(&req, &p, 1, &r));
  /* Malformed request parts. */
  p.region = "";
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  p.region = "us-east-1";
  p.service = "a/b";
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  p.service = "service";
  req.method = "";
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  req.method = "GET";
  req.path = "relative";
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  req.path = "/";
  h[1] = bad_name;
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  h[1] = bad_value;
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  h[1].value = NULL;
  expect_einval_empty(sigv4_sign_header(&req, &p, &r), &r);
  h[1].value = "v";
  ASSERT_EQ(0, sigv4_sign_header(&req, &p, &r));
  sigv4_result_free(&r);
  buf_free(&out);
}

/* ---- The aws-c-auth v4 suite ---------------------------------------- */

#define SUITE_MAX_HEADERS 32

/* One parsed request.txt. */
struct suite_req {
  char *text; /* the file, cut up in place */
  const char *method;
  struct buf path, query, body;
  const char *names[SUITE_MAX_HEADERS];
  struct buf values[SUITE_MAX_HEADERS];
  struct sigv4_header headers[SUITE_MAX_HEADERS];
  size_t nheaders;
};

static void suite_req_free(struct suite_req *s)
{
  size_t i;

  for (i = 0; i < SUITE_MAX_HEADERS; i++)
    buf_free(&s->values[i]);
  buf_free(&s->path);
  buf_free(&s->query);
  buf_free(&s->body);
  free(s->text);
}

/* Parses "METHOD TARGET HTTP/1.1", headers (a line starting with white
 * space continues the previous value; folded lines are joined with a
 * space, which the canonical form collapses anyway), a blank line and the
 * body. The target may hold spaces (get-space). Returns 0 or -1. */
static int suite_req_parse(const char *path, struct suite_req *s)
{
  char *p, *line, *end, *sp, *last, *q;
  size_t i, len;

  memset(s, 0, sizeof(*s));
  buf_init(&s->path, 1 << 20);
  buf_init(&s->query, 1 << 20);
  buf_init(&s->body, 1 << 20);
  for (i = 0; i < SUITE_MAX_HEADERS; i++)
    buf_init(&s->values[i], 1 << 20);
  s->text = test_read_file(path, &len);
  if (s->text == NULL)
    return -1;
  p = s->text;
  end = strchr(p, '\n');
  if (end == NULL)
    return -1;
  *end = '\0';
  if (end > p && end[-1] == '\r')
    end[-1] = '\0';
  sp = strchr(p, ' ');
  last = strrchr(p, ' ');
  if (sp == NULL || last == sp)
    return -1;
  *sp = '\0';
  *last = '\0';
  s->method = p;
  q = strchr(sp + 1, '?');
  if (q) {
    *q = '\0';
    buf_adds(&s->query, q + 1);
  }
  buf_adds(&s->path, sp + 1);
  for (p = end + 1; *p;) {
    char *colon;

    line = p;
    end = strchr(line, '\n');
    if (end) {
      *end = '\0';
      p = end + 1;
    } else {
      p = line + strlen(line);
    }
    len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
      line[--len] = '\0';
    if (len == 0)
      break; /* the body follows */
    if ((line[0] == ' ' || line[0] == '\t') && s->nheaders > 0) {
      buf_addc(&s->values[s->nheaders - 1], ' ');
      buf_adds(&s->values[s->nheaders - 1], line);
      continue;
    }
    colon = strchr(line, ':');
    if (colon == NULL || s->nheaders == SUITE_MAX_HEADERS)
      return -1;
    *colon = '\0';
    s->names[s->nheaders] = line;
    buf_adds(&s->values[s->nheaders], colon + 1);
    s->nheaders++;
  }
  buf_add(&s->body, p, strlen(p));
  for (i = 0; i < s->nheaders; i++) {
    s->headers[i].name = s->names[i];
    s->headers[i].value = buf_str(&s->values[i]);
  }
  return 0;
}

/* "2015-08-30T12:36:00Z" to seconds since the epoch, or -1. */
static time_t parse_iso8601(const char *s)
{
  static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
  long v[6] = {0};
  long y, m, d, era, yoe, doy, doe;
  int i, k = 0;

  if (s == NULL || strlen(s) != sizeof(shape) - 1)
    return -1;
  for (i = 0; shape[i]; i++) {
    if (shape[i] != 'd') {
      if (s[i] != shape[i])
        return -1;
      k += shape[i] != 'Z';
      continue;
    }
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v[k] = v[k] * 10 + (s[i] - '0');
  }
  /* Days from the civil date (Howard Hinnant's algorithm). */
  y = v[0] - (v[1] <= 2);
  m = v[1];
  d = v[2];
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return (time_t)((era * 146097 + doe - 719468) * 86400 + v[3] * 3600 +
                  v[4] * 60 + v[5]);
}

/* One stage of a signing: what the reference says, what we made. */
struct stage {
  const char *label;
  const char *expected;
  const char *got;
};

/* Compares the stages in order and reports the first that differs, with
 * the first line where it does; the stages after it follow from it and are
 * not reported. Quiet: compare only. Returns 1 when all agree. */
static int stages_check(const char *name, const struct stage *st, size_t n,
                        int quiet)
{
  size_t i;

  for (i = 0; i < n; i++) {
    const char *e = st[i].expected ? st[i].expected : "(missing)";
    const char *g = st[i].got, *e0 = e, *g0 = g;
    int line = 0;

    if (strcmp(e, g) == 0)
      continue;
    if (quiet)
      return 0;
    for (; *e && *e == *g; e++, g++)
      line += *e == '\n';
    printf("# %s: %s differs at line %d%s\n", name, st[i].label, line + 1,
           i + 1 < n ? " (later stages not compared)" : "");
    printf("#   expected: %s\n", line_of(e0, line));
    printf("#   got:      %s\n", line_of(g0, line));
    return 0;
  }
  return 1;
}

static const char *suite_dir(void)
{
  static char dir[4096];
  const char *env = getenv("SAGERUN_SIGV4_SUITE");

  if (env && *env)
    snprintf(dir, sizeof(dir), "%s", env);
  else
    snprintf(dir, sizeof(dir), "%s/../shared/reference/sigv4-suite/v4",
             test_srcdir());
  return dir;
}

static struct buf suite_path_buf;

/* The path dir/name/file, valid until the next call. */
static const char *suite_path(const char *dir, const char *name,
                              const char *file)
{
  buf_free(&suite_path_buf);
  buf_init(&suite_path_buf, 1 << 16);
  if (buf_addf(&suite_path_buf, "%s/%s/%s", dir, name, file) != 0)
    return "";
  return buf_str(&suite_path_buf);
}

/* Frees suite_path's buffer (tests end under LeakSanitizer). */
static void suite_path_free(void)
{
  buf_free(&suite_path_buf);
}

static char *suite_file(const char *dir, const char *name, const char *file)
{
  return test_read_file(suite_path(dir, name, file), NULL);
}

/* The Authorization value in header-signed-request.txt. */
static const char *signed_authorization(const char *signed_req)
{
  static char out[1024];
  const char *a = strstr(signed_req, "\nAuthorization:");
  size_t n;

  if (a == NULL)
    return "(none)";
  a += strlen("\nAuthorization:");
  n = strcspn(a, "\r\n");
  snprintf(out, sizeof(out), "%.*s", (int)n, a);
  return out;
}

struct suite_stats {
  int cases, passed, query_partial;
};

/* Header-signing and presigning of one case, every stage against the
 * expected files. Returns 1 when all agree. */
static int suite_case(const char *dir, const char *name,
                      struct suite_stats *stats)
{
  static const char *const files[] = {
      "header-canonical-request.txt", "header-string-to-sign.txt",
      "header-signature.txt",         "header-signed-request.txt",
      "query-canonical-request.txt",  "query-string-to-sign.txt",
      "query-signature.txt"};
  char *want[7] = {NULL}, payload[65];
  struct suite_req s;
  struct sigv4_credentials c = {NULL, NULL, NULL};
  struct sigv4_request req;
  struct sigv4_params p;
  struct sigv4_result r;
  json_t *ctx, *creds;
  json_error_t jerr;
  int ok = 1, normalize, rc;
  size_t i;
  long expires;

  sigv4_result_init(&r);
  ctx = json_load_file(suite_path(dir, name, "context.json"), 0, &jerr);
  if (suite_req_parse(suite_path(dir, name, "request.txt"), &s) != 0 ||
      ctx == NULL) {
    printf("# %s: cannot read context.json or request.txt\n", name);
    json_decref(ctx);
    suite_req_free(&s);
    return 0;
  }
  for (i = 0; i < 7; i++) {
    want[i] = suite_file(dir, name, files[i]);
    if (want[i] == NULL) {
      printf("# %s: no %s\n", name, files[i]);
      ok = 0;
    }
  }
  creds = json_object_get(ctx, "credentials");
  c.access_key_id = json_string_value(json_object_get(creds, "access_key_id"));
  c.secret_access_key =
      json_string_value(json_object_get(creds, "secret_access_key"));
  /* omit_session_token: the token is added after signing, unsigned. */
  if (!json_is_true(json_object_get(ctx, "omit_session_token")))
    c.session_token = json_string_value(json_object_get(creds, "token"));
  normalize = json_is_true(json_object_get(ctx, "normalize"));
  expires =
      (long)json_integer_value(json_object_get(ctx, "expiration_in_seconds"));
  p.region = json_string_value(json_object_get(ctx, "region"));
  p.service = json_string_value(json_object_get(ctx, "service"));
  p.now = parse_iso8601(json_string_value(json_object_get(ctx, "timestamp")));
  /* normalize: false is the S3 path rule (no normalising, encoded
   * once); sign_body adds X-Amz-Content-Sha256. */
  p.s3 = !normalize;
  p.content_sha256_header = json_is_true(json_object_get(ctx, "sign_body"));
  p.credentials = &c;
  sigv4_payload_hash(buf_str(&s.body), buf_len(&s.body), payload);
  req.method = s.method;
  req.path = buf_str(&s.path);
  req.query = buf_str(&s.query);
  req.headers = s.headers;
  req.nheaders = s.nheaders;
  req.payload_hash = payload;
  if (!ok)
    goto out;

  rc = sigv4_sign_header(&req, &p, &r);
  if (rc != 0) {
    printf("# %s: header signing failed: %s\n", name, sr_strerror(rc));
    ok = 0;
    goto out;
  }
  {
    const struct stage st[] = {
        {"header canonical request", want[0], buf_str(&r.canonical_request)},
        {"header string to sign", want[1], buf_str(&r.string_to_sign)},
        {"header signature", want[2], buf_str(&r.signature)},
        {"header Authorization", signed_authorization(want[3]),
         buf_str(&r.authorization)}};

    ok &= stages_check(name, st, 4, 0);
  }

  rc = sigv4_presign(&req, &p, expires, &r);
  if (rc != 0) {
    printf("# %s: presigning failed: %s\n", name, sr_strerror(rc));
    ok = 0;
    goto out;
  }
  if (normalize) {
    const char *q = buf_str(&r.presigned_query);
    size_t qlen = buf_len(&r.presigned_query);

    const struct stage st[] = {
        {"query canonical request", want[4], buf_str(&r.canonical_request)},
        {"query string to sign", want[5], buf_str(&r.string_to_sign)},
        {"query signature", want[6], buf_str(&r.signature)},
        {"X-Amz-Signature of the presigned query", want[6],
         qlen > 64 ? q + qlen - 64 : q}};

    ok &= stages_check(name, st, 4, 0);
  } else {
    /* The suite's unnormalised presigned cases sign the empty body's hash,
     * where an S3 presigned URL signs UNSIGNED-PAYLOAD (botocore's
     * S3SigV4QueryAuth, and what S3 checks): all but that last line must
     * agree, and the stage functions must turn the suite's canonical
     * request into its string to sign and signature. */
    const char *cr = buf_str(&r.canonical_request);
    const char *cut = strrchr(cr, '\n'), *wcut = strrchr(want[4], '\n');
    struct buf head, whead, sts, sig;
    char date8[9];

    buf_init(&head, 1 << 20);
    buf_init(&whead, 1 << 20);
    buf_init(&sts, 1 << 20);
    buf_init(&sig, 1 << 20);
    ASSERT(cut != NULL && wcut != NULL);
    ASSERT_EQ(0, buf_add(&head, cr, (size_t)(cut - cr)));
    ASSERT_EQ(0, buf_add(&whead, want[4], (size_t)(wcut - want[4])));
    memcpy(date8, buf_str(&r.amz_date), 8);
    date8[8] = '\0';
    ASSERT_EQ(0, sigv4_string_to_sign(buf_str(&r.amz_date),
                                      buf_str(&r.credential_scope), want[4],
                                      &sts));
    ASSERT_EQ(0, sigv4_signature(c.secret_access_key, date8, p.region,
                                 p.service, buf_str(&sts), &sig));
    {
      const struct stage st1[] = {
          {"query canonical request but its payload line", buf_str(&whead),
           buf_str(&head)},
          {"query payload line", "UNSIGNED-PAYLOAD", cut + 1},
          {"query string to sign, by the stage function", want[5],
           buf_str(&sts)},
          {"query signature, by the stage function", want[6], buf_str(&sig)}};

      ok &= stages_check(name, st1, 4, 0);
    }
    buf_free(&head);
    buf_free(&whead);
    buf_free(&sts);
    buf_free(&sig);
    stats->query_partial++;
  }
out:
  for (i = 0; i < 7; i++)
    free(want[i]);
  sigv4_result_free(&r);
  suite_req_free(&s);
  json_decref(ctx);
  return ok;
}

TEST(sigv4_suite_every_stage)
{
  const char *dir = suite_dir();
  struct dirent **list = NULL;
  struct suite_stats st = {0, 0, 0};
  struct stat sb;
  int n, i;

  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    printf("# skipped: SigV4 suite not found at %s\n", dir);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  n = scandir(dir, &list, NULL, alphasort);
  ASSERT(n >= 0);
  for (i = 0; i < n; i++) {
    if (list[i]->d_name[0] != '.' &&
        access(suite_path(dir, list[i]->d_name, "context.json"), R_OK) == 0) {
      st.cases++;
      st.passed += suite_case(dir, list[i]->d_name, &st);
    }
    free(list[i]);
  }
  free(list);
  suite_path_free();
  printf("# sigv4 suite: %d cases, %d passed (the presigned form of %d "
         "unnormalised ones compared but for the payload line)\n",
         st.cases, st.passed, st.query_partial);
  ASSERT(st.cases > 0);
  ASSERT_EQ(st.cases, st.passed);
}

/* ---- botocore on generated requests --------------------------------- */

#define GEN_REQUESTS 1200
#define GEN_PRESIGN_EVERY 6 /* 200 of them presigned as well */
#define GEN_MAX_HEADERS 16

static uint64_t rng_state;

/* splitmix64: small, and the same on every machine. */
static uint64_t rng_next(void)
{
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
  return (size_t)(rng_next() % n);
}

#define PICK(arr) ((arr)[rng_below(sizeof(arr) / sizeof((arr)[0]))])

struct gen_req {
  int presign, s3;
  const char *service, *region, *method;
  char akid[21], secret[41];
  int has_token;
  struct buf host, path, query, body, token;
  struct buf names[GEN_MAX_HEADERS], values[GEN_MAX_HEADERS];
  size_t nheaders;
  time_t when;
  long expires;
};

static void gen_init(struct gen_req *g)
{
  size_t i;

  memset(g, 0, sizeof(*g));
  buf_init(&g->host, 1 << 20);
  buf_init(&g->path, 1 << 20);
  buf_init(&g->query, 1 << 20);
  buf_init(&g->body, 1 << 20);
  buf_init(&g->token, 1 << 20);
  for (i = 0; i < GEN_MAX_HEADERS; i++) {
    buf_init(&g->names[i], 1 << 20);
    buf_init(&g->values[i], 1 << 20);
  }
}

static void gen_free(struct gen_req *g)
{
  size_t i;

  buf_free(&g->host);
  buf_free(&g->path);
  buf_free(&g->query);
  buf_free(&g->body);
  buf_free(&g->token);
  for (i = 0; i < GEN_MAX_HEADERS; i++) {
    buf_free(&g->names[i]);
    buf_free(&g->values[i]);
  }
}

static void gen_random_chars(char *out, size_t n, const char *alphabet)
{
  size_t i, k = strlen(alphabet);

  for (i = 0; i < n; i++)
    out[i] = alphabet[rng_below(k)];
  out[n] = '\0';
}

static void gen_header(struct gen_req *g, const char *name, const char *value)
{
  char mangled[128];
  size_t i;

  ASSERT(g->nheaders < GEN_MAX_HEADERS);
  /* Any case: names are compared without it. */
  snprintf(mangled, sizeof(mangled), "%s", name);
  if (rng_below(4) == 0) {
    for (i = 0; mangled[i]; i++) {
      if (rng_below(2) && mangled[i] >= 'a' && mangled[i] <= 'z')
        mangled[i] = (char)(mangled[i] - 'a' + 'A');
      else if (mangled[i] >= 'A' && mangled[i] <= 'Z' && rng_below(2))
        mangled[i] = (char)(mangled[i] - 'A' + 'a');
    }
  }
  ASSERT_EQ(0, buf_adds(&g->names[g->nheaders], mangled));
  ASSERT_EQ(0, buf_adds(&g->values[g->nheaders], value));
  g->nheaders++;
}

/* Path segments legal on the wire as they are: unreserved words, escapes
 * (upper and lower case), sub-delims, dot segments, empty ones. */
static const char *const wire_segments[] = {
    "models",    "jobs",  "my-job_1.0~x", "A",         "z9",
    "%20",       "a%20b", "%2F",          "caf%C3%A9", "%E2%82%AC",
    "%e2%82%ac", "%25",   "%7E",          "%41",       "a!b",
    "$x",        "a&b",   "it's",         "(1)",       "*",
    "a+b",       "a,b",   "a;b",          "a=b",       "a:b",
    "user@x",    ".",     "..",           "...",       ".hidden",
    "a..",       "",      "%2e%2e",       "~",         "-",
    "_"};

/* S3 key pieces before encoding: the C encoder makes them wire form the
 * way botocore's S3 serializer does (quote(key, safe='/~')). */
static const char *const raw_key_pieces[] = {"photos",
                                             "2024",
                                             "a b",
                                             "\xc3\xbc",
                                             "\xe6\x97\xa5\xe6\x9c\xac",
                                             "\xe2\x82\xac",
                                             "x+y",
                                             "a=b&c",
                                             "50%",
                                             "q?",
                                             "#tag",
                                             "~user",
                                             "(copy)",
                                             "it's",
                                             ".",
                                             "..",
                                             "",
                                             "semi;colon",
                                             "comma,",
                                             "at@",
                                             "col:on",
                                             "back\\slash",
                                             "\"q\"",
                                             "<>",
                                             "{}",
                                             "|",
                                             "^",
                                             "`",
                                             "a/b",
                                             "data.csv"};

static void gen_path(struct gen_req *g)
{
  size_t i, n = rng_below(6);

  if (g->s3) {
    struct buf key;

    if (rng_below(2))
      ASSERT_EQ(0, buf_adds(&g->path, "/bucket-x")); /* path style */
    if (rng_below(4) == 0) {
      /* Wire form as it is, with characters botocore keeps as sent. */
      for (i = 0; i < n + 1; i++) {
        ASSERT_EQ(0, buf_addc(&g->path, '/'));
        ASSERT_EQ(0, buf_adds(&g->path, PICK(wire_segments)));
      }
      return;
    }
    buf_init(&key, 1 << 20);
    for (i = 0; i < n + 1; i++) {
      ASSERT_EQ(0, buf_addc(&key, '/'));
      ASSERT_EQ(0, buf_adds(&key, PICK(raw_key_pieces)));
    }
    ASSERT_EQ(0, sigv4_uri_encode(&g->path, buf_str(&key), buf_len(&key), 1));
    buf_free(&key);
    return;
  }
  for (i = 0; i < n; i++) {
    ASSERT_EQ(0, buf_addc(&g->path, '/'));
    ASSERT_EQ(0, buf_adds(&g->path, PICK(wire_segments)));
  }
  if (n == 0 || rng_below(4) == 0)
    ASSERT_EQ(0, buf_addc(&g->path, '/'));
}

/* Query keys, pairwise different after decoding (presigning keeps one
 * value a key, like a dict). */
static const char *const query_keys[] = {
    "Action",  "Param",    "Param-3", "max-keys", "prefix",    "list-type",
    "a",       "A",        "k",       "",         "%E1%88%B4", "x-id",
    "uploads", "key%20sp", "Z",       "b+c",      "%7Euser",   "sp%2fkey"};

static const char *const query_values[] = {
    "value",     "",    "a%3Db",     "1%2B1",   "%2F",   "x%2Fy",  "%20",
    "caf%C3%A9", "a+b", "a=b=c",     "path/to", "12:00", "u@h",    "?q",
    "!$'()*,;",  "%2f", "%e2%82%ac", "-._~",    "0",     "Value1", "%41%42"};

static void gen_query(struct gen_req *g)
{
  size_t i, n = rng_below(3) == 0 ? 0 : 1 + rng_below(6);
  int used[sizeof(query_keys) / sizeof(query_keys[0])] = {0};

  for (i = 0; i < n; i++) {
    size_t k = rng_below(sizeof(query_keys) / sizeof(query_keys[0]));

    if (g->presign) {
      if (used[k])
        continue;
      used[k] = 1;
    } else if (i > 0 && rng_below(3) == 0) {
      k = 6 + rng_below(3); /* small keys: repeats */
    }
    if (buf_len(&g->query) > 0 || (i > 0 && rng_below(8) == 0))
      ASSERT_EQ(0, buf_addc(&g->query, '&'));
    if (rng_below(10) == 0)
      ASSERT_EQ(0, buf_addc(&g->query, '&')); /* an empty piece */
    ASSERT_EQ(0, buf_adds(&g->query, query_keys[k]));
    if (rng_below(8) != 0) {
      ASSERT_EQ(0, buf_addc(&g->query, '='));
      ASSERT_EQ(0, buf_adds(&g->query, PICK(query_values)));
    }
  }
}

static const char *const header_names[] = {
    "Content-Type",    "X-Amz-Meta-Owner",
    "x-amz-meta-tags", "My-Header1",
    "X-Custom",        "Accept",
    "Content-MD5",     "Cache-Control",
    "X-Amz-Target",    "User-Agent",
    "X-Amzn-Trace-Id", "Expect",
    "x-amz-acl",       "Range",
    "If-Match",        "Content-Encoding"};

/* Values with odd white space (Python's str.split() set, ASCII part), and
 * UTF-8 without white space characters. */
static const char *const header_values[] = {"value",
                                            "  leading",
                                            "trailing  ",
                                            "a   b\t\tc",
                                            "\tx\t",
                                            "",
                                            "   ",
                                            "\"a   b   c\"",
                                            "caf\xc3\xa9 \xe2\x82\xac",
                                            "a,b",
                                            "x\x0bz\x0c",
                                            "p\x1cq\x1fr",
                                            "application/json",
                                            "bytes=0-99",
                                            "max-age=0,  no-cache",
                                            "text/plain; charset=utf-8",
                                            "*/*",
                                            "100-continue"};

static void gen_headers(struct gen_req *g)
{
  static const char *const host_names[] = {"Host", "host", "HOST"};
  char host_value[256];
  size_t i, n = rng_below(8);

  snprintf(host_value, sizeof(host_value), "%s%s%s",
           rng_below(5) == 0 ? "  " : "", buf_str(&g->host),
           rng_below(5) == 0 ? " \t" : "");
  /* Host anywhere among the others. */
  for (i = 0; i < n + 1; i++) {
    if (i == n / 2) {
      gen_header(g, PICK(host_names), host_value);
      continue;
    }
    if (rng_below(5) == 0 && g->nheaders > 0 &&
        strcmp(buf_str(&g->names[g->nheaders - 1]), "Host") != 0 &&
        strcmp(buf_str(&g->names[g->nheaders - 1]), "host") != 0 &&
        strcmp(buf_str(&g->names[g->nheaders - 1]), "HOST") != 0) {
      /* The previous name again: a repeated header. */
      char name[128];

      snprintf(name, sizeof(name), "%s", buf_str(&g->names[g->nheaders - 1]));
      gen_header(g, name, PICK(header_values));
      continue;
    }
    gen_header(g, PICK(header_names), PICK(header_values));
  }
  if (g->presign)
    return;
  /* Headers the signer sets itself replace the caller's, as in botocore
   * (X-Amz-Content-SHA256 only where the signer sets it: S3). */
  if (rng_below(10) == 0)
    gen_header(g, "X-Amz-Date", "20000101T000000Z");
  if (rng_below(10) == 0)
    gen_header(g, "Authorization", "AWS4-HMAC-SHA256 stale");
  if (g->has_token && rng_below(8) == 0)
    gen_header(g, "X-Amz-Security-Token", "stale-token");
  if (g->s3 && rng_below(8) == 0)
    gen_header(g, "X-Amz-Content-SHA256", "stale");
  if (rng_below(10) == 0)
    gen_header(g, "Content-Type",
               "application/x-www-form-urlencoded; charset=utf-8");
}

static void gen_body(struct gen_req *g)
{
  int writes = strcmp(g->method, "PUT") == 0 || strcmp(g->method, "POST") == 0;
  size_t i, kind = rng_below(10), n;

  if (g->presign || (!writes && kind < 8) || (writes && kind < 2))
    return;
  n = 1 + rng_below(2000);
  if (kind % 2) {
    for (i = 0; i < n; i++)
      ASSERT_EQ(0, buf_addc(&g->body, (char)(rng_next() & 0xff)));
  } else {
    for (i = 0; i < n; i++)
      ASSERT_EQ(0, buf_addc(&g->body, "abc xyz\n{}\":,"[rng_below(13)]));
  }
}

static void gen_request(struct gen_req *g, int presign)
{
  static const char *const services[] = {"s3", "sagemaker", "logs"};
  static const char *const regions[] = {"us-east-1", "eu-west-1",
                                        "ap-southeast-2"};
  static const char *const methods[] = {"GET", "PUT", "POST", "HEAD", "DELETE"};
  static const char b64[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxy"
      "z0123456789+/";
  char token[512];

  gen_init(g);
  g->presign = presign;
  g->service = PICK(services);
  g->s3 = strcmp(g->service, "s3") == 0;
  g->region = PICK(regions);
  g->method = PICK(methods);
  /* 2000-01-01 to 2037-12-31. */
  g->when = (time_t)(946684800 + rng_below(2145830400u - 946684800u));
  g->expires = rng_below(5) == 0 ? (rng_below(2) ? 1 : 604800)
                                 : 1 + (long)rng_below(604800);
  memcpy(g->akid, rng_below(2) ? "AKIA" : "ASIA", 4);
  gen_random_chars(g->akid + 4, 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
  gen_random_chars(g->secret, 40, b64);
  g->has_token = rng_below(2);
  if (g->has_token) {
    size_t n = 40 + rng_below(300);

    gen_random_chars(token, n, b64);
    ASSERT_EQ(0, buf_adds(&g->token, token));
    ASSERT_EQ(0, buf_adds(&g->token, rng_below(2) ? "==" : ""));
  }
  if (g->s3)
    ASSERT_EQ(0, buf_addf(&g->host, "%s.s3.%s.amazonaws.com",
                          rng_below(2) ? "bucket-x" : "data", g->region));
  else
    ASSERT_EQ(
        0, buf_addf(&g->host, "%s.%s.amazonaws.com",
                    strcmp(g->service, "logs") == 0 ? "logs" : "api.sagemaker",
                    g->region));
  gen_path(g);
  gen_query(g);
  gen_headers(g);
  gen_body(g);
}

static void json_set(json_t *o, const char *key, json_t *v)
{
  ASSERT(v != NULL); /* jansson refuses strings that are not UTF-8 */
  ASSERT_EQ(0, json_object_set_new(o, key, v));
}

/* Appends the request as one JSON line for the peer. */
static void gen_to_json(const struct gen_req *g, int id, int presign, FILE *f)
{
  json_t *o = json_object(), *hs = json_array();
  struct buf hex;
  char ts[17], *line;
  size_t i;

  ASSERT(o != NULL && hs != NULL);
  buf_init(&hex, 1 << 20);
  for (i = 0; i < buf_len(&g->body); i++)
    ASSERT_EQ(0, buf_addf(&hex, "%02x", (unsigned char)buf_str(&g->body)[i]));
  sigv4_format_time(g->when, ts);
  for (i = 0; i < g->nheaders; i++) {
    json_t *pair = json_array();

    ASSERT(pair != NULL);
    ASSERT_EQ(0,
              json_array_append_new(pair, json_string(buf_str(&g->names[i]))));
    ASSERT_EQ(0,
              json_array_append_new(pair, json_string(buf_str(&g->values[i]))));
    ASSERT_EQ(2, json_array_size(pair));
    ASSERT_EQ(0, json_array_append_new(hs, pair));
  }
  json_set(o, "id", json_integer(id));
  json_set(o, "mode", json_string(presign ? "presign" : "header"));
  json_set(o, "s3", json_boolean(g->s3));
  json_set(o, "service", json_string(g->service));
  json_set(o, "region", json_string(g->region));
  json_set(o, "method", json_string(g->method));
  json_set(o, "host", json_string(buf_str(&g->host)));
  json_set(o, "path", json_string(buf_str(&g->path)));
  json_set(o, "query", json_string(buf_str(&g->query)));
  json_set(o, "headers", hs);
  json_set(o, "body_hex", json_string(buf_str(&hex)));
  json_set(o, "access_key", json_string(g->akid));
  json_set(o, "secret_key", json_string(g->secret));
  json_set(o, "token",
           g->has_token ? json_string(buf_str(&g->token)) : json_null());
  json_set(o, "timestamp", json_string(ts));
  json_set(o, "expires", json_integer(g->expires));
  line = json_dumps(o, JSON_COMPACT);
  ASSERT(line != NULL);
  ASSERT(fprintf(f, "%s\n", line) > 0);
  free(line);
  json_decref(o);
  buf_free(&hex);
}

static const char *jstr(json_t *o, const char *key)
{
  return json_string_value(json_object_get(o, key));
}

/* Signs g as the C side and compares with botocore's answer. Returns 1 on
 * agreement; prints the first few disagreements in full. */
static int gen_compare(const struct gen_req *g, int presign, json_t *peer,
                       int *reported)
{
  struct sigv4_header hs[GEN_MAX_HEADERS];
  struct sigv4_credentials c = {g->akid, g->secret,
                                g->has_token ? buf_str(&g->token) : NULL};
  struct sigv4_request req;
  struct sigv4_params p;
  struct sigv4_result r;
  char payload[65], name[64];
  int ok = 1, rc;
  size_t i;

  for (i = 0; i < g->nheaders; i++) {
    hs[i].name = buf_str(&g->names[i]);
    hs[i].value = buf_str(&g->values[i]);
  }
  sigv4_payload_hash(buf_str(&g->body), buf_len(&g->body), payload);
  req.method = g->method;
  req.path = buf_str(&g->path);
  req.query = buf_str(&g->query);
  req.headers = hs;
  req.nheaders = g->nheaders;
  req.payload_hash = presign ? NULL : payload;
  p.region = g->region;
  p.service = g->service;
  p.now = g->when;
  p.s3 = g->s3;
  p.content_sha256_header = g->s3;
  p.credentials = &c;
  sigv4_result_init(&r);
  rc = presign ? sigv4_presign(&req, &p, g->expires, &r)
               : sigv4_sign_header(&req, &p, &r);
  snprintf(name, sizeof(name), "request %d (%s%s)",
           (int)json_integer_value(json_object_get(peer, "id")),
           presign ? "presigned, " : "", g->service);
  if (rc != 0) {
    printf("# %s: signing failed: %s\n", name, sr_strerror(rc));
    ok = 0;
    goto out;
  }
  {
    /* Quiet after a few reports: one cause tends to repeat. */
    const struct stage st[] = {
        {"canonical request", jstr(peer, "canonical_request"),
         buf_str(&r.canonical_request)},
        {"string to sign", jstr(peer, "string_to_sign"),
         buf_str(&r.string_to_sign)},
        {presign ? "presigned query" : "Authorization",
         jstr(peer, presign ? "query" : "authorization"),
         buf_str(presign ? &r.presigned_query : &r.authorization)}};

    ok = stages_check(name, st, 3, *reported >= 3);
  }
  if (!presign) {
    /* The headers to send: botocore's X-Amz-* ones, same values. */
    json_t *added = json_object_get(peer, "added");
    int same = json_object_size(added) == r.nheaders_to_add - 1;

    for (i = 0; i + 1 < r.nheaders_to_add; i++) {
      const char *key, *v = NULL;
      json_t *val;

      json_object_foreach(added, key, val)
      {
        if (strcasecmp(key, r.headers_to_add[i].name) == 0)
          v = json_string_value(val);
      }
      same &= v && strcmp(v, r.headers_to_add[i].value) == 0;
    }
    if (!same && *reported < 3)
      printf("# %s: headers to add differ from botocore's\n", name);
    ok &= same;
  }
  if (!ok && *reported < 3) {
    printf("#   request: %s %s?%s\n", g->method, buf_str(&g->path),
           buf_str(&g->query));
    (*reported)++;
  }
out:
  sigv4_result_free(&r);
  return ok;
}

TEST_TIMEOUT(sigv4_botocore_agrees, 180000);
TEST(sigv4_botocore_agrees)
{
  static struct gen_req reqs[GEN_REQUESTS];
  char in[4096], out[4096], script[4096];
  const char *seed = getenv("SAGERUN_SIGV4_SEED");
  const char *argv[] = {PEER_PYTHON, script, in, out, NULL};
  char *stdout_text = NULL, *stderr_text = NULL, *answers, *line, *next;
  int i, status, compared = 0, presigned = 0, disagreed = 0, reported = 0;
  FILE *f;

  if (access(PEER_PYTHON, X_OK) != 0) {
    printf("# skipped: %s not installed\n", PEER_PYTHON);
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    return;
  }
  rng_state = seed && *seed ? strtoull(seed, NULL, 0) : 0x5347563452554eull;
  printf("# seed %#llx (SAGERUN_SIGV4_SEED)\n", (unsigned long long)rng_state);
  snprintf(in, sizeof(in), "%s/requests.jsonl", test_tmpdir());
  snprintf(out, sizeof(out), "%s/botocore.jsonl", test_tmpdir());
  snprintf(script, sizeof(script), "%s/tests/peers/sigv4_botocore.py",
           test_srcdir());
  f = fopen(in, "w");
  ASSERT(f != NULL);
  for (i = 0; i < GEN_REQUESTS; i++) {
    int both = i % GEN_PRESIGN_EVERY == 0;

    gen_request(&reqs[i], both);
    gen_to_json(&reqs[i], i, 0, f);
    if (both)
      gen_to_json(&reqs[i], i, 1, f);
  }
  ASSERT_EQ(0, fclose(f));

  status = test_exec(argv, NULL, &stdout_text, &stderr_text);
  if (status == 77) {
    printf("# skipped: %s", stdout_text ? stdout_text : "no botocore\n");
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
    goto out;
  }
  if (status != 0)
    printf("# peer failed (%d): %s%s\n", status, stdout_text ? stdout_text : "",
           stderr_text ? stderr_text : "");
  ASSERT_EQ(0, status);
  printf("# %s", stdout_text);

  answers = test_read_file(out, NULL);
  ASSERT(answers != NULL);
  for (line = answers, i = 0; line && *line && i < GEN_REQUESTS; line = next) {
    json_error_t jerr;
    json_t *peer;
    int id, presign;

    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    peer = json_loads(line, 0, &jerr);
    ASSERT(peer != NULL);
    id = (int)json_integer_value(json_object_get(peer, "id"));
    ASSERT(id >= 0 && id < GEN_REQUESTS);
    presign = json_object_get(peer, "query") != NULL;
    if (!gen_compare(&reqs[id], presign, peer, &reported))
      disagreed++;
    compared++;
    presigned += presign;
    json_decref(peer);
  }
  free(answers);
  printf("# botocore compared: %d signings (%d header-signed requests, %d "
         "presigned), %d disagree\n",
         compared, compared - presigned, presigned, disagreed);
  ASSERT_EQ(GEN_REQUESTS + GEN_REQUESTS / GEN_PRESIGN_EVERY, compared);
  ASSERT_EQ(0, disagreed);
out:
  for (i = 0; i < GEN_REQUESTS; i++)
    gen_free(&reqs[i]);
  free(stdout_text);
  free(stderr_text);
}
