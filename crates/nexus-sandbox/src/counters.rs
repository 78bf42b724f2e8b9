//! Counters of every upstream call the sandbox answered, by provider, route template and status:
//! `GET /_sandbox/counters` → `{"hubspot": {"GET /crm/v3/objects/{object}": {"200": 12}}}`.

use std::{collections::BTreeMap, sync::Mutex};

use serde::Serialize;

type ByStatus = BTreeMap<String, u64>;

#[derive(Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Counters(Mutex<BTreeMap<String, BTreeMap<String, ByStatus>>>);

impl Counters {
    pub fn record(&self, provider: &str, route: &str, status: u16) {
        let mut all = self.0.lock().expect("counters lock");
        *all.entry(provider.to_owned())
            .or_default()
            .entry(route.to_owned())
            .or_default()
            .entry(status.to_string())
            .or_default() += 1;
    }

    pub fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&*self.0.lock().expect("counters lock")).unwrap_or_default()
    }

    pub fn clear(&self) {
        self.0.lock().expect("counters lock").clear();
    }
}
