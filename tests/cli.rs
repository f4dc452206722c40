//! The offline commands, run from the built binary on real files: `resolve` pins manifests as
//! admission would, `explain` says why.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

#[path = "cli/krm.rs"]
mod krm;

const D8: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D57: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const REGISTRY: &str = "image-registry.openshift-image-registry.svc:5000";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn imagelookup(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagelookup"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut pipe = child.stdin.take().unwrap();
    match pipe.write_all(stdin.unwrap_or("").as_bytes()) {
        // A command refused before reading its input (bad arguments) may have exited and
        // closed the pipe already; its exit code and stderr say what happened.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        written => written.unwrap(),
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn yaml_documents(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|document| <Value as serde::Deserialize>::deserialize(document).unwrap())
        .collect()
}

/// `imagelookup resolve` of `input` (standard input) against the fixture streams, in `demo`.
fn resolve_in_demo(input: &str) -> Output {
    let streams = fixture("streams.yaml");
    let args = [
        "resolve",
        "-f",
        "-",
        "--imagestreams",
        &streams,
        "-n",
        "demo",
    ];
    imagelookup(&args, Some(input))
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn resolve_pins_short_names_in_every_workload_and_keeps_yaml() {
    let streams = fixture("streams.yaml");
    let workloads = fixture("workloads.yaml");
    let output = imagelookup(
        &[
            "resolve",
            "-f",
            &workloads,
            "--imagestreams",
            &streams,
            "-n",
            "demo",
        ],
        None,
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let documents = yaml_documents(&stdout(&output));
    assert_eq!(documents.len(), 4);

    let pod = &documents[0];
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("quay.io/example/mysql@{D8}")
    );
    assert_eq!(
        pod["spec"]["initContainers"][0]["image"], "php:latest",
        "php does not allow local lookup"
    );

    let deployment = &documents[1]["spec"]["template"]["spec"]["containers"];
    assert_eq!(
        deployment[0]["image"],
        format!("{REGISTRY}/demo/mysql@{D57}"),
        "Local reference policy"
    );
    assert_eq!(
        deployment[1]["image"], "quay.io/other/sidecar:1",
        "full references are left alone"
    );

    let cronjob = &documents[2]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        cronjob["image"],
        format!("{REGISTRY}/demo/mysql:latest"),
        "pull-through for a tag without image"
    );

    assert_eq!(
        documents[3]["data"]["image"], "mysql:8",
        "other kinds pass through untouched"
    );
    let warnings = stderr(&output);
    assert!(
        warnings.contains("warning: CronJob/backup"),
        "the unpinned pull-through is reported: {warnings}"
    );
}

/// An OpenShift Deployment whose containers an `image.openshift.io/triggers` annotation fills
/// (the blank images a template leaves): `resolve` writes each tag's newest image, splicing it
/// into the text, and says why a trigger whose tag has no image did nothing.
#[test]
fn resolve_applies_image_triggers_as_openshift_s_trigger_controller_would() {
    let deployment = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    image.openshift.io/triggers: >-
      [{"from":{"kind":"ImageStreamTag","name":"mysql:8"},
        "fieldPath":"spec.template.spec.containers[?(@.name==\"db\")].image"},
       {"from":{"kind":"ImageStreamTag","name":"mysql:9"},
        "fieldPath":"spec.template.spec.containers[?(@.name==\"next\")].image"}]
spec:
  template:
    spec:
      containers:
      - name: db
        image: " "   # set by the trigger
      - name: next
        image: " "
"#;
    let output = resolve_in_demo(deployment);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    let pinned = format!("quay.io/example/mysql@{D8}");
    assert!(
        text.contains(&format!("image: \"{pinned}\"   # set by the trigger")),
        "spliced, the comment kept:\n{text}"
    );
    let containers = &yaml_documents(&text)[0]["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["image"], pinned.as_str());
    assert_eq!(containers[1]["image"], " ", "mysql:9 has no image yet");
    let warnings = stderr(&output);
    assert!(
        warnings.contains("trigger from ImageStreamTag mysql:9: no image to write yet"),
        "{warnings}"
    );
}

/// A stream longer than one run (`manifest::runs`: 512 documents) is resolved run by run, and
/// comes out as it would whole: every document spliced in place, and a notice about a document
/// in the third run numbered from the stream's start.
#[test]
fn a_long_stream_is_resolved_run_by_run_as_it_would_be_whole() {
    let pod = |i: usize| {
        let image = match i {
            // An anchor another field aliases cannot be spliced: this document is re-written.
            1_049 => "&shared mysql:8\n    env: *shared".to_string(),
            _ => "mysql:8".to_string(),
        };
        format!(
            "---\n# pod {i}\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  \
             containers:\n  - name: c\n    image: {image}\n"
        )
    };
    let input: String = (0..1_100).map(pod).collect();
    let output = resolve_in_demo(&input);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    let pinned = format!("quay.io/example/mysql@{D8}");
    let spliced_before: String = (0..1_049)
        .map(|i| pod(i).replace("mysql:8", &pinned))
        .collect();
    assert!(
        text.starts_with(&spliced_before),
        "the first 1,049 documents spliced in place"
    );
    let documents = yaml_documents(&text);
    assert_eq!(documents.len(), 1_100);
    for (i, document) in documents.iter().enumerate() {
        assert_eq!(document["metadata"]["name"], format!("p{i}"));
        assert_eq!(
            document["spec"]["containers"][0]["image"],
            pinned.as_str(),
            "p{i}"
        );
    }
    let notices: Vec<String> = stderr(&output)
        .lines()
        .filter(|line| line.contains("reformatted"))
        .map(str::to_string)
        .collect();
    let [notice] = notices.as_slice() else {
        panic!("one document re-written: {notices:?}");
    };
    assert!(
        notice.starts_with("warning: document 1050 (Pod/p1049) was reformatted"),
        "{notice}"
    );
}

/// A syntax error in any run fails the whole stream before anything is written, with the
/// message (and line) the whole text gives.
#[test]
fn a_long_stream_with_a_broken_document_is_refused_whole() {
    let pod = |i: usize| {
        // Broken in the first run, where the cut would end the flow early, and in the third.
        let image = if i == 300 || i == 1_000 {
            "[mysql:8"
        } else {
            "mysql:8"
        };
        format!(
            "---\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers:\n  - image: {image}\n"
        )
    };
    let input: String = (0..1_100).map(pod).collect();
    let output = resolve_in_demo(&input);
    assert_eq!(output.status.code(), Some(2), "stderr: {}", stderr(&output));
    assert_eq!(stdout(&output), "");
    let whole = imagelookup::manifest::parse(&input, "-").unwrap_err();
    assert_eq!(stderr(&output), format!("error: {whole}\n"));
}

#[test]
fn resolve_reads_json_from_stdin_and_writes_json() {
    let streams = fixture("streams.yaml");
    let pod = std::fs::read_to_string(fixture("pod.json")).unwrap();
    let output = imagelookup(
        &["resolve", "-f", "-", "--imagestreams", &streams],
        Some(&pod),
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let resolved: Value = serde_json::from_str(&stdout(&output)).expect("one JSON object out");
    assert_eq!(
        resolved["spec"]["containers"][0]["image"],
        format!("quay.io/example/mysql@{D8}")
    );
    assert_eq!(resolved["metadata"]["name"], "json-pod");
}

#[test]
fn resolve_keeps_a_list_a_list() {
    let streams = fixture("streams.yaml");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "demo"},
         "spec": {"containers": [{"name": "c", "image": "mysql:8"}]}}]});
    let output = imagelookup(
        &["resolve", "-f", "-", "--imagestreams", &streams],
        Some(&list.to_string()),
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let resolved: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(resolved["kind"], "List");
    assert_eq!(
        resolved["items"][0]["spec"]["containers"][0]["image"],
        format!("quay.io/example/mysql@{D8}")
    );
}

