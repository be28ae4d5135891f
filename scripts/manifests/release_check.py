#!/usr/bin/env python3
"""Offline check of the release workflow (.github/workflows/release.yml).

Reads the workflow as GitHub would (YAML; `${{ matrix.* }}` expanded from
the job's matrix) and fails when:
  - a `uses:` is not pinned by a full 40-hex commit SHA (a tag or branch
    can be moved to other code after review);
  - the images are not built for linux/amd64 and linux/arm64 (Karpenter's
    NodePools may start either), or the workflow does not declare
    `platforms: linux/amd64,linux/arm64`;
  - a job pushes images that neither it nor a job after it signs with
    cosign (keyless signing needs `id-token: write` there), or a build has
    no SBOM/provenance attestation, or its layer cache is not exported
    with mode=max;
  - a job edits a kustomization without first checking that the images
    exist (imagetools inspect, crane, oras) and verifying their signatures;
  - the pull request or its branch is pushed with the workflow's own token
    (GitHub runs no checks on it), or a re-run could not succeed (no
    force-push, no look-up of an open PR, nothing-to-commit not handled);
  - kustomize is run without being installed at a pinned version whose
    checksum is checked (or by an action given an exact version).

Usage: release_check.py <workflow.yml>; prints ok/FAIL lines, exits 1 on a
failure.
"""
import re
import sys

import yaml

SHA = re.compile(r"^[0-9a-f]{40}$")
PLATFORMS = {"linux/amd64", "linux/arm64"}
VERSION = re.compile(r"\b\d+\.\d+\.\d+\b")
IMAGE_CHECK = re.compile(
    r"imagetools\s+inspect|crane\s+(manifest|digest)|oras\s+manifest\s+fetch|docker\s+manifest\s+inspect"
)
KUSTOMIZE_RUN = re.compile(r"(^|[\s/\"'])kustomize[\"']?\s+(edit|build)")
# Bare `kustomize` (not a path): whichever the runner image has first on PATH.
KUSTOMIZE_BARE = re.compile(r"(^|[\s;&|(])kustomize\s+(edit|build)", re.M)
KUSTOMIZATION_EDIT = re.compile(r"kustomize[\"']?\s+edit\s+set\s+image|\b(yq|sed)\b[^\n]*kustomization")
OWN_TOKEN = re.compile(r"secrets\.GITHUB_TOKEN|github\.token")

results = []


def check(ok, message):
    results.append((bool(ok), message))


def action(step):
    return (step.get("uses") or "").split("@")[0]


def runs(step):
    return step.get("run") or ""


def matrix_values(job, expression):
    """The values `${{ matrix.a.b }}` takes in the job's matrix."""
    m = re.fullmatch(r"\$\{\{\s*matrix\.([\w.-]+)\s*\}\}", str(expression).strip())
    if not m:
        return None
    path = m.group(1).split(".")
    matrix = (job.get("strategy") or {}).get("matrix") or {}
    entries = list(matrix.get(path[0]) or []) + [i.get(path[0]) for i in matrix.get("include") or [] if path[0] in i]
    values = []
    for entry in entries:
        for key in path[1:]:
            entry = entry.get(key) if isinstance(entry, dict) else None
        if entry is not None:
            values.append(str(entry))
    return values


def pushes(step):
    if action(step) == "docker/build-push-action":
        w = step.get("with") or {}
        return str(w.get("push")).lower() == "true" or "push=true" in str(w.get("outputs", ""))
    return bool(re.search(r"docker\s+push|imagetools\s+create|crane\s+(push|copy)", runs(step)))


