package containerdc

/*
#include <stdlib.h>
#include "ctrdgo.h"
*/
import "C"

import (
	"context"
	"os"
	"runtime"
	"sync"
	"time"
)

// Image is an image record in one namespace (ctrd_image), with its name
// and target as the daemon returned them when the handle was made. Its
// methods may be called from several goroutines at once.
type Image struct {
	h *handle[C.ctrd_image]
}

func newImage(p *C.ctrd_image) *Image {
	i := &Image{h: newHandle(p, "Image", func(p *C.ctrd_image) { C.ctrd_image_free(p) })}
	runtime.SetFinalizer(i, (*Image).Close)
	return i
}

// ImageDeleteFlags are the flags of (*Client).DeleteImage.
type ImageDeleteFlags uint32

// ImageDeleteSync makes DeleteImage return only after the daemon's garbage
// collector ran.
const ImageDeleteSync ImageDeleteFlags = 1

// Progress is where a pull or import is (ctrd_progress).
type Progress struct {
	// Ref is the reference pulled or pushed to, or the archive imported.
	Ref string
	// Phase is "resolving", "fetching", "unpacking" (Pull, Import),
	// "pushing" (Push), or "done" (last, once, only on success).
	Phase string
	// BytesDone and BytesTotal count the chosen platform's blobs (for
	// Push: what it pushes, done once the registry has it; BytesTotal 0
	// while unknown).
	BytesDone, BytesTotal uint64
	// LayersDone and LayersTotal count its layers.
	LayersDone, LayersTotal uint32
	// Retries counts the registry requests tried again (429 or 5xx
	// answers, connections reset, blobs resumed).
	Retries uint32
}

// PullOptions says how Pull and Import work (ctrd_pull_opts). The zero
// value (or nil) is the default: this machine's platform, overlayfs,
// unpacked, credentials from the docker config, https with the system's
// CAs, no progress.
type PullOptions struct {
	// Platform is "os/arch[/variant]" picked from an index; "" = this
	// machine's.
	Platform string
	// Snapshotter to unpack into; "" = "overlayfs".
	Snapshotter string
	// NoUnpack fetches (or imports) and makes the record, unpacking
	// nothing.
	NoUnpack bool
	// Username and Secret are registry credentials (Secret is an identity
	// token when Username is ""); both "" = from the docker config.
	// Ignored by Import.
	Username, Secret string
	// PlainHTTP talks http:// to the registry. Ignored by Import.
	PlainHTTP bool
	// SkipVerify accepts any TLS certificate. Ignored by Import.
	SkipVerify bool
	// CAFile is a PEM file of CAs trusted besides the system's. Ignored
	// by Import.
	CAFile string
	// HostsDir is containerd's host directory root (certs.d: mirrors and
	// TLS settings per host in <dir>/<host>/hosts.toml); "" =
	// /etc/containerd/certs.d when it exists, unless NoHostsDir. Ignored
	// by Import.
	HostsDir string
	// NoHostsDir: no host directory at all. Ignored by Import.
	NoHostsDir bool
	// Progress, when set, is called on a library thread (never the
	// caller's goroutine), one call at a time, about ten times a second
	// and once more with Phase "done" on success; never after Pull or
	// Import returned, and what it did is visible to the caller's
	// goroutine then (no further synchronisation needed). A panic in it is raised again by Pull or Import in
	// the caller's goroutine once the library returned (later reports
	// are skipped). It must not close the Client.
	Progress func(Progress)
}

// progressState is what the library's progress callback reaches through
// the handle.
type progressState struct {
	fn       func(Progress)
	mu       sync.Mutex
	panicked bool
	value    any
}

// report calls fn under mu: the library makes one call at a time, and
// the caller, taking mu after the library returned, sees what fn did.
func (s *progressState) report(p Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.panicked {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.panicked, s.value = true, r
		}
	}()
	s.fn(p)
}