#[test]
fn resolve_reads_the_items_of_a_typed_list_as_the_api_writes_them_without_a_kind() {
    let streams = fixture("streams.yaml");
    // As the API answers a list (`kubectl get --raw`, a client's list call): items have no kind.
    let list = json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
        {"metadata": {"name": "db", "namespace": "demo"},
         "spec": {"containers": [{"name": "m", "image": "mysql:8"}]}}]});
    let output = imagelookup(
        &["resolve", "-f", "-", "--imagestreams", &streams],
        Some(&list.to_string()),
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let resolved: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(resolved["kind"], "PodList");
    assert_eq!(
        resolved["items"][0]["spec"]["containers"][0]["image"],
        format!("quay.io/example/mysql@{D8}")
    );
    assert!(
        resolved["items"][0].get("kind").is_none(),
        "written back as read"
    );
}

#[test]
fn resolve_refuses_to_read_standard_input_twice() {
    let pod = std::fs::read_to_string(fixture("pod.json")).unwrap();
    let cases: [&[&str]; 3] = [
        &["resolve", "--imagestreams", "-"],
        &["resolve", "-f", "-", "--policy", "-"],
        &["resolve", "-f", "-", "--config", "-"],
    ];
    for args in cases {
        let output = imagelookup(args, Some(&pod));
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let error = stderr(&output);
        assert!(
            error.contains("standard input would be read by the manifests"),
            "{args:?}: {error}"
        );
        assert!(stdout(&output).is_empty(), "{args:?}");
    }
}

#[test]
fn resolve_under_a_required_policy_rejects_with_field_errors_and_exit_1() {
    let streams = fixture("streams.yaml");
    let policy = fixture("policy-required.yaml");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"containers": [{"name": "ok", "image": "mysql:8"}, {"name": "bad", "image": "nginx"}]}});
    let args = [
        "resolve",
        "-f",
        "-",
        "--imagestreams",
        &streams,
        "--policy",
        &policy,
    ];
    let output = imagelookup(&args, Some(&pod.to_string()));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).is_empty(),
        "nothing is written when an object is rejected"
    );
    let errors = stderr(&output);
    assert!(errors.contains("Pod \"web\" is invalid"), "{errors}");
    assert!(
        errors.contains("spec.containers[1].image: Forbidden: this image is prohibited by policy"),
        "{errors}"
    );
    assert!(
        !errors.contains("containers[0]"),
        "the resolvable reference is not reported: {errors}"
    );
}

