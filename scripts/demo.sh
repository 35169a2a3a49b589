#!/usr/bin/env bash
# Usage: scripts/demo.sh
# The demo: installs what is missing, builds the library (release), starts a
# private containerd (never the system one), imports the busybox test image,
# builds the C examples and runs examples-c/run.c against that daemon: a
# command in a container from the image, its output streamed back, its exit
# code returned. Then stops the daemon again.
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
build/demo/version
echo "== build/demo/run $image sh -c '...'   (ctr run --rm, in C)"
set +e
build/demo/run "$image" sh -c 'echo "hello from $(hostname), a container run by containerd-c"; echo "this line went to stderr" >&2; ls /bin | wc -l | sed "s/^/busybox applets: /"; exit 3'
code=$?
set -e
echo "== the command exited with $code"
[ "$code" -eq 3 ]
