#!/usr/bin/env bash
# Offline validation of every Kubernetes manifest Harmony ships:
#   1. the committed CRD equals `harmony-operator crd`, and is a valid
#      CustomResourceDefinition;
#   2. every child rendered from the operator's samples passes
#      `kubernetes-validate --strict -k 1.33` (upstream schemas, no cluster);
#   3. GitOps: each environment (gitops/environments/*) built as Argo CD
#      builds it (kustomize with the local Helm charts), the bootstrap and
#      the ApplicationSet; Kubernetes kinds against the 1.33 schemas, custom
#      resources against their projects' own schemas (scripts/manifests),
#      sync waves in order; the ApplicationSet's patches applied with the
#      annotations terraform writes, each landing where it should, and the
#      patched HarmonyChat rendered by the operator, its children validated;
#   4. every HarmonyChat (samples, environments) against the CRD's
#      openAPIV3Schema (jsonschema; unknown fields refused as the apiserver's
#      strict field validation would; CEL rules are covered by the Rust tests);
#   5. the local Helm charts: `helm lint --strict`, `helm template` validated;
#      every Deployment that may run several pods (the operator's, the
#      rendered components') has a disruption budget and zone/node spread;
#      the operator's alerts under `promtool test rules`; the Grafana
#      dashboard's JSON; helmfile's values for every environment, the Argo CD
#      health check in them;
#   6. the Argo CD health check for HarmonyChat, in a real Lua, against
#      statuses the operator's code wrote (gitops/argocd/health_test.py);
#   7. yamllint over every YAML file; checkov over what each environment
#      deploys (Argo CD's objects and the operator's children) and the
#      Dockerfiles, against scripts/manifests/checkov-accepted.yaml;
#   8. a deliberately broken file of each kind is refused by its check.
# Usage: scripts/validate-manifests.sh [path/to/harmony-operator]
# Without an argument the binary is built with cargo. Exits non-zero on any
# failure and says what failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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

source "$root/scripts/lib/tools.sh"
ensure_manifest_check_tools
venv=$validate_venv

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

# Custom resources are checked by scripts/manifests against their projects'
# schemas; it hands Kubernetes kinds on to kubernetes-validate and
# HarmonyChats to step 4.
validators="$root/scripts/manifests"
kustomize_build() {
  "$kubectl" kustomize --enable-helm --load-restrictor LoadRestrictionsNone --helm-command "$helm3" "$1"
}
# Validates FILE...: custom resources, Kubernetes objects, and collects the
# HarmonyChats into $work/harmonychats-<label>.yaml for step 4.
validate_objects() {
  local label=$1
  shift
  if ! node "$validators/validate.mjs" --core "$work/core-${label//[\/ ]/-}.yaml" --harmonychat "$work/harmonychats-${label//[\/ ]/-}.yaml" "$@" >"$work/crs.log" 2>&1; then
    cat "$work/crs.log" >&2
    return 1
  fi
  if [ -s "$work/core-${label//[\/ ]/-}.yaml" ]; then
    local count expected
    expected=$(grep -c '^kind: ' "$work/core-${label//[\/ ]/-}.yaml" || true)
    count=$(kube_validate "$work/core-${label//[\/ ]/-}.yaml") || return 1
    [ "$count" -eq "$expected" ] || return 1
  fi
  echo "ok: $label: $(tail -1 "$work/crs.log"), and pass kubernetes-validate --strict -k $k8s_version"
}
# 2. Every rendered child: Kubernetes kinds through kubernetes-validate, the
# KEDA kinds (lag autoscaling) through scripts/manifests against KEDA's schema.
samples=("$root/operator/examples/harmonychat.yaml" "$root/operator/tests/fixtures/production.yaml" "$root/operator/tests/fixtures/gateway.yaml" "$root/operator/tests/fixtures/lag-autoscaling.yaml")
for sample in "${samples[@]}"; do
  name=$(basename "$sample" .yaml)
  rendered="$work/$name-children.yaml"
  if ! "$operator" render -f "$sample" >"$rendered" 2>"$work/render.log"; then
    cat "$work/render.log" >&2
    fail "harmony-operator render -f ${sample#"$root"/} failed"
    continue
  fi
  validate_objects "children of ${sample#"$root"/}" "$rendered" ||
    fail "children of ${sample#"$root"/} do not validate"
done

