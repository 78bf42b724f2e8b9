//! Members of one project and the change stream: an event from a member's connection is that
//! member's (and `changes:project` keys'), an event of the project (the default project's Stripe
//! webhooks) everyone's — in `query changes`, in a live subscription, in a resumed one, and in
//! `node(id:)`. Ada connects Slack, Bob connects HubSpot, Olga holds a `changes:project` key.

use std::time::Duration;

use chrono::Utc;
use nexus::auth::{KeySpec, Scope, Scopes, create_api_key_with};
use serde_json::{Value, json};

use crate::{
    connect::{callback, connect_link_as, consent, pointed_at_sandbox_with},
    helpers::{TestApp, change_in_sandbox, eventually, first_code, from_the_start},
    subscriber::Subscriber,
};

const STRIPE_SECRET: &str = "whsec_nexus_tenancy_secret";

const SUBSCRIBE: &str = "subscription($after: String) {
  changes(after: $after) { id cursor provider type remoteId }
}";

const PAGE: &str = "query { changes(first: 100) { nodes { id cursor provider type remoteId } } }";

/// The providers of the events `key` is shown by `query changes`, oldest first.
async fn page(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.graphql_as(key, PAGE, json!({})).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["changes"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| !crate::helpers::is_lifecycle(e))
        .cloned()
        .collect()
}

fn providers(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["provider"].as_str().unwrap())
        .collect()
}

/// Waits until the whole project's log (as Olga sees it) holds `count` events.
async fn logged(app: &TestApp, olga: &str, count: usize) {
    eventually(
        &format!("{count} events in the log"),
        Duration::from_secs(20),
        async || (page(app, olga).await.len() == count).then_some(()),
    )
    .await;
}

async fn connect(app: &TestApp, key: &str, provider: &str) {
    let back = consent(&connect_link_as(app, key, provider, None).await, "approve").await;
    assert_eq!(callback(&back).await.0, 200, "{provider} connects");
}

