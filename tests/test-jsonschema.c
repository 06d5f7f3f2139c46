#include <dirent.h>
#include <jansson.h>

#include "../runner/error.h"
#include "../runner/jsonschema.h"
#include "test.h"

/* TEST() defines functions without a prior declaration; until test.h
 * declares them, keep -Wmissing-prototypes quiet for this file. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

#define SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"
#define DRAFT7 "http://json-schema.org/draft-07/schema#"
#define DRAFT2020 "https://json-schema.org/draft/2020-12/schema"

/* ---- helpers ---- */

/* Parses JSON written with ' for " (C string literals stay readable). */
static json_t *jq(const char *text)
{
  json_error_t jerr;
  char *s = strdup(text), *p;
  json_t *v;

  ASSERT(s != NULL);
  for (p = s; *p; p++)
    if (*p == '\'')
      *p = '"';
  v = json_loads(s, JSON_DECODE_ANY, &jerr);
  if (v == NULL)
    test_fail(__FILE__, __LINE__, "bad test JSON %s: %s", s, jerr.text);
  free(s);
  return v;
}

static struct jsonschema *compile_ok(const char *text)
{
  struct jsonschema *s;
  json_t *schema = jq(text);
  char err[256];
  int rc = jsonschema_compile(schema, &s, err, sizeof(err));

  if (rc != 0)
    test_fail(__FILE__, __LINE__, "compile %s: %d: %s", text, rc, err);
  json_decref(schema); /* the compiled schema keeps its own reference */
  return s;
}

/* Compiles text expecting failure code; returns the reason in err. */
static void compile_fails(const char *text, int code, char *err, size_t len)
{
  struct jsonschema *s = NULL;
  json_t *schema = jq(text);
  int rc = jsonschema_compile(schema, &s, err, len);

  if (rc != code)
    test_fail(__FILE__, __LINE__, "compile %s: expected %d, got %d (%s)", text,
              code, rc, err);
  ASSERT(s == NULL);
  ASSERT(err[0] != '\0');
  json_decref(schema);
}

#define MAX_ERRS 16

struct errs {
  int n;
  int stop_after; /* 0: never stop */
  char ipath[MAX_ERRS][128];
  char kpath[MAX_ERRS][160];
  char msg[MAX_ERRS][256];
};

static int collect(void *data, const struct jsonschema_error *e)
{
  struct errs *x = data;

  ASSERT(e->instance_path != NULL && e->keyword_path != NULL);
  ASSERT(e->message != NULL && e->message[0] != '\0');
  if (x->n < MAX_ERRS) {
    snprintf(x->ipath[x->n], sizeof(x->ipath[0]), "%s", e->instance_path);
    snprintf(x->kpath[x->n], sizeof(x->kpath[0]), "%s", e->keyword_path);
    snprintf(x->msg[x->n], sizeof(x->msg[0]), "%s", e->message);
  }
  x->n++;
  return x->stop_after != 0 && x->n >= x->stop_after;
}

/* Validates instance text against s; returns the result, which must
 * agree with the number of callbacks. */
static int check(const struct jsonschema *s, const char *text, struct errs *e)
{
  json_t *inst = jq(text);
  int rc;

  memset(e, 0, sizeof(*e));
  rc = jsonschema_validate(s, inst, NULL, collect, e);
  ASSERT_EQ(e->n, rc);
  json_decref(inst);
  return rc;
}

/* Expects exactly one failure with these paths and message. */
static void check_one(const char *schema, const char *inst, const char *ipath,
                      const char *kpath, const char *msg)
{
  struct jsonschema *s = compile_ok(schema);
  struct errs e;

  if (check(s, inst, &e) != 1)
    test_fail(__FILE__, __LINE__, "%s against %s: %d failures, first \"%s\"",
              inst, schema, e.n, e.n ? e.msg[0] : "");
  ASSERT_STR_EQ(msg, e.msg[0]);
  ASSERT_STR_EQ(ipath, e.ipath[0]);
  ASSERT_STR_EQ(kpath, e.kpath[0]);
  jsonschema_free(s);
}

static void check_valid(const char *schema, const char *inst)
{
  struct jsonschema *s = compile_ok(schema);
  struct errs e;

  if (check(s, inst, &e) != 0)
    test_fail(__FILE__, __LINE__, "%s against %s: unexpected \"%s\" at %s",
              inst, schema, e.msg[0], e.ipath[0]);
  jsonschema_free(s);
}

static void check_invalid(const char *schema, const char *inst)
{
  struct jsonschema *s = compile_ok(schema);
  struct errs e;

  if (check(s, inst, &e) == 0)
    test_fail(__FILE__, __LINE__, "%s against %s: expected a failure", inst,
              schema);
  jsonschema_free(s);
}

/* ---- the official test suite ---- */

/* Cases not run, each with its reason. A case is identified by its file
 * and description. */
static const struct suite_skip {
  const char *file;
  const char *description; /* NULL: the whole file */
  const char *reason;
} suite_skips[] = {
    {"definitions.json", "valid definition",
     "remote $ref to the draft-07 metaschema"},
    {"definitions.json", "invalid definition",
     "remote $ref to the draft-07 metaschema"},
    {"ref.json", "remote ref, containing refs itself",
     "remote $ref to the draft-07 metaschema"},
    {"refRemote.json", NULL, "remote $refs need a server on localhost:1234"},
    {"optional/bignum.json", NULL,
     "jansson cannot represent integers beyond 64 bits"},
    {"optional/content.json", NULL,
     "contentMediaType/contentEncoding are annotations here"},
    {"optional/ecmascript-regex.json", NULL, "format is an annotation here"},
    {"optional/format", NULL, "format is an annotation here"},
};

