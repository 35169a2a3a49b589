// The demo of run.c in C++17 with containerd_c.hpp: runs a command in a
// container made from an image, streams its output, and exits with the
// command's exit code (125 when something else fails).
//
//   run_cxx IMAGE [COMMAND [ARG...]]
//
// stdin is passed to the command when it is not a terminal. Uses
// $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE (defaults: the system daemon,
// "default"). Everything it made is removed before it exits, by destructors.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <future>
#include <string>
#include <vector>

#include "containerd_c.hpp"

namespace ctrd = containerd_c;

namespace {

void report(const char *what, const ctrd::Error &e) {
  std::fprintf(stderr, "run_cxx: %s: %s: %s\n", what, e.name().c_str(), e.message().c_str());
}

// Deletes the container when it goes out of scope (its handle is freed by
// its own destructor after this).
struct RemoveContainer {
  ctrd::Container &k;
  ~RemoveContainer() {
    try {
      k.remove();
    } catch (const ctrd::Error &e) {
      report("remove container", e);
    }
  }
};

// Kills (if need be) and deletes the task when it goes out of scope.
struct RemoveTask {
  ctrd::Task &t;
  ~RemoveTask() {
    try {
      if (t) t.remove(CTRD_TASK_DELETE_FORCE);
    } catch (const ctrd::Error &e) {
      report("remove task", e);
    }
  }
};

int run(const std::string &image, const std::vector<std::string> &command) {
  // Pass stdin on when it is a pipe or file (open, not a terminal).
  bool with_stdin = fcntl(0, F_GETFD) != -1 && !isatty(0);
  std::string id = "run-cxx-" + std::to_string(getpid());

  ctrd::Client client;  // $CONTAINERD_ADDRESS, $CONTAINERD_NAMESPACE
  client.get_image(image);  // a clear NOT_FOUND for a missing image

  // The container: a default spec from the image, a snapshot for its rootfs.
  ctrd::ContainerOptions opts;
  opts.id = id;
  opts.spec_json = client.spec_generate(id, image, command);
  opts.image = image;
  opts.snapshot_key = id;
  client.prepare_snapshot(image, id);
  ctrd::Container container;
  try {
    container = client.create_container(opts);
  } catch (const ctrd::Error &) {
    client.remove_snapshot(id);
    throw;
  }
  RemoveContainer remove_container{container};  // last: after the FIFOs go

  // stdio: a FIFO set, copied to and from our own fds in the background,
  // attached before the task is created. Destroyed in reverse order: the
  // task is deleted first, then the session stops (nothing read is
  // dropped), then the FIFOs go.
  ctrd::FifoSet fifos(id, with_stdin);
  ctrd::IoSession session = fifos.attach(with_stdin ? 0 : -1, 1, 2);
  ctrd::Task task = container.new_task(fifos);
  RemoveTask remove_task{task};

  // The exit arrives on a library thread; the main thread waits for it.
  std::promise<std::pair<ctrd_status, uint32_t>> exited;
  ctrd::Wait wait = task.wait_async([&exited](ctrd_status s, uint32_t status) {
    exited.set_value({s, status});
  });
  task.start();
  // When our (piped) stdin ends, the command's stdin ends too.
  if (with_stdin) task.close_stdin_on_eof(session);
  auto [status, exit_status] = exited.get_future().get();
  if (status != CTRD_OK) throw ctrd::Error(status, "waiting for the task");
  // All output is through once the task's end of the FIFOs closed.
  session.wait(10000);
  return static_cast<int>(exit_status);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: run_cxx IMAGE [COMMAND [ARG...]]\n");
    return 125;
  }
  try {
    return run(argv[1], std::vector<std::string>(argv + 2, argv + argc));
  } catch (const ctrd::Error &e) {
    report("error", e);
    return 125;
  }
}
