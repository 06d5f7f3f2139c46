/* AWS settings the way botocore finds them: the credential chain, the
 * region and service endpoints (see aws_config.h).
 *
 * Where botocore is the reference, its behaviour is kept, quirks
 * included: AWS_DEFAULT_PROFILE before AWS_PROFILE, AWS_SECURITY_TOKEN
 * before AWS_SESSION_TOKEN, a --profile flag that hides the environment's
 * keys, profile keys of the credentials file overriding the config file's
 * for settings (region, endpoint_url), a syntax error in either file
 * failing the chain, and an explicitly named profile that must exist.
 * Deliberate differences: a secret key without an access key id is an
 * error (botocore ignores it), AWS_REGION is read (botocore 1.29 reads
 * only AWS_DEFAULT_REGION), and sources sagerun cannot use (assume role,
 * web identity, SSO, credential_process) are errors rather than skipped,
 * so that no other identity is picked up by accident.
 *
 * No message ever holds a secret: messages name variables, files,
 * profiles and keys, never values. */
#include "aws_config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "ini.h"

#define AWS_IMDS_ENDPOINT "http://169.254.169.254"
#define AWS_IMDS_TOKEN_TTL "21600"
#define AWS_IMDS_ROLES_PATH "/latest/meta-data/iam/security-credentials/"
#define AWS_IMDS_TIMEOUT_MS 1000
#define AWS_CONTAINER_ENDPOINT "http://169.254.170.2"
#define AWS_CONTAINER_TIMEOUT_MS 2000 /* botocore's TIMEOUT_SECONDS */
#define AWS_RESPONSE_CAP ((size_t)64 << 10)
#define AWS_TEXT_CAP ((size_t)64 << 10)

/* ---- Environment and small helpers ------------------------------------- */

/* A variable of the environment opts names (or the process's), NULL when
 * unset or empty: the SDKs treat an empty variable as unset. */
static const char *aws_env(const struct aws_config_opts *o, const char *name)
{
  const char *v = o && o->getenv ? o->getenv(name) : getenv(name);

  return v && *v ? v : NULL;
}

static int aws_strcaseeq(const char *a, const char *b)
{
  for (; *a && *b; a++, b++) {
    char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;
    char y = *b >= 'A' && *b <= 'Z' ? (char)(*b - 'A' + 'a') : *b;

    if (x != y)
      return 0;
  }
  return *a == *b;
}

/* botocore's ensure_boolean for strings: "true" in any case. */
static int aws_true(const char *v)
{
  return v && aws_strcaseeq(v, "true");
}

static char *aws_strdup(const char *s)
{
  size_t n = strlen(s);
  char *p = malloc(n + 1);

  if (p)
    memcpy(p, s, n + 1);
  return p;
}

/* Overwrites a secret before its memory goes back to the allocator; the
 * volatile pointer keeps the compiler from dropping the stores. */
static void aws_wipe_free(char *s)
{
  volatile char *v = s;

  if (s == NULL)
    return;
  while (*v)
    *v++ = '\0';
  free(s);
}

void aws_credentials_free(struct aws_credentials *c)
{
  if (c == NULL)
    return;
  aws_wipe_free(c->access_key_id);
  aws_wipe_free(c->secret_access_key);
  aws_wipe_free(c->session_token);
  free(c);
}

/* New credentials with copies of the strings (token may be NULL), or
 * NULL when out of memory. */
static struct aws_credentials *aws_credentials_new(const char *akid,
                                                   const char *secret,
                                                   const char *token,
                                                   const char *source)
{
  struct aws_credentials *c = calloc(1, sizeof(*c));

  if (c == NULL)
    return NULL;
  c->source = source;
  c->access_key_id = aws_strdup(akid);
  c->secret_access_key = aws_strdup(secret);
  c->session_token = token ? aws_strdup(token) : NULL;
  if (c->access_key_id == NULL || c->secret_access_key == NULL ||
      (token && c->session_token == NULL)) {
    aws_credentials_free(c);
    return NULL;
  }
  return c;
}

/* ---- ISO 8601 times ----------------------------------------------------- */

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil): timegm() is not POSIX. */
static long long aws_days_from_civil(long long y, unsigned m, unsigned d)
{
  long long era;
  unsigned yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = (unsigned)(y - era * 400);
  doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (long long)doe - 719468;
}

/* Reads exactly n digits at *s into *out and advances *s. */
static int aws_digits(const char **s, int n, int *out)
{
  int v = 0, i;

  for (i = 0; i < n; i++) {
    if ((*s)[i] < '0' || (*s)[i] > '9')
      return -1;
    v = v * 10 + ((*s)[i] - '0');
  }
  *s += n;
  *out = v;
  return 0;
}

/* "2026-11-27T20:00:00Z", optionally with fractional seconds and a
 * "+hh:mm" / "+hhmm" / "+hh" offset instead of "Z", to seconds since the
 * epoch. Returns 0 or -1 when s is not such a time. */
