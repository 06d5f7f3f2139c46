/* Files compiled into the binary (the JSON schemas), by source path. */
#ifndef SAGERUN_EMBEDDED_H
#define SAGERUN_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
  const char *path; /* e.g. "schemas/workflow.schema.json" */
  const char *data; /* NUL-terminated */
  size_t len;
};

extern const struct embedded_file embedded_files[];

/* The file at path, or NULL. */
const struct embedded_file *embedded_find(const char *path);

#endif
