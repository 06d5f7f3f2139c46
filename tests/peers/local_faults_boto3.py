"""Reads the local engine's injected faults through boto3, for
tests/test-local-s3.c.

    local_faults_boto3.py ENDPOINT_URL DATA_DIR N

Sends N S3 ListBuckets and N SageMaker ListTrainingJobs with retries off
and prints each service's outcomes as one line of characters:

    s3: ..T.E.D...
    sagemaker: .T..D.E...

"." answered, "T" throttled as the service throttles (S3: 503 SlowDown;
SageMaker: 400 ThrottlingException), "E" a server error (S3: 500
InternalError; SageMaker: 500 InternalFailure), "D" connection closed
without an answer, "?" anything else (then the error is printed). Then,
with botocore's standard retries (10 attempts), a put and a get must go
through the same faults: "retried: ok". Exits 77 when boto3 is missing.
"""
import configparser
import os
import sys

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
except ImportError as e:
    print("boto3 not available: %s" % e)
    sys.exit(77)

THROTTLES = {("s3", 503, "SlowDown"),
             ("sagemaker", 400, "ThrottlingException")}
SERVER_ERRORS = {("s3", 500, "InternalError"),
                 ("sagemaker", 500, "InternalFailure")}


def outcome(service, fn):
    try:
        fn()
    except ClientError as e:
        key = (service, e.response["ResponseMetadata"]["HTTPStatusCode"],
               e.response["Error"]["Code"])
        if key in THROTTLES:
            return "T"
        if key in SERVER_ERRORS:
            return "E"
        print("unexpected: %r" % (key,))
        return "?"
    except (ConnectionError, HTTPClientError):
        return "D"
    return "."


def main():
    if len(sys.argv) != 4:
        print("usage: local_faults_boto3.py ENDPOINT_URL DATA_DIR N",
              file=sys.stderr)
        return 2
    endpoint, data_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cp = configparser.ConfigParser()
    cp.read(os.path.join(data_dir, "credentials"))
    creds = {"aws_access_key_id": cp["default"]["aws_access_key_id"],
             "aws_secret_access_key": cp["default"]["aws_secret_access_key"],
             "region_name": "us-east-1", "endpoint_url": endpoint}
    once = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    s3 = boto3.client("s3", config=once, **creds)
    sm = boto3.client("sagemaker", config=once, **creds)
    print("s3: " + "".join(outcome("s3", s3.list_buckets)
                           for _ in range(n)))
    print("sagemaker: " + "".join(outcome("sagemaker", sm.list_training_jobs)
                                  for _ in range(n)))
    patient = Config(retries={"total_max_attempts": 10, "mode": "standard"})
    s3 = boto3.client("s3", config=patient, **creds)
    s3.create_bucket(Bucket="faulty")
    s3.put_object(Bucket="faulty", Key="k", Body=b"through the faults")
    body = s3.get_object(Bucket="faulty", Key="k")["Body"].read()
    print("retried: %s" % ("ok" if body == b"through the faults" else body))
    return 0


if __name__ == "__main__":
    sys.exit(main())
