/*
 * containerd-c's declarations for Python cffi: `ffi.cdef(open(path).read())`.
 * Generated from include/containerd_c.h by build.rs; do not edit by hand.
 */

/** The major version of containerd-c this header comes from. */
#define CTRD_VERSION_MAJOR 0
/** The minor version of containerd-c this header comes from. */
#define CTRD_VERSION_MINOR 1
/** The patch version of containerd-c this header comes from. */
#define CTRD_VERSION_PATCH 0
/**
 * The version of containerd-c this header comes from, "major.minor.patch":
 * what `ctrd_version()` returns in the library of the same version.
 */

/**
 * `ctrd_container_delete` flag: keep the rootfs snapshot.
 */
#define CTRD_DELETE_KEEP_SNAPSHOT 1

/**
 * `ctrd_container_commit` flag: leave a running task running during the
 * diff instead of pausing it (changes made meanwhile may be half in the
 * layer).
 */
#define CTRD_COMMIT_NO_PAUSE 1u

/**
 * `ctrd_image_delete` flag: return only after the daemon's garbage
 * collector ran, so that content and snapshots nothing else refers to are
 * gone by then.
 */
#define CTRD_IMAGE_DELETE_SYNC 1u

/**
 * `ctrd_image_tag` flag: an image already named `new_name` is pointed at
 * the source's target (and given its labels) instead of being an error.
 */
#define CTRD_IMAGE_TAG_FORCE 1u

/**
 * `ctrd_task_kill` flag: signal every process of the task, not only its
 * init process.
 */
#define CTRD_KILL_ALL 1

/**
 * `ctrd_task_delete` flag: kill (SIGKILL) and wait for a task that still
 * runs (resuming it first when paused) before deleting it.
 */
#define CTRD_TASK_DELETE_FORCE 1

/**
 * The result of every fallible function. `CTRD_OK` (0) is success; every
 * other value comes with a message from `ctrd_last_error()`. gRPC status
 * codes from the daemon map to the status of the same name.
 */
typedef enum ctrd_status {
  /**
   * Success.
   */
  CTRD_OK = 0,
  /**
   * Bad input: NULL where a value is required, invalid UTF-8 or JSON, an
   * invalid id, a relative path, a handle in the wrong state.
   */
  CTRD_ERR_INVALID_ARGUMENT = 1,
  /**
   * The object does not exist.
   */
  CTRD_ERR_NOT_FOUND = 2,
  /**
   * An object with that id exists already.
   */
  CTRD_ERR_ALREADY_EXISTS = 3,
  /**
   * The object is not in a state that allows this, e.g. deleting a
   * container whose task runs.
   */
  CTRD_ERR_FAILED_PRECONDITION = 4,
  /**
   * The daemon is not reachable.
   */
  CTRD_ERR_UNAVAILABLE = 5,
  /**
   * The call's timeout passed before it finished.
   */
  CTRD_ERR_DEADLINE_EXCEEDED = 6,
  /**
   * The daemon or this library does not implement this.
   */
  CTRD_ERR_NOT_IMPLEMENTED = 7,
  /**
   * The daemon or the OS refused the caller's permissions.
   */
  CTRD_ERR_PERMISSION_DENIED = 8,
  /**
   * The operation was cancelled.
   */
  CTRD_ERR_CANCELLED = 9,
  /**
   * A local OS error: FIFO, file descriptor, file.
   */
  CTRD_ERR_IO = 10,
  /**
   * Called in a child process after fork(); the library only works in the
   * process that first used it. In a child, `*_free` of a handle the
   * parent made releases nothing the parent shares (the handle is
   * forgotten), and neither does the child's `exit()`: the parent goes on
   * working on every thread.
   */
  CTRD_ERR_FORKED = 11,
  /**
   * A bug in the library (a caught panic) or an internal daemon error.
   */
  CTRD_ERR_INTERNAL = 12,
  /**
   * Any other failure.
   */
  CTRD_ERR_UNKNOWN = 13,
  /**
   * The caller's credentials were missing or refused (gRPC
   * Unauthenticated; a registry's 401).
   */
  CTRD_ERR_UNAUTHENTICATED = 14,
} ctrd_status;

/**
 * The state of a task, from `ctrd_task_status`.
 */
typedef enum ctrd_task_state {
  /**
   * The daemon did not say.
   */
  CTRD_TASK_UNKNOWN = 0,
  /**
   * Created, not started yet.
   */
  CTRD_TASK_CREATED,
  /**
   * Running.
   */
  CTRD_TASK_RUNNING,
  /**
   * Exited; the exit status is known.
   */
  CTRD_TASK_STOPPED,
  /**
   * Frozen by `ctrd_task_pause`.
   */
  CTRD_TASK_PAUSED,
  /**
   * Being frozen.
   */
  CTRD_TASK_PAUSING,
} ctrd_task_state;

/**
 * A one-shot cancel signal. Opaque; made by `ctrd_cancel_new`, freed by
 * `ctrd_cancel_free`. Thread-safe: one signal may be given to many calls
 * at once (each returns `CTRD_ERR_CANCELLED` within a second of the
 * trigger) and triggered from any thread, or from a signal handler.
 */
typedef struct ctrd_cancel ctrd_cancel;

/**
 * A client of one containerd daemon, bound to one namespace. Opaque; made by
 * `ctrd_client_connect`, freed by `ctrd_client_free`. Thread-safe.
 */
typedef struct ctrd_client ctrd_client;

/**
 * A container record in one namespace. Opaque; made by
 * `ctrd_container_create` or `ctrd_container_load`, freed by
 * `ctrd_container_free`. Keeps its client's connection alive and a copy of
 * the record (as the daemon last returned it to a call on this handle).
 * Thread-safe.
 */
typedef struct ctrd_container ctrd_container;

/**
 * A set of stdio FIFOs for one task or exec process, in a fresh directory of
 * its own. Opaque; made by `ctrd_fifo_set_create`, freed (and removed from
 * disk) by `ctrd_fifo_set_free`. Thread-safe.
 */
typedef struct ctrd_fifo_set ctrd_fifo_set;

/**
 * An image record in one namespace. Opaque; made by `ctrd_image_get`, freed
 * by `ctrd_image_free`. Keeps its client's connection alive and a copy of
 * the record as the daemon returned it when the handle was made: its name
 * and target (the index or manifest the image points at). Thread-safe.
 */
typedef struct ctrd_image ctrd_image;

/**
 * A background copy between a task's stdio FIFOs and the caller's file
 * descriptors. Opaque; made by `ctrd_io_attach`, freed by
 * `ctrd_io_session_free`. Thread-safe.
 */
typedef struct ctrd_io_session ctrd_io_session;

/**
 * An exec process inside a running task. Opaque; made by `ctrd_task_exec`,
 * freed by `ctrd_process_free`. Thread-safe.
 */
typedef struct ctrd_process ctrd_process;

/**
 * A completion queue: submit operations (the `*_submit` functions), watch
 * one descriptor (`ctrd_queue_fd`), take completions (`ctrd_queue_next`).
 * Opaque; made by `ctrd_queue_new`, freed by `ctrd_queue_free`. For
 * programs built around one event loop (epoll, libuv, asyncio, Boost.Asio):
 * no thread per call on the caller's side.
 *
 * Threads: operations run on the library's runtime threads (the shared
 * runtime's workers, one a core up to 4), which also post
 * their completions; a pull's, push's or import's progress callback runs on a
 * thread of its own, and never after its completion was posted. Any
 * thread may submit, cancel and take completions, several at once: each
 * completion goes to exactly one `ctrd_queue_next`. Handles given to a
 * submission may be used and freed meanwhile (the operation holds its own
 * reference).
 *
 * Ownership: a completion's `error`, `container`, `task`, `process`,
 * `image` and `names` belong to the caller once `ctrd_queue_next` handed
 * it out (free each with its `_free`); completions never taken are freed
 * by `ctrd_queue_free`, and so are the results of operations that finish
 * after it.
 *
 * fork(): a queue belongs to the process that made it. In a child after
 * fork() every call on it returns `CTRD_ERR_FORKED` (`ctrd_queue_fd`
 * gives -1), and `ctrd_queue_free` only forgets it: the operations go on,
 * and complete, in the parent.
 */
typedef struct ctrd_queue ctrd_queue;

/**
 * A live event subscription. Opaque; made by `ctrd_events_subscribe`,
 * stopped and freed by `ctrd_subscription_free`. Keeps its client's
 * connection alive (freeing the client first is safe).
 */
typedef struct ctrd_subscription ctrd_subscription;

/**
 * A container's task (its init process). Opaque; made by
 * `ctrd_container_new_task` or `ctrd_container_load_task`, freed by
 * `ctrd_task_free`. Keeps its client's connection alive. Thread-safe.
 */
typedef struct ctrd_task ctrd_task;

/**
 * A pending asynchronous wait. Opaque; made by `ctrd_task_wait_async` or
 * `ctrd_process_wait_async` when asked for, freed (and cancelled if still
 * pending) by `ctrd_wait_free`. Thread-safe.
 */
typedef struct ctrd_wait ctrd_wait;

/**
 * Where a pull, import or push is, as its progress callback sees it.
 * Strings are valid during the call only.
 */
typedef struct ctrd_progress {
  /**
   * The image reference (as given to the pull; the archive path for an
   * import; the remote reference, else the image name, for a push).
   */
  const char *ref;
  /**
   * "resolving", "fetching", "unpacking" (pulls and imports), "pushing"
   * (pushes), or "done" (last, once, and only when the operation
   * succeeded).
   */
  const char *phase;
  /**
   * Bytes of the chosen platform's blobs in the content store: fetched
   * now or found there (a push: bytes of what it pushes that the
   * registry has: sent now, mounted or found there). Equals
   * `bytes_total` at "done".
   */
  uint64_t bytes_done;
  /**
   * Bytes of all those blobs; 0 while unknown.
   */
  uint64_t bytes_total;
  /**
   * Layers fetched (phase "fetching"), unpacked ("unpacking") or in the
   * registry ("pushing"); all of them at "done".
   */
  uint32_t layers_done;
  /**
   * Layers of the chosen platform (a push: of every platform pushed).
   */
  uint32_t layers_total;
  /**
   * Registry requests sent again so far: answers 429, 502, 503 or 504
   * and connections reset, retried with backoff (or after the
   * registry's `Retry-After`), and blob downloads resumed where a
   * connection failed midway. Appended last: a program built before it
   * reads the fields above only.
   */
  uint32_t retries;
} ctrd_progress;

/**
 * `ctrd_progress_cb`: called on a library thread (not the caller's), one
 * call at a time, at most about ten times a second while the operation
 * runs (when the counters changed: a phase shorter than that may not be
 * seen) and once more with phase "done" when it succeeded; never after the
 * pull, import or push returned. It may call `ctrd_*` functions. `user_data` is
 * passed back untouched.
 */
typedef void (*ctrd_progress_cb)(void *user_data, const struct ctrd_progress *p);

/**
 * How `ctrd_image_pull` and `ctrd_image_import` work. Strings are borrowed
 * for the call only. Start from `ctrd_pull_opts_default()` (every field
 * zero but `struct_size`), which is also what NULL instead of the struct
 * means: this machine's platform, overlayfs, unpacked, credentials from the
 * docker config, https with the system's CAs, no progress. See
 * `struct_size` for how the struct grows.
 */
typedef struct ctrd_pull_opts {
  /**
   * `sizeof(ctrd_pull_opts)` as the program was compiled: required (0 is
   * `CTRD_ERR_INVALID_ARGUMENT`). New fields are only ever added at the
   * end; from 1.0 on, the library reads no field past `struct_size`, so
   * a program built against an older header keeps working, and one built
   * against a newer header works with an older library as long as it
   * leaves the newer fields zero.
   */
  size_t struct_size;
  /**
   * "os/arch[/variant]" (e.g. "linux/arm64/v8") picked from an index;
   * NULL = this machine's.
   */
  const char *platform;
  /**
   * The snapshotter to unpack into; NULL = "overlayfs".
   */
  const char *snapshotter;
  /**
   * Fetch (or import) the content and make the image record, but do not
   * unpack it.
   */
  bool no_unpack;
  /**
   * With `secret`, the registry credentials; NULL = from the docker
   * config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
   * `auths`, `credHelpers`, `credsStore`), else anonymous.
   */
  const char *username;
  /**
   * The password, or an identity token when `username` is "".
   */
  const char *secret;
  /**
   * Talk http:// instead of https:// to the registry.
   */
  bool plain_http;
  /**
   * Accept any TLS certificate (no verification at all).
   */
  bool skip_verify;
  /**
   * A PEM file of CA certificates trusted besides the system's.
   */
  const char *ca_file;
  /**
   * Optional progress callback; see `ctrd_progress_cb`.
   */
  ctrd_progress_cb progress;
  /**
   * Passed back to `progress` untouched.
   */
  void *user_data;
  /**
   * A cancel signal (see `ctrd_cancel_new`), borrowed for the call; NULL
   * = none. Once it is triggered the call returns `CTRD_ERR_CANCELLED`
   * within a second; what a pull fetched stays for the next pull.
   * (Added after the first release: a program built without it passes a
   * smaller `struct_size` and gets no cancel and no timeout.)
   */
  const struct ctrd_cancel *cancel;
  /**
   * How long the whole call may take, in milliseconds; 0 = no limit.
   * Past it the call returns `CTRD_ERR_DEADLINE_EXCEEDED` (a pull keeps
   * what it fetched for the next pull).
   */
  uint64_t timeout_ms;
  /**
   * containerd's host directory root (the layout of `ctr --hosts-dir`
   * and containerd's `config_path`): `<dir>/<host>/hosts.toml` for
   * registry `<host>` (`<dir>/<name>_<port>_` or `<dir>/<name>:<port>`
   * for `name:port`, else `<dir>/_default`), or docker's certificate
   * files in that directory (`*.crt` CAs, `*.cert` client certificates
   * with their `*.key`). Borrowed for the call. NULL =
   * "/etc/containerd/certs.d" when it exists, else none; "" = none; a
   * path that is not a directory is `CTRD_ERR_INVALID_ARGUMENT`.
   *
   * The `[host."URL"]` tables of `hosts.toml` are mirrors, tried in the
   * order they appear, then the registry itself (or `server` instead of
   * it); each host may say `capabilities` ("pull", "resolve", "push":
   * tags are resolved only on hosts with "resolve"), `ca` (file or list,
   * trusted besides the system's and `ca_file`), `client` (a file with
   * certificate and key, a list, or `[cert, key]` pairs: a server that
   * asks for one gets the first it takes, as Go picks), `skip_verify` (overrides
   * this struct's), `override_path`, `header` (sent with every request
   * to the host) and `dial_timeout`; relative paths are relative to the
   * host's directory. A host that cannot be reached or answers an error
   * passes to the next; when all fail, the message lists each with its
   * failure. A mirror's requests carry `?ns=<registry>`; `username` and
   * `secret` go to any host that asks for credentials (as `ctr --user`),
   * else each host gets the docker config's for its own name. A
   * malformed `hosts.toml` (the message names the file, the line and the
   * key) or an unreadable CA, client certificate or key is
   * `CTRD_ERR_INVALID_ARGUMENT`. (Added after `timeout_ms`: a program
   * built without it gets NULL.)
   */
  const char *hosts_dir;
} ctrd_pull_opts;

