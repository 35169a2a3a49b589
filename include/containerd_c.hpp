/*
 * containerd-c for C++17: header-only RAII wrappers over containerd_c.h.
 *
 * - Every handle class (Client, Container, Task, Process, Image, FifoSet,
 *   IoSession, Subscription, Wait) owns one library object, is move-only, and
 *   its destructor calls the object's _free function. Destroying a handle
 *   frees only the handle: a task goes on running, a container stays (see
 *   remove()). As in the C API, a handle may be used from several threads at
 *   once, but destroying or moving it must not race with another call on it.
 * - Every failing call throws containerd_c::Error (a std::runtime_error) with
 *   the ctrd_status, its name ("CTRD_ERR_NOT_FOUND") and the message of
 *   ctrd_last_error(), read on the failing call's thread right after it.
 * - Strings go in and come out as std::string; strings and arrays the library
 *   returns are copied and freed at once. An optional string argument is
 *   "" for "none" / "the default" (the C API's NULL).
 * - Timeouts are in milliseconds; a negative one waits for ever. Blocking
 *   calls block as the C functions do (see containerd_c.h for each).
 * - Callbacks (Client::subscribe, Task::wait_async, Process::wait_async) are
 *   std::function objects kept on the heap and owned by the Subscription or
 *   Wait returned: they stay valid while the library may call them. They run
 *   on threads of the library, never the caller's: an event callback on the
 *   subscription's own thread, one event at a time; an exit callback once, on
 *   a thread started for that wait. They may call any function of the
 *   library, blocking ones included, and may close() their own Subscription
 *   or Wait, but must not destroy it (that would destroy the running
 *   std::function). An exception leaving a callback calls std::terminate (it
 *   cannot cross the C library), as for a std::thread.
 */
#ifndef CONTAINERD_C_HPP
#define CONTAINERD_C_HPP

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "containerd_c.h"

namespace containerd_c {

/// A failed call of the library.
class Error : public std::runtime_error {
 public:
  Error(ctrd_status status, std::string message)
      : std::runtime_error(std::string(ctrd_status_name(status)) + ": " + message),
        status_(status),
        name_(ctrd_status_name(status)),
        message_(std::move(message)) {}

  /// The ctrd_status of the failure (never CTRD_OK).
  ctrd_status status() const noexcept { return status_; }
  /// Its name, e.g. "CTRD_ERR_NOT_FOUND".
  const std::string &name() const noexcept { return name_; }
  /// ctrd_last_error() of the failing call: what failed, the daemon's words.
  const std::string &message() const noexcept { return message_; }

 private:
  ctrd_status status_;
  std::string name_;
  std::string message_;
};

namespace detail {

/// Throws the Error of `s` unless it is CTRD_OK.
inline void check(ctrd_status s) {
  if (s != CTRD_OK) throw Error(s, ctrd_last_error());
}

/// A library-owned char * copied into a std::string and freed ("" for NULL).
inline std::string take(char *s) {
  std::unique_ptr<char, void (*)(char *)> owned(s, ctrd_string_free);
  return s != nullptr ? std::string(s) : std::string();
}

/// A library-owned string array copied and freed.
inline std::vector<std::string> take_array(char **items, size_t len) {
  struct Guard {
    char **items;
    size_t len;
    ~Guard() { ctrd_string_array_free(items, len); }
  } guard{items, len};
  std::vector<std::string> out;
  out.reserve(len);
  for (size_t i = 0; i < len; i++) out.emplace_back(items[i] != nullptr ? items[i] : "");
  return out;
}

/// NULL for "", else the string.
inline const char *opt(const std::string &s) { return s.empty() ? nullptr : s.c_str(); }

/// A NULL-terminated const char *const * over strings the caller keeps.
class CStrings {
 public:
  explicit CStrings(const std::vector<std::string> &items) {
    ptrs_.reserve(items.size() + 1);
    for (const auto &s : items) ptrs_.push_back(s.c_str());
    ptrs_.push_back(nullptr);
  }
  const char *const *get() const { return ptrs_.data(); }

