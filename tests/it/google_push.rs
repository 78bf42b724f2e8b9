//! Google push notifications into the change stream, against the sandbox, with polling off:
//! connecting Gmail makes the gateway watch the mailbox (`users.watch` to the configured Pub/Sub
//! topic), and the sandbox's Pub/Sub pushes each mailbox change to `/webhooks/gmail` with its
//! signed token; connecting Google Calendar opens a channel whose notifications come to
//! `/webhooks/google_calendar`. Each push, once verified, syncs its connection early, and a
//! `changes` subscriber sees the change. Forged pushes are refused and store nothing; watches
//! and channels are renewed before they expire and stopped on disconnect.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{TestApp, change_in_sandbox, eventually, from_the_start, stored},
    subscriber::Subscriber,
};

const SUBSCRIBE: &str = "subscription($after: String, $types: [String!]) {
  changes(after: $after, types: $types) { cursor op provider type remoteId }
}";

const TOPIC: &str = "projects/nexus-test/topics/gmail";

/// The sandbox's signing key (its JWKS at `/google/oauth2/v3/certs` publishes the public half).
const SANDBOX_KEY: &str = include_str!("../../crates/nexus-sandbox/src/google/signing-key.pem");

/// An RSA key that is not the sandbox's.
const OTHER_KEY: &str = include_str!("../fixtures/jwt/rs256-private.pem");

/// A gateway pointed at the sandbox, watching Gmail through `TOPIC` and opening Calendar
/// channels, with polling off.
async fn gateway() -> (TestApp, String) {
    let mut sandbox_origin = String::new();
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(0);
        let gmail = settings.providers.get_mut("gmail").unwrap();
        let base = gmail.base_url.clone().unwrap();
        sandbox_origin = base.trim_end_matches("/google").to_owned();
        gmail.pubsub_topic = Some(TOPIC.into());
        gmail.certs_url = Some(format!("{sandbox_origin}/google/oauth2/v3/certs"));
        gmail.push_service_account = Some("pubsub-push@nexus-test.iam.gserviceaccount.com".into());
        settings.providers.get_mut("google_calendar").unwrap().push = Some(true);
    })
    .await;
    assert_eq!(sandbox, sandbox_origin);
    (app, sandbox)
}

async fn connect(app: &TestApp, provider: &str) {
    let back = consent(&connect_link(app, provider, None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "{provider} connects");
}

/// Registers the gateway's Gmail endpoint as the sandbox topic's push subscription.
async fn push_to_gateway(app: &TestApp, sandbox: &str) {
    let response = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/webhooks"))
        .json(&json!({ "provider": "gmail", "url": app.url("/webhooks/gmail") }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
}

/// Successful calls the sandbox answered on routes ending with `route` (any Google part).
async fn calls(sandbox: &str, method: &str, route: &str) -> u64 {
    let counters = crate::crm::counters(sandbox).await;
    let mut total = 0;
    for routes in counters.as_object().into_iter().flat_map(|o| o.values()) {
        for (name, by_status) in routes.as_object().into_iter().flatten() {
            if name.starts_with(method) && name.ends_with(route) {
                total += ["200", "204"]
                    .iter()
                    .filter_map(|s| by_status[*s].as_u64())
                    .sum::<u64>();
            }
        }
    }
    total
}

/// Waits until the sandbox has answered `at_least` calls on `route`.
async fn until_calls(sandbox: &str, method: &str, route: &str, at_least: u64) {
    eventually(
        &format!("{at_least} calls to {method} {route}"),
        Duration::from_secs(15),
        async || (calls(sandbox, method, route).await >= at_least).then_some(()),
    )
    .await
}

/// The registrations the gateway holds, by provider.
async fn held(
    app: &TestApp,
    provider: &str,
) -> Vec<nexus::store::entities::provider_subscriptions::Model> {
    use nexus::store::entities::provider_subscriptions as row;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    row::Entity::find()
        .filter(row::Column::Provider.eq(provider))
        .all(&app.db)
        .await
        .unwrap()
}

/// The registrations held of `provider` once `ready` holds of them: the gateway stores a
/// registration after the provider has answered, so a test that saw the call waits for the row.
async fn held_when(
    app: &TestApp,
    provider: &str,
    ready: impl Fn(&[nexus::store::entities::provider_subscriptions::Model]) -> bool,
) -> Vec<nexus::store::entities::provider_subscriptions::Model> {
    eventually(
        &format!("the {provider} registrations awaited"),
        Duration::from_secs(15),
        async || Some(held(app, provider).await).filter(|rows| ready(rows)),
    )
    .await
}

async fn deliver_mail(sandbox: &str, subject: &str) -> String {
    let message = change_in_sandbox(
        sandbox,
        json!({ "provider": "gmail", "object": "messages", "op": "deliver",
                "fields": { "from": "ada@acme.test", "subject": subject, "text": "hi" } }),
    )
    .await;
    message["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_gmail_push_brings_the_new_message_to_a_subscriber() {
    let (app, sandbox) = gateway().await;
    push_to_gateway(&app, &sandbox).await;
    connect(&app, "GMAIL").await;
    until_calls(&sandbox, "POST", "/watch", 1).await;
    let watches = held_when(&app, "gmail", |r| !r.is_empty()).await;
    assert_eq!(watches.len(), 1);
    assert_eq!(watches[0].resource, "sandbox.user@nexus.example");

    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "types": ["Email"] }),
    )
    .await;
    let id = deliver_mail(&sandbox, "Pushed").await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["provider"], &got["type"], &got["op"], &got["remoteId"]),
        (
            &json!("GMAIL"),
            &json!("Email"),
            &json!("CREATED"),
            &json!(id)
        ),
        "{got}"
    );
    subscriber.close().await;
}

