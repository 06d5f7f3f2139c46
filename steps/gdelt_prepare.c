/* gdelt.prepare: a GDELT source to training data. The rows are read in
 * parallel chunks, filtered, one-hot encoded and kept as floats; then,
 * off the loop, shuffled, split and written as RecordIO-protobuf (or CSV)
 * into the step's directory; then uploaded to S3 (multipart when large)
 * or, for file:// destinations, renamed into place.
 *
 * Under plan nothing is read: the outputs say when they will be known,
 * and the PutObject requests of the uploads go to the recorder with empty
 * bodies, so `sagerun plan` lists what a run would write. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../runner/error.h"
#include "../runner/s3.h"
#include "gdelt_job.h"
#include "source_identity.h"

#define PLACEHOLDER "(known after gdelt.prepare)"

static const char *const default_features[] = {
    "NumArticles", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor2Geo_Lat",
    "Actor2Geo_Long"};

/* One destination: an s3:// object or a file:// path. */
struct dest {
  const char *uri;
  struct s3_uri s3; /* bucket NULL: a file */
  char *final_path; /* file:// target */
  char *local;      /* where gdelt_write puts it */
};

struct prepare {
  struct step_ctx *ctx;
  struct gdelt_spec spec;
  struct gdelt_job *job;
  const char **events;
  struct gdelt_write_opts wo;
  struct gdelt_write_result wr;
  struct dest dest[2]; /* train, validation */
  size_t ndest;
  struct s3_op *ops[2];
  int pending, status;
  char err[512];
  json_t *outputs;
  int canceled;
};

static void prepare_free(struct prepare *p)
{
  size_t i;

  for (i = 0; i < 2; i++) {
    if (p->dest[i].local) {
      unlink(p->dest[i].local);
      free(p->dest[i].local);
    }
    free(p->dest[i].final_path);
    s3_uri_free(&p->dest[i].s3);
  }
  gdelt_job_free(p->job);
  gdelt_spec_free(&p->spec);
  gdelt_write_result_free(&p->wr);
  free(p->events);
  json_decref(p->outputs);
  free(p);
}

static void prepare_finish(struct prepare *p, int status, const char *message)
{
  struct step_ctx *ctx = p->ctx;
  json_t *out = status ? NULL : json_incref(p->outputs);
  char text[512];

  /* message may live in p or its job: keep it past the free. */
  snprintf(text, sizeof(text), "%s", message ? message : "");
  message = text;
  step_set_data(ctx, NULL);
  prepare_free(p);
  if (status)
    step_done(ctx, status, NULL, "%s", message);
  else
    step_done(ctx, 0, out, NULL);
}

static int dest_parse(struct dest *d, const char *uri, char *err, size_t errlen)
{
  d->uri = uri;
  if (strncmp(uri, "s3://", 5) == 0) {
    if (s3_uri_parse(uri, &d->s3) != 0 || d->s3.key == NULL ||
        d->s3.key[0] == '\0') {
      snprintf(err, errlen, "\"%s\" is not an S3 object URI", uri);
      return SR_EINVAL;
    }
    return 0;
  }
  d->final_path = gdelt_file_uri_path(uri);
  if (d->final_path == NULL) {
    snprintf(err, errlen, "\"%s\": destinations are s3:// or file://", uri);
    return SR_EINVAL;
  }
  return 0;
}

/* ---- Outputs ------------------------------------------------------------- */

