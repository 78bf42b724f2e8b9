//! The oauth2 crate's client, typed for what providers answer, over reqwest 0.13.
//!
//! oauth2 5 ships an adapter for reqwest 0.12 only; `Http` is the small one for 0.13 (redirects
//! off, as oauth2's upgrade notes ask, so a token endpoint cannot bounce the request elsewhere).
//! Token responses keep every provider-specific field (`instance_url`, `hub_id`, `team`, ...).

use std::{future::Future, pin::Pin};

use oauth2::{
    AsyncHttpClient, Client, EndpointNotSet, EndpointSet, ExtraTokenFields, HttpClientError,
    HttpRequest, HttpResponse, StandardRevocableToken, StandardTokenResponse,
    basic::{
        BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
        BasicTokenType,
    },
};
use serde::{Deserialize, Serialize};

/// Fields of a token response beyond the standard ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProviderFields {
    #[serde(flatten)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl ExtraTokenFields for ProviderFields {}

pub type TokenResponse = StandardTokenResponse<ProviderFields, BasicTokenType>;

/// A client before its endpoints are set (`TokenClient` once the token URL is).
pub type BareClient = Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
>;

/// A client that can exchange codes and refresh tokens.
pub type TokenClient = Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// reqwest 0.13 as oauth2's HTTP client.
#[derive(Clone)]
pub struct Http(reqwest::Client);

impl Http {
    pub fn new() -> Result<Self, reqwest::Error> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map(Http)
    }
}

impl Http {
    /// The underlying client, for provider calls outside oauth2's (revocation).
    pub fn client(&self) -> &reqwest::Client {
        &self.0
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpClientError<reqwest::Error>;
    type Future =
        Pin<Box<dyn Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request: reqwest::Request = request.try_into().map_err(Box::new)?;
            let response = self.0.execute(request).await.map_err(Box::new)?;
            let mut builder = http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            builder
                .body(response.bytes().await.map_err(Box::new)?.to_vec())
                .map_err(HttpClientError::Http)
        })
    }
}