async fn deliver_stripe(app: &TestApp) {
    let body = json!({
        "id": "evt_tenancy_1", "object": "event", "api_version": "2024-06-20",
        "created": Utc::now().timestamp(), "type": "invoice.paid", "livemode": false,
        "data": { "object": { "id": "in_tenancy_1", "object": "invoice" } },
    })
    .to_string();
    let response = app
        .client
        .post(app.url("/webhooks/stripe"))
        .header(
            "stripe-signature",
            nexus_sandbox::stripe::signature(STRIPE_SECRET, Utc::now().timestamp(), &body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

async fn events(subscriber: &mut Subscriber, n: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..n {
        events.push(subscriber.next().await["data"]["changes"].clone());
    }
    events
}

#[tokio::test]
async fn each_member_sees_their_own_connections_events_and_the_projects_and_a_project_key_all() {
    let (app, sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.providers.get_mut("slack").unwrap().webhook_secret =
            Some(nexus_sandbox::slack::SIGNING_SECRET.to_owned().into());
        settings.changes.default_project = Some("acme".into());
        settings
            .providers
            .entry("stripe".into())
            .or_default()
            .webhook_secret = Some(STRIPE_SECRET.to_owned().into());
    })
    .await;
    let ada = app.key.clone();
    let bob = app.key_for("acme", "bob@acme.test").await;
    let olga = create_api_key_with(
        &app.tenants,
        "acme",
        "olga@acme.test",
        &KeySpec {
            scopes: Scopes::DEFAULT.with(Scope::ChangesProject),
            ..KeySpec::default()
        },
    )
    .await
    .unwrap();
    connect(&app, &ada, "SLACK").await;
    connect(&app, &bob, "HUBSPOT").await;
    for provider in ["hubspot", "slack"] {
        let registered = reqwest::Client::new()
            .post(format!("{sandbox}/_sandbox/webhooks"))
            .json(
                &json!({ "provider": provider, "url": app.url(&format!("/webhooks/{provider}")) }),
            )
            .send()
            .await
            .unwrap();
        assert!(registered.status().is_success());
    }
    let start = json!({ "after": from_the_start() });
    let mut ada_live = Subscriber::start(&app, &ada, SUBSCRIBE, start.clone()).await;
    let mut bob_live = Subscriber::start(&app, &bob, SUBSCRIBE, start.clone()).await;
    let mut olga_live = Subscriber::start(&app, &olga, SUBSCRIBE, start.clone()).await;

    // One at a time, so that the log's order is known: Bob's CRM change, Ada's chat message,
    // the project's Stripe event.
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "hubspot", "object": "contacts", "op": "update", "id": "405", "fields": { "firstname": "Bobs" } }),
    )
    .await;
    logged(&app, &olga, 1).await;
    let person = &nexus_sandbox::population::population().people[3];
    change_in_sandbox(
        &sandbox,
        json!({ "provider": "slack", "object": "message", "op": "create", "fields": { "channel": "general", "user": person.email, "text": "for ada's eyes" } }),
    )
    .await;
    logged(&app, &olga, 2).await;
    deliver_stripe(&app).await;
    logged(&app, &olga, 3).await;

    let all = page(&app, &olga).await;
    assert_eq!(providers(&all), ["HUBSPOT", "SLACK", "STRIPE"]);
    assert_eq!(providers(&page(&app, &ada).await), ["SLACK", "STRIPE"]);
    assert_eq!(providers(&page(&app, &bob).await), ["HUBSPOT", "STRIPE"]);

    // Live: each subscriber's next events are exactly its own and the project's.
    assert_eq!(
        providers(&events(&mut olga_live, 3).await),
        ["HUBSPOT", "SLACK", "STRIPE"]
    );
    assert_eq!(
        providers(&events(&mut ada_live, 2).await),
        ["SLACK", "STRIPE"]
    );
    let bobs = events(&mut bob_live, 2).await;
    assert_eq!(providers(&bobs), ["HUBSPOT", "STRIPE"]);

    // Resumed from the start (read from the log), and from Bob's own cursor: Ada's message in
    // between is skipped, and nothing of Bob's is repeated.
    let mut ada_replay = Subscriber::start(&app, &ada, SUBSCRIBE, start).await;
    assert_eq!(
        providers(&events(&mut ada_replay, 2).await),
        ["SLACK", "STRIPE"]
    );
    let mut bob_resumed =
        Subscriber::start(&app, &bob, SUBSCRIBE, json!({ "after": bobs[0]["cursor"] })).await;
    assert_eq!(providers(&events(&mut bob_resumed, 1).await), ["STRIPE"]);

    // By id: Ada's message is not Bob's to fetch.
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let adas_message = &all[1]["id"];
    let (_, body) = app
        .graphql_as(&bob, node, json!({ "id": adas_message }))
        .await;
    assert_eq!(body["data"]["node"], Value::Null, "{body}");
    assert_eq!(first_code(&body), "NOT_FOUND");
    let (_, body) = app
        .graphql_as(&ada, node, json!({ "id": adas_message }))
        .await;
    assert_eq!(body["data"]["node"]["id"], *adas_message, "{body}");

    for subscriber in [ada_live, bob_live, olga_live, ada_replay, bob_resumed] {
        subscriber.close().await;
    }
}

/// How many migrations to undo to be back before `name` (it included).
pub fn applied_since(name: &str) -> u32 {
    use migration::{Migrator, MigratorTrait};
    let migrations = Migrator::migrations();
    let at = migrations
        .iter()
        .position(|m| m.name() == name)
        .unwrap_or_else(|| panic!("no migration {name}"));
    (migrations.len() - at) as u32
}

