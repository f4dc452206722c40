use std::collections::BTreeMap;

use serde_json::json;

use k8s_openapi::api::core::v1::ObjectReference;

use super::*;

fn docker(name: &str) -> TagReference {
    TagReference {
        name: "ignored".into(),
        from: Some(ObjectReference {
            kind: Some("DockerImage".into()),
            name: Some(name.into()),
            ..ObjectReference::default()
        }),
        ..TagReference::default()
    }
}

fn write(tag: Option<TagReference>, version: &str) -> TagWrite {
    let mut write = TagWrite {
        tag,
        ..TagWrite::default()
    };
    if !version.is_empty() {
        write.metadata.resource_version = Some(version.into());
    }
    write
}

fn source(stream: &ImageStream, tag: &str) -> String {
    let spec = stream.spec_tag(tag).unwrap();
    spec.from.as_ref().unwrap().name.clone().unwrap()
}

#[test]
fn a_create_adds_the_spec_tag_to_a_new_or_existing_stream_once() {
    let created = create_tag(None, "ns", "db", "8", &write(Some(docker("m:8")), "")).unwrap();
    assert_eq!(created.namespace(), "ns");
    assert_eq!(source(&created, "8"), "m:8");
    assert_eq!(created.spec.tags[0].name, "8", "the tag's name is the key");
    let added = create_tag(
        Some(&created),
        "ns",
        "db",
        "9",
        &write(Some(docker("m:9")), ""),
    );
    assert_eq!(added.unwrap().spec.tags.len(), 2);
    let again = create_tag(Some(&created), "ns", "db", "8", &write(None, "")).unwrap_err();
    assert_eq!(again.code(), 409);
    assert_eq!(
        again.to_string(),
        "imagestreamtag.image.openshift.io \"db:8\" already exists"
    );
    let bare = create_tag(None, "ns", "db", "8", &write(None, "")).unwrap();
    assert!(bare.spec.tags.is_empty(), "no tag: only the stream");
}

#[test]
fn annotations_past_256_kib_or_with_bad_keys_are_invalid_on_create_and_update() {
    let stream = create_tag(None, "ns", "db", "8", &write(Some(docker("m:8")), "")).unwrap();
    let check = |annotations: BTreeMap<String, String>, message: &str| {
        let mut bad = write(Some(docker("m:9")), "");
        bad.metadata.annotations = Some(annotations);
        let created = create_tag(Some(&stream), "ns", "db", "9", &bad).unwrap_err();
        let updated = update_tag(Some((&stream, "7")), "ns", "db", "8", &bad).unwrap_err();
        for refused in [created, updated] {
            assert_eq!(refused.code(), 422);
            assert!(refused.to_string().contains(message), "{refused}");
        }
    };
    let big = BTreeMap::from([("note".into(), "x".repeat(300_000))]);
    check(big, "may not be more than 262144 bytes");
    let bad_key = BTreeMap::from([("no spaces".into(), String::new())]);
    check(
        bad_key,
        "metadata.annotations: Invalid value: \"no spaces\"",
    );
}

