package containerdc

/*
#include <stdint.h>
#include "containerd_c.h"
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
)

// ExitResult is the outcome of an asynchronous wait.
type ExitResult struct {
	// ExitStatus is the exit status (128+n after signal n) when Err is nil.
	ExitStatus uint32
	// Err says why the wait failed: an *Error, with StatusCancelled when
	// the Wait was closed before the exit.
	Err error
}

// Wait is a pending asynchronous wait for the exit of a task or process
// (ctrd_wait), made by Task.WaitAsync or Process.WaitAsync.
//
// Done delivers the result once. The library reports the exit on a
// thread of its own; the result reaches Go through a runtime/cgo.Handle
// that Close deletes. A Wait stays registered until its result arrived
// even when the caller drops it (the garbage collector frees it only
// after that); Close before that cancels it.
type Wait struct {
	st   *waitState
	h    cgo.Handle
	ptr  *C.ctrd_wait
	once sync.Once
}

// waitState is what the library's callback reaches through the handle.
type waitState struct {
	mu    sync.Mutex
	fired bool
	ch    chan ExitResult // capacity 1: the one send never blocks
	keep  *Wait           // the pending Wait, kept reachable until fired
}

// deliver sends r and closes the channel, once: the first of the exit and
// the cancellation wins.
func (s *waitState) deliver(r ExitResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fired {
		return
	}
	s.fired = true
	s.keep = nil
	s.ch <- r
	close(s.ch)
}

// startWait registers a waitState and calls start with its handle (the
// library's user_data).
func startWait(start func(h C.uintptr_t, out **C.ctrd_wait) error) (*Wait, error) {
	st := &waitState{ch: make(chan ExitResult, 1)}
	h := newCgoHandle(st)
	w := &Wait{st: st, h: h}
	st.mu.Lock()
	st.keep = w
	st.mu.Unlock()
	var out *C.ctrd_wait
	if err := start(C.uintptr_t(h), &out); err != nil {
		deleteCgoHandle(h) // the callback never runs when the call failed
		return nil, err
	}
	// The callback may have run already; w.ptr is only read by Close.
	w.ptr = out
	runtime.SetFinalizer(w, (*Wait).Close)
	return w, nil
}

// Done returns the channel that receives the result once (the exit, a
// failure, or StatusCancelled after Close) and is then closed. Every call
// returns the same channel; receive from it in one place.
func (w *Wait) Done() <-chan ExitResult {
	return w.st.ch
}

// Close cancels the wait if its result has not arrived (Done then
// receives an *Error with StatusCancelled) and frees it (ctrd_wait_free),
// deleting its cgo.Handle. If the library is delivering the result on
// another thread meanwhile, Close waits for that. Calling it again does
// nothing.
func (w *Wait) Close() {
	w.once.Do(func() {
		C.ctrd_wait_free(w.ptr) // after this no callback runs
		w.st.deliver(ExitResult{Err: newError(StatusCancelled, "containerdc: the wait was closed before the exit")})
		deleteCgoHandle(w.h)
	})
}
