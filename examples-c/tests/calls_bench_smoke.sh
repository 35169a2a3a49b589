#!/bin/sh
# A smoke run of the call benchmark (examples-c/bench/calls_bench.c): a few
# calls of each operation against the daemon ctest uses, checking only that
# it completes and prints every figure with a positive number (the figures
# themselves come from scripts/bench-calls.sh, never from a test).
#   calls_bench_smoke.sh CALLS_BENCH IMAGE
set -eu
bench=$1 image=$2
out=$("$bench" --image "$image" --n 20 --warmup 2 --n-lifecycle 2 --threads 4 \
    --n-threaded 5 --first --rss 1000)
echo "$out"
num='[0-9][0-9.]*'
for op in a b c d e; do
    echo "$out" | grep -q "^op=$op n=[1-9][0-9]* .*median_us=$num p99_us=$num ops_s=[1-9]" ||
        { echo "no sane line for op $op" >&2; exit 1; }
done
echo "$out" | grep -q "^op=e n=20 threads=4 " || { echo "op e: wrong count" >&2; exit 1; }
echo "$out" | grep -q "^first_call_us=[1-9][0-9]* process_us=[1-9][0-9]*$" ||
    { echo "no first-call line" >&2; exit 1; }
echo "$out" | grep -q "^rss_kib_after=1000 value=[1-9][0-9]*$" ||
    { echo "no RSS line" >&2; exit 1; }
# The container it started for ops b, c and e is gone again, and so are those of op d.
if "${CTR_BIN:-ctr}" --address "${CONTAINERD_ADDRESS#unix://}" \
    --namespace "${CONTAINERD_NAMESPACE:-default}" containers ls -q | grep -q '^calls-bench-'; then
    echo "calls_bench left containers behind" >&2
    exit 1
fi
