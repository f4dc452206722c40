//! `spec.dockerImageRepository` imported against the real registry: the repository's tags
//! (the first 50 in OpenShift's order) become spec and status tags, the stream is annotated
//! `openshift.io/image.dockerRepositoryCheck`, and a failed import is recorded and retried.

use super::scripted::{path_of, read_head};
use super::*;
use imagelookup::api::TagReference;
use imagelookup::importer::repository::{CHECK_ANNOTATION, FAILURE_ANNOTATION};
use imagelookup::importer::tag_order::MAX_TAGS_PER_REPOSITORY;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;
use tokio::sync::watch;

impl Fixture {
    /// Creates a stream backed by `repository` (plain HTTP, as the test registry serves),
    /// with `tags`, as the API would.
    pub(super) async fn create_repository_stream(
        &self,
        namespace: &str,
        name: &str,
        repository: &str,
        tags: Vec<Value>,
    ) {
        let mut stream: ImageStream = serde_json::from_value(json!({
            "metadata": {"namespace": namespace, "name": name,
                         "annotations": {"openshift.io/image.insecureRepository": "true"}},
            "spec": {"dockerImageRepository": repository, "tags": tags}
        }))
        .unwrap();
        with_rules(|ctx| strategy::prepare_for_create(&mut stream, ctx)).unwrap();
        let key = object_key("imagestreams", Some(namespace), name);
        self.store
            .create(&key, serde_json::to_value(&stream).unwrap())
            .await
            .unwrap();
    }
}

fn annotation(stream: &ImageStream, key: &str) -> Option<String> {
    stream.metadata.annotations.as_ref()?.get(key).cloned()
}

/// The names of the stream's status tags that have an image.
fn imported_tags(stream: &ImageStream) -> Vec<String> {
    let lists = stream.status.iter().flat_map(|status| &status.tags);
    let with_image = lists.filter(|list| !list.items.is_empty());
    with_image.map(|list| list.tag.clone()).collect()
}

