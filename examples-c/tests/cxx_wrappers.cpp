// The C++ wrappers against a daemon ($CONTAINERD_ADDRESS, with the test
// image): errors carry status, name and message; an event subscription
// calls a std::function on the library's thread and stops when destroyed;
// wait_async calls back with the exit status, and a Wait destroyed before
// the exit never calls back; images and namespaces round-trip; a
// triggered Cancel stops a pull and an import; a container's changes
// committed as an image; a Queue runs a container's life, cuts a wait and
// gives failures as Completions.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "containerd_c.hpp"
#include "check.h"

namespace ctrd = containerd_c;


static const char *const kImage = "docker.io/library/ctrd-test:latest";

// The Error a call throws (status CTRD_OK when none).
template <typename F>
static ctrd::Error error_of(F f) {
  try {
    f();
  } catch (const ctrd::Error &e) {
    return e;
  }
  return ctrd::Error(CTRD_OK, "");
}

static bool contains(const std::string &s, const std::string &part) { return s.find(part) != std::string::npos; }

static void test_errors(ctrd::Client &client) {
  ctrd::Error e = error_of([&] { client.load_container("cxx-no-such-container"); });
  CHECK(e.status() == CTRD_ERR_NOT_FOUND);
  CHECK(e.name() == "CTRD_ERR_NOT_FOUND");
  CHECK(contains(e.message(), "cxx-no-such-container"));
  e = error_of([&] { client.get_image("docker.io/library/cxx-no-such-image:1"); });
  CHECK(e.status() == CTRD_ERR_NOT_FOUND && contains(e.message(), "cxx-no-such-image"));
  e = error_of([&] { client.subscribe({"topic=="}, [](const ctrd::Event &) {}); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT);

  // A triggered Cancel stops a pull and an import before they start.
  ctrd::Cancel cancel;
  CHECK(cancel && !cancel.is_triggered());
  cancel.trigger();
  CHECK(cancel.is_triggered());
  ctrd::PullOptions opts;
  opts.plain_http = true;
  opts.cancel = &cancel;
  opts.timeout_ms = 60000;
  e = error_of([&] { client.pull("127.0.0.1:9/cxx/cancelled:latest", opts); });
  CHECK(e.status() == CTRD_ERR_CANCELLED && contains(e.message(), "cancelled"));
  e = error_of([&] { client.import_archive("/nonexistent/cxx-cancelled.tar", opts); });
  CHECK(e.status() == CTRD_ERR_CANCELLED && contains(e.message(), "cancelled"));
}

static void test_images_and_namespaces(ctrd::Client &client, const std::string &id) {
  bool listed = false;
  for (const auto &name : client.list_images()) listed = listed || name == kImage;
  CHECK(listed);
  ctrd::Image image = client.get_image(kImage);
  CHECK(image.name() == kImage && image.digest().rfind("sha256:", 0) == 0);
  CHECK(image.size() > 0 && image.is_unpacked());
  CHECK(contains(image.config_json(), "\"rootfs\""));

  client.create_namespace(id, {"purpose=test"});
  bool found = false;
  for (const auto &ns : client.list_namespaces()) found = found || ns == id;
  CHECK(found);
  client.delete_namespace(id);
  CHECK(error_of([&] { client.delete_namespace(id); }).status() == CTRD_ERR_NOT_FOUND);
}

static void test_events(ctrd::Client &client, const std::string &id) {
  std::mutex m;
  std::condition_variable cv;
  std::vector<ctrd::Event> seen;
  std::thread::id callback_thread;
  std::atomic<int> calls{0};
  {
    ctrd::Subscription sub = client.subscribe(
        {"namespace==" + client.ns() + ",topic==\"/containers/create\""},
        [&](const ctrd::Event &ev) {
          calls++;
          std::lock_guard<std::mutex> lock(m);
          seen.push_back(ev);
          callback_thread = std::this_thread::get_id();
          cv.notify_all();
        });
    ctrd::Subscription moved = std::move(sub);  // the callback moves along
    CHECK(!sub && moved);
    ctrd::ContainerOptions o;
    o.id = id;
    o.spec_json = client.spec_generate(id);
    o.labels = {"app=cxx"};
    ctrd::Container k = client.create_container(o);
    CHECK(k.id() == id && contains(k.info_json(), "\"app\":\"cxx\""));
    {
      std::unique_lock<std::mutex> lock(m);
      CHECK(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !seen.empty(); }));
      CHECK(seen[0].topic == "/containers/create" && seen[0].ns == client.ns());
      CHECK(contains(seen[0].json, "\"id\":\"" + id + "\""));
      CHECK(callback_thread != std::this_thread::get_id());
    }
    k.remove();
  }  // the subscription stops here
  int before = calls.load();
  ctrd::ContainerOptions o;
  o.id = id + "-2";
  o.spec_json = client.spec_generate(o.id);
  client.create_container(o).remove();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(calls.load() == before);
}

