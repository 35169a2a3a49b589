"""Real containers from the test image: output, exit codes, exec, waits."""
import gc
import os
import signal
import threading
import time

import pytest

import containerd_c
from conftest import IMAGE, remove_containers


@pytest.fixture
def cleanup(client, unique_id):
    yield
    remove_containers(client, unique_id)
    assert not client.list_containers('id~="^%s"' % unique_id)


def make_container(client, cid, args):
    spec = client.spec_generate(cid, IMAGE, args)
    client.prepare_snapshot(IMAGE, cid)
    return client.create_container(cid, spec, image=IMAGE, snapshot_key=cid)


def test_run_echo(client, unique_id, cleanup):
    r = containerd_c.run(client, IMAGE, ["echo", "hello from a container"], id=unique_id)
    assert r == (0, b"hello from a container\n", b"")
    assert unique_id not in client.list_containers()


def test_run_exit_code_and_stderr(client, unique_id, cleanup):
    r = containerd_c.run(client, IMAGE, ["sh", "-c", "echo out; echo err >&2; exit 3"], id=unique_id)
    assert r.exit_status == 3
    assert r.stdout == b"out\n" and r.stderr == b"err\n"


def test_run_stdin(client, unique_id, cleanup):
    r = containerd_c.run(client, IMAGE, ["sh", "-c", "tr a-z A-Z; exit 5"], id=unique_id,
                         stdin=b"piped text\n" * 1000)
    assert r.exit_status == 5
    assert r.stdout == b"PIPED TEXT\n" * 1000


def test_run_terminal(client, unique_id, cleanup):
    r = containerd_c.run(client, IMAGE, ["sh", "-c", "tty; echo err >&2; exit 6"], id=unique_id,
                         terminal=True)
    assert r.exit_status == 6
    assert r.stderr is None
    lines = r.stdout.decode().splitlines()  # a terminal writes \r\n
    assert lines[0].startswith("/dev/pts/") and lines[1] == "err", lines


def test_task_step_by_step_with_fds(client, unique_id, cleanup):
    # The handles one by one, the output into a pipe of our own.
    r, w = os.pipe()
    with make_container(client, unique_id, ["sh", "-c", "echo $$; exit 42"]) as k, \
            containerd_c.FifoSet(unique_id) as fifos:
        assert os.path.isdir(fifos.dir)
        assert fifos.io.stdout.startswith(fifos.dir) and fifos.io.stdin == ""
        with open(w, "wb") as wf:
            session = fifos.attach(stdout=wf)
        with session, k.new_task(fifos) as task:
            assert task.id == unique_id and task.pid > 0
            assert task.fifo_dir == fifos.dir
            assert task.status()[0] == containerd_c.TaskState.CREATED
            task.start()
            assert task.wait(30) == 42
            session.wait(10)
            assert task.status() == (containerd_c.TaskState.STOPPED, 42)
            assert task.delete() == 42
        session.close()
        with os.fdopen(r, "rb") as rf:
            assert rf.read() == b"1\n"  # pid 1 in its namespace
        k.delete()
        fifo_dir = fifos.dir
    assert not os.path.exists(fifo_dir)


