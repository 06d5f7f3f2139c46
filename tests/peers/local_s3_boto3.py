"""Drives the local engine's S3 with boto3, for tests/test-local-s3.c.

    local_s3_boto3.py ENDPOINT_URL DATA_DIR

ENDPOINT_URL is the engine (http://127.0.0.1:PORT); DATA_DIR its data
directory, whose credentials file (AWS shared-credentials format) holds
the key and secret. Each check prints "ok - NAME" or "not ok - NAME:
why"; the last line is "checks: N, failures: M". Exits 1 when a check
failed, 77 when boto3 cannot be imported (the C test then skips).

What is checked: requests signed with the wrong secret, a tampered body,
header or query, a skewed clock, and presigned URLs that expired or were
altered are refused with S3's codes; correct ones, presigned GET and PUT
included, pass; unsigned requests pass only for reads of the public
bucket; virtual-host addressing; Range; listings with delimiter and
pagination; copy; delete of many; multipart rules; Content-MD5; keys
that look like paths.

Retries are off (total_max_attempts 1) so every refusal is seen as sent. The
client's clock is moved by patching what botocore.auth reads, as
tests/peers/sigv4_botocore.py does.
"""
import base64
import configparser
import contextlib
import datetime
import hashlib
import os
import socket
import sys
import types
import urllib.error
import urllib.request
from unittest import mock

try:
    import boto3
    import botocore
    from botocore import UNSIGNED, auth
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as e:
    print("boto3 not available: %s" % e)
    sys.exit(77)
try:
    from botocore.crt import auth as crt_auth
except ImportError:
    crt_auth = None

ENDPOINT = sys.argv[1] if len(sys.argv) > 1 else ""
DATA_DIR = sys.argv[2] if len(sys.argv) > 2 else ""
REGION = "us-east-1"
BUCKET = "peer-bucket"
MIB = 1024 * 1024

results = []


def credentials():
    cp = configparser.ConfigParser()
    cp.read(os.path.join(DATA_DIR, "credentials"))
    return (cp["default"]["aws_access_key_id"],
            cp["default"]["aws_secret_access_key"])


KEY, SECRET = None, None


def client(endpoint=None, key=None, secret=None, **config):
    # s3v4 also for presigning: botocore 1.29 presigns S3 with SigV2 by
    # default, which S3 itself no longer takes in new regions.
    config.setdefault("signature_version", "s3v4")
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                 **config)
    return boto3.client(
        "s3", endpoint_url=endpoint or ENDPOINT, region_name=REGION,
        aws_access_key_id=key or KEY, aws_secret_access_key=secret or SECRET,
        config=cfg)


def error_of(fn, *args, **kwargs):
    """The ClientError's (status, code) fn raises, or None if it passes."""
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        return (e.response["ResponseMetadata"]["HTTPStatusCode"],
                e.response["Error"]["Code"])
    return None


def expect_error(status, code, fn, *args, **kwargs):
    got = error_of(fn, *args, **kwargs)
    if got != (status, code):
        raise AssertionError("expected %d %s, got %r" % (status, code, got))


CHECKS = []


def check(fn):
    """Registers fn as a check; they run in the order written."""
    CHECKS.append(fn)
    return fn


def run(fn):
    name = fn.__name__[len("check_"):]
    try:
        fn()
    except Exception as e:  # any failure is this check's
        results.append((name, "%s: %s" % (type(e).__name__, e)))
        print("not ok - %s: %s: %s" % (name, type(e).__name__, e))
    else:
        results.append((name, None))
        print("ok - %s" % name)
    sys.stdout.flush()


class ShiftedClock(datetime.datetime):
    shift = datetime.timedelta(0)

    @classmethod
    def utcnow(cls):
        return datetime.datetime.utcnow() + cls.shift


@contextlib.contextmanager
def clock_shifted(seconds):
    """botocore signs as if the time were now + seconds."""
    ShiftedClock.shift = datetime.timedelta(seconds=seconds)
    fake = types.SimpleNamespace(datetime=ShiftedClock,
                                 timezone=datetime.timezone)
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(auth, "datetime", fake))
        # With awscrt installed (Debian's python3-awscrt), botocore signs
        # S3 with the CRT's signer, which reads its own clock.
        if crt_auth is not None:
            stack.enter_context(mock.patch.object(crt_auth, "datetime", fake))
        if hasattr(auth, "get_current_datetime"):
            def shifted(remove_tzinfo=True):
                now = ShiftedClock.utcnow()
                if remove_tzinfo:
                    return now
                return now.replace(tzinfo=datetime.timezone.utc)
            stack.enter_context(mock.patch.object(
                auth, "get_current_datetime", shifted))
        yield


