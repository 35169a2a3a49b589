package containerdc

/*
#include <stdlib.h>
#include "ctrdgo.h"
*/
import "C"

import (
	"runtime"
	"syscall"
	"time"
	"unsafe"
)

// TaskState is the state of a task (ctrd_task_state).
type TaskState int

// The task states.
const (
	TaskUnknown TaskState = 0 // the daemon did not say
	TaskCreated TaskState = 1 // created, not started
	TaskRunning TaskState = 2
	TaskStopped TaskState = 3 // exited; the exit status is known
	TaskPaused  TaskState = 4
	TaskPausing TaskState = 5
)

// String returns "created", "running", "stopped", "paused", "pausing" or
// "unknown".
func (s TaskState) String() string {
	switch s {
	case TaskCreated:
		return "created"
	case TaskRunning:
		return "running"
	case TaskStopped:
		return "stopped"
	case TaskPaused:
		return "paused"
	case TaskPausing:
		return "pausing"
	}
	return "unknown"
}

// KillFlags are the flags of (*Task).Kill.
type KillFlags uint32

// KillAll signals every process of the task, not only its init process.
const KillAll KillFlags = 1

// TaskDeleteFlags are the flags of (*Task).Delete.
type TaskDeleteFlags uint32

// TaskDeleteForce kills (SIGKILL) and waits for a task that still runs
// before deleting it.
const TaskDeleteForce TaskDeleteFlags = 1

// Task is a container's task, its init process (ctrd_task). Its methods
// may be called from several goroutines at once. Closing the handle does
// not stop the task (see Delete).
type Task struct {
	h *handle[C.ctrd_task]
}

func newTask(p *C.ctrd_task) *Task {
	t := &Task{h: newHandle(p, "Task", func(p *C.ctrd_task) { C.ctrd_task_free(p) })}
	runtime.SetFinalizer(t, (*Task).Close)
	return t
}

// Close frees the handle (ctrd_task_free); the task goes on. It waits for
// calls in progress on this handle (a Wait without a timeout included).
// A pending WaitAsync still delivers. Calling it again does nothing.
func (t *Task) Close() {
	t.h.close()
}

// ID returns the task's id, its container's ("" once closed).
func (t *Task) ID() string {
	var s string
	t.h.get(func(p *C.ctrd_task) { s = C.GoString(C.ctrd_task_id(p)) })
	return s
}

// Pid returns the pid of the task's init process (0 once closed, or
// before Start of a task restored from a checkpoint).
func (t *Task) Pid() uint32 {
	var pid uint32
	t.h.get(func(p *C.ctrd_task) { pid = uint32(C.ctrd_task_pid(p)) })
	return pid
}

// FifoDir returns the directory of the task's first stdio path (where a
// FIFO set lives); "" without stdio.
func (t *Task) FifoDir() string {
	var s string
	t.h.get(func(p *C.ctrd_task) { s = C.GoString(C.ctrd_task_fifo_dir(p)) })
	return s
}

// IO returns the task's stdio paths ("" for an unused stream), e.g. to
// re-attach to a loaded task with Attach.
func (t *Task) IO() (IO, error) {
	var out IO
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status {
		var c C.ctrd_io
		s := C.ctrd_task_io(p, &c)
		out = ioFromC(&c)
		return s
	})
	return out, err
}

// Start starts the created task. Blocks for one round trip. The daemon's
// errors (e.g. the command not found in the rootfs) keep its words.
func (t *Task) Start() error {
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_start(p) })
}

// Wait blocks the goroutine (and its OS thread) until the task exits and
// returns its exit status (128+n after signal n). A negative timeout waits
// for ever; when it passes first, the error has StatusDeadlineExceeded
// and the task is untouched. See WaitAsync for a channel instead.
func (t *Task) Wait(timeout time.Duration) (uint32, error) {
	ms := millis(timeout)
	var status C.uint32_t
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_wait(p, ms, &status) })
	return uint32(status), err
}

// WaitAsync starts waiting for the task's exit without blocking: the
// returned Wait's Done channel receives the result once. Close the Wait
// when done with it (that cancels it if still pending).
func (t *Task) WaitAsync() (*Wait, error) {
	return startWait(func(h C.uintptr_t, out **C.ctrd_wait) error {
		return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrdgo_task_wait_async(p, h, out) })
	})
}

