//! The benchmark load generator (`benches/support/loadgen.rs`), run for one second against the
//! benchmarks' server (`benches/support/stack.rs`: `serve_with` plus `/noop`): every answer must
//! be the patched AdmissionReview, whose patch pins the two images that resolve through a
//! stream and leaves the third alone, and `/noop` its fixed answer. Not a timing test.

mod common;

#[allow(dead_code)]
#[path = "../benches/support/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../benches/support/loadgen.rs"]
mod loadgen;
#[allow(dead_code)]
#[path = "../benches/support/stack.rs"]
mod stack;

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use imagelookup::store::{EmbeddedOptions, EmbeddedStore};
use loadgen::{Call, Expect, Load, Pace};

const NAMESPACE: &str = "ns-0";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_under_load_is_the_patched_review() {
    common::setup();
    let dir = common::temp_dir();
    let store = EmbeddedStore::open(dir.path().join("store"), EmbeddedOptions::default()).unwrap();
    fixtures::preload(&store, 1, 10).await;
    let server = stack::start(dir.path(), Arc::new(store)).await.unwrap();
    assert_eq!(server.indexed_streams().await.unwrap(), 10);
    let target = &server.target;
    let review = fixtures::admission_review(NAMESPACE).to_string();
    let noop = Call::json(Method::POST, "/noop", review.clone());
    let (status, fixed) = target.connect().await.unwrap().send(&noop).await.unwrap();
    assert_eq!(
        (status.as_u16(), &fixed[..]),
        (200, stack::NOOP_BODY.as_bytes())
    );
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
        let outcome = loadgen::run(target, loadgen::same(call.clone()), expect, load, None)
            .await
            .unwrap();
        assert!(outcome.ok > 0, "{pace:?}: no answer");
        assert_eq!((outcome.failed, outcome.mismatched), (0, 0), "{pace:?}");
        assert_eq!(outcome.latencies.len() as u64, outcome.ok, "{pace:?}");
        // Sorted, as the quantiles read them; each from its request's start to its answer,
        // so none longer than the run, which ends with the last answer.
        let sorted = outcome.latencies.windows(2).all(|pair| pair[0] <= pair[1]);
        assert!(sorted, "{pace:?}: latencies unsorted");
        let longest = Duration::from_nanos(*outcome.latencies.last().unwrap());
        assert!(
            longest <= outcome.elapsed,
            "{pace:?}: a latency of {longest:?} in a run of {:?}",
            outcome.elapsed
        );
    }
}
