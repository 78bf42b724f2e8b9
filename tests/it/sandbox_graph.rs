//! The Microsoft simulator against the identity platform's and Graph's documented wire formats
//! (shared/providers/wire-formats.md §6): OAuth with PKCE, rotation and id tokens; mail, calendar
//! and Teams shapes; paging, delta, errors, throttling; change-notification subscriptions.

use std::collections::{HashMap, HashSet};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Client, Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ID_TOKEN_KEY: &str = "nexus-sandbox-microsoft-id-token-key";

struct Graph {
    origin: String,
    token: String,
    client: Client,
}

async fn graph(provider: &str) -> Graph {
    let (origin, client, tokens) = crate::helpers::sandbox_with_tokens(provider).await;
    Graph {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Graph {
    fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_owned()
        } else {
            format!("{}/microsoft{path}", self.origin)
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, HeaderMap, Value) {
        self.call(Method::GET, path, None, &self.token, &[]).await
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.call(method, path, Some(body), &self.token, &[]).await;
        (status, body)
    }

    async fn admin(&self, path: &str, body: Value) -> Value {
        let r = self
            .client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.json().await.unwrap_or(Value::Null)
    }

    /// A token for another user of the tenant.
    async fn token_for(&self, provider: &str, alias: &str) -> String {
        self.admin("/tokens", json!({ "provider": provider, "account": alias }))
            .await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Every page of a list, following `@odata.nextLink`: the items and the number of pages.
    async fn all_pages(&self, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut next = Some(self.url(path));
        let mut pages = 0;
        while let Some(url) = next {
            let (status, _, page) = self.get(&url).await;
            assert_eq!(status, 200, "{page}");
            pages += 1;
            items.extend(page["value"].as_array().unwrap().iter().cloned());
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        (items, pages)
    }
}

fn assert_graph_error(body: &Value, headers: &HeaderMap, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let inner = &body["error"]["innerError"];
    assert_eq!(
        inner["request-id"].as_str(),
        headers["request-id"].to_str().ok(),
        "{body}"
    );
    assert!(
        inner["client-request-id"].is_string() && inner["date"].is_string(),
        "{body}"
    );
}

fn user_alias(email: &str) -> String {
    email.split('@').next().unwrap().replace('.', "")
}

#[tokio::test]
async fn oauth_code_flow_with_pkce_refresh_rotation_and_an_id_token() {
    let g = graph("teams").await;
    let verifier = "dBjftJeZ4CVP-mJ92K9VS4FkddXZZ7f0DIP6Y9xkP40";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let authorize = |scope: &'static str| {
        vec![
            ("client_id", "sandbox-teams-client".to_owned()),
            ("response_type", "code".to_owned()),
            ("redirect_uri", "http://127.0.0.1:9/callback".to_owned()),
            ("response_mode", "query".to_owned()),
            ("scope", scope.to_owned()),
            ("state", "s-1".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ]
    };
    let full = "openid profile email offline_access https://graph.microsoft.com/User.Read https://graph.microsoft.com/ChannelMessage.Read.All";
    let page = g
        .client
        .get(g.url("/common/oauth2/v2.0/authorize"))
        .query(&authorize(full))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text().await.unwrap().contains("adalovelace0"),
        "the default user signs in"
    );
    let unknown_tenant = g
        .client
        .get(g.url("/not-a-tenant/oauth2/v2.0/authorize"))
        .query(&authorize(full))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_tenant.status(), 400);
    let body: Value = unknown_tenant.json().await.unwrap();
    assert_eq!(body["error_codes"], json!([90002]));

    let (g, authorize) = (&g, &authorize);
    let consent = |scope: &'static str| async move {
        let mut form = authorize(scope);
        form.push(("decision", "approve".to_owned()));
        let approve = g
            .client
            .post(g.url("/organizations/oauth2/v2.0/authorize"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(approve.status(), 303);
        let location = url::Url::parse(approve.headers()["location"].to_str().unwrap()).unwrap();
        let params: HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s-1");
        params["code"].clone()
    };
    let exchange = |code: String, secret: &'static str, verifier: &'static str| {
        g.client
            .post(g.url(&format!(
                "/{}/oauth2/v2.0/token",
                nexus_sandbox::microsoft::TENANT_ID
            )))
            .form(&[
                ("grant_type", "authorization_code".to_owned()),
                ("client_id", "sandbox-teams-client".to_owned()),
                ("client_secret", secret.to_owned()),
                ("redirect_uri", "http://127.0.0.1:9/callback".to_owned()),
                ("code", code),
                ("code_verifier", verifier.to_owned()),
            ])
    };

    let bad_secret = exchange(consent(full).await, "nope", verifier)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_secret.status(), 401);
    let body: Value = bad_secret.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let wrong_verifier = exchange(
        consent(full).await,
        "sandbox-teams-secret",
        "wrong-verifier",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(wrong_verifier.status(), 400);
    let body: Value = wrong_verifier.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS501481:"),
        "{body}"
    );
    for field in ["error_codes", "timestamp", "trace_id", "correlation_id"] {
        assert!(!body[field].is_null(), "{field}: {body}");
    }

    let code = consent(full).await;
    let tokens: Value = exchange(code.clone(), "sandbox-teams-secret", verifier)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    let lifetime = tokens["expires_in"].as_i64().unwrap();
    assert!((3600..5000).contains(&lifetime), "{tokens}");
    assert_eq!(tokens["ext_expires_in"], tokens["expires_in"]);
    assert_eq!(
        tokens["scope"],
        "openid profile email https://graph.microsoft.com/User.Read https://graph.microsoft.com/ChannelMessage.Read.All"
    );
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&["sandbox-teams-client"]);
    let id_token = jsonwebtoken::decode::<Value>(
        tokens["id_token"].as_str().unwrap(),
        &jsonwebtoken::DecodingKey::from_secret(ID_TOKEN_KEY.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    assert_eq!(id_token["tid"], nexus_sandbox::microsoft::TENANT_ID);
    assert_eq!(id_token["ver"], "2.0");
    let upn = id_token["preferred_username"].as_str().unwrap();
    assert_eq!(user_alias(upn), "adalovelace0");
    let (status, _, me) = g
        .call(
            Method::GET,
            "/v1.0/me",
            None,
            tokens["access_token"].as_str().unwrap(),
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["userPrincipalName"], upn);
    assert_eq!(me["id"], id_token["oid"]);

    let reused = exchange(code, "sandbox-teams-secret", verifier)
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 400, "a code is good once");

    let refresh = |token: String| {
        g.client.post(g.url("/common/oauth2/v2.0/token")).form(&[
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", "sandbox-teams-client".to_owned()),
            ("client_secret", "sandbox-teams-secret".to_owned()),
            ("refresh_token", token),
        ])
    };
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refreshed: Value = refresh(first_refresh.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    assert_ne!(
        refreshed["refresh_token"], tokens["refresh_token"],
        "refresh tokens rotate"
    );
    assert!(refreshed["id_token"].is_string());
    let stale = refresh(first_refresh).send().await.unwrap();
    assert_eq!(stale.status(), 400);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    let again = refresh(refreshed["refresh_token"].as_str().unwrap().to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200, "the newest refresh token works");

    // No offline_access, no refresh token; no openid, no id token.
    let bare: Value = exchange(consent("User.Read").await, "sandbox-teams-secret", verifier)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(bare["access_token"].is_string(), "{bare}");
    assert!(
        bare.get("refresh_token").is_none() && bare.get("id_token").is_none(),
        "{bare}"
    );
    assert_eq!(bare["scope"], "User.Read");
}

#[tokio::test]
async fn mail_lists_page_exactly_once_and_take_odata_options() {
    let g = graph("outlook").await;
    let (status, headers, page) = g.get("/v1.0/me/messages").await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("request-id") && headers.contains_key("client-request-id"));
    assert!(
        page["@odata.context"]
            .as_str()
            .unwrap()
            .contains("/$metadata#users('"),
        "{page}"
    );
    let first = page["value"].as_array().unwrap();
    assert_eq!(first.len(), 10, "the default page size");
    for field in [
        "id",
        "subject",
        "receivedDateTime",
        "from",
        "toRecipients",
        "isRead",
        "body",
        "bodyPreview",
        "parentFolderId",
        "conversationId",
        "@odata.etag",
    ] {
        assert!(
            first[0].get(field).is_some(),
            "{field} missing: {}",
            first[0]
        );
    }
    assert!(
        page["@odata.nextLink"]
            .as_str()
            .unwrap()
            .contains("%24skip=10")
    );

    let (_, _, counted) = g
        .get("/v1.0/me/mailFolders('inbox')/messages?$count=true&$top=1")
        .await;
    assert_eq!(
        counted["value"].as_array().map(Vec::len),
        Some(1),
        "{counted}"
    );
    let total = counted["@odata.count"].as_u64().unwrap() as usize;
    let (items, pages) = g
        .all_pages("/v1.0/me/mailFolders/inbox/messages?$top=7&$select=subject,receivedDateTime")
        .await;
    assert!(pages >= 5, "several pages: {pages}");
    assert_eq!(items.len(), total);
    let ids: HashSet<&str> = items.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), total, "no message twice");
    assert!(
        items.iter().all(|m| m.get("from").is_none()),
        "$select keeps only what was asked"
    );
    let times: Vec<&str> = items
        .iter()
        .map(|m| m["receivedDateTime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let address = first[0]["from"]["emailAddress"]["address"]
        .as_str()
        .unwrap();
    let (status, _, filtered) = g
        .get(&format!("/v1.0/me/messages?$filter=from/emailAddress/address eq '{address}' and receivedDateTime ge 2020-01-01T00:00:00Z&$top=100"))
        .await;
    assert_eq!(status, 200, "{filtered}");
    let matched = filtered["value"].as_array().unwrap();
    assert!(
        !matched.is_empty()
            && matched
                .iter()
                .all(|m| m["from"]["emailAddress"]["address"] == address)
    );
    let (_, _, unread) = g
        .get("/v1.0/me/messages?$filter=isRead eq false&$top=100")
        .await;
    assert!(
        unread["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["isRead"] == false)
    );
    let (_, _, found) = g.get("/v1.0/me/messages?$search=\"subject:renewal\"").await;
    let found = found["value"].as_array().unwrap();
    assert!(
        !found.is_empty()
            && found.iter().all(|m| m["subject"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("renewal"))
    );

    let (status, headers, body) = g.get("/v1.0/me/messages?$filter=isRead eq").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, &headers, "BadRequest");
    let (status, headers, body) = g.get("/v1.0/me/messages?$top=0").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, &headers, "BadRequest");

    let id = first[0]["id"].as_str().unwrap();
    let (status, _, one) = g.get(&format!("/v1.0/me/messages/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], id);
    let (status, headers, body) = g.get("/v1.0/me/messages/AAMkAGbm9zdWNoLW1lc3NhZ2U").await;
    assert_eq!(status, 404);
    assert_graph_error(&body, &headers, "ErrorItemNotFound");
    let (status, headers, body) = g.get("/v1.0/me/messages/not-an-id").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, &headers, "ErrorInvalidIdMalformed");

    let (status, patched) = g
        .send(
            Method::PATCH,
            &format!("/v1.0/me/messages/{id}"),
            json!({ "isRead": false, "categories": ["Deal"] }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["isRead"], false);
    assert_eq!(patched["categories"], json!(["Deal"]));
    let (status, body) = g
        .send(
            Method::PATCH,
            &format!("/v1.0/me/messages/{id}"),
            json!({ "receivedDateTime": "2020-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    let (status, _, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/me/messages/{id}"),
            None,
            &g.token,
            &[],
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = g.get(&format!("/v1.0/me/messages/{id}")).await;
    assert_eq!(status, 404, "deleted");
}

#[tokio::test]
async fn expired_and_unknown_tokens_get_graphs_401() {
    let g = graph("outlook").await;
    let (status, _, _) = g.get("/v1.0/me/messages?$top=1").await;
    assert_eq!(status, 200);
    let (status, headers, body) = g
        .call(
            Method::GET,
            "/v1.0/me/messages",
            None,
            "not-a-token",
            &[("client-request-id", "c-123")],
        )
        .await;
    assert_eq!(status, 401);
    assert_graph_error(&body, &headers, "InvalidAuthenticationToken");
    assert_eq!(headers["client-request-id"], "c-123");
    assert_eq!(body["error"]["innerError"]["client-request-id"], "c-123");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );

    g.admin("/clock", json!({ "advance_s": 5000 })).await;
    let (status, headers, body) = g.get("/v1.0/me/messages").await;
    assert_eq!(status, 401);
    assert_graph_error(&body, &headers, "InvalidAuthenticationToken");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // `microsoft` expires both connections' tokens.
    let outlook = g.token_for("outlook", "adalovelace0").await;
    let teams = g.token_for("teams", "adalovelace0").await;
    let expired = g
        .admin("/expire-tokens", json!({ "provider": "microsoft" }))
        .await;
    assert!(expired["expired"].as_u64().unwrap() >= 2);
    for token in [outlook, teams] {
        let (status, _, _) = g.call(Method::GET, "/v1.0/me", None, &token, &[]).await;
        assert_eq!(status, 401);
    }
}

#[tokio::test]
async fn scopes_decide_what_a_token_reaches() {
    let g = graph("teams").await;
    let (status, headers, body) = g.get("/v1.0/me/messages").await;
    assert_eq!(status, 403, "a Teams token has no mail scope");
    assert_graph_error(&body, &headers, "ErrorAccessDenied");
    let (status, _, _) = g.get("/v1.0/me/joinedTeams").await;
    assert_eq!(status, 200);
    let outlook = g.token_for("outlook", "adalovelace0").await;
    let (status, headers, body) = g
        .call(Method::GET, "/v1.0/me/joinedTeams", None, &outlook, &[])
        .await;
    assert_eq!(status, 403);
    assert_graph_error(&body, &headers, "Forbidden");
    let (status, headers, body) = g.get("/v1.0/me/nonsense").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, &headers, "BadRequest");
}

#[tokio::test]
async fn throttling_answers_429_with_retry_after_and_can_be_switched_off() {
    let g = graph("outlook").await;
    g.admin(
        "/limits",
        json!({ "provider": "outlook", "enforce": true, "capacity": { "outlook_mailbox": 3 } }),
    )
    .await;
    for _ in 0..3 {
        let (status, _, _) = g.get("/v1.0/me/messages?$top=1").await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) = g.get("/v1.0/me/messages?$top=1").await;
    assert_eq!(status, 429);
    assert_graph_error(&body, &headers, "ApplicationThrottled");
    assert_eq!(body["error"]["innerError"]["status"], "429");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (590..=600).contains(&retry),
        "the 10-minute window: {retry}"
    );
    let other = g.token_for("outlook", "someoneelse").await;
    let (status, _, _) = g
        .call(Method::GET, "/v1.0/me/messages?$top=1", None, &other, &[])
        .await;
    assert_eq!(status, 200, "per mailbox");

    g.admin(
        "/limits",
        json!({ "provider": "outlook", "enforce": false }),
    )
    .await;
    let (status, _, _) = g.get("/v1.0/me/messages?$top=1").await;
    assert_eq!(status, 200, "limits switched off");
    g.admin("/limits", json!({ "provider": "outlook", "enforce": true }))
        .await;
    let (status, _, _) = g.get("/v1.0/me/messages?$top=1").await;
    assert_eq!(status, 429);
    g.admin("/clock", json!({ "advance_s": 601 })).await;
    let (status, _, _) = g.get("/v1.0/me/messages?$top=1").await;
    assert_eq!(status, 200, "the window rolled on");
    let refused = g
        .client
        .post(format!("{}/_sandbox/limits", g.origin))
        .json(&json!({ "provider": "outlook", "enforce": true, "capacity": { "teams_any": 1 } }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400, "Outlook has no Teams class");

    // Teams: POST channel message, 10 per rolling 10 s per app per tenant (the real clock drives it).
    let teams = g.token_for("teams", "adalovelace0").await;
    let (_, _, joined) = g
        .call(Method::GET, "/v1.0/me/joinedTeams", None, &teams, &[])
        .await;
    let team = joined["value"][0]["id"].as_str().unwrap().to_owned();
    let (_, _, channels) = g
        .call(
            Method::GET,
            &format!("/v1.0/teams/{team}/channels"),
            None,
            &teams,
            &[],
        )
        .await;
    let channel = channels["value"][0]["id"].as_str().unwrap().to_owned();
    let path = format!(
        "/v1.0/teams/{team}/channels/{}/messages",
        urlencoding(&channel)
    );
    let mut throttled = None;
    for attempt in 0..20 {
        let (status, headers, body) = g
            .call(
                Method::POST,
                &path,
                Some(json!({ "body": { "content": "hi" } })),
                &teams,
                &[],
            )
            .await;
        if status == 429 {
            throttled = Some((attempt, headers, body));
            break;
        }
        assert_eq!(status, 201);
    }
    let (attempt, headers, body) = throttled.expect("the per-second limit answers 429");
    assert!(attempt >= 10, "ten in ten seconds pass");
    assert_graph_error(&body, &headers, "TooManyRequests");
    let wait: f64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1.0..=10.0).contains(&wait), "{wait}");
    g.admin("/clock", json!({ "advance_s": 10 })).await;
    let (status, _, _) = g
        .call(
            Method::POST,
            &path,
            Some(json!({ "body": { "content": "later" } })),
            &teams,
            &[],
        )
        .await;
    assert_eq!(status, 201, "the window rolled on");
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn send_mail_is_202_without_a_body_and_lands_in_the_recipients_inbox() {
    let g = graph("outlook").await;
    let (_, _, page) = g.get("/v1.0/me/messages?$top=1").await;
    let recipient = page["value"][0]["from"]["emailAddress"]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = g
        .client
        .post(g.url("/v1.0/me/sendMail"))
        .bearer_auth(&g.token)
        .json(&json!({
            "message": {
                "subject": "Sandbox proposal 42",
                "body": { "contentType": "Text", "content": "Here it is." },
                "toRecipients": [{ "emailAddress": { "address": recipient } }],
            },
            "saveToSentItems": "true",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert!(
        r.headers().get("content-type").is_none(),
        "no JSON content type"
    );
    assert!(r.headers().contains_key("request-id"));
    assert!(r.bytes().await.unwrap().is_empty());

    let (_, _, sent) = g
        .get("/v1.0/me/mailFolders/sentitems/messages?$filter=subject eq 'Sandbox proposal 42'")
        .await;
    assert_eq!(
        sent["value"].as_array().unwrap().len(),
        1,
        "the sender's copy"
    );
    let theirs = g.token_for("outlook", &user_alias(&recipient)).await;
    let (status, _, inbox) = g
        .call(
            Method::GET,
            "/v1.0/me/mailFolders/inbox/messages?$filter=subject eq 'Sandbox proposal 42'",
            None,
            &theirs,
            &[],
        )
        .await;
    assert_eq!(status, 200);
    let delivered = &inbox["value"][0];
    assert_eq!(delivered["body"]["content"], "Here it is.");
    assert_eq!(
        user_alias(
            delivered["from"]["emailAddress"]["address"]
                .as_str()
                .unwrap()
        ),
        "adalovelace0"
    );
    assert_eq!(delivered["isRead"], false);

    let (status, body) = g
        .send(
            Method::POST,
            "/v1.0/me/sendMail",
            json!({ "message": { "subject": "nobody", "toRecipients": [] } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "ErrorInvalidRecipients");
    let (status, body) = g
        .send(
            Method::POST,
            "/v1.0/me/sendMail",
            json!({ "nothing": true }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn calendar_view_expands_series_in_the_preferred_zone_and_needs_a_window() {
    let g = graph("outlook").await;
    let (status, headers, body) = g.get("/v1.0/me/calendarView").await;
    assert_eq!(status, 400);
    assert_graph_error(&body, &headers, "ErrorInvalidParameter");
    let (status, _, _) = g
        .get("/v1.0/me/calendarView?startDateTime=yesterday&endDateTime=2030-01-01T00:00:00Z")
        .await;
    assert_eq!(status, 400);

    let now = chrono::Utc::now();
    let start = (now - chrono::Duration::days(7))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let end = (now + chrono::Duration::days(7))
        .format("%Y-%m-%dT00:00:00Z")
        .to_string();
    let view = format!("/v1.0/me/calendarView?startDateTime={start}&endDateTime={end}&$top=50");
    let (items, _) = g.all_pages(&view).await;
    let standups: Vec<&Value> = items
        .iter()
        .filter(|e| e["subject"] == "Daily stand-up")
        .collect();
    assert_eq!(standups.len(), 14, "one a day over two weeks");
    assert!(
        standups
            .iter()
            .all(|e| e["type"] == "occurrence" && e["seriesMasterId"].is_string())
    );
    assert!(items.iter().any(|e| e["subject"] == "Weekly 1:1"));
    assert!(items.iter().any(|e| e["isAllDay"] == true));
    let meeting = items
        .iter()
        .find(|e| {
            e["attendees"].as_array().is_some_and(|a| !a.is_empty())
                && e["type"] == "singleInstance"
        })
        .unwrap();
    assert!(meeting["attendees"][0]["status"]["response"].is_string());
    assert_eq!(meeting["start"]["timeZone"], "UTC");
    assert!(
        meeting["start"]["dateTime"]
            .as_str()
            .unwrap()
            .ends_with(".0000000")
    );

    let (_, headers, pacific) = g
        .call(
            Method::GET,
            &view,
            None,
            &g.token,
            &[("prefer", "outlook.timezone=\"Pacific Standard Time\"")],
        )
        .await;
    assert_eq!(
        headers["preference-applied"],
        "outlook.timezone=\"Pacific Standard Time\""
    );
    let same = pacific["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == meeting["id"])
        .unwrap();
    assert_eq!(same["start"]["timeZone"], "Pacific Standard Time");
    let parse = |v: &Value| {
        chrono::NaiveDateTime::parse_from_str(
            v["start"]["dateTime"].as_str().unwrap(),
            "%Y-%m-%dT%H:%M:%S%.f",
        )
        .unwrap()
    };
    assert_eq!(parse(meeting) - parse(same), chrono::Duration::hours(8));

    let (_, _, masters) = g
        .get("/v1.0/me/events?$filter=type eq 'seriesMaster'")
        .await;
    assert_eq!(masters["value"].as_array().unwrap().len(), 2);
    assert!(masters["value"][0]["recurrence"]["pattern"]["type"].is_string());

    let (status, created) = g
        .send(Method::POST, "/v1.0/me/events", json!({
            "subject": "Kick-off",
            "start": { "dateTime": "2030-03-04T09:00:00", "timeZone": "W. Europe Standard Time" },
            "end": { "dateTime": "2030-03-04T10:00:00", "timeZone": "W. Europe Standard Time" },
            "attendees": [{ "emailAddress": { "address": "grace.hopper1@example.com", "name": "Grace" }, "type": "required" }],
        }))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["start"]["dateTime"], "2030-03-04T08:00:00.0000000");
    assert_eq!(created["attendees"][0]["status"]["response"], "none");
    let id = created["id"].as_str().unwrap();
    let (status, patched) = g
        .send(
            Method::PATCH,
            &format!("/v1.0/me/events/{id}"),
            json!({ "subject": "Kick-off (moved)" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(patched["subject"], "Kick-off (moved)");
    let (status, body) = g.send(Method::POST, "/v1.0/me/events", json!({ "subject": "x", "start": { "dateTime": "2030-03-04T09:00:00", "timeZone": "Mars/Olympus" }, "end": { "dateTime": "2030-03-04T10:00:00", "timeZone": "UTC" } })).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = g.send(Method::POST, "/v1.0/me/events", json!({ "subject": "x", "isAllDay": true, "start": { "dateTime": "2030-03-04T09:00:00", "timeZone": "UTC" }, "end": { "dateTime": "2030-03-05T09:00:00", "timeZone": "UTC" } })).await;
    assert_eq!(status, 400, "all-day events start at midnight: {body}");
    let (status, _, body) = g.get("/v1.0/me/events/AAMkAGbm9zdWNoLWV2ZW50").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "ErrorItemNotFound");

    // The calendar view's delta: every instance once, then only what changed.
    let mut url = g.url(&format!(
        "/v1.0/me/calendarView/delta?startDateTime={start}&endDateTime={end}"
    ));
    let mut synced = 0;
    let link = loop {
        let (status, _, page) = g.get(&url).await;
        assert_eq!(status, 200, "{page}");
        synced += page["value"].as_array().unwrap().len();
        match page["@odata.nextLink"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break page["@odata.deltaLink"].as_str().unwrap().to_owned(),
        }
    };
    assert_eq!(synced, items.len());
    let moved = meeting["id"].as_str().unwrap();
    let (status, _) = g
        .send(
            Method::PATCH,
            &format!("/v1.0/me/events/{moved}"),
            json!({ "subject": "Moved" }),
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, changes) = g.get(&link).await;
    let changes = changes["value"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(changes[0]["id"], moved);
    assert_eq!(changes[0]["subject"], "Moved");
}

#[tokio::test]
async fn mail_delta_returns_only_what_changed() {
    let g = graph("outlook").await;
    let mut url = g.url("/v1.0/me/mailFolders/inbox/messages/delta?$select=subject,isRead");
    let mut initial = Vec::new();
    let delta_link = loop {
        let (status, _, page) = g
            .call(
                Method::GET,
                &url,
                None,
                &g.token,
                &[("prefer", "odata.maxpagesize=25")],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        initial.extend(page["value"].as_array().unwrap().iter().cloned());
        if let Some(next) = page["@odata.nextLink"].as_str() {
            assert!(next.contains("%24skiptoken="));
            url = next.to_owned();
        } else {
            break page["@odata.deltaLink"].as_str().unwrap().to_owned();
        }
    };
    assert!(delta_link.contains("%24deltatoken="));
    let (_, _, counted) = g
        .get("/v1.0/me/mailFolders/inbox/messages?$count=true&$top=1")
        .await;
    assert_eq!(
        initial.len() as u64,
        counted["@odata.count"].as_u64().unwrap()
    );

    let (_, _, nothing) = g.get(&delta_link).await;
    assert_eq!(nothing["value"], json!([]), "no changes yet");

    let read = initial[0]["id"].as_str().unwrap();
    let gone = initial[1]["id"].as_str().unwrap();
    g.send(
        Method::PATCH,
        &format!("/v1.0/me/messages/{read}"),
        json!({ "isRead": true }),
    )
    .await;
    let created = g.admin("/records", json!({ "provider": "outlook", "object": "message", "op": "create", "fields": { "subject": "Fresh news" } })).await;
    g.admin(
        "/records",
        json!({ "provider": "outlook", "object": "message", "op": "delete", "id": gone }),
    )
    .await;
    // Sent mail is not in the inbox.
    g.send(Method::POST, "/v1.0/me/sendMail", json!({ "message": { "subject": "outbound", "toRecipients": [{ "emailAddress": { "address": "someone@else.example" } }] } })).await;

    let (status, _, changes) = g.get(&delta_link).await;
    assert_eq!(status, 200);
    let changes = changes["value"].as_array().unwrap();
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == read && c["isRead"] == true)
    );
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == created["id"] && c["subject"] == "Fresh news")
    );
    assert!(
        changes
            .iter()
            .any(|c| c["id"] == gone && c["@removed"]["reason"] == "deleted")
    );

    let (status, _, body) = g
        .get("/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=garbage")
        .await;
    assert_eq!(status, 410);
    assert_eq!(body["error"]["code"], "SyncStateNotFound");
}

/// A loopback notification endpoint: echoes validation tokens (when `echo`) and hands every
/// notification body to the test.
async fn notification_endpoint(
    echo: bool,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    use axum::{extract::Query, response::IntoResponse, routing::post};
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/graph",
        post(
            move |Query(q): Query<HashMap<String, String>>, body: axum::body::Bytes| {
                let tx = tx.clone();
                async move {
                    if let Some(token) = q.get("validationToken") {
                        let answer = if echo {
                            token.clone()
                        } else {
                            "nope".to_owned()
                        };
                        return ([("content-type", "text/plain")], answer).into_response();
                    }
                    let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
                    axum::http::StatusCode::ACCEPTED.into_response()
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/graph", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, rx)
}

async fn next_notification(rx: &mut tokio::sync::mpsc::UnboundedReceiver<Value>) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a notification within 10 s")
        .unwrap()
}

#[tokio::test]
async fn subscriptions_validate_the_endpoint_notify_with_client_state_and_expire() {
    let g = graph("outlook").await;
    let in_an_hour = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (silent, _) = notification_endpoint(false).await;
    let (status, body) = g
        .send(Method::POST, "/v1.0/subscriptions", json!({ "changeType": "created", "notificationUrl": silent, "resource": "me/mailFolders('inbox')/messages", "expirationDateTime": in_an_hour, "clientState": "s3cret" }))
        .await;
    assert_eq!(status, 400, "the endpoint did not echo the token");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("validation"),
        "{body}"
    );

    let (url, mut rx) = notification_endpoint(true).await;
    let too_long = (chrono::Utc::now() + chrono::Duration::days(8)).to_rfc3339();
    let (status, _) = g
        .send(Method::POST, "/v1.0/subscriptions", json!({ "changeType": "created", "notificationUrl": url, "resource": "me/messages", "expirationDateTime": too_long }))
        .await;
    assert_eq!(status, 400, "at most 10,080 minutes for messages");
    let (status, _) = g
        .send(Method::POST, "/v1.0/subscriptions", json!({ "changeType": "created", "notificationUrl": "http://example.com/hook", "resource": "me/messages", "expirationDateTime": in_an_hour }))
        .await;
    assert_eq!(status, 400, "the sandbox calls loopback hosts only");

    let (status, subscription) = g
        .send(Method::POST, "/v1.0/subscriptions", json!({ "changeType": "created,updated", "notificationUrl": url, "resource": "me/mailFolders('inbox')/messages", "expirationDateTime": in_an_hour, "clientState": "s3cret" }))
        .await;
    assert_eq!(status, 201, "{subscription}");
    let id = subscription["id"].as_str().unwrap().to_owned();
    assert_eq!(subscription["clientState"], "s3cret");
    assert_eq!(subscription["applicationId"], "sandbox-outlook-client");
    let (_, _, listed) = g.get("/v1.0/subscriptions").await;
    assert_eq!(listed["value"].as_array().unwrap().len(), 1);

    let created = g.admin("/records", json!({ "provider": "outlook", "object": "message", "op": "create", "fields": { "subject": "Ping" } })).await;
    let note = next_notification(&mut rx).await;
    let n = &note["value"][0];
    assert_eq!(n["subscriptionId"], id.as_str());
    assert_eq!(n["clientState"], "s3cret");
    assert_eq!(n["changeType"], "created");
    assert_eq!(n["tenantId"], nexus_sandbox::microsoft::TENANT_ID);
    assert_eq!(n["resourceData"]["id"], created["id"]);
    assert!(
        n["resourceData"]["@odata.type"].is_string() && n["resourceData"]["@odata.id"].is_string()
    );
    assert!(
        n["resource"]
            .as_str()
            .unwrap()
            .ends_with(created["id"].as_str().unwrap())
    );
    assert!(n["subscriptionExpirationDateTime"].is_string());

    g.send(
        Method::PATCH,
        &format!("/v1.0/me/messages/{}", created["id"].as_str().unwrap()),
        json!({ "isRead": true }),
    )
    .await;
    let note = next_notification(&mut rx).await;
    assert_eq!(note["value"][0]["changeType"], "updated");

    // Renewed, then left to expire: nothing more arrives, and the subscription is gone.
    let (status, renewed) = g.send(Method::PATCH, &format!("/v1.0/subscriptions/{id}"), json!({ "expirationDateTime": (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339() })).await;
    assert_eq!(status, 200, "{renewed}");
    g.admin("/clock", json!({ "advance_s": 7300 })).await;
    let fresh = g.token_for("outlook", "adalovelace0").await;
    let (status, _, _) = g
        .call(
            Method::GET,
            &format!("/v1.0/subscriptions/{id}"),
            None,
            &fresh,
            &[],
        )
        .await;
    assert_eq!(status, 404);
    g.admin("/records", json!({ "provider": "outlook", "object": "message", "op": "create", "fields": { "subject": "Unheard" } })).await;
    // A live subscription's notification arrives after the expired one would have.
    let later = (chrono::Utc::now() + chrono::Duration::seconds(7300 + 3600)).to_rfc3339();
    let (status, _, live) = g.call(Method::POST, "/v1.0/subscriptions", Some(json!({ "changeType": "created", "notificationUrl": url, "resource": "me/events", "expirationDateTime": later, "clientState": "live" })), &fresh, &[]).await;
    assert_eq!(status, 201, "{live}");
    g.admin("/records", json!({ "provider": "outlook", "object": "event", "op": "create", "fields": { "subject": "Heard", "start": { "dateTime": "2030-01-01T10:00:00", "timeZone": "UTC" }, "end": { "dateTime": "2030-01-01T11:00:00", "timeZone": "UTC" } } })).await;
    let note = next_notification(&mut rx).await;
    assert_eq!(
        note["value"][0]["clientState"], "live",
        "the expired subscription stayed silent"
    );
    let (status, _, _) = g
        .call(
            Method::DELETE,
            &format!("/v1.0/subscriptions/{}", live["id"].as_str().unwrap()),
            None,
            &fresh,
            &[],
        )
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn teams_from_joined_teams_to_channel_messages_replies_and_chats() {
    let g = graph("teams").await;
    g.admin("/limits", json!({ "provider": "teams", "enforce": false }))
        .await;
    let (status, _, joined) = g.get("/v1.0/me/joinedTeams").await;
    assert_eq!(status, 200);
    let teams = joined["value"].as_array().unwrap();
    assert_eq!(teams.len(), 4);
    assert!(teams[0]["displayName"].is_string() && teams[0]["tenantId"].is_string());
    let team = teams[0]["id"].as_str().unwrap();
    let (_, _, channels) = g.get(&format!("/v1.0/teams/{team}/channels")).await;
    let general = channels["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["displayName"] == "General")
        .unwrap();
    assert_eq!(general["membershipType"], "standard");
    let channel = urlencoding(general["id"].as_str().unwrap());
    let messages = format!("/v1.0/teams/{team}/channels/{channel}/messages");

    // Page through, with a new message posted between pages: nothing repeats, nothing is skipped.
    let (status, _, first) = g.get(&messages).await;
    assert_eq!(status, 200);
    let first_page = first["value"].as_array().unwrap().clone();
    assert_eq!(first_page.len(), 20);
    let (status, posted) = g
        .send(
            Method::POST,
            &messages,
            json!({ "body": { "contentType": "html", "content": "New <b>deal</b>" } }),
        )
        .await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(posted["messageType"], "message");
    assert_eq!(posted["body"]["contentType"], "html");
    assert_eq!(posted["channelIdentity"]["teamId"], team);
    assert_eq!(posted["from"]["user"]["userIdentityType"], "aadUser");
    assert!(posted["chatId"].is_null() && posted["replyToId"].is_null());
    let mut seen: Vec<Value> = first_page;
    let mut next = first["@odata.nextLink"].as_str().map(str::to_owned);
    assert!(next.as_deref().is_some_and(|n| n.contains("%24skiptoken=")));
    while let Some(url) = next {
        let (_, _, page) = g.get(&url).await;
        seen.extend(page["value"].as_array().unwrap().iter().cloned());
        next = page["@odata.nextLink"].as_str().map(str::to_owned);
    }
    let ids: HashSet<&str> = seen.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), seen.len(), "exactly once");
    assert_eq!(
        seen.len(),
        45,
        "every seeded top-level message, the new one being on no page already read"
    );
    assert!(seen.iter().all(|m| m["replyToId"].is_null()));

    let (_, _, fresh) = g.get(&format!("{messages}?$top=1")).await;
    assert_eq!(fresh["value"][0]["id"], posted["id"], "newest first");
    let (status, _, _) = g.get(&format!("{messages}?$top=51")).await;
    assert_eq!(status, 400);

    let author = &seen[0]["from"]["user"];
    let (status, _, user) = g
        .get(&format!("/v1.0/users/{}", author["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, 200);
    assert_eq!(user["displayName"], author["displayName"]);
    assert!(user["userPrincipalName"].as_str().unwrap().contains('@'));
    let (status, _, by_upn) = g
        .get(&format!(
            "/v1.0/users/{}",
            user["userPrincipalName"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(by_upn["id"], user["id"]);
    let (status, headers, body) = g.get("/v1.0/users/nobody@nowhere.example").await;
    assert_eq!(status, 404);
    assert_graph_error(&body, &headers, "ResourceNotFound");

    let parent = posted["id"].as_str().unwrap();
    let (status, reply) = g
        .send(
            Method::POST,
            &format!("{messages}/{parent}/replies"),
            json!({ "body": { "content": "On it" } }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(reply["replyToId"], parent);
    let (_, _, replies) = g.get(&format!("{messages}/{parent}/replies")).await;
    assert_eq!(replies["value"][0]["id"], reply["id"]);
    let mut seeded_replies = 0;
    for m in &seen {
        let (_, _, r) = g
            .get(&format!("{messages}/{}/replies", m["id"].as_str().unwrap()))
            .await;
        seeded_replies += r["value"].as_array().unwrap().len();
    }
    assert!(seeded_replies > 0, "some seeded messages have replies");
    let (status, headers, body) = g.get(&format!("{messages}/1/replies")).await;
    assert_eq!(status, 404);
    assert_graph_error(&body, &headers, "NotFound");
    let (status, _, _) = g
        .get(&format!(
            "/v1.0/teams/{}/channels",
            "00000000-0000-0000-0000-000000000000"
        ))
        .await;
    assert_eq!(status, 404);

    let (_, _, chats) = g.get("/v1.0/me/chats?$top=4").await;
    assert_eq!(chats["value"].as_array().unwrap().len(), 4);
    assert!(
        chats["@odata.nextLink"].is_string(),
        "several pages of chats"
    );
    let chat = &chats["value"][0];
    assert!(["oneOnOne", "group"].contains(&chat["chatType"].as_str().unwrap()));
    let chat_id = urlencoding(chat["id"].as_str().unwrap());
    let (status, _, history) = g.get(&format!("/v1.0/chats/{chat_id}/messages")).await;
    assert_eq!(status, 200);
    assert_eq!(history["value"][0]["chatId"], chat["id"]);
    assert!(history["value"][0]["channelIdentity"].is_null());
    let (status, said) = g
        .send(
            Method::POST,
            &format!("/v1.0/chats/{chat_id}/messages"),
            json!({ "body": { "content": "See you at 3" } }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(said["body"]["content"], "See you at 3");
    let (status, body) = g
        .send(
            Method::POST,
            &format!("/v1.0/chats/{chat_id}/messages"),
            json!({ "body": { "content": "" } }),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // Someone outside the chat cannot read it.
    let outsider = g.token_for("teams", "newhire").await;
    let (status, _, _) = g
        .call(
            Method::GET,
            &format!("/v1.0/chats/{chat_id}/messages"),
            None,
            &outsider,
            &[],
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn chat_subscriptions_and_faults_and_counters() {
    let g = graph("teams").await;
    g.admin("/limits", json!({ "provider": "teams", "enforce": false }))
        .await;
    let (_, _, chats) = g.get("/v1.0/me/chats").await;
    let chat = chats["value"][0]["id"].as_str().unwrap().to_owned();
    let (url, mut rx) = notification_endpoint(true).await;
    let (status, body) = g
        .send(Method::POST, "/v1.0/subscriptions", json!({ "changeType": "created", "notificationUrl": url, "resource": format!("/chats/{chat}/messages"), "expirationDateTime": (chrono::Utc::now() + chrono::Duration::minutes(61)).to_rfc3339() }))
        .await;
    assert_eq!(status, 400, "Teams messages: at most 60 minutes: {body}");
    let (status, subscription) = g
        .send(Method::POST, "/v1.0/subscriptions", json!({ "changeType": "created", "notificationUrl": url, "resource": format!("/chats/{chat}/messages"), "expirationDateTime": (chrono::Utc::now() + chrono::Duration::minutes(59)).to_rfc3339(), "clientState": "teams-state" }))
        .await;
    assert_eq!(status, 201, "{subscription}");
    let written = g.admin("/records", json!({ "provider": "teams", "object": "chatMessage", "op": "create", "fields": { "chatId": chat, "content": "from Teams" } })).await;
    let note = next_notification(&mut rx).await;
    assert_eq!(note["value"][0]["clientState"], "teams-state");
    assert_eq!(note["value"][0]["resourceData"]["id"], written["id"]);
    assert_eq!(
        note["value"][0]["resource"],
        format!(
            "chats('{chat}')/messages('{}')",
            written["id"].as_str().unwrap()
        )
    );

    g.admin("/faults", json!({ "provider": "teams", "path": "/microsoft/v1.0/me/chats", "status": 503, "retry_after": 3, "count": 1 })).await;
    let (status, headers, body) = g.get("/v1.0/me/chats").await;
    assert_eq!(status, 503);
    assert_graph_error(&body, &headers, "ServiceNotAvailable");
    assert_eq!(headers["retry-after"], "3");
    let (status, _, _) = g.get("/v1.0/me/chats").await;
    assert_eq!(status, 200);
    let counters: Value = g
        .client
        .get(format!("{}/_sandbox/counters", g.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chats = &counters["teams"]["GET /microsoft/v1.0/me/chats"];
    assert_eq!(chats["503"], 1, "{counters}");
    assert_eq!(chats["200"], 2, "{counters}");
    assert_eq!(
        counters["microsoft"]["POST /v1.0/subscriptions"]["201"], 1,
        "{counters}"
    );
}

#[tokio::test]
async fn outlook_allows_four_requests_in_flight_per_mailbox() {
    let g = graph("outlook").await;
    // A slow mailbox: every request takes a second, so five at once overlap.
    g.admin(
        "/faults",
        json!({ "provider": "outlook", "path": "/microsoft/v1.0/me/messages", "latency_ms": 1000, "error_rate": 0 }),
    )
    .await;
    let calls = (0..5).map(|_| g.get("/v1.0/me/messages?$top=1"));
    let answers = futures_util::future::join_all(calls).await;
    let refused: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 429).collect();
    assert_eq!(refused.len(), 1, "the fifth in flight is refused");
    assert_eq!(answers.iter().filter(|(s, _, _)| *s == 200).count(), 4);
    let (_, headers, body) = refused[0];
    assert_graph_error(body, headers, "ApplicationThrottled");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MailboxConcurrency")
    );
    assert_eq!(headers["retry-after"], "1");
    let (status, _, _) = g.get("/v1.0/me/messages?$top=1").await;
    assert_eq!(status, 200, "slots come back when requests end");
}
