#!/usr/bin/env bash
# Configures and builds kvfunda into build/ (CMake + Ninja). Extra arguments go to
# the build step (e.g. a target name). KVFUNDA_BUILD_DIR overrides the folder;
# KVFUNDA_CMAKE_ARGS adds configure options (e.g. -DTorch_DIR=/opt/libtorch/share/cmake/Torch).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${KVFUNDA_BUILD_DIR:-$root/build}
jobs=${KVFUNDA_JOBS:-$(nproc)}
# Let ccache reuse objects across checkouts in different folders (a fresh clone).
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$root}
export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
if [ ! -f "$build/build.ninja" ]; then
  # shellcheck disable=SC2086
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${KVFUNDA_CMAKE_ARGS:-}
fi
cmake --build "$build" -j "$jobs" -- "$@"