/**
 * What `ctrd_container_create` makes. Strings are borrowed for the call only.
 * Start from `ctrd_container_opts_default()` (every field zero but
 * `struct_size`). See `struct_size` for how the struct grows.
 */
typedef struct ctrd_container_opts {
  /**
   * `sizeof(ctrd_container_opts)` as the program was compiled: required
   * (0 is `CTRD_ERR_INVALID_ARGUMENT`). New fields are only ever added
   * at the end; from 1.0 on, the library reads no field past
   * `struct_size`, so a program built against an older header keeps
   * working, and one built against a newer header works with an older
   * library as long as it leaves the newer fields zero.
   */
  size_t struct_size;
  /**
   * Required: the container id (letters, digits and "." "_" "-" between
   * them, at most 76 characters).
   */
  const char *id;
  /**
   * Required: the OCI runtime spec as JSON, e.g. from `ctrd_spec_generate`.
   * Checked before anything is sent, then stored exactly as given.
   */
  const char *spec_json;
  /**
   * Optional: the image name recorded on the container.
   */
  const char *image;
  /**
   * Optional: the snapshotter of the rootfs; NULL = "overlayfs".
   */
  const char *snapshotter;
  /**
   * Optional: the snapshot that is the rootfs (see
   * `ctrd_snapshot_prepare_from_image`); NULL = none.
   */
  const char *snapshot_key;
  /**
   * Optional: the runtime; NULL = "io.containerd.runc.v2".
   */
  const char *runtime;
  /**
   * Optional: NULL-terminated array of "key=value" labels. containerd drops
   * a label whose value is empty.
   */
  const char *const *labels;
  /**
   * Optional: the runc shim's options as a JSON object whose keys are the
   * Go field names of containerd's runc `Options`: `NoPivotRoot`,
   * `NoNewKeyring`, `SystemdCgroup` (booleans), `ShimCgroup`,
   * `BinaryName`, `Root`, `CriuPath`, `CriuImagePath`, `CriuWorkPath`
   * (strings), `IoUid`, `IoGid` (32-bit unsigned numbers); e.g.
   * `{"SystemdCgroup":true,"BinaryName":"/usr/bin/runc"}`. Sent in the
   * record's runtime options as type `containerd.runc.v1.Options`, which
   * the runc shims (`io.containerd.runc.v2`) read when the task is
   * created. Checked before any call: an unknown key or a value of the
   * wrong type is `CTRD_ERR_INVALID_ARGUMENT` naming the key; `null`
   * leaves a field at its default. NULL = no options.
   */
  const char *runtime_options_json;
} ctrd_container_opts;

/**
 * The callback of `ctrd_events_subscribe`, called once per event on the
 * subscription's own library thread (never concurrently with itself for one
 * subscription).
 *
 * `user_data` is what was given to `ctrd_events_subscribe`. `topic` (e.g.
 * "/tasks/exit"), `ns` (the namespace the event happened in; "" for none)
 * and `event_json` (the event as a JSON object, e.g.
 * `{"containerId":"web","exitStatus":0,"exitedAt":"2024-05-01T10:00:00.500Z","id":"web","pid":4242}`)
 * are NUL-terminated UTF-8 strings valid only during the call: copy what
 * you keep. The callback may call any `ctrd_*` function, blocking ones
 * included, and may free its own subscription. It may also end its thread
 * (`pthread_exit`; a language runtime shutting down may do it): then only
 * that thread ends, and no further event of the subscription is delivered
 * (free it as usual).
 */
typedef void (*ctrd_event_cb)(void *user_data,
                              const char *topic,
                              const char *ns,
                              const char *event_json);

/**
 * The FIFO (or file) paths of a task's or process's stdio. NULL or "" = that
 * stream is not used. Paths must be absolute.
 */
typedef struct ctrd_io {
  /**
   * The process reads its stdin from here.
   */
  const char *stdin_path;
  /**
   * The process's stdout goes here.
   */
  const char *stdout_path;
  /**
   * The process's stderr goes here (unused with a terminal).
   */
  const char *stderr_path;
  /**
   * Whether the process gets a terminal (stdout and stderr merged).
   */
  bool terminal;
} ctrd_io;

/**
 * Called once, on a library thread, when a task or process waited for by
 * `ctrd_task_wait_async` or `ctrd_process_wait_async` exits: `status` is
 * `CTRD_OK` and `exit_status` the exit status, or `status` tells why the
 * wait failed (then `exit_status` is 0).
 *
 * The thread is one the library starts for this call: not the caller's, not
 * a runtime worker, so the callback may call blocking `ctrd_*` functions
 * (and `ctrd_wait_free` of its own wait). It may also end its thread
 * (`pthread_exit`; a language runtime shutting down may do it): only that
 * thread ends.
 */
typedef void (*ctrd_exit_cb)(void *user_data, enum ctrd_status status, uint32_t exit_status);

/**
 * How `ctrd_image_push` works. Strings are borrowed for the call only.
 * Start from `ctrd_push_opts_default()` (every field zero but
 * `struct_size`), which is also what NULL instead of the struct means:
 * every platform whose content is present, credentials from the docker
 * config, https with the system's CAs, no progress. `struct_size` works
 * as `ctrd_pull_opts`'s: new fields only ever come at the end.
 */
typedef struct ctrd_push_opts {
  /**
   * `sizeof(ctrd_push_opts)` as the program was compiled: required (0 is
   * `CTRD_ERR_INVALID_ARGUMENT`). See `ctrd_pull_opts.struct_size`.
   */
  size_t struct_size;
  /**
   * "os/arch[/variant]" (e.g. "linux/arm64/v8"): push only that
   * platform's manifest, as the tag's target (as `ctr images push
   * --platform`); all of its content must be in the content store.
   * NULL = every platform whose content (manifest, config, layers) is
   * all in the content store: an index that lacks some is pushed with
   * those entries left out (a new index, of a new digest).
   */
  const char *platform;
  /**
   * With `secret`, the registry credentials; NULL = from the docker
   * config (as `ctrd_pull_opts`), else anonymous.
   */
  const char *username;
  /**
   * The password, or an identity token when `username` is "".
   */
  const char *secret;
  /**
   * Talk http:// instead of https:// to the registry.
   */
  bool plain_http;
  /**
   * Accept any TLS certificate (no verification at all).
   */
  bool skip_verify;
  /**
   * A PEM file of CA certificates trusted besides the system's.
   */
  const char *ca_file;
  /**
   * containerd's host directory root, as `ctrd_pull_opts.hosts_dir`
   * (NULL = "/etc/containerd/certs.d" when it exists, "" = none). The
   * push goes to the first host of the registry's `hosts.toml` that has
   * the "push" capability (the registry itself, or its `server`, when
   * none says otherwise), as containerd pushes.
   */
  const char *hosts_dir;
  /**
   * Optional progress callback; see `ctrd_progress_cb` (phases
   * "pushing", then "done").
   */
  ctrd_progress_cb progress;
  /**
   * Passed back to `progress` untouched.
   */
  void *user_data;
  /**
   * A cancel signal (see `ctrd_cancel_new`), borrowed for the call; NULL
   * = none. Once it is triggered the call returns `CTRD_ERR_CANCELLED`
   * within a second.
   */
  const struct ctrd_cancel *cancel;
  /**
   * How long the whole call may take, in milliseconds; 0 = no limit.
   * Past it the call returns `CTRD_ERR_DEADLINE_EXCEEDED`.
   */
  uint64_t timeout_ms;
} ctrd_push_opts;

/**
 * One finished operation, from `ctrd_queue_next`. Only the fields of the
 * operation's kind are set (see each `*_submit`); the others are NULL or 0,
 * and all results are NULL or 0 unless `status` is `CTRD_OK`.
 */
typedef struct ctrd_completion {
  /**
   * The caller's tag, from the submission.
   */
  uint64_t tag;
  /**
   * `CTRD_OK`, or why the operation failed: the status its blocking
   * twin returns, or `CTRD_ERR_CANCELLED`.
   */
  enum ctrd_status status;
  /**
   * On failure the message (as `ctrd_last_error()` gives it for the
   * blocking twin, prefixed with the submitting function's name), owned
   * by the caller (free with `ctrd_string_free`); NULL on success.
   */
  char *error;
  /**
   * A container (create, load), owned by the caller.
   */
  struct ctrd_container *container;
  /**
   * A task (new task), owned by the caller.
   */
  struct ctrd_task *task;
  /**
   * An exec process, owned by the caller (no operation of this version
   * makes one).
   */
  struct ctrd_process *process;
  /**
   * An image (pull), owned by the caller.
   */
  struct ctrd_image *image;
  /**
   * The exit status: waits and task deletes.
   */
  uint32_t exit_status;
  /**
   * Image names (import), or `{version, revision}` (server version), an
   * array of `names_len` strings owned by the caller (free with
   * `ctrd_string_array_free(names, names_len)`).
   */
  char **names;
  /**
   * The number of `names`.
   */
  size_t names_len;
} ctrd_completion;

