//! `/healthz`, `/livez` and `/readyz`, and the readiness flags behind `/readyz`.
//!
//! Each endpoint is a list of named checks, as kube-apiserver's: `?verbose` lists them
//! (`[+]index ok`, `[-]store failed: …`), `?exclude=<name>` skips one, and `/readyz/<name>`
//! answers for one check alone, so `curl …/readyz?verbose` tells an operator which part of
//! start-up or shutdown a pod is in.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;

/// Whether the server is ready for traffic; shared by the loader that flips it, the shutdown
/// sequence that ends it, and `/readyz`.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    /// Atomics, not a lock: written rarely, read by every probe.
    flags: Arc<Flags>,
}

#[derive(Debug, Default)]
struct Flags {
    store_open: AtomicBool,
    indexed: AtomicBool,
    stopping: AtomicBool,
}

impl Readiness {
    /// A flag that starts not ready.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports the store open (the index may still be loading).
    pub fn set_store_open(&self) {
        self.flags.store_open.store(true, Ordering::Release);
    }

    /// Reports ready (store and index loaded) or not (loading); no effect on `/readyz` once
    /// stopping, so a loader that notices the index again cannot make a stopping server ready.
    pub fn set_ready(&self, ready: bool) {
        if ready {
            self.set_store_open();
        }
        self.flags.indexed.store(ready, Ordering::Release);
    }

    /// Reports not ready for good: shutdown has begun.
    pub fn set_stopping(&self) {
        self.flags.stopping.store(true, Ordering::Release);
    }

    /// The current state.
    pub fn is_ready(&self) -> bool {
        self.snapshot().failures().next().is_none()
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            store_open: self.flags.store_open.load(Ordering::Acquire),
            indexed: self.flags.indexed.load(Ordering::Acquire),
            stopping: self.flags.stopping.load(Ordering::Acquire),
        }
    }
}

/// The readiness flags read once, so that one answer describes one moment.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    store_open: bool,
    indexed: bool,
    stopping: bool,
}

/// One named check and why it fails, if it does.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Check {
    name: &'static str,
    failure: Option<&'static str>,
}

impl Snapshot {
    /// `/readyz`'s checks, in the order they are listed.
    fn checks(self) -> [Check; 4] {
        let store = (!self.store_open && !self.indexed).then_some(
            "not open yet: an etcd that does not answer is retried, each attempt logged as \
             store unreachable",
        );
        let index = (!self.indexed).then_some(if store.is_some() {
            "waits for the store"
        } else {
            "listing the store's streams into the admission index"
        });
        let shutdown = self.stopping.then_some(
            "shutting down: serving through --shutdown-delay, then draining open requests",
        );
        [
            Check::passing("ping"),
            Check::new("store", store),
            Check::new("index", index),
            Check::new("shutdown", shutdown),
        ]
    }

    fn failures(self) -> impl Iterator<Item = Check> {
        self.checks()
            .into_iter()
            .filter(|check| check.failure.is_some())
    }

    /// The short body of a plain `/readyz`, kept from before the checks were named.
    fn summary(self) -> &'static str {
        if self.stopping {
            "shutting down"
        } else if self.indexed {
            "ok"
        } else {
            "not ready"
        }
    }
}

impl Check {
    fn new(name: &'static str, failure: Option<&'static str>) -> Self {
        Self { name, failure }
    }

    fn passing(name: &'static str) -> Self {
        Self::new(name, None)
    }
}

/// What a health request asks: `?verbose` and `?exclude=a&exclude=b` (or `exclude=a,b`), read
/// as kube-apiserver reads them (any value of `verbose` counts).
#[derive(Debug, Default, PartialEq)]
struct Options {
    verbose: bool,
    excluded: BTreeSet<String>,
}

impl Options {
    fn parse(query: Option<&str>) -> Self {
        let mut options = Self::default();
        let pairs = form_urlencoded::parse(query.unwrap_or_default().as_bytes());
        for (key, value) in pairs {
            match key.as_ref() {
                "verbose" => options.verbose = true,
                "exclude" => options.excluded.extend(
                    value
                        .split(',')
                        .filter(|name| !name.is_empty())
                        .map(str::to_owned),
                ),
                _ => {}
            }
        }
        options
    }
}

