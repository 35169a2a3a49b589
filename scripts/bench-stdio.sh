#!/usr/bin/env bash
# Usage: scripts/bench-stdio.sh [RUNS] [BYTES] [CONTAINERS]
# The stdio benchmark (figures, no timed assertions), against a private
# containerd with the test image:
#   out   BYTES (default 1 GiB) of zeros from `dd` in a container through its
#         stdout: the library (examples-c/bench/stdio_bench.c: a session
#         copies the stdout FIFO into a pipe) against `ctr run --rm ... | wc -c`;
#   in    BYTES of zeros into a container's stdin, counted by `wc -c` there:
#         the library (a session copies a pipe into the stdin FIFO and closes
#         the task's stdin at end of file) against `head -c | ctr run --rm`;
#   many  CONTAINERS (default 200) containers running `cat`, all attached at
#         once (stdin, stdout, stderr through pipes), 256 KiB of distinct
#         bytes echoed through each and checked; the benchmark process's
#         threads and VmRSS before, with all attached, and after.
# out and in run RUNS times each (default 3), alternating library and ctr;
# each run covers the whole life of the container (create to delete, as
# `ctr run --rm` does); MB/s = 10^6 bytes a second. Counts are checked:
# a wrong one fails the script. Prints each run, then the medians.
# Builds the release library and the benchmark; starts the daemon
# (scripts/daemon.sh) and stops it again. Another containerd version:
#   env $(scripts/containerd-versions.sh env 2.1) scripts/bench-stdio.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-3}
bytes=${2:-1073741824}
containers=${3:-200}
CTR=${CTR_BIN:-ctr}
((bytes % 1048576 == 0)) || { echo "bench-stdio.sh: BYTES must be a multiple of 1 MiB" >&2; exit 2; }

cargo build --release --locked
cmake -S examples-c -B build/bench -DCTRD_LIB_DIR="$root/target/release" >/dev/null
cmake --build build/bench --target stdio_bench >/dev/null

dir=$(mktemp -d /tmp/ctrd-bench-stdio-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/make-image.sh target/test-image.tar >/dev/null
ns=bench-stdio
image=$(scripts/import-image.sh "$sock" "$ns" target/test-image.tar 2>/dev/null | tail -n 1)
ctr_() { "$CTR" --address "$sock" --namespace "$ns" "$@"; }
version=$(ctr_ version | sed -n 's/^ *Version: *//p' | tail -n 1)
export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=$ns CTRD_TEST_IMAGE=$image

rate() { awk -v b="$bytes" -v ns="$1" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }'; }
lib_out=() ctr_out=() lib_in=() ctr_in=()
for ((i = 1; i <= runs; i++)); do
    t0=$(date +%s%N)
    n=$(ctr_ run --rm "$image" "bench-ctr-out-$i" dd if=/dev/zero bs=1048576 count=$((bytes / 1048576)) 2>/dev/null | wc -c)
    t1=$(date +%s%N)
    ((n == bytes)) || { echo "bench-stdio.sh: ctr out: $n bytes, want $bytes" >&2; exit 1; }
    ctr_out+=("$(rate $((t1 - t0)))")
    read -r _ _ s r c < <(build/bench/stdio_bench out "$bytes")
    lib_out+=("$r")
    echo "out run $i: ctr ${ctr_out[-1]} MB/s, containerd-c $r MB/s ($s s; copy alone $c s)" >&2

    t0=$(date +%s%N)
    n=$(head -c "$bytes" /dev/zero | ctr_ run --rm "$image" "bench-ctr-in-$i" wc -c)
    t1=$(date +%s%N)
    ((n == bytes)) || { echo "bench-stdio.sh: ctr in: wc -c counted $n, want $bytes" >&2; exit 1; }
    ctr_in+=("$(rate $((t1 - t0)))")
    read -r _ _ s r c < <(build/bench/stdio_bench in "$bytes")
    lib_in+=("$r")
    echo "in run $i: ctr ${ctr_in[-1]} MB/s, containerd-c $r MB/s ($s s; copy alone $c s)" >&2
done

echo "many: $containers containers attached at once..." >&2
many=$(build/bench/stdio_bench many "$containers")
echo "$many" >&2
read -r _ th0 th1 th2 th3 < <(grep '^threads ' <<<"$many")
read -r _ rss0 rss1 rss2 rss3 < <(grep '^rss_kib ' <<<"$many")
grep -q "^checked $containers " <<<"$many"

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "stdio, containerd $version, $((bytes / 1048576)) MiB, $runs runs each, alternating; medians (MB/s, whole run):"
printf '%-10s %14s %10s\n' "" "containerd-c" "ctr run"
printf '%-10s %14s %10s\n' stdout "$(median "${lib_out[@]}")" "$(median "${ctr_out[@]}")"
printf '%-10s %14s %10s\n' stdin "$(median "${lib_in[@]}")" "$(median "${ctr_in[@]}")"
echo "$containers containers attached (stdin, stdout, stderr each), the benchmark process:"
printf '%-22s %8s %10s\n' "" threads "VmRSS MiB"
printf '%-22s %8s %10s\n' "before" "$th0" "$((rss0 / 1024))"
printf '%-22s %8s %10s\n' "all attached, running" "$th1" "$((rss1 / 1024))"
printf '%-22s %8s %10s\n' "after echoing" "$th2" "$((rss2 / 1024))"
printf '%-22s %8s %10s\n' "after deleting" "$th3" "$((rss3 / 1024))"
