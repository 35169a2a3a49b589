#!/usr/bin/env bash
# Usage: scripts/demo.sh
# The demo: installs what is missing (Debian packages; Rust through
# scripts/rust.sh when there is none new enough), builds the library (release), starts a
# private containerd (never the system one) and a private registry on
# 127.0.0.1 (basic auth over plain HTTP) holding a busybox image, builds the C
# examples, then against that daemon: examples-c/pull.c pulls the image with a
# progress display, and examples-c/run.c runs a command in a container from
# it, its output streamed back, its exit code returned (run --pull would have
# pulled it too). Then stops the daemon and the registry again.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/deps.sh
# Rust 1.88 or newer (rustup's stable when missing; Debian 12's is too old).
rust_bin=$(scripts/rust.sh)
export PATH=$rust_bin:$PATH
cargo build --release --locked
dir=$(mktemp -d /tmp/ctrd-demo-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/registry.sh stop "$dir.registry"; scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/registry.sh start "$dir.registry" --owner-pid $$ >/dev/null
# The registry's images, pushed with ctr from a namespace of their own.
CTRD_PUSH_IMAGES="busybox layers" scripts/push-test-images.sh "$sock" "$dir.registry" >/dev/null
registry=$(cat "$dir.registry/host")
creds=$(cat "$dir.registry/creds")
image=$registry/ctrd/layers:latest
cmake -S examples-c -B build/demo -DCTRD_LIB_DIR="$root/target/release" >/dev/null
cmake --build build/demo -j "$(nproc)" --target version pull run >/dev/null

export CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=default
build/demo/version
echo "== build/demo/pull --plain-http --user ... $image   (ctr images pull, in C)"
build/demo/pull --plain-http --user "$creds" "$image"
echo "== build/demo/run $image sh -c '...'   (ctr run --rm, in C)"
set +e
build/demo/run --pull --plain-http --user "$creds" "$image" sh -c 'echo "hello from $(hostname), a container run by containerd-c"; echo "this line went to stderr" >&2; ls /bin | wc -l | sed "s/^/busybox applets: /"; ls /data | tr "\n" " " | sed "s/^/data layers: /"; echo; exit 3'
code=$?
set -e
echo "== the command exited with $code"
[ "$code" -eq 3 ]