def http(method, url, data=None, headers=None):
    """(status, body) of a plain HTTP request (no signing)."""
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def before_send(s3, event, fn):
    """Registers fn(request) to alter a request after it was signed."""
    s3.meta.events.register("before-send.s3." + event, fn)


# --- the checks ---


@check
def check_create_bucket_and_put_get():
    s3 = client()
    s3.create_bucket(Bucket=BUCKET)
    expect_error(409, "BucketAlreadyOwnedByYou", s3.create_bucket,
                 Bucket=BUCKET)
    body = b"hello, local engine\n"
    r = s3.put_object(Bucket=BUCKET, Key="hello.txt", Body=body,
                      ContentType="text/plain", Metadata={"color": "red"})
    assert r["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), r["ETag"]
    g = s3.get_object(Bucket=BUCKET, Key="hello.txt")
    assert g["Body"].read() == body
    assert g["ContentType"] == "text/plain", g["ContentType"]
    assert g["Metadata"] == {"color": "red"}, g["Metadata"]
    assert g["ETag"] == r["ETag"]
    h = s3.head_object(Bucket=BUCKET, Key="hello.txt")
    assert h["ContentLength"] == len(body)


@check
def check_wrong_secret_refused():
    s3 = client(secret=SECRET[:-4] + "abcd")
    expect_error(403, "SignatureDoesNotMatch", s3.get_object, Bucket=BUCKET,
                 Key="hello.txt")
    expect_error(403, "SignatureDoesNotMatch", s3.put_object, Bucket=BUCKET,
                 Key="evil.txt", Body=b"x" * 3000)
    expect_error(403, "SignatureDoesNotMatch", s3.list_buckets)
    assert error_of(client().head_object, Bucket=BUCKET, Key="evil.txt") == \
        (404, "404")


@check
def check_unknown_access_key_refused():
    s3 = client(key="LKIAAAAAAAAAAAAAAAAA")
    expect_error(403, "InvalidAccessKeyId", s3.list_buckets)


@check
def check_tampered_body_refused():
    s3 = client()

    def tamper(request, **kwargs):
        body = request.body
        if hasattr(body, "read"):
            body = body.read()
        request.body = b"X" + body[1:]
    before_send(s3, "PutObject", tamper)
    expect_error(400, "XAmzContentSHA256Mismatch", s3.put_object,
                 Bucket=BUCKET, Key="tampered.txt", Body=b"original body")
    assert error_of(client().head_object, Bucket=BUCKET,
                    Key="tampered.txt") == (404, "404")


@check
def check_tampered_header_refused():
    s3 = client()

    def tamper(request, **kwargs):
        request.headers["x-amz-meta-color"] = "blue"
    before_send(s3, "PutObject", tamper)
    expect_error(403, "SignatureDoesNotMatch", s3.put_object, Bucket=BUCKET,
                 Key="tampered-header.txt", Body=b"x",
                 Metadata={"color": "red"})


@check
def check_tampered_query_refused():
    s3 = client()

    def tamper(request, **kwargs):
        request.url = request.url.replace("prefix=a", "prefix=b")
    before_send(s3, "ListObjectsV2", tamper)
    expect_error(403, "SignatureDoesNotMatch", s3.list_objects_v2,
                 Bucket=BUCKET, Prefix="a")


@check
def check_skewed_clock_refused():
    with clock_shifted(-20 * 60):
        expect_error(403, "RequestTimeTooSkewed", client().list_buckets)
    with clock_shifted(-5 * 60):
        client().list_buckets()


@check
def check_presigned_get_and_put():
    s3 = client()
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"},
        ExpiresIn=300)
    status, body = http("GET", url)
    assert status == 200 and body == b"hello, local engine\n", (status, body)
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": BUCKET, "Key": "presigned-put.txt"},
        ExpiresIn=300)
    status, body = http("PUT", url, data=b"put by url")
    assert status == 200, (status, body)
    got = s3.get_object(Bucket=BUCKET, Key="presigned-put.txt")["Body"].read()
    assert got == b"put by url", got


