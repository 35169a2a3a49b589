/**
 * @file containerd_c.hpp
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
 *   "" for "none" / "the default" (the C API's NULL). A string argument
 *   holding a NUL byte (which C would take for its end) throws Error
 *   CTRD_ERR_INVALID_ARGUMENT "<argument> contains a NUL byte" before any
 *   call of the library.
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
 * - Progress callbacks (PullOptions::progress, for Client::pull and
 *   Client::import_archive; PushOptions::progress, for Client::push) are
 *   different: they run during the call only, on
 *   a library thread, one at a time, and an exception leaving one is caught
 *   there and rethrown by the call once the library returned (see
 *   PullOptions::progress).
 * - Queue (ctrd_queue) is the other way to call: submit operations with a
 *   tag, watch Queue::fd() in an event loop, take each Completion with
 *   Queue::next(); no thread waits per call.
 */
#ifndef CONTAINERD_C_HPP
#define CONTAINERD_C_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "containerd_c.h"

namespace containerd_c {

/// A failed call of the library: what every wrapper throws when its C
/// function returns a status other than CTRD_OK. what() is "NAME: message".
class Error : public std::runtime_error {
 public:
  /// An error of `status` (not CTRD_OK) with `message`, usually
  /// ctrd_last_error() read right after the failing call.
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

/// The C string of argument `what`: `s` itself, or an Error
/// (CTRD_ERR_INVALID_ARGUMENT naming `what`) when `s` holds a NUL byte,
/// which the library would take for the string's end. Every string passed
/// to the library goes through here.
inline const char *str(const std::string &s, const char *what) {
  if (s.find('\0') != std::string::npos)
    throw Error(CTRD_ERR_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
  return s.c_str();
}

/// NULL for "", else str(s, what).
inline const char *opt(const std::string &s, const char *what) { return s.empty() ? nullptr : str(s, what); }

/// A NULL-terminated const char *const * over strings the caller keeps.
class CStrings {
 public:
  /// Points at the strings of `items` (argument `what`, see str()), which
  /// must outlive this object.
  CStrings(const std::vector<std::string> &items, const char *what) {
    ptrs_.reserve(items.size() + 1);
    for (const auto &s : items) ptrs_.push_back(str(s, what));
    ptrs_.push_back(nullptr);
  }
  /// The NULL-terminated array, valid while this object and the strings live.
  const char *const *get() const { return ptrs_.data(); }

 private:
  std::vector<const char *> ptrs_;
};

/// The base of every handle class: owns one C handle `T *`, freed by `Free`
/// (the C API's _free function) when destroyed; move-only. Its public
/// members (reset(), get(), release(), operator bool) are part of each
/// handle class's interface.
template <typename T, void (*Free)(T *)>
class Handle {
 public:
  /// An empty handle (owns nothing).
  Handle() noexcept = default;
  /// Takes ownership of `p` (may be NULL).
  explicit Handle(T *p) noexcept : p_(p) {}
  Handle(const Handle &) = delete;
  Handle &operator=(const Handle &) = delete;
  /// Takes over what `o` owns; `o` is left empty.
  Handle(Handle &&o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  /// Frees what this handle owned, then takes over what `o` owns; `o` is
  /// left empty.
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
  /// Whether the handle owns an object (false when empty, moved from or reset).
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

/// The library's version, e.g. "0.1.0". Wraps ctrd_version(); never throws.
inline std::string version() { return ctrd_version(); }

/// `spec_json` changed by the RFC 7386 JSON merge patch `patch_json`; the
/// result must still be an OCI runtime spec. Makes no daemon call. Wraps
/// ctrd_spec_patch; throws Error (CTRD_ERR_INVALID_ARGUMENT for bad JSON or
/// a result that is not a spec).
inline std::string spec_patch(const std::string &spec_json, const std::string &patch_json) {
  char *out = nullptr;
  detail::check(ctrd_spec_patch(detail::str(spec_json, "spec_json"), detail::str(patch_json, "patch_json"), &out));
  return detail::take(out);
}

/// The stdio paths of a task or process ("" = stream unused).
struct Io {
  std::string stdin_path;   ///< The process reads its stdin from here ("" = none).
  std::string stdout_path;  ///< The process's stdout goes here ("" = none).
  std::string stderr_path;  ///< Its stderr goes here ("" = none; unused with a terminal).
  bool terminal = false;    ///< Whether the process gets a terminal (stdout and stderr merged).

  /// A ctrd_io borrowing this object's strings: valid while this Io lives
  /// unchanged. Throws Error (CTRD_ERR_INVALID_ARGUMENT) for a path holding
  /// a NUL byte.
  ctrd_io c() const {
    ctrd_io io;
    io.stdin_path = detail::str(stdin_path, "stdin_path");
    io.stdout_path = detail::str(stdout_path, "stdout_path");
    io.stderr_path = detail::str(stderr_path, "stderr_path");
    io.terminal = terminal;
    return io;
  }
  /// A copy of the C struct `io` (NULL paths become "").
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
  /// An empty session (owns nothing).
  IoSession() = default;
  /// Starts copying in the background: the caller's fds (-1 = none) to and
  /// from the FIFOs of `io`; the session works on duplicates of the fds.
  /// Returns at once. Wraps ctrd_io_attach; throws Error
  /// (CTRD_ERR_INVALID_ARGUMENT for a bad fd or path, CTRD_ERR_IO).
  IoSession(const Io &io, int stdin_fd, int stdout_fd, int stderr_fd) {
    ctrd_io c = io.c();
    ctrd_io_session *out = nullptr;
    detail::check(ctrd_io_attach(&c, stdin_fd, stdout_fd, stderr_fd, &out));
    static_cast<Handle &>(*this) = Handle(out);
  }
  /// Waits until the output reached end of file and was all written; blocks
  /// the calling thread. Wraps ctrd_io_session_wait; throws Error
  /// (CTRD_ERR_DEADLINE_EXCEEDED after `timeout_ms`, < 0 waits for ever;
  /// CTRD_ERR_IO when a copy failed).
  void wait(int64_t timeout_ms = -1) { detail::check(ctrd_io_session_wait(live(), timeout_ms)); }
  /// Stops the copy and frees the session, writing out bytes already read
  /// (see ctrd_io_session_free); the destructor does the same. Idempotent.
  void close() noexcept { reset(); }
};

/// The stdio FIFOs of one task or process (ctrd_fifo_set_create); freeing
/// it removes them: destroy it only after the task or process was deleted.
class FifoSet : public detail::Handle<ctrd_fifo_set, ctrd_fifo_set_free> {
 public:
  /// An empty set (owns nothing).
  FifoSet() = default;
  /// Makes the FIFOs for container (or exec) `id` in a fresh directory
  /// under `dir` ("" = the library's default): stdin only `with_stdin`, no
  /// stderr with a `terminal`. Wraps ctrd_fifo_set_create; throws Error
  /// (CTRD_ERR_INVALID_ARGUMENT, CTRD_ERR_IO, CTRD_ERR_PERMISSION_DENIED).
  explicit FifoSet(const std::string &id, bool with_stdin = false, bool terminal = false,
                   const std::string &dir = "") {
    ctrd_fifo_set *out = nullptr;
    detail::check(ctrd_fifo_set_create(detail::opt(dir, "dir"), detail::str(id, "id"), with_stdin, terminal, &out));
    static_cast<Handle &>(*this) = Handle(out);
  }
  /// The FIFOs' paths, for Container::new_task, Task::exec and IoSession.
  /// Wraps ctrd_fifo_set_io; throws Error.
  Io io() const {
    ctrd_io c;
    detail::check(ctrd_fifo_set_io(live(), &c));
    return Io::from(c);
  }
  /// The directory holding the FIFOs. Wraps ctrd_fifo_set_dir; throws Error
  /// only for an empty handle.
  std::string dir() const { return ctrd_fifo_set_dir(live()); }
  /// Attaches the caller's fds (-1 = none) to these FIFOs; do it before the
  /// task is created. See IoSession(const Io &, int, int, int); throws Error.
  IoSession attach(int stdin_fd, int stdout_fd, int stderr_fd) const {
    return IoSession(io(), stdin_fd, stdout_fd, stderr_fd);
  }
};

/// A pending asynchronous wait; owns its callback. Destroying (or close())
/// before the callback ran cancels it; after, it only frees. close() from
/// inside the callback is allowed; destroying the Wait there is not.
class Wait {
 public:
  /// An empty wait (waits for nothing).
  Wait() = default;
  /// Takes over `o`'s wait and callback; `o` is left empty.
  Wait(Wait &&) noexcept = default;
  /// Closes this wait (see close()), then takes over `o`'s wait and
  /// callback; `o` is left empty.
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
  /// the Wait is destroyed. Wraps ctrd_wait_free; idempotent.
  void close() noexcept { handle_.reset(); }
  /// The C handle (still owned by this Wait); NULL when empty or closed.
  ctrd_wait *get() const noexcept { return handle_.get(); }
  /// Whether a wait is held (false when empty, moved from or closed).
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
  /// An empty subscription (receives nothing).
  Subscription() = default;
  /// Takes over `o`'s subscription and callback; `o` is left empty.
  Subscription(Subscription &&) noexcept = default;
  /// Closes this subscription (see close()), then takes over `o`'s
  /// subscription and callback; `o` is left empty.
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
  /// Wraps ctrd_subscription_free; idempotent.
  void close() noexcept { handle_.reset(); }
  /// The C handle (still owned by this Subscription); NULL when empty or closed.
  ctrd_subscription *get() const noexcept { return handle_.get(); }
  /// Whether a subscription is held (false when empty, moved from or closed).
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
  /// An empty process handle (owns nothing).
  Process() = default;
  /// Takes ownership of the C handle `p` (freed by ctrd_process_free).
  explicit Process(ctrd_process *p) noexcept : Handle(p) {}
  /// The process's pid once started (0 before). Wraps ctrd_process_pid;
  /// throws Error only for an empty handle.
  uint32_t pid() const { return ctrd_process_pid(live()); }
  /// Starts the created process; blocks for one round trip. Wraps
  /// ctrd_process_start; throws Error (the daemon's words when it refuses).
  void start() { detail::check(ctrd_process_start(live())); }
  /// Waits for the exit and returns the exit status; blocks the calling
  /// thread. Wraps ctrd_process_wait; throws Error
  /// (CTRD_ERR_DEADLINE_EXCEEDED after `timeout_ms`, < 0 waits for ever).
  uint32_t wait(int64_t timeout_ms = -1) {
    uint32_t status = 0;
    detail::check(ctrd_process_wait(live(), timeout_ms, &status));
    return status;
  }
  /// Calls `cb` once, on a library thread, when the process exits or the
  /// wait fails; returns at once. The returned Wait owns `cb` and cancels
  /// the wait when closed or destroyed first. Wraps ctrd_process_wait_async;
  /// throws Error (CTRD_ERR_INVALID_ARGUMENT for an empty `cb`).
  Wait wait_async(ExitCallback cb) { return Wait::start(ctrd_process_wait_async, live(), std::move(cb)); }
  /// Sends `signal` (1-64) to the process; blocks for one round trip. Wraps
  /// ctrd_process_kill; throws Error (CTRD_ERR_NOT_FOUND once it is gone).
  void kill(int signal) { detail::check(ctrd_process_kill(live(), signal)); }
  /// Deletes the exited process and returns its exit status; the handle
  /// stays valid to destroy. Wraps ctrd_process_delete; throws Error
  /// (CTRD_ERR_FAILED_PRECONDITION while it runs).
  uint32_t remove() {
    uint32_t status = 0;
    detail::check(ctrd_process_delete(live(), &status));
    return status;
  }
  /// Resizes the process's terminal. Wraps ctrd_process_resize; throws Error
  /// (CTRD_ERR_FAILED_PRECONDITION, making no call, without a terminal).
  void resize(uint32_t width, uint32_t height) { detail::check(ctrd_process_resize(live(), width, height)); }
  /// Closes the process's stdin: it reads end of file once it consumed what
  /// was written. Wraps ctrd_process_close_stdin; throws Error.
  void close_stdin() { detail::check(ctrd_process_close_stdin(live())); }
  /// Makes session `s` close the process's stdin once the caller's stdin it
  /// copies reached end of file; returns at once. Wraps
  /// ctrd_process_close_stdin_on_eof; throws Error (CTRD_ERR_INVALID_ARGUMENT
  /// for a session that copies no stdin).
  void close_stdin_on_eof(IoSession &s) { detail::check(ctrd_process_close_stdin_on_eof(live(), s.get())); }
};

/// A container's task (its init process).
class Task : public detail::Handle<ctrd_task, ctrd_task_free> {
 public:
  /// An empty task handle (owns nothing).
  Task() = default;
  /// Takes ownership of the C handle `t` (freed by ctrd_task_free).
  explicit Task(ctrd_task *t) noexcept : Handle(t) {}
  /// The task's id (its container's id). Wraps ctrd_task_id; throws Error
  /// only for an empty handle.
  std::string id() const { return ctrd_task_id(live()); }
  /// The pid of the task's init process. Wraps ctrd_task_pid; throws Error
  /// only for an empty handle.
  uint32_t pid() const { return ctrd_task_pid(live()); }
  /// The directory of the task's first stdio path ("" without stdio). Wraps
  /// ctrd_task_fifo_dir; throws Error only for an empty handle.
  std::string fifo_dir() const { return ctrd_task_fifo_dir(live()); }
  /// The task's stdio paths (of a loaded task: as the daemon knows them),
  /// for re-attaching with IoSession. Wraps ctrd_task_io; throws Error.
  Io io() const {
    ctrd_io c;
    detail::check(ctrd_task_io(live(), &c));
    return Io::from(c);
  }
  /// Starts the created task; blocks for one round trip. Wraps
  /// ctrd_task_start; throws Error (the daemon's words, e.g. a command not
  /// found in the rootfs).
  void start() { detail::check(ctrd_task_start(live())); }
  /// Waits for the exit and returns the exit status (128 + n after signal
  /// n); blocks the calling thread. Wraps ctrd_task_wait; throws Error
  /// (CTRD_ERR_DEADLINE_EXCEEDED after `timeout_ms`, < 0 waits for ever).
  uint32_t wait(int64_t timeout_ms = -1) {
    uint32_t status = 0;
    detail::check(ctrd_task_wait(live(), timeout_ms, &status));
    return status;
  }
  /// Calls `cb` once, on a library thread, when the task exits or the wait
  /// fails; returns at once. The returned Wait owns `cb` and cancels the
  /// wait when closed or destroyed first. Wraps ctrd_task_wait_async;
  /// throws Error (CTRD_ERR_INVALID_ARGUMENT for an empty `cb`).
  Wait wait_async(ExitCallback cb) { return Wait::start(ctrd_task_wait_async, live(), std::move(cb)); }
  /// Sends `signal` (1-64) to the init process, or with CTRD_KILL_ALL in
  /// `flags` to every process of the task. Wraps ctrd_task_kill; throws Error.
  void kill(int signal, uint32_t flags = 0) { detail::check(ctrd_task_kill(live(), signal, flags)); }
  /// The state and, once stopped, the exit status (0 before); one round
  /// trip. Wraps ctrd_task_status; throws Error.
  std::pair<ctrd_task_state, uint32_t> status() {
    ctrd_task_state state = CTRD_TASK_UNKNOWN;
    uint32_t exit_status = 0;
    detail::check(ctrd_task_status(live(), &state, &exit_status));
    return {state, exit_status};
  }
  /// Deletes the stopped task and returns its exit status; with
  /// CTRD_TASK_DELETE_FORCE in `flags` kills a running one first. The handle
  /// stays valid to destroy; remove the task's FIFOs only after this. Wraps
  /// ctrd_task_delete; throws Error (CTRD_ERR_FAILED_PRECONDITION while it
  /// runs, without the flag).
  uint32_t remove(uint32_t flags = 0) {
    uint32_t status = 0;
    detail::check(ctrd_task_delete(live(), flags, &status));
    return status;
  }
  /// Closes the task's stdin: it reads end of file once it consumed what was
  /// written. Wraps ctrd_task_close_stdin; throws Error.
  void close_stdin() { detail::check(ctrd_task_close_stdin(live())); }
  /// Makes session `s` close the task's stdin once the caller's stdin it
  /// copies reached end of file; returns at once. Wraps
  /// ctrd_task_close_stdin_on_eof; throws Error (CTRD_ERR_INVALID_ARGUMENT
  /// for a session that copies no stdin).
  void close_stdin_on_eof(IoSession &s) { detail::check(ctrd_task_close_stdin_on_eof(live(), s.get())); }
  /// Resizes the task's terminal. Wraps ctrd_task_resize; throws Error
  /// (CTRD_ERR_FAILED_PRECONDITION, making no call, without a terminal).
  void resize(uint32_t width, uint32_t height) { detail::check(ctrd_task_resize(live(), width, height)); }
  /// Freezes every process of the task. Wraps ctrd_task_pause; throws Error.
  void pause() { detail::check(ctrd_task_pause(live())); }
  /// Thaws the paused task. Wraps ctrd_task_resume; throws Error.
  void resume() { detail::check(ctrd_task_resume(live())); }
  /// The pids of every process in the task; one round trip. Wraps
  /// ctrd_task_pids (the array is copied and freed); throws Error.
  std::vector<uint32_t> pids() {
    uint32_t *pids = nullptr;
    size_t len = 0;
    detail::check(ctrd_task_pids(live(), &pids, &len));
    std::vector<uint32_t> out(pids, pids + len);
    ctrd_pids_free(pids, len);
    return out;
  }
  /// The task's resource usage as JSON, `{"type": ..., "data": {...}}`; one
  /// round trip. Wraps ctrd_task_metrics_json; throws Error
  /// (CTRD_ERR_NOT_FOUND when the daemon has no metrics, e.g. not running).
  std::string metrics_json() {
    char *out = nullptr;
    detail::check(ctrd_task_metrics_json(live(), &out));
    return detail::take(out);
  }
  /// Changes the running task's resources: `resources_json` is an OCI
  /// LinuxResources object, e.g. `{"pids":{"limit":64}}`. Wraps
  /// ctrd_task_update; throws Error (CTRD_ERR_INVALID_ARGUMENT naming a bad
  /// member; the runtime's words when it refuses).
  void update(const std::string &resources_json) {
    detail::check(ctrd_task_update(live(), detail::str(resources_json, "resources_json")));
  }
  /// Creates (not starts) exec process `exec_id` from an OCI "process" JSON
  /// object, without stdio; start it with Process::start(). Wraps
  /// ctrd_task_exec; throws Error (CTRD_ERR_ALREADY_EXISTS for a taken id,
  /// CTRD_ERR_FAILED_PRECONDITION when the task does not run).
  Process exec(const std::string &exec_id, const std::string &process_json) {
    return exec_impl(exec_id, process_json, nullptr);
  }
  /// As exec(const std::string &, const std::string &), with stdio `io`
  /// (attach an IoSession to its FIFOs first).
  Process exec(const std::string &exec_id, const std::string &process_json, const Io &io) {
    ctrd_io c = io.c();
    return exec_impl(exec_id, process_json, &c);
  }
  /// As exec(const std::string &, const std::string &), with the FIFOs of
  /// `fifos` as stdio (attach to them first).
  Process exec(const std::string &exec_id, const std::string &process_json, const FifoSet &fifos) {
    return exec(exec_id, process_json, fifos.io());
  }

 private:
  Process exec_impl(const std::string &exec_id, const std::string &process_json, const ctrd_io *io) {
    ctrd_process *out = nullptr;
    detail::check(ctrd_task_exec(live(), detail::str(exec_id, "exec_id"),
                                 detail::str(process_json, "process_json"), io, &out));
    return Process(out);
  }
};

class Image;

/// A container record (Client::create_container, Client::load_container).
class Container : public detail::Handle<ctrd_container, ctrd_container_free> {
 public:
  /// An empty container handle (owns nothing).
  Container() = default;
  /// Takes ownership of the C handle `k` (freed by ctrd_container_free).
  explicit Container(ctrd_container *k) noexcept : Handle(k) {}
  /// The container's id. Wraps ctrd_container_id; throws Error only for an
  /// empty handle.
  std::string id() const { return ctrd_container_id(live()); }
  /// The OCI runtime spec as stored, from the handle's copy of the record
  /// (see refresh()); makes no call. Wraps ctrd_container_spec_json; throws
  /// Error (CTRD_ERR_NOT_FOUND when the record has no spec).
  std::string spec_json() const {
    char *out = nullptr;
    detail::check(ctrd_container_spec_json(live(), &out));
    return detail::take(out);
  }
  /// The whole record as a JSON object, from the handle's copy (see
  /// refresh()); makes no call. Wraps ctrd_container_info_json; throws Error.
  std::string info_json() const {
    char *out = nullptr;
    detail::check(ctrd_container_info_json(live(), &out));
    return detail::take(out);
  }
  /// Re-reads the record from the daemon into the handle's copy. Wraps
  /// ctrd_container_refresh; throws Error (CTRD_ERR_NOT_FOUND once deleted).
  void refresh() { detail::check(ctrd_container_refresh(live())); }
  /// Sets labels from "key=value" items (at least one); "key=" removes the
  /// label; others stay. Wraps ctrd_container_set_labels; throws Error
  /// (CTRD_ERR_INVALID_ARGUMENT for a bad item or a key given twice).
  void set_labels(const std::vector<std::string> &labels) {
    detail::CStrings c(labels, "labels");
    detail::check(ctrd_container_set_labels(live(), c.get()));
  }
  /// Replaces the container's OCI runtime spec (the next task gets it).
  /// Wraps ctrd_container_update_spec; throws Error
  /// (CTRD_ERR_INVALID_ARGUMENT for text that is not a spec).
  void update_spec(const std::string &spec_json) {
    detail::check(ctrd_container_update_spec(live(), detail::str(spec_json, "spec_json")));
  }
  /// Deletes the container and its rootfs snapshot (kept with
  /// CTRD_DELETE_KEEP_SNAPSHOT in `flags`); the handle stays valid to
  /// destroy. Wraps ctrd_container_delete; throws Error
  /// (CTRD_ERR_FAILED_PRECONDITION while it has a task).
  void remove(uint32_t flags = 0) { detail::check(ctrd_container_delete(live(), flags)); }
  /// The container's changes as a new image `image_name` (as `nerdctl
  /// commit`): its snapshot's diff over its image's layers as one more
  /// layer, the config's diff ids and history extended, unpacked onto the
  /// container's snapshotter. A running task is paused for the diff unless
  /// CTRD_COMMIT_NO_PAUSE is in `flags`. Nothing is left on failure. Wraps
  /// ctrd_container_commit; throws Error (CTRD_ERR_ALREADY_EXISTS for an
  /// existing `image_name`, CTRD_ERR_FAILED_PRECONDITION for a container
  /// without an image or snapshot).
  Image commit(const std::string &image_name, uint32_t flags = 0);
  /// Creates (not starts) the task, without stdio; start it with
  /// Task::start(). Wraps ctrd_container_new_task; throws Error
  /// (CTRD_ERR_ALREADY_EXISTS when it has a task; the daemon's words).
  Task new_task() { return new_task_impl(nullptr); }
  /// Creates (not starts) the task with stdio `io`: attach an IoSession to
  /// its FIFOs first, or this waits for a reader until the client's
  /// timeout. Wraps ctrd_container_new_task; throws Error.
  Task new_task(const Io &io) {
    ctrd_io c = io.c();
    return new_task_impl(&c);
  }
  /// Creates (not starts) the task with the FIFOs of `fifos` as stdio
  /// (attach to them first). Wraps ctrd_container_new_task; throws Error.
  Task new_task(const FifoSet &fifos) { return new_task(fifos.io()); }
  /// Attaches to the container's existing task (re-attach its stdio with
  /// Task::io()). Wraps ctrd_container_load_task; throws Error
  /// (CTRD_ERR_NOT_FOUND without a task).
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
  /// An empty image handle (owns nothing).
  Image() = default;
  /// Takes ownership of the C handle `i` (freed by ctrd_image_free).
  explicit Image(ctrd_image *i) noexcept : Handle(i) {}
  /// The image's name. Wraps ctrd_image_name; throws Error only for an
  /// empty handle.
  std::string name() const { return ctrd_image_name(live()); }
  /// The digest of the image's target (index or manifest), e.g.
  /// "sha256:3f57...". Wraps ctrd_image_digest; throws Error only for an
  /// empty handle.
  std::string digest() const { return ctrd_image_digest(live()); }
  /// The bytes of its content for this machine's platform, as `ctr images
  /// ls` shows them (compressed layers). Wraps ctrd_image_size; throws Error
  /// (CTRD_ERR_NOT_FOUND for a missing blob or platform).
  uint64_t size() {
    uint64_t bytes = 0;
    detail::check(ctrd_image_size(live(), &bytes));
    return bytes;
  }
  /// The OCI image config for this machine's platform, as JSON exactly as
  /// stored. Wraps ctrd_image_config_json; throws Error (CTRD_ERR_NOT_FOUND).
  std::string config_json() {
    char *out = nullptr;
    detail::check(ctrd_image_config_json(live(), &out));
    return detail::take(out);
  }
  /// Whether its layers are unpacked on `snapshotter` ("" = "overlayfs").
  /// Wraps ctrd_image_is_unpacked; throws Error (CTRD_ERR_INVALID_ARGUMENT
  /// for a snapshotter the daemon does not have).
  bool is_unpacked(const std::string &snapshotter = "") {
    bool out = false;
    detail::check(ctrd_image_is_unpacked(live(), detail::opt(snapshotter, "snapshotter"), &out));
    return out;
  }
  /// Unpacks its layers for this machine's platform onto `snapshotter` (""
  /// = "overlayfs"), skipping layers unpacked already; blocks until all are
  /// extracted, and leaves nothing behind on failure. Thread-safe. Wraps
  /// ctrd_image_unpack; throws Error (CTRD_ERR_INVALID_ARGUMENT for an
  /// unknown snapshotter, CTRD_ERR_NOT_FOUND for a missing blob,
  /// CTRD_ERR_FAILED_PRECONDITION for a layer not matching its diff id).
  void unpack(const std::string &snapshotter = "") {
    detail::check(ctrd_image_unpack(live(), detail::opt(snapshotter, "snapshotter")));
  }
};

inline Image Container::commit(const std::string &image_name, uint32_t flags) {
  ctrd_image *out = nullptr;
  detail::check(ctrd_container_commit(live(), detail::str(image_name, "image_name"), flags, &out));
  return Image(out);
}

/// A one-shot cancel signal for pulls and imports (PullOptions::cancel).
/// Wraps ctrd_cancel; thread-safe: trigger() may be called from any thread
/// or a signal handler (it only forwards to the async-signal-safe
/// ctrd_cancel_trigger). Destroy it only after every call it was given to
/// has returned.
class Cancel : public detail::Handle<ctrd_cancel, ctrd_cancel_free> {
 public:
  /// A new, untriggered signal. Wraps ctrd_cancel_new; throws Error.
  Cancel() : Handle(make()) {}
  /// Triggers it: calls given it return CTRD_ERR_CANCELLED within a
  /// second. Async-signal-safe. Wraps ctrd_cancel_trigger.
  void trigger() const noexcept { ctrd_cancel_trigger(get()); }
  /// Whether it was triggered. Wraps ctrd_cancel_is_triggered.
  bool is_triggered() const noexcept { return ctrd_cancel_is_triggered(get()); }

 private:
  static ctrd_cancel *make() {
    ctrd_cancel *out = nullptr;
    detail::check(ctrd_cancel_new(&out));
    return out;
  }
};

/// Called with the progress of a pull or import (see PullOptions::progress).
using ProgressCallback = std::function<void(const ctrd_progress &)>;

/// How Client::pull and Client::import_archive work (see ctrd_pull_opts;
/// "" = unset, i.e. the default). Import ignores the registry fields.
struct PullOptions {
  /// "os/arch[/variant]" picked from an index ("" = this machine's).
  std::string platform;
  /// The snapshotter to unpack into ("" = "overlayfs").
  std::string snapshotter;
  /// Fetch (or import) the content and make the image record, but do not
  /// unpack it.
  bool no_unpack = false;
  /// The registry user. With `secret` both "", the docker config's
  /// credentials (else none) are used; otherwise both are sent, and a ""
  /// username with a secret sends the secret as an identity token.
  std::string username;
  /// The password, or an identity token (see `username`).
  std::string secret;
  /// Talk http:// instead of https:// to the registry.
  bool plain_http = false;
  /// Accept any TLS certificate (no verification at all).
  bool skip_verify = false;
  /// A PEM file of CA certificates trusted besides the system's ("" = none).
  std::string ca_file;
  /// containerd's host directory root (certs.d: mirrors and TLS settings
  /// per host, see ctrd_pull_opts.hosts_dir); "" = /etc/containerd/certs.d
  /// when it exists, unless no_hosts_dir.
  std::string hosts_dir;
  /// No host directory at all (hosts_dir "" in C).
  bool no_hosts_dir = false;
  /// Called on a library thread (never the caller's), one call at a time,
  /// about ten times a second while the operation runs and once more with
  /// phase "done" when it succeeded; never after the call returned. The
  /// ctrd_progress and its strings are valid during the call only. Empty =
  /// no progress. An exception leaving it does not cross the C library: it
  /// is caught, the callback is not called again, the operation runs to
  /// its end (a pull or import may then have made its images), and the
  /// call rethrows that first exception instead of returning or throwing
  /// its own Error.
  ProgressCallback progress;
  /// Cuts the call short when triggered (CTRD_ERR_CANCELLED); borrowed,
  /// it must outlive the call. nullptr = none.
  const Cancel *cancel = nullptr;
  /// How long the whole call may take, in milliseconds (0 = no limit);
  /// past it the call throws CTRD_ERR_DEADLINE_EXCEEDED.
  uint64_t timeout_ms = 0;
};

namespace detail {

/// The fields of a pull's or a push's options the C structs share
/// (platform, credentials, TLS, host directories, cancel and timeout),
/// borrowed from `o` into `c`.
template <typename C, typename O>
inline void fill_registry_opts(C &c, const O &o) {
  bool no_credentials = o.username.empty() && o.secret.empty();
  c.platform = opt(o.platform, "platform");
  c.username = no_credentials ? nullptr : str(o.username, "username");
  c.secret = no_credentials ? nullptr : str(o.secret, "secret");
  c.plain_http = o.plain_http;
  c.skip_verify = o.skip_verify;
  c.ca_file = opt(o.ca_file, "ca_file");
  c.hosts_dir = o.no_hosts_dir ? "" : opt(o.hosts_dir, "hosts_dir");
  c.cancel = o.cancel != nullptr ? o.cancel->get() : nullptr;
  c.timeout_ms = o.timeout_ms;
}

/// A C options struct `C` (ctrd_pull_opts, ctrd_push_opts) and the relay
/// of its progress callback: catches the callback's first exception for
/// rethrow() after the C call.
template <typename C>
class ProgressOpts {
 public:
  ProgressOpts(const ProgressOpts &) = delete;
  ProgressOpts &operator=(const ProgressOpts &) = delete;

  /// The C struct, valid while this object lives.
  const C *get() const noexcept { return &c_; }
  /// Rethrows the first exception the progress callback threw, if any.
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 protected:
  /// `c` with `progress` (borrowed: it must outlive this object) relayed.
  ProgressOpts(C c, const ProgressCallback *progress) : c_(c), progress_(progress) {
    if (*progress_) {
      c_.progress = &ProgressOpts::trampoline;
      c_.user_data = this;
    }
  }
  /// The C struct; the derived class fills its other fields.
  C c_;

 private:
  // The library calls it one call at a time and never after the C call
  // returned (it joins the callback's thread), so `error_` needs no lock.
  static void trampoline(void *user_data, const ctrd_progress *p) noexcept {
    auto *self = static_cast<ProgressOpts *>(user_data);
    if (self->error_ || p == nullptr) return;
    try {
      (*self->progress_)(*p);
    } catch (...) {
      self->error_ = std::current_exception();
    }
  }
  const ProgressCallback *progress_;
  std::exception_ptr error_;
};

/// A ctrd_pull_opts borrowing the strings of a PullOptions, and the relay
/// of its progress callback.
class PullOpts : public ProgressOpts<ctrd_pull_opts> {
 public:
  /// Borrows `o`, which must outlive this object and stay unchanged.
  explicit PullOpts(const PullOptions &o) : ProgressOpts(ctrd_pull_opts_default(), &o.progress) {
    fill_registry_opts(c_, o);
    c_.snapshotter = opt(o.snapshotter, "snapshotter");
    c_.no_unpack = o.no_unpack;
  }
};

/// Throws the progress callback's exception, else the Error of `s` with
/// `message` (ctrd_last_error() read right after the call), if any.
template <typename Opts>
inline void check_with_progress(const Opts &opts, ctrd_status s, const std::string &message) {
  opts.rethrow();
  if (s != CTRD_OK) throw Error(s, message);
}

}  // namespace detail

/// How Client::push works (see ctrd_push_opts; "" = unset, i.e. the
/// default).
struct PushOptions {
  /// "os/arch[/variant]": push only that platform's manifest, as the tag's
  /// target ("" = every platform whose content is in the content store).
  std::string platform;
  /// The registry user. With `secret` both "", the docker config's
  /// credentials (else none) are used; otherwise both are sent, and a ""
  /// username with a secret sends the secret as an identity token.
  std::string username;
  /// The password, or an identity token (see `username`).
  std::string secret;
  /// Talk http:// instead of https:// to the registry.
  bool plain_http = false;
  /// Accept any TLS certificate (no verification at all).
  bool skip_verify = false;
  /// A PEM file of CA certificates trusted besides the system's ("" = none).
  std::string ca_file;
  /// containerd's host directory root (see ctrd_push_opts.hosts_dir: the
  /// first host with the "push" capability gets the push); "" =
  /// /etc/containerd/certs.d when it exists, unless no_hosts_dir.
  std::string hosts_dir;
  /// No host directory at all (hosts_dir "" in C).
  bool no_hosts_dir = false;
  /// Called as PullOptions::progress is (phases "pushing", then "done"),
  /// an exception leaving it rethrown by the call in the same way.
  ProgressCallback progress;
  /// Cuts the call short when triggered (CTRD_ERR_CANCELLED); borrowed,
  /// it must outlive the call. nullptr = none.
  const Cancel *cancel = nullptr;
  /// How long the whole call may take, in milliseconds (0 = no limit);
  /// past it the call throws CTRD_ERR_DEADLINE_EXCEEDED.
  uint64_t timeout_ms = 0;
};

namespace detail {

/// A ctrd_push_opts borrowing the strings of a PushOptions, and the relay
/// of its progress callback (as PullOpts).
class PushOpts : public ProgressOpts<ctrd_push_opts> {
 public:
  /// Borrows `o`, which must outlive this object and stay unchanged.
  explicit PushOpts(const PushOptions &o) : ProgressOpts(ctrd_push_opts_default(), &o.progress) {
    fill_registry_opts(c_, o);
  }
};

}  // namespace detail

/// What Client::create_container makes (see ctrd_container_opts; "" = unset).
struct ContainerOptions {
  std::string id;            ///< Required: the container id.
  std::string spec_json;     ///< Required: the OCI runtime spec, e.g. from Client::spec_generate.
  std::string image;         ///< The image name recorded on the container.
  std::string snapshotter;   ///< The rootfs's snapshotter ("" = "overlayfs").
  std::string snapshot_key;  ///< The rootfs snapshot (Client::prepare_snapshot).
  std::string runtime;       ///< The runtime ("" = "io.containerd.runc.v2").
  std::vector<std::string> labels;  ///< "key=value"
  std::string runtime_options_json;  ///< The runc shim's options as JSON, e.g. `{"SystemdCgroup":true}`.
};

namespace detail {

/// A ctrd_container_opts borrowing the strings of a ContainerOptions, which
/// must outlive it and stay unchanged.
class ContainerOpts {
 public:
  /// Borrows `o` (see the class); throws Error for a string holding a NUL.
  explicit ContainerOpts(const ContainerOptions &o) : labels_(o.labels, "labels"), c_(ctrd_container_opts_default()) {
    c_.id = str(o.id, "id");
    c_.spec_json = str(o.spec_json, "spec_json");
    c_.image = opt(o.image, "image");
    c_.snapshotter = opt(o.snapshotter, "snapshotter");
    c_.snapshot_key = opt(o.snapshot_key, "snapshot_key");
    c_.runtime = opt(o.runtime, "runtime");
    c_.labels = o.labels.empty() ? nullptr : labels_.get();
    c_.runtime_options_json = opt(o.runtime_options_json, "runtime_options_json");
  }
  /// The C struct, valid while this object lives.
  const ctrd_container_opts *get() const noexcept { return &c_; }

 private:
  CStrings labels_;
  ctrd_container_opts c_;
};

}  // namespace detail

/// A client of one containerd daemon, bound to one namespace.
class Client : public detail::Handle<ctrd_client, ctrd_client_free> {
 public:
  /// `address` "" = $CONTAINERD_ADDRESS, else the system socket; `ns` "" =
  /// $CONTAINERD_NAMESPACE, else "default". Connects on first use (never
  /// blocks here). Wraps ctrd_client_connect; throws Error
  /// (CTRD_ERR_INVALID_ARGUMENT for a bad address or namespace).
  explicit Client(const std::string &address = "", const std::string &ns = "") {
    ctrd_client *out = nullptr;
    detail::check(ctrd_client_connect(detail::opt(address, "address"), detail::opt(ns, "namespace"), &out));
    static_cast<Handle &>(*this) = Handle(out);
  }
  /// The namespace the client works in. Wraps ctrd_client_namespace; throws
  /// Error only for an empty handle.
  std::string ns() const { return ctrd_client_namespace(live()); }
  /// Sets the timeout of every later blocking call through this client and
  /// the handles it made (0 = none; default 30000). Wraps
  /// ctrd_client_set_timeout_ms; throws Error.
  void set_timeout_ms(uint64_t ms) { detail::check(ctrd_client_set_timeout_ms(live(), ms)); }
  /// The daemon's version and git revision; one round trip. Wraps
  /// ctrd_client_server_version; throws Error (CTRD_ERR_UNAVAILABLE).
  std::pair<std::string, std::string> server_version() {
    char *v = nullptr, *r = nullptr;
    detail::check(ctrd_client_server_version(live(), &v, &r));
    std::string version = detail::take(v);
    return {version, detail::take(r)};
  }
  /// The daemon's uuid, pid and plugins (introspection) as JSON. Wraps
  /// ctrd_client_server_info_json; throws Error.
  std::string server_info_json() {
    char *out = nullptr;
    detail::check(ctrd_client_server_info_json(live(), &out));
    return detail::take(out);
  }

  /// A default spec for `id`, with `image`'s config ("" = none) and `args`
  /// (empty = the image's command). Wraps ctrd_spec_generate; throws Error
  /// (CTRD_ERR_NOT_FOUND for an unknown image).
  std::string spec_generate(const std::string &id, const std::string &image = "",
                            const std::vector<std::string> &args = {}) {
    detail::CStrings argv(args, "args");
    char *out = nullptr;
    detail::check(ctrd_spec_generate(live(), detail::str(id, "id"), detail::opt(image, "image"),
                                     args.empty() ? nullptr : argv.get(), &out));
    return detail::take(out);
  }
  /// Prepares snapshot `key` over `image`'s unpacked rootfs on `snapshotter`
  /// ("" = "overlayfs"), for ContainerOptions::snapshot_key. Wraps
  /// ctrd_snapshot_prepare_from_image; throws Error (CTRD_ERR_NOT_FOUND,
  /// CTRD_ERR_FAILED_PRECONDITION when not unpacked, CTRD_ERR_ALREADY_EXISTS).
  void prepare_snapshot(const std::string &image, const std::string &key,
                        const std::string &snapshotter = "") {
    detail::check(ctrd_snapshot_prepare_from_image(live(), detail::str(image, "image"),
                                                   detail::opt(snapshotter, "snapshotter"),
                                                   detail::str(key, "key")));
  }
  /// Removes snapshot `key` (one already gone is no error). Wraps
  /// ctrd_snapshot_remove; throws Error.
  void remove_snapshot(const std::string &key, const std::string &snapshotter = "") {
    detail::check(ctrd_snapshot_remove(live(), detail::opt(snapshotter, "snapshotter"), detail::str(key, "key")));
  }

  /// Creates a container record from `o`, checked before any call. Wraps
  /// ctrd_container_create; throws Error (CTRD_ERR_INVALID_ARGUMENT,
  /// CTRD_ERR_ALREADY_EXISTS).
  Container create_container(const ContainerOptions &o) {
    detail::ContainerOpts c(o);
    ctrd_container *out = nullptr;
    detail::check(ctrd_container_create(live(), c.get(), &out));
    return Container(out);
  }
  /// Loads the existing container `id`. Wraps ctrd_container_load; throws
  /// Error (CTRD_ERR_NOT_FOUND).
  Container load_container(const std::string &id) {
    ctrd_container *out = nullptr;
    detail::check(ctrd_container_load(live(), detail::str(id, "id"), &out));
    return Container(out);
  }
  /// The ids of the containers matching containerd filter `filter` ("" =
  /// all). Wraps ctrd_container_list; throws Error (CTRD_ERR_INVALID_ARGUMENT
  /// for a bad filter).
  std::vector<std::string> list_containers(const std::string &filter = "") {
    char **ids = nullptr;
    size_t len = 0;
    detail::check(ctrd_container_list(live(), detail::opt(filter, "filter"), &ids, &len));
    return detail::take_array(ids, len);
  }

  /// The image `name`, e.g. "docker.io/library/busybox:latest". Wraps
  /// ctrd_image_get; throws Error (CTRD_ERR_NOT_FOUND).
  Image get_image(const std::string &name) {
    ctrd_image *out = nullptr;
    detail::check(ctrd_image_get(live(), detail::str(name, "name"), &out));
    return Image(out);
  }
  /// The names of the images matching containerd filter `filter` ("" =
  /// all). Wraps ctrd_image_list; throws Error (CTRD_ERR_INVALID_ARGUMENT
  /// for a bad filter).
  std::vector<std::string> list_images(const std::string &filter = "") {
    char **names = nullptr;
    size_t len = 0;
    detail::check(ctrd_image_list(live(), detail::opt(filter, "filter"), &names, &len));
    return detail::take_array(names, len);
  }
  /// Pulls image `ref` ("busybox" is "docker.io/library/busybox:latest")
  /// from its registry into the client's namespace, unpacked unless
  /// `opts.no_unpack`, and returns the image record. Blocks until the pull
  /// ends; pulls may run at once on one client. Wraps ctrd_image_pull;
  /// throws Error (CTRD_ERR_UNAUTHENTICATED for missing or refused
  /// credentials, CTRD_ERR_NOT_FOUND, CTRD_ERR_UNAVAILABLE for an
  /// unreachable or untrusted registry, CTRD_ERR_INVALID_ARGUMENT), or what
  /// `opts.progress` threw.
  Image pull(const std::string &ref, const PullOptions &opts = PullOptions()) {
    detail::PullOpts c(opts);
    ctrd_image *out = nullptr;
    ctrd_status s = ctrd_image_pull(live(), detail::str(ref, "ref"), c.get(), &out);
    std::string message = s != CTRD_OK ? ctrd_last_error() : "";
    Image image(s == CTRD_OK ? out : nullptr);
    detail::check_with_progress(c, s, message);
    return image;
  }
  /// Pushes image `name` of the client's namespace to `remote_ref` ("" =
  /// `name`), as `ctr images push`: every platform whose content is in the
  /// content store (or `opts.platform`'s manifest); blobs the registry has
  /// are not sent again. Blocks until the push ends. Wraps ctrd_image_push;
  /// throws Error (CTRD_ERR_NOT_FOUND for no image `name` or no content to
  /// push, CTRD_ERR_UNAUTHENTICATED for missing or refused credentials,
  /// CTRD_ERR_PERMISSION_DENIED, CTRD_ERR_UNAVAILABLE for an unreachable or
  /// untrusted registry, CTRD_ERR_INVALID_ARGUMENT), or what
  /// `opts.progress` threw.
  void push(const std::string &name, const std::string &remote_ref = "",
            const PushOptions &opts = PushOptions()) {
    detail::PushOpts c(opts);
    ctrd_status s =
        ctrd_image_push(live(), detail::str(name, "name"), detail::opt(remote_ref, "remote_ref"), c.get());
    std::string message = s != CTRD_OK ? ctrd_last_error() : "";
    detail::check_with_progress(c, s, message);
  }
  /// Imports the images of the OCI layout or `docker save` archive at the
  /// absolute `path` (read by the library itself) into the client's
  /// namespace, unpacked unless `opts.no_unpack` (`opts`' registry fields
  /// are ignored), and returns the names of the images made or replaced.
  /// A failure leaves no image. Blocks until done. Wraps ctrd_image_import;
  /// throws Error (CTRD_ERR_INVALID_ARGUMENT for a relative path or a bad
  /// archive, CTRD_ERR_NOT_FOUND for a missing file), or what
  /// `opts.progress` threw.
  std::vector<std::string> import_archive(const std::string &path,
                                          const PullOptions &opts = PullOptions()) {
    detail::PullOpts c(opts);
    char **names = nullptr;
    size_t len = 0;
    ctrd_status s = ctrd_image_import(live(), detail::str(path, "path"), c.get(), &names, &len);
    std::string message = s != CTRD_OK ? ctrd_last_error() : "";
    std::vector<std::string> out = s == CTRD_OK ? detail::take_array(names, len) : std::vector<std::string>();
    detail::check_with_progress(c, s, message);
    return out;
  }
  /// Exports the images `names` (at least one) of the client's namespace
  /// into an OCI layout tar at the absolute `path` (written by the library
  /// itself, in an existing directory, replacing a file only once complete;
  /// a failure leaves no file). Blocks until written. Wraps
  /// ctrd_image_export; throws Error (CTRD_ERR_INVALID_ARGUMENT for no
  /// names or a relative path, CTRD_ERR_NOT_FOUND for an unknown image).
  void export_archive(const std::string &path, const std::vector<std::string> &names) {
    detail::CStrings c(names, "names");
    detail::check(ctrd_image_export(live(), c.get(), detail::str(path, "path")));
  }
  /// Imports the archive read from descriptor `fd` (a pipe, a FIFO, a
  /// socket, or a regular file from its offset) to its end, as
  /// import_archive does: `docker save | prog`. `fd` stays the caller's (not
  /// closed). Wraps ctrd_image_import_fd; throws Error
  /// (CTRD_ERR_INVALID_ARGUMENT for a bad fd or archive), or what
  /// `opts.progress` threw.
  std::vector<std::string> import_archive_fd(int fd, const PullOptions &opts = PullOptions()) {
    detail::PullOpts c(opts);
    char **names = nullptr;
    size_t len = 0;
    ctrd_status s = ctrd_image_import_fd(live(), fd, c.get(), &names, &len);
    std::string message = s != CTRD_OK ? ctrd_last_error() : "";
    std::vector<std::string> out = s == CTRD_OK ? detail::take_array(names, len) : std::vector<std::string>();
    detail::check_with_progress(c, s, message);
    return out;
  }
  /// Writes the archive of the images `names` into descriptor `fd` as it is
  /// made (`prog | gzip`); `fd` stays the caller's (not closed); a reader
  /// gone is an Error (CTRD_ERR_IO), not SIGPIPE. Wraps
  /// ctrd_image_export_fd; throws Error.
  void export_archive_fd(int fd, const std::vector<std::string> &names) {
    detail::CStrings c(names, "names");
    detail::check(ctrd_image_export_fd(live(), c.get(), fd));
  }
  /// Gives image `name` the second name `new_name` (same target and labels),
  /// as `ctr images tag`; names are taken as they are. With `force` an
  /// existing `new_name` is pointed at the source's target. Wraps
  /// ctrd_image_tag; throws Error (CTRD_ERR_NOT_FOUND for no `name`,
  /// CTRD_ERR_ALREADY_EXISTS for an existing `new_name` without `force`).
  void tag(const std::string &name, const std::string &new_name, bool force = false) {
    detail::check(ctrd_image_tag(live(), detail::str(name, "name"), detail::str(new_name, "new_name"),
                                 force ? CTRD_IMAGE_TAG_FORCE : 0u));
  }
  /// Deletes the image record `name`; with CTRD_IMAGE_DELETE_SYNC in `flags`
  /// returns after the garbage collector ran. Wraps ctrd_image_delete;
  /// throws Error (CTRD_ERR_NOT_FOUND).
  void delete_image(const std::string &name, uint32_t flags = 0) {
    detail::check(ctrd_image_delete(live(), detail::str(name, "name"), flags));
  }

  /// Creates namespace `name` with "key=value" `labels`. Wraps
  /// ctrd_namespace_create; throws Error (CTRD_ERR_ALREADY_EXISTS,
  /// CTRD_ERR_INVALID_ARGUMENT).
  void create_namespace(const std::string &name, const std::vector<std::string> &labels = {}) {
    detail::CStrings c(labels, "labels");
    detail::check(ctrd_namespace_create(live(), detail::str(name, "name"), labels.empty() ? nullptr : c.get()));
  }
  /// Every namespace of the daemon, sorted by name. Wraps
  /// ctrd_namespace_list; throws Error.
  std::vector<std::string> list_namespaces() {
    char **names = nullptr;
    size_t len = 0;
    detail::check(ctrd_namespace_list(live(), &names, &len));
    return detail::take_array(names, len);
  }
  /// Deletes the empty namespace `name`. Wraps ctrd_namespace_delete; throws
  /// Error (CTRD_ERR_FAILED_PRECONDITION while it holds anything,
  /// CTRD_ERR_NOT_FOUND).
  void delete_namespace(const std::string &name) {
    detail::check(ctrd_namespace_delete(live(), detail::str(name, "name")));
  }

  /// Calls `cb` for every event matching any of `filters` (containerd
  /// filter strings; empty = every event of every namespace) on the
  /// subscription's own library thread, until the Subscription is closed
  /// or destroyed. Returns once the daemon registered it. Wraps
  /// ctrd_events_subscribe; throws Error (CTRD_ERR_INVALID_ARGUMENT for an
  /// empty `cb` or a bad filter).
  Subscription subscribe(const std::vector<std::string> &filters, EventCallback cb) {
    if (!cb) throw Error(CTRD_ERR_INVALID_ARGUMENT, "subscribe: empty callback");
    Subscription s;
    s.callback_ = std::make_unique<EventCallback>(std::move(cb));
    detail::CStrings c(filters, "filters");
    ctrd_subscription *out = nullptr;
    detail::check(ctrd_events_subscribe(live(), filters.empty() ? nullptr : c.get(),
                                        &Subscription::trampoline, s.callback_.get(), &out));
    s.handle_ = detail::Handle<ctrd_subscription, ctrd_subscription_free>(out);
    return s;
  }
};

/// One finished operation of a Queue (Queue::next): its tag, its status and
/// the results of its kind, owned by this object (see ctrd_completion).
struct Completion {
  uint64_t tag = 0;                ///< The tag it was submitted with.
  ctrd_status status = CTRD_OK;    ///< CTRD_OK, or why it failed (CTRD_ERR_CANCELLED...).
  std::string error;               ///< The message when it failed, else "".
  Container container;             ///< Queue::create_container, Queue::load_container.
  Task task;                       ///< Queue::new_task.
  Process process;                 ///< (no operation makes one yet)
  Image image;                     ///< Queue::pull.
  uint32_t exit_status = 0;        ///< Queue::wait, Queue::remove of a task.
  std::vector<std::string> names;  ///< Queue::import_archive; {version, revision}.
  /// Whether the operation succeeded.
  bool ok() const noexcept { return status == CTRD_OK; }
  /// Throws the operation's Error unless it succeeded.
  void check() const {
    if (status != CTRD_OK) throw Error(status, error);
  }
};

/// A completion queue (ctrd_queue): containerd from an event loop. Submit
/// operations with a tag of your choice (each method below is the `_submit`
/// twin of a blocking call, checks its arguments at once and throws Error
/// for bad ones: then nothing was submitted), watch fd() (readable while a
/// completion waits) in epoll, poll or an event loop, and take each
/// Completion with next(). Every submitted operation completes exactly
/// once; cancel() cancels one, destroying the queue cancels the rest and
/// frees what nobody took (see ctrd_queue_free). Thread-safe; unusable in a
/// child after fork() (CTRD_ERR_FORKED). Handles given to a submission may
/// be destroyed meanwhile: the operation holds its own reference.
class Queue : public detail::Handle<ctrd_queue, ctrd_queue_free> {
 public:
  /// A new queue. Wraps ctrd_queue_new; throws Error.
  Queue() : Handle(make()) {}
  /// The descriptor that is readable while a completion waits; owned by the
  /// queue (do not read or close it). Wraps ctrd_queue_fd.
  int fd() const { return ctrd_queue_fd(live()); }
  /// Takes the oldest completion, waiting at most `timeout_ms` (0: not at
  /// all, < 0: for ever); std::nullopt when none came. Wraps
  /// ctrd_queue_next; throws Error (CTRD_ERR_FORKED).
  std::optional<Completion> next(int64_t timeout_ms = 0) {
    ctrd_completion c;
    ctrd_status s = ctrd_queue_next(live(), timeout_ms, &c);
    if (s == CTRD_ERR_DEADLINE_EXCEEDED) return std::nullopt;
    detail::check(s);
    Completion out;
    out.tag = c.tag;
    out.status = c.status;
    out.error = detail::take(c.error);
    out.container = Container(c.container);
    out.task = Task(c.task);
    out.process = Process(c.process);
    out.image = Image(c.image);
    out.exit_status = c.exit_status;
    out.names = c.names != nullptr ? detail::take_array(c.names, c.names_len) : std::vector<std::string>();
    return out;
  }
  /// Cancels the operation of `tag` (see ctrd_queue_cancel: a wait or pull
  /// is cut, a create undone; its completion still comes); false when no
  /// operation of that tag runs (it finished first, or never was). Wraps
  /// ctrd_queue_cancel; throws Error (CTRD_ERR_FORKED).
  bool cancel(uint64_t tag) {
    ctrd_status s = ctrd_queue_cancel(live(), tag);
    if (s == CTRD_ERR_NOT_FOUND) return false;
    detail::check(s);
    return true;
  }

  /// The daemon's version; Completion::names is {version, revision}.
  void server_version(uint64_t tag, Client &c) {
    detail::check(ctrd_client_server_version_submit(c.get(), live(), tag));
  }
  /// Client::pull through the queue (Completion::image). `opts.progress`
  /// must be empty here (Error CTRD_ERR_INVALID_ARGUMENT): use the C API
  /// for progress of a queued pull.
  void pull(uint64_t tag, Client &c, const std::string &ref, const PullOptions &opts = PullOptions()) {
    detail::PullOpts o(no_progress(opts));
    detail::check(ctrd_image_pull_submit(c.get(), detail::str(ref, "ref"), o.get(), live(), tag));
  }
  /// Client::import_archive through the queue (Completion::names);
  /// `opts.progress` must be empty, as for pull().
  void import_archive(uint64_t tag, Client &c, const std::string &path, const PullOptions &opts = PullOptions()) {
    detail::PullOpts o(no_progress(opts));
    detail::check(ctrd_image_import_submit(c.get(), detail::str(path, "path"), o.get(), live(), tag));
  }
  /// Client::push through the queue; `opts.progress` must be empty, as for
  /// pull().
  void push(uint64_t tag, Client &c, const std::string &name, const std::string &remote_ref = "",
            const PushOptions &opts = PushOptions()) {
    if (opts.progress)
      throw Error(CTRD_ERR_INVALID_ARGUMENT, "a queued push takes no progress callback here");
    detail::PushOpts o(opts);
    detail::check(ctrd_image_push_submit(c.get(), detail::str(name, "name"), detail::opt(remote_ref, "remote_ref"),
                                         o.get(), live(), tag));
  }
  /// Client::prepare_snapshot through the queue; undone when cancelled.
  void prepare_snapshot(uint64_t tag, Client &c, const std::string &image, const std::string &key,
                        const std::string &snapshotter = "") {
    detail::check(ctrd_snapshot_prepare_from_image_submit(c.get(), detail::str(image, "image"),
                                                          detail::opt(snapshotter, "snapshotter"),
                                                          detail::str(key, "key"), live(), tag));
  }
  /// Client::create_container through the queue (Completion::container);
  /// undone when cancelled.
  void create_container(uint64_t tag, Client &c, const ContainerOptions &o) {
    detail::ContainerOpts opts(o);
    detail::check(ctrd_container_create_submit(c.get(), opts.get(), live(), tag));
  }
  /// Client::load_container through the queue (Completion::container).
  void load_container(uint64_t tag, Client &c, const std::string &id) {
    detail::check(ctrd_container_load_submit(c.get(), detail::str(id, "id"), live(), tag));
  }
  /// Container::remove through the queue.
  void remove(uint64_t tag, Container &k, uint32_t flags = 0) {
    detail::check(ctrd_container_delete_submit(k.get(), flags, live(), tag));
  }
  /// Container::new_task without stdio, through the queue
  /// (Completion::task); undone when cancelled.
  void new_task(uint64_t tag, Container &k) { detail::check(ctrd_container_new_task_submit(k.get(), nullptr, live(), tag)); }
  /// Container::new_task with stdio `io` (attach to its FIFOs first).
  void new_task(uint64_t tag, Container &k, const Io &io) {
    ctrd_io c = io.c();
    detail::check(ctrd_container_new_task_submit(k.get(), &c, live(), tag));
  }
  /// Task::start through the queue.
  void start(uint64_t tag, Task &t) { detail::check(ctrd_task_start_submit(t.get(), live(), tag)); }
  /// Task::kill through the queue.
  void kill(uint64_t tag, Task &t, int signal, uint32_t flags = 0) {
    detail::check(ctrd_task_kill_submit(t.get(), signal, flags, live(), tag));
  }
  /// Task::wait without a timeout, through the queue
  /// (Completion::exit_status); cancel() cuts it.
  void wait(uint64_t tag, Task &t) { detail::check(ctrd_task_wait_submit(t.get(), live(), tag)); }
  /// Task::remove through the queue (Completion::exit_status).
  void remove(uint64_t tag, Task &t, uint32_t flags = 0) {
    detail::check(ctrd_task_delete_submit(t.get(), flags, live(), tag));
  }
  /// Process::start through the queue.
  void start(uint64_t tag, Process &p) { detail::check(ctrd_process_start_submit(p.get(), live(), tag)); }
  /// Process::wait without a timeout, through the queue
  /// (Completion::exit_status).
  void wait(uint64_t tag, Process &p) { detail::check(ctrd_process_wait_submit(p.get(), live(), tag)); }

 private:
  static ctrd_queue *make() {
    ctrd_queue *out = nullptr;
    detail::check(ctrd_queue_new(&out));
    return out;
  }
  static const PullOptions &no_progress(const PullOptions &opts) {
    if (opts.progress)
      throw Error(CTRD_ERR_INVALID_ARGUMENT, "a queued pull or import takes no progress callback here");
    return opts;
  }
};

}  // namespace containerd_c

#endif  // CONTAINERD_C_HPP
