/* GDELT 1.0 events: lines to filtered rows to training files (gdelt.h). */
#include "gdelt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "error.h"
#include "recordio.h"

#define BLOCK_SIZE (1u << 20)  /* bytes read at a time */
#define LINE_CAP (1u << 20)    /* longer lines are malformed */
#define WRITE_FLUSH (1u << 20) /* output written in pieces of this */
#define ROWS_CAP ((size_t)1 << 40)
#define NO_EVENT 0xFFFFu
#define START_CAP (GDELT_MAX_COLUMNS + 2) /* field starts kept per line */

/* ---- Columns --------------------------------------------------------------
 * The historical header's names in order (gdelt-facts.md §1). Daily files
 * append SOURCEURL; GDELT 2.0 inserts an ADM2Code after each ADM1Code. */

static const char *const historical_columns[57] = {
    "GLOBALEVENTID",
    "SQLDATE",
    "MonthYear",
    "Year",
    "FractionDate",
    "Actor1Code",
    "Actor1Name",
    "Actor1CountryCode",
    "Actor1KnownGroupCode",
    "Actor1EthnicCode",
    "Actor1Religion1Code",
    "Actor1Religion2Code",
    "Actor1Type1Code",
    "Actor1Type2Code",
    "Actor1Type3Code",
    "Actor2Code",
    "Actor2Name",
    "Actor2CountryCode",
    "Actor2KnownGroupCode",
    "Actor2EthnicCode",
    "Actor2Religion1Code",
    "Actor2Religion2Code",
    "Actor2Type1Code",
    "Actor2Type2Code",
    "Actor2Type3Code",
    "IsRootEvent",
    "EventCode",
    "EventBaseCode",
    "EventRootCode",
    "QuadClass",
    "GoldsteinScale",
    "NumMentions",
    "NumSources",
    "NumArticles",
    "AvgTone",
    "Actor1Geo_Type",
    "Actor1Geo_FullName",
    "Actor1Geo_CountryCode",
    "Actor1Geo_ADM1Code",
    "Actor1Geo_Lat",
    "Actor1Geo_Long",
    "Actor1Geo_FeatureID",
    "Actor2Geo_Type",
    "Actor2Geo_FullName",
    "Actor2Geo_CountryCode",
    "Actor2Geo_ADM1Code",
    "Actor2Geo_Lat",
    "Actor2Geo_Long",
    "Actor2Geo_FeatureID",
    "ActionGeo_Type",
    "ActionGeo_FullName",
    "ActionGeo_CountryCode",
    "ActionGeo_ADM1Code",
    "ActionGeo_Lat",
    "ActionGeo_Long",
    "ActionGeo_FeatureID",
    "DATEADDED",
};

#define COL_EVENTCODE 26 /* the same in every layout */

static const char *const v2_adm2[3] = {
    "Actor1Geo_ADM2Code", "Actor2Geo_ADM2Code", "ActionGeo_ADM2Code"};

size_t gdelt_layout_columns(enum gdelt_layout l)
{
  switch (l) {
  case GDELT_LAYOUT_HISTORICAL:
    return 57;
  case GDELT_LAYOUT_DAILY:
    return 58;
  case GDELT_LAYOUT_V2:
    return 61;
  default:
    return 0;
  }
}

enum gdelt_layout gdelt_layout_of(size_t ncolumns)
{
  switch (ncolumns) {
  case 57:
    return GDELT_LAYOUT_HISTORICAL;
  case 58:
    return GDELT_LAYOUT_DAILY;
  case 61:
    return GDELT_LAYOUT_V2;
  default:
    return GDELT_LAYOUT_AUTO;
  }
}

static const char *const layout_names[] = {"auto", "historical", "daily", "v2"};

const char *gdelt_layout_name(enum gdelt_layout l)
{
  return (unsigned)l < 4 ? layout_names[l] : "?";
}

int gdelt_layout_parse(const char *name, enum gdelt_layout *out)
{
  unsigned i;

  for (i = 0; i < 4; i++) {
    if (strcmp(name, layout_names[i]) == 0) {
      *out = (enum gdelt_layout)i;
      return 0;
    }
  }
  return SR_EINVAL;
}

const char *gdelt_column_name(enum gdelt_layout l, size_t index)
{
  /* In v2, historical columns 39.., 46.., 53.. move one further right
   * per ADM2Code inserted before them. */
  static const size_t adm1[3] = {38, 45, 52};
  size_t k, shift = 0;

  if (l == GDELT_LAYOUT_HISTORICAL || l == GDELT_LAYOUT_DAILY) {
    if (index < 57)
      return historical_columns[index];
    return l == GDELT_LAYOUT_DAILY && index == 57 ? "SOURCEURL" : NULL;
  }
  if (l != GDELT_LAYOUT_V2 || index >= 61)
    return NULL;
  if (index == 60)
    return "SOURCEURL";
  for (k = 0; k < 3; k++) {
    if (index == adm1[k] + shift + 1)
      return v2_adm2[k];
    if (index > adm1[k] + shift)
      shift++;
  }
  return historical_columns[index - shift];
}

int gdelt_column_index(enum gdelt_layout l, const char *name)
{
  size_t i, n = gdelt_layout_columns(l);

  for (i = 0; i < n; i++)
    if (strcmp(gdelt_column_name(l, i), name) == 0)
      return (int)i;
  return -1;
}

/* ---- Code tables ----------------------------------------------------------
 * EventCodes are short digit strings; rows per code (counts) and code to
 * event index (the spec) both live in this open-addressing table. */

struct gdelt_code_slot {
  char key[GDELT_CODE_MAX + 1]; /* "" = empty slot */
  uint64_t value;
};

