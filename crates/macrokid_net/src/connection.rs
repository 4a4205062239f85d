//! Connecting to the server so that a server restart is survived.
//!
//! async-nats reconnects on its own (without limit by default) and subscribes again;
//! messages in flight when the connection drops are lost. These options bound the
//! reconnect delay (25 ms per attempt, at most 500 ms; async-nats' default doubles up to
//! 4 s) so that a restarted server is found within half a second, and count the
//! disconnects, so the coordinator can tell a round that lost messages to a server outage
//! from an instance that missed its deadline ([`crate::coordinator`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::security::Credentials;

/// The reconnect delay after `attempts` failed attempts: 25 ms each, at most 500 ms.
pub fn reconnect_delay(attempts: usize) -> Duration {
    Duration::from_millis((attempts as u64).saturating_mul(25).min(500))
}

/// Counts the connection events of one client.
#[derive(Debug, Clone, Default)]
pub struct ConnectionWatch {
    disconnects: Arc<AtomicU64>,
    connects: Arc<AtomicU64>,
}

impl ConnectionWatch {
    /// A watch with zero counts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Times the connection was lost.
    pub fn disconnects(&self) -> u64 {
        self.disconnects.load(Ordering::Acquire)
    }

    /// Times a connection was made, the first one included.
    pub fn connects(&self) -> u64 {
        self.connects.load(Ordering::Acquire)
    }

    /// async-nats options logging in with `credentials` (none: anonymous), reconnecting
    /// without limit after [`reconnect_delay`], and counting events into this watch.
    pub fn connect_options(&self, credentials: Option<&Credentials>) -> async_nats::ConnectOptions {
        let options =
            credentials.map_or_else(async_nats::ConnectOptions::new, |c| c.connect_options());
        let watch = self.clone();
        options
            .max_reconnects(None)
            .reconnect_delay_callback(reconnect_delay)
            .event_callback(move |event| {
                let watch = watch.clone();
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            watch.disconnects.fetch_add(1, Ordering::AcqRel);
                            tracing::warn!("NATS connection lost; reconnecting");
                        }
                        async_nats::Event::Connected => {
                            watch.connects.fetch_add(1, Ordering::AcqRel);
                            tracing::info!("NATS connected");
                        }
                        other => tracing::debug!(event = %other, "NATS event"),
                    }
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_grows_linearly_up_to_half_a_second() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::from_millis(25));
        assert_eq!(reconnect_delay(4), Duration::from_millis(100));
        assert_eq!(reconnect_delay(20), Duration::from_millis(500));
        assert_eq!(reconnect_delay(usize::MAX), Duration::from_millis(500));
    }
}
