//! The delivery worker: claims due webhook deliveries from the store,
//! POSTs each event signed with its endpoint's secret, and records the
//! outcome, retrying failures with exponential backoff and full jitter.
//!
//! Several grantd instances may share one database: a delivery is claimed
//! with a lease, so only one instance attempts it at a time, and a killed
//! instance's lease expires and the delivery is taken up by another.
//! Delivery is at least once: receivers deduplicate by `Grantd-Webhook-Id`.

use super::model::{from_millis, Timestamp};
use super::webhooks::WebhookSettings;
use super::Grantd;
use crate::secrets::Sealed;
use crate::storage::{now_millis, AttemptResult, DeliveryJob};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// Header carrying the event id: the same on every attempt, for deduplication.
pub const ID_HEADER: &str = "Grantd-Webhook-Id";
/// Header carrying the attempt's Unix time in seconds, covered by the signature.
pub const TIMESTAMP_HEADER: &str = "Grantd-Webhook-Timestamp";
/// Header carrying `v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
pub const SIGNATURE_HEADER: &str = "Grantd-Webhook-Signature";
/// Longest `lastError` kept; receivers' errors can be long.
const MAX_ERROR_LEN: usize = 500;

/// The JSON body POSTed to an endpoint.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookBody<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    created_at: Timestamp,
    project_id: &'a str,
    data: Value,
}

