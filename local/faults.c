/* Fault injection: parsing the spec and the per-service random sequence
 * (splitmix64, which is small, fast and has no bad seeds). */
#include "faults.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"

#define FAULTS_MAX_LATENCY_MS 600000u

static const char *const service_names[LOCAL_SVC_COUNT] = {"s3", "sagemaker",
                                                           "logs", "runtime"};

const char *local_service_name(enum local_service s)
{
  return (unsigned)s < LOCAL_SVC_COUNT ? service_names[s] : "unknown";
}

static unsigned long long splitmix64(unsigned long long *state)
{
  unsigned long long z = (*state += 0x9E3779B97F4A7C15ULL);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* A rate in [0, 1] from the whole of text. */
static int parse_rate(const char *text, double *out)
{
  char *end;
  double v;

  errno = 0;
  v = strtod(text, &end);
  if (errno || end == text || *end != '\0' || !(v >= 0.0 && v <= 1.0))
    return SR_EINVAL;
  *out = v;
  return 0;
}

/* "50ms", "2s" or "50" (milliseconds). */
static int parse_duration_ms(const char *text, unsigned *out)
{
  char *end;
  unsigned long long v;
  unsigned long long scale = 1;

  if (text[0] < '0' || text[0] > '9')
    return SR_EINVAL;
  errno = 0;
  v = strtoull(text, &end, 10);
  if (errno)
    return SR_EINVAL;
  if (strcmp(end, "s") == 0)
    scale = 1000;
  else if (strcmp(end, "ms") != 0 && *end != '\0')
    return SR_EINVAL;
  if (v > FAULTS_MAX_LATENCY_MS / scale)
    return SR_EINVAL;
  *out = (unsigned)(v * scale);
  return 0;
}

static int parse_seed(const char *text, unsigned long long *out)
{
  char *end;

  if (text[0] < '0' || text[0] > '9')
    return SR_EINVAL;
  errno = 0;
  *out = strtoull(text, &end, 10);
  return errno || *end != '\0' ? SR_EINVAL : 0;
}

static int parse_service(const char *text, unsigned *mask)
{
  int i;

  for (i = 0; i < LOCAL_SVC_COUNT; i++)
    if (strcmp(text, service_names[i]) == 0) {
      *mask |= 1u << i;
      return 0;
    }
  return SR_EINVAL;
}

/* Applies one KEY=VALUE item (item is modifiable). */
static int parse_item(char *item, struct local_faults *f, char *err,
                      size_t errlen)
{
  char *eq = strchr(item, '=');
  const char *key = item, *value;
  int rc;

  if (eq == NULL) {
    snprintf(err, errlen, "fault \"%s\": expected KEY=VALUE", item);
    return SR_EINVAL;
  }
  *eq = '\0';
  value = eq + 1;
  if (strcmp(key, "throttle") == 0)
    rc = parse_rate(value, &f->throttle);
  else if (strcmp(key, "5xx") == 0)
    rc = parse_rate(value, &f->error5xx);
  else if (strcmp(key, "drop") == 0)
    rc = parse_rate(value, &f->drop);
  else if (strcmp(key, "latency") == 0)
    rc = parse_duration_ms(value, &f->latency_ms);
  else if (strcmp(key, "seed") == 0)
    rc = parse_seed(value, &f->seed);
  else if (strcmp(key, "service") == 0)
    rc = parse_service(value, &f->services);
  else {
    snprintf(err, errlen,
             "unknown fault \"%s\" (expected throttle, 5xx, drop, latency, "
             "seed or service)",
             key);
    return SR_EINVAL;
  }
  if (rc)
    snprintf(err, errlen, "fault %s: bad value \"%s\"", key, value);
  return rc;
}

int local_faults_parse(const char *spec, struct local_faults *f, char *err,
                       size_t errlen)
{
  char *copy = NULL, *item, *next;
  int rc = 0, i;

  memset(f, 0, sizeof(*f));
  f->seed = 1;
  if (errlen > 0)
    err[0] = '\0';
  if (spec == NULL || *spec == '\0')
    goto seeds;
  copy = strdup(spec);
  if (copy == NULL)
    return SR_ENOMEM;
  for (item = copy; item && rc == 0; item = next) {
    next = strchr(item, ',');
    if (next)
      *next++ = '\0';
    if (*item == '\0')
      continue;
    rc = parse_item(item, f, err, errlen);
  }
  free(copy);
  if (rc)
    return rc;
  if (f->throttle + f->error5xx + f->drop > 1.0 + 1e-9) {
    snprintf(err, errlen, "fault rates add up to more than 1");
    return SR_EINVAL;
  }
seeds:
  for (i = 0; i < LOCAL_SVC_COUNT; i++)
    f->state[i] =
        f->seed ^ (0xD1B54A32D192ED03ULL * (unsigned long long)(i + 1));
  return 0;
}

enum local_fault local_faults_next(struct local_faults *f, enum local_service s,
                                   unsigned *latency_ms)
{
  double u;

  *latency_ms = 0;
  if ((unsigned)s >= LOCAL_SVC_COUNT ||
      (f->services && !(f->services & (1u << s))))
    return LOCAL_FAULT_NONE;
  *latency_ms = f->latency_ms;
  if (f->throttle + f->error5xx + f->drop <= 0.0)
    return LOCAL_FAULT_NONE;
  /* 53 random bits: a uniform double in [0, 1). */
  u = (double)(splitmix64(&f->state[s]) >> 11) * 0x1.0p-53;
  if (u < f->throttle)
    return LOCAL_FAULT_THROTTLE;
  if (u < f->throttle + f->error5xx)
    return LOCAL_FAULT_5XX;
  if (u < f->throttle + f->error5xx + f->drop)
    return LOCAL_FAULT_DROP;
  return LOCAL_FAULT_NONE;
}