/* Files run as draft-07; those marked same2020 run again as 2020-12. */
static const struct suite_file {
  const char *name;
  int same2020;
} suite_files[] = {
    {"additionalItems.json", 0},
    {"additionalProperties.json", 1},
    {"allOf.json", 1},
    {"anyOf.json", 1},
    {"boolean_schema.json", 1},
    {"const.json", 1},
    {"contains.json", 1},
    {"default.json", 1},
    {"definitions.json", 0},
    {"dependencies.json", 0},
    {"enum.json", 1},
    {"exclusiveMaximum.json", 1},
    {"exclusiveMinimum.json", 1},
    {"if-then-else.json", 1},
    {"items.json", 1},
    {"maxItems.json", 1},
    {"maxLength.json", 1},
    {"maxProperties.json", 1},
    {"maximum.json", 1},
    {"minItems.json", 1},
    {"minLength.json", 1},
    {"minProperties.json", 1},
    {"minimum.json", 1},
    {"multipleOf.json", 1},
    {"not.json", 1},
    {"oneOf.json", 1},
    {"pattern.json", 1},
    {"patternProperties.json", 1},
    {"properties.json", 1},
    {"propertyNames.json", 1},
    {"ref.json", 1},
    {"required.json", 1},
    {"type.json", 1},
    {"uniqueItems.json", 1},
    {"optional/zeroTerminatedFloats.json", 1},
};

struct suite_stats {
  int checks, skipped, excluded, failed;
  int skip_used[sizeof(suite_skips) / sizeof(*suite_skips)];
};

static const char *suite_dir(void)
{
  const char *d = getenv("SAGERUN_JSON_SCHEMA_SUITE");

  return d && *d ? d : SUITE_DIR;
}

/* The skip entry for file (and case description, or NULL), or -1. */
static int suite_skip_find(const char *file, const char *description)
{
  size_t i;

  for (i = 0; i < sizeof(suite_skips) / sizeof(*suite_skips); i++) {
    const struct suite_skip *k = &suite_skips[i];

    if (strcmp(k->file, file) != 0)
      continue;
    if (k->description == NULL ||
        (description && strcmp(k->description, description) == 0))
      return (int)i;
  }
  return -1;
}

/* 1 if the schema reads the same in 2020-12: no draft-07-only keywords
 * (array items, additionalItems, dependencies, definitions) and no $ref
 * with siblings (ignored in draft-07, applied in 2020-12). */
static int same_in_2020(const json_t *v)
{
  const char *key;
  json_t *sub;
  size_t i;

  if (json_is_array(v)) {
    for (i = 0; i < json_array_size(v); i++)
      if (!same_in_2020(json_array_get(v, i)))
        return 0;
    return 1;
  }
  if (!json_is_object(v))
    return 1;
  if (json_object_get(v, "$ref") != NULL && json_object_size(v) > 1)
    return 0;
  json_object_foreach((json_t *)v, key, sub)
  {
    if (strcmp(key, "additionalItems") == 0 ||
        strcmp(key, "dependencies") == 0 || strcmp(key, "definitions") == 0 ||
        (strcmp(key, "items") == 0 && json_is_array(sub)))
      return 0;
    if (!same_in_2020(sub))
      return 0;
  }
  return 1;
}

static int count_cb(void *data, const struct jsonschema_error *e)
{
  int *n = data;

  if (e->message == NULL || e->message[0] == '\0' || e->instance_path == NULL ||
      e->keyword_path == NULL ||
      (e->instance_path[0] != '\0' && e->instance_path[0] != '/'))
    test_fail(__FILE__, __LINE__, "malformed error report");
  (*n)++;
  return 0;
}

/* Runs every case of one suite file, as draft-07 or (as2020) 2020-12. */
static void suite_run_file(const char *file, int as2020, struct suite_stats *st)
{
  char path[1024], err[256];
  json_error_t jerr;
  json_t *cases, *c, *t;
  size_t i, j;

  snprintf(path, sizeof(path), "%s/%s", suite_dir(), file);
  cases = json_load_file(path, 0, &jerr);
  if (cases == NULL)
    test_fail(__FILE__, __LINE__, "%s: %s", path, jerr.text);
  json_array_foreach(cases, i, c)
  {
    const char *desc = json_string_value(json_object_get(c, "description"));
    json_t *schema = json_deep_copy(json_object_get(c, "schema"));
    json_t *tests = json_object_get(c, "tests");
    struct jsonschema *s;
    int k = suite_skip_find(file, desc), rc;

    ASSERT(desc != NULL && schema != NULL && json_is_array(tests));
    if (k >= 0) {
      if (!as2020) {
        printf("# skipped: %s: %s (%s)\n", file, desc, suite_skips[k].reason);
        st->skipped += (int)json_array_size(tests);
      }
      st->skip_used[k] = 1;
      json_decref(schema);
      continue;
    }
    if (as2020 && !same_in_2020(schema)) {
      printf("# not rerun as 2020-12: %s: %s (draft-07 semantics)\n", file,
             desc);
      st->excluded += (int)json_array_size(tests);
      json_decref(schema);
      continue;
    }
    if (json_is_object(schema) &&
        (as2020 || json_object_get(schema, "$schema") == NULL))
      json_object_set_new(schema, "$schema",
                          json_string(as2020 ? DRAFT2020 : DRAFT7));
    rc = jsonschema_compile(schema, &s, err, sizeof(err));
    json_decref(schema);
    if (rc != 0)
      test_fail(__FILE__, __LINE__, "%s: %s: compile: %s", file, desc, err);
    json_array_foreach(tests, j, t)
    {
      int valid = json_is_true(json_object_get(t, "valid")), n = 0;

      rc = jsonschema_validate(s, json_object_get(t, "data"), NULL, count_cb,
                               &n);
      ASSERT(rc >= 0);
      ASSERT_EQ(n, rc);
      st->checks++;
      if ((rc == 0) != valid) {
        st->failed++;
        printf("# FAIL %s%s: %s: %s: expected %s, got %d failures\n",
               as2020 ? "(2020-12) " : "", file, desc,
               json_string_value(json_object_get(t, "description")),
               valid ? "valid" : "invalid", rc);
      }
    }
    jsonschema_free(s);
  }
  json_decref(cases);
}

