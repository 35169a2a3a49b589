#!/usr/bin/env bash
# Usage: scripts/make-image.sh OUT.tar
# Builds a small OCI image archive (oci-layout + index.json + blobs) from the
# Debian busybox-static binary, without any registry. One gzip layer holding
# bin/busybox, a bin/<applet> symlink per applet, etc/{passwd,group} (root,
# nobody), tmp/ (1777), proc/, sys/, dev/. Output is deterministic.
# Env: IMAGE_NAME (default docker.io/library/ctrd-test:latest),
#      BUSYBOX (default /bin/busybox), IMAGE_USER (the config's User; default
#      none, i.e. root).
# stdout: the image name (last line).
set -euo pipefail

IMAGE_NAME=${IMAGE_NAME:-docker.io/library/ctrd-test:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}
IMAGE_USER=${IMAGE_USER:-}

die() { echo "make-image.sh: $*" >&2; exit 1; }
[[ $IMAGE_USER =~ ^[A-Za-z0-9_.:-]*$ ]] || die "IMAGE_USER: letters, digits, _ . : - only"
(($# == 1)) || { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
out=$(realpath -m "$1")
[[ -x $BUSYBOX ]] || die "$BUSYBOX not found (apt-get install busybox-static)"
"$BUSYBOX" --list >/dev/null 2>&1 || die "$BUSYBOX does not support --list"

# OCI architecture (and variant) from the Debian architecture.
variant=""
case $(dpkg --print-architecture) in
    amd64) arch=amd64 ;;
    arm64) arch=arm64 ;;
    armhf) arch=arm variant=v7 ;;
    armel) arch=arm variant=v5 ;;
    i386) arch=386 ;;
    ppc64el) arch=ppc64le ;;
    s390x) arch=s390x ;;
    riscv64) arch=riscv64 ;;
    mips64el) arch=mips64le ;;
    *) die "unsupported architecture $(dpkg --print-architecture)" ;;
esac

# Tag for org.opencontainers.image.ref.name: the part after the last ':' if
# that ':' is in the last path component, else "latest".
last=${IMAGE_NAME##*/}
tag=latest
if [[ $last == *:* ]]; then tag=${last##*:}; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
root=$work/rootfs
blobs=$work/oci/blobs/sha256
mkdir -p "$root"/{bin,dev,etc,proc,sys,tmp} "$blobs"
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
chmod 755 "$root/bin/busybox"
while read -r applet; do
    applet=${applet##*/}
    [[ -n $applet && $applet != busybox ]] || continue
    ln -sf busybox "$root/bin/$applet"
done < <("$BUSYBOX" --list)
cat >"$root/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOT
cat >"$root/etc/group" <<'EOT'
root:x:0:
nogroup:x:65534:
EOT
chmod 644 "$root/etc/passwd" "$root/etc/group"

# Layer: sorted entries, fixed mtime/owner, no gzip timestamp.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$root" -cf "$work/layer.tar" bin dev etc proc sys tmp
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 <"$work/layer.tar" >"$work/layer.tar.gz"
layer_digest=$(sha256sum "$work/layer.tar.gz" | cut -d' ' -f1)
layer_size=$(stat -c %s "$work/layer.tar.gz")
mv "$work/layer.tar.gz" "$blobs/$layer_digest"

# Writes stdin to a blob; prints "DIGEST SIZE".
put_blob() {
    local f=$work/blob.tmp d
    cat >"$f"
    d=$(sha256sum "$f" | cut -d' ' -f1)
    mv "$f" "$blobs/$d"
    echo "$d $(stat -c %s "$blobs/$d")"
}

ufield=""
if [[ -n $IMAGE_USER ]]; then ufield=",\"User\":\"$IMAGE_USER\""; fi
vfield=""
if [[ -n $variant ]]; then vfield=",\"variant\":\"$variant\""; fi
read -r config_digest config_size < <(printf '%s' \
'{"created":"1970-01-01T00:00:00Z","architecture":"'"$arch"'"'"$vfield"',"os":"linux",'\
'"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],'\
'"Cmd":["sh"],"WorkingDir":"/"'"$ufield"'},'\
'"rootfs":{"type":"layers","diff_ids":["sha256:'"$diff_id"'"]},'\
'"history":[{"created":"1970-01-01T00:00:00Z","created_by":"scripts/make-image.sh (busybox-static)"}]}' \
    | put_blob)

read -r manifest_digest manifest_size < <(printf '%s' \
'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'\
'"digest":"sha256:'"$config_digest"'","size":'"$config_size"'},'\
'"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",'\
'"digest":"sha256:'"$layer_digest"'","size":'"$layer_size"'}]}' \
    | put_blob)

printf '%s' \
'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'\
'"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"digest":"sha256:'"$manifest_digest"'","size":'"$manifest_size"','\
'"platform":{"architecture":"'"$arch"'","os":"linux"'"$vfield"'},'\
'"annotations":{"io.containerd.image.name":"'"$IMAGE_NAME"'",'\
'"org.opencontainers.image.ref.name":"'"$tag"'"}}]}' >"$work/oci/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu \
    -C "$work/oci" -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
echo "$IMAGE_NAME"
