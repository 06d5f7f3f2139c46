/* Every step type in the table: sorted, named, with a schema that exists,
 * compiles, describes every input and declares its outputs. */
#include <string.h>

#include "../runner/embedded.h"
#include "../runner/jsonschema.h"
#include "../steps/step.h"
#include "test.h"

TEST(registry_sorted_and_complete)
{
  const struct step_type *const *t;
  size_t n = 0;

  for (t = step_registry; *t; t++, n++) {
    ASSERT_EQ(STEP_ABI_VERSION, (*t)->abi);
    ASSERT((*t)->name && (*t)->summary && (*t)->version >= 1);
    if (t != step_registry)
      ASSERT(strcmp(t[-1]->name, (*t)->name) < 0);
    ASSERT(step_registry_find((*t)->name) == *t);
  }
  /* The seed study needs these eleven. */
  ASSERT(n >= 11);
  ASSERT(step_registry_find("nope") == NULL);
  ASSERT_STR_EQ("gdelt.top_events", step_registry_suggest("gdelt.top_event"));
}

TEST(registry_schemas)
{
  const struct step_type *const *t;

  for (t = step_registry; *t; t++) {
    char path[256], err[256];
    const struct embedded_file *f;
    struct jsonschema *compiled = NULL;
    json_t *schema, *props, *outputs, *v;
    const char *key;

    step_schema_path(*t, path, sizeof(path));
    f = embedded_find(path);
    if (f == NULL)
      printf("# no %s\n", path);
    ASSERT(f != NULL);
    schema = json_loadb(f->data, f->len, 0, NULL);
    ASSERT(schema != NULL);
    ASSERT_EQ(0, jsonschema_compile(schema, &compiled, err, sizeof(err)));
    ASSERT_STR_EQ((*t)->name,
                  json_string_value(json_object_get(schema, "title")));
    ASSERT(json_is_false(json_object_get(schema, "additionalProperties")));
    props = json_object_get(schema, "properties");
    ASSERT(json_object_size(props) > 0);
    json_object_foreach(props, key, v)
    {
      if (!json_is_string(json_object_get(v, "description")))
        printf("# %s: input %s has no description\n", (*t)->name, key);
      ASSERT(json_is_string(json_object_get(v, "description")));
    }
    outputs = json_object_get(schema, "x-sagerun-outputs");
    ASSERT(json_object_size(outputs) > 0);
    json_object_foreach(outputs, key, v)
        ASSERT(json_is_string(json_object_get(v, "description")));
    jsonschema_free(compiled);
    json_decref(schema);
  }
}
