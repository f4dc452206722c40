//! The mutating admission webhook end to end: a whole `imagelookup serve` on 127.0.0.1 over
//! TLS (clients trust only its generated CA), streams written through the ImageStream API and
//! "imported" through `/status`, then AdmissionReviews sent to `/mutate`. Every returned patch
//! is applied to the submitted object and the result compared with the expected object.

mod common;
mod webhook_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use webhook_support::{
    admit, default_server, patch_of, patched, pod, pod_spec, required_server, tag, trusting, with,
    Api, Review, Server, BUILD, CRONJOB, D1, D2, D3, DEPLOYMENT, EPHEMERAL, JOB, POD, REGISTRY,
    STATEFULSET,
};

const MYSQL_8: &str =
    "quay.io/example/mysql@sha256:1111111111111111111111111111111111111111111111111111111111111111";
const MYSQL_LATEST: &str =
    "quay.io/example/mysql@sha256:3333333333333333333333333333333333333333333333333333333333333333";
const RUBY_3: &str =
    "quay.io/example/ruby@sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// `mysql:5.7` has a Local reference policy: it pins to the integrated registry.
fn mysql_57(namespace: &str) -> String {
    format!("{REGISTRY}/{namespace}/mysql@{D2}")
}

/// Streams in `namespace`, imported: `mysql` (lookup on; tags `8` Source, `5.7` Local,
/// `latest` Source) and `ruby` (lookup off; tag `3`).
async fn seed<'a>(server: &'a Server, namespace: &str) -> Api<'a> {
    let api = Api::new(server, namespace);
    let mysql_tags = json!([
        tag("8", "quay.io/example/mysql:8", "Source"),
        tag("5.7", "quay.io/example/mysql:5.7", "Local"),
        tag("latest", "quay.io/example/mysql:latest", "Source"),
    ]);
    api.create_stream("mysql", true, mysql_tags).await;
    let imported = api
        .import(
            "mysql",
            &[
                ("8", MYSQL_8, D1),
                ("5.7", &format!("quay.io/example/mysql@{D2}"), D2),
                ("latest", MYSQL_LATEST, D3),
            ],
        )
        .await;
    assert_eq!(
        imported["status"]["dockerImageRepository"],
        format!("{REGISTRY}/{namespace}/mysql")
    );
    let ruby_tags = json!([tag("3", "quay.io/example/ruby:3", "Source")]);
    api.create_stream("ruby", false, ruby_tags).await;
    api.import("ruby", &[("3", RUBY_3, D3)]).await;
    api
}

/// Admits `review` on `server`, checks it is allowed, and compares the patched object with
/// `expected`; returns the response.
async fn check(server: &Server, review: &Review, expected: &Value) -> Value {
    let response = admit(server, review).await;
    assert_eq!(response["allowed"], true, "{response}");
    assert_eq!(&patched(&review.object, &response), expected, "{response}");
    response
}

fn deployment(name: &str, template_metadata: Value, containers: &[(&str, &str)]) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": template_metadata, "spec": pod_spec(containers)}}})
}

fn job(name: &str, image: &str) -> Value {
    json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
           "spec": {"template": {"spec": {"containers": [{"name": "work", "image": image}],
                                          "restartPolicy": "Never"}}}})
}

#[tokio::test]
async fn a_pod_gets_short_names_pinned_through_source_and_local_reference_policies() {
    let server = default_server();
    seed(server, "pods").await;
    let object = pod(
        "db",
        &[("a", "mysql:8"), ("b", "mysql:5.7"), ("c", "mysql")],
    );
    let mut expected = with(&object, "/spec/containers/0/image", MYSQL_8);
    expected = with(&expected, "/spec/containers/1/image", &mysql_57("pods"));
    expected = with(&expected, "/spec/containers/2/image", MYSQL_LATEST);
    let response = check(server, &Review::create(POD, "pods", object), &expected).await;
    assert!(response.get("warnings").is_none(), "{response}");
    assert!(response.get("status").is_none(), "{response}");
}

