# Sourced by the scripts: one cargo target directory outside the clone, so
# every clone (and CI) on this machine reuses the same build cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/harmony/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# claim_workspace_build: called before a script builds. The shared target
# dir's build of the workspace's own crates belongs to one checkout. Cargo
# judges their sources fresh by mtime, at paths relative to the workspace,
# so a second checkout whose files are older than the first one's build
# would run that build: the first checkout's code, with its paths compiled
# in (env!("CARGO_MANIFEST_DIR")). A checkout that finds another one's path
# recorded here cleans the workspace's own crates; dependencies stay.
claim_workspace_build() {
  local root owner=$CARGO_TARGET_DIR/harmony-checkout
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [[ -d $CARGO_TARGET_DIR && $(cat "$owner" 2>/dev/null) != "$root" ]]; then
    echo "harmony: $CARGO_TARGET_DIR last built $(cat "$owner" 2>/dev/null || echo "another checkout"); cleaning the workspace's own crates" >&2
    local members
    members=$(cd "$root" && cargo metadata --no-deps --format-version 1 --offline |
      python3 -c 'import json, sys; print(" ".join("-p " + p["name"] for p in json.load(sys.stdin)["packages"]))')
    # shellcheck disable=SC2086  # one "-p NAME" pair per word
    (cd "$root" && cargo clean --quiet $members &&
      cargo clean --quiet --release --target "$(rustc -vV | sed -n 's/^host: //p')" -p harmony-broker)
  fi
  mkdir -p "$CARGO_TARGET_DIR"
  echo "$root" >"$owner"
}
