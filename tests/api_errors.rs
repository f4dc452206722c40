//! Raw HTTPS against an in-process server: every error is a Kubernetes `Status` whose code is
//! the HTTP status, and the write, list and subresource rules the clients rely on.

mod support;

use serde_json::{json, Value};
use support::{stream, stream_path, streams_path, Server};

const MERGE: &str = "application/merge-patch+json";

fn server() -> &'static Server {
    Server::shared()
}

fn create_stream(ns: &str, name: &str) -> Value {
    server().create(&streams_path(ns), &stream(ns, name, &[]))
}

#[test]
fn requests_without_a_known_token_are_401_but_version_needs_none() {
    let path = streams_path("err-auth");
    server()
        .get(&path)
        .no_token()
        .send()
        .expect_status(401, "Unauthorized");
    server()
        .get(&path)
        .token("not-a-token")
        .send()
        .expect_status(401, "Unauthorized");
    let version = server().get("/version").no_token().send().expect(200);
    assert_eq!(version["major"], "1");
}

#[test]
fn a_policy_rule_s_api_groups_limit_it_to_those_groups_resources() {
    let (_dir, limited) =
        support::limited_server("  verbs: [get, list]\n  apiGroups: [image.openshift.io]\n");
    let alice = |call: support::http::Call<'_>| call.token("alice-token").send();
    alice(limited.get(&streams_path("team-a"))).expect(200);
    let secrets =
        alice(limited.get("/api/v1/namespaces/team-a/secrets")).expect_status(403, "Forbidden");
    assert_eq!(
        secrets["message"],
        "secrets is forbidden: User \"alice\" cannot list resource \"secrets\" in API group \"\" \
         in the namespace \"team-a\""
    );
}

#[test]
fn a_policy_limits_a_user_to_reading_one_namespace() {
    let (_dir, limited) = limited_server("[get, list, watch]");
    limited.create(&streams_path("team-a"), &stream("team-a", "s", &[]));

    let alice = |call: support::http::Call<'_>| call.token("alice-token").send();
    alice(limited.get(&streams_path("team-a"))).expect(200);
    alice(limited.get(&stream_path("team-a", "s"))).expect(200);
    let create = alice(limited.post(&streams_path("team-a"), &stream("team-a", "t", &[])));
    let denied = create.expect_status(403, "Forbidden");
    assert_eq!(
        denied["message"],
        "imagestreams.image.openshift.io is forbidden: User \"alice\" cannot create resource \
         \"imagestreams\" in API group \"image.openshift.io\" in the namespace \"team-a\""
    );
    let other = alice(limited.get(&streams_path("team-b"))).expect_status(403, "Forbidden");
    let message = other["message"].as_str().unwrap();
    assert!(
        message.contains("cannot list resource \"imagestreams\""),
        "{message}"
    );
    assert!(message.contains("in the namespace \"team-b\""), "{message}");
    // The views over the streams are authorized, and refused, by their own names.
    for resource in ["imagestreamtags/s:v1", "imagestreamimages/s@sha256:abc"] {
        let path = format!("/apis/image.openshift.io/v1/namespaces/team-b/{resource}");
        let denied = alice(limited.get(&path)).expect_status(403, "Forbidden");
        let plural = resource.split('/').next().unwrap();
        let message = denied["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{plural}.image.openshift.io \"")),
            "{message}"
        );
        assert!(
            message.contains(&format!("cannot get resource \"{plural}\"")),
            "{message}"
        );
    }
    limited.stop();
}

