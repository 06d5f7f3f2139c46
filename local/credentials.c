/* The engine's credentials file: created once with O_EXCL and mode 0600
 * through a temporary name, so a reader never sees half a file and two
 * engines starting at once agree on one secret. */
#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../runner/buf.h"
#include "../runner/error.h"

#define CRED_FILE_MAX 4096

static const char key_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
static const char secret_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Fills out[0..n-1] with characters of alphabet (its length a power of
 * two, so taking the low bits of a random byte is unbiased). */
static int random_chars(char *out, size_t n, const char *alphabet,
                        unsigned mask)
{
  unsigned char raw[64];
  size_t i;

  if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
    return SR_EIO;
  for (i = 0; i < n; i++)
    out[i] = alphabet[raw[i] & mask];
  out[n] = '\0';
  OPENSSL_cleanse(raw, sizeof(raw));
  return 0;
}

/* Writes all of data to fd. */
static int write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return SR_EIO;
    data += n;
    len -= (size_t)n;
  }
  return 0;
}

/* Creates path with new credentials; SR_EEXIST when another process made
 * it first. */
static int credentials_create(const char *path, struct local_credentials *c,
                              char *err, size_t errlen)
{
  struct buf text, tmp;
  int fd = -1, rc;

  buf_init(&text, CRED_FILE_MAX);
  buf_init(&tmp, CRED_FILE_MAX);
  memcpy(c->access_key_id, "LKIA", 4);
  rc = random_chars(c->access_key_id + 4, 16, key_alphabet, 31);
  if (rc == 0)
    rc = random_chars(c->secret_access_key, 40, secret_alphabet, 63);
  if (rc) {
    snprintf(err, errlen, "no random bytes for credentials");
    goto out;
  }
  rc = buf_addf(&text,
                "# sagerun local engine credentials (keep this file "
                "private)\n[default]\naws_access_key_id = %s\n"
                "aws_secret_access_key = %s\n",
                c->access_key_id, c->secret_access_key);
  if (rc == 0)
    rc = buf_addf(&tmp, "%s.%ld.tmp", path, (long)getpid());
  if (rc)
    goto out;
  fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", buf_str(&tmp),
             strerror(errno));
    rc = SR_EIO;
    goto out;
  }
  rc = write_all(fd, buf_str(&text), buf_len(&text));
  if (rc == 0 && fsync(fd) != 0)
    rc = SR_EIO;
  if (close(fd) != 0 && rc == 0)
    rc = SR_EIO;
  fd = -1;
  /* link() fails when path exists: the first engine's secret wins. */
  if (rc == 0 && link(buf_str(&tmp), path) != 0)
    rc = errno == EEXIST ? SR_EEXIST : SR_EIO;
  if (rc && rc != SR_EEXIST)
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
  unlink(buf_str(&tmp));
out:
  OPENSSL_cleanse((void *)buf_str(&text), buf_len(&text));
  buf_free(&text);
  buf_free(&tmp);
  return rc;
}

/* Takes "name = value" from line into out (size outlen) when the name
 * matches. */
static void take_value(const char *line, const char *name, char *out,
                       size_t outlen)
{
  size_t n = strlen(name), len;
  const char *v;

  if (strncmp(line, name, n) != 0)
    return;
  v = line + n;
  while (*v == ' ' || *v == '\t')
    v++;
  if (*v != '=')
    return;
  v++;
  while (*v == ' ' || *v == '\t')
    v++;
  len = strcspn(v, " \t\r\n");
  if (len >= outlen)
    return;
  memcpy(out, v, len);
  out[len] = '\0';
}

static int credentials_read(const char *path, struct local_credentials *c,
                            char *err, size_t errlen)
{
  char line[256];
  struct stat st;
  FILE *f;
  int rc = 0;

  f = fopen(path, "re");
  if (f == NULL)
    return errno == ENOENT ? SR_ENOENT : SR_EIO;
  if (fstat(fileno(f), &st) != 0) {
    fclose(f);
    return SR_EIO;
  }
  if (st.st_mode & 077) {
    snprintf(err, errlen,
             "%s is accessible by others (mode %03o); run chmod 600 on it",
             path, (unsigned)(st.st_mode & 0777));
    fclose(f);
    return SR_EINVAL;
  }
  memset(c, 0, sizeof(*c));
  while (fgets(line, sizeof(line), f)) {
    take_value(line, "aws_access_key_id", c->access_key_id,
               sizeof(c->access_key_id));
    take_value(line, "aws_secret_access_key", c->secret_access_key,
               sizeof(c->secret_access_key));
  }
  OPENSSL_cleanse(line, sizeof(line));
  if (ferror(f))
    rc = SR_EIO;
  fclose(f);
  if (rc == 0 &&
      (c->access_key_id[0] == '\0' || c->secret_access_key[0] == '\0')) {
    snprintf(err, errlen,
             "%s holds no aws_access_key_id and "
             "aws_secret_access_key",
             path);
    rc = SR_EPARSE;
  }
  return rc;
}

int local_credentials_load(const char *data_dir, struct local_credentials *c,
                           char *err, size_t errlen)
{
  struct buf path;
  int rc, tries;

  if (errlen > 0)
    err[0] = '\0';
  buf_init(&path, 4096);
  rc = buf_addf(&path, "%s/%s", data_dir, LOCAL_CREDENTIALS_FILE);
  if (rc) {
    snprintf(err, errlen, "%s", sr_strerror(rc));
    goto out;
  }
  for (tries = 0; tries < 2; tries++) {
    rc = credentials_read(buf_str(&path), c, err, errlen);
    if (rc != SR_ENOENT)
      break;
    rc = credentials_create(buf_str(&path), c, err, errlen);
    if (rc != SR_EEXIST)
      break;
  }
  if (rc == SR_EIO && err[0] == '\0')
    snprintf(err, errlen, "cannot read %s: %s", buf_str(&path),
             strerror(errno));
out:
  if (rc)
    local_credentials_clear(c);
  buf_free(&path);
  return rc;
}

void local_credentials_clear(struct local_credentials *c)
{
  OPENSSL_cleanse(c, sizeof(*c));
}
