/* report.html: the report as one page that opens anywhere, offline: CSS
 * inline, charts as inline SVG drawn here, no script, and a
 * Content-Security-Policy that forbids any fetch, so even a name that
 * slipped through unescaped could not load or run anything. Every string
 * from the inputs goes through report_out_html(). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/error.h"
#include "report.h"

/* Chart geometry, in SVG user units (pixels at 100%). */
#define BARS_WIDTH 760
#define BARS_LABEL 250 /* room for the variant names, left of the bars */
#define BARS_VALUE 110 /* room for the value right of the longest bar */
#define BARS_ROW 28
#define BARS_THICK 18
#define BARS_PAD 6
#define BARS_LABEL_CHARS 34

#define HIST_WIDTH 340
#define HIST_HEIGHT 190
#define HIST_LEFT 8
#define HIST_TOP 22
#define HIST_BOTTOM 150

static const char css[] =
    "body{margin:0;background:#fff;color:#1f2328;"
    "font:15px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}"
    "main{max-width:1100px;margin:0 auto;padding:24px 28px 48px}"
    "h1{font-size:1.8em;margin:.2em 0 .1em}"
    "h2{font-size:1.3em;margin:1.6em 0 .5em;padding-bottom:.2em;"
    "border-bottom:1px solid #d0d7de}"
    "h3{font-size:1.05em;margin:1.2em 0 .4em}"
    ".meta,.note,footer{color:#57606a;font-size:.9em}"
    ".scroll{overflow-x:auto}"
    "table{border-collapse:collapse;margin:.6em 0;"
    "font-variant-numeric:tabular-nums}"
    "th,td{padding:5px 12px;border-bottom:1px solid #d0d7de;text-align:left;"
    "white-space:nowrap}"
    "th{background:#f6f8fa;font-weight:600}"
    "th.n,td.n{text-align:right}"
    "tr.base td{background:#fff4e5}"
    "ul.summary{padding-left:1.2em}"
    ".warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;"
    "border-radius:6px}"
    "figure{margin:1em 0}"
    "figcaption{font-weight:600;margin-bottom:4px}"
    ".hists{display:flex;flex-wrap:wrap;gap:4px 28px}"
    "svg{max-width:100%;height:auto}"
    "svg text{font:12px system-ui,-apple-system,sans-serif;fill:#1f2328}"
    "svg .val{fill:#57606a}"
    ".bar{fill:#4e79a7}.bar.base{fill:#f28e2b}.hist{fill:#59a14f}"
    ".axis{stroke:#8c959f;stroke-width:1}"
    "footer{margin-top:3em;border-top:1px solid #d0d7de;padding-top:.8em}";

/* At most max code points of s into out, with an ellipsis when cut. */
static void truncate_utf8(const char *s, size_t max, char *out, size_t outlen)
{
  size_t n = 0, i = 0;

  for (; s[i]; i++) {
    if (((unsigned char)s[i] & 0xc0) != 0x80 && n++ == max)
      break;
  }
  if (s[i] == '\0' || outlen < 4)
    snprintf(out, outlen, "%s", s);
  else
    snprintf(out, outlen, "%.*s\xe2\x80\xa6",
             (int)(i < outlen - 4 ? i : outlen - 4), s);
}

/* Paragraphs of text separated by blank lines. */
static void html_paragraphs(struct report_out *o, const char *text)
{
  const char *p = text, *end;

  while (*p) {
    while (*p == '\n' || *p == '\r')
      p++;
    if (*p == '\0')
      break;
    end = strstr(p, "\n\n");
    if (end == NULL)
      end = p + strlen(p);
    {
      char *para = strndup(p, (size_t)(end - p));
      if (para == NULL) {
        o->rc = SR_ENOMEM;
        return;
      }
      report_out_adds(o, "<p>");
      report_out_html(o, para);
      report_out_adds(o, "</p>\n");
      free(para);
    }
    p = end;
  }
}

static void html_table(const struct report *r, struct report_out *o)
{
  size_t i, j;

  report_out_adds(o, "<div class=\"scroll\"><table>\n<thead><tr>");
  for (j = 0; j < r->ncols; j++) {
    report_out_adds(o, r->cols[j].numeric ? "<th class=\"n\">" : "<th>");
    report_out_html(o, r->cols[j].head);
    report_out_adds(o, "</th>");
  }
  report_out_adds(o, "</tr></thead>\n<tbody>\n");
  for (i = 0; i < r->nrows; i++) {
    report_out_adds(o, i == r->baseline ? "<tr class=\"base\">" : "<tr>");
    for (j = 0; j < r->ncols; j++) {
      report_out_adds(o, r->cols[j].numeric ? "<td class=\"n\">" : "<td>");
      report_out_html(o, report_cell(r, i, j));
      report_out_adds(o, "</td>");
    }
    report_out_adds(o, "</tr>\n");
  }
  report_out_adds(o, "</tbody></table></div>\n");
}

