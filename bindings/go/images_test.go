package containerdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestImages(t *testing.T) {
	c := newClient(t)
	names, err := c.Images("")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range names {
		found = found || n == testImage
	}
	if !found {
		t.Fatalf("%s not in %v", testImage, names)
	}
	names, err = c.Images("name==" + testImage)
	if err != nil || !reflect.DeepEqual(names, []string{testImage}) {
		t.Fatalf("%v %v", names, err)
	}
	img, err := c.GetImage(testImage)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Name() != testImage || !strings.HasPrefix(img.Digest(), "sha256:") || len(img.Digest()) != 71 {
		t.Fatalf("%q %q", img.Name(), img.Digest())
	}
	if size, err := img.Size(); err != nil || size < 100000 {
		t.Fatalf("size %d %v", size, err)
	}
	if unpacked, err := img.IsUnpacked(""); err != nil || !unpacked {
		t.Fatalf("unpacked %v %v", unpacked, err)
	}
	if err := img.Unpack(""); err != nil { // nothing left to do
		t.Fatal(err)
	}
	config, err := img.ConfigJSON()
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		OS     string
		RootFS struct{ Type string } `json:"rootfs"`
	}
	if err := json.Unmarshal([]byte(config), &cfg); err != nil || cfg.OS != "linux" || cfg.RootFS.Type != "layers" {
		t.Fatalf("config %s: %v", config, err)
	}
	_, err = c.GetImage("docker.io/library/no-such-image:1")
	if e := asError(t, err, StatusNotFound); !strings.Contains(e.Message, "no-such-image") {
		t.Fatalf("message %q", e.Message)
	}
}

func TestTag(t *testing.T) {
	c := newClient(t)
	tagged := fmt.Sprintf("docker.io/library/go-tagged-%d:1", os.Getpid())
	if err := c.Tag(testImage, tagged, false); err != nil {
		t.Fatal(err)
	}
	defer c.DeleteImage(tagged, 0)
	src, err := c.GetImage(testImage)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	img, err := c.GetImage(tagged)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Name() != tagged || img.Digest() != src.Digest() {
		t.Fatalf("%q %q, want %q", img.Name(), img.Digest(), src.Digest())
	}
	err = c.Tag(testImage, tagged, false)
	if e := asError(t, err, StatusAlreadyExists); !strings.Contains(e.Message, tagged) {
		t.Fatalf("message %q", e.Message)
	}
	if err := c.Tag(testImage, tagged, true); err != nil {
		t.Fatal(err)
	}
	err = c.Tag("docker.io/library/no-such-image:1", tagged+"x", false)
	if e := asError(t, err, StatusNotFound); !strings.Contains(e.Message, "no-such-image") {
		t.Fatalf("message %q", e.Message)
	}
	asError(t, c.Tag(testImage, "", false), StatusInvalidArgument)
	if names, err := c.Images("name==" + tagged + "x"); err != nil || len(names) != 0 {
		t.Fatalf("%v %v", names, err)
	}
}

