//! The size cap on a tool's result (`mcp.max_result_bytes`): a list keeps the items that fit,
//! in order, and says where to continue (`nextCursor`); an item too large on its own loses its
//! `raw` payload first, and is refused only if it is still too large. Agents that read a whole
//! mailbox page at once are how a "top 10 messages" call becomes 300 KB; this is the bound.

use serde_json::{Map, Value, json};

/// Room for the envelope: `{"items":[],"nextCursor":"…"}` with a cursor of up to this size.
const ENVELOPE: usize = 256;

/// A list result: `{ items, nextCursor }`.
#[derive(Debug, PartialEq)]
pub struct Capped {
    pub items: Vec<Value>,
    pub next_cursor: Option<String>,
}

impl Capped {
    pub fn into_json(self) -> Value {
        let mut out = Map::new();
        out.insert("items".into(), Value::Array(self.items));
        if let Some(cursor) = self.next_cursor {
            out.insert("nextCursor".into(), Value::String(cursor));
        }
        Value::Object(out)
    }
}

/// One item is larger than the cap even without its payload.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("one item is {0} bytes, over the result cap of {1} bytes (mcp.max_result_bytes)")]
pub struct TooLarge(pub usize, pub usize);

/// Keeps the items of `entries` (each with the cursor that continues after it) that fit in
/// `max` bytes. `end`: where to continue when every item fits and the source has more.
pub fn cap(
    entries: Vec<(String, Value)>,
    end: Option<String>,
    max: usize,
) -> Result<Capped, TooLarge> {
    let mut used = ENVELOPE;
    let mut items = Vec::new();
    let total = entries.len();
    let mut last_cursor = None;
    for (cursor, mut item) in entries {
        let mut size = weight(&item) + 1;
        if items.is_empty() && used + size > max {
            if let Some(object) = item.as_object_mut() {
                object.remove("raw");
                object.insert("rawOmitted".into(), json!(true));
            }
            size = weight(&item) + 1;
            if used + size > max {
                return Err(TooLarge(size, max));
            }
        }
        if used + size > max {
            break;
        }
        used += size;
        items.push(item);
        last_cursor = Some(cursor);
    }
    let next_cursor = if items.len() < total {
        last_cursor
    } else {
        end
    };
    Ok(Capped { items, next_cursor })
}

/// The size of `value` as JSON.
pub fn weight(value: &Value) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize, text: usize) -> Vec<(String, Value)> {
        (0..n)
            .map(|i| {
                (
                    format!("c{i}"),
                    json!({ "id": i, "text": "x".repeat(text) }),
                )
            })
            .collect()
    }

    #[test]
    fn a_list_that_fits_is_whole_and_continues_where_the_source_does() {
        let capped = cap(entries(3, 10), Some("end".into()), 16 * 1024).unwrap();
        assert_eq!(capped.items.len(), 3);
        assert_eq!(capped.next_cursor.as_deref(), Some("end"));
        assert_eq!(
            cap(entries(3, 10), None, 16 * 1024).unwrap().next_cursor,
            None
        );
    }

    #[test]
    fn a_list_over_the_cap_keeps_what_fits_and_continues_after_it() {
        let capped = cap(entries(10, 100), None, ENVELOPE + 3 * 125).unwrap();
        assert_eq!(capped.items.len(), 3);
        assert_eq!(capped.next_cursor.as_deref(), Some("c2"));
        assert!(weight(&capped.into_json()) <= ENVELOPE + 3 * 125);
    }

    #[test]
    fn an_item_too_large_loses_its_payload_first() {
        let big = vec![("c0".to_owned(), json!({ "id": 1, "raw": "x".repeat(5000) }))];
        let capped = cap(big, None, 1024).unwrap();
        assert_eq!(capped.items[0]["rawOmitted"], true);
        assert!(matches!(
            cap(entries(1, 5000), None, 1024),
            Err(TooLarge(_, 1024))
        ));
    }
}
