/* AWS settings: the INI parser, the credential chain (local sources here,
 * container and IMDSv2 against tests/peers/fake_imds.py), the region,
 * endpoints, and botocore as a peer over generated scenarios. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "../runner/aws_config.h"
#include "../runner/error.h"
#include "../runner/http.h"
#include "../runner/ini.h"
#include "test.h"

#define PEER_PYTHON "/usr/bin/python3"

/* snprintf into an array, failing the test rather than truncating. */
#define FMT(array, ...)                                                        \
  ASSERT((size_t)snprintf(array, sizeof(array), __VA_ARGS__) < sizeof(array))

/* ---- An injected environment -------------------------------------------- */

#define ENV_MAX 32

static char env_store[ENV_MAX][1024];
static const char *env_list[ENV_MAX + 1];
static int env_count;

static const char *env_get(const char *name)
{
  size_t n = strlen(name);
  int i;

  for (i = 0; i < env_count; i++)
    if (strncmp(env_list[i], name, n) == 0 && env_list[i][n] == '=')
      return env_list[i] + n + 1;
  return NULL;
}

/* Sets or replaces NAME; value NULL removes it. */
static void env_set(const char *name, const char *value)
{
  size_t n = strlen(name);
  int i;

  for (i = 0; i < env_count; i++)
    if (strncmp(env_list[i], name, n) == 0 && env_list[i][n] == '=')
      break;
  if (value == NULL) {
    if (i < env_count) {
      memmove(&env_store[i], &env_store[i + 1],
              (size_t)(env_count - i - 1) * sizeof(env_store[0]));
      env_count--;
    }
  } else {
    ASSERT(i < ENV_MAX);
    ASSERT((size_t)snprintf(env_store[i], sizeof(env_store[i]), "%s=%s", name,
                            value) < sizeof(env_store[i]));
    if (i == env_count)
      env_count++;
  }
  for (i = 0; i < env_count; i++)
    env_list[i] = env_store[i];
  env_list[env_count] = NULL;
}

/* A fresh environment whose HOME is an empty directory, so that no real
 * ~/.aws is ever read. */
static void env_reset(void)
{
  char home[PATH_MAX];

  env_count = 0;
  env_list[0] = NULL;
  FMT(home, "%s/home", test_tmpdir());
  mkdir(home, 0700);
  env_set("HOME", home);
}

static struct aws_config_opts local_opts(void)
{
  struct aws_config_opts o;

  memset(&o, 0, sizeof(o));
  o.getenv = env_get;
  o.imds_disabled = 1;
  return o;
}

/* path = tmpdir/name, with text written there (when text is not NULL). */
static void tmp_file(char *path, size_t size, const char *name,
                     const char *text)
{
  ASSERT((size_t)snprintf(path, size, "%s/%s", test_tmpdir(), name) < size);
  if (text)
    ASSERT_EQ(0, test_write_file(path, text));
}

/* Points the environment at a config and a credentials file holding the
 * given texts (NULL: the file does not exist). */
static void use_files(const char *config, const char *credentials)
{
  char path[PATH_MAX];

  tmp_file(path, sizeof(path), "config", NULL);
  unlink(path);
  tmp_file(path, sizeof(path), "config", config);
  env_set("AWS_CONFIG_FILE", path);
  tmp_file(path, sizeof(path), "credentials", NULL);
  unlink(path);
  tmp_file(path, sizeof(path), "credentials", credentials);
  env_set("AWS_SHARED_CREDENTIALS_FILE", path);
}

/* ---- Resolving ---------------------------------------------------------- */

struct outcome {
  int called;
  int status;
  struct aws_credentials *creds;
  char *message;
};

static void outcome_cb(int status, struct aws_credentials *creds,
                       const char *message, void *data)
{
  struct outcome *o = data;

  o->called++;
  o->status = status;
  o->creds = creds;
  ASSERT(message != NULL);
  o->message = strdup(message);
  ASSERT(o->message != NULL);
}

static void outcome_free(struct outcome *o)
{
  aws_credentials_free(o->creds);
  free(o->message);
  memset(o, 0, sizeof(*o));
}

/* Resolves without an HTTP client: the local sources only. */
static void resolve_local(const struct aws_config_opts *opts, struct outcome *o)
{
  uv_loop_t loop;

  memset(o, 0, sizeof(*o));
  ASSERT_EQ(0, uv_loop_init(&loop));
  ASSERT_EQ(0, aws_credentials_resolve(&loop, NULL, opts, outcome_cb, o));
  ASSERT_EQ(0, o->called); /* the callback comes from the loop */
  ASSERT_EQ(0, uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, o->called);
  ASSERT_EQ(0, uv_loop_close(&loop));
  if (o->status == 0) {
    ASSERT(o->creds != NULL);
    ASSERT_STR_EQ("", o->message);
  } else {
    ASSERT(o->creds == NULL);
    ASSERT(o->message[0] != '\0');
  }
}

static void expect_creds(const struct outcome *o, const char *akid,
                         const char *secret, const char *token,
                         const char *source)
{
  if (o->status != 0)
    printf("# unexpected failure: %s\n", o->message);
  ASSERT_EQ(0, o->status);
  ASSERT_STR_EQ(akid, o->creds->access_key_id);
  ASSERT_STR_EQ(secret, o->creds->secret_access_key);
  if (token)
    ASSERT_STR_EQ(token, o->creds->session_token);
  else
    ASSERT(o->creds->session_token == NULL);
  ASSERT_STR_EQ(source, o->creds->source);
}

static void expect_error(const struct outcome *o, int status, const char *text)
{
  if (o->status != status)
    printf("# message: %s\n", o->message);
  ASSERT_EQ(status, o->status);
  ASSERT_CONTAINS(o->message, text);
}

/* ---- The INI parser ----------------------------------------------------- */

static struct ini *ini_ok(const char *text)
{
  struct ini *ini = NULL;
  struct buf err;
  int rc;

  buf_init(&err, 4096);
  rc = ini_parse(text, strlen(text), "t.ini", &ini, &err);
  if (rc)
    printf("# %s\n", buf_str(&err));
  ASSERT_EQ(0, rc);
  buf_free(&err);
  return ini;
}

/* text is NUL-terminated unless len is given (not 0). */
static void ini_bad(const char *text, size_t len, const char *expect)
{
  struct ini *ini = (struct ini *)1;
  struct buf err;

  buf_init(&err, 4096);
  if (len == 0)
    len = strlen(text);
  ASSERT_EQ(SR_EPARSE, ini_parse(text, len, "t.ini", &ini, &err));
  ASSERT(ini == NULL);
  ASSERT_CONTAINS(buf_str(&err), expect);
  /* A bad line is never echoed: it may hold a secret. */
  ASSERT(strstr(buf_str(&err), "wJalr") == NULL);
  buf_free(&err);
}

