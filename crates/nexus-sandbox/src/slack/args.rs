//! How Slack reads a Web API call's arguments: from the query string, and from a POST body that
//! is either form-encoded or JSON. JSON bodies carry no token (it must come as
//! `Authorization: Bearer`), and without `charset=utf-8` they still work but earn the
//! `missing_charset` warning. Form bodies may carry the `token` argument; a token in the query
//! string is not accepted (Slack stopped taking those from apps created after February 2021).

use std::collections::HashMap;

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{Method, header},
    response::Response,
};
use serde_json::Value;

use super::error::Failure;

/// A Web API call: its arguments, its token and the warnings its encoding earned.
#[derive(Debug, Default)]
pub struct Call {
    args: HashMap<String, Value>,
    pub token: Option<String>,
    pub warnings: Vec<&'static str>,
}

impl Call {
    /// An argument as text: form and query values as sent, JSON strings, numbers and booleans
    /// as their text; arrays and objects as JSON (Slack takes `blocks` either way).
    pub fn str(&self, name: &str) -> Option<String> {
        match self.args.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A present, non-empty argument.
    pub fn given(&self, name: &str) -> Option<String> {
        self.str(name).filter(|s| !s.is_empty())
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.args.get(name)
    }

    /// A boolean argument: `true`/`1` (or JSON true) is true; absent is `default`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, Failure> {
        match self.args.get(name) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => match v
                .as_str()
                .map(str::to_owned)
                .unwrap_or(v.to_string())
                .as_str()
            {
                "true" | "1" => Ok(true),
                "false" | "0" | "" => Ok(false),
                _ => Err(Failure::invalid_arguments(name)),
            },
        }
    }

    /// A whole-number argument within `1..=max`, or `default` when absent or 0.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, Failure> {
        let Some(raw) = self.given("limit") else {
            return Ok(default);
        };
        match raw.parse::<usize>() {
            Ok(0) => Ok(default),
            Ok(n) => Ok(n.min(max)),
            Err(_) => Err(Failure::invalid_arguments("limit")),
        }
    }
}

fn bearer(request: &Request) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let mut call = Call {
            token: bearer(&request),
            ..Call::default()
        };
        for (k, v) in url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes()) {
            if k != "token" {
                call.args
                    .insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_ascii_lowercase);
        let is_post = request.method() == Method::POST;
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|_| Failure::plain("invalid_form_data").answer(&call))?;
        if !is_post || body.is_empty() {
            return Ok(call);
        }
        let Some(content_type) = content_type else {
            return Err(Failure::plain("missing_post_type").answer(&call));
        };
        let mut parts = content_type.split(';').map(str::trim);
        let mime = parts.next().unwrap_or_default();
        let charset = parts
            .filter_map(|p| p.strip_prefix("charset="))
            .map(|c| c.trim_matches('"'))
            .next();
        if charset.is_some_and(|c| c != "utf-8" && c != "utf8") {
            return Err(Failure::plain("invalid_charset").answer(&call));
        }
        match mime {
            "application/x-www-form-urlencoded" => {
                let text = std::str::from_utf8(&body)
                    .map_err(|_| Failure::plain("invalid_charset").answer(&call))?;
                for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
                    if k == "token" {
                        if call.token.is_none() {
                            call.token = Some(v.into_owned());
                        }
                    } else {
                        call.args
                            .insert(k.into_owned(), Value::String(v.into_owned()));
                    }
                }
            }
            "application/json" => {
                if charset.is_none() {
                    call.warnings.push("missing_charset");
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(Value::Object(map)) => {
                        // A token in a JSON body is not read: JSON calls need the header.
                        call.args
                            .extend(map.into_iter().filter(|(k, _)| k != "token"));
                    }
                    _ => return Err(Failure::plain("invalid_json").answer(&call)),
                }
            }
            _ => return Err(Failure::plain("invalid_post_type").answer(&call)),
        }
        Ok(call)
    }
}