// pullArgs fills a ctrd_pull_opts from o (nil: the defaults) and ties the
// call to ctx (see withContext); with a Progress function, a handle. The
// caller calls done after the library returned.
func pullArgs(ctx context.Context, a *cArgs, o *PullOptions) (opts *C.ctrd_pull_opts, done func()) {
	if o == nil {
		o = &PullOptions{}
	}
	opts = new(C.ctrd_pull_opts)
	untie := withContext(ctx, &opts.timeout_ms, &opts.cancel)
	done = untie
	opts.struct_size = C.sizeof_ctrd_pull_opts
	opts.platform = a.opt("Platform", o.Platform)
	opts.snapshotter = a.opt("Snapshotter", o.Snapshotter)
	opts.no_unpack = C.bool(o.NoUnpack)
	opts.username = a.opt("Username", o.Username)
	opts.secret = a.opt("Secret", o.Secret)
	if o.Username == "" && o.Secret != "" {
		opts.username = a.str("Username", "") // "" + secret: an identity token
	}
	opts.plain_http = C.bool(o.PlainHTTP)
	opts.skip_verify = C.bool(o.SkipVerify)
	opts.ca_file = a.opt("CAFile", o.CAFile)
	opts.hosts_dir = a.opt("HostsDir", o.HostsDir)
	if o.NoHostsDir {
		opts.hosts_dir = a.str("HostsDir", "")
	}
	if o.Progress != nil && a.err == nil {
		done = withProgress(o.Progress, untie, func(h C.uintptr_t) { C.ctrdgo_set_progress(opts, h) })
	}
	return opts, done
}

// withProgress hands fn to the library through a handle (set puts it in
// the options) and returns what the caller calls once the library
// returned: untie, the handle freed, and fn's panic raised again.
func withProgress(fn func(Progress), untie func(), set func(C.uintptr_t)) (done func()) {
	st := &progressState{fn: fn}
	h := newCgoHandle(st)
	set(C.uintptr_t(h))
	return func() {
		untie()
		deleteCgoHandle(h)
		st.mu.Lock()
		panicked, value := st.panicked, st.value
		st.mu.Unlock()
		if panicked {
			panic(value)
		}
	}
}

// withContext ties the call made with the options whose timeout_ms and
// cancel fields these are to ctx: the time left to ctx's deadline is
// timeout_ms, and a ctrd_cancel in cancel is triggered when ctx is done
// (from a goroutine watching it). The returned function, called once the
// call returned, ends the watch and frees the cancel.
func withContext(ctx context.Context, timeoutMS *C.uint64_t, cancelOut **C.ctrd_cancel) (untie func()) {
	if deadline, ok := ctx.Deadline(); ok {
		// Rounded up: the library's timeout ends no earlier than ctx.
		ms := int64((time.Until(deadline) + time.Millisecond - 1) / time.Millisecond)
		if ms < 1 {
			ms = 1
		}
		*timeoutMS = C.uint64_t(ms)
	}
	if ctx.Done() == nil {
		return func() {}
	}
	var cancel *C.ctrd_cancel
	if C.ctrd_cancel_new(&cancel) != C.CTRD_OK {
		return func() {} // only for a NULL out, which this is not
	}
	*cancelOut = cancel
	finished, watching := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watching)
		select {
		case <-ctx.Done():
			C.ctrd_cancel_trigger(cancel)
		case <-finished:
		}
	}()
	return func() {
		close(finished)
		<-watching
		C.ctrd_cancel_free(cancel)
	}
}

// contextError is the error of a call that its context cut short: the
// library's Error (StatusCancelled or StatusDeadlineExceeded), which
// errors.As finds, wrapping the context's error, so that errors.Is(err,
// context.Canceled) (or context.DeadlineExceeded) holds, as well as
// errors.Is(err, ErrCancelled).
type contextError struct {
	lib *Error
	ctx error
}

func (e *contextError) Error() string { return e.lib.Error() }

func (e *contextError) Unwrap() error { return e.ctx }

func (e *contextError) Is(target error) bool { return e.lib.Is(target) }

func (e *contextError) As(target any) bool {
	if t, ok := target.(**Error); ok {
		*t = e.lib
		return true
	}
	return false
}

// ctxErr is err, wrapping ctx's error when ctx cut the call short.
func ctxErr(ctx context.Context, err error) error {
	lib, ok := err.(*Error)
	if !ok || (lib.Status != StatusCancelled && lib.Status != StatusDeadlineExceeded) {
		return err
	}
	if lib.Status == StatusDeadlineExceeded && ctx.Err() == nil {
		// The library's timeout (ctx's deadline) may end the call just
		// before ctx's own timer fires.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < 50*time.Millisecond {
			<-ctx.Done()
		}
	}
	if ctx.Err() == nil {
		return err
	}
	return &contextError{lib: lib, ctx: ctx.Err()}
}

