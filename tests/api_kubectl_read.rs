//! A real kubectl 1.37 (`.venv/bin/kubectl`) reading from an in-process server over TLS with
//! the generated kubeconfig: get (Tables, selectors, chunks, watches), delete and its wait,
//! describe, api-resources and explain. Writes are in `api_kubectl.rs`.

mod support;

use serde_json::{json, Value};
use support::kubectl::manifest;
use support::{eventually, stream, stream_path, streams_path, Server};

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

#[test]
fn an_unchunked_get_of_more_than_a_batch_reads_every_stream_in_one_list() {
    // More than the store's batch (500): written as it is read, over kubectl's HTTP/2.
    let ns = "kc-big";
    for n in 0..1_100 {
        let name = format!("s-{n:04}");
        server().create(&streams_path(ns), &stream(ns, &name, &[]));
    }
    let run = server().kubectl(&[
        "get",
        "is",
        "-n",
        ns,
        "--chunk-size=0",
        "-o",
        "json",
        "-v=6",
    ]);
    assert!(!run.stderr.contains("limit="), "{}", run.stderr);
    let list: Value = serde_json::from_str(&run.success()).expect("a JSON list");
    let names: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    let expected: Vec<String> = (0..1_100).map(|n| format!("s-{n:04}")).collect();
    assert!(names == expected, "{} streams listed", names.len());
}

#[test]
fn get_watch_prints_the_current_rows_then_each_change() {
    let ns = "kc-watch";
    server().create(&streams_path(ns), &stream(ns, "first", &[]));
    let mut watch =
        server().kubectl_running(&["get", "is", "-n", ns, "-w", "--output-watch-events"]);
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

    let mut named =
        server().kubectl_running(&["get", "is", "second", "-n", ns, "-w", "-o", "name"]);
    named.wait_for(&["imagestream.image.openshift.io/second"]);
    server()
        .kubectl(&["delete", "is", "first", "-n", ns])
        .success();
    watch.wait_for(&["DELETED", "first"]);
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
    let waiting = server().kubectl_running(&["delete", "is", "held", "-n", ns, "-v=6"]);
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
fn kubectl_lists_images_with_the_pull_spec_they_came_from() {
    let digest = format!("sha256:{}", "7".repeat(64));
    let reference = format!("quay.io/example/printed@{digest}");
    server().create(
        "/apis/image.openshift.io/v1/images",
        &json!({"apiVersion": "image.openshift.io/v1", "kind": "Image",
                "metadata": {"name": digest}, "dockerImageReference": reference}),
    );
    let printed = server().kubectl(&["get", "images", &digest]).success();
    let lines: Vec<Vec<&str>> = printed
        .lines()
        .map(|line| line.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["NAME", "IMAGE", "REFERENCE"], "{printed}");
    assert_eq!(lines[1], [digest.as_str(), reference.as_str()], "{printed}");
}

#[test]
fn a_missing_stream_is_reported_by_name_in_any_namespace() {
    // After a NotFound kubectl reads the namespace, and prints that error instead when the
    // namespace is missing too.
    for ns in ["default", "kc-missing"] {
        for verb in ["get", "describe"] {
            let error = server().kubectl(&[verb, "is", "nope", "-n", ns]).failure();
            assert!(
                error.contains("imagestreams.image.openshift.io \"nope\" not found"),
                "{verb} in {ns}: {error}"
            );
        }
    }
    let phase = server()
        .kubectl(&["get", "ns", "kc-missing", "-o", "jsonpath={.status.phase}"])
        .success();
    assert_eq!(phase, "Active");
}
