"""Exiting the interpreter with live callbacks must not abort."""
import pathlib
import subprocess
import sys
import time

from conftest import IMAGE, remove_containers

CHILD = pathlib.Path(__file__).with_name("exit_child.py")
RUNS = 10


def test_exit_with_live_subscription_and_pending_wait(client, child_env, unique_id):
    failures = []
    try:
        for run in range(RUNS):
            prefix = "%s-%d-" % (unique_id, run)
            p = subprocess.run([sys.executable, str(CHILD), IMAGE, prefix], env=child_env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
            if p.returncode != 0 or p.stderr.strip():
                failures.append("run %d: exit %d, stderr: %s" % (run, p.returncode, p.stderr.strip()))
            elif "after exit handler: sub closed True, wait closed True, callbacks since 0" not in p.stdout \
                    or "wait ended" in p.stdout:
                failures.append("run %d: callbacks not stopped at exit: %s" % (run, p.stdout))
            remove_containers(client, prefix)
    finally:
        # A create sent by a child just before it exited may land later.
        for _ in range(20):
            remove_containers(client, unique_id)
            time.sleep(0.25)
            if not client.list_containers('id~="^%s"' % unique_id):
                break
    assert not failures, "\n".join(failures)
    assert not client.list_containers('id~="^%s"' % unique_id)
