"""Checks every request of a `sagerun plan --json` against botocore's
service models (Debian python3-botocore): each JSON request's input, and
each REST request's parameters recovered from its URL, must pass
botocore's own parameter validation for that operation.

Usage: validate_plan.py PLAN_JSONL. Prints one line per request and a
closing count; exits 1 on any failure.
"""
import json
import sys
from urllib.parse import unquote, urlsplit

import botocore.session
from botocore.validate import ParamValidator

SERVICES = {"sagemaker": "sagemaker", "logs": "logs", "s3": "s3",
            "sagemaker-runtime": "sagemaker-runtime"}

session = botocore.session.get_session()
models = {}
validator = ParamValidator()


def model(service):
    if service not in models:
        models[service] = session.get_service_model(SERVICES[service])
    return models[service]


def rest_params(entry):
    """S3 and runtime parameters from the request line, path-style."""
    url = urlsplit(entry["url"])
    parts = url.path.lstrip("/").split("/", 1)
    if entry["service"] == "sagemaker-runtime":
        name = url.path.split("/")[2]
        return {"EndpointName": unquote(name), "Body": b"x",
                "ContentType": entry.get("Content-Type", "text/csv")}
    params = {"Bucket": parts[0]}
    if len(parts) > 1 and parts[1]:
        params["Key"] = unquote(parts[1])
    query = dict(q.split("=", 1) if "=" in q else (q, "")
                 for q in url.query.split("&") if q)
    op = entry["operation"]
    if op in ("UploadPart", "CompleteMultipartUpload",
              "AbortMultipartUpload"):
        params["UploadId"] = unquote(query.get("uploadId", "x"))
    if op == "UploadPart":
        params["PartNumber"] = int(query.get("partNumber", "1"))
    if op == "DeleteObjects":
        params["Delete"] = {"Objects": [{"Key": "k"}]}
    if op == "ListObjectsV2" and "prefix" in query:
        params["Prefix"] = unquote(query["prefix"])
    return params


failures = 0
count = 0
with open(sys.argv[1]) as f:
    for line in f:
        entry = json.loads(line)
        if entry.get("event") == "summary":
            continue
        count += 1
        op_model = model(entry["service"]).operation_model(entry["operation"])
        params = entry.get("input")
        if params is None:
            params = rest_params(entry)
        report = validator.validate(params, op_model.input_shape)
        if report.has_errors():
            failures += 1
            print("invalid:", entry["seq"], entry["step"], entry["operation"],
                  report.generate_report())
        else:
            print("valid:", entry["seq"], entry["step"], entry["operation"])
print("%d requests, %d invalid" % (count, failures))
sys.exit(1 if failures or count == 0 else 0)
