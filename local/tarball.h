/* model.tar.gz: the gzip-compressed ustar archive SageMaker makes of a
 * training job's /opt/ml/model and hosting unpacks again.
 *
 * Only what the local engine needs, on libarchive: writing regular
 * files (no directories, links or long names) and finding one regular
 * file by name in an archive of any writer (GNU tar, Python's tarfile,
 * pax). Everything happens in memory: models are small. */
#ifndef SAGERUN_LOCAL_TARBALL_H
#define SAGERUN_LOCAL_TARBALL_H

#include <stddef.h>

#include "../runner/buf.h"

struct tarball_file {
  const char *name; /* at most 99 bytes, relative, no ".." */
  const void *data;
  size_t len;
};

/* Appends to out the gzip of a ustar archive holding the n files, each
 * with mode 0644 and modification time mtime (seconds since the epoch).
 * Returns 0, SR_EINVAL for a name ustar cannot hold, SR_ENOMEM, or buf's
 * error (out is then freed). */
int tarball_gz_write(const struct tarball_file *files, size_t n,
                     long long mtime, struct buf *out);

/* Finds the regular file `name` (a leading "./" in the archive is
 * ignored) in the gzip-compressed (or plain) tar archive of len bytes
 * and appends its contents to out. The archive is inflated in memory, up
 * to TARBALL_MAX_INFLATED bytes. Returns 0; SR_ENOENT when the archive
 * has no such file; SR_EPARSE for a damaged archive (bad gzip, bad
 * header checksum, truncated); SR_ETOOBIG or SR_ENOMEM. */
#define TARBALL_MAX_INFLATED ((size_t)1 << 30)
int tarball_gz_find(const void *data, size_t len, const char *name,
                    struct buf *out);

#endif