/**
 * Imports the images of the archive at `tar_path` into the client's
 * namespace, as `ctr images import` does: an OCI image layout tar
 * (`oci-layout`, `index.json`, `blobs/sha256/...`; what `ctr images
 * export` and `ctrd_image_export` write) or a `docker save` tar
 * (`manifest.json`). The library reads the file itself (the daemon need
 * not see it); `tar_path` must be absolute. A FIFO or character device
 * there is read to its end first (into an unnamed temporary file in
 * `$TMPDIR`, else /tmp: the archive is read at offsets), as
 * `ctrd_image_import_fd` reads a pipe; it is opened without waiting, and
 * its writer is waited for at most the client's timeout (60 s without
 * one): then `CTRD_ERR_DEADLINE_EXCEEDED`. Once bytes came, 60 s without
 * any is `CTRD_ERR_UNAVAILABLE` (stalled). Each tar header is checked
 * (its checksum) as it comes: a stream that is not a tar fails at its
 * first bad header (`CTRD_ERR_INVALID_ARGUMENT`, naming the offset), not
 * after it was all read. Once the tar's end-of-archive block came, a
 * second without more ends the read (the archive is complete, though its
 * writer keeps its end open).
 *
 * Images are named as ctr names them: in an OCI layout by each
 * `index.json` entry's `io.containerd.image.name` annotation, else its
 * `org.opencontainers.image.ref.name` (a full reference as it is; a bare
 * tag `T` as `import-YYYY-MM-DD:T`, today's UTC date, as ctr without
 * `--base-name`); in a docker archive by its `RepoTags`, normalised
 * (`busybox:latest` → `docker.io/library/busybox:latest`), with a Docker
 * schema2 manifest made as containerd makes it. Entries without a name
 * are skipped; an image of the same name is replaced.
 *
 * `opts` (NULL = defaults) gives the platform imported from an index
 * (`platform`; NULL = this machine's: other platforms' content is not
 * read), the snapshotter to unpack into (NULL = "overlayfs"), `no_unpack`,
 * and a progress callback (phases "fetching" while blobs are read into the
 * content store, "unpacking", "done"; `ref` is `tar_path`). The registry
 * fields are ignored. Each blob's digest and size are checked as it is
 * written; content goes in under a lease deleted before the call returns,
 * and image records are made only once all their content is in (and
 * unpacked), so a failure leaves no image.
 *
 * On success `*names` receives an array of the `*len` image names made
 * or updated, owned by the caller (free it with
 * `ctrd_string_array_free(*names, *len)`); on failure neither is written.
 * Blocks until the import is done (reading the whole archive; not bounded
 * by the client's timeout as a whole, each call to the daemon is), or
 * until `opts->timeout_ms` passed (`CTRD_ERR_DEADLINE_EXCEEDED`) or
 * `opts->cancel` was triggered (`CTRD_ERR_CANCELLED`, within a second):
 * then nothing is imported. Both cover the whole call, reading a FIFO or
 * pipe to its end too.
 * Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, a relative or
 * empty path, a bad `opts.platform`; an archive that is not a tar, is
 * truncated, is neither layout, names no image, lacks a blob, or holds a
 * blob that does not match its digest, the message naming the archive and
 * the blob; a directory), `CTRD_ERR_NOT_FOUND` (no file at `tar_path`, or an index
 * without a manifest for the platform), `CTRD_ERR_PERMISSION_DENIED`,
 * `CTRD_ERR_IO`, `CTRD_ERR_NOT_IMPLEMENTED` (a digest algorithm other than
 * sha256), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_import(struct ctrd_client *c,
                                   const char *tar_path,
                                   const struct ctrd_pull_opts *opts,
                                   char ***names,
                                   size_t *len);

/**
 * As `ctrd_image_import`, through queue `q` (see `ctrd_queue`): checks
 * `tar_path` and `opts` now and returns; the completion with `tag` brings
 * `.names` and `.names_len` (the caller's) or the failure. `opts` is read
 * during this call only; its progress callback, cancel signal and timeout
 * work as for the blocking import, and `ctrd_queue_cancel` stops it as
 * its signal does (nothing is imported). Errors (then no completion
 * comes): `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `tar_path` or `q`, a
 * relative or empty path, a malformed platform, bad options),
 * `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_image_import_submit(struct ctrd_client *c,
                                          const char *tar_path,
                                          const struct ctrd_pull_opts *opts,
                                          struct ctrd_queue *q,
                                          uint64_t tag);

/**
 * Exports the images `names` (a NULL-terminated array of image names, at
 * least one) of the client's namespace into an OCI image layout tar at
 * `tar_path`, as `ctr images export` writes it and `ctr images import` and
 * `ctrd_image_import` read it: `oci-layout`, an `index.json` with one entry
 * per image (its target, annotated with `io.containerd.image.name` = the
 * name and `org.opencontainers.image.ref.name` = its tag), a docker
 * `manifest.json` (`Config`, `RepoTags`, `Layers` of each image's manifest
 * for this machine's platform, as ctr writes it, so `docker load` reads
 * the archive too), and each blob
 * once under `blobs/sha256/`: the image's index or manifest and every blob
 * below it that the content store has (an index's manifests for other
 * platforms are included when present and left out when not; this
 * machine's platform's manifest, config and layers must all be there).
 *
 * The library writes the file itself: `tar_path` must be absolute. What
 * is at `tar_path` decides how:
 * - nothing, or a regular file: the archive is written to a temporary
 *   file in that directory (which must exist) and renamed to `tar_path`
 *   (replacing the file there) only when complete; a failure leaves no
 *   file behind. A replaced file's mode is kept (and its owner, where the
 *   caller may give it); a new file is 0666 less the umask. A symlink to
 *   a regular file is itself replaced so: `tar_path` becomes a regular
 *   file holding the archive, and the file the symlink named is neither
 *   written nor replaced (a symlink planted at `tar_path` cannot redirect
 *   the archive over another file).
 * - a FIFO or a character device (or a symlink to one): opened and
 *   written as the archive is made, as `ctr images export` does; never
 *   replaced. It is opened once, non-blocking and never as a controlling
 *   terminal, and written only if the open file is the one found there. A FIFO's reader is waited for at most the client's timeout
 *   (60 s without one): then `CTRD_ERR_DEADLINE_EXCEEDED`; a reader that
 *   takes nothing for 60 s cuts the export (`CTRD_ERR_UNAVAILABLE`). A
 *   device that fails a write (`/dev/full`) is `CTRD_ERR_IO` with the
 *   system's words. What a failure leaves in a FIFO is a truncated tar.
 * - anything else (a directory, a socket, a block device, a symlink to
 *   nothing): `CTRD_ERR_INVALID_ARGUMENT`; nothing is replaced.
 *
 * SIGPIPE: written on a library thread that blocks it (a reader gone is
 * `CTRD_ERR_IO`, "Broken pipe"). Blocks until the archive is
 * written (not bounded by the client's timeout as a whole; each call to
 * the daemon is). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid
 * UTF-8, no names, an empty name, a relative or empty path, a directory,
 * see above), `CTRD_ERR_NOT_FOUND` (an unknown image, named in the
 * message, or a missing blob of this platform; a missing directory),
 * `CTRD_ERR_PERMISSION_DENIED`, `CTRD_ERR_IO`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_export(struct ctrd_client *c,
                                   const char *const *names,
                                   const char *tar_path);

/**
 * Imports the images of the archive read from descriptor `fd`, as
 * `ctrd_image_import` imports a file: `docker save | prog`. `fd` stays the
 * caller's: it is read to its end and neither closed nor changed (its
 * flags are left as they are; blocking and non-blocking both work). A
 * regular file is read in place from its current offset (which is left at
 * its end); anything else (a pipe, a FIFO, a socket) is read to its end
 * first, into an unnamed temporary file in `$TMPDIR`, else /tmp (the
 * archive is read at offsets; a tar is read up to 1 MiB past its
 * end-of-archive block, no further). The first byte is waited for at most the
 * client's timeout (60 s without one: `CTRD_ERR_DEADLINE_EXCEEDED`), each
 * later one at most 60 s (`CTRD_ERR_UNAVAILABLE`, stalled); headers are
 * checked, the read ends a second after the end-of-archive block, and
 * `opts->cancel` and `opts->timeout_ms` cover it, as for a FIFO in
 * `ctrd_image_import`. `opts`,
 * `names` and `len` as `ctrd_image_import` (progress `ref`: "archive fd
 * N"); out-params written only on success.
 *
 * Threads: any; blocks until the import is done. Errors: as
 * `ctrd_image_import`, and `CTRD_ERR_INVALID_ARGUMENT` for an `fd` that is
 * -1 or not open, not open for reading, or a directory; `CTRD_ERR_IO` for
 * a failed read (the message naming the fd).
 */
enum ctrd_status ctrd_image_import_fd(struct ctrd_client *c,
                                      int fd,
                                      const struct ctrd_pull_opts *opts,
                                      char ***names,
                                      size_t *len);

/**
 * Exports the images `names` as `ctrd_image_export` does, the archive
 * written into descriptor `fd` as it is made: `prog | gzip`. `fd` stays
 * the caller's: written and neither closed nor changed (blocking and
 * non-blocking both work). A regular file is written from its current
 * offset (not truncated) and synced; a pipe, FIFO, socket or device is
 * written as it is. A reader that takes nothing for 60 s cuts the export
 * (`CTRD_ERR_UNAVAILABLE`); a reader gone is `CTRD_ERR_IO` ("Broken
 * pipe"): the library's writer thread blocks SIGPIPE, the caller's signal
 * handling is not involved. What a failure leaves written is a truncated
 * tar.
 *
 * Threads: any; blocks until the archive is written. Errors: as
 * `ctrd_image_export`, and `CTRD_ERR_INVALID_ARGUMENT` for an `fd` that is
 * -1 or not open, not open for writing, or a directory; `CTRD_ERR_IO` for
 * a failed write (the system's words).
 */
enum ctrd_status ctrd_image_export_fd(struct ctrd_client *c, const char *const *names, int fd);

/**
 * Makes a new, untriggered cancel signal.
 *
 * On success `*out` receives it, owned by the caller (free it with
 * `ctrd_cancel_free` once every call it was given to has returned); on
 * failure `*out` is not written. Never blocks; thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `out`).
 */
enum ctrd_status ctrd_cancel_new(struct ctrd_cancel **out);

/**
 * Triggers the signal: every call given it (running now or made later)
 * returns `CTRD_ERR_CANCELLED` within a second; a pull keeps what it
 * fetched for the next pull of the same image. Triggering again does
 * nothing. NULL is a no-op.
 *
 * Async-signal-safe: for NULL it returns at once; otherwise it does one
 * atomic store into the signal and nothing else (no lock, no allocation,
 * no system call, no thread-local; `ctrd_last_error` is left as it was),
 * so a SIGINT handler may call it on any thread, also one that never
 * called the library and in a library loaded by `dlopen`, as `ctr`
 * cancels a pull on Ctrl-C. Never blocks; thread-safe.
 */
void ctrd_cancel_trigger(struct ctrd_cancel *c);

/**
 * Whether the signal was triggered; false for NULL (no error is recorded).
 * Never blocks; thread-safe. Not for a signal handler (it goes through the
 * library's usual entry, which uses thread-locals): keep a flag of your
 * own there.
 */
bool ctrd_cancel_is_triggered(const struct ctrd_cancel *c);

/**
 * Frees the signal. Call it only after every call it was given to has
 * returned. NULL is a no-op. Never blocks.
 */
void ctrd_cancel_free(struct ctrd_cancel *c);

/**
 * Makes a client for the daemon at `address` in namespace `ns`.
 *
 * `address`: a socket path ("/run/containerd/containerd.sock") or
 * "unix:///path"; NULL uses $CONTAINERD_ADDRESS, else
 * /run/containerd/containerd.sock. `ns`: NULL uses $CONTAINERD_NAMESPACE,
 * else "default"; every call of this client runs in that namespace.
 *
 * Does not connect: the first call that needs the daemon connects, and
 * reports an unreachable daemon (`CTRD_ERR_UNAVAILABLE`). A connection lost
 * later (the daemon restarted) is made again by the next call.
 *
 * Connections: a blocking call runs on the calling thread, over that
 * thread's own connection to the daemon (made on its first call, shared
 * by every client of that daemon on the thread, closed when the thread
 * ends), so that the reply does not cross threads; such a thread holds
 * four file descriptors for it (the socket and a duplicate of it, an epoll
 * and an event descriptor). At most 64 threads at once do so; the calls of further
 * threads, and calls made while as many threads as the machine has cores
 * are in calls already, go over one connection the library's own threads
 * serve. Event subscriptions, pulls, imports and exports always do.
 *
 * On success `*out` receives a new client owned by the caller (free it with
 * `ctrd_client_free`). Errors: `CTRD_ERR_INVALID_ARGUMENT` for a NULL `out`,
 * invalid UTF-8, a relative path, an unsupported scheme, an over-long socket
 * path or an invalid namespace. Never blocks on the network.
 */
enum ctrd_status ctrd_client_connect(const char *address, const char *ns, struct ctrd_client **out);

/**
 * Sets the timeout of every later blocking call made through this client
 * and the containers and tasks it made: `ms` milliseconds, 0 for none (wait
 * for ever). The default is 30000; more than about 100 years
 * (3153600000000) counts as that. A call that runs out of time returns
 * `CTRD_ERR_DEADLINE_EXCEEDED`. Thread-safe.
 */
enum ctrd_status ctrd_client_set_timeout_ms(struct ctrd_client *c, uint64_t ms);

/**
 * Asks the daemon for its version ("1.6.20~ds1") and git revision.
 *
 * On success `*version` and `*revision` receive new strings owned by the
 * caller (free each with `ctrd_string_free`); either pointer may be NULL
 * when that value is not wanted. Blocks for one round trip, bounded by the
 * client's timeout. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL client),
 * `CTRD_ERR_UNAVAILABLE` (daemon not reachable),
 * `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_client_server_version(struct ctrd_client *c, char **version, char **revision);

/**
 * As `ctrd_client_server_version`, through queue `q` (see `ctrd_queue`):
 * the completion with `tag` brings `.names` = `{version, revision}`
 * (`names_len` 2, the caller's); a cancel cuts it at once. The cheapest
 * round trip: a way to measure what the queue adds to a call. Errors
 * (then no completion comes): `CTRD_ERR_INVALID_ARGUMENT` (NULL `c` or
 * `q`), `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`),
 * `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_client_server_version_submit(struct ctrd_client *c,
                                                   struct ctrd_queue *q,
                                                   uint64_t tag);

/**
 * Asks the daemon who it is and which plugins it runs (containerd's
 * introspection service), as one JSON object:
 *
 * `{"uuid":"...","pid":1234,"pidns":4026531836,"plugins":[{"type":
 * "io.containerd.snapshotter.v1","id":"overlayfs","status":"ok"},...],
 * "deprecations":[{"id":"...","message":"...","lastOccurrence":
 * "2024-01-02T03:04:05Z"}]}`
 *
 * A plugin's `status` is what `ctr plugins ls` shows: "ok", "skip" (the
 * plugin chose not to load, e.g. a snapshotter whose filesystem is absent)
 * or "error" (it failed to initialise); unless "ok", `error` holds the
 * daemon's message. Fields the daemon does not send are left out: `pid` and
 * `pidns` come from containerd 1.6.25 and 1.7.0 on, `deprecations` from
 * 1.7.9 on and only when there are any (1.6 answers `uuid` and `plugins`
 * only). A part the daemon does not implement leaves its fields out.
 *
 * On success `*json` receives a string owned by the caller (free it with
 * `ctrd_string_free`). Blocks for two concurrent round trips, bounded by
 * the client's timeout. Thread-safe. Errors: `CTRD_ERR_INVALID_ARGUMENT`
 * (a NULL argument), `CTRD_ERR_NOT_IMPLEMENTED` (the daemon has no
 * introspection service at all), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_client_server_info_json(struct ctrd_client *c, char **json);

/**
 * The namespace this client works in (after the $CONTAINERD_NAMESPACE and
 * "default" fallbacks). Borrowed from the client: valid until it is freed.
 * "" for a NULL client.
 */
const char *ctrd_client_namespace(const struct ctrd_client *c);

/**
 * Frees a client. NULL is a no-op. Containers and tasks made through it keep
 * the connection alive and stay usable. In a child after fork() it only
 * forgets the handle (its connections are the parent's). Must not race with
 * another call on the same client.
 */
void ctrd_client_free(struct ctrd_client *c);

