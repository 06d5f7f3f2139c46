/* Expressions: templates with `${{ ... }}` parts, parsed once into an AST
 * and evaluated against a JSON context. The language is in expr.h. */
#include "expr.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "suggest.h"

/* Nesting of parentheses, indexes and call arguments. It bounds the
 * parser's recursion, which fuzzed input must not be able to exhaust. */
#define EXPR_MAX_DEPTH 64
/* Height of the tree. Postfix chains (a.b.c...) grow it without parser
 * recursion, and evaluation, freeing and the reference walk recurse
 * along it. */
#define EXPR_MAX_HEIGHT 256
#define EXPR_MAX_RANGE 100000
/* Nesting of a JSON value turned into text; jansson's decoder stops at
 * 2048 too, and values built in code get no deeper than the stack allows. */
#define EXPR_MAX_JSON_DEPTH 2048
#define EXPR_MAX_KEYS_SHOWN 8
/* "Did you mean" suggestions: at most this many edits, and names longer
 * than EXPR_SUGGEST_LEN are not compared (keeps the table on the stack). */
#define EXPR_SUGGEST_DIST 2
#define EXPR_SUGGEST_LEN 64

enum node_kind { N_LITERAL, N_ROOT, N_MEMBER, N_INDEX, N_CALL };

struct eval;
struct node;

struct func {
  const char *name;
  size_t min_args;
  size_t max_args; /* 0: no limit */
  int (*fn)(struct eval *ev, const struct node *n, json_t **args, json_t **out);
};

struct node {
  enum node_kind kind;
  size_t start;  /* first byte of the whole subexpression */
  size_t offset; /* its own token: name, '[', function name or literal */
  int height;
  json_t *value;     /* N_LITERAL */
  char *name;        /* N_ROOT, N_MEMBER */
  struct node *base; /* N_MEMBER, N_INDEX */
  struct node *sub;  /* N_INDEX: the index expression */
  const struct func *fn;
  struct node **args; /* N_CALL */
  size_t nargs;
};

struct part {
  struct node *node; /* NULL for literal text */
  char *text;
  size_t len;
  size_t offset;
};

struct expr {
  struct part *parts;
  size_t nparts;
  size_t alloc;
  int dynamic;
  const struct node *single; /* the expression when it is the template */
  struct expr_ref *refs;
  size_t nrefs;
  struct expr_segment *segs;
  size_t nsegs;
};

enum tok_kind {
  T_EOF,
  T_END, /* }} */
  T_IDENT,
  T_NUMBER,
  T_STRING,
  T_DOT,
  T_LBRACK,
  T_RBRACK,
  T_LPAREN,
  T_RPAREN,
  T_COMMA,
  T_BAD
};

struct tok {
  enum tok_kind kind;
  size_t start;
  size_t end;
  int is_real; /* T_NUMBER */
};

struct parser {
  const char *text;
  size_t len;
  size_t pos;
  size_t expr_start; /* the "${{" */
  int depth;
  struct tok tok;
  struct expr_error *err;
};

struct eval {
  json_t *ctx;
  json_t *unknown;
  struct expr_error *err;
};

/* Fills *err (which may be NULL) and returns code. A message too long for
 * err->message is cut on a UTF-8 character boundary. */