// Pull pulls image ref (normalised as docker does: "busybox" is
// "docker.io/library/busybox:latest") from its registry into the client's
// namespace, unpacks it unless o.NoUnpack, and returns the image record,
// as containerd's Go client.Pull (ctrd_image_pull). o may be nil.
//
// Blocks until the pull ends (as long as the transfer takes; each daemon
// call bounded by the client's timeout; a registry that sends fewer than
// 1 KiB in any 60 s is cut as stalled, StatusUnavailable), or until ctx is
// done: its deadline is the call's timeout_ms and its cancellation
// triggers a ctrd_cancel, so the pull returns within a second, keeping
// what it fetched for the next pull; the error then wraps ctx.Err()
// (errors.Is(err, context.Canceled) or context.DeadlineExceeded). Pulls
// may run at once on one client. On failure no image record is made or
// changed. Errors (the message names the reference):
// StatusInvalidArgument, StatusUnauthenticated (401),
// StatusPermissionDenied (403), StatusNotFound, StatusUnavailable
// (registry unreachable, untrusted or stalled), StatusFailedPrecondition
// (a blob not matching its digest), StatusDeadlineExceeded,
// StatusCancelled, StatusNotImplemented, and the daemon's.
func (c *Client) Pull(ctx context.Context, ref string, o *PullOptions) (*Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var a cArgs
	defer a.free()
	r := a.str("ref", ref)
	if a.err != nil {
		return nil, a.err
	}
	opts, done := pullArgs(ctx, &a, o)
	if a.err != nil {
		done()
		return nil, a.err
	}
	var out *C.ctrd_image
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_image_pull(p, r, opts, &out) })
	done()
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	return newImage(out), nil
}

// PushOptions says how Push works (ctrd_push_opts); nil or the zero value
// pushes every platform whose content is in the content store, over https,
// with the docker config's credentials.
type PushOptions struct {
	// Platform is "os/arch[/variant]": only that platform's manifest is
	// pushed, as the tag's target; "" = every platform whose content is
	// present.
	Platform string
	// Username and Secret are registry credentials (Secret is an identity
	// token when Username is ""); both "" = from the docker config.
	Username, Secret string
	// PlainHTTP talks http:// to the registry.
	PlainHTTP bool
	// SkipVerify accepts any TLS certificate.
	SkipVerify bool
	// CAFile is a PEM file of CAs trusted besides the system's.
	CAFile string
	// HostsDir is containerd's host directory root (the first host of
	// <dir>/<host>/hosts.toml with the "push" capability gets the push);
	// "" = /etc/containerd/certs.d when it exists, unless NoHostsDir.
	HostsDir string
	// NoHostsDir: no host directory at all.
	NoHostsDir bool
	// Progress is called as PullOptions.Progress is (Phase "pushing",
	// then "done"), a panic in it raised again by Push.
	Progress func(Progress)
}

// Push pushes image name of the client's namespace to remoteRef ("" =
// name), as ctr images push does (ctrd_image_push): every platform whose
// content is in the content store (an index lacking some is pushed
// rewritten, with those present), or o.Platform's manifest; blobs the
// registry has are not sent again, blobs pulled from another repository
// of the same registry are mounted from there, the others streamed from
// the content store. o may be nil. Blocks until the push ends or ctx is
// done (as for Pull: the error then wraps ctx.Err()). Errors (the message
// names the image and the reference): StatusInvalidArgument,
// StatusNotFound (no image name, or no content to push),
// StatusUnauthenticated (401), StatusPermissionDenied (403),
// StatusUnavailable, StatusDeadlineExceeded, StatusCancelled, and the
// daemon's.
func (c *Client) Push(ctx context.Context, name, remoteRef string, o *PushOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if o == nil {
		o = &PushOptions{}
	}
	var a cArgs
	defer a.free()
	n := a.str("name", name)
	r := a.opt("remote_ref", remoteRef)
	opts := new(C.ctrd_push_opts)
	opts.struct_size = C.sizeof_ctrd_push_opts
	opts.platform = a.opt("Platform", o.Platform)
	opts.username = a.opt("Username", o.Username)
	opts.secret = a.opt("Secret", o.Secret)
	if o.Username == "" && o.Secret != "" {
		opts.username = a.str("Username", "") // "" + secret: an identity token
	}
	opts.plain_http = C.bool(o.PlainHTTP)
	opts.skip_verify = C.bool(o.SkipVerify)
	opts.ca_file = a.opt("CAFile", o.CAFile)
	opts.hosts_dir = a.opt("HostsDir", o.HostsDir)
	if o.NoHostsDir {
		opts.hosts_dir = a.str("HostsDir", "")
	}
	if a.err != nil {
		return a.err
	}
	done := withContext(ctx, &opts.timeout_ms, &opts.cancel)
	if o.Progress != nil {
		done = withProgress(o.Progress, done, func(h C.uintptr_t) { C.ctrdgo_set_push_progress(opts, h) })
	}
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_image_push(p, n, r, opts) })
	done()
	if err != nil {
		return ctxErr(ctx, err)
	}
	return nil
}