/* A horizontal bar per item: label, bar scaled to the largest value,
 * value text. NAN values get no bar. highlight (or -1) is drawn in the
 * baseline's colour. */
static void svg_bars(struct report_out *o, const char *caption, size_t n,
                     const char *const *labels, const double *values,
                     const char *const *texts, long highlight)
{
  double max = 0, area;
  int height = 2 * BARS_PAD + (int)n * BARS_ROW, label = 60;
  size_t i;

  /* As much room left of the bars as the longest label needs (about 7
   * units a character at 12px), up to BARS_LABEL. */
  for (i = 0; i < n; i++) {
    size_t chars = 0;
    const char *p;
    for (p = labels[i]; *p && chars <= BARS_LABEL_CHARS; p++)
      chars += ((unsigned char)*p & 0xc0) != 0x80;
    if ((int)chars * 7 + 16 > label)
      label = (int)chars * 7 + 16;
    if (isfinite(values[i]) && values[i] > max)
      max = values[i];
  }
  if (label > BARS_LABEL)
    label = BARS_LABEL;
  area = BARS_WIDTH - label - BARS_VALUE;
  report_out_adds(o, "<figure><figcaption>");
  report_out_html(o, caption);
  report_out_addf(o,
                  "</figcaption>\n<svg viewBox=\"0 0 %d %d\" width=\"%d\" "
                  "height=\"%d\" role=\"img\" aria-label=\"",
                  BARS_WIDTH, height, BARS_WIDTH, height);
  report_out_html(o, caption);
  report_out_adds(o, "\">\n");
  for (i = 0; i < n; i++) {
    char shown[256];
    double y = BARS_PAD + (double)i * BARS_ROW;
    double ty = y + BARS_ROW / 2.0 + 4;
    truncate_utf8(labels[i], BARS_LABEL_CHARS, shown, sizeof(shown));
    report_out_adds(o, "<g><title>");
    report_out_html(o, labels[i]);
    report_out_adds(o, ": ");
    report_out_html(o, texts[i]);
    report_out_addf(o,
                    "</title><text x=\"%d\" y=\"%.1f\" "
                    "text-anchor=\"end\">",
                    label - 8, ty);
    report_out_html(o, shown);
    report_out_adds(o, "</text>");
    if (isfinite(values[i])) {
      double w = max > 0 && values[i] > 0 ? values[i] / max * area : 0;
      if (values[i] > 0 && w < 1)
        w = 1;
      report_out_addf(o,
                      "<rect class=\"bar%s\" x=\"%d\" y=\"%.1f\" "
                      "width=\"%.1f\" height=\"%d\" rx=\"2\"/>",
                      (long)i == highlight ? " base" : "", label,
                      y + (BARS_ROW - BARS_THICK) / 2.0, w, BARS_THICK);
      report_out_addf(o, "<text class=\"val\" x=\"%.1f\" y=\"%.1f\">",
                      label + w + 6, ty);
      report_out_html(o, texts[i]);
      report_out_adds(o, "</text>");
    } else {
      report_out_addf(o, "<text class=\"val\" x=\"%d\" y=\"%.1f\">", label + 6,
                      ty);
      report_out_adds(o, "no value</text>");
    }
    report_out_adds(o, "</g>\n");
  }
  report_out_addf(o,
                  "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
                  "y2=\"%d\"/>\n</svg></figure>\n",
                  label, BARS_PAD - 2, label, height - BARS_PAD + 2);
}

/* A bar chart of one numeric field of the variants, labelled with the
 * table's cells of that column, so chart and table read the same. */
