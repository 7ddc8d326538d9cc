#!/usr/bin/env bash
# Installs the Debian 12 packages labor needs to build, test and benchmark. Run as root.
# Only touches apt when something is missing, so repeated runs are quick.
set -euo pipefail

packages=(
  cmake g++ make ninja-build pkg-config
  libeigen3-dev libfmt-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libpng-dev nlohmann-json3-dev libcli11-dev
  python3 python3-numpy python3-pil python3-torch python3-torchvision
  # The fuzz presets (tests/fuzz): clang, its libFuzzer and sanitizer runtimes (a recommendation of
  # clang, so named here: apt runs without recommends) and LLVM's OpenMP for clang.
  clang libclang-rt-14-dev libomp-dev
)
# Thrust and CUB: the CUDA toolkit's CCCL when the toolkit is installed, else Debian's copy.
if [ ! -d /usr/local/cuda/include/cccl ] && [ -z "${CUDA_PATH:-}" ]; then
  packages+=(libthrust-dev libcub-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "labor: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "labor: dependencies present"
