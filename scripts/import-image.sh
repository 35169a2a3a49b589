#!/usr/bin/env bash
# Usage: scripts/import-image.sh SOCK NAMESPACE IMAGE.tar [--check]
# Imports an OCI archive (from scripts/make-image.sh) into the containerd at
# SOCK, namespace NAMESPACE, unpacked for the overlayfs snapshotter. With
# --check, also verifies that `ctr images ls` lists it and that
# `ctr run --rm IMAGE ID echo hello` prints hello.
# stdout: the image name (last line). Env: CTR_BIN (default ctr).
set -euo pipefail

CTR=${CTR_BIN:-ctr}
die() { echo "import-image.sh: $*" >&2; exit 1; }
usage() { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }

check=0
args=()
for a in "$@"; do
    case $a in
        --check) check=1 ;;
        -*) usage ;;
        *) args+=("$a") ;;
    esac
done
((${#args[@]} == 3)) || usage
sock=${args[0]} ns=${args[1]} tarball=${args[2]}
[[ -S $sock ]] || die "$sock is not a socket"
[[ -f $tarball ]] || die "$tarball not found"

# Image name from the io.containerd.image.name annotation of index.json.
name=$(tar -xOf "$tarball" index.json |
    sed -n 's/.*"io\.containerd\.image\.name":"\([^"]*\)".*/\1/p')
[[ -n $name ]] || die "$tarball: index.json has no io.containerd.image.name"

ctr_() { timeout "${CTR_TIMEOUT:-60}" "$CTR" --address "$sock" --namespace "$ns" "$@"; }

ctr_ images import --snapshotter overlayfs "$tarball" >&2 ||
    die "ctr images import failed"

if ((check)); then
    ctr_ images ls -q | grep -qxF "$name" || die "$name not in ctr images ls"
    id=import-check-$$-$RANDOM
    out=$(ctr_ run --rm --snapshotter overlayfs "$name" "$id" echo hello 2>&1) ||
        die "ctr run failed: $out"
    [[ $out == hello ]] || die "ctr run printed '$out', expected 'hello'"
    echo "import-image.sh: $name in $ns: ok (listed, runs echo hello)" >&2
fi
echo "$name"
