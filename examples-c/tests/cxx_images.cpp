// Images through the C++ wrappers, against a daemon ($CONTAINERD_ADDRESS),
// each part in namespaces of its own that are removed again:
//
//   test_cxx_images import ARCHIVE   import the test image's archive with
//       progress (ending in "done", on a library thread), tag it, export it, import
//       the export unpacked-less into another namespace and unpack it there;
//       bad arguments; an exception thrown by the progress callback comes
//       out of the call, and the callback is not called again.
//   test_cxx_images pull             pull from the registry of
//       $CTRD_TEST_REGISTRY (plain HTTP, basic auth $CTRD_TEST_REGISTRY_CREDS)
//       with progress, run a container from the pulled image and read its
//       output; a wrong password is CTRD_ERR_UNAUTHENTICATED; push it to
//       another repository (Client::push, with progress) and pull that back
//       into another namespace (the same digest). Without a registry:
//       skipped (exit 77), a failure under CI=true.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "containerd_c.hpp"
#include "check.h"

namespace ctrd = containerd_c;


namespace {

const char *const kImage = "docker.io/library/ctrd-test:latest";

// The Error a call throws (status CTRD_OK when none).
template <typename F>
ctrd::Error error_of(F f) {
  try {
    f();
  } catch (const ctrd::Error &e) {
    return e;
  }
  return ctrd::Error(CTRD_OK, "");
}

// Set when removing what a test made failed: the test fails.
bool cleanup_failed = false;

bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

// What a progress callback saw: copies of every call, and whether one ran
// on the calling thread.
struct Seen {
  struct Call {
    std::string ref, phase;
    uint64_t bytes_done, bytes_total;
    uint32_t layers_done, layers_total;
  };
  std::mutex m;
  std::vector<Call> calls;
  bool on_caller = false;
  std::thread::id caller = std::this_thread::get_id();

