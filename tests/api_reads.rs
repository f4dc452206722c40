//! Raw HTTPS reads against an in-process server: the `/status`, `/layers` and `/secrets`
//! subresources, consistent paging, history expiry, Tables, and watch semantics.

mod support;

use serde_json::{json, Value};
use support::{stream, stream_path, streams_path, Options, Server};

const MERGE: &str = "application/merge-patch+json";

fn server() -> &'static Server {
    Server::shared()
}

fn create_stream(ns: &str, name: &str) -> Value {
    server().create(&streams_path(ns), &stream(ns, name, &[]))
}

#[test]
fn status_writes_keep_spec_and_main_writes_keep_status() {
    let ns = "err-status";
    let created = server().create(
        &streams_path(ns),
        &stream(ns, "s", &[("v1", "quay.io/example/s:1")]),
    );
    let path = stream_path(ns, "s");
    let digest = format!("sha256:{}", "b".repeat(64));
    let mut status_write = created.clone();
    status_write["spec"]["tags"] = json!([]);
    status_write["metadata"]["labels"] = json!({"ignored": "yes"});
    status_write["status"]["tags"] = json!([{"tag": "pushed", "items": [{
        "created": "2026-01-01T00:00:00Z", "dockerImageReference": format!("quay.io/example/s@{digest}"),
        "image": digest, "generation": 1}]}]);
    let after_status = server()
        .put(&format!("{path}/status"), &status_write)
        .send()
        .expect(200);
    assert_eq!(after_status["spec"]["tags"][0]["name"], "v1");
    assert!(after_status["metadata"].get("labels").is_none());
    assert_eq!(after_status["status"]["tags"][0]["tag"], "pushed");
    assert_eq!(after_status["metadata"]["generation"], 1);

    let mut main_write = after_status.clone();
    main_write["status"]["tags"] = json!([]);
    main_write["metadata"]["labels"] = json!({"kept": "yes"});
    let after_main = server().put(&path, &main_write).send().expect(200);
    assert_eq!(after_main["status"]["tags"][0]["tag"], "pushed");
    assert_eq!(after_main["metadata"]["labels"]["kept"], "yes");
    assert_eq!(after_main["metadata"]["generation"], 1);
    let fetched = server().get(&format!("{path}/status")).send().expect(200);
    assert_eq!(fetched["kind"], "ImageStream");
}

#[test]
fn layers_describe_the_images_status_tags_point_at() {
    let ns = "err-layers";
    let image = format!("sha256:{}", "c".repeat(64));
    let layer = format!("sha256:{}", "d".repeat(64));
    let config = format!("sha256:{}", "e".repeat(64));
    let missing = format!("sha256:{}", "f".repeat(64));
    server().create(
        "/apis/image.openshift.io/v1/images",
        &json!({"apiVersion": "image.openshift.io/v1", "kind": "Image", "metadata": {"name": image},
                "dockerImageReference": format!("quay.io/example/l@{image}"),
                "dockerImageLayers": [{"name": layer, "size": 1234, "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip"}],
                "dockerImageMetadata": {"Id": config}}),
    );
    create_stream(ns, "l");
    let event = |image: &str| {
        json!({"created": "2026-01-01T00:00:00Z", "generation": 1,
                                     "dockerImageReference": format!("quay.io/example/l@{image}"), "image": image})
    };
    let status =
        json!({"status": {"tags": [{"tag": "latest", "items": [event(&image), event(&missing)]}]}});
    let path = stream_path(ns, "l");
    server()
        .patch(&format!("{path}/status"), MERGE, &status)
        .send()
        .expect(200);

    let layers = server().get(&format!("{path}/layers")).send().expect(200);
    assert_eq!(layers["kind"], "ImageStreamLayers");
    assert_eq!(layers["images"][&image]["layers"], json!([layer]));
    assert_eq!(layers["images"][&image]["config"], json!(config));
    assert_eq!(layers["images"][&missing], json!({"imageMissing": true}));
    assert_eq!(layers["blobs"][&layer]["size"], 1234);
    let missing_stream = server().get(&format!("{}/layers", stream_path(ns, "nope")));
    missing_stream.send().expect_status(404, "NotFound");
}

