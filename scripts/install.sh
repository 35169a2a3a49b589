#!/usr/bin/env bash
# Usage: scripts/install.sh --prefix DIR [--no-build]
# Installs containerd-c like any C library, from a release build (made first
# unless --no-build):
#   DIR/lib/libcontainerd_c.so.X.Y.Z       the shared library (stripped)
#   DIR/lib/libcontainerd_c.so.SOVER       -> libcontainerd_c.so.X.Y.Z, the SONAME
#                                         (0.Y before 1.0, X from 1.0 on)
#   DIR/lib/libcontainerd_c.so             -> the SONAME link (for -lcontainerd_c)
#   DIR/lib/libcontainerd_c.a              the static library (no debug info,
#                                         no LLVM bitcode)
#   DIR/include/containerd_c.h             (and containerd_c.hpp when the tree has it)
#   DIR/lib/pkgconfig/containerd-c.pc      `pkg-config --cflags --libs containerd-c`;
#                                         --static adds the system libraries
#   DIR/lib/pkgconfig/containerd-c-static.pc  the static library by path, with
#                                         the system libraries it needs
#   DIR/lib/cmake/containerd-c/containerd-cConfig.cmake (+ ConfigVersion):
#       find_package(containerd-c) gives containerd-c::containerd-c (shared)
#       and containerd-c::containerd-c-static (static, with its link deps);
#       relocatable (paths are relative to the file)
#   DIR/share/containerd-c/containerd_c_cdef.h   the declarations for Python
#                                         cffi's ffi.cdef()
# --no-build installs what target/release holds (a build made by this script
# before, or by the command below). Refuses a library built with the test
# hooks, one whose version or SONAME does not match the sources, or one
# exporting anything but ctrd_* symbols.
# Env: DESTDIR   staged install: files go to DESTDIR/DIR, while the files
#                that name paths (pkg-config) name DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

die() { echo "install.sh: $*" >&2; exit 1; }
usage() { sed -n '2p' "$0" | sed 's/^# //' >&2; exit 2; }