# 3. GitOps: every environment as Argo CD builds it, the bootstrap and the
# ApplicationSet.
for environment in "$root"/gitops/environments/*/; do
  name=$(basename "$environment")
  if ! kustomize_build "$environment" >"$work/gitops-$name.yaml" 2>"$work/kustomize.log"; then
    cat "$work/kustomize.log" >&2
    fail "kustomize build of gitops/environments/$name (as Argo CD runs it)"
    continue
  fi
  validate_objects "gitops/environments/$name" "$work/gitops-$name.yaml" ||
    fail "gitops/environments/$name does not validate"
  # Waves: namespaces, CRDs, operator, platform dependencies, HarmonyChat.
  "$venv/bin/python" "$validators/sync_waves.py" "$work/gitops-$name.yaml" ||
    fail "gitops/environments/$name: sync waves out of order"
  # What the Application's AppProject lets it sync (Argo CD refuses the
  # whole sync for one object it does not).
  if "$venv/bin/python" "$validators/project_kinds.py" "$root/gitops/apps/project.yaml" "$work/gitops-$name.yaml" >"$work/project.log" 2>&1; then
    echo "ok: gitops/environments/$name: $(tail -1 "$work/project.log")"
  else
    cat "$work/project.log" >&2
    fail "gitops/environments/$name holds what AppProject harmony (gitops/apps/project.yaml) does not allow"
  fi
done
# The project check must be able to fail: prod without PodDisruptionBudgets
# in the whitelist (the operator chart ships one).
grep -v 'kind: PodDisruptionBudget' "$root/gitops/apps/project.yaml" >"$work/project-without-budgets.yaml"
if "$venv/bin/python" "$validators/project_kinds.py" "$work/project-without-budgets.yaml" "$work/gitops-prod.yaml" >/dev/null 2>&1; then
  fail "the AppProject check passed a project that does not allow the operator's PodDisruptionBudget"
fi
validate_objects "gitops/bootstrap and gitops/apps" "$root"/gitops/bootstrap/*.yaml "$root"/gitops/apps/*.yaml ||
  fail "gitops/bootstrap or gitops/apps does not validate"
samples+=("$work"/harmonychats-gitops-environments-*.yaml "$root"/gitops/argocd/health-fixtures/*.yaml)

# The ApplicationSet's patches as Argo CD applies them: its template rendered
# with a cluster Secret carrying every annotation terraform's gitops-bridge
# module writes (fake values), appended to a copy of each terraform-managed
# environment's kustomization.yaml and built; every patch must match an
# object and every annotation's value land at the path its patch names
# (scripts/manifests/appset_patches.py).
appset_copy="$work/appset"
mkdir -p "$appset_copy" && cp -r "$root/gitops" "$appset_copy/gitops" && ln -s "$root/helmfile" "$appset_copy/helmfile"
# Renders, builds and verifies ENV with the ApplicationSet file APPSET.
appset_patches() {
  local environment=$1 appset=$2 copy="$appset_copy/gitops/environments/$1"
  "$venv/bin/python" "$validators/appset_patches.py" render --appset "$appset" \
    --terraform-module "$root/terraform/modules/gitops-bridge" --env "$environment" --helm "$helm3" \
    --kustomization "$root/gitops/environments/$environment/kustomization.yaml" \
    --out "$copy/kustomization.yaml" --expect "$work/appset-$environment.json" || return 1
  kustomize_build "$copy" >"$work/appset-$environment.yaml" || return 1
  "$venv/bin/python" "$validators/appset_patches.py" verify --expect "$work/appset-$environment.json" \
    "$work/appset-$environment.yaml"
}
for environment in "$root"/terraform/environments/*/; do
  name=$(basename "$environment")
  [ -d "$root/gitops/environments/$name" ] || continue
  if appset_patches "$name" "$root/gitops/apps/environments.yaml" >"$work/appset.log" 2>&1; then
    echo "ok: $(tail -1 "$work/appset.log")"
    # The patched objects against their schemas; the HarmonyChat in step 4.
    validate_objects "gitops/environments/$name + ApplicationSet patches" "$work/appset-$name.yaml" ||
      fail "gitops/environments/$name with the ApplicationSet's patches does not validate"
    samples+=("$work/harmonychats-gitops-environments-$name-+-ApplicationSet-patches.yaml")
    # What the operator makes of the environment's HarmonyChat as deployed:
    # its own checks (replicas within partitions, ...) and every child
    # (the consumers' ScaledObjects among them) against its schema.
    patched="$work/harmonychats-gitops-environments-$name-+-ApplicationSet-patches.yaml"
    if "$operator" render -f "$patched" >"$work/appset-$name-children.yaml" 2>"$work/render.log"; then
      validate_objects "children of gitops/environments/$name's HarmonyChat" "$work/appset-$name-children.yaml" ||
        fail "children of gitops/environments/$name's HarmonyChat do not validate"
    else
      cat "$work/render.log" >&2
      fail "harmony-operator render of gitops/environments/$name's HarmonyChat (with the ApplicationSet's patches) failed"
    fi
  else
    grep -v '^ok: ' "$work/appset.log" >&2
    fail "gitops/apps/environments.yaml: a patch of $name misses its target or an annotation's value does not land (scripts/manifests/appset_patches.py)"
  fi