#[tokio::test]
async fn init_containers_of_a_statefulset_template_are_pinned_too() {
    let server = default_server();
    seed(server, "statefulsets").await;
    let object = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}},
                              "spec": {"initContainers": [{"name": "init", "image": "mysql:5.7"}],
                                       "containers": [{"name": "db", "image": "mysql:8"}]}}}});
    let expected = with(
        &with(
            &object,
            "/spec/template/spec/initContainers/0/image",
            &mysql_57("statefulsets"),
        ),
        "/spec/template/spec/containers/0/image",
        MYSQL_8,
    );
    check(
        server,
        &Review::create(STATEFULSET, "statefulsets", object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_deployment_template_is_pinned_and_unknown_fields_survive() {
    let server = default_server();
    seed(server, "deployments").await;
    let mut object = deployment(
        "web",
        json!({"labels": {"app": "web"}}),
        &[("db", "mysql:8")],
    );
    object["spec"]["template"]["spec"]["containers"][0]["x-vendor"] = json!({"keep": [1, 2]});
    let expected = with(&object, "/spec/template/spec/containers/0/image", MYSQL_8);
    check(
        server,
        &Review::create(DEPLOYMENT, "deployments", object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_cronjob_job_template_is_pinned() {
    let server = default_server();
    seed(server, "cronjobs").await;
    let object = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "backup"},
        "spec": {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "dump", "image": "mysql:5.7"}], "restartPolicy": "OnFailure"}}}}}});
    let pointer = "/spec/jobTemplate/spec/template/spec/containers/0/image";
    let expected = with(&object, pointer, &mysql_57("cronjobs"));
    check(
        server,
        &Review::create(CRONJOB, "cronjobs", object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_build_pins_its_docker_image_from_and_keeps_an_image_stream_tag_as_written() {
    let server = default_server();
    seed(server, "builds").await;
    let object = json!({"apiVersion": "build.openshift.io/v1", "kind": "Build",
        "metadata": {"name": "app-1"},
        "spec": {"source": {"images": [{"from": {"kind": "ImageStreamTag", "name": "ruby:3"},
                                        "paths": [{"sourcePath": "/x", "destinationDir": "y"}]}]},
                 "strategy": {"type": "Docker", "dockerStrategy": {
                     "from": {"kind": "DockerImage", "name": "mysql:8"}}},
                 "output": {"to": {"kind": "ImageStreamTag", "name": "app:latest"}}}});
    let mut expected = object.clone();
    expected["spec"]["strategy"]["dockerStrategy"]["from"] =
        json!({"kind": "DockerImage", "name": MYSQL_8});
    let response = check(server, &Review::create(BUILD, "builds", object), &expected).await;
    let rewrites = audit_rewrites(&response);
    assert_eq!(rewrites[0]["path"], "spec.strategy.dockerStrategy.from");
}

#[tokio::test]
async fn an_ephemeral_container_is_pinned_on_the_subresource_even_on_an_owned_pod() {
    let server = default_server();
    seed(server, "debug").await;
    let mut old = pod("db-0", &[("db", "mysql:5.7")]);
    old["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "StatefulSet",
        "name": "db", "uid": "6f1e0c5a-0000-4000-8000-000000000001", "controller": true}]);
    let mut object = old.clone();
    object["spec"]["ephemeralContainers"] =
        json!([{"name": "debugger", "image": "mysql:8", "targetContainerName": "db"}]);
    let expected = with(&object, "/spec/ephemeralContainers/0/image", MYSQL_8);
    let review = Review::update(EPHEMERAL, "debug", old, object);
    check(server, &review, &expected).await;
}

