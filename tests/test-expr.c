#include <jansson.h>
#include <stdint.h>

#include "../runner/error.h"
#include "../runner/expr.h"
#include "test.h"

/* The context most tests evaluate against. steps.a.outputs is replaced
 * by the unknown sentinel where a test needs it. */
static const char ctx_text[] =
    "{\"params\": {\"years\": [1979, 1980], \"name\": \"gdelt\", \"n\": 3,"
    " \"ratio\": 0.9, \"one\": 1.0, \"big\": 1e20, \"on\": true,"
    " \"off\": false, \"none\": null, \"obj\": {\"a\": 1, \"b\": [true]},"
    " \"k\": \"a\", \"i\": 1, \"quote\": \"say \\\"hi\\\"\","
    " \"many\": {\"k1\": 1, \"k2\": 2, \"k3\": 3, \"k4\": 4, \"k5\": 5,"
    "   \"k6\": 6, \"k7\": 7, \"k8\": 8, \"k9\": 9, \"k10\": 10}},"
    " \"steps\": {\"a\": {\"outputs\": {\"model\": \"s3://m\"}}},"
    " \"run\": {\"id\": \"r1\"}}";

static json_t *ctx_new(void)
{
  json_error_t jerr;
  json_t *ctx = json_loads(ctx_text, 0, &jerr);

  if (ctx == NULL)
    test_fail(__FILE__, __LINE__, "bad test context: %s", jerr.text);
  return ctx;
}

/* Parses and evaluates tmpl; fails the test on any error. */
static json_t *eval_ok(const char *tmpl, json_t *ctx, json_t *unknown)
{
  struct expr_error err;
  struct expr *e;
  json_t *v;
  int rc;

  rc = expr_parse(tmpl, strlen(tmpl), &e, &err);
  if (rc)
    test_fail(__FILE__, __LINE__, "parse %s: %d at %zu: %s", tmpl, rc,
              err.offset, err.message);
  rc = expr_eval(e, ctx, unknown, &v, &err);
  expr_free(e);
  if (rc)
    test_fail(__FILE__, __LINE__, "eval %s: %d at %zu: %s", tmpl, rc,
              err.offset, err.message);
  if (v == NULL)
    test_fail(__FILE__, __LINE__, "eval %s: NULL result", tmpl);
  return v;
}

/* The result of tmpl as compact JSON text, for comparing in one line. */
static void check_json(const char *tmpl, const char *want)
{
  json_t *ctx = ctx_new();
  json_t *v = eval_ok(tmpl, ctx, NULL);
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

  if (s == NULL || strcmp(s, want) != 0)
    test_fail(__FILE__, __LINE__, "%s: expected %s, got %s", tmpl, want,
              s ? s : "(null)");
  free(s);
  json_decref(v);
  json_decref(ctx);
}

/* The result of tmpl, which must be a string. */
static void check_str(const char *tmpl, const char *want)
{
  json_t *ctx = ctx_new();
  json_t *v = eval_ok(tmpl, ctx, NULL);

  if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
    test_fail(__FILE__, __LINE__, "%s: expected \"%s\", got %s", tmpl, want,
              json_is_string(v) ? json_string_value(v) : "a non-string");
  json_decref(v);
  json_decref(ctx);
}

static void check_parse_error(const char *tmpl, size_t offset,
                              const char *message)
{
  struct expr_error err;
  struct expr *e = NULL;
  int rc;

  memset(&err, 0, sizeof(err));
  rc = expr_parse(tmpl, strlen(tmpl), &e, &err);
  if (rc != SR_EPARSE || e != NULL)
    test_fail(__FILE__, __LINE__, "%s: expected SR_EPARSE, got %d", tmpl, rc);
  if (err.offset != offset || strcmp(err.message, message) != 0)
    test_fail(__FILE__, __LINE__,
              "%s: expected error at %zu \"%s\", got at %zu \"%s\"", tmpl,
              offset, message, err.offset, err.message);
}

static void check_eval_error(const char *tmpl, size_t offset,
                             const char *message)
{
  struct expr_error err;
  struct expr *e;
  json_t *ctx = ctx_new(), *v = NULL;
  int rc;

  rc = expr_parse(tmpl, strlen(tmpl), &e, &err);
  if (rc)
    test_fail(__FILE__, __LINE__, "parse %s: %s", tmpl, err.message);
  memset(&err, 0, sizeof(err));
  rc = expr_eval(e, ctx, NULL, &v, &err);
  expr_free(e);
  json_decref(ctx);
  if (rc != SR_EINVAL || v != NULL)
    test_fail(__FILE__, __LINE__, "%s: expected SR_EINVAL, got %d", tmpl, rc);
  if (err.offset != offset || strcmp(err.message, message) != 0)
    test_fail(__FILE__, __LINE__,
              "%s: expected error at %zu \"%s\", got at %zu \"%s\"", tmpl,
              offset, message, err.offset, err.message);
}

TEST(expr_literal_templates)
{
  static const char *const texts[] = {
      "", "hello", "a $ b $$ c {{ }}", "cost: $5 ${ {", "}}", NULL};
  struct expr_error err;
  struct expr *e;
  size_t i;

  for (i = 0; texts[i]; i++) {
    ASSERT_EQ(0, expr_parse(texts[i], strlen(texts[i]), &e, &err));
    ASSERT_EQ(0, expr_is_dynamic(e));
    expr_free(e);
    check_str(texts[i], texts[i]);
  }
  ASSERT_EQ(0, expr_parse("$${{ x }}", 9, &e, &err));
  ASSERT_EQ(0, expr_is_dynamic(e));
  expr_free(e);
  check_str("$${{ x }}", "${{ x }}");
  check_str("$$${{ x }}", "$${{ x }}");
  check_str("héllo ✓", "héllo ✓");
}

