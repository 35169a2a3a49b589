"""containerd from asyncio: the client's operations as coroutines, over the
library's completion queue (ctrd_queue).

    import asyncio
    from containerd_c import aio

    async def main() -> None:
        async with aio.Client() as client:
            image = await client.pull("docker.io/library/busybox:latest")
            await client.prepare_snapshot(image.name, "demo")
            spec = client.sync.spec_generate("demo", image.name, ["echo", "hi"])
            container = await client.create_container("demo", spec, image=image.name,
                                                      snapshot_key="demo")
            task = await container.new_task()
            await task.start()
            print(await task.wait())
            await task.delete()
            await container.delete()

    asyncio.run(main())

Each Client owns one queue, whose descriptor the running event loop watches
(loop.add_reader): a call submits the operation and awaits its completion;
no thread is made per call, on either side. Cancelling a coroutine (a task's
cancel(), asyncio.wait_for, a TaskGroup) cancels the operation: a wait, a
load or a pull is cut (a pull keeps what it fetched for the next pull); a
container create, new task or snapshot prepare is undone, also when it had
finished just before (nothing it made is left); a start, kill or delete the
daemon may be carrying out already goes on (it cannot be taken back). The
coroutine raises CancelledError at once; what the operation leaves to undo
is undone in the background, and `aclose()` waits for it.

A Client belongs to the event loop it is first used in. Failures raise the
exceptions of containerd_c (Error and its subclasses, e.g. NotFound), with
the library's message."""

from __future__ import annotations

import asyncio
import ctypes
import itertools
import json
import os
import signal as _signal
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

from . import _api, _ffi
from ._api import Cancel, FifoSet, IoPaths, Progress
from ._ffi import check, enc, lib

__all__ = ["Client", "Container", "Task", "Image"]

# What an operation's completion brings.
_NONE, _CONTAINER, _TASK, _IMAGE, _EXIT, _NAMES = range(6)

_Submit = Callable[[int, int], int]  # (queue, tag) -> ctrd_status


class _Undo:
    """How what an operation made is given back when its caller was
    cancelled but the operation had finished first: in the background on
    the loop, or blocking (while the client closes)."""

    async def run(self) -> None:
        raise NotImplementedError

    def run_blocking(self) -> None:
        raise NotImplementedError


class _Op:
    """A submitted operation: its future, what it brings, how what it made is
    given back if nobody wants it, and its progress relay key."""

    __slots__ = ("future", "kind", "undo", "progress")

    def __init__(self, future: "asyncio.Future[Any]", kind: int,
                 undo: Optional[Callable[[Any], _Undo]], progress: Optional[int]) -> None:
        self.future = future
        self.kind = kind
        self.undo = undo
        self.progress = progress


