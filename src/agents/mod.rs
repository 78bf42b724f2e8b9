//! What agents and integrators reach the providers through, besides the unified schema: the
//! raw call (passthrough) a caller makes below a provider's API base, the MCP server at `/mcp`
//! whose tools run GraphQL documents against the same schema, and the audit log both write to.
//!
//! `path.rs` checks a raw call's path before anything is sent; `audit.rs` keeps the log;
//! `mcp/` serves the Model Context Protocol. The GraphQL fields (`passthrough`, `auditLog`)
//! live with the schema (`graphql::passthrough`, `graphql::audit`).

pub mod audit;
pub mod mcp;
pub mod path;

use serde::{Deserialize, Serialize};

/// `[mcp]`: the MCP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McpSettings {
    /// Serve `/mcp` at all.
    pub enabled: bool,
    /// Offer the `passthrough` tool (raw provider calls) to agents.
    pub passthrough: bool,
    /// The most a tool's result may weigh, in bytes of JSON; a list cut short carries a
    /// `nextCursor` to continue from.
    pub max_result_bytes: usize,
    /// Serve every request on its own, with no session (any instance behind a load balancer
    /// answers any request); `false` keeps sessions in the instance that made them (sticky).
    pub stateless: bool,
    /// The `Host` values the MCP endpoint answers (DNS-rebinding guard); empty: any.
    pub allowed_hosts: Vec<String>,
}

impl Default for McpSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            passthrough: false,
            max_result_bytes: 16 * 1024,
            stateless: true,
            allowed_hosts: Vec::new(),
        }
    }
}

/// `[passthrough]`: raw provider calls.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PassthroughSettings {
    /// The most of a provider's answer body returned, in bytes; a longer one is cut and marked
    /// `truncated`.
    pub max_body_bytes: usize,
}

impl Default for PassthroughSettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
        }
    }
}