TEST(expr_single_expression_keeps_type)
{
  struct expr_error err;
  struct expr *e;

  ASSERT_EQ(0, expr_parse("${{ params.years }}", 19, &e, &err));
  ASSERT_EQ(1, expr_is_dynamic(e));
  expr_free(e);
  check_json("${{ params.years }}", "[1979,1980]");
  check_json("  ${{params.years}}\n\t", "[1979,1980]");
  check_json("${{ params.n }}", "3");
  check_json("${{ params.obj }}", "{\"a\":1,\"b\":[true]}");
  check_json("${{ params.on }}", "true");
  check_json("${{ params.none }}", "null");
  check_json("${{ null }}", "null");
  check_json("${{ true }}", "true");
  check_json("${{ false }}", "false");
  check_json("${{ 42 }}", "42");
  check_json("${{ -7 }}", "-7");
  check_json("${{ 2.5 }}", "2.5");
  check_json("${{ 'x' }}", "\"x\"");
  check_json("${{ (params.n) }}", "3");
  /* Not alone: text around it, or two expressions. */
  check_json("x${{ params.n }}", "\"x3\"");
  check_json("${{ params.n }}${{ params.n }}", "\"33\"");
  check_json("${{ params.n }} $${{", "\"3 ${{\"");
}

TEST(expr_interpolation_of_each_type)
{
  check_str("y=${{ params.years }}", "y=[1979,1980]");
  check_str("n=${{ params.n }}", "n=3");
  check_str("r=${{ params.ratio }}", "r=0.9");
  check_str("r=${{ params.one }}", "r=1.0");
  check_str("r=${{ params.big }}", "r=1e20");
  check_str("r=${{ 0.000001 }}", "r=1e-6");
  check_str("r=${{ -2.5e-300 }}", "r=-2.5e-300");
  check_str("r=${{ 0.1 }}", "r=0.1");
  check_str("b=${{ params.on }},${{ params.off }}", "b=true,false");
  check_str("z=${{ params.none }}.", "z=.");
  check_str("o=${{ params.obj }}", "o={\"a\":1,\"b\":[true]}");
  check_str("s=${{ params.name }}", "s=gdelt");
  check_str("q=${{ params.quote }}", "q=say \"hi\"");
  check_str("j=${{ toJSON(params.quote) }}", "j=\"say \\\"hi\\\"\"");
  check_str("${{ params.name }}-${{ params.years[1] }}.csv", "gdelt-1980.csv");
}

TEST(expr_string_literals_and_escapes)
{
  check_str("${{ 'it''s' }}", "it's");
  check_str("${{ '' }}", "");
  check_str("${{ 'a\\b' }}", "a\\b");
  check_str("${{ \"a\\\"b\\\\c\\nd\\te\" }}", "a\"b\\c\nd\te");
  check_str("${{ \"it's\" }}", "it's");
  check_str("${{ '}}' }}", "}}");
  check_str("${{ format('{{}}') }}", "{}");
  check_str("$${{ a }} ${{ 'x' }}", "${{ a }} x");
  check_str("${{ 'é✓' }}", "é✓");
}

TEST(expr_member_and_index)
{
  check_json("${{ params.years[0] }}", "1979");
  check_json("${{ params.years[1] }}", "1980");
  check_json("${{ params['years'][1] }}", "1980");
  check_json("${{ params[\"obj\"].b[0] }}", "true");
  check_json("${{ params.obj[params.k] }}", "1");
  check_json("${{ params.years[params.i] }}", "1980");
  check_json("${{ (params.years)[0] }}", "1979");
  check_json("${{ steps.a.outputs.model }}", "\"s3://m\"");
  check_json("${{ params . years [ 0 ] }}", "1979");
  check_json("${{ fromJSON('[5,6]')[1] }}", "6");
  check_json("${{ run.id }}", "\"r1\"");
}

TEST(expr_index_errors)
{
  check_eval_error("${{ params.years[-1] }}", 17,
                   "index -1 out of range for list of 2");
  check_eval_error("${{ params.years[2] }}", 17,
                   "index 2 out of range for list of 2");
  check_eval_error("${{ params.years['a'] }}", 17,
                   "expected an integer index for a list, found a string");
  check_eval_error("${{ params.years[1.0] }}", 17,
                   "expected an integer index for a list, found a number");
  check_eval_error("${{ params.obj[0] }}", 15,
                   "expected a string key for an object, found an integer");
  check_eval_error("${{ params.name[0] }}", 15, "cannot index a string");
  check_eval_error("${{ params.years.x }}", 17, "cannot read \"x\" of a list");
  check_eval_error("${{ params.none.x }}", 16, "cannot read \"x\" of null");
  check_eval_error("x ${{ params.obj.zzz }}", 17,
                   "no key \"zzz\" in object (keys: a, b)");
  check_eval_error("${{ params.obj['zzz'] }}", 15,
                   "no key \"zzz\" in object (keys: a, b)");
  check_eval_error("${{ params.obj.aa }}", 15,
                   "no key \"aa\" in object (did you mean \"a\"?)");
  check_eval_error("${{ params.yeras }}", 11,
                   "no key \"yeras\" in object (did you mean \"years\"?)");
  check_eval_error("${{ params.many.zzz }}", 16,
                   "no key \"zzz\" in object (keys: k1, k2, k3, k4, k5, k6, "
                   "k7, k8, ...)");
  check_eval_error("${{ fromJSON('{}').x }}", 19,
                   "no key \"x\" in object (it is empty)");
  check_eval_error("${{ parms.years }}", 4,
                   "unknown name \"parms\" (did you mean \"params\"?)");
  check_eval_error("${{ zzzz }}", 4,
                   "unknown name \"zzzz\" (names: params, steps, run, env)");
  check_eval_error("${{ params.n }} ${{ nope.x }} ${{ parms }}", 20,
                   "unknown name \"nope\" (names: params, steps, run, env)");
}

