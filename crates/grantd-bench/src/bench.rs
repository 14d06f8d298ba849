//! The benchmark itself, in three phases on real `grantd serve` processes:
//! the HTTP scenarios on a fresh store, the same reads on a large store, and
//! a token refresh wave against a rate-limited provider.

use crate::api::{Api, PROVIDER};
use crate::db;
use crate::load::{self, LoadResult};
use crate::mock::MockProvider;
use crate::process::{self, Grantd, Memory, Project, Server};
use anyhow::{bail, Context};
use serde_json::json;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sizes and durations of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: &'static str,
    pub concurrency: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Quiet time after startup before idle memory is read.
    pub settle: Duration,
    pub store_connections: u64,
    pub refresh_connections: u64,
    /// Token endpoint calls per second the mock allows during the wave.
    pub refresh_rate: u32,
    /// `--refresh-concurrency` and `--refresh-per-provider` for the wave.
    pub refresh_concurrency: usize,
    /// Real connections the GET scenarios read (ids from the generate scenario).
    pub get_sample: usize,
    /// Size of the streamed download through the proxy.
    pub proxy_download_bytes: u64,
}

/// One measured scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    pub load: LoadResult,
    /// grantd's CPU time inside the measurement window.
    pub grantd_cpu: Duration,
    /// This process's CPU time (load client and mock) inside the window.
    pub bench_cpu: Duration,
    /// CPU time of everything else on the machine inside the window.
    pub other_cpu: Duration,
    /// grantd's context switches inside the window.
    pub context_switches: u64,
    pub memory_after: Memory,
}

#[derive(Debug, Clone)]
pub struct FreshStore {
    pub startup: Duration,
    pub idle: Memory,
    pub scenarios: Vec<Scenario>,
    /// Connections in the store after the scenarios.
    pub connections_after: u64,
    pub peak: Memory,
}

#[derive(Debug, Clone)]
pub struct LargeStore {
    pub connections: u64,
    /// Connections made through the API (readable); the rest are copies.
    pub real: u64,
    pub seeded: db::Seeded,
    pub store_bytes: u64,
    pub startup: Duration,
    pub idle: Memory,
    pub get: Scenario,
    pub list: Scenario,
    pub peak: Memory,
}

#[derive(Debug, Clone)]
pub struct Wave {
    pub connections: u64,
    pub rate: u32,
    pub concurrency: usize,
    /// Creating the connections through `connections:generate`.
    pub seeding: LoadResult,
    pub due_at_restart: u64,
    pub startup: Duration,
    /// From spawning grantd to the last connection stored refreshed.
    pub total: Option<Duration>,
    pub refreshed: u64,
    /// First to last refresh call the provider received.
    pub provider_span: Option<Duration>,
    pub refresh_calls: u64,
    pub double_refreshes: u64,
    pub failed: u64,
    pub rss_start: u64,
    pub rss_peak_sampled: u64,
    pub rss_samples: usize,
    pub peak: Memory,
    pub grantd_cpu: Duration,
    pub stalled: bool,
}

#[derive(Debug, Clone)]
pub struct Results {
    pub grantd_version: String,
    pub binary: PathBuf,
    pub fresh: FreshStore,
    pub large: LargeStore,
    pub wave: Wave,
    pub proxy: crate::proxy::ProxyPhase,
    pub mock_token_errors: u64,
}

impl Results {
    /// Problems that mean a figure is not what it claims to be (not
    /// performance targets): failed requests, an unfinished wave, doubles.
    pub fn correctness_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let scenarios = self.fresh.scenarios.iter().chain([
            &self.large.get,
            &self.large.list,
            &self.proxy.direct,
            &self.proxy.proxied,
        ]);
        for s in scenarios {
            if s.load.errors > 0 {
                problems.push(format!(
                    "{}: {} errors (first: {})",
                    s.name,
                    s.load.errors,
                    s.load.first_error.as_deref().unwrap_or("?")
                ));
            }
            if s.load.ok == 0 {
                problems.push(format!("{}: no request succeeded", s.name));
            }
        }
        if self.wave.seeding.errors > 0 {
            problems.push(format!(
                "refresh wave seeding: {} errors (first: {})",
                self.wave.seeding.errors,
                self.wave.seeding.first_error.as_deref().unwrap_or("?")
            ));
        }
        if self.wave.total.is_none() {
            problems.push(format!(
                "refresh wave: only {} of {} connections refreshed",
                self.wave.refreshed, self.wave.connections
            ));
        }
        if self.wave.double_refreshes > 0 {
            problems.push(format!(
                "refresh wave: {} double refreshes",
                self.wave.double_refreshes
            ));
        }
        if self.wave.failed > 0 {
            problems.push(format!(
                "refresh wave: {} connections failed",
                self.wave.failed
            ));
        }
        problems
    }
}

