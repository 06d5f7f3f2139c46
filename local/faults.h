/* Fault injection for tests of clients: `sagerun local start --faults
 * SPEC` makes the engine throttle, fail, drop connections or answer late
 * at given rates, per service, reproducibly.
 *
 * SPEC is comma-separated KEY=VALUE:
 *   throttle=RATE  answer as the service throttles (S3: 503 SlowDown;
 *                  JSON services: 400 ThrottlingException)
 *   5xx=RATE       answer with a server error (S3: 500 InternalError;
 *                  JSON services: 500 InternalFailure)
 *   drop=RATE      close the connection without an answer
 *   latency=DUR    delay every answer by DUR ("50ms", "2s", or ms)
 *   seed=N         the random sequence (default 1)
 *   service=NAME   only this service: s3, sagemaker, logs or runtime; may
 *                  repeat (default: all)
 * RATEs are probabilities in [0, 1] that add up to at most 1.
 *
 * Determinism: each service draws from its own generator seeded from
 * seed, one draw per request, so the n-th request to a service meets the
 * same fault in every run with the same seed. */
#ifndef SAGERUN_LOCAL_FAULTS_H
#define SAGERUN_LOCAL_FAULTS_H

#include <stddef.h>

/* The services the engine serves on its one port. */
enum local_service {
  LOCAL_SVC_S3,
  LOCAL_SVC_SAGEMAKER,
  LOCAL_SVC_LOGS,
  LOCAL_SVC_RUNTIME,
  LOCAL_SVC_COUNT
};

enum local_fault {
  LOCAL_FAULT_NONE,
  LOCAL_FAULT_THROTTLE,
  LOCAL_FAULT_5XX,
  LOCAL_FAULT_DROP
};

struct local_faults {
  double throttle, error5xx, drop;
  unsigned latency_ms;
  unsigned long long seed;
  unsigned services; /* bit per enum local_service; 0 means all */
  unsigned long long state[LOCAL_SVC_COUNT];
};

/* "s3", "sagemaker", "logs", "runtime". */
const char *local_service_name(enum local_service s);

/* Parses spec (NULL or "" means no faults) into f. Returns 0, or SR_EINVAL
 * with a lowercase message in err. */
int local_faults_parse(const char *spec, struct local_faults *f, char *err,
                       size_t errlen);

/* The fault for the next request to service s; *latency_ms gets the delay
 * to add before answering (0 for none). */
enum local_fault local_faults_next(struct local_faults *f, enum local_service s,
                                   unsigned *latency_ms);

#endif