TEST(expr_env)
{
  json_t *ctx = ctx_new(), *v;

  ASSERT_EQ(0, setenv("SAGERUN_EXPR_TEST", "from-env", 1));
  unsetenv("SAGERUN_EXPR_UNSET");
  check_json("${{ env.SAGERUN_EXPR_TEST }}", "\"from-env\"");
  check_json("${{ env['SAGERUN_EXPR_TEST'] }}", "\"from-env\"");
  check_json("${{ env.SAGERUN_EXPR_UNSET }}", "null");
  check_str("[${{ env.SAGERUN_EXPR_UNSET }}]", "[]");
  check_eval_error("${{ env }}", 4,
                   "expected a variable name after env, as in env.HOME");
  check_eval_error("${{ env[1] }}", 8,
                   "expected a string variable name for env, found an "
                   "integer");
  check_eval_error("${{ env.SAGERUN_EXPR_TEST.x }}", 26,
                   "cannot read \"x\" of a string");
  /* A context with its own env wins over the process. */
  json_object_set_new(ctx, "env",
                      json_pack("{s:s}", "SAGERUN_EXPR_TEST", "from-ctx"));
  v = eval_ok("${{ env.SAGERUN_EXPR_TEST }}", ctx, NULL);
  ASSERT_STR_EQ("from-ctx", json_string_value(v));
  json_decref(v);
  v = eval_ok("${{ length(env) }}", ctx, NULL);
  ASSERT_EQ(1, json_integer_value(v));
  json_decref(v);
  json_decref(ctx);
}

/* Evaluates tmpl with steps.a.outputs unknown (and params.mixed a list
 * holding it); returns the result. */
static json_t *eval_unknown(const char *tmpl, json_t *unknown)
{
  json_t *ctx = ctx_new(), *v, *a;

  a = json_object_get(json_object_get(ctx, "steps"), "a");
  json_object_set(a, "outputs", unknown);
  json_object_set_new(json_object_get(ctx, "params"), "mixed",
                      json_pack("[iO]", 1, unknown));
  v = eval_ok(tmpl, ctx, unknown);
  json_decref(ctx);
  return v;
}

TEST(expr_unknown_propagates)
{
  static const char *const unknowns[] = {
      "${{ steps.a.outputs }}",
      "${{ steps.a.outputs.model }}",
      "${{ steps.a.outputs['model'][3].x }}",
      "${{ params.years[steps.a.outputs.i] }}",
      "${{ join(steps.a.outputs.list) }}",
      "${{ length(steps.a.outputs.list) }}",
      "${{ toJSON(steps.a.outputs) }}",
      "${{ format('{0}', steps.a.outputs) }}",
      "s3://${{ steps.a.outputs.model }}/x",
      "${{ params.n }}-${{ steps.a.outputs }}",
      "${{ join(params.mixed) }}",
      "${{ toJSON(params.mixed) }}",
      "x${{ params.mixed }}",
      "${{ format('{0}', params.mixed) }}",
      "${{ params.mixed[1] }}",
      NULL};
  json_t *unknown = json_string("<unknown>"), *v;
  size_t i;

  for (i = 0; unknowns[i]; i++) {
    v = eval_unknown(unknowns[i], unknown);
    if (v != unknown)
      test_fail(__FILE__, __LINE__, "%s: expected the unknown value",
                unknowns[i]);
    json_decref(v);
  }
  /* Known parts of partly unknown values stay known. */
  v = eval_unknown("${{ length(params.mixed) }}", unknown);
  ASSERT_EQ(2, json_integer_value(v));
  json_decref(v);
  v = eval_unknown("${{ params.mixed[0] }}", unknown);
  ASSERT_EQ(1, json_integer_value(v));
  json_decref(v);
  v = eval_unknown("${{ params.mixed }}", unknown);
  ASSERT(json_is_array(v) && json_array_get(v, 1) == unknown);
  json_decref(v);
  /* The sentinel is compared by pointer, not by value. */
  {
    json_t *x = json_string("x");

    v = eval_unknown("${{ 'x' }}", x);
    ASSERT(v != x);
    ASSERT_STR_EQ("x", json_string_value(v));
    json_decref(v);
    json_decref(x);
  }
  /* Errors elsewhere still surface next to an unknown part. */
  {
    struct expr_error err;
    struct expr *e;
    json_t *ctx = ctx_new(), *out = NULL;
    const char *t = "${{ steps.a.outputs.x }} ${{ params.nope }}";

    json_object_set(json_object_get(json_object_get(ctx, "steps"), "a"),
                    "outputs", unknown);
    ASSERT_EQ(0, expr_parse(t, strlen(t), &e, &err));
    ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, unknown, &out, &err));
    ASSERT(out == NULL);
    ASSERT_EQ(36, err.offset);
    ASSERT_CONTAINS(err.message, "no key \"nope\"");
    t = "${{ format('{0}', steps.a.outputs, params.zzz) }}";
    expr_free(e);
    ASSERT_EQ(0, expr_parse(t, strlen(t), &e, &err));
    ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, unknown, &out, &err));
    ASSERT_CONTAINS(err.message, "no key \"zzz\"");
    expr_free(e);
    json_decref(ctx);
  }
  ASSERT_EQ(1, unknown->refcount);
  json_decref(unknown);
}

