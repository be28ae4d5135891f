# Node packages and the web app's build, shared by scripts/dev.sh and scripts/test.sh.

# npm_ci_if_stale DIR: `npm ci` from the committed lock unless node_modules matches it.
npm_ci_if_stale() {
  if [[ ! $1/node_modules/.package-lock.json -nt $1/package-lock.json ]]; then
    echo "harmony: npm ci in $1"
    (cd "$1" && npm ci --no-fund --no-audit --loglevel=error)
  fi
}

# build_web_if_stale: builds app/web/dist when missing or older than a source file
# (the API types are checked against docs/openapi.json by the build).
build_web_if_stale() {
  local web=app/web
  npm_ci_if_stale "$web"
  if [[ ! -f $web/dist/index.html ]] ||
    [[ -n $(find "$web/src" "$web/public" "$web/index.html" "$web/package-lock.json" "$web/vite.config.ts" docs/openapi.json \
      -newer "$web/dist/index.html" -print -quit) ]]; then
    echo "harmony: building the web app ($web)"
    (cd "$web" && npm run --silent build)
  fi
}
