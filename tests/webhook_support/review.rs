//! AdmissionReviews as the kube-apiserver sends them, `/mutate`, and reading the answer.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::Server;

/// What an AdmissionReview is about.
#[derive(Clone, Debug)]
pub struct Target {
    /// API group of kind and resource.
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource.
    pub resource: &'static str,
    /// Subresource, if any.
    pub subresource: Option<&'static str>,
}

/// Core `v1` Pods.
pub const POD: Target = Target {
    group: "",
    version: "v1",
    kind: "Pod",
    resource: "pods",
    subresource: None,
};

/// `pods/ephemeralcontainers`, as `kubectl debug` writes it.
pub const EPHEMERAL: Target = Target {
    subresource: Some("ephemeralcontainers"),
    ..POD
};

/// `apps/v1` Deployments.
pub const DEPLOYMENT: Target = Target {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    resource: "deployments",
    subresource: None,
};

/// `apps/v1` StatefulSets.
pub const STATEFULSET: Target = Target {
    kind: "StatefulSet",
    resource: "statefulsets",
    ..DEPLOYMENT
};

/// `batch/v1` CronJobs.
pub const CRONJOB: Target = Target {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    resource: "cronjobs",
    subresource: None,
};

/// `batch/v1` Jobs.
pub const JOB: Target = Target {
    kind: "Job",
    resource: "jobs",
    ..CRONJOB
};

/// `build.openshift.io/v1` Builds.
pub const BUILD: Target = Target {
    group: "build.openshift.io",
    version: "v1",
    kind: "Build",
    resource: "builds",
    subresource: None,
};

/// One AdmissionReview request.
#[derive(Clone, Debug)]
pub struct Review {
    /// The request uid.
    pub uid: String,
    /// What is admitted.
    pub target: Target,
    /// `CREATE` or `UPDATE`.
    pub operation: &'static str,
    /// The object's namespace.
    pub namespace: String,
    /// The object.
    pub object: Value,
    /// The stored object, on UPDATE.
    pub old_object: Option<Value>,
    /// Whether it is a dry run.
    pub dry_run: bool,
}

impl Review {
    /// A CREATE of `object` in `namespace`.
    pub fn create(target: Target, namespace: &str, object: Value) -> Self {
        Self {
            uid: uuid::Uuid::new_v4().to_string(),
            target,
            operation: "CREATE",
            namespace: namespace.to_string(),
            object,
            old_object: None,
            dry_run: false,
        }
    }

    /// An UPDATE from `old` to `object`.
    pub fn update(target: Target, namespace: &str, old: Value, object: Value) -> Self {
        Self {
            operation: "UPDATE",
            old_object: Some(old),
            ..Self::create(target, namespace, object)
        }
    }

    /// The AdmissionReview body the kube-apiserver would send.
    pub fn body(&self) -> Value {
        let target = &self.target;
        let name = self.object["metadata"]["name"].clone();
        let mut request = json!({
            "uid": self.uid,
            "kind": {"group": target.group, "version": target.version, "kind": target.kind},
            "resource": {"group": target.group, "version": target.version, "resource": target.resource},
            "requestKind": {"group": target.group, "version": target.version, "kind": target.kind},
            "name": name,
            "namespace": self.namespace,
            "operation": self.operation,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": self.object,
            "oldObject": self.old_object,
            "dryRun": self.dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        });
        if let Some(subresource) = target.subresource {
            request["subResource"] = json!(subresource);
        }
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})
    }
}

/// POSTs `review` to `/mutate`; checks the HTTP status is 200 and the uid is echoed, and
/// returns the AdmissionReview's `response`.
pub async fn admit(server: &Server, review: &Review) -> Value {
    let response = server
        .client()
        .post(server.url("/mutate"))
        .json(&review.body())
        .send()
        .await
        .expect("the webhook answers");
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("the webhook answers JSON");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["uid"], review.uid, "the uid is echoed");
    answer["response"].clone()
}

/// The decoded JSON Patch of a response, or `None` when it has none.
pub fn patch_of(response: &Value) -> Option<json_patch::Patch> {
    let encoded = response
        .get("patch")?
        .as_str()
        .expect("the patch is base64");
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("the patch is valid base64");
    Some(serde_json::from_slice(&bytes).expect("the patch is a JSON Patch"))
}

/// `object` with the response's patch applied (unchanged when there is none).
pub fn patched(object: &Value, response: &Value) -> Value {
    let mut object = object.clone();
    if let Some(patch) = patch_of(response) {
        json_patch::patch(&mut object, &patch).expect("the patch applies to the object");
    }
    object
}

/// A pod spec with one container per `(name, image)`.
pub fn pod_spec(containers: &[(&str, &str)]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|(name, image)| json!({"name": name, "image": image, "resources": {}}))
        .collect();
    json!({"containers": containers, "restartPolicy": "Always"})
}

/// A Pod named `name` with these containers.
pub fn pod(name: &str, containers: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
           "spec": pod_spec(containers)})
}

/// `value` with the string at JSON `pointer` replaced by `text`.
pub fn with(value: &Value, pointer: &str, text: &str) -> Value {
    let mut value = value.clone();
    *value
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer} exists")) = json!(text);
    value
}
