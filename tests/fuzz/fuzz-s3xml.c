/* libFuzzer target: S3's XML as sagerun reads it. The first byte picks
 * the response parser of runner/s3.c (ListObjectsV2, DeleteObjects,
 * CreateMultipartUpload, CompleteMultipartUpload, via s3_parse_response)
 * and the rest is the body. The same bytes then go through the error
 * reading runner/aws.c does with runner/xml.h (<Error> or
 * <ErrorResponse><Error>), a walk of the whole tree, and a round trip of
 * every element's text through xml_escape and xml_parse. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runner/buf.h"
#include "../../runner/error.h"
#include "../../runner/s3.h"
#include "../../runner/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
  if (!ok) {
    fprintf(stderr, "invariant broken: %s\n", what);
    abort();
  }
}

static void on_parsed(struct s3_op *op, const struct s3_result *r, void *data)
{
  size_t i;

  (void)op;
  ++*(int *)data;
  check(r->error == 0 || r->error == SR_EPARSE || r->error == SR_ENOMEM,
        "a parse fails with SR_EPARSE");
  for (i = 0; i < r->nobjects; i++)
    check(r->objects[i].key && r->objects[i].etag &&
              r->objects[i].last_modified && r->objects[i].size >= -1,
          "every listed object has its strings");
  for (i = 0; i < r->nprefixes; i++)
    check(r->prefixes[i] != NULL, "every prefix is a string");
  for (i = 0; i < r->nerrors; i++)
    check(r->errors[i].key && r->errors[i].code && r->errors[i].message,
          "every delete error has its strings");
}

/* Escaped text parses back to itself. Carriage returns are left out:
 * XML reads a raw "\r" as "\n", and xml_escape is for S3's keys, which
 * the client sends URL-encoded when they hold one. */
static void roundtrip(const struct xml_node *n)
{
  struct xml_node *again = NULL;
  struct buf b;

  if (memchr(n->text, '\r', n->text_len) || strlen(n->text) != n->text_len)
    return;
  buf_init(&b, 1 << 24);
  check(buf_adds(&b, "<a>") == 0 && xml_escape(&b, n->text) == 0 &&
            buf_adds(&b, "</a>") == 0,
        "escapes");
  check(xml_parse(buf_str(&b), buf_len(&b), &again) == 0, "escaped parses");
  check(again->text_len == n->text_len &&
            memcmp(again->text, n->text, n->text_len) == 0,
        "escaped text reads back the same");
  xml_free(again);
  buf_free(&b);
}

static size_t walk(const struct xml_node *n, int depth)
{
  const struct xml_node *c;
  size_t count = 1;

  check(depth <= 64, "depth is capped");
  check(n->name != NULL && n->text != NULL, "names and texts are strings");
  check(n->text[n->text_len] == '\0', "texts are terminated");
  roundtrip(n);
  for (c = n->child; c; c = c->next) {
    check(c->parent == n, "children know their parent");
    count += walk(c, depth + 1);
  }
  if (n->child)
    check(xml_child(n, n->child->name) == n->child, "xml_child finds");
  return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const ops[] = {"ListObjectsV2", "DeleteObjects",
                                    "CreateMultipartUpload",
                                    "CompleteMultipartUpload"};
  struct xml_node *root = NULL;
  const struct xml_node *e;
  const char *body;
  size_t len;
  int called = 0;

  if (size == 0)
    return 0;
  body = (const char *)data + 1;
  len = size - 1;
  if (s3_parse_response(ops[data[0] % 4], body, len, on_parsed, &called) == 0)
    check(called == 1, "the callback runs once");

  if (xml_parse(body, len, &root) != 0)
    return 0;
  walk(root, 1);
  /* What runner/aws.c's parse_error reads. */
  e = strcmp(root->name, "Error") == 0 ? root : xml_child(root, "Error");
  xml_child_text(e, "Code");
  xml_child_text(e, "Message");
  if (xml_child_text(e, "RequestId") == NULL)
    xml_child_text(root, "RequestId");
  for (e = xml_child(root, "Contents"); e; e = xml_next(e))
    check(strcmp(e->name, "Contents") == 0, "xml_next keeps to the name");
  xml_free(root);
  return 0;
}
