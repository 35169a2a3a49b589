"""A Python program that exits while an event subscription is live and
events keep arriving: the interpreter ends the library's callback thread
from inside the callback while it shuts down. That thread must end quietly
(it used to abort the process with "FATAL: exception not rethrown").

Usage: python3 python_exit.py LIBRARY [child]   (CONTAINERD_ADDRESS set)
Without "child" it runs itself RUNS times and fails unless every run exits 0
with nothing on stderr."""
import ctypes
import os
import subprocess
import sys
import threading
import time

SPEC = (b'{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/",'
        b'"user":{"uid":0,"gid":0}},"root":{"path":"rootfs"}}')

RUNS = 12

EVENT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p)


class ContainerOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t)] + [(name, ctypes.c_char_p) for name in
                ("id", "spec_json", "image", "snapshotter", "snapshot_key", "runtime")] + [
        ("labels", ctypes.c_void_p), ("runtime_options_json", ctypes.c_char_p)]


def child(lib_path):
    lib = ctypes.CDLL(lib_path)
    lib.ctrd_last_error.restype = ctypes.c_char_p
    client = ctypes.c_void_p()
    ns = ("pyexit-%d" % os.getpid()).encode()
    assert lib.ctrd_client_connect(None, ns, ctypes.byref(client)) == 0, lib.ctrd_last_error()
    seen = []
    inside = threading.Event()

    def on_event(user, topic, ns, json):
        seen.append(topic)
        if len(seen) >= 20:
            # From here the callback never returns: the interpreter's
            # shutdown ends this thread inside the callback (the thread
            # wakes, finds the interpreter finalizing and exits). Returning
            # would let the library call into an interpreter that may be
            # gone already, a CPython hazard of any C callback, not the
            # library's.
            inside.set()
            while True:
                time.sleep(0.005)

    callback = EVENT_CB(on_event)
    # The callback object must outlive every call the library makes to it:
    # freed at interpreter teardown while a callback is still to come, the
    # thunk's memory would be gone (a crash that is the program's, not the
    # library's; a binding frees its subscriptions at exit instead). Keep it
    # for the life of the process.
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(callback))
    sub = ctypes.c_void_p()
    filters = (ctypes.c_char_p * 2)(b"namespace==" + ns, None)
    assert lib.ctrd_events_subscribe(client, filters, callback, None, ctypes.byref(sub)) == 0, \
        lib.ctrd_last_error()

    stop = threading.Event()

    def churn():
        # Container records only: each create and delete publishes an event.
        i = 0
        while not stop.is_set():
            k = ctypes.c_void_p()
            opts = ContainerOpts(struct_size=ctypes.sizeof(ContainerOpts), id=b"c%d" % i, spec_json=SPEC)
            if lib.ctrd_container_create(client, ctypes.byref(opts), ctypes.byref(k)) == 0:
                lib.ctrd_container_delete(k, 0)
                lib.ctrd_container_free(k)
            i += 1

    # A daemon thread that still calls the library while the interpreter ends.
    threading.Thread(target=churn, daemon=True).start()
    assert inside.wait(30), "no events"
    # Exit now, with the subscription live and events arriving: the
    # interpreter's shutdown ends the callback thread inside the callback.
    sys.exit(0)


def cleanup(lib_path, pid):
    """Deletes the container records a child left in its namespace."""
    lib = ctypes.CDLL(lib_path)
    client = ctypes.c_void_p()
    assert lib.ctrd_client_connect(None, b"pyexit-%d" % pid, ctypes.byref(client)) == 0
    ids = ctypes.POINTER(ctypes.c_char_p)()
    n = ctypes.c_size_t()
    assert lib.ctrd_container_list(client, None, ctypes.byref(ids), ctypes.byref(n)) == 0
    for i in range(n.value):
        k = ctypes.c_void_p()
        if lib.ctrd_container_load(client, ids[i], ctypes.byref(k)) == 0:
            lib.ctrd_container_delete(k, 0)
            lib.ctrd_container_free(k)
    lib.ctrd_string_array_free(ids, n)
    lib.ctrd_client_free(client)


def main(lib_path):
    failures = []
    for run in range(RUNS):
        p = subprocess.Popen([sys.executable, __file__, lib_path, "child"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, err = p.communicate(timeout=60)
        if p.returncode != 0 or err.strip():
            failures.append("run %d: exit %d, stderr: %s" % (run, p.returncode, err.strip()))
        cleanup(lib_path, p.pid)
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print("python_exit: ok (%d runs)" % RUNS)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[2] == "child":
        child(sys.argv[1])
    else:
        main(sys.argv[1])
