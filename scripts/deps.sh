#!/usr/bin/env bash
# Usage: scripts/deps.sh [EXTRA_DEBIAN_PACKAGE...]
# Installs (as root, from Debian packages) whatever the scripts in scripts/ and the
# integration tests need and is not installed yet. Does nothing when all is present.
set -euo pipefail

# Debian packages needed by the tests and by scripts/*.sh.
# python3-*: the Python binding's tests (a venv over the system Python, pytest).
# pkg-config and python3-cffi: scripts/test-install.sh and tests/header.rs.
# doxygen: the API reference (scripts/docs.sh).
# golang-go: the Go binding (bindings/go, scripts/test-go.sh; go vet, go test -race).
pkgs=(containerd runc busybox-static cmake valgrind docker-registry apache2-utils
    python3 python3-venv python3-setuptools python3-wheel python3-pip python3-pytest
    pkg-config python3-cffi doxygen golang-go "$@")
# Commands used by scripts/*.sh, with the package that provides each.
declare -A cmd_pkg=(
    [tar]=tar [gzip]=gzip [sha256sum]=coreutils [timeout]=coreutils
    [realpath]=coreutils [setsid]=util-linux [umount]=mount
    [containerd-shim-runc-v2]=containerd
    [docker-registry]=docker-registry [htpasswd]=apache2-utils
    [openssl]=openssl [curl]=curl [python3]=python3
    [nm]=binutils [readelf]=binutils [objdump]=binutils [strip]=binutils
    [pkg-config]=pkg-config [go]=golang-go [gofmt]=golang-go
)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for p in "${pkgs[@]}"; do
    installed "$p" || missing+=("$p")
done
for c in "${!cmd_pkg[@]}"; do
    if ! command -v "$c" >/dev/null 2>&1; then
        p=${cmd_pkg[$c]}
        [[ " ${missing[*]} " == *" $p "* ]] || missing+=("$p")
    fi
done

if ((${#missing[@]} == 0)); then
    exit 0
fi
if ((EUID != 0)); then
    echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
    echo "deps.sh: run as root (or: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
fi

echo "deps.sh: installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Wait (bounded) for a concurrent apt/dpkg run to release its lock.
apt_opts=(-o DPkg::Lock::Timeout=600)
apt-get "${apt_opts[@]}" update -q >&2
apt-get "${apt_opts[@]}" install -y -q --no-install-recommends "${missing[@]}" >&2

# docker-registry enables (and may start) its system service on port 5000;
# the tests run their own instances (scripts/registry.sh), so stop and disable it.
if [[ " ${missing[*]} " == *" docker-registry "* ]]; then
    if [[ -d /run/systemd/system ]]; then
        systemctl disable --now docker-registry.service >&2 || true
    else
        if [[ -x /etc/init.d/docker-registry ]]; then
            /etc/init.d/docker-registry stop >&2 || true
        fi
        update-rc.d docker-registry disable >&2 || true
    fi
fi
