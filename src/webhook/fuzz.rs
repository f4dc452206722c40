//! The webhook never panics: property tests that feed arbitrary bytes, arbitrary JSON and
//! arbitrary AdmissionReview-shaped JSON (random kinds, subresources, operations, objects with
//! pod specs and build references in and out of place) through [`review::parse`],
//! [`review::decide`] and [`review::respond`] over a small index, under several policies.
//!
//! Every answer must serialise; a returned patch must apply to the object, and applying it
//! must be a fixed point: the patched object, admitted again, gets no further patch.

use std::sync::atomic::{AtomicU32, Ordering};

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};

use super::review;
use crate::admission::StreamResolver;
use crate::api::policy::ImagePolicyConfig;
use crate::api::ImageStream;
use crate::resolve::{Index, ResolverConfig};

const SHA: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const CASES: u32 = 3_000;

/// The streams every case is decided against, in namespace `ns`.
fn index() -> Index {
    let repository = "registry.local:5000/ns/mysql";
    let event = |reference: &str, image: &str| {
        json!({"created": "2026-01-01T00:00:00Z", "dockerImageReference": reference,
               "image": image, "generation": 1})
    };
    let streams = [
        json!({"metadata": {"name": "mysql", "namespace": "ns"},
            "spec": {"lookupPolicy": {"local": true}, "tags": [
                {"name": "8", "from": {"kind": "DockerImage", "name": "quay.io/o/mysql:8"},
                 "referencePolicy": {"type": "Source"}},
                {"name": "5.7", "from": {"kind": "DockerImage", "name": "quay.io/o/mysql:5.7"},
                 "referencePolicy": {"type": "Local"}},
                {"name": "9", "from": {"kind": "DockerImage", "name": "quay.io/o/mysql:9"}}]},
            "status": {"dockerImageRepository": repository, "tags": [
                {"tag": "8", "items": [event(&format!("quay.io/o/mysql@{SHA}"), SHA)]},
                {"tag": "5.7", "items": [event(&format!("quay.io/o/mysql@{SHA}"), SHA)]},
                {"tag": "latest", "items": [event("mysql:latest", SHA)]}]}}),
        json!({"metadata": {"name": "php", "namespace": "ns"},
            "spec": {"lookupPolicy": {"local": false}},
            "status": {"dockerImageRepository": "registry.local:5000/ns/php", "tags": [
                {"tag": "latest", "items": [event(&format!("docker.io/library/php@{SHA}"), SHA)]}]}}),
        json!({"metadata": {"name": "ruby", "namespace": "ns"},
            "spec": {"lookupPolicy": {"local": true}},
            "status": {"tags": [{"tag": "3", "items": [event("", "")]}]}}),
    ];
    streams
        .into_iter()
        .map(|stream| serde_json::from_value::<ImageStream>(stream).expect("a valid stream"))
        .collect()
}

/// The policies cases are decided under.
fn policies() -> Vec<ImagePolicyConfig> {
    let yaml = [
        "resolveImages: Attempt",
        "resolveImages: Required",
        "resolveImages: RequiredRewrite",
        "resolveImages: AttemptRewrite",
        "resolveImages: DoNotAttempt",
        "resolveImages: AttemptRewrite\nresolutionRules:\n- targetResource: {group: apps, resource: '*'}\n  localNames: true\n",
        "resolveImages: Attempt\nexecutionRules:\n- name: no-hub\n  reject: true\n  matchRegistries: [docker.io]\n  onResources: [{resource: pods}, {group: apps, resource: deployments}]\n",
    ];
    yaml.iter()
        .map(|body| {
            let text =
                format!("apiVersion: image.openshift.io/v1\nkind: ImagePolicyConfig\n{body}");
            ImagePolicyConfig::from_yaml(&text).expect("a valid policy")
        })
        .collect()
}