 private:
  std::vector<const char *> ptrs_;
};

/// Owns a T *, freed by Free; move-only.
template <typename T, void (*Free)(T *)>
class Handle {
 public:
  Handle() noexcept = default;
  explicit Handle(T *p) noexcept : p_(p) {}
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  Handle(Handle &&o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  Handle &operator=(Handle &&o) noexcept {
    if (this != &o) {
      reset();
      p_ = o.p_;
      o.p_ = nullptr;
    }
    return *this;
  }
  ~Handle() { reset(); }

  /// Frees the object now (idempotent).
  void reset() noexcept {
    if (p_ != nullptr) {
      T *p = p_;
      p_ = nullptr;
      Free(p);
    }
  }
  /// The C handle (still owned), for calls the wrappers lack.
  T *get() const noexcept { return p_; }
  /// Gives up ownership: the caller frees the C handle.
  T *release() noexcept {
    T *p = p_;
    p_ = nullptr;
    return p;
  }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 protected:
  /// The pointer, or an Error (CTRD_ERR_INVALID_ARGUMENT) for a moved-from
  /// or closed handle, before the library would say the same.
  T *live() const {
    if (p_ == nullptr) throw Error(CTRD_ERR_INVALID_ARGUMENT, "use of a closed or moved-from handle");
    return p_;
  }

 private:
  T *p_ = nullptr;
};

}  // namespace detail

/// The library's version, e.g. "0.1.0".
inline std::string version() { return ctrd_version(); }

/// ctrd_spec_patch: `spec_json` changed by the RFC 7386 merge patch `patch_json`.
inline std::string spec_patch(const std::string &spec_json, const std::string &patch_json) {
  char *out = nullptr;
  detail::check(ctrd_spec_patch(spec_json.c_str(), patch_json.c_str(), &out));
  return detail::take(out);
}

/// The stdio paths of a task or process ("" = stream unused).
struct Io {
  std::string stdin_path;
  std::string stdout_path;
  std::string stderr_path;
  bool terminal = false;

