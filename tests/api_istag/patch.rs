//! PATCH of `imagestreamtags`: kubectl apply, patch, annotate and label, each patch type over raw
//! HTTPS, and the Statuses of patches that cannot be made.

use serde_json::{json, Value};

use super::support::{stream_path, Options, Server};
use super::{create_db_stream, digest, server, tags_path, JSON_PATCH, MERGE, STRATEGIC};

/// The spec tag `tag` of stream `ns/name`, as stored.
fn spec_tag(ns: &str, name: &str, tag: &str) -> Value {
    let stream = server().get(&stream_path(ns, name)).send().expect(200);
    let tags = stream["spec"]["tags"].as_array().unwrap();
    let found = tags.iter().find(|t| t["name"] == tag);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no spec tag {tag}: {stream}"))
}

/// Records an image for `tag` of `ns/name` through `/status`, as the importer would, so that
/// the tag has an ImageStreamTag to GET (and kubectl apply patches instead of creating).
fn import(ns: &str, name: &str, tag: &str, fill: char) {
    let event = json!({"tag": tag, "items": [{"created": "2026-01-01T00:00:00Z",
        "generation": 1, "image": digest(fill),
        "dockerImageReference": format!("quay.io/example/{name}@{}", digest(fill))}]});
    let status = json!({"status": {"tags": [event]}});
    server()
        .patch(&format!("{}/status", stream_path(ns, name)), MERGE, &status)
        .send()
        .expect(200);
}