done

# 4. The HarmonyChats against the CRD schema; the last check must fail, which
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
class JsonLikeLoader(yaml.SafeLoader):
    """YAML as the apiserver reads it: a timestamp is a string, not a datetime."""


JsonLikeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

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
    for document in yaml.load_all(open(path), Loader=JsonLikeLoader):
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
        print(f"ok: {path.split('/operator/')[-1].split('/')[-1]} matches the HarmonyChat schema")
problems = errors(bad)
if len(problems) < 4:
    ok = False
    print(f"FAIL: the deliberately bad HarmonyChat gave only {problems}", file=sys.stderr)
else:
    print(f"ok: a deliberately bad HarmonyChat is refused ({len(problems)} errors)")
sys.exit(0 if ok else 1)
PY

# 5. The local Helm charts (helm v4) and helmfile's environments.
chart="$root/helmfile/charts/harmony-operator"
if ! cmp -s "$chart/crds/harmonychat.yaml" "$root/crds/harmonychat.yaml"; then
  fail "helmfile/charts/harmony-operator/crds/harmonychat.yaml differs from crds/harmonychat.yaml (copy it)"
fi
for local_chart in "$root"/helmfile/charts/*/; do
  if "$helm" lint --strict "$local_chart" >"$work/lint.log" 2>&1; then
    echo "ok: helm lint --strict helmfile/charts/$(basename "$local_chart")"
  else
    cat "$work/lint.log" >&2
    fail "helm lint --strict helmfile/charts/$(basename "$local_chart")"
  fi
done
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
# Drains and a zone's loss: every Deployment that may run several pods (the
# operator's own, and each instance's components as the operator renders
# them for the samples and the environments) has one budget of at most one
# unavailable pod and spreads over zones and nodes; the chart without its
# budget must fail the check.
for rendered in "$work/chart-all.yaml" "$work"/*-children.yaml; do
  if "$venv/bin/python" "$validators/disruption.py" "$rendered" >"$work/disruption.log" 2>&1; then
    echo "ok: ${rendered#"$work"/}: $(tail -1 "$work/disruption.log")"
  else
    cat "$work/disruption.log" >&2
    fail "${rendered#"$work"/}: a Deployment that may run several pods lacks its disruption budget or spread"
  fi
done
"$venv/bin/python" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
yaml.safe_dump_all([d for d in docs if d["kind"] != "PodDisruptionBudget"], open(sys.argv[2], "w"))
for d in docs:
    if d["kind"] == "Deployment":
        d["spec"]["template"]["spec"].pop("topologySpreadConstraints", None)
yaml.safe_dump_all(docs, open(sys.argv[3], "w"))' "$work/chart-all.yaml" "$work/chart-without-budget.yaml" "$work/chart-without-spread.yaml"
for broken in without-budget without-spread; do
  if "$venv/bin/python" "$validators/disruption.py" "$work/chart-$broken.yaml" >/dev/null 2>&1; then
    fail "the disruption check passed the operator chart ${broken/-/ its }"
  fi
done
# The operator chart as the environments install it (metrics.serviceMonitor):
# the ServiceMonitor and PrometheusRule against the prometheus-operator
# schemas, the rules through promtool (check, then the unit tests of
# scripts/manifests/operator-alerts.test.yaml).
if "$helm" template harmony-operator "$chart" --namespace harmony-system \
  --set metrics.serviceMonitor=true >"$work/chart-monitored.yaml" 2>"$work/template.log"; then
  validate_objects "operator chart with metrics.serviceMonitor" "$work/chart-monitored.yaml" ||
    fail "the operator chart with metrics.serviceMonitor does not validate"
  mkdir -p "$work/alerts"
  cp "$validators/operator-alerts.test.yaml" "$work/alerts/"
  "$venv/bin/python" -c 'import sys, yaml
rules = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule"]
assert len(rules) == 1, f"{len(rules)} PrometheusRules"
yaml.safe_dump(rules[0]["spec"], open(sys.argv[2], "w"), sort_keys=False)' \
    "$work/chart-monitored.yaml" "$work/alerts/operator-rules.yaml" || fail "the operator chart renders no PrometheusRule"
  if "$promtool" check rules "$work/alerts/operator-rules.yaml" >"$work/promtool.log" 2>&1 &&
    "$promtool" test rules "$work/alerts/operator-alerts.test.yaml" >>"$work/promtool.log" 2>&1; then
    echo "ok: the operator's alerts pass promtool check rules and test rules (scripts/manifests/operator-alerts.test.yaml)"
  else
    cat "$work/promtool.log" >&2
    fail "the operator's alerts (promtool test rules scripts/manifests/operator-alerts.test.yaml)"
  fi
else
  cat "$work/template.log" >&2
  fail "helm template of the operator chart with metrics.serviceMonitor"
fi
# The Grafana dashboard is JSON inside a ConfigMap: helm would ship it broken.
if "$venv/bin/python" "$validators/dashboard_check.py" "$root/helmfile/charts/harmony-platform/files/harmony-dashboard.json" "$promtool" >"$work/dashboard.log" 2>&1; then
  echo "ok: $(tail -1 "$work/dashboard.log")"
else
  cat "$work/dashboard.log" >&2
  fail "helmfile/charts/harmony-platform/files/harmony-dashboard.json (scripts/manifests/dashboard_check.py)"
fi
# The platform chart with every part switched on.
if "$helm" template harmony-platform "$root/helmfile/charts/harmony-platform" --namespace harmony \
  --set kafka.strimzi.enabled=true --set kafka.strimzi.storage.type=persistent-claim \
  --set postgres.cnpg.enabled=true --set redis.inCluster.enabled=true \
  --set dynamodb.local.enabled=true --set externalSecrets.enabled=true >"$work/platform-all.yaml" 2>"$work/template.log"; then
  validate_objects "platform chart, every part on" "$work/platform-all.yaml" || fail "the platform chart (every part on) does not validate"
else
  cat "$work/template.log" >&2
  fail "helm template of the platform chart"
fi
# helmfile: every environment's values render (remote charts cannot be
# fetched here, so their values are what is checked; Karpenter's OCI chart
# is fetched even to write values, so it is left out), Argo CD gets the
# health check verbatim, and the releases of the local charts render.
# HELMFILE_V1MODE=true: helmfile 0.166 behaves as helmfile v1 (which renders
# only files named .gotmpl). The VPC id is a terraform output given on the
# command line (docs/deploy.md); any value stands in for it here.
export HELMFILE_V1MODE=true
for environment in dev staging prod; do
  if ! (cd "$root/helmfile" && "$helmfile" --helm-binary "$helm3" -e "$environment" write-values --skip-deps \
    -l 'name!=karpenter' --state-values-set aws.vpcId=vpc-0123456789abcdef0 \
    --output-file-template "$work/helmfile-$environment/{{ .Release.Name }}.yaml") >"$work/helmfile.log" 2>&1; then
    cat "$work/helmfile.log" >&2
    fail "helmfile -e $environment write-values"
    continue
  fi
  if "$venv/bin/python" -c 'import sys, yaml; v = yaml.safe_load(open(sys.argv[1])); sys.exit(v["configs"]["cm"]["resource.customizations.health.harmony.chat_HarmonyChat"] != open(sys.argv[2]).read())' \
    "$work/helmfile-$environment/argo-cd.yaml" "$root/gitops/argocd/harmonychat-health.lua"; then
    echo "ok: helmfile -e $environment: $(ls "$work/helmfile-$environment" | wc -l) releases' values render; Argo CD carries the HarmonyChat health check"
  else
    fail "helmfile -e $environment: Argo CD's values do not carry gitops/argocd/harmonychat-health.lua"
  fi
  if (cd "$root/helmfile" && "$helmfile" --helm-binary "$helm3" -e "$environment" template --skip-deps -l tier=harmony \
    --state-values-set gitops=false) >"$work/helmfile-$environment.yaml" 2>"$work/helmfile.log"; then
    validate_objects "helmfile -e $environment (Harmony's charts without Argo CD)" "$work/helmfile-$environment.yaml" ||
      fail "helmfile -e $environment: the rendered local charts do not validate"
  else
    cat "$work/helmfile.log" >&2
    fail "helmfile -e $environment template -l tier=harmony"
  fi
  # The cluster's own local charts (staging, prod): Karpenter's EC2NodeClass
  # and NodePool, the gp3 StorageClass, with the environment's values.
  [ "$environment" = dev ] && continue
  if (cd "$root/helmfile" && "$helmfile" --helm-binary "$helm3" -e "$environment" template --skip-deps \
    -l name=karpenter-nodes -l name=ebs-storage) >"$work/helmfile-$environment-cluster.yaml" 2>"$work/helmfile.log"; then
    validate_objects "helmfile -e $environment (karpenter-nodes, ebs-storage)" "$work/helmfile-$environment-cluster.yaml" ||
      fail "helmfile -e $environment: karpenter-nodes or ebs-storage does not validate"
  else
    cat "$work/helmfile.log" >&2
    fail "helmfile -e $environment template -l name=karpenter-nodes -l name=ebs-storage"
  fi
done
unset HELMFILE_V1MODE

# Order: each environment applied on paper to an empty cluster, following
# docs/deploy.md (terraform's kubernetes writes, kubectl, helmfile's releases
# in `needs` order, Argo CD's sync waves): every object's namespace, CRD and
# the Secrets its chart's values name exist before it is applied.
for environment in dev staging prod; do
  if "$venv/bin/python" "$validators/apply_order.py" --root "$root" --env "$environment" \
    --helmfile "$helmfile" --helm "$helm3" --kubectl "$kubectl" >"$work/order-$environment.log" 2>&1; then
    tail -1 "$work/order-$environment.log"
  else
    cat "$work/order-$environment.log" >&2
    fail "docs/deploy.md ($environment): something is applied before its namespace, CRD or Secret exists (scripts/manifests/apply_order.py)"
  fi
done
# helmfile/README.md's walk without Argo CD (dev).
if "$venv/bin/python" "$validators/apply_order.py" --root "$root" --env dev --doc "$root/helmfile/README.md" \
  --helmfile "$helmfile" --helm "$helm3" --kubectl "$kubectl" >"$work/order-no-argocd.log" 2>&1; then
  tail -1 "$work/order-no-argocd.log"
else
  cat "$work/order-no-argocd.log" >&2
  fail "helmfile/README.md (dev without Argo CD): something is applied before its namespace, CRD or Secret exists"
fi

# The release workflow: actions pinned by commit, images for every
# architecture a NodePool may start, signed, checked to exist and verified
# before promotion, a pull request that runs checks and survives a re-run.
if "$venv/bin/python" "$validators/release_check.py" "$root/.github/workflows/release.yml" >"$work/release.log" 2>&1; then
  echo "ok: $(tail -1 "$work/release.log")"
else
  grep -v '^ok' "$work/release.log" >&2
  fail ".github/workflows/release.yml (scripts/manifests/release_check.py)"
fi

# Scheduling and Pod Security, per environment: every pod it runs (its
# kustomize build, the operator's children of its HarmonyChat, the pods
# Strimzi and CloudNativePG create, helmfile's add-ons, terraform's EKS
# add-ons) fits a node source terraform's node groups or the Karpenter
# NodePools declare (a DaemonSet: every node of every source), with images
# built for every architecture it may land on (scripts/manifests/scheduling.py);
# every pod in a namespace enforcing Pod Security `restricted` meets that
# profile (pod_security.py).
# helmfile's releases, versions and values come from `helmfile build
# --embed-values` of the installed releases, over a copy whose OCI
# repository is marked plain (build pulls OCI charts, which cannot be
# fetched here, to embed values it does not need them for).
helmfile_state() {
  local environment=$1 out=$2 copy="$work/helmfile-copy" entry selectors
  rm -rf "$copy" && mkdir -p "$copy"
  cp -r "$root/helmfile" "$copy/helmfile"
  for entry in "$root"/*; do
    [ "$(basename "$entry")" = helmfile ] || ln -s "$entry" "$copy/"
  done
  sed -i 's/^\( *\)oci: true$/\1oci: false/' "$copy"/helmfile/helmfile.yaml*
  selectors=$(cd "$copy/helmfile" && HELMFILE_V1MODE=true "$helmfile" --helm-binary "$helm3" -e "$environment" list \
    --state-values-set aws.vpcId=vpc-0123456789abcdef0 --output json 2>"$work/helmfile.log" |
    "$venv/bin/python" -c 'import json, sys; print(" ".join("-l name=" + r["name"] for r in json.load(sys.stdin) if r["installed"]))') || return 1
  # shellcheck disable=SC2086 # one -l per installed release
  (cd "$copy/helmfile" && HELMFILE_V1MODE=true "$helmfile" --helm-binary "$helm3" -e "$environment" $selectors build \
    --embed-values --state-values-set aws.vpcId=vpc-0123456789abcdef0) >"$out" 2>"$work/helmfile.log"
}
"$venv/bin/python" "$validators/scheduling.py" --self-test >"$work/self-test.log" 2>&1 ||
  { cat "$work/self-test.log" >&2; fail "scripts/manifests/scheduling.py --self-test"; }
"$venv/bin/python" "$validators/pod_security.py" --self-test >"$work/self-test.log" 2>&1 ||
  { cat "$work/self-test.log" >&2; fail "scripts/manifests/pod_security.py --self-test (a Pod Security rule)"; }
for environment in dev staging prod; do
  state="$work/helmfile-state-$environment.yaml"
  if ! helmfile_state "$environment" "$state"; then
    cat "$work/helmfile.log" >&2
    fail "helmfile -e $environment build --embed-values (the releases the scheduling and Pod Security checks read)"
    continue
  fi
  children="$work/children-$environment.yaml"
  if ! "$operator" render -f "$work/harmonychats-gitops-environments-$environment.yaml" >"$children" 2>"$work/render.log"; then
    cat "$work/render.log" >&2
    fail "harmony-operator render of gitops/environments/$environment's HarmonyChat (for the scheduling and Pod Security checks)"
    continue
  fi
  if "$venv/bin/python" "$validators/scheduling.py" --root "$root" --env "$environment" --helmfile-state "$state" \
    --helm "$helm3" "$work/gitops-$environment.yaml" "$children" >"$work/scheduling-$environment.log" 2>&1; then
    echo "ok: $(tail -1 "$work/scheduling-$environment.log")"
  else
    grep -v '^ok: ' "$work/scheduling-$environment.log" >&2
    fail "$environment: a pod fits no node source, or may land on a node its images cannot run on (scripts/manifests/scheduling.py)"
  fi
  if "$venv/bin/python" "$validators/pod_security.py" --label "$environment" --helmfile-state "$state" \
    "$work/gitops-$environment.yaml" "$children" >"$work/pod-security-$environment.log" 2>&1; then
    echo "ok: $(tail -1 "$work/pod-security-$environment.log")"
  else
    grep -v '^ok: ' "$work/pod-security-$environment.log" >&2
    fail "$environment: a pod breaks Pod Security restricted in its namespace (scripts/manifests/pod_security.py)"
  fi
done

# 6. Argo CD's health check for HarmonyChat, in Lua 5.1 as Argo CD runs it.
if "$venv/bin/python" "$root/gitops/argocd/health_test.py" >"$work/health.log" 2>&1; then
  cat "$work/health.log"
else
  cat "$work/health.log" >&2
  fail "the HarmonyChat health check (gitops/argocd/health_test.py)"
fi

# 7. yamllint over every YAML file in git (chart templates are Go templates,
# not YAML, and are checked by rendering them above).
mapfile -t yaml_files < <(cd "$root" && git ls-files -co --exclude-standard '*.yaml' '*.yml' | grep -v -e '/templates/' -e 'node_modules/')
if (cd "$root" && "$venv/bin/yamllint" --strict -c scripts/manifests/yamllint.yaml "${yaml_files[@]}") >"$work/yamllint.log" 2>&1; then
  echo "ok: yamllint: ${#yaml_files[@]} YAML files"
else
  cat "$work/yamllint.log" >&2
  fail "yamllint"
fi

# checkov over what the environments deploy and the release images.
scan="$work/checkov"
mkdir -p "$scan/app" "$scan/operator"
cp "$root/app/Dockerfile" "$scan/app/" && cp "$root/operator/Dockerfile" "$scan/operator/"
for environment in "$root"/gitops/environments/*/; do
  name=$(basename "$environment")
  cp "$work/gitops-$name.yaml" "$scan/gitops-$name.yaml"
  "$operator" render -f "$work/harmonychats-gitops-environments-$name.yaml" >"$scan/harmony-$name.yaml" 2>/dev/null ||
    fail "harmony-operator render of gitops/environments/$name's HarmonyChat"
