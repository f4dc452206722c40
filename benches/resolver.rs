//! Resolver benchmarks: parse + resolve one short reference against indexes of 10 and
//! 100,000 streams (1,000 namespaces × 100 streams, 3 imported tags each).
//!
//! ```text
//! cargo bench --bench resolver
//! ```
//!
//! Output reads `resolve/10_streams`, `resolve/100000_streams` (found tag, `Source` policy)
//! and `resolve_local/…` (found tag, `Local` policy: one more parse of the repository).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use imagelookup::resolve::{resolve, ObjectRef, ResolverConfig};

#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

use fixtures::{index, REGISTRY};

fn bench_sizes(c: &mut Criterion, group_name: &str, reference: &str) {
    let config = ResolverConfig {
        registry_hostname: REGISTRY.to_string(),
        ..ResolverConfig::default()
    };
    let sizes = [("10_streams", 1, 10), ("100000_streams", 1_000, 100)];
    let mut group = c.benchmark_group(group_name);
    for (label, namespaces, per_namespace) in sizes {
        let index = index(namespaces, per_namespace);
        let namespace = format!("ns-{}", namespaces / 2);
        let check = resolve(
            &ObjectRef::docker_image(reference),
            &namespace,
            false,
            &config,
            &index,
        );
        assert!(
            check.outcome.is_ok(),
            "{reference} in {namespace}: {}",
            check.reason
        );
        group.bench_function(label, |b| {
            b.iter(|| {
                let reference = ObjectRef::docker_image(black_box(reference));
                resolve(&reference, black_box(&namespace), false, &config, &index)
            })
        });
    }
    group.finish();
}

fn resolver(c: &mut Criterion) {
    // app-4 has a Source policy, app-5 a Local one; both exist at both sizes.
    bench_sizes(c, "resolve", "app-4:8");
    bench_sizes(c, "resolve_local", "app-5:8");
}

criterion_group!(benches, resolver);
criterion_main!(benches);
