"""Images: import, export, unpack, pull and push (the registry of the `registry`
fixture), with progress callbacks; each test in namespaces of its own,
removed again."""
import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

import containerd_c
from conftest import ARCHIVE, IMAGE


@pytest.fixture
def fresh_client(daemon):
    """A factory of clients, each in a new namespace, removed with its images
    (synchronously: their content and snapshots go too) at the end."""
    made = []

    def make():
        c = containerd_c.Client(daemon[0], "pyt-img-" + uuid.uuid4().hex[:10])
        made.append(c)
        return c

    yield make
    for c in made:
        for name in c.list_images():
            c.delete_image(name, sync=True)
        try:
            c.delete_namespace(c.namespace)
        except containerd_c.NotFound:
            pass  # nothing was ever made in it
        c.close()


class Recorder:
    """A progress callback keeping every Progress and the threads it ran on."""

    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []
        self.threads = set()

    def __call__(self, p):
        with self.lock:
            self.seen.append(p)
            self.threads.add(threading.get_ident())

    def check_done(self, ref, phases=("resolving", "fetching", "unpacking")):
        """Calls came off the caller's thread; the last, and only it, is "done"
        with every byte and layer; the others are of `phases`."""
        assert self.seen, "no progress at all"
        assert threading.get_ident() not in self.threads
        last = self.seen[-1]
        assert isinstance(last, containerd_c.Progress)
        assert last.phase == "done" and last.ref == ref, last
        assert last.layers_total > 0 and last.layers_done == last.layers_total, last
        assert last.bytes_total > 0 and last.bytes_done == last.bytes_total, last
        assert last.retries == 0, last  # a local registry that answers at once
        assert all(p.phase in phases for p in self.seen[:-1]), self.seen


def test_import_export_round_trip(fresh_client, tmp_path):
    client = fresh_client()
    progress = Recorder()
    names = client.import_archive(str(ARCHIVE), progress=progress)
    assert names == [IMAGE]
    progress.check_done(str(ARCHIVE))
    with client.get_image(IMAGE) as image:
        assert image.is_unpacked()
        digest = image.digest

    exported = tmp_path / "exported.tar"
    client.export_archive(exported, names)
    assert exported.stat().st_size > 0

    # Into another namespace, not unpacked there; then unpack it.
    other = fresh_client()
    assert other.import_archive(exported, no_unpack=True) == names
    with other.get_image(IMAGE) as copy:
        assert copy.digest == digest
        assert not copy.is_unpacked()
        copy.unpack()
        assert copy.is_unpacked()
        copy.unpack()  # again: nothing to do
        with pytest.raises(containerd_c.InvalidArgument):
            copy.unpack("no-such-snapshotter")
    r = containerd_c.run(other, IMAGE, ["sh", "-c", "echo from-the-export"])
    assert r == (0, b"from-the-export\n", b"")

    # One name as a str.
    again = tmp_path / "one.tar"
    client.export_archive(str(again), IMAGE)
    assert again.stat().st_size > 0


