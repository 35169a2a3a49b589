#!/usr/bin/env bash
# Usage: scripts/selftest.sh [WORKDIR]
# End-to-end check of deps.sh, daemon.sh, make-image.sh and import-image.sh on
# this machine (root, needs containerd/runc/busybox-static). Prints timings;
# exits non-zero on the first failed check. WORKDIR defaults to /tmp/ctrd-selftest.
set -euo pipefail

here=$(dirname "$(realpath "${BASH_SOURCE[0]}")")
work=${1:-/tmp/ctrd-selftest}
d=$work/d
img=docker.io/library/ctrd-test:latest
fail() { echo "selftest: FAIL: $*" >&2; exit 1; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# Runs "$@" and prints its wall time (ms) to stderr.
timed() {
    local s rc=0
    s=$(ms)
    "$@" || rc=$?
    echo "selftest: $(( $(ms) - s )) ms: ${1##*/} ${*:2}" >&2
    return "$rc"
}
# Polls (up to 5 s) until "$@" succeeds.
eventually() {
    local i
    for ((i = 0; i < 100; i++)); do "$@" && return 0; sleep 0.05; done
    return 1
}
procs_gone() { ! pgrep -f "$1" >/dev/null; }
all_gone() { [[ ! -e $1 ]] && procs_gone "$1" && ! grep -qF "$1" /proc/self/mountinfo; }

"$here/deps.sh"
"$here/daemon.sh" stop "$d"
mkdir -p "$work"
trap '"$here/daemon.sh" stop "$d" || true' EXIT

timed "$here/make-image.sh" "$work/image.tar" >/dev/null
sock=$(timed "$here/daemon.sh" start "$d" | tail -n1)
[[ -S $sock ]] || fail "no socket $sock"
timed "$here/import-image.sh" "$sock" default "$work/image.tar" --check >/dev/null
timed "$here/import-image.sh" "$sock" other "$work/image.tar" >/dev/null
ctr -a "$sock" -n other images ls -q | grep -qxF "$img" || fail "image missing in other"

out=$(ctr -a "$sock" run --rm "$img" st-echo echo hello)
[[ $out == hello ]] || fail "ctr run printed '$out'"
ctr -a "$sock" run -d --null-io "$img" st-sleep sleep 1000 >/dev/null
ctr -a "$sock" -n other run -d --null-io "$img" st-sleep2 sleep 1000 >/dev/null
shim=$(pgrep -f "containerd-shim-runc-v2 -namespace default -id st-sleep ") ||
    fail "no shim"
timed "$here/daemon.sh" restart "$d" >/dev/null
pgrep -f "containerd-shim-runc-v2 -namespace default -id st-sleep " | grep -qx "$shim" ||
    fail "shim did not survive restart"
ctr -a "$sock" tasks ls | grep -qE '^st-sleep +[0-9]+ +RUNNING' ||
    fail "task not RUNNING after restart"
out=$(ctr -a "$sock" tasks exec --exec-id st-e st-sleep echo again)
[[ $out == again ]] || fail "exec after restart printed '$out'"

timed "$here/daemon.sh" stop "$d"
all_gone "$d" || fail "leftovers after stop: $(pgrep -af "$d"; grep -F "$d" /proc/self/mountinfo)"
pgrep -f 'sleep 1000' >/dev/null && echo "selftest: note: some 'sleep 1000' still runs" >&2
"$here/daemon.sh" stop "$d" || fail "second stop failed"

# Watchdog: the daemon goes away soon after its owner exits.
sleep 2 &
owner=$!
sock=$("$here/daemon.sh" start "$d" --owner-pid "$owner" | tail -n1)
"$here/import-image.sh" "$sock" default "$work/image.tar" >/dev/null 2>&1
ctr -a "$sock" run -d --null-io "$img" st-wd sleep 1000 >/dev/null
wait "$owner"
s=$(ms)
eventually all_gone "$d" || fail "watchdog did not stop the daemon"
echo "selftest: $(( $(ms) - s )) ms: watchdog cleanup after owner exit" >&2

trap - EXIT
rm -rf "$work"
echo "selftest: all checks passed"