#[test]
fn resolve_pins_custom_resources_at_the_pod_spec_path_the_policy_gives() {
    let streams = fixture("streams.yaml");
    let policy = fixture("policy-custom-resources.yaml");
    let manifests = "\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: demo}
spec:
  template:
    spec:
      containers:
      - {name: db, image: \"mysql:8\"}
---
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: demo}
spec:
  template:
    spec:
      containers:
      - {image: \"mysql:8\"}
---
apiVersion: example.com/v1
kind: Runner
metadata: {name: other, namespace: demo}
spec:
  template:
    spec:
      containers:
      - {image: \"mysql:8\"}
";
    let args = ["resolve", "--imagestreams", &streams, "--policy", &policy];
    let output = imagelookup(&args, Some(manifests));
    assert!(output.status.success(), "{}", stderr(&output));
    let documents = yaml_documents(&stdout(&output));
    let image = |index: usize| {
        documents[index]["spec"]["template"]["spec"]["containers"][0]["image"].clone()
    };
    let pinned = format!("quay.io/example/mysql@{D8}");
    assert_eq!(image(0), json!(pinned), "the Rollout");
    assert_eq!(image(1), json!(pinned), "the Knative Service");
    assert_eq!(
        image(2),
        json!("mysql:8"),
        "a custom resource with no rule is left as written"
    );
}

#[test]
fn resolve_reports_a_bad_streams_file_by_name_with_exit_2() {
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(broken.path(), "kind: ImageStream\nmetadata: [oops\n").unwrap();
    let path = broken.path().to_str().unwrap();
    let output = imagelookup(
        &[
            "resolve",
            "-f",
            &fixture("pod.json"),
            "--imagestreams",
            path,
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains(path) && error.contains("is not valid YAML"),
        "{error}"
    );
}

#[test]
fn resolve_refuses_yaml_whose_aliases_copy_many_times_its_size_naming_the_file_with_exit_2() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: app:latest\n";
    // A 100 KB string repeated 90 times: 9 MB of copies from 100 KB.
    let items = |alias: &str| vec![format!("*{alias}"); 9].join(", ");
    let bomb = format!(
        "  a: &a \"{}\"\n  b: &b [{}]\n  c: &c [{}]\n",
        "x".repeat(100_000),
        items("a"),
        items("b")
    );
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), format!("{pod}{bomb}")).unwrap();
    let path = file.path().to_str().unwrap();
    let streams = fixture("streams.yaml");
    let stream_bomb = tempfile::NamedTempFile::new().unwrap();
    let streams_text = std::fs::read_to_string(&streams).unwrap();
    std::fs::write(
        stream_bomb.path(),
        format!("x-bomb:\n{bomb}---\n{streams_text}"),
    )
    .unwrap();
    let stream_path = stream_bomb.path().to_str().unwrap();
    for (args, named) in [
        (["-f", path, "--imagestreams", &streams], path),
        (
            ["-f", &fixture("pod.json"), "--imagestreams", stream_path],
            stream_path,
        ),
    ] {
        let output = imagelookup(&[&["resolve"][..], &args[..]].concat(), None);
        assert_eq!(output.status.code(), Some(2), "{named}");
        let error = stderr(&output);
        assert!(
            error.contains(named) && error.contains("aliases expand this "),
            "{error}"
        );
    }

    // Anchors reused a few times, as Helm and compose write them, still resolve.
    let anchored = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: &labels {app: web}\n  annotations: *labels\nspec:\n  containers:\n  - &c {name: a, image: mysql:8}\n  - *c\n";
    let output = resolve_in_demo(anchored);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn resolve_reports_a_missing_policy_file_with_exit_2() {
    let output = imagelookup(
        &[
            "resolve",
            "-f",
            &fixture("pod.json"),
            "--policy",
            "/nonexistent/policy.yaml",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("/nonexistent/policy.yaml"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn explain_json_names_the_stream_tag_policy_and_result() {
    let streams = fixture("streams.yaml");
    let output = imagelookup(
        &[
            "explain",
            "mysql:5.7",
            "-n",
            "demo",
            "--imagestreams",
            &streams,
            "-o",
            "json",
        ],
        None,
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let explanation: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(explanation["reference"]["name"], "mysql");
    assert_eq!(explanation["reference"]["tag"], "5.7");
    assert_eq!(explanation["reference"]["registry"], "");
    assert_eq!(
        explanation["result"],
        format!("{REGISTRY}/demo/mysql@{D57}")
    );
    assert_eq!(explanation["matched"]["stream"], "mysql");
    assert_eq!(explanation["matched"]["referencePolicy"], "Local");
    assert!(
        explanation["reason"].as_str().unwrap().contains("mysql"),
        "{explanation}"
    );
}

#[test]
fn explain_says_why_a_stream_without_local_lookup_is_not_used() {
    let streams = fixture("streams.yaml");
    let output = imagelookup(
        &["explain", "php", "-n", "demo", "--imagestreams", &streams],
        None,
    );
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(
        text.contains("stream:     demo/php (found, lookupPolicy.local=false)"),
        "{text}"
    );
    assert!(text.contains("result:     unresolved"), "{text}");
    assert!(text.contains("lookupPolicy.local"), "{text}");
}

#[test]
fn explain_reports_a_parse_error_with_a_null_result() {
    let output = imagelookup(&["explain", "MySQL", "-o", "json"], None);
    assert!(output.status.success());
    let explanation: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        explanation["reference"]["error"],
        "repository name must be lowercase"
    );
    assert_eq!(explanation["result"], Value::Null);
}

/// The project's pinned kubectl (installed by `make test-deps`), else one on PATH.
fn kubectl() -> PathBuf {
    let pinned = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/kubectl");
    if pinned.exists() {
        pinned
    } else {
        PathBuf::from("kubectl")
    }
}

/// The objects of a YAML file as kubectl decodes them into its typed structs, offline
/// (`create --dry-run=client` would need a server for discovery; `label --local` does not).
fn kubectl_reads(yaml: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.yaml");
    std::fs::write(&path, yaml).unwrap();
    let output = Command::new(kubectl())
        .args(["label", "--local", "-o", "json", "checked=true", "-f"])
        .arg(&path)
        .output()
        .expect("kubectl runs");
    assert!(output.status.success(), "kubectl: {}", stderr(&output));
    serde_json::Deserializer::from_slice(&output.stdout)
        .into_iter::<Value>()
        .map(Result::unwrap)
        .collect()
}

fn resolve_yaml(input: &str) -> Output {
    let streams = fixture("streams.yaml");
    imagelookup(
        &["resolve", "-f", "-", "--imagestreams", &streams],
        Some(input),
    )
}

/// The audit's repro: quoted YAML 1.1 booleans, an octal mode and comments, next to references.
const GITOPS: &str = r#"# flags for the web tier
apiVersion: v1
kind: ConfigMap
metadata:
  name: flags
  namespace: demo
  annotations:
    example.com/enabled: "yes"
data:
  mode: "on"      # quoted on purpose
  answer: "n"
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      # the client
      - {name: c, image: "mysql:8", args: ["--debug", "y"], env: [{name: FEATURE, value: "off"}]}
      - name: side
        image: mysql:5.7   # plain stays plain
      volumes:
      - name: cfg
        configMap: {name: flags, defaultMode: 0644}
"#;

#[test]
fn resolve_yaml_output_is_the_input_with_only_the_references_replaced() {
    let output = resolve_yaml(GITOPS);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let expected = GITOPS
        .replace("\"mysql:8\"", &format!("\"quay.io/example/mysql@{D8}\""))
        .replace(
            "image: mysql:5.7",
            &format!("image: {REGISTRY}/demo/mysql@{D57}"),
        );
    assert_eq!(stdout(&output), expected);
    assert!(
        !stderr(&output).contains("reformatted"),
        "{}",
        stderr(&output)
    );

    let objects = kubectl_reads(&stdout(&output));
    let (config, deployment) = (&objects[0], &objects[1]["spec"]["template"]["spec"]);
    assert_eq!(
        config["metadata"]["annotations"]["example.com/enabled"],
        "yes"
    );
    assert_eq!(config["data"], json!({"mode": "on", "answer": "n"}));
    assert_eq!(deployment["containers"][0]["args"], json!(["--debug", "y"]));
    assert_eq!(deployment["containers"][0]["env"][0]["value"], "off");
    assert_eq!(deployment["volumes"][0]["configMap"]["defaultMode"], 420);
    let images = [
        &deployment["containers"][0]["image"],
        &deployment["containers"][1]["image"],
    ];
    let expected = [
        format!("quay.io/example/mysql@{D8}"),
        format!("{REGISTRY}/demo/mysql@{D57}"),
    ];
    assert_eq!(images, expected.map(Value::from).each_ref());
}

#[test]
fn resolve_leaves_list_items_without_rewrites_byte_identical() {
    let input = "apiVersion: v1\nkind: List\nitems:\n\
                 - {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: demo}, spec: {containers: [{name: c, image: 'php'}]}}  # as is\n\
                 - apiVersion: v1\n  kind: Pod\n  metadata: {name: b, namespace: demo}\n  spec:\n    containers:\n    - name: c\n      image: 'mysql:8'\n";
    let output = resolve_yaml(input);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let expected = input.replace("'mysql:8'", &format!("'quay.io/example/mysql@{D8}'"));
    assert_eq!(stdout(&output), expected);
}

#[test]
fn resolve_reformats_only_a_document_it_cannot_splice_and_keeps_it_safe_for_kubectl() {
    let kept = "# untouched\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: \"on\"}\n---\n";
    let shared = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: demo\n  annotations: {a: \"yes\", b: \"0644\"}\n\
                  x-containers: &c\n- name: a\n  image: mysql:8\nspec:\n  containers: *c\n\
                  \x20 volumes: [{name: v, configMap: {name: c, defaultMode: 0644}}]\n";
    let output = resolve_yaml(&format!("{kept}{shared}"));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with(kept), "{text}");
    assert!(
        stderr(&output).contains("warning: document 2 (Pod/p) was reformatted"),
        "{}",
        stderr(&output)
    );

    let pod = &kubectl_reads(&text)[1];
    assert_eq!(
        pod["metadata"]["annotations"],
        json!({"a": "yes", "b": "0644"})
    );
    assert_eq!(pod["spec"]["volumes"][0]["configMap"]["defaultMode"], 420);
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("quay.io/example/mysql@{D8}")
    );
}

/// Stream `demo/db`: tag "8" imported; "9" not imported yet; "10" failed to import; "cache" a
/// `reference: true` tag; "stable" follows "9".
const STREAMS_WITHOUT_IMAGES: &str = r#"
apiVersion: image.openshift.io/v1
kind: ImageStream
metadata: {name: db, namespace: demo}
spec:
  lookupPolicy: {local: true}
  tags:
  - name: "8"
    from: {kind: DockerImage, name: "quay.io/example/db:8"}
  - name: "9"
    from: {kind: DockerImage, name: "quay.io/example/db:9"}
  - name: "10"
    from: {kind: DockerImage, name: "quay.io/example/db:10"}
  - name: cache
    from: {kind: DockerImage, name: "quay.io/example/db:cache"}
    reference: true
  - name: stable
    from: {kind: ImageStreamTag, name: "db:9"}
status:
  dockerImageRepository: image-registry.openshift-image-registry.svc:5000/demo/db
  tags:
  - tag: "8"
    items:
    - created: "2026-11-01T10:00:00Z"
      dockerImageReference: quay.io/example/db@sha256:1111111111111111111111111111111111111111111111111111111111111111
      image: sha256:1111111111111111111111111111111111111111111111111111111111111111
      generation: 1
  - tag: "10"
    items: []
    conditions:
    - {type: ImportSuccess, status: "False", reason: NotFound, message: "manifest unknown", generation: 1}
  - tag: cache
    items:
    - created: "2026-11-01T10:00:00Z"
      dockerImageReference: quay.io/example/db:cache
      image: ""
      generation: 1
"#;

#[test]
fn resolve_warnings_tell_a_typo_an_unimported_tag_a_reference_tag_and_a_copy_apart() {
    let streams = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(streams.path(), STREAMS_WITHOUT_IMAGES).unwrap();
    let images = ["db:lastest", "db:9", "db:10", "db:cache", "db:stable"];
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web", "namespace": "demo"}, "spec": {"containers": containers}});
    let args = ["resolve", "-f", "-", "--imagestreams"];
    let path = streams.path().to_str().unwrap();
    let output = imagelookup(&[&args[..], &[path]].concat(), Some(&pod.to_string()));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let resolved: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for (i, image) in images.iter().enumerate() {
        let pulled = &resolved["spec"]["containers"][i]["image"];
        assert_eq!(pulled, &format!("{REGISTRY}/demo/{image}"), "pull-through");
    }
    let warning = |i: usize, summary: &str, detail: &str| {
        let (image, tag) = (images[i], images[i].trim_start_matches("db:"));
        format!(
            "warning: Pod/web: spec.containers[{i}].image: \"{image}\" not pinned: {summary}; \
             {detail}pulled by tag from {REGISTRY}/demo/db:{tag}, the stream's \
             status.dockerImageRepository (allowed by lookupPolicy.local=true)"
        )
    };
    let expected = [
        warning(
            0,
            "imagestream demo/db has no tag \"lastest\"; check the tag name, or add the tag to \
             spec.tags",
            "its tags: \"8\", \"9\", \"10\", \"cache\", \"stable\"; ",
        ),
        warning(
            1,
            "tag \"9\" of imagestream demo/db is not imported yet; nothing imports offline: \
             import the tag on the server and export the stream again",
            "",
        ),
        warning(
            2,
            "tag \"10\" of imagestream demo/db failed to import; the ImportSuccess condition of \
             its status.tags entry says why; once that is fixed it is imported at the next retry, \
             or at once when the tag's generation is set to 0",
            "",
        ),
        warning(
            3,
            "tag \"cache\" of imagestream demo/db has no image id (reference-only); set \
             reference: false on the spec tag to import it and pin a digest",
            "it only references \"quay.io/example/db:cache\"; reference: true tags are never \
             imported; ",
        ),
        warning(
            4,
            "tag \"stable\" of imagestream demo/db has nothing copied from tag \"9\" yet; it \
             gets an image as soon as tag \"9\" has one, so check that tag",
            "",
        ),
    ];
    let warnings = stderr(&output);
    let lines: Vec<&str> = warnings.lines().collect();
    assert_eq!(lines, expected, "{warnings}");
}

#[test]
fn explain_says_how_a_tag_lacks_an_image() {
    let streams = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(streams.path(), STREAMS_WITHOUT_IMAGES).unwrap();
    let path = streams.path().to_str().unwrap();
    let cases = [
        (
            "db:9",
            "tag \"9\" of imagestream demo/db is in spec.tags but not imported yet, so it is \
             pulled by tag from",
        ),
        (
            "db:lastest",
            "imagestream demo/db has no tag \"lastest\" (its tags: \"8\",",
        ),
        (
            "db:cache",
            "; set reference: false on the spec tag to import it and pin a digest",
        ),
        (
            "db:9",
            "; nothing imports offline: import the tag on the server and export the stream again",
        ),
    ];
    for (image, expected) in cases {
        let args = [
            "explain",
            image,
            "-n",
            "demo",
            "--imagestreams",
            path,
            "-o",
            "json",
        ];
        let output = imagelookup(&args, None);
        assert!(output.status.success(), "stderr: {}", stderr(&output));
        let explanation: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let reason = explanation["reason"].as_str().unwrap();
        assert!(reason.contains(expected), "{image}: {reason}");
    }
}

#[test]
fn streams_and_objects_that_name_no_namespace_or_an_empty_one_are_in_the_namespace_given_with_n() {
    // As the published OpenShift sample streams are written: no metadata.namespace.
    let dir = tempfile::tempdir().unwrap();
    let streams = dir.path().join("php.json");
    let stream = json!({
        "apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
        "metadata": {"name": "php"},
        "spec": {"lookupPolicy": {"local": true},
                 "tags": [{"name": "8.2", "from": {"kind": "DockerImage", "name": "quay.io/example/php:8.2"}}]},
        "status": {"dockerImageRepository": "", "tags": [{"tag": "8.2", "items": [{
            "created": "2026-11-01T10:00:00Z", "generation": 1, "image": D8,
            "dockerImageReference": format!("quay.io/example/php@{D8}")}]}]},
    });
    std::fs::write(&streams, stream.to_string()).unwrap();
    let streams = streams.to_string_lossy().into_owned();
    let pinned = format!("quay.io/example/php@{D8}");
    // kubectl, and the API server before admission, read an empty namespace as none given.
    for metadata in [
        json!({"name": "web"}),
        json!({"name": "web", "namespace": ""}),
    ] {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
                         "spec": {"containers": [{"name": "web", "image": "php:8.2"}]}});
        let output = imagelookup(
            &[
                "resolve",
                "-f",
                "-",
                "-n",
                "shop",
                "--imagestreams",
                &streams,
            ],
            Some(&pod.to_string()),
        );
        assert!(output.status.success(), "stderr: {}", stderr(&output));
        let resolved: Value = serde_json::from_str(&stdout(&output)).unwrap();
        let image = &resolved["spec"]["containers"][0]["image"];
        assert_eq!(image, &json!(pinned), "{metadata}");
    }

    // `-n ""` is no namespace given either: objects and streams naming none are in `default`.
    let mut in_default = stream.clone();
    in_default["metadata"]["namespace"] = json!("default");
    let defaulted = dir.path().join("default.json");
    std::fs::write(&defaulted, in_default.to_string()).unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                     "spec": {"containers": [{"name": "web", "image": "php:8.2"}]}});
    let defaulted = defaulted.to_string_lossy().into_owned();
    let args = ["resolve", "-f", "-", "-n", "", "--imagestreams", &defaulted];
    let output = imagelookup(&args, Some(&pod.to_string()));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let resolved: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(resolved["spec"]["containers"][0]["image"], json!(pinned));

    let explained = imagelookup(
        &[
            "explain",
            "php:8.2",
            "-n",
            "shop",
            "--imagestreams",
            &streams,
            "-o",
            "json",
        ],
        None,
    );
    let explanation: Value = serde_json::from_str(&stdout(&explained)).unwrap();
    assert_eq!(explanation["result"], pinned, "{explanation}");
}

