//! The benchmark load generator (`benches/support/loadgen.rs`), run for one second against a
//! real server: every answer must be the patched AdmissionReview, whose patch pins the two
//! images that resolve through a stream and leaves the third alone. Not a timing test.

mod common;

#[allow(dead_code)]
#[path = "../benches/support/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../benches/support/loadgen.rs"]
mod loadgen;

use std::path::Path;
use std::time::Duration;

use clap::Parser as _;
use http::Method;
use imagelookup::cli::serve::{serve_on, ServeArgs};
use imagelookup::store::{EmbeddedOptions, EmbeddedStore};
use loadgen::{Call, Expect, Load, Pace, Target};
use tokio::sync::oneshot;

const NAMESPACE: &str = "ns-0";

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// Starts `serve` on an embedded store holding streams `ns-0/app-0` … `app-9`.
async fn start_server(dir: &Path) -> (Target, oneshot::Sender<()>) {
    let store_path = dir.join("store");
    let store = EmbeddedStore::open(&store_path, EmbeddedOptions::default()).unwrap();
    fixtures::preload(&store, 1, 10).await;
    drop(store);
    let ca = imagelookup::certs::ensure_serving_certs(dir, &[]).unwrap();
    let (listener, addr) = common::bind_localhost().await;
    let data_dir = dir.to_str().unwrap();
    let store_spec = format!("embedded:{}", store_path.display());
    let cli = Cli::parse_from([
        "serve",
        "--data-dir",
        data_dir,
        "--store",
        &store_spec,
        "--registry-hostname",
        fixtures::REGISTRY,
    ]);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    tokio::spawn(serve_on(listener, cli.serve, async move {
        let _ = stop_rx.await;
    }));
    let target = Target::new(addr, &std::fs::read(ca.ca_cert).unwrap()).unwrap();
    (target, stop_tx)
}

async fn wait_ready(target: &Target) {
    let readyz = Call::get("/readyz");
    common::eventually("the server to be ready", || async {
        let mut connection = target.connect().await.ok()?;
        let (status, _) = connection.send(&readyz).await.ok()?;
        status.is_success().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_under_load_is_the_patched_review() {
    common::setup();
    let dir = common::temp_dir();
    let (target, _stop) = start_server(dir.path()).await;
    wait_ready(&target).await;
    let review = fixtures::admission_review(NAMESPACE).to_string();
    let call = Call::json(Method::POST, "/mutate", review);

    let (status, answer) = target.connect().await.unwrap().send(&call).await.unwrap();
    assert_eq!(status, 200, "{answer:?}");
    assert_eq!(
        fixtures::patched_images(&answer, NAMESPACE).unwrap(),
        fixtures::expected_pod_images(NAMESPACE)
    );

    for pace in [Pace::Closed, Pace::Rate(200.0)] {
        let load = Load {
            connections: 4,
            duration: Duration::from_millis(500),
            pace,
        };
        let expect = Expect::ok_with(answer.clone());
        let outcome = loadgen::run(&target, loadgen::same(call.clone()), expect, load, None)
            .await
            .unwrap();
        assert!(outcome.ok > 0, "{pace:?}: no answer");
        assert_eq!((outcome.failed, outcome.mismatched), (0, 0), "{pace:?}");
        assert_eq!(outcome.latencies.len() as u64, outcome.ok, "{pace:?}");
        assert!(outcome.quantile_us(0.5) <= outcome.quantile_us(0.99));
    }
}
