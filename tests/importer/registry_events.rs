//! Registry push notifications (`--registry-events-token-file`, `POST /registry-events`): a
//! real `docker-registry` notifies the server over TLS, and the scheduled tags following the
//! pushed tag are imported at once, an hour before their scheduled import.

use std::time::Duration;

use imagelookup::api::ImageStream;
use imagelookup::importer::{self, ImporterConfig};
use imagelookup::store;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common;
use super::common::eventually;
use super::common::serving::InProcess;
use super::registry::{notifying_registry, open_registry, Notify, Registry};
use super::served::{create_stream, imports_of};

const TOKEN: &str = "registry-notifies-us";

/// A server importing every hour at most, serving `/registry-events` with [`TOKEN`]; the
/// directory holds the token file.
async fn server() -> (InProcess, tempfile::TempDir) {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("# the registry's\n{TOKEN}\n")).unwrap();
    let tokens = tokens.display().to_string();
    let flags = [
        "--store",
        "memory:",
        "--import-interval",
        "3600",
        "--registry-events-token-file",
        &tokens,
    ];
    (InProcess::start(&flags).await, dir)
}

/// A registry notifying `server` of its pushes, over TLS, with [`TOKEN`].
fn registry_notifying(server: &InProcess) -> Registry {
    let ca = server.data_file("tls/ca.crt");
    let url = server.url("/registry-events");
    notifying_registry(&Notify {
        url: &url,
        token: TOKEN,
        ca_file: &ca,
    })
}

fn tag(name: &str, from: &str, scheduled: bool) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": from},
           "importPolicy": {"insecure": true, "scheduled": scheduled}})
}

/// Waits until the counter `series` reaches `at_least`: a notification is counted once its
/// answer is ready, which may be after the import it caused.
async fn counts(server: &InProcess, series: &str, at_least: u64) {
    eventually(&format!("{series} >= {at_least}"), || async {
        (server.counted(series).await >= at_least).then_some(())
    })
    .await;
}

/// The image of the newest item of status tag `tag`.
fn newest(stream: &Value, tag: &str) -> Option<String> {
    let tags = stream["status"]["tags"].as_array()?;
    let status = tags.iter().find(|t| t["tag"] == tag)?;
    Some(status["items"][0]["image"].as_str()?.to_string())
}

/// Waits until status tag `tag` of stream `namespace/name` holds `image`; the stream then.
async fn until_newest(
    server: &InProcess,
    namespace: &str,
    name: &str,
    tag: &str,
    image: &str,
) -> Value {
    let path = format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreams/{name}");
    eventually(&format!("{tag}'s import of {image}"), || async {
        let (_, stream) = server.send(server.client.get(server.url(&path))).await;
        (newest(&stream, tag).as_deref() == Some(image)).then_some(stream)
    })
    .await
}

#[tokio::test]
async fn a_push_the_registry_notifies_imports_the_scheduled_tags_following_it_at_once() {
    let (server, _dir) = server().await;
    let registry = registry_notifying(&server);
    let first = registry.push_image("events/app", "v1", "amd64").await;
    let from = format!("{}/events/app:v1", registry.host());
    let tags = vec![tag("follows", &from, true), tag("pinned", &from, false)];
    create_stream(&server, "events", "app", tags).await;
    let imported = imports_of(&server, "events", "app", &["follows", "pinned"]).await;
    for import in imported {
        assert_eq!(import.map(|(image, _)| image), Ok(first.digest.clone()));
    }

    let second = registry.push_image("events/app", "v1", "arm64").await;
    assert_ne!(second.digest, first.digest);
    let stream = until_newest(&server, "events", "app", "follows", &second.digest).await;
    assert_eq!(
        newest(&stream, "pinned"),
        Some(first.digest.clone()),
        "a tag that is not scheduled keeps what it imported"
    );
    let followed = "imagelookup_importer_registry_pushes_total{result=\"followed\"}";
    counts(&server, followed, 1).await;
    let recorded = "imagelookup_registry_notifications_total{result=\"recorded\"}";
    counts(&server, recorded, 2).await;
}

#[tokio::test]
async fn a_tag_whose_image_was_not_pushed_yet_is_imported_when_it_is() {
    let (server, _dir) = server().await;
    let registry = registry_notifying(&server);
    // A pipeline creating the stream before its build pushes the image.
    let from = format!("{}/early/app:v1", registry.host());
    create_stream(&server, "early", "app", vec![tag("v1", &from, false)]).await;
    let failed = imports_of(&server, "early", "app", &["v1"]).await;
    assert!(failed[0].is_err(), "{failed:?}");

    let pushed = registry.push_image("early/app", "v1", "amd64").await;
    until_newest(&server, "early", "app", "v1", &pushed.digest).await;
}

