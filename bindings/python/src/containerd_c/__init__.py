"""containerd_c: Python bindings (ctypes) of containerd-c, a containerd client
with a C ABI.

The shared library is found through $CONTAINERD_C_LIB (a path to
libcontainerd_c.so), else in this package's directory, in <sys.prefix>/lib,
then on the system loader's path. It is loaded on first use.

    import containerd_c
    with containerd_c.Client() as client:
        print(client.server_version())

Every failing call raises containerd_c.Error (a subclass per status, e.g.
NotFound) with .status, .name and .message. containerd_c.aio has the calls
that wait on the daemon as coroutines for asyncio."""

from ._api import (
    CAPTURE,
    DELETE_KEEP_SNAPSHOT,
    IMAGE_DELETE_SYNC,
    KILL_ALL,
    TASK_DELETE_FORCE,
    Cancel,
    Client,
    Container,
    Event,
    FifoSet,
    Image,
    IoPaths,
    IoSession,
    Process,
    Progress,
    Subscription,
    Task,
    TaskState,
    Wait,
    attach,
    library_version,
    spec_patch,
)
from ._ffi import (
    AlreadyExists,
    Cancelled,
    DeadlineExceeded,
    Error,
    FailedPrecondition,
    Forked,
    InternalError,
    InvalidArgument,
    IoError,
    LibraryNotFound,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    Unimplemented,
    UnknownError,
)
from ._run import run

__all__ = [
    "CAPTURE", "DELETE_KEEP_SNAPSHOT", "IMAGE_DELETE_SYNC", "KILL_ALL", "TASK_DELETE_FORCE",
    "Cancel", "Client", "Container", "Event", "FifoSet", "Image", "IoPaths", "IoSession", "Process",
    "Progress", "Subscription", "Task", "TaskState", "Wait", "attach", "library_version", "spec_patch", "run",
    "Error", "AlreadyExists", "Cancelled", "DeadlineExceeded", "FailedPrecondition", "Forked",
    "InternalError", "InvalidArgument", "IoError", "LibraryNotFound", "NotFound",
    "PermissionDenied", "Unauthenticated", "Unavailable", "Unimplemented", "UnknownError",
]
__version__ = "0.1.0"
