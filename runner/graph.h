/* Renderings of an expanded DAG: text (stages of steps that run in
 * parallel), Graphviz dot and Mermaid. */
#ifndef SAGERUN_GRAPH_H
#define SAGERUN_GRAPH_H

#include <stdio.h>

#include "dag.h"

enum graph_format { GRAPH_TEXT, GRAPH_DOT, GRAPH_MERMAID };

/* Parses "text", "dot" or "mermaid"; returns 0 or SR_EINVAL. */
int graph_format_parse(const char *name, enum graph_format *out);

/* Writes the DAG; returns 0 or SR_ENOMEM / SR_EIO. */
int graph_write(const struct dag *dag, enum graph_format format, FILE *out);

/* The stage of each node: 1 for nodes without dependencies, else one more
 * than its deepest dependency. levels must hold dag->count entries.
 * Returns the number of stages, or a negative SR_ code. */
long graph_levels(const struct dag *dag, size_t *levels);

#endif
