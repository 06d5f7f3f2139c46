/* libFuzzer target: SigV4 canonicalisation (runner/sigv4.h, stage by
 * stage and whole) and the local engine's verifier (local/verify.h) on
 * arbitrary request pieces.
 *
 * Input: one flags byte, then lines: method, path, query, and headers as
 * "name:value". Whatever the bytes, nothing may crash or leak. When the
 * request is one HTTP could carry (token names, printable values, no
 * X-Amz-* of its own), what sigv4_sign_header and sigv4_presign produce
 * must pass local_verify: signer and verifier share the stages, so a
 * mismatch is a canonicalisation bug. The raw pieces are also handed to
 * the verifier as received, which must refuse them cleanly. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../local/verify.h"
#include "../../runner/buf.h"
#include "../../runner/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 24
#define NOW 1700000000

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

/* A header name HTTP can carry and SigV4 lists: a token without the
 * separators SignedHeaders uses. */
static int plain_name(const char *s)
{
  if (*s == '\0')
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
      return 0;
  return 1;
}

static int printable(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      return 0;
  return 1;
}

/* Headers and query parameters the signer adds itself (or that carry a
 * signature) make a request the round trip cannot be asked to pass. */
static int own_auth(const char *s)
{
  size_t i, n = strlen(s);

  for (i = 0; i + 6 <= n; i++)
    if (strncasecmp(s + i, "x-amz-", 6) == 0)
      return 1;
  return strncasecmp(s, "authorization", 13) == 0;
}

