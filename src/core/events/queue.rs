//! The bounded queue between a [`Subscription`](super::Subscription)(super::Subscription)'s
//! reader, which must never wait, and a consumer that may be slow (a C
//! subscription's caller): full, it drops events and says how many in a
//! notice event where they would have been.

use serde_json::json;

use crate::core::events::Event;

/// Topic of the notice an [`EventQueue`] delivers in place of the events it
/// dropped; its payload is `{"dropped": N}`.
pub const DROPPED_TOPIC: &str = "/containerd-c/dropped";
/// How many events an [`EventQueue`] of a C subscription holds.
pub const EVENT_QUEUE_CAPACITY: usize = 4096;

/// A bounded FIFO of events between a [`Subscription`](super::Subscription) reader (which must
/// never wait) and a consumer that may be slow.
///
/// It holds up to `capacity` events. [`push`](Self::push) never blocks:
/// when the queue is full the event is dropped and counted. The count then
/// comes out of [`pop`](Self::pop), in order, as a notice event (topic
/// [`DROPPED_TOPIC`], namespace "", payload `{"dropped": N}`, N = events
/// lost since the previous notice) where the lost events would have been:
/// after the events queued before them and before the first one pushed
/// once there is room again, or as soon as the consumer has taken
/// everything else. Notices take no room: there is at most one per run of
/// dropped events, so the queue never holds more than `2 * capacity + 1`
/// entries.
#[derive(Debug)]
pub struct EventQueue {
    capacity: usize,
    state: std::sync::Mutex<QueueState>,
    ready: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    slots: std::collections::VecDeque<Slot>,
    /// The `Slot::Event`s in `slots`.
    events: usize,
    /// Dropped since the last notice was queued or taken.
    unreported: u64,
    /// Dropped in all.
    dropped: u64,
    closed: bool,
}

#[derive(Debug)]
enum Slot {
    Event(Event),
    Dropped(u64),
}

/// The notice for `n` dropped events.
pub fn dropped_event(n: u64) -> Event {
    Event {
        timestamp: None,
        namespace: String::new(),
        topic: DROPPED_TOPIC.to_string(),
        type_url: String::new(),
        json: json!({ "dropped": n }).to_string(),
    }
}

impl EventQueue {
    /// A queue holding up to `capacity` events (at least 1).
    pub fn new(capacity: usize) -> EventQueue {
        EventQueue {
            capacity: capacity.max(1),
            state: Default::default(),
            ready: Default::default(),
        }
    }

    /// How many events it holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Nothing panics while holding the lock; if something did, the
        // state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `event`, or drops and counts it when the queue is full.
    /// Never blocks. `false` when the event was dropped, or when the queue
    /// is closed (then it is not counted).
    pub fn push(&self, event: Event) -> bool {
        let mut st = self.state();
        if st.closed {
            return false;
        }
        if st.events >= self.capacity {
            st.unreported += 1;
            st.dropped += 1;
            return false;
        }
        if st.unreported > 0 {
            let n = std::mem::take(&mut st.unreported);
            st.slots.push_back(Slot::Dropped(n));
        }
        st.slots.push_back(Slot::Event(event));
        st.events += 1;
        drop(st);
        self.ready.notify_one();
        true
    }

    /// The next event or notice without waiting; `None` when there is none
    /// or the queue is closed.
    pub fn try_pop(&self) -> Option<Event> {
        let mut st = self.state();
        if st.closed {
            return None;
        }
        Self::take(&mut st)
    }

