#!/usr/bin/env bash
# Offline checks of terraform/ (no AWS account, no provider download):
#   1. terraform fmt -check over the tree;
#   2. every .tf/.tftest.hcl/.tfvars parses with HashiCorp's HCL parser
#      (hcl2json), then the AWS/random/kubernetes argument names, required
#      arguments, attributes, provider blocks, provider pins and module
#      wiring are checked against the provider schemas
#      (terraform/tests/tools/lint-terraform.js; what `terraform validate`
#      would catch, since validate cannot run without the providers);
#   3. terraform init/validate/test of the provider-free naming module;
#   4. checkov over terraform/, against terraform/checkov-accepted.yaml
#      (new findings and stale acceptances both fail);
#   5. each check refuses a deliberately broken input, so none is hollow.
# Tools are installed into ~/.cache/harmony on first use (npm ci from the
# committed lock; checkov from scripts/lib/tools.sh); later runs reuse them.
# Prints "ok: ..." per passing check; exits non-zero and says what failed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tf_root="$root/terraform"
tools_src="$tf_root/tests/tools"
source "$root/scripts/lib/tools.sh"
terraform_bin="${TERRAFORM:-terraform}"

# The environment points TF_CLI_CONFIG_FILE at a missing ~/.terraformrc;
# checkov would otherwise try to reach its platform for guideline mappings.
export TF_CLI_CONFIG_FILE=/dev/null TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
export BC_SKIP_MAPPING=TRUE

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=()

fail() {
  echo "FAIL: $*" >&2
  failures+=("$*")
}
ok() { echo "ok: $*"; }

# Runs a command quietly; on failure shows its output. Returns its status.
quiet() {
  local log="$work/quiet.log"
  if "$@" >"$log" 2>&1; then
    return 0
  else
    local rc=$?
    cat "$log" >&2
    return "$rc"
  fi
}

# Runs a command that must fail; true when it did.
refuses() {
  ! "$@" >"$work/refuse.log" 2>&1
}

# --- tools ---------------------------------------------------------------------

if ! command -v "$terraform_bin" >/dev/null; then
  echo "check-terraform: terraform not found (set TERRAFORM=/path/to/terraform)" >&2
  exit 2
fi

ensure_terraform_node_tools
export NODE_PATH="$terraform_node_tools/node_modules"
ensure_checkov
ensure_validate_venv

parse_hcl() { node "$tools_src/parse-hcl.js" "$@"; }
lint_tf() { node "$tools_src/lint-terraform.js" "$@"; }

# checkov over a directory, compared with the accepted list; extra arguments
# go to the comparison (--no-stale for the broken sample).
checkov_gate() {
  local dir=$1 report=$2
  shift 2
  # Exit status 1 only means "failed checks"; the comparison decides.
  "$checkov" -d "$dir" --framework terraform --skip-path tests \
    --skip-download --quiet --compact -o json >"$report" 2>"$report.err" || true
  if [ ! -s "$report" ]; then
    cat "$report.err" >&2
    return 1
  fi
  "$validate_venv/bin/python" "$root/scripts/lib/checkov_accepted.py" "$report" "$tf_root/checkov-accepted.yaml" terraform "$@"
}

# Terraform working data goes to the temp dir: nothing is written into the tree.
naming_tf() {
  local dir=$1
  shift
  TF_DATA_DIR="$work/tfdata-$(basename "$dir")" "$terraform_bin" -chdir="$dir" "$@" -no-color
}

# --- 1. formatting -------------------------------------------------------------

if quiet "$terraform_bin" fmt -check -recursive -diff "$tf_root"; then
  ok "terraform fmt: $(find "$tf_root" -name '*.tf' -not -path '*/.terraform/*' | wc -l) files formatted"
else
  fail "terraform fmt -check: files above need 'terraform fmt -recursive terraform/'"
fi

# --- 2. parsing, schema and wiring -----------------------------------------------

if quiet parse_hcl "$tf_root"; then
  ok "hcl2json: $(tail -n1 "$work/quiet.log")"
else
  fail "hcl2json: parse errors above"
fi

if quiet lint_tf "$tf_root"; then
  ok "schema and wiring: $(tail -n1 "$work/quiet.log")"
else
  fail "schema and wiring: findings above"
fi

# --- 3. naming module: init, validate, test ---------------------------------------

naming="$tf_root/modules/naming"
# A run that executes no test must not pass: require at least one passed run.
if quiet naming_tf "$naming" init -backend=false -input=false &&
  quiet naming_tf "$naming" validate &&
  quiet naming_tf "$naming" test &&
  grep -Eq '^Success! [1-9][0-9]* passed, 0 failed' "$work/quiet.log"; then
  ok "naming module: validate, $(grep -E '^Success' "$work/quiet.log" | tail -n1)"
else
  fail "naming module: terraform init/validate/test failed (output above)"
fi

# --- 4. checkov ----------------------------------------------------------------

