//! Where a `/mutate` request's CPU time goes, without the network: the stages of the webhook
//! handler on the benchmark Pod (three containers, two resolved through streams) at 10 and
//! 100,000 streams.
//!
//! ```text
//! cargo bench --bench admission
//! ```
//!
//! - `admission/parse`: `review::parse`, the body into a request with the Pod as a JSON tree;
//! - `admission/scan`: `serde_json` reading the same body without building anything, the
//!   floor of any parse;
//! - `admission/decide`: `review::decide` (locate images, resolve, build the JSON Patch);
//! - `admission/respond`: `review::respond` and serialising the answer;
//! - `admission_whole/<n>_streams`: the three together.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use imagelookup::admission::StreamResolver;
use imagelookup::api::policy::ImagePolicyConfig;
use imagelookup::resolve::{Index, ResolverConfig};
use imagelookup::webhook::review;

#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

/// The allocator `imagelookup` runs with (src/main.rs): the handler allocates, and the stage
/// figures should be those of what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const NAMESPACE: &str = "ns-0";

fn handle(
    body: &[u8],
    policy: &ImagePolicyConfig,
    resolver: &StreamResolver<'_, Index>,
) -> Vec<u8> {
    let request = review::parse(body).expect("a valid review");
    let decision = review::decide(&request, policy, resolver);
    review::respond(&request.uid, &decision).to_json()
}

fn admission(c: &mut Criterion) {
    let body = fixtures::admission_review(NAMESPACE)
        .to_string()
        .into_bytes();
    let config = ResolverConfig {
        registry_hostname: fixtures::REGISTRY.to_string(),
        ..ResolverConfig::default()
    };
    let policy = ImagePolicyConfig::default();
    let small = fixtures::index(1, 10);
    let resolver = StreamResolver {
        config: &config,
        streams: &small,
    };
    let answer = handle(&body, &policy, &resolver);
    let images = fixtures::patched_images(&answer, NAMESPACE).expect("a patched answer");
    assert_eq!(images, fixtures::expected_pod_images(NAMESPACE));

    let mut group = c.benchmark_group("admission");
    group.bench_function("scan", |b| {
        b.iter(|| serde_json::from_slice::<serde::de::IgnoredAny>(black_box(&body)))
    });
    group.bench_function("parse", |b| b.iter(|| review::parse(black_box(&body))));
    let request = review::parse(&body).expect("a valid review");
    group.bench_function("decide", |b| {
        b.iter(|| review::decide(black_box(&request), &policy, &resolver))
    });
    let decision = review::decide(&request, &policy, &resolver);
    group.bench_function("respond", |b| {
        b.iter(|| review::respond(black_box(&request.uid), &decision).to_json())
    });
    group.finish();
    let mut group = c.benchmark_group("admission_whole");
    group.bench_function("10_streams", |b| {
        b.iter(|| handle(black_box(&body), &policy, &resolver))
    });
    let large = fixtures::index(1_000, 100);
    let resolver = StreamResolver {
        config: &config,
        streams: &large,
    };
    assert_eq!(handle(&body, &policy, &resolver), answer);
    group.bench_function("100000_streams", |b| {
        b.iter(|| handle(black_box(&body), &policy, &resolver))
    });
    group.finish();
}

criterion_group!(benches, admission);
criterion_main!(benches);
