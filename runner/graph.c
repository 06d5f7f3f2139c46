#include "graph.h"

#include <stdlib.h>
#include <string.h>

#include "../steps/step.h"
#include "buf.h"
#include "error.h"

int graph_format_parse(const char *name, enum graph_format *out)
{
  if (strcmp(name, "text") == 0)
    *out = GRAPH_TEXT;
  else if (strcmp(name, "dot") == 0)
    *out = GRAPH_DOT;
  else if (strcmp(name, "mermaid") == 0)
    *out = GRAPH_MERMAID;
  else
    return SR_EINVAL;
  return 0;
}

long graph_levels(const struct dag *dag, size_t *levels)
{
  size_t *stack, *edge, i, depth, max = 0;

  stack = malloc((dag->count + 1) * sizeof(*stack));
  edge = malloc((dag->count + 1) * sizeof(*edge));
  if (stack == NULL || edge == NULL) {
    free(stack);
    free(edge);
    return SR_ENOMEM;
  }
  memset(levels, 0, dag->count * sizeof(*levels));
  /* Post-order DFS over an acyclic graph: a node's level is final once
   * all its dependencies are. */
  for (i = 0; i < dag->count; i++) {
    if (levels[i])
      continue;
    depth = 0;
    stack[0] = i;
    edge[0] = 0;
    while (1) {
      size_t n = stack[depth];
      const struct dag_node *node = &dag->nodes[n];
      if (edge[depth] < node->ndeps) {
        size_t m = node->deps[edge[depth]++];
        if (levels[m] == 0 && depth < dag->count) {
          stack[++depth] = m;
          edge[depth] = 0;
        }
        continue;
      }
      levels[n] = 1;
      for (size_t k = 0; k < node->ndeps; k++)
        if (levels[node->deps[k]] + 1 > levels[n])
          levels[n] = levels[node->deps[k]] + 1;
      if (levels[n] > max)
        max = levels[n];
      if (depth == 0)
        break;
      depth--;
    }
  }
  free(stack);
  free(edge);
  return (long)max;
}

/* "variant[5,ShardedByS3Key].train" -> "variant[*].train". */
static void id_wildcard(struct buf *out, const char *id)
{
  const char *p = id;

  while (*p) {
    if (*p == '[') {
      const char *close = strchr(p, ']');
      if (close) {
        buf_adds(out, "[*]");
        p = close + 1;
        continue;
      }
    }
    buf_addc(out, *p++);
  }
}

/* Dependencies as text, by declared step in order of first appearance;
 * all instances of one fanned-out step become "step[*] (N)" so fan-ins
 * stay readable. */
static void deps_text(struct buf *out, const struct dag *dag,
                      const struct dag_node *node, const size_t *instances)
{
  size_t i, j, n;

  for (i = 0; i < node->ndeps; i++) {
    const struct wf_step *s = dag->nodes[node->deps[i]].step;
    int seen = 0;
    for (j = 0; j < i && !seen; j++)
      seen = dag->nodes[node->deps[j]].step == s;
    if (seen)
      continue;
    for (j = i, n = 0; j < node->ndeps; j++)
      n += dag->nodes[node->deps[j]].step == s;
    if (buf_len(out) > 0)
      buf_adds(out, ", ");
    if (n > 1 && n == instances[s->ordinal]) {
      id_wildcard(out, dag->nodes[node->deps[i]].id);
      buf_addf(out, " (%zu)", n);
      continue;
    }
    for (j = i, n = 0; j < node->ndeps; j++)
      if (dag->nodes[node->deps[j]].step == s)
        buf_addf(out, "%s%s", n++ ? ", " : "", dag->nodes[node->deps[j]].id);
  }
}

static int write_text(const struct dag *dag, FILE *out)
{
  const struct workflow *wf = dag->wf;
  size_t *levels = calloc(dag->count ? dag->count : 1, sizeof(*levels));
  size_t *instances = calloc(wf->nall ? wf->nall : 1, sizeof(*instances));
  size_t i, width = 0;
  long nlevels, lv;
  struct buf deps;
  int pass;

  if (levels == NULL || instances == NULL) {
    free(levels);
    free(instances);
    return SR_ENOMEM;
  }
  nlevels = graph_levels(dag, levels);
  if (nlevels < 0) {
    free(levels);
    free(instances);
    return (int)nlevels;
  }
  for (i = 0; i < dag->count; i++) {
    size_t len = strlen(dag->nodes[i].id);
    instances[dag->nodes[i].step->ordinal]++;
    if (len > width)
      width = len;
  }
  if (width > 48)
    width = 48;
  fprintf(out,
          "%s: %zu step instances in %ld stages, %zu fan-outs, target "
          "%s\n",
          wf->name, dag->count, nlevels, dag->nfanouts, wf->target);
  buf_init(&deps, 1 << 20);
  /* Main steps by stage (each stage's steps can run in parallel), then
   * finally steps, which run last whatever happened. */
  for (pass = 0; pass < 2; pass++) {
    if (pass == 1 && dag->nfinally)
      fprintf(out, "\nfinally (always runs, after the steps above):\n");
    for (lv = 1; lv <= nlevels; lv++) {
      size_t n = 0;
      for (i = 0; i < dag->count; i++)
        if ((size_t)lv == levels[i] && dag->nodes[i].step->finally == pass)
          n++;
      if (n == 0)
        continue;
      if (pass == 0)
        fprintf(out, "\nstage %ld%s\n", lv, n > 1 ? " (in parallel)" : "");
      for (i = 0; i < dag->count; i++) {
        const struct dag_node *node = &dag->nodes[i];
        if ((size_t)lv != levels[i] || node->step->finally != pass)
          continue;
        buf_reset(&deps);
        deps_text(&deps, dag, node, instances);
        if (buf_len(&deps))
          fprintf(out, "  %-*s  %-26s  <- %s\n", (int)width, node->id,
                  node->step->type->name, buf_str(&deps));
        else
          fprintf(out, "  %-*s  %s\n", (int)width, node->id,
                  node->step->type->name);
      }
    }
  }
  buf_free(&deps);
  free(levels);
  free(instances);
  return ferror(out) ? SR_EIO : 0;
}

