//! Per-account state: each provider account (a HubSpot portal, a Salesforce org) has its own
//! data, seeded on first use, behind one lock. Tokens name the account they belong to.

use std::{
    collections::HashMap,
    ops::{Deref, DerefMut},
    sync::{Mutex, MutexGuard},
};

pub struct Accounts<T> {
    stores: Mutex<HashMap<String, T>>,
    seed: fn(&str) -> T,
}

/// One account's state, locked.
pub struct AccountGuard<'a, T> {
    guard: MutexGuard<'a, HashMap<String, T>>,
    account: String,
}

impl<T> Accounts<T> {
    pub fn new(seed: fn(&str) -> T) -> Self {
        Self {
            stores: Mutex::default(),
            seed,
        }
    }

    /// Locks an account's state, seeding it on first use.
    pub fn lock(&self, account: &str) -> AccountGuard<'_, T> {
        let mut guard = self.stores.lock().expect("accounts lock");
        if !guard.contains_key(account) {
            let store = (self.seed)(account);
            guard.insert(account.to_owned(), store);
        }
        AccountGuard {
            guard,
            account: account.to_owned(),
        }
    }

    /// Forgets every account (they are seeded again on next use).
    pub fn clear(&self) {
        self.stores.lock().expect("accounts lock").clear();
    }
}

impl<T> Deref for AccountGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.guard[&self.account]
    }
}

impl<T> DerefMut for AccountGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard
            .get_mut(&self.account)
            .expect("seeded when locked")
    }
}
