package containerdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// A spec for container records that never get a task.
const recordSpec = `{"ociVersion":"1.0.2","process":{"args":["true"],"cwd":"/","user":{"uid":0,"gid":0}},"root":{"path":"rootfs"}}`

func TestVersion(t *testing.T) {
	if !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(Version()) {
		t.Fatalf("Version() = %q", Version())
	}
	if StatusNotFound.String() != "CTRD_ERR_NOT_FOUND" || Status(999).String() != "CTRD_STATUS_INVALID" {
		t.Fatal(StatusNotFound.String(), Status(999).String())
	}
}

func TestServerVersion(t *testing.T) {
	c := newClient(t)
	version, revision, err := c.ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("containerd %s (%s)", version, revision)
	if version == "" || version[0] < '0' || version[0] > '9' {
		t.Fatalf("version %q", version)
	}
	// scripts/test.sh says which version the daemon is.
	if want := os.Getenv("CTRD_CONTAINERD_VERSION"); want != "" && !external && !strings.HasPrefix(version, want+".") {
		t.Fatalf("version %q, want %s.x", version, want)
	}
	if err := c.SetTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.SetTimeout(0); err != nil { // none
		t.Fatal(err)
	}
	if _, _, err := c.ServerVersion(); err != nil {
		t.Fatal(err)
	}
	if c.Namespace() != testNamespace {
		t.Fatalf("namespace %q", c.Namespace())
	}
	info, err := c.ServerInfoJSON()
	if err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		UUID    string `json:"uuid"`
		Plugins []struct{ Type, ID string }
	}
	if err := json.Unmarshal([]byte(info), &parsed); err != nil || parsed.UUID == "" || len(parsed.Plugins) == 0 {
		t.Fatalf("server info %q: %v", info, err)
	}
}

func TestErrorFields(t *testing.T) {
	c := newClient(t)
	_, err := c.LoadContainer("no-such-container")
	e := asError(t, err, StatusNotFound)
	if e.Status != 2 || e.Name != "CTRD_ERR_NOT_FOUND" {
		t.Fatalf("%#v", e)
	}
	if !strings.Contains(e.Message, "no-such-container") || !strings.Contains(e.Message, "not found") {
		t.Fatalf("message %q", e.Message)
	}
	if err.Error() != "CTRD_ERR_NOT_FOUND: "+e.Message {
		t.Fatalf("Error() = %q", err.Error())
	}
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyExists) {
		t.Fatal("errors.Is does not test the status")
	}
	wrapped := fmt.Errorf("loading: %w", err)
	if !errors.Is(wrapped, ErrNotFound) {
		t.Fatal("errors.Is through a wrap")
	}
}

