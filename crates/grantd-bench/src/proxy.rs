//! Phase 4: the proxy. One in-process upstream API, called directly and
//! through grantd's proxy listener in the same run by the same load client,
//! then a large streamed download through the proxy while grantd's RSS is
//! sampled.

use crate::bench::{scenario, sequential_scenario, Plan, Scenario};
use crate::process::{Grantd, Pinning, Server};
use anyhow::{bail, Context};
use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The catalog entry the proxied calls use (an API key in a header).
pub const PROXIED_PROVIDER: &str = "benchApi";

/// A small JSON answer, like a typical single-record read.
pub const ITEM: &str =
    r#"{"id":"0193a5d2","name":"Benchmark item","updatedAt":"2026-11-30T12:00:00Z"}"#;
/// Chunk size of the streamed download.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct ProxyPhase {
    /// Closed loops of `--concurrency` workers, every process on every CPU.
    pub direct: Scenario,
    pub proxied: Scenario,
    /// The same loops with grantd on a CPU of its own (see [`Pinning`]):
    /// the throughput figure, when the machine has two CPUs or more.
    pub pinned: Option<Pinned>,
    /// One request at a time: the latency the proxy adds to a call, without
    /// the queueing that a saturated closed loop measures instead.
    pub direct_one: Scenario,
    pub proxied_one: Scenario,
    /// Workers of the closed loops.
    pub concurrency: usize,
    pub download_bytes: u64,
    pub download: Duration,
    /// grantd's RSS before the download and the highest of the samples
    /// taken every 50 ms during it.
    pub rss_before: u64,
    pub rss_peak: u64,
    pub rss_samples: usize,
}

/// Rounds of the pinned loops. On a shared virtual machine the speed of
/// both loops drifts by a fifth from one minute to the next; the direct
/// and the proxied loop of one round run back to back, and the median of
/// the rounds' ratios is the figure.
pub const PINNED_ROUNDS: usize = 3;

#[derive(Debug, Clone)]
pub struct Pinned {
    pub pinning: Pinning,
    /// The round whose ratio is the median.
    pub direct: Scenario,
    pub proxied: Scenario,
    /// Proxied over direct throughput of each round, in the order run.
    pub ratios: Vec<f64>,
}

impl Pinned {
    pub fn median_ratio(&self) -> f64 {
        ratio(&self.proxied, &self.direct)
    }
}

fn ratio(proxied: &Scenario, direct: &Scenario) -> f64 {
    proxied.load.per_second() / direct.load.per_second().max(1e-9)
}

impl ProxyPhase {
    /// Proxied over direct throughput, grantd on its own CPU where it could be.
    pub fn throughput_ratio(&self) -> f64 {
        match &self.pinned {
            Some(pinned) => pinned.median_ratio(),
            None => self.shared_throughput_ratio(),
        }
    }

    /// Proxied over direct throughput with all processes sharing all CPUs.
    pub fn shared_throughput_ratio(&self) -> f64 {
        ratio(&self.proxied, &self.direct)
    }

    /// p50 of a proxied call minus p50 of the same call made directly,
    /// both one at a time.
    pub fn added_p50_ms(&self) -> f64 {
        self.proxied_one.load.quantile_ms(0.5) - self.direct_one.load.quantile_ms(0.5)
    }

    /// The same difference under the closed loop, where it is mostly the
    /// longer queue behind a slower server.
    pub fn added_p50_loaded_ms(&self) -> f64 {
        self.proxied.load.quantile_ms(0.5) - self.direct.load.quantile_ms(0.5)
    }

    pub fn rss_growth(&self) -> u64 {
        self.rss_peak.saturating_sub(self.rss_before)
    }
}