static uint32_t code_hash(const char *s, size_t len)
{
  uint32_t h = 2166136261u; /* FNV-1a */
  size_t i;

  for (i = 0; i < len; i++)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static void codes_free(struct gdelt_codes *c)
{
  free(c->priv_slots);
  memset(c, 0, sizeof(*c));
}

/* The slot for key (len 1..GDELT_CODE_MAX), found or empty. */
static struct gdelt_code_slot *codes_slot(const struct gdelt_codes *c,
                                          const char *key, size_t len)
{
  size_t mask = c->priv_cap - 1, i = code_hash(key, len) & mask;

  for (;;) {
    struct gdelt_code_slot *s = &c->priv_slots[i];
    if (s->key[0] == '\0' ||
        (s->key[len] == '\0' && memcmp(s->key, key, len) == 0))
      return s;
    i = (i + 1) & mask;
  }
}

static int codes_grow(struct gdelt_codes *c)
{
  struct gdelt_codes bigger;
  size_t i;

  bigger.priv_cap = c->priv_cap ? c->priv_cap * 2 : 64;
  bigger.count = 0;
  bigger.priv_slots = calloc(bigger.priv_cap, sizeof(*bigger.priv_slots));
  if (bigger.priv_slots == NULL)
    return SR_ENOMEM;
  for (i = 0; i < c->priv_cap; i++) {
    struct gdelt_code_slot *s = &c->priv_slots[i];
    if (s->key[0]) {
      *codes_slot(&bigger, s->key, strlen(s->key)) = *s;
      bigger.count++;
    }
  }
  free(c->priv_slots);
  *c = bigger;
  return 0;
}

/* Adds delta to key's value (creating it at 0). */
static int codes_add(struct gdelt_codes *c, const char *key, size_t len,
                     uint64_t delta)
{
  struct gdelt_code_slot *s;
  int rc;

  if (c->priv_cap == 0 || (c->count + 1) * 4 > c->priv_cap * 3) {
    rc = codes_grow(c);
    if (rc)
      return rc;
  }
  s = codes_slot(c, key, len);
  if (s->key[0] == '\0') {
    memcpy(s->key, key, len);
    s->key[len] = '\0';
    c->count++;
  }
  s->value += delta;
  return 0;
}

static const struct gdelt_code_slot *codes_find(const struct gdelt_codes *c,
                                                const char *key, size_t len)
{
  const struct gdelt_code_slot *s;

  if (c->priv_cap == 0 || len == 0 || len > GDELT_CODE_MAX)
    return NULL;
  s = codes_slot(c, key, len);
  return s->key[0] ? s : NULL;
}

uint64_t gdelt_codes_get(const struct gdelt_codes *c, const char *code)
{
  const struct gdelt_code_slot *s = codes_find(c, code, strlen(code));

  return s ? s->value : 0;
}

/* Under seed_compat an all-digit code is an integer, as pandas reads it:
 * leading zeros go ("042" -> "42", "000" -> "0"). */
static void code_normalize(int compat, const char **s, size_t *len)
{
  size_t i;

  if (!compat)
    return;
  for (i = 0; i < *len; i++)
    if ((*s)[i] < '0' || (*s)[i] > '9')
      return;
  while (*len > 1 && (*s)[0] == '0') {
    (*s)++;
    (*len)--;
  }
}

static int code_cmp(const char *a, const char *b, int numeric)
{
  size_t la = strlen(a), lb = strlen(b);

  /* All-digit codes without leading zeros compare as numbers by length
   * first. */
  if (numeric && la != lb && strspn(a, "0123456789") == la &&
      strspn(b, "0123456789") == lb)
    return la < lb ? -1 : 1;
  return strcmp(a, b);
}

static int count_cmp_numeric(const void *pa, const void *pb)
{
  const struct gdelt_code_count *a = pa, *b = pb;

  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return code_cmp(a->code, b->code, 1);
}

static int count_cmp_text(const void *pa, const void *pb)
{
  const struct gdelt_code_count *a = pa, *b = pb;

  if (a->count != b->count)
    return a->count > b->count ? -1 : 1;
  return strcmp(a->code, b->code);
}

int gdelt_codes_sorted(const struct gdelt_codes *c, int numeric,
                       struct gdelt_code_count **out, size_t *n)
{
  struct gdelt_code_count *v;
  size_t i, k = 0;

  *out = NULL;
  *n = 0;
  v = calloc(c->count ? c->count : 1, sizeof(*v));
  if (v == NULL)
    return SR_ENOMEM;
  for (i = 0; i < c->priv_cap; i++) {
    const struct gdelt_code_slot *s = &c->priv_slots[i];
    if (s->key[0] == '\0')
      continue;
    memcpy(v[k].code, s->key, sizeof(v[k].code));
    v[k].count = s->value;
    k++;
  }
  qsort(v, k, sizeof(*v), numeric ? count_cmp_numeric : count_cmp_text);
  *out = v;
  *n = k;
  return 0;
}

/* ---- Spec ---------------------------------------------------------------- */

static int resolve_column(const char *name, int idx[3], char *err,
                          size_t errlen)
{
  int l;

  for (l = 0; l < 3; l++) {
    idx[l] = gdelt_column_index((enum gdelt_layout)(l + 1), name);
    if (idx[l] < 0) {
      snprintf(err, errlen, "unknown GDELT column \"%s\"", name);
      return SR_EINVAL;
    }
  }
  return 0;
}

int gdelt_spec_compile(struct gdelt_spec *s, char *err, size_t errlen)
{
  static const char *const geo[4] = {"Actor1Geo_Lat", "Actor1Geo_Long",
                                     "Actor2Geo_Lat", "Actor2Geo_Long"};
  struct gdelt_codes *events = NULL;
  int idx[3], rc = SR_EINVAL;
  size_t i, l;

  s->priv_index = NULL;
  s->priv_want = START_CAP;
  if (s->nfeatures > GDELT_MAX_FEATURES || s->nprofile > GDELT_MAX_PROFILE ||
      s->nevents > GDELT_MAX_EVENTS) {
    snprintf(err, errlen, "too many features, profiled columns or events");
    return SR_EINVAL;
  }
  for (i = 0; i < 4; i++) {
    if (resolve_column(geo[i], idx, err, errlen))
      return SR_EINVAL;
    for (l = 0; l < 3; l++)
      s->priv_geo[l][i] = idx[l];
  }
  if (s->label) {
    if (resolve_column(s->label, s->priv_label, err, errlen))
      return SR_EINVAL;
  }
  for (i = 0; i < s->nfeatures; i++) {
    if (resolve_column(s->features[i], idx, err, errlen))
      return SR_EINVAL;
    for (l = 0; l < 3; l++)
      s->priv_features[l][i] = idx[l];
  }
  for (i = 0; i < s->nprofile; i++) {
    if (resolve_column(s->profile[i], idx, err, errlen))
      return SR_EINVAL;
    for (l = 0; l < 3; l++)
      s->priv_profile[l][i] = idx[l];
  }
  /* The last column a scan reads (its index is largest in v2, which
   * only inserts columns): lines are split that far, then counted. */
  {
    int last = COL_EVENTCODE;
    for (i = 0; i < 4; i++)
      if (s->drop_zero_geo && s->priv_geo[2][i] > last)
        last = s->priv_geo[2][i];
    if (s->label && s->priv_label[2] > last)
      last = s->priv_label[2];
    for (i = 0; i < s->nfeatures; i++)
      if (s->priv_features[2][i] > last)
        last = s->priv_features[2][i];
    for (i = 0; i < s->nprofile; i++)
      if (s->priv_profile[2][i] > last)
        last = s->priv_profile[2][i];
    /* start[last + 1] ends field last. */
    s->priv_want = (size_t)last + 2;
  }
  if (s->nevents == 0)
    return 0;
  events = calloc(1, sizeof(*events));
  if (events == NULL)
    return SR_ENOMEM;
  for (i = 0; i < s->nevents; i++) {
    const char *code = s->events[i];
    size_t len = strlen(code);
    code_normalize(s->seed_compat, &code, &len);
    if (len == 0 || len > GDELT_CODE_MAX) {
      snprintf(err, errlen, "event code \"%s\" is empty or too long",
               s->events[i]);
      goto out;
    }
    if (codes_find(events, code, len)) {
      snprintf(err, errlen, "event code \"%s\" is listed twice", s->events[i]);
      goto out;
    }
    rc = codes_add(events, code, len, i);
    if (rc)
      goto out;
    rc = SR_EINVAL;
  }
  s->priv_index = (struct gdelt_code_index *)events;
  return 0;
out:
  codes_free(events);
  free(events);
  return rc;
}

void gdelt_spec_free(struct gdelt_spec *s)
{
  struct gdelt_codes *events = (struct gdelt_codes *)s->priv_index;

  if (events) {
    codes_free(events);
    free(events);
  }
  s->priv_index = NULL;
}

/* ---- Numbers ------------------------------------------------------------- */

enum num_status { NUM_OK = 0, NUM_BLANK, NUM_BAD };

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A decimal number filling s[0..len): [+-]digits[.digits][e[+-]digits].
 * Correctly rounded: exact integer mantissas below 2^53 with powers of ten
 * up to 22 take Clinger's fast path, anything else strtod (C locale). */
static enum num_status parse_number(const char *s, size_t len, double *out)
{
  uint64_t mant = 0;
  int neg = 0, digits = 0, sig = 0, exp10 = 0, eneg = 0, eval = 0;
  size_t i = 0, edigits;
  char tmp[128];
  char *endp;

  if (len == 0)
    return NUM_BLANK;
  if (s[0] == '+' || s[0] == '-') {
    neg = s[0] == '-';
    i++;
  }
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
    if (sig < 19) {
      mant = mant * 10 + (uint64_t)(s[i] - '0');
      if (mant)
        sig++;
    } else {
      exp10++;
      sig++;
    }
  }
  if (i < len && s[i] == '.') {
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
      if (sig < 19) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        exp10--;
        if (mant)
          sig++;
      } else {
        sig++;
      }
    }
  }
  if (digits == 0)
    return NUM_BAD;
  if (i < len && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
      eneg = s[i] == '-';
      i++;
    }
    for (edigits = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++, edigits++)
      if (eval < 100000)
        eval = eval * 10 + (s[i] - '0');
    if (edigits == 0)
      return NUM_BAD;
    exp10 += eneg ? -eval : eval;
  }
  if (i != len)
    return NUM_BAD;
  if (sig <= 19 && mant < ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
    double v = (double)mant;
    v = exp10 < 0 ? v / pow10_exact[-exp10] : v * pow10_exact[exp10];
    *out = neg ? -v : v;
    return NUM_OK;
  }
  if (len >= sizeof(tmp)) {
    /* Only absurd lengths get here (the syntax is already checked):
     * strtod on a copy of the significant prefix would change the
     * value, so read it in place after copying to the heap. */
    char *heap = malloc(len + 1);
    if (heap == NULL)
      return NUM_BAD;
    memcpy(heap, s, len);
    heap[len] = '\0';
    *out = strtod(heap, &endp);
    free(heap);
  } else {
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *out = strtod(tmp, &endp);
  }
  /* 1e999 is a number to strtod, not to a training set. */
  return isfinite(*out) ? NUM_OK : NUM_BAD;
}