  ctrd::ProgressCallback callback() {
    return [this](const ctrd_progress &p) {
      std::lock_guard<std::mutex> lock(m);
      calls.push_back({p.ref, p.phase, p.bytes_done, p.bytes_total, p.layers_done, p.layers_total});
      on_caller = on_caller || std::this_thread::get_id() == caller;
    };
  }
  // Calls were made, off the caller's thread, for `ref`; the last is "done"
  // with every byte and layer (at least one), and no other is.
  void require_done(const std::string &ref) {
    std::lock_guard<std::mutex> lock(m);
    CHECK(!calls.empty() && !on_caller);
    const Call &last = calls.back();
    if (last.phase != "done") std::fprintf(stderr, "last phase: %s\n", last.phase.c_str());
    CHECK(last.phase == "done" && last.ref == ref);
    CHECK(last.layers_total > 0 && last.layers_done == last.layers_total);
    CHECK(last.bytes_total > 0 && last.bytes_done == last.bytes_total);
    for (size_t i = 0; i + 1 < calls.size(); i++) CHECK(calls[i].phase != "done");
  }
};

// Removes, when it goes out of scope, every image (synchronously: their
// content and snapshots go) and then the namespace of `client`.
struct DropNamespace {
  ctrd::Client &client;
  ~DropNamespace() {
    try {
      for (const auto &name : client.list_images()) client.delete_image(name, CTRD_IMAGE_DELETE_SYNC);
      client.delete_namespace(client.ns());
    } catch (const ctrd::Error &e) {
      std::fprintf(stderr, "cleanup of namespace %s: %s\n", client.ns().c_str(), e.what());
      cleanup_failed = true;
    }
  }
};

// A fresh directory under /tmp, removed (with the files named) at the end.
struct TempDir {
  std::string path;
  std::vector<std::string> files;
  TempDir() {
    char tmpl[] = "/tmp/ctrd-cxx-images-XXXXXX";
    CHECK(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  std::string file(const std::string &name) {
    files.push_back(path + "/" + name);
    return files.back();
  }
  ~TempDir() {
    for (const auto &f : files) unlink(f.c_str());
    rmdir(path.c_str());
  }
};

off_t file_size(const std::string &path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

void test_import_export(const std::string &archive) {
  std::string pid = std::to_string(getpid());
  ctrd::Client client("", "cxx-images-" + pid);
  DropNamespace drop{client};

  // Import with progress.
  Seen seen;
  ctrd::PullOptions opts;
  opts.progress = seen.callback();
  std::vector<std::string> names = client.import_archive(archive, opts);
  CHECK(names == std::vector<std::string>{kImage});
  seen.require_done(archive);
  ctrd::Image image = client.get_image(kImage);
  CHECK(image.is_unpacked());

  // A second name (Client::tag): the same digest; again is ALREADY_EXISTS
  // unless forced.
  const std::string tagged = "docker.io/library/cxx-tagged:1";
  client.tag(kImage, tagged);
  CHECK(client.get_image(tagged).digest() == image.digest());
  CHECK(error_of([&] { client.tag(kImage, tagged); }).status() == CTRD_ERR_ALREADY_EXISTS);
  client.tag(kImage, tagged, true);
  CHECK(error_of([&] { client.tag("docker.io/library/cxx-no-such:1", "x"); }).status() == CTRD_ERR_NOT_FOUND);
  client.delete_image(tagged);

  // Export, then import the export into another namespace without
  // unpacking, and unpack it there.
  TempDir dir;
  std::string exported = dir.file("exported.tar");
  client.export_archive(exported, names);
  CHECK(file_size(exported) > 0);
  {
    ctrd::Client other("", "cxx-images-2-" + pid);
    DropNamespace drop_other{other};
    ctrd::PullOptions no_unpack;
    no_unpack.no_unpack = true;
    CHECK(other.import_archive(exported, no_unpack) == names);
    ctrd::Image copy = other.get_image(kImage);
    CHECK(copy.digest() == image.digest());
    CHECK(!copy.is_unpacked());
    copy.unpack();
    CHECK(copy.is_unpacked());
    copy.unpack();  // again: nothing to do
    CHECK(error_of([&] { copy.unpack("no-such-snapshotter"); }).status() == CTRD_ERR_INVALID_ARGUMENT);
  }

  // Through descriptors: export into a regular file's fd, import it from a
  // pipe a thread feeds; the fds stay open.
  {
    std::string via_fd = dir.file("via-fd.tar");
    int fd = open(via_fd.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    client.export_archive_fd(fd, names);
    CHECK(fcntl(fd, F_GETFD) != -1);
    close(fd);
    CHECK(file_size(via_fd) == file_size(exported));
    int p[2];
    CHECK(pipe(p) == 0);
    std::thread feeder([&] {
      int in = open(via_fd.c_str(), O_RDONLY | O_CLOEXEC);
      char buf[65536];
      ssize_t n;
      while (in >= 0 && (n = read(in, buf, sizeof buf)) > 0) {
        for (ssize_t done = 0; done < n;) {
          ssize_t w = write(p[1], buf + done, static_cast<size_t>(n - done));
          if (w <= 0) break;
          done += w;
        }
      }
      if (in >= 0) close(in);
      close(p[1]);
    });
    ctrd::Client other("", "cxx-images-3-" + pid);
    DropNamespace drop_other{other};
    ctrd::PullOptions no_unpack;
    no_unpack.no_unpack = true;
    CHECK(other.import_archive_fd(p[0], no_unpack) == names);
    feeder.join();
    close(p[0]);
    CHECK(other.get_image(kImage).digest() == image.digest());
    CHECK(error_of([&] { other.import_archive_fd(-1); }).status() == CTRD_ERR_INVALID_ARGUMENT);
  }

  // Bad arguments.
  ctrd::Error e = error_of([&] { client.import_archive("target/test-image.tar"); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT && e.name() == "CTRD_ERR_INVALID_ARGUMENT");
  CHECK(!e.message().empty());
  e = error_of([&] { client.import_archive(dir.path + "/missing.tar"); });
  CHECK(e.status() == CTRD_ERR_NOT_FOUND && contains(e.message(), "missing.tar"));
  e = error_of([&] { client.export_archive(dir.file("none.tar"), {}); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT);
  e = error_of([&] { client.export_archive("relative.tar", names); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT);
  e = error_of([&] { client.export_archive(dir.file("unknown.tar"), {"docker.io/library/cxx-no-such:1"}); });
  CHECK(e.status() == CTRD_ERR_NOT_FOUND && contains(e.message(), "cxx-no-such"));
  CHECK(file_size(dir.path + "/unknown.tar") == -1);

  // An exception in the progress callback: caught on the library's thread,
  // rethrown by the call; the callback is not called again.
  int calls = 0;
  ctrd::PullOptions throwing;
  throwing.progress = [&calls](const ctrd_progress &) {
    calls++;
    throw std::runtime_error("progress callback failed");
  };
  try {
    client.import_archive(exported, throwing);
    std::fprintf(stderr, "the callback's exception did not come out\n");
    CHECK(false);
  } catch (const ctrd::Error &e2) {
    std::fprintf(stderr, "unexpected Error: %s\n", e2.what());
    CHECK(false);
  } catch (const std::runtime_error &e2) {
    CHECK(std::string(e2.what()) == "progress callback failed");
  }
  CHECK(calls == 1);
  // The import itself ran to its end.
  CHECK(client.get_image(kImage).is_unpacked());
  std::puts("import, export, unpack: ok");
}

// Runs `args` in a container of `image` (in the client's namespace) and
// returns its stdout; the exit status must be 0. Everything made is removed.
std::string run_output(ctrd::Client &client, const std::string &image, const std::vector<std::string> &args) {
  std::string id = "cxx-pull-run-" + std::to_string(getpid());
  ctrd::ContainerOptions opts;
  opts.id = id;
  opts.spec_json = client.spec_generate(id, image, args);
  opts.image = image;
  opts.snapshot_key = id;
  client.prepare_snapshot(image, id);
  ctrd::Container container = client.create_container(opts);
  int out[2];
  CHECK(pipe(out) == 0);
  std::string output;
  {
    ctrd::FifoSet fifos(id);
    ctrd::IoSession session = fifos.attach(-1, out[1], -1);
    close(out[1]);  // the session has its own duplicate
    ctrd::Task task = container.new_task(fifos);
    task.start();
    CHECK(task.wait(60000) == 0);
    session.wait(10000);
    task.remove();
    session.close();  // the last write end: the pipe reaches end of file
    char buf[4096];
    ssize_t n;
    while ((n = read(out[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(n));
    close(out[0]);
  }
  container.remove();
  return output;
}

int test_pull() {
  const char *reg = std::getenv("CTRD_TEST_REGISTRY");
  const char *creds = std::getenv("CTRD_TEST_REGISTRY_CREDS");
  if (reg == nullptr || *reg == '\0' || creds == nullptr || std::strchr(creds, ':') == nullptr) {
    std::fprintf(stderr,
                 "no test registry (CTRD_TEST_REGISTRY, CTRD_TEST_REGISTRY_CREDS=USER:PASSWORD): run "
                 "scripts/test.sh\n");
    const char *ci = std::getenv("CI");
    return ci != nullptr && std::strcmp(ci, "true") == 0 ? 1 : 77;
  }
  std::string user(creds, std::strchr(creds, ':'));
  std::string password(std::strchr(creds, ':') + 1);
  std::string ref = std::string(reg) + "/ctrd/busybox:latest";

  ctrd::Client client("", "cxx-pull-" + std::to_string(getpid()));
  DropNamespace drop{client};

  // A wrong password: refused by the registry, no image made.
  ctrd::PullOptions opts;
  opts.plain_http = true;
  opts.username = user;
  opts.secret = password + "-wrong";
  ctrd::Error e = error_of([&] { client.pull(ref, opts); });
  if (e.status() != CTRD_ERR_UNAUTHENTICATED) std::fprintf(stderr, "wrong password: %s\n", e.what());
  CHECK(e.status() == CTRD_ERR_UNAUTHENTICATED && e.name() == "CTRD_ERR_UNAUTHENTICATED");
  CHECK(contains(e.message(), "ctrd/busybox"));
  CHECK(client.list_images().empty());

  // The right one, with progress.
  Seen seen;
  opts.secret = password;
  opts.progress = seen.callback();
  ctrd::Image image = client.pull(ref, opts);
  CHECK(image.name() == ref && image.digest().rfind("sha256:", 0) == 0);
  CHECK(image.is_unpacked());
  seen.require_done(ref);

  // A container of the pulled image.
  std::string out = run_output(client, ref, {"sh", "-c", "echo pulled-and-ran"});
  if (out != "pulled-and-ran\n") std::fprintf(stderr, "output: [%s]\n", out.c_str());
  CHECK(out == "pulled-and-ran\n");
  std::puts("pull and run: ok");

  // Pushed to another repository (Client::push, with progress), then
  // pulled back from there into another namespace: the same image.
  std::string pushed = std::string(reg) + "/ctrd/cxx-pushed-" + std::to_string(getpid()) + ":v1";
  ctrd::PushOptions popts;
  popts.plain_http = true;
  popts.username = user;
  popts.secret = password + "-wrong";
  CHECK(error_of([&] { client.push(ref, pushed, popts); }).status() == CTRD_ERR_UNAUTHENTICATED);
  Seen pushing;
  popts.secret = password;
  popts.progress = pushing.callback();
  client.push(ref, pushed, popts);
  pushing.require_done(pushed);
  CHECK(error_of([&] { client.push("docker.io/library/cxx-no-such:1", pushed, popts); }).status() ==
        CTRD_ERR_NOT_FOUND);
  ctrd::Client back("", "cxx-push-back-" + std::to_string(getpid()));
  DropNamespace drop_back{back};
  opts.progress = nullptr;
  opts.no_unpack = true;
  CHECK(back.pull(pushed, opts).digest() == image.digest());
  std::puts("push: ok");
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  try {
    if (argc == 3 && std::strcmp(argv[1], "import") == 0) {
      test_import_export(argv[2]);
      return cleanup_failed ? 1 : 0;
    }
    if (argc == 2 && std::strcmp(argv[1], "pull") == 0) {
      int rc = test_pull();
      return cleanup_failed ? 1 : rc;
    }
  } catch (const ctrd::Error &e) {
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: test_cxx_images import ARCHIVE | pull\n");
  return 2;
}