TEST(aws_config_ini_basic)
{
  struct ini *ini = ini_ok("# comment\n"
                           "; another\n"
                           "[default]\n"
                           "Region = us-west-2\n"
                           "output: json\n"
                           "   # indented comment\n"
                           "empty =\n"
                           "odd = a = b : c # not a comment\n"
                           "\n"
                           "[profile dev]\r\n"
                           "s3 =\r\n"
                           "  endpoint_url = http://localhost:9000/\r\n"
                           "\r\n"
                           "  # a comment inside the block\n"
                           "  addressing_style=path\n"
                           "multi = one\n"
                           "  two\n"
                           "\n"
                           "  three\n"
                           "\n"
                           "last = x\r"
                           "[weird] trailing ] junk\n"
                           "\tk = v\n"
                           "[DEFAULT]\n"
                           "shared = yes\n");
  const struct ini_section *d, *dev, *w;
  const struct ini_pair *s3;

  ASSERT_EQ(3, ini->nsections);
  d = ini_section_find(ini, "default");
  dev = ini_section_find(ini, "profile dev");
  w = ini_section_find(ini, "weird] trailing ");
  ASSERT(d && dev && w);
  ASSERT(ini_section_find(ini, "DEFAULT") == NULL);
  ASSERT_STR_EQ("us-west-2", ini_get(ini, d, "region"));
  ASSERT(ini_get(ini, d, "Region") == NULL);
  ASSERT_STR_EQ("json", ini_get(ini, d, "output"));
  ASSERT_STR_EQ("", ini_get(ini, d, "empty"));
  ASSERT_STR_EQ("a = b : c # not a comment", ini_get(ini, d, "odd"));
  s3 = ini_pair_find(ini, dev, "s3");
  ASSERT(s3 && s3->nsub == 2);
  ASSERT_STR_EQ("http://localhost:9000/", ini_sub_get(s3, "endpoint_url"));
  ASSERT_STR_EQ("path", ini_sub_get(s3, "addressing_style"));
  ASSERT(ini_sub_get(s3, "region") == NULL);
  ASSERT_STR_EQ("one\ntwo\n\nthree", ini_get(ini, dev, "multi"));
  ASSERT_STR_EQ("x", ini_get(ini, dev, "last"));
  ASSERT(ini_pair_find(ini, dev, "multi")->sub == NULL);
  ASSERT_STR_EQ("v", ini_get(ini, w, "k"));
  /* [DEFAULT] keys reach every section. */
  ASSERT_STR_EQ("yes", ini_get(ini, d, "shared"));
  ASSERT_STR_EQ("yes", ini_get(ini, w, "shared"));
  ini_free(ini);

  /* An indented first key is a key; the next, less indented, too. */
  ini = ini_ok("[a]\n  k1 = v1\nk2 = v2\n    k3 = v3\n");
  ASSERT_STR_EQ("v1", ini_get(ini, &ini->sections[0], "k1"));
  ASSERT_STR_EQ("v2\nk3 = v3", ini_get(ini, &ini->sections[0], "k2"));
  ini_free(ini);

  ini = ini_ok("");
  ASSERT_EQ(0, ini->nsections);
  ini_free(ini);
}

TEST(aws_config_ini_errors)
{
  static const char nul[] = "[a]\nk = v\nx\0y = z\n";

  ini_bad("k = v\n[a]\n", 0, "t.ini:1: expected a [section] header first");
  ini_bad("[a]\n[b]\n[a]\n", 0, "t.ini:3: duplicate section [a]");
  ini_bad("[a]\nK = 1\nk = 2\n", 0, "t.ini:3: duplicate key k in section [a]");
  ini_bad("[a]\nwJalrXUtnFEMI/K7MDENG\n", 0, "t.ini:2: expected \"key = ");
  ini_bad("[a]\n= wJalr\n", 0, "t.ini:2: missing key");
  ini_bad("[]\n", 0, "t.ini:1: expected a [section] header first");
  ini_bad("[a]\ns3 =\n  endpoint_url\n", 0, "t.ini:2: expected \"key = ");
  ini_bad("[DEFAULT]\nk = 1\n[DEFAULT]\nk = 2\n", 0, "duplicate key k");
  ini_bad(nul, sizeof(nul) - 1, "t.ini:3: NUL byte");
}

TEST(aws_config_ini_load)
{
  char path[PATH_MAX];
  struct ini *ini = NULL;
  struct buf err;

  buf_init(&err, 4096);
  tmp_file(path, sizeof(path), "absent", NULL);
  ASSERT_EQ(SR_ENOENT, ini_load(path, &ini, &err));
  ASSERT_EQ(0, buf_len(&err));
  /* A directory is not a config file: botocore ignores it too. */
  ASSERT_EQ(SR_ENOENT, ini_load(test_tmpdir(), &ini, &err));
  tmp_file(path, sizeof(path), "c", "[default]\nregion = eu-west-1\n");
  ASSERT_EQ(0, ini_load(path, &ini, &err));
  ASSERT_STR_EQ("eu-west-1",
                ini_get(ini, ini_section_find(ini, "default"), "region"));
  ini_free(ini);
  tmp_file(path, sizeof(path), "bad", "[a]\n[a]\n");
  ASSERT_EQ(SR_EPARSE, ini_load(path, &ini, &err));
  ASSERT_CONTAINS(buf_str(&err), "/bad:2: duplicate section [a]");
  buf_free(&err);
}

/* ---- Environment -------------------------------------------------------- */

TEST(aws_config_env_credentials)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "secret/env");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "secret/env", NULL, "environment");
  ASSERT_EQ(0, out.creds->expiration);
  outcome_free(&out);

  env_set("AWS_SESSION_TOKEN", "session-token");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "secret/env", "session-token", "environment");
  outcome_free(&out);

  /* botocore reads AWS_SECURITY_TOKEN first. */
  env_set("AWS_SECURITY_TOKEN", "security-token");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "secret/env", "security-token", "environment");
  outcome_free(&out);

  /* Empty variables count as unset. */
  env_set("AWS_SECURITY_TOKEN", "");
  env_set("AWS_CREDENTIAL_EXPIRATION", "2026-11-27T20:00:00Z");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "secret/env", "session-token", "environment");
  ASSERT_EQ(1795809600, out.creds->expiration);
  outcome_free(&out);

  /* The environment wins over the files. */
  use_files("[default]\naws_access_key_id = AKIDCONF\n"
            "aws_secret_access_key = c\n",
            "[default]\naws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key = f\n");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "secret/env", "session-token", "environment");
  outcome_free(&out);
}

TEST(aws_config_env_partial)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  /* Credentials in the files must not paper over a half-set
   * environment. */
  use_files(NULL, "[default]\naws_access_key_id = AKIDFILE\n"
                  "aws_secret_access_key = f\n");
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  resolve_local(&o, &out);
  expect_error(&out, SR_EINVAL, "AWS_SECRET_ACCESS_KEY is not");
  ASSERT(strstr(out.message, "AKIDENV") == NULL);
  outcome_free(&out);

  env_set("AWS_ACCESS_KEY_ID", NULL);
  env_set("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG");
  resolve_local(&o, &out);
  expect_error(&out, SR_EINVAL,
               "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
  ASSERT(strstr(out.message, "wJalr") == NULL);
  outcome_free(&out);
}

/* Expiration through AWS_CREDENTIAL_EXPIRATION: the parser is the one
 * the container and IMDS documents go through. */
TEST(aws_config_expiration)
{
  static const struct {
    const char *text;
    int ok;
    long long t;
  } cases[] = {
      {"1970-01-01T00:00:00Z", 1, 0},
      {"1969-12-31T23:59:59Z", 1, -1},
      {"2026-11-27T20:00:00Z", 1, 1795809600},
      {"2026-11-27t20:00:00z", 1, 1795809600},
      {"2026-11-27 20:00:00Z", 1, 1795809600},
      {"2026-11-27T20:00:00.123456Z", 1, 1795809600},
      {"2026-11-27T21:30:00+01:30", 1, 1795809600},
      {"2026-11-27T18:00:00-0200", 1, 1795809600},
      {"2026-11-27T20:00:00+00", 1, 1795809600},
      {"2000-02-29T12:00:00Z", 1, 951825600},
      {"2024-12-31T23:59:59Z", 1, 1735689599},
      {"2038-01-19T03:14:08Z", 1, 2147483648LL},
      {"2100-02-29T00:00:00Z", 0, 0},
      {"2026-13-01T00:00:00Z", 0, 0},
      {"2026-11-31T00:00:00Z", 0, 0},
      {"2026-11-27T24:00:00Z", 0, 0},
      {"2026-11-27T20:00:00", 0, 0},
      {"2026-11-27T20:00Z", 0, 0},
      {"2026-11-27T20:00:00.Z", 0, 0},
      {"2026-11-27T20:00:00+1", 0, 0},
      {"2026-11-27", 0, 0},
      {"2026-11-27T20:00:00Zjunk", 0, 0},
      {"1795809600", 0, 0},
  };
  struct aws_config_opts o = local_opts();
  struct outcome out;
  size_t i;

  env_reset();
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "secret");
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    env_set("AWS_CREDENTIAL_EXPIRATION", cases[i].text);
    resolve_local(&o, &out);
    if (cases[i].ok) {
      if (out.status)
        printf("# %s: %s\n", cases[i].text, out.message);
      ASSERT_EQ(0, out.status);
      ASSERT_EQ(cases[i].t, out.creds->expiration);
    } else {
      if (out.status == 0)
        printf("# accepted %s\n", cases[i].text);
      expect_error(&out, SR_EINVAL, "AWS_CREDENTIAL_EXPIRATION is not");
    }
    outcome_free(&out);
  }
}

