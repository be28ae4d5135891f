#!/usr/bin/env bash
# Builds the previous release's `harmony` binary, the version that keeps
# serving beside this one during a roll, and prints its path. The
# `upgrade::` tests run it against this tree's schema
# (HARMONY_PREVIOUS_RELEASE_BIN).
#
# The previous release is the newest `v*` tag behind HEAD's parent (a
# tagged HEAD is the release being made; operator/tests/migrations.rs asks
# git the same). No release is tagged yet; until one is, the stand-in is
# main just before the newest migration (20261202000002, read positions), so
# the test crosses a real schema change.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/cargo-env.sh

stand_in=6fdd8da426d595502bacbcf63adeb0f221ef5b11
release=$(git describe --tags --abbrev=0 --match 'v[0-9]*' HEAD^ 2>/dev/null || echo "$stand_in")
if ! commit=$(git rev-parse --verify --quiet "$release^{commit}"); then
  echo "previous-release: $release is not in this clone; clone with its history (no --depth)" >&2
  exit 1
fi

repo=$PWD
cache=$HOME/.cache/harmony/previous-release
# The prepared tree is the release's, as this script and the stand-in's
# patch make it: a change to either prepares it again.
recipe=$(cat scripts/previous-release.sh scripts/previous-release-stand-in.patch | sha256sum | cut -c1-12)
src=$cache/tree-$commit-$recipe
if [ ! -f "$src/Cargo.toml" ]; then
  mkdir -p "$cache"
  partial=$(mktemp -d "$cache/partial.XXXXXX")
  git archive "$commit" | tar -x -C "$partial"
  if [ "$commit" = "$stand_in" ]; then
    # The stand-in predates this tree's build settings (the AWS SDK's HTTPS
    # client on rustls with ring, dependencies without debug info, the lock
    # without aws-lc); with them it can reuse this tree's dependencies. No
    # behaviour changes.
    patch -p1 --forward --batch --quiet -d "$partial" <"$repo/scripts/previous-release-stand-in.patch"
  fi
  # A version of its own, per release: cargo names a workspace member's
  # artifacts by name, version and path inside the workspace, so under
  # another tree's version two trees would share artifacts in the shared
  # build directory (and a release's sources, older than the other tree's
  # artifacts, would look built).
  sed -i "/^\\[workspace.package\\]/,/^\\[/ s/^version = \"\\(.*\\)\"\$/version = \"\\1-previous-${commit:0:12}\"/" "$partial/Cargo.toml"
  (cd "$partial" && { cargo update --workspace --offline --quiet 2>/dev/null || cargo update --workspace --quiet; })
  if ! (cd "$partial" && cargo metadata --no-deps --offline --format-version 1) |
    python3 -c 'import json, sys; m = json.load(sys.stdin); sys.exit(any(not p["version"].endswith(sys.argv[1]) for p in m["packages"]))' "-previous-${commit:0:12}"; then
    echo "previous-release: could not give every package of $release a version of its own (its [workspace.package] version)" >&2
    exit 1
  fi
  # An empty test target: built with the binary, it makes cargo resolve the
  # dependencies' features as the test build (`--workspace --tests`) does,
  # so the binary links the dependencies that build compiled. Selected
  # alone, the binary would get other features and compile about 120 crates
  # again (95 s on this machine, cold).
  : >"$partial/app/tests/unify_features.rs"
  # Another run may have prepared the same tree meanwhile.
  mv -T "$partial" "$src" 2>/dev/null || rm -rf "$partial"
fi
# Intermediate artifacts in the shared build directory; the binary in a
# target directory of its own, so it does not replace this tree's `harmony`.
# The vendored kafka-protocol is outside the workspace and keeps its id, so
# it is shared only if the release's copy is this tree's; otherwise the
# release builds in a directory of its own.
build_dir=$CARGO_TARGET_DIR
if ! git diff --quiet "$commit" -- app/broker/vendor; then
  build_dir=$cache/build
fi
CARGO_BUILD_BUILD_DIR=$build_dir \
  cargo build --locked --quiet --manifest-path "$src/Cargo.toml" \
  --target-dir "$cache/target" --workspace --bin harmony --test unify_features >&2
# A path of its own per release: another build (another clone, a new tag)
# replaces the target's binary while a test may be starting this one. A
# hard link, not a copy: cargo replaces the file (a new inode) rather than
# writing into it, and a copy wrote 160 MB on every run while the tests'
# Postgres waited on fsync.
mkdir -p "$cache/bin"
if ! [ "$cache/target/debug/harmony" -ef "$cache/bin/harmony-$commit" ]; then
  ln -f "$cache/target/debug/harmony" "$cache/bin/harmony-$commit.partial"
  mv -f "$cache/bin/harmony-$commit.partial" "$cache/bin/harmony-$commit"
fi
echo "$cache/bin/harmony-$commit"
