#!/usr/bin/env bash
# Usage: scripts/push-test-images.sh SOCK REGDIR [IMAGEDIR]
# Pushes the test images to the registry that `scripts/registry.sh start REGDIR`
# runs, through `ctr` against the containerd at SOCK (namespace registry-push):
#   HOST:PORT/ctrd/busybox:latest  the busybox image
#   HOST:PORT/ctrd/multi:latest    an index: this platform (busybox) + another
#   HOST:PORT/ctrd/layers:latest   busybox + 4 data layers of 1.5 MB
# The archives come from IMAGEDIR (default target/registry-images), built there
# by scripts/make-images.sh when missing. Over TLS (REGDIR/ca.pem exists) ctr
# uses REGDIR/hosts.d (ctr 1.6 talks plain HTTP to loopback registries
# otherwise); without TLS, --plain-http. Credentials from REGDIR/creds.
# The images are removed from the daemon again (garbage collected) once
# pushed. stdout: the pushed references, one a line. Env: CTR_BIN (default ctr);
# CTRD_PUSH_IMAGES, the names to push (default "busybox multi layers"; "big"
# is the pull benchmark's ~101 MiB image, built by `make-images.sh DIR big`).
set -euo pipefail

CTR=${CTR_BIN:-ctr}
NS=registry-push
die() { echo "push-test-images.sh: $*" >&2; exit 1; }
(($# == 2 || $# == 3)) || { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
sock=$1 regdir=$(realpath -m "$2")
imagedir=$(realpath -m "${3:-$here/../target/registry-images}")
[[ -S $sock ]] || die "$sock is not a socket"
[[ -s $regdir/host && -s $regdir/creds ]] || die "$regdir is not a running registry.sh dir"
host=$(cat "$regdir/host")
creds=$(cat "$regdir/creds")

read -r -a names <<<"${CTRD_PUSH_IMAGES:-busybox multi layers}"
for n in "${names[@]}"; do
    if [[ ! -s $imagedir/$n.tar ]]; then
        if [[ $n == big ]]; then
            "$here/make-images.sh" "$imagedir" big >/dev/null || die "make-images.sh big failed"
        else
            "$here/make-images.sh" "$imagedir" >/dev/null || die "make-images.sh failed"
        fi
    fi
done

ctr_() { timeout "${CTR_TIMEOUT:-120}" "$CTR" --address "$sock" --namespace "$NS" "$@"; }
remote=(--user "$creds" --hosts-dir "$regdir/hosts.d")
if [[ ! -e $regdir/ca.pem ]]; then remote+=(--plain-http); fi

for n in "${names[@]}"; do
    local_name=docker.io/ctrd/$n:latest
    ctr_ images import --all-platforms --no-unpack "$imagedir/$n.tar" >&2 ||
        die "ctr images import $imagedir/$n.tar failed"
    ctr_ images push "${remote[@]}" "$host/ctrd/$n:latest" "$local_name" >&2 ||
        die "ctr images push $host/ctrd/$n:latest failed"
    echo "$host/ctrd/$n:latest"
done
# Nothing stays behind in the daemon: a pull from the registry into it must
# fetch the blobs, not find them (containerd shares content across namespaces).
for n in "${names[@]}"; do
    ctr_ images rm --sync "docker.io/ctrd/$n:latest" >/dev/null 2>&1 || true
done
