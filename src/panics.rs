//! Panics: a bug met by one request must not cost its connection the answer, nor leave only
//! an unstructured line on stderr.
//!
//! [`install_hook`] makes every panic one `error` event of the log (message, location, thread;
//! a backtrace with `RUST_BACKTRACE=1`), counted by [`counter`] (`imagelookup_panics_total`),
//! as kube-apiserver's panic recovery logs and counts its own. Where no subscriber listens (a
//! test, a library user), the hook it replaced prints instead. [`quietly`] runs code whose
//! panic its caller reports as an error of its own (redb reading a damaged file at open).
//! [`internal_error`] is what a client gets when the handler of its request panicked: a 500
//! `Status` on a connection that stays usable.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::sync::{LazyLock, Once};

use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use axum::Json;
use prometheus_client::metrics::counter::Counter;

/// Panics of this process, except those [`quietly`] caught.
static PANICS: LazyLock<Counter> = LazyLock::new(Counter::default);

thread_local! {
    /// Set while [`quietly`] runs on this thread.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// The panic counter, registered by every [`crate::metrics::Metrics`].
pub fn counter() -> Counter {
    PANICS.clone()
}

/// Replaces the process's panic hook with one that logs and counts (once; later calls do
/// nothing).
pub fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.get() {
                return;
            }
            PANICS.inc();
            if tracing::enabled!(tracing::Level::ERROR) {
                log(info);
            } else {
                previous(info);
            }
        }));
    });
}

/// One `error` event for the panic `info` describes.
fn log(info: &PanicHookInfo<'_>) {
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let location = info
        .location()
        .map(|at| format!("{}:{}:{}", at.file(), at.line(), at.column()))
        .unwrap_or_default();
    let panic = message(info.payload());
    // `capture` honours RUST_BACKTRACE, as the default hook does.
    let backtrace = std::backtrace::Backtrace::capture();
    if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
        tracing::error!(panic, location, thread, %backtrace, "panicked: this is a bug in imagelookup, please report it with this line");
    } else {
        tracing::error!(panic, location, thread, "panicked: this is a bug in imagelookup, please report it with this line (RUST_BACKTRACE=1 adds a backtrace)");
    }
}

/// What a panic said (`panic!` with a literal or a formatted message).
pub fn message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic")
}

/// `f`, with a panic on this thread caught, neither logged nor counted: the caller reports it
/// as an error of its own. Panics on other threads meanwhile are logged as usual.
pub fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    install_hook();
    let was_quiet = QUIET.replace(true);
    let caught = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.set(was_quiet);
    caught
}

/// A long-running task's step that panicked; the hook has logged and counted the panic.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("{0} met a bug (a panic, logged as a \"panicked\" error); it starts over")]
pub struct Panicked(pub &'static str);

/// `step` of the task `what` (the index feed, an import pass), a panic in it caught: the task
/// starts the step over instead of dying silently while its gauges still say it runs.
pub async fn caught<F: std::future::Future>(
    what: &'static str,
    step: F,
) -> Result<F::Output, Panicked> {
    use futures::FutureExt as _;
    AssertUnwindSafe(step)
        .catch_unwind()
        .await
        .map_err(|_| Panicked(what))
}

/// The answer to a request whose handler panicked (the hook has logged the panic).
pub fn internal_error() -> Response {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server met a bug (a panic) while answering this request: a write it \
                    carried may or may not have been saved, so read before trying again, and \
                    report the bug with the server log's \"panicked\" line",
        "reason": "InternalError",
        "code": 500,
    });
    (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written by a test's scoped subscriber.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    /// Runs `f` on a named thread whose log goes to the returned lines, as JSON.
    fn logged(f: impl FnOnce() + Send + 'static) -> String {
        install_hook();
        let lines = Lines::default();
        let writer = lines.clone();
        std::thread::Builder::new()
            .name("panicking-thread".into())
            .spawn(move || {
                let subscriber = tracing_subscriber::fmt()
                    .json()
                    .with_writer(move || writer.clone())
                    .finish();
                tracing::subscriber::with_default(subscriber, f);
            })
            .unwrap()
            .join()
            .unwrap();
        lines.text()
    }

    #[test]
    fn a_panic_is_one_logged_error_naming_its_message_location_and_thread_and_is_counted() {
        let before = counter().get();
        let text = logged(|| {
            let caught = std::panic::catch_unwind(|| panic!("the index is {}", "broken"));
            assert!(caught.is_err());
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["level"], "ERROR");
        let fields = &line["fields"];
        assert_eq!(fields["panic"], "the index is broken");
        assert!(
            fields["location"]
                .as_str()
                .unwrap()
                .starts_with("src/panics.rs:"),
            "{fields}"
        );
        assert_eq!(fields["thread"], "panicking-thread");
        assert!(counter().get() > before);
    }

    #[test]
    fn a_panic_caught_quietly_is_returned_and_not_logged_while_later_panics_are() {
        let text = logged(|| {
            let caught = quietly(|| panic!("a damaged page"));
            assert_eq!(message(caught.unwrap_err().as_ref()), "a damaged page");
            // Quiet only while `quietly` runs.
            let caught = std::panic::catch_unwind(|| panic!("later"));
            assert!(caught.is_err());
        });
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.contains("later"), "{text}");
        assert!(!text.contains("a damaged page"), "{text}");
    }

    #[test]
    fn quietly_passes_a_value_through() {
        assert_eq!(quietly(|| 7).unwrap(), 7);
    }
}