/* ---- Files and profiles ------------------------------------------------- */

TEST(aws_config_shared_credentials_file)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  use_files(NULL, "[default]\n"
                  "aws_access_key_id = AKIDDEFAULT\n"
                  "aws_secret_access_key = s/default\n"
                  "[dev]\n"
                  "AWS_ACCESS_KEY_ID: AKIDDEV\n"
                  "aws_secret_access_key = s/dev\n"
                  "aws_session_token = t-dev\n"
                  "[sec]\n"
                  "aws_access_key_id = AKIDSEC\n"
                  "aws_secret_access_key = s/sec\n"
                  "aws_session_token = t-session\n"
                  "aws_security_token = t-security\n");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDDEFAULT", "s/default", NULL,
               "shared-credentials-file");
  outcome_free(&out);

  env_set("AWS_PROFILE", "dev");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDDEV", "s/dev", "t-dev", "shared-credentials-file");
  outcome_free(&out);

  /* botocore: AWS_DEFAULT_PROFILE before AWS_PROFILE. */
  env_set("AWS_DEFAULT_PROFILE", "sec");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDSEC", "s/sec", "t-security",
               "shared-credentials-file");
  outcome_free(&out);

  /* The flag before both. */
  o.profile = "default";
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDDEFAULT", "s/default", NULL,
               "shared-credentials-file");
  outcome_free(&out);
}

TEST(aws_config_config_file)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  use_files("[default]\n"
            "aws_access_key_id = AKIDCONFDEFAULT\n"
            "aws_secret_access_key = c/default\n"
            "[profile dev]\n"
            "region = eu-west-1\n"
            "aws_access_key_id = AKIDCONFDEV\n"
            "aws_secret_access_key = c/dev\n"
            "aws_session_token = c-token\n"
            "[profile  \"two words\"]\n"
            "aws_access_key_id = AKIDQUOTED\n"
            "aws_secret_access_key = c/quoted\n"
            "[dev]\n"
            "aws_access_key_id = AKIDNOTAPROFILE\n"
            "aws_secret_access_key = c/no\n",
            "[dev]\n"
            "region = us-east-2\n");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDCONFDEFAULT", "c/default", NULL, "config-file");
  outcome_free(&out);

  /* [dev] in the credentials file has no keys: on to the config file. */
  env_set("AWS_PROFILE", "dev");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDCONFDEV", "c/dev", "c-token", "config-file");
  outcome_free(&out);

  env_set("AWS_PROFILE", "two words");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDQUOTED", "c/quoted", NULL, "config-file");
  outcome_free(&out);

  /* The credentials file wins over the config file. */
  env_set("AWS_PROFILE", NULL);
  use_files("[default]\naws_access_key_id = AKIDCONF\n"
            "aws_secret_access_key = c\n",
            "[default]\naws_access_key_id = AKIDCRED\n"
            "aws_secret_access_key = f\n");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDCRED", "f", NULL, "shared-credentials-file");
  outcome_free(&out);

  /* Later sections win when two map to the same profile. */
  use_files("[profile default]\naws_access_key_id = AKIDFIRST\n"
            "aws_secret_access_key = c1\n"
            "[default]\naws_access_key_id = AKIDSECOND\n"
            "aws_secret_access_key = c2\n",
            NULL);
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDSECOND", "c2", NULL, "config-file");
  outcome_free(&out);
}

TEST(aws_config_default_paths)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char path[PATH_MAX];
  char *region;

  env_reset();
  tmp_file(path, sizeof(path), "home/.aws", NULL);
  ASSERT_EQ(0, mkdir(path, 0700));
  tmp_file(path, sizeof(path), "home/.aws/credentials",
           "[default]\naws_access_key_id = AKIDHOME\n"
           "aws_secret_access_key = h\n");
  tmp_file(path, sizeof(path), "home/.aws/config",
           "[default]\nregion = ap-southeast-2\n");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDHOME", "h", NULL, "shared-credentials-file");
  outcome_free(&out);
  region = aws_region_resolve(NULL, &o);
  ASSERT_STR_EQ("ap-southeast-2", region);
  free(region);

  /* "~" in a path variable is HOME. */
  tmp_file(path, sizeof(path), "home/other-creds",
           "[default]\naws_access_key_id = AKIDTILDE\n"
           "aws_secret_access_key = t\n");
  env_set("AWS_SHARED_CREDENTIALS_FILE", "~/other-creds");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDTILDE", "t", NULL, "shared-credentials-file");
  outcome_free(&out);

  /* Without HOME there are no default files. */
  env_set("HOME", NULL);
  env_set("AWS_SHARED_CREDENTIALS_FILE", NULL);
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT, "no AWS credentials found");
  outcome_free(&out);
}

TEST(aws_config_profile_not_found)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char *s;

  env_reset();
  use_files("[profile dev]\nregion = eu-west-1\n",
            "[default]\naws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key = f\n"
            "[profile ops]\naws_access_key_id = AKIDOPS\n"
            "aws_secret_access_key = o\n");
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "e");
  env_set("AWS_PROFILE", "nope");
  /* Even with keys in the environment, as in botocore. */
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT, "profile nope not found in ");
  ASSERT_CONTAINS(out.message, "/credentials or ");
  outcome_free(&out);
  s = aws_region_resolve(NULL, &o);
  ASSERT(s == NULL);

  /* A profile in the config file only is a profile. */
  env_set("AWS_PROFILE", "dev");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "e", NULL, "environment");
  outcome_free(&out);

  /* [profile ops] in the credentials file is the profile "profile ops". */
  env_set("AWS_PROFILE", "ops");
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT, "profile ops not found");
  outcome_free(&out);

  /* Naming "default" explicitly requires it too. */
  use_files(NULL, NULL);
  env_set("AWS_PROFILE", "default");
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT, "profile default not found");
  outcome_free(&out);
  env_set("AWS_PROFILE", NULL);
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "e", NULL, "environment");
  outcome_free(&out);
}

TEST(aws_config_profile_flag_hides_env)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  use_files(NULL, "[dev]\naws_access_key_id = AKIDDEV\n"
                  "aws_secret_access_key = d\n");
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "e");
  env_set("AWS_PROFILE", "dev");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "e", NULL, "environment");
  outcome_free(&out);
  o.profile = "dev";
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDDEV", "d", NULL, "shared-credentials-file");
  outcome_free(&out);
  /* Nor does a half-set environment matter then. */
  env_set("AWS_SECRET_ACCESS_KEY", NULL);
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDDEV", "d", NULL, "shared-credentials-file");
  outcome_free(&out);
}

TEST(aws_config_partial_file)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  use_files("[default]\naws_access_key_id = AKIDCONF\n"
            "aws_secret_access_key = c\n",
            "[default]\naws_access_key_id = AKIDHALF\n");
  resolve_local(&o, &out);
  expect_error(&out, SR_EINVAL, "shared credentials file ");
  ASSERT_CONTAINS(out.message,
                  "/credentials, [default]: aws_secret_access_key is missing");
  ASSERT(strstr(out.message, "AKIDHALF") == NULL);
  outcome_free(&out);

  /* An indented line continues the value before it. */
  use_files(NULL, "[default]\naws_access_key_id = AKIDX\n"
                  "  aws_secret_access_key = wJalrXUtnFEMI\n");
  resolve_local(&o, &out);
  expect_error(&out, SR_EINVAL, "aws_secret_access_key is missing");
  ASSERT(strstr(out.message, "wJalr") == NULL);
  outcome_free(&out);

  use_files(NULL, "[default]\naws_access_key_id = AKIDX\n"
                  "aws_secret_access_key =\n");
  resolve_local(&o, &out);
  expect_error(&out, SR_EINVAL, "aws_secret_access_key is empty");
  outcome_free(&out);
}

