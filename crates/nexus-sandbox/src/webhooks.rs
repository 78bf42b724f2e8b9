//! Webhook targets registered as a provider's app settings keep them (`POST /_sandbox/webhooks`),
//! and delivery: a POST with the provider's own signature headers, sent in the background.

use std::sync::Arc;

use serde::Deserialize;

use super::SandboxState;

/// Where a provider delivers its events, and the secret it signs with when the provider uses a
/// per-endpoint one (Stripe's `whsec_…`); HubSpot signs with the app's client secret instead.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    pub secret: Option<String>,
}

impl SandboxState {
    pub(super) fn webhook(&self, provider: &str) -> Option<WebhookTarget> {
        self.webhooks
            .lock()
            .expect("webhooks lock")
            .get(provider)
            .cloned()
    }

    /// POSTs a JSON `body` with `headers` to the provider's target, without waiting for the answer.
    pub(super) fn deliver(
        self: &Arc<Self>,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) {
        let mut all = vec![("content-type", "application/json".to_owned())];
        all.extend(headers);
        self.post(url, all, body);
    }

    /// POSTs `body` with exactly `headers` (content type included), in the background.
    pub(super) fn post(
        self: &Arc<Self>,
        url: String,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) {
        let http = self.http.clone();
        tokio::spawn(async move {
            let mut request = http.post(&url).body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            if let Err(error) = request.send().await {
                tracing::warn!(%url, %error, "webhook delivery failed");
            }
        });
    }
}