#[test]
fn malformed_bodies_are_400_unknown_media_types_415_and_oversized_bodies_413() {
    let path = streams_path("err-body");
    let malformed = server()
        .call("POST", &path)
        .header("Content-Type", "application/json")
        .body("{\"metadata\":");
    malformed.send().expect_status(400, "BadRequest");
    let text = server()
        .call("POST", &path)
        .header("Content-Type", "text/plain")
        .body("hi");
    text.send().expect_status(415, "UnsupportedMediaType");
    // Protobuf is only understood for the core Secrets kubectl sends that way.
    let protobuf = server()
        .call("POST", &path)
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(b"k8s\0".to_vec());
    protobuf.send().expect_status(415, "UnsupportedMediaType");
    let secret = server()
        .call("POST", "/api/v1/namespaces/err-body/secrets")
        .header("Content-Type", "application/vnd.kubernetes.protobuf")
        .body(b"k8s\0\x0a\x0b\x0a\x02v1\x12\x05Other".to_vec());
    secret.send().expect_status(400, "BadRequest");
    create_stream("err-body", "p");
    let patch = server().patch(&stream_path("err-body", "p"), "application/xml", &json!({}));
    patch.send().expect_status(415, "UnsupportedMediaType");

    // Nesting is measured before a YAML body is parsed (libyaml's time grows with its square).
    let nested = format!("{}1{}", "{\"a\":".repeat(40_000), "}".repeat(40_000));
    for (method, path, content_type) in [
        ("POST", path.clone(), "application/yaml"),
        (
            "PATCH",
            stream_path("err-body", "p"),
            "application/apply-patch+yaml",
        ),
    ] {
        let refused = server()
            .call(method, &format!("{path}?fieldManager=t"))
            .header("Content-Type", content_type)
            .body(nested.clone())
            .send()
            .expect_status(400, "BadRequest");
        assert_eq!(
            refused["message"], "error decoding YAML: nesting deeper than 128 levels",
            "{method} {content_type}"
        );
    }

    let mut huge = stream("err-body", "huge", &[]);
    huge["metadata"]["annotations"] = json!({"padding": "x".repeat(3 * 1024 * 1024)});
    server()
        .post(&path, &huge)
        .send()
        .expect_status(413, "RequestEntityTooLarge");
    assert_eq!(
        server().get(&stream_path("err-body", "huge")).send().status,
        404
    );
}

/// Sends the file `body` as a create to `path` with curl over `version` (`--http2`,
/// `--http1.1`): the HTTP version it used and the answer, or curl's error.
fn curl_create(
    path: &str,
    body: &std::path::Path,
    version: &str,
) -> Result<(String, Value), String> {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, &server().ca_pem).unwrap();
    let output = std::process::Command::new("curl")
        .args([version, "-sS", "-X", "POST", "-w", "\n%{http_version}"])
        .arg("--cacert")
        .arg(&ca)
        .args(["-H", &format!("Authorization: Bearer {}", server().token)])
        .args(["-H", "Content-Type: application/json"])
        .arg("--data-binary")
        .arg(format!("@{}", body.display()))
        .arg(format!("{}{path}", server().url()))
        .output()
        .expect("curl runs (make test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (answer, used) = stdout.rsplit_once('\n').unwrap_or_default();
    match serde_json::from_str(answer) {
        Ok(answer) if output.status.success() => Ok((used.to_string(), answer)),
        _ => Err(format!("{}: {stderr} {stdout}", output.status)),
    }
}

/// A client still sending when the answer comes is cut off (HTTP/2 resets the stream, which
/// curl reports as a framing error instead of the answer), so the rest is read first.
#[test]
fn a_body_far_over_the_limit_is_read_to_its_end_and_answered_413_over_http2_and_http1() {
    let mut huge = stream("err-huge", "huge", &[]);
    huge["metadata"]["annotations"] = json!({"padding": "x".repeat(12 * 1024 * 1024)});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec(&huge).unwrap()).unwrap();
    for (version, used) in [("--http2", "2"), ("--http1.1", "1.1")] {
        let answered = curl_create(&streams_path("err-huge"), file.path(), version);
        let (used_version, answer) = answered.unwrap_or_else(|error| panic!("{version}: {error}"));
        assert_eq!(used_version, used);
        assert_eq!(answer["code"], 413, "{answer}");
        assert_eq!(answer["reason"], "RequestEntityTooLarge", "{answer}");
    }
}

