/* The report step through the real scheduler: core.echo steps feed its
 * columns as the seed's fan-out does (a list per output, null where an
 * instance has no value), and the tests check the three files, the
 * numbers and ratios, escaping, baseline choice and plan mode. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../runner/buf.h"
#include "../runner/dag.h"
#include "../runner/exec.h"
#include "../runner/workflow.h"
#include "test.h"

struct logs {
  char text[32768];
};

static void on_event(void *data, const struct exec_event *ev)
{
  struct logs *l = data;
  size_t used = strlen(l->text);

  if (ev->kind != EXEC_EVENT_LOG || ev->text == NULL)
    return;
  snprintf(l->text + used, sizeof(l->text) - used, "%s\n", ev->text);
}

/* Loads, expands and runs text; returns exec_run's result. */
static int run_report(const char *text, int planning, struct exec_summary *s,
                      struct logs *l)
{
  struct diags diags;
  struct workflow *wf = NULL;
  struct dag *dag = NULL;
  struct exec_opts opts;
  uv_loop_t loop;
  int rc;

  diags_init(&diags);
  if (workflow_load_text("t.yaml", text, strlen(text), NULL, &wf, &diags) ||
      dag_expand(wf, &dag, &diags)) {
    diags_print(&diags, stdout, 0);
    ASSERT(0);
  }
  memset(&opts, 0, sizeof(opts));
  memset(l, 0, sizeof(*l));
  opts.run_id = "test-run";
  opts.planning = planning;
  opts.work_dir = test_tmpdir();
  opts.on_event = on_event;
  opts.event_data = l;
  ASSERT_EQ(0, uv_loop_init(&loop));
  rc = exec_run(&loop, dag, &opts, s);
  ASSERT_EQ(0, uv_loop_close(&loop));
  dag_free(dag);
  workflow_free(wf);
  diags_free(&diags);
  return rc;
}

static const char *out_str(const struct exec_summary *s, const char *step,
                           const char *key)
{
  return json_string_value(
      json_object_get(json_object_get(s->outputs, step), key));
}

static double list_num(const json_t *list, size_t i)
{
  return json_number_value(json_array_get(list, i));
}

#define ASSERT_NEAR(expected, actual)                                          \
  ASSERT(fabs((double)(expected) - (double)(actual)) < 1e-9)

static int file_exists(const char *path)
{
  struct stat st;

  return stat(path, &st) == 0;
}

/* The seed's shape: two variants, replicated 600 s and sharded 180 s. */
static const char two_variants[] =
    "name: t\n"
    "steps:\n"
    "  v:\n"
    "    uses: core.echo\n"
    "    with:\n"
    "      values:\n"
    "        name: [ShardedByS3Key-5-test-1a2b, FullyReplicated-5-test-3c4d]\n"
    "        instance_type: [ml.c4.2xlarge, ml.c4.2xlarge]\n"
    "        instance_count: [5, 5]\n"
    "        seconds: [180, 600]\n"
    "        billable: [190, 610]\n"
    "        mse: [0.52, 0.5]\n"
    "        mae: [0.41, 0.4]\n"
    "        r2: [0.1, 0.12]\n"
    "  report:\n"
    "    uses: report\n"
    "    with:\n"
    "      title: Distribution\n"
    "      variants:\n"
    "        name: \"${{ steps.v.outputs.name }}\"\n"
    "        instance_type: \"${{ steps.v.outputs.instance_type }}\"\n"
    "        instance_count: \"${{ steps.v.outputs.instance_count }}\"\n"
    "        training_seconds: \"${{ steps.v.outputs.seconds }}\"\n"
    "        billable_seconds: \"${{ steps.v.outputs.billable }}\"\n"
    "        mse: \"${{ steps.v.outputs.mse }}\"\n"
    "        mae: \"${{ steps.v.outputs.mae }}\"\n"
    "        r2: \"${{ steps.v.outputs.r2 }}\"\n"
    "      baseline: FullyReplicated\n"
    "      output_dir: \"%s\"\n";

