//! Test fixtures: a table-driven fake resolver that counts its calls, resolution builders, and
//! object builders (`mk_pod`, `mk_workload`, `mk_build`).

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::{json, Value};

use super::{Operation, ReferenceResolver, Request};
use crate::api::policy::ImagePolicyConfig;
use crate::resolve::{Match, ObjectRef, Resolution, ResolveError, Resolved, ResolvedVia};

/// The integrated registry the fake resolver reports.
pub(crate) const REGISTRY: &str = "registry.local:5000";
/// A digest to pin to.
pub(crate) const SHA: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000001";

/// A resolver answering from a table keyed by `(kind, name)`; anything else is a missing stream.
#[derive(Default)]
pub(crate) struct FakeResolver {
    table: HashMap<(String, String), Resolution>,
    /// The pull specs of reference-only tags, by `stream:tag`.
    reference_only: HashMap<String, String>,
    /// Every call: `(kind, name, namespace, force)`.
    pub calls: RefCell<Vec<(String, String, String, bool)>>,
}

impl FakeResolver {
    /// A resolver answering `DockerImage` references from `rows`.
    pub(crate) fn new(rows: &[(&str, Resolution)]) -> Self {
        let mut resolver = Self::default();
        for (name, resolution) in rows {
            resolver = resolver.with("DockerImage", name, resolution.clone());
        }
        resolver
    }

    /// Adds an answer for a reference of any kind.
    pub(crate) fn with(mut self, kind: &str, name: &str, resolution: Resolution) -> Self {
        self.table
            .insert((kind.to_string(), name.to_string()), resolution);
        self
    }

    /// Adds an `ImageStreamTag` `stream:tag` whose newest event references `pull_spec` with no
    /// image (a reference tag): it resolves to no image, and names its pull spec on request.
    pub(crate) fn with_reference_only(mut self, name: &str, pull_spec: &str) -> Self {
        let (stream, tag) = name.split_once(':').expect("stream:tag");
        let mut missing = failed(ResolveError::TagNotFound {
            namespace: "ns".into(),
            name: name.into(),
        });
        missing.matched = Some(Match {
            namespace: "ns".into(),
            stream: stream.into(),
            tag: tag.into(),
            stream_found: true,
            lookup_local: false,
            reference_policy: "Source".into(),
        });
        self.reference_only
            .insert(name.to_string(), pull_spec.to_string());
        self.with("ImageStreamTag", name, missing)
    }

    pub(crate) fn call_count(&self) -> usize {
        self.calls.borrow().len()
    }
}

impl ReferenceResolver for FakeResolver {
    fn resolve(&self, reference: &ObjectRef<'_>, namespace: &str, force: bool) -> Resolution {
        let call = (
            reference.kind.into(),
            reference.name.into(),
            namespace.into(),
            force,
        );
        self.calls.borrow_mut().push(call);
        let key = (reference.kind.to_string(), reference.name.to_string());
        self.table.get(&key).cloned().unwrap_or_else(|| {
            failed(ResolveError::StreamNotFound {
                namespace: namespace.to_string(),
                name: reference.name.to_string(),
            })
        })
    }

    fn integrated_registry(&self) -> &str {
        REGISTRY
    }

    fn reference_only_pull_spec(&self, matched: &Match) -> Option<String> {
        let name = format!("{}:{}", matched.stream, matched.tag);
        self.reference_only.get(&name).cloned()
    }
}

fn resolution(pull_spec: &str, local_rewrite: bool, via: ResolvedVia) -> Resolution {
    Resolution {
        outcome: Ok(Resolved {
            pull_spec: pull_spec.to_string(),
            local_rewrite,
            via,
            after_failed_import: false,
        }),
        matched: None,
        reason: format!("resolved to {pull_spec}"),
        brief: None,
    }
}

/// A short name resolved through local lookup to a pinned image.
pub(crate) fn local(pull_spec: &str) -> Resolution {
    resolution(pull_spec, true, ResolvedVia::TagEvent)
}