def main(path):
    with open(path) as f:
        workflow = yaml.safe_load(f)
    jobs = workflow.get("jobs") or {}

    # 1. Every `uses:` pinned by a commit SHA.
    for name, job in jobs.items():
        uses = [(f"job {name}", job["uses"])] if "uses" in job else []
        uses += [(f"job {name} step {i + 1}", s["uses"]) for i, s in enumerate(job.get("steps") or []) if "uses" in s]
        for where, ref in uses:
            if ref.startswith("./"):
                check(True, f"{where}: {ref} is in this repository")
            elif ref.startswith("docker://"):
                check("@sha256:" in ref, f"{where}: {ref} pinned by digest")
            else:
                pin = ref.split("@", 1)[1] if "@" in ref else ""
                check(SHA.match(pin), f"{where}: {ref} pinned by a 40-hex commit SHA")

    # 2. Both platforms declared and built.
    declared = [
        str(v)
        for v in _values_of_key(workflow, "platforms")
        if {p.strip() for p in str(v).split(",")} >= PLATFORMS
    ]
    check(declared, "the workflow declares platforms: linux/amd64,linux/arm64")
    builds = [(n, j, s) for n, j in jobs.items() for s in j.get("steps") or [] if action(s) == "docker/build-push-action"]
    check(builds, "a job builds the images (docker/build-push-action)")
    for name, job, step in builds:
        w = step.get("with") or {}
        value = w.get("platforms")
        if value is None:
            built = set()
        else:
            expanded = matrix_values(job, value)
            built = {p.strip() for v in (expanded if expanded is not None else [value]) for p in str(v).split(",")}
        check(built >= PLATFORMS, f"job {name}: builds for {', '.join(sorted(PLATFORMS))} (found: {', '.join(sorted(built)) or 'the runner platform only'})")
        check(w.get("sbom") not in (None, False, "false") and w.get("provenance") not in (None, False, "false"),
              f"job {name}: the build attaches SBOM and provenance attestations")
        cache_to = str(w.get("cache-to") or "")
        check("mode=max" in cache_to and w.get("cache-from"), f"job {name}: the layer cache is exported (cache-to mode=max) and reused (cache-from)")

    # 3. Whatever is pushed is signed, by the job or a job after it.
    def after(name):
        out = {name}
        for other, job in jobs.items():
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            if name in needs:
                out |= after(other)
        return out

    signers = {n for n, j in jobs.items() if any(re.search(r"cosign\s+sign\b", runs(s)) for s in j.get("steps") or [])}
    for name, job in jobs.items():
        if not any(pushes(s) for s in job.get("steps") or []):
            continue
        signed_by = sorted(after(name) & signers)
        check(signed_by, f"job {name}: the images it pushes are signed (cosign sign in {', '.join(signed_by) or 'no job'})")
    for name in sorted(signers):
        job = jobs[name]
        check((job.get("permissions") or {}).get("id-token") == "write"
              and any(action(s) == "sigstore/cosign-installer" for s in job.get("steps") or []),
              f"job {name}: signs keylessly (id-token: write, cosign installed by sigstore/cosign-installer)")

    # 4. Images checked (exist, signed) before a kustomization names them.
    editors = []
    for name, job in jobs.items():
        steps = job.get("steps") or []
        edits = [i for i, s in enumerate(steps) if KUSTOMIZATION_EDIT.search(runs(s))]
        if not edits:
            continue
        editors.append(name)
        before = "\n".join(runs(s) for s in steps[: edits[0]])
        check(IMAGE_CHECK.search(before), f"job {name}: checks the images exist before editing the kustomization")
        check(re.search(r"cosign\s+verify\b", before), f"job {name}: verifies the images' signatures before editing the kustomization")

    check(editors, f"a job sets the images in a kustomization ({', '.join(editors) or 'none'})")

    # 5. The PR and its branch are pushed with an App token, re-runs succeed.
    proposers = []
    for name, job in jobs.items():
        steps = job.get("steps") or []
        pr_steps = [s for s in steps if re.search(r"gh\s+pr\s+create", runs(s)) or "create-pull-request" in action(s)]
        if not pr_steps:
            continue
        proposers.append(name)
        app_ids = {s.get("id") for s in steps if action(s) == "actions/create-github-app-token"}
        for s in pr_steps:
            tokens = " ".join(str(v) for v in list((s.get("env") or {}).values()) + list((s.get("with") or {}).values()))
            from_app = any(re.search(rf"steps\.{re.escape(i)}\.outputs\.token", tokens) for i in app_ids if i)
            check(from_app and not OWN_TOKEN.search(tokens),
                  f"job {name}: the PR step uses a GitHub App token, not GITHUB_TOKEN")
            script = runs(s)
            if "git push" in script:
                checkouts = [c for c in steps if action(c) == "actions/checkout"]
                token = str(((checkouts[-1].get("with") or {}) if checkouts else {}).get("token", "secrets.GITHUB_TOKEN (default)"))
                check(any(f"steps.{i}.outputs.token" in token for i in app_ids if i),
                      f"job {name}: the branch is pushed with the App token (checkout token: {token})")
                check(re.search(r"git\s+push\s+(.*\s)?(--force|-f|--force-with-lease)\b|git\s+push\s+.*\s\+", script),
                      f"job {name}: a re-run force-pushes the promotion branch")
            check(re.search(r"gh\s+pr\s+(list|view)", script), f"job {name}: a re-run updates an open PR instead of opening another")
            check(re.search(r"git\s+diff\s+(--cached\s+)?--quiet|git\s+status\s+--porcelain", script),
                  f"job {name}: nothing to commit is handled (success, no empty commit)")

    check(proposers, f"a job opens the promotion pull request ({', '.join(proposers) or 'none'})")

    # 6. kustomize installed at a pinned version with its checksum checked.
    for name, job in jobs.items():
        steps = job.get("steps") or []
        used = [i for i, s in enumerate(steps) if KUSTOMIZE_RUN.search(runs(s))]
        if not used:
            continue
        bare = any(KUSTOMIZE_BARE.search(runs(s)) for s in steps)
        pinned = False
        for s in steps[: used[0]]:
            text = runs(s) + " " + " ".join(f"{k}={v}" for k, v in (s.get("env") or {}).items())
            if ("kustomize" in text.lower() and VERSION.search(text) and re.search(r"sha256sum\s+(-c|--check)", text)
                    and (not bare or "GITHUB_PATH" in text)):
                pinned = True
            if "kustomize" in action(s).lower() and any(VERSION.fullmatch(str(v).lstrip("v")) for v in (s.get("with") or {}).values()):
                pinned = True
        check(pinned, f"job {name}: kustomize is installed at a pinned version with its checksum checked before it runs")

    failed = [m for ok, m in results if not ok]
    for ok, message in results:
        print(("ok: " if ok else "FAIL: ") + message)
    print(f"release_check: {len(results) - len(failed)} ok, {len(failed)} failed ({path})")
    return 1 if failed else 0


def _values_of_key(node, key):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _values_of_key(v, key)
    elif isinstance(node, list):
        for v in node:
            yield from _values_of_key(v, key)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