def test_archives_through_pipes_and_file_objects(fresh_client):
    client = fresh_client()
    assert client.import_archive(str(ARCHIVE)) == [IMAGE]
    with client.get_image(IMAGE) as image:
        digest = image.digest
    # Into `tar -t` through its stdin (a file object).
    tar = subprocess.Popen(["tar", "-t"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    listed = []
    reading = threading.Thread(target=lambda: listed.append(tar.stdout.read()))
    reading.start()
    client.export_archive(tar.stdin, IMAGE)
    tar.stdin.close()
    reading.join()
    assert tar.wait() == 0
    assert "index.json" in listed[0].decode().split()
    # Into a pipe (an fd) a thread drains.
    r, w = os.pipe()
    data = bytearray()

    def drain():
        while chunk := os.read(r, 1 << 20):
            data.extend(chunk)

    reading = threading.Thread(target=drain)
    reading.start()
    client.export_archive(w, [IMAGE])
    os.close(w)
    reading.join()
    os.close(r)
    # Back from a pipe a thread feeds, into another namespace.
    other = fresh_client()
    r, w = os.pipe()

    def feed():
        view = memoryview(bytes(data))
        while view:
            view = view[os.write(w, view):]
        os.close(w)

    feeding = threading.Thread(target=feed)
    feeding.start()
    assert other.import_archive(r, no_unpack=True) == [IMAGE]
    feeding.join()
    os.close(r)
    with other.get_image(IMAGE) as copy:
        assert copy.digest == digest
    with pytest.raises(containerd_c.InvalidArgument):
        other.import_archive(-1)


def test_bad_arguments(fresh_client, tmp_path):
    client = fresh_client()
    with pytest.raises(containerd_c.InvalidArgument) as e:
        client.import_archive("target/test-image.tar")
    assert e.value.status == 1 and e.value.name == "CTRD_ERR_INVALID_ARGUMENT" and e.value.message
    with pytest.raises(containerd_c.NotFound) as e:
        client.import_archive(tmp_path / "missing.tar")
    assert "missing.tar" in e.value.message
    with pytest.raises(containerd_c.InvalidArgument):
        client.export_archive(tmp_path / "none.tar", [])
    with pytest.raises(containerd_c.InvalidArgument):
        client.export_archive("relative.tar", [IMAGE])
    with pytest.raises(containerd_c.NotFound) as e:
        client.export_archive(tmp_path / "unknown.tar", ["docker.io/library/pyt-no-such:1"])
    assert "pyt-no-such" in e.value.message
    assert not (tmp_path / "unknown.tar").exists()
    with pytest.raises(TypeError):
        client.import_archive(str(ARCHIVE), progress="not callable")
    assert client.list_images() == []
    with pytest.raises(containerd_c.InvalidArgument):
        client.pull("docker.io/library/busybox:latest", username="user")  # no secret


def test_tag(fresh_client):
    client = fresh_client()
    assert client.import_archive(str(ARCHIVE), no_unpack=True) == [IMAGE]
    copy = "docker.io/library/pyt-tagged:1"
    client.tag(IMAGE, copy)
    with client.get_image(IMAGE) as a, client.get_image(copy) as b:
        assert b.name == copy and b.digest == a.digest
    assert sorted(client.list_images()) == sorted([IMAGE, copy])
    with pytest.raises(containerd_c.AlreadyExists) as e:
        client.tag(IMAGE, copy)
    assert copy in e.value.message
    client.tag(IMAGE, copy, force=True)
    with pytest.raises(containerd_c.NotFound) as e:
        client.tag("docker.io/library/pyt-no-such:1", "docker.io/library/pyt-x:1")
    assert "pyt-no-such" in e.value.message
    with pytest.raises(containerd_c.InvalidArgument):
        client.tag(IMAGE, "")
    with pytest.raises(containerd_c.InvalidArgument) as e:
        client.tag(IMAGE, None)
    assert "new_name is NULL" in e.value.message
    assert sorted(client.list_images()) == sorted([IMAGE, copy])


def test_progress_exception_is_raised(fresh_client):
    client = fresh_client()
    calls = []

    def fail(p):
        calls.append(p)
        raise ValueError("from the progress callback")

    with pytest.raises(ValueError, match="from the progress callback") as e:
        client.import_archive(str(ARCHIVE), progress=fail)
    assert len(calls) == 1  # not called again after it raised
    # The traceback reaches into the callback.
    assert any(tb.name == "fail" for tb in e.traceback)
    # The import itself ran to its end.
    assert client.list_images() == [IMAGE]

    # The operation failing too (a "registry" that hangs up after 0.5 s, by
    # when the callback ran): the callback's exception, with the Error as
    # its context.
    calls.clear()
    with hanging_up_server() as address:
        with pytest.raises(ValueError) as e:
            client.pull("%s/pyt/none:latest" % address, plain_http=True, progress=fail)
    assert len(calls) == 1
    assert isinstance(e.value.__context__, containerd_c.Unavailable), repr(e.value.__context__)
    assert client.list_images() == [IMAGE]


@contextlib.contextmanager
def hanging_up_server():
    """HOST:PORT of a TCP server that closes every connection 0.5 s after
    accepting it, without a byte."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.1)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            threading.Timer(0.5, conn.close).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield "127.0.0.1:%d" % srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        srv.close()


def test_pull_from_registry(fresh_client, registry):
    host, user, password = registry
    ref = "%s/ctrd/busybox:latest" % host
    client = fresh_client()

    with pytest.raises(containerd_c.Unauthenticated) as e:
        client.pull(ref, username=user, secret=password + "-wrong", plain_http=True)
    assert e.value.name == "CTRD_ERR_UNAUTHENTICATED" and "ctrd/busybox" in e.value.message
    assert client.list_images() == []

    progress = Recorder()
    with client.pull(ref, username=user, secret=password, plain_http=True, progress=progress) as image:
        assert image.name == ref and image.digest.startswith("sha256:")
        assert image.is_unpacked()
    progress.check_done(ref)
    r = containerd_c.run(client, ref, ["sh", "-c", "echo pulled-and-ran"])
    assert r == (0, b"pulled-and-ran\n", b"")

    # Not unpacked, another image with several layers.
    layers = "%s/ctrd/layers:latest" % host
    with client.pull(layers, username=user, secret=password, plain_http=True, no_unpack=True) as image:
        assert not image.is_unpacked()
        image.unpack()
        assert image.is_unpacked()


def test_push_to_registry(fresh_client, registry):
    host, user, password = registry
    remote = "%s/ctrd/pyt-pushed-%s:v1" % (host, uuid.uuid4().hex[:8])
    client = fresh_client()
    assert client.import_archive(str(ARCHIVE), no_unpack=True) == [IMAGE]

    with pytest.raises(containerd_c.Unauthenticated) as e:
        client.push(IMAGE, remote, username=user, secret=password + "-wrong", plain_http=True)
    assert remote in e.value.message
    with pytest.raises(containerd_c.NotFound) as e:
        client.push("docker.io/library/pyt-no-such:1", remote, username=user, secret=password, plain_http=True)
    assert "pyt-no-such" in e.value.message
    with pytest.raises(containerd_c.InvalidArgument):
        client.push(None, remote)

    progress = Recorder()
    client.push(IMAGE, remote, username=user, secret=password, plain_http=True, progress=progress)
    progress.check_done(remote, phases=("pushing",))
    # Pulled back into another namespace: the same image.
    with client.get_image(IMAGE) as image:
        digest = image.digest
    back = fresh_client()
    with back.pull(remote, username=user, secret=password, plain_http=True, no_unpack=True) as image:
        assert image.digest == digest


@contextlib.contextmanager
def stalling_registry():
    """HOST:PORT of a "registry" that answers /v2/ at once and everything
    else (the manifest) with a body that comes a byte every 200 ms."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.1)
    stop = threading.Event()

    def answer(conn):
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                got = conn.recv(4096)
                if not got:
                    return
                head += got
            if head.startswith(b"GET /v2/ "):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json"
                         b"\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n")
            while not stop.wait(0.2):
                try:
                    conn.sendall(b" ")
                except OSError:
                    return

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield "127.0.0.1:%d" % srv.getsockname()[1]
    finally:
        stop.set()
        t.join()
        srv.close()


def test_cancel_and_timeout(fresh_client):
    client = fresh_client()
    cancel = containerd_c.Cancel()
    assert not cancel.triggered
    with stalling_registry() as address:
        ref = "%s/pyt/stalls:latest" % address
        # Triggered from another thread a second into the pull.
        timer = threading.Timer(1.0, cancel.trigger)
        timer.start()
        with pytest.raises(containerd_c.Cancelled, match="cancelled"):
            client.pull(ref, plain_http=True, cancel=cancel)
        timer.join()
        assert cancel.triggered
        # Triggered already: the import does not start either.
        with pytest.raises(containerd_c.Cancelled):
            client.import_archive(str(ARCHIVE), cancel=cancel)
        cancel.close()
        # The whole call's timeout.
        start = time.monotonic()
        with pytest.raises(containerd_c.DeadlineExceeded, match="800 ms"):
            client.pull(ref, plain_http=True, timeout=0.8)
        took = time.monotonic() - start
        assert 0.8 <= took < 1.8, took
    with pytest.raises(TypeError):
        client.pull(ref, cancel="no")
    with pytest.raises(ValueError):
        client.pull(ref, timeout=0)
    assert client.list_images() == []


def test_keyboard_interrupt_cancels_a_pull(fresh_client):
    """Ctrl-C (a real SIGINT to this process) during a pull from a stalling
    registry: the pull is cancelled and the KeyboardInterrupt comes out of
    the call within a second of the signal."""
    client = fresh_client()
    sent = []

    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    with stalling_registry() as address:
        timer = threading.Timer(1.0, interrupt)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            client.pull("%s/pyt/stalls:latest" % address, plain_http=True)
        took = time.monotonic() - sent[0]
        timer.join()
    print("KeyboardInterrupt out of the pull %.4f s after SIGINT" % took)
    assert took < 1.0, took
    # The call's thread returned (the pull was cancelled, not left behind).
    # (A finished thread may stay in threading.enumerate() a moment after its
    # join returned, shown "stopped": only a live one would be left behind.)
    assert not [
        t
        for t in threading.enumerate()
        if t.name == "containerd_c call" and t.is_alive()
    ]
    # The client works on.
    assert client.list_images() == []


def test_pull_hosts_dir(fresh_client, tmp_path):
    """hosts_dir: a malformed hosts.toml is InvalidArgument naming its line
    and key; "" is no host directory (the registry alone, down here)."""
    client = fresh_client()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = "127.0.0.1:%d" % s.getsockname()[1]
    d = tmp_path / host.replace(":", "_")
    d = d.with_name(d.name + "_")
    d.mkdir()
    (d / "hosts.toml").write_text('[host."http://127.0.0.1:1"]\ncapabilities = ["pul"]\n')
    ref = host + "/pyt/none:latest"
    with pytest.raises(containerd_c.InvalidArgument) as e:
        client.pull(ref, plain_http=True, hosts_dir=str(tmp_path))
    assert 'line 2: host."http://127.0.0.1:1".capabilities: unknown capability "pul"' in e.value.message
    with pytest.raises(containerd_c.Unavailable):
        client.pull(ref, plain_http=True, hosts_dir="")
