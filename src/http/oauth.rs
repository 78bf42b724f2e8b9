//! `GET /oauth/{provider}/callback`: where providers send the browser back. Success redirects to
//! the flow's `redirectAfter` (checked against the allowed origins when the flow started) with
//! `connected=<provider>`, or shows a page. A refusal (consent denied, a link unknown, used or
//! expired, a code the provider would not exchange) stores nothing and, as OAuth clients expect
//! (RFC 6749, 4.1.2.1), returns to the flow's `redirectAfter` with `error`, `error_description`
//! and `provider` — when the flow named one and its origin is still allowed; otherwise, or when
//! the state is unknown (so is the flow), it shows a clear page. A connection stored runs its
//! provider's hooks (`changes::hooks`: a Graph or Google registration pass brought forward).

use std::collections::HashMap;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};

use crate::{
    oauth::{CallbackError, Refused},
    providers::{Cataloged, Provider},
    upstream::Target,
};

use super::AppState;

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let escape = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head><body><h1>{t}</h1><p>{m}</p></body></html>",
            t = escape(title),
            m = escape(message)
        )),
    )
        .into_response()
}

pub async fn callback(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let Ok(provider) = slug.parse::<Provider>() else {
        return page(
            StatusCode::NOT_FOUND,
            "Unknown provider",
            "No such provider.",
        );
    };
    let Some(flow_state) = params.get("state") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Connection failed",
            "The provider sent no state.",
        );
    };
    let result = state
        .connect
        .finish(
            provider,
            flow_state,
            params.get("code").map(String::as_str),
            params.get("error").map(String::as_str),
        )
        .await;
    if let Ok(connected) = &result {
        let target = Target {
            tenant: connected.tenant,
            provider,
        };
        state.hooks.after_connect(target).await;
    }
    match result {
        Ok(connected) => match connected.redirect_after {
            Some(target) => {
                let mut url = match url::Url::parse(&target) {
                    Ok(url) => url,
                    Err(_) => {
                        return page(StatusCode::OK, "Connected", provider.entry().name.as_str());
                    }
                };
                url.query_pairs_mut()
                    .append_pair("connected", provider.slug());
                Redirect::to(url.as_str()).into_response()
            }
            None => page(
                StatusCode::OK,
                "Connected",
                &format!(
                    "{} is connected. You can close this page.",
                    provider.entry().name
                ),
            ),
        },
        Err(Refused {
            error,
            redirect_after,
        }) => {
            match &error {
                CallbackError::Store(cause) => {
                    tracing::error!(%cause, provider = provider.slug(), "storing a connection")
                }
                refused => {
                    tracing::info!(provider = provider.slug(), reason = %refused, "connect callback refused")
                }
            }
            let back = redirect_after
                .filter(|target| state.connect.allows_redirect(target))
                .and_then(|target| url::Url::parse(&target).ok());
            match (back, &error) {
                (Some(mut url), _) => {
                    url.query_pairs_mut()
                        .append_pair("error", error.oauth_code())
                        .append_pair("error_description", &error.to_string())
                        .append_pair("provider", provider.slug());
                    Redirect::to(url.as_str()).into_response()
                }
                (None, CallbackError::Store(_)) => page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Connection failed",
                    "The connection could not be stored; try again.",
                ),
                (None, refused) => page(
                    StatusCode::BAD_REQUEST,
                    "Connection failed",
                    &refused.to_string(),
                ),
            }
        }
    }
}
