package containerdc

/*
#include "containerd_c.h"
*/
import "C"

// The constants of this package are written as numbers (for their
// documentation); each must equal the header's, or this does not compile
// (an index other than 0: out of range or negative).
var _ = [1]struct{}{}[StatusOK-C.CTRD_OK]
var _ = [1]struct{}{}[StatusInvalidArgument-C.CTRD_ERR_INVALID_ARGUMENT]
var _ = [1]struct{}{}[StatusNotFound-C.CTRD_ERR_NOT_FOUND]
var _ = [1]struct{}{}[StatusAlreadyExists-C.CTRD_ERR_ALREADY_EXISTS]
var _ = [1]struct{}{}[StatusFailedPrecondition-C.CTRD_ERR_FAILED_PRECONDITION]
var _ = [1]struct{}{}[StatusUnavailable-C.CTRD_ERR_UNAVAILABLE]
var _ = [1]struct{}{}[StatusDeadlineExceeded-C.CTRD_ERR_DEADLINE_EXCEEDED]
var _ = [1]struct{}{}[StatusNotImplemented-C.CTRD_ERR_NOT_IMPLEMENTED]
var _ = [1]struct{}{}[StatusPermissionDenied-C.CTRD_ERR_PERMISSION_DENIED]
var _ = [1]struct{}{}[StatusCancelled-C.CTRD_ERR_CANCELLED]
var _ = [1]struct{}{}[StatusIO-C.CTRD_ERR_IO]
var _ = [1]struct{}{}[StatusForked-C.CTRD_ERR_FORKED]
var _ = [1]struct{}{}[StatusInternal-C.CTRD_ERR_INTERNAL]
var _ = [1]struct{}{}[StatusUnknown-C.CTRD_ERR_UNKNOWN]
var _ = [1]struct{}{}[StatusUnauthenticated-C.CTRD_ERR_UNAUTHENTICATED]
var _ = [1]struct{}{}[TaskUnknown-C.CTRD_TASK_UNKNOWN]
var _ = [1]struct{}{}[TaskCreated-C.CTRD_TASK_CREATED]
var _ = [1]struct{}{}[TaskRunning-C.CTRD_TASK_RUNNING]
var _ = [1]struct{}{}[TaskStopped-C.CTRD_TASK_STOPPED]
var _ = [1]struct{}{}[TaskPaused-C.CTRD_TASK_PAUSED]
var _ = [1]struct{}{}[TaskPausing-C.CTRD_TASK_PAUSING]
var _ = [1]struct{}{}[KillAll-C.CTRD_KILL_ALL]
var _ = [1]struct{}{}[TaskDeleteForce-C.CTRD_TASK_DELETE_FORCE]
var _ = [1]struct{}{}[DeleteKeepSnapshot-C.CTRD_DELETE_KEEP_SNAPSHOT]
var _ = [1]struct{}{}[CommitNoPause-C.CTRD_COMMIT_NO_PAUSE]
var _ = [1]struct{}{}[ImageDeleteSync-C.CTRD_IMAGE_DELETE_SYNC]