static void variant_chart(const struct report *r, struct report_out *o,
                          const char *key, const char *caption)
{
  const json_t *rows = json_object_get(r->doc, "variants");
  const char **labels = calloc(r->nrows, sizeof(*labels));
  const char **texts = calloc(r->nrows, sizeof(*texts));
  double *values = calloc(r->nrows, sizeof(*values));
  int col = report_column_find(r, key);
  size_t i;

  if (labels == NULL || texts == NULL || values == NULL) {
    o->rc = SR_ENOMEM;
    goto out;
  }
  for (i = 0; i < r->nrows; i++) {
    const json_t *row = json_array_get(rows, i);
    const json_t *v = json_object_get(row, key);
    labels[i] = report_cell(r, i, 0);
    values[i] = json_is_number(v) ? json_number_value(v) : NAN;
    texts[i] = col >= 0 ? report_cell(r, i, (size_t)col) : "-";
  }
  svg_bars(o, caption, r->nrows, labels, values, texts, (long)r->baseline);
out:
  free(labels);
  free(texts);
  free(values);
}

static void html_charts(const struct report *r, struct report_out *o)
{
  static const struct {
    const char *key, *caption;
  } charts[] = {
      {"training_minutes", "Training time (minutes, from the training logs)"},
      {"mse", "MSE on the test data"},
      {"instance_seconds", "Cost (billable instance-seconds)"},
  };
  size_t k, drawn = 0;

  for (k = 0; k < sizeof(charts) / sizeof(*charts); k++) {
    if (report_column_find(r, charts[k].key) < 0)
      continue;
    if (drawn++ == 0)
      report_out_adds(o, "<section>\n<h2>Charts</h2>\n");
    variant_chart(r, o, charts[k].key, charts[k].caption);
  }
  if (drawn)
    report_out_adds(o, "<p class=\"note\">The baseline is drawn in "
                       "orange.</p>\n</section>\n");
}

static void number_text(const json_t *v, int digits, char *out, size_t len)
{
  if (json_is_integer(v))
    snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
  else if (json_is_number(v))
    report_format_g(json_number_value(v), digits, out, len);
  else
    snprintf(out, len, "-");
}

static void html_shares(struct report_out *o, const json_t *shares)
{
  size_t n = json_array_size(shares), shown = n, i;
  const char **labels, **texts;
  double *values, rest = 0;
  char(*text)[48];
  json_t *v;

  if (shown > REPORT_MAX_SHARES)
    shown = REPORT_MAX_SHARES;
  labels = calloc(shown, sizeof(*labels));
  texts = calloc(shown, sizeof(*texts));
  values = calloc(shown, sizeof(*values));
  text = calloc(shown, sizeof(*text));
  if (labels == NULL || texts == NULL || values == NULL || text == NULL) {
    o->rc = SR_ENOMEM;
    goto out;
  }
  json_array_foreach(shares, i, v)
  {
    const json_t *code = json_object_get(v, "code");
    const json_t *share = json_object_get(v, "share");
    char pct[32];
    if (i >= shown) {
      rest += json_number_value(share);
      continue;
    }
    labels[i] = json_is_string(code) ? json_string_value(code) : "?";
    values[i] = json_is_number(share) ? json_number_value(share) : NAN;
    report_format_g(100 * json_number_value(share), 3, pct, sizeof(pct));
    snprintf(text[i], sizeof(text[i]), "%s%% (%" JSON_INTEGER_FORMAT ")", pct,
             json_integer_value(json_object_get(v, "count")));
    texts[i] = text[i];
  }
  svg_bars(o, "Share of rows per EventCode", shown, labels, values, texts, -1);
  if (n > shown) {
    char pct[32];
    report_format_g(100 * rest, 3, pct, sizeof(pct));
    report_out_addf(o, "<p class=\"note\">%zu other codes: %s%% of rows.</p>\n",
                    n - shown, pct);
  }
out:
  free(labels);
  free(texts);
  free(values);
  free(text);
}

static void html_stats(struct report_out *o, const json_t *stats, int digits)
{
  static const char *const keys[] = {"count", "missing", "zeros", "mean",
                                     "std",   "min",     "p25",   "p50",
                                     "p75",   "max"};
  const char *column;
  json_t *v;
  size_t i;

  report_out_adds(o, "<h3>Column statistics</h3>\n<div class=\"scroll\">"
                     "<table>\n<thead><tr><th>column</th>");
  for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
    report_out_addf(o, "<th class=\"n\">%s</th>", keys[i]);
  report_out_adds(o, "</tr></thead>\n<tbody>\n");
  json_object_foreach((json_t *)stats, column, v)
  {
    report_out_adds(o, "<tr><td>");
    report_out_html(o, column);
    report_out_adds(o, "</td>");
    for (i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
      char text[48];
      number_text(json_object_get(v, keys[i]), digits, text, sizeof(text));
      report_out_addf(o, "<td class=\"n\">%s</td>", text);
    }
    report_out_adds(o, "</tr>\n");
  }
  report_out_adds(o, "</tbody></table></div>\n");
}

