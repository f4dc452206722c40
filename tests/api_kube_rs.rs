//! kube-rs 5 (`kube::Api<imagelookup::api::ImageStream>`, `kube::runtime::watcher`) against
//! an in-process server over TLS, with a client built from the generated kubeconfig.
//! (JSON patches are covered by the kubectl and Python tests: kube's `Patch::Json` needs the
//! `jsonpatch` feature, which the dev-dependency does not enable.)

mod support;

use futures::{Stream, StreamExt};
use imagelookup::api::ImageStream;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::Client;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::{stream, streams_path, Options, Server, PATIENCE};

async fn client() -> Client {
    client_of(Server::shared()).await
}

async fn client_of(server: &Server) -> Client {
    Client::try_from(config_of(server).await).expect("a kube client")
}

async fn config_of(server: &Server) -> kube::Config {
    let kubeconfig = Kubeconfig::read_from(server.kubeconfig()).expect("read the kubeconfig");
    kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("a kube config from the kubeconfig")
}

/// A TCP proxy on a port of 127.0.0.1 held for the whole test, to the server `target` names
/// when a connection comes: a client of a server restarted elsewhere keeps its address, which
/// no other process can take meanwhile (as one could the port of a stopped server).
async fn proxy_to(target: Arc<Mutex<SocketAddr>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = *target.lock().unwrap();
            tokio::spawn(async move {
                // A server that is not there: the client's connection is closed.
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    addr
}

async fn streams(namespace: &str) -> Api<ImageStream> {
    Api::namespaced(client().await, namespace)
}

/// A stream to create through kube-rs, with labels.
fn new_stream(namespace: &str, name: &str, labels: Value) -> ImageStream {
    let mut value = stream(namespace, name, &[("v1", "quay.io/example/rs:1")]);
    value["metadata"]["labels"] = labels;
    serde_json::from_value(value).expect("a stream")
}

async fn create(api: &Api<ImageStream>, namespace: &str, name: &str, labels: Value) -> ImageStream {
    api.create(&PostParams::default(), &new_stream(namespace, name, labels))
        .await
        .expect("create the stream")
}

fn names(items: &[ImageStream]) -> Vec<String> {
    items.iter().map(|s| s.name().to_string()).collect()
}

fn api_status(error: kube::Error) -> (u16, String) {
    match error {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected a Kubernetes Status, got {other}"),
    }
}

/// The next event of a watch stream, failing the test after [`PATIENCE`].
async fn next<S: Stream + Unpin>(events: &mut S) -> S::Item {
    tokio::time::timeout(PATIENCE, events.next())
        .await
        .expect("an event before the deadline")
        .expect("the stream goes on")
}

/// The names a watcher's initial events apply, from its `Init` to its `InitDone`.
async fn initial_names<S>(events: &mut S) -> Vec<String>
where
    S: Stream<Item = Result<Event<ImageStream>, watcher::Error>> + Unpin,
{
    assert!(matches!(next(events).await.unwrap(), Event::Init));
    let mut initial = Vec::new();
    loop {
        match next(events).await.unwrap() {
            Event::InitApply(object) => initial.push(object.name().to_string()),
            Event::InitDone => return initial,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn lists_page_with_limit_and_continue_and_filter_by_selectors() {
    let ns = "rs-list";
    let api = streams(ns).await;
    for (name, app) in [("a", "x"), ("b", "y"), ("c", "x")] {
        create(&api, ns, name, json!({"app": app})).await;
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    assert_eq!(names(&first.items), ["a", "b"]);
    let token = first.metadata.continue_.clone().expect("a continue token");
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second.items), ["c"]);
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );
    assert_eq!(second.metadata.continue_, None);

    let by_label = api
        .list(&ListParams::default().labels("app=x"))
        .await
        .unwrap();
    assert_eq!(names(&by_label.items), ["a", "c"]);
    let by_both = api
        .list(
            &ListParams::default()
                .labels("app=x")
                .fields("metadata.name=c"),
        )
        .await
        .unwrap();
    assert_eq!(names(&by_both.items), ["c"]);
}

#[tokio::test]
async fn a_list_and_a_streaming_list_watch_of_more_than_one_batch_read_every_stream() {
    // More than the server's store batch (500): the list without a limit is written as it is
    // read, in chunks, and the watch's initial events are read a batch at a time.
    let (ns, count) = ("rs-big", 1_100);
    let api = streams(ns).await;
    let mut names_created: Vec<String> = (0..count).map(|n| format!("s-{n:04}")).collect();
    futures::stream::iter(names_created.clone())
        .for_each_concurrent(16, |name| {
            let api = api.clone();
            async move {
                create(&api, ns, &name, json!({"app": "big"})).await;
            }
        })
        .await;
    names_created.sort();

    let list = api
        .list(&ListParams::default())
        .await
        .expect("the whole list");
    assert!(
        names(&list.items) == names_created,
        "{} streams listed",
        list.items.len()
    );

    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher::watcher(api.clone(), config).boxed();
    let initial = initial_names(&mut events).await;
    assert!(initial == names_created, "{} initial events", initial.len());
}

#[tokio::test]
async fn list_metadata_returns_partial_object_metadata() {
    let ns = "rs-meta";
    let api = streams(ns).await;
    let created = create(&api, ns, "m", json!({"app": "m"})).await;
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let item = &list.items[0];
    assert_eq!(item.metadata.uid, created.metadata.uid);
    let types = item.types.as_ref().expect("type meta");
    assert_eq!(
        (types.api_version.as_str(), types.kind.as_str()),
        ("meta.k8s.io/v1", "PartialObjectMetadata")
    );
    let one = api.get_metadata("m").await.unwrap();
    assert_eq!(one.metadata.labels, created.metadata.labels);
}

#[tokio::test]
async fn watcher_lists_then_streams_changes_in_both_list_strategies() {
    let ns = "rs-watch";
    let api = streams(ns).await;
    create(&api, ns, "before", json!({})).await;
    for config in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut events = watcher::watcher(api.clone(), config).boxed();
        let initial = initial_names(&mut events).await;
        assert!(initial.contains(&"before".to_string()), "{initial:?}");
        let name = format!("during-{}", initial.len());
        create(&api, ns, &name, json!({})).await;
        match next(&mut events).await.unwrap() {
            Event::Apply(object) => assert_eq!(object.name(), name),
            other => panic!("unexpected {other:?}"),
        }
        api.delete(&name, &DeleteParams::default()).await.unwrap();
        match next(&mut events).await.unwrap() {
            Event::Delete(object) => assert_eq!(object.name(), name),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn patches_of_every_kind_and_status_patches_apply() {
    let ns = "rs-patch";
    let api = streams(ns).await;
    create(&api, ns, "p", json!({})).await;
    let params = PatchParams::default();
    let merged = api
        .patch(
            "p",
            &params,
            &Patch::Merge(json!({"metadata": {"labels": {"merged": "yes"}}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.metadata.labels.unwrap()["merged"], "yes");

    let local = json!({"spec": {"lookupPolicy": {"local": true}}});
    let strategic_local = api
        .patch("p", &params, &Patch::Strategic(local))
        .await
        .unwrap();
    assert!(strategic_local.spec.lookup_policy.local);

    let tag = json!({"name": "v2", "reference": true, "from": {"kind": "DockerImage", "name": "quay.io/example/rs:2"}});
    let strategic = api
        .patch(
            "p",
            &params,
            &Patch::Strategic(json!({"spec": {"tags": [tag]}})),
        )
        .await
        .unwrap();
    let tags: Vec<&str> = strategic
        .spec
        .tags
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(tags, ["v1", "v2"]);

    let apply = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                       "metadata": {"name": "p"}, "spec": {"lookupPolicy": {"local": false}}});
    let applied = api
        .patch(
            "p",
            &PatchParams::apply("kube-rs-test").force(),
            &Patch::Apply(apply),
        )
        .await
        .unwrap();
    assert!(!applied.spec.lookup_policy.local);
    let managers: Vec<String> = applied
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| entry.manager)
        .collect();
    assert!(
        managers.contains(&"kube-rs-test".to_string()),
        "{managers:?}"
    );

    let status = json!({"spec": {"tags": []}, "metadata": {"labels": {"ignored": "yes"}}});
    let patched = api
        .patch_status("p", &params, &Patch::Merge(status))
        .await
        .unwrap();
    assert_eq!(patched.spec.tags.len(), 2, "a status patch keeps spec.tags");
    assert!(!patched
        .metadata
        .labels
        .unwrap_or_default()
        .contains_key("ignored"));
    assert_eq!(patched.metadata.generation, applied.metadata.generation);
}

#[tokio::test]
async fn kube_rs_s_finalizer_helper_adds_its_finalizer_and_removes_it_on_deletion() {
    use kube::runtime::controller::Action;
    use kube::runtime::finalizer::{finalizer, Event as Finalizing};
    const FINALIZER: &str = "example.com/cleanup";
    let ns = "rs-finalizer";
    let api = streams(ns).await;
    let created = create(&api, ns, "f", json!({})).await;
    assert_eq!(created.metadata.finalizers, None);
    // Its first patch tests /metadata/finalizers against null, then adds it: kube-apiserver's
    // JSON patch reads the missing member as null.
    let never = |_: Finalizing<ImageStream>| async {
        Ok::<_, std::convert::Infallible>(Action::await_change())
    };
    let added = finalizer(&api, FINALIZER, Arc::new(created), never).await;
    assert!(added.is_ok(), "{added:?}");
    let marked = api.get("f").await.unwrap();
    assert_eq!(
        marked.metadata.finalizers,
        Some(vec![FINALIZER.to_string()])
    );

    api.delete("f", &DeleteParams::default()).await.unwrap();
    let deleting = api.get("f").await.unwrap();
    assert!(deleting.metadata.deletion_timestamp.is_some());
    let cleanup = |event: Finalizing<ImageStream>| async move {
        assert!(
            matches!(event, Finalizing::Cleanup(_)),
            "a cleanup, not an apply"
        );
        Ok::<_, std::convert::Infallible>(Action::await_change())
    };
    let removed = finalizer(&api, FINALIZER, Arc::new(deleting), cleanup).await;
    assert!(removed.is_ok(), "{removed:?}");
    let gone = api.get_opt("f").await.unwrap();
    assert!(
        gone.is_none(),
        "deleted once its finalizer is removed: {gone:?}"
    );
}

#[tokio::test]
async fn errors_come_back_as_kubernetes_statuses() {
    let ns = "rs-errors";
    let api = streams(ns).await;
    assert!(api.get_opt("missing").await.unwrap().is_none());
    let created = create(&api, ns, "e", json!({})).await;
    let again = api
        .create(&PostParams::default(), &new_stream(ns, "e", json!({})))
        .await;
    assert_eq!(
        api_status(again.unwrap_err()),
        (409, "AlreadyExists".into())
    );

    let mut stale = created.clone();
    api.patch(
        "e",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"x": "1"}}})),
    )
    .await
    .unwrap();
    stale.spec.lookup_policy.local = true;
    let replaced = api.replace("e", &PostParams::default(), &stale).await;
    assert_eq!(api_status(replaced.unwrap_err()), (409, "Conflict".into()));
}

