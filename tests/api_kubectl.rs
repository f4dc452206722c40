//! A real kubectl 1.37 (`.venv/bin/kubectl`) writing to an in-process server over TLS with the
//! generated kubeconfig: apply (client- and server-side), patch, edit, label and annotate,
//! replace, server dry run, field validation, `create secret docker-registry`. Reads are in
//! `api_kubectl_read.rs`.

mod support;

use serde_json::Value;
use support::kubectl::{managers, manifest};
use support::{stream, stream_path, streams_path, Server};

fn server() -> &'static Server {
    Server::shared()
}

/// The stream as the server has it.
fn fetch(namespace: &str, name: &str) -> Value {
    server()
        .get(&stream_path(namespace, name))
        .send()
        .expect(200)
}

fn jsonpath(namespace: &str, name: &str, path: &str) -> String {
    server()
        .kubectl(&[
            "get",
            "is",
            name,
            "-n",
            namespace,
            "-o",
            &format!("jsonpath={path}"),
        ])
        .success()
}

#[test]
fn client_side_apply_creates_then_configures_a_stream() {
    let ns = "kc-csa";
    let created =
        server().kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, "demo", false, &["v1"]));
    assert!(created
        .success()
        .contains("imagestream.image.openshift.io/demo created"));
    let first = fetch(ns, "demo");
    assert_eq!(first["metadata"]["generation"], 1);
    assert_eq!(
        managers(&first),
        [("kubectl-client-side-apply".into(), "Update".into())]
    );

    let changed = manifest(ns, "demo", true, &["v1", "v2"]);
    let configured = server().kubectl_stdin(&["apply", "-f", "-"], &changed);
    assert!(configured.success().contains("demo configured"));
    let second = fetch(ns, "demo");
    assert_eq!(second["spec"]["lookupPolicy"]["local"], true);
    assert_eq!(second["metadata"]["generation"], 2);
    let last_applied = second["metadata"]["annotations"]
        ["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap();
    assert!(
        last_applied.contains("quay.io/example/app:v2"),
        "{last_applied}"
    );

    let unchanged = server().kubectl_stdin(&["apply", "-f", "-"], &changed);
    assert!(unchanged.success().contains("demo unchanged"));
    assert_eq!(
        fetch(ns, "demo")["metadata"]["resourceVersion"],
        second["metadata"]["resourceVersion"]
    );
}

#[test]
fn server_side_apply_takes_over_from_client_side_apply_and_reports_conflicts() {
    let ns = "kc-ssa";
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, "demo", false, &["v1"]))
        .success();
    let applied = server().kubectl_stdin(
        &["apply", "--server-side", "-f", "-"],
        &manifest(ns, "demo", true, &["v1"]),
    );
    assert!(applied.success().contains("serverside-applied"));
    let object = fetch(ns, "demo");
    assert_eq!(object["spec"]["lookupPolicy"]["local"], true);
    let owners = managers(&object);
    assert!(
        owners.contains(&("kubectl".into(), "Apply".into())),
        "{owners:?}"
    );
    assert!(
        !owners.iter().any(|(m, _)| m == "kubectl-client-side-apply"),
        "{owners:?}"
    );

    let rival = manifest(ns, "demo", false, &[]);
    let conflict = server()
        .kubectl_stdin(
            &["apply", "--server-side", "--field-manager=rival", "-f", "-"],
            &rival,
        )
        .failure();
    assert!(conflict.contains("conflict with \"kubectl\""), "{conflict}");
    assert!(conflict.contains(".spec.lookupPolicy.local"), "{conflict}");
    server()
        .kubectl_stdin(
            &[
                "apply",
                "--server-side",
                "--field-manager=rival",
                "--force-conflicts",
                "-f",
                "-",
            ],
            &rival,
        )
        .success();
    assert_eq!(fetch(ns, "demo")["spec"]["lookupPolicy"]["local"], false);
}