static json_t *prepare_outputs(struct prepare *p)
{
  struct gdelt_scan *sc = gdelt_job_scan(p->job);
  json_t *lines = json_array(), *names = json_array();
  size_t i;

  for (i = 0; lines && i < sc->nmalformed_lines; i++)
    json_array_append_new(lines,
                          json_integer((json_int_t)sc->malformed_lines[i]));
  for (i = 0; names && i < p->wr.feature_dim; i++)
    json_array_append_new(names, json_string(p->wr.feature_names[i]));
  return json_pack(
      "{s:s,s:s?,s:I,s:I,s:I,s:I,s:{s:I,s:I,s:I},s:I,s:o,s:I,s:{s:I,s:I,"
      "s:I},s:s,s:o,s:I,s:I}",
      "train", p->dest[0].uri, "validation",
      p->ndest > 1 ? p->dest[1].uri : NULL, "rows_read",
      (json_int_t)sc->rows_read, "rows_kept", (json_int_t)sc->kept,
      "train_rows", (json_int_t)p->wr.train_rows, "validation_rows",
      (json_int_t)p->wr.validation_rows, "dropped", "event_code",
      (json_int_t)sc->dropped_event, "zero_geo",
      (json_int_t)sc->dropped_zero_geo, "missing",
      (json_int_t)sc->dropped_missing, "malformed", (json_int_t)sc->malformed,
      "malformed_lines", lines, "blank_lines", (json_int_t)sc->blank, "layouts",
      "historical", (json_int_t)sc->by_layout[0], "daily",
      (json_int_t)sc->by_layout[1], "v2", (json_int_t)sc->by_layout[2],
      "source_format", gdelt_job_source_kind(p->job), "feature_names", names,
      "feature_dim", (json_int_t)p->wr.feature_dim, "bytes_written",
      (json_int_t)(p->wr.train_bytes + p->wr.validation_bytes));
}

/* ---- Uploads ------------------------------------------------------------- */

static void upload_done(struct s3_op *op, const struct s3_result *r, void *data)
{
  struct prepare *p = data;
  const char *uri = "";
  size_t i;

  for (i = 0; i < 2; i++) {
    if (p->ops[i] == op) {
      p->ops[i] = NULL;
      uri = p->dest[i].uri;
    }
  }
  if (r->error && p->status == 0) {
    p->status = r->error;
    snprintf(p->err, sizeof(p->err), "cannot upload %s: %s%s%s", uri,
             r->error_code ? r->error_code : sr_strerror(r->error),
             r->error_message ? ": " : "",
             r->error_message ? r->error_message : "");
    /* The other upload has no use now. */
    for (i = 0; i < 2; i++)
      if (p->ops[i])
        s3_op_cancel(p->ops[i]);
  }
  if (--p->pending > 0)
    return;
  if (p->canceled && p->status == 0)
    p->status = SR_ECANCELED;
  prepare_finish(p, p->status, p->status == SR_ECANCELED ? "canceled" : p->err);
}

static int upload_start(struct prepare *p)
{
  struct aws_client *aws = step_aws(p->ctx);
  struct s3_upload_opts o;
  size_t i;
  int rc;

  for (i = 0; i < p->ndest; i++) {
    struct dest *d = &p->dest[i];
    if (d->s3.bucket == NULL)
      continue;
    if (aws == NULL) {
      p->status = SR_ENOTSUP;
      snprintf(p->err, sizeof(p->err), "writing %s needs an AWS client",
               d->uri);
      break;
    }
    memset(&o, 0, sizeof(o));
    o.bucket = d->s3.bucket;
    o.key = d->s3.key;
    o.path = d->local;
    o.content_type = p->wo.format == GDELT_FORMAT_CSV
                         ? "text/csv"
                         : "application/x-recordio-protobuf";
    rc = s3_upload_file(aws, &o, upload_done, p, &p->ops[i]);
    if (rc) {
      p->status = rc;
      snprintf(p->err, sizeof(p->err), "cannot upload %s: %s", d->uri,
               sr_strerror(rc));
      break;
    }
    p->pending++;
  }
  if (p->status && p->pending > 0) {
    for (i = 0; i < 2; i++)
      if (p->ops[i])
        s3_op_cancel(p->ops[i]);
  }
  return p->pending;
}

/* file:// destinations: the written file is renamed over the target. */
static int place_files(struct prepare *p)
{
  size_t i;

  for (i = 0; i < p->ndest; i++) {
    struct dest *d = &p->dest[i];
    if (d->final_path == NULL)
      continue;
    if (rename(d->local, d->final_path) != 0) {
      snprintf(p->err, sizeof(p->err), "cannot write %s: %s", d->final_path,
               strerror(errno));
      return SR_EIO;
    }
    free(d->local);
    d->local = NULL;
  }
  return 0;
}

