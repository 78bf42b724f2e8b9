//! Property tests of what clients hand the schema as opaque strings: list cursors and global
//! ids. Whatever the string, decoding answers (a value or bad input), never panics; whatever the
//! value, encoding then decoding gives it back.

use async_graphql::{ID, connection::CursorType};
use chrono::{DateTime, Utc};
use proptest::prelude::*;

use crate::providers::{Provider, record::Position};

use super::{
    freshness::DataSource,
    ids::GlobalId,
    lists::{Bound, MergedCursor, PageArgs, Resume},
};

fn provider() -> impl Strategy<Value = Provider> {
    proptest::sample::select(Provider::ALL.to_vec())
}

/// A time with microseconds, as providers' positions carry them.
fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800, 0u32..1_000_000)
        .prop_map(|(s, us)| DateTime::from_timestamp(s, us * 1_000).unwrap())
}

fn resume() -> impl Strategy<Value = Resume> {
    prop_oneof![
        Just(Resume::Done),
        (time(), any::<String>())
            .prop_map(|(at, remote_id)| Resume::At(Position { at, remote_id })),
    ]
}

fn source() -> impl Strategy<Value = DataSource> {
    prop_oneof![
        Just(DataSource::Live),
        Just(DataSource::Synced),
        Just(DataSource::Cached),
    ]
}

fn cursor() -> impl Strategy<Value = MergedCursor> {
    (
        proptest::collection::btree_map(provider(), resume(), 0..4),
        proptest::collection::btree_map(provider(), source(), 0..4),
        proptest::option::of(
            (time(), provider()).prop_map(|(at, provider)| Bound { at, provider }),
        ),
    )
        .prop_map(|(positions, sources, last)| MergedCursor {
            positions,
            sources,
            last,
        })
}

proptest! {
    #[test]
    fn any_string_as_a_cursor_decodes_or_is_bad_input(s in any::<String>()) {
        let _ = MergedCursor::decode_cursor(&s);
        if let Err(error) = PageArgs::parse(Some(10), Some(s)) {
            prop_assert_eq!(error.message, "`after` is not a cursor of this list");
        }
    }

    #[test]
    fn base64_of_any_bytes_as_a_cursor_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let _ = MergedCursor::decode_cursor(&URL_SAFE_NO_PAD.encode(bytes));
    }

    #[test]
    fn a_cursor_encoded_decodes_to_itself(cursor in cursor()) {
        let text = cursor.encode_cursor();
        prop_assert_eq!(MergedCursor::decode_cursor(&text).unwrap(), cursor);
    }

    #[test]
    fn any_string_as_an_id_parses_or_is_bad_input(s in any::<String>()) {
        if let Err(error) = GlobalId::parse("id", &ID(s)) {
            let code = error.extensions.and_then(|e| e.get("code").cloned());
            prop_assert_eq!(code, Some(async_graphql::Value::from("BAD_USER_INPUT")));
        }
    }

    #[test]
    fn a_record_id_round_trips(
        type_name in "[A-Z][A-Za-z]{0,15}",
        provider in provider(),
        remote_id in any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
    ) {
        let id = GlobalId::for_record(&type_name, provider, &remote_id);
        let parsed = GlobalId::parse_as("id", &id, &type_name).unwrap();
        prop_assert_eq!(parsed.record(), Some((provider, remote_id.as_str())));
    }
}
