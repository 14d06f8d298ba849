//! `grantd-bench`: starts a mock OAuth provider and real `grantd serve`
//! processes on loopback, measures the HTTP scenarios, a large store and a
//! token refresh wave, and writes the figures to a Markdown report.
//!
//! Build and run from the repository root (grantd is found next to this
//! executable, so both must come from the same build):
//!
//! ```sh
//! cargo build --release -p grantd -p grantd-bench && target/release/grantd-bench
//! ```

mod api;
mod bench;
mod db;
mod load;
mod machine;
mod mock;
mod process;
mod proxy;
mod report;

use anyhow::Context;
use bench::{Bench, Plan};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "grantd-bench",
    about = "Benchmarks the grantd binary next to this one and writes BENCHMARKS.md"
)]
struct Args {
    /// 1-second scenarios, a 20,000-connection store and a 5,000-token wave.
    #[arg(long, conflicts_with = "smoke")]
    quick: bool,
    /// CI smoke: every scenario at tiny sizes, about a second each; writes to
    /// a temporary file unless --out is given, and fails on request errors.
    #[arg(long)]
    smoke: bool,
    /// Only the HTTP scenarios on a fresh store; prints their table and
    /// writes no report (for before/after comparisons).
    #[arg(long)]
    http_only: bool,
    /// Only the proxy scenarios (direct against proxied GET, streamed
    /// download); prints their table and writes no report.
    #[arg(long, conflicts_with = "http_only")]
    proxy_only: bool,
    /// Bytes of the streamed download through the proxy [default: 1 GiB;
    /// 256 MiB with --quick; 16 MiB with --smoke].
    #[arg(long)]
    proxy_download_bytes: Option<u64>,
    /// Report to write [default: BENCHMARKS.md; a temporary file with --smoke].
    #[arg(long)]
    out: Option<PathBuf>,
    /// The grantd binary [default: `grantd` next to this executable].
    #[arg(long)]
    grantd: Option<PathBuf>,
    /// Concurrent connections per scenario.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured seconds per scenario [default: 10; 1 with --quick or --smoke].
    #[arg(long)]
    duration_secs: Option<f64>,
    /// Connections in the large store [default: 1,000,000; 20,000 --quick; 5,000 --smoke].
    #[arg(long)]
    store_connections: Option<u64>,
    /// Connections in the refresh wave [default: 100,000; 5,000 --quick; 500 --smoke].
    #[arg(long)]
    refresh_connections: Option<u64>,
    /// Token calls per second the mock provider allows during the wave
    /// [default: 2,000; 1,000 with --quick or --smoke].
    #[arg(long)]
    refresh_rate: Option<u32>,
    /// grantd's --refresh-concurrency and --refresh-per-provider for the wave
    /// [default: the rate / 8, at least 64: enough calls in flight to keep
    /// the provider's limiter busy while each call takes up to 125 ms].
    #[arg(long)]
    refresh_concurrency: Option<usize>,
    /// RUST_LOG for grantd [default: grantd's own filter, info].
    #[arg(long)]
    grantd_log: Option<String>,
    /// Directory for the data directories and server logs [default: a
    /// temporary directory, removed afterwards].
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

impl Args {
    fn plan(&self) -> Plan {
        let (mode, duration, warmup, store, wave, rate) = if self.smoke {
            ("smoke", 1.0, 0.2, 5_000, 500, 1_000)
        } else if self.quick {
            ("quick", 1.0, 0.5, 20_000, 5_000, 1_000)
        } else {
            ("full", 10.0, 1.0, 1_000_000, 100_000, 2_000)
        };
        let rate = self.refresh_rate.unwrap_or(rate).max(1);
        Plan {
            mode,
            concurrency: self.concurrency.max(1),
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(self.duration_secs.unwrap_or(duration).max(0.1)),
            settle: Duration::from_millis(500),
            store_connections: self.store_connections.unwrap_or(store),
            refresh_connections: self.refresh_connections.unwrap_or(wave).max(1),
            refresh_rate: rate,
            refresh_concurrency: self
                .refresh_concurrency
                .unwrap_or((rate as usize / 8).max(64))
                .max(1),
            get_sample: 50_000,
            proxy_download_bytes: self.proxy_download_bytes.unwrap_or(if self.smoke {
                16 << 20
            } else if self.quick {
                256 << 20
            } else {
                1 << 30
            }),
        }
    }
}

/// The command line as typed, for the report.
fn command_line() -> String {
    let mut words: Vec<String> = std::env::args().collect();
    if let Some(first) = words.first_mut() {
        if let Some(name) = std::path::Path::new(first).file_name() {
            if first.contains("target/release/") {
                *first = format!("target/release/{}", name.to_string_lossy());
            }
        }
    }
    words.join(" ")
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let plan = args.plan();
    let binary = process::Grantd::locate_binary(args.grantd.as_deref())?;
    if !binary.to_string_lossy().contains("release") {
        eprintln!(
            "warning: {} is not a release build; figures will not be representative",
            binary.display()
        );
    }
    let temp;
    let work_dir = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("grantd-bench-")
                .tempdir()
                .context("creating a temporary work directory")?;
            temp.path().to_path_buf()
        }
    };
    let out = match (&args.out, args.smoke) {
        (Some(out), _) => out.clone(),
        (None, true) => {
            std::env::temp_dir().join(format!("grantd-bench-smoke-{}.md", std::process::id()))
        }
        (None, false) => PathBuf::from("BENCHMARKS.md"),
    };
    println!(
        "grantd-bench ({} mode): grantd {}, work dir {}",
        plan.mode,
        binary.display(),
        work_dir.display()
    );
    let machine = machine::Machine::describe();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_before = process::load_average();
    let bench = Bench {
        plan: plan.clone(),
        binary,
        work_dir: work_dir.clone(),
        rust_log: args.grantd_log.clone(),
    };
    if args.http_only {
        let fresh = bench.run_http().await?;
        println!("{}", report::render_http_only(&fresh, machine.cpus));
        return Ok(fresh.scenarios.iter().all(|s| s.load.errors == 0));
    }
    if args.proxy_only {
        let proxy = bench.run_proxy_only().await?;
        println!("{}", report::render_proxy(&proxy));
        return Ok(proxy.direct.load.errors == 0 && proxy.proxied.load.errors == 0);
    }
    let results = bench.run().await?;
    let notes = std::fs::read_to_string(&out)
        .ok()
        .and_then(|old| report::existing_notes(&old));
    let text = report::render(
        &results,
        &report::Context {
            plan: &plan,
            machine: &machine,
            command: command_line(),
            date,
            commit: machine::git_commit(),
            rust_log: args.grantd_log.as_deref(),
            notes,
            load_before,
        },
    );
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    let problems = results.correctness_problems();
    for problem in &problems {
        eprintln!("problem: {problem}");
    }
    Ok(problems.is_empty())
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let smoke = args.smoke;
    match run(args).await {
        Ok(true) => ExitCode::SUCCESS,
        // Request errors or an unfinished wave make the figures unreliable:
        // the smoke fails on them, a full run reports them and still succeeds.
        Ok(false) if smoke => ExitCode::FAILURE,
        Ok(false) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
