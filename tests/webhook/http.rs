//! The HTTP edges: bodies that are not reviews, oversized bodies, `/metrics`, JSON logs.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::Receiver;

use super::*;

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
        (
            r#"{"apiVersion": "admission.k8s.io/v1", "kind": "Foo", "request": {"uid": "x"}}"#,
            r#"unsupported kind "Foo" (apiVersion "admission.k8s.io/v1")"#,
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
        let uid = if body.contains(r#""uid""#) { "x" } else { "" };
        assert_eq!(
            answer["response"]["uid"], uid,
            "the uid is echoed when there is one"
        );
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413_review_saying_so() {
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
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["allowed"], false);
    let status = &answer["response"]["status"];
    assert_eq!(status["reason"], "RequestEntityTooLarge");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("larger than the webhook's limit of 7340032 bytes"),
        "{message}"
    );
}

#[tokio::test]
async fn metrics_count_admissions_by_outcome_with_latency_buckets_past_ten_seconds() {
    // A server of this test's own: the shared ones count the other tests' admissions too.
    let data = common::temp_dir();
    let (_child, lines) = serve_json(data.path(), &["--registry-hostname", REGISTRY]);
    let server = &own_server(data.path(), &lines).await;
    seed(server, "metrics").await;
    let object = pod(
        "web",
        &[("a", "mysql:8"), ("b", "mysql:9"), ("c", "ruby:3")],
    );
    admit(server, &Review::create(POD, "metrics", object)).await;
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let response = server
        .client()
        .get(server.url("/metrics"))
        .header("accept", prometheus)
        .send()
        .await
        .unwrap();
    // OpenMetrics, labelled so: as text/plain a scraper would find no type for the counters.
    let content_type = &response.headers()["content-type"];
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE imagelookup_admission_requests counter\n"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
    // Anything else (curl, a script) gets Prometheus' classic text, counters named for their samples.
    let classic = server
        .client()
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        classic.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let classic = classic.text().await.unwrap();
    assert!(
        classic.contains("# TYPE imagelookup_admission_requests_total counter\n"),
        "{classic}"
    );
    assert!(!classic.contains("# EOF"), "{classic}");
    // The one admission of this server, and nothing else.
    let patched_pods = metric(
        &text,
        "imagelookup_admission_requests_total{kind=\"Pod\",operation=\"CREATE\",outcome=\"Patched\"}",
    );
    assert_eq!(patched_pods, 1.0, "{text}");
    let count = metric(&text, "imagelookup_admission_duration_seconds_count");
    assert_eq!(count, 1.0, "{text}");
    // Buckets reach past ten seconds (the kube-apiserver waits up to 30 s). What the finite
    // ones hold depends on the machine's load; +Inf holds the one admission.
    let bucket = |le: &str| format!("imagelookup_admission_duration_seconds_bucket{{le=\"{le}\"}}");
    for le in ["10.0", "30.0"] {
        let sample = format!("\n{} ", bucket(le));
        assert!(text.contains(&sample), "no {sample:?} in: {text}");
    }
    assert_eq!(metric(&text, &bucket("+Inf")), 1.0, "{text}");
    // mysql:8 is pinned; mysql has no tag 9 (pulled through by tag), ruby's lookup is not
    // local: each says why.
    for (name, expected) in [
        ("imagelookup_rewrites_total{reason=\"pinned\"}", 1.0),
        ("imagelookup_rewrites_total{reason=\"pull_through\"}", 1.0),
        (
            "imagelookup_unresolved_references_total{reason=\"not_pinned\"}",
            1.0,
        ),
        (
            "imagelookup_unresolved_references_total{reason=\"local_not_allowed\"}",
            1.0,
        ),
    ] {
        assert_eq!(metric(&text, name), expected, "{name}: {text}");
    }
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
    let data = common::temp_dir();
    let (_child, receiver) = serve_json(data.path(), &[]);
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
    // As a Service would: no admission before the index is loaded (until then /mutate is 503).
    common::eventually("the server to be ready", || {
        let readyz = client.get(format!("https://{address}/readyz")).send();
        async move { (readyz.await.ok()?.status() == 200).then_some(()) }
    })
    .await;
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

/// `imagelookup serve` with JSON logs at info, as a process of its own on a free port of
/// 127.0.0.1, in `data` with the admin token `t0ken`, and `flags`; its log lines arrive on
/// the channel.
fn serve_json(data: &Path, flags: &[&str]) -> (Killed, Receiver<String>) {
    common::setup();
    // A token file of our own: without one, `serve` also prints a plain-text welcome banner.
    let tokens = data.join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},admin,admin,\"system:masters\"\n")).unwrap();
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
                "--no-importer",
            ])
            .args(flags)
            .arg("--data-dir")
            .arg(data)
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
    (child, receiver)
}

/// The admin token of [`serve_json`].
const TOKEN: &str = "t0ken";

/// The server [`serve_json`] started in `data`, once it logged its address and is ready.
async fn own_server(data: &Path, lines: &Receiver<String>) -> Server {
    let address = loop {
        let line = lines
            .recv_timeout(common::PATIENCE)
            .expect("the server logs its address in time");
        let record: Value = serde_json::from_str(&line).unwrap_or_default();
        if record["message"] == "imagelookup serving" {
            break record["address"].as_str().expect("the address").to_string();
        }
    };
    let server = Server {
        base: format!("https://{address}"),
        token: TOKEN.to_string(),
        ca_pem: std::fs::read(data.join("tls").join("ca.crt")).unwrap(),
        data_dir: data.to_path_buf(),
    };
    common::eventually("the server to be ready", || {
        let readyz = server.client().get(server.url("/readyz")).send();
        async move { (readyz.await.ok()?.status() == 200).then_some(()) }
    })
    .await;
    server
}

/// A child process killed (and reaped) when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