/// Image references: the ones the index knows, registry references, digests, and garbage.
fn image() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "mysql",
        "mysql:8",
        "mysql:5.7",
        "mysql:9",
        "mysql:latest",
        "php",
        "ruby:3",
        "nosuch:1",
        "docker.io/library/nginx:1",
        "registry.local:5000/ns/mysql:8",
        "quay.io/elsewhere/mysql:8",
        "mysql@sha256:1111111111111111111111111111111111111111111111111111111111111111",
        "mysql:8@sha256:abc",
        "quay.io/o/m@sha256:zz",
        "",
        ":",
        "@",
        "a:b:c",
        "UPPER:Case",
        "mÿsql:ünï",
        "//",
        "mysql:",
        "ns/mysql:8",
    ]);
    let resolvable = prop::sample::select(vec!["mysql", "mysql:8", "mysql:5.7", "mysql:9"]);
    prop_oneof![
        4 => resolvable.prop_map(str::to_string),
        4 => known.prop_map(str::to_string),
        2 => "[a-z0-9:/@._-]{0,40}",
        1 => ".{0,24}",
    ]
}

/// Arbitrary JSON, with keys biased towards the ones admission looks at.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        image().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..5)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "spec",
        "template",
        "metadata",
        "containers",
        "initContainers",
        "ephemeralContainers",
        "image",
        "name",
        "volumes",
        "reference",
        "from",
        "kind",
        "namespace",
        "annotations",
        "ownerReferences",
        "controller",
        "jobTemplate",
        "source",
        "images",
        "strategy",
        "dockerStrategy",
        "alpha.image.policy.openshift.io/resolve-names",
        "~1/",
    ]);
    prop_oneof![3 => known.prop_map(str::to_string), 1 => ".{0,8}"]
}

/// A container: usually well formed, sometimes not an object or with odd field types.
fn container() -> impl Strategy<Value = Value> {
    let name = prop::sample::select(vec!["a", "b", "c", ""]).prop_map(Value::from);
    let well_formed =
        (name, image()).prop_map(|(name, image)| json!({"name": name, "image": image}));
    prop_oneof![8 => well_formed, 1 => json_value()]
}

fn pod_spec() -> impl Strategy<Value = Value> {
    let list = || prop::collection::vec(container(), 0..3);
    let volume = image().prop_map(|image| json!({"name": "v", "image": {"reference": image}}));
    (
        list(),
        list(),
        list(),
        prop::collection::vec(volume, 0..2),
        json_value(),
    )
        .prop_map(|(containers, init, ephemeral, volumes, junk)| {
            json!({"containers": containers, "initContainers": init,
                   "ephemeralContainers": ephemeral, "volumes": volumes, "x-junk": junk})
        })
}

fn build_reference() -> impl Strategy<Value = Value> {
    let kind = prop::sample::select(vec![
        "DockerImage",
        "ImageStreamTag",
        "ImageStreamImage",
        "Other",
        "",
    ]);
    let namespace = prop::option::of(prop::sample::select(vec!["ns", "other", ""]));
    (kind, image(), namespace).prop_map(|(kind, name, namespace)| {
        let mut from = json!({"kind": kind, "name": name});
        if let Some(namespace) = namespace {
            from["namespace"] = json!(namespace);
        }
        from
    })
}

fn build_spec() -> impl Strategy<Value = Value> {
    let strategy = prop::sample::select(vec!["dockerStrategy", "sourceStrategy", "customStrategy"]);
    (
        prop::collection::vec(build_reference(), 0..3),
        strategy,
        build_reference(),
    )
        .prop_map(|(sources, strategy, from)| {
            let images: Vec<Value> = sources
                .into_iter()
                .map(|from| json!({"from": from}))
                .collect();
            json!({"source": {"images": images}, "strategy": {strategy: {"from": from}}})
        })
}

/// Metadata with, sometimes, the resolve-names annotation and a controlling owner.
fn metadata() -> impl Strategy<Value = Value> {
    let owned = prop::bool::weighted(0.15);
    let junk = prop::option::weighted(0.2, json_value());
    (any::<bool>(), owned, junk).prop_map(|(forced, owned, junk)| {
        let mut metadata = json!({"name": "obj"});
        if forced {
            metadata["annotations"] = json!({"alpha.image.policy.openshift.io/resolve-names": "*"});
        }
        if owned {
            metadata["ownerReferences"] = json!([{"kind": "ReplicaSet", "controller": true}]);
        }
        if let Some(junk) = junk {
            metadata["labels"] = junk;
        }
        metadata
    })
}