// A running container with no stdio; removed by the caller.
static ctrd::Container make_container(ctrd::Client &client, const std::string &id,
                                      const std::vector<std::string> &args) {
  ctrd::ContainerOptions o;
  o.id = id;
  o.spec_json = client.spec_generate(id, kImage, args);
  o.image = kImage;
  o.snapshot_key = id;
  client.prepare_snapshot(kImage, id);
  return client.create_container(o);
}

static void test_waits(ctrd::Client &client, const std::string &id) {
  ctrd::Container k = make_container(client, id, {"sh", "-c", "sleep 0.3; exit 7"});
  ctrd::Task task = k.new_task();
  std::mutex m;
  std::condition_variable cv;
  bool done = false;
  ctrd_status got_status = CTRD_ERR_UNKNOWN;
  uint32_t got_exit = 0;
  std::atomic<int> cancelled_calls{0};
  {
    // Destroyed before the exit: cancelled, never called.
    ctrd::Wait cancelled = task.wait_async([&](ctrd_status, uint32_t) { cancelled_calls++; });
  }
  ctrd::Wait wait = task.wait_async([&](ctrd_status s, uint32_t exit_status) {
    std::lock_guard<std::mutex> lock(m);
    got_status = s;
    got_exit = exit_status;
    done = true;
    cv.notify_all();
  });
  task.start();
  CHECK(task.pid() > 0);
  {
    std::unique_lock<std::mutex> lock(m);
    CHECK(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done; }));
  }
  CHECK(got_status == CTRD_OK && got_exit == 7);
  CHECK(task.wait(10000) == 7);
  CHECK(cancelled_calls.load() == 0);
  auto st = task.status();
  CHECK(st.first == CTRD_TASK_STOPPED && st.second == 7);
  CHECK(task.remove() == 7);
  k.remove();
}

// The Completion of `tag`, which must come next (waiting on the queue's fd).
static ctrd::Completion completion_of(ctrd::Queue &q, uint64_t tag) {
  pollfd p{q.fd(), POLLIN, 0};
  CHECK(poll(&p, 1, 60000) == 1);
  std::optional<ctrd::Completion> c = q.next();
  CHECK(c.has_value() && c->tag == tag);
  c->check();
  return std::move(*c);
}

