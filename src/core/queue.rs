//! A completion queue: operations run on the shared runtime, and each ends
//! with exactly one completion in a list the caller takes from on any
//! thread, blocking for a while or not at all, or when one descriptor (an
//! eventfd) says a completion waits.
//!
//! Owns: the running operations by tag (to cancel one, or all when the
//! queue closes), the completions not taken yet (in the order the
//! operations finished) and the descriptor. Calls: `runtime` (the shared
//! runtime runs every operation). Knows nothing of what an operation does:
//! the caller gives its future and says how it may be cut short
//! ([`OnCancel`]).
//!
//! The descriptor is level-triggered by construction: under the lock, the
//! eventfd's counter is non-zero exactly while the list is not empty (a
//! completion into an empty list writes 1, taking the last one reads the
//! counter back to 0), so a poller sees it readable while a completion
//! waits and never after the list emptied.
//!
//! Exactly one completion: an operation posts its result when its future
//! ends; a guard posts an internal error instead when the future is
//! dropped unfinished (it panicked: tokio drops a task's future as the
//! panic unwinds). Cancelled (one tag, or all at close), an operation ends
//! as its [`OnCancel`] says; once a cancel was accepted its completion is
//! no success (`Cancelled`, or the failure the operation ran into first)
//! unless the operation is [`OnCancel::Finish`] and had started: a success
//! that comes after the cancel is undone or dropped. The decision and the
//! posting happen under the lock, so a cancel either comes before the
//! completion was posted or is refused as too late.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::core::cancel::Cancel;
use crate::core::error::{Code, Error, Result};
use crate::runtime;

/// A boxed operation, or the work that undoes one.
pub type Work<T> = Pin<Box<dyn Future<Output = Result<T>> + Send>>;

/// What makes the work that undoes an operation (see [`OnCancel::Undo`]).
pub type MakeUndo = Box<dyn FnOnce() -> Work<()> + Send>;

/// How an operation reacts to being cancelled.
pub enum OnCancel {
    /// Dropped where it stands: a wait, a read, anything that leaves
    /// nothing half-made when cut.
    Drop,
    /// Told through this signal, which the operation watches; it ends on
    /// its own, leaving things as it documents (a pull keeps what it
    /// fetched for the next pull).
    Signal(Cancel),
    /// Runs to its end (a call the daemon may be carrying out already is
    /// not cut); if it succeeded, the work this makes undoes it (a create
    /// deletes what it made). Made only when needed.
    Undo(MakeUndo),
    /// Runs to its end and reports what it did: it cannot be taken back
    /// (a start, a kill, a delete).
    Finish,
}

/// A queue of completions of `T`. Thread-safe; [`Queue::close`] ends it.
pub struct Queue<T> {
    shared: Arc<Shared<T>>,
}

/// A completion: the operation's tag, its label (given at submission, for
/// messages) and its result.
pub type Completion<T> = (u64, &'static str, Result<T>);

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Notified when a completion arrives or the queue closes.
    arrived: Condvar,
    /// Notified when an operation leaves `running`.
    ended: Condvar,
    /// Readable while `ready` is not empty.
    fd: OwnedFd,
    /// Test hook: while true, operations that ended wait before their
    /// completion is decided and posted.
    #[cfg(feature = "test-hooks")]
    hold: tokio::sync::watch::Sender<bool>,
    /// Test hook: operations waiting at the hold.
    #[cfg(feature = "test-hooks")]
    held: std::sync::atomic::AtomicUsize,
}

struct State<T> {
    running: HashMap<u64, Running>,
    ready: VecDeque<Completion<T>>,
    /// The tags in `ready`.
    ready_tags: HashSet<u64>,
    closed: bool,
}

struct Running {
    /// A cancel was accepted.
    cancelled: bool,
    /// Tells the operation's task (taken when sent).
    wake: Option<oneshot::Sender<()>>,
    /// The operation is [`OnCancel::Finish`]: a cancel after it started
    /// leaves its result as it is.
    finishes: bool,
    /// It started (was polled): for [`OnCancel::Finish`] a cancel before
    /// that still keeps it from running.
    started: bool,
}

