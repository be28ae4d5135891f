"""Compares a checkov JSON report with a list of accepted findings.

Fails (exit 1) when checkov could not parse a file, when it reports a failed
check no accepted entry covers, and, unless --no-stale, when an entry covers
nothing any more (so the list is exactly the known exceptions). An entry
covers a finding when its check id is equal, its `resource` and `file`
(shell-style patterns, relative to the scanned directory) match, and, if it
names a `caller` (the terraform root that instantiates a module), that too.
Shared by scripts/validate-manifests.sh and scripts/check-terraform.sh.

Usage: checkov_accepted.py REPORT.json ACCEPTED.yaml FRAMEWORK... [--no-stale]
"""
import fnmatch
import json
import sys

import yaml


def main(report_path, accepted_path, *frameworks):
    stale_fails = "--no-stale" not in frameworks
    frameworks = tuple(f for f in frameworks if f != "--no-stale")
    reports = json.load(open(report_path))
    reports = reports if isinstance(reports, list) else [reports]
    reports = [r for r in reports if r.get("check_type") in frameworks]
    if {r["check_type"] for r in reports} != set(frameworks):
        sys.exit(f"checkov found nothing to scan for {frameworks} in {report_path}")
    accepted = yaml.safe_load(open(accepted_path))["accepted"]
    for entry in accepted:
        if not all(str(entry.get(key, "")).strip() for key in ("check", "resource", "file", "why")):
            sys.exit(f"{accepted_path}: every entry needs check, resource, file and why: {entry}")

    problems, used, passed, failed = [], set(), 0, 0
    for report in reports:
        summary = report["summary"]
        passed += summary["passed"]
        failed += summary["failed"]
        for error in report["results"].get("parsing_errors", []) or []:
            problems.append(f"checkov could not parse {error}")
        for finding in report["results"]["failed_checks"]:
            path = finding["file_path"].lstrip("/")
            covering = [
                i
                for i, entry in enumerate(accepted)
                if entry["check"] == finding["check_id"]
                and fnmatch.fnmatchcase(finding["resource"], entry["resource"])
                and fnmatch.fnmatchcase(path, entry["file"])
                and fnmatch.fnmatchcase((finding.get("caller_file_path") or "").lstrip("/"), entry.get("caller", "*"))
            ]
            used.update(covering)
            if not covering:
                problems.append(f"{finding['check_id']} {finding['resource']} ({path}): {finding['check_name']}")
    for i, entry in enumerate(accepted):
        if stale_fails and i not in used:
            problems.append(f"accepted but no longer found: {entry['check']} {entry['resource']} ({entry['file']})")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    print(f"checkov: {passed} passed, {failed} failed, every failure covered by one of {len(accepted)} accepted entries" if not problems else f"checkov: {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
