//! `node(id:)` for mail, events and chat messages: the id a list gives resolves to the same
//! record, fetched from its provider.

use serde_json::json;

use crate::{
    connect::{callback, connect_link, consent, pointed_at_sandbox},
    helpers::first_code,
};

#[tokio::test]
async fn emails_events_and_messages_resolve_by_their_global_ids() {
    let (app, _sandbox) = pointed_at_sandbox(false).await;
    for provider in ["GMAIL", "OUTLOOK", "GOOGLE_CALENDAR", "SLACK"] {
        let back = consent(&connect_link(&app, provider, None).await, "approve").await;
        assert_eq!(callback(&back).await.0, 200, "{provider} connects");
    }
    let lists = [
        (
            "emails",
            "emails(first: 1, providers: [GMAIL])",
            "Email",
            "subject",
        ),
        (
            "emails",
            "emails(first: 1, providers: [OUTLOOK])",
            "Email",
            "subject",
        ),
        ("events", "events(first: 1)", "Event", "title"),
        (
            "messages",
            "messages(first: 1, filter: { channel: \"C0SBX0000\" })",
            "Message",
            "text",
        ),
    ];
    for (list, field, kind, detail) in lists {
        let (_, body) = app
            .graphql(
                &format!("{{ {field} {{ nodes {{ id remoteId {detail} }} }} }}"),
                json!({}),
            )
            .await;
        let first = body["data"][list]["nodes"][0].clone();
        assert!(first["id"].is_string(), "{body}");
        let (_, node) = app
            .graphql(
                &format!("query($id: ID!) {{ node(id: $id) {{ id ... on {kind} {{ remoteId {detail} }} }} }}"),
                json!({ "id": first["id"] }),
            )
            .await;
        assert!(node["errors"].is_null(), "{kind}: {node}");
        assert_eq!(node["data"]["node"]["id"], first["id"]);
        assert_eq!(node["data"]["node"]["remoteId"], first["remoteId"]);
        assert_eq!(node["data"]["node"][detail], first[detail], "{kind}");
    }
    let (_, channels) = app
        .graphql(
            "{ channels(first: 1, providers: [SLACK]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let (_, node) = app
        .graphql(
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": channels["data"]["channels"]["nodes"][0]["id"] }),
        )
        .await;
    assert_eq!(first_code(&node), "UNSUPPORTED", "{node}");
}
