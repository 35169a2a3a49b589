#!/usr/bin/env bash
# Usage: scripts/test-install.sh [--no-build]
# Tests scripts/install.sh: installs containerd-c into a temporary prefix
# (building the release library first unless --no-build), checks what is
# installed (files and links, SONAME, exports, no test hooks, no debug info,
# an archive the system's binutils read, the cffi declarations), then builds
# examples-c/install-test/main.c from the prefix only, four ways: pkg-config
# shared, pkg-config static, CMake find_package shared and static; checks what
# each program records (the SONAME in NEEDED, or no containerd-c at all), and
# runs each against a private containerd (scripts/daemon.sh). Leaves nothing
# behind. Exits non-zero on the first failure.
# Env: CTRD_MAX_SO_BYTES  the largest installed .so accepted (default
#      4.5 MiB, the budget with certs.d, push, commit and the completion
#      queue; 4,114,848 bytes with containerd-c 0.1.0: packed relocations,
#      one set of oci-spec deserializers, one unary gRPC call path, the
#      runtime's machinery compiled once for all blocking calls, HTTP/2 to
#      the daemon by h2 alone, a registry client of our own and no regex;
#      6,788,408 before them; 4,183,944 with the defences against hostile
#      peers: cancel, the stall rule, archive streams, in-image file
#      resolution).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

fail() { echo "test-install.sh: FAIL: $*" >&2; exit 1; }
note() { echo "test-install.sh: $*" >&2; }

install_args=()
case ${1:-} in
    --no-build) install_args+=(--no-build) ;;
    "") ;;
    *) sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2 ;;
esac
for tool in cc cmake pkg-config readelf nm objdump ldd; do
    command -v "$tool" >/dev/null || fail "$tool is missing (scripts/deps.sh installs it)"
done
# A Python with cffi: the one on PATH, else Debian's (python3-cffi).
python=
for p in python3 /usr/bin/python3; do
    if "$p" -c 'import cffi' 2>/dev/null; then python=$p; break; fi
done
[[ -n $python ]] || fail "no python3 with the cffi module (scripts/deps.sh installs python3-cffi)"

work=$(mktemp -d /tmp/ctrd-install-XXXXXX)
daemon_dir=$work/daemon
# shellcheck disable=SC2064 # $work now
trap "scripts/daemon.sh stop '$daemon_dir' >/dev/null 2>&1 || true; rm -rf '$work'" EXIT
prefix=$work/prefix

scripts/install.sh --prefix "$prefix" "${install_args[@]}"

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
IFS=. read -r major minor _ <<<"$version"
if ((major == 0)); then soname=libcontainerd_c.so.0.$minor; else soname=libcontainerd_c.so.$major; fi
lib=$prefix/lib

# --- What is installed.
real=$lib/libcontainerd_c.so.$version
[[ -f $real && ! -L $real ]] || fail "$real is not a regular file"
[[ $(readlink "$lib/$soname") == "libcontainerd_c.so.$version" ]] ||
    fail "$lib/$soname does not point to libcontainerd_c.so.$version"
[[ $(readlink "$lib/libcontainerd_c.so") == "$soname" ]] ||
    fail "$lib/libcontainerd_c.so does not point to $soname"
for f in lib/libcontainerd_c.a include/containerd_c.h lib/pkgconfig/containerd-c.pc \
    lib/pkgconfig/containerd-c-static.pc lib/cmake/containerd-c/containerd-cConfig.cmake \
    lib/cmake/containerd-c/containerd-cConfigVersion.cmake \
    share/containerd-c/containerd_c_cdef.h; do
    [[ -f $prefix/$f ]] || fail "$f is not installed"
done
if [[ -f include/containerd_c.hpp ]]; then
    [[ -f $prefix/include/containerd_c.hpp ]] || fail "include/containerd_c.hpp is not installed"
fi

got=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $got == "$soname" ]] || fail "SONAME is '$got', not $soname"

exports=$(nm -D --defined-only "$real" | awk '{print $NF}')
others=$(grep -v '^ctrd_' <<<"$exports" || true)
[[ -z $others ]] || fail "the .so exports symbols other than ctrd_*: $others"
grep -qx ctrd_client_connect <<<"$exports" || fail "the .so does not export ctrd_client_connect"
if grep -qx ctrd_debug_panic_next_call <<<"$exports"; then
    fail "the installed .so has the test hook ctrd_debug_panic_next_call"
fi
note "the .so exports $(wc -l <<<"$exports") symbols, all ctrd_*"

if grep -q -e ' \.debug_' -e ' \.symtab ' <<<"$(readelf -S --wide "$real")"; then
    fail "the installed .so is not stripped (debug info or a symbol table)"
fi
# Packed relative relocations (build.rs): without them .rela.dyn alone is
# about 330 KB.
grep -q '(RELR)' <<<"$(readelf -d "$real")" ||
    fail "the .so has no packed relative relocations (DT_RELR): see build.rs"
size=$(stat -c %s "$real")
max=${CTRD_MAX_SO_BYTES:-$((9 * 512 * 1024))}
note "libcontainerd_c.so.$version: $size bytes ($((size / 1024)) KiB); limit $max"
((size <= max)) || fail "the .so is $size bytes, over $max"

# The archive: the system's nm reads every member (no LLVM bitcode), and
# finds the functions in it.
if ! nm_out=$(nm "$lib/libcontainerd_c.a" 2>"$work/nm.err"); then
    fail "nm cannot read libcontainerd_c.a: $(head -n 5 "$work/nm.err")"
fi
# (Members without symbols, Rust's compiler_builtins ones, are only noted.)
if grep -v ': no symbols$' "$work/nm.err" >"$work/nm.other"; then
    fail "nm on libcontainerd_c.a complained: $(head -n 5 "$work/nm.other")"