#[test]
fn a_stream_too_large_to_store_is_413_saying_how_large_and_what_to_do() {
    let path = streams_path("err-size");
    let mut big = stream("err-size", "big", &[]);
    let tag = |i: usize| {
        json!({"name": format!("t{i}"), "from": {"kind": "DockerImage", "name": format!("quay.io/org/app-{i}:v1")},
               "annotations": {"description": "x".repeat(700)}})
    };
    big["spec"]["tags"] = (0..2_300).map(tag).collect();
    let refused = server()
        .post(&path, &big)
        .send()
        .expect_status(413, "RequestEntityTooLarge");
    let message = refused["message"].as_str().unwrap();
    for part in [
        "over the limit of 1570816 bytes",
        "make it smaller",
        "fewer spec tags",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(
        server().get(&stream_path("err-size", "big")).send().status,
        404
    );
    // A dry run answers what the write would (`kubectl apply --dry-run=server` in CI).
    let dry = server()
        .post(&format!("{path}?dryRun=All"), &big)
        .send()
        .expect_status(413, "RequestEntityTooLarge");
    assert_eq!(dry["message"], refused["message"]);
    server()
        .post(&path, &stream("err-size", "grown", &[]))
        .send()
        .expect(201);
    let grown = stream_path("err-size", "grown");
    let patch = json!({"spec": {"tags": big["spec"]["tags"]}});
    let dry = format!("{grown}?dryRun=All");
    server()
        .patch(&dry, MERGE, &patch)
        .send()
        .expect_status(413, "RequestEntityTooLarge");
    server()
        .patch(&grown, MERGE, &patch)
        .send()
        .expect_status(413, "RequestEntityTooLarge");
}

#[test]
fn only_a_delete_sets_deletion_timestamp_a_write_that_does_is_422() {
    create_stream("err-deleting", "d");
    let path = stream_path("err-deleting", "d");
    let marked = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}});
    let refused = server()
        .patch(&path, MERGE, &marked)
        .send()
        .expect_status(422, "Invalid");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("metadata.deletionTimestamp: Invalid value: \"2026-01-01T00:00:00Z\": field is immutable"),
        "{message}"
    );
    let stored = server().get(&path).send().expect(200);
    assert!(stored["metadata"]["deletionTimestamp"].is_null());
}

#[test]
fn invalid_streams_are_422_with_one_cause_per_field() {
    let mut bad = stream("err-invalid", "Bad_Name", &[]);
    bad["spec"]["tags"] = json!([{"name": "t", "from": {"kind": "Bogus", "name": "x"}}]);
    let status = server()
        .post(&streams_path("err-invalid"), &bad)
        .send()
        .expect_status(422, "Invalid");
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
        let body = server().get(path).send().expect_status(404, "NotFound");
        assert_eq!(
            body["message"], "the server could not find the requested resource",
            "{path}"
        );
    }
    let missing = server()
        .get(&stream_path("err-404", "gone"))
        .send()
        .expect_status(404, "NotFound");
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
fn a_dry_run_create_of_a_taken_name_is_refused_as_the_create_would_be() {
    let ns = "err-dry-taken";
    create_stream(ns, "taken");
    let dry_run = server()
        .post(
            &format!("{}?dryRun=All", streams_path(ns)),
            &stream(ns, "taken", &[]),
        )
        .send()
        .expect_status(409, "AlreadyExists");
    let real = server()
        .post(&streams_path(ns), &stream(ns, "taken", &[]))
        .send()
        .expect_status(409, "AlreadyExists");
    assert_eq!(dry_run, real);
    assert_eq!(
        dry_run["details"],
        json!({"name": "taken", "group": "image.openshift.io", "kind": "imagestreams"})
    );
}

#[test]
fn marking_an_object_for_deletion_moves_its_generation_once() {
    let ns = "err-delete-generation";
    let mut held = stream(ns, "held", &[]);
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let created = server().create(&streams_path(ns), &held);
    assert_eq!(created["metadata"]["generation"], 1);
    let path = stream_path(ns, "held");
    let dry_run = server()
        .delete(&format!("{path}?dryRun=All"))
        .send()
        .expect(200);
    assert_eq!(dry_run["metadata"]["generation"], 2, "{dry_run}");
    let marked = server().delete(&path).send().expect(200);
    assert!(
        marked["metadata"]["deletionTimestamp"].is_string(),
        "{marked}"
    );
    assert_eq!(marked["metadata"]["generation"], 2, "{marked}");
    let again = server().delete(&path).send().expect(200);
    assert_eq!(
        again["metadata"]["generation"], 2,
        "a second delete marks nothing new"
    );
    assert_eq!(server().get(&path).send().expect(200), again);
    let released = json!({"metadata": {"finalizers": []}});
    server().patch(&path, MERGE, &released).send().expect(200);
}

