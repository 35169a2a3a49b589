package containerdc_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"syscall"
	"time"

	"containerd-c/containerdc"
)

// Runs a command in a container from an image and prints its output.
func Example() {
	c, err := containerdc.Connect("", "") // $CONTAINERD_ADDRESS, $CONTAINERD_NAMESPACE
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var out bytes.Buffer
	status, err := c.Run("docker.io/library/busybox:latest", []string{"echo", "hello"},
		containerdc.RunOptions{Stdout: &out})
	var e *containerdc.Error
	if errors.As(err, &e) {
		log.Fatalf("%s: %s", e.Name, e.Message) // e.g. CTRD_ERR_NOT_FOUND: ...
	}
	fmt.Print(out.String(), status) // hello 0
}

// The handles one by one: a container, its stdio, its task, its exit as a
// channel.
func ExampleContainer_NewTask() {
	c, err := containerdc.Connect("", "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	image := "docker.io/library/busybox:latest"
	spec, err := c.GenerateSpec("web", image, []string{"sleep", "60"})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.PrepareSnapshot(image, "", "web"); err != nil {
		log.Fatal(err)
	}
	k, err := c.CreateContainer(containerdc.ContainerOptions{ID: "web", SpecJSON: spec, Image: image, SnapshotKey: "web"})
	if err != nil {
		log.Fatal(err)
	}
	defer k.Close()
	fifos, err := containerdc.NewFifoSet("", "web", false, false)
	if err != nil {
		log.Fatal(err)
	}
	// Removes the FIFOs: runs after the task was deleted.
	defer fifos.Close()
	// Attach before NewTask: the shim waits for a reader.
	sess, err := fifos.Attach(containerdc.Stdio{Stdout: containerdc.Pipe, Stderr: os.Stderr})
	if err != nil {
		log.Fatal(err)
	}
	go io.Copy(os.Stdout, sess.Stdout()) // stdout as an io.Reader
	task, err := k.NewTask(fifos.IO())
	if err != nil {
		log.Fatal(err)
	}
	defer task.Close()
	if err := task.Start(); err != nil {
		log.Fatal(err)
	}
	w, err := task.WaitAsync() // the exit as a channel
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	if err := task.Kill(syscall.SIGKILL, 0); err != nil {
		log.Fatal(err)
	}
	r := <-w.Done()
	fmt.Println(r.ExitStatus, r.Err) // 137 <nil>
	_ = sess.Wait(10 * time.Second)
	_ = sess.Close()
	if _, err := task.Delete(0); err != nil {
		log.Fatal(err)
	}
	if err := k.Delete(0); err != nil { // and its snapshot
		log.Fatal(err)
	}
}

// Events arrive on a channel.
func ExampleClient_Subscribe() {
	c, err := containerdc.Connect("", "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(`namespace==default,topic=="/tasks/exit"`)
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	for ev := range sub.Events() {
		var exit struct {
			ContainerID string `json:"containerId"`
			ExitStatus  uint32 `json:"exitStatus"`
		}
		if err := ev.Decode(&exit); err == nil {
			fmt.Println(exit.ContainerID, exit.ExitStatus)
		}
	}
}
