#!/usr/bin/env bash
# Validates the protocol artifacts:
#   - openapi.yaml is valid OpenAPI 3.1 (openapi-spec-validator);
#   - report.schema.json is a valid draft 2020-12 schema, and its copy inlined in openapi.yaml agrees with it;
#   - every examples/report-*.json passes report.schema.json;
#   - every examples/response-*.json and examples/error-*.json passes its openapi.yaml component;
#   - a few known-bad reports are refused by the schema (so it is not vacuous).
# Prints one line per check and "N passed, M failed"; exits non-zero on any failure.
# Needs python3 with jsonschema, PyYAML and openapi-spec-validator (pip install openapi-spec-validator).
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import copy, glob, json, os, sys

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry
from referencing.jsonschema import DRAFT202012

passed = failed = 0

def check(name, fn):
    global passed, failed
    try:
        fn()
    except Exception as error:  # noqa: BLE001 - report every failure, keep going
        failed += 1
        print(f"FAIL {name}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    else:
        passed += 1
        print(f"ok   {name}")

def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)

with open("openapi.yaml", encoding="utf-8") as f:
    openapi = yaml.safe_load(f)
report_schema = load("report.schema.json")

check("openapi.yaml is valid OpenAPI 3.1", lambda: validate_openapi(openapi))
check("report.schema.json is a valid draft 2020-12 schema", lambda: Draft202012Validator.check_schema(report_schema))

# openapi.yaml inlines report.schema.json: $defs/<x> become components/schemas/<Name>.
DEFS_TO_COMPONENTS = {"millis": "Millis", "seq": "Seq", "shortId": "ShortId", "agentId": "AgentId",
                      "agent": "AgentIdentity", "name": "Name", "observation": "Observation"}

def as_components(node):
    if isinstance(node, dict):
        return {k: ("#/components/schemas/" + DEFS_TO_COMPONENTS[v[len("#/$defs/"):]]
                    if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/") else as_components(v))
                for k, v in node.items()}
    if isinstance(node, list):
        return [as_components(x) for x in node]
    return node

def inlined_copy_agrees():
    components = openapi["components"]["schemas"]
    expected = {"Report": as_components({k: v for k, v in report_schema.items() if k not in ("$schema", "$id", "$defs")})}
    for key, name in DEFS_TO_COMPONENTS.items():
        expected[name] = as_components(report_schema["$defs"][key])
    if set(report_schema["$defs"]) != set(DEFS_TO_COMPONENTS):
        raise AssertionError(f"$defs changed: {sorted(report_schema['$defs'])}; update DEFS_TO_COMPONENTS")
    for name, schema in expected.items():
        if components.get(name) != schema:
            raise AssertionError(f"components.schemas.{name} differs from report.schema.json")

check("openapi.yaml's Report schemas equal report.schema.json", inlined_copy_agrees)

def embedded_examples_match_files():
    files = [load(path) for path in glob.glob("examples/*.json")]
    found = 0
    def walk(node, where):
        nonlocal found
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "examples" and isinstance(value, dict):
                    for name, example in value.items():
                        found += 1
                        if example.get("value") not in files:
                            raise AssertionError(f"{where}/examples/{name} is not a copy of any examples/*.json")
                else:
                    walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}/{i}")
    walk(openapi, "")
    if found < 10:
        raise AssertionError(f"only {found} embedded examples found")

check("openapi.yaml's embedded examples are copies of examples/*.json", embedded_examples_match_files)

report_validator = Draft202012Validator(report_schema)

def component_validator(name):
    # Validate against one openapi.yaml component, resolving #/components/... refs within the document.
    registry = Registry().with_resource("urn:gapwatch:openapi", DRAFT202012.create_resource(openapi))
    return Draft202012Validator({"$ref": f"urn:gapwatch:openapi#/components/schemas/{name}"}, registry=registry)

