#!/usr/bin/python3
"""Writes the dirty-input corpus for the gdelt tests (tests/test-gdelt.c)
and its EXPECTED counts. The rows are made up in GDELT's layouts; each
file's expected counts follow from how it is built, not from sagerun.

Counted under: events 010,042,043, label AvgTone, the seed's five
features, drop_zero_geo on, missing drop, layout auto. Columns of
EXPECTED: file rows_read malformed blank kept event_code zero_geo missing
historical daily v2.

  tests/data/gdelt-dirty/make-corpus.py   (from the repository root)
"""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
NAMES = (
    "GLOBALEVENTID SQLDATE MonthYear Year FractionDate "
    "Actor1Code Actor1Name Actor1CountryCode Actor1KnownGroupCode "
    "Actor1EthnicCode Actor1Religion1Code Actor1Religion2Code "
    "Actor1Type1Code Actor1Type2Code Actor1Type3Code "
    "Actor2Code Actor2Name Actor2CountryCode Actor2KnownGroupCode "
    "Actor2EthnicCode Actor2Religion1Code Actor2Religion2Code "
    "Actor2Type1Code Actor2Type2Code Actor2Type3Code "
    "IsRootEvent EventCode EventBaseCode EventRootCode QuadClass "
    "GoldsteinScale NumMentions NumSources NumArticles AvgTone "
    "Actor1Geo_Type Actor1Geo_FullName Actor1Geo_CountryCode "
    "Actor1Geo_ADM1Code Actor1Geo_Lat Actor1Geo_Long Actor1Geo_FeatureID "
    "Actor2Geo_Type Actor2Geo_FullName Actor2Geo_CountryCode "
    "Actor2Geo_ADM1Code Actor2Geo_Lat Actor2Geo_Long Actor2Geo_FeatureID "
    "ActionGeo_Type ActionGeo_FullName ActionGeo_CountryCode "
    "ActionGeo_ADM1Code ActionGeo_Lat ActionGeo_Long ActionGeo_FeatureID "
    "DATEADDED").split()

rng = random.Random(1979)
next_id = [100]


def row(layout="historical", **v):
    """One line (no newline) with the given columns set."""
    next_id[0] += 1
    d = {
        "GLOBALEVENTID": str(next_id[0]), "SQLDATE": "19790101",
        "MonthYear": "197901", "Year": "1979", "FractionDate": "1979.0027",
        "Actor1Code": "USA", "Actor1Name": "UNITED STATES",
        "Actor1CountryCode": "USA", "Actor2Code": "SOV",
        "Actor2Name": "SOVIET UNION", "Actor2CountryCode": "SOV",
        "IsRootEvent": "1", "EventCode": rng.choice(["010", "042", "043"]),
        "QuadClass": "1", "GoldsteinScale": "1.9", "NumMentions": "4",
        "NumSources": "1", "NumArticles": str(rng.randint(1, 20)),
        "AvgTone": "%.6g" % rng.uniform(0, 11),
        "Actor1Geo_Type": "4", "Actor1Geo_FullName": "Moscow, Russia",
        "Actor1Geo_CountryCode": "RS", "Actor1Geo_ADM1Code": "RS48",
        "Actor1Geo_Lat": "55.7522", "Actor1Geo_Long": "37.6156",
        "Actor1Geo_FeatureID": "-2960561",
        "Actor2Geo_Type": "1", "Actor2Geo_FullName": "United States",
        "Actor2Geo_CountryCode": "US", "Actor2Geo_ADM1Code": "US",
        "Actor2Geo_Lat": "38", "Actor2Geo_Long": "-97",
        "Actor2Geo_FeatureID": "0", "DATEADDED": "20130203",
    }
    d["EventBaseCode"] = d["EventCode"][:3]
    d["EventRootCode"] = d["EventCode"][:2]
    d.update(v)
    fields = [d.get(n, "") for n in NAMES]
    if layout in ("daily", "v2"):
        fields.append("http://example.com/story")
    if layout == "v2":
        # An ADM2Code after each ADM1Code.
        for name in ("ActionGeo_ADM1Code", "Actor2Geo_ADM1Code",
                     "Actor1Geo_ADM1Code"):
            i = NAMES.index(name)
            fields.insert(i + 1, d.get(name.replace("ADM1", "ADM2"), ""))
    return "\t".join(fields)