TEST(report_table_files_and_ratios)
{
  struct exec_summary s;
  struct logs l;
  char text[4096], dir[1024];
  const json_t *out, *ratios;
  json_t *doc;
  json_error_t jerr;
  const char *table, *line;
  char *md;
  size_t width = 0;

  /* A nested directory that does not exist yet. */
  snprintf(dir, sizeof(dir), "%s/reports/run-1", test_tmpdir());
  snprintf(text, sizeof(text), two_variants, dir);
  ASSERT_EQ(0, run_report(text, 0, &s, &l));
  out = json_object_get(s.outputs, "report");
  /* Baseline by substring: the names carry a run suffix. */
  ASSERT_STR_EQ("FullyReplicated-5-test-3c4d",
                out_str(&s, "report", "baseline"));
  ratios = json_object_get(out, "ratios");
  ASSERT_NEAR(0.3, list_num(json_object_get(ratios, "training_seconds"), 0));
  ASSERT_NEAR(1, list_num(json_object_get(ratios, "training_seconds"), 1));
  ASSERT_NEAR(600.0 / 180, list_num(json_object_get(out, "speedup"), 0));
  ASSERT_NEAR(1.04, list_num(json_object_get(ratios, "mse"), 0));
  /* Cost: billable seconds are per instance, times 5 instances. */
  ASSERT_NEAR(950.0 / 3050,
              list_num(json_object_get(ratios, "instance_seconds"), 0));

  table = out_str(&s, "report", "table");
  ASSERT_CONTAINS(table, "variant");
  ASSERT_CONTAINS(table, "5 x ml.c4.2xlarge");
  ASSERT_CONTAINS(table, "3.33x");   /* speedup of the sharded variant */
  ASSERT_CONTAINS(table, "10.00");   /* 600 s in minutes */
  ASSERT_CONTAINS(table, " 3.00");   /* 180 s */
  ASSERT_CONTAINS(table, "3050");    /* 610 s x 5 */
  ASSERT_CONTAINS(table, " 950");    /* 190 s x 5 */
  ASSERT_CONTAINS(table, "+0.0200"); /* MSE difference */
  ASSERT_CONTAINS(table, "1.04x");   /* MSE ratio */
  ASSERT_CONTAINS(table, "0.311x");  /* cost ratio */
  ASSERT_CONTAINS(table, "R\xc2\xb2");
  /* Aligned: the last column is numeric, so every line is as wide. */
  for (line = table; *line;) {
    const char *end = strchr(line, '\n');
    size_t w = 0;
    const char *p;
    ASSERT(end != NULL);
    for (p = line; p < end; p++)
      w += ((unsigned char)*p & 0xc0) != 0x80;
    if (width == 0)
      width = w;
    ASSERT_EQ(width, w);
    line = end + 1;
  }
  /* The table went to the log, line by line, then the paths. */
  ASSERT_CONTAINS(l.text, "ShardedByS3Key-5-test-1a2b   5 x ml.c4.2xlarge");
  ASSERT_CONTAINS(l.text, "wrote ");

  /* The three files, where the outputs say. */
  ASSERT_CONTAINS(out_str(&s, "report", "markdown"), "/reports/run-1/");
  ASSERT(file_exists(out_str(&s, "report", "markdown")));
  ASSERT(file_exists(out_str(&s, "report", "json")));
  ASSERT(file_exists(out_str(&s, "report", "html")));
  md = test_read_file(out_str(&s, "report", "markdown"), NULL);
  ASSERT(md != NULL);
  ASSERT_CONTAINS(md, "# Distribution\n");
  ASSERT_CONTAINS(md, "| variant | instances | train min |");
  ASSERT_CONTAINS(md, "| 3.33x |");
  ASSERT_CONTAINS(md, "Baseline: **FullyReplicated-5-test-3c4d**");
  ASSERT_CONTAINS(md, "trains 3.33x faster");
  free(md);

  doc = json_load_file(out_str(&s, "report", "json"), 0, &jerr);
  ASSERT(doc != NULL);
  ASSERT_EQ(1, json_integer_value(
                   json_object_get(json_object_get(doc, "baseline"), "index")));
  ASSERT_NEAR(0.3, list_num(json_object_get(json_object_get(doc, "ratios"),
                                            "training_seconds"),
                            0));
  ASSERT_NEAR(
      0.02,
      list_num(json_object_get(json_object_get(doc, "differences"), "mse"), 0));
  ASSERT_EQ(3050, json_integer_value(json_object_get(
                      json_array_get(json_object_get(doc, "variants"), 1),
                      "instance_seconds")));
  ASSERT_NEAR(10, json_number_value(json_object_get(
                      json_array_get(json_object_get(doc, "variants"), 1),
                      "training_minutes")));
  ASSERT(json_is_true(json_object_get(
      json_array_get(json_object_get(doc, "variants"), 1), "is_baseline")));
  ASSERT_STR_EQ(table, json_string_value(json_object_get(doc, "table")));
  json_decref(doc);
  exec_summary_free(&s);
}

