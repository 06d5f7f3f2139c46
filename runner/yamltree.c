#include "yamltree.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "buf.h"
#include "error.h"

#define YAML_MAX_DEPTH 200
#define YAML_MAX_FILE ((size_t)64 << 20)
/* Past this many JSON nodes an aliased tree is an alias bomb. */
#define YAML_MAX_EXPANDED 1000000

#define TAG_PREFIX "tag:yaml.org,2002:"

struct anchor {
  char *name;
  struct ynode *node;
};

struct builder {
  struct ydoc *doc;
  struct diags *diags;
  struct ynode *stack[YAML_MAX_DEPTH];
  struct ynode *pending_key[YAML_MAX_DEPTH];
  int depth;
  struct anchor *anchors;
  size_t nanchors, allocanchors;
  int failed;
};

static struct ynode *node_new(struct builder *b, enum ynode_kind kind,
                              const yaml_mark_t *mark)
{
  struct ydoc *doc = b->doc;
  struct ynode *n;

  if (doc->nall == doc->allocall) {
    size_t cap = doc->allocall ? doc->allocall * 2 : 64;
    struct ynode **p = realloc(doc->all, cap * sizeof(*p));
    if (p == NULL)
      return NULL;
    doc->all = p;
    doc->allocall = cap;
  }
  n = calloc(1, sizeof(*n));
  if (n == NULL)
    return NULL;
  n->kind = kind;
  n->line = (int)mark->line + 1;
  n->col = (int)mark->column + 1;
  doc->all[doc->nall++] = n;
  return n;
}

static void node_free(struct ynode *n, void (*release)(void *))
{
  if (n->user && release)
    release(n->user);
  free(n->text);
  free(n->tag);
  free(n->items);
  free(n->pairs);
  free(n);
}

void ydoc_free(struct ydoc *doc)
{
  size_t i;

  if (doc == NULL)
    return;
  for (i = 0; i < doc->nall; i++)
    node_free(doc->all[i], doc->release);
  free(doc->all);
  free(doc->file);
  free(doc);
}