#[tokio::test]
async fn notifications_without_the_token_or_that_cannot_be_read_are_refused_with_a_status() {
    let (server, _dir) = server().await;
    let envelope = json!({"events": [{"action": "push",
        "target": {"repository": "team/app", "tag": "v1"},
        "request": {"host": "registry.example.com"}}]});
    let post = |query: &str| {
        server
            .client
            .post(server.url(&format!("/registry-events{query}")))
    };
    let answer = |request: reqwest::RequestBuilder| async {
        let response = request.send().await.unwrap();
        let code = response.status().as_u16();
        (code, response.json::<Value>().await.unwrap_or(Value::Null))
    };

    let (code, status) = answer(post("").json(&envelope)).await;
    assert_eq!(
        (code, &status["reason"]),
        (401, &json!("Unauthorized")),
        "{status}"
    );
    let wrong = post("").bearer_auth("guessed").json(&envelope);
    assert_eq!(answer(wrong).await.0, 401);
    let unread = post("?registry=a&registry=b").body("garbage");
    assert_eq!(
        answer(unread).await.0,
        401,
        "nothing is read before the token"
    );

    let garbled = post("").bearer_auth(TOKEN).body("{\"events\": 3}");
    let (code, status) = answer(garbled).await;
    assert_eq!(
        (code, &status["reason"]),
        (400, &json!("BadRequest")),
        "{status}"
    );
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("send distribution's event envelope"),
        "{message}"
    );

    let named = post("?registry=https://registry.example.com").bearer_auth(TOKEN);
    let (code, status) = answer(named.json(&envelope)).await;
    assert_eq!(code, 400, "{status}");
    assert!(status["message"]
        .as_str()
        .unwrap()
        .contains("not a registry host name"));

    let huge = vec![b' '; 4 * 1024 * 1024];
    let (code, status) = answer(post("").bearer_auth(TOKEN).body(huge)).await;
    let too_large = (413, &json!("RequestEntityTooLarge"));
    assert_eq!((code, &status["reason"]), too_large, "{status}");

    let (code, status) = answer(post("").bearer_auth(TOKEN).json(&envelope)).await;
    assert_eq!(
        (code, &status["status"]),
        (202, &json!("Success")),
        "{status}"
    );
    assert_eq!(
        status["message"],
        "1 pushed tags recorded for the importer, 0 events ignored"
    );
    let unauthorized = "imagelookup_registry_notifications_total{result=\"unauthorized\"}";
    assert_eq!(server.counted(unauthorized).await, 3);
    let malformed = "imagelookup_registry_notifications_total{result=\"malformed\"}";
    assert_eq!(server.counted(malformed).await, 3);
}

