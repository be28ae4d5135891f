# Sourced by the scripts that run Python tools: pinned venvs in the shared cache.

# ensure_venv DIR NAME==VERSION...: a venv at DIR holding exactly these
# versions; (re)installed only when one is missing or differs.
ensure_venv() {
  local dir=$1
  shift
  if ! "$dir/bin/python" - "$@" 2>/dev/null <<'PY'
import sys, importlib.metadata as m
sys.exit(any(m.version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))
PY
  then
    echo "harmony: installing $* into $dir" >&2
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  fi
}