static int anchor_set(struct builder *b, const char *name, struct ynode *n)
{
  size_t i;

  /* A later anchor of the same name replaces the earlier one (YAML 1.2
   * §3.2.2.2), so aliases see the most recent definition. */
  for (i = 0; i < b->nanchors; i++)
    if (strcmp(b->anchors[i].name, name) == 0) {
      b->anchors[i].node = n;
      return 0;
    }
  if (b->nanchors == b->allocanchors) {
    size_t cap = b->allocanchors ? b->allocanchors * 2 : 8;
    struct anchor *p = realloc(b->anchors, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    b->anchors = p;
    b->allocanchors = cap;
  }
  b->anchors[b->nanchors].name = strdup(name);
  if (b->anchors[b->nanchors].name == NULL)
    return SR_ENOMEM;
  b->anchors[b->nanchors++].node = n;
  return 0;
}

static struct ynode *anchor_get(struct builder *b, const char *name)
{
  size_t i;

  for (i = 0; i < b->nanchors; i++)
    if (strcmp(b->anchors[i].name, name) == 0)
      return b->anchors[i].node;
  return NULL;
}

static const char *kind_name(enum ynode_kind kind)
{
  switch (kind) {
  case YNODE_MAPPING:
    return "a mapping";
  case YNODE_SEQUENCE:
    return "a sequence";
  default:
    return "a scalar";
  }
}

static void error_at(struct builder *b, int line, int col, const char *fmt,
                     const char *arg)
{
  diags_add(b->diags, b->doc->file, line, col, fmt, arg);
  b->failed = 1;
}

static int pair_append(struct ynode *map, struct ynode *key,
                       struct ynode *value)
{
  struct ynode_pair *p;

  /* Mappings grow by doubling; count is a power-of-two boundary check. */
  if ((map->count & (map->count - 1)) == 0) {
    size_t cap = map->count ? map->count * 2 : 4;
    p = realloc(map->pairs, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    map->pairs = p;
  }
  map->pairs[map->count].key = key;
  map->pairs[map->count].value = value;
  map->count++;
  return 0;
}

static int item_append(struct ynode *seq, struct ynode *item)
{
  struct ynode **p;

  if ((seq->count & (seq->count - 1)) == 0) {
    size_t cap = seq->count ? seq->count * 2 : 4;
    p = realloc(seq->items, cap * sizeof(*p));
    if (p == NULL)
      return SR_ENOMEM;
    seq->items = p;
  }
  seq->items[seq->count++] = item;
  return 0;
}

static int key_equal(const struct ynode *a, const struct ynode *b)
{
  return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

static int is_merge_key(const struct ynode *key)
{
  return key->plain && key->len == 2 && memcmp(key->text, "<<", 2) == 0;
}

static int has_key(const struct ynode *map, size_t n, const struct ynode *key)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (key_equal(map->pairs[i].key, key))
      return 1;
  return 0;
}

/* Applies `<<` merge keys: the merged mappings' pairs are appended unless
 * the mapping already has the key (explicit keys win, then earlier
 * merged mappings). */
static int mapping_merge(struct builder *b, struct ynode *map)
{
  struct ynode_pair *explicit_pairs = NULL;
  struct ynode **sources = NULL;
  size_t i, j, k, nexplicit = 0, nsources = 0;
  int rc = 0;

  for (i = 0; i < map->count; i++)
    if (is_merge_key(map->pairs[i].key))
      break;
  if (i == map->count)
    return 0;
  explicit_pairs = map->pairs;
  nexplicit = map->count;
  map->pairs = NULL;
  map->count = 0;
  sources = calloc(nexplicit + 1, sizeof(*sources));
  if (sources == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  for (i = 0; i < nexplicit; i++) {
    struct ynode *v = explicit_pairs[i].value;
    if (!is_merge_key(explicit_pairs[i].key)) {
      rc = pair_append(map, explicit_pairs[i].key, v);
      if (rc)
        goto out;
      continue;
    }
    if (v->kind == YNODE_MAPPING) {
      sources[nsources++] = v;
    } else if (v->kind == YNODE_SEQUENCE) {
      for (j = 0; j < v->count; j++) {
        if (v->items[j]->kind != YNODE_MAPPING) {
          error_at(b, v->items[j]->line, v->items[j]->col,
                   "expected a mapping to merge with <<, found %s",
                   kind_name(v->items[j]->kind));
          continue;
        }
        /* Grow sources for sequences of mappings. */
        {
          struct ynode **p =
              realloc(sources,
                      (nexplicit + nsources + v->count + 1) * sizeof(*sources));
          if (p == NULL) {
            rc = SR_ENOMEM;
            goto out;
          }
          sources = p;
        }
        sources[nsources++] = v->items[j];
      }
    } else {
      error_at(b, v->line, v->col,
               "expected a mapping or a list of mappings to merge with <<, "
               "found %s",
               kind_name(v->kind));
    }
  }
  for (k = 0; k < nsources; k++) {
    for (j = 0; j < sources[k]->count; j++) {
      struct ynode_pair *p = &sources[k]->pairs[j];
      if (has_key(map, map->count, p->key))
        continue;
      rc = pair_append(map, p->key, p->value);
      if (rc)
        goto out;
    }
  }
out:
  free(explicit_pairs);
  free(sources);
  return rc;
}

static int key_cmp(const void *pa, const void *pb)
{
  const struct ynode_pair *a = pa, *b = pb;
  size_t n = a->key->len < b->key->len ? a->key->len : b->key->len;
  int c = memcmp(a->key->text, b->key->text, n);

  if (c)
    return c;
  if (a->key->len != b->key->len)
    return a->key->len < b->key->len ? -1 : 1;
  /* Equal keys: the later one in the file is the duplicate. */
  if (a->key->line != b->key->line)
    return a->key->line < b->key->line ? -1 : 1;
  return a->key->col < b->key->col ? -1 : a->key->col > b->key->col;
}

/* Reports every key written twice in one mapping, at its second place;
 * sorting keeps this fast for mappings of thousands of steps. */
static int mapping_check_duplicates(struct builder *b, struct ynode *map)
{
  struct ynode_pair *sorted;
  size_t i;

  if (map->count < 2)
    return 0;
  sorted = malloc(map->count * sizeof(*sorted));
  if (sorted == NULL)
    return SR_ENOMEM;
  memcpy(sorted, map->pairs, map->count * sizeof(*sorted));
  qsort(sorted, map->count, sizeof(*sorted), key_cmp);
  for (i = 1; i < map->count; i++) {
    if (key_equal(sorted[i].key, sorted[i - 1].key) &&
        !is_merge_key(sorted[i].key)) {
      struct buf msg;
      buf_init(&msg, 1024);
      buf_addf(&msg,
               "duplicate key \"%.*s\": expected each key once, found it "
               "again (first at line %d)",
               (int)(sorted[i].key->len > 200 ? 200 : sorted[i].key->len),
               sorted[i].key->text, sorted[i - 1].key->line);
      diags_add(b->diags, b->doc->file, sorted[i].key->line, sorted[i].key->col,
                "%s", buf_str(&msg));
      buf_free(&msg);
      b->failed = 1;
    }
  }
  free(sorted);
  return 0;
}

/* Attaches a finished node to its parent (or makes it the root). */
static int attach(struct builder *b, struct ynode *n)
{
  struct ynode *parent;

  if (b->depth == 0) {
    b->doc->root = n;
    return 0;
  }
  parent = b->stack[b->depth - 1];
  if (parent->kind == YNODE_SEQUENCE)
    return item_append(parent, n);
  if (b->pending_key[b->depth - 1] == NULL) {
    if (n->kind != YNODE_SCALAR) {
      error_at(b, n->line, n->col, "expected a scalar key, found %s",
               kind_name(n->kind));
    }
    b->pending_key[b->depth - 1] = n;
    return 0;
  }
  {
    struct ynode *key = b->pending_key[b->depth - 1];
    b->pending_key[b->depth - 1] = NULL;
    if (key->kind != YNODE_SCALAR)
      return 0;
    return pair_append(parent, key, n);
  }
}

static int set_tag(struct ynode *n, const yaml_char_t *tag)
{
  if (tag == NULL)
    return 0;
  n->tag = strdup((const char *)tag);
  return n->tag ? 0 : SR_ENOMEM;
}

static int push(struct builder *b, struct ynode *n)
{
  if (b->depth == YAML_MAX_DEPTH) {
    error_at(b, n->line, n->col,
             "nesting deeper than %s levels: expected a flatter document",
             "200");
    return SR_EPARSE;
  }
  b->pending_key[b->depth] = NULL;
  b->stack[b->depth++] = n;
  return 0;
}

static int handle_event(struct builder *b, yaml_event_t *ev)
{
  struct ynode *n;
  int rc = 0;

  switch (ev->type) {
  case YAML_SCALAR_EVENT:
    n = node_new(b, YNODE_SCALAR, &ev->start_mark);
    if (n == NULL)
      return SR_ENOMEM;
    n->text = malloc(ev->data.scalar.length + 1);
    if (n->text == NULL)
      return SR_ENOMEM;
    memcpy(n->text, ev->data.scalar.value, ev->data.scalar.length);
    n->text[ev->data.scalar.length] = '\0';
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.plain_implicit &&
               ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    rc = set_tag(n, ev->data.scalar.tag);
    if (rc == 0 && ev->data.scalar.anchor)
      rc = anchor_set(b, (const char *)ev->data.scalar.anchor, n);
    if (rc == 0)
      rc = attach(b, n);
    return rc;
  case YAML_SEQUENCE_START_EVENT:
  case YAML_MAPPING_START_EVENT:
    n = node_new(b,
                 ev->type == YAML_MAPPING_START_EVENT ? YNODE_MAPPING
                                                      : YNODE_SEQUENCE,
                 &ev->start_mark);
    if (n == NULL)
      return SR_ENOMEM;
    rc = set_tag(n, ev->type == YAML_MAPPING_START_EVENT
                        ? ev->data.mapping_start.tag
                        : ev->data.sequence_start.tag);
    if (rc)
      return rc;
    {
      const yaml_char_t *anchor = ev->type == YAML_MAPPING_START_EVENT
                                      ? ev->data.mapping_start.anchor
                                      : ev->data.sequence_start.anchor;
      if (anchor) {
        rc = anchor_set(b, (const char *)anchor, n);
        if (rc)
          return rc;
      }
    }
    return push(b, n);
  case YAML_SEQUENCE_END_EVENT:
  case YAML_MAPPING_END_EVENT:
    n = b->stack[--b->depth];
    if (n->kind == YNODE_MAPPING) {
      rc = mapping_merge(b, n);
      if (rc == 0)
        rc = mapping_check_duplicates(b, n);
      if (rc)
        return rc;
    }
    return attach(b, n);
  case YAML_ALIAS_EVENT:
    n = anchor_get(b, (const char *)ev->data.alias.anchor);
    if (n == NULL) {
      error_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
               "unknown anchor \"%s\": expected an anchor defined earlier "
               "with &",
               (const char *)ev->data.alias.anchor);
      return SR_EPARSE;
    }
    /* A mapping may not contain itself: its alias would be a cycle. */
    {
      int i;
      for (i = 0; i < b->depth; i++)
        if (b->stack[i] == n) {
          error_at(b, (int)ev->start_mark.line + 1,
                   (int)ev->start_mark.column + 1,
                   "alias *%s refers to a node that contains it",
                   (const char *)ev->data.alias.anchor);
          return SR_EPARSE;
        }
    }
    return attach(b, n);
  default:
    return 0;
  }
}

int ydoc_parse(const char *file, const char *text, size_t len,
               struct ydoc **out, struct diags *diags)
{
  struct builder b;
  yaml_parser_t parser;
  yaml_event_t ev;
  int rc = 0, done = 0, documents = 0;
  size_t i;

  *out = NULL;
  memset(&b, 0, sizeof(b));
  b.diags = diags;
  b.doc = calloc(1, sizeof(*b.doc));
  if (b.doc == NULL)
    return SR_ENOMEM;
  b.doc->file = strdup(file);
  if (b.doc->file == NULL) {
    free(b.doc);
    return SR_ENOMEM;
  }
  if (!yaml_parser_initialize(&parser)) {
    ydoc_free(b.doc);
    return SR_ENOMEM;
  }
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  while (!done) {
    if (!yaml_parser_parse(&parser, &ev)) {
      const yaml_mark_t *m =
          parser.problem_mark.line || parser.problem_mark.column
              ? &parser.problem_mark
              : &parser.context_mark;
      struct buf msg;
      buf_init(&msg, 1024);
      buf_addf(&msg, "invalid YAML: %s",
               parser.problem ? parser.problem : "syntax error");
      if (parser.context)
        buf_addf(&msg, " (%s)", parser.context);
      diags_add(diags, file, (int)m->line + 1, (int)m->column + 1, "%s",
                buf_str(&msg));
      buf_free(&msg);
      rc = SR_EPARSE;
      break;
    }
    if (ev.type == YAML_DOCUMENT_START_EVENT && ++documents > 1) {
      diags_add(diags, file, (int)ev.start_mark.line + 1,
                (int)ev.start_mark.column + 1,
                "expected one YAML document, found a second one");
      yaml_event_delete(&ev);
      rc = SR_EPARSE;
      break;
    }
    done = ev.type == YAML_STREAM_END_EVENT;
    rc = handle_event(&b, &ev);
    yaml_event_delete(&ev);
    if (rc)
      break;
  }
  yaml_parser_delete(&parser);
  for (i = 0; i < b.nanchors; i++)
    free(b.anchors[i].name);
  free(b.anchors);
  if (rc == 0 && b.failed)
    rc = SR_EPARSE;
  if (rc) {
    ydoc_free(b.doc);
    return rc;
  }
  *out = b.doc;
  return 0;
}

int ydoc_load(const char *path, struct ydoc **out, struct diags *diags)
{
  FILE *f;
  struct buf data;
  char chunk[65536];
  size_t n;
  int rc = 0;

  *out = NULL;
  f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (f == NULL) {
    diags_add(diags, path, 0, 0, "cannot open: %s", strerror(errno));
    return SR_ENOENT;
  }
  buf_init(&data, YAML_MAX_FILE);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    rc = buf_add(&data, chunk, n);
    if (rc) {
      diags_add(diags, path, 0, 0, "cannot read: %s", sr_strerror(rc));
      break;
    }
  }
  if (rc == 0 && ferror(f)) {
    diags_add(diags, path, 0, 0, "cannot read: %s", strerror(errno));
    rc = SR_EIO;
  }
  if (f != stdin)
    fclose(f);
  if (rc == 0)
    rc = ydoc_parse(path, buf_str(&data), buf_len(&data), out, diags);
  buf_free(&data);
  return rc;
}

struct ynode *ynode_get_key(const struct ynode *map, const char *key)
{
  size_t i, len = strlen(key);

  if (map == NULL || map->kind != YNODE_MAPPING)
    return NULL;
  for (i = 0; i < map->count; i++) {
    const struct ynode *k = map->pairs[i].key;
    if (k->len == len && memcmp(k->text, key, len) == 0)
      return map->pairs[i].key;
  }
  return NULL;
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
  size_t i, len = strlen(key);

  if (map == NULL || map->kind != YNODE_MAPPING)
    return NULL;
  for (i = 0; i < map->count; i++) {
    const struct ynode *k = map->pairs[i].key;
    if (k->len == len && memcmp(k->text, key, len) == 0)
      return map->pairs[i].value;
  }
  return NULL;
}

const char *ynode_str(const struct ynode *node)
{
  return node && node->kind == YNODE_SCALAR ? node->text : NULL;
}

const struct ynode *ynode_at_pointer(const struct ynode *node,
                                     const char *pointer)
{
  struct buf seg;
  const char *p = pointer;

  buf_init(&seg, 4096);
  while (node && *p == '/') {
    const struct ynode *next = NULL;
    p++;
    buf_reset(&seg);
    while (*p && *p != '/') {
      if (p[0] == '~' && p[1] == '1') {
        buf_addc(&seg, '/');
        p += 2;
      } else if (p[0] == '~' && p[1] == '0') {
        buf_addc(&seg, '~');
        p += 2;
      } else {
        buf_addc(&seg, *p++);
      }
    }
    if (node->kind == YNODE_MAPPING) {
      next = ynode_get(node, buf_str(&seg));
    } else if (node->kind == YNODE_SEQUENCE) {
      char *end;
      long idx = strtol(buf_str(&seg), &end, 10);
      if (*end == '\0' && idx >= 0 && (size_t)idx < node->count)
        next = node->items[idx];
    }
    if (next == NULL)
      break;
    node = next;
  }
  buf_free(&seg);
  return node;
}

static int all_digits(const char *s, const char *digits)
{
  if (*s == '\0')
    return 0;
  for (; *s; s++)
    if (strchr(digits, *s) == NULL)
      return 0;
  return 1;
}

/* YAML 1.2 core schema float:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int looks_float(const char *s)
{
  int digits = 0;

  if (*s == '-' || *s == '+')
    s++;
  while (*s >= '0' && *s <= '9') {
    s++;
    digits++;
  }
  if (*s == '.') {
    s++;
    while (*s >= '0' && *s <= '9') {
      s++;
      digits++;
    }
  }
  if (!digits)
    return 0;
  if (*s == 'e' || *s == 'E') {
    s++;
    if (*s == '-' || *s == '+')
      s++;
    if (!(*s >= '0' && *s <= '9'))
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0';
}

static json_t *int_json(const char *s, int base)
{
  long long v;
  char *end;

  errno = 0;
  v = strtoll(s, &end, base);
  if (errno == ERANGE || *end != '\0')
    return NULL;
  return json_integer(v);
}

/* The core schema's resolution of a plain scalar; NULL when the text
 * names a number JSON cannot hold (out of range, infinity, NaN). */
static json_t *plain_json(const struct ynode *n, int *bad)
{
  const char *s = n->text;
  const char *body = (*s == '-' || *s == '+') ? s + 1 : s;

  *bad = 0;
  if (n->len != strlen(s))
    return json_stringn(n->text, n->len);
  if (*s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
      strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0)
    return json_null();
  if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 ||
      strcmp(s, "TRUE") == 0)
    return json_true();
  if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 ||
      strcmp(s, "FALSE") == 0)
    return json_false();
  if (all_digits(body, "0123456789")) {
    json_t *v = int_json(s, 10);
    if (v == NULL)
      *bad = 1;
    return v;
  }
  if (strncmp(s, "0o", 2) == 0 && all_digits(s + 2, "01234567"))
    return int_json(s + 2, 8);
  if (strncmp(s, "0x", 2) == 0 && all_digits(s + 2, "0123456789abcdefABCDEF"))
    return int_json(s + 2, 16);
  if (looks_float(s)) {
    double d = strtod(s, NULL);
    json_t *v = json_real(d);
    if (v == NULL)
      *bad = 1;
    return v;
  }
  if (strcmp(body, ".inf") == 0 || strcmp(body, ".Inf") == 0 ||
      strcmp(body, ".INF") == 0 || strcmp(s, ".nan") == 0 ||
      strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0) {
    *bad = 1;
    return NULL;
  }
  return json_stringn(n->text, n->len);
}

