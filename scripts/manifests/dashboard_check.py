"""Checks a Grafana dashboard file before Helm ships it inside a ConfigMap.

Valid JSON; unique panel ids; every panel placed on the 24-column grid
without overlapping another; every query target with a refId (unique in its
panel) and a PromQL expression Prometheus's own parser accepts (each is
written as a recording rule, `$NAMESPACE` filled in, for `promtool check
rules`).
Usage: dashboard_check.py DASHBOARD.json PROMTOOL
"""

import json
import os
import subprocess
import sys
import tempfile


def problems(dashboard, promtool):
    found = []
    rules = []
    cells = {}
    ids = set()
    for panel in dashboard.get("panels", []):
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            found.append(f"panel {title!r}: id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        grid = panel.get("gridPos") or {}
        x, y, w, h = (grid.get(k) for k in ("x", "y", "w", "h"))
        if None in (x, y, w, h) or x < 0 or w <= 0 or h <= 0 or x + w > 24:
            found.append(f"panel {title!r}: gridPos {grid} is not on the 24-column grid")
            continue
        for row in range(y, y + h):
            for column in range(x, x + w):
                other = cells.setdefault((row, column), title)
                if other != title:
                    found.append(f"panel {title!r} overlaps {other!r}")
                    break
            else:
                continue
            break
        targets = panel.get("targets") or []
        if not targets:
            found.append(f"panel {title!r}: no query")
        refs = [t.get("refId") for t in targets]
        if None in refs or len(set(refs)) != len(refs):
            found.append(f"panel {title!r}: refIds {refs} missing or repeated")
        for target in targets:
            expr = (target.get("expr") or "").strip()
            if not expr:
                found.append(f"panel {title!r} {target.get('refId')}: no expr")
            rules.append({"record": f"dashboard:panel{panel.get('id')}:{target.get('refId')}",
                          "expr": expr.replace("$NAMESPACE", "harmony")})
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "dashboard-rules.json")
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(path, "w"))
        checked = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True)
        if checked.returncode != 0:
            found.append(f"promtool check rules refused a query:\n{checked.stdout}{checked.stderr}")
    return found


def main(path, promtool):
    try:
        dashboard = json.load(open(path))
    except json.JSONDecodeError as error:
        print(f"FAIL: {path} is not JSON: {error}", file=sys.stderr)
        return 1
    found = problems(dashboard, promtool)
    for problem in found:
        print(f"FAIL: {problem}", file=sys.stderr)
    if found:
        return 1
    print(f"{path.split('/')[-1]}: valid JSON, {len(dashboard['panels'])} panels on the grid, every query parsed by promtool")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
