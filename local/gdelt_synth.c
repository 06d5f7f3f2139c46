/* The synthetic GDELT 1.0 historical files: see gdelt_synth.h.
 *
 * One pass, one row at a time, into a 1 MB buffer handed to the sink. A
 * xoshiro256** generator seeded from the year drives every choice, in a
 * fixed order per row, so a file is a pure function of (year, scale).
 *
 * Row counts [E]: gdelt-facts.md gives the yearly zip sizes for
 * 1979-1984; rows are taken proportional to them (0.43 M rows for 1979's
 * 14.3 MB zip, which gives 0.9 M for 1984). Later years are estimates:
 * the zips grow geometrically from 29.7 MB (1984) to 125.9 MB (2005), and
 * by 45 % a year after 2005 (GDELT's growth "rising exponentially after
 * 2002"), about 190 M rows for 1979-2012 in all. */
#include "gdelt_synth.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runner/buf.h"
#include "../runner/error.h"
#include "engine.h"
#include "s3store.h"

#define GS_CHUNK (1 << 20)
#define GS_ROWS_PER_ZIP_BYTE (430000.0 / 14276482.0)
#define GS_NCODES_TOP 20
#define GS_TWO_PI 6.283185307179586

/* ---- Random numbers ------------------------------------------------------ */

