#!/usr/bin/env bash
# Build dist/bilbycast-manager_<version>_<arch>.deb with dpkg-deb from the one-dir PyInstaller build.
#
#   bash packaging/build-deb.sh               builds dist/bilbycast-manager-onedir/ first (build/binary.sh --onedir)
#   bash packaging/build-deb.sh --no-build    reuses dist/bilbycast-manager-onedir/ as it is
#   bash packaging/build-deb.sh --no-bootstrap   passed on to build/binary.sh
#   bash packaging/build-deb.sh --fast       gzip -1 instead of xz (tests: seconds instead of a minute or more)
#   DEB_MAINTAINER="Name <mail>"             the Maintainer field
#
# Layout:
#   /usr/lib/bilbycast-manager/                 the one-dir build (executable + _internal/ with the assets)
#   /usr/bin/bilbycast-manager                  symlink to it
#   /etc/bilbycast-manager/config.toml          conffile (every key at its default, data_dir set)
#   /lib/systemd/system/bilbycast-manager.service
#   /usr/share/applications/bilbycast-manager.desktop, icon, doc
# Maintainer scripts (packaging/deb/): postinst creates the bilbycast user, runs the first setup and
# enables the unit; prerm stops it; postrm keeps /var/lib/bilbycast-manager unless purging.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
umask 022

build=1
compress=(-Zxz)
binary_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) build=0 ;;
    --fast) compress=(-Zgzip -z1) ;;
    --no-bootstrap|--clean) binary_args+=("$1") ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "build-deb: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { printf 'build-deb: %s\n' "$*"; }
die() { printf 'build-deb: error: %s\n' "$*" >&2; exit 1; }
command -v dpkg-deb >/dev/null || die "dpkg-deb not found (build the .deb on Debian or Ubuntu)"

NAME=bilbycast-manager
version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' bilbycast/__init__.py)
[[ -n "$version" ]] || die "no __version__ in bilbycast/__init__.py"
arch=$(dpkg --print-architecture)
glibc=$(ldd --version 2>/dev/null | awk 'NR == 1 {print $NF}')  # the bundle needs at least the build host's glibc
maintainer="${DEB_MAINTAINER:-bilbycast <packaging@bilbycast.invalid>}"

if [[ $build == 1 ]]; then
  bash build/binary.sh --onedir "${binary_args[@]}"
fi
ONEDIR="$ROOT/dist/$NAME-onedir"
[[ -x "$ONEDIR/$NAME" && -d "$ONEDIR/_internal/assets/dist" ]] \
  || die "$ONEDIR is missing or incomplete (run build/binary.sh --onedir)"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || die ".venv is missing (run build/bootstrap.sh dev)"

stage="$ROOT/build/deb/$NAME"
rm -rf "$stage"
install -d "$stage/DEBIAN" "$stage/usr/lib" "$stage/usr/bin" "$stage/etc/$NAME" "$stage/lib/systemd/system" \
  "$stage/usr/share/applications" "$stage/usr/share/icons/hicolor/scalable/apps" "$stage/usr/share/doc/$NAME"

# The program, and the command on PATH.
cp -a "$ONEDIR" "$stage/usr/lib/$NAME"
ln -s "../lib/$NAME/$NAME" "$stage/usr/bin/$NAME"

# The default configuration: every key commented at its default, except where the data lives.
"$PY" - "$stage/etc/$NAME/config.toml" <<'PYEOF'
import sys
sys.path.insert(0, ".")
from bilbycast.config import default_config_toml

text = default_config_toml()
old = '# data_dir = ""'
assert text.count(old) == 1, "default_config_toml() changed: update packaging/build-deb.sh"
text = text.replace(old, 'data_dir = "/var/lib/bilbycast-manager"  # the systemd StateDirectory')
header = ("# Installed by the bilbycast-manager package. This is a conffile: your changes are kept on\n"
          "# upgrade. Restart after editing: systemctl restart bilbycast-manager\n")
with open(sys.argv[1], "w", encoding="utf-8") as handle:
    handle.write(header + text)
PYEOF

# systemd unit, desktop launcher, icon, documentation.
install -m 0644 packaging/$NAME.service "$stage/lib/systemd/system/$NAME.service"
install -m 0644 packaging/$NAME.desktop "$stage/usr/share/applications/$NAME.desktop"
install -m 0644 assets/img/favicon.svg "$stage/usr/share/icons/hicolor/scalable/apps/$NAME.svg"
install -m 0644 packaging/README.md "$stage/usr/share/doc/$NAME/README.md"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: $NAME"
  echo
  echo "Files: *"
  echo "License: MIT"
  sed 's/^$/./; s/^/ /' LICENSE
  echo
  echo "Files: usr/lib/$NAME/_internal/*"
  echo "Comment: The bundled Python runtime and libraries keep their own licences (PSF, BSD, Apache-2.0,"
  echo " MIT and others); the vendored browser libraries' licences are in"
  echo " usr/lib/$NAME/_internal/assets/dist/vendor/LICENSE.*"
} > "$stage/usr/share/doc/$NAME/copyright"

# Control files and maintainer scripts.
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<EOF
Package: $NAME
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: adduser, libc6 (>= $glibc)
Section: net
Priority: optional
Description: control plane for bilbycast edges, relays and gateway sidecars
 bilbycast-manager runs the web dashboard, REST API and node WebSocket that
 bilbycast edge transport nodes, relay servers and Appear X gateway sidecars
 connect to. This package installs the self-contained one-directory build in
 /usr/lib/bilbycast-manager and runs it as the hardened systemd service
 bilbycast-manager (user bilbycast, state in /var/lib/bilbycast-manager).
EOF
echo "/etc/$NAME/config.toml" > "$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/deb/$script" "$stage/DEBIAN/$script"
done

out="$ROOT/dist/${NAME}_${version}_${arch}.deb"
mkdir -p "$ROOT/dist"
dpkg-deb --root-owner-group "${compress[@]}" --build "$stage" "$out" >/dev/null
say "$out ($(du -h "$out" | cut -f1))"
