//! The schema's operations as a frontend meets them before any provider adapter exists:
//! viewer and connections, honest empty lists, partial errors per provider, input validation,
//! disconnect, and the change log.

use chrono::Utc;
use nexus::{providers::Provider, store::entities::change_events, vault::TokenSet};
use sea_orm::{ActiveModelTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, first_code, spawn_app, spawn_app_with, test_settings};

async fn tenant(app: &TestApp, project: &str, user: &str) -> (Uuid, Uuid) {
    app.tenant(project, user).await
}

/// Stores a credential as a finished connect flow would.
async fn seed_connection(app: &TestApp, provider: Provider) {
    let (user_id, project_id) = tenant(app, "acme", "ada@acme.test").await;
    let tokens = TokenSet {
        access_token: "access-sentinel".to_owned().into(),
        refresh_token: Some("refresh-sentinel".to_owned().into()),
        expires_at: Some("2030-01-01T00:00:00Z".parse().unwrap()),
        scopes: vec!["crm.objects.contacts.read".into()],
        metadata: json!({ "portalId": 62515 }),
    };
    app.credentials()
        .await
        .upsert(user_id, project_id, provider, &tokens)
        .await
        .unwrap();
}

#[tokio::test]
async fn viewer_lists_every_provider_of_the_catalog() {
    let app = spawn_app().await;
    let (_, body) = app
        .graphql(
            "{ viewer { connections { provider status scopes expiresAt } } }",
            json!({}),
        )
        .await;
    let connections = body["data"]["viewer"]["connections"].as_array().unwrap();
    let providers: Vec<&str> = connections
        .iter()
        .map(|c| c["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        [
            "SALESFORCE",
            "HUBSPOT",
            "GMAIL",
            "GOOGLE_CALENDAR",
            "SLACK",
            "OUTLOOK",
            "TEAMS",
            "STRIPE"
        ]
    );
    assert!(connections.iter().all(|c| c["status"] == "NOT_CONNECTED"));

    seed_connection(&app, Provider::Hubspot).await;
    let (_, body) = app
        .graphql(
            "{ viewer { connections { provider status scopes expiresAt } } }",
            json!({}),
        )
        .await;
    let hubspot = &body["data"]["viewer"]["connections"][1];
    assert_eq!(hubspot["status"], "CONNECTED");
    assert_eq!(hubspot["scopes"], json!(["crm.objects.contacts.read"]));
    assert!(
        hubspot["expiresAt"]
            .as_str()
            .unwrap()
            .starts_with("2030-01-01T00:00:00")
    );
    assert!(
        !body.to_string().contains("ciphertext-sentinel"),
        "a token leaked"
    );
}

