/* What the three gdelt.* steps share: bring the source to a local file
 * (file:// is read in place; s3:// and http(s):// are downloaded into the
 * step's directory), scan it with a gdelt_spec on the thread pool, a
 * chunk of the file per work item so one large file uses every core, and
 * merge the chunks in file order. An optional finish function then runs
 * off the loop too (gdelt.prepare writes its files there).
 *
 * A job is a request: gdelt_job_start fails (done never runs) or done runs
 * exactly once, on the loop, with 0 or a negative code and a message. */
#ifndef SAGERUN_GDELT_JOB_H
#define SAGERUN_GDELT_JOB_H

#include "../runner/gdelt.h"
#include "step.h"

struct gdelt_job;

typedef void (*gdelt_job_done_cb)(struct gdelt_job *job, int status,
                                  const char *message, void *data);

struct gdelt_job_opts {
  struct step_ctx *ctx;
  const char *source; /* s3://, file://, http(s):// */
  /* Compiled by the caller, which keeps it alive until done has run. */
  const struct gdelt_spec *spec;
  /* Runs off the loop after the merge when the scan succeeded; returns 0
   * or a negative code with a message in err. May be NULL. */
  int (*finish)(struct gdelt_job *job, char *err, size_t errlen);
  gdelt_job_done_cb done;
  void *data;
};

/* Returns 0, or a negative code with the reason in err ("cannot read
 * SOURCE: ..."). */
int gdelt_job_start(const struct gdelt_job_opts *o, struct gdelt_job **out,
                    char *err, size_t errlen);

/* Asks the job to stop; done then runs with SR_ECANCELED unless it had
 * already finished its work. */
void gdelt_job_cancel(struct gdelt_job *job);

/* The merged scan (valid until gdelt_job_free). */
struct gdelt_scan *gdelt_job_scan(struct gdelt_job *job);
/* "plain", "gzip" or "zip", once scanned. */
const char *gdelt_job_source_kind(const struct gdelt_job *job);
/* The job's cancel flag, for finish to poll. */
const atomic_int *gdelt_job_cancel_flag(const struct gdelt_job *job);
/* The step's own directory for files (created on first use), or NULL when
 * it cannot be created. */
const char *gdelt_job_dir(struct gdelt_job *job);
void *gdelt_job_data(const struct gdelt_job *job);

/* Frees the job and removes what it downloaded. Only from done or
 * later. */
void gdelt_job_free(struct gdelt_job *job);

/* The local path of a file:// URI (percent-decoded; "file:///a/b" and
 * "file://localhost/a/b" are "/a/b", "file://a/b" is the relative "a/b"),
 * malloc'ed, or NULL when uri is not file://. */
char *gdelt_file_uri_path(const char *uri);

/* Reads the common inputs of the gdelt steps into spec: layout,
 * max_rows, seed_compat. Returns 0 or SR_EINVAL with err. */
int gdelt_job_common_inputs(const json_t *in, struct gdelt_spec *spec,
                            char *err, size_t errlen);

#endif
