#!/usr/bin/env bash
# Install, run, upgrade, remove, reinstall and purge the .deb without touching this machine.
#
#   sudo bash packaging/test-deb-cycle.sh dist/bilbycast-manager_1.0.0_amd64.deb
#
# Needs root, unshare and overlayfs. Everything happens in a private mount namespace in which /etc,
# /usr and /var are overlays over throw-away directories, so dpkg, adduser and the maintainer
# scripts really run, and all of it disappears at the end. There is no systemd in there, so the
# unit's commands are run the way systemd would: as bilbycast, with $CONFIGURATION_DIRECTORY,
# $STATE_DIRECTORY and the EnvironmentFile, a read-only /etc and /usr, and no W+X memory (the
# kernel's PR_SET_MDWE, the rule MemoryDenyWriteExecute=yes enforces).
set -euo pipefail

if [[ "${1:-}" != --inside ]]; then
  deb="$(realpath "${1:?usage: test-deb-cycle.sh PACKAGE.deb}")"
  [[ $(id -u) == 0 ]] || { echo "test-deb-cycle: needs root" >&2; exit 2; }
  exec unshare --mount --propagation private bash "$(realpath "$0")" --inside "$deb"
fi
deb="$2"

NAME=bilbycast-manager
CONF=/etc/$NAME
STATE=/var/lib/$NAME
PORT=${DEB_CYCLE_PORT:-18543}
PY=$(command -v python3)
work=$(mktemp -d /tmp/deb-cycle.XXXXXX)
cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null || true
  umount -l /etc /usr /var /run 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
# python3 may live under /usr, which is overlaid below: keep a copy of what the checks need
pycheck() { "$PY" - "$@"; }

for dir in etc usr var; do
  mkdir -p "$work/$dir/upper" "$work/$dir/work"
  mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$work/$dir/upper,workdir=$work/$dir/work" "/$dir"
done
mount -t tmpfs tmpfs /run   # no /run/systemd/system: the maintainer scripts skip systemctl

ok() { printf 'CHECK ok: %s\n' "$*"; }
fail() { printf 'CHECK FAILED: %s\n' "$*"; exit 1; }

