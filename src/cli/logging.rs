//! Logs: `tracing` to stderr, as text or one JSON object per line, written off the request path.

use std::io::IsTerminal;
use std::sync::{Mutex, PoisonError};

use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::EnvFilter;

mod fields;

pub use fields::{EscapedFields, EscapedVisitor};

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// The log writer's guard while `serve` runs, for [`flush_logs`] before an exit that skips
/// destructors.
static WRITER: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// Flushes the log lines written so far, once: `std::process::exit` runs no destructor, and the
/// lines still queued for the background writer (the last ones, saying why it exits) would be
/// lost.
pub fn flush_logs() {
    let guard = WRITER.lock().unwrap_or_else(PoisonError::into_inner).take();
    drop(guard);
}

/// Flushes the log when dropped (see [`init_tracing`]).
#[derive(Debug)]
pub struct LogsFlushedOnDrop(());

impl Drop for LogsFlushedOnDrop {
    fn drop(&mut self) {
        flush_logs();
    }
}

/// Installs the tracing subscriber (`RUST_LOG` filters, `info` by default) writing to stderr
/// through [`log_writer`]; keep the returned value until exit, dropping it flushes the rest.
pub fn init_tracing(format: LogFormat) -> LogsFlushedOnDrop {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = log_writer(std::io::stderr());
    // Colour codes only for a person at a terminal: in a pod's log they are noise to grep and
    // to log shippers, and formatting them costs time on every admission line.
    let ansi = std::io::stderr().is_terminal();
    let _ = subscriber(format, filter, ansi, writer).try_init();
    *WRITER.lock().unwrap_or_else(PoisonError::into_inner) = Some(guard);
    LogsFlushedOnDrop(())
}

/// The subscriber `serve` logs through: `format` lines of the events `filter` lets through, to
/// `writer`, with colour codes when `ansi`. Text fields are [`EscapedFields`], so that a value a
/// caller chose cannot start a line of its own.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.fmt_fields(EscapedFields).finish()),
        LogFormat::Json => Box::new(builder.json().flatten_event(true).finish()),
    }
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