#[test]
fn server_side_apply_after_client_side_apply_changes_its_values_without_conflict() {
    let ns = "kc-csa-to-ssa";
    let before = manifest(ns, "app", true, &["v1"]);
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &before)
        .success();
    // The documented move to --server-side, with the manifest edited on the way.
    let after = before
        .replace("local: true", "local: false")
        .replace("app: app", "app: web");
    let applied = server().kubectl_stdin(&["apply", "--server-side", "-f", "-"], &after);
    assert!(applied.success().contains("serverside-applied"));
    let object = fetch(ns, "app");
    assert_eq!(object["spec"]["lookupPolicy"]["local"], false);
    assert_eq!(object["metadata"]["labels"]["app"], "web");
    let owners = managers(&object);
    assert!(
        owners.contains(&("kubectl".into(), "Apply".into())),
        "{owners:?}"
    );

    // Another manager gets no such pass.
    let rival = after.replace("local: false", "local: true");
    let conflict = server()
        .kubectl_stdin(
            &["apply", "--server-side", "--field-manager=rival", "-f", "-"],
            &rival,
        )
        .failure();
    assert!(conflict.contains(".spec.lookupPolicy.local"), "{conflict}");
}

#[test]
fn server_side_apply_refuses_two_tags_of_one_name() {
    let ns = "kc-ssa-dup";
    let twice = manifest(ns, "dup", false, &["v1", "v1"]);
    let refused = server()
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &twice)
        .failure();
    assert!(
        refused.contains(".spec.tags: duplicate entries for key [name=\"v1\"]"),
        "{refused}"
    );
    server()
        .get(&stream_path(ns, "dup"))
        .send()
        .expect_status(404, "NotFound");
}

#[test]
fn server_side_apply_reports_a_wrongly_typed_field_not_a_conflict() {
    let ns = "kc-ssa-type";
    server()
        .kubectl_stdin(&["create", "-f", "-"], &manifest(ns, "app", true, &[]))
        .success();
    let bad = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {{name: app, namespace: {ns}}}\n\
         spec: {{lookupPolicy: {{local: \"yes\"}}}}\n"
    );
    let refused = server()
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &bad)
        .failure();
    assert!(
        refused.contains(".spec.lookupPolicy.local: invalid type: string \"yes\""),
        "{refused}"
    );
    assert!(!refused.contains("conflict"), "{refused}");
}

#[test]
fn patch_accepts_strategic_merge_and_json_patches() {
    let ns = "kc-patch";
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, "demo", false, &["v1"]))
        .success();
    let patch = |args: &[&str]| {
        let mut all = vec!["patch", "is", "demo", "-n", ns];
        all.extend_from_slice(args);
        assert!(server().kubectl(&all).success().contains("patched"));
    };
    let added = r#"{"spec":{"tags":[{"name":"v2","reference":true,"from":{"kind":"DockerImage","name":"quay.io/example/app:v2"}}]}}"#;
    patch(&["-p", added]);
    assert_eq!(
        jsonpath(ns, "demo", "{.spec.tags[*].name}"),
        "v1 v2",
        "strategic merges by name"
    );
    patch(&[
        "--type=merge",
        "-p",
        r#"{"spec":{"lookupPolicy":{"local":true}}}"#,
    ]);
    assert_eq!(jsonpath(ns, "demo", "{.spec.lookupPolicy.local}"), "true");
    patch(&[
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/tags/0"}]"#,
    ]);
    assert_eq!(jsonpath(ns, "demo", "{.spec.tags[*].name}"), "v2");
}

#[test]
fn edit_label_and_annotate_send_merge_patches() {
    let ns = "kc-edit";
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, "demo", false, &[]))
        .success();
    let editor = server().data_dir.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/local: false/local: true/' \"$1\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&editor)
        .status()
        .unwrap();
    let edited = server()
        .kubectl_command(&["edit", "is", "demo", "-n", ns])
        .env("KUBE_EDITOR", &editor)
        .output()
        .expect("kubectl edit runs");
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    let object = fetch(ns, "demo");
    assert_eq!(object["spec"]["lookupPolicy"]["local"], true);
    assert!(managers(&object).contains(&("kubectl-edit".into(), "Update".into())));

    server()
        .kubectl(&["label", "is", "demo", "-n", ns, "tier=web"])
        .success();
    server()
        .kubectl(&["annotate", "is", "demo", "-n", ns, "note=hi"])
        .success();
    let object = fetch(ns, "demo");
    assert_eq!(object["metadata"]["labels"]["tier"], "web");
    assert_eq!(object["metadata"]["annotations"]["note"], "hi");
    assert_eq!(
        object["metadata"]["generation"], 2,
        "metadata changes keep the generation"
    );
}

