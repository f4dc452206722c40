//! The kustomize manifests render with a real kubectl and describe a deployment that cannot
//! lock the cluster: the base intercepts nothing, the registration (webhook and APIService) is
//! a separate step, the webhook only sees namespaces that opt in, and pods leave the Service
//! before they stop serving.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use imagelookup::admission::Pin;
use imagelookup::api::policy::ImagePolicyConfig;
use imagelookup::server::ServeOptions;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn base() -> PathBuf {
    repo().join("manifests")
}

fn registration() -> PathBuf {
    repo().join("manifests/registration")
}

/// The registration for `serve --pin=pods`.
fn pod_level_registration() -> PathBuf {
    repo().join("manifests/pod-level/registration")
}

/// A copy of `manifests/` (symlinks followed) in a temporary directory, for renders that need
/// an edit the README asks of users.
fn manifests_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target);
            } else {
                std::fs::copy(&path, &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&base(), dir.path());
    dir
}

/// The base with the pod-level component added, as README "GitOps (Argo CD, Flux)" says.
fn pod_level_base() -> Vec<Value> {
    base_with(&["pod-level"])
}

/// The `(group, resource)` pairs a webhook's rules send, checking each rule is for CREATE and
/// UPDATE only.
fn sent(webhook: &Value) -> BTreeSet<(String, String)> {
    let mut sent = BTreeSet::new();
    for rule in webhook["rules"].as_array().unwrap() {
        assert_eq!(strings(&rule["operations"]), ["CREATE", "UPDATE"]);
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                sent.insert((group.to_string(), resource.to_string()));
            }
        }
    }
    sent
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

fn sorted_kinds(objects: &[Value]) -> Vec<&str> {
    let mut kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    kinds
}

fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn webhook() -> Value {
    webhook_of(&registration())
}

fn webhook_of(registration: &Path) -> Value {
    let objects = render(registration);
    find(&objects, "MutatingWebhookConfiguration", "imagelookup")["webhooks"][0].clone()
}

fn pod_spec() -> Value {
    let objects = render(&base());
    find(&objects, "Deployment", "imagelookup")["spec"]["template"]["spec"].clone()
}

/// Whether a Kubernetes label selector (`matchLabels`, `matchExpressions` with `In`/`NotIn`)
/// selects an object with `labels`; a missing key is not `In` anything and is `NotIn` everything.
fn selects(selector: &Value, labels: &Value) -> bool {
    let exact = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(key, value)| &labels[key] == value);
    let expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|expression| {
            let label = labels[expression["key"].as_str().unwrap()].as_str();
            let listed = label.is_some_and(|l| strings(&expression["values"]).contains(&l));
            match expression["operator"].as_str().unwrap() {
                "In" => listed,
                "NotIn" => !listed,
                other => panic!("operator {other} is not modelled here"),
            }
        });
    exact && expressions
}

/// `(namespace labels, object labels, whether the webhook is called)`.
fn check(table: &[(Value, Value, bool)]) {
    let webhook = webhook();
    for (namespace, object, expected) in table {
        let called = selects(&webhook["namespaceSelector"], namespace)
            && selects(&webhook["objectSelector"], object);
        assert_eq!(called, *expected, "namespace {namespace}, object {object}");
    }
}

