#!/usr/bin/env bash
# Installs the Debian packages fbseg builds with, when any is missing. Idempotent: when all are
# present it prints nothing and returns at once. Python packages for the tools/ scripts are
# separate (tools/requirements.txt) and are never needed to build or test.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache
  libeigen3-dev doctest-dev libbenchmark-dev
  libstb-dev zlib1g-dev libcli11-dev nlohmann-json3-dev
  pkgconf  # pkg-config: finds libstb (stb has no CMake package)
  libnifti2-dev  # nifti_clib: NIfTI-1/2 volumes (include/fbseg/data/nifti.hpp)
  clang libclang-rt-14-dev  # the libFuzzer targets (tools/run.sh fuzz)
  libopenmpi-dev openmpi-bin  # data parallel on MPI: the test data_parallel (tests/distributed/); optional for the library
  chromium  # renders the training report headless in the test app_report (tests/app/app_report.sh)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install_deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install_deps: done"