#[test]
fn a_resource_version_of_zero_on_a_put_counts_as_none() {
    let ns = "err-version-zero";
    let created = create_stream(ns, "s");
    let mut zero = created.clone();
    zero["metadata"]["resourceVersion"] = json!("0");
    let refused = server()
        .put(&stream_path(ns, "s"), &zero)
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(
        refused["message"],
        "imagestreams.image.openshift.io \"s\" is invalid: metadata.resourceVersion: Invalid \
         value: 0: must be specified for an update"
    );

    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let secret = |config: &str| {
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "pull", "resourceVersion": "0"},
               "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": config}})
    };
    let mut first = secret("e30=");
    first["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    server().create(&secrets, &first);
    let replaced = server()
        .put(&format!("{secrets}/pull"), &secret("eyJhdXRocyI6e319"))
        .send()
        .expect(200);
    assert_eq!(replaced["data"][".dockerconfigjson"], "eyJhdXRocyI6e319");
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
    let invalid = server()
        .put(&path, &without)
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(
        invalid["details"]["causes"][0]["field"],
        "metadata.resourceVersion"
    );

    let mut stale = created.clone();
    stale["metadata"]["resourceVersion"] = json!("1");
    let conflict = server()
        .put(&path, &stale)
        .send()
        .expect_status(409, "Conflict");
    assert!(conflict["message"]
        .as_str()
        .unwrap()
        .contains("the object has been modified"));

    let again = server()
        .post(&streams_path(ns), &stream(ns, "u", &[]))
        .send();
    let exists = again.expect_status(409, "AlreadyExists");
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
    let refused = strict.expect_status(400, "BadRequest");
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
    // As go-yaml reads a body: its first document; a trailing `---` and what follows are unread.
    let stream = format!(
        "{}---\nspec:\n  shade: red\n---\n",
        yaml.replace("name: yaml", "name: yaml-stream")
    );
    let from_stream = server()
        .call("POST", &format!("{path}?fieldValidation=Warn"))
        .header("Content-Type", "application/yaml")
        .body(stream)
        .send();
    assert_eq!(from_stream.expect(201)["metadata"]["name"], "yaml-stream");
    assert_eq!(
        from_stream.header_values("warning"),
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
    let invalid = strict_patch.send().expect_status(422, "Invalid");
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
    bad_value.expect_status(422, "Invalid");
}

#[test]
fn a_patch_can_neither_rename_an_object_nor_move_it() {
    let ns = "err-rename";
    create_stream(ns, "web");
    let path = stream_path(ns, "web");
    let renamed = json!({"metadata": {"name": "db"}});
    let refused = server()
        .patch(&path, MERGE, &renamed)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        refused["message"],
        "the name of the object (db) does not match the name on the URL (web)"
    );
    let moved = json!([{"op": "replace", "path": "/metadata/namespace", "value": "other"}]);
    server()
        .patch(&path, "application/json-patch+json", &moved)
        .send()
        .expect_status(400, "BadRequest");
    let kept = server().get(&path).send().expect(200);
    assert_eq!(
        (&kept["metadata"]["name"], &kept["metadata"]["namespace"]),
        (&json!("web"), &json!(ns))
    );
    server()
        .get(&stream_path(ns, "db"))
        .send()
        .expect_status(404, "NotFound");
}

#[test]
fn concurrent_patches_without_a_resource_version_all_apply() {
    let ns = "err-contended";
    create_stream(ns, "busy");
    let path = stream_path(ns, "busy");
    let writers: Vec<_> = (0..24)
        .map(|i| {
            let path = path.clone();
            std::thread::spawn(move || {
                let annotation = json!({"metadata": {"annotations": {format!("w{i}"): "v"}}});
                server().patch(&path, MERGE, &annotation).send().status
            })
        })
        .collect();
    let codes: Vec<u16> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(codes.iter().all(|code| *code == 200), "{codes:?}");
    let stored = server().get(&path).send().expect(200);
    let annotations = stored["metadata"]["annotations"].as_object().unwrap();
    assert_eq!(annotations.len(), 24, "{annotations:?}");
}

#[test]
fn metadata_is_validated_as_apimachinery_does() {
    let ns = "err-meta";
    let mut bad = stream(ns, "badmeta", &[]);
    bad["metadata"]["labels"] = json!({"bad key!": "ok"});
    bad["metadata"]["finalizers"] = json!(["Bad Name!"]);
    bad["metadata"]["ownerReferences"] =
        json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "x"}]);
    let status = server()
        .post(&streams_path(ns), &bad)
        .send()
        .expect_status(422, "Invalid");
    let fields: Vec<&str> = status["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|cause| cause["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "metadata.labels",
            "metadata.finalizers",
            "metadata.ownerReferences.uid"
        ],
        "{status}"
    );
    let mut huge = stream(ns, "huge", &[]);
    huge["metadata"]["annotations"] = json!({"a": "x".repeat(300_000)});
    let too_long = server()
        .post(&streams_path(ns), &huge)
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(
        too_long["details"]["causes"][0]["reason"],
        "FieldValueTooLong"
    );
    server()
        .get(&stream_path(ns, "badmeta"))
        .send()
        .expect_status(404, "NotFound");

    // A name or resourceVersion of another JSON type is a decode error, not a missing one.
    let mut numbered = stream(ns, "numbered", &[]);
    numbered["metadata"]["name"] = json!(5);
    let refused = server()
        .post(&streams_path(ns), &numbered)
        .send()
        .expect_status(400, "BadRequest");
    assert!(
        refused["message"].as_str().unwrap().ends_with(
            "cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string"
        ),
        "{refused}"
    );
    let mut kept = create_stream(ns, "kept");
    kept["metadata"]["resourceVersion"] = json!(5);
    let refused = server()
        .put(&stream_path(ns, "kept"), &kept)
        .send()
        .expect_status(400, "BadRequest");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("ObjectMeta.metadata.resourceVersion of type string"),
        "{refused}"
    );
}

