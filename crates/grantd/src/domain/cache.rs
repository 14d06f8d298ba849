//! Short-lived memory of read-mostly lookups on the request path: which
//! project an API key or JWT signing key belongs to, and which provider app
//! a flow uses. Every authenticated request needs the first, every flow the
//! second; reading them from the database each time cost more than the rest
//! of the request (see BENCHMARKS.md).
//!
//! Entries live for a fixed time (`--cache-ttl-ms`). A change made through
//! this process clears the affected cache at once; a change made elsewhere
//! (another instance, the admin CLI) is seen here within that time. Only
//! what was found is remembered: an unknown key is looked up every time.
//!
//! Hand-written rather than a cache crate: a mutex around a map is all the
//! two-core, few-thousand-entry workload needs, and clearing on change is
//! the only eviction that matters besides age.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A map whose entries expire `ttl` after they were stored. It never holds
/// more than `capacity` entries: when full, expired entries are dropped,
/// and if none had expired, everything is (the next lookups refill it).
#[derive(Debug)]
pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A zero `ttl` turns the cache off: nothing is stored.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value stored under `key`, unless it has expired.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(stored, _)| stored.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.capacity {
            let ttl = self.ttl;
            entries.retain(|_, (stored, _)| stored.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Forgets one entry; called after a change it might reflect.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// Forgets everything; called after any change the entries might reflect.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_their_ttl() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.insert("k".to_owned(), 1);
        assert_eq!(cache.get("k"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("k"), None);
    }

    #[test]
    fn a_zero_ttl_stores_nothing() {
        let cache = TtlCache::new(Duration::ZERO, 10);
        cache.insert("k".to_owned(), 1);
        assert_eq!(cache.get("k"), None);
    }

    #[test]
    fn a_full_cache_never_grows_past_its_capacity() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            cache.insert(i, i);
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
        assert_eq!(cache.get(&9), Some(9));
    }

    #[test]
    fn remove_forgets_one_entry() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert(1, "a");
        cache.insert(2, "b");
        cache.remove(&1);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), Some("b"));
    }

    #[test]
    fn clear_forgets_everything() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert(1, "a");
        cache.clear();
        assert_eq!(cache.get(&1), None);
    }
}
