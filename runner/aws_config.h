/* Where AWS settings come from, as the SDKs look for them: credentials
 * (environment, shared credentials and config files with profiles,
 * container credentials, IMDSv2), the region, and service endpoints
 * (standard hosts, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, or the
 * embedded engine for target local).
 *
 * The environment is read through a function so tests inject it; the
 * files are read from paths the environment names (AWS_CONFIG_FILE,
 * AWS_SHARED_CREDENTIALS_FILE) or ~/.aws. */
#ifndef SAGERUN_AWS_CONFIG_H
#define SAGERUN_AWS_CONFIG_H

#include <time.h>
#include <uv.h>

#include "http.h"

typedef const char *(*aws_getenv_fn)(const char *name);

struct aws_credentials {
  char *access_key_id;
  char *secret_access_key;
  char *session_token; /* NULL when none */
  time_t expiration;   /* 0 when they do not expire */
  const char *source;  /* "environment", "shared-credentials-file",
                          "config-file", "container", "imds", "static" */
};

void aws_credentials_free(struct aws_credentials *c);

struct aws_config_opts {
  aws_getenv_fn getenv; /* NULL: the process environment */
  const char *profile;  /* NULL: AWS_PROFILE, else "default" */
  /* Overrides for tests; NULL for the real ones. */
  const char *imds_endpoint;      /* default http://169.254.169.254 (or
                                     AWS_EC2_METADATA_SERVICE_ENDPOINT) */
  const char *container_endpoint; /* default http://169.254.170.2 */
  long imds_timeout_ms;           /* default 1000 */
  int imds_disabled;              /* also AWS_EC2_METADATA_DISABLED=true */
};

/* Called once with 0 and credentials (owned by the callee: free them with
 * aws_credentials_free), or a negative SR_ code and a message saying
 * which sources were tried (never a secret). */
typedef void (*aws_credentials_cb)(int status, struct aws_credentials *creds,
                                   const char *message, void *data);

/* Resolves credentials through the chain: environment, shared credentials
 * file, config file (profile), container, IMDSv2. Synchronous sources
 * still answer through cb from the loop. Returns 0 or a negative SR_
 * code (then cb is never called). */
int aws_credentials_resolve(uv_loop_t *loop, struct http_client *http,
                            const struct aws_config_opts *opts,
                            aws_credentials_cb cb, void *data);

/* The region: flag (may be NULL), AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's region in the config file. Returns a malloc'ed string or
 * NULL when none is set. */
char *aws_region_resolve(const char *flag, const struct aws_config_opts *o);

/* Service ids: "s3", "sagemaker", "sagemaker-runtime", "logs". */

/* The endpoint URL (no trailing slash) for service in region:
 * AWS_ENDPOINT_URL_<SERVICE> (S3, SAGEMAKER, SAGEMAKER_RUNTIME,
 * CLOUDWATCH_LOGS), then AWS_ENDPOINT_URL, then the profile's
 * endpoint_url, then the standard host (amazonaws.com, or
 * amazonaws.com.cn for cn- regions). local_url, when not NULL (target
 * local), wins over all. Returns a malloc'ed string, or NULL for an
 * unknown service. */
char *aws_endpoint_resolve(const char *service, const char *region,
                           const char *local_url,
                           const struct aws_config_opts *o);

/* The signing name of a service id ("sagemaker-runtime" signs as
 * "sagemaker"), or NULL. */
const char *aws_signing_name(const char *service);

#endif
