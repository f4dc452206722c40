//! The tag importer against a real registry (see `importer/registry.rs`): imports into an
//! in-memory store, and once through the whole server.
//!
//! Each test uses its own repositories and namespaces, so they share the registries safely.

#[path = "importer/arch.rs"]
mod arch;
#[path = "importer/challenges.rs"]
mod challenges;
#[path = "importer/closing.rs"]
mod closing;
mod common;
#[path = "importer/containerd_hosts.rs"]
mod containerd_hosts;
#[path = "importer/global_pull_secret.rs"]
mod global_pull_secret;
#[path = "importer/hostile.rs"]
mod hostile;
#[path = "importer/image_info.rs"]
mod image_info;
#[path = "importer/isimport.rs"]
mod isimport;
#[path = "importer/mirror_sets.rs"]
mod mirror_sets;
#[path = "importer/mirrors.rs"]
mod mirrors;
#[path = "importer/proxy.rs"]
mod proxy;
#[path = "importer/registry.rs"]
mod registry;
#[path = "importer/registry_events.rs"]
mod registry_events;
#[path = "importer/repository.rs"]
mod repository;
#[path = "importer/scripted.rs"]
mod scripted;
#[path = "importer/served.rs"]
mod served;
#[path = "importer/token_server.rs"]
mod token_server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::serving::InProcess;
use imagelookup::api::ImageStream;
use imagelookup::importer::image::LAST_IMPORTED_ANNOTATION;
use imagelookup::importer::registry_config::RegistryConfig;
use imagelookup::importer::{self, ImporterConfig};
use imagelookup::metrics::ImporterMetrics;
use imagelookup::resolve::Index;
use imagelookup::store::{self, object_key, EmbeddedOptions, EmbeddedStore, Store};
use imagelookup::strategy;
use jiff::Timestamp;
use serde_json::{json, Value};

use common::eventually;
use registry::{
    open_registry, private_ca_registry, protected_registry, token_registry, LAYER_TYPE, OCI_INDEX,
    OCI_MANIFEST,
};
use token_server::Asked;

// === the importer over an in-memory store ===

struct Fixture {
    store: Arc<dyn Store>,
    _importer: tokio::task::JoinHandle<()>,
}

/// The registry timeout of most fixtures: failures in tests should not take long.
const QUICK: Duration = Duration::from_secs(5);

fn fixture(interval: Duration) -> Fixture {
    fixture_with(ImporterConfig {
        interval,
        registry_timeout: QUICK,
        ..ImporterConfig::default()
    })
}

fn fixture_with(config: ImporterConfig) -> Fixture {
    common::setup();
    let store: Arc<dyn Store> =
        Arc::new(EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap());
    let importer = importer::spawn(store.clone(), None, config);
    Fixture {
        store,
        _importer: importer,
    }
}

/// A DockerImage spec tag `name` from `from`, insecure.
fn tag(name: &str, from: &str) -> Value {
    json!({"name": name, "from": {"kind": "DockerImage", "name": from},
           "importPolicy": {"insecure": true}})
}

fn with_rules<T>(rule: impl FnOnce(&strategy::Context<'_>) -> T) -> T {
    let config = strategy::Config::default();
    let index = Index::default();
    let allow = |_: &str, _: &str| Ok(());
    rule(&strategy::Context {
        config: &config,
        now: Timestamp::now(),
        streams: &index,
        authorize: &allow,
    })
}

impl Fixture {
    /// Creates a stream as the API would (generation 1, tags at generation 1).
    async fn create_stream(&self, namespace: &str, name: &str, tags: Vec<Value>) {
        let mut stream: ImageStream = serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name}, "spec": {"tags": tags}
        }))
        .unwrap();
        with_rules(|ctx| strategy::prepare_for_create(&mut stream, ctx)).unwrap();
        let key = object_key("imagestreams", Some(namespace), name);
        self.store
            .create(&key, serde_json::to_value(&stream).unwrap())
            .await
            .unwrap();
    }

    /// Applies `change` to the spec as a PUT would, retrying when the importer wrote first.
    async fn update_spec(&self, namespace: &str, name: &str, change: impl Fn(&mut ImageStream)) {
        let key = object_key("imagestreams", Some(namespace), name);
        loop {
            let stored = self.store.get(&key).await.unwrap();
            let old: ImageStream = serde_json::from_value((*stored.value).clone()).unwrap();
            let mut next = old.clone();
            change(&mut next);
            with_rules(|ctx| strategy::prepare_for_update(&mut next, &old, ctx)).unwrap();
            let value = serde_json::to_value(&next).unwrap();
            match self.store.update(&key, value, Some(stored.revision)).await {
                Err(store::Error::Conflict { .. }) => continue,
                result => {
                    result.unwrap();
                    return;
                }
            }
        }
    }

    async fn stream(&self, namespace: &str, name: &str) -> ImageStream {
        let key = object_key("imagestreams", Some(namespace), name);
        serde_json::from_value((*self.store.get(&key).await.unwrap().value).clone()).unwrap()
    }

    /// Waits until `probe` finds what it wants in the stream.
    async fn until<T>(
        &self,
        what: &str,
        namespace: &str,
        name: &str,
        probe: impl Fn(&ImageStream) -> Option<T>,
    ) -> T {
        eventually(what, || async {
            probe(&self.stream(namespace, name).await)
        })
        .await
    }

    /// Creates the stream `namespace/name` with one tag, `v1`, from `from`, and waits for the
    /// condition its import leaves on that tag.
    async fn first_condition(
        &self,
        what: &str,
        namespace: &str,
        name: &str,
        from: &str,
    ) -> imagelookup::api::TagEventCondition {
        self.create_stream(namespace, name, vec![tag("v1", from)])
            .await;
        let condition = |stream: &ImageStream| stream.status_tag("v1")?.conditions.first().cloned();
        self.until(what, namespace, name, condition).await
    }

    /// Stores the pull secret `pull` in `namespace`: the protected registry's user for `host`.
    async fn store_pull_secret(&self, namespace: &str, host: &str) {
        let encode = |text: &str| base64::engine::general_purpose::STANDARD.encode(text);
        let config = json!({"auths": {host: {"auth": encode("user:s3cret")}}});
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"namespace": namespace, "name": "pull"},
            "data": {".dockerconfigjson": encode(&config.to_string())},
        });
        let key = format!("secrets/{namespace}/pull");
        self.store.create(&key, secret).await.unwrap();
    }

    async fn image(&self, digest: &str) -> Value {
        let key = object_key("images", None, digest);
        (*self.store.get(&key).await.unwrap().value).clone()
    }
}