  /// A ctrd_io borrowing this object's strings.
  ctrd_io c() const noexcept {
    ctrd_io io;
    io.stdin_path = stdin_path.c_str();
    io.stdout_path = stdout_path.c_str();
    io.stderr_path = stderr_path.c_str();
    io.terminal = terminal;
    return io;
  }
  static Io from(const ctrd_io &io) {
    Io out;
    out.stdin_path = io.stdin_path != nullptr ? io.stdin_path : "";
    out.stdout_path = io.stdout_path != nullptr ? io.stdout_path : "";
    out.stderr_path = io.stderr_path != nullptr ? io.stderr_path : "";
    out.terminal = io.terminal;
    return out;
  }
};

/// A copy of one event (Client::subscribe).
struct Event {
  std::string topic;      ///< e.g. "/tasks/exit"
  std::string ns;         ///< the namespace it happened in ("" for none)
  std::string json;       ///< the payload as a JSON object
};

/// Called once per event, on the subscription's library thread.
using EventCallback = std::function<void(const Event &)>;
/// Called once when a waited-for task or process exits (status CTRD_OK and
/// its exit status) or the wait fails (the status, exit status 0), on a
/// library thread.
using ExitCallback = std::function<void(ctrd_status, uint32_t)>;

/// A background copy between stdio FIFOs and the caller's fds (ctrd_io_attach).
class IoSession : public detail::Handle<ctrd_io_session, ctrd_io_session_free> {
 public:
  IoSession() = default;
  /// Starts copying: the caller's fds (-1 = none) to and from the FIFOs of `io`.
  IoSession(const Io &io, int stdin_fd, int stdout_fd, int stderr_fd) {
    ctrd_io c = io.c();
    ctrd_io_session *out = nullptr;
    detail::check(ctrd_io_attach(&c, stdin_fd, stdout_fd, stderr_fd, &out));
    static_cast<Handle &>(*this) = Handle(out);
  }
  /// Waits until the output reached end of file and was all written
  /// (CTRD_ERR_DEADLINE_EXCEEDED after timeout_ms; < 0 waits for ever).
  void wait(int64_t timeout_ms = -1) { detail::check(ctrd_io_session_wait(live(), timeout_ms)); }
  /// Stops the copy and frees the session (see ctrd_io_session_free).
  void close() noexcept { reset(); }
};

/// The stdio FIFOs of one task or process (ctrd_fifo_set_create); freeing
/// it removes them: destroy it only after the task or process was deleted.
class FifoSet : public detail::Handle<ctrd_fifo_set, ctrd_fifo_set_free> {
 public:
  FifoSet() = default;
  /// Makes the FIFOs for container (or exec) `id` in a fresh directory
  /// under `dir` ("" = the library's default).
  explicit FifoSet(const std::string &id, bool with_stdin = false, bool terminal = false,
                   const std::string &dir = "") {
    ctrd_fifo_set *out = nullptr;
    detail::check(ctrd_fifo_set_create(detail::opt(dir), id.c_str(), with_stdin, terminal, &out));
    static_cast<Handle &>(*this) = Handle(out);
  }
  Io io() const {
    ctrd_io c;
    detail::check(ctrd_fifo_set_io(live(), &c));
    return Io::from(c);
  }
  std::string dir() const { return ctrd_fifo_set_dir(live()); }
  /// Attaches the caller's fds (-1 = none) to these FIFOs; do it before the
  /// task is created.
  IoSession attach(int stdin_fd, int stdout_fd, int stderr_fd) const {
    return IoSession(io(), stdin_fd, stdout_fd, stderr_fd);
  }
};

/// A pending asynchronous wait; owns its callback. Destroying (or close())
/// before the callback ran cancels it; after, it only frees. close() from
/// inside the callback is allowed; destroying the Wait there is not.
class Wait {
 public:
  Wait() = default;
  Wait(Wait &&) noexcept = default;
  Wait &operator=(Wait &&o) noexcept {
    if (this != &o) {
      close();  // the old wait stops before its callback goes
      handle_ = std::move(o.handle_);
      callback_ = std::move(o.callback_);
    }
    return *this;
  }
  ~Wait() { close(); }
  /// Cancels the wait if pending (waiting for a callback in progress on
  /// another thread), then frees it; the callback object lives on until
  /// the Wait is destroyed.
  void close() noexcept { handle_.reset(); }
  ctrd_wait *get() const noexcept { return handle_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

 private:
  friend class Task;
  friend class Process;
  template <typename T>
  static Wait start(ctrd_status (*fn)(T *, ctrd_exit_cb, void *, ctrd_wait **), T *target,
                    ExitCallback cb) {
    if (!cb) throw Error(CTRD_ERR_INVALID_ARGUMENT, "wait_async: empty callback");
    Wait w;
    w.callback_ = std::make_unique<ExitCallback>(std::move(cb));
    ctrd_wait *out = nullptr;
    detail::check(fn(target, &Wait::trampoline, w.callback_.get(), &out));
    w.handle_ = detail::Handle<ctrd_wait, ctrd_wait_free>(out);
    return w;
  }
  static void trampoline(void *user_data, ctrd_status status, uint32_t exit_status) noexcept {
    (*static_cast<ExitCallback *>(user_data))(status, exit_status);
  }
  // Declared first, destroyed last: the library handle goes before the
  // callback it may call.
  std::unique_ptr<ExitCallback> callback_;
  detail::Handle<ctrd_wait, ctrd_wait_free> handle_;
};

/// A live event subscription; owns its callback. Destroying it (or close())
/// stops it: afterwards no callback runs. close() from inside the callback
/// is allowed; destroying the Subscription there is not.
class Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription &&) noexcept = default;
  Subscription &operator=(Subscription &&o) noexcept {
    if (this != &o) {
      close();
      handle_ = std::move(o.handle_);
      callback_ = std::move(o.callback_);
    }
    return *this;
  }
  ~Subscription() { close(); }
  /// Stops the subscription (waiting for a callback in progress on another
  /// thread) and frees it; the callback object lives on until destruction.
  void close() noexcept { handle_.reset(); }
  ctrd_subscription *get() const noexcept { return handle_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(handle_); }

