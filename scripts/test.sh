#!/usr/bin/env bash
# Usage: scripts/test.sh
# Runs every test of containerd-c on this machine, as root: installs what is
# missing (Debian packages), checks formatting and lints, runs the unit tests,
# generates the API reference (scripts/docs.sh, which fails on any warning),
# then, for each containerd version of the matrix (scripts/containerd-versions.sh:
# 1.6 is the system's, 1.7 and 2.1 are unpacked under target/containerd), the
# cargo integration tests (each test binary starts its own private containerd
# of that version), ctest against a private containerd of that version, and
# the Python binding's tests (installed into a venv; pytest starts its own
# containerd and registry) and the Go binding's (scripts/test-go.sh: gofmt,
# go vet, go test -race; the tests start their own);
# then the install test (scripts/test-install.sh: a release build installed into
# a temporary prefix, C programs built from it with pkg-config and CMake), the
# valgrind memcheck tests again against that release library; last the C
# tests under the sanitizers (against the first version).
# Never touches the system containerd. Exits non-zero when anything fails,
# naming the versions that failed.
# Env: CTRD_CONTAINERD_VERSIONS  the versions to test, e.g. "1.6 2.1" for a
#      quicker run (default: every version `scripts/containerd-versions.sh list`
#      prints). Versions not unpacked yet are fetched (network needed once).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

step "installing what is missing"
scripts/deps.sh
# Rust 1.88 or newer (rustup's stable when missing; Debian 12's is too old).
rust_bin=$(scripts/rust.sh)
export PATH=$rust_bin:$PATH

step "format and lints"
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings

step "unit tests (no daemon)"
cargo test --locked --lib
cargo test --locked --doc

step "API reference (scripts/docs.sh: Doxygen, no warning allowed)"
scripts/docs.sh