/// A push envelope as Pub/Sub sends it.
fn envelope(message_id: &str, history_id: u64) -> Value {
    use base64::Engine;
    let data = json!({ "emailAddress": "sandbox.user@nexus.example", "historyId": history_id });
    json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data.to_string()),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": "2026-11-26T12:00:00.000Z",
        },
        "subscription": "projects/nexus-test/subscriptions/gmail-push",
    })
}

/// A push token with these claims, signed by `key` under the sandbox key's id.
async fn token(sandbox: &str, key: &EncodingKey, claims: Value) -> String {
    let certs: Value = reqwest::get(format!("{sandbox}/google/oauth2/v3/certs"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = certs["keys"][0]["kid"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

async fn push(app: &TestApp, bearer: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(app.url("/webhooks/gmail"))
        .json(body);
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn forged_gmail_pushes_are_refused_and_a_repeated_one_is_taken_once() {
    let (app, sandbox) = gateway().await;
    // No push subscription at the sandbox: only this test's pushes reach the gateway.
    connect(&app, "GMAIL").await;
    until_calls(&sandbox, "POST", "/watch", 1).await;
    let id = deliver_mail(&sandbox, "Waiting for a push").await;

    let sandbox_key = EncodingKey::from_rsa_pem(SANDBOX_KEY.as_bytes()).unwrap();
    let now = chrono::Utc::now().timestamp();
    let audience = app.url("/webhooks/gmail");
    let claims = |aud: &str, exp: i64, email: &str| {
        json!({ "iss": "https://accounts.google.com", "aud": aud, "exp": exp, "iat": exp - 3600,
                "email": email, "email_verified": true, "sub": "1" })
    };
    let account = "pubsub-push@nexus-test.iam.gserviceaccount.com";
    // Another RSA key (the suite's own JWT fixture), signing as if it were Google's, and under
    // a key id of its own.
    let other_key = EncodingKey::from_rsa_pem(OTHER_KEY.as_bytes()).unwrap();
    let unpublished = {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some("not-googles".into());
        jsonwebtoken::encode(&header, &claims(&audience, now + 3600, account), &other_key).unwrap()
    };
    let genuine = token(
        &sandbox,
        &sandbox_key,
        claims(&audience, now + 3600, account),
    )
    .await;
    // The genuine token with its payload changed keeps a signature that no longer matches.
    let tampered = {
        use base64::Engine;
        let parts: Vec<&str> = genuine.split('.').collect();
        let other = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(claims("https://elsewhere.example/push", now + 3600, account).to_string());
        format!("{}.{other}.{}", parts[0], parts[2])
    };
    let forged = [
        ("no token", None),
        (
            "another audience",
            Some(
                token(
                    &sandbox,
                    &sandbox_key,
                    claims("https://elsewhere.example/push", now + 3600, account),
                )
                .await,
            ),
        ),
        (
            "expired",
            Some(
                token(
                    &sandbox,
                    &sandbox_key,
                    claims(&audience, now - 600, account),
                )
                .await,
            ),
        ),
        (
            "another service account",
            Some(
                token(
                    &sandbox,
                    &sandbox_key,
                    claims(&audience, now + 3600, "mallory@evil.example"),
                )
                .await,
            ),
        ),
        ("a signature that does not match", Some(tampered)),
        (
            "another key under Google's key id",
            Some(token(&sandbox, &other_key, claims(&audience, now + 3600, account)).await),
        ),
        ("a key Google does not publish", Some(unpublished)),
        ("not a JWT", Some("abc.def.ghi".to_owned())),
    ];
    for (why, bearer) in &forged {
        let (status, body) = push(&app, bearer.as_deref(), &envelope("m-1", 99)).await;
        assert_eq!(status, 401, "{why}: {body}");
    }
    // Had any been taken, its early sync would have stored the waiting message once it ended.
    app.until_idle(nexus::changes::sync::nudge::TASK).await;
    assert!(stored(&app).await.is_empty(), "nothing stored");

    let (status, body) = push(&app, Some(&genuine), &envelope("m-1", 99)).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(false)), "{body}");
    let nodes = eventually(
        "the pushed message stored",
        Duration::from_secs(10),
        async || Some(stored(&app).await).filter(|nodes| !nodes.is_empty()),
    )
    .await;
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(
        (&nodes[0]["type"], &nodes[0]["op"], &nodes[0]["remoteId"]),
        (&json!("Email"), &json!("CREATED"), &json!(id))
    );
    let (status, body) = push(&app, Some(&genuine), &envelope("m-1", 99)).await;
    assert_eq!((status, &body["duplicate"]), (200, &json!(true)), "{body}");

    // Not a Pub/Sub envelope: 400.
    let (status, _) = push(&app, Some(&genuine), &json!({ "nope": true })).await;
    assert_eq!(status, 400);
}

async fn notify_calendar(app: &TestApp, channel: &str, token: &str, state: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url("/webhooks/google_calendar"))
        .header("x-goog-channel-id", channel)
        .header("x-goog-channel-token", token)
        .header("x-goog-resource-state", state)
        .header("x-goog-message-number", "7")
        .header("x-goog-resource-id", "r")
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_calendar_notification_brings_the_new_event_and_wrong_tokens_are_refused() {
    let (app, sandbox) = gateway().await;
    connect(&app, "GOOGLE_CALENDAR").await;
    until_calls(&sandbox, "POST", "/events/watch", 1).await;
    let channels = held_when(&app, "google_calendar", |r| !r.is_empty()).await;
    assert_eq!(channels.len(), 1);

    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "types": ["Event"] }),
    )
    .await;
    let event = change_in_sandbox(
        &sandbox,
        json!({ "provider": "google_calendar", "object": "events", "op": "create", "fields": {
            "summary": "Pushed",
            "start": { "dateTime": "2031-03-04T10:00:00Z" },
            "end": { "dateTime": "2031-03-04T11:00:00Z" } } }),
    )
    .await;
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (&got["provider"], &got["type"], &got["op"], &got["remoteId"]),
        (
            &json!("GOOGLE_CALENDAR"),
            &json!("Event"),
            &json!("CREATED"),
            &event["id"]
        ),
        "{got}"
    );
    subscriber.close().await;

    let before = stored(&app).await.len();
    let channel = channels[0].remote_id.as_str();
    for (channel, token) in [(channel, "forged"), ("not-ours", "forged"), (channel, "")] {
        let (status, body) = notify_calendar(&app, channel, token, "exists").await;
        assert_eq!(status, 401, "{body}");
    }
    let response = reqwest::Client::new()
        .post(app.url("/webhooks/google_calendar"))
        .header("x-goog-channel-id", channel)
        .header("x-goog-resource-state", "exists")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "no token");
    assert_eq!(stored(&app).await.len(), before, "nothing stored");
}

