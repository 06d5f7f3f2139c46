/* The test harness: a test is `TEST(name) { ... }` in any tests/test-*.c
 * file; the build collects them into one runner (tests/run-tests.c) that
 * runs each in its own child process under a timeout. Assertions print
 * file:line and end the child with a failure. */
#ifndef SAGERUN_TEST_H
#define SAGERUN_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEST(name)                                                             \
  void test_##name(void);                                                      \
  void test_##name(void)

/* Per-test timeout override: TEST_TIMEOUT(name, ms) next to the TEST. */
#define TEST_TIMEOUT(name, ms) extern const int test_timeout_##name

void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define ASSERT(cond)                                                           \
  do {                                                                         \
    if (!(cond))                                                               \
      test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);            \
  } while (0)

#define ASSERT_EQ(expected, actual)                                            \
  do {                                                                         \
    long long e_ = (long long)(expected), a_ = (long long)(actual);            \
    if (e_ != a_)                                                              \
      test_fail(__FILE__, __LINE__, "%s == %s: expected %lld, got %lld",       \
                #expected, #actual, e_, a_);                                   \
  } while (0)

#define ASSERT_STR_EQ(expected, actual)                                        \
  do {                                                                         \
    const char *e_ = (expected), *a_ = (actual);                               \
    if (a_ == NULL || strcmp(e_, a_) != 0)                                     \
      test_fail(__FILE__, __LINE__, "%s: expected \"%s\", got \"%s\"",         \
                #actual, e_, a_ ? a_ : "(null)");                              \
  } while (0)

#define ASSERT_CONTAINS(haystack, needle)                                      \
  do {                                                                         \
    const char *h_ = (haystack), *n_ = (needle);                               \
    if (h_ == NULL || strstr(h_, n_) == NULL)                                  \
      test_fail(__FILE__, __LINE__, "%s: \"%s\" not found in \"%s\"",          \
                #haystack, n_, h_ ? h_ : "(null)");                            \
  } while (0)

/* Root of the source tree (tests run from it; overridable by
 * SAGERUN_SRCDIR) and the built sagerun binary. */
const char *test_srcdir(void);
const char *test_sagerun_bin(void);

/* A fresh directory for this test, removed when the test ends. */
const char *test_tmpdir(void);

/* Reads a whole file; returns malloc'ed NUL-terminated text or NULL. */
char *test_read_file(const char *path, size_t *len);
int test_write_file(const char *path, const char *text);

/* Runs argv (argv[0] a path) with stdin from in_text (may be NULL),
 * capturing stdout and stderr into malloc'ed strings (either may be NULL
 * to discard). Returns the exit status, or 128+signal. */
int test_exec(const char *const argv[], const char *in_text, char **out,
              char **err);

/* Starts a helper process (a server, say) that is killed when the test
 * ends, pass or fail. Returns its pid, or -1. */
int test_helper_spawn(const char *const argv[]);

/* Starts tests/helpers/http-test-server (built next to sagerun) as a
 * helper on an ephemeral loopback port and returns the port. */
int test_http_server_start(void);

#endif