/// `(dockerImageReference, image, generation)` of the newest event of `tag`.
fn newest(stream: &ImageStream, tag: &str) -> Option<(String, String, i64)> {
    let event = stream.latest_event(tag)?;
    Some((
        event.docker_image_reference.clone(),
        event.image.clone(),
        event.generation,
    ))
}

// === tests ===

#[tokio::test]
async fn an_imported_tag_records_the_digest_and_stores_its_image() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/app", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/app:v1", registry.host());
    f.create_stream("basic", "app", vec![tag("v1", &from)])
        .await;

    let event = f
        .until("the imported tag", "basic", "app", |s| newest(s, "v1"))
        .await;
    let pinned = format!("{}/demo/app@{}", registry.host(), pushed.digest);
    assert_eq!(event, (pinned.clone(), pushed.digest.clone(), 1));

    let image = f.image(&pushed.digest).await;
    assert_eq!(image["dockerImageReference"], pinned);
    assert_eq!(image["dockerImageManifestMediaType"], OCI_MANIFEST);
    assert_eq!(image["dockerImageMetadata"]["Id"], pushed.config);
    assert_eq!(
        image["dockerImageLayers"],
        json!([{"name": pushed.layer, "size": pushed.layer_size, "mediaType": LAYER_TYPE}])
    );
    let stream = f.stream("basic", "app").await;
    assert_eq!(
        stream.metadata.generation,
        Some(1),
        "a status write keeps the generation"
    );
}

#[tokio::test]
async fn indexes_import_one_platform_in_legacy_mode_and_the_index_otherwise() {
    let registry = open_registry();
    let (index, _arm, amd) = registry.push_index("demo/multi", "v1").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/multi:v1", registry.host());
    let mut preserve = tag("original", &from);
    preserve["importPolicy"]["importMode"] = json!("PreserveOriginal");
    f.create_stream("multi", "app", vec![tag("legacy", &from), preserve])
        .await;

    let images = f
        .until("both tags", "multi", "app", |s| {
            Some((newest(s, "legacy")?.1, newest(s, "original")?.1))
        })
        .await;
    assert_eq!(
        images,
        (amd.digest.clone(), index.clone()),
        "legacy: the amd64 child"
    );
    let index_image = f.image(&index).await;
    assert_eq!(index_image["dockerImageManifestMediaType"], OCI_INDEX);
    let children: Vec<(&str, &str)> = index_image["dockerImageManifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["architecture"].as_str().unwrap(),
                m["os"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(children, [("arm64", "linux"), ("amd64", "linux")]);
    let child = f.image(&amd.digest).await;
    assert_eq!(child["dockerImageLayers"][0]["name"], amd.layer);
    assert_eq!(child["dockerImageMetadata"]["Architecture"], "amd64");
}

#[tokio::test]
async fn failed_imports_set_import_success_false_with_a_message() {
    let registry = open_registry();
    let f = fixture(importer::DEFAULT_INTERVAL);
    let missing = format!("{}/demo/missing:nope", registry.host());
    let mut secure = tag("secure", &format!("{}/demo/app:v1", registry.host()));
    secure["importPolicy"]["insecure"] = json!(false);
    f.create_stream("failing", "app", vec![tag("missing", &missing), secure])
        .await;

    let conditions = f
        .until("both conditions", "failing", "app", |s| {
            let condition = |tag: &str| s.status_tag(tag)?.conditions.first().cloned();
            Some((condition("missing")?, condition("secure")?))
        })
        .await;
    let (missing_condition, secure_condition) = conditions;
    assert_eq!(
        (
            missing_condition.type_.as_str(),
            missing_condition.status.as_str()
        ),
        ("ImportSuccess", "False")
    );
    assert_eq!(missing_condition.reason, "NotFound");
    assert_eq!(
        missing_condition.message,
        format!("dockerimage.image.openshift.io \"{missing}\" not found")
    );
    assert_eq!(missing_condition.generation, 1);
    assert_eq!(
        secure_condition.reason, "InternalError",
        "HTTPS to a plain HTTP registry"
    );
    assert!(
        secure_condition
            .message
            .contains("the registry answered in plain HTTP"),
        "{}",
        secure_condition.message
    );
    // Setting `insecure` does not move the tag's generation, so the advice goes on to say how
    // to import again; the NotFound condition keeps OpenShift's message as it is.
    assert!(
        secure_condition.message.ends_with(
            "set importPolicy.insecure: true on the tag to import over HTTP; then set the tag's \
             generation to 0 (kubectl -n failing patch is app -p \
             '{\"spec\":{\"tags\":[{\"name\":\"secure\",\"generation\":0}]}}') to import again now"
        ),
        "{}",
        secure_condition.message
    );
    let stream = f.stream("failing", "app").await;
    assert!(stream.status_tag("missing").unwrap().items.is_empty());
}

#[tokio::test]
async fn a_missing_child_of_an_index_is_named_with_its_platform() {
    let registry = open_registry();
    let (index, arm, amd) = registry.push_index("demo/sparse", "v1").await;
    registry.delete_manifest("demo/sparse", &arm.digest).await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/sparse:v1", registry.host());
    let mut preserve = tag("original", &from);
    preserve["importPolicy"]["importMode"] = json!("PreserveOriginal");
    f.create_stream("sparse", "app", vec![tag("legacy", &from), preserve])
        .await;

    let (legacy, refused) = f
        .until("both tags answered", "sparse", "app", |s| {
            let refused = s.status_tag("original")?.conditions.first().cloned()?;
            Some((newest(s, "legacy")?.1, refused))
        })
        .await;
    assert_eq!(legacy, amd.digest, "the mirrored platform still imports");
    assert_eq!(refused.reason, "NotFound");
    let expected = format!(
        "manifest {} (linux/arm64) listed by \"{from}\" not found; mirror linux/arm64 to that \
         repository, or set importPolicy.importMode: Legacy to import one platform; then set \
         the tag's generation to 0 (kubectl -n sparse patch is app -p \
         '{{\"spec\":{{\"tags\":[{{\"name\":\"original\",\"generation\":0}}]}}}}') to \
         import again now",
        arm.digest
    );
    assert_eq!(refused.message, expected);
    assert!(
        !refused.message.contains(&index),
        "the index itself was found"
    );
}

/// A "registry" that accepts connections and never answers; counts the connections it holds.
async fn silent_registry() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let held = Arc::new(AtomicUsize::new(0));
    let count = held.clone();
    tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            sockets.push(socket);
            count.store(sockets.len(), Ordering::SeqCst);
        }
    });
    (host, held)
}