// Import imports the images of the archive at tarPath (absolute; an OCI
// image layout tar, as Export and ctr images export write, or a docker
// save tar) into the client's namespace, as ctr images import does, and
// returns the names of the images made or updated (ctrd_image_import).
// The registry fields of o are ignored; o may be nil. Blocks until the
// import is done, or until ctx is done (as for Pull: the error then wraps
// ctx.Err()). A failure leaves no image.
func (c *Client) Import(ctx context.Context, tarPath string, o *PullOptions) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var a cArgs
	defer a.free()
	path := a.str("tar path", tarPath)
	if a.err != nil {
		return nil, a.err
	}
	opts, done := pullArgs(ctx, &a, o)
	if a.err != nil {
		done()
		return nil, a.err
	}
	var names []string
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var items **C.char
		var n C.size_t
		s := C.ctrd_image_import(p, path, opts, &items, &n)
		if s == C.CTRD_OK {
			names = takeStrings(items, n)
		}
		return s
	})
	done()
	return names, ctxErr(ctx, err)
}

// Export writes the images names (at least one) of the client's namespace
// into an OCI image layout tar at tarPath (absolute, in an existing
// directory), as ctr images export writes it (ctrd_image_export). The file
// appears only when complete. Blocks until it is written.
func (c *Client) Export(tarPath string, names ...string) error {
	var a cArgs
	defer a.free()
	path := a.str("tar path", tarPath)
	if names == nil {
		names = []string{}
	}
	n := a.strs("image name", names)
	if a.err != nil {
		return a.err
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_image_export(p, n, path) })
}

// ImportFile imports the images of the archive read from f (a pipe, a FIFO,
// a socket, or a regular file from its offset) to its end, as Import does
// (ctrd_image_import_fd): `docker save | prog`. f stays the caller's: it
// is not closed. A pipe is spooled into a temporary file first; its first
// byte is waited for at most the client's timeout. ctx cuts it short as
// for Import.
func (c *Client) ImportFile(ctx context.Context, f *os.File, o *PullOptions) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var a cArgs
	defer a.free()
	opts, done := pullArgs(ctx, &a, o)
	if a.err != nil {
		done()
		return nil, a.err
	}
	fd := C.int(f.Fd())
	var names []string
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		var items **C.char
		var n C.size_t
		s := C.ctrd_image_import_fd(p, fd, opts, &items, &n)
		if s == C.CTRD_OK {
			names = takeStrings(items, n)
		}
		return s
	})
	runtime.KeepAlive(f)
	done()
	return names, ctxErr(ctx, err)
}

// ExportFile writes the images names (at least one) as Export does, into f
// as the archive is made (ctrd_image_export_fd): `prog | gzip`. f stays the
// caller's: it is not closed. A reader gone is an error, not SIGPIPE.
func (c *Client) ExportFile(f *os.File, names ...string) error {
	var a cArgs
	defer a.free()
	if names == nil {
		names = []string{}
	}
	n := a.strs("image name", names)
	if a.err != nil {
		return a.err
	}
	fd := C.int(f.Fd())
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_image_export_fd(p, n, fd) })
	runtime.KeepAlive(f)
	return err
}

// GetImage gets the image name (e.g. "docker.io/library/busybox:latest")
// from the client's namespace. Blocks for one round trip. Errors:
// StatusInvalidArgument, StatusNotFound, StatusUnavailable,
// StatusDeadlineExceeded.
func (c *Client) GetImage(name string) (*Image, error) {
	var a cArgs
	defer a.free()
	n := a.str("name", name)
	if a.err != nil {
		return nil, a.err
	}
	var out *C.ctrd_image
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status { return C.ctrd_image_get(p, n, &out) })
	if err != nil {
		return nil, err
	}
	return newImage(out), nil
}

