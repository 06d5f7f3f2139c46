#include "defaults.h"

#include "error.h"

int defaults_apply(const json_t *schema, json_t *instance,
                   const json_t *unknown)
{
  const json_t *props, *extra, *sub;
  const char *key;
  json_t *value;
  int rc;

  if (!json_is_object(schema) || !json_is_object(instance) ||
      instance == unknown)
    return 0;
  props = json_object_get(schema, "properties");
  json_object_foreach((json_t *)props, key, sub)
  {
    json_t *def = json_object_get(sub, "default");
    value = json_object_get(instance, key);
    if (value == NULL && def != NULL) {
      /* A copy: the instance may be changed by the step. */
      if (json_object_set_new(instance, key, json_deep_copy(def)) != 0)
        return SR_ENOMEM;
      value = json_object_get(instance, key);
    }
    if (value) {
      rc = defaults_apply(sub, value, unknown);
      if (rc)
        return rc;
    }
  }
  extra = json_object_get(schema, "additionalProperties");
  if (json_is_object(extra)) {
    json_object_foreach(instance, key, value)
    {
      if (props && json_object_get(props, key))
        continue;
      rc = defaults_apply(extra, value, unknown);
      if (rc)
        return rc;
    }
  }
  return 0;
}