done
checkov_against_accepted() {
  "$checkov" -d "$1" --framework kubernetes dockerfile --compact --quiet -o json >"$work/checkov.json" 2>"$work/checkov.log"
  "$venv/bin/python" "$root/scripts/lib/checkov_accepted.py" "$work/checkov.json" "$root/scripts/manifests/checkov-accepted.yaml" kubernetes dockerfile
}
if checkov_against_accepted "$scan" >"$work/accepted.log" 2>&1; then
  echo "ok: $(tail -1 "$work/accepted.log")"
else
  cat "$work/accepted.log" >&2
  fail "checkov found what scripts/manifests/checkov-accepted.yaml does not accept"
fi

# 8. No check is hollow: a broken file of each kind is refused.
refused() {
  local what=$1
  shift
  if "$@" >/dev/null 2>&1; then
    fail "a deliberately broken $what passed its check"
  else
    echo "ok: a deliberately broken $what is refused"
  fi
}
printf 'a: 1\na: 2\nlist: [1,2\n' >"$work/broken.yaml"
refused "YAML file (duplicate key, unclosed list)" "$venv/bin/yamllint" -c "$root/scripts/manifests/yamllint.yaml" "$work/broken.yaml"
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec: {replicas: three, selector: {}, template: {}}\n' >"$work/broken-deployment.yaml"
refused "Deployment (replicas: three)" kube_validate "$work/broken-deployment.yaml"
sed 's/project: harmony$/project: 1/' "$root/gitops/apps/environments.yaml" >"$work/broken-appset.yaml"
refused "ApplicationSet (project: 1)" node "$validators/validate.mjs" "$work/broken-appset.yaml"
sed 's/roles: \[controller, broker\]/roles: [conductor]/' "$work/platform-all.yaml" >"$work/broken-kafka.yaml"
refused "KafkaNodePool (an unknown role)" node "$validators/validate.mjs" "$work/broken-kafka.yaml"
sed 's/maxReplicaCount: 12$/maxReplicaCount: twelve/' "$work/lag-autoscaling-children.yaml" >"$work/broken-scaledobject.yaml"
refused "ScaledObject (maxReplicaCount: twelve)" node "$validators/validate.mjs" "$work/broken-scaledobject.yaml"
printf 'apiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: x}\n' >"$work/unknown.yaml"
refused "object of a kind nobody validates" node "$validators/validate.mjs" "$work/unknown.yaml"
cp -r "$root/helmfile/charts/harmony-platform" "$work/broken-chart"
printf '{{ .Values.missing.field }\n' >"$work/broken-chart/templates/broken.yaml"
refused "Helm chart (an unclosed template action)" "$helm" lint --strict "$work/broken-chart"
mkdir -p "$work/broken-alerts"
cp "$validators/operator-alerts.test.yaml" "$work/broken-alerts/"
sed 's/== 0$/== 1/' "$work/alerts/operator-rules.yaml" >"$work/broken-alerts/operator-rules.yaml"
refused "operator alert (HarmonyChatNotReady on Ready resources)" "$promtool" test rules "$work/broken-alerts/operator-alerts.test.yaml"
sed 's/"targets": \[/"targets": [,/' "$root/helmfile/charts/harmony-platform/files/harmony-dashboard.json" >"$work/broken-dashboard.json"
refused "Grafana dashboard (a stray comma)" "$venv/bin/python" "$validators/dashboard_check.py" "$work/broken-dashboard.json" "$promtool"
sed 's/harmony_operator_reconciliations_total\[5m\]/harmony_operator_reconciliations_total[5m/' \
  "$root/helmfile/charts/harmony-platform/files/harmony-dashboard.json" >"$work/broken-dashboard.json"
