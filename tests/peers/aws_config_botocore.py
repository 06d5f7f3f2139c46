#!/usr/bin/python3
"""botocore as the peer of runner/aws_config.c.

usage: aws_config_botocore.py SCENARIOS_DIR

Each subdirectory of SCENARIOS_DIR is a scenario written by
tests/test-aws-config.c:

  env       NAME=VALUE lines: the whole environment of the scenario
  profile   (optional) the profile given as a flag: Session(profile=...)
  c-result  what sagerun resolved, as FIELD=VALUE lines:
              creds=ok AKID SHA256(secret) SHA256(token) SOURCE
              creds=error KIND   (none, partial, profile-not-found, parse)
              region=NAME or -
              endpoint_region=NAME   (the region endpoints were asked for)
              endpoint.SERVICE=URL
  plus whatever config and credentials files the env points at.

For every field botocore can answer, botocore's answer is computed the
same way and compared. Secrets are never printed: they are compared as
SHA-256 digests. Prints one line per disagreement, then "compared: N",
"skipped: N" (fields this botocore cannot answer) and "disagreements: N".
Prints "# skipped: ..." and exits 0 when botocore cannot be imported.
"""
import hashlib
import os
import sys

try:
    import botocore
    import botocore.exceptions
    import botocore.loaders
    import botocore.session
except ImportError as e:
    print("# skipped: botocore not importable (%s)" % e)
    sys.exit(0)

SOURCES = {
    "env": "environment",
    "shared-credentials-file": "shared-credentials-file",
    "config-file": "config-file",
    "container-role": "container",
    "iam-role": "imds",
}
SERVICES = ["s3", "sagemaker", "sagemaker-runtime", "logs"]


def version_tuple(v):
    out = []
    for part in v.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        out.append(int(digits or 0))
    return tuple(out)


# AWS_ENDPOINT_URL*, profile endpoint_url and services sections arrived in
# botocore 1.31.0.
ENDPOINT_CONFIG = version_tuple(botocore.__version__) >= (1, 31, 0)


def sha(s):
    return hashlib.sha256((s or "").encode()).hexdigest()


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def read_fields(path):
    fields = {}
    for line in read_lines(path):
        key, _, value = line.partition("=")
        fields[key] = value
    return fields


def botocore_creds(session):
    try:
        c = session.get_credentials()
    except botocore.exceptions.ProfileNotFound:
        return "error profile-not-found"
    except botocore.exceptions.PartialCredentialsError:
        return "error partial"
    except botocore.exceptions.ConfigParseError:
        return "error parse"
    if c is None:
        return "error none"
    frozen = c.get_frozen_credentials()
    # sagerun writes one line per field, a newline as "\\n".
    return "ok %s %s %s %s" % (
        frozen.access_key.replace("\n", "\\n"),
        sha(frozen.secret_key),
        sha(frozen.token),
        SOURCES.get(c.method, c.method),
    )


def botocore_region(session):
    try:
        return session.get_config_variable("region") or "-"
    except (botocore.exceptions.ProfileNotFound,
            botocore.exceptions.ConfigParseError):
        # sagerun has no error channel for the region: it gives none and
        # resolving the credentials reports the problem.
        return "-"


def botocore_endpoint(session, service, region):
    client = session.create_client(
        service,
        region_name=region,
        aws_access_key_id="AKIDPEERCHECK",
        aws_secret_access_key="peer-check-not-a-secret",
    )
    return client.meta.endpoint_url.rstrip("/")


def uses_endpoint_config(env, texts):
    if any(k.startswith("AWS_ENDPOINT_URL") for k in env):
        return True
    if "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" in env:
        return True
    return any(
        "endpoint_url" in t or "services" in t or "ignore_configured" in t
        for t in texts
    )


def file_texts(env):
    texts = []
    home = env.get("HOME", "")
    for name, default in (
        ("AWS_CONFIG_FILE", "~/.aws/config"),
        ("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
    ):
        path = env.get(name) or default
        if path.startswith("~"):
            path = home + path[1:]
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                texts.append(f.read())
        except OSError:
            pass
    return texts


def main():
    root = sys.argv[1]
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith("AWS_")
    }
    compared = skipped = disagreements = 0
    loader = botocore.loaders.create_loader()
    print("# botocore %s" % botocore.__version__)
    for name in sorted(os.listdir(root)):
        sdir = os.path.join(root, name)
        if not os.path.isdir(sdir):
            continue
        env = {}
        for line in read_lines(os.path.join(sdir, "env")):
            key, _, value = line.partition("=")
            env[key] = value
        profile = None
        if os.path.exists(os.path.join(sdir, "profile")):
            profile = read_lines(os.path.join(sdir, "profile"))[0]
        c = read_fields(os.path.join(sdir, "c-result"))

        os.environ.clear()
        os.environ.update(base_env)
        os.environ.update(env)
        # Keep botocore off the network and ~/.boto; regional S3 in
        # us-east-1, as sagerun always does.
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
        os.environ["AWS_S3_US_EAST_1_REGIONAL_ENDPOINT"] = "regional"
        os.environ["BOTO_CONFIG"] = os.path.join(sdir, "no-boto-config")

        def session():
            s = botocore.session.Session(profile=profile)
            # Service models do not depend on the scenario: load them once.
            s.register_component("data_loader", loader)
            return s

        results = {"creds": botocore_creds(session())}
        if "AWS_REGION" in env:
            skipped += 1  # botocore reads only AWS_DEFAULT_REGION
        else:
            results["region"] = botocore_region(session())
        region = c.get("endpoint_region")
        if region and results["creds"] != "error profile-not-found" \
                and results["creds"] != "error parse":
            if uses_endpoint_config(env, file_texts(env)) \
                    and not ENDPOINT_CONFIG:
                skipped += len(SERVICES)
            else:
                for svc in SERVICES:
                    results["endpoint." + svc] = botocore_endpoint(
                        session(), svc, region)
        for field, theirs in sorted(results.items()):
            ours = c.get(field)
            compared += 1
            if ours != theirs:
                disagreements += 1
                print("DISAGREE %s %s: sagerun %r, botocore %r"
                      % (name, field, ours, theirs))
    print("compared: %d" % compared)
    print("skipped: %d" % skipped)
    print("disagreements: %d" % disagreements)


main()
