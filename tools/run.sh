#!/usr/bin/env bash
# One entry point for the README's quick start and for CI:
#   bash tools/run.sh demo   install what is missing, build the fbseg program, train a UNet on the MRI
#                            phantom's brain mask (about a minute on 2 cores) and score it
#   bash tools/run.sh test   install what is missing, build (CUDA too when nvcc is found), run all tests
#   bash tools/run.sh asan   the test suite under AddressSanitizer + UndefinedBehaviorSanitizer (CPU)
#   bash tools/run.sh tsan   the concurrency suite under ThreadSanitizer with 8 pool threads (CPU)
#   bash tools/run.sh fuzz   the file readers' libFuzzer targets (clang), FBSEG_FUZZ_SECONDS each (default 30),
#                            as many at once as there are cores
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
jobs=$(nproc 2>/dev/null || echo 2)

bash tools/install_deps.sh
# ccache (when installed) keys on paths relative to the source tree, so a fresh clone in another
# folder (CI's) reuses objects compiled from the same sources; the PCH needs the two sloppiness
# settings that ccache documents for precompiled headers.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
# nvcc lives outside PATH in a default toolkit install; let CMake find it.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi

case "$what" in
  demo)
    cmake --preset release >/dev/null
    cmake --build --preset release --target fbseg_app -j "$jobs"
    rm -rf runs/demo
    # the demo recipe (docs/application.md, "Measured recipes"): validation Dice 0.99 in 12 epochs
    ./build/release/examples/fetal_brain/fbseg train --data phantom --modality mri --count 96 --model unet \
        --image-size 96 --batch-size 8 --epochs 12 --lr 2e-3 --augment flips --seed 0 --out runs/demo
    ./build/release/examples/fetal_brain/fbseg eval --model runs/demo val
    echo "next: fbseg predict --model runs/demo YOUR_IMAGE.png --out runs/demo/predictions"
    echo "      fbseg train --resume runs/demo --epochs 20     (continue the run)"
    ;;
  test)
    cmake --preset release >/dev/null
    cmake --build --preset release -j "$jobs"
    ctest --preset release
    ;;
  asan)
    cmake --preset asan >/dev/null
    cmake --build --preset asan -j "$jobs"
    ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --preset asan
    ;;
  tsan)
    cmake --preset tsan >/dev/null
    cmake --build --preset tsan -j "$jobs"
    ctest --preset tsan
    ;;
  fuzz)
    cmake --preset fuzz >/dev/null
    cmake --build --preset fuzz -j "$jobs"
    seconds=${FBSEG_FUZZ_SECONDS:-30}
    # Each target runs on one core for the full time; up to $jobs of them at once.
    fuzz_one() {
      local target=$1 name=$2 corpus=$3 log=build/fuzz/$2.log
      if "$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
           -artifact_prefix=build/fuzz/ "$corpus" >"$log" 2>&1; then
        echo ok >"build/fuzz/$name.status"
      else
        echo failed >"build/fuzz/$name.status"
      fi
    }
    names=()
    for target in build/fuzz/tests/fuzz/fuzz_*; do
      name=${target##*/fuzz_}
      names+=("$name")
      # Seeds: the committed fixtures the reader accepts; the corpus grows in build/ across runs.
      corpus=build/fuzz/corpus/$name
      mkdir -p "$corpus"
      case "$name" in
        safetensors) cp -n tests/fixtures/io_dtypes.safetensors tests/fixtures/newops.safetensors "$corpus"/ ;;
        png) cp -n tests/fixtures/readers/*.png tests/fixtures/readers/*.jpg tests/fixtures/readers/*.bmp "$corpus"/ ;;
        csv) cp -n tests/fixtures/readers/hc18/*.csv "$corpus"/ ;;
        nifti) cp -n tests/fixtures/nifti/*.nii tests/fixtures/nifti/*.nii.gz "$corpus"/ ;;
      esac
      # inputs that once failed, kept so that every run replays them first
      if [ -d "tests/fuzz/regressions/$name" ]; then cp -n "tests/fuzz/regressions/$name"/* "$corpus"/; fi
      rm -f "build/fuzz/$name.status"
      echo "fuzz: $name for ${seconds} s"
      fuzz_one "$target" "$name" "$corpus" &
      while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    done
    wait
    failed=0
    for name in "${names[@]}"; do
      log=build/fuzz/$name.log
      if [ "$(cat "build/fuzz/$name.status" 2>/dev/null)" != ok ]; then
        tail -n 60 "$log" >&2
        echo "fuzz: $name found a failing input (saved as build/fuzz/crash-* or similar; full log $log)" >&2
        failed=1
        continue
      fi
      echo "fuzz: $name"
      grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$log"
    done
    exit "$failed"
    ;;
  *)
    echo "usage: bash tools/run.sh demo|test|asan|tsan|fuzz" >&2
    exit 2
    ;;
esac