TEST(aws_config_parse_error)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;

  env_reset();
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "e");
  /* botocore fails on a broken file even with keys in the
   * environment. */
  use_files("[default]\nregion = x\n[default]\n", NULL);
  resolve_local(&o, &out);
  expect_error(&out, SR_EPARSE, "/config:3: duplicate section [default]");
  outcome_free(&out);
  use_files(NULL, "[default]\nwJalrXUtnFEMI secret\n");
  resolve_local(&o, &out);
  expect_error(&out, SR_EPARSE, "/credentials:2: expected");
  ASSERT(strstr(out.message, "wJalr") == NULL);
  outcome_free(&out);
}

TEST(aws_config_unsupported_sources)
{
  static const struct {
    const char *config, *credentials, *expect;
  } cases[] = {
      {"[default]\nrole_arn = arn:aws:iam::1:role/r\n"
       "source_profile = base\n",
       "[default]\naws_access_key_id = AKID\naws_secret_access_key = s\n",
       "profile default uses role_arn (assume role)"},
      {"[default]\nsso_session = corp\n", NULL,
       "uses sso_session (IAM Identity Center)"},
      {"[default]\nsso_start_url = https://x.awsapps.com/start\n", NULL,
       "uses sso_start_url"},
      {"[default]\ncredential_process = /bin/creds\n", NULL,
       "uses credential_process (an external process)"},
      {"[default]\nweb_identity_token_file = /t\nrole_arn = r\n", NULL,
       "uses role_arn"},
  };
  struct aws_config_opts o = local_opts();
  struct outcome out;
  size_t i;

  env_reset();
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    use_files(cases[i].config, cases[i].credentials);
    resolve_local(&o, &out);
    expect_error(&out, SR_ENOTSUP, cases[i].expect);
    outcome_free(&out);
  }
  /* Keys in the credentials file come before credential_process. */
  use_files("[default]\ncredential_process = /bin/creds\n",
            "[default]\naws_access_key_id = AKIDFILE\n"
            "aws_secret_access_key = f\n");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDFILE", "f", NULL, "shared-credentials-file");
  outcome_free(&out);
  /* And the environment before everything. */
  use_files("[default]\nrole_arn = r\n", NULL);
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "e");
  resolve_local(&o, &out);
  expect_creds(&out, "AKIDENV", "e", NULL, "environment");
  outcome_free(&out);
  env_set("AWS_ACCESS_KEY_ID", NULL);
  env_set("AWS_SECRET_ACCESS_KEY", NULL);
  use_files(NULL, NULL);
  env_set("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token");
  env_set("AWS_ROLE_ARN", "arn:aws:iam::1:role/r");
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOTSUP, "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE");
  outcome_free(&out);
}

TEST(aws_config_nothing_found)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char expect[2 * PATH_MAX + 256];

  env_reset();
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT,
               "no AWS credentials found for profile default (tried "
               "environment, shared credentials file ~/.aws/credentials, "
               "config file ~/.aws/config, container (not configured), "
               "instance metadata (disabled))");
  outcome_free(&out);

  /* Paths from the environment are shown as given; so is the profile. */
  use_files("[profile p]\nregion = eu-west-1\n", NULL);
  env_set("AWS_PROFILE", "p");
  resolve_local(&o, &out);
  FMT(expect,
      "no AWS credentials found for profile p (tried environment, "
      "shared credentials file %s, config file %s, container",
      env_get("AWS_SHARED_CREDENTIALS_FILE"), env_get("AWS_CONFIG_FILE"));
  expect_error(&out, SR_ENOENT, expect);
  outcome_free(&out);

  /* The disabled switch is also a variable. */
  o.imds_disabled = 0;
  env_set("AWS_EC2_METADATA_DISABLED", "TRUE");
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT, "instance metadata (disabled))");
  outcome_free(&out);

  /* Without an HTTP client the network sources cannot be tried. */
  env_set("AWS_EC2_METADATA_DISABLED", "false");
  resolve_local(&o, &out);
  expect_error(&out, SR_ENOENT, "instance metadata (no HTTP client))");
  outcome_free(&out);
  env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x");
  resolve_local(&o, &out);
  expect_error(&out, SR_EINVAL, "container credentials need an HTTP client");
  outcome_free(&out);
}

TEST(aws_config_resolve_args)
{
  struct aws_config_opts o = local_opts();
  uv_loop_t loop;
  struct outcome out;

  ASSERT_EQ(0, uv_loop_init(&loop));
  ASSERT_EQ(SR_EINVAL, aws_credentials_resolve(&loop, NULL, &o, NULL, &out));
  ASSERT_EQ(SR_EINVAL,
            aws_credentials_resolve(NULL, NULL, &o, outcome_cb, &out));
  ASSERT_EQ(0, uv_loop_close(&loop));
  aws_credentials_free(NULL);
}

/* ---- Region and endpoints ----------------------------------------------- */

static void expect_region(const char *expect, const char *flag,
                          const struct aws_config_opts *o)
{
  char *r = aws_region_resolve(flag, o);

  if (expect)
    ASSERT_STR_EQ(expect, r);
  else
    ASSERT(r == NULL);
  free(r);
}

TEST(aws_config_region)
{
  struct aws_config_opts o = local_opts();

  env_reset();
  expect_region(NULL, NULL, &o);
  use_files("[default]\nregion = us-west-1\n"
            "[profile dev]\nregion = eu-north-1\n"
            "[profile empty]\nregion =\n"
            "[profile creds]\nregion = us-west-2\n",
            "[creds]\nregion = sa-east-1\n");
  expect_region("us-west-1", NULL, &o);
  expect_region("us-west-1", "", &o);
  env_set("AWS_PROFILE", "dev");
  expect_region("eu-north-1", NULL, &o);
  o.profile = "empty";
  expect_region(NULL, NULL, &o);
  /* The credentials file's profile overrides the config file's. */
  o.profile = "creds";
  expect_region("sa-east-1", NULL, &o);
  env_set("AWS_DEFAULT_REGION", "ca-central-1");
  expect_region("ca-central-1", NULL, &o);
  env_set("AWS_REGION", "ap-east-1");
  expect_region("ap-east-1", NULL, &o);
  expect_region("me-south-1", "me-south-1", &o);
  /* A broken file gives no region (the credentials report why). */
  env_set("AWS_REGION", NULL);
  env_set("AWS_DEFAULT_REGION", NULL);
  use_files("[default]\nregion = us-west-1\nregion = us-west-2\n", NULL);
  o.profile = NULL;
  env_set("AWS_PROFILE", NULL);
  expect_region(NULL, NULL, &o);
  /* opts may be NULL: the process environment. */
  free(aws_region_resolve("eu-west-1", NULL));
}

static void expect_endpoint(const char *expect, const char *service,
                            const char *region, const char *local,
                            const struct aws_config_opts *o)
{
  char *url = aws_endpoint_resolve(service, region, local, o);

  if (expect)
    ASSERT_STR_EQ(expect, url);
  else
    ASSERT(url == NULL);
  free(url);
}