static int aws_parse_time(const char *s, time_t *out)
{
  static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30,
                                        31, 31, 30, 31, 30, 31};
  int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
  long long t;

  if (aws_digits(&s, 4, &y) || *s++ != '-' || aws_digits(&s, 2, &mo) ||
      *s++ != '-' || aws_digits(&s, 2, &d))
    return -1;
  if (*s != 'T' && *s != 't' && *s != ' ')
    return -1;
  s++;
  if (aws_digits(&s, 2, &h) || *s++ != ':' || aws_digits(&s, 2, &mi) ||
      *s++ != ':' || aws_digits(&s, 2, &sec))
    return -1;
  if (*s == '.' || *s == ',') {
    s++;
    if (*s < '0' || *s > '9')
      return -1;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  if (*s == 'Z' || *s == 'z') {
    s++;
  } else if (*s == '+' || *s == '-') {
    sign = *s++ == '-' ? -1 : 1;
    if (aws_digits(&s, 2, &oh))
      return -1;
    if (*s == ':')
      s++;
    if (*s && aws_digits(&s, 2, &om))
      return -1;
  } else {
    return -1;
  }
  if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
      (mo == 2 && d == 29 && (y % 4 != 0 || (y % 100 == 0 && y % 400 != 0))) ||
      h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
    return -1;
  t = aws_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
      mi * 60 + sec - sign * (oh * 3600 + om * 60);
  if ((long long)(time_t)t != t)
    return -1;
  *out = (time_t)t;
  return 0;
}

/* ---- Shared config and credentials files -------------------------------- */

struct aws_files {
  char *config_path; /* NULL when there is none (no HOME) */
  char *creds_path;
  const char *config_shown; /* as the user wrote it, for messages */
  const char *creds_shown;
  struct ini *config; /* NULL when the file is absent */
  struct ini *creds;
  const char *profile;  /* never NULL */
  int profile_explicit; /* named by opts->profile or the environment */
  int profile_flag;     /* named by opts->profile */
  const struct ini_section *config_profile; /* or NULL */
  const struct ini_section *creds_profile;  /* or NULL */
};

static void aws_files_release(struct aws_files *f)
{
  free(f->config_path);
  free(f->creds_path);
  ini_free(f->config);
  ini_free(f->creds);
  memset(f, 0, sizeof(*f));
}

/* Expands a leading "~" from HOME, as os.path.expanduser does. *out is
 * NULL when the path needs HOME and there is none. */
static int aws_expand_path(const struct aws_config_opts *o, const char *path,
                           char **out)
{
  const char *home;
  struct buf b;

  *out = NULL;
  if (path[0] != '~' || (path[1] != '/' && path[1] != '\0')) {
    *out = aws_strdup(path);
    return *out ? 0 : SR_ENOMEM;
  }
  home = aws_env(o, "HOME");
  if (home == NULL)
    return 0;
  buf_init(&b, AWS_TEXT_CAP);
  if (buf_adds(&b, home) || buf_adds(&b, path + 1))
    return SR_ENOMEM;
  *out = buf_detach(&b, NULL);
  return *out ? 0 : SR_ENOMEM;
}

/* Splits s the way Python's shlex.split does (quotes, backslashes) and
 * puts the second word in *second when there are exactly two words.
 * Returns the number of words (0 when the quoting is broken, which
 * botocore skips too) or SR_ENOMEM. */
static int aws_shlex_second(const char *s, struct buf *second)
{
  int words = 0, in_word = 0;
  char c;

  buf_reset(second);
  for (;;) {
    c = *s++;
    if (c == '\0')
      break;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      in_word = 0;
      continue;
    }
    if (!in_word) {
      in_word = 1;
      words++;
    }
    if (c == '\\') {
      c = *s++;
      if (c == '\0')
        return 0;
    } else if (c == '\'' || c == '"') {
      char q = c;

      for (;;) {
        c = *s++;
        if (c == '\0')
          return 0;
        if (c == q)
          break;
        if (q == '"' && c == '\\' && (*s == '"' || *s == '\\'))
          c = *s++;
        if (words == 2 && buf_addc(second, c))
          return SR_ENOMEM;
      }
      continue;
    }
    if (words == 2 && buf_addc(second, c))
      return SR_ENOMEM;
  }
  return words;
}

/* The config-file section botocore maps to name: for prefix "profile",
 * [default] or any section starting with "profile" that splits into two
 * words, the second being name; for "services", likewise. Later sections
 * win, as they overwrite earlier ones in botocore's dict. */
static int aws_config_section(const struct ini *ini, const char *prefix,
                              const char *name, const struct ini_section **out)
{
  struct buf word;
  size_t i, plen = strlen(prefix);
  int rc = 0, n;

  *out = NULL;
  if (ini == NULL)
    return 0;
  buf_init(&word, AWS_TEXT_CAP);
  for (i = 0; i < ini->nsections; i++) {
    const char *sn = ini->sections[i].name;

    if (strcmp(prefix, "profile") == 0 && strcmp(sn, "default") == 0) {
      if (strcmp(name, "default") == 0)
        *out = &ini->sections[i];
      continue;
    }
    if (strncmp(sn, prefix, plen) != 0)
      continue;
    n = aws_shlex_second(sn, &word);
    if (n < 0) {
      rc = n;
      break;
    }
    if (n == 2 && strcmp(buf_str(&word), name) == 0)
      *out = &ini->sections[i];
  }
  buf_free(&word);
  return rc;
}

/* Loads one file; an absent file leaves *ini NULL. */
static int aws_file_load(const char *path, struct ini **ini, struct buf *err)
{
  int rc;

  *ini = NULL;
  if (path == NULL)
    return 0;
  rc = ini_load(path, ini, err);
  return rc == SR_ENOENT ? 0 : rc;
}