#[tokio::test]
async fn required_mode_rejects_unresolvable_references_with_openshifts_422() {
    let server = required_server();
    seed(server, "strict").await;
    let object = pod(
        "web",
        &[
            ("a", "mysql:8"),
            ("b", "docker.io/library/nginx:1"),
            ("c", "nosuch:1"),
        ],
    );
    let response = admit(server, &Review::create(POD, "strict", object)).await;
    assert_eq!(response["allowed"], false);
    assert!(response.get("patch").is_none(), "{response}");
    let status = &response["status"];
    assert_eq!(status["code"], 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(
        status["message"],
        "Pod \"web\" is invalid: [spec.containers[1].image: Forbidden: this image is prohibited \
         by policy: (docker.io/library/nginx:1) could not be resolved to an exact image \
         reference, spec.containers[2].image: Forbidden: this image is prohibited by policy: ]"
    );
}

#[tokio::test]
async fn required_mode_still_pins_when_every_reference_resolves() {
    let server = required_server();
    seed(server, "strict-ok").await;
    let object = pod("web", &[("a", "mysql:8")]);
    let expected = with(&object, "/spec/containers/0/image", MYSQL_8);
    check(server, &Review::create(POD, "strict-ok", object), &expected).await;
}

#[tokio::test]
async fn attempt_mode_passes_unresolvable_references_through_and_warns_about_lookup_off() {
    let server = default_server();
    seed(server, "attempt").await;
    let object = pod(
        "web",
        &[
            ("a", "ruby:3"),
            ("b", "docker.io/library/nginx:1"),
            ("c", "nosuch:1"),
        ],
    );
    let response = check(
        server,
        &Review::create(POD, "attempt", object.clone()),
        &object,
    )
    .await;
    assert!(response.get("patch").is_none(), "{response}");
    assert_eq!(
        response["warnings"],
        json!([
            "spec.containers[0].image: \"ruby:3\" not rewritten: image stream \"ruby\" has \
                spec.lookupPolicy.local false; set it to true or add the resolve-names annotation"
        ])
    );
}

#[tokio::test]
async fn a_controller_owned_pod_is_left_alone() {
    let server = default_server();
    seed(server, "owned").await;
    let mut object = pod("web-abc12", &[("a", "mysql:8")]);
    object["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1",
        "kind": "ReplicaSet", "name": "web-abc", "uid": "u", "controller": true}]);
    let response = check(
        server,
        &Review::create(POD, "owned", object.clone()),
        &object,
    )
    .await;
    assert!(response.get("patch").is_none(), "{response}");

    // The same pod without a controlling owner is pinned: the skip is about the owner.
    object["metadata"]["ownerReferences"][0]["controller"] = json!(false);
    let expected = with(&object, "/spec/containers/0/image", MYSQL_8);
    check(server, &Review::create(POD, "owned", object), &expected).await;
}

