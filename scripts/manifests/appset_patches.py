#!/usr/bin/env python3
"""The ApplicationSet's kustomize patches, applied offline as Argo CD applies
them, with the annotations terraform writes on the cluster Secret.

  render: reads the annotation names terraform/modules/gitops-bridge writes
          (its locals.annotations), gives each a recognisable fake value,
          renders the string fields of the ApplicationSet template's
          spec.source.kustomize.patches with a cluster Secret carrying them
          (Go templates, through Helm's `tpl`: the same text/template engine
          and sprig functions Argo CD uses), and writes a copy of the
          environment's kustomization.yaml with those patches appended to its
          `patches` (what Argo CD does with spec.source.kustomize.patches),
          plus what verify expects.
  verify: reads the kustomize build of that copy and checks that every patch
          matched at least one object, every op's path holds the op's value
          in each matched object, and every annotation's value is found at a
          patched path.

Usage:
  appset_patches.py render --appset environments.yaml --terraform-module DIR --env ENV
                           --kustomization IN.yaml --out OUT.yaml --expect EXPECT.json --helm HELM
  appset_patches.py verify --expect EXPECT.json BUILT.yaml
Exits 1 (with what is wrong) when a patch matches nothing, a value does not
land, or the ApplicationSet reads an annotation terraform does not write.
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

# A value per annotation that is valid where it lands and found nowhere in
# git, so finding it in the build proves the patch put it there.
FAKE_VALUES = {
    "harmony.chat/kafka-bootstrap-servers":
        "b-1.fakemsk.c3.kafka.eu-north-1.amazonaws.com:9096,b-2.fakemsk.c3.kafka.eu-north-1.amazonaws.com:9096",
    "harmony.chat/dynamodb-table": "fake-harmony-chat-history",
    "harmony.chat/aws-region": "il-central-1",
    "harmony.chat/secrets-prefix": "fake-prefix/harmony",
    "harmony.chat/kafka-secret-name": "AmazonMSK_fake_harmony",
    "harmony.chat/public-host": "chat.fake-harmony.example.net",
    "harmony.chat/certificate-arn":
        "arn:aws:acm:eu-north-1:123456789012:certificate/00000000-0000-4000-8000-00000000fa4e",
}
# None inside another: a value found at a path came from its own annotation.
assert not [(a, b) for a in FAKE_VALUES.values() for b in FAKE_VALUES.values() if a != b and a in b]


RENDER_CHART = """\
{{- range $i, $s := .Values.strings }}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: s{{ $i }}
data:
  text: {{ tpl $s $.Values.context | toJson }}
{{- end }}
"""


def unquote(text):
    return text[1:-1] if isinstance(text, str) and len(text) >= 2 and text[0] == text[-1] == '"' else text


def terraform_annotations(module_dir):
    """Names of the annotations in the module's locals.annotations."""
    import hcl2  # python-hcl2, installed into the validate venv by scripts/lib/tools.sh

    names = []
    for path in sorted(glob.glob(os.path.join(module_dir, "*.tf"))):
        with open(path) as handle:
            for block in hcl2.load(handle).get("locals") or []:
                annotations = block.get("annotations")
                if isinstance(annotations, dict):
                    names += [unquote(k) for k in annotations if not k.startswith("__")]
    if not names:
        raise SystemExit(f"{module_dir}: no locals.annotations found (the cluster Secret's annotations)")
    return names


