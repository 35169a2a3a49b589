// Package containerdc is the Go binding of containerd-c, a containerd
// client with a C ABI (a Rust library that talks gRPC to a containerd
// daemon). It wraps include/containerd_c.h with cgo: images, containers,
// tasks, exec processes, stdio FIFOs, events and asynchronous waits.
//
//	c, err := containerdc.Connect("", "") // $CONTAINERD_ADDRESS, $CONTAINERD_NAMESPACE
//	if err != nil { ... }
//	defer c.Close()
//	var out bytes.Buffer
//	status, err := c.Run("docker.io/library/busybox:latest", []string{"echo", "hi"},
//		containerdc.RunOptions{Stdout: &out})
//
// # Handles
//
// Client, Container, Task, Process, Image, FifoSet, IOSession,
// Subscription and Wait each own one library object, freed by Close.
// Closing a handle frees only the handle: a task goes on running, a
// container stays (see their Delete methods). Their methods may be called
// from several goroutines at once; Close waits for calls in progress on
// the same handle, and a call after Close returns an *Error with
// StatusInvalidArgument. Client, Container, Task, Process and Image
// handles the program drops are freed by the garbage collector too, and
// so are a dropped Subscription (which stops it) and a dropped Wait once
// its result arrived; FifoSet (whose Close removes the FIFOs) and
// IOSession (whose Close stops the copy) only by Close.
//
// # Errors
//
// Every failing call returns an *Error with the library's Status, its
// Name ("CTRD_ERR_NOT_FOUND") and the Message of ctrd_last_error(): what
// failed, on which object, and the daemon's own words. errors.Is(err,
// ErrNotFound) tests the status. ctrd_last_error() is thread-local, so
// each call locks its goroutine to the OS thread (runtime.LockOSThread)
// from the call until its message is copied: the message is the one of
// the call that failed whatever thread the goroutine runs on next.
//
// # Blocking and threads
//
// Calls that talk to the daemon block the calling goroutine and its OS
// thread for their round trips, bounded by the client's timeout
// (SetTimeout; 30 s by default); Task.Wait, Process.Wait and
// IOSession.Wait block as long as their timeout says (negative: for ever).
//
// Events (Client.Subscribe) and exits (Task.WaitAsync, Process.WaitAsync)
// come from threads of the library as values on channels: each
// subscription or wait registers a runtime/cgo.Handle that the library
// passes back to an exported Go function, which sends on the channel. The
// handle is deleted when the Subscription or Wait is closed, and a
// channel is closed only once the library can no longer call back, so it
// is never sent on after it was closed. Pull and Import call a Progress
// function the same way.
//
// # Linking
//
// The package links libcontainerd_c through pkg-config (package
// containerd-c, installed by scripts/install.sh): set PKG_CONFIG_PATH to
// PREFIX/lib/pkgconfig. See README.md in this directory.
package containerdc