TEST(expr_fn_join)
{
  check_str("${{ join(params.years) }}", "1979,1980");
  check_str("${{ join(params.years, ' + ') }}", "1979 + 1980");
  check_str("${{ join(fromJSON('[\"a\", 1, 0.5, null, true, [1], {}]'), "
            "'|') }}",
            "a|1|0.5||true|[1]|{}");
  check_str("${{ join(fromJSON('[]'), '-') }}", "");
  check_str("${{ join(range(3), '') }}", "012");
  check_eval_error("${{ join(params.name) }}", 9,
                   "expected a list as argument 1 of join, found a string");
  check_eval_error("${{ join(params.years, 1) }}", 23,
                   "expected a string as argument 2 of join, found an "
                   "integer");
}

TEST(expr_fn_format)
{
  check_str("${{ format('{0}-{1}', params.name, params.n) }}", "gdelt-3");
  check_str("${{ format('{1}{0}{1}', 'a', 'b') }}", "bab");
  check_str("${{ format('{{{0}}}', 'x') }}", "{x}");
  check_str("${{ format('plain') }}", "plain");
  check_str("${{ format('{0}', params.years) }}", "[1979,1980]");
  check_str("${{ format('{0}|{1}', null, 1.5) }}", "|1.5");
  check_str("${{ format('{10}', 0,1,2,3,4,5,6,7,8,9,'ten') }}", "ten");
  check_eval_error("${{ format('{2}', 'a', 'b') }}", 11,
                   "format placeholder {2} out of range: expected {0} to "
                   "{1}");
  check_eval_error("${{ format('{0}') }}", 11,
                   "format placeholder {0} out of range: no arguments after "
                   "the format string");
  check_eval_error("${{ format('a}b', 1) }}", 11,
                   "invalid format string: expected \"}}\" for a brace at "
                   "byte 1, found \"}\"");
  check_eval_error("${{ format('x{a}', 1) }}", 11,
                   "invalid format string: expected a placeholder like {0} "
                   "or \"{{\" for a brace at byte 1");
  check_eval_error("${{ format('{0', 1) }}", 11,
                   "invalid format string: expected a placeholder like {0} "
                   "or \"{{\" for a brace at byte 0");
  check_eval_error("${{ format('{99999999999}', 1) }}", 11,
                   "invalid format string: expected a placeholder like {0} "
                   "or \"{{\" for a brace at byte 0");
  check_eval_error("${{ format(1) }}", 11,
                   "expected a string as argument 1 of format, found an "
                   "integer");
}

TEST(expr_fn_json)
{
  check_str("${{ toJSON(params.obj) }}", "{\"a\":1,\"b\":[true]}");
  check_str("${{ toJSON(fromJSON('[0.9, 1.0, 1e20, 0.30000000000000004]')) }}",
            "[0.9,1.0,1e20,0.30000000000000004]");
  check_str("${{ toJSON(\"a\\\"b\\\\c\\nd\\te\") }}",
            "\"a\\\"b\\\\c\\nd\\te\"");
  check_str("${{ toJSON(fromJSON('\"\\u0001\"')) }}", "\"\\u0001\"");
  check_str("${{ toJSON(null) }}", "null");
  check_str("${{ toJSON(params.name) }}", "\"gdelt\"");
  check_str("${{ toJSON(fromJSON('{\"z\":1,\"a\":2}')) }}",
            "{\"z\":1,\"a\":2}");
  check_json("${{ fromJSON('{\"a\": [1, 2]}') }}", "{\"a\":[1,2]}");
  check_json("${{ fromJSON('12') }}", "12");
  check_json("${{ fromJSON('\"s\"') }}", "\"s\"");
  check_json("${{ fromJSON(toJSON(params.obj)) }}", "{\"a\":1,\"b\":[true]}");
  check_eval_error("${{ fromJSON('[1,') }}", 13,
                   "invalid json in fromJSON: ']' expected near end of file "
                   "at byte 3");
  check_eval_error("${{ fromJSON(1) }}", 13,
                   "expected a string as argument 1 of fromJSON, found an "
                   "integer");
}

TEST(expr_fn_length_case_range)
{
  check_json("${{ length('héllo') }}", "5");
  check_json("${{ length('') }}", "0");
  check_json("${{ length(params.years) }}", "2");
  check_json("${{ length(params.obj) }}", "2");
  check_eval_error("${{ length(params.n) }}", 11,
                   "expected a string, list or object as argument 1 of "
                   "length, found an integer");
  check_str("${{ lower('ÉaB-Z') }}", "Éab-z");
  check_str("${{ upper('éaB-z') }}", "éAB-Z");
  check_eval_error("${{ upper(1) }}", 10,
                   "expected a string as argument 1 of upper, found an "
                   "integer");
  check_json("${{ range(3) }}", "[0,1,2]");
  check_json("${{ range(0) }}", "[]");
  check_json("${{ range(-4) }}", "[]");
  check_json("${{ range(1979, 1982) }}", "[1979,1980,1981]");
  check_json("${{ range(5, 2) }}", "[]");
  check_json("${{ length(range(100000)) }}", "100000");
  check_json("${{ range(-9223372036854775807, -9223372036854775806) }}",
             "[-9223372036854775807]");
  check_eval_error("${{ range(100001) }}", 4,
                   "range of 100001 numbers: expected at most 100000");
  check_eval_error("${{ range(-9223372036854775807, 9223372036854775807) }}", 4,
                   "range of 18446744073709551614 numbers: expected at most "
                   "100000");
  check_eval_error("${{ range('a') }}", 10,
                   "expected an integer as argument 1 of range, found a "
                   "string");
  check_eval_error("${{ range(1, 2.0) }}", 13,
                   "expected an integer as argument 2 of range, found a "
                   "number");
}

