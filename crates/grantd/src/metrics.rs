//! What grantd counts, by name: the one place that knows metric names and
//! labels, so every layer records through a named function and a new
//! subsystem (the proxy) adds its own here.
//!
//! Each `Grantd` handle owns one registry (not the process-global
//! recorder of the `metrics` crate), so two servers in one process, as in
//! the test suite, count apart. Labels are bounded: route templates,
//! methods, status codes, provider names from the catalog and fixed outcome
//! classes; never ids, refs or URLs.

use metrics::{Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The route label of requests no route matched: scanners and typos must
/// not mint a series per path.
pub const UNMATCHED_ROUTE: &str = "unmatched";

const HTTP_DURATION: &str = "grantd_http_request_duration_seconds";
const PROXY_DURATION: &str = "grantd_proxy_call_duration_seconds";

/// Seconds; from a fast cache hit to the request timeout (60 s).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// One registry of counters, gauges and histograms; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The proxy's handles by provider, registered once: building a key
    /// and looking it up in the registry cost a dozen allocations, on every
    /// proxied call.
    proxy: Mutex<HashMap<String, ProxyHandles>>,
}

/// One provider's proxy metrics.
struct ProxyHandles {
    duration: metrics::Histogram,
    calls_by_status: HashMap<u16, metrics::Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Outcomes of one webhook delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// A 2xx answer.
    Delivered,
    /// The attempt failed and another is scheduled.
    Retrying,
    /// The last attempt failed: the delivery is `failed`.
    Failed,
}

impl DeliveryOutcome {
    fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retrying => "retrying",
            DeliveryOutcome::Failed => "failed",
        }
    }
}

/// The database gauges read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct StoreGauges {
    /// Working connections whose refresh is due and not done.
    pub refresh_backlog: i64,
    /// Seconds since the oldest of them fell due (0 when none is).
    pub refresh_backlog_age_seconds: f64,
    /// Webhook deliveries pending (waiting for their first or next attempt).
    pub webhook_queue_depth: i64,
    /// Seconds since the oldest pending delivery fell due (0 when none is).
    pub webhook_queue_age_seconds: f64,
    /// `(pool name, open connections, idle connections, maximum)`.
    pub pools: Vec<(&'static str, u32, u32, u32)>,
}