/* Finds the profile and loads both files. Returns 0, or SR_EPARSE /
 * SR_EIO with a message in err, or SR_ENOMEM. A profile that is named
 * but absent is not an error here (see aws_files_profile_missing). */
static int aws_files_load(const struct aws_config_opts *o, struct aws_files *f,
                          struct buf *err)
{
  const char *v;
  int rc;

  memset(f, 0, sizeof(*f));
  /* botocore's order: the session's profile, then AWS_DEFAULT_PROFILE,
   * then AWS_PROFILE. */
  f->profile = "default";
  if (o && o->profile && *o->profile) {
    f->profile = o->profile;
    f->profile_explicit = f->profile_flag = 1;
  } else {
    v = aws_env(o, "AWS_DEFAULT_PROFILE");
    if (v == NULL)
      v = aws_env(o, "AWS_PROFILE");
    if (v) {
      f->profile = v;
      f->profile_explicit = 1;
    }
  }
  v = aws_env(o, "AWS_CONFIG_FILE");
  f->config_shown = v ? v : "~/.aws/config";
  v = aws_env(o, "AWS_SHARED_CREDENTIALS_FILE");
  f->creds_shown = v ? v : "~/.aws/credentials";
  rc = aws_expand_path(o, f->config_shown, &f->config_path);
  if (rc == 0)
    rc = aws_expand_path(o, f->creds_shown, &f->creds_path);
  if (rc == 0)
    rc = aws_file_load(f->config_path, &f->config, err);
  if (rc == 0)
    rc = aws_file_load(f->creds_path, &f->creds, err);
  if (rc == 0)
    rc = aws_config_section(f->config, "profile", f->profile,
                            &f->config_profile);
  if (rc == 0)
    f->creds_profile = ini_section_find(f->creds, f->profile);
  if (rc)
    aws_files_release(f);
  return rc;
}

/* botocore's ProfileNotFound: a profile named explicitly must be in one
 * of the files, even when it is called "default". */
static int aws_files_profile_missing(const struct aws_files *f)
{
  return f->profile_explicit && f->config_profile == NULL &&
         f->creds_profile == NULL;
}

/* A profile setting: the credentials file's section overrides the config
 * file's, as botocore merges them. NULL when unset. */
static const struct ini_pair *aws_profile_pair(const struct aws_files *f,
                                               const char *key)
{
  const struct ini_pair *p = NULL;

  if (f->creds_profile)
    p = ini_pair_find(f->creds, f->creds_profile, key);
  if (p == NULL && f->config_profile)
    p = ini_pair_find(f->config, f->config_profile, key);
  return p;
}

static const char *aws_profile_get(const struct aws_files *f, const char *key)
{
  const struct ini_pair *p = aws_profile_pair(f, key);

  return p && p->value[0] ? p->value : NULL;
}

/* ---- Region ------------------------------------------------------------- */

char *aws_region_resolve(const char *flag, const struct aws_config_opts *o)
{
  struct aws_files f;
  const char *v;
  char *region = NULL;

  if (flag && *flag)
    return aws_strdup(flag);
  v = aws_env(o, "AWS_REGION");
  if (v == NULL)
    v = aws_env(o, "AWS_DEFAULT_REGION");
  if (v)
    return aws_strdup(v);
  /* A file that cannot be read or parsed gives no region; resolving the
   * credentials reports the error. */
  if (aws_files_load(o, &f, NULL) != 0)
    return NULL;
  if (!aws_files_profile_missing(&f)) {
    v = aws_profile_get(&f, "region");
    if (v)
      region = aws_strdup(v);
  }
  aws_files_release(&f);
  return region;
}

/* ---- Endpoints ---------------------------------------------------------- */

struct aws_service {
  const char *id;          /* sagerun's service id */
  const char *env;         /* suffix of AWS_ENDPOINT_URL_ */
  const char *config_key;  /* key in a [services NAME] section */
  const char *host_prefix; /* before .REGION.amazonaws.com */
  const char *signing_name;
};

static const struct aws_service aws_services[] = {
    {"logs", "CLOUDWATCH_LOGS", "cloudwatch_logs", "logs", "logs"},
    {"s3", "S3", "s3", "s3", "s3"},
    {"sagemaker", "SAGEMAKER", "sagemaker", "api.sagemaker", "sagemaker"},
    {"sagemaker-runtime", "SAGEMAKER_RUNTIME", "sagemaker_runtime",
     "runtime.sagemaker", "sagemaker"},
};

static const struct aws_service *aws_service_find(const char *id)
{
  size_t i;

  if (id == NULL)
    return NULL;
  for (i = 0; i < sizeof(aws_services) / sizeof(aws_services[0]); i++)
    if (strcmp(aws_services[i].id, id) == 0)
      return &aws_services[i];
  return NULL;
}

const char *aws_signing_name(const char *service)
{
  const struct aws_service *s = aws_service_find(service);

  return s ? s->signing_name : NULL;
}

/* botocore's validate_region_name: a DNS label, since it becomes part of
 * a host name. */
static int aws_region_valid(const char *r)
{
  size_t n = strlen(r), i;

  if (n == 0 || n > 63 || r[0] == '-' || r[n - 1] == '-')
    return 0;
  for (i = 0; i < n; i++)
    if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= 'A' && r[i] <= 'Z') ||
          (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
      return 0;
  return 1;
}

