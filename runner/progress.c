#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../steps/step.h"

static void stamp(char out[16])
{
  time_t t = time(NULL);
  struct tm tm;

  localtime_r(&t, &tm);
  strftime(out, 16, "%H:%M:%S", &tm);
}

static const char *event_name(const struct exec_event *ev)
{
  switch (ev->kind) {
  case EXEC_EVENT_STARTED:
    return "started";
  case EXEC_EVENT_PROGRESS:
    return "progress";
  case EXEC_EVENT_LOG:
    return "log";
  case EXEC_EVENT_RETRYING:
    return "retrying";
  case EXEC_EVENT_INTERRUPTED:
    return "interrupted";
  default:
    return exec_status_name(ev->status);
  }
}

static void print_json(struct progress *p, const struct exec_event *ev)
{
  json_t *o = json_object();
  char *s;

  json_object_set_new(o, "event", json_string(event_name(ev)));
  json_object_set_new(o, "time", json_real((double)time(NULL)));
  if (p->run_id)
    json_object_set_new(o, "run", json_string(p->run_id));
  if (ev->node) {
    json_object_set_new(o, "step", json_string(ev->node->id));
    json_object_set_new(o, "type", json_string(ev->node->step->type->name));
    json_object_set_new(o, "attempt", json_integer(ev->attempt));
  }
  if (ev->text)
    json_object_set_new(o, "text", json_string(ev->text));
  if (ev->kind == EXEC_EVENT_FINISHED) {
    json_object_set_new(o, "seconds", json_real(ev->seconds));
    if (ev->outputs)
      json_object_set(o, "outputs", (json_t *)ev->outputs);
  }
  s = json_dumps(o, JSON_COMPACT);
  if (s)
    fprintf(p->out, "%s\n", s);
  free(s);
  json_decref(o);
}

static void print_line(struct progress *p, const struct exec_event *ev);

void progress_free(struct progress *p)
{
  json_decref(p->running);
  p->running = NULL;
}

