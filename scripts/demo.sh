#!/usr/bin/env bash
# Usage: scripts/demo.sh
# The demo: installs what is missing, builds the library (release), starts a
# private containerd (never the system one), imports the busybox test image,
# builds the C examples and runs the demo program against that daemon, then
# stops the daemon again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh
cargo build --release --locked
dir=$(mktemp -d /tmp/ctrd-demo-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/make-image.sh target/test-image.tar >/dev/null
image=$(scripts/import-image.sh "$sock" default target/test-image.tar 2>/dev/null | tail -n 1)
cmake -S examples-c -B build/demo -DCTRD_LIB_DIR="$root/target/release" >/dev/null
cmake --build build/demo -j "$(nproc)" >/dev/null

export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=default
echo "== build/demo/version"
build/demo/version
echo "(image $image is imported; the container demo arrives with the task API)"
