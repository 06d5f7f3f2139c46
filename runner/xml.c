/* The XML reader (xml.h): expat callbacks build the tree; character data
 * is gathered per open element in a stack of buffers. */
#include "xml.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

#define XML_MAX_DEPTH 64
#define XML_MAX_NODES 1000000
#define XML_TEXT_CAP ((size_t)64 << 20)

struct xml_frame {
  struct xml_node *node;
  struct xml_node *last; /* last child, for O(1) appends */
  struct buf text;
};

struct xml_parser {
  XML_Parser p;
  struct xml_node *root;
  struct xml_frame stack[XML_MAX_DEPTH];
  int depth;
  size_t nodes;
  int error; /* first error; parsing stops at it */
};

static void xml_node_free(struct xml_node *n)
{
  while (n) {
    struct xml_node *next = n->next;

    xml_node_free(n->child);
    free(n->name);
    free(n->text);
    free(n);
    n = next;
  }
}

void xml_free(struct xml_node *root)
{
  xml_node_free(root);
}

static void xml_fail(struct xml_parser *x, int rc)
{
  if (x->error == 0)
    x->error = rc;
  XML_StopParser(x->p, XML_FALSE);
}

/* Drops a "prefix:" so that S3's default and prefixed namespaces read
 * the same. */
static const char *local_name(const char *name)
{
  const char *colon = strrchr(name, ':');

  return colon ? colon + 1 : name;
}

static void XMLCALL on_start(void *data, const XML_Char *name,
                             const XML_Char **attrs)
{
  struct xml_parser *x = data;
  struct xml_node *n;
  struct xml_frame *f;

  (void)attrs;
  if (x->error)
    return;
  if (x->depth == XML_MAX_DEPTH || x->nodes == XML_MAX_NODES) {
    xml_fail(x, SR_ETOOBIG);
    return;
  }
  n = calloc(1, sizeof(*n));
  if (n == NULL) {
    xml_fail(x, SR_ENOMEM);
    return;
  }
  n->name = strdup(local_name(name));
  if (n->name == NULL) {
    free(n);
    xml_fail(x, SR_ENOMEM);
    return;
  }
  x->nodes++;
  if (x->depth == 0) {
    x->root = n;
  } else {
    f = &x->stack[x->depth - 1];
    n->parent = f->node;
    if (f->last)
      f->last->next = n;
    else
      f->node->child = n;
    f->last = n;
  }
  f = &x->stack[x->depth++];
  f->node = n;
  f->last = NULL;
  buf_reset(&f->text);
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
  struct xml_parser *x = data;
  struct xml_frame *f;

  (void)name;
  if (x->error || x->depth == 0)
    return;
  f = &x->stack[--x->depth];
  f->node->text = buf_detach(&f->text, &f->node->text_len);
  if (f->node->text == NULL)
    xml_fail(x, SR_ENOMEM);
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len)
{
  struct xml_parser *x = data;
  int rc;

  if (x->error || x->depth == 0 || len <= 0)
    return;
  rc = buf_add(&x->stack[x->depth - 1].text, s, (size_t)len);
  if (rc)
    xml_fail(x, rc);
}

/* S3 never sends a DTD; refusing it keeps entity expansion out. */
static void XMLCALL on_doctype(void *data, const XML_Char *name,
                               const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
  (void)name;
  (void)sysid;
  (void)pubid;
  (void)has_internal_subset;
  xml_fail(data, SR_EPARSE);
}

int xml_parse(const char *data, size_t len, struct xml_node **out)
{
  struct xml_parser x;
  int i, rc = 0;

  *out = NULL;
  memset(&x, 0, sizeof(x));
  for (i = 0; i < XML_MAX_DEPTH; i++)
    buf_init(&x.stack[i].text, XML_TEXT_CAP);
  if (len > (size_t)2147483647)
    return SR_ETOOBIG;
  x.p = XML_ParserCreate("UTF-8");
  if (x.p == NULL)
    return SR_ENOMEM;
  XML_SetUserData(x.p, &x);
  XML_SetElementHandler(x.p, on_start, on_end);
  XML_SetCharacterDataHandler(x.p, on_text);
  XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
  if (XML_Parse(x.p, data, (int)len, XML_TRUE) != XML_STATUS_OK && x.error == 0)
    x.error = SR_EPARSE;
  rc = x.error;
  if (rc == 0 && (x.root == NULL || x.depth != 0))
    rc = SR_EPARSE;
  XML_ParserFree(x.p);
  for (i = 0; i < XML_MAX_DEPTH; i++)
    buf_free(&x.stack[i].text);
  if (rc) {
    xml_free(x.root); /* open elements have text NULL: free() copes */
    return rc;
  }
  *out = x.root;
  return 0;
}

const struct xml_node *xml_child(const struct xml_node *n, const char *name)
{
  const struct xml_node *c;

  if (n == NULL)
    return NULL;
  for (c = n->child; c; c = c->next)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

const struct xml_node *xml_next(const struct xml_node *n)
{
  const struct xml_node *c;

  if (n == NULL)
    return NULL;
  for (c = n->next; c; c = c->next)
    if (strcmp(c->name, n->name) == 0)
      return c;
  return NULL;
}

const char *xml_child_text(const struct xml_node *n, const char *name)
{
  const struct xml_node *c = xml_child(n, name);

  return c ? c->text : NULL;
}

int xml_escape(struct buf *out, const char *s)
{
  const char *start = s;
  const char *rep;
  int rc;

  for (; *s; s++) {
    switch (*s) {
    case '&':
      rep = "&amp;";
      break;
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '"':
      rep = "&quot;";
      break;
    case '\'':
      rep = "&apos;";
      break;
    /* Line ends and tabs as references: a parser would otherwise
     * normalise them and a key would change. */
    case '\r':
      rep = "&#13;";
      break;
    case '\n':
      rep = "&#10;";
      break;
    case '\t':
      rep = "&#9;";
      break;
    default:
      continue;
    }
    rc = buf_add(out, start, (size_t)(s - start));
    if (rc == 0)
      rc = buf_adds(out, rep);
    if (rc)
      return rc;
    start = s + 1;
  }
  return buf_add(out, start, (size_t)(s - start));
}
