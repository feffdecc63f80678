#!/usr/bin/env bash
# Install everything the manager needs on a fresh Debian machine, idempotently.
#   build/bootstrap.sh runtime   -> Python venv with the runtime deps + built dashboard assets
#   build/bootstrap.sh dev       -> the above + test/build deps + Debian's chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-runtime}"

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
command -v npm >/dev/null || need_apt+=(nodejs npm)
if [ "$kind" = dev ]; then
  command -v chromium >/dev/null || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

requirements=build/requirements.txt
[ "$kind" = dev ] && requirements=build/requirements-dev.txt
stamp=".venv/.installed-$(sha256sum "$requirements" build/requirements.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi

bash build/assets.sh
