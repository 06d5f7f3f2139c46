/* core.wait: waits a number of seconds on a timer (rate limits, eventual
 * consistency, demonstrations of parallelism); cancellable. */
#include <stdlib.h>

#include "../runner/error.h"
#include "step.h"

struct wait {
  uv_timer_t timer;
  struct step_ctx *ctx;
  int status;
};

static void wait_closed(uv_handle_t *h)
{
  struct wait *w = h->data;
  struct step_ctx *ctx = w->ctx;
  int status = w->status;
  double seconds =
      json_number_value(json_object_get(step_inputs(ctx), "seconds"));

  free(w);
  if (status)
    step_done(ctx, status, NULL, "canceled");
  else
    step_done(ctx, 0, json_pack("{s:f}", "seconds", seconds), NULL);
}

static void wait_fired(uv_timer_t *t)
{
  uv_close((uv_handle_t *)t, wait_closed);
}

static int wait_start(struct step_ctx *ctx)
{
  double seconds =
      json_number_value(json_object_get(step_inputs(ctx), "seconds"));
  struct wait *w = calloc(1, sizeof(*w));

  if (w == NULL)
    return SR_ENOMEM;
  w->ctx = ctx;
  step_set_data(ctx, w);
  uv_timer_init(step_loop(ctx), &w->timer);
  w->timer.data = w;
  if (step_planning(ctx))
    seconds = 0;
  uv_timer_start(&w->timer, wait_fired, (uint64_t)(seconds * 1e3), 0);
  step_progress(ctx, "waiting %.1f s", seconds);
  return 0;
}

static void wait_cancel(struct step_ctx *ctx)
{
  struct wait *w = step_data(ctx);

  if (uv_is_closing((uv_handle_t *)&w->timer))
    return;
  w->status = SR_ECANCELED;
  uv_timer_stop(&w->timer);
  uv_close((uv_handle_t *)&w->timer, wait_closed);
}

const struct step_exec core_wait_exec = {STEP_ABI_VERSION, wait_start,
                                         wait_cancel, NULL};