/// The benchmark's providers file: one provider served by the mock, with the
/// three schemes the scenarios use. PKCE is on, as most providers allow it.
fn providers_toml(base: &str) -> String {
    format!(
        r#"[providers.{PROVIDER}]
displayName = "Benchmark mock provider"
category = "crm"
authSchemes = ["oauth2/authorizationCode", "oauth2/clientCredentials", "apiKey"]
[providers.{PROVIDER}.oauth2]
authorizeUrl = "{base}/authorize"
tokenUrl = "{base}/token"
pkce = "allowed"
tokenAuth = "body"
[providers.{PROVIDER}.apiKey]
in = "header"
name = "X-Api-Key"
"#
    )
}

/// A well-spread pseudo-random number from two counters (splitmix64), so
/// workers read different rows without sharing an RNG.
fn spread(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn own_cpu() -> anyhow::Result<Duration> {
    process::cpu_time(std::process::id())
}

/// CPU time of grantd, of this process and of the whole machine at one instant.
#[derive(Debug, Clone, Copy)]
struct CpuMark {
    grantd: Duration,
    bench: Duration,
    machine: Duration,
    switches: u64,
}

impl CpuMark {
    fn take(pid: u32) -> anyhow::Result<Self> {
        Ok(CpuMark {
            grantd: process::cpu_time(pid)?,
            bench: own_cpu()?,
            machine: process::machine_busy()?,
            switches: process::context_switches(pid)?,
        })
    }

    /// What happened between `self` and `later`.
    fn until(self, later: CpuMark) -> CpuUse {
        let grantd = later.grantd.saturating_sub(self.grantd);
        let bench = later.bench.saturating_sub(self.bench);
        let machine = later.machine.saturating_sub(self.machine);
        CpuUse {
            grantd,
            bench,
            other: machine.saturating_sub(grantd + bench),
            switches: later.switches.saturating_sub(self.switches),
        }
    }
}

/// CPU time of grantd, this process and the rest of the machine over a
/// window, and grantd's context switches in it.
#[derive(Debug, Clone, Copy)]
struct CpuUse {
    grantd: Duration,
    bench: Duration,
    other: Duration,
    switches: u64,
}

fn finish(name: &str, server: &Server, load: LoadResult, cpu: CpuUse) -> anyhow::Result<Scenario> {
    let result = Scenario {
        name: name.to_owned(),
        grantd_cpu: cpu.grantd,
        bench_cpu: cpu.bench,
        other_cpu: cpu.other,
        context_switches: cpu.switches,
        memory_after: server.memory()?,
        load,
    };
    println!(
        "    {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, {} errors{}",
        result.load.per_second(),
        result.load.quantile_ms(0.5),
        result.load.quantile_ms(0.99),
        result.load.errors,
        result
            .load
            .first_error
            .as_deref()
            .map(|e| format!(" (first: {e})"))
            .unwrap_or_default()
    );
    Ok(result)
}

/// Runs one closed-loop scenario against `server`, with CPU time of both
/// processes taken at the edges of the measurement window.
pub(crate) async fn scenario<F, Fut>(
    plan: &Plan,
    server: &Server,
    name: &str,
    op: F,
) -> anyhow::Result<Scenario>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    println!("  {name} …");
    let pid = server.pid;
    let (warmup, duration) = (plan.warmup, plan.duration);
    let cpu = tokio::spawn(async move {
        tokio::time::sleep(warmup).await;
        let start = CpuMark::take(pid)?;
        tokio::time::sleep(duration).await;
        anyhow::Ok(start.until(CpuMark::take(pid)?))
    });
    let load = load::run_for(plan.concurrency, warmup, duration, op).await?;
    let cpu = cpu.await.context("the CPU sampler panicked")??;
    finish(name, server, load, cpu)
}

