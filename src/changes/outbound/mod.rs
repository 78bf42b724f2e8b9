//! Outbound webhooks: the change log pushed to partners' endpoints, as the Standard Webhooks
//! specification describes (standardwebhooks.com).
//!
//! `endpoints` is the repository callers manage endpoints through (made, listed, changed,
//! rotated, replayed, deleted; each endpoint is its maker's and receives what its maker may
//! read, and the project's notices such as `webhook_endpoint.disabled`). `worker` delivers: per endpoint, in order, at least once, from a cursor stored in the
//! endpoint's row and moved only by a 2xx, with one gateway at a time holding the endpoint
//! (`lease`). `signing` makes secrets and signatures, `payload` the `webhook-id` and body;
//! `reseal` re-seals the secrets under a new vault key (`nexus keys rotate-encryption`).
//! Target URLs go through the `net` guard, with `webhooks.allow_private_targets` as its policy
//! for private addresses.

mod endpoints;
mod lease;
mod payload;
mod reseal;
mod signing;
mod worker;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

pub use endpoints::{
    Bells, Delivery, Endpoint, EndpointChange, EndpointError, Endpoints, MAX_OVERLAP_SECS, Owner,
    Position, reveal,
};
pub use reseal::reseal_secrets;
pub use worker::{DELIVERY, Deliverer, EXCERPT_BYTES, SCANNER};

/// An endpoint's global id, as the schema's `WebhookEndpoint.id`.
pub fn endpoint_global_id(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("WebhookEndpoint:{id}"))
}
