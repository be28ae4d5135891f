# Sourced by the scripts: one cargo target directory outside the clone, so
# every clone (and CI) on this machine reuses the same build cache.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/harmony/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
