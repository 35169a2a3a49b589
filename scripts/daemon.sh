#!/usr/bin/env bash
# Usage: scripts/daemon.sh start DIR [--owner-pid PID]
#        scripts/daemon.sh stop DIR
#        scripts/daemon.sh restart DIR
#        scripts/daemon.sh sock DIR
#
# Manages a private containerd whose root, state, sockets and log all live in DIR;
# the system daemon (/run/containerd, /var/lib/containerd) is never touched.
#   start    write DIR/config.toml, start containerd, wait until it answers; with
#            --owner-pid, a detached watchdog runs `stop DIR` once PID is gone.
#            stdout: the gRPC socket path (last line). Fails if DIR is in use.
#   stop     kill and delete every task, stop containerd, kill leftover shims,
#            unmount everything under DIR, remove DIR. Idempotent, bounded.
#   restart  restart containerd only (shims and containers keep running).
#            stdout: the gRPC socket path (last line).
#   sock     print the gRPC socket path that DIR uses.
# Env: CTR_BIN (default ctr), CONTAINERD_BIN (default containerd),
#      RUNC_BIN (default runc), CTRD_START_TIMEOUT (seconds, default 20),
#      CTRD_WATCHDOG_LOG (file for the watchdog's output; default /dev/null).
set -euo pipefail
LC_ALL=C  # ${#path} in bytes

CTR=${CTR_BIN:-ctr}
CONTAINERD=${CONTAINERD_BIN:-containerd}
RUNC=${RUNC_BIN:-runc}
START_TIMEOUT=${CTRD_START_TIMEOUT:-20}
SELF=$(realpath "${BASH_SOURCE[0]}")
MARKER=.ctrd-private  # marks a DIR created by this script (guards rm -rf)

usage() {
    sed -n '2,5s/^# //p' "$SELF" >&2
    exit 2
}
die() { echo "daemon.sh: $*" >&2; exit 1; }
log() { echo "daemon.sh: $*" >&2; }

# now_cs, cmdline, alive, starttime, wait_gone.
# shellcheck source=scripts/proc.sh
source "$(dirname "$SELF")/proc.sh"

