/* The local engine's one set of credentials: a random access key id and
 * secret, created at first start and kept in DATA_DIR/credentials (mode
 * 0600) in the AWS shared-credentials format, so that
 * AWS_SHARED_CREDENTIALS_FILE can point at it directly:
 *
 *   [default]
 *   aws_access_key_id = LKIA...
 *   aws_secret_access_key = ...
 *
 * Every request the engine serves must be signed with them (SigV4). */
#ifndef SAGERUN_LOCAL_CREDENTIALS_H
#define SAGERUN_LOCAL_CREDENTIALS_H

#include <stddef.h>

#define LOCAL_CREDENTIALS_FILE "credentials"

struct local_credentials {
  char access_key_id[21];     /* "LKIA" and 16 of [A-Z2-7] */
  char secret_access_key[41]; /* 40 of [A-Za-z0-9+/] */
};

/* Loads DATA_DIR/credentials, creating it with fresh random credentials
 * when it does not exist (data_dir must exist). A file readable or
 * writable by group or others is refused, as ssh refuses its keys.
 * Returns 0, or a negative SR_ code with a lowercase message in err. */
int local_credentials_load(const char *data_dir, struct local_credentials *c,
                           char *err, size_t errlen);

/* Wipes c (the secret must not linger in freed memory). */
void local_credentials_clear(struct local_credentials *c);

#endif