/* 1 if dir/name is run, or skipped by name, by the suite test. */
static int suite_known(const char *name)
{
  size_t i;

  for (i = 0; i < sizeof(suite_files) / sizeof(*suite_files); i++)
    if (strcmp(suite_files[i].name, name) == 0)
      return 1;
  return suite_skip_find(name, NULL) >= 0;
}

/* Fails when the suite holds a file that is neither run nor skipped, so
 * a newer suite cannot be ignored silently. */
static void suite_check_listing(const char *sub)
{
  char path[1024], name[1024];
  struct dirent *d;
  DIR *dir;

  snprintf(path, sizeof(path), "%s%s%s", suite_dir(), *sub ? "/" : "", sub);
  dir = opendir(path);
  if (dir == NULL)
    test_fail(__FILE__, __LINE__, "cannot list %s", path);
  for (;;) {
    size_t len;

    d = readdir(dir);
    if (d == NULL)
      break;
    len = strlen(d->d_name);
    if (d->d_name[0] == '.')
      continue;
    snprintf(name, sizeof(name), "%s%s%s", sub, *sub ? "/" : "", d->d_name);
    if (strcmp(name, "optional") == 0)
      continue;
    if (!suite_known(name) && len > 5 &&
        strcmp(d->d_name + len - 5, ".json") == 0)
      test_fail(__FILE__, __LINE__, "suite file %s is neither run nor skipped",
                name);
    if (!suite_known(name) && strchr(d->d_name, '.') == NULL)
      test_fail(__FILE__, __LINE__,
                "suite directory %s is neither run nor skipped", name);
  }
  closedir(dir);
}

TEST_TIMEOUT(jsonschema_suite, 120000);
TEST(jsonschema_suite)
{
  struct suite_stats st;
  char path[1024];
  DIR *dir;
  size_t i;
  int d7;

  memset(&st, 0, sizeof(st));
  snprintf(path, sizeof(path), "%s", suite_dir());
  dir = opendir(path);
  if (dir == NULL) {
    const char *req = getenv("SAGERUN_REQUIRE_PEERS");

    printf("# skipped: json-schema-test-suite not installed\n");
    if (req != NULL && strcmp(req, "1") == 0)
      test_fail(__FILE__, __LINE__, "SAGERUN_REQUIRE_PEERS=1 and no suite");
    return;
  }
  closedir(dir);
  suite_check_listing("");
  suite_check_listing("optional");
  for (i = 0; i < sizeof(suite_skips) / sizeof(*suite_skips); i++)
    if (suite_skips[i].description == NULL) {
      printf("# skipped: %s (%s)\n", suite_skips[i].file,
             suite_skips[i].reason);
      st.skip_used[i] = 1;
    }
  for (i = 0; i < sizeof(suite_files) / sizeof(*suite_files); i++)
    suite_run_file(suite_files[i].name, 0, &st);
  d7 = st.checks;
  for (i = 0; i < sizeof(suite_files) / sizeof(*suite_files); i++)
    if (suite_files[i].same2020)
      suite_run_file(suite_files[i].name, 1, &st);
  printf("# suite: %d draft-07 checks, %d 2020-12 checks, %d failed, "
         "%d skipped, %d not rerun as 2020-12\n",
         d7, st.checks - d7, st.failed, st.skipped, st.excluded);
  for (i = 0; i < sizeof(suite_skips) / sizeof(*suite_skips); i++)
    if (!st.skip_used[i])
      test_fail(__FILE__, __LINE__, "stale skip entry %s: %s",
                suite_skips[i].file, suite_skips[i].description);
  ASSERT_EQ(0, st.failed);
  ASSERT(d7 >= 400);
  ASSERT(st.checks - d7 >= 250);
}

/* ---- messages and paths ---- */

/* A slice of the workflow schema: steps by id, each a leaf with a typed
 * "with". */
static const char workflow_schema[] =
    "{'$schema': 'https://json-schema.org/draft/2020-12/schema',"
    " 'type': 'object', 'required': ['name', 'steps'],"
    " 'additionalProperties': false,"
    " 'properties': {"
    "  'name': {'type': 'string', 'pattern': '^[a-z]+$'},"
    "  'target': {'enum': ['local', 'aws']},"
    "  'max_parallel': {'type': 'integer', 'minimum': 1},"
    "  'steps': {'type': 'object', 'minProperties': 1,"
    "            'additionalProperties': {'$ref': '#/$defs/step'}}},"
    " '$defs': {'step': {'type': 'object', 'required': ['uses'],"
    "   'additionalProperties': false,"
    "   'properties': {'uses': {'type': 'string'},"
    "     'needs': {'type': 'array', 'items': {'type': 'string'},"
    "               'minItems': 1, 'uniqueItems': true},"
    "     'with': {'type': 'object', 'properties': {"
    "       'epochs': {'type': 'integer', 'minimum': 1}}}}}}}";

