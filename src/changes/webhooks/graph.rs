//! Microsoft Graph change notifications (Outlook mail and events, Teams channel messages).
//!
//! - The validation handshake: on creating a subscription Graph POSTs
//!   `{notificationUrl}?validationToken=<token>`; the token, URL-decoded, is answered as the
//!   whole `text/plain` body with 200, within 10 s.
//! - Notifications: `{"value":[{subscriptionId, clientState, changeType, resource,
//!   resourceData{id,...}, subscriptionExpirationDateTime, tenantId}]}`. Graph signs nothing:
//!   each notification's `clientState` is compared (in constant time) with the one stored for
//!   its subscription; one that does not match, or names a subscription this gateway does not
//!   hold, is dropped — Graph's docs say to discard such notifications and still answer 2xx
//!   (202), since any other answer only makes Graph deliver them again.
//! - A kept notification becomes one change: Outlook messages `Email`, events `Event`, Teams
//!   channel messages `Message` (remote id `{team}/{channel}/{message}`, as the chat adapter names
//!   it); `changeType` is the op, and the notification without its `clientState` is the data:
//!   the secret that authenticates Graph's deliveries is never stored nor shown to a reader, who
//!   could otherwise forge them. Its receipt is the subscription, change type and a hash of the
//!   resource and the notification, so a redelivery is stored once.

use chrono::Utc;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{
    changes::{
        Appended, Change, Op, Receipt, keeper::target_of, subscriptions::GraphSubscriptions,
    },
    providers::Provider,
};

use super::{Delivery, Intake, Outcome, ProviderWebhook, Refusal, WebhookError};

/// The handshake's token, when the URL carries one.
pub fn validation_token(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    parsed
        .query_pairs()
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned())
}

/// One notification of a delivery, read.
pub struct Notification {
    pub subscription_id: String,
    pub client_state: String,
    /// The receipt's tail: change type and a hash of resource and notification.
    pub key: String,
    pub op: Op,
    pub resource: String,
    pub resource_id: String,
    pub data: Value,
}

fn op(change_type: &str) -> Option<Op> {
    match change_type {
        "created" => Some(Op::Created),
        "updated" => Some(Op::Updated),
        "deleted" => Some(Op::Deleted),
        _ => None,
    }
}

/// The notifications of a delivery; one that is not a change notification (a lifecycle
/// notification) is left out.
pub fn read(body: &[u8]) -> Result<Vec<Notification>, Refusal> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::Malformed("the body is not a Graph notification collection"))?;
    let value = envelope["value"].as_array().ok_or(Refusal::Malformed(
        "a notification collection without value",
    ))?;
    Ok(value
        .iter()
        .filter_map(|n| {
            let subscription_id = n["subscriptionId"].as_str()?;
            let change_type = n["changeType"].as_str()?;
            let resource = n["resource"].as_str()?;
            let mut hash = Sha256::new();
            hash.update(resource.as_bytes());
            hash.update([0]);
            hash.update(n.to_string().as_bytes());
            let mut data = n.clone();
            let client_state = data
                .as_object_mut()?
                .remove("clientState")
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Some(Notification {
                subscription_id: subscription_id.to_owned(),
                client_state,
                key: format!("{change_type}:{}", hex::encode(hash.finalize())),
                op: op(change_type)?,
                resource: resource.to_owned(),
                resource_id: n["resourceData"]["id"].as_str()?.to_owned(),
                data,
            })
        })
        .collect())
}

/// `teams('T')/channels('C')/messages('M')` (or its plain `teams/T/...` form) as `T/C/M`, and a
/// reply's `.../messages('M')/replies('R')` as `T/C/M/R`.
fn channel_message_id(resource: &str) -> Option<String> {
    let parts: Vec<&str> = resource
        .split(['/', '(', ')', '\''])
        .filter(|s| !s.is_empty())
        .collect();
    match parts.as_slice() {
        [.., "teams", team, "channels", channel, "messages", message] => {
            Some(format!("{team}/{channel}/{message}"))
        }
        [
            ..,
            "teams",
            team,
            "channels",
            channel,
            "messages",
            parent,
            "replies",
            reply,
        ] => Some(format!("{team}/{channel}/{parent}/{reply}")),
        _ => None,
    }
}

