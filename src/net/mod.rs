//! Outbound calls to URLs a caller names — a webhook's destination, an agent's tool — and the
//! one guard they all go through, so that a caller cannot point the gateway at its own host,
//! the private network it runs in, or the cloud's metadata service (server-side request
//! forgery).
//!
//! `addr.rs` sorts addresses into classes (public, loopback, private, link-local, metadata...);
//! `guard.rs` holds the policy from `[net]`, checks a URL before a call, and builds the HTTP
//! client that checks again every address it connects to and every redirect it follows.

mod addr;
mod guard;

pub use addr::AddressClass;
pub use guard::{GuardedClient, TargetRefused, UrlGuard, UrlGuardConfigError};
