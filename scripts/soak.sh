#!/usr/bin/env bash
# Usage: scripts/soak.sh [CYCLES] [CALLS] [BYTES]
# The soak benchmark behind RELIABILITY.md's memory and stdio figures:
# builds the library (cargo build, debug) and examples-c/bench/soak.c, starts
# a private containerd as scripts/test.sh does, imports the test image, then
#   - CYCLES (default 2000) container create/delete + task new/start/wait/
#     delete cycles, printing VmRSS every 500;
#   - CALLS (default 100000) ctrd_client_server_version calls, printing VmRSS
#     after 1,000 and every 25,000;
#   - BYTES (default 1 GiB) through a task's stdin -> cat -> stdout via
#     FIFOs, checking length and checksum.
# Each phase is a fresh process. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cycles=${1:-2000}
calls=${2:-100000}
bytes=${3:-1073741824}

cargo build --locked
dir=$(mktemp -d /tmp/ctrd-soak-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/make-image.sh target/test-image.tar >/dev/null
scripts/import-image.sh "$sock" default target/test-image.tar >/dev/null 2>&1
cmake -S examples-c -B build/soak -DCTRD_LIB_DIR="$root/target/debug" >/dev/null
cmake --build build/soak --target soak >/dev/null
export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=default
build/soak/soak cycles "$cycles"
build/soak/soak calls "$calls"
build/soak/soak stdio "$bytes"