/* ---- Scanning lines ------------------------------------------------------ */

void gdelt_scan_init(struct gdelt_scan *sc, const struct gdelt_spec *s,
                     int first)
{
  size_t i;

  memset(sc, 0, sizeof(*sc));
  sc->header_pending = s->seed_compat && first;
  buf_init(&sc->rows, ROWS_CAP);
  buf_init(&sc->row_events, ROWS_CAP);
  for (i = 0; i < GDELT_MAX_PROFILE; i++)
    buf_init(&sc->profile[i], ROWS_CAP);
}

void gdelt_scan_free(struct gdelt_scan *sc)
{
  size_t i;

  codes_free(&sc->codes);
  buf_free(&sc->rows);
  buf_free(&sc->row_events);
  for (i = 0; i < GDELT_MAX_PROFILE; i++)
    buf_free(&sc->profile[i]);
}

/* One line's fields, parsed lazily and at most once each. */
struct fields {
  const char *line;
  uint32_t start[GDELT_MAX_COLUMNS + 2]; /* START_CAP */
  size_t n, len;
  uint64_t parsed; /* bit per column */
  double value[GDELT_MAX_COLUMNS];
  unsigned char status[GDELT_MAX_COLUMNS];
};

static void field_text(const struct fields *f, int col, const char **s,
                       size_t *len)
{
  size_t b = f->start[col];
  size_t e = (size_t)col + 1 < f->n ? f->start[col + 1] - 1 : f->len;

  *s = f->line + b;
  *len = e - b;
}

static enum num_status field_number(struct fields *f, int col, double *v)
{
  const char *s;
  size_t len;

  if (!(f->parsed & ((uint64_t)1 << col))) {
    field_text(f, col, &s, &len);
    f->status[col] = (unsigned char)parse_number(s, len, &f->value[col]);
    f->parsed |= (uint64_t)1 << col;
  }
  *v = f->value[col];
  return (enum num_status)f->status[col];
}

static void scan_fail(struct gdelt_scan *sc, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void scan_fail(struct gdelt_scan *sc, int rc, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(sc->error_text, sizeof(sc->error_text), fmt, ap);
  va_end(ap);
  sc->error_line = sc->lines;
  sc->error = rc;
}

static int scan_malformed(const struct gdelt_spec *s, struct gdelt_scan *sc,
                          size_t ncolumns)
{
  sc->malformed++;
  if (sc->nmalformed_lines < GDELT_MALFORMED_KEEP)
    sc->malformed_lines[sc->nmalformed_lines++] = sc->lines;
  if (!s->strict)
    return 0;
  if (s->layout == GDELT_LAYOUT_AUTO)
    scan_fail(sc, SR_EPARSE, "%zu columns; GDELT lines have 57, 58 or 61",
              ncolumns);
  else
    scan_fail(sc, SR_EPARSE, "%zu columns; the %s layout has %zu", ncolumns,
              gdelt_layout_name(s->layout), gdelt_layout_columns(s->layout));
  return sc->error;
}

/* A value of a used column under the missing policy: 0 with *v set, 1
 * when the row is dropped, or the scan's error. */
static int resolve_value(const struct gdelt_spec *s, struct gdelt_scan *sc,
                         struct fields *f, int col, int layout, double *v)
{
  enum num_status st = field_number(f, col, v);
  const char *text;
  size_t len, i;
  char shown[24];

  if (st == NUM_OK)
    return 0;
  if (s->seed_compat) {
    *v = NAN;
    return 0;
  }
  if (s->missing == GDELT_MISSING_ZERO) {
    *v = 0;
    return 0;
  }
  if (s->missing == GDELT_MISSING_DROP)
    return 1;
  if (st == NUM_BLANK) {
    scan_fail(sc, SR_EINVAL, "blank %s",
              gdelt_column_name((enum gdelt_layout)layout, (size_t)col));
    return sc->error;
  }
  field_text(f, col, &text, &len);
  for (i = 0; i < len && i + 4 < sizeof(shown); i++)
    shown[i] = text[i] >= 0x20 && text[i] < 0x7f ? text[i] : '?';
  if (i < len) {
    memcpy(shown + i, "...", 3);
    i += 3;
  }
  shown[i] = '\0';
  scan_fail(sc, SR_EINVAL, "%s is not a number: \"%s\"",
            gdelt_column_name((enum gdelt_layout)layout, (size_t)col), shown);
  return sc->error;
}

/* Whether a geo pair marks an unknown place: both 0, or (outside
 * seed_compat) both blank as daily files write it. */
static int geo_unknown(const struct gdelt_spec *s, struct fields *f,
                       int lat_col, int long_col)
{
  double lat, lon;
  enum num_status a = field_number(f, lat_col, &lat);
  enum num_status b = field_number(f, long_col, &lon);

  if (a == NUM_OK && b == NUM_OK)
    return lat == 0 && lon == 0;
  if (s->seed_compat)
    return 0;
  if (a == NUM_BLANK && b == NUM_BLANK)
    return 1;
  if (s->missing != GDELT_MISSING_ZERO)
    return 0;
  /* missing: zero turns the unreadable half into 0 first. */
  return (a != NUM_OK || lat == 0) && (b != NUM_OK || lon == 0);
}

/* A bit per byte of p[0..64): set where the byte is a tab. SSE2 compares
 * 16 bytes at once; elsewhere eight bytes go through a word (SWAR) and
 * their flags are gathered by a multiply. */
#if defined(__SSE2__)
static uint64_t tab_bits64(const char *p)
{
  const __m128i tab = _mm_set1_epi8('\t');
  uint64_t bits = 0;
  int k;

  for (k = 0; k < 4; k++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
    bits |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, tab))
            << (16 * k);
  }
  return bits;
}
#elif defined(__GNUC__) && defined(__BYTE_ORDER__) &&                          \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static uint64_t tab_bits64(const char *p)
{
  const uint64_t ones = 0x0101010101010101ull;
  const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
  uint64_t bits = 0;
  int k;

  for (k = 0; k < 8; k++) {
    uint64_t w, x, zero;
    memcpy(&w, p + 8 * k, 8);
    /* A byte of x is 0 exactly where w has a tab; zero gets its high bit
     * there, with no carry between bytes. */
    x = w ^ (ones * '\t');
    zero = ~(((x & low7) + low7) | x) & ~low7;
    bits |= (((zero >> 7) * 0x0102040810204080ull) >> 56) << (8 * k);
  }
  return bits;
}
#else
static uint64_t tab_bits64(const char *p)
{
  uint64_t bits = 0;
  int k;

  for (k = 0; k < 64; k++)
    bits |= (uint64_t)(p[k] == '\t') << k;
  return bits;
}
#endif