#[test]
fn base_holds_the_deployment_and_nothing_that_intercepts_requests() {
    let objects = render(&base());
    assert_eq!(
        sorted_kinds(&objects),
        [
            "ClusterRole",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Namespace",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ]
    );
    assert_eq!(
        find(&objects, "Deployment", "imagelookup")["metadata"]["namespace"],
        "imagelookup"
    );
    assert_eq!(
        sorted_kinds(&render(&registration())),
        ["APIService", "MutatingWebhookConfiguration"]
    );
}

#[test]
fn webhook_applies_only_to_namespaces_that_opt_in_and_objects_that_do_not_opt_out() {
    let enabled =
        |name: &str| json!({"kubernetes.io/metadata.name": name, "imagelookup.io/enabled": "true"});
    check(&[
        (enabled("shop"), json!({}), true),
        (enabled("shop"), json!({"app": "web"}), true),
        (
            enabled("shop"),
            json!({"imagelookup.io/ignore": "true"}),
            false,
        ),
        (
            enabled("shop"),
            json!({"imagelookup.io/ignore": "false"}),
            true,
        ),
        (
            json!({"kubernetes.io/metadata.name": "shop"}),
            json!({}),
            false,
        ),
        (
            json!({"kubernetes.io/metadata.name": "cert-manager"}),
            json!({}),
            false,
        ),
        (
            json!({"kubernetes.io/metadata.name": "shop", "imagelookup.io/enabled": "false"}),
            json!({}),
            false,
        ),
        (enabled("kube-system"), json!({}), false),
        (enabled("kube-public"), json!({}), false),
        (enabled("kube-node-lease"), json!({}), false),
        (enabled("imagelookup"), json!({}), false),
    ]);
}

#[test]
fn webhook_rules_cover_exactly_what_the_default_policy_rewrites() {
    let webhook = webhook();
    let sent = sent(&webhook);
    // extensions/* are the same objects as apps/*: matchPolicy Equivalent sends them.
    assert_eq!(webhook["matchPolicy"], "Equivalent");
    let mut rewritten: BTreeSet<(String, String)> = ImagePolicyConfig::default()
        .resolution_rules()
        .iter()
        .map(|rule| rule.target_resource.clone())
        .filter(|target| target.group != "extensions")
        .map(|target| (target.group, target.resource))
        .collect();
    rewritten.insert((String::new(), "pods/ephemeralcontainers".to_string()));
    assert_eq!(sent, rewritten);
    for never in [("", "podtemplates"), ("build.openshift.io", "buildconfigs")] {
        assert!(!sent.contains(&(never.0.to_string(), never.1.to_string())));
    }
}

#[test]
fn pod_level_registration_sends_only_pods_and_is_otherwise_the_same_webhook() {
    let mut webhook = webhook_of(&pod_level_registration());
    let pods = |resource: &str| (String::new(), resource.to_string());
    assert_eq!(
        sent(&webhook),
        BTreeSet::from([pods("pods"), pods("pods/ephemeralcontainers")])
    );
    assert!(
        webhook.get("matchConditions").is_none(),
        "--pin=pods resolves controller-owned Pods: {webhook}"
    );
    let mut default = self::webhook();
    for webhook in [&mut webhook, &mut default] {
        webhook.as_object_mut().unwrap().remove("rules");
        webhook.as_object_mut().unwrap().remove("matchConditions");
    }
    assert_eq!(
        webhook, default,
        "failurePolicy, selectors and the rest are kept"
    );
    let variant = render(&pod_level_registration());
    assert_eq!(
        find(&variant, "APIService", "v1.image.openshift.io"),
        find(
            &render(&registration()),
            "APIService",
            "v1.image.openshift.io"
        )
    );
    assert_eq!(
        sorted_kinds(&variant),
        ["APIService", "MutatingWebhookConfiguration"]
    );
}

#[test]
fn pod_level_component_only_adds_the_pin_flag_to_the_deployment() {
    let objects = render(&base());
    let deployment = find(&objects, "Deployment", "imagelookup");
    let args = strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"]);
    assert!(!args.iter().any(|arg| arg.starts_with("--pin")), "{args:?}");
    let pod_level = pod_level_base();
    let mut expected = objects.clone();
    let container = expected
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .map(|o| &mut o["spec"]["template"]["spec"]["containers"][0])
        .unwrap();
    container["args"]
        .as_array_mut()
        .unwrap()
        .push(json!("--pin=pods"));
    assert_eq!(pod_level, expected);
    let deployment = find(&pod_level, "Deployment", "imagelookup");
    let args = strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"]);
    let cli = <ServeCli as clap::Parser>::try_parse_from(args).expect("serve accepts the args");
    assert_eq!(Pin::from(cli.serve.pin), Pin::Pods);
}

/// `serve`'s flags, parsed as the binary parses them.
#[derive(clap::Parser)]
struct ServeCli {
    #[command(flatten)]
    serve: imagelookup::cli::serve::ServeArgs,
}

/// `restore-store`'s flags, parsed as the binary parses them.
#[derive(clap::Parser)]
struct RestoreCli {
    #[command(flatten)]
    restore: imagelookup::cli::restore::RestoreArgs,
}

/// The restore Job for the embedded component's backups.
fn embedded_restore() -> PathBuf {
    repo().join("manifests/embedded/restore")
}

/// The base with `components` added, as the components' comments say.
fn base_with(components: &[&str]) -> Vec<Value> {
    let copy = manifests_copy();
    let kustomization = copy.path().join("kustomization.yaml");
    let mut text = std::fs::read_to_string(&kustomization).unwrap();
    text.push_str("components:\n");
    for component in components {
        text.push_str(&format!("- {component}\n"));
    }
    std::fs::write(&kustomization, text).unwrap();
    render(copy.path())
}

/// The claim `pod` (a pod spec) mounts at `mount_path`, failing if it is not a claim.
fn claim_mounted_at<'a>(pod: &'a Value, mount_path: &str) -> &'a str {
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["mountPath"] == mount_path)
        .unwrap_or_else(|| panic!("a volume is mounted at {mount_path}"));
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|volume| volume["name"] == mount["name"])
        .unwrap();
    volume["persistentVolumeClaim"]["claimName"]
        .as_str()
        .unwrap_or_else(|| panic!("{mount_path} is a claim: {volume}"))
}