fi
grep -q ' T ctrd_client_connect$' <<<"$nm_out" ||
    fail "nm does not list ctrd_client_connect as defined in libcontainerd_c.a"
archive_sections=$(objdump -h "$lib/libcontainerd_c.a" 2>&1)
if grep -q -e '\.llvmbc' -e 'file format not recognized' <<<"$archive_sections"; then
    fail "libcontainerd_c.a holds LLVM bitcode"
fi
if grep -q ' \.debug_' <<<"$archive_sections"; then
    fail "libcontainerd_c.a has debug info"
fi
note "libcontainerd_c.a: $(stat -c %s "$lib/libcontainerd_c.a") bytes, readable by $(nm --version | head -n 1)"

# The cffi declarations: they parse, and in ABI mode the installed library
# answers through them.
"$python" - "$prefix/share/containerd-c/containerd_c_cdef.h" "$lib/$soname" "$version" <<'EOF' ||
import sys
import cffi
cdef, so, version = sys.argv[1:]
ffi = cffi.FFI()
ffi.cdef(open(cdef).read())
lib = ffi.dlopen(so)
got = ffi.string(lib.ctrd_version()).decode()
assert got == version, f"ctrd_version() through cffi: {got!r}, want {version!r}"
numbers = f"{lib.CTRD_VERSION_MAJOR}.{lib.CTRD_VERSION_MINOR}.{lib.CTRD_VERSION_PATCH}"
assert numbers == version, f"CTRD_VERSION_* through cffi: {numbers}, want {version}"
assert ffi.string(lib.ctrd_status_name(lib.CTRD_ERR_NOT_FOUND)) == b"CTRD_ERR_NOT_FOUND"
EOF
    fail "the cffi declarations (share/containerd-c/containerd_c_cdef.h) do not work"

# --- Programs built from the prefix only.
export PKG_CONFIG_LIBDIR=$lib/pkgconfig PKG_CONFIG_PATH=
src=examples-c/install-test/main.c
cflags=(-std=c11 -Wall -Wextra -Werror)
pc_shared=$(pkg-config --cflags --libs containerd-c)
pc_static=$(pkg-config --cflags --libs --static containerd-c-static)
private=$(pkg-config --libs --static containerd-c)
[[ $private == *-lpthread* ]] || fail "pkg-config --static containerd-c lacks Libs.private: $private"
note "pkg-config: shared: $pc_shared; static: $pc_static"
# shellcheck disable=SC2086 # pkg-config's words
cc "${cflags[@]}" "$src" -o "$work/pc_shared" $pc_shared || fail "pkg-config shared build"
# shellcheck disable=SC2086
cc "${cflags[@]}" "$src" -o "$work/pc_static" $pc_static || fail "pkg-config static build"

cmake_build=$work/cmake
cmake -S examples-c/install-test -B "$cmake_build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCTRD_FIND_VERSION="$major.$minor" >"$work/cmake.log" 2>&1 ||
    fail "cmake configure: $(tail -n 20 "$work/cmake.log")"
cmake --build "$cmake_build" >>"$work/cmake.log" 2>&1 ||
    fail "cmake build: $(tail -n 20 "$work/cmake.log")"
# The package refuses a version it is not compatible with.
if ((major == 0)); then newer=0.$((minor + 1)); else newer=$((major + 1)).0; fi
if cmake -S examples-c/install-test -B "$work/cmake-newer" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCTRD_FIND_VERSION="$newer" >/dev/null 2>&1; then
    fail "find_package(containerd-c $newer) accepted containerd-c $version"
fi

# Include and link paths name the prefix, never this tree.
grep -rq -- "$root" "$cmake_build/CMakeFiles/install_test_shared.dir/flags.make" \
    "$cmake_build/CMakeFiles/install_test_shared.dir/link.txt" &&
    fail "the CMake build refers to $root"
[[ $pc_shared$pc_static != *"$root"* ]] || fail "pkg-config refers to $root"

shared=("$work/pc_shared" "$cmake_build/install_test_shared")
static=("$work/pc_static" "$cmake_build/install_test_static")
for p in "${shared[@]}"; do
    needed=$(readelf -d "$p" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep containerd || true)
    [[ $needed == "$soname" ]] || fail "$p: NEEDED has '$needed', not $soname"
    resolved=$(LD_LIBRARY_PATH=$lib ldd "$p" | awk -v s="$soname" '$1 == s {print $3}')
    [[ $resolved == "$lib/$soname" ]] ||
        fail "$p: $soname resolves to '$resolved', not the prefix's"
done
for p in "${static[@]}"; do
    if grep -q 'NEEDED.*containerd' <<<"$(readelf -d "$p")"; then
        fail "$p: linked statically yet needs a containerd-c shared library"
    fi
    grep -q ' T ctrd_client_connect$' <<<"$(nm "$p")" || fail "$p: ctrd_client_connect is not in it"
done

# --- Each program against a private containerd.
sock=$(scripts/daemon.sh start "$daemon_dir" --owner-pid $$ | tail -n 1)
for p in "${shared[@]}" "${static[@]}"; do
    out=$(CONTAINERD_ADDRESS="unix://$sock" LD_LIBRARY_PATH=$lib "$p") ||
        fail "$p exited with $?"
    [[ $out =~ ^containerd\ [^,]+,\ containerd-c\ $version$ ]] || fail "$p printed: $out"
    note "${p#"$work"/}: $out"
done
scripts/daemon.sh stop "$daemon_dir" >/dev/null
echo "test-install.sh: all passed (containerd-c $version, SONAME $soname)"
