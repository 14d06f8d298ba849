//! A claimed delivery from attempt to recorded result: the attempt (or its
//! abandonment), the log line, the metric, and the row update under this
//! instance's lease. Apart from the loop that claims, which only schedules.

use crate::domain::handle::Grantd;
use crate::domain::lifecycle::webhook_delivery::attempt::Outcome;
use crate::domain::lifecycle::webhook_delivery::failure::DeliveryError;
use crate::domain::lifecycle::webhook_delivery::retry::conclude;
use crate::metrics::DeliveryOutcome;
use crate::storage::{now_millis, DeliveryJob};
use crate::vocab::DeliveryStatus;

impl Grantd {
    /// Attempts a claimed delivery (unless it already used up its attempts,
    /// which happens when instances died holding it) and records the result.
    #[tracing::instrument(
        name = "webhook_delivery",
        skip_all,
        fields(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempt = job.attempts)
    )]
    pub(super) async fn run_delivery(&self, http: &reqwest::Client, owner: &str, job: DeliveryJob) {
        let settings = &self.settings().webhooks;
        let outcome = if job.attempts > i64::from(settings.max_attempts) {
            Outcome::Failed {
                status: None,
                error: DeliveryError::Abandoned,
            }
        } else {
            self.attempt_delivery(http, &job).await
        };
        match &outcome {
            Outcome::Delivered { status } => {
                tracing::debug!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempt = job.attempts, status, "webhook delivered");
            }
            Outcome::Failed { status, error } => {
                tracing::info!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempt = job.attempts, status, error = %error.class(), "webhook attempt failed");
            }
        }
        let result = conclude(settings, job.attempts, outcome, now_millis());
        self.metrics().webhook_delivery(match result.status {
            DeliveryStatus::Delivered => DeliveryOutcome::Delivered,
            DeliveryStatus::Failed => DeliveryOutcome::Failed,
            DeliveryStatus::Pending => DeliveryOutcome::Retrying,
        });
        if result.status == DeliveryStatus::Failed {
            tracing::warn!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempts = job.attempts, "webhook delivery failed for good");
        }
        match self
            .store()
            .finish_webhook_attempt(&job.id, owner, &result)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(delivery_id = %job.id, "webhook lease was lost before the attempt was recorded")
            }
            Err(error) => {
                // The lease expires and the delivery is attempted again.
                tracing::warn!(%error, delivery_id = %job.id, "could not record a webhook attempt")
            }
        }
    }
}
