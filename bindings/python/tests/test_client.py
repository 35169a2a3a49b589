"""Client calls, errors, containers records, images, namespaces."""
import json
import os
import threading

import pytest

import containerd_c
from conftest import IMAGE

# A spec for container records that never get a task.
SPEC = {"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
        "root": {"path": "rootfs"}}


def test_server_version(client):
    version, revision = client.server_version()
    assert isinstance(version, str) and version[0].isdigit(), version
    assert isinstance(revision, str)  # "" from some builds
    # scripts/test.sh says which version it started.
    expected = os.environ.get("CTRD_CONTAINERD_VERSION")
    if expected and not os.environ.get("CONTAINERD_ADDRESS"):
        assert version.startswith(expected + "."), (version, expected)


def test_server_info(client):
    info = client.server_info()
    assert info["uuid"]
    assert any(p["type"] == "io.containerd.snapshotter.v1" and p["id"] == "overlayfs"
               for p in info["plugins"])


def test_context_manager_closes(daemon):
    with containerd_c.Client(*daemon) as c:
        assert c.namespace == daemon[1]
        assert not c.closed
    assert c.closed
    with pytest.raises(ValueError, match="client is closed"):
        c.server_version()
    c.close()  # idempotent


def test_missing_container_error(client):
    with pytest.raises(containerd_c.NotFound) as info:
        client.load_container("no-such-container")
    e = info.value
    assert isinstance(e, containerd_c.Error)
    assert e.status == 2
    assert e.name == "CTRD_ERR_NOT_FOUND"
    assert "no-such-container" in e.message and "not found" in e.message, e.message
    assert str(e) == "CTRD_ERR_NOT_FOUND: " + e.message


def test_errors_are_per_thread(client):
    # The message is read on the failing call's thread at once: a failure
    # on another thread meanwhile does not change it.
    errors = {}

    def fail(name):
        try:
            client.load_container(name)
        except containerd_c.Error as e:
            errors[name] = e.message

    threads = [threading.Thread(target=fail, args=("missing-%d" % i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 8
    for name, message in errors.items():
        assert '"%s"' % name in message, message


def test_invalid_id(client):
    with pytest.raises(containerd_c.InvalidArgument) as info:
        client.create_container("bad id!", SPEC)
    assert info.value.status == 1
    assert "bad id!" in info.value.message, info.value.message


def test_container_records(client, unique_id):
    labels = {"app": "web", "tier": "front"}
    with client.create_container(unique_id, SPEC, labels=labels) as k:
        try:
            assert k.id == unique_id
            assert json.loads(k.spec_json()) == SPEC
            assert k.spec() == SPEC
            info = k.info()
            assert info["id"] == unique_id and info["labels"] == labels
            assert unique_id in client.list_containers()
            assert client.list_containers('labels."app"==web,id==%s' % unique_id) == [unique_id]
            assert client.list_containers('labels."app"==db,id==%s' % unique_id) == []
            with pytest.raises(containerd_c.AlreadyExists) as dup:
                client.create_container(unique_id, SPEC)
            assert dup.value.name == "CTRD_ERR_ALREADY_EXISTS"
            k.set_labels({"tier": None, "new": "1"})
            assert k.info()["labels"] == {"app": "web", "new": "1"}
            with client.load_container(unique_id) as same:
                assert same.info()["labels"] == {"app": "web", "new": "1"}
            with pytest.raises(containerd_c.NotFound):
                k.load_task()
        finally:
            k.delete()
    assert unique_id not in client.list_containers()


def test_spec_generate(client, unique_id):
    spec = json.loads(client.spec_generate(unique_id, IMAGE, ["echo", "hi"]))
    assert spec["process"]["args"] == ["echo", "hi"]
    assert spec["linux"]["cgroupsPath"].endswith("/" + unique_id)
    with pytest.raises(containerd_c.NotFound):
        client.spec_generate(unique_id, "docker.io/library/no-such-image:1")


def test_images(client):
    assert IMAGE in client.list_images()
    assert client.list_images("name==%s" % IMAGE) == [IMAGE]
    with client.get_image(IMAGE) as img:
        assert img.name == IMAGE
        assert img.digest.startswith("sha256:") and len(img.digest) == 71
        assert img.size() > 100000  # busybox
        assert img.is_unpacked()
        config = img.config()
        assert config["os"] == "linux" and config["rootfs"]["type"] == "layers"
    with pytest.raises(containerd_c.NotFound) as info:
        client.get_image("docker.io/library/no-such-image:1")
    assert "no-such-image" in info.value.message


def test_namespaces(client, unique_id):
    client.create_namespace(unique_id, {"purpose": "test"})
    try:
        assert unique_id in client.list_namespaces()
        with pytest.raises(containerd_c.AlreadyExists):
            client.create_namespace(unique_id)
    finally:
        client.delete_namespace(unique_id)
    assert unique_id not in client.list_namespaces()
    with pytest.raises(containerd_c.NotFound):
        client.delete_namespace(unique_id)
