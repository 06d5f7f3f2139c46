/* `sagerun explain RUN STEP`: whether resuming RUN would reuse STEP, and
 * if not, why: which inputs changed, or which dependency runs again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "error.h"
#include "exec.h"
#include "graph.h"
#include "state.h"

/* Lists the differences between two JSON values under path. */
static void diff(struct buf *out, const char *path, const json_t *a,
                 const json_t *b)
{
  const char *key;
  json_t *v;
  char sub[1024];

  if (json_is_object(a) && json_is_object(b)) {
    json_object_foreach((json_t *)a, key, v)
    {
      snprintf(sub, sizeof(sub), "%s.%s", path, key);
      diff(out, sub, v, json_object_get(b, key));
    }
    json_object_foreach((json_t *)b, key, v)
    {
      if (json_object_get(a, key) == NULL) {
        snprintf(sub, sizeof(sub), "%s.%s", path, key);
        diff(out, sub, NULL, v);
      }
    }
    return;
  }
  if (a && b && json_equal(a, b))
    return;
  {
    char *x = a ? json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    char *y = b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    buf_addf(out, "    %s: %.80s -> %.80s\n", path, x ? x : "(absent)",
             y ? y : "(absent)");
    free(x);
    free(y);
  }
}

/* Says that id would be reused; a step that read outside data (its row
 * has an identity) is reused only if resume finds that data unchanged. */
static void explain_reuse(const char *id, const char *fp,
                          const json_t *identity)
{
  char *text = json_is_object(identity)
                   ? json_dumps(identity, JSON_COMPACT | JSON_SORT_KEYS)
                   : NULL;

  printf("%s would be reused: it succeeded with the same inputs "
         "(fingerprint %.12s)\n",
         id, fp);
  if (text)
    printf("  if the data it read is unchanged, which resume checks first: "
           "%s\n",
           text);
  free(text);
}

int cmd_explain(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("explain");
  struct cli_workflow_args a;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct state *state = NULL;
  json_t *run = NULL, *prior = NULL, **outputs = NULL;
  json_t *info = NULL;
  size_t *levels = NULL, i, n, found = 0;
  const char *run_id = NULL, *step = NULL;
  char err[1024] = "";
  unsigned char *reruns = NULL;
  long lv, nlevels;
  int rc, k;

  /* Two positionals: RUN and STEP; the rest as for resume. */
  for (k = 1; k < argc; k++) {
    if (argv[k][0] == '-' &&
        (strcmp(argv[k], "-p") == 0 || strcmp(argv[k], "--state") == 0 ||
         strcmp(argv[k], "--params-file") == 0)) {
      k++;
      continue;
    }
    if (argv[k][0] != '-' && run_id == NULL) {
      run_id = argv[k];
      memmove(argv + k, argv + k + 1, sizeof(*argv) * (size_t)(argc - k));
      argc--;
      k--;
    } else if (argv[k][0] != '-' && step == NULL) {
      step = argv[k];
    }
  }
  rc = cli_parse_workflow_args(cmd, argc, argv, CLI_RUN | CLI_NO_PATH, &a);
  if (rc == 0 && a.help) {
    fputs(cmd->usage, stdout);
    goto out;
  }
  if (rc == 0 && (run_id == NULL || step == NULL)) {
    cli_error("explain", "expected RUN and STEP (see sagerun explain --help)");
    rc = EXIT_USAGE;
  }
  if (rc)
    goto out;
  rc = cli_state_open("explain", &a, &state);
  if (rc)
    goto out;
  run = state_run_get(state, run_id, NULL);
  if (run == NULL) {
    cli_error("explain", "no run %s in %s", run_id, cli_state_path(&a));
    rc = EXIT_USAGE;
    goto out;
  }
  a.path = json_string_value(json_object_get(run, "path"));
  a.overrides.values = json_object_get(run, "params");
  rc = cli_load(&a, &wf, &dag);
  if (rc)
    goto out;
  prior = state_steps_by_instance(state, run_id);
  n = dag->count;
  info = exec_run_info(dag, run_id,
                       json_string_value(json_object_get(run, "started_at")),
                       a.region);
  outputs = calloc(n + 1, sizeof(*outputs));
  levels = calloc(n + 1, sizeof(*levels));
  reruns = calloc(n + 1, 1);
  nlevels = levels ? graph_levels(dag, levels) : -1;
  if (outputs == NULL || reruns == NULL || nlevels < 0) {
    rc = EXIT_FAILED;
    goto out;
  }
  /* Decide every step in dependency order, as resume would. */
  for (lv = 1; lv <= nlevels; lv++) {
    for (i = 0; i < n; i++) {
      const struct dag_node *node = &dag->nodes[i];
      json_t *p = json_object_get(prior, node->id), *inputs = NULL;
      const char *st = json_string_value(json_object_get(p, "status"));
      const char *fp = json_string_value(json_object_get(p, "fingerprint"));
      int matches = (int)((size_t)lv == levels[i]), mine;
      char fingerprint[65] = "", why_dep[512] = "";
      struct buf why;
      size_t d;
      if (!matches)
        continue;
      mine = strcmp(node->id, step) == 0 || strcmp(node->step->path, step) == 0;
      for (d = 0; d < node->ndeps && !why_dep[0]; d++)
        if (reruns[node->deps[d]])
          snprintf(why_dep, sizeof(why_dep),
                   "it depends on %s, which runs again",
                   dag->nodes[node->deps[d]].id);
      buf_init(&why, 1 << 16);
      if (node->step->finally) {
        buf_adds(&why, "finally steps always run again\n");
      } else if (st == NULL) {
        buf_adds(&why, "it never ran in this run\n");
      } else if (strcmp(st, "succeeded") != 0 && strcmp(st, "reused") != 0) {
        buf_addf(&why, "it ended %s last time\n", st);
      } else if (why_dep[0]) {
        buf_addf(&why, "%s\n", why_dep);
      } else if (exec_resolve_inputs(dag, i, outputs, info, &inputs, err,
                                     sizeof(err)) != 0) {
        buf_addf(&why, "its inputs no longer resolve: %s\n", err);
      } else {
        exec_fingerprint(node, inputs, fingerprint);
        if (fp == NULL || strcmp(fp, fingerprint) != 0) {
          buf_adds(&why, "its inputs changed:\n");
          diff(&why, "with", json_object_get(p, "inputs"), inputs);
        }
      }
      json_decref(inputs);
      if (buf_len(&why)) {
        reruns[i] = 1;
      } else {
        outputs[i] = json_incref(json_object_get(p, "outputs"));
      }
      if (mine) {
        found++;
        if (buf_len(&why))
          printf("%s would run again: %s", node->id, buf_str(&why));
        else
          explain_reuse(node->id, fp, json_object_get(p, "identity"));
      }
      buf_free(&why);
    }
  }
  if (found == 0) {
    cli_error("explain", "no step \"%s\" in run %s", step, run_id);
    rc = EXIT_USAGE;
  }
out:
  for (i = 0; outputs && dag && i < dag->count; i++)
    json_decref(outputs[i]);
  free(outputs);
  free(levels);
  free(reruns);
  json_decref(info);
  json_decref(prior);
  json_decref(run);
  state_close(state);
  dag_free(dag);
  workflow_free(wf);
  free(a.overrides.assignments);
  return rc;
}