/// Runs a slow operation one request at a time for the scenario duration
/// (at least three times).
pub(crate) async fn sequential_scenario<F, Fut>(
    plan: &Plan,
    server: &Server,
    name: &str,
    op: F,
) -> anyhow::Result<Scenario>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    println!("  {name} …");
    let start = CpuMark::take(server.pid)?;
    let load = load::run_sequential(3, plan.duration, op).await?;
    let cpu = start.until(CpuMark::take(server.pid)?);
    finish(name, server, load, cpu)
}

/// Waits `settle`, then reads memory: what an idle server holds.
async fn idle_memory(plan: &Plan, server: &Server) -> anyhow::Result<Memory> {
    tokio::time::sleep(plan.settle).await;
    server.memory()
}

fn get_scenario(api: &Api, ids: Arc<Vec<String>>) -> impl Fn(usize, u64) -> GetFuture {
    let api = api.clone();
    move |worker, i| {
        let api = api.clone();
        let ids = ids.clone();
        Box::pin(async move {
            let id = &ids[(spread(worker as u64, i) % ids.len() as u64) as usize];
            api.get_with_credentials(id).await
        })
    }
}

type GetFuture = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

pub struct Bench {
    pub plan: Plan,
    pub binary: PathBuf,
    pub work_dir: PathBuf,
    pub rust_log: Option<String>,
}

impl Bench {
    fn grantd(&self, data_dir: &Path, key: &str, providers: &Path) -> Grantd {
        Grantd {
            binary: self.binary.clone(),
            data_dir: data_dir.to_path_buf(),
            encryption_key: key.to_owned(),
            providers_file: providers.to_path_buf(),
            rust_log: self.rust_log.clone(),
        }
    }

    /// The mock provider, the catalog file naming it, and the grantd of
    /// phases 1–2 with its encryption key.
    async fn setup(&self) -> anyhow::Result<(MockProvider, PathBuf, String, Grantd)> {
        let mock = MockProvider::start().await?;
        let providers = self.work_dir.join("providers.toml");
        std::fs::write(&providers, providers_toml(&mock.base))
            .with_context(|| format!("writing {}", providers.display()))?;
        let key = Grantd::keygen(&self.binary)?;
        let grantd = self.grantd(&self.work_dir.join("store"), &key, &providers);
        Ok((mock, providers, key, grantd))
    }

    pub async fn run(&self) -> anyhow::Result<Results> {
        let (mock, providers, key, grantd) = self.setup().await?;
        let grantd_version = grantd.version();

        println!("Phase 1: HTTP scenarios on a fresh store");
        let (fresh, project, ids) = self.fresh_store(&grantd).await?;
        println!("Phase 2: large store");
        let large = self.large_store(&grantd, &project, ids).await?;
        println!("Phase 3: refresh wave");
        let wave_grantd = self.grantd(&self.work_dir.join("wave"), &key, &providers);
        let wave = self.refresh_wave(&wave_grantd, &mock).await?;
        println!("Phase 4: proxy");
        let proxy = self.run_proxy(&key, &mock).await?;
        Ok(Results {
            grantd_version,
            binary: self.binary.clone(),
            fresh,
            large,
            wave,
            proxy,
            mock_token_errors: mock.token_errors(),
        })
    }

    /// Phase 1 only: the HTTP scenarios on a fresh store.
    pub async fn run_http(&self) -> anyhow::Result<FreshStore> {
        let (_mock, _, _, grantd) = self.setup().await?;
        let (fresh, _, _) = self.fresh_store(&grantd).await?;
        Ok(fresh)
    }