struct gs_rng {
  uint64_t s[4];
  int has_spare;
  double spare;
};

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void rng_seed(struct gs_rng *r, uint64_t seed)
{
  int i;

  for (i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
  r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman and Vigna). */
static uint64_t rng_next(struct gs_rng *r)
{
  uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Uniform in [0, 1). */
static double rng_uniform(struct gs_rng *r)
{
  return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform integer in [0, n). */
static uint32_t rng_below(struct gs_rng *r, uint32_t n)
{
  return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* Standard normal (Box-Muller, both values used). */
static double rng_normal(struct gs_rng *r)
{
  double u, v, m;

  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  do
    u = rng_uniform(r);
  while (u <= 0.0);
  v = rng_uniform(r);
  m = sqrt(-2.0 * log(u));
  r->spare = m * sin(GS_TWO_PI * v);
  r->has_spare = 1;
  return m * cos(GS_TWO_PI * v);
}

/* Gamma(k, 1) for k >= 1 (Marsaglia and Tsang). */
static double rng_gamma(struct gs_rng *r, double k)
{
  double d = k - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d), x, v, u;

  for (;;) {
    do {
      x = rng_normal(r);
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    u = rng_uniform(r);
    if (u < 1.0 - 0.0331 * x * x * x * x ||
        log(u) < 0.5 * x * x + d * (1.0 - v + log(v)))
      return d * v;
  }
}

/* ---- Tables ----------------------------------------------------------------
 */

/* CAMEO event codes of three and four digits with their Goldstein scores
 * (GDELT's CAMEO.goldsteinscale.txt). */
static const struct gs_code {
  const char *code, *goldstein;
} gs_codes[] = {
    {"010", "0"},     {"011", "-0.1"},  {"012", "-0.4"},  {"013", "0.4"},
    {"014", "0"},     {"015", "0"},     {"016", "-2"},    {"017", "0"},
    {"018", "3.4"},   {"019", "3.4"},   {"020", "3"},     {"021", "3.4"},
    {"0211", "3.4"},  {"0212", "3.4"},  {"0213", "3.4"},  {"0214", "3.4"},
    {"022", "3.2"},   {"023", "3.4"},   {"0231", "3.4"},  {"0232", "3.4"},
    {"0233", "3.4"},  {"0234", "3.4"},  {"024", "-0.3"},  {"0241", "-0.3"},
    {"0242", "-0.3"}, {"0243", "-0.3"}, {"0244", "-0.3"}, {"025", "-0.3"},
    {"0251", "-0.3"}, {"0252", "-0.3"}, {"0253", "-0.3"}, {"0254", "-0.3"},
    {"0255", "-0.3"}, {"0256", "-0.3"}, {"026", "4"},     {"027", "4"},
    {"028", "4"},     {"030", "4"},     {"031", "5.2"},   {"0311", "5.2"},
    {"0312", "5.2"},  {"0313", "5.2"},  {"0314", "5.2"},  {"032", "4.5"},
    {"033", "5.2"},   {"0331", "5.2"},  {"0332", "5.2"},  {"0333", "5.2"},
    {"0334", "6"},    {"034", "7"},     {"0341", "7"},    {"0342", "7"},
    {"0343", "7"},    {"0344", "7"},    {"035", "7"},     {"0351", "7"},
    {"0352", "7"},    {"0353", "7"},    {"0354", "7"},    {"0355", "7"},
    {"0356", "7"},    {"036", "4"},     {"037", "5"},     {"038", "7"},
    {"039", "5"},     {"040", "1"},     {"041", "1"},     {"042", "1.9"},
    {"043", "2.8"},   {"044", "2.5"},   {"045", "5"},     {"046", "7"},
    {"050", "3.5"},   {"051", "3.4"},   {"052", "3.5"},   {"053", "3.8"},
    {"054", "6"},     {"055", "7"},     {"056", "7"},     {"057", "8"},
    {"060", "6"},     {"061", "6.4"},   {"062", "7.4"},   {"063", "7.4"},
    {"064", "7"},     {"070", "7"},     {"071", "7.4"},   {"072", "8.3"},
    {"073", "7.4"},   {"074", "8.5"},   {"075", "7"},     {"080", "5"},
    {"081", "5"},     {"0811", "5"},    {"0812", "5"},    {"0813", "5"},
    {"0814", "5"},    {"082", "5"},     {"083", "5"},     {"0831", "5"},
    {"0832", "5"},    {"0833", "5"},    {"0834", "5"},    {"084", "7"},
    {"0841", "7"},    {"0842", "7"},    {"085", "7"},     {"086", "9"},
    {"0861", "9"},    {"0862", "9"},    {"0863", "9"},    {"087", "9"},
    {"0871", "9"},    {"0872", "9"},    {"0873", "9"},    {"0874", "10"},
    {"090", "-2"},    {"091", "-2"},    {"092", "-2"},    {"093", "-2"},
    {"094", "-2"},    {"100", "-5"},    {"101", "-5"},    {"1011", "-5"},
    {"1012", "-5"},   {"1013", "-5"},   {"1014", "-5"},   {"102", "-5"},
    {"103", "-5"},    {"1031", "-5"},   {"1032", "-5"},   {"1033", "-5"},
    {"1034", "-5"},   {"104", "-5"},    {"1041", "-5"},   {"1042", "-5"},
    {"1043", "-5"},   {"1044", "-5"},   {"105", "-5"},    {"1051", "-5"},
    {"1052", "-5"},   {"1053", "-5"},   {"1054", "-5"},   {"1055", "-5"},
    {"1056", "-5"},   {"106", "-5"},    {"107", "-5"},    {"108", "-5"},
    {"110", "-2"},    {"111", "-2"},    {"112", "-2"},    {"1121", "-2"},
    {"1122", "-2"},   {"1123", "-2"},   {"1124", "-2"},   {"1125", "-2"},
    {"113", "-2"},    {"114", "-2"},    {"115", "-2"},    {"116", "-2"},
    {"120", "-4"},    {"121", "-4"},    {"1211", "-4"},   {"1212", "-4"},
    {"122", "-4"},    {"1221", "-4"},   {"1222", "-4"},   {"1223", "-4"},
    {"1224", "-4"},   {"123", "-4"},    {"1231", "-4"},   {"1232", "-4"},
    {"1233", "-4"},   {"1234", "-4"},   {"124", "-4"},    {"1241", "-4"},
    {"1242", "-4"},   {"1243", "-4"},   {"1244", "-4"},   {"1245", "-4"},
    {"1246", "-4"},   {"125", "-5"},    {"126", "-5"},    {"127", "-5"},
    {"128", "-5"},    {"129", "-5"},    {"130", "-4.4"},  {"131", "-5.8"},
    {"1311", "-5.8"}, {"1312", "-5.8"}, {"1313", "-5.8"}, {"132", "-5.8"},
    {"1321", "-5.8"}, {"1322", "-5.8"}, {"1323", "-5.8"}, {"1324", "-5.8"},
    {"133", "-5.8"},  {"134", "-5.8"},  {"135", "-5.8"},  {"136", "-7"},
    {"137", "-7"},    {"138", "-7"},    {"1381", "-7"},   {"1382", "-7"},
    {"1383", "-7"},   {"1384", "-7"},   {"1385", "-7"},   {"139", "-7"},
    {"140", "-6.5"},  {"141", "-6.5"},  {"1411", "-6.5"}, {"1412", "-6.5"},
    {"1413", "-6.5"}, {"1414", "-6.5"}, {"142", "-6.5"},  {"1421", "-6.5"},
    {"1422", "-6.5"}, {"1423", "-6.5"}, {"1424", "-6.5"}, {"143", "-6.5"},
    {"1431", "-6.5"}, {"1432", "-6.5"}, {"1433", "-6.5"}, {"1434", "-6.5"},
    {"144", "-7.5"},  {"1441", "-7.5"}, {"1442", "-7.5"}, {"1443", "-7.5"},
    {"1444", "-7.5"}, {"145", "-7.5"},  {"1451", "-7.5"}, {"1452", "-7.5"},
    {"1453", "-7.5"}, {"1454", "-7.5"}, {"150", "-7.2"},  {"151", "-7.2"},
    {"152", "-7.2"},  {"153", "-7.2"},  {"154", "-7.2"},  {"160", "-4"},
    {"161", "-4"},    {"162", "-5.6"},  {"1621", "-5.6"}, {"1622", "-5.6"},
    {"1623", "-5.6"}, {"163", "-8"},    {"164", "-7"},    {"165", "-6.5"},
    {"166", "-7"},    {"1661", "-7"},   {"1662", "-7"},   {"1663", "-7"},
    {"170", "-7"},    {"171", "-9.2"},  {"1711", "-9.2"}, {"1712", "-9.2"},
    {"172", "-5"},    {"1721", "-5"},   {"1722", "-5"},   {"1723", "-5"},
    {"1724", "-5"},   {"173", "-5"},    {"174", "-5"},    {"175", "-9"},
    {"180", "-9"},    {"181", "-9"},    {"182", "-9.5"},  {"1821", "-9"},
    {"1822", "-9"},   {"1823", "-10"},  {"183", "-10"},   {"1831", "-10"},
    {"1832", "-10"},  {"1833", "-10"},  {"184", "-8"},    {"185", "-8"},
    {"186", "-10"},   {"190", "-10"},   {"191", "-9.5"},  {"192", "-9.5"},
    {"193", "-10"},   {"194", "-10"},   {"195", "-10"},   {"196", "-9.5"},
    {"200", "-10"},   {"201", "-9.5"},  {"202", "-10"},   {"203", "-10"},
    {"204", "-10"},   {"2041", "-10"},  {"2042", "-10"}};
#define GS_NCODES (sizeof(gs_codes) / sizeof(gs_codes[0]))

/* The most frequent codes and their shares in per cent (gdelt-facts.md
 * §3A, whose top 20 cover 76.8 % of rows). */
static const struct {
  const char *code;
  double share;
} gs_top[GS_NCODES_TOP] = {
    {"040", 8.0}, {"010", 7.8}, {"042", 7.7}, {"043", 7.2}, {"036", 6.0},
    {"020", 5.8}, {"051", 5.7}, {"046", 4.1}, {"173", 3.8}, {"190", 3.4},
    {"090", 2.2}, {"112", 2.0}, {"120", 2.0}, {"030", 1.6}, {"013", 1.6},
    {"071", 1.6}, {"193", 1.5}, {"110", 1.5}, {"060", 1.5}, {"012", 1.5}};

#define GS_SHARE_TAIL3 20.2 /* the other three-digit codes */
#define GS_SHARE_TAIL4 3.0  /* four-digit codes */

/* Places as historical rows name them: type (1 country, 2 US state, 3 US
 * city, 4 world city), full name, FIPS country, ADM1, lat, long (as the
 * files print them) and feature ID. */
static const struct gs_place {
  const char *type, *name, *country, *adm1, *lat, *lon, *feature;
} gs_places[] = {
    {"1", "United States", "US", "US", "38", "-97", "0"},
    {"3", "Washington, District of Columbia, United States", "US", "USDC",
     "38.8951", "-77.0364", "531871"},
    {"3", "New York, New York, United States", "US", "USNY", "40.7143",
     "-74.006", "975772"},
    {"2", "Texas, United States", "US", "USTX", "31.106", "-97.6475", "0"},
    {"2", "California, United States", "US", "USCA", "36.17", "-119.746", "0"},
    {"1", "Russia", "RS", "RS", "60", "100", "0"},
    {"4", "Moscow, Moskva, Russia", "RS", "RS48", "55.7522", "37.6156",
     "-2960561"},
    {"1", "China", "CH", "CH", "35", "105", "0"},
    {"4", "Beijing, Beijing, China", "CH", "CH22", "39.9289", "116.388",
     "-1898541"},
    {"1", "United Kingdom", "UK", "UK", "54", "-2", "0"},
    {"4", "London, London, City of, United Kingdom", "UK", "UKH9", "51.5",
     "-0.116667", "-2601889"},
    {"1", "France", "FR", "FR", "46", "2", "0"},
    {"4", "Paris, France (general), France", "FR", "FR00", "48.8667", "2.33333",
     "-1456928"},
    {"1", "Israel", "IS", "IS", "31.5", "34.75", "0"},
    {"4", "Jerusalem, Israel (general), Israel", "IS", "IS00", "31.7667",
     "35.2333", "-797092"},
    {"1", "Egypt", "EG", "EG", "27", "30", "0"},
    {"4", "Cairo, Al Qahirah, Egypt", "EG", "EG11", "30.05", "31.25",
     "-290692"},
    {"1", "Iran", "IR", "IR", "32", "53", "0"},
    {"4", "Tehran, Tehran, Iran", "IR", "IR26", "35.6719", "51.4244",
     "-3084914"},
    {"1", "West Germany", "GM", "GM", "51", "9", "0"},
    {"1", "Japan", "JA", "JA", "36", "138", "0"},
    {"4", "Tokyo, Tokyo, Japan", "JA", "JA40", "35.685", "139.751", "-246227"},
    {"1", "India", "IN", "IN", "20", "77", "0"},
    {"1", "Lebanon", "LE", "LE", "33.8333", "35.8333", "0"},
    {"4", "Beirut, Beyrouth, Lebanon", "LE", "LE04", "33.8719", "35.5097",
     "-801546"},
    {"1", "Syria", "SY", "SY", "35", "38", "0"},
    {"1", "Iraq", "IZ", "IZ", "33", "44", "0"},
    {"1", "Afghanistan", "AF", "AF", "33", "65", "0"},
    {"4", "Kabul, Kabol, Afghanistan", "AF", "AF13", "34.5167", "69.1833",
     "-3378435"},
    {"1", "Pakistan", "PK", "PK", "30", "70", "0"},
    {"1", "South Africa", "SF", "SF", "-29", "24", "0"},
    {"1", "Nigeria", "NI", "NI", "10", "8", "0"},
    {"1", "Turkey", "TU", "TU", "39", "35", "0"},
    {"1", "Canada", "CA", "CA", "60", "-95", "0"},
    {"1", "Poland", "PL", "PL", "52", "20", "0"},
    {"4", "Warsaw, (PL67), Poland", "PL", "PL67", "52.25", "21", "-534433"},
    {"1", "Vietnam", "VM", "VM", "16", "106", "0"},
    {"1", "Cambodia", "CB", "CB", "13", "105", "0"},
    {"1", "Nicaragua", "NU", "NU", "13", "-85", "0"},
    {"1", "Zimbabwe", "ZI", "ZI", "-20", "30", "0"},
    {"4", "Harare, Mashonaland East, Zimbabwe", "ZI", "ZI04", "-17.8178",
     "31.0447", "-2312291"},
    {"1", "Saudi Arabia", "SA", "SA", "25", "45", "0"},
    {"1", "Italy", "IT", "IT", "42.8333", "12.8333", "0"},
    {"4", "Rome, Lazio, Italy", "IT", "IT07", "41.9", "12.4833", "-126693"},
    {"1", "Cuba", "CU", "CU", "21.5", "-80", "0"},
    {"1", "South Korea", "KS", "KS", "37", "127.5", "0"},
    {"1", "Philippines", "RP", "RP", "13", "122", "0"},
    {"1", "Angola", "AO", "AO", "-12.5", "18.5", "0"},
    {"1", "Ethiopia", "ET", "ET", "8", "38", "0"},
    {"1", "Mexico", "MX", "MX", "23", "-102", "0"}};
#define GS_NPLACES (sizeof(gs_places) / sizeof(gs_places[0]))

/* Actors: code, name, CAMEO country, type, and the FIPS country of their
 * places ("" for actors without one). */
static const struct gs_actor {
  const char *code, *name, *country, *type, *home;
} gs_actors[] = {{"USA", "UNITED STATES", "USA", "", "US"},
                 {"USAGOV", "PRESIDENT", "USA", "GOV", "US"},
                 {"USA", "WASHINGTON", "USA", "", "US"},
                 {"RUS", "SOVIET UNION", "RUS", "", "RS"},
                 {"RUSGOV", "KREMLIN", "RUS", "GOV", "RS"},
                 {"CHN", "CHINA", "CHN", "", "CH"},
                 {"GBR", "BRITAIN", "GBR", "", "UK"},
                 {"FRA", "FRANCE", "FRA", "", "FR"},
                 {"ISR", "ISRAEL", "ISR", "", "IS"},
                 {"ISRMIL", "ISRAELI ARMY", "ISR", "MIL", "IS"},
                 {"EGY", "EGYPT", "EGY", "", "EG"},
                 {"IRN", "IRAN", "IRN", "", "IR"},
                 {"GMW", "WEST GERMANY", "", "", "GM"},
                 {"JPN", "JAPAN", "JPN", "", "JA"},
                 {"IND", "INDIA", "IND", "", "IN"},
                 {"LBN", "LEBANON", "LBN", "", "LE"},
                 {"SYR", "SYRIA", "SYR", "", "SY"},
                 {"IRQ", "IRAQ", "IRQ", "", "IZ"},
                 {"AFG", "AFGHANISTAN", "AFG", "", "AF"},
                 {"PAK", "PAKISTAN", "PAK", "", "PK"},
                 {"ZAF", "SOUTH AFRICA", "ZAF", "", "SF"},
                 {"NGA", "NIGERIA", "NGA", "", "NI"},
                 {"TUR", "TURKEY", "TUR", "", "TU"},
                 {"CAN", "CANADA", "CAN", "", "CA"},
                 {"POL", "POLAND", "POL", "", "PL"},
                 {"VNM", "VIETNAM", "VNM", "", "VM"},
                 {"KHM", "CAMBODIA", "KHM", "", "CB"},
                 {"NIC", "NICARAGUA", "NIC", "", "NU"},
                 {"ZWE", "RHODESIA", "ZWE", "", "ZI"},
                 {"SAU", "SAUDI ARABIA", "SAU", "", "SA"},
                 {"PSE", "PALESTINIAN", "PSE", "", "IS"},
                 {"ITA", "ITALY", "ITA", "", "IT"},
                 {"CUB", "CUBA", "CUB", "", "CU"},
                 {"KOR", "SOUTH KOREA", "KOR", "", "KS"},
                 {"PHL", "PHILIPPINES", "PHL", "", "RP"},
                 {"MEX", "MEXICO", "MEX", "", "MX"},
                 {"GOV", "GOVERNMENT", "", "GOV", ""},
                 {"GOV", "PRIME MINISTER", "", "GOV", ""},
                 {"COP", "POLICE", "", "COP", ""},
                 {"MIL", "SOLDIER", "", "MIL", ""},
                 {"CVL", "CIVILIAN", "", "CVL", ""},
                 {"BUS", "COMPANY", "", "BUS", ""},
                 {"MED", "NEWSPAPER", "", "MED", ""},
                 {"REB", "GUERRILLA", "", "REB", ""},
                 {"OPP", "OPPOSITION", "", "OPP", ""},
                 {"LAB", "WORKER", "", "LAB", ""},
                 {"JUD", "COURT", "", "JUD", ""},
                 {"LEG", "PARLIAMENT", "", "LEG", ""},
                 {"EDU", "STUDENT", "", "EDU", ""},
                 {"AGR", "FARMER", "", "AGR", ""}};
#define GS_NACTORS (sizeof(gs_actors) / sizeof(gs_actors[0]))

/* The tone's median by root code (01 ... 20): cooperation reads warmer
 * than conflict. */
static const double gs_root_tone[21] = {
    0,    0.5,  0.3,  1.3,  0.8,  1.6,  1.4,  1.8,  1.0,  -0.5, -1.0,
    -1.4, -1.3, -1.9, -1.6, -1.8, -1.6, -2.2, -2.5, -2.8, -3.0};

#define GS_TONE_BASE 4.0      /* calibrated: mean AvgTone near 5.1 */
#define GS_TONE_ARTICLES 0.72 /* per unit of log(NumArticles) */
#define GS_TONE_SHAPE 5.0     /* gamma noise with mean 1: cv 0.45 */
#define GS_TONE_ZERO 0.015    /* rows whose tone is exactly 0 */

/* ---- Row counts
 * -------------------------------------------------------------- */

static const double gs_zip_bytes[] = {14276482, 18619859, 22838639,
                                      25419330, 28508265, 29736457};

/* The year's zip size: measured to 1984, estimated after. */
static double zip_bytes(int year)
{
  if (year <= 1984)
    return gs_zip_bytes[year - GDELT_SYNTH_FIRST_YEAR];
  if (year <= 2005)
    return gs_zip_bytes[5] *
           pow(125.9e6 / gs_zip_bytes[5], (year - 1984) / 21.0);
  return 125.9e6 * pow(1.45, year - 2005);
}

long long gdelt_synth_rows(int year, double scale)
{
  double n;

  if (year < GDELT_SYNTH_FIRST_YEAR || year > GDELT_SYNTH_LAST_YEAR ||
      !(scale > 0))
    return 0;
  n = floor(zip_bytes(year) * GS_ROWS_PER_ZIP_BYTE * scale + 0.5);
  return n < 1 ? 1 : (long long)n;
}

double gdelt_synth_scale(void)
{
  const char *s = getenv("SAGERUN_GDELT_SCALE");
  char *end;
  double v;

  if (s == NULL || *s == '\0')
    return 1.0;
  v = strtod(s, &end);
  return *end == '\0' && v > 0 && v <= 1000 ? v : 1.0;
}

int gdelt_synth_key_year(const char *key)
{
  int year = 0, i;

  if (strncmp(key, "events/", 7) != 0 || strcmp(key + 11, ".csv") != 0)
    return 0;
  for (i = 7; i < 11; i++) {
    if (key[i] < '0' || key[i] > '9')
      return 0;
    year = year * 10 + (key[i] - '0');
  }
  return year >= GDELT_SYNTH_FIRST_YEAR && year <= GDELT_SYNTH_LAST_YEAR ? year
                                                                         : 0;
}

/* ---- Output
 * ------------------------------------------------------------------- */

struct gs_out {
  char *buf;
  size_t len;
  gdelt_synth_sink sink;
  void *arg;
  int rc;
};

static void out_flush(struct gs_out *o)
{
  if (o->rc == 0 && o->len > 0)
    o->rc = o->sink(o->arg, o->buf, o->len);
  o->len = 0;
}

static void out_str(struct gs_out *o, const char *s)
{
  size_t n = strlen(s);

  memcpy(o->buf + o->len, s, n);
  o->len += n;
}

static void out_chr(struct gs_out *o, char c)
{
  o->buf[o->len++] = c;
}

static void out_uint(struct gs_out *o, unsigned long long v)
{
  char tmp[24];
  int n = 0;

  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n)
    o->buf[o->len++] = tmp[--n];
}

/* x >= 0 with at most `decimals` decimals, trailing zeros (and a bare
 * point) dropped, as the files print numbers. */
static void out_fixed(struct gs_out *o, double x, int decimals)
{
  static const double pow10[] = {1e0, 1e1, 1e2, 1e3,  1e4,  1e5,  1e6,
                                 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13};
  unsigned long long scaled =
      (unsigned long long)floor(x * pow10[decimals] + 0.5);
  unsigned long long whole = scaled / (unsigned long long)pow10[decimals];
  unsigned long long frac = scaled % (unsigned long long)pow10[decimals];
  char digits[16];
  int i, n = decimals;

  out_uint(o, whole);
  if (frac == 0)
    return;
  for (i = decimals - 1; i >= 0; i--) {
    digits[i] = (char)('0' + frac % 10);
    frac /= 10;
  }
  while (n > 0 && digits[n - 1] == '0')
    n--;
  out_chr(o, '.');
  memcpy(o->buf + o->len, digits, (size_t)n);
  o->len += (size_t)n;
}

/* ---- The generator
 * -------------------------------------------------------------- */

struct gs_year {
  double cum[GS_NCODES]; /* cumulative code weights, normalised to 1 */
  int mdays[13];         /* days before each month */
  int days;
};

static int is_leap(int y)
{
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* A stable pseudo-random rank for the tail's codes. */
static uint32_t code_hash(const char *s)
{
  uint32_t h = 2166136261u;

  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

/* The year's code weights: the top 20's shares, a Zipf tail for the
 * others (ranked by a hash, not by code), and a little noise per year. */
static void year_weights(struct gs_year *y, int year, struct gs_rng *r)
{
  double w[GS_NCODES], sum3 = 0, sum4 = 0, total = 0;
  int rank3[GS_NCODES], rank4[GS_NCODES];
  size_t i, j;

  for (i = 0; i < GS_NCODES; i++) {
    /* Rank among the tail of the same length by hash order. */
    uint32_t hi = code_hash(gs_codes[i].code);

    rank3[i] = rank4[i] = 1;
    for (j = 0; j < GS_NCODES; j++)
      if (strlen(gs_codes[j].code) == strlen(gs_codes[i].code) &&
          code_hash(gs_codes[j].code) < hi) {
        rank3[i]++;
        rank4[i]++;
      }
  }
  for (i = 0; i < GS_NCODES; i++) {
    const char *c = gs_codes[i].code;
    int top = -1;

    for (j = 0; j < GS_NCODES_TOP; j++)
      if (strcmp(gs_top[j].code, c) == 0)
        top = (int)j;
    if (top >= 0)
      w[i] = 0;
    else if (strlen(c) == 3)
      sum3 += (w[i] = 1.0 / (rank3[i] + 4.0));
    /* Four-digit codes: three in eight are used, about 54. */
    else if (code_hash(c) % 8 < 3)
      sum4 += (w[i] = 1.0 / (rank4[i] + 2.0));
    else
      w[i] = 0;
  }
  for (i = 0; i < GS_NCODES; i++) {
    const char *c = gs_codes[i].code;

    for (j = 0; j < GS_NCODES_TOP; j++)
      if (strcmp(gs_top[j].code, c) == 0)
        w[i] = gs_top[j].share;
    if (strlen(c) == 3 && w[i] > 0 && w[i] < 1 && sum3 > 0)
      w[i] = w[i] / sum3 * GS_SHARE_TAIL3;
    else if (strlen(c) == 4 && w[i] > 0 && sum4 > 0)
      w[i] = w[i] / sum4 * GS_SHARE_TAIL4;
    w[i] *= exp(0.12 * rng_normal(r)); /* the year's own mix */
    total += w[i];
  }
  for (i = 0; i < GS_NCODES; i++) {
    y->cum[i] = (i ? y->cum[i - 1] : 0) + w[i] / total;
  }
  y->cum[GS_NCODES - 1] = 1.0;
  y->days = is_leap(year) ? 366 : 365;
  {
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int m;

    y->mdays[0] = 0;
    for (m = 0; m < 12; m++)
      y->mdays[m + 1] = y->mdays[m] + len[m] + (m == 1 && is_leap(year));
  }
}

static size_t pick_code(const struct gs_year *y, double u)
{
  size_t lo = 0, hi = GS_NCODES - 1;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;

    if (y->cum[mid] > u)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* NumArticles: some single articles, a log-normal body (median 4.5)
 * and a Pareto tail (5 %, from 18, capped at 1490 as the real maximum). */
static unsigned num_articles(struct gs_rng *r)
{
  double u = rng_uniform(r), x;

  if (u < 0.09)
    return 1;
  if (u < 0.14) {
    x = 18.0 * pow(1.0 - rng_uniform(r), -1.0 / 1.1);
    if (x > 1490)
      x = 1490;
  } else {
    x = exp(log(4.5) + 0.727 * rng_normal(r));
  }
  x = floor(x + 0.5);
  return x < 1 ? 1 : (unsigned)x;
}

static void out_actor(struct gs_out *o, const struct gs_actor *a)
{
  /* Code, Name, CountryCode, KnownGroup, Ethnic, Religion1, Religion2,
   * Type1, Type2, Type3. */
  if (a == NULL) {
    out_str(o, "\t\t\t\t\t\t\t\t\t\t");
    return;
  }
  out_str(o, a->code);
  out_chr(o, '\t');
  out_str(o, a->name);
  out_chr(o, '\t');
  out_str(o, a->country);
  out_str(o, "\t\t\t\t\t");
  out_str(o, a->type);
  out_str(o, "\t\t\t");
}

/* Geo columns: Type, FullName, CountryCode, ADM1Code, Lat, Long,
 * FeatureID. Missing geography is an empty type and name with 0, 0 and
 * a FeatureID of 0 (the action's FeatureID is empty). */
static void out_geo(struct gs_out *o, const struct gs_place *p, int action)
{
  if (p == NULL) {
    out_str(o, action ? "\t\t\t\t0\t0\t\t" : "\t\t\t\t0\t0\t0\t");
    return;
  }
  out_str(o, p->type);
  out_chr(o, '\t');
  out_str(o, p->name);
  out_chr(o, '\t');
  out_str(o, p->country);
  out_chr(o, '\t');
  out_str(o, p->adm1);
  out_chr(o, '\t');
  out_str(o, p->lat);
  out_chr(o, '\t');
  out_str(o, p->lon);
  out_chr(o, '\t');
  out_str(o, p->feature);
  out_chr(o, '\t');
}

/* A place for an actor: in its home country more often than not. */
static const struct gs_place *pick_place(struct gs_rng *r,
                                         const struct gs_actor *a)
{
  if (a && a->home[0] && rng_uniform(r) < 0.6) {
    size_t i, n = 0, k;

    for (i = 0; i < GS_NPLACES; i++)
      n += strcmp(gs_places[i].country, a->home) == 0;
    if (n > 0) {
      k = rng_below(r, (uint32_t)n);
      for (i = 0; i < GS_NPLACES; i++)
        if (strcmp(gs_places[i].country, a->home) == 0 && k-- == 0)
          return &gs_places[i];
    }
  }
  return &gs_places[rng_below(r, GS_NPLACES)];
}

int gdelt_synth_generate(int year, double scale, gdelt_synth_sink sink,
                         void *arg)
{
  long long rows = gdelt_synth_rows(year, scale), i;
  unsigned long long id;
  struct gs_rng r;
  struct gs_year *y;
  struct gs_out o;

  if (rows <= 0)
    return SR_EINVAL;
  y = malloc(sizeof(*y));
  o.buf = malloc(GS_CHUNK + 4096);
  if (y == NULL || o.buf == NULL) {
    free(y);
    free(o.buf);
    return SR_ENOMEM;
  }
  o.len = 0;
  o.sink = sink;
  o.arg = arg;
  o.rc = 0;
  rng_seed(&r, 0x6D656C7467ull * 131 + (uint64_t)year);
  year_weights(y, year, &r);
  /* IDs rise with gaps, as the backfile's do (1979 spans 0 to 230 M). */
  id = (unsigned long long)(year - GDELT_SYNTH_FIRST_YEAR) * 300000000ull;
  for (i = 0; i < rows && o.rc == 0; i++) {
    int day = (int)(i * y->days / rows), month = 0, mday;
    const struct gs_code *code = &gs_codes[pick_code(y, rng_uniform(&r))];
    int root = (code->code[0] - '0') * 10 + (code->code[1] - '0');
    int quad = root <= 5 ? 1 : root <= 9 ? 2 : root <= 14 ? 3 : 4;
    int a1_zero, a2_zero;
    const struct gs_actor *a1, *a2;
    const struct gs_place *g1, *g2, *ga;
    unsigned articles, mentions, sources;
    double tone, u;

    while (day >= y->mdays[month + 1])
      month++;
    mday = day - y->mdays[month] + 1;
    /* Geography: Actor1 missing in ~16 % of rows, Actor2 in ~38 %, and
     * rarely both. A missing place is often a missing actor. */
    a1_zero = rng_uniform(&r) < 0.159;
    a2_zero = rng_uniform(&r) < (a1_zero ? 0.08 : 0.441);
    a1 = &gs_actors[rng_below(&r, GS_NACTORS)];
    a2 = &gs_actors[rng_below(&r, GS_NACTORS)];
    if (a1_zero && rng_uniform(&r) < 0.7)
      a1 = NULL;
    if (a2_zero && rng_uniform(&r) < 0.6 && a1 != NULL)
      a2 = NULL;
    g1 = a1_zero ? NULL : pick_place(&r, a1);
    g2 = a2_zero ? NULL : pick_place(&r, a2);
    u = rng_uniform(&r);
    if (g1 && g2)
      ga = u < 0.5 ? g1 : g2;
    else if (g1 || g2)
      ga = g1 ? g1 : g2;
    else
      ga = u < 0.3 ? pick_place(&r, a1 ? a1 : a2) : NULL;
    articles = num_articles(&r);
    mentions = articles + (rng_uniform(&r) < 0.1 ? rng_below(&r, 4) + 1 : 0);
    sources = rng_uniform(&r) < 0.85 ? 1 : 1 + rng_below(&r, 3);
    if (sources > articles)
      sources = articles;
    tone = (GS_TONE_BASE + gs_root_tone[root] +
            GS_TONE_ARTICLES * log((double)articles)) *
           rng_gamma(&r, GS_TONE_SHAPE) / GS_TONE_SHAPE;
    if (tone < 0 || rng_uniform(&r) < GS_TONE_ZERO)
      tone = 0;

    id += 1 + rng_below(&r, 1070);
    out_uint(&o, id);
    out_chr(&o, '\t');
    out_uint(&o, (unsigned long long)(year * 10000 + (month + 1) * 100 + mday));
    out_chr(&o, '\t');
    out_uint(&o, (unsigned long long)(year * 100 + month + 1));
    out_chr(&o, '\t');
    out_uint(&o, (unsigned long long)year);
    out_chr(&o, '\t');
    out_fixed(&o, year + (month * 30 + mday) / 365.0, 4);
    out_chr(&o, '\t');
    out_actor(&o, a1);
    out_actor(&o, a2);
    out_str(&o, rng_uniform(&r) < 0.73 ? "1\t" : "0\t");
    out_str(&o, code->code);
    out_chr(&o, '\t');
    o.buf[o.len++] = code->code[0];
    o.buf[o.len++] = code->code[1];
    o.buf[o.len++] = code->code[2];
    out_chr(&o, '\t');
    o.buf[o.len++] = code->code[0];
    o.buf[o.len++] = code->code[1];
    out_chr(&o, '\t');
    out_uint(&o, (unsigned long long)quad);
    out_chr(&o, '\t');
    out_str(&o, code->goldstein);
    out_chr(&o, '\t');
    out_uint(&o, mentions);
    out_chr(&o, '\t');
    out_uint(&o, sources);
    out_chr(&o, '\t');
    out_uint(&o, articles);
    out_chr(&o, '\t');
    out_fixed(&o, tone, tone < 10 ? 13 : 12);
    out_chr(&o, '\t');
    out_geo(&o, g1, 0);
    out_geo(&o, g2, 0);
    out_geo(&o, ga, 1);
    u = rng_uniform(&r);
    out_str(&o, u < 0.96   ? "20130203\n"
                : u < 0.98 ? "20130205\n"
                           : "20130206\n");
    if (o.len >= GS_CHUNK)
      out_flush(&o);
  }
  out_flush(&o);
  free(y);
  free(o.buf);
  return o.rc;
}

/* ---- Into the object store
 * ------------------------------------------------------- */

static int write_to_store(void *arg, const void *data, size_t len)
{
  return s3store_writer_write(arg, data, len);
}

int local_gdelt_ensure(struct local_engine *e, int year)
{
  struct s3store *s = local_engine_s3(e);
  struct s3store_object o;
  struct s3store_writer *w = NULL;
  struct s3store_put put;
  double scale = gdelt_synth_scale();
  char key[32], scale_text[32], headers[160];
  int rc;

  if (gdelt_synth_rows(year, scale) <= 0)
    return SR_ENOENT;
  snprintf(key, sizeof(key), "events/%d.csv", year);
  snprintf(scale_text, sizeof(scale_text), "%.15g", scale);
  rc = s3store_object_get(s, LOCAL_GDELT_BUCKET, key, &o);
  if (rc == 0) {
    json_error_t jerr;
    json_t *h = o.headers ? json_loads(o.headers, 0, &jerr) : NULL;
    const char *made =
        json_string_value(json_object_get(h, "x-amz-meta-sagerun-synthetic"));
    const char *at =
        json_string_value(json_object_get(h, "x-amz-meta-sagerun-scale"));
    /* Real data, or synthetic at this scale: keep it. */
    int keep = made == NULL || (at && strcmp(at, scale_text) == 0);

    json_decref(h);
    s3store_object_free(&o);
    if (keep)
      return 0;
  } else if (rc != SR_ENOENT) {
    return rc;
  }
  local_engine_log(e, "gdelt: generating %s/%s at scale %s (%lld rows)",
                   LOCAL_GDELT_BUCKET, key, scale_text,
                   gdelt_synth_rows(year, scale));
  snprintf(headers, sizeof(headers),
           "{\"x-amz-meta-sagerun-synthetic\": \"gdelt-1\","
           " \"x-amz-meta-sagerun-scale\": \"%s\"}",
           scale_text);
  rc = s3store_bucket_ensure(s, LOCAL_GDELT_BUCKET, 1, local_engine_now(e));
  if (rc == 0)
    rc = s3store_writer_begin(s, &w);
  if (rc < 0)
    return rc;
  rc = gdelt_synth_generate(year, scale, write_to_store, w);
  if (rc < 0) {
    s3store_writer_abort(w);
    return rc;
  }
  put.content_type = "text/csv";
  put.headers = headers;
  return s3store_writer_commit(w, LOCAL_GDELT_BUCKET, key, &put,
                               local_engine_now(e), NULL);
}