refused "Grafana dashboard (a query with an unclosed range)" "$venv/bin/python" "$validators/dashboard_check.py" "$work/broken-dashboard.json" "$promtool"
sed 's/status.observedGeneration < generation/false/' "$root/gitops/argocd/harmonychat-health.lua" >"$work/broken-health.lua"
refused "health check (ignores a stale observedGeneration)" "$venv/bin/python" "$root/gitops/argocd/health_test.py" "$work/broken-health.lua"
cp -r "$root/gitops" "$work/broken-gitops" && ln -s "$root/helmfile" "$work/helmfile"
sed -i 's/name=harmony-platform$/name=nothing/' "$work/broken-gitops/base/kustomization.yaml"
kustomize_build "$work/broken-gitops/environments/dev" >"$work/broken-waves.yaml"
printf 'FROM debian:12\nUSER root\nRUN apt-get update\n' >"$scan/app/Dockerfile"
refused "Dockerfile (runs as root)" checkov_against_accepted "$scan"
refused "sync-wave order (the platform dependencies lose their wave)" "$venv/bin/python" "$validators/sync_waves.py" "$work/broken-waves.yaml"
awk '{ print } /^```sh$/ && !done { print "kubectl -n harmony create secret generic early --from-literal=a=b"; done = 1 }' \
  "$root/docs/deploy.md" >"$work/broken-deploy.md"
