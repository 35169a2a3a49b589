"""run(): `ctr run --rm` in one call, built from the handle classes."""

import collections
import os

from ._api import CAPTURE, FifoSet, _json_arg, spec_patch

RunResult = collections.namedtuple("RunResult", "exit_status stdout stderr")

_counter = [0]


def run(client, image, args=None, id=None, stdin=None, stdout=CAPTURE, stderr=CAPTURE,
        patch=None, terminal=False, timeout=None):
    """Runs `args` (None: the image's command) in a new container made from
    `image` (unpacked in the client's namespace), waits for it, removes
    everything it made, and returns RunResult(exit_status, stdout, stderr).

    stdin: None, bytes/str (fed, then end of file), or an fd / file object.
    stdout, stderr: CAPTURE (returned as bytes), None (dropped), or an fd /
    file object (then None is returned for it). patch: a JSON merge patch
    (dict or text) applied to the generated spec. terminal: give the command
    a terminal (stdout then carries stderr too; `stderr` is ignored; the
    terminal's stdin is not closed at the end of `stdin`). timeout: seconds to wait
    for the exit (None = for ever); on timeout the task is killed and
    DeadlineExceeded raised."""
    if id is None:
        _counter[0] += 1
        id = "py-run-%d-%d" % (os.getpid(), _counter[0])
    spec = client.spec_generate(id, image, args)
    if patch is not None:
        spec = spec_patch(spec, _json_arg(patch))
    if terminal:
        spec = spec_patch(spec, '{"process":{"terminal":true}}')
        stderr = None
    client.prepare_snapshot(image, id)
    try:
        container = client.create_container(id, spec, image=image, snapshot_key=id)
    except BaseException:
        client.remove_snapshot(id)
        raise
    with container:
        try:
            with FifoSet(id, stdin=stdin is not None, terminal=terminal) as fifos:
                session = fifos.attach(stdin, stdout, stderr)
                task = None
                try:
                    task = container.new_task(fifos)
                    task.start()
                    if stdin is not None and not terminal:
                        task.close_stdin_on_eof(session)
                    status = task.wait(timeout)
                    out, err = session.collect(10)
                finally:
                    if task is not None:
                        try:
                            task.delete(force=True)
                        finally:
                            task.close()
                    session.close()  # after the task: nothing read is dropped
        finally:
            container.delete()
    return RunResult(status, out, err)