/// Brings every stored registration's expiry to within a minute, as if its lifetime had passed
/// at the gateway (whose clock the test cannot move).
async fn expiring_soon(app: &TestApp) {
    use nexus::store::entities::provider_subscriptions as row;
    use sea_orm::{EntityTrait, sea_query::Expr};
    let soon = chrono::Utc::now() + chrono::Duration::minutes(1);
    let updated = row::Entity::update_many()
        .col_expr(row::Column::ExpiresAt, Expr::value(soon))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(updated.rows_affected, 2);
}

async fn disconnect(app: &TestApp, provider: &str) {
    let (status, body) = app
        .graphql(
            &format!("mutation {{ disconnectProvider(provider: {provider}) }}"),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, &body["data"]["disconnectProvider"]),
        (200, &json!(true)),
        "{body}"
    );
}

#[tokio::test]
async fn watches_and_channels_are_renewed_before_expiry_and_stopped_on_disconnect() {
    let (app, sandbox) = gateway().await;
    connect(&app, "GMAIL").await;
    connect(&app, "GOOGLE_CALENDAR").await;
    until_calls(&sandbox, "POST", "/watch", 1).await;
    until_calls(&sandbox, "POST", "/events/watch", 1).await;
    let old_channel = held_when(&app, "google_calendar", |r| !r.is_empty()).await;
    assert_eq!(old_channel.len(), 1);
    assert_eq!(held_when(&app, "gmail", |r| !r.is_empty()).await.len(), 1);

    expiring_soon(&app).await;
    // Connecting again runs the keep-alive pass now rather than at its next tick.
    connect(&app, "GMAIL").await;
    until_calls(&sandbox, "POST", "/gmail/v1/users/{userId}/watch", 2).await;
    until_calls(&sandbox, "POST", "/events/watch", 2).await;
    until_calls(&sandbox, "POST", "/channels/stop", 1).await;
    let renewed = |rows: &[nexus::store::entities::provider_subscriptions::Model]| {
        rows.iter()
            .any(|r| r.expires_at > chrono::Utc::now() + chrono::Duration::days(6))
    };
    let watch = held_when(&app, "gmail", renewed).await;
    assert_eq!(watch.len(), 1, "watched again, not twice");
    assert!(watch[0].expires_at > chrono::Utc::now() + chrono::Duration::days(6));
    let old_id = old_channel[0].remote_id.clone();
    let channel = held_when(&app, "google_calendar", |r| {
        r.len() == 1 && r[0].remote_id != old_id
    })
    .await;
    assert_eq!(channel.len(), 1, "the old channel is gone: {channel:?}");
    assert_ne!(
        channel[0].remote_id, old_channel[0].remote_id,
        "a new channel"
    );
    assert!(channel[0].expires_at > chrono::Utc::now() + chrono::Duration::days(6));

    disconnect(&app, "GMAIL").await;
    assert_eq!(
        calls(&sandbox, "POST", "/gmail/v1/users/{userId}/stop").await,
        1
    );
    assert!(held(&app, "gmail").await.is_empty());
    disconnect(&app, "GOOGLE_CALENDAR").await;
    assert_eq!(calls(&sandbox, "POST", "/channels/stop").await, 2);
    assert!(held(&app, "google_calendar").await.is_empty());
}