#[test]
fn an_update_keeps_the_uid_and_a_deleted_object_takes_no_new_finalizers() {
    let ns = "err-immutable";
    let created = create_stream(ns, "u");
    let path = stream_path(ns, "u");
    let mut other_uid = created.clone();
    other_uid["metadata"]["uid"] = json!("00000000-0000-0000-0000-000000000000");
    let conflict = server()
        .put(&path, &other_uid)
        .send()
        .expect_status(409, "Conflict");
    assert!(
        conflict["message"]
            .as_str()
            .unwrap()
            .contains("Precondition failed: UID in precondition"),
        "{conflict}"
    );
    let patched_uid = json!({"metadata": {"uid": "00000000-0000-0000-0000-000000000000"}});
    let invalid = server()
        .patch(&path, MERGE, &patched_uid)
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(invalid["details"]["causes"][0]["field"], "metadata.uid");

    let mut held = stream(ns, "held", &[]);
    held["metadata"]["finalizers"] = json!(["example.com/a"]);
    server().create(&streams_path(ns), &held);
    let held_path = stream_path(ns, "held");
    server().delete(&held_path).send().expect(200);
    let more = json!({"metadata": {"finalizers": ["example.com/a", "example.com/new"]}});
    let forbidden = server()
        .patch(&held_path, MERGE, &more)
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(
        forbidden["details"]["causes"][0]["reason"],
        "FieldValueForbidden"
    );
    let released = json!({"metadata": {"finalizers": []}});
    server()
        .patch(&held_path, MERGE, &released)
        .send()
        .expect(200);
    server()
        .get(&held_path)
        .send()
        .expect_status(404, "NotFound");
}

#[test]
fn a_delete_whose_body_is_the_object_itself_deletes_nothing() {
    let ns = "err-delete-body";
    let created = create_stream(ns, "victim");
    let path = stream_path(ns, "victim");
    let body = serde_json::to_vec(&created).unwrap();
    server()
        .delete(&path)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .expect_status(400, "BadRequest");
    server().get(&path).send().expect(200);
}

const APPLY: &str = "application/apply-patch+yaml";

#[test]
fn concurrent_applies_creating_one_object_all_apply() {
    let ns = "err-apply-race";
    let path = format!("{}?fieldManager=", stream_path(ns, "raced"));
    let appliers: Vec<_> = (0..8)
        .map(|i| {
            let path = format!("{path}m{i}");
            std::thread::spawn(move || {
                let config = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                    "metadata": {"name": "raced", "labels": {format!("by-m{i}"): "yes"}}});
                server().patch(&path, APPLY, &config).send().status
            })
        })
        .collect();
    let codes: Vec<u16> = appliers.into_iter().map(|a| a.join().unwrap()).collect();
    assert!(
        codes.iter().all(|code| matches!(code, 200 | 201)),
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|code| **code == 201).count(),
        1,
        "{codes:?}"
    );
    let stored = server().get(&stream_path(ns, "raced")).send().expect(200);
    let labels = stored["metadata"]["labels"].as_object().unwrap();
    assert_eq!(labels.len(), 8, "{labels:?}");
}

#[test]
fn an_apply_that_creates_must_name_the_object_of_the_url() {
    let ns = "err-apply-name";
    let config = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
                        "metadata": {"name": "other"}});
    let path = format!("{}?fieldManager=m", stream_path(ns, "wanted"));
    let refused = server()
        .patch(&path, APPLY, &config)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        refused["message"],
        "the name of the object (other) does not match the name on the URL (wanted)"
    );
    server()
        .get(&stream_path(ns, "wanted"))
        .send()
        .expect_status(404, "NotFound");
}