TEST(expr_parse_errors)
{
  check_parse_error("${{ }}", 4, "expected an expression, found \"}}\"");
  check_parse_error("${{}}", 3, "expected an expression, found \"}}\"");
  check_parse_error("ab ${{ params.x", 3,
                    "unterminated expression: expected \"}}\"");
  check_parse_error("${{", 0, "unterminated expression: expected \"}}\"");
  check_parse_error("${{ a }", 0, "unterminated expression: expected \"}}\"");
  check_parse_error("x ${{ join(a, ", 2,
                    "unterminated expression: expected \"}}\"");
  check_parse_error("${{ join(a, b }}", 14,
                    "expected \")\" after arguments, found end of "
                    "expression");
  check_parse_error("${{ join(a, }}", 12,
                    "expected an expression, found \"}}\"");
  check_parse_error("${{ jion(a) }}", 4,
                    "unknown function \"jion\" (did you mean \"join\"?)");
  check_parse_error("${{ tojson(a) }}", 4,
                    "unknown function \"tojson\" (did you mean \"toJSON\"?)");
  check_parse_error("${{ foo(1) }}", 4,
                    "unknown function \"foo\" (functions: format, fromJSON, "
                    "join, length, lower, range, toJSON, upper)");
  check_parse_error("${{ join(a, b, c) }}", 4,
                    "wrong number of arguments to join: expected 1 or 2, "
                    "found 3");
  check_parse_error("${{ toJSON() }}", 4,
                    "wrong number of arguments to toJSON: expected 1, found "
                    "0");
  check_parse_error("${{ format() }}", 4,
                    "wrong number of arguments to format: expected at least "
                    "1, found 0");
  check_parse_error("${{ a b }}", 6,
                    "expected \"}}\" after expression, found \"b\"");
  check_parse_error("${{ a } }}", 6,
                    "expected \"}}\" after expression, found \"}\"");
  check_parse_error("${{ a ) }}", 6,
                    "expected \"}}\" after expression, found \")\"");
  check_parse_error("${{ a. }}", 7,
                    "expected a name after \".\", found end of expression");
  check_parse_error("${{ a.1 }}", 6,
                    "expected a name after \".\", found \"1\"");
  check_parse_error("${{ a[0 }}", 8,
                    "expected \"]\" after index, found end of expression");
  check_parse_error("${{ (a }}", 7, "expected \")\", found end of expression");
  check_parse_error("${{ a # }}", 6,
                    "expected \"}}\" after expression, found \"#\"");
  check_parse_error("${{ a\x01 }}", 5,
                    "expected \"}}\" after expression, found byte 0x01");
  check_parse_error("${{ é }}", 4, "expected an expression, found \"é\"");
  check_parse_error("${{ , }}", 4, "expected an expression, found \",\"");
  check_parse_error("${{ 'x' 'y' }}", 8,
                    "expected \"}}\" after expression, found a string");
  check_parse_error("${{ 'abc }}", 4,
                    "unterminated string: expected a closing \"'\"");
  check_parse_error("${{ \"abc }}", 4,
                    "unterminated string: expected a closing '\"'");
  check_parse_error("${{ \"a\\qb\" }}", 6,
                    "unknown escape \"\\q\" in string: expected \\\", \\\\, "
                    "\\n or \\t");
  check_parse_error("${{ 99999999999999999999 }}", 4,
                    "integer 99999999999999999999 out of range");
  check_parse_error("${{ 1e999 }}", 4, "number 1e999 out of range");
  check_parse_error("x\xff", 1, "invalid utf-8 byte 0xff");
  check_parse_error("\xc0\x80", 0, "invalid utf-8 byte 0xc0");
  check_parse_error("\xed\xa0\x80", 0, "invalid utf-8 byte 0xed");
  check_parse_error("ok ${{ 1 }} then ${{ ]", 21,
                    "expected an expression, found \"]\"");
}

TEST(expr_parse_errors_nul)
{
  static const char with_nul[] = "${{ 'a\0b' }}";
  static const char bare_nul[] = "${{ a\0 }}";
  struct expr_error err;
  struct expr *e;

  ASSERT_EQ(SR_EPARSE, expr_parse(with_nul, sizeof(with_nul) - 1, &e, &err));
  ASSERT_EQ(6, err.offset);
  ASSERT_STR_EQ("unexpected NUL byte in string", err.message);
  ASSERT_EQ(SR_EPARSE, expr_parse(bare_nul, sizeof(bare_nul) - 1, &e, &err));
  ASSERT_EQ(5, err.offset);
  ASSERT_STR_EQ("expected \"}}\" after expression, found byte 0x00",
                err.message);
  /* Literal text may hold a NUL: it is just a byte of the string. */
  ASSERT_EQ(0, expr_parse("a\0b", 3, &e, &err));
  expr_free(e);
}

