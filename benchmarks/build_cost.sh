#!/usr/bin/env bash
# benchmarks/build_cost.sh - what embedding fbseg costs at compile time (issue 14, "build cost"):
# compiles a one-line program that builds a UNet, with the umbrella header and with the narrower
# fbseg/models.hpp, against libfbseg (the default) and header-only, at -O2 and -O0, and prints the
# wall time and the compiler's peak memory of each (GNU time). Each program is then linked and
# run, so a figure is never that of a program that does not work.
#
#   bash benchmarks/build_cost.sh [build folder with src/libfbseg.a, default build/release]
#
# Run it on an otherwise idle machine: a parallel build beside it inflates every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
lib=$build/src/libfbseg.a
[ -f "$lib" ] || { echo "build_cost: $lib not found: cmake --preset release && cmake --build --preset release --target fbseg" >&2; exit 1; }
cxx=${CXX:-g++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++20 -Iinclude -I/usr/include/eigen3 -I/usr/include/nifti -I/usr/include/stb)
libs=($(pkg-config --libs stb) -lniftiio -lznz -lz -lpthread)

echo "compiler: $($cxx --version | head -1); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date +%F); commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
printf '%-22s %-12s %-4s %8s %9s\n' "header" "kernels" "opt" "seconds" "MiB"
for header in fbseg/fbseg.hpp fbseg/models.hpp; do
  printf '#include <%s>\nint main() { fbseg::models::UNet net; return net.parameters().empty() ? 1 : 0; }\n' "$header" >"$work/one.cpp"
  for mode in library header-only; do
    for opt in -O2 -O0; do
      defs=(); link=()
      if [ "$mode" = library ]; then defs=(-DFBSEG_KERNEL_LIBRARY=1); link=("$lib"); fi
      /usr/bin/time -f '%e %M' -o "$work/time" "$cxx" "${flags[@]}" "${defs[@]}" "$opt" -c "$work/one.cpp" -o "$work/one.o"
      read -r seconds kib <"$work/time"
      "$cxx" "$work/one.o" "${link[@]}" "${libs[@]}" -o "$work/one"
      "$work/one"
      printf '%-22s %-12s %-4s %8.1f %9.0f\n' "$header" "$mode" "$opt" "$seconds" "$((kib / 1024))"
    done
  done
done
