#!/usr/bin/env bash
# Usage: scripts/test.sh
# Runs every test of containerd-c on this machine, as root: installs what is
# missing (Debian packages), checks formatting and lints, builds, runs the
# cargo tests (each test binary starts its own private containerd), then
# starts one private containerd for the C examples and runs ctest against it.
# Never touches the system containerd. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

step "installing what is missing"
scripts/deps.sh

step "format and lints"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

step "cargo tests (against private containerd daemons)"
cargo test --locked

step "C examples and tests (ctest against a private containerd)"
cargo build --locked --features test-hooks # cargo test builds no .so/.a; C tests use the hooks
dir=$(mktemp -d /tmp/ctrd-ctest-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/make-image.sh target/test-image.tar >/dev/null
scripts/import-image.sh "$sock" default target/test-image.tar >/dev/null 2>&1
cmake -S examples-c -B build/examples-c -DCTRD_LIB_DIR="$root/target/debug" >/dev/null
cmake --build build/examples-c -j "$(nproc)"
CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=default \
    ctest --test-dir build/examples-c --output-on-failure --timeout 120

step "C tests under ASan + UBSan (a subset; scripts/sanitize.sh runs them all)"
scripts/sanitize.sh -R '^(test_errors|test_io_fifo|test_events|test_task_async|test_callback_exit|test_fork_io|run|sanitizer_canary_.*)$'