/// The upstream API: `/api/item` and `/api/download/{bytes}` (streamed in
/// 64 KiB chunks of one shared buffer, so the upstream itself holds nothing).
pub async fn start_upstream() -> anyhow::Result<String> {
    let chunk = Bytes::from(vec![b'x'; CHUNK]);
    let app = Router::new()
        .route(
            "/api/item",
            get(|| async { ([("content-type", "application/json")], ITEM) }),
        )
        .route(
            "/api/download/{bytes}",
            get(move |Path(total): Path<u64>| {
                let chunk = chunk.clone();
                async move {
                    let chunks = (0..total.div_ceil(CHUNK as u64)).map(move |i| {
                        let left = total - i * CHUNK as u64;
                        Ok::<_, std::io::Error>(chunk.slice(..(left.min(CHUNK as u64) as usize)))
                    });
                    Body::from_stream(futures_util::stream::iter(chunks))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the upstream")?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

/// The catalog entry for the upstream (loopback http is allowed in a
/// user's providers file).
pub fn providers_toml(upstream: &str) -> String {
    format!(
        r#"
[providers.{PROXIED_PROVIDER}]
displayName = "Benchmark upstream API"
category = "crm"
apiBaseUrl = "{upstream}/api"
authSchemes = ["apiKey"]
[providers.{PROXIED_PROVIDER}.apiKey]
in = "header"
name = "X-Api-Key"
"#
    )
}

/// Runs the phase on a grantd started with `--proxy-listen`.
pub async fn run(
    plan: &Plan,
    grantd: &Grantd,
    upstream: &str,
    log: &std::path::Path,
) -> anyhow::Result<ProxyPhase> {
    let project = grantd.create_project("proxy")?;
    let proxy_port = crate::process::free_port()?;
    let proxy_base = format!("http://127.0.0.1:{proxy_port}");
    let server = grantd
        .serve(
            &[
                "--proxy-listen".to_owned(),
                format!("127.0.0.1:{proxy_port}"),
            ],
            log,
        )
        .await?;
    let client = Client::builder()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(600))
        .build()
        .context("building the proxy load client")?;
    let connection = create_connection(&client, &server, &project.name, &project.api_key).await?;
    let headers = Arc::new(ProxyHeaders {
        project: project.name.clone(),
        api_key: project.api_key.clone(),
        connection,
    });

    let gets = Gets {
        client: client.clone(),
        direct_url: format!("{upstream}/api/item").into(),
        proxied_url: format!("{proxy_base}/item").into(),
        headers: headers.clone(),
    };
    let (direct, proxied) = closed_loops(
        plan,
        &server,
        &gets,
        [
            "direct GET upstream /api/item",
            "proxied GET /item (proxy listener)",
        ],
    )
    .await?;
    let pinned = match Pinning::split() {
        Some(pinning) => run_pinned(plan, &server, pinning, &gets).await?,
        None => None,
    };
    let g = gets.clone();
    let direct_one = sequential_scenario(
        plan,
        &server,
        "direct GET upstream /api/item, one at a time",
        move |_| g.clone().direct(),
    )
    .await?;
    let g = gets.clone();
    let proxied_one = sequential_scenario(
        plan,
        &server,
        "proxied GET /item, one at a time",
        move |_| g.clone().proxied(),
    )
    .await?;

    let total = plan.proxy_download_bytes;
    println!(
        "  streamed download of {} MiB through the proxy …",
        total >> 20
    );
    tokio::time::sleep(plan.settle).await;
    let rss_before = server.memory()?.rss;
    let peak = Arc::new(AtomicU64::new(rss_before));
    let samples = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (peak, samples, pid) = (peak.clone(), samples.clone(), server.pid);
        tokio::spawn(async move {
            loop {
                if let Ok(memory) = crate::process::memory(pid) {
                    peak.fetch_max(memory.rss, Ordering::Relaxed);
                    samples.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    let mut response = headers
        .apply(client.get(format!("{proxy_base}/download/{total}")))
        .send()
        .await
        .context("proxied download")?;
    if response.status() != StatusCode::OK {
        bail!("proxied download: {}", response.status());
    }
    let mut received = 0u64;
    while let Some(chunk) = response.chunk().await.context("reading the download")? {
        received += chunk.len() as u64;
    }
    let download = started.elapsed();
    sampler.abort();
    if received != total {
        bail!("proxied download: {received} of {total} bytes");
    }
    println!(
        "    {:.0} MiB/s, RSS {:.1} → {:.1} MiB",
        received as f64 / 1048576.0 / download.as_secs_f64(),
        crate::bench::mib(rss_before),
        crate::bench::mib(peak.load(Ordering::Relaxed))
    );
    let phase = ProxyPhase {
        direct,
        proxied,
        pinned,
        direct_one,
        proxied_one,
        concurrency: plan.concurrency,
        download_bytes: received,
        download,
        rss_before,
        rss_peak: peak.load(Ordering::Relaxed),
        rss_samples: samples.load(Ordering::Relaxed) as usize,
    };
    server.stop().await?;
    Ok(phase)
}

/// The phase's one GET, made directly or through the proxy: the direct one
/// carries the provider's key itself, the proxied one grantd's headers instead.
#[derive(Clone)]
struct Gets {
    client: Client,
    direct_url: Arc<str>,
    proxied_url: Arc<str>,
    headers: Arc<ProxyHeaders>,
}

impl Gets {
    async fn direct(self) -> anyhow::Result<()> {
        let response = self
            .client
            .get(&*self.direct_url)
            .header("X-Api-Key", "upstream-key")
            .send()
            .await?;
        expect_ok(response, "direct GET").await
    }

    async fn proxied(self) -> anyhow::Result<()> {
        let response = self
            .headers
            .apply(self.client.get(&*self.proxied_url))
            .send()
            .await?;
        expect_ok(response, "proxied GET").await
    }
}

/// The direct and the proxied closed loop, one after the other.
async fn closed_loops(
    plan: &Plan,
    server: &Server,
    gets: &Gets,
    [direct_name, proxied_name]: [&str; 2],
) -> anyhow::Result<(Scenario, Scenario)> {
    let g = gets.clone();
    let direct = scenario(plan, server, direct_name, move |_, _| g.clone().direct()).await?;
    let g = gets.clone();
    let proxied = scenario(plan, server, proxied_name, move |_, _| g.clone().proxied()).await?;
    Ok((direct, proxied))
}

/// The two closed loops again, the bench on all CPUs but the last and
/// grantd on that one; every CPU is given back afterwards. `None` where
/// the machine refuses the pinning (a container without the right).
async fn run_pinned(
    plan: &Plan,
    server: &Server,
    pinning: Pinning,
    gets: &Gets,
) -> anyhow::Result<Option<Pinned>> {
    println!(
        "  pinned: bench on CPUs {}, grantd on CPU {}",
        pinning.bench, pinning.grantd
    );
    let pinned = Pinning::apply(&pinning.bench, std::process::id())
        .and_then(|()| Pinning::apply(&pinning.grantd, server.pid));
    if let Err(error) = pinned {
        println!("    skipped: {error:#}");
        let all = Pinning::all();
        let _ = Pinning::apply(&all, std::process::id());
        let _ = Pinning::apply(&all, server.pid);
        return Ok(None);
    }
    let mut rounds = Vec::new();
    let mut failed = None;
    for _ in 0..PINNED_ROUNDS {
        let names = [
            "direct GET upstream /api/item, pinned",
            "proxied GET /item, pinned",
        ];
        match closed_loops(plan, server, gets, names).await {
            Ok(round) => rounds.push(round),
            Err(error) => {
                failed = Some(error);
                break;
            }
        }
    }
    let all = Pinning::all();
    Pinning::apply(&all, std::process::id())?;
    Pinning::apply(&all, server.pid)?;
    if let Some(error) = failed {
        return Err(error);
    }
    let ratios: Vec<f64> = rounds.iter().map(|(d, p)| ratio(p, d)).collect();
    let mut order: Vec<usize> = (0..rounds.len()).collect();
    order.sort_by(|a, b| ratios[*a].total_cmp(&ratios[*b]));
    let (direct, proxied) = rounds.swap_remove(order[order.len() / 2]);
    Ok(Some(Pinned {
        pinning,
        direct,
        proxied,
        ratios,
    }))
}

struct ProxyHeaders {
    project: String,
    api_key: String,
    connection: String,
}

impl ProxyHeaders {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request
            .header("x-amp-proxy-version", "1")
            .header("x-amp-project-id", &self.project)
            .header("x-api-key", &self.api_key)
            .header("x-amp-connection-id", &self.connection)
    }
}

async fn create_connection(
    client: &Client,
    server: &Server,
    project: &str,
    api_key: &str,
) -> anyhow::Result<String> {
    let response = client
        .post(format!(
            "{}/v1/projects/{project}/connections:generate",
            server.base
        ))
        .header("X-Api-Key", api_key)
        .json(
            &json!({"provider": PROXIED_PROVIDER, "groupRef": "proxy-bench",
                      "consumerRef": "bench-user", "apiKey": "upstream-key"}),
        )
        .send()
        .await
        .context("creating the proxied connection")?;
    if response.status() != StatusCode::CREATED {
        bail!(
            "creating the proxied connection: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    let created: serde_json::Value = response.json().await?;
    created["id"]
        .as_str()
        .map(str::to_owned)
        .context("connections:generate answered without an id")
}

/// Reads the whole body (so the connection is reused) and checks for a 200.
async fn expect_ok(response: reqwest::Response, what: &str) -> anyhow::Result<()> {
    let status = response.status();
    let body = response.bytes().await?;
    if status != StatusCode::OK || body.len() != ITEM.len() {
        bail!("{what}: {status}, {} bytes", body.len());
    }
    Ok(())
}
