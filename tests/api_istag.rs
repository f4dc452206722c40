//! `imagestreamtags` and `imagestreamimages` through a real kubectl 1.37, the `openshift` Python
//! client and raw HTTPS: the view of one tag that
//! pipelines read (`kubectl get istag app:1 -o jsonpath='{.image.dockerImageReference}'`).

mod support;

#[path = "api_istag/patch.rs"]
mod patch;

use serde_json::{json, Value};
use support::{stream, stream_path, streams_path, Server};

const MERGE: &str = "application/merge-patch+json";
const JSON_PATCH: &str = "application/json-patch+json";
const STRATEGIC: &str = "application/strategic-merge-patch+json";

fn server() -> &'static Server {
    Server::shared()
}

fn tags_path(namespace: &str) -> String {
    format!("/apis/image.openshift.io/v1/namespaces/{namespace}/imagestreamtags")
}

fn digest(fill: char) -> String {
    format!("sha256:{}", fill.to_string().repeat(64))
}

/// `ns/db` labelled `app=db`, with tags `8` and `9` imported (status events written through
/// `/status`, as the importer writes them) and `next`, a reference tag with no image.
fn create_db_stream(ns: &str) {
    let mut body = stream(ns, "db", &[("next", "quay.io/example/db:next")]);
    body["metadata"]["labels"] = json!({"app": "db"});
    body["spec"]["tags"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "8", "annotations": {"team": "data"},
                     "from": {"kind": "DockerImage", "name": "quay.io/example/db:8"}}));
    server().create(&streams_path(ns), &body);
    let event = |tag: &str, fill: char| {
        json!({"tag": tag, "items": [{"created": "2026-01-01T00:00:00Z", "generation": 1,
               "dockerImageReference": format!("quay.io/example/db@{}", digest(fill)),
               "image": digest(fill)}]})
    };
    let status = json!({"status": {"tags": [event("8", 'a'), event("9", 'b')]}});
    server()
        .patch(&format!("{}/status", stream_path(ns, "db")), MERGE, &status)
        .send()
        .expect(200);
}

#[test]
fn kubectl_lists_tags_with_images_in_openshift_columns_and_reads_one_with_jsonpath() {
    let ns = "istag-read";
    create_db_stream(ns);

    let table = server().kubectl(&["get", "istag", "-n", ns]).success();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "IMAGE", "REFERENCE", "UPDATED"]);
    let names: Vec<&str> = table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["db:8", "db:9"],
        "a tag without an image is left out: {table}"
    );
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.contains(&format!("quay.io/example/db@{}", digest('a'))),
        "{table}"
    );
    assert!(row.contains(" ago"), "{table}");

    let wide = server()
        .kubectl(&["get", "istag", "db:9", "-n", ns, "-o", "wide"])
        .success();
    assert!(
        wide.lines().next().unwrap().contains("IMAGE NAME"),
        "{wide}"
    );
    assert!(wide.contains(&digest('b')), "{wide}");

    let reference = server()
        .kubectl(&[
            "get",
            "istag",
            "db:8",
            "-n",
            ns,
            "-o",
            "jsonpath={.image.dockerImageReference}",
        ])
        .success();
    assert_eq!(reference, format!("quay.io/example/db@{}", digest('a')));

    let everywhere = server()
        .kubectl(&["get", "imagestreamtags", "-A"])
        .success();
    assert!(everywhere.starts_with("NAMESPACE"), "{everywhere}");
    assert!(
        everywhere
            .lines()
            .any(|l| l.starts_with("istag-read ") && l.contains(" db:9 ")),
        "{everywhere}"
    );
}

#[test]
fn a_tag_is_the_streams_spec_tag_lookup_policy_and_newest_event() {
    let ns = "istag-object";
    create_db_stream(ns);
    let istag = server()
        .get(&format!("{}/db:8", tags_path(ns)))
        .send()
        .expect(200);
    let stream = server().get(&stream_path(ns, "db")).send().expect(200);
    assert_eq!(istag["kind"], "ImageStreamTag");
    assert_eq!(istag["metadata"]["name"], "db:8");
    assert_eq!(istag["metadata"]["namespace"], ns);
    assert_eq!(istag["metadata"]["uid"], stream["metadata"]["uid"]);
    assert_eq!(
        istag["metadata"]["resourceVersion"],
        stream["metadata"]["resourceVersion"]
    );
    assert_eq!(istag["metadata"]["labels"], json!({"app": "db"}));
    assert_eq!(istag["metadata"]["annotations"], json!({"team": "data"}));
    assert_eq!(
        istag["metadata"]["creationTimestamp"],
        "2026-01-01T00:00:00Z"
    );
    assert_eq!(istag["tag"]["from"]["name"], "quay.io/example/db:8");
    assert_eq!(istag["lookupPolicy"], json!({"local": false}));
    assert_eq!(istag["generation"], 1);
    assert_eq!(istag["image"]["metadata"]["name"], digest('a'));

    // A status tag without a spec tag (a push, in OpenShift) has a null `tag`.
    let pushed = server()
        .get(&format!("{}/db:9", tags_path(ns)))
        .send()
        .expect(200);
    assert_eq!(pushed["tag"], Value::Null);
}