#[tokio::test]
async fn the_migration_gives_existing_events_their_connections_user_or_hides_them() {
    use migration::{Migrator, MigratorTrait};
    use nexus::store::entities::{change_events as event, integration_credentials as credential};
    use sea_orm::{ActiveValue::Set, EntityTrait, QueryOrder};
    use uuid::Uuid;

    for (name, url) in crate::helpers::backends().await {
        let dir = tempfile::TempDir::new().unwrap();
        let mut settings = crate::helpers::test_settings();
        settings.database.url = url;
        let db = nexus::startup::open_database(&settings, dir.path())
            .await
            .expect("database");
        let tenants = nexus::auth::Tenants::new(db.clone());
        let project = tenants.ensure_project("acme").await.unwrap().id;
        let ada = tenants.ensure_user("ada@acme.test").await.unwrap().id;
        let bob = tenants.ensure_user("bob@acme.test").await.unwrap().id;
        Migrator::down(
            &db,
            Some(applied_since("m20261207_130002_change_event_users")),
        )
        .await
        .unwrap();
        // Ada alone connected Gmail; both connected Slack; nobody HubSpot (any more), nobody
        // Stripe (the default project's webhooks).
        for (user, provider) in [(ada, "gmail"), (ada, "slack"), (bob, "slack")] {
            credential::Entity::insert(credential::ActiveModel {
                id: Set(Uuid::new_v4()),
                created_at: Set(Utc::now()),
                updated_at: Set(Utc::now()),
                user_id: Set(user),
                project_id: Set(project),
                provider: Set(provider.into()),
                access_token_encrypted: Set("sealed".into()),
                refresh_token_encrypted: Set(None),
                token_expires_at: Set(None),
                scopes: Set(json!([])),
                metadata: Set(json!({})),
                account_id: Set(None),
                version: Set(1),
            })
            .exec(&db)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        for (seq, provider) in ["gmail", "slack", "hubspot", "stripe"].iter().enumerate() {
            event::Entity::insert(event::ActiveModel {
                id: Set(Uuid::new_v4()),
                project_id: Set(project),
                seq: Set(seq as i64 + 1),
                op: Set("created".into()),
                provider: Set((*provider).into()),
                r#type: Set("Email".into()),
                remote_id: Set(format!("r{seq}")),
                data: Set(json!({})),
                occurred_at: Set(Utc::now()),
                received_at: Set(Utc::now()),
                user_id: sea_orm::ActiveValue::NotSet,
            })
            .exec(&db)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        Migrator::up(&db, None)
            .await
            .unwrap_or_else(|e| panic!("{name}: up: {e}"));
        let users: Vec<Option<Uuid>> = event::Entity::find()
            .order_by_asc(event::Column::Seq)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.user_id)
            .collect();
        assert_eq!(
            users,
            [Some(ada), Some(Uuid::nil()), Some(Uuid::nil()), None],
            "{name}: Gmail is Ada's; Slack (two users) and HubSpot (gone) nobody's; Stripe the project's"
        );
        db.close().await.unwrap();
    }
}

#[tokio::test]
async fn a_members_synced_mail_is_theirs_alone() {
    let (app, _sandbox) = pointed_at_sandbox_with(false, |settings| {
        settings.changes.sync_interval_secs = Some(0);
    })
    .await;
    let bob = app.key_for("acme", "bob@acme.test").await;
    connect(&app, &bob, "GMAIL").await;
    let syncer = nexus::startup::syncer(&app.settings, app.db.clone())
        .await
        .unwrap();
    let targets = syncer
        .targets(Some(nexus::providers::Provider::Gmail), None)
        .await
        .unwrap();
    syncer.feed_pass(targets[0], "Email").await.unwrap();
    let (_, sent) = app
        .graphql_as(
            &bob,
            "mutation($input: SendEmailInput!) { sendEmail(input: $input) { email { remoteId } } }",
            json!({ "input": { "provider": "GMAIL", "to": ["ada@acme.test"], "subject": "Bob's", "text": "private" } }),
        )
        .await;
    assert!(sent["errors"].is_null(), "{sent}");
    let pass = syncer.feed_pass(targets[0], "Email").await.unwrap();
    assert!(pass.changes >= 1, "{pass:?}");

    let bobs = page(&app, &bob).await;
    assert!(
        !bobs.is_empty() && providers(&bobs).iter().all(|p| *p == "GMAIL"),
        "{bobs:?}"
    );
    assert_eq!(
        page(&app, &app.key).await,
        Vec::<Value>::new(),
        "Ada sees none"
    );
}
