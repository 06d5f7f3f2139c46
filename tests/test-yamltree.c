#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"
#include "../runner/yamltree.h"
#include "test.h"

static struct ydoc *parse(const char *text, struct diags *d)
{
  struct ydoc *doc = NULL;

  diags_init(d);
  ydoc_parse("t.yaml", text, strlen(text), &doc, d);
  return doc;
}

static char *to_json_text(const char *yaml)
{
  struct diags d;
  struct ydoc *doc = parse(yaml, &d);
  json_t *v = NULL;
  char *s;

  ASSERT(doc != NULL);
  ASSERT_EQ(0, ynode_to_json(doc, doc->root, &v, &d));
  s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(v);
  ydoc_free(doc);
  diags_free(&d);
  return s;
}

TEST(yamltree_positions)
{
  struct diags d;
  struct ydoc *doc = parse("a: 1\nb:\n  c: [x, \"y\"]\n", &d);
  const struct ynode *n;

  ASSERT(doc != NULL);
  n = ynode_at_pointer(doc->root, "/b/c/1");
  ASSERT_EQ(3, n->line);
  ASSERT_EQ(10, n->col);
  ASSERT_STR_EQ("y", ynode_str(n));
  ASSERT(n->quoted);
  n = ynode_get_key(doc->root, "b");
  ASSERT_EQ(2, n->line);
  ASSERT_EQ(1, n->col);
  /* A path that leaves the tree stops at the deepest node reached. */
  n = ynode_at_pointer(doc->root, "/b/c/7");
  ASSERT_EQ(YNODE_SEQUENCE, n->kind);
  ydoc_free(doc);
  diags_free(&d);
}

TEST(yamltree_core_schema)
{
  char *s = to_json_text("[~, null, true, False, 12, -3, 0x1f, 0o17, 1.5, "
                         "1e3, '12', \"true\", yes, no, on, 1.2.3, !!str 5, "
                         "!!int '7', '']");

  /* YAML 1.2: yes/no/on are strings (no Norway problem). */
  ASSERT_STR_EQ("[null,null,true,false,12,-3,31,15,1.5,1000.0,\"12\","
                "\"true\",\"yes\",\"no\",\"on\",\"1.2.3\",\"5\",7,\"\"]",
                s);
  free(s);
}

TEST(yamltree_duplicate_keys)
{
  struct diags d;
  struct ydoc *doc = parse("a: 1\nb: 2\na: 3\n", &d);

  ASSERT(doc == NULL);
  ASSERT_EQ(1, d.count);
  ASSERT_EQ(3, d.items[0].line);
  ASSERT_EQ(1, d.items[0].col);
  ASSERT_CONTAINS(d.items[0].message, "duplicate key \"a\"");
  ASSERT_CONTAINS(d.items[0].message, "first at line 1");
  diags_free(&d);
}

TEST(yamltree_anchors_aliases_merge)
{
  char *s = to_json_text("base: &b {x: 1, y: 2}\n"
                         "copy: *b\n"
                         "merged:\n  <<: *b\n  y: 3\n"
                         "multi:\n  <<: [{p: 1}, {p: 2, q: 2}]\n");

  ASSERT_STR_EQ("{\"base\":{\"x\":1,\"y\":2},\"copy\":{\"x\":1,\"y\":2},"
                "\"merged\":{\"y\":3,\"x\":1},\"multi\":{\"p\":1,\"q\":2}}",
                s);
  free(s);
}

TEST(yamltree_errors)
{
  struct diags d;
  struct ydoc *doc;

  doc = parse("a: *nope\n", &d);
  ASSERT(doc == NULL);
  ASSERT_CONTAINS(d.items[0].message, "unknown anchor \"nope\"");
  ASSERT_EQ(1, d.items[0].line);
  ASSERT_EQ(4, d.items[0].col);
  diags_free(&d);

  doc = parse("a: [1, 2\nb: 3\n", &d);
  ASSERT(doc == NULL);
  ASSERT_CONTAINS(d.items[0].message, "invalid YAML");
  diags_free(&d);

  doc = parse("a: 1\n---\nb: 2\n", &d);
  ASSERT(doc == NULL);
  ASSERT_CONTAINS(d.items[0].message, "second");
  diags_free(&d);
}

TEST(yamltree_alias_bomb_refused)
{
  struct diags d;
  struct ydoc *doc;
  json_t *v = NULL;
  const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                     "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                     "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                     "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                     "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";

  doc = parse(bomb, &d);
  ASSERT(doc != NULL);
  ASSERT_EQ(SR_ETOOBIG, ynode_to_json(doc, doc->root, &v, &d));
  ASSERT(v == NULL);
  ASSERT_CONTAINS(d.items[0].message, "aliases");
  ydoc_free(doc);
  diags_free(&d);
}

TEST(yamltree_deep_nesting_refused)
{
  struct diags d;
  struct ydoc *doc;
  char text[4096];
  int i;

  for (i = 0; i < 1000; i++)
    text[i] = '[';
  text[i] = '\0';
  doc = parse(text, &d);
  ASSERT(doc == NULL);
  ASSERT(d.count >= 1);
  diags_free(&d);
}
