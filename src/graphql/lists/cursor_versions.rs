//! Cursors given out by earlier releases, written out literally, still decode: during a rolling
//! upgrade a client pages through old and new gateways in turn (docs/deployment.md, "Cursors
//! across versions"). A list cursor is base64 of a JSON object whose fields are only ever added,
//! each with a default; the change log's and the audit log's are tagged text.

use async_graphql::connection::CursorType;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use super::{Bound, MergedCursor, Resume};
use crate::{
    graphql::{audit::AuditCursor, changes::ChangeCursor, freshness::DataSource},
    providers::Provider,
};

fn merged(json: &str) -> MergedCursor {
    MergedCursor::decode_cursor(&URL_SAFE_NO_PAD.encode(json)).expect("decodes")
}

#[test]
fn a_list_cursor_of_the_first_form_positions_only_decodes() {
    let cursor = merged(
        r#"{"positions":{"hubspot":{"at":{"t":"2026-11-02T10:00:00Z","i":"501"}},"salesforce":"done"}}"#,
    );
    let Resume::At(position) = &cursor.positions[&Provider::Hubspot] else {
        panic!("{cursor:?}");
    };
    assert_eq!(position.remote_id, "501");
    assert_eq!(cursor.positions[&Provider::Salesforce], Resume::Done);
    assert!(cursor.sources.is_empty());
    assert_eq!(cursor.last, None);
}

#[test]
fn a_list_cursor_with_sources_and_the_last_record_decodes() {
    let cursor = merged(
        r#"{"positions":{"hubspot":{"at":{"t":"2026-11-02T10:00:00Z","i":"501"}}},"sources":{"hubspot":"synced"},"last":{"at":"2026-11-02T10:00:00Z","provider":"hubspot"}}"#,
    );
    assert_eq!(cursor.sources[&Provider::Hubspot], DataSource::Synced);
    assert_eq!(
        cursor.last,
        Some(Bound {
            at: "2026-11-02T10:00:00Z".parse().unwrap(),
            provider: Provider::Hubspot,
        })
    );
}

#[test]
fn a_list_cursor_from_a_newer_release_decodes_without_what_it_added() {
    let cursor =
        merged(r#"{"positions":{"hubspot":"done"},"added_later":{"any":[1,2]},"format":7}"#);
    assert_eq!(cursor.positions[&Provider::Hubspot], Resume::Done);
}

#[test]
fn change_and_audit_cursors_keep_their_tagged_form() {
    let old = "Y2hhbmdlOjQy";
    let cursor = ChangeCursor::decode_cursor(old).expect("decodes");
    assert_eq!(cursor, ChangeCursor(42));
    assert_eq!(cursor.encode_cursor(), old);
    let old = "YXVkaXQ6MTc5NDA1MjgwMDAwMDAwMDowYjlmMmE1Mi0zYzFlLTRjNTUtOWE0My0yZjZmMWYwYjdkMTE";
    let cursor = AuditCursor::decode_cursor(old).expect("decodes");
    assert_eq!(cursor.encode_cursor(), old);
}
