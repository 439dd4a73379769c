#!/usr/bin/env bash
# tools/gpu_check.sh - on a GPU machine: run every GPU test, the GPU tests under the four
# compute-sanitizer tools, the GPU benchmarks and the side-by-side PyTorch comparison; write a
# report. Either builds fbseg there first, or runs a folder prebuilt elsewhere.
#
#     bash tools/gpu_check.sh REPORT_DIR                                    # build here, then run
#     FBSEG_GPU_PREBUILT=gpu-carry.tar.xz bash tools/gpu_check.sh REPORT_DIR   # run what gpu_prepare.sh built
#
# The prebuilt form is for scarce GPU time (docs/kernels.md, "Using scarce GPU time"): build with
# `bash tools/gpu_prepare.sh` on any machine with nvcc, carry gpu-carry/ to the GPU machine, and
# the whole check runs in a few minutes without compiling anything.
#
# REPORT_DIR receives one log per step, the benchmark JSON files and summary.md (each step's
# exit code and duration, rewritten after every step so that it survives a killed run). The
# script goes on after a failing step and exits non-zero at the end if any step failed.
#
# Environment (all optional):
#     FBSEG_CUDA_ARCH          GPU architecture to compile for (default: read from nvidia-smi,
#                              else 90 for Hopper)
#     FBSEG_SANITIZER_TIMEOUT  seconds allowed to each compute-sanitizer run (default 300)
#     FBSEG_GPU_PREBUILT       gpu-carry.tar.xz (or the gpu-carry/ folder) made by tools/gpu_prepare.sh:
#                              skip steps 2-3 and run its bin/
#     FBSEG_SKIP_SANITIZERS    1: leave out the compute-sanitizer runs
#     FBSEG_SANITIZER_TOOLS    which compute-sanitizer tools run (default "memcheck racecheck initcheck synccheck")
#     FBSEG_BENCH_ARGS         extra arguments for every benchmark (e.g. --benchmark_min_time=0.02)
#     FBSEG_COMPARE_ARGS       extra arguments for compare_pytorch_cuda.py (e.g. --steps 3 --warmup 1)
#     FBSEG_DEPS_DIR           a folder of .deb files (default .debs) for a machine that cannot
#                              download: they are unpacked under build/deps-root (never into /)
#                              and CMake looks there first; tools/install_deps.sh is then skipped
set -u

if [ $# -ne 1 ]; then
    echo "usage: bash tools/gpu_check.sh REPORT_DIR" >&2
    exit 2
fi
mkdir -p "$1"
REPORT_DIR=$(cd "$1" && pwd)
cd "$(dirname "$0")/.." || exit 2  # the repository root
BUILD_DIR=build/gpu
SUMMARY="$REPORT_DIR/summary.md"
SANITIZER_TIMEOUT=${FBSEG_SANITIZER_TIMEOUT:-300}
JOBS=$(nproc 2>/dev/null || echo 4)

STEP_ROWS=()   # one markdown table row per step
FAILED=0

write_summary() {
    {
        echo "# fbseg GPU check"
        echo
        echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "- host: $(hostname)"
        echo "- GPU (name, driver): ${GPU_NAME:-none found}"
        echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo 'unknown (no git)')"
        echo "- CUDA architecture: ${ARCH:-?}"
        echo
        echo "| step | exit code | seconds | result | log |"
        echo "| --- | --- | --- | --- | --- |"
        for row in "${STEP_ROWS[@]}"; do echo "$row"; done
        echo
        if [ "$FAILED" -eq 0 ]; then echo "All steps passed (or were skipped)."; else echo "$FAILED step(s) FAILED."; fi
    } >"$SUMMARY"
}

# run_step [--soft] NAME COMMAND...: runs the command, its output to the console and to
# REPORT_DIR/NAME.log, and records its exit code and duration. A --soft step that fails is
# reported but does not make the whole check fail.
run_step() {
    local soft=0
    if [ "$1" = --soft ]; then soft=1; shift; fi
    local name=$1
    shift
    local log="$REPORT_DIR/$name.log"
    echo
    echo "=== [$name] $*"
    local start end rc
    start=$(date +%s.%N)
    "$@" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    end=$(date +%s.%N)
    local seconds result
    seconds=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')
    if [ "$rc" -eq 0 ]; then
        result=ok
    elif [ "$soft" -eq 1 ]; then
        result="failed (not counted)"
    else
        result=FAILED
        FAILED=$((FAILED + 1))
    fi
    echo "=== [$name] exit code $rc after ${seconds}s: $result"
    STEP_ROWS+=("| $name | $rc | $seconds | $result | $name.log |")
    write_summary
    return "$rc"
}

