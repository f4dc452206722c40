//! The admission request as the decision needs it: plain fields over `serde_json::Value`, so
//! unknown fields survive and OpenShift kinds need no typed structs.

use serde_json::Value;

use crate::api::policy::GroupResource;

/// The operation being admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// A create.
    Create,
    /// An update (PUT or PATCH).
    Update,
    /// A delete.
    Delete,
    /// A connect (exec, attach, port-forward…).
    Connect,
    /// An operation admission.k8s.io/v1 does not define: a kube-apiserver sends none, so
    /// only a misconfigured caller does.
    Unknown,
}

impl From<&kube_core::admission::Operation> for Operation {
    fn from(operation: &kube_core::admission::Operation) -> Self {
        use kube_core::admission::Operation as Kube;
        match operation {
            Kube::Create => Self::Create,
            Kube::Update => Self::Update,
            Kube::Delete => Self::Delete,
            Kube::Connect => Self::Connect,
        }
    }
}

/// One admission request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// What is being done.
    pub operation: Operation,
    /// The API group of the kind and resource (`""` for core).
    pub group: &'a str,
    /// The API version (informational).
    pub version: &'a str,
    /// The object's kind, e.g. `Deployment`.
    pub kind: &'a str,
    /// The plural resource, e.g. `deployments`.
    pub resource: &'a str,
    /// The subresource, `""` for the main resource.
    pub subresource: &'a str,
    /// The object's namespace: short names are looked up here.
    pub namespace: &'a str,
    /// The object's name (may be empty on create with `generateName`).
    pub name: &'a str,
    /// The object as submitted.
    pub object: &'a Value,
    /// The stored object, on update.
    pub old_object: Option<&'a Value>,
    /// Whether the request is a dry run. Decisions have no side effects, so it changes nothing.
    pub dry_run: bool,
    /// Execution rule names the namespace opts out of (see [`ignored_rules`]).
    pub ignored_rules: &'a [String],
}

impl Request<'_> {
    /// The group and resource policies are keyed by.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group, self.resource)
    }

    /// `Kind` for the core group, `Kind.group` otherwise, as in a 422 message.
    pub fn qualified_kind(&self) -> String {
        match self.group {
            "" => self.kind.to_string(),
            group => format!("{}.{group}", self.kind),
        }
    }

    /// Whether this is the one subresource we handle: `pods/ephemeralcontainers`.
    pub fn is_ephemeral_containers(&self) -> bool {
        self.group.is_empty()
            && self.resource == "pods"
            && self.subresource == "ephemeralcontainers"
    }
}

/// Splits a namespace's `alpha.image.policy.openshift.io/ignore-rules` annotation into rule
/// names. Like OpenShift, names are split on `,` and not trimmed.
pub fn ignored_rules(annotation: &str) -> Vec<String> {
    if annotation.is_empty() {
        return Vec::new();
    }
    annotation.split(',').map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(group: &'a str, kind: &'a str, object: &'a Value) -> Request<'a> {
        Request {
            operation: Operation::Create,
            group,
            version: "v1",
            kind,
            resource: "pods",
            subresource: "",
            namespace: "ns",
            name: "n",
            object,
            old_object: None,
            dry_run: false,
            ignored_rules: &[],
        }
    }

    #[test]
    fn qualified_kind_omits_the_core_group() {
        let object = Value::Null;
        assert_eq!(request("", "Pod", &object).qualified_kind(), "Pod");
        assert_eq!(
            request("apps", "Deployment", &object).qualified_kind(),
            "Deployment.apps"
        );
    }

    #[test]
    fn ignore_rules_annotation_splits_on_commas() {
        assert_eq!(ignored_rules("a,b"), vec!["a", "b"]);
        assert_eq!(ignored_rules("a, b"), vec!["a", " b"]);
        assert!(ignored_rules("").is_empty());
    }

    #[test]
    fn only_pods_ephemeralcontainers_is_the_ephemeral_subresource() {
        let object = Value::Null;
        let mut ephemeral = request("", "Pod", &object);
        ephemeral.subresource = "ephemeralcontainers";
        assert!(ephemeral.is_ephemeral_containers());
        ephemeral.subresource = "status";
        assert!(!ephemeral.is_ephemeral_containers());
    }
}
