//! What the proxy remembers of the connections it calls with: the row and
//! its opened credentials, for `--cache-ttl-ms`. Without it every proxied
//! call reads the row and decrypts the credentials again, which cost more
//! than forwarding the call itself (BENCHMARKS.md §7).
//!
//! A change to a connection made through this process records an event, and
//! recording it forgets that connection here at once. A change made by
//! another instance or the admin CLI is seen within the TTL, as for API
//! keys. Until then a token renewed elsewhere is healed on its own: when the
//! provider refuses the old token, the version-fenced refresh finds the newer
//! credentials stored and the call is retried with them, without a second
//! call to the token endpoint.

use super::selector::ConnectionSelector;
use crate::domain::cache::TtlCache;
use crate::domain::model::Credentials;
use crate::storage::ConnectionRecord;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Most connections remembered; a full cache starts again (see [`TtlCache`]).
const CAPACITY: usize = 50_000;

/// A connection ready to be called with.
#[derive(Debug)]
pub(in crate::domain) struct Proxied {
    pub(in crate::domain) record: ConnectionRecord,
    pub(in crate::domain) credentials: Credentials,
    /// The connection's API base, built once (`None` when it cannot be:
    /// each call then builds it and reports why).
    pub(in crate::domain) base: Option<url::Url>,
}

/// (project id, group ref, canonical provider name): how a caller names a
/// connection without its id.
type GroupKey = (String, String, String);

#[derive(Debug)]
pub(in crate::domain) struct ProxiedConnections {
    by_id: TtlCache<String, Arc<Proxied>>,
    by_group: TtlCache<GroupKey, String>,
    /// Bumped by every change, so that a lookup that read the database
    /// before a change does not store what it read after the change was
    /// forgotten.
    changes: AtomicU64,
}

/// Where a lookup stood when it went to the database; see
/// [`ProxiedConnections::remember`].
#[derive(Debug, Clone, Copy)]
pub(in crate::domain) struct Mark(u64);

impl ProxiedConnections {
    /// A zero `ttl` remembers nothing: every call reads the database.
    pub(in crate::domain) fn new(ttl: Duration) -> Self {
        Self {
            by_id: TtlCache::new(ttl, CAPACITY),
            by_group: TtlCache::new(ttl, CAPACITY),
            changes: AtomicU64::new(0),
        }
    }

    /// The connection `selector` names in `project_id`, if remembered.
    /// `provider` is the canonical name for a group selector.
    pub(in crate::domain) fn get(
        &self,
        project_id: &str,
        selector: &ConnectionSelector,
        canonical_provider: Option<&str>,
    ) -> Option<Arc<Proxied>> {
        let id = match (selector, canonical_provider) {
            (ConnectionSelector::Id(id), _) => id.clone(),
            (ConnectionSelector::GroupAndProvider { group_ref, .. }, Some(provider)) => self
                .by_group
                .get(&group_key(project_id, group_ref, provider))?,
            (ConnectionSelector::GroupAndProvider { .. }, None) => return None,
        };
        // Another project's connection is never served from here: ids are
        // unique, but the check costs nothing and keeps isolation local.
        self.by_id
            .get(&id)
            .filter(|found| found.record.project_id == project_id)
    }

    /// Taken before reading the database for a lookup.
    pub(in crate::domain) fn mark(&self) -> Mark {
        Mark(self.changes.load(Ordering::Acquire))
    }

    /// Stores what a lookup begun at `mark` found, unless a connection
    /// changed since.
    pub(in crate::domain) fn remember(
        &self,
        mark: Mark,
        selector: &ConnectionSelector,
        canonical_provider: Option<&str>,
        proxied: Arc<Proxied>,
    ) {
        if self.changes.load(Ordering::Acquire) != mark.0 {
            return;
        }
        if let (ConnectionSelector::GroupAndProvider { group_ref, .. }, Some(provider)) =
            (selector, canonical_provider)
        {
            self.by_group.insert(
                group_key(&proxied.record.project_id, group_ref, provider),
                proxied.record.id.clone(),
            );
        }
        self.by_id.insert(proxied.record.id.clone(), proxied);
    }

    /// Forgets `connection_id` after it changed. When connections came or
    /// went (`membership`), which connection a group names may have changed
    /// too, so those answers are forgotten as well.
    pub(in crate::domain) fn forget(&self, connection_id: &str, membership: bool) {
        self.changes.fetch_add(1, Ordering::AcqRel);
        self.by_id.remove(connection_id);
        if membership {
            self.by_group.clear();
        }
    }
}

fn group_key(project_id: &str, group_ref: &str, provider: &str) -> GroupKey {
    (
        project_id.to_owned(),
        group_ref.to_owned(),
        provider.to_owned(),
    )
}
