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
use imagelookup::api::{
    ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent, TagReference, TagReferencePolicy,
    REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE,
};
use imagelookup::resolve::{resolve, Index, ObjectRef, ResolverConfig};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

const REGISTRY: &str = "image-registry.openshift-image-registry.svc:5000";
const TAGS: [&str; 3] = ["latest", "8", "8.0"];

/// A digest unique to (stream, tag, generation).
fn digest(stream: usize, tag: usize, generation: usize) -> String {
    format!("sha256:{stream:032x}{tag:016x}{generation:016x}")
}

/// An imported tag as the importer leaves it: a DockerImage spec tag and two status events.
fn tag(
    name: &str,
    index: usize,
    tag_index: usize,
    tag_name: &str,
) -> (TagReference, NamedTagEventList) {
    let source = format!("quay.io/org/{name}:{tag_name}");
    let policy = if index % 2 == 0 {
        REFERENCE_POLICY_SOURCE
    } else {
        REFERENCE_POLICY_LOCAL
    };
    let spec = TagReference {
        name: tag_name.to_string(),
        from: Some(ObjectReference {
            kind: Some("DockerImage".to_string()),
            name: Some(source),
            ..ObjectReference::default()
        }),
        generation: Some(2),
        reference_policy: TagReferencePolicy::of(policy),
        ..TagReference::default()
    };
    let items = (0..2)
        .map(|generation| {
            let image = digest(index, tag_index, 2 - generation);
            TagEvent {
                created: Time(jiff::Timestamp::UNIX_EPOCH),
                docker_image_reference: format!("quay.io/org/{name}@{image}"),
                image,
                generation: (2 - generation) as i64,
            }
        })
        .collect();
    let status = NamedTagEventList {
        tag: tag_name.to_string(),
        items,
        conditions: Vec::new(),
    };
    (spec, status)
}

/// Stream number `index` in `namespace`: local lookup, even numbers `Source`, odd `Local`.
fn stream(namespace: &str, name: &str, index: usize) -> ImageStream {
    let mut stream = ImageStream::new(namespace, name);
    stream.spec.lookup_policy.local = true;
    let (spec_tags, status_tags) = TAGS
        .iter()
        .enumerate()
        .map(|(tag_index, tag_name)| tag(name, index, tag_index, tag_name))
        .unzip();
    stream.spec.tags = spec_tags;
    stream.status = Some(ImageStreamStatus {
        docker_image_repository: format!("{REGISTRY}/{namespace}/{name}"),
        tags: status_tags,
        ..ImageStreamStatus::default()
    });
    stream
}

/// `namespaces × per_namespace` streams named `ns-<n>/app-<m>`.
fn index(namespaces: usize, per_namespace: usize) -> Index {
    let mut index = Index::new();
    for n in 0..namespaces {
        let namespace = format!("ns-{n}");
        for m in 0..per_namespace {
            let stream = stream(&namespace, &format!("app-{m}"), m);
            index.upsert(std::sync::Arc::new(stream));
        }
    }
    index
}

fn bench_sizes(c: &mut Criterion, group_name: &str, reference: &str) {
    let config = ResolverConfig {
        registry_hostname: REGISTRY.to_string(),
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
