//! Stopping a long call from outside: a cancel signal the caller triggers
//! (from any thread, or from a signal handler) and a deadline for the whole
//! call. Pulls and imports run their work under a [`Stop`].
//!
//! The signal is a bare atomic flag: triggering it is one atomic store, with
//! no lock, allocation or system call, so a SIGINT handler may do it. The
//! waiting side looks at the flag every [`TICK`] (a wake-up per tick while a
//! call with a signal runs), which bounds how long a triggered call takes to
//! return well under the second the C API promises, without a descriptor
//! per signal or a waker the handler would have to call.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::core::error::{Code, Error, Result};

/// How often a call under a cancel signal looks at it.
pub const TICK: Duration = Duration::from_millis(50);

/// A one-shot cancel signal, shared by clones: once triggered it stays so.
/// A signal made by [`Cancel::child`] counts as triggered when its parent
/// is, too (a queued pull stops on the caller's signal or on the queue's
/// cancel of that one operation).
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<Signal>);

#[derive(Debug, Default)]
struct Signal {
    triggered: AtomicBool,
    parent: Option<Cancel>,
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel::default()
    }

    /// A new signal that is triggered on its own or when `parent` (if any)
    /// is; triggering it leaves the parent alone.
    pub fn child(parent: Option<&Cancel>) -> Cancel {
        Cancel(Arc::new(Signal {
            triggered: AtomicBool::new(false),
            parent: parent.cloned(),
        }))
    }

    /// Triggers the signal. Async-signal-safe: one atomic store.
    pub fn trigger(&self) {
        self.0.triggered.store(true, Ordering::Release);
    }

    pub fn is_triggered(&self) -> bool {
        self.0.triggered.load(Ordering::Acquire)
            || self.0.parent.as_ref().is_some_and(Cancel::is_triggered)
    }
}

/// What may cut a call short: a cancel signal and a deadline, either
/// optional.
#[derive(Clone, Debug, Default)]
pub struct Stop {
    cancel: Option<Cancel>,
    /// The deadline and the timeout it was made from (for messages).
    deadline: Option<(Instant, Duration)>,
}

impl Stop {
    /// A stop for a call starting now: `cancel`, and `timeout` from now.
    pub fn new(cancel: Option<Cancel>, timeout: Option<Duration>) -> Stop {
        Stop {
            cancel,
            deadline: timeout.map(|t| (Instant::now() + t, t)),
        }
    }

    /// Runs `fut` until it ends, or until the signal is triggered
    /// (`Cancelled`) or the deadline passes (`DeadlineExceeded`), whichever
    /// comes first; then `fut` is dropped. The errors start with `what`. A
    /// signal triggered before the call keeps `fut` from starting.
    pub async fn run<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        if self.cancel.is_none() && self.deadline.is_none() {
            return fut.await;
        }
        tokio::select! {
            biased;
            e = self.stopped(what) => Err(e),
            r = fut => r,
        }
    }

    /// When the call must be done, if it has a deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }

    /// The error now, if the call is to stop (for blocking work that looks
    /// at it between steps, such as spooling an archive).
    pub fn check(&self, what: &str) -> Option<Error> {
        if self.cancel.as_ref().is_some_and(Cancel::is_triggered) {
            return Some(Error::new(Code::Cancelled, format!("{what}: cancelled")));
        }
        match self.deadline {
            Some((at, t)) if Instant::now() >= at => Some(Error::new(
                Code::DeadlineExceeded,
                format!(
                    "{what}: not done within its timeout of {} ms",
                    t.as_millis()
                ),
            )),
            _ => None,
        }
    }

    /// Ends once the call is to stop, with the error.
    async fn stopped(&self, what: &str) -> Error {
        loop {
            if let Some(e) = self.check(what) {
                return e;
            }
            let next = match (&self.cancel, self.deadline) {
                (Some(_), Some((at, _))) => at.min(Instant::now() + TICK),
                (Some(_), None) => Instant::now() + TICK,
                (None, Some((at, _))) => at,
                (None, None) => return std::future::pending().await,
            };
            tokio::time::sleep_until(next).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_cuts_a_call_short() {
        let forever = || std::future::pending::<Result<()>>();
        // Nothing to stop on: the call's own result.
        assert_eq!(Stop::default().run("x", async { Ok(3) }).await, Ok(3));
        // Triggered before: the call does not start.
        let cancel = Cancel::new();
        cancel.trigger();
        let e = Stop::new(Some(cancel.clone()), None)
            .run::<()>("pull \"r\"", async { unreachable!("started") })
            .await
            .unwrap_err();
        assert_eq!(e, Error::new(Code::Cancelled, "pull \"r\": cancelled"));
        // Triggered from another thread while the call waits.
        let cancel = Cancel::new();
        let c2 = cancel.clone();
        let start = std::time::Instant::now();
        let trigger = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            c2.trigger();
        });
        let e = Stop::new(Some(cancel.clone()), Some(Duration::from_secs(30)))
            .run("x", forever())
            .await
            .unwrap_err();
        trigger.join().unwrap();
        assert_eq!(e.code, Code::Cancelled);
        assert!(start.elapsed() < Duration::from_millis(200) + TICK * 4);
        assert!(cancel.is_triggered());
        // A child stops on its own trigger or its parent's, not the other
        // way round.
        let parent = Cancel::new();
        let child = Cancel::child(Some(&parent));
        child.trigger();
        assert!(child.is_triggered() && !parent.is_triggered());
        let child = Cancel::child(Some(&parent));
        assert!(!child.is_triggered());
        parent.trigger();
        assert!(child.is_triggered());
        assert!(!Cancel::child(None).is_triggered());
        // The deadline.
        let start = std::time::Instant::now();
        let e = Stop::new(Some(Cancel::new()), Some(Duration::from_millis(120)))
            .run("x", forever())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::DeadlineExceeded);
        assert!(e.message.contains("120 ms"), "{}", e.message);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(120) && took < Duration::from_secs(1));
    }
}