/// The connections a [`silent_registry`] holds once no more arrive: a connection the first
/// import opened just before it gave up is counted only when the accepting task next runs,
/// which on this test's single-threaded runtime may be after the failure is seen.
async fn settled(held: &AtomicUsize) -> usize {
    let mut seen = held.load(Ordering::SeqCst);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = held.load(Ordering::SeqCst);
        if now == seen {
            return now;
        }
        seen = now;
    }
}

/// Tags on a registry that hangs for longer than the test may wait (the registry timeout is
/// 120 s; `insecure` makes each wait out a 10 s TLS connect first, then the timeout over HTTP)
/// do not hold back the stream's other tags, and its sources are asked at the same time.
#[tokio::test]
async fn a_hung_registry_holds_back_only_its_own_tags() {
    let registry = open_registry();
    let pushed = registry.push_image("demo/beside-hung", "v1", "amd64").await;
    let (silent, held) = silent_registry().await;
    let f = fixture_with(ImporterConfig {
        registry_timeout: Duration::from_secs(120),
        workers: 1,
        ..ImporterConfig::default()
    });
    let hung: Vec<String> = (0..6).map(|i| format!("h{i}")).collect();
    let mut tags: Vec<Value> = hung
        .iter()
        .map(|name| tag(name, &format!("{silent}/x/y:{name}")))
        .collect();
    tags.push(tag(
        "good",
        &format!("{}/demo/beside-hung:v1", registry.host()),
    ));
    f.create_stream("hung", "app", tags).await;

    eventually("every hung source asked at once", || async {
        (held.load(Ordering::SeqCst) >= hung.len()).then_some(())
    })
    .await;
    let stream = f
        .until("the good tag, written early", "hung", "app", |s| {
            newest(s, "good").is_some().then(|| s.clone())
        })
        .await;
    assert_eq!(newest(&stream, "good").unwrap().1, pushed.digest);
    for name in &hung {
        assert!(
            stream.status_tag(name).is_none(),
            "{name} has no answer yet"
        );
    }
}

/// A repository that did not answer one import is not asked by the next for a while: the
/// second stream's tag fails at once, saying why, instead of holding the only worker again.
/// (This "registry" accepts connections, so it is its repository that went silent, not the
/// host; a host that takes no connection silences all of its repositories.)
#[tokio::test]
async fn a_repository_that_did_not_answer_is_not_asked_again_for_a_while() {
    let (silent, held) = silent_registry().await;
    let f = fixture_with(ImporterConfig {
        registry_timeout: Duration::from_secs(1),
        workers: 1,
        ..ImporterConfig::default()
    });
    let from = format!("{silent}/x/y:first");
    let first = f
        .first_condition("the first import timing out", "silent", "first", &from)
        .await;
    assert!(!first.message.contains("not asked"), "{}", first.message);
    let connections = settled(&held).await;
    assert!(connections >= 1, "the first import asked the registry");

    let from = format!("{silent}/x/y:second");
    let second = f
        .first_condition(
            "the second import refused at once",
            "silent",
            "second",
            &from,
        )
        .await;
    assert_eq!(second.reason, "InternalError");
    let expected = format!("not asked: {silent}/x/y did not answer an import ");
    assert!(second.message.contains(&expected), "{}", second.message);
    assert!(
        second
            .message
            .contains("s from now, when a minute has passed"),
        "{}",
        second.message
    );
    assert_eq!(
        held.load(Ordering::SeqCst),
        connections,
        "no new connection"
    );
}

/// A "registry" limiting its rate: every request is answered `429 Too Many Requests` with the
/// body Docker Hub sends; counts the requests. (docker-registry has no rate limit to hit.)
async fn rate_limited_registry() -> (String, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt as _;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(AtomicUsize::new(0));
    let count = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                if scripted::read_head(&mut socket).await.is_none() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}"#;
                let answer = format!(
                    "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (host, requests)
}

/// A registry answering 429 is not asked again for a minute by any import: the next stream's
/// tag fails at once, saying why, instead of spending what is left of the limit.
#[tokio::test]
async fn a_registry_limiting_its_rate_is_not_asked_again_for_a_while() {
    let (limited, requests) = rate_limited_registry().await;
    let f = fixture_with(ImporterConfig {
        workers: 1,
        ..ImporterConfig::default()
    });
    let from = format!("{limited}/x/y:first");
    let first = f
        .first_condition("the first import refused", "limited", "first", &from)
        .await;
    assert!(
        first
            .message
            .contains("limits its rate (429 Too Many Requests"),
        "{}",
        first.message
    );
    let asked = requests.load(Ordering::SeqCst);
    assert!(asked >= 1, "the first import asked the registry");

    let from = format!("{limited}/other/repo:second");
    let second = f
        .first_condition(
            "the second import refused at once",
            "limited",
            "second",
            &from,
        )
        .await;
    let expected = format!("not asked: {limited} answered 429 Too Many Requests ");
    assert!(second.message.contains(&expected), "{}", second.message);
    assert_eq!(requests.load(Ordering::SeqCst), asked, "no new request");
}

/// A 429 that an import asked through the API (oc import-image) met pauses the host for the
/// background importer too: the next tag on it is not asked.
#[tokio::test]
async fn a_429_met_by_an_import_on_request_pauses_the_host_for_the_importer() {
    common::setup();
    let (limited, requests) = rate_limited_registry().await;
    let server = InProcess::start(&["--store", "memory:"]).await;
    let base = server.url("/apis/image.openshift.io/v1/namespaces/limited");
    let from = format!("{limited}/x/y:first");
    let isi = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamImport",
                     "metadata": {"name": "asked"},
                     "spec": {"import": false, "images": [{"from": {"kind": "DockerImage", "name": from},
                                                           "importPolicy": {"insecure": true}}]}});
    let request = server.client.post(format!("{base}/imagestreamimports"));
    let (status, answer) = server.send(request.json(&isi)).await;
    assert_eq!(status, 201, "{answer}");
    let message = &answer["status"]["images"][0]["status"]["message"];
    assert!(message.as_str().unwrap_or("").contains("429"), "{answer}");
    let asked = requests.load(Ordering::SeqCst);

    let from = format!("{limited}/other/repo:second");
    let stream = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                        "metadata": {"name": "app"}, "spec": {"tags": [tag("v1", &from)]}});
    let request = server.client.post(format!("{base}/imagestreams"));
    let (status, created) = server.send(request.json(&stream)).await;
    assert_eq!(status, 201, "{created}");
    let path = format!("{base}/imagestreams/app");
    let condition = eventually("the importer's refusal", || async {
        let request = server.client.get(&path);
        let (_, stream) = server.send(request).await;
        let message = stream["status"]["tags"][0]["conditions"][0]["message"].as_str()?;
        Some(message.to_string())
    })
    .await;
    let expected = format!("not asked: {limited} answered 429 Too Many Requests ");
    assert!(condition.contains(&expected), "{condition}");
    assert_eq!(requests.load(Ordering::SeqCst), asked, "no new request");
}

