//! `imagelookup resolve`: pins the image references of manifests offline, exactly as admission
//! would on CREATE, for GitOps and CI pipelines.

use serde_json::Value;

use crate::admission::{self, Decision, Operation, Request, StreamResolver};
use crate::api::policy::ImagePolicyConfig;
use crate::manifest::{self, Documents};
use crate::resolve::{Index, ResolverConfig};

/// What resolving a manifest stream produced.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The rewritten documents (meaningful only when `rejections` is empty).
    pub documents: Vec<Value>,
    /// Warnings, one line each, prefixed by the object they concern.
    pub warnings: Vec<String>,
    /// Rejections by a Required mode: the 422 message of each rejected object.
    pub rejections: Vec<String>,
    /// How many references were rewritten.
    pub rewrites: usize,
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
        let resolved = if manifest::is_list(document) {
            resolve_list(document, context, &mut outcome)
        } else {
            resolve_object(document, context, &mut outcome)
        };
        outcome.documents.push(resolved);
    }
    outcome
}

fn resolve_list(list: &Value, context: &Context<'_>, outcome: &mut Outcome) -> Value {
    let mut list = list.clone();
    if let Some(items) = list.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            *item = resolve_object(item, context, outcome);
        }
    }
    list
}

fn resolve_object(object: &Value, context: &Context<'_>, outcome: &mut Outcome) -> Value {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = group_version(object);
    let Some(resource) = resource_for_kind(group, kind) else {
        return object.clone();
    };
    let metadata = &object["metadata"];
    let namespace = metadata["namespace"]
        .as_str()
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
        resource,
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
    record(&decision, &format!("{kind}/{name}"), object, outcome)
}

fn record(decision: &Decision, subject: &str, object: &Value, outcome: &mut Outcome) -> Value {
    outcome
        .warnings
        .extend(decision.warnings.iter().map(|w| format!("{subject}: {w}")));
    if let Some(denial) = &decision.denial {
        outcome.rejections.push(denial.message.clone());
        return object.clone();
    }
    outcome.rewrites += decision.rewrites.len();
    decision.apply_to(object).unwrap_or_else(|error| {
        outcome.rejections.push(format!(
            "{subject}: internal error applying the patch: {error}"
        ));
        object.clone()
    })
}

/// `apiVersion` split into group and version (`v1` is the core group).
fn group_version(object: &Value) -> (&str, &str) {
    let api_version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    api_version.split_once('/').unwrap_or(("", api_version))
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
    fn api_version_splits_into_group_and_version() {
        let pod = serde_json::json!({"apiVersion": "v1"});
        assert_eq!(group_version(&pod), ("", "v1"));
        let deployment = serde_json::json!({"apiVersion": "apps/v1"});
        assert_eq!(group_version(&deployment), ("apps", "v1"));
    }
}
