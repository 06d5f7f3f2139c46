/* How a run reaches the embedded engine (target local): the engine's
 * data directory, as `sagerun local` resolves it; its port; starting it
 * (`sagerun local start`, the same binary) when nothing answers there;
 * and its credentials. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "../runner/error.h"
#include "../runner/target.h"
#include "credentials.h"

static int data_dir(char out[PATH_MAX])
{
  const char *env = getenv("SAGERUN_LOCAL_DIR");
  const char *home = getenv("HOME");

  if (env && *env)
    return snprintf(out, PATH_MAX, "%s", env) < PATH_MAX ? 0 : -1;
  if (home && *home)
    return snprintf(out, PATH_MAX, "%s/.local/share/sagerun/local", home) <
                   PATH_MAX
               ? 0
               : -1;
  return -1;
}

static int read_port(const char *dir)
{
  char path[PATH_MAX + 32];
  FILE *f;
  int port = 0;

  snprintf(path, sizeof(path), "%s/engine.port", dir);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  if (fscanf(f, "%d", &port) != 1)
    port = 0;
  fclose(f);
  return port;
}

static int answers(int port)
{
  struct sockaddr_in sa;
  int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

  if (fd < 0)
    return 0;
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
  close(fd);
  return ok;
}

/* Whether the engine of dir runs a binary that has since been replaced
 * (a rebuild): it could not start its training workers any more. */
static int engine_outdated(const char *dir)
{
  char path[PATH_MAX + 32], exe[PATH_MAX];
  FILE *f;
  long pid = 0;
  ssize_t n;

  snprintf(path, sizeof(path), "%s/engine.pid", dir);
  f = fopen(path, "r");
  if (f == NULL)
    return 0;
  if (fscanf(f, "%ld", &pid) != 1)
    pid = 0;
  fclose(f);
  if (pid <= 0)
    return 0;
  snprintf(path, sizeof(path), "/proc/%ld/exe", pid);
  n = readlink(path, exe, sizeof(exe) - 1);
  if (n <= 0)
    return 0;
  exe[n] = '\0';
  return strstr(exe, " (deleted)") != NULL;
}

/* `sagerun local ARG...`, by the binary running now; 0 when it exits 0. */
static int run_local(const char *a1, const char *a2, const char *a3)
{
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  pid_t pid;
  int status;

  if (n <= 0)
    return SR_EIO;
  self[n] = '\0';
  fflush(stdout);
  pid = fork();
  if (pid < 0)
    return SR_EIO;
  if (pid == 0) {
    /* Its chatter goes to stderr; stdout belongs to the run's output. */
    dup2(2, 1);
    execl(self, self, "local", a1, a2, a3, (char *)NULL);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : SR_EIO;
}

/* `sagerun local start [--port 0]`, by the binary running now. */
static int start_engine(int any_port, char *err, size_t errlen)
{
  int rc = any_port ? run_local("start", "--port", "0")
                    : run_local("start", NULL, NULL);

  if (rc)
    snprintf(err, errlen,
             "`sagerun local start` failed (see sagerun local "
             "logs)");
  return rc;
}

int local_connect(char *url, size_t url_len, struct aws_credentials *creds,
                  char *err, size_t errlen)
{
  struct local_credentials lc;
  char dir[PATH_MAX];
  int port, rc;

  memset(creds, 0, sizeof(*creds));
  if (data_dir(dir) != 0) {
    snprintf(err, errlen,
             "no data directory for the local engine: set HOME "
             "or SAGERUN_LOCAL_DIR");
    return SR_EINVAL;
  }
  port = read_port(dir);
  if (port && answers(port) && engine_outdated(dir)) {
    /* Restarted on the new binary; its data stays. */
    run_local("stop", NULL, NULL);
    port = 0;
  }
  if (port == 0 || !answers(port)) {
    /* The usual port, else any free one (another engine, of another data
     * directory, may hold 4566). */
    rc = start_engine(0, err, errlen);
    if (rc)
      rc = start_engine(1, err, errlen);
    if (rc)
      return rc;
    port = read_port(dir);
    if (port == 0 || !answers(port)) {
      snprintf(err, errlen, "the local engine started but does not answer");
      return SR_ECONN;
    }
  }
  rc = local_credentials_load(dir, &lc, err, errlen);
  if (rc)
    return rc;
  snprintf(url, url_len, "http://127.0.0.1:%d", port);
  creds->access_key_id = strdup(lc.access_key_id);
  creds->secret_access_key = strdup(lc.secret_access_key);
  creds->source = "static";
  local_credentials_clear(&lc);
  if (creds->access_key_id == NULL || creds->secret_access_key == NULL)
    return SR_ENOMEM;
  return 0;
}
