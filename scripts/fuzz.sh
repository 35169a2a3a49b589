#!/usr/bin/env bash
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]
# Builds the cargo-fuzz targets in fuzz/ (a workspace of its own) and runs
# each for SECONDS (default 60) with libFuzzer and AddressSanitizer; none
# needs a containerd daemon. Targets: spec_patch, exec_process, ident_labels,
# c_strings (default: all). The corpus grows in fuzz/corpus/<target> (seeded
# from fuzz/seeds/<target>); a crash is written to fuzz/artifacts/<target>/
# and makes this script exit non-zero. Prints the executions per target.
#
# cargo-fuzz needs a nightly compiler (it passes -Zsanitizer=address and
# other -Z flags); this machine has only the stable toolchain, so
# RUSTC_BOOTSTRAP=1 lets the stable rustc accept them. cargo-fuzz itself is installed
# from crates.io when missing (cargo install cargo-fuzz --locked).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(spec_patch exec_process ident_labels c_strings)

export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz build -O --fuzz-dir fuzz

status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    dict=()
    case $t in spec_patch | exec_process | c_strings) dict=(-dict=fuzz/json.dict) ;; esac
    log=$(mktemp /tmp/ctrd-fuzz-XXXXXX)
    printf '\n==> %s for %s s\n' "$t" "$secs"
    rc=0
    cargo fuzz run -O --fuzz-dir fuzz "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -timeout=20 -print_final_stats=1 "${dict[@]}" >"$log" 2>&1 || rc=$?
    grep -E '^(#[0-9]+ +(INITED|DONE)|==[0-9]+==|SUMMARY|Done [0-9]+ runs)|panicked' "$log" || true
    if [[ $rc -ne 0 ]] || grep -q 'SUMMARY\|panicked\|deadly signal' "$log"; then
        status=1
        summary+=("$t: CRASH (exit $rc; see $log and fuzz/artifacts/$t/)")
    else
        runs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1)
        summary+=("$t: ${runs:-?}, no crash; corpus $(ls "fuzz/corpus/$t" | wc -l) inputs")
        rm -f "$log"
    fi
done
printf '\n==> summary\n'
printf '%s\n' "${summary[@]}"
exit $status
