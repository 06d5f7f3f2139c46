/* A compact JSON Schema validator over jansson: see jsonschema.h.
 *
 * Compiling turns every schema object into a struct js_node with its
 * keywords parsed, regexes compiled and $refs resolved, so validation
 * never looks a keyword up by name. Nodes are keyed by the address of
 * their json_t, so a $ref to an already compiled subschema shares it.
 *
 * Validation runs in one of two modes: report (every failure goes to the
 * caller's callback) and probe (only "valid or not" matters, used for
 * anyOf/oneOf/not/if/contains branches; it stops at the first failure and
 * builds no messages). */
#include "jsonschema.h"

#include <float.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "suggest.h"

/* $refs followed without descending into the instance: more means the
 * schema loops (e.g. {"$ref": "#"}). */
#define JS_MAX_REF_CHAIN 64
/* Nesting of schema evaluations, to keep the C stack bounded. */
#define JS_MAX_DEPTH 1000
/* Values quoted in messages are cut to about this many bytes. */
#define JS_RENDER_MAX 40
/* "did you mean" suggests declared names within this edit distance. */
#define JS_SUGGEST_DISTANCE 2
#define JS_SUGGEST_MAXLEN 64

enum js_dialect { JS_2020 = 1, JS_DRAFT7 = 2, JS_ANY = 3 };

/* Type bits; an integral number has both NUMBER and INTEGER. */
enum {
  JS_T_NULL = 1 << 0,
  JS_T_BOOLEAN = 1 << 1,
  JS_T_OBJECT = 1 << 2,
  JS_T_ARRAY = 1 << 3,
  JS_T_NUMBER = 1 << 4,
  JS_T_STRING = 1 << 5,
  JS_T_INTEGER = 1 << 6,
};

static const char *const js_type_names[] = {
    "null", "boolean", "object", "array", "number", "string", "integer",
};

/* Which groups of keywords a node has, so validation skips the rest. */
enum {
  JS_K_OBJECT = 1 << 0,
  JS_K_ARRAY = 1 << 1,
  JS_K_STRING = 1 << 2,
  JS_K_NUMBER = 1 << 3,
  JS_K_LOGIC = 1 << 4,
};

struct js_node;

struct js_prop {
  const char *name;
  struct js_node *schema;
};

struct js_regex {
  const char *source;
  regex_t re;
  struct js_node *schema; /* patternProperties; NULL for "pattern" */
};

struct js_dep {
  const char *keyword; /* dependencies, dependentRequired, ... */
  const char *name;
  json_t *required;       /* array of names, or NULL */
  struct js_node *schema; /* or NULL */
};

struct js_list {
  struct js_node **v;
  size_t n;
};

struct js_node {
  json_t *json;
  char *path;       /* JSON pointer of this schema in the document */
  const char *base; /* base URI; owned by struct jsonschema */
  int boolean;      /* -1: an object schema; else the boolean schema */
  unsigned kinds;   /* JS_K_* */
  unsigned types;   /* JS_T_*; 0 when there is no "type" */
  unsigned char type_order[8]; /* bit numbers, in the schema's order */
  size_t ntypes;
  json_t *const_value;
  json_t *enum_values;
  const char *ref;
  struct js_node *ref_target;
  /* objects */
  struct js_prop *props; /* sorted by name */
  size_t nprops;
  struct js_regex *pattern_props;
  size_t npattern_props;
  struct js_node *additional_props;
  struct js_node *property_names;
  json_t *required;
  size_t min_props, max_props;
  struct js_dep *deps;
  size_t ndeps;
  /* arrays */
  struct js_list prefix_items;
  struct js_node *items; /* items after the prefix */
  struct js_node *contains;
  size_t min_contains, max_contains;
  size_t min_items, max_items;
  int unique_items;
  /* numbers */
  json_t *minimum, *maximum, *exclusive_minimum, *exclusive_maximum;
  json_t *multiple_of;
  /* strings */
  size_t min_length, max_length;
  struct js_regex *pattern;
  /* logic */
  struct js_list all_of, any_of, one_of;
  struct js_node *not_, *if_, *then_, *else_;
};

/* A resource ("$id", or the root) or an anchor ("uri#name"). */
struct js_uri {
  char *uri;
  json_t *json;
};

struct jsonschema {
  json_t *root;
  int dialect;
  struct js_node *root_node;
  struct js_node **nodes; /* all nodes, for freeing and ref resolution */
  size_t nnodes, anodes;
  struct js_node **map; /* open addressing on node->json */
  size_t map_size, map_used;
  struct js_uri *uris;
  size_t nuris, auris;
  char **strs; /* base URIs */
  size_t nstrs, astrs;
};

/* Compilation state. */
struct js_cc {
  struct jsonschema *s;
  char *err;
  size_t errlen;
};

/* Validation state. */
struct js_vc {
  const json_t *unknown;
  jsonschema_error_cb cb;
  void *data;
  struct buf ipath; /* instance path; not maintained while probing */
  struct buf kpath;
  struct buf msg;
  int probing;
  int failures;
  int stop; /* stop evaluating: probe failed or the callback said so */
  int oom;  /* building c->msg ran out of memory */
  int depth;
  int ref_chain;
  unsigned long unknown_hits; /* times `unknown` was accepted */
  const char *msg_prefix;
};

static int cc_node(struct js_cc *cc, json_t *json, const char *path,
                   const char *base, struct js_node **out);
static int vc_node(struct js_vc *c, const struct js_node *n,
                   const json_t *inst);

/* ---- small helpers ---- */

/* Makes room for need elements of size bytes in the array v (capacity
 * *alloc). Returns the possibly moved array, or NULL (v untouched) when
 * out of memory. */
static void *vec_grow(void *v, size_t *alloc, size_t need, size_t size)
{
  size_t n;
  void *p;

  if (need <= *alloc)
    return v;
  n = *alloc ? *alloc : 8;
  while (n < need) {
    if (n > SIZE_MAX / 2 / size)
      return NULL;
    n *= 2;
  }
  p = realloc(v, n * size);
  if (p == NULL)
    return NULL;
  *alloc = n;
  return p;
}

static char *js_strdup(const char *s)
{
  size_t len = strlen(s) + 1;
  char *p = malloc(len);

  if (p != NULL)
    memcpy(p, s, len);
  return p;
}

/* The JS_T_* bits that instance v satisfies. */
static unsigned js_inst_types(const json_t *v)
{
  double d;

  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return JS_T_OBJECT;
  case JSON_ARRAY:
    return JS_T_ARRAY;
  case JSON_STRING:
    return JS_T_STRING;
  case JSON_INTEGER:
    return JS_T_NUMBER | JS_T_INTEGER;
  case JSON_REAL:
    d = json_real_value(v);
    return JS_T_NUMBER | (d == floor(d) ? JS_T_INTEGER : 0);
  case JSON_TRUE:
  case JSON_FALSE:
    return JS_T_BOOLEAN;
  case JSON_NULL:
    return JS_T_NULL;
  }
  return 0;
}

const char *jsonschema_type_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_INTEGER:
    return "integer";
  case JSON_REAL:
    return "number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "boolean";
  case JSON_NULL:
    return "null";
  }
  return "value";
}

/* <0, 0, >0 as number a is below, equal to or above number b; exact for
 * two integers, in double precision otherwise. */
static int js_num_cmp(const json_t *a, const json_t *b)
{
  double x, y;

  if (json_is_integer(a) && json_is_integer(b)) {
    json_int_t i = json_integer_value(a), j = json_integer_value(b);

    return (i > j) - (i < j);
  }
  x = json_number_value(a);
  y = json_number_value(b);
  return (x > y) - (x < y);
}

/* 1 if schema value a equals instance value b: numbers compare by value
 * (1 == 1.0), arrays and objects deeply. A node pointer-equal to unknown
 * in b equals anything when unknown_equal is set (counted in *hits) and
 * nothing otherwise. */
static int js_equal(const json_t *a, const json_t *b, const json_t *unknown,
                    int unknown_equal, unsigned long *hits)
{
  size_t i, n;
  const char *key;
  json_t *va;

  if (b == unknown || a == unknown) {
    if (unknown_equal && hits != NULL)
      (*hits)++;
    return unknown_equal;
  }
  if (json_is_number(a) && json_is_number(b))
    return js_num_cmp(a, b) == 0;
  if (json_typeof(a) != json_typeof(b))
    return 0;
  switch (json_typeof(a)) {
  case JSON_STRING:
    n = json_string_length(a);
    return n == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), n) == 0;
  case JSON_ARRAY:
    n = json_array_size(a);
    if (n != json_array_size(b))
      return 0;
    for (i = 0; i < n; i++)
      if (!js_equal(json_array_get(a, i), json_array_get(b, i), unknown,
                    unknown_equal, hits))
        return 0;
    return 1;
  case JSON_OBJECT:
    if (json_object_size(a) != json_object_size(b))
      return 0;
    /* jansson iterates without modifying, whatever the signature says */
    json_object_foreach((json_t *)a, key, va)
    {
      json_t *vb = json_object_get(b, key);

      if (vb == NULL || !js_equal(va, vb, unknown, unknown_equal, hits))
        return 0;
    }
    return 1;
  default:
    return 1;
  }
}

/* Appends s (len bytes) as a JSON string literal, cut to about max bytes
 * (at a UTF-8 boundary) with "..." when longer. */
static int b_quoted(struct buf *b, const char *s, size_t len, size_t max)
{
  size_t i, end = len;
  int rc, cut = 0;

  if (len > max) {
    end = max;
    while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80)
      end--;
    cut = 1;
  }
  rc = buf_addc(b, '"');
  for (i = 0; rc == 0 && i < end; i++) {
    unsigned char ch = (unsigned char)s[i];

    if (ch == '"' || ch == '\\')
      rc = buf_addf(b, "\\%c", ch);
    else if (ch == '\n')
      rc = buf_adds(b, "\\n");
    else if (ch == '\t')
      rc = buf_adds(b, "\\t");
    else if (ch < 0x20 || ch == 0x7F)
      rc = buf_addf(b, "\\u%04x", ch);
    else
      rc = buf_addc(b, (char)ch);
  }
  if (rc == 0)
    rc = buf_adds(b, cut ? "...\"" : "\"");
  return rc;
}

struct js_dump {
  char data[JS_RENDER_MAX + 1];
  size_t len;
  int cut;
};

static int js_dump_cb(const char *buffer, size_t size, void *data)
{
  struct js_dump *d = data;
  size_t room = JS_RENDER_MAX - d->len;

  if (size > room) {
    /* One byte more than kept: the cut backs off to a UTF-8 boundary by
     * looking at the byte that follows it. */
    memcpy(d->data + d->len, buffer, room + 1);
    d->len += room;
    d->cut = 1;
    return -1; /* enough: stop jansson dumping a huge value */
  }
  memcpy(d->data + d->len, buffer, size);
  d->len += size;
  return 0;
}

/* Appends v as compact JSON, cut to about JS_RENDER_MAX bytes with
 * "...". */
static int b_value(struct buf *b, const json_t *v)
{
  struct js_dump d;
  size_t end;

  if (json_is_string(v))
    return b_quoted(b, json_string_value(v), json_string_length(v),
                    JS_RENDER_MAX);
  d.len = 0;
  d.cut = 0;
  if (json_dump_callback(v, js_dump_cb, &d,
                         JSON_ENCODE_ANY | JSON_COMPACT |
                             JSON_REAL_PRECISION(15)) != 0 &&
      !d.cut)
    return buf_adds(b, "(unprintable)");
  end = d.len;
  if (d.cut)
    while (end > 0 && ((unsigned char)d.data[end] & 0xC0) == 0x80)
      end--;
  if (buf_add(b, d.data, end) != 0)
    return SR_ENOMEM;
  return d.cut ? buf_adds(b, "...") : 0;
}

/* Appends "type value" for scalars and just the type for containers,
 * as the "found ..." of type mismatches. */
