#!/usr/bin/env bash
# Usage: scripts/bench-calls.sh [ROUNDS] [VERSION]
# The call benchmark: the everyday operations through the library's C ABI
# (examples-c/bench/calls_bench.c), through containerd's own Go client
# (bench/go-compare, Debian's golang-github-containerd-containerd-dev 1.6.20,
# built in GOPATH mode) and through the library's async Rust core directly
# (benches/ops.rs), all three against ONE private containerd in one run,
# ROUNDS times each (default 3), alternating (the order rotates every round).
#   a  server version (one call)
#   b  load a container + its spec JSON (Go: LoadContainer + Spec, which
#      reads the record again; b1: LoadContainer + the stored spec bytes)
#   c  load the task of a running container
#   d  lifecycle of `busybox true`: spec from the image, snapshot, create,
#      new task (no stdio), start, wait, delete task, delete container
#   e  b from 16 threads (goroutines, runtime tasks) sharing one client: ops/s
# plus the first call of a fresh process, VmRSS after 1,000 and after 100,000
# server-version calls (one run of each program after the rounds), and the
# size of the installed (stripped) .so, and where op d's time goes (each
# step's median; Go's steps differ: its NewContainer makes the snapshot and
# the spec). Prints every run's figures, then a
# table of the medians over the rounds: Go, C, Rust core, C/Go and the
# issue's goals. Figures, not a test: nothing here fails on a missed goal.
#
# VERSION: the containerd to run (1.6, the system's, by default; 1.7 or 2.1
# through scripts/containerd-versions.sh, fetched if not there yet); also
# CTRD_BENCH_CONTAINERD. On a fresh Debian 12 machine run scripts/deps.sh
# first; this script installs the Go side itself (as root, through
# `scripts/deps.sh golang-go golang-github-containerd-containerd-dev`; the
# Go program needs nothing else: it builds offline from those packages).
#
# Builds: the library as scripts/install.sh installs it (release, LTO,
# stripped) into target/bench-calls/prefix, calls_bench against it, the
# Rust bench (cargo bench --no-run: the same release profile) and the Go
# program. Starts its own daemon (scripts/daemon.sh) with the test image
# (scripts/make-image.sh) in namespace "bench" and a running container made
# by ctr; removes everything at the end. Raw output goes to
# target/bench-calls/last/.
# Env (counts): CTRD_BENCH_N (calls of a, b, c; 2000), CTRD_BENCH_WARMUP
# (200), CTRD_BENCH_LIFECYCLES (d; 30), CTRD_BENCH_THREADS (e; 16),
# CTRD_BENCH_THREADED (b calls per thread in e; 500), CTRD_BENCH_RSS_CALLS
# (100000).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }
rounds=${1:-3}
version=${2:-${CTRD_BENCH_CONTAINERD:-1.6}}
[[ $rounds =~ ^[1-9][0-9]*$ ]] || usage
(($# <= 2)) || usage

scripts/deps.sh golang-go golang-github-containerd-containerd-dev
command -v python3 >/dev/null || { echo "bench-calls.sh: python3 is missing (scripts/deps.sh)" >&2; exit 1; }

out=$root/target/bench-calls
mkdir -p "$out"
# The Rust bench first: it builds the library's cdylib too, with the test
# hooks (a dev-dependency feature), over the same file as the install build
# (cargo names a cdylib without a hash), so each of the two builds the
# library again every time; in this order target/release keeps the
# installed build (with its symbols: for perf).
echo "bench-calls.sh: building benches/ops.rs (cargo bench --no-run)" >&2
rust_bench=$(cargo bench --locked --bench ops --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "ops" and m.get("executable"):
        print(m["executable"])' | tail -n 1)
[[ -x $rust_bench ]] || { echo "bench-calls.sh: no benches/ops.rs executable" >&2; exit 1; }
# The library as users get it: LTO, stripped (`cargo build --release` does
# no LTO, see scripts/install.sh).
scripts/install.sh --prefix "$out/prefix" >&2
cmake -S examples-c -B build/bench-calls -DCTRD_LIB_DIR="$out/prefix/lib" >/dev/null
cmake --build build/bench-calls --target calls_bench >/dev/null
c_bench=$root/build/bench-calls/calls_bench
echo "bench-calls.sh: building bench/go-compare (GOPATH mode, Debian's packages)" >&2
GO111MODULE=off GOPATH="$out/gopath:/usr/share/gocode" GOCACHE="$out/gocache" GOFLAGS= \
    GOPROXY=off go build -o "$out/go-compare" ./bench/go-compare
go_bench=$out/go-compare
so=$(find "$out/prefix/lib" -maxdepth 1 -type f -name 'libcontainerd_c.so.*' | head -n 1)

# The daemon of VERSION (its binaries first on PATH, as the tests use it).
vars=$(scripts/containerd-versions.sh env "$version" 2>/dev/null) || {
    scripts/containerd-versions.sh fetch >&2
    vars=$(scripts/containerd-versions.sh env "$version")
}
eval "export $vars"
CTR=${CTR_BIN:-ctr}
dir=$(mktemp -d /tmp/ctrd-bench-calls-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/daemon.sh stop "$dir" >/dev/null 2>&1 || true' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
ns=bench
scripts/make-image.sh target/test-image.tar >/dev/null
image=$(scripts/import-image.sh "$sock" "$ns" target/test-image.tar 2>/dev/null | tail -n 1)
ctr_() { "$CTR" --address "$sock" --namespace "$ns" "$@"; }
running=bench-calls-running
ctr_ run -d "$image" "$running" sleep 1000000 >/dev/null
daemon_version=$(ctr_ version | sed -n 's/^ *Version: *//p' | tail -n 1)
export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=$ns

# The same options for all three (Go's flag package takes --name too).
args=(--container "$running" --image "$image"
    --n "${CTRD_BENCH_N:-2000}" --warmup "${CTRD_BENCH_WARMUP:-200}"
    --n-lifecycle "${CTRD_BENCH_LIFECYCLES:-30}" --threads "${CTRD_BENCH_THREADS:-16}"
    --n-threaded "${CTRD_BENCH_THREADED:-500}")
declare -A bin=([go]=$go_bench [c]=$c_bench [rust]=$rust_bench)
declare -A ops=([go]=a,b,b1,c,d,e [c]=a,b,c,d,e [rust]=a,b,c,d,e)
runs=$out/last
rm -rf "$runs"
mkdir -p "$runs"
progs=(go c rust)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= rounds; r++)); do
    for ((k = 0; k < 3; k++)); do
        p=${progs[(r - 1 + k) % 3]}
        echo "round $r: $p" >&2
        "${bin[$p]}" "${args[@]}" --ops "${ops[$p]}" --first >"$runs/$p.$r"
        grep -E '^(op|first_call_us)=' "$runs/$p.$r" | sed "s/^/  $p: /" >&2
    done
done
rss_calls=${CTRD_BENCH_RSS_CALLS:-100000}
for p in "${progs[@]}"; do
    echo "RSS: $p, $rss_calls server-version calls" >&2
    "${bin[$p]}" --ops none --rss "$rss_calls" >"$runs/$p.rss"
    sed "s/^/  $p: /" "$runs/$p.rss" >&2
done
left=$(ctr_ containers ls -q | grep -vxF "$running" || true)
[[ -z $left ]] || echo "bench-calls.sh: containers left behind: $left" >&2

echo
load="load average at the start: ${load_start}, at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
python3 - "$runs" "$rounds" "$daemon_version" "$so" "$rss_calls" "$load" <<'EOF'
import os, re, statistics, sys

runs, rounds, version, so, rss_calls, load = sys.argv[1], int(sys.argv[2]), *sys.argv[3:7]

def parse(path):
    ops, extra = {}, {}
    for line in open(path):
        kv = dict(re.findall(r"(\w+)=([0-9.]+|\S+)", line))
        if "op" in kv:
            ops[kv["op"]] = {k: float(v) for k, v in kv.items() if k != "op"}
        elif "step" in kv:
            extra["step " + kv["step"]] = float(kv["median_us"])
        elif "first_call_us" in kv:
            extra["first"] = float(kv["first_call_us"])
            extra["process"] = float(kv["process_us"])
        elif "rss_kib_after" in kv:
            extra["rss_%s" % kv["rss_kib_after"]] = float(kv["value"])
    return ops, extra

data = {p: [parse(os.path.join(runs, "%s.%d" % (p, r))) for r in range(1, rounds + 1)]
        for p in ("go", "c", "rust")}
rss = {p: parse(os.path.join(runs, "%s.rss" % p))[1] for p in ("go", "c", "rust")}

def med(p, op, key):
    vals = [ops[op][key] for ops, _ in data[p] if op in ops]
    return statistics.median(vals) if vals else None

def med_extra(p, key):
    vals = [extra[key] for _, extra in data[p] if key in extra]
    return statistics.median(vals) if vals else None

def fmt(v, unit_ms=False):
    if v is None:
        return "-"
    return "%.2f" % (v / 1000) if unit_ms else "%.1f" % v

print("containerd %s; %d round%s of each program, alternating; medians over the rounds"
      % (version, rounds, "" if rounds == 1 else "s"))
print(load)
print()
rows = [("a", "server version (1 call)", 0.8, False),
        ("b", "load container + spec JSON", 0.5, False),
        ("b1", "  (Go: 1 Get, raw spec bytes)", None, False),
        ("c", "load the task (running)", 0.8, False),
        ("d", "lifecycle `true` (ms)", 0.9, True)]
head = "%-3s %-30s %9s %9s %9s %6s %7s %5s   %s"
print(head % ("op", "", "Go", "C", "Rust", "C/Go", "goal", "met", "p99 Go / C / Rust"))
for op, what, goal, ms in rows:
    g = med("go", op, "median_us")
    c = med("c", "b" if op == "b1" else op, "median_us")
    r = med("rust", "b" if op == "b1" else op, "median_us")
    ratio = c / g if c and g else None
    p99 = " / ".join(fmt(med(p, "b" if (op == "b1" and p != "go") else op, "p99_us"), ms)
                     for p in ("go", "c", "rust"))
    print(head % (op, what, fmt(g, ms), fmt(c, ms), fmt(r, ms),
                  "%.2f" % ratio if ratio else "-",
                  "<= %.1f" % goal if goal else "",
                  ("yes" if ratio <= goal else "NO") if goal and ratio else "",
                  p99))
g, c, r = (med(p, "e", "ops_s") for p in ("go", "c", "rust"))
ratio = c / g if c and g else None
threads = int(med("c", "e", "threads") or 0)
print(head % ("e", "b from %d threads (ops/s)" % threads, "%.0f" % g, "%.0f" % c, "%.0f" % r,
              "%.2f" % ratio, ">= 1.5", "yes" if ratio >= 1.5 else "NO",
              " / ".join(fmt(med(p, "e", "p99_us")) for p in ("go", "c", "rust")) + " µs"))
print("(a, b, c: µs; d: ms; C/Go of b1 is the C's b against Go's one-Get variant)")
print()
print("where op d's time goes (ms, medians of each step):")
for p, name in (("c", "C"), ("rust", "Rust core"), ("go", "Go")):
    keys = [k for k in (data[p][0][1] if data[p] else {}) if k.startswith("step d.")]
    print("  %-10s %s" % (name, "  ".join("%s %.2f" % (k[7:], med_extra(p, k) / 1000) for k in keys)))
print()
ca, ra = med("c", "a", "median_us"), med("rust", "a", "median_us")
print("C call / the same call inside a runtime task (op a, C / Rust core): %.2f (goal <= 1.05: %s)"
      % (ca / ra, "yes" if ca / ra <= 1.05 else "NO"))
print("first call of a process (main() to the end of connect + version), median µs:")
for p, name in (("c", "C"), ("go", "Go"), ("rust", "Rust core")):
    f, pr = med_extra(p, "first"), med_extra(p, "process")
    goal = "  (goal < 5000: %s)" % ("yes" if f < 5000 else "NO") if p == "c" else ""
    print("  %-10s %8.0f   whole child process as its parent sees it: %8.0f%s" % (name, f, pr, goal))
print("VmRSS after 1,000 and after %s server-version calls (KiB):" % rss_calls)
for p, name in (("c", "C"), ("go", "Go"), ("rust", "Rust core")):
    a, b = rss[p].get("rss_1000"), rss[p].get("rss_" + rss_calls)
    goal = "  (goal: within 2048: %s)" % ("yes" if abs(b - a) <= 2048 else "NO") if p == "c" else ""
    print("  %-10s %8.0f %8.0f  %+6.0f%s" % (name, a, b, b - a, goal))
size = os.path.getsize(so)
print("installed (stripped) %s: %d bytes = %.2f MiB (goal <= 4 MiB: %s)"
      % (os.path.basename(so), size, size / 1048576, "yes" if size <= 4 << 20 else "NO"))
EOF