#[tokio::test]
async fn delete_and_delete_collection_remove_what_they_select() {
    let ns = "rs-delete";
    let api = streams(ns).await;
    for (name, app) in [("d1", "gone"), ("d2", "gone"), ("d3", "kept")] {
        create(&api, ns, name, json!({"app": app})).await;
    }
    let deleted = api.delete("d1", &DeleteParams::default()).await.unwrap();
    let status = deleted.right().expect("a Status for a deleted ImageStream");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );

    let collection = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels("app=gone"),
        )
        .await
        .unwrap();
    let list = collection.left().expect("the deleted objects");
    assert_eq!(names(&list.items), ["d2"]);
    let left = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&left.items), ["d3"]);
}

#[tokio::test]
async fn discovery_finds_the_image_group_and_its_resource() {
    let discovery = kube::discovery::Discovery::new(client().await)
        .run()
        .await
        .unwrap();
    let group = discovery
        .groups()
        .find(|g| g.name() == "image.openshift.io")
        .expect("the image group is discovered");
    let (resource, capabilities) = group
        .recommended_resources()
        .into_iter()
        .find(|(r, _)| r.plural == "imagestreams")
        .expect("imagestreams is discovered");
    assert_eq!(resource.kind, "ImageStream");
    assert!(capabilities.supports_operation(kube::discovery::verbs::DELETE_COLLECTION));
}