#[test]
fn embedded_component_runs_one_replica_on_two_claims_and_changes_nothing_else() {
    let base = render(&base());
    let embedded = base_with(&["embedded"]);
    // What the component says it does, done by hand to the base.
    let mut expected: Vec<Value> = base
        .iter()
        .filter(|o| o["kind"] != "PodDisruptionBudget")
        .cloned()
        .collect();
    let deployment = expected
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    deployment["spec"]["replicas"] = json!(1);
    deployment["spec"]["strategy"] = json!({"type": "Recreate"});
    let pod = &mut deployment["spec"]["template"]["spec"];
    let args = pod["containers"][0]["args"].as_array_mut().unwrap();
    let etcd = args
        .iter()
        .position(|arg| arg.as_str().unwrap().starts_with("--store=etcd:"))
        .expect("the base stores in etcd");
    args.remove(etcd);
    args.push(json!("--backup-dir=/var/lib/imagelookup-backups"));
    pod["containers"][0]["volumeMounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "backups", "mountPath": "/var/lib/imagelookup-backups"}));
    let volumes = pod["volumes"].as_array_mut().unwrap();
    let data = volumes.iter_mut().find(|v| v["name"] == "data").unwrap();
    *data = json!({"name": "data", "persistentVolumeClaim": {"claimName": "imagelookup-data"}});
    volumes.push(
        json!({"name": "backups", "persistentVolumeClaim": {"claimName": "imagelookup-backups"}}),
    );
    let (claims, rest): (Vec<Value>, Vec<Value>) = embedded
        .into_iter()
        .partition(|o| o["kind"] == "PersistentVolumeClaim");
    assert_eq!(rest, expected);

    let pod = &find(&rest, "Deployment", "imagelookup")["spec"]["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    let cli = <ServeCli as clap::Parser>::try_parse_from(args).expect("serve accepts the args");
    assert_eq!(cli.serve.store, None, "the default: <data-dir>/store");
    let data_dir = cli.serve.data_dir.to_str().unwrap();
    let backup_dir = cli.serve.backup_dir.as_deref().unwrap().to_str().unwrap();
    // The store and its backups on claims of their own, which the component creates.
    let store_claim = claim_mounted_at(pod, data_dir);
    let backup_claim = claim_mounted_at(pod, backup_dir);
    assert_ne!(store_claim, backup_claim);
    for name in [store_claim, backup_claim] {
        let claim = find(&claims, "PersistentVolumeClaim", name);
        assert_eq!(claim["metadata"]["namespace"], "imagelookup");
        assert_eq!(strings(&claim["spec"]["accessModes"]), ["ReadWriteOnce"]);
        assert!(claim["spec"]["resources"]["requests"]["storage"].is_string());
    }
}

#[test]
fn embedded_and_pod_level_components_combine() {
    let objects = base_with(&["embedded", "pod-level"]);
    let deployment = find(&objects, "Deployment", "imagelookup");
    let args = strings(&deployment["spec"]["template"]["spec"]["containers"][0]["args"]);
    let cli = <ServeCli as clap::Parser>::try_parse_from(args).expect("serve accepts the args");
    assert_eq!(Pin::from(cli.serve.pin), Pin::Pods);
    assert_eq!(cli.serve.store, None);
    assert!(cli.serve.backup_dir.is_some());
}

#[test]
fn restore_job_restores_the_embedded_store_from_its_backups_as_the_servers_user() {
    let served = base_with(&["embedded"]);
    let deployment = find(&served, "Deployment", "imagelookup");
    let server = &deployment["spec"]["template"]["spec"];
    let serve =
        <ServeCli as clap::Parser>::try_parse_from(strings(&server["containers"][0]["args"]))
            .unwrap()
            .serve;
    let restore = render(&embedded_restore());
    assert_eq!(sorted_kinds(&restore), ["Job"]);
    let job = find(&restore, "Job", "imagelookup-restore");
    assert_eq!(job["metadata"]["namespace"], "imagelookup");
    let pod = &job["spec"]["template"]["spec"];
    let args = strings(&pod["containers"][0]["args"]);
    assert_eq!(args[0], "restore-store");
    let cli = <RestoreCli as clap::Parser>::try_parse_from(&args)
        .expect("restore-store accepts the args")
        .restore;
    // The newest backup the server wrote, into the store it serves.
    assert_eq!(Some(&cli.from), serve.backup_dir.as_ref());
    assert_eq!(cli.data_dir, serve.data_dir);
    let (from, data_dir) = (cli.from.to_str().unwrap(), cli.data_dir.to_str().unwrap());
    assert_eq!(
        claim_mounted_at(pod, from),
        claim_mounted_at(server, from),
        "the backups' claim"
    );
    assert_eq!(
        claim_mounted_at(pod, data_dir),
        claim_mounted_at(server, data_dir),
        "the store's claim"
    );
    let backups_mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|mount| mount["mountPath"] == from)
        .unwrap();
    assert_eq!(
        backups_mount["readOnly"], true,
        "a restore never writes a backup"
    );
    // The restored file is the server's own, and the Job's pod is not the server's.
    assert_eq!(pod["securityContext"], server["securityContext"]);
    assert_eq!(
        pod["containers"][0]["image"],
        server["containers"][0]["image"]
    );
    assert_eq!(pod["restartPolicy"], "Never");
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    assert_ne!(
        job["metadata"]["labels"]["app.kubernetes.io/name"],
        selector["app.kubernetes.io/name"]
    );
}

#[test]
fn webhook_is_not_sent_the_controller_owned_objects_the_server_skips() {
    let webhook = webhook();
    let conditions = webhook["matchConditions"]
        .as_array()
        .expect("matchConditions");
    assert_eq!(conditions.len(), 1, "{conditions:?}");
    let expression = conditions[0]["expression"].as_str().unwrap();
    // The server's own test (`has_controller` in src/admission/decide.rs): an owner reference
    // with `controller: true`; ephemeral containers are resolved on owned Pods too. No CEL
    // evaluator runs here (the kube-apiserver's is Go), so the expression is pinned exactly.
    assert_eq!(
        expression,
        "request.subResource == 'ephemeralcontainers' || \
         !has(object.metadata.ownerReferences) || \
         !object.metadata.ownerReferences.exists(r, has(r.controller) && r.controller == true)"
    );
    let args = pod_spec()["containers"][0]["args"].clone();
    let pins_pods = args.as_array().unwrap().iter().any(|a| a == "--pin=pods");
    assert!(
        !pins_pods,
        "the base Deployment skips owned objects: {args}"
    );
}

#[test]
fn webhook_is_explicit_and_fails_closed_within_a_short_timeout() {
    let webhook = webhook();
    assert_eq!(webhook["admissionReviewVersions"], json!(["v1"]));
    assert_eq!(webhook["sideEffects"], "None");
    assert_eq!(webhook["failurePolicy"], "Fail");
    assert_eq!(webhook["reinvocationPolicy"], "IfNeeded");
    assert!(webhook["timeoutSeconds"].as_i64().unwrap() <= 10);
    assert_eq!(webhook["clientConfig"]["service"]["path"], "/mutate");
    let objects = render(&registration());
    let apiservice = find(&objects, "APIService", "v1.image.openshift.io");
    assert_eq!(apiservice["spec"]["group"], "image.openshift.io");
    assert_eq!(apiservice["spec"]["service"]["name"], "imagelookup");
}

#[test]
fn deployment_names_no_openshift_registry() {
    let pod = pod_spec();
    let args = strings(&pod["containers"][0]["args"]);
    assert!(
        !args.iter().any(|a| a.starts_with("--registry-hostname")),
        "{args:?}"
    );
    let rendered = serde_json::to_string(&render(&base())).unwrap();
    assert!(!rendered.contains("openshift-image-registry"));
}

#[test]
fn pods_keep_serving_until_endpoints_are_gone_and_exit_before_the_kill() {
    let pod = pod_spec();
    let sleep = pod["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .expect("a preStop sleep action");
    assert!(sleep >= 5, "{sleep} s is too short for endpoint removal");
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    let drain = ServeOptions::default().shutdown_timeout.as_secs();
    let resign = imagelookup::cli::serve::IMPORTER_STOP_TIMEOUT.as_secs();
    let args = pod["containers"][0]["args"].as_array().unwrap();
    let delay: u64 = args
        .iter()
        .filter_map(|arg| arg.as_str()?.strip_prefix("--shutdown-delay="))
        .map(|delay| delay.trim_end_matches('s').parse::<u64>().unwrap())
        .sum();
    assert!(
        delay > 0,
        "the server keeps serving after SIGTERM: {args:?}"
    );
    assert!(
        grace > sleep + delay + drain + resign,
        "grace {grace} s must exceed preStop {sleep} s + delay {delay} s + drain {drain} s + \
         the importer's resignation {resign} s"
    );
}

#[test]
fn service_account_reads_pull_secrets_and_has_no_delegated_auth_bindings() {
    let objects = render(&base());
    let bindings: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"].as_str().unwrap().ends_with("Binding"))
        .collect();
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    assert_eq!(bindings[0]["subjects"][0]["name"], "imagelookup");
    let role_name = bindings[0]["roleRef"]["name"].as_str().unwrap();
    let role = find(&objects, "ClusterRole", role_name);
    assert_eq!(
        role["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}])
    );
    let args = pod_spec()["containers"][0]["args"].clone();
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from("--pull-secrets-from=cluster")),
        "{args}"
    );
    let rendered = serde_json::to_string(&objects).unwrap();
    assert!(!rendered.contains("system:auth-delegator"));
    assert!(!rendered.contains("extension-apiserver-authentication-reader"));
}

#[test]
fn deployment_runs_two_hardened_replicas_with_probes_and_a_budget() {
    let objects = render(&base());
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
    let budget = &find(&objects, "PodDisruptionBudget", "imagelookup")["spec"];
    assert_eq!(budget["minAvailable"], 1);
    // Two NotReady replicas (etcd unreachable) must not hold a node drain forever.
    assert_eq!(budget["unhealthyPodEvictionPolicy"], "AlwaysAllow");
}

#[test]
fn ca_bundle_from_ca_env_reaches_the_webhook_and_the_apiservice() {
    assert_eq!(
        std::fs::canonicalize(base().join("ca.env")).unwrap(),
        std::fs::canonicalize(registration().join("ca.env")).unwrap(),
        "`make certs` writes manifests/ca.env; the registration must read that file"
    );
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(registration()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(copy.path().join("ca.env"), "caBundle=Q0FCVU5ETEU=\n").unwrap();
    let objects = render(copy.path());
    assert_ca_bundle(&objects, "Q0FCVU5ETEU=");
    assert!(
        !objects.iter().any(|o| o["kind"] == "ConfigMap"),
        "the CA source is local-config only"
    );
}

#[test]
fn ca_bundle_from_ca_env_reaches_the_pod_level_registration() {
    let copy = manifests_copy();
    std::fs::write(
        copy.path().join("registration/ca.env"),
        "caBundle=Q0FCVU5ETEU=\n",
    )
    .unwrap();
    let objects = render(&copy.path().join("pod-level/registration"));
    assert_ca_bundle(&objects, "Q0FCVU5ETEU=");
}

#[test]
fn deployment_trusts_the_front_proxy_ca_from_a_configmap_in_its_namespace() {
    let pod = pod_spec();
    let container = &pod["containers"][0];
    let args = strings(&container["args"]);
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

#[test]
fn image_runs_as_the_deployment_user_on_a_runtime_with_the_libraries_it_links() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let runtime = dockerfile
        .lines()
        .rfind(|line| line.starts_with("FROM "))
        .unwrap();
    assert!(
        runtime.contains("distroless/cc") || runtime.contains("debian"),
        "the binary links glibc dynamically: {runtime}"
    );
    let context = pod_spec()["securityContext"].clone();
    let user = format!("USER {}:{}", context["runAsUser"], context["runAsGroup"]);
    assert!(dockerfile.lines().any(|line| line == user), "{user}");
}

#[test]
fn build_context_admits_no_keys_or_tokens() {
    let ignored = std::fs::read_to_string(repo().join(".dockerignore")).unwrap();
    let rules: Vec<&str> = ignored
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .collect();
    assert_eq!(rules.first(), Some(&"*"), "an allowlist: {rules:?}");
    for secret in ["!certs", "!.data"] {
        assert!(
            !rules.iter().any(|rule| rule.starts_with(secret)),
            "{secret} re-admitted: {rules:?}"
        );
    }
}

/// The metric families `serve` exports, as `# TYPE` names them (a counter without `_total`, a
/// histogram without `_bucket`). A labelled family is encoded once it has a sample: those the
/// alerts read get one.
fn exported_families() -> BTreeSet<String> {
    exported_text()
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.split(' ').next())
        .map(String::from)
        .collect()
}

/// The exposition of a fresh server's metrics with one series of each family the rules and
/// the dashboard name.
fn exported_text() -> String {
    use imagelookup::metrics::{AdmissionLabels, ApiLabels, Metrics, Outcome};
    let metrics = Metrics::new();
    let admission = AdmissionLabels {
        kind: "Pod",
        operation: "CREATE",
        outcome: Outcome::NotReady,
    };
    metrics.admission.requests.get_or_create(&admission).inc();
    let api = ApiLabels {
        method: "GET",
        code: 500,
    };
    metrics.api.requests.get_or_create(&api).inc();
    metrics.store.count("create", "ServiceUnavailable");
    metrics.index.set_spec_tags(&Default::default());
    // Families without a series yet are not written: one of each the rules and the dashboard
    // name.
    let import = imagelookup::metrics::ImportLabels::failed("InternalError", "timeout");
    metrics.importer.count_import(import);
    let reason = imagelookup::metrics::ReasonLabels { reason: "any" };
    for family in [
        &metrics.admission.rewrites,
        &metrics.admission.unresolved,
        &metrics.admission.skipped,
    ] {
        family.get_or_create(&reason).inc();
    }
    metrics.encode(imagelookup::metrics::Exposition::OpenMetrics)
}

#[test]
fn monitoring_alerts_name_only_metrics_the_server_exports() {
    let objects = render(&repo().join("manifests/monitoring"));
    assert_eq!(
        sorted_kinds(&objects),
        ["ConfigMap", "PrometheusRule", "ServiceMonitor"]
    );
    let families = exported_families();
    let sample = regex::Regex::new(r"imagelookup_[a-z_]+").unwrap();
    let rule = find(&objects, "PrometheusRule", "imagelookup");
    // Alerts on the kube-apiserver's own metrics name the registration objects exactly.
    let registered = render(&registration());
    let webhook = find(&registered, "MutatingWebhookConfiguration", "imagelookup");
    let webhook_name = webhook["webhooks"][0]["name"].as_str().unwrap();
    let service = find(&registered, "APIService", "v1.image.openshift.io");
    let callers = [
        format!(r#"apiserver_admission_webhook_rejection_count{{name="{webhook_name}","#),
        format!(
            r#"aggregator_unavailable_apiservice{{name="{}"}}"#,
            service["metadata"]["name"].as_str().unwrap()
        ),
    ];
    let mut alerts = Vec::new();
    for group in rule["spec"]["groups"].as_array().unwrap() {
        for alert in group["rules"].as_array().unwrap() {
            let expr = alert["expr"].as_str().unwrap();
            let named: Vec<&str> = sample.find_iter(expr).map(|m| m.as_str()).collect();
            let on_callers = callers.iter().any(|caller| expr.contains(caller.as_str()));
            assert!(!named.is_empty() || on_callers, "{expr}");
            for name in named {
                let family = ["_total", "_bucket", "_count", "_sum"]
                    .iter()
                    .find_map(|suffix| name.strip_suffix(suffix))
                    .filter(|base| families.contains(*base))
                    .unwrap_or(name);
                assert!(
                    families.contains(family),
                    "{name} in {expr}: not in {families:?}"
                );
            }
            let severity = alert["labels"]["severity"].as_str().unwrap();
            assert!(["warning", "critical"].contains(&severity), "{alert}");
            alerts.push(alert["alert"].as_str().unwrap().to_string());
        }
    }
    assert!(alerts.contains(&"ImagelookupNoReadyReplica".to_string()));
    assert!(alerts.contains(&"ImagelookupWebhookCallsFailing".to_string()));
    assert!(alerts.len() >= 8, "{alerts:?}");
}

/// Runs promtool (Debian's `prometheus` package, which `make test-deps` installs) in `dir`.
fn promtool(dir: &Path, args: &[&str]) {
    let output = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool is installed (run `make test-deps`)");
    assert!(
        output.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn monitoring_alerts_fire_when_they_should_and_stay_silent_otherwise() {
    let objects = render(&repo().join("manifests/monitoring"));
    let rule = find(&objects, "PrometheusRule", "imagelookup");
    let dir = tempfile::tempdir().unwrap();
    // JSON is YAML: promtool reads the rule groups as kustomize rendered them, and checks the
    // expressions and the annotations' templates.
    let write = |name: &str, groups: &Value| {
        let text = serde_json::to_string_pretty(groups).unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
    };
    write("checked.yaml", &rule["spec"]);
    promtool(dir.path(), &["check", "rules", "checked.yaml"]);

    // The unit tests expect labels only, so that a summary's wording is not repeated there.
    let mut groups = rule["spec"].clone();
    for group in groups["groups"].as_array_mut().unwrap() {
        for alert in group["rules"].as_array_mut().unwrap() {
            alert.as_object_mut().unwrap().remove("annotations");
        }
    }
    write("rules.yaml", &groups);
    let tests = repo().join("manifests/monitoring/tests/alerts_test.yaml");
    std::fs::copy(&tests, dir.path().join("alerts_test.yaml")).unwrap();
    promtool(dir.path(), &["test", "rules", "alerts_test.yaml"]);

    // Every alert is seen firing by some test (and silent by the others' windows).
    let text = std::fs::read_to_string(&tests).unwrap();
    let cases: Value = serde_norway::from_str(&text).unwrap();
    let fired: BTreeSet<&str> = cases["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|case| case["alert_rule_test"].as_array().unwrap())
        .filter(|check| !check["exp_alerts"].as_array().unwrap().is_empty())
        .map(|check| check["alertname"].as_str().unwrap())
        .collect();
    let alerts: BTreeSet<&str> = rule["spec"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|group| group["rules"].as_array().unwrap())
        .map(|alert| alert["alert"].as_str().unwrap())
        .collect();
    assert_eq!(fired, alerts, "alerts without a test that fires them");
}

/// The family a sample name such as `imagelookup_imports_total` belongs to, if exported.
fn family_of<'a>(name: &'a str, families: &BTreeSet<String>) -> Option<&'a str> {
    ["_total", "_bucket", "_count", "_sum", ""]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| families.contains(*base))
}

#[test]
fn the_dashboard_queries_only_metrics_the_server_exports_in_the_chosen_namespace() {
    let objects = render(&repo().join("manifests/monitoring"));
    let config_map = find(&objects, "ConfigMap", "imagelookup-dashboard");
    assert_eq!(config_map["metadata"]["namespace"], "imagelookup");
    assert_eq!(config_map["metadata"]["labels"]["grafana_dashboard"], "1");
    let text = config_map["data"]["imagelookup.json"].as_str().unwrap();
    let on_disk = std::fs::read_to_string(repo().join("manifests/monitoring/dashboard.json"));
    assert_eq!(text, on_disk.unwrap(), "the ConfigMap holds the file");
    let dashboard: Value = serde_json::from_str(text).expect("the dashboard is JSON");
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|variable| variable["name"].as_str().unwrap())
        .collect();
    assert_eq!(variables, ["datasource", "namespace"]);
    let families = exported_families();
    let sample = regex::Regex::new(r"imagelookup_[a-z_]+").unwrap();
    let selector = regex::Regex::new(r"(imagelookup_[a-z_]+)(\{[^}]*\})?").unwrap();
    // An exact matcher on a label other than the namespace.
    let label_value = regex::Regex::new(r#"[a-z_]+="[^"$]*""#).unwrap();
    let text = exported_text();
    let mut ids = BTreeSet::new();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "ids are unique");
        if panel["type"] == "row" {
            continue;
        }
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            let named: Vec<&str> = sample.find_iter(expr).map(|m| m.as_str()).collect();
            assert!(!named.is_empty(), "{expr}");
            for name in named {
                let family = family_of(name, &families);
                assert!(family.is_some(), "{name} in {expr}: not in {families:?}");
                queried.insert(family.unwrap().to_string());
            }
            // Every series read is the chosen deployment's, and a label value it picks is one
            // the server writes (`result="failure"`, not "failed").
            for found in selector.captures_iter(expr) {
                let matchers = found.get(2).map_or("", |m| m.as_str());
                assert!(
                    matchers.contains(r#"namespace=~"$namespace""#),
                    "{} without the namespace in {expr}",
                    &found[1]
                );
                for pair in label_value.find_iter(matchers) {
                    let pair = pair.as_str();
                    let written = text
                        .lines()
                        .any(|line| line.starts_with(&found[1]) && line.contains(pair));
                    assert!(written, "{pair} is written by no {} series", &found[1]);
                }
            }
        }
    }
    // The admission, index, importer, API and store families are all on it.
    for family in [
        "imagelookup_admission_requests",
        "imagelookup_admission_duration_seconds",
        "imagelookup_unresolved_references",
        "imagelookup_index_spec_tags",
        "imagelookup_imports",
        "imagelookup_api_requests",
        "imagelookup_store_operations",
        "imagelookup_ready",
    ] {
        assert!(queried.contains(family), "{family} is not on the dashboard");
    }
}