#[test]
fn secrets_lists_the_namespace_docker_config_secrets_that_are_not_excluded() {
    let ns = "err-secrets";
    let secret = |name: &str, kind: &str, annotations: Value| {
        // Each docker-config type carries its own key, as kube-apiserver requires.
        let key = match kind {
            "kubernetes.io/dockercfg" => ".dockercfg",
            _ => ".dockerconfigjson",
        };
        json!({"apiVersion": "v1", "kind": "Secret", "type": kind, "data": {key: "e30="},
               "metadata": {"name": name, "annotations": annotations, "labels": {"set": name}}})
    };
    let collection = format!("/api/v1/namespaces/{ns}/secrets");
    server().create(
        &collection,
        &secret("cfg", "kubernetes.io/dockercfg", json!({})),
    );
    server().create(
        &collection,
        &secret("json", "kubernetes.io/dockerconfigjson", json!({})),
    );
    let hidden = json!({"openshift.io/image.excludeSecret": "true"});
    server().create(
        &collection,
        &secret("hidden", "kubernetes.io/dockerconfigjson", hidden),
    );
    let opaque = server()
        .post(&collection, &secret("opaque", "Opaque", json!({})))
        .send();
    opaque.expect_status(422, "Invalid");
    server().create(
        "/api/v1/namespaces/err-secrets-other/secrets",
        &secret("elsewhere", "kubernetes.io/dockercfg", json!({})),
    );

    let path = format!("{}/no-such-stream/secrets", streams_path(ns));
    let list = server().get(&path).send().expect(200);
    assert_eq!(
        (list["kind"].as_str(), list["apiVersion"].as_str()),
        (Some("SecretList"), Some("image.openshift.io/v1"))
    );
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cfg", "json"]);
    let selected = server()
        .get(&format!("{path}?labelSelector=set%3Djson"))
        .send()
        .expect(200);
    assert_eq!(selected["items"].as_array().unwrap().len(), 1);
    let (pages, paged) = secret_pages(&path);
    assert_eq!(paged, ["cfg", "json"], "paging reaches every secret");
    assert_eq!(
        pages, 3,
        "one secret per page; the hidden one's page is empty"
    );
}

#[test]
fn layers_and_secrets_are_written_as_yaml_or_indented_json_on_request() {
    let ns = "err-sub-encodings";
    create_stream(ns, "e");
    let path = stream_path(ns, "e");
    for subresource in ["layers", "secrets"] {
        let url = format!("{path}/{subresource}");
        let yaml = server()
            .get(&url)
            .header("Accept", "application/yaml")
            .send();
        assert_eq!(yaml.status, 200, "{subresource}");
        assert_eq!(yaml.header_values("content-type"), ["application/yaml"]);
        let text = String::from_utf8(yaml.body.clone()).unwrap();
        assert!(
            text.starts_with("apiVersion: image.openshift.io/v1\n"),
            "{subresource}: {text}"
        );
        let pretty = server().get(&format!("{url}?pretty=true")).send();
        let text = String::from_utf8(pretty.body.clone()).unwrap();
        assert!(text.starts_with("{\n  \"kind\": "), "{subresource}: {text}");
        let compact = server().get(&url).send();
        assert_eq!(pretty.json(), compact.expect(200), "{subresource}");
    }
}

/// Pages through `/secrets` one secret at a time: the number of pages and the names seen.
fn secret_pages(path: &str) -> (usize, Vec<String>) {
    let (mut pages, mut names, mut token) = (0, Vec::new(), String::new());
    loop {
        let page = server()
            .get(&format!("{path}?limit=1&continue={token}"))
            .send()
            .expect(200);
        pages += 1;
        let items = page["items"].as_array().unwrap();
        let name = |s: &Value| s["metadata"]["name"].as_str().unwrap().to_string();
        names.extend(items.iter().map(name));
        match page["metadata"]["continue"].as_str() {
            Some(next) if pages < 10 => token = next.to_string(),
            _ => return (pages, names),
        }
    }
}

