"""The C library: where it is found, the prototypes of its functions, and
the translation of its status codes into exceptions.

Every function of the library that this package calls gets its argtypes and
restype here: ctypes would otherwise pass Python ints as 32-bit C ints
(truncating pointers) and read every result as an int."""

import ctypes
import ctypes.util
import os
import sys
import threading

LIB_ENV = "CONTAINERD_C_LIB"
LIB_FILE = "libcontainerd_c.so"

_P = ctypes.c_void_p  # every opaque handle
_S = ctypes.c_char_p  # borrowed / input strings
_STATUS = ctypes.c_int
_OUT_P = ctypes.POINTER(ctypes.c_void_p)
_OUT_STR = ctypes.POINTER(ctypes.c_void_p)  # char ** owned by the caller
_STR_ARRAY = ctypes.POINTER(ctypes.c_char_p)  # const char *const * (NULL-terminated)
_OUT_STR_ARRAY = ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p))
_OUT_SIZE = ctypes.POINTER(ctypes.c_size_t)
_OUT_U32 = ctypes.POINTER(ctypes.c_uint32)
_OUT_U64 = ctypes.POINTER(ctypes.c_uint64)


class CIo(ctypes.Structure):
    """struct ctrd_io."""

    _fields_ = [
        ("stdin_path", ctypes.c_char_p),
        ("stdout_path", ctypes.c_char_p),
        ("stderr_path", ctypes.c_char_p),
        ("terminal", ctypes.c_bool),
    ]


class CContainerOpts(ctypes.Structure):
    """struct ctrd_container_opts; `struct_size` is set on construction."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("id", ctypes.c_char_p),
        ("spec_json", ctypes.c_char_p),
        ("image", ctypes.c_char_p),
        ("snapshotter", ctypes.c_char_p),
        ("snapshot_key", ctypes.c_char_p),
        ("runtime", ctypes.c_char_p),
        ("labels", _STR_ARRAY),
        ("runtime_options_json", ctypes.c_char_p),
    ]

    def __init__(self, **fields):
        super().__init__(struct_size=ctypes.sizeof(CContainerOpts), **fields)


class CProgress(ctypes.Structure):
    """struct ctrd_progress (filled in by the library; valid during the
    callback only)."""

    _fields_ = [
        ("ref", ctypes.c_char_p),
        ("phase", ctypes.c_char_p),
        ("bytes_done", ctypes.c_uint64),
        ("bytes_total", ctypes.c_uint64),
        ("layers_done", ctypes.c_uint32),
        ("layers_total", ctypes.c_uint32),
        ("retries", ctypes.c_uint32),
    ]


PROGRESS_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(CProgress))


class CPullOpts(ctypes.Structure):
    """struct ctrd_pull_opts; `struct_size` is set on construction."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("platform", ctypes.c_char_p),
        ("snapshotter", ctypes.c_char_p),
        ("no_unpack", ctypes.c_bool),
        ("username", ctypes.c_char_p),
        ("secret", ctypes.c_char_p),
        ("plain_http", ctypes.c_bool),
        ("skip_verify", ctypes.c_bool),
        ("ca_file", ctypes.c_char_p),
        ("progress", PROGRESS_CB),
        ("user_data", ctypes.c_void_p),
        ("cancel", ctypes.c_void_p),
        ("timeout_ms", ctypes.c_uint64),
        ("hosts_dir", ctypes.c_char_p),
    ]

    def __init__(self, **fields):
        super().__init__(struct_size=ctypes.sizeof(CPullOpts), **fields)


class CCompletion(ctypes.Structure):
    """struct ctrd_completion (filled in by ctrd_queue_next)."""

    _fields_ = [
        ("tag", ctypes.c_uint64),
        ("status", ctypes.c_int),
        ("error", ctypes.c_void_p),
        ("container", ctypes.c_void_p),
        ("task", ctypes.c_void_p),
        ("process", ctypes.c_void_p),
        ("image", ctypes.c_void_p),
        ("exit_status", ctypes.c_uint32),
        ("names", ctypes.POINTER(ctypes.c_char_p)),
        ("names_len", ctypes.c_size_t),
    ]