/// `(group, kind, resource)`, including kinds without images, unknown ones, and (one time in
/// ten) a kind that does not match its group or resource.
fn kind() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    let groups = prop::sample::select(vec!["", "apps", "batch", "build.openshift.io", "x"]);
    let kinds = prop::sample::select(vec!["Pod", "Deployment", "CronJob", "Build", "Widget"]);
    let resources = prop::sample::select(vec!["pods", "deployments", "builds", "*", ""]);
    prop_oneof![
        9 => consistent_kind(),
        1 => (groups, kinds, resources),
    ]
}

fn consistent_kind() -> impl Strategy<Value = (&'static str, &'static str, &'static str)> {
    prop::sample::select(vec![
        ("", "Pod", "pods"),
        ("", "PodTemplate", "podtemplates"),
        ("", "ReplicationController", "replicationcontrollers"),
        ("apps", "Deployment", "deployments"),
        ("apps", "StatefulSet", "statefulsets"),
        ("batch", "Job", "jobs"),
        ("batch", "CronJob", "cronjobs"),
        ("build.openshift.io", "Build", "builds"),
        ("build.openshift.io", "BuildConfig", "buildconfigs"),
        ("", "ConfigMap", "configmaps"),
        ("example.com", "Widget", "widgets"),
    ])
}

/// An object of `kind` with its images where that kind keeps them, or somewhere else.
fn object_of(kind: &'static str) -> BoxedStrategy<Value> {
    let spec: BoxedStrategy<Value> = match kind {
        "Build" | "BuildConfig" => build_spec().boxed(),
        "Pod" => pod_spec().boxed(),
        "CronJob" => (metadata(), pod_spec())
            .prop_map(|(metadata, spec)| {
                json!({"jobTemplate": {"spec": {"template": {"metadata": metadata, "spec": spec}}}})
            })
            .boxed(),
        _ => (metadata(), pod_spec())
            .prop_map(|(metadata, spec)| json!({"template": {"metadata": metadata, "spec": spec}}))
            .boxed(),
    };
    let spec = prop_oneof![9 => spec, 1 => json_value()];
    (metadata(), spec)
        .prop_map(|(metadata, spec)| {
            let mut object = Map::new();
            object.insert("metadata".into(), metadata);
            object.insert("spec".into(), spec.clone());
            object.insert("template".into(), json!({"spec": spec}));
            Value::Object(object)
        })
        .boxed()
}

/// An AdmissionReview body with random operation, subresource, namespace and objects.
fn admission_review() -> impl Strategy<Value = Value> {
    kind().prop_flat_map(|(group, kind, resource)| {
        let operation = prop_oneof![
            4 => Just("CREATE"),
            3 => Just("UPDATE"),
            1 => prop::sample::select(vec!["DELETE", "CONNECT", "X"]),
        ];
        let subresource = prop::option::weighted(
            0.2,
            prop::sample::select(vec!["ephemeralcontainers", "status", "exec"]),
        );
        let namespace = prop_oneof![
            8 => Just(Some("ns")),
            1 => prop::option::of(prop::sample::select(vec!["other", ""])),
        ];
        let old = prop::option::of(object_of(kind));
        (
            object_of(kind),
            old,
            operation,
            subresource,
            namespace,
            any::<bool>(),
        )
            .prop_map(
                move |(object, old, operation, subresource, namespace, dry_run)| {
                    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                    "request": {"uid": "u", "kind": {"group": group, "version": "v1", "kind": kind},
                        "resource": {"group": group, "version": "v1", "resource": resource},
                        "subResource": subresource, "namespace": namespace, "name": "obj",
                        "operation": operation, "object": object, "oldObject": old,
                        "dryRun": dry_run}})
                },
            )
    })
}

/// What one admission answered.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The body is not an AdmissionReview (HTTP 400).
    Unreadable,
    /// Rejected.
    Denied,
    /// Admitted unchanged.
    Unchanged,
    /// Admitted with a patch: the patched object.
    Patched(Value),
}

