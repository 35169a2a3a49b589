package containerdc

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// wantHandles waits (collecting garbage) until n cgo.Handles are live.
func wantHandles(t *testing.T, n int64, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for liveHandles.Load() != n && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := liveHandles.Load(); got != n {
		t.Fatalf("%s: %d cgo.Handles live, want %d", what, got, n)
	}
}

// Every cgo.Handle given to the library as user_data is deleted when its
// subscription or wait is closed (or collected), or when the call that
// took it returned.
func TestCallbackHandlesFreed(t *testing.T) {
	c := newClient(t)
	base := liveHandles.Load()

	sub, err := c.Subscribe(fmt.Sprintf(`namespace==%s`, c.Namespace()))
	if err != nil {
		t.Fatal(err)
	}
	wantHandles(t, base+1, "a live subscription")
	sub.Close()
	wantHandles(t, base, "a closed subscription")
	if _, err := c.Subscribe("topic=="); err == nil {
		t.Fatal("bad filter accepted")
	}
	wantHandles(t, base, "a failed Subscribe")
	func() {
		_, err := c.Subscribe(fmt.Sprintf(`namespace==%s`, c.Namespace()))
		if err != nil {
			t.Fatal(err)
		}
	}()
	wantHandles(t, base, "a dropped subscription") // closed by the collector

	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sh", "-c", "exit 0")
	task := startTask(t, k)
	w, err := task.WaitAsync()
	if err != nil {
		t.Fatal(err)
	}
	r := <-w.Done()
	if r.Err != nil || r.ExitStatus != 0 {
		t.Fatalf("%+v", r)
	}
	wantHandles(t, base+1, "a wait whose result arrived, not closed")
	w.Close()
	wantHandles(t, base, "a closed wait")
	done := func() <-chan ExitResult {
		w, err := task.WaitAsync()
		if err != nil {
			t.Fatal(err)
		}
		return w.Done() // the Wait itself is dropped
	}()
	if r := <-done; r.Err != nil || r.ExitStatus != 0 {
		t.Fatalf("dropped wait: %+v", r) // delivered, not cancelled
	}
	wantHandles(t, base, "a dropped wait after its result") // freed by the collector
	if _, err := task.Delete(0); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(0); err != nil {
		t.Fatal(err)
	}

	tar := filepath.Join(t.TempDir(), "x.tar")
	if err := c.Export(tar, testImage); err != nil {
		t.Fatal(err)
	}
	o := otherNamespace(t, "handles")
	calls := 0
	if _, err := o.Import(context.Background(), tar, &PullOptions{NoUnpack: true, Progress: func(Progress) { calls++ }}); err != nil {
		t.Fatal(err)
	}
	if calls == 0 {
		t.Fatal("no progress call")
	}
	wantHandles(t, base, "an Import with a Progress function")
}
