"""Trains and hosts linear-learner on the local engine with boto3, for
tests/test-local-training.c (local_training_peer_boto3).

    local_training_boto3.py ENDPOINT_URL

The engine's credentials come from the environment. Each check prints
"ok - NAME" or "not ok - NAME: why"; the last line is "checks: N,
failures: M". Exits 1 when a check failed, 77 when boto3 cannot be
imported (the C test then skips).

What is checked, as a SageMaker user sees it: a two-instance job on CSV
data reaches Completed through boto3's training_job_completed_or_stopped
waiter, DescribeTrainingJob shows the artifact (which S3 holds), the
metrics and the billable time, CloudWatch Logs has one stream per
instance; the model is hosted (endpoint_in_service waiter) and
InvokeEndpoint answers CSV with scores close to the truth, and a bad
payload with ModelError.
"""
import concurrent.futures
import json
import random
import sys

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError
except ImportError as e:
    print("boto3 not available: %s" % e)
    sys.exit(77)

URL = sys.argv[1] if len(sys.argv) > 1 else ""
REGION = "us-east-1"
BUCKET = "training-peer"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
JOB = "peer-job"

results = []


def check(name, cond, why=""):
    results.append(bool(cond))
    print(("ok - %s" % name) if cond else ("not ok - %s: %s" % (name, why)))
    sys.stdout.flush()


def client(service):
    return boto3.client(
        service,
        endpoint_url=URL,
        region_name=REGION,
        config=Config(retries={"total_max_attempts": 2}),
    )


def rows(n, rng):
    out = []
    for _ in range(n):
        x = [rng.uniform(-2, 2) for _ in range(3)]
        y = 1 + 2 * x[0] - x[1] + 0.5 * x[2] + rng.uniform(-0.05, 0.05)
        out.append("%.6g,%.6g,%.6g,%.6g" % (y, x[0], x[1], x[2]))
    return "\n".join(out) + "\n"


