//! The change log end to end: Stripe deliveries from the sandbox's sender verified and stored
//! once, refused when tampered with or stale, served to subscribers over graphql-transport-ws
//! from the live tail or from a cursor, and paged by `query { changes }`.

use chrono::Utc;
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox_with},
    helpers::{
        TestApp, change_in_sandbox, eventually, first_code, from_the_start, spawn_app_with,
        test_settings,
    },
    subscriber::Subscriber,
};

const SECRET: &str = "whsec_nexus_test_secret";

const SUBSCRIBE: &str = "subscription($after: String, $types: [String!]) {
  changes(after: $after, types: $types) { cursor op provider type remoteId data occurredAt }
}";

const PAGE: &str = "query($after: String, $first: Int) {
  changes(after: $after, first: $first) {
    pageInfo { hasNextPage endCursor }
    nodes { cursor op provider type remoteId }
  }
}";

/// An app that takes Stripe webhooks for its own project ("acme").
async fn app() -> TestApp {
    let mut settings = test_settings();
    settings.changes.default_project = Some("acme".into());
    settings
        .providers
        .entry("stripe".into())
        .or_default()
        .webhook_secret = Some(SECRET.to_owned().into());
    spawn_app_with(settings).await
}

fn event(id: &str, kind: &str, object: Value) -> String {
    json!({
        "id": id, "object": "event", "api_version": "2024-06-20", "created": Utc::now().timestamp(),
        "type": kind, "livemode": false, "data": { "object": object },
    })
    .to_string()
}