json_t *ynode_scalar_json(const struct ynode *n)
{
  int bad;

  if (n->tag && strncmp(n->tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
    const char *t = n->tag + strlen(TAG_PREFIX);
    if (strcmp(t, "str") != 0) {
      struct ynode plain = *n;
      plain.plain = 1;
      if (strcmp(t, "null") == 0 || strcmp(t, "bool") == 0 ||
          strcmp(t, "int") == 0 || strcmp(t, "float") == 0)
        return plain_json(&plain, &bad);
    }
    return json_stringn(n->text, n->len);
  }
  if (n->plain && n->tag == NULL)
    return plain_json(n, &bad);
  return json_stringn(n->text, n->len);
}

struct convert {
  const struct ydoc *doc;
  struct diags *diags;
  size_t visited;
  int rc;
};

static json_t *convert_node(struct convert *c, const struct ynode *n)
{
  json_t *v = NULL;
  size_t i;

  if (++c->visited > YAML_MAX_EXPANDED) {
    if (c->rc == 0)
      diags_add(c->diags, c->doc->file, n->line, n->col,
                "document expands to more than %d nodes through aliases: "
                "expected fewer aliases of large nodes",
                YAML_MAX_EXPANDED);
    c->rc = SR_ETOOBIG;
    return NULL;
  }
  switch (n->kind) {
  case YNODE_SCALAR: {
    int bad = 0;
    if (n->tag && strcmp(n->tag, "!") != 0 &&
        strncmp(n->tag, TAG_PREFIX, strlen(TAG_PREFIX)) != 0) {
      diags_add(c->diags, c->doc->file, n->line, n->col,
                "unsupported tag %s: expected no tag or a standard one "
                "(!!str, !!int, !!float, !!bool, !!null)",
                n->tag);
      c->rc = SR_EINVALID;
      return json_null();
    }
    if (n->plain && n->tag == NULL)
      v = plain_json(n, &bad);
    else
      v = ynode_scalar_json(n);
    if (v == NULL && (bad || n->tag)) {
      diags_add(c->diags, c->doc->file, n->line, n->col,
                "number %s cannot be represented: expected a finite number "
                "within 64-bit range",
                n->text);
      c->rc = SR_EINVALID;
      return json_null();
    }
    if (v == NULL)
      c->rc = SR_ENOMEM;
    return v;
  }
  case YNODE_SEQUENCE:
    v = json_array();
    if (v == NULL)
      break;
    for (i = 0; i < n->count; i++) {
      json_t *item = convert_node(c, n->items[i]);
      if (item == NULL || json_array_append_new(v, item) != 0)
        goto fail;
    }
    return v;
  case YNODE_MAPPING:
    v = json_object();
    if (v == NULL)
      break;
    for (i = 0; i < n->count; i++) {
      json_t *item = convert_node(c, n->pairs[i].value);
      if (item == NULL || json_object_setn_new(v, n->pairs[i].key->text,
                                               n->pairs[i].key->len, item) != 0)
        goto fail;
    }
    return v;
  }
  if (c->rc == 0)
    c->rc = SR_ENOMEM;
  return NULL;
fail:
  json_decref(v);
  if (c->rc == 0)
    c->rc = SR_ENOMEM;
  return NULL;
}

int ynode_to_json(const struct ydoc *doc, const struct ynode *node,
                  json_t **out, struct diags *diags)
{
  struct convert c = {doc, diags, 0, 0};
  json_t *v;

  *out = NULL;
  if (node == NULL) {
    *out = json_null();
    return 0;
  }
  v = convert_node(&c, node);
  if (c.rc) {
    json_decref(v);
    return c.rc;
  }
  *out = v;
  return 0;
}
