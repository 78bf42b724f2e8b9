//! The passthrough seam: a raw call to a provider's own API, for what the unified model lacks
//! (an agent's tool call, an endpoint no capability covers). It travels the same way as every
//! adapter call: the connection's credentials from the vault (refreshed when the provider says
//! so), the catalog's rate classes, retries of what is safe to repeat, the breaker; a failure
//! is the provider's error answer read by its adapter, in the gateway's words.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use crate::{Provider, ProviderError, Target};

/// A call below a provider's API base (its catalog `base_url`, or the connection's instance).
#[derive(Debug, Clone)]
pub struct RawRequest {
    pub method: Method,
    /// Below the provider's base URL, starting with `/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// A JSON body, sent as `application/json`.
    pub body: Option<serde_json::Value>,
}

/// The provider's successful answer, whole.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Raw calls to the providers this build speaks to.
#[async_trait]
pub trait Passthrough: Send + Sync {
    /// Whether raw calls to `provider` can be made (it has an API this build reads answers of).
    fn supports(&self, provider: Provider) -> bool;

    /// Sends `request` for `target`'s connection; a call that changes something (a POST or
    /// PATCH) is never retried once it may have reached the provider.
    async fn send(
        &self,
        target: Target,
        request: &RawRequest,
    ) -> Result<RawResponse, ProviderError>;
}