#[test]
fn kubectl_applies_a_tag_twice_and_the_second_apply_patches_its_spec_tag() {
    let ns = "istag-apply";
    let manifest = |from: &str, policy: &str, annotations: &str| {
        format!(
            "apiVersion: image.openshift.io/v1\nkind: ImageStreamTag\n\
             metadata: {{name: web:v1, namespace: {ns}, annotations: {{{annotations}}}}}\n\
             tag: {{from: {{kind: DockerImage, name: \"{from}\"}}, \
             referencePolicy: {{type: {policy}}}, importPolicy: {{scheduled: true}}}}\n"
        )
    };
    let first = manifest("quay.io/example/web:1", "Source", "owner: team-a");
    let created = server()
        .kubectl_stdin(&["apply", "-f", "-"], &first)
        .success();
    assert!(
        created.contains("imagestreamtag.image.openshift.io/web:v1 created"),
        "{created}"
    );
    // The spec tag keeps the object's annotations, kubectl's last-applied configuration too.
    let tag = spec_tag(ns, "web", "v1");
    assert_eq!(tag["annotations"]["owner"], "team-a");
    let applied = tag["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
        .as_str()
        .unwrap_or_else(|| panic!("no last-applied configuration: {tag}"));
    assert!(applied.contains("quay.io/example/web:1"), "{applied}");

    // Once imported the tag can be read, so the second apply patches it (kubectl sends a
    // strategic merge patch, computed from the OpenAPI schema, with fieldValidation=Strict).
    import(ns, "web", "v1", 'a');
    let second = manifest("quay.io/example/web:2", "Local", "team: web");
    let configured = server()
        .kubectl_stdin(&["apply", "-f", "-"], &second)
        .success();
    assert!(configured.contains("web:v1 configured"), "{configured}");
    let tag = spec_tag(ns, "web", "v1");
    assert_eq!(tag["from"]["name"], "quay.io/example/web:2");
    assert_eq!(tag["referencePolicy"]["type"], "Local");
    assert_eq!(tag["annotations"]["team"], "web");
    assert!(
        tag["annotations"].get("owner").is_none(),
        "removed from the file: {tag}"
    );
    assert_eq!(tag["generation"], 2, "a new source is a new generation");
    let stream = server().get(&stream_path(ns, "web")).send().expect(200);
    assert_eq!(stream["metadata"]["generation"], 2);

    // A field left out of the file is removed; applying the same file again changes nothing.
    let third = second.replace(", importPolicy: {scheduled: true}", "");
    server()
        .kubectl_stdin(&["apply", "-f", "-"], &third)
        .success();
    assert_eq!(
        spec_tag(ns, "web", "v1")["importPolicy"].get("scheduled"),
        None
    );
    let unchanged = server()
        .kubectl_stdin(&["apply", "-f", "-"], &third)
        .success();
    assert!(unchanged.contains("web:v1 unchanged"), "{unchanged}");

    // Server-side apply is refused, saying what to use instead.
    let refused = server()
        .kubectl_stdin(&["apply", "--server-side", "-f", "-"], &third)
        .failure();
    assert!(
        refused.contains("use kubectl apply without --server-side, or kubectl replace"),
        "{refused}"
    );
}

/// What kubectl wrote to stderr (its `Warning:` lines) running `args`, whatever its exit code.
fn kubectl_stderr(args: &[&str]) -> String {
    let run = server().kubectl_command(args).output().unwrap();
    String::from_utf8_lossy(&run.stderr).into_owned()
}

#[test]
fn kubectl_patches_annotates_and_labels_a_tag_through_its_stream() {
    let ns = "istag-kubectl-patch";
    create_db_stream(ns);
    let merge = r#"{"tag": {"from": {"name": "quay.io/example/db:8.1"}}}"#;
    let patched = server()
        .kubectl(&[
            "patch",
            "istag",
            "db:8",
            "-n",
            ns,
            "--type=merge",
            "-p",
            merge,
        ])
        .success();
    assert!(
        patched.contains("imagestreamtag.image.openshift.io/db:8 patched"),
        "{patched}"
    );
    assert_eq!(
        spec_tag(ns, "db", "8")["from"]["name"],
        "quay.io/example/db:8.1"
    );
    server()
        .kubectl(&["annotate", "istag", "db:8", "-n", ns, "reviewed=yes"])
        .success();
    let annotations = &spec_tag(ns, "db", "8")["annotations"];
    assert_eq!(*annotations, json!({"team": "data", "reviewed": "yes"}));
    // Labels are the stream's: not written through a tag, and kubectl shows the warning, for a
    // label added or removed.
    for change in ["tier=1", "app-"] {
        let stderr = kubectl_stderr(&["label", "istag", "db:8", "-n", ns, change]);
        assert!(
            stderr.contains("label the imagestream instead"),
            "{change}: {stderr}"
        );
    }
    let stream = server().get(&stream_path(ns, "db")).send().expect(200);
    assert_eq!(stream["metadata"]["labels"], json!({"app": "db"}));
    // Nor are finalizers or ownerReferences (an operator's garbage collection): each is said.
    let owned = r#"{"metadata": {"finalizers": ["example.com/keep"],
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"}]}}"#;
    let stderr = kubectl_stderr(&[
        "patch",
        "istag",
        "db:8",
        "-n",
        ns,
        "--type=merge",
        "-p",
        owned,
    ]);
    for field in ["metadata.finalizers", "metadata.ownerReferences"] {
        assert!(
            stderr.contains(&format!(
                "Warning: {field} of an ImageStreamTag are not stored"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn each_patch_type_writes_the_spec_tag_as_a_put_would() {
    let ns = "istag-patch";
    create_db_stream(ns);
    let tag = |name: &str| format!("{}/{name}", tags_path(ns));
    let answered = server()
        .patch(
            &tag("db:8"),
            JSON_PATCH,
            &json!([
            {"op": "replace", "path": "/tag/referencePolicy", "value": {"type": "Local"}}]),
        )
        .send()
        .expect(200);
    assert_eq!(answered["kind"], "ImageStreamTag");
    assert_eq!(answered["tag"]["referencePolicy"]["type"], "Local");
    assert_eq!(spec_tag(ns, "db", "8")["referencePolicy"]["type"], "Local");
    let strategic = json!({"metadata": {"annotations": {"team": null, "owner": "x"}}});
    server()
        .patch(&tag("db:8"), STRATEGIC, &strategic)
        .send()
        .expect(200);
    assert_eq!(
        spec_tag(ns, "db", "8")["annotations"],
        json!({"owner": "x"})
    );
    // What a PUT ignores, a patch ignores: the image, conditions, generation, lookup policy.
    let ignored = json!({"image": {"dockerImageReference": "elsewhere"}, "generation": 9,
                         "lookupPolicy": {"local": true}, "conditions": []});
    let answered = server()
        .patch(&tag("db:8"), MERGE, &ignored)
        .send()
        .expect(200);
    assert_eq!(
        answered["image"]["dockerImageReference"],
        format!("quay.io/example/db@{}", digest('a'))
    );
    let stream = server().get(&stream_path(ns, "db")).send().expect(200);
    assert_eq!(stream["spec"]["lookupPolicy"]["local"], false);

    // A spec tag without an image yet can be corrected; a status-only tag needs a `tag`.
    let fixed = json!({"tag": {"from": {"name": "quay.io/example/db:fixed"}}});
    server()
        .patch(&tag("db:next"), MERGE, &fixed)
        .send()
        .expect(200);
    assert_eq!(
        spec_tag(ns, "db", "next")["from"]["name"],
        "quay.io/example/db:fixed"
    );
    let bare = json!({"metadata": {"annotations": {"a": "b"}}});
    let refused = server().patch(&tag("db:9"), MERGE, &bare).send();
    refused.expect_status(400, "BadRequest");
    let from = json!({"tag": {"from": {"kind": "DockerImage", "name": "quay.io/example/db:9"}}});
    server()
        .patch(&tag("db:9"), MERGE, &from)
        .send()
        .expect(201);
    assert_eq!(
        spec_tag(ns, "db", "9")["from"]["name"],
        "quay.io/example/db:9"
    );
    // Patching a tag to what it already is writes nothing.
    let version = |ns| {
        server().get(&stream_path(ns, "db")).send().expect(200)["metadata"]["resourceVersion"]
            .clone()
    };
    let before = version(ns);
    server()
        .patch(&tag("db:9"), MERGE, &from)
        .send()
        .expect(200);
    assert_eq!(version(ns), before);
}

#[test]
fn patches_of_missing_tags_stale_versions_and_bad_bodies_get_kubes_statuses() {
    let ns = "istag-patch-errors";
    create_db_stream(ns);
    let tag = |name: &str| format!("{}/{name}", tags_path(ns));
    let before = server().get(&stream_path(ns, "db")).send().expect(200);
    let change = json!({"tag": {"from": {"name": "quay.io/example/db:other"}}});

    let missing = server().patch(&tag("db:7"), MERGE, &change).send();
    let missing = missing.expect_status(404, "NotFound");
    assert_eq!(
        missing["message"],
        r#"imagestreamtags.image.openshift.io "db:7" not found"#
    );
    let no_stream = server().patch(&tag("nothing:1"), MERGE, &change).send();
    assert_eq!(
        no_stream.expect_status(404, "NotFound")["details"]["kind"],
        "imagestreams"
    );

    let stale = json!({"metadata": {"resourceVersion": "1"}, "tag": change["tag"]});
    let conflict = server().patch(&tag("db:8"), MERGE, &stale).send();
    let conflict = conflict.expect_status(409, "Conflict");
    let message = conflict["message"].as_str().unwrap();
    assert!(
        message.contains("another caller has updated the resource version to"),
        "{message}"
    );

    let unknown = json!({"spec": {"tags": []}});
    let strict = format!("{}?fieldValidation=Strict", tag("db:8"));
    let refused = server().patch(&strict, MERGE, &unknown).send();
    let refused = refused.expect_status(422, "Invalid");
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(r#"strict decoding error: unknown field "spec""#),
        "{message}"
    );
    let warn = format!("{}?fieldValidation=Warn", tag("db:8"));
    let warned = server().patch(&warn, MERGE, &unknown).send();
    warned.expect(200);
    let warnings = warned.header_values("warning");
    assert_eq!(warnings, [r#"299 - "unknown field \"spec\"""#]);

    let dry = format!("{}?dryRun=All", tag("db:8"));
    let answered = server().patch(&dry, MERGE, &change).send().expect(200);
    assert_eq!(answered["tag"]["from"]["name"], "quay.io/example/db:other");

    let renamed = json!({"metadata": {"name": "db:9"}});
    server()
        .patch(&tag("db:8"), MERGE, &renamed)
        .send()
        .expect_status(400, "BadRequest");
    let apply = server()
        .call("PATCH", &format!("{}?fieldManager=me", tag("db:8")))
        .header("content-type", "application/apply-patch+yaml")
        .body("tag: {}")
        .send();
    let apply = apply.expect_status(415, "UnsupportedMediaType");
    let message = apply["message"].as_str().unwrap();
    assert!(
        message.contains("server-side apply is not served for imagestreamtags"),
        "{message}"
    );

    // Nothing above was written (the 409 and the dry run included).
    let after = server().get(&stream_path(ns, "db")).send().expect(200);
    assert_eq!(
        after["spec"], before["spec"],
        "the Warn patch changed nothing either"
    );
    assert_eq!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[test]
fn a_user_who_may_update_but_not_patch_tags_is_refused_the_patch() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.csv");
    let users = "admin-token,admin,1,\"system:masters\"\nbob-token,bob,2,dev\n";
    std::fs::write(&tokens, users).unwrap();
    let policy = dir.path().join("policy.yaml");
    let rules = "rules:\n- groups: [\"system:masters\"]\n  namespaces: [\"*\"]\n  verbs: [\"*\"]\n\
                 - users: [bob]\n  namespaces: [team]\n  verbs: [get, list, update]\n";
    std::fs::write(&policy, rules).unwrap();
    let options = Options {
        token_file: Some(tokens),
        authz_file: Some(policy),
    };
    let limited = Server::start(&dir.path().join("data"), options);
    let path = format!("{}/db:8", tags_path("team"));
    let change = json!({"tag": {"from": {"name": "quay.io/example/db:9"}}});
    let denied = limited
        .patch(&path, MERGE, &change)
        .token("bob-token")
        .send();
    let denied = denied.expect_status(403, "Forbidden");
    assert_eq!(
        denied["message"],
        "imagestreamtags.image.openshift.io \"db:8\" is forbidden: User \"bob\" cannot patch \
         resource \"imagestreamtags\" in API group \"image.openshift.io\" in the namespace \"team\""
    );
    limited.stop();
}