static void verify_signed(const struct sigv4_request *req,
                          const struct sigv4_params *p,
                          const struct local_credentials *c,
                          const struct sigv4_result *res, int presigned,
                          int roundtrip)
{
  struct sigv4_header all[MAX_HEADERS + 4];
  struct local_verify_request v;
  struct local_error err;
  const char *hash;
  size_t i, n = 0;
  int rc;

  for (i = 0; i < req->nheaders; i++)
    all[n++] = req->headers[i];
  for (i = 0; !presigned && i < res->nheaders_to_add; i++)
    all[n++] = res->headers_to_add[i];
  memset(&v, 0, sizeof(v));
  v.method = req->method;
  v.path = req->path;
  v.query = presigned ? buf_str(&res->presigned_query)
                      : (req->query ? req->query : "");
  v.headers = all;
  v.nheaders = n;
  v.s3 = p->s3;
  v.service = p->service;
  v.now = NOW;
  /* A request with its own Authorization is not ours to judge. */
  check(!roundtrip || local_verify_kind(&v) ==
                          (presigned ? LOCAL_AUTH_QUERY : LOCAL_AUTH_HEADER),
        "the verifier sees the signature's form");
  hash = local_verify_declared_hash(&v);
  rc = local_verify(&v, c, hash ? hash : req->payload_hash, &err);
  if (roundtrip && rc != 0) {
    fprintf(stderr, "verify: %s: %s\ncanonical request:\n%s\n", err.code,
            err.message, buf_str(&res->canonical_request));
    check(0, "what sagerun signs, the engine verifies");
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const struct local_credentials cred = {
      "LKIAEXAMPLEEXAMPLE12", "secretsecretsecretsecretsecretsecret1234"};
  struct sigv4_credentials sc = {cred.access_key_id, cred.secret_access_key,
                                 NULL};
  struct sigv4_header headers[MAX_HEADERS + 1];
  struct sigv4_request req;
  struct sigv4_params p;
  struct sigv4_result res;
  struct local_verify_request raw;
  struct local_error err;
  struct buf canon, names, sts, sig;
  char *text, *line, *next, *fields[3] = {"GET", "/", ""};
  char amz[17], hash[65];
  size_t nfields = 0, nh = 0, i;
  unsigned flags;
  int plain = 1, has_host = 0;

  if (size == 0)
    return 0;
  flags = data[0];
  text = malloc(size);
  if (text == NULL)
    abort();
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  /* Bytes past a NUL are out of reach of C strings, as on the wire. */
  for (line = text; line; line = next) {
    char *colon;

    next = strchr(line, '\n');
    if (next)
      *next++ = '\0';
    if (nfields < 3) {
      fields[nfields++] = line;
      continue;
    }
    if (nh == MAX_HEADERS)
      break;
    colon = strchr(line, ':');
    if (colon == NULL)
      continue;
    *colon = '\0';
    headers[nh].name = line;
    headers[nh].value = colon + 1;
    if (!plain_name(line) || !printable(colon + 1) || own_auth(line))
      plain = 0;
    if (strcasecmp(line, "host") == 0)
      has_host = 1;
    nh++;
  }
  if (!has_host && !(flags & 0x80)) {
    headers[nh++] = (struct sigv4_header){"Host", "127.0.0.1:4566"};
    has_host = 1;
  }
  if (!plain_name(fields[0]) || fields[1][0] != '/' || !printable(fields[1]) ||
      !printable(fields[2]) || own_auth(fields[2]) || !has_host)
    plain = 0;

  memset(&req, 0, sizeof(req));
  req.method = fields[0];
  req.path = fields[1];
  req.query = fields[2];
  req.headers = headers;
  req.nheaders = nh;
  sigv4_payload_hash(data, size, hash);
  req.payload_hash = (flags & 0x08) ? "UNSIGNED-PAYLOAD" : hash;
  memset(&p, 0, sizeof(p));
  p.region = (flags & 0x10) ? "eu-west-1" : "us-east-1";
  p.s3 = flags & 0x01;
  p.service = p.s3 ? "s3" : (flags & 0x20) ? "logs" : "sagemaker";
  p.content_sha256_header = (flags & 0x02) != 0;
  p.now = NOW;
  p.credentials = &sc;

  /* The stages alone, as the verifier calls them. */
  buf_init(&canon, 1 << 20);
  buf_init(&names, 1 << 20);
  buf_init(&sts, 1 << 20);
  buf_init(&sig, 1 << 20);
  sigv4_format_time(NOW, amz);
  if (sigv4_canonical_request(&req, &p, amz, &canon, &names) == 0 &&
      sigv4_string_to_sign(amz, "20231114/us-east-1/s3/aws4_request",
                           buf_str(&canon), &sts) == 0 &&
      sigv4_signature(cred.secret_access_key, "20231114", p.region, p.service,
                      buf_str(&sts), &sig) == 0)
    check(buf_len(&sig) == 64, "a signature is 64 hex digits");
  buf_reset(&canon);
  sigv4_uri_encode(&canon, fields[1], strlen(fields[1]), flags & 0x04);
  buf_free(&canon);
  buf_free(&names);
  buf_free(&sts);
  buf_free(&sig);

  /* Signed, then verified. */
  sigv4_result_init(&res);
  if (sigv4_sign_header(&req, &p, &res) == 0)
    verify_signed(&req, &p, &cred, &res, 0, plain);
  sigv4_result_free(&res);
  if (p.s3) {
    sigv4_result_init(&res);
    req.payload_hash = "UNSIGNED-PAYLOAD";
    if (sigv4_presign(&req, &p, 900, &res) == 0)
      verify_signed(&req, &p, &cred, &res, 1, plain);
    sigv4_result_free(&res);
  }

  /* The pieces as received: the flags byte's top bit sent nothing of
   * ours, so a claimed Authorization or X-Amz-* query stands alone. */
  memset(&raw, 0, sizeof(raw));
  raw.method = fields[0];
  raw.path = fields[1];
  raw.query = fields[2];
  raw.headers = headers;
  raw.nheaders = nh;
  raw.s3 = p.s3;
  raw.service = p.service;
  raw.now = NOW;
  local_verify_kind(&raw);
  local_verify_declared_hash(&raw);
  if (local_verify(&raw, &cred, hash, &err) != 0)
    check(err.status >= 400 && err.code[0] != '\0', "a refusal says why");
  local_verify_fail_anonymous(&raw, &err);
  for (i = 0; i < nh; i++)
    local_verify_parse_time(headers[i].value);
  free(text);
  return 0;
}
