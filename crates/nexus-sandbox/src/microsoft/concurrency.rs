//! Outlook's second limit: at most four requests in flight per app per mailbox. The fifth is
//! answered at once with 429 `ApplicationThrottled`, "Application is over its
//! MailboxConcurrency limit.", and `Retry-After: 1`.
//!
//! The middleware sits outside the faults layer, so a fault's latency holds the slot as a slow
//! mailbox would (that is how a test reaches the limit); its own 429s are counted as the faults
//! layer counts every answer (counters and arrivals).
//! Requests without a valid token pass through to get their 401 from the handler.

use std::{collections::HashMap, sync::Mutex};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::{Ctx, OUTLOOK, SLUG, TEAMS, bearer, error};
use crate::faults;

/// Requests an app may have in flight against one mailbox.
pub const MAILBOX_CONCURRENCY: u32 = 4;

/// Requests in flight, by `app|mailbox`.
#[derive(Debug, Default)]
pub struct InFlight(Mutex<HashMap<String, u32>>);

/// A taken slot, given back when the request ends (or is dropped).
struct Slot<'a> {
    in_flight: &'a InFlight,
    key: String,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut all = self.in_flight.0.lock().expect("in-flight lock");
        if let Some(n) = all.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                all.remove(&self.key);
            }
        }
    }
}

impl InFlight {
    fn take(&self, key: String) -> Option<Slot<'_>> {
        let mut all = self.0.lock().expect("in-flight lock");
        let n = all.entry(key.clone()).or_default();
        if *n >= MAILBOX_CONCURRENCY {
            return None;
        }
        *n += 1;
        Some(Slot {
            in_flight: self,
            key,
        })
    }

    pub fn clear(&self) {
        self.0.lock().expect("in-flight lock").clear();
    }
}

/// The middleware on Outlook's routes.
pub async fn layer(State(ctx): State<Ctx>, request: Request, next: Next) -> Response {
    let state = &ctx.state;
    if !state.limits_enforced(OUTLOOK) || !state.limits_enforced(SLUG) {
        return next.run(request).await;
    }
    let grant = {
        let now = state.clock.now();
        let tokens = state.tokens.lock().expect("tokens lock");
        let token = bearer(request.headers());
        [OUTLOOK, TEAMS]
            .into_iter()
            .find_map(|c| tokens.check(c, token, now).ok())
    };
    let Some(grant) = grant else {
        return next.run(request).await;
    };
    let key = format!("{}|{}", grant.provider, grant.account);
    let Some(slot) = state.microsoft.in_flight.take(key) else {
        let arrived = state.clock.now();
        faults::count(
            &ctx,
            &faults::route(&ctx, &request),
            429,
            arrived,
            (
                faults::decoded_query(&request),
                faults::traceparent(&request),
            ),
        );
        return error::throttled(
            "ApplicationThrottled",
            "Application is over its MailboxConcurrency limit.",
            1,
        )
        .into_response();
    };
    let response = next.run(request).await;
    drop(slot);
    response
}
