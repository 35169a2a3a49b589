#!/usr/bin/env bash
# Usage: scripts/test-go.sh [GO TEST FLAGS...]
# Checks and tests the Go binding (bindings/go) against the library of the
# build tree, as root: builds target/debug/libcontainerd_c.so (cargo build
# --features test-hooks, as scripts/test.sh does), writes a pkg-config file
# for it (target/go/pkgconfig/containerd-c.pc: the headers of include/, the
# library of target/debug, with an rpath to it), then runs gofmt, go vet and
# go test -race. The tests start their own private containerd of the version
# in the environment, e.g.
#   env $(scripts/containerd-versions.sh env 2.1) scripts/test-go.sh -run TestRun
# Works offline: GOPATH and GOCACHE are under target/go, GOPROXY=off (the
# module needs only the standard library). Extra arguments go to go test.
# Env: CI=true makes a missing daemon or tool a failure (as in test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

command -v go >/dev/null || { echo "test-go.sh: go is missing (scripts/deps.sh installs golang-go)" >&2; exit 1; }
PATH=$(scripts/rust.sh):$PATH # Rust 1.88 or newer
cargo build --locked --quiet --features test-hooks
[[ -f target/test-image.tar ]] || scripts/make-image.sh target/test-image.tar >/dev/null

version=$(sed -n 's/^#define CTRD_VERSION "\(.*\)"$/\1/p' include/containerd_c.h)
mkdir -p target/go/pkgconfig
cat >target/go/pkgconfig/containerd-c.pc <<EOF
# The build tree's containerd-c, for the Go binding's tests (scripts/test-go.sh).
includedir=$root/include
libdir=$root/target/debug

Name: containerd-c
Description: containerd-c from the build tree
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lcontainerd_c -Wl,-rpath,\${libdir}
EOF

export PKG_CONFIG_PATH=$root/target/go/pkgconfig
export GOPATH=$root/target/go/path GOCACHE=$root/target/go/cache
export GOPROXY=off GOSUMDB=off GOFLAGS=-mod=readonly GOTOOLCHAIN=local GO111MODULE=on CGO_ENABLED=1

cd bindings/go
unformatted=$(gofmt -l .)
if [[ -n $unformatted ]]; then
    echo "test-go.sh: not gofmt-clean: $unformatted" >&2
    exit 1
fi
go vet ./...
go test -race -count=1 -timeout 20m "$@" ./...