 private:
  friend class Client;
  static void trampoline(void *user_data, const char *topic, const char *ns,
                         const char *event_json) noexcept {
    (*static_cast<EventCallback *>(user_data))(Event{topic, ns, event_json});
  }
  std::unique_ptr<EventCallback> callback_;
  detail::Handle<ctrd_subscription, ctrd_subscription_free> handle_;
};

/// An exec process inside a running task (Task::exec).
class Process : public detail::Handle<ctrd_process, ctrd_process_free> {
 public:
  Process() = default;
  explicit Process(ctrd_process *p) noexcept : Handle(p) {}
  uint32_t pid() const { return ctrd_process_pid(live()); }
  void start() { detail::check(ctrd_process_start(live())); }
  /// Waits for the exit and returns the exit status.
  uint32_t wait(int64_t timeout_ms = -1) {
    uint32_t status = 0;
    detail::check(ctrd_process_wait(live(), timeout_ms, &status));
    return status;
  }
  Wait wait_async(ExitCallback cb) { return Wait::start(ctrd_process_wait_async, live(), std::move(cb)); }
  void kill(int signal) { detail::check(ctrd_process_kill(live(), signal)); }
  /// ctrd_process_delete: deletes the exited process, returns its exit status.
  uint32_t remove() {
    uint32_t status = 0;
    detail::check(ctrd_process_delete(live(), &status));
    return status;
  }
  void resize(uint32_t width, uint32_t height) { detail::check(ctrd_process_resize(live(), width, height)); }
  void close_stdin() { detail::check(ctrd_process_close_stdin(live())); }
  void close_stdin_on_eof(IoSession &s) { detail::check(ctrd_process_close_stdin_on_eof(live(), s.get())); }
};

/// A container's task (its init process).
class Task : public detail::Handle<ctrd_task, ctrd_task_free> {
 public:
  Task() = default;
  explicit Task(ctrd_task *t) noexcept : Handle(t) {}
  std::string id() const { return ctrd_task_id(live()); }
  uint32_t pid() const { return ctrd_task_pid(live()); }
  std::string fifo_dir() const { return ctrd_task_fifo_dir(live()); }
  Io io() const {
    ctrd_io c;
    detail::check(ctrd_task_io(live(), &c));
    return Io::from(c);
  }
  void start() { detail::check(ctrd_task_start(live())); }
  /// Waits for the exit and returns the exit status (128 + n after signal n).
  uint32_t wait(int64_t timeout_ms = -1) {
    uint32_t status = 0;
    detail::check(ctrd_task_wait(live(), timeout_ms, &status));
    return status;
  }
  Wait wait_async(ExitCallback cb) { return Wait::start(ctrd_task_wait_async, live(), std::move(cb)); }
  void kill(int signal, uint32_t flags = 0) { detail::check(ctrd_task_kill(live(), signal, flags)); }
  /// The state and, once stopped, the exit status.
  std::pair<ctrd_task_state, uint32_t> status() {
    ctrd_task_state state = CTRD_TASK_UNKNOWN;
    uint32_t exit_status = 0;
    detail::check(ctrd_task_status(live(), &state, &exit_status));
    return {state, exit_status};
  }
  /// ctrd_task_delete (flags: CTRD_TASK_DELETE_FORCE); returns the exit status.
  uint32_t remove(uint32_t flags = 0) {
    uint32_t status = 0;
    detail::check(ctrd_task_delete(live(), flags, &status));
    return status;
  }
  void close_stdin() { detail::check(ctrd_task_close_stdin(live())); }
  void close_stdin_on_eof(IoSession &s) { detail::check(ctrd_task_close_stdin_on_eof(live(), s.get())); }
  void resize(uint32_t width, uint32_t height) { detail::check(ctrd_task_resize(live(), width, height)); }
  void pause() { detail::check(ctrd_task_pause(live())); }
  void resume() { detail::check(ctrd_task_resume(live())); }
  std::vector<uint32_t> pids() {
    uint32_t *pids = nullptr;
    size_t len = 0;
    detail::check(ctrd_task_pids(live(), &pids, &len));
    std::vector<uint32_t> out(pids, pids + len);
    ctrd_pids_free(pids, len);
    return out;
  }
  std::string metrics_json() {
    char *out = nullptr;
    detail::check(ctrd_task_metrics_json(live(), &out));
    return detail::take(out);
  }
  void update(const std::string &resources_json) { detail::check(ctrd_task_update(live(), resources_json.c_str())); }
  /// Creates (not starts) exec process `exec_id` from an OCI "process" JSON
  /// object, with stdio `io` (no stdio without one).
  Process exec(const std::string &exec_id, const std::string &process_json) {
    return exec_impl(exec_id, process_json, nullptr);
  }
  Process exec(const std::string &exec_id, const std::string &process_json, const Io &io) {
    ctrd_io c = io.c();
    return exec_impl(exec_id, process_json, &c);
  }
  Process exec(const std::string &exec_id, const std::string &process_json, const FifoSet &fifos) {
    return exec(exec_id, process_json, fifos.io());
  }

