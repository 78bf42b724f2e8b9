//! Google's push deliveries.
//!
//! - Gmail, through Cloud Pub/Sub: `{"message":{"data":<base64 of {"emailAddress","historyId"}>,
//!   "messageId","publishTime",...},"subscription"}` with `Authorization: Bearer <JWT>`, an OIDC
//!   token Google signs RS256 with a key from its certificates (a JWKS): `iss`
//!   `https://accounts.google.com` (or without the scheme), `aud` the push endpoint as
//!   configured on the subscription, `email` the subscription's service account. The keys are
//!   cached (Gmail's `push_keys` cache in the catalog: an hour); a token naming a key not in the cache fetches the certificates again (at most every
//!   few seconds, so forged key ids cannot make the gateway hammer Google). A push carries no
//!   change: it says the mailbox moved on, and the gateway syncs its history.
//! - Calendar: an empty POST whose `X-Goog-Channel-ID` names the channel and
//!   `X-Goog-Channel-Token` echoes the token it was opened with; `X-Goog-Resource-State` is
//!   `sync` for the channel's first message, `exists` when the calendar's events changed, and
//!   `X-Goog-Message-Number` numbers the channel's messages (a redelivery repeats it).

use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::STANDARD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{
    changes::{Appended, Receipt, google_watch::GoogleWatches},
    config::Settings,
    providers::Provider,
    upstream::Cache,
};

use super::{Delivery, Intake, Outcome, ProviderWebhook, Refusal, WebhookError};

/// The issuers Google's OIDC tokens name.
const ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// The least time between two fetches for a key id not in the cache.
const REFETCH_AFTER: Duration = Duration::from_secs(5);

/// Google's published certificates.
pub const GOOGLE_CERTS: &str = "https://www.googleapis.com/oauth2/v3/certs";

/// Who may push to the Gmail endpoint.
#[derive(Debug, Clone)]
pub struct PushAuth {
    pub certs_url: String,
    pub audience: String,
    pub service_account: Option<String>,
}

/// Google's signing keys, fetched and cached.
pub struct PushKeys {
    http: reqwest::Client,
    keys: Cache<String, DecodingKey>,
    last_fetch: Mutex<Option<Instant>>,
}

#[derive(Deserialize)]
struct Claims {
    email: Option<String>,
    #[serde(default)]
    email_verified: Value,
}

impl PushKeys {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            keys: Cache::new("push_keys"),
            last_fetch: Mutex::new(None),
        }
    }

    /// The key `kid`, fetching the certificates when it is not cached.
    async fn key(&self, url: &str, kid: &str) -> Result<Option<DecodingKey>, reqwest::Error> {
        if let Some(key) = self.keys.get(Provider::Gmail, kid).await {
            return Ok(Some(key));
        }
        // One fetch at a time; those waiting find what it fetched.
        let mut last = self.last_fetch.lock().await;
        if let Some(key) = self.keys.get(Provider::Gmail, kid).await {
            return Ok(Some(key));
        }
        if last.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
            return Ok(None);
        }
        *last = Some(Instant::now());
        let set: JwkSet = self
            .http
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        for jwk in &set.keys {
            if let (Some(id), Ok(key)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) {
                self.keys.insert(Provider::Gmail, id.clone(), key).await;
            }
        }
        Ok(self.keys.get(Provider::Gmail, kid).await)
    }

    /// Checks a push's `Authorization` header: an RS256 token by one of Google's keys, for this
    /// audience, unexpired, from the configured service account when one is set.
    pub async fn verify(&self, auth: &PushAuth, header: Option<&str>) -> Result<(), Refusal> {
        let token = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or(Refusal::Unauthenticated("no bearer token"))?;
        let head = jsonwebtoken::decode_header(token)
            .map_err(|_| Refusal::Unauthenticated("the token is not a JWT"))?;
        if head.alg != Algorithm::RS256 {
            return Err(Refusal::Unauthenticated("the token is not signed RS256"));
        }
        let kid = head
            .kid
            .ok_or(Refusal::Unauthenticated("the token names no key"))?;
        let key = match self.key(&auth.certs_url, &kid).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(Refusal::Unauthenticated("the token's key is not Google's")),
            Err(cause) => {
                tracing::warn!(%cause, "fetching Google's certificates");
                return Err(Refusal::Unauthenticated(
                    "Google's certificates could not be fetched",
                ));
            }
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&ISSUERS);
        validation.set_audience(&[&auth.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|_| Refusal::Unauthenticated("the token does not verify"))?
            .claims;
        if let Some(account) = &auth.service_account {
            let verified = matches!(&claims.email_verified, Value::Bool(true))
                || claims.email_verified == "true";
            if claims.email.as_deref() != Some(account.as_str()) || !verified {
                return Err(Refusal::Unauthenticated(
                    "the token is not the push subscription's",
                ));
            }
        }
        Ok(())
    }
}