TEST(expr_text_not_nul_terminated)
{
  static const char tmpl[] = "${{ params.n }}${{ 'abc' }}";
  struct expr_error err;
  struct expr *e;
  json_t *ctx = ctx_new(), *v;
  size_t n = strlen(tmpl), cut;
  char *copy;

  /* Every prefix, in a buffer with nothing after it, so ASan sees any
   * read past len. */
  for (cut = 0; cut <= n; cut++) {
    copy = malloc(cut ? cut : 1);
    ASSERT(copy != NULL);
    memcpy(copy, tmpl, cut);
    if (expr_parse(copy, cut, &e, &err) == 0) {
      if (expr_eval(e, ctx, NULL, &v, &err) == 0)
        json_decref(v);
      expr_free(e);
    }
    free(copy);
  }
  /* The bytes after len are not part of the template. */
  ASSERT_EQ(0, expr_parse("${{ 'a' }}XYZ", 10, &e, &err));
  ASSERT_EQ(0, expr_eval(e, ctx, NULL, &v, &err));
  ASSERT_STR_EQ("a", json_string_value(v));
  json_decref(v);
  expr_free(e);
  json_decref(ctx);
}

static char *repeat(const char *head, const char *unit, size_t count,
                    const char *mid, const char *unit2, const char *tail)
{
  size_t lu = strlen(unit), lu2 = strlen(unit2), i, k = 0;
  size_t len = strlen(head) + count * (lu + lu2) + strlen(mid) + strlen(tail);
  char *s = malloc(len + 1);

  ASSERT(s != NULL);
  memcpy(s, head, strlen(head));
  k = strlen(head);
  for (i = 0; i < count; i++, k += lu)
    memcpy(s + k, unit, lu);
  memcpy(s + k, mid, strlen(mid));
  k += strlen(mid);
  for (i = 0; i < count; i++, k += lu2)
    memcpy(s + k, unit2, lu2);
  memcpy(s + k, tail, strlen(tail) + 1);
  return s;
}

static int parse_rc(const char *text, struct expr_error *err)
{
  struct expr *e = NULL;
  int rc = expr_parse(text, strlen(text), &e, err);

  expr_free(e);
  return rc;
}

TEST(expr_deep_nesting)
{
  struct expr_error err;
  char *s;

  s = repeat("${{ ", "(", 63, "1", ")", " }}");
  ASSERT_EQ(0, parse_rc(s, &err));
  check_json(s, "1");
  free(s);
  s = repeat("${{ ", "(", 64, "1", ")", " }}");
  ASSERT_EQ(SR_EPARSE, parse_rc(s, &err));
  ASSERT_STR_EQ("expression nested too deeply", err.message);
  ASSERT_EQ(4 + 64, err.offset);
  free(s);
  s = repeat("${{ ", "(", 100000, "1", ")", " }}");
  ASSERT_EQ(SR_EPARSE, parse_rc(s, &err));
  free(s);
  s = repeat("${{ ", "length(", 100000, "'x'", ")", " }}");
  ASSERT_EQ(SR_EPARSE, parse_rc(s, &err));
  ASSERT_STR_EQ("expression nested too deeply", err.message);
  free(s);
  s = repeat("${{ ", "params.years[", 100000, "0", "]", " }}");
  ASSERT_EQ(SR_EPARSE, parse_rc(s, &err));
  ASSERT_STR_EQ("expression nested too deeply", err.message);
  free(s);
  /* Long postfix chains do not recurse in the parser but make a tall
   * tree, which evaluation walks recursively: they are limited too. */
  s = repeat("${{ params", ".x", 200, "", "", " }}");
  ASSERT_EQ(0, parse_rc(s, &err));
  free(s);
  s = repeat("${{ params", ".x", 100000, "", "", " }}");
  ASSERT_EQ(SR_EPARSE, parse_rc(s, &err));
  ASSERT_STR_EQ("expression nested too deeply", err.message);
  free(s);
  s = repeat("${{ params", "[0]", 100000, "", "", " }}");
  ASSERT_EQ(SR_EPARSE, parse_rc(s, &err));
  free(s);
  /* Many parts side by side are not nesting. */
  s = repeat("", "${{ params.n }}", 20000, "", "", "");
  ASSERT_EQ(0, parse_rc(s, &err));
  free(s);
}

struct ref_log {
  char text[1024];
  size_t used;
  int stop_after;
  int calls;
};

/* Writes each path as root.name[0]["key"]@offsets; */
static int log_ref(void *data, const struct expr_ref *ref)
{
  struct ref_log *log = data;
  size_t i;

  for (i = 0; i < ref->count; i++) {
    const struct expr_segment *s = &ref->segments[i];

    if (s->name && i == 0)
      log->used +=
          (size_t)snprintf(log->text + log->used, sizeof(log->text) - log->used,
                           "%s@%zu", s->name, s->offset);
    else if (s->name)
      log->used +=
          (size_t)snprintf(log->text + log->used, sizeof(log->text) - log->used,
                           " %s@%zu", s->name, s->offset);
    else
      log->used +=
          (size_t)snprintf(log->text + log->used, sizeof(log->text) - log->used,
                           " [%ld]@%zu", s->index, s->offset);
  }
  log->used += (size_t)snprintf(log->text + log->used,
                                sizeof(log->text) - log->used, "; ");
  log->calls++;
  return log->calls == log->stop_after ? 7 : 0;
}

