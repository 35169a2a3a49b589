#!/usr/bin/env bash
# Usage: scripts/bench-push.sh [RUNS]
# The push benchmark: the library's push (examples-c/push.c against the
# release library) of a ~101 MiB image (busybox plus 5 layers of 20 MiB
# incompressible data, the pull benchmark's) against `ctr images push` of
# the same image from the same private containerd to the same local
# registry, RUNS times each (default 3), alternating. Each push goes to a
# repository of its own, so every blob is sent (no HEAD finds it, and the
# distribution-source labels a push may leave are removed after each one,
# so no blob is mounted). Prints each run, then the medians: seconds, MB/s
# (10^6 bytes of content a second) and the peak RSS of each process
# (GNU time's maximum resident set size). Figures only, no assertion.
# Builds the release library and examples-c/push.c; starts the daemon
# (scripts/daemon.sh) and a registry (scripts/registry.sh, plain HTTP with
# basic auth) and stops them again. Another containerd version:
#   env $(scripts/containerd-versions.sh env 2.1) scripts/bench-push.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${1:-3}
CTR=${CTR_BIN:-ctr}
TIME=/usr/bin/time
[[ -x $TIME ]] || { echo "bench-push.sh: GNU time (/usr/bin/time) is missing: apt-get install time" >&2; exit 1; }

cargo build --release --locked
cmake -S examples-c -B build/bench -DCTRD_LIB_DIR="$root/target/release" >/dev/null
cmake --build build/bench --target push >/dev/null
archive=target/registry-images/big.tar
[[ -s $archive ]] || scripts/make-images.sh target/registry-images big >/dev/null

dir=$(mktemp -d /tmp/ctrd-bench-push-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'rm -f "$dir.time"; scripts/registry.sh stop "$dir.registry"; scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/registry.sh start "$dir.registry" --owner-pid $$ >/dev/null
host=$(cat "$dir.registry/host")
creds=$(cat "$dir.registry/creds")
ns=bench-push
ctr_() { "$CTR" --address "$sock" -n "$ns" "$@"; }
ctr_ images import --no-unpack --all-platforms "$archive" >/dev/null
image=docker.io/ctrd/big:latest
version=$("$CTR" --address "$sock" version | sed -n 's/^ *Version: *//p' | tail -n 1)
# The bytes of the image's content: its manifest, config and layers
# (ctr content ls rounds sizes, and may list what an import is dropping).
target=$(ctr_ images ls | awk -v n="$image" '$1 == n { print $3 }')
manifest=$(ctr_ content get "$target")
sizes=$(grep -o '"size":[0-9]*' <<<"$manifest" | awk -F: '{ n += $2 } END { print n }')
bytes=$((${#manifest} + sizes))

# Labels a push may leave that would let the next push mount blobs.
unlabel() {
    local d
    for d in $(ctr_ content ls -q); do
        ctr_ content label "$d" "containerd.io/distribution.source.$host=" >/dev/null 2>&1 || true
    done
}

# timed CMD...: runs CMD under GNU time; sets s (seconds) and rss (KiB).
timed() {
    "$TIME" -f '%e %M' -o "$dir.time" "$@" >/dev/null
    read -r s rss <"$dir.time"
}

ctr_times=() ctr_rss=() lib_times=() lib_rss=()
for ((i = 1; i <= runs; i++)); do
    timed "$CTR" --address "$sock" -n "$ns" images push --plain-http --user "$creds" \
        "$host/ctrd/big-ctr-$i:latest" "$image"
    ctr_times+=("$s") ctr_rss+=("$rss")
    echo "run $i: ctr images push $s s, peak RSS $((rss / 1024)) MiB" >&2
    unlabel

    timed env CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE="$ns" \
        build/bench/push --plain-http --user "$creds" "$host/ctrd/big-lib-$i:latest" "$image"
    lib_times+=("$s") lib_rss+=("$rss")
    echo "run $i: containerd-c $s s, peak RSS $((rss / 1024)) MiB" >&2
    unlabel
done

# Blobs each sent (PUTs of uploads the registry completed), as a check
# that nothing was mounted or skipped.
log=$dir.registry/registry.log
puts() { grep 'response completed' "$log" | grep 'http.request.method=PUT' | grep -c "/ctrd/big-$1-.*/blobs/uploads/" || true; }
echo "blob uploads: ctr $(puts ctr), containerd-c $(puts lib) (of $runs pushes each)" >&2

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rate() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
ctr_s=$(median "${ctr_times[@]}")
lib_s=$(median "${lib_times[@]}")
ctr_peak=$(median "${ctr_rss[@]}")
lib_peak=$(median "${lib_rss[@]}")
echo
echo "push of $image ($((bytes / 1048576)) MiB of content) to $host, containerd $version, $runs runs each, alternating; medians:"
printf '%-18s %9s %9s %14s\n' "" seconds "MB/s" "peak RSS"
printf '%-18s %9s %9s %10s MiB\n' "ctr images push" "$ctr_s" "$(rate "$ctr_s")" "$((ctr_peak / 1024))"
printf '%-18s %9s %9s %10s MiB\n' "containerd-c" "$lib_s" "$(rate "$lib_s")" "$((lib_peak / 1024))"
awk -v a="$lib_s" -v b="$ctr_s" 'BEGIN { printf "containerd-c / ctr time: %.2f\n", a / b }'