/// A Gmail push, read.
#[derive(Debug, PartialEq, Eq)]
pub struct GmailPush {
    pub message_id: String,
    pub address: String,
    pub history_id: String,
}

/// Reads a Pub/Sub push envelope carrying a Gmail notification.
pub fn gmail_push(body: &[u8]) -> Result<GmailPush, Refusal> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|_| Refusal::Malformed("the body is not a Pub/Sub push"))?;
    let message = &envelope["message"];
    let message_id = message["messageId"]
        .as_str()
        .or_else(|| message["message_id"].as_str())
        .ok_or(Refusal::Malformed("a Pub/Sub message without messageId"))?;
    let data = message["data"]
        .as_str()
        .and_then(|d| STANDARD.decode(d).ok())
        .and_then(|d| serde_json::from_slice::<Value>(&d).ok())
        .ok_or(Refusal::Malformed("a Pub/Sub message without Gmail's data"))?;
    let address = data["emailAddress"].as_str().ok_or(Refusal::Malformed(
        "a Gmail notification without emailAddress",
    ))?;
    let history_id = match &data["historyId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(Refusal::Malformed("a Gmail notification without historyId")),
    };
    Ok(GmailPush {
        message_id: message_id.to_owned(),
        address: address.to_owned(),
        history_id,
    })
}

/// A Calendar notification's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceState {
    /// The channel's first message: nothing changed.
    Sync,
    /// The watched events changed.
    Exists,
    /// The resource is gone.
    NotExists,
}

impl ResourceState {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sync" => Some(Self::Sync),
            "exists" => Some(Self::Exists),
            "not_exists" => Some(Self::NotExists),
            _ => None,
        }
    }
}

/// Who may push to the Gmail endpoint, as the settings say: none without a Pub/Sub topic
/// (`providers.gmail.pubsub_topic`); the audience is the endpoint's URL unless configured.
pub fn push_auth(settings: &Settings, public_origin: &str) -> Option<PushAuth> {
    let gmail = settings.providers.get(Provider::Gmail.slug())?;
    gmail.pubsub_topic.as_ref()?;
    Some(PushAuth {
        certs_url: gmail
            .certs_url
            .clone()
            .unwrap_or_else(|| GOOGLE_CERTS.into()),
        audience: gmail
            .push_audience
            .clone()
            .unwrap_or_else(|| format!("{}/webhooks/gmail", public_origin.trim_end_matches('/'))),
        service_account: gmail.push_service_account.clone(),
    })
}

/// The Pub/Sub topic Gmail watches publish to, if configured.
pub fn gmail_topic(settings: &Settings) -> Option<String> {
    settings
        .providers
        .get(Provider::Gmail.slug())
        .and_then(|g| g.pubsub_topic.clone())
}

/// Whether Calendar connections open push channels (`providers.google_calendar.push`).
pub fn calendar_push(settings: &Settings) -> bool {
    settings
        .providers
        .get(Provider::GoogleCalendar.slug())
        .and_then(|c| c.push)
        .unwrap_or(false)
}

/// Gmail's pushes: verified by Google's token, routed by mailbox.
pub struct GmailWebhook {
    watches: GoogleWatches,
    /// Who may push; none without a Pub/Sub topic configured.
    auth: Option<PushAuth>,
    keys: PushKeys,
}

impl GmailWebhook {
    pub fn new(watches: GoogleWatches, auth: Option<PushAuth>) -> Self {
        Self {
            watches,
            auth,
            keys: PushKeys::new(reqwest::Client::new()),
        }
    }
}