fn cancelled_error(closed: bool) -> Error {
    Error::new(
        Code::Cancelled,
        if closed {
            "cancelled: the queue was freed"
        } else {
            "cancelled"
        },
    )
}

impl<T: Send + 'static> Queue<T> {
    /// A new, empty queue. Starts the runtime (fails in a forked child).
    pub fn new() -> Result<Queue<T>> {
        runtime::get()?;
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map_err(|e| {
            Error::new(
                Code::Io,
                format!("making the queue's eventfd: {}", std::io::Error::from(e)),
            )
        })?;
        Ok(Queue {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    running: HashMap::new(),
                    ready: VecDeque::new(),
                    ready_tags: HashSet::new(),
                    closed: false,
                }),
                arrived: Condvar::new(),
                ended: Condvar::new(),
                fd,
                #[cfg(feature = "test-hooks")]
                hold: tokio::sync::watch::Sender::new(false),
                #[cfg(feature = "test-hooks")]
                held: std::sync::atomic::AtomicUsize::new(0),
            }),
        })
    }

    /// The descriptor that is readable while a completion waits.
    pub fn fd(&self) -> RawFd {
        self.shared.fd.as_raw_fd()
    }

    /// Starts `work` on the shared runtime under `tag`; its completion will
    /// carry `label`. Fails (and nothing runs) when `tag` is running or its
    /// completion waits to be taken (`AlreadyExists`), or in a forked child.
    pub fn submit(
        &self,
        tag: u64,
        label: &'static str,
        on_cancel: OnCancel,
        work: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<()> {
        let rt = runtime::get()?;
        let (wake, woken) = oneshot::channel();
        {
            let mut st = self.shared.lock();
            if st.closed {
                return Err(Error::internal("the queue is being freed"));
            }
            if st.running.contains_key(&tag) || st.ready_tags.contains(&tag) {
                return Err(Error::new(
                    Code::AlreadyExists,
                    format!(
                        "tag {tag} is in use on this queue (its operation runs, or its \
                         completion was not taken yet)"
                    ),
                ));
            }
            st.running.insert(
                tag,
                Running {
                    cancelled: false,
                    wake: Some(wake),
                    finishes: matches!(on_cancel, OnCancel::Finish),
                    started: false,
                },
            );
        }
        // Boxed here: the task harness is then compiled once per `T`, not
        // once per call site.
        let work: Work<T> = Box::pin(work);
        rt.spawn(run(self.shared.clone(), tag, label, on_cancel, work, woken));
        Ok(())
    }

    /// Takes the oldest completion; waits at most `timeout` (`None`: for
    /// ever) for one. `None` when none came in time.
    pub fn next(&self, timeout: Option<Duration>) -> Option<Completion<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut st = self.shared.lock();
        loop {
            if let Some(done) = st.ready.pop_front() {
                st.ready_tags.remove(&done.0);
                if st.ready.is_empty() {
                    self.shared.reset_fd();
                }
                return Some(done);
            }
            st = match deadline {
                None => self
                    .shared
                    .arrived
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        return None;
                    }
                    self.shared
                        .arrived
                        .wait_timeout(st, at - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Cancels the running operation `tag` (see [`OnCancel`]).
    /// `NotFound` when no operation of that tag runs: never submitted, or
    /// its completion was posted already (it finished first).
    pub fn cancel(&self, tag: u64) -> Result<()> {
        let mut st = self.shared.lock();
        if let Some(op) = st.running.get_mut(&tag) {
            op.cancel();
            return Ok(());
        }
        let why = if st.ready_tags.contains(&tag) {
            "it finished already: its completion waits to be taken"
        } else {
            "no operation of this tag runs"
        };
        Err(Error::new(
            Code::NotFound,
            format!("tag {tag}: nothing to cancel: {why}"),
        ))
    }

    /// How many operations run now (their completions not posted yet).
    pub fn running(&self) -> usize {
        self.shared.lock().running.len()
    }

    /// Ends the queue: cancels every running operation, drops the
    /// completions nobody took, and returns once every operation has ended
    /// (those cut at once, the others when done or undone); what they
    /// complete with is dropped.
    pub fn close(&self) {
        let dropped = {
            let mut st = self.shared.lock();
            st.closed = true;
            for op in st.running.values_mut() {
                op.cancel();
            }
            st.ready_tags.clear();
            self.shared.reset_fd();
            self.shared.arrived.notify_all();
            std::mem::take(&mut st.ready)
        };
        // Held operations go once they are cancelled.
        #[cfg(feature = "test-hooks")]
        self.shared.hold.send_replace(false);
        // Results (handles) are freed outside the lock.
        drop(dropped);
        let mut st = self.shared.lock();
        while !st.running.is_empty() {
            st = self
                .shared
                .ended
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// Test hooks: holding operations between their end and their completion,
/// so that a test can cancel one whose work is done (a create the daemon
/// made) deterministically.
#[cfg(feature = "test-hooks")]
impl<T: Send + 'static> Queue<T> {
    /// While `on`, operations that ended wait before their completion is
    /// decided; off releases them. [`Queue::close`] turns it off.
    pub fn hold(&self, on: bool) {
        self.shared.hold.send_replace(on);
    }

    /// How many operations wait at the hold.
    pub fn held(&self) -> usize {
        self.shared.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(feature = "test-hooks")]
impl<T> Shared<T> {
    async fn wait_while_held(&self) {
        use std::sync::atomic::Ordering;
        let mut hold = self.hold.subscribe();
        if *hold.borrow_and_update() {
            self.held.fetch_add(1, Ordering::SeqCst);
            let _ = hold.wait_for(|on| !*on).await;
            self.held.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Running {
    fn cancel(&mut self) {
        self.cancelled = true;
        if let Some(wake) = self.wake.take() {
            let _ = wake.send(());
        }
    }
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Brings the eventfd's counter back to 0 (under the lock).
    fn reset_fd(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(self.fd.as_fd(), &mut buf);
    }

    /// Makes the eventfd readable (under the lock, into an empty list).
    fn raise_fd(&self) {
        let _ = rustix::io::write(self.fd.as_fd(), &1u64.to_ne_bytes());
    }

    /// Posts the completion of `tag` (dropped when the queue closed), or,
    /// when a cancel came meanwhile that `result` must give way to, returns
    /// the result for the caller to undo or drop.
    fn post(
        &self,
        tag: u64,
        label: &'static str,
        result: Result<T>,
        undone: bool,
    ) -> Option<Result<T>> {
        let mut st = self.lock();
        let op = st.running.get(&tag)?;
        if !undone && op.cancelled && !(op.finishes && op.started) && result.is_ok() {
            return Some(result);
        }
        st.running.remove(&tag);
        self.ended.notify_all();
        if st.closed {
            drop(st);
            drop(result);
            return None;
        }
        if st.ready.is_empty() {
            self.raise_fd();
        }
        st.ready.push_back((tag, label, result));
        st.ready_tags.insert(tag);
        self.arrived.notify_one();
        None
    }
}

/// Posts an internal error for an operation whose future was dropped
/// before it ended (it panicked), so that it still has its completion.
struct Posted<T: Send + 'static> {
    shared: Arc<Shared<T>>,
    tag: u64,
    label: &'static str,
    done: bool,
}

impl<T: Send + 'static> Drop for Posted<T> {
    fn drop(&mut self) {
        if !self.done {
            let e = Error::internal(
                "internal error (a bug in containerd-c): the operation panicked or was dropped",
            );
            let _ = self.shared.post(self.tag, self.label, Err(e), true);
        }
    }
}

/// The task of one operation: runs it as `on_cancel` says and posts its
/// completion.
async fn run<T: Send + 'static>(
    shared: Arc<Shared<T>>,
    tag: u64,
    label: &'static str,
    on_cancel: OnCancel,
    mut work: Work<T>,
    mut woken: oneshot::Receiver<()>,
) {
    let mut guard = Posted {
        shared: shared.clone(),
        tag,
        label,
        done: false,
    };
    let before = {
        let mut st = shared.lock();
        match st.running.get_mut(&tag) {
            Some(op) => {
                op.started = !op.cancelled;
                op.cancelled.then(|| cancelled_error(st.closed))
            }
            None => None,
        }
    };
    let (result, undo) = match (before, on_cancel) {
        // Cancelled before it started: it does not run.
        (Some(e), _) => (Err(e), None),
        (None, OnCancel::Drop) => {
            let r = tokio::select! {
                biased;
                _ = &mut woken => Err(cancelled_error(shared.lock().closed)),
                r = &mut work => r,
            };
            (r, None)
        }
        (None, OnCancel::Signal(signal)) => {
            let r = tokio::select! {
                r = &mut work => r,
                _ = &mut woken => {
                    signal.trigger();
                    work.await
                }
            };
            (r, None)
        }
        (None, OnCancel::Undo(undo)) => (work.await, Some(undo)),
        (None, OnCancel::Finish) => (work.await, None),
    };
    #[cfg(feature = "test-hooks")]
    shared.wait_while_held().await;
    let result = match shared.post(tag, label, result, false) {
        None => None,
        Some(made) => {
            // Cancelled meanwhile: what it made goes again.
            drop(made);
            let closed = shared.lock().closed;
            let e = match undo {
                None => cancelled_error(closed),
                Some(undo) => match undo().await {
                    Ok(()) => cancelled_error(closed),
                    Err(u) => Error::new(
                        Code::Cancelled,
                        format!(
                            "{}, but undoing what it had done failed: {}",
                            cancelled_error(closed).message,
                            u.message
                        ),
                    ),
                },
            };
            Some(Err(e))
        }
    };
    if let Some(r) = result {
        let _ = shared.post(tag, label, r, true);
    }
    guard.done = true;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    fn readable(q: &Queue<u32>) -> bool {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let mut fds = [PollFd::new(&q.shared.fd, PollFlags::IN)];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        poll(&mut fds, Some(&now)).expect("poll the queue's eventfd") == 1
    }

    fn next(q: &Queue<u32>) -> (u64, Result<u32>) {
        let (tag, label, r) = q.next(None).expect("a completion");
        assert_eq!(label, "op");
        (tag, r)
    }

    /// Waits until `n` operations run.
    fn until_running(q: &Queue<u32>, n: usize) {
        while q.running() != n {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// An operation that ends with `value` when `go` fires.
    fn gated(value: u32) -> (oneshot::Sender<()>, impl Future<Output = Result<u32>>) {
        let (go, gate) = oneshot::channel::<()>();
        (go, async move {
            let _ = gate.await;
            Ok(value)
        })
    }

    /// A sender the operation tells it started on, and its receiver.
    fn started() -> (mpsc::Sender<()>, mpsc::Receiver<()>) {
        mpsc::channel()
    }

    #[test]
    fn completions_come_in_the_order_they_finish_and_the_fd_follows() {
        let q = Queue::<u32>::new().unwrap();
        assert!(!readable(&q));
        assert!(q.next(Some(Duration::ZERO)).is_none());
        let mut gos = Vec::new();
        for tag in 1..=3u64 {
            let (go, op) = gated(tag as u32 * 10);
            q.submit(tag, "op", OnCancel::Drop, op).unwrap();
            gos.push(Some(go));
        }
        let e = q
            .submit(2, "op", OnCancel::Drop, async { Ok(0) })
            .unwrap_err();
        assert_eq!(e.code, Code::AlreadyExists);
        assert!(e.message.contains("tag 2"), "{}", e.message);
        // They finish 2, 3, 1.
        for (i, tag) in [2usize, 3].into_iter().enumerate() {
            gos[tag - 1].take().unwrap().send(()).unwrap();
            until_running(&q, 2 - i);
        }
        assert!(readable(&q), "completions wait");
        assert!(readable(&q), "level-triggered: still readable");
        assert_eq!(next(&q), (2, Ok(20)));
        assert!(readable(&q), "one more waits");
        assert_eq!(next(&q), (3, Ok(30)));
        assert!(!readable(&q), "nothing waits");
        assert!(q.next(Some(Duration::ZERO)).is_none());
        gos[0].take().unwrap().send(()).unwrap();
        assert_eq!(next(&q), (1, Ok(10)));
        // Taken: the tag is free again.
        q.submit(2, "op", OnCancel::Drop, async { Ok(7) }).unwrap();
        assert_eq!(next(&q), (2, Ok(7)));
        q.close();
    }

    #[test]
    fn cancelling_cuts_undoes_or_finishes_as_said() {
        let q = Queue::<u32>::new().unwrap();
        let undone = Arc::new(AtomicUsize::new(0));
        let (tell, began) = started();
        // Dropped where it stands.
        q.submit(1, "op", OnCancel::Drop, std::future::pending())
            .unwrap();
        // Undone after it finished.
        let u = undone.clone();
        let (go2, op2) = gated(2);
        let t2 = tell.clone();
        q.submit(
            2,
            "op",
            OnCancel::Undo(Box::new(move || {
                Box::pin(async move {
                    u.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            })),
            async move {
                t2.send(()).unwrap();
                op2.await
            },
        )
        .unwrap();
        // Finishes and says what it did.
        let (go3, op3) = gated(3);
        let t3 = tell.clone();
        q.submit(3, "op", OnCancel::Finish, async move {
            t3.send(()).unwrap();
            op3.await
        })
        .unwrap();
        // Watches its signal.
        let signal = Cancel::new();
        let s2 = signal.clone();
        let t4 = tell.clone();
        q.submit(4, "op", OnCancel::Signal(signal), async move {
            t4.send(()).unwrap();
            while !s2.is_triggered() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(Error::new(Code::Cancelled, "saw the signal"))
        })
        .unwrap();
        for _ in 0..3 {
            began.recv().unwrap();
        }
        for tag in 1..=4 {
            q.cancel(tag).unwrap();
        }
        go2.send(()).unwrap();
        go3.send(()).unwrap();
        let mut got: Vec<_> = (0..4).map(|_| next(&q)).collect();
        got.sort_by_key(|g| g.0);
        assert_eq!(got[0].1, Err(Error::new(Code::Cancelled, "cancelled")));
        assert_eq!(got[1].1, Err(Error::new(Code::Cancelled, "cancelled")));
        assert_eq!(undone.load(Ordering::SeqCst), 1, "undone once");
        assert_eq!(got[2].1, Ok(3));
        assert_eq!(got[3].1, Err(Error::new(Code::Cancelled, "saw the signal")));
        let e = q.cancel(1).unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert!(e.message.contains("no operation"), "{}", e.message);
        // A finished one waiting to be taken is not cancelled.
        q.submit(5, "op", OnCancel::Drop, async { Ok(5) }).unwrap();
        until_running(&q, 0);
        let e = q.cancel(5).unwrap_err();
        assert!(e.message.contains("finished already"), "{}", e.message);
        assert_eq!(next(&q), (5, Ok(5)));
        // Cancelled before it ran, even one that would finish.
        let (go6, op6) = gated(6);
        q.submit(6, "op", OnCancel::Finish, op6).unwrap();
        q.cancel(6).unwrap();
        drop(go6);
        let r = next(&q);
        assert!(r == (6, Ok(6)) || r.1.as_ref().is_err_and(|e| e.code == Code::Cancelled));
        q.close();
    }

    #[test]
    fn a_panic_still_completes_and_close_waits_for_what_runs() {
        let q = Queue::<u32>::new().unwrap();
        q.submit(1, "op", OnCancel::Finish, async {
            if true {
                panic!("boom in an operation");
            }
            Ok(1)
        })
        .unwrap();
        let (tag, r) = next(&q);
        assert_eq!(tag, 1);
        assert_eq!(r.unwrap_err().code, Code::Internal);
        let undone = Arc::new(AtomicUsize::new(0));
        let u = undone.clone();
        let (tell, began) = started();
        q.submit(
            2,
            "op",
            OnCancel::Undo(Box::new(move || {
                Box::pin(async move {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    u.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            })),
            async move {
                tell.send(()).unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                Ok(2)
            },
        )
        .unwrap();
        q.submit(3, "op", OnCancel::Drop, std::future::pending())
            .unwrap();
        q.submit(4, "op", OnCancel::Drop, async { Ok(4) }).unwrap();
        began.recv().unwrap();
        q.close();
        assert_eq!(q.running(), 0);
        assert_eq!(
            undone.load(Ordering::SeqCst),
            1,
            "undone before close returned"
        );
        assert!(!readable(&q));
        assert!(
            q.next(Some(Duration::ZERO)).is_none(),
            "completions dropped"
        );
    }
}
