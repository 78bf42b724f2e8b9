//! Google's push registrations for a connection.
//!
//! - Gmail: `POST /gmail/v1/users/me/watch` `{"topicName","labelIds"}` answers
//!   `{"historyId","expiration"}` (epoch ms, seven days on); Gmail then publishes
//!   `{"emailAddress","historyId"}` to the Pub/Sub topic on every mailbox change. Watching again
//!   replaces the watch (Google advises daily); `POST .../stop` ends it (204). Pushes name the
//!   mailbox only by address, so `users.getProfile` tells a connection's address.
//! - Calendar: `POST /calendar/v3/calendars/primary/events/watch`
//!   `{"id","type":"web_hook","address","token","params":{"ttl"}}` opens a notification channel
//!   and answers its `resourceId` and `expiration` (epoch ms as a string); channels cannot be
//!   renewed, only replaced, and `POST /calendar/v3/channels/stop` `{"id","resourceId"}` ends one.

use chrono::{DateTime, Utc};
use http::Method;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    providers::Provider,
    upstream::{Call, ErrorKind, ProviderError, Target},
};

use super::{GoogleProvider, error};

const GMAIL: &str = "/gmail/v1/users/me";
const CALENDAR: &str = "/calendar/v3";

/// A Gmail watch as Gmail answers it.
#[derive(Debug, Clone)]
pub struct GmailWatch {
    pub history_id: String,
    pub expiration: DateTime<Utc>,
}

/// A Calendar notification channel as Google answers it.
#[derive(Debug, Clone)]
pub struct CalendarChannel {
    pub id: String,
    pub resource_id: String,
    pub expiration: DateTime<Utc>,
}

/// What a channel to open is.
pub struct NewChannel<'a> {
    /// Our id for it (a UUID), echoed in `X-Goog-Channel-ID`.
    pub id: &'a str,
    /// Where Google posts notifications.
    pub address: &'a str,
    /// Echoed in `X-Goog-Channel-Token`: the proof a notification is Google's.
    pub token: &'a SecretString,
    pub ttl_secs: i64,
}

/// Epoch milliseconds, as a number or a string.
fn epoch_ms(value: &Value) -> Option<DateTime<Utc>> {
    let ms = value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))?;
    DateTime::from_timestamp_millis(ms)
}

fn unexpected(provider: Provider, op: &'static str, what: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Upstream,
        provider,
        op,
        format!("unexpected answer: {what}"),
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    email_address: String,
}

impl GoogleProvider {
    /// The connection's mailbox address.
    pub async fn gmail_address(&self, target: Target) -> Result<String, ProviderError> {
        let call = Call::get("profile", format!("{GMAIL}/profile"));
        let reply = self.upstream.send(target, &call, error::classify).await?;
        Ok(reply
            .json::<Profile>(Provider::Gmail, call.op)?
            .email_address)
    }

    /// Watches the whole mailbox, publishing to `topic` (replacing a watch already there): the
    /// copy holds sent mail and sees mail leave the inbox (trash, archive), which a watch of
    /// INBOX alone would not push.
    pub async fn gmail_watch(
        &self,
        target: Target,
        topic: &str,
    ) -> Result<GmailWatch, ProviderError> {
        let mut call = Call::write(
            "watch",
            Method::POST,
            format!("{GMAIL}/watch"),
            json!({ "topicName": topic }),
        );
        // Watching again only replaces the watch.
        call.idempotent = true;
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let body: Value = reply.json(Provider::Gmail, call.op)?;
        let history_id = match &body["historyId"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(unexpected(Provider::Gmail, call.op, "no historyId")),
        };
        let expiration = epoch_ms(&body["expiration"])
            .ok_or_else(|| unexpected(Provider::Gmail, call.op, "no expiration"))?;
        Ok(GmailWatch {
            history_id,
            expiration,
        })
    }

    /// Stops the mailbox's push notifications.
    pub async fn gmail_stop(&self, target: Target) -> Result<(), ProviderError> {
        let call = Call {
            body: None,
            idempotent: true,
            ..Call::write("stop", Method::POST, format!("{GMAIL}/stop"), json!({}))
        };
        self.upstream.send(target, &call, error::classify).await?;
        Ok(())
    }

    /// Opens a notification channel on the primary calendar's events.
    pub async fn calendar_watch(
        &self,
        target: Target,
        new: &NewChannel<'_>,
    ) -> Result<CalendarChannel, ProviderError> {
        let call = Call::write(
            "events.watch",
            Method::POST,
            format!("{CALENDAR}/calendars/primary/events/watch"),
            json!({
                "id": new.id,
                "type": "web_hook",
                "address": new.address,
                "token": new.token.expose_secret(),
                "params": { "ttl": new.ttl_secs.to_string() },
            }),
        );
        let provider = target.provider;
        let reply = self.upstream.send(target, &call, error::classify).await?;
        let body: Value = reply.json(provider, call.op)?;
        let (Some(id), Some(resource_id), Some(expiration)) = (
            body["id"].as_str(),
            body["resourceId"].as_str(),
            epoch_ms(&body["expiration"]),
        ) else {
            return Err(unexpected(provider, call.op, "not a channel"));
        };
        Ok(CalendarChannel {
            id: id.to_owned(),
            resource_id: resource_id.to_owned(),
            expiration,
        })
    }

    /// Stops a notification channel.
    pub async fn calendar_stop(
        &self,
        target: Target,
        id: &str,
        resource_id: &str,
    ) -> Result<(), ProviderError> {
        let mut call = Call::write(
            "channels.stop",
            Method::POST,
            format!("{CALENDAR}/channels/stop"),
            json!({ "id": id, "resourceId": resource_id }),
        );
        call.idempotent = true;
        self.upstream.send(target, &call, error::classify).await?;
        Ok(())
    }
}