# The gRPC socket: DIR/containerd.sock, or a short path under /tmp when that
# (plus ".ttrpc") would not fit in a unix socket address (107 bytes max).
sock_path() {
    local dir=$1 s
    if [[ -s $dir/address ]]; then cat "$dir/address"; return; fi
    s=$dir/containerd.sock
    if (( ${#s} + 6 > 107 )); then
        s=/tmp/ctrd-$(printf '%s' "$dir" | sha256sum | cut -c1-16)/containerd.sock
    fi
    echo "$s"
}

ctr_() { timeout "${CTR_TIMEOUT:-10}" "$CTR" --address "$SOCK" "$@"; }

# PID of the running containerd for DIR ("" if none).
containerd_pid() {
    local pid
    pid=$(cat "$DIR/containerd.pid" 2>/dev/null || true)
    if alive "$pid" && [[ $(cmdline "$pid") == *"$DIR/config.toml"* ]]; then
        echo "$pid"
    fi
}

# One config for containerd 1.6 to 2.x: 2.x reads version 2 (migrating it
# in memory, with a warning in the log). nri is off: 2.x enables it by
# default (1.7 has it, off). A disabled plugin a version lacks is ignored.
write_config() {
    cat >"$DIR/config.toml" <<EOT
# Private containerd for tests; written by scripts/daemon.sh.
version = 2
root = "$DIR/root"
state = "$DIR/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "$DIR/opt"
  [plugins."io.containerd.monitor.v1.cgroups"]
    no_prometheus = true
  [plugins."io.containerd.snapshotter.v1.overlayfs"]
    root_path = ""
EOT
}

# Start containerd with DIR/config.toml and wait until it answers.
launch() {
    local pid end
    rm -f "$SOCK" "$SOCK.ttrpc" "$DIR/containerd.pid"
    # setsid: own session; stdio to the log so callers' pipes are not held open.
    # shellcheck disable=SC2016
    setsid bash -c 'echo $$ >"$1"; cd /; exec "$2" --config "$3"' _ \
        "$DIR/containerd.pid" "$CONTAINERD" "$DIR/config.toml" \
        </dev/null >>"$DIR/containerd.log" 2>&1 &
    end=$(( $(now_cs) + START_TIMEOUT * 100 ))
    while :; do
        pid=$(cat "$DIR/containerd.pid" 2>/dev/null || true)
        if [[ -S $SOCK ]] && CTR_TIMEOUT=2 ctr_ version >/dev/null 2>&1; then
            return 0
        fi
        if [[ -n $pid ]] && ! alive "$pid"; then
            log "containerd exited during startup; log tail:"
            tail -n 30 "$DIR/containerd.log" >&2 || true
            return 1
        fi
        if (( $(now_cs) >= end )); then
            log "containerd did not answer within ${START_TIMEOUT}s; log tail:"
            tail -n 30 "$DIR/containerd.log" >&2 || true
            if [[ -n $pid ]]; then kill -9 "$pid" 2>/dev/null || true; fi
            return 1
        fi
        sleep 0.1
    done
}

# SIGTERM containerd (SIGKILL after 10 s). Shims are left alone.
halt_containerd() {
    local pid
    pid=$(containerd_pid)
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_gone "$pid" 10; then
        log "containerd $pid ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        wait_gone "$pid" 5 || log "containerd $pid still alive"
    fi
    rm -f "$DIR/containerd.pid"
}

start_watchdog() {
    local owner=$1 st
    st=$(starttime "$owner") || die "owner pid $owner is not running"
    # Polls every 0.5 s; stops the daemon once the owner is gone (or exits if
    # DIR was already stopped). $0 "ctrd-watchdog" identifies it in `stop`.
    # shellcheck disable=SC2016
    setsid bash -c '
        echo $$ >"$3/watchdog.pid"
        alive() {
            local s rest f
            s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
            rest=${s##*) }; read -ra f <<<"$rest"
            [[ ${f[0]} != Z && ${f[0]} != X && ${f[19]} == "$2" ]]
        }
        while alive "$1" "$2" && [[ -e $3/'"$MARKER"' ]]; do sleep 0.5; done
        [[ -e $3/'"$MARKER"' ]] && CTRD_FROM_WATCHDOG=1 exec "$4" stop "$3"
    ' ctrd-watchdog "$owner" "$st" "$DIR" "$SELF" \
        </dev/null >>"${CTRD_WATCHDOG_LOG:-/dev/null}" 2>&1 &
}

cmd_start() {
    local owner=""
    while (($#)); do
        case $1 in
            --owner-pid) [[ $# -ge 2 ]] || usage; owner=$2; shift 2 ;;
            *) usage ;;
        esac
    done
    if [[ -n $owner ]] && ! alive "$owner"; then
        die "owner pid $owner is not running"
    fi
    if [[ -e $DIR && ! -e $DIR/$MARKER ]] && [[ -n $(ls -A "$DIR") ]]; then
        die "$DIR exists, is not empty and was not made by daemon.sh"
    fi
    [[ -z $(containerd_pid) ]] || die "a containerd already runs for $DIR"
    mkdir -p "$DIR"/{root,state,run}
    chmod 711 "$DIR"
    touch "$DIR/$MARKER"
    SOCK=$(sock_path "$DIR")
    (( ${#SOCK} + 6 <= 107 )) || die "socket path $SOCK.ttrpc is too long"
    mkdir -p "$(dirname "$SOCK")"
    echo "$SOCK" >"$DIR/address"
    write_config
    launch || exit 1
    if [[ -n $owner ]]; then start_watchdog "$owner"; fi
    echo "$SOCK"
}

cmd_restart() {
    [[ -e $DIR/config.toml ]] || die "$DIR has no config.toml; use start"
    halt_containerd
    launch || exit 1
    echo "$SOCK"
}

# Kill and delete every task in every namespace (needs a live daemon).
kill_tasks() {
    local ns id nss ids
    nss=$(ctr_ namespaces ls -q 2>/dev/null) || return 0
    for ns in $nss; do
        ids=$(ctr_ -n "$ns" tasks ls -q 2>/dev/null) || continue
        [[ -n $ids ]] || continue
        for id in $ids; do
            ctr_ -n "$ns" tasks kill -a -s SIGKILL "$id" >/dev/null 2>&1 || true
        done
        for id in $ids; do
            CTR_TIMEOUT=15 ctr_ -n "$ns" tasks delete -f "$id" >/dev/null 2>&1 ||
                log "could not delete task $ns/$id"
        done
    done
}

# Shims serving this daemon: their command line carries -address SOCK.
shim_pids() {
    local f a args
    # One grep preselects; then exact argv checks (mapfile: no fork per pid).
    for f in $(grep -lsaF -- "$SOCK" /proc/[0-9]*/cmdline || true); do
        mapfile -d '' -t args 2>/dev/null <"$f" || continue
        [[ ${args[0]:-} == *containerd-shim* ]] || continue
        for a in "${args[@]}"; do
            if [[ $a == "$SOCK" ]]; then f=${f#/proc/}; echo "${f%/cmdline}"; break; fi
        done
    done
}

# Last resort for containers whose shim is gone: `runc delete --force` each
# bundle left in the v2 runtime's state dir (kills its processes, cgroups),
# and remove the dead shim's socket (/run/containerd/s/<hash>).
runc_cleanup() {
    local b ns id root a
    for b in "$DIR"/state/io.containerd.runtime.v2.task/*/*/; do
        [[ -d $b ]] || continue
        b=${b%/}; id=${b##*/}; ns=${b%/*}; ns=${ns##*/}
        a=$(cat "$b/address" 2>/dev/null || true)
        a=${a#unix://}
        if [[ $a == /run/containerd/s/* && -S $a ]]; then rm -f "$a"; fi
        root=/run/containerd/runc
        if [[ -s $b/options.json ]]; then
            root=$(sed -n 's/.*"[Rr]oot":"\([^"]*\)".*/\1/p' "$b/options.json")
            root=${root:-/run/containerd/runc}
        fi
        if [[ -e $root/$ns/$id ]]; then
            timeout 10 "$RUNC" --root "$root/$ns" delete --force "$id" >/dev/null 2>&1 ||
                log "runc delete $ns/$id failed"
        fi
    done
}

# Unmount everything at or below DIR, deepest first (lazy as fallback).
unmount_all() {
    local pass mp mps
    for pass in 1 2 3; do
        mps=$(while read -r _ _ _ _ mp _; do
                  mp=$(printf '%b' "${mp//\\/\\0}")
                  if [[ $mp == "$DIR" || $mp == "$DIR"/* ]]; then echo "$mp"; fi
              done </proc/self/mountinfo | sort -ru)
        [[ -n $mps ]] || return 0
        while IFS= read -r mp; do
            umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null ||
                { ((pass < 3)) || log "cannot unmount $mp"; }
        done <<<"$mps"
    done
}

cmd_stop() {
    local pid wpid p sockdir
    [[ -e $DIR ]] || return 0
    [[ -e $DIR/$MARKER ]] || die "$DIR was not made by daemon.sh; not touching it"
    # Stop the watchdog first (unless it is the one running us).
    wpid=$(cat "$DIR/watchdog.pid" 2>/dev/null || true)
    if [[ -z ${CTRD_FROM_WATCHDOG:-} ]] && alive "$wpid" &&
        [[ $(cmdline "$wpid") == *ctrd-watchdog* ]]; then
        kill -9 "$wpid" 2>/dev/null || true
    fi
    pid=$(containerd_pid)
    if [[ -n $pid ]] && [[ -S $SOCK ]]; then kill_tasks; fi
    halt_containerd
    for p in $(shim_pids); do kill -9 "$p" 2>/dev/null || true; done
    for p in $(shim_pids); do wait_gone "$p" 5 || log "shim $p survived SIGKILL"; done
    runc_cleanup
    unmount_all
    sockdir=$(dirname "$SOCK")
    rm -rf "$DIR" || die "could not remove $DIR"
    if [[ $sockdir != "$DIR" && $sockdir == /tmp/ctrd-* ]]; then rm -rf "$sockdir"; fi
}

(($# >= 2)) || usage
action=$1 DIR=$2
shift 2
[[ -n $DIR ]] || usage
DIR=$(realpath -m "$DIR")
[[ $DIR != / ]] || die "refusing to use /"
[[ $DIR != *[\"\\[:space:]]* ]] || die "DIR must not contain quotes, backslashes or spaces"
SOCK=$(sock_path "$DIR")

case $action in
    start) cmd_start "$@" ;;
    stop) (($# == 0)) || usage; cmd_stop ;;
    restart) (($# == 0)) || usage; cmd_restart ;;
    sock) (($# == 0)) || usage; echo "$SOCK" ;;
    *) usage ;;
esac