// Images lists the names of the images in the client's namespace that
// match filter (containerd's syntax, e.g. `name==docker.io/library/busybox:latest`);
// "" lists all. Blocks for one round trip.
func (c *Client) Images(filter string) ([]string, error) {
	return c.listFiltered(filter, func(p *C.ctrd_client, f *C.char, items ***C.char, n *C.size_t) C.enum_ctrd_status {
		return C.ctrd_image_list(p, f, items, n)
	})
}

// Tag gives image name the second name newName (the same target and
// labels), as `ctr images tag` (ctrd_image_tag); names are taken as they
// are. An existing newName is an error with StatusAlreadyExists unless
// force, which points it at the source's target; no image name is
// StatusNotFound. Blocks for two or three round trips.
func (c *Client) Tag(name, newName string, force bool) error {
	var a cArgs
	defer a.free()
	n := a.str("name", name)
	nn := a.str("new_name", newName)
	if a.err != nil {
		return a.err
	}
	var flags C.uint32_t
	if force {
		flags = C.CTRD_IMAGE_TAG_FORCE
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		return C.ctrd_image_tag(p, n, nn, flags)
	})
}

// DeleteImage deletes the image record name; with ImageDeleteSync it
// returns only after the garbage collector removed what only the image
// used. Blocks for one round trip (and the collection).
func (c *Client) DeleteImage(name string, flags ImageDeleteFlags) error {
	var a cArgs
	defer a.free()
	n := a.str("name", name)
	if a.err != nil {
		return a.err
	}
	return c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		return C.ctrd_image_delete(p, n, C.uint32_t(flags))
	})
}

// Close frees the handle (ctrd_image_free); the image stays (see
// DeleteImage). It waits for calls in progress on this handle. Calling it
// again does nothing.
func (i *Image) Close() {
	i.h.close()
}

// Name returns the image's name ("" once closed).
func (i *Image) Name() string {
	var s string
	i.h.get(func(p *C.ctrd_image) { s = C.GoString(C.ctrd_image_name(p)) })
	return s
}

// Digest returns the digest of the image's target (its index or
// manifest), e.g. "sha256:3f57..." ("" once closed).
func (i *Image) Digest() string {
	var s string
	i.h.get(func(p *C.ctrd_image) { s = C.GoString(C.ctrd_image_digest(p)) })
	return s
}

// Size returns the size in bytes of the image's content for this
// machine's platform, as ctr images ls shows it (compressed layers).
// Blocks for a round trip per index and manifest.
func (i *Image) Size() (uint64, error) {
	var n C.uint64_t
	err := i.h.do(func(p *C.ctrd_image) C.enum_ctrd_status { return C.ctrd_image_size(p, &n) })
	return uint64(n), err
}

// ConfigJSON returns the OCI image config for this machine's platform, as
// stored. Blocks for a few round trips.
func (i *Image) ConfigJSON() (string, error) {
	var out string
	err := i.h.do(func(p *C.ctrd_image) C.enum_ctrd_status {
		var j *C.char
		s := C.ctrd_image_config_json(p, &j)
		out = takeString(j)
		return s
	})
	return out, err
}

// IsUnpacked tells whether the image's layers for this platform are
// unpacked on snapshotter ("" = "overlayfs"). Blocks for a few round trips.
func (i *Image) IsUnpacked(snapshotter string) (bool, error) {
	var a cArgs
	defer a.free()
	sn := a.opt("snapshotter", snapshotter)
	if a.err != nil {
		return false, a.err
	}
	var out C.bool
	err := i.h.do(func(p *C.ctrd_image) C.enum_ctrd_status { return C.ctrd_image_is_unpacked(p, sn, &out) })
	return bool(out), err
}

// Unpack unpacks the image's layers for this platform onto snapshotter
// ("" = "overlayfs"), as containerd's Go Image.Unpack; layers unpacked
// already are skipped. Blocks until all layers are extracted.
func (i *Image) Unpack(snapshotter string) error {
	var a cArgs
	defer a.free()
	sn := a.opt("snapshotter", snapshotter)
	if a.err != nil {
		return a.err
	}
	return i.h.do(func(p *C.ctrd_image) C.enum_ctrd_status { return C.ctrd_image_unpack(p, sn) })
}
