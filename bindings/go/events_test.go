package containerdc

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestEventsChannelTaskExit(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	sub, err := c.Subscribe(fmt.Sprintf(`namespace==%s,topic=="/tasks/exit"`, c.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	status, err := c.Run(testImage, []string{"sh", "-c", "exit 3"}, RunOptions{ID: id})
	if err != nil || status != 3 {
		t.Fatalf("%d %v", status, err)
	}
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatal("channel closed")
			}
			var exit struct {
				ContainerID string `json:"containerId"`
				ExitStatus  uint32 `json:"exitStatus"`
				Pid         uint32 `json:"pid"`
			}
			if ev.Topic != "/tasks/exit" || ev.Namespace != c.Namespace() {
				t.Fatalf("unexpected event %+v", ev)
			}
			if err := ev.Decode(&exit); err != nil {
				t.Fatal(err)
			}
			if exit.ContainerID != id {
				continue // another test's
			}
			if exit.ExitStatus != 3 || exit.Pid == 0 {
				t.Fatalf("%s", ev.JSON)
			}
			sub.Close()
			for range sub.Events() { // closed by Close: the loop ends
			}
			return
		case <-deadline:
			t.Fatal("no /tasks/exit event")
		}
	}
}

// A subscription whose channel is full when it is closed: Close returns,
// the channel is closed, and nothing is sent on it after that (the race
// detector and a panic on a closed channel would tell).
func TestEventsCloseWhileDelivering(t *testing.T) {
	c := newClient(t)
	prefix := uniqueID(t, c)
	sub, err := c.Subscribe(fmt.Sprintf(`namespace==%s,topic~="^/containers/"`, c.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	const n = eventBuffer + 16 // create + delete each: twice as many events
	for i := 0; i < n; i++ {
		k, err := c.CreateContainer(ContainerOptions{ID: fmt.Sprintf("%s-%d", prefix, i), SpecJSON: recordSpec})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Delete(0); err != nil {
			t.Fatal(err)
		}
		k.Close()
	}
	// Wait until the channel is full: the library's thread then blocks.
	deadline := time.Now().Add(30 * time.Second)
	for len(sub.Events()) < eventBuffer && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if len(sub.Events()) != eventBuffer {
		t.Fatalf("%d events buffered", len(sub.Events()))
	}
	done := make(chan struct{})
	go func() {
		sub.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs")
	}
	got := 0
	for ev := range sub.Events() {
		if ev.Topic != "/containers/create" && ev.Topic != "/containers/delete" {
			t.Fatalf("unexpected %+v", ev)
		}
		got++
	}
	if got != eventBuffer {
		t.Fatalf("%d events after Close", got)
	}
	sub.Close() // again: nothing
}

func TestEventsCloseFromReader(t *testing.T) {
	c := newClient(t)
	prefix := uniqueID(t, c)
	sub, err := c.Subscribe(fmt.Sprintf(`namespace==%s,topic=="/containers/create"`, c.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		k, err := c.CreateContainer(ContainerOptions{ID: fmt.Sprintf("%s-%d", prefix, i), SpecJSON: recordSpec})
		if err != nil {
			t.Fatal(err)
		}
		if err := k.Delete(0); err != nil {
			t.Fatal(err)
		}
		k.Close()
	}
	var ids []string
	for ev := range sub.Events() {
		var rec struct{ ID string }
		if err := ev.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rec.ID)
		sub.Close() // from the reading goroutine, while events wait
	}
	if len(ids) < 1 || ids[0] != prefix+"-0" {
		t.Fatalf("%v", ids)
	}
}

// Subscriptions closed (from two goroutines at once) while events are
// being published and delivered: no panic, no race, every channel closed.
func TestEventsCloseRace(t *testing.T) {
	c := newClient(t)
	prefix := uniqueID(t, c)
	stop := make(chan struct{})
	published := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				published <- nil
				return
			default:
			}
			k, err := c.CreateContainer(ContainerOptions{ID: fmt.Sprintf("%s-%d", prefix, i), SpecJSON: recordSpec})
			if err != nil {
				published <- err
				return
			}
			err = k.Delete(0)
			k.Close()
			if err != nil {
				published <- err
				return
			}
		}
	}()
	for round := 0; round < 10; round++ {
		sub, err := c.Subscribe(fmt.Sprintf(`namespace==%s`, c.Namespace()))
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(round*5) * time.Millisecond)
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sub.Close()
			}()
		}
		for range sub.Events() { // ends: Close closes the channel
		}
		wg.Wait()
	}
	close(stop)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}