#[tokio::test]
async fn a_stream_with_only_a_repository_gets_its_tags_and_the_check_annotation() {
    let registry = open_registry();
    let v1 = registry.push_image("demo/whole", "v1", "amd64").await;
    let v2 = registry.push_image("demo/whole", "v2", "amd64").await;
    let latest = registry.push_image("demo/whole", "latest", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let repository = format!("{}/demo/whole", registry.host());
    f.create_repository_stream("whole", "app", &repository, vec![])
        .await;

    let stream = f
        .until("the repository's tags", "whole", "app", |s| {
            (imported_tags(s).len() == 3).then(|| s.clone())
        })
        .await;
    for (tag, pushed) in [("v1", &v1), ("v2", &v2), ("latest", &latest)] {
        let pinned = format!("{repository}@{}", pushed.digest);
        assert_eq!(
            newest(&stream, tag),
            Some((pinned, pushed.digest.clone(), 2)),
            "{tag}"
        );
        let spec = stream.spec_tag(tag).expect("a spec tag per imported tag");
        let from = spec.from.as_ref().unwrap();
        assert_eq!(from.kind.as_deref(), Some("DockerImage"));
        assert_eq!(from.name.clone(), Some(format!("{repository}:{tag}")));
        assert_eq!(spec.generation, Some(2));
        assert!(spec.import_policy.insecure, "from the insecure annotation");
    }
    assert_eq!(
        stream.metadata.generation,
        Some(2),
        "the spec tags moved it"
    );
    let checked = annotation(&stream, CHECK_ANNOTATION).expect("the check annotation");
    let at: Timestamp = checked.parse().expect("RFC 3339");
    assert_eq!(checked, at.to_string(), "whole seconds, UTC");
    assert_eq!(annotation(&stream, FAILURE_ANNOTATION), None);
    let image = f.image(&v2.digest).await;
    assert_eq!(
        image["dockerImageReference"],
        format!("{repository}@{}", v2.digest)
    );
}

#[tokio::test]
async fn a_repository_with_more_tags_than_the_maximum_imports_the_first_in_openshift_order() {
    let registry = open_registry();
    let mut tags: Vec<String> = (0..48).map(|i| format!("a{i:02}")).collect();
    tags.extend(["latest", "1.10", "1.9", "2.0.0"].map(String::from));
    let names: Vec<&str> = tags.iter().map(String::as_str).collect();
    let pushed = registry.push_image_tags("demo/many", &names, "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let repository = format!("{}/demo/many", registry.host());
    f.create_repository_stream("many", "app", &repository, vec![])
        .await;

    let stream = f
        .until("the repository import", "many", "app", |s| {
            annotation(s, CHECK_ANNOTATION).map(|_| s.clone())
        })
        .await;
    let mut imported = imported_tags(&stream);
    imported.sort();
    let mut expected: Vec<String> = ["latest", "1.10", "1.9", "2.0.0"].map(String::from).into();
    expected.extend((0..46).map(|i| format!("a{i:02}")));
    expected.sort();
    assert_eq!(expected.len(), MAX_TAGS_PER_REPOSITORY);
    assert_eq!(
        imported, expected,
        "a46 and a47 come last by name and are left out"
    );
    assert_eq!(newest(&stream, "a45").unwrap().1, pushed.digest);
    assert_eq!(stream.spec.tags.len(), MAX_TAGS_PER_REPOSITORY);
    assert_eq!(annotation(&stream, FAILURE_ANNOTATION), None);
}

#[tokio::test]
async fn a_missing_repository_is_recorded_and_retried_until_it_exists() {
    let registry = open_registry();
    let f = fixture(Duration::from_secs(1));
    let repository = format!("{}/demo/not-yet", registry.host());
    f.create_repository_stream("notyet", "app", &repository, vec![])
        .await;

    let failure = f
        .until("the recorded failure", "notyet", "app", |s| {
            annotation(s, FAILURE_ANNOTATION)
        })
        .await;
    assert_eq!(
        failure,
        format!(
            "NotFound: dockerimage.image.openshift.io \"{repository}\" not found; it is tried \
             again every import interval, or now once the annotation \
             openshift.io/image.dockerRepositoryCheck is removed (kubectl -n notyet annotate \
             is app openshift.io/image.dockerRepositoryCheck-)"
        )
    );
    let stream = f.stream("notyet", "app").await;
    assert!(annotation(&stream, CHECK_ANNOTATION).is_some(), "attempted");
    assert_eq!(stream.metadata.generation, Some(1));

    let pushed = registry.push_image("demo/not-yet", "v1", "amd64").await;
    let stream = f
        .until("the retried import", "notyet", "app", |s| {
            newest(s, "v1").map(|_| s.clone())
        })
        .await;
    assert_eq!(newest(&stream, "v1").unwrap().1, pushed.digest);
    assert_eq!(annotation(&stream, FAILURE_ANNOTATION), None, "cleared");
}

#[tokio::test]
async fn spec_tags_keep_their_own_sources_beside_the_repository_s_tags() {
    let registry = open_registry();
    let repo_v1 = registry.push_image("demo/beside", "v1", "amd64").await;
    let repo_v2 = registry.push_image("demo/beside", "v2", "amd64").await;
    let elsewhere = registry.push_image("demo/elsewhere", "x", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let repository = format!("{}/demo/beside", registry.host());
    let own_v1 = tag("v1", &format!("{}/demo/elsewhere:x", registry.host()));
    let follow = json!({"name": "follow", "from": {"kind": "ImageStreamTag", "name": "app:v2"}});
    f.create_repository_stream("beside", "app", &repository, vec![own_v1, follow])
        .await;

    let stream = f
        .until("every tag", "beside", "app", |s| {
            (imported_tags(s).len() == 3).then(|| s.clone())
        })
        .await;
    assert_eq!(
        newest(&stream, "v1").unwrap().1,
        elsewhere.digest,
        "the spec tag wins"
    );
    assert_eq!(newest(&stream, "v2").unwrap().1, repo_v2.digest);
    assert_eq!(
        newest(&stream, "follow").unwrap().1,
        repo_v2.digest,
        "tracks v2"
    );
    let v1_from = stream.spec_tag("v1").unwrap().from.clone().unwrap();
    assert_eq!(
        v1_from.name,
        Some(format!("{}/demo/elsewhere:x", registry.host()))
    );
    let mut v1_images = stream.status_tag("v1").unwrap().items.iter();
    assert!(
        v1_images.all(|event| event.image != repo_v1.digest),
        "the repository's v1 is not recorded"
    );
}

/// A repository whose listing did not answer is not listed again for a while: the next
/// stream backed by it fails at once, saying why, instead of holding a worker again.
#[tokio::test]
async fn a_repository_listing_that_did_not_answer_is_not_asked_again_for_a_while() {
    let (silent, held) = silent_registry().await;
    let f = fixture_with(ImporterConfig {
        registry_timeout: Duration::from_secs(1),
        workers: 1,
        ..ImporterConfig::default()
    });
    let repository = format!("{silent}/x/listing");
    f.create_repository_stream("quiet-list", "first", &repository, vec![])
        .await;
    let first = f
        .until("the first listing timing out", "quiet-list", "first", |s| {
            annotation(s, FAILURE_ANNOTATION)
        })
        .await;
    assert!(!first.contains("not asked"), "{first}");
    let connections = settled(&held).await;

    f.create_repository_stream("quiet-list", "second", &repository, vec![])
        .await;
    let second = f
        .until(
            "the second listing refused at once",
            "quiet-list",
            "second",
            |s| annotation(s, FAILURE_ANNOTATION),
        )
        .await;
    let expected = format!("not asked: {repository} did not answer an import ");
    assert!(second.contains(&expected), "{second}");
    assert_eq!(
        held.load(Ordering::SeqCst),
        connections,
        "no new connection"
    );
}

#[tokio::test]
async fn a_repository_import_keeps_each_tag_s_newest_revisions_as_a_tag_import_does() {
    let registry = open_registry();
    registry.push_image("demo/trimmed", "v1", "amd64").await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let repository = format!("{}/demo/trimmed", registry.host());
    // A status-only tag with a long restored history beside the repository.
    let mut stream: ImageStream = serde_json::from_value(json!({
        "metadata": {"namespace": "trimmed", "name": "app",
                     "annotations": {"openshift.io/image.insecureRepository": "true"}},
        "spec": {"dockerImageRepository": repository}
    }))
    .unwrap();
    with_rules(|ctx| strategy::prepare_for_create(&mut stream, ctx)).unwrap();
    let mut value = serde_json::to_value(&stream).unwrap();
    value["status"]["tags"] = json!([super::long_history("old", 5)]);
    let key = object_key("imagestreams", Some("trimmed"), "app");
    f.store.create(&key, value).await.unwrap();

    let stream = f
        .until("the repository's tag", "trimmed", "app", |s| {
            imported_tags(s)
                .contains(&"v1".to_string())
                .then(|| s.clone())
        })
        .await;
    let kept = stream
        .status_tag("old")
        .expect("the restored tag")
        .items
        .len();
    assert_eq!(kept, importer::DEFAULT_KEEP_TAG_REVISIONS);
}

/// A proxy to the plain HTTP registry at `upstream` that holds each manifest request until
/// the gate it returns is opened, counting those it holds. Each connection carries one
/// request, sent upstream with `Connection: close`; TLS is refused as [`read_head`] does.
async fn gated_proxy(upstream: String) -> (String, Arc<AtomicUsize>, watch::Sender<bool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let held = Arc::new(AtomicUsize::new(0));
    let (open, gate) = watch::channel(false);
    let count = held.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (upstream, count, mut gate) = (upstream.clone(), count.clone(), gate.clone());
            tokio::spawn(async move {
                let Some(head) = read_head(&mut socket).await else {
                    return;
                };
                if path_of(&head).contains("/manifests/") {
                    count.fetch_add(1, Ordering::SeqCst);
                    let _ = gate.wait_for(|open| *open).await;
                }
                let lines = head.trim_end().split("\r\n");
                let kept = lines.filter(|l| !l.to_ascii_lowercase().starts_with("connection:"));
                let head = format!(
                    "{}\r\nConnection: close\r\n\r\n",
                    kept.collect::<Vec<_>>().join("\r\n")
                );
                let mut registry = TcpStream::connect(&upstream).await.unwrap();
                registry.write_all(head.as_bytes()).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut registry).await;
            });
        }
    });
    (host, held, open)
}