 private:
  Process exec_impl(const std::string &exec_id, const std::string &process_json, const ctrd_io *io) {
    ctrd_process *out = nullptr;
    detail::check(ctrd_task_exec(live(), exec_id.c_str(), process_json.c_str(), io, &out));
    return Process(out);
  }
};

/// A container record (Client::create_container, Client::load_container).
class Container : public detail::Handle<ctrd_container, ctrd_container_free> {
 public:
  Container() = default;
  explicit Container(ctrd_container *k) noexcept : Handle(k) {}
  std::string id() const { return ctrd_container_id(live()); }
  std::string spec_json() const {
    char *out = nullptr;
    detail::check(ctrd_container_spec_json(live(), &out));
    return detail::take(out);
  }
  std::string info_json() const {
    char *out = nullptr;
    detail::check(ctrd_container_info_json(live(), &out));
    return detail::take(out);
  }
  void refresh() { detail::check(ctrd_container_refresh(live())); }
  /// "key=value" items; "key=" removes the label.
  void set_labels(const std::vector<std::string> &labels) {
    detail::CStrings c(labels);
    detail::check(ctrd_container_set_labels(live(), c.get()));
  }
  void update_spec(const std::string &spec_json) {
    detail::check(ctrd_container_update_spec(live(), spec_json.c_str()));
  }
  /// ctrd_container_delete (flags: CTRD_DELETE_KEEP_SNAPSHOT).
  void remove(uint32_t flags = 0) { detail::check(ctrd_container_delete(live(), flags)); }
  /// Creates (not starts) the task, without stdio.
  Task new_task() { return new_task_impl(nullptr); }
  /// Creates (not starts) the task with stdio `io` (attach first).
  Task new_task(const Io &io) {
    ctrd_io c = io.c();
    return new_task_impl(&c);
  }
  Task new_task(const FifoSet &fifos) { return new_task(fifos.io()); }
  Task load_task() {
    ctrd_task *out = nullptr;
    detail::check(ctrd_container_load_task(live(), &out));
    return Task(out);
  }

 private:
  Task new_task_impl(const ctrd_io *io) {
    ctrd_task *out = nullptr;
    detail::check(ctrd_container_new_task(live(), io, &out));
    return Task(out);
  }
};

/// An image record (Client::get_image).
class Image : public detail::Handle<ctrd_image, ctrd_image_free> {
 public:
  Image() = default;
  explicit Image(ctrd_image *i) noexcept : Handle(i) {}
  std::string name() const { return ctrd_image_name(live()); }
  std::string digest() const { return ctrd_image_digest(live()); }
  uint64_t size() {
    uint64_t bytes = 0;
    detail::check(ctrd_image_size(live(), &bytes));
    return bytes;
  }
  std::string config_json() {
    char *out = nullptr;
    detail::check(ctrd_image_config_json(live(), &out));
    return detail::take(out);
  }
  bool is_unpacked(const std::string &snapshotter = "") {
    bool out = false;
    detail::check(ctrd_image_is_unpacked(live(), detail::opt(snapshotter), &out));
    return out;
  }
};

/// What Client::create_container makes (see ctrd_container_opts; "" = unset).
struct ContainerOptions {
  std::string id;
  std::string spec_json;
  std::string image;
  std::string snapshotter;
  std::string snapshot_key;
  std::string runtime;
  std::vector<std::string> labels;  ///< "key=value"
  std::string runtime_options_json;
};

/// A client of one containerd daemon, bound to one namespace.
class Client : public detail::Handle<ctrd_client, ctrd_client_free> {
 public:
  /// `address` "" = $CONTAINERD_ADDRESS, else the system socket; `ns` "" =
  /// $CONTAINERD_NAMESPACE, else "default". Connects on first use.
  explicit Client(const std::string &address = "", const std::string &ns = "") {
    ctrd_client *out = nullptr;
    detail::check(ctrd_client_connect(detail::opt(address), detail::opt(ns), &out));
    static_cast<Handle &>(*this) = Handle(out);
  }
  std::string ns() const { return ctrd_client_namespace(live()); }
  void set_timeout_ms(uint64_t ms) { detail::check(ctrd_client_set_timeout_ms(live(), ms)); }
  /// The daemon's version and git revision.
  std::pair<std::string, std::string> server_version() {
    char *v = nullptr, *r = nullptr;
    detail::check(ctrd_client_server_version(live(), &v, &r));
    std::string version = detail::take(v);
    return {version, detail::take(r)};
  }
  std::string server_info_json() {
    char *out = nullptr;
    detail::check(ctrd_client_server_info_json(live(), &out));
    return detail::take(out);
  }

