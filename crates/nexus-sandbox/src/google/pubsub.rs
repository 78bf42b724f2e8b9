//! Gmail push through Cloud Pub/Sub: after `users.watch`, a mailbox change publishes
//! `{"emailAddress","historyId"}` to the watched topic, and the topic's push subscription (the
//! URL registered with `POST /_sandbox/webhooks` for `gmail`) receives Pub/Sub's push envelope:
//! `{"message":{"data":<base64 JSON>,"attributes":{},"messageId","message_id","publishTime",
//! "publish_time"},"subscription":"projects/<project>/subscriptions/gmail-push"}` with
//! `Authorization: Bearer <JWT>`: an OIDC token signed RS256 with the sandbox's key
//! (`/google/oauth2/v3/certs`), `iss` `https://accounts.google.com`, `aud` the push endpoint,
//! `email` the subscription's service account. Token times follow real time, as signatures do.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, Header};
use serde_json::json;

use super::{GMAIL, mailbox::Notice, oauth::SIGNING_KEY};
use crate::SandboxState;

/// The project of a `projects/<project>/topics/<topic>` name.
pub fn project_of(topic: &str) -> Option<&str> {
    let mut parts = topic.split('/');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("projects"), Some(project), Some("topics"), Some(name), None)
            if !project.is_empty() && !name.is_empty() =>
        {
            Some(project)
        }
        _ => None,
    }
}

/// The service account a sandbox push subscription authenticates as.
pub fn service_account(project: &str) -> String {
    format!("pubsub-push@{project}.iam.gserviceaccount.com")
}

/// The push token for one delivery.
pub fn push_token(audience: &str, project: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let email = service_account(project);
    let subject = format!(
        "1{:020}",
        super::mix(super::seed_of(&email)) % 10u64.pow(19)
    );
    let claims = json!({
        "aud": audience,
        "azp": subject,
        "email": email,
        "email_verified": true,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": subject,
    });
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(SIGNING_KEY.kid.clone());
    jsonwebtoken::encode(&header, &claims, &SIGNING_KEY.key).expect("RS256 signs any claims")
}

/// Publishes a mailbox change to its watch's push subscription, if one is registered.
pub fn publish(state: &Arc<SandboxState>, notice: &Notice) {
    let (Some(target), Some(project)) = (state.webhook(GMAIL), project_of(&notice.topic)) else {
        return;
    };
    let data =
        json!({ "emailAddress": notice.address, "historyId": notice.history_id.to_string() });
    let message_id = (super::mix(notice.history_id ^ super::seed_of(&notice.address))
        % 10u64.pow(16))
    .to_string();
    let published = state
        .clock
        .now()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = json!({
        "message": {
            "attributes": {},
            "data": STANDARD.encode(data.to_string()),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": format!("projects/{project}/subscriptions/gmail-push"),
    });
    let token = push_token(&target.url, project);
    state.deliver(
        target.url,
        vec![("authorization", format!("Bearer {token}"))],
        body.to_string(),
    );
}
