// Command go-compare is the Go-client side of scripts/bench-calls.sh: the
// same operations as examples-c/bench/calls_bench.c, made through
// containerd's own Go client (Debian's golang-github-containerd-containerd-dev,
// 1.6.20), so that the library's figures have a comparator measured against
// the same daemon in the same run. It is a measurement program, not part of
// the library.
//
// Build (GOPATH mode, offline, from Debian's packages only):
//
//	GO111MODULE=off GOPATH=$PWD/target/go:/usr/share/gocode go build -o target/go/go-compare ./bench/go-compare
//
// Usage: go-compare [options]   (see -h; the daemon from $CONTAINERD_ADDRESS)
//
// Operations (after a warm-up; one output line each, as calls_bench.c):
//
//	a  client.Version
//	b  LoadContainer + container.Spec (Spec re-reads the record: two Gets)
//	b1 LoadContainer + Info(WithoutRefreshedMetadata) raw spec bytes (one Get)
//	c  container.Task(ctx, nil) of a running container (already loaded)
//	d  GetImage, NewContainer(WithNewSnapshot, WithNewSpec(image config,
//	   args "true")), NewTask(NullIO), Wait, Start, wait for the exit,
//	   task Delete, container Delete(WithSnapshotCleanup)
//	e  b from -threads goroutines sharing one client (ops/s)
//	f  -count lifecycles of `true` at once, one goroutine each (scripts/bench-queue.sh):
//	   NewContainer(WithNewSnapshot, WithNewSpec(PATH, args "true", no
//	   image config: as the C side's spec)), NewTask(NullIO), Wait, Start, the exit, task Delete,
//	   container Delete(WithSnapshotCleanup); the image got once before.
//	   Prints "run=go count=N wall_ms=... max_threads=... hwm_kib=...
//	   rss_kib=..." (threads sampled every 2 ms, VmHWM the peak RSS)
//
// Output lines: "op=a n=2000 median_us=... p99_us=... ops_s=...", for op d
// "step=d.create n=30 median_us=..." per step (where its time goes), and, with
// -first, "first_call_us=..."; with -rss N, "rss_kib_after=1000 value=..."
// and "rss_kib_after=N value=...".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

var mainStart = time.Now()

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-compare: "+format+"\n", args...)
	os.Exit(1)
}

type result struct {
	op      string
	samples []time.Duration
	elapsed time.Duration
	ops     int
	threads int
}

