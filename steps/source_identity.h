/* What identifies the data behind a source URI, so that a resumed run
 * can tell whether a step that read it would read the same again
 * (step.h, "Data from outside the run"):
 * - s3://: the object's ETag and size;
 * - http(s)://: its ETag, or Last-Modified when the server sends none,
 *   and its size;
 * - file://: its size and modification time (nanoseconds).
 * An identity is a JSON object {"source", "etag"?, "last_modified"?,
 * "size"?, "mtime"?}; equal objects mean the same data. */
#ifndef SAGERUN_SOURCE_IDENTITY_H
#define SAGERUN_SOURCE_IDENTITY_H

#include <jansson.h>
#include <sys/stat.h>

#include "step.h"

/* An identity from what a GET or HEAD answered (etag, last_modified may
 * be NULL, size -1 when unknown), or from a file's stat (st, else NULL).
 * New reference, or NULL when out of memory. */
json_t *source_identity_make(const char *source, const char *etag,
                             const char *last_modified, long long size,
                             const struct stat *st);

/* A step's identify (step_exec) for steps whose input "source" is the
 * URI they read: asks again, with a HEAD (S3 through the run's AWS
 * client) or a stat, and answers step_identified. */
int source_identity_check(struct step_ctx *ctx);

#endif