static void check_refs(const char *tmpl, const char *want)
{
  struct expr_error err;
  struct expr *e;
  struct ref_log log;

  memset(&log, 0, sizeof(log));
  if (expr_parse(tmpl, strlen(tmpl), &e, &err))
    test_fail(__FILE__, __LINE__, "parse %s: %s", tmpl, err.message);
  ASSERT_EQ(0, expr_foreach_ref(e, log_ref, &log));
  expr_free(e);
  if (strcmp(log.text, want) != 0)
    test_fail(__FILE__, __LINE__, "%s: expected refs \"%s\", got \"%s\"", tmpl,
              want, log.text);
}

TEST(expr_foreach_ref_paths)
{
  struct expr_error err;
  struct expr *e;
  struct ref_log log;
  const char *t;

  check_refs("plain text", "");
  check_refs("${{ 1 }}", "");
  check_refs("${{ params.years[0] }}", "params@4 years@11 [0]@17; ");
  check_refs("x ${{ steps.a.outputs['m-x'].y }}",
             "steps@6 a@12 outputs@14 m-x@22 y@29; ");
  check_refs("${{ params.years[-1] }}", "params@4 years@11 [-1]@17; ");
  check_refs("${{ params }}", "params@4; ");
  check_refs("${{ join(params.years, each.sep) }}",
             "params@9 years@16; each@23 sep@28; ");
  check_refs("${{ params.m[params.k].z }}", "params@4 m@11; params@13 k@20; ");
  check_refs("${{ params.m[1.5].z }}", "params@4 m@11; ");
  check_refs("${{ params.m[true] }}", "params@4 m@11; ");
  check_refs("${{ fromJSON(params.j).x[run.id] }}",
             "params@13 j@20; run@25 id@29; ");
  check_refs("${{ (params.a).b }}", "params@5 a@12 b@15; ");
  check_refs("${{ a }}-${{ b.c }}", "a@4; b@13 c@15; ");
  check_refs("${{ env.HOME }}", "env@4 HOME@8; ");
  check_refs("${{ a[b[c[0]]] }}", "a@4; b@6; c@8 [0]@10; ");
  check_refs("${{ format('{0}', x[0][1]['k'], y) }}",
             "x@18 [0]@20 [1]@23 k@26; y@32; ");
  /* The callback's nonzero value stops the walk and is returned. */
  t = "${{ a }}${{ b }}${{ c }}";
  memset(&log, 0, sizeof(log));
  log.stop_after = 2;
  ASSERT_EQ(0, expr_parse(t, strlen(t), &e, &err));
  ASSERT_EQ(7, expr_foreach_ref(e, log_ref, &log));
  ASSERT_EQ(2, log.calls);
  expr_free(e);
}

TEST(expr_segments_outlive_the_text)
{
  struct expr_error err;
  struct expr *e;
  struct ref_log log;
  char *text = strdup("${{ params.years['k'] }}");

  ASSERT(text != NULL);
  ASSERT_EQ(0, expr_parse(text, strlen(text), &e, &err));
  memset(text, 'z', strlen(text));
  free(text);
  memset(&log, 0, sizeof(log));
  ASSERT_EQ(0, expr_foreach_ref(e, log_ref, &log));
  ASSERT_STR_EQ("params@4 years@11 k@17; ", log.text);
  expr_free(e);
}

TEST(expr_long_messages_are_cut_cleanly)
{
  struct expr_error err;
  struct expr *e;
  json_t *ctx = ctx_new(), *v = NULL, *m;
  char *s;
  size_t len;

  /* A long key in an error: the message is cut to fit, never in the
   * middle of a character (it must still be valid UTF-8). */
  s = repeat("${{ params.obj['", "é", 300, "", "", "'] }}");
  ASSERT_EQ(0, expr_parse(s, strlen(s), &e, &err));
  ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, NULL, &v, &err));
  len = strlen(err.message);
  ASSERT(len > 200 && len < sizeof(err.message));
  ASSERT(strncmp(err.message, "no key \"\xc3\xa9", 10) == 0);
  m = json_string(err.message);
  ASSERT(m != NULL);
  json_decref(m);
  expr_free(e);
  free(s);
  s = repeat("${{ zzzz", "z", 300, "", "", " }}");
  ASSERT_EQ(0, expr_parse(s, strlen(s), &e, &err));
  ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, NULL, &v, &err));
  ASSERT_EQ(sizeof(err.message) - 1, strlen(err.message));
  ASSERT(strncmp(err.message, "unknown name \"zzzz", 18) == 0);
  expr_free(e);
  free(s);
  json_decref(ctx);
  /* err is optional. */
  ASSERT_EQ(SR_EPARSE, parse_rc("${{ (", NULL));
}

/* xorshift64: the same sequence on every run, so failures reproduce. */
static uint64_t rand_next(uint64_t *state)
{
  uint64_t x = *state;

  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  *state = x;
  return x;
}

static int count_ref(void *data, const struct expr_ref *ref)
{
  size_t *n = data;

  *n += ref->count;
  return 0;
}