#if defined(__GNUC__)
#define LOWEST_BIT(x) ((size_t)__builtin_ctzll(x))
#else
static size_t lowest_bit(uint64_t x)
{
  size_t n = 0;

  while (!(x & 1)) {
    x >>= 1;
    n++;
  }
  return n;
}
#define LOWEST_BIT(x) lowest_bit(x)
#endif

static size_t popcount64(uint64_t x)
{
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return (size_t)((x * 0x0101010101010101ull) >> 56);
}

/* Splits a line at its tabs: start[k] is where field k begins, for the
 * first `want` fields at least (want <= START_CAP); returns the number of
 * fields, all of them counted. This is the hot loop of every scan: 64
 * bytes at a time become a bit mask of their tabs whose set bits are
 * walked (no branch per byte, no dependency from byte to byte) until the
 * fields a scan uses are found; after that tabs are only counted. The
 * last bytes are copied into a zeroed block (zeros are not tabs). */
static size_t split_tabs(const char *line, size_t len, uint32_t *start,
                         size_t want)
{
  char tail[64];
  size_t n = 1, i;
  uint64_t bits;

  start[0] = 0;
  for (i = 0; i < len; i += 64) {
    if (len - i >= 64) {
      bits = tab_bits64(line + i);
    } else {
      memset(tail, 0, sizeof(tail));
      memcpy(tail, line + i, len - i);
      bits = tab_bits64(tail);
    }
    if (n >= want) {
      n += popcount64(bits);
      continue;
    }
    for (; bits; bits &= bits - 1, n++)
      if (n < START_CAP)
        start[n] = (uint32_t)(i + LOWEST_BIT(bits) + 1);
  }
  return n;
}

int gdelt_scan_line(const struct gdelt_spec *s, struct gdelt_scan *sc,
                    const char *line, size_t len)
{
  const struct gdelt_codes *events = (const void *)s->priv_index;
  struct fields f;
  float row[1 + GDELT_MAX_FEATURES];
  uint16_t event = NO_EVENT;
  enum gdelt_layout layout;
  const char *code;
  size_t i, n, code_len;
  double v;
  int L, rc;

  if (sc->error)
    return sc->error;
  if (s->max_rows && sc->rows_read >= s->max_rows)
    return 1;
  sc->lines++;
  if (len > 0 && line[len - 1] == '\r')
    len--;
  if (sc->header_pending) {
    sc->header_pending = 0;
    return 0;
  }
  if (len == 0) {
    sc->blank++;
    return 0;
  }
  sc->rows_read++;
  if (len > UINT32_MAX)
    return scan_malformed(s, sc, 0);
  f.line = line;
  f.len = len;
  n = split_tabs(line, len, f.start, s->priv_want);
  f.n = n;
  f.parsed = 0;
  layout = gdelt_layout_of(n);
  if (layout == GDELT_LAYOUT_AUTO ||
      (s->layout != GDELT_LAYOUT_AUTO && layout != s->layout))
    return scan_malformed(s, sc, n);
  L = (int)layout - 1;
  sc->by_layout[L]++;

  field_text(&f, COL_EVENTCODE, &code, &code_len);
  code_normalize(s->seed_compat, &code, &code_len);
  if (events) {
    const struct gdelt_code_slot *slot = codes_find(events, code, code_len);
    if (slot == NULL) {
      sc->dropped_event++;
      return 0;
    }
    event = (uint16_t)slot->value;
  }
  /* Blank codes are not counted, as pandas' crosstab leaves NaN out. */
  if (s->count_codes && code_len > 0 && code_len <= GDELT_CODE_MAX) {
    rc = codes_add(&sc->codes, code, code_len, 1);
    if (rc) {
      scan_fail(sc, rc, "out of memory");
      return rc;
    }
  }
  for (i = 0; i < s->nprofile; i++) {
    if (field_number(&f, s->priv_profile[L][i], &v) == NUM_OK) {
      rc = buf_add(&sc->profile[i], &v, sizeof(v));
      if (rc) {
        scan_fail(sc, rc, "out of memory");
        return rc;
      }
    } else {
      sc->profile_missing[i]++;
    }
  }
  if (s->label == NULL) {
    sc->kept++;
    return 0;
  }
  if (s->drop_zero_geo &&
      (geo_unknown(s, &f, s->priv_geo[L][0], s->priv_geo[L][1]) ||
       geo_unknown(s, &f, s->priv_geo[L][2], s->priv_geo[L][3]))) {
    sc->dropped_zero_geo++;
    return 0;
  }
  if (s->drop_zero_geo) {
    for (i = 0; i < 4; i++) {
      rc = resolve_value(s, sc, &f, s->priv_geo[L][i], (int)layout, &v);
      if (rc)
        goto missing;
    }
  }
  rc = resolve_value(s, sc, &f, s->priv_label[L], (int)layout, &v);
  if (rc)
    goto missing;
  row[0] = (float)v;
  for (i = 0; i < s->nfeatures; i++) {
    rc = resolve_value(s, sc, &f, s->priv_features[L][i], (int)layout, &v);
    if (rc)
      goto missing;
    row[1 + i] = (float)v;
  }
  rc = buf_add(&sc->rows, row, (1 + s->nfeatures) * sizeof(float));
  if (rc == 0)
    rc = buf_add(&sc->row_events, &event, sizeof(event));
  if (rc) {
    scan_fail(sc, rc, "out of memory");
    return rc;
  }
  sc->kept++;
  return 0;

missing:
  if (rc < 0)
    return rc;
  sc->dropped_missing++;
  return 0;
}

int gdelt_scan_merge(struct gdelt_scan *dst, struct gdelt_scan *src)
{
  size_t i;
  int rc = 0;

  if (dst->error == 0 && src->error) {
    memcpy(dst->error_text, src->error_text, sizeof(dst->error_text));
    dst->error_line = src->error_line + dst->lines;
    dst->error = src->error;
  }
  for (i = 0; i < src->nmalformed_lines &&
              dst->nmalformed_lines < GDELT_MALFORMED_KEEP;
       i++)
    dst->malformed_lines[dst->nmalformed_lines++] =
        src->malformed_lines[i] + dst->lines;
  dst->lines += src->lines;
  dst->blank += src->blank;
  dst->rows_read += src->rows_read;
  dst->malformed += src->malformed;
  dst->dropped_event += src->dropped_event;
  dst->dropped_zero_geo += src->dropped_zero_geo;
  dst->dropped_missing += src->dropped_missing;
  dst->kept += src->kept;
  for (i = 0; i < 3; i++)
    dst->by_layout[i] += src->by_layout[i];
  for (i = 0; rc == 0 && i < src->codes.priv_cap; i++) {
    const struct gdelt_code_slot *s = &src->codes.priv_slots[i];
    if (s->key[0])
      rc = codes_add(&dst->codes, s->key, strlen(s->key), s->value);
  }
  if (rc == 0)
    rc = buf_add(&dst->rows, buf_str(&src->rows), buf_len(&src->rows));
  if (rc == 0)
    rc = buf_add(&dst->row_events, buf_str(&src->row_events),
                 buf_len(&src->row_events));
  for (i = 0; rc == 0 && i < GDELT_MAX_PROFILE; i++) {
    rc = buf_add(&dst->profile[i], buf_str(&src->profile[i]),
                 buf_len(&src->profile[i]));
    dst->profile_missing[i] += src->profile_missing[i];
  }
  gdelt_scan_free(src);
  return rc;
}

/* ---- Sources ------------------------------------------------------------- */

enum source_kind { SOURCE_PLAIN, SOURCE_GZIP, SOURCE_ZIP };

struct gdelt_source {
  int fd;
  enum source_kind kind;
  uint64_t size;
  /* Compressed: input position and end, the inflater, the CRC. */
  uint64_t in_pos, in_end;
  z_stream z;
  int z_live, z_done;
  int zip_method; /* 0 stored, 8 deflate */
  uint32_t zip_crc, crc;
  unsigned char in[1u << 16];
};