/// A full integrated-registry reference or a build tag, resolved but not a local lookup.
pub(crate) fn full(pull_spec: &str) -> Resolution {
    resolution(pull_spec, false, ResolvedVia::TagEvent)
}

/// A reference already carrying a digest.
pub(crate) fn digest(pull_spec: &str) -> Resolution {
    resolution(pull_spec, false, ResolvedVia::Digest)
}

/// A local stream whose tag has no image yet.
pub(crate) fn pull_through(pull_spec: &str) -> Resolution {
    resolution(pull_spec, true, ResolvedVia::PullThrough)
}

/// A failed resolution.
pub(crate) fn failed(error: ResolveError) -> Resolution {
    Resolution {
        outcome: Err(error),
        matched: None,
        reason: String::new(),
        brief: None,
    }
}

/// A defaulted config from YAML.
pub(crate) fn config(yaml: &str) -> ImagePolicyConfig {
    ImagePolicyConfig::from_yaml(yaml).expect("valid config")
}

/// A resource: group, kind and plural resource.
pub(crate) type Kind = (&'static str, &'static str, &'static str);

pub(crate) const POD: Kind = ("", "Pod", "pods");
pub(crate) const DEPLOYMENT: Kind = ("apps", "Deployment", "deployments");
pub(crate) const JOB: Kind = ("batch", "Job", "jobs");
pub(crate) const BUILD: Kind = ("build.openshift.io", "Build", "builds");
pub(crate) const BUILD_CONFIG: Kind = ("build.openshift.io", "BuildConfig", "buildconfigs");

/// A CREATE of `object` as `kind` in namespace `ns`, named `demo`.
pub(crate) fn create<'a>(kind: Kind, object: &'a Value) -> Request<'a> {
    Request {
        operation: Operation::Create,
        group: kind.0,
        version: "v1",
        kind: kind.1,
        resource: kind.2,
        subresource: "",
        namespace: "ns",
        name: "demo",
        object,
        old_object: None,
        dry_run: false,
        ignored_rules: &[],
    }
}

/// An UPDATE from `old` to `object`.
pub(crate) fn update<'a>(kind: Kind, object: &'a Value, old: &'a Value) -> Request<'a> {
    Request {
        operation: Operation::Update,
        old_object: Some(old),
        ..create(kind, object)
    }
}

/// Containers `[{name, image}]`.
pub(crate) fn containers(images: &[(&str, &str)]) -> Value {
    let list = images
        .iter()
        .map(|(name, image)| json!({"name": name, "image": image}));
    Value::Array(list.collect())
}

/// A pod with these containers.
pub(crate) fn mk_pod(images: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo"},
           "spec": {"containers": containers(images), "restartPolicy": "Always"}})
}

/// `pod_spec` wrapped at the JSON pointer `at` (e.g. `/spec/template/spec`) of an object.
pub(crate) fn mk_workload(at: &str, pod_spec: Value) -> Value {
    let keys: Vec<&str> = at.trim_start_matches('/').split('/').collect();
    let nested = keys
        .iter()
        .rev()
        .fold(pod_spec, |inner, key| json!({ *key: inner }));
    let mut object = json!({"metadata": {"name": "demo"}});
    object
        .as_object_mut()
        .unwrap()
        .extend(nested.as_object().unwrap().clone());
    object
}

/// A build (or build config) with a source strategy `from` and optional source images.
pub(crate) fn mk_build(from: Value, source_images: &[Value]) -> Value {
    let images: Vec<Value> = source_images
        .iter()
        .map(|from| json!({"from": from, "paths": []}))
        .collect();
    json!({"metadata": {"name": "demo"}, "spec": {
        "source": {"images": images},
        "strategy": {"sourceStrategy": {"from": from}},
        "output": {"to": {"kind": "ImageStreamTag", "name": "out:latest"}}}})
}
