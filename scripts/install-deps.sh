#!/usr/bin/env bash
# Installs the Debian 12 packages attn needs to build, test and benchmark.
# Idempotent: packages already present are left alone; prints what it installs.
# Usage: scripts/install-deps.sh [--with-torch]   (run as root, or with sudo available)
#   --with-torch  also installs python3-torch, used only by tools/ (fixture generation)
#                 and bench/ (side-by-side comparisons); the test suite never needs it.
#                 Also python3-nltk, for tools/bleu_reference.py (BLEU fixtures).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-openmp-dev      # GEMM; the OpenMP build shares one thread pool with our kernels
  libhwy-dev                  # Google Highway: portable SIMD with runtime dispatch
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  pybind11-dev python3-dev python3-numpy python3-pytest
  libpng-dev libstb-dev
  zlib1g-dev                  # gzip-compressed data files (data/digits.csv.gz)
  libsentencepiece-dev        # subword tokenisation (data/subword.h)
  clang libclang-rt-14-dev    # libFuzzer target for the safetensors parser, sanitizers
  libtcmalloc-minimal4        # benchmarks preload it for PyTorch
)
if [[ "${1:-}" == "--with-torch" ]]; then packages+=(python3-torch python3-nltk); fi  # nltk: tools/bleu_reference.py

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
