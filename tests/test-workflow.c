/* Loading and expansion semantics: ids, fan-out products, scoping,
 * dependencies, resolved inputs, params. */
#include <stdlib.h>
#include <string.h>

#include "../runner/dag.h"
#include "../runner/diag.h"
#include "../runner/workflow.h"
#include "test.h"

struct loaded {
  struct workflow *wf;
  struct dag *dag;
  struct diags diags;
};

static void load(struct loaded *l, const char *text, const char **params,
                 size_t nparams)
{
  struct wf_overrides ov = {.assignments = params, .nassignments = nparams};

  diags_init(&l->diags);
  l->wf = NULL;
  l->dag = NULL;
  if (workflow_load_text("t.yaml", text, strlen(text), &ov, &l->wf,
                         &l->diags) == 0)
    dag_expand(l->wf, &l->dag, &l->diags);
  if (l->dag == NULL)
    diags_print(&l->diags, stdout, 0);
}

static void unload(struct loaded *l)
{
  dag_free(l->dag);
  workflow_free(l->wf);
  diags_free(&l->diags);
}

static const struct dag_node *node(const struct loaded *l, const char *id)
{
  size_t i;

  for (i = 0; i < l->dag->count; i++)
    if (strcmp(l->dag->nodes[i].id, id) == 0)
      return &l->dag->nodes[i];
  printf("# no node %s\n", id);
  return NULL;
}

static int depends(const struct loaded *l, const char *a, const char *b)
{
  const struct dag_node *na = node(l, a), *nb = node(l, b);
  size_t i;

  for (i = 0; na && nb && i < na->ndeps; i++)
    if (&l->dag->nodes[na->deps[i]] == nb)
      return 1;
  return 0;
}

#define SRC "{source: 's3://gdelt-open-data/events/1979.csv'}"

TEST(workflow_fanout_product_ids_and_order)
{
  struct loaded l;

  load(&l,
       "name: t\nparams:\n  sizes: [1, 2]\n  dists: [A, B]\nsteps:\n"
       "  v:\n    for_each: {n: \"${{ params.sizes }}\", d: "
       "\"${{ params.dists }}\"}\n    steps:\n"
       "      a: {uses: gdelt.top_events, with: " SRC "}\n"
       "      b: {uses: gdelt.top_events, with: {source: "
       "\"${{ format('s3://bkt/{0}/{1}.csv', each.d, each.n) }}\", "
       "events: \"${{ steps.a.outputs.codes }}\"}}\n",
       NULL, 0);
  ASSERT(l.dag != NULL);
  ASSERT_EQ(8, l.dag->count);
  /* The product in the order written, the last key fastest. */
  ASSERT_STR_EQ("v[1,A].a", l.dag->nodes[0].id);
  ASSERT_STR_EQ("v[1,A].b", l.dag->nodes[1].id);
  ASSERT_STR_EQ("v[1,B].a", l.dag->nodes[2].id);
  ASSERT_STR_EQ("v[2,B].b", l.dag->nodes[7].id);
  /* Siblings resolve within the same instance only. */
  ASSERT(depends(&l, "v[2,A].b", "v[2,A].a"));
  ASSERT_EQ(1, node(&l, "v[2,A].b")->ndeps);
  /* with: is resolved as far as known; step outputs stay unknown. */
  ASSERT_STR_EQ("s3://bkt/A/2.csv", json_string_value(json_object_get(
                                        node(&l, "v[2,A].b")->with, "source")));
  ASSERT(json_object_get(node(&l, "v[2,A].b")->with, "events") ==
         l.wf->unknown);
  unload(&l);
}

TEST(workflow_reference_into_fanout_gives_all_instances)
{
  struct loaded l;

  load(&l,
       "name: t\nparams:\n  years: [1979, 1980, 1981]\nsteps:\n"
       "  prep:\n    uses: gdelt.top_events\n"
       "    for_each: {year: \"${{ params.years }}\"}\n    with: " SRC "\n"
       "  g:\n    for_each: {k: [x, y]}\n    steps:\n"
       "      inner: {uses: gdelt.top_events, with: " SRC "}\n"
       "  report:\n    uses: report\n    with:\n      variants:\n"
       "        name: \"${{ steps.g.inner.outputs.codes }}\"\n"
       "    needs: [prep]\n",
       NULL, 0);
  ASSERT(l.dag != NULL);
  ASSERT_EQ(6, l.dag->count);
  ASSERT_EQ(5, node(&l, "report")->ndeps);
  ASSERT(depends(&l, "report", "prep[1980]"));
  ASSERT(depends(&l, "report", "g[y].inner"));
  unload(&l);
}

