"""containerd_c.aio: containers, tasks and images as coroutines over the
completion queue, run with plain asyncio.run: whole lives at once on one
thread, errors, cancellation (a cut wait, an undone create), pulls with
progress on the loop's thread, a pull cancelled by asyncio."""
import asyncio
import os
import threading
import uuid

import pytest

import containerd_c
from containerd_c import aio
from conftest import IMAGE, remove_containers, unavailable
from test_images import fresh_client, stalling_registry  # noqa: F401 (a fixture)


@pytest.fixture
def prefix(client):
    p = "pyaio-" + uuid.uuid4().hex[:8]
    yield p
    remove_containers(client, p)
    assert not client.list_containers('id~="^%s"' % p)


def threads():
    return len(os.listdir("/proc/self/task"))


async def life(client, cid, code):
    """One container's whole life through the queue; its exit status."""
    spec = client.sync.spec_generate(cid, None, ["sh", "-c", "exit %d" % code])
    await client.prepare_snapshot(IMAGE, cid)
    k = await client.create_container(cid, spec, image=IMAGE, snapshot_key=cid)
    with k:
        assert k.id == cid and k.info()["image"] == IMAGE
        t = await k.new_task()
        with t:
            waiting = asyncio.ensure_future(t.wait())
            await t.start()
            assert t.pid > 0
            status = await waiting
            assert await t.delete() == status
        await k.delete()
    return status


def test_lives_at_once_on_one_thread(daemon, prefix):
    async def main():
        async with aio.Client(*daemon) as client:
            version, revision = await client.version()
            assert version and (version, revision) == client.sync.server_version()
            before = threads()
            codes = await asyncio.gather(*(life(client, "%s-%d" % (prefix, i), i % 5) for i in range(12)))
            assert codes == [i % 5 for i in range(12)]
            # No thread per call: a dozen lives at once cost no dozen threads.
            assert threads() < before + 6, (before, threads())

    asyncio.run(main())


def test_errors(daemon, prefix):
    async def main():
        async with aio.Client(*daemon) as client:
            with pytest.raises(containerd_c.NotFound) as e:
                await client.load_container(prefix + "-none")
            assert e.value.name == "CTRD_ERR_NOT_FOUND" and "ctrd_container_load_submit" in e.value.message
            with pytest.raises(containerd_c.InvalidArgument):
                await client.load_container("bad id!")
            with pytest.raises(containerd_c.InvalidArgument):
                await client.create_container(prefix, "{not json")
            with pytest.raises(containerd_c.InvalidArgument):
                await client.import_archive("relative.tar")
            with pytest.raises(containerd_c.NotFound):
                await client.prepare_snapshot("docker.io/library/ctrd-no-such:1", prefix)

    asyncio.run(main())


def test_cancellation(daemon, client, prefix):
    async def main():
        async with aio.Client(*daemon) as c:
            cid = prefix + "-w"
            spec = c.sync.spec_generate(cid, None, ["sleep", "30"])
            await c.prepare_snapshot(IMAGE, cid)
            k = await c.create_container(cid, spec, snapshot_key=cid)
            t = await k.new_task()
            await t.start()
            # A wait cut by asyncio: the task goes on.
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(t.wait(), 0.3)
            assert t.pid > 0
            await t.kill(9)
            assert await t.wait() == 137
            await t.delete()
            t.close()

            # Creates cancelled at every point: none is left once the
            # client is closed.
            for i in range(6):
                name = "%s-c%d" % (prefix, i)
                c.sync.prepare_snapshot(IMAGE, name)
                making = asyncio.ensure_future(c.create_container(name, c.sync.spec_generate(name, None, ["true"]),
                                                                  snapshot_key=name))
                for _ in range(i):
                    await asyncio.sleep(0.01 * i)
                if making.cancel():
                    with pytest.raises(asyncio.CancelledError):
                        await making
                else:  # it finished first
                    with making.result() as made:
                        await made.delete()
            await k.delete()
            k.close()
        assert client.list_containers('id~="^%s-c"' % prefix) == []
        for i in range(6):
            client.remove_snapshot("%s-c%d" % (prefix, i))

    asyncio.run(main())


