/* model.tar.gz with libarchive: see tarball.h. Writing makes a ustar
 * archive through libarchive's gzip filter into a buf; reading takes any
 * tar flavour libarchive knows (ustar, pax, GNU), gzip-compressed or
 * not, from memory. */
#include "tarball.h"

#include <archive.h>
#include <archive_entry.h>
#include <string.h>

#include "../runner/error.h"

/* A name ustar holds in its name field, that unpacks inside the model
 * directory. */
static int name_ok(const char *name)
{
  size_t len = strlen(name);

  return len > 0 && len < 100 && name[0] != '/' && strstr(name, "..") == NULL;
}

struct sink {
  struct buf *out;
  int rc;
};

static la_ssize_t sink_write(struct archive *a, void *arg, const void *data,
                             size_t len)
{
  struct sink *s = arg;

  (void)a;
  s->rc = buf_add(s->out, data, len);
  return s->rc ? -1 : (la_ssize_t)len;
}

int tarball_gz_write(const struct tarball_file *files, size_t n,
                     long long mtime, struct buf *out)
{
  struct archive *a;
  struct archive_entry *e = NULL;
  struct sink sink = {out, 0};
  size_t i;
  int rc = 0;

  for (i = 0; i < n; i++)
    if (!name_ok(files[i].name))
      return SR_EINVAL;
  a = archive_write_new();
  e = archive_entry_new();
  if (a == NULL || e == NULL) {
    rc = SR_ENOMEM;
    goto out;
  }
  /* No time in the gzip header: the archive's bytes depend only on the
   * files and mtime. No padding of the last block, which only tapes
   * wanted. */
  if (archive_write_set_format_ustar(a) != ARCHIVE_OK ||
      archive_write_add_filter_gzip(a) != ARCHIVE_OK ||
      archive_write_set_filter_option(a, "gzip", "timestamp", NULL) <
          ARCHIVE_WARN ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
      archive_write_open(a, &sink, NULL, sink_write, NULL) != ARCHIVE_OK) {
    rc = sink.rc ? sink.rc : SR_EIO;
    goto out;
  }
  for (i = 0; i < n && rc == 0; i++) {
    archive_entry_clear(e);
    archive_entry_set_pathname(e, files[i].name);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)files[i].len);
    archive_entry_set_mtime(e, (time_t)mtime, 0);
    if (archive_write_header(a, e) != ARCHIVE_OK ||
        (files[i].len > 0 &&
         archive_write_data(a, files[i].data, files[i].len) !=
             (la_ssize_t)files[i].len))
      rc = sink.rc ? sink.rc : SR_EIO;
  }
  if (archive_write_close(a) != ARCHIVE_OK && rc == 0)
    rc = sink.rc ? sink.rc : SR_EIO;
out:
  archive_entry_free(e);
  archive_write_free(a);
  if (rc)
    buf_free(out);
  return rc;
}

int tarball_gz_find(const void *data, size_t len, const char *name,
                    struct buf *out)
{
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  char chunk[65536];
  size_t total = 0;
  int rc = SR_ENOENT, r;

  if (a == NULL)
    return SR_ENOMEM;
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
    archive_read_free(a);
    return SR_EPARSE;
  }
  while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
    const char *path = archive_entry_pathname(e);
    la_ssize_t got;

    if (path && strncmp(path, "./", 2) == 0)
      path += 2;
    if (path == NULL || strcmp(path, name) != 0 ||
        archive_entry_filetype(e) != AE_IFREG)
      continue;
    if (archive_entry_size(e) > (la_int64_t)TARBALL_MAX_INFLATED) {
      rc = SR_ETOOBIG;
      break;
    }
    rc = 0;
    while (rc == 0 && (got = archive_read_data(a, chunk, sizeof(chunk))) != 0) {
      if (got < 0)
        rc = SR_EPARSE; /* damaged, or cut short */
      else if ((total += (size_t)got) > TARBALL_MAX_INFLATED)
        rc = SR_ETOOBIG;
      else
        rc = buf_add(out, chunk, (size_t)got);
    }
    break;
  }
  if (r != ARCHIVE_OK && r != ARCHIVE_EOF)
    rc = SR_EPARSE;
  archive_read_free(a);
  return rc;
}