/**
 * Creates a container record from `o` in the client's namespace, as
 * containerd's Go `NewContainer` does.
 *
 * Everything in `o` is checked before any call: the id, the spec JSON
 * (must parse as an OCI runtime spec), the labels (`key=value`, no key
 * twice), the runtime options (unknown keys and values of the wrong type
 * are named), and the size of the whole record (containerd takes at most
 * 16 MiB in one message). The spec travels as an Any of type
 * `types.containerd.io/opencontainers/runtime-spec/1/Spec`. When
 * `snapshot_key` names a snapshot made by `ctrd_snapshot_prepare_from_image`,
 * the lease protecting it is dropped: the container now holds it. Once the
 * record exists the call succeeds: a lease that cannot be dropped then is
 * left to expire (24 hours).
 *
 * On success `*out` receives a new container owned by the caller (free it
 * with `ctrd_container_free`). Blocks for a few round trips, bounded by the
 * client's timeout. Errors: `CTRD_ERR_INVALID_ARGUMENT` (bad input),
 * `CTRD_ERR_ALREADY_EXISTS` (id taken), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_create(struct ctrd_client *c,
                                       const struct ctrd_container_opts *o,
                                       struct ctrd_container **out);

/**
 * As `ctrd_container_create`, through queue `q` (see `ctrd_queue`): checks
 * `o` now (as the blocking call does) and returns; the completion with
 * `tag` brings `.container` (the caller's) or the failure. Cancelled, the
 * container is deleted again once the daemon made it (its snapshot stays,
 * under a lease, as with `CTRD_DELETE_KEEP_SNAPSHOT`); see
 * `ctrd_queue_cancel`. Errors (then no completion comes): those of
 * `ctrd_container_create`'s checks (`CTRD_ERR_INVALID_ARGUMENT`), NULL
 * `q`, `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_container_create_submit(struct ctrd_client *c,
                                              const struct ctrd_container_opts *o,
                                              struct ctrd_queue *q,
                                              uint64_t tag);

/**
 * Loads the existing container `id` from the client's namespace.
 *
 * On success `*out` receives a new container owned by the caller (free it
 * with `ctrd_container_free`). Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (bad id), `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_load(struct ctrd_client *c,
                                     const char *id,
                                     struct ctrd_container **out);

/**
 * As `ctrd_container_load`, through queue `q` (see `ctrd_queue`): the
 * completion with `tag` brings `.container` (the caller's); a cancel cuts
 * it at once. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `c` or `q`, bad id),
 * `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_container_load_submit(struct ctrd_client *c,
                                            const char *id,
                                            struct ctrd_queue *q,
                                            uint64_t tag);

/**
 * Lists the ids of the containers in the client's namespace that match
 * `filter`, containerd's filter syntax (e.g. `labels."app"==web`,
 * `image==docker.io/library/busybox:latest`); NULL lists all.
 *
 * On success `*ids` receives an array of `*len` strings owned by the caller
 * (free it with `ctrd_string_array_free(*ids, *len)`); an empty list may be
 * NULL with `*len` 0. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (also for a filter the daemon cannot parse),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_list(struct ctrd_client *c,
                                     const char *filter,
                                     char ***ids,
                                     size_t *len);

/**
 * The container's id. Borrowed from the handle: valid until it is freed.
 * "" for NULL. Never blocks.
 */
const char *ctrd_container_id(const struct ctrd_container *k);

/**
 * The container's OCI runtime spec as JSON, exactly as the daemon stores
 * it, from the handle's copy of the record: as it was when the handle was
 * made (create, load) or last refreshed or updated through it. Changes
 * made elsewhere show after `ctrd_container_refresh`.
 *
 * On success `*json` receives a string owned by the caller (free it with
 * `ctrd_string_free`). Makes no call; thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL), `CTRD_ERR_NOT_FOUND` (the record has
 * no spec).
 */
enum ctrd_status ctrd_container_spec_json(struct ctrd_container *k, char **json);

/**
 * The whole container record as a JSON object, from the handle's copy (see
 * `ctrd_container_spec_json`; `ctrd_container_refresh` re-reads it):
 * `"id"`; `"labels"` (object); `"image"`; `"runtime"`: `{"name",
 * "options"}`, `"options"` present when set, as `{"typeUrl", "value"}`
 * (`value` the bytes in standard base64) plus, for
 * `containerd.runc.v1.Options`, `"decoded"`: every field by its Go name
 * (the form `runtime_options_json` of `ctrd_container_opts` takes);
 * `"snapshotter"`; `"snapshotKey"`; `"createdAt"` and `"updatedAt"`
 * (RFC 3339 in UTC, e.g. `"2024-05-01T10:00:00.123456789Z"`);
 * `"extensions"` (object of name to `{"typeUrl", "value"}`); and `"spec"`:
 * the OCI runtime spec as a JSON object (as `ctr containers info` shows it
 * under "Spec"; `{"typeUrl", "value"}` when the stored bytes are not
 * JSON). Unset fields (times, options) are left out. Object keys come
 * sorted.
 *
 * On success `*json` receives a string owned by the caller (free it with
 * `ctrd_string_free`). Makes no call; thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL).
 */
enum ctrd_status ctrd_container_info_json(struct ctrd_container *k, char **json);

/**
 * Re-reads the container's record from the daemon into the handle's copy,
 * so that `ctrd_container_info_json` and `ctrd_container_spec_json` show
 * changes made elsewhere (e.g. `ctr containers label`). On failure the copy
 * stays as it was.
 *
 * Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL),
 * `CTRD_ERR_NOT_FOUND` (the container was deleted), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_refresh(struct ctrd_container *k);

/**
 * Sets and removes labels of the container, as containerd's Go
 * `SetLabels`: `labels` is a NULL-terminated array of `"key=value"` items
 * (at least one); `"key="` removes `key`. Labels not named stay as they
 * are: only `labels.<key>` of each key named is updated. The handle's copy
 * of the record becomes the daemon's reply.
 *
 * Everything is checked before any call: each item must hold `=`, its key
 * must not be empty, and no key may come twice. `labels` is borrowed for
 * the call only. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL, an empty array, a bad item, or a label
 * the daemon refuses, e.g. longer than 4096 bytes), `CTRD_ERR_NOT_FOUND`
 * (the container was deleted), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_set_labels(struct ctrd_container *k, const char *const *labels);

/**
 * Replaces the container's OCI runtime spec with `spec_json`, as
 * containerd's Go `Update` with a new spec: only the spec changes (a task
 * already running keeps the spec it started with; the next task gets this
 * one). The handle's copy of the record becomes the daemon's reply.
 *
 * `spec_json` is checked before any call, as `ctrd_container_create`
 * checks it (it must parse as an OCI runtime spec, and the request must fit
 * in containerd's 16 MiB message limit), then stored exactly as given.
 * Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL,
 * invalid UTF-8, not a spec, too large), `CTRD_ERR_NOT_FOUND` (the
 * container was deleted), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_update_spec(struct ctrd_container *k, const char *spec_json);

/**
 * Deletes the container as containerd's Go client does.
 *
 * Fails with `CTRD_ERR_FAILED_PRECONDITION`, deleting nothing, while the
 * container has a task (delete the task first): the daemon itself does not
 * check this. Otherwise removes the rootfs snapshot (one already gone is no
 * error), then the record. With `CTRD_DELETE_KEEP_SNAPSHOT` in `flags` the
 * snapshot stays, protected by a lease for 24 hours (containerd's garbage
 * collector would take a snapshot nothing refers to);
 * `ctrd_snapshot_remove` removes both.
 * When both steps fail the message gives both reasons. The handle stays
 * valid to free (and to read its id). Blocks for a few round trips. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL, unknown flags), `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_FAILED_PRECONDITION`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_delete(struct ctrd_container *k, uint32_t flags);

/**
 * As `ctrd_container_delete`, through queue `q` (see `ctrd_queue`); the
 * completion with `tag` has no result but its status. Not cut by a cancel
 * once sent. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `k` or `q`, unknown flags),
 * `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_container_delete_submit(struct ctrd_container *k,
                                              uint32_t flags,
                                              struct ctrd_queue *q,
                                              uint64_t tag);

/**
 * Makes a new image `image_name` of the container's changes, as `nerdctl
 * commit` does: the changes of the container's rootfs snapshot over its
 * image's layers become one more layer (gzip, written by the daemon's diff
 * service), the image's config gains its diff id in `rootfs.diff_ids` and
 * an entry in `history` (`created_by` "containerd-c commit"), and a new
 * manifest (for this machine's platform, of the same family as the base
 * image's, OCI or Docker) names the image's layers plus the new one. The
 * new image is unpacked onto the container's snapshotter, so that
 * `ctrd_snapshot_prepare_from_image` (or `ctr run`) can use it at once.
 * The name is taken as it is, as `ctrd_image_tag` takes it.
 *
 * A running task is paused for the diff and resumed after it, whatever
 * happened (a task already paused stays paused; one created, stopped or
 * absent is not touched); with `CTRD_COMMIT_NO_PAUSE` in `flags` it is not
 * paused. Everything the commit makes is under a lease until the image
 * record exists; on failure the lease goes with a synchronous garbage
 * collection: no record, blob or snapshot of it is left.
 *
 * On success `*out` receives the new image owned by the caller (free it
 * with `ctrd_image_free`); on failure `*out` is not written. `image_name`
 * is read during the call only. Blocks for a dozen round trips, each
 * bounded by the client's timeout; the diff and the layer's extraction by
 * that plus a second for each 10 MB. Thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `k`, `image_name` or `out`, invalid
 * UTF-8, an empty name, unknown bits in `flags`), `CTRD_ERR_NOT_FOUND` (the
 * container is gone), `CTRD_ERR_ALREADY_EXISTS` (an image `image_name`
 * exists: the message names it), `CTRD_ERR_FAILED_PRECONDITION` (the
 * container has no image or no snapshot, its image or snapshot is gone, or
 * its snapshot is not on its image's layers: the message says which),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the daemon's
 * errors (e.g. a task that cannot be paused).
 */
enum ctrd_status ctrd_container_commit(struct ctrd_container *k,
                                       const char *image_name,
                                       uint32_t flags,
                                       struct ctrd_image **out);

/**
 * Frees a container handle (the container itself stays; see
 * `ctrd_container_delete`). NULL is a no-op. In a child after fork() it only
 * forgets the handle. Must not race with another call on the same handle.
 */
void ctrd_container_free(struct ctrd_container *k);

/**
 * Prepares snapshot `key` whose parent is the unpacked rootfs of `image`
 * (the chain id of its layers, for this machine's platform when the image is
 * an index), ready to be a container's `snapshot_key`.
 *
 * `snapshotter` NULL = "overlayfs". A lease protects the new snapshot from
 * containerd's garbage collector until a container made by
 * `ctrd_container_create` refers to it (or for 24 hours); a snapshot no
 * container will use is removed with `ctrd_snapshot_remove`. On failure
 * nothing is left behind. Blocks for several round trips. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND` (no such image),
 * `CTRD_ERR_FAILED_PRECONDITION` (image not unpacked for that snapshotter),
 * `CTRD_ERR_ALREADY_EXISTS` (key taken), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_snapshot_prepare_from_image(struct ctrd_client *c,
                                                  const char *image,
                                                  const char *snapshotter,
                                                  const char *key);

/**
 * As `ctrd_snapshot_prepare_from_image`, through queue `q` (see
 * `ctrd_queue`); the completion with `tag` has no result but its status.
 * Cancelled, the snapshot (and its lease) is removed again once the daemon
 * made it (see `ctrd_queue_cancel`). Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `image`, `key` or `q`, empty
 * strings), `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`),
 * `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_snapshot_prepare_from_image_submit(struct ctrd_client *c,
                                                         const char *image,
                                                         const char *snapshotter,
                                                         const char *key,
                                                         struct ctrd_queue *q,
                                                         uint64_t tag);

/**
 * Removes snapshot `key` (and the lease `ctrd_snapshot_prepare_from_image`
 * put on it). `snapshotter` NULL = "overlayfs". A snapshot already gone is no
 * error. Blocks for two round trips. Errors: `CTRD_ERR_INVALID_ARGUMENT`,
 * `CTRD_ERR_FAILED_PRECONDITION` (e.g. it has children),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_snapshot_remove(struct ctrd_client *c,
                                      const char *snapshotter,
                                      const char *key);

/**
 * A runnable default Linux spec for container `id`, as JSON: containerd's
 * defaults (mounts, namespaces, capabilities, masked paths, rlimits, cgroups
 * path `/<namespace>/<id>` for the client's namespace), merged with the
 * config of `image` (entrypoint + cmd, env, working dir, user) when `image`
 * is not NULL; `argv` (NULL-terminated, at least one item) replaces the
 * process args when not NULL. The defaults are those of the daemon's
 * version, as its own `ctr` makes them: containerd 1.6 before 1.6.26 writes
 * `ociVersion` "1.0.2-dev"; later versions mask
 * `/sys/devices/virtual/powercap` too, and 1.7 and 2.0 write "1.2.0", 2.1
 * and later "1.2.1" (Debian's builds).
 *
 * On success `*json` receives a string owned by the caller (free it with
 * `ctrd_string_free`). The first call of a client asks the daemon's version
 * (one round trip; `ctrd_client_server_version` also tells the client);
 * after that, without an image, it makes no call and does not start the
 * library's runtime (so it works in a child after fork() too); with an
 * image it blocks for a few round trips. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (also an empty `argv`),
 * `CTRD_ERR_NOT_FOUND` (no such image, or its user is not in its
 * /etc/passwd), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_spec_generate(struct ctrd_client *c,
                                    const char *id,
                                    const char *image,
                                    const char *const *argv,
                                    char **json);

/**
 * Changes a spec with an RFC 7386 JSON merge patch, e.g.
 * `{"process":{"terminal":true,"env":["PATH=/bin","A=1"]},"hostname":"box"}`:
 * objects merge key by key, `null` removes a key, anything else replaces
 * (arrays are replaced whole). Both inputs are checked, and so is the result
 * (it must still be an OCI runtime spec).
 *
 * On success `*out` receives the patched spec, owned by the caller (free it
 * with `ctrd_string_free`). Makes no call; thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8 or JSON, not a spec).
 */
enum ctrd_status ctrd_spec_patch(const char *spec_json, const char *patch_json, char **out);

/**
 * The name of a status as a static string, e.g. `"CTRD_ERR_NOT_FOUND"`;
 * `"CTRD_STATUS_INVALID"` for a value that is not a `ctrd_status`. Never
 * NULL; do not free. Thread-safe, never blocks.
 */
const char *ctrd_status_name(ctrd_status s);

/**
 * The message of the last failing call on the calling thread: what failed,
 * on which object, and the daemon's own words where it answered. "" when the
 * last call succeeded. Never NULL. Owned by the library: valid until the next
 * `ctrd_*` call that returns a `ctrd_status` on this thread; copy it to keep it.
 */
const char *ctrd_last_error(void);

/**
 * The library's version, e.g. "0.1.0". Static; do not free.
 */
const char *ctrd_version(void);

/**
 * Frees a `char *` the library returned. NULL is a no-op. Never free a
 * `const char *` (those are borrowed).
 */
void ctrd_string_free(char *s);

/**
 * Frees an array of `len` strings the library returned (e.g. by
 * `ctrd_container_list`), and the strings in it. NULL is a no-op.
 */
void ctrd_string_array_free(char **items, size_t len);