def test_pull_with_progress_and_import(daemon, registry, fresh_client, image_archive):  # noqa: F811
    host, user, password = registry
    ref = "%s/ctrd/busybox:latest" % host
    sync = fresh_client()

    async def main():
        loop_thread = threading.get_ident()
        seen = []
        async with aio.Client(daemon[0], sync.namespace) as client:
            image = await client.pull(ref, username=user, secret=password, plain_http=True,
                                      progress=lambda p: seen.append((p, threading.get_ident())))
            with image:
                assert image.name == ref and image.digest.startswith("sha256:")
                digest = image.digest
            # Progress calls were handed to the loop's thread; "done" last.
            await asyncio.sleep(0.2)
            assert seen and seen[-1][0].phase == "done"
            assert {t for _, t in seen} == {loop_thread}
            pushed = "%s/aio/pushed:1" % host
            await client.push(ref, pushed, username=user, secret=password, plain_http=True,
                              progress=lambda p: seen.append((p, threading.get_ident())))
            with await client.pull(pushed, username=user, secret=password, plain_http=True) as again:
                assert again.digest == digest
            assert await client.import_archive(str(image_archive)) == [IMAGE]
            with pytest.raises(containerd_c.Unauthenticated):
                await client.pull(ref, username=user, secret=password + "-wrong", plain_http=True)

    asyncio.run(main())


def test_pull_cancelled_by_asyncio(daemon, fresh_client):  # noqa: F811
    sync = fresh_client()

    async def main():
        async with aio.Client(daemon[0], sync.namespace) as client:
            with stalling_registry() as host:
                pulling = asyncio.ensure_future(client.pull("%s/x/y:z" % host, plain_http=True))
                await asyncio.sleep(0.5)
                assert not pulling.done()
                pulling.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await pulling
        assert sync.list_images() == []

    asyncio.run(main())


def test_closed_and_other_loops(daemon):
    client = aio.Client(*daemon)

    async def use():
        return await client.version()

    assert asyncio.run(use())[0]
    with pytest.raises(RuntimeError):
        asyncio.run(use())  # another loop
    client.close()
    client.close()
    with pytest.raises(ValueError):
        asyncio.run(use())


def test_a_create_that_finished_first_is_undone(daemon, client, prefix, monkeypatch):
    """The completion came (the create is done) but the coroutine was
    cancelled before it saw it: the binding deletes the container itself.
    The library's test hook holds the create between its end and its
    completion, so that the order is certain."""
    import ctypes
    import select

    hold = _ffi_hook()
    undone = []
    run = aio._ContainerUndo.run

    async def counted(self):
        undone.append(self.container.id)
        await run(self)

    monkeypatch.setattr(aio._ContainerUndo, "run", counted)

    async def main():
        async with aio.Client(*daemon) as c:
            name = prefix + "-first"
            c.sync.prepare_snapshot(IMAGE, name)
            spec = c.sync.spec_generate(name, None, ["true"])
            held = ctypes.c_size_t()
            assert hold(c._queue, True, ctypes.byref(held)) == 0
            making = asyncio.ensure_future(c.create_container(name, spec, snapshot_key=name))
            while held.value == 0:
                await asyncio.sleep(0.01)
                hold(c._queue, True, ctypes.byref(held))
            assert client.list_containers('id=="%s"' % name) == [name]
            hold(c._queue, False, None)
            # Posted, not taken yet (the loop runs no callback meanwhile).
            assert select.select([c._fd], [], [], 10)[0] == [c._fd]
            assert making.cancel()
            with pytest.raises(asyncio.CancelledError):
                await making
        assert client.list_containers('id=="%s"' % name) == []
        assert undone == [name], "not undone by the binding"
        client.remove_snapshot(name)

    asyncio.run(main())


def _ffi_hook():
    """The library's test hook ctrd_debug_queue_hold (a library built with
    the cargo feature test-hooks, as scripts/test.sh builds it)."""
    import ctypes
    try:
        fn = containerd_c._ffi.lib.get().ctrd_debug_queue_hold
    except AttributeError:
        unavailable("the library has no test hooks (build it with --features test-hooks)")
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_void_p, ctypes.c_bool, ctypes.POINTER(ctypes.c_size_t)]
    return fn
