//! A runtime of its own for everything but connections and admission.
//!
//! A tokio worker runs a task until it yields, so one request whose handler computes for a
//! long time (a patch of a stream with thousands of tags, a status write at the size limit)
//! holds its worker for that long, and with it the connections and admissions queued there:
//! on two cores, two such requests stopped every `/mutate` for seconds, and the webhook fails
//! closed. Go's scheduler preempts goroutines, so kube-apiserver's webhooks never see this.
//! Here the API's handlers, the importer and the feeds that keep the index current run on
//! this runtime's threads, and the serving runtime keeps only accepting, TLS, HTTP, health and
//! admission: the kernel then shares the cores between the two runtimes' threads, so a heavy
//! API request slows admission by a time slice, not by its own length.

use std::future::Future;
use std::panic::resume_unwind;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use axum::Router;
use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

use crate::apiserver::error::ApiError;

/// The name of the runtime's threads (`comm` is at most 15 bytes).
pub const THREAD_NAME: &str = "imagelookup-bg";

/// The background runtime. [`Background::stop`] ends it and waits until its tasks are
/// dropped (they hold the store: its file stays locked until then); dropped without that, it
/// stops without waiting, which may be from within the serving runtime.
#[derive(Debug)]
pub struct Background {
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
}

impl Background {
    /// Starts a runtime with one worker per core, as the serving one.
    pub fn start() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(THREAD_NAME)
            .build()?;
        let handle = runtime.handle().clone();
        Ok(Self {
            runtime: Mutex::new(Some(runtime)),
            handle,
        })
    }

    /// Stops the runtime and waits, at most `patience`, until its workers have dropped every
    /// task, so that what the tasks held (the store and its file lock) is released when this
    /// returns: `serve` returning must let another open the store at once.
    pub async fn stop(&self, patience: Duration) {
        let runtime = self
            .runtime
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(runtime) = runtime {
            // A blocking thread may wait for the workers; a worker of a runtime may not.
            let _ = tokio::task::spawn_blocking(move || runtime.shutdown_timeout(patience)).await;
        }
    }

    /// Runs `task` on this runtime.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(task)
    }

    /// `routes` answered on this runtime: each request's handler is spawned here and its
    /// response awaited by the connection. A client that goes away cancels the handler, as
    /// before; a handler that panics panics again in the connection's task, which answers 500.
    pub fn serve(self: &std::sync::Arc<Self>, routes: Router) -> Router {
        routes.layer(middleware::from_fn_with_state(self.clone(), handled_here))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let runtime = self
            .runtime
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(runtime) = runtime.take() {
            // Dropping a runtime blocks until its workers stop, which a runtime's own thread
            // may not do; its tasks are abandoned as the serving runtime's are at exit.
            runtime.shutdown_background();
        }
    }
}

async fn handled_here(
    State(background): State<std::sync::Arc<Background>>,
    request: Request,
    next: Next,
) -> Response {
    let mut task = AbortOnDrop(background.spawn(next.run(request)));
    match (&mut task.0).await {
        Ok(response) => response,
        Err(error) if error.is_panic() => resume_unwind(error.into_panic()),
        Err(_) => ApiError::ServiceUnavailable(
            "the server is shutting down; send the request again".to_string(),
        )
        .into_response(),
    }
}

/// A task aborted when its handle is dropped: the request it answers was dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::routing::get;
    use futures::FutureExt as _;
    use tower::ServiceExt as _;

    use super::*;

    fn routes() -> Router {
        Router::new()
            .route(
                "/where",
                get(|| async { std::thread::current().name().unwrap_or("").to_string() }),
            )
            .route(
                "/panic",
                get(|| async {
                    if true {
                        panic!("the handler broke");
                    }
                    "unreached"
                }),
            )
    }

    async fn call(router: Router, path: &str) -> Response {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        router.oneshot(request).await.unwrap()
    }

    #[tokio::test]
    async fn handlers_run_on_the_background_threads_not_the_callers() {
        let background = Arc::new(Background::start().unwrap());
        let response = call(background.serve(routes()), "/where").await;
        let body = axum::body::to_bytes(response.into_body(), 1024).await;
        assert_eq!(body.unwrap(), THREAD_NAME);
        let here = call(routes(), "/where").await;
        let body = axum::body::to_bytes(here.into_body(), 1024).await;
        assert_ne!(body.unwrap(), THREAD_NAME);
    }

    #[tokio::test]
    async fn a_handler_that_panics_panics_again_in_the_callers_task() {
        let background = Arc::new(Background::start().unwrap());
        let answered = std::panic::AssertUnwindSafe(call(background.serve(routes()), "/panic"))
            .catch_unwind()
            .await;
        let panic = answered.expect_err("the panic reaches the caller");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"the handler broke"));
    }

    #[tokio::test]
    async fn a_dropped_request_cancels_its_handler() {
        let background = Arc::new(Background::start().unwrap());
        let (started, started_rx) = tokio::sync::oneshot::channel::<()>();
        let (dropped, dropped_rx) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::new(std::sync::Mutex::new(Some((started, dropped))));
        let hold = get(move || {
            let (started, dropped) = state.lock().unwrap().take().unwrap();
            async move {
                // Sends on `dropped` only when this future is dropped, not when it completes.
                let _guard = SendOnDrop(Some(dropped));
                let _ = started.send(());
                std::future::pending::<()>().await;
                ""
            }
        });
        let router = background.serve(Router::new().route("/hold", hold));
        let call = tokio::spawn(call(router, "/hold"));
        started_rx.await.unwrap();
        call.abort();
        let dropped = tokio::time::timeout(std::time::Duration::from_secs(30), dropped_rx).await;
        assert!(dropped.is_ok(), "the handler is still running");
    }

    #[tokio::test]
    async fn stopping_drops_every_task_before_it_returns() {
        let background = Background::start().unwrap();
        let held = Arc::new(());
        for _ in 0..4 {
            let held = held.clone();
            background.spawn(async move {
                let _held = held;
                std::future::pending::<()>().await;
            });
        }
        background.stop(std::time::Duration::from_secs(30)).await;
        // What the tasks held (the store, in `serve`) is released once `stop` returns.
        assert_eq!(Arc::strong_count(&held), 1);
    }

    struct SendOnDrop(Option<tokio::sync::oneshot::Sender<()>>);

    impl Drop for SendOnDrop {
        fn drop(&mut self) {
            if let Some(sender) = self.0.take() {
                let _ = sender.send(());
            }
        }
    }
}