TEST(jsonschema_message_nested_minimum)
{
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'train': {'uses': 'a.b',"
            " 'with': {'epochs': 0}}}}",
            "/steps/train/with/epochs",
            "/$defs/step/properties/with/properties/epochs/minimum",
            "expected a value >= 1, found 0");
}

TEST(jsonschema_messages)
{
  const char *ok = "{'name': 'x', 'steps': {'a': {'uses': 'u'}}}";

  check_valid(workflow_schema, ok);
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'a': {'uses': 'u',"
            " 'with': {'epochs': 'five'}}}}",
            "/steps/a/with/epochs",
            "/$defs/step/properties/with/properties/epochs/type",
            "expected integer, found string \"five\"");
  check_one(workflow_schema, "{'name': 'x', 'steps': {'a': {'with': {}}}}",
            "/steps/a", "/$defs/step/required",
            "missing required property \"uses\"");
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'a': {'uses': 'u', 'withh': {}}}}",
            "/steps/a/withh", "/$defs/step/additionalProperties",
            "unexpected property \"withh\" (did you mean \"with\"?)");
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'a': {'uses': 'u'}},"
            " 'zzzzzz': 1}",
            "/zzzzzz", "/additionalProperties",
            "unexpected property \"zzzzzz\"");
  check_one(workflow_schema,
            "{'name': 'x', 'target': 'lokal', 'steps': {'a': {'uses': 'u'}}}",
            "/target", "/properties/target/enum",
            "expected one of \"local\", \"aws\", found \"lokal\"");
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'a': {'uses': 'u', 'needs': []}}}",
            "/steps/a/needs", "/$defs/step/properties/needs/minItems",
            "expected at least 1 item, found 0");
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'a': {'uses': 'u',"
            " 'needs': ['b', 'c', 'b']}}}",
            "/steps/a/needs", "/$defs/step/properties/needs/uniqueItems",
            "expected unique items, found duplicates at 0 and 2");
  check_one(workflow_schema,
            "{'name': 'x', 'steps': {'a': {'uses': 'u', 'needs': ['b', 7]}}}",
            "/steps/a/needs/1", "/$defs/step/properties/needs/items/type",
            "expected string, found integer 7");
  check_one(workflow_schema, "{'name': 'abc1', 'steps': {'a': {'uses': 'u'}}}",
            "/name", "/properties/name/pattern",
            "\"abc1\" does not match pattern \"^[a-z]+$\"");
  check_one(workflow_schema, "{'name': 'x', 'steps': {}}", "/steps",
            "/properties/steps/minProperties",
            "expected at least 1 property, found 0");
  check_one(workflow_schema, "[1]", "", "/type",
            "expected object, found array");
  check_one("{'type': ['string', 'null']}", "1.5", "", "/type",
            "expected string or null, found number 1.5");
  check_one("{'const': {'a': [1, 2]}}", "{'a': [1]}", "", "/const",
            "expected {\"a\":[1,2]}, found {\"a\":[1]}");
  check_one("{'maxLength': 2}", "'h\\u00e9llo'", "", "/maxLength",
            "expected at most 2 characters, found 5");
  check_one("{'exclusiveMaximum': 0.5}", "0.5", "", "/exclusiveMaximum",
            "expected a value < 0.5, found 0.5");
  check_one("{'multipleOf': 5}", "7", "", "/multipleOf",
            "expected a multiple of 5, found 7");
  check_one("{'dependentRequired': {'a': ['b']}}", "{'a': 1}", "",
            "/dependentRequired/a",
            "missing property \"b\", required when \"a\" is present");
  check_one("{'propertyNames': {'maxLength': 3}}", "{'abcd': 1}", "/abcd",
            "/propertyNames/maxLength",
            "invalid property name: expected at most 3 characters, found 4");
  check_one("{'not': {'type': 'string'}}", "'x'", "", "/not",
            "expected a value not matching the \"not\" schema, found string "
            "\"x\"");
  check_one("{'properties': {'a': false}}", "{'a': null}", "/a",
            "/properties/a", "expected no value here, found null");
  check_one("{'prefixItems': [{}], 'items': false}", "[1, 2, 3]", "", "/items",
            "expected at most 1 item, found 3");
  check_one("{'contains': {'type': 'integer'}}", "['a']", "", "/contains",
            "expected at least 1 item matching \"contains\", found 0");
}

TEST(jsonschema_message_truncates_long_values)
{
  struct jsonschema *s = compile_ok("{'type': 'integer'}");
  char inst[256];
  struct errs e;
  size_t len;
  int i;

  inst[0] = '\'';
  for (i = 0; i < 100; i++)
    inst[1 + i] = (char)('a' + i % 26);
  inst[101] = '\'';
  inst[102] = '\0';
  ASSERT_EQ(1, check(s, inst, &e));
  ASSERT_STR_EQ("expected integer, found string "
                "\"abcdefghijklmnopqrstuvwxyzabcdefghijklmn...\"",
                e.msg[0]);
  ASSERT_EQ(
      1,
      check(s, "{'k': 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv'}", &e));
  ASSERT_STR_EQ("expected integer, found object", e.msg[0]);
  jsonschema_free(s);
  check_one("{'enum': [1]}",
            "{'key': 'vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv'}", "", "/enum",
            "expected 1, found {\"key\":\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv...");
  /* a multibyte character is never cut in half: 1 + 19 * 2 bytes fit */
  len = (size_t)snprintf(inst, sizeof(inst), "'x");
  for (i = 0; i < 25; i++)
    len += (size_t)snprintf(inst + len, sizeof(inst) - len, "\\u00e9");
  snprintf(inst + len, sizeof(inst) - len, "'");
  s = compile_ok("{'pattern': '^a'}");
  ASSERT_EQ(1, check(s, inst, &e));
  ASSERT_STR_EQ("\"x\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
                "\u00e9...\" does not match pattern \"^a\"",
                e.msg[0]);
  jsonschema_free(s);
}

