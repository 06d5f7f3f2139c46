/* Expressions: the `${{ ... }}` parts of workflow strings.
 *
 * A template is a string with zero or more `${{ expr }}` parts. A template
 * that is exactly one expression (whitespace around it allowed) evaluates
 * to that expression's JSON value of any type; otherwise each part is
 * converted to text (strings as they are, numbers and booleans as JSON,
 * null as "", arrays and objects as compact JSON) and interpolated.
 * `$${{` is a literal `${{`.
 *
 * Grammar (no general-purpose language on purpose):
 *   expr     := postfix
 *   postfix  := primary ( '.' IDENT | '[' expr ']' )*
 *   primary  := IDENT                  a root: params, steps, each, run, env
 *             | IDENT '(' args? ')'    a function call
 *             | NUMBER | STRING | true | false | null
 *             | '(' expr ')'
 *   STRING   := '...' with '' for a quote (as GitHub Actions), or "..."
 *               with \" \\ \n \t escapes
 *   IDENT    := [A-Za-z_][A-Za-z0-9_-]*
 * Functions: join(list, sep = ","), format(fmt, args...) with {0} {1}
 * placeholders and {{ }} for braces, toJSON(v), fromJSON(s), length(v),
 * lower(s), upper(s), range(n) / range(start, stop) giving a list of
 * integers. Names are case-sensitive. */
#ifndef SAGERUN_EXPR_H
#define SAGERUN_EXPR_H

#include <jansson.h>
#include <stddef.h>

struct expr;

/* Where and why parsing or evaluating failed. offset is the byte offset in
 * the template text of the offending token (the start of the expression
 * when no better place is known). message is lowercase, without a final
 * period, and says what was expected and what was found. */
struct expr_error {
  size_t offset;
  char message[256];
};

/* One reference path in an expression, e.g. params.years[0] gives
 * segments "params", "years", 0. Index expressions that are not literals
 * end the path (the prefix up to them is still reported). */
struct expr_segment {
  const char *name; /* identifier or literal string key, or NULL */
  long index;       /* a literal integer index when name is NULL */
  size_t offset;    /* byte offset of this segment in the template */
};

struct expr_ref {
  const struct expr_segment *segments;
  size_t count;
};

/* Parses text (not necessarily NUL-terminated; len bytes). Returns 0 and
 * sets *out (a template with no `${{` at all is valid: a literal), or
 * SR_EPARSE and fills *err. */
int expr_parse(const char *text, size_t len, struct expr **out,
               struct expr_error *err);

void expr_free(struct expr *e);

/* 1 if the template contains at least one expression, 0 if it is literal
 * text. */
int expr_is_dynamic(const struct expr *e);

/* Calls cb for every reference path in every expression, in order of
 * appearance. cb returns nonzero to stop; that value is returned. */
int expr_foreach_ref(const struct expr *e,
                     int (*cb)(void *data, const struct expr_ref *ref),
                     void *data);

/* Evaluates against ctx, a JSON object whose keys are the roots (params,
 * steps, each, run, ...); the root `env` reads the process environment
 * (an unset variable is null) unless ctx has an "env" key. Any value
 * pointer-equal to `unknown` (may be NULL) is a value known only at run
 * time: indexing it, calling a function on it or interpolating it yields
 * `unknown` again (returned with a new reference). Returns 0 and a new
 * reference in *out, or a negative SR_ code and fills *err (unknown root
 * or key, index out of range, wrong type, bad function arguments). */
int expr_eval(const struct expr *e, json_t *ctx, json_t *unknown, json_t **out,
              struct expr_error *err);

#endif
