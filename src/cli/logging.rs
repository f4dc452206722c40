//! Logs: `tracing` to stderr, as text or one JSON object per line, written off the request path.

use std::io::IsTerminal;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Installs the tracing subscriber (`RUST_LOG` filters, `info` by default) writing to stderr
/// through [`log_writer`]; keep the returned guard until exit, dropping it flushes the rest.
pub fn init_tracing(format: LogFormat) -> WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = log_writer(std::io::stderr());
    // Colour codes only for a person at a terminal: in a pod's log they are noise to grep and
    // to log shippers, and formatting them costs time on every admission line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

/// Log lines go to `sink` from a background thread through a buffer that is flushed whenever
/// no line is waiting: one line alone is written at once, but under load the lines of many
/// admissions share one `write(2)` instead of costing one each on the request's thread. Not
/// lossy: a full queue makes loggers wait.
pub fn log_writer<W: std::io::Write + Send + 'static>(sink: W) -> (NonBlocking, WorkerGuard) {
    NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::BufWriter::with_capacity(64 * 1024, sink))
}
