"""Signs requests with botocore's own SigV4 signers, for tests/test-sigv4.c.

    sigv4_botocore.py IN OUT

IN has one JSON object a line (written by the C test): mode ("header" or
"presign"), s3, service, region, method, host, path, query (the path and
query exactly as on the wire), headers ([[name, value], ...] in order,
repeats allowed), body_hex, access_key, secret_key, token (or null),
timestamp ("YYYYMMDDTHHMMSSZ") and, for presigning, expires.

OUT gets one JSON object a line, in the same order: the canonical request
and string to sign botocore computed, and the Authorization header plus
the X-Amz-* headers it set (header signing) or the query of the presigned
URL (presigning).

The signers are used as botocore uses them, through add_auth(); only the
clock is fixed (botocore.auth reads datetime.datetime.utcnow(), or
get_current_datetime() in later versions) and the
canonical request and string to sign are captured on their way through.
The URL is passed through unchanged: AWSRequest does not re-encode it and
the signers read urlsplit(request.url), so botocore signs exactly the path
and query the C side signs.

Exits 77 when botocore cannot be imported (the C test then skips).
"""
import binascii
import contextlib
import datetime
import json
import sys
import types
from unittest import mock

try:
    import botocore
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import urlsplit
    from botocore.credentials import Credentials
except ImportError as e:  # the C test reports this as a skip
    print("botocore not available: %s" % e)
    sys.exit(77)


class FixedClock(datetime.datetime):
    """datetime.datetime with utcnow() returning the time under test."""

    fixed = None

    @classmethod
    def utcnow(cls):
        return cls.fixed


def fixed_current_datetime(remove_tzinfo=True):
    if remove_tzinfo:
        return FixedClock.fixed
    return FixedClock.fixed.replace(tzinfo=datetime.timezone.utc)


class Capture:
    """Keeps the canonical request and string to sign add_auth() made."""

    captured_cr = None
    captured_sts = None

    def canonical_request(self, request):
        self.captured_cr = super().canonical_request(request)
        return self.captured_cr

    def string_to_sign(self, request, canonical_request):
        self.captured_sts = super().string_to_sign(request, canonical_request)
        return self.captured_sts


class HeaderV4(Capture, auth.SigV4Auth):
    pass


class HeaderS3(Capture, auth.S3SigV4Auth):
    pass


class QueryV4(Capture, auth.SigV4QueryAuth):
    pass


class QueryS3(Capture, auth.S3SigV4QueryAuth):
    pass


ADDED = ("X-Amz-Date", "X-Amz-Security-Token", "X-Amz-Content-SHA256")


def sign(job):
    FixedClock.fixed = datetime.datetime.strptime(
        job["timestamp"], "%Y%m%dT%H%M%SZ"
    )
    url = "https://" + job["host"] + job["path"]
    if job["query"]:
        url += "?" + job["query"]
    request = AWSRequest(
        method=job["method"], url=url, data=binascii.unhexlify(job["body_hex"])
    )
    for name, value in job["headers"]:
        request.headers[name] = value  # appends: repeats are kept
    creds = Credentials(job["access_key"], job["secret_key"], job["token"])
    if job["mode"] == "presign":
        cls = QueryS3 if job["s3"] else QueryV4
        signer = cls(creds, job["service"], job["region"], job["expires"])
    else:
        cls = HeaderS3 if job["s3"] else HeaderV4
        signer = cls(creds, job["service"], job["region"])
    signer.add_auth(request)
    if request.context["timestamp"] != job["timestamp"]:
        raise RuntimeError("the clock was not fixed: botocore read the time "
                           "some other way")
    out = {
        "id": job["id"],
        "canonical_request": signer.captured_cr,
        "string_to_sign": signer.captured_sts,
    }
    if job["mode"] == "presign":
        out["query"] = urlsplit(request.url).query
    else:
        out["authorization"] = request.headers["Authorization"]
        out["added"] = {
            k: request.headers[k] for k in ADDED if k in request.headers
        }
    return out


def main():
    if len(sys.argv) != 3:
        print("usage: sigv4_botocore.py IN OUT", file=sys.stderr)
        return 2
    n = 0
    with contextlib.ExitStack() as stack:
        # botocore 1.29 (Debian 12) reads datetime.datetime.utcnow();
        # later versions call get_current_datetime().
        stack.enter_context(
            mock.patch.object(
                auth, "datetime", types.SimpleNamespace(datetime=FixedClock)
            )
        )
        if hasattr(auth, "get_current_datetime"):
            stack.enter_context(
                mock.patch.object(
                    auth, "get_current_datetime", fixed_current_datetime
                )
            )
        fin = stack.enter_context(open(sys.argv[1], encoding="utf-8"))
        fout = stack.enter_context(open(sys.argv[2], "w", encoding="utf-8"))
        for line in fin:
            if line.strip():
                fout.write(json.dumps(sign(json.loads(line))) + "\n")
                n += 1
    print("botocore %s signed %d requests" % (botocore.__version__, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