files = {}
expected = {}


def add(name, lines, sep="\n", end="\n", **counts):
    files[name] = (sep.join(lines) + (end if lines else "")).encode()
    c = dict(rows=0, malformed=0, blank=0, kept=0, event=0, geo=0,
             missing=0, historical=0, daily=0, v2=0)
    c.update(counts)
    expected[name] = c


good = [row() for _ in range(5)]
cut = row()
add("truncated.tsv", good[:3] + [cut[:len(cut) // 2]] + good[3:] +
    [row()[:40]], rows=7, malformed=2, kept=5, historical=5)

add("extra-fields.tsv",
    # A 57-column row plus one field is a well-formed daily row, so the
    # extra field goes on a daily row.
    [row(), row("daily") + "\textra", row() + "\ta\tb\tc", row(),
     row("daily") + "\tmore\tand\tmore\tstill", "\t" * 70],
    rows=6, malformed=4, kept=2, historical=2)

add("empty-fields.tsv", [
    row(AvgTone=""),                                     # missing
    row(NumArticles=""),                                 # missing
    row(EventCode=""),                                   # event_code
    row("daily", Actor1Geo_Lat="", Actor1Geo_Long=""),   # zero_geo
    row(Actor2Geo_Lat=""),                               # missing
    row(Actor1Geo_Lat="0", Actor1Geo_Long="0"),          # zero_geo
    row(Actor2Geo_Lat="0", Actor2Geo_Long="0"),          # zero_geo
    row(Actor1Geo_Lat="0"),                              # kept
    row(Actor1Geo_FullName="", ActionGeo_Lat=""),        # kept: unused
    row(),                                               # kept
], rows=10, kept=3, event=1, geo=3, missing=3, historical=9, daily=1)

add("crlf.tsv", [row() for _ in range(4)], sep="\r\n", end="\r\n",
    rows=4, kept=4, historical=4)

add("non-numeric.tsv", [
    row(AvgTone="abc"), row(NumArticles="1e999"), row(AvgTone="nan"),
    row(Actor1Geo_Long="4.5.6"), row(NumArticles=" 5"), row(AvgTone="-"),
    row(AvgTone="1e-3"), row(NumArticles="+7"), row(AvgTone=".5"),
    row(EventCode="abc"),
], rows=10, kept=3, missing=6, event=1, historical=10)

add("empty.tsv", [])

garbage = bytes(rng.randrange(256) for _ in range(3000))
garbage += b"\n\t\t\t\x00\xff\r\n" + bytes(range(256))
files["garbage.bin"] = garbage
n_lines = garbage.count(b"\n") + (0 if garbage.endswith(b"\n") else 1)
lines = garbage.split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
blank = sum(1 for ln in lines if ln in (b"", b"\r"))
expected["garbage.bin"] = dict(rows=len(lines) - blank, malformed=len(lines) -
                               blank, blank=blank, kept=0, event=0, geo=0,
                               missing=0, historical=0, daily=0, v2=0)

add("blank-lines.tsv", ["", row(), "", "", row(), "\r", row()], end="",
    rows=3, blank=4, kept=3, historical=3)

add("mixed-layouts.tsv", [
    row(), row("daily"), row("v2"), row("daily", EventCode="0211"),
    row("v2", Actor2Geo_Lat="0", Actor2Geo_Long="0"), row("daily"),
], rows=6, kept=4, event=1, geo=1, historical=1, daily=3, v2=2)

add("only-newlines.tsv", ["", "", ""], blank=3)

add("one-column.tsv", ["just one field", "another"], rows=2, malformed=2)

for name, data in files.items():
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)
with open(os.path.join(HERE, "EXPECTED"), "w") as f:
    f.write("# file rows_read malformed blank kept event_code zero_geo "
            "missing historical daily v2 (written by make-corpus.py)\n")
    for name in sorted(expected):
        c = expected[name]
        f.write("%s %d %d %d %d %d %d %d %d %d %d\n" % (
            name, c["rows"], c["malformed"], c["blank"], c["kept"],
            c["event"], c["geo"], c["missing"], c["historical"], c["daily"],
            c["v2"]))
