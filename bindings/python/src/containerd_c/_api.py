"""The handle classes over the C library."""

import atexit
import collections
import ctypes
import enum
import itertools
import json
import os
import signal as _signal
import threading
import traceback
import weakref

from . import _ffi
from ._ffi import check, enc, lib, str_array, take_string, take_string_array

COMMIT_NO_PAUSE = 1
DELETE_KEEP_SNAPSHOT = 1
IMAGE_DELETE_SYNC = 1
IMAGE_TAG_FORCE = 1
KILL_ALL = 1
TASK_DELETE_FORCE = 1


class TaskState(enum.IntEnum):
    """enum ctrd_task_state."""

    UNKNOWN = 0
    CREATED = 1
    RUNNING = 2
    STOPPED = 3
    PAUSED = 4
    PAUSING = 5


def library_version():
    """The C library's version, e.g. "0.1.0"."""
    return lib.ctrd_version().decode()


def spec_patch(spec_json, patch):
    """Applies an RFC 7386 JSON merge patch (a str, or a dict) to an OCI
    spec (str) and returns the patched spec as a str (ctrd_spec_patch)."""
    out = ctypes.c_void_p()
    check(lib.ctrd_spec_patch(enc(spec_json, "spec_json"), enc(_json_arg(patch), "patch"), ctypes.byref(out)))
    return take_string(out)


def _json_arg(v):
    if v is None or isinstance(v, (str, bytes)):
        return v
    return json.dumps(v)


def _ms(timeout):
    """Seconds (float, None = for ever) to the library's int64 milliseconds."""
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError("timeout must be >= 0 or None")
    return int(timeout * 1000)


def _labels(labels):
    """A dict (or an iterable of "key=value") to a NULL-terminated array."""
    if labels is None:
        return None
    if isinstance(labels, dict):
        labels = ["%s=%s" % (k, "" if v is None else v) for k, v in labels.items()]
    return str_array(labels, "labels")


def _report_callback_error():
    """An exception raised by a user callback on a library thread: printed
    (as threading does for a thread's uncaught exception); the library's
    thread goes on."""
    try:
        traceback.print_exc()
    except Exception:  # pragma: no cover - stderr gone at exit
        pass


class _Handle:
    """An owned pointer to a library object, freed by close(), by the end of
    a `with` block, or when the object is collected. close() must not race
    with another call on the same object (as the C API says)."""

    _free_name = None
    _kind = "handle"
    _ptr = None  # also for an object whose __init__ failed

    def __init__(self, ptr):
        self._ptr = ptr

    @property
    def closed(self):
        return not self._ptr

    def _p(self):
        ptr = self._ptr
        if not ptr:
            raise ValueError("%s is closed" % self._kind)
        return ptr

    def close(self):
        """Frees the library object (idempotent)."""
        ptr, self._ptr = self._ptr, None
        if ptr:
            getattr(lib, self._free_name)(ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# ---- the exit guard -----------------------------------------------------------
#
# The library calls event and exit callbacks on POSIX threads of its own. A
# callback that would run after the interpreter is finalized crashes the
# process, so every live Subscription and Wait is freed (which stops its
# callbacks, waiting for one in progress) by an atexit handler, before
# finalization. After that handler no new one can be made.

_guard = threading.Condition()
_exiting = False
_creating = 0  # subscriptions and waits being made right now
_live = weakref.WeakSet()  # Subscriptions and Waits not closed yet
_sub_callbacks = {}  # key -> the user's event callback
_pending_waits = {}  # key -> Wait, held strongly until its callback ran
_keys = itertools.count(1)


def _begin_create():
    global _creating
    with _guard:
        if _exiting:
            raise RuntimeError("containerd_c: the interpreter is exiting; no new callbacks")
        _creating += 1
        return next(_keys)


def _end_create(obj):
    """Registers `obj` (or None on failure); frees it at once when the exit
    handler ran meanwhile."""
    global _creating
    with _guard:
        _creating -= 1
        if obj is not None:
            _live.add(obj)
        late = _exiting
        _guard.notify_all()
    if late and obj is not None:
        obj.close()


@atexit.register
def _close_all_at_exit():
    global _exiting
    with _guard:
        _exiting = True
        # A call making one on another thread: let it finish (bounded).
        _guard.wait_for(lambda: _creating == 0, timeout=10)
        objs = list(_live)
    for obj in objs:
        try:
            obj.close()
        except Exception:
            pass


def _dispatch_event(user_data, topic, ns, event_json):
    cb = _sub_callbacks.get(user_data)
    if cb is None:
        return
    try:
        cb(Event(topic.decode("utf-8", "replace"), ns.decode("utf-8", "replace"),
                 event_json.decode("utf-8", "replace")))
    except BaseException:
        _report_callback_error()


class Progress(collections.namedtuple(
        "Progress", "ref phase bytes_done bytes_total layers_done layers_total retries")):
    """Where a pull or import is (struct ctrd_progress): `ref` (the
    reference pulled, or the archive's path), `phase` ("resolving",
    "fetching", "unpacking", or "done": last, once, and only on success),
    `bytes_done` and `bytes_total` (the chosen platform's blobs in the
    content store; total 0 while unknown), `layers_done` and
    `layers_total`, `retries` (registry requests tried again: 429 or 5xx
    answers, connections reset, blobs resumed)."""

    __slots__ = ()


class _ProgressRelay:
    """One pull's or import's progress callback, and the first exception
    it raised."""

    __slots__ = ("callback", "error")

    def __init__(self, callback):
        self.callback = callback
        self.error = None


_progress_relays = {}  # key -> _ProgressRelay, for the duration of the call


def _dispatch_progress(user_data, p):
    relay = _progress_relays.get(user_data)
    if relay is None or relay.error is not None:
        return
    c = p.contents
    try:
        relay.callback(Progress(c.ref.decode("utf-8", "replace"), c.phase.decode(), c.bytes_done,
                                c.bytes_total, c.layers_done, c.layers_total, c.retries))
    except BaseException as e:  # re-raised by the call once the library returned
        relay.error = e


def _dispatch_exit(user_data, status, exit_status):
    w = _pending_waits.pop(user_data, None)
    if w is not None:
        w._complete(status, exit_status)


# One thunk per callback type for the life of the module: the library gets
# a key as user_data, never a Python object.
_EVENT_THUNK = _ffi.EVENT_CB(_dispatch_event)
_EXIT_THUNK = _ffi.EXIT_CB(_dispatch_exit)
_PROGRESS_THUNK = _ffi.PROGRESS_CB(_dispatch_progress)
# Never freed, not even when the interpreter tears modules down: a library
# thread entering a thunk that late finds live code, and the interpreter
# ends that thread when it asks for the GIL.
for _thunk in (_EVENT_THUNK, _EXIT_THUNK, _PROGRESS_THUNK):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_thunk))
del _thunk