/* ---- The job ------------------------------------------------------------- */

/* Off the loop, after the scan: shuffle, split, write. */
static int prepare_write(struct gdelt_job *job, char *err, size_t errlen)
{
  struct prepare *p = gdelt_job_data(job);

  p->wo.cancel = gdelt_job_cancel_flag(job);
  return gdelt_write(&p->spec, gdelt_job_scan(job), &p->wo, &p->wr, err,
                     errlen);
}

static void prepare_done(struct gdelt_job *job, int status, const char *message,
                         void *data)
{
  struct prepare *p = data;
  struct gdelt_scan *sc = gdelt_job_scan(job);

  if (p->status) {
    prepare_finish(p, p->status, p->err);
    return;
  }
  if (status) {
    prepare_finish(p, status, message);
    return;
  }
  step_log(p->ctx,
           "%llu rows read (%s source), %llu kept, %llu malformed; dropped: "
           "%llu event_code, %llu zero_geo, %llu missing",
           (unsigned long long)sc->rows_read, gdelt_job_source_kind(job),
           (unsigned long long)sc->kept, (unsigned long long)sc->malformed,
           (unsigned long long)sc->dropped_event,
           (unsigned long long)sc->dropped_zero_geo,
           (unsigned long long)sc->dropped_missing);
  p->outputs = prepare_outputs(p);
  if (p->outputs == NULL) {
    prepare_finish(p, SR_ENOMEM, "out of memory");
    return;
  }
  if (place_files(p) != 0) {
    prepare_finish(p, SR_EIO, p->err);
    return;
  }
  step_progress(p->ctx, "%s %llu + %llu rows",
                p->dest[0].s3.bucket ? "uploading" : "wrote",
                (unsigned long long)p->wr.train_rows,
                (unsigned long long)p->wr.validation_rows);
  if (upload_start(p) > 0)
    return;
  prepare_finish(p, p->status, p->err);
}

/* ---- Plan ---------------------------------------------------------------- */

static void plan_put_done(struct s3_op *op, const struct s3_result *r,
                          void *data)
{
  struct prepare *p = data;

  (void)op;
  (void)r; /* the recorder's answer says nothing about a real run */
  if (--p->pending > 0)
    return;
  prepare_finish(p, 0, NULL);
}

/* The PUTs a run would send, with empty bodies, through the recording
 * client. Inputs known only at run time (the event list, say) are not
 * read: plan checks nothing it cannot see. */
static int plan_start(struct prepare *p, const json_t *in)
{
  static const char *const keys[2] = {"train", "validation"};
  struct aws_client *aws = step_aws(p->ctx);
  const char *format = json_string_value(json_object_get(in, "format"));
  const char *uri[2];
  struct s3_put_opts o;
  size_t i;

  for (i = 0; i < 2; i++) {
    uri[i] = json_string_value(json_object_get(in, keys[i]));
    if (uri[i] && strncmp(uri[i], "s3://", 5) == 0)
      s3_uri_parse(uri[i], &p->dest[i].s3);
  }
  p->outputs = json_pack(
      "{s:s,s:s?,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "train",
      uri[0] ? uri[0] : PLACEHOLDER, "validation", uri[1], "rows_read",
      PLACEHOLDER, "rows_kept", PLACEHOLDER, "train_rows", PLACEHOLDER,
      "validation_rows", PLACEHOLDER, "dropped", PLACEHOLDER, "malformed",
      PLACEHOLDER, "malformed_lines", PLACEHOLDER, "blank_lines", PLACEHOLDER,
      "layouts", PLACEHOLDER, "source_format", PLACEHOLDER, "feature_names",
      PLACEHOLDER, "feature_dim", PLACEHOLDER, "bytes_written", PLACEHOLDER);
  if (p->outputs == NULL)
    return SR_ENOMEM;
  for (i = 0; aws && i < 2; i++) {
    if (p->dest[i].s3.bucket == NULL || p->dest[i].s3.key == NULL)
      continue;
    memset(&o, 0, sizeof(o));
    o.bucket = p->dest[i].s3.bucket;
    o.key = p->dest[i].s3.key;
    o.body = "";
    o.body_len = 0;
    o.content_type = format && strcmp(format, "csv") == 0
                         ? "text/csv"
                         : "application/x-recordio-protobuf";
    if (s3_put_object(aws, &o, plan_put_done, p, &p->ops[i]) == 0)
      p->pending++;
  }
  if (p->pending == 0)
    prepare_finish(p, 0, NULL);
  return 0;
}

