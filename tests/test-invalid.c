/* The corpus of invalid workflows: each tests/invalid/NAME.yaml ends with
 * comment lines `# expect: LINE:COLUMN: TEXT` (TEXT is a part of the
 * message) and may start with `# param: KEY=VALUE` overrides. Loading and
 * expanding must fail with every expected error at its place, and the
 * CLI must exit 2 without writing to stdout. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/dag.h"
#include "../runner/diag.h"
#include "../runner/workflow.h"
#include "test.h"

#define MAX_LINES 32

struct expectation {
  int line, col;
  char text[512];
};

/* Reads the `# expect:` and `# param:` comments of a corpus file. */
static size_t corpus_header(const char *text, struct expectation *exp,
                            const char **params, char *storage, size_t *nparams)
{
  const char *p = text;
  size_t n = 0, used = 0;

  *nparams = 0;
  while (*p) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (strncmp(p, "# expect: ", 10) == 0 && n < MAX_LINES) {
      int off = 0;
      if (sscanf(p + 10, "%d:%d: %n", &exp[n].line, &exp[n].col, &off) >= 2 &&
          off > 0) {
        size_t tlen = len - 10 - (size_t)off;
        if (tlen >= sizeof(exp[n].text))
          tlen = sizeof(exp[n].text) - 1;
        memcpy(exp[n].text, p + 10 + off, tlen);
        exp[n].text[tlen] = '\0';
        n++;
      }
    } else if (strncmp(p, "# param: ", 9) == 0 && *nparams < MAX_LINES) {
      memcpy(storage + used, p + 9, len - 9);
      storage[used + len - 9] = '\0';
      params[(*nparams)++] = storage + used;
      used += len - 9 + 1;
    }
    if (eol == NULL)
      break;
    p = eol + 1;
  }
  return n;
}

static int check_file(const char *dir, const char *name)
{
  char path[4096], storage[8192];
  struct expectation exp[MAX_LINES];
  const char *params[MAX_LINES];
  struct wf_overrides ov = {.assignments = params};
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  size_t nexp, i, j, len;
  char *text;
  int rc, ok = 1;

  snprintf(path, sizeof(path), "%s/%s", dir, name);
  text = test_read_file(path, &len);
  ASSERT(text != NULL);
  nexp = corpus_header(text, exp, params, storage, &ov.nassignments);
  if (nexp == 0) {
    printf("# %s: no `# expect:` line\n", name);
    free(text);
    return 0;
  }
  diags_init(&diags);
  rc = workflow_load_text(path, text, len, &ov, &wf, &diags);
  if (rc == 0) {
    rc = dag_expand(wf, &dag, &diags);
    dag_free(dag);
    workflow_free(wf);
  }
  if (rc == 0) {
    printf("# %s: loaded without error\n", name);
    ok = 0;
  }
  for (i = 0; i < nexp; i++) {
    int found = 0;
    for (j = 0; j < diags.count; j++)
      if (diags.items[j].line == exp[i].line &&
          diags.items[j].col == exp[i].col &&
          strstr(diags.items[j].message, exp[i].text))
        found = 1;
    if (!found) {
      printf("# %s: expected %d:%d: %s\n", name, exp[i].line, exp[i].col,
             exp[i].text);
      for (j = 0; j < diags.count; j++)
        printf("#   got %d:%d: %s\n", diags.items[j].line, diags.items[j].col,
               diags.items[j].message);
      ok = 0;
    }
  }
  diags_free(&diags);
  free(text);
  return ok;
}

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST_TIMEOUT(invalid_corpus, 60000);
TEST(invalid_corpus)
{
  char dir[1024], *names[512];
  struct dirent *de;
  size_t n = 0, i, failed = 0;
  DIR *d;

  snprintf(dir, sizeof(dir), "%s/tests/invalid", test_srcdir());
  d = opendir(dir);
  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL && n < 512) {
    size_t len = strlen(de->d_name);
    if (len > 5 && strcmp(de->d_name + len - 5, ".yaml") == 0)
      names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(*names), name_cmp);
  for (i = 0; i < n; i++) {
    failed += !check_file(dir, names[i]);
    free(names[i]);
  }
  printf("# %zu invalid workflows, %zu failed\n", n, failed);
  ASSERT(n >= 40);
  ASSERT_EQ(0, failed);
}

/* The CLI reports the same errors as FILE:LINE:COLUMN, exits 2 and prints
 * nothing on stdout, for every file of the corpus. */
TEST_TIMEOUT(invalid_corpus_cli, 120000);
TEST(invalid_corpus_cli)
{
  char dir[1024], path[4096];
  struct dirent *de;
  DIR *d;
  size_t n = 0;

  snprintf(dir, sizeof(dir), "%s/tests/invalid", test_srcdir());
  d = opendir(dir);
  ASSERT(d != NULL);
  while ((de = readdir(d)) != NULL) {
    size_t len = strlen(de->d_name);
    char *out = NULL, *err = NULL, *text;
    const char *argv[8], *p;
    int status, k = 0;
    if (len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
      continue;
    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
    text = test_read_file(path, NULL);
    argv[k++] = test_sagerun_bin();
    argv[k++] = "validate";
    argv[k++] = path;
    /* The first `# param:` line, if any, as -p; its errors name the
     * option rather than the file. */
    p = strstr(text, "# param: ");
    {
      static char assign[1024];
      if (p) {
        size_t l = strcspn(p + 9, "\n");
        snprintf(assign, sizeof(assign), "%.*s", (int)l, p + 9);
        argv[k++] = "-p";
        argv[k++] = assign;
      }
    }
    argv[k] = NULL;
    status = test_exec(argv, NULL, &out, &err);
    if (status != 2 || (out && *out) || err == NULL ||
        (p == NULL && strstr(err, path) == NULL) ||
        strstr(err, "error:") == NULL) {
      printf("# %s: status %d\n# stdout: %s\n# stderr: %s\n", de->d_name,
             status, out ? out : "", err ? err : "");
      ASSERT(0);
    }
    free(out);
    free(err);
    free(text);
    n++;
  }
  closedir(d);
  ASSERT(n >= 40);
}