/**
 * Subscribes to containerd's events and calls `cb(user_data, topic, ns,
 * event_json)` for each one that matches `filters`, on a library thread, until
 * `ctrd_subscription_free`.
 *
 * `filters`: NULL, or a NULL-terminated array of containerd filter strings;
 * an event is delivered when it matches any of them (`,` inside one string
 * ANDs). NULL or an empty array = every event. Examples:
 * `topic=="/tasks/exit"`, `namespace==default`, `topic~="^/containers/"`,
 * `namespace==default,topic=="/tasks/exit"`. containerd's event stream is
 * global: **without a `namespace==...` filter you get the events of every
 * namespace**, not just the client's; `ns` tells you which. A filter the
 * daemon cannot parse is `CTRD_ERR_INVALID_ARGUMENT`.
 *
 * `event_json` is the event payload in protobuf's JSON mapping, generated
 * from containerd's event definitions: lowerCamelCase field names; every
 * string, number, bool, list and map field present even when empty or zero;
 * integers as numbers (no event field is 64-bit); maps (labels) as objects;
 * timestamps as RFC 3339 UTC strings with 0, 3, 6 or 9 fractional digits.
 * A message field that is unset (a timestamp, `runtime`, `runtime.options`)
 * is absent, as that mapping has it. E.g. for "/containers/create"
 * `{"id":"web","image":"docker.io/library/busybox:latest","runtime":{"name":"io.containerd.runc.v2"}}`.
 * A payload of a type the library does not know, and a nested Any (such as
 * `runtime.options`), is `{"typeUrl":"...","value":"<standard base64>"}`
 * with the type URL as containerd sent it (e.g. "containerd.runc.v1.Options").
 *
 * Blocks until the daemon has registered the subscription (bounded by the
 * client's timeout): every event published after this returns `CTRD_OK` is
 * delivered. The stream itself has no timeout. If the stream breaks (e.g. the
 * daemon restarts) the library subscribes again with the same filters,
 * retrying with a backoff from 100 ms to 5 s for as long as the subscription
 * lives; events published meanwhile are lost and no notice is delivered
 * (re-list what you track if that matters). To establish the subscription
 * the library publishes a small event on topic "/containerd-c/sync/..."
 * in the client's namespace; the library's own subscriptions never deliver
 * those, other subscribers (`ctr events`) may show them.
 *
 * Threads: `cb` runs on a thread the library starts for this subscription
 * (not a runtime worker), one call at a time, in the daemon's order; it may
 * call any `ctrd_*` function, blocking ones included, and may free this
 * subscription. `user_data` is passed back untouched and must be usable from
 * that thread. `cb` must stay callable and `user_data` valid until
 * `ctrd_subscription_free` returns: a language binding whose callbacks are
 * objects of its runtime (a ctypes or cgo function) frees its
 * subscriptions before that runtime tears them down (e.g. at exit).
 *
 * While `cb` is busy, up to 4096 events wait in memory for it; events that
 * arrive while 4096 are waiting are dropped and counted. Once `cb` has taken
 * the waiting events, it is called with topic "/containerd-c/dropped",
 * `ns` "" and `event_json` `{"dropped":N}` (N: events lost since the
 * previous such call), in order: after the events that arrived before the
 * loss and before those that follow it. Filters do not apply to it. A slow
 * callback thus loses events rather than growing memory without bound.
 *
 * On success `*out` receives the subscription, owned by the caller (free it
 * with `ctrd_subscription_free`). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
 * client, cb or out; filters not UTF-8 or not parseable),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_IO` (no
 * thread could be started).
 */
enum ctrd_status ctrd_events_subscribe(struct ctrd_client *c,
                                       const char *const *filters,
                                       ctrd_event_cb cb,
                                       void *user_data,
                                       struct ctrd_subscription **out);

/**
 * Stops a subscription and frees it. NULL is a no-op.
 *
 * When this returns no callback of this subscription runs any more: called
 * from another thread, it waits for a callback in progress to return, and
 * for nothing else (so do not hold, in that thread, a lock the callback
 * needs). Called from inside the subscription's own callback, it returns at
 * once; that callback finishes and no other one starts. Events not yet
 * delivered, however many wait, are discarded without a callback.
 * Must not race with another call on the same subscription. In a child
 * after fork() it only forgets the handle.
 */
void ctrd_subscription_free(struct ctrd_subscription *s);

/**
 * Gets the image `name` (e.g. "docker.io/library/busybox:latest", as
 * `ctr images ls` lists it) from the client's namespace.
 *
 * On success `*out` receives a new image owned by the caller (free it with
 * `ctrd_image_free`). Blocks for one round trip, bounded by the client's
 * timeout. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, empty
 * name), `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_get(struct ctrd_client *c, const char *name, struct ctrd_image **out);

/**
 * Lists the names of the images in the client's namespace that match
 * `filter`, containerd's filter syntax (e.g.
 * `name==docker.io/library/busybox:latest`, `labels."k"==v`,
 * `target.mediatype~=index`); NULL lists all.
 *
 * On success `*names` receives an array of `*len` strings owned by the
 * caller (free it with `ctrd_string_array_free(*names, *len)`); an empty
 * list may be NULL with `*len` 0. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL out-params, invalid UTF-8, or a filter
 * the daemon cannot parse), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_list(struct ctrd_client *c,
                                 const char *filter,
                                 char ***names,
                                 size_t *len);

/**
 * The image's name. Borrowed from the handle: valid until it is freed. ""
 * for NULL. Never blocks; thread-safe.
 */
const char *ctrd_image_name(const struct ctrd_image *i);

/**
 * The digest of the image's target (its index or manifest), e.g.
 * "sha256:3f57...", as `ctr images ls` shows it under DIGEST, from the
 * record as it was when the handle was made. Borrowed from the handle:
 * valid until it is freed. "" for NULL. Never blocks; thread-safe.
 */
const char *ctrd_image_digest(const struct ctrd_image *i);

/**
 * The size in bytes of the image's content for this machine's platform, as
 * containerd's Go `Image.Size` counts it (and `ctr images ls` shows it
 * under SIZE): the index (when the target is one), the manifest chosen
 * (linux on this machine's architecture), its config and its layers, as
 * their descriptors give them (compressed layers; not the unpacked size).
 *
 * On success `*bytes` receives the size. Blocks for a round trip per index
 * and manifest read. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL),
 * `CTRD_ERR_NOT_FOUND` (a blob is missing from the content store, or the
 * index has no manifest for this platform), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_size(struct ctrd_image *i, uint64_t *bytes);

/**
 * The OCI image config of the image for this machine's platform (entrypoint,
 * env, working dir, user, layers' diff ids, history), as JSON exactly as
 * stored in the content store.
 *
 * On success `*json` receives a string owned by the caller (free it with
 * `ctrd_string_free`). Blocks for a few round trips. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL), `CTRD_ERR_NOT_FOUND` (a blob is
 * missing, or no manifest for this platform), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_config_json(struct ctrd_image *i, char **json);

/**
 * Whether the image's layers for this machine's platform are unpacked on
 * `snapshotter` (NULL = "overlayfs"), as containerd's Go `IsUnpacked`
 * tells (and `ctr images check` under UNPACKED): the snapshot named by the
 * chain id of the layers exists in the client's namespace.
 *
 * On success `*unpacked` receives the answer. Blocks for a few round
 * trips. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, an
 * empty snapshotter, or one the daemon does not have), `CTRD_ERR_NOT_FOUND`
 * (a blob is missing, or no manifest for this platform),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_is_unpacked(struct ctrd_image *i,
                                        const char *snapshotter,
                                        bool *unpacked);

/**
 * Unpacks the image's layers for this machine's platform onto
 * `snapshotter` (NULL = "overlayfs") in the client's namespace, as
 * containerd's Go `Image.Unpack` (and `ctr images unpack`) does, through
 * the daemon's diff and snapshot services: each layer not unpacked yet is
 * extracted by the daemon (gzip, zstd and uncompressed tar layers, as the
 * daemon's differ supports them) into a snapshot committed under the
 * layers' chain id, after checking that its content matches the diff id
 * the image config gives. Then the layer blobs carry the label
 * `containerd.io/uncompressed` (their diff id) and the config blob
 * `containerd.io/gc.ref.snapshot.<snapshotter>` (the top chain id), which
 * keeps the snapshots for as long as the image exists. Afterwards
 * `ctrd_image_is_unpacked` says true. Layers already unpacked are skipped,
 * so unpacking again does no extraction; concurrent unpacks of the same
 * layers (from this or another client) are safe.
 *
 * Works under a temporary lease of its own, deleted before the call
 * returns. On failure nothing is left behind: the snapshot being prepared
 * is removed, and the lease is deleted with a synchronous garbage
 * collection, which removes the layers committed by this call that
 * nothing else keeps. The handle is only borrowed.
 *
 * Blocks until all layers are extracted: a few round trips per layer,
 * each bounded by the client's timeout (one layer's extraction is one
 * call: raise the timeout with `ctrd_client_set_timeout_ms` for very large
 * layers). Thread-safe. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL image,
 * invalid UTF-8, an empty snapshotter, or one the daemon does not have:
 * the daemon's words), `CTRD_ERR_NOT_FOUND` (a blob is missing, or no
 * manifest for this platform), `CTRD_ERR_FAILED_PRECONDITION` (a layer's
 * content does not match its diff id in the config: the message names the
 * layer and both digests), `CTRD_ERR_UNKNOWN` (the manifest and config
 * disagree on the number of layers, or the daemon could not extract a
 * layer, e.g. a media type it does not support: the daemon's words),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_unpack(struct ctrd_image *i, const char *snapshotter);

/**
 * Gives image `name` a second name `new_name` in the client's namespace,
 * as `ctr images tag` does: a new image record with the same target (the
 * same index or manifest digest, so the same content and snapshots) and
 * the same labels. Names are taken as they are, as `ctrd_image_get` and
 * ctr take them (no Docker-style normalising: "busybox" is not
 * "docker.io/library/busybox:latest"). The two records are independent
 * afterwards: deleting one leaves the other and its content.
 *
 * If an image named `new_name` exists, the call fails with
 * `CTRD_ERR_ALREADY_EXISTS`, unless `flags` has `CTRD_IMAGE_TAG_FORCE`:
 * then that record is pointed at the source's target and given its labels
 * in one update (it is never missing meanwhile; the content only it
 * referred to is left to the garbage collector). Tagging an image with its
 * own name is `CTRD_ERR_ALREADY_EXISTS`, and with `CTRD_IMAGE_TAG_FORCE`
 * changes nothing. On failure no record is made or changed.
 *
 * No ownership passes: the strings are only read during the call; no
 * handle is made (get one with `ctrd_image_get(new_name)`). Handles of
 * `new_name` made before keep the record as it was. Blocks for two round
 * trips (three with `CTRD_IMAGE_TAG_FORCE` when `new_name` is new), each
 * bounded by the client's timeout. Thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL client or name, invalid UTF-8, an
 * empty name, unknown bits in `flags`: the message gives them),
 * `CTRD_ERR_NOT_FOUND` (no image `name`: the daemon's words),
 * `CTRD_ERR_ALREADY_EXISTS` (an image `new_name` exists: the message names
 * it), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_tag(struct ctrd_client *c,
                                const char *name,
                                const char *new_name,
                                uint32_t flags);

/**
 * Deletes the image record `name` from the client's namespace, as
 * containerd's Go `ImageService().Delete`. The content and snapshots only
 * it referred to are left to the daemon's garbage collector; with
 * `CTRD_IMAGE_DELETE_SYNC` in `flags` the call returns only after the
 * collector ran. Handles of the image stay valid to free (and to read
 * their name and digest); calls needing its content may then fail.
 *
 * Blocks for one round trip (with `CTRD_IMAGE_DELETE_SYNC`, as long as the
 * collection takes). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid
 * UTF-8, empty name, unknown flags), `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_image_delete(struct ctrd_client *c, const char *name, uint32_t flags);

/**
 * Frees an image handle (the image itself stays; see `ctrd_image_delete`).
 * NULL is a no-op. In a child after fork() it only forgets the handle. Must
 * not race with another call on the same handle.
 */
void ctrd_image_free(struct ctrd_image *i);

/**
 * Makes the stdio FIFOs for container `id`, as containerd's Go `cio` does:
 * a fresh directory of mode 0700 with a random name inside `dir`, holding
 * the FIFOs (mode 0700) `<id>-stdin` (only when `with_stdin`),
 * `<id>-stdout` and `<id>-stderr` (not when `terminal`: stdout then carries
 * both).
 *
 * `dir` must be absolute; it is created (0700) when missing. NULL uses a
 * private runtime directory: `/run/containerd-c/fifo` for root, else
 * `$XDG_RUNTIME_DIR/containerd-c/fifo`, else
 * `<temp dir>/containerd-c-<uid>/fifo`. The set is for one task or exec
 * process: pass its `ctrd_fifo_set_io` to `ctrd_container_new_task` or
 * `ctrd_task_exec`, and to `ctrd_io_attach`. Attach before creating the
 * task, as Go's `cio` does: containerd's shim opens the output FIFOs while
 * it creates the task and waits until they have a reader.
 *
 * On success `*out` receives a new set owned by the caller (free it with
 * `ctrd_fifo_set_free` once the task using it is deleted). Never blocks on
 * the network; no daemon needed. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
 * `id` or `out`, invalid UTF-8, an invalid id, a relative `dir`),
 * `CTRD_ERR_IO` (the OS refused to make a directory or FIFO; the message
 * names the path), `CTRD_ERR_PERMISSION_DENIED` (the default directory in a
 * shared temp directory belongs to someone else). On failure nothing is
 * left behind but `dir` itself.
 */
enum ctrd_status ctrd_fifo_set_create(const char *dir,
                                      const char *id,
                                      bool with_stdin,
                                      bool terminal,
                                      struct ctrd_fifo_set **out);

/**
 * The set's FIFO paths as a `ctrd_io`, ready for `ctrd_container_new_task`,
 * `ctrd_task_exec` and `ctrd_io_attach`: a path is "" for a FIFO the set
 * does not have; `terminal` is as given to `ctrd_fifo_set_create`.
 *
 * On success `*out` is filled with strings borrowed from the set: valid
 * until `ctrd_fifo_set_free`; do not free them. Thread-safe, never blocks.
 * Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL `f` or `out`).
 */