/* ---- Inputs -------------------------------------------------------------- */

static int prepare_inputs(struct prepare *p, const json_t *in, char *err,
                          size_t errlen)
{
  const json_t *events = json_object_get(in, "events");
  const json_t *features = json_object_get(in, "features");
  const json_t *split = json_object_get(in, "split");
  const json_t *seed = json_object_get(in, "seed");
  const json_t *one_hot = json_object_get(in, "one_hot");
  const char *format = json_string_value(json_object_get(in, "format"));
  const char *missing = json_string_value(json_object_get(in, "missing"));
  const char *label = json_string_value(json_object_get(in, "label"));
  const char *train = json_string_value(json_object_get(in, "train"));
  const char *validation = json_string_value(json_object_get(in, "validation"));
  size_t i, n;
  int rc;

  rc = gdelt_job_common_inputs(in, &p->spec, err, errlen);
  if (rc)
    return rc;
  n = json_array_size(events);
  if (n == 0 || n > GDELT_MAX_EVENTS) {
    snprintf(err, errlen, "events: 1 to %d EventCodes", GDELT_MAX_EVENTS);
    return SR_EINVAL;
  }
  p->events = calloc(n, sizeof(*p->events));
  if (p->events == NULL)
    return SR_ENOMEM;
  for (i = 0; i < n; i++) {
    p->events[i] = json_string_value(json_array_get(events, i));
    if (p->events[i] == NULL) {
      snprintf(err, errlen, "events: EventCodes are strings (\"042\")");
      return SR_EINVAL;
    }
  }
  p->spec.events = p->events;
  p->spec.nevents = n;
  p->spec.one_hot = !json_is_null(one_hot);
  p->spec.label = label ? label : "AvgTone";
  if (json_is_array(features)) {
    if (json_array_size(features) > GDELT_MAX_FEATURES) {
      snprintf(err, errlen, "at most %d features", GDELT_MAX_FEATURES);
      return SR_EINVAL;
    }
    for (i = 0; i < json_array_size(features); i++) {
      p->spec.features[i] = json_string_value(json_array_get(features, i));
      if (p->spec.features[i] == NULL) {
        snprintf(err, errlen, "features: column names");
        return SR_EINVAL;
      }
    }
    p->spec.nfeatures = json_array_size(features);
  } else {
    for (i = 0; i < sizeof(default_features) / sizeof(*default_features); i++)
      p->spec.features[i] = default_features[i];
    p->spec.nfeatures = i;
  }
  p->spec.missing = GDELT_MISSING_DROP;
  if (missing && strcmp(missing, "zero") == 0)
    p->spec.missing = GDELT_MISSING_ZERO;
  else if (missing && strcmp(missing, "error") == 0)
    p->spec.missing = GDELT_MISSING_ERROR;
  p->spec.drop_zero_geo = !json_is_false(json_object_get(in, "drop_zero_geo"));
  p->spec.strict = json_is_true(json_object_get(in, "strict"));
  rc = gdelt_spec_compile(&p->spec, err, errlen);
  if (rc)
    return rc;

  p->wo.format = format && strcmp(format, "csv") == 0 ? GDELT_FORMAT_CSV
                                                      : GDELT_FORMAT_RECORDIO;
  p->wo.shuffle = !json_is_false(json_object_get(in, "shuffle"));
  p->wo.seed =
      json_is_integer(seed) ? (uint64_t)json_integer_value(seed) : 1729;
  p->wo.split = json_is_number(split) ? json_number_value(split) : 0.9;
  if (!(p->wo.split > 0 && p->wo.split <= 1)) {
    snprintf(err, errlen, "split must be in (0, 1]");
    return SR_EINVAL;
  }
  if (train == NULL) {
    snprintf(err, errlen, "train: an s3:// or file:// URI is required");
    return SR_EINVAL;
  }
  rc = dest_parse(&p->dest[0], train, err, errlen);
  if (rc)
    return rc;
  p->ndest = 1;
  if (p->wo.split < 1) {
    if (validation == NULL) {
      snprintf(err, errlen, "split %g below 1 needs validation", p->wo.split);
      return SR_EINVAL;
    }
    rc = dest_parse(&p->dest[1], validation, err, errlen);
    if (rc)
      return rc;
    p->ndest = 2;
  }
  return 0;
}