static int b_typed(struct buf *b, const json_t *v)
{
  int rc = buf_adds(b, jsonschema_type_name(v));

  if (rc == 0 && !json_is_object(v) && !json_is_array(v) && !json_is_null(v))
    rc = buf_addc(b, ' ');
  if (rc == 0 && !json_is_object(v) && !json_is_array(v) && !json_is_null(v))
    rc = b_value(b, v);
  return rc;
}

/* Appends the types whose bit numbers are order[0..n) as "a", "a or b",
 * "a, b or c". */
static int b_types(struct buf *b, const unsigned char *order, size_t n)
{
  unsigned mask = 0;
  size_t i, done = 0, total = 0;
  int rc = 0;

  for (i = 0; i < n; i++)
    mask |= 1u << order[i];
  /* "integer" is implied by "number" */
  if (mask & JS_T_NUMBER)
    mask &= ~(unsigned)JS_T_INTEGER;
  for (i = 0; i < n; i++)
    total += (mask >> order[i]) & 1;
  for (i = 0; rc == 0 && i < n; i++) {
    if (!(mask & (1u << order[i])))
      continue;
    if (done > 0)
      rc = buf_adds(b, done + 1 == total ? " or " : ", ");
    if (rc == 0)
      rc = buf_adds(b, js_type_names[order[i]]);
    done++;
  }
  return rc;
}

/* Appends key to a JSON pointer, escaping "~" and "/". */
static int b_pointer_seg(struct buf *b, const char *key)
{
  int rc = buf_addc(b, '/');

  for (; rc == 0 && *key; key++) {
    if (*key == '~')
      rc = buf_adds(b, "~0");
    else if (*key == '/')
      rc = buf_adds(b, "~1");
    else
      rc = buf_addc(b, *key);
  }
  return rc;
}

/* ---- regular expressions ---- */

/* One item of a bracket expression being translated. */
struct js_class {
  struct buf body; /* items other than ']', '^' and '-' */
  int close, caret, dash;
};

/* Adds the character (or UTF-8 sequence) in s, len bytes, to a class. */
static int re_class_char(struct js_class *k, const char *s, size_t len)
{
  if (len == 1 && s[0] == ']') {
    k->close = 1;
    return 0;
  }
  if (len == 1 && s[0] == '^') {
    k->caret = 1;
    return 0;
  }
  if (len == 1 && s[0] == '-') {
    k->dash = 1;
    return 0;
  }
  return buf_add(&k->body, s, len);
}

/* Appends code point cp as UTF-8 to tmp (at least 4 bytes); returns the
 * length. */