refused "deploy walk (a Secret created before its namespace)" "$venv/bin/python" "$validators/apply_order.py" \
  --root "$root" --env staging --doc "$work/broken-deploy.md" --helmfile "$helmfile" --helm "$helm3" --kubectl "$kubectl"

grep -v '^kubectl apply -f gitops/base/namespaces.yaml$' "$root/helmfile/README.md" >"$work/broken-no-argocd.md"
refused "walk without Argo CD (the operator's Role written before namespace harmony exists)" "$venv/bin/python" \
  "$validators/apply_order.py" --root "$root" --env dev --doc "$work/broken-no-argocd.md" --helmfile "$helmfile" \
  --helm "$helm3" --kubectl "$kubectl"

sed -E '0,/uses: actions\/checkout@[0-9a-f]{40}/s//uses: actions\/checkout@v7/' \
  "$root/.github/workflows/release.yml" >"$work/broken-release.yml"
refused "release workflow (an action pinned by tag)" "$venv/bin/python" "$validators/release_check.py" "$work/broken-release.yml"

# staging without its Karpenter NodePools: only the tainted system node group is left.
"$venv/bin/python" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    d["releases"] = [r for r in d.get("releases") or [] if "karpenter-nodes" not in r["chart"]]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$work/helmfile-state-staging.yaml" "$work/broken-state.yaml"
refused "staging without its Karpenter NodePools (workloads left to the tainted system nodes)" \
  "$venv/bin/python" "$validators/scheduling.py" --root "$root" --env staging --helmfile-state "$work/broken-state.yaml" \
  --helm "$helm3" "$work/gitops-staging.yaml" "$work/children-staging.yaml"