TEST(jsonschema_reports_every_failure_in_order)
{
  struct jsonschema *s = compile_ok(workflow_schema);
  struct errs e;

  ASSERT_EQ(3, check(s,
                     "{'name': 5, 'steps': {'a': {'uses': 'u', 'needs': [1]},"
                     " 'b': {}}}",
                     &e));
  ASSERT_STR_EQ("/name", e.ipath[0]);
  ASSERT_STR_EQ("/steps/a/needs/0", e.ipath[1]);
  ASSERT_STR_EQ("/steps/b", e.ipath[2]);
  ASSERT_STR_EQ("missing required property \"uses\"", e.msg[2]);
  jsonschema_free(s);
}

TEST(jsonschema_instance_path_escapes)
{
  check_one("{'additionalProperties': {'type': 'string'}}", "{'a/b~c': 1}",
            "/a~1b~0c", "/additionalProperties/type",
            "expected string, found integer 1");
}

TEST(jsonschema_callback_stops_early)
{
  struct jsonschema *s = compile_ok(workflow_schema);
  const char *bad = "{'name': 5, 'target': 'x', 'max_parallel': 0,"
                    " 'steps': {}}";
  json_t *inst = jq(bad);
  struct errs e;

  memset(&e, 0, sizeof(e));
  e.stop_after = 1;
  ASSERT_EQ(1, jsonschema_validate(s, inst, NULL, collect, &e));
  ASSERT_EQ(1, e.n);
  memset(&e, 0, sizeof(e));
  e.stop_after = 2;
  ASSERT_EQ(2, jsonschema_validate(s, inst, NULL, collect, &e));
  ASSERT_EQ(4, jsonschema_validate(s, inst, NULL, NULL, NULL));
  json_decref(inst);
  jsonschema_free(s);
}

/* ---- anyOf / oneOf: the closest branch ---- */

static const char kinds_schema[] =
    "{'oneOf': ["
    " {'type': 'object', 'properties': {'kind': {'const': 'a'},"
    "   'x': {'type': 'string'}}},"
    " {'type': 'object', 'properties': {'kind': {'const': 'b'},"
    "   'y': {'type': 'integer'}}}]}";

TEST(jsonschema_one_of_reports_closest_branch)
{
  check_one(kinds_schema, "{'kind': 'a', 'x': 1}", "/x",
            "/oneOf/0/properties/x/type", "expected string, found integer 1");
  check_one(kinds_schema, "{'kind': 'b', 'y': 'z'}", "/y",
            "/oneOf/1/properties/y/type",
            "expected integer, found string \"z\"");
  check_one(kinds_schema, "{'kind': 'c', 'x': 1}", "", "/oneOf",
            "expected one of 2 alternatives, found object");
  check_one(kinds_schema, "7", "", "/oneOf",
            "expected object, found integer 7");
  check_valid(kinds_schema, "{'kind': 'a', 'x': 'ok'}");
}

TEST(jsonschema_one_of_closest_through_refs)
{
  static const char schema[] =
      "{'$defs': {"
      "  'leaf': {'type': 'object', 'required': ['uses'],"
      "    'properties': {'uses': {'type': 'string'},"
      "      'retry': {'type': 'integer'}}},"
      "  'group': {'type': 'object', 'required': ['steps'],"
      "    'properties': {'kind': {'enum': ['group']},"
      "      'steps': {'type': 'object'}}}},"
      " 'oneOf': [{'$ref': '#/$defs/leaf'},"
      "           {'allOf': [{'$ref': '#/$defs/group'}]}]}";

  /* both close, neither keyed nor complete: one summary */
  check_one(schema, "{'retry': 'y'}", "", "/oneOf",
            "expected one of 2 alternatives, found object");
  /* both close, only the leaf has its required properties */
  check_one(schema, "{'uses': 'x', 'retry': 'y'}", "/retry",
            "/$defs/leaf/properties/retry/type",
            "expected integer, found string \"y\"");
  /* the group's enum excludes it; the leaf is the only close branch */
  check_one(schema, "{'kind': 'leaf', 'uses': 'x', 'retry': 'y'}", "/retry",
            "/$defs/leaf/properties/retry/type",
            "expected integer, found string \"y\"");
  check_one(schema, "{'kind': 'group', 'steps': []}", "/steps",
            "/$defs/group/properties/steps/type",
            "expected object, found array");
}

TEST(jsonschema_any_of_summaries)
{
  check_one("{'anyOf': [{'type': 'string'}, {'type': 'array'}]}", "5", "",
            "/anyOf", "expected string or array, found integer 5");
  check_one("{'anyOf': [{'type': 'string', 'minLength': 3},"
            " {'type': 'array'}]}",
            "'ab'", "", "/anyOf/0/minLength",
            "expected at least 3 characters, found 2");
  check_one("{'anyOf': [{'minimum': 3}, {'maximum': 1}]}", "2", "", "/anyOf",
            "expected one of 2 alternatives, found integer 2");
  check_one("{'oneOf': [{'type': 'integer'}, {'minimum': 0}]}", "3", "",
            "/oneOf",
            "expected exactly one of 2 alternatives to match, found 2 "
            "(0 and 1)");
}

/* ---- the unknown sentinel ---- */

