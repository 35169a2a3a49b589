"""Run by test_exit.py: exits the interpreter while a subscription is live
(its callback busy with events that keep arriving) and a wait is pending on
a running task. The package must free both at exit, so the process ends
with status 0 and nothing on stderr.

Usage: exit_child.py IMAGE PREFIX   (CONTAINERD_ADDRESS, CONTAINERD_NAMESPACE set)
Everything it makes has ids starting with PREFIX (the test removes them)."""
import atexit
import sys
import threading
import time

STATE = {}


@atexit.register  # before the package's own handler is: runs after it
def after_package_exit_handler():
    """By now the package has freed the subscription and the wait: no
    callback runs any more although events keep coming."""
    sub, wait, seen = STATE["sub"], STATE["wait"], STATE["seen"]
    n = len(seen)
    time.sleep(0.3)
    print("after exit handler: sub closed %s, wait closed %s, callbacks since %d"
          % (sub.closed, wait.closed, len(seen) - n), flush=True)


import containerd_c  # noqa: E402

SPEC = {"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs"}}


def main(image, prefix):
    client = containerd_c.Client()
    seen = []
    busy = threading.Event()

    def on_event(event):
        seen.append(event.topic)
        if len(seen) >= 10:
            busy.set()
        time.sleep(0.002)  # often inside a callback when the exit comes

    sub = client.subscribe(on_event, ["namespace==%s,topic~=\"^/containers/\"" % client.namespace])

    # A running task (no stdio) with a pending wait.
    tid = prefix + "task"
    spec = client.spec_generate(tid, image, ["sleep", "60"])
    client.prepare_snapshot(image, tid)
    container = client.create_container(tid, spec, image=image, snapshot_key=tid)
    task = container.new_task()
    task.start()
    wait = task.wait_async(lambda status, error: print("wait ended", status, error))

    stop = threading.Event()

    def churn():
        # Container records only: each create and delete publishes an event.
        i = 0
        while not stop.is_set():
            try:
                with client.create_container("%sc%d" % (prefix, i), SPEC) as k:
                    k.delete()
            except containerd_c.Error:
                pass
            i += 1

    # A daemon thread that still calls the library while the interpreter ends.
    threading.Thread(target=churn, daemon=True).start()
    if not busy.wait(30):
        print("no events", file=sys.stderr)
        sys.exit(3)
    assert not wait.done()
    print("exiting with a live subscription and a pending wait", flush=True)
    # Keep every handle referenced: the exit handler, not garbage
    # collection, has to stop the callbacks.
    STATE.update(sub=sub, wait=wait, seen=seen, task=task, container=container, client=client)
    sys.exit(0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