# skip_step NAME REASON: records a step that could not run here (not a failure).
skip_step() {
    echo
    echo "=== [$1] skipped: $2"
    STEP_ROWS+=("| $1 | - | 0 | skipped: $2 | |")
    write_summary
}

# unpack_debs DIR ROOT: extracts every DIR/*.deb under ROOT (dpkg -x installs nothing system-wide).
unpack_debs() {
    local deb
    mkdir -p "$2" || return 1
    for deb in "$1"/*.deb; do
        echo "$deb"
        dpkg -x "$deb" "$2" || return 1
    done
}

# ---- 1. the machine -------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
    run_step nvidia-smi nvidia-smi
else
    skip_step nvidia-smi "nvidia-smi not found"
fi
GPU_NAME=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
ARCH=${FBSEG_CUDA_ARCH:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')}
case "$ARCH" in '' | *[!0-9]*) ARCH=90 ;; esac

PREBUILT=${FBSEG_GPU_PREBUILT:-}
if [ -n "$PREBUILT" ]; then
    if [ -f "$PREBUILT" ]; then  # gpu-carry.tar.xz: unpack it (tar, or Python's tarfile where tar has no xz)
        mkdir -p build/prebuilt
        tar -xJf "$PREBUILT" -C build/prebuilt 2>/dev/null ||
            python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$PREBUILT" build/prebuilt
        PREBUILT=build/prebuilt/gpu-carry
    fi
    PREBUILT=$(cd "$PREBUILT" && pwd)
    BUILD_DIR=$PREBUILT/bin
    ARCH="$(cat "$PREBUILT/arch" 2>/dev/null || echo "$ARCH") (prebuilt at $(cat "$PREBUILT/commit" 2>/dev/null))"
    # The carried runtime libraries, then the GPU machine's own cuBLAS/cuDNN (toolkit or pip wheels).
    EXTRA_LIBS=$PREBUILT/lib
    for dir in /usr/local/cuda/lib64 /usr/local/cuda/lib $(python3 -c 'import os, nvidia; print(" ".join(os.path.join(p, d, "lib") for p in nvidia.__path__ for d in os.listdir(p)))' 2>/dev/null); do
        [ -d "$dir" ] && EXTRA_LIBS=$EXTRA_LIBS:$dir
    done
    export LD_LIBRARY_PATH="$EXTRA_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    skip_step build "prebuilt: $PREBUILT"
else
# ---- 2. dependencies (doctest, eigen, benchmark) --------------------------------------------
    # A failure here is not counted: if something is really missing, configure fails and says what.
    DEPS_DIR=${FBSEG_DEPS_DIR:-.debs}
    CMAKE_EXTRA=()
    if compgen -G "$DEPS_DIR/*.deb" >/dev/null; then
        DEPS_ROOT="$PWD/build/deps-root"
        run_step --soft unpack-debs unpack_debs "$DEPS_DIR" "$DEPS_ROOT"
        CMAKE_EXTRA+=("-DCMAKE_PREFIX_PATH=$DEPS_ROOT/usr")
        export LD_LIBRARY_PATH="$DEPS_ROOT/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    elif [ -f tools/install_deps.sh ]; then
        run_step --soft install-deps timeout 300 bash tools/install_deps.sh
    else
        skip_step install-deps "tools/install_deps.sh not found"
    fi
    # nvcc and compute-sanitizer live outside PATH in a default toolkit install.
    if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
    
    # ---- 3. configure and build -----------------------------------------------------------------
    GENERATOR=()
    if [ ! -f "$BUILD_DIR/CMakeCache.txt" ] && command -v ninja >/dev/null 2>&1; then GENERATOR=(-G Ninja); fi
    CONFIGURE=(cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" "${CMAKE_EXTRA[@]}" -DCMAKE_BUILD_TYPE=Release
        -DFBSEG_CUDA=ON -DFBSEG_BUILD_TESTS=ON -DFBSEG_CUDA_ARCHITECTURES="$ARCH")
    if ! run_step configure "${CONFIGURE[@]}" -DFBSEG_BUILD_BENCHMARKS=ON; then
        # Most likely Google Benchmark is missing: the tests matter more, so go on without it. If
        # that works, the first attempt does not count as a failure.
        if run_step configure-without-benchmarks "${CONFIGURE[@]}" -DFBSEG_BUILD_BENCHMARKS=OFF; then
            FAILED=$((FAILED - 1))
            last=$((${#STEP_ROWS[@]} - 2))
            STEP_ROWS[last]=${STEP_ROWS[last]/| FAILED |/| failed, retried without benchmarks |}
            write_summary
        fi
    fi
    run_step build cmake --build "$BUILD_DIR" -j "$JOBS"
    
fi

# ---- 4. tests -------------------------------------------------------------------------------
if [ -z "$PREBUILT" ]; then
    run_step ctest ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
else
    run_step link-seam "$BUILD_DIR/fbseg_link_seam_test"
fi

GPU_TESTS=$(find "$BUILD_DIR" -type f -name fbseg_gpu_tests -perm -u+x 2>/dev/null | head -1)
if [ -n "$GPU_TESTS" ]; then
    # Run directly too: CTest counts exit code 77 ("skipped: no CUDA device") as a skip, but on
    # this machine it means the GPU is not usable (e.g. a driver too old for the CUDA runtime).
    run_step gpu-tests "$GPU_TESTS"

    SANITIZER=$(command -v compute-sanitizer || true)
    for candidate in /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
        if [ -z "$SANITIZER" ] && [ -x "$candidate" ]; then SANITIZER=$candidate; fi
    done
    if [ -n "$SANITIZER" ]; then
        # The "large" suite (8 GiB, 2^31 elements) would take far too long under the sanitizer;
        # memcheck runs everything else, the other three tools skip the whole-model training
        # steps (their kernels are the ones the per-family suites run).
        if [ "${FBSEG_SKIP_SANITIZERS:-0}" = 1 ]; then
            skip_step sanitizer "FBSEG_SKIP_SANITIZERS=1"
        else
            for tool in ${FBSEG_SANITIZER_TOOLS:-memcheck racecheck initcheck synccheck}; do
                if [ "$tool" = memcheck ]; then
                    # --report-api-errors no: the allocator's tests provoke cudaMalloc failures on
                    # purpose (an absurd size must be a clean fbseg::Error); memcheck is about memory
                    run_step sanitizer-memcheck timeout "$SANITIZER_TIMEOUT" "$SANITIZER" --tool memcheck \
                        --report-api-errors no --error-exitcode 1 "$GPU_TESTS" --test-suite-exclude=large
                else
                    run_step "sanitizer-$tool" timeout "$SANITIZER_TIMEOUT" "$SANITIZER" --tool "$tool" --error-exitcode 1 \
                        "$GPU_TESTS" --test-suite-exclude=large --test-case-exclude='gpu training*'
                fi
            done
        fi
    else
        skip_step sanitizer "compute-sanitizer not found"
    fi
else
    skip_step gpu-tests "no fbseg_gpu_tests binary in $BUILD_DIR (build failed?)"
fi

# ---- 5. benchmarks --------------------------------------------------------------------------
BENCH_ROOT=$BUILD_DIR/benchmarks
[ -n "$PREBUILT" ] && BENCH_ROOT=$BUILD_DIR
BENCHES=$(find "$BENCH_ROOT" -type f -name 'fbseg_gpu_bench*' -perm -u+x 2>/dev/null | sort)
if [ -n "$BENCHES" ]; then
    for bench in $BENCHES; do
        name=$(basename "$bench")
        # shellcheck disable=SC2086 # FBSEG_BENCH_ARGS is a list of arguments
        run_step "$name" timeout "${FBSEG_BENCH_TIMEOUT:-120}" "$bench" --benchmark_out="$REPORT_DIR/$name.json" \
            --benchmark_out_format=json ${FBSEG_BENCH_ARGS:-}
    done
else
    skip_step benchmarks "no fbseg_gpu_bench* binary (Google Benchmark missing?)"
fi

# ---- 6. the training step beside PyTorch on the same GPU --------------------------------------
MODEL_STEP=$(find "$BUILD_DIR" -type f -name fbseg_model_step_cuda -perm -u+x 2>/dev/null | head -1)
if [ -n "$MODEL_STEP" ] && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    if compgen -G ".whl/*.whl" >/dev/null; then  # carried wheels (segmentation_models_pytorch)
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/fbseg-site \
            .whl/*.whl && export PYTHONPATH=/tmp/fbseg-site${PYTHONPATH:+:$PYTHONPATH}
    fi
    run_step compare-pytorch timeout "${FBSEG_COMPARE_TIMEOUT:-240}" python3 benchmarks/compare_pytorch_cuda.py \
        --binary "$MODEL_STEP" --json "$REPORT_DIR/compare_pytorch_cuda.json" ${FBSEG_COMPARE_ARGS:-}
else
    skip_step compare-pytorch "no fbseg_model_step_cuda, or no PyTorch with CUDA"
fi

write_summary
echo
cat "$SUMMARY"
[ "$FAILED" -eq 0 ]