#[test]
fn missing_tags_streams_and_malformed_names_get_openshifts_statuses() {
    let ns = "istag-errors";
    create_db_stream(ns);
    let get = |name: &str| server().get(&format!("{}/{name}", tags_path(ns))).send();

    let details = get("db:next").expect_status(404, "NotFound");
    assert_eq!(
        details["details"],
        json!({"name": "db:next", "group": "image.openshift.io", "kind": "imagestreamtags"})
    );
    let details = get("nothing:1").expect_status(404, "NotFound");
    assert_eq!(details["details"]["kind"], "imagestreams");
    assert_eq!(details["details"]["name"], "nothing");
    let status = get("db").expect_status(400, "BadRequest");
    assert_eq!(
        status["message"],
        "ImageStreamTags must be retrieved with <name>:<tag>"
    );

    let message = server()
        .kubectl(&["get", "istag", "db:next", "-n", ns])
        .failure();
    assert!(
        message.contains(r#"imagestreamtags.image.openshift.io "db:next" not found"#),
        "{message}"
    );
}

#[test]
fn selectors_filter_the_list_and_watches_are_not_served() {
    let ns = "istag-select";
    create_db_stream(ns);
    let names = |query: &str| -> Vec<String> {
        let list = server()
            .get(&format!("{}?{query}", tags_path(ns)))
            .send()
            .expect(200);
        assert_eq!(list["kind"], "ImageStreamTagList");
        let items = list["items"].as_array().unwrap();
        items
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("labelSelector=app%3Ddb"), ["db:8", "db:9"]);
    assert!(names("labelSelector=app%3Dweb").is_empty());
    assert_eq!(names("fieldSelector=metadata.name%3Ddb:9"), ["db:9"]);
    server()
        .get(&format!("{}?fieldSelector=image.name%3Dx", tags_path(ns)))
        .send()
        .expect_status(400, "BadRequest");

    server()
        .get(&format!("{}?watch=true", tags_path(ns)))
        .send()
        .expect_status(405, "MethodNotAllowed");
    // A create must name its tag.
    server()
        .post(&tags_path(ns), &json!({"kind": "ImageStreamTag"}))
        .send()
        .expect_status(400, "BadRequest");
}

#[test]
fn kubectl_deletes_a_tag_with_its_history_and_leaves_the_rest_of_the_stream() {
    let ns = "istag-delete";
    create_db_stream(ns);
    let deleted = server()
        .kubectl(&["delete", "istag", "db:8", "-n", ns])
        .success();
    assert!(
        deleted.contains(r#"imagestreamtag.image.openshift.io "db:8" deleted"#),
        "{deleted}"
    );
    let stream = server().get(&stream_path(ns, "db")).send().expect(200);
    let spec: Vec<&str> = stream["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(spec, ["next"], "{stream}");
    let status: Vec<&str> = stream["status"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tag"].as_str().unwrap())
        .collect();
    assert!(!status.contains(&"8"), "{stream}");
    assert!(status.contains(&"9"), "{stream}");

    // A pushed tag (status only) goes too; a tag the stream lacks is 404, as OpenShift answers.
    server()
        .kubectl(&["delete", "istag", "db:9", "-n", ns])
        .success();
    let path = format!("{}/db:9", tags_path(ns));
    let missing = server().delete(&path).send().expect_status(404, "NotFound");
    assert_eq!(missing["details"]["kind"], "imagestreamtags");
    let uid = json!({"preconditions": {"uid": "not-the-stream"}});
    let refused = server()
        .call("DELETE", &format!("{}/db:next", tags_path(ns)))
        .json(&uid)
        .send();
    refused.expect_status(409, "Conflict");
}

#[test]
fn the_openshift_python_client_lists_reads_and_patches_tags() {
    let ns = "istag-python";
    create_db_stream(ns);
    let stdout = server()
        .python("image_stream_tags.py", &[ns, "db:8", "db:next"])
        .success();
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(seen["list_kind"], "ImageStreamTagList");
    assert_eq!(seen["listed"], json!(["db:8", "db:9"]));
    assert_eq!(
        seen["reference"],
        format!("quay.io/example/db@{}", digest('a'))
    );
    assert_eq!(seen["missing_status"], 404);
    assert_eq!(seen["patched_from"], "quay.io/example/db:8.1");
    let annotated = json!({"team": "data", "patched-by": "custom-objects"});
    assert_eq!(seen["annotated"], annotated, "{stdout}");
    let stored = server().get(&stream_path(ns, "db")).send().expect(200);
    let tag = stored["spec"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|tag| tag["name"] == "8")
        .unwrap();
    assert_eq!(tag["from"]["name"], "quay.io/example/db:8.1", "{stored}");
    assert_eq!(tag["annotations"], annotated, "{stored}");
}

#[test]
fn escaped_path_segments_are_served_decoded_as_kube_apiserver_serves_them() {
    let ns = "istag-escaped";
    create_db_stream(ns);
    // `istag%2Descaped` is `istag-escaped`; `db%3A8` is `db:8`; `db%40sha256%3A…` is `db@sha256:…`.
    let escaped_ns = "/apis/image.openshift.io/v1/namespaces/istag%2Descaped";
    let tag = server()
        .get(&format!("{escaped_ns}/imagestreamtags/db%3A8"))
        .send()
        .expect(200);
    assert_eq!(tag["metadata"]["name"], "db:8");
    assert_eq!(tag["metadata"]["namespace"], ns);
    let image_name = format!("db%40{}", digest('b').replace(':', "%3A"));
    let image = server()
        .get(&format!("{escaped_ns}/imagestreamimages/{image_name}"))
        .send()
        .expect(200);
    assert_eq!(image["metadata"]["name"], format!("db@{}", digest('b')));
    let stream = server()
        .get(&format!("{escaped_ns}/imagestreams/d%62"))
        .send()
        .expect(200);
    assert_eq!(stream["metadata"]["name"], "db");
}

#[test]
fn kubectl_reads_an_image_of_the_history_by_digest_or_unique_prefix() {
    let ns = "isimage-read";
    create_db_stream(ns);
    let by_digest = format!("db@{}", digest('a'));
    let reference = server()
        .kubectl(&[
            "get",
            "isimage",
            &by_digest,
            "-n",
            ns,
            "-o",
            "jsonpath={.image.dockerImageReference}",
        ])
        .success();
    assert_eq!(reference, format!("quay.io/example/db@{}", digest('a')));
    let table = server()
        .kubectl(&["get", "imagestreamimage", "db@bbbb", "-n", ns, "-o", "wide"])
        .success();
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "UPDATED", "IMAGE", "REFERENCE", "IMAGE", "NAME"]
    );
    assert!(table.contains(&digest('b')), "{table}");

    let images = format!("/apis/image.openshift.io/v1/namespaces/{ns}/imagestreamimages");
    let missing = server()
        .get(&format!("{images}/db@cccc"))
        .send()
        .expect_status(404, "NotFound");
    assert_eq!(missing["details"]["kind"], "imagestreamimage");
    server()
        .get(&format!("{images}/db:8"))
        .send()
        .expect_status(400, "BadRequest");
    server()
        .get(&images)
        .send()
        .expect_status(405, "MethodNotAllowed");
}

#[test]
fn kubectl_creates_and_replaces_a_tag_as_oc_create_imagestreamtag_does() {
    let ns = "istag-write";
    let manifest = |from: &str| {
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStreamTag\n\
             metadata: {{name: web:v1, namespace: {ns}}}\n\
             tag: {{from: {{kind: DockerImage, name: \"{from}\"}}, referencePolicy: {{type: Source}}}}\n"
        )
    };
    let created = server()
        .kubectl_stdin(
            &["create", "-f", "-", "-o", "json"],
            &manifest("quay.io/example/web:1"),
        )
        .success();
    let created: Value = serde_json::from_str(&created).unwrap();
    assert_eq!(created["kind"], "ImageStreamTag");
    assert_eq!(created["metadata"]["name"], "web:v1");
    assert_eq!(created["tag"]["from"]["name"], "quay.io/example/web:1");
    // The stream was created with the spec tag, through the stream rules.
    let stream = server().get(&stream_path(ns, "web")).send().expect(200);
    assert_eq!(stream["spec"]["tags"][0]["name"], "v1");
    assert_eq!(stream["spec"]["tags"][0]["generation"], 1);

    let again = server()
        .kubectl_stdin(&["create", "-f", "-"], &manifest("quay.io/example/web:1"))
        .failure();
    assert!(
        again.contains(r#"imagestreamtag.image.openshift.io "web:v1" already exists"#),
        "{again}"
    );
    server()
        .kubectl_stdin(&["replace", "-f", "-"], &manifest("quay.io/example/web:2"))
        .success();
    let stream = server().get(&stream_path(ns, "web")).send().expect(200);
    assert_eq!(
        stream["spec"]["tags"][0]["from"]["name"],
        "quay.io/example/web:2"
    );
    assert_eq!(
        stream["metadata"]["generation"], 2,
        "the changed tag moved the generation"
    );

    // A stale version is a conflict; a tag the stream lacks cannot be updated without a tag.
    let path = format!("{}/web:v1", tags_path(ns));
    let stale = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamTag",
        "metadata": {"name": "web:v1", "resourceVersion": "1"}, "tag": null});
    server()
        .put(&path, &stale)
        .send()
        .expect_status(409, "Conflict");
    // A create without a tag (an `oc get istag` export of a pushed image) adds no tag, as on
    // OpenShift, and says so.
    let status_only = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamTag",
        "metadata": {"name": "web:pushed"}, "tag": null,
        "image": {"metadata": {"name": digest('c')}}});
    let created = server().post(&tags_path(ns), &status_only).send();
    assert_eq!(created.status, 201);
    let warnings = created.header_values("warning").join("\n");
    assert!(
        warnings.contains("adds no tag to the imagestream"),
        "{warnings}"
    );
    let stream = server().get(&stream_path(ns, "web")).send().expect(200);
    let tags = stream["spec"]["tags"].as_array().unwrap();
    assert!(tags.iter().all(|tag| tag["name"] != "pushed"), "{stream}");
    let bare = json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamTag",
        "metadata": {"name": "web:v9"}});
    let refused = server()
        .put(&format!("{}/web:v9", tags_path(ns)), &bare)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        refused["message"],
        format!("imagestreamtag v9 is not a spec tag in imagestream {ns}/web, cannot be updated")
    );
}