#[test]
fn continue_tokens_page_one_snapshot_and_malformed_ones_are_400() {
    let ns = "err-continue";
    for name in ["a", "b", "c"] {
        create_stream(ns, name);
    }
    let first = server()
        .get(&format!("{}?limit=2", streams_path(ns)))
        .send()
        .expect(200);
    let token = first["metadata"]["continue"].as_str().unwrap().to_string();
    create_stream(ns, "d");
    let second = server()
        .get(&format!("{}?limit=2&continue={token}", streams_path(ns)))
        .send()
        .expect(200);
    assert_eq!(
        second["metadata"]["resourceVersion"],
        first["metadata"]["resourceVersion"]
    );
    let names: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["c"],
        "the page comes from the first page's snapshot"
    );
    let garbled = server()
        .get(&format!("{}?limit=2&continue=garbage", streams_path(ns)))
        .send();
    garbled.expect_status(400, "BadRequest");
}

#[test]
fn history_from_before_a_restart_is_expired() {
    let dir = tempfile::tempdir().unwrap();
    let ns = "err-expired";
    let first = Server::start(dir.path(), Options::default());
    for name in ["a", "b"] {
        first.create(&streams_path(ns), &stream(ns, name, &[]));
    }
    let page = first
        .get(&format!("{}?limit=1", streams_path(ns)))
        .send()
        .expect(200);
    let token = page["metadata"]["continue"].as_str().unwrap().to_string();
    first.create(&streams_path(ns), &stream(ns, "c", &[]));
    first.stop();

    let second = Server::start(dir.path(), Options::default());
    let expired = second
        .get(&format!("{}?limit=1&continue={token}", streams_path(ns)))
        .send();
    let status = expired.expect_status(410, "Expired");
    let message = status["message"].as_str().unwrap();
    assert!(
        message.contains("use the continue token in this response"),
        "{message}"
    );
    let fresh = status["metadata"]["continue"]
        .as_str()
        .expect("a fresh token");
    let rest = second
        .get(&format!("{}?limit=5&continue={fresh}", streams_path(ns)))
        .send()
        .expect(200);
    let names: Vec<&str> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b", "c"], "the rest, from the newest state");

    let watch = second.get(&format!(
        "{}?watch=true&resourceVersion=1",
        streams_path(ns)
    ));
    let (code, events) = watch.watch(|events| !events.is_empty());
    assert_eq!(code, 200, "too-old watches fail in-band");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "ERROR");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
    let listed = second.get(&streams_path(ns)).send().expect(200);
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        3,
        "the data survived"
    );
    second.stop();
}

#[test]
fn tables_and_partial_metadata_are_served_on_request() {
    let ns = "err-table";
    server().create(
        &streams_path(ns),
        &stream(
            ns,
            "t",
            &[("b", "quay.io/example/t:b"), ("a", "quay.io/example/t:a")],
        ),
    );
    let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
    let table = server()
        .get(&streams_path(ns))
        .accept(accept)
        .send()
        .expect(200);
    assert_eq!(table["kind"], "Table");
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["Name", "Image Repository", "Tags", "Updated"]);
    let row = &table["rows"][0];
    assert_eq!(row["cells"][0], "t");
    assert_eq!(row["cells"][2], "a,b");
    assert_eq!(row["object"]["kind"], "PartialObjectMetadata");
    assert!(table["metadata"]["resourceVersion"].is_string());

    let metadata = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
    let list = server()
        .get(&streams_path(ns))
        .accept(metadata)
        .send()
        .expect(200);
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["items"][0]["metadata"]["name"], "t");
    assert!(list["items"][0].get("spec").is_none());
}

