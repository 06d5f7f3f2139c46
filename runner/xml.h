/* A small read-only XML tree over expat, for S3's REST-XML responses and
 * errors: elements with their local names (namespaces dropped), their
 * text, and their children in document order. Attributes, comments and
 * processing instructions are dropped; a document with a DOCTYPE is
 * refused (S3 never sends one, and it is where entity tricks live).
 *
 * Also the one escaping function request bodies need. */
#ifndef SAGERUN_XML_H
#define SAGERUN_XML_H

#include <stddef.h>

#include "buf.h"

struct xml_node {
  char *name; /* local name: "Key" for "{http://s3...}Key" */
  char *text; /* the element's own character data, never NULL; "" when
                 it has none */
  size_t text_len;
  struct xml_node *parent;
  struct xml_node *child; /* first child element */
  struct xml_node *next;  /* next sibling element */
};

/* Parses data (len bytes) into a tree. Returns 0 with *out the root
 * element (free with xml_free), SR_EPARSE for malformed XML or a DOCTYPE,
 * SR_ETOOBIG beyond 64 levels or a million elements, or SR_ENOMEM. */
int xml_parse(const char *data, size_t len, struct xml_node **out);

void xml_free(struct xml_node *root);

/* The first child element of n named name (NULL n allowed), or NULL. */
const struct xml_node *xml_child(const struct xml_node *n, const char *name);

/* The next sibling of n with the same name, or NULL. Iterate repeated
 * elements with for (e = xml_child(p, "Contents"); e; e = xml_next(e)). */
const struct xml_node *xml_next(const struct xml_node *n);

/* The text of n's first child named name, or NULL when there is none. */
const char *xml_child_text(const struct xml_node *n, const char *name);

/* Appends s with &, <, >, " and ' escaped, for element text and
 * attribute values. Returns 0 or a buf error. */
int xml_escape(struct buf *out, const char *s);

#endif