def test_exec_and_kill(client, unique_id, cleanup):
    with make_container(client, unique_id, ["sleep", "60"]) as k, k.new_task() as task:
        task.start()
        assert task.status()[0] == containerd_c.TaskState.RUNNING
        with containerd_c.FifoSet(unique_id + "-e") as fifos:
            session = fifos.attach(stdout=containerd_c.CAPTURE, stderr=containerd_c.CAPTURE)
            with session:
                process = {"args": ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 4"],
                           "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}
                with task.exec("e1", process, fifos) as p:
                    p.start()
                    assert p.pid > 0
                    assert p.wait(30) == 4
                    out, err = session.collect(10)
                    assert (out, err) == (b"exec-out\n", b"exec-err\n")
                    assert p.delete() == 4
        with pytest.raises(containerd_c.DeadlineExceeded):
            task.wait(timeout=0.2)
        task.kill(signal.SIGKILL)
        assert task.wait(30) == 128 + signal.SIGKILL
        task.delete()
        k.delete()


def test_wait_async_callback(client, unique_id, cleanup):
    with make_container(client, unique_id, ["sh", "-c", "sleep 0.3; exit 7"]) as k, k.new_task() as task:
        results = []
        called = threading.Event()

        def on_exit(status, error):
            results.append((status, error, threading.get_ident()))
            called.set()

        task.start()
        w = task.wait_async(on_exit)
        assert called.wait(30)
        assert results[0][:2] == (7, None)
        assert results[0][2] != threading.get_ident()  # a library thread
        assert w.done() and w.result(0) == 7
        w.close()
        task.delete()
        k.delete()


def test_wait_async_kept_without_a_reference(client, unique_id, cleanup):
    # A wait the caller drops still calls back.
    with make_container(client, unique_id, ["sh", "-c", "sleep 0.3; exit 9"]) as k, k.new_task() as task:
        called = threading.Event()
        got = []
        task.start()
        task.wait_async(lambda status, error: (got.append(status), called.set()))
        gc.collect()
        assert called.wait(30)
        assert got == [9]
        task.delete()
        k.delete()


def test_wait_async_cancelled(client, unique_id, cleanup):
    with make_container(client, unique_id, ["sleep", "60"]) as k, k.new_task() as task:
        task.start()
        calls = []
        w = task.wait_async(lambda status, error: calls.append(status))
        time.sleep(0.2)
        assert not w.done()
        w.close()  # cancels: the callback never runs
        task.kill(signal.SIGKILL)
        assert task.wait(30) == 137
        time.sleep(0.3)
        assert calls == []
        with pytest.raises(TimeoutError):
            w.result(0.01)
        task.delete()
        k.delete()


def test_wait_async_error(client, unique_id, cleanup):
    # A wait on a task deleted meanwhile ends with an error.
    with make_container(client, unique_id, ["sh", "-c", "exit 0"]) as k, k.new_task() as task:
        task.start()
        assert task.wait(30) == 0
        task.delete()
        w = task.wait_async()
        with pytest.raises(containerd_c.NotFound) as info:
            w.result(30)
        assert info.value.name == "CTRD_ERR_NOT_FOUND"
        k.delete()


def test_start_missing_command(client, unique_id, cleanup):
    with make_container(client, unique_id, ["/no/such/command"]) as k:
        with pytest.raises(containerd_c.Error) as info:
            with k.new_task() as task:
                task.start()
        assert "/no/such/command" in info.value.message, info.value.message


def test_commit(client, unique_id, cleanup):
    """Container.commit: a running task's file in the new image (one more
    diff id), the task running after; an existing name raises
    AlreadyExists."""
    name = "docker.io/library/%s:committed" % unique_id
    with make_container(client, unique_id, ["sh", "-c", "echo py > /py; sleep 60; true"]) as k, \
            k.new_task() as task:
        task.start()
        deadline = time.monotonic() + 30
        while len(task.pids()) < 2:  # sh started sleep: /py is written
            assert time.monotonic() < deadline
            time.sleep(0.05)
        try:
            with k.commit(name) as img, client.get_image(IMAGE) as base:
                assert img.name == name and img.is_unpacked()
                diff_ids = img.config()["rootfs"]["diff_ids"]
                assert diff_ids[:-1] == base.config()["rootfs"]["diff_ids"]
            assert task.status()[0] == containerd_c.TaskState.RUNNING
            with pytest.raises(containerd_c.AlreadyExists) as exists:
                k.commit(name, pause=False)
            assert name in exists.value.message
            with pytest.raises(containerd_c.InvalidArgument):
                k.commit("")
            task.delete(force=True)
            assert containerd_c.run(client, name, ["cat", "/py"], id=unique_id + "-read") == (0, b"py\n", b"")
        finally:
            client.delete_image(name)
