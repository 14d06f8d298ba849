//! What this process is refreshing right now: one lock per connection and
//! one permit pool per provider.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Per-connection locks and per-provider limits of this process.
#[derive(Debug, Default)]
pub struct Flights {
    pub(super) connections: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    pub(super) providers: Mutex<HashMap<String, Arc<Semaphore>>>,
    pub(super) queued: Mutex<HashSet<String>>,
}

impl Flights {
    pub(in crate::domain) fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.connections.lock().expect("flight map");
        map.entry(id.to_owned()).or_default().clone()
    }

    /// Drops the lock entry once nobody else is waiting on it.
    pub(in crate::domain) fn release(&self, id: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.connections.lock().expect("flight map");
        // Ours and the map's are the only references left.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(id);
        }
    }

    pub(in crate::domain) fn provider_limit(
        &self,
        provider: &str,
        per_provider: usize,
    ) -> Arc<Semaphore> {
        let mut map = self.providers.lock().expect("provider limits");
        map.entry(provider.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(per_provider)))
            .clone()
    }

    pub(in crate::domain) fn busy_providers(&self) -> Vec<String> {
        let map = self.providers.lock().expect("provider limits");
        map.iter()
            .filter(|(_, s)| s.available_permits() == 0)
            .map(|(name, _)| name.clone())
            .collect()
    }
}

/// What asked for a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// The schedule: act only if the row is still due.
    Due,
    /// An API read: act only if the token is expired or about to be.
    Read,
    /// The provider refused the access token of this credentials version
    /// (a proxied call got a 401): act only if the stored credentials are
    /// still that version, so a burst of 401s costs one refresh.
    Rejected { version: i64 },
    /// An API read with `refresh=force`: act whatever the expiry, unless the
    /// credentials moved past the version the caller read (someone else's
    /// refresh, which concurrent forced reads then share).
    Force { read_version: i64 },
}
