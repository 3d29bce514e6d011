#!/usr/bin/env python3
"""Validate a campaign folder against the JSON Schemas in docs/ with a real validator.

usage: validate_results.py DOCS_DIR CAMPAIGN_DIR
  runs/*/run.json      docs/run.schema.json
  campaign.json        docs/campaign.schema.json
  journal.jsonl        docs/journal.schema.json (each line)
  undo.jsonl           docs/undo.schema.json (each line)
  plan.json            docs/plan.schema.json
Prints one line per problem (file: path: message); exit 1 when there is any, 2 when the
folder or a schema is missing. date-time is checked even where jsonschema lacks its
optional format packages.
"""
import datetime
import json
import pathlib
import sys

import jsonschema

checker = jsonschema.FormatChecker()


@checker.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    if "T" not in value or not (value.endswith("Z") or value[-6] in "+-"):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def validator(docs, name):
    path = docs / name
    if not path.exists():
        print(f"{path}: missing schema", file=sys.stderr)
        sys.exit(2)
    schema = json.loads(path.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=checker)


def main():
    docs, campaign = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    if not (campaign / "campaign.json").exists():
        print(f"{campaign}: not a campaign folder", file=sys.stderr)
        return 2
    checks = []  # (file, document, validator)
    run_v = validator(docs, "run.schema.json")
    runs = sorted(campaign.glob("runs/*/run.json"))
    for f in runs:
        checks.append((f, json.loads(f.read_text()), run_v))
    checks.append((campaign / "campaign.json", json.loads((campaign / "campaign.json").read_text()),
                   validator(docs, "campaign.schema.json")))
    # An imported folder (iommuvm import) has no plan: its runs were not planned by iommuvm.
    if (campaign / "plan.json").exists():
        checks.append((campaign / "plan.json", json.loads((campaign / "plan.json").read_text()),
                       validator(docs, "plan.schema.json")))
    for name, schema in (("journal.jsonl", "journal.schema.json"), ("undo.jsonl", "undo.schema.json")):
        f = campaign / name
        if not f.exists():
            continue
        v = validator(docs, schema)
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if line.strip():
                checks.append((f"{f}:{i}", json.loads(line), v))
    problems = 0
    for f, doc, v in checks:
        for e in sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            print(f"{f}: {where}: {e.message}")
            problems += 1
    print(f"checked {len(checks)} documents ({len(runs)} run.json), {problems} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