#[test]
fn an_array_where_an_object_belongs_is_400_naming_the_field() {
    let ns = "err-shape";
    let mut listed = stream(ns, "listed", &[]);
    listed["spec"] = json!([{"local": true}, "x"]);
    let refused = server()
        .post(&streams_path(ns), &listed)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        refused["message"],
        "ImageStream in version \"v1\" cannot be handled as a ImageStream: json: cannot unmarshal \
         array into Go struct field ImageStream.spec of type v1.ImageStreamSpec"
    );
    assert_eq!(server().get(&stream_path(ns, "listed")).send().status, 404);

    // A patch that gives the same is a 422 whose cause is the patch, as kube-apiserver's
    // patch handler answers a patched object it cannot decode.
    create_stream(ns, "kept");
    let patch = json!({"spec": {"lookupPolicy": [true]}});
    let patched = server()
        .patch(&stream_path(ns, "kept"), MERGE, &patch)
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(patched["details"]["causes"][0]["field"], "patch");
    let message = patched["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "Go struct field ImageStreamSpec.spec.lookupPolicy of type v1.ImageLookupPolicy"
        ),
        "{message}"
    );
    let applied = server()
        .call("PATCH", &format!("{}?fieldManager=m", stream_path(ns, "kept")))
        .header("Content-Type", "application/apply-patch+yaml")
        .body("apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata: {name: kept}\nspec:\n  tags: [[a]]\n")
        .send()
        .expect_status(400, "BadRequest");
    let message = applied["message"].as_str().unwrap();
    assert!(
        message.ends_with(".spec.tags[0]: expected map, got array"),
        "{message}"
    );

    // A patch that makes metadata an array or a string is refused (422, as any patch that
    // does not decode), not a dropped connection.
    let json_patch = json!([{"op": "replace", "path": "/metadata", "value": []}]);
    let patches = [
        (MERGE, json!({"metadata": ["x"]})),
        (
            "application/strategic-merge-patch+json",
            json!({"metadata": "x"}),
        ),
        ("application/json-patch+json", json_patch),
    ];
    for (content_type, body) in patches {
        let refused = server()
            .patch(&stream_path(ns, "kept"), content_type, &body)
            .send()
            .expect_status(422, "Invalid");
        let message = refused["message"].as_str().unwrap();
        assert!(message.contains("metadata"), "{content_type}: {message}");
    }
    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"},
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
    server().create(&secrets, &secret);
    let refused = server()
        .patch(
            &format!("{secrets}/pull"),
            MERGE,
            &json!({"metadata": ["x"]}),
        )
        .send()
        .expect_status(422, "Invalid");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal array \
             into Go struct field Secret.metadata of type v1.ObjectMeta"
        ),
        "{message}"
    );
    // A field of the wrong type is refused, not stored for every later read to choke on.
    let typed = json!({"immutable": [], "metadata": {"finalizers": {}}});
    let refused = server()
        .patch(&format!("{secrets}/pull"), MERGE, &typed)
        .send()
        .expect_status(422, "Invalid");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("metadata.finalizers: invalid type"),
        "{message}"
    );
    let stored = server().get(&format!("{secrets}/pull")).send().expect(200);
    assert_eq!(stored.get("immutable"), None, "{stored}");
    // Secrets are checked against their own schema under fieldValidation=Strict.
    let mut misspelt = secret.clone();
    misspelt["metadata"]["name"] = json!("typo");
    misspelt["imutable"] = json!(true);
    let refused = server()
        .post(&format!("{secrets}?fieldValidation=Strict"), &misspelt)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        refused["message"],
        r#"Secret in version "v1" cannot be handled as a Secret: strict decoding error: unknown field "imutable""#
    );
}

#[test]
fn strict_field_validation_reports_a_type_error_before_unknown_fields() {
    let ns = "err-strict-type";
    let mut odd = stream(ns, "odd", &[]);
    odd["spec"]["colour"] = json!("blue");
    odd["spec"]["lookupPolicy"] = json!({"local": "yes"});
    let refused = server()
        .post(
            &format!("{}?fieldValidation=Strict", streams_path(ns)),
            &odd,
        )
        .send()
        .expect_status(400, "BadRequest");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("spec.lookupPolicy.local"), "{message}");
    assert!(!message.contains("colour"), "{message}");
}

