"""Drives the local engine's SageMaker, CloudWatch Logs and SageMaker
Runtime with clients nobody here wrote, for tests/test-local-peers.c.

    local_sagemaker_clients.py cli|boto3 ENDPOINT_URL

The environment carries the engine's credentials (AWS_ACCESS_KEY_ID ...)
and nothing else of this machine's AWS configuration; the engine runs
with SAGERUN_LOCAL_MAX_TRAINING_INSTANCES=12, a launch delay and a small
SAGERUN_GDELT_SCALE, and SAGERUN_TEST_GDELT_ROWS_<YEAR> says how many rows
the synthetic GDELT files of 1980 and 1981 have at that scale.

cli:   /usr/bin/aws (Debian awscli 2.9): sagemaker create / describe /
       list / stop training job; create / describe / delete model,
       endpoint config and endpoint; logs describe-log-streams and
       get-log-events; sagemaker-runtime invoke-endpoint on a missing
       endpoint.
boto3: Debian python3-boto3: the waiters training_job_completed_or_stopped
       (a failing job must be reported as a failure, a stopped one as a
       success), endpoint_in_service (fails) and endpoint_deleted; the
       shapes botocore parses (timestamps, lists, modeled exceptions);
       paginators; GetLogEvents' end-of-stream token; Runtime's errors.

Each check prints "ok - NAME" or "not ok - NAME: why"; the last line is
"checks: N, failures: M". Exits 1 when a check failed, 77 when the
client is missing (the C test then skips).

The engine runs with SAGERUN_LOCAL_LAUNCH_SECONDS: jobs stay in Starting
that long before their run starts (600 s for the CLI, which stops a job
in that time; 2 s for boto3, whose waiters then see the runs fail: these
jobs have no data, or an image the engine cannot run). The endpoints'
models have no artifact, so hosting fails them.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
ENDPOINT = sys.argv[2] if len(sys.argv) > 2 else ""
AWS = "/usr/bin/aws"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
LL = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
XGB = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.5-1"
GROUP = "/aws/sagemaker/TrainingJobs"

results = []


def check(name, cond, why=""):
    results.append((name, bool(cond), why))
    print(("ok - %s" % name) if cond else ("not ok - %s: %s" % (name, why)))
    sys.stdout.flush()


def job_request(name, image=XGB, instances=1):
    req = {
        "TrainingJobName": name,
        "AlgorithmSpecification": {"TrainingImage": image,
                                   "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": {"feature_dim": "25",
                            "predictor_type": "regressor"},
        "InputDataConfig": [{
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://bucket/train/",
                "S3DataDistributionType": "ShardedByS3Key"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out/"},
        "ResourceConfig": {"InstanceType": "ml.c4.2xlarge",
                           "InstanceCount": instances,
                           "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    return req


# ---- AWS CLI ---------------------------------------------------------------


def aws(*args, expect_ok=True):
    """Runs the CLI; returns (exit status, parsed stdout or None, stderr)."""
    cmd = [AWS, "--endpoint-url", ENDPOINT, "--output", "json",
           "--no-cli-pager"] + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    out = None
    if p.stdout.strip():
        try:
            out = json.loads(p.stdout)
        except ValueError:
            out = p.stdout
    return p.returncode, out, p.stderr


def cli_checks():
    account = None

    rc, out, err = aws("sagemaker", "create-training-job", "--cli-input-json",
                       json.dumps(job_request("cli-job")))
    check("cli create-training-job", rc == 0 and "TrainingJobArn" in out,
          err)
    if rc == 0:
        arn = out["TrainingJobArn"]
        account = arn.split(":")[4]
        check("cli training job arn",
              arn == "arn:aws:sagemaker:us-east-1:%s:training-job/cli-job"
              % account, arn)
    rc, out, err = aws("sagemaker", "describe-training-job",
                       "--training-job-name", "cli-job")
    check("cli describe-training-job",
          rc == 0 and out["TrainingJobStatus"] == "InProgress"
          and out["SecondaryStatus"] == "Starting"
          and out["ResourceConfig"]["InstanceCount"] == 1
          and out["SecondaryStatusTransitions"][0]["Status"] == "Starting",
          err or out)
    rc, out, err = aws("sagemaker", "list-training-jobs", "--name-contains",
                       "cli-", "--status-equals", "InProgress")
    check("cli list-training-jobs",
          rc == 0 and [j["TrainingJobName"]
                       for j in out["TrainingJobSummaries"]] == ["cli-job"],
          err or out)
    rc, out, err = aws("sagemaker", "stop-training-job",
                       "--training-job-name", "cli-job")
    check("cli stop-training-job", rc == 0, err)
    status = None
    for _ in range(600):
        rc, out, err = aws("sagemaker", "describe-training-job",
                           "--training-job-name", "cli-job")
        status = out["TrainingJobStatus"] if rc == 0 else err
        if status not in ("InProgress", "Stopping"):
            break
        time.sleep(0.1)
    check("cli stopped job ends Stopped", status == "Stopped", status)
    rc, out, err = aws("sagemaker", "stop-training-job",
                       "--training-job-name", "cli-job")
    check("cli stop of a stopped job",
          rc != 0 and "(ValidationException)" in err
          and "in status Stopped" in err, err)

    bad = job_request("bad_name")
    rc, out, err = aws("sagemaker", "create-training-job", "--cli-input-json",
                       json.dumps(bad))
    check("cli create-training-job bad name",
          rc != 0 and "(ValidationException)" in err
          and "Value 'bad_name' at 'trainingJobName' failed to satisfy "
              "constraint" in err, err)
    rc, out, err = aws("sagemaker", "describe-training-job",
                       "--training-job-name", "no-such-job")
    check("cli describe missing job",
          rc != 0 and "(ValidationException)" in err
          and "Requested resource not found." in err, err)

    rc, out, err = aws("sagemaker", "create-model", "--model-name", "cli-model",
                       "--execution-role-arn", ROLE, "--primary-container",
                       json.dumps({"Image": LL, "ModelDataUrl":
                                   "s3://bucket/out/j/output/model.tar.gz"}))
    check("cli create-model", rc == 0 and out["ModelArn"].endswith(
        ":model/cli-model"), err or out)
    rc, out, err = aws("sagemaker", "describe-model", "--model-name",
                       "cli-model")
    check("cli describe-model", rc == 0 and out["PrimaryContainer"]["Image"]
          == LL, err or out)
    rc, out, err = aws("sagemaker", "create-endpoint-config",
                       "--endpoint-config-name", "cli-config",
                       "--production-variants", json.dumps([{
                           "VariantName": "AllTraffic",
                           "ModelName": "cli-model",
                           "InstanceType": "ml.m4.xlarge",
                           "InitialInstanceCount": 1}]))
    check("cli create-endpoint-config", rc == 0, err)
    rc, out, err = aws("sagemaker", "describe-endpoint-config",
                       "--endpoint-config-name", "cli-config")
    check("cli describe-endpoint-config",
          rc == 0 and out["ProductionVariants"][0]["ModelName"]
          == "cli-model", err or out)
    rc, out, err = aws("sagemaker", "create-endpoint", "--endpoint-name",
                       "cli-endpoint", "--endpoint-config-name", "cli-config")
    check("cli create-endpoint", rc == 0 and out["EndpointArn"].endswith(
        ":endpoint/cli-endpoint"), err or out)
    rc, out, err = aws("sagemaker", "describe-endpoint", "--endpoint-name",
                       "cli-endpoint")
    check("cli describe-endpoint",
          rc == 0 and out["EndpointStatus"] in ("Creating", "Failed"),
          err or out)
    rc, out, err = aws("sagemaker", "delete-endpoint", "--endpoint-name",
                       "cli-endpoint")
    check("cli delete-endpoint", rc == 0, err)
    for _ in range(600):
        rc, out, err = aws("sagemaker", "describe-endpoint",
                           "--endpoint-name", "cli-endpoint")
        if rc != 0:
            break
        time.sleep(0.1)
    check("cli deleted endpoint is not found",
          rc != 0 and "(ValidationException)" in err
          and "Could not find endpoint" in err, err)
    rc, out, err = aws("sagemaker", "delete-endpoint-config",
                       "--endpoint-config-name", "cli-config")
    check("cli delete-endpoint-config", rc == 0, err)
    rc, out, err = aws("sagemaker", "delete-model", "--model-name",
                       "cli-model")
    check("cli delete-model", rc == 0, err)
    rc, out, err = aws("sagemaker", "describe-model", "--model-name",
                       "cli-model")
    check("cli describe deleted model",
          rc != 0 and "Could not find model" in err, err)

    # Logs as SageMaker writes them: JOB/algo-N-EPOCHSECONDS.
    stream = "cli-job/algo-1-1700000000"
    now = int(time.time() * 1000)
    rc, _, err = aws("logs", "create-log-group", "--log-group-name", GROUP)
    check("cli logs create-log-group",
          rc == 0 or "ResourceAlreadyExistsException" in err, err)
    rc, _, err = aws("logs", "create-log-stream", "--log-group-name", GROUP,
                     "--log-stream-name", stream)
    check("cli logs create-log-stream", rc == 0, err)
    events = [{"timestamp": now + i, "message": "line %d" % i}
              for i in range(5)]
    rc, _, err = aws("logs", "put-log-events", "--log-group-name", GROUP,
                     "--log-stream-name", stream, "--log-events",
                     json.dumps(events))
    check("cli logs put-log-events", rc == 0, err)
    rc, out, err = aws("logs", "describe-log-streams", "--log-group-name",
                       GROUP, "--log-stream-name-prefix", "cli-job/",
                       "--order-by", "LogStreamName")
    check("cli logs describe-log-streams",
          rc == 0 and [s["logStreamName"] for s in out["logStreams"]]
          == [stream] and out["logStreams"][0]["lastEventTimestamp"]
          == now + 4, err or out)
    rc, out, err = aws("logs", "get-log-events", "--log-group-name", GROUP,
                       "--log-stream-name", stream, "--start-from-head")
    check("cli logs get-log-events",
          rc == 0 and [e["message"] for e in out["events"]]
          == ["line %d" % i for i in range(5)]
          and out["nextForwardToken"].startswith("f/"), err or out)

    # The public GDELT bucket, anonymously, as the notebook reads it.
    rows = int(os.environ.get("SAGERUN_TEST_GDELT_ROWS_1980", "0"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "1980.csv")
        rc, out, err = aws("s3", "cp", "--no-sign-request",
                           "s3://gdelt-open-data/events/1980.csv", path)
        lines = open(path).read().splitlines() if rc == 0 else []
    check("cli s3 cp of the synthetic GDELT 1980",
          rc == 0 and len(lines) == rows
          and all(len(l.split("\t")) == 57 for l in lines)
          and all(l.split("\t")[3] == "1980" for l in lines),
          err or "%d lines, expected %d" % (len(lines), rows))

    with tempfile.TemporaryDirectory() as d:
        rc, out, err = aws("sagemaker-runtime", "invoke-endpoint",
                           "--cli-binary-format", "raw-in-base64-out",
                           "--endpoint-name", "nope", "--content-type",
                           "text/csv", "--body", "1,2,3",
                           os.path.join(d, "out.json"))
    check("cli invoke-endpoint on a missing endpoint",
          rc != 0 and "(ValidationError)" in err
          and "Endpoint nope of account %s not found." % account in err, err)


# ---- boto3 -----------------------------------------------------------------


def boto3_checks():
    import boto3
    import botocore
    from botocore.config import Config
    from botocore.exceptions import ClientError, WaiterError

    cfg = Config(retries={"max_attempts": 1, "mode": "standard"})
    sm = boto3.client("sagemaker", endpoint_url=ENDPOINT,
                      region_name="us-east-1", config=cfg)
    logs = boto3.client("logs", endpoint_url=ENDPOINT,
                        region_name="us-east-1", config=cfg)
    rt = boto3.client("sagemaker-runtime", endpoint_url=ENDPOINT,
                      region_name="us-east-1", config=cfg)
    fast = {"Delay": 1, "MaxAttempts": 120}

    # A job that fails: the waiter must report the failure.
    sm.create_training_job(**job_request("b3-fails", image=XGB))
    try:
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="b3-fails", WaiterConfig=fast)
        check("waiter reports a failed job", False, "the waiter succeeded")
    except WaiterError as e:
        last = e.last_response
        check("waiter reports a failed job",
              "terminal failure state" in str(e)
              and last.get("TrainingJobStatus") == "Failed"
              and "sagemaker-xgboost" in last.get("FailureReason", ""),
              str(e))
    d = sm.describe_training_job(TrainingJobName="b3-fails")
    import datetime
    check("describe shapes",
          isinstance(d["CreationTime"], datetime.datetime)
          and isinstance(d["LastModifiedTime"], datetime.datetime)
          and isinstance(d["SecondaryStatusTransitions"][0]["StartTime"],
                         datetime.datetime)
          and d["SecondaryStatusTransitions"][-1]["Status"] == "Failed"
          and d["ModelArtifacts"]["S3ModelArtifacts"]
          == "s3://bucket/out/b3-fails/output/model.tar.gz"
          and d["StoppingCondition"]["MaxRuntimeInSeconds"] == 3600
          and d["HyperParameters"]["feature_dim"] == "25", d)

    # A stopped job: Stopped is one of the waiter's successes.
    sm.create_training_job(**job_request("b3-stopped", image=LL))
    sm.stop_training_job(TrainingJobName="b3-stopped")
    try:
        sm.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName="b3-stopped", WaiterConfig=fast)
        d = sm.describe_training_job(TrainingJobName="b3-stopped")
        check("waiter accepts a stopped job",
              d["TrainingJobStatus"] == "Stopped", d)
    except WaiterError as e:
        check("waiter accepts a stopped job", False, str(e))

    try:
        sm.create_training_job(**job_request("B3-FAILS"))
        check("ResourceInUse for a taken name", False, "created")
    except sm.exceptions.ResourceInUse as e:
        check("ResourceInUse for a taken name",
              "already exists" in str(e), str(e))
    try:
        sm.create_training_job(**job_request("b3-big", instances=13))
        check("ResourceLimitExceeded over the quota", False, "created")
    except sm.exceptions.ResourceLimitExceeded as e:
        check("ResourceLimitExceeded over the quota",
              "is 12 Instances" in str(e), str(e))
    try:
        sm.describe_training_job(TrainingJobName="b3-none")
        check("missing job is ValidationException", False, "found")
    except ClientError as e:
        check("missing job is ValidationException",
              e.response["Error"]["Code"] == "ValidationException"
              and e.response["Error"]["Message"]
              == "Requested resource not found."
              and e.response["ResponseMetadata"]["HTTPStatusCode"] == 400,
              e.response)

    for i in range(5):
        sm.create_training_job(**job_request("b3-page-%d" % i))
    names = []
    for page in sm.get_paginator("list_training_jobs").paginate(
            NameContains="b3-page", PaginationConfig={"PageSize": 2}):
        names += [j["TrainingJobName"] for j in page["TrainingJobSummaries"]]
    check("list_training_jobs paginator",
          sorted(names) == ["b3-page-%d" % i for i in range(5)]
          and len(names) == 5, names)

    # Endpoints: a model without its artifact cannot be hosted; the
    # waiters see the failure, then the deletion.
    sm.create_model(ModelName="b3-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": LL})
    sm.create_endpoint_config(EndpointConfigName="b3-config",
                              ProductionVariants=[{
                                  "VariantName": "AllTraffic",
                                  "ModelName": "b3-model",
                                  "InstanceType": "ml.m4.xlarge",
                                  "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="b3-endpoint",
                       EndpointConfigName="b3-config")
    try:
        sm.get_waiter("endpoint_in_service").wait(
            EndpointName="b3-endpoint", WaiterConfig=fast)
        check("endpoint_in_service reports a failed endpoint", False,
              "in service")
    except WaiterError as e:
        check("endpoint_in_service reports a failed endpoint",
              e.last_response.get("EndpointStatus") == "Failed"
              and e.last_response.get("FailureReason"), str(e))
    sm.delete_endpoint(EndpointName="b3-endpoint")
    try:
        sm.get_waiter("endpoint_deleted").wait(EndpointName="b3-endpoint",
                                               WaiterConfig=fast)
        check("endpoint_deleted waiter", True)
    except WaiterError as e:
        check("endpoint_deleted waiter", False, str(e))
    try:
        sm.describe_endpoint_config(EndpointConfigName="b3-none")
        check("missing config", False, "found")
    except ClientError as e:
        check("missing config",
              e.response["Error"]["Code"] == "ValidationException"
              and "Could not find endpoint configuration" in
              e.response["Error"]["Message"], e.response)

    # Runtime.
    try:
        rt.invoke_endpoint(EndpointName="b3-endpoint", Body=b"1,2",
                           ContentType="text/csv")
        check("invoke a missing endpoint", False, "answered")
    except rt.exceptions.ValidationError as e:
        check("invoke a missing endpoint",
              e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
              and "Endpoint b3-endpoint of account" in str(e), str(e))
    except ClientError as e:
        check("invoke a missing endpoint", False, e.response)
    try:
        rt.invoke_endpoint(EndpointName="b3-endpoint",
                           Body=b"1" * (6 * 1024 * 1024 + 1),
                           ContentType="text/csv")
        check("invoke with more than 6 MB", False, "answered")
    except ClientError as e:
        check("invoke with more than 6 MB",
              e.response["ResponseMetadata"]["HTTPStatusCode"] == 413,
              e.response)

    # The public GDELT bucket needs no signature.
    s3 = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                      config=Config(signature_version=botocore.UNSIGNED,
                                    retries={"max_attempts": 1}))
    body = s3.get_object(Bucket="gdelt-open-data",
                         Key="events/1981.csv")["Body"].read().decode()
    first = body.split("\n", 1)[0].split("\t")
    check("anonymous GET of the synthetic GDELT 1981",
          len(first) == 57 and first[1].startswith("1981")
          and body.count("\n") == int(
              os.environ.get("SAGERUN_TEST_GDELT_ROWS_1981", "-1")),
          first[:5])

    # Logs.
    try:
        logs.create_log_group(logGroupName=GROUP)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    base = int(time.time() * 1000)
    for i in range(1, 4):
        stream = "b3-job/algo-%d-1700000000" % i
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream,
                            logEvents=[{"timestamp": base + 10 * j + i,
                                        "message": "algo-%d %d" % (i, j)}
                                       for j in range(25)])
    streams = []
    for page in logs.get_paginator("describe_log_streams").paginate(
            logGroupName=GROUP, logStreamNamePrefix="b3-job/",
            PaginationConfig={"PageSize": 2}):
        streams += [s["logStreamName"] for s in page["logStreams"]]
    check("describe_log_streams paginator",
          streams == ["b3-job/algo-%d-1700000000" % i for i in range(1, 4)],
          streams)
    # Tailing as the SDK does: until the token comes back unchanged.
    got, token = [], None
    for _ in range(100):
        kw = {"nextToken": token} if token else {}
        r = logs.get_log_events(logGroupName=GROUP,
                                logStreamName="b3-job/algo-2-1700000000",
                                startFromHead=True, limit=10, **kw)
        got += [e["message"] for e in r["events"]]
        if r["nextForwardToken"] == token:
            break
        token = r["nextForwardToken"]
    check("get_log_events to the end of the stream",
          got == ["algo-2 %d" % j for j in range(25)], got)
    events = []
    for page in logs.get_paginator("filter_log_events").paginate(
            logGroupName=GROUP, logStreamNamePrefix="b3-job/",
            filterPattern="algo-3", PaginationConfig={"PageSize": 7}):
        events += page["events"]
    check("filter_log_events paginator",
          [e["message"] for e in events]
          == ["algo-3 %d" % j for j in range(25)]
          and all(e["logStreamName"] == "b3-job/algo-3-1700000000"
                  for e in events), len(events))
    try:
        logs.get_log_events(logGroupName=GROUP, logStreamName="nope")
        check("missing stream", False, "found")
    except logs.exceptions.ResourceNotFoundException as e:
        check("missing stream", "log stream does not exist" in str(e), e)


def main():
    if MODE == "cli":
        if not os.access(AWS, os.X_OK):
            print("aws CLI not available")
            sys.exit(77)
        cli_checks()
    elif MODE == "boto3":
        try:
            import boto3  # noqa: F401
        except ImportError as e:
            print("boto3 not available: %s" % e)
            sys.exit(77)
        boto3_checks()
    else:
        print("usage: local_sagemaker_clients.py cli|boto3 URL")
        sys.exit(2)
    failures = sum(1 for _, ok, _ in results if not ok)
    print("checks: %d, failures: %d" % (len(results), failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
