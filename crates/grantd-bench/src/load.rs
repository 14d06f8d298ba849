//! Closed-loop load: a fixed number of workers, each sending its next request
//! as soon as the previous one answers, so the concurrency is exactly the
//! number of connections. Latencies go into HDR histograms (microseconds).

use anyhow::Context;
use hdrhistogram::Histogram;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What one run of operations produced.
#[derive(Debug, Clone)]
pub struct LoadResult {
    /// Successful operations counted in the window.
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Length of the measurement window.
    pub window: Duration,
    /// Latency of successful operations, microseconds.
    pub latency: Histogram<u64>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// A latency quantile in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.latency.is_empty() {
            return f64::NAN;
        }
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // 1 µs to 10 minutes at 3 significant digits.
    Histogram::new_with_bounds(1, 600_000_000, 3).context("creating a latency histogram")
}

struct Shared {
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
        }
    }

    /// Counts one finished operation: its latency when it succeeded, its
    /// error otherwise.
    fn tally(
        &self,
        outcome: anyhow::Result<()>,
        took: Duration,
        ok: &mut u64,
        latency: &mut Histogram<u64>,
    ) {
        match outcome {
            Ok(()) => {
                *ok += 1;
                latency.saturating_record(took.as_micros() as u64);
            }
            Err(error) => self.error(error),
        }
    }

    /// What the run produced, from the successes counted and this run's errors.
    fn result(&self, ok: u64, latency: Histogram<u64>, window: Duration) -> LoadResult {
        let first_error = self
            .first_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        LoadResult {
            ok,
            errors: self.errors.load(Ordering::Relaxed),
            first_error,
            window,
            latency,
        }
    }

    fn error(&self, error: anyhow::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        first.get_or_insert_with(|| format!("{error:#}"));
    }
}

/// Runs `op(worker, iteration)` from `workers` workers for `warmup` (not
/// measured) then `duration`. An operation counts when it completes inside
/// the window, so the in-flight operations at both edges balance out.
pub async fn run_for<F, Fut>(
    workers: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> anyhow::Result<LoadResult>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let shared = Arc::new(Shared::new());
    let begin = Instant::now();
    let measure_from = begin + warmup;
    let until = measure_from + duration;
    let mut tasks = Vec::with_capacity(workers);
    for worker in 0..workers {
        let op = op.clone();
        let shared = shared.clone();
        let mut latency = new_histogram()?;
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut iteration = 0u64;
            while Instant::now() < until {
                let started = Instant::now();
                let outcome = op(worker, iteration).await;
                iteration += 1;
                let ended = Instant::now();
                if ended < measure_from || ended > until {
                    continue;
                }
                shared.tally(outcome, ended - started, &mut ok, &mut latency);
            }
            (ok, latency)
        }));
    }
    let mut result = gather(tasks, &shared, "a load worker panicked").await?;
    result.window = duration;
    Ok(result)
}

/// Runs `op(i)` once for every `i` in `0..count`, from `workers` workers;
/// for seeding, where the amount of work is fixed and the time is the result.
pub async fn run_count<F, Fut>(workers: usize, count: u64, op: F) -> anyhow::Result<LoadResult>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let shared = Arc::new(Shared::new());
    let begin = Instant::now();
    let mut tasks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (op, next, shared) = (op.clone(), next.clone(), shared.clone());
        let mut latency = new_histogram()?;
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let started = Instant::now();
                let outcome = op(i).await;
                shared.tally(outcome, started.elapsed(), &mut ok, &mut latency);
            }
            (ok, latency)
        }));
    }
    let mut result = gather(tasks, &shared, "a seeding worker panicked").await?;
    result.window = begin.elapsed();
    Ok(result)
}

/// Waits for the workers and sums what they counted; the caller sets the window.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<(u64, Histogram<u64>)>>,
    shared: &Shared,
    panicked: &'static str,
) -> anyhow::Result<LoadResult> {
    let mut total = 0;
    let mut latency = new_histogram()?;
    for task in tasks {
        let (ok, histogram) = task.await.context(panicked)?;
        total += ok;
        latency
            .add(histogram)
            .context("merging latency histograms")?;
    }
    Ok(shared.result(total, latency, Duration::ZERO))
}

/// Runs `op(i)` one at a time until `duration` has passed and at least
/// `min_ops` ran: for operations too slow for a closed loop of many workers,
/// where queueing would only measure the queue.
pub async fn run_sequential<F, Fut>(
    min_ops: u64,
    duration: Duration,
    op: F,
) -> anyhow::Result<LoadResult>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let shared = Shared::new();
    let mut latency = new_histogram()?;
    let (mut ok, mut i) = (0u64, 0u64);
    let begin = Instant::now();
    while i < min_ops || begin.elapsed() < duration {
        let started = Instant::now();
        let outcome = op(i).await;
        shared.tally(outcome, started.elapsed(), &mut ok, &mut latency);
        i += 1;
    }
    Ok(shared.result(ok, latency, begin.elapsed()))
}
