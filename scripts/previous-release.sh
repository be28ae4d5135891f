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

cache=$HOME/.cache/harmony/previous-release
src=$cache/src-$commit
if [ ! -f "$src/Cargo.toml" ]; then
  rm -rf "$src.partial"
  mkdir -p "$src.partial"
  git archive "$commit" | tar -x -C "$src.partial"
  mv "$src.partial" "$src"
fi
# A target directory of its own: in the shared one the two trees' crates
# get the same hashes (cargo hashes a workspace member by its path inside
# the workspace), so each build would evict the other's, and both write
# the binary to the same path.
target=$cache/target
CARGO_TARGET_DIR=$target cargo build --locked --quiet --manifest-path "$src/Cargo.toml" -p harmony --bin harmony >&2
# A path of its own per release: another build (another clone, a new tag)
# replaces the target's binary while a test may be starting this one. A
# hard link, not a copy: cargo replaces the file (a new inode) rather than
# writing into it, and a copy wrote 160 MB on every run while the tests'
# Postgres waited on fsync.
mkdir -p "$cache/bin"
if ! [ "$target/debug/harmony" -ef "$cache/bin/harmony-$commit" ]; then
  ln -f "$target/debug/harmony" "$cache/bin/harmony-$commit.partial"
  mv -f "$cache/bin/harmony-$commit.partial" "$cache/bin/harmony-$commit"
fi
echo "$cache/bin/harmony-$commit"
