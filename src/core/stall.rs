//! The low-speed rule, the one for every transfer with a peer that may
//! stall: a registry's answer bodies (`http`) and archives streamed through
//! FIFOs, pipes and sockets (`archive`). A transfer that moves fewer than
//! [`STALL_BYTES`] in any [`STALL_WINDOW`] is cut as stalled, so a peer
//! trickling a byte a second holds no call for ever, while a slow transfer
//! that keeps moving is never cut. Each user words its own error (naming
//! the host, the FIFO or the descriptor).

use std::time::{Duration, Instant};

/// See the module doc.
pub const STALL_BYTES: u64 = 1024;
/// See the module doc.
pub const STALL_WINDOW: Duration = Duration::from_secs(60);

/// One transfer's count: the bytes since `since`, the start of the current
/// window (a window starts again once it brought [`STALL_BYTES`]).
#[derive(Debug)]
pub struct Meter {
    window: Duration,
    since: Instant,
    bytes: u64,
}

impl Meter {
    /// A count whose first window starts now; `window` is [`STALL_WINDOW`]
    /// but in tests of the rule.
    pub fn new(window: Duration) -> Meter {
        Meter {
            window,
            since: Instant::now(),
            bytes: 0,
        }
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// When the current window ends: a wait for the peer lasts at most
    /// until then.
    pub fn end(&self) -> Instant {
        self.since + self.window
    }

    /// The time left in the current window (zero once it ended).
    pub fn left(&self) -> Duration {
        self.end().saturating_duration_since(Instant::now())
    }

    /// Whether the current window ended with too few bytes (a window that
    /// brought enough has started again).
    pub fn stalled(&self) -> bool {
        Instant::now() >= self.end()
    }

    /// Counts `n` bytes just moved; `false` when the window had ended with
    /// too few before they came (the transfer stalled).
    pub fn add(&mut self, n: usize) -> bool {
        self.bytes += n as u64;
        if self.bytes >= STALL_BYTES {
            self.since = Instant::now();
            self.bytes = 0;
            true
        } else {
            !self.stalled()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_1_kib_in_60_s() {
        assert_eq!(STALL_BYTES, 1024);
        assert_eq!(STALL_WINDOW, Duration::from_secs(60));
    }

    #[test]
    fn a_window_that_brought_enough_starts_again() {
        let window = Duration::from_millis(200);
        let mut m = Meter::new(window);
        assert!(m.add(1000) && !m.stalled());
        std::thread::sleep(Duration::from_millis(120));
        // 1,024 bytes in all: a new window starts.
        assert!(m.add(24));
        assert!(m.left() > Duration::from_millis(150), "{:?}", m.left());
        std::thread::sleep(Duration::from_millis(120));
        assert!(m.add(10) && !m.stalled());
        std::thread::sleep(Duration::from_millis(100));
        // 10 + 10 bytes in more than the window: stalled.
        assert!(m.stalled());
        assert_eq!(m.left(), Duration::ZERO);
        assert!(!m.add(10));
    }
}