#[tokio::test]
async fn a_burst_of_gmail_pushes_costs_fewer_sync_passes_than_pushes() {
    let (app, sandbox) = gateway().await;
    connect(&app, "GMAIL").await;
    until_calls(&sandbox, "POST", "/watch", 1).await;
    let id = deliver_mail(&sandbox, "One change, many pushes").await;
    let sandbox_key = EncodingKey::from_rsa_pem(SANDBOX_KEY.as_bytes()).unwrap();
    let claims = json!({ "iss": "https://accounts.google.com", "aud": app.url("/webhooks/gmail"),
        "exp": chrono::Utc::now().timestamp() + 3600,
        "email": "pubsub-push@nexus-test.iam.gserviceaccount.com", "email_verified": true });
    let bearer = token(&sandbox, &sandbox_key, claims).await;
    let before = calls(&sandbox, "GET", "/history").await;
    const PUSHES: usize = 10;
    let pushes = (0..PUSHES).map(|i| {
        let (app, bearer) = (&app, &bearer);
        async move { push(app, Some(bearer), &envelope(&format!("burst-{i}"), 99)).await }
    });
    for (status, body) in futures_util::future::join_all(pushes).await {
        assert_eq!(status, 200, "{body}");
    }
    let nodes = eventually(
        "the pushed message stored",
        Duration::from_secs(10),
        async || Some(stored(&app).await).filter(|nodes| !nodes.is_empty()),
    )
    .await;
    // Let any pass still scheduled run before counting.
    app.until_idle(nexus::changes::sync::nudge::TASK).await;
    let nodes_after = stored(&app).await;
    assert_eq!(nodes_after.len(), 1, "the message once: {nodes_after:?}");
    assert_eq!(nodes[0]["remoteId"], json!(id));
    let passes = calls(&sandbox, "GET", "/history").await - before;
    eprintln!("{PUSHES} pushes in a burst: {passes} history.list passes");
    assert!(
        (1..PUSHES as u64).contains(&passes),
        "{passes} passes for {PUSHES} pushes"
    );
}

