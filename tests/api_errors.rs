//! Raw HTTPS against an in-process server: every error is a Kubernetes `Status` whose code is
//! the HTTP status, and the write, list and subresource rules the clients rely on.

mod support;

use serde_json::{json, Value};
use support::http::Reply;
use support::{stream, stream_path, streams_path, Options, Server};

const MERGE: &str = "application/merge-patch+json";

fn server() -> &'static Server {
    Server::shared()
}

/// Checks that a reply is a `Failure` Status with this code and reason; returns it.
fn check_status(reply: &Reply, code: u16, reason: &str) -> Value {
    let body = reply.expect(code);
    assert_eq!(reply.header_values("content-type"), ["application/json"]);
    assert_eq!(body["kind"], "Status", "{body}");
    assert_eq!(body["apiVersion"], "v1");
    assert_eq!(body["status"], "Failure");
    assert_eq!(body["code"], code);
    assert_eq!(body["reason"], reason, "{body}");
    body
}

fn create_stream(ns: &str, name: &str) -> Value {
    server().create(&streams_path(ns), &stream(ns, name, &[]))
}

#[test]
fn requests_without_a_known_token_are_401_but_version_needs_none() {
    let path = streams_path("err-auth");
    check_status(&server().get(&path).no_token().send(), 401, "Unauthorized");
    check_status(
        &server().get(&path).token("not-a-token").send(),
        401,
        "Unauthorized",
    );
    let version = server().get("/version").no_token().send().expect(200);
    assert_eq!(version["major"], "1");
}

#[test]
fn a_policy_limits_a_user_to_reading_one_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    std::fs::write(
        &tokens,
        "admin-token,admin,1,\"system:masters\"\nalice-token,alice,2,dev\n",
    )
    .unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "rules:\n- groups: [\"system:masters\"]\n  namespaces: [\"*\"]\n  verbs: [\"*\"]\n\
         - users: [alice]\n  namespaces: [team-a]\n  verbs: [get, list, watch]\n",
    )
    .unwrap();
    let options = Options {
        token_file: Some(tokens),
        authz_file: Some(policy),
        addr: None,
    };
    let limited = Server::start(&dir.path().join("data"), options);
    limited.create(&streams_path("team-a"), &stream("team-a", "s", &[]));

    let alice = |call: support::http::Call<'_>| call.token("alice-token").send();
    alice(limited.get(&streams_path("team-a"))).expect(200);
    alice(limited.get(&stream_path("team-a", "s"))).expect(200);
    let create = alice(limited.post(&streams_path("team-a"), &stream("team-a", "t", &[])));
    let denied = check_status(&create, 403, "Forbidden");
    assert_eq!(
        denied["message"],
        "imagestreams.image.openshift.io is forbidden: User \"alice\" cannot create resource \
         \"imagestreams\" in API group \"image.openshift.io\" in the namespace \"team-a\""
    );
    let other = check_status(
        &alice(limited.get(&streams_path("team-b"))),
        403,
        "Forbidden",
    );
    let message = other["message"].as_str().unwrap();
    assert!(
        message.contains("cannot list resource \"imagestreams\""),
        "{message}"
    );
    assert!(message.contains("in the namespace \"team-b\""), "{message}");
    limited.stop();
}

#[test]
fn malformed_bodies_are_400_unknown_media_types_415_and_oversized_bodies_413() {
    let path = streams_path("err-body");
    let malformed = server()
        .call("POST", &path)
        .header("Content-Type", "application/json")
        .body("{\"metadata\":");
    check_status(&malformed.send(), 400, "BadRequest");
    let text = server()
        .call("POST", &path)
        .header("Content-Type", "text/plain")
        .body("hi");
    check_status(&text.send(), 415, "UnsupportedMediaType");
    // Protobuf is only understood for the core Secrets kubectl sends that way.
    let protobuf = server()
        .call("POST", &path)
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(b"k8s\0".to_vec());
    check_status(&protobuf.send(), 415, "UnsupportedMediaType");
    let secret = server()
        .call("POST", "/api/v1/namespaces/err-body/secrets")
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(b"k8s\0\x0a\x0b\x0a\x02v1\x12\x05Other".to_vec());
    check_status(&secret.send(), 400, "BadRequest");
    create_stream("err-body", "p");
    let patch = server().patch(&stream_path("err-body", "p"), "application/xml", &json!({}));
    check_status(&patch.send(), 415, "UnsupportedMediaType");

    let mut huge = stream("err-body", "huge", &[]);
    huge["metadata"]["annotations"] = json!({"padding": "x".repeat(3 * 1024 * 1024)});
    check_status(
        &server().post(&path, &huge).send(),
        413,
        "RequestEntityTooLarge",
    );
    assert_eq!(
        server().get(&stream_path("err-body", "huge")).send().status,
        404
    );
}

