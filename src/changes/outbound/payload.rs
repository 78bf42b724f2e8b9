//! What a delivery carries: the `webhook-id` of an event and the JSON body.
//!
//! The id derives from the event's own id, so every attempt, retry and replay of one event to
//! one endpoint carries the same `webhook-id` and a receiver can drop repeats by it. The body is
//! Standard Webhooks' envelope — `type`, `timestamp`, `data` — whose `data` is the event as the
//! `changes` subscription shows it: its global `id` and `cursor`, `op`, `type`, `provider`,
//! `remoteId`, times, the `record` (what the provider sent or the sync read) and the
//! `connection` it came through. Tokens and secrets are never part of an event, so never part
//! of a body.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::SecondsFormat;
use serde_json::{Value, json};

use crate::changes::LoggedChange;

/// The `webhook-id` of an event: the same for every delivery of it.
pub fn webhook_id(event: &LoggedChange) -> String {
    format!("msg_{}", event.id.simple())
}

/// A provider as the schema's `Provider` enum names it (`GOOGLE_CALENDAR`).
fn provider_name(event: &LoggedChange) -> String {
    event.provider.slug().to_ascii_uppercase()
}

/// The JSON body of an event's delivery.
pub fn body(event: &LoggedChange) -> Value {
    let provider = provider_name(event);
    json!({
        "type": event.kind,
        "timestamp": event.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": {
            // As `ChangeEvent.id` and `ChangeEvent.cursor` encode them.
            "id": URL_SAFE_NO_PAD.encode(format!("ChangeEvent:{}", event.id)),
            "cursor": URL_SAFE_NO_PAD.encode(format!("change:{}", event.seq)),
            "op": event.op.as_str().to_ascii_uppercase(),
            "type": event.kind,
            "provider": provider,
            "remoteId": event.remote_id,
            "occurredAt": event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "receivedAt": event.received_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            "record": event.data,
            "connection": { "provider": provider },
        },
    })
}
