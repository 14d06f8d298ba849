//! The delivery worker: claims due webhook deliveries from the store,
//! POSTs each event signed with its endpoint's secret, and records the
//! outcome, retrying failures with exponential backoff and full jitter.
//!
//! Several grantd instances may share one database: a delivery is claimed
//! with a lease, so only one instance attempts it at a time, and a killed
//! instance's lease expires and the delivery is taken up by another.
//! Delivery is at least once: receivers deduplicate by `Grantd-Webhook-Id`.

use crate::domain::handle::Grantd;
use crate::domain::lifecycle::webhook_egress::{
    AddressRefused, DnsFailed, EgressPolicy, GuardedResolver,
};
use crate::domain::lifecycle::webhook_signing::body_of;
pub use crate::domain::lifecycle::webhook_signing::{
    sign, verify, ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use crate::domain::settings::WebhookSettings;
use crate::metrics::DeliveryOutcome;
use crate::secrets::Sealed;
use crate::storage::{now_millis, AttemptResult, DeliveryJob};
use crate::vocab::DeliveryStatus;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How one attempt went.
#[derive(Debug)]
enum Outcome {
    Delivered {
        status: u16,
    },
    Failed {
        status: Option<u16>,
        error: DeliveryError,
    },
}

/// Why an attempt failed, as the delivery log shows it: a class, never the
/// transport's own words, which name hosts, ports and what answered there
/// and would turn the log into a scanner of grantd's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryError {
    /// The destination address is one deliveries may not connect to
    /// (see `webhook_egress`); nothing was sent.
    RefusedAddress,
    /// The host name did not resolve.
    Dns,
    /// No TCP connection.
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection broke, or what came back was not HTTP.
    Protocol,
    /// An answer other than 2xx; a 3xx included, since redirects are not
    /// followed.
    Http(u16),
    /// The endpoint's signing secret could not be opened (its key is no
    /// longer in the keyring).
    SigningSecret,
    /// Instances stopped mid-delivery until the attempts ran out.
    Abandoned,
}

impl DeliveryError {
    /// The class recorded in `lastError`.
    pub fn class(self) -> String {
        match self {
            DeliveryError::RefusedAddress => "refused_address".into(),
            DeliveryError::Dns => "dns".into(),
            DeliveryError::Connect => "connect".into(),
            DeliveryError::Tls => "tls".into(),
            DeliveryError::Timeout => "timeout".into(),
            DeliveryError::Protocol => "protocol".into(),
            DeliveryError::Http(status) => format!("http_{status}"),
            DeliveryError::SigningSecret => "signing_secret".into(),
            DeliveryError::Abandoned => "abandoned".into(),
        }
    }

    /// The class of a transport error, found by walking its causes: the
    /// resolver's own errors say whether the name failed or its addresses
    /// were refused, and a rustls error under the connect error means TLS.
    fn of_transport(error: &reqwest::Error) -> Self {
        let causes = causes(error);
        if causes.iter().any(|e| e.is::<AddressRefused>()) {
            return DeliveryError::RefusedAddress;
        }
        if causes.iter().any(|e| e.is::<DnsFailed>()) {
            return DeliveryError::Dns;
        }
        let tls = causes.iter().any(|e| e.is::<rustls::Error>());
        if error.is_timeout() {
            DeliveryError::Timeout
        } else if tls {
            DeliveryError::Tls
        } else if error.is_connect() {
            DeliveryError::Connect
        } else {
            DeliveryError::Protocol
        }
    }
}

/// An error and all its causes. `io::Error` hides the error it wraps from
/// `source()` (it reports that error's own source), and TLS failures come
/// as an io::Error inside another, so wrapped errors are unpacked too.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut found = Vec::new();
    let mut pending = vec![error];
    while let Some(error) = pending.pop() {
        found.push(error);
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            pending.push(inner);
        }
        if let Some(source) = error.source() {
            pending.push(source);
        }
    }
    found
}

/// The `lastError` to show for a stored one. Instances of grantd before
/// error classes (still running beside newer ones during an upgrade, or
/// rows they left behind) stored the transport's words; those are shown by
/// their class too.
pub(in crate::domain) fn shown_error(stored: &str) -> String {
    const CLASSES: [&str; 8] = [
        "refused_address",
        "dns",
        "connect",
        "tls",
        "timeout",
        "protocol",
        "signing_secret",
        "abandoned",
    ];
    if CLASSES.contains(&stored) {
        return stored.to_owned();
    }
    let status = |digits: &str| {
        digits
            .parse::<u16>()
            .ok()
            .filter(|s| (100..=999).contains(s))
    };
    if let Some(status) = stored.strip_prefix("http_").and_then(status) {
        return DeliveryError::Http(status).class();
    }
    // The words older instances wrote.
    let legacy = if let Some(rest) = stored.strip_prefix("HTTP ") {
        match status(rest.get(..3).unwrap_or_default()) {
            Some(status) => DeliveryError::Http(status),
            None => DeliveryError::Protocol,
        }
    } else if stored.starts_with("timed out") {
        DeliveryError::Timeout
    } else if stored.starts_with("could not connect") {
        let lower = stored.to_ascii_lowercase();
        if lower.contains("dns error") {
            DeliveryError::Dns
        } else if lower.contains("certificate") || lower.contains("tls") {
            DeliveryError::Tls
        } else {
            DeliveryError::Connect
        }
    } else if stored.starts_with("the signing secret") {
        DeliveryError::SigningSecret
    } else if stored.starts_with("abandoned") {
        DeliveryError::Abandoned
    } else {
        DeliveryError::Protocol
    };
    legacy.class()
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

/// A transport error in words, for grantd's own debug log: without the URL
/// (which may carry a token in its query), with the causes that say what
/// actually went wrong.
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
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
/// failed attempt), one timeout bounds the whole request, and names resolve
/// through the egress guard. No proxy is used, not even one named by
/// `HTTPS_PROXY`: through a proxy grantd would resolve and check only the
/// proxy's address, and the proxy would connect anywhere.
fn http_client(settings: &WebhookSettings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver {
            policy: settings.egress_policy(),
        }))
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("grantd-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static reqwest configuration is valid")
}