@check
def check_presigned_expired_refused():
    with clock_shifted(-2 * 3600):
        url = client().generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"},
            ExpiresIn=60)
    status, body = http("GET", url)
    assert status == 403, (status, body)
    assert b"<Code>AccessDenied</Code>" in body, body
    assert b"Request has expired" in body, body


@check
def check_sigv2_refused():
    url = client(signature_version="s3").generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"},
        ExpiresIn=300)
    status, body = http("GET", url)
    assert status == 400 and b"AWS4-HMAC-SHA256" in body, (status, body)


@check
def check_presigned_tampered_refused():
    url = client().generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": "hello.txt"},
        ExpiresIn=300)
    status, body = http("GET", url.replace("hello.txt", "presigned-put.txt"))
    assert status == 403, (status, body)
    assert b"SignatureDoesNotMatch" in body, body
    status, body = http("GET", url.replace("X-Amz-Expires=300",
                                           "X-Amz-Expires=600"))
    assert status == 403 and b"SignatureDoesNotMatch" in body, (status, body)


@check
def check_unsigned_only_for_public_reads():
    anon = client(signature_version=UNSIGNED)
    expect_error(403, "AccessDenied", anon.get_object, Bucket=BUCKET,
                 Key="hello.txt")
    expect_error(403, "AccessDenied", anon.list_objects_v2, Bucket=BUCKET)
    r = anon.list_objects_v2(Bucket="gdelt-open-data", MaxKeys=1)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    expect_error(403, "AccessDenied", anon.put_object,
                 Bucket="gdelt-open-data", Key="events/evil.csv", Body=b"x")
    status, _ = http("GET", ENDPOINT + "/" + BUCKET + "/hello.txt")
    assert status == 403, status


@check
def check_virtual_host_addressing():
    port = ENDPOINT.rsplit(":", 1)[1]
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)
    with mock.patch.object(socket, "getaddrinfo", resolve):
        s3 = client(endpoint="http://localhost:%s" % port,
                    s3={"addressing_style": "virtual"})
        seen = []
        s3.meta.events.register(
            "before-send.s3.*",
            lambda request, **kw: seen.append(request.url))
        s3.put_object(Bucket=BUCKET, Key="vhost/one.txt", Body=b"virtual")
        got = s3.get_object(Bucket=BUCKET, Key="vhost/one.txt")["Body"].read()
        keys = [o["Key"] for o in
                s3.list_objects_v2(Bucket=BUCKET, Prefix="vhost/")["Contents"]]
    assert got == b"virtual", got
    assert keys == ["vhost/one.txt"], keys
    assert all(u.startswith("http://%s.localhost:" % BUCKET) for u in seen), \
        seen


@check
def check_range():
    s3 = client()
    data = bytes(range(256)) * 4
    s3.put_object(Bucket=BUCKET, Key="range.bin", Body=data)
    r = s3.get_object(Bucket=BUCKET, Key="range.bin", Range="bytes=10-19")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert r["ContentRange"] == "bytes 10-19/1024", r["ContentRange"]
    assert r["Body"].read() == data[10:20]
    r = s3.get_object(Bucket=BUCKET, Key="range.bin", Range="bytes=-5")
    assert r["Body"].read() == data[-5:]
    r = s3.get_object(Bucket=BUCKET, Key="range.bin", Range="bytes=1000-")
    assert r["Body"].read() == data[1000:]
    expect_error(416, "InvalidRange", s3.get_object, Bucket=BUCKET,
                 Key="range.bin", Range="bytes=1024-")


