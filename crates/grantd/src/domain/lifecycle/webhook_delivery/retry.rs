//! The retry policy: after an attempt, whether the delivery is done, failed
//! for good, or due again after an exponential, fully jittered delay. Apart
//! because it is pure arithmetic over the settings, tested without a network.

use crate::domain::lifecycle::webhook_delivery::attempt::Outcome;
use crate::domain::settings::WebhookSettings;
use crate::storage::AttemptResult;
use crate::vocab::DeliveryStatus;
use std::time::Duration;

/// The delay before attempt `attempts + 1` after `attempts` failed ones:
/// uniform in [0, min(cap, base · 2^(attempts − 1))] ("full jitter"), so
/// that receivers coming back from an outage are not hit by every retry at
/// the same instant.
fn retry_delay(settings: &WebhookSettings, attempts: u32) -> Duration {
    let exponent = attempts.saturating_sub(1).min(31);
    let ceiling = settings
        .retry_base
        .saturating_mul(1u32 << exponent)
        .min(settings.retry_cap);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::Rng::gen_range(&mut rand::thread_rng(), 0..=millis))
}

/// The row update an outcome calls for, after `attempts` attempts.
pub(super) fn conclude(
    settings: &WebhookSettings,
    attempts: i64,
    outcome: Outcome,
    now: i64,
) -> AttemptResult {
    match outcome {
        Outcome::Delivered { status } => AttemptResult {
            status: DeliveryStatus::Delivered,
            next_attempt_at: None,
            last_status_code: Some(status.into()),
            last_error: None,
            delivered_at: Some(now),
            now,
        },
        Outcome::Failed { status, error } => {
            let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
            let (state, next) = if attempts >= settings.max_attempts {
                (DeliveryStatus::Failed, None)
            } else {
                let delay = retry_delay(settings, attempts);
                let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                (DeliveryStatus::Pending, Some(now.saturating_add(delay)))
            };
            AttemptResult {
                status: state,
                next_attempt_at: next,
                last_status_code: status.map(i64::from),
                last_error: Some(error.class()),
                delivered_at: None,
                now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::webhook_delivery::failure::{shown_error, DeliveryError};

    fn settings() -> WebhookSettings {
        WebhookSettings::default()
    }

    #[test]
    fn retry_delays_double_from_the_base_up_to_the_cap() {
        let settings = settings();
        for attempts in 1..=20u32 {
            let ceiling = Duration::from_secs(5)
                .saturating_mul(1u32 << (attempts - 1).min(31))
                .min(Duration::from_secs(3600));
            let delays: Vec<Duration> =
                (0..200).map(|_| retry_delay(&settings, attempts)).collect();
            assert!(delays.iter().all(|delay| *delay <= ceiling));
            // Full jitter spreads the delays over the whole range: of 200
            // draws, one lands in the top half but for a 2^-200 chance. So
            // each ceiling is reached, twice the one before until the cap.
            let longest = delays.iter().max().unwrap();
            assert!(*longest > ceiling / 2, "{attempts}: {longest:?}");
        }
    }

    #[test]
    fn failures_retry_until_the_last_attempt_then_fail() {
        let settings = settings();
        let failed = || Outcome::Failed {
            status: Some(500),
            error: DeliveryError::Http(500),
        };
        let retry = conclude(&settings, 1, failed(), 1_000);
        assert_eq!(retry.status, DeliveryStatus::Pending);
        let next = retry.next_attempt_at.unwrap();
        assert!((1_000..=6_000).contains(&next));
        assert_eq!(retry.last_status_code, Some(500));
        let last = conclude(&settings, 8, failed(), 1_000);
        assert_eq!(last.status, DeliveryStatus::Failed);
        assert_eq!(last.next_attempt_at, None);
        let delivered = conclude(&settings, 3, Outcome::Delivered { status: 204 }, 1_000);
        assert_eq!(delivered.status, DeliveryStatus::Delivered);
        assert_eq!(delivered.delivered_at, Some(1_000));
        assert_eq!(delivered.last_error, None);
    }

    #[test]
    fn failures_are_recorded_as_classes() {
        let result = conclude(
            &settings(),
            1,
            Outcome::Failed {
                status: Some(503),
                error: DeliveryError::Http(503),
            },
            0,
        );
        assert_eq!(result.last_error.as_deref(), Some("http_503"));
        for (error, class) in [
            (DeliveryError::RefusedAddress, "refused_address"),
            (DeliveryError::Dns, "dns"),
            (DeliveryError::Connect, "connect"),
            (DeliveryError::Tls, "tls"),
            (DeliveryError::Timeout, "timeout"),
            (DeliveryError::Protocol, "protocol"),
            (DeliveryError::Http(307), "http_307"),
            (DeliveryError::SigningSecret, "signing_secret"),
            (DeliveryError::Abandoned, "abandoned"),
        ] {
            assert_eq!(error.class(), class);
            assert_eq!(shown_error(class), class, "a class is shown as it is");
        }
    }
}