    /// Phase 4 (alone with `--proxy-only`): direct against proxied GETs of
    /// one upstream, then a streamed download through the proxy.
    pub async fn run_proxy(
        &self,
        key: &str,
        mock: &MockProvider,
    ) -> anyhow::Result<crate::proxy::ProxyPhase> {
        let upstream = crate::proxy::start_upstream().await?;
        let providers = self.work_dir.join("providers-proxy.toml");
        let text = providers_toml(&mock.base) + &crate::proxy::providers_toml(&upstream);
        std::fs::write(&providers, text)
            .with_context(|| format!("writing {}", providers.display()))?;
        let grantd = self.grantd(&self.work_dir.join("proxy"), key, &providers);
        crate::proxy::run(&self.plan, &grantd, &upstream, &self.log("proxy")).await
    }

    /// `--proxy-only`: the mock and a key, then phase 4.
    pub async fn run_proxy_only(&self) -> anyhow::Result<crate::proxy::ProxyPhase> {
        let (mock, _, key, _) = self.setup().await?;
        self.run_proxy(&key, &mock).await
    }

    fn log(&self, name: &str) -> PathBuf {
        self.work_dir.join(format!("{name}.log"))
    }

    /// Starts grantd (its log `name.log`) and measures it at rest: the
    /// server, its start-up time, its idle memory (both printed after
    /// `label`), and an API client for `project`.
    async fn start_at_rest(
        &self,
        grantd: &Grantd,
        name: &str,
        project: &Project,
        label: &str,
    ) -> anyhow::Result<(Server, Duration, Memory, Api)> {
        let server = grantd.serve(&[], &self.log(name)).await?;
        let startup = server.startup;
        let idle = idle_memory(&self.plan, &server).await?;
        println!(
            "  {label}started in {:.1} ms, idle RSS {:.1} MiB",
            ms(startup),
            mib(idle.rss)
        );
        let api = Api::new(&server.base, &project.name, &project.api_key)?;
        Ok((server, startup, idle, api))
    }

    /// Scenarios 1–5. Returns the project and the ids of real connections
    /// for the GET scenarios.
    async fn fresh_store(
        &self,
        grantd: &Grantd,
    ) -> anyhow::Result<(FreshStore, Project, Arc<Vec<String>>)> {
        let plan = &self.plan;
        let project = grantd.create_project("bench")?;
        let (server, startup, idle, api) =
            self.start_at_rest(grantd, "fresh", &project, "").await?;
        api.create_provider_app().await?;
        let mut scenarios = Vec::new();

        let a = api.clone();
        scenarios.push(
            scenario(plan, &server, "GET /healthz", move |_, _| {
                let a = a.clone();
                async move { a.healthz().await }
            })
            .await?,
        );

        let a = api.clone();
        scenarios.push(
            scenario(plan, &server, "POST /v1/oauth-connect", move |w, i| {
                let a = a.clone();
                async move { a.oauth_connect(&format!("connect-{w}-{i}")).await.map(drop) }
            })
            .await?,
        );

        let ids = Arc::new(Mutex::new(Vec::with_capacity(plan.get_sample)));
        let (a, collected, cap) = (api.clone(), ids.clone(), plan.get_sample);
        scenarios.push(
            scenario(
                plan,
                &server,
                "POST connections:generate (apiKey)",
                move |w, i| {
                    let (a, collected) = (a.clone(), collected.clone());
                    async move {
                        let body = json!({"provider": PROVIDER, "groupRef": format!("gen-{w}-{i}"),
                            "consumerRef": "bench-user", "apiKey": format!("key-{w}-{i}")});
                        let id = a.generate(&body).await?;
                        let mut ids = collected.lock().unwrap_or_else(|p| p.into_inner());
                        if ids.len() < cap {
                            ids.push(id);
                        }
                        Ok(())
                    }
                },
            )
            .await?,
        );
        let ids = Arc::new(std::mem::take(
            &mut *ids.lock().unwrap_or_else(|p| p.into_inner()),
        ));
        if ids.is_empty() {
            bail!("the generate scenario created no connection to read");
        }

        scenarios.push(
            scenario(
                plan,
                &server,
                "GET connection ?includeCredentials=true",
                get_scenario(&api, ids.clone()),
            )
            .await?,
        );

        let a = api.clone();
        scenarios.push(
            scenario(
                plan,
                &server,
                "Full OAuth dance (connect → authorize → callback)",
                move |w, i| {
                    let a = a.clone();
                    async move {
                        let url = a.oauth_connect(&format!("dance-{w}-{i}")).await?;
                        a.complete_dance(&url).await
                    }
                },
            )
            .await?,
        );
        let peak = server.memory()?;
        drop(api);
        server.stop().await?;
        let connections_after = db::connections_in(&grantd.data_dir).await?;
        Ok((
            FreshStore {
                startup,
                idle,
                scenarios,
                connections_after,
                peak,
            },
            project,
            ids,
        ))
    }