/* A copy of url without trailing slashes. */
static char *aws_url_dup(const char *url)
{
  size_t n = strlen(url);
  char *p;

  while (n > 0 && url[n - 1] == '/')
    n--;
  p = malloc(n + 1);
  if (p == NULL)
    return NULL;
  memcpy(p, url, n);
  p[n] = '\0';
  return p;
}

/* The endpoint configured in the files: the profile's services section
 * (botocore: "services = NAME" and [services NAME] with "s3 =" and an
 * indented "endpoint_url = ..."), then the profile's endpoint_url. */
static const char *aws_endpoint_from_files(const struct aws_files *f,
                                           const struct aws_service *svc)
{
  const struct ini_section *section = NULL;
  const char *name, *v;

  name = aws_profile_get(f, "services");
  if (name && aws_config_section(f->config, "services", name, &section) == 0 &&
      section) {
    v = ini_sub_get(ini_pair_find(f->config, section, svc->config_key),
                    "endpoint_url");
    if (v && *v)
      return v;
  }
  return aws_profile_get(f, "endpoint_url");
}

char *aws_endpoint_resolve(const char *service, const char *region,
                           const char *local_url,
                           const struct aws_config_opts *o)
{
  const struct aws_service *svc = aws_service_find(service);
  struct aws_files f;
  struct buf url;
  char name[64];
  const char *v;
  char *out = NULL;
  int files;

  if (svc == NULL)
    return NULL;
  if (local_url)
    return aws_url_dup(local_url);
  files = aws_files_load(o, &f, NULL) == 0;
  if (files && aws_files_profile_missing(&f)) {
    aws_files_release(&f);
    files = 0;
  }
  if (aws_true(aws_env(o, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
      (files &&
       aws_true(aws_profile_get(&f, "ignore_configured_endpoint_urls"))))
    goto standard;
  snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", svc->env);
  v = aws_env(o, name);
  if (v == NULL)
    v = aws_env(o, "AWS_ENDPOINT_URL");
  if (v == NULL && files)
    v = aws_endpoint_from_files(&f, svc);
  if (v) {
    out = aws_url_dup(v);
    goto out;
  }
standard:
  if (region == NULL || !aws_region_valid(region))
    goto out;
  buf_init(&url, AWS_TEXT_CAP);
  buf_addf(&url, "https://%s.%s.%s", svc->host_prefix, region,
           strncmp(region, "cn-", 3) == 0 ? "amazonaws.com.cn"
                                          : "amazonaws.com");
  out = buf_detach(&url, NULL);
out:
  if (files)
    aws_files_release(&f);
  return out;
}

/* ---- The credential chain ----------------------------------------------- */

enum aws_next { AWS_NEXT_DONE, AWS_NEXT_CONTAINER, AWS_NEXT_IMDS };

struct aws_resolve {
  uv_loop_t *loop;
  struct http_client *http;
  aws_credentials_cb cb;
  void *data;
  uv_timer_t timer; /* delivers outcomes found without the network */
  int status;
  struct aws_credentials *creds;
  struct buf message;
  struct buf tried; /* the sources tried, for the failure message */
  char *profile;
  char *url;  /* container: the credentials URL */
  char *auth; /* container: the Authorization value (a secret) */
  char *imds; /* IMDS base URL, no trailing slash */
  long imds_timeout_ms;
  char *token; /* IMDS session token (a secret) */
};

static void aws_resolve_free(struct aws_resolve *st)
{
  aws_credentials_free(st->creds);
  buf_free(&st->message);
  buf_free(&st->tried);
  free(st->profile);
  free(st->url);
  aws_wipe_free(st->auth);
  free(st->imds);
  aws_wipe_free(st->token);
  free(st);
}

static void aws_fail(struct aws_resolve *st, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records a failed outcome (status < 0) with its message. */
static void aws_fail(struct aws_resolve *st, int status, const char *fmt, ...)
{
  va_list ap;

  st->status = status;
  buf_reset(&st->message);
  va_start(ap, fmt);
  buf_vaddf(&st->message, fmt, ap);
  va_end(ap);
}

static void aws_tried(struct aws_resolve *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Adds a source to the list the failure message shows. */
static void aws_tried(struct aws_resolve *st, const char *fmt, ...)
{
  va_list ap;

  if (buf_len(&st->tried))
    buf_adds(&st->tried, ", ");
  va_start(ap, fmt);
  buf_vaddf(&st->tried, fmt, ap);
  va_end(ap);
}

/* The outcome when every source came up empty. */
static void aws_fail_none(struct aws_resolve *st)
{
  aws_fail(st, SR_ENOENT, "no AWS credentials found for profile %s (tried %s)",
           st->profile, buf_str(&st->tried));
}

/* Hands the outcome to the callback, which owns the credentials from
 * then on. The message is "" on success. */
static void aws_resolve_deliver(struct aws_resolve *st)
{
  struct aws_credentials *creds = NULL;

  if (st->status == 0 && st->creds == NULL)
    aws_fail(st, SR_ENOMEM, "out of memory");
  if (st->status == 0) {
    creds = st->creds;
    st->creds = NULL;
  }
  st->cb(st->status, creds, st->status ? buf_str(&st->message) : "", st->data);
}

/* The end of a network source: deliver, then release the state. */
static void aws_resolve_finish(struct aws_resolve *st)
{
  aws_resolve_deliver(st);
  aws_resolve_free(st);
}

static void aws_timer_closed(uv_handle_t *h)
{
  aws_resolve_free(h->data);
}

static void aws_timer_fired(uv_timer_t *t)
{
  aws_resolve_deliver(t->data);
  uv_close((uv_handle_t *)t, aws_timer_closed);
}

/* Static keys from one profile section s of ini (what and shown name the
 * file in messages): aws_access_key_id decides whether the file has
 * credentials for the profile (as in botocore); the secret must then be
 * there too. Returns 1 when st->creds was set (NULL only when out of
 * memory) or an error recorded, 0 when the section has no keys. */
static int aws_creds_from_section(struct aws_resolve *st, const struct ini *ini,
                                  const struct ini_section *s, const char *what,
                                  const char *shown, const char *source)
{
  const char *akid, *secret, *token;

  if (s == NULL)
    return 0;
  akid = ini_get(ini, s, "aws_access_key_id");
  if (akid == NULL)
    return 0;
  secret = ini_get(ini, s, "aws_secret_access_key");
  if (akid[0] == '\0' || secret == NULL || secret[0] == '\0') {
    aws_fail(st, SR_EINVAL, "%s %s, [%s]: %s is %s", what, shown, s->name,
             akid[0] ? "aws_secret_access_key" : "aws_access_key_id",
             akid[0] && secret == NULL ? "missing" : "empty");
    return 1;
  }
  token = ini_get(ini, s, "aws_security_token");
  if (token == NULL)
    token = ini_get(ini, s, "aws_session_token");
  st->creds =
      aws_credentials_new(akid, secret, token && *token ? token : NULL, source);
  return 1;
}

/* The environment's keys. Returns 1 when it decided the outcome. */
static int aws_creds_from_env(struct aws_resolve *st,
                              const struct aws_config_opts *o)
{
  const char *akid = aws_env(o, "AWS_ACCESS_KEY_ID");
  const char *secret = aws_env(o, "AWS_SECRET_ACCESS_KEY");
  const char *token, *expiry;

  if (akid == NULL && secret == NULL)
    return 0;
  if (akid == NULL || secret == NULL) {
    aws_fail(st, SR_EINVAL, "%s is set but %s is not",
             akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
             akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
    return 1;
  }
  token = aws_env(o, "AWS_SECURITY_TOKEN");
  if (token == NULL)
    token = aws_env(o, "AWS_SESSION_TOKEN");
  st->creds = aws_credentials_new(akid, secret, token, "environment");
  expiry = aws_env(o, "AWS_CREDENTIAL_EXPIRATION");
  if (st->creds && expiry &&
      aws_parse_time(expiry, &st->creds->expiration) != 0)
    aws_fail(st, SR_EINVAL,
             "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time "
             "(like 2026-11-27T20:00:00Z)");
  return 1;
}

/* Sources botocore would use at this point that sagerun does not
 * implement. Returns 1 (with the error recorded) when one applies. */
static int aws_unsupported(struct aws_resolve *st, const struct aws_files *f,
                           const char *key, const char *what)
{
  if (aws_profile_pair(f, key) == NULL)
    return 0;
  aws_fail(st, SR_ENOTSUP,
           "profile %s uses %s (%s), which sagerun does not support; "
           "export static or container credentials instead",
           f->profile, key, what);
  return 1;
}

/* Whether a full container credentials URL may be used: https anywhere,
 * plain http only to loopback or the ECS/EKS agent addresses. */
static int aws_container_url_allowed(const char *url)
{
  static const char *const hosts[] = {"localhost", "169.254.170.2",
                                      "169.254.170.23", "[::1]",
                                      "[fd00:ec2::23]"};
  const char *h, *e, *colon;
  size_t i, n;

  if (strncmp(url, "https://", 8) == 0)
    return 1;
  if (strncmp(url, "http://", 7) != 0)
    return 0;
  h = url + 7;
  e = h + strcspn(h, "/?#");
  if (memchr(h, '@', (size_t)(e - h)))
    return 0;
  colon = e;
  if (*h == '[') {
    const char *rb = memchr(h, ']', (size_t)(e - h));

    if (rb == NULL)
      return 0;
    colon = rb + 1;
  } else {
    const char *c = memchr(h, ':', (size_t)(e - h));

    if (c)
      colon = c;
  }
  n = (size_t)(colon - h);
  for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
    if (strlen(hosts[i]) == n && strncmp(hosts[i], h, n) == 0)
      return 1;
  return n > 4 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") == n;
}

/* Reads the token file AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names,
 * without trailing whitespace. */
static int aws_read_token_file(const char *path, char **out)
{
  struct buf b;
  char chunk[1024];
  FILE *fp;
  size_t got, n;
  int rc = 0;

  *out = NULL;
  fp = fopen(path, "rb");
  if (fp == NULL)
    return SR_EIO;
  buf_init(&b, AWS_TEXT_CAP);
  for (;;) {
    got = fread(chunk, 1, sizeof(chunk), fp);
    if (got == 0)
      break;
    rc = buf_add(&b, chunk, got);
    if (rc)
      break;
  }
  if (rc == 0 && ferror(fp))
    rc = SR_EIO;
  fclose(fp);
  n = buf_len(&b);
  while (n > 0 && (buf_str(&b)[n - 1] == '\n' || buf_str(&b)[n - 1] == '\r' ||
                   buf_str(&b)[n - 1] == ' ' || buf_str(&b)[n - 1] == '\t'))
    n--;
  buf_truncate(&b, n);
  if (rc == 0)
    *out = buf_detach(&b, NULL);
  buf_free(&b);
  return rc ? rc : *out ? 0 : SR_ENOMEM;
}

/* Prepares the container request. Returns 1 when the container source
 * applies (st->url set, or an error recorded), 0 when not configured. */
static int aws_container_setup(struct aws_resolve *st,
                               const struct aws_config_opts *o)
{
  const char *rel = aws_env(o, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  const char *full = aws_env(o, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  const char *token_file = aws_env(o, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  const char *token = aws_env(o, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
  const char *base;
  struct buf url;
  size_t n;
  int rc;

  if (rel == NULL && full == NULL)
    return 0;
  aws_tried(st, "container");
  if (rel) {
    /* botocore: "http://169.254.170.2" + the relative URI, as it is. */
    base = o && o->container_endpoint ? o->container_endpoint
                                      : AWS_CONTAINER_ENDPOINT;
    n = strlen(base);
    while (n > 0 && base[n - 1] == '/' && rel[0] == '/')
      n--;
    buf_init(&url, AWS_TEXT_CAP);
    if (buf_add(&url, base, n) == 0 && buf_adds(&url, rel) == 0)
      st->url = buf_detach(&url, NULL);
  } else if (!aws_container_url_allowed(full)) {
    aws_fail(st, SR_EINVAL,
             "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https, or http to "
             "a loopback or container agent address");
    return 1;
  } else {
    st->url = aws_strdup(full);
  }
  if (st->url == NULL) {
    aws_fail(st, SR_ENOMEM, "out of memory");
    return 1;
  }
  /* The newer SDKs prefer the token file over the variable. */
  if (token_file) {
    rc = aws_read_token_file(token_file, &st->auth);
    if (rc) {
      aws_fail(st, rc, "cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s",
               token_file);
      return 1;
    }
  } else if (token) {
    st->auth = aws_strdup(token);
    if (st->auth == NULL) {
      aws_fail(st, SR_ENOMEM, "out of memory");
      return 1;
    }
  }
  if (st->auth && strpbrk(st->auth, "\r\n")) {
    aws_fail(st, SR_EINVAL,
             "the container authorization token holds a line break");
    return 1;
  }
  if (st->http == NULL) {
    aws_fail(st, SR_EINVAL, "container credentials need an HTTP client");
    return 1;
  }
  return 1;
}

/* Runs every source that needs no network, in botocore's order. Returns
 * what comes next: DONE (an outcome is recorded: st->creds or
 * st->status), or the network source to try. */
static enum aws_next aws_chain_local(struct aws_resolve *st,
                                     const struct aws_config_opts *o)
{
  struct aws_files f;
  const char *v;
  enum aws_next next = AWS_NEXT_DONE;
  int rc;

  rc = aws_files_load(o, &f, &st->message);
  if (rc) {
    /* The message, if any, is already in st->message. */
    st->status = rc;
    if (buf_len(&st->message) == 0)
      aws_fail(st, rc, "%s", sr_strerror(rc));
    return AWS_NEXT_DONE;
  }
  st->profile = aws_strdup(f.profile);
  if (st->profile == NULL) {
    aws_fail(st, SR_ENOMEM, "out of memory");
    goto out;
  }
  if (aws_files_profile_missing(&f)) {
    aws_fail(st, SR_ENOENT, "profile %s not found in %s or %s", f.profile,
             f.creds_shown, f.config_shown);
    goto out;
  }
  /* A profile given as a flag hides the environment's keys, as in the
   * AWS CLI: the flag is the more specific request. */
  if (!f.profile_flag) {
    aws_tried(st, "environment");
    if (aws_creds_from_env(st, o))
      goto out;
  }
  if (aws_unsupported(st, &f, "role_arn", "assume role") ||
      aws_unsupported(st, &f, "web_identity_token_file", "web identity"))
    goto out;
  if (!f.profile_flag && aws_env(o, "AWS_WEB_IDENTITY_TOKEN_FILE") &&
      aws_env(o, "AWS_ROLE_ARN")) {
    aws_fail(st, SR_ENOTSUP,
             "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN ask for web "
             "identity credentials, which sagerun does not support");
    goto out;
  }
  if (aws_unsupported(st, &f, "sso_session", "IAM Identity Center") ||
      aws_unsupported(st, &f, "sso_start_url", "IAM Identity Center"))
    goto out;
  aws_tried(st, "shared credentials file %s", f.creds_shown);
  if (aws_creds_from_section(st, f.creds, f.creds_profile,
                             "shared credentials file", f.creds_shown,
                             "shared-credentials-file"))
    goto out;
  if (aws_unsupported(st, &f, "credential_process", "an external process"))
    goto out;
  aws_tried(st, "config file %s", f.config_shown);
  if (aws_creds_from_section(st, f.config, f.config_profile, "config file",
                             f.config_shown, "config-file"))
    goto out;
  if (aws_container_setup(st, o)) {
    if (st->status == 0)
      next = AWS_NEXT_CONTAINER;
    goto out;
  }
  aws_tried(st, "container (not configured)");
  v = aws_env(o, "AWS_EC2_METADATA_DISABLED");
  if ((o && o->imds_disabled) || aws_true(v)) {
    aws_tried(st, "instance metadata (disabled)");
    aws_fail_none(st);
    goto out;
  }
  if (st->http == NULL) {
    aws_tried(st, "instance metadata (no HTTP client)");
    aws_fail_none(st);
    goto out;
  }
  v = o && o->imds_endpoint ? o->imds_endpoint
                            : aws_env(o, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  st->imds = aws_url_dup(v ? v : AWS_IMDS_ENDPOINT);
  if (st->imds == NULL) {
    aws_fail(st, SR_ENOMEM, "out of memory");
    goto out;
  }
  st->imds_timeout_ms =
      o && o->imds_timeout_ms > 0 ? o->imds_timeout_ms : AWS_IMDS_TIMEOUT_MS;
  next = AWS_NEXT_IMDS;
out:
  aws_files_release(&f);
  return next;
}

/* Credentials from a container or IMDS JSON document. Token and
 * Expiration are optional. Returns 0 or -1 when the document is not
 * one. */
static int aws_creds_from_json(struct aws_resolve *st, const struct buf *body,
                               const char *source)
{
  json_t *doc, *code;
  const char *akid, *secret, *token, *exp;
  int rc = -1;

  doc = json_loadb(buf_str(body), buf_len(body), 0, NULL);
  if (!json_is_object(doc))
    goto out;
  code = json_object_get(doc, "Code");
  if (code && (!json_is_string(code) ||
               strcmp(json_string_value(code), "Success") != 0))
    goto out;
  akid = json_string_value(json_object_get(doc, "AccessKeyId"));
  secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
  token = json_string_value(json_object_get(doc, "Token"));
  exp = json_string_value(json_object_get(doc, "Expiration"));
  if (akid == NULL || secret == NULL || !*akid || !*secret)
    goto out;
  st->creds =
      aws_credentials_new(akid, secret, token && *token ? token : NULL, source);
  if (st->creds == NULL) {
    rc = 0; /* finish reports the missing credentials as out of memory */
    goto out;
  }
  if (exp && aws_parse_time(exp, &st->creds->expiration) != 0) {
    aws_credentials_free(st->creds);
    st->creds = NULL;
    goto out;
  }
  rc = 0;
out:
  json_decref(doc);
  return rc;
}

/* The URL without its query, for messages: a query could carry a token. */
static int aws_url_shown_len(const char *url)
{
  return (int)strcspn(url, "?#");
}

static void aws_container_done(struct http_request *req,
                               const struct http_response *res, void *data)
{
  struct aws_resolve *st = data;

  (void)req;
  if (res->error)
    aws_fail(st, res->error, "container credentials from %.*s: %s",
             aws_url_shown_len(st->url), st->url,
             res->error_text && *res->error_text ? res->error_text
                                                 : sr_strerror(res->error));
  else if (res->status != 200)
    aws_fail(st, SR_EIO, "container credentials from %.*s: HTTP %d",
             aws_url_shown_len(st->url), st->url, res->status);
  else if (aws_creds_from_json(st, &res->body, "container") != 0)
    aws_fail(st, SR_EIO,
             "container credentials from %.*s: not a credentials document",
             aws_url_shown_len(st->url), st->url);
  aws_resolve_finish(st);
}

static int aws_container_start(struct aws_resolve *st)
{
  struct http_header h = {(char *)"Authorization", st->auth};
  struct http_request_opts ro;

  memset(&ro, 0, sizeof(ro));
  ro.method = "GET";
  ro.url = st->url;
  ro.headers = st->auth ? &h : NULL;
  ro.nheaders = st->auth ? 1 : 0;
  ro.response_cap = AWS_RESPONSE_CAP;
  ro.connect_timeout_ms = AWS_CONTAINER_TIMEOUT_MS;
  ro.total_timeout_ms = AWS_CONTAINER_TIMEOUT_MS;
  return http_request_start(st->http, &ro, aws_container_done, st, NULL);
}

/* IMDS is a best-effort source: its failure ends the chain with "no
 * credentials found", naming why, unless the request was canceled. */
static void aws_imds_fail(struct aws_resolve *st,
                          const struct http_response *res, const char *step)
{
  if (res && res->error == SR_ECANCELED) {
    aws_fail(st, SR_ECANCELED, "credential resolution canceled");
  } else if (res && res->error) {
    aws_tried(st, "instance metadata (%s: %s)", step,
              res->error_text && *res->error_text ? res->error_text
                                                  : sr_strerror(res->error));
    aws_fail_none(st);
  } else if (res) {
    aws_tried(st, "instance metadata (%s: HTTP %d)", step, res->status);
    aws_fail_none(st);
  } else {
    aws_tried(st, "instance metadata (%s)", step);
    aws_fail_none(st);
  }
  aws_resolve_finish(st);
}

static int aws_imds_request(struct aws_resolve *st, const char *method,
                            const char *path, http_done_cb cb)
{
  struct http_header h;
  struct http_request_opts ro;
  struct buf url;
  int rc;

  buf_init(&url, AWS_TEXT_CAP);
  if (buf_adds(&url, st->imds) || buf_adds(&url, path))
    return SR_ENOMEM;
  if (st->token) {
    h.name = (char *)"x-aws-ec2-metadata-token";
    h.value = st->token;
  } else {
    h.name = (char *)"x-aws-ec2-metadata-token-ttl-seconds";
    h.value = (char *)AWS_IMDS_TOKEN_TTL;
  }
  memset(&ro, 0, sizeof(ro));
  ro.method = method;
  ro.url = buf_str(&url);
  ro.headers = &h;
  ro.nheaders = 1;
  ro.response_cap = AWS_RESPONSE_CAP;
  ro.connect_timeout_ms = st->imds_timeout_ms;
  ro.total_timeout_ms = st->imds_timeout_ms;
  rc = http_request_start(st->http, &ro, cb, st, NULL);
  buf_free(&url);
  return rc;
}

/* Whether s is a plausible IAM role name ([\w+=,.@-]+), so it can go into
 * a URL path as it is. */
static int aws_role_name_ok(const char *s, size_t n)
{
  size_t i;

  if (n == 0 || n > 128)
    return 0;
  for (i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
          (s[i] >= '0' && s[i] <= '9') || strchr("_+=,.@-", s[i])))
      return 0;
  return 1;
}

static void aws_imds_creds_done(struct http_request *req,
                                const struct http_response *res, void *data)
{
  struct aws_resolve *st = data;

  (void)req;
  if (res->error || res->status != 200) {
    aws_imds_fail(st, res, "role credentials");
    return;
  }
  if (aws_creds_from_json(st, &res->body, "imds") != 0) {
    aws_imds_fail(st, NULL, "role credentials: not a credentials document");
    return;
  }
  aws_resolve_finish(st);
}

static void aws_imds_role_done(struct http_request *req,
                               const struct http_response *res, void *data)
{
  struct aws_resolve *st = data;
  const char *body;
  struct buf path;
  size_t n;
  int rc;

  (void)req;
  if (res->error || res->status != 200) {
    aws_imds_fail(st, res, res->status == 404 ? "no instance role" : "role");
    return;
  }
  /* The listing has one role per line; botocore takes the first. */
  body = buf_str(&res->body);
  n = strcspn(body, "\r\n");
  if (!aws_role_name_ok(body, n)) {
    aws_imds_fail(st, NULL, "role: not a role name");
    return;
  }
  buf_init(&path, AWS_TEXT_CAP);
  if (buf_adds(&path, AWS_IMDS_ROLES_PATH) || buf_add(&path, body, n)) {
    aws_fail(st, SR_ENOMEM, "out of memory");
    aws_resolve_finish(st);
    return;
  }
  rc = aws_imds_request(st, "GET", buf_str(&path), aws_imds_creds_done);
  buf_free(&path);
  if (rc) {
    aws_fail(st, rc, "instance metadata: %s", sr_strerror(rc));
    aws_resolve_finish(st);
  }
}

static void aws_imds_token_done(struct http_request *req,
                                const struct http_response *res, void *data)
{
  struct aws_resolve *st = data;
  const char *body = buf_str(&res->body);
  size_t n, i;
  int rc;

  (void)req;
  if (res->error || res->status != 200) {
    aws_imds_fail(st, res, "token");
    return;
  }
  /* The token goes into a header: printable ASCII only. */
  n = buf_len(&res->body);
  while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r'))
    n--;
  for (i = 0; i < n && body[i] > ' ' && body[i] < 0x7f; i++)
    ;
  if (n == 0 || i < n) {
    aws_imds_fail(st, NULL, "token: not a token");
    return;
  }
  st->token = malloc(n + 1);
  if (st->token) {
    memcpy(st->token, body, n);
    st->token[n] = '\0';
  }
  if (st->token == NULL) {
    aws_fail(st, SR_ENOMEM, "out of memory");
    aws_resolve_finish(st);
    return;
  }
  rc = aws_imds_request(st, "GET", AWS_IMDS_ROLES_PATH, aws_imds_role_done);
  if (rc) {
    aws_fail(st, rc, "instance metadata: %s", sr_strerror(rc));
    aws_resolve_finish(st);
  }
}

int aws_credentials_resolve(uv_loop_t *loop, struct http_client *http,
                            const struct aws_config_opts *opts,
                            aws_credentials_cb cb, void *data)
{
  struct aws_resolve *st;
  enum aws_next next;
  int rc;

  if (loop == NULL || cb == NULL)
    return SR_EINVAL;
  st = calloc(1, sizeof(*st));
  if (st == NULL)
    return SR_ENOMEM;
  st->loop = loop;
  st->http = http;
  st->cb = cb;
  st->data = data;
  buf_init(&st->message, AWS_TEXT_CAP);
  buf_init(&st->tried, AWS_TEXT_CAP);
  next = aws_chain_local(st, opts);
  if (st->status == SR_ENOMEM) {
    rc = SR_ENOMEM;
    goto fail;
  }
  if (next == AWS_NEXT_CONTAINER) {
    rc = aws_container_start(st);
    if (rc)
      goto fail;
    return 0;
  }
  if (next == AWS_NEXT_IMDS) {
    rc = aws_imds_request(st, "PUT", "/latest/api/token", aws_imds_token_done);
    if (rc)
      goto fail;
    return 0;
  }
  if (st->status == 0 && st->creds == NULL) {
    rc = SR_ENOMEM; /* a source found keys but could not copy them */
    goto fail;
  }
  /* Even an outcome known now goes through the loop, as promised. */
  rc = uv_timer_init(loop, &st->timer);
  if (rc) {
    rc = SR_EIO;
    goto fail;
  }
  st->timer.data = st;
  uv_timer_start(&st->timer, aws_timer_fired, 0, 0);
  return 0;
fail:
  aws_resolve_free(st);
  return rc;
}