#[tokio::test]
async fn a_registry_with_a_private_ca_is_trusted_through_its_ca_file() {
    let registry = private_ca_registry();
    let pushed = registry.push_image("demo/private-ca", "v1", "amd64").await;
    let mut verified = tag("v1", &format!("{}/demo/private-ca:v1", registry.host()));
    verified["importPolicy"]["insecure"] = json!(false);

    let untrusting = fixture(importer::DEFAULT_INTERVAL);
    untrusting
        .create_stream("private-ca", "app", vec![verified.clone()])
        .await;
    let refused = untrusting
        .until("the untrusted certificate", "private-ca", "app", |s| {
            s.status_tag("v1")?.conditions.first().cloned()
        })
        .await;
    assert_eq!(refused.reason, "InternalError");
    assert!(
        refused.message.contains("--registry-ca-file"),
        "{}",
        refused.message
    );

    let trusting = fixture_with(ImporterConfig {
        registries: RegistryConfig::trusting(vec![registry.ca_pem().unwrap().as_bytes().to_vec()]),
        registry_timeout: QUICK,
        ..ImporterConfig::default()
    });
    trusting
        .create_stream("private-ca", "app", vec![verified])
        .await;
    let event = trusting
        .until("the verified import", "private-ca", "app", |s| {
            newest(s, "v1")
        })
        .await;
    assert_eq!(event.1, pushed.digest);
}