def main():
    rng = random.Random(7)
    s3 = client("s3")
    sm = client("sagemaker")
    logs = client("logs")
    rt = client("sagemaker-runtime")

    s3.create_bucket(Bucket=BUCKET)
    for i in range(2):
        s3.put_object(Bucket=BUCKET, Key="data/train/part-%d.csv" % i,
                      Body=rows(800, rng).encode())
    s3.put_object(Bucket=BUCKET, Key="data/validation/v.csv",
                  Body=rows(300, rng).encode())

    def channel(name, dist):
        return {
            "ChannelName": name,
            "ContentType": "text/csv",
            "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": "s3://%s/data/%s/" % (BUCKET, name),
                "S3DataDistributionType": dist}},
        }

    sm.create_training_job(
        TrainingJobName=JOB,
        AlgorithmSpecification={"TrainingImage": IMAGE,
                                "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters={"predictor_type": "regressor", "feature_dim": "3",
                         "mini_batch_size": "50", "epochs": "6",
                         "num_models": "4"},
        InputDataConfig=[channel("train", "ShardedByS3Key"),
                         channel("validation", "FullyReplicated")],
        OutputDataConfig={"S3OutputPath": "s3://%s/output" % BUCKET},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 2,
                        "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=JOB, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    d = sm.describe_training_job(TrainingJobName=JOB)
    check("job_completed", d["TrainingJobStatus"] == "Completed",
          "%s: %s" % (d["TrainingJobStatus"], d.get("FailureReason")))
    statuses = [t["Status"] for t in d.get("SecondaryStatusTransitions", [])]
    check("job_phases",
          statuses == ["Starting", "Downloading", "Training", "Uploading",
                       "Completed"], statuses)
    artifact = d.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
    check("artifact_named",
          artifact == "s3://%s/output/%s/output/model.tar.gz" % (BUCKET, JOB),
          artifact)
    head = s3.head_object(Bucket=BUCKET,
                          Key="output/%s/output/model.tar.gz" % JOB)
    check("artifact_stored", head["ContentLength"] > 0, head)
    metrics = {m["MetricName"]: m["Value"]
               for m in d.get("FinalMetricDataList", [])}
    check("validation_mse", metrics.get("validation:mse", 1) < 0.02, metrics)
    check("billable",
          d.get("BillableTimeInSeconds") == 2 * d.get("TrainingTimeInSeconds",
                                                      -1), d)
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs",
        logStreamNamePrefix=JOB + "/")["logStreams"]
    names = sorted(s["logStreamName"] for s in streams)
    check("one_stream_per_instance",
          len(names) == 2 and names[0].startswith(JOB + "/algo-1-")
          and names[1].startswith(JOB + "/algo-2-"), names)
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=names[0],
        startFromHead=True)["events"]
    check("log_lines",
          any("Final configuration" in e["message"] for e in events)
          and any("#quality_metric: host=algo-1, epoch=0, train" in
                  e["message"] for e in events), len(events))

    sm.create_model(ModelName="peer-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": IMAGE,
                                      "ModelDataUrl": artifact})
    sm.create_endpoint_config(
        EndpointConfigName="peer-config",
        ProductionVariants=[{"VariantName": "AllTraffic",
                             "ModelName": "peer-model",
                             "InstanceType": "ml.m5.large",
                             "InitialInstanceCount": 1}])
    sm.create_endpoint(EndpointName="peer-ep",
                       EndpointConfigName="peer-config")
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName="peer-ep", WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    r = rt.invoke_endpoint(EndpointName="peer-ep", ContentType="text/csv",
                           Accept="application/json",
                           Body=b"1,0,0\n0,1,-2\n")
    body = json.loads(r["Body"].read())
    scores = [p["score"] for p in body.get("predictions", [])]
    check("invoke_csv",
          len(scores) == 2 and abs(scores[0] - 3) < 0.1
          and abs(scores[1] + 1) < 0.1, body)
    check("invoke_content_type", r["ContentType"] == "application/json", r)
    check("invoke_variant", r.get("InvokedProductionVariant") == "AllTraffic",
          r)
    r = rt.invoke_endpoint(EndpointName="peer-ep", ContentType="text/csv",
                           TargetVariant="AllTraffic", Body=b"1,0,0\n")
    check("invoke_target_variant",
          r.get("InvokedProductionVariant") == "AllTraffic", r)
    try:
        rt.invoke_endpoint(EndpointName="peer-ep", ContentType="text/csv",
                           TargetVariant="Nope", Body=b"1,0,0\n")
        check("invoke_unknown_variant", False, "accepted")
    except ClientError as e:
        check("invoke_unknown_variant",
              e.response["Error"]["Code"] == "ValidationError"
              and "Nope" in e.response["Error"]["Message"], e.response)
    # Concurrent invocations (scored on the engine's thread pool) each get
    # their own rows' scores back.
    def one(k):
        c = client("sagemaker-runtime")
        out = []
        for i in range(5):
            n = 200 + 37 * k + i
            payload = "".join("%d,0,0\n" % (j % 3) for j in range(n))
            b = json.loads(c.invoke_endpoint(
                EndpointName="peer-ep", ContentType="text/csv",
                Body=payload.encode())["Body"].read())
            got = [p["score"] for p in b["predictions"]]
            out.append(len(got) == n and all(
                abs(got[j] - (1 + 2 * (j % 3))) < 0.1 for j in range(n)))
        return all(out)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(8)))
    check("invoke_concurrent", all(answers), answers)
    try:
        rt.invoke_endpoint(EndpointName="peer-ep", ContentType="text/csv",
                           Body=b"1,2\n")
        check("invoke_bad_payload", False, "accepted")
    except rt.exceptions.ModelError as e:
        check("invoke_bad_payload",
              "expected 3" in e.response["Error"]["Message"], e.response)
    except ClientError as e:
        check("invoke_bad_payload", False, e.response)
    # The log stream the ModelError's message points at.
    group = "/aws/sagemaker/Endpoints/peer-ep"
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    names = [s["logStreamName"] for s in streams]
    check("endpoint_log_stream",
          len(names) == 1 and names[0].startswith("AllTraffic/i-"), names)
    if names:
        events = logs.get_log_events(logGroupName=group,
                                     logStreamName=names[0],
                                     startFromHead=True)["events"]
        check("endpoint_log_lines",
              any("Model loaded" in e["message"] for e in events)
              and any("expected 3" in e["message"] for e in events),
              [e["message"] for e in events])
    sm.delete_endpoint(EndpointName="peer-ep")
    sm.delete_endpoint_config(EndpointConfigName="peer-config")
    sm.delete_model(ModelName="peer-model")


try:
    main()
except Exception as e:  # a client error ends the run as one failure
    check("unexpected_error", False, repr(e))
failures = results.count(False)
print("checks: %d, failures: %d" % (len(results), failures))
sys.exit(1 if failures else 0)