class Client:
    """A containerd client for asyncio: the operations of containerd_c.Client
    that wait on the daemon, as coroutines.

    `address` and `namespace` as for containerd_c.Client. `sync` is that
    blocking client (the same connection), for what needs no waiting on an
    event loop (spec_generate without an image, list_containers, ...).
    Close it with `await aclose()` (or `async with`); close() does the same
    without waiting for background clean-ups. Closing cancels what still
    runs and frees what nobody took."""

    def __init__(self, address: Optional[str] = None, namespace: Optional[str] = None) -> None:
        self._queue: Optional[int] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._ops: Dict[int, _Op] = {}
        self._tags = itertools.count(1)
        self._cleanups: Set["asyncio.Task[None]"] = set()
        self.sync = _api.Client(address, namespace)
        key = _api._begin_create()
        try:
            out = ctypes.c_void_p()
            check(lib.ctrd_queue_new(ctypes.byref(out)))
            self._queue = out.value
        except BaseException:
            _api._end_create(None)
            self.sync.close()
            raise
        self._fd = lib.ctrd_queue_fd(self._queue)
        self._key = key
        _api._end_create(self)

    # lifecycle

    @property
    def closed(self) -> bool:
        return self._queue is None

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._queue is None:
            raise ValueError("client is closed")
        if self._loop is None:
            loop.add_reader(self._fd, self._drain)
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError("containerd_c.aio.Client belongs to another event loop")
        return loop

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Lets the background clean-ups of cancelled operations finish, then
        closes the client (see close())."""
        while self._cleanups:
            await asyncio.gather(*list(self._cleanups), return_exceptions=True)
        self.close()

    def close(self) -> None:
        """Closes the client: completions that came are delivered, then every
        operation still running is cancelled and waited for (ctrd_queue_free:
        a cut at once, an undo or a start/kill/delete after its round trips),
        and the coroutines still awaiting raise Cancelled. Idempotent."""
        q, self._queue = self._queue, None
        if q is None:
            return
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                loop.remove_reader(self._fd)
            except Exception:  # the loop is closed already
                pass
        self._take(q, blocking=True)
        lib.ctrd_queue_free(q)
        ops, self._ops = self._ops, {}
        for op in ops.values():
            self._forget_progress(op)
            if not op.future.done():
                try:
                    op.future.set_exception(_ffi.error_for(9, None, "the client was closed"))
                except RuntimeError:  # its loop is closed
                    pass
        _api._live.discard(self)
        self.sync.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # the queue

    def _drain(self) -> None:
        if self._queue is not None:
            self._take(self._queue)

    def _take(self, q: int, blocking: bool = False) -> None:
        """Takes every completion that waits and settles its future (gives
        back what nobody wants: blocking while the client closes)."""
        c = _ffi.CCompletion()
        while lib.ctrd_queue_next(q, 0, ctypes.byref(c)) == 0:
            op = self._ops.pop(c.tag, None)
            error = _ffi.take_string(ctypes.c_void_p(c.error)) if c.error else None
            if op is None:  # cannot happen: every tag is registered first
                _free_results(c)
                continue
            self._forget_progress(op)
            if c.status != 0:
                _free_results(c)
                if not op.future.done():
                    op.future.set_exception(_ffi.error_for(c.status, None, error or ""))
                continue
            result = self._result(op.kind, c)
            if op.future.done():  # the caller was cancelled: give it back
                self._give_back(op, result, blocking)
            else:
                op.future.set_result(result)

    def _result(self, kind: int, c: _ffi.CCompletion) -> Any:
        if kind == _CONTAINER:
            return Container(c.container, self)
        if kind == _TASK:
            return Task(c.task, self)
        if kind == _IMAGE:
            return Image(c.image, self)
        if kind == _EXIT:
            return c.exit_status
        if kind == _NAMES:
            return _ffi.take_string_array(c.names, ctypes.c_size_t(c.names_len))
        _free_results(c)
        return None

    def _give_back(self, op: _Op, result: Any, blocking: bool = False) -> None:
        """The result of an operation whose caller was cancelled: undone (in
        the background, or at once when `blocking`) or freed."""
        if op.undo is not None:
            undo = op.undo(result)
            if blocking or self._loop is None or self._queue is None:
                try:
                    undo.run_blocking()
                except Exception:  # best effort
                    pass
            else:
                task = self._loop.create_task(_run_undo(undo))
                self._cleanups.add(task)
                task.add_done_callback(self._cleanups.discard)
        elif isinstance(result, _api._Handle):
            result.close()

    def _forget_progress(self, op: _Op) -> None:
        if op.progress is not None:
            _api._progress_relays.pop(op.progress, None)
            op.progress = None

    async def _call(self, kind: int, submit: _Submit,
                    undo: Optional[Callable[[Any], _Undo]] = None,
                    progress: Optional[int] = None) -> Any:
        """Submits an operation and awaits its completion; cancelling the
        awaiting coroutine cancels the operation."""
        loop = self._bind()
        q = self._queue
        assert q is not None
        tag = next(self._tags)
        op = _Op(loop.create_future(), kind, undo, progress)
        self._ops[tag] = op
        try:
            status = submit(q, tag)
            if status != 0:
                message = lib.ctrd_last_error().decode("utf-8", "replace")
                raise _ffi.error_for(status, None, message)
        except BaseException:
            del self._ops[tag]
            self._forget_progress(op)
            raise
        try:
            return await op.future
        except asyncio.CancelledError:
            if tag in self._ops:
                # Not come yet: the library cuts or undoes it; what the
                # completion still brings is given back (see _take).
                lib.ctrd_queue_cancel(q, tag)
            elif op.future.done() and not op.future.cancelled() and op.future.exception() is None:
                # Come, but the cancel reached this coroutine first.
                self._give_back(op, op.future.result())
            raise

    # operations

    async def version(self) -> Tuple[str, str]:
        """(version, revision) of the daemon."""
        c = self.sync._p()
        names = await self._call(_NAMES, lambda q, tag: lib.ctrd_client_server_version_submit(c, q, tag))
        return names[0], names[1]

    async def pull(self, ref: str, platform: Optional[str] = None, snapshotter: Optional[str] = None,
                   no_unpack: bool = False, username: Optional[str] = None, secret: Optional[str] = None,
                   plain_http: bool = False, skip_verify: bool = False, ca_file: Optional[str] = None,
                   progress: Optional[Callable[[Progress], None]] = None, cancel: Optional[Cancel] = None,
                   timeout: Optional[float] = None, hosts_dir: Optional[str] = None) -> "Image":
        """Pulls image `ref` as containerd_c.Client.pull does and returns the
        Image. `progress(Progress)` is called on the event loop's thread."""
        opts = _ffi.CPullOpts(
            platform=enc(platform, "platform"), snapshotter=enc(snapshotter, "snapshotter"),
            no_unpack=bool(no_unpack), username=enc(username, "username"), secret=enc(secret, "secret"),
            plain_http=bool(plain_http), skip_verify=bool(skip_verify), ca_file=enc(ca_file, "ca_file"),
            cancel=_api._cancel_ptr(cancel), timeout_ms=_api._timeout_ms(timeout),
            hosts_dir=enc(hosts_dir, "hosts_dir"))
        c, r = self.sync._p(), enc(ref, "ref")
        key = self._progress(opts, progress)
        return await self._call(_IMAGE, lambda q, tag: lib.ctrd_image_pull_submit(c, r, ctypes.byref(opts), q, tag),
                                progress=key)

    async def push(self, name: str, remote_ref: Optional[str] = None, platform: Optional[str] = None,
                   username: Optional[str] = None, secret: Optional[str] = None, plain_http: bool = False,
                   skip_verify: bool = False, ca_file: Optional[str] = None, hosts_dir: Optional[str] = None,
                   progress: Optional[Callable[[Progress], None]] = None, cancel: Optional[Cancel] = None,
                   timeout: Optional[float] = None) -> None:
        """Pushes image `name` to `remote_ref` (None = `name`) as
        containerd_c.Client.push does. `progress(Progress)` is called on
        the event loop's thread."""
        opts = _ffi.CPushOpts(
            platform=enc(platform, "platform"), username=enc(username, "username"), secret=enc(secret, "secret"),
            plain_http=bool(plain_http), skip_verify=bool(skip_verify), ca_file=enc(ca_file, "ca_file"),
            hosts_dir=enc(hosts_dir, "hosts_dir"), cancel=_api._cancel_ptr(cancel),
            timeout_ms=_api._timeout_ms(timeout))
        c, n, r = self.sync._p(), enc(name, "name"), enc(remote_ref, "remote_ref")
        key = self._progress(opts, progress)
        await self._call(_NONE, lambda q, tag: lib.ctrd_image_push_submit(c, n, r, ctypes.byref(opts), q, tag),
                         progress=key)

    async def import_archive(self, path: Union[str, "os.PathLike[str]"], platform: Optional[str] = None,
                             snapshotter: Optional[str] = None, no_unpack: bool = False,
                             progress: Optional[Callable[[Progress], None]] = None,
                             cancel: Optional[Cancel] = None, timeout: Optional[float] = None) -> List[str]:
        """Imports the archive at the absolute `path` as
        containerd_c.Client.import_archive does; returns the image names."""
        opts = _ffi.CPullOpts(platform=enc(platform, "platform"), snapshotter=enc(snapshotter, "snapshotter"),
                              no_unpack=bool(no_unpack), cancel=_api._cancel_ptr(cancel),
                              timeout_ms=_api._timeout_ms(timeout))
        c, p = self.sync._p(), enc(path, "path")
        key = self._progress(opts, progress)
        return await self._call(_NAMES, lambda q, tag: lib.ctrd_image_import_submit(c, p, ctypes.byref(opts), q, tag),
                                progress=key)

    def _progress(self, opts: Union[_ffi.CPullOpts, _ffi.CPushOpts], progress: Optional[Callable[[Progress], None]]) -> Optional[int]:
        """Relays the library's progress calls to `progress` on this loop."""
        if progress is None:
            return None
        if not callable(progress):
            raise TypeError("progress must be callable or None")
        loop = self._bind()
        key = next(_api._keys)
        _api._progress_relays[key] = _api._ProgressRelay(lambda p: loop.call_soon_threadsafe(progress, p))
        opts.progress = _api._PROGRESS_THUNK
        opts.user_data = key
        return key

    async def prepare_snapshot(self, image: str, key: str, snapshotter: Optional[str] = None) -> None:
        """Prepares snapshot `key` over the unpacked rootfs of `image`."""
        c, i, s, k = self.sync._p(), enc(image, "image"), enc(snapshotter, "snapshotter"), enc(key, "key")
        await self._call(_NONE, lambda q, tag: lib.ctrd_snapshot_prepare_from_image_submit(c, i, s, k, q, tag),
                         undo=lambda _: _SnapshotUndo(self.sync, key, snapshotter))

    async def create_container(self, id: str, spec: Union[str, Dict[str, Any]], image: Optional[str] = None,
                               snapshotter: Optional[str] = None, snapshot_key: Optional[str] = None,
                               runtime: Optional[str] = None, labels: Optional[Dict[str, str]] = None,
                               runtime_options: Union[None, str, Dict[str, Any]] = None) -> "Container":
        """Creates a container record, as containerd_c.Client.create_container."""
        opts = _ffi.CContainerOpts(
            id=enc(id, "id"), spec_json=enc(_api._json_arg(spec), "spec"), image=enc(image, "image"),
            snapshotter=enc(snapshotter, "snapshotter"), snapshot_key=enc(snapshot_key, "snapshot_key"),
            runtime=enc(runtime, "runtime"), runtime_options_json=enc(_api._json_arg(runtime_options),
                                                                     "runtime_options"))
        if labels is not None:
            opts.labels = _api._labels(labels)
        c = self.sync._p()
        return await self._call(_CONTAINER, lambda q, tag: lib.ctrd_container_create_submit(
            c, ctypes.byref(opts), q, tag), undo=lambda k: _ContainerUndo(k))

    async def load_container(self, id: str) -> "Container":
        c, i = self.sync._p(), enc(id, "id")
        return await self._call(_CONTAINER, lambda q, tag: lib.ctrd_container_load_submit(c, i, q, tag))


