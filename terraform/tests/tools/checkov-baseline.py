#!/usr/bin/env python3
"""Compares a checkov JSON report with terraform/checkov-accepted.yaml.

Fails (exit 1) when checkov could not parse a file, when it reports a failed
check that no accepted entry matches, and, unless --no-stale, when an accepted
entry matches nothing any more (so the list only holds findings that occur).

An entry matches a finding when check, resource and file are equal and, if the
entry names a caller (the root module that instantiates the module), the
finding's caller is that root. Paths are relative to the scanned directory.

Usage: checkov-baseline.py REPORT.json ACCEPTED.yaml [--no-stale]
"""
import json
import sys

import yaml

REQUIRED = ("check", "resource", "file", "why")


def load_report(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.strip():
        sys.exit(f"checkov-baseline: {path} is empty (checkov crashed?)")
    data = json.loads(text)
    reports = data if isinstance(data, list) else [data]
    failed, errors, passed = [], [], 0
    for report in reports:
        if report.get("check_type") != "terraform":
            continue
        summary = report.get("summary", {})
        passed += summary.get("passed", 0)
        if summary.get("parsing_errors"):
            errors.extend(report.get("results", {}).get("parsing_errors", []) or ["(unnamed)"])
        failed.extend(report.get("results", {}).get("failed_checks", []))
    if not reports or all(r.get("check_type") != "terraform" for r in reports):
        # checkov prints a bare summary when it found nothing to scan.
        sys.exit(f"checkov-baseline: no terraform results in {path}")
    return failed, errors, passed


def strip(path):
    return (path or "").lstrip("/")


def load_accepted(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f) or {}
    entries = doc.get("accepted") or []
    for i, entry in enumerate(entries):
        missing = [k for k in REQUIRED if not str(entry.get(k, "")).strip()]
        if missing:
            sys.exit(f"checkov-baseline: entry {i + 1} of {path} lacks {', '.join(missing)}")
    return entries


def matches(entry, finding):
    if entry["check"] != finding["check_id"] or entry["resource"] != finding["resource"]:
        return False
    if strip(entry["file"]) != strip(finding.get("file_path")):
        return False
    caller = entry.get("caller")
    return caller is None or strip(caller) == strip(finding.get("caller_file_path"))


def main(argv):
    if len(argv) not in (3, 4) or (len(argv) == 4 and argv[3] != "--no-stale"):
        sys.exit(__doc__)
    failed, errors, passed = load_report(argv[1])
    accepted = load_accepted(argv[2])
    check_stale = len(argv) == 3

    problems = []
    for err in errors:
        problems.append(f"parsing error: {err}")
    used = set()
    unaccepted = []
    for finding in failed:
        hits = [i for i, e in enumerate(accepted) if matches(e, finding)]
        used.update(hits)
        if not hits:
            unaccepted.append(finding)
    for f in unaccepted:
        caller = f" (called from {strip(f.get('caller_file_path'))})" if f.get("caller_file_path") else ""
        problems.append(
            f"{f['check_id']} {f['resource']} in {strip(f.get('file_path'))}{caller}: {f.get('check_name')}"
        )
    if check_stale:
        for i, e in enumerate(accepted):
            if i not in used:
                problems.append(f"stale acceptance (no longer reported): {e['check']} {e['resource']} in {e['file']}")

    for p in problems:
        print(f"checkov: {p}", file=sys.stderr)
    print(f"{passed} passed, {len(failed)} failed ({len(failed) - len(unaccepted)} accepted), {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
