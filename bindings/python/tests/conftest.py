"""Fixtures: a private containerd (started with scripts/daemon.sh and
stopped after the session) holding the test image, unless
$CONTAINERD_ADDRESS names a daemon to use; clients of it; and, for the pull
tests, a private registry (scripts/registry.sh: plain HTTP, basic auth)
holding the test images (scripts/push-test-images.sh), unless
$CTRD_TEST_REGISTRY and $CTRD_TEST_REGISTRY_CREDS name one.

Without root, containerd, the registry or the library the tests are
skipped, except under CI=true, where that is a failure."""
import os
import pathlib
import shutil
import subprocess
import tempfile
import uuid

import pytest

import containerd_c

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCRIPTS = ROOT / "scripts"
IMAGE = "docker.io/library/ctrd-test:latest"
CI = os.environ.get("CI") == "true"


def unavailable(why):
    if CI:
        pytest.fail("%s (CI=true: a missing daemon or library is a failure)" % why, pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def library():
    try:
        return containerd_c.library_version()
    except containerd_c.LibraryNotFound as e:
        unavailable(str(e))


# The archive of IMAGE (scripts/make-image.sh); tests import it themselves.
ARCHIVE = pathlib.Path(os.environ.get("CTRD_TEST_IMAGE_TAR", ROOT / "target" / "test-image.tar"))


@pytest.fixture(scope="session")
def image_archive():
    """ARCHIVE, made first when it does not exist yet (whichever daemon the
    tests use: one named by $CONTAINERD_ADDRESS may hold IMAGE already, but
    the import tests read the archive)."""
    if not ARCHIVE.exists():
        ARCHIVE.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(SCRIPTS / "make-image.sh"), str(ARCHIVE)], check=True, stdout=subprocess.DEVNULL)
    return ARCHIVE


def _import_image(sock, namespace, tar):
    subprocess.run([str(SCRIPTS / "import-image.sh"), sock, namespace, str(tar)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="session")
def daemon(library, image_archive):
    """(address, namespace) of a containerd holding IMAGE (and ARCHIVE made)."""
    namespace = os.environ.get("CONTAINERD_NAMESPACE") or "default"
    address = os.environ.get("CONTAINERD_ADDRESS")
    if address:
        with containerd_c.Client(address, namespace) as c:
            try:
                c.server_version()
            except containerd_c.Error as e:
                unavailable("$CONTAINERD_ADDRESS=%s: %s" % (address, e))
            try:
                c.get_image(IMAGE).close()
            except containerd_c.NotFound:
                _import_image(_socket_of(address), namespace, image_archive)
        yield address, namespace
        return
    if os.geteuid() != 0:
        unavailable("a private containerd needs root")
    if shutil.which(os.environ.get("CONTAINERD_BIN", "containerd")) is None:
        unavailable("containerd is not installed (scripts/deps.sh)")
    base = tempfile.mkdtemp(prefix="ctrd-pytest-")
    os.rmdir(base)  # daemon.sh makes it itself
    try:
        p = subprocess.run([str(SCRIPTS / "daemon.sh"), "start", base, "--owner-pid", str(os.getpid())],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            pytest.fail("scripts/daemon.sh start failed: %s" % p.stderr.strip(), pytrace=False)
        sock = p.stdout.strip().splitlines()[-1]
        _import_image(sock, namespace, image_archive)
        yield "unix://" + sock, namespace
    finally:
        subprocess.run([str(SCRIPTS / "daemon.sh"), "stop", base], stdout=subprocess.DEVNULL)


def _socket_of(address):
    return address[len("unix://"):] if address.startswith("unix://") else address


@pytest.fixture(scope="session")
def registry(daemon):
    """(host, user, password) of a registry holding the test images
    HOST/ctrd/busybox:latest, HOST/ctrd/multi:latest, HOST/ctrd/layers:latest."""
    host, creds = os.environ.get("CTRD_TEST_REGISTRY"), os.environ.get("CTRD_TEST_REGISTRY_CREDS")
    if host and creds:
        user, _, password = creds.partition(":")
        yield host, user, password
        return
    for tool in (os.environ.get("REGISTRY_BIN", "docker-registry"), "htpasswd"):
        if shutil.which(tool) is None:
            unavailable("%s is not installed (scripts/deps.sh): no test registry" % tool)
    base = tempfile.mkdtemp(prefix="ctrd-pytest-registry-")
    os.rmdir(base)  # registry.sh makes it itself
    try:
        p = subprocess.run([str(SCRIPTS / "registry.sh"), "start", base, "--owner-pid", str(os.getpid())],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            unavailable("scripts/registry.sh start failed: %s" % p.stderr.strip())
        p = subprocess.run([str(SCRIPTS / "push-test-images.sh"), _socket_of(daemon[0]), base],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            pytest.fail("scripts/push-test-images.sh failed: %s" % p.stderr.strip()[-2000:], pytrace=False)
        with open(os.path.join(base, "host")) as f:
            host = f.read().strip()
        with open(os.path.join(base, "creds")) as f:
            user, _, password = f.read().strip().partition(":")
        yield host, user, password
    finally:
        subprocess.run([str(SCRIPTS / "registry.sh"), "stop", base], stdout=subprocess.DEVNULL)


@pytest.fixture
def client(daemon):
    with containerd_c.Client(*daemon) as c:
        yield c


@pytest.fixture
def child_env(daemon):
    """The environment for a child Python using the same daemon."""
    env = dict(os.environ)
    env["CONTAINERD_ADDRESS"], env["CONTAINERD_NAMESPACE"] = daemon
    return env


@pytest.fixture
def unique_id():
    return "pyt-" + uuid.uuid4().hex[:12]


def remove_containers(client, prefix):
    """Deletes the containers (and their tasks) whose id starts with prefix.
    One may go meanwhile: a request of a child that exited can still be
    running in the daemon."""
    for cid in client.list_containers('id~="^%s"' % prefix):
        try:
            with client.load_container(cid) as k:
                try:
                    with k.load_task() as t:
                        t.delete(force=True)
                except containerd_c.NotFound:
                    pass
                k.delete()
        except containerd_c.NotFound:
            pass