func TestWrongArguments(t *testing.T) {
	// Without a daemon: checked by the library or by the package.
	_, err := Connect("relative/path.sock", "")
	if e := asError(t, err, StatusInvalidArgument); !strings.Contains(e.Message, "relative/path.sock") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = Connect("", "bad namespace!")
	if e := asError(t, err, StatusInvalidArgument); !strings.Contains(e.Message, "bad namespace!") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = Connect("/run/x\x00y.sock", "")
	if e := asError(t, err, StatusInvalidArgument); e.Message != "containerdc: address contains a NUL byte" {
		t.Fatalf("message %q", e.Message)
	}
	_, err = NewFifoSet("relative/dir", "x", false, false)
	asError(t, err, StatusInvalidArgument)
	_, err = PatchSpec(recordSpec, "not json")
	asError(t, err, StatusInvalidArgument)
	patched, err := PatchSpec(recordSpec, `{"hostname":"box"}`)
	if err != nil || !strings.Contains(patched, `"hostname":"box"`) {
		t.Fatalf("%q %v", patched, err)
	}
	_, err = Attach(IO{Stdout: "relative"}, Stdio{Stdout: Pipe})
	asError(t, err, StatusInvalidArgument)

	// An unreachable daemon.
	u, err := Connect("/nonexistent/containerd.sock", "")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_, _, err = u.ServerVersion()
	if e := asError(t, err, StatusUnavailable); !strings.Contains(e.Message, "/nonexistent/containerd.sock") {
		t.Fatalf("message %q", e.Message)
	}
	if err := u.SetTimeout(-time.Second); err == nil {
		t.Fatal("negative timeout accepted")
	}

	c := newClient(t)
	_, err = c.CreateContainer(ContainerOptions{ID: "bad id!", SpecJSON: recordSpec})
	if e := asError(t, err, StatusInvalidArgument); !strings.Contains(e.Message, "bad id!") {
		t.Fatalf("message %q", e.Message)
	}
	_, err = c.CreateContainer(ContainerOptions{ID: "go-x", SpecJSON: "{"})
	asError(t, err, StatusInvalidArgument)
	_, err = c.LoadContainer("a\x00b")
	if e := asError(t, err, StatusInvalidArgument); e.Message != "containerdc: id contains a NUL byte" {
		t.Fatalf("message %q", e.Message)
	}
	_, err = c.Containers("id==")
	asError(t, err, StatusInvalidArgument)
	_, err = c.Subscribe("topic==")
	asError(t, err, StatusInvalidArgument)
	err = c.Export("relative.tar", testImage)
	asError(t, err, StatusInvalidArgument)
	err = c.Export(t.TempDir() + "/x.tar")
	asError(t, err, StatusInvalidArgument)
	_, err = c.Import(context.Background(), "relative.tar", nil)
	asError(t, err, StatusInvalidArgument)
	_, err = c.GenerateSpec("go-x", "", []string{})
	asError(t, err, StatusInvalidArgument)
}

func TestClosedHandles(t *testing.T) {
	c := newClient(t)
	c2, err := Connect(testAddress, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	c2.Close() // again: nothing
	_, _, err = c2.ServerVersion()
	if e := asError(t, err, StatusInvalidArgument); e.Message != "containerdc: use of a closed Client" {
		t.Fatalf("message %q", e.Message)
	}
	if c2.Namespace() != "" {
		t.Fatal("namespace of a closed client")
	}
	img, err := c.GetImage(testImage)
	if err != nil {
		t.Fatal(err)
	}
	img.Close()
	if _, err := img.Size(); err == nil || img.Name() != "" {
		t.Fatal("closed image still usable")
	}
	f, err := NewFifoSet("", "go-closed", false, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := f.Dir()
	f.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", dir, err)
	}
	_, err = f.Attach(Stdio{})
	asError(t, err, StatusInvalidArgument)
}

// Each of 32 goroutines makes 1000 failing calls whose message names its
// own container id; the goroutines move between OS threads meanwhile
// (counted), and every message must be the goroutine's own.
func TestErrorsPerGoroutineThread(t *testing.T) {
	c := newClient(t)
	const goroutines, calls = 32, 1000
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	var wrong, moved, total atomic.Int64
	var firstWrong sync.Once
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			tid := syscall.Gettid()
			for i := 0; i < calls; i++ {
				id := fmt.Sprintf("go-missing-g%d-i%d", g, i)
				_, err := c.LoadContainer(id)
				var e *Error
				if !errors.As(err, &e) || e.Status != StatusNotFound || !strings.Contains(e.Message, `"`+id+`"`) {
					wrong.Add(1)
					firstWrong.Do(func() { t.Errorf("goroutine %d call %d: %v", g, i, err) })
				}
				total.Add(1)
				if now := syscall.Gettid(); now != tid {
					moved.Add(1)
					tid = now
				}
				if i%8 == 0 {
					runtime.Gosched()
				}
			}
		}(g)
	}
	wg.Wait()
	t.Logf("%d failing calls, %d wrong messages, %d moves to another OS thread", total.Load(), wrong.Load(), moved.Load())
	if total.Load() != goroutines*calls || wrong.Load() != 0 {
		t.Fatalf("%d of %d messages wrong", wrong.Load(), total.Load())
	}
	if moved.Load() == 0 {
		t.Fatal("no goroutine changed OS threads: the test proved nothing")
	}
}