#[test]
fn watches_apply_selectors_and_end_initial_events_with_a_bookmark() {
    let ns = "err-watch";
    let created = create_stream(ns, "w");
    create_stream(ns, "other");
    let initial = format!(
        "{}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dw",
        streams_path(ns)
    );
    let (code, events) = server().get(&initial).watch(|events| events.len() >= 2);
    assert_eq!(code, 200);
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "w");
    assert_eq!(events[1]["type"], "BOOKMARK");
    assert_eq!(
        events[1]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
        "true"
    );

    let path = stream_path(ns, "w");
    server()
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"labels": {"app": "in"}}}),
        )
        .send()
        .expect(200);
    let moved_out = server()
        .patch(
            &path,
            MERGE,
            &json!({"metadata": {"labels": {"app": "out"}}}),
        )
        .send()
        .expect(200);
    let rv = created["metadata"]["resourceVersion"].as_str().unwrap();
    let selected = format!(
        "{}?watch=true&resourceVersion={rv}&labelSelector=app%3Din&timeoutSeconds=1",
        streams_path(ns)
    );
    let unselected = format!(
        "{}?watch=true&resourceVersion={rv}&fieldSelector=metadata.name%3Dw&timeoutSeconds=1",
        streams_path(ns)
    );
    // Twice around a watcher that sees the same revision as MODIFIED: the state each is sent
    // is encoded once for all watchers, and neither may stand in for the other.
    for watch in [&selected, &unselected, &selected] {
        let (_, events) = server().get(watch).watch(|events| events.len() >= 2);
        let seen: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| {
                let metadata = &e["object"]["metadata"];
                let app = metadata["labels"]["app"].as_str().unwrap();
                let rv = metadata["resourceVersion"].as_str().unwrap();
                (e["type"].as_str().unwrap(), app, rv)
            })
            .collect();
        let last_rv = moved_out["metadata"]["resourceVersion"].as_str().unwrap();
        let expected = match watch == &selected {
            true => ("DELETED", "in", last_rv),
            false => ("MODIFIED", "out", last_rv),
        };
        assert_eq!(seen.len(), 2, "{watch}: {events:?}");
        assert_eq!(
            seen[1], expected,
            "{watch}: an object leaving the selector shows its last matching state"
        );
    }

    let invalid = server()
        .get(&format!(
            "{}?watch=true&sendInitialEvents=true",
            streams_path(ns)
        ))
        .send();
    invalid.expect_status(422, "Invalid");
}

/// An object's `metadata.resourceVersion`, as the store's revision.
fn revision(object: &Value) -> u64 {
    let written = object["metadata"]["resourceVersion"].as_str();
    written
        .and_then(|rv| rv.parse().ok())
        .expect("a numeric resourceVersion")
}

#[test]
fn a_watch_from_a_revision_the_store_never_reaches_ends_with_too_large_instead_of_silence() {
    let created = create_stream("err-watch-future", "f");
    let rv = revision(&created);
    // An informer's revision from before etcd was restored to an older backup: kube-apiserver
    // waits a few seconds, then says so in-band, and client-go lists afresh.
    let future = format!(
        "{}?watch=true&resourceVersion={}",
        streams_path("err-watch-future"),
        rv + 1_000_000
    );
    let (code, events) = server().get(&future).watch(|events| !events.is_empty());
    assert_eq!(code, 200);
    assert_eq!(events[0]["type"], "ERROR", "{events:?}");
    let status = &events[0]["object"];
    assert_eq!(status["code"], 504, "{status}");
    assert_eq!(status["reason"], "Timeout", "{status}");
    assert_eq!(
        status["details"]["causes"][0]["reason"], "ResourceVersionTooLarge",
        "{status}"
    );

    // The revision just written is reached: the watch runs and delivers what follows (with a
    // timeout past what the clock can add: a watch without end).
    let current = format!(
        "{}?watch=true&resourceVersion={rv}&timeoutSeconds=9223372036854775807",
        streams_path("err-watch-future")
    );
    create_stream("err-watch-future", "g");
    let (_, events) = server().get(&current).watch(|events| !events.is_empty());
    assert_eq!(events[0]["type"], "ADDED", "{events:?}");
    assert_eq!(events[0]["object"]["metadata"]["name"], "g");
}

#[test]
fn yaml_and_indented_json_hold_the_same_object_as_compact_json() {
    let ns = "err-yaml";
    let path = stream_path(ns, "y");
    let created = server().create(
        &streams_path(ns),
        &stream(ns, "y", &[("v1", "quay.io/example/y:1")]),
    );
    let yaml = server().get(&path).accept("application/yaml").send();
    assert_eq!(yaml.status, 200);
    assert_eq!(yaml.header_values("content-type"), ["application/yaml"]);
    let parsed: Value = serde_norway::from_slice(&yaml.body).expect("the body is YAML");
    assert_eq!(parsed, created);
    let text = String::from_utf8_lossy(&yaml.body).to_string();
    assert!(
        text.starts_with("apiVersion: image.openshift.io/v1\n"),
        "{text}"
    );

    let list = server()
        .get(&streams_path(ns))
        .accept("application/yaml")
        .send();
    let parsed: Value = serde_norway::from_slice(&list.body).expect("the list is YAML");
    assert_eq!(parsed["kind"], "ImageStreamList");
    assert_eq!(parsed["items"][0], created);

    let pretty = server().get(&format!("{path}?pretty=true")).send();
    let text = String::from_utf8_lossy(&pretty.body).to_string();
    let first_line = "{\n  \"apiVersion\": \"image.openshift.io/v1\",\n";
    assert!(text.starts_with(first_line), "{text}");
    assert_eq!(pretty.expect(200), created);

    let watch = format!("{}?watch=true", streams_path(ns));
    let refused = server().get(&watch).accept("application/yaml").send();
    let status = refused.expect_status(406, "NotAcceptable");
    assert_eq!(
        status["message"],
        "only the following media types are accepted: application/json, application/yaml"
    );
}