#[test]
fn documents_kubectl_would_refuse_are_left_as_written_with_a_warning_each() {
    let input = "- a\n- b\n---\njust text\n---\napiVersion: v1\nmetadata: {name: nokind}\n---\n\
                 kind: Pod\nmetadata: {name: noversion}\n---\napiVersion: v1\nkind: Pod\n\
                 metadata: {name: db}\nspec:\n  containers:\n  - {name: db, image: mysql:8}\n";
    let output = resolve_in_demo(input);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let out = stdout(&output);
    assert!(out.starts_with("- a\n- b\n---\njust text\n---\n"), "{out}");
    assert!(
        out.contains(&format!("quay.io/example/mysql@{D8}")),
        "{out}"
    );
    let said = stderr(&output);
    for warning in [
        "a document: it is a list, not an object: kubectl would refuse it",
        "a document: it is a string, not an object",
        "document nokind: it names no kind",
        "Pod/noversion: it names no apiVersion",
    ] {
        assert!(said.contains(warning), "{warning}: {said}");
    }
}

#[test]
fn an_object_labelled_to_be_ignored_is_left_as_written_saying_so() {
    let input = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: legacy
  labels:
    imagelookup.io/ignore: "true"
spec:
  template:
    metadata:
      labels:
        imagelookup.io/ignore: "true"
    spec:
      containers:
      - name: db
        image: mysql:8
---
apiVersion: v1
kind: Pod
metadata:
  name: pinned
  labels:
    imagelookup.io/ignore: "false"
spec:
  containers:
  - name: db
    image: mysql:8
"#;
    let output = resolve_in_demo(input);
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let documents = yaml_documents(&stdout(&output));
    let image = &documents[0]["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(
        image, "mysql:8",
        "as the registration's objectSelector leaves it"
    );
    let image = &documents[1]["spec"]["containers"][0]["image"];
    assert_eq!(image, &json!(format!("quay.io/example/mysql@{D8}")));
    assert!(
        stderr(&output)
            .contains("Deployment/legacy: left as written: labelled imagelookup.io/ignore=true"),
        "{}",
        stderr(&output)
    );
    // The registration excludes the very label resolve reads.
    let registration = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("manifests/registration/mutatingwebhookconfiguration.yaml"),
    )
    .unwrap();
    assert!(
        registration.contains(&format!(
            "- key: {}\n      operator: NotIn\n      values: [\"true\"]",
            imagelookup::cli::IGNORE_LABEL
        )),
        "{registration}"
    );
}