TEST(aws_config_endpoints_standard)
{
  struct aws_config_opts o = local_opts();

  env_reset();
  expect_endpoint("https://s3.eu-west-1.amazonaws.com", "s3", "eu-west-1", NULL,
                  &o);
  expect_endpoint("https://s3.us-east-1.amazonaws.com", "s3", "us-east-1", NULL,
                  &o);
  expect_endpoint("https://api.sagemaker.eu-west-1.amazonaws.com", "sagemaker",
                  "eu-west-1", NULL, &o);
  expect_endpoint("https://runtime.sagemaker.eu-west-1.amazonaws.com",
                  "sagemaker-runtime", "eu-west-1", NULL, &o);
  expect_endpoint("https://logs.eu-west-1.amazonaws.com", "logs", "eu-west-1",
                  NULL, &o);
  expect_endpoint("https://s3.cn-north-1.amazonaws.com.cn", "s3", "cn-north-1",
                  NULL, &o);
  expect_endpoint("https://api.sagemaker.cn-northwest-1.amazonaws.com.cn",
                  "sagemaker", "cn-northwest-1", NULL, &o);
  expect_endpoint(NULL, "ec2", "eu-west-1", NULL, &o);
  expect_endpoint(NULL, NULL, "eu-west-1", NULL, &o);
  expect_endpoint(NULL, "s3", NULL, NULL, &o);
  /* A region becomes part of a host name: it must be a DNS label. */
  expect_endpoint(NULL, "s3", "eu-west-1.evil.com/x", NULL, &o);
  expect_endpoint(NULL, "s3", "", NULL, &o);
  expect_endpoint(NULL, "s3", "-eu", NULL, &o);
  /* Target local wins over everything, without its trailing slash. */
  env_set("AWS_ENDPOINT_URL", "http://localhost:4566");
  expect_endpoint("http://127.0.0.1:9999", "s3", NULL,
                  "http://127.0.0.1:9999//", &o);
  expect_endpoint(NULL, "nope", NULL, "http://127.0.0.1:9999", &o);

  ASSERT_STR_EQ("s3", aws_signing_name("s3"));
  ASSERT_STR_EQ("sagemaker", aws_signing_name("sagemaker"));
  ASSERT_STR_EQ("sagemaker", aws_signing_name("sagemaker-runtime"));
  ASSERT_STR_EQ("logs", aws_signing_name("logs"));
  ASSERT(aws_signing_name("ec2") == NULL);
  ASSERT(aws_signing_name(NULL) == NULL);
}

TEST(aws_config_endpoints_configured)
{
  struct aws_config_opts o = local_opts();

  env_reset();
  use_files("[default]\n"
            "endpoint_url = http://profile.example:1/\n"
            "services = local\n"
            "[profile plain]\n"
            "endpoint_url = http://plain.example:2\n"
            "[profile ignoring]\n"
            "endpoint_url = http://plain.example:2\n"
            "ignore_configured_endpoint_urls = true\n"
            "[services local]\n"
            "s3 =\n"
            "  endpoint_url = http://s3.local:9000/\n"
            "sagemaker_runtime =\n"
            "  endpoint_url = http://runtime.local:8080\n"
            "cloudwatch_logs =\n"
            "  region = nowhere\n",
            NULL);
  /* The services section, then the profile's endpoint_url. */
  expect_endpoint("http://s3.local:9000", "s3", "eu-west-1", NULL, &o);
  expect_endpoint("http://runtime.local:8080", "sagemaker-runtime", "eu-west-1",
                  NULL, &o);
  expect_endpoint("http://profile.example:1", "sagemaker", "eu-west-1", NULL,
                  &o);
  expect_endpoint("http://profile.example:1", "logs", "eu-west-1", NULL, &o);
  o.profile = "plain";
  expect_endpoint("http://plain.example:2", "s3", "eu-west-1", NULL, &o);
  o.profile = "ignoring";
  expect_endpoint("https://s3.eu-west-1.amazonaws.com", "s3", "eu-west-1", NULL,
                  &o);
  o.profile = NULL;
  /* The environment: the global variable, then the service's own. */
  env_set("AWS_ENDPOINT_URL", "http://global.example/");
  expect_endpoint("http://global.example", "s3", "eu-west-1", NULL, &o);
  expect_endpoint("http://global.example", "sagemaker", NULL, NULL, &o);
  env_set("AWS_ENDPOINT_URL_S3", "http://s3.env:1///");
  env_set("AWS_ENDPOINT_URL_SAGEMAKER", "http://sm.env:2");
  env_set("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://smr.env:3");
  env_set("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "http://logs.env:4");
  expect_endpoint("http://s3.env:1", "s3", "eu-west-1", NULL, &o);
  expect_endpoint("http://sm.env:2", "sagemaker", "eu-west-1", NULL, &o);
  expect_endpoint("http://smr.env:3", "sagemaker-runtime", "eu-west-1", NULL,
                  &o);
  expect_endpoint("http://logs.env:4", "logs", "eu-west-1", NULL, &o);
  expect_endpoint("http://127.0.0.1:1", "logs", "eu-west-1",
                  "http://127.0.0.1:1", &o);
  env_set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true");
  expect_endpoint("https://logs.eu-west-1.amazonaws.com", "logs", "eu-west-1",
                  NULL, &o);
}

/* ---- Container and IMDS, against a fake server -------------------------- */

static int have_python(void)
{
  if (access(PEER_PYTHON, X_OK) == 0)
    return 1;
  printf("# skipped: %s not installed\n", PEER_PYTHON);
  ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  return 0;
}

/* Starts tests/peers/fake_imds.py; returns its port. log gets the path
 * of its request log. */
static int fake_start(const char *mode, const char *container_token, char *log,
                      size_t logsize)
{
  char script[PATH_MAX], port_file[PATH_MAX];
  const char *argv[] = {PEER_PYTHON, script,          port_file, log,
                        mode,        container_token, NULL};
  struct timespec pause = {0, 20 * 1000 * 1000};
  char *text, *end;
  long port;
  int i;

  FMT(script, "%s/tests/peers/fake_imds.py", test_srcdir());
  tmp_file(port_file, sizeof(port_file), "imds.port", NULL);
  tmp_file(log, logsize, "imds.log", NULL);
  ASSERT(test_helper_spawn(argv) > 0);
  for (i = 0; i < 500; i++) {
    text = test_read_file(port_file, NULL);
    if (text) {
      port = strtol(text, &end, 10);
      ASSERT(end != text && port > 0 && port < 65536);
      free(text);
      return (int)port;
    }
    nanosleep(&pause, NULL);
  }
  test_fail(__FILE__, __LINE__, "fake_imds.py did not start");
}

static int count_lines(const char *log, const char *prefix)
{
  char *text = test_read_file(log, NULL), *p;
  int n = 0;

  if (text == NULL)
    return 0;
  for (p = text; p; p = strchr(p, '\n')) {
    if (*p == '\n')
      p++;
    n += strncmp(p, prefix, strlen(prefix)) == 0;
  }
  free(text);
  return n;
}

static void client_closed(void *data)
{
  (*(int *)data)++;
}

/* Resolves with an HTTP client on a fresh loop. */
static void resolve_http(const struct aws_config_opts *opts, struct outcome *o)
{
  struct http_client *http = NULL;
  uv_loop_t loop;
  int closed = 0;

  memset(o, 0, sizeof(*o));
  ASSERT_EQ(0, uv_loop_init(&loop));
  ASSERT_EQ(0, http_client_new(&loop, &http));
  ASSERT_EQ(0, aws_credentials_resolve(&loop, http, opts, outcome_cb, o));
  ASSERT_EQ(0, o->called);
  while (!o->called)
    ASSERT(uv_run(&loop, UV_RUN_ONCE) != 0 || o->called);
  http_client_close(http, client_closed, &closed);
  ASSERT_EQ(0, uv_run(&loop, UV_RUN_DEFAULT));
  ASSERT_EQ(1, closed);
  ASSERT_EQ(1, o->called);
  ASSERT_EQ(0, uv_loop_close(&loop));
}

TEST_TIMEOUT(aws_config_imds, 20000);
TEST(aws_config_imds)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char log[PATH_MAX], url[64];
  int port;

  if (!have_python())
    return;
  port = fake_start("normal", NULL, log, sizeof(log));
  FMT(url, "http://127.0.0.1:%d/", port);
  env_reset();
  o.imds_disabled = 0;
  o.imds_endpoint = url;
  resolve_http(&o, &out);
  expect_creds(&out, "ASIAFAKEIMDS00000001",
               "fakeImdsSecret/0123456789abcdefghijklmn",
               "fakeImdsSessionToken0123456789", "imds");
  ASSERT_EQ(1795809600, out.creds->expiration);
  outcome_free(&out);
  ASSERT_EQ(1, count_lines(log, "PUT /latest/api/token ttl=21600 token=no"));
  ASSERT_EQ(1, count_lines(log, "GET /latest/meta-data/iam/security-"
                                "credentials/ ttl=- token=yes"));
  ASSERT_EQ(1, count_lines(log, "GET /latest/meta-data/iam/security-"
                                "credentials/sagerun-test-role ttl=- "
                                "token=yes"));

  /* The endpoint may also come from the environment. */
  o.imds_endpoint = NULL;
  env_set("AWS_EC2_METADATA_SERVICE_ENDPOINT", url);
  resolve_http(&o, &out);
  expect_creds(&out, "ASIAFAKEIMDS00000001",
               "fakeImdsSecret/0123456789abcdefghijklmn",
               "fakeImdsSessionToken0123456789", "imds");
  outcome_free(&out);
  ASSERT_EQ(2, count_lines(log, "PUT "));

  /* Local sources come first: no request at all. */
  env_set("AWS_ACCESS_KEY_ID", "AKIDENV");
  env_set("AWS_SECRET_ACCESS_KEY", "e");
  resolve_http(&o, &out);
  expect_creds(&out, "AKIDENV", "e", NULL, "environment");
  outcome_free(&out);
  ASSERT_EQ(2, count_lines(log, "PUT "));
}

