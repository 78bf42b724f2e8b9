//! Browser pages on other origins: which may call the API, over HTTP and over the WebSocket.
//!
//! HTTP calls go through tower-http's `CorsLayer`: a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered at once, 200, and a listed origin gets
//! `Access-Control-Allow-Origin` back with the methods and headers a GraphQL client sends
//! (`Authorization`, `Content-Type`); credentials (cookies) are never allowed, since callers
//! authenticate with a bearer key. An origin not listed gets no CORS header, and the browser
//! keeps the answer from the page.
//!
//! Browsers do not apply CORS to WebSockets, so the handshake on `/graphql` checks `Origin`
//! itself ([`Origins::admits`]): no `Origin` (a server, a Node client), the gateway's own
//! origin, and the listed ones are let through; any other is refused with 403.

use std::time::Duration;

use http::{
    HeaderMap, HeaderName, HeaderValue, Method,
    header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsSettings;

/// The origins allowed to call the gateway from a browser, besides its own.
#[derive(Debug, Clone)]
pub struct Origins {
    /// The gateway's own public origin (`oauth.public_url`, or the bound address).
    own: String,
    listed: Vec<HeaderValue>,
    max_age: Duration,
}

/// A `server.cors.allowed_origins` entry that is not an origin a browser would send.
#[derive(Debug, thiserror::Error)]
#[error(
    "server.cors.allowed_origins: `{0}` is not an origin (scheme://host[:port], as browsers send it in Origin, e.g. https://app.example)"
)]
pub struct NotAnOrigin(String);

impl Origins {
    /// The origins `[server.cors]` lists; an error names an entry that is not an exact origin.
    pub fn from_settings(settings: &CorsSettings, own: &str) -> Result<Self, NotAnOrigin> {
        let listed = settings
            .allowed_origins
            .iter()
            .map(|origin| exact_origin(origin).ok_or_else(|| NotAnOrigin(origin.clone())))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            own: own.trim_end_matches('/').to_owned(),
            listed,
            max_age: Duration::from_secs(settings.max_age_secs),
        })
    }

    /// The layer that answers preflights and marks the answers to listed origins.
    pub fn layer(&self) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.listed.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([AUTHORIZATION, CONTENT_TYPE])
            .expose_headers([HeaderName::from_static("x-request-id")])
            .allow_credentials(false)
            .max_age(self.max_age)
    }

    /// Whether a WebSocket handshake with these headers may proceed: no `Origin`, the gateway's
    /// own (its public origin, or the host the request was sent to), or a listed one.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(ORIGIN) else {
            return true;
        };
        if self.listed.contains(origin) {
            return true;
        }
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        origin == self.own || same_host(origin, headers.get(HOST))
    }
}

/// Whether `origin`'s authority is the `Host` the request was sent to (the page was served by
/// this gateway, under whatever name the browser reached it).
fn same_host(origin: &str, host: Option<&HeaderValue>) -> bool {
    let Some(host) = host.and_then(|h| h.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// `origin` as browsers serialize it in `Origin` (host in lower case, default port left out), or
/// `None` when it has a path, a query, a fragment, credentials, or is not http(s).
fn exact_origin(origin: &str) -> Option<HeaderValue> {
    let url = url::Url::parse(origin.trim()).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    bare.then(|| HeaderValue::from_str(&url.origin().ascii_serialization()).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origins(listed: &[&str]) -> Origins {
        let settings = CorsSettings {
            allowed_origins: listed.iter().map(|s| (*s).to_owned()).collect(),
            ..CorsSettings::default()
        };
        Origins::from_settings(&settings, "https://gateway.example").unwrap()
    }

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn only_exact_origins_are_accepted_in_settings() {
        for (given, sent) in [
            ("https://app.example", "https://app.example"),
            ("https://app.example/", "https://app.example"),
            ("https://App.Example:443", "https://app.example"),
            ("http://127.0.0.1:5173", "http://127.0.0.1:5173"),
        ] {
            assert_eq!(exact_origin(given).unwrap(), sent, "{given}");
        }
        for bad in [
            "*",
            "app.example",
            "https://app.example/path",
            "https://app.example?x=1",
            "https://app.example#top",
            "https://user@app.example",
            "ftp://app.example",
        ] {
            assert!(exact_origin(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_websocket_admits_no_origin_its_own_and_the_listed_ones() {
        let origins = origins(&["https://app.example"]);
        let host = "gateway.internal:4000";
        assert!(origins.admits(&headers(None, host)));
        assert!(origins.admits(&headers(Some("https://gateway.example"), host)));
        assert!(origins.admits(&headers(Some("http://gateway.internal:4000"), host)));
        assert!(origins.admits(&headers(Some("https://app.example"), host)));
        assert!(!origins.admits(&headers(Some("https://evil.example"), host)));
        assert!(!origins.admits(&headers(Some("https://app.example.evil"), host)));
        assert!(!origins.admits(&headers(Some("null"), host)));
    }
}
