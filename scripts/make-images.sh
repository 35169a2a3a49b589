#!/usr/bin/env bash
# Usage: scripts/make-images.sh OUTDIR [big]
# Builds the OCI archives that scripts/push-test-images.sh pushes to a test
# registry, from the busybox image of scripts/make-image.sh, without a registry:
#   OUTDIR/busybox.tar  docker.io/ctrd/busybox:latest, the busybox image.
#   OUTDIR/multi.tar    docker.io/ctrd/multi:latest, an image index with the
#                       busybox manifest for this machine's platform and a
#                       manifest for a second one (linux/arm64, or linux/amd64
#                       on arm64) whose one layer is a small text file
#                       (/platform.txt); it is never run, only chosen or not.
#   OUTDIR/layers.tar   docker.io/ctrd/layers:latest, busybox plus 4 layers of
#                       1.5 MB incompressible data each (/data/N.bin), ~6 MB.
# With "big", only OUTDIR/big.tar: docker.io/ctrd/big:latest, busybox plus 5
# layers of 20 MiB incompressible data each (~101 MiB; the pull benchmark's).
# Output is deterministic (the data is AES-CTR of zeros with a fixed key).
# stdout: the archive paths, one a line.
# Env: BUSYBOX (as for make-image.sh).
set -euo pipefail

die() { echo "make-images.sh: $*" >&2; exit 1; }
(($# == 1)) || { (($# == 2)) && [[ $2 == big ]]; } || { sed -n '2p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2; exit 2; }
out=$(realpath -m "$1")
here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
command -v openssl >/dev/null || die "openssl not found"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 022
mkdir -p "$out"

TARF=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)

# The busybox archive, and its blobs as the base for the others.
IMAGE_NAME=docker.io/ctrd/busybox:latest "$here/make-image.sh" "$work/busybox.tar" >/dev/null
cp "$work/busybox.tar" "$out/busybox.tar.tmp.$$"
mv "$out/busybox.tar.tmp.$$" "$out/busybox.tar"
mkdir -p "$work/base"
tar -C "$work/base" -xf "$work/busybox.tar"
index=$(cat "$work/base/index.json")
# The one manifest descriptor of index.json: digest, size, platform.
bb_manifest=$(sed -n 's/.*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' <<<"$index")
bb_manifest_size=$(sed -n 's/.*"size":\([0-9]*\).*/\1/p' <<<"$index")
bb_platform=$(sed -n 's/.*"platform":\({[^}]*}\).*/\1/p' <<<"$index")
[[ -n $bb_manifest && -n $bb_manifest_size && -n $bb_platform ]] ||
    die "cannot read the busybox index.json"
bb_json=$(cat "$work/base/blobs/sha256/$bb_manifest")
bb_config=$(sed -n 's/.*"config":{[^}]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' <<<"$bb_json")
bb_layer=$(sed -n 's/.*"layers":\[{[^}]*"digest":"sha256:\([0-9a-f]\{64\}\)".*/\1/p' <<<"$bb_json")
bb_layer_size=$(stat -c %s "$work/base/blobs/sha256/$bb_layer")
bb_diff_id=$(gzip -dc "$work/base/blobs/sha256/$bb_layer" | sha256sum | cut -d' ' -f1)
[[ -n $bb_config && -n $bb_layer ]] || die "cannot read the busybox manifest"

# new_layout DIR: an OCI layout holding the busybox blobs.
new_layout() {
    mkdir -p "$1/blobs/sha256"
    cp "$work/base/blobs/sha256/"* "$1/blobs/sha256/"
    printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$1/oci-layout"
}
# put_blob DIR < data: stores a blob; prints "DIGEST SIZE".
put_blob() {
    local f=$1/blob.tmp d
    cat >"$f"
    d=$(sha256sum "$f" | cut -d' ' -f1)
    mv "$f" "$1/blobs/sha256/$d"
    echo "$d $(stat -c %s "$1/blobs/sha256/$d")"
}
# layer DIR ROOTFS: a gzip layer of ROOTFS; prints "DIGEST SIZE DIFF_ID".
layer() {
    local diff d s
    tar "${TARF[@]}" -C "$2" -cf "$work/layer.tar" .
    diff=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
    read -r d s < <(gzip -n -6 <"$work/layer.tar" | put_blob "$1")
    rm -f "$work/layer.tar"
    echo "$d $s $diff"
}
# config DIR ARCH DIFF_IDS(json list body): prints "DIGEST SIZE".
config() {
    printf '%s' \
'{"created":"1970-01-01T00:00:00Z","architecture":"'"$2"'","os":"linux",'\
'"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],'\
'"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":['"$3"']}}' |
        put_blob "$1"
}
# manifest DIR CONFIG_DIGEST CONFIG_SIZE LAYERS(json list body): "DIGEST SIZE".
manifest() {
    printf '%s' \
'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",'\
'"config":{"mediaType":"application/vnd.oci.image.config.v1+json",'\
'"digest":"sha256:'"$2"'","size":'"$3"'},"layers":['"$4"']}' | put_blob "$1"
}
layer_desc() {
    printf '%s' '{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip",'\
'"digest":"sha256:'"$1"'","size":'"$2"'}'
}
# finish DIR NAME MEDIATYPE DIGEST SIZE OUT: index.json naming the image; tar.
finish() {
    local tag=${2##*:}
    printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'\
'"manifests":[{"mediaType":"'"$3"'","digest":"sha256:'"$4"'","size":'"$5"','\
'"annotations":{"io.containerd.image.name":"'"$2"'",'\
'"org.opencontainers.image.ref.name":"'"$tag"'"}}]}' >"$1/index.json"
    tar "${TARF[@]}" -C "$1" -cf "$6.tmp.$$" oci-layout index.json blobs
    mv "$6.tmp.$$" "$6"
}

# data_layers DIR COUNT BYTES: busybox's layer, then COUNT layers of BYTES of
# incompressible data each (/data/N.bin); sets $diffs and $descs (json list
# bodies).
data_layers() {
    local i d s diff
    diffs='"sha256:'"$bb_diff_id"'"'
    descs=$(layer_desc "$bb_layer" "$bb_layer_size")
    for ((i = 1; i <= $2; i++)); do
        rm -rf "$work/data-root"
        mkdir -p "$work/data-root/data"
        openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' "$i")" -iv 0 \
            -in /dev/zero 2>/dev/null | head -c "$3" >"$work/data-root/data/$i.bin" || true
        [[ $(stat -c %s "$work/data-root/data/$i.bin") == "$3" ]] || die "openssl enc failed"
        read -r d s diff < <(layer "$1" "$work/data-root")
        diffs+=',"sha256:'"$diff"'"'
        descs+=",$(layer_desc "$d" "$s")"
    done
}
arch=$(sed -n 's/.*"architecture":"\([^"]*\)".*/\1/p' <<<"$bb_platform")

if [[ ${2:-} == big ]]; then
    b=$work/big
    new_layout "$b"
    data_layers "$b" 5 20971520
    read -r bc_d bc_s < <(config "$b" "$arch" "$diffs")
    read -r bm_d bm_s < <(manifest "$b" "$bc_d" "$bc_s" "$descs")
    finish "$b" docker.io/ctrd/big:latest application/vnd.oci.image.manifest.v1+json \
        "$bm_d" "$bm_s" "$out/big.tar"
    echo "$out/big.tar"
    exit 0
fi

# --- multi: this platform's busybox + a second platform with one small file.
case $bb_platform in
    *'"architecture":"arm64"'*) other=amd64 ;;
    *) other=arm64 ;;