async def _run_undo(undo: _Undo) -> None:
    try:
        await undo.run()
    except Exception:  # best effort: a background clean-up has nobody to tell
        pass


class _SnapshotUndo(_Undo):
    """Removes a snapshot a cancelled prepare made (a blocking call, on the
    loop's default executor in the background)."""

    def __init__(self, client: _api.Client, key: str, snapshotter: Optional[str]) -> None:
        self.client, self.key, self.snapshotter = client, key, snapshotter

    async def run(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.run_blocking)

    def run_blocking(self) -> None:
        self.client.remove_snapshot(self.key, self.snapshotter)


class _ContainerUndo(_Undo):
    """Deletes a container a cancelled create made (its snapshot stays, as
    the library's own undo leaves it) and closes the handle."""

    def __init__(self, container: "Container") -> None:
        self.container = container

    async def run(self) -> None:
        try:
            await self.container.delete(keep_snapshot=True)
        finally:
            self.container.close()

    def run_blocking(self) -> None:
        try:
            check(lib.ctrd_container_delete(self.container._p(), _api.DELETE_KEEP_SNAPSHOT))
        finally:
            self.container.close()


class _TaskUndo(_Undo):
    """Deletes (by force) a task a cancelled new_task made, and closes the
    handle."""

    def __init__(self, task: "Task") -> None:
        self.task = task

    async def run(self) -> None:
        try:
            await self.task.delete(force=True)
        finally:
            self.task.close()

    def run_blocking(self) -> None:
        try:
            check(lib.ctrd_task_delete(self.task._p(), _api.TASK_DELETE_FORCE, None))
        finally:
            self.task.close()


