//! `auditLog(first:, after:)`: the project's audit log (`agents::audit`), newest first, for
//! keys with the `audit` scope; every other caller is refused with `FORBIDDEN`.

use async_graphql::{
    Context, ErrorExtensions, ID, Object, Result, SimpleObject,
    connection::{Connection, CursorType, Edge},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};

use super::{
    AppContext,
    errors::{ErrorCode, bad_input, internal},
    lists::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, tenant},
    scopes::scopes,
};
use crate::{
    agents::audit::{After, Recorded},
    auth::Scope,
};

/// A position in the audit log: the last entry seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor(After);

impl CursorType for AuditCursor {
    type Error = &'static str;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| "not base64")?;
        let text = std::str::from_utf8(&bytes).map_err(|_| "not utf-8")?;
        let rest = text.strip_prefix("audit:").ok_or("not an audit cursor")?;
        let (micros, id) = rest.split_once(':').ok_or("not an audit cursor")?;
        let at = micros
            .parse()
            .ok()
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or("not a time")?;
        let id = id.parse().map_err(|_| "not an entry id")?;
        Ok(AuditCursor(After { at, id }))
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "audit:{}:{}",
            self.0.at.timestamp_micros(),
            self.0.id
        ))
    }
}

/// One audited call.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuditEntry {
    pub id: ID,
    /// `passthrough` (a raw provider call) or `mcp` (an MCP tool call).
    pub kind: String,
    /// The tool's name, or the raw call's method and path.
    pub action: String,
    /// The provider's slug, for raw calls.
    pub provider: Option<String>,
    /// `ok`, or the error code the caller got.
    pub outcome: String,
    /// The provider's HTTP status, when it answered.
    pub status: Option<i32>,
    /// The user the call was made as.
    pub user_id: ID,
    /// The API key it was made with; null for a JWT.
    pub key_id: Option<ID>,
    pub at: DateTime<Utc>,
    pub duration_ms: i64,
}

impl From<Recorded> for AuditEntry {
    fn from(row: Recorded) -> Self {
        Self {
            id: ID(row.id.to_string()),
            kind: row.kind,
            action: row.action,
            provider: row.provider,
            outcome: row.outcome,
            status: row.status,
            user_id: ID(row.user_id.to_string()),
            key_id: row.key_id.map(|k| ID(k.to_string())),
            at: row.at,
            duration_ms: row.duration_ms,
        }
    }
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The project's raw provider calls and MCP tool calls, newest first. Needs the `audit`
    /// scope.
    #[graphql(complexity = "super::lists::page_cost(first, child_complexity)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<AuditCursor, AuditEntry>> {
        let tenant = tenant(ctx)?;
        if !scopes(ctx).allows(Scope::Audit) {
            return Err(ErrorCode::Forbidden
                .error("the audit log needs a credential with the `audit` scope")
                .extend_with(|_, e| e.set("scope", Scope::Audit.as_str())));
        }
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(0..=MAX_PAGE_SIZE).contains(&first) {
            return Err(bad_input(
                "first",
                format!("`first` must be between 0 and {MAX_PAGE_SIZE}"),
            ));
        }
        let after = after
            .map(|c| {
                AuditCursor::decode_cursor(&c)
                    .map_err(|e| bad_input("after", format!("invalid cursor: {e}")))
            })
            .transpose()?;
        let (rows, more) = ctx
            .data_unchecked::<AppContext>()
            .audit
            .page(tenant.project_id, first as u64, after.map(|a| a.0))
            .await
            .map_err(internal)?;
        let mut connection = Connection::new(after.is_some(), more);
        for row in rows {
            let cursor = AuditCursor(After {
                at: row.at,
                id: row.id,
            });
            connection.edges.push(Edge::new(cursor, row.into()));
        }
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = AuditCursor(After {
            at: DateTime::from_timestamp_micros(1_765_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        });
        assert_eq!(
            AuditCursor::decode_cursor(&cursor.encode_cursor()),
            Ok(cursor)
        );
        assert!(AuditCursor::decode_cursor("bm9wZQ").is_err());
    }
}