#[test]
fn replace_copies_the_live_resource_version_and_a_stale_one_conflicts() {
    let ns = "kc-replace";
    server().create(&streams_path(ns), &stream(ns, "demo", &[]));
    let fresh = manifest(ns, "demo", true, &[]);
    assert!(server()
        .kubectl_stdin(&["replace", "-f", "-"], &fresh)
        .success()
        .contains("replaced"));
    let stale = fresh.replace("  name: demo\n", "  name: demo\n  resourceVersion: \"1\"\n");
    let refused = server()
        .kubectl_stdin(&["replace", "-f", "-"], &stale)
        .failure();
    assert!(
        refused.contains("Error from server (Conflict)"),
        "{refused}"
    );
    assert!(
        refused.contains("the object has been modified"),
        "{refused}"
    );
}

#[test]
fn empty_yaml_keys_and_openshifts_null_tag_items_are_taken_as_go_takes_them() {
    let ns = "kc-null";
    // Every tag commented out leaves `tags:` null, which kube-apiserver reads as none.
    let commented = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: empty\n  \
         namespace: {ns}\nspec:\n  lookupPolicy:\n    local: true\n  tags:\n  # - name: latest\n"
    );
    server()
        .kubectl_stdin(&["create", "-f", "-"], &commented)
        .success();
    assert_eq!(jsonpath(ns, "empty", "{.spec.lookupPolicy.local}"), "true");
    // An `oc get is -o yaml` export of a tag whose only import failed has `items: null`;
    // README's migration creates it, then replaces its status.
    let exported = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: exported\n  \
         namespace: {ns}\nspec:\n  tags:\n  - name: v1\n    from:\n      kind: DockerImage\n      \
         name: quay.io/example/app:v1\nstatus:\n  dockerImageRepository: \"\"\n  tags:\n  - tag: v1\n    \
         items: null\n    conditions:\n    - type: ImportSuccess\n      status: \"False\"\n      \
         reason: NotFound\n      message: not found\n      \
         lastTransitionTime: \"2026-01-01T00:00:00Z\"\n      generation: 1\n"
    );
    server()
        .kubectl_stdin(&["create", "-f", "-"], &exported)
        .success();
    server()
        .kubectl_stdin(&["replace", "--subresource=status", "-f", "-"], &exported)
        .success();
    assert_eq!(
        jsonpath(ns, "exported", "{.status.tags[0].conditions[0].reason}"),
        "NotFound"
    );
}

#[test]
fn server_dry_run_persists_nothing() {
    let ns = "kc-dry";
    let run = server().kubectl_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &manifest(ns, "ghost", false, &[]),
    );
    assert!(run.success().contains("(server dry run)"));
    assert_eq!(server().get(&stream_path(ns, "ghost")).send().status, 404);
}

#[test]
fn validate_strict_refuses_unknown_fields_and_warn_only_warns() {
    let ns = "kc-validate";
    let bad = manifest(ns, "odd", false, &[]).replace("spec:\n", "spec:\n  colour: blue\n");
    let refused = server()
        .kubectl_stdin(&["create", "-f", "-"], &bad)
        .failure();
    assert!(
        refused.contains("strict decoding error: unknown field \"spec.colour\""),
        "{refused}"
    );
    let warned = server().kubectl_stdin(&["create", "--validate=warn", "-f", "-"], &bad);
    assert!(
        warned
            .stderr
            .contains("Warning: unknown field \"spec.colour\""),
        "{}",
        warned.stderr
    );
    warned.success();
    assert!(fetch(ns, "odd")["spec"].get("colour").is_none());
}