/* Where gdelt_write puts each file: next to a file:// target (so the
 * rename cannot cross file systems), or in the step's directory. */
static int prepare_locals(struct prepare *p, char *err, size_t errlen)
{
  static const char *const names[2] = {"train", "validation"};
  const char *dir = NULL;
  size_t i;

  for (i = 0; i < p->ndest; i++) {
    struct dest *d = &p->dest[i];
    struct buf b;
    buf_init(&b, 1 << 16);
    if (d->final_path) {
      buf_addf(&b, "%s.sagerun-%d.tmp", d->final_path, (int)getpid());
    } else {
      if (dir == NULL)
        dir = gdelt_job_dir(p->job);
      if (dir == NULL) {
        snprintf(err, errlen, "cannot create the step's directory");
        return SR_EIO;
      }
      buf_addf(&b, "%s/%s.data", dir, names[i]);
    }
    d->local = buf_detach(&b, NULL);
    if (d->local == NULL)
      return SR_ENOMEM;
  }
  p->wo.train_path = p->dest[0].local;
  p->wo.validation_path = p->ndest > 1 ? p->dest[1].local : NULL;
  return 0;
}

static int prepare_start(struct step_ctx *ctx)
{
  const json_t *in = step_inputs(ctx);
  const char *source = json_string_value(json_object_get(in, "source"));
  struct gdelt_job_opts o;
  struct prepare *p;
  char err[512];
  int rc;

  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return SR_ENOMEM;
  p->ctx = ctx;
  err[0] = '\0';
  if (step_planning(ctx)) {
    step_set_data(ctx, p);
    rc = plan_start(p, in);
    if (rc)
      prepare_finish(p, rc, sr_strerror(rc));
    return 0;
  }
  rc = prepare_inputs(p, in, err, sizeof(err));
  if (rc == 0 && source == NULL) {
    rc = SR_EINVAL;
    snprintf(err, sizeof(err), "source is required");
  }
  if (rc) {
    prepare_finish(p, rc, err[0] ? err : sr_strerror(rc));
    return 0;
  }
  step_set_data(ctx, p);
  memset(&o, 0, sizeof(o));
  o.ctx = ctx;
  o.source = source;
  o.spec = &p->spec;
  o.finish = prepare_write;
  o.done = prepare_done;
  o.data = p;
  rc = gdelt_job_start(&o, &p->job, err, sizeof(err));
  if (rc == 0)
    rc = prepare_locals(p, err, sizeof(err));
  if (rc && p->job) {
    /* The job is running: stop it; its done reports this failure. */
    p->status = rc;
    snprintf(p->err, sizeof(p->err), "%s", err);
    gdelt_job_cancel(p->job);
    return 0;
  }
  if (rc)
    prepare_finish(p, rc, err);
  return 0;
}

static void prepare_cancel(struct step_ctx *ctx)
{
  struct prepare *p = step_data(ctx);
  size_t i;

  if (p == NULL)
    return;
  p->canceled = 1;
  if (p->job)
    gdelt_job_cancel(p->job);
  for (i = 0; i < 2; i++)
    if (p->ops[i])
      s3_op_cancel(p->ops[i]);
}

const struct step_exec gdelt_prepare_exec = {
    STEP_ABI_VERSION, prepare_start, prepare_cancel, source_identity_check};
