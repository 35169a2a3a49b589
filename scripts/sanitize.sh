#!/usr/bin/env bash
# Usage: scripts/sanitize.sh [CTEST_ARGS...]
# The C examples and C tests built with AddressSanitizer + UndefinedBehavior-
# Sanitizer (cmake -DCTRD_SANITIZE=ON, in build/sanitize) and run by ctest
# against a private containerd, as scripts/test.sh does for the plain build.
# Extra arguments go to ctest (e.g. -R 'test_errors|run'). The valgrind tests
# are left out of this build (valgrind and ASan do not mix).
#
# The Rust library is not instrumented, but ASan's allocator serves it too,
# so LeakSanitizer sees its leaks and ASan its heap misuse; UBSan checks the
# C side. LeakSanitizer runs at exit: the library's runtime threads and its
# process-wide state live for the process and stay reachable, which LSan
# does not report; scripts/lsan.supp lists what is reachable by design but
# hidden from LSan's scan (empty of entries while nothing needs it).
# Any report fails the test (abort_on_error / halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

cargo build --locked --features test-hooks # the C tests use the test hooks
build=build/sanitize
dir=$(mktemp -d /tmp/ctrd-sanitize-XXXXXX)
rmdir "$dir" # daemon.sh makes it itself
trap 'scripts/registry.sh stop "$dir.registry"; scripts/daemon.sh stop "$dir"' EXIT
sock=$(scripts/daemon.sh start "$dir" --owner-pid $$ | tail -n 1)
scripts/make-image.sh target/test-image.tar >/dev/null
scripts/import-image.sh "$sock" default target/test-image.tar >/dev/null 2>&1
# A registry with the test images, for the pull example.
scripts/registry.sh start "$dir.registry" --owner-pid $$ >/dev/null
scripts/push-test-images.sh "$sock" "$dir.registry" >/dev/null
cmake -S examples-c -B "$build" -DCTRD_SANITIZE=ON -DCTRD_LIB_DIR="$root/target/debug" >/dev/null
cmake --build "$build" -j "$(nproc)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp:print_suppressions=0
CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=default \
    CTRD_TEST_REGISTRY=$(cat "$dir.registry/host") \
    CTRD_TEST_REGISTRY_CREDS=$(cat "$dir.registry/creds") \
    ctest --test-dir "$build" --output-on-failure --timeout 180 "$@"