#[test]
fn create_secret_docker_registry_is_listed_by_the_secrets_subresource() {
    let ns = "kc-secret";
    let created = server()
        .kubectl(&[
            "create",
            "secret",
            "docker-registry",
            "pull",
            "-n",
            ns,
            "--docker-server=registry.example.com",
            "--docker-username=u",
            "--docker-password=p",
        ])
        .success();
    assert!(created.contains("secret/pull created"), "{created}");
    let path = format!("{}/any-name/secrets", streams_path(ns));
    let list: Value =
        serde_json::from_str(&server().kubectl(&["get", "--raw", &path]).success()).unwrap();
    assert_eq!(list["kind"], "SecretList");
    assert_eq!(list["apiVersion"], "image.openshift.io/v1");
    let secret = &list["items"][0];
    assert_eq!(secret["metadata"]["name"], "pull");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let config = secret["data"][".dockerconfigjson"].as_str().unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(config)
        .unwrap();
    assert!(String::from_utf8(decoded)
        .unwrap()
        .contains("registry.example.com"));
}

#[test]
fn an_exported_list_applies_back_and_kubectl_validates_its_items() {
    let ns = "kc-export";
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, "one", true, &["v1"]))
        .success();
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, "two", false, &["v2"]))
        .success();
    // `kubectl get -o yaml` writes a v1 List; kubectl validates a List on the client with
    // the protobuf /openapi/v2 (the server-side check never covers the List kind).
    let export = server()
        .kubectl(&["get", "is", "-n", ns, "-o", "yaml"])
        .success();
    assert!(export.starts_with("apiVersion: v1\nitems:"), "{export}");
    server()
        .kubectl(&["delete", "is", "--all", "-n", ns])
        .success();
    let applied = server()
        .kubectl_stdin(&["apply", "-f", "-"], &export)
        .success();
    assert!(
        applied.contains("imagestream.image.openshift.io/one created"),
        "{applied}"
    );
    assert!(
        applied.contains("imagestream.image.openshift.io/two created"),
        "{applied}"
    );
    assert_eq!(fetch(ns, "one")["spec"]["lookupPolicy"]["local"], true);

    let misspelt = export.replacen("lookupPolicy:", "lookupPolicyy:", 1);
    let refused = server()
        .kubectl_stdin(&["apply", "-f", "-"], &misspelt)
        .failure();
    assert!(
        refused.contains(
            r#"unknown field "lookupPolicyy" in com.github.openshift.api.image.v1.ImageStreamSpec"#
        ),
        "{refused}"
    );
}

#[test]
fn a_pull_secret_written_with_string_data_is_stored_as_data() {
    let ns = "kc-string-data";
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: {ns}}}\n\
         type: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{{}}'\n"
    );
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &secret)
        .success();
    let stored: Value = serde_json::from_str(
        &server()
            .kubectl(&["get", "secret", "pull", "-n", ns, "-o", "json"])
            .success(),
    )
    .unwrap();
    assert_eq!(stored["data"][".dockerconfigjson"], "e30=", "{stored}");
    assert!(stored.get("stringData").is_none(), "{stored}");

    let missing = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: empty, namespace: {ns}}}\n\
         type: kubernetes.io/dockerconfigjson\n"
    );
    let refused = server()
        .kubectl_stdin(&["apply", "-f", "-"], &missing)
        .failure();
    assert!(
        refused.contains("data[.dockerconfigjson]: Required value"),
        "{refused}"
    );
}

#[test]
fn diff_of_a_stream_created_by_create_finds_nothing_and_a_change_exits_1() {
    let ns = "kc-diff";
    let yaml = manifest(ns, "demo", false, &["v1"]);
    server()
        .kubectl_stdin(&["create", "-f", "-"], &yaml)
        .success();
    let object = fetch(ns, "demo");
    assert_eq!(object["metadata"].get("annotations"), None, "{object}");
    let same = server().kubectl_stdin(&["diff", "-f", "-"], &yaml);
    assert!(same.ok, "{}\n{}", same.stdout, same.stderr);
    assert_eq!(same.stdout, "");

    let changed =
        server().kubectl_stdin(&["diff", "-f", "-"], &manifest(ns, "demo", true, &["v1"]));
    assert!(!changed.ok);
    assert!(
        changed.stdout.contains("+    local: true"),
        "{}",
        changed.stdout
    );
}