impl Metrics {
    pub fn new() -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(PROXY_DURATION.into()), LATENCY_BUCKETS)
            })
            .expect("the latency buckets are a valid, non-empty list")
            .build_recorder();
        let handle = recorder.handle();
        let metrics = Metrics {
            inner: Arc::new(Inner {
                recorder,
                handle,
                proxy: Mutex::default(),
            }),
        };
        metrics.describe();
        metrics
            .gauge(
                "grantd_build_info",
                &[("version", env!("CARGO_PKG_VERSION"))],
            )
            .set(1.0);
        metrics
    }

    /// The HELP line of every metric grantd exports.
    const HELP: &'static [(&'static str, &'static str)] = &[
        ("grantd_build_info", "Always 1; the version is a label."),
        (
            "grantd_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
        ),
        (
            HTTP_DURATION,
            "Time to answer an HTTP request, by route template, method and status.",
        ),
        (
            "grantd_oauth_flows_started_total",
            "OAuth flows started (oauth-connect, oauth-update, connect page).",
        ),
        (
            "grantd_oauth_flows_completed_total",
            "OAuth flows whose callback stored a connection.",
        ),
        (
            "grantd_oauth_flows_failed_total",
            "OAuth flows that ended without a connection, by reason.",
        ),
        (
            "grantd_token_refreshes_total",
            "Token refreshes attempted by the refresher, by outcome class.",
        ),
        (
            "grantd_refresh_backlog",
            "Working connections whose token refresh is due and not done.",
        ),
        (
            "grantd_refresh_backlog_oldest_age_seconds",
            "How long the oldest due refresh has waited.",
        ),
        (
            "grantd_webhook_deliveries_total",
            "Webhook delivery attempts, by outcome.",
        ),
        (
            "grantd_webhook_queue_depth",
            "Webhook deliveries waiting for an attempt.",
        ),
        (
            "grantd_webhook_queue_oldest_age_seconds",
            "How long the oldest due webhook delivery has waited.",
        ),
        (
            "grantd_db_pool_connections",
            "Open database connections, by pool.",
        ),
        (
            "grantd_db_pool_idle_connections",
            "Idle database connections, by pool.",
        ),
        (
            "grantd_db_pool_max_connections",
            "Largest size of each database pool.",
        ),
        (
            "grantd_db_query_errors_total",
            "Database statements that failed with an outage or an error, by class.",
        ),
        (
            "grantd_audit_write_failures_total",
            "Audit records that could not be written.",
        ),
        (
            "grantd_proxy_calls_total",
            "Proxied provider API calls, by provider and status.",
        ),
        (
            PROXY_DURATION,
            "Time of a proxied provider API call, by provider.",
        ),
    ];

    fn describe(&self) {
        let r = &self.inner.recorder;
        for (name, text) in Self::HELP {
            // Every kind takes the same description; which one is registered
            // later decides the TYPE line.
            r.describe_counter((*name).into(), None, (*text).into());
        }
    }

    fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
        let labels: Vec<Label> = labels
            .iter()
            .map(|(k, v)| Label::new(*k, (*v).to_owned()))
            .collect();
        Key::from_parts(name, labels)
    }

    fn counter(&self, name: &'static str, labels: &[(&'static str, &str)]) -> metrics::Counter {
        self.inner
            .recorder
            .register_counter(&Self::key(name, labels), &METADATA)
    }

    fn gauge(&self, name: &'static str, labels: &[(&'static str, &str)]) -> metrics::Gauge {
        self.inner
            .recorder
            .register_gauge(&Self::key(name, labels), &METADATA)
    }

    fn histogram(&self, name: &'static str, labels: &[(&'static str, &str)]) -> metrics::Histogram {
        self.inner
            .recorder
            .register_histogram(&Self::key(name, labels), &METADATA)
    }

    /// One answered HTTP request. `route` is the matched template
    /// (`/v1/projects/{projectIdOrName}/connections`) or [`UNMATCHED_ROUTE`].
    pub fn http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [("route", route), ("method", method), ("status", &status)];
        self.counter("grantd_http_requests_total", &labels)
            .increment(1);
        self.histogram(HTTP_DURATION, &labels)
            .record(elapsed.as_secs_f64());
    }

    /// An OAuth flow was stored and its URL handed out.
    pub fn flow_started(&self, provider: &str) {
        self.counter(
            "grantd_oauth_flows_started_total",
            &[("provider", provider)],
        )
        .increment(1);
    }

    /// A flow's callback stored (or re-authorized) a connection.
    pub fn flow_completed(&self, provider: &str) {
        self.counter(
            "grantd_oauth_flows_completed_total",
            &[("provider", provider)],
        )
        .increment(1);
    }

    /// A flow ended without a connection; `reason` is a fixed class
    /// (`provider_error`, `exchange_failed`, `csrf_rejected`, `invalid_state`).
    pub fn flow_failed(&self, provider: &str, reason: &str) {
        self.counter(
            "grantd_oauth_flows_failed_total",
            &[("provider", provider), ("reason", reason)],
        )
        .increment(1);
    }

    /// A refresh attempt ended; `outcome` is a fixed class (`refreshed`,
    /// `transient`, `revoked`, …).
    pub fn refresh(&self, provider: &str, outcome: &str) {
        self.counter(
            "grantd_token_refreshes_total",
            &[("provider", provider), ("outcome", outcome)],
        )
        .increment(1);
    }

    /// A webhook delivery attempt ended.
    pub fn webhook_delivery(&self, outcome: DeliveryOutcome) {
        self.counter(
            "grantd_webhook_deliveries_total",
            &[("outcome", outcome.as_str())],
        )
        .increment(1);
    }

    /// An audit record could not be written (the action it records failed
    /// or, for writes already made, was logged).
    pub fn audit_write_failed(&self) {
        self.counter("grantd_audit_write_failures_total", &[])
            .increment(1);
    }

    /// For the proxy: one call to a provider's API and the status it
    /// answered (0 when no answer came).
    pub fn proxy_call(&self, provider: &str, status: u16, elapsed: Duration) {
        let mut proxy = self.inner.proxy.lock().unwrap_or_else(|e| e.into_inner());
        if !proxy.contains_key(provider) {
            let handles = ProxyHandles {
                duration: self.histogram(PROXY_DURATION, &[("provider", provider)]),
                calls_by_status: HashMap::new(),
            };
            proxy.insert(provider.to_owned(), handles);
        }
        let Some(handles) = proxy.get_mut(provider) else {
            return;
        };
        handles.duration.record(elapsed.as_secs_f64());
        handles
            .calls_by_status
            .entry(status)
            .or_insert_with(|| {
                self.counter(
                    "grantd_proxy_calls_total",
                    &[("provider", provider), ("status", &status.to_string())],
                )
            })
            .increment(1);
    }

    /// Sets the gauges read from the store at scrape time.
    pub fn set_store_gauges(&self, gauges: &StoreGauges) {
        self.gauge("grantd_refresh_backlog", &[])
            .set(gauges.refresh_backlog as f64);
        self.gauge("grantd_refresh_backlog_oldest_age_seconds", &[])
            .set(gauges.refresh_backlog_age_seconds);
        self.gauge("grantd_webhook_queue_depth", &[])
            .set(gauges.webhook_queue_depth as f64);
        self.gauge("grantd_webhook_queue_oldest_age_seconds", &[])
            .set(gauges.webhook_queue_age_seconds);
        self.set_pool_gauges(gauges);
    }

    /// Sets the pool gauges only (when the backlog could not be read).
    pub fn set_pool_gauges(&self, gauges: &StoreGauges) {
        for (pool, size, idle, max) in &gauges.pools {
            let labels = [("pool", *pool)];
            self.gauge("grantd_db_pool_connections", &labels)
                .set(f64::from(*size));
            self.gauge("grantd_db_pool_idle_connections", &labels)
                .set(f64::from(*idle));
            self.gauge("grantd_db_pool_max_connections", &labels)
                .set(f64::from(*max));
        }
    }

    /// The Prometheus text exposition of everything recorded so far,
    /// with the process-wide query error counts brought up to date.
    pub fn render(&self) -> String {
        for (class, count) in query_errors() {
            self.counter("grantd_db_query_errors_total", &[("class", class)])
                .absolute(count);
        }
        self.inner.handle.run_upkeep();
        self.inner.handle.render()
    }
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// Classes of failed database statements, counted process-wide where
/// `sqlx` errors become store errors (one conversion, no handle at hand).
#[derive(Debug, Clone, Copy)]
pub enum QueryErrorClass {
    /// The database could not be reached, or answered "try again".
    Unavailable,
    /// Any other database error (constraint, syntax, type).
    Database,
}

static QUERY_ERRORS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Counts a failed statement; called by the storage layer.
pub fn query_error(class: QueryErrorClass) {
    QUERY_ERRORS[class as usize].fetch_add(1, Ordering::Relaxed);
}

fn query_errors() -> [(&'static str, u64); 2] {
    [
        (
            "unavailable",
            QUERY_ERRORS[QueryErrorClass::Unavailable as usize].load(Ordering::Relaxed),
        ),
        (
            "database",
            QUERY_ERRORS[QueryErrorClass::Database as usize].load(Ordering::Relaxed),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_registries_count_apart_and_render_prometheus_text() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.flow_started("github");
        a.flow_started("github");
        b.flow_started("github");
        let text = a.render();
        assert!(
            text.contains("grantd_oauth_flows_started_total{provider=\"github\"} 2"),
            "{text}"
        );
        assert!(text.contains("# TYPE grantd_oauth_flows_started_total counter"));
        assert!(text.contains("grantd_build_info{version="));
        assert!(b
            .render()
            .contains("grantd_oauth_flows_started_total{provider=\"github\"} 1"));
    }
}