def string_leaves(node, path=()):
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from string_leaves(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from string_leaves(value, path + (i,))


def set_at(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


def render_templates(strings, context, helm):
    """Each string rendered as a Go template with CONTEXT as `.`."""
    with tempfile.TemporaryDirectory() as chart:
        os.mkdir(os.path.join(chart, "templates"))
        with open(os.path.join(chart, "Chart.yaml"), "w") as handle:
            handle.write("apiVersion: v2\nname: appset-render\nversion: 0.1.0\n")
        with open(os.path.join(chart, "templates", "strings.yaml"), "w") as handle:
            handle.write(RENDER_CHART)
        values = os.path.join(chart, "values.yaml")
        with open(values, "w") as handle:
            json.dump({"strings": strings, "context": context}, handle)
        result = subprocess.run([helm, "template", "render", chart, "-f", values], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"rendering the ApplicationSet's patches failed:\n{result.stderr}")
    rendered = {d["metadata"]["name"]: d["data"]["text"] for d in yaml.safe_load_all(result.stdout) if d}
    return [rendered[f"s{i}"] for i in range(len(strings))]


def render(args):
    names = terraform_annotations(args.terraform_module)
    missing = [n for n in names if n not in FAKE_VALUES]
    if missing:
        raise SystemExit(f"terraform writes {', '.join(missing)}: give each a fake value in {__file__} (FAKE_VALUES)")
    annotations = {n: FAKE_VALUES[n] for n in names}

    with open(args.appset) as handle:
        appset = yaml.safe_load(handle)
    patches = appset["spec"]["template"]["spec"]["source"]["kustomize"]["patches"]
    failures = []
    read = set()
    for _, text in string_leaves(patches):
        read |= set(re.findall(r'index\s+\.metadata\.annotations\s+"([^"]+)"', text))
    for name in sorted(read - set(names)):
        failures.append(f"the ApplicationSet reads annotation {name}, which terraform ({args.terraform_module}) never writes")

    # The matrix generator's parameters for this environment and its cluster.
    context = {
        "path": {"path": f"gitops/environments/{args.env}", "basename": args.env,
                 "basenameNormalized": args.env, "segments": ["gitops", "environments", args.env]},
        "name": f"harmony-{args.env}", "nameNormalized": f"harmony-{args.env}",
        "server": "https://kubernetes.default.svc",
        "metadata": {"labels": {"harmony.chat/environment": args.env}, "annotations": annotations},
    }
    leaves = list(string_leaves(patches))
    for (path, _), text in zip(leaves, render_templates([t for _, t in leaves], context, args.helm)):
        set_at(patches, path, text)

    expected = []
    for i, patch in enumerate(patches):
        ops = yaml.safe_load(patch["patch"])
        if not isinstance(ops, list):
            failures.append(f"patch {i}: only JSON 6902 patches (a list of ops) are checked")
            continue
        for op in ops:
            if op.get("op") not in ("replace", "add"):
                failures.append(f"patch {i}: op {op.get('op')} is not checked (replace and add are)")
        expected.append({"index": i, "target": patch.get("target") or {}, "ops": ops})

    with open(args.kustomization) as handle:
        kustomization = yaml.safe_load(handle)
    kustomization["patches"] = (kustomization.get("patches") or []) + patches
    with open(args.out, "w") as handle:
        yaml.safe_dump(kustomization, handle, sort_keys=False)
    with open(args.expect, "w") as handle:
        json.dump({"env": args.env, "annotations": annotations, "patches": expected}, handle, indent=1)
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    print(f"{args.env}: {len(patches)} ApplicationSet patches rendered with {len(annotations)} annotations")
    return 1 if failures else 0


def matches(target, obj):
    """kustomize's patch target: group, version, kind, name, namespace are
    anchored regular expressions."""
    unsupported = set(target) - {"group", "version", "kind", "name", "namespace"}
    if unsupported:
        raise SystemExit(f"target {target}: {', '.join(sorted(unsupported))} not modelled")
    group, _, version = obj.get("apiVersion", "").rpartition("/")
    fields = {"group": group, "version": version, "kind": obj.get("kind", ""),
              "name": obj["metadata"].get("name", ""), "namespace": obj["metadata"].get("namespace") or ""}
    return all(re.fullmatch(str(pattern), fields[key]) for key, pattern in target.items())


MISSING = object()


def at_pointer(obj, pointer):
    node = obj
    for part in pointer.lstrip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return MISSING
    return node


def describe(target):
    return ", ".join(f"{k}={v}" for k, v in target.items())


def verify(args):
    with open(args.expect) as handle:
        expect = json.load(handle)
    with open(args.built) as handle:
        objects = [o for o in yaml.safe_load_all(handle) if o]
    failures, landed = [], {}
    for patch in expect["patches"]:
        targets = [o for o in objects if matches(patch["target"], o)]
        if not targets:
            failures.append(f"patch {patch['index']} (target {describe(patch['target'])}) matches no object: "
                            f"its annotations never reach {expect['env']}")
            continue
        for obj in targets:
            where = f"{obj['kind']} {obj['metadata']['name']}"
            for op in patch["ops"]:
                found = at_pointer(obj, op["path"])
                if found != op.get("value"):
                    shown = "missing" if found is MISSING else repr(found)
                    failures.append(f"patch {patch['index']}: {where} {op['path']} is {shown}, "
                                    f"the patch sets {op.get('value')!r}")
                    continue
                for name, value in expect["annotations"].items():
                    if value in json.dumps(found):
                        landed.setdefault(name, []).append(f"{where} {op['path']}")
    for name, value in expect["annotations"].items():
        if name in landed:
            print(f"ok: {expect['env']}: {name} lands at {'; '.join(landed[name])}")
        else:
            failures.append(f"annotation {name} (terraform writes it) lands nowhere in {expect['env']}'s build")
    for failure in failures:
        print(f"FAIL: {expect['env']}: {failure}", file=sys.stderr)
    print(f"{expect['env']}: {len(expect['patches'])} ApplicationSet patches applied, "
          f"{len(landed)} of {len(expect['annotations'])} terraform annotations land in the build")
    return 1 if failures else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("render")
    r.add_argument("--appset", required=True)
    r.add_argument("--terraform-module", required=True)
    r.add_argument("--env", required=True)
    r.add_argument("--kustomization", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--expect", required=True)
    r.add_argument("--helm", required=True)
    v = commands.add_parser("verify")
    v.add_argument("--expect", required=True)
    v.add_argument("built")
    args = parser.parse_args()
    return render(args) if args.command == "render" else verify(args)


if __name__ == "__main__":
    sys.exit(main())