static int expr_fail(struct expr_error *err, size_t offset, int code,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int expr_fail(struct expr_error *err, size_t offset, int code,
                     const char *fmt, ...)
{
  char tmp[1024];
  va_list ap;
  size_t len;
  int n;

  if (err == NULL)
    return code;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  len = n < 0 ? 0 : (size_t)n;
  if (len >= sizeof(err->message)) {
    len = sizeof(err->message) - 1;
    while (len > 0 && ((unsigned char)tmp[len] & 0xC0) == 0x80)
      len--;
  }
  memcpy(err->message, tmp, len);
  err->message[len] = '\0';
  err->offset = offset;
  return code;
}

/* The error for a failed buf_add (which has already freed the buffer). */
static int buf_fail(struct expr_error *err, size_t offset, int rc)
{
  if (rc == SR_ETOOBIG)
    return expr_fail(err, offset, rc, "result too large");
  return expr_fail(err, offset, rc, "out of memory");
}

static int oom(struct expr_error *err, size_t offset)
{
  return expr_fail(err, offset, SR_ENOMEM, "out of memory");
}

/* Length of the valid UTF-8 sequence at s with n bytes available, or 0.
 * The rules are jansson's (no overlong forms, surrogates or code points
 * above U+10FFFF), so every string we build is one jansson accepts. */
static size_t utf8_len(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  unsigned long cp;
  size_t len, i;

  if (s[0] < 0x80)
    return 1;
  if (s[0] < 0xC2)
    return 0;
  if (s[0] < 0xE0) {
    len = 2;
    cp = s[0] & 0x1F;
  } else if (s[0] < 0xF0) {
    len = 3;
    cp = s[0] & 0x0F;
  } else if (s[0] < 0xF5) {
    len = 4;
    cp = s[0] & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

/* Offset of the first byte that is not valid UTF-8, or len. */
static size_t utf8_check(const char *s, size_t len)
{
  size_t i, n;

  for (i = 0; i < len; i += n) {
    n = utf8_len(s + i, len - i);
    if (n == 0)
      break;
  }
  return i;
}

static int is_space(int c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(int c)
{
  return c >= '0' && c <= '9';
}

static int is_ident_start(int c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int is_ident_char(int c)
{
  return is_ident_start(c) || is_digit(c) || c == '-';
}

/* Keeps in *best the closest candidate so far. A candidate must share
 * something with name: replacing every letter of "x" is no suggestion. */
static void suggest(const char *name, const char *cand, const char **best,
                    int *best_dist)
{
  size_t ln = strlen(name);
  int d = (int)suggest_distance(name, cand, EXPR_SUGGEST_DIST);

  if (d <= EXPR_SUGGEST_DIST && (size_t)d < ln && d < *best_dist) {
    *best = cand;
    *best_dist = d;
  }
}

/* Appends item to the comma-separated list in dst (size bytes, *used of
 * them taken) when it fits whole, so lists in messages are cut between
 * items. Returns 0 when it did not fit. */
static int list_add(char *dst, size_t size, size_t *used, const char *item)
{
  size_t need = strlen(item) + (*used ? 2 : 0);

  if (*used + need >= size)
    return 0;
  snprintf(dst + *used, size - *used, "%s%s", *used ? ", " : "", item);
  *used += need;
  return 1;
}

/* ---- Functions ---------------------------------------------------- */

static int fn_format(struct eval *ev, const struct node *n, json_t **args,
                     json_t **out);
static int fn_fromjson(struct eval *ev, const struct node *n, json_t **args,
                       json_t **out);
static int fn_join(struct eval *ev, const struct node *n, json_t **args,
                   json_t **out);
static int fn_length(struct eval *ev, const struct node *n, json_t **args,
                     json_t **out);
static int fn_lower(struct eval *ev, const struct node *n, json_t **args,
                    json_t **out);
static int fn_range(struct eval *ev, const struct node *n, json_t **args,
                    json_t **out);
static int fn_tojson(struct eval *ev, const struct node *n, json_t **args,
                     json_t **out);
static int fn_upper(struct eval *ev, const struct node *n, json_t **args,
                    json_t **out);

static const struct func funcs[] = {
    {"format", 1, 0, fn_format}, {"fromJSON", 1, 1, fn_fromjson},
    {"join", 1, 2, fn_join},     {"length", 1, 1, fn_length},
    {"lower", 1, 1, fn_lower},   {"range", 1, 2, fn_range},
    {"toJSON", 1, 1, fn_tojson}, {"upper", 1, 1, fn_upper},
};

#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

/* ---- The AST ------------------------------------------------------ */

static void node_free(struct node *n)
{
  size_t i;

  if (n == NULL)
    return;
  json_decref(n->value);
  free(n->name);
  node_free(n->base);
  node_free(n->sub);
  for (i = 0; i < n->nargs; i++)
    node_free(n->args[i]);
  free(n->args);
  free(n);
}

static struct node *node_new(enum node_kind kind, size_t start, size_t offset)
{
  struct node *n = calloc(1, sizeof(*n));

  if (n == NULL)
    return NULL;
  n->kind = kind;
  n->start = start;
  n->offset = offset;
  n->height = 1;
  return n;
}

/* Sets n's height from its children; SR_EPARSE when it is too tall. */
static int node_set_height(struct parser *p, struct node *n)
{
  int h = 0;
  size_t i;

  if (n->base && n->base->height > h)
    h = n->base->height;
  if (n->sub && n->sub->height > h)
    h = n->sub->height;
  for (i = 0; i < n->nargs; i++)
    if (n->args[i]->height > h)
      h = n->args[i]->height;
  n->height = h + 1;
  if (n->height > EXPR_MAX_HEIGHT)
    return expr_fail(p->err, n->offset, SR_EPARSE,
                     "expression nested too deeply");
  return 0;
}

/* ---- The lexer ---------------------------------------------------- */

/* Scans a string literal starting at the quote at i. Sets *end past the
 * closing quote, or fails on a missing quote, a NUL byte (keys and names
 * are C strings) or, in "...", an unknown escape. */
static int lex_string(struct parser *p, size_t i, size_t *end)
{
  const char *s = p->text;
  size_t n = p->len, start = i;
  char q = s[i];

  for (i++; i < n; i++) {
    if (s[i] == '\0')
      return expr_fail(p->err, i, SR_EPARSE, "unexpected NUL byte in string");
    if (s[i] == q) {
      if (q == '\'' && i + 1 < n && s[i + 1] == '\'') {
        i++;
        continue;
      }
      *end = i + 1;
      return 0;
    }
    if (q == '"' && s[i] == '\\') {
      if (i + 1 >= n)
        break;
      if (s[i + 1] != '"' && s[i + 1] != '\\' && s[i + 1] != 'n' &&
          s[i + 1] != 't') {
        unsigned char c = (unsigned char)s[i + 1];

        if (c < 0x20 || c == 0x7F)
          return expr_fail(p->err, i, SR_EPARSE,
                           "unknown escape in string: expected \\\", "
                           "\\\\, \\n or \\t after \"\\\", found byte "
                           "0x%02x",
                           c);
        return expr_fail(p->err, i, SR_EPARSE,
                         "unknown escape \"\\%.*s\" in string: expected "
                         "\\\", \\\\, \\n or \\t",
                         (int)utf8_len(s + i + 1, n - i - 1), s + i + 1);
      }
      i++;
    }
  }
  return expr_fail(p->err, start, SR_EPARSE,
                   "unterminated string: expected a closing %s",
                   q == '\'' ? "\"'\"" : "'\"'");
}

/* Reads the next token into p->tok. Fails only inside string literals. */
static int lex_next(struct parser *p)
{
  const char *s = p->text;
  size_t n = p->len, i = p->pos, end;
  struct tok *t = &p->tok;
  int rc;

  while (i < n && is_space(s[i]))
    i++;
  t->start = i;
  t->is_real = 0;
  if (i == n) {
    t->kind = T_EOF;
    t->end = i;
    p->pos = i;
    return 0;
  }
  end = i + 1;
  /* "${{ a }" is cut short, not a stray brace: report the missing "}}". */
  if (s[i] == '}' && i + 1 == n) {
    t->kind = T_EOF;
    t->end = i;
    p->pos = i;
    return 0;
  }
  if (s[i] == '}' && i + 1 < n && s[i + 1] == '}') {
    t->kind = T_END;
    end = i + 2;
  } else if (is_ident_start(s[i])) {
    t->kind = T_IDENT;
    while (end < n && is_ident_char(s[end]))
      end++;
  } else if (is_digit(s[i]) ||
             (s[i] == '-' && i + 1 < n && is_digit(s[i + 1]))) {
    t->kind = T_NUMBER;
    while (end < n && is_digit(s[end]))
      end++;
    if (end + 1 < n && s[end] == '.' && is_digit(s[end + 1])) {
      t->is_real = 1;
      for (end += 2; end < n && is_digit(s[end]);)
        end++;
    }
    if (end < n && (s[end] == 'e' || s[end] == 'E')) {
      size_t k = end + 1;

      if (k < n && (s[k] == '+' || s[k] == '-'))
        k++;
      if (k < n && is_digit(s[k])) {
        t->is_real = 1;
        for (end = k; end < n && is_digit(s[end]);)
          end++;
      }
    }
  } else if (s[i] == '\'' || s[i] == '"') {
    t->kind = T_STRING;
    rc = lex_string(p, i, &end);
    if (rc)
      return rc;
  } else {
    switch (s[i]) {
    case '.':
      t->kind = T_DOT;
      break;
    case '[':
      t->kind = T_LBRACK;
      break;
    case ']':
      t->kind = T_RBRACK;
      break;
    case '(':
      t->kind = T_LPAREN;
      break;
    case ')':
      t->kind = T_RPAREN;
      break;
    case ',':
      t->kind = T_COMMA;
      break;
    default:
      t->kind = T_BAD;
      end = i + utf8_len(s + i, n - i);
      if (end == i)
        end = i + 1;
      break;
    }
  }
  t->end = end;
  p->pos = end;
  return 0;
}

/* Describes the current token for "found ..." in messages. */
static void tok_describe(const struct parser *p, char *out, size_t size)
{
  const struct tok *t = &p->tok;
  const char *s = p->text + t->start;
  size_t len = t->end - t->start;

  switch (t->kind) {
  case T_EOF:
    snprintf(out, size, "end of text");
    break;
  case T_END:
    snprintf(out, size, "end of expression");
    break;
  case T_STRING:
    snprintf(out, size, "a string");
    break;
  case T_BAD:
    if ((unsigned char)s[0] < 0x20 || s[0] == 0x7F)
      snprintf(out, size, "byte 0x%02x", (unsigned char)s[0]);
    else
      snprintf(out, size, "\"%.*s\"", (int)len, s);
    break;
  default:
    if (len > 32)
      snprintf(out, size, "\"%.*s...\"", 32, s);
    else
      snprintf(out, size, "\"%.*s\"", (int)len, s);
    break;
  }
}

/* Fails with "expected WHAT, found <the current token>". Running out of
 * text inside an expression is reported at its "${{" instead, since the
 * missing "}}" is the real problem. */
static int parse_expected(struct parser *p, const char *what)
{
  char found[64];

  if (p->tok.kind == T_EOF)
    return expr_fail(p->err, p->expr_start, SR_EPARSE,
                     "unterminated expression: expected \"}}\"");
  tok_describe(p, found, sizeof(found));
  return expr_fail(p->err, p->tok.start, SR_EPARSE, "expected %s, found %s",
                   what, found);
}

/* ---- The parser --------------------------------------------------- */

static int parse_expr(struct parser *p, struct node **out);

/* Makes a literal from the current T_NUMBER token. */
static int parse_number(struct parser *p, json_t **out)
{
  size_t len = p->tok.end - p->tok.start;
  char *copy, *end;
  json_int_t iv;
  double dv;
  int rc = 0;

  copy = strndup(p->text + p->tok.start, len);
  if (copy == NULL)
    return oom(p->err, p->tok.start);
  errno = 0;
  if (p->tok.is_real) {
    dv = strtod(copy, &end);
    if (!isfinite(dv)) {
      rc =
          expr_fail(p->err, p->tok.start, SR_EPARSE,
                    "number %.32s%s out of range", copy, len > 32 ? "..." : "");
      goto out;
    }
    *out = json_real(dv);
  } else {
    iv = strtoll(copy, &end, 10);
    if (errno == ERANGE) {
      rc = expr_fail(p->err, p->tok.start, SR_EPARSE,
                     "integer %.32s%s out of range", copy,
                     len > 32 ? "..." : "");
      goto out;
    }
    *out = json_integer(iv);
  }
  if (*out == NULL)
    rc = oom(p->err, p->tok.start);
out:
  free(copy);
  return rc;
}

/* Makes a literal from the current T_STRING token, which lex_string has
 * checked, so only the valid escapes remain. */
static int parse_string(struct parser *p, json_t **out)
{
  const char *s = p->text + p->tok.start;
  size_t len = p->tok.end - p->tok.start - 2, i, run;
  char q = s[0], stop = q == '\'' ? '\'' : '\\', c;
  struct buf b;
  int rc = 0;

  s++;
  buf_init(&b, BUF_CAP_DEFAULT);
  for (i = 0; i < len;) {
    for (run = i; run < len && s[run] != stop;)
      run++;
    rc = buf_add(&b, s + i, run - i);
    i = run;
    if (rc || i == len)
      break;
    c = s[i + 1];
    if (q == '\'')
      c = '\'';
    else if (c == 'n')
      c = '\n';
    else if (c == 't')
      c = '\t';
    rc = buf_addc(&b, c);
    if (rc)
      break;
    i += 2;
  }
  if (rc)
    return buf_fail(p->err, p->tok.start, rc);
  *out = json_stringn(buf_str(&b), buf_len(&b));
  buf_free(&b);
  if (*out == NULL)
    return oom(p->err, p->tok.start);
  return 0;
}

static const struct func *func_find(const char *name, size_t len)
{
  size_t i;

  for (i = 0; i < NFUNCS; i++)
    if (strlen(funcs[i].name) == len && memcmp(funcs[i].name, name, len) == 0)
      return &funcs[i];
  return NULL;
}

/* Parses a call whose name is at start..start+len; the current token is
 * its "(". Unknown names and wrong argument counts are caught here, so a
 * workflow fails at load rather than mid-run. */
static int parse_call(struct parser *p, size_t start, size_t len,
                      struct node **out)
{
  const struct func *fn = func_find(p->text + start, len);
  struct node *n = NULL, *arg = NULL, **args;
  int rc;

  if (fn == NULL) {
    char name[EXPR_SUGGEST_LEN + 1], names[128];
    const char *best = NULL;
    int best_dist = EXPR_SUGGEST_DIST + 1;
    size_t i, used = 0;

    names[0] = '\0';
    if (len <= EXPR_SUGGEST_LEN) {
      memcpy(name, p->text + start, len);
      name[len] = '\0';
      for (i = 0; i < NFUNCS; i++)
        suggest(name, funcs[i].name, &best, &best_dist);
    }
    for (i = 0; i < NFUNCS; i++)
      list_add(names, sizeof(names), &used, funcs[i].name);
    if (best)
      return expr_fail(p->err, start, SR_EPARSE,
                       "unknown function \"%.*s\" (did you mean \"%s\"?)",
                       (int)len, p->text + start, best);
    return expr_fail(p->err, start, SR_EPARSE,
                     "unknown function \"%.*s\" (functions: %s)", (int)len,
                     p->text + start, names);
  }
  n = node_new(N_CALL, start, start);
  if (n == NULL)
    return oom(p->err, start);
  n->fn = fn;
  rc = lex_next(p);
  if (rc)
    goto out;
  if (p->tok.kind == T_RPAREN) {
    rc = lex_next(p);
    if (rc)
      goto out;
  } else {
    for (;;) {
      rc = parse_expr(p, &arg);
      if (rc)
        goto out;
      args = realloc(n->args, (n->nargs + 1) * sizeof(*args));
      if (args == NULL) {
        node_free(arg);
        rc = oom(p->err, start);
        goto out;
      }
      n->args = args;
      n->args[n->nargs++] = arg;
      if (p->tok.kind == T_COMMA) {
        rc = lex_next(p);
        if (rc)
          goto out;
        continue;
      }
      if (p->tok.kind != T_RPAREN) {
        rc = parse_expected(p, "\")\" after arguments");
        goto out;
      }
      rc = lex_next(p);
      if (rc)
        goto out;
      break;
    }
  }
  if (n->nargs < fn->min_args || (fn->max_args && n->nargs > fn->max_args)) {
    char want[48];

    if (fn->max_args == 0)
      snprintf(want, sizeof(want), "at least %zu", fn->min_args);
    else if (fn->min_args == fn->max_args)
      snprintf(want, sizeof(want), "%zu", fn->min_args);
    else if (fn->min_args + 1 == fn->max_args)
      snprintf(want, sizeof(want), "%zu or %zu", fn->min_args, fn->max_args);
    else
      snprintf(want, sizeof(want), "%zu to %zu", fn->min_args, fn->max_args);
    rc = expr_fail(p->err, start, SR_EPARSE,
                   "wrong number of arguments to %s: expected %s, found %zu",
                   fn->name, want, n->nargs);
    goto out;
  }
  rc = node_set_height(p, n);
out:
  if (rc)
    node_free(n);
  else
    *out = n;
  return rc;
}

/* primary := IDENT | IDENT '(' args? ')' | NUMBER | STRING | true | false
 *          | null | '(' expr ')' */
static int parse_primary(struct parser *p, struct node **out)
{
  struct node *n = NULL;
  size_t start = p->tok.start, len = p->tok.end - p->tok.start;
  json_t *v = NULL;
  int rc;

  switch (p->tok.kind) {
  case T_IDENT:
    rc = lex_next(p);
    if (rc)
      return rc;
    if (p->tok.kind == T_LPAREN)
      return parse_call(p, start, len, out);
    if (len == 4 && memcmp(p->text + start, "true", 4) == 0)
      v = json_true();
    else if (len == 5 && memcmp(p->text + start, "false", 5) == 0)
      v = json_false();
    else if (len == 4 && memcmp(p->text + start, "null", 4) == 0)
      v = json_null();
    n = node_new(v ? N_LITERAL : N_ROOT, start, start);
    if (n == NULL)
      return oom(p->err, start);
    n->value = v;
    if (v == NULL) {
      n->name = strndup(p->text + start, len);
      if (n->name == NULL) {
        node_free(n);
        return oom(p->err, start);
      }
    }
    *out = n;
    return 0;
  case T_NUMBER:
  case T_STRING:
    if (p->tok.kind == T_NUMBER)
      rc = parse_number(p, &v);
    else
      rc = parse_string(p, &v);
    if (rc)
      return rc;
    n = node_new(N_LITERAL, start, start);
    if (n == NULL) {
      json_decref(v);
      return oom(p->err, start);
    }
    n->value = v;
    rc = lex_next(p);
    if (rc) {
      node_free(n);
      return rc;
    }
    *out = n;
    return 0;
  case T_LPAREN:
    rc = lex_next(p);
    if (rc)
      return rc;
    rc = parse_expr(p, &n);
    if (rc)
      return rc;
    if (p->tok.kind != T_RPAREN) {
      node_free(n);
      return parse_expected(p, "\")\"");
    }
    rc = lex_next(p);
    if (rc) {
      node_free(n);
      return rc;
    }
    *out = n;
    return 0;
  case T_END:
    return expr_fail(p->err, start, SR_EPARSE,
                     "expected an expression, found \"}}\"");
  default:
    return parse_expected(p, "an expression");
  }
}

/* expr := primary ( '.' IDENT | '[' expr ']' )*; the recursion point, so
 * it is where nesting is limited. */
static int parse_expr(struct parser *p, struct node **out)
{
  struct node *n = NULL, *m, *sub;
  size_t at;
  int rc;

  if (p->depth >= EXPR_MAX_DEPTH)
    return expr_fail(p->err, p->tok.start, SR_EPARSE,
                     "expression nested too deeply");
  p->depth++;
  rc = parse_primary(p, &n);
  if (rc)
    goto out;
  for (;;) {
    at = p->tok.start;
    if (p->tok.kind == T_DOT) {
      rc = lex_next(p);
      if (rc)
        goto out;
      if (p->tok.kind != T_IDENT) {
        rc = parse_expected(p, "a name after \".\"");
        goto out;
      }
      m = node_new(N_MEMBER, n->start, p->tok.start);
      if (m == NULL) {
        rc = oom(p->err, p->tok.start);
        goto out;
      }
      m->base = n;
      n = m;
      n->name = strndup(p->text + p->tok.start, p->tok.end - p->tok.start);
      if (n->name == NULL) {
        rc = oom(p->err, p->tok.start);
        goto out;
      }
      rc = lex_next(p);
      if (rc)
        goto out;
    } else if (p->tok.kind == T_LBRACK) {
      rc = lex_next(p);
      if (rc)
        goto out;
      rc = parse_expr(p, &sub);
      if (rc)
        goto out;
      m = node_new(N_INDEX, n->start, at);
      if (m == NULL) {
        node_free(sub);
        rc = oom(p->err, at);
        goto out;
      }
      m->base = n;
      m->sub = sub;
      n = m;
      if (p->tok.kind != T_RBRACK) {
        rc = parse_expected(p, "\"]\" after index");
        goto out;
      }
      rc = lex_next(p);
      if (rc)
        goto out;
    } else {
      break;
    }
    rc = node_set_height(p, n);
    if (rc)
      goto out;
  }
out:
  p->depth--;
  if (rc) {
    node_free(n);
    return rc;
  }
  *out = n;
  return 0;
}

/* ---- Templates ---------------------------------------------------- */

/* Appends a part; takes over node and text (freed on failure). */
static int expr_add_part(struct expr *e, struct node *node, char *text,
                         size_t len, size_t offset, struct expr_error *err)
{
  struct part *parts;
  size_t alloc;

  if (e->nparts == e->alloc) {
    alloc = e->alloc ? e->alloc * 2 : 4;
    parts = realloc(e->parts, alloc * sizeof(*parts));
    if (parts == NULL) {
      node_free(node);
      free(text);
      return oom(err, offset);
    }
    e->parts = parts;
    e->alloc = alloc;
  }
  e->parts[e->nparts].node = node;
  e->parts[e->nparts].text = text;
  e->parts[e->nparts].len = len;
  e->parts[e->nparts].offset = offset;
  e->nparts++;
  return 0;
}

/* Moves pending literal text into a part. */
static int expr_flush_text(struct expr *e, struct buf *lit, size_t offset,
                           struct expr_error *err)
{
  char *text;
  size_t len;

  if (buf_len(lit) == 0)
    return 0;
  text = buf_detach(lit, &len);
  if (text == NULL)
    return oom(err, offset);
  return expr_add_part(e, NULL, text, len, offset, err);
}

/* Parses the expression whose "${{" is at `at`; *next gets the offset
 * after its "}}". */
static int expr_parse_part(struct expr *e, const char *text, size_t len,
                           size_t at, size_t *next, struct expr_error *err)
{
  struct parser p;
  struct node *n = NULL;
  int rc;

  memset(&p, 0, sizeof(p));
  p.text = text;
  p.len = len;
  p.pos = at + 3;
  p.expr_start = at;
  p.err = err;
  rc = lex_next(&p);
  if (rc)
    return rc;
  rc = parse_expr(&p, &n);
  if (rc)
    return rc;
  if (p.tok.kind != T_END) {
    node_free(n);
    return parse_expected(&p, "\"}}\" after expression");
  }
  *next = p.tok.end;
  e->dynamic = 1;
  return expr_add_part(e, n, NULL, 0, at, err);
}

struct refs {
  struct expr_segment *segs; /* NULL while counting */
  struct expr_ref *refs;
  size_t nsegs;
  size_t nrefs;
};

static void refs_add_seg(struct refs *r, const char *name, long index,
                         size_t offset)
{
  if (r->segs) {
    r->segs[r->nsegs].name = name;
    r->segs[r->nsegs].index = index;
    r->segs[r->nsegs].offset = offset;
  }
  r->nsegs++;
}

/* Adds the segments of the chain ending at n, root first. Returns 0 once
 * an index that is not a literal key or integer has cut the path. */
static int refs_path(struct refs *r, const struct node *n)
{
  const struct node *s;
  json_int_t i;

  if (n->kind == N_ROOT) {
    refs_add_seg(r, n->name, 0, n->offset);
    return 1;
  }
  if (!refs_path(r, n->base))
    return 0;
  if (n->kind == N_MEMBER) {
    refs_add_seg(r, n->name, 0, n->offset);
    return 1;
  }
  s = n->sub;
  if (s->kind != N_LITERAL)
    return 0;
  if (json_is_string(s->value)) {
    refs_add_seg(r, json_string_value(s->value), 0, s->offset);
    return 1;
  }
  if (!json_is_integer(s->value))
    return 0;
  i = json_integer_value(s->value);
  if (i < -2147483647 - 1 || i > 2147483647)
    return 0; /* long may be 32 bits */
  refs_add_seg(r, NULL, (long)i, s->offset);
  return 1;
}

static void refs_walk(struct refs *r, const struct node *n);

/* Walks the index expressions of the chain ending at n, in source order. */
static void refs_walk_subs(struct refs *r, const struct node *n)
{
  if (n->kind != N_MEMBER && n->kind != N_INDEX)
    return;
  refs_walk_subs(r, n->base);
  if (n->kind == N_INDEX)
    refs_walk(r, n->sub);
}

/* Records every reference under n, in source order: a chain's own path
 * comes before the references in its index expressions. Counts only
 * while r->segs is NULL. */
static void refs_walk(struct refs *r, const struct node *n)
{
  const struct node *root = n;
  size_t first = r->nsegs, i;

  if (n->kind == N_CALL) {
    for (i = 0; i < n->nargs; i++)
      refs_walk(r, n->args[i]);
    return;
  }
  while (root->kind == N_MEMBER || root->kind == N_INDEX)
    root = root->base;
  if (root->kind == N_ROOT) {
    refs_path(r, n);
    if (r->refs) {
      r->refs[r->nrefs].segments = r->segs + first;
      r->refs[r->nrefs].count = r->nsegs - first;
    }
    r->nrefs++;
  } else if (root->kind == N_CALL) {
    refs_walk(r, root);
  }
  refs_walk_subs(r, n);
}

/* Collects the reference paths once, so expr_foreach_ref cannot fail and
 * its segments live as long as the expr. */
static int expr_collect_refs(struct expr *e, struct expr_error *err)
{
  struct refs r;
  size_t i;

  memset(&r, 0, sizeof(r));
  for (i = 0; i < e->nparts; i++)
    if (e->parts[i].node)
      refs_walk(&r, e->parts[i].node);
  if (r.nrefs == 0)
    return 0;
  e->refs = calloc(r.nrefs, sizeof(*e->refs));
  e->segs = calloc(r.nsegs, sizeof(*e->segs));
  if (e->refs == NULL || e->segs == NULL)
    return oom(err, 0);
  e->nrefs = r.nrefs;
  e->nsegs = r.nsegs;
  memset(&r, 0, sizeof(r));
  r.segs = e->segs;
  r.refs = e->refs;
  for (i = 0; i < e->nparts; i++)
    if (e->parts[i].node)
      refs_walk(&r, e->parts[i].node);
  return 0;
}

static int is_blank(const char *s, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    if (!is_space(s[i]))
      return 0;
  return 1;
}

int expr_parse(const char *text, size_t len, struct expr **out,
               struct expr_error *err)
{
  struct expr *e;
  struct buf lit;
  const struct node *single = NULL;
  size_t i, run, lit_start = 0, next = 0;
  int rc = 0, alone = 1;

  *out = NULL;
  buf_init(&lit, BUF_CAP_DEFAULT);
  e = calloc(1, sizeof(*e));
  if (e == NULL)
    return oom(err, 0);
  /* Checked up front: every string the template yields (literal text and
   * string literals, split only at ASCII bytes) is then valid for
   * jansson. */
  i = utf8_check(text, len);
  if (i < len) {
    rc = expr_fail(err, i, SR_EPARSE, "invalid utf-8 byte 0x%02x",
                   (unsigned char)text[i]);
    goto out;
  }
  for (i = 0; i < len;) {
    if (text[i] == '$' && len - i >= 4 && memcmp(text + i, "$${{", 4) == 0) {
      if (buf_len(&lit) == 0)
        lit_start = i;
      rc = buf_add(&lit, "${{", 3);
      if (rc) {
        rc = buf_fail(err, i, rc);
        goto out;
      }
      i += 4;
    } else if (text[i] == '$' && len - i >= 3 &&
               memcmp(text + i, "${{", 3) == 0) {
      rc = expr_flush_text(e, &lit, lit_start, err);
      if (rc)
        goto out;
      rc = expr_parse_part(e, text, len, i, &next, err);
      if (rc)
        goto out;
      i = next;
    } else {
      if (buf_len(&lit) == 0)
        lit_start = i;
      for (run = i + 1; run < len && text[run] != '$';)
        run++;
      rc = buf_add(&lit, text + i, run - i);
      if (rc) {
        rc = buf_fail(err, i, rc);
        goto out;
      }
      i = run;
    }
  }
  rc = expr_flush_text(e, &lit, lit_start, err);
  if (rc)
    goto out;
  for (i = 0; i < e->nparts; i++) {
    if (e->parts[i].node) {
      alone = single == NULL;
      single = e->parts[i].node;
    } else if (!is_blank(e->parts[i].text, e->parts[i].len)) {
      alone = 0;
    }
    if (!alone)
      break;
  }
  if (alone)
    e->single = single;
  rc = expr_collect_refs(e, err);
out:
  buf_free(&lit);
  if (rc) {
    expr_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

void expr_free(struct expr *e)
{
  size_t i;

  if (e == NULL)
    return;
  for (i = 0; i < e->nparts; i++) {
    node_free(e->parts[i].node);
    free(e->parts[i].text);
  }
  free(e->parts);
  free(e->refs);
  free(e->segs);
  free(e);
}

int expr_is_dynamic(const struct expr *e)
{
  return e->dynamic;
}

int expr_foreach_ref(const struct expr *e,
                     int (*cb)(void *data, const struct expr_ref *ref),
                     void *data)
{
  size_t i;
  int rc;

  for (i = 0; i < e->nrefs; i++) {
    rc = cb(data, &e->refs[i]);
    if (rc)
      return rc;
  }
  return 0;
}

/* True when v is the run-time-only sentinel. A NULL sentinel means there
 * is none, and must not match the NULL of a value not yet set. */
static int is_unknown(const struct eval *ev, const json_t *v)
{
  return ev->unknown != NULL && v == ev->unknown;
}

/* ---- Values as text ----------------------------------------------- */

static const char *type_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "an object";
  case JSON_ARRAY:
    return "a list";
  case JSON_STRING:
    return "a string";
  case JSON_INTEGER:
    return "an integer";
  case JSON_REAL:
    return "a number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "a boolean";
  case JSON_NULL:
    return "null";
  }
  return "a value";
}

/* Appends the shortest text that reads back as d (jansson always writes
 * 17 digits, so 0.9 would be 0.90000000000000002). Like jansson, keeps a
 * ".0" on integral values and writes exponents as e20 / e-5. */
static int real_append(struct buf *b, double d)
{
  char s[40], o[40];
  size_t i, k = 0;
  int prec, has_dot = 0;

  for (prec = 1; prec < 17; prec++) {
    snprintf(s, sizeof(s), "%.*g", prec, d);
    if (strtod(s, NULL) == d)
      break;
  }
  if (prec == 17)
    snprintf(s, sizeof(s), "%.17g", d);
  for (i = 0; s[i] && s[i] != 'e'; i++) {
    if (s[i] == '.')
      has_dot = 1;
    o[k++] = s[i];
  }
  if (s[i] == 'e') {
    o[k++] = 'e';
    i++;
    if (s[i] == '-')
      o[k++] = s[i];
    if (s[i] == '-' || s[i] == '+')
      i++;
    while (s[i] == '0' && s[i + 1])
      i++;
    while (s[i])
      o[k++] = s[i++];
  } else if (!has_dot) {
    o[k++] = '.';
    o[k++] = '0';
  }
  return buf_add(b, o, k);
}

static int json_append_string(struct buf *b, const char *s, size_t len)
{
  size_t i, run;
  int rc;

  rc = buf_addc(b, '"');
  for (i = 0; i < len && rc == 0;) {
    for (run = i; run < len && (unsigned char)s[run] >= 0x20 && s[run] != '"' &&
                  s[run] != '\\';)
      run++;
    rc = buf_add(b, s + i, run - i);
    i = run;
    if (rc || i == len)
      break;
    switch (s[i]) {
    case '"':
      rc = buf_adds(b, "\\\"");
      break;
    case '\\':
      rc = buf_adds(b, "\\\\");
      break;
    case '\n':
      rc = buf_adds(b, "\\n");
      break;
    case '\r':
      rc = buf_adds(b, "\\r");
      break;
    case '\t':
      rc = buf_adds(b, "\\t");
      break;
    case '\b':
      rc = buf_adds(b, "\\b");
      break;
    case '\f':
      rc = buf_adds(b, "\\f");
      break;
    default:
      rc = buf_addf(b, "\\u%04x", (unsigned)(unsigned char)s[i]);
      break;
    }
    i++;
  }
  if (rc == 0)
    rc = buf_addc(b, '"');
  return rc;
}

/* Appends v as compact JSON, keys in insertion order. Returns 0, 1 when
 * the unknown value is in v (the text is then useless), or a negative
 * code with *err filled at offset. Our own encoder, for the short reals. */
static int json_append(struct eval *ev, json_t *v, size_t offset, struct buf *b,
                       int depth)
{
  const char *key;
  json_t *item;
  size_t i;
  int rc = 0, first = 1;

  if (is_unknown(ev, v))
    return 1;
  if (depth > EXPR_MAX_JSON_DEPTH)
    return expr_fail(ev->err, offset, SR_EINVAL,
                     "value nested too deeply to convert to text");
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    rc = buf_addc(b, '{');
    json_object_foreach(v, key, item)
    {
      if (rc == 0 && !first)
        rc = buf_addc(b, ',');
      first = 0;
      if (rc == 0)
        rc = json_append_string(b, key, strlen(key));
      if (rc == 0)
        rc = buf_addc(b, ':');
      if (rc)
        break;
      rc = json_append(ev, item, offset, b, depth + 1);
      if (rc)
        return rc;
    }
    if (rc == 0)
      rc = buf_addc(b, '}');
    break;
  case JSON_ARRAY:
    rc = buf_addc(b, '[');
    json_array_foreach(v, i, item)
    {
      if (rc == 0 && i > 0)
        rc = buf_addc(b, ',');
      if (rc)
        break;
      rc = json_append(ev, item, offset, b, depth + 1);
      if (rc)
        return rc;
    }
    if (rc == 0)
      rc = buf_addc(b, ']');
    break;
  case JSON_STRING:
    rc = json_append_string(b, json_string_value(v), json_string_length(v));
    break;
  case JSON_INTEGER:
    rc = buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    break;
  case JSON_REAL:
    rc = real_append(b, json_real_value(v));
    break;
  case JSON_TRUE:
    rc = buf_adds(b, "true");
    break;
  case JSON_FALSE:
    rc = buf_adds(b, "false");
    break;
  case JSON_NULL:
    rc = buf_adds(b, "null");
    break;
  }
  if (rc)
    return buf_fail(ev->err, offset, rc);
  return 0;
}

/* Appends v as interpolated text: strings as they are, null as nothing,
 * everything else as compact JSON. Returns 0, 1 for unknown, or a
 * negative code with *err filled at offset. */
static int text_append(struct eval *ev, json_t *v, size_t offset, struct buf *b)
{
  int rc;

  if (is_unknown(ev, v))
    return 1;
  if (json_is_null(v))
    return 0;
  if (!json_is_string(v))
    return json_append(ev, v, offset, b, 0);
  rc = buf_add(b, json_string_value(v), json_string_length(v));
  if (rc)
    return buf_fail(ev->err, offset, rc);
  return 0;
}

/* Makes a new string from b's bytes (valid UTF-8 by construction) and
 * frees b. */
static int buf_to_string(struct eval *ev, struct buf *b, size_t offset,
                         json_t **out)
{
  *out = json_stringn(buf_str(b), buf_len(b));
  buf_free(b);
  if (*out == NULL)
    return oom(ev->err, offset);
  return 0;
}

/* ---- Evaluation --------------------------------------------------- */

static int eval_node(struct eval *ev, const struct node *n, json_t **out);

/* True when n is the root `env` read from the process environment. */
static int is_env_root(struct eval *ev, const struct node *n)
{
  return n->kind == N_ROOT && strcmp(n->name, "env") == 0 &&
         !(json_is_object(ev->ctx) && json_object_get(ev->ctx, "env"));
}

static int env_get(struct eval *ev, const char *name, size_t offset,
                   json_t **out)
{
  const char *v = getenv(name);
  size_t len;

  if (v == NULL) {
    *out = json_null();
    return 0;
  }
  len = strlen(v);
  if (utf8_check(v, len) < len)
    return expr_fail(ev->err, offset, SR_EINVAL,
                     "environment variable %s is not valid utf-8", name);
  *out = json_stringn(v, len);
  if (*out == NULL)
    return oom(ev->err, offset);
  return 0;
}

static int eval_root(struct eval *ev, const struct node *n, json_t **out)
{
  const char *key, *best = NULL;
  json_t *v = NULL;
  int best_dist = EXPR_SUGGEST_DIST + 1, cut = 0;
  char names[160];
  size_t used = 0, shown = 0;

  if (json_is_object(ev->ctx))
    v = json_object_get(ev->ctx, n->name);
  if (v) {
    *out = json_incref(v);
    return 0;
  }
  /* The whole environment is never a value: it would put every secret
   * of the runner's process into a step's inputs. */
  if (strcmp(n->name, "env") == 0)
    return expr_fail(ev->err, n->offset, SR_EINVAL,
                     "expected a variable name after env, as in env.HOME");
  /* Names are listed in ctx order; "env" is always there. */
  names[0] = '\0';
  suggest(n->name, "env", &best, &best_dist);
  if (json_is_object(ev->ctx)) {
    json_object_foreach(ev->ctx, key, v)
    {
      suggest(n->name, key, &best, &best_dist);
      if (cut || shown == EXPR_MAX_KEYS_SHOWN ||
          !list_add(names, sizeof(names) - 16, &used, key))
        cut = 1;
      else
        shown++;
    }
  }
  if (best)
    return expr_fail(ev->err, n->offset, SR_EINVAL,
                     "unknown name \"%s\" (did you mean \"%s\"?)", n->name,
                     best);
  if (cut)
    list_add(names, sizeof(names), &used, "...");
  if (!json_is_object(ev->ctx) || json_object_get(ev->ctx, "env") == NULL)
    list_add(names, sizeof(names), &used, "env");
  return expr_fail(ev->err, n->offset, SR_EINVAL,
                   "unknown name \"%s\" (names: %s)", n->name, names);
}

/* Looks key up in obj; a missing key names a close key or lists some. */
static int object_key(struct eval *ev, json_t *obj, const char *key, size_t len,
                      size_t offset, json_t **out)
{
  json_t *v = json_object_getn(obj, key, len);
  const char *k, *best = NULL;
  int best_dist = EXPR_SUGGEST_DIST + 1, cut = 0;
  char keys[160];
  size_t used = 0, shown = 0;

  if (v) {
    *out = json_incref(v);
    return 0;
  }
  if (json_object_size(obj) == 0)
    return expr_fail(ev->err, offset, SR_EINVAL,
                     "no key \"%s\" in object (it is empty)", key);
  keys[0] = '\0';
  json_object_foreach(obj, k, v)
  {
    suggest(key, k, &best, &best_dist);
    if (cut || shown == EXPR_MAX_KEYS_SHOWN ||
        !list_add(keys, sizeof(keys) - 8, &used, k))
      cut = 1;
    else
      shown++;
  }
  if (best)
    return expr_fail(ev->err, offset, SR_EINVAL,
                     "no key \"%s\" in object (did you mean \"%s\"?)", key,
                     best);
  if (cut)
    list_add(keys, sizeof(keys), &used, "...");
  return expr_fail(ev->err, offset, SR_EINVAL,
                   "no key \"%s\" in object (keys: %s)", key, keys);
}

static int eval_member(struct eval *ev, const struct node *n, json_t **out)
{
  json_t *b;
  int rc;

  if (is_env_root(ev, n->base))
    return env_get(ev, n->name, n->offset, out);
  rc = eval_node(ev, n->base, &b);
  if (rc)
    return rc;
  if (is_unknown(ev, b)) {
    *out = b;
    return 0;
  }
  if (json_is_object(b))
    rc = object_key(ev, b, n->name, strlen(n->name), n->offset, out);
  else
    rc = expr_fail(ev->err, n->offset, SR_EINVAL, "cannot read \"%s\" of %s",
                   n->name, type_name(b));
  json_decref(b);
  return rc;
}

static int eval_index(struct eval *ev, const struct node *n, json_t **out)
{
  json_t *b = NULL, *i = NULL;
  json_int_t k;
  size_t at = n->sub->start;
  int rc, env = is_env_root(ev, n->base);

  if (!env) {
    rc = eval_node(ev, n->base, &b);
    if (rc)
      return rc;
  }
  rc = eval_node(ev, n->sub, &i);
  if (rc)
    goto out;
  if (is_unknown(ev, b) || is_unknown(ev, i)) {
    *out = json_incref(ev->unknown);
  } else if (env) {
    if (!json_is_string(i))
      rc = expr_fail(ev->err, at, SR_EINVAL,
                     "expected a string variable name for env, found %s",
                     type_name(i));
    else
      rc = env_get(ev, json_string_value(i), at, out);
  } else if (json_is_array(b)) {
    if (!json_is_integer(i)) {
      rc = expr_fail(ev->err, at, SR_EINVAL,
                     "expected an integer index for a list, found %s",
                     type_name(i));
      goto out;
    }
    k = json_integer_value(i);
    if (k < 0 || (json_int_t)json_array_size(b) <= k) {
      rc = expr_fail(ev->err, at, SR_EINVAL,
                     "index %" JSON_INTEGER_FORMAT
                     " out of range for list of %zu",
                     k, json_array_size(b));
      goto out;
    }
    *out = json_incref(json_array_get(b, (size_t)k));
  } else if (json_is_object(b)) {
    if (!json_is_string(i))
      rc = expr_fail(ev->err, at, SR_EINVAL,
                     "expected a string key for an object, found %s",
                     type_name(i));
    else
      rc = object_key(ev, b, json_string_value(i), json_string_length(i), at,
                      out);
  } else {
    rc = expr_fail(ev->err, n->offset, SR_EINVAL, "cannot index %s",
                   type_name(b));
  }
out:
  json_decref(b);
  json_decref(i);
  return rc;
}

/* Evaluates every argument first, so errors in them show even when
 * another argument is unknown. */
static int eval_call(struct eval *ev, const struct node *n, json_t **out)
{
  json_t **args;
  size_t i;
  int rc = 0, unknown = 0;

  args = calloc(n->nargs ? n->nargs : 1, sizeof(*args));
  if (args == NULL)
    return oom(ev->err, n->offset);
  for (i = 0; i < n->nargs; i++) {
    rc = eval_node(ev, n->args[i], &args[i]);
    if (rc)
      goto out;
    if (is_unknown(ev, args[i]))
      unknown = 1;
  }
  if (unknown)
    *out = json_incref(ev->unknown);
  else
    rc = n->fn->fn(ev, n, args, out);
out:
  for (i = 0; i < n->nargs; i++)
    json_decref(args[i]);
  free(args);
  return rc;
}

/* Evaluates n. Returns 0 and a new reference in *out, or a negative code
 * with *ev->err filled. */
static int eval_node(struct eval *ev, const struct node *n, json_t **out)
{
  switch (n->kind) {
  case N_LITERAL:
    *out = json_incref(n->value);
    return 0;
  case N_ROOT:
    return eval_root(ev, n, out);
  case N_MEMBER:
    return eval_member(ev, n, out);
  case N_INDEX:
    return eval_index(ev, n, out);
  case N_CALL:
    return eval_call(ev, n, out);
  }
  return expr_fail(ev->err, n->start, SR_EINVAL, "bad expression node");
}

int expr_eval(const struct expr *e, json_t *ctx, json_t *unknown, json_t **out,
              struct expr_error *err)
{
  struct eval ev;
  struct buf b;
  json_t *v;
  size_t i;
  int rc = 0, any_unknown = 0;

  *out = NULL;
  ev.ctx = ctx;
  ev.unknown = unknown;
  ev.err = err;
  if (e->single)
    return eval_node(&ev, e->single, out);
  buf_init(&b, BUF_CAP_DEFAULT);
  for (i = 0; i < e->nparts; i++) {
    const struct part *pt = &e->parts[i];

    if (pt->node == NULL) {
      rc = buf_add(&b, pt->text, pt->len);
      if (rc)
        return buf_fail(err, pt->offset, rc);
      continue;
    }
    /* Later parts are still evaluated: their errors matter at load even
     * when this one is known only at run time. */
    rc = eval_node(&ev, pt->node, &v);
    if (rc)
      goto out;
    rc = text_append(&ev, v, pt->node->start, &b);
    json_decref(v);
    if (rc < 0)
      goto out;
    if (rc == 1)
      any_unknown = 1;
    rc = 0;
  }
  if (any_unknown) {
    *out = json_incref(unknown);
    goto out;
  }
  return buf_to_string(&ev, &b, 0, out);
out:
  buf_free(&b);
  return rc;
}

/* ---- Function bodies ---------------------------------------------- */

static int arg_type_fail(struct eval *ev, const struct node *n, size_t i,
                         const char *want, const json_t *got)
{
  return expr_fail(ev->err, n->args[i]->start, SR_EINVAL,
                   "expected %s as argument %zu of %s, found %s", want, i + 1,
                   n->fn->name, type_name(got));
}

static int fn_join(struct eval *ev, const struct node *n, json_t **args,
                   json_t **out)
{
  const char *sep = ",";
  size_t seplen = 1, i, at = n->args[0]->start;
  struct buf b;
  json_t *item;
  int rc = 0;

  if (!json_is_array(args[0]))
    return arg_type_fail(ev, n, 0, "a list", args[0]);
  if (n->nargs > 1) {
    if (!json_is_string(args[1]))
      return arg_type_fail(ev, n, 1, "a string", args[1]);
    sep = json_string_value(args[1]);
    seplen = json_string_length(args[1]);
  }
  buf_init(&b, BUF_CAP_DEFAULT);
  json_array_foreach(args[0], i, item)
  {
    if (i > 0) {
      rc = buf_add(&b, sep, seplen);
      if (rc)
        return buf_fail(ev->err, at, rc);
    }
    rc = text_append(ev, item, at, &b);
    if (rc)
      break;
  }
  if (rc == 1)
    *out = json_incref(ev->unknown);
  if (rc) {
    buf_free(&b);
    return rc < 0 ? rc : 0;
  }
  return buf_to_string(ev, &b, at, out);
}

/* format(fmt, args...): {N} is argument N as text, {{ and }} are braces.
 * Anything else with a brace is an error, to catch typos like {O}. */
static int fn_format(struct eval *ev, const struct node *n, json_t **args,
                     json_t **out)
{
  const char *s;
  size_t len, i, run, j, k, nvals = n->nargs - 1, at = n->args[0]->start;
  struct buf b;
  int rc = 0;

  if (!json_is_string(args[0]))
    return arg_type_fail(ev, n, 0, "a string", args[0]);
  s = json_string_value(args[0]);
  len = json_string_length(args[0]);
  buf_init(&b, BUF_CAP_DEFAULT);
  for (i = 0; i < len;) {
    for (run = i; run < len && s[run] != '{' && s[run] != '}';)
      run++;
    rc = buf_add(&b, s + i, run - i);
    if (rc) {
      rc = buf_fail(ev->err, at, rc);
      goto out;
    }
    i = run;
    if (i == len)
      break;
    if (i + 1 < len && s[i + 1] == s[i]) {
      rc = buf_addc(&b, s[i]);
      if (rc) {
        rc = buf_fail(ev->err, at, rc);
        goto out;
      }
      i += 2;
      continue;
    }
    if (s[i] == '}') {
      rc = expr_fail(ev->err, at, SR_EINVAL,
                     "invalid format string: expected \"}}\" for a brace "
                     "at byte %zu, found \"}\"",
                     i);
      goto out;
    }
    for (j = i + 1, k = 0; j < len && j < i + 10 && is_digit(s[j]); j++)
      k = k * 10 + (size_t)(s[j] - '0');
    if (j == i + 1 || j >= len || s[j] != '}') {
      rc = expr_fail(ev->err, at, SR_EINVAL,
                     "invalid format string: expected a placeholder like "
                     "{0} or \"{{\" for a brace at byte %zu",
                     i);
      goto out;
    }
    if (k >= nvals) {
      if (nvals == 0)
        rc = expr_fail(ev->err, at, SR_EINVAL,
                       "format placeholder {%zu} out of range: no arguments "
                       "after the format string",
                       k);
      else if (nvals == 1)
        rc =
            expr_fail(ev->err, at, SR_EINVAL,
                      "format placeholder {%zu} out of range: expected {0}", k);
      else
        rc = expr_fail(ev->err, at, SR_EINVAL,
                       "format placeholder {%zu} out of range: expected {0} "
                       "to {%zu}",
                       k, nvals - 1);
      goto out;
    }
    rc = text_append(ev, args[k + 1], n->args[k + 1]->start, &b);
    if (rc == 1) {
      *out = json_incref(ev->unknown);
      rc = 0;
      goto out;
    }
    if (rc)
      goto out;
    i = j + 1;
  }
  return buf_to_string(ev, &b, at, out);
out:
  buf_free(&b);
  return rc;
}

static int fn_tojson(struct eval *ev, const struct node *n, json_t **args,
                     json_t **out)
{
  struct buf b;
  int rc;

  buf_init(&b, BUF_CAP_DEFAULT);
  rc = json_append(ev, args[0], n->args[0]->start, &b, 0);
  if (rc == 1) {
    buf_free(&b);
    *out = json_incref(ev->unknown);
    return 0;
  }
  if (rc) {
    buf_free(&b);
    return rc;
  }
  return buf_to_string(ev, &b, n->args[0]->start, out);
}

static int fn_fromjson(struct eval *ev, const struct node *n, json_t **args,
                       json_t **out)
{
  json_error_t jerr;

  if (!json_is_string(args[0]))
    return arg_type_fail(ev, n, 0, "a string", args[0]);
  *out = json_loadb(json_string_value(args[0]), json_string_length(args[0]),
                    JSON_DECODE_ANY, &jerr);
  if (*out == NULL)
    return expr_fail(ev->err, n->args[0]->start, SR_EINVAL,
                     "invalid json in fromJSON: %s at byte %d", jerr.text,
                     jerr.position);
  return 0;
}

static int fn_length(struct eval *ev, const struct node *n, json_t **args,
                     json_t **out)
{
  const char *s;
  size_t len, i, count = 0;

  if (json_is_string(args[0])) {
    s = json_string_value(args[0]);
    len = json_string_length(args[0]);
    for (i = 0; i < len; i++)
      count += ((unsigned char)s[i] & 0xC0) != 0x80;
  } else if (json_is_array(args[0])) {
    count = json_array_size(args[0]);
  } else if (json_is_object(args[0])) {
    count = json_object_size(args[0]);
  } else {
    return arg_type_fail(ev, n, 0, "a string, list or object", args[0]);
  }
  *out = json_integer((json_int_t)count);
  if (*out == NULL)
    return oom(ev->err, n->offset);
  return 0;
}

/* lower and upper: ASCII only, so the result never depends on a locale. */
static int change_case(struct eval *ev, const struct node *n, json_t *arg,
                       int upper, json_t **out)
{
  const char *s;
  char *t;
  size_t len, i;

  if (!json_is_string(arg))
    return arg_type_fail(ev, n, 0, "a string", arg);
  s = json_string_value(arg);
  len = json_string_length(arg);
  t = malloc(len + 1);
  if (t == NULL)
    return oom(ev->err, n->offset);
  for (i = 0; i < len; i++) {
    t[i] = s[i];
    if (upper && s[i] >= 'a' && s[i] <= 'z')
      t[i] = (char)(s[i] - 'a' + 'A');
    else if (!upper && s[i] >= 'A' && s[i] <= 'Z')
      t[i] = (char)(s[i] - 'A' + 'a');
  }
  *out = json_stringn(t, len);
  free(t);
  if (*out == NULL)
    return oom(ev->err, n->offset);
  return 0;
}

static int fn_lower(struct eval *ev, const struct node *n, json_t **args,
                    json_t **out)
{
  return change_case(ev, n, args[0], 0, out);
}

static int fn_upper(struct eval *ev, const struct node *n, json_t **args,
                    json_t **out)
{
  return change_case(ev, n, args[0], 1, out);
}

/* range(n) is 0..n-1 and range(a, b) is a..b-1; empty when the end is not
 * past the start. Capped so a typo cannot allocate gigabytes. */
static int fn_range(struct eval *ev, const struct node *n, json_t **args,
                    json_t **out)
{
  json_int_t a = 0, b, i;
  unsigned long long count = 0;
  json_t *list, *item;
  size_t k;

  for (k = 0; k < n->nargs; k++)
    if (!json_is_integer(args[k]))
      return arg_type_fail(ev, n, k, "an integer", args[k]);
  if (n->nargs == 2)
    a = json_integer_value(args[0]);
  b = json_integer_value(args[n->nargs - 1]);
  if (b > a)
    count = (unsigned long long)b - (unsigned long long)a;
  if (count > EXPR_MAX_RANGE)
    return expr_fail(ev->err, n->offset, SR_EINVAL,
                     "range of %llu numbers: expected at most %d", count,
                     EXPR_MAX_RANGE);
  list = json_array();
  if (list == NULL)
    return oom(ev->err, n->offset);
  for (i = 0; (unsigned long long)i < count; i++) {
    item = json_integer(a + i);
    if (item == NULL || json_array_append_new(list, item)) {
      json_decref(list);
      return oom(ev->err, n->offset);
    }
  }
  *out = list;
  return 0;
}