// otherNamespace is a client of a new namespace ("go-ns-..."), deleted
// (with its images) after the test.
func otherNamespace(t *testing.T, suffix string) *Client {
	t.Helper()
	c := newClient(t)
	ns := fmt.Sprintf("go-ns-%d-%s", os.Getpid(), suffix)
	if err := c.CreateNamespace(ns, nil); err != nil {
		t.Fatal(err)
	}
	o, err := Connect(testAddress, ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer o.Close()
		names, _ := o.Images("")
		for _, n := range names {
			if err := o.DeleteImage(n, ImageDeleteSync); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := c.DeleteNamespace(ns); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return o
}

func TestExportImport(t *testing.T) {
	c := newClient(t)
	tar := filepath.Join(t.TempDir(), "export.tar")
	if err := c.Export(tar, testImage); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(tar); err != nil || st.Size() < 100000 {
		t.Fatalf("%v %v", st, err)
	}
	err := c.Export(filepath.Join(t.TempDir(), "x.tar"), "docker.io/library/no-such-image:1")
	asError(t, err, StatusNotFound)

	o := otherNamespace(t, "import")
	var mu sync.Mutex
	var phases []string
	names, err := o.Import(context.Background(), tar, &PullOptions{Progress: func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Ref != tar {
			t.Errorf("progress ref %q", p.Ref)
		}
		if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
			phases = append(phases, p.Phase)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, []string{testImage}) {
		t.Fatalf("imported %v", names)
	}
	mu.Lock()
	if len(phases) == 0 || phases[len(phases)-1] != "done" {
		t.Errorf("phases %v", phases)
	}
	mu.Unlock()
	img, err := o.GetImage(testImage)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if unpacked, err := img.IsUnpacked(""); err != nil || !unpacked {
		t.Fatalf("%v %v", unpacked, err)
	}
	orig, _ := c.GetImage(testImage)
	defer orig.Close()
	if img.Digest() != orig.Digest() {
		t.Fatalf("digest %s, exported %s", img.Digest(), orig.Digest())
	}

	// A panic in the progress function comes back in the caller's goroutine.
	func() {
		defer func() {
			if r := recover(); r != "progress panic" {
				t.Fatalf("recovered %v", r)
			}
		}()
		_, _ = o.Import(context.Background(), tar, &PullOptions{NoUnpack: true, Progress: func(Progress) { panic("progress panic") }})
		t.Fatal("no panic")
	}()
}

// Pull from a private registry (scripts/registry.sh) with credentials, or
// from $CTRD_TEST_REGISTRY with $CTRD_TEST_REGISTRY_CREDS when set.
func TestPull(t *testing.T) {
	needDaemon(t)
	host, creds := os.Getenv("CTRD_TEST_REGISTRY"), os.Getenv("CTRD_TEST_REGISTRY_CREDS")
	if host == "" {
		if external {
			// A daemon of the caller's: no registry to start beside it.
			if ci {
				t.Fatal("$CONTAINERD_ADDRESS without $CTRD_TEST_REGISTRY (CI=true: a failure)")
			}
			t.Skip("$CONTAINERD_ADDRESS without $CTRD_TEST_REGISTRY")
		}
		if _, err := exec.LookPath(envOr("REGISTRY_BIN", "docker-registry")); err != nil {
			if ci {
				t.Fatal("docker-registry is not installed (CI=true: a failure)")
			}
			t.Skip("docker-registry is not installed (scripts/deps.sh)")
		}
		dir := filepath.Join(t.TempDir(), "registry")
		t.Cleanup(func() { _, _ = runScript("registry.sh", "stop", dir) })
		if _, err := runScript("registry.sh", "start", dir, "--owner-pid", fmt.Sprint(os.Getpid())); err != nil {
			t.Fatal(err)
		}
		sock := strings.TrimPrefix(testAddress, "unix://")
		cmd := exec.Command(filepath.Join(repoRoot, "scripts/push-test-images.sh"), sock, dir)
		cmd.Env = append(os.Environ(), "CTRD_PUSH_IMAGES=busybox")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("push-test-images.sh: %v: %s", err, out)
		}
		b1, _ := os.ReadFile(filepath.Join(dir, "host"))
		b2, _ := os.ReadFile(filepath.Join(dir, "creds"))
		host, creds = strings.TrimSpace(string(b1)), strings.TrimSpace(string(b2))
	}
	user, password, _ := strings.Cut(creds, ":")
	ref := host + "/ctrd/busybox:latest"
	o := otherNamespace(t, "pull")

	_, err := o.Pull(context.Background(), ref, &PullOptions{PlainHTTP: true, Username: user, Secret: "wrong"})
	if e := asError(t, err, StatusUnauthenticated); !strings.Contains(e.Message, host) {
		t.Fatalf("message %q", e.Message)
	}
	var mu sync.Mutex
	var last Progress
	img, err := o.Pull(context.Background(), ref, &PullOptions{PlainHTTP: true, Username: user, Secret: password,
		Progress: func(p Progress) { mu.Lock(); last = p; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Name() != ref {
		t.Fatalf("name %q", img.Name())
	}
	mu.Lock()
	if last.Phase != "done" || last.BytesDone != last.BytesTotal || last.LayersDone != last.LayersTotal || last.LayersTotal == 0 || last.Retries != 0 {
		t.Errorf("last progress %+v", last)
	}
	mu.Unlock()
	if unpacked, err := img.IsUnpacked(""); err != nil || !unpacked {
		t.Fatalf("%v %v", unpacked, err)
	}
	// Nothing listens on port 1.
	_, err = o.Pull(context.Background(), "127.0.0.1:1/none:latest", &PullOptions{PlainHTTP: true})
	if e := asError(t, err, StatusUnavailable); !strings.Contains(e.Message, "127.0.0.1:1") {
		t.Fatalf("message %q", e.Message)
	}

	// Pushed to another repository, with progress; pulled back from there
	// into another namespace: the same image.
	pushed := fmt.Sprintf("%s/ctrd/go-pushed-%d:v1", host, os.Getpid())
	err = o.Push(context.Background(), ref, pushed, &PushOptions{PlainHTTP: true, Username: user, Secret: "wrong"})
	if e := asError(t, err, StatusUnauthenticated); !strings.Contains(e.Message, pushed) {
		t.Fatalf("message %q", e.Message)
	}
	err = o.Push(context.Background(), "docker.io/library/go-no-such:1", pushed, &PushOptions{PlainHTTP: true,
		Username: user, Secret: password})
	asError(t, err, StatusNotFound)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := o.Push(ctx, ref, pushed, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("a push with a done context: %v", err)
	}
	var phases []string
	err = o.Push(context.Background(), ref, pushed, &PushOptions{PlainHTTP: true, Username: user, Secret: password,
		Progress: func(p Progress) {
			mu.Lock()
			last = p
			phases = append(phases, p.Phase)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if last.Phase != "done" || last.Ref != pushed || last.BytesDone != last.BytesTotal || last.BytesTotal == 0 {
		t.Errorf("last progress %+v", last)
	}
	for _, p := range phases[:len(phases)-1] {
		if p != "pushing" {
			t.Errorf("phases %v", phases)
		}
	}
	mu.Unlock()
	back := otherNamespace(t, "push-back")
	again, err := back.Pull(context.Background(), pushed, &PullOptions{PlainHTTP: true, Username: user,
		Secret: password, NoUnpack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Digest() != img.Digest() {
		t.Fatalf("pushed %s, pulled back %s", img.Digest(), again.Digest())
	}
}

func TestArchivesThroughPipes(t *testing.T) {
	c := newClient(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	data := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		r.Close()
		data <- b
	}()
	if err := c.ExportFile(w, testImage); err != nil {
		t.Fatal(err)
	}
	w.Close()
	archive := <-data
	if len(archive) < 1024 || string(archive[:10]) != "oci-layout" {
		t.Fatalf("not an archive: %d bytes", len(archive))
	}
	o := otherNamespace(t, "pipes")
	r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		w.Write(archive)
		w.Close()
	}()
	names, err := o.ImportFile(context.Background(), r, &PullOptions{NoUnpack: true})
	r.Close()
	if err != nil || len(names) != 1 || names[0] != testImage {
		t.Fatalf("ImportFile: %v %v", names, err)
	}
}

// stallingRegistry serves /v2/ at once and anything else (the manifest)
// with a body that comes a byte every 200 ms, until the client goes.
func stallingRegistry(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			_, _ = w.Write([]byte("{}"))
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(http.StatusOK)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://")
}

// A pull from a stalling registry ends within a second of its context's
// cancellation, and at its deadline; the errors wrap the context's. An
// Import with a context done already does not start.
func TestPullContext(t *testing.T) {
	o := otherNamespace(t, "pullctx")
	ref := stallingRegistry(t) + "/go/stalls:latest"

	ctx, cancel := context.WithCancel(context.Background())
	var cancelled time.Time
	timer := time.AfterFunc(time.Second, func() { cancelled = time.Now(); cancel() })
	defer timer.Stop()
	_, err := o.Pull(ctx, ref, &PullOptions{PlainHTTP: true})
	took := time.Since(cancelled)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCancelled) {
		t.Fatalf("%v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusCancelled || !strings.Contains(e.Message, ref) {
		t.Fatalf("%#v", e)
	}
	t.Logf("cancel: Pull returned %v after the context's cancel", took)
	if took > time.Second {
		t.Fatalf("returned %v after the cancel", took)
	}

	ctx, cancel2 := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel2()
	start := time.Now()
	_, err = o.Pull(ctx, ref, &PullOptions{PlainHTTP: true})
	took = time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
	t.Logf("deadline 800ms: Pull returned after %v", took)
	if took < 800*time.Millisecond || took > 1800*time.Millisecond {
		t.Fatalf("took %v", took)
	}

	_, err = o.Import(ctx, "/nonexistent.tar", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
	if names, err := o.Images(""); err != nil || len(names) != 0 {
		t.Fatalf("%v %v", names, err)
	}
}

// HostsDir: a mirror (an httptest server that knows no image) asked first,
// with ?ns= naming the registry, then the registry (down): both listed;
// NoHostsDir: the registry alone.
func TestPullHostsDir(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.RequestURI())
		mu.Unlock()
		if r.URL.Path == "/v2/" {
			w.WriteHeader(200)
			return
		}
		w.WriteHeader(404)
	}))
	defer mirror.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	registry := strings.TrimPrefix(down.URL, "http://")
	down.Close()
	root := t.TempDir()
	dir := filepath.Join(root, strings.Replace(registry, ":", "_", 1)+"_")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	toml := fmt.Sprintf("[host.%q]\n", mirror.URL)
	if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	o := otherNamespace(t, "hosts")
	ref := registry + "/go/none:latest"
	_, err := o.Pull(context.Background(), ref, &PullOptions{PlainHTTP: true, NoUnpack: true, HostsDir: root})
	e := asError(t, err, StatusNotFound)
	if !strings.Contains(e.Message, "every host failed: "+mirror.URL+"/v2 (not found") ||
		!strings.Contains(e.Message, "; http://"+registry+"/v2 (connect to") {
		t.Fatalf("message %q", e.Message)
	}
	mu.Lock()
	want := "/go/none/manifests/latest?ns=" + strings.Replace(registry, ":", "%3A", 1)
	if len(asked) != 1 || asked[0] != "/v2"+want {
		t.Fatalf("the mirror was asked %q", asked)
	}
	mu.Unlock()
	_, err = o.Pull(context.Background(), ref, &PullOptions{PlainHTTP: true, NoUnpack: true, HostsDir: root, NoHostsDir: true})
	if e := asError(t, err, StatusUnavailable); strings.Contains(e.Message, mirror.URL) {
		t.Fatalf("message %q", e.Message)
	}
}