TEST(jsonschema_unknown_passes_everything)
{
  struct jsonschema *s;
  json_t *unknown = json_object(); /* any unique node will do */
  json_t *inst;

  s = compile_ok(workflow_schema);
  ASSERT_EQ(0, jsonschema_validate(s, unknown, unknown, NULL, NULL));
  inst = jq("{'name': 'x', 'target': 0, 'max_parallel': 0,"
            " 'steps': {'a': {'uses': 1, 'needs': [2, 2], 'with': 3}}}");
  ASSERT_EQ(7, jsonschema_validate(s, inst, unknown, NULL, NULL));
  json_object_set(inst, "target", unknown);
  json_object_set(inst, "max_parallel", unknown);
  json_object_set_new(json_object_get(inst, "steps"), "a",
                      json_pack("{s:O,s:[O,O],s:O}", "uses", unknown, "needs",
                                unknown, unknown, "with", unknown));
  ASSERT_EQ(0, jsonschema_validate(s, inst, unknown, NULL, NULL));
  /* with no sentinel it is an ordinary object */
  ASSERT(jsonschema_validate(s, inst, NULL, NULL, NULL) > 0);
  json_decref(inst);
  jsonschema_free(s);

  /* negations and counting must not fail on a value not yet known */
  s = compile_ok("{'not': {'properties': {'a': {'const': 1}}},"
                 " 'properties': {'b': {'const': {'x': [1]}},"
                 "   'c': {'oneOf': [{'type': 'object'},"
                 "     {'properties': {'k': {'const': 2}}}]},"
                 "   'd': {'contains': {'const': 1}, 'maxContains': 1},"
                 "   'e': {'if': {'properties': {'k': {'const': 1}}},"
                 "     'then': {'required': ['t']}}}}");
  inst = json_pack("{s:O,s:{s:[O]},s:{s:O},s:[O,O],s:{s:O}}", "a", unknown, "b",
                   "x", unknown, "c", "k", unknown, "d", unknown, unknown, "e",
                   "k", unknown);
  ASSERT(inst != NULL);
  ASSERT_EQ(0, jsonschema_validate(s, inst, unknown, NULL, NULL));
  json_decref(inst);
  jsonschema_free(s);
  json_decref(unknown);
}

/* ---- numbers and equality ---- */

TEST(jsonschema_numbers)
{
  check_valid("{'type': 'integer'}", "1.0");
  check_invalid("{'type': 'integer'}", "1.5");
  check_valid("{'enum': [1, 'a']}", "1.0");
  check_valid("{'const': {'a': [1, {'b': 2.0}]}}", "{'a': [1.0, {'b': 2}]}");
  check_invalid("{'const': {'a': [1]}}", "{'a': [1], 'b': 1}");
  check_invalid("{'uniqueItems': true}", "[{'a': 1, 'b': [2]},"
                                         " {'b': [2.0], 'a': 1.0}]");
  check_valid("{'uniqueItems': true}", "[1, '1', true, [1], {'1': 1}, null]");
  check_valid("{'multipleOf': 0.01}", "0.07");
  check_valid("{'multipleOf': 0.1}", "3.3");
  check_invalid("{'multipleOf': 0.1}", "3.35");
  check_valid("{'maximum': 9007199254740993}", "9007199254740993");
  check_invalid("{'maximum': 9007199254740992}", "9007199254740993");
  check_valid("{'minimum': 1.5}", "2");
  check_invalid("{'exclusiveMinimum': 2}", "2.0");
}

TEST(jsonschema_unique_items_large)
{
  struct jsonschema *s = compile_ok("{'uniqueItems': true}");
  json_t *a = json_array();
  int i;

  for (i = 0; i < 20000; i++)
    json_array_append_new(a, json_pack("{s:i,s:[i]}", "id", i, "v", i % 7));
  ASSERT_EQ(0, jsonschema_validate(s, a, NULL, NULL, NULL));
  json_array_append_new(a, json_pack("{s:[f],s:f}", "v", 5.0, "id", 12.0));
  ASSERT_EQ(1, jsonschema_validate(s, a, NULL, NULL, NULL));
  json_decref(a);
  jsonschema_free(s);
}

/* ---- regular expressions ---- */

TEST(jsonschema_patterns)
{
  char err[256];

  check_valid("{'pattern': '^\\\\d{2}-\\\\w+\\\\s\\\\S$'}", "'12-ab_9 x'");
  check_invalid("{'pattern': '^\\\\d+$'}", "'12a'");
  check_valid("{'pattern': '^[\\\\d.-]+$'}", "'1.2-3'");
  check_invalid("{'pattern': '^[\\\\d.-]+$'}", "'1,2'");
  check_valid("{'pattern': '^(?:ab)+?c$'}", "'ababc'");
  check_valid("{'pattern': '^a.c$'}", "'abc'");
  check_invalid("{'pattern': '^a.c$'}", "'a\\nc'");
  check_valid("{'pattern': '^[^\\\\]]*\\\\]$'}", "'abc]'");
  check_valid("{'pattern': '^\\\\u00e9t\\\\u00e9$'}", "'\\u00e9t\\u00e9'");
  check_valid("{'pattern': '^x{2}\\\\{$'}", "'xx{'");
  check_valid("{'pattern': '^[a-z][a-z0-9_-]*$'}", "'my-step_1'");
  check_invalid("{'pattern': '^[a-z][a-z0-9_-]*$'}", "'My'");
  check_valid("{'pattern': '^\\\\$\\\\{\\\\{ .* \\\\}\\\\}$'}", "'${{ a.b }}'");
  check_valid("{'patternProperties': {'^x-': {'type': 'string'}},"
              " 'additionalProperties': false}",
              "{'x-a': 'b'}");
  compile_fails("{'pattern': '\\\\p{L}'}", SR_ENOTSUP, err, sizeof(err));
  ASSERT_CONTAINS(err, "/pattern");
  ASSERT_CONTAINS(err, "\\p");
  compile_fails("{'pattern': '(?=a)'}", SR_ENOTSUP, err, sizeof(err));
  compile_fails("{'pattern': '\\\\bword'}", SR_ENOTSUP, err, sizeof(err));
  compile_fails("{'pattern': 'a\\\\x00'}", SR_ENOTSUP, err, sizeof(err));
  compile_fails("{'pattern': 'a[]'}", SR_ENOTSUP, err, sizeof(err));
  compile_fails("{'pattern': '(a)\\\\1'}", SR_ENOTSUP, err, sizeof(err));
  check_valid("{'pattern': '^[^]$'}", "'\\n'");
  compile_fails("{'patternProperties': {'(': {}}}", SR_EINVAL, err,
                sizeof(err));
  ASSERT_CONTAINS(err, "/patternProperties");
}