#[tokio::test]
async fn lists_are_empty_without_connections_and_say_why_with_them() {
    // HubSpot's API is a loopback port nobody listens on: the provider is down.
    let mut settings = test_settings();
    settings.providers.insert(
        "hubspot".into(),
        nexus::config::ProviderSettings {
            base_url: Some("http://127.0.0.1:9".into()),
            ..Default::default()
        },
    );
    let app = spawn_app_with(settings).await;
    let query = "{ contacts { edges { cursor } nodes { id } pageInfo { hasNextPage endCursor } } }";
    let (_, body) = app.graphql(query, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["contacts"]["nodes"], json!([]));
    assert_eq!(body["data"]["contacts"]["pageInfo"]["hasNextPage"], false);

    seed_connection(&app, Provider::Hubspot).await;
    let (_, body) = app.graphql(query, json!({})).await;
    assert_eq!(body["data"]["contacts"]["nodes"], json!([]));
    assert_eq!(first_code(&body), "PROVIDER_UNAVAILABLE");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "HUBSPOT");
    assert_eq!(body["errors"][0]["path"], json!(["contacts"]));

    // A list the connected provider does not feed stays quiet.
    let (_, body) = app.graphql("{ emails { nodes { id } } }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn paging_and_provider_arguments_are_validated() {
    let app = spawn_app().await;
    for (query, field) in [
        ("{ contacts(first: 101) { nodes { id } } }", "first"),
        ("{ deals(first: -1) { nodes { id } } }", "first"),
        ("{ leads(after: \"garbage\") { nodes { id } } }", "after"),
        (
            "{ leads(providers: [HUBSPOT]) { nodes { id } } }",
            "providers",
        ),
        (
            "{ emails(providers: [SLACK]) { nodes { id } } }",
            "providers",
        ),
        (
            "{ contacts(filter: { email: \"nope\" }) { nodes { id } } }",
            "filter.email",
        ),
        (
            "{ changes(after: \"garbage\") { nodes { cursor } } }",
            "after",
        ),
    ] {
        let (status, body) = app.graphql(query, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(first_code(&body), "BAD_USER_INPUT", "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn mutations_validate_input_before_anything_else() {
    let app = spawn_app().await;
    let cases: [(&str, Value, &str, &str); 6] = [
        (
            "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
            json!({ "lastName": " ", "company": "Acme" }),
            "BAD_USER_INPUT",
            "input.lastName",
        ),
        (
            "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
            json!({ "lastName": "Doe", "company": "Acme", "email": "not-an-email" }),
            "BAD_USER_INPUT",
            "input.email",
        ),
        (
            "mutation($i: SendEmailInput!) { sendEmail(input: $i) { email { id } } }",
            json!({ "provider": "GMAIL", "to": ["x@y.co", "bad"], "text": "hi" }),
            "BAD_USER_INPUT",
            "input.to",
        ),
        (
            "mutation($i: CreateEventInput!) { createEvent(input: $i) { event { id } } }",
            json!({ "provider": "GOOGLE_CALENDAR", "title": "Sync", "start": "2026-12-01T10:00:00Z", "end": "2026-12-01T09:00:00Z" }),
            "BAD_USER_INPUT",
            "input.end",
        ),
        (
            "mutation($i: UpdateDealInput!) { updateDeal(input: $i) { deal { id } } }",
            json!({ "id": "bm9wZQ" }),
            "BAD_USER_INPUT",
            "input.id",
        ),
        (
            "mutation($i: CreateLeadInput!) { createLead(input: $i) { lead { id } } }",
            json!({ "lastName": "Doe", "company": "Acme", "email": "jane@acme.test" }),
            "NOT_CONNECTED",
            "",
        ),
    ];
    for (query, input, code, field) in cases {
        let (status, body) = app.graphql(query, json!({ "i": input })).await;
        assert_eq!(status, 200);
        assert_eq!(first_code(&body), code, "{body}");
        if !field.is_empty() {
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        } else {
            assert_eq!(body["errors"][0]["extensions"]["provider"], "SALESFORCE");
        }
    }
}

#[tokio::test]
async fn connect_and_disconnect() {
    let app = spawn_app().await;
    let connect = "mutation($p: Provider!) { connectProvider(provider: $p) { url expiresAt } }";
    let (_, body) = app.graphql(connect, json!({ "p": "STRIPE" })).await;
    assert_eq!(first_code(&body), "BAD_USER_INPUT");
    let (_, body) = app.graphql(connect, json!({ "p": "SALESFORCE" })).await;
    assert_eq!(first_code(&body), "UNSUPPORTED");

    let disconnect = "mutation { disconnectProvider(provider: HUBSPOT) }";
    let (_, body) = app.graphql(disconnect, json!({})).await;
    assert_eq!(first_code(&body), "NOT_CONNECTED");
    seed_connection(&app, Provider::Hubspot).await;
    let (_, body) = app.graphql(disconnect, json!({})).await;
    assert_eq!(body["data"]["disconnectProvider"], true, "{body}");
    let (_, body) = app
        .graphql("{ viewer { connections { status } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["viewer"]["connections"][1]["status"],
        "NOT_CONNECTED"
    );
}

async fn seed_change(app: &TestApp, project_id: Uuid, seq: i64) -> Uuid {
    let id = Uuid::new_v4();
    change_events::ActiveModel {
        id: Set(id),
        project_id: Set(project_id),
        seq: Set(seq),
        op: Set("updated".into()),
        provider: Set("hubspot".into()),
        r#type: Set("Contact".into()),
        remote_id: Set(format!("c{seq}")),
        data: Set(json!({ "seq": seq })),
        occurred_at: Set(Utc::now()),
        received_at: Set(Utc::now()),
        user_id: Set(None),
    }
    .insert(&app.db)
    .await
    .unwrap();
    id
}

#[tokio::test]
async fn the_change_log_pages_in_order_and_stays_in_its_project() {
    let app = spawn_app().await;
    let (_, acme) = tenant(&app, "acme", "ada@acme.test").await;
    let (_, globex) = tenant(&app, "globex", "hank@globex.test").await;
    for seq in 1..=3 {
        seed_change(&app, acme, seq).await;
    }
    let foreign = seed_change(&app, globex, 1).await;

    let page = "query($after: String) { changes(first: 2, after: $after) { nodes { cursor op provider type remoteId data } pageInfo { hasNextPage endCursor } } }";
    let (_, body) = app.graphql(page, json!({})).await;
    let changes = &body["data"]["changes"];
    assert_eq!(changes["nodes"].as_array().unwrap().len(), 2, "{body}");
    assert_eq!(changes["nodes"][0]["remoteId"], "c1");
    assert_eq!(changes["nodes"][0]["op"], "UPDATED");
    assert_eq!(changes["nodes"][0]["provider"], "HUBSPOT");
    assert_eq!(changes["nodes"][0]["type"], "Contact");
    assert_eq!(changes["nodes"][1]["data"], json!({ "seq": 2 }));
    assert_eq!(changes["pageInfo"]["hasNextPage"], true);

    let (_, body) = app
        .graphql(page, json!({ "after": changes["pageInfo"]["endCursor"] }))
        .await;
    let rest = &body["data"]["changes"];
    assert_eq!(rest["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(rest["nodes"][0]["remoteId"], "c3");
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let foreign_id = nexus::graphql::GlobalId::encode("ChangeEvent", &foreign.to_string());
    let (_, body) = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": foreign_id.as_str() }),
        )
        .await;
    assert_eq!(body["data"]["node"], Value::Null);
    assert_eq!(first_code(&body), "NOT_FOUND");
}

#[tokio::test]
async fn a_credential_that_does_not_open_asks_for_reauthorization_and_is_kept() {
    let app = spawn_app().await;
    seed_connection(&app, Provider::Hubspot).await;
    // Another deployment's key sealed this value: it cannot open here.
    let (user_id, project_id) = tenant(&app, "acme", "ada@acme.test").await;
    let foreign = nexus::vault::Vault::new(
        nexus::vault::KeyRing::new(nexus::vault::Key::parse(&"ab".repeat(32)).unwrap(), vec![]),
        Default::default(),
    );
    let binding = nexus::vault::Binding {
        user_id,
        project_id,
        provider: "hubspot",
    };
    let sealed = foreign.seal(&binding, &"x".to_owned().into());
    use nexus::store::entities::integration_credentials as row;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    row::Entity::update_many()
        .col_expr(row::Column::AccessTokenEncrypted, Expr::value(sealed))
        .filter(row::Column::Provider.eq("hubspot"))
        .exec(&app.db)
        .await
        .unwrap();

    let (_, body) = app
        .graphql("{ viewer { connections { provider status } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["viewer"]["connections"][1]["status"], "REAUTH_REQUIRED",
        "{body}"
    );
    let (_, body) = app
        .graphql("{ contacts { nodes { id } } }", json!({}))
        .await;
    assert_eq!(first_code(&body), "REAUTH_REQUIRED");
    assert_eq!(body["errors"][0]["extensions"]["provider"], "HUBSPOT");
    assert_eq!(
        row::Entity::find().all(&app.db).await.unwrap().len(),
        1,
        "the row must stay"
    );
}