prefix= build=1
while (($#)); do
    case $1 in
        --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' ; exit 0 ;;
        *) usage ;;
    esac
done
[[ -n $prefix ]] || usage
[[ $prefix == /* ]] || prefix=$PWD/$prefix
prefix=${prefix%/}
dest=${DESTDIR:-}$prefix

for tool in readelf nm objdump strip install; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: binutils, coreutils)"
done

# Cargo's target directory (CARGO_TARGET_DIR and .cargo/config.toml count).
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[[ -n $target_dir ]] || die "cargo metadata gave no target directory"
out=$target_dir/release
static_libs_file=$out/containerd_c.native-static-libs
# The release build of the two C libraries alone. Not `cargo build --release`:
# Cargo.toml's crate types include rlib (for Rust users and the tests), and
# cargo runs LTO only for a target whose every crate type can take it, so
# with the rlib the profile's `lto` is silently not done, and the archive's
# objects carry LLVM bitcode besides their code (70 MB instead of 13). Also
# writes the system libraries the static library needs (rustc's
# --print native-static-libs) next to it.
build_cmd=(cargo rustc --release --locked --lib --crate-type cdylib,staticlib
    -- --print "native-static-libs=$static_libs_file")
if ((build)); then
    echo "install.sh: building the release library: ${build_cmd[*]}" >&2
    "${build_cmd[@]}"
fi
for f in "$out/libcontainerd_c.so" "$out/libcontainerd_c.a" "$static_libs_file"; do
    [[ -f $f ]] || die "$f is missing: run without --no-build, or: ${build_cmd[*]}"
done
# Without LTO, every crate's object in the archive carries bitcode; with it
# only Rust's prebuilt compiler_builtins objects do (removed below).
bitcode=$(objdump -h "$out/libcontainerd_c.a" 2>/dev/null | awk '
    / file format / { member = $1 }
    /\.llvmbc/ && member !~ /^compiler_builtins-/ { print member }')
if [[ -n $bitcode ]]; then
    die "$out/libcontainerd_c.a was built without LTO (not by ${build_cmd[*]}): run without --no-build"
fi

# The version from Cargo.toml's [package]; the header and the library must agree.
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml)
[[ $version =~ ^([0-9]+)\.([0-9]+)\.([0-9]+) ]] || die "no version in Cargo.toml"
major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
if ((major == 0)); then sover=0.$minor; else sover=$major; fi
soname=libcontainerd_c.so.$sover
grep -q "^#define CTRD_VERSION \"$version\"$" include/containerd_c.h ||
    die "include/containerd_c.h is not for version $version: CTRD_UPDATE_HEADER=1 cargo build"
got=$(readelf -d "$out/libcontainerd_c.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ $got == "$soname" ]] ||
    die "$out/libcontainerd_c.so has SONAME '$got', not $soname: rebuild it"
exports=$(nm -D --defined-only "$out/libcontainerd_c.so" | awk '{print $NF}')
if grep -qx ctrd_debug_panic_next_call <<<"$exports"; then
    die "$out/libcontainerd_c.so has the test hooks (built with --features test-hooks): rebuild it"
fi
if others=$(grep -v '^ctrd_' <<<"$exports"); then
    die "$out/libcontainerd_c.so exports more than ctrd_*: $others"
fi
static_libs=$(tr -s ' \n' ' ' <"$static_libs_file" | sed 's/^ //; s/ $//')
[[ $static_libs =~ ^(-l[^ ]+ ?)+$ ]] ||
    die "unexpected system libraries in $static_libs_file: $static_libs"

echo "install.sh: installing containerd-c $version into $dest" >&2
install -d "$dest/lib/pkgconfig" "$dest/lib/cmake/containerd-c" "$dest/include" \
    "$dest/share/containerd-c"

# Libraries. The .so loses its symbol table and any debug info (it keeps its
# dynamic symbols, the ctrd_* functions); the archive loses the debug info of
# Rust's std, and keeps its symbols (linkers need them).
real=libcontainerd_c.so.$version
install -m 0755 "$out/libcontainerd_c.so" "$dest/lib/$real"
strip --strip-unneeded "$dest/lib/$real"
ln -sfn "$real" "$dest/lib/$soname"
ln -sfn "$soname" "$dest/lib/libcontainerd_c.so"
install -m 0644 "$out/libcontainerd_c.a" "$dest/lib/libcontainerd_c.a"
# Rust's prebuilt compiler_builtins objects, which rustc adds to the archive
# as they are, carry LLVM bitcode sections too (.llvmbc, .llvmcmd): unused by
# any linker here, so out.
strip --strip-debug -R .llvmbc -R .llvmcmd "$dest/lib/libcontainerd_c.a"

# Headers.
install -m 0644 include/containerd_c.h "$dest/include/containerd_c.h"
if [[ -f include/containerd_c.hpp ]]; then
    install -m 0644 include/containerd_c.hpp "$dest/include/containerd_c.hpp"
fi
install -m 0644 include/containerd_c_cdef.h "$dest/share/containerd-c/containerd_c_cdef.h"

# pkg-config.
description=$(sed -n '/^\[package\]/,/^\[/s/^description *= *"\([^"]*\)".*/\1/p' Cargo.toml)
pc_head="prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include
"
cat >"$dest/lib/pkgconfig/containerd-c.pc" <<EOF
$pc_head
Name: containerd-c
Description: $description
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lcontainerd_c
Libs.private: $static_libs
EOF
cat >"$dest/lib/pkgconfig/containerd-c-static.pc" <<EOF
$pc_head
Name: containerd-c-static
Description: $description (static library)
Version: $version
Cflags: -I\${includedir}
Libs: \${libdir}/libcontainerd_c.a $static_libs
EOF

# CMake package.
cmake_libs=$(sed 's/-l//g; s/ /;/g' <<<"$static_libs")
cat >"$dest/lib/cmake/containerd-c/containerd-cConfig.cmake" <<EOF
# containerd-c $version, installed by scripts/install.sh.
#   find_package(containerd-c REQUIRED)
#   target_link_libraries(app containerd-c::containerd-c)         # shared
#   target_link_libraries(app containerd-c::containerd-c-static)  # static
get_filename_component(_ctrd_prefix "\${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
if(NOT TARGET containerd-c::containerd-c)
  add_library(containerd-c::containerd-c SHARED IMPORTED)
  set_target_properties(containerd-c::containerd-c PROPERTIES
    IMPORTED_LOCATION "\${_ctrd_prefix}/lib/$real"
    IMPORTED_SONAME "$soname"
    INTERFACE_INCLUDE_DIRECTORIES "\${_ctrd_prefix}/include")
endif()
if(NOT TARGET containerd-c::containerd-c-static)
  add_library(containerd-c::containerd-c-static STATIC IMPORTED)
  set_target_properties(containerd-c::containerd-c-static PROPERTIES
    IMPORTED_LOCATION "\${_ctrd_prefix}/lib/libcontainerd_c.a"
    INTERFACE_INCLUDE_DIRECTORIES "\${_ctrd_prefix}/include"
    INTERFACE_LINK_LIBRARIES "$cmake_libs")
endif()
unset(_ctrd_prefix)
EOF
cat >"$dest/lib/cmake/containerd-c/containerd-cConfigVersion.cmake" <<EOF
# containerd-c $version. Before 1.0 every minor version may change the ABI
# (SONAME libcontainerd_c.so.0.MINOR), from 1.0 on every major one: a
# requested version is compatible when it is not newer and has the same
# $( ((major == 0)) && echo "0.MINOR" || echo "MAJOR").
set(PACKAGE_VERSION "$version")
set(PACKAGE_VERSION_COMPATIBLE FALSE)
if("\${PACKAGE_FIND_VERSION}" STREQUAL "")
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
elseif(NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION
   AND PACKAGE_FIND_VERSION_MAJOR EQUAL $major
   AND ($major GREATER 0 OR PACKAGE_FIND_VERSION_MINOR EQUAL $minor))
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION VERSION_EQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
if(NOT CMAKE_SIZEOF_VOID_P STREQUAL "" AND NOT CMAKE_SIZEOF_VOID_P EQUAL 8)
  set(PACKAGE_VERSION "$version (64-bit)")
  set(PACKAGE_VERSION_UNSUITABLE TRUE)
endif()
EOF

echo "install.sh: installed containerd-c $version (SONAME $soname) into $dest" >&2
