package containerdc

/*
#include "containerd_c.h"
*/
import "C"

// Status is a ctrd_status: the result code of a library call. StatusOK
// (0) is success; every other value comes with an *Error.
type Status int

// The ctrd_status values (see include/containerd_c.h for each).
const (
	StatusOK                 Status = 0
	StatusInvalidArgument    Status = 1
	StatusNotFound           Status = 2
	StatusAlreadyExists      Status = 3
	StatusFailedPrecondition Status = 4
	StatusUnavailable        Status = 5
	StatusDeadlineExceeded   Status = 6
	StatusNotImplemented     Status = 7
	StatusPermissionDenied   Status = 8
	StatusCancelled          Status = 9
	StatusIO                 Status = 10
	StatusForked             Status = 11
	StatusInternal           Status = 12
	StatusUnknown            Status = 13
	StatusUnauthenticated    Status = 14
)

// String returns the status's name, e.g. "CTRD_ERR_NOT_FOUND"
// (ctrd_status_name); "CTRD_STATUS_INVALID" for a value that is not a
// ctrd_status.
func (s Status) String() string {
	if s < 0 || s > 0xffff {
		return "CTRD_STATUS_INVALID"
	}
	return C.GoString(C.ctrd_status_name(C.ctrd_status(s)))
}

// Error is the error of every failing call of this package.
//
// Message is the library's ctrd_last_error() of the call that failed,
// read on the OS thread that made it before the goroutine could move (see
// the package documentation): what failed, on which object, and the
// daemon's own words. Errors this package finds itself before calling the
// library (a closed handle, a NUL byte in a string) have StatusInvalidArgument
// and a message starting with "containerdc: ".
type Error struct {
	// Status is the numeric ctrd_status (never StatusOK).
	Status Status
	// Name is the status's name, e.g. "CTRD_ERR_NOT_FOUND".
	Name string
	// Message says what failed.
	Message string
}

// Error returns "NAME: message" (the name alone without a message).
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Name
	}
	return e.Name + ": " + e.Message
}

// Is reports whether target is an *Error of the same Status with no
// Message (one of the Err* values), so that errors.Is(err, ErrNotFound)
// tests the status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Status == e.Status
}

func newError(s Status, message string) *Error {
	return &Error{Status: s, Name: s.String(), Message: message}
}

func sentinel(s Status) *Error {
	return &Error{Status: s, Name: s.String()}
}

// Values for errors.Is: errors.Is(err, ErrNotFound) is true for every
// *Error whose Status is StatusNotFound.
var (
	ErrInvalidArgument    = sentinel(StatusInvalidArgument)
	ErrNotFound           = sentinel(StatusNotFound)
	ErrAlreadyExists      = sentinel(StatusAlreadyExists)
	ErrFailedPrecondition = sentinel(StatusFailedPrecondition)
	ErrUnavailable        = sentinel(StatusUnavailable)
	ErrDeadlineExceeded   = sentinel(StatusDeadlineExceeded)
	ErrNotImplemented     = sentinel(StatusNotImplemented)
	ErrPermissionDenied   = sentinel(StatusPermissionDenied)
	ErrCancelled          = sentinel(StatusCancelled)
	ErrIO                 = sentinel(StatusIO)
	ErrForked             = sentinel(StatusForked)
	ErrInternal           = sentinel(StatusInternal)
	ErrUnknown            = sentinel(StatusUnknown)
	ErrUnauthenticated    = sentinel(StatusUnauthenticated)
)