versions=${CTRD_CONTAINERD_VERSIONS:-$(scripts/containerd-versions.sh list | cut -d' ' -f1)}
read -ra versions <<<"${versions//$'\n'/ }"
((${#versions[@]})) || { echo "test.sh: CTRD_CONTAINERD_VERSIONS is empty" >&2; exit 1; }
step "containerd versions: ${versions[*]}"
for v in "${versions[@]}"; do
    if ! scripts/containerd-versions.sh env "$v" >/dev/null 2>&1; then
        scripts/containerd-versions.sh fetch
        break
    fi
done
scripts/containerd-versions.sh list

step "building the library and the C examples and tests"
cargo build --locked --features test-hooks # cargo test builds no .so/.a; C tests use the hooks
scripts/make-image.sh target/test-image.tar >/dev/null
cmake -S examples-c -B build/examples-c -DCTRD_LIB_DIR="$root/target/debug" >/dev/null
cmake --build build/examples-c -j "$(nproc)"

step "installing the Python binding into a venv (target/pyvenv)"
# The system Python (python3-pytest is Debian's), offline: setuptools too.
pyvenv=$root/target/pyvenv
rm -rf "$pyvenv"
"${CTRD_PYTHON:-/usr/bin/python3}" -m venv --system-site-packages "$pyvenv"
"$pyvenv/bin/pip" install -q --no-index --no-build-isolation bindings/python
rm -rf bindings/python/build bindings/python/src/*.egg-info # pip's leftovers

# ctest against a private containerd of the version in the environment:
# ctest_private [BUILD_DIR [CTEST_ARGS...]] (default build/examples-c).
ctest_private() {
    local build=${1:-build/examples-c}
    (($# == 0)) || shift
    local dir sock owner=$BASHPID # this subshell (inside $(...) it would differ)
    dir=$(mktemp -d /tmp/ctrd-ctest-XXXXXX) || return 1
    rmdir "$dir" # daemon.sh makes it itself
    # shellcheck disable=SC2064 # $dir now
    trap "scripts/daemon.sh stop '$dir'" EXIT
    sock=$(scripts/daemon.sh start "$dir" --owner-pid "$owner" | tail -n 1) || return 1
    scripts/import-image.sh "$sock" default target/test-image.tar >/dev/null 2>&1 || return 1
    # A registry (plain HTTP, basic auth) with the test images, for pull.c.
    scripts/registry.sh start "$dir.registry" --owner-pid "$owner" >/dev/null || return 1
    # shellcheck disable=SC2064 # $dir now
    trap "scripts/registry.sh stop '$dir.registry'; scripts/daemon.sh stop '$dir'" EXIT
    scripts/push-test-images.sh "$sock" "$dir.registry" >/dev/null || return 1
    CONTAINERD_ADDRESS="unix://$sock" CONTAINERD_NAMESPACE=default \
        CTRD_TEST_REGISTRY=$(cat "$dir.registry/host") \
        CTRD_TEST_REGISTRY_CREDS=$(cat "$dir.registry/creds") \
        ctest --test-dir "$build" --output-on-failure --timeout 120 "$@"
}

failed=()
for v in "${versions[@]}"; do
    if ! env=$(scripts/containerd-versions.sh env "$v"); then
        failed+=("containerd $v: not available")
        continue
    fi
    start=$SECONDS
    # Subshells: the version's variables (CONTAINERD_BIN, CTR_BIN, PATH) stay
    # inside; `|| ...` turns off set -e in them, hence the explicit exits.
    step "containerd $v: cargo integration tests (private daemons of this version)"
    (eval "export $env" && cargo test --locked --no-fail-fast --test '*') ||
        failed+=("containerd $v: cargo integration tests")
    step "containerd $v: C examples and tests (ctest against a private containerd $v)"
    (eval "export $env" && ctest_private) || failed+=("containerd $v: ctest")
    # The tests start (and stop) a private containerd of this version.
    step "containerd $v: Python binding (pytest against a private containerd $v)"
    (eval "export $env" && cd bindings/python/tests &&
        CI=true CONTAINERD_C_LIB=$root/target/debug/libcontainerd_c.so \
            "$pyvenv/bin/python" -m pytest -q -p no:cacheprovider .) ||
        failed+=("containerd $v: Python binding")
    step "containerd $v: Go binding (go vet, go test -race against a private containerd $v)"
    (eval "export $env" && CI=true scripts/test-go.sh) || failed+=("containerd $v: Go binding")
    echo "containerd $v: $((SECONDS - start)) s"
done

step "install: scripts/install.sh (release build) into a temporary prefix, programs built from it"
scripts/test-install.sh || failed+=("install test (scripts/test-install.sh)")

# The release library (the build scripts/install.sh just made in
# target/release) differs from the debug one in what valgrind sees (register
# use, inlining): the memcheck tests again, against it.
step "memcheck tests against the release library (target/release, a private containerd ${versions[0]})"
(eval "export $(scripts/containerd-versions.sh env "${versions[0]}")" &&
    cmake -S examples-c -B build/examples-c-release -DCTRD_LIB_DIR="$root/target/release" >/dev/null &&
    cmake --build build/examples-c-release -j "$(nproc)" --target memcheck_programs &&
    ctest_private build/examples-c-release -R '^memcheck_') ||
    failed+=("containerd ${versions[0]}: memcheck tests against the release library")

step "C tests under ASan + UBSan (a subset; scripts/sanitize.sh runs them all)"
(eval "export $(scripts/containerd-versions.sh env "${versions[0]}")" &&
    scripts/sanitize.sh -R '^(test_errors|test_io_fifo|test_events|test_task_async|test_callback_exit|test_process_async|test_fork_io|test_queue|event_loop|run|pull_run|sanitizer_canary_.*)$') ||
    failed+=("containerd ${versions[0]}: sanitizer tests")

if ((${#failed[@]})); then
    printf '\ntest.sh: FAILED:\n' >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
printf '\ntest.sh: all passed (containerd %s)\n' "${versions[*]}"
