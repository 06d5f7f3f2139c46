#!/usr/bin/python3
"""An independent RecordIO-protobuf reader, for checking sagerun's.

It shares nothing with runner/recordio.c: the message classes are built at
run time with python3-protobuf (descriptor_pb2 + message_factory) from the
field list of the published record.proto, typed in again below, so no
protoc is needed; the framing follows dmlc-core's reader (length masked to
29 bits, split records joined with the magic between parts).

  recordio_decode.py dump FILE          one JSON object per record
  recordio_decode.py rows FILE...       rows as JSON [label, features]
  recordio_decode.py same-multiset A1[,A2..] B1[,B2..]
                                        exit 0 when the files on each side
                                        hold the same rows, in any order
  recordio_decode.py same-bytes A B     exit 0 when A and B are identical

Run with /usr/bin/python3 (Debian's python3-protobuf).
"""
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool

try:
    from google.protobuf import message_factory
except ImportError:  # pragma: no cover
    message_factory = None

MAGIC = 0xCED7230A

F = descriptor_pb2.FieldDescriptorProto


def _field(msg, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None,
           packed=False, oneof=None):
    f = msg.field.add()
    f.name = name
    f.number = number
    f.type = ftype
    f.label = label
    if type_name:
        f.type_name = type_name
    if packed:
        f.options.packed = True
    if oneof is not None:
        f.oneof_index = oneof
    return f


def _build_file():
    fd = descriptor_pb2.FileDescriptorProto()
    fd.name = "sagerun_peer_record.proto"
    fd.package = "aialgs.data"
    fd.syntax = "proto2"
    rep = F.LABEL_REPEATED
    for name, vtype in (("Float32Tensor", F.TYPE_FLOAT),
                        ("Float64Tensor", F.TYPE_DOUBLE),
                        ("Int32Tensor", F.TYPE_INT32)):
        m = fd.message_type.add()
        m.name = name
        _field(m, "values", 1, vtype, rep, packed=True)
        _field(m, "keys", 2, F.TYPE_UINT64, rep, packed=True)
        _field(m, "shape", 3, F.TYPE_UINT64, rep, packed=True)
    m = fd.message_type.add()
    m.name = "Bytes"
    _field(m, "value", 1, F.TYPE_BYTES, rep)
    _field(m, "content_type", 2, F.TYPE_STRING)
    m = fd.message_type.add()
    m.name = "Value"
    m.oneof_decl.add().name = "value"
    _field(m, "float32_tensor", 2, F.TYPE_MESSAGE,
           type_name=".aialgs.data.Float32Tensor", oneof=0)
    _field(m, "float64_tensor", 3, F.TYPE_MESSAGE,
           type_name=".aialgs.data.Float64Tensor", oneof=0)
    _field(m, "int32_tensor", 7, F.TYPE_MESSAGE,
           type_name=".aialgs.data.Int32Tensor", oneof=0)
    _field(m, "bytes", 9, F.TYPE_MESSAGE, type_name=".aialgs.data.Bytes",
           oneof=0)
    m = fd.message_type.add()
    m.name = "Record"
    # map<string, Value> is a repeated nested *Entry message with the
    # map_entry option, which is exactly what protoc would emit.
    for entry, field, number in (("FeaturesEntry", "features", 1),
                                 ("LabelEntry", "label", 2)):
        e = m.nested_type.add()
        e.name = entry
        e.options.map_entry = True
        _field(e, "key", 1, F.TYPE_STRING)
        _field(e, "value", 2, F.TYPE_MESSAGE,
               type_name=".aialgs.data.Value")
        _field(m, field, number, F.TYPE_MESSAGE, rep,
               type_name=".aialgs.data.Record." + entry)
    _field(m, "uid", 3, F.TYPE_STRING)
    _field(m, "metadata", 4, F.TYPE_STRING)
    _field(m, "configuration", 5, F.TYPE_STRING)
    return fd


def _classes():
    fd = _build_file()
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    names = ("Float32Tensor", "Float64Tensor", "Int32Tensor", "Bytes",
             "Value", "Record")
    out = {}
    for n in names:
        desc = pool.FindMessageTypeByName("aialgs.data." + n)
        if hasattr(message_factory, "GetMessageClass"):
            out[n] = message_factory.GetMessageClass(desc)
        else:
            out[n] = message_factory.MessageFactory(pool).GetPrototype(desc)
    return out