class Event(collections.namedtuple("Event", "topic namespace json")):
    """One containerd event: `topic` (e.g. "/tasks/exit"), `namespace` ("" for
    none) and `json` (the payload as a JSON text); `data` parses it."""

    __slots__ = ()

    @property
    def data(self):
        return json.loads(self.json)


class Subscription(_Handle):
    """A live event subscription (Client.subscribe). Its callback runs on a
    library thread, one event at a time. close() stops it: after close()
    returns no callback runs (close() from another thread waits for one in
    progress). Dropping every reference closes it too, and so does
    interpreter exit."""

    _free_name = "ctrd_subscription_free"
    _kind = "subscription"

    def __init__(self, ptr, key):
        super().__init__(ptr)
        self._key = key

    def close(self):
        ptr, self._ptr = self._ptr, None
        if ptr:
            lib.ctrd_subscription_free(ptr)
        _sub_callbacks.pop(self._key, None)
        _live.discard(self)


class Wait(_Handle):
    """A pending asynchronous wait (Task.wait_async, Process.wait_async).

    The callback, if any, runs once on a library thread with (exit_status,
    error): the exit status and None, or None and the Error that ended the
    wait. result(timeout) waits for the same outcome. The Wait stays
    registered until its callback ran, whether or not the caller keeps it;
    close() before that cancels it (the callback never runs), and so does
    interpreter exit."""

    _free_name = "ctrd_wait_free"
    _kind = "wait"

    def __init__(self, key, callback):
        super().__init__(None)
        self._key = key
        self._callback = callback
        self._done = threading.Event()
        self.exit_status = None
        self.error = None

    def _complete(self, status, exit_status):
        if status == 0:
            self.exit_status = exit_status
        else:
            self.error = _ffi.error_for(status, None, "the wait failed: %s" % _ffi.status_name(status))
        self._done.set()
        cb, self._callback = self._callback, None
        if cb is not None:
            try:
                cb(self.exit_status, self.error)
            except BaseException:
                _report_callback_error()

    def done(self):
        """Whether the callback has run."""
        return self._done.is_set()

    def result(self, timeout=None):
        """Waits (seconds; None = for ever) for the exit and returns the exit
        status; raises the wait's Error, or TimeoutError."""
        if not self._done.wait(timeout):
            raise TimeoutError("the wait did not end within %s s" % timeout)
        if self.error is not None:
            raise self.error
        return self.exit_status

    def close(self):
        """Cancels the wait if its callback has not run, then frees it."""
        _pending_waits.pop(self._key, None)
        ptr, self._ptr = self._ptr, None
        if ptr:
            lib.ctrd_wait_free(ptr)
        _live.discard(self)


def _wait_async(fn, ptr, callback):
    key = _begin_create()
    w = Wait(key, callback)
    # Registered before the call: the callback may run before it returns.
    _pending_waits[key] = w
    out = ctypes.c_void_p()
    try:
        check(fn(ptr, _EXIT_THUNK, key, ctypes.byref(out)))
    except BaseException:
        _pending_waits.pop(key, None)
        _end_create(None)
        raise
    w._ptr = out.value
    _end_create(w)
    return w


def _archive_fd(target):
    """The descriptor `target` names (an int, or an object with fileno()),
    or None for a path."""
    if isinstance(target, bool):
        raise TypeError("a path, a file descriptor or a file object, not a bool")
    if isinstance(target, int):
        return target
    if hasattr(target, "fileno"):
        return target.fileno()
    return None


