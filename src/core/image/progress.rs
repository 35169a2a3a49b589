//! Progress of a pull, an import or a push: counters the work updates as it goes and
//! a reporter reads at its own pace (the C layer samples them about ten times
//! a second). Updating is a few atomic operations, so the copy loops can
//! count every chunk.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// The step a pull, import or push is in, in the order they come (a push
/// has only `Pushing`, then `Done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Phase {
    Resolving = 0,
    Fetching = 1,
    Unpacking = 2,
    Pushing = 3,
    Done = 4,
}

impl Phase {
    /// The phase as the C API names it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Resolving => "resolving",
            Phase::Fetching => "fetching",
            Phase::Unpacking => "unpacking",
            Phase::Pushing => "pushing",
            Phase::Done => "done",
        }
    }

    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Resolving,
            1 => Phase::Fetching,
            2 => Phase::Unpacking,
            3 => Phase::Pushing,
            _ => Phase::Done,
        }
    }
}

/// One reading of a [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub phase: Phase,
    /// Bytes of the chosen platform's blobs that are in the content store
    /// (fetched now or found there); for a push, bytes of the blobs and
    /// manifests pushed that the registry has (sent now, mounted, or found
    /// there).
    pub bytes_done: u64,
    /// Bytes of all those blobs; 0 while unknown.
    pub bytes_total: u64,
    /// Layers fetched (while resolving and fetching) or unpacked (from
    /// unpacking on); for a push, layers the registry has.
    pub layers_done: u32,
    pub layers_total: u32,
    /// Registry requests sent again so far (a 429 or 503, a connection
    /// reset, a blob read resumed).
    pub retries: u32,
}

/// Shared counters of one pull or import. Share it behind an `Arc`.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    layers_fetched: AtomicU32,
    layers_unpacked: AtomicU32,
    layers_total: AtomicU32,
    /// The registry session counts its retries here.
    retries: Arc<AtomicU32>,
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    /// Moves on to `phase`; a phase never goes back. (Unpacking may start
    /// before fetching ends; the phase says which count is shown.)
    pub fn set_phase(&self, phase: Phase) {
        self.phase.fetch_max(phase as u8, Ordering::AcqRel);
    }

    /// Sets the totals once the blobs to fetch are known.
    pub fn set_totals(&self, bytes: u64, layers: u32) {
        self.bytes_total.store(bytes, Ordering::Release);
        self.layers_total.store(layers, Ordering::Release);
    }

    /// Adds `n` bytes to those done.
    pub fn add_bytes(&self, n: u64) {
        self.bytes_done.fetch_add(n, Ordering::AcqRel);
    }

    /// Takes back `n` bytes counted for a copy that failed and starts again.
    pub fn sub_bytes(&self, n: u64) {
        let _ = self
            .bytes_done
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(n))
            });
    }

    /// One more layer in the content store (fetched, or found there); for a
    /// push, one more the registry has.
    pub fn layer_fetched(&self) {
        self.layers_fetched.fetch_add(1, Ordering::AcqRel);
    }

    /// One more layer unpacked (or found unpacked).
    pub fn layer_unpacked(&self) {
        self.layers_unpacked.fetch_add(1, Ordering::AcqRel);
    }

    /// The counter the registry session counts its retries in.
    pub fn retry_counter(&self) -> Arc<AtomicU32> {
        self.retries.clone()
    }

    /// The counters now. `bytes_done` never exceeds a known total.
    pub fn snapshot(&self) -> Snapshot {
        let bytes_total = self.bytes_total.load(Ordering::Acquire);
        let mut bytes_done = self.bytes_done.load(Ordering::Acquire);
        if bytes_total > 0 {
            bytes_done = bytes_done.min(bytes_total);
        }
        let phase = Phase::from_u8(self.phase.load(Ordering::Acquire));
        let layers = match phase {
            Phase::Resolving | Phase::Fetching | Phase::Pushing => &self.layers_fetched,
            Phase::Unpacking | Phase::Done => &self.layers_unpacked,
        };
        Snapshot {
            phase,
            bytes_done,
            bytes_total,
            layers_done: layers.load(Ordering::Acquire),
            layers_total: self.layers_total.load(Ordering::Acquire),
            retries: self.retries.load(Ordering::Acquire),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_only_move_forward_and_show_their_layer_count() {
        let p = Progress::new();
        assert_eq!(p.snapshot().phase, Phase::Resolving);
        p.set_phase(Phase::Fetching);
        p.set_totals(100, 2);
        p.layer_fetched();
        p.layer_fetched();
        // Unpacking runs behind fetching: its count shows from its phase on.
        p.layer_unpacked();
        assert_eq!(p.snapshot().layers_done, 2);
        p.set_phase(Phase::Unpacking);
        assert_eq!(p.snapshot().layers_done, 1);
        p.set_phase(Phase::Fetching);
        assert_eq!(p.snapshot().phase, Phase::Unpacking);
        p.layer_unpacked();
        assert_eq!(p.snapshot().layers_done, 2);
    }

    #[test]
    fn bytes_done_stay_within_a_known_total() {
        let p = Progress::new();
        p.add_bytes(50);
        assert_eq!(p.snapshot().bytes_done, 50, "no total yet");
        p.set_totals(40, 1);
        assert_eq!(p.snapshot().bytes_done, 40);
        p.sub_bytes(30);
        assert_eq!(p.snapshot().bytes_done, 20);
        p.sub_bytes(100);
        assert_eq!(p.snapshot().bytes_done, 0);
    }
}
