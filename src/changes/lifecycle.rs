//! Lifecycle events: what happens to a connection (made, refreshed, needing the user again,
//! ended), to its sync (a pass done, a pass failed) and to a webhook endpoint (disabled), told
//! in the same change log as the records' changes, so every channel that carries changes
//! (subscriptions over WebSocket and SSE, `query { changes }`, webhooks) carries these too.
//!
//! A lifecycle event is a change with `op: UPDATED`, `type` one of [`Lifecycle`]'s names
//! (`connection.created`, ...), the connection's `provider`, and as `remoteId` the id of the
//! user whose connection it is (a connection is a user's provider in a project) or the
//! endpoint's id. Its `data` says what happened, never a token or a secret.
//!
//! Who sees one follows `audience`: a connection's event is its user's (and `changes:project`
//! readers'); an endpoint's event is written with the nil user, which no caller is, so only
//! `changes:project` readers and webhook endpoints (`Audience::Webhook`) get it.
//!
//! Appending one from anywhere is [`append`]: `lifecycle::append(&log, project_id, event)`,
//! with `event` from [`LifecycleEvent::connection`] or [`LifecycleEvent::webhook_endpoint`];
//! [`append_with`] stores it in one transaction with what it tells.
//! A failure to append is logged and swallowed by [`append`]'s callers where the thing itself
//! already happened (a refresh that succeeded stays a success).

use chrono::Utc;
use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{auth::Tenant, providers::Provider};

use super::{Appended, Change, ChangeLog, Op};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// A connection was made (the OAuth callback stored its tokens), or made again.
    ConnectionCreated,
    /// A connection's access token was refreshed.
    ConnectionRefreshed,
    /// The provider refused the connection's refresh token (`invalid_grant`): the user must
    /// connect again.
    ConnectionReauthRequired,
    /// The connection was ended (`disconnectProvider`).
    ConnectionDisconnected,
    /// A sync pass over a connection ended.
    SyncCompleted,
    /// A sync pass over a connection failed.
    SyncFailed,
    /// A webhook endpoint was disabled after its deliveries kept failing.
    WebhookEndpointDisabled,
}

impl Lifecycle {
    /// The event's `type` in the log.
    pub fn name(self) -> &'static str {
        match self {
            Lifecycle::ConnectionCreated => "connection.created",
            Lifecycle::ConnectionRefreshed => "connection.refreshed",
            Lifecycle::ConnectionReauthRequired => "connection.reauth_required",
            Lifecycle::ConnectionDisconnected => "connection.disconnected",
            Lifecycle::SyncCompleted => "sync.completed",
            Lifecycle::SyncFailed => "sync.failed",
            Lifecycle::WebhookEndpointDisabled => "webhook_endpoint.disabled",
        }
    }
}

/// One lifecycle event to append.
#[derive(Debug, Clone)]
pub struct LifecycleEvent {
    kind: Lifecycle,
    user_id: Uuid,
    provider: Provider,
    remote_id: String,
    data: Value,
}

impl LifecycleEvent {
    /// An event of `tenant`'s connection to `provider`; `details` (an object) adds to the
    /// `data`, which always holds `provider` and `userId`.
    pub fn connection(kind: Lifecycle, tenant: Tenant, provider: Provider, details: Value) -> Self {
        let mut data = json!({ "provider": provider.slug(), "userId": tenant.user_id });
        if let (Some(data), Value::Object(details)) = (data.as_object_mut(), details) {
            data.extend(details);
        }
        Self {
            kind,
            user_id: tenant.user_id,
            provider,
            remote_id: tenant.user_id.to_string(),
            data,
        }
    }

    /// An event of webhook endpoint `endpoint_id`, seen by `changes:project` readers and
    /// webhook endpoints only; its `data.endpointId` is the endpoint's global id, as
    /// `WebhookEndpoint.id`. `provider` is the `provider` the event is listed under (the log's events
    /// all have one): the endpoint's first provider, or the one whose event it failed on.
    pub fn webhook_endpoint(
        kind: Lifecycle,
        endpoint_id: Uuid,
        provider: Provider,
        details: Value,
    ) -> Self {
        let mut data = json!({ "endpointId": super::outbound::endpoint_global_id(endpoint_id) });
        if let (Some(data), Value::Object(details)) = (data.as_object_mut(), details) {
            data.extend(details);
        }
        Self {
            kind,
            user_id: Uuid::nil(),
            provider,
            remote_id: endpoint_id.to_string(),
            data,
        }
    }

    pub fn kind(&self) -> Lifecycle {
        self.kind
    }

    /// The change the log stores.
    fn into_change(self) -> Change {
        Change {
            user_id: Some(self.user_id),
            op: Op::Updated,
            provider: self.provider,
            kind: self.kind.name().to_owned(),
            remote_id: self.remote_id,
            data: self.data,
            occurred_at: Utc::now(),
        }
    }
}

/// Appends `event` to `project_id`'s change log; returns the log's new last sequence number.
pub async fn append(
    log: &ChangeLog,
    project_id: Uuid,
    event: LifecycleEvent,
) -> Result<i64, DbErr> {
    append_with(log, project_id, event, async |_| Ok::<_, DbErr>(())).await
}

/// Like [`append`], and runs `also` in the same transaction, for an event that must be stored
/// together with what it tells (an endpoint disabled and its `webhook_endpoint.disabled`), or
/// not at all.
pub async fn append_with<E: From<DbErr>>(
    log: &ChangeLog,
    project_id: Uuid,
    event: LifecycleEvent,
    also: impl AsyncFnOnce(&DatabaseTransaction) -> Result<(), E>,
) -> Result<i64, E> {
    match log
        .append_with(project_id, None, vec![event.into_change()], also)
        .await?
    {
        Appended::Stored { last_seq } => Ok(last_seq),
        // Only an append with a receipt can be a duplicate.
        Appended::Duplicate => Ok(log.head(project_id).await?),
    }
}

/// Like [`append`], for where the event only reports what already happened: a failure to store
/// it is logged, never the caller's failure.
pub async fn tell(log: &ChangeLog, project_id: Uuid, event: LifecycleEvent) {
    let kind = event.kind.name();
    if let Err(cause) = append(log, project_id, event).await {
        tracing::warn!(%cause, event = kind, "appending a lifecycle event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_event_is_its_users_and_names_its_provider() {
        let tenant = Tenant {
            user_id: Uuid::new_v4(),
            project_id: Uuid::new_v4(),
        };
        let change = LifecycleEvent::connection(
            Lifecycle::SyncFailed,
            tenant,
            Provider::Hubspot,
            json!({ "error": "rate limited" }),
        )
        .into_change();
        assert_eq!(change.kind, "sync.failed");
        assert_eq!(change.op, Op::Updated);
        assert_eq!(change.user_id, Some(tenant.user_id));
        assert_eq!(change.data["provider"], "hubspot");
        assert_eq!(change.data["error"], "rate limited");
    }

    #[test]
    fn an_endpoint_event_is_for_project_readers_only() {
        let endpoint = Uuid::new_v4();
        let change = LifecycleEvent::webhook_endpoint(
            Lifecycle::WebhookEndpointDisabled,
            endpoint,
            Provider::Stripe,
            json!({}),
        )
        .into_change();
        assert_eq!(change.user_id, Some(Uuid::nil()));
        assert!(!super::super::Audience::Member(Uuid::new_v4()).sees(change.user_id));
        assert!(super::super::Audience::Project.sees(change.user_id));
        assert!(super::super::Audience::Webhook(Uuid::new_v4()).sees(change.user_id));
        assert_eq!(change.remote_id, endpoint.to_string());
    }
}
