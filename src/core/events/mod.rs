//! containerd's event stream, as the library hands it on: subscribing with
//! containerd's filter syntax ([`subscribe`]), decoding each envelope's
//! payload into protobuf-JSON ([`payload`]), following the stream across
//! daemon restarts ([`follow`]) and the bounded queue between a
//! subscription's reader and a slow consumer ([`queue`]).
//!
//! containerd's stream is global: a subscriber sees the events of every
//! namespace unless a filter such as `namespace==foo` says otherwise. This
//! module adds no namespace filter of its own; each [`Event`] carries the
//! namespace it happened in.
//!
//! Owns: the event types and their JSON, the sync events it publishes while
//! a subscription is being established (dropped from every stream it
//! returns). May call: `core::daemon` (the client's Events service, its
//! timeout and errors), `core::error` and `runtime` (its panic catcher, so
//! that a decoding bug never takes a subscription down); never
//! `crate::ffi`.

use std::time::SystemTime;

use crate::api::services::events::v1::Envelope;

pub mod follow;
pub mod payload;
pub mod queue;
pub mod subscribe;

pub use follow::{Subscription, RESUBSCRIBE_FIRST_DELAY, RESUBSCRIBE_MAX_DELAY};
pub use payload::{any_json, event_json, json};
pub use queue::{dropped_event, EventQueue, DROPPED_TOPIC, EVENT_QUEUE_CAPACITY};
pub use subscribe::{EventStream, SYNC_TOPIC_PREFIX};

/// One event from containerd.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When the daemon published it (`None` when the envelope had none).
    pub timestamp: Option<SystemTime>,
    /// The namespace it happened in ("" for namespace-less events).
    pub namespace: String,
    /// e.g. `/tasks/exit`, `/containers/create`.
    pub topic: String,
    /// The payload's type name as sent, e.g. `containerd.events.TaskExit`
    /// ("" when the envelope carried no payload).
    pub type_url: String,
    /// The payload as a JSON object; see [`event_json`].
    pub json: String,
}

impl Event {
    /// Decodes an envelope. Never fails: a payload that cannot be decoded
    /// comes out in the generic `{"typeUrl", "value"}` form.
    pub fn from_envelope(envelope: Envelope) -> Event {
        let timestamp = envelope
            .timestamp
            .and_then(|t| SystemTime::try_from(t).ok());
        let (type_url, json) = match &envelope.event {
            Some(any) => (any.type_url.clone(), event_json(any)),
            None => (String::new(), "null".to_string()),
        };
        Event {
            timestamp,
            namespace: envelope.namespace,
            topic: envelope.topic,
            type_url,
            json,
        }
    }
}
