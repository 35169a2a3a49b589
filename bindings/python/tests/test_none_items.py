"""A None in a list of strings (argv, labels, names, filters) is refused
with TypeError naming the argument and the item, before any call of the
library: as a NULL it would end the C array there, so ["sh", None, "-c",
"x"] would reach C as ["sh"]."""
import pytest


def refused(what, n):
    return pytest.raises(TypeError, match=r"^%s\[%d\]: expected str, got None$" % (what, n))


def test_args(client, unique_id):
    with refused("args", 1):
        client.spec_generate(unique_id, args=["sh", None, "-c", "x"])
    # The same list without the None is fine.
    assert '"-c"' in client.spec_generate(unique_id, args=["sh", "-c", "x"])


def test_labels_names_filters(client, unique_id, tmp_path):
    with refused("labels", 1):
        client.create_namespace(unique_id, ["a=b", None, "c=d"])
    assert unique_id not in client.list_namespaces()
    with refused("names", 0):
        client.export_archive(tmp_path / "out.tar", [None, "docker.io/library/x:1"])
    assert not (tmp_path / "out.tar").exists()
    with refused("filters", 1):
        client.subscribe(lambda e: None, ['topic=="/tasks/exit"', None])
