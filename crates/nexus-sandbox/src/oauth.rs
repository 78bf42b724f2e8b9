//! The consent page every provider's authorize URL shows: who asks, for which scopes, and an
//! Approve button that redirects back with a one-time code (Deny returns `error=access_denied`).
//! Each provider answers its own token endpoint with the grants of `tokens`.

use std::collections::HashMap;

use axum::{
    Form,
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};

use super::{Ctx, tokens::App};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn bad_request(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(format!(
            "<!doctype html><title>Authorization error</title><p>{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

/// Checks the client and the redirect URI; both pages need it.
fn check(ctx: &Ctx, params: &HashMap<String, String>) -> Result<url::Url, &'static str> {
    let app = App::for_provider(ctx.provider);
    if params.get("client_id") != Some(&app.client_id) {
        return Err("unknown client_id");
    }
    params
        .get("redirect_uri")
        .and_then(|u| url::Url::parse(u).ok())
        .ok_or("redirect_uri must be an absolute URL")
}

/// `GET <prefix>/oauth/authorize?client_id&redirect_uri&scope&state[&code_challenge&code_challenge_method=S256]`.
pub async fn page(
    State(ctx): State<Ctx>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    if let Err(message) = check(&ctx, &params) {
        return bad_request(message);
    }
    let hidden: String = params
        .iter()
        .filter(|(k, _)| k.as_str() != "account")
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    let scopes: String = params
        .get("scope")
        .map(|s| {
            s.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(|s| format!("<li>{}</li>", escape(s)))
                .collect()
        })
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Authorize — {provider} sandbox</title></head>
<body><h1>{provider} (sandbox)</h1><p>An app wants access to account {account}:</p><ul>{scopes}</ul>
<form method="post">{hidden}<label>Sign in to account <input name="account" value="{account}"></label>
<button name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button></form></body></html>"#,
        provider = escape(ctx.provider),
        account = escape(params.get("account").map_or(ctx.account, String::as_str)),
    ))
    .into_response()
}

/// The consent form's POST: a code (or `access_denied`) back to the redirect URI with the state.
pub async fn decide(
    State(ctx): State<Ctx>,
    Form(params): Form<HashMap<String, String>>,
) -> Response {
    let mut target = match check(&ctx, &params) {
        Ok(url) => url,
        Err(message) => return bad_request(message),
    };
    let approved = params.get("decision").map(String::as_str) == Some("approve");
    let state = params.get("state").cloned();
    {
        let mut query = target.query_pairs_mut();
        if approved {
            let challenge = match params.get("code_challenge_method").map(String::as_str) {
                None | Some("S256") => params.get("code_challenge").cloned(),
                Some(_) => return bad_request("only code_challenge_method=S256 is supported"),
            };
            let scopes = params
                .get("scope")
                .map(|s| {
                    s.split([' ', ','])
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let account = params
                .get("account")
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
                .unwrap_or(ctx.account);
            if account.len() > 32 || !account.chars().all(|c| c.is_ascii_alphanumeric()) {
                return bad_request("account must be up to 32 letters and digits");
            }
            let now = ctx.state.clock.now();
            let code = ctx.state.tokens.lock().expect("tokens lock").create_code(
                ctx.provider,
                account,
                scopes,
                &params["client_id"],
                &params["redirect_uri"],
                challenge,
                now,
            );
            query.append_pair("code", &code);
        } else {
            query.append_pair("error", "access_denied");
        }
        if let Some(state) = &state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(target.as_str()).into_response()
}
