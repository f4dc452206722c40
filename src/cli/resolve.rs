//! `imagelookup resolve`: pins the image references of manifests offline, exactly as admission
//! would on CREATE, for GitOps and CI pipelines.

use json_patch::{Patch, PatchOperation};
use serde_json::Value;

use crate::admission::{self, Decision, Denial, Operation, Request, Rewrite, StreamResolver};
use std::borrow::Cow;

use crate::api::policy::{guess_resource, GroupResource, ImagePolicyConfig};
use crate::manifest::{self, Documents};
use crate::resolve::{Index, ResolverConfig};

/// What resolving a manifest stream produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// For each document, the JSON Patch writing its rewrites (for a `List`, addressed from
    /// the list: `/items/<i>/…`); meaningful only when no finding is a rejection.
    pub patches: Vec<Patch>,
    /// What happened to each object, in input order: rewrites, warnings and rejections.
    pub findings: Vec<Finding>,
}

/// The object a finding concerns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectRef {
    /// Its `apiVersion`.
    pub api_version: String,
    /// Its `kind`.
    pub kind: String,
    /// Its `metadata.name` (or `generateName`).
    pub name: String,
    /// Its `metadata.namespace`, empty when it names none.
    pub namespace: String,
}

impl ObjectRef {
    fn of(object: &Value) -> Self {
        let text = |value: &Value| value.as_str().unwrap_or("").to_string();
        let metadata = &object["metadata"];
        let name = match metadata["name"].as_str() {
            Some(name) => name.to_string(),
            None => text(&metadata["generateName"]),
        };
        Self {
            api_version: text(&object["apiVersion"]),
            kind: text(&object["kind"]),
            name,
            namespace: text(&metadata["namespace"]),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    /// `Kind/name`, the prefix of the lines that concern the object (`document` for one that
    /// names no kind).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind.as_str(), self.name.as_str()) {
            ("", "") => f.write_str("a document"),
            ("", name) => write!(f, "document {name}"),
            (kind, name) => write!(f, "{kind}/{name}"),
        }
    }
}

/// One thing resolving an object did or refused.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    /// A reference was written back.
    Rewritten(ObjectRef, Rewrite),
    /// Why a reference was not rewritten or not pinned (one line, starting with its field).
    Warning(ObjectRef, String),
    /// Admission rejected the object (a `Required` policy, or a local name with nowhere to
    /// pull it from): nothing of it is written.
    Rejected(ObjectRef, Denial),
}

impl Outcome {
    /// The warnings, one line each, prefixed by the object they concern.
    pub fn warnings(&self) -> impl Iterator<Item = String> + '_ {
        self.findings.iter().filter_map(|finding| match finding {
            Finding::Warning(object, text) => Some(format!("{object}: {text}")),
            _ => None,
        })
    }

    /// The 422 message of each object admission rejected.
    pub fn rejections(&self) -> impl Iterator<Item = &str> {
        self.findings.iter().filter_map(|finding| match finding {
            Finding::Rejected(_, denial) => Some(denial.message.as_str()),
            _ => None,
        })
    }

    /// Whether an object was rejected, so the output must not be used.
    pub fn rejected(&self) -> bool {
        self.rejections().next().is_some()
    }
}

/// Everything the offline resolution needs besides the manifests.
pub struct Context<'a> {
    /// The admission policy (defaulted).
    pub policy: &'a ImagePolicyConfig,
    /// The resolver settings.
    pub config: &'a ResolverConfig,
    /// The streams to resolve against.
    pub index: &'a Index,
    /// The namespace of objects that name none.
    pub default_namespace: &'a str,
}

/// Resolves every object of `documents`, expanding `List`s in place.
pub fn resolve_documents(documents: &Documents, context: &Context<'_>) -> Outcome {
    let mut outcome = Outcome::default();
    for document in &documents.items {
        let patch = if manifest::is_list(document) {
            resolve_list(document, context, &mut outcome)
        } else {
            resolve_object(document, context, &mut outcome)
        };
        outcome.patches.push(patch);
    }
    outcome
}

/// A list's items resolved, a list among them too (a `List` inside a KRM `ResourceList`, as
/// kustomize passes one through).
fn resolve_list(list: &Value, context: &Context<'_>, outcome: &mut Outcome) -> Patch {
    let items = list["items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut operations = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let prefix = format!("/items/{index}");
        let typed = typed_item(list, item);
        let item = typed.as_ref().unwrap_or(item);
        let item_patch = match manifest::is_list(item) {
            true => resolve_list(item, context, outcome),
            false => resolve_object(item, context, outcome),
        };
        operations.extend(item_patch.0.into_iter().map(|op| under(&prefix, op)));
    }
    Patch(operations)
}

