/* `sagerun steps [NAME]`: the step types, or one type's inputs and
 * outputs, read from its embedded schema. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../steps/step.h"
#include "buf.h"
#include "cli.h"
#include "commands.h"
#include "embedded.h"

/* A short rendering of a property's type: "integer", "array of string",
 * "one of a|b|c". */
static void type_text(struct buf *out, json_t *prop)
{
  json_t *t = json_object_get(prop, "type");
  json_t *e = json_object_get(prop, "enum");
  size_t i;

  if (e && json_is_array(e)) {
    buf_adds(out, "one of ");
    for (i = 0; i < json_array_size(e); i++) {
      char *s = json_dumps(json_array_get(e, i), JSON_ENCODE_ANY);
      if (s == NULL)
        continue;
      buf_addf(out, "%s%s", i ? "|" : "", s);
      free(s);
    }
    return;
  }
  if (json_is_string(t)) {
    buf_adds(out, json_string_value(t));
    if (strcmp(json_string_value(t), "array") == 0 &&
        json_is_string(json_object_get(json_object_get(prop, "items"), "type")))
      buf_addf(out, " of %s",
               json_string_value(
                   json_object_get(json_object_get(prop, "items"), "type")));
  } else if (json_is_array(t)) {
    for (i = 0; i < json_array_size(t); i++)
      buf_addf(out, "%s%s", i ? "|" : "",
               json_string_value(json_array_get(t, i)));
  } else if (json_object_get(prop, "oneOf") || json_object_get(prop, "anyOf")) {
    buf_adds(out, "(several forms)");
  } else {
    buf_adds(out, "any");
  }
}

static int show_type(const struct step_type *t)
{
  char path[256];
  const struct embedded_file *f;
  json_t *schema, *props, *required, *outputs, *v;
  const char *key;
  struct buf line;

  step_schema_path(t, path, sizeof(path));
  f = embedded_find(path);
  schema = f ? json_loadb(f->data, f->len, 0, NULL) : NULL;
  if (schema == NULL) {
    cli_error("steps", "no schema built in for %s", t->name);
    return EXIT_FAILED;
  }
  printf("%s — %s\n", t->name, t->summary);
  if (json_is_string(json_object_get(schema, "description")))
    printf("\n%s\n", json_string_value(json_object_get(schema, "description")));
  printf("%s\n", t->exec ? "" : "\n(not runnable in this version yet)");
  props = json_object_get(schema, "properties");
  required = json_object_get(schema, "required");
  printf("inputs (with:):\n");
  buf_init(&line, 1 << 16);
  json_object_foreach(props, key, v)
  {
    json_t *def = json_object_get(v, "default");
    int req = 0;
    size_t i;
    for (i = 0; i < json_array_size(required); i++)
      if (strcmp(json_string_value(json_array_get(required, i)), key) == 0)
        req = 1;
    buf_reset(&line);
    type_text(&line, v);
    printf("  %-24s %-28s", key, buf_str(&line));
    if (req) {
      printf(" required");
    } else if (def) {
      char *s = json_dumps(def, JSON_ENCODE_ANY | JSON_COMPACT);
      printf(" default %s", s ? s : "?");
      free(s);
    }
    if (json_is_string(json_object_get(v, "description")))
      printf("\n  %-24s %s", "",
             json_string_value(json_object_get(v, "description")));
    printf("\n");
  }
  outputs = json_object_get(schema, "x-sagerun-outputs");
  printf("\noutputs (steps.ID.outputs.NAME):\n");
  json_object_foreach(outputs, key, v)
  {
    buf_reset(&line);
    type_text(&line, v);
    printf("  %-24s %-28s", key, buf_str(&line));
    if (json_is_string(json_object_get(v, "description")))
      printf(" %s", json_string_value(json_object_get(v, "description")));
    printf("\n");
  }
  buf_free(&line);
  json_decref(schema);
  return 0;
}

int cmd_steps(int argc, char **argv)
{
  const struct cli_command *cmd = cli_find("steps");
  const struct step_type *const *t;
  const struct step_type *one;

  if (argc > 1 &&
      (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    fputs(cmd->usage, stdout);
    return 0;
  }
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    cli_error("steps", "expected at most one step type name, found \"%s\"",
              argv[argc - 1]);
    return EXIT_USAGE;
  }
  if (argc == 1) {
    for (t = step_registry; *t; t++)
      printf("%-28s %s%s\n", (*t)->name, (*t)->summary,
             (*t)->exec ? "" : " (not runnable yet)");
    return 0;
  }
  one = step_registry_find(argv[1]);
  if (one == NULL) {
    const char *hint = step_registry_suggest(argv[1]);
    if (hint)
      cli_error("steps", "unknown step type \"%s\" (did you mean \"%s\"?)",
                argv[1], hint);
    else
      cli_error("steps",
                "unknown step type \"%s\": expected one listed by "
                "`sagerun steps`",
                argv[1]);
    return EXIT_USAGE;
  }
  return show_type(one);
}
