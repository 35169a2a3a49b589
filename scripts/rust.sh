#!/usr/bin/env bash
# Usage: scripts/rust.sh
# Makes sure a Rust toolchain new enough for containerd-c (rustc 1.88 or
# newer, with rustfmt and clippy) is there, and prints the directory of its
# cargo and rustc, for PATH. Debian 12's own rustc (1.63) is too old, so a
# missing or older Rust is installed the way rust-lang.org says, with rustup
# (its stable toolchain, into $CARGO_HOME or ~/.cargo and $RUSTUP_HOME or
# ~/.rustup; no shell profile is changed). Needs network for that step only.
# scripts/test.sh and scripts/demo.sh run it; by hand:
#   PATH=$(scripts/rust.sh):$PATH
set -euo pipefail

min=1.88
cargo_bin=${CARGO_HOME:-$HOME/.cargo}/bin

# Whether the rustc at $1 is at least $min.
new_enough() {
    local v
    v=$("$1" --version 2>/dev/null | awk '{print $2}') || return 1
    [[ $v =~ ^[0-9]+\.[0-9]+ ]] || return 1
    printf '%s\n%s\n' "$min" "${BASH_REMATCH[0]}" | sort -V -C
}

for rustc in "$(command -v rustc || true)" "$cargo_bin/rustc"; do
    if [[ -n $rustc ]] && new_enough "$rustc" && [[ -x $(dirname "$rustc")/cargo ]]; then
        dirname "$rustc"
        exit 0
    fi
done

echo "rust.sh: no rustc $min or newer; installing rustup's stable Rust into $cargo_bin" >&2
case $(uname -m) in
    x86_64) triple=x86_64-unknown-linux-gnu ;;
    aarch64) triple=aarch64-unknown-linux-gnu ;;
    *) echo "rust.sh: install Rust $min or newer by hand (https://rustup.rs)" >&2; exit 1 ;;
esac
command -v curl >/dev/null || { echo "rust.sh: curl is missing (scripts/deps.sh installs it)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
url=https://static.rust-lang.org/rustup/dist/$triple/rustup-init
curl --proto '=https' --tlsv1.2 -sSf "$url" -o "$tmp/rustup-init"
curl --proto '=https' --tlsv1.2 -sSf "$url.sha256" -o "$tmp/rustup-init.sha256"
want=$(awk '{print $1}' "$tmp/rustup-init.sha256")
got=$(sha256sum "$tmp/rustup-init" | awk '{print $1}')
[[ $want == "$got" ]] || { echo "rust.sh: rustup-init's sha256 is $got, not $want" >&2; exit 1; }
chmod +x "$tmp/rustup-init"
"$tmp/rustup-init" -y --no-modify-path --profile minimal --default-toolchain stable \
    --component rustfmt,clippy >&2
new_enough "$cargo_bin/rustc" || { echo "rust.sh: the installed rustc is older than $min" >&2; exit 1; }
echo "$cargo_bin"