#[tokio::test]
async fn an_update_resolves_only_changed_containers() {
    let server = default_server();
    seed(server, "updates").await;
    let old = deployment("web", json!({}), &[("db", "mysql:8")]);
    let object = deployment(
        "web",
        json!({}),
        &[("db", "mysql:8"), ("cache", "mysql:5.7")],
    );
    let expected = with(
        &object,
        "/spec/template/spec/containers/1/image",
        &mysql_57("updates"),
    );
    check(
        server,
        &Review::update(DEPLOYMENT, "updates", old, object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_job_is_pinned_on_create_but_never_rewritten_on_update() {
    let server = default_server();
    seed(server, "jobs").await;
    let created = job("once", "mysql:8");
    let expected = with(&created, "/spec/template/spec/containers/0/image", MYSQL_8);
    check(
        server,
        &Review::create(JOB, "jobs", created.clone()),
        &expected,
    )
    .await;

    let changed = with(
        &created,
        "/spec/template/spec/containers/0/image",
        "mysql:5.7",
    );
    let response = check(
        server,
        &Review::update(JOB, "jobs", created, changed.clone()),
        &changed,
    )
    .await;
    assert!(response.get("patch").is_none(), "{response}");
}

#[tokio::test]
async fn the_resolve_names_annotation_forces_lookup_even_when_added_on_update() {
    let server = default_server();
    seed(server, "forced").await;
    let forced = json!({"annotations": {"alpha.image.policy.openshift.io/resolve-names": "*"}});
    let containers = [("a", "ruby:3"), ("b", "quay.io/elsewhere/ruby:3")];
    let object = deployment("web", forced.clone(), &containers);
    let expected = with(
        &with(&object, "/spec/template/spec/containers/0/image", RUBY_3),
        "/spec/template/spec/containers/1/image",
        RUBY_3,
    );
    check(
        server,
        &Review::create(DEPLOYMENT, "forced", object.clone()),
        &expected,
    )
    .await;

    // Adding the annotation to a stored Deployment re-resolves its unchanged images.
    let old = deployment("web", json!({}), &containers);
    check(
        server,
        &Review::update(DEPLOYMENT, "forced", old, object),
        &expected,
    )
    .await;
}

#[tokio::test]
async fn a_stream_written_through_the_api_is_seen_by_the_very_next_admission() {
    let server = default_server();
    let api = Api::new(server, "fresh");
    let object = pod("cache", &[("redis", "redis:7")]);
    let review = || Review::create(POD, "fresh", object.clone());

    api.create_stream(
        "redis",
        true,
        json!([tag("7", "quay.io/example/redis:7", "Source")]),
    )
    .await;
    let pull_through = format!("{REGISTRY}/fresh/redis:7");
    let response = check(
        server,
        &review(),
        &with(&object, "/spec/containers/0/image", &pull_through),
    )
    .await;
    assert_eq!(
        response["warnings"],
        json!([format!(
            "spec.containers[0].image: \"redis:7\" rewritten to \"{pull_through}\", \
            which is not pinned: tag \"7\" of image stream \"redis\" has no image yet; import \
            the tag to pin a digest"
        )])
    );

    let digest = format!("quay.io/example/redis@{D1}");
    api.import("redis", &[("7", &digest, D1)]).await;
    check(
        server,
        &review(),
        &with(&object, "/spec/containers/0/image", &digest),
    )
    .await;

    api.delete_stream("redis").await;
    let response = check(server, &review(), &object).await;
    assert!(response.get("patch").is_none(), "{response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admissions_racing_stream_writes_see_each_write_once_it_returns_and_never_go_back() {
    let server = default_server();
    let api = Api::new(server, "racing");
    let object = pod("cache", &[("redis", "redis:7")]);
    api.create_stream(
        "redis",
        true,
        json!([tag("7", "quay.io/example/redis:7", "Source")]),
    )
    .await;
    let digest = |n: u64| format!("sha256:{n:064x}");
    let generation_of = |image: &str| -> u64 {
        let hex = image.rsplit_once("@sha256:").map_or("0", |(_, hex)| hex);
        u64::from_str_radix(hex, 16).expect("a digest this test wrote")
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (object, stop) = (object.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut newest, mut seen) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let review = Review::create(POD, "racing", object.clone());
                let response = admit(server, &review).await;
                let image = patched(&object, &response)["spec"]["containers"][0]["image"].clone();
                let generation = generation_of(image.as_str().unwrap());
                assert!(
                    generation >= newest,
                    "went back from {newest} to {generation}"
                );
                (newest, seen) = (generation, seen + 1);
            }
            seen
        })
    };
    for n in 1..=20 {
        let pinned = format!("quay.io/example/redis@{}", digest(n));
        api.import("redis", &[("7", &pinned, &digest(n))]).await;
        let response = admit(server, &Review::create(POD, "racing", object.clone())).await;
        let expected = with(&object, "/spec/containers/0/image", &pinned);
        assert_eq!(patched(&object, &response), expected, "write {n}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.await.expect("the reader saw no regression");
    assert!(seen > 0);
}

#[tokio::test]
async fn a_dry_run_is_answered_exactly_like_the_real_request() {
    let server = default_server();
    seed(server, "dryrun").await;
    let object = pod("web", &[("a", "mysql:8"), ("b", "ruby:3")]);
    let real = admit(server, &Review::create(POD, "dryrun", object.clone())).await;
    let mut dry = Review::create(POD, "dryrun", object);
    dry.dry_run = true;
    let mut dry_response = admit(server, &dry).await;
    assert_ne!(dry_response["uid"], real["uid"]);
    dry_response["uid"] = real["uid"].clone();
    assert_eq!(dry_response, real);
    assert!(patch_of(&real).is_some(), "{real}");
}

#[tokio::test]
async fn an_already_pinned_pod_gets_no_patch() {
    let server = default_server();
    seed(server, "pinned").await;
    let object = pod("web", &[("a", "mysql:8")]);
    let first = admit(server, &Review::create(POD, "pinned", object.clone())).await;
    let pinned = patched(&object, &first);
    let again = admit(server, &Review::create(POD, "pinned", pinned)).await;
    assert_eq!(again["allowed"], true);
    assert!(again.get("patch").is_none(), "{again}");
    assert!(again.get("patchType").is_none(), "{again}");
    assert!(again.get("auditAnnotations").is_none(), "{again}");
}

#[tokio::test]
async fn audit_annotations_record_each_original_and_resolved_reference() {
    let server = default_server();
    seed(server, "audit").await;
    let object = pod("web", &[("a", "mysql:8"), ("b", "mysql:5.7")]);
    let response = admit(server, &Review::create(POD, "audit", object)).await;
    let rewrites = audit_rewrites(&response);
    let summary: Vec<(&str, &str, &str)> = rewrites
        .iter()
        .map(|rewrite| {
            let text = |key: &str| rewrite[key].as_str().unwrap_or_default();
            (text("path"), text("from"), text("to"))
        })
        .collect();
    let local = mysql_57("audit");
    assert_eq!(
        summary,
        [
            ("spec.containers[0].image", "mysql:8", MYSQL_8),
            ("spec.containers[1].image", "mysql:5.7", local.as_str()),
        ]
    );
    assert!(
        rewrites.iter().all(|rewrite| rewrite["reason"] != ""),
        "{rewrites:?}"
    );
}

fn audit_rewrites(response: &Value) -> Vec<Value> {
    let text = response["auditAnnotations"]["rewrites"]
        .as_str()
        .unwrap_or_else(|| panic!("a rewrites audit annotation: {response}"));
    serde_json::from_str(text).expect("the audit annotation is JSON")
}

#[tokio::test]
async fn a_body_that_is_not_an_admission_review_is_a_400_with_a_reason() {
    let server = default_server();
    let client = server.client();
    let bodies = [
        ("hello", "not an admission.k8s.io/v1 AdmissionReview"),
        (
            r#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview"}"#,
            "admissionReviewVersions",
        ),
        (
            r#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#,
            "has no request",
        ),
    ];
    for (body, reason) in bodies {
        let response = client
            .post(server.url("/mutate"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        let message = answer["response"]["status"]["message"].as_str().unwrap();
        assert!(message.contains(reason), "{message}");
        assert_eq!(answer["response"]["allowed"], false);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let server = default_server();
    let oversized = vec![b' '; imagelookup::webhook::MAX_REVIEW_BYTES + 1];
    let response = server
        .client()
        .post(server.url("/mutate"))
        .header("content-type", "application/json")
        .body(oversized)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn metrics_count_admissions_by_outcome_with_latency_buckets_past_ten_seconds() {
    let server = default_server();
    seed(server, "metrics").await;
    let object = pod("web", &[("a", "mysql:8")]);
    admit(server, &Review::create(POD, "metrics", object)).await;
    let text = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let patched_pods = metric(
        &text,
        "imagelookup_admission_requests_total{kind=\"Pod\",operation=\"CREATE\",outcome=\"Patched\"}",
    );
    assert!(patched_pods >= 1.0, "{text}");
    let count = metric(&text, "imagelookup_admission_duration_seconds_count");
    assert!(count >= patched_pods, "{text}");
    for bucket in ["10.0", "30.0", "+Inf"] {
        let name = format!("imagelookup_admission_duration_seconds_bucket{{le=\"{bucket}\"}}");
        assert!(metric(&text, &name) >= patched_pods, "{name}: {text}");
    }
    assert!(metric(&text, "imagelookup_rewrites_total{reason=\"pinned\"}") >= 1.0);
}

/// The value of the sample named exactly `name` in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_an_admission_record() {
    common::setup();
    let data = common::temp_dir();
    // A token file of our own: without one, `serve` also prints a plain-text welcome banner.
    let tokens = data.path().join("tokens.csv");
    std::fs::write(&tokens, "t0ken,admin,admin,\"system:masters\"\n").unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_imagelookup"))
            .args([
                "serve",
                "--log-format",
                "json",
                "--listen",
                "127.0.0.1:0",
                "--store",
                "memory:",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--token-file")
            .arg(&tokens)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start imagelookup serve"),
    );
    let lines = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let (sender, receiver) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .for_each(|line| drop(sender.send(line)))
    });
    let next_record = || -> Value {
        let line = receiver
            .recv_timeout(common::PATIENCE)
            .expect("a log line in time");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object: {line:?}: {e}"))
    };

    let serving = std::iter::repeat_with(next_record)
        .find(|record| record["message"] == "imagelookup serving")
        .unwrap();
    let address = serving["address"]
        .as_str()
        .expect("the address is logged")
        .to_string();
    let ca = std::fs::read(data.path().join("tls").join("ca.crt")).unwrap();
    let client = trusting(&ca);
    let review = Review::create(POD, "logs", pod("web", &[("a", "mysql:8")]));
    let answer: Value = client
        .post(format!("https://{address}/mutate"))
        .json(&review.body())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["response"]["uid"], review.uid);

    let record = std::iter::repeat_with(next_record)
        .find(|record| record["message"] == "admission")
        .unwrap();
    assert_eq!(record["uid"], review.uid);
    assert_eq!(record["kind"], "Pod");
    assert_eq!(record["namespace"], "logs");
    assert_eq!(record["operation"], "CREATE");
    assert_eq!(record["outcome"], "Allowed");
    assert_eq!(record["level"], "INFO");
    assert!(record["duration_us"].is_u64(), "{record}");
}

/// A child process killed (and reaped) when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
