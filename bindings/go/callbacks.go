package containerdc

// The Go functions the library calls back (through ctrdgo.c), on threads
// of its own. Each user_data is a runtime/cgo.Handle made by Subscribe,
// WaitAsync, Pull or Import, deleted only once the library can no longer
// call back with it. (A file with //export may only declare in its
// preamble, hence this separate file.)

/*
#include "containerd_c.h"
*/
import "C"

import (
	"runtime/cgo"
	"unsafe"
)

//export ctrdGoEvent
func ctrdGoEvent(userData unsafe.Pointer, topic, ns, eventJSON *C.char) {
	st := cgo.Handle(uintptr(userData)).Value().(*subState)
	st.deliver(Event{Topic: C.GoString(topic), Namespace: C.GoString(ns), JSON: C.GoString(eventJSON)})
}

//export ctrdGoExit
func ctrdGoExit(userData unsafe.Pointer, status C.enum_ctrd_status, exitStatus C.uint32_t) {
	st := cgo.Handle(uintptr(userData)).Value().(*waitState)
	r := ExitResult{ExitStatus: uint32(exitStatus)}
	if status != C.CTRD_OK {
		s := Status(status)
		r = ExitResult{Err: newError(s, "the wait failed: "+s.String())}
	}
	st.deliver(r)
}

//export ctrdGoProgress
func ctrdGoProgress(userData unsafe.Pointer, p *C.ctrd_progress) {
	st := cgo.Handle(uintptr(userData)).Value().(*progressState)
	st.report(Progress{
		Ref:         C.GoString(p.ref),
		Phase:       C.GoString(p.phase),
		BytesDone:   uint64(p.bytes_done),
		BytesTotal:  uint64(p.bytes_total),
		LayersDone:  uint32(p.layers_done),
		LayersTotal: uint32(p.layers_total),
		Retries:     uint32(p.retries),
	})
}
