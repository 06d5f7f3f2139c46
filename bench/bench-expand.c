/* Load + expand of generated workflows with 10,000 step instances, in
 * three shapes: one step fanned out 10,000 times, a group of five chained
 * steps fanned out 2,000 times, and 10,000 declared steps in a chain.
 * Prints a Markdown table: median of several runs per shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../runner/buf.h"
#include "../runner/dag.h"
#include "../runner/diag.h"
#include "../runner/workflow.h"

#define RUNS 7

static double now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void header(struct buf *b, int n)
{
  int i;

  buf_adds(b, "name: bench\nparams:\n  ids: [");
  for (i = 0; i < n; i++)
    buf_addf(b, "%s%d", i ? ", " : "", i);
  buf_adds(b, "]\nsteps:\n  events:\n    uses: gdelt.top_events\n"
              "    with: {source: 's3://gdelt-open-data/events/1979.csv'}\n");
}

static void shape_fanout(struct buf *b)
{
  header(b, 10000);
  buf_adds(b, "  prepare:\n    uses: gdelt.prepare\n"
              "    for_each: {id: \"${{ params.ids }}\"}\n    with:\n"
              "      source: \"${{ format('s3://bkt/{0}.csv', each.id) }}\"\n"
              "      events: \"${{ steps.events.outputs.codes }}\"\n"
              "      train: \"${{ format('s3://bkt/t/{0}.data', each.id) }}\"\n"
              "      split: 1\n");
}

static void shape_groups(struct buf *b)
{
  header(b, 2000);
  buf_adds(b, "  variant:\n    for_each: {id: \"${{ params.ids }}\"}\n"
              "    steps:\n      timing:\n        uses: logs.training_time\n"
              "        with: {job: \"${{ format('job-{0}', each.id) }}\"}\n"
              "      model:\n        uses: sagemaker.model\n        with:\n"
              "          model_data: s3://bkt/m.tar.gz\n"
              "          algorithm: linear-learner\n"
              "          role: arn:aws:iam::000000000000:role/r\n"
              "      config:\n        uses: sagemaker.endpoint_config\n"
              "        with: {model: \"${{ steps.model.outputs.name }}\"}\n"
              "      endpoint:\n        uses: sagemaker.endpoint\n"
              "        with: {config: \"${{ steps.config.outputs.name }}\"}\n"
              "      evaluate:\n        uses: sagemaker.evaluate\n"
              "        with:\n"
              "          endpoint: \"${{ steps.endpoint.outputs.name }}\"\n"
              "          data: s3://bkt/test.data\n");
}

static void shape_chain(struct buf *b)
{
  int i;

  header(b, 1);
  for (i = 1; i < 10000; i++) {
    char prev[32];
    snprintf(prev, sizeof(prev), i == 1 ? "events" : "s%d", i - 1);
    buf_addf(b,
             "  s%d:\n    uses: gdelt.top_events\n    with:\n"
             "      source: 's3://gdelt-open-data/events/1979.csv'\n"
             "      events: \"${{ steps.%s.outputs.codes }}\"\n",
             i, prev);
  }
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;

  return x < y ? -1 : x > y;
}

static int measure(const char *name, void (*gen)(struct buf *))
{
  struct buf text;
  double load[RUNS], expand[RUNS];
  size_t instances = 0;
  int r;

  buf_init(&text, (size_t)256 << 20);
  gen(&text);
  for (r = 0; r < RUNS; r++) {
    struct diags diags;
    struct workflow *wf = NULL;
    struct dag *dag = NULL;
    double t0, t1, t2;

    diags_init(&diags);
    t0 = now_ms();
    if (workflow_load_text("bench.yaml", buf_str(&text), buf_len(&text), NULL,
                           &wf, &diags) != 0) {
      diags_print(&diags, stderr, 0);
      return 1;
    }
    t1 = now_ms();
    if (dag_expand(wf, &dag, &diags) != 0) {
      diags_print(&diags, stderr, 0);
      return 1;
    }
    t2 = now_ms();
    load[r] = t1 - t0;
    expand[r] = t2 - t1;
    instances = dag->count;
    dag_free(dag);
    workflow_free(wf);
    diags_free(&diags);
  }
  qsort(load, RUNS, sizeof(double), cmp_double);
  qsort(expand, RUNS, sizeof(double), cmp_double);
  printf("| %-34s | %6zu | %8zu | %8.1f | %8.1f | %8.1f |\n", name, instances,
         buf_len(&text) / 1024, load[RUNS / 2], expand[RUNS / 2],
         load[RUNS / 2] + expand[RUNS / 2]);
  buf_free(&text);
  return 0;
}

int main(void)
{
  printf("load + expand, median of %d runs (ms)\n\n", RUNS);
  printf("| %-34s | %6s | %8s | %8s | %8s | %8s |\n", "shape", "nodes",
         "YAML KiB", "load", "expand", "total");
  printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------------------",
         "--------", "----------", "----------", "----------", "----------");
  if (measure("one step x 10,000 for_each", shape_fanout) ||
      measure("group of 5 x 2,000 for_each", shape_groups) ||
      measure("10,000 declared steps, chained", shape_chain))
    return 1;
  return 0;
}
