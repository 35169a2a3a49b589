package containerdc

/*
#include <stdlib.h>
#include "containerd_c.h"
*/
import "C"

import "runtime"

// ContainerOptions says what CreateContainer makes (ctrd_container_opts).
// "" and nil leave a field at the library's default.
type ContainerOptions struct {
	// ID is required: letters, digits and '.' '_' '-' between them, at
	// most 76 characters.
	ID string
	// SpecJSON is required: the OCI runtime spec, e.g. from GenerateSpec.
	SpecJSON string
	// Image is the image name recorded on the container.
	Image string
	// Snapshotter of the rootfs ("" = "overlayfs").
	Snapshotter string
	// SnapshotKey is the snapshot that is the rootfs (see PrepareSnapshot).
	SnapshotKey string
	// Runtime ("" = "io.containerd.runc.v2").
	Runtime string
	// Labels of the container record (containerd drops empty values).
	Labels map[string]string
	// RuntimeOptionsJSON is the runc shim's options as a JSON object with
	// the Go field names of containerd's runc Options, e.g.
	// {"SystemdCgroup":true}.
	RuntimeOptionsJSON string
}

// DeleteFlags are the flags of (*Container).Delete.
type DeleteFlags uint32

// DeleteKeepSnapshot keeps the container's rootfs snapshot (protected by a
// lease for 24 hours; RemoveSnapshot removes it).
const DeleteKeepSnapshot DeleteFlags = 1

// Container is a container record in one namespace (ctrd_container),
// with a copy of the record as the daemon last returned it to a call on
// this handle. Its methods may be called from several goroutines at once.
type Container struct {
	h *handle[C.ctrd_container]
}

func newContainer(p *C.ctrd_container) *Container {
	k := &Container{h: newHandle(p, "Container", func(p *C.ctrd_container) { C.ctrd_container_free(p) })}
	runtime.SetFinalizer(k, (*Container).Close)
	return k
}

// CreateContainer creates a container record in the client's namespace,
// as containerd's Go NewContainer does. Everything in o is checked before
// any call (id, spec, labels, runtime options). Blocks for a few round
// trips. Errors: StatusInvalidArgument, StatusAlreadyExists (id taken),
// StatusUnavailable, StatusDeadlineExceeded.
func (c *Client) CreateContainer(o ContainerOptions) (*Container, error) {
	var a cArgs
	defer a.free()
	var opts C.ctrd_container_opts
	opts.struct_size = C.sizeof_ctrd_container_opts
	opts.id = a.str("ID", o.ID)
	opts.spec_json = a.str("SpecJSON", o.SpecJSON)
	opts.image = a.opt("Image", o.Image)
	opts.snapshotter = a.opt("Snapshotter", o.Snapshotter)
	opts.snapshot_key = a.opt("SnapshotKey", o.SnapshotKey)
	opts.runtime = a.opt("Runtime", o.Runtime)
	if len(o.Labels) > 0 {
		opts.labels = a.labels("Labels", o.Labels)
	}
	opts.runtime_options_json = a.opt("RuntimeOptionsJSON", o.RuntimeOptionsJSON)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_container
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_container_create(p, &opts, &out) })
	if err != nil {
		return nil, err
	}
	return newContainer(out), nil
}

// LoadContainer loads the existing container id from the client's
// namespace. Blocks for one round trip. Errors: StatusInvalidArgument (bad
// id), StatusNotFound, StatusUnavailable, StatusDeadlineExceeded.
func (c *Client) LoadContainer(id string) (*Container, error) {
	var a cArgs
	defer a.free()
	cid := a.str("id", id)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_container
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_container_load(p, cid, &out) })
	if err != nil {
		return nil, err
	}
	return newContainer(out), nil
}

// Containers lists the ids of the containers in the client's namespace
// that match filter, in containerd's filter syntax (e.g.
// `labels."app"==web`); "" lists all. Blocks for one round trip.
func (c *Client) Containers(filter string) ([]string, error) {
	return c.listFiltered(filter, func(p *C.ctrd_client, f *C.char, items ***C.char, n *C.size_t) C.enum_ctrd_status {
		return C.ctrd_container_list(p, f, items, n)
	})
}

// listFiltered runs list, a C list function taking a filter ("" for none),
// and gives its names.
func (c *Client) listFiltered(filter string, list func(*C.ctrd_client, *C.char, ***C.char, *C.size_t) C.enum_ctrd_status) ([]string, error) {
	var a cArgs
	defer a.free()
	f := a.opt("filter", filter)
	if a.err != nil {
		return nil, a.err
	}
	var out []string
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var items **C.char
		var n C.size_t
		s := list(p, f, &items, &n)
		if s == C.CTRD_OK {
			out = takeStrings(items, n)
		}
		return s
	})
	return out, err
}

// Close frees the handle (ctrd_container_free); the container stays (see
// Delete). It waits for calls in progress on this handle. Calling it
// again does nothing.
func (k *Container) Close() {
	k.h.close()
}

// ID returns the container's id ("" once closed).
func (k *Container) ID() string {
	var id string
	k.h.get(func(p *C.ctrd_container) { id = C.GoString(C.ctrd_container_id(p)) })
	return id
}

