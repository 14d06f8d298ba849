//! The delivery worker: claims due webhook deliveries from the store,
//! POSTs each event signed with its endpoint's secret, and records the
//! outcome, retrying failures with exponential backoff and full jitter.
//!
//! Several grantd instances may share one database: a delivery is claimed
//! with a lease, so only one instance attempts it at a time, and a killed
//! instance's lease expires and the delivery is taken up by another.
//! Delivery is at least once: receivers deduplicate by `Grantd-Webhook-Id`.
//!
//! This module claims and schedules; its children each do one job:
//! `attempt` sends one request, `retry` decides what comes after it,
//! `record` writes the result, and `failure` names the ways an attempt fails.

mod attempt;
pub mod failure;
mod record;
mod retry;

use crate::domain::handle::Grantd;
use crate::storage::now_millis;
use attempt::http_client;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

impl Grantd {
    /// Lets the delivery worker know there are new deliveries.
    pub(in crate::domain) fn wake_webhook_worker(&self) {
        self.inner.webhook_wakeup.notify_one();
    }
}

/// The running worker of one grantd instance.
pub struct WebhookWorker {
    grantd: Grantd,
    owner: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl WebhookWorker {
    /// Starts the worker on the current runtime. Its lease owner id is new
    /// for every start, so a restarted instance never mistakes an older
    /// lease for its own.
    pub fn start(grantd: Grantd) -> Self {
        let owner = uuid::Uuid::new_v4().to_string();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(work(grantd.clone(), owner.clone(), stopped));
        Self {
            grantd,
            owner,
            stop,
            task,
        }
    }

    /// Stops claiming, gives the attempts in flight up to `grace` to finish,
    /// abandons the rest and releases this instance's leases, so another
    /// instance (or the next start) retries them at once.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        match self
            .grantd
            .store()
            .release_webhook_leases(&self.owner)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "released webhook deliveries in flight"),
            Err(error) => {
                tracing::warn!(%error, "could not release webhook leases; they will expire")
            }
        }
    }
}

/// The worker loop: claim as many due deliveries as there are free slots,
/// attempt them concurrently, and sleep until woken by a new event, a
/// finished attempt, the poll interval (for retries coming due) or stop.
async fn work(grantd: Grantd, owner: String, mut stop: watch::Receiver<bool>) {
    let settings = grantd.settings().webhooks.clone();
    let http = http_client(&settings);
    let lease = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX);
    let concurrency = settings.concurrency.max(1);
    let mut in_flight = JoinSet::new();
    while !*stop.borrow() {
        while in_flight.try_join_next().is_some() {}
        let free = concurrency.saturating_sub(in_flight.len());
        if free > 0 {
            let now = now_millis();
            let claimed = grantd
                .store()
                .claim_webhook_deliveries(
                    &owner,
                    now,
                    now.saturating_add(lease),
                    i64::try_from(free).unwrap_or(1),
                )
                .await;
            match claimed {
                Ok(jobs) => {
                    for job in jobs {
                        let (grantd, http, owner) = (grantd.clone(), http.clone(), owner.clone());
                        in_flight
                            .spawn(async move { grantd.run_delivery(&http, &owner, job).await });
                    }
                }
                Err(error) => tracing::warn!(%error, "could not claim webhook deliveries"),
            }
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = grantd.inner.webhook_wakeup.notified() => {}
            () = tokio::time::sleep(settings.poll_interval) => {}
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
        }
    }
    while in_flight.join_next().await.is_some() {}
}