/// QA's race: the import listed the repository, and while it waits for the manifests a user
/// points tag 1.0 elsewhere; the import's write then loses, and what it records on the stream
/// read again leaves the user's tag alone, which is imported from its own source.
#[tokio::test]
async fn a_spec_tag_pointed_elsewhere_while_the_repository_is_imported_keeps_its_source() {
    let registry = open_registry();
    let repo_1 = registry.push_image("demo/race-repo", "1.0", "amd64").await;
    let repo_latest = registry
        .push_image("demo/race-repo", "latest", "amd64")
        .await;
    let own = registry.push_image("demo/race-app", "v1", "amd64").await;
    let (proxy, held, gate) = gated_proxy(registry.host()).await;
    let f = fixture(importer::DEFAULT_INTERVAL);
    let repository = format!("{proxy}/demo/race-repo");
    f.create_repository_stream("race", "app", &repository, vec![])
        .await;
    eventually("the import waiting for the manifests", || async {
        (held.load(Ordering::SeqCst) > 0).then_some(())
    })
    .await;

    let own_source = format!("{}/demo/race-app:v1", registry.host());
    let own_tag: TagReference = serde_json::from_value(tag("1.0", &own_source)).unwrap();
    f.update_spec("race", "app", |s| s.spec.tags.push(own_tag.clone()))
        .await;
    gate.send(true).unwrap();

    let stream = f
        .until("the repository import and tag 1.0", "race", "app", |s| {
            let checked = annotation(s, CHECK_ANNOTATION).is_some();
            let both = newest(s, "latest").is_some() && newest(s, "1.0").is_some();
            (checked && both).then(|| s.clone())
        })
        .await;
    let from = stream.spec_tag("1.0").unwrap().from.clone().unwrap();
    assert_eq!(from.name, Some(own_source), "the user's source is kept");
    assert_eq!(newest(&stream, "1.0").unwrap().1, own.digest);
    let images = &stream.status_tag("1.0").unwrap().items;
    assert!(
        images.iter().all(|event| event.image != repo_1.digest),
        "the repository's 1.0 is not recorded"
    );
    assert_eq!(newest(&stream, "latest").unwrap().1, repo_latest.digest);
    assert_eq!(annotation(&stream, FAILURE_ANNOTATION), None);
}