#[tokio::test]
async fn a_hubspot_delivery_syncs_its_connection_early() {
    let (app, sandbox) = gateway().await;
    connect(&app, "HUBSPOT").await;
    // A first pass loads the account (a webhook never starts a bulk load on its own).
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer
        .targets(Some(nexus::providers::Provider::Hubspot), None)
        .await
        .unwrap();
    for report in syncer.connection(targets[0], &|_, _| {}).await {
        report.unwrap();
    }
    // A change no webhook tells of (the sandbox has no webhook target registered).
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405",
                "fields": { "firstname": "Unannounced" } }),
    )
    .await;
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        "subscription($after: String) {
           changes(after: $after, providers: [HUBSPOT], ops: [UPDATED]) { op remoteId data }
         }",
        json!({ "after": from_the_start() }),
    )
    .await;
    // A delivery about another contact: stored, and the connection synced early.
    let body = r#"[{"eventId":77,"subscriptionId":1,"portalId":62515001,"occurredAt":1700000000000,"subscriptionType":"contact.propertyChange","objectId":401,"propertyName":"lastname","propertyValue":"Told"}]"#;
    let url = app.url("/webhooks/hubspot");
    let secret = nexus_sandbox::App::for_provider("hubspot").client_secret;
    let mut request = app.client.post(&url).body(body);
    for (name, value) in nexus_sandbox::hubspot::signature_headers(
        &secret,
        &url,
        body,
        chrono::Utc::now().timestamp_millis(),
    ) {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 200);
    loop {
        let change = subscriber.next().await["data"]["changes"].clone();
        if change["remoteId"] == "405" {
            assert_eq!(change["data"]["properties"]["firstname"], "Unannounced");
            break;
        }
    }
    subscriber.close().await;
}

/// Reaching back before mail's synced window, so that the list is read live and kept in the mail
/// cache for five minutes.
const MAIL_LIST: &str = "query($p: [Provider!]) { emails(first: 5, providers: $p, maxAge: 300, \
     filter: { after: \"2020-01-01T00:00:00Z\" }) { nodes { remoteId source } } }";

/// The mail list of `provider` (ids and sources), read twice so that the second answer is the
/// cached page.
pub async fn cached_mail_list(app: &TestApp, provider: &str) {
    let variables = json!({ "p": [provider] });
    let (_, first) = app.graphql(MAIL_LIST, variables.clone()).await;
    assert!(first["errors"].is_null(), "{first}");
    let (_, cached) = app.graphql(MAIL_LIST, variables).await;
    let nodes = cached["data"]["emails"]["nodes"].as_array().unwrap();
    assert!(
        !nodes.is_empty() && nodes.iter().all(|n| n["source"] == "CACHED"),
        "the page is kept: {cached}"
    );
}

/// After a delivery for `provider`'s mailbox, the list is read again: it holds `id`, live.
pub async fn mail_list_holds(app: &TestApp, provider: &str, id: &str) {
    let (_, after) = app.graphql(MAIL_LIST, json!({ "p": [provider] })).await;
    let nodes = after["data"]["emails"]["nodes"].as_array().unwrap();
    assert!(
        nodes.iter().any(|n| n["remoteId"] == id) && nodes.iter().all(|n| n["source"] == "LIVE"),
        "not the page kept from before the delivery: {after}"
    );
}

#[tokio::test]
async fn a_gmail_push_drops_the_mailbox_cached_lists() {
    let (app, sandbox) = gateway().await;
    push_to_gateway(&app, &sandbox).await;
    connect(&app, "GMAIL").await;
    until_calls(&sandbox, "POST", "/watch", 1).await;
    held_when(&app, "gmail", |r| !r.is_empty()).await;
    cached_mail_list(&app, "GMAIL").await;

    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "types": ["Email"] }),
    )
    .await;
    let id = deliver_mail(&sandbox, "Past the cache").await;
    // The push has been taken in once the sync it nudged logs the message.
    let got = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(got["remoteId"], id, "{got}");
    subscriber.close().await;
    mail_list_holds(&app, "GMAIL", &id).await;
}
