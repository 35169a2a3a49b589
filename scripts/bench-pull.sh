#!/usr/bin/env bash
# Usage: scripts/bench-pull.sh [RUNS]
# The pull benchmark: the library's pull of a ~101 MiB image (busybox plus 5
# layers of 20 MiB incompressible data) against `ctr images pull` of the same
# image from the same local registry into the same private containerd,
# RUNS times each (default 3), alternating; the image, its content and its
# snapshots are removed (garbage collector run) after every pull, so each one
# fetches and unpacks everything. Prints each run, then the medians: seconds,
# MB/s (10^6 bytes of content a second, fetch and unpack included) and, for
# the library, its peak RSS (VmHWM of the benchmark process).
# Builds the release library and examples-c/bench/pull_bench.c; starts the
# daemon (scripts/daemon.sh) and a registry (scripts/registry.sh, plain HTTP
# with basic auth) and stops them again. Another containerd version:
#   env $(scripts/containerd-versions.sh env 2.1) scripts/bench-pull.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-3}
CTR=${CTR_BIN:-ctr}

cargo build --release --locked
cmake -S examples-c -B build/bench -DCTRD_LIB_DIR="$root/target/release" >/dev/null
cmake --build build/bench --target pull_bench >/dev/null

dir=$(mktemp -d /tmp/ctrd-bench-pull-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/registry.sh stop "$dir.registry"; scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/registry.sh start "$dir.registry" --owner-pid $$ >/dev/null
echo "pushing the benchmark image (built on first use)..." >&2
CTRD_PUSH_IMAGES=big scripts/push-test-images.sh "$sock" "$dir.registry" >/dev/null
host=$(cat "$dir.registry/host")
creds=$(cat "$dir.registry/creds")
ref=$host/ctrd/big:latest
ctr_() { "$CTR" --address "$sock" "$@"; }
# The push left the blobs in the daemon: remove them, or pulls find them there.
ctr_ -n registry-push images rm --sync docker.io/ctrd/big:latest "$ref" >/dev/null 2>&1 || true
version=$(ctr_ version | sed -n 's/^ *Version: *//p' | tail -n 1)

export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=bench-lib
ctr_times=() lib_times=() lib_rates=() lib_rss=()
for ((i = 1; i <= runs; i++)); do
    t0=$(date +%s%N)
    ctr_ -n bench-ctr images pull --plain-http --user "$creds" "$ref" >/dev/null
    t1=$(date +%s%N)
    ctr_ -n bench-ctr images rm --sync "$ref" >/dev/null
    ctr_times+=("$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.3f", ns / 1e9 }')")
    echo "run $i: ctr images pull ${ctr_times[-1]} s" >&2

    out=$(build/bench/pull_bench --plain-http --user "$creds" "$ref" 1)
    read -r _ s rate rss < <(grep '^pull ' <<<"$out")
    baseline=$(sed -n 's/^baseline //p' <<<"$out")
    lib_times+=("$s") lib_rates+=("$rate") lib_rss+=("$rss")
    echo "run $i: containerd-c $s s, $rate MB/s, peak RSS $((rss / 1024)) MiB (baseline $((baseline / 1024)) MiB)" >&2
done
ctr_ namespaces rm bench-ctr bench-lib >/dev/null 2>&1 || true

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
bytes=$(stat -c %s target/registry-images/big.tar)
ctr_s=$(median "${ctr_times[@]}")
lib_s=$(median "${lib_times[@]}")
lib_rate=$(median "${lib_rates[@]}")
lib_peak=$(median "${lib_rss[@]}")
# The same bytes in ctr's time.
ctr_rate=$(awk -v r="$lib_rate" -v a="$lib_s" -v b="$ctr_s" 'BEGIN { printf "%.1f", r * a / b }')
echo
echo "pull of $ref (~$((bytes / 1048576)) MiB archive), containerd $version, $runs runs each, alternating; medians:"
printf '%-18s %9s %9s %14s\n' "" seconds "MB/s" "peak RSS"
printf '%-18s %9s %9s %14s\n' "ctr images pull" "$ctr_s" "$ctr_rate" "-"
printf '%-18s %9s %9s %10s MiB\n' "containerd-c" "$lib_s" "$lib_rate" "$((lib_peak / 1024))"
awk -v a="$lib_s" -v b="$ctr_s" 'BEGIN { printf "containerd-c / ctr time: %.2f\n", a / b }'