def _free_results(c: _ffi.CCompletion) -> None:
    """Frees whatever results a completion holds."""
    for field, free in (("container", lib.ctrd_container_free), ("task", lib.ctrd_task_free),
                        ("process", lib.ctrd_process_free), ("image", lib.ctrd_image_free)):
        ptr = getattr(c, field)
        if ptr:
            free(ptr)
    if c.names:
        lib.ctrd_string_array_free(c.names, c.names_len)


class _Owned(_api._Handle):
    """A library handle used through a Client's queue."""

    def __init__(self, ptr: int, client: Client) -> None:
        super().__init__(ptr)
        self._client = client


class Container(_Owned):
    """A container record (Client.create_container, load_container)."""

    _free_name = "ctrd_container_free"
    _kind = "container"

    @property
    def id(self) -> str:
        return str(lib.ctrd_container_id(self._p()).decode())

    def info(self) -> Dict[str, Any]:
        """The record as the handle last saw it (no call)."""
        out = ctypes.c_void_p()
        check(lib.ctrd_container_info_json(self._p(), ctypes.byref(out)))
        return dict(json.loads(_ffi.take_string(out) or "{}"))

    async def new_task(self, io: Union[None, IoPaths, FifoSet] = None) -> "Task":
        """Creates (not starts) the container's task with stdio `io` (a FifoSet,
        IoPaths or None); attach to a FifoSet before this."""
        k, i = self._p(), _api._io_arg(io)
        return await self._client._call(_TASK, lambda q, tag: lib.ctrd_container_new_task_submit(k, i, q, tag),
                                        undo=lambda t: _TaskUndo(t))

    async def delete(self, keep_snapshot: bool = False) -> None:
        """Deletes the container (and its rootfs snapshot unless
        keep_snapshot); the handle stays to be closed."""
        k, flags = self._p(), _api.DELETE_KEEP_SNAPSHOT if keep_snapshot else 0
        await self._client._call(_NONE, lambda q, tag: lib.ctrd_container_delete_submit(k, flags, q, tag))