#[test]
fn server_side_apply_sets_labels_after_the_last_one_was_removed() {
    let ns = "kc-ssa-labels";
    let apply = |manager: &str, yaml: &str| {
        let manager = format!("--field-manager={manager}");
        server().kubectl_stdin(&["apply", "--server-side", &manager, "-f", "-"], yaml)
    };
    let labelled = manifest(ns, "web", false, &["v1"]);
    let bare = labelled.replace("  labels:\n    app: web\n", "");
    apply("flux", &bare).success();
    let label = |change: &str| {
        server()
            .kubectl(&["label", "is", "web", "-n", ns, change])
            .success();
    };
    label("hotfix=true");
    label("hotfix-");
    let object = fetch(ns, "web");
    assert_eq!(object["metadata"].get("labels"), None, "{object}");
    assert_eq!(managers(&object), [("flux".into(), "Apply".into())]);
    apply("flux", &labelled).success();
    assert_eq!(jsonpath(ns, "web", "{.metadata.labels.app}"), "web");

    // An applied empty map is owned by its applier, and another applier's entry lands.
    let empty = bare.replace(
        "  namespace: kc-ssa-labels\n",
        "  namespace: kc-ssa-labels\n  annotations: {}\n",
    );
    apply("helm", &empty).success();
    let owner = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: web\n  \
         namespace: {ns}\n  annotations:\n    owner: team-b\n"
    );
    apply("other", &owner).success();
    assert_eq!(
        jsonpath(ns, "web", "{.metadata.annotations.owner}"),
        "team-b"
    );
}

#[test]
fn server_side_apply_of_a_pull_secret_creates_keeps_then_changes_it() {
    let ns = "kc-ssa-secret";
    let secret = |config: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: {ns}}}\n\
             type: kubernetes.io/dockerconfigjson\ndata: {{.dockerconfigjson: {config}}}\n"
        )
    };
    let apply = |yaml: &str| {
        server()
            .kubectl_stdin(
                &["apply", "--server-side", "--field-manager=flux", "-f", "-"],
                yaml,
            )
            .success()
    };
    let get = || pull_secret_with_managed_fields(ns);
    assert!(apply(&secret("e30=")).contains("secret/pull serverside-applied"));
    let created = get();
    let entries = &created["metadata"]["managedFields"];
    assert_eq!(entries[0]["manager"], "flux", "{created}");
    assert_eq!(entries[0]["operation"], "Apply");
    assert_eq!(entries[0]["apiVersion"], "v1");
    assert_eq!(
        entries[0]["fieldsV1"]["f:data"],
        serde_json::json!({"f:.dockerconfigjson": {}})
    );

    apply(&secret("e30="));
    assert_eq!(
        get()["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"],
        "the same apply again writes nothing"
    );
    apply(&secret("eyJhdXRocyI6e319"));
    let changed = get();
    assert_eq!(changed["data"][".dockerconfigjson"], "eyJhdXRocyI6e319");
    assert_eq!(
        changed["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_pull_secret_made_by_create_records_its_creator_so_a_later_apply_conflicts() {
    let ns = "kc-secret-creator";
    server()
        .kubectl(&[
            "create",
            "secret",
            "docker-registry",
            "pull",
            "-n",
            ns,
            "--docker-server=registry.example",
            "--docker-username=u",
            "--docker-password=p",
        ])
        .success();
    let created = pull_secret_with_managed_fields(ns);
    let entry = &created["metadata"]["managedFields"][0];
    assert_eq!(entry["manager"], "kubectl-create", "{created}");
    assert_eq!(entry["operation"], "Update");
    assert_eq!(entry["apiVersion"], "v1");
    assert!(entry["fieldsV1"]["f:data"]
        .get("f:.dockerconfigjson")
        .is_some());

    // Another manager applying a different config must take it over knowingly.
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: {ns}}}\n\
         type: kubernetes.io/dockerconfigjson\ndata: {{.dockerconfigjson: e30=}}\n"
    );
    let refused = server()
        .kubectl_stdin(
            &["apply", "--server-side", "--field-manager=flux", "-f", "-"],
            &yaml,
        )
        .failure();
    assert!(refused.contains("conflict"), "{refused}");
    assert!(refused.contains("kubectl-create"), "{refused}");
}