#[tokio::test]
async fn watcher_relists_when_a_restart_expired_its_resource_version() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::start(dir.path(), Options::default());
    // The client reaches the server, and the restarted one, through the same proxy.
    let target = Arc::new(Mutex::new(first.addr));
    let proxy = proxy_to(target.clone()).await;
    let mut config = config_of(&first).await;
    config.cluster_url = format!("https://{proxy}").parse().unwrap();
    let client = Client::try_from(config).expect("a kube client");
    let api: Api<ImageStream> = Api::namespaced(client, "rs-restart");
    create(&api, "rs-restart", "kept", json!({})).await;
    let mut events = watcher::watcher(api.clone(), watcher::Config::default()).boxed();
    while !matches!(next(&mut events).await.unwrap(), Event::InitDone) {}
    // Writes elsewhere move the store past the revision the watcher will resume from.
    first.create(
        &streams_path("rs-elsewhere"),
        &stream("rs-elsewhere", "x", &[]),
    );
    first.stop();

    let data_dir = dir.path().to_path_buf();
    let second = tokio::task::spawn_blocking(move || Server::start(&data_dir, Options::default()))
        .await
        .unwrap();
    *target.lock().unwrap() = second.addr;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher never re-listed"
        );
        match next(&mut events).await {
            Ok(Event::Init) => break,
            Ok(other) => panic!("unexpected {other:?} before the re-list"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
    match next(&mut events).await.unwrap() {
        Event::InitApply(object) => assert_eq!(object.name(), "kept"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(next(&mut events).await.unwrap(), Event::InitDone));
    second.stop();
}
