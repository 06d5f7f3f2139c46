"""Independent check of sagerun's schemas with python3-jsonschema.

Every schema under schemas/ must be a valid draft 2020-12 schema; every
workflow under workflows/ must validate against the workflow schema; and
every tests/invalid/schema-*.yaml (structure errors) must be rejected by
this other implementation too. Prints one line per check and exits 1 on
the first disagreement.
"""
import glob
import json
import os
import sys

import jsonschema
import yaml

root = sys.argv[1] if len(sys.argv) > 1 else "."
os.chdir(root)

schemas = sorted(glob.glob("schemas/*.json") + glob.glob("schemas/steps/*.json"))
for path in schemas:
    with open(path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    print("schema ok:", path)

with open("schemas/workflow.schema.json") as f:
    workflow_schema = json.load(f)
validator = jsonschema.Draft202012Validator(workflow_schema)

failed = 0
for path in sorted(glob.glob("workflows/*.yaml")):
    with open(path) as f:
        doc = yaml.safe_load(f)
    errors = list(validator.iter_errors(doc))
    for e in errors:
        print("workflow invalid:", path, list(e.absolute_path), e.message)
    failed += bool(errors)
    if not errors:
        print("workflow ok:", path)

for path in sorted(glob.glob("tests/invalid/schema-*.yaml")):
    with open(path) as f:
        doc = yaml.safe_load(f)
    if validator.is_valid(doc):
        print("accepted, but sagerun rejects it:", path)
        failed += 1
    else:
        print("rejected as sagerun does:", path)

print("schemas: %d, disagreements: %d" % (len(schemas), failed))
sys.exit(1 if failed else 0)