/// Parses, decides and responds to `body` under `policy`, and checks the answer: it
/// serialises, echoes the uid, and its patch (only ever on an allowed request) applies.
fn admit(body: &[u8], policy: &ImagePolicyConfig, streams: &Index) -> Answer {
    let config = ResolverConfig {
        registry_hostname: "registry.local:5000".to_string(),
    };
    let resolver = StreamResolver {
        config: &config,
        streams,
    };
    let request = match review::parse(body) {
        Ok(request) => request,
        Err(error) => {
            let answer = serde_json::to_value(review::respond_invalid(&error))
                .expect("a 400 response serialises");
            assert_eq!(answer["response"]["allowed"], false);
            assert_eq!(answer["response"]["status"]["code"], 400);
            return Answer::Unreadable;
        }
    };
    let decision = review::decide(&request, policy, &resolver);
    let answer = serde_json::to_value(review::respond(&request.uid, &decision))
        .expect("a response serialises");
    let response = &answer["response"];
    assert_eq!(response["uid"], json!(request.uid));
    assert_eq!(response["allowed"], json!(decision.denial.is_none()));
    let Some(encoded) = response.get("patch") else {
        return match decision.denial {
            Some(_) => Answer::Denied,
            None => Answer::Unchanged,
        };
    };
    assert_eq!(response["allowed"], true, "a denial carries no patch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.as_str().expect("a base64 string"))
        .expect("valid base64");
    let patch: json_patch::Patch = serde_json::from_slice(&bytes).expect("a JSON Patch");
    let mut object = request.object.clone().unwrap_or(Value::Null);
    json_patch::patch(&mut object, &patch).expect("the patch applies to the object");
    Answer::Patched(object)
}

/// How many structured cases ended each way; printed with `--nocapture`, and checked so the
/// generator keeps reaching rewrites and denials.
#[derive(Debug, Default)]
struct Tally {
    denied: AtomicU32,
    unchanged: AtomicU32,
    patched: AtomicU32,
}

/// Runs `cases` cases of `strategy` through `property` (`PROPTEST_CASES` overrides the count
/// for a longer run); returns how many ran.
fn run<S: Strategy>(strategy: S, cases: u32, property: impl Fn(S::Value)) -> u32 {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(cases);
    let ran = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |input| {
        ran.fetch_add(1, Ordering::Relaxed);
        property(input);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let ran = ran.into_inner();
    assert_eq!(ran, cases, "every case ran");
    ran
}

#[test]
fn arbitrary_bytes_never_panic_the_handler() {
    let (policy, streams) = (ImagePolicyConfig::default(), index());
    let bytes = prop::collection::vec(any::<u8>(), 0..256);
    run(bytes, CASES, |body| {
        admit(&body, &policy, &streams);
    });
}

#[test]
fn arbitrary_json_never_panics_the_handler() {
    let (policy, streams) = (ImagePolicyConfig::default(), index());
    run(json_value(), CASES, |value| {
        admit(value.to_string().as_bytes(), &policy, &streams);
    });
}

#[test]
fn any_admission_review_gets_an_answer_whose_patch_applies_and_is_a_fixed_point() {
    let (policies, streams, tally) = (policies(), index(), Tally::default());
    let cases = (admission_review(), 0..policies.len());
    let ran = run(cases, CASES * 2, |(mut review, policy)| {
        let policy = &policies[policy];
        let counter = match admit(review.to_string().as_bytes(), policy, &streams) {
            Answer::Unreadable => panic!("a well-formed review is readable: {review}"),
            Answer::Denied => &tally.denied,
            Answer::Unchanged => &tally.unchanged,
            Answer::Patched(object) => {
                review["request"]["object"] = object;
                let again = admit(review.to_string().as_bytes(), policy, &streams);
                assert_eq!(again, Answer::Unchanged, "a second admission of {review}");
                &tally.patched
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    });
    eprintln!("{ran} structured admission reviews: {tally:?}");
    assert!(
        tally.patched.into_inner() > ran / 20,
        "rewrites are reached"
    );
    assert!(tally.denied.into_inner() > ran / 40, "denials are reached");
}