#[test]
fn every_namespace_exists_and_can_be_read_but_not_listed() {
    let namespace = server()
        .get("/api/v1/namespaces/err-anywhere")
        .send()
        .expect(200);
    assert_eq!(namespace["kind"], "Namespace");
    assert_eq!(namespace["metadata"]["name"], "err-anywhere");
    assert_eq!(namespace["status"]["phase"], "Active");
    let invalid = server().get("/api/v1/namespaces/Not_A_Label").send();
    let status = invalid.expect_status(404, "NotFound");
    assert_eq!(status["message"], "namespaces \"Not_A_Label\" not found");
    assert_eq!(
        status["details"],
        json!({"name": "Not_A_Label", "kind": "namespaces"})
    );
    let listed = server().get("/api/v1/namespaces").send();
    listed.expect_status(405, "MethodNotAllowed");
    let deleted = server().delete("/api/v1/namespaces/err-anywhere").send();
    deleted.expect_status(405, "MethodNotAllowed");
    let unauthenticated = server().get("/api/v1/namespaces/default").no_token().send();
    unauthenticated.expect_status(401, "Unauthorized");
}

#[test]
fn deletecollection_answers_with_finalizer_held_objects_marked_deleted() {
    let ns = "err-deletecollection";
    let mut held = stream(ns, "held", &[]);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    server().create(&streams_path(ns), &held);
    create_stream(ns, "gone");
    let marks = |list: &Value| -> Vec<(String, bool)> {
        let items = list["items"].as_array().unwrap();
        let mark = |i: &Value| {
            let metadata = &i["metadata"];
            let name = metadata["name"].as_str().unwrap().to_string();
            (name, metadata["deletionTimestamp"].is_string())
        };
        items.iter().map(mark).collect()
    };
    let expected = [("gone".to_string(), false), ("held".to_string(), true)];

    let dry_run = server()
        .delete(&format!("{}?dryRun=All", streams_path(ns)))
        .send()
        .expect(200);
    assert_eq!(marks(&dry_run), expected, "what the delete would leave");
    let untouched = server().get(&stream_path(ns, "held")).send().expect(200);
    assert!(untouched["metadata"]["deletionTimestamp"].is_null());

    let answer = server().delete(&streams_path(ns)).send().expect(200);
    assert_eq!(answer["kind"], "ImageStreamList");
    assert_eq!(marks(&answer), expected, "what the delete left");
    let stored = server().get(&stream_path(ns, "held")).send().expect(200);
    assert_eq!(answer["items"][1], stored);
    let missing = server().get(&stream_path(ns, "gone")).send();
    missing.expect_status(404, "NotFound");
}

#[test]
fn a_get_reads_not_older_than_its_resource_version_and_refuses_garbage() {
    let created = create_stream("err-get-rv", "s");
    let path = stream_path("err-get-rv", "s");
    let rv = revision(&created);
    let at = |revision: &str| server().get(&format!("{path}?resourceVersion={revision}"));
    let same = at(&rv.to_string()).send().expect(200);
    assert_eq!(same["metadata"]["name"], "s");
    at("0").send().expect(200);
    let garbage = at("abc").send().expect(400);
    assert_eq!(garbage["reason"], "BadRequest", "{garbage}");
    // Far past anything the store has: after waiting a few seconds, kube's 504 with the cause
    // client-go retries on.
    let future = at(&(rv + 1_000_000).to_string()).send().expect(504);
    assert_eq!(future["reason"], "Timeout", "{future}");
    assert_eq!(
        future["details"]["causes"][0]["reason"], "ResourceVersionTooLarge",
        "{future}"
    );
}