enum ctrd_status ctrd_fifo_set_io(const struct ctrd_fifo_set *f, struct ctrd_io *out);

/**
 * The directory holding the set's FIFOs (made for this set alone).
 * Borrowed from the set: valid until `ctrd_fifo_set_free`. "" for NULL.
 * Thread-safe, never blocks.
 */
const char *ctrd_fifo_set_dir(const struct ctrd_fifo_set *f);

/**
 * Frees a FIFO set and removes its FIFOs and their directory from disk
 * (errors doing so are ignored). NULL is a no-op. Free it only after the
 * task or process using the FIFOs was deleted: FIFOs removed earlier make
 * re-attaching to the task impossible (sessions attached already keep
 * working). Strings from `ctrd_fifo_set_io` and `ctrd_fifo_set_dir` die
 * with it. Never blocks on the FIFOs. In a child after fork(), a set the
 * parent made is only forgotten (its FIFOs stay: they are the parent's).
 * Must not race with another call on the same set.
 */
void ctrd_fifo_set_free(struct ctrd_fifo_set *f);

/**
 * Starts copying between the FIFOs named in `fifos` and the caller's file
 * descriptors, in the background, as containerd's Go `cio` does: what
 * arrives on `stdin_fd` goes into the stdin FIFO; what the task writes to
 * its stdout and stderr FIFOs goes to `stdout_fd` and `stderr_fd`.
 *
 * A stream whose path is NULL or "" in `fifos` is not copied (an fd for
 * such a stream is an error). An output stream whose fd is -1 but whose FIFO
 * exists is still read, and its bytes dropped: the shim waits for a reader
 * on every output FIFO before it creates the task. stdin with -1 is left
 * alone. With
 * `fifos->terminal` there is no stderr: stdout carries both. `fifos` may
 * come from `ctrd_fifo_set_io` (attach before creating the task), or from
 * `ctrd_task_io` / `ctrd_task_fifo_dir` of a task found by
 * `ctrd_container_load_task` (re-attach): the shim keeps each output FIFO
 * open, so output written while no session was attached waits in the pipe
 * and arrives here. Output a task writes while nothing reads blocks the task
 * once a pipe is full (64 KiB): attach to every output stream you do not
 * want to stall.
 *
 * The session works on its own duplicates of the fds (the caller keeps its
 * own and may close them) and never changes their flags; blocking and
 * non-blocking fds both work. Output is written with ordinary writes, so a
 * caller's pipe must be read for the copy to go on. At end of file on
 * `stdin_fd` the session closes its stdin FIFO end once the task has read
 * what was written; then the task's stdin must be closed for it to see end
 * of file: `ctrd_task_close_stdin_on_eof` makes the session do that itself
 * (or call `ctrd_task_close_stdin` / `ctrd_process_close_stdin`).
 *
 * Threads: the copies of every session run on one library thread for the
 * whole process (`ctrd-io`, started by the first attach), driven by epoll;
 * a caller's pipe is copied with splice(2) (no bytes held in between), a
 * socket or a regular file through a 64 KiB buffer. A stream whose fd is
 * something else (a terminal, a character device: its reads and writes
 * may block whatever poll says) gets a thread of its own. The copy threads
 * block all signals; a write to a closed pipe fails with EPIPE instead of
 * raising SIGPIPE. In a child after fork() every stream attached there
 * gets a thread of its own.
 *
 * On success `*out` receives a new session owned by the caller (free it with
 * `ctrd_io_session_free`). Returns at once: never waits for the task or the
 * FIFOs; no daemon needed. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
 * `fifos` or `out`, invalid UTF-8, a relative path, an fd below -1 or not
 * open, an fd not open for the needed direction, an fd for an unset stream,
 * a stderr fd with a terminal, a path that is not a FIFO), `CTRD_ERR_IO`
 * (opening a FIFO failed, e.g. it does not exist; the message names the
 * path).
 */
enum ctrd_status ctrd_io_attach(const struct ctrd_io *fifos,
                                int stdin_fd,
                                int stdout_fd,
                                int stderr_fd,
                                struct ctrd_io_session **out);

/**
 * Waits until the task's stdout and stderr (those copied to an fd) reached
 * end of file (the task exited and the shim closed them) and everything was
 * written to the caller's fds. Returns `CTRD_OK` at once when no output
 * stream is copied. A session attached after the task's writers closed sees
 * end of file only on a FIFO that still held output: for an empty one this
 * waits until the timeout (a FIFO cannot tell "no writer yet" from "no
 * writer any more").
 *
 * `timeout_ms < 0` waits for ever. Blocks the calling thread; several
 * threads may wait at once. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL),
 * `CTRD_ERR_DEADLINE_EXCEEDED` (the timeout passed first; the session goes
 * on and may be waited for again), `CTRD_ERR_IO` (a copy failed, e.g. the
 * caller's fd was closed: the message says which stream).
 */
enum ctrd_status ctrd_io_session_wait(struct ctrd_io_session *s, int64_t timeout_ms);

/**
 * Stops the session and frees it. NULL is a no-op. Every copy stops, but
 * bytes already read from a FIFO (at most 64 KiB per stream) are first
 * written to the caller's fd, so none are dropped; what the task wrote and
 * the session did not read stays in the FIFO for a later `ctrd_io_attach`.
 * Takes the session's streams off the library's copy thread (waiting at
 * most for the one step it is making) and stops and joins the threads of
 * streams that have their own: it makes no daemon call and
 * does not wait for the task, for more output, or for a stdin close set up
 * by `ctrd_task_close_stdin_on_eof` (that call is made in the background);
 * but
 * a caller's socket, file or terminal that takes no bytes (one nobody
 * reads) holds it up for as long as that lasts (a pipe does not: its bytes
 * move by splice, none held in between). Cheap after `ctrd_io_session_wait` returned
 * `CTRD_OK`. Closes the session's duplicates of the caller's fds, not the
 * caller's own. In a child after fork() it only forgets the copy threads
 * (they exist in the parent). Must not race with another call on the same
 * session.
 */
void ctrd_io_session_free(struct ctrd_io_session *s);

/**
 * Creates namespace `name` with `labels`, a NULL-terminated array of
 * "key=value" strings (NULL for none; a value may hold '='; containerd
 * drops a label whose value is empty). Works whatever namespace the client
 * itself is bound to. Strings are borrowed for the call only.
 *
 * `name` and the labels are checked before any call: the name as every
 * namespace (letters, digits and '.' '_' '-' between them, at most 76
 * characters), the labels as container labels (no empty key, no key twice).
 * Blocks for one round trip, bounded by the client's timeout. Thread-safe.
 * Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL client or name, bad name or
 * label, or a label the daemon refuses, e.g. longer than 4096 bytes),
 * `CTRD_ERR_ALREADY_EXISTS` (the name is taken), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_namespace_create(struct ctrd_client *c,
                                       const char *name,
                                       const char *const *labels);

/**
 * Lists the names of every namespace of the daemon, in the daemon's order
 * (sorted by name).
 *
 * On success `*names` receives an array of `*len` strings owned by the
 * caller (free it with `ctrd_string_array_free(*names, *len)`); an empty
 * list may be NULL with `*len` 0. Nothing is written on failure. Blocks for
 * one round trip, bounded by the client's timeout. Thread-safe. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (a NULL argument), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_namespace_list(struct ctrd_client *c, char ***names, size_t *len);

/**
 * Deletes namespace `name`, which must be empty. `name` is borrowed for the
 * call only and checked as in `ctrd_namespace_create` before any call.
 *
 * Blocks for one round trip, bounded by the client's timeout. Thread-safe.
 * Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL client or name, bad name),
 * `CTRD_ERR_FAILED_PRECONDITION` (the namespace still holds containers,
 * images, content, snapshots or leases; the message is the daemon's and
 * names them), `CTRD_ERR_NOT_FOUND` (no such namespace),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_namespace_delete(struct ctrd_client *c, const char *name);

/**
 * As `ctrd_task_close_stdin_on_eof`, for an exec process.
 */
enum ctrd_status ctrd_process_close_stdin_on_eof(struct ctrd_process *p, struct ctrd_io_session *s);

/**
 * Starts exec process `exec_id` in the running task: `process_json` is an
 * OCI runtime-spec "process" object (args, cwd, user, env, terminal...),
 * checked before it is sent and then sent as given; `io` its stdio as for
 * `ctrd_container_new_task` (NULL = none). The process is created, not
 * started: start it with `ctrd_process_start`.
 *
 * On success `*out` receives a new process owned by the caller (free it with
 * `ctrd_process_free`). Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (bad exec id, JSON or paths),
 * `CTRD_ERR_ALREADY_EXISTS` (exec id taken), `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_FAILED_PRECONDITION` (task not running), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_exec(struct ctrd_task *t,
                                const char *exec_id,
                                const char *process_json,
                                const struct ctrd_io *io,
                                struct ctrd_process **out);

/**
 * Starts the exec process. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`, the daemon's errors in its words.
 */
enum ctrd_status ctrd_process_start(struct ctrd_process *p);

/**
 * As `ctrd_process_start`, through queue `q` (see `ctrd_queue`); the
 * completion with `tag` has no result but its status. Not cut by a cancel
 * once sent. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `p` or `q`), `CTRD_ERR_ALREADY_EXISTS`
 * (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_process_start_submit(struct ctrd_process *p,
                                           struct ctrd_queue *q,
                                           uint64_t tag);

/**
 * Waits until the exec process exits, as `ctrd_task_wait` for a task.
 */
enum ctrd_status ctrd_process_wait(struct ctrd_process *p,
                                   int64_t timeout_ms,
                                   uint32_t *exit_status);

/**
 * As `ctrd_process_wait` with no timeout, through queue `q` (see
 * `ctrd_queue`): the completion with `tag` brings `.exit_status`; a cancel
 * cuts it at once. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `p` or `q`), `CTRD_ERR_ALREADY_EXISTS`
 * (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_process_wait_submit(struct ctrd_process *p,
                                          struct ctrd_queue *q,
                                          uint64_t tag);

/**
 * Sends `signal` (1-64) to the exec process. Blocks for one round trip.
 * Errors as `ctrd_task_kill`.
 */
enum ctrd_status ctrd_process_kill(struct ctrd_process *p, int signal);

/**
 * Deletes the exited exec process; `*exit_status` (may be NULL) receives its
 * exit status. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_FAILED_PRECONDITION` (still running), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_process_delete(struct ctrd_process *p, uint32_t *exit_status);

/**
 * Resizes the exec process's terminal. Blocks for one round trip. Errors as
 * `ctrd_task_resize`: `CTRD_ERR_FAILED_PRECONDITION`, making no call, for a
 * process whose `ctrd_io` had no `terminal`.
 */
enum ctrd_status ctrd_process_resize(struct ctrd_process *p, uint32_t width, uint32_t height);

/**
 * Closes the exec process's stdin. Blocks for one round trip. Errors as
 * `ctrd_task_close_stdin`.
 */
enum ctrd_status ctrd_process_close_stdin(struct ctrd_process *p);

/**
 * The exec process's pid once started (0 before, or for NULL). Never blocks.
 */
uint32_t ctrd_process_pid(const struct ctrd_process *p);

/**
 * Frees a process handle (the process goes on; see `ctrd_process_delete`).
 * NULL is a no-op. In a child after fork() it only forgets the handle. Must
 * not race with another call on the same handle.
 */
void ctrd_process_free(struct ctrd_process *p);

/**
 * As `ctrd_task_wait_async`, for an exec process (started with
 * `ctrd_process_start`): `cb` runs once when it exits; `out` (may be NULL)
 * receives a `ctrd_wait` that cancels it. As there, a wait started before
 * a fork() calls back in the parent only, never in the child.
 */
enum ctrd_status ctrd_process_wait_async(struct ctrd_process *p,
                                         ctrd_exit_cb cb,
                                         void *user_data,
                                         struct ctrd_wait **out);