#[test]
fn written_tags_are_read_as_kube_apiserver_reads_a_body() {
    let ns = "istag-body";
    let tags = tags_path(ns);
    let body = |name: &str| {
        json!({"apiVersion": "image.openshift.io/v1", "kind": "ImageStreamTag",
               "metadata": {"name": name},
               "tag": {"from": {"kind": "DockerImage", "name": "quay.io/example/app:1"}}})
    };
    let message = |reply: Value| reply["message"].as_str().unwrap().to_string();

    let mut unknown = body("app:1");
    unknown["spec"] = json!({"tags": []});
    let refused = server()
        .post(&format!("{tags}?fieldValidation=Strict"), &unknown)
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        message(refused),
        r#"ImageStreamTag in version "v1" cannot be handled as a ImageStreamTag: strict decoding error: unknown field "spec""#
    );
    let mut elsewhere = body("app:1");
    elsewhere["metadata"]["namespace"] = json!("other");
    let refused = server()
        .post(&tags, &elsewhere)
        .send()
        .expect_status(400, "BadRequest");
    assert!(message(refused).contains("does not match the namespace sent on the request"));
    let mut config_map = body("app:1");
    config_map["apiVersion"] = json!("v1");
    config_map["kind"] = json!("ConfigMap");
    let refused = server()
        .post(&tags, &config_map)
        .send()
        .expect_status(400, "BadRequest");
    assert!(message(refused).contains("(v1) and kind (ConfigMap) do not match"));
    let refused = server()
        .post(&tags, &body("app"))
        .send()
        .expect_status(400, "BadRequest");
    assert_eq!(
        message(refused),
        r#""app" must be of the form <stream_name>:<tag>"#
    );
    let refused = server()
        .post(&tags, &body("team/app:1"))
        .send()
        .expect_status(422, "Invalid");
    assert_eq!(
        message(refused),
        r#"ImageStreamTag.image.openshift.io "team/app:1" is invalid: metadata.name: Invalid value: "team/app:1": may not contain '/'"#
    );
    let mut annotated = body("app:1");
    annotated["tag"]["annotations"] = json!({"a": "1"});
    let refused = server()
        .post(&tags, &annotated)
        .send()
        .expect_status(422, "Invalid");
    assert!(
        message(refused).contains(
            "tag annotations must not be provided or must be equal to the object meta annotations"
        ),
        "annotations"
    );
    assert_eq!(
        server().get(&stream_path(ns, "app")).send().status,
        404,
        "nothing written"
    );

    // A PUT that adds a tag reports it created, as OpenShift does; one that changes it, OK.
    server()
        .put(&format!("{tags}/app:1"), &body("app:1"))
        .send()
        .expect(201);
    server()
        .put(&format!("{tags}/app:1"), &body("app:1"))
        .send()
        .expect(200);
}