def _with_progress(progress, opts, call):
    """Runs call() (a library call taking `opts`, returning its status) with
    `progress` (None or a callable) as the progress callback (see
    _interruptible for where it runs), and raises what the callback raised,
    else the call's Error."""
    if progress is None:
        status, message = _interruptible(opts, call)
        if status != 0:
            raise _ffi.error_for(status, None, message)
        return
    if not callable(progress):
        raise TypeError("progress must be callable or None")
    relay = _ProgressRelay(progress)
    key = next(_keys)
    _progress_relays[key] = relay
    opts.progress = _PROGRESS_THUNK
    opts.user_data = key
    try:
        status, message = _interruptible(opts, call)
        failure = _ffi.error_for(status, None, message) if status != 0 else None
    finally:
        # The library calls back only during the call: no call is running.
        _progress_relays.pop(key, None)
    if relay.error is not None:
        error, relay.error = relay.error, None
        if failure is not None:
            error.__context__ = failure
        raise error
    if failure is not None:
        raise failure


def _interruptible(opts, call):
    """Runs call() (a blocking library call taking `opts`) and returns its
    status and error message (read on the thread that made the call). On
    the main thread the call runs on a worker thread while this one waits,
    so that Ctrl-C (SIGINT, which Python handles on the main thread only)
    is seen: a KeyboardInterrupt then triggers the call's cancel signal
    (`opts.cancel`, one of the call's own when the caller gave none), waits
    for the call to return (within a second) and is raised again."""
    if threading.current_thread() is not threading.main_thread():
        status = call()
        return status, (lib.ctrd_last_error().decode("utf-8", "replace") if status else "")
    own = None
    if not opts.cancel:
        own = Cancel()
        opts.cancel = own._p()
    done = {}

    def work():
        try:
            status = done["status"] = call()
            if status:
                done["message"] = lib.ctrd_last_error().decode("utf-8", "replace")
        except BaseException as e:  # pragma: no cover - ctypes argument errors
            done["error"] = e

    worker = threading.Thread(target=work, name="containerd_c call")
    try:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.1)
        except KeyboardInterrupt:
            lib.ctrd_cancel_trigger(opts.cancel)
            while worker.is_alive():
                try:
                    worker.join()
                except KeyboardInterrupt:
                    pass
            raise
    finally:
        if own is not None:
            opts.cancel = None
            own.close()
    if "error" in done:
        raise done["error"]
    return done["status"], done.get("message", "")


def _timeout_ms(timeout):
    """Seconds (None = no limit) to ctrd_pull_opts.timeout_ms (0 = none)."""
    if timeout is None:
        return 0
    if timeout <= 0:
        raise ValueError("timeout must be > 0 or None")
    return max(1, int(timeout * 1000))


def _cancel_ptr(cancel):
    if cancel is None:
        return None
    if not isinstance(cancel, Cancel):
        raise TypeError("cancel must be a containerd_c.Cancel or None")
    return cancel._p()


class Cancel(_Handle):
    """A one-shot cancel signal (ctrd_cancel) for Client.pull and
    Client.import_archive: once trigger() is called, every call given it
    raises Cancelled within a second (a pull keeps what it fetched for the
    next pull). trigger() may be called from any thread, or a signal
    handler. Close it only after the calls given it returned."""

    _free_name = "ctrd_cancel_free"
    _kind = "cancel"

    def __init__(self):
        out = ctypes.c_void_p()
        check(lib.ctrd_cancel_new(ctypes.byref(out)))
        super().__init__(out.value)

    def trigger(self):
        """Triggers the signal (triggering again does nothing)."""
        lib.ctrd_cancel_trigger(self._p())

    @property
    def triggered(self):
        """Whether trigger() was called."""
        return bool(lib.ctrd_cancel_is_triggered(self._p()))


# ---- client ----------------------------------------------------------------------