/**
 * Pulls image `ref` from its registry into the client's namespace, as
 * containerd's Go `client.Pull` (and `ctr images pull`) does, by the
 * library itself: so it works alike on containerd 1.6, 1.7 and 2.x.
 *
 * `ref` is normalised as docker does: "busybox" is
 * "docker.io/library/busybox:latest", "host:5000/repo" gets ":latest",
 * "repo@sha256:..." names a digest (a tag beside a digest is dropped). The
 * image record gets that name. The registry's host directory under
 * `opts->hosts_dir` (see there) may name mirrors, tried first, and TLS
 * settings per host. The registry is reached over https with the
 * system's CAs (plus `opts->ca_file`; none with `opts->skip_verify`), or
 * http with `opts->plain_http`; credentials are `opts->username` and
 * `opts->secret`, else the docker config's, else none (a bearer token is
 * asked from the realm a 401 names, or basic auth used, as the registry
 * says). For an index, the manifest of `opts->platform` (this machine's by
 * default) is pulled: its config and layers, three at a time, streamed into
 * the content store; blobs the store has already are not fetched again, and
 * a write another pull left unfinished is resumed where the registry
 * serves byte ranges. Everything is held by a lease of the pull's own while
 * it runs; then the layers are unpacked into `opts->snapshotter` unless
 * `opts->no_unpack`; then the image record is created (or updated to the
 * new target when it exists). On failure no image record is made or changed
 * and the lease is deleted. A pull cut short on the way (the registry or
 * the daemon unreachable or too slow: `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`; or cancelled: `CTRD_ERR_CANCELLED`) first
 * puts what it fetched under a lease
 * named "containerd-c.pull-resume.<hash of the image's digest>", which the
 * next successful pull of the same image (from any registry or name)
 * deletes after using it, fetching only what is missing; unused, it
 * expires in a day. After any other failure what was fetched is left to
 * the garbage collector.
 *
 * `opts` may be NULL (defaults; see `ctrd_pull_opts`); its strings are
 * read during the call only. On success `*out` receives a new image owned
 * by the caller (free it with `ctrd_image_free`); on failure `*out` is not
 * written.
 *
 * Blocks until the pull ends: as long as the transfer takes, with at most
 * 30 s to connect and 60 s to wait for an answer; an answer's body that
 * brings fewer than 1 KiB in any 60 s is cut as stalled
 * (`CTRD_ERR_UNAVAILABLE`, naming the host); each daemon call is bounded
 * by the client's timeout. Registry answers 429, 502, 503 and 504 and
 * connections reset before an answer are tried again, at most 5 times a
 * request, after the registry's `Retry-After` (seconds or a date; at most
 * 60 s without a timeout) or a backoff from 0.2 s doubling up to 5 s; a
 * blob whose connection fails midway resumes from where it stopped; a
 * wait that would end past `opts->timeout_ms` is not begun: the pull
 * fails at once with `CTRD_ERR_DEADLINE_EXCEEDED` and the registry's
 * words. The progress's `retries` counts them. Bearer tokens are asked
 * once per scope for the whole pull, and once more when the registry
 * refuses one midway. `opts->timeout_ms` bounds the whole call
 * (`CTRD_ERR_DEADLINE_EXCEEDED`) and `opts->cancel` cuts it short when
 * triggered (`CTRD_ERR_CANCELLED`, within a second): either way what was
 * fetched stays for the next pull, as after any interruption. `opts->progress`, when
 * set, is called on a library thread (never the caller's) as
 * `ctrd_progress_cb` describes: about ten times a second while the pull
 * runs, then once with phase "done" if it succeeded, and never after this
 * function returned. Thread-safe: pulls may run at once on one client.
 *
 * Errors (the message names the reference): `CTRD_ERR_INVALID_ARGUMENT`
 * (NULL `c`, `ref` or `out`, invalid UTF-8, a malformed reference or
 * platform, an empty snapshotter, a username without a secret, an
 * unreadable `ca_file`, a `hosts_dir` that is not a directory, a malformed
 * `hosts.toml`, an unreadable CA, client certificate or key it names), `CTRD_ERR_UNAUTHENTICATED` (the registry wants
 * credentials or refused them: 401), `CTRD_ERR_PERMISSION_DENIED` (403),
 * `CTRD_ERR_NOT_FOUND` (unknown repository, tag or digest, or an index
 * without the platform asked for: the message lists the platforms it has),
 * `CTRD_ERR_UNAVAILABLE` (the registry cannot be reached or broke off, or
 * its TLS certificate is not trusted: the message says so and names the
 * host), `CTRD_ERR_FAILED_PRECONDITION` (the registry sent bytes that do
 * not match the blob's digest: the message names the blob and both
 * digests), `CTRD_ERR_DEADLINE_EXCEEDED` (`opts->timeout_ms` passed),
 * `CTRD_ERR_CANCELLED` (`opts->cancel` triggered), `CTRD_ERR_NOT_IMPLEMENTED` (a
 * manifest kind this library does not pull, e.g. docker schema 1), and the
 * daemon's errors.
 */
enum ctrd_status ctrd_image_pull(struct ctrd_client *c,
                                 const char *ref,
                                 const struct ctrd_pull_opts *opts,
                                 struct ctrd_image **out);

/**
 * As `ctrd_image_pull`, through queue `q` (see `ctrd_queue`): checks the
 * reference, platform and options now and returns; the completion with
 * `tag` brings `.image` (the caller's) or the failure. `opts` and its
 * strings are read during this call only; `opts->progress` is called as
 * for the blocking pull (on a library thread, never after the completion
 * was posted), and `opts->cancel` and `opts->timeout_ms` work as there.
 * `ctrd_queue_cancel` stops it as triggering its `ctrd_cancel` does: what
 * was fetched stays for the next pull. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `ref` or `q`, invalid UTF-8, a
 * malformed reference or platform, bad options), `CTRD_ERR_ALREADY_EXISTS`
 * (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_image_pull_submit(struct ctrd_client *c,
                                        const char *ref,
                                        const struct ctrd_pull_opts *opts,
                                        struct ctrd_queue *q,
                                        uint64_t tag);

/**
 * Pushes image record `name` of the client's namespace to `remote_ref`
 * (e.g. "registry.example.com/team/app:1.2"; NULL = `name` itself), as
 * `ctr images push` does, by the library itself: so it works alike on
 * containerd 1.6, 1.7 and 2.x.
 *
 * `remote_ref` is normalised as docker does ("busybox" is
 * "docker.io/library/busybox:latest"); its tag (or digest, which must be
 * the digest of what is pushed) names the image in the repository. What
 * is pushed is read from the content store: with `opts->platform`, that
 * platform's manifest, its config and layers (all must be there), the
 * manifest being the tag's target; else the image's target with every
 * platform whose content is all there (an index that lists platforms the
 * store lacks, as after a pull of one platform, is pushed rewritten with
 * the others only). Blobs go first, three at a time: one the registry has
 * is not sent again (HEAD first), one pulled from another repository of
 * the same registry (the `containerd.io/distribution.source.<host>`
 * label containerd's pulls put on content) is mounted from there when
 * the registry does it, the others are streamed from the content store in
 * one PUT each (never held whole in memory); then manifests and indexes,
 * each after what it names, the target last under the tag. Credentials,
 * TLS and host directories work as for `ctrd_image_pull`
 * (`opts->hosts_dir`: the first host with the "push" capability gets the
 * push); the token asked from a realm has the scope
 * `repository:<name>:pull,push`.
 *
 * `opts` may be NULL (defaults; see `ctrd_push_opts`); strings are read
 * during the call only. Nothing changes in containerd.
 *
 * Blocks until the push ends: as long as the transfer takes, with at most
 * 30 s to connect and 60 s to wait for an answer (after a blob's bytes
 * were sent); a blob the registry takes at fewer than 1 KiB in any 60 s is
 * cut as stalled (`CTRD_ERR_UNAVAILABLE`, naming the host); each daemon
 * call is bounded by the client's timeout. `opts->timeout_ms` bounds the
 * whole call (`CTRD_ERR_DEADLINE_EXCEEDED`) and `opts->cancel` cuts it
 * short when triggered (`CTRD_ERR_CANCELLED`, within a second); blobs
 * already sent stay in the registry (a push again sends only the rest).
 * `opts->progress`, when set, is called on a library thread as
 * `ctrd_progress_cb` describes: phase "pushing" with the bytes of blobs
 * and manifests the registry has (sent, mounted or found there) and the
 * layers, about ten times a second, then once "done" if the push
 * succeeded. Thread-safe: pushes may run at once on one client.
 *
 * Errors (the message names the image and the reference):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `c` or `name`, invalid UTF-8, an
 * empty name, a malformed reference or platform, a `remote_ref` whose
 * digest is not what is pushed, a username without a secret, an
 * unreadable `ca_file`, a `hosts_dir` that is not a directory, a
 * malformed `hosts.toml`), `CTRD_ERR_NOT_FOUND` (no image `name`; no
 * platform whose content is all in the store, or `opts->platform`'s
 * content missing or not in the index: the message names what is
 * missing; no host of the `hosts.toml` may push),
 * `CTRD_ERR_UNAUTHENTICATED` (the registry wants credentials or refused
 * them: 401, with the registry's words), `CTRD_ERR_PERMISSION_DENIED`
 * (push denied: a 403, or a token without the push scope, a 401 with
 * `insufficient_scope`; the registry's words), `CTRD_ERR_UNAVAILABLE` (the
 * registry cannot be reached or broke off, or its TLS certificate is not
 * trusted), `CTRD_ERR_FAILED_PRECONDITION` (the registry stored another
 * digest than the one sent), `CTRD_ERR_DEADLINE_EXCEEDED`,
 * `CTRD_ERR_CANCELLED`, `CTRD_ERR_UNKNOWN` (any other refusal by the
 * registry, e.g. an invalid manifest, in its words), and the daemon's
 * errors.
 */
enum ctrd_status ctrd_image_push(struct ctrd_client *c,
                                 const char *name,
                                 const char *remote_ref,
                                 const struct ctrd_push_opts *opts);

/**
 * As `ctrd_image_push`, through queue `q` (see `ctrd_queue`): checks the
 * name, reference, platform and options now and returns; the completion
 * with `tag` has no result but its status. `opts` and its strings are read
 * during this call only; `opts->progress` is called as for the blocking
 * push (on a library thread, never after the completion was posted), and
 * `opts->cancel` and `opts->timeout_ms` work as there. `ctrd_queue_cancel`
 * stops it as triggering its `ctrd_cancel` does (blobs already sent stay
 * in the registry). Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `name` or `q`, invalid UTF-8, an
 * empty name, a malformed reference or platform, bad options),
 * `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_image_push_submit(struct ctrd_client *c,
                                        const char *name,
                                        const char *remote_ref,
                                        const struct ctrd_push_opts *opts,
                                        struct ctrd_queue *q,
                                        uint64_t tag);

/**
 * Makes a new, empty completion queue and starts the library's runtime.
 *
 * On success `*out` receives the queue, owned by the caller (free it with
 * `ctrd_queue_free`); its descriptor (`ctrd_queue_fd`) is made with it.
 * Never blocks. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL `out`),
 * `CTRD_ERR_IO` (no descriptor could be made), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_queue_new(struct ctrd_queue **out);

/**
 * The queue's descriptor: readable (`POLLIN`, `EPOLLIN`) while at least one
 * completion waits to be taken, and not after the last was taken: watch it
 * level-triggered and call `ctrd_queue_next` with timeout 0 until it
 * returns `CTRD_ERR_DEADLINE_EXCEEDED` (with `EPOLLET`, do that every time
 * it fires: it fires when a completion arrives into an empty queue). An
 * eventfd, close-on-exec; owned by the queue: do not read, write or close
 * it. -1 for NULL or in a child after fork(). Never blocks.
 */
int32_t ctrd_queue_fd(const struct ctrd_queue *q);

/**
 * Takes one completion, the oldest (completions come in the order the
 * operations finished). `timeout_ms` 0 takes one only if one waits and
 * never blocks; > 0 waits at most that long for one; < 0 waits for ever.
 *
 * On success `*out` receives the completion (see `ctrd_completion`: its
 * results and message are the caller's from now on) and the tag is free
 * for a new submission; on any other status `*out` is not written.
 * Errors: `CTRD_ERR_DEADLINE_EXCEEDED` (none came in time: the usual
 * answer of a poll), `CTRD_ERR_INVALID_ARGUMENT` (NULL `q` or `out`),
 * `CTRD_ERR_FORKED`. Thread-safe: threads may wait on one queue at once;
 * each completion goes to one of them. Must not race with
 * `ctrd_queue_free`.
 */
enum ctrd_status ctrd_queue_next(struct ctrd_queue *q,
                                 int64_t timeout_ms,
                                 struct ctrd_completion *out);

/**
 * Cancels the operation submitted with `tag`. Its completion still comes
 * (exactly one), and after `CTRD_OK` here it is no success: a wait, a load
 * or a server version is cut at once (`CTRD_ERR_CANCELLED`); a pull or
 * import stops within a second as when its `ctrd_cancel` is triggered
 * (`CTRD_ERR_CANCELLED`; a pull keeps what it fetched for the next pull);
 * a container create, new task or snapshot prepare, whose call the daemon
 * may be carrying out already, is let finish and then undone (the
 * container, task or snapshot deleted again: nothing is left) before its
 * `CTRD_ERR_CANCELLED` comes, which can take a round trip. An operation
 * that failed first keeps its own status. Starts, kills and deletes cannot
 * be taken back once sent: cancelled before the library sent them they
 * complete with `CTRD_ERR_CANCELLED`, after that with what they did.
 *
 * Never blocks. Errors: `CTRD_ERR_NOT_FOUND` when no operation of this
 * tag runs: never submitted, taken already, or finished first (its
 * completion waits to be taken: the message says so);
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `q`), `CTRD_ERR_FORKED`. Thread-safe.
 */
enum ctrd_status ctrd_queue_cancel(struct ctrd_queue *q, uint64_t tag);

/**
 * Frees the queue: cancels every operation still running (as
 * `ctrd_queue_cancel` does), frees the completions nobody took, and
 * returns once every operation has ended, freeing what they give: at once
 * for those cut, after a round trip or two for creates being undone and
 * starts, kills and deletes being finished (each bounded by its client's
 * timeout). After it returns no progress callback of its operations runs
 * and nothing of the queue is left. NULL is a no-op. Must not race with
 * another call on the queue, nor be called from a progress callback of one
 * of its operations (it would wait for itself). In a child after fork()
 * it only forgets the queue.
 */
void ctrd_queue_free(struct ctrd_queue *q);

/**
 * Creates the container's task, as containerd's Go `NewTask`: the rootfs
 * mounts come from the container's snapshot, stdio from `io` (NULL = no
 * stdio; each path absolute, NULL or "" = that stream unused). The task is
 * created, not started: start it with `ctrd_task_start`.
 *
 * With FIFOs, call `ctrd_io_attach` on them before this: containerd's shim
 * waits for a reader on each output FIFO while it creates the task, so this
 * call would wait (until the client's timeout) for one. On success `*out` receives a new task
 * owned by the caller (free it with `ctrd_task_free`). Blocks for a few
 * round trips. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULLs, relative paths),
 * `CTRD_ERR_NOT_FOUND` (container gone), `CTRD_ERR_ALREADY_EXISTS` (it has a
 * task), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the
 * daemon's errors with its words (e.g. the shim failing to open a path).
 */
enum ctrd_status ctrd_container_new_task(struct ctrd_container *k,
                                         const struct ctrd_io *io,
                                         struct ctrd_task **out);