TEST(report_nulls_shown_and_skipped)
{
  struct exec_summary s;
  struct logs l;
  char text[4096];
  const json_t *out, *ratios;
  json_t *doc;
  const char *table;

  /* A fan-out whose middle instance has no timing and whose first has no
   * MSE: the lists the report gets carry null there. Baseline by index. */
  snprintf(text, sizeof(text),
           "name: t\n"
           "steps:\n"
           "  v:\n"
           "    uses: core.echo\n"
           "    for_each:\n"
           "      v:\n"
           "        - {name: a, seconds: 600}\n"
           "        - {name: b, mse: 0.5}\n"
           "        - {name: c, seconds: 200, mse: 0.4}\n"
           "    with: {values: \"${{ each.v }}\"}\n"
           "  report:\n"
           "    uses: report\n"
           "    with:\n"
           "      variants:\n"
           "        name: \"${{ steps.v.outputs.name }}\"\n"
           "        training_seconds: \"${{ steps.v.outputs.seconds }}\"\n"
           "        mse: \"${{ steps.v.outputs.mse }}\"\n"
           "      baseline: 2\n"
           "      output_dir: \"%s/n\"\n",
           test_tmpdir());
  ASSERT_EQ(0, run_report(text, 0, &s, &l));
  out = json_object_get(s.outputs, "report");
  ASSERT_STR_EQ("c", out_str(&s, "report", "baseline"));
  ratios = json_object_get(out, "ratios");
  ASSERT_NEAR(3, list_num(json_object_get(ratios, "training_seconds"), 0));
  ASSERT(json_is_null(
      json_array_get(json_object_get(ratios, "training_seconds"), 1)));
  ASSERT(json_is_null(json_array_get(json_object_get(ratios, "mse"), 0)));
  ASSERT_NEAR(1.25, list_num(json_object_get(ratios, "mse"), 1));
  ASSERT(json_is_null(json_array_get(json_object_get(out, "speedup"), 1)));
  ASSERT_NEAR(200.0 / 600, list_num(json_object_get(out, "speedup"), 0));
  /* b's row: a name, "-" for time and speedup, its MSE. */
  table = out_str(&s, "report", "table");
  ASSERT_CONTAINS(
      table, "\nb                -  0.5000        -      1.25x   +0.1000\n");
  doc = json_load_file(out_str(&s, "report", "json"), 0, NULL);
  ASSERT(doc != NULL);
  ASSERT(json_is_null(
      json_object_get(json_array_get(json_object_get(doc, "variants"), 1),
                      "training_seconds")));
  ASSERT(json_is_null(
      json_object_get(json_array_get(json_object_get(doc, "variants"), 1),
                      "training_minutes")));
  json_decref(doc);
  exec_summary_free(&s);
}

TEST(report_baseline_choice)
{
  struct exec_summary s;
  struct logs l;
  char text[4096];
  const char *d = test_tmpdir();

  /* Exact name beats substring; substring beats the default; no match
   * and an index out of range fall back to the first with a warning. */
  snprintf(text, sizeof(text),
           "name: t\n"
           "steps:\n"
           "  v:\n"
           "    uses: core.echo\n"
           "    with:\n"
           "      values:\n"
           "        name: [FullyReplicated-x, FullyReplicated, Sharded-y]\n"
           "        seconds: [100, 200, 50]\n"
           "  exact:\n"
           "    uses: report\n"
           "    with: {variants: {name: \"${{ steps.v.outputs.name }}\", "
           "training_seconds: \"${{ steps.v.outputs.seconds }}\"}, "
           "baseline: FullyReplicated, formats: [json], output_dir: "
           "\"%s/1\"}\n"
           "  substring:\n"
           "    uses: report\n"
           "    with: {variants: {name: \"${{ steps.v.outputs.name }}\"}, "
           "baseline: Shard, formats: [json], output_dir: \"%s/2\"}\n"
           "  nomatch:\n"
           "    uses: report\n"
           "    with: {variants: {name: \"${{ steps.v.outputs.name }}\"}, "
           "baseline: Replicated-z, formats: [md], output_dir: \"%s/3\"}\n"
           "  outofrange:\n"
           "    uses: report\n"
           "    with: {variants: {name: \"${{ steps.v.outputs.name }}\"}, "
           "baseline: 7, formats: [json], output_dir: \"%s/4\"}\n",
           d, d, d, d);
  ASSERT_EQ(0, run_report(text, 0, &s, &l));
  ASSERT_STR_EQ("FullyReplicated", out_str(&s, "exact", "baseline"));
  ASSERT_NEAR(2, list_num(json_object_get(json_object_get(s.outputs, "exact"),
                                          "speedup"),
                          0));
  ASSERT_STR_EQ("Sharded-y", out_str(&s, "substring", "baseline"));
  ASSERT_STR_EQ("FullyReplicated-x", out_str(&s, "nomatch", "baseline"));
  ASSERT_STR_EQ("FullyReplicated-x", out_str(&s, "outofrange", "baseline"));
  ASSERT_CONTAINS(l.text, "warning: baseline \"Replicated-z\" matches no "
                          "variant name; using the first, FullyReplicated-x");
  ASSERT_CONTAINS(l.text, "warning: baseline 7 is not a variant index");
  /* Only the formats asked for: the others are null and not written. */
  ASSERT(json_is_null(
      json_object_get(json_object_get(s.outputs, "exact"), "markdown")));
  ASSERT(json_is_null(
      json_object_get(json_object_get(s.outputs, "nomatch"), "json")));
  ASSERT(file_exists(out_str(&s, "exact", "json")));
  ASSERT(file_exists(out_str(&s, "nomatch", "markdown")));
  {
    char path[1024];
    snprintf(path, sizeof(path), "%s/1/report.html", d);
    ASSERT(!file_exists(path));
    snprintf(path, sizeof(path), "%s/3/report.json", d);
    ASSERT(!file_exists(path));
  }
  /* Without training_seconds there is no speedup. */
  ASSERT(json_is_null(
      json_object_get(json_object_get(s.outputs, "substring"), "speedup")));
  exec_summary_free(&s);
}