// Kill sends signal (1-64) to the task's init process, or with KillAll to
// all its processes. Blocks for one round trip.
func (t *Task) Kill(signal syscall.Signal, flags KillFlags) error {
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status {
		return C.ctrd_task_kill(p, C.int(signal), C.uint32_t(flags))
	})
}

// Status returns the task's state and, once stopped, its exit status.
// Blocks for one round trip.
func (t *Task) Status() (TaskState, uint32, error) {
	var state C.enum_ctrd_task_state
	var status C.uint32_t
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_status(p, &state, &status) })
	return TaskState(state), uint32(status), err
}

// Delete deletes the stopped task and returns its exit status. A running
// task is refused (StatusFailedPrecondition) unless flags has
// TaskDeleteForce. The handle stays to be closed. Free the task's FifoSet
// only after this.
func (t *Task) Delete(flags TaskDeleteFlags) (uint32, error) {
	var status C.uint32_t
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status {
		return C.ctrd_task_delete(p, C.uint32_t(flags), &status)
	})
	return uint32(status), err
}

// CloseStdin closes the task's stdin: it reads end of file once what was
// written is consumed. Blocks for one round trip.
func (t *Task) CloseStdin() error {
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_close_stdin(p) })
}

// CloseStdinOnEOF makes session s close the task's stdin once the stdin it
// copies reached end of file and the task read it all (what ctr run does
// with a piped stdin). Returns at once.
func (t *Task) CloseStdinOnEOF(s *IOSession) error {
	if s == nil {
		return newError(StatusInvalidArgument, "containerdc: CloseStdinOnEOF: nil session")
	}
	return do2(t.h, s.h, func(tp *C.ctrd_task, sp *C.ctrd_io_session) C.enum_ctrd_status {
		return C.ctrd_task_close_stdin_on_eof(tp, sp)
	})
}

// Resize resizes the task's terminal (StatusFailedPrecondition without
// one). Blocks for one round trip.
func (t *Task) Resize(width, height uint32) error {
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status {
		return C.ctrd_task_resize(p, C.uint32_t(width), C.uint32_t(height))
	})
}

// Pause freezes every process of the task. Blocks for one round trip.
func (t *Task) Pause() error {
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_pause(p) })
}

// Resume thaws a paused task. Blocks for one round trip.
func (t *Task) Resume() error {
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_resume(p) })
}

// Pids returns the pids of every process in the task. Blocks for one
// round trip.
func (t *Task) Pids() ([]uint32, error) {
	var out []uint32
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status {
		var pids *C.uint32_t
		var n C.size_t
		s := C.ctrd_task_pids(p, &pids, &n)
		if s == C.CTRD_OK {
			out = make([]uint32, int(n))
			if n > 0 {
				for i, v := range unsafe.Slice(pids, int(n)) {
					out[i] = uint32(v)
				}
			}
			C.ctrd_pids_free(pids, n)
		}
		return s
	})
	return out, err
}

// MetricsJSON returns the task's resource usage as the daemon reports it,
// as {"type": "<type URL>", "data": {...}} (cgroup v1 or v2 statistics
// with runc). Blocks for one round trip.
func (t *Task) MetricsJSON() (string, error) {
	var out string
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_task_metrics_json(p, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// Update changes the running task's resources: resourcesJSON is an OCI
// LinuxResources object, e.g. {"memory":{"limit":67108864}}. Blocks for
// one round trip.
func (t *Task) Update(resourcesJSON string) error {
	var a cArgs
	defer a.free()
	r := a.str("resources", resourcesJSON)
	if a.err != nil {
		return a.err
	}
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_update(p, r) })
}

// Checkpoint checkpoints the running task with CRIU into a new checkpoint
// image named imageName; the task goes on running. Blocks until written.
func (t *Task) Checkpoint(imageName string) error {
	var a cArgs
	defer a.free()
	n := a.str("image name", imageName)
	if a.err != nil {
		return a.err
	}
	return t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_checkpoint(p, n) })
}

