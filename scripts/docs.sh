#!/usr/bin/env bash
# Usage: scripts/docs.sh [OUT_DIR]
# Generates the API reference from the headers (include/containerd_c.h and
# include/containerd_c.hpp) with Doxygen, configured by docs/Doxyfile; the
# main page is docs/reference.md. HTML goes to OUT_DIR/html (default:
# target/doc/c-api/html; open index.html).
# Fails on any Doxygen warning (an undocumented item, a broken doc comment),
# and when a function, type or macro of the C header is missing from the
# reference. Installs doxygen (Debian's) when missing, as root.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-target/doc/c-api}
[[ $out == /* ]] || out=$PWD/$out
command -v doxygen >/dev/null || scripts/deps.sh doxygen
rm -rf "$out"
# html/search made here: Doxygen 1.9.4 once failed to make it itself ("Could
# not create search results directory"), and it uses one that exists.
mkdir -p "$out/html/search"
# The Doxyfile with this run's output directory (later settings win).
{ cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $out"; } | doxygen -

# Every name the C header declares (test hooks aside) has its entry.
names=$(sed '/^#if defined(CTRD_TEST_HOOKS)/,/^#endif/d' include/containerd_c.h |
    grep -oE '^(#define (CTRD_[A-Z_]+)|typedef [^(]*\b(ctrd_[a-z_]+)|[a-z].*\b(ctrd_[a-z_0-9]+)\()' |
    grep -oE '(CTRD_[A-Z_]+|ctrd_[a-z_0-9]+)\(?$' | tr -d '(' | sort -u)
[[ $(wc -l <<<"$names") -gt 50 ]] || { echo "docs.sh: found too few names in the header" >&2; exit 1; }
missing=()
for n in $names; do
    grep -q ">$n<\|>$n()<\|>$n <" "$out/html/containerd__c_8h.html" || missing+=("$n")
done
if ((${#missing[@]})); then
    echo "docs.sh: not in the reference: ${missing[*]}" >&2
    exit 1
fi
echo "docs.sh: the reference of $(wc -l <<<"$names") names is in $out/html/index.html"