fn body_of(job: &DeliveryJob) -> Vec<u8> {
    let body = WebhookBody {
        id: &job.event_id,
        kind: &job.kind,
        created_at: from_millis(job.event_created_at),
        project_id: &job.project_id,
        data: serde_json::from_str(&job.data).unwrap_or_else(|_| Value::Object(Default::default())),
    };
    serde_json::to_vec(&body).unwrap_or_default()
}

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Grantd-Webhook-Signature` value for a body sent at `timestamp`:
/// `v1=` and the hex HMAC-SHA256, keyed with the whole secret string
/// (`whsec_` included), of `"{timestamp}.{body}"`. The timestamp is signed
/// so that a captured request cannot be replayed later with a new one.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// What a receiver does, for Rust receivers and tests: checks the signature
/// in constant time and refuses timestamps more than `tolerance` away from
/// `now` (Unix seconds).
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now: i64,
    tolerance: Duration,
) -> bool {
    let Ok(ts) = timestamp.trim().parse::<i64>() else {
        return false;
    };
    if now.abs_diff(ts) > tolerance.as_secs() {
        return false;
    }
    let Some(Ok(expected)) = signature.trim().strip_prefix("v1=").map(hex::decode) else {
        return false;
    };
    // verify_slice compares in constant time.
    mac(secret, ts, body).verify_slice(&expected).is_ok()
}

/// How one attempt went.
#[derive(Debug)]
enum Outcome {
    Delivered { status: u16 },
    Failed { status: Option<u16>, error: String },
}

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
fn conclude(
    settings: &WebhookSettings,
    attempts: i64,
    outcome: Outcome,
    now: i64,
) -> AttemptResult {
    match outcome {
        Outcome::Delivered { status } => AttemptResult {
            status: "delivered",
            next_attempt_at: None,
            last_status_code: Some(status.into()),
            last_error: None,
            delivered_at: Some(now),
            now,
        },
        Outcome::Failed { status, error } => {
            let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
            let (state, next) = if attempts >= settings.max_attempts {
                ("failed", None)
            } else {
                let delay = retry_delay(settings, attempts);
                let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                ("pending", Some(now.saturating_add(delay)))
            };
            let mut error = error;
            if error.len() > MAX_ERROR_LEN {
                let mut end = MAX_ERROR_LEN;
                while !error.is_char_boundary(end) {
                    end -= 1;
                }
                error.truncate(end);
            }
            AttemptResult {
                status: state,
                next_attempt_at: next,
                last_status_code: status.map(i64::from),
                last_error: Some(error),
                delivered_at: None,
                now,
            }
        }
    }
}

/// A transport error in words, without the URL (which may carry a token in
/// its query) and with the causes that say what actually went wrong.
fn describe(error: &reqwest::Error, timeout: Duration) -> String {
    if error.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let mut text = if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The client every attempt uses: redirects are not followed (a 3xx is a
/// failed attempt), and one timeout bounds the whole request.
fn http_client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("grantd-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static reqwest configuration is valid")
}

impl Grantd {
    /// Lets the delivery worker know there are new deliveries.
    pub(super) fn wake_webhook_worker(&self) {
        self.inner.webhook_wakeup.notify_one();
    }

    /// Makes one attempt at a claimed delivery.
    async fn attempt_delivery(&self, http: &reqwest::Client, job: &DeliveryJob) -> Outcome {
        let secret = match self.open_webhook_secret(
            &job.endpoint_id,
            Sealed {
                key_id: job.secret_key_id.clone(),
                bytes: job.secret_ciphertext.clone(),
            },
        ) {
            Ok(secret) => secret,
            Err(error) => {
                tracing::error!(%error, endpoint_id = %job.endpoint_id, "cannot open a webhook signing secret");
                return Outcome::Failed {
                    status: None,
                    error: "the signing secret could not be decrypted".into(),
                };
            }
        };
        let body = body_of(job);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign(secret.expose(), timestamp, &body);
        let sent = http
            .post(&job.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(ID_HEADER, &job.event_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Outcome::Delivered {
                status: response.status().as_u16(),
            },
            Ok(response) => {
                let status = response.status();
                let error = if status.is_redirection() {
                    format!("HTTP {} (redirects are not followed)", status.as_u16())
                } else {
                    format!("HTTP {}", status.as_u16())
                };
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error,
                }
            }
            Err(error) => Outcome::Failed {
                status: None,
                error: describe(&error, self.settings().webhooks.request_timeout),
            },
        }
    }

    /// Attempts a claimed delivery (unless it already used up its attempts,
    /// which happens when instances died holding it) and records the result.
    async fn run_delivery(&self, http: &reqwest::Client, owner: &str, job: DeliveryJob) {
        let settings = &self.settings().webhooks;
        let outcome = if job.attempts > i64::from(settings.max_attempts) {
            Outcome::Failed {
                status: None,
                error: "abandoned: attempts exhausted by instances that stopped mid-delivery"
                    .into(),
            }
        } else {
            self.attempt_delivery(http, &job).await
        };
        match &outcome {
            Outcome::Delivered { status } => {
                tracing::debug!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempt = job.attempts, status, "webhook delivered");
            }
            Outcome::Failed { status, error } => {
                tracing::info!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempt = job.attempts, status, %error, "webhook attempt failed");
            }
        }
        let result = conclude(settings, job.attempts, outcome, now_millis());
        if result.status == "failed" {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> WebhookSettings {
        WebhookSettings::default()
    }

    #[test]
    fn a_signature_verifies_and_a_changed_body_or_stale_timestamp_does_not() {
        let secret = "whsec_test";
        let now = 1_800_000_000;
        let signature = sign(secret, now, b"{\"a\":1}");
        let five_minutes = Duration::from_secs(300);
        assert!(verify(
            secret,
            &now.to_string(),
            b"{\"a\":1}",
            &signature,
            now,
            five_minutes
        ));
        assert!(!verify(
            secret,
            &now.to_string(),
            b"{\"a\":2}",
            &signature,
            now,
            five_minutes
        ));
        assert!(!verify(
            "whsec_other",
            &now.to_string(),
            b"{\"a\":1}",
            &signature,
            now,
            five_minutes
        ));
        assert!(!verify(
            secret,
            &now.to_string(),
            b"{\"a\":1}",
            &signature,
            now + 301,
            five_minutes
        ));
        assert!(!verify(
            secret,
            "soon",
            b"{\"a\":1}",
            &signature,
            now,
            five_minutes
        ));
        assert!(!verify(
            secret,
            &now.to_string(),
            b"{\"a\":1}",
            "v1=zz",
            now,
            five_minutes
        ));
    }

    #[test]
    fn the_signature_is_hex_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231-style cross-check computed independently of `mac`.
        let mut mac = HmacSha256::new_from_slice(b"key").unwrap();
        mac.update(b"42.body");
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(sign("key", 42, b"body"), expected);
    }

    #[test]
    fn retry_delays_double_from_the_base_up_to_the_cap() {
        let settings = settings();
        for attempts in 1..=20u32 {
            let ceiling = Duration::from_secs(5)
                .saturating_mul(1u32 << (attempts - 1).min(31))
                .min(Duration::from_secs(3600));
            for _ in 0..50 {
                assert!(retry_delay(&settings, attempts) <= ceiling);
            }
        }
    }

    #[test]
    fn failures_retry_until_the_last_attempt_then_fail() {
        let settings = settings();
        let failed = || Outcome::Failed {
            status: Some(500),
            error: "HTTP 500".into(),
        };
        let retry = conclude(&settings, 1, failed(), 1_000);
        assert_eq!(retry.status, "pending");
        let next = retry.next_attempt_at.unwrap();
        assert!((1_000..=6_000).contains(&next));
        assert_eq!(retry.last_status_code, Some(500));
        let last = conclude(&settings, 8, failed(), 1_000);
        assert_eq!(last.status, "failed");
        assert_eq!(last.next_attempt_at, None);
        let delivered = conclude(&settings, 3, Outcome::Delivered { status: 204 }, 1_000);
        assert_eq!(delivered.status, "delivered");
        assert_eq!(delivered.delivered_at, Some(1_000));
        assert_eq!(delivered.last_error, None);
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        let error = "é".repeat(400);
        let result = conclude(
            &settings(),
            1,
            Outcome::Failed {
                status: None,
                error,
            },
            0,
        );
        assert!(result.last_error.unwrap().len() <= MAX_ERROR_LEN);
    }
}