#[test]
fn the_service_monitor_scrapes_the_base_service_over_https() {
    let monitor = render(&repo().join("manifests/monitoring"))
        .into_iter()
        .find(|o| o["kind"] == "ServiceMonitor")
        .unwrap();
    let service = find(&render(&base()), "Service", "imagelookup").clone();
    assert!(selects(
        &monitor["spec"]["selector"],
        &service["metadata"]["labels"]
    ));
    let namespaces = strings(&monitor["spec"]["namespaceSelector"]["matchNames"]);
    assert_eq!(
        namespaces,
        [service["metadata"]["namespace"].as_str().unwrap()]
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    let port = endpoint["port"].as_str().unwrap();
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert!(
        ports.iter().any(|p| p["name"] == port),
        "{port} in {ports:?}"
    );
    assert_eq!(
        (endpoint["scheme"].as_str(), endpoint["path"].as_str()),
        (Some("https"), Some("/metrics"))
    );
}

/// Both registration objects carry `bundle` as their caBundle.
fn assert_ca_bundle(objects: &[Value], bundle: &str) {
    let webhook = find(objects, "MutatingWebhookConfiguration", "imagelookup");
    assert_eq!(webhook["webhooks"][0]["clientConfig"]["caBundle"], bundle);
    let service = find(objects, "APIService", "v1.image.openshift.io");
    assert_eq!(service["spec"]["caBundle"], bundle);
}

/// Whether `role` grants `verb` on `resource` of the image group.
fn grants(role: &Value, resource: &str, verb: &str) -> bool {
    let rules = role["rules"].as_array().unwrap();
    rules.iter().any(|rule| {
        let has =
            |field: &str, wanted: &str| rule[field].as_array().unwrap().iter().any(|v| v == wanted);
        has("apiGroups", "image.openshift.io") && has("resources", resource) && has("verbs", verb)
    })
}

#[test]
fn the_aggregated_roles_grant_every_verb_the_image_group_serves() {
    use imagelookup::apiserver::discovery::IMAGE_V1;
    let objects = render(&base());
    let edit = find(&objects, "ClusterRole", "imagelookup-imagestreams-edit");
    let view = find(&objects, "ClusterRole", "imagelookup-imagestreams-view");
    // Images are cluster-scoped, for the importer and cluster admins; not aggregated.
    let served = IMAGE_V1.resources.iter().filter(|r| r.plural != "images");
    for resource in served {
        for verb in resource.verbs {
            assert!(
                grants(edit, resource.plural, verb),
                "edit: {verb} {}",
                resource.plural
            );
            let reads = ["get", "list", "watch"].contains(verb);
            assert_eq!(
                grants(view, resource.plural, verb),
                reads,
                "view: {verb} {}",
                resource.plural
            );
        }
    }
    // The status is the importer's record: editors read it, as in OpenShift, and cannot write
    // a digest into it (a stream's views would then show any Image of that digest).
    for verb in ["update", "patch"] {
        assert!(
            !grants(edit, "imagestreams/status", verb),
            "edit: {verb} status"
        );
    }
    assert!(grants(edit, "imagestreams/status", "get"));
}