class CPushOpts(ctypes.Structure):
    """struct ctrd_push_opts; `struct_size` is set on construction."""

    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("platform", ctypes.c_char_p),
        ("username", ctypes.c_char_p),
        ("secret", ctypes.c_char_p),
        ("plain_http", ctypes.c_bool),
        ("skip_verify", ctypes.c_bool),
        ("ca_file", ctypes.c_char_p),
        ("hosts_dir", ctypes.c_char_p),
        ("progress", PROGRESS_CB),
        ("user_data", ctypes.c_void_p),
        ("cancel", ctypes.c_void_p),
        ("timeout_ms", ctypes.c_uint64),
    ]

    def __init__(self, **fields):
        super().__init__(struct_size=ctypes.sizeof(CPushOpts), **fields)


EVENT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p)
EXIT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32)

# name: (restype, argtypes)
_PROTOTYPES = {
    "ctrd_version": (_S, []),
    "ctrd_status_name": (_S, [ctypes.c_int]),
    "ctrd_last_error": (_S, []),
    "ctrd_string_free": (None, [ctypes.c_void_p]),
    "ctrd_string_array_free": (None, [ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]),
    "ctrd_pids_free": (None, [ctypes.POINTER(ctypes.c_uint32), ctypes.c_size_t]),
    # client
    "ctrd_client_connect": (_STATUS, [_S, _S, _OUT_P]),
    "ctrd_client_set_timeout_ms": (_STATUS, [_P, ctypes.c_uint64]),
    "ctrd_client_server_version": (_STATUS, [_P, _OUT_STR, _OUT_STR]),
    "ctrd_client_server_info_json": (_STATUS, [_P, _OUT_STR]),
    "ctrd_client_namespace": (_S, [_P]),
    "ctrd_client_free": (None, [_P]),
    # spec
    "ctrd_spec_generate": (_STATUS, [_P, _S, _S, _STR_ARRAY, _OUT_STR]),
    "ctrd_spec_patch": (_STATUS, [_S, _S, _OUT_STR]),
    # snapshots
    "ctrd_snapshot_prepare_from_image": (_STATUS, [_P, _S, _S, _S]),
    "ctrd_snapshot_remove": (_STATUS, [_P, _S, _S]),
    # containers
    "ctrd_container_create": (_STATUS, [_P, ctypes.POINTER(CContainerOpts), _OUT_P]),
    "ctrd_container_load": (_STATUS, [_P, _S, _OUT_P]),
    "ctrd_container_list": (_STATUS, [_P, _S, _OUT_STR_ARRAY, _OUT_SIZE]),
    "ctrd_container_id": (_S, [_P]),
    "ctrd_container_spec_json": (_STATUS, [_P, _OUT_STR]),
    "ctrd_container_info_json": (_STATUS, [_P, _OUT_STR]),
    "ctrd_container_refresh": (_STATUS, [_P]),
    "ctrd_container_set_labels": (_STATUS, [_P, _STR_ARRAY]),
    "ctrd_container_update_spec": (_STATUS, [_P, _S]),
    "ctrd_container_delete": (_STATUS, [_P, ctypes.c_uint32]),
    "ctrd_container_commit": (_STATUS, [_P, _S, ctypes.c_uint32, _OUT_P]),
    "ctrd_container_free": (None, [_P]),
    "ctrd_container_new_task": (_STATUS, [_P, ctypes.POINTER(CIo), _OUT_P]),
    "ctrd_container_load_task": (_STATUS, [_P, _OUT_P]),
    # tasks
    "ctrd_task_io": (_STATUS, [_P, ctypes.POINTER(CIo)]),
    "ctrd_task_fifo_dir": (_S, [_P]),
    "ctrd_task_id": (_S, [_P]),
    "ctrd_task_pid": (ctypes.c_uint32, [_P]),
    "ctrd_task_start": (_STATUS, [_P]),
    "ctrd_task_wait": (_STATUS, [_P, ctypes.c_int64, _OUT_U32]),
    "ctrd_task_kill": (_STATUS, [_P, ctypes.c_int, ctypes.c_uint32]),
    "ctrd_task_status": (_STATUS, [_P, ctypes.POINTER(ctypes.c_int), _OUT_U32]),
    "ctrd_task_delete": (_STATUS, [_P, ctypes.c_uint32, _OUT_U32]),
    "ctrd_task_close_stdin": (_STATUS, [_P]),
    "ctrd_task_close_stdin_on_eof": (_STATUS, [_P, _P]),
    "ctrd_task_resize": (_STATUS, [_P, ctypes.c_uint32, ctypes.c_uint32]),
    "ctrd_task_pause": (_STATUS, [_P]),
    "ctrd_task_resume": (_STATUS, [_P]),
    "ctrd_task_pids": (_STATUS, [_P, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)), _OUT_SIZE]),
    "ctrd_task_metrics_json": (_STATUS, [_P, _OUT_STR]),
    "ctrd_task_update": (_STATUS, [_P, _S]),
    "ctrd_task_exec": (_STATUS, [_P, _S, _S, ctypes.POINTER(CIo), _OUT_P]),
    "ctrd_task_wait_async": (_STATUS, [_P, EXIT_CB, ctypes.c_void_p, _OUT_P]),
    "ctrd_task_free": (None, [_P]),
    # exec processes
    "ctrd_process_start": (_STATUS, [_P]),
    "ctrd_process_wait": (_STATUS, [_P, ctypes.c_int64, _OUT_U32]),
    "ctrd_process_kill": (_STATUS, [_P, ctypes.c_int]),
    "ctrd_process_delete": (_STATUS, [_P, _OUT_U32]),
    "ctrd_process_resize": (_STATUS, [_P, ctypes.c_uint32, ctypes.c_uint32]),
    "ctrd_process_close_stdin": (_STATUS, [_P]),
    "ctrd_process_close_stdin_on_eof": (_STATUS, [_P, _P]),
    "ctrd_process_pid": (ctypes.c_uint32, [_P]),
    "ctrd_process_wait_async": (_STATUS, [_P, EXIT_CB, ctypes.c_void_p, _OUT_P]),
    "ctrd_process_free": (None, [_P]),
    "ctrd_wait_free": (None, [_P]),
    # stdio
    "ctrd_fifo_set_create": (_STATUS, [_S, _S, ctypes.c_bool, ctypes.c_bool, _OUT_P]),
    "ctrd_fifo_set_io": (_STATUS, [_P, ctypes.POINTER(CIo)]),
    "ctrd_fifo_set_dir": (_S, [_P]),
    "ctrd_fifo_set_free": (None, [_P]),
    "ctrd_io_attach": (_STATUS, [ctypes.POINTER(CIo), ctypes.c_int, ctypes.c_int, ctypes.c_int, _OUT_P]),
    "ctrd_io_session_wait": (_STATUS, [_P, ctypes.c_int64]),
    "ctrd_io_session_free": (None, [_P]),
    # events
    "ctrd_events_subscribe": (_STATUS, [_P, _STR_ARRAY, EVENT_CB, ctypes.c_void_p, _OUT_P]),
    "ctrd_subscription_free": (None, [_P]),
    # images
    "ctrd_image_get": (_STATUS, [_P, _S, _OUT_P]),
    "ctrd_image_list": (_STATUS, [_P, _S, _OUT_STR_ARRAY, _OUT_SIZE]),
    "ctrd_image_name": (_S, [_P]),
    "ctrd_image_digest": (_S, [_P]),
    "ctrd_image_size": (_STATUS, [_P, _OUT_U64]),
    "ctrd_image_config_json": (_STATUS, [_P, _OUT_STR]),
    "ctrd_image_is_unpacked": (_STATUS, [_P, _S, ctypes.POINTER(ctypes.c_bool)]),
    "ctrd_image_unpack": (_STATUS, [_P, _S]),
    "ctrd_cancel_new": (_STATUS, [_OUT_P]),
    "ctrd_cancel_trigger": (None, [_P]),
    "ctrd_cancel_is_triggered": (ctypes.c_bool, [_P]),
    "ctrd_cancel_free": (None, [_P]),
    "ctrd_image_pull": (_STATUS, [_P, _S, ctypes.POINTER(CPullOpts), _OUT_P]),
    "ctrd_image_import": (_STATUS, [_P, _S, ctypes.POINTER(CPullOpts), _OUT_STR_ARRAY, _OUT_SIZE]),
    "ctrd_image_export": (_STATUS, [_P, _STR_ARRAY, _S]),
    "ctrd_image_import_fd": (_STATUS, [_P, ctypes.c_int, ctypes.POINTER(CPullOpts), _OUT_STR_ARRAY, _OUT_SIZE]),
    "ctrd_image_export_fd": (_STATUS, [_P, _STR_ARRAY, ctypes.c_int]),
    "ctrd_image_tag": (_STATUS, [_P, _S, _S, ctypes.c_uint32]),
    "ctrd_image_push": (_STATUS, [_P, _S, _S, ctypes.POINTER(CPushOpts)]),
    "ctrd_image_delete": (_STATUS, [_P, _S, ctypes.c_uint32]),
    "ctrd_image_free": (None, [_P]),
    # the completion queue (containerd_c.aio)
    "ctrd_queue_new": (_STATUS, [_OUT_P]),
    "ctrd_queue_fd": (ctypes.c_int, [_P]),
    "ctrd_queue_next": (_STATUS, [_P, ctypes.c_int64, ctypes.POINTER(CCompletion)]),
    "ctrd_queue_cancel": (_STATUS, [_P, ctypes.c_uint64]),
    "ctrd_queue_free": (None, [_P]),
    "ctrd_client_server_version_submit": (_STATUS, [_P, _P, ctypes.c_uint64]),
    "ctrd_image_pull_submit": (_STATUS, [_P, _S, ctypes.POINTER(CPullOpts), _P, ctypes.c_uint64]),
    "ctrd_image_import_submit": (_STATUS, [_P, _S, ctypes.POINTER(CPullOpts), _P, ctypes.c_uint64]),
    "ctrd_image_push_submit": (_STATUS, [_P, _S, _S, ctypes.POINTER(CPushOpts), _P, ctypes.c_uint64]),
    "ctrd_snapshot_prepare_from_image_submit": (_STATUS, [_P, _S, _S, _S, _P, ctypes.c_uint64]),
    "ctrd_container_create_submit": (_STATUS, [_P, ctypes.POINTER(CContainerOpts), _P, ctypes.c_uint64]),
    "ctrd_container_load_submit": (_STATUS, [_P, _S, _P, ctypes.c_uint64]),
    "ctrd_container_delete_submit": (_STATUS, [_P, ctypes.c_uint32, _P, ctypes.c_uint64]),
    "ctrd_container_new_task_submit": (_STATUS, [_P, ctypes.POINTER(CIo), _P, ctypes.c_uint64]),
    "ctrd_task_start_submit": (_STATUS, [_P, _P, ctypes.c_uint64]),
    "ctrd_task_kill_submit": (_STATUS, [_P, ctypes.c_int, ctypes.c_uint32, _P, ctypes.c_uint64]),
    "ctrd_task_wait_submit": (_STATUS, [_P, _P, ctypes.c_uint64]),
    "ctrd_task_delete_submit": (_STATUS, [_P, ctypes.c_uint32, _P, ctypes.c_uint64]),
    "ctrd_process_start_submit": (_STATUS, [_P, _P, ctypes.c_uint64]),
    "ctrd_process_wait_submit": (_STATUS, [_P, _P, ctypes.c_uint64]),
    # namespaces
    "ctrd_namespace_create": (_STATUS, [_P, _S, _STR_ARRAY]),
    "ctrd_namespace_list": (_STATUS, [_P, _OUT_STR_ARRAY, _OUT_SIZE]),
    "ctrd_namespace_delete": (_STATUS, [_P, _S]),
}


