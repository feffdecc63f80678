#!/usr/bin/env bash
# One command from a fresh clone to a live dashboard: install, set up, serve with a demo fleet.
# The first run prints the admin password once; sign in at https://localhost:8443/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/bootstrap.sh runtime
.venv/bin/python manager.py setup --generate-secrets </dev/null
exec .venv/bin/python manager.py serve --demo "${BILBYCAST_DEMO_NODES:-6}" "$@"