static uint32_t le16(const unsigned char *p)
{
  return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t le32(const unsigned char *p)
{
  return le16(p) | le16(p + 2) << 16;
}

static int pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
  size_t have = 0;
  ssize_t n;

  while (have < len) {
    n = pread(fd, (char *)buf + have, len - have, (off_t)(off + have));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SR_EIO;
    if (n == 0)
      break;
    have += (size_t)n;
  }
  *got = have;
  return 0;
}

/* Finds the archive's first file: its data offset, method, sizes and
 * CRC, from the central directory (local headers may defer sizes to a
 * data descriptor). */
static int zip_locate(struct gdelt_source *src, char *err, size_t errlen)
{
  unsigned char tail[65536 + 22], h[46], lh[30];
  size_t got, tail_len, i, entries, k;
  uint64_t tail_off, cd_off, cd_size, csize, local;
  uint32_t name_len, extra_len, comment_len, flags;
  int found = 0;

  tail_len = src->size < sizeof(tail) ? (size_t)src->size : sizeof(tail);
  tail_off = src->size - tail_len;
  if (pread_full(src->fd, tail, tail_len, tail_off, &got) || got != tail_len)
    goto bad;
  for (i = tail_len >= 22 ? tail_len - 22 + 1 : 0; i-- > 0;) {
    if (le32(tail + i) == 0x06054b50u) {
      found = 1;
      break;
    }
  }
  if (!found)
    goto bad;
  entries = le16(tail + i + 10);
  cd_size = le32(tail + i + 12);
  cd_off = le32(tail + i + 16);
  if (cd_off == 0xFFFFFFFFu || entries == 0xFFFF) {
    snprintf(err, errlen, "zip64 archives are not supported");
    return SR_ENOTSUP;
  }
  if (entries == 0) {
    snprintf(err, errlen, "the zip archive is empty");
    return SR_EPARSE;
  }
  for (k = 0; k < entries; k++) {
    if (cd_off + sizeof(h) > src->size ||
        pread_full(src->fd, h, sizeof(h), cd_off, &got) || got != sizeof(h) ||
        le32(h) != 0x02014b50u)
      goto bad;
    name_len = le16(h + 28);
    extra_len = le16(h + 30);
    comment_len = le16(h + 32);
    /* Directories end in '/': skip them. */
    if (name_len > 0) {
      unsigned char last;
      if (pread_full(src->fd, &last, 1, cd_off + 46 + name_len - 1, &got) ||
          got != 1)
        goto bad;
      if (last == '/') {
        cd_off += 46u + name_len + extra_len + comment_len;
        continue;
      }
    }
    break;
  }
  if (k == entries) {
    snprintf(err, errlen, "the zip archive holds no file");
    return SR_EPARSE;
  }
  (void)cd_size;
  flags = le16(h + 8);
  src->zip_method = (int)le16(h + 10);
  src->zip_crc = le32(h + 16);
  csize = le32(h + 20);
  local = le32(h + 42);
  if (csize == 0xFFFFFFFFu || local == 0xFFFFFFFFu) {
    snprintf(err, errlen, "zip64 archives are not supported");
    return SR_ENOTSUP;
  }
  if (flags & 1) {
    snprintf(err, errlen, "encrypted zip archives are not supported");
    return SR_ENOTSUP;
  }
  if (src->zip_method != 0 && src->zip_method != 8) {
    snprintf(err, errlen, "zip compression method %d is not supported",
             src->zip_method);
    return SR_ENOTSUP;
  }
  if (pread_full(src->fd, lh, sizeof(lh), local, &got) || got != sizeof(lh) ||
      le32(lh) != 0x04034b50u)
    goto bad;
  src->in_pos = local + 30 + le16(lh + 26) + le16(lh + 28);
  src->in_end = src->in_pos + csize;
  if (src->in_end > src->size)
    goto bad;
  return 0;
bad:
  snprintf(err, errlen, "not a readable zip archive");
  return SR_EPARSE;
}

int gdelt_source_open(const char *path, struct gdelt_source **out, char *err,
                      size_t errlen)
{
  struct gdelt_source *src;
  unsigned char magic[4];
  struct stat st;
  size_t got = 0;
  int rc;

  *out = NULL;
  src = calloc(1, sizeof(*src));
  if (src == NULL)
    return SR_ENOMEM;
  src->fd = open(path, O_RDONLY);
  if (src->fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    rc = errno == ENOENT ? SR_ENOENT : SR_EIO;
    goto fail;
  }
  if (fstat(src->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(err, errlen, "%s is not a regular file", path);
    rc = SR_EIO;
    goto fail;
  }
  src->size = (uint64_t)st.st_size;
  rc = pread_full(src->fd, magic, sizeof(magic), 0, &got);
  if (rc) {
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    goto fail;
  }
  src->in_pos = 0;
  src->in_end = src->size;
  if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    src->kind = SOURCE_GZIP;
    /* 32 + 15: gzip or zlib header, detected. */
    if (inflateInit2(&src->z, 32 + 15) != Z_OK) {
      rc = SR_ENOMEM;
      goto fail;
    }
    src->z_live = 1;
  } else if (got == 4 && magic[0] == 'P' && magic[1] == 'K' &&
             ((magic[2] == 3 && magic[3] == 4) ||
              (magic[2] == 5 && magic[3] == 6))) {
    src->kind = SOURCE_ZIP;
    rc = zip_locate(src, err, errlen);
    if (rc)
      goto fail;
    if (src->zip_method == 8) {
      /* Raw deflate: zip has no zlib header. */
      if (inflateInit2(&src->z, -15) != Z_OK) {
        rc = SR_ENOMEM;
        goto fail;
      }
      src->z_live = 1;
    }
  }
  *out = src;
  return 0;
fail:
  gdelt_source_close(src);
  return rc;
}

const char *gdelt_source_kind(const struct gdelt_source *src)
{
  static const char *const names[] = {"plain", "gzip", "zip"};

  return names[src->kind];
}

uint64_t gdelt_source_size(const struct gdelt_source *src)
{
  return src->kind == SOURCE_PLAIN ? src->size : 0;
}

void gdelt_source_close(struct gdelt_source *src)
{
  if (src == NULL)
    return;
  if (src->z_live)
    inflateEnd(&src->z);
  if (src->fd >= 0)
    close(src->fd);
  free(src);
}

/* Reads up to cap decompressed bytes; *got 0 at the end. */
static int source_inflate(struct gdelt_source *src, unsigned char *out,
                          size_t cap, size_t *got, char *err, size_t errlen)
{
  size_t n;
  int zrc;

  *got = 0;
  if (src->kind == SOURCE_ZIP && src->zip_method == 0) {
    uint64_t left = src->in_end - src->in_pos;
    if (cap > left)
      cap = (size_t)left;
    if (cap == 0)
      goto end;
    if (pread_full(src->fd, out, cap, src->in_pos, &n) || n != cap) {
      snprintf(err, errlen, "cannot read the zip archive");
      return SR_EIO;
    }
    src->in_pos += n;
    src->crc = (uint32_t)crc32(src->crc, out, (uInt)n);
    *got = n;
    return 0;
  }
  if (src->z_done)
    goto end;
  src->z.next_out = out;
  src->z.avail_out = (uInt)(cap > 0x40000000u ? 0x40000000u : cap);
  while (src->z.avail_out > 0) {
    if (src->z.avail_in == 0 && src->in_pos < src->in_end) {
      uint64_t left = src->in_end - src->in_pos;
      size_t want = left < sizeof(src->in) ? (size_t)left : sizeof(src->in);
      if (pread_full(src->fd, src->in, want, src->in_pos, &n) || n == 0) {
        snprintf(err, errlen, "cannot read the compressed source");
        return SR_EIO;
      }
      src->in_pos += n;
      src->z.next_in = src->in;
      src->z.avail_in = (uInt)n;
    }
    if (src->z.avail_in == 0) {
      snprintf(err, errlen, "the compressed source is truncated");
      return SR_EPARSE;
    }
    zrc = inflate(&src->z, Z_NO_FLUSH);
    if (zrc == Z_STREAM_END) {
      /* gzip allows members back to back. */
      if (src->kind == SOURCE_GZIP &&
          (src->z.avail_in > 0 || src->in_pos < src->in_end)) {
        inflateReset(&src->z);
        continue;
      }
      src->z_done = 1;
      break;
    }
    if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
      snprintf(err, errlen, "corrupt compressed data: %s",
               src->z.msg ? src->z.msg : "inflate failed");
      return SR_EPARSE;
    }
  }
  n = (size_t)(src->z.next_out - out);
  if (src->kind == SOURCE_ZIP)
    src->crc = (uint32_t)crc32(src->crc, out, (uInt)n);
  *got = n;
  if (n > 0)
    return 0;
