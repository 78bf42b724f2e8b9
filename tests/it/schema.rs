//! `schema.graphql` is `nexus schema`'s output, `schema.federation.graphql` is
//! `nexus schema --federation`'s, and the names DESIGN.md promises are in the plain one.

use crate::helpers::root;

#[test]
fn schema_graphql_is_the_generated_sdl() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .arg("schema")
        .output()
        .expect("nexus schema");
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed = std::fs::read_to_string(root().join("schema.graphql")).unwrap_or_default();
    assert!(
        printed == committed,
        "schema.graphql is stale: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn schema_federation_graphql_is_the_generated_subgraph_sdl() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_nexus"))
        .args(["schema", "--federation"])
        .output()
        .expect("nexus schema --federation");
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let committed =
        std::fs::read_to_string(root().join("schema.federation.graphql")).unwrap_or_default();
    assert!(
        printed == committed,
        "schema.federation.graphql is stale: run \
         `cargo run -- schema --federation > schema.federation.graphql`"
    );
    assert!(printed.contains("type Contact implements Node @key(fields: \"id\") {"));
}

#[test]
fn the_schema_keeps_designs_names() {
    let sdl = nexus::graphql::sdl();
    for needle in [
        "enum Provider {",
        "interface Node {",
        "node(id: ID!, maxAge: Int): Node",
        "viewer: Viewer!",
        "contacts(first: Int, after: String, filter: ContactFilter, providers: [Provider!], maxAge: Int): ContactConnection!",
        "leads(first: Int, after: String, filter: LeadFilter, providers: [Provider!], maxAge: Int): LeadConnection!",
        "enum DataSource {",
        "fetchedAt: DateTime!",
        "source: DataSource!",
        "copies: [CopyStatus!]!",
        "ageSeconds: Int",
        "changes(after: String, first: Int): ChangeEventConnection!",
        "connectProvider(provider: Provider!, redirectAfter: String): ConnectLink!",
        "disconnectProvider(provider: Provider!): Boolean!",
        "createLead(input: CreateLeadInput!): CreateLeadPayload!",
        "sendEmail(input: SendEmailInput!): SendEmailPayload!",
        "postMessage(input: PostMessageInput!): PostMessagePayload!",
        "nodes: [Contact!]!",
        "enum DealStatus {",
    ] {
        assert!(sdl.contains(needle), "missing `{needle}`");
    }
}
