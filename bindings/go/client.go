package containerdc

/*
#include <stdlib.h>
#include "containerd_c.h"
*/
import "C"

import (
	"runtime"
	"time"
)

// Client is a client of one containerd daemon, bound to one namespace
// (ctrd_client). Its methods may be called from several goroutines at
// once. Containers, tasks, images and subscriptions made through it stay
// usable after it is closed.
type Client struct {
	h *handle[C.ctrd_client]
}

// Connect makes a client for the daemon at address in namespace.
//
// address is a socket path ("/run/containerd/containerd.sock") or
// "unix:///path"; "" uses $CONTAINERD_ADDRESS, else
// /run/containerd/containerd.sock. namespace "" uses
// $CONTAINERD_NAMESPACE, else "default".
//
// Connect does not connect: the first call that needs the daemon does, and
// an unreachable daemon is then an error with StatusUnavailable. A
// connection lost later is made again by the next call. Errors
// (StatusInvalidArgument): a relative path, an unsupported scheme, an
// over-long socket path, an invalid namespace. Close the client when done.
func Connect(address, namespace string) (*Client, error) {
	var a cArgs
	defer a.free()
	addr := a.opt("address", address)
	ns := a.opt("namespace", namespace)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_client
	if err := call(func() C.enum_ctrd_status { return C.ctrd_client_connect(addr, ns, &out) }); err != nil {
		return nil, err
	}
	c := &Client{h: newHandle(out, "Client", func(p *C.ctrd_client) { C.ctrd_client_free(p) })}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// Close frees the client (ctrd_client_free). It waits for calls in
// progress on this client; later calls return an *Error with
// StatusInvalidArgument. Calling it again does nothing.
func (c *Client) Close() {
	c.h.close()
}

// Namespace returns the namespace the client works in (after the
// $CONTAINERD_NAMESPACE and "default" fallbacks); "" once closed.
func (c *Client) Namespace() string {
	var ns string
	c.h.get(func(p *C.ctrd_client) { ns = C.GoString(C.ctrd_client_namespace(p)) })
	return ns
}

// SetTimeout sets the timeout of every later blocking call made through
// this client and the containers and tasks it made; 0 means none (wait
// for ever). The default is 30 s. A call that runs out of time returns an
// *Error with StatusDeadlineExceeded. A negative d is StatusInvalidArgument.
func (c *Client) SetTimeout(d time.Duration) error {
	if d < 0 {
		return newError(StatusInvalidArgument, "containerdc: SetTimeout: negative timeout "+d.String())
	}
	ms := millis(d)
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		return C.ctrd_client_set_timeout_ms(p, C.uint64_t(ms))
	})
}

// ServerVersion asks the daemon for its version (e.g. "1.6.20~ds1") and
// git revision. Blocks for one round trip, bounded by the client's timeout.
func (c *Client) ServerVersion() (version, revision string, err error) {
	err = c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var v, r *C.char
		s := C.ctrd_client_server_version(p, &v, &r)
		version, revision = takeString(v), takeString(r)
		return s
	})
	return version, revision, err
}

// ServerInfoJSON asks the daemon who it is and which plugins it runs
// (containerd's introspection service), as a JSON object with "uuid",
// "plugins" and, from some versions on, "pid", "pidns" and "deprecations"
// (see ctrd_client_server_info_json). Blocks for two round trips.
func (c *Client) ServerInfoJSON() (string, error) {
	var out string
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_client_server_info_json(p, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// CreateNamespace creates namespace name with labels (nil for none; an
// empty value is dropped by containerd), whatever namespace the client is
// bound to. Blocks for one round trip.
func (c *Client) CreateNamespace(name string, labels map[string]string) error {
	var a cArgs
	defer a.free()
	n := a.str("name", name)
	l := a.labels("labels", labels)
	if a.err != nil {
		return a.err
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_namespace_create(p, n, l) })
}

// Namespaces lists the names of every namespace of the daemon, sorted.
// Blocks for one round trip.
func (c *Client) Namespaces() ([]string, error) {
	var out []string
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var items **C.char
		var n C.size_t
		s := C.ctrd_namespace_list(p, &items, &n)
		if s == C.CTRD_OK {
			out = takeStrings(items, n)
		}
		return s
	})
	return out, err
}

// DeleteNamespace deletes namespace name, which must be empty (else
// StatusFailedPrecondition, the daemon's message naming what it holds).
// Blocks for one round trip.
func (c *Client) DeleteNamespace(name string) error {
	var a cArgs
	defer a.free()
	n := a.str("name", name)
	if a.err != nil {
		return a.err
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_namespace_delete(p, n) })
}

// GenerateSpec returns a runnable default Linux OCI spec (JSON) for
// container id, as the daemon's version of ctr makes it, merged with the
// config of image unless image is "", with args as the process args
// unless args is nil (ctrd_spec_generate). Blocks for a few round trips
// with an image.
func (c *Client) GenerateSpec(id, image string, args []string) (string, error) {
	var a cArgs
	defer a.free()
	cid := a.str("id", id)
	img := a.opt("image", image)
	argv := a.strs("args", args)
	if a.err != nil {
		return "", a.err
	}
	var out string
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_spec_generate(p, cid, img, argv, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// PatchSpec changes an OCI spec with an RFC 7386 JSON merge patch, e.g.
// {"process":{"terminal":true}}, and returns the result, which must still
// be a spec (ctrd_spec_patch). Makes no call to the daemon.
func PatchSpec(specJSON, patchJSON string) (string, error) {
	var a cArgs
	defer a.free()
	spec := a.str("spec", specJSON)
	patch := a.str("patch", patchJSON)
	if a.err != nil {
		return "", a.err
	}
	var out string
	err := call(func() C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_spec_patch(spec, patch, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// PrepareSnapshot prepares snapshot key over the unpacked rootfs of image
// on snapshotter ("" = "overlayfs"), ready to be a container's
// SnapshotKey (ctrd_snapshot_prepare_from_image). A lease keeps it until a
// container refers to it (or 24 hours); remove one no container will use
// with RemoveSnapshot. Blocks for several round trips.
func (c *Client) PrepareSnapshot(image, snapshotter, key string) error {
	var a cArgs
	defer a.free()
	img := a.str("image", image)
	sn := a.opt("snapshotter", snapshotter)
	k := a.str("key", key)
	if a.err != nil {
		return a.err
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		return C.ctrd_snapshot_prepare_from_image(p, img, sn, k)
	})
}

// RemoveSnapshot removes snapshot key of snapshotter ("" = "overlayfs")
// and the lease PrepareSnapshot put on it; one already gone is no error.
// Blocks for two round trips.
func (c *Client) RemoveSnapshot(snapshotter, key string) error {
	var a cArgs
	defer a.free()
	sn := a.opt("snapshotter", snapshotter)
	k := a.str("key", key)
	if a.err != nil {
		return a.err
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_snapshot_remove(p, sn, k) })
}
