#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test with ctest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
start=$(date +%s)
"$root/scripts/build.sh"
echo "build took $(( $(date +%s) - start )) s"
build=${KVFUNDA_BUILD_DIR:-$root/build}
cd "$build"
ctest --output-on-failure --timeout 900 -j "${KVFUNDA_TEST_JOBS:-2}" "$@"