@check
def check_listing():
    s3 = client()
    keys = ["list/a.txt", "list/b/1.txt", "list/b/2.txt", "list/c/1.txt",
            "list/d.txt", "list/e+f g.txt"]
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == \
        ["list/a.txt", "list/d.txt", "list/e+f g.txt"], r.get("Contents")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == \
        ["list/b/", "list/c/"], r.get("CommonPrefixes")
    assert r["KeyCount"] == 5 and not r["IsTruncated"], r
    # Pages of two, delimiter on: every item exactly once.
    seen, token = [], None
    while True:
        kw = {"Bucket": BUCKET, "Prefix": "list/", "Delimiter": "/",
              "MaxKeys": 2}
        if token:
            kw["ContinuationToken"] = token
        r = s3.list_objects_v2(**kw)
        seen += [o["Key"] for o in r.get("Contents", [])]
        seen += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        assert r["KeyCount"] <= 2
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert sorted(seen) == sorted(["list/a.txt", "list/b/", "list/c/",
                                   "list/d.txt", "list/e+f g.txt"]), seen
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", StartAfter="list/b")
    assert [o["Key"] for o in r["Contents"]][0] == "list/b/1.txt"
    pages = s3.get_paginator("list_objects").paginate(
        Bucket=BUCKET, Prefix="list/", PaginationConfig={"PageSize": 2})
    v1 = [o["Key"] for page in pages for o in page.get("Contents", [])]
    assert v1 == sorted(keys), v1


@check
def check_copy():
    s3 = client()
    r = s3.copy_object(Bucket=BUCKET, Key="copy.txt",
                       CopySource={"Bucket": BUCKET, "Key": "hello.txt"})
    src = s3.head_object(Bucket=BUCKET, Key="hello.txt")
    dst = s3.head_object(Bucket=BUCKET, Key="copy.txt")
    assert r["CopyObjectResult"]["ETag"] == src["ETag"]
    assert dst["Metadata"] == {"color": "red"}, dst["Metadata"]
    s3.copy_object(Bucket=BUCKET, Key="copy.txt", MetadataDirective="REPLACE",
                   CopySource={"Bucket": BUCKET, "Key": "copy.txt"},
                   Metadata={"color": "green"})
    assert s3.head_object(Bucket=BUCKET, Key="copy.txt")["Metadata"] == \
        {"color": "green"}
    expect_error(400, "InvalidRequest", s3.copy_object, Bucket=BUCKET,
                 Key="copy.txt", CopySource={"Bucket": BUCKET,
                                             "Key": "copy.txt"})
    expect_error(404, "NoSuchKey", s3.copy_object, Bucket=BUCKET,
                 Key="copy2.txt", CopySource={"Bucket": BUCKET,
                                              "Key": "missing"})


@check
def check_delete_objects():
    s3 = client()
    for i in range(5):
        s3.put_object(Bucket=BUCKET, Key="del/%d" % i, Body=b"x")
    r = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": "del/0"}, {"Key": "del/1"}, {"Key": "del/9"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == \
        ["del/0", "del/1", "del/9"], r
    r = s3.delete_objects(Bucket=BUCKET, Delete={
        "Objects": [{"Key": "del/2"}, {"Key": "del/3"}], "Quiet": True})
    assert "Deleted" not in r and "Errors" not in r, r
    left = [o["Key"] for o in
            s3.list_objects_v2(Bucket=BUCKET, Prefix="del/")["Contents"]]
    assert left == ["del/4"], left
    s3.delete_object(Bucket=BUCKET, Key="del/4")
    s3.delete_object(Bucket=BUCKET, Key="del/4")  # absent: still 204


