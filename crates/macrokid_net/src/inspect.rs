//! Inspection: asking a running coordinator about its systems and entities over
//! `P.query.request` (seed 003, "Editor Integration"), as the `macrokid-inspect` binary
//! does.
//!
//! A [`QueryRequest`] goes as a NATS request with the protocol's routing headers; the
//! coordinator answers a [`QueryResponse`] on the reply subject, between and during ticks
//! ([`crate::coordinator`]). The requester's inbox lies under `P.query.response`
//! ([`inspector_options`]), which is all the inspector user may subscribe to
//! ([`crate::security`]).
//!
//! Entity rows are JSON. The coordinator knows component columns as raw bytes; a
//! [`JsonViews`] entry turns a plain-old-data component that also implements
//! `serde::Serialize` back into its value (`{"Position": [1.0, 2.0, 3.0]}`); a component
//! without one shows as `{"bytes": "<hex, little-endian>"}`, and a serde-registered
//! (not plain-old-data) one as `{"unavailable": "..."}`.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use crate::codec::{decode_control, encode_control, DropCounters};
use crate::protocol::{QueryRequest, QueryResponse, Subjects};
use crate::security::Credentials;

/// Renders one component value (its raw bytes) as JSON.
pub type JsonView = fn(&[u8]) -> serde_json::Value;

fn view<T: bytemuck::Pod + Serialize>(bytes: &[u8]) -> serde_json::Value {
    if bytes.len() != std::mem::size_of::<T>() {
        return serde_json::json!({ "error": format!("{} bytes for a {}-byte {}", bytes.len(), std::mem::size_of::<T>(), std::any::type_name::<T>()) });
    }
    let value: T = bytemuck::pod_read_unaligned(bytes);
    serde_json::to_value(value).unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }))
}

/// JSON renderings of plain-old-data components, by `std::any::type_name`.
#[derive(Debug, Clone, Default)]
pub struct JsonViews {
    views: HashMap<&'static str, JsonView>,
}

impl JsonViews {
    /// No views: every component shows as bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Shows component `T` as its `Serialize` value.
    pub fn register<T: bytemuck::Pod + Serialize>(&mut self) -> &mut Self {
        self.views
            .insert(std::any::type_name::<T>(), view::<T> as JsonView);
        self
    }

    /// The JSON of one value of the component named `type_name` (`std::any::type_name`),
    /// from its raw bytes.
    pub fn render(&self, type_name: &str, bytes: &[u8]) -> serde_json::Value {
        match self.views.get(type_name) {
            Some(view) => view(bytes),
            None => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                serde_json::json!({ "bytes": hex })
            }
        }
    }
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    /// Connecting failed.
    #[error("could not connect to NATS at {url}: {message}; is the cluster running, and are the URL and login right?")]
    Connect {
        /// The URL.
        url: String,
        /// The client's message.
        message: String,
    },
    /// The request could not be sent, or no coordinator answered in time.
    #[error("no answer on {subject} within {timeout:?}: {message}; is a coordinator running under this prefix?")]
    NoAnswer {
        /// The request subject.
        subject: String,
        /// How long it waited.
        timeout: Duration,
        /// The client's message.
        message: String,
    },
    /// The answer did not decode (another protocol version, not a response).
    #[error("the answer on {subject} does not decode ({reason}); is the coordinator of the same macrokid version?")]
    BadAnswer {
        /// The request subject.
        subject: String,
        /// Why.
        reason: String,
    },
}

/// Connect options for an inspector: `credentials` when the cluster requires a login, and
/// the inbox under `P.query.response` that the inspector user may subscribe to.
pub fn inspector_options(
    subjects: &Subjects,
    credentials: Option<&Credentials>,
) -> async_nats::ConnectOptions {
    credentials
        .map_or_else(
            async_nats::ConnectOptions::new,
            Credentials::connect_options,
        )
        .custom_inbox_prefix(subjects.query_response_prefix())
}

/// Connects as an inspector ([`inspector_options`]).
///
/// # Errors
/// [`InspectError::Connect`].
pub async fn connect(
    url: &str,
    subjects: &Subjects,
    credentials: Option<&Credentials>,
) -> Result<async_nats::Client, InspectError> {
    inspector_options(subjects, credentials)
        .connect(url)
        .await
        .map_err(|e| InspectError::Connect {
            url: url.to_owned(),
            message: e.to_string(),
        })
}

/// Sends `request` to the coordinator of `subjects` and waits up to `timeout` for its
/// answer.
///
/// # Errors
/// [`InspectError::NoAnswer`] when nothing answers in time (or the publish is refused),
/// [`InspectError::BadAnswer`] when the answer does not decode.
pub async fn query(
    client: &async_nats::Client,
    subjects: &Subjects,
    request: &QueryRequest,
    timeout: Duration,
) -> Result<QueryResponse, InspectError> {
    let subject = subjects.query_request();
    let (headers, body) = encode_control(request).map_err(|e| InspectError::BadAnswer {
        subject: subject.clone(),
        reason: e.to_string(),
    })?;
    let no_answer = |message: String| InspectError::NoAnswer {
        subject: subject.clone(),
        timeout,
        message,
    };
    let reply = tokio::time::timeout(
        timeout,
        client.request_with_headers(subject.clone(), headers, body),
    )
    .await
    .map_err(|_| no_answer("timed out".to_owned()))?
    .map_err(|e| no_answer(e.to_string()))?;
    decode_control::<QueryResponse>(reply.headers.as_ref(), &reply.payload, &DropCounters::new())
        .map_err(|reason| InspectError::BadAnswer {
            subject: subject.clone(),
            reason: reason.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable, Serialize)]
    #[repr(C)]
    struct P([f32; 2]);

    #[test]
    fn registered_components_show_their_value_others_their_bytes() {
        let mut views = JsonViews::new();
        views.register::<P>();
        let bytes = bytemuck::bytes_of(&P([1.5, -2.0])).to_vec();
        assert_eq!(
            views.render(std::any::type_name::<P>(), &bytes),
            serde_json::json!([1.5, -2.0])
        );
        assert_eq!(
            views.render("other::Type", &[1, 0xab]),
            serde_json::json!({ "bytes": "01ab" })
        );
        assert!(views.render(std::any::type_name::<P>(), &bytes[..3])["error"].is_string());
    }
}