class Task(_Owned):
    """A container's task (Container.new_task)."""

    _free_name = "ctrd_task_free"
    _kind = "task"

    @property
    def id(self) -> str:
        return str(lib.ctrd_task_id(self._p()).decode())

    @property
    def pid(self) -> int:
        return int(lib.ctrd_task_pid(self._p()))

    async def start(self) -> None:
        t = self._p()
        await self._client._call(_NONE, lambda q, tag: lib.ctrd_task_start_submit(t, q, tag))

    async def wait(self) -> int:
        """Waits for the exit and returns the exit status (128+n after signal
        n); a daemon restart meanwhile is waited through."""
        t = self._p()
        return int(await self._client._call(_EXIT, lambda q, tag: lib.ctrd_task_wait_submit(t, q, tag)))

    async def kill(self, signal: int = _signal.SIGTERM, all: bool = False) -> None:
        t, flags = self._p(), _api.KILL_ALL if all else 0
        await self._client._call(_NONE, lambda q, tag: lib.ctrd_task_kill_submit(t, int(signal), flags, q, tag))

    async def delete(self, force: bool = False) -> int:
        """Deletes the stopped task (force: kill it first); returns its exit
        status. The handle stays to be closed."""
        t, flags = self._p(), _api.TASK_DELETE_FORCE if force else 0
        return int(await self._client._call(_EXIT, lambda q, tag: lib.ctrd_task_delete_submit(t, flags, q, tag)))


class Image(_Owned):
    """An image record (Client.pull)."""

    _free_name = "ctrd_image_free"
    _kind = "image"

    @property
    def name(self) -> str:
        return str(lib.ctrd_image_name(self._p()).decode())

    @property
    def digest(self) -> str:
        return str(lib.ctrd_image_digest(self._p()).decode())