/// An item of a typed list (`PodList`, `DeploymentList`) as the API writes one, without `kind`
/// and `apiVersion`: given the list's, so it is resolved as what it is. `None` for an item that
/// names its kind, or one of a plain `List`.
fn typed_item(list: &Value, item: &Value) -> Option<Value> {
    let list_kind = list.get("kind").and_then(Value::as_str)?;
    let kind = list_kind
        .strip_suffix("List")
        .filter(|kind| !kind.is_empty())?;
    if item.get("kind").is_some() || !item.is_object() {
        return None;
    }
    let mut typed = item.clone();
    typed["kind"] = Value::from(kind);
    if let Some(api_version) = list
        .get("apiVersion")
        .filter(|_| item.get("apiVersion").is_none())
    {
        typed["apiVersion"] = api_version.clone();
    }
    Some(typed)
}

/// The operation addressed from the list holding the object it was built for: `prefix`
/// (`/items/<i>`) before its `path` and `from`.
fn under(prefix: &str, operation: PatchOperation) -> PatchOperation {
    let mut json = serde_json::to_value(&operation).expect("an operation serialises");
    for field in ["path", "from"] {
        if let Some(Value::String(pointer)) = json.get_mut(field) {
            pointer.insert_str(0, prefix);
        }
    }
    serde_json::from_value(json).expect("a prefixed pointer is still a pointer")
}

fn resolve_object(object: &Value, context: &Context<'_>, outcome: &mut Outcome) -> Patch {
    if let Some(why) = not_an_object(object) {
        let note = format!("{why}: kubectl would refuse it, so it is left as written");
        outcome
            .findings
            .push(Finding::Warning(ObjectRef::of(object), note));
        return Patch::default();
    }
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = group_version(object);
    let Some(resource) = resource_of(group, kind, context.policy) else {
        if is_template(group, kind) {
            let note = Finding::Warning(ObjectRef::of(object), TEMPLATE_NOTE.to_string());
            outcome.findings.push(note);
        }
        return Patch::default();
    };
    let metadata = &object["metadata"];
    if metadata["labels"][IGNORE_LABEL] == "true" {
        let note = Finding::Warning(ObjectRef::of(object), IGNORED_NOTE.to_string());
        outcome.findings.push(note);
        return Patch::default();
    }
    // An empty namespace is none, as kubectl and the API server read it.
    let namespace = metadata["namespace"]
        .as_str()
        .filter(|namespace| !namespace.is_empty())
        .unwrap_or(context.default_namespace);
    let name = metadata["name"]
        .as_str()
        .or(metadata["generateName"].as_str())
        .unwrap_or("");
    let request = Request {
        operation: Operation::Create,
        group,
        version,
        kind,
        resource: &resource,
        subresource: "",
        namespace,
        name,
        object,
        old_object: None,
        dry_run: true,
        ignored_rules: &[],
    };
    let resolver = StreamResolver {
        config: context.config,
        streams: context.index,
    };
    let decision = admission::decide(&request, context.policy, &resolver);
    record(decision, ObjectRef::of(object), outcome)
}

/// Why a document is no Kubernetes object kubectl would send (it refuses each of these), or
/// `None`: a pipeline passing one on would only fail at `kubectl apply`.
fn not_an_object(document: &Value) -> Option<String> {
    let text = |field: &str| document.get(field).and_then(Value::as_str);
    let what = match document {
        Value::Object(_) if text("kind").is_none_or(str::is_empty) => "it names no kind",
        Value::Object(_) if text("apiVersion").is_none_or(str::is_empty) => {
            "it names no apiVersion"
        }
        Value::Object(_) => return None,
        Value::Array(_) => "it is a list, not an object",
        Value::String(_) => "it is a string, not an object",
        Value::Number(_) | Value::Bool(_) => "it is a scalar, not an object",
        Value::Null => return None,
    };
    Some(what.to_string())
}

/// The label that opts an object out: the shipped registration's `objectSelector` never sends
/// an object carrying it with the value `true`, so `resolve` leaves it as written too.
pub const IGNORE_LABEL: &str = "imagelookup.io/ignore";

/// Why an object labelled [`IGNORE_LABEL`] comes back as it went in.
const IGNORED_NOTE: &str = "left as written: labelled imagelookup.io/ignore=true, which the \
    webhook's registration never sends";