/// The answer to `/<endpoint>` with `checks`: as kube-apiserver's, the listed checks then
/// `<endpoint> check passed` (or `failed`); a plain request gets `summary` alone.
fn render(
    endpoint: &str,
    checks: &[Check],
    summary: &'static str,
    options: &Options,
) -> (StatusCode, String) {
    let mut listing = String::new();
    let mut failed = false;
    for check in checks {
        match check.failure {
            _ if options.excluded.contains(check.name) => {
                let _ = writeln!(listing, "[+]{} excluded: ok", check.name);
            }
            Some(reason) => {
                failed = true;
                let _ = writeln!(listing, "[-]{} failed: {reason}", check.name);
            }
            None => {
                let _ = writeln!(listing, "[+]{} ok", check.name);
            }
        }
    }
    // Quoted and joined by commas, as kube-apiserver's `formatQuoted` lists them.
    let unknown: Vec<String> = options
        .excluded
        .iter()
        .filter(|name| !checks.iter().any(|check| check.name == name.as_str()))
        .map(|name| format!("{name:?}"))
        .collect();
    if !unknown.is_empty() {
        let _ = writeln!(
            listing,
            "warn: some health checks cannot be excluded: no matches for {}",
            unknown.join(",")
        );
    }
    let status = if failed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    if !options.verbose {
        let summary = if failed || options.excluded.is_empty() {
            summary
        } else {
            "ok"
        };
        return (status, summary.to_string());
    }
    let outcome = if failed { "failed" } else { "passed" };
    let _ = writeln!(listing, "{endpoint} check {outcome}");
    (status, listing)
}

/// The answer to `/<endpoint>/<name>`: `ok`, or the check's reason with 503; 404 for a name
/// the endpoint does not have.
fn render_one(checks: &[Check], name: &str) -> (StatusCode, String) {
    match checks.iter().find(|check| check.name == name) {
        None => (
            StatusCode::NOT_FOUND,
            format!("no health check named {name:?}: try ?verbose to list them"),
        ),
        Some(Check { failure: None, .. }) => (StatusCode::OK, "ok".to_string()),
        Some(Check {
            failure: Some(reason),
            ..
        }) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{name} failed: {reason}"),
        ),
    }
}

/// `/healthz` and `/livez` (always `ok`: the process serves) and `/readyz` (503 until the store
/// is open and the index loaded, and from the moment shutdown begins), each with `?verbose`,
/// `?exclude=` and a path per check.
pub fn health_routes(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/healthz/{check}", get(healthz_one))
        .route("/livez", get(livez))
        .route("/livez/{check}", get(livez_one))
        .route("/readyz", get(readyz))
        .route("/readyz/{check}", get(readyz_one))
        .with_state(readiness)
}

const LIVE: [Check; 1] = [Check {
    name: "ping",
    failure: None,
}];

async fn healthz(RawQuery(query): RawQuery) -> (StatusCode, String) {
    render("healthz", &LIVE, "ok", &Options::parse(query.as_deref()))
}

async fn healthz_one(Path(name): Path<String>) -> (StatusCode, String) {
    render_one(&LIVE, &name)
}

async fn livez(RawQuery(query): RawQuery) -> (StatusCode, String) {
    render("livez", &LIVE, "ok", &Options::parse(query.as_deref()))
}

async fn livez_one(Path(name): Path<String>) -> (StatusCode, String) {
    render_one(&LIVE, &name)
}

async fn readyz(
    State(readiness): State<Readiness>,
    RawQuery(query): RawQuery,
) -> (StatusCode, String) {
    let now = readiness.snapshot();
    let options = Options::parse(query.as_deref());
    render("readyz", &now.checks(), now.summary(), &options)
}

