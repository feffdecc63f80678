#!/usr/bin/env bash
# Build the bilbycast-manager executable with PyInstaller (build/bilbycast-manager.spec).
#
#   bash build/binary.sh                 dist/bilbycast-manager: one file (code, built assets, default config)
#   bash build/binary.sh --onedir        dist/bilbycast-manager-onedir/: one directory (packaging/build-deb.sh uses it)
#   bash build/binary.sh --all           both, from one analysis
#
# Options:
#   --runtime-tmpdir DIR   one-file only: unpack into DIR at run time instead of $TMPDIR or /tmp
#                          (for hosts whose /tmp is mounted noexec; setting TMPDIR when running works too)
#   --clean                forget PyInstaller's cache and rebuild everything
#   --no-bootstrap         skip build/bootstrap.sh (the venv must already have the dev requirements);
#                          the assets are still built
#
# The binary is built for the OS and CPU it is built on (Linux x86_64/aarch64, macOS, Windows).
# The git commit goes into bilbycast/_build_info.py inside the bundle only (`bilbycast-manager version`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

mode=onefile
runtime_tmpdir=""
bootstrap=1
clean=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --onefile) mode=onefile ;;
    --onedir) mode=onedir ;;
    --all|--both) mode=both ;;
    --runtime-tmpdir) [[ $# -ge 2 ]] || { echo "binary: --runtime-tmpdir needs a directory" >&2; exit 2; }
                      runtime_tmpdir="$2"; shift ;;
    --runtime-tmpdir=*) runtime_tmpdir="${1#*=}" ;;
    --clean) clean=(--clean) ;;
    --no-bootstrap) bootstrap=0 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "binary: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'binary: %s\n' "$*"; }
started=$(date +%s)

# 1. Dependencies and assets.
if [[ $bootstrap == 1 ]]; then
  bash build/bootstrap.sh dev
else
  bash build/assets.sh
fi
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY="$ROOT/.venv/Scripts/python.exe"   # Windows (Git Bash)
"$PY" -c 'import PyInstaller' 2>/dev/null || { echo "binary: PyInstaller is not installed in .venv (run build/bootstrap.sh dev)" >&2; exit 1; }

# 2. Build stamp: read-only git queries (no index refresh), so the working tree is not touched.
commit="unknown"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if [[ -n "$(git -C "$ROOT" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
    commit="$commit-dirty"
  fi
fi
rm -f "$ROOT/bilbycast/_build_info.py"   # never in the source tree (the spec refuses to build otherwise)

# 3. PyInstaller.
say "PyInstaller ($mode, commit $commit${runtime_tmpdir:+, runtime tmpdir $runtime_tmpdir})"
BILBYCAST_BUILD_MODE="$mode" BILBYCAST_BUILD_COMMIT="$commit" BILBYCAST_RUNTIME_TMPDIR="$runtime_tmpdir" \
  "$PY" -m PyInstaller --noconfirm --log-level WARN "${clean[@]}" \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" \
    "$ROOT/build/bilbycast-manager.spec"

# 4. Check what was built: it starts, it is frozen, it carries the commit.
check() {
  local exe="$1" out
  out=$(env -u BILBYCAST_BUILD_COMMIT "$exe" version) || { echo "binary: $exe does not run" >&2; exit 1; }
  grep -q '^frozen: yes' <<<"$out" || { echo "binary: $exe is not frozen:"$'\n'"$out" >&2; exit 1; }
  grep -q "^commit: $commit\$" <<<"$out" || { echo "binary: $exe has the wrong commit:"$'\n'"$out" >&2; exit 1; }
}
[[ ! -e "$ROOT/bilbycast/_build_info.py" ]] || { echo "binary: bilbycast/_build_info.py leaked into the source tree" >&2; exit 1; }
if [[ $mode != onedir ]]; then
  check "$ROOT/dist/bilbycast-manager"
  size=$(stat -c %s "$ROOT/dist/bilbycast-manager" 2>/dev/null || stat -f %z "$ROOT/dist/bilbycast-manager")
  say "dist/bilbycast-manager: $(awk -v s="$size" 'BEGIN { printf "%.1f MB", s / 1e6 }')"
fi
if [[ $mode != onefile ]]; then
  check "$ROOT/dist/bilbycast-manager-onedir/bilbycast-manager"
  say "dist/bilbycast-manager-onedir/: $(du -sh "$ROOT/dist/bilbycast-manager-onedir" | cut -f1)"
fi
say "done in $(( $(date +%s) - started )) s"
