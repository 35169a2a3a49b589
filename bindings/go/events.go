package containerdc

/*
#include <stdint.h>
#include "ctrdgo.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"runtime/cgo"
	"sync"
)

// DroppedTopic is the topic of the notice a subscription delivers after
// the library dropped events because they were not taken in time (4096
// waiting): its JSON is {"dropped":N}, its Namespace "".
const DroppedTopic = "/containerd-c/dropped"

// Event is one containerd event.
type Event struct {
	// Topic is e.g. "/tasks/exit".
	Topic string
	// Namespace is the namespace it happened in ("" for none).
	Namespace string
	// JSON is the payload in protobuf's JSON mapping, e.g.
	// {"containerId":"web","exitStatus":0,...} (see
	// ctrd_events_subscribe).
	JSON string
}

// Decode unmarshals the event's JSON payload into v.
func (e Event) Decode(v any) error {
	return json.Unmarshal([]byte(e.JSON), v)
}

// Subscription is a live event subscription (ctrd_subscription), made by
// Client.Subscribe. Its events arrive on the Events channel.
type Subscription struct {
	st   *subState
	h    cgo.Handle
	ptr  *C.ctrd_subscription
	once sync.Once
}

// subState is what the library's callback reaches through the handle.
type subState struct {
	ch       chan Event
	stop     chan struct{} // closed by Close: a blocked send gives up
	mu       sync.Mutex
	closing  bool
	inflight sync.WaitGroup // deliveries in progress
}

// deliver sends ev unless the subscription is closing. It runs on the
// subscription's library thread, one event at a time, and blocks while
// the channel is full (the library meanwhile keeps up to 4096 events,
// then drops and counts them).
func (s *subState) deliver(ev Event) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.inflight.Add(1)
	s.mu.Unlock()
	defer s.inflight.Done()
	select {
	case s.ch <- ev:
	case <-s.stop:
	}
}

// eventBuffer is the capacity of a subscription's channel.
const eventBuffer = 64

// Subscribe subscribes to containerd's events that match any of filters
// (containerd filter strings, e.g. `topic=="/tasks/exit"`,
// `namespace==default,topic~="^/containers/"`; none = every event).
// containerd's event stream is global: without a namespace==... filter
// the events of every namespace arrive.
//
// Subscribe blocks until the daemon registered the subscription: every
// event published after it returns is delivered, in the daemon's order, on
// the Events channel, until Close. A broken stream (the daemon restarted)
// is made again by the library; events published meanwhile are lost. If
// the channel is not read, up to 4096 events wait in the library, then
// events are dropped and a DroppedTopic event says how many. A filter the
// daemon cannot parse is StatusInvalidArgument.
//
// Close the subscription when done: it holds a library thread and a
// cgo.Handle. A Subscription dropped without Close is closed by the
// garbage collector, so keep it referenced while reading Events.
func (c *Client) Subscribe(filters ...string) (*Subscription, error) {
	var a cArgs
	defer a.free()
	var f **C.char
	if len(filters) > 0 {
		f = a.strs("filter", filters)
	}
	if a.err != nil {
		return nil, a.err
	}
	st := &subState{ch: make(chan Event, eventBuffer), stop: make(chan struct{})}
	h := newCgoHandle(st)
	var out *C.ctrd_subscription
	err := c.h.do(func(p *C.ctrd_client) C.enum_ctrd_status {
		return C.ctrdgo_subscribe(p, f, C.uintptr_t(h), &out)
	})
	if err != nil {
		deleteCgoHandle(h) // no callback runs when the call failed
		return nil, err
	}
	s := &Subscription{st: st, h: h, ptr: out}
	runtime.SetFinalizer(s, (*Subscription).Close)
	return s, nil
}

// Events returns the channel the events arrive on; it is closed by Close.
func (s *Subscription) Events() <-chan Event {
	return s.st.ch
}

// Close stops the subscription and frees it (ctrd_subscription_free),
// deleting its cgo.Handle, then closes the Events channel: no event is
// sent after that, and events not yet received from the channel stay in
// it. Safe to call from any goroutine, also while another one reads
// Events; calling it again does nothing.
func (s *Subscription) Close() {
	s.once.Do(func() {
		st := s.st
		st.mu.Lock()
		st.closing = true
		st.mu.Unlock()
		close(st.stop)
		C.ctrd_subscription_free(s.ptr) // waits for a callback in progress
		st.inflight.Wait()
		close(st.ch)
		deleteCgoHandle(s.h)
	})
}
