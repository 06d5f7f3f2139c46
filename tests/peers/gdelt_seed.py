#!/usr/bin/python3
"""The seed notebook's GDELT preparation, in pandas, as the oracle for
sagerun's gdelt.* steps (aws/amazon-sagemaker-examples,
advanced_functionality/data_distribution_types: get_gdelt, the crosstab of
EventCode, transform_gdelt, prepare_gdelt, write_numpy_to_dense_tensor).
Its quirks are kept on purpose: read_csv without header=None (the first
line is lost), EventCode parsed by pandas (as int64), get_dummies on the
codes present, NaN kept.

  gdelt_seed.py top FILE [--fixed]
      every EventCode with its count, most frequent first, as JSON
  gdelt_seed.py prepare FILE --events C1,C2,... --train OUT
                [--validation OUT] [--split 0.9] [--no-shuffle] [--fixed]
      writes RecordIO-protobuf as the seed does; prints JSON counts
  gdelt_seed.py profile FILE [--bins 30]
      describe(), 30-bin histograms and EventCode shares, as JSON
  gdelt_seed.py seed FILE --train OUT --validation OUT
      the notebook's own sequence, for the benchmark: read the year and
      take its top 20 codes (the exploration, kept in memory as the
      notebook keeps it), then prepare_gdelt, which reads the file again

--fixed applies the fixes sagerun makes by default and documents (for the
"differences are exactly the documented ones" check): no header line, each
line read by its own layout (57, 58 or 61 columns; others left out),
EventCode as text, one-hot against the given list in its order (named
EventCode=042), rows with a blank or non-numeric value in a used column
dropped, a blank lat/long pair treated as an unknown place like (0, 0).

Run with /usr/bin/python3 (Debian's python3-pandas and python3-protobuf).
The RecordIO writer below follows the SDK's _write_recordio; the Record
class comes from recordio_decode.py (built at run time, no protoc).
"""
import argparse
import io
import json
import os
import struct
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import recordio_decode  # noqa: E402

