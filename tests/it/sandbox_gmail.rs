//! The Gmail simulator against Gmail v1's documented wire format (shared/providers/
//! wire-formats.md §3): Google's shared OAuth, messages (list, search, get formats, send with
//! delivery to sandbox recipients, modify), history, quota, errors, Pub/Sub push, batch,
//! faults and counters.

use std::{collections::HashMap, time::Duration};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
};
use mail_parser::MessageParser;
use reqwest::{Client, Method, StatusCode, header::HeaderMap};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ME: &str = "sandbox.user@nexus.example";

pub struct Gmail {
    origin: String,
    token: String,
    client: Client,
}

pub async fn gmail() -> Gmail {
    let (origin, client, tokens) = crate::helpers::sandbox_with_tokens("gmail").await;
    assert_eq!(tokens["account"], ME, "the default sandbox user");
    Gmail {
        origin,
        token: tokens["access_token"].as_str().unwrap().to_owned(),
        client,
    }
}

impl Gmail {
    fn url(&self, path: &str) -> String {
        format!("{}/google{path}", self.origin)
    }

    async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut request = self
            .client
            .request(method, self.url(&format!("/gmail/v1/users/me{path}")))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let r = request.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (status, _, body) = self.call_as(&self.token, Method::GET, path, None).await;
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self
            .call_as(&self.token, Method::POST, path, Some(body))
            .await;
        (status, body)
    }

    async fn admin(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/_sandbox{path}", self.origin))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// An access token for another account, from the admin API.
    async fn token_for(&self, provider: &str, account: &str) -> String {
        let tokens: Value = self
            .admin(
                "/tokens",
                json!({ "provider": provider, "account": account }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(tokens["account"], account);
        tokens["access_token"].as_str().unwrap().to_owned()
    }
}

/// Google's error shape with the given code, reason and status.
fn assert_google_error(body: &Value, code: u16, reason: &str, status: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert_eq!(body["error"]["errors"][0]["reason"], reason, "{body}");
    assert_eq!(body["error"]["status"], status, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// A population person (a sandbox mailbox) other than the default user.
fn person(index: usize) -> String {
    nexus_sandbox::population::population().people[index]
        .email
        .clone()
}

#[tokio::test]
async fn google_oauth_offline_consent_refresh_and_revoke() {
    let g = gmail().await;
    let verifier = "dBjftJeZ4CVP-mJ92K9VS4FkddXZZ7f0DIP6Y9xkP40";
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    let consent = |client: &'static str, scope: &'static str, offline: bool| {
        let mut form = vec![
            ("client_id", client.to_owned()),
            ("redirect_uri", "http://127.0.0.1:9/cb".to_owned()),
            ("response_type", "code".to_owned()),
            ("scope", scope.to_owned()),
            ("state", "st-1".to_owned()),
            ("code_challenge", challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
            ("account", "Ann.Example@nexus.example".to_owned()),
            ("decision", "approve".to_owned()),
        ];
        if offline {
            form.push(("access_type", "offline".to_owned()));
            form.push(("prompt", "consent".to_owned()));
        }
        form
    };
    let page = g
        .client
        .get(g.url("/o/oauth2/v2/auth"))
        .query(&[
            ("client_id", "sandbox-gmail-client"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("scope", "https://www.googleapis.com/auth/gmail.readonly"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(ME));
    let unknown = g
        .client
        .get(g.url("/o/oauth2/v2/auth"))
        .query(&[
            ("client_id", "nope"),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);

    let code_of = |response: reqwest::Response| {
        assert_eq!(response.status(), 303);
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let params: HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "st-1");
        params["code"].clone()
    };
    let exchange = |client: &'static str, code: String| {
        let slug = client
            .trim_start_matches("sandbox-")
            .trim_end_matches("-client");
        g.client.post(g.url("/token")).form(&[
            ("grant_type", "authorization_code".to_owned()),
            ("client_id", client.to_owned()),
            ("client_secret", format!("sandbox-{slug}-secret")),
            ("redirect_uri", "http://127.0.0.1:9/cb".to_owned()),
            ("code", code),
            ("code_verifier", verifier.to_owned()),
        ])
    };

    // Offline access: a refresh token; the scope is echoed space-separated.
    let scopes =
        "https://www.googleapis.com/auth/gmail.readonly https://www.googleapis.com/auth/gmail.send";
    let approve = g
        .client
        .post(g.url("/o/oauth2/v2/auth"))
        .form(&consent("sandbox-gmail-client", scopes, true))
        .send()
        .await
        .unwrap();
    let code = code_of(approve);
    let tokens: Value = exchange("sandbox-gmail-client", code.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3599);
    assert_eq!(tokens["scope"], scopes);
    assert!(
        tokens["access_token"]
            .as_str()
            .unwrap()
            .starts_with("ya29.")
    );
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let again = exchange("sandbox-gmail-client", code).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "a code is good once"
    );

    // tokeninfo tells the client, scopes and lifetime.
    let info: Value = g
        .client
        .get(g.url("/oauth2/v3/tokeninfo"))
        .query(&[("access_token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["aud"], "sandbox-gmail-client");
    assert_eq!(info["scope"], scopes);
    let left: i64 = info["expires_in"].as_str().unwrap().parse().unwrap();
    assert!((3500..=3599).contains(&left), "{left}");
    let bad = g
        .client
        .get(g.url("/oauth2/v3/tokeninfo"))
        .query(&[("access_token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_token");

    // The token is the consented account's.
    let access = tokens["access_token"].as_str().unwrap();
    let (status, _, profile) = g.call_as(access, Method::GET, "/profile", None).await;
    assert_eq!(status, 200);
    assert_eq!(profile["emailAddress"], "ann.example@nexus.example");
    // gmail.readonly does not reach Calendar: Google's insufficient-scope 403.
    let calendar = g
        .client
        .get(g.url("/calendar/v3/users/me/calendarList"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(calendar.status(), 403);
    assert!(
        calendar.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let body: Value = calendar.json().await.unwrap();
    assert_google_error(&body, 403, "insufficientPermissions", "PERMISSION_DENIED");

    // gmail.metadata alone: lists and headers, but no `q` and no bodies (Gmail's own 403s).
    let approve = g
        .client
        .post(g.url("/o/oauth2/v2/auth"))
        .form(&consent(
            "sandbox-gmail-client",
            "https://www.googleapis.com/auth/gmail.metadata",
            false,
        ))
        .send()
        .await
        .unwrap();
    let metadata: Value = exchange("sandbox-gmail-client", code_of(approve))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let metadata = metadata["access_token"].as_str().unwrap();
    let (status, _, list) = g
        .call_as(metadata, Method::GET, "/messages?maxResults=1", None)
        .await;
    assert_eq!(status, 200);
    let id = list["messages"][0]["id"].as_str().unwrap();
    let (status, _, _) = g
        .call_as(
            metadata,
            Method::GET,
            &format!("/messages/{id}?format=metadata"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = g
        .call_as(
            metadata,
            Method::GET,
            &format!("/messages/{id}?format=raw"),
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "Metadata scope doesn't allow format RAW"
    );
    let (status, _, body) = g
        .call_as(metadata, Method::GET, "/messages?q=is:unread", None)
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error"]["message"],
        "Metadata scope does not support 'q' parameter"
    );
    let (status, _, _) = g
        .call_as(
            metadata,
            Method::POST,
            "/messages/send",
            Some(json!({ "raw": "" })),
        )
        .await;
    assert_eq!(status, 403, "metadata does not send");

    // Online access (no access_type): no refresh token. The Calendar client is accepted too.
    let approve = g
        .client
        .post(g.url("/o/oauth2/v2/auth"))
        .form(&consent(
            "sandbox-google_calendar-client",
            "https://www.googleapis.com/auth/calendar",
            false,
        ))
        .send()
        .await
        .unwrap();
    let online: Value = exchange("sandbox-google_calendar-client", code_of(approve))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(online["access_token"].is_string());
    assert!(online.get("refresh_token").is_none(), "{online}");
    // A Calendar token does not read mail.
    let (status, headers, body) = g
        .call_as(
            online["access_token"].as_str().unwrap(),
            Method::GET,
            "/messages",
            None,
        )
        .await;
    assert_eq!(status, 403);
    assert!(headers.contains_key("www-authenticate"));
    assert_google_error(&body, 403, "insufficientPermissions", "PERMISSION_DENIED");

    // Refresh: a new access token, no new refresh token (they do not rotate).
    let refreshed = g
        .client
        .post(g.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-gmail-client"),
            ("client_secret", "sandbox-gmail-secret"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert!(refreshed.get("refresh_token").is_none());
    assert_ne!(refreshed["access_token"], tokens["access_token"]);

    let bad_secret = g
        .client
        .post(g.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-gmail-client"),
            ("client_secret", "wrong"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_secret.status(), 401);
    assert_eq!(
        bad_secret.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    // Revocation kills the refresh token and its access tokens.
    let revoked = g
        .client
        .post(g.url("/revoke"))
        .form(&[("token", refresh.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _, _) = g
        .call_as(
            refreshed["access_token"].as_str().unwrap(),
            Method::GET,
            "/profile",
            None,
        )
        .await;
    assert_eq!(status, 401);
    let dead = g
        .client
        .post(g.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "sandbox-gmail-client"),
            ("client_secret", "sandbox-gmail-secret"),
            ("refresh_token", refresh.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(dead.status(), 400);
    assert_eq!(
        dead.json::<Value>().await.unwrap(),
        json!({ "error": "invalid_grant", "error_description": "Token has been expired or revoked." })
    );
    let unknown = g
        .client
        .post(g.url("/revoke"))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn list_pages_searches_and_gets_in_every_format() {
    let g = gmail().await;
    let (status, first) = g.get("/messages").await;
    assert_eq!(status, 200);
    let total = first["resultSizeEstimate"].as_u64().unwrap();
    assert!(total > 300, "several pages of seeded mail: {total}");
    assert_eq!(
        first["messages"].as_array().unwrap().len(),
        100,
        "maxResults defaults to 100"
    );
    let token = first["nextPageToken"].as_str().unwrap();
    let (_, second) = g.get(&format!("/messages?pageToken={token}")).await;
    assert_ne!(second["messages"][0]["id"], first["messages"][0]["id"]);
    let mut seen: Vec<String> = Vec::new();
    let mut page_token: Option<String> = None;
    loop {
        let path = match &page_token {
            Some(t) => format!("/messages?maxResults=500&pageToken={t}"),
            None => "/messages?maxResults=60".to_owned(),
        };
        let (_, page) = g.get(&path).await;
        seen.extend(
            page["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap().to_owned()),
        );
        match page["nextPageToken"].as_str() {
            Some(t) => page_token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, total);
    seen.dedup();
    assert_eq!(seen.len() as u64, total, "no message twice");

    // Search: unread in the inbox, from a correspondent, by subject, by date.
    let (_, unread) = g.get("/messages?q=is:unread&labelIds=INBOX").await;
    let unread_ids: Vec<&Value> = unread["messages"].as_array().unwrap().iter().collect();
    assert!(!unread_ids.is_empty());
    let first_id = unread_ids[0]["id"].as_str().unwrap();
    let (status, full) = g.get(&format!("/messages/{first_id}")).await;
    assert_eq!(status, 200);
    assert!(
        full["labelIds"]
            .as_array()
            .unwrap()
            .contains(&json!("UNREAD"))
    );
    let header = |m: &Value, name: &str| {
        m["payload"]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .map(|h| h["value"].as_str().unwrap().to_owned())
    };
    let from = header(&full, "From").unwrap();
    let address = from
        .rsplit('<')
        .next()
        .unwrap()
        .trim_end_matches('>')
        .to_owned();
    let (_, from_them) = g.get(&format!("/messages?q=from:{address}")).await;
    assert!(
        from_them["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == first_id)
    );
    let (_, by_subject) = g.get("/messages?q=subject:%22pricing%20proposal%22").await;
    assert!(by_subject["resultSizeEstimate"].as_u64().unwrap() > 0);
    let (_, none) = g.get("/messages?q=subject:no-such-subject-anywhere").await;
    assert_eq!(none["resultSizeEstimate"], 0);
    assert!(
        none.get("messages").is_none(),
        "messages is omitted when empty"
    );
    // The seeded mail spans the last 120 days: split it two months back.
    let split = (chrono::Utc::now() - chrono::Duration::days(60)).format("%Y/%m/%d");
    let (_, early) = g
        .get(&format!("/messages?q=before:{split}&maxResults=500"))
        .await;
    let (_, late) = g
        .get(&format!("/messages?q=after:{split}&maxResults=500"))
        .await;
    assert_eq!(
        early["resultSizeEstimate"].as_u64().unwrap()
            + late["resultSizeEstimate"].as_u64().unwrap(),
        total
    );

    // Formats: full has a payload tree, metadata only the asked headers, minimal none, raw the RFC 2822.
    assert_eq!(full["payload"]["mimeType"], "multipart/alternative");
    assert_eq!(full["payload"]["parts"][0]["mimeType"], "text/plain");
    assert!(full["historyId"].is_string() && full["internalDate"].is_string());
    let text = URL_SAFE
        .decode(
            full["payload"]["parts"][0]["body"]["data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert!(String::from_utf8(text).unwrap().starts_with("Hi "));
    let (_, metadata) = g
        .get(&format!(
            "/messages/{first_id}?format=metadata&metadataHeaders=From&metadataHeaders=Subject"
        ))
        .await;
    let names: Vec<&str> = metadata["payload"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"From") && names.contains(&"Subject"));
    let (_, minimal) = g.get(&format!("/messages/{first_id}?format=minimal")).await;
    assert!(minimal.get("payload").is_none());
    assert_eq!(minimal["snippet"], full["snippet"]);
    let (_, raw) = g.get(&format!("/messages/{first_id}?format=raw")).await;
    let bytes = URL_SAFE.decode(raw["raw"].as_str().unwrap()).unwrap();
    let parsed = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(
        parsed.from().unwrap().first().unwrap().address.as_deref(),
        Some(address.as_str())
    );
    assert_eq!(raw["sizeEstimate"].as_u64().unwrap() as usize, bytes.len());

    let (status, threads) = g.get("/threads?q=is:unread&maxResults=5").await;
    assert_eq!(status, 200);
    let thread_ids: Vec<&str> = threads["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(
        thread_ids.contains(&full["threadId"].as_str().unwrap())
            || threads["nextPageToken"].is_string()
    );
    let mut unique = thread_ids.clone();
    unique.dedup();
    assert_eq!(unique.len(), thread_ids.len());
    let (_, first_threads) = g.get("/threads").await;
    assert_eq!(
        first_threads["threads"].as_array().unwrap().len(),
        100,
        "several pages of threads"
    );
    assert!(first_threads["nextPageToken"].is_string());
    let (_, all_threads) = g.get("/threads?maxResults=500").await;
    assert!(
        all_threads["resultSizeEstimate"].as_u64().unwrap() < total,
        "threads group messages"
    );

    let (status, labels) = g.get("/labels").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = labels["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    for id in ["INBOX", "SENT", "UNREAD", "STARRED", "TRASH", "Label_1"] {
        assert!(ids.contains(&id), "{id}");
    }
    let (_, inbox) = g.get("/labels/INBOX").await;
    assert!(inbox["messagesUnread"].as_u64().unwrap() > 0);
}

fn raw_message(headers: &[(&str, &str)], body: &str) -> String {
    let mut text: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    text.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    text.push_str(body);
    URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn a_sent_message_lands_in_the_recipients_mailbox_and_replies_thread() {
    let g = gmail().await;
    g.admin("/limits", json!({ "provider": "gmail", "enforce": false }))
        .await;
    let (bob, carol, dave) = (person(3), person(4), person(5));
    let raw = raw_message(
        &[
            ("From", &format!("Sandbox User <{ME}>")),
            ("To", &format!("Bob <{bob}>")),
            ("Cc", &carol),
            ("Bcc", &dave),
            ("Subject", "=?UTF-8?B?R3LDvMOfZSBhdXMgWsO8cmljaA==?="),
            ("Message-ID", "<first-1@nexus.example>"),
        ],
        "Caf=C3=A9 at 10?\r\n",
    );
    let (status, sent) = g.post("/messages/send", json!({ "raw": raw })).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["labelIds"], json!(["SENT"]));
    let sent_id = sent["id"].as_str().unwrap();
    let (_, mine) = g.get(&format!("/messages/{sent_id}?format=minimal")).await;
    assert_eq!(mine["labelIds"], json!(["SENT"]));

    // Bob's mailbox (a population person): INBOX, UNREAD, the same Message-ID, no Bcc.
    let bob_token = g.token_for("gmail", &bob).await;
    let (status, _, found) = g
        .call_as(
            &bob_token,
            Method::GET,
            "/messages?q=from:sandbox.user@nexus.example%20is:unread",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let id = found["messages"][0]["id"].as_str().unwrap().to_owned();
    let (_, _, copy) = g
        .call_as(
            &bob_token,
            Method::GET,
            &format!("/messages/{id}?format=raw"),
            None,
        )
        .await;
    let labels = copy["labelIds"].as_array().unwrap();
    assert!(
        labels.contains(&json!("INBOX")) && labels.contains(&json!("UNREAD")),
        "{labels:?}"
    );
    let bytes = URL_SAFE.decode(copy["raw"].as_str().unwrap()).unwrap();
    let parsed = MessageParser::default().parse(&bytes).unwrap();
    assert_eq!(parsed.message_id(), Some("first-1@nexus.example"));
    assert_eq!(
        parsed.subject(),
        Some("Grüße aus Zürich"),
        "RFC 2047 subject survives"
    );
    assert_eq!(
        parsed.body_text(0).unwrap().trim(),
        "Café at 10?",
        "quoted-printable body survives"
    );
    assert_eq!(
        parsed.to().unwrap().first().unwrap().address.as_deref(),
        Some(bob.as_str())
    );
    assert!(parsed.bcc().is_none(), "Bcc is not delivered");
    assert!(
        parsed
            .header_raw("Delivered-To")
            .is_some_and(|d| d.trim() == bob)
    );
    // Cc and Bcc recipients got it too.
    for rcpt in [&carol, &dave] {
        let token = g.token_for("gmail", rcpt).await;
        let (_, _, list) = g
            .call_as(
                &token,
                Method::GET,
                "/messages?q=from:sandbox.user@nexus.example%20label:unread",
                None,
            )
            .await;
        assert_eq!(list["resultSizeEstimate"], 1, "{rcpt}");
    }

    // Bob replies in the thread: In-Reply-To/References; it threads on both sides.
    let (_, _, original) = g
        .call_as(
            &bob_token,
            Method::GET,
            &format!("/messages/{id}?format=minimal"),
            None,
        )
        .await;
    let reply = raw_message(
        &[
            ("From", &bob),
            ("To", ME),
            ("Subject", "Re: Grüße aus Zürich"),
            ("In-Reply-To", "<first-1@nexus.example>"),
            ("References", "<first-1@nexus.example>"),
        ],
        "Yes=\r\n, see you.\r\n",
    );
    let (status, _, replied) = g
        .call_as(
            &bob_token,
            Method::POST,
            "/messages/send",
            Some(json!({ "raw": reply, "threadId": original["threadId"] })),
        )
        .await;
    assert_eq!(status, 200, "{replied}");
    assert_eq!(replied["threadId"], original["threadId"]);
    let (_, thread) = g
        .get(&format!(
            "/threads/{}?format=metadata",
            sent["threadId"].as_str().unwrap()
        ))
        .await;
    let messages = thread["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "the reply joined the sender's thread");
    let reply_headers = messages[1]["payload"]["headers"].as_array().unwrap();
    assert!(
        reply_headers
            .iter()
            .any(|h| h["name"] == "In-Reply-To" && h["value"] == "<first-1@nexus.example>")
    );
    assert!(
        reply_headers.iter().any(|h| h["name"] == "Message-ID"),
        "Gmail adds a Message-ID"
    );

    // An attachment travels as a part of its own, fetched by its attachmentId.
    let pdf = b"%PDF-1.4 sandbox\x00\x01";
    let mixed = format!(
        "From: {ME}\r\nTo: {bob}\r\nSubject: Proposal\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n\
         --mix\r\nContent-Type: text/plain; charset=\"UTF-8\"\r\n\r\nSee attached.\r\n\
         --mix\r\nContent-Type: application/pdf; name=\"proposal.pdf\"\r\nContent-Disposition: attachment; filename=\"proposal.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--mix--\r\n",
        STANDARD.encode(pdf)
    );
    let (status, sent_pdf) = g
        .post("/messages/send", json!({ "raw": URL_SAFE.encode(mixed) }))
        .await;
    assert_eq!(status, 200);
    let (_, full) = g
        .get(&format!("/messages/{}", sent_pdf["id"].as_str().unwrap()))
        .await;
    assert_eq!(full["payload"]["mimeType"], "multipart/mixed");
    let part = &full["payload"]["parts"][1];
    assert_eq!(part["filename"], "proposal.pdf");
    assert_eq!(part["mimeType"], "application/pdf");
    assert_eq!(part["body"]["size"], pdf.len());
    let attachment_id = part["body"]["attachmentId"].as_str().unwrap();
    let (status, fetched) = g
        .get(&format!(
            "/messages/{}/attachments/{attachment_id}",
            sent_pdf["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(
        URL_SAFE.decode(fetched["data"].as_str().unwrap()).unwrap(),
        pdf
    );
    let (status, _) = g
        .get(&format!(
            "/messages/{}/attachments/nope",
            sent_pdf["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 400);

    // Mail to oneself: one copy, in the inbox and sent.
    let to_me = raw_message(&[("To", ME), ("Subject", "Note to self")], "remember");
    let (status, note) = g.post("/messages/send", json!({ "raw": to_me })).await;
    assert_eq!(status, 200);
    assert_eq!(note["labelIds"], json!(["UNREAD", "SENT", "INBOX"]));

    // Bad input: no recipient, not base64, no raw.
    let (status, body) = g
        .post(
            "/messages/send",
            json!({ "raw": raw_message(&[("Subject", "x")], "x") }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Recipient address required");
    let (status, body) = g.post("/messages/send", json!({})).await;
    assert_eq!(status, 400);
    assert_google_error(&body, 400, "invalidArgument", "INVALID_ARGUMENT");
    let (status, _) = g.post("/messages/send", json!({ "raw": "***" })).await;
    assert_eq!(status, 400);
    let (status, body) = g
        .post(
            "/messages/send",
            json!({ "raw": raw, "threadId": "ffff0000ffff0000" }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn modify_and_history_and_a_too_old_start() {
    let g = gmail().await;
    let (_, profile) = g.get("/profile").await;
    let start = profile["historyId"].as_str().unwrap().to_owned();
    let (_, list) = g.get("/messages?labelIds=INBOX&maxResults=1").await;
    let id = list["messages"][0]["id"].as_str().unwrap().to_owned();
    let (status, modified) = g
        .post(
            &format!("/messages/{id}/modify"),
            json!({ "addLabelIds": ["STARRED", "Label_2"], "removeLabelIds": ["INBOX"] }),
        )
        .await;
    assert_eq!(status, 200);
    let labels = modified["labelIds"].as_array().unwrap();
    assert!(labels.contains(&json!("STARRED")) && !labels.contains(&json!("INBOX")));
    let (status, body) = g
        .post(
            &format!("/messages/{id}/modify"),
            json!({ "addLabelIds": ["NO_SUCH"] }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["message"], "Invalid label: NO_SUCH");

    let (status, history) = g.get(&format!("/history?startHistoryId={start}")).await;
    assert_eq!(status, 200, "{history}");
    let records = history["history"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{history}");
    assert_eq!(
        records[0]["labelsAdded"][0]["labelIds"],
        json!(["STARRED", "Label_2"])
    );
    assert_eq!(records[1]["labelsRemoved"][0]["labelIds"], json!(["INBOX"]));
    assert_eq!(records[1]["messages"][0]["id"], id.as_str());
    let ids: Vec<u64> = records
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids[0] < ids[1], "ascending history ids");
    assert_eq!(history["historyId"].as_str().unwrap(), ids[1].to_string());
    let (_, only_removed) = g
        .get(&format!(
            "/history?startHistoryId={start}&historyTypes=labelRemoved"
        ))
        .await;
    assert_eq!(only_removed["history"].as_array().unwrap().len(), 1);
    let (_, nothing_new) = g.get(&format!("/history?startHistoryId={}", ids[1])).await;
    assert!(nothing_new.get("history").is_none());

    let (status, body) = g.get("/history?startHistoryId=1").await;
    assert_eq!(status, 404, "a too-old startHistoryId");
    assert_google_error(&body, 404, "notFound", "NOT_FOUND");
    let (status, _) = g.get("/history").await;
    assert_eq!(status, 400);
    let (status, _) = g
        .get(&format!(
            "/history?startHistoryId={start}&historyTypes=everything"
        ))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn errors_in_googles_shape() {
    let g = gmail().await;
    let (status, body) = g.get("/messages/0123456789abcdef").await;
    assert_eq!(status, 404);
    assert_google_error(&body, 404, "notFound", "NOT_FOUND");
    let (status, body) = g.get("/messages/not-an-id").await;
    assert_eq!(status, 400);
    assert_google_error(&body, 400, "invalid", "INVALID_ARGUMENT");
    let (status, body) = g.get("/messages?maxResults=lots").await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["errors"][0]["location"], "maxResults");
    let (status, _) = g.get("/messages?format=html").await;
    assert_eq!(status, 200, "list ignores format");
    let (_, list) = g.get("/messages?maxResults=1").await;
    let id = list["messages"][0]["id"].as_str().unwrap();
    let (status, _) = g.get(&format!("/messages/{id}?format=html")).await;
    assert_eq!(status, 400);
    let r = g
        .client
        .get(g.url("/gmail/v1/users/someone@else.example/messages"))
        .bearer_auth(&g.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Permanent deletion needs https://mail.google.com/, which the gateway does not ask for.
    let (status, _, body) = g
        .call_as(&g.token, Method::DELETE, &format!("/messages/{id}"), None)
        .await;
    assert_eq!(status, 403);
    assert_google_error(&body, 403, "insufficientPermissions", "PERMISSION_DENIED");

    for token in ["", "ya29.unknown"] {
        let (status, headers, body) = g.call_as(token, Method::GET, "/messages", None).await;
        assert_eq!(status, 401);
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer realm=\"https://accounts.google.com/\"")
        );
        assert_google_error(&body, 401, "authError", "UNAUTHENTICATED");
        assert_eq!(body["error"]["errors"][0]["location"], "Authorization");
    }
    // Revoking one connection leaves the other.
    let gmail_token = g.token_for("gmail", ME).await;
    let calendar_token = g.token_for("google_calendar", ME).await;
    let revoked: Value = g
        .admin("/revoke", json!({ "provider": "google_calendar" }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);
    let r = g
        .client
        .get(g.url("/calendar/v3/users/me/calendarList"))
        .bearer_auth(&calendar_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let (status, _, _) = g.call_as(&gmail_token, Method::GET, "/labels", None).await;
    assert_eq!(status, 200);
    // An hour on the sandbox clock expires the token.
    g.admin("/clock", json!({ "advance_s": 3599 })).await;
    let (status, _) = g.get("/labels").await;
    assert_eq!(status, 401);
    // Expiring `google` expires both connections' tokens.
    let gmail_token = g.token_for("gmail", ME).await;
    let calendar_token = g.token_for("google_calendar", ME).await;
    let expired: Value = g
        .admin("/expire-tokens", json!({ "provider": "google" }))
        .await
        .json()
        .await
        .unwrap();
    assert!(expired["expired"].as_u64().unwrap() >= 2);
    let (status, _, _) = g.call_as(&gmail_token, Method::GET, "/labels", None).await;
    assert_eq!(status, 401);
    let r = g
        .client
        .get(g.url("/calendar/v3/users/me/calendarList"))
        .bearer_auth(&calendar_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn per_user_quota_units_answer_429_and_can_be_switched_off() {
    let g = gmail().await;
    let send = |n: usize| {
        let raw = raw_message(
            &[
                ("To", "someone@external.example"),
                ("Subject", &format!("n{n}")),
            ],
            "hi",
        );
        g.post("/messages/send", json!({ "raw": raw }))
    };
    // The mailbox is seeded on first use; seed it before the second that counts.
    assert_eq!(g.get("/profile").await.0, 200);
    g.admin("/clock", json!({ "advance_s": 1.0 })).await;
    // Two sends (200 units) fit in the second; a third (100 more) does not, while a 5-unit
    // read still does (refused calls cost nothing).
    assert_eq!(send(1).await.0, 200);
    assert_eq!(send(2).await.0, 200);
    let (status, body) = send(3).await;
    assert_eq!(status, 429, "{body}");
    assert_google_error(&body, 429, "rateLimitExceeded", "RESOURCE_EXHAUSTED");
    assert_eq!(body["error"]["errors"][0]["domain"], "usageLimits");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("User-rate limit exceeded.  Retry after ")
    );
    assert_eq!(g.get("/messages?maxResults=1").await.0, 200);
    let (status, _) = g
        .post("/watch", json!({ "topicName": "projects/p/topics/t" }))
        .await;
    assert_eq!(status, 429, "watch costs 100 too");

    g.admin("/clock", json!({ "advance_s": 1.0 })).await;
    assert_eq!(send(4).await.0, 200, "the window rolled on");
    let off = g
        .admin("/limits", json!({ "provider": "gmail", "enforce": false }))
        .await;
    assert_eq!(off.status(), 204);
    for n in 5..9 {
        assert_eq!(send(n).await.0, 200);
    }
    // A second user has a quota of their own.
    g.admin("/limits", json!({ "provider": "gmail", "enforce": true }))
        .await;
    assert_eq!(send(9).await.0, 200, "unenforced calls spent nothing");
    assert_eq!(send(10).await.0, 429);
    let other = g.token_for("gmail", &person(7)).await;
    let (status, _, _) = g.call_as(&other, Method::GET, "/messages", None).await;
    assert_eq!(status, 200);
}

/// The JWKS the sandbox publishes, as a verifier would fetch it.
async fn jwks(g: &Gmail) -> jsonwebtoken::jwk::JwkSet {
    g.client
        .get(g.url("/oauth2/v3/certs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn verify(
    token: &str,
    keys: &jsonwebtoken::jwk::JwkSet,
    audience: &str,
) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::decode_header(token)?;
    let jwk = keys
        .find(header.kid.as_deref().unwrap_or_default())
        .expect("the kid is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["https://accounts.google.com", "accounts.google.com"]);
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
}

#[tokio::test]
async fn watch_pushes_pubsub_envelopes_with_a_verifiable_jwt() {
    let g = gmail().await;
    g.admin("/limits", json!({ "provider": "gmail", "enforce": false }))
        .await;
    let (url, mut rx) = crate::helpers::webhook_receiver().await;
    let registered = g
        .admin("/webhooks", json!({ "provider": "gmail", "url": url }))
        .await;
    assert_eq!(registered.status(), 204);
    let (status, body) = g
        .post("/watch", json!({ "topicName": "not a topic" }))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, watch) = g.post("/watch", json!({ "topicName": "projects/nexus-sandbox/topics/gmail", "labelIds": ["INBOX"], "labelFilterBehavior": "INCLUDE" })).await;
    assert_eq!(status, 200, "{watch}");
    assert!(watch["historyId"].is_string());
    let expiration: i64 = watch["expiration"].as_str().unwrap().parse().unwrap();
    assert!(expiration > chrono::Utc::now().timestamp_millis() + 6 * 86_400_000);

    let delivered = g.admin("/records", json!({ "provider": "gmail", "object": "messages", "op": "deliver", "fields": { "from": person(9), "subject": "Pushed", "text": "ping" } })).await;
    assert_eq!(delivered.status(), 201);
    let (headers, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    let envelope: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        envelope["subscription"],
        "projects/nexus-sandbox/subscriptions/gmail-push"
    );
    let data: Value = serde_json::from_slice(
        &STANDARD
            .decode(envelope["message"]["data"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(data["emailAddress"], ME);
    let pushed_history = data["historyId"].as_str().unwrap().to_owned();
    assert!(envelope["message"]["messageId"].is_string());
    assert!(
        chrono::DateTime::parse_from_rfc3339(envelope["message"]["publishTime"].as_str().unwrap())
            .is_ok()
    );

    let bearer = headers["authorization"]
        .to_str()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap()
        .to_owned();
    let keys = jwks(&g).await;
    let claims = verify(&bearer, &keys, &url).unwrap();
    assert_eq!(
        claims["email"],
        "pubsub-push@nexus-sandbox.iam.gserviceaccount.com"
    );
    assert_eq!(claims["email_verified"], true);
    // A tampered token (another audience in the payload, the old signature) does not verify.
    let parts: Vec<&str> = bearer.split('.').collect();
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    payload["aud"] = json!("http://127.0.0.1:1/elsewhere");
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert!(verify(&forged, &keys, "http://127.0.0.1:1/elsewhere").is_err());
    assert!(
        verify(&bearer, &keys, "http://127.0.0.1:1/elsewhere").is_err(),
        "the audience is checked"
    );

    // The pushed history id leads to the new message.
    let (_, history) = g
        .get(&format!(
            "/history?startHistoryId={}&historyTypes=messageAdded",
            watch["historyId"].as_str().unwrap()
        ))
        .await;
    assert_eq!(history["historyId"], pushed_history.as_str());
    assert_eq!(history["history"].as_array().unwrap().len(), 1);

    // A send from another sandbox user to this one pushes too; after stop, nothing more.
    let other = g.token_for("gmail", &person(11)).await;
    let raw = raw_message(
        &[("From", &person(11)), ("To", ME), ("Subject", "Hi")],
        "hello",
    );
    let (status, _, _) = g
        .call_as(
            &other,
            Method::POST,
            "/messages/send",
            Some(json!({ "raw": raw })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(serde_json::from_slice::<Value>(&body).is_ok());
    let (status, _, _) = g.call_as(&g.token, Method::POST, "/stop", None).await;
    assert_eq!(status, 204);
    g.admin("/records", json!({ "provider": "gmail", "object": "messages", "op": "deliver", "fields": { "subject": "Unwatched" } })).await;
    // A label change outside the watched label is not pushed either; nothing arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn faults_and_counters_cover_gmail_and_the_oauth_server() {
    let g = gmail().await;
    let fault = g.admin("/faults", json!({ "provider": "gmail", "path": "/google/gmail/v1/users/me/labels", "status": 503, "count": 1 })).await;
    assert_eq!(fault.status(), 204);
    let (status, body) = g.get("/labels").await;
    assert_eq!(status, 503);
    assert_google_error(&body, 503, "backendError", "UNAVAILABLE");
    assert_eq!(g.get("/labels").await.0, 200, "count 1");
    let token_fault = g
        .admin(
            "/faults",
            json!({ "provider": "google", "path": "/token", "status": 500, "count": 1 }),
        )
        .await;
    assert_eq!(token_fault.status(), 204);
    let r = g
        .client
        .post(g.url("/token"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);

    let counters: Value = g
        .client
        .get(format!("{}/_sandbox/counters", g.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        counters["gmail"]["GET /google/gmail/v1/users/{userId}/labels"]["503"],
        1
    );
    assert_eq!(
        counters["gmail"]["GET /google/gmail/v1/users/{userId}/labels"]["200"],
        1
    );
    assert_eq!(counters["google"]["POST /token"]["500"], 1);
}

/// A batch body: one `application/http` part per (Content-ID, request text).
fn batch_body(boundary: &str, parts: &[(String, String)]) -> String {
    let mut body = String::new();
    for (id, request) in parts {
        body.push_str(&format!("--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{id}>\r\n\r\n{request}\r\n"));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body
}

/// The parts of a multipart/mixed answer: (Content-ID, HTTP status, JSON body).
fn batch_answer(content_type: &str, body: &[u8]) -> Vec<(String, u16, Value)> {
    let wrapped = [
        format!("Content-Type: {content_type}\r\n\r\n").as_bytes(),
        body,
    ]
    .concat();
    let message = MessageParser::default().parse(&wrapped).unwrap();
    let mail_parser::PartType::Multipart(children) = &message.root_part().body else {
        panic!("not multipart");
    };
    children
        .iter()
        .map(|i| {
            let part = &message.parts[*i as usize];
            assert_eq!(
                mail_parser::MimeHeaders::content_type(part)
                    .unwrap()
                    .ctype(),
                "application"
            );
            let id = mail_parser::MimeHeaders::content_id(part)
                .unwrap_or_default()
                .to_owned();
            let text = String::from_utf8_lossy(part.contents()).into_owned();
            let status: u16 = text.split_whitespace().nth(1).unwrap().parse().unwrap();
            assert!(text.starts_with("HTTP/1.1 "), "{text}");
            let json = text
                .split_once("\r\n\r\n")
                .map(|(_, b)| serde_json::from_str(b.trim()).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            (id, status, json)
        })
        .collect()
}

#[tokio::test]
async fn batch_runs_each_part_as_its_own_call_with_its_own_quota() {
    let g = gmail().await;
    let (_, list) = g.get("/messages?maxResults=2").await;
    let (a, b) = (
        list["messages"][0]["id"].as_str().unwrap(),
        list["messages"][1]["id"].as_str().unwrap(),
    );
    let parts = vec![
        (
            "item1".to_owned(),
            format!(
                "GET /gmail/v1/users/me/messages/{a}?format=metadata&metadataHeaders=Subject HTTP/1.1"
            ),
        ),
        (
            "item2".to_owned(),
            format!(
                "POST /gmail/v1/users/me/messages/{b}/modify HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{{\"addLabelIds\":[\"STARRED\"]}}"
            ),
        ),
        (
            "item3".to_owned(),
            "GET /gmail/v1/users/me/messages/0000000000000001 HTTP/1.1".to_owned(),
        ),
    ];
    let r = g
        .client
        .post(g.url("/batch/gmail/v1"))
        .bearer_auth(&g.token)
        .header("content-type", "multipart/mixed; boundary=batch_x")
        .body(batch_body("batch_x", &parts))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("multipart/mixed; boundary="));
    let answers = batch_answer(&content_type, &r.bytes().await.unwrap());
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].0, "response-item1");
    assert_eq!(answers[0].1, 200);
    assert_eq!(answers[0].2["id"], a);
    assert_eq!(answers[0].2["payload"]["headers"][0]["name"], "Subject");
    assert_eq!(answers[1].1, 200);
    assert!(
        answers[1].2["labelIds"]
            .as_array()
            .unwrap()
            .contains(&json!("STARRED"))
    );
    assert_eq!(answers[2].0, "response-item3");
    assert_eq!(answers[2].1, 404);
    assert_eq!(answers[2].2["error"]["errors"][0]["reason"], "notFound");

    // Each part spends its own units: 60 gets are 300 units, over the 250 a second allows.
    g.admin("/clock", json!({ "advance_s": 1.0 })).await;
    let many: Vec<(String, String)> = (0..60)
        .map(|i| {
            (
                format!("g{i}"),
                format!("GET /gmail/v1/users/me/messages/{a}?format=minimal HTTP/1.1"),
            )
        })
        .collect();
    let r = g
        .client
        .post(g.url("/batch/gmail/v1"))
        .bearer_auth(&g.token)
        .header("content-type", "multipart/mixed; boundary=batch_y")
        .body(batch_body("batch_y", &many))
        .send()
        .await
        .unwrap();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    let answers = batch_answer(&content_type, &r.bytes().await.unwrap());
    assert_eq!(answers.iter().filter(|a| a.1 == 200).count(), 50);
    let refused = answers.iter().find(|a| a.1 == 429).unwrap();
    assert_eq!(
        refused.2["error"]["errors"][0]["reason"],
        "rateLimitExceeded"
    );

    let too_many: Vec<(String, String)> = (0..101)
        .map(|i| {
            (
                format!("t{i}"),
                "GET /gmail/v1/users/me/labels HTTP/1.1".to_owned(),
            )
        })
        .collect();
    let r = g
        .client
        .post(g.url("/batch/gmail/v1"))
        .bearer_auth(&g.token)
        .header("content-type", "multipart/mixed; boundary=batch_z")
        .body(batch_body("batch_z", &too_many))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = g
        .client
        .post(g.url("/batch/gmail/v1"))
        .bearer_auth(&g.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let counters: Value = g
        .client
        .get(format!("{}/_sandbox/counters", g.origin))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["gmail"]["POST /google/batch/gmail/v1"]["200"], 2);
    assert_eq!(
        counters["gmail"]["GET /google/gmail/v1/users/{userId}/messages/{id}"]["429"],
        10
    );
}