CLASSES = _classes()
Record = CLASSES["Record"]


def read_records(data):
    """Yields each record's payload (bytes); raises ValueError on bad
    framing."""
    pos = 0
    n = len(data)
    while pos < n:
        parts = []
        while True:
            if pos + 8 > n:
                raise ValueError("truncated header at %d" % pos)
            magic, lrec = struct.unpack_from("<II", data, pos)
            if magic != MAGIC:
                raise ValueError("bad magic at %d" % pos)
            cflag = lrec >> 29
            length = lrec & ((1 << 29) - 1)
            pos += 8
            if pos + length > n:
                raise ValueError("truncated record at %d" % pos)
            parts.append(data[pos:pos + length])
            pos += (length + 3) & ~3
            if cflag in (0, 3):
                break
        yield struct.pack("<I", MAGIC).join(parts)


def _tensor(value):
    kind = value.WhichOneof("value")
    if kind is None or kind == "bytes":
        return None
    t = getattr(value, kind)
    return {"type": kind, "values": list(t.values), "keys": list(t.keys),
            "shape": list(t.shape)}


def decode(payload):
    rec = Record()
    rec.ParseFromString(payload)
    feats = rec.features["values"] if "values" in rec.features else None
    label = rec.label["values"] if "values" in rec.label else None
    return {"features": _tensor(feats) if feats is not None else None,
            "label": _tensor(label) if label is not None else None}


def _f32_bits(x):
    """Bit pattern of a float32 value, NaNs folded into one."""
    if x != x:
        return 0x7FC00000
    return struct.unpack("<I", struct.pack("<f", x))[0]


def rows_of(path):
    with open(path, "rb") as f:
        data = f.read()
    out = []
    for payload in read_records(data):
        d = decode(payload)
        feats = d["features"]
        if feats is None:
            raise ValueError("%s: a record without features" % path)
        if feats["keys"]:
            dim = feats["shape"][0]
            dense = [0.0] * dim
            for k, v in zip(feats["keys"], feats["values"]):
                dense[k] = v
        else:
            dense = feats["values"]
        label = d["label"]["values"] if d["label"] else []
        out.append((tuple(_f32_bits(v) for v in label),
                    tuple(_f32_bits(v) for v in dense)))
    return out


def main(argv):
    if len(argv) >= 3 and argv[1] == "dump":
        with open(argv[2], "rb") as f:
            data = f.read()
        for payload in read_records(data):
            print(json.dumps(decode(payload)))
        return 0
    if len(argv) >= 3 and argv[1] == "rows":
        for path in argv[2:]:
            for label, feats in rows_of(path):
                print(json.dumps([
                    [struct.unpack("<f", struct.pack("<I", b))[0]
                     for b in label],
                    [struct.unpack("<f", struct.pack("<I", b))[0]
                     for b in feats]]))
        return 0
    if len(argv) == 4 and argv[1] == "same-multiset":
        a = sorted(r for p in argv[2].split(",") for r in rows_of(p))
        b = sorted(r for p in argv[3].split(",") for r in rows_of(p))
        if a == b:
            print("same multiset: %d rows" % len(a))
            return 0
        sa, sb = set(a), set(b)
        print("differ: %d rows vs %d; %d only left, %d only right"
              % (len(a), len(b), len(sa - sb), len(sb - sa)))
        for r in list(sa - sb)[:3]:
            print("only left:", r)
        for r in list(sb - sa)[:3]:
            print("only right:", r)
        return 1
    if len(argv) == 4 and argv[1] == "same-bytes":
        with open(argv[2], "rb") as f:
            a = f.read()
        with open(argv[3], "rb") as f:
            b = f.read()
        if a == b:
            print("same bytes: %d" % len(a))
            return 0
        i = next((i for i in range(min(len(a), len(b))) if a[i] != b[i]),
                 min(len(a), len(b)))
        print("differ at byte %d (sizes %d, %d)" % (i, len(a), len(b)))
        return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