/**
 * As `ctrd_container_new_task`, through queue `q` (see `ctrd_queue`):
 * checks its arguments now and returns; the completion with `tag` brings
 * `.task` (the caller's) or the failure. Cancelled, the task is deleted
 * again once the daemon made it (see `ctrd_queue_cancel`). Errors (then
 * no completion comes): `CTRD_ERR_INVALID_ARGUMENT` (NULL `k` or `q`,
 * relative paths), `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`),
 * `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_container_new_task_submit(struct ctrd_container *k,
                                                const struct ctrd_io *io,
                                                struct ctrd_queue *q,
                                                uint64_t tag);

/**
 * Attaches to the container's existing task, as containerd's Go
 * `LoadTask`: its pid, FIFO paths and terminal flag come from the daemon
 * (see `ctrd_task_io`), so a second process, or this one after a crash or a
 * daemon restart, can re-attach to its stdio with `ctrd_io_attach`.
 *
 * On success `*out` receives a new task owned by the caller (free it with
 * `ctrd_task_free`). Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND` (no task),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_load_task(struct ctrd_container *k, struct ctrd_task **out);

/**
 * The task's stdio paths: `*out` receives strings borrowed from the task
 * (valid until it is freed), "" for an unused stream. Never blocks. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL).
 */
enum ctrd_status ctrd_task_io(const struct ctrd_task *t, struct ctrd_io *out);

/**
 * The directory of the task's first stdio path (where a FIFO set lives),
 * borrowed from the task; "" when it has no stdio or for NULL. Never blocks.
 */
const char *ctrd_task_fifo_dir(const struct ctrd_task *t);

/**
 * The task's id (its container's id), borrowed from the task; "" for NULL.
 * Never blocks.
 */
const char *ctrd_task_id(const struct ctrd_task *t);

/**
 * The pid of the task's init process (0 for NULL). Never blocks.
 */
uint32_t ctrd_task_pid(const struct ctrd_task *t);

/**
 * Starts the created task. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_FAILED_PRECONDITION` (already started), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`, and the daemon's errors (e.g. the command
 * not found in the rootfs) in its words.
 */
enum ctrd_status ctrd_task_start(struct ctrd_task *t);

/**
 * As `ctrd_task_start`, through queue `q` (see `ctrd_queue`); the
 * completion with `tag` has no result but its status. Not cut by a cancel
 * once sent. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `t` or `q`), `CTRD_ERR_ALREADY_EXISTS`
 * (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_task_start_submit(struct ctrd_task *t, struct ctrd_queue *q, uint64_t tag);

/**
 * Checkpoints the running task with CRIU into a new checkpoint image named
 * `image_name` (an index of the runtime's checkpoint, labelled
 * `containerd.io/checkpoint=true`, as containerd's Go `Task.Checkpoint`);
 * the task is paused meanwhile and goes on running afterwards. Restore it
 * with `ctrd_container_new_task_checkpoint`. Blocks until the checkpoint is
 * written. Errors: `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_ALREADY_EXISTS` (image name taken), `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`, and the runtime's errors in its words (e.g.
 * CRIU missing or failing on this kernel).
 */
enum ctrd_status ctrd_task_checkpoint(struct ctrd_task *t, const char *image_name);

/**
 * Makes a task that will be restored from the checkpoint image
 * `checkpoint_image` (from `ctrd_task_checkpoint` or `ctr tasks
 * checkpoint`), with stdio `io` as for `ctrd_container_new_task`. As in
 * containerd's Go client the create is deferred: nothing exists on the
 * daemon until `ctrd_task_start`, which restores and starts it (and which
 * can be called again if the restore failed); `ctrd_task_pid` is 0 until
 * then.
 *
 * On success `*out` receives a new task owned by the caller (free it with
 * `ctrd_task_free`). Blocks for a few round trips (reading the image).
 * Errors: `CTRD_ERR_INVALID_ARGUMENT` (also: the image holds no task
 * checkpoint), `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_container_new_task_checkpoint(struct ctrd_container *k,
                                                    const struct ctrd_io *io,
                                                    const char *checkpoint_image,
                                                    struct ctrd_task **out);

/**
 * Waits until the task exits; `*exit_status` (may be NULL) receives its exit
 * status (128 + n after signal n). `timeout_ms` < 0 waits for ever; on
 * timeout `CTRD_ERR_DEADLINE_EXCEEDED` and the task is untouched. A wait cut
 * off by the daemon restarting is made again, not reported as an exit.
 * Blocks the calling thread. Errors: `CTRD_ERR_INVALID_ARGUMENT`,
 * `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_UNAVAILABLE`
 * (daemon unreachable for longer than the client's timeout).
 */
enum ctrd_status ctrd_task_wait(struct ctrd_task *t, int64_t timeout_ms, uint32_t *exit_status);

/**
 * As `ctrd_task_wait` with no timeout, through queue `q` (see
 * `ctrd_queue`): the completion with `tag` brings `.exit_status`. A wait
 * cut off by a daemon restart is made again, as the blocking wait does;
 * `ctrd_queue_cancel` cuts it at once. Errors (then no completion comes):
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL `t` or `q`), `CTRD_ERR_ALREADY_EXISTS`
 * (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_task_wait_submit(struct ctrd_task *t, struct ctrd_queue *q, uint64_t tag);

/**
 * Sends `signal` to the task's init process, or with `CTRD_KILL_ALL` in
 * `flags` to all its processes. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (not a signal 1-64, unknown flags),
 * `CTRD_ERR_NOT_FOUND` (no such task or process already gone),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_kill(struct ctrd_task *t, int signal, uint32_t flags);

/**
 * As `ctrd_task_kill`, through queue `q` (see `ctrd_queue`); the
 * completion with `tag` has no result but its status. Not cut by a cancel
 * once sent. Errors (then no completion comes): as `ctrd_task_kill`'s
 * argument errors, and `CTRD_ERR_INVALID_ARGUMENT` (NULL `q`),
 * `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_task_kill_submit(struct ctrd_task *t,
                                       int signal,
                                       uint32_t flags,
                                       struct ctrd_queue *q,
                                       uint64_t tag);

/**
 * The task's state and, once stopped, its exit status (either out-pointer
 * may be NULL). Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_status(struct ctrd_task *t,
                                  enum ctrd_task_state *state,
                                  uint32_t *exit_status);

/**
 * Deletes the stopped task; `*exit_status` (may be NULL) receives its exit
 * status. A task that still runs is refused (`CTRD_ERR_FAILED_PRECONDITION`)
 * unless `flags` has `CTRD_TASK_DELETE_FORCE`, which kills it with SIGKILL
 * (resuming it first if paused) and waits for it, bounded by the client's
 * timeout. The handle stays valid to free. Remove the task's FIFOs only
 * after this. Errors: `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_FAILED_PRECONDITION`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_delete(struct ctrd_task *t, uint32_t flags, uint32_t *exit_status);

/**
 * As `ctrd_task_delete`, through queue `q` (see `ctrd_queue`): the
 * completion with `tag` brings `.exit_status`. Not cut by a cancel once
 * sent. Errors (then no completion comes): `CTRD_ERR_INVALID_ARGUMENT`
 * (NULL `t` or `q`, unknown flags), `CTRD_ERR_ALREADY_EXISTS` (`tag` in
 * use on `q`), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_task_delete_submit(struct ctrd_task *t,
                                         uint32_t flags,
                                         struct ctrd_queue *q,
                                         uint64_t tag);

/**
 * Closes the task's stdin: the process reads EOF once what was written to
 * the stdin FIFO is consumed. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_close_stdin(struct ctrd_task *t);

/**
 * Makes session `s` close the task's stdin (as `ctrd_task_close_stdin`)
 * once the caller's stdin it copies reached end of file and the task has
 * read everything written — what containerd's Go client does for `ctr run`
 * with a piped stdin. Then a task reading its stdin (`cat`) sees end of
 * file. The close is a call made in the background (no thread of its own),
 * at once when that end of file came already; not at all when the session
 * is freed first. Returns at once.
 * Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, a session that does not copy
 * stdin, or one that closes a stdin already), `CTRD_ERR_FORKED`.
 */
enum ctrd_status ctrd_task_close_stdin_on_eof(struct ctrd_task *t, struct ctrd_io_session *s);

/**
 * Resizes the task's terminal. Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL, zero size),
 * `CTRD_ERR_FAILED_PRECONDITION` (the task has no terminal: its `ctrd_io`,
 * or for a loaded task the daemon, says so; no call is made),
 * `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_resize(struct ctrd_task *t, uint32_t width, uint32_t height);

/**
 * Freezes every process of the task (state `CTRD_TASK_PAUSED`). Blocks for
 * one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
 * `CTRD_ERR_FAILED_PRECONDITION`, `CTRD_ERR_UNAVAILABLE`,
 * `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_pause(struct ctrd_task *t);

/**
 * Thaws a paused task. Blocks for one round trip. Errors as
 * `ctrd_task_pause`.
 */
enum ctrd_status ctrd_task_resume(struct ctrd_task *t);

/**
 * The pids of every process in the task. On success `*pids` receives an
 * array of `*len` pids owned by the caller (free it with `ctrd_pids_free`).
 * Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT`,
 * `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
 */
enum ctrd_status ctrd_task_pids(struct ctrd_task *t, uint32_t **pids, size_t *len);

/**
 * Frees an array from `ctrd_task_pids`. NULL is a no-op.
 */
void ctrd_pids_free(uint32_t *pids, size_t len);

/**
 * The task's resource usage as the daemon reports it (containerd's Go
 * `Task.Metrics`), as a JSON object:
 * `{"type": "<type URL>", "data": {...}}`.
 *
 * With the runc runtime, `type` is `io.containerd.cgroups.v1.Metrics` or
 * `io.containerd.cgroups.v2.Metrics` (as the host mounts its cgroups), and
 * `data` the cgroup statistics in protobuf's JSON form: lowerCamelCase
 * names, every field present (0 or empty when the kernel reports nothing),
 * an unset group left out. cgroup v1: `cpu.usage.{total,kernel,user,perCpu}`
 * (nanoseconds), `cpu.throttling`, `memory.usage.{usage,limit,max,failcnt}`
 * (bytes; a limit of 9223372036854771712 means none), `memory.swap`,
 * `memory.{cache,rss,...}`, `pids.{current,limit}`, `blkio.*`, `hugetlb`,
 * `rdma`, `network`, `cgroupStats`, `memoryOomControl`. cgroup v2:
 * `cpu.{usageUsec,userUsec,systemUsec,...}`,
 * `memory.{usage,usageLimit,swapUsage,...}`, `pids`, `io.usage`, `hugetlb`,
 * `rdma`, `memoryEvents`. Unlike protobuf's JSON mapping, 64-bit counters
 * are plain JSON numbers (exact: up to 18446744073709551615), not strings.
 * Any other type (another runtime) has `data` in the generic form
 * `{"typeUrl": "...", "value": "<standard base64>"}`, plus `"error"` when
 * the bytes of a known type do not decode.
 *
 * On success `*json` receives a string owned by the caller (free it with
 * `ctrd_string_free`). Blocks for one round trip. Errors:
 * `CTRD_ERR_INVALID_ARGUMENT` (NULL task or `json`), `CTRD_ERR_NOT_FOUND`
 * (no such task, or the daemon reports no metrics for it, e.g. it is not
 * running), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the
 * daemon's errors in its words.
 */
enum ctrd_status ctrd_task_metrics_json(struct ctrd_task *t, char **json);

/**
 * Changes the resources of the running task (containerd's Go
 * `Task.Update` with resources): `resources_json` is an OCI runtime-spec
 * `LinuxResources` object, e.g. `{"memory":{"limit":67108864}}`,
 * `{"cpu":{"quota":50000,"period":100000}}` or `{"pids":{"limit":64}}`;
 * members left out keep their values. It is checked, then sent as given
 * (type `types.containerd.io/opencontainers/runtime-spec/1/LinuxResources`);
 * the runtime applies it to the task's cgroup. The container's spec is not
 * changed.
 *
 * Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
 * task or `resources_json`, text that is not JSON, not an object, has a
 * member `LinuxResources` has not, or a member of the wrong type; the
 * message names it; nothing is sent), `CTRD_ERR_NOT_FOUND` (no such task),
 * `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the runtime's
 * errors in its words (e.g. a limit the kernel refuses, or a task that has
 * exited).
 */
enum ctrd_status ctrd_task_update(struct ctrd_task *t, const char *resources_json);

/**
 * Frees a task handle (the task itself goes on; see `ctrd_task_delete`).
 * NULL is a no-op. A pending `ctrd_task_wait_async` still calls back. In a
 * child after fork() it only forgets the handle. Must not race with another
 * call on the same handle.
 */
void ctrd_task_free(struct ctrd_task *t);

/**
 * Waits for the task's exit without blocking the caller: `cb(user_data,
 * status, exit_status)` runs once, on a thread the library starts for it
 * (see `ctrd_exit_cb`), when the task exits or the wait fails (a panic
 * inside the library comes back as `CTRD_ERR_INTERNAL`). A wait cut off by
 * a daemon restart is made again, as for `ctrd_task_wait`; there is no
 * timeout.
 *
 * `out` may be NULL: then the wait cannot be cancelled, and `user_data`
 * must stay valid until the callback ran. Otherwise `*out` receives a wait
 * owned by the caller, which must free it with `ctrd_wait_free`: before the
 * callback ran, that cancels the wait (the callback never runs); after, it
 * only frees. Freeing the task before the callback runs is safe: the wait
 * goes on. `user_data` must be usable from the callback's thread. Returns
 * at once. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL task or cb),
 * `CTRD_ERR_FORKED`.
 *
 * fork(): a wait started before a fork calls back in the parent only; the
 * child has none of the library's threads, so there the callback never
 * runs (and `ctrd_wait_free` only forgets the handle).
 */
enum ctrd_status ctrd_task_wait_async(struct ctrd_task *t,
                                      ctrd_exit_cb cb,
                                      void *user_data,
                                      struct ctrd_wait **out);

/**
 * Frees a wait from `ctrd_task_wait_async` or `ctrd_process_wait_async`.
 * NULL is a no-op.
 *
 * Before the callback ran, this cancels the wait: the callback never runs,
 * and the library lets go of `user_data` and the client. While the
 * callback runs on another thread, this waits for it to return (so do not
 * hold a lock the callback needs). Called from inside the callback itself,
 * it returns at once. After this returns, no callback of this wait runs.
 * In a child after fork() it only forgets the handle. Must not race with
 * another call on the same wait.
 */
void ctrd_wait_free(struct ctrd_wait *w);