@check
def check_multipart_rules():
    s3 = client()
    part1 = os.urandom(5 * MIB)
    part2 = b"tail of the object"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="mp.bin",
                                    ContentType="application/x-test")
    uid = up["UploadId"]
    e1 = s3.upload_part(Bucket=BUCKET, Key="mp.bin", UploadId=uid,
                        PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=BUCKET, Key="mp.bin", UploadId=uid,
                        PartNumber=2, Body=part2)["ETag"]
    parts = s3.list_parts(Bucket=BUCKET, Key="mp.bin", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == \
        [(1, len(part1)), (2, len(part2))], parts
    expect_error(400, "InvalidPartOrder", s3.complete_multipart_upload,
                 Bucket=BUCKET, Key="mp.bin", UploadId=uid,
                 MultipartUpload={"Parts": [
                     {"PartNumber": 2, "ETag": e2},
                     {"PartNumber": 1, "ETag": e1}]})
    expect_error(400, "InvalidPart", s3.complete_multipart_upload,
                 Bucket=BUCKET, Key="mp.bin", UploadId=uid,
                 MultipartUpload={"Parts": [
                     {"PartNumber": 1, "ETag": e2},
                     {"PartNumber": 2, "ETag": e2}]})
    small = s3.create_multipart_upload(Bucket=BUCKET, Key="small.bin")
    sid = small["UploadId"]
    s1 = s3.upload_part(Bucket=BUCKET, Key="small.bin", UploadId=sid,
                        PartNumber=1, Body=b"too small")["ETag"]
    s2 = s3.upload_part(Bucket=BUCKET, Key="small.bin", UploadId=sid,
                        PartNumber=2, Body=b"last")["ETag"]
    expect_error(400, "EntityTooSmall", s3.complete_multipart_upload,
                 Bucket=BUCKET, Key="small.bin", UploadId=sid,
                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": s1},
                                            {"PartNumber": 2, "ETag": s2}]})
    s3.abort_multipart_upload(Bucket=BUCKET, Key="small.bin", UploadId=sid)
    expect_error(404, "NoSuchUpload", s3.list_parts, Bucket=BUCKET,
                 Key="small.bin", UploadId=sid)
    r = s3.complete_multipart_upload(
        Bucket=BUCKET, Key="mp.bin", UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1},
                                   {"PartNumber": 2, "ETag": e2}]})
    md5s = hashlib.md5(part1).digest() + hashlib.md5(part2).digest()
    want = '"%s-2"' % hashlib.md5(md5s).hexdigest()
    assert r["ETag"] == want, (r["ETag"], want)
    g = s3.get_object(Bucket=BUCKET, Key="mp.bin")
    assert g["Body"].read() == part1 + part2
    assert g["ContentType"] == "application/x-test", g["ContentType"]
    expect_error(404, "NoSuchUpload", s3.upload_part, Bucket=BUCKET,
                 Key="mp.bin", UploadId=uid, PartNumber=3, Body=b"late")


@check
def check_content_md5():
    s3 = client()
    good = base64.b64encode(hashlib.md5(b"digest me").digest()).decode()
    s3.put_object(Bucket=BUCKET, Key="md5.txt", Body=b"digest me",
                  ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    expect_error(400, "BadDigest", s3.put_object, Bucket=BUCKET,
                 Key="md5-bad.txt", Body=b"digest me", ContentMD5=bad)
    expect_error(400, "InvalidDigest", s3.put_object, Bucket=BUCKET,
                 Key="md5-bad.txt", Body=b"digest me", ContentMD5="nope")
    assert error_of(s3.head_object, Bucket=BUCKET, Key="md5-bad.txt") == \
        (404, "404")


@check
def check_keys_that_look_like_paths():
    s3 = client()
    odd = ["../../escape.txt", "/absolute/key", "a/../../b", "sp ace",
           "ünïcødé/ключ", "percent%2F", "plus+sign", "dot/./x", "..",
           "trailing/"]
    for k in odd:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
    for k in odd:
        got = s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()
        assert got == k.encode(), (k, got)
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        listed |= {o["Key"] for o in page.get("Contents", [])}
    missing = [k for k in odd if k not in listed]
    assert not missing, missing
    expect_error(400, "KeyTooLongError", s3.put_object, Bucket=BUCKET,
                 Key="k" * 1025, Body=b"x")


@check
def check_errors():
    s3 = client()
    expect_error(404, "NoSuchKey", s3.get_object, Bucket=BUCKET,
                 Key="no-such-key")
    expect_error(404, "NoSuchBucket", s3.list_objects_v2,
                 Bucket="no-such-bucket")
    expect_error(400, "InvalidBucketName", s3.create_bucket, Bucket="Bad_Name")
    expect_error(409, "BucketNotEmpty", s3.delete_bucket, Bucket=BUCKET)
    s3.create_bucket(Bucket="empty-bucket")
    s3.head_bucket(Bucket="empty-bucket")
    s3.delete_bucket(Bucket="empty-bucket")
    assert error_of(s3.head_bucket, Bucket="empty-bucket") == (404, "404")


def main():
    global KEY, SECRET
    if len(sys.argv) != 3:
        print("usage: local_s3_boto3.py ENDPOINT_URL DATA_DIR",
              file=sys.stderr)
        return 2
    KEY, SECRET = credentials()
    print("boto3 %s, botocore %s" % (boto3.__version__, botocore.__version__))
    for fn in CHECKS:
        run(fn)
    failures = [name for name, why in results if why]
    print("checks: %d, failures: %d" % (len(results), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
