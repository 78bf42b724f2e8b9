//! Quotas the provider counts and reports itself, read from its answers (Salesforce's
//! `Sforce-Limit-Info: api-usage=N/M`, the org's calls over all its apps): the last report per
//! connection, so that once the provider says the quota is spent, calls fail at once instead of
//! drawing its refusals — even while our own daily counters still have room. A report holds for
//! the UTC day it was made; the first call of the next day reaches the provider and reads the
//! figure again.

use std::{collections::HashMap, sync::Mutex};

use chrono::{NaiveDate, Utc};

use crate::providers::Provider;

use super::Key;

/// A provider's own figure for one of its quotas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// The quota's name in metrics (`api_usage`).
    pub class: &'static str,
    pub used: u64,
    pub limit: u64,
}

impl Usage {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }
}

/// Reads a provider's answer headers for its own usage report.
pub type ReadUsage = fn(&http::HeaderMap) -> Option<Usage>;

/// The last report per connection.
#[derive(Default)]
pub struct Reports {
    last: Mutex<HashMap<(Provider, Key), (NaiveDate, Usage)>>,
}

impl Reports {
    pub fn record(&self, provider: Provider, key: Key, usage: Usage) {
        self.last
            .lock()
            .expect("reports lock")
            .insert((provider, key), (Utc::now().date_naive(), usage));
    }

    /// The spent quota the provider reported today for this connection, if any.
    pub fn spent(&self, provider: Provider, key: Key) -> Option<Usage> {
        let last = self.last.lock().expect("reports lock");
        let (day, usage) = last.get(&(provider, key))?;
        (*day == Utc::now().date_naive() && usage.remaining() == 0).then_some(*usage)
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    #[test]
    fn a_full_report_refuses_until_a_report_with_room() {
        let reports = Reports::default();
        let key = (Uuid::nil(), Uuid::nil());
        let usage = |used| Usage {
            class: "api_usage",
            used,
            limit: 10,
        };
        assert_eq!(reports.spent(Provider::Salesforce, key), None);
        reports.record(Provider::Salesforce, key, usage(9));
        assert_eq!(reports.spent(Provider::Salesforce, key), None);
        reports.record(Provider::Salesforce, key, usage(10));
        assert_eq!(reports.spent(Provider::Salesforce, key), Some(usage(10)));
        assert_eq!(reports.spent(Provider::Hubspot, key), None, "per provider");
        reports.record(Provider::Salesforce, key, usage(3));
        assert_eq!(reports.spent(Provider::Salesforce, key), None);
    }
}
