package containerdc

// The test setup: a private containerd started with scripts/daemon.sh
// (stopped again at the end) holding the test image, imported from
// target/test-image.tar with scripts/import-image.sh; or the daemon
// $CONTAINERD_ADDRESS names. Without root or containerd the tests that
// need a daemon are skipped, except under CI=true, where that is a failure.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

const testImage = "docker.io/library/ctrd-test:latest"

var (
	repoRoot      string
	testAddress   string // "unix:///..." of the daemon the tests use
	testNamespace string
	external      bool   // $CONTAINERD_ADDRESS: a daemon not started here
	unavailable   string // why there is no daemon ("" when there is one)
	ci            = os.Getenv("CI") == "true"
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	testNamespace = os.Getenv("CONTAINERD_NAMESPACE")
	if testNamespace == "" {
		testNamespace = "default"
	}
	if addr := os.Getenv("CONTAINERD_ADDRESS"); addr != "" {
		external = true
		testAddress = addr
		if err := ensureImage(strings.TrimPrefix(addr, "unix://")); err != nil {
			unavailable = "$CONTAINERD_ADDRESS=" + addr + ": " + err.Error()
		}
		return checkLeftovers(m.Run())
	}
	switch {
	case os.Geteuid() != 0:
		unavailable = "a private containerd needs root"
	default:
		if _, err := exec.LookPath(envOr("CONTAINERD_BIN", "containerd")); err != nil {
			unavailable = "containerd is not installed (scripts/deps.sh)"
		}
	}
	if unavailable != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ctrd-gotest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	os.Remove(dir) // daemon.sh makes it itself
	defer exec.Command(filepath.Join(repoRoot, "scripts/daemon.sh"), "stop", dir).Run()
	out, err := runScript("daemon.sh", "start", dir, "--owner-pid", fmt.Sprint(os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "scripts/daemon.sh start failed:", err)
		return 1
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sock := lines[len(lines)-1]
	testAddress = "unix://" + sock
	if err := importImage(sock); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return checkLeftovers(m.Run())
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// runScript runs scripts/NAME ARGS and returns its stdout; its stderr is
// in the error.
func runScript(name string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("scripts/%s: %v: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

func importImage(sock string) error {
	tar := envOr("CTRD_TEST_IMAGE_TAR", filepath.Join(repoRoot, "target/test-image.tar"))
	if _, err := os.Stat(tar); err != nil {
		if _, err := runScript("make-image.sh", tar); err != nil {
			return err
		}
	}
	_, err := runScript("import-image.sh", sock, testNamespace, tar)
	return err
}

// ensureImage imports the test image into an external daemon lacking it.
func ensureImage(sock string) error {
	c, err := Connect(testAddress, testNamespace)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, _, err := c.ServerVersion(); err != nil {
		return err
	}
	img, err := c.GetImage(testImage)
	if errors.Is(err, ErrNotFound) {
		return importImage(sock)
	}
	if err == nil {
		img.Close()
	}
	return err
}

// checkLeftovers fails a passing run that left containers of the tests
// (ids starting with "go-") or namespaces ("go-ns-") behind.
func checkLeftovers(code int) int {
	if code != 0 || unavailable != "" {
		return code
	}
	c, err := Connect(testAddress, testNamespace)
	if err != nil {
		fmt.Fprintln(os.Stderr, "leftover check:", err)
		return 1
	}
	defer c.Close()
	ids, err := c.Containers(`id~="^go-"`)
	if err != nil || len(ids) > 0 {
		fmt.Fprintln(os.Stderr, "containers left behind:", ids, err)
		return 1
	}
	nss, err := c.Namespaces()
	var left []string
	for _, ns := range nss {
		if strings.HasPrefix(ns, "go-ns-") {
			left = append(left, ns)
		}
	}
	if err != nil || len(left) > 0 {
		fmt.Fprintln(os.Stderr, "namespaces left behind:", left, err)
		return 1
	}
	return code
}

// needDaemon skips the test without a daemon (fails it under CI=true).
func needDaemon(t *testing.T) {
	t.Helper()
	if unavailable == "" {
		return
	}
	if ci {
		t.Fatalf("%s (CI=true: a missing daemon is a failure)", unavailable)
	}
	t.Skip(unavailable)
}

// newClient is a client of the test daemon, closed after the test.
func newClient(t *testing.T) *Client {
	t.Helper()
	needDaemon(t)
	c, err := Connect(testAddress, testNamespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

var idCounter atomic.Uint64

// uniqueID is a container id for this test ("go-..."), whose container,
// task and snapshot are removed after the test (and checked to be gone).
func uniqueID(t *testing.T, c *Client) string {
	t.Helper()
	id := fmt.Sprintf("go-%d-%d", os.Getpid(), idCounter.Add(1))
	t.Cleanup(func() {
		removeContainer(t, c, id)
		if ids, err := c.Containers(`id=="` + id + `"`); err != nil || len(ids) != 0 {
			t.Errorf("container %s left behind: %v %v", id, ids, err)
		}
	})
	return id
}

// removeContainer deletes container id and its task, if they exist.
func removeContainer(t *testing.T, c *Client, id string) {
	k, err := c.LoadContainer(id)
	if errors.Is(err, ErrNotFound) {
		_ = c.RemoveSnapshot("", id) // prepared, never used
		return
	}
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer k.Close()
	if task, err := k.LoadTask(); err == nil {
		if _, err := task.Delete(TaskDeleteForce); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		task.Close()
	}
	if err := k.Delete(0); err != nil && !errors.Is(err, ErrNotFound) {
		t.Errorf("cleanup: %v", err)
	}
}

// makeContainer makes container id from the test image running args.
func makeContainer(t *testing.T, c *Client, id string, args ...string) *Container {
	t.Helper()
	spec, err := c.GenerateSpec(id, testImage, args)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PrepareSnapshot(testImage, "", id); err != nil {
		t.Fatal(err)
	}
	k, err := c.CreateContainer(ContainerOptions{ID: id, SpecJSON: spec, Image: testImage, SnapshotKey: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// startTask makes k's task (no stdio) and starts it; the handle is closed
// when the test ends.
func startTask(t *testing.T, k *Container) *Task {
	t.Helper()
	task, err := k.NewTask(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(task.Close)
	if err := task.Start(); err != nil {
		t.Fatal(err)
	}
	return task
}

// asError returns err as an *Error with the status want, failing the test
// otherwise.
func asError(t *testing.T, err error, want Status) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want an *Error with %v, got %T %v", want, err, err)
	}
	if e.Status != want || e.Name != want.String() {
		t.Fatalf("want %v, got %d %s: %s", want, e.Status, e.Name, e.Message)
	}
	return e
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