class Client(_Handle):
    """A client of one containerd daemon, bound to one namespace.

    `address`: a socket path or "unix:///path" (None: $CONTAINERD_ADDRESS,
    else /run/containerd/containerd.sock); `namespace` (None:
    $CONTAINERD_NAMESPACE, else "default"). Connects on first use. Containers,
    tasks, images and subscriptions made through it stay usable after
    close()."""

    _free_name = "ctrd_client_free"
    _kind = "client"

    def __init__(self, address=None, namespace=None):
        out = ctypes.c_void_p()
        check(lib.ctrd_client_connect(enc(address, "address"), enc(namespace, "namespace"), ctypes.byref(out)))
        super().__init__(out.value)

    @property
    def namespace(self):
        return lib.ctrd_client_namespace(self._p()).decode()

    def set_timeout(self, seconds):
        """The timeout of every later blocking call made through this client
        and the objects it made (None or 0: none). Default 30 s."""
        check(lib.ctrd_client_set_timeout_ms(self._p(), 0 if not seconds else max(1, int(seconds * 1000))))

    def server_version(self):
        """(version, revision) of the daemon."""
        v, r = ctypes.c_void_p(), ctypes.c_void_p()
        check(lib.ctrd_client_server_version(self._p(), ctypes.byref(v), ctypes.byref(r)))
        return take_string(v), take_string(r)

    def server_info(self):
        """The daemon's introspection answer (uuid, plugins, ...) as a dict."""
        out = ctypes.c_void_p()
        check(lib.ctrd_client_server_info_json(self._p(), ctypes.byref(out)))
        return json.loads(take_string(out))

    # specs and snapshots

    def spec_generate(self, id, image=None, args=None):
        """A default OCI spec (JSON text) for container `id`, with the config
        of `image` merged in and `args` as the process args when given."""
        out = ctypes.c_void_p()
        check(lib.ctrd_spec_generate(self._p(), enc(id, "id"), enc(image, "image"),
                                     str_array(args, "args") if args is not None else None,
                                     ctypes.byref(out)))
        return take_string(out)

    def prepare_snapshot(self, image, key, snapshotter=None):
        """Prepares snapshot `key` over the unpacked rootfs of `image`."""
        check(lib.ctrd_snapshot_prepare_from_image(self._p(), enc(image, "image"), enc(snapshotter, "snapshotter"),
                                                   enc(key, "key")))

    def remove_snapshot(self, key, snapshotter=None):
        check(lib.ctrd_snapshot_remove(self._p(), enc(snapshotter, "snapshotter"), enc(key, "key")))

    # containers

    def create_container(self, id, spec, image=None, snapshotter=None, snapshot_key=None,
                         runtime=None, labels=None, runtime_options=None):
        """Creates a container record. `spec`: the OCI spec (JSON text or a
        dict); `labels`: a dict; `runtime_options`: the runc options (a dict
        or JSON text)."""
        opts = _ffi.CContainerOpts(
            id=enc(id, "id"), spec_json=enc(_json_arg(spec), "spec"), image=enc(image, "image"),
            snapshotter=enc(snapshotter, "snapshotter"), snapshot_key=enc(snapshot_key, "snapshot_key"),
            runtime=enc(runtime, "runtime"), runtime_options_json=enc(_json_arg(runtime_options), "runtime_options"))
        if labels is not None:
            opts.labels = _labels(labels)
        out = ctypes.c_void_p()
        check(lib.ctrd_container_create(self._p(), ctypes.byref(opts), ctypes.byref(out)))
        return Container(out.value)

    def load_container(self, id):
        out = ctypes.c_void_p()
        check(lib.ctrd_container_load(self._p(), enc(id, "id"), ctypes.byref(out)))
        return Container(out.value)

    def list_containers(self, filter=None):
        """The ids of the containers matching `filter` (containerd's syntax)."""
        items, n = ctypes.POINTER(ctypes.c_char_p)(), ctypes.c_size_t()
        check(lib.ctrd_container_list(self._p(), enc(filter, "filter"), ctypes.byref(items), ctypes.byref(n)))
        return take_string_array(items, n)

    # images

    def get_image(self, name):
        out = ctypes.c_void_p()
        check(lib.ctrd_image_get(self._p(), enc(name, "name"), ctypes.byref(out)))
        return Image(out.value)

    def list_images(self, filter=None):
        items, n = ctypes.POINTER(ctypes.c_char_p)(), ctypes.c_size_t()
        check(lib.ctrd_image_list(self._p(), enc(filter, "filter"), ctypes.byref(items), ctypes.byref(n)))
        return take_string_array(items, n)

    def tag(self, name, new_name, force=False):
        """Gives image `name` the second name `new_name` (same target and
        labels), as `ctr images tag` (ctrd_image_tag); names are taken as they
        are. An existing `new_name` raises AlreadyExists unless `force`,
        which points it at the source's target; no `name` raises
        NotFound."""
        check(lib.ctrd_image_tag(self._p(), enc(name, "name"), enc(new_name, "new_name"),
                                 IMAGE_TAG_FORCE if force else 0))

    def delete_image(self, name, sync=False):
        check(lib.ctrd_image_delete(self._p(), enc(name, "name"), IMAGE_DELETE_SYNC if sync else 0))

    def pull(self, ref, platform=None, snapshotter=None, no_unpack=False, username=None, secret=None,
             plain_http=False, skip_verify=False, ca_file=None, progress=None, cancel=None,
             timeout=None, hosts_dir=None):
        """Pulls image `ref` ("busybox" is "docker.io/library/busybox:latest")
        from its registry into the client's namespace (ctrd_image_pull) and
        returns the Image. `platform`: "os/arch[/variant]" (None = this
        machine's); `snapshotter` to unpack into (None = overlayfs) unless
        `no_unpack`; `username` and `secret` (None, None = the docker
        config's credentials; username "" = `secret` is an identity token);
        `plain_http`, `skip_verify`, `ca_file` (a PEM file of extra CAs).
        `hosts_dir`: containerd's host directory root (certs.d: mirrors and
        TLS settings per host in <dir>/<host>/hosts.toml; None =
        /etc/containerd/certs.d when it exists, "" = none).
        `progress(Progress)` is called on a library thread while the pull
        runs (see import_archive). `cancel` (a Cancel) and `timeout` (in
        seconds, the whole call) cut it short, raising Cancelled or
        DeadlineExceeded; what was fetched stays for the next pull. Blocks
        until the pull ends; other threads run meanwhile, and Ctrl-C
        (KeyboardInterrupt) on the main thread cancels it. Raises
        Unauthenticated for missing or refused credentials, NotFound,
        Unavailable (also a registry that stalls), InvalidArgument..."""
        opts = _ffi.CPullOpts(
            platform=enc(platform, "platform"), snapshotter=enc(snapshotter, "snapshotter"),
            no_unpack=bool(no_unpack), username=enc(username, "username"), secret=enc(secret, "secret"),
            plain_http=bool(plain_http), skip_verify=bool(skip_verify), ca_file=enc(ca_file, "ca_file"),
            cancel=_cancel_ptr(cancel), timeout_ms=_timeout_ms(timeout),
            hosts_dir=enc(hosts_dir, "hosts_dir"))
        out = ctypes.c_void_p()
        try:
            _with_progress(progress, opts, lambda: lib.ctrd_image_pull(
                self._p(), enc(ref, "ref"), ctypes.byref(opts), ctypes.byref(out)))
        except BaseException:
            if out.value:  # the pull succeeded, the progress callback raised
                lib.ctrd_image_free(out)
            raise
        return Image(out.value)

    def push(self, name, remote_ref=None, platform=None, username=None, secret=None, plain_http=False,
             skip_verify=False, ca_file=None, hosts_dir=None, progress=None, cancel=None, timeout=None):
        """Pushes image `name` of the client's namespace to `remote_ref` (None
        = `name`), as `ctr images push` (ctrd_image_push): every platform
        whose content is in the content store, or only `platform`'s manifest
        ("os/arch[/variant]"); blobs the registry has are not sent again.
        `username`, `secret`, `plain_http`, `skip_verify`, `ca_file`,
        `hosts_dir` (the first host with the "push" capability gets the
        push), `progress` (phases "pushing", then "done"), `cancel` and
        `timeout` as for pull. Blocks until the push ends; Ctrl-C on the main
        thread cancels it. Raises NotFound (no image `name`, or no content
        to push), Unauthenticated (missing or refused credentials),
        PermissionDenied, Unavailable, InvalidArgument..."""
        opts = _ffi.CPushOpts(
            platform=enc(platform, "platform"), username=enc(username, "username"), secret=enc(secret, "secret"),
            plain_http=bool(plain_http), skip_verify=bool(skip_verify), ca_file=enc(ca_file, "ca_file"),
            hosts_dir=enc(hosts_dir, "hosts_dir"), cancel=_cancel_ptr(cancel), timeout_ms=_timeout_ms(timeout))
        _with_progress(progress, opts, lambda: lib.ctrd_image_push(
            self._p(), enc(name, "name"), enc(remote_ref, "remote_ref"), ctypes.byref(opts)))

    def import_archive(self, path, platform=None, snapshotter=None, no_unpack=False, progress=None,
                       cancel=None, timeout=None):
        """Imports the images of the OCI layout or `docker save` archive at
        the absolute `path` (read by the library itself) into the client's
        namespace (ctrd_image_import), unpacked into `snapshotter` (None =
        overlayfs) unless `no_unpack`, for `platform` (None = this
        machine's); returns the list of image names made or replaced. A
        failure leaves no image.

        `progress(Progress)`, when given, is called on a library thread (not
        the caller's), one call at a time, about ten times a second while
        the call runs and once more with phase "done" on success; never
        after the call returned. An exception it raises is kept: the
        callback is not called again, the operation runs to its end (so it
        may have made its images), and this call raises that exception
        (with the call's own Error, if it failed too, as its __context__).
        `cancel` (a Cancel) and `timeout` (in seconds) cut it short, as for
        pull (Cancelled, DeadlineExceeded), and so does Ctrl-C on the main
        thread (KeyboardInterrupt). Raises InvalidArgument (a relative
        path, a bad archive), NotFound (no such file)...

        `path` may also be a file descriptor (an int) or an object with
        fileno() (a pipe, sys.stdin.buffer, a subprocess's stdout): the
        archive is read from it to its end (ctrd_image_import_fd; it is not
        closed). A buffered file object's read-ahead is not seen: pass one
        nothing was read from."""
        fd = _archive_fd(path)
        opts = _ffi.CPullOpts(platform=enc(platform, "platform"),
                              snapshotter=enc(snapshotter, "snapshotter"),
                              no_unpack=bool(no_unpack), cancel=_cancel_ptr(cancel),
                              timeout_ms=_timeout_ms(timeout))
        items, n = ctypes.POINTER(ctypes.c_char_p)(), ctypes.c_size_t()
        try:
            if fd is None:
                _with_progress(progress, opts, lambda: lib.ctrd_image_import(
                    self._p(), enc(path, "path"), ctypes.byref(opts), ctypes.byref(items), ctypes.byref(n)))
            else:
                _with_progress(progress, opts, lambda: lib.ctrd_image_import_fd(
                    self._p(), fd, ctypes.byref(opts), ctypes.byref(items), ctypes.byref(n)))
        except BaseException:
            if items:  # the import succeeded, the progress callback raised
                lib.ctrd_string_array_free(items, n)
            raise
        return take_string_array(items, n)

    def export_archive(self, path, names):
        """Exports the images `names` (a list of names, at least one; or one
        name as a str) into an OCI layout tar at the absolute `path`
        (ctrd_image_export), written by the library itself in an existing
        directory and renamed into place only when complete. Raises
        InvalidArgument (no names, a relative path), NotFound (an unknown
        image)...

        `path` may also be a file descriptor (an int) or an object with
        fileno() (a pipe, sys.stdout.buffer, a subprocess's stdin): the
        archive is written into it as it is made (ctrd_image_export_fd; it
        is flushed first when it has flush(), and not closed)."""
        if isinstance(names, (str, bytes)):
            names = [names]
        fd = _archive_fd(path)
        if fd is None:
            check(lib.ctrd_image_export(self._p(), str_array(list(names), "names"), enc(path, "path")))
            return
        if hasattr(path, "flush"):
            path.flush()
        check(lib.ctrd_image_export_fd(self._p(), str_array(list(names), "names"), fd))

    # namespaces

    def create_namespace(self, name, labels=None):
        check(lib.ctrd_namespace_create(self._p(), enc(name, "name"), _labels(labels)))

    def list_namespaces(self):
        items, n = ctypes.POINTER(ctypes.c_char_p)(), ctypes.c_size_t()
        check(lib.ctrd_namespace_list(self._p(), ctypes.byref(items), ctypes.byref(n)))
        return take_string_array(items, n)

    def delete_namespace(self, name):
        check(lib.ctrd_namespace_delete(self._p(), enc(name, "name")))

    # events

    def subscribe(self, callback, filters=None):
        """Calls `callback(event)` (an Event) for each event matching any of
        `filters` (containerd filter strings; None = all events of every
        namespace), on a library thread, until the Subscription is closed.
        Returns once the daemon registered the subscription."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        key = _begin_create()
        _sub_callbacks[key] = callback
        out = ctypes.c_void_p()
        try:
            check(lib.ctrd_events_subscribe(self._p(), str_array(filters, "filters") if filters is not None else None,
                                            _EVENT_THUNK, key, ctypes.byref(out)))
        except BaseException:
            _sub_callbacks.pop(key, None)
            _end_create(None)
            raise
        sub = Subscription(out.value, key)
        _end_create(sub)
        return sub


# ---- containers, tasks, processes ---------------------------------------------------


class IoPaths(collections.namedtuple("IoPaths", "stdin stdout stderr terminal")):
    """The stdio paths of a task or process ("" or None: unused)."""

    __slots__ = ()

    def _c(self):
        return _ffi.CIo(enc(self.stdin or None, "stdin"), enc(self.stdout or None, "stdout"),
                        enc(self.stderr or None, "stderr"),
                        bool(self.terminal))

    @classmethod
    def _from_c(cls, io):
        d = lambda b: b.decode() if b else ""  # noqa: E731
        return cls(d(io.stdin_path), d(io.stdout_path), d(io.stderr_path), bool(io.terminal))


def _io_arg(io):
    if io is None:
        return None
    if isinstance(io, FifoSet):
        io = io.io
    if not isinstance(io, IoPaths):
        raise TypeError("io must be a FifoSet, IoPaths or None")
    return ctypes.byref(io._c())


class Container(_Handle):
    """A container record (Client.create_container / load_container)."""

    _free_name = "ctrd_container_free"
    _kind = "container"

    @property
    def id(self):
        return lib.ctrd_container_id(self._p()).decode()

    def spec_json(self):
        """The OCI spec as the daemon stores it (JSON text)."""
        out = ctypes.c_void_p()
        check(lib.ctrd_container_spec_json(self._p(), ctypes.byref(out)))
        return take_string(out)

    def spec(self):
        return json.loads(self.spec_json())

    def info(self):
        """The whole record (id, labels, image, runtime, spec, ...) as a dict."""
        out = ctypes.c_void_p()
        check(lib.ctrd_container_info_json(self._p(), ctypes.byref(out)))
        return json.loads(take_string(out))

    def refresh(self):
        check(lib.ctrd_container_refresh(self._p()))

    def set_labels(self, labels):
        """Sets labels (a dict; a value of "" or None removes the key)."""
        check(lib.ctrd_container_set_labels(self._p(), _labels(labels)))

    def update_spec(self, spec):
        check(lib.ctrd_container_update_spec(self._p(), enc(_json_arg(spec), "spec")))

    def delete(self, keep_snapshot=False):
        """Deletes the container (and its rootfs snapshot unless
        keep_snapshot). The handle stays to be closed."""
        check(lib.ctrd_container_delete(self._p(), DELETE_KEEP_SNAPSHOT if keep_snapshot else 0))

    def commit(self, image_name, pause=True):
        """The container's changes as a new image `image_name` (as `nerdctl
        commit`, ctrd_container_commit): its snapshot's diff over its
        image's layers as one more layer, the config's diff ids and history
        extended, unpacked onto the container's snapshotter; returns the
        Image. A running task is paused for the diff unless `pause` is
        False. An existing `image_name` raises AlreadyExists; a container
        without an image or snapshot FailedPrecondition. Nothing is left on
        failure."""
        out = ctypes.c_void_p()
        check(lib.ctrd_container_commit(self._p(), enc(image_name, "image_name"),
                                        0 if pause else COMMIT_NO_PAUSE, ctypes.byref(out)))
        return Image(out.value)

    def new_task(self, io=None):
        """Creates (not starts) the container's task with stdio `io` (a
        FifoSet, IoPaths or None). Attach to a FifoSet before this."""
        out = ctypes.c_void_p()
        check(lib.ctrd_container_new_task(self._p(), _io_arg(io), ctypes.byref(out)))
        return Task(out.value)

    def load_task(self):
        out = ctypes.c_void_p()
        check(lib.ctrd_container_load_task(self._p(), ctypes.byref(out)))
        return Task(out.value)


class Task(_Handle):
    """A container's task (its init process). Blocking calls hold no lock
    of Python's: other threads run meanwhile."""

    _free_name = "ctrd_task_free"
    _kind = "task"

    @property
    def id(self):
        return lib.ctrd_task_id(self._p()).decode()

    @property
    def pid(self):
        return lib.ctrd_task_pid(self._p())

    @property
    def fifo_dir(self):
        return lib.ctrd_task_fifo_dir(self._p()).decode()

    @property
    def io(self):
        io = _ffi.CIo()
        check(lib.ctrd_task_io(self._p(), ctypes.byref(io)))
        return IoPaths._from_c(io)

    def start(self):
        check(lib.ctrd_task_start(self._p()))

    def wait(self, timeout=None):
        """Waits (seconds; None = for ever) for the exit; returns the exit
        status (128+n after signal n). DeadlineExceeded on timeout."""
        st = ctypes.c_uint32()
        check(lib.ctrd_task_wait(self._p(), _ms(timeout), ctypes.byref(st)))
        return st.value

    def wait_async(self, callback=None):
        """A Wait whose callback(exit_status, error) runs on a library thread
        when the task exits."""
        return _wait_async(lib.ctrd_task_wait_async, self._p(), callback)

    def kill(self, signal=_signal.SIGTERM, all=False):
        check(lib.ctrd_task_kill(self._p(), int(signal), KILL_ALL if all else 0))

    def status(self):
        """(TaskState, exit_status)."""
        state, st = ctypes.c_int(), ctypes.c_uint32()
        check(lib.ctrd_task_status(self._p(), ctypes.byref(state), ctypes.byref(st)))
        return TaskState(state.value), st.value

    def delete(self, force=False):
        """Deletes the stopped task (force: kill it first); returns its exit status."""
        st = ctypes.c_uint32()
        check(lib.ctrd_task_delete(self._p(), TASK_DELETE_FORCE if force else 0, ctypes.byref(st)))
        return st.value

    def close_stdin(self):
        check(lib.ctrd_task_close_stdin(self._p()))

    def close_stdin_on_eof(self, session):
        """Makes `session` close the task's stdin once its stdin input ended."""
        check(lib.ctrd_task_close_stdin_on_eof(self._p(), session._p()))

    def resize(self, width, height):
        check(lib.ctrd_task_resize(self._p(), width, height))

    def pause(self):
        check(lib.ctrd_task_pause(self._p()))

    def resume(self):
        check(lib.ctrd_task_resume(self._p()))

    def pids(self):
        arr, n = ctypes.POINTER(ctypes.c_uint32)(), ctypes.c_size_t()
        check(lib.ctrd_task_pids(self._p(), ctypes.byref(arr), ctypes.byref(n)))
        try:
            return [arr[i] for i in range(n.value)]
        finally:
            lib.ctrd_pids_free(arr, n)

    def metrics(self):
        out = ctypes.c_void_p()
        check(lib.ctrd_task_metrics_json(self._p(), ctypes.byref(out)))
        return json.loads(take_string(out))

    def update(self, resources):
        """Changes the task's resources (an OCI LinuxResources dict or JSON)."""
        check(lib.ctrd_task_update(self._p(), enc(_json_arg(resources), "resources")))

    def exec(self, exec_id, process, io=None):
        """Creates (not starts) exec process `exec_id`: `process` is an OCI
        "process" object (dict or JSON text), `io` a FifoSet, IoPaths or None."""
        out = ctypes.c_void_p()
        check(lib.ctrd_task_exec(self._p(), enc(exec_id, "exec_id"), enc(_json_arg(process), "process"),
                                 _io_arg(io), ctypes.byref(out)))
        return Process(out.value)


class Process(_Handle):
    """An exec process inside a running task (Task.exec)."""

    _free_name = "ctrd_process_free"
    _kind = "process"

    @property
    def pid(self):
        return lib.ctrd_process_pid(self._p())

    def start(self):
        check(lib.ctrd_process_start(self._p()))

    def wait(self, timeout=None):
        st = ctypes.c_uint32()
        check(lib.ctrd_process_wait(self._p(), _ms(timeout), ctypes.byref(st)))
        return st.value

    def wait_async(self, callback=None):
        return _wait_async(lib.ctrd_process_wait_async, self._p(), callback)

    def kill(self, signal=_signal.SIGTERM):
        check(lib.ctrd_process_kill(self._p(), int(signal)))

    def delete(self):
        st = ctypes.c_uint32()
        check(lib.ctrd_process_delete(self._p(), ctypes.byref(st)))
        return st.value

    def resize(self, width, height):
        check(lib.ctrd_process_resize(self._p(), width, height))

    def close_stdin(self):
        check(lib.ctrd_process_close_stdin(self._p()))

    def close_stdin_on_eof(self, session):
        check(lib.ctrd_process_close_stdin_on_eof(self._p(), session._p()))


# ---- images ----------------------------------------------------------------------------


class Image(_Handle):
    """An image record (Client.get_image)."""

    _free_name = "ctrd_image_free"
    _kind = "image"

    @property
    def name(self):
        return lib.ctrd_image_name(self._p()).decode()

    @property
    def digest(self):
        return lib.ctrd_image_digest(self._p()).decode()

    def size(self):
        out = ctypes.c_uint64()
        check(lib.ctrd_image_size(self._p(), ctypes.byref(out)))
        return out.value

    def config(self):
        """The OCI image config for this platform, as a dict."""
        out = ctypes.c_void_p()
        check(lib.ctrd_image_config_json(self._p(), ctypes.byref(out)))
        return json.loads(take_string(out))

    def is_unpacked(self, snapshotter=None):
        out = ctypes.c_bool()
        check(lib.ctrd_image_is_unpacked(self._p(), enc(snapshotter, "snapshotter"), ctypes.byref(out)))
        return out.value

    def unpack(self, snapshotter=None):
        """Unpacks the image's layers for this platform onto `snapshotter`
        (None = overlayfs), skipping those unpacked already
        (ctrd_image_unpack). Blocks until done; nothing is left behind on
        failure."""
        check(lib.ctrd_image_unpack(self._p(), enc(snapshotter, "snapshotter")))


# ---- stdio --------------------------------------------------------------------------------

#: attach() argument: collect that output stream in memory (IoSession.collect).
CAPTURE = object()


class FifoSet(_Handle):
    """The stdio FIFOs of one task or exec process, in a fresh directory
    (under `dir`, None = the library's default). Close it only after the task
    or process was deleted: closing removes the FIFOs."""

    _free_name = "ctrd_fifo_set_free"
    _kind = "FIFO set"

    def __init__(self, id, dir=None, stdin=False, terminal=False):
        out = ctypes.c_void_p()
        check(lib.ctrd_fifo_set_create(enc(dir, "dir"), enc(id, "id"), bool(stdin), bool(terminal), ctypes.byref(out)))
        super().__init__(out.value)

    @property
    def dir(self):
        return lib.ctrd_fifo_set_dir(self._p()).decode()

    @property
    def io(self):
        io = _ffi.CIo()
        check(lib.ctrd_fifo_set_io(self._p(), ctypes.byref(io)))
        return IoPaths._from_c(io)

    def attach(self, stdin=None, stdout=None, stderr=None):
        """Starts copying between the FIFOs and the caller's side (see
        attach())."""
        return attach(self.io, stdin, stdout, stderr)


def _fd_of(x):
    if isinstance(x, int):
        return x
    return x.fileno()


def attach(io, stdin=None, stdout=None, stderr=None):
    """Starts copying, in the background, between the FIFOs of `io` (IoPaths
    or FifoSet) and the caller: each stream may be None (stdin: not fed;
    output: read and dropped), a file descriptor or an object with fileno();
    stdout and stderr may be CAPTURE (kept in memory, see
    IoSession.collect), and stdin bytes or str (fed, then end of file).
    Returns the IoSession."""
    if isinstance(io, FifoSet):
        io = io.io
    mine = []  # our pipe ends handed to the library (it keeps duplicates)
    readers, writer, feed_w = {}, None, None
    fds = []
    try:
        if isinstance(stdin, (bytes, str)):
            data = stdin.encode() if isinstance(stdin, str) else stdin
            r, feed_w = os.pipe()
            mine.append(r)
            writer = threading.Thread(target=_feed, args=(feed_w, data), daemon=True)
            fds.append(r)
        else:
            fds.append(-1 if stdin is None else _fd_of(stdin))
        for name, s in (("stdout", stdout), ("stderr", stderr)):
            if s is CAPTURE:
                r, w = os.pipe()
                mine.append(w)
                readers[name] = _Reader(r)
                fds.append(w)
            else:
                fds.append(-1 if s is None else _fd_of(s))
        out = ctypes.c_void_p()
        check(lib.ctrd_io_attach(ctypes.byref(io._c()), fds[0], fds[1], fds[2], ctypes.byref(out)))
    except BaseException:
        for r in readers.values():
            os.close(r.fd)
        if feed_w is not None:
            os.close(feed_w)
        raise
    finally:
        for fd in mine:
            os.close(fd)
    for r in readers.values():
        r.start()
    if writer is not None:
        writer.start()
    return IoSession(out.value, readers)


def _feed(fd, data):
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError:
        pass
    finally:
        os.close(fd)


class _Reader(threading.Thread):
    def __init__(self, fd):
        super().__init__(daemon=True)
        self.fd = fd
        self.chunks = []

    def run(self):
        try:
            while True:
                b = os.read(self.fd, 65536)
                if not b:
                    break
                self.chunks.append(b)
        finally:
            os.close(self.fd)

    def data(self):
        return b"".join(self.chunks)


class IoSession(_Handle):
    """A background copy between a task's FIFOs and the caller (attach()).
    Close it after the task was deleted (nothing read is dropped)."""

    _free_name = "ctrd_io_session_free"
    _kind = "IO session"

    def __init__(self, ptr, readers):
        super().__init__(ptr)
        self._readers = readers

    def wait(self, timeout=None):
        """Waits until the output streams reached end of file and were all
        written out; DeadlineExceeded on timeout (seconds; None = for ever)."""
        check(lib.ctrd_io_session_wait(self._p(), _ms(timeout)))

    def close(self):
        super().close()  # closes the library's ends of our pipes
        for r in self._readers.values():
            if r.is_alive():
                r.join()

    def collect(self, timeout=None):
        """Waits for the output (as wait()), closes the session and returns
        (stdout, stderr): the bytes of the streams attached with CAPTURE
        (None for the others)."""
        self.wait(timeout)
        self.close()
        return tuple(self._readers[n].data() if n in self._readers else None
                     for n in ("stdout", "stderr"))