    /// The store grown to `store_connections`, then startup, memory and reads.
    async fn large_store(
        &self,
        grantd: &Grantd,
        project: &Project,
        ids: Arc<Vec<String>>,
    ) -> anyhow::Result<LargeStore> {
        let plan = &self.plan;
        let real = db::connections_in(&grantd.data_dir).await?;
        println!(
            "  seeding {} copies of a real connection …",
            plan.store_connections.saturating_sub(real)
        );
        let seeded = db::seed_copies(&grantd.data_dir, plan.store_connections).await?;
        println!(
            "    {} rows in {:.1} s",
            seeded.copies,
            seeded.elapsed.as_secs_f64()
        );
        let connections = db::connections_in(&grantd.data_dir).await?;
        let store_bytes = db::store_bytes(&grantd.data_dir);

        let (server, startup, idle, api) = self
            .start_at_rest(
                grantd,
                "large",
                project,
                &format!("{connections} connections: "),
            )
            .await?;
        let get = scenario(
            plan,
            &server,
            "GET connection ?includeCredentials=true",
            get_scenario(&api, ids),
        )
        .await?;
        let groups = seeded.copies.max(1);
        let list = sequential_scenario(
            plan,
            &server,
            "GET connections?groupRef= (a seeded group, one request at a time)",
            |i| {
                let a = api.clone();
                async move {
                    let group = if groups > 1 {
                        format!("seed-{}", 1 + spread(7, i) % groups)
                    } else {
                        "gen-0-0".to_owned()
                    };
                    a.list_group(&group).await
                }
            },
        )
        .await?;
        let peak = server.memory()?;
        drop(api);
        server.stop().await?;
        Ok(LargeStore {
            connections,
            real,
            seeded,
            store_bytes,
            startup,
            idle,
            get,
            list,
            peak,
        })
    }

