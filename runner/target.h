/* Connecting a run to its target: for `aws`, the credential chain,
 * region and standard endpoints; for `local`, the embedded engine (started
 * when it is not running) and its credentials. Either way the steps get
 * one AWS client and the same code path. */
#ifndef SAGERUN_TARGET_H
#define SAGERUN_TARGET_H

#include <stddef.h>
#include <uv.h>

#include "aws.h"

/* Opens the client for target on loop (the loop is run while credentials
 * resolve). region_flag / wf_region may be NULL; the region chosen is
 * written to region. Returns 0, or a negative code with a message in err
 * (never a secret). */
int target_open(uv_loop_t *loop, const char *target, const char *region_flag,
                const char *wf_region, struct aws_client **out, char *region,
                size_t region_len, char *err, size_t errlen);

/* Closes the client and runs the loop until it is gone. */
void target_close(uv_loop_t *loop, struct aws_client *aws);

/* The embedded engine for target local: its URL and credentials, starting
 * it when it is not running (local/cmd_local.c). */
int local_connect(char *url, size_t url_len, struct aws_credentials *creds,
                  char *err, size_t errlen);

#endif