TEST_TIMEOUT(aws_config_imds_failures, 30000);
TEST(aws_config_imds_failures)
{
  static const struct {
    const char *mode, *expect;
  } cases[] = {
      {"norole", "instance metadata (no instance role: HTTP 404))"},
      {"badjson", "instance metadata (role credentials: not a credentials "
                  "document))"},
      {"v1only", "instance metadata (token: HTTP 403))"},
  };
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char log[PATH_MAX], url[64], portfile[PATH_MAX];
  size_t i;
  int port;

  if (!have_python())
    return;
  env_reset();
  o.imds_disabled = 0;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    tmp_file(portfile, sizeof(portfile), "imds.port", NULL);
    unlink(portfile);
    port = fake_start(cases[i].mode, NULL, log, sizeof(log));
    FMT(url, "http://127.0.0.1:%d", port);
    o.imds_endpoint = url;
    resolve_http(&o, &out);
    expect_error(&out, SR_ENOENT, "no AWS credentials found");
    ASSERT_CONTAINS(out.message, cases[i].expect);
    ASSERT(strstr(out.message, "FAKE-IMDS-TOKEN") == NULL);
    ASSERT(strstr(out.message, "fakeImdsSecret") == NULL);
    outcome_free(&out);
  }
  /* Nothing listening: a quick, quiet failure. */
  o.imds_endpoint = "http://127.0.0.1:1";
  resolve_http(&o, &out);
  expect_error(&out, SR_ENOENT, "instance metadata (token: ");
  outcome_free(&out);
}

/* IMDS gets 1 s (the default) and one attempt per request. */
TEST_TIMEOUT(aws_config_imds_timeout, 20000);
TEST(aws_config_imds_timeout)
{
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char log[PATH_MAX], url[64];
  uint64_t start, ms;
  int port;

  if (!have_python())
    return;
  port = fake_start("hang", NULL, log, sizeof(log));
  FMT(url, "http://127.0.0.1:%d", port);
  env_reset();
  o.imds_disabled = 0;
  o.imds_endpoint = url;
  start = uv_hrtime();
  resolve_http(&o, &out);
  ms = (uv_hrtime() - start) / 1000000;
  expect_error(&out, SR_ENOENT, "instance metadata (token: ");
  outcome_free(&out);
  printf("# gave up after %llu ms\n", (unsigned long long)ms);
  ASSERT(ms >= 900 && ms < 3000);
  ASSERT_EQ(1, count_lines(log, "PUT "));
  ASSERT_EQ(0, count_lines(log, "GET "));
}