#[tokio::test]
async fn retagging_and_resetting_the_tag_generation_reimports() {
    let registry = open_registry();
    let first = registry.push_image("demo/retag", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/retag:v1", registry.host());
    f.create_stream("retag", "app", vec![tag("v1", &from)])
        .await;
    f.until("the first import", "retag", "app", |s| newest(s, "v1"))
        .await;

    let second = registry.push_image("demo/retag", "v1", "amd64").await;
    f.update_spec("retag", "app", |s| s.spec.tags[0].generation = Some(0))
        .await;
    let history = f
        .until("the re-import", "retag", "app", |s| {
            let items = &s.status_tag("v1")?.items;
            (items.len() == 2).then(|| {
                items
                    .iter()
                    .map(|e| (e.image.clone(), e.generation))
                    .collect::<Vec<_>>()
            })
        })
        .await;
    assert_eq!(history, [(second.digest, 2), (first.digest, 1)]);
}

#[tokio::test]
async fn an_import_moves_every_tag_down_the_chain_that_follows_it() {
    let registry = open_registry();
    let first = registry.push_image("demo/chain", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/chain:v1", registry.host());
    let follows = |name: &str, tag: &str| json!({"name": name, "from": {"kind": "ImageStreamTag", "name": tag}});
    // prod follows stable, which follows latest, which follows the imported v1.
    let tags = vec![
        follows("prod", "stable"),
        follows("stable", "latest"),
        follows("latest", "v1"),
        tag("v1", &from),
    ];
    f.create_stream("chain", "app", tags).await;
    let image_of = |s: &ImageStream, tag: &str| newest(s, tag).map(|(_, image, _)| image);
    let reached = f
        .until("the first import down the chain", "chain", "app", |s| {
            image_of(s, "prod")
        })
        .await;
    assert_eq!(reached, first.digest);

    let second = registry.push_image("demo/chain", "v1", "amd64").await;
    f.update_spec("chain", "app", |s| {
        let v1 = s.spec.tags.iter_mut().find(|t| t.name == "v1").unwrap();
        v1.generation = Some(0);
    })
    .await;
    let moved = f
        .until("the re-import down the chain", "chain", "app", |s| {
            let images: Vec<_> = ["v1", "latest", "stable", "prod"]
                .iter()
                .map(|tag| image_of(s, tag))
                .collect();
            (images[0].as_deref() == Some(second.digest.as_str())).then_some(images)
        })
        .await;
    let expected = Some(second.digest.clone());
    assert_eq!(
        moved,
        [
            expected.clone(),
            expected.clone(),
            expected.clone(),
            expected
        ]
    );
}

#[tokio::test]
async fn with_keep_tag_revisions_each_import_drops_the_oldest_items_past_the_newest() {
    let registry = open_registry();
    let f = fixture_with(ImporterConfig {
        keep_tag_revisions: 2,
        registry_timeout: QUICK,
        ..ImporterConfig::default()
    });
    let from = format!("{}/demo/keep:v1", registry.host());
    let mut pushed = Vec::new();
    for round in 1..=3usize {
        pushed.push(registry.push_image("demo/keep", "v1", "amd64").await.digest);
        if round == 1 {
            f.create_stream("keep", "app", vec![tag("v1", &from)]).await;
        } else {
            f.update_spec("keep", "app", |s| s.spec.tags[0].generation = Some(0))
                .await;
        }
        let newest_image = pushed.last().unwrap().clone();
        f.until("the import", "keep", "app", |s| {
            newest(s, "v1").filter(|(_, image, _)| *image == newest_image)
        })
        .await;
    }
    let stream = f.stream("keep", "app").await;
    let kept: Vec<&str> = stream
        .status_tag("v1")
        .unwrap()
        .items
        .iter()
        .map(|e| e.image.as_str())
        .collect();
    assert_eq!(kept, [pushed[2].as_str(), pushed[1].as_str()]);
}

/// A status history of `count` items on tag `tag`, one a minute from 2020, newest first.
pub(crate) fn long_history(tag: &str, count: i64) -> Value {
    let start = Timestamp::from_second(1_577_836_800).unwrap();
    let items: Vec<Value> = (0..count)
        .rev()
        .map(|minute| {
            let created = start + jiff::SignedDuration::from_mins(minute);
            json!({"created": created.to_string(), "generation": 1,
                   "dockerImageReference": format!("quay.io/org/app@sha256:{minute:064}"),
                   "image": format!("sha256:{minute:064}")})
        })
        .collect();
    json!({"tag": tag, "items": items})
}

#[tokio::test]
async fn a_stream_its_import_would_make_too_large_drops_its_oldest_history_instead() {
    let registry = open_registry();
    let metrics = ImporterMetrics::default();
    let f = fixture_with(ImporterConfig {
        metrics: metrics.clone(),
        registry_timeout: QUICK,
        // Every item kept: only the store's limit trims.
        keep_tag_revisions: 0,
        ..ImporterConfig::default()
    });
    let pushed = registry.push_image("demo/full", "v1", "amd64").await.digest;
    let from = format!("{}/demo/full:v1", registry.host());
    let mut stream: ImageStream = serde_json::from_value(json!({
        "metadata": {"namespace": "full", "name": "app"}, "spec": {"tags": [tag("v1", &from)]}
    }))
    .unwrap();
    with_rules(|ctx| strategy::prepare_for_create(&mut stream, ctx)).unwrap();
    let mut value = serde_json::to_value(&stream).unwrap();
    value["status"]["tags"] = json!([long_history("old", 6_000)]);
    // Padded to 100 bytes under the limit: the stream fits, one more status item does not.
    value["metadata"]["annotations"] = json!({"padding": ""});
    let room = store::MAX_OBJECT_BYTES - 100 - serde_json::to_vec(&value).unwrap().len();
    value["metadata"]["annotations"]["padding"] = json!("x".repeat(room));
    let fitted = serde_json::to_vec(&value).unwrap().len();
    assert_eq!(fitted, store::MAX_OBJECT_BYTES - 100);
    let key = object_key("imagestreams", Some("full"), "app");
    f.store.create(&key, value).await.unwrap();

    let imported = f
        .until("the import", "full", "app", |s| newest(s, "v1"))
        .await;
    assert_eq!(imported.1, pushed);
    let stream = f.stream("full", "app").await;
    let old = &stream.status_tag("old").unwrap().items;
    let dropped = 6_000 - old.len();
    assert!(
        dropped > 100,
        "a sixteenth of the stream went, not one item: {dropped}"
    );
    let minute = |event: &imagelookup::api::TagEvent| {
        event
            .image
            .trim_start_matches("sha256:")
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(minute(&old[0]), 5_999, "the newest item of a tag stays");
    assert_eq!(
        minute(old.last().unwrap()),
        dropped as i64,
        "the oldest items went first"
    );
    assert_eq!(metrics.history_trimmed.get(), dropped as u64);
    let written = serde_json::to_vec(&stream).unwrap().len();
    assert!(written <= fitted - fitted / 16 + 200, "{written}");
}

#[tokio::test]
async fn images_no_stream_references_any_more_are_pruned_once_older_than_the_grace() {
    let registry = open_registry();
    let every = Duration::from_millis(200);
    let metrics = ImporterMetrics::default();
    let f = fixture_with(ImporterConfig {
        keep_tag_revisions: 1,
        metrics: metrics.clone(),
        prune_images: Some(importer::prune::PruneImages {
            every,
            keep_younger_than: importer::prune::KEEP_YOUNGER_THAN,
        }),
        registry_timeout: QUICK,
        ..ImporterConfig::default()
    });
    let first = registry
        .push_image("demo/prune", "v1", "amd64")
        .await
        .digest;
    // Stored long ago, as by an earlier import: the import finds it again and marks it, so
    // that a pass that judged it unreferenced a moment before cannot delete it now.
    let key = |digest: &str| object_key("images", None, digest);
    let old = "2020-01-01T00:00:00Z";
    let aged = json!({"kind": "Image", "apiVersion": "image.openshift.io/v1",
                      "metadata": {"name": first, "creationTimestamp": old}});
    f.store.create(&key(&first), aged).await.unwrap();
    let from = format!("{}/demo/prune:v1", registry.host());
    f.create_stream("prune", "app", vec![tag("v1", &from)])
        .await;
    f.until("the first import", "prune", "app", |s| newest(s, "v1"))
        .await;
    let stored = f.store.get(&key(&first)).await.unwrap();
    let mark = &stored.value["metadata"]["annotations"][LAST_IMPORTED_ANNOTATION];
    let marked: Timestamp = mark
        .as_str()
        .expect("marked when found again")
        .parse()
        .unwrap();
    assert!(
        Timestamp::now().duration_since(marked).as_secs() < 60,
        "{mark}"
    );
    // An aged image nothing references, stored now: once it is gone, a pass that began
    // after the import marked the first image has run.
    let sentinel = format!("sha256:{:064x}", 0x5e17);
    let unreferenced = json!({"kind": "Image", "apiVersion": "image.openshift.io/v1",
                              "metadata": {"name": sentinel, "creationTimestamp": old}});
    f.store.create(&key(&sentinel), unreferenced).await.unwrap();
    eventually("a pruning pass deleting the unreferenced image", || async {
        f.store.get(&key(&sentinel)).await.is_err().then_some(())
    })
    .await;
    assert!(f.store.get(&key(&first)).await.is_ok(), "referenced: kept");
    // As if that import had been long ago too.
    let mut aged = (*stored.value).clone();
    aged["metadata"]["annotations"][LAST_IMPORTED_ANNOTATION] = json!(old);
    f.store.update(&key(&first), aged, None).await.unwrap();

    let second = registry
        .push_image("demo/prune", "v1", "amd64")
        .await
        .digest;
    f.update_spec("prune", "app", |s| s.spec.tags[0].generation = Some(0))
        .await;
    eventually("the first image pruned", || async {
        f.store.get(&key(&first)).await.is_err().then_some(())
    })
    .await;
    // A pass counts its deletes once it has made them all.
    let pruned = eventually("the prunes counted", || async {
        let pruned = metrics.images_pruned.get();
        (pruned >= 2).then_some(pruned)
    })
    .await;
    assert_eq!(
        pruned, 2,
        "the unreferenced image and the first, counted in imagelookup_images_pruned_total"
    );
    let stream = f.stream("prune", "app").await;
    assert_eq!(newest(&stream, "v1").unwrap().1, second);
    assert!(
        f.store.get(&key(&second)).await.is_ok(),
        "the new image is referenced, and younger than the grace anyway"
    );
}

#[tokio::test]
async fn scheduled_tags_reimport_after_the_interval_without_a_spec_change() {
    let registry = open_registry();
    let first = registry.push_image("demo/scheduled", "v1", "amd64").await;
    let f = fixture(Duration::from_secs(1));
    let mut scheduled = tag("v1", &format!("{}/demo/scheduled:v1", registry.host()));
    scheduled["importPolicy"]["scheduled"] = json!(true);
    f.create_stream("scheduled", "app", vec![scheduled]).await;
    let event = f
        .until("the first import", "scheduled", "app", |s| newest(s, "v1"))
        .await;
    assert_eq!(event.1, first.digest);

    let second = registry.push_image("demo/scheduled", "v1", "amd64").await;
    let event = f
        .until("the scheduled re-import", "scheduled", "app", |s| {
            newest(s, "v1").filter(|(_, image, _)| *image == second.digest)
        })
        .await;
    assert_eq!(event.2, 1, "same tag generation: nothing in the spec moved");
    let stream = f.stream("scheduled", "app").await;
    assert_eq!(stream.metadata.generation, Some(1));
    assert_eq!(stream.status_tag("v1").unwrap().items.len(), 2);
}

#[tokio::test]
async fn scheduled_streams_beyond_the_budget_wait_and_the_gauge_says_how_long() {
    let registry = open_registry();
    registry.push_image("demo/budget", "v1", "amd64").await;
    let metrics = ImporterMetrics::default();
    let f = fixture_with(ImporterConfig {
        interval: Duration::from_secs(1),
        scheduled_per_minute: 1,
        metrics: metrics.clone(),
        registry_timeout: QUICK,
        ..ImporterConfig::default()
    });
    let mut scheduled = tag("v1", &format!("{}/demo/budget:v1", registry.host()));
    scheduled["importPolicy"]["scheduled"] = json!(true);
    for name in ["a", "b", "c"] {
        f.create_stream("budget", name, vec![scheduled.clone()])
            .await;
        f.until("the first import", "budget", name, |s| newest(s, "v1"))
            .await;
    }
    // Due again a second after each import; one scheduled import a minute starts, the rest wait.
    let waited = eventually("the schedule falling behind", || async {
        let behind = metrics.schedule_behind.get();
        (behind >= 2).then_some(behind)
    })
    .await;
    assert!(waited < 60, "behind since the imports above: {waited} s");
}

#[tokio::test]
async fn a_failed_tag_is_retried_each_interval_and_imports_once_the_image_exists() {
    let registry = open_registry();
    let f = fixture(Duration::from_secs(1));
    let source = format!("{}/demo/late:v1", registry.host());
    f.create_stream("late", "app", vec![tag("v1", &source)])
        .await;
    let reason = f
        .until("the failed import", "late", "app", |s| {
            Some(s.status_tag("v1")?.conditions.first()?.reason.clone())
        })
        .await;
    assert_eq!(reason, "NotFound");

    // Not scheduled, and nothing in the spec moves: only the retry can import it.
    let pushed = registry.push_image("demo/late", "v1", "amd64").await;
    let event = f
        .until("the retried import", "late", "app", |s| newest(s, "v1"))
        .await;
    assert_eq!((event.1, event.2), (pushed.digest, 1));
    let stream = f.stream("late", "app").await;
    assert!(stream.status_tag("v1").unwrap().conditions.is_empty());
    assert_eq!(stream.metadata.generation, Some(1));
}

#[tokio::test]
async fn pull_secrets_of_the_namespace_authenticate_to_the_registry() {
    let registry = protected_registry();
    let pushed = registry.push_image("demo/private", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/private:v1", registry.host());
    f.store_pull_secret("with-secret", &registry.host()).await;
    f.create_stream("with-secret", "app", vec![tag("v1", &from)])
        .await;
    f.create_stream("without-secret", "app", vec![tag("v1", &from)])
        .await;

    let event = f
        .until("the authenticated import", "with-secret", "app", |s| {
            newest(s, "v1")
        })
        .await;
    assert_eq!(event.1, pushed.digest);
    let refused = f
        .until("the refusal", "without-secret", "app", |s| {
            s.status_tag("v1")?.conditions.first().cloned()
        })
        .await;
    assert_eq!(refused.reason, "Unauthorized");
    assert_eq!(
        refused.message,
        format!("you may not have access to the container image \"{from}\"")
    );
}

/// A registry using the distribution spec's token authentication (as Docker Hub, Quay and
/// GHCR do): the pull secret is exchanged for a token scoped to pulls of the repository, at
/// the realm the registry's challenge names, for its service; without one the token server's
/// refusal is the tag's `Unauthorized`.
#[tokio::test]
async fn pull_secrets_are_exchanged_for_bearer_tokens_where_the_registry_asks() {
    let registry = token_registry();
    let pushed = registry.push_image("demo/tokens", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let from = format!("{}/demo/tokens:v1", registry.host());
    f.store_pull_secret("with-token", &registry.host()).await;
    f.create_stream("with-token", "app", vec![tag("v1", &from)])
        .await;
    f.create_stream("without-token", "app", vec![tag("v1", &from)])
        .await;

    let event = f
        .until("the import with a token", "with-token", "app", |s| {
            newest(s, "v1")
        })
        .await;
    assert_eq!(event.1, pushed.digest);
    let refused = f
        .until("the refusal", "without-token", "app", |s| {
            s.status_tag("v1")?.conditions.first().cloned()
        })
        .await;
    assert_eq!(refused.reason, "Unauthorized", "{}", refused.message);

    let asked = registry.token_requests();
    let scope = "repository:demo/tokens:pull".to_string();
    let with_secret = Asked {
        scope: scope.clone(),
        service: registry::SERVICE.to_string(),
        user: Some("user".to_string()),
    };
    let anonymous = Asked {
        user: None,
        ..with_secret.clone()
    };
    assert!(asked.contains(&with_secret), "{asked:?}");
    assert!(asked.contains(&anonymous), "{asked:?}");
    assert!(
        asked.iter().all(|a| a.scope == scope),
        "only pulls of the repository: {asked:?}"
    );
}

/// The whole server: the importer started by `serve_on`, the stream created and `/layers`
/// read through the HTTPS API.
#[tokio::test]
async fn the_server_imports_tags_and_serves_their_layers() {
    common::setup();
    let registry = open_registry();
    let pushed = registry.push_image("demo/served", "v1", "amd64").await;
    let server = InProcess::start(&["--store", "memory:"]).await;
    let base = server.url("/apis/image.openshift.io/v1/namespaces/served/imagestreams");
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": "app"},
                      "spec": {"tags": [tag("v1", &format!("{}/demo/served:v1", registry.host())),
                                        tag("v2", &format!("{}/demo/served:v2", registry.host()))]}});
    let (status, created) = server.send(server.client.post(&base).json(&body)).await;
    assert_eq!(status, 201, "{created}");

    let get = |path: String| {
        let request = server
            .client
            .get(format!("{base}/app{path}"))
            .bearer_auth(&server.token);
        async move { request.send().await.ok()?.json::<Value>().await.ok() }
    };
    let image = eventually("the imported tag", || async {
        let stream = get(String::new()).await?;
        stream["status"]["tags"][0]["items"][0]["image"]
            .as_str()
            .map(String::from)
    })
    .await;
    assert_eq!(image, pushed.digest);
    let layers = get("/layers".into()).await.unwrap();
    assert_eq!(
        layers["images"][&pushed.digest]["layers"],
        json!([pushed.layer])
    );
    assert_eq!(layers["blobs"][&pushed.layer]["size"], pushed.layer_size);
    assert_eq!(layers["images"][&pushed.digest]["config"], pushed.config);
    let metrics = server.metrics().await.expect("the server answers /metrics");
    // Exported at 0 from the start: the import must have counted.
    let imports =
        r#"imagelookup_imports_total{result="success",reason="",cause="",place="source"}"#;
    assert!(server.counted(imports).await >= 1, "{metrics}");
    for counted in [
        r#"imagelookup_api_requests_total{method="POST",code="201"} 1"#,
        r#"imagelookup_index_feed_connected 1"#,
        r#"imagelookup_importer_queue_depth "#,
    ] {
        assert!(metrics.contains(counted), "{counted} in {metrics}");
    }
    let passes = metrics
        .lines()
        .find_map(|line| line.strip_prefix("imagelookup_importer_pass_duration_seconds_count "))
        .and_then(|count| count.parse::<u64>().ok());
    assert!(passes >= Some(1), "the pass that imported v1: {metrics}");
    // v2 was never pushed: its import fails, and the tag gauge tells it from the pinned v1.
    until_tag_states(
        &server,
        &[("pinned", 1), ("import_failed", 1), ("not_imported", 0)],
    )
    .await;

    // Once the cause is fixed, a generation reset (what `kubectl patch is app -p …` sends)
    // imports the failed tag again; nothing else would, as it is not scheduled.
    let second = registry.push_image("demo/served", "v2", "amd64").await;
    let reset = json!({"spec": {"tags": [{"name": "v2", "generation": 0}]}});
    let patch = server
        .client
        .patch(format!("{base}/app"))
        .header("Content-Type", "application/strategic-merge-patch+json")
        .body(reset.to_string());
    let (status, patched) = server.send(patch).await;
    assert_eq!(status, 200, "{patched}");
    let reimported = eventually("the failed tag imported after the reset", || async {
        let stream = get(String::new()).await?;
        stream["status"]["tags"][1]["items"][0]["image"]
            .as_str()
            .map(String::from)
    })
    .await;
    assert_eq!(reimported, second.digest);
    until_tag_states(&server, &[("pinned", 2), ("import_failed", 0)]).await;
    server.shut_down().await;
}

/// Waits until `imagelookup_index_spec_tags` reads `count` for each `state`.
async fn until_tag_states(server: &InProcess, expected: &[(&str, u64)]) {
    let lines: Vec<String> = expected
        .iter()
        .map(|(state, count)| format!("imagelookup_index_spec_tags{{state=\"{state}\"}} {count}\n"))
        .collect();
    eventually(&format!("the spec-tag gauge at {expected:?}"), || async {
        let metrics = server.metrics().await?;
        lines
            .iter()
            .all(|line| metrics.contains(line))
            .then_some(())
    })
    .await;
}

/// A server whose importer reads pull secrets from `cluster` through its kubeconfig.
async fn reading_secrets_of(cluster: &InProcess) -> InProcess {
    let kubeconfig = cluster.kubeconfig().display().to_string();
    let flags = ["--store", "memory:", "--pull-secrets-from", "cluster"];
    let flags: Vec<&str> = flags
        .into_iter()
        .chain(["--pull-secrets-kubeconfig", &kubeconfig])
        .collect();
    InProcess::start(&flags).await
}

/// Served through an APIService, the importer cannot see Secrets written with kubectl: they go
/// to the cluster. With `--pull-secrets-from=cluster` it reads them there, through a Kubernetes
/// client; here "the cluster" is a second server, whose `/api/v1` holds the Secret.
#[tokio::test]
async fn pull_secrets_are_read_from_the_cluster_when_asked() {
    common::setup();
    let registry = protected_registry();
    let pushed = registry
        .push_image("demo/cluster-secret", "v1", "amd64")
        .await;
    let cluster = InProcess::start(&["--store", "memory:", "--no-importer"]).await;
    let config = json!({"auths": {registry.host(): {"auth": base64::engine::general_purpose::STANDARD.encode("user:s3cret")}}});
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": "pull", "labels": {"set": "pull"}},
        "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config.to_string())},
    });
    let other = json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockercfg",
        "metadata": {"name": "extra", "labels": {"set": "extra"}},
        "data": {".dockercfg": base64::engine::general_purpose::STANDARD.encode("{}")},
    });
    let secrets = cluster.url("/api/v1/namespaces/team/secrets");
    for secret in [secret, other] {
        let (status, created) = cluster
            .send(cluster.client.post(&secrets).json(&secret))
            .await;
        assert_eq!(status, 201, "{created}");
    }

    let server = reading_secrets_of(&cluster).await;
    let from = format!("{}/demo/cluster-secret:v1", registry.host());
    let base = server.url("/apis/image.openshift.io/v1/namespaces/team/imagestreams");
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": "app"}, "spec": {"tags": [tag("v1", &from)]}});
    let (status, created) = server.send(server.client.post(&base).json(&body)).await;
    assert_eq!(status, 201, "{created}");
    let image = eventually(
        "the import authenticated by the cluster's secret",
        || async {
            let (_, stream) = server.send(server.client.get(format!("{base}/app"))).await;
            stream["status"]["tags"][0]["items"][0]["image"]
                .as_str()
                .map(String::from)
        },
    )
    .await;
    assert_eq!(image, pushed.digest);

    // `/secrets` lists what the importer used: the cluster's, not this server's empty store.
    let listed = |query: &str| {
        let path = format!("{base}/app/secrets{query}");
        let request = server.client.get(path);
        async { server.send(request).await }
    };
    let names = |list: &Value| -> Vec<String> {
        let items = list["items"].as_array().cloned().unwrap_or_default();
        let name = |s: &Value| s["metadata"]["name"].as_str().unwrap_or("").to_string();
        items.iter().map(name).collect()
    };
    let (status, all) = listed("").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(names(&all), ["extra", "pull"]);
    assert_eq!(all["kind"], "SecretList");
    let (_, selected) = listed("?labelSelector=set%3Dpull").await;
    assert_eq!(names(&selected), ["pull"]);
    let (_, limited) = listed("?limit=1").await;
    assert_eq!(
        names(&limited),
        ["extra", "pull"],
        "the cluster list is not paged"
    );
    assert_eq!(limited["metadata"].get("continue"), None);

    // A Secret written to this server is stored, with a warning that nothing reads it.
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                        "metadata": {"name": "here"}, "data": {".dockerconfigjson": "e30="}});
    let response = server
        .client
        .post(server.url("/api/v1/namespaces/team/secrets"))
        .bearer_auth(&server.token)
        .json(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let warning = response.headers()["warning"].to_str().unwrap().to_string();
    assert!(warning.contains("not used for imports"), "{warning}");
    server.shut_down().await;
    cluster.shut_down().await;
}

