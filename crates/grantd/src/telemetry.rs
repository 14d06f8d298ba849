//! Structured logging via tracing. `RUST_LOG` filters; `--log-format json`
//! gives one JSON object per line for log shippers.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Lines are written by a background
/// thread (request handlers only queue them), so a slow log file or pipe
/// costs no request a syscall; the queue blocks rather than drop lines when
/// full. Keep the guard alive until exit: dropping it flushes the queue.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let ansi = std::io::stderr().is_terminal();
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        // The default (128,000 lines) preallocates megabytes of queue.
        .buffered_lines_limit(8_192)
        .thread_name("grantd-log")
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    guard
}