TEST_TIMEOUT(aws_config_container, 20000);
TEST(aws_config_container)
{
  static const char auth[] = "Bearer container-auth-0123";
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char log[PATH_MAX], base[64], full[128], tokfile[PATH_MAX];
  int port;

  if (!have_python())
    return;
  port = fake_start("normal", auth, log, sizeof(log));
  FMT(base, "http://127.0.0.1:%d/", port);
  env_reset();
  o.container_endpoint = base;
  env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds");
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", auth);
  resolve_http(&o, &out);
  expect_creds(&out, "ASIAFAKECONTAINER001",
               "fakeContainerSecret/0123456789abcdefghij",
               "fakeContainerSessionToken0123456789", "container");
  ASSERT_EQ(1795815015, out.creds->expiration);
  outcome_free(&out);
  ASSERT_EQ(1, count_lines(log, "GET /creds ttl=- token=no auth=yes"));

  /* A wrong token is an error, not a fall through to IMDS. */
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong-secret");
  resolve_http(&o, &out);
  expect_error(&out, SR_EIO, "container credentials from http://127.0.0.1:");
  ASSERT_CONTAINS(out.message, "/creds: HTTP 401");
  ASSERT(strstr(out.message, "wrong-secret") == NULL);
  outcome_free(&out);

  /* The token file wins over the variable; its newline is dropped. */
  tmp_file(tokfile, sizeof(tokfile), "token", "Bearer container-auth-0123\n");
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile);
  resolve_http(&o, &out);
  expect_creds(&out, "ASIAFAKECONTAINER001",
               "fakeContainerSecret/0123456789abcdefghij",
               "fakeContainerSessionToken0123456789", "container");
  outcome_free(&out);
  tmp_file(tokfile, sizeof(tokfile), "absent-token", NULL);
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokfile);
  resolve_http(&o, &out);
  expect_error(&out, SR_EIO, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_");
  outcome_free(&out);
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", NULL);

  /* A full URI, to loopback over http. */
  env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", NULL);
  FMT(full, "http://127.0.0.1:%d/creds?x=1", port);
  env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", full);
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", auth);
  resolve_http(&o, &out);
  /* The query string does not match /creds: a 404, shown without it. */
  expect_error(&out, SR_EIO, "/creds: HTTP 404");
  ASSERT(strstr(out.message, "x=1") == NULL);
  outcome_free(&out);
  FMT(full, "http://localhost:%d/creds", port);
  env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", full);
  resolve_http(&o, &out);
  expect_creds(&out, "ASIAFAKECONTAINER001",
               "fakeContainerSecret/0123456789abcdefghij",
               "fakeContainerSessionToken0123456789", "container");
  outcome_free(&out);
  env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds");
  resolve_http(&o, &out);
  expect_error(&out, SR_EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be");
  outcome_free(&out);
  env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI",
          "http://127.0.0.1@example.com/creds");
  resolve_http(&o, &out);
  expect_error(&out, SR_EINVAL, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be");
  outcome_free(&out);
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", "a\r\nX-Injected: 1");
  env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", full);
  resolve_http(&o, &out);
  expect_error(&out, SR_EINVAL, "token holds a line break");
  outcome_free(&out);
  /* A relative URI wins over a full one. */
  env_set("AWS_CONTAINER_AUTHORIZATION_TOKEN", auth);
  env_set("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://example.com/creds");
  env_set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/creds");
  resolve_http(&o, &out);
  ASSERT_EQ(0, out.status);
  outcome_free(&out);
  /* Nothing listening. */
  o.container_endpoint = "http://127.0.0.1:1";
  resolve_http(&o, &out);
  /* The transport's own code (connection refused), not a fall through. */
  ASSERT(out.status < 0 && out.status != SR_ENOENT);
  ASSERT_CONTAINS(out.message, "container credentials from http://127.0.0.1:1");
  outcome_free(&out);
}

/* ---- botocore as a peer ------------------------------------------------- */

struct peer_scenario {
  const char *name;
  const char *config;      /* NULL: no file */
  const char *credentials; /* NULL: no file */
  const char *env[6];      /* NAME=VALUE; "@" in a value is the dir */
  const char *profile;     /* the flag */
  int home_files;          /* files in HOME/.aws instead of variables */
};

#define KEYS(id, secret)                                                       \
  "aws_access_key_id = " id "\naws_secret_access_key = " secret "\n"

static const struct peer_scenario peer_scenarios[] = {
    {"env-basic",
     NULL,
     NULL,
     {"AWS_ACCESS_KEY_ID=AKIDENV1", "AWS_SECRET_ACCESS_KEY=s-env1",
      "AWS_DEFAULT_REGION=eu-central-1"},
     NULL,
     0},
    {"env-token",
     NULL,
     NULL,
     {"AWS_ACCESS_KEY_ID=AKIDENV2", "AWS_SECRET_ACCESS_KEY=s-env2",
      "AWS_SESSION_TOKEN=t-env2"},
     NULL,
     0},
    {"env-both-tokens",
     NULL,
     NULL,
     {"AWS_ACCESS_KEY_ID=AKIDENV3", "AWS_SECRET_ACCESS_KEY=s-env3",
      "AWS_SESSION_TOKEN=t-session", "AWS_SECURITY_TOKEN=t-security"},
     NULL,
     0},
    {"env-partial", NULL, NULL, {"AWS_ACCESS_KEY_ID=AKIDENV4"}, NULL, 0},
    {"creds-default",
     NULL,
     "[default]\n" KEYS("AKIDCRED1", "s-c1"),
     {0},
     NULL,
     0},
    {"creds-profile-env",
     NULL,
     "[default]\n" KEYS("AKIDCRED2", "s-c2") "[dev]\n" KEYS("AKIDCRED3",
                                                            "s-c3"),
     {"AWS_PROFILE=dev"},
     NULL,
     0},
    {"profile-env-order",
     NULL,
     "[a]\n" KEYS("AKIDA", "s-a") "[b]\n" KEYS("AKIDB", "s-b"),
     {"AWS_DEFAULT_PROFILE=a", "AWS_PROFILE=b"},
     NULL,
     0},
    {"config-profile",
     "[profile dev]\nregion = ap-south-1\n" KEYS("AKIDCONF1", "s-f1"),
     NULL,
     {"AWS_PROFILE=dev"},
     NULL,
     0},
    {"config-default-twice",
     "[default]\n" KEYS("AKIDFIRST",
                        "s-1") "[profile default]\n" KEYS("AKIDSECOND", "s-2"),
     NULL,
     {0},
     NULL,
     0},
    {"creds-over-config",
     "[default]\nregion = us-west-1\n" KEYS("AKIDCONF2", "s-f2"),
     "[default]\n" KEYS("AKIDCRED4", "s-c4"),
     {0},
     NULL,
     0},
    {"missing-profile-env",
     NULL,
     "[default]\n" KEYS("AKIDCRED5", "s-c5"),
     {"AWS_PROFILE=nope", "AWS_ACCESS_KEY_ID=AKIDENV5",
      "AWS_SECRET_ACCESS_KEY=s-e5", "AWS_DEFAULT_REGION=eu-west-2"},
     NULL,
     0},
    {"flag-hides-env",
     NULL,
     "[dev]\n" KEYS("AKIDCRED6", "s-c6"),
     {"AWS_ACCESS_KEY_ID=AKIDENV6", "AWS_SECRET_ACCESS_KEY=s-e6"},
     "dev",
     0},
    {"flag-over-env-profile",
     NULL,
     "[a]\n" KEYS("AKIDA2", "s-a2") "[b]\n" KEYS("AKIDB2", "s-b2"),
     {"AWS_PROFILE=b"},
     "a",
     0},
    {"flag-default-missing", NULL, NULL, {0}, "default", 0},
    {"creds-partial",
     NULL,
     "[default]\naws_access_key_id = AKIDHALF\n",
     {0},
     NULL,
     0},
    {"continuation-swallows-secret",
     NULL,
     "[default]\naws_access_key_id = AKIDX\n  aws_secret_access_key = s\n",
     {0},
     NULL,
     0},
    {"parse-error-dup-section",
     "[default]\nregion = x\n[default]\n",
     NULL,
     {"AWS_ACCESS_KEY_ID=AKIDENV7", "AWS_SECRET_ACCESS_KEY=s-e7"},
     NULL,
     0},
    {"parse-error-no-header",
     NULL,
     "aws_access_key_id = A\n[default]\n",
     {0},
     NULL,
     0},
    {"parse-error-nested",
     "[default]\ns3 =\n  addressing_style\n",
     NULL,
     {0},
     NULL,
     0},
    {"region-from-creds-file",
     "[default]\nregion = us-west-1\n",
     "[default]\nregion = sa-east-1\n" KEYS("AKIDCRED7", "s-c7"),
     {0},
     NULL,
     0},
    {"region-empty", "[default]\nregion =\n", NULL, {0}, NULL, 0},
    {"nothing", NULL, NULL, {0}, NULL, 0},
    {"default-section",
     NULL,
     "[DEFAULT]\naws_secret_access_key = s-def\n"
     "[default]\naws_access_key_id = AKIDDEF\n",
     {0},
     NULL,
     0},
    {"syntax-variety",
     "# leading comment\n"
     "; semicolon comment\n"
     "[profile dev]\n"
     "AWS_ACCESS_KEY_ID: AKIDSYNTAX\n"
     "\taws_secret_access_key_x = no\n"
     "aws_secret_access_key=s:x=y # not a comment\n"
     "   ; indented comment\n"
     "Region =   eu-south-1   \n",
     NULL,
     {"AWS_PROFILE=dev"},
     NULL,
     0},
    {"quoted-profile",
     "[profile \"my team\"]\n" KEYS("AKIDQUOTED", "s-q"),
     NULL,
     {"AWS_PROFILE=my team"},
     NULL,
     0},
    {"profile-prefix-quirk",
     "[profiles odd]\n" KEYS("AKIDODD", "s-odd"),
     NULL,
     {"AWS_PROFILE=odd"},
     NULL,
     0},
    {"profile-in-creds-file-name",
     NULL,
     "[profile dev]\n" KEYS("AKIDPD", "s-pd"),
     {"AWS_PROFILE=dev"},
     NULL,
     0},
    {"profile-in-creds-file-named",
     NULL,
     "[profile dev]\n" KEYS("AKIDPD2", "s-pd2"),
     {0},
     "profile dev",
     0},
    {"nested-block",
     "[default]\ns3 =\n  addressing_style = path\n  signature_version = "
     "s3v4\nregion = us-east-2\n" KEYS("AKIDNESTED", "s-n"),
     NULL,
     {0},
     NULL,
     0},
    {"home-files",
     "[default]\nregion = ap-northeast-2\n",
     "[default]\n" KEYS("AKIDHOME", "s-h"),
     {0},
     NULL,
     1},
    {"tilde-path",
     NULL,
     "[default]\n" KEYS("AKIDTILDE", "s-t"),
     {"AWS_SHARED_CREDENTIALS_FILE=~/credentials"},
     NULL,
     0},
    {"crlf",
     "[default]\r\nregion = eu-west-3\r\n",
     "[default]\r\naws_access_key_id = AKIDCRLF\r\naws_secret_access_key = "
     "s-crlf\r\naws_session_token = t-crlf\r\n",
     {0},
     NULL,
     0},
    {"file-tokens",
     NULL,
     "[default]\n" KEYS("AKIDTOK", "s-tok") "aws_session_token = t-ses\n"
                                            "aws_security_token = t-sec\n",
     {0},
     NULL,
     0},
    {"us-east-1",
     NULL,
     NULL,
     {"AWS_DEFAULT_REGION=us-east-1", "AWS_ACCESS_KEY_ID=AKIDUE1",
      "AWS_SECRET_ACCESS_KEY=s-ue1"},
     NULL,
     0},
    {"cn-region", NULL, NULL, {"AWS_DEFAULT_REGION=cn-north-1"}, NULL, 0},
    {"aws-region-env",
     NULL,
     NULL,
     {"AWS_REGION=ap-northeast-1", "AWS_DEFAULT_REGION=eu-west-3"},
     NULL,
     0},
    {"default-section-in-config",
     "[DEFAULT]\nregion = eu-west-1\n[default]\n" KEYS("AKIDDEFCONF", "s-dc"),
     NULL,
     {0},
     NULL,
     0},
    {"colon-delimiter",
     NULL,
     "[default]\naws_access_key_id: AKIDCOLON\n"
     "aws_secret_access_key = a:b=c\n",
     {0},
     NULL,
     0},
    {"blank-line-makes-nested-block",
     "[default]\nregion =\n\n  us-west-2\n",
     NULL,
     {0},
     NULL,
     0},
    {"region-env-over-profile",
     "[default]\nregion = us-west-1\n",
     NULL,
     {"AWS_DEFAULT_REGION=eu-north-1"},
     NULL,
     0},
    {"endpoint-env",
     "[default]\nendpoint_url = http://profile.example:1\n",
     NULL,
     {"AWS_ENDPOINT_URL_S3=http://localhost:9000/",
      "AWS_ENDPOINT_URL=http://localhost:4566", "AWS_DEFAULT_REGION=eu-west-1"},
     NULL,
     0},
    {"endpoint-services",
     "[default]\nservices = local\nregion = eu-west-1\n"
     "[services local]\nsagemaker =\n  endpoint_url = http://sm.local:1/\n",
     NULL,
     {0},
     NULL,
     0},
};

static void sha256_hex(const char *s, char out[65])
{
  unsigned char md[32];
  unsigned int len = 0;
  int i;

  ASSERT_EQ(1, EVP_Digest(s ? s : "", s ? strlen(s) : 0, md, &len, EVP_sha256(),
                          NULL));
  ASSERT_EQ(32, len);
  for (i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* What the C side resolves for one scenario, in the peer's format. */
static void peer_run_scenario(const struct peer_scenario *s, const char *dir)
{
  static const char *const services[] = {"s3", "sagemaker", "sagemaker-runtime",
                                         "logs"};
  struct aws_config_opts o = local_opts();
  struct outcome out;
  char path[PATH_MAX], value[1024], h1[65], h2[65];
  const char *eq;
  char *region, *url;
  FILE *f;
  size_t i, j;

  env_count = 0;
  env_list[0] = NULL;
  env_set("HOME", dir);
  if (s->home_files) {
    FMT(path, "%s/.aws", dir);
    ASSERT_EQ(0, mkdir(path, 0700));
  } else {
    FMT(path, "%s/config", dir);
    env_set("AWS_CONFIG_FILE", path);
    FMT(path, "%s/credentials", dir);
    env_set("AWS_SHARED_CREDENTIALS_FILE", path);
  }
  FMT(path, "%s/%sconfig", dir, s->home_files ? ".aws/" : "");
  if (s->config)
    ASSERT_EQ(0, test_write_file(path, s->config));
  FMT(path, "%s/%scredentials", dir, s->home_files ? ".aws/" : "");
  if (s->credentials)
    ASSERT_EQ(0, test_write_file(path, s->credentials));
  for (i = 0; i < sizeof(s->env) / sizeof(s->env[0]) && s->env[i]; i++) {
    char name[128];
    size_t k = 0;

    eq = strchr(s->env[i], '=');
    ASSERT(eq && (size_t)(eq - s->env[i]) < sizeof(name));
    FMT(name, "%.*s", (int)(eq - s->env[i]), s->env[i]);
    for (j = 0; eq[1 + j]; j++) {
      ASSERT(k + strlen(dir) + 1 < sizeof(value));
      if (eq[1 + j] == '@')
        k += (size_t)snprintf(value + k, sizeof(value) - k, "%s", dir);
      else
        value[k++] = eq[1 + j];
    }
    value[k] = '\0';
    env_set(name, value);
  }
  o.profile = s->profile;

  FMT(path, "%s/env", dir);
  f = fopen(path, "w");
  ASSERT(f != NULL);
  for (i = 0; i < (size_t)env_count; i++)
    fprintf(f, "%s\n", env_list[i]);
  ASSERT_EQ(0, fclose(f));
  if (s->profile) {
    FMT(path, "%s/profile", dir);
    FMT(value, "%s\n", s->profile);
    ASSERT_EQ(0, test_write_file(path, value));
  }

  FMT(path, "%s/c-result", dir);
  f = fopen(path, "w");
  ASSERT(f != NULL);
  resolve_local(&o, &out);
  if (out.status == 0) {
    sha256_hex(out.creds->secret_access_key, h1);
    sha256_hex(out.creds->session_token, h2);
    /* One line per field: a newline in the key id is written as \n. */
    fputs("creds=ok ", f);
    for (eq = out.creds->access_key_id; *eq; eq++) {
      if (*eq == '\n')
        fputs("\\n", f);
      else
        fputc(*eq, f);
    }
    fprintf(f, " %s %s %s\n", h1, h2, out.creds->source);
  } else {
    const char *kind = "other";

    if (out.status == SR_ENOENT &&
        strncmp(out.message, "no AWS credentials", 18) == 0)
      kind = "none";
    else if (out.status == SR_ENOENT)
      kind = "profile-not-found";
    else if (out.status == SR_EINVAL)
      kind = "partial";
    else if (out.status == SR_EPARSE)
      kind = "parse";
    fprintf(f, "creds=error %s\n", kind);
  }
  outcome_free(&out);
  region = aws_region_resolve(NULL, &o);
  fprintf(f, "region=%s\n", region ? region : "-");
  fprintf(f, "endpoint_region=%s\n", region ? region : "eu-west-1");
  for (i = 0; i < sizeof(services) / sizeof(services[0]); i++) {
    url = aws_endpoint_resolve(services[i], region ? region : "eu-west-1", NULL,
                               &o);
    ASSERT(url != NULL);
    fprintf(f, "endpoint.%s=%s\n", services[i], url);
    free(url);
  }
  free(region);
  ASSERT_EQ(0, fclose(f));
}

TEST_TIMEOUT(aws_config_peer_botocore, 120000);
TEST(aws_config_peer_botocore)
{
  char root[PATH_MAX], dir[PATH_MAX], script[PATH_MAX];
  const char *argv[] = {PEER_PYTHON, script, root, NULL};
  char *out = NULL, *err = NULL;
  const char *compared;
  size_t i;
  int status;

  if (!have_python())
    return;
  tmp_file(root, sizeof(root), "peer", NULL);
  ASSERT_EQ(0, mkdir(root, 0700));
  for (i = 0; i < sizeof(peer_scenarios) / sizeof(peer_scenarios[0]); i++) {
    FMT(dir, "%s/%02zu-%s", root, i, peer_scenarios[i].name);
    ASSERT_EQ(0, mkdir(dir, 0700));
    peer_run_scenario(&peer_scenarios[i], dir);
  }
  FMT(script, "%s/tests/peers/aws_config_botocore.py", test_srcdir());
  status = test_exec(argv, NULL, &out, &err);
  printf("# %s", out ? out : "");
  if (status != 0 || (err && *err))
    printf("# stderr: %s\n", err ? err : "");
  ASSERT_EQ(0, status);
  if (out && strstr(out, "# skipped")) {
    ASSERT(getenv("SAGERUN_REQUIRE_PEERS") == NULL);
  } else {
    ASSERT_CONTAINS(out, "disagreements: 0\n");
    compared = strstr(out, "compared: ");
    ASSERT(compared != NULL);
    /* Every scenario's credentials at least. */
    ASSERT(strtol(compared + 10, NULL, 10) >=
           (long)(sizeof(peer_scenarios) / sizeof(peer_scenarios[0])));
  }
  free(out);
  free(err);
}