/// A cluster whose Secrets this server may not list: the import goes on anonymously, so a
/// public image still imports, and a private one's refusal says why no credentials were sent.
#[tokio::test]
async fn a_refused_import_says_when_the_cluster_s_secrets_could_not_be_read() {
    common::setup();
    let private = protected_registry();
    private.push_image("demo/no-secrets", "v1", "amd64").await;
    let public = open_registry();
    let pushed = public.push_image("demo/no-secrets", "v1", "amd64").await;
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    // The cluster's admin (the kubeconfig's user) may act only in another namespace.
    let rules = "rules:\n- users: [admin]\n  namespaces: [elsewhere]\n  verbs: [\"*\"]\n";
    std::fs::write(&policy, rules).unwrap();
    let policy = policy.display().to_string();
    let cluster_flags = [
        "--store",
        "memory:",
        "--no-importer",
        "--authz-file",
        &policy,
    ];
    let cluster = InProcess::start(&cluster_flags).await;
    let server = reading_secrets_of(&cluster).await;
    let from = format!("{}/demo/no-secrets:v1", private.host());
    let open = format!("{}/demo/no-secrets:v1", public.host());
    let base = server.url("/apis/image.openshift.io/v1/namespaces/refused/imagestreams");
    let body = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                      "metadata": {"name": "app"},
                      "spec": {"tags": [tag("private", &from), tag("public", &open)]}});
    let (status, created) = server.send(server.client.post(&base).json(&body)).await;
    assert_eq!(status, 201, "{created}");

    let stream = eventually("both imports answered", || async {
        let (_, stream) = server.send(server.client.get(format!("{base}/app"))).await;
        let tags = stream["status"]["tags"].as_array()?;
        let answered = |t: &Value| t["items"][0].is_object() || t["conditions"][0].is_object();
        (tags.len() == 2 && tags.iter().all(answered)).then_some(stream)
    })
    .await;
    let tag_status = |name: &str| {
        let tags = stream["status"]["tags"].as_array().unwrap();
        tags.iter().find(|t| t["tag"] == name).cloned().unwrap()
    };
    assert_eq!(
        tag_status("public")["items"][0]["image"],
        json!(pushed.digest)
    );
    let condition = &tag_status("private")["conditions"][0];
    assert_eq!(condition["reason"], "Unauthorized");
    let message = condition["message"].as_str().unwrap();
    let expected = format!(
        "you may not have access to the container image \"{from}\"; the namespace's pull \
         secrets could not be read: secrets is forbidden: User \"admin\" cannot list resource \
         \"secrets\" in API group \"\" in the namespace \"refused\"; "
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.contains("manifests/rbac.yaml"), "{message}");
    let metrics = server.metrics().await.expect("the server answers /metrics");
    let unreadable = metrics
        .lines()
        .find_map(|line| line.strip_prefix("imagelookup_importer_pull_secrets_unreadable_total "));
    let count: u64 = unreadable.and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(count >= 1, "{metrics}");

    let path = format!("{base}/app/secrets");
    let (status, refused) = server.send(server.client.get(path)).await;
    assert_eq!((status, &refused["reason"]), (403, &json!("Forbidden")));
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("cannot list resource \"secrets\""),
        "{message}"
    );
    server.shut_down().await;
    cluster.shut_down().await;
}