/* Balanced tags (void elements aside), no script element, no reference
 * to the network, and the injected name present as text. */
static const char html_check[] =
    "import sys, html.parser\n"
    "VOID = {'area','base','br','col','embed','hr','img','input','link',\n"
    "        'meta','source','track','wbr'}\n"
    "class P(html.parser.HTMLParser):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.stack, self.bad, self.scripts, self.data = [], [], 0, []\n"
    "    def handle_starttag(self, tag, attrs):\n"
    "        if tag == 'script': self.scripts += 1\n"
    "        for k, v in attrs:\n"
    "            if v and ('http:' in v or 'https:' in v or '//' in v):\n"
    "                self.bad.append('url ' + v)\n"
    "        if tag not in VOID: self.stack.append(tag)\n"
    "    def handle_endtag(self, tag):\n"
    "        if not self.stack or self.stack.pop() != tag:\n"
    "            self.bad.append('unbalanced ' + tag)\n"
    "    def handle_data(self, d): self.data.append(d)\n"
    "p = P()\n"
    "p.feed(sys.stdin.read())\n"
    "p.close()\n"
    "text = ''.join(p.data)\n"
    "if p.bad or p.stack or p.scripts: print(p.bad, p.stack, p.scripts); "
    "sys.exit(1)\n"
    "if \"<script>alert('x')</script> & co\" not in text: sys.exit(2)\n"
    "if 'Tone <b>' not in text: sys.exit(3)\n"
    "print('ok')\n";