# The unit's ExecStartPre and ExecStart, the way systemd runs them (minus seccomp and namespaces).
MDWE='import ctypes, os, sys
assert ctypes.CDLL(None).prctl(65, 1, 0, 0, 0) == 0
os.execv(sys.argv[1], sys.argv[1:])'
as_service() {
  local envs=(PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=$STATE CONFIGURATION_DIRECTORY=$CONF STATE_DIRECTORY=$STATE
              INVOCATION_ID=00000000000000000000000000000001 BILBYCAST_LISTEN=127.0.0.1 BILBYCAST_PORT=$PORT)
  while IFS= read -r line; do
    [[ $line =~ ^BILBYCAST_[A-Z_]+= ]] && envs+=("$line")
  done < "$CONF/manager.env"    # EnvironmentFile= (systemd reads it as root)
  local mdwe=()
  "$PY" -c 'import ctypes; exit(ctypes.CDLL(None).prctl(66, 0, 0, 0, 0) < 0)' 2>/dev/null && mdwe=("$PY" -c "$MDWE")
  [[ ${#mdwe[@]} -gt 0 ]] || echo "note: this kernel has no PR_SET_MDWE; running without the W^X check" >&2
  # W^X is set (as root) before dropping to bilbycast and inherited by everything started after.
  # Every step execs the next, so a background call's $! is the manager itself.
  ${AS_SERVICE_EXEC:+exec} unshare --mount --propagation private sh -c '
      mount -o remount,bind,ro /etc && mount -o remount,bind,ro /usr && cd '"$STATE"' && exec "$@"' sh \
    "${mdwe[@]}" "$(command -v setpriv)" --reuid=bilbycast --regid=bilbycast --init-groups \
    env -i "${envs[@]}" /usr/bin/$NAME "$@"
}
serve_and_check() {
  local password="$1" log="$work/serve.log"
  as_service setup --generate-secrets </dev/null > "$work/pre.out" 2>&1 || { cat "$work/pre.out"; fail "ExecStartPre"; }
  grep -q "users already exist" "$work/pre.out" || { cat "$work/pre.out"; fail "ExecStartPre created a user"; }
  AS_SERVICE_EXEC=1 as_service serve > "$log" 2>&1 &
  local pid=$!
  pycheck "$PORT" "$password" <<'PYEOF' || { cat "$log"; kill $pid; fail "serve"; }
import json, ssl, sys, time, urllib.request
port, password = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
base = f"https://127.0.0.1:{port}"
deadline = time.monotonic() + 30
while True:
    try:
        urllib.request.urlopen(base + "/health", context=ctx, timeout=1); break
    except Exception:
        if time.monotonic() > deadline: sys.exit("no /health")
        time.sleep(0.1)
request = urllib.request.Request(base + "/api/v1/auth/login", method="POST",
                                 data=json.dumps({"username": "admin", "password": password}).encode(),
                                 headers={"Content-Type": "application/json"})
user = json.load(urllib.request.urlopen(request, context=ctx, timeout=30))["user"]
assert user["role"] == "super_admin" and user["must_change_password"] is True, user
PYEOF
  kill -TERM $pid
  local code=0; wait $pid || code=$?
  [[ $code == 0 ]] || { cat "$log"; fail "serve exited with $code after SIGTERM"; }
  ! grep -q "Traceback" "$log" || { cat "$log"; fail "traceback in the service log"; }
  ! grep -qF "$password" "$log" || fail "the password is in the service log"
  ok "service: ExecStartPre idempotent, /health, sign-in, SIGTERM exit 0 (read-only /etc and /usr, no W+X memory)"
}

# 1. Fresh install.
dpkg -i "$deb" > "$work/install.out" 2>&1 || { cat "$work/install.out"; fail "dpkg -i"; }
cat "$work/install.out"
password=$(sed -n 's/.*password (shown once[^)]*): \([^ ]*\)$/\1/p' "$work/install.out")
[[ -n $password ]] || fail "no first password printed by the install"
getent passwd bilbycast | grep -q ":$STATE:/usr/sbin/nologin$" || fail "the bilbycast system user"
[[ $(stat -c '%U %a' "$CONF/manager.env") == "bilbycast 600" ]] || fail "manager.env owner and mode"
[[ $(stat -c '%U %a' "$STATE") == "bilbycast 750" ]] || fail "state directory owner and mode"
[[ $(stat -c '%U %a' "$STATE/manager.db") == "bilbycast 600" ]] || fail "database owner and mode"
[[ $(stat -c '%U %a' "$STATE/tls/key.pem") == "bilbycast 600" ]] || fail "TLS key owner and mode"
[[ -L /usr/bin/$NAME && -x /usr/lib/$NAME/$NAME ]] || fail "the program and its symlink"
[[ -L /etc/systemd/system/multi-user.target.wants/$NAME.service ]] || fail "the unit is enabled"
ok "install: user, secrets 0600, state, certificate, first super_admin, unit enabled"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/$NAME.service || fail "systemd-analyze verify"
  ok "unit: systemd-analyze verify is clean"
fi
serve_and_check "$password"

# 2. Upgrade to a newer version, with a local edit to the conffile.
echo "# local edit" >> "$CONF/config.toml"
secrets_before=$(sha256sum "$CONF/manager.env")
cert_before=$(sha256sum "$STATE/tls/cert.pem")
mkdir "$work/newer"
dpkg-deb -R "$deb" "$work/newer/root"
sed -i 's/^Version: \(.*\)$/Version: \1+upgrade1/' "$work/newer/root/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -z1 -b "$work/newer/root" "$work/newer/newer.deb" >/dev/null
dpkg -i --force-confold "$work/newer/newer.deb" > "$work/upgrade.out" 2>&1 || { cat "$work/upgrade.out"; fail "upgrade"; }
! grep -q "first-time setup\|shown once" "$work/upgrade.out" || fail "the upgrade ran the first setup again"
grep -q "^# local edit$" "$CONF/config.toml" || fail "the conffile edit was lost"
[[ $(sha256sum "$CONF/manager.env") == "$secrets_before" ]] || fail "the secrets changed on upgrade"
[[ $(sha256sum "$STATE/tls/cert.pem") == "$cert_before" ]] || fail "the certificate changed on upgrade"
ok "upgrade: config edit, secrets, certificate and data kept"
serve_and_check "$password"

# 3. Remove keeps the data; a reinstall carries on.
dpkg -r $NAME > "$work/remove.out" 2>&1 || { cat "$work/remove.out"; fail "dpkg -r"; }
[[ ! -e /usr/lib/$NAME/$NAME && ! -e /usr/bin/$NAME ]] || fail "the program is still there after remove"
[[ -f "$CONF/config.toml" && -f "$CONF/manager.env" && -f "$STATE/manager.db" ]] || fail "remove deleted data"
ok "remove: program gone; config, secrets and data kept"
dpkg -i "$work/newer/newer.deb" > "$work/reinstall.out" 2>&1 || { cat "$work/reinstall.out"; fail "reinstall"; }
! grep -q "first-time setup\|shown once" "$work/reinstall.out" || fail "the reinstall ran the first setup again"
[[ $(sha256sum "$CONF/manager.env") == "$secrets_before" ]] || fail "the secrets changed on reinstall"
ok "reinstall after remove: the old data and secrets are used"

# 4. Purge deletes everything but the system user.
dpkg -P $NAME > "$work/purge.out" 2>&1 || { cat "$work/purge.out"; fail "dpkg -P"; }
[[ ! -e "$STATE" && ! -e "$CONF" ]] || fail "purge left $STATE or $CONF"
getent passwd bilbycast >/dev/null || fail "purge removed the system user"
ok "purge: data, secrets and configuration deleted; the bilbycast user kept"