/// The change a kept notification makes, by what its subscription watches.
pub fn change(provider: Provider, watched: &str, n: Notification) -> Change {
    let (kind, remote_id) = match provider {
        Provider::Teams => (
            "Message",
            channel_message_id(&n.resource).unwrap_or(n.resource_id),
        ),
        _ if watched.ends_with("events") => ("Event", n.resource_id),
        _ => ("Email", n.resource_id),
    };
    Change {
        user_id: None,
        op: n.op,
        provider,
        kind: kind.to_owned(),
        remote_id,
        data: n.data,
        occurred_at: Utc::now(),
    }
}

/// Graph's notifications for one provider (Outlook or Teams), checked against its subscriptions.
pub struct Webhook {
    pub provider: Provider,
    pub subscriptions: GraphSubscriptions,
}

#[async_trait::async_trait]
impl ProviderWebhook for Webhook {
    async fn receive(
        &self,
        intake: &Intake,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let provider = self.provider;
        if let Some(token) = validation_token(&delivery.url) {
            return Ok(Outcome::Challenge(token));
        }
        let mut stored = 0;
        for notification in read(delivery.body)? {
            let Some(held) = self
                .subscriptions
                .verify(
                    provider,
                    &notification.subscription_id,
                    &notification.client_state,
                )
                .await?
            else {
                tracing::warn!(
                    provider = provider.slug(),
                    "a Graph notification for no subscription of ours, or with another clientState: dropped"
                );
                continue;
            };
            let receipt = Receipt {
                provider,
                event_id: format!(
                    "{}:{}:{}",
                    held.project_id, notification.subscription_id, notification.key
                ),
            };
            let change = change(provider, &held.resource, notification).of(Some(held.user_id));
            let target = target_of(&held, provider);
            // Before the change is stored: once a reader can see it, no list is kept from before.
            if change.kind == "Email" {
                intake.mail_changed(target.tenant).await;
            }
            if let Appended::Stored { .. } = intake
                .log
                .append(held.project_id, Some(&receipt), vec![change])
                .await?
            {
                stored += 1;
                intake.nudge_connection(target);
            }
        }
        Ok(Outcome::Accepted(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_token_is_url_decoded() {
        assert_eq!(
            validation_token("http://h/webhooks/outlook?validationToken=a%20b%3Ac").as_deref(),
            Some("a b:c")
        );
        assert_eq!(validation_token("http://h/webhooks/outlook"), None);
    }

    #[test]
    fn notifications_become_changes_with_stable_receipts() {
        let body = br#"{"value":[{"subscriptionId":"s1","clientState":"cs","changeType":"updated",
            "resource":"teams('T1')/channels('19:c@thread')/messages('M1')",
            "resourceData":{"id":"M1"},"tenantId":"t"},
            {"subscriptionId":"s1","lifecycleEvent":"missed"}]}"#;
        let read_once = read(body).unwrap();
        assert_eq!(read_once.len(), 1, "the lifecycle notification is left out");
        let key = read_once[0].key.clone();
        assert_eq!(
            read(body).unwrap()[0].key,
            key,
            "a redelivery has the same key"
        );
        let n = read(body).unwrap().remove(0);
        assert_eq!(n.client_state, "cs");
        assert!(n.data.get("clientState").is_none(), "{}", n.data);
        let change = change(Provider::Teams, "teams/T1/channels/19:c@thread/messages", n);
        assert_eq!(
            (change.op, change.kind.as_str(), change.remote_id.as_str()),
            (Op::Updated, "Message", "T1/19:c@thread/M1")
        );
        assert_eq!(
            channel_message_id("teams('T1')/channels('C1')/messages('M1')/replies('R1')")
                .as_deref(),
            Some("T1/C1/M1/R1")
        );
    }
}
