/* Request validation against botocore's models: see awsmodel.h. */
#include "awsmodel.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"

/* A model pattern, translated and compiled on first use. */
struct awsmodel_pattern {
  char *java;
  regex_t re;
  int state;   /* 0 not tried, 1 compiled, -1 not translatable */
  int unicode; /* uses \p{..}: POSIX classes are ASCII here */
};

struct awsmodel {
  json_t *root;
  json_t *operations; /* name -> input shape name (or null) */
  json_t *shapes;
  struct awsmodel_pattern *patterns;
  size_t npatterns, apatterns;
};

int awsmodel_load(const char *service, struct awsmodel **out)
{
  const struct awsmodel_source *src;
  struct awsmodel *m = NULL;
  struct buf text;
  json_error_t jerr;
  size_t i;
  int rc;

  *out = NULL;
  buf_init(&text, (size_t)4 << 20);
  for (src = awsmodel_sources; src->service; src++)
    if (strcmp(src->service, service) == 0)
      break;
  if (src->service == NULL)
    return SR_ENOENT;
  for (i = 0; src->parts[i]; i++) {
    rc = buf_adds(&text, src->parts[i]);
    if (rc < 0)
      goto out;
  }
  m = calloc(1, sizeof(*m));
  if (m == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  m->root = json_loads(buf_str(&text), 0, &jerr);
  if (m->root == NULL) {
    rc = SR_EPARSE;
    goto out;
  }
  m->operations = json_object_get(m->root, "operations");
  m->shapes = json_object_get(m->root, "shapes");
  if (!json_is_object(m->operations) || !json_is_object(m->shapes)) {
    rc = SR_EPARSE;
    goto out;
  }
  *out = m;
  m = NULL;
  rc = 0;
out:
  awsmodel_free(m);
  buf_free(&text);
  return rc;
}

void awsmodel_free(struct awsmodel *m)
{
  size_t i;

  if (m == NULL)
    return;
  for (i = 0; i < m->npatterns; i++) {
    if (m->patterns[i].state == 1)
      regfree(&m->patterns[i].re);
    free(m->patterns[i].java);
  }
  free(m->patterns);
  json_decref(m->root);
  free(m);
}

int awsmodel_has_operation(const struct awsmodel *m, const char *operation)
{
  return json_object_get(m->operations, operation) != NULL;
}

/* ---- Java patterns to POSIX ERE --------------------------------------- */

/* Skips a (?...) look-around group starting at p[0] == '('; returns the
 * position after its closing parenthesis, or NULL if unbalanced. */
static const char *skip_group(const char *p)
{
  int depth = 0, in_bracket = 0;

  for (; *p; p++) {
    if (*p == '\\' && p[1]) {
      p++;
    } else if (in_bracket) {
      if (*p == ']')
        in_bracket = 0;
    } else if (*p == '[') {
      in_bracket = 1;
    } else if (*p == '(') {
      depth++;
    } else if (*p == ')' && --depth == 0) {
      return p + 1;
    }
  }
  return NULL;
}

/* A \p{X} class: the POSIX class for X, or NULL. *unicode is set for
 * Unicode categories, which POSIX classes cover for ASCII only; Java's
 * POSIX-named classes (ASCII, Print) are ASCII-only there too. */
static const char *unicode_class(const char *p, size_t *used, int *unicode)
{
  static const struct {
    const char *java, *posix;
    int unicode;
  } map[] = {{"p{L}", "[:alpha:]", 1},
             {"p{N}", "[:digit:]", 1},
             {"p{Z}", "[:space:]", 1},
             {"p{ASCII}", "[:alnum:][:punct:][:space:][:cntrl:]", 0},
             {"p{Print}", "[:print:]", 0},
             {NULL, NULL, 0}};
  size_t i;

  for (i = 0; map[i].java; i++)
    if (strncmp(p, map[i].java, strlen(map[i].java)) == 0) {
      *used = strlen(map[i].java);
      *unicode |= map[i].unicode;
      return map[i].posix;
    }
  return NULL;
}

/* Translates the bracket expression at *pp (at '['), advancing *pp past
 * it. Returns 0 or SR_ENOTSUP. */
static int translate_bracket(const char **pp, struct buf *out, int *unicode)
{
  const char *p = *pp + 1;
  struct buf items;
  int neg = 0, dash = 0, rbracket = 0, caret = 0, space = 0, nonspace = 0;
  int rc = 0;

  buf_init(&items, 1024);
  if (*p == '^') {
    neg = 1;
    p++;
  }
  for (; *p && *p != ']'; p++) {
    char c = *p;

    if (c == '[') {
      rc = SR_ENOTSUP; /* Java's class unions */
      goto out;
    }
    if (c == '\\') {
      const char *cls;
      size_t used;

      c = *++p;
      if (c == '\0') {
        rc = SR_ENOTSUP;
        goto out;
      }
      if (c == 'd') {
        rc = buf_adds(&items, "0-9");
      } else if (c == 'w') {
        rc = buf_adds(&items, "A-Za-z0-9_");
      } else if (c == 's') {
        space = 1;
      } else if (c == 'S') {
        nonspace = 1;
      } else if (c == 'p' && (cls = unicode_class(p, &used, unicode)) != NULL) {
        rc = buf_adds(&items, cls);
        p += used - 1;
      } else if (c == '-') {
        dash = 1;
      } else if (c == ']') {
        rbracket = 1;
      } else if (c == '^') {
        caret = 1;
      } else if (c >= 'a' && c <= 'z') {
        rc = SR_ENOTSUP; /* another class escape */
      } else {
        rc = buf_addc(&items, c);
      }
      if (rc < 0)
        goto out;
      continue;
    }
    if (c == '-' && (buf_len(&items) == 0 || p[1] == ']')) {
      dash = 1;
      continue;
    }
    if (c == '^') {
      caret = 1;
      continue;
    }
    rc = buf_addc(&items, c);
    if (rc < 0)
      goto out;
  }
  if (*p != ']') {
    rc = SR_ENOTSUP;
    goto out;
  }
  *pp = p + 1;
  if (nonspace) {
    /* [\S\s] is any character; [\S] alone is a negated class; anything
     * mixed with \S has no POSIX spelling. */
    if (space && !neg) {
      rc = buf_addc(out, '.');
    } else if (!space && !neg && buf_len(&items) == 0 && !dash && !rbracket &&
               !caret) {
      rc = buf_adds(out, "[^[:space:]]");
    } else {
      rc = SR_ENOTSUP;
    }
    goto out;
  }
  if (space && (rc = buf_adds(&items, "[:space:]")) < 0)
    goto out;
  rc = buf_addf(out, "[%s%s%s%s%s]", neg ? "^" : "", rbracket ? "]" : "",
                buf_str(&items), caret ? "^" : "", dash ? "-" : "");
  if (rc == 0 && buf_len(&items) == 0 && !rbracket && !dash && caret)
    rc = SR_ENOTSUP; /* "[^]" would mean something else */
out:
  buf_free(&items);
  return rc;
}

/* Translates a Java pattern (matched against the whole value) into an
 * anchored POSIX ERE. Returns 0 or SR_ENOTSUP / SR_ENOMEM. */
static int translate_pattern(const char *java, struct buf *out, int *unicode)
{
  const char *p = java, *end = java + strlen(java);
  int rc;

  if (*p == '^')
    p++;
  if (end > p && end[-1] == '$' && (end - 1 == p || end[-2] != '\\'))
    end--;
  rc = buf_adds(out, "^(");
  while (rc == 0 && p < end) {
    char c = *p;

    if (c == '[') {
      rc = translate_bracket(&p, out, unicode);
      if (rc == 0 && p > end)
        rc = SR_ENOTSUP;
      continue;
    }
    if (c == '(' && p[1] == '?') {
      if (p[2] == ':') {
        rc = buf_addc(out, '(');
        p += 3;
        continue;
      }
      /* Look-around has no POSIX form; dropping it only makes the check
       * more lenient. */
      p = skip_group(p);
      if (p == NULL || p > end)
        rc = SR_ENOTSUP;
      continue;
    }
    if (c == '\\') {
      const char *cls;
      size_t used;

      c = p[1];
      p += 2;
      if (c == 'd')
        rc = buf_adds(out, "[0-9]");
      else if (c == 'D')
        rc = buf_adds(out, "[^0-9]");
      else if (c == 'w')
        rc = buf_adds(out, "[A-Za-z0-9_]");
      else if (c == 'W')
        rc = buf_adds(out, "[^A-Za-z0-9_]");
      else if (c == 's')
        rc = buf_adds(out, "[[:space:]]");
      else if (c == 'S')
        rc = buf_adds(out, "[^[:space:]]");
      else if (c == 'p' &&
               (cls = unicode_class(p - 1, &used, unicode)) != NULL) {
        rc = buf_addf(out, "[%s]", cls);
        p += used - 1;
      } else if (c == 'A' || c == 'z' || c == 'Z')
        rc = 0; /* \A, \z: the match is anchored anyway */
      else if (c != '\0' && strchr(".[]{}()*+?^$|\\", c))
        rc = buf_addf(out, "\\%c", c);
      else if (c != '\0' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z'))
        rc = buf_addc(out, c);
      else
        rc = SR_ENOTSUP;
      continue;
    }
    rc = buf_addc(out, c);
    p++;
  }
  if (rc == 0)
    rc = buf_adds(out, ")$");
  return rc;
}

/* The compiled form of java, compiling it on first use; NULL when it has
 * no POSIX form (the check is then skipped). */
static struct awsmodel_pattern *pattern_get(struct awsmodel *m,
                                            const char *java)
{
  struct awsmodel_pattern *pat;
  struct buf ere;
  size_t i;

  for (i = 0; i < m->npatterns; i++)
    if (strcmp(m->patterns[i].java, java) == 0)
      return m->patterns[i].state == 1 ? &m->patterns[i] : NULL;
  if (m->npatterns == m->apatterns) {
    size_t n = m->apatterns ? m->apatterns * 2 : 32;
    struct awsmodel_pattern *p = realloc(m->patterns, n * sizeof(*p));

    if (p == NULL)
      return NULL;
    m->patterns = p;
    m->apatterns = n;
  }
  pat = &m->patterns[m->npatterns];
  memset(pat, 0, sizeof(*pat));
  pat->java = strdup(java);
  if (pat->java == NULL)
    return NULL;
  m->npatterns++;
  pat->state = -1;
  buf_init(&ere, 16384);
  if (translate_pattern(java, &ere, &pat->unicode) == 0 &&
      regcomp(&pat->re, buf_str(&ere), REG_EXTENDED | REG_NOSUB) == 0)
    pat->state = 1;
  buf_free(&ere);
  return pat->state == 1 ? pat : NULL;
}

void awsmodel_each_pattern(struct awsmodel *m,
                           void (*fn)(const char *pattern, int compiled,
                                      void *data),
                           void *data)
{
  const char *name;
  json_t *shape;

  json_object_foreach(m->shapes, name, shape)
  {
    const char *java = json_string_value(json_object_get(shape, "pattern"));

    if (java)
      fn(java, pattern_get(m, java) != NULL, data);
  }
}

/* ---- Validation -------------------------------------------------------- */

struct vctx {
  struct awsmodel *m;
  struct buf errors; /* "Value ... constraint: ...; Value ..." */
  int nerrors;
  int serialization; /* a wrong JSON type was met */
  struct buf *msg;
  int rc; /* SR_ENOMEM sticks */
};

/* Length as the services count it: UTF-16 code units of the value. */
static size_t utf16_length(const char *s)
{
  size_t n = 0;
  const unsigned char *p = (const unsigned char *)s;

  for (; *p; p++) {
    if ((*p & 0xC0) == 0x80)
      continue;
    n += *p >= 0xF0 ? 2 : 1;
  }
  return n;
}

/* Renders v as Java's toString would inside a message. */
static int render_value(struct buf *b, const json_t *v)
{
  size_t i;
  const char *k;
  json_t *x;
  int rc = 0, first = 1;

  switch (json_typeof(v)) {
  case JSON_STRING:
    return buf_add(b, json_string_value(v), json_string_length(v));
  case JSON_INTEGER:
    return buf_addf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  case JSON_REAL:
    return buf_addf(b, "%.17g", json_real_value(v));
  case JSON_TRUE:
    return buf_adds(b, "true");
  case JSON_FALSE:
    return buf_adds(b, "false");
  case JSON_NULL:
    return buf_adds(b, "null");
  case JSON_ARRAY:
    rc = buf_addc(b, '[');
    json_array_foreach(v, i, x)
    {
      if (rc == 0 && i > 0)
        rc = buf_adds(b, ", ");
      if (rc == 0)
        rc = render_value(b, x);
    }
    return rc ? rc : buf_addc(b, ']');
  case JSON_OBJECT:
    rc = buf_addc(b, '{');
    json_object_foreach((json_t *)v, k, x)
    {
      if (rc == 0 && !first)
        rc = buf_adds(b, ", ");
      first = 0;
      if (rc == 0)
        rc = buf_addf(b, "%s=", k);
      if (rc == 0)
        rc = render_value(b, x);
    }
    return rc ? rc : buf_addc(b, '}');
  }
  return 0;
}

/* Records "Value 'v' at 'path' failed to satisfy constraint: what". */
static void add_error(struct vctx *c, const json_t *v, const char *path,
                      const char *what)
{
  int rc = 0;

  if (c->rc)
    return;
  if (c->nerrors > 0)
    rc = buf_adds(&c->errors, "; ");
  if (rc == 0 && v == NULL)
    rc = buf_adds(&c->errors, "Value null");
  if (rc == 0 && v != NULL)
    rc = buf_adds(&c->errors, "Value '");
  if (rc == 0 && v != NULL)
    rc = render_value(&c->errors, v);
  if (rc == 0 && v != NULL)
    rc = buf_addc(&c->errors, '\'');
  if (rc == 0)
    rc = buf_addf(&c->errors, " at '%s' failed to satisfy constraint: %s", path,
                  what);
  if (rc)
    c->rc = rc;
  c->nerrors++;
}

/* One broken constraint: an error at path, or appended to list. */
static int fault(struct vctx *c, const json_t *v, const char *path,
                 struct buf *list, const struct buf *what)
{
  if (path) {
    add_error(c, v, path, buf_str(what));
    return c->rc;
  }
  if (buf_len(list) && buf_adds(list, ", ") < 0)
    return SR_ENOMEM;
  return buf_adds(list, buf_str(what));
}

/* Reports the constraints of a scalar shape that v breaks: each as its
 * own error at path, or, when path is NULL (map keys and values, which
 * the services report together), joined by ", " into list. */
static void scalar_faults(struct vctx *c, const json_t *shape, const json_t *v,
                          const char *path, struct buf *list)
{
  const char *type = json_string_value(json_object_get(shape, "type"));
  json_t *min = json_object_get(shape, "min");
  json_t *max = json_object_get(shape, "max");
  json_t *en = json_object_get(shape, "enum");
  const char *pat = json_string_value(json_object_get(shape, "pattern"));
  struct buf what;
  int rc = 0;

  buf_init(&what, 65536);
#define FAULT(...)                                                             \
  do {                                                                         \
    buf_reset(&what);                                                          \
    if (rc == 0)                                                               \
      rc = buf_addf(&what, __VA_ARGS__);                                       \
    if (rc == 0)                                                               \
      rc = fault(c, v, path, list, &what);                                     \
  } while (0)

  if (type && strcmp(type, "string") == 0 && json_is_string(v)) {
    const char *s = json_string_value(v);
    double len = (double)utf16_length(s);

    if (json_is_array(en)) {
      size_t i;
      json_t *e;
      int found = 0;

      json_array_foreach(en, i, e)
      {
        if (json_is_string(e) && strcmp(json_string_value(e), s) == 0)
          found = 1;
      }
      if (!found) {
        buf_reset(&what);
        rc = buf_adds(&what, "Member must satisfy enum value set: ");
        if (rc == 0)
          rc = render_value(&what, en);
        if (rc == 0)
          rc = fault(c, v, path, list, &what);
      }
    }
    if (pat) {
      struct awsmodel_pattern *p = pattern_get(c->m, pat);
      int skip = 0;
      const unsigned char *u;

      for (u = (const unsigned char *)s; p && p->unicode && *u; u++)
        skip |= *u >= 0x80;
      if (p && !skip &&
          (strlen(s) != json_string_length(v) ||
           regexec(&p->re, s, 0, NULL, 0) != 0))
        FAULT("Member must satisfy regular expression pattern: %s", pat);
    }
    if (json_is_number(max) && len > json_number_value(max))
      FAULT("Member must have length less than or equal to %.0f",
            json_number_value(max));
    if (json_is_number(min) && len < json_number_value(min))
      FAULT("Member must have length greater than or equal to %.0f",
            json_number_value(min));
  } else if (json_is_number(v)) {
    double x = json_number_value(v);

    if (json_is_number(max) && x > json_number_value(max))
      FAULT("Member must have value less than or equal to %.0f",
            json_number_value(max));
    if (json_is_number(min) && x < json_number_value(min))
      FAULT("Member must have value greater than or equal to %.0f",
            json_number_value(min));
  }
#undef FAULT
  if (rc)
    c->rc = rc;
  buf_free(&what);
}

/* Whether v has the JSON type the shape's type needs. */
static int type_matches(const char *type, const json_t *v)
{
  if (strcmp(type, "structure") == 0 || strcmp(type, "map") == 0)
    return json_is_object(v);
  if (strcmp(type, "list") == 0)
    return json_is_array(v);
  if (strcmp(type, "string") == 0 || strcmp(type, "blob") == 0)
    return json_is_string(v);
  if (strcmp(type, "integer") == 0 || strcmp(type, "long") == 0)
    return json_is_integer(v);
  if (strcmp(type, "float") == 0 || strcmp(type, "double") == 0)
    return json_is_number(v);
  if (strcmp(type, "boolean") == 0)
    return json_is_boolean(v);
  if (strcmp(type, "timestamp") == 0)
    return json_is_number(v) || json_is_string(v);
  return 1;
}

static void check_value(struct vctx *c, const char *shape_name, const json_t *v,
                        const char *path);

/* path + suffix, in a fresh buffer the caller frees. */
static int path_join(struct buf *b, const char *path, const char *member)
{
  buf_init(b, 4096);
  if (*path && buf_addf(b, "%s.", path) < 0)
    return SR_ENOMEM;
  if (buf_addc(b, (char)(member[0] >= 'A' && member[0] <= 'Z'
                             ? member[0] - 'A' + 'a'
                             : member[0])) < 0 ||
      buf_adds(b, member + 1) < 0)
    return SR_ENOMEM;
  return 0;
}

static void check_structure(struct vctx *c, const json_t *shape,
                            const json_t *v, const char *path)
{
  json_t *members = json_object_get(shape, "members");
  json_t *required = json_object_get(shape, "required");
  json_t *pair;
  size_t i;

  json_array_foreach(members, i, pair)
  {
    const char *name = json_string_value(json_array_get(pair, 0));
    const char *sub = json_string_value(json_array_get(pair, 1));
    json_t *value = json_object_get(v, name);
    struct buf p;
    int req = 0;
    size_t j;
    json_t *r;

    json_array_foreach(required, j, r) req |=
        strcmp(json_string_value(r), name) == 0;
    if (json_is_null(value))
      value = NULL; /* an explicit null is an absent member */
    if (value == NULL && !req)
      continue;
    if (path_join(&p, path, name) < 0) {
      c->rc = SR_ENOMEM;
      buf_free(&p);
      return;
    }
    if (value == NULL)
      add_error(c, NULL, buf_str(&p), "Member must not be null");
    else
      check_value(c, sub, value, buf_str(&p));
    buf_free(&p);
  }
}

/* The length constraints of a list or map shape (on its element count). */
static void check_count(struct vctx *c, const json_t *shape, const json_t *v,
                        const char *path, size_t count)
{
  json_t *min = json_object_get(shape, "min");
  json_t *max = json_object_get(shape, "max");
  char what[96];

  if (json_is_number(max) && (double)count > json_number_value(max)) {
    snprintf(what, sizeof(what),
             "Member must have length less than or equal to %.0f",
             json_number_value(max));
    add_error(c, v, path, what);
  }
  if (json_is_number(min) && (double)count < json_number_value(min)) {
    snprintf(what, sizeof(what),
             "Member must have length greater than or equal to %.0f",
             json_number_value(min));
    add_error(c, v, path, what);
  }
}

static void check_map(struct vctx *c, const json_t *shape, const json_t *v,
                      const char *path)
{
  json_t *kshape = json_object_get(
      c->m->shapes, json_string_value(json_object_get(shape, "key")));
  const char *vname = json_string_value(json_object_get(shape, "value"));
  json_t *vshape = json_object_get(c->m->shapes, vname);
  const char *vtype = json_string_value(json_object_get(vshape, "type"));
  struct buf kf, vf, what;
  const char *k;
  json_t *x;
  int rc = 0;

  check_count(c, shape, v, path, json_object_size(v));
  buf_init(&kf, 65536);
  buf_init(&vf, 65536);
  buf_init(&what, 65536);
  json_object_foreach((json_t *)v, k, x)
  {
    json_t *key;

    if (vtype && !type_matches(vtype, x)) {
      check_value(c, vname, x, path); /* reports the type */
      break;
    }
    key = json_string(k);
    if (key == NULL) {
      c->rc = SR_ENOMEM;
      break;
    }
    /* The services report the first offending key and value only. */
    if (buf_len(&kf) == 0 && kshape)
      scalar_faults(c, kshape, key, NULL, &kf);
    if (buf_len(&vf) == 0 && vshape)
      scalar_faults(c, vshape, x, NULL, &vf);
    json_decref(key);
  }
  if (buf_len(&kf)) {
    rc =
        buf_addf(&what, "Map keys must satisfy constraint: [%s]", buf_str(&kf));
    if (rc == 0)
      add_error(c, v, path, buf_str(&what));
  }
  if (rc == 0 && buf_len(&vf)) {
    buf_reset(&what);
    rc = buf_addf(&what, "Map value must satisfy constraint: [%s]",
                  buf_str(&vf));
    if (rc == 0)
      add_error(c, v, path, buf_str(&what));
  }
  if (rc)
    c->rc = rc;
  buf_free(&kf);
  buf_free(&vf);
  buf_free(&what);
}

static void check_value(struct vctx *c, const char *shape_name, const json_t *v,
                        const char *path)
{
  json_t *shape = json_object_get(c->m->shapes, shape_name);
  const char *type = json_string_value(json_object_get(shape, "type"));

  if (type == NULL || c->rc)
    return;
  if (!type_matches(type, v)) {
    if (!c->serialization) {
      c->serialization = 1;
      buf_reset(c->msg);
      if (buf_addf(c->msg, "Unexpected JSON type at '%s': expected %s", path,
                   type) < 0)
        c->rc = SR_ENOMEM;
    }
    return;
  }
  if (strcmp(type, "structure") == 0) {
    check_structure(c, shape, v, path);
  } else if (strcmp(type, "list") == 0) {
    const char *member = json_string_value(json_object_get(shape, "member"));
    size_t i;
    json_t *x;

    check_count(c, shape, v, path, json_array_size(v));
    json_array_foreach(v, i, x)
    {
      struct buf p;

      buf_init(&p, 4096);
      if (buf_addf(&p, "%s.%zu.member", path, i + 1) < 0)
        c->rc = SR_ENOMEM;
      else if (member)
        check_value(c, member, x, buf_str(&p));
      buf_free(&p);
    }
  } else if (strcmp(type, "map") == 0) {
    check_map(c, shape, v, path);
  } else {
    scalar_faults(c, shape, v, path, NULL);
  }
}

int awsmodel_validate(struct awsmodel *m, const char *operation,
                      const json_t *input, struct buf *msg)
{
  json_t *op = json_object_get(m->operations, operation);
  json_t *empty = NULL;
  struct vctx c;
  int rc;

  buf_reset(msg);
  if (op == NULL)
    return SR_ENOENT;
  if (!json_is_string(op))
    return 0; /* no input members */
  if (input == NULL) {
    empty = json_object();
    if (empty == NULL)
      return SR_ENOMEM;
    input = empty;
  }
  memset(&c, 0, sizeof(c));
  c.m = m;
  c.msg = msg;
  buf_init(&c.errors, (size_t)1 << 20);
  check_value(&c, json_string_value(op), input, "");
  if (c.rc) {
    rc = c.rc;
  } else if (c.serialization) {
    rc = SR_EPARSE;
  } else if (c.nerrors) {
    rc = buf_addf(msg, "%d validation error%s detected: %s", c.nerrors,
                  c.nerrors == 1 ? "" : "s", buf_str(&c.errors));
    if (rc == 0)
      rc = SR_EINVAL;
  } else {
    rc = 0;
  }
  buf_free(&c.errors);
  json_decref(empty);
  return rc;
}