TEST(report_html_escaped_and_well_formed)
{
  struct exec_summary s;
  struct logs l;
  struct buf wf;
  char *html, *md, *out = NULL, *err = NULL;
  const char *argv[] = {"/usr/bin/python3", "-c", html_check, NULL};
  const char *p;
  int i, svgs = 0, bins = 0;

  buf_init(&wf, 1 << 20);
  buf_addf(&wf,
           "name: t\n"
           "steps:\n"
           "  v:\n"
           "    uses: core.echo\n"
           "    with:\n"
           "      values:\n"
           "        name: [\"<script>alert('x')</script> & co\", plain]\n"
           "        seconds: [60, 120]\n"
           "        billable: [70, 130]\n"
           "        count: [2, 1]\n"
           "        mse: [1.5, 1.25]\n"
           "  report:\n"
           "    uses: report\n"
           "    with:\n"
           "      title: \"A \\\"quoted\\\" <title> & more\"\n"
           "      description: \"first <p> paragraph\\n\\nsecond one\"\n"
           "      variants:\n"
           "        name: \"${{ steps.v.outputs.name }}\"\n"
           "        training_seconds: \"${{ steps.v.outputs.seconds }}\"\n"
           "        billable_seconds: \"${{ steps.v.outputs.billable }}\"\n"
           "        instance_count: \"${{ steps.v.outputs.count }}\"\n"
           "        mse: \"${{ steps.v.outputs.mse }}\"\n"
           "      baseline: plain\n"
           "      output_dir: \"%s/h\"\n"
           "      profile:\n"
           "        events: [\"010\", \"042\"]\n"
           "        rows: 1000\n"
           "        shares:\n"
           "          - {code: \"010\", count: 700, share: 0.7}\n"
           "          - {code: \"042\", count: 300, share: 0.3}\n"
           "        stats:\n"
           "          \"Tone <b>\": {count: 1000, missing: 0, zeros: 1, "
           "mean: 0.5, std: 2, min: -10, p25: -1, p50: 0.4, p75: 2, "
           "max: 10}\n"
           "        histograms:\n",
           test_tmpdir());
  /* Two columns of 30 bins, as gdelt.profile gives them. */
  for (i = 0; i < 2; i++) {
    int k;
    buf_addf(&wf, "          \"%s\":\n            edges: [",
             i ? "NumArticles" : "Tone <b>");
    for (k = 0; k <= 30; k++)
      buf_addf(&wf, "%s%d", k ? ", " : "", k - 15);
    buf_adds(&wf, "]\n            counts: [");
    for (k = 0; k < 30; k++)
      buf_addf(&wf, "%s%d", k ? ", " : "", (k * 37) % 101);
    buf_adds(&wf, "]\n");
  }
  ASSERT_EQ(0, run_report(buf_str(&wf), 0, &s, &l));
  buf_free(&wf);

  html = test_read_file(out_str(&s, "report", "html"), NULL);
  ASSERT(html != NULL);
  ASSERT(strstr(html, "<script") == NULL);
  ASSERT_CONTAINS(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
                        "&amp; co");
  ASSERT_CONTAINS(html, "<title>A &quot;quoted&quot; &lt;title&gt; &amp; "
                        "more</title>");
  ASSERT_CONTAINS(html, "<p>first &lt;p&gt; paragraph</p>");
  ASSERT_CONTAINS(html, "<style>");
  /* Charts: time, MSE, cost, shares, and a histogram per column. */
  for (p = html; (p = strstr(p, "<svg ")) != NULL; p++)
    svgs++;
  ASSERT_EQ(6, svgs);
  for (p = html; (p = strstr(p, "class=\"hist\"")) != NULL; p++)
    bins++;
  ASSERT_EQ(60, bins);
  ASSERT_EQ(0, test_exec(argv, html, &out, &err));
  ASSERT_CONTAINS(out, "ok");
  free(out);
  free(err);
  free(html);

  /* Markdown escapes the same name. */
  md = test_read_file(out_str(&s, "report", "markdown"), NULL);
  ASSERT(md != NULL);
  ASSERT_CONTAINS(md, "\\<script\\>alert('x')\\</script\\> \\& co");
  ASSERT_CONTAINS(md, "| 010 | 700 | 70.0% |");
  free(md);
  exec_summary_free(&s);
}

TEST(report_plan_writes_nothing)
{
  struct exec_summary s;
  struct logs l;
  char text[4096], dir[1024], path[1100];
  struct stat st;

  snprintf(dir, sizeof(dir), "%s/plan/out", test_tmpdir());
  snprintf(text, sizeof(text), two_variants, dir);
  ASSERT_EQ(0, run_report(text, 1, &s, &l));
  snprintf(path, sizeof(path), "%s/report.md", dir);
  ASSERT_STR_EQ(path, out_str(&s, "report", "markdown"));
  snprintf(path, sizeof(path), "%s/report.html", dir);
  ASSERT_STR_EQ(path, out_str(&s, "report", "html"));
  ASSERT_STR_EQ("(known after the run)", out_str(&s, "report", "table"));
  ASSERT_STR_EQ("(known after the run)", out_str(&s, "report", "ratios"));
  ASSERT_STR_EQ("FullyReplicated-5-test-3c4d",
                out_str(&s, "report", "baseline"));
  snprintf(path, sizeof(path), "%s/plan", test_tmpdir());
  ASSERT(stat(path, &st) != 0 && errno == ENOENT);
  exec_summary_free(&s);
}

TEST(report_columns_must_agree)
{
  struct exec_summary s;
  struct logs l;
  char text[2048];

  snprintf(text, sizeof(text),
           "name: t\n"
           "steps:\n"
           "  report:\n"
           "    uses: report\n"
           "    with:\n"
           "      variants: {name: [a, b], mse: [0.5]}\n"
           "      output_dir: \"%s/bad\"\n",
           test_tmpdir());
  ASSERT_EQ(1, run_report(text, 0, &s, &l));
  ASSERT_CONTAINS(json_string_value(json_object_get(s.errors, "report")),
                  "variants.mse has 1 value for 2 variants");
  snprintf(text, sizeof(text), "%s/bad", test_tmpdir());
  ASSERT(!file_exists(text));
  exec_summary_free(&s);
}