// Exec creates (not starts) exec process execID in the running task:
// processJSON is an OCI runtime-spec "process" object (args, cwd, user,
// env, terminal...), io its stdio (nil: none; attach to a FifoSet first).
// Blocks for one round trip. Errors: StatusInvalidArgument,
// StatusAlreadyExists (exec id taken), StatusNotFound,
// StatusFailedPrecondition (task not running), StatusUnavailable,
// StatusDeadlineExceeded.
func (t *Task) Exec(execID, processJSON string, io *IO) (*Process, error) {
	var a cArgs
	defer a.free()
	id := a.str("exec id", execID)
	proc := a.str("process", processJSON)
	cio := io.c(&a)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_process
	err := t.h.do(func(p *C.ctrd_task) C.enum_ctrd_status { return C.ctrd_task_exec(p, id, proc, cio, &out) })
	if err != nil {
		return nil, err
	}
	return newProcess(out), nil
}

// Process is an exec process inside a running task (ctrd_process), made
// by Task.Exec. Its methods may be called from several goroutines at
// once.
type Process struct {
	h *handle[C.ctrd_process]
}

func newProcess(p *C.ctrd_process) *Process {
	pr := &Process{h: newHandle(p, "Process", func(p *C.ctrd_process) { C.ctrd_process_free(p) })}
	runtime.SetFinalizer(pr, (*Process).Close)
	return pr
}

// Close frees the handle (ctrd_process_free); the process goes on. It
// waits for calls in progress on this handle. Calling it again does
// nothing.
func (pr *Process) Close() {
	pr.h.close()
}

// Pid returns the process's pid once started (0 before, or once closed).
func (pr *Process) Pid() uint32 {
	var pid uint32
	pr.h.get(func(p *C.ctrd_process) { pid = uint32(C.ctrd_process_pid(p)) })
	return pid
}

// Start starts the exec process. Blocks for one round trip.
func (pr *Process) Start() error {
	return pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status { return C.ctrd_process_start(p) })
}

// Wait blocks until the process exits and returns its exit status, as
// Task.Wait.
func (pr *Process) Wait(timeout time.Duration) (uint32, error) {
	ms := millis(timeout)
	var status C.uint32_t
	err := pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status { return C.ctrd_process_wait(p, ms, &status) })
	return uint32(status), err
}

// WaitAsync starts waiting for the process's exit without blocking, as
// Task.WaitAsync.
func (pr *Process) WaitAsync() (*Wait, error) {
	return startWait(func(h C.uintptr_t, out **C.ctrd_wait) error {
		return pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status {
			return C.ctrdgo_process_wait_async(p, h, out)
		})
	})
}

// Kill sends signal (1-64) to the process. Blocks for one round trip.
func (pr *Process) Kill(signal syscall.Signal) error {
	return pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status { return C.ctrd_process_kill(p, C.int(signal)) })
}

// Delete deletes the exited process and returns its exit status
// (StatusFailedPrecondition while it runs). Blocks for one round trip.
func (pr *Process) Delete() (uint32, error) {
	var status C.uint32_t
	err := pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status { return C.ctrd_process_delete(p, &status) })
	return uint32(status), err
}

// Resize resizes the process's terminal (StatusFailedPrecondition without
// one). Blocks for one round trip.
func (pr *Process) Resize(width, height uint32) error {
	return pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status {
		return C.ctrd_process_resize(p, C.uint32_t(width), C.uint32_t(height))
	})
}

// CloseStdin closes the process's stdin. Blocks for one round trip.
func (pr *Process) CloseStdin() error {
	return pr.h.do(func(p *C.ctrd_process) C.enum_ctrd_status { return C.ctrd_process_close_stdin(p) })
}

// CloseStdinOnEOF makes session s close the process's stdin once its
// stdin input ended, as Task.CloseStdinOnEOF.
func (pr *Process) CloseStdinOnEOF(s *IOSession) error {
	if s == nil {
		return newError(StatusInvalidArgument, "containerdc: CloseStdinOnEOF: nil session")
	}
	return do2(pr.h, s.h, func(pp *C.ctrd_process, sp *C.ctrd_io_session) C.enum_ctrd_status {
		return C.ctrd_process_close_stdin_on_eof(pp, sp)
	})
}