#[test]
fn a_registry_hostname_no_reference_can_begin_with_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_string_lossy().into_owned();
    let pod = r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                  "spec": {"containers": [{"name": "web", "image": "mysql"}]}}"#;
    for bad in [
        "https://registry.example.com",
        "registry.example.com/",
        "registry",
        "a b",
    ] {
        let refused = [
            imagelookup(
                &["resolve", "-f", "-", "--registry-hostname", bad],
                Some(pod),
            ),
            imagelookup(&["explain", "mysql", "--registry-hostname", bad], None),
            imagelookup(
                &["serve", "--data-dir", &data_dir, "--registry-hostname", bad],
                None,
            ),
            imagelookup(
                &[
                    "serve",
                    "--data-dir",
                    &data_dir,
                    "--public-registry-hostname",
                    bad,
                ],
                None,
            ),
        ];
        for output in refused {
            assert_eq!(output.status.code(), Some(2), "{bad}: {}", stderr(&output));
            let said = format!("{bad:?} is not a registry host");
            assert!(
                stderr(&output).contains(&said),
                "{bad}: {}",
                stderr(&output)
            );
        }
    }
    let list = r#"{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": [],
                   "functionConfig": {"apiVersion": "imagelookup.io/v1alpha1", "kind": "ResolveImages",
                                      "metadata": {"name": "pin"},
                                      "spec": {"registryHostname": "https://registry.example.com"}}}"#;
    let output = imagelookup(&["resolve"], Some(list));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("the ResourceList's functionConfig: \"https://registry.example.com\" is not a registry host"), "{}", stderr(&output));
    for good in [
        "registry.example.com",
        "Registry.Example.com",
        "image-registry.svc:5000",
        "10.0.0.1:5000",
        "localhost",
        "localhost:5000",
        "none",
    ] {
        let output = imagelookup(&["explain", "mysql", "--registry-hostname", good], None);
        assert!(output.status.success(), "{good}: {}", stderr(&output));
    }
    assert!(
        !dir.path().join("store").exists(),
        "serve stopped before opening anything"
    );
}