# GDELT's CSV.header.historical.txt: the 57 column names, in order.
HEADER = (
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
assert len(HEADER) == 57

SEVEN = ["EventCode", "NumArticles", "AvgTone", "Actor1Geo_Lat",
         "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long"]
GEO = ["Actor1Geo_Lat", "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long"]
MAGIC = 0xCED7230A


def layout_names(n):
    """Column names of a line with n fields: historical (57), daily (58:
    SOURCEURL), GDELT 2.0 (61: an ADM2Code after each ADM1Code); None for
    any other count."""
    if n == 57:
        return HEADER
    if n == 58:
        return HEADER + ["SOURCEURL"]
    if n == 61:
        names = list(HEADER)
        for geo in ("ActionGeo", "Actor2Geo", "Actor1Geo"):
            i = names.index(geo + "_ADM1Code")
            names.insert(i + 1, geo + "_ADM2Code")
        return names + ["SOURCEURL"]
    return None


def read_fixed(path):
    """Every line by its own layout, no header, values as text; lines of
    no layout are left out (sagerun counts them as malformed)."""
    rows = []
    with open(path, "rb") as f:
        for raw in f:
            line = raw.rstrip(b"\n").rstrip(b"\r")
            if not line:
                continue
            fields = line.decode("utf-8", "replace").split("\t")
            names = layout_names(len(fields))
            if names is None:
                continue
            d = dict(zip(names, fields))
            rows.append([d[c] for c in SEVEN])
    df = pd.DataFrame(rows, columns=SEVEN, dtype=object)
    for c in SEVEN[1:]:
        df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce")
    df["EventCode"] = df["EventCode"].replace("", np.nan)
    return df


def get_gdelt(path, fixed=False):
    if fixed:
        return read_fixed(path)
    df = pd.read_csv(path, sep="\t")
    df.columns = HEADER
    return df


def write_recordio(f, data):
    # The SDK's framing: magic, length, payload, zero padding to 4.
    f.write(struct.pack("I", MAGIC))
    f.write(struct.pack("I", len(data)))
    pad = (((len(data) + 3) >> 2) << 2) - len(data)
    f.write(data)
    f.write(b"\x00" * pad)


def write_numpy_to_dense_tensor(f, array, labels):
    Record = recordio_decode.Record
    for vector, label in zip(array, labels):
        record = Record()
        record.Clear()
        record.features["values"].float32_tensor.values.extend(vector)
        record.label["values"].float32_tensor.values.extend([label])
        write_recordio(f, record.SerializeToString())


def write_file(path, X, y):
    buf = io.BytesIO()
    write_numpy_to_dense_tensor(buf, X.astype("float32"), y.astype("float32"))
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def transform_gdelt(df, events=None):
    df = df[["AvgTone", "EventCode", "NumArticles", "Actor1Geo_Lat",
             "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long"]]
    df["EventCode"] = df["EventCode"].astype(object)
    if events is not None:
        df = df[np.in1d(df["EventCode"], events)]
    return pd.get_dummies(
        df[((df["Actor1Geo_Lat"] == 0) & (df["Actor1Geo_Long"] == 0) != True)
           & ((df["Actor2Geo_Lat"] == 0) & (df["Actor2Geo_Long"] == 0)
              != True)])


def transform_fixed(df, events):
    """The documented fixes on top of transform_gdelt."""
    df = df[["AvgTone", "EventCode", "NumArticles", "Actor1Geo_Lat",
             "Actor1Geo_Long", "Actor2Geo_Lat", "Actor2Geo_Long"]].copy()
    df = df[df["EventCode"].isin(events)]
    unknown = pd.Series(False, index=df.index)
    for lat, lon in (("Actor1Geo_Lat", "Actor1Geo_Long"),
                     ("Actor2Geo_Lat", "Actor2Geo_Long")):
        unknown |= (df[lat] == 0) & (df[lon] == 0)
        unknown |= df[lat].isna() & df[lon].isna()
    df = df[~unknown].dropna()
    df["EventCode"] = pd.Categorical(df["EventCode"], categories=events)
    # sagerun names the columns EventCode=042.
    return pd.get_dummies(df, prefix_sep="=")


def cmd_top(a):
    df = get_gdelt(a.file, a.fixed)
    data = df[SEVEN]
    data["EventCode"] = data["EventCode"].astype(object)
    counts = pd.crosstab(index=data["EventCode"], columns="count")
    counts = counts.sort_values(by="count", ascending=False)
    print(json.dumps({
        "rows": int(len(df)),
        "codes": [[str(c), int(n)] for c, n in
                  zip(counts.index, counts["count"])],
    }))
    return 0


def cmd_prepare(a):
    events = a.events.split(",")
    df = get_gdelt(a.file, a.fixed)
    if a.fixed:
        model_data = transform_fixed(df, events)
    else:
        # The seed's events come from its own crosstab, so they are
        # integers.
        model_data = transform_gdelt(df, [int(e) for e in events])
    if a.no_shuffle:
        array = model_data.to_numpy()
    else:
        array = model_data.sample(frac=1, random_state=1729).to_numpy()
    n_train = len(model_data) if a.split >= 1 else int(a.split * len(model_data))
    train_data, validation_data = np.split(array, [n_train])
    write_file(a.train, train_data[:, 1:], train_data[:, 0])
    if a.validation:
        write_file(a.validation, validation_data[:, 1:],
                   validation_data[:, 0])
    print(json.dumps({
        "rows_read": int(len(df)),
        "rows_kept": int(len(model_data)),
        "train_rows": int(len(train_data)),
        "validation_rows": int(len(validation_data)),
        "columns": [str(c) for c in model_data.columns[1:]],
    }))
    return 0


def cmd_profile(a):
    df = get_gdelt(a.file)
    data = df[SEVEN]
    data["EventCode"] = data["EventCode"].astype(object)
    shares = pd.crosstab(index=data["EventCode"], columns="% observations",
                         normalize="columns")
    desc = data.describe()
    out = {"rows": int(len(data)), "stats": {}, "histograms": {},
           "shares": {str(k): float(v) for k, v in
                      zip(shares.index, shares.iloc[:, 0])}}
    for col in desc.columns:
        d = desc[col]
        out["stats"][col] = {k: float(d[k]) for k in
                             ("count", "mean", "std", "min", "25%", "50%",
                              "75%", "max")}
        values = data[col].dropna().to_numpy()
        counts, edges = np.histogram(values, bins=a.bins)
        out["histograms"][col] = {"counts": [int(c) for c in counts],
                                  "edges": [float(e) for e in edges]}
    print(json.dumps(out))
    return 0


def cmd_seed(a):
    data = get_gdelt(a.file)
    data = data[SEVEN]
    data["EventCode"] = data["EventCode"].astype(object)
    events = (pd.crosstab(index=data["EventCode"], columns="count")
              .sort_values(by="count", ascending=False).index[:20])
    df = get_gdelt(a.file)
    model_data = transform_gdelt(df, events)
    train_data, validation_data = np.split(
        model_data.sample(frac=1, random_state=1729).to_numpy(),
        [int(0.9 * len(model_data))])
    write_file(a.train, train_data[:, 1:], train_data[:, 0])
    write_file(a.validation, validation_data[:, 1:], validation_data[:, 0])
    print(json.dumps({"rows_kept": int(len(model_data)),
                      "train_rows": int(len(train_data)),
                      "validation_rows": int(len(validation_data))}))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("top")
    t.add_argument("file")
    t.add_argument("--fixed", action="store_true")
    r = sub.add_parser("prepare")
    r.add_argument("file")
    r.add_argument("--events", required=True)
    r.add_argument("--train", required=True)
    r.add_argument("--validation")
    r.add_argument("--split", type=float, default=0.9)
    r.add_argument("--no-shuffle", action="store_true")
    r.add_argument("--fixed", action="store_true")
    f = sub.add_parser("profile")
    f.add_argument("file")
    f.add_argument("--bins", type=int, default=30)
    d = sub.add_parser("seed")
    d.add_argument("file")
    d.add_argument("--train", required=True)
    d.add_argument("--validation", required=True)
    a = p.parse_args()
    pd.options.mode.chained_assignment = None  # the seed's own warnings
    return {"top": cmd_top, "prepare": cmd_prepare,
            "profile": cmd_profile, "seed": cmd_seed}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