/// The refusal of a URL whose host is an IP literal the policy refuses.
/// Literals never reach the resolver, so they are checked here, before
/// anything is sent: an endpoint registered while private addresses were
/// allowed is refused once they are not.
fn refused_literal(url: &str, policy: EgressPolicy) -> Option<AddressRefused> {
    let ip = match url::Url::parse(url).ok()?.host()? {
        url::Host::Ipv4(ip) => std::net::IpAddr::V4(ip),
        url::Host::Ipv6(ip) => std::net::IpAddr::V6(ip),
        url::Host::Domain(_) => return None,
    };
    policy.check(ip).err()
}

impl Grantd {
    /// Lets the delivery worker know there are new deliveries.
    pub(in crate::domain) fn wake_webhook_worker(&self) {
        self.inner.webhook_wakeup.notify_one();
    }

    /// Makes one attempt at a claimed delivery.
    async fn attempt_delivery(&self, http: &reqwest::Client, job: &DeliveryJob) -> Outcome {
        if let Some(refusal) = refused_literal(&job.url, self.settings().webhooks.egress_policy()) {
            tracing::debug!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, %refusal, "webhook destination refused");
            return Outcome::Failed {
                status: None,
                error: DeliveryError::RefusedAddress,
            };
        }
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
                    error: DeliveryError::SigningSecret,
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
                let status = response.status().as_u16();
                Outcome::Failed {
                    status: Some(status),
                    error: DeliveryError::Http(status),
                }
            }
            Err(error) => {
                let class = DeliveryError::of_transport(&error);
                tracing::debug!(delivery_id = %job.id, endpoint_id = %job.endpoint_id, error = %describe(&error), class = %class.class(), "webhook request failed");
                Outcome::Failed {
                    status: None,
                    error: class,
                }
            }
        }
    }

    /// Attempts a claimed delivery (unless it already used up its attempts,
    /// which happens when instances died holding it) and records the result.
    #[tracing::instrument(
        name = "webhook_delivery",
        skip_all,
        fields(delivery_id = %job.id, endpoint_id = %job.endpoint_id, attempt = job.attempts)
    )]
    async fn run_delivery(&self, http: &reqwest::Client, owner: &str, job: DeliveryJob) {
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
        // A timestamp from the future is as stale as one from the past.
        assert!(!verify(
            secret,
            &now.to_string(),
            b"{\"a\":1}",
            &signature,
            now - 301,
            five_minutes
        ));
        assert!(verify(
            secret,
            &now.to_string(),
            b"{\"a\":1}",
            &signature,
            now - 299,
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
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"key").unwrap();
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

    #[test]
    fn errors_stored_in_words_by_older_instances_are_shown_as_classes() {
        for (stored, class) in [
            ("HTTP 503", "http_503"),
            ("HTTP 307 (redirects are not followed)", "http_307"),
            ("timed out after 10000 ms", "timeout"),
            (
                "could not connect: client error (Connect): tcp connect error: Connection refused (os error 111)",
                "connect",
            ),
            (
                "could not connect: client error (Connect): dns error: failed to lookup address information",
                "dns",
            ),
            (
                "could not connect: client error (Connect): invalid peer certificate: UnknownIssuer",
                "tls",
            ),
            ("request failed: connection closed before message completed", "protocol"),
            ("the signing secret could not be decrypted", "signing_secret"),
            ("abandoned: attempts exhausted by instances that stopped mid-delivery", "abandoned"),
            ("http_9999", "protocol"),
            ("10.0.0.7:5432 said hello", "protocol"),
        ] {
            assert_eq!(shown_error(stored), class, "{stored}");
        }
    }

    #[test]
    fn a_refused_literal_is_caught_before_sending_and_names_are_left_to_the_resolver() {
        let strict = EgressPolicy {
            allow_private: false,
        };
        let open = EgressPolicy {
            allow_private: true,
        };
        assert!(refused_literal("https://10.0.0.1/hook", strict).is_some());
        assert!(refused_literal("http://127.0.0.1:9000/hook", strict).is_some());
        assert!(refused_literal("https://[::ffff:7f00:1]/hook", strict).is_some());
        assert!(refused_literal("https://169.254.169.254/latest", open).is_some());
        assert!(refused_literal("http://127.0.0.1:9000/hook", open).is_none());
        assert!(refused_literal("https://8.8.8.8/hook", strict).is_none());
        assert!(refused_literal("https://localhost/hook", strict).is_none());
    }
}