#[async_trait::async_trait]
impl ProviderWebhook for GmailWebhook {
    /// A Gmail push: verified by its token, routed by its mailbox, stored once per connection by
    /// its Pub/Sub message id, and the connection's history synced.
    async fn receive(
        &self,
        intake: &Intake,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let Some(auth) = &self.auth else {
            return Err(WebhookError::NotServed(
                "this gateway takes no Gmail pushes (no providers.gmail.pubsub_topic)".into(),
            ));
        };
        let header = delivery
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.keys.verify(auth, header).await?;
        let push = gmail_push(delivery.body)?;
        let mut fresh = 0;
        let mut duplicate = false;
        for target in self.watches.mailbox(&push.address).await? {
            // Before the receipt is stored: once a reader can see it, no list is kept from before.
            intake.mail_changed(target.tenant).await;
            let receipt = Receipt {
                provider: Provider::Gmail,
                event_id: format!(
                    "{}:{}:{}",
                    target.tenant.project_id, target.tenant.user_id, push.message_id
                ),
            };
            match intake
                .log
                .append(target.tenant.project_id, Some(&receipt), Vec::new())
                .await?
            {
                Appended::Stored { .. } => {
                    fresh += 1;
                    intake.nudge_connection(target);
                }
                Appended::Duplicate => duplicate = true,
            }
        }
        Ok(if duplicate && fresh == 0 {
            Outcome::Duplicate
        } else {
            Outcome::Stored(fresh)
        })
    }
}

/// Calendar's notifications: checked against the channels opened.
pub struct CalendarWebhook {
    pub watches: GoogleWatches,
}

#[async_trait::async_trait]
impl ProviderWebhook for CalendarWebhook {
    /// A Calendar notification: its channel and token checked, stored once by channel and
    /// message number, and the connection's events synced.
    async fn receive(
        &self,
        intake: &Intake,
        delivery: Delivery<'_>,
    ) -> Result<Outcome, WebhookError> {
        let channel = delivery.header("x-goog-channel-id")?;
        let token = delivery
            .header("x-goog-channel-token")
            .map_err(|_| Refusal::Unauthenticated("no channel token"))?;
        let Some(target) = self.watches.channel(channel, token).await? else {
            return Err(Refusal::Unauthenticated("no channel of ours with that token").into());
        };
        let state = ResourceState::parse(delivery.header("x-goog-resource-state")?)
            .ok_or(Refusal::Malformed("an unknown X-Goog-Resource-State"))?;
        if state == ResourceState::Sync {
            return Ok(Outcome::Stored(0));
        }
        let number = delivery.header("x-goog-message-number")?;
        let receipt = Receipt {
            provider: Provider::GoogleCalendar,
            event_id: format!("{}:{channel}:{number}", target.tenant.project_id),
        };
        Ok(
            match intake
                .log
                .append(target.tenant.project_id, Some(&receipt), Vec::new())
                .await?
            {
                Appended::Stored { .. } => {
                    intake.nudge_connection(target);
                    Outcome::Stored(0)
                }
                Appended::Duplicate => Outcome::Duplicate,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pubsub_envelope_is_read() {
        let data = STANDARD.encode(r#"{"emailAddress":"a@example.com","historyId":"42"}"#);
        let body = format!(
            r#"{{"message":{{"data":"{data}","messageId":"7","message_id":"7"}},"subscription":"s"}}"#
        );
        assert_eq!(
            gmail_push(body.as_bytes()).unwrap(),
            GmailPush {
                message_id: "7".into(),
                address: "a@example.com".into(),
                history_id: "42".into()
            }
        );
        assert!(gmail_push(br#"{"message":{"messageId":"7","data":"e30="}}"#).is_err());
        assert!(gmail_push(b"nope").is_err());
    }

    #[tokio::test]
    async fn a_missing_or_malformed_token_is_refused_before_any_fetch() {
        let keys = PushKeys::new(reqwest::Client::new());
        let auth = PushAuth {
            certs_url: "http://127.0.0.1:9/certs".into(),
            audience: "http://localhost/webhooks/gmail".into(),
            service_account: None,
        };
        for header in [None, Some("Basic x"), Some("Bearer not-a-jwt")] {
            assert!(matches!(
                keys.verify(&auth, header).await,
                Err(Refusal::Unauthenticated(_))
            ));
        }
    }
}