#[test]
fn invalid_streams_are_422_with_one_cause_per_field() {
    let mut bad = stream("err-invalid", "Bad_Name", &[]);
    bad["spec"]["tags"] = json!([{"name": "t", "from": {"kind": "Bogus", "name": "x"}}]);
    let status = check_status(
        &server().post(&streams_path("err-invalid"), &bad).send(),
        422,
        "Invalid",
    );
    assert_eq!(status["details"]["kind"], "ImageStream");
    assert_eq!(status["details"]["group"], "image.openshift.io");
    let fields: Vec<&str> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|cause| cause["field"].as_str())
        .collect();
    assert!(fields.contains(&"metadata.name"), "{status}");
    assert!(fields.contains(&"spec.tags[t].from.kind"), "{status}");
}

#[test]
fn unknown_paths_and_resources_are_404_statuses() {
    for path in [
        "/apis/image.openshift.io/v1/namespaces/x/widgets",
        "/apis/nope.example.com/v1/things",
        "/apis/image.openshift.io/v1/namespaces/x/imagestreams/s/nonsense",
        "/not/an/api/path",
    ] {
        let body = check_status(&server().get(path).send(), 404, "NotFound");
        assert_eq!(
            body["message"], "the server could not find the requested resource",
            "{path}"
        );
    }
    let missing = check_status(
        &server().get(&stream_path("err-404", "gone")).send(),
        404,
        "NotFound",
    );
    assert_eq!(
        missing["message"],
        "imagestreams.image.openshift.io \"gone\" not found"
    );
    assert_eq!(
        missing["details"],
        json!({"name": "gone", "group": "image.openshift.io", "kind": "imagestreams"})
    );
}

#[test]
fn dry_run_all_answers_like_a_write_but_persists_nothing() {
    let ns = "err-dry";
    let created = server()
        .post(
            &format!("{}?dryRun=All", streams_path(ns)),
            &stream(ns, "ghost", &[]),
        )
        .send()
        .expect(201);
    assert_eq!(created["metadata"]["name"], "ghost");
    assert_eq!(server().get(&stream_path(ns, "ghost")).send().status, 404);

    let real = create_stream(ns, "real");
    let path = stream_path(ns, "real");
    let patched = server()
        .patch(
            &format!("{path}?dryRun=All"),
            MERGE,
            &json!({"metadata": {"labels": {"a": "b"}}}),
        )
        .send()
        .expect(200);
    assert_eq!(patched["metadata"]["labels"]["a"], "b");
    server()
        .delete(&format!("{path}?dryRun=All"))
        .send()
        .expect(200);
    let stored = server().get(&path).send().expect(200);
    assert_eq!(
        stored["metadata"]["resourceVersion"],
        real["metadata"]["resourceVersion"]
    );
    assert!(stored["metadata"].get("labels").is_none());
}

#[test]
fn updates_need_the_current_resource_version_and_names_are_taken_once() {
    let ns = "err-update";
    let created = create_stream(ns, "u");
    let path = stream_path(ns, "u");
    let mut without = created.clone();
    without["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let invalid = check_status(&server().put(&path, &without).send(), 422, "Invalid");
    assert_eq!(
        invalid["details"]["causes"][0]["field"],
        "metadata.resourceVersion"
    );

    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let conflict = check_status(&server().put(&path, &stale).send(), 409, "Conflict");
    assert!(conflict["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));

    let again = server()
        .post(&streams_path(ns), &stream(ns, "u", &[]))
        .send();
    let exists = check_status(&again, 409, "AlreadyExists");
    assert_eq!(
        exists["message"],
        "imagestreams.image.openshift.io \"u\" already exists"
    );

    let same = server().put(&path, &created).send().expect(200);
    assert_eq!(
        same["metadata"]["resourceVersion"], created["metadata"]["resourceVersion"],
        "a no-op keeps the resourceVersion"
    );

    let mut current = created;
    current["spec"]["lookupPolicy"]["local"] = json!(true);
    let updated = server().put(&path, &current).send().expect(200);
    assert_eq!(updated["metadata"]["generation"], 2);
}

#[test]
fn generate_name_appends_five_random_characters() {
    let ns = "err-generate";
    let mut body = stream(ns, "", &[]);
    // OpenShift validates the prefix as a stream name too, so it cannot end in '-'.
    body["metadata"] = json!({"generateName": "gen"});
    let first = server().create(&streams_path(ns), &body);
    let second = server().create(&streams_path(ns), &body);
    let names: Vec<&str> = [&first, &second]
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap())
        .collect();
    for name in &names {
        assert!(name.starts_with("gen") && name.len() == 8, "{name}");
    }
    assert_ne!(names[0], names[1]);
}

#[test]
fn deletecollection_deletes_only_what_the_selectors_match() {
    let ns = "err-collection";
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let mut body = stream(ns, name, &[]);
        body["metadata"]["labels"] = json!({"app": app});
        server().create(&streams_path(ns), &body);
    }
    let deleted = server()
        .delete(&format!(
            "{}?labelSelector=app%3Dx&fieldSelector=metadata.name!%3Db",
            streams_path(ns)
        ))
        .send()
        .expect(200);
    assert_eq!(deleted["kind"], "ImageStreamList");
    let names = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&deleted), ["a"]);
    let left = server().get(&streams_path(ns)).send().expect(200);
    assert_eq!(names(&left), ["b", "c"]);
}

