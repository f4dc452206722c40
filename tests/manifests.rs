//! The kustomize base renders with a real kubectl and describes a deployment that can never
//! block its own recovery.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The project's pinned kubectl (installed by `make test-deps`), else one on PATH.
fn kubectl() -> PathBuf {
    let pinned = repo().join(".venv/bin/kubectl");
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from("kubectl")
    }
}

fn render(dir: &Path) -> Vec<Value> {
    let output = Command::new(kubectl())
        .args(["kustomize", dir.to_str().unwrap()])
        .output()
        .expect("kubectl is installed (run `make test-deps`)");
    assert!(
        output.status.success(),
        "kustomize failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|document| <Value as serde::Deserialize>::deserialize(document).unwrap())
        .collect()
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} is rendered"))
}

#[test]
fn kustomize_renders_every_object_of_the_deployment() {
    let objects = render(&repo().join("manifests"));
    let mut kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "APIService",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "MutatingWebhookConfiguration",
            "Namespace",
            "PodDisruptionBudget",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    assert_eq!(
        find(&objects, "RoleBinding", "imagelookup-auth-reader")["metadata"]["namespace"],
        "kube-system"
    );
    assert_eq!(
        find(&objects, "Deployment", "imagelookup")["metadata"]["namespace"],
        "imagelookup"
    );
}

#[test]
fn webhook_is_explicit_and_excludes_its_own_namespace_and_kube_system() {
    let objects = render(&repo().join("manifests"));
    let webhook = &find(&objects, "MutatingWebhookConfiguration", "imagelookup")["webhooks"][0];
    assert_eq!(
        webhook["admissionReviewVersions"],
        serde_json::json!(["v1"])
    );
    assert_eq!(webhook["sideEffects"], "None");
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(webhook["reinvocationPolicy"], "IfNeeded");
    assert!(webhook["timeoutSeconds"].as_i64().unwrap() <= 10);
    assert_eq!(webhook["clientConfig"]["service"]["path"], "/mutate");
    let excluded = &webhook["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["operator"], "NotIn");
    let names: Vec<&str> = excluded["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"kube-system") && names.contains(&"imagelookup"),
        "{names:?}"
    );
    let resources: Vec<String> = webhook["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|rule| {
            rule["resources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
        })
        .collect();
    for expected in [
        "pods",
        "pods/ephemeralcontainers",
        "deployments",
        "cronjobs",
        "builds",
        "deploymentconfigs",
    ] {
        assert!(
            resources.iter().any(|r| r == expected),
            "{expected} is covered: {resources:?}"
        );
    }
}

#[test]
fn deployment_runs_two_hardened_replicas_with_probes_and_a_budget() {
    let objects = render(&repo().join("manifests"));
    let deployment = find(&objects, "Deployment", "imagelookup");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/livez");
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        find(&objects, "PodDisruptionBudget", "imagelookup")["spec"]["minAvailable"],
        1
    );
    let apiservice = find(&objects, "APIService", "v1.image.openshift.io");
    assert_eq!(apiservice["spec"]["group"], "image.openshift.io");
    assert_eq!(apiservice["spec"]["service"]["name"], "imagelookup");
}

#[test]
fn ca_bundle_from_ca_env_reaches_the_webhook_and_the_apiservice() {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo().join("manifests")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(copy.path().join("ca.env"), "caBundle=Q0FCVU5ETEU=\n").unwrap();
    let objects = render(copy.path());
    let webhook = find(&objects, "MutatingWebhookConfiguration", "imagelookup");
    assert_eq!(
        webhook["webhooks"][0]["clientConfig"]["caBundle"],
        "Q0FCVU5ETEU="
    );
    assert_eq!(
        find(&objects, "APIService", "v1.image.openshift.io")["spec"]["caBundle"],
        "Q0FCVU5ETEU="
    );
    assert!(
        !objects.iter().any(|o| o["kind"] == "ConfigMap"),
        "the CA source is local-config only"
    );
}

#[test]
fn deployment_trusts_the_front_proxy_ca_from_a_configmap_in_its_namespace() {
    let objects = render(&repo().join("manifests"));
    let pod = &find(&objects, "Deployment", "imagelookup")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let prefix = "--requestheader-client-ca-file=";
    let ca_file = args
        .iter()
        .find_map(|a| a.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("{prefix} is set: {args:?}"));
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| ca_file.starts_with(m["mountPath"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("{ca_file} is on a mounted volume"));
    assert!(
        ca_file.ends_with("/requestheader-client-ca-file"),
        "{ca_file}"
    );
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap();
    assert_eq!(volume["configMap"]["name"], "imagelookup-front-proxy-ca");
    assert!(args.contains(&"--requestheader-allowed-names=front-proxy-client"));
}
