/* A small parser for the AWS shared config and credentials files, with
 * the semantics botocore gets from Python's configparser (RawConfigParser,
 * strict) plus botocore's one level of nested keys:
 *
 *   - "[name]" starts a section; the name is everything between the first
 *     "[" and the last "]" of the line, unstripped. Sections may not
 *     repeat, except "[DEFAULT]", whose keys every section inherits.
 *   - "key = value" or "key: value" (the first "=" or ":" splits). Keys
 *     are lowercased, both sides stripped; a key may not repeat within a
 *     section.
 *   - A line indented deeper than its key line continues the value; the
 *     lines are joined with "\n". A value that starts with a newline
 *     ("s3 =" followed by indented "endpoint_url = ...") is a nested
 *     block of "key = value" lines (keys kept as written, later wins).
 *   - Lines whose first non-blank character is "#" or ";" are comments.
 *     There are no inline comments: "a = b # c" has the value "b # c".
 *   - "\n", "\r\n" and "\r" end lines. A NUL byte is an error.
 *
 * Everything the parse returns is owned by the struct ini. */
#ifndef SAGERUN_INI_H
#define SAGERUN_INI_H

#include <stddef.h>

#include "buf.h"

struct ini_pair {
  char *key;            /* lowercased */
  char *value;          /* stripped; continuation lines joined with "\n" */
  struct ini_pair *sub; /* the nested block when the value started with a
                           newline, else NULL */
  size_t nsub;
  int line; /* of the key */
};

struct ini_section {
  char *name;
  struct ini_pair *pairs; /* in file order */
  size_t npairs;
  int line;
};

struct ini {
  struct ini_section *sections; /* in file order, without [DEFAULT] */
  size_t nsections;
  struct ini_section defaults; /* [DEFAULT]; name NULL, maybe no pairs */
};

/* Parses len bytes of text; name (a path) prefixes error messages. On
 * success *out gets the tree (free with ini_free). Returns 0, SR_EPARSE
 * with "name:line: what" appended to err (may be NULL), or SR_ENOMEM. */
int ini_parse(const char *text, size_t len, const char *name, struct ini **out,
              struct buf *err);

/* Reads and parses the file at path. Returns SR_ENOENT, with nothing in
 * err, when there is no regular file there (botocore then ignores it),
 * SR_EIO with a message when it cannot be read, else as ini_parse. */
int ini_load(const char *path, struct ini **out, struct buf *err);

void ini_free(struct ini *ini);

/* The section called name (never [DEFAULT]), or NULL. */
const struct ini_section *ini_section_find(const struct ini *ini,
                                           const char *name);

/* The pair key (lowercase) in section s, else in [DEFAULT], else NULL. */
const struct ini_pair *ini_pair_find(const struct ini *ini,
                                     const struct ini_section *s,
                                     const char *key);

/* The value of key in section s (or [DEFAULT]), or NULL. */
const char *ini_get(const struct ini *ini, const struct ini_section *s,
                    const char *key);

/* The value of key in the nested block of p, or NULL when p is NULL, has
 * no nested block or lacks key. */
const char *ini_sub_get(const struct ini_pair *p, const char *key);

#endif