/// Why a Template comes back as it went in: its objects are only objects once processed.
const TEMPLATE_NOTE: &str = "a template's objects are resolved once it is processed; pipe \
    them in: oc process -f FILE | imagelookup resolve -f - …";

/// An OpenShift `Template` (`template.openshift.io/v1`, or the legacy core `v1`).
fn is_template(group: &str, kind: &str) -> bool {
    kind == "Template" && matches!(group, "template.openshift.io" | "")
}

fn record(decision: Decision, object: ObjectRef, outcome: &mut Outcome) -> Patch {
    // Whole: no kube-apiserver limits what a pipeline reads.
    let warnings = match decision.whole_warnings.is_empty() {
        true => decision.warnings.into_iter(),
        false => decision.whole_warnings.into_iter(),
    };
    let warned = warnings.map(|warning| Finding::Warning(object.clone(), warning));
    outcome.findings.extend(warned);
    if let Some(denial) = decision.denial {
        outcome.findings.push(Finding::Rejected(object, denial));
        return Patch::default();
    }
    let rewritten = decision.rewrites.into_iter();
    let findings = rewritten.map(|rewrite| Finding::Rewritten(object.clone(), rewrite));
    outcome.findings.extend(findings);
    decision.patch
}

/// `apiVersion` split into group and version (`v1` is the core group).
fn group_version(object: &Value) -> (&str, &str) {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The plural resource of `kind`: of a kind admission knows, or of a custom resource whose
/// policy rule gives its `podSpecPath` (guessed from the kind as kubectl does without
/// discovery); other kinds pass through untouched.
fn resource_of(group: &str, kind: &str, policy: &ImagePolicyConfig) -> Option<Cow<'static, str>> {
    if let Some(resource) = resource_for_kind(group, kind) {
        return Some(Cow::Borrowed(resource));
    }
    let guessed = guess_resource(kind);
    let target = GroupResource::new(group, guessed.as_str());
    policy.pod_spec_path(&target)?;
    Some(Cow::Owned(guessed))
}

/// The plural resource of the kinds admission knows; other kinds pass through untouched.
pub fn resource_for_kind(group: &str, kind: &str) -> Option<&'static str> {
    let resource = match (group, kind) {
        ("", "Pod") => "pods",
        ("", "PodTemplate") => "podtemplates",
        ("", "ReplicationController") => "replicationcontrollers",
        ("apps" | "extensions", "Deployment") => "deployments",
        ("apps" | "extensions", "ReplicaSet") => "replicasets",
        ("apps" | "extensions", "DaemonSet") => "daemonsets",
        ("apps", "StatefulSet") => "statefulsets",
        ("batch", "Job") => "jobs",
        ("batch", "CronJob") => "cronjobs",
        ("apps.openshift.io", "DeploymentConfig") => "deploymentconfigs",
        ("build.openshift.io", "Build") => "builds",
        ("build.openshift.io", "BuildConfig") => "buildconfigs",
        _ => return None,
    };
    Some(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_their_resources_and_unknown_kinds_to_none() {
        assert_eq!(resource_for_kind("", "Pod"), Some("pods"));
        assert_eq!(resource_for_kind("batch", "CronJob"), Some("cronjobs"));
        assert_eq!(
            resource_for_kind("apps.openshift.io", "DeploymentConfig"),
            Some("deploymentconfigs")
        );
        assert_eq!(resource_for_kind("", "ConfigMap"), None);
        assert_eq!(resource_for_kind("apps", "Pod"), None);
    }

    #[test]
    fn list_item_operations_are_addressed_from_the_list() {
        let operations: Vec<PatchOperation> = serde_json::from_value(serde_json::json!([
            {"op": "replace", "path": "/spec/containers/0/image", "value": "m@1"},
            {"op": "move", "from": "/a", "path": "/b"}
        ]))
        .unwrap();
        let prefixed: Vec<Value> = operations
            .into_iter()
            .map(|op| serde_json::to_value(under("/items/2", op)).unwrap())
            .collect();
        assert_eq!(prefixed[0]["path"], "/items/2/spec/containers/0/image");
        assert_eq!(prefixed[1]["from"], "/items/2/a");
        assert_eq!(prefixed[1]["path"], "/items/2/b");
    }

    #[test]
    fn api_version_splits_into_group_and_version() {
        let pod = serde_json::json!({"apiVersion": "v1"});
        assert_eq!(group_version(&pod), ("", "v1"));
        let deployment = serde_json::json!({"apiVersion": "apps/v1"});
        assert_eq!(group_version(&deployment), ("apps", "v1"));
    }
}