/// Waits until the push record `key` is deleted (handled).
async fn deleted(store: &dyn store::Store, key: &str) {
    eventually("the push record's deletion", || async {
        let gone = matches!(store.get(key).await, Err(store::Error::NotFound { .. }));
        gone.then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_push_recorded_while_no_importer_ran_is_imported_by_the_next_one() {
    use imagelookup::importer::push::notification::PushedTag;
    use imagelookup::importer::push::{record, source_key};
    use imagelookup::reference::ImageRef;

    let config = || ImporterConfig {
        interval: Duration::from_secs(3600),
        registry_timeout: super::QUICK,
        ..ImporterConfig::default()
    };
    let first_run = super::fixture_with(config());
    let registry = open_registry();
    let first = registry.push_image("waiting/app", "v1", "amd64").await;
    let from = format!("{}/waiting/app:v1", registry.host());
    let mut scheduled = super::tag("v1", &from);
    scheduled["importPolicy"]["scheduled"] = json!(true);
    first_run
        .create_stream("waiting", "app", vec![scheduled])
        .await;
    let newest = |digest: String| {
        move |stream: &ImageStream| {
            let item = stream.status_tag("v1")?.items.first()?.image.clone();
            (item == digest).then_some(())
        }
    };
    first_run
        .until("the first import", "waiting", "app", newest(first.digest))
        .await;
    // Gone before the record is written, or its push feed could take the record.
    first_run._importer.abort();
    eventually("the first importer's end", || async {
        first_run._importer.is_finished().then_some(())
    })
    .await;

    // Pushed while no importer runs: the registry's notification is recorded by any replica.
    let second = registry.push_image("waiting/app", "v1", "arm64").await;
    let reference = ImageRef::parse(&from).unwrap();
    let pushed = PushedTag {
        source: source_key(&reference).unwrap(),
        digest: Some(second.digest.clone()),
    };
    let key = record::key(&pushed.source);
    let value = record::value(&pushed, Timestamp::now());
    first_run.store.create(&key, value).await.unwrap();

    let _next = importer::spawn(first_run.store.clone(), None, config());
    first_run
        .until(
            "the pushed image's import",
            "waiting",
            "app",
            newest(second.digest),
        )
        .await;
    deleted(first_run.store.as_ref(), &key).await;
}

#[tokio::test]
async fn a_push_record_stays_until_the_pass_that_imports_its_tag_is_through() {
    use imagelookup::importer::push::notification::PushedTag;
    use imagelookup::importer::push::{record, source_key};
    use imagelookup::metrics::{ImporterMetrics, ResultLabels};
    use imagelookup::reference::ImageRef;

    // A registry that takes connections and never answers: each pass hangs for the timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = silent.local_addr().unwrap().to_string();
    let (accepted, mut first_connection) = tokio::sync::mpsc::unbounded_channel();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
            let _ = accepted.send(());
        }
    });
    let metrics = ImporterMetrics::default();
    let fixture = super::fixture_with(ImporterConfig {
        interval: Duration::from_secs(3600),
        registry_timeout: Duration::from_secs(5),
        metrics: metrics.clone(),
        ..ImporterConfig::default()
    });
    let from = format!("{host}/hang/app:v1");
    let mut scheduled = super::tag("v1", &from);
    scheduled["importPolicy"]["scheduled"] = json!(true);
    fixture.create_stream("hang", "app", vec![scheduled]).await;
    // The stream's first pass is asking: the importer follows the stream by now.
    first_connection.recv().await.unwrap();

    let reference = ImageRef::parse(&from).unwrap();
    let pushed = PushedTag {
        source: source_key(&reference).unwrap(),
        digest: None,
    };
    let key = record::key(&pushed.source);
    let value = record::value(&pushed, Timestamp::now());
    fixture.store.create(&key, value).await.unwrap();
    let followed = ResultLabels { result: "followed" };
    eventually("the push handled", || async {
        (metrics.registry_pushes.get_or_create(&followed).get() == 1).then_some(())
    })
    .await;
    assert!(
        fixture.store.get(&key).await.is_ok(),
        "kept while the pass that imports the tag has not even started"
    );
    deleted(fixture.store.as_ref(), &key).await;
}

/// An etcd for this test binary's replicas, started once.
fn etcd() -> &'static common::etcd::Etcd {
    static ETCD: std::sync::OnceLock<common::etcd::Etcd> = std::sync::OnceLock::new();
    ETCD.get_or_init(|| common::etcd::Etcd::start("pushes"))
}

// Two threads: starting the registry blocks one while it waits for the port, and the
// leader's renewals must go on meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_notified_to_a_replica_that_does_not_import_is_imported_by_the_one_that_does() {
    common::setup();
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, format!("{TOKEN}\n")).unwrap();
    let tokens = tokens.display().to_string();
    let store = format!(
        "etcd:http://{}?prefix=/pushes-{}/",
        etcd().http,
        std::process::id()
    );
    let flags = [
        "--store",
        &store,
        "--import-interval",
        "3600",
        "--registry-events-token-file",
        &tokens,
    ];
    let replicas = [
        InProcess::start(&flags).await,
        InProcess::start(&flags).await,
    ];
    let leader = eventually("exactly one importing replica", || async {
        let (first, second) = (
            replicas[0].leads_importer().await?,
            replicas[1].leads_importer().await?,
        );
        (first != second).then_some(usize::from(second))
    })
    .await;
    let (importing, other) = (&replicas[leader], &replicas[1 - leader]);

    // The registry notifies the replica that does not import.
    let registry = registry_notifying(other);
    let first = registry.push_image("replicas/app", "v1", "amd64").await;
    let from = format!("{}/replicas/app:v1", registry.host());
    create_stream(other, "replicas", "app", vec![tag("v1", &from, true)]).await;
    until_newest(other, "replicas", "app", "v1", &first.digest).await;
    let second = registry.push_image("replicas/app", "v1", "arm64").await;
    until_newest(other, "replicas", "app", "v1", &second.digest).await;

    let recorded = "imagelookup_registry_notifications_total{result=\"recorded\"}";
    counts(other, recorded, 2).await;
    let followed = "imagelookup_importer_registry_pushes_total{result=\"followed\"}";
    counts(importing, followed, 1).await;
    assert_eq!(
        other.counted(followed).await,
        0,
        "the other replica imports nothing"
    );
    let still = importing.leads_importer().await;
    assert_eq!(still, Some(true), "the same replica led throughout");
}

