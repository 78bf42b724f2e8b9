//! A retry budget per provider: every call puts a fraction of a retry into the budget (20% by
//! default) and every retry takes a whole one out, above a small reserve, so that a provider in
//! trouble sees at most a fifth more calls than the gateway was asked for — retries never
//! multiply an outage.

use std::{collections::HashMap, sync::Mutex};

use crate::providers::Provider;

pub struct RetryBudget {
    ratio: f64,
    reserve: f64,
    balances: Mutex<HashMap<Provider, f64>>,
}

impl RetryBudget {
    pub fn new(ratio: f64, reserve: u32) -> Self {
        Self {
            ratio: ratio.clamp(0.0, 1.0),
            reserve: f64::from(reserve),
            balances: Mutex::default(),
        }
    }

    /// Most a balance holds: the reserve plus what a hundred calls put in.
    fn cap(&self) -> f64 {
        self.reserve + 100.0 * self.ratio
    }

    /// A call was made (its first try).
    pub fn deposit(&self, provider: Provider) {
        let mut balances = self.balances.lock().expect("budget lock");
        let balance = balances.entry(provider).or_insert(self.reserve);
        *balance = (*balance + self.ratio).min(self.cap());
    }

    /// Takes one retry out of the budget, if there is one.
    pub fn withdraw(&self, provider: Provider) -> bool {
        let mut balances = self.balances.lock().expect("budget lock");
        let balance = balances.entry(provider).or_insert(self.reserve);
        if *balance >= 1.0 {
            *balance -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_stay_within_a_fifth_of_the_calls_plus_the_reserve() {
        let budget = RetryBudget::new(0.2, 10);
        let mut retries = 0;
        for _ in 0..1000 {
            budget.deposit(Provider::Hubspot);
            while budget.withdraw(Provider::Hubspot) {
                retries += 1;
            }
        }
        assert!(retries <= 10 + 200, "{retries}");
        assert!(retries >= 200, "the budget is there to be used: {retries}");
        assert!(budget.withdraw(Provider::Salesforce), "providers are apart");
    }
}