TEST(workflow_group_needs_apply_to_entry_steps)
{
  struct loaded l;

  load(&l,
       "name: t\nsteps:\n  first: {uses: gdelt.top_events, with: " SRC "}\n"
       "  g:\n    needs: first\n    steps:\n"
       "      a: {uses: gdelt.top_events, with: " SRC "}\n"
       "      b: {uses: gdelt.top_events, needs: [a], with: " SRC "}\n",
       NULL, 0);
  ASSERT(l.dag != NULL);
  ASSERT(depends(&l, "g.a", "first"));
  /* b waits for a, which waits for first: the order holds with fewer
   * edges. */
  ASSERT_EQ(1, node(&l, "g.b")->ndeps);
  ASSERT(depends(&l, "g.b", "g.a"));
  unload(&l);
}

TEST(workflow_empty_fanout_gives_no_instances)
{
  struct loaded l;
  const char *p[] = {"years=[]"};

  load(&l,
       "name: t\nparams:\n  years: [1979]\nsteps:\n"
       "  prep:\n    uses: gdelt.top_events\n"
       "    for_each: {year: \"${{ params.years }}\"}\n    with: " SRC "\n"
       "  after: {uses: gdelt.top_events, needs: [prep], with: " SRC "}\n",
       p, 1);
  ASSERT(l.dag != NULL);
  ASSERT_EQ(1, l.dag->count);
  ASSERT_EQ(0, node(&l, "after")->ndeps);
  unload(&l);
}

TEST(workflow_step_options_and_finally)
{
  struct loaded l;
  const struct wf_step *s;

  load(&l,
       "name: t\nmax_parallel: 3\nsteps:\n"
       "  a:\n    uses: gdelt.top_events\n    with: " SRC "\n"
       "    retry: {attempts: 4, delay: 5, factor: 3}\n    timeout: 2h\n"
       "    continue_on_error: true\n"
       "finally:\n  clean:\n    uses: sagemaker.delete\n"
       "    with: {models: [\"${{ steps.a.outputs.rows }}\"]}\n",
       NULL, 0);
  ASSERT(l.dag != NULL);
  ASSERT_EQ(3, l.wf->max_parallel);
  s = l.wf->steps[0];
  ASSERT_EQ(4, s->retry.attempts);
  ASSERT(s->retry.delay == 5 && s->retry.factor == 3);
  ASSERT(s->timeout == 7200);
  ASSERT(s->continue_on_error);
  ASSERT_EQ(1, l.dag->nfinally);
  ASSERT(l.wf->finally_steps[0]->finally);
  ASSERT(depends(&l, "clean", "a"));
  unload(&l);
}

TEST(workflow_params_typed_and_overridden)
{
  struct loaded l;
  const char *p[] = {"hp.epochs=5", "name=\"007\"", "n=3"};

  load(&l,
       "name: t\nparams:\n  hp: {type: object, default: {epochs: 2, "
       "loss: absolute_loss}}\n  name: x\n  n: {type: integer, minimum: 1, "
       "default: 1}\nsteps:\n  a: {uses: gdelt.top_events, with: " SRC "}\n",
       p, 3);
  ASSERT(l.dag != NULL);
  ASSERT_EQ(5, json_integer_value(json_object_get(
                   json_object_get(l.wf->param_values, "hp"), "epochs")));
  ASSERT_STR_EQ("absolute_loss",
                json_string_value(json_object_get(
                    json_object_get(l.wf->param_values, "hp"), "loss")));
  /* A quoted YAML value stays a string. */
  ASSERT_STR_EQ("007",
                json_string_value(json_object_get(l.wf->param_values, "name")));
  ASSERT_EQ(3, json_integer_value(json_object_get(l.wf->param_values, "n")));
  unload(&l);
}

TEST(workflow_ten_thousand_instances)
{
  struct loaded l;
  char *text = malloc(200000), *p;
  int i;

  p = text;
  p += snprintf(p, 100, "name: t\nparams:\n  ids: [");
  for (i = 0; i < 10000; i++)
    p += snprintf(p, 16, "%s%d", i ? "," : "", i);
  snprintf(p, 400,
           "]\nsteps:\n  s:\n    uses: gdelt.top_events\n"
           "    for_each: {id: \"${{ params.ids }}\"}\n"
           "    with: {source: \"${{ format('s3://bkt/{0}.csv', each.id) "
           "}}\"}\n");
  load(&l, text, NULL, 0);
  ASSERT(l.dag != NULL);
  ASSERT_EQ(10000, l.dag->count);
  ASSERT_STR_EQ("s[9999]", l.dag->nodes[9999].id);
  unload(&l);
  free(text);
}

TEST(workflow_escaped_expression_is_literal)
{
  struct loaded l;

  load(&l,
       "name: t\nsteps:\n  a:\n    uses: report\n    with:\n"
       "      title: \"costs $${{ not evaluated }}\"\n"
       "      variants: {name: [x]}\n",
       NULL, 0);
  ASSERT(l.dag != NULL);
  ASSERT_STR_EQ(
      "costs ${{ not evaluated }}",
      json_string_value(json_object_get(l.dag->nodes[0].with, "title")));
  unload(&l);
}