TEST_TIMEOUT(expr_random_inputs, 120000);
TEST(expr_random_inputs)
{
  /* Pieces of the language, so random strings reach deep into the
   * parser; raw bytes keep the lexer honest. */
  static const char *const pieces[] = {
      "${{",    "}}",      "$${{",     "(",      ")",       "[",     "]",
      ".",      ",",       "'",        "\"",     "\\",      "''",    " ",
      "params", "years",   "steps",    "a",      "outputs", "env",   "join",
      "format", "toJSON",  "fromJSON", "length", "lower",   "upper", "range",
      "0",      "1",       "-1",       "1.5",    "1e3",     "true",  "null",
      "'{0}'",  "'[1,2]'", "{",        "}",      "é",       "\xff",  "\x00",
      "-",      "mixed"};
  json_t *ctx = ctx_new(), *unknown = json_string("<unknown>"), *v;
  uint64_t state = 0x9E3779B97F4A7C15ull;
  struct expr_error err;
  struct expr *e;
  char *text;
  size_t round, len, i, k, nrefs, parsed = 0;

  json_object_set(json_object_get(json_object_get(ctx, "steps"), "a"),
                  "outputs", unknown);
  json_object_set_new(json_object_get(ctx, "params"), "mixed",
                      json_pack("[iO]", 1, unknown));
  for (round = 0; round < 10000; round++) {
    size_t cap = 1 + rand_next(&state) % 160;
    int raw = rand_next(&state) % 4 == 0;

    text = malloc(cap);
    ASSERT(text != NULL);
    len = 0;
    while (len < cap) {
      if (raw) {
        text[len++] = (char)(rand_next(&state) & 0xFF);
        continue;
      }
      k = rand_next(&state) % (sizeof(pieces) / sizeof(pieces[0]));
      /* "\x00" is one byte, not an empty string. */
      i = pieces[k][0] ? strlen(pieces[k]) : 1;
      if (len + i > cap)
        break;
      memcpy(text + len, pieces[k], i);
      len += i;
    }
    if (expr_parse(text, len, &e, &err) == 0) {
      parsed++;
      nrefs = 0;
      expr_foreach_ref(e, count_ref, &nrefs);
      if (expr_eval(e, ctx, unknown, &v, &err) == 0)
        json_decref(v);
      else
        ASSERT(err.offset <= len && strlen(err.message) > 0);
      expr_free(e);
    } else {
      ASSERT(err.offset <= len && strlen(err.message) > 0);
    }
    free(text);
  }
  ASSERT(parsed > 100);
  json_decref(ctx);
  ASSERT_EQ(1, unknown->refcount);
  json_decref(unknown);
}

TEST(expr_messages_for_lists_of_names)
{
  json_t *ctx = json_object(), *v = NULL;
  struct expr_error err;
  struct expr *e;
  char key[8];
  int i;

  ASSERT(ctx != NULL);
  for (i = 0; i < 12; i++) {
    snprintf(key, sizeof(key), "root%d", i);
    json_object_set_new(ctx, key, json_integer(i));
  }
  ASSERT_EQ(0, expr_parse("${{ zzzzz }}", 12, &e, &err));
  ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, NULL, &v, &err));
  ASSERT_STR_EQ("unknown name \"zzzzz\" (names: root0, root1, root2, root3, "
                "root4, root5, root6, root7, ..., env)",
                err.message);
  ASSERT_EQ(SR_EINVAL, expr_eval(e, NULL, NULL, &v, &err));
  ASSERT_STR_EQ("unknown name \"zzzzz\" (names: env)", err.message);
  expr_free(e);
  ASSERT_EQ(0, expr_parse("${{ root11x }}", 14, &e, &err));
  ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, NULL, &v, &err));
  ASSERT_STR_EQ("unknown name \"root11x\" (did you mean \"root11\"?)",
                err.message);
  expr_free(e);
  ASSERT_EQ(0, expr_parse("${{ Env.HOME }}", 15, &e, &err));
  ASSERT_EQ(SR_EINVAL, expr_eval(e, ctx, NULL, &v, &err));
  ASSERT_STR_EQ("unknown name \"Env\" (did you mean \"env\"?)", err.message);
  expr_free(e);
  json_decref(ctx);
  check_eval_error("${{ format('{1}', 'a') }}", 11,
                   "format placeholder {1} out of range: expected {0}");
}

/* jansson allocations fail once this many have succeeded (-1: never). */
static long jansson_allocs_left = -1;

static void *failing_malloc(size_t size)
{
  if (jansson_allocs_left == 0)
    return NULL;
  if (jansson_allocs_left > 0)
    jansson_allocs_left--;
  return malloc(size);
}

TEST(expr_jansson_allocation_failures)
{
  /* Every path through a failed jansson allocation must report an error
   * and leak nothing (ASan's leak check runs at exit). */
  static const char *const tmpls[] = {
      "${{ 'x' }} ${{ 1 }} ${{ 1.5 }} ${{ params.years[0] }}",
      "${{ params.years }}-${{ params.obj }}",
      "${{ join(params.years, '-') }}",
      "${{ format('{0}/{1}', params.name, params.ratio) }}",
      "${{ toJSON(params.obj) }}",
      "${{ fromJSON('{\"a\": [1, 2.5, \"x\"]}').a }}",
      "${{ length(params.name) }}${{ lower('AB') }}${{ upper('ab') }}",
      "${{ range(2, 40) }}",
      NULL};
  json_t *ctx = ctx_new(), *v;
  struct expr_error err;
  struct expr *e;
  size_t i;
  long n;
  int rc, ok;

  json_set_alloc_funcs(failing_malloc, free);
  for (i = 0; tmpls[i]; i++) {
    for (ok = 0, n = 0; !ok && n < 1000; n++) {
      jansson_allocs_left = n;
      rc = expr_parse(tmpls[i], strlen(tmpls[i]), &e, &err);
      if (rc) {
        ASSERT(rc == SR_ENOMEM || rc == SR_EPARSE);
        continue;
      }
      v = NULL;
      rc = expr_eval(e, ctx, NULL, &v, &err);
      ok = rc == 0;
      ASSERT(ok ? v != NULL : v == NULL);
      json_decref(v);
      expr_free(e);
    }
    ASSERT(ok);
  }
  jansson_allocs_left = -1;
  json_decref(ctx);
}