# staging whose node-exporter tolerates no taint: it fits the NodePool but
# would miss the tainted system nodes (a DaemonSet must fit every source).
"$venv/bin/python" -c 'import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for d in docs:
    for r in d.get("releases") or []:
        if r["chart"].endswith("/kube-prometheus-stack"):
            r.setdefault("values", []).append({"prometheus-node-exporter": {"tolerations": []}})
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))' "$work/helmfile-state-staging.yaml" "$work/broken-state.yaml"
refused "staging node-exporter DaemonSet (tolerates no taint: no agent on the system nodes)" \
  "$venv/bin/python" "$validators/scheduling.py" --root "$root" --env staging --helmfile-state "$work/broken-state.yaml" \
  --helm "$helm3" "$work/gitops-staging.yaml" "$work/children-staging.yaml"
sed 's/name: harmony-redis$/name: harmony-cache/' "$root/gitops/apps/environments.yaml" >"$work/broken-appset-target.yaml"
refused "ApplicationSet patch (target ExternalSecret renamed harmony-cache: staging's Redis secret key never set)" \
  appset_patches staging "$work/broken-appset-target.yaml"
sed 's/allowPrivilegeEscalation: false/allowPrivilegeEscalation: true/' "$work/gitops-dev.yaml" >"$work/broken-pod-security.yaml"
refused "Pod Security restricted (dev's pods allow privilege escalation)" "$venv/bin/python" "$validators/pod_security.py" \
  --helmfile-state "$work/helmfile-state-dev.yaml" "$work/broken-pod-security.yaml"

if [ "${#failures[@]}" -gt 0 ]; then
  echo "validate-manifests: ${#failures[@]} failure(s):" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "validate-manifests: all manifests valid"