#[test]
fn field_validation_strict_refuses_warn_warns_and_absent_ignores_unknown_fields() {
    let ns = "err-fields";
    let mut odd = stream(ns, "odd", &[]);
    odd["spec"]["colour"] = json!("blue");
    let path = streams_path(ns);
    let strict = server()
        .post(&format!("{path}?fieldValidation=Strict"), &odd)
        .send();
    let refused = check_status(&strict, 400, "BadRequest");
    assert_eq!(
        refused["message"],
        "ImageStream in version \"v1\" cannot be handled as a ImageStream: strict decoding error: unknown field \"spec.colour\""
    );

    let warned = server()
        .post(&format!("{path}?fieldValidation=Warn"), &odd)
        .send();
    warned.expect(201);
    assert_eq!(
        warned.header_values("warning"),
        ["299 - \"unknown field \\\"spec.colour\\\"\""]
    );

    let yaml = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: yaml\nspec:\n  size: 3\n";
    let from_yaml = server()
        .call("POST", &format!("{path}?fieldValidation=Warn"))
        .header("Content-Type", "application/yaml")
        .body(yaml)
        .send();
    from_yaml.expect(201);
    assert_eq!(
        from_yaml.header_values("warning"),
        ["299 - \"unknown field \\\"spec.size\\\"\""]
    );

    odd["metadata"]["name"] = json!("quiet");
    let silent = server().post(&path, &odd).send();
    assert!(silent.expect(201)["spec"].get("colour").is_none());
    assert!(silent.header_values("warning").is_empty());

    let patch = json!({"spec": {"shade": "red"}});
    let strict_patch = server().patch(
        &format!("{}?fieldValidation=Strict", stream_path(ns, "quiet")),
        MERGE,
        &patch,
    );
    // Patches fail like kube-apiserver's patch handler: 422 with the patch as the cause.
    let invalid = check_status(&strict_patch.send(), 422, "Invalid");
    let cause = &invalid["details"]["causes"][0];
    assert_eq!(cause["field"], "patch");
    let message = cause["message"].as_str().unwrap();
    assert!(
        message.ends_with("strict decoding error: unknown field \"spec.shade\""),
        "{message}"
    );
    let bad_value = server()
        .post(&format!("{path}?fieldValidation=Sometimes"), &odd)
        .send();
    check_status(&bad_value, 422, "Invalid");
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
    check_status(
        &server()
            .get(&format!("{}/layers", stream_path(ns, "nope")))
            .send(),
        404,
        "NotFound",
    );
}

#[test]
fn secrets_lists_the_namespace_docker_config_secrets_that_are_not_excluded() {
    let ns = "err-secrets";
    let secret = |name: &str, kind: &str, annotations: Value| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": kind, "data": {"k": "e30="},
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
    check_status(&opaque, 422, "Invalid");
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
    check_status(&garbled, 400, "BadRequest");
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
    check_status(&expired, 410, "Expired");

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
    server()
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
    let (_, events) = server().get(&selected).watch(|events| events.len() >= 2);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["ADDED", "DELETED"],
        "moving into and out of the selector"
    );

    let invalid = server()
        .get(&format!(
            "{}?watch=true&sendInitialEvents=true",
            streams_path(ns)
        ))
        .send();
    check_status(&invalid, 422, "Invalid");
}
