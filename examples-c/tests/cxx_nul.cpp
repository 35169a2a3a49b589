// The C++ wrappers refuse a string holding a NUL byte (which the C library
// would take for the string's end, e.g. namespace "prod\0x" as "prod") with
// containerd_c::Error CTRD_ERR_INVALID_ARGUMENT naming the argument, before
// any call of the library. Runs against $CONTAINERD_ADDRESS (where the cut
// strings would otherwise work).
#include "containerd_c.hpp"
#include "check.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace ctrd = containerd_c;


// `s` with a NUL byte and `tail` appended.
static std::string nul(const std::string &s, const std::string &tail = "x") {
  return s + std::string(1, '\0') + tail;
}

// Runs `f`, which must throw CTRD_ERR_INVALID_ARGUMENT "<what> contains a
// NUL byte".
template <typename F>
static void refused(const char *what, F f) {
  try {
    f();
  } catch (const ctrd::Error &e) {
    if (e.status() == CTRD_ERR_INVALID_ARGUMENT && e.message() == std::string(what) + " contains a NUL byte")
      return;
    std::fprintf(stderr, "%s: wrong error: %s\n", what, e.what());
    std::exit(1);
  }
  std::fprintf(stderr, "%s: a NUL byte was not refused\n", what);
  std::exit(1);
}

int main() {
  refused("namespace", [] { ctrd::Client c("", nul("prod")); });
  const char *addr = std::getenv("CONTAINERD_ADDRESS");
  CHECK(addr != nullptr && *addr != '\0');
  refused("address", [&] { ctrd::Client c(nul(addr, ".bak")); });

  ctrd::Client c;
  CHECK(c.list_containers().size() == c.list_containers("id!=x").size());  // the daemon answers
  refused("filter", [&] { c.list_containers(nul("id==x", ",id!=y")); });
  refused("filter", [&] { c.list_images(nul("name==x")); });
  refused("filters", [&] { c.subscribe({"topic==\"/tasks/exit\"", nul("topic")}, [](const ctrd::Event &) {}); });
  refused("path", [&] { c.import_archive(nul("/tmp/img.tar", ".bak")); });
  refused("path", [&] { c.export_archive(nul("/tmp/out.tar", ".bak"), {"docker.io/library/x:1"}); });
  refused("names", [&] { c.export_archive("/tmp/out.tar", {nul("docker.io/library/x:1")}); });
  refused("id", [&] { c.load_container(nul("ctr")); });
  refused("id", [&] { c.spec_generate(nul("ctr")); });
  refused("args", [&] { c.spec_generate("ctr", "", {"sh", nul("-c")}); });
  refused("name", [&] { c.get_image(nul("docker.io/library/x:1")); });
  refused("name", [&] { c.create_namespace(nul("ns")); });
  refused("labels", [&] { c.create_namespace("ns-nul-test", {nul("k=v")}); });
  refused("ref", [&] {
    ctrd::PullOptions o;
    c.pull(nul("docker.io/library/x:1"), o);
  });
  refused("snapshotter", [&] {
    ctrd::PullOptions o;
    o.snapshotter = nul("overlayfs");
    c.import_archive("/tmp/img.tar", o);
  });
  refused("id", [&] {
    ctrd::ContainerOptions o;
    o.id = nul("ctr");
    o.spec_json = "{}";
    c.create_container(o);
  });
  refused("id", [] { ctrd::FifoSet f(nul("ctr")); });
  refused("stdin_path", [] {
    ctrd::Io io;
    io.stdin_path = nul("/tmp/in");
    ctrd::IoSession s(io, -1, -1, -1);
  });
  refused("spec_json", [] { ctrd::spec_patch(nul("{}"), "{}"); });
  // Nothing was made under the cut names.
  for (const auto &ns : c.list_namespaces()) CHECK(ns != "ns" && ns != "ns-nul-test");
  std::puts("ok");
  return 0;
}