def passes(validator, instance):
    def run():
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            e = errors[0]
            raise AssertionError(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    return run

reports = sorted(glob.glob("examples/report-*.json"))
if not reports:
    check("examples/report-*.json exist", lambda: (_ for _ in ()).throw(AssertionError("none found")))
for path in reports:
    check(f"{path} passes report.schema.json", passes(report_validator, load(path)))
for pattern, component in [("examples/response-*.json", "ReportResponse"), ("examples/error-*.json", "ErrorBody")]:
    validator = component_validator(component)
    for path in sorted(glob.glob(pattern)):
        check(f"{path} passes openapi {component}", passes(validator, load(path)))

# Known-bad reports must be refused: each edit breaks one rule of the Swift validation.
base = load("examples/report-all-kinds.json")
def broken(edit):
    doc = copy.deepcopy(base)
    edit(doc)
    return doc
def obs(kind):
    return lambda doc: next(o for o in doc["observations"] if o["kind"] == kind)
negatives = {
    "seq 0": lambda d: d["observations"][0].update(seq=0),
    "seq 2^63 (over a signed 64-bit column)": lambda d: d["observations"][-1].update(seq=2**63),
    "time in seconds": lambda d: d["observations"][0].update(observed_at=1769140800),
    "unknown kind": lambda d: d["observations"][0].update(kind="metric"),
    "protocol 2": lambda d: d.update(protocol=2),
    "agent id with a space": lambda d: d["agent"].update(id="nba orchestrator"),
    "spool id with a dot": lambda d: d.update(spool_id="spool.1"),
    "missing latency_ms": lambda d: obs("probe")(d).pop("latency_ms"),
    "probe with neither http_status nor error": lambda d: obs("probe")(d).pop("http_status"),
    "http_status 600": lambda d: obs("probe")(d).update(http_status=600),
    "negative count": lambda d: obs("count")(d).update(count=-1),
    "control character in a name": lambda d: obs("lock")(d).update(name="workflow\u0001controller"),
    "carriage return in text": lambda d: obs("decision")(d).update(reason="a\rb"),
    "decision in lower case": lambda d: obs("decision")(d).update(decision="skip"),
    "slash in item_kind": lambda d: obs("item_status")(d).update(item_kind="nba/game"),
    "empty holder": lambda d: obs("lock")(d).update(holder=""),
    "1001 observations": lambda d: d.update(observations=[dict(base["observations"][0], seq=i) for i in range(1, 1002)]),
    "257-byte service": lambda d: d["agent"].update(service="s" * 257),
    "4097-byte output_tail": lambda d: obs("action_result")(d).update(output_tail="o" * 4097),
    "33 labels": lambda d: d["agent"].update(labels={f"k{i}": "v" for i in range(33)}),
    "label key with a colon": lambda d: d["agent"].update(labels={"team:data": "x"}),
}
for name, edit in negatives.items():
    def refused(edit=edit):
        if report_validator.is_valid(broken(edit)):
            raise AssertionError("the schema accepted it")
    check(f"schema refuses a report with {name}", refused)

for component, instance, why in [
    ("ErrorBody", {"error": "oops", "message": "m"}, "an undocumented error code"),
    ("ErrorBody", {"error": "bad_json"}, "no message"),
    ("ReportResponse", {"acked_seq": 1, "stored": 1, "duplicates": 0}, "no commands"),
    ("ReportResponse", {"acked_seq": -1, "stored": 0, "duplicates": 0, "commands": []}, "a negative acked_seq"),
]:
    def refused(component=component, instance=instance):
        if component_validator(component).is_valid(instance):
            raise AssertionError("the schema accepted it")
    check(f"openapi {component} refuses {why}", refused)

def unknown_fields_allowed():
    doc = broken(lambda d: (d.update(future={"x": 1}), d["agent"].update(zone="b"), d["observations"][0].update(trace="t")))
    passes(report_validator, doc)()
check("schema allows unknown fields", unknown_fields_allowed)

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