/// POSTs `body` to `/webhooks/stripe`, signed at `timestamp` with `secret`.
async fn deliver(app: &TestApp, body: &str, secret: &str, timestamp: i64) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header(
            "stripe-signature",
            nexus_sandbox::stripe::signature(secret, timestamp, body),
        )
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn page(app: &TestApp, after: Option<&str>, first: i32) -> Value {
    let (status, body) = app
        .graphql(PAGE, json!({ "after": after, "first": first }))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn the_sandbox_senders_stripe_events_reach_a_subscriber() {
    let app = app().await;
    let sandbox = nexus_sandbox::start(([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let origin = sandbox.origin();
    let http = reqwest::Client::new();
    let registered = http
        .post(format!("{origin}/_sandbox/webhooks"))
        .json(
            &json!({ "provider": "stripe", "url": app.url("/webhooks/stripe"), "secret": SECRET }),
        )
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success());
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    // The subscription starts at the live tail once the server has it; a first event proves that.
    let mut sent = Vec::new();
    for kind in ["customer.created", "invoice.paid"] {
        let event: Value = http
            .post(format!("{origin}/_sandbox/stripe/events"))
            .json(&json!({ "type": kind }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        sent.push(event);
        let got = subscriber.next().await;
        let change = &got["data"]["changes"];
        let event = sent.last().unwrap();
        assert_eq!(change["provider"], "STRIPE");
        assert_eq!(change["remoteId"], event["data"]["object"]["id"]);
        assert_eq!(
            change["data"]["id"], event["id"],
            "the payload is the event"
        );
        if kind == "customer.created" {
            assert_eq!(
                (change["op"].as_str(), change["type"].as_str()),
                (Some("CREATED"), Some("Contact"))
            );
        } else {
            assert_eq!(
                (change["op"].as_str(), change["type"].as_str()),
                (Some("UPDATED"), Some("stripe:invoice.paid"))
            );
        }
    }
    subscriber.close().await;
}

#[tokio::test]
async fn tampered_stale_and_unsigned_deliveries_are_refused_and_repeats_stored_once() {
    let app = app().await;
    let body = event(
        "evt_once",
        "customer.updated",
        json!({ "id": "cus_1", "object": "customer" }),
    );
    let now = Utc::now().timestamp();
    let tampered = body.replace("cus_1", "cus_2");
    let refused = [
        deliver(&app, &body, "whsec_someone_else", now).await,
        deliver(&app, &body, SECRET, now - 301).await,
    ];
    for (status, answer) in refused {
        assert_eq!(status, 400, "{answer}");
    }
    let signed_for_other_body = nexus_sandbox::stripe::signature(SECRET, now, &body);
    let response = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signed_for_other_body)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let unsigned = app
        .client
        .post(app.url("/webhooks/stripe"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 400);
    assert_eq!(
        page(&app, None, 10).await["data"]["changes"]["nodes"],
        json!([]),
        "nothing stored"
    );

    assert_eq!(
        deliver(&app, &body, SECRET, now).await,
        (200, json!({ "received": true, "duplicate": false }))
    );
    assert_eq!(
        deliver(&app, &body, SECRET, now + 1).await,
        (200, json!({ "received": true, "duplicate": true }))
    );
    let nodes = page(&app, None, 10).await["data"]["changes"]["nodes"].clone();
    assert_eq!(nodes.as_array().unwrap().len(), 1, "{nodes}");
    assert_eq!(nodes[0]["remoteId"], "cus_1");
}

#[tokio::test]
async fn a_subscriber_resuming_from_its_cursor_gets_exactly_the_changes_it_missed() {
    let app = app().await;
    let now = Utc::now().timestamp();
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    let first = event(
        "evt_first",
        "customer.created",
        json!({ "id": "cus_first" }),
    );
    assert_eq!(deliver(&app, &first, SECRET, now).await.0, 200);
    let seen = subscriber.next().await;
    assert_eq!(seen["data"]["changes"]["remoteId"], "cus_first", "{seen}");
    let seen = seen["data"]["changes"].clone();
    let cursor = seen["cursor"].as_str().unwrap().to_owned();
    subscriber.close().await;

    let missed: Vec<String> = (0..1000).map(|i| format!("cus_{i:04}")).collect();
    for (i, id) in missed.iter().enumerate() {
        let body = event(&format!("evt_{i}"), "customer.updated", json!({ "id": id }));
        assert_eq!(deliver(&app, &body, SECRET, now).await.0, 200);
    }

    let mut subscriber =
        Subscriber::start(&app, &app.key, SUBSCRIBE, json!({ "after": cursor })).await;
    let mut received = Vec::new();
    let mut cursors = Vec::new();
    while received.len() < missed.len() {
        let change = subscriber.next().await["data"]["changes"].clone();
        received.push(change["remoteId"].as_str().unwrap().to_owned());
        cursors.push(change["cursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(received, missed, "every missed change, once, in order");
    // Live again: the next change follows the replay with nothing in between.
    let live = event("evt_live", "customer.deleted", json!({ "id": "cus_live" }));
    assert_eq!(deliver(&app, &live, SECRET, now).await.0, 200);
    assert_eq!(
        subscriber.next().await["data"]["changes"]["remoteId"],
        "cus_live"
    );
    subscriber.close().await;

    // The query pages the same log in the same order.
    let body = page(&app, Some(&cursor), 100).await;
    let nodes = body["data"]["changes"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100);
    assert_eq!(nodes[0]["cursor"].as_str().unwrap(), cursors[0]);
    assert_eq!(body["data"]["changes"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn a_subscriber_that_reads_too_slowly_is_told_so_and_resumes_from_its_cursor() {
    let mut settings = test_settings();
    settings.changes.default_project = Some("acme".into());
    settings.changes.subscriber_max_lag = 100;
    settings
        .providers
        .entry("stripe".into())
        .or_default()
        .webhook_secret = Some(SECRET.to_owned().into());
    let app = spawn_app_with(settings).await;
    let now = Utc::now().timestamp();
    let mut subscriber = Subscriber::start_narrow(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    let first = event(
        "evt_first",
        "customer.created",
        json!({ "id": "cus_first" }),
    );
    assert_eq!(deliver(&app, &first, SECRET, now).await.0, 200);
    assert_eq!(
        subscriber.next().await["data"]["changes"]["remoteId"],
        "cus_first"
    );

    // The subscriber stops reading while 1,500 changes of 8 KB each happen: far more than the
    // sockets between it and the gateway hold.
    let padding = "x".repeat(8 * 1024);
    let happened: Vec<String> = (0..1500).map(|i| format!("cus_{i:04}")).collect();
    for (i, id) in happened.iter().enumerate() {
        let body = event(
            &format!("evt_{i}"),
            "customer.updated",
            json!({ "id": id, "description": padding }),
        );
        assert_eq!(deliver(&app, &body, SECRET, now).await.0, 200);
    }

    // It reads again: what was already on its way, then word that it fell behind, with the
    // cursor of the last change it got, and the end of the subscription.
    let mut received = Vec::new();
    let told = loop {
        let message = subscriber.message().await;
        assert_eq!(message["type"], "next", "{message}");
        if let Some(error) = message["payload"]["errors"].get(0) {
            break error.clone();
        }
        let change = &message["payload"]["data"]["changes"];
        received.push(change["remoteId"].as_str().unwrap().to_owned());
    };
    assert_eq!(told["extensions"]["code"], "SUBSCRIBER_BEHIND", "{told}");
    assert!(
        told["extensions"]["behind"].as_i64().unwrap() > 100,
        "{told}"
    );
    assert!(received.len() < happened.len(), "told before the end");
    assert_eq!(subscriber.message().await["type"], "complete");
    subscriber.close().await;

    // Resuming from that cursor delivers the rest: every change once, in order.
    let cursor = told["extensions"]["cursor"].as_str().unwrap();
    let mut subscriber =
        Subscriber::start(&app, &app.key, SUBSCRIBE, json!({ "after": cursor })).await;
    while received.len() < happened.len() {
        let change = subscriber.next().await["data"]["changes"].clone();
        received.push(change["remoteId"].as_str().unwrap().to_owned());
    }
    assert_eq!(received, happened, "every change once, in order");
    subscriber.close().await;
}

#[tokio::test]
async fn subscribers_see_only_their_projects_and_the_types_they_ask_for() {
    let app = app().await;
    let other = app.key_for("globex", "hank@globex.test").await;
    let now = Utc::now().timestamp();
    let mut invoices = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start(), "types": ["stripe:invoice.paid"] }),
    )
    .await;
    let mut everything = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    let customer = event("evt_c", "customer.created", json!({ "id": "cus_c" }));
    let invoice = event("evt_i", "invoice.paid", json!({ "id": "in_i" }));
    assert_eq!(deliver(&app, &customer, SECRET, now).await.0, 200);
    assert_eq!(deliver(&app, &invoice, SECRET, now).await.0, 200);
    assert_eq!(
        everything.next().await["data"]["changes"]["remoteId"],
        "cus_c"
    );
    assert_eq!(
        everything.next().await["data"]["changes"]["remoteId"],
        "in_i"
    );
    assert_eq!(invoices.next().await["data"]["changes"]["remoteId"], "in_i");
    let (_, theirs) = app.graphql_as(&other, PAGE, json!({ "first": 10 })).await;
    assert_eq!(
        theirs["data"]["changes"]["nodes"],
        json!([]),
        "another project's log is its own"
    );
    everything.close().await;
    invoices.close().await;
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_is_refused() {
    let app = app().await;
    let now = Utc::now().timestamp();
    for i in 0..3 {
        let body = event(
            &format!("evt_{i}"),
            "customer.updated",
            json!({ "id": format!("cus_{i}") }),
        );
        assert_eq!(deliver(&app, &body, SECRET, now).await.0, 200);
    }
    let first_cursor = page(&app, None, 1).await["data"]["changes"]["nodes"][0]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let log = nexus::changes::ChangeLog::new(app.db.clone(), nexus::changes::Bus::default());
    assert_eq!(log.retain_after(Utc::now()).await.unwrap(), 3);
    use nexus::store::entities::webhook_receipts;
    use sea_orm::{EntityTrait, PaginatorTrait, sea_query::Expr};
    let receipts = async || {
        webhook_receipts::Entity::find()
            .count(&app.db)
            .await
            .unwrap()
    };
    assert_eq!(
        receipts().await,
        3,
        "a redelivery this week is still told apart"
    );
    let again = event("evt_0", "customer.updated", json!({ "id": "cus_0" }));
    assert_eq!(deliver(&app, &again, SECRET, now).await.0, 200);
    assert_eq!(
        page(&app, None, 5).await["data"]["changes"]["nodes"],
        json!([]),
        "not stored again"
    );
    webhook_receipts::Entity::update_many()
        .col_expr(
            webhook_receipts::Column::ReceivedAt,
            Expr::value(Utc::now() - chrono::Duration::days(8)),
        )
        .exec(&app.db)
        .await
        .unwrap();
    log.retain_after(Utc::now()).await.unwrap();
    assert_eq!(receipts().await, 0, "receipts go a week after their events");
    let (_, body) = app
        .graphql(PAGE, json!({ "after": first_cursor, "first": 5 }))
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("retention")
    );
    let (_, body) = app
        .graphql(PAGE, json!({ "after": "bm9wZQ", "first": 5 }))
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT");
}

/// An app pointed at the sandbox, taking its HubSpot and Slack webhooks, with both connected
/// through the real flow and the sandbox delivering to the app.
async fn connected_to_the_sandbox() -> (TestApp, String) {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.providers.get_mut("slack").unwrap().webhook_secret =
            Some(nexus_sandbox::slack::SIGNING_SECRET.to_owned().into());
    })
    .await;
    for provider in ["HUBSPOT", "SLACK"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    let http = reqwest::Client::new();
    for provider in ["hubspot", "slack"] {
        let registered = http
            .post(format!("{sandbox}/_sandbox/webhooks"))
            .json(
                &json!({ "provider": provider, "url": app.url(&format!("/webhooks/{provider}")) }),
            )
            .send()
            .await
            .unwrap();
        let status = registered.status();
        assert!(
            status.is_success(),
            "{provider}: {}",
            registered.text().await.unwrap()
        );
    }
    (app, sandbox)
}

#[tokio::test]
async fn hubspot_and_slack_changes_made_in_the_sandbox_reach_a_subscriber_through_webhooks() {
    let (app, sandbox) = connected_to_the_sandbox().await;
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Changed" } }),
    )
    .await;
    let change = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (
            change["provider"].as_str(),
            change["type"].as_str(),
            change["op"].as_str(),
            change["remoteId"].as_str()
        ),
        (
            Some("HUBSPOT"),
            Some("Contact"),
            Some("UPDATED"),
            Some("405")
        ),
        "{change}"
    );
    assert_eq!(change["data"]["propertyValue"], "Changed");

    let person = &nexus_sandbox::population::population().people[3];
    let posted = change_in_sandbox(
        &sandbox,
        json!({ "provider": "slack", "object": "message", "op": "create", "fields": { "channel": "general", "user": person.email, "text": "hello from a human" } }),
    )
    .await;
    let change = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(
        (
            change["provider"].as_str(),
            change["type"].as_str(),
            change["op"].as_str()
        ),
        (Some("SLACK"), Some("Message"), Some("CREATED")),
        "{change}"
    );
    assert!(
        change["remoteId"]
            .as_str()
            .unwrap()
            .ends_with(posted["ts"].as_str().unwrap()),
        "{change} {posted}"
    );
    assert_eq!(change["data"]["event"]["text"], "hello from a human");
    subscriber.close().await;
}

#[tokio::test]
async fn once_synced_a_webhook_brings_the_sync_forward_and_each_edit_is_logged_once_whole() {
    let (app, sandbox) = connected_to_the_sandbox().await;
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let hubspot = nexus::providers::Provider::Hubspot;
    let target = syncer.targets(Some(hubspot), None).await.unwrap()[0];
    let contacts = nexus::providers::crm::CrmObject::Contact;
    let load = syncer.pass(target, contacts, &|_| {}).await.unwrap();
    assert!(load.changes > 0 && load.changes == load.seen, "{load:?}");
    let head = nexus::changes::ChangeLog::new(app.db.clone(), nexus::changes::Bus::default())
        .head(target.tenant.project_id)
        .await
        .unwrap();
    let after = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("change:{head}"))
    };
    let mut subscriber = Subscriber::start(
        &app,
        &app.key,
        SUBSCRIBE,
        json!({ "after": after, "types": ["Contact"] }),
    )
    .await;

    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Once" } }),
    )
    .await;
    let updated = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(updated["op"], "UPDATED", "{updated}");
    assert_eq!(updated["remoteId"], "405", "{updated}");
    let properties = &updated["data"]["properties"];
    assert_eq!(properties["firstname"], "Once", "{updated}");
    assert!(
        properties["email"].is_string(),
        "the whole record, as the sync read it: {updated}"
    );

    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "delete", "id": "406" }),
    )
    .await;
    let deleted = subscriber.next().await["data"]["changes"].clone();
    assert_eq!(deleted["op"], "DELETED", "{deleted}");
    assert_eq!(deleted["remoteId"], "406", "{deleted}");

    // A reconciliation finds 406 gone and logs it no more; nothing else is new. (The app's own
    // nudged pass may overtake this one: it then stops before reconciling, and runs again.)
    let full = syncer.clone().full(true);
    let reconciled = eventually(
        "a reconciliation completes",
        std::time::Duration::from_secs(10),
        async || {
            let report = full.pass(target, contacts, &|_| {}).await.unwrap();
            report.reconciled.then_some(report)
        },
    )
    .await;
    assert_eq!(reconciled.changes, 0, "{reconciled:?}");
    let (_, body) = app
        .graphql(PAGE, json!({ "after": after, "first": 50 }))
        .await;
    let logged: Vec<(String, String)> = body["data"]["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["type"] == "Contact")
        .map(|n| {
            let text = |k: &str| n[k].as_str().unwrap().to_owned();
            (text("op"), text("remoteId"))
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("UPDATED".to_owned(), "405".to_owned()),
            ("DELETED".to_owned(), "406".to_owned())
        ]
    );
    subscriber.close().await;
}

#[tokio::test]
async fn hubspot_and_slack_deliveries_with_bad_signatures_are_refused() {
    let (app, _) = connected_to_the_sandbox().await;
    let body = r#"[{"eventId":1,"subscriptionId":1,"portalId":62515001,"occurredAt":1700000000000,"subscriptionType":"contact.creation","objectId":1}]"#;
    let now = Utc::now().timestamp_millis();
    let url = app.url("/webhooks/hubspot");
    let secret = nexus_sandbox::App::for_provider("hubspot").client_secret;
    let signed =
        |secret: &str, at: i64| nexus_sandbox::hubspot::signature_headers(secret, &url, body, at);
    for (headers, why) in [
        (signed("not-the-secret", now), "another secret"),
        (signed(&secret, now - 300_001), "too old"),
        (vec![], "unsigned"),
    ] {
        let mut request = app.client.post(&url).body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{why}");
    }
    let mut request = app.client.post(&url).body(body);
    for (name, value) in signed(&secret, now) {
        request = request.header(name, value);
    }
    assert_eq!(
        request.send().await.unwrap().status(),
        200,
        "the real secret passes"
    );

    let slack_body = r#"{"type":"event_callback","team_id":"T0SBX0001","event_id":"Ev1","event":{"type":"message","channel":"C1","ts":"1.000001"}}"#;
    let stale = Utc::now().timestamp() - 301;
    let response = app
        .client
        .post(app.url("/webhooks/slack"))
        .header("x-slack-request-timestamp", stale.to_string())
        .header(
            "x-slack-signature",
            nexus_sandbox::slack::signature(
                nexus_sandbox::slack::SIGNING_SECRET,
                stale,
                slack_body,
            ),
        )
        .body(slack_body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "stale");
    let (_, page) = app.graphql(PAGE, json!({ "first": 10 })).await;
    let nodes: Vec<_> = page["data"]["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !crate::helpers::is_lifecycle(e))
        .collect();
    assert_eq!(nodes.len(), 1, "only the one good delivery: {nodes:?}");
}

#[tokio::test]
async fn a_gateway_trims_events_older_than_its_retention_when_it_starts() {
    let app = app().await;
    let now = Utc::now().timestamp();
    let body = event("evt_old", "customer.updated", json!({ "id": "cus_old" }));
    assert_eq!(deliver(&app, &body, SECRET, now).await.0, 200);
    let mut settings = app.settings.clone();
    settings.changes.retention_days = 0;
    let second = nexus::startup::Application::build_with(&settings, app.db.clone())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let nodes = page(&app, None, 5).await["data"]["changes"]["nodes"].clone();
        if nodes == json!([]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still kept: {nodes}");
        tokio::task::yield_now().await;
    }
    drop(second);
}

#[tokio::test]
async fn on_postgresql_a_subscriber_of_one_gateway_sees_changes_taken_in_by_another() {
    let Some(url) = crate::helpers::postgres_url().await else {
        return;
    };
    let mut settings = test_settings();
    settings.database.url = Some(url);
    settings.changes.default_project = Some("acme".into());
    settings
        .providers
        .entry("stripe".into())
        .or_default()
        .webhook_secret = Some(SECRET.to_owned().into());
    let first = spawn_app_with(settings.clone()).await;
    let second = crate::helpers::spawn_on(settings, first.db.clone()).await;
    let mut subscriber = Subscriber::start(
        &first,
        &first.key,
        SUBSCRIBE,
        json!({ "after": from_the_start() }),
    )
    .await;
    let now = Utc::now().timestamp();
    for i in 0..3 {
        let body = event(
            &format!("evt_{i}"),
            "customer.updated",
            json!({ "id": format!("cus_{i}") }),
        );
        assert_eq!(deliver(&second, &body, SECRET, now).await.0, 200);
        let change = subscriber.next().await["data"]["changes"].clone();
        assert_eq!(change["remoteId"], format!("cus_{i}"));
    }
    subscriber.close().await;
}

/// A burst of deliveries to one project on PostgreSQL: the appenders queue for the log inside
/// the gateway, so none holds a pooled connection while it waits for the head's row lock (the
/// database shows no session waiting on a lock), and the reads made meanwhile all succeed.
#[tokio::test]
async fn on_postgresql_a_burst_of_deliveries_waits_for_the_log_without_holding_connections() {
    use sea_orm::ConnectionTrait;
    use secrecy::ExposeSecret;

    let Some(url) = crate::helpers::postgres_url().await else {
        return;
    };
    let watcher = sea_orm::Database::connect(url.expose_secret())
        .await
        .unwrap();
    let mut settings = test_settings();
    settings.database.url = Some(url);
    settings.changes.default_project = Some("acme".into());
    settings
        .providers
        .entry("stripe".into())
        .or_default()
        .webhook_secret = Some(SECRET.to_owned().into());
    let app = spawn_app_with(settings).await;

    let deliveries: i64 = 120;
    let done = std::sync::atomic::AtomicBool::new(false);
    let now = Utc::now().timestamp();
    let burst = async {
        let statuses = futures_util::future::join_all((0..deliveries).map(|i| {
            let body = event(
                &format!("evt_burst_{i}"),
                "customer.updated",
                json!({ "id": format!("cus_{i}") }),
            );
            let app = &app;
            async move { deliver(app, &body, SECRET, now).await.0 }
        }))
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        statuses
    };
    let reads = async {
        let mut answers = Vec::new();
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let round = futures_util::future::join_all(
                (0..8).map(|_| app.graphql("{ viewer { user { email } } }", json!({}))),
            )
            .await;
            answers.extend(round);
        }
        answers
    };
    let lock_waits = async {
        let mut most = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let row = watcher
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    "SELECT count(*) AS waiting FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                ))
                .await
                .unwrap()
                .unwrap();
            most = most.max(row.try_get::<i64>("", "waiting").unwrap());
            tokio::task::yield_now().await;
        }
        most
    };
    let (statuses, answers, most_waiting) = tokio::join!(burst, reads, lock_waits);

    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(!answers.is_empty());
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert!(body["errors"].is_null(), "{body}");
    }
    assert_eq!(
        most_waiting, 0,
        "sessions waited on a row lock while holding a connection"
    );
    let stored = watcher
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT count(*) AS stored FROM change_events",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "stored")
        .unwrap();
    assert_eq!(stored, deliveries);
    watcher.close().await.ok();
}