    /// The next event or notice, waiting for one; `None` once the queue is
    /// closed (events still in it are discarded).
    pub fn pop(&self) -> Option<Event> {
        let mut st = self.state();
        loop {
            if st.closed {
                return None;
            }
            if let Some(event) = Self::take(&mut st) {
                return Some(event);
            }
            st = self
                .ready
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn take(st: &mut QueueState) -> Option<Event> {
        match st.slots.pop_front() {
            Some(Slot::Event(event)) => {
                st.events -= 1;
                Some(event)
            }
            Some(Slot::Dropped(n)) => Some(dropped_event(n)),
            None if st.unreported > 0 => Some(dropped_event(std::mem::take(&mut st.unreported))),
            None => None,
        }
    }

    /// Closes the queue: `pop` returns `None` from now on (waking a waiting
    /// one), `push` refuses. Never blocks for long.
    pub fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        st.slots.clear();
        st.events = 0;
        drop(st);
        self.ready.notify_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// How many events it holds now (notices not counted).
    pub fn len(&self) -> usize {
        self.state().events
    }

    /// Whether it holds no event (a notice may still be due).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many events it dropped in all.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::Value;

    use super::*;

    fn numbered(i: u64) -> Event {
        Event {
            timestamp: None,
            namespace: "ns".into(),
            topic: "/t".into(),
            type_url: String::new(),
            json: i.to_string(),
        }
    }

    /// What came out of a queue, as numbers and `d<N>` for notices.
    fn drain(q: &EventQueue) -> Vec<String> {
        std::iter::from_fn(|| q.try_pop())
            .map(|e| {
                if e.topic == DROPPED_TOPIC {
                    assert_eq!(e.namespace, "");
                    let v: Value = serde_json::from_str(&e.json).unwrap();
                    format!("d{}", v["dropped"])
                } else {
                    e.json
                }
            })
            .collect()
    }

    #[test]
    fn a_full_queue_drops_counts_and_reports_in_order() {
        let q = EventQueue::new(3);
        assert_eq!(q.capacity(), 3);
        for i in 0..3 {
            assert!(q.push(numbered(i)));
        }
        // Full: the next ones are dropped, and memory stays put.
        for i in 3..10 {
            assert!(!q.push(numbered(i)));
            assert_eq!(q.len(), 3);
        }
        assert_eq!(q.dropped(), 7);
        // The consumer takes one; the next push lands after the notice.
        assert_eq!(q.try_pop().unwrap().json, "0");
        assert!(q.push(numbered(10)));
        assert!(!q.push(numbered(11)));
        assert_eq!(drain(&q), ["1", "2", "d7", "10", "d1"]);
        assert_eq!(q.dropped(), 8);
        // Reported once only.
        assert!(q.try_pop().is_none());
        assert!(q.is_empty());
        assert!(q.push(numbered(12)));
        assert_eq!(drain(&q), ["12"]);
    }

    #[test]
    fn the_notice_comes_once_the_consumer_catches_up() {
        let q = EventQueue::new(1);
        assert!(q.push(numbered(0)));
        assert!(!q.push(numbered(1)));
        assert!(!q.push(numbered(2)));
        assert_eq!(q.try_pop().unwrap().json, "0");
        let notice = q.try_pop().unwrap();
        assert_eq!(
            (notice.topic.as_str(), notice.namespace.as_str()),
            (DROPPED_TOPIC, "")
        );
        assert_eq!(notice.json, r#"{"dropped":2}"#);
        assert_eq!(notice.timestamp, None);
        assert!(q.try_pop().is_none());
        // A zero capacity means one.
        assert_eq!(EventQueue::new(0).capacity(), 1);
    }

    #[test]
    fn a_bounded_queue_between_threads() {
        let q = Arc::new(EventQueue::new(16));
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || {
                let (mut got, mut reported) = (Vec::new(), 0u64);
                while let Some(e) = q.pop() {
                    if e.topic == DROPPED_TOPIC {
                        let v: Value = serde_json::from_str(&e.json).unwrap();
                        reported += v["dropped"].as_u64().unwrap();
                    } else {
                        let i: u64 = e.json.parse().unwrap();
                        if i == u64::MAX {
                            break;
                        }
                        got.push(i);
                        if got.len() % 8 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
                (got, reported)
            })
        };
        let mut max_len = 0;
        for i in 0..5000 {
            q.push(numbered(i));
            max_len = max_len.max(q.len());
        }
        // The end marker must get in; its failed attempts count as drops.
        let mut marker_drops = 0;
        while !q.push(numbered(u64::MAX)) {
            marker_drops += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let (got, reported) = consumer.join().unwrap();
        assert!(max_len <= 16, "{max_len}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
        // Every event was delivered or reported as dropped.
        assert_eq!(got.len() as u64 + reported, 5000 + marker_drops);
        assert_eq!(reported, q.dropped());
        assert!(q.dropped() > 0, "the producer outran the consumer");
    }

    #[test]
    fn close_wakes_a_waiting_consumer_and_discards() {
        let q = Arc::new(EventQueue::new(4));
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || q.pop())
        };
        std::thread::sleep(Duration::from_millis(50));
        q.close();
        assert!(waiter.join().unwrap().is_none());
        assert!(q.is_closed());
        assert!(!q.push(numbered(1)));
        assert_eq!(q.dropped(), 0, "pushes after close are not counted");
        assert!(q.pop().is_none());

        let q = EventQueue::new(2);
        q.push(numbered(1));
        q.push(numbered(2));
        q.push(numbered(3));
        q.close();
        assert!(q.pop().is_none() && q.try_pop().is_none());
        assert_eq!(q.len(), 0);
    }
}