static size_t re_utf8(unsigned long cp, char *tmp)
{
  if (cp < 0x80) {
    tmp[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    tmp[0] = (char)(0xC0 | (cp >> 6));
    tmp[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    tmp[0] = (char)(0xE0 | (cp >> 12));
    tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    tmp[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  tmp[0] = (char)(0xF0 | (cp >> 18));
  tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  tmp[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Reads ndigits hex digits at s into *cp; 0 or -1 when malformed. */
static int re_hex(const char *s, int ndigits, unsigned long *cp)
{
  int i;

  *cp = 0;
  for (i = 0; i < ndigits; i++) {
    char ch = s[i];
    unsigned long d;

    if (ch >= '0' && ch <= '9')
      d = (unsigned long)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      d = (unsigned long)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F')
      d = (unsigned long)(ch - 'A' + 10);
    else
      return -1;
    *cp = *cp * 16 + d;
  }
  return 0;
}

/* Decodes the escape at src[*i] == '\\' that stands for one character:
 * writes it (UTF-8) to tmp and its length to *len and advances *i past
 * it. Returns 0, 1 when the escape is a class (\d ...) left for the
 * caller, or -1 with *why set when unsupported. */
static int re_escape_char(const char *src, size_t *i, char *tmp, size_t *len,
                          const char **why)
{
  char e = src[*i + 1];
  unsigned long cp, lo;

  switch (e) {
  case '\0':
    *why = "trailing backslash";
    return -1;
  case 'd':
  case 'D':
  case 'w':
  case 'W':
  case 's':
  case 'S':
    return 1;
  case 'n':
    cp = '\n';
    break;
  case 't':
    cp = '\t';
    break;
  case 'r':
    cp = '\r';
    break;
  case 'f':
    cp = '\f';
    break;
  case 'v':
    cp = '\v';
    break;
  case 'x':
    if (re_hex(src + *i + 2, 2, &cp) != 0) {
      *why = "malformed \\x escape";
      return -1;
    }
    *i += 2;
    break;
  case 'u':
    if (re_hex(src + *i + 2, 4, &cp) != 0) {
      *why = "malformed \\u escape";
      return -1;
    }
    *i += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && src[*i + 2] == '\\' &&
        src[*i + 3] == 'u' && re_hex(src + *i + 4, 4, &lo) == 0 &&
        lo >= 0xDC00 && lo < 0xE000) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      *i += 6;
    }
    break;
  case 'b':
  case 'B':
    *why = "word boundaries (\\b, \\B) are not supported";
    return -1;
  case 'p':
  case 'P':
    *why = "unicode property escapes (\\p, \\P) are not supported";
    return -1;
  case 'c':
  case 'k':
  case '0':
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
  case '8':
  case '9':
    *why = "back references and control escapes are not supported";
    return -1;
  default:
    /* an identity escape: the character itself */
    cp = (unsigned char)e;
    if (cp >= 0x80) {
      size_t n = 1;

      while (((unsigned char)src[*i + 1 + n] & 0xC0) == 0x80)
        n++;
      memcpy(tmp, src + *i + 1, n);
      *len = n;
      *i += 1 + n;
      return 0;
    }
    break;
  }
  if (cp == 0) {
    *why = "NUL characters are not supported"; /* C strings end there */
    return -1;
  }
  *len = re_utf8(cp, tmp);
  *i += 2;
  return 0;
}

/* Length of the UTF-8 sequence starting at s (1 for stray bytes). */
static size_t re_seqlen(const char *s)
{
  size_t n = 1;

  if ((unsigned char)s[0] >= 0xC0)
    while (((unsigned char)s[n] & 0xC0) == 0x80 && n < 4)
      n++;
  return n;
}

/* Translates the bracket expression at src[*i] == '[' from ECMA-262 to
 * POSIX into out and advances *i past it. Returns 0, or -1 with *why. */
static int re_class(const char *src, size_t *i, struct buf *out,
                    const char **why)
{
  struct js_class k;
  int neg = 0, rc = 0, first = 1;
  char tmp[8];
  size_t len;

  memset(&k, 0, sizeof(k));
  buf_init(&k.body, BUF_CAP_DEFAULT);
  (*i)++;
  if (src[*i] == '^') {
    neg = 1;
    (*i)++;
  }
  for (;;) {
    char ch = src[*i];

    if (ch == '\0') {
      *why = "unterminated [";
      rc = -1;
      goto out;
    }
    if (ch == ']')
      break;
    if (ch == '\\') {
      char e = src[*i + 1];

      rc = re_escape_char(src, i, tmp, &len, why);
      if (rc < 0)
        goto out;
      if (rc == 1) {
        rc = 0;
        if (e == 'd')
          rc = buf_adds(&k.body, "0-9");
        else if (e == 'w')
          rc = buf_adds(&k.body, "A-Za-z0-9_");
        else if (e == 's')
          rc = buf_adds(&k.body, "[:space:]");
        else {
          *why = "negated classes (\\D, \\W, \\S) inside [] are not "
                 "supported";
          rc = -1;
          goto out;
        }
        if (rc != 0)
          goto out;
        *i += 2;
        first = 0;
        continue;
      }
    } else if (ch == '[' && src[*i + 1] == ':') {
      /* keep POSIX classes some schemas already use */
      const char *end = strstr(src + *i, ":]");

      if (end == NULL) {
        *why = "unterminated [:";
        rc = -1;
        goto out;
      }
      len = (size_t)(end + 2 - (src + *i));
      rc = buf_add(&k.body, src + *i, len);
      if (rc != 0)
        goto out;
      *i += len;
      first = 0;
      continue;
    } else {
      len = re_seqlen(src + *i);
      memcpy(tmp, src + *i, len);
      *i += len;
    }
    /* a range a-z: both ends must be plain characters */
    if (src[*i] == '-' && src[*i + 1] != ']' && src[*i + 1] != '\0') {
      char hi[8];
      size_t hlen;

      (*i)++;
      if (src[*i] == '\\') {
        rc = re_escape_char(src, i, hi, &hlen, why);
        if (rc != 0) {
          if (rc == 1)
            *why = "a class cannot end a range";
          rc = -1;
          goto out;
        }
      } else {
        hlen = re_seqlen(src + *i);
        memcpy(hi, src + *i, hlen);
        *i += hlen;
      }
      if ((len == 1 && strchr("]^-[", tmp[0])) ||
          (hlen == 1 && strchr("]^-[", hi[0]))) {
        *why = "ranges ending in ], ^, - or [ are not supported";
        rc = -1;
        goto out;
      }
      rc = buf_add(&k.body, tmp, len);
      if (rc == 0)
        rc = buf_addc(&k.body, '-');
      if (rc == 0)
        rc = buf_add(&k.body, hi, hlen);
    } else if (len == 1 && tmp[0] == '[') {
      rc = buf_addc(&k.body, '[');
    } else {
      rc = re_class_char(&k, tmp, len);
    }
    if (rc != 0)
      goto out;
    first = 0;
  }
  (*i)++;
  if (first && !neg) {
    *why = "empty classes [] are not supported";
    rc = -1;
    goto out;
  }
  if (first) {
    rc = buf_adds(out, "."); /* [^] is anything; POSIX "." includes \n */
    goto out;
  }
  if (!neg && !k.close && !k.dash && buf_len(&k.body) == 0) {
    rc = buf_adds(out, "\\^"); /* [^] alone would negate */
    goto out;
  }
  rc = buf_addc(out, '[');
  if (rc == 0 && neg)
    rc = buf_addc(out, '^');
  if (rc == 0 && k.close)
    rc = buf_addc(out, ']');
  if (rc == 0 && !k.close && buf_len(&k.body) == 0 && k.caret && k.dash) {
    /* "[^-]" would be negated: lead with the dash instead */
    rc = buf_adds(out, "-^]");
    goto out;
  }
  if (rc == 0)
    rc = buf_add(out, buf_str(&k.body), buf_len(&k.body));
  if (rc == 0 && k.caret)
    rc = buf_addc(out, '^');
  if (rc == 0 && k.dash)
    rc = buf_addc(out, '-');
  if (rc == 0)
    rc = buf_addc(out, ']');
out:
  buf_free(&k.body);
  if (rc > 0)
    rc = SR_ENOMEM;
  return rc;
}

/* 1 if src at i starts a {n}, {n,} or {n,m} quantifier; sets *end to the
 * index of its "}". */
static int re_is_quantifier(const char *src, size_t i, size_t *end)
{
  size_t j = i + 1;

  if (src[j] < '0' || src[j] > '9')
    return 0;
  while (src[j] >= '0' && src[j] <= '9')
    j++;
  if (src[j] == ',') {
    j++;
    while (src[j] >= '0' && src[j] <= '9')
      j++;
  }
  if (src[j] != '}')
    return 0;
  *end = j;
  return 1;
}

/* Translates ECMA-262 pattern src into a POSIX extended regex in out.
 * Returns 0, SR_ENOTSUP with *why for constructs POSIX cannot express
 * (lookaround, \b, \p{...}, back references), or SR_ENOMEM. */
static int re_translate(const char *src, struct buf *out, const char **why)
{
  size_t i = 0, len, end;
  int rc = 0, quantified = 0;
  char tmp[8];

  while (rc == 0 && src[i] != '\0') {
    char ch = src[i];
    int was_quantified = quantified;

    quantified = 0;
    switch (ch) {
    case '\\':
      rc = re_escape_char(src, &i, tmp, &len, why);
      if (rc < 0)
        return SR_ENOTSUP;
      if (rc == 1) {
        static const char *const classes[] = {
            "d", "[0-9]",         "D", "[^0-9]",      "w", "[A-Za-z0-9_]",
            "W", "[^A-Za-z0-9_]", "s", "[[:space:]]", "S", "[^[:space:]]",
        };
        size_t k;

        for (k = 0; k < sizeof(classes) / sizeof(*classes); k += 2)
          if (classes[k][0] == src[i + 1])
            rc = buf_adds(out, classes[k + 1]);
        i += 2;
        break;
      }
      if (len == 1 && strchr(".[]()*+?{}|^$\\", tmp[0]))
        rc = buf_addc(out, '\\');
      if (rc == 0)
        rc = buf_add(out, tmp, len);
      break;
    case '[':
      rc = re_class(src, &i, out, why);
      if (rc == -1)
        return SR_ENOTSUP;
      break;
    case '(':
      if (src[i + 1] == '?') {
        if (src[i + 2] != ':') {
          *why = "lookaround and named groups are not supported";
          return SR_ENOTSUP;
        }
        i += 2; /* (?:x) is (x) when nothing is captured */
      }
      rc = buf_addc(out, '(');
      i++;
      break;
    case '.':
      /* ECMA's dot excludes line terminators; POSIX's does not */
      rc = buf_adds(out, "[^\n\r]");
      i++;
      break;
    case '*':
    case '+':
    case '?':
      if (ch == '?' && was_quantified) {
        i++; /* lazy: same matches, nothing is captured */
        break;
      }
      rc = buf_addc(out, ch);
      quantified = 1;
      i++;
      break;
    case '{':
      if (re_is_quantifier(src, i, &end)) {
        rc = buf_add(out, src + i, end - i + 1);
        i = end + 1;
        quantified = 1;
      } else {
        rc = buf_adds(out, "[{]");
        i++;
      }
      break;
    case '}':
      rc = buf_adds(out, "[}]");
      i++;
      break;
    default:
      len = re_seqlen(src + i);
      rc = buf_add(out, src + i, len);
      i += len;
      break;
    }
  }
  return rc;
}

/* Compiles ECMA-262 pattern source into r (regfree when done). Returns
 * 0, or an SR_ code with a reason in *why (a static string, or the
 * regcomp message copied into whybuf). */
static int re_compile(struct js_regex *r, const char *source, const char **why,
                      char *whybuf, size_t whylen)
{
  struct buf b;
  int rc, err;

  buf_init(&b, BUF_CAP_DEFAULT);
  rc = re_translate(source, &b, why);
  if (rc != 0) {
    if (rc == SR_ENOMEM)
      *why = "out of memory";
    goto out;
  }
  err = regcomp(&r->re, buf_str(&b), REG_EXTENDED | REG_NOSUB);
  if (err != 0) {
    regerror(err, &r->re, whybuf, whylen);
    *why = whybuf;
    rc = err == REG_ESPACE ? SR_ENOMEM : SR_EINVAL;
    goto out;
  }
  r->source = source;
out:
  buf_free(&b);
  return rc;
}

/* ---- compiling ---- */

/* Writes "path/keyword: message" to the caller's error buffer and
 * returns code. */
static int cc_fail(struct js_cc *cc, int code, const char *path, const char *kw,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int cc_fail(struct js_cc *cc, int code, const char *path, const char *kw,
                   const char *fmt, ...)
{
  struct buf b;
  va_list ap;

  if (cc->errlen == 0)
    return code;
  buf_init(&b, BUF_CAP_DEFAULT);
  buf_adds(&b, path != NULL ? path : "");
  if (kw != NULL)
    b_pointer_seg(&b, kw);
  if (buf_len(&b) == 0)
    buf_adds(&b, "schema");
  buf_adds(&b, ": ");
  va_start(ap, fmt);
  buf_vaddf(&b, fmt, ap);
  va_end(ap);
  snprintf(cc->err, cc->errlen, "%s",
           buf_len(&b) ? buf_str(&b) : sr_strerror(code));
  buf_free(&b);
  return code;
}

/* Reports "expected <what>, found <v>" for keyword kw (may be NULL) of
 * the schema at path. */
static int cc_expected(struct js_cc *cc, const char *path, const char *kw,
                       const char *what, const json_t *v)
{
  struct buf b;
  int rc;

  buf_init(&b, 256);
  b_typed(&b, v);
  rc = cc_fail(cc, SR_EINVAL, path, kw, "expected %s, found %s", what,
               buf_str(&b));
  buf_free(&b);
  return rc;
}

static size_t map_slot(const struct jsonschema *s, const json_t *json)
{
  uintptr_t h = (uintptr_t)json;

  h ^= h >> 17;
  h *= (uintptr_t)0x9E3779B97F4A7C15u;
  h ^= h >> 29;
  return (size_t)h & (s->map_size - 1);
}

/* The node compiled from json, or NULL. */
static struct js_node *map_get(const struct jsonschema *s, const json_t *json)
{
  size_t i;

  if (s->map_size == 0)
    return NULL;
  for (i = map_slot(s, json); s->map[i] != NULL;
       i = (i + 1) & (s->map_size - 1))
    if (s->map[i]->json == json)
      return s->map[i];
  return NULL;
}

/* Adds n to the node map (growing it at half load). */
static int map_put(struct jsonschema *s, struct js_node *n)
{
  size_t i;

  if (2 * (s->map_used + 1) > s->map_size) {
    struct js_node **old = s->map;
    size_t oldsize = s->map_size, j;

    s->map_size = oldsize ? oldsize * 2 : 64;
    s->map = calloc(s->map_size, sizeof(*s->map));
    if (s->map == NULL) {
      s->map = old;
      s->map_size = oldsize;
      return SR_ENOMEM;
    }
    for (j = 0; j < oldsize; j++) {
      if (old[j] == NULL)
        continue;
      for (i = map_slot(s, old[j]->json); s->map[i] != NULL;
           i = (i + 1) & (s->map_size - 1))
        ;
      s->map[i] = old[j];
    }
    free(old);
  }
  for (i = map_slot(s, n->json); s->map[i] != NULL;
       i = (i + 1) & (s->map_size - 1))
    ;
  s->map[i] = n;
  s->map_used++;
  return 0;
}

/* Keeps str (malloc'ed; taken over even on failure) until the schema is
 * freed. */
static int keep_str(struct jsonschema *s, char *str)
{
  char **p = vec_grow(s->strs, &s->astrs, s->nstrs + 1, sizeof(*s->strs));

  if (p == NULL) {
    free(str);
    return SR_ENOMEM;
  }
  s->strs = p;
  s->strs[s->nstrs++] = str;
  return 0;
}

static const struct js_uri *uri_find(const struct jsonschema *s,
                                     const char *uri)
{
  size_t i;

  for (i = 0; i < s->nuris; i++)
    if (strcmp(s->uris[i].uri, uri) == 0)
      return &s->uris[i];
  return NULL;
}

/* Registers json under uri (copied); the first registration wins. */
static int uri_add(struct jsonschema *s, const char *uri, json_t *json)
{
  struct js_uri *p;
  char *copy;

  if (uri_find(s, uri) != NULL)
    return 0;
  p = vec_grow(s->uris, &s->auris, s->nuris + 1, sizeof(*s->uris));
  if (p == NULL)
    return SR_ENOMEM;
  s->uris = p;
  copy = js_strdup(uri);
  if (copy == NULL)
    return SR_ENOMEM;
  s->uris[s->nuris].uri = copy;
  s->uris[s->nuris].json = json;
  s->nuris++;
  return 0;
}

/* Length of "scheme:" at the start of s, or 0. */
static size_t uri_scheme_len(const char *s)
{
  size_t i = 0;

  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
    return 0;
  while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
         (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' ||
         s[i] == '.')
    i++;
  return s[i] == ':' ? i + 1 : 0;
}

/* Resolves reference ref against base into b (RFC 3986 5.2, without
 * removing dot segments: the references schemas use are simple). */
static int uri_resolve(struct buf *b, const char *base, const char *ref)
{
  size_t blen = strcspn(base, "#"), qlen = strcspn(base, "?#");
  size_t path = uri_scheme_len(base), slash;
  int rc;

  if (uri_scheme_len(ref) > 0)
    return buf_adds(b, ref);
  if (ref[0] == '\0' || ref[0] == '#') {
    rc = buf_add(b, base, blen);
    return rc ? rc : buf_adds(b, ref);
  }
  if (base[path] == '/' && base[path + 1] == '/') {
    if (ref[0] == '/' && ref[1] == '/') {
      rc = buf_add(b, base, path);
      return rc ? rc : buf_adds(b, ref);
    }
    path += 2 + strcspn(base + path + 2, "/?#");
  }
  if (ref[0] == '/') {
    rc = buf_add(b, base, path);
    return rc ? rc : buf_adds(b, ref);
  }
  for (slash = qlen; slash > path && base[slash - 1] != '/'; slash--)
    ;
  if (slash > path) {
    rc = buf_add(b, base, slash);
  } else {
    rc = buf_add(b, base, path);
    if (rc == 0 && path > 0 && base[path - 1] != ':')
      rc = buf_addc(b, '/'); /* "http://host" + "x" */
  }
  return rc ? rc : buf_adds(b, ref);
}

/* Percent-decodes s into b (malformed escapes are kept as they are). */
static int uri_unescape(struct buf *b, const char *s)
{
  unsigned long v;
  int rc = 0;

  while (rc == 0 && *s) {
    if (*s == '%' && re_hex(s + 1, 2, &v) == 0) {
      rc = buf_addc(b, (char)v);
      s += 3;
    } else {
      rc = buf_addc(b, *s++);
    }
  }
  return rc;
}

/* Follows JSON pointer ptr ("" or "/a/b", already percent-decoded) from
 * doc. Sets *out to the target or NULL; returns 0 or SR_ENOMEM. */
static int js_pointer(json_t *doc, const char *ptr, json_t **out)
{
  struct buf seg;
  json_t *cur = doc;
  int rc = 0;

  buf_init(&seg, BUF_CAP_DEFAULT);
  *out = NULL;
  if (*ptr != '\0' && *ptr != '/')
    goto out;
  while (cur != NULL && *ptr == '/') {
    ptr++;
    buf_reset(&seg);
    while (rc == 0 && *ptr && *ptr != '/') {
      if (ptr[0] == '~' && (ptr[1] == '0' || ptr[1] == '1')) {
        rc = buf_addc(&seg, ptr[1] == '0' ? '~' : '/');
        ptr += 2;
      } else {
        rc = buf_addc(&seg, *ptr++);
      }
    }
    if (rc != 0)
      goto out;
    if (json_is_object(cur)) {
      cur = json_object_get(cur, buf_str(&seg));
    } else if (json_is_array(cur)) {
      const char *d = buf_str(&seg);
      size_t idx = 0;

      if (*d == '\0' || (d[0] == '0' && d[1] != '\0')) {
        cur = NULL;
        break;
      }
      for (; *d >= '0' && *d <= '9' && idx < SIZE_MAX / 10; d++)
        idx = idx * 10 + (size_t)(*d - '0');
      cur = *d == '\0' ? json_array_get(cur, idx) : NULL;
    } else {
      cur = NULL;
    }
  }
  *out = cur;
out:
  buf_free(&seg);
  return rc;
}

/* Compiles subschema v found under n's keyword kw (and object key or
 * array index key, when not NULL) into *out. */
static int cc_sub(struct js_cc *cc, struct js_node *n, const char *kw,
                  const char *key, json_t *v, struct js_node **out)
{
  struct buf p;
  int rc;

  buf_init(&p, BUF_CAP_DEFAULT);
  rc = buf_adds(&p, n->path);
  if (rc == 0)
    rc = b_pointer_seg(&p, kw);
  if (rc == 0 && key != NULL)
    rc = b_pointer_seg(&p, key);
  if (rc == 0)
    rc = cc_node(cc, v, buf_str(&p), n->base, out);
  buf_free(&p);
  return rc;
}

/* Reads a non-negative integer (1.0 counts) into *out. */
static int cc_count_value(const json_t *v, size_t *out)
{
  double d;

  if (json_is_integer(v) && json_integer_value(v) >= 0) {
    *out = (size_t)json_integer_value(v);
    return 0;
  }
  if (json_is_real(v)) {
    d = json_real_value(v);
    if (d >= 0 && d == floor(d)) {
      *out = d >= (double)SIZE_MAX ? SIZE_MAX : (size_t)d;
      return 0;
    }
  }
  return -1;
}

struct js_keyword {
  const char *name;
  unsigned dialects;
  int (*parse)(struct js_cc *cc, struct js_node *n, const char *kw, json_t *v,
               size_t offset);
  size_t offset; /* of the struct js_node field the keyword fills */
  unsigned kinds;
};

#define JS_FIELD(n, offset, type) ((type *)(void *)((char *)(n) + (offset)))

static int cc_kw_schema(struct js_cc *cc, struct js_node *n, const char *kw,
                        json_t *v, size_t offset)
{
  return cc_sub(cc, n, kw, NULL, v, JS_FIELD(n, offset, struct js_node *));
}

static int cc_kw_list(struct js_cc *cc, struct js_node *n, const char *kw,
                      json_t *v, size_t offset)
{
  struct js_list *l = JS_FIELD(n, offset, struct js_list);
  char key[32];
  size_t i;
  int rc;

  if (!json_is_array(v) || json_array_size(v) == 0)
    return cc_expected(cc, n->path, kw, "a non-empty array of schemas", v);
  l->v = calloc(json_array_size(v), sizeof(*l->v));
  if (l->v == NULL)
    return SR_ENOMEM;
  for (i = 0; i < json_array_size(v); i++) {
    snprintf(key, sizeof(key), "%zu", i);
    rc = cc_sub(cc, n, kw, key, json_array_get(v, i), &l->v[i]);
    if (rc != 0)
      return rc;
    l->n++;
  }
  return 0;
}

static int cc_kw_count(struct js_cc *cc, struct js_node *n, const char *kw,
                       json_t *v, size_t offset)
{
  if (cc_count_value(v, JS_FIELD(n, offset, size_t)) != 0)
    return cc_expected(cc, n->path, kw, "a non-negative integer", v);
  return 0;
}

static int cc_kw_number(struct js_cc *cc, struct js_node *n, const char *kw,
                        json_t *v, size_t offset)
{
  if (!json_is_number(v))
    return cc_expected(cc, n->path, kw, "a number", v);
  if (strcmp(kw, "multipleOf") == 0 && json_number_value(v) <= 0)
    return cc_expected(cc, n->path, kw, "a number > 0", v);
  *JS_FIELD(n, offset, json_t *) = v;
  return 0;
}

static int cc_kw_value(struct js_cc *cc, struct js_node *n, const char *kw,
                       json_t *v, size_t offset)
{
  if (strcmp(kw, "enum") == 0 && !json_is_array(v))
    return cc_expected(cc, n->path, kw, "an array", v);
  *JS_FIELD(n, offset, json_t *) = v;
  return 0;
}

static int cc_kw_unique(struct js_cc *cc, struct js_node *n, const char *kw,
                        json_t *v, size_t offset)
{
  (void)offset;
  if (!json_is_boolean(v))
    return cc_expected(cc, n->path, kw, "a boolean", v);
  n->unique_items = json_is_true(v);
  return 0;
}

static int cc_kw_defs(struct js_cc *cc, struct js_node *n, const char *kw,
                      json_t *v, size_t offset)
{
  struct js_node *sub;
  const char *key;
  json_t *val;
  int rc;

  (void)offset;
  if (!json_is_object(v))
    return cc_expected(cc, n->path, kw, "an object of schemas", v);
  json_object_foreach(v, key, val)
  {
    rc = cc_sub(cc, n, kw, key, val, &sub);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* 1 if type name s is known; adds it to n's types. */
static int cc_type_bit(const char *s, struct js_node *n)
{
  unsigned char i;

  for (i = 0; i < sizeof(js_type_names) / sizeof(*js_type_names); i++) {
    if (strcmp(s, js_type_names[i]) != 0)
      continue;
    if (!(n->types & (1u << i)))
      n->type_order[n->ntypes++] = i;
    n->types |= 1u << i;
    return 1;
  }
  return 0;
}

static int cc_kw_type(struct js_cc *cc, struct js_node *n, const char *kw,
                      json_t *v, size_t offset)
{
  size_t i;

  (void)offset;
  if (json_is_string(v)) {
    if (!cc_type_bit(json_string_value(v), n))
      return cc_fail(cc, SR_EINVAL, n->path, kw, "unknown type \"%s\"",
                     json_string_value(v));
    return 0;
  }
  if (!json_is_array(v) || json_array_size(v) == 0)
    return cc_expected(cc, n->path, kw, "a type name or an array of them", v);
  for (i = 0; i < json_array_size(v); i++) {
    json_t *t = json_array_get(v, i);

    if (!json_is_string(t))
      return cc_expected(cc, n->path, kw, "a type name", t);
    if (!cc_type_bit(json_string_value(t), n))
      return cc_fail(cc, SR_EINVAL, n->path, kw, "unknown type \"%s\"",
                     json_string_value(t));
  }
  return 0;
}

static int cc_prop_cmp(const void *a, const void *b)
{
  const struct js_prop *x = a, *y = b;

  return strcmp(x->name, y->name);
}

static int cc_kw_properties(struct js_cc *cc, struct js_node *n, const char *kw,
                            json_t *v, size_t offset)
{
  const char *key;
  json_t *val;
  int rc;

  (void)offset;
  if (!json_is_object(v))
    return cc_expected(cc, n->path, kw, "an object of schemas", v);
  n->props = calloc(json_object_size(v) + 1, sizeof(*n->props));
  if (n->props == NULL)
    return SR_ENOMEM;
  json_object_foreach(v, key, val)
  {
    n->props[n->nprops].name = key;
    rc = cc_sub(cc, n, kw, key, val, &n->props[n->nprops].schema);
    if (rc != 0)
      return rc;
    n->nprops++;
  }
  qsort(n->props, n->nprops, sizeof(*n->props), cc_prop_cmp);
  return 0;
}

/* Compiles regex source for keyword kw (and key) of n into r. */
static int cc_regex(struct js_cc *cc, struct js_node *n, const char *kw,
                    const char *source, struct js_regex *r)
{
  char whybuf[128];
  const char *why = "invalid";
  int rc = re_compile(r, source, &why, whybuf, sizeof(whybuf));

  if (rc == SR_ENOMEM)
    return rc;
  if (rc != 0)
    return cc_fail(cc, rc, n->path, kw,
                   "unsupported or invalid regex \"%s\": %s", source, why);
  return 0;
}

static int cc_kw_pattern_properties(struct js_cc *cc, struct js_node *n,
                                    const char *kw, json_t *v, size_t offset)
{
  const char *key;
  json_t *val;
  int rc;

  (void)offset;
  if (!json_is_object(v))
    return cc_expected(cc, n->path, kw, "an object of schemas", v);
  n->pattern_props = calloc(json_object_size(v) + 1, sizeof(*n->pattern_props));
  if (n->pattern_props == NULL)
    return SR_ENOMEM;
  json_object_foreach(v, key, val)
  {
    struct js_regex *r = &n->pattern_props[n->npattern_props];

    rc = cc_regex(cc, n, kw, key, r);
    if (rc != 0)
      return rc;
    n->npattern_props++;
    rc = cc_sub(cc, n, kw, key, val, &r->schema);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int cc_kw_pattern(struct js_cc *cc, struct js_node *n, const char *kw,
                         json_t *v, size_t offset)
{
  int rc;

  (void)offset;
  if (!json_is_string(v))
    return cc_expected(cc, n->path, kw, "a string", v);
  n->pattern = calloc(1, sizeof(*n->pattern));
  if (n->pattern == NULL)
    return SR_ENOMEM;
  rc = cc_regex(cc, n, kw, json_string_value(v), n->pattern);
  if (rc != 0) {
    free(n->pattern);
    n->pattern = NULL;
  }
  return rc;
}

/* 1 if v is an array of strings. */
static int cc_is_names(const json_t *v)
{
  size_t i;

  if (!json_is_array(v))
    return 0;
  for (i = 0; i < json_array_size(v); i++)
    if (!json_is_string(json_array_get(v, i)))
      return 0;
  return 1;
}

static int cc_kw_required(struct js_cc *cc, struct js_node *n, const char *kw,
                          json_t *v, size_t offset)
{
  (void)offset;
  if (!cc_is_names(v))
    return cc_expected(cc, n->path, kw, "an array of property names", v);
  n->required = v;
  return 0;
}

/* dependencies (draft-07: names or a schema per property),
 * dependentRequired (names) and dependentSchemas (a schema). */
static int cc_kw_deps(struct js_cc *cc, struct js_node *n, const char *kw,
                      json_t *v, size_t offset)
{
  int names = strcmp(kw, "dependentSchemas") != 0;
  int schemas = strcmp(kw, "dependentRequired") != 0;
  struct js_dep *d;
  const char *key;
  json_t *val;
  int rc;

  (void)offset;
  if (!json_is_object(v))
    return cc_expected(cc, n->path, kw, "an object", v);
  d = realloc(n->deps, (n->ndeps + json_object_size(v) + 1) * sizeof(*d));
  if (d == NULL)
    return SR_ENOMEM;
  n->deps = d;
  json_object_foreach(v, key, val)
  {
    d = &n->deps[n->ndeps];
    memset(d, 0, sizeof(*d));
    d->keyword = kw;
    d->name = key;
    if (names && cc_is_names(val)) {
      d->required = val;
    } else if (schemas && (json_is_object(val) || json_is_boolean(val))) {
      rc = cc_sub(cc, n, kw, key, val, &d->schema);
      if (rc != 0)
        return rc;
    } else {
      return cc_expected(cc, n->path, kw,
                         names && schemas ? "property names or a schema"
                         : names          ? "an array of property names"
                                          : "a schema",
                         val);
    }
    n->ndeps++;
  }
  return 0;
}

/* Sorted by name for bsearch. */
static const struct js_keyword js_keywords[] = {
    {"$defs", JS_2020, cc_kw_defs, 0, 0},
    {"additionalProperties", JS_ANY, cc_kw_schema,
     offsetof(struct js_node, additional_props), JS_K_OBJECT},
    {"allOf", JS_ANY, cc_kw_list, offsetof(struct js_node, all_of), JS_K_LOGIC},
    {"anyOf", JS_ANY, cc_kw_list, offsetof(struct js_node, any_of), JS_K_LOGIC},
    {"const", JS_ANY, cc_kw_value, offsetof(struct js_node, const_value), 0},
    {"contains", JS_ANY, cc_kw_schema, offsetof(struct js_node, contains),
     JS_K_ARRAY},
    {"definitions", JS_DRAFT7, cc_kw_defs, 0, 0},
    {"dependencies", JS_DRAFT7, cc_kw_deps, 0, JS_K_OBJECT},
    {"dependentRequired", JS_2020, cc_kw_deps, 0, JS_K_OBJECT},
    {"dependentSchemas", JS_2020, cc_kw_deps, 0, JS_K_OBJECT},
    {"else", JS_ANY, cc_kw_schema, offsetof(struct js_node, else_), 0},
    {"enum", JS_ANY, cc_kw_value, offsetof(struct js_node, enum_values), 0},
    {"exclusiveMaximum", JS_ANY, cc_kw_number,
     offsetof(struct js_node, exclusive_maximum), JS_K_NUMBER},
    {"exclusiveMinimum", JS_ANY, cc_kw_number,
     offsetof(struct js_node, exclusive_minimum), JS_K_NUMBER},
    {"if", JS_ANY, cc_kw_schema, offsetof(struct js_node, if_), JS_K_LOGIC},
    {"maxContains", JS_2020, cc_kw_count,
     offsetof(struct js_node, max_contains), 0},
    {"maxItems", JS_ANY, cc_kw_count, offsetof(struct js_node, max_items),
     JS_K_ARRAY},
    {"maxLength", JS_ANY, cc_kw_count, offsetof(struct js_node, max_length),
     JS_K_STRING},
    {"maxProperties", JS_ANY, cc_kw_count, offsetof(struct js_node, max_props),
     JS_K_OBJECT},
    {"maximum", JS_ANY, cc_kw_number, offsetof(struct js_node, maximum),
     JS_K_NUMBER},
    {"minContains", JS_2020, cc_kw_count,
     offsetof(struct js_node, min_contains), 0},
    {"minItems", JS_ANY, cc_kw_count, offsetof(struct js_node, min_items),
     JS_K_ARRAY},
    {"minLength", JS_ANY, cc_kw_count, offsetof(struct js_node, min_length),
     JS_K_STRING},
    {"minProperties", JS_ANY, cc_kw_count, offsetof(struct js_node, min_props),
     JS_K_OBJECT},
    {"minimum", JS_ANY, cc_kw_number, offsetof(struct js_node, minimum),
     JS_K_NUMBER},
    {"multipleOf", JS_ANY, cc_kw_number, offsetof(struct js_node, multiple_of),
     JS_K_NUMBER},
    {"not", JS_ANY, cc_kw_schema, offsetof(struct js_node, not_), JS_K_LOGIC},
    {"oneOf", JS_ANY, cc_kw_list, offsetof(struct js_node, one_of), JS_K_LOGIC},
    {"pattern", JS_ANY, cc_kw_pattern, 0, JS_K_STRING},
    {"patternProperties", JS_ANY, cc_kw_pattern_properties, 0, JS_K_OBJECT},
    {"properties", JS_ANY, cc_kw_properties, 0, JS_K_OBJECT},
    {"propertyNames", JS_ANY, cc_kw_schema,
     offsetof(struct js_node, property_names), JS_K_OBJECT},
    {"required", JS_ANY, cc_kw_required, 0, JS_K_OBJECT},
    {"then", JS_ANY, cc_kw_schema, offsetof(struct js_node, then_), 0},
    {"type", JS_ANY, cc_kw_type, 0, 0},
    {"uniqueItems", JS_ANY, cc_kw_unique, 0, JS_K_ARRAY},
};

static int cc_keyword_cmp(const void *key, const void *elem)
{
  const struct js_keyword *k = elem;

  return strcmp(key, k->name);
}

/* Compiles the array keywords whose meaning depends on each other:
 * prefixItems/items (2020-12), items/additionalItems (draft-07). */
static int cc_items(struct js_cc *cc, struct js_node *n)
{
  json_t *prefix, *rest;
  const char *prefix_kw, *rest_kw;
  struct js_list *l = &n->prefix_items;
  char key[32];
  size_t i;
  int rc;

  if (cc->s->dialect == JS_DRAFT7) {
    prefix_kw = "items";
    rest_kw = "additionalItems";
    prefix = json_object_get(n->json, "items");
    if (prefix != NULL && !json_is_array(prefix)) {
      rest_kw = "items";
      rest = prefix;
      prefix = NULL;
    } else {
      rest = prefix != NULL ? json_object_get(n->json, rest_kw) : NULL;
    }
  } else {
    prefix_kw = "prefixItems";
    rest_kw = "items";
    prefix = json_object_get(n->json, prefix_kw);
    rest = json_object_get(n->json, rest_kw);
    if (rest != NULL && json_is_array(rest))
      return cc_expected(cc, n->path, rest_kw,
                         "a schema (arrays of schemas are prefixItems in "
                         "2020-12)",
                         rest);
  }
  if (prefix != NULL) {
    if (!json_is_array(prefix))
      return cc_expected(cc, n->path, prefix_kw, "an array of schemas", prefix);
    l->v = calloc(json_array_size(prefix) + 1, sizeof(*l->v));
    if (l->v == NULL)
      return SR_ENOMEM;
    for (i = 0; i < json_array_size(prefix); i++) {
      snprintf(key, sizeof(key), "%zu", i);
      rc = cc_sub(cc, n, prefix_kw, key, json_array_get(prefix, i), &l->v[i]);
      if (rc != 0)
        return rc;
      l->n++;
    }
    n->kinds |= JS_K_ARRAY;
  }
  if (rest != NULL) {
    rc = cc_sub(cc, n, rest_kw, NULL, rest, &n->items);
    if (rc != 0)
      return rc;
    n->kinds |= JS_K_ARRAY;
  }
  return 0;
}

/* Handles "$id" and "$anchor": sets n->base and registers the resource
 * or anchor. */
static int cc_ids(struct js_cc *cc, struct js_node *n, const char *base)
{
  json_t *id = json_object_get(n->json, "$id");
  json_t *anchor;
  struct buf b;
  char *copy;
  const char *hash;
  int rc = 0;

  buf_init(&b, BUF_CAP_DEFAULT);
  n->base = base;
  if (id != NULL) {
    if (!json_is_string(id)) {
      rc = cc_expected(cc, n->path, "$id", "a URI string", id);
      goto out;
    }
    rc = uri_resolve(&b, base, json_string_value(id));
    if (rc != 0)
      goto out;
    hash = strchr(buf_str(&b), '#');
    if (hash != NULL && hash[1] != '\0') {
      rc = uri_add(cc->s, buf_str(&b), n->json); /* draft-07 "#name" */
      if (rc != 0)
        goto out;
    }
    if (hash != NULL)
      buf_truncate(&b, (size_t)(hash - buf_str(&b)));
    if (strcmp(buf_str(&b), base) != 0) {
      copy = buf_detach(&b, NULL);
      if (copy == NULL) {
        rc = SR_ENOMEM;
        goto out;
      }
      rc = keep_str(cc->s, copy);
      if (rc != 0)
        goto out;
      n->base = copy;
      rc = uri_add(cc->s, copy, n->json);
      if (rc != 0)
        goto out;
    }
  }
  if (n->json == cc->s->root) {
    rc = uri_add(cc->s, n->base, n->json);
    if (rc != 0)
      goto out;
  }
  anchor = json_object_get(n->json, "$anchor");
  if (anchor != NULL && cc->s->dialect == JS_2020) {
    if (!json_is_string(anchor)) {
      rc = cc_expected(cc, n->path, "$anchor", "a string", anchor);
      goto out;
    }
    buf_reset(&b);
    rc = buf_addf(&b, "%s#%s", n->base, json_string_value(anchor));
    if (rc == 0)
      rc = uri_add(cc->s, buf_str(&b), n->json);
  }
out:
  buf_free(&b);
  return rc;
}

static void node_free(struct js_node *n)
{
  size_t i;

  if (n == NULL)
    return;
  for (i = 0; i < n->npattern_props; i++)
    regfree(&n->pattern_props[i].re);
  if (n->pattern != NULL && n->pattern->source != NULL)
    regfree(&n->pattern->re);
  free(n->pattern);
  free(n->pattern_props);
  free(n->props);
  free(n->deps);
  free(n->prefix_items.v);
  free(n->all_of.v);
  free(n->any_of.v);
  free(n->one_of.v);
  free(n->path);
  free(n);
}

/* Compiles schema json found at JSON pointer path with base URI base
 * into *out (owned by cc->s). A subschema compiled before is shared. */
static int cc_node(struct js_cc *cc, json_t *json, const char *path,
                   const char *base, struct js_node **out)
{
  struct jsonschema *s = cc->s;
  struct js_node *n, **nodes;
  const struct js_keyword *k;
  const char *key;
  json_t *v, *ref;
  int rc;

  *out = NULL;
  /* true and false are jansson singletons: give each place its node */
  n = json_is_boolean(json) ? NULL : map_get(s, json);
  if (n != NULL) {
    *out = n;
    return 0;
  }
  nodes = vec_grow(s->nodes, &s->anodes, s->nnodes + 1, sizeof(*s->nodes));
  if (nodes == NULL)
    return SR_ENOMEM;
  s->nodes = nodes;
  n = calloc(1, sizeof(*n));
  if (n == NULL)
    return SR_ENOMEM;
  n->path = js_strdup(path);
  if (n->path == NULL) {
    free(n);
    return SR_ENOMEM;
  }
  s->nodes[s->nnodes++] = n;
  n->json = json;
  n->base = base;
  n->max_props = n->max_items = n->max_length = n->max_contains = SIZE_MAX;
  n->min_contains = 1;
  if (json_is_boolean(json)) {
    n->boolean = json_is_true(json);
    *out = n;
    return 0;
  }
  n->boolean = -1;
  if (!json_is_object(json))
    return cc_expected(cc, path, NULL, "a schema (object or boolean)", json);
  rc = map_put(s, n);
  if (rc != 0)
    return rc;
  ref = json_object_get(json, "$ref");
  if (ref != NULL && !json_is_string(ref))
    return cc_expected(cc, n->path, "$ref", "a URI string", ref);
  if (ref != NULL)
    n->ref = json_string_value(ref);
  if (ref != NULL && s->dialect == JS_DRAFT7) {
    /* draft-07 ignores $ref's siblings; definitions still hold schemas
     * other $refs may point into */
    rc = json == s->root ? uri_add(s, base, json) : 0;
    v = json_object_get(json, "definitions");
    if (rc == 0 && v != NULL)
      rc = cc_kw_defs(cc, n, "definitions", v, 0);
    if (rc == 0)
      *out = n;
    return rc;
  }
  rc = cc_ids(cc, n, base);
  if (rc != 0)
    return rc;
  json_object_foreach(json, key, v)
  {
    k = bsearch(key, js_keywords, sizeof(js_keywords) / sizeof(*js_keywords),
                sizeof(*js_keywords), cc_keyword_cmp);
    if (k == NULL || !(k->dialects & s->dialect))
      continue; /* unknown keywords are annotations */
    rc = k->parse(cc, n, key, v, k->offset);
    if (rc != 0)
      return rc;
    n->kinds |= k->kinds;
  }
  if (n->contains != NULL && n->min_contains == 0 &&
      n->max_contains == SIZE_MAX)
    n->contains = NULL; /* minContains 0 disables contains */
  rc = cc_items(cc, n);
  if (rc != 0)
    return rc;
  *out = n;
  return 0;
}

/* Resolves n->ref against n->base to a compiled node. Remote documents
 * are not fetched: a reference outside this document fails with
 * SR_ENOTSUP. */
static int cc_resolve(struct js_cc *cc, struct js_node *n)
{
  struct buf uri, frag, path;
  const struct js_uri *res;
  struct js_node *resnode;
  json_t *target = NULL;
  char *hash;
  int rc;

  buf_init(&uri, BUF_CAP_DEFAULT);
  buf_init(&frag, BUF_CAP_DEFAULT);
  buf_init(&path, BUF_CAP_DEFAULT);
  rc = uri_resolve(&uri, n->base, n->ref);
  if (rc != 0)
    goto out;
  hash = strchr(buf_str(&uri), '#');
  if (hash != NULL) {
    rc = uri_unescape(&frag, hash + 1);
    if (rc != 0)
      goto out;
    buf_truncate(&uri, (size_t)(hash - buf_str(&uri)));
  }
  res = uri_find(cc->s, buf_str(&uri));
  if (res == NULL) {
    rc = cc_fail(cc, SR_ENOTSUP, n->path, "$ref",
                 "cannot resolve \"%s\": references to other documents are "
                 "not supported",
                 n->ref);
    goto out;
  }
  if (buf_len(&frag) == 0 || buf_str(&frag)[0] == '/') {
    rc = js_pointer(res->json, buf_str(&frag), &target);
    if (rc != 0)
      goto out;
  } else {
    const struct js_uri *anchor;

    rc = buf_addf(&uri, "#%s", buf_str(&frag));
    if (rc != 0)
      goto out;
    anchor = uri_find(cc->s, buf_str(&uri));
    target = anchor != NULL ? anchor->json : NULL;
  }
  if (target == NULL) {
    rc = cc_fail(cc, SR_EINVAL, n->path, "$ref", "\"%s\" not found", n->ref);
    goto out;
  }
  if (!json_is_object(target) && !json_is_boolean(target)) {
    rc = cc_fail(cc, SR_EINVAL, n->path, "$ref",
                 "\"%s\" points to a %s, not a schema", n->ref,
                 jsonschema_type_name(target));
    goto out;
  }
  n->ref_target = json_is_boolean(target) ? NULL : map_get(cc->s, target);
  if (n->ref_target != NULL)
    goto out;
  resnode = map_get(cc->s, res->json);
  rc = buf_adds(&path, resnode != NULL ? resnode->path : "");
  if (rc == 0 && buf_len(&frag) > 0 && buf_str(&frag)[0] == '/')
    rc = buf_adds(&path, buf_str(&frag));
  if (rc == 0)
    rc = cc_node(cc, target, buf_str(&path), res->uri, &n->ref_target);
out:
  buf_free(&uri);
  buf_free(&frag);
  buf_free(&path);
  return rc;
}

/* Picks the dialect from the root's "$schema". */
static int cc_dialect(struct js_cc *cc, json_t *schema)
{
  static const struct {
    const char *uri;
    int dialect;
  } known[] = {
      {"http://json-schema.org/draft-07/schema", JS_DRAFT7},
      {"https://json-schema.org/draft-07/schema", JS_DRAFT7},
      {"https://json-schema.org/draft/2020-12/schema", JS_2020},
      {"http://json-schema.org/draft/2020-12/schema", JS_2020},
  };
  json_t *v =
      json_is_object(schema) ? json_object_get(schema, "$schema") : NULL;
  const char *s;
  size_t i, len;

  cc->s->dialect = JS_2020;
  if (v == NULL)
    return 0;
  if (!json_is_string(v))
    return cc_expected(cc, NULL, "$schema", "a URI string", v);
  s = json_string_value(v);
  len = strlen(s);
  if (len > 0 && s[len - 1] == '#')
    len--;
  for (i = 0; i < sizeof(known) / sizeof(*known); i++) {
    if (strlen(known[i].uri) == len && strncmp(known[i].uri, s, len) == 0) {
      cc->s->dialect = known[i].dialect;
      return 0;
    }
  }
  return cc_fail(cc, SR_ENOTSUP, NULL, "$schema",
                 "unsupported dialect \"%s\" (expected draft 2020-12 or "
                 "draft-07)",
                 s);
}

int jsonschema_compile(json_t *schema, struct jsonschema **out, char *errbuf,
                       size_t errlen)
{
  struct js_cc cc;
  struct jsonschema *s = NULL;
  size_t i;
  int rc;

  cc.err = errbuf;
  cc.errlen = errlen;
  cc.s = NULL;
  if (errlen > 0)
    errbuf[0] = '\0';
  if (out == NULL || schema == NULL) {
    rc = cc_fail(&cc, SR_EINVAL, NULL, NULL, "no schema");
    goto out;
  }
  *out = NULL;
  s = calloc(1, sizeof(*s));
  if (s == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  cc.s = s;
  s->root = json_incref(schema);
  rc = cc_dialect(&cc, schema);
  if (rc != 0)
    goto out;
  rc = cc_node(&cc, schema, "", "", &s->root_node);
  if (rc != 0)
    goto out;
  /* resolving may compile more nodes, which may hold more $refs */
  for (i = 0; i < s->nnodes; i++) {
    if (s->nodes[i]->ref == NULL)
      continue;
    rc = cc_resolve(&cc, s->nodes[i]);
    if (rc != 0)
      goto out;
  }
  *out = s;
  s = NULL;
out:
  if (rc == SR_ENOMEM && errlen > 0)
    snprintf(errbuf, errlen, "%s", sr_strerror(rc));
  jsonschema_free(s);
  return rc;
}

void jsonschema_free(struct jsonschema *s)
{
  size_t i;

  if (s == NULL)
    return;
  for (i = 0; i < s->nnodes; i++)
    node_free(s->nodes[i]);
  for (i = 0; i < s->nuris; i++)
    free(s->uris[i].uri);
  for (i = 0; i < s->nstrs; i++)
    free(s->strs[i]);
  free(s->nodes);
  free(s->map);
  free(s->uris);
  free(s->strs);
  json_decref(s->root);
  free(s);
}

/* ---- validating ---- */

/* Starts a failure message: returns 1 if the caller should write it into
 * c->msg (reporting), 0 if not (probing). */
static int vc_begin(struct js_vc *c)
{
  if (c->probing)
    return 0;
  buf_reset(&c->msg);
  c->oom = 0;
  if (c->msg_prefix != NULL && buf_adds(&c->msg, c->msg_prefix) != 0)
    c->oom = 1;
  return 1;
}

static void m_adds(struct js_vc *c, const char *s)
{
  if (buf_adds(&c->msg, s) != 0)
    c->oom = 1;
}

static void m_addf(struct js_vc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void m_addf(struct js_vc *c, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  if (buf_vaddf(&c->msg, fmt, ap) != 0)
    c->oom = 1;
  va_end(ap);
}

static void m_value(struct js_vc *c, const json_t *v)
{
  if (b_value(&c->msg, v) != 0)
    c->oom = 1;
}

static void m_typed(struct js_vc *c, const json_t *v)
{
  if (b_typed(&c->msg, v) != 0)
    c->oom = 1;
}

static void m_quoted(struct js_vc *c, const char *s, size_t max)
{
  if (b_quoted(&c->msg, s, strlen(s), max) != 0)
    c->oom = 1;
}

/* Counts one failure of keyword kw (and key; either may be NULL) of n,
 * whose message vc_begin() let the caller write into c->msg, and reports
 * it. Returns 0 or SR_ENOMEM. */
static int vc_end(struct js_vc *c, const struct js_node *n, const char *kw,
                  const char *key)
{
  struct jsonschema_error e;
  int rc;

  c->failures++;
  if (c->probing) {
    c->stop = 1;
    return 0;
  }
  if (c->oom)
    return SR_ENOMEM;
  buf_reset(&c->kpath);
  rc = buf_adds(&c->kpath, n->path);
  if (rc == 0 && kw != NULL)
    rc = b_pointer_seg(&c->kpath, kw);
  if (rc == 0 && key != NULL)
    rc = b_pointer_seg(&c->kpath, key);
  if (rc != 0)
    return rc;
  if (c->cb == NULL)
    return 0;
  e.instance_path = buf_str(&c->ipath);
  e.keyword_path = buf_str(&c->kpath);
  e.message = buf_str(&c->msg);
  if (c->cb(c->data, &e) != 0)
    c->stop = 1;
  return 0;
}

/* Evaluates n against inst without reporting. Returns 1 if valid, 0 if
 * not, or a negative SR_ code. */
static int vc_probe(struct js_vc *c, const struct js_node *n,
                    const json_t *inst)
{
  int probing = c->probing, failures = c->failures, stop = c->stop, rc;

  c->probing = 1;
  c->failures = 0;
  c->stop = 0;
  rc = vc_node(c, n, inst);
  if (rc == 0)
    rc = c->failures == 0;
  c->probing = probing;
  c->failures = failures;
  c->stop = stop;
  return rc;
}

/* Validates child, the member key (or, if key is NULL, the item index) of
 * the current instance, against n. */
static int vc_child(struct js_vc *c, const struct js_node *n,
                    const json_t *child, const char *key, size_t index)
{
  size_t len = buf_len(&c->ipath);
  int chain = c->ref_chain, rc;

  if (!c->probing) {
    rc = key != NULL ? b_pointer_seg(&c->ipath, key)
                     : buf_addf(&c->ipath, "/%zu", index);
    if (rc != 0)
      return rc;
  }
  c->ref_chain = 0;
  rc = vc_node(c, n, child);
  c->ref_chain = chain;
  if (!c->probing && rc == 0)
    buf_truncate(&c->ipath, len);
  return rc;
}

static int vc_type(struct js_vc *c, const struct js_node *n, const json_t *inst,
                   unsigned types)
{
  size_t i, size;

  if (n->types != 0 && !(n->types & types)) {
    if (vc_begin(c)) {
      m_adds(c, "expected ");
      if (b_types(&c->msg, n->type_order, n->ntypes) != 0)
        c->oom = 1;
      m_adds(c, ", found ");
      m_typed(c, inst);
    }
    /* const and enum would only say the same again */
    return vc_end(c, n, "type", NULL);
  }
  if (n->const_value != NULL &&
      !js_equal(n->const_value, inst, c->unknown, 1, &c->unknown_hits)) {
    if (vc_begin(c)) {
      m_adds(c, "expected ");
      m_value(c, n->const_value);
      m_adds(c, ", found ");
      m_value(c, inst);
    }
    return vc_end(c, n, "const", NULL);
  }
  if (n->enum_values == NULL)
    return 0;
  size = json_array_size(n->enum_values);
  for (i = 0; i < size; i++)
    if (js_equal(json_array_get(n->enum_values, i), inst, c->unknown, 1,
                 &c->unknown_hits))
      return 0;
  if (vc_begin(c)) {
    m_adds(c, size == 1 ? "expected " : "expected one of ");
    for (i = 0; i < size && i < 10; i++) {
      if (i > 0)
        m_adds(c, ", ");
      m_value(c, json_array_get(n->enum_values, i));
    }
    if (i < size)
      m_adds(c, ", ...");
    m_adds(c, ", found ");
    m_value(c, inst);
  }
  return vc_end(c, n, "enum", NULL);
}

/* The declared property of n closest to key and absent from inst, or
 * NULL. */
static const char *vc_suggest(const struct js_node *n, const char *key,
                              const json_t *inst)
{
  json_t *props = json_object_get(n->json, "properties");
  struct suggest sg;
  const char *name;
  json_t *v;

  suggest_init(&sg, key, JS_SUGGEST_DISTANCE);
  json_object_foreach(props, name, v)
  {
    if (json_object_get(inst, name) == NULL)
      suggest_add(&sg, name);
  }
  return suggest_best(&sg);
}

static const struct js_prop *vc_find_prop(const struct js_node *n,
                                          const char *key)
{
  struct js_prop k;

  if (n->nprops == 0)
    return NULL;
  k.name = key;
  return bsearch(&k, n->props, n->nprops, sizeof(*n->props), cc_prop_cmp);
}

/* Checks one member of an object: properties, patternProperties,
 * additionalProperties and propertyNames. */
static int vc_member(struct js_vc *c, const struct js_node *n,
                     const json_t *inst, const char *key, const json_t *val)
{
  const struct js_prop *p = vc_find_prop(n, key);
  int matched = p != NULL, rc = 0;
  size_t i, len;

  if (p != NULL) {
    rc = vc_child(c, p->schema, val, key, 0);
    if (rc < 0 || c->stop)
      return rc;
  }
  for (i = 0; i < n->npattern_props; i++) {
    if (regexec(&n->pattern_props[i].re, key, 0, NULL, 0) != 0)
      continue;
    matched = 1;
    rc = vc_child(c, n->pattern_props[i].schema, val, key, 0);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (!matched && n->additional_props != NULL) {
    if (n->additional_props->boolean == 0) {
      len = buf_len(&c->ipath);
      if (vc_begin(c)) {
        const char *best = vc_suggest(n, key, inst);

        m_adds(c, "unexpected property ");
        m_quoted(c, key, JS_RENDER_MAX);
        if (best != NULL) {
          m_adds(c, " (did you mean ");
          m_quoted(c, best, SIZE_MAX);
          m_adds(c, "?)");
        }
        if (b_pointer_seg(&c->ipath, key) != 0)
          return SR_ENOMEM;
      }
      rc = vc_end(c, n->additional_props, NULL, NULL);
      if (!c->probing && rc == 0)
        buf_truncate(&c->ipath, len);
    } else {
      rc = vc_child(c, n->additional_props, val, key, 0);
    }
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->property_names != NULL) {
    json_t *name = json_string(key);
    const char *prefix = c->msg_prefix;

    if (name == NULL)
      return SR_ENOMEM;
    c->msg_prefix = "invalid property name: ";
    rc = vc_child(c, n->property_names, name, key, 0);
    c->msg_prefix = prefix;
    json_decref(name);
  }
  return rc;
}

static int vc_object(struct js_vc *c, const struct js_node *n,
                     const json_t *inst)
{
  size_t i, j, size = json_object_size(inst);
  const char *key;
  json_t *val;
  int rc = 0;

  for (i = 0; i < json_array_size(n->required); i++) {
    const char *name = json_string_value(json_array_get(n->required, i));

    if (json_object_get(inst, name) != NULL)
      continue;
    if (vc_begin(c)) {
      m_adds(c, "missing required property ");
      m_quoted(c, name, SIZE_MAX);
    }
    rc = vc_end(c, n, "required", NULL);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (size < n->min_props || size > n->max_props) {
    int under = size < n->min_props;
    size_t limit = under ? n->min_props : n->max_props;

    if (vc_begin(c))
      m_addf(c, "expected at %s %zu %s, found %zu", under ? "least" : "most",
             limit, limit == 1 ? "property" : "properties", size);
    rc = vc_end(c, n, under ? "minProperties" : "maxProperties", NULL);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->nprops > 0 || n->npattern_props > 0 || n->additional_props ||
      n->property_names) {
    /* jansson iterates without modifying, whatever the signature says */
    json_object_foreach((json_t *)inst, key, val)
    {
      rc = vc_member(c, n, inst, key, val);
      if (rc < 0 || c->stop)
        return rc;
    }
  }
  for (i = 0; i < n->ndeps; i++) {
    const struct js_dep *d = &n->deps[i];

    if (json_object_get(inst, d->name) == NULL)
      continue;
    if (d->schema != NULL) {
      rc = vc_node(c, d->schema, inst);
      if (rc < 0 || c->stop)
        return rc;
      continue;
    }
    for (j = 0; j < json_array_size(d->required); j++) {
      const char *name = json_string_value(json_array_get(d->required, j));

      if (json_object_get(inst, name) != NULL)
        continue;
      if (vc_begin(c)) {
        m_adds(c, "missing property ");
        m_quoted(c, name, SIZE_MAX);
        m_adds(c, ", required when ");
        m_quoted(c, d->name, SIZE_MAX);
        m_adds(c, " is present");
      }
      rc = vc_end(c, n, d->keyword, d->name);
      if (rc < 0 || c->stop)
        return rc;
    }
  }
  return 0;
}

static uint64_t js_mix(uint64_t h)
{
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return h;
}

static uint64_t js_hash_bytes(const char *s, size_t len)
{
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  size_t i;

  for (i = 0; i < len; i++) {
    h ^= (unsigned char)s[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

/* A hash consistent with js_equal: equal values hash alike. */
static uint64_t js_hash(const json_t *v)
{
  uint64_t h, bits;
  const char *key;
  json_t *val;
  double d;
  size_t i;

  switch (json_typeof(v)) {
  case JSON_STRING:
    return js_hash_bytes(json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
  case JSON_REAL:
    d = json_number_value(v);
    if (d == 0)
      d = 0; /* -0.0 equals 0 */
    memcpy(&bits, &d, sizeof(bits));
    return js_mix(bits ^ 1);
  case JSON_ARRAY:
    h = 2;
    for (i = 0; i < json_array_size(v); i++)
      h = js_mix(h * 31 + js_hash(json_array_get(v, i)));
    return h;
  case JSON_OBJECT:
    h = 3;
    /* a sum, as member order does not matter */
    json_object_foreach((json_t *)v, key, val)
    {
      h += js_mix(js_hash_bytes(key, strlen(key)) ^ (js_hash(val) * 7));
    }
    return h;
  case JSON_TRUE:
    return 4;
  case JSON_FALSE:
    return 5;
  case JSON_NULL:
    return 6;
  }
  return 0;
}

struct js_hashed {
  uint64_t hash;
  size_t index;
};

static int js_hashed_cmp(const void *a, const void *b)
{
  const struct js_hashed *x = a, *y = b;

  if (x->hash != y->hash)
    return x->hash < y->hash ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

/* Finds the duplicate pair i < j with the smallest j; returns 1 and sets
 * them, 0 if the items are unique, or SR_ENOMEM. Items that are (or
 * contain) `unknown` never count as equal. */
static int vc_duplicates(struct js_vc *c, const json_t *inst, size_t *pi,
                         size_t *pj)
{
  size_t n = json_array_size(inst), a, b, run, found = 0;
  struct js_hashed *h;

  h = malloc((n ? n : 1) * sizeof(*h));
  if (h == NULL)
    return SR_ENOMEM;
  for (a = 0; a < n; a++) {
    h[a].hash = js_hash(json_array_get(inst, a));
    h[a].index = a;
  }
  qsort(h, n, sizeof(*h), js_hashed_cmp);
  for (run = 0; run < n; run = b) {
    for (b = run + 1; b < n && h[b].hash == h[run].hash; b++)
      ;
    for (a = run; a < b; a++) {
      size_t k;

      for (k = a + 1; k < b; k++) {
        const json_t *x = json_array_get(inst, h[a].index);
        const json_t *y = json_array_get(inst, h[k].index);

        if (found && h[k].index >= *pj)
          break;
        if (js_equal(x, y, c->unknown, 0, NULL)) {
          *pi = h[a].index;
          *pj = h[k].index;
          found = 1;
          break;
        }
      }
    }
  }
  free(h);
  return found ? 1 : 0;
}

/* contains, with minContains/maxContains. A match that holds only
 * because of `unknown` counts for minContains but not for maxContains,
 * so neither can fail because of a value not yet known. */
static int vc_contains(struct js_vc *c, const struct js_node *n,
                       const json_t *inst)
{
  size_t i, size = json_array_size(inst), possible = 0, certain = 0;
  int rc;

  for (i = 0; i < size; i++) {
    unsigned long hits = c->unknown_hits;

    rc = vc_probe(c, n->contains, json_array_get(inst, i));
    if (rc < 0)
      return rc;
    if (rc == 1) {
      possible++;
      certain += hits == c->unknown_hits;
    }
    if (n->max_contains == SIZE_MAX && possible >= n->min_contains)
      return 0;
  }
  if (possible < n->min_contains) {
    if (vc_begin(c))
      m_addf(c, "expected at least %zu item%s matching \"contains\", found %zu",
             n->min_contains, n->min_contains == 1 ? "" : "s", possible);
    return vc_end(c, n, n->min_contains == 1 ? "contains" : "minContains",
                  NULL);
  }
  if (certain > n->max_contains) {
    if (vc_begin(c))
      m_addf(c, "expected at most %zu item%s matching \"contains\", found %zu",
             n->max_contains, n->max_contains == 1 ? "" : "s", certain);
    return vc_end(c, n, "maxContains", NULL);
  }
  return 0;
}

static int vc_array(struct js_vc *c, const struct js_node *n,
                    const json_t *inst)
{
  size_t i, j, size = json_array_size(inst), start = 0;
  int rc;

  if (size < n->min_items || size > n->max_items) {
    int under = size < n->min_items;
    size_t limit = under ? n->min_items : n->max_items;

    if (vc_begin(c))
      m_addf(c, "expected at %s %zu item%s, found %zu",
             under ? "least" : "most", limit, limit == 1 ? "" : "s", size);
    rc = vc_end(c, n, under ? "minItems" : "maxItems", NULL);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->unique_items && size > 1) {
    rc = vc_duplicates(c, inst, &i, &j);
    if (rc < 0)
      return rc;
    if (rc == 1) {
      if (vc_begin(c))
        m_addf(c, "expected unique items, found duplicates at %zu and %zu", i,
               j);
      rc = vc_end(c, n, "uniqueItems", NULL);
      if (rc < 0 || c->stop)
        return rc;
    }
  }
  for (i = 0; i < n->prefix_items.n && i < size; i++) {
    rc = vc_child(c, n->prefix_items.v[i], json_array_get(inst, i), NULL, i);
    if (rc < 0 || c->stop)
      return rc;
  }
  start = n->prefix_items.n;
  if (n->items != NULL && n->items->boolean == 0 && size > start) {
    /* one failure for the array beats one per extra item */
    if (vc_begin(c))
      m_addf(c, "expected at most %zu item%s, found %zu", start,
             start == 1 ? "" : "s", size);
    rc = vc_end(c, n->items, NULL, NULL);
    if (rc < 0 || c->stop)
      return rc;
  } else if (n->items != NULL && n->items->boolean != 1) {
    for (i = start; i < size; i++) {
      rc = vc_child(c, n->items, json_array_get(inst, i), NULL, i);
      if (rc < 0 || c->stop)
        return rc;
    }
  }
  if (n->contains != NULL)
    return vc_contains(c, n, inst);
  return 0;
}

/* Length of UTF-8 string s (len bytes) in code points. */
static size_t js_utf8_len(const char *s, size_t len)
{
  size_t i, n = 0;

  for (i = 0; i < len; i++)
    n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

static int vc_string(struct js_vc *c, const struct js_node *n,
                     const json_t *inst)
{
  const char *s = json_string_value(inst);
  size_t len;
  int rc;

  if (n->min_length > 0 || n->max_length != SIZE_MAX) {
    len = js_utf8_len(s, json_string_length(inst));
    if (len < n->min_length || len > n->max_length) {
      int under = len < n->min_length;
      size_t limit = under ? n->min_length : n->max_length;

      if (vc_begin(c))
        m_addf(c, "expected at %s %zu character%s, found %zu",
               under ? "least" : "most", limit, limit == 1 ? "" : "s", len);
      rc = vc_end(c, n, under ? "minLength" : "maxLength", NULL);
      if (rc < 0 || c->stop)
        return rc;
    }
  }
  if (n->pattern != NULL && regexec(&n->pattern->re, s, 0, NULL, 0) != 0) {
    if (vc_begin(c)) {
      m_value(c, inst);
      m_adds(c, " does not match pattern ");
      m_quoted(c, n->pattern->source, SIZE_MAX);
    }
    return vc_end(c, n, "pattern", NULL);
  }
  return 0;
}

/* 1 if number v is a multiple of m (> 0). Reals are compared with a
 * tolerance, as 0.0075 / 0.0001 is not exactly 75 in binary. */
static int js_multiple(const json_t *v, const json_t *m)
{
  double q, r;

  if (json_is_integer(v) && json_is_integer(m))
    return json_integer_value(v) % json_integer_value(m) == 0;
  q = json_number_value(v) / json_number_value(m);
  if (!isfinite(q))
    return 0;
  r = fabs(q - nearbyint(q));
  return r <= 1e-9 || r <= fabs(q) * 4 * DBL_EPSILON;
}

static int vc_number(struct js_vc *c, const struct js_node *n,
                     const json_t *inst)
{
  static const char *const ops[] = {">=", "<=", ">", "<"};
  static const char *const kws[] = {"minimum", "maximum", "exclusiveMinimum",
                                    "exclusiveMaximum"};
  const json_t *bounds[4];
  int i, rc, cmp, bad;

  bounds[0] = n->minimum;
  bounds[1] = n->maximum;
  bounds[2] = n->exclusive_minimum;
  bounds[3] = n->exclusive_maximum;
  for (i = 0; i < 4; i++) {
    if (bounds[i] == NULL)
      continue;
    cmp = js_num_cmp(inst, bounds[i]);
    bad = i == 0 ? cmp < 0 : i == 1 ? cmp > 0 : i == 2 ? cmp <= 0 : cmp >= 0;
    if (!bad)
      continue;
    if (vc_begin(c)) {
      m_addf(c, "expected a value %s ", ops[i]);
      m_value(c, bounds[i]);
      m_adds(c, ", found ");
      m_value(c, inst);
    }
    rc = vc_end(c, n, kws[i], NULL);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->multiple_of != NULL && !js_multiple(inst, n->multiple_of)) {
    if (vc_begin(c)) {
      m_adds(c, "expected a multiple of ");
      m_value(c, n->multiple_of);
      m_adds(c, ", found ");
      m_value(c, inst);
    }
    return vc_end(c, n, "multipleOf", NULL);
  }
  return 0;
}

/* The node holding the "type" of branch b (following $refs), or NULL
 * when b does not constrain the type. */
static const struct js_node *vc_branch_typed(const struct js_node *b)
{
  int depth;

  for (depth = 0; b != NULL && depth < 8; depth++) {
    if (b->boolean >= 0)
      return NULL;
    if (b->types != 0)
      return b;
    b = b->ref_target;
  }
  return NULL;
}

/* 1 if n's "required" names property name. */
static int js_is_required(const struct js_node *n, const char *name)
{
  size_t i;

  for (i = 0; i < json_array_size(n->required); i++)
    if (strcmp(json_string_value(json_array_get(n->required, i)), name) == 0)
      return 1;
  return 0;
}

/* How close a failing branch is to the instance (see vc_close). */
enum {
  JS_CLOSE = 1,          /* type and discriminators do not contradict */
  JS_CLOSE_KEYED = 2,    /* and some discriminator is present and matches */
  JS_CLOSE_COMPLETE = 4, /* and every required property is present */
};

/* Scores failing branch b against inst. b is close when its "type" (if
 * any) matches and every property of its "properties" whose schema has a
 * "const" or "enum" (a discriminator) either matches or, when not
 * "required", is absent; $ref targets and allOf members must be close
 * too. Returns 0 or JS_CLOSE plus the JS_CLOSE_* refinements. */
static unsigned vc_close(const struct js_vc *c, const struct js_node *b,
                         const json_t *inst, int depth)
{
  unsigned score = JS_CLOSE | JS_CLOSE_COMPLETE, sub;
  size_t i;

  if (depth > 8)
    return JS_CLOSE;
  if (b->boolean >= 0)
    return b->boolean ? score : 0;
  if (b->types != 0 && !(b->types & js_inst_types(inst)))
    return 0;
  for (i = 0; json_is_object(inst) && i < json_array_size(b->required); i++)
    if (json_object_get(
            inst, json_string_value(json_array_get(b->required, i))) == NULL)
      score &= ~(unsigned)JS_CLOSE_COMPLETE;
  for (i = 0; json_is_object(inst) && i < b->nprops; i++) {
    const struct js_node *p = b->props[i].schema;
    const json_t *v;
    size_t j;
    int ok = 0;

    if (p->boolean >= 0 || (p->const_value == NULL && p->enum_values == NULL))
      continue;
    v = json_object_get(inst, b->props[i].name);
    if (v == NULL) {
      if (js_is_required(b, b->props[i].name))
        return 0;
      continue;
    }
    if (v == c->unknown)
      continue;
    if (p->const_value != NULL &&
        !js_equal(p->const_value, v, c->unknown, 1, NULL))
      return 0;
    for (j = 0; p->enum_values != NULL && j < json_array_size(p->enum_values);
         j++)
      ok |= js_equal(json_array_get(p->enum_values, j), v, c->unknown, 1, NULL);
    if (p->enum_values != NULL && !ok)
      return 0;
    score |= JS_CLOSE_KEYED;
  }
  for (i = 0; i <= b->all_of.n; i++) {
    const struct js_node *m = i < b->all_of.n ? b->all_of.v[i] : b->ref_target;

    if (m == NULL)
      continue;
    sub = vc_close(c, m, inst, depth + 1);
    if (sub == 0)
      return 0;
    score = (score & sub & ~(unsigned)JS_CLOSE_KEYED) |
            ((score | sub) & JS_CLOSE_KEYED);
  }
  return score;
}

/* Reports that no branch of anyOf/oneOf kw matched. If exactly one branch
 * is close, its own failures are reported instead of a summary; ties are
 * broken by preferring the one branch whose discriminator is present, then
 * the one branch whose required properties are all present. */
static int vc_no_match(struct js_vc *c, const struct js_node *n, const char *kw,
                       const struct js_list *l, const json_t *inst)
{
  static const unsigned tiers[] = {JS_CLOSE, JS_CLOSE | JS_CLOSE_KEYED,
                                   JS_CLOSE | JS_CLOSE_COMPLETE};
  unsigned char order[8];
  unsigned types = 0;
  size_t i, j, t, count, pick = 0, ntypes = 0;
  int all_typed = 1;

  if (c->probing)
    return vc_end(c, n, kw, NULL);
  for (i = 0; i < l->n; i++) {
    const struct js_node *typed = vc_branch_typed(l->v[i]);

    all_typed &= typed != NULL;
    for (j = 0; typed != NULL && j < typed->ntypes; j++) {
      if (types & (1u << typed->type_order[j]))
        continue;
      types |= 1u << typed->type_order[j];
      order[ntypes++] = typed->type_order[j];
    }
  }
  /* scoring is cheap next to validating: recompute it per tier rather
   * than allocate */
  for (t = 0; t < sizeof(tiers) / sizeof(*tiers); t++) {
    for (i = 0, count = 0; i < l->n; i++) {
      if ((vc_close(c, l->v[i], inst, 0) & tiers[t]) == tiers[t]) {
        count++;
        pick = i;
      }
    }
    if (count == 1)
      return vc_node(c, l->v[pick], inst);
  }
  if (vc_begin(c)) {
    if (all_typed && !(types & js_inst_types(inst))) {
      m_adds(c, "expected ");
      if (b_types(&c->msg, order, ntypes) != 0)
        c->oom = 1;
    } else {
      m_addf(c, "expected one of %zu alternatives", l->n);
    }
    m_adds(c, ", found ");
    m_typed(c, inst);
  }
  return vc_end(c, n, kw, NULL);
}

static int vc_any_of(struct js_vc *c, const struct js_node *n,
                     const json_t *inst)
{
  size_t i;
  int rc;

  for (i = 0; i < n->any_of.n; i++) {
    rc = vc_probe(c, n->any_of.v[i], inst);
    if (rc != 0)
      return rc < 0 ? rc : 0;
  }
  return vc_no_match(c, n, "anyOf", &n->any_of, inst);
}

/* oneOf. When several branches match but one of them only thanks to
 * `unknown`, the run-time value may still settle it: not a failure. */
static int vc_one_of(struct js_vc *c, const struct js_node *n,
                     const json_t *inst)
{
  size_t i, matches = 0, first = 0, second = 0;
  int rc, uncertain = 0;

  for (i = 0; i < n->one_of.n; i++) {
    unsigned long hits = c->unknown_hits;

    rc = vc_probe(c, n->one_of.v[i], inst);
    if (rc < 0)
      return rc;
    if (rc == 0)
      continue;
    uncertain |= hits != c->unknown_hits;
    if (matches == 0)
      first = i;
    else if (matches == 1)
      second = i;
    matches++;
  }
  if (matches == 0)
    return vc_no_match(c, n, "oneOf", &n->one_of, inst);
  if (matches == 1 || uncertain)
    return 0;
  if (vc_begin(c))
    m_addf(c,
           "expected exactly one of %zu alternatives to match, found %zu "
           "(%zu and %zu%s)",
           n->one_of.n, matches, first, second, matches > 2 ? ", ..." : "");
  return vc_end(c, n, "oneOf", NULL);
}

/* allOf, anyOf, oneOf, not and if/then/else. */
static int vc_logic(struct js_vc *c, const struct js_node *n,
                    const json_t *inst)
{
  unsigned long hits;
  size_t i;
  int rc;

  for (i = 0; i < n->all_of.n; i++) {
    rc = vc_node(c, n->all_of.v[i], inst);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->any_of.n > 0) {
    rc = vc_any_of(c, n, inst);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->one_of.n > 0) {
    rc = vc_one_of(c, n, inst);
    if (rc < 0 || c->stop)
      return rc;
  }
  if (n->not_ != NULL) {
    hits = c->unknown_hits;
    rc = vc_probe(c, n->not_, inst);
    if (rc < 0)
      return rc;
    if (rc == 1 && hits == c->unknown_hits) {
      if (vc_begin(c)) {
        m_adds(c, "expected a value not matching the \"not\" schema, found ");
        m_typed(c, inst);
      }
      rc = vc_end(c, n, "not", NULL);
      if (rc < 0 || c->stop)
        return rc;
    }
  }
  if (n->if_ != NULL && (n->then_ != NULL || n->else_ != NULL)) {
    hits = c->unknown_hits;
    rc = vc_probe(c, n->if_, inst);
    if (rc < 0)
      return rc;
    if (rc == 1 && hits != c->unknown_hits)
      return 0; /* "if" may go either way at run time */
    if (rc == 1 && n->then_ != NULL)
      return vc_node(c, n->then_, inst);
    if (rc == 0 && n->else_ != NULL)
      return vc_node(c, n->else_, inst);
  }
  return 0;
}

/* Validates inst against n, reporting or probing as c says. Returns 0
 * (failures are counted in c) or a negative SR_ code. */
static int vc_node(struct js_vc *c, const struct js_node *n, const json_t *inst)
{
  unsigned types;
  int rc = 0;

  if (inst == c->unknown) {
    c->unknown_hits++;
    return 0;
  }
  if (n->boolean == 1)
    return 0;
  if (n->boolean == 0) {
    if (vc_begin(c)) {
      m_adds(c, "expected no value here, found ");
      m_typed(c, inst);
    }
    return vc_end(c, n, NULL, NULL);
  }
  if (c->depth >= JS_MAX_DEPTH) {
    if (vc_begin(c))
      m_addf(c, "expected at most %d nested schemas, found more", JS_MAX_DEPTH);
    return vc_end(c, n, NULL, NULL);
  }
  if (n->ref_target != NULL && c->ref_chain >= JS_MAX_REF_CHAIN) {
    if (vc_begin(c))
      m_addf(c,
             "expected at most %d $refs in a row for one value, found more "
             "(the schema loops)",
             JS_MAX_REF_CHAIN);
    return vc_end(c, n, "$ref", NULL);
  }
  c->depth++;
  if (n->ref_target != NULL) {
    c->ref_chain++;
    rc = vc_node(c, n->ref_target, inst);
    c->ref_chain--;
    if (rc < 0 || c->stop)
      goto out;
  }
  types = js_inst_types(inst);
  rc = vc_type(c, n, inst, types);
  if (rc < 0 || c->stop)
    goto out;
  if ((types & JS_T_OBJECT) && (n->kinds & JS_K_OBJECT))
    rc = vc_object(c, n, inst);
  else if ((types & JS_T_ARRAY) && (n->kinds & JS_K_ARRAY))
    rc = vc_array(c, n, inst);
  else if ((types & JS_T_STRING) && (n->kinds & JS_K_STRING))
    rc = vc_string(c, n, inst);
  else if ((types & JS_T_NUMBER) && (n->kinds & JS_K_NUMBER))
    rc = vc_number(c, n, inst);
  if (rc < 0 || c->stop)
    goto out;
  if (n->kinds & JS_K_LOGIC)
    rc = vc_logic(c, n, inst);
out:
  c->depth--;
  return rc;
}

int jsonschema_validate(const struct jsonschema *schema, const json_t *instance,
                        const json_t *unknown, jsonschema_error_cb cb,
                        void *data)
{
  struct js_vc c;
  int rc;

  if (schema == NULL || instance == NULL)
    return SR_EINVAL;
  memset(&c, 0, sizeof(c));
  c.unknown = unknown;
  c.cb = cb;
  c.data = data;
  buf_init(&c.ipath, BUF_CAP_DEFAULT);
  buf_init(&c.kpath, BUF_CAP_DEFAULT);
  buf_init(&c.msg, BUF_CAP_DEFAULT);
  rc = vc_node(&c, schema->root_node, instance);
  if (rc == 0)
    rc = c.failures;
  buf_free(&c.ipath);
  buf_free(&c.kpath);
  buf_free(&c.msg);
  return rc;
}