/* Quotes s for dot: backslash and double quote escaped. */
static void dot_quote(FILE *out, const char *s)
{
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fputc('\\', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

static int write_dot(const struct dag *dag, FILE *out)
{
  size_t i, k;

  fputs("digraph ", out);
  dot_quote(out, dag->wf->name);
  fputs(" {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n",
        out);
  /* One cluster per group instance, in first-seen order. */
  for (k = 1; k < dag->nscopes; k++) {
    const char *label = dag_scope_label(dag->scopes[k]);
    int any = 0;
    for (i = 0; i < dag->count; i++) {
      if (dag->nodes[i].scope != dag->scopes[k])
        continue;
      if (!any) {
        fprintf(out, "  subgraph cluster_%zu {\n    label=", k);
        dot_quote(out, label);
        fputs(";\n    style=rounded;\n", out);
        any = 1;
      }
      fprintf(out, "    n%zu;\n", i);
    }
    if (any)
      fputs("  }\n", out);
  }
  for (i = 0; i < dag->count; i++) {
    const struct dag_node *node = &dag->nodes[i];
    struct buf label;
    buf_init(&label, 1 << 16);
    buf_addf(&label, "%s\\n%s", node->id, node->step->type->name);
    fprintf(out, "  n%zu [label=\"", i);
    for (const char *p = buf_str(&label); *p; p++) {
      if (*p == '"')
        fputc('\\', out);
      fputc(*p, out);
    }
    fprintf(out, "\"%s];\n", node->step->finally ? ", style=dashed" : "");
    buf_free(&label);
  }
  for (i = 0; i < dag->count; i++)
    for (k = 0; k < dag->nodes[i].ndeps; k++)
      fprintf(out, "  n%zu -> n%zu;\n", dag->nodes[i].deps[k], i);
  fputs("}\n", out);
  return ferror(out) ? SR_EIO : 0;
}

/* Mermaid labels are in double quotes; a quote becomes #quot;. */
static void mermaid_label(FILE *out, const char *s)
{
  for (; *s; s++) {
    if (*s == '"')
      fputs("#quot;", out);
    else
      fputc(*s, out);
  }
}

static int write_mermaid(const struct dag *dag, FILE *out)
{
  size_t i, k;

  fputs("flowchart LR\n", out);
  for (k = 0; k < dag->nscopes; k++) {
    int grouped = k > 0;
    for (i = 0; i < dag->count; i++) {
      const struct dag_node *node = &dag->nodes[i];
      if (node->scope != dag->scopes[k])
        continue;
      if (grouped) {
        fprintf(out, "  subgraph s%zu[\"", k);
        mermaid_label(out, dag_scope_label(dag->scopes[k]));
        fputs("\"]\n", out);
        grouped = -1;
      }
      fprintf(out, "  %sn%zu[\"", grouped ? "  " : "", i);
      mermaid_label(out, node->id);
      fputs("<br/>", out);
      mermaid_label(out, node->step->type->name);
      fprintf(out, "\"]%s\n", node->step->finally ? ":::finally" : "");
    }
    if (grouped == -1)
      fputs("  end\n", out);
  }
  for (i = 0; i < dag->count; i++)
    for (k = 0; k < dag->nodes[i].ndeps; k++)
      fprintf(out, "  n%zu --> n%zu\n", dag->nodes[i].deps[k], i);
  if (dag->nfinally)
    fputs("  classDef finally stroke-dasharray: 5 5\n", out);
  return ferror(out) ? SR_EIO : 0;
}

int graph_write(const struct dag *dag, enum graph_format format, FILE *out)
{
  switch (format) {
  case GRAPH_DOT:
    return write_dot(dag, out);
  case GRAPH_MERMAID:
    return write_mermaid(dag, out);
  default:
    return write_text(dag, out);
  }
}
