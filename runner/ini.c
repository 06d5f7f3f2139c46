/* The AWS config-file dialect of INI, parsed the way botocore does it (see
 * ini.h). Error messages name files, lines, sections and keys but never
 * echo a line: a malformed line may well hold a secret. */
#include "ini.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

/* Config files are small; anything bigger is a mistake, not a config. */
#define INI_FILE_CAP ((size_t)16 << 20)

struct ini_parser {
  struct ini *ini;
  const char *name;
  struct buf *err;
  int lineno;
  long cur;            /* section index; -1 before any, -2 for [DEFAULT] */
  int open;            /* the last pair of the section takes more lines */
  size_t indent_level; /* indentation of the last key or header line */
  struct buf value;    /* the open pair's value so far */
};

/* Python's str.strip() set, restricted to ASCII. */
static int ini_is_space(unsigned char c)
{
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static char *ini_strndup(const char *s, size_t n)
{
  char *p = malloc(n + 1);

  if (p == NULL)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static int ini_error(struct ini_parser *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends "name:line: message" to the error buffer; returns SR_EPARSE. */
static int ini_error(struct ini_parser *p, int line, const char *fmt, ...)
{
  va_list ap;

  if (p->err == NULL)
    return SR_EPARSE;
  buf_addf(p->err, "%s:%d: ", p->name, line);
  va_start(ap, fmt);
  buf_vaddf(p->err, fmt, ap);
  va_end(ap);
  return SR_EPARSE;
}

static struct ini_section *ini_parser_section(struct ini_parser *p)
{
  if (p->cur == -2)
    return &p->ini->defaults;
  return &p->ini->sections[p->cur];
}

static void ini_pairs_free(struct ini_pair *pairs, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    free(pairs[i].key);
    free(pairs[i].value);
    ini_pairs_free(pairs[i].sub, pairs[i].nsub);
  }
  free(pairs);
}

static void ini_section_release(struct ini_section *s)
{
  free(s->name);
  ini_pairs_free(s->pairs, s->npairs);
}

void ini_free(struct ini *ini)
{
  size_t i;

  if (ini == NULL)
    return;
  for (i = 0; i < ini->nsections; i++)
    ini_section_release(&ini->sections[i]);
  free(ini->sections);
  ini_section_release(&ini->defaults);
  free(ini);
}

/* Whether an array of n elements is full: capacities are the powers of
 * two, so it grows when n is 0 or a power of two. */
static int ini_full(size_t n)
{
  return (n & (n - 1)) == 0;
}

/* Appends a zeroed pair to *pairs; returns it, or NULL when out of
 * memory (the array is then unchanged). */
static struct ini_pair *ini_pair_push(struct ini_pair **pairs, size_t *n)
{
  struct ini_pair *grown;

  if (ini_full(*n)) {
    grown = realloc(*pairs, (*n ? 2 * *n : 1) * sizeof(**pairs));
    if (grown == NULL)
      return NULL;
    *pairs = grown;
  }
  memset(&(*pairs)[*n], 0, sizeof(**pairs));
  return &(*pairs)[(*n)++];
}

/* Splits a value that began with a newline into botocore's nested keys:
 * each non-blank line must hold "key = value". */
static int ini_parse_nested(struct ini_parser *p, struct ini_pair *pair)
{
  const char *s = pair->value, *eol, *b, *e, *eq, *ke, *vb;
  struct ini_pair *sub;

  while (*s) {
    eol = strchr(s, '\n');
    if (eol == NULL)
      eol = s + strlen(s);
    b = s;
    e = eol;
    s = *eol ? eol + 1 : eol;
    while (b < e && ini_is_space((unsigned char)*b))
      b++;
    while (e > b && ini_is_space((unsigned char)e[-1]))
      e--;
    if (b == e)
      continue;
    eq = memchr(b, '=', (size_t)(e - b));
    if (eq == NULL)
      return ini_error(p, pair->line,
                       "expected \"key = value\" in the nested block of %s",
                       pair->key);
    sub = ini_pair_push(&pair->sub, &pair->nsub);
    if (sub == NULL)
      return SR_ENOMEM;
    sub->line = pair->line;
    ke = eq;
    vb = eq + 1;
    while (ke > b && ini_is_space((unsigned char)ke[-1]))
      ke--;
    while (vb < e && ini_is_space((unsigned char)*vb))
      vb++;
    sub->key = ini_strndup(b, (size_t)(ke - b));
    sub->value = ini_strndup(vb, (size_t)(e - vb));
    if (sub->key == NULL || sub->value == NULL)
      return SR_ENOMEM;
  }
  return 0;
}

/* Ends the open pair: its value is the joined lines, right-stripped. */
static int ini_close_pair(struct ini_parser *p)
{
  struct ini_section *s;
  struct ini_pair *pair;
  const char *v;
  size_t n;

  if (!p->open)
    return 0;
  p->open = 0;
  s = ini_parser_section(p);
  pair = &s->pairs[s->npairs - 1];
  v = buf_str(&p->value);
  n = buf_len(&p->value);
  while (n > 0 && ini_is_space((unsigned char)v[n - 1]))
    n--;
  pair->value = ini_strndup(v, n);
  buf_reset(&p->value);
  if (pair->value == NULL)
    return SR_ENOMEM;
  if (pair->value[0] == '\n')
    return ini_parse_nested(p, pair);
  return 0;
}

static int ini_open_section(struct ini_parser *p, const char *name, size_t n)
{
  struct ini *ini = p->ini;
  struct ini_section *grown;
  size_t i;
  int rc;

  rc = ini_close_pair(p);
  if (rc)
    return rc;
  if (n == 7 && memcmp(name, "DEFAULT", 7) == 0) {
    /* configparser lets [DEFAULT] reopen; its keys still may not repeat. */
    p->cur = -2;
    return 0;
  }
  for (i = 0; i < ini->nsections; i++)
    if (strlen(ini->sections[i].name) == n &&
        memcmp(ini->sections[i].name, name, n) == 0)
      return ini_error(p, p->lineno, "duplicate section [%.*s]", (int)n, name);
  if (ini_full(ini->nsections)) {
    grown = realloc(ini->sections,
                    (ini->nsections ? 2 * ini->nsections : 1) * sizeof(*grown));
    if (grown == NULL)
      return SR_ENOMEM;
    ini->sections = grown;
  }
  grown = ini->sections;
  memset(&grown[ini->nsections], 0, sizeof(*grown));
  grown[ini->nsections].name = ini_strndup(name, n);
  if (grown[ini->nsections].name == NULL)
    return SR_ENOMEM;
  grown[ini->nsections].line = p->lineno;
  p->cur = (long)ini->nsections++;
  return 0;
}

/* A "key = value" line (s..e stripped, non-empty) in the current section. */
static int ini_add_pair(struct ini_parser *p, const char *s, const char *e)
{
  struct ini_section *sec;
  struct ini_pair *pair;
  const char *d = s, *ke, *vb;
  char *key;
  size_t i;
  int rc;

  while (d < e && *d != '=' && *d != ':')
    d++;
  if (d == e)
    return ini_error(p, p->lineno, "expected \"key = value\"");
  ke = d;
  while (ke > s && ini_is_space((unsigned char)ke[-1]))
    ke--;
  if (ke == s)
    return ini_error(p, p->lineno, "missing key before \"%c\"", *d);
  vb = d + 1;
  while (vb < e && ini_is_space((unsigned char)*vb))
    vb++;
  rc = ini_close_pair(p);
  if (rc)
    return rc;
  key = ini_strndup(s, (size_t)(ke - s));
  if (key == NULL)
    return SR_ENOMEM;
  /* configparser's optionxform: keys are case-insensitive. */
  for (i = 0; key[i]; i++)
    if (key[i] >= 'A' && key[i] <= 'Z')
      key[i] = (char)(key[i] - 'A' + 'a');
  sec = ini_parser_section(p);
  for (i = 0; i < sec->npairs; i++)
    if (strcmp(sec->pairs[i].key, key) == 0) {
      rc = ini_error(p, p->lineno, "duplicate key %s in section [%s]", key,
                     sec->name ? sec->name : "DEFAULT");
      free(key);
      return rc;
    }
  pair = ini_pair_push(&sec->pairs, &sec->npairs);
  if (pair == NULL) {
    free(key);
    return SR_ENOMEM;
  }
  pair->key = key;
  pair->line = p->lineno;
  p->open = 1;
  return buf_add(&p->value, vb, (size_t)(e - vb));
}

static int ini_parse_line(struct ini_parser *p, const char *line, size_t n)
{
  const char *s = line, *e = line + n, *close;
  size_t indent;

  while (s < e && ini_is_space((unsigned char)*s))
    s++;
  while (e > s && ini_is_space((unsigned char)e[-1]))
    e--;
  indent = (size_t)(s - line);
  if (s == e) /* a blank line belongs to the open value */
    return p->open ? buf_addc(&p->value, '\n') : 0;
  if (*s == '#' || *s == ';')
    return 0;
  if (p->open && indent > p->indent_level) {
    if (buf_addc(&p->value, '\n'))
      return SR_ENOMEM;
    return buf_add(&p->value, s, (size_t)(e - s));
  }
  p->indent_level = indent;
  if (*s == '[') {
    /* "\[(.+)\]" matched greedily from the start: up to the last "]". */
    close = e;
    while (close > s && close[-1] != ']')
      close--;
    if (close - s >= 3)
      return ini_open_section(p, s + 1, (size_t)(close - 1 - (s + 1)));
  }
  if (p->cur == -1)
    return ini_error(p, p->lineno, "expected a [section] header first");
  return ini_add_pair(p, s, e);
}

int ini_parse(const char *text, size_t len, const char *name, struct ini **out,
              struct buf *err)
{
  struct ini_parser p;
  const char *nul;
  size_t pos = 0, start;
  int rc = 0;

  *out = NULL;
  memset(&p, 0, sizeof(p));
  p.name = name;
  p.err = err;
  p.cur = -1;
  buf_init(&p.value, INI_FILE_CAP);
  p.ini = calloc(1, sizeof(*p.ini));
  if (p.ini == NULL)
    return SR_ENOMEM;
  nul = memchr(text, '\0', len);
  if (nul) {
    for (pos = 0, p.lineno = 1; text + pos < nul; pos++)
      p.lineno += text[pos] == '\n';
    rc = ini_error(&p, p.lineno, "NUL byte in the file");
    goto out;
  }
  while (pos < len) {
    start = pos;
    while (pos < len && text[pos] != '\n' && text[pos] != '\r')
      pos++;
    p.lineno++;
    rc = ini_parse_line(&p, text + start, pos - start);
    if (rc)
      goto out;
    if (pos < len && text[pos] == '\r' && pos + 1 < len &&
        text[pos + 1] == '\n')
      pos++;
    if (pos < len)
      pos++;
  }
  rc = ini_close_pair(&p);
out:
  buf_free(&p.value);
  if (rc) {
    ini_free(p.ini);
    return rc;
  }
  *out = p.ini;
  return 0;
}

int ini_load(const char *path, struct ini **out, struct buf *err)
{
  struct buf text;
  struct stat st;
  char chunk[4096];
  FILE *f = NULL;
  size_t got;
  int rc = 0;

  *out = NULL;
  buf_init(&text, INI_FILE_CAP);
  if (stat(path, &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR)
      return SR_ENOENT;
    if (err)
      buf_addf(err, "%s: %s", path, strerror(errno));
    return SR_EIO;
  }
  /* botocore only reads regular files; anything else counts as absent. */
  if (!S_ISREG(st.st_mode))
    return SR_ENOENT;
  f = fopen(path, "rb");
  if (f == NULL) {
    if (err)
      buf_addf(err, "%s: %s", path, strerror(errno));
    return SR_EIO;
  }
  for (;;) {
    got = fread(chunk, 1, sizeof(chunk), f);
    if (got == 0)
      break;
    rc = buf_add(&text, chunk, got);
    if (rc == SR_ETOOBIG) {
      if (err)
        buf_addf(err, "%s: larger than %zu bytes", path, INI_FILE_CAP);
      goto out;
    }
    if (rc)
      goto out;
  }
  if (ferror(f)) {
    if (err)
      buf_addf(err, "%s: read error", path);
    rc = SR_EIO;
    goto out;
  }
  rc = ini_parse(buf_str(&text), buf_len(&text), path, out, err);
out:
  fclose(f);
  buf_free(&text);
  return rc;
}

const struct ini_section *ini_section_find(const struct ini *ini,
                                           const char *name)
{
  size_t i;

  if (ini == NULL)
    return NULL;
  for (i = 0; i < ini->nsections; i++)
    if (strcmp(ini->sections[i].name, name) == 0)
      return &ini->sections[i];
  return NULL;
}

static const struct ini_pair *ini_pair_in(const struct ini_section *s,
                                          const char *key)
{
  size_t i;

  for (i = 0; i < s->npairs; i++)
    if (strcmp(s->pairs[i].key, key) == 0)
      return &s->pairs[i];
  return NULL;
}

const struct ini_pair *ini_pair_find(const struct ini *ini,
                                     const struct ini_section *s,
                                     const char *key)
{
  const struct ini_pair *p = NULL;

  if (s)
    p = ini_pair_in(s, key);
  if (p == NULL && ini)
    p = ini_pair_in(&ini->defaults, key);
  return p;
}

const char *ini_get(const struct ini *ini, const struct ini_section *s,
                    const char *key)
{
  const struct ini_pair *p = ini_pair_find(ini, s, key);

  return p ? p->value : NULL;
}

const char *ini_sub_get(const struct ini_pair *p, const char *key)
{
  size_t i;

  if (p == NULL)
    return NULL;
  /* botocore builds a dict from the lines: the last one wins. */
  for (i = p->nsub; i > 0; i--)
    if (strcmp(p->sub[i - 1].key, key) == 0)
      return p->sub[i - 1].value;
  return NULL;
}