end:
  if (src->kind == SOURCE_ZIP && src->crc != src->zip_crc) {
    snprintf(err, errlen, "zip CRC mismatch: the archive is corrupt");
    return SR_EPARSE;
  }
  return 0;
}

/* ---- Scanning a source --------------------------------------------------- */

struct splitter {
  const struct gdelt_spec *s;
  struct gdelt_scan *sc;
  struct buf carry;    /* a line cut by a block boundary */
  int overlong;        /* the line in progress is longer than LINE_CAP */
  size_t overlong_len; /* its bytes so far */
  uint64_t line_off;   /* file offset of the next line (plain files) */
  uint64_t end;        /* plain: lines must start before this; 0 = none */
  int stop;            /* max_rows reached or range done */
};

/* A line too long to keep (its bytes are not at hand): malformed. */
static int scan_overlong(const struct gdelt_spec *s, struct gdelt_scan *sc)
{
  if (s->max_rows && sc->rows_read >= s->max_rows)
    return 1;
  sc->lines++;
  if (sc->header_pending) {
    sc->header_pending = 0;
    return 0;
  }
  sc->rows_read++;
  return scan_malformed(s, sc, 0);
}

/* Feeds one complete line of len bytes (line NULL: an overlong one). */
static int split_line(struct splitter *sp, const char *line, size_t len)
{
  int rc;

  if (sp->end && sp->line_off >= sp->end) {
    sp->stop = 1;
    return 0;
  }
  sp->line_off += len + 1;
  if (line == NULL || len > LINE_CAP)
    rc = scan_overlong(sp->s, sp->sc);
  else
    rc = gdelt_scan_line(sp->s, sp->sc, line, len);
  if (rc == 1) {
    sp->stop = 1;
    return 0;
  }
  return rc;
}

/* Feeds a block: whole lines directly, a cut one through carry. */
static int split_block(struct splitter *sp, const char *p, size_t n)
{
  const char *e = p + n, *nl;
  size_t part;
  int rc;

  while (p < e && !sp->stop) {
    nl = memchr(p, '\n', (size_t)(e - p));
    part = (size_t)((nl ? nl : e) - p);
    if (!sp->overlong && buf_len(&sp->carry) + part > LINE_CAP &&
        (nl == NULL || buf_len(&sp->carry) > 0)) {
      sp->overlong = 1;
      sp->overlong_len = buf_len(&sp->carry);
      buf_free(&sp->carry);
    }
    if (nl == NULL) {
      /* The line goes on in the next block. */
      if (sp->overlong)
        sp->overlong_len += part;
      else if (buf_add(&sp->carry, p, part))
        return SR_ENOMEM;
      return 0;
    }
    if (sp->overlong) {
      sp->overlong = 0;
      rc = split_line(sp, NULL, sp->overlong_len + part);
    } else if (buf_len(&sp->carry) == 0) {
      rc = split_line(sp, p, part);
    } else {
      if (buf_add(&sp->carry, p, part))
        return SR_ENOMEM;
      rc = split_line(sp, buf_str(&sp->carry), buf_len(&sp->carry));
      buf_reset(&sp->carry);
    }
    if (rc)
      return rc;
    p = nl + 1;
  }
  return 0;
}

/* A plain file, mapped: its lines are scanned where they lie, with no
 * copy and no carry. What has been read is unmapped as the scan moves on,
 * so the pages of the file never pile up in the process (its memory stays
 * bounded by the rows kept, whatever the file's size). Returns 1 when the
 * file cannot be mapped (the caller reads it instead). */
static int scan_mapped(struct splitter *sp, struct gdelt_source *src,
                       uint64_t start, const atomic_int *cancel, char *err,
                       size_t errlen)
{
  const char *base, *p, *e, *nl;
  uint64_t next_check = 0, unmapped = 0, page;
  long pagesize = sysconf(_SC_PAGESIZE);
  void *map;
  int rc = 0;

  if (src->size == 0 || src->size > SIZE_MAX)
    return 1;
  map = mmap(NULL, (size_t)src->size, PROT_READ, MAP_PRIVATE, src->fd, 0);
  if (map == MAP_FAILED)
    return 1;
  posix_madvise(map, (size_t)src->size, POSIX_MADV_SEQUENTIAL);
  base = map;
  e = base + src->size;
  p = base;
  if (start > 0) {
    /* The line that spans start belongs to the previous range: begin
     * after the first newline at or after start - 1. */
    p = start - 1 < src->size ? base + start - 1 : e;
    nl = memchr(p, '\n', (size_t)(e - p));
    p = nl ? nl + 1 : e;
  }
  page = pagesize > 0 ? (uint64_t)pagesize : 4096;
  while (p < e && !sp->stop) {
    if ((uint64_t)(p - base) >= next_check) {
      uint64_t done = (uint64_t)(p - base) / page * page;
      if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
        rc = SR_ECANCELED;
        snprintf(err, errlen, "canceled");
        break;
      }
      if (done > unmapped) {
        munmap((char *)map + unmapped, (size_t)(done - unmapped));
        unmapped = done;
      }
      next_check = (uint64_t)(p - base) + BLOCK_SIZE;
    }
    nl = memchr(p, '\n', (size_t)(e - p));
    if (nl == NULL)
      nl = e; /* a last line without '\n' */
    sp->line_off = (uint64_t)(p - base);
    rc = split_line(sp, p, (size_t)(nl - p));
    if (rc)
      break;
    p = nl + 1;
  }
  munmap((char *)map + unmapped, (size_t)(src->size - unmapped));
  return rc;
}

int gdelt_scan_source(const struct gdelt_spec *s, struct gdelt_scan *sc,
                      struct gdelt_source *src, uint64_t start, uint64_t end,
                      const atomic_int *cancel, char *err, size_t errlen)
{
  struct splitter sp;
  unsigned char *block;
  uint64_t pos = 0;
  size_t got;
  int rc = 0, skipping = 0;

  memset(&sp, 0, sizeof(sp));
  if (src->kind == SOURCE_PLAIN) {
    sp.s = s;
    sp.sc = sc;
    sp.end = end;
    rc = scan_mapped(&sp, src, start, cancel, err, errlen);
    if (rc != 1) {
      if (rc && sc->error && rc == sc->error)
        snprintf(err, errlen, "line %llu: %s",
                 (unsigned long long)sc->error_line, sc->error_text);
      return rc;
    }
    rc = 0;
    memset(&sp, 0, sizeof(sp));
  }
  sp.s = s;
  sp.sc = sc;
  buf_init(&sp.carry, (size_t)LINE_CAP + 1);
  block = malloc(BLOCK_SIZE);
  if (block == NULL)
    return SR_ENOMEM;
  if (src->kind == SOURCE_PLAIN) {
    sp.end = end;
    if (start > 0) {
      /* The line that spans start belongs to the previous range: begin
       * after the first newline at or after start - 1. */
      pos = start - 1;
      skipping = 1;
    }
    sp.line_off = start;
  }
  for (;;) {
    const unsigned char *p;
    if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
      rc = SR_ECANCELED;
      snprintf(err, errlen, "canceled");
      break;
    }
    if (src->kind == SOURCE_PLAIN) {
      rc = pread_full(src->fd, block, BLOCK_SIZE, pos, &got);
      if (rc)
        snprintf(err, errlen, "read error: %s", strerror(errno));
    } else {
      rc = source_inflate(src, block, BLOCK_SIZE, &got, err, errlen);
    }
    if (rc)
      break;
    if (got == 0) {
      /* A last line without '\n'. */
      if (!sp.stop && sp.overlong)
        rc = split_line(&sp, NULL, sp.overlong_len);
      else if (!sp.stop && buf_len(&sp.carry) > 0)
        rc = split_line(&sp, buf_str(&sp.carry), buf_len(&sp.carry));
      break;
    }
    p = block;
    pos += got;
    if (skipping) {
      const unsigned char *nl = memchr(block, '\n', got);
      if (nl == NULL)
        continue;
      skipping = 0;
      p = nl + 1;
      /* The first line of this range starts here. */
      sp.line_off = pos - got + (uint64_t)(p - block);
    }
    rc = split_block(&sp, (const char *)p, got - (size_t)(p - block));
    if (rc || sp.stop)
      break;
  }
  if (rc && sc->error && rc == sc->error)
    snprintf(err, errlen, "line %llu: %s", (unsigned long long)sc->error_line,
             sc->error_text);
  else if (rc == SR_ENOMEM)
    snprintf(err, errlen, "out of memory");
  buf_free(&sp.carry);
  free(block);
  return rc;
}