#[test]
fn kubectl_refuses_a_pull_secret_with_a_misspelt_field_as_for_any_core_object() {
    let ns = "kc-secret-strict";
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: pull, namespace: {ns}}}\n\
         type: kubernetes.io/dockerconfigjson\ndata: {{.dockerconfigjson: e30=}}\nimutable: true\n"
    );
    let refused = server()
        .kubectl_stdin(&["create", "-f", "-"], &yaml)
        .failure();
    assert!(refused.contains(r#"unknown field "imutable""#), "{refused}");
    let created = server()
        .kubectl_stdin(&["create", "--validate=false", "-f", "-"], &yaml)
        .success();
    assert!(created.contains("secret/pull created"), "{created}");
}

/// Secret `pull` of `ns` as kubectl reads it, managedFields included.
fn pull_secret_with_managed_fields(ns: &str) -> Value {
    let text = server()
        .kubectl(&[
            "get",
            "secret",
            "pull",
            "-n",
            ns,
            "-o",
            "json",
            "--show-managed-fields",
        ])
        .success();
    serde_json::from_str(&text).unwrap()
}

/// README "Backup and restore", through the API: export, then into an empty namespace strip each
/// item's resourceVersion and uid, apply the specs and replace the statuses. A tag made by
/// `oc tag app:latest app:prod` is `ImageStreamImage app@<digest>`, which only the stream's own
/// status can resolve.
#[test]
fn the_readme_restore_recipe_brings_back_image_tags_and_tag_histories() {
    let ns = "kc-restore";
    let image = format!("sha256:{}", "a".repeat(64));
    let pulled = format!("quay.io/o/app@{image}");
    let mut app = stream(ns, "app", &[]);
    app["spec"]["tags"] = serde_json::json!([
        {"name": "latest", "from": {"kind": "DockerImage", "name": "quay.io/o/app:1"}}]);
    server().create(&streams_path(ns), &app);
    // What an import would have recorded.
    let mut imported = fetch(ns, "app");
    imported["status"]["tags"] = serde_json::json!([{"tag": "latest", "items": [
        {"created": "2026-01-01T00:00:00Z", "dockerImageReference": pulled, "image": image,
         "generation": 1}]}]);
    server()
        .put(&format!("{}/status", stream_path(ns, "app")), &imported)
        .send()
        .expect(200);
    let tag_prod = serde_json::json!([{"op": "add", "path": "/spec/tags/-", "value":
        {"name": "prod", "from": {"kind": "ImageStreamImage", "name": format!("app@{image}")}}}]);
    server()
        .patch(
            &stream_path(ns, "app"),
            "application/json-patch+json",
            &tag_prod,
        )
        .send()
        .expect(200);

    let export = server()
        .kubectl(&["get", "is", "-n", ns, "-o", "yaml"])
        .success();
    server()
        .kubectl(&["delete", "is", "app", "-n", ns])
        .success();
    // The recipe's `sed -e '/^    resourceVersion: /d' -e '/^    uid: /d'`.
    let restore: String = export
        .lines()
        .filter(|line| !line.starts_with("    resourceVersion: ") && !line.starts_with("    uid: "))
        .map(|line| format!("{line}\n"))
        .collect();
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &restore)
        .success();
    server()
        .kubectl_stdin(&["replace", "--subresource=status", "-f", "-"], &restore)
        .success();

    let restored = fetch(ns, "app");
    let newest = |tag: &str| -> Value {
        let tags = restored["status"]["tags"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let list = tags.into_iter().find(|list| list["tag"] == tag);
        list.map(|list| list["items"][0].clone())
            .unwrap_or_default()
    };
    assert_eq!(newest("prod")["image"], image.as_str(), "{restored}");
    assert_eq!(newest("latest")["image"], image.as_str(), "{restored}");
    assert_eq!(newest("latest")["dockerImageReference"], pulled.as_str());
}