// SpecJSON returns the container's OCI spec as the daemon stores it, from
// the handle's copy of the record (see Refresh). Makes no call.
func (k *Container) SpecJSON() (string, error) {
	var out string
	err := k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_container_spec_json(p, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// InfoJSON returns the whole container record as a JSON object ("id",
// "labels", "image", "runtime", "snapshotter", "snapshotKey", "createdAt",
// "updatedAt", "extensions", "spec"), from the handle's copy of the record
// (see Refresh). Makes no call.
func (k *Container) InfoJSON() (string, error) {
	var out string
	err := k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_container_info_json(p, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// Refresh re-reads the record from the daemon into the handle's copy.
// Blocks for one round trip. StatusNotFound when the container is gone.
func (k *Container) Refresh() error {
	return k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status { return C.ctrd_container_refresh(p) })
}

// SetLabels sets the labels named in labels (at least one) and removes
// those whose value is ""; other labels stay. Blocks for one round trip.
func (k *Container) SetLabels(labels map[string]string) error {
	var a cArgs
	defer a.free()
	l := a.labels("labels", labels)
	if a.err != nil {
		return a.err
	}
	return k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status { return C.ctrd_container_set_labels(p, l) })
}

// UpdateSpec replaces the container's OCI spec (the next task gets it; a
// running one keeps its own). Blocks for one round trip.
func (k *Container) UpdateSpec(specJSON string) error {
	var a cArgs
	defer a.free()
	spec := a.str("spec", specJSON)
	if a.err != nil {
		return a.err
	}
	return k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status { return C.ctrd_container_update_spec(p, spec) })
}

// Delete deletes the container and, unless flags has DeleteKeepSnapshot,
// its rootfs snapshot. StatusFailedPrecondition, deleting nothing, while it
// has a task (delete that first). The handle stays to be closed. Blocks
// for a few round trips.
func (k *Container) Delete(flags DeleteFlags) error {
	return k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status {
		return C.ctrd_container_delete(p, C.uint32_t(flags))
	})
}

// CommitFlags are the flags of (*Container).Commit.
type CommitFlags uint32

// CommitNoPause leaves a running task running during a commit's diff.
const CommitNoPause CommitFlags = 1

// Commit makes a new image imageName of the container's changes, as
// `nerdctl commit` (ctrd_container_commit): the diff of its rootfs snapshot
// over its image's layers becomes one more layer, the config's diff ids
// and history follow, and the image is unpacked onto the container's
// snapshotter. A running task is paused for the diff unless flags has
// CommitNoPause. Nothing is left on failure. Errors: StatusInvalidArgument,
// StatusNotFound (the container is gone), StatusAlreadyExists (an image
// imageName exists), StatusFailedPrecondition (no image or snapshot, or
// one gone), and the daemon's.
func (k *Container) Commit(imageName string, flags CommitFlags) (*Image, error) {
	var a cArgs
	defer a.free()
	name := a.str("image_name", imageName)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_image
	err := k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status {
		return C.ctrd_container_commit(p, name, C.uint32_t(flags), &out)
	})
	if err != nil {
		return nil, err
	}
	return newImage(out), nil
}

// NewTask creates (not starts) the container's task with stdio io (nil:
// none), as containerd's Go NewTask. With FIFOs, attach to them first
// (FifoSet.Attach): the shim waits for a reader on each output FIFO while
// it creates the task. Blocks for a few round trips. Errors:
// StatusInvalidArgument, StatusNotFound, StatusAlreadyExists (it has a
// task), StatusUnavailable, StatusDeadlineExceeded, and the daemon's.
func (k *Container) NewTask(io *IO) (*Task, error) {
	var a cArgs
	defer a.free()
	cio := io.c(&a)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_task
	err := k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status { return C.ctrd_container_new_task(p, cio, &out) })
	if err != nil {
		return nil, err
	}
	return newTask(out), nil
}

// NewTaskFromCheckpoint makes a task that is restored from the checkpoint
// image checkpointImage (see Task.Checkpoint) by its Start, with stdio io
// as for NewTask (ctrd_container_new_task_checkpoint).
func (k *Container) NewTaskFromCheckpoint(io *IO, checkpointImage string) (*Task, error) {
	var a cArgs
	defer a.free()
	cio := io.c(&a)
	img := a.str("checkpoint image", checkpointImage)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_task
	err := k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status {
		return C.ctrd_container_new_task_checkpoint(p, cio, img, &out)
	})
	if err != nil {
		return nil, err
	}
	return newTask(out), nil
}

// LoadTask attaches to the container's existing task (containerd's Go
// LoadTask): its pid and stdio paths come from the daemon, so its output
// can be re-attached with Attach(task.IO(), ...). StatusNotFound when it
// has none. Blocks for one round trip.
func (k *Container) LoadTask() (*Task, error) {
	var out *C.ctrd_task
	err := k.h.do(func(p *C.ctrd_container) C.enum_ctrd_status { return C.ctrd_container_load_task(p, &out) })
	if err != nil {
		return nil, err
	}
	return newTask(out), nil
}
