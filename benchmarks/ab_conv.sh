#!/usr/bin/env bash
# benchmarks/ab_conv.sh - the CPU convolution kernels of a git revision (A) against the working
# tree's (B), timed call by call in alternation on the models' 3x3 layers (ab_conv/main.cpp says
# why: this project's VMs drift by 10-50% between two runs of one binary).
#
#   bash benchmarks/ab_conv.sh [--pass forward|backward-data|backward-weight] [--rounds N]
#                              [--depthwise|--transposed] [REV]
#
# --depthwise times efficientnet-b0-unet's depthwise layers instead, --transposed the classic
# UNet's 2x2/2 transposed convolutions (their forward is --pass backward-data). REV defaults to
# HEAD (so B is your uncommitted change). Both copies are compiled here with g++ -O3 -march=native,
# header-only (plus AB_EXTRA_FLAGS, e.g. -DNAME=VALUE to try a constant), and run on
# FBSEG_NUM_THREADS threads (default: all).
# Prints, per layer, both medians, B/A of the medians and of the best times, and how far B's
# output is from A's (relative to A's largest value).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pass=forward rounds=7 rev=HEAD set=conv
while (($#)); do
  case "$1" in
    --pass) pass=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --depthwise) set=depthwise; shift ;;
    --transposed) set=transposed; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) rev=$1; shift ;;
  esac
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/a"
git -C "$root" archive "$rev" include | tar -x -C "$work/a"
flags=(-std=gnu++20 -O3 -march=native -isystem /usr/include/eigen3 ${AB_EXTRA_FLAGS:-})
g++ "${flags[@]}" -I "$work/a/include" -Dfbseg=fbseg_ab_a -DAB_ENTRY=ab_run_a -c "$root/benchmarks/ab_conv/variant.cpp" -o "$work/a.o" &
g++ "${flags[@]}" -I "$work/a/include" -Dfbseg=fbseg_ab_a -c "$root/src/core/parallel.cpp" -o "$work/pa.o" &
wait
g++ "${flags[@]}" -I "$root/include" -Dfbseg=fbseg_ab_b -DAB_ENTRY=ab_run_b -c "$root/benchmarks/ab_conv/variant.cpp" -o "$work/b.o" &
g++ "${flags[@]}" -I "$root/include" -Dfbseg=fbseg_ab_b -c "$root/src/core/parallel.cpp" -o "$work/pb.o" &
wait
g++ "${flags[@]}" -I "$root/include" "$root/benchmarks/ab_conv/main.cpp" "$work"/{a,b,pa,pb}.o -lpthread -o "$work/ab_conv"
echo "A: $(git -C "$root" rev-parse --short "$rev")   B: working tree   pass: $pass   rounds: $rounds   $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), ${FBSEG_NUM_THREADS:-all} threads"
"$work/ab_conv" "$pass" "$rounds" "$set"
