/* Helpers shared by all tests: files, temporary directories, running the
 * sagerun binary, and helper processes that die with the test. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define TEST_MAX_HELPERS 16

static char tmpdir[PATH_MAX];
static int helpers[TEST_MAX_HELPERS];
static int nhelpers;

void test_cleanup(void);

void test_fail(const char *file, int line, const char *fmt, ...)
{
  va_list ap;

  fprintf(stdout, "# %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  fputc('\n', stdout);
  fflush(stdout);
  test_cleanup();
  _exit(1);
}

const char *test_srcdir(void)
{
  const char *s = getenv("SAGERUN_SRCDIR");

  return s && *s ? s : ".";
}

const char *test_sagerun_bin(void)
{
  const char *s = getenv("SAGERUN_BIN");

  return s && *s ? s : "build/default/sagerun";
}

static void rm_rf(const char *path)
{
  const char *argv[] = {"/bin/rm", "-rf", path, NULL};

  test_exec(argv, NULL, NULL, NULL);
}

const char *test_tmpdir(void)
{
  if (tmpdir[0] == '\0') {
    const char *base = getenv("TMPDIR");

    snprintf(tmpdir, sizeof(tmpdir), "%s/sagerun-test-XXXXXX",
             base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
      test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
  }
  return tmpdir;
}

void test_cleanup(void)
{
  int i;

  for (i = 0; i < nhelpers; i++) {
    kill(helpers[i], SIGTERM);
    waitpid(helpers[i], NULL, 0);
  }
  nhelpers = 0;
  if (tmpdir[0] != '\0') {
    rm_rf(tmpdir);
    tmpdir[0] = '\0';
  }
}

char *test_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  size_t n = 0, alloc = 0, got;

  if (f == NULL)
    return NULL;
  for (;;) {
    if (alloc - n < 4096) {
      char *p = realloc(data, alloc ? alloc * 2 : 8192);
      if (p == NULL) {
        free(data);
        fclose(f);
        return NULL;
      }
      data = p;
      alloc = alloc ? alloc * 2 : 8192;
    }
    got = fread(data + n, 1, alloc - n - 1, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  data[n] = '\0';
  if (len)
    *len = n;
  return data;
}

int test_write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "wb");
  int rc;

  if (f == NULL)
    return -1;
  rc = fputs(text, f) < 0 ? -1 : 0;
  if (fclose(f) != 0)
    rc = -1;
  return rc;
}

/* Reads fd to EOF into a malloc'ed string. */
static char *slurp_fd(int fd)
{
  char *data = NULL, *p;
  size_t n = 0, alloc = 0;
  ssize_t got;

  for (;;) {
    if (alloc - n < 4096) {
      alloc = alloc ? alloc * 2 : 8192;
      p = realloc(data, alloc);
      if (p == NULL)
        break;
      data = p;
    }
    got = read(fd, data + n, alloc - n - 1);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    n += (size_t)got;
  }
  if (data)
    data[n] = '\0';
  return data;
}

int test_exec(const char *const argv[], const char *in_text, char **out,
              char **err)
{
  char inpath[] = "/tmp/sagerun-in-XXXXXX";
  char outpath[] = "/tmp/sagerun-out-XXXXXX";
  char errpath[] = "/tmp/sagerun-err-XXXXXX";
  int infd = mkstemp(inpath), outfd = mkstemp(outpath);
  int errfd = mkstemp(errpath), status;
  pid_t pid;

  if (infd < 0 || outfd < 0 || errfd < 0)
    test_fail(__FILE__, __LINE__, "mkstemp: %s", strerror(errno));
  unlink(inpath);
  unlink(outpath);
  unlink(errpath);
  if (in_text && write(infd, in_text, strlen(in_text)) < 0)
    test_fail(__FILE__, __LINE__, "write: %s", strerror(errno));
  lseek(infd, 0, SEEK_SET);
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    dup2(infd, 0);
    dup2(outfd, 1);
    dup2(errfd, 2);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  lseek(outfd, 0, SEEK_SET);
  lseek(errfd, 0, SEEK_SET);
  if (out)
    *out = slurp_fd(outfd);
  if (err)
    *err = slurp_fd(errfd);
  close(infd);
  close(outfd);
  close(errfd);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

int test_helper_spawn(const char *const argv[])
{
  pid_t pid;

  if (nhelpers == TEST_MAX_HELPERS)
    return -1;
  fflush(stdout);
  pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    /* The helper's output goes to a log beside the test's files, not
     * into the TAP stream. */
    char log[PATH_MAX + 32];
    int fd;
    snprintf(log, sizeof(log), "%s/helper-%d.log", test_tmpdir(), nhelpers);
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  helpers[nhelpers++] = pid;
  return pid;
}

int test_http_server_start(void)
{
  char bin[4096], port_file[4096];
  const char *sagerun = test_sagerun_bin(), *slash = strrchr(sagerun, '/');
  const char *argv[4];
  struct timespec step = {0, 5000000};
  char *text;
  int port, i;

  snprintf(bin, sizeof(bin), "%.*s/http-test-server",
           slash ? (int)(slash - sagerun) : 1, slash ? sagerun : ".");
  if (access(bin, X_OK) != 0)
    test_fail(__FILE__, __LINE__, "%s: not built (make %s)", bin, bin);
  snprintf(port_file, sizeof(port_file), "%s/http-port", test_tmpdir());
  argv[0] = bin;
  argv[1] = "--port-file";
  argv[2] = port_file;
  argv[3] = NULL;
  if (test_helper_spawn(argv) <= 0)
    test_fail(__FILE__, __LINE__, "cannot start %s", bin);
  for (i = 0; (text = test_read_file(port_file, NULL)) == NULL; i++) {
    if (i == 2000)
      test_fail(__FILE__, __LINE__, "http-test-server wrote no port");
    nanosleep(&step, NULL);
  }
  port = (int)strtol(text, NULL, 10);
  free(text);
  if (port <= 0)
    test_fail(__FILE__, __LINE__, "http-test-server: bad port file");
  return port;
}