func (r result) print() {
	s := append([]time.Duration(nil), r.samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pick := func(q float64) float64 { return quantile(s, q) }
	extra := ""
	if r.threads > 0 {
		extra = fmt.Sprintf(" threads=%d", r.threads)
	}
	fmt.Printf("op=%s n=%d%s median_us=%.1f p99_us=%.1f ops_s=%.0f\n", r.op, len(s), extra,
		pick(0.5), pick(0.99), float64(r.ops)/r.elapsed.Seconds())
}

// quantile is the nearest-rank quantile of sorted durations, in µs, as
// calls_bench.c computes it.
func quantile(s []time.Duration, q float64) float64 {
	i := int(q*float64(len(s))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return float64(s[i].Nanoseconds()) / 1000
}

// measure runs f warm times unmeasured, then n times, timing each.
func measure(op string, warm, n int, f func() error) result {
	for i := 0; i < warm; i++ {
		if err := f(); err != nil {
			die("op %s (warm-up): %v", op, err)
		}
	}
	r := result{op: op, samples: make([]time.Duration, 0, n), ops: n}
	start := time.Now()
	for i := 0; i < n; i++ {
		t := time.Now()
		if err := f(); err != nil {
			die("op %s: %v", op, err)
		}
		r.samples = append(r.samples, time.Since(t))
	}
	r.elapsed = time.Since(start)
	return r
}

func rssKiB() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		die("/proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	die("no VmRSS in /proc/self/status")
	return 0
}

func main() {
	address := strings.TrimPrefix(os.Getenv("CONTAINERD_ADDRESS"), "unix://")
	if address == "" {
		address = "/run/containerd/containerd.sock"
	}
	ns := os.Getenv("CONTAINERD_NAMESPACE")
	if ns == "" {
		ns = "default"
	}
	ops := flag.String("ops", "a,b,b1,c,d,e", "operations to measure, comma-separated")
	container := flag.String("container", "", "id of a running container (ops b, c, e)")
	image := flag.String("image", "docker.io/library/ctrd-test:latest", "image for op d")
	n := flag.Int("n", 2000, "measured calls of ops a, b, c")
	warm := flag.Int("warmup", 200, "unmeasured calls before each of ops a, b, c")
	nd := flag.Int("n-lifecycle", 30, "measured lifecycles (op d)")
	threads := flag.Int("threads", 16, "goroutines of op e")
	ne := flag.Int("n-threaded", 500, "op b calls per goroutine in op e")
	first := flag.Bool("first", false, "measure the first call in a fresh process (re-executes itself)")
	firstChild := flag.Bool("first-child", false, "internal: be that fresh process")
	rss := flag.Int("rss", 0, "RSS after 1,000 and after this many op a calls (0: skip)")
	count := flag.Int("count", 100, "lifecycles at once (op f)")
	flag.Parse()

	if *firstChild {
		// From main's start: Go's runtime is up before main runs.
		c, err := containerd.New(address, containerd.WithDefaultNamespace(ns))
		if err != nil {
			die("connect: %v", err)
		}
		if _, err := c.Version(namespaces.WithNamespace(context.Background(), ns)); err != nil {
			die("version: %v", err)
		}
		fmt.Printf("%d\n", time.Since(mainStart).Microseconds())
		return
	}

	client, err := containerd.New(address, containerd.WithDefaultNamespace(ns))
	if err != nil {
		die("connect to %s: %v", address, err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), ns)

	opB := func() error {
		k, err := client.LoadContainer(ctx, *container)
		if err != nil {
			return err
		}
		_, err = k.Spec(ctx)
		return err
	}
	want := map[string]bool{}
	for _, o := range strings.Split(*ops, ",") {
		want[o] = true
	}
	if (want["b"] || want["b1"] || want["c"] || want["e"]) && *container == "" {
		die("ops b, c and e need -container ID (a running container)")
	}

	if want["a"] {
		measure("a", *warm, *n, func() error { _, err := client.Version(ctx); return err }).print()
	}
	if want["b"] {
		measure("b", *warm, *n, opB).print()
	}
	if want["b1"] {
		measure("b1", *warm, *n, func() error {
			k, err := client.LoadContainer(ctx, *container)
			if err != nil {
				return err
			}
			info, err := k.Info(ctx, containerd.WithoutRefreshedMetadata)
			if err != nil {
				return err
			}
			if info.Spec == nil || len(info.Spec.Value) == 0 {
				return fmt.Errorf("container %s has no spec", *container)
			}
			return nil
		}).print()
	}
	if want["c"] {
		k, err := client.LoadContainer(ctx, *container)
		if err != nil {
			die("load %s: %v", *container, err)
		}
		measure("c", *warm, *n, func() error { _, err := k.Task(ctx, nil); return err }).print()
	}
	if want["d"] {
		// Where the time goes: each step's duration in every lifecycle.
		stepNames := []string{"image", "create", "new_task", "start", "wait", "delete_task", "delete_container"}
		var steps [][]time.Duration
		i := 0
		lifecycle := func() error {
			i++
			id := fmt.Sprintf("go-d-%d-%d", os.Getpid(), i)
			at := []time.Time{time.Now()}
			img, err := client.GetImage(ctx, *image)
			if err != nil {
				return err
			}
			at = append(at, time.Now())
			k, err := client.NewContainer(ctx, id,
				containerd.WithNewSnapshot(id, img),
				containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("true")))
			if err != nil {
				return err
			}
			at = append(at, time.Now())
			t, err := k.NewTask(ctx, cio.NullIO)
			if err != nil {
				return err
			}
			at = append(at, time.Now())
			exit, err := t.Wait(ctx)
			if err != nil {
				return err
			}
			if err := t.Start(ctx); err != nil {
				return err
			}
			at = append(at, time.Now())
			st := <-exit
			if st.ExitCode() != 0 {
				return fmt.Errorf("task %s exited with %d", id, st.ExitCode())
			}
			at = append(at, time.Now())
			if _, err := t.Delete(ctx); err != nil {
				return err
			}
			at = append(at, time.Now())
			if err := k.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
				return err
			}
			at = append(at, time.Now())
			d := make([]time.Duration, len(stepNames))
			for j := range d {
				d[j] = at[j+1].Sub(at[j])
			}
			steps = append(steps, d)
			return nil
		}
		r := measure("d", 3, *nd, lifecycle)
		r.print()
		steps = steps[len(steps)-*nd:] // not the warm-up
		for j, name := range stepNames {
			s := make([]time.Duration, len(steps))
			for k := range steps {
				s[k] = steps[k][j]
			}
			sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
			fmt.Printf("step=d.%s n=%d median_us=%.1f\n", name, len(s), quantile(s, 0.5))
		}
	}
	if want["e"] {
		for i := 0; i < 50; i++ {
			if err := opB(); err != nil {
				die("op e (warm-up): %v", err)
			}
		}
		per := make([][]time.Duration, *threads)
		var wg sync.WaitGroup
		start := time.Now()
		for g := 0; g < *threads; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				s := make([]time.Duration, 0, *ne)
				for i := 0; i < *ne; i++ {
					t := time.Now()
					if err := opB(); err != nil {
						die("op e: %v", err)
					}
					s = append(s, time.Since(t))
				}
				per[g] = s
			}(g)
		}
		wg.Wait()
		r := result{op: "e", elapsed: time.Since(start), ops: *threads * *ne, threads: *threads}
		for _, s := range per {
			r.samples = append(r.samples, s...)
		}
		r.print()
	}
	if want["f"] {
		concurrentLifecycles(ctx, client, *image, *count)
	}
	if *first {
		self, err := os.Executable()
		if err != nil {
			die("own executable: %v", err)
		}
		t := time.Now()
		out, err := exec.Command(self, "-first-child").Output()
		if err != nil {
			die("first-call child: %v", err)
		}
		fmt.Printf("first_call_us=%s process_us=%d\n", strings.TrimSpace(string(out)), time.Since(t).Microseconds())
	}
	if *rss > 0 {
		for i := 1; i <= *rss; i++ {
			if _, err := client.Version(ctx); err != nil {
				die("rss: %v", err)
			}
			if i == 1000 || i == *rss {
				fmt.Printf("rss_kib_after=%d value=%d\n", i, rssKiB())
			}
		}
	}
}

