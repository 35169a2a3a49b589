package containerdc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunEcho(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	var out, errOut bytes.Buffer
	status, err := c.Run(testImage, []string{"echo", "hello from a container"},
		RunOptions{ID: id, Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	if status != 0 || out.String() != "hello from a container\n" || errOut.Len() != 0 {
		t.Fatalf("status %d, stdout %q, stderr %q", status, out.String(), errOut.String())
	}
	if ids, _ := c.Containers(`id=="` + id + `"`); len(ids) != 0 {
		t.Fatalf("Run left %v", ids)
	}
}

func TestRunExitCodeStderrAndStdin(t *testing.T) {
	c := newClient(t)
	var out, errOut bytes.Buffer
	status, err := c.Run(testImage, []string{"sh", "-c", "tr a-z A-Z; echo err >&2; exit 5"}, RunOptions{
		ID: uniqueID(t, c), Stdin: strings.NewReader(strings.Repeat("piped text\n", 1000)),
		Stdout: &out, Stderr: &errOut,
	})
	if err != nil {
		t.Fatal(err)
	}
	if status != 5 || out.String() != strings.Repeat("PIPED TEXT\n", 1000) || errOut.String() != "err\n" {
		t.Fatalf("status %d, stdout %d bytes, stderr %q", status, out.Len(), errOut.String())
	}
}

func TestRunToFilesAndTerminal(t *testing.T) {
	c := newClient(t)
	// *os.File streams go to the library as descriptors.
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	status, err := c.Run(testImage, []string{"sh", "-c", "echo to-file; exit 3"}, RunOptions{ID: uniqueID(t, c), Stdout: f})
	if err != nil || status != 3 {
		t.Fatalf("%d %v", status, err)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "to-file\n" {
		t.Fatalf("file holds %q", b)
	}
	in, err := os.Open(f.Name()) // stdin from a file, as a descriptor too
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var catOut bytes.Buffer
	status, err = c.Run(testImage, []string{"cat"}, RunOptions{ID: uniqueID(t, c), Stdin: in, Stdout: &catOut})
	if err != nil || status != 0 || catOut.String() != "to-file\n" {
		t.Fatalf("%d %v %q", status, err, catOut.String())
	}
	var out bytes.Buffer
	status, err = c.Run(testImage, []string{"sh", "-c", "tty; echo err >&2; exit 6"},
		RunOptions{ID: uniqueID(t, c), Stdout: &out, Terminal: true})
	if err != nil || status != 6 {
		t.Fatalf("%d %v", status, err)
	}
	lines := strings.Split(strings.ReplaceAll(out.String(), "\r\n", "\n"), "\n")
	if !strings.HasPrefix(lines[0], "/dev/pts/") || lines[1] != "err" {
		t.Fatalf("terminal output %q", out.String())
	}
}

func TestRunTimeout(t *testing.T) {
	c := newClient(t)
	start := time.Now()
	_, err := c.Run(testImage, []string{"sleep", "60"}, RunOptions{ID: uniqueID(t, c), Timeout: 300 * time.Millisecond})
	asError(t, err, StatusDeadlineExceeded)
	if time.Since(start) > 30*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}

// The handles one by one; the output read as an io.Reader (Pipe).
func TestTaskStepByStep(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sh", "-c", "echo $$; exit 42")
	fifos, err := NewFifoSet("", id, false, false)
	if err != nil {
		t.Fatal(err)
	}
	dir := fifos.Dir()
	paths := fifos.IO()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() || !strings.HasPrefix(paths.Stdout, dir+"/") ||
		paths.Stdin != "" || paths.Stderr == "" {
		t.Fatalf("%s %+v %v", dir, paths, err)
	}
	sess, err := fifos.Attach(Stdio{Stdout: Pipe})
	if err != nil {
		t.Fatal(err)
	}
	if sess.Stderr() != nil {
		t.Fatal("stderr reader without Pipe")
	}
	got := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(sess.Stdout())
		sess.Stdout().Close()
		got <- string(b)
	}()
	task, err := k.NewTask(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	if task.ID() != id || task.Pid() == 0 || task.FifoDir() != dir {
		t.Fatalf("%q %d %q", task.ID(), task.Pid(), task.FifoDir())
	}
	tio, err := task.IO()
	if err != nil || tio != *paths {
		t.Fatalf("task IO %+v, %v", tio, err)
	}
	if state, _, err := task.Status(); err != nil || state != TaskCreated {
		t.Fatalf("%v %v", state, err)
	}
	if err := task.Start(); err != nil {
		t.Fatal(err)
	}
	if status, err := task.Wait(30 * time.Second); err != nil || status != 42 {
		t.Fatalf("%d %v", status, err)
	}
	if err := sess.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if state, status, err := task.Status(); err != nil || state != TaskStopped || status != 42 || state.String() != "stopped" {
		t.Fatalf("%v %d %v", state, status, err)
	}
	if status, err := task.Delete(0); err != nil || status != 42 {
		t.Fatalf("%d %v", status, err)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "1\n" { // pid 1 in its namespace
			t.Fatalf("stdout %q", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no end of file on the stdout reader after Close")
	}
	if err := k.Delete(0); err != nil {
		t.Fatal(err)
	}
	fifos.Close()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still there", dir)
	}
}

func TestExecKillAndPids(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sleep", "60")
	task := startTask(t, k)
	if state, _, _ := task.Status(); state != TaskRunning {
		t.Fatalf("state %v", state)
	}
	fifos, err := NewFifoSet("", id+"-e", false, false)
	if err != nil {
		t.Fatal(err)
	}
	defer fifos.Close()
	var out, errOut bytes.Buffer
	sess, err := fifos.Attach(Stdio{Stdout: &out, Stderr: &errOut})
	if err != nil {
		t.Fatal(err)
	}
	proc, _ := json.Marshal(map[string]any{
		"args": []string{"sh", "-c", "echo exec-out; echo exec-err >&2; exit 4"},
		"cwd":  "/", "user": map[string]int{"uid": 0, "gid": 0}, "env": []string{"PATH=/bin"},
	})
	p, err := task.Exec("e1", string(proc), fifos.IO())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() == 0 {
		t.Fatal("no pid")
	}
	if status, err := p.Wait(30 * time.Second); err != nil || status != 4 {
		t.Fatalf("%d %v", status, err)
	}
	if err := sess.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sess.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "exec-out\n" || errOut.String() != "exec-err\n" {
		t.Fatalf("stdout %q, stderr %q", out.String(), errOut.String())
	}
	if status, err := p.Delete(); err != nil || status != 4 {
		t.Fatalf("%d %v", status, err)
	}
	_, err = task.Exec("bad id!", string(proc), nil)
	asError(t, err, StatusInvalidArgument)

	// An exec process waited for through a channel.
	p2, err := task.Exec("e2", strings.Replace(string(proc), "exit 4", "exit 8", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Start(); err != nil {
		t.Fatal(err)
	}
	w, err := p2.WaitAsync()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case r := <-w.Done():
		if r.Err != nil || r.ExitStatus != 8 {
			t.Fatalf("%+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit")
	}
	if _, err := p2.Delete(); err != nil {
		t.Fatal(err)
	}

	// An exec process killed; its stdin closed; no terminal to resize.
	sleeper, _ := json.Marshal(map[string]any{
		"args": []string{"sleep", "60"}, "cwd": "/", "user": map[string]int{"uid": 0, "gid": 0}, "env": []string{"PATH=/bin"},
	})
	p3, err := task.Exec("e3", string(sleeper), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p3.Close()
	if err := p3.Start(); err != nil {
		t.Fatal(err)
	}
	asError(t, p3.Resize(80, 24), StatusFailedPrecondition)
	if err := p3.CloseStdin(); err != nil {
		t.Fatal(err)
	}
	// Still running: refused, in the daemon's words.
	if _, err := p3.Delete(); err == nil || !strings.Contains(err.Error(), "running") {
		t.Fatalf("deleting a running process: %v", err)
	} else {
		asError(t, err, StatusFailedPrecondition)
	}
	if err := p3.Kill(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if status, err := p3.Wait(30 * time.Second); err != nil || status != 137 {
		t.Fatalf("%d %v", status, err)
	}
	if _, err := p3.Delete(); err != nil {
		t.Fatal(err)
	}

	pids, err := task.Pids()
	if err != nil || len(pids) != 1 || pids[0] != task.Pid() {
		t.Fatalf("pids %v (task %d): %v", pids, task.Pid(), err)
	}
	if err := task.Update(`{"pids":{"limit":64}}`); err != nil {
		t.Fatal(err)
	}
	asError(t, task.Update(`{"pids":{"limit":"x"}}`), StatusInvalidArgument)
	metrics, err := task.MetricsJSON()
	if err != nil || !strings.Contains(metrics, "io.containerd.cgroups.v") {
		t.Fatalf("%q %v", metrics, err)
	}
	if err := task.Pause(); err != nil {
		t.Fatal(err)
	}
	if state, _, _ := task.Status(); state != TaskPaused {
		t.Fatalf("state %v", state)
	}
	if err := task.Resume(); err != nil {
		t.Fatal(err)
	}
	_, err = task.Wait(200 * time.Millisecond)
	asError(t, err, StatusDeadlineExceeded)
	asError(t, task.Kill(0, 0), StatusInvalidArgument)
	asError(t, task.Resize(80, 24), StatusFailedPrecondition) // no terminal
	_, err = task.Delete(0)
	asError(t, err, StatusFailedPrecondition) // still running
	if err := task.Kill(syscall.SIGKILL, 0); err != nil {
		t.Fatal(err)
	}
	if status, err := task.Wait(30 * time.Second); err != nil || status != 128+9 {
		t.Fatalf("%d %v", status, err)
	}
	if _, err := task.Delete(0); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete(0); err != nil {
		t.Fatal(err)
	}
}

func TestWaitAsyncChannel(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sh", "-c", "sleep 0.3; exit 7")
	task := startTask(t, k)
	w, err := task.WaitAsync()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-w.Done():
		if r.Err != nil || r.ExitStatus != 7 {
			t.Fatalf("%+v", r)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit")
	}
	if _, ok := <-w.Done(); ok {
		t.Fatal("a second value")
	}
	w.Close()
	w.Close()
	if _, err := task.Delete(0); err != nil {
		t.Fatal(err)
	}
	// A wait on a task deleted meanwhile ends with an error.
	w, err = task.WaitAsync()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	select {
	case r := <-w.Done():
		if e := asError(t, r.Err, StatusNotFound); e.Message == "" {
			t.Fatal("no message")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no result")
	}
}

func TestWaitAsyncCancelled(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sleep", "60")
	task := startTask(t, k)
	w, err := task.WaitAsync()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-w.Done():
		t.Fatalf("early result %+v", r)
	default:
	}
	w.Close()
	r, ok := <-w.Done()
	if !ok || !errors.Is(r.Err, ErrCancelled) {
		t.Fatalf("%+v %v", r, ok)
	}
	if _, ok := <-w.Done(); ok {
		t.Fatal("a second value")
	}
	if _, err := task.Delete(TaskDeleteForce); err != nil {
		t.Fatal(err)
	}
	// Many waits closed while the exits arrive: no send after close, no
	// panic (the race detector watches).
	for i := 0; i < 20; i++ {
		w, err := task.WaitAsync() // fails at once: the task is gone
		if err != nil {
			t.Fatal(err)
		}
		w.Close()
		<-w.Done()
	}
}

func TestStartMissingCommand(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "/no/such/command")
	task, err := k.NewTask(nil)
	if err == nil {
		defer task.Close()
		err = task.Start()
	}
	var e *Error
	if !errors.As(err, &e) || !strings.Contains(e.Message, "/no/such/command") {
		t.Fatalf("%v", err)
	}
}

// A second handle re-attaches to a running task's stdio (LoadTask) and
// gets the output written after the first session was closed; stdin goes
// through CloseStdinOnEOF.
func TestLoadTaskReattach(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sh", "-c", "read line; echo got $line; sleep 1; echo late; exit 2")
	fifos, err := NewFifoSet("", id, true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer fifos.Close()
	first, err := fifos.Attach(Stdio{Stdin: strings.NewReader("hello\n"), Stdout: Pipe})
	if err != nil {
		t.Fatal(err)
	}
	task, err := k.NewTask(fifos.IO())
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	if err := task.Start(); err != nil {
		t.Fatal(err)
	}
	if err := task.CloseStdinOnEOF(first); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(first.Stdout()).ReadString('\n')
	if err != nil || line != "got hello\n" {
		t.Fatalf("%q %v", line, err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	first.Stdout().Close()

	k2, err := c.LoadContainer(id)
	if err != nil {
		t.Fatal(err)
	}
	defer k2.Close()
	loaded, err := k2.LoadTask()
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if loaded.Pid() != task.Pid() || loaded.FifoDir() != fifos.Dir() {
		t.Fatalf("loaded pid %d dir %q, task %d %q", loaded.Pid(), loaded.FifoDir(), task.Pid(), fifos.Dir())
	}
	paths, err := loaded.IO()
	if err != nil || paths != *fifos.IO() {
		t.Fatalf("%+v %v", paths, err)
	}
	var out bytes.Buffer
	second, err := Attach(paths, Stdio{Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if status, err := loaded.Wait(30 * time.Second); err != nil || status != 2 {
		t.Fatalf("%d %v", status, err)
	}
	if err := second.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := second.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "late\n" {
		t.Fatalf("re-attached output %q", out.String())
	}
	if _, err := loaded.Delete(0); err != nil {
		t.Fatal(err)
	}
	if err := k2.Delete(0); err != nil {
		t.Fatal(err)
	}
}

// TestCommit: Container.Commit of a running task's file (one more diff id;
// the task running after); a container of the image reads it back; an
// existing name is StatusAlreadyExists.
func TestCommit(t *testing.T) {
	c := newClient(t)
	id := uniqueID(t, c)
	k := makeContainer(t, c, id, "sh", "-c", "echo go > /go; sleep 60; true")
	task := startTask(t, k)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		pids, err := task.Pids()
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) >= 2 { // sh started sleep: /go is written
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sleep did not start")
		}
	}
	name := "docker.io/library/" + id + ":committed"
	img, err := k.Commit(name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.DeleteImage(name, 0)
	defer img.Close()
	base, err := c.GetImage(testImage)
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	diffIDs := func(i *Image) int {
		text, err := i.ConfigJSON()
		if err != nil {
			t.Fatal(err)
		}
		var config struct {
			RootFS struct {
				DiffIDs []string `json:"diff_ids"`
			} `json:"rootfs"`
		}
		if err := json.Unmarshal([]byte(text), &config); err != nil {
			t.Fatal(err)
		}
		return len(config.RootFS.DiffIDs)
	}
	if img.Name() != name || diffIDs(img) != diffIDs(base)+1 {
		t.Fatalf("%q: %d diff ids, base %d", img.Name(), diffIDs(img), diffIDs(base))
	}
	if state, _, err := task.Status(); err != nil || state != TaskRunning {
		t.Fatalf("%v %v", state, err)
	}
	_, err = k.Commit(name, CommitNoPause)
	if e := asError(t, err, StatusAlreadyExists); !strings.Contains(e.Message, name) {
		t.Fatalf("message %q", e.Message)
	}
	_, err = k.Commit("", 0)
	asError(t, err, StatusInvalidArgument)
	if _, err := task.Delete(TaskDeleteForce); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	status, err := c.Run(name, []string{"cat", "/go"}, RunOptions{ID: id + "-read", Stdout: &out})
	if err != nil || status != 0 || out.String() != "go\n" {
		t.Fatalf("%d %q %v", status, out.String(), err)
	}
}
