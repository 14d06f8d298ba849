//! Structured logging via tracing. `RUST_LOG` filters; `--log-format json`
//! gives one JSON object per line for log shippers.

mod log_writer;

pub use log_writer::LogGuard;
use std::io::IsTerminal;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber. Lines are written to stderr in batches
/// by a background thread (see [`log_writer`]): a request handler only
/// copies its line into a buffer, so a slow log file or pipe costs no
/// request a syscall, and no line is dropped. Keep the guard alive until
/// exit: dropping it writes what is left.
pub fn init(format: LogFormat) -> Option<LogGuard> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let ansi = std::io::stderr().is_terminal();
    match log_writer::batched(std::io::stderr()) {
        Ok((writer, guard)) => {
            install(format, filter, ansi, writer);
            Some(guard)
        }
        Err(e) => {
            // Logging still works, one write per line.
            install(format, filter, ansi, std::io::stderr);
            tracing::warn!(error = %e, "cannot start the log writer thread");
            None
        }
    }
}

fn install<W>(format: LogFormat, filter: EnvFilter, ansi: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
