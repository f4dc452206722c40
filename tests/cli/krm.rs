//! `resolve` as a KRM function and as a kustomize transformer: a `ResourceList` on standard
//! input (what kpt and kustomize's exec functions send), and real `kubectl kustomize` running
//! it as a transformer plugin configured by a `ResolveImages` object.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::{fixture, imagelookup, kubectl, stderr, stdout, yaml_documents, D8};

/// A ResourceList as kustomize sends it: items with orchestration annotations and comments,
/// one reference that pins, one tag the stream lacks, the settings in `functionConfig`.
fn resource_list(config_spec: &str) -> String {
    resource_list_configured_by(
        "imagelookup.io/v1alpha1",
        "ResolveImages",
        "spec",
        config_spec,
    )
}

fn resource_list_configured_by(
    api_version: &str,
    kind: &str,
    field: &str,
    settings: &str,
) -> String {
    format!(
        r#"apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: db
    annotations:
      config.kubernetes.io/index: '0'
  spec:
    containers:
    - name: mysql # the database
      image: mysql:8
    - name: typo
      image: "mysql:10"
functionConfig:
  apiVersion: {api_version}
  kind: {kind}
  metadata:
    name: pin
  {field}:
{settings}
"#
    )
}

fn streams_setting() -> String {
    format!(
        "    namespace: demo\n    imagestreams: {}",
        fixture("streams.yaml")
    )
}

#[test]
fn a_resource_list_is_answered_with_its_items_pinned_and_results_saying_why() {
    let input = resource_list(&streams_setting());
    let output = imagelookup(&["resolve"], Some(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let pinned = format!("quay.io/example/mysql@{D8}");
    let expected_text = input.replacen("image: mysql:8", &format!("image: {pinned}"), 1);
    assert!(
        text.starts_with(&expected_text.replacen(
            "\"mysql:10\"",
            "\"image-registry.openshift-image-registry.svc:5000/demo/mysql:10\"",
            1
        )),
        "the input's text, comments and quoting kept, only references replaced:\n{text}"
    );
    let list = &yaml_documents(&text)[0];
    assert_eq!(list["kind"], "ResourceList");
    let results = list["results"].as_array().expect("results");
    let by_severity = |severity: &str| -> Vec<&Value> {
        results
            .iter()
            .filter(|result| result["severity"] == severity)
            .collect()
    };
    let reference = json!({"apiVersion": "v1", "kind": "Pod", "name": "db"});
    let infos = by_severity("info");
    assert_eq!(infos.len(), 2, "{results:?}");
    assert_eq!(infos[0]["field"]["path"], "spec.containers[0].image");
    assert_eq!(infos[0]["resourceRef"], reference);
    let message = infos[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("pinned \"mysql:8\" to {pinned}: ")),
        "{message}"
    );
    assert!(infos[1]["message"]
        .as_str()
        .unwrap()
        .starts_with("rewrote \"mysql:10\""));
    let warnings = by_severity("warning");
    assert_eq!(warnings.len(), 1, "{results:?}");
    let warning = warnings[0]["message"].as_str().unwrap();
    assert!(
        warning.contains("imagestream demo/mysql has no tag \"10\""),
        "{warning}"
    );
    assert_eq!(warnings[0]["field"]["path"], "spec.containers[1].image");
    assert!(
        warning.starts_with("\"mysql:10\" not pinned"),
        "the field once: {warning}"
    );
}

#[test]
fn an_item_written_anew_keeps_the_strings_kpt_sent_plain() {
    // kpt and kustomize write YAML 1.2, where a plain `on` or `y` is a string; an item the
    // function must write anew (its image a block scalar) keeps them strings.
    let list = format!(
        r#"apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: db
  spec:
    containers:
    - name: y
      image: >-
        mysql:8
      env:
      - name: FEATURE
        value: on
      - name: LEGACY
        value: no
      - name: ENABLED
        value: true
functionConfig:
  apiVersion: imagelookup.io/v1alpha1
  kind: ResolveImages
  metadata:
    name: pin
  spec:
{}
"#,
        streams_setting()
    );
    let output = imagelookup(&["resolve"], Some(&list));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let answered = yaml_documents(&stdout(&output));
    let container = &answered[0]["items"][0]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("quay.io/example/mysql@{D8}"),
        "{container}"
    );
    assert_eq!(container["name"], "y", "{container}");
    let env: Vec<&Value> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["value"])
        .collect();
    assert_eq!(
        env,
        [&json!("on"), &json!("no"), &json!(true)],
        "{container}"
    );
    let results = answered[0]["results"].as_array().unwrap();
    assert!(
        results
            .iter()
            .any(|r| r["message"].as_str().unwrap_or("").contains("reformatted")),
        "the item was written anew: {results:?}"
    );
}