#[tokio::test]
async fn a_project_connects_its_own_stripe_endpoint_and_receives_on_it() {
    let app = spawn_app_with(test_settings()).await;
    let connect = "mutation($s: String!) { connectStripe(signingSecret: $s) { url } }";
    let (_, body) = app
        .graphql(connect, json!({ "s": "sk_live_not_a_whsec" }))
        .await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT", "{body}");
    let own = "whsec_project_own_endpoint_secret";
    let (_, body) = app.graphql(connect, json!({ "s": own })).await;
    let url = body["data"]["connectStripe"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with(&app.url("/webhooks/stripe/")), "{url}");
    let (_, again) = app
        .graphql(connect, json!({ "s": "whsec_rolled_secret_value" }))
        .await;
    assert_eq!(
        again["data"]["connectStripe"]["url"], url,
        "rolling the secret keeps the URL"
    );

    let (_, viewer) = app
        .graphql("{ viewer { connections { provider status } } }", json!({}))
        .await;
    let stripe = viewer["data"]["viewer"]["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["provider"] == "STRIPE")
        .cloned()
        .unwrap();
    assert_eq!(stripe["status"], "CONNECTED");

    let now = Utc::now().timestamp();
    let body = event("evt_own", "charge.succeeded", json!({ "id": "ch_1" }));
    let post = |secret: &str, url: String| {
        app.client
            .post(url)
            .header(
                "stripe-signature",
                nexus_sandbox::stripe::signature(secret, now, &body),
            )
            .body(body.clone())
            .send()
    };
    assert_eq!(
        post(own, url.clone()).await.unwrap().status(),
        400,
        "the old secret no longer passes"
    );
    assert_eq!(
        post("whsec_rolled_secret_value", url.clone())
            .await
            .unwrap()
            .status(),
        200
    );
    let unknown = format!("{}/webhooks/stripe/0000", app.origin);
    assert_eq!(
        post("whsec_rolled_secret_value", unknown)
            .await
            .unwrap()
            .status(),
        404
    );
    let (_, body) = app
        .graphql(
            "{ changes(first: 5) { nodes { type provider data } } }",
            json!({}),
        )
        .await;
    let nodes = body["data"]["changes"]["nodes"].clone();
    // Storing the secret is connecting: told as `connection.created` both times, the second
    // as a replacement.
    for (node, replaced) in nodes.as_array().unwrap()[..2].iter().zip([false, true]) {
        assert_eq!(node["type"], "connection.created", "{nodes}");
        assert_eq!(node["provider"], "STRIPE", "{nodes}");
        assert_eq!(node["data"]["replaced"], replaced, "{nodes}");
    }
    assert_eq!(nodes[2]["type"], "stripe:charge.succeeded", "{nodes}");
    assert_eq!(nodes[2]["provider"], "STRIPE");
    // The connection is its user's: another member does not see it made.
    let bob = app.key_for("acme", "bob@acme.test").await;
    let (_, body) = app
        .graphql_as(&bob, "{ changes(first: 5) { nodes { type } } }", json!({}))
        .await;
    let bob_sees = body["data"]["changes"]["nodes"].as_array().unwrap();
    assert!(
        bob_sees.iter().all(|n| n["type"] != "connection.created"),
        "{body}"
    );
}

/// Every change's `data`, as the API returns it, in one JSON text.
async fn all_data(app: &TestApp) -> String {
    let (status, body) = app
        .graphql(
            "query { changes(first: 100) { nodes { provider data } } }",
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["changes"]["nodes"].to_string()
}

#[tokio::test]
async fn a_slack_envelopes_verification_token_is_neither_stored_nor_returned() {
    let (app, _) = connected_to_the_sandbox().await;
    let token = "verification-token-7f3a9c";
    let body = json!({ "token": token, "type": "event_callback", "team_id": "T0SBX0001",
        "event_id": "EvToken", "event_time": Utc::now().timestamp(),
        "event": { "type": "message", "channel": "C1", "ts": "1.000042", "text": "hi" } })
    .to_string();
    let now = Utc::now().timestamp();
    let response = app
        .client
        .post(app.url("/webhooks/slack"))
        .header("x-slack-request-timestamp", now.to_string())
        .header(
            "x-slack-signature",
            nexus_sandbox::slack::signature(nexus_sandbox::slack::SIGNING_SECRET, now, &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let data = all_data(&app).await;
    assert!(data.contains("1.000042"), "the event is stored: {data}");
    assert!(!data.contains(token), "{data}");
}

const SCRUB: &str = "m20261207_000002_scrub_delivery_secrets";

#[tokio::test]
async fn the_scrub_migration_removes_delivery_secrets_from_stored_events() {
    use migration::{Migrator, MigratorTrait};
    use nexus::store::entities::change_events as row;
    use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};

    for (name, url) in crate::helpers::backends().await {
        let dir = tempfile::TempDir::new().unwrap();
        let mut settings = test_settings();
        settings.database.url = url;
        let db = nexus::startup::open_database(&settings, dir.path())
            .await
            .expect("database");
        let project = nexus::auth::Tenants::new(db.clone())
            .ensure_project("acme")
            .await
            .unwrap();
        // Back to before the scrub, with events stored the way the gateway used to store them.
        Migrator::down(&db, Some(crate::tenancy::applied_since(SCRUB)))
            .await
            .unwrap();
        let stored = [
            (
                "outlook",
                json!({ "subscriptionId": "s1", "clientState": "cs-secret-1", "changeType": "deleted" }),
            ),
            (
                "teams",
                json!({ "subscriptionId": "s2", "clientState": "cs-secret-2", "changeType": "created" }),
            ),
            (
                "slack",
                json!({ "token": "slack-token-3", "type": "event_callback", "team_id": "T1" }),
            ),
            (
                "stripe",
                json!({ "id": "evt_1", "token": "not-a-secret-here" }),
            ),
        ];
        for (seq, (provider, data)) in stored.iter().enumerate() {
            row::Entity::insert(row::ActiveModel {
                id: Set(uuid::Uuid::new_v4()),
                project_id: Set(project.id),
                seq: Set(seq as i64 + 1),
                op: Set("DELETED".into()),
                provider: Set((*provider).into()),
                r#type: Set("Email".into()),
                remote_id: Set(format!("r{seq}")),
                data: Set(data.clone()),
                occurred_at: Set(Utc::now()),
                received_at: Set(Utc::now()),
                // Not there yet at this point of the schema.
                user_id: sea_orm::ActiveValue::NotSet,
            })
            .exec(&db)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        Migrator::up(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: up: {e}"));
        let data: Vec<Value> = row::Entity::find()
            .order_by_asc(row::Column::Seq)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.data)
            .collect();
        assert_eq!(
            data,
            [
                json!({ "subscriptionId": "s1", "changeType": "deleted" }),
                json!({ "subscriptionId": "s2", "changeType": "created" }),
                json!({ "type": "event_callback", "team_id": "T1" }),
                json!({ "id": "evt_1", "token": "not-a-secret-here" }),
            ],
            "{name}"
        );
    }
}