async fn readyz_one(
    State(readiness): State<Readiness>,
    Path(name): Path<String>,
) -> (StatusCode, String) {
    render_one(&readiness.snapshot().checks(), &name)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    use super::*;

    async fn check(readiness: &Readiness, path: &str, status: StatusCode, body: &str) {
        let request = http::Request::get(path).body(Body::empty()).unwrap();
        let response = health_routes(readiness.clone())
            .oneshot(request)
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path}");
        let content_type = response.headers()[http::header::CONTENT_TYPE].clone();
        assert_eq!(content_type, "text/plain; charset=utf-8", "{path}");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(bytes, body.as_bytes(), "{path}");
    }

    #[tokio::test]
    async fn readyz_reports_not_ready_until_the_flag_is_set() {
        let readiness = Readiness::new();
        check(&readiness, "/healthz", StatusCode::OK, "ok").await;
        check(&readiness, "/livez", StatusCode::OK, "ok").await;
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        check(&readiness, "/readyz", unavailable, "not ready").await;
        readiness.set_ready(true);
        check(&readiness, "/readyz", StatusCode::OK, "ok").await;
        readiness.set_ready(false);
        check(&readiness, "/readyz", unavailable, "not ready").await;
    }

    #[tokio::test]
    async fn verbose_readyz_names_the_failing_check_and_why() {
        let readiness = Readiness::new();
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        let opening = "[+]ping ok\n\
            [-]store failed: not open yet: an etcd that does not answer is retried, each attempt \
            logged as store unreachable\n\
            [-]index failed: waits for the store\n\
            [+]shutdown ok\n\
            readyz check failed\n";
        check(&readiness, "/readyz?verbose", unavailable, opening).await;
        readiness.set_store_open();
        let loading = "[+]ping ok\n[+]store ok\n\
            [-]index failed: listing the store's streams into the admission index\n\
            [+]shutdown ok\nreadyz check failed\n";
        check(&readiness, "/readyz?verbose=1", unavailable, loading).await;
        check(&readiness, "/readyz", unavailable, "not ready").await;
        readiness.set_ready(true);
        let ready = "[+]ping ok\n[+]store ok\n[+]index ok\n[+]shutdown ok\nreadyz check passed\n";
        check(&readiness, "/readyz?verbose", StatusCode::OK, ready).await;
        readiness.set_stopping();
        let stopping = "[+]ping ok\n[+]store ok\n[+]index ok\n\
            [-]shutdown failed: shutting down: serving through --shutdown-delay, then draining \
            open requests\n\
            readyz check failed\n";
        check(&readiness, "/readyz?verbose", unavailable, stopping).await;
    }

    #[tokio::test]
    async fn one_check_answers_alone_and_an_excluded_one_does_not_fail_readyz() {
        let readiness = Readiness::new();
        readiness.set_store_open();
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        check(&readiness, "/readyz/store", StatusCode::OK, "ok").await;
        let index = "index failed: listing the store's streams into the admission index";
        check(&readiness, "/readyz/index", unavailable, index).await;
        let unknown = "no health check named \"etcd\": try ?verbose to list them";
        check(&readiness, "/readyz/etcd", StatusCode::NOT_FOUND, unknown).await;
        check(&readiness, "/readyz?exclude=index", StatusCode::OK, "ok").await;
        let excluded = "[+]ping ok\n[+]store ok\n[+]index excluded: ok\n[+]shutdown ok\n\
            warn: some health checks cannot be excluded: no matches for \"etcd\"\n\
            readyz check passed\n";
        let path = "/readyz?verbose&exclude=index&exclude=etcd";
        check(&readiness, path, StatusCode::OK, excluded).await;
        check(
            &readiness,
            "/readyz?exclude=store,index",
            StatusCode::OK,
            "ok",
        )
        .await;
        check(&readiness, "/livez/ping", StatusCode::OK, "ok").await;
        let live = "[+]ping ok\nlivez check passed\n";
        check(&readiness, "/livez?verbose", StatusCode::OK, live).await;
        let healthy = "[+]ping ok\nhealthz check passed\n";
        check(&readiness, "/healthz?verbose", StatusCode::OK, healthy).await;
    }

    #[tokio::test]
    async fn a_stopping_server_stays_unready_whatever_the_loader_says() {
        let readiness = Readiness::new();
        readiness.set_ready(true);
        readiness.set_stopping();
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        check(&readiness, "/readyz", unavailable, "shutting down").await;
        readiness.set_ready(true);
        assert!(!readiness.is_ready());
        check(&readiness, "/readyz", unavailable, "shutting down").await;
        check(&readiness, "/healthz", StatusCode::OK, "ok").await;
    }
}
