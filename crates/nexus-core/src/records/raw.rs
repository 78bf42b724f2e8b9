//! [`Raw`]: a record's provider payload as it came, shared rather than copied, and parsed only
//! when something reads into it.
//!
//! A record read live arrives parsed (the adapter mapped it from its JSON), so its payload is
//! kept as that value. A record read back from the synced copy arrives as the text the copy
//! stored: it is kept as that text ([`RawValue`], checked to be JSON but not parsed) and parsed
//! the first time a reader asks for its value — the GraphQL `raw` and `field(name:)` fields,
//! a mapping that reads a provider field. A list whose query selects neither never builds a tree
//! of its records' payloads, and the parsed value, once built, is kept with the text for every
//! later reader of the same payload.
//!
//! Cloning a `Raw` shares the payload (a reference count), so records move through merges,
//! loaders and in-memory answers without copying their JSON.

use std::{
    fmt,
    ops::Index,
    sync::{Arc, OnceLock},
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, value::RawValue};

/// A provider's payload for one record: a JSON value, parsed or still text.
#[derive(Clone)]
pub struct Raw(Arc<Form>);

enum Form {
    /// Parsed by the adapter that read it.
    Parsed(Value),
    /// Text read back from storage, parsed on first use.
    Text {
        text: Box<RawValue>,
        parsed: OnceLock<Value>,
    },
}

impl Raw {
    /// A payload from its stored text (which must be JSON).
    pub fn from_text(text: Box<RawValue>) -> Self {
        Self(Arc::new(Form::Text {
            text,
            parsed: OnceLock::new(),
        }))
    }

    /// The payload as a JSON value, parsed now when it is still text (`null` if the text is not
    /// JSON, which a `RawValue` never holds).
    pub fn value(&self) -> &Value {
        match &*self.0 {
            Form::Parsed(value) => value,
            Form::Text { text, parsed } => {
                parsed.get_or_init(|| serde_json::from_str(text.get()).unwrap_or(Value::Null))
            }
        }
    }

    /// The member `key` of an object payload.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.value().get(key)
    }

    /// The payload as an owned value: moved out when this is its only holder, else copied.
    pub fn into_value(self) -> Value {
        match Arc::try_unwrap(self.0) {
            Ok(Form::Parsed(value)) => value,
            Ok(Form::Text { text, parsed }) => parsed
                .into_inner()
                .unwrap_or_else(|| serde_json::from_str(text.get()).unwrap_or(Value::Null)),
            Err(shared) => Raw(shared).value().clone(),
        }
    }

    /// Whether the payload is still unparsed text.
    pub fn is_text(&self) -> bool {
        matches!(&*self.0, Form::Text { parsed, .. } if parsed.get().is_none())
    }
}

impl Default for Raw {
    fn default() -> Self {
        Value::Null.into()
    }
}

impl From<Value> for Raw {
    fn from(value: Value) -> Self {
        Self(Arc::new(Form::Parsed(value)))
    }
}

impl Index<&str> for Raw {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        &self.value()[key]
    }
}

impl PartialEq for Raw {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.value() == other.value()
    }
}

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.0 {
            Form::Parsed(value) => fmt::Debug::fmt(value, f),
            Form::Text { text, .. } => fmt::Debug::fmt(text, f),
        }
    }
}

/// Written as the JSON value it is, by any serializer.
impl Serialize for Raw {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value().serialize(serializer)
    }
}

/// Read as text, not parsed: only `serde_json`'s deserializers (text and `Value`) can give it.
impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self::from_text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_text_is_parsed_only_when_read_and_then_once_for_every_holder() {
        let raw: Raw =
            serde_json::from_str(r#"{"properties": {"tier": "gold"}, "id": "7"}"#).expect("JSON");
        let shared = raw.clone();
        assert!(raw.is_text());
        assert_eq!(shared["properties"]["tier"], "gold");
        assert!(!raw.is_text(), "parsed once, for both holders");
        assert_eq!(raw.get("id"), Some(&json!("7")));
    }

    #[test]
    fn a_payload_writes_the_json_it_holds_however_it_came() {
        let value = json!({"a": [1, 2.5, null], "b": "x"});
        let parsed = Raw::from(value.clone());
        let text: Raw = serde_json::from_str(&value.to_string()).expect("JSON");
        assert_eq!(serde_json::to_value(&parsed).expect("value"), value);
        assert_eq!(serde_json::to_value(&text).expect("value"), value);
        assert_eq!(parsed, text);
        assert_eq!(text.into_value(), value);
        let from_value: Raw = serde_json::from_value(value.clone()).expect("from a value");
        assert_eq!(from_value.value(), &value);
    }
}
