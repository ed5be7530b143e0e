#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds kvfunda, then runs a
# real sweep locally (a coordinator and 2 workers), prints the results table and
# the dashboard URL. Usage: scripts/demo.sh [sweep.yaml] (default docs/examples/demo.yaml)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
"$root/scripts/build.sh" kvfunda
bin=${KVFUNDA_BUILD_DIR:-$root/build}/kvfunda
spec=${1:-docs/examples/demo.yaml}
cd "$root"
serve=()
# In a terminal, keep the dashboard up after the sweep until Ctrl-C.
if [ -t 0 ] && [ -t 1 ]; then serve=(--serve); fi
"$bin" run "$spec" --workers 2 --db kvfunda.db --http-port "${KVFUNDA_HTTP_PORT:-8080}" "${serve[@]}"
