#!/bin/sh
# The push example against the registry scripts/test.sh starts for ctest
# ($CTRD_TEST_REGISTRY = HOST:PORT, plain HTTP with basic auth,
# $CTRD_TEST_REGISTRY_CREDS = USER:PASSWORD):
#   push_run.sh PUSH PULL IMAGE [VALGRIND]
# IMAGE (in namespace $CONTAINERD_NAMESPACE, imported by scripts/test.sh) is
# pushed (progress lines, "done" last with every byte), pushed again (no
# blob sent: the registry has them), then pulled back with the pull example
# into a namespace of its own, which is removed again: the same digest.
# A wrong password is CTRD_ERR_UNAUTHENTICATED. With VALGRIND, a push also
# runs under memcheck (definite leaks and invalid accesses fail).
# Without a registry: skipped (exit 77), or a failure under CI=true.
set -eu
push=$1 pull=$2 image=$3 valgrind=${4:-}
if [ -z "${CTRD_TEST_REGISTRY:-}" ] || [ -z "${CTRD_TEST_REGISTRY_CREDS:-}" ]; then
    echo "no test registry (CTRD_TEST_REGISTRY, CTRD_TEST_REGISTRY_CREDS): run scripts/test.sh" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 77
fi
reg=$CTRD_TEST_REGISTRY
remote=$reg/ctrd/ctest-push-$$:v1
ctr_() { "${CTR_BIN:-ctr}" --address "${CONTAINERD_ADDRESS#unix://}" "$@"; }
back=ctest-push-$$
cleanup() {
    ctr_ -n "$back" images rm --sync "$remote" >/dev/null 2>&1 || true
    ctr_ namespaces rm "$back" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# stdout not a terminal: plain lines, "pushing" then "done" last with all
# the bytes, then the summary.
out=$("$push" --plain-http --user "$CTRD_TEST_REGISTRY_CREDS" "$remote" "$image")
echo "$out"
phases=$(echo "$out" | sed -n 's/^\([a-z]*\): .*/\1/p' | uniq | tr '\n' ' ')
case $phases in
    "pushing done " | "done ") ;;
    *) echo "progress phases out of order: $phases" >&2; exit 1 ;;
esac
last=$(echo "$out" | grep -E '^[a-z]+: ' | tail -n 1)
bytes=$(echo "$last" | sed -n 's/^done: \([0-9.]*\)\/\([0-9.]*\) MiB.*/\1 \2/p')
set -- $bytes
[ $# -eq 2 ] && [ "$1" = "$2" ] || { echo "the last progress line is not done with every byte: $last" >&2; exit 1; }
echo "$out" | tail -n 1 | grep -q "^pushed $image to $remote in " ||
    { echo "no summary line" >&2; exit 1; }

# Again: the same figures, nothing sent (the registry has every blob).
out=$("$push" --plain-http --user "$CTRD_TEST_REGISTRY_CREDS" "$remote" "$image")
echo "$out" | grep -q "^done: " || { echo "$out" >&2; exit 1; }

# Pulled back: the digest of the image pushed.
want=$(ctr_ images ls | awk -v n="$image" '$1 == n { print $3 }')
got=$(CONTAINERD_NAMESPACE=$back "$pull" --no-unpack --plain-http \
    --user "$CTRD_TEST_REGISTRY_CREDS" "$remote" | tail -n 1 | awk '{ print $2 }')
[ -n "$want" ] && [ "$want" = "$got" ] || { echo "pushed $want, pulled back $got" >&2; exit 1; }

# A wrong password: the status's name and a non-zero exit.
if err=$("$push" --plain-http --user "${CTRD_TEST_REGISTRY_CREDS%%:*}:wrong" "$remote" "$image" 2>&1); then
    echo "a wrong password pushed" >&2; exit 1
fi
echo "$err" | grep -q CTRD_ERR_UNAUTHENTICATED || { echo "$err" >&2; exit 1; }
if [ -n "$valgrind" ]; then
    "$valgrind" -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
        "$push" --plain-http --user "$CTRD_TEST_REGISTRY_CREDS" "$reg/ctrd/ctest-push-$$:memcheck" "$image" >/dev/null
    echo "push under memcheck: ok"
fi
echo "push: ok"
