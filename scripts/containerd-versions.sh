#!/usr/bin/env bash
# Usage: scripts/containerd-versions.sh fetch [--update]
#        scripts/containerd-versions.sh list
#        scripts/containerd-versions.sh env VERSION
#
# The containerd versions the library is tested against, side by side:
#   1.6  the system's containerd (Debian 12 bookworm; scripts/deps.sh installs it)
#   1.7  Debian 13 trixie's package
#   2.1  Debian unstable (sid)'s package, the newest 2.1.x there
# Packages other than the system's are fetched from the Debian archive with a
# private apt state under target/containerd/apt (the system's apt sources,
# lists and installed packages are left alone; the archive's signatures are
# checked with the system's debian-archive-keyring) and unpacked with dpkg -x
# into target/containerd/<package version>/. Every version runs with the
# system's runc (trixie's and sid's runc need a newer C library).
#
#   fetch    download and unpack every version of the matrix that is not
#            unpacked yet, and check that its binaries run. With --update,
#            also look for a newer package of each series in the archive.
#            Needs the network only when something is missing (or --update).
#   list     print the matrix: one line per version, "SERIES PACKAGE-VERSION DIR".
#   env      print, on one line, the variables that make scripts/daemon.sh,
#            the tests and ctr use VERSION (a series such as 2.1, or a full
#            package version), e.g. `env $(scripts/containerd-versions.sh env 2.1) cargo test`:
#            CTRD_CONTAINERD_VERSION=SERIES CONTAINERD_BIN=... CTR_BIN=... PATH=DIR:$PATH
#            (the shim, containerd-shim-runc-v2, is found on PATH), each value
#            shell-quoted; in a script: eval "export $(... env 2.1)".
# Env: CTRD_DEBIAN_MIRROR (default http://deb.debian.org/debian).
#
# Picked when this was written: 1.6.20~ds1-1+deb12u3 (bookworm),
# 1.7.24~ds1-6+deb13u1 (trixie), 2.1.9+ds1-5 (sid).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
base=$root/target/containerd
apt_dir=$base/apt
mirror=${CTRD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# The matrix: series and the Debian suite it comes from ("system": installed).
matrix=("1.6 system" "1.7 trixie" "2.1 sid")

die() { echo "containerd-versions.sh: $*" >&2; exit 1; }
log() { echo "containerd-versions.sh: $*" >&2; }
usage() { sed -n '2,4s/^# //p' "${BASH_SOURCE[0]}" >&2; exit 2; }

suite_of() {
    local m
    for m in "${matrix[@]}"; do
        if [[ ${m% *} == "$1" ]]; then echo "${m#* }"; return 0; fi
    done
    return 1
}

# The unpacked, checked package versions of SERIES under $base, newest last.
unpacked() {
    local series=$1 d v
    for d in "$base"/"$series".*/; do
        [[ -f $d/.verified ]] || continue
        v=${d%/}; v=${v##*/}
        echo "$v"
    done | sort_debian_versions
}

# Sorts Debian versions (stdin, one a line), oldest first.
sort_debian_versions() {
    local vs=() v i j t
    mapfile -t vs
    for ((i = 1; i < ${#vs[@]}; i++)); do
        v=${vs[i]}
        for ((j = i - 1; j >= 0; j--)); do
            dpkg --compare-versions "${vs[j]}" gt "$v" || break
            vs[j + 1]=${vs[j]}
        done
        vs[j + 1]=$v
    done
    for t in "${vs[@]}"; do echo "$t"; done
}

system_version() {
    dpkg-query -W -f='${Version}' containerd 2>/dev/null ||
        die "the system's containerd package is not installed (run scripts/deps.sh)"
}

apt_opts() {
    printf '%s\n' \
        -o "Dir::Etc::SourceList=$apt_dir/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::Preferences=/dev/null \
        -o Dir::Etc::PreferencesParts=/dev/null \
        -o "Dir::State::Lists=$apt_dir/lists" \
        -o "Dir::Cache=$apt_dir/cache" \
        -o Dir::State::Status=/var/lib/dpkg/status \
        -o APT::Architecture=amd64 \
        -o APT::Architectures::=amd64 \
        -o Acquire::Languages=none \
        -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false \
        -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false \
        -o Acquire::Retries=2 \
        -o Acquire::http::Timeout=30
}

# apt-get update of the private state. The Release files must be signed by a
# key of the system's Debian archive keyring (never disabled). Their
# Valid-Until is checked too, unless the archive serves an expired Release
# (a frozen mirror, or a clock ahead): then the update is retried without
# that check, saying so.
apt_update() {
    local suites=() m s out opts
    for m in "${matrix[@]}"; do
        s=${m#* }
        [[ $s == system ]] || suites+=("$s")
    done
    [[ -r $keyring ]] || die "$keyring is missing (apt-get install debian-archive-keyring)"
    mkdir -p "$apt_dir"/lists/partial "$apt_dir"/cache/archives/partial
    for s in "${suites[@]}"; do
        echo "deb [signed-by=$keyring] $mirror $s main"
    done >"$apt_dir/sources.list"
    mapfile -t opts < <(apt_opts)
    log "updating the package lists of ${suites[*]} from $mirror"
    if out=$(apt-get "${opts[@]}" -o Acquire::Check-Valid-Until=true \
        -o Acquire::Check-Date=true update --error-on=any 2>&1) && lists_ok "${suites[@]}"; then
        return 0
    fi
    if grep -q 'is expired' <<<"$out" && ! grep -qE 'Failed to fetch|NO_PUBKEY|not signed|Could not resolve' <<<"$out"; then
        grep 'is expired' <<<"$out" >&2
        log "the archive serves an expired Release; retrying without the" \
            "Valid-Until check (signatures are still checked)"
        out=$(apt-get "${opts[@]}" -o Acquire::Check-Valid-Until=false \
            -o Acquire::Check-Date=false update --error-on=any 2>&1) &&
            lists_ok "${suites[@]}" && return 0
    fi
    echo "$out" >&2
    if grep -qE 'NO_PUBKEY|EXPKEYSIG|not signed' <<<"$out"; then
        die "the Debian archive keyring ($keyring) cannot verify $mirror;" \
            "a newer debian-archive-keyring package is needed"
    fi
    die "apt-get update failed: cannot get the package lists of ${suites[*]}" \
        "from $mirror (network down, or a proxy needed?)"
}

# True if the private lists hold a Release and a package list of each SUITE.
lists_ok() {
    local s host=${mirror#*://}
    host=${host//\//_}
    for s in "$@"; do
        compgen -G "$apt_dir/lists/${host}_dists_${s}_InRelease" >/dev/null || return 1
        compgen -G "$apt_dir/lists/${host}_dists_${s}_main_binary-amd64_Packages*" >/dev/null ||
            return 1
    done
}

# The newest containerd version of SERIES in SUITE (from the private lists).
newest_in_archive() {
    local series=$1 suite=$2 opts
    mapfile -t opts < <(apt_opts)
    apt-cache "${opts[@]}" madison containerd 2>/dev/null |
        awk -F' [|] ' -v s=" $suite/" -v p="$series." \
            'index($3, s) && index($2, p) == 1 { print $2 }' |
        sort_debian_versions | tail -n 1
}

# Checks that the binaries under DIR/usr/bin run and are of package VERSION.
verify() {
    local dir=$1 version=$2 up out b
    up=${version%%[~+-]*} # 2.1.9+ds1-5 -> 2.1.9
    for b in containerd ctr containerd-shim-runc-v2; do
        [[ -x $dir/usr/bin/$b ]] || { log "$dir/usr/bin/$b is missing"; return 1; }
    done
    out=$("$dir/usr/bin/containerd" --version 2>&1) ||
        { log "$dir/usr/bin/containerd --version failed: $out"; return 1; }
    [[ $out == *" $up"* ]] ||
        { log "$dir/usr/bin/containerd --version says '$out', not $up"; return 1; }
    out=$("$dir/usr/bin/ctr" --version 2>&1) ||
        { log "$dir/usr/bin/ctr --version failed: $out"; return 1; }
    [[ $out == *" $up"* ]] || { log "ctr --version says '$out', not $up"; return 1; }
    out=$("$dir/usr/bin/containerd-shim-runc-v2" -v 2>&1) ||
        { log "containerd-shim-runc-v2 -v failed: $out"; return 1; }
    [[ $out == *"$up"* ]] || { log "containerd-shim-runc-v2 -v says '$out', not $up"; return 1; }
}

# Downloads containerd=VERSION and unpacks it into $base/VERSION.
install_version() {
    local version=$1 dir=$base/$1 debs=$apt_dir/debs deb tmp opts
    mapfile -t opts < <(apt_opts)
    mkdir -p "$debs"
    deb=$(compgen -G "$debs/containerd_${version//[~+]/?}_amd64.deb" || true)
    if [[ -z $deb ]]; then
        log "downloading containerd $version"
        # Unsandboxed: the download dir is root's; apt still checks the file
        # against the signed package list.
        (cd "$debs" && apt-get "${opts[@]}" -o APT::Sandbox::User=root \
            download "containerd=$version") >&2 ||
            die "apt-get download containerd=$version failed (network?)"
        deb=$(compgen -G "$debs/containerd_*_amd64.deb" | while read -r f; do
            [[ $(dpkg-deb -f "$f" Version) == "$version" ]] && echo "$f"; done | head -n 1)
        [[ -n $deb ]] || die "apt-get download left no containerd $version package"
    fi
    [[ $(dpkg-deb -f "$deb" Package) == containerd && $(dpkg-deb -f "$deb" Version) == "$version" ]] ||
        die "$deb is not containerd $version"
    tmp=$(mktemp -d "$base/.unpack-XXXXXX")
    dpkg -x "$deb" "$tmp" || { rm -rf "$tmp"; die "dpkg -x $deb failed"; }
    if ! verify "$tmp" "$version"; then
        rm -rf "$tmp"
        die "containerd $version does not run here (see above)"
    fi
    "$tmp/usr/bin/containerd" --version >"$tmp/.verified"
    rm -rf "$dir"
    mv "$tmp" "$dir"
    chmod 755 "$dir"
    log "containerd $version: $dir/usr/bin"
}

cmd_fetch() {
    local update=0 m series suite have want missing=() updated=0
    case ${1:-} in
        "") ;;
        --update) update=1 ;;
        *) usage ;;
    esac
    mkdir -p "$base"
    exec 9>"$base/.lock"
    flock -w 600 9 || die "another fetch holds $base/.lock"
    for m in "${matrix[@]}"; do
        series=${m% *} suite=${m#* }
        if [[ $suite == system ]]; then
            have=$(system_version)
            [[ $have == "$series".* ]] ||
                die "the system's containerd is $have, not $series.x"
            verify "" "$have" ||
                die "the system's containerd $have does not run"
            log "$series: $have (system, /usr/bin)"
            continue
        fi
        have=$(unpacked "$series" | tail -n 1)
        if [[ -n $have && $update == 0 ]]; then
            verify "$base/$have" "$have" || die "$base/$have is broken; remove it and fetch again"
            log "$series: $have (already in $base/$have)"
            continue
        fi
        missing+=("$m")
    done
    ((${#missing[@]})) || return 0
    apt_update
    for m in "${missing[@]}"; do
        series=${m% *} suite=${m#* }
        want=$(newest_in_archive "$series" "$suite")
        [[ -n $want ]] || die "$suite has no containerd $series.x (the matrix in $0 needs updating)"
        if [[ -f $base/$want/.verified ]]; then
            log "$series: $want (already in $base/$want)"
            continue
        fi
        install_version "$want"
        updated=1
    done
    ((updated == 0)) || log "matrix: $(cmd_list | awk '{printf "%s%s=%s", sep, $1, $2; sep=" "}')"
}

cmd_list() {
    local m series suite v
    for m in "${matrix[@]}"; do
        series=${m% *} suite=${m#* }
        if [[ $suite == system ]]; then
            echo "$series $(system_version) /usr/bin"
            continue
        fi
        v=$(unpacked "$series" | tail -n 1)
        if [[ -n $v ]]; then
            echo "$series $v $base/$v/usr/bin"
        else
            echo "$series - (not fetched: scripts/containerd-versions.sh fetch)"
        fi
    done
}

cmd_env() {
    local want=$1 series v bin
    if suite_of "$want" >/dev/null; then
        series=$want
        if [[ $(suite_of "$series") == system ]]; then
            v=$(system_version)
            [[ $v == "$series".* ]] || die "the system's containerd is $v, not $series.x"
            bin=/usr/bin
        else
            v=$(unpacked "$series" | tail -n 1)
            [[ -n $v ]] || die "containerd $series is not fetched (scripts/containerd-versions.sh fetch)"
            bin=$base/$v/usr/bin
        fi
    elif [[ -f $base/$want/.verified ]]; then
        series=$(cut -d. -f1-2 <<<"$want")
        bin=$base/$want/usr/bin
    elif [[ $want == "$(system_version)" ]]; then
        series=$(cut -d. -f1-2 <<<"$want")
        bin=/usr/bin
    else
        die "unknown version $want (the matrix: $(cmd_list | cut -d' ' -f1 | xargs))"
    fi
    [[ $bin != *[[:space:]]* ]] || die "$bin contains a space"
    # Shell-quoted (%q): `eval "export $(... env V)"` works for any PATH;
    # `env $(... env V) CMD` needs a PATH without spaces.
    printf 'CTRD_CONTAINERD_VERSION=%q CONTAINERD_BIN=%q CTR_BIN=%q PATH=%q\n' \
        "$series" "$bin/containerd" "$bin/ctr" "$bin:$PATH"
}

(($# >= 1)) || usage
case $1 in
    fetch) shift; (($# <= 1)) || usage; cmd_fetch "$@" ;;
    list) (($# == 1)) || usage; cmd_list ;;
    env) (($# == 2)) || usage; cmd_env "$2" ;;
    *) usage ;;
esac