    /// Scenario 6: N connections due at once, the provider limited to R/s.
    async fn refresh_wave(&self, grantd: &Grantd, mock: &MockProvider) -> anyhow::Result<Wave> {
        let plan = &self.plan;
        let n = plan.refresh_connections;
        let project = grantd.create_project("wave")?;

        // Seed with the refresher idle: an hour between its looks.
        let idle_flags = ["--refresh-tick-ms".to_owned(), "3600000".to_owned()];
        let server = grantd.serve(&idle_flags, &self.log("wave-seed")).await?;
        let api = Api::new(&server.base, &project.name, &project.api_key)?;
        api.create_provider_app().await?;
        println!("  creating {n} connections whose tokens are due …");
        let a = api.clone();
        let seeding = load::run_count(plan.concurrency, n, move |i| {
            let a = a.clone();
            async move {
                let now = chrono::Utc::now();
                // Issued an hour ago, expiring in two minutes: inside the
                // refresh lead (5 min or 10% of the lifetime), so due now.
                let body = json!({"provider": PROVIDER, "groupRef": format!("wave-{i}"),
                    "consumerRef": "bench-user",
                    "oauth2AuthorizationCode": {
                        "accessToken": {"token": format!("wave-access-{i}"),
                            "issuedAt": (now - chrono::Duration::hours(1)).to_rfc3339(),
                            "expiresAt": (now + chrono::Duration::minutes(2)).to_rfc3339()},
                        "refreshToken": {"token": format!("wave-refresh-{i}")}}});
                a.generate(&body).await.map(drop)
            }
        })
        .await?;
        println!(
            "    {} created in {:.1} s ({:.0}/s), {} errors",
            seeding.ok,
            seeding.window.as_secs_f64(),
            seeding.per_second(),
            seeding.errors
        );
        drop(api);
        server.stop().await?;
        let pool = db::open_read_only(&grantd.data_dir).await?;
        let due_at_restart = db::count_due(&pool, chrono::Utc::now().timestamp_millis()).await?;
        pool.close().await;

        // Restart with the normal tick, the provider now limited.
        mock.set_token_rate(Some(plan.refresh_rate));
        let before = mock.refresh_stats();
        let horizon = chrono::Utc::now().timestamp_millis() + 30 * 60 * 1000;
        let limits = plan.refresh_concurrency.to_string();
        let flags = [
            "--refresh-concurrency".to_owned(),
            limits.clone(),
            "--refresh-per-provider".to_owned(),
            limits,
        ];
        let server = grantd.serve(&flags, &self.log("wave")).await?;
        let startup = server.startup;
        let spawned_at = Instant::now() - startup;
        let rss_start = server.memory()?.rss;
        let sampler = RssSampler::start(server.pid);
        let pool = db::open_read_only(&grantd.data_dir).await?;
        let ideal = Duration::from_secs_f64(n as f64 / f64::from(plan.refresh_rate.max(1)));
        let deadline = Instant::now() + (ideal * 20).max(Duration::from_secs(60));
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let (mut refreshed, mut total, mut stalled) = (0, None, false);
        let mut progress = (0, 0, Instant::now());
        let mut ticks = 0u64;
        loop {
            tick.tick().await;
            ticks += 1;
            let calls = mock.refresh_stats().calls - before.calls;
            // The database is read once a second while calls are under way,
            // then every tick once the provider has seen them all.
            if calls >= n || ticks % 10 == 0 {
                refreshed = db::count_expiring_after(&pool, horizon).await?;
                if refreshed >= n {
                    total = Some(spawned_at.elapsed());
                    break;
                }
            }
            if ticks % 50 == 0 {
                println!("    {refreshed} of {n} refreshed, {calls} provider calls");
            }
            if (calls, refreshed) != (progress.0, progress.1) {
                progress = (calls, refreshed, Instant::now());
            } else if progress.2.elapsed() > Duration::from_secs(30) {
                stalled = true;
                break;
            }
            if Instant::now() > deadline {
                break;
            }
        }
        let samples = sampler.stop().await;
        let peak = server.memory()?;
        let grantd_cpu = server.cpu_time()?;
        server.stop().await?;
        mock.set_token_rate(None);
        let failed = db::count_failed(&pool).await?;
        pool.close().await;
        let after = mock.refresh_stats();
        let provider_span = match (after.first, after.last) {
            (Some(first), Some(last)) if after.calls > before.calls => Some(last - first),
            _ => None,
        };
        if let Some(total) = total {
            println!(
                "    all {n} refreshed in {:.1} s (N/R = {:.1} s)",
                total.as_secs_f64(),
                ideal.as_secs_f64()
            );
        }
        Ok(Wave {
            connections: n,
            rate: plan.refresh_rate,
            concurrency: plan.refresh_concurrency,
            seeding,
            due_at_restart,
            startup,
            total,
            refreshed,
            provider_span,
            refresh_calls: after.calls - before.calls,
            double_refreshes: after.doubles - before.doubles,
            failed,
            rss_start,
            rss_peak_sampled: samples.iter().copied().max().unwrap_or(rss_start),
            rss_samples: samples.len(),
            peak,
            grantd_cpu,
            stalled,
        })
    }
}

/// Reads a process's RSS every 100 ms until stopped.
struct RssSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Vec<u64>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stopped => return samples,
                }
                match process::memory(pid) {
                    Ok(memory) => samples.push(memory.rss),
                    Err(_) => return samples,
                }
            }
        });
        RssSampler { stop, task }
    }

    async fn stop(self) -> Vec<u64> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}