// statusField is a field of /proc/self/status ("Threads:", "VmHWM:", ...).
func statusField(name string) int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		die("read /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, name) {
			v, _ := strconv.ParseInt(strings.Fields(line[len(name):])[0], 10, 64)
			return v
		}
	}
	return -1
}

// concurrentLifecycles is op f: n lifecycles of `true` at once.
func concurrentLifecycles(ctx context.Context, client *containerd.Client, image string, n int) {
	img, err := client.GetImage(ctx, image)
	if err != nil {
		die("op f: image: %v", err)
	}
	var maxThreads int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if t := statusField("Threads:"); t > maxThreads {
				maxThreads = t
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	life := func(i int) error {
		id := fmt.Sprintf("go-f-%d-%d", os.Getpid(), i)
		k, err := client.NewContainer(ctx, id,
			containerd.WithNewSnapshot(id, img),
			containerd.WithNewSpec(oci.WithDefaultPathEnv, oci.WithProcessArgs("true")))
		if err != nil {
			return err
		}
		t, err := k.NewTask(ctx, cio.NullIO)
		if err != nil {
			return err
		}
		exit, err := t.Wait(ctx)
		if err != nil {
			return err
		}
		if err := t.Start(ctx); err != nil {
			return err
		}
		if st := <-exit; st.ExitCode() != 0 {
			return fmt.Errorf("task %s exited with %d", id, st.ExitCode())
		}
		if _, err := t.Delete(ctx); err != nil {
			return err
		}
		return k.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := life(i); err != nil {
				die("op f: %v", err)
			}
		}(i)
	}
	wg.Wait()
	wall := time.Since(start)
	close(stop)
	<-sampled
	fmt.Printf("run=go count=%d wall_ms=%.1f max_threads=%d hwm_kib=%d rss_kib=%d\n", n,
		float64(wall.Microseconds())/1000, maxThreads, statusField("VmHWM:"), statusField("VmRSS:"))
}
