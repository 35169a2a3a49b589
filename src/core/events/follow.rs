//! Following containerd's event stream across daemon restarts: a
//! [`Subscription`] subscribes again whenever its stream ends or breaks.

use std::sync::Arc;
use std::time::Duration;

use crate::core::daemon::client::Client;
use crate::core::error::Result;
use crate::core::events::{Event, EventStream};

/// Pauses between resubscription attempts of a [`Subscription`].
pub const RESUBSCRIBE_FIRST_DELAY: Duration = Duration::from_millis(100);
pub const RESUBSCRIBE_MAX_DELAY: Duration = Duration::from_secs(5);

/// A subscription that outlives daemon restarts: when the stream ends or
/// breaks it subscribes again with the same filters, pausing
/// [`RESUBSCRIBE_FIRST_DELAY`], doubling up to [`RESUBSCRIBE_MAX_DELAY`],
/// for as long as it is polled. Events published while it was not subscribed
/// are lost.
#[derive(Debug)]
pub struct Subscription {
    client: Arc<Client>,
    filters: Vec<String>,
    stream: Option<EventStream>,
    resubscribed: u64,
}

impl Subscription {
    /// Subscribes (see [`Client::subscribe`]).
    pub async fn new(client: Arc<Client>, filters: Vec<String>) -> Result<Subscription> {
        let stream = client.subscribe(filters.clone()).await?;
        Ok(Subscription {
            client,
            filters,
            stream: Some(stream),
            resubscribed: 0,
        })
    }

    /// How many times the stream was established again.
    pub fn resubscriptions(&self) -> u64 {
        self.resubscribed
    }

    /// The next event, resubscribing as often as needed. Never fails; waits
    /// for ever.
    pub async fn next(&mut self) -> Event {
        let mut delay = RESUBSCRIBE_FIRST_DELAY;
        loop {
            if let Some(stream) = &mut self.stream {
                match stream.next().await {
                    Ok(Some(event)) => return event,
                    Ok(None) | Err(_) => self.stream = None,
                }
            }
            tokio::time::sleep(delay).await;
            match self.client.subscribe(self.filters.clone()).await {
                Ok(stream) => {
                    self.stream = Some(stream);
                    self.resubscribed += 1;
                    delay = RESUBSCRIBE_FIRST_DELAY;
                }
                Err(_) => delay = (delay * 2).min(RESUBSCRIBE_MAX_DELAY),
            }
        }
    }
}