#[test]
fn a_secret_is_replaced_without_a_resource_version_but_a_stream_is_not() {
    let ns = "err-unconditional";
    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let secret = |config: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pull"},
               "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": config}})
    };
    server().create(&secrets, &secret("e30="));
    // What a client builds afresh and replaces (the Python client's replace_namespaced_secret).
    let replaced = server()
        .put(&format!("{secrets}/pull"), &secret("eyJhdXRocyI6e319"))
        .send()
        .expect(200);
    assert_eq!(replaced["data"][".dockerconfigjson"], "eyJhdXRocyI6e319");

    create_stream(ns, "s");
    let mut stream = server().get(&stream_path(ns, "s")).send().expect(200);
    stream["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    let refused = server()
        .put(&stream_path(ns, "s"), &stream)
        .send()
        .expect_status(422, "Invalid");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(
            "metadata.resourceVersion: Invalid value: 0: must be specified for an update"
        ),
        "{message}"
    );
}

#[test]
fn a_scalar_where_metadata_belongs_is_a_decode_error_not_a_missing_name() {
    let ns = "err-scalar-meta";
    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": "x",
        "type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "e30="}});
    let refused = server()
        .post(&secrets, &secret)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        refused["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal string \
         into Go struct field Secret.metadata of type v1.ObjectMeta"
    );
    let mut stream = stream(ns, "s", &[]);
    stream["metadata"] = json!("s");
    let refused = server()
        .post(&streams_path(ns), &stream)
        .send()
        .expect_status(400, "BadRequest");
    let message = refused["message"].as_str().unwrap();
    assert!(message.ends_with("cannot unmarshal string into Go struct field ImageStream.metadata of type v1.ObjectMeta"), "{message}");
}

#[test]
fn an_image_stream_tag_may_copy_only_streams_its_writer_may_read() {
    let (_dir, limited) = limited_server("[\"*\"]");
    limited.create(&streams_path("team-b"), &stream("team-b", "private", &[]));
    let copy = |from_namespace: &str| {
        json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamTag",
               "metadata": {"name": format!("copy:{from_namespace}")},
               "tag": {"name": "x", "from": {"kind": "ImageStreamTag", "namespace": from_namespace,
                                              "name": "private:v1"}}})
    };
    let tags = "/apis/image.openshift.io/v1/namespaces/team-a/imagestreamtags";
    let refused = limited
        .post(tags, &copy("team-b"))
        .token("alice-token")
        .send()
        .expect_status(422, "Invalid");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(
            r#"spec.tags[team-b].from: Forbidden: team-b/private: "no --authz-file rule lets \"alice\" get imagestreams/layers in namespace \"team-b\"" """#
        ),
        "{message}"
    );
    // The same tag written by someone who may read team-b is accepted.
    limited.post(tags, &copy("team-b")).send().expect(201);
    limited.stop();
}

/// [`support::limited_server`] where alice may do `verbs` (a YAML list) in `team-a`.
fn limited_server(verbs: &str) -> (tempfile::TempDir, Server) {
    support::limited_server(&format!("  verbs: {verbs}\n"))
}

#[test]
fn a_refused_tag_source_reads_the_same_whether_or_not_it_exists() {
    let (_dir, limited) = limited_server("[\"*\"]");
    limited.create(&streams_path("team-b"), &stream("team-b", "private", &[]));
    let digest = format!("sha256:{}", "2".repeat(64));
    let refusal = |kind: &str, name: &str| {
        let probe = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStream",
            "metadata": {"name": "probe"},
            "spec": {"tags": [{"name": "t", "from": {"kind": kind, "namespace": "team-b",
                                                     "name": name}}]}});
        let path = format!("{}?dryRun=All", streams_path("team-a"));
        let refused = limited
            .post(&path, &probe)
            .token("alice-token")
            .send()
            .expect_status(422, "Invalid");
        refused["message"]
            .as_str()
            .unwrap()
            .replace("private", "STREAM")
    };
    let check = |kind: &str, suffix: &str| {
        let existing = refusal(kind, &format!("private{suffix}"));
        assert!(existing.contains("Forbidden: team-b/STREAM"), "{existing}");
        assert!(!existing.contains("Not found"), "not looked up: {existing}");
        let missing = refusal(kind, &format!("absent{suffix}")).replace("absent", "STREAM");
        assert_eq!(existing, missing);
    };
    check("ImageStreamTag", ":v1");
    check("ImageStreamImage", &format!("@{digest}"));
    limited.stop();
}

/// An ImageStream whose `spec` holds one anchored string of `string` bytes and `levels` levels
/// of 9 aliases over it.
fn alias_bomb(name: &str, string: usize, levels: usize) -> String {
    let mut text = format!(
        "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: {name}\nspec:\n  a0: &a0 \"{}\"\n",
        "x".repeat(string)
    );
    for level in 1..=levels {
        let items = vec![format!("*a{}", level - 1); 9].join(", ");
        text.push_str(&format!("  a{level}: &a{level} [{items}]\n"));
    }
    text
}