/* ---- compile errors ---- */

TEST(jsonschema_compile_errors)
{
  char err[256];

  compile_fails("{'properties': {'a': {'type': 'strin'}}}", SR_EINVAL, err,
                sizeof(err));
  ASSERT_STR_EQ("/properties/a/type: unknown type \"strin\"", err);
  compile_fails("{'minLength': -1}", SR_EINVAL, err, sizeof(err));
  ASSERT_STR_EQ("/minLength: expected a non-negative integer, found integer -1",
                err);
  compile_fails("{'properties': {'a': 3}}", SR_EINVAL, err, sizeof(err));
  ASSERT_STR_EQ("/properties/a: expected a schema (object or boolean), found "
                "integer 3",
                err);
  compile_fails("{'required': 'a'}", SR_EINVAL, err, sizeof(err));
  compile_fails("{'multipleOf': 0}", SR_EINVAL, err, sizeof(err));
  compile_fails("{'anyOf': []}", SR_EINVAL, err, sizeof(err));
  compile_fails("{'items': [{}]}", SR_EINVAL, err, sizeof(err));
  compile_fails("{'$ref': '#/$defs/missing'}", SR_EINVAL, err, sizeof(err));
  ASSERT_STR_EQ("/$ref: \"#/$defs/missing\" not found", err);
  compile_fails("{'$ref': '#nope'}", SR_EINVAL, err, sizeof(err));
  compile_fails("{'$ref': '#/type', 'type': 'string'}", SR_EINVAL, err,
                sizeof(err));
  compile_fails("{'$ref': 'http://example.com/other.json'}", SR_ENOTSUP, err,
                sizeof(err));
  ASSERT_CONTAINS(err, "not supported");
  compile_fails("{'$schema': 'http://json-schema.org/draft-04/schema#'}",
                SR_ENOTSUP, err, sizeof(err));
  compile_fails("[]", SR_EINVAL, err, sizeof(err));
  ASSERT_STR_EQ("schema: expected a schema (object or boolean), found array",
                err);
}

/* ---- $ref ---- */

TEST(jsonschema_ref_loops_report_not_crash)
{
  struct jsonschema *s;
  struct errs e;

  s = compile_ok("{'$ref': '#'}");
  ASSERT_EQ(1, check(s, "1", &e));
  ASSERT_CONTAINS(e.msg[0], "the schema loops");
  jsonschema_free(s);
  s = compile_ok("{'$defs': {'a': {'$ref': '#/$defs/b'},"
                 " 'b': {'allOf': [{'$ref': '#/$defs/a'}]}},"
                 " 'anyOf': [{'$ref': '#/$defs/a'}, {'type': 'string'}]}");
  ASSERT_EQ(1, check(s, "1", &e));
  ASSERT_EQ(0, check(s, "'x'", &e));
  jsonschema_free(s);
}

TEST(jsonschema_ref_recursion_follows_the_instance)
{
  struct jsonschema *s = compile_ok("{'type': 'object', 'properties':"
                                    " {'child': {'$ref': '#'},"
                                    "  'n': {'type': 'integer'}}}");
  json_t *root = json_object(), *cur = root;
  int i;

  /* deeper than the $ref chain limit: each $ref consumes a level */
  for (i = 0; i < 200; i++) {
    json_t *child = json_object();

    json_object_set_new(cur, "child", child);
    cur = child;
  }
  json_object_set_new(cur, "n", json_string("x"));
  ASSERT_EQ(1, jsonschema_validate(s, root, NULL, NULL, NULL));
  json_object_set_new(cur, "n", json_integer(1));
  ASSERT_EQ(0, jsonschema_validate(s, root, NULL, NULL, NULL));
  json_decref(root);
  jsonschema_free(s);
}

TEST(jsonschema_refs_2020)
{
  /* $defs, pointer escapes, $anchor, $id-relative refs */
  check_valid("{'$defs': {'a/b': {'type': 'integer'}, 'c~d': {'$ref':"
              " '#/$defs/a~1b'}}, 'items': {'$ref': '#/$defs/c~0d'}}",
              "[1, 2]");
  check_invalid("{'$defs': {'a/b': {'type': 'integer'}}, 'items':"
                " {'$ref': '#/$defs/a~1b'}}",
                "[1, 'x']");
  check_invalid("{'$defs': {'n': {'$anchor': 'num', 'type': 'number'}},"
                " '$ref': '#num'}",
                "'x'");
  check_invalid("{'$id': 'https://example.com/root.json',"
                " '$defs': {'n': {'$id': 'num.json', 'type': 'number'}},"
                " '$ref': 'num.json'}",
                "'x'");
  check_valid("{'$id': 'https://example.com/root.json',"
              " '$defs': {'n': {'$id': 'num.json', 'type': 'number'}},"
              " '$ref': 'https://example.com/num.json'}",
              "1");
  /* 2020-12 applies $ref's siblings; draft-07 ignores them */
  check_invalid("{'$defs': {'s': {'type': 'string'}}, '$ref': '#/$defs/s',"
                " 'maxLength': 2}",
                "'abc'");
  check_valid("{'$schema': '" DRAFT7 "', 'definitions': {'s': {'type':"
              " 'string'}}, '$ref': '#/definitions/s', 'maxLength': 2}",
              "'abc'");
  check_valid("{'$schema': '" DRAFT7 "', 'definitions': {'s': {'$id':"
              " '#str', 'type': 'string'}}, '$ref': '#str'}",
              "'abc'");
}

