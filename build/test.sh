#!/usr/bin/env bash
# The whole test suite from a fresh clone: installs what it needs (venv, npm assets, Debian
# chromium), then runs pytest. Extra arguments go to pytest (e.g. -k login).
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/bootstrap.sh dev
mkdir -p test-output
exec .venv/bin/python -m pytest -c tests/pytest.ini "$@"