#[test]
fn an_update_replaces_the_spec_tag_and_its_annotations_under_the_version_it_names() {
    let stream = create_tag(None, "ns", "db", "8", &write(Some(docker("m:8")), "")).unwrap();
    let mut retag = write(Some(docker("m:8.1")), "7");
    retag.metadata.annotations = Some(BTreeMap::from([("team".into(), "db".into())]));
    let updated = update_tag(Some((&stream, "7")), "ns", "db", "8", &retag).unwrap();
    assert_eq!(source(&updated, "8"), "m:8.1");
    let annotations = updated.spec_tag("8").unwrap().annotations.clone();
    assert_eq!(annotations.unwrap()["team"], "db");
    // No tag in the body: the spec tag stays, its annotations are the body's.
    let kept = update_tag(Some((&stream, "7")), "ns", "db", "8", &write(None, "")).unwrap();
    assert_eq!(source(&kept, "8"), "m:8");

    let stale = update_tag(Some((&stream, "9")), "ns", "db", "8", &retag).unwrap_err();
    assert_eq!(stale.code(), 409);
    assert!(stale
        .to_string()
        .contains("another caller has updated the resource version to 9"));
    let unknown = update_tag(Some((&stream, "7")), "ns", "db", "x", &write(None, ""));
    let unknown = unknown.unwrap_err();
    assert_eq!(unknown.code(), 400);
    assert_eq!(
        unknown.to_string(),
        "imagestreamtag x is not a spec tag in imagestream ns/db, cannot be updated"
    );
    let missing = update_tag(None, "ns", "db", "8", &write(Some(docker("m:8")), "3"));
    assert_eq!(missing.unwrap_err().code(), 404);
    let made = update_tag(None, "ns", "db", "8", &write(Some(docker("m:8")), "")).unwrap();
    assert_eq!(source(&made, "8"), "m:8", "an update may create the stream");
}

#[test]
fn metadata_an_image_stream_tag_does_not_keep_is_warned_about_not_written() {
    let mut stream = ImageStream::new("ns", "db");
    stream.metadata.labels = Some(BTreeMap::from([("app".into(), "db".into())]));
    let check = |metadata: serde_json::Value, warned: &[&str]| {
        let mut write = write(None, "");
        write.metadata = serde_json::from_value(metadata.clone()).unwrap();
        let warnings = ignored_metadata_warnings(Some(&stream), &write);
        let fields: Vec<&str> = warnings
            .iter()
            .map(|w| w.split(' ').next().unwrap())
            .collect();
        assert_eq!(fields, warned, "{metadata}: {warnings:?}");
    };
    check(json!({}), &[]);
    check(
        json!({"labels": {}, "finalizers": [], "ownerReferences": []}),
        &[],
    );
    check(json!({"labels": {"app": "db"}}), &[]);
    check(
        json!({"labels": {"app": "db", "tier": "1"}}),
        &["metadata.labels"],
    );
    let owner = json!({"apiVersion": "v1", "kind": "ConfigMap", "name": "o", "uid": "u"});
    check(
        json!({"finalizers": ["example.com/keep"], "ownerReferences": [owner]}),
        &["metadata.finalizers", "metadata.ownerReferences"],
    );
    let mut bare = write(None, "");
    bare.metadata.labels = Some(BTreeMap::from([("a".into(), "1".into())]));
    assert_eq!(
        ignored_metadata_warnings(None, &bare).len(),
        1,
        "a new stream has no labels"
    );
}

#[test]
fn the_spec_tag_carries_the_objects_annotations_on_create_and_update() {
    let annotations = |pairs: &[(&str, &str)]| {
        let map = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Some(map.collect::<BTreeMap<_, _>>())
    };
    let tag_annotations = |stream: &ImageStream| stream.spec_tag("8").unwrap().annotations.clone();
    // Create: a tag naming none takes the object's (kubectl apply's last-applied).
    let mut applied = write(Some(docker("m:8")), "");
    applied.metadata.annotations = annotations(&[("last-applied", "{}")]);
    let created = create_tag(None, "ns", "db", "8", &applied).unwrap();
    assert_eq!(
        tag_annotations(&created),
        annotations(&[("last-applied", "{}")])
    );
    // Update: the object's win over the tag's, as OpenShift's PrepareForUpdate copies them.
    let mut patched = write(Some(docker("m:8")), "");
    patched.tag.as_mut().unwrap().annotations = annotations(&[("old", "1")]);
    patched.metadata.annotations = annotations(&[("new", "2")]);
    let updated = update_tag(Some((&created, "3")), "ns", "db", "8", &patched).unwrap();
    assert_eq!(tag_annotations(&updated), annotations(&[("new", "2")]));
    // A create still refuses tag annotations that are not the object's.
    let refused = create_tag(None, "ns", "db", "8", &patched).unwrap_err();
    assert_eq!(refused.code(), 422);
}