class LibraryNotFound(OSError):
    """The shared library libcontainerd_c.so could not be loaded."""


def candidates():
    """The places searched for the library, in order: $CONTAINERD_C_LIB
    alone when set; else this package's directory, <sys.prefix>/lib, then
    the system loader's path."""
    env = os.environ.get(LIB_ENV)
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    found = ctypes.util.find_library("containerd_c")
    return [
        os.path.join(here, LIB_FILE),
        os.path.join(sys.prefix, "lib", LIB_FILE),
        found or LIB_FILE,  # a bare name: the dynamic loader's search path
    ]


def _load():
    env = os.environ.get(LIB_ENV)
    tried = []
    for path in candidates():
        if not env and os.sep in path and not os.path.exists(path):
            tried.append("%s: absent" % path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(str(e))
    if env:
        raise LibraryNotFound("containerd_c: cannot load $%s (%s): %s" % (LIB_ENV, env, tried[0]))
    raise LibraryNotFound("containerd_c: cannot find %s (set $%s to its path); tried: %s"
                          % (LIB_FILE, LIB_ENV, "; ".join(tried)))


class _Lib:
    """The loaded library with prototypes set, made on first use."""

    _lock = threading.Lock()
    _cdll = None

    def get(self):
        cdll = self._cdll
        if cdll is None:
            with self._lock:
                cdll = self._cdll
                if cdll is None:
                    cdll = _load()
                    for name, (res, args) in _PROTOTYPES.items():
                        fn = getattr(cdll, name)
                        fn.restype = res
                        fn.argtypes = args
                    type(self)._cdll = cdll
        return cdll

    def __getattr__(self, name):
        return getattr(self.get(), name)


lib = _Lib()


# ---- errors ---------------------------------------------------------------

STATUS_NAMES = {
    0: "CTRD_OK",
    1: "CTRD_ERR_INVALID_ARGUMENT",
    2: "CTRD_ERR_NOT_FOUND",
    3: "CTRD_ERR_ALREADY_EXISTS",
    4: "CTRD_ERR_FAILED_PRECONDITION",
    5: "CTRD_ERR_UNAVAILABLE",
    6: "CTRD_ERR_DEADLINE_EXCEEDED",
    7: "CTRD_ERR_NOT_IMPLEMENTED",
    8: "CTRD_ERR_PERMISSION_DENIED",
    9: "CTRD_ERR_CANCELLED",
    10: "CTRD_ERR_IO",
    11: "CTRD_ERR_FORKED",
    12: "CTRD_ERR_INTERNAL",
    13: "CTRD_ERR_UNKNOWN",
    14: "CTRD_ERR_UNAUTHENTICATED",
}


class Error(Exception):
    """A failed call of the library: `status` (the ctrd_status value),
    `name` (e.g. "CTRD_ERR_NOT_FOUND") and `message` (ctrd_last_error(): what
    failed, on which object, and the daemon's words)."""

    status = -1

    def __init__(self, status, name, message):
        super().__init__(status, name, message)
        self.status = status
        self.name = name
        self.message = message

    def __str__(self):
        return "%s: %s" % (self.name, self.message) if self.message else self.name

    def __reduce__(self):
        return (error_for, (self.status, self.name, self.message))


class InvalidArgument(Error):
    """CTRD_ERR_INVALID_ARGUMENT."""


class NotFound(Error):
    """CTRD_ERR_NOT_FOUND."""


class AlreadyExists(Error):
    """CTRD_ERR_ALREADY_EXISTS."""


class FailedPrecondition(Error):
    """CTRD_ERR_FAILED_PRECONDITION."""


class Unavailable(Error):
    """CTRD_ERR_UNAVAILABLE: the daemon is not reachable."""


class DeadlineExceeded(Error):
    """CTRD_ERR_DEADLINE_EXCEEDED: a timeout passed."""


class Unimplemented(Error):
    """CTRD_ERR_NOT_IMPLEMENTED."""


class PermissionDenied(Error):
    """CTRD_ERR_PERMISSION_DENIED."""


class Cancelled(Error):
    """CTRD_ERR_CANCELLED."""


class IoError(Error):
    """CTRD_ERR_IO: a local OS error (FIFO, file descriptor, file)."""


class Forked(Error):
    """CTRD_ERR_FORKED: the library was used in a child after fork()."""


class InternalError(Error):
    """CTRD_ERR_INTERNAL."""


class UnknownError(Error):
    """CTRD_ERR_UNKNOWN."""


class Unauthenticated(Error):
    """CTRD_ERR_UNAUTHENTICATED."""


_CLASSES = {
    1: InvalidArgument, 2: NotFound, 3: AlreadyExists, 4: FailedPrecondition,
    5: Unavailable, 6: DeadlineExceeded, 7: Unimplemented, 8: PermissionDenied,
    9: Cancelled, 10: IoError, 11: Forked, 12: InternalError, 13: UnknownError,
    14: Unauthenticated,
}


def error_for(status, name=None, message=""):
    """The exception for `status` (the subclass of Error of that status)."""
    if name is None:
        name = status_name(status)
    return _CLASSES.get(status, Error)(status, name, message)


def status_name(status):
    """ctrd_status_name(status) as a str."""
    return lib.ctrd_status_name(status).decode()


def check(status):
    """Raises the Error of `status` unless it is CTRD_OK; the message is read
    at once, on this thread (ctrd_last_error is per thread and valid until
    the next call)."""
    if status != 0:
        message = lib.ctrd_last_error().decode("utf-8", "replace")
        raise error_for(status, status_name(status), message)


def take_string(ptr):
    """Copies a char * the library returned (a c_void_p) into a str and frees it."""
    if not ptr.value:
        return None
    try:
        return ctypes.string_at(ptr.value).decode("utf-8", "replace")
    finally:
        lib.ctrd_string_free(ptr)


def take_string_array(items, n):
    """Copies an array of strings the library returned and frees it."""
    try:
        return [items[i].decode("utf-8", "replace") for i in range(n.value)]
    finally:
        lib.ctrd_string_array_free(items, n)


def enc(s, what="string argument"):
    """str (or bytes, or a path, or None) to bytes for the const char *
    argument `what`. Every string passed to the library goes through here:
    one holding a NUL byte (which C would take for its end, so that
    "prod\\x00x" would be namespace "prod") raises ValueError naming `what`."""
    if s is None:
        return None
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    if isinstance(s, str):
        s = s.encode()
    elif not isinstance(s, bytes):
        raise TypeError("%s: expected str, got %s" % (what, type(s).__name__))
    if b"\0" in s:
        raise ValueError("containerd_c: %s contains a NUL byte" % what)
    return s


def str_array(items, what="string argument"):
    """A NULL-terminated const char *const * from an iterable of str (None
    stays NULL); each item goes through enc(item, what). A None item raises
    TypeError naming `what` (as NULL it would end the array there: C would
    see ["sh", None, "-c", "x"] as ["sh"]). The result keeps the bytes
    alive."""
    if items is None:
        return None
    encoded = []
    for n, i in enumerate(items):
        if i is None:
            raise TypeError("%s[%d]: expected str, got None" % (what, n))
        encoded.append(enc(i, what))
    arr = (ctypes.c_char_p * (len(encoded) + 1))(*encoded, None)
    return ctypes.cast(arr, _STR_ARRAY)  # the cast keeps `arr` alive