#[tokio::test]
async fn quay_and_docker_hub_webhooks_with_the_token_in_the_path_bring_imports_forward() {
    let (server, _dir) = server().await;
    let registry = open_registry();
    let host = registry.host();
    let quay_v1 = registry.push_image("hooks/quay", "v1", "amd64").await;
    let hub_v1 = registry.push_image("hooks/hub", "v1", "amd64").await;
    let tags = vec![
        tag("quay", &format!("{host}/hooks/quay:v1"), true),
        tag("hub", &format!("{host}/hooks/hub:v1"), true),
    ];
    create_stream(&server, "hooks", "app", tags).await;
    until_newest(&server, "hooks", "app", "quay", &quay_v1.digest).await;
    until_newest(&server, "hooks", "app", "hub", &hub_v1.digest).await;

    let quay_v2 = registry.push_image("hooks/quay", "v1", "arm64").await;
    let hub_v2 = registry.push_image("hooks/hub", "v1", "arm64").await;
    // As Quay's "Push to Repository" webhook and Docker Hub's send them: no header of ours.
    let quay = json!({"repository": "hooks/quay", "namespace": "hooks", "name": "quay",
                      "docker_url": format!("{host}/hooks/quay"), "updated_tags": ["v1"]});
    let hub = json!({"push_data": {"pushed_at": 1_764_500_000, "pusher": "ci", "tag": "v1"},
                     "repository": {"repo_name": "hooks/hub", "namespace": "hooks", "name": "hub"}});
    let post = |path: String, body: &Value| server.client.post(server.url(&path)).json(body);
    let quay_path = format!("/registry-events/{TOKEN}");
    let answer = post(quay_path, &quay).send().await.unwrap();
    assert_eq!(answer.status(), 202);
    // Docker Hub's repositories are docker.io's: named here as the test registry.
    let hub_path = format!("/registry-events/{TOKEN}?registry={host}");
    let answer = post(hub_path, &hub).send().await.unwrap();
    assert_eq!(answer.status(), 202);
    until_newest(&server, "hooks", "app", "quay", &quay_v2.digest).await;
    until_newest(&server, "hooks", "app", "hub", &hub_v2.digest).await;

    let guessed = post("/registry-events/guessed".to_string(), &quay)
        .send()
        .await
        .unwrap();
    assert_eq!(guessed.status(), 401);
}

/// `X-Hub-Signature-256` of `body` with `secret`, as GitHub computes it.
fn github_signature(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

#[tokio::test]
async fn github_package_webhooks_signed_with_a_token_bring_imports_forward() {
    let (server, _dir) = server().await;
    let registry = open_registry();
    let host = registry.host();
    let v1 = registry.push_image("hooks/gh", "v1", "amd64").await;
    let tags = vec![tag("gh", &format!("{host}/hooks/gh:v1"), true)];
    create_stream(&server, "hooks", "ghapp", tags).await;
    until_newest(&server, "hooks", "ghapp", "gh", &v1.digest).await;

    let v2 = registry.push_image("hooks/gh", "v1", "arm64").await;
    // As GitHub Enterprise names its container registry's images (abridged payload).
    let package = json!({
        "action": "published",
        "package": {"name": "gh", "namespace": "Hooks", "package_type": "CONTAINER",
                    "package_version": {
                        "container_metadata": {"tag": {"name": "v1", "digest": v2.digest}},
                        "package_url": format!("{host}/Hooks/gh:v1")},
                    "registry": {"url": format!("https://{host}/Hooks")}},
        "repository": {"full_name": "Hooks/gh"}
    })
    .to_string();
    let deliver = |event: &str, body: &str, signature: &str| {
        server
            .client
            .post(server.url("/registry-events"))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-hub-signature-256", signature)
            .body(body.to_string())
    };
    let forged = github_signature("not-our-token", package.as_bytes());
    let refused = deliver("package", &package, &forged).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    // A signature is GitHub's way only: without its event header the body is not even read.
    let signed = github_signature(TOKEN, package.as_bytes());
    let unnamed = server
        .client
        .post(server.url("/registry-events"))
        .header("x-hub-signature-256", &signed)
        .body(package.clone());
    assert_eq!(unnamed.send().await.unwrap().status(), 401);

    let ping = r#"{"zen":"Design for failure.","hook_id":1}"#;
    let pinged = deliver("ping", ping, &github_signature(TOKEN, ping.as_bytes()));
    let pinged = pinged.send().await.unwrap();
    assert_eq!(
        pinged.status(),
        202,
        "GitHub's ping when the webhook is made"
    );

    let signature = github_signature(TOKEN, package.as_bytes());
    let answer = deliver("package", &package, &signature)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    until_newest(&server, "hooks", "ghapp", "gh", &v2.digest).await;
    let series = r#"imagelookup_registry_notifications_total{result="ignored"}"#;
    counts(&server, series, 1).await;
}
