"""Event subscriptions with Python callbacks."""
import gc
import threading
import time

import pytest

import containerd_c
from test_client import SPEC


class Recorder:
    def __init__(self):
        self.events = []
        self.threads = set()
        self.cond = threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.threads.add(threading.get_ident())
            self.cond.notify_all()

    def wait_for(self, pred, timeout=10):
        with self.cond:
            return self.cond.wait_for(lambda: any(pred(e) for e in self.events), timeout)


def test_events_callback(client, unique_id):
    rec = Recorder()
    filters = ['namespace==%s,topic~="^/containers/"' % client.namespace]
    with client.subscribe(rec, filters) as sub:
        with client.create_container(unique_id, SPEC, labels={"k": "v"}) as k:
            k.delete()
        assert rec.wait_for(lambda e: e.topic == "/containers/delete" and e.data["id"] == unique_id)
        created = [e for e in rec.events if e.topic == "/containers/create" and e.data["id"] == unique_id]
        assert len(created) == 1
        assert created[0].namespace == client.namespace
        assert created[0].data["runtime"]["name"] == "io.containerd.runc.v2"
        assert threading.get_ident() not in rec.threads  # a library thread
        assert not sub.closed
    assert sub.closed
    # Closed: nothing more arrives.
    n = len(rec.events)
    with client.create_container(unique_id + "-2", SPEC) as k:
        k.delete()
    time.sleep(0.3)
    assert len(rec.events) == n


def test_dropped_subscription_stops(client, unique_id):
    rec = Recorder()
    sub = client.subscribe(rec, ['namespace==%s,topic=="/containers/create"' % client.namespace])
    del sub
    gc.collect()
    with client.create_container(unique_id, SPEC) as k:
        k.delete()
    time.sleep(0.3)
    assert rec.events == []


def test_callback_exception_does_not_stop_the_subscription(client, unique_id, capfd):
    seen = []

    def cb(event):
        seen.append(event.data["id"])
        if len(seen) == 1:
            raise RuntimeError("boom from the callback")

    with client.subscribe(cb, ['namespace==%s,topic=="/containers/create"' % client.namespace]):
        for i in range(2):
            with client.create_container("%s-%d" % (unique_id, i), SPEC) as k:
                k.delete()
        deadline = time.time() + 10
        while len(seen) < 2 and time.time() < deadline:
            time.sleep(0.02)
    assert seen == [unique_id + "-0", unique_id + "-1"]
    assert "boom from the callback" in capfd.readouterr().err


def test_close_from_inside_the_callback(client, unique_id):
    got = []
    holder = {}
    done = threading.Event()

    def cb(event):
        got.append(event)
        holder["sub"].close()  # returns at once; no further callback
        done.set()

    holder["sub"] = client.subscribe(cb, ['namespace==%s,topic=="/containers/create"' % client.namespace])
    for i in range(3):
        with client.create_container("%s-%d" % (unique_id, i), SPEC) as k:
            k.delete()
    assert done.wait(10)
    time.sleep(0.3)
    assert len(got) == 1 and holder["sub"].closed


def test_bad_filter(client):
    with pytest.raises(containerd_c.InvalidArgument) as info:
        client.subscribe(lambda e: None, ["topic=="])
    assert info.value.message