/* ---- Shuffle --------------------------------------------------------------
 * xoshiro256** (Blackman and Vigna), its state filled by splitmix64 from
 * the seed, as its authors recommend. Bounded draws use Lemire's
 * multiply-and-reject, so every permutation is equally likely. */

struct rng {
  uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
  uint64_t result = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;

  r->s[2] ^= r->s[0];
  r->s[3] ^= r->s[1];
  r->s[1] ^= r->s[2];
  r->s[0] ^= r->s[3];
  r->s[2] ^= t;
  r->s[3] = rotl(r->s[3], 45);
  return result;
}

/* Uniform in [0, range), range >= 1 and below 2^32. */
static uint32_t rng_below(struct rng *r, uint32_t range)
{
  uint64_t m = (rng_next(r) >> 32) * (uint64_t)range;
  uint32_t low = (uint32_t)m, threshold;

  if (low < range) {
    threshold = (uint32_t)(-range) % range;
    while (low < threshold) {
      m = (rng_next(r) >> 32) * (uint64_t)range;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

void gdelt_shuffle(uint32_t *perm, size_t n, uint64_t seed)
{
  struct rng r;
  uint64_t x = seed;
  size_t i;

  for (i = 0; i < 4; i++)
    r.s[i] = splitmix64(&x);
  for (i = 0; i < n; i++)
    perm[i] = (uint32_t)i;
  /* Fisher-Yates, from the end. */
  for (i = n; i > 1; i--) {
    uint32_t j = rng_below(&r, (uint32_t)i), t = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = t;
  }
}

/* ---- Writing ------------------------------------------------------------- */

struct out_file {
  int fd;
  struct buf pending;
  uint64_t bytes;
};

static int out_flush(struct out_file *o)
{
  const char *p = buf_str(&o->pending);
  size_t left = buf_len(&o->pending);
  ssize_t n;

  while (left > 0) {
    n = write(o->fd, p, left);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return SR_EIO;
    p += n;
    left -= (size_t)n;
  }
  o->bytes += buf_len(&o->pending);
  buf_reset(&o->pending);
  return 0;
}

/* The shortest decimal that reads back as the same float. */
static int csv_float(struct buf *b, float v)
{
  char tmp[32];
  int prec;

  if (v == 0)
    return buf_addc(b, '0');
  if (v == 1)
    return buf_addc(b, '1');
  for (prec = 6; prec < 9; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*g", prec, (double)v);
    if (strtof(tmp, NULL) == v)
      return buf_adds(b, tmp);
  }
  return buf_addf(b, "%.9g", (double)v);
}

struct column_map {
  size_t dim, nf;
  int *event_col; /* event index -> one-hot column offset, or -1 */
};

struct compat_sort {
  const char *code;
  size_t event;
};

static int compat_cmp(const void *pa, const void *pb)
{
  const struct compat_sort *a = pa, *b = pb;

  return code_cmp(a->code, b->code, 1);
}

/* One-hot columns: every event in order; under seed_compat the events
 * that occur in the kept rows, sorted as pandas' get_dummies sorts
 * integer categories. */
static int column_map_build(const struct gdelt_spec *s,
                            const struct gdelt_scan *sc, struct column_map *m,
                            char ***names_out)
{
  const uint16_t *ev = (const uint16_t *)buf_str(&sc->row_events);
  struct compat_sort *order = NULL;
  unsigned char *present = NULL;
  char **names = NULL;
  size_t i, k = 0, n = sc->kept;
  int rc = SR_ENOMEM;

  memset(m, 0, sizeof(*m));
  m->nf = s->nfeatures;
  m->event_col = calloc(s->nevents ? s->nevents : 1, sizeof(int));
  present = calloc(s->nevents ? s->nevents : 1, 1);
  order = calloc(s->nevents ? s->nevents : 1, sizeof(*order));
  if (m->event_col == NULL || present == NULL || order == NULL)
    goto out;
  for (i = 0; i < s->nevents; i++)
    m->event_col[i] = -1;
  if (s->one_hot && s->nevents) {
    if (s->seed_compat) {
      for (i = 0; i < n; i++)
        if (ev[i] != NO_EVENT)
          present[ev[i]] = 1;
      for (i = 0; i < s->nevents; i++) {
        if (!present[i])
          continue;
        order[k].code = s->events[i];
        while (order[k].code[0] == '0' && order[k].code[1])
          order[k].code++;
        order[k].event = i;
        k++;
      }
      qsort(order, k, sizeof(*order), compat_cmp);
      for (i = 0; i < k; i++)
        m->event_col[order[i].event] = (int)i;
    } else {
      for (i = 0; i < s->nevents; i++) {
        order[i].code = s->events[i];
        order[i].event = i;
        m->event_col[i] = (int)i;
      }
      k = s->nevents;
    }
  }
  m->dim = s->nfeatures + k;
  names = calloc(m->dim + 1, sizeof(*names));
  if (names == NULL)
    goto out;
  for (i = 0; i < s->nfeatures; i++) {
    names[i] = strdup(s->features[i]);
    if (names[i] == NULL)
      goto out;
  }
  for (i = 0; i < k; i++) {
    struct buf b;
    buf_init(&b, 64);
    /* pandas names its dummies EventCode_42; ours keep the code as
     * written: EventCode=042. */
    if (buf_addf(&b, s->seed_compat ? "EventCode_%s" : "EventCode=%s",
                 order[i].code))
      goto out;
    names[s->nfeatures + i] = buf_detach(&b, NULL);
    if (names[s->nfeatures + i] == NULL)
      goto out;
  }
  *names_out = names;
  names = NULL;
  rc = 0;
out:
  if (names) {
    for (i = 0; i < m->dim; i++)
      free(names[i]);
    free(names);
  }
  if (rc) {
    free(m->event_col);
    m->event_col = NULL;
  }
  free(present);
  free(order);
  return rc;
}

static int open_out(const char *path, struct out_file *o, char *err,
                    size_t errlen)
{
  o->bytes = 0;
  buf_init(&o->pending, (size_t)WRITE_FLUSH * 4);
  o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (o->fd < 0) {
    snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
    return SR_EIO;
  }
  return 0;
}

static int close_out(struct out_file *o, int rc, const char *path, char *err,
                     size_t errlen)
{
  if (o->fd < 0)
    return rc;
  if (rc == 0)
    rc = out_flush(o);
  if (close(o->fd) != 0 && rc == 0)
    rc = SR_EIO;
  o->fd = -1;
  buf_free(&o->pending);
  if (rc == SR_EIO && err[0] == '\0')
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
  return rc;
}

int gdelt_write(const struct gdelt_spec *s, const struct gdelt_scan *sc,
                const struct gdelt_write_opts *o, struct gdelt_write_result *r,
                char *err, size_t errlen)
{
  const float *rows = (const float *)buf_str(&sc->rows);
  const uint16_t *ev = (const uint16_t *)buf_str(&sc->row_events);
  size_t stride = 1 + s->nfeatures, n = sc->kept, i, j, ntrain;
  struct out_file files[2];
  struct column_map map;
  uint32_t *perm = NULL;
  float *vec = NULL;
  int rc, part;

  memset(r, 0, sizeof(*r));
  err[0] = '\0';
  files[0].fd = files[1].fd = -1;
  if (n > UINT32_MAX) {
    snprintf(err, errlen, "more than 2^32 rows");
    return SR_ETOOBIG;
  }
  rc = column_map_build(s, sc, &map, &r->feature_names);
  if (rc)
    return rc;
  r->feature_dim = map.dim;
  rc = SR_ENOMEM;
  perm = malloc((n ? n : 1) * sizeof(*perm));
  vec = calloc(map.dim ? map.dim : 1, sizeof(*vec));
  if (perm == NULL || vec == NULL)
    goto out;
  if (o->shuffle) {
    gdelt_shuffle(perm, n, o->seed);
  } else {
    for (i = 0; i < n; i++)
      perm[i] = (uint32_t)i;
  }
  /* int(0.9 * n), as the seed splits. */
  ntrain = o->split >= 1 ? n : (size_t)(o->split * (double)n);
  rc = open_out(o->train_path, &files[0], err, errlen);
  if (rc == 0 && ntrain < n) {
    if (o->validation_path == NULL) {
      snprintf(err, errlen, "split %g needs a validation file", o->split);
      rc = SR_EINVAL;
    } else {
      rc = open_out(o->validation_path, &files[1], err, errlen);
    }
  }
  for (i = 0; rc == 0 && i < n; i++) {
    const float *row = rows + (size_t)perm[i] * stride;
    struct out_file *f;
    part = i < ntrain ? 0 : 1;
    f = &files[part];
    if ((i & 0xFFFF) == 0 && o->cancel &&
        atomic_load_explicit(o->cancel, memory_order_relaxed)) {
      rc = SR_ECANCELED;
      snprintf(err, errlen, "canceled");
      break;
    }
#if defined(__GNUC__)
    /* Shuffled rows are read at random: ask for a later one early. */
    if (i + 16 < n)
      __builtin_prefetch(rows + (size_t)perm[i + 16] * stride);
#endif
    memcpy(vec, row + 1, s->nfeatures * sizeof(float));
    if (map.dim > s->nfeatures) {
      memset(vec + s->nfeatures, 0, (map.dim - s->nfeatures) * sizeof(float));
      if (ev[perm[i]] != NO_EVENT && map.event_col[ev[perm[i]]] >= 0)
        vec[s->nfeatures + (size_t)map.event_col[ev[perm[i]]]] = 1;
    }
    if (o->format == GDELT_FORMAT_RECORDIO) {
      rc = recordio_write_dense(&f->pending, vec, map.dim, row, 1, 0);
    } else {
      rc = csv_float(&f->pending, row[0]);
      for (j = 0; rc == 0 && j < map.dim; j++) {
        rc = buf_addc(&f->pending, ',');
        if (rc == 0)
          rc = csv_float(&f->pending, vec[j]);
      }
      if (rc == 0)
        rc = buf_addc(&f->pending, '\n');
    }
    if (rc == 0 && buf_len(&f->pending) >= WRITE_FLUSH)
      rc = out_flush(f);
    if (rc == 0) {
      if (part == 0)
        r->train_rows++;
      else
        r->validation_rows++;
    }
  }
out:
  rc = close_out(&files[0], rc, o->train_path, err, errlen);
  rc = close_out(&files[1], rc, o->validation_path, err, errlen);
  r->train_bytes = files[0].bytes;
  r->validation_bytes = files[1].bytes;
  if (rc && err[0] == '\0')
    snprintf(err, errlen, "%s", sr_strerror(rc));
  free(map.event_col);
  free(perm);
  free(vec);
  return rc;
}

void gdelt_write_result_free(struct gdelt_write_result *r)
{
  size_t i;

  for (i = 0; r->feature_names && i < r->feature_dim; i++)
    free(r->feature_names[i]);
  free(r->feature_names);
  memset(r, 0, sizeof(*r));
}

/* ---- Profiles ------------------------------------------------------------ */

/* Moves the k-th smallest of v[0..n) to v[k], none larger before it and
 * none smaller after (Hoare's partition around the middle element). */
static void select_kth(double *v, size_t n, size_t k)
{
  long long lo = 0, hi = (long long)n - 1, i, j, kk = (long long)k;
  double pivot, t;

  while (lo < hi) {
    pivot = v[lo + (hi - lo) / 2];
    i = lo - 1;
    j = hi + 1;
    for (;;) {
      do
        i++;
      while (v[i] < pivot);
      do
        j--;
      while (v[j] > pivot);
      if (i >= j)
        break;
      t = v[i];
      v[i] = v[j];
      v[j] = t;
    }
    if (kk <= j)
      hi = j;
    else
      lo = j + 1;
  }
}

/* numpy's linear interpolation (its _lerp), so quartiles match pandas'
 * describe() bit for bit. */
static double quantile(double *v, size_t n, double q)
{
  double h = (double)(n - 1) * q, a, b, t, lo_min;
  size_t lo = (size_t)h, i;

  select_kth(v, n, lo);
  a = v[lo];
  if (lo + 1 >= n)
    return a;
  lo_min = v[lo + 1];
  for (i = lo + 2; i < n; i++)
    if (v[i] < lo_min)
      lo_min = v[i];
  b = lo_min;
  t = h - (double)lo;
  return t >= 0.5 ? b - (b - a) * (1 - t) : a + (b - a) * t;
}

void gdelt_profile_column(double *values, size_t n, uint64_t missing,
                          size_t bins, struct gdelt_stats *st, uint64_t *counts,
                          double *edges)
{
  double sum = 0, sq = 0, first, last, step, norm;
  size_t i;

  memset(st, 0, sizeof(*st));
  st->missing = missing;
  st->count = n;
  memset(counts, 0, bins * sizeof(*counts));
  if (n == 0) {
    st->mean = st->std = st->min = st->max = NAN;
    st->p25 = st->p50 = st->p75 = NAN;
    for (i = 0; i <= bins; i++)
      edges[i] = (double)i / (double)bins;
    return;
  }
  st->min = st->max = values[0];
  for (i = 0; i < n; i++) {
    sum += values[i];
    if (values[i] < st->min)
      st->min = values[i];
    if (values[i] > st->max)
      st->max = values[i];
    st->zeros += values[i] == 0;
  }
  st->mean = sum / (double)n;
  for (i = 0; i < n; i++)
    sq += (values[i] - st->mean) * (values[i] - st->mean);
  st->std = n > 1 ? sqrt(sq / (double)(n - 1)) : NAN;
  /* numpy.histogram: equal bins over [min, max], widened by 0.5 each
   * side when they are equal; the edges come from linspace. */
  first = st->min;
  last = st->max;
  if (first == last) {
    first -= 0.5;
    last += 0.5;
  }
  step = (last - first) / (double)bins;
  for (i = 0; i < bins; i++)
    edges[i] = (double)i * step + first;
  edges[bins] = last;
  norm = (double)bins / (last - first);
  for (i = 0; i < n; i++) {
    double x = values[i];
    size_t b = (size_t)((x - first) * norm);
    if (b >= bins)
      b = bins - 1;
    if (x < edges[b] && b > 0)
      b--;
    else if (b + 1 < bins && x >= edges[b + 1])
      b++;
    counts[b]++;
  }
  st->p25 = quantile(values, n, 0.25);
  st->p50 = quantile(values, n, 0.5);
  st->p75 = quantile(values, n, 0.75);
}
