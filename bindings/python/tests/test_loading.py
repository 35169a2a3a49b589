"""Finding the library; errors without a daemon."""
import os
import pathlib
import shutil
import subprocess
import sys

import containerd_c

SRC = pathlib.Path(containerd_c.__file__).resolve().parent


def run_python(code, env):
    return subprocess.run([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def test_env_var_names_a_missing_library(tmp_path):
    env = dict(os.environ, CONTAINERD_C_LIB=str(tmp_path / "nope.so"))
    p = run_python("import containerd_c\n"
                   "try:\n"
                   "    containerd_c.library_version()\n"
                   "except containerd_c.LibraryNotFound as e:\n"
                   "    print('LibraryNotFound', e)\n", env)
    assert p.returncode == 0, p.stderr
    assert "LibraryNotFound" in p.stdout and "nope.so" in p.stdout and "CONTAINERD_C_LIB" in p.stdout


def test_library_next_to_the_package_is_found(tmp_path, library):
    # A copy of the package with the library beside its modules, and no
    # $CONTAINERD_C_LIB: the package's own directory comes first.
    lib = containerd_c._ffi.lib.get()._name  # the library loaded here
    pkg = tmp_path / "containerd_c"
    shutil.copytree(SRC, pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    os.symlink(os.path.abspath(lib), pkg / "libcontainerd_c.so")
    env = {k: v for k, v in os.environ.items() if k != "CONTAINERD_C_LIB"}
    env["PYTHONPATH"] = str(tmp_path)
    p = run_python("import containerd_c, os\n"
                   "print(containerd_c.__file__)\n"
                   "print(containerd_c.library_version())\n"
                   "print(containerd_c._ffi.candidates()[0])\n", env)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert out[0].startswith(str(pkg))
    assert out[1] == library
    assert out[2] == str(pkg / "libcontainerd_c.so")


def test_search_order_without_env(monkeypatch):
    monkeypatch.delenv("CONTAINERD_C_LIB", raising=False)
    c = containerd_c._ffi.candidates()
    assert c[0] == str(SRC / "libcontainerd_c.so")
    assert c[1] == os.path.join(sys.prefix, "lib", "libcontainerd_c.so")
    assert len(c) == 3


def test_unreachable_daemon(library, tmp_path):
    with containerd_c.Client("unix://%s/none.sock" % tmp_path, "default") as c:
        try:
            c.server_version()
        except containerd_c.Unavailable as e:
            assert e.status == 5 and e.name == "CTRD_ERR_UNAVAILABLE"
            assert e.message
        else:
            raise AssertionError("no error for a missing socket")


def test_bad_address_is_invalid_argument(library):
    try:
        containerd_c.Client("relative/path.sock")
    except containerd_c.InvalidArgument as e:
        assert isinstance(e, containerd_c.Error)
        assert e.status == 1 and e.name == "CTRD_ERR_INVALID_ARGUMENT"
        assert "relative" in e.message or "absolute" in e.message, e.message
    else:
        raise AssertionError("a relative socket path was accepted")


def test_spec_patch_needs_no_daemon(library):
    spec = ('{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/","user":{"uid":0,"gid":0}},'
            '"root":{"path":"rootfs"}}')
    out = containerd_c.spec_patch(spec, {"hostname": "box"})
    assert '"hostname":"box"' in out.replace(" ", "")
    try:
        containerd_c.spec_patch("not json", "{}")
    except containerd_c.InvalidArgument as e:
        assert e.message
    else:
        raise AssertionError("bad JSON accepted")
