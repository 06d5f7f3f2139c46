/* YAML documents as trees that remember where each node was written.
 *
 * libyaml parses; this module builds mapping, sequence and scalar nodes
 * with 1-based line and column, rejects duplicate keys, resolves anchors
 * and aliases (an alias shares the anchored node) and merge keys (`<<`),
 * and converts to JSON with YAML 1.2's core schema: plain scalars become
 * null, booleans, integers or floats where they look like one, quoted
 * scalars and everything else strings. */
#ifndef SAGERUN_YAMLTREE_H
#define SAGERUN_YAMLTREE_H

#include <jansson.h>
#include <stddef.h>

#include "diag.h"

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

struct ynode;

struct ynode_pair {
  struct ynode *key; /* always a scalar */
  struct ynode *value;
};

struct ynode {
  enum ynode_kind kind;
  int line, col;
  /* Scalars */
  char *text;
  size_t len;
  int plain;  /* unquoted, untagged: typed by the core schema */
  int quoted; /* written in single or double quotes */
  char *tag;  /* explicit tag such as "tag:yaml.org,2002:str", or NULL */
  /* Sequences */
  struct ynode **items;
  /* Mappings */
  struct ynode_pair *pairs;
  size_t count;
  /* Free for the owner of the tree (the workflow loader caches parsed
   * expressions here); released with the tree by `release`. */
  void *user;
};

struct ydoc {
  char *file;         /* name used in errors */
  struct ynode *root; /* NULL for an empty document */
  struct ynode **all; /* every node, for freeing */
  size_t nall, allocall;
  void (*release)(void *user);
};

/* Parses text (len bytes) named file. Errors go to diags with positions;
 * returns 0 and sets *out, or SR_EPARSE (diags says why) or SR_ENOMEM.
 * Only the first document of a stream is read; a second is an error. */
int ydoc_parse(const char *file, const char *text, size_t len,
               struct ydoc **out, struct diags *diags);

/* Reads and parses a file; "-" is standard input. */
int ydoc_load(const char *path, struct ydoc **out, struct diags *diags);

void ydoc_free(struct ydoc *doc);

/* The value under key in a mapping, or NULL. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
/* The key node itself, for errors about the key. */
struct ynode *ynode_get_key(const struct ynode *map, const char *key);

/* The node at a JSON pointer below node ("" is node itself), or the
 * deepest node reached on the way when the path leaves the tree. */
const struct ynode *ynode_at_pointer(const struct ynode *node,
                                     const char *pointer);

/* The JSON value of a node. Aliases are expanded; a tree that would
 * expand past limit nodes (an alias bomb) is refused with SR_ETOOBIG.
 * Errors (a number out of range, say) go to diags; returns 0, SR_EINVALID
 * or SR_ENOMEM. */
int ynode_to_json(const struct ydoc *doc, const struct ynode *node,
                  json_t **out, struct diags *diags);

/* The JSON value of one scalar by the core schema (new reference). */
json_t *ynode_scalar_json(const struct ynode *node);

/* A scalar's text as a NUL-terminated string (borrowed), or NULL for
 * other kinds. */
const char *ynode_str(const struct ynode *node);

#endif
