//! What an adapter asks of the stack (`Call`) and what it gets back (`Reply`).

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::providers::Provider;

use super::error::{ErrorKind, ProviderError};

/// The body of a call.
#[derive(Debug, Clone)]
pub enum Body {
    Json(serde_json::Value),
    Form(Vec<(String, String)>),
    /// CSV text (Salesforce Bulk API uploads).
    Csv(String),
    /// Bytes of their own content type (Google's `multipart/mixed` batches).
    Bytes {
        content_type: String,
        data: Bytes,
    },
}

/// One request to a provider's API, relative to its base URL.
#[derive(Debug, Clone)]
pub struct Call {
    /// The adapter's name for the call, for logs, metrics, errors and the catalog's rate classes
    /// (`messages.list`); one of the ops its provider declares (`providers::ops`).
    pub op: &'static str,
    pub method: Method,
    /// Below the provider's base URL, starting with `/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Body>,
    /// Whether sending it twice does no harm (reads, PUTs). A call that is not is never retried
    /// once it may have reached the provider.
    pub idempotent: bool,
    /// The ops of a batch's inner calls, each spending its own weight in the provider's rate
    /// classes (Gmail and Graph count each part of a batch as its own call); empty for a call
    /// that is not a batch, which spends its op's weight.
    pub parts: Vec<&'static str>,
}

impl Call {
    pub fn get(op: &'static str, path: impl Into<String>) -> Self {
        Self {
            op,
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotent: true,
            parts: Vec::new(),
        }
    }

    /// A POST that only reads (HubSpot's search and batch read): safe to repeat.
    pub fn post_read(op: &'static str, path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(Body::Json(body)),
            ..Self::get(op, path)
        }
    }

    /// A call that changes something at the provider.
    pub fn write(
        op: &'static str,
        method: Method,
        path: impl Into<String>,
        body: serde_json::Value,
    ) -> Self {
        Self {
            method,
            body: Some(Body::Json(body)),
            idempotent: false,
            ..Self::get(op, path)
        }
    }

    /// A batch, counted in the rate classes as its inner calls (`parts`: their ops).
    pub fn parts(mut self, parts: Vec<&'static str>) -> Self {
        self.parts = parts;
        self
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }
}

/// A provider's answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as `T`; an answer of another shape is the provider's fault, reported as such.
    pub fn json<T: DeserializeOwned>(
        &self,
        provider: Provider,
        op: &'static str,
    ) -> Result<T, ProviderError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ProviderError::new(
                ErrorKind::Upstream,
                provider,
                op,
                format!("unexpected answer: {e}"),
            )
        })
    }

    /// A `Retry-After` header, in seconds or as an HTTP date.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        let value = self.headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
        if let Ok(seconds) = value.trim().parse::<u64>() {
            return Some(std::time::Duration::from_secs(seconds));
        }
        let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
        (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{HeaderValue, header::RETRY_AFTER};

    use super::*;

    fn with_retry_after(value: &str) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        Reply {
            status: StatusCode::TOO_MANY_REQUESTS,
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(
            with_retry_after("2").retry_after(),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn retry_after_as_an_http_date_counts_from_now() {
        let at = chrono::Utc::now() + chrono::Duration::seconds(30);
        let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let wait = with_retry_after(&date).retry_after().unwrap();
        // The date has whole seconds: up to one less than asked, never more.
        assert!(
            (Duration::from_secs(28)..=Duration::from_secs(30)).contains(&wait),
            "{wait:?} for {date}"
        );
        let past = (chrono::Utc::now() - chrono::Duration::seconds(5))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        assert_eq!(
            with_retry_after(&past).retry_after(),
            None,
            "already passed"
        );
        assert_eq!(with_retry_after("soon").retry_after(), None);
    }
}
