package containerdc

/*
#cgo pkg-config: containerd-c
#include <stdlib.h>
#include "ctrdgo.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Version returns the version of the containerd-c library this program
// runs with, e.g. "0.1.0" (ctrd_version).
func Version() string {
	return C.GoString(C.ctrd_version())
}

// call runs f, one library call, with the goroutine locked to its OS
// thread, and on failure reads the thread's ctrd_last_error() before
// unlocking it: the message is the one of this call even when the
// goroutine moves to another thread right after.
func call(f func() C.enum_ctrd_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := f()
	if s == C.CTRD_OK {
		return nil
	}
	return &Error{Status: Status(s), Name: Status(s).String(), Message: C.GoString(C.ctrd_last_error())}
}

// liveHandles counts the runtime/cgo.Handles of subscriptions, waits and
// progress functions not deleted yet (the tests check that they are).
var liveHandles atomic.Int64

// newCgoHandle registers v for the library's callbacks (their user_data).
func newCgoHandle(v any) cgo.Handle {
	liveHandles.Add(1)
	return cgo.NewHandle(v)
}

// deleteCgoHandle deletes h once the library can no longer call back
// with it.
func deleteCgoHandle(h cgo.Handle) {
	h.Delete()
	liveHandles.Add(-1)
}

// handle is the owned pointer of a library object, guarded so that
// freeing it cannot race with a call that uses it: calls hold the read
// lock, close takes the write lock (and so waits for calls in progress).
type handle[T any] struct {
	mu   sync.RWMutex
	p    *T
	free func(*T)
	kind string
}

func newHandle[T any](p *T, kind string, free func(*T)) *handle[T] {
	return &handle[T]{p: p, free: free, kind: kind}
}

// do runs the library call f on the live pointer (see call); a closed
// handle is an *Error with StatusInvalidArgument.
func (h *handle[T]) do(f func(p *T) C.enum_ctrd_status) error {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.p == nil {
		return h.closedError()
	}
	return call(func() C.enum_ctrd_status { return f(h.p) })
}

// do2 runs the library call f on the live pointers of two handles.
func do2[A, B any](ha *handle[A], hb *handle[B], f func(a *A, b *B) C.enum_ctrd_status) error {
	ha.mu.RLock()
	defer ha.mu.RUnlock()
	if ha.p == nil {
		return ha.closedError()
	}
	hb.mu.RLock()
	defer hb.mu.RUnlock()
	if hb.p == nil {
		return hb.closedError()
	}
	return call(func() C.enum_ctrd_status { return f(ha.p, hb.p) })
}

// get runs f, a call that cannot fail (an accessor), on the live pointer;
// false when the handle is closed.
func (h *handle[T]) get(f func(p *T)) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if h.p == nil {
		return false
	}
	f(h.p)
	return true
}

func (h *handle[T]) closedError() error {
	return newError(StatusInvalidArgument, "containerdc: use of a closed "+h.kind)
}

// close frees the library object once; later calls are no-ops.
func (h *handle[T]) close() {
	h.mu.Lock()
	p := h.p
	h.p = nil
	h.mu.Unlock()
	if p != nil {
		h.free(p)
	}
}

// cArgs holds the C copies of a call's arguments, freed together; the
// first argument that cannot be passed (a NUL byte in a string) is kept in
// err and named by it.
type cArgs struct {
	ptrs []unsafe.Pointer
	err  error
}

// str is a C copy of s.
func (a *cArgs) str(what, s string) *C.char {
	if strings.IndexByte(s, 0) >= 0 {
		if a.err == nil {
			a.err = newError(StatusInvalidArgument, "containerdc: "+what+" contains a NUL byte")
		}
		return nil
	}
	p := C.CString(s)
	a.ptrs = append(a.ptrs, unsafe.Pointer(p))
	return p
}

// opt is a C copy of s, or NULL for "" (the library's default).
func (a *cArgs) opt(what, s string) *C.char {
	if s == "" {
		return nil
	}
	return a.str(what, s)
}

// strs is a NULL-terminated C array of copies of items (NULL for a nil
// slice; an empty array for an empty one).
func (a *cArgs) strs(what string, items []string) **C.char {
	if items == nil {
		return nil
	}
	n := len(items) + 1
	arr := unsafe.Slice((**C.char)(C.calloc(C.size_t(n), C.size_t(unsafe.Sizeof((*C.char)(nil))))), n)
	a.ptrs = append(a.ptrs, unsafe.Pointer(&arr[0]))
	for i, s := range items {
		arr[i] = a.str(what, s)
	}
	return &arr[0]
}

// labels is a NULL-terminated C array of "key=value" items, sorted by
// key (NULL for a nil map).
func (a *cArgs) labels(what string, m map[string]string) **C.char {
	if m == nil {
		return nil
	}
	items := make([]string, 0, len(m))
	for k, v := range m {
		items = append(items, k+"="+v)
	}
	sort.Strings(items)
	return a.strs(what, items)
}

func (a *cArgs) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
	a.ptrs = nil
}

// takeString copies a library-owned string and frees it ("" for NULL).
func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	defer C.ctrd_string_free(s)
	return C.GoString(s)
}

// takeStrings copies a library-owned string array and frees it.
func takeStrings(items **C.char, n C.size_t) []string {
	out := make([]string, 0, int(n))
	if items == nil {
		return out
	}
	defer C.ctrd_string_array_free(items, n)
	for _, s := range unsafe.Slice(items, int(n)) {
		out = append(out, C.GoString(s))
	}
	return out
}

// millis converts a timeout for the library's int64 milliseconds: a
// negative one waits for ever (-1); a positive one below a millisecond
// counts as one.
func millis(d time.Duration) C.int64_t {
	if d < 0 {
		return -1
	}
	ms := d / time.Millisecond
	if d%time.Millisecond != 0 {
		ms++
	}
	return C.int64_t(ms)
}