if quiet checkov_gate "$tf_root" "$work/checkov.json"; then
  ok "$(tail -n1 "$work/quiet.log") (checkov $checkov_version)"
else
  fail "checkov: unaccepted findings or stale acceptances (above); fix them or justify them in terraform/checkov-accepted.yaml"
fi

# --- 5. each check refuses a broken input ------------------------------------------

bad="$work/bad"
mkdir -p "$bad/fmt" "$bad/syntax" "$bad/schema" "$bad/pins" "$bad/insecure"

printf 'resource "aws_s3_bucket" "x" {\nbucket="harmony-fmt-sample"\n    force_destroy = true\n}\n' >"$bad/fmt/main.tf"
printf 'resource "aws_s3_bucket" "x" {\n  bucket = "harmony-syntax-sample"\n' >"$bad/syntax/main.tf"
cat >"$bad/schema/main.tf" <<'EOF'
resource "aws_vpc" "x" {
  cidr_block         = "10.0.0.0/16"
  enable_dns_hostname = true
}
EOF
# A misspelt provider argument, and a pin that excludes the checked schema.
cat >"$bad/pins/main.tf" <<'EOF'
terraform {
  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "~> 3.0"
    }
  }
}

provider "kubernetes" {
  config_pth = "~/.kube/config"
}

resource "kubernetes_secret_v1" "x" {
  metadata {
    name = "x"
  }
}
EOF
cat >"$bad/insecure/main.tf" <<'EOF'
resource "aws_s3_bucket" "public" {
  bucket = "harmony-insecure-sample"
}

resource "aws_s3_bucket_acl" "public" {
  bucket = aws_s3_bucket.public.id
  acl    = "public-read"
}

resource "aws_security_group" "open" {
  name        = "open"
  description = "SSH from anywhere"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
EOF

# A copy of the naming module with a test whose expectation is wrong, and one
# expecting a validation failure for an input that is valid.
cp -r "$naming" "$bad/naming"
rm -rf "$bad/naming/tests"/*
cat >"$bad/naming/tests/wrong_expectation.tftest.hcl" <<'EOF'
run "wrong_prefix" {
  command = plan

  variables {
    environment = "staging"
    region      = "eu-west-1"
    account_id  = "123456789012"
  }

  assert {
    condition     = output.name_prefix == "harmony-prod"
    error_message = "deliberately wrong expectation"
  }
}
EOF
cat >"$bad/naming/tests/vacuous_validation.tftest.hcl" <<'EOF'
run "valid_input_expected_to_fail" {
  command = plan

  variables {
    environment = "prod"
    region      = "eu-west-1"
    account_id  = "123456789012"
  }

  expect_failures = [var.environment]
}
EOF

negatives=()
refuses "$terraform_bin" fmt -check "$bad/fmt" && negatives+=("fmt") ||
  fail "self-test: terraform fmt -check accepted a badly formatted file"
refuses parse_hcl "$bad/syntax" && grep -q '^parse error: ' "$work/refuse.log" && negatives+=("hcl2json") ||
  fail "self-test: hcl2json accepted an unclosed block"
refuses lint_tf "$bad/schema" && grep -q 'unsupported argument or block "enable_dns_hostname"' "$work/refuse.log" &&
  negatives+=("schema") || fail "self-test: the schema check accepted a misspelt argument"
refuses lint_tf "$bad/pins" && grep -q 'provider "kubernetes": unsupported argument or block "config_pth"' "$work/refuse.log" &&
  grep -q '"~> 3.0" does not admit' "$work/refuse.log" &&
  negatives+=("provider-pins") || fail "self-test: the schema check accepted a misspelt provider argument or a pin excluding the checked schema"
if quiet naming_tf "$bad/naming" init -backend=false -input=false; then
  refuses naming_tf "$bad/naming" test -filter=tests/wrong_expectation.tftest.hcl &&
    grep -q 'deliberately wrong expectation' "$work/refuse.log" &&
    negatives+=("naming test") || fail "self-test: terraform test passed a wrong expectation"
  refuses naming_tf "$bad/naming" test -filter=tests/vacuous_validation.tftest.hcl &&
    grep -q 'Missing expected failure' "$work/refuse.log" &&
    negatives+=("expect_failures") || fail "self-test: terraform test passed expect_failures on a valid input"
else
  fail "self-test: terraform init of the naming copy failed"
fi
if refuses checkov_gate "$bad/insecure" "$work/checkov-bad.json" --no-stale &&
  grep -q 'CKV_AWS_' "$work/refuse.log"; then
  negatives+=("checkov")
else
  fail "self-test: checkov raised no unaccepted finding for a public, unencrypted bucket and an open SSH port"
fi
if [ "${#negatives[@]}" -eq 7 ]; then
  ok "self-test: broken inputs refused by ${negatives[*]}"
fi

if [ "${#failures[@]}" -ne 0 ]; then
  echo "check-terraform: ${#failures[@]} check(s) failed:" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check-terraform: all checks passed"
