//! A real kubectl 1.37 (`.venv/bin/kubectl`) against an in-process server over TLS with the
//! generated kubeconfig: every command the API contract's request log records.

mod support;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{eventually, stream, stream_path, streams_path, Server, PATIENCE};

fn server() -> &'static Server {
    Server::shared()
}

/// A stream manifest as YAML, for `kubectl … -f -`.
fn manifest(namespace: &str, name: &str, local: bool, tags: &[&str]) -> String {
    let mut yaml = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: {name}\n  \
         namespace: {namespace}\n  labels:\n    app: {name}\nspec:\n  lookupPolicy:\n    local: {local}\n"
    );
    if !tags.is_empty() {
        yaml.push_str("  tags:\n");
    }
    for tag in tags {
        yaml.push_str(&format!(
            "  - name: {tag}\n    reference: true\n    from:\n      kind: DockerImage\n      \
             name: quay.io/example/app:{tag}\n"
        ));
    }
    yaml
}

/// The stream as the server has it.
fn fetch(namespace: &str, name: &str) -> Value {
    server()
        .get(&stream_path(namespace, name))
        .send()
        .expect(200)
}

fn managers(object: &Value) -> Vec<(String, String)> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|entry| {
            let manager = entry["manager"].as_str().unwrap_or("").to_string();
            (
                manager,
                entry["operation"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
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
fn get_prints_openshift_columns_yaml_and_the_namespace_column_for_all_namespaces() {
    let ns = "kc-get";
    let body = stream(
        ns,
        "web",
        &[
            ("stable", "quay.io/example/web:1"),
            ("latest", "quay.io/example/web:2"),
        ],
    );
    server().create(&streams_path(ns), &body);

    let table = server().kubectl(&["get", "is", "-n", ns]).success();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "IMAGE", "REPOSITORY", "TAGS", "UPDATED"]);
    let row = table.lines().nth(1).unwrap();
    assert!(row.starts_with("web "), "{table}");
    assert!(row.contains("latest,stable"), "{table}");

    let yaml = server()
        .kubectl(&["get", "is", "web", "-n", ns, "-o", "yaml"])
        .success();
    assert!(yaml.contains("kind: ImageStream"), "{yaml}");
    assert!(yaml.contains("name: quay.io/example/web:2"), "{yaml}");
    assert!(
        !yaml.contains("managedFields"),
        "kubectl hides managedFields: {yaml}"
    );

    let everywhere = server().kubectl(&["get", "imagestreams", "-A"]).success();
    assert!(everywhere.starts_with("NAMESPACE"), "{everywhere}");
    assert!(
        everywhere
            .lines()
            .any(|l| l.starts_with("kc-get ") && l.contains(" web ")),
        "{everywhere}"
    );

    let all = server()
        .kubectl(&["get", "all", "-n", ns, "-o", "name"])
        .success();
    assert!(all.contains("imagestream.image.openshift.io/web"), "{all}");
}

#[test]
fn label_and_field_selectors_filter_and_unknown_fields_are_refused() {
    let ns = "kc-select";
    for name in ["one", "two"] {
        server()
            .kubectl_stdin(&["apply", "-f", "-"], &manifest(ns, name, false, &[]))
            .success();
    }
    let names = |args: &[&str]| {
        let mut all = vec!["get", "is", "-n", ns, "-o", "name"];
        all.extend_from_slice(args);
        server().kubectl(&all).success()
    };
    assert_eq!(
        names(&["-l", "app=two"]),
        "imagestream.image.openshift.io/two\n"
    );
    assert_eq!(
        names(&["-l", "app!=two"]),
        "imagestream.image.openshift.io/one\n"
    );
    assert_eq!(
        names(&["--field-selector", "metadata.name=one"]),
        "imagestream.image.openshift.io/one\n"
    );
    let refused = server()
        .kubectl(&["get", "is", "-n", ns, "--field-selector", "spec.foo=bar"])
        .failure();
    assert!(
        refused.contains("\"spec.foo\" is not a known field selector"),
        "{refused}"
    );
}

#[test]
fn chunked_get_pages_with_continue_tokens_and_lists_every_stream_once() {
    let ns = "kc-chunk";
    for name in ["a", "b", "c"] {
        server().create(&streams_path(ns), &stream(ns, name, &[]));
    }
    let run = server().kubectl(&[
        "get",
        "is",
        "-n",
        ns,
        "--chunk-size=1",
        "-o",
        "name",
        "-v=6",
    ]);
    let continues = run.stderr.matches("continue=").count();
    let names = run.success();
    assert_eq!(names.lines().count(), 3, "{names}");
    assert_eq!(continues, 2, "two follow-up pages");
}

/// A kubectl that keeps running (`get -w`, `delete` waiting): its stdout lines as they come.
struct Running {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = server()
            .kubectl_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a line containing every one of `parts`.
    fn wait_for(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self
                .seen
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("no line with {parts:?}; saw {:?}", self.seen),
            }
        }
    }

    /// Waits for kubectl to exit; returns whether it succeeded, and its stderr.
    fn wait_exit(mut self) -> (bool, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll kubectl") {
                let mut stderr = String::new();
                if let Some(mut pipe) = self.child.stderr.take() {
                    std::io::Read::read_to_string(&mut pipe, &mut stderr).expect("read stderr");
                }
                return (status.success(), stderr);
            }
            assert!(Instant::now() < deadline, "kubectl did not finish");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_watch_prints_the_current_rows_then_each_change() {
    let ns = "kc-watch";
    server().create(&streams_path(ns), &stream(ns, "first", &[]));
    let mut watch = Running::start(&["get", "is", "-n", ns, "-w", "--output-watch-events"]);
    watch.wait_for(&["ADDED", "first"]);
    server().create(
        &streams_path(ns),
        &stream(ns, "second", &[("v1", "quay.io/example/w:1")]),
    );
    watch.wait_for(&["ADDED", "second", "v1"]);
    server()
        .kubectl(&["label", "is", "first", "-n", ns, "seen=yes"])
        .success();
    watch.wait_for(&["MODIFIED", "first"]);

    let mut named = Running::start(&["get", "is", "second", "-n", ns, "-w", "-o", "name"]);
    named.wait_for(&["imagestream.image.openshift.io/second"]);
    server()
        .kubectl(&["delete", "is", "first", "-n", ns])
        .success();
    watch.wait_for(&["DELETED", "first"]);
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
fn delete_returns_at_once_or_waits_for_finalizers_through_a_watch_list() {
    let ns = "kc-delete";
    for name in ["plain", "held"] {
        server().create(&streams_path(ns), &stream(ns, name, &[]));
    }
    let deleted = server()
        .kubectl(&["delete", "is", "plain", "-n", ns])
        .success();
    assert!(deleted.contains("\"plain\" deleted"), "{deleted}");

    let hold = json!({"metadata": {"finalizers": ["example.com/hold"]}});
    server()
        .patch(
            &stream_path(ns, "held"),
            "application/merge-patch+json",
            &hold,
        )
        .send()
        .expect(200);
    let waiting = Running::start(&["delete", "is", "held", "-n", ns, "-v=6"]);
    eventually("the stream to be terminating", || {
        let object = fetch(ns, "held");
        object["metadata"]["deletionTimestamp"]
            .is_string()
            .then_some(())
    });
    let release = r#"[{"op":"remove","path":"/metadata/finalizers"}]"#;
    server()
        .kubectl(&[
            "patch",
            "is",
            "held",
            "-n",
            ns,
            "--type=json",
            "-p",
            release,
        ])
        .success();
    let (finished, log) = waiting.wait_exit();
    assert!(
        finished,
        "kubectl delete finishes once the object is gone: {log}"
    );
    assert!(
        log.contains("sendInitialEvents=true"),
        "it waited through a watch-list: {log}"
    );
    assert_eq!(server().get(&stream_path(ns, "held")).send().status, 404);
}

#[test]
fn describe_api_resources_and_explain_show_the_resource() {
    let ns = "kc-describe";
    server().create(
        &streams_path(ns),
        &stream(ns, "demo", &[("v1", "quay.io/example/d:1")]),
    );
    let described = server()
        .kubectl(&["describe", "is", "demo", "-n", ns])
        .success();
    for expected in ["Name:         demo", "Namespace:    kc-describe", "Events:"] {
        assert!(described.contains(expected), "{described}");
    }

    let resources = server()
        .kubectl(&[
            "api-resources",
            "--api-group=image.openshift.io",
            "-o",
            "wide",
        ])
        .success();
    let row = resources
        .lines()
        .find(|l| l.starts_with("imagestreams"))
        .unwrap();
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        columns[1..5],
        ["is", "image.openshift.io/v1", "true", "ImageStream"]
    );
    assert_eq!(
        columns[5],
        "create,delete,deletecollection,get,list,patch,update,watch"
    );
    assert_eq!(columns[6], "all");

    let explained = server()
        .kubectl(&["explain", "imagestreams.spec.tags"])
        .success();
    assert!(explained.contains("KIND:       ImageStream"), "{explained}");
    assert!(
        explained.contains("FIELD: tags <[]TagReference>"),
        "{explained}"
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
