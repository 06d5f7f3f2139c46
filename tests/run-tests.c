/* Runs every test in its own child process under a timeout and prints TAP,
 * then the closing line "N passed, N failed".
 *
 *   run-tests             all tests
 *   run-tests NAME...     tests whose name starts with one of NAME
 *   run-tests --list      names only
 *   run-tests --no-fork NAME   in-process, for a debugger */
/* realpath() is XSI. */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

struct test_entry {
  const char *name;
  void (*fn)(void);
  int timeout_ms;
};

#define TEST_DEFAULT_TIMEOUT_MS 30000

#define TEST_ENTRY(name) void test_##name(void);
#define TEST_ENTRY_TIMEOUT(name, ms) void test_##name(void);
#include "test-list.h"
#undef TEST_ENTRY
#undef TEST_ENTRY_TIMEOUT

static const struct test_entry tests[] = {
#define TEST_ENTRY(name) {#name, test_##name, TEST_DEFAULT_TIMEOUT_MS},
#define TEST_ENTRY_TIMEOUT(name, ms) {#name, test_##name, (ms)},
#include "test-list.h"
#undef TEST_ENTRY
#undef TEST_ENTRY_TIMEOUT
    {NULL, NULL, 0}};

void test_cleanup(void);

static int selected(const char *name, int argc, char **argv)
{
  int i;

  if (argc == 0)
    return 1;
  for (i = 0; i < argc; i++)
    if (strncmp(name, argv[i], strlen(argv[i])) == 0)
      return 1;
  return 0;
}

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs one test in a child; returns 1 when it passed. */
static int run_one(const struct test_entry *t, int n)
{
  pid_t pid;
  int status;
  double start = now_ms();

  fflush(stdout);
  pid = fork();
  if (pid < 0) {
    printf("not ok %d - %s # fork: %s\n", n, t->name, strerror(errno));
    return 0;
  }
  if (pid == 0) {
    /* Own process group, so helpers and stragglers die with the test. */
    setpgid(0, 0);
    alarm((unsigned)((t->timeout_ms + 999) / 1000));
    t->fn();
    test_cleanup();
    /* exit, not _exit: LeakSanitizer checks for leaks at exit. */
    exit(0);
  }
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  kill(-pid, SIGKILL);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    printf("ok %d - %s # %.0f ms\n", n, t->name, now_ms() - start);
    return 1;
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    printf("not ok %d - %s # timeout after %d ms\n", n, t->name, t->timeout_ms);
  else if (WIFSIGNALED(status))
    printf("not ok %d - %s # killed by signal %d\n", n, t->name,
           WTERMSIG(status));
  else
    printf("not ok %d - %s # exit status %d\n", n, t->name,
           WEXITSTATUS(status));
  return 0;
}

int main(int argc, char **argv)
{
  const struct test_entry *t;
  int passed = 0, failed = 0, total = 0, n = 0, nofork = 0;

  /* Absolute paths, so tests that change directory still find the
   * binary and the sources. */
  {
    const char *bin = getenv("SAGERUN_BIN");
    char *abs = realpath(bin && *bin ? bin : "build/default/sagerun", NULL);
    if (abs)
      setenv("SAGERUN_BIN", abs, 1);
    free(abs);
    abs = realpath(getenv("SAGERUN_SRCDIR") ? getenv("SAGERUN_SRCDIR") : ".",
                   NULL);
    if (abs)
      setenv("SAGERUN_SRCDIR", abs, 1);
    free(abs);
  }
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (t = tests; t->name; t++)
      puts(t->name);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--no-fork") == 0) {
    nofork = 1;
    argc--;
    argv++;
  }
  for (t = tests; t->name; t++)
    total += selected(t->name, argc - 1, argv + 1);
  printf("1..%d\n", total);
  for (t = tests; t->name; t++) {
    if (!selected(t->name, argc - 1, argv + 1))
      continue;
    n++;
    if (nofork) {
      t->fn();
      test_cleanup();
      printf("ok %d - %s\n", n, t->name);
      passed++;
    } else if (run_one(t, n)) {
      passed++;
    } else {
      failed++;
    }
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