#[test]
fn a_kubeconfig_without_the_cluster_source_is_refused() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut args = serve_args(&["--pull-secrets-kubeconfig", "/some/kubeconfig"]);
    args.data_dir = dir.path().to_path_buf();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let error = runtime
        .block_on(imagelookup::cli::serve::serve_on(
            listener,
            args,
            std::future::pending(),
        ))
        .unwrap_err();
    assert!(
        error.to_string().contains("--pull-secrets-from=cluster"),
        "{error:#}"
    );
}

#[derive(clap::Parser)]
struct Cli {
    #[command(flatten)]
    serve: imagelookup::cli::serve::ServeArgs,
}

fn parse_serve_args(args: &[&str]) -> Result<imagelookup::cli::serve::ServeArgs, clap::Error> {
    let argv = std::iter::once("imagelookup").chain(args.iter().copied());
    <Cli as clap::Parser>::try_parse_from(argv).map(|cli| cli.serve)
}

fn serve_args(args: &[&str]) -> imagelookup::cli::serve::ServeArgs {
    parse_serve_args(args).unwrap()
}

#[test]
fn the_interval_flag_has_a_floor_of_a_minute() {
    let defaults = serve_args(&[]);
    assert_eq!(
        (defaults.import_interval, defaults.no_importer),
        (900, false)
    );
    let set = serve_args(&["--import-interval", "60", "--no-importer"]);
    assert_eq!((set.import_interval, set.no_importer), (60, true));
    assert!(parse_serve_args(&["--import-interval", "59"]).is_err());
}

#[test]
fn the_worker_flag_defaults_to_four_and_has_a_floor_of_one() {
    assert_eq!(serve_args(&[]).import_workers, 4);
    assert_eq!(serve_args(&["--import-workers", "16"]).import_workers, 16);
    assert!(parse_serve_args(&["--import-workers", "0"]).is_err());
}

#[test]
fn the_scheduled_import_budget_defaults_to_openshift_s_sixty_and_has_a_floor_of_one() {
    let per_minute = |args: &[&str]| serve_args(args).scheduled_imports_per_minute;
    assert_eq!(per_minute(&[]), 60);
    assert_eq!(per_minute(&["--scheduled-imports-per-minute", "600"]), 600);
    assert!(parse_serve_args(&["--scheduled-imports-per-minute", "0"]).is_err());
}