func TestContainerRecords(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	labels := map[string]string{"app": "web", "tier": "front"}
	k, err := c.CreateContainer(ContainerOptions{ID: id, SpecJSON: recordSpec, Labels: labels,
		RuntimeOptionsJSON: `{"NoNewKeyring":true}`})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.ID() != id {
		t.Fatalf("id %q", k.ID())
	}
	spec, err := k.SpecJSON()
	if err != nil || spec != recordSpec {
		t.Fatalf("spec %q %v", spec, err)
	}
	var info struct {
		ID      string
		Labels  map[string]string
		Runtime struct {
			Name    string
			Options struct{ Decoded map[string]any }
		}
	}
	infoJSON, err := k.InfoJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(infoJSON), &info); err != nil {
		t.Fatal(err)
	}
	if info.ID != id || !reflect.DeepEqual(info.Labels, labels) || info.Runtime.Name != "io.containerd.runc.v2" ||
		info.Runtime.Options.Decoded["NoNewKeyring"] != true {
		t.Fatalf("info %s", infoJSON)
	}
	ids, err := c.Containers(fmt.Sprintf(`labels."app"==web,id==%s`, id))
	if err != nil || !reflect.DeepEqual(ids, []string{id}) {
		t.Fatalf("%v %v", ids, err)
	}
	ids, err = c.Containers(fmt.Sprintf(`labels."app"==db,id==%s`, id))
	if err != nil || len(ids) != 0 {
		t.Fatalf("%v %v", ids, err)
	}
	_, err = c.CreateContainer(ContainerOptions{ID: id, SpecJSON: recordSpec})
	asError(t, err, StatusAlreadyExists)

	if err := k.SetLabels(map[string]string{"tier": "", "new": "1"}); err != nil {
		t.Fatal(err)
	}
	same, err := c.LoadContainer(id)
	if err != nil {
		t.Fatal(err)
	}
	defer same.Close()
	infoJSON, _ = same.InfoJSON()
	info.Labels = nil
	if err := json.Unmarshal([]byte(infoJSON), &info); err != nil ||
		!reflect.DeepEqual(info.Labels, map[string]string{"app": "web", "new": "1"}) {
		t.Fatalf("labels after SetLabels: %s %v", infoJSON, err)
	}
	newSpec := strings.Replace(recordSpec, `"true"`, `"false"`, 1)
	if err := same.UpdateSpec(newSpec); err != nil {
		t.Fatal(err)
	}
	if spec, _ := k.SpecJSON(); spec != recordSpec {
		t.Fatal("the other handle's copy changed before Refresh")
	}
	if err := k.Refresh(); err != nil {
		t.Fatal(err)
	}
	if spec, _ := k.SpecJSON(); spec != newSpec {
		t.Fatalf("after Refresh: %q", spec)
	}
	_, err = k.LoadTask()
	asError(t, err, StatusNotFound)
	if err := k.Delete(0); err != nil {
		t.Fatal(err)
	}
	err = k.Refresh()
	asError(t, err, StatusNotFound)
}

func TestSpecGenerate(t *testing.T) {
	c := newClient(t)
	spec, err := c.GenerateSpec("go-spec", testImage, []string{"echo", "hi"})
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Process struct{ Args []string }
		Linux   struct{ CgroupsPath string }
	}
	if err := json.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Process.Args, []string{"echo", "hi"}) || !strings.HasSuffix(s.Linux.CgroupsPath, "/go-spec") {
		t.Fatalf("%+v", s)
	}
	_, err = c.GenerateSpec("go-spec", "docker.io/library/no-such-image:1", nil)
	asError(t, err, StatusNotFound)
}

func TestNamespaces(t *testing.T) {
	c := newClient(t)
	name := fmt.Sprintf("go-ns-%d", os.Getpid())
	if err := c.CreateNamespace(name, map[string]string{"purpose": "test"}); err != nil {
		t.Fatal(err)
	}
	nss, err := c.Namespaces()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ns := range nss {
		found = found || ns == name
	}
	if !found {
		t.Fatalf("%s not in %v", name, nss)
	}
	asError(t, c.CreateNamespace(name, nil), StatusAlreadyExists)
	if err := c.DeleteNamespace(name); err != nil {
		t.Fatal(err)
	}
	asError(t, c.DeleteNamespace(name), StatusNotFound)
}