  /// A default spec for `id`, with `image`'s config ("" = none) and `args`
  /// (empty = the image's command).
  std::string spec_generate(const std::string &id, const std::string &image = "",
                            const std::vector<std::string> &args = {}) {
    detail::CStrings argv(args);
    char *out = nullptr;
    detail::check(ctrd_spec_generate(live(), id.c_str(), detail::opt(image),
                                     args.empty() ? nullptr : argv.get(), &out));
    return detail::take(out);
  }
  void prepare_snapshot(const std::string &image, const std::string &key,
                        const std::string &snapshotter = "") {
    detail::check(ctrd_snapshot_prepare_from_image(live(), image.c_str(), detail::opt(snapshotter),
                                                   key.c_str()));
  }
  void remove_snapshot(const std::string &key, const std::string &snapshotter = "") {
    detail::check(ctrd_snapshot_remove(live(), detail::opt(snapshotter), key.c_str()));
  }

  Container create_container(const ContainerOptions &o) {
    detail::CStrings labels(o.labels);
    ctrd_container_opts c = ctrd_container_opts_default();
    c.id = o.id.c_str();
    c.spec_json = o.spec_json.c_str();
    c.image = detail::opt(o.image);
    c.snapshotter = detail::opt(o.snapshotter);
    c.snapshot_key = detail::opt(o.snapshot_key);
    c.runtime = detail::opt(o.runtime);
    c.labels = o.labels.empty() ? nullptr : labels.get();
    c.runtime_options_json = detail::opt(o.runtime_options_json);
    ctrd_container *out = nullptr;
    detail::check(ctrd_container_create(live(), &c, &out));
    return Container(out);
  }
  Container load_container(const std::string &id) {
    ctrd_container *out = nullptr;
    detail::check(ctrd_container_load(live(), id.c_str(), &out));
    return Container(out);
  }
  std::vector<std::string> list_containers(const std::string &filter = "") {
    char **ids = nullptr;
    size_t len = 0;
    detail::check(ctrd_container_list(live(), detail::opt(filter), &ids, &len));
    return detail::take_array(ids, len);
  }

  Image get_image(const std::string &name) {
    ctrd_image *out = nullptr;
    detail::check(ctrd_image_get(live(), name.c_str(), &out));
    return Image(out);
  }
  std::vector<std::string> list_images(const std::string &filter = "") {
    char **names = nullptr;
    size_t len = 0;
    detail::check(ctrd_image_list(live(), detail::opt(filter), &names, &len));
    return detail::take_array(names, len);
  }
  /// ctrd_image_delete (flags: CTRD_IMAGE_DELETE_SYNC).
  void delete_image(const std::string &name, uint32_t flags = 0) {
    detail::check(ctrd_image_delete(live(), name.c_str(), flags));
  }

  void create_namespace(const std::string &name, const std::vector<std::string> &labels = {}) {
    detail::CStrings c(labels);
    detail::check(ctrd_namespace_create(live(), name.c_str(), labels.empty() ? nullptr : c.get()));
  }
  std::vector<std::string> list_namespaces() {
    char **names = nullptr;
    size_t len = 0;
    detail::check(ctrd_namespace_list(live(), &names, &len));
    return detail::take_array(names, len);
  }
  void delete_namespace(const std::string &name) { detail::check(ctrd_namespace_delete(live(), name.c_str())); }

  /// Calls `cb` for every event matching any of `filters` (containerd
  /// filter strings; empty = every event of every namespace) on the
  /// subscription's own library thread, until the Subscription is closed
  /// or destroyed. Returns once the daemon registered it.
  Subscription subscribe(const std::vector<std::string> &filters, EventCallback cb) {
    if (!cb) throw Error(CTRD_ERR_INVALID_ARGUMENT, "subscribe: empty callback");
    Subscription s;
    s.callback_ = std::make_unique<EventCallback>(std::move(cb));
    detail::CStrings c(filters);
    ctrd_subscription *out = nullptr;
    detail::check(ctrd_events_subscribe(live(), filters.empty() ? nullptr : c.get(),
                                        &Subscription::trampoline, s.callback_.get(), &out));
    s.handle_ = detail::Handle<ctrd_subscription, ctrd_subscription_free>(out);
    return s;
  }
};

}  // namespace containerd_c

#endif  // CONTAINERD_C_HPP