#[test]
fn yaml_aliases_that_expand_a_body_to_many_times_its_size_are_400_and_anchors_reused_a_few_times_are_fine(
) {
    let ns = "err-aliases";
    let path = streams_path(ns);
    create_stream(ns, "p");
    // 1 MB repeated 90 times: about 90 MB decoded from a 1 MB body.
    for (method, path, name, content_type) in [
        ("POST", path.clone(), "bomb", "application/yaml"),
        (
            "PATCH",
            stream_path(ns, "p"),
            "p",
            "application/apply-patch+yaml",
        ),
    ] {
        let refused = server()
            .call(method, &format!("{path}?fieldManager=t"))
            .header("Content-Type", content_type)
            .body(alias_bomb(name, 1_000_000, 2))
            .send()
            .expect_status(400, "BadRequest");
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.starts_with("error decoding YAML: aliases expand this ")
                && message.contains("repeat less through aliases"),
            "{method} {content_type}: {message}"
        );
    }
    assert_eq!(server().get(&stream_path(ns, "bomb")).send().status, 404);

    // Anchors as Helm or compose use them, and a small string repeated 81 times.
    let mut anchored = alias_bomb("anchored", 100, 2);
    anchored.push_str("  tags:\n  - name: v1\n    annotations: &notes {team: web, tier: front}\n    from: &from {kind: DockerImage, name: \"registry.example/app:v1\"}\n  - name: v2\n    annotations: *notes\n    from: *from\n");
    let created = created_from_yaml(&path, anchored);
    assert_eq!(created["spec"]["tags"][1]["annotations"]["team"], "web");
    assert_eq!(
        created["spec"]["tags"][1]["from"]["name"],
        "registry.example/app:v1"
    );
}

#[test]
fn a_yaml_body_may_open_with_a_byte_order_mark_and_a_json_body_may_not() {
    let path = streams_path("err-bom");
    let yaml =
        "\u{feff}apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: ybom\n";
    let created = created_from_yaml(&path, yaml);
    assert_eq!(created["metadata"]["name"], "ybom");
    let applied = applied_from_yaml(
        &stream_path("err-bom", "ybom"),
        format!("{yaml}spec:\n  lookupPolicy: {{local: true}}\n"),
    );
    assert_eq!(applied["spec"]["lookupPolicy"]["local"], true);
    let json = "\u{feff}{\"apiVersion\": \"image.openshift.io/v1\", \"kind\": \"ImageStream\", \"metadata\": {\"name\": \"jbom\"}}";
    server()
        .call("POST", &path)
        .header("Content-Type", "application/json")
        .body(json)
        .send()
        .expect_status(400, "BadRequest");
}

#[test]
fn yaml_merge_keys_are_merged_as_kube_apiserver_merges_them_on_create_and_apply() {
    let path = streams_path("err-merge");
    let yaml = "apiVersion: image.openshift.io/v1\nkind: ImageStream\nmetadata:\n  name: merged\n  labels: &common {app: web, tier: front}\n  annotations:\n    <<: *common\n    tier: back\n";
    let created = created_from_yaml(&path, yaml);
    let annotations = &created["metadata"]["annotations"];
    assert_eq!(
        (&annotations["app"], &annotations["tier"]),
        (&json!("web"), &json!("back"))
    );
    assert!(annotations.get("<<").is_none(), "{annotations}");
    let applied = applied_from_yaml(
        &stream_path("err-merge", "merged"),
        format!("{yaml}spec:\n  lookupPolicy:\n    <<: {{local: true}}\n"),
    );
    assert_eq!(applied["spec"]["lookupPolicy"]["local"], true);
}

/// The stream a YAML create of `body` in collection `path` made (201).
fn created_from_yaml(path: &str, body: impl Into<String>) -> Value {
    server()
        .call("POST", path)
        .header("Content-Type", "application/yaml")
        .body(body.into())
        .send()
        .expect(201)
}

/// The stream a server-side apply of the YAML `body` to `path` left (200), as manager `t`.
fn applied_from_yaml(path: &str, body: impl Into<String>) -> Value {
    server()
        .call("PATCH", &format!("{path}?fieldManager=t"))
        .header("Content-Type", "application/apply-patch+yaml")
        .body(body.into())
        .send()
        .expect(200)
}
