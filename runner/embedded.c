#include "embedded.h"

#include <string.h>

const struct embedded_file *embedded_find(const char *path)
{
  const struct embedded_file *f;

  for (f = embedded_files; f->path; f++)
    if (strcmp(f->path, path) == 0)
      return f;
  return NULL;
}