static double now_s(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Erases the block of running steps drawn last. */
static void live_erase(struct progress *p)
{
  if (p->drawn > 0)
    fprintf(p->out, "\033[%dA\033[J", p->drawn);
  p->drawn = 0;
}

/* Draws the running steps: id, elapsed time, detail (SecondaryStatus
 * and the like). At most 20 lines; the rest are counted. */
static void live_draw(struct progress *p)
{
  const char *key;
  json_t *v;
  double now = now_s();
  int n = 0, more = 0;

  if (json_object_size(p->running) == 0)
    return;
  fprintf(p->out, "%s-- running --%s\n", p->colour ? "\033[2m" : "",
          p->colour ? "\033[0m" : "");
  p->drawn = 1;
  json_object_foreach(p->running, key, v)
  {
    long secs = (long)(now - json_number_value(json_object_get(v, "since")));
    const char *detail = json_string_value(json_object_get(v, "detail"));
    if (n == 20) {
      more++;
      continue;
    }
    fprintf(p->out, "  %-48.48s %3ld:%02ld  %.60s\n", key, secs / 60, secs % 60,
            detail ? detail : "");
    n++;
    p->drawn++;
  }
  if (more) {
    fprintf(p->out, "  ... and %d more\n", more);
    p->drawn++;
  }
}

void progress_event(void *data, const struct exec_event *ev)
{
  struct progress *p = data;

  if (ev->kind == EXEC_EVENT_LOG && !p->verbose)
    return;
  if (ev->kind == EXEC_EVENT_TICK) {
    if (p->live) {
      live_erase(p);
      live_draw(p);
      fflush(p->out);
    }
    return;
  }
  if (p->json) {
    print_json(p, ev);
    fflush(p->out);
    return;
  }
  if (p->live) {
    if (p->running == NULL)
      p->running = json_object();
    if (ev->node && ev->kind == EXEC_EVENT_STARTED)
      json_object_set_new(
          p->running, ev->node->id,
          json_pack("{s:f,s:s}", "since", now_s(), "detail", "starting"));
    else if (ev->node && ev->kind == EXEC_EVENT_PROGRESS)
      json_object_set_new(json_object_get(p->running, ev->node->id), "detail",
                          json_string(ev->text ? ev->text : ""));
    else if (ev->node && (ev->kind == EXEC_EVENT_FINISHED ||
                          ev->kind == EXEC_EVENT_RETRYING))
      json_object_del(p->running, ev->node->id);
    live_erase(p);
    /* Progress shows in the block; lines above are the record. */
    if (ev->kind != EXEC_EVENT_PROGRESS && ev->kind != EXEC_EVENT_STARTED)
      print_line(p, ev);
    live_draw(p);
    fflush(p->out);
    return;
  }
  print_line(p, ev);
}

static void print_line(struct progress *p, const struct exec_event *ev)
{
  const char *green = p->colour ? "\033[32m" : "";
  const char *red = p->colour ? "\033[31m" : "";
  const char *dim = p->colour ? "\033[2m" : "";
  const char *reset = p->colour ? "\033[0m" : "";
  const char *colour = "";
  char t[16];

  stamp(t);
  if (ev->kind == EXEC_EVENT_INTERRUPTED) {
    fprintf(p->out,
            "%s  interrupted: cancelling running steps, then finally "
            "(again to quit at once)\n",
            t);
    fflush(p->out);
    return;
  }
  if (ev->kind == EXEC_EVENT_FINISHED)
    colour =
        ev->status == EXEC_SUCCEEDED || ev->status == EXEC_REUSED ? green : red;
  else if (ev->kind == EXEC_EVENT_PROGRESS || ev->kind == EXEC_EVENT_LOG)
    colour = dim;
  fprintf(p->out, "%s  %s%-10s%s %s", t, colour, event_name(ev), reset,
          ev->node->id);
  if (ev->kind == EXEC_EVENT_STARTED)
    fprintf(p->out, " (%s%s)", ev->node->step->type->name,
            ev->attempt > 1 ? ", again" : "");
  if (ev->attempt > 1 && ev->kind != EXEC_EVENT_PROGRESS)
    fprintf(p->out, " [attempt %d]", ev->attempt);
  if (ev->kind == EXEC_EVENT_FINISHED && ev->seconds > 0)
    fprintf(p->out, " in %.1f s", ev->seconds);
  if (ev->text)
    fprintf(p->out, ": %s", ev->text);
  fputc('\n', p->out);
  fflush(p->out);
}

void progress_summary(struct progress *p, const struct dag *dag,
                      const struct exec_summary *s, int result)
{
  const char *key;
  json_t *v;

  if (p->json) {
    json_t *o = json_pack("{s:s,s:s?,s:i,s:i,s:i,s:i,s:i,s:O}", "event",
                          "summary", "run", p->run_id, "succeeded",
                          (int)s->succeeded, "reused", (int)s->reused, "failed",
                          (int)s->failed, "skipped", (int)s->skipped,
                          "canceled", (int)s->canceled, "errors", s->errors);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (text)
      fprintf(p->out, "%s\n", text);
    free(text);
    json_decref(o);
    return;
  }
  fprintf(p->out, "\n%s: %s: %zu succeeded", dag->wf->name,
          result == 0     ? "done"
          : result == 130 ? "interrupted"
                          : "failed",
          s->succeeded);
  if (s->reused)
    fprintf(p->out, ", %zu reused", s->reused);
  if (s->failed)
    fprintf(p->out, ", %zu failed", s->failed);
  if (s->skipped)
    fprintf(p->out, ", %zu skipped", s->skipped);
  if (s->canceled)
    fprintf(p->out, ", %zu canceled", s->canceled);
  if (p->run_id)
    fprintf(p->out, " (run %s)", p->run_id);
  fputc('\n', p->out);
  json_object_foreach(s->errors, key, v)
  {
    if (strncmp(json_string_value(v), "not run:", 8) == 0)
      continue;
    fprintf(p->out, "  %s: %s\n", key, json_string_value(v));
  }
}
