//! The background refresher: due connections from the store, bounded
//! concurrency, a drain at shutdown.

use super::flights::Trigger;
use crate::domain::error::DomainResult;
use crate::domain::handle::Grantd;
use crate::domain::settings::RefreshSettings;
use crate::storage::now_millis;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The background refresher: picks due connections from the store, at most
/// `concurrency` at once and `per_provider` per provider, until `shutdown`.
pub async fn run_refresher(grantd: Grantd, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let settings = grantd.refresh_settings().clone();
    let global = Arc::new(Semaphore::new(settings.concurrency));
    // A finished refresh makes room at once: a backlog drains at the speed
    // of the provider, not one batch per tick.
    let room_freed = Arc::new(tokio::sync::Notify::new());
    // The first look comes one tick after start, not at once: a process
    // started with a long tick (an idle refresher) must stay idle.
    let mut tick =
        tokio::time::interval_at(tokio::time::Instant::now() + settings.tick, settings.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = room_freed.notified() => {}
            _ = shutdown.changed() => break,
        }
        if let Err(error) = grantd
            .dispatch_due(&global, &room_freed, &settings, &shutdown)
            .await
        {
            tracing::warn!(%error, "refresher could not read due connections");
        }
    }
    drain_refreshes(&global, settings.concurrency).await;
}

/// Waits for the refreshes in flight to store their answers. A provider that
/// rotates refresh tokens has retired the old one the moment it answered, so
/// an answer dropped at shutdown would cost the connection its grant. Every
/// task holds a permit of `global`; all permits back means none is running.
/// Bounded by the token call timeout, after which a call has failed anyway.
async fn drain_refreshes(global: &Semaphore, concurrency: usize) {
    let in_flight = concurrency - global.available_permits();
    if in_flight == 0 {
        return;
    }
    tracing::info!(in_flight, "waiting for token refreshes in flight to finish");
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let grace = crate::domain::oauth::token::TOKEN_CALL_TIMEOUT + Duration::from_secs(1);
    if tokio::time::timeout(grace, global.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("token refreshes still in flight at shutdown; their answers are lost");
    }
}

impl Grantd {
    /// Starts a task for every due connection there is room for.
    async fn dispatch_due(
        &self,
        global: &Arc<Semaphore>,
        room_freed: &Arc<tokio::sync::Notify>,
        settings: &RefreshSettings,
        shutdown: &tokio::sync::watch::Receiver<bool>,
    ) -> DomainResult<()> {
        let flights = &self.inner.flights;
        loop {
            let room = global.available_permits();
            if room == 0 {
                return Ok(());
            }
            let queued = flights.queued.lock().expect("queue").len();
            let busy = flights.busy_providers();
            let due = self
                .store()
                .due_for_refresh(now_millis(), (room + queued) as i64, &busy)
                .await?;
            let fetched = due.len();
            let mut started = 0;
            for row in due {
                if !flights.queued.lock().expect("queue").insert(row.id.clone()) {
                    continue;
                }
                let Ok(permit) = global.clone().try_acquire_owned() else {
                    flights.queued.lock().expect("queue").remove(&row.id);
                    return Ok(());
                };
                let limit = flights.provider_limit(&row.provider, settings.per_provider);
                let grantd = self.clone();
                let room_freed = room_freed.clone();
                let shutdown = shutdown.clone();
                started += 1;
                tokio::spawn(async move {
                    // One still queued behind its provider's limit when
                    // shutdown comes is not started: nothing to lose.
                    let slot = limit.acquire().await;
                    let stopping = *shutdown.borrow();
                    if slot.is_ok() && !stopping {
                        if let Err(error) = grantd.refresh(&row.id, Trigger::Due).await {
                            tracing::warn!(connection = %row.id, %error, "refresh failed to run");
                        }
                    }
                    drop(slot);
                    grantd
                        .inner
                        .flights
                        .queued
                        .lock()
                        .expect("queue")
                        .remove(&row.id);
                    drop(permit);
                    room_freed.notify_one();
                });
            }
            if started == 0 || fetched < room {
                return Ok(());
            }
        }
    }

    /// Releases the refresh leases this instance holds (see
    /// [`crate::storage::Store::release_refresh_leases`]).
    pub async fn release_refresh_leases(&self) {
        match self
            .store()
            .release_refresh_leases(&self.inner.instance_id)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released refresh leases at shutdown"),
            Err(error) => {
                tracing::warn!(%error, "could not release refresh leases; they will expire")
            }
        }
    }
}