esac
m=$work/multi
new_layout "$m"
mkdir -p "$work/other-root"
echo "ctrd test image layer for linux/$other" >"$work/other-root/platform.txt"
read -r ol_d ol_s ol_diff < <(layer "$m" "$work/other-root")
read -r oc_d oc_s < <(config "$m" "$other" '"sha256:'"$ol_diff"'"')
read -r om_d om_s < <(manifest "$m" "$oc_d" "$oc_s" "$(layer_desc "$ol_d" "$ol_s")")
read -r mi_d mi_s < <(printf '%s' \
'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":['\
'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$bb_manifest"'",'\
'"size":'"$bb_manifest_size"',"platform":'"$bb_platform"'},'\
'{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$om_d"'",'\
'"size":'"$om_s"',"platform":{"architecture":"'"$other"'","os":"linux"}}]}' | put_blob "$m")
finish "$m" docker.io/ctrd/multi:latest application/vnd.oci.image.index.v1+json \
    "$mi_d" "$mi_s" "$out/multi.tar"

# --- layers: busybox + 4 layers of 1.5 MB of incompressible data.
l=$work/layers
new_layout "$l"
data_layers "$l" 4 1572864
read -r lc_d lc_s < <(config "$l" "$arch" "$diffs")
read -r lm_d lm_s < <(manifest "$l" "$lc_d" "$lc_s" "$descs")
finish "$l" docker.io/ctrd/layers:latest application/vnd.oci.image.manifest.v1+json \
    "$lm_d" "$lm_s" "$out/layers.tar"

printf '%s\n' "$out/busybox.tar" "$out/multi.tar" "$out/layers.tar"