/* ---- 2020-12 keywords ---- */

TEST(jsonschema_2020_keywords)
{
  static const char tuple[] = "{'prefixItems': [{'type': 'string'},"
                              " {'type': 'integer'}], 'items': {'type':"
                              " 'boolean'}}";

  check_valid(tuple, "['a', 1, true, false]");
  check_valid(tuple, "['a']");
  check_one(tuple, "['a', 1, 2]", "/2", "/items/type",
            "expected boolean, found integer 2");
  check_one(tuple, "[1]", "/0", "/prefixItems/0/type",
            "expected string, found integer 1");
  check_invalid("{'prefixItems': [{}], 'items': false}", "[1, 2]");
  check_valid("{'prefixItems': [{}], 'items': false}", "[1]");
  check_valid("{'dependentRequired': {'a': ['b', 'c']}}", "{'a': 1, 'b': 2,"
                                                          " 'c': 3}");
  check_valid("{'dependentRequired': {'a': ['b']}}", "{'b': 1}");
  check_one("{'dependentSchemas': {'a': {'required': ['b']}}}", "{'a': 1}", "",
            "/dependentSchemas/a/required", "missing required property \"b\"");
  check_valid("{'contains': {'const': 1}, 'minContains': 2,"
              " 'maxContains': 3}",
              "[1, 2, 1]");
  check_one("{'contains': {'const': 1}, 'minContains': 2}", "[1, 2]", "",
            "/minContains",
            "expected at least 2 items matching \"contains\", found 1");
  check_one("{'contains': {'const': 1}, 'maxContains': 1}", "[1, 1]", "",
            "/maxContains",
            "expected at most 1 item matching \"contains\", found 2");
  check_valid("{'contains': {'const': 1}, 'minContains': 0}", "[]");
  /* draft-07 keywords are plain annotations in 2020-12 */
  check_valid("{'dependencies': {'a': ['b']}, 'additionalItems': false}",
              "{'a': 1}");
  /* unevaluated* are not supported: ignored like any unknown keyword */
  check_valid("{'unevaluatedProperties': false}", "{'a': 1}");
}

/* ---- size ---- */

/* A 10,000-step document validates (its speed is measured in
 * bench/bench-expand.c, not here). */
TEST(jsonschema_large_workflow)
{
  struct jsonschema *s = compile_ok(
      "{'type': 'object', 'required': ['name', 'steps'],"
      " 'additionalProperties': false,"
      " 'properties': {'name': {'type': 'string', 'pattern': '^[a-z-]+$'},"
      "  'steps': {'type': 'object', 'minProperties': 1,"
      "   'propertyNames': {'pattern': '^[A-Za-z_][A-Za-z0-9_]*$'},"
      "   'additionalProperties': {'$ref': '#/$defs/step'}}},"
      " '$defs': {"
      "  'step': {'oneOf': [{'$ref': '#/$defs/leaf'},"
      "                     {'$ref': '#/$defs/group'}]},"
      "  'leaf': {'type': 'object', 'required': ['uses'],"
      "   'additionalProperties': false, 'properties': {"
      "    'uses': {'type': 'string', 'pattern': '^[a-z_]+\\\\.[a-z_]+$'},"
      "    'with': {'type': 'object'},"
      "    'needs': {'type': 'array', 'items': {'type': 'string'},"
      "              'uniqueItems': true},"
      "    'retry': {'type': 'object', 'properties': {"
      "      'attempts': {'type': 'integer', 'minimum': 1},"
      "      'delay': {'type': 'number', 'minimum': 0}}},"
      "    'timeout': {'type': ['integer', 'string']}}},"
      "  'group': {'type': 'object', 'required': ['steps'],"
      "   'properties': {'steps': {'$ref': '#/properties/steps'}}}}}");
  json_t *doc = json_object(), *steps = json_object();
  char id[32], prev[32];
  int i, rc;

  json_object_set_new(doc, "name", json_string("big-workflow"));
  json_object_set_new(doc, "steps", steps);
  for (i = 0; i < 10000; i++) {
    snprintf(id, sizeof(id), "step_%d", i);
    json_object_set_new(
        steps, id,
        json_pack("{s:s,s:{s:s,s:i,s:[i,i]},s:[s],s:{s:i,s:f},s:s}", "uses",
                  "sagemaker.training_job", "with", "source", "s3://b/k",
                  "epochs", i, "years", 1979, 1980, "needs",
                  i ? prev : "step_0", "retry", "attempts", 3, "delay", 1.5,
                  "timeout", "2h"));
    snprintf(prev, sizeof(prev), "%s", id);
  }
  rc = jsonschema_validate(s, doc, NULL, NULL, NULL);
  ASSERT_EQ(0, rc);
  /* The same document with one step broken: exactly one failure. */
  json_object_set_new(
      json_object_get(json_object_get(steps, "step_5000"), "retry"), "attempts",
      json_integer(0));
  ASSERT_EQ(1, jsonschema_validate(s, doc, NULL, NULL, NULL));
  json_decref(doc);
  jsonschema_free(s);
}