#[test]
fn a_build_from_a_tag_the_stream_lacks_is_warned_about_the_tag_not_the_lookup_policy() {
    let streams = fixture("streams.yaml");
    let build = |tag: &str| {
        json!({"apiVersion": "build.openshift.io/v1", "kind": "Build",
               "metadata": {"name": "web-1", "namespace": "demo"},
               "spec": {"strategy": {"type": "Source", "sourceStrategy": {
                   "from": {"kind": "ImageStreamTag", "name": format!("php:{tag}")}}}}})
        .to_string()
    };
    let run = |tag: &str| {
        let output = imagelookup(
            &["resolve", "-f", "-", "--imagestreams", &streams],
            Some(&build(tag)),
        );
        assert!(output.status.success(), "stderr: {}", stderr(&output));
        stderr(&output)
    };
    let warned = run("7.3-ubi8");
    assert!(
        warned.contains(r#"imagestream demo/php has no tag "7.3-ubi8""#),
        "{warned}"
    );
    assert!(warned.contains(r#"its tags: "latest""#), "{warned}");
    assert!(!warned.contains("lookupPolicy.local false"), "{warned}");
    // A tag the stream has needs no lookup policy: nothing to say.
    assert_eq!(run("latest"), "");
}

#[test]
fn a_template_placeholder_image_left_for_a_trigger_is_passed_over_in_silence() {
    let streams = fixture("streams.yaml");
    let config = json!({"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
        "metadata": {"name": "db", "namespace": "demo"},
        "spec": {"template": {"spec": {"containers": [
            {"name": "blank", "image": " "}, {"name": "empty", "image": ""},
            {"name": "upper", "image": "MySQL"}]}}}});
    let output = imagelookup(
        &["resolve", "-f", "-", "--imagestreams", &streams],
        Some(&config.to_string()),
    );
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let warned = stderr(&output);
    assert!(!warned.contains("containers[0]"), "{warned}");
    assert!(!warned.contains("containers[1]"), "{warned}");
    // A reference somebody wrote that does not parse is still reported.
    assert!(
        warned.contains("containers[2].image: \"MySQL\" not resolved"),
        "{warned}"
    );
}

#[test]
fn a_template_comes_back_unchanged_with_a_note_to_process_it_first() {
    let template = json!({"apiVersion": "template.openshift.io/v1", "kind": "Template",
        "metadata": {"name": "mysql-persistent"},
        "objects": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"},
                     "spec": {"containers": [{"name": "db", "image": "mysql:8"}]}}]});
    let output = imagelookup(&["resolve", "-f", "-"], Some(&template.to_string()));
    assert!(output.status.success(), "stderr: {}", stderr(&output));
    let unchanged: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(unchanged, template);
    let note = stderr(&output);
    assert!(
        note.contains(
            "Template/mysql-persistent: a template's objects are resolved once it is processed"
        ),
        "{note}"
    );
}

/// The README's flag table is what newcomers read: a `serve` flag it does not name is one nobody
/// learns of.
#[test]
fn every_serve_flag_is_named_in_the_readme() {
    use clap::Args;
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("the README");
    let command = imagelookup::cli::serve::ServeArgs::augment_args(clap::Command::new("serve"));
    let missing: Vec<String> = command
        .get_arguments()
        .filter_map(|argument| argument.get_long())
        .map(|long| format!("--{long}"))
        .filter(|flag| !readme.contains(&format!("`{flag}")))
        .collect();
    assert!(
        missing.is_empty(),
        "serve flags the README does not name: {missing:?}"
    );
}

#[test]
fn registry_hostname_none_pins_an_openshift_export_s_local_tags_at_their_source() {
    let streams = fixture("streams.yaml");
    let pod = |image: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: db, namespace: demo}}\nspec:\n  \
             containers:\n  - {{name: db, image: \"{image}\"}}\n"
        )
    };
    let run = |image: &str, extra: &[&str]| {
        let mut args = vec!["resolve", "-f", "-", "--imagestreams", &streams];
        args.extend_from_slice(extra);
        imagelookup(&args, Some(&pod(image)))
    };
    let resolved = |image: &str, extra: &[&str]| {
        let output = run(image, extra);
        assert!(output.status.success(), "{}", stderr(&output));
        let written = yaml_documents(&stdout(&output))[0]["spec"]["containers"][0]["image"].clone();
        (written, stderr(&output))
    };
    let none = ["--registry-hostname", "none"];
    // The export names the OpenShift cluster's registry, which this cluster has not.
    let (exported, _) = resolved("mysql:5.7", &[]);
    assert_eq!(exported, format!("{REGISTRY}/demo/mysql@{D57}"));
    let (local, _) = resolved("mysql:5.7", &none);
    assert_eq!(local, format!("quay.io/example/mysql@{D57}"));

    // A tag not imported yet has nowhere to be pulled through here: it is pulled by tag from
    // its own source, where the name as written would pull docker.io/library/mysql:9.
    let (pending, warned) = resolved("mysql:9", &none);
    assert_eq!(pending, "quay.io/example/mysql:9");
    assert!(warned.contains("pulled by tag from its source"), "{warned}");
    // A tag the stream does not have has no source either: refused, exit 1.
    let refused = run("mysql:nope", &none);
    assert_eq!(refused.status.code(), Some(1), "{}", stdout(&refused));
    let errors = stderr(&refused);
    assert!(errors.contains("no integrated registry"), "{errors}");
}

#[test]
fn resolve_prints_every_warning_whole_however_many_there_are() {
    // Past kube-apiserver's 4,096 characters the webhook sends short forms and a count of the
    // rest; a pipeline has no such limit.
    let containers: String = (0..40)
        .map(|n| format!("      - {{name: c{n}, image: \"mysql:typo{n}\"}}\n"))
        .collect();
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: demo}}\n\
         spec:\n  template:\n    spec:\n      containers:\n{containers}"
    );
    let output = resolve_in_demo(&deployment);
    assert!(output.status.success(), "{}", stderr(&output));
    let warnings = stderr(&output);
    assert!(!warnings.contains("left out"), "{warnings}");
    for n in 0..40 {
        let quoted = format!("\"mysql:typo{n}\"");
        assert!(warnings.contains(&quoted), "{quoted} in {warnings}");
    }
    // Whole: the stream's tags are listed, which the short forms leave out.
    assert!(warnings.contains("its tags:"), "{warnings}");
}
