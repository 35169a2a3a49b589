package containerdc

/*
#include <stdlib.h>
#include "containerd_c.h"
*/
import "C"

import (
	"errors"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// IO is the stdio paths of a task or exec process (ctrd_io): FIFOs (or
// files), absolute; "" = that stream is not used.
type IO struct {
	Stdin, Stdout, Stderr string
	// Terminal gives the process a terminal (stdout then carries stderr).
	Terminal bool
}

// c is a ctrd_io of copies of the paths, NULL for a nil io.
func (io *IO) c(a *cArgs) *C.ctrd_io {
	if io == nil {
		return nil
	}
	out := new(C.ctrd_io)
	out.stdin_path = a.opt("Stdin path", io.Stdin)
	out.stdout_path = a.opt("Stdout path", io.Stdout)
	out.stderr_path = a.opt("Stderr path", io.Stderr)
	out.terminal = C.bool(io.Terminal)
	return out
}

func ioFromC(c *C.ctrd_io) IO {
	str := func(s *C.char) string {
		if s == nil {
			return ""
		}
		return C.GoString(s)
	}
	return IO{Stdin: str(c.stdin_path), Stdout: str(c.stdout_path), Stderr: str(c.stderr_path), Terminal: bool(c.terminal)}
}

// FifoSet is a set of stdio FIFOs for one task or exec process, in a
// fresh directory of its own (ctrd_fifo_set). Close removes them from
// disk: close it only after the task or process using them was deleted.
type FifoSet struct {
	h *handle[C.ctrd_fifo_set]
}

// NewFifoSet makes the stdio FIFOs for container (or exec process) id, as
// containerd's Go cio does: a fresh directory of mode 0700 inside dir (""
// = the library's private runtime directory, /run/containerd-c/fifo for
// root) holding <id>-stdin (only withStdin), <id>-stdout and <id>-stderr
// (not with terminal). Pass IO() to Container.NewTask or Task.Exec, and
// call Attach before that. Needs no daemon.
func NewFifoSet(dir, id string, withStdin, terminal bool) (*FifoSet, error) {
	var a cArgs
	defer a.free()
	d := a.opt("dir", dir)
	cid := a.str("id", id)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_fifo_set
	err := call(func() C.enum_ctrd_status {
		return C.ctrd_fifo_set_create(d, cid, C.bool(withStdin), C.bool(terminal), &out)
	})
	if err != nil {
		return nil, err
	}
	return &FifoSet{h: newHandle(out, "FifoSet", func(p *C.ctrd_fifo_set) { C.ctrd_fifo_set_free(p) })}, nil
}

// IO returns the set's FIFO paths ("" for a FIFO it does not have); the
// zero IO once closed.
func (f *FifoSet) IO() *IO {
	var out IO
	f.h.get(func(p *C.ctrd_fifo_set) {
		var c C.ctrd_io
		if C.ctrd_fifo_set_io(p, &c) == C.CTRD_OK {
			out = ioFromC(&c)
		}
	})
	return &out
}

// Dir returns the directory holding the set's FIFOs ("" once closed).
func (f *FifoSet) Dir() string {
	var s string
	f.h.get(func(p *C.ctrd_fifo_set) { s = C.GoString(C.ctrd_fifo_set_dir(p)) })
	return s
}

// Close removes the FIFOs and their directory and frees the set
// (ctrd_fifo_set_free). Calling it again does nothing.
func (f *FifoSet) Close() {
	f.h.close()
}

// Attach starts copying between the set's FIFOs and s; see Attach.
func (f *FifoSet) Attach(s Stdio) (*IOSession, error) {
	var paths IO
	var err error
	if !f.h.get(func(p *C.ctrd_fifo_set) {
		var c C.ctrd_io
		if st := C.ctrd_fifo_set_io(p, &c); st != C.CTRD_OK {
			err = newError(Status(st), "containerdc: ctrd_fifo_set_io failed")
			return
		}
		paths = ioFromC(&c)
	}) {
		return nil, f.h.closedError()
	}
	if err != nil {
		return nil, err
	}
	// The strings are copies: Attach works on them while the set may be
	// closed meanwhile (its FIFOs then fail to open).
	return Attach(paths, s)
}

// Stdio is the caller's side of a task's or process's stdio, for Attach.
type Stdio struct {
	// Stdin is copied into the stdin FIFO, then the FIFO is closed (see
	// Task.CloseStdinOnEOF); nil: nothing is fed.
	Stdin io.Reader
	// Stdout receives the process's stdout; nil: read and dropped; Pipe:
	// read it from IOSession.Stdout.
	Stdout io.Writer
	// Stderr as Stdout, for stderr (unused with a terminal).
	Stderr io.Writer
}

type pipeWriter struct{}

// Write fails: Pipe is only a marker.
func (pipeWriter) Write([]byte) (int, error) {
	return 0, errors.New("containerdc: Pipe is a marker for Stdio, not a writer")
}

// Pipe, as Stdio.Stdout or Stdio.Stderr, makes that stream readable as an
// io.Reader from IOSession.Stdout or IOSession.Stderr.
var Pipe io.Writer = pipeWriter{}

// IOSession is a background copy between a task's stdio FIFOs and the
// caller (ctrd_io_session), made by Attach.
type IOSession struct {
	h       *handle[C.ctrd_io_session]
	readers [2]*os.File // the Pipe read ends of stdout and stderr
	stdin   *os.File    // our end of the stdin pipe, closed by Close
	copies  sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

// Attach starts copying, in the background, between the FIFOs of paths
// and s, as containerd's Go cio does (ctrd_io_attach). Attach before the
// task is created: the shim waits for a reader on each output FIFO. To
// re-attach to a task found by Container.LoadTask, pass its IO().
//
// An *os.File is handed to the library as a file descriptor (a duplicate;
// the caller keeps its own). Any other io.Reader or io.Writer is copied by
// a goroutine through a pipe. Output written to a Pipe stream waits in the
// pipe: read it while the task runs, or a task writing more than 64 KiB
// stalls. Needs no daemon; returns at once.
func Attach(paths IO, s Stdio) (*IOSession, error) {
	sess := &IOSession{}
	var closeAfter []*os.File  // our copies of the fds the library duplicates
	var copyReaders []*os.File // the read ends copyOut is to read
	var started []func()       // copy goroutines to start on success
	fail := func(err error) (*IOSession, error) {
		for _, f := range closeAfter {
			f.Close()
		}
		for _, f := range copyReaders {
			f.Close()
		}
		for _, f := range sess.readers {
			if f != nil {
				f.Close()
			}
		}
		if sess.stdin != nil {
			sess.stdin.Close()
		}
		return nil, err
	}
	fds := [3]C.int{-1, -1, -1}

	switch r := s.Stdin.(type) {
	case nil:
	case *os.File:
		d, err := dupFile(r)
		if err != nil {
			return fail(err)
		}
		closeAfter = append(closeAfter, d)
		fds[0] = C.int(d.Fd())
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return fail(newError(StatusIO, "containerdc: Attach: "+err.Error()))
		}
		closeAfter = append(closeAfter, pr)
		sess.stdin = pw
		fds[0] = C.int(pr.Fd())
		started = append(started, func() {
			// Not waited for by Close: a Reader may block for ever.
			go func() {
				_, _ = io.Copy(pw, r)
				pw.Close()
			}()
		})
	}
	for i, w := range []io.Writer{s.Stdout, s.Stderr} {
		switch w := w.(type) {
		case nil:
		case pipeWriter:
			pr, pw, err := os.Pipe()
			if err != nil {
				return fail(newError(StatusIO, "containerdc: Attach: "+err.Error()))
			}
			closeAfter = append(closeAfter, pw)
			sess.readers[i] = pr
			fds[i+1] = C.int(pw.Fd())
		case *os.File:
			d, err := dupFile(w)
			if err != nil {
				return fail(err)
			}
			closeAfter = append(closeAfter, d)
			fds[i+1] = C.int(d.Fd())
		default:
			pr, pw, err := os.Pipe()
			if err != nil {
				return fail(newError(StatusIO, "containerdc: Attach: "+err.Error()))
			}
			closeAfter = append(closeAfter, pw)
			fds[i+1] = C.int(pw.Fd())
			copyReaders = append(copyReaders, pr) // closed by copyOut, or by fail
			started = append(started, func() {
				sess.copies.Add(1)
				go sess.copyOut(w, pr)
			})
		}
	}

	var a cArgs
	defer a.free()
	cio := paths.c(&a)
	if a.err != nil {
		return fail(a.err)
	}
	var out *C.ctrd_io_session
	err := call(func() C.enum_ctrd_status { return C.ctrd_io_attach(cio, fds[0], fds[1], fds[2], &out) })
	if err != nil {
		return fail(err)
	}
	for _, f := range closeAfter {
		f.Close()
	}
	sess.h = newHandle(out, "IOSession", func(p *C.ctrd_io_session) { C.ctrd_io_session_free(p) })
	for _, start := range started {
		start()
	}
	return sess, nil
}

// copyOut copies an output pipe to w until end of file (once the library
// closed its end); after a failed write it goes on reading, so that the
// task is never held up, and keeps the error for Close.
func (s *IOSession) copyOut(w io.Writer, r *os.File) {
	defer s.copies.Done()
	defer r.Close()
	if _, err := io.Copy(w, r); err != nil {
		s.errMu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.errMu.Unlock()
		_, _ = io.Copy(io.Discard, r)
	}
}

// dupFile returns a close-on-exec duplicate of f's descriptor, leaving f
// as it is (f.Fd() would switch f to blocking mode).
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, newError(StatusInvalidArgument, "containerdc: Attach: "+f.Name()+": "+err.Error())
	}
	var fd int
	var dupErr error
	if err := rc.Control(func(raw uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, raw, syscall.F_DUPFD_CLOEXEC, 0)
		fd = int(r)
		if e != 0 {
			dupErr = e
		}
	}); err != nil {
		dupErr = err
	}
	if dupErr != nil {
		return nil, newError(StatusInvalidArgument, "containerdc: Attach: "+f.Name()+": "+dupErr.Error())
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// Stdout returns the reader of the process's stdout when it was attached
// as Pipe (else nil). It reaches end of file once the session is closed;
// the caller closes it when done.
func (s *IOSession) Stdout() *os.File {
	return s.readers[0]
}

// Stderr is Stdout for stderr.
func (s *IOSession) Stderr() *os.File {
	return s.readers[1]
}

// Wait blocks until the process's output streams reached end of file (it
// exited) and all was handed on (ctrd_io_session_wait); a negative
// timeout waits for ever, StatusDeadlineExceeded when it passes first (the
// session goes on). Bytes handed to a goroutine-copied Writer are all
// written once Close returned.
func (s *IOSession) Wait(timeout time.Duration) error {
	ms := millis(timeout)
	return s.h.do(func(p *C.ctrd_io_session) C.enum_ctrd_status { return C.ctrd_io_session_wait(p, ms) })
}

// Close stops the session and frees it (ctrd_io_session_free): bytes
// already read from a FIFO are handed on first; what the task wrote and
// was not read stays in the FIFO. Then it waits until the copy goroutines
// wrote everything to their Writers, and returns the first error a Writer
// gave. Pipe readers reach end of file. Close after Wait for the whole
// output. Calling it again returns the same error.
func (s *IOSession) Close() error {
	s.h.close()
	if s.stdin != nil {
		s.stdin.Close() // stops a stdin copy blocked on a full pipe
	}
	s.copies.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}
