#!/usr/bin/env bash
# Usage: scripts/bench-queue.sh [ROUNDS] [VERSION]
# The completion-queue benchmark: COUNT (100) lifecycles of `busybox true`
# at once (snapshot, create, new task, start, wait, delete task, delete
# container) against ONE private containerd in one run, three ways, ROUNDS
# times each (default 3), alternating (the order rotates every round):
#   a  one thread on a ctrd_queue (examples-c/bench/queue_bench.c --mode queue)
#   b  COUNT threads on the blocking calls (queue_bench --mode threads)
#   c  containerd's Go client, COUNT goroutines (bench/go-compare op f, built
#      as scripts/bench-calls.sh builds it: Debian's 1.6.20 client, GOPATH)
# each with its wall time, the most threads its process had and its peak
# RSS (VmHWM); then what a queued server-version call costs against the
# blocking one (one at a time: submit, epoll_wait, take), and the queue's
# calls per second with 16 in flight. Prints every run's figures, then the
# medians over the rounds against the issue's goals (a's wall <= 0.9 x c's
# and <= b's; a never above 8 threads; a's RSS <= half b's; a queued call
# within 1.2 x the blocking one). Figures, not a test: nothing here fails
# on a missed goal.
#
# VERSION: the containerd to run (1.6, the system's, by default; 1.7 or 2.1
# through scripts/containerd-versions.sh); also CTRD_BENCH_CONTAINERD. The
# Go side is installed as for scripts/bench-calls.sh (scripts/deps.sh
# golang-go golang-github-containerd-containerd-dev).
# Builds the library as scripts/install.sh installs it (release, LTO,
# stripped) into target/bench-queue/prefix and queue_bench against it.
# Starts its own daemon with the test image in namespace "bench"; removes
# everything at the end. Raw output goes to target/bench-queue/last/.
# Env: CTRD_BENCH_COUNT (lifecycles at once; 100), CTRD_BENCH_N (version
# calls each way; 2000), CTRD_BENCH_WARMUP (200), CTRD_BENCH_DEPTH (16).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
rounds=${1:-3}
version=${2:-${CTRD_BENCH_CONTAINERD:-1.6}}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage
(($# <= 2)) || usage
count=${CTRD_BENCH_COUNT:-100}

scripts/deps.sh golang-go golang-github-containerd-containerd-dev
command -v python3 >/dev/null || { echo "bench-queue.sh: python3 is missing (scripts/deps.sh)" >&2; exit 1; }

out=$root/target/bench-queue
mkdir -p "$out"
scripts/install.sh --prefix "$out/prefix" >&2
cmake -S examples-c -B build/bench-queue -DCTRD_LIB_DIR="$out/prefix/lib" >/dev/null
cmake --build build/bench-queue --target queue_bench >/dev/null
c_bench=$root/build/bench-queue/queue_bench
echo "bench-queue.sh: building bench/go-compare (GOPATH mode, Debian's packages)" >&2
GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" GOFLAGS= \
    GOPROXY=off go build -o "$out/go-compare" ./bench/go-compare
go_bench=$out/go-compare

vars=$(scripts/containerd-versions.sh env "$version" 2>/dev/null) || {
    scripts/containerd-versions.sh fetch >&2
    vars=$(scripts/containerd-versions.sh env "$version")
}
eval "export $vars"
CTR=${CTR_BIN:-ctr}
dir=$(mktemp -d /tmp/ctrd-bench-queue-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/daemon.sh stop "$dir" >/dev/null 2>&1 || true' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
ns=bench
scripts/make-image.sh target/test-image.tar >/dev/null
image=$(scripts/import-image.sh "$sock" "$ns" target/test-image.tar 2>/dev/null | tail -n 1)
ctr_() { "$CTR" --address "$sock" --namespace "$ns" "$@"; }
daemon_version=$(ctr_ version | sed -n 's/^ *Version: *//p' | tail -n 1)
export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=$ns

runs=$out/last
rm -rf "$runs"
mkdir -p "$runs"
declare -A cmd=(
    [a]="$c_bench --mode queue --count $count --image $image"
    [b]="$c_bench --mode threads --count $count --image $image"
    [c]="$go_bench --ops f --count $count --image $image"
)
progs=(a b c)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        p=${progs[(r - 1 + k) % 3]}
        echo "round $r: $p" >&2
        ${cmd[$p]} >"$runs/$p.$r"
        sed "s/^/  $p: /" "$runs/$p.$r" >&2
        left=$(ctr_ containers ls -q)
        [[ -z $left ]] || { echo "bench-queue.sh: containers left behind: $left" >&2; exit 1; }
    done
    echo "round $r: version" >&2
    "$c_bench" --mode version --n "${CTRD_BENCH_N:-2000}" --warmup "${CTRD_BENCH_WARMUP:-200}" \
        --depth "${CTRD_BENCH_DEPTH:-16}" >"$runs/version.$r"
    sed "s/^/  version: /" "$runs/version.$r" >&2
done

echo
load="load average at the start: ${load_start}, at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
python3 - "$runs" "$rounds" "$daemon_version" "$count" "$load" <<'EOF'
import os, re, statistics, sys

runs, rounds, version, count, load = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]

def lines(path):
    return [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(path) if "=" in l]

def med(values):
    return statistics.median(values) if values else float("nan")

runs_of = {p: [lines(os.path.join(runs, "%s.%d" % (p, r)))[0] for r in range(1, rounds + 1)]
           for p in "abc"}
fig = {p: {k: med([float(x[k]) for x in runs_of[p]]) for k in ("wall_ms", "max_threads", "hwm_kib")}
       for p in "abc"}
vers = {}
for r in range(1, rounds + 1):
    for l in lines(os.path.join(runs, "version.%d" % r)):
        vers.setdefault(l["op"], []).append(l)

print("containerd %s; %s lifecycles of `true` at once; %d round%s, alternating; medians"
      % (version, count, rounds, "" if rounds == 1 else "s"))
print(load)
print()
names = {"a": "one thread on the queue", "b": "%s threads, blocking calls" % count,
         "c": "Go client, %s goroutines" % count}
print("%-3s %-28s %9s %9s %10s" % ("", "", "wall ms", "threads", "peak KiB"))
for p in "abc":
    f = fig[p]
    print("%-3s %-28s %9.0f %9.0f %10.0f" % (p, names[p], f["wall_ms"], f["max_threads"], f["hwm_kib"]))
print()
a, b, c = fig["a"], fig["b"], fig["c"]
def goal(text, ok):
    print("  %-50s %s" % (text, "yes" if ok else "NO"))
print("goals:")
goal("a's wall <= 0.9 x c's (%.2f x)" % (a["wall_ms"] / c["wall_ms"]), a["wall_ms"] <= 0.9 * c["wall_ms"])
goal("a's wall <= b's (%.2f x)" % (a["wall_ms"] / b["wall_ms"]), a["wall_ms"] <= b["wall_ms"])
most = max(float(x["max_threads"]) for x in runs_of["a"])
goal("a never above 8 threads (most: %.0f)" % most, most <= 8)
goal("a's peak RSS <= half b's (%.2f x)" % (a["hwm_kib"] / b["hwm_kib"]), a["hwm_kib"] <= b["hwm_kib"] / 2)
blocking = med([float(l["median_us"]) for l in vers["version_blocking"]])
queued = med([float(l["median_us"]) for l in vers["version_queued"]])
goal("a queued Version within 1.2 x the blocking one (%.2f x)" % (queued / blocking), queued <= 1.2 * blocking)
print()
print("server version, one call at a time (µs; p99):")
for op, what in (("version_blocking", "blocking call"), ("version_queued", "queued: submit, epoll, take")):
    print("  %-30s median %7.1f   p99 %7.1f   %6.0f calls/s" % (
        what, med([float(l["median_us"]) for l in vers[op]]), med([float(l["p99_us"]) for l in vers[op]]),
        med([float(l["ops_s"]) for l in vers[op]])))
pl = vers["version_pipelined"]
print("  queued, %s in flight: %.0f calls/s" % (pl[0]["depth"], med([float(l["ops_s"]) for l in pl])))
EOF
