#!/usr/bin/env bash
# Build the browser assets into assets/dist/ (gitignored):
#   assets/dist/app.css            Tailwind CSS, compiled and minified from assets/css/app.css
#   assets/dist/vendor/uPlot.*     uPlot (ES module, IIFE, CSS) for charts
#   assets/dist/vendor/cytoscape.* cytoscape.js (ES module and UMD, minified) for the topology graph
#   assets/dist/vendor/VERSIONS    exact versions copied, plus their LICENSE files
#
# Node.js 20+ and npm are needed at build time only. Packages come from the npm registry through
# build/package-lock.json (exact versions and integrity hashes) into build/node_modules/; nothing
# is fetched when the manager runs, and no page loads anything from another origin.
#
# Idempotent: re-running gives the same output. `npm ci` runs only when build/node_modules does not
# match the lockfile (set ASSETS_FORCE_INSTALL=1 to force a clean install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build"
ASSETS="$ROOT/assets"
DIST="$ASSETS/dist"
VENDOR="$DIST/vendor"
MODULES="$BUILD/node_modules"
STAMP="$MODULES/.bilbycast-lock.sha256"

started=$(date +%s%N)
say() { printf 'assets: %s\n' "$*"; }
die() { printf 'assets: error: %s\n' "$*" >&2; exit 1; }

command -v node >/dev/null 2>&1 || die "node not found (Node.js 20 or newer is needed to build the assets)"
command -v npm >/dev/null 2>&1 || die "npm not found"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' \
  || die "Node.js $(node --version) is too old; 20 or newer is needed"

# 1. Install exactly what the lockfile pins.
lock_sum=$(sha256sum "$BUILD/package-lock.json" | cut -d' ' -f1)
if [[ "${ASSETS_FORCE_INSTALL:-0}" == 1 || ! -f "$STAMP" || "$(cat "$STAMP")" != "$lock_sum" \
      || ! -x "$MODULES/.bin/tailwindcss" ]]; then
  say "npm ci (node $(node --version), npm $(npm --version))"
  # --ignore-scripts: no package needs an install script here (native parts ship as prebuilt
  # optional packages), and skipping them keeps the build from running downloaded code.
  npm ci --prefix "$BUILD" --ignore-scripts --no-audit --no-fund --loglevel=error
  printf '%s\n' "$lock_sum" > "$STAMP"
else
  say "build/node_modules matches package-lock.json; skipping npm ci"
fi

# 2. Tailwind: assets/css/app.css → assets/dist/app.css (content: assets/html/**/*.html, assets/js/**/*.js).
# The entry lives in build/node_modules so that `@import "tailwindcss"` resolves there; automatic
# source detection is off and app.css lists its own @source globs.
mkdir -p "$DIST"
entry="$MODULES/.bilbycast-entry.css"
printf '@import "tailwindcss" source(none);\n@import "%s";\n' "$ASSETS/css/app.css" > "$entry"
tmp_css="$DIST/.app.css.tmp"
"$MODULES/.bin/tailwindcss" --input "$entry" --output "$tmp_css" --minify --silent
[[ -s "$tmp_css" ]] || die "tailwindcss produced no output"
mv -f "$tmp_css" "$DIST/app.css"

# 3. Vendored browser libraries, copied fresh each time.
rm -rf "$VENDOR"
mkdir -p "$VENDOR"
copy() { [[ -f "$1" ]] || die "missing $1 (is the lockfile in sync with package.json?)"; cp "$1" "$2"; }
copy "$MODULES/uplot/dist/uPlot.esm.js" "$VENDOR/uPlot.esm.js"
copy "$MODULES/uplot/dist/uPlot.iife.min.js" "$VENDOR/uPlot.iife.min.js"
copy "$MODULES/uplot/dist/uPlot.min.css" "$VENDOR/uPlot.min.css"
copy "$MODULES/uplot/LICENSE" "$VENDOR/LICENSE.uPlot"
# Served as .js (not .mjs) so every static server, including a frozen binary's, sends text/javascript.
copy "$MODULES/cytoscape/dist/cytoscape.esm.min.mjs" "$VENDOR/cytoscape.esm.min.js"
copy "$MODULES/cytoscape/dist/cytoscape.min.js" "$VENDOR/cytoscape.min.js"
copy "$MODULES/cytoscape/LICENSE" "$VENDOR/LICENSE.cytoscape"

version_of() { node -p "require('$MODULES/$1/package.json').version"; }
{
  printf 'tailwindcss %s\n' "$(version_of tailwindcss)"
  printf '@tailwindcss/cli %s\n' "$(version_of @tailwindcss/cli)"
  printf 'uplot %s\n' "$(version_of uplot)"
  printf 'cytoscape %s\n' "$(version_of cytoscape)"
} > "$VENDOR/VERSIONS"

elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
say "built in ${elapsed_ms} ms:"
(cd "$DIST" && find . -type f ! -name '.*' -printf '  %-28P %8s bytes\n' | sort)
say "$(tr '\n' ';' < "$VENDOR/VERSIONS" | sed 's/;$//; s/;/, /g')"
