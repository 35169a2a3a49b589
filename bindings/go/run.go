package containerdc

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"
)

// RunOptions configures Client.Run. The zero value runs the command with
// no stdin and its output dropped.
type RunOptions struct {
	// ID of the container ("" = "go-run-<pid>-<n>").
	ID string
	// Stdin is fed to the command, which then reads end of file; nil: no
	// stdin.
	Stdin io.Reader
	// Stdout and Stderr receive the command's output (nil: dropped).
	// Stderr is unused with Terminal.
	Stdout, Stderr io.Writer
	// Terminal gives the command a terminal (stdout carries stderr too;
	// stdin is not closed at its end).
	Terminal bool
	// SpecPatch is an RFC 7386 JSON merge patch applied to the generated
	// spec ("" = none).
	SpecPatch string
	// Timeout for the command (0 = none): when it passes, the task is
	// killed and Run returns an *Error with StatusDeadlineExceeded.
	Timeout time.Duration
}

var runCounter atomic.Uint64

// Run runs args (nil: the image's command) in a new container made from
// image (unpacked in the client's namespace), as ctr run --rm does: waits
// for it to exit, copies its output to o.Stdout and o.Stderr, removes
// everything it made (task, FIFOs, container, snapshot) and returns the
// exit status. Blocks until all of that is done.
func (c *Client) Run(image string, args []string, o RunOptions) (exitStatus uint32, err error) {
	id := o.ID
	if id == "" {
		id = fmt.Sprintf("go-run-%d-%d", os.Getpid(), runCounter.Add(1))
	}
	// keep records the first error, so that a cleanup failure is reported
	// when nothing failed before it.
	keep := func(e error) {
		if err == nil && e != nil {
			err = e
		}
	}
	spec, err := c.GenerateSpec(id, image, args)
	if err != nil {
		return 0, err
	}
	if o.SpecPatch != "" {
		if spec, err = PatchSpec(spec, o.SpecPatch); err != nil {
			return 0, err
		}
	}
	stderr := o.Stderr
	if o.Terminal {
		if spec, err = PatchSpec(spec, `{"process":{"terminal":true}}`); err != nil {
			return 0, err
		}
		stderr = nil
	}
	if err := c.PrepareSnapshot(image, "", id); err != nil {
		return 0, err
	}
	k, err := c.CreateContainer(ContainerOptions{ID: id, SpecJSON: spec, Image: image, SnapshotKey: id})
	if err != nil {
		_ = c.RemoveSnapshot("", id)
		return 0, err
	}
	defer func() {
		keep(k.Delete(0)) // and its snapshot
		k.Close()
	}()
	fifos, err := NewFifoSet("", id, o.Stdin != nil, o.Terminal)
	if err != nil {
		return 0, err
	}
	defer fifos.Close() // after the task was deleted
	sess, err := fifos.Attach(Stdio{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: stderr})
	if err != nil {
		return 0, err
	}
	sessionClosed := false
	defer func() {
		if !sessionClosed {
			_ = sess.Close()
		}
	}()
	task, err := k.NewTask(fifos.IO())
	if err != nil {
		return 0, err
	}
	defer func() {
		_, e := task.Delete(TaskDeleteForce)
		keep(e)
		task.Close()
	}()
	if err := task.Start(); err != nil {
		return 0, err
	}
	if o.Stdin != nil && !o.Terminal {
		if err := task.CloseStdinOnEOF(sess); err != nil {
			return 0, err
		}
	}
	timeout := time.Duration(-1)
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	exitStatus, err = task.Wait(timeout)
	if err != nil {
		return 0, err
	}
	if err := sess.Wait(10 * time.Second); err != nil {
		return exitStatus, err
	}
	sessionClosed = true
	if err := sess.Close(); err != nil {
		return exitStatus, err
	}
	return exitStatus, nil
}
