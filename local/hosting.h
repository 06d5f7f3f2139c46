/* Hosting behind the local engine's endpoints.
 *
 * The control plane (local/sagemaker.c) owns an endpoint's record and
 * status (Creating, InService, Updating, SystemUpdating, Deleting,
 * Failed); hosting (this module) loads the models and answers
 * invocations. They meet here:
 *
 *   control plane                           hosting
 *   local_hosting_start(endpoint, variants) ► loads the models
 *   on_ready(0 | error, reason)    ◄─────── exactly once: InService or
 *                                            Failed with FailureReason
 *   local_hosting_invoke(h, request)  ─────► scores on the thread pool
 *   answer callback                ◄─────── (runtime.c calls it once the
 *                                            endpoint is InService)
 *   local_hosting_stop(h, on_stopped) ─────► unloads; on_stopped once,
 *                                            then h is gone
 *
 * Callbacks come from the engine's loop, never from inside a call into
 * this module. If local_hosting_start fails, on_ready never runs.
 * Whatever on_ready says, the handle lives until local_hosting_stop,
 * which may also come before on_ready ran (DeleteEndpoint while
 * Creating): on_ready then never runs, on_stopped does.
 *
 * local/hosting.c serves linear-learner models (issue 6) and fails
 * endpoints of any other image with a reason that names what is
 * supported. */
#ifndef SAGERUN_LOCAL_HOSTING_H
#define SAGERUN_LOCAL_HOSTING_H

#include <jansson.h>
#include <stddef.h>

#include "engine.h"

struct local_hosting; /* one endpoint's serving, owned by this module */

typedef void (*local_hosting_ready_cb)(struct local_hosting *h, int status,
                                       const char *failure_reason, void *data);

/* Starts serving endpoint (the DescribeEndpoint document: EndpointName,
 * EndpointArn, EndpointConfigName) with variants, an array of
 * {"VariantName", "InstanceType", "InitialInstanceCount",
 *  "InitialVariantWeight", "Model": the DescribeModel document of the
 *  variant's model (PrimaryContainer: Image, ModelDataUrl, Environment)}
 * as the endpoint configuration said when the endpoint was created. Both
 * are borrowed for the call. Returns 0 with *out, on_ready to come; or a
 * negative SR_ code. */
int local_hosting_start(struct local_engine *e, const json_t *endpoint,
                        const json_t *variants, local_hosting_ready_cb on_ready,
                        void *data, struct local_hosting **out);

/* One InvokeEndpoint, on a hosting whose on_ready reported 0: picks
 * the variant (the target, or by weight) and checks Accept on the loop,
 * then parses, predicts and writes the answer on libuv's thread pool
 * (the model is only read there). Returns 0, and cb gets the answer
 * exactly once, from the loop: the scores, or a ModelError (424) passing
 * on the container's 400/415 for a payload the model cannot read. Or
 * returns -1 with err (an unknown target variant: 400 ValidationError,
 * as SageMaker answers; an Accept the model cannot write: 424), and cb
 * never runs. r->data must stay valid until cb. */
int local_hosting_invoke(struct local_hosting *h,
                         const struct local_runtime_request *r,
                         local_runtime_cb cb, void *arg,
                         struct local_error *err);

/* Unloads; on_stopped (may be NULL) runs once from the loop, after which
 * h is freed. Invocations still scoring get their answers first. */
void local_hosting_stop(struct local_hosting *h, void (*on_stopped)(void *data),
                        void *data);

/* What this build serves, for messages: "linear-learner". */
extern const char *const local_hosting_supported;

#endif
