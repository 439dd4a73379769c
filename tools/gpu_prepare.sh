#!/usr/bin/env bash
# tools/gpu_prepare.sh - build everything the GPU check runs, here on a machine without a GPU,
# into one folder that can travel to a GPU machine (64 MiB at most), so that the scarce GPU time
# goes to running, not compiling.
#
#     bash tools/gpu_prepare.sh [ARCH]        # ARCH: 90 (H100/H200, the default), 80 (A100), ...
#
# Builds build/gpu-prebuilt (Release, -DFBSEG_CUDA_ARCHITECTURES=ARCH, tests and GPU benchmarks)
# and copies into gpu-carry/ (ignored by git), packed as gpu-carry.tar.xz (a few MiB):
#     bin/      fbseg_gpu_tests, fbseg_link_seam_test, fbseg_gpu_bench_*, and the host-side
#               programs the check compares against PyTorch with
#     lib/      the shared libraries those programs need that a bare CUDA machine may lack
#               (libcudart of the toolkit they were built with, Google Benchmark)
#     tools/, benchmarks/*.py   the scripts gpu_check.sh runs there
# Then, on the GPU machine: FBSEG_GPU_PREBUILT=gpu-carry.tar.xz bash tools/gpu_check.sh REPORT_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-90}
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
BUILD=${FBSEG_GPU_BUILD_DIR:-build/gpu-prebuilt}  # another folder may be reused, e.g. one built for "80;90"
GENERATOR=()
if [ ! -f "$BUILD/CMakeCache.txt" ] && command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi
cmake -S . -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release -DFBSEG_CUDA=ON \
    -DFBSEG_CUDA_ARCHITECTURES="$ARCH" -DFBSEG_BUILD_TESTS=ON -DFBSEG_BUILD_BENCHMARKS=ON \
    -DFBSEG_BUILD_EXAMPLES=OFF -DFBSEG_WARNINGS_AS_ERRORS=ON >/dev/null
TARGETS=(fbseg_gpu_tests fbseg_link_seam_test fbseg_model_step_cuda)
for source in benchmarks/gpu/bench_*.cpp; do
    name=$(basename "$source" .cpp)
    TARGETS+=("fbseg_gpu_bench_${name#bench_}")
done
cmake --build "$BUILD" -j "$(nproc)" --target "${TARGETS[@]}"

CARRY=gpu-carry
rm -rf "$CARRY"
mkdir -p "$CARRY/bin" "$CARRY/lib"
for target in "${TARGETS[@]}"; do
    found=$(find "$BUILD" -type f -name "$target" -perm -u+x | head -1)
    [ -n "$found" ] || { echo "gpu_prepare: $target was not built" >&2; exit 1; }
    cp "$found" "$CARRY/bin/"
    strip --strip-debug "$CARRY/bin/$target"
done
# Shared libraries from the toolkit and Debian that a bare GPU machine may not have (cuBLAS and
# cuDNN are too large to carry: the check finds the GPU machine's own, see gpu_check.sh).
for bin in "$CARRY"/bin/*; do
    ldd "$bin" | awk '/=> \// { print $3 }' | grep -E 'libcudart|libbenchmark' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$CARRY/lib/"; done
echo "$ARCH" >"$CARRY/arch"
git rev-parse --short HEAD >"$CARRY/commit" 2>/dev/null || echo unknown >"$CARRY/commit"
# Every program links the whole kernel library (its fat binary is most of each file), so the
# folder is large (about 130 MiB for sm_80 + sm_90) but compresses to a few MiB with xz, whose
# large window finds the repeats across files. The archive is what travels.
XZ_OPT="-9 -T0" tar -cJf "$CARRY.tar.xz" "$CARRY"
echo "gpu_prepare: $(du -sh "$CARRY" | cut -f1) in $CARRY/, $(du -sh "$CARRY.tar.xz" | cut -f1) in $CARRY.tar.xz"
size=$(du -sm "$CARRY.tar.xz" | cut -f1)
if [ "$size" -gt 60 ]; then echo "gpu_prepare: $CARRY.tar.xz is ${size} MiB, more than a device run can carry" >&2; exit 1; fi
