#!/bin/sh
# The pull and run --pull examples against the registry scripts/test.sh
# starts for ctest ($CTRD_TEST_REGISTRY = HOST:PORT, plain HTTP with basic
# auth, $CTRD_TEST_REGISTRY_CREDS = USER:PASSWORD), in a namespace of their
# own that is removed again.
#   pull_run.sh PULL RUN [VALGRIND]
# With VALGRIND, a pull also runs under memcheck (definite leaks and invalid
# accesses fail).
# Without a registry: skipped (exit 77), or a failure under CI=true.
set -eu
pull=$1 run=$2 valgrind=${3:-}
if [ -z "${CTRD_TEST_REGISTRY:-}" ] || [ -z "${CTRD_TEST_REGISTRY_CREDS:-}" ]; then
    echo "no test registry (CTRD_TEST_REGISTRY, CTRD_TEST_REGISTRY_CREDS): run scripts/test.sh" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
reg=$CTRD_TEST_REGISTRY
CONTAINERD_NAMESPACE=ctest-pull-$$
export CONTAINERD_NAMESPACE
ctr_() { "${CTR_BIN:-ctr}" --address "${CONTAINERD_ADDRESS#unix://}" "$@"; }
cleanup() {
    for i in $(ctr_ images ls -q 2>/dev/null); do ctr_ images rm --sync "$i" >/dev/null 2>&1 || true; done
    ctr_ namespaces rm "$CONTAINERD_NAMESPACE" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# pull, stdout not a terminal: plain lines, "done" last, then the summary.
out=$("$pull" --plain-http --user "$CTRD_TEST_REGISTRY_CREDS" "$reg/ctrd/layers:latest")
echo "$out"
# Progress is sampled (a short phase may not show): the phases shown come in
# order, and "done" comes last.
phases=$(echo "$out" | sed -n 's/^\([a-z]*\): .*/\1/p' | uniq | tr '\n' ' ')
case $phases in
    "resolving fetching unpacking done " | "resolving fetching done " | \
        "resolving unpacking done " | "resolving done " | "fetching unpacking done " | \
        "fetching done " | "unpacking done " | "done ") ;;
    *) echo "progress phases out of order: $phases" >&2; exit 1 ;;
esac
last_progress=$(echo "$out" | grep -E '^[a-z]+: ' | tail -n 1)
case $last_progress in
    "done: "*" 5/5 layers") ;;
    *) echo "the last progress line is not done with 5/5 layers: $last_progress" >&2; exit 1 ;;
esac
echo "$out" | tail -n 1 | grep -q "^$reg/ctrd/layers:latest sha256:[0-9a-f]\{64\} " ||
    { echo "no summary line" >&2; exit 1; }
ctr_ images check | grep "$reg/ctrd/layers:latest" | grep -q complete ||
    { echo "ctr images check does not call it complete" >&2; exit 1; }

# A wrong password: the status's name and a non-zero exit.
if err=$("$pull" --plain-http --user "${CTRD_TEST_REGISTRY_CREDS%%:*}:wrong" "$reg/ctrd/busybox:latest" 2>&1); then
    echo "a wrong password pulled" >&2; exit 1
fi
echo "$err" | grep -q CTRD_ERR_UNAUTHENTICATED || { echo "$err" >&2; exit 1; }

# run --pull: the image is missing, so it is pulled, then run.
out=$("$run" --pull --plain-http --user "$CTRD_TEST_REGISTRY_CREDS" "$reg/ctrd/busybox:latest" \
    sh -c 'echo pulled-and-ran; exit 4' 2>/dev/null) && code=0 || code=$?
[ "$code" -eq 4 ] || { echo "run --pull exited $code" >&2; exit 1; }
[ "$out" = pulled-and-ran ] || { echo "run --pull printed: $out" >&2; exit 1; }
ctr_ images ls -q | grep -qx "$reg/ctrd/busybox:latest" || { echo "not in ctr images ls" >&2; exit 1; }
# Present now: run --pull does not need the registry (a wrong password would fail).
out=$("$run" --pull --plain-http --user nobody:wrong "$reg/ctrd/busybox:latest" echo again 2>/dev/null)
[ "$out" = again ] || { echo "second run printed: $out" >&2; exit 1; }
if [ -n "$valgrind" ]; then
    "$valgrind" -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
        "$pull" --plain-http --user "$CTRD_TEST_REGISTRY_CREDS" "$reg/ctrd/multi:latest" >/dev/null
    echo "pull under memcheck: ok"
fi
echo "pull and run --pull: ok"
