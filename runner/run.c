#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../steps/step.h"
#include "buf.h"
#include "diag.h"
#include "error.h"
#include "exec.h"
#include "progress.h"
#include "target.h"

size_t run_refuse_unrunnable(const struct workflow *wf)
{
  size_t i, refused = 0;

  for (i = 0; i < wf->nall; i++) {
    const struct wf_step *s = wf->all[i];
    if (s->type && s->type->exec == NULL) {
      fprintf(stderr,
              "%s:%d:%d: error: step \"%s\" uses %s, which this version of "
              "sagerun cannot run yet\n",
              wf->file, s->node->line, s->node->col, s->path, s->type->name);
      refused++;
    }
  }
  return refused;
}

/* Whether any step talks to AWS (or the embedded engine): only then is
 * a client opened, so local-only workflows need no credentials. */
static int needs_aws(const struct workflow *wf)
{
  size_t i;

  for (i = 0; i < wf->nall; i++) {
    const struct step_type *t = wf->all[i]->type;
    if (t && strncmp(t->name, "core.", 5) != 0 && strcmp(t->name, "report"))
      return 1;
  }
  return 0;
}

/* The comparison tables of the run's report steps, and where the reports
 * are: what a user of the seed study looks for at the end. */
static void print_reports(const struct dag *dag, const struct exec_summary *s)
{
  size_t i;

  for (i = 0; i < dag->count; i++) {
    const struct dag_node *n = &dag->nodes[i];
    json_t *out = json_object_get(s->outputs, n->id);
    const char *table = json_string_value(json_object_get(out, "table"));
    const char *html = json_string_value(json_object_get(out, "html"));
    const char *md = json_string_value(json_object_get(out, "markdown"));
    if (strcmp(n->step->type->name, "report") != 0 || table == NULL)
      continue;
    printf("\n%s\n", table);
    if (md || html)
      printf("report: %s%s%s\n", md ? md : "", md && html ? ", " : "",
             html ? html : "");
  }
}

/* runs/RUN next to the state database: the steps' files. */
static char *run_dir(const char *state_path, const char *run_id)
{
  struct buf b;
  const char *slash = strrchr(state_path, '/');

  buf_init(&b, 1 << 16);
  if (slash)
    buf_add(&b, state_path, (size_t)(slash - state_path + 1));
  buf_addf(&b, "runs");
  mkdir(buf_str(&b), 0700);
  buf_addf(&b, "/%s", run_id);
  mkdir(buf_str(&b), 0700);
  return buf_detach(&b, NULL);
}

int run_execute(const struct cli_workflow_args *a, struct workflow *wf,
                struct dag *dag, struct state *state, const json_t *run,
                const json_t *prior)
{
  const char *run_id = json_string_value(json_object_get(run, "id"));
  struct exec_summary summary;
  struct exec_opts opts;
  struct progress progress;
  char *dir = run_dir(cli_state_path(a), run_id);
  struct aws_client *aws = NULL;
  char region[64] = "";
  uv_loop_t loop;
  int rc;

  memset(&progress, 0, sizeof(progress));
  progress.out = stdout;
  progress.json = a->json;
  progress.verbose = a->verbose;
  progress.colour = !a->json && diag_use_colour(stdout);
  /* A terminal gets a live block of running steps; a pipe plain lines. */
  progress.live = !a->json && isatty(fileno(stdout));
  progress.run_id = run_id;
  if (!a->json)
    printf("%s %s of %s (%zu steps, target %s)\n",
           prior ? "resuming run" : "run", run_id, wf->name, dag->count,
           wf->target);
  memset(&opts, 0, sizeof(opts));
  opts.state = state;
  opts.run_id = run_id;
  /* The run's own start, so run.started_at is stable across resumes. */
  opts.started_at = json_string_value(json_object_get(run, "started_at"));
  opts.region = a->region ? a->region : wf->region;
  opts.work_dir = dir;
  opts.prior = prior;
  opts.on_event = progress_event;
  opts.event_data = &progress;
  opts.handle_signals = 1;
  opts.ticks = progress.live;
  uv_loop_init(&loop);
  if (needs_aws(wf)) {
    char err[1024];
    rc = target_open(&loop, wf->target, a->region, wf->region, &aws, region,
                     sizeof(region), err, sizeof(err));
    if (rc) {
      cli_error(prior ? "resume" : "run", "%s", err);
      state_run_finish(state, run_id, "failed");
      rc = EXIT_FAILED;
      goto out;
    }
    opts.aws = aws;
    opts.region = region;
  }
  rc = exec_run(&loop, dag, &opts, &summary);
  if (rc < 0) {
    cli_error(prior ? "resume" : "run", "%s", sr_strerror(rc));
    rc = EXIT_FAILED;
  } else {
    state_run_finish(state, run_id,
                     rc == 0     ? "succeeded"
                     : rc == 130 ? "interrupted"
                                 : "failed");
    if (!a->json)
      print_reports(dag, &summary);
    progress_summary(&progress, dag, &summary, rc);
    exec_summary_free(&summary);
  }
out:
  target_close(&loop, aws);
  /* Whatever a step left open is closed before the loop goes. */
  if (uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  progress_free(&progress);
  free(dir);
  return rc;
}