static void test_queue(ctrd::Client &client, const std::string &id) {
  ctrd::Queue q;
  CHECK(q.fd() >= 0 && !q.next().has_value() && !q.cancel(99));
  q.server_version(1, client);
  ctrd::Completion v = completion_of(q, 1);
  CHECK(v.names.size() == 2 && v.names[0] == client.server_version().first);
  // Bad input throws; nothing is submitted.
  ctrd::Task empty;
  ctrd::Error e = error_of([&] { q.start(2, empty); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT && contains(e.message(), "task is NULL"));
  ctrd::PullOptions with_progress;
  with_progress.progress = [](const ctrd_progress &) {};
  e = error_of([&] { q.pull(2, client, "busybox", with_progress); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT && contains(e.message(), "progress"));
  e = error_of([&] { q.push(2, client, "", "example.com/x:1"); });
  CHECK(e.status() == CTRD_ERR_INVALID_ARGUMENT && contains(e.message(), "name"));
  q.load_container(2, client, id + "-none");
  ctrd::Completion missing = *q.next(-1);
  CHECK(missing.tag == 2 && missing.status == CTRD_ERR_NOT_FOUND && contains(missing.error, "_submit"));
  e = error_of([&] { missing.check(); });
  CHECK(e.status() == CTRD_ERR_NOT_FOUND);

  // A container's life through the queue.
  ctrd::ContainerOptions o;
  o.id = id;
  o.spec_json = client.spec_generate(id, kImage, {"sh", "-c", "exit 9"});
  o.image = kImage;
  o.snapshot_key = id;
  q.prepare_snapshot(3, client, kImage, id);
  completion_of(q, 3);
  q.create_container(4, client, o);
  ctrd::Container k = std::move(completion_of(q, 4).container);
  CHECK(k && k.id() == id);
  q.new_task(5, k);
  ctrd::Task t = std::move(completion_of(q, 5).task);
  q.wait(6, t);
  CHECK(q.cancel(6));  // cut; the wait comes again below
  ctrd::Completion cut = *q.next(-1);
  CHECK(cut.tag == 6 && cut.status == CTRD_ERR_CANCELLED);
  q.wait(6, t);
  q.start(7, t);
  std::optional<ctrd::Completion> first = q.next(-1), second = q.next(-1);
  if (first->tag == 7) std::swap(first, second);
  second->check();
  CHECK(first->tag == 6 && first->ok() && first->exit_status == 9);
  q.remove(8, t);
  CHECK(completion_of(q, 8).exit_status == 9);
  q.remove(9, k);
  completion_of(q, 9);
}

static void test_exec_output(ctrd::Client &client, const std::string &id) {
  ctrd::Container k = make_container(client, id, {"sleep", "60"});
  ctrd::Task task = k.new_task();
  task.start();
  int fds[2];
  CHECK(pipe(fds) == 0);
  {
    ctrd::FifoSet fifos(id + "-exec");
    ctrd::IoSession session = fifos.attach(-1, fds[1], -1);
    close(fds[1]);
    ctrd::Process p = task.exec(
        "e1", R"({"args":["sh","-c","echo exec-out; exit 4"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]})", fifos);
    p.start();
    CHECK(p.wait() == 4);
    session.wait(10000);
    CHECK(p.remove() == 4);
  }  // the session closes its copy of the pipe
  char buf[64] = {0};
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  CHECK(n > 0 && std::string(buf) == "exec-out\n");
  CHECK(error_of([&] { task.wait(100); }).status() == CTRD_ERR_DEADLINE_EXCEEDED);
  CHECK(task.remove(CTRD_TASK_DELETE_FORCE) == 137);
  k.remove();
}

// Container::commit: a running task's file in the new image (read back by a
// container of it), the task running after; an existing name throws
// CTRD_ERR_ALREADY_EXISTS.
static void test_commit(ctrd::Client &client, const std::string &id) {
  ctrd::Container k = make_container(client, id, {"sh", "-c", "echo cxx > /cxx; sleep 60; true"});
  ctrd::Task task = k.new_task();
  task.start();
  // The file is written once `sh` has started sleep: two processes.
  for (int i = 0; i < 200 && task.pids().size() < 2; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string name = "docker.io/library/cxx-committed-" + std::to_string(getpid()) + ":1";
  ctrd::Image image = k.commit(name);
  CHECK(image.name() == name && image.is_unpacked());
  CHECK(task.status().first == CTRD_TASK_RUNNING);
  ctrd::Error e = error_of([&] { k.commit(name, CTRD_COMMIT_NO_PAUSE); });
  CHECK(e.status() == CTRD_ERR_ALREADY_EXISTS && contains(e.message(), name));
  CHECK(task.remove(CTRD_TASK_DELETE_FORCE) == 137);
  k.remove();

  ctrd::ContainerOptions o;
  o.id = id + "-read";
  o.spec_json = client.spec_generate(o.id, name, {"sh", "-c", "test \"$(cat /cxx)\" = cxx"});
  o.image = name;
  o.snapshot_key = o.id;
  client.prepare_snapshot(name, o.id);
  ctrd::Container reader = client.create_container(o);
  ctrd::Task check = reader.new_task();
  check.start();
  CHECK(check.wait(30000) == 0);
  check.remove();
  reader.remove();
  client.delete_image(name);
}

int main() {
  std::string id = "cxx-" + std::to_string(getpid());
  try {
    ctrd::Client client;
    auto version = client.server_version();
    CHECK(!version.first.empty());
    test_errors(client);
    test_images_and_namespaces(client, id + "-ns");
    test_events(client, id + "-ev");
    test_waits(client, id + "-wait");
    test_queue(client, id + "-queue");
    test_exec_output(client, id + "-exec");
    test_commit(client, id + "-commit");
    std::printf("cxx_wrappers: ok (containerd %s)\n", version.first.c_str());
    return 0;
  } catch (const ctrd::Error &e) {  // unwound: the handles are freed, FIFOs removed
    std::fprintf(stderr, "cxx_wrappers: unexpected %s\n", e.what());
    return 1;
  }
}