#[test]
fn a_list_among_the_items_is_resolved_item_by_item() {
    let inner = "- apiVersion: v1\n  kind: List\n  items:\n  - apiVersion: v1\n    kind: Pod\n    metadata: {name: inner, namespace: demo}\n    spec: {containers: [{name: m, image: \"mysql:8\"}]}\n";
    let input =
        resource_list(&streams_setting()).replacen("items:\n", &format!("items:\n{inner}"), 1);
    let output = imagelookup(&["resolve"], Some(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let list = &yaml_documents(&stdout(&output))[0];
    let pinned = json!(format!("quay.io/example/mysql@{D8}"));
    let nested = &list["items"][0]["items"][0]["spec"]["containers"][0]["image"];
    assert_eq!(nested, &pinned, "{list}");
    let outer = &list["items"][1]["spec"]["containers"][0]["image"];
    assert_eq!(outer, &pinned, "{list}");
}

#[test]
fn a_streams_file_holding_no_stream_says_nothing_can_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("streams.yaml");
    std::fs::write(&empty, "apiVersion: v1\nkind: List\nitems: []\n").unwrap();
    let streams = empty.to_string_lossy();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: mysql}]}\n";
    let output = imagelookup(&["resolve", "--imagestreams", &streams], Some(pod));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), pod, "unchanged");
    assert!(
        stderr(&output).contains(&format!("warning: {streams} holds no ImageStream")),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_list_without_streams_says_nothing_can_resolve() {
    let input = resource_list("    namespace: demo");
    let output = imagelookup(&["resolve"], Some(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let list = &yaml_documents(&stdout(&output))[0];
    let first = &list["results"][0];
    assert_eq!(first["severity"], "warning");
    let message = first["message"].as_str().unwrap();
    assert!(
        message.starts_with("no imagestreams were given"),
        "{message}"
    );
    assert!(stderr(&output).contains("warning: no imagestreams were given"));
}

#[test]
fn a_required_policy_rejection_is_an_error_result_with_its_field_and_exit_1() {
    let spec = format!(
        "{}\n    policy: {}",
        streams_setting(),
        fixture("policy-required.yaml")
    );
    let input = resource_list(&spec).replace("image: \"mysql:10\"", "image: nginx");
    let output = imagelookup(&["resolve", "-f", "-"], Some(&input));
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let list = &yaml_documents(&stdout(&output))[0];
    let errors: Vec<&Value> = list["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|result| result["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{list}");
    assert_eq!(errors[0]["field"]["path"], "spec.containers[1].image");
    assert!(errors[0]["message"].as_str().unwrap().contains("Forbidden"));
    assert_eq!(
        list["items"][0]["spec"]["containers"][0]["image"], "mysql:8",
        "a rejected object is passed on as it came"
    );
    assert!(stderr(&output).contains("error: Pod \"db\" is invalid"));
}

#[test]
fn a_config_map_function_config_sets_what_kpt_passes_as_key_value_arguments() {
    let input = resource_list_configured_by("v1", "ConfigMap", "data", &streams_setting());
    let output = imagelookup(&["resolve"], Some(&input));
    assert!(output.status.success(), "{}", stderr(&output));
    let list = &yaml_documents(&stdout(&output))[0];
    let image = &list["items"][0]["spec"]["containers"][0]["image"];
    assert_eq!(image, &json!(format!("quay.io/example/mysql@{D8}")));
}

#[test]
fn a_setting_given_twice_or_misspelt_is_refused_with_exit_2_naming_where() {
    let input = resource_list(&streams_setting());
    let streams = fixture("streams.yaml");
    let twice = imagelookup(&["resolve", "--imagestreams", &streams], Some(&input));
    assert_eq!(twice.status.code(), Some(2));
    assert_eq!(
        stderr(&twice),
        "error: imagestreams is set both by --imagestreams and by the ResourceList's functionConfig; set it in one place\n"
    );
    assert!(twice.stdout.is_empty());
    let twice_in_config = resource_list(&format!("{}\n    namespace: other", streams_setting()));
    let duplicated = imagelookup(&["resolve"], Some(&twice_in_config));
    assert_eq!(duplicated.status.code(), Some(2));
    assert_eq!(
        stderr(&duplicated),
        "error: the ResourceList's functionConfig: namespace is written twice; keep one\n"
    );
    let empty = resource_list("    imagestreams: \"\"");
    let unnamed = imagelookup(&["resolve"], Some(&empty));
    assert_eq!(unnamed.status.code(), Some(2));
    assert!(
        stderr(&unnamed)
            .contains("imagestreams is empty (given by the ResourceList's functionConfig)"),
        "{}",
        stderr(&unnamed)
    );
    let typo = resource_list(&streams_setting().replace("namespace:", "namespce:"));
    let misspelt = imagelookup(&["resolve"], Some(&typo));
    assert_eq!(misspelt.status.code(), Some(2));
    assert!(
        stderr(&misspelt).contains("unknown setting \"namespce\""),
        "{}",
        stderr(&misspelt)
    );
}

/// A kustomization with a Deployment and `transformers: [pin.yaml]`, the `ResolveImages`
/// config; the plugin is the two-line script the README gives.
fn kustomization(dir: &Path, policy: Option<&str>) {
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
    std::fs::copy(fixture("streams.yaml"), dir.join("streams.yaml")).unwrap();
    let policy_line = policy.map_or(String::new(), |p| format!("  policy: {p}\n"));
    write(
        "pin.yaml",
        &format!(
            "apiVersion: imagelookup.io/v1alpha1\nkind: ResolveImages\nmetadata:\n  name: pin\nspec:\n  imagestreams: streams.yaml\n{policy_line}"
        ),
    );
    write(
        "web.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: db\n        image: mysql:8\n      - name: proxy\n        image: nginx\n",
    );
    write(
        "kustomization.yaml",
        "namespace: demo\nresources:\n- web.yaml\ntransformers:\n- pin.yaml\n",
    );
    let plugin = dir.join("plugins/imagelookup.io/v1alpha1/resolveimages");
    std::fs::create_dir_all(&plugin).unwrap();
    let script = format!(
        "#!/bin/sh\nexec {} resolve --config \"$1\"\n",
        env!("CARGO_BIN_EXE_imagelookup")
    );
    let path = plugin.join("ResolveImages");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn kustomize(dir: &Path) -> std::process::Output {
    Command::new(kubectl())
        .args(["kustomize", "--enable-alpha-plugins"])
        .arg(dir)
        .env("KUSTOMIZE_PLUGIN_HOME", dir.join("plugins"))
        .output()
        .expect("kubectl runs")
}

#[test]
fn kubectl_kustomize_pins_through_the_resolve_images_transformer() {
    let dir = tempfile::tempdir().unwrap();
    kustomization(dir.path(), None);
    let output = kustomize(dir.path());
    assert!(output.status.success(), "kustomize: {}", stderr(&output));
    let built = yaml_documents(&stdout(&output));
    let containers = &built[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        containers[0]["image"],
        json!(format!("quay.io/example/mysql@{D8}"))
    );
    assert_eq!(containers[1]["image"], "nginx", "no stream, left alone");
    assert_eq!(built[0]["metadata"]["namespace"], "demo");
}

#[test]
fn kubectl_kustomize_fails_the_build_with_the_policy_s_reason() {
    let dir = tempfile::tempdir().unwrap();
    kustomization(dir.path(), Some(&fixture("policy-required.yaml")));
    let output = kustomize(dir.path());
    assert!(!output.status.success(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains("spec.template.spec.containers[1].image: Forbidden"),
        "{message}"
    );
}

#[test]
fn a_policy_rule_that_can_never_rewrite_anything_is_a_warning_result() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    let rules = "resolutionRules:\n\
                 - {targetResource: {resource: pods}, localNames: true}\n\
                 - {targetResource: {group: serving.knative.dev, resource: services}, localNames: true}\n";
    std::fs::write(&policy, rules).unwrap();
    let spec = format!("{}\n    policy: {}", streams_setting(), policy.display());
    let output = imagelookup(&["resolve"], Some(&resource_list(&spec)));
    assert!(output.status.success(), "{}", stderr(&output));
    let list = &yaml_documents(&stdout(&output))[0];
    let first = &list["results"][0];
    assert_eq!(first["severity"], "warning");
    let message = first["message"].as_str().unwrap();
    let expected = "image.openshift.io/ImagePolicy.resolutionRules[1].targetResource: imagelookup \
                    finds the pod spec of no resource services.serving.knative.dev names, so this \
                    rule can never rewrite anything: give the rule a podSpecPath";
    assert!(message.starts_with(expected), "{message}");
    assert!(stderr(&output).contains(&format!("warning: {expected}")));
}