/* One histogram: counts as bars between the first and last edge. */
static void html_histogram(struct report_out *o, const char *column,
                           const json_t *h, const json_t *stats, int digits)
{
  const json_t *counts = json_object_get(h, "counts");
  const json_t *edges = json_object_get(h, "edges");
  size_t n = json_array_size(counts), i;
  double max = 0, bw, plot = HIST_WIDTH - 2 * HIST_LEFT;
  char lo[48], mid[48], hi[48], top[48];
  json_t *v;

  if (n == 0)
    return;
  json_array_foreach(counts, i, v)
  {
    if (json_number_value(v) > max)
      max = json_number_value(v);
  }
  bw = plot / (double)n;
  if (json_array_size(edges) != n + 1)
    edges = NULL;
  report_out_adds(o, "<figure><figcaption>");
  report_out_html(o, column);
  report_out_adds(o, "</figcaption>\n");
  report_out_addf(o,
                  "<svg viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
                  "role=\"img\" aria-label=\"histogram of ",
                  HIST_WIDTH, HIST_HEIGHT, HIST_WIDTH, HIST_HEIGHT);
  report_out_html(o, column);
  report_out_adds(o, "\">\n");
  snprintf(top, sizeof(top), "%.0f", max);
  report_out_addf(o,
                  "<text class=\"val\" x=\"%d\" y=\"%d\">max %s rows per "
                  "bin</text>\n",
                  HIST_LEFT, HIST_TOP - 8, top);
  json_array_foreach(counts, i, v)
  {
    double c = json_number_value(v);
    double bh = max > 0 ? c / max * (HIST_BOTTOM - HIST_TOP) : 0;
    double x = HIST_LEFT + (double)i * bw;
    char a[48], b[48];
    number_text(edges ? json_array_get(edges, i) : NULL, digits, a, sizeof(a));
    number_text(edges ? json_array_get(edges, i + 1) : NULL, digits, b,
                sizeof(b));
    report_out_addf(o,
                    "<rect class=\"hist\" x=\"%.2f\" y=\"%.2f\" "
                    "width=\"%.2f\" height=\"%.2f\"><title>%s to %s: %.0f"
                    "</title></rect>\n",
                    x, HIST_BOTTOM - bh, bw > 2 ? bw - 1 : bw, bh, a, b, c);
  }
  report_out_addf(o,
                  "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
                  "y2=\"%d\"/>\n",
                  HIST_LEFT, HIST_BOTTOM, HIST_WIDTH - HIST_LEFT, HIST_BOTTOM);
  if (edges) {
    number_text(json_array_get(edges, 0), digits, lo, sizeof(lo));
    number_text(json_array_get(edges, n / 2), digits, mid, sizeof(mid));
    number_text(json_array_get(edges, n), digits, hi, sizeof(hi));
    report_out_addf(o,
                    "<text x=\"%d\" y=\"%d\">%s</text>"
                    "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s"
                    "</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s"
                    "</text>\n",
                    HIST_LEFT, HIST_BOTTOM + 16, lo,
                    HIST_LEFT + (double)(n / 2) * bw, HIST_BOTTOM + 16, mid,
                    HIST_WIDTH - HIST_LEFT, HIST_BOTTOM + 16, hi);
  }
  if (json_is_object(stats)) {
    char mean[48], std[48];
    number_text(json_object_get(stats, "mean"), digits, mean, sizeof(mean));
    number_text(json_object_get(stats, "std"), digits, std, sizeof(std));
    report_out_addf(o,
                    "<text class=\"val\" x=\"%d\" y=\"%d\">mean %s, std %s, "
                    "%zu bins</text>\n",
                    HIST_LEFT, HIST_BOTTOM + 34, mean, std, n);
  }
  report_out_adds(o, "</svg></figure>\n");
}

