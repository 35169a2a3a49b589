"""A string holding a NUL byte (which C would take for its end: namespace
"prod\\x00x" would be "prod", "img.tar\\x00.bak" would read img.tar) is
refused with ValueError naming the argument, before any call of the
library, for every kind of string argument."""
import pytest

import containerd_c


def refused(what):
    return pytest.raises(ValueError, match="^containerd_c: %s contains a NUL byte$" % what)


def test_namespace_and_address(daemon):
    address, namespace = daemon
    with refused("namespace"):
        containerd_c.Client(address, namespace + "\x00x")
    with refused("namespace"):
        containerd_c.Client(address, namespace.encode() + b"\x00x")
    with refused("address"):
        containerd_c.Client(address + "\x00.bak", namespace)


def test_filter(client):
    ids = client.list_containers()
    assert client.list_containers('id~=".*"') == ids  # the daemon answers
    with refused("filter"):
        client.list_containers('id~=".*"\x00,id==none')
    with refused("filter"):
        client.list_images('name~=".*"\x00,name==none')
    with refused("filters"):
        client.subscribe(lambda e: None, ['topic=="/tasks/exit"', 'topic=="/x"\x00'])


def test_path(client, tmp_path):
    archive = tmp_path / "img.tar"
    archive.write_bytes(b"")
    with refused("path"):
        client.import_archive(str(archive) + "\x00.bak")
    with refused("path"):
        client.export_archive(str(tmp_path / "out.tar") + "\x00.bak", ["docker.io/library/x:1"])
    with refused("names"):
        client.export_archive(tmp_path / "out.tar", ["docker.io/library/x:1\x00"])
    assert not (tmp_path / "out.tar").exists()
    with refused("stdin"):
        containerd_c.attach(containerd_c.IoPaths(str(tmp_path / "in") + "\x00x", "", "", False))
    with refused("dir"):
        containerd_c.FifoSet("pyt-nul", dir=str(tmp_path) + "\x00x")


def test_id(client, unique_id):
    with refused("id"):
        client.load_container(unique_id + "\x00x")
    with refused("id"):
        client.spec_generate(unique_id + "\x00x")
    with refused("id"):
        client.create_container(unique_id + "\x00x", "{}")
    with refused("name"):
        client.get_image("docker.io/library/ctrd-test:latest\x00x")
    with refused("name"):
        client.create_namespace(unique_id + "\x00x")
    with refused("labels"):
        client.create_namespace(unique_id, {"k": "v\x00x"})
    assert unique_id not in client.list_namespaces()
    with refused("id"):
        containerd_c.FifoSet(unique_id + "\x00x")


def test_argv(client, unique_id):
    with refused("args"):
        client.spec_generate(unique_id, args=["sh", "-c", "echo hi\x00; rm -rf /"])
    with refused("spec_json"):
        containerd_c.spec_patch("{}\x00", {})