static void html_profile(const struct report *r, struct report_out *o,
                         const json_t *profile)
{
  const json_t *shares = json_object_get(profile, "shares");
  const json_t *stats = json_object_get(profile, "stats");
  const json_t *hists = json_object_get(profile, "histograms");
  const json_t *events = json_object_get(profile, "events");
  const char *column;
  json_t *v;
  size_t i;

  report_out_adds(o, "<section>\n<h2>Data profile</h2>\n");
  if (json_is_integer(json_object_get(profile, "rows")))
    report_out_addf(o, "<p>Rows profiled: %" JSON_INTEGER_FORMAT ".</p>\n",
                    json_integer_value(json_object_get(profile, "rows")));
  if (json_array_size(events) > 0) {
    report_out_addf(o, "<p>EventCodes used (%zu): ", json_array_size(events));
    json_array_foreach(events, i, v)
    {
      report_out_adds(o, i ? ", " : "");
      report_out_html(o, json_is_string(v) ? json_string_value(v) : "?");
    }
    report_out_adds(o, ".</p>\n");
  }
  if (json_array_size(shares) > 0) {
    report_out_adds(o, "<h3>EventCode shares</h3>\n");
    html_shares(o, shares);
  }
  if (json_object_size(stats) > 0)
    html_stats(o, stats, r->precision);
  if (json_object_size(hists) > 0) {
    report_out_adds(o, "<h3>Histograms</h3>\n<div class=\"hists\">\n");
    json_object_foreach((json_t *)hists, column, v)
        html_histogram(o, column, v, json_object_get(stats, column), 3);
    report_out_adds(o, "</div>\n");
  }
  report_out_adds(o, "</section>\n");
}

void report_html_render(const struct report *r, struct report_out *o)
{
  const json_t *doc = r->doc;
  const char *title = json_string_value(json_object_get(doc, "title"));
  const char *desc = json_string_value(json_object_get(doc, "description"));
  const char *run = json_string_value(json_object_get(doc, "run_id"));
  const json_t *list;
  json_t *v;
  size_t i;

  report_out_adds(o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
                     "<meta charset=\"utf-8\">\n"
                     "<meta name=\"viewport\" content=\"width=device-width, "
                     "initial-scale=1\">\n"
                     "<meta http-equiv=\"Content-Security-Policy\" "
                     "content=\"default-src 'none'; style-src "
                     "'unsafe-inline'\">\n"
                     "<meta name=\"generator\" content=\"sagerun\">\n<title>");
  report_out_html(o, title);
  report_out_addf(o, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n",
                  css);
  report_out_adds(o, "<header>\n<h1>");
  report_out_html(o, title);
  report_out_adds(o, "</h1>\n<p class=\"meta\">");
  if (run) {
    report_out_adds(o, "Run ");
    report_out_html(o, run);
    report_out_adds(o, ", generated ");
  } else {
    report_out_adds(o, "Generated ");
  }
  report_out_html(o, json_string_value(json_object_get(doc, "generated_at")));
  report_out_adds(o, "</p>\n</header>\n");
  if (desc && *desc)
    html_paragraphs(o, desc);
  report_out_adds(o, "<section>\n<h2>Comparison</h2>\n");
  list = json_object_get(doc, "warnings");
  json_array_foreach(list, i, v)
  {
    report_out_adds(o, "<p class=\"warn\">Warning: ");
    report_out_html(o, json_string_value(v));
    report_out_adds(o, "</p>\n");
  }
  html_table(r, o);
  report_out_adds(o, "<p>Baseline: <strong>");
  report_out_html(o, json_string_value(json_object_get(
                         json_object_get(doc, "baseline"), "name")));
  report_out_adds(o, "</strong></p>\n");
  list = json_object_get(doc, "summary");
  if (json_array_size(list) > 0) {
    report_out_adds(o, "<ul class=\"summary\">\n");
    json_array_foreach(list, i, v)
    {
      report_out_adds(o, "<li>");
      report_out_html(o, json_string_value(v));
      report_out_adds(o, "</li>\n");
    }
    report_out_adds(o, "</ul>\n");
  }
  list = json_object_get(doc, "definitions");
  if (json_array_size(list) > 0) {
    report_out_adds(o, "<p class=\"note\">");
    json_array_foreach(list, i, v)
    {
      report_out_adds(o, i ? "; " : "");
      report_out_html(o, json_string_value(v));
    }
    report_out_adds(o, ".</p>\n");
  }
  report_out_adds(o, "</section>\n");
  html_charts(r, o);
  if (json_is_object(json_object_get(doc, "profile")))
    html_profile(r, o, json_object_get(doc, "profile"));
  report_out_adds(o, "<footer>Generated by sagerun. This page is "
                     "self-contained: no script, no network request; the "
                     "same data is in report.json.</footer>\n"
                     "</main>\n</body>\n</html>\n");
}
