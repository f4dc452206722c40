use super::*;
use crate::api::{ImageStreamStatus, TagEvent};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ListMeta, Time};

const NOW: &str = "2026-01-10T12:00:00Z";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn tag(name: &str, seconds_ago: i64) -> NamedTagEventList {
    let created = now() - SignedDuration::from_secs(seconds_ago);
    NamedTagEventList {
        tag: name.into(),
        items: vec![TagEvent {
            created: Time(created),
            docker_image_reference: format!("quay.io/o/x@sha256:{name}"),
            image: format!("sha256:{name}"),
            generation: 1,
        }],
        conditions: vec![],
    }
}

fn stream(tags: Vec<NamedTagEventList>) -> ImageStream {
    let mut stream = ImageStream::new("ns", "demo");
    stream.metadata.resource_version = Some("42".into());
    stream.metadata.labels = Some([("app".to_string(), "demo".to_string())].into());
    stream.status = Some(ImageStreamStatus {
        docker_image_repository: "registry:5000/ns/demo".into(),
        tags,
        ..ImageStreamStatus::default()
    });
    stream
}

fn check(stream: &ImageStream, expected: [&str; 4]) {
    assert_eq!(row_cells(stream, now()), expected.map(String::from));
}

#[test]
fn bare_stream_has_only_a_name() {
    check(&ImageStream::new("ns", "empty"), ["empty", "", "", ""]);
}

#[test]
fn tags_are_newest_first_and_updated_is_the_newest_event() {
    let tags = vec![
        tag("stable", 3600 * 5),
        tag("latest", 120),
        tag("old", 86400 * 3),
    ];
    check(
        &stream(tags),
        [
            "demo",
            "registry:5000/ns/demo",
            "latest,stable,old",
            "2 minutes ago",
        ],
    );
}

#[test]
fn equally_old_tags_sort_by_name_and_empty_tags_go_last() {
    let empty = NamedTagEventList {
        tag: "aaa".into(),
        ..NamedTagEventList::default()
    };
    let tags = vec![tag("b", 30), empty, tag("a", 30)];
    check(
        &stream(tags),
        ["demo", "registry:5000/ns/demo", "a,b,aaa", "30 seconds ago"],
    );
}

#[test]
fn repository_prefers_public_then_spec_then_status() {
    let mut with_spec = stream(vec![]);
    with_spec.spec.docker_image_repository = "quay.io/o/demo".into();
    check(&with_spec, ["demo", "quay.io/o/demo", "", ""]);
    let mut public = with_spec.clone();
    public
        .status
        .as_mut()
        .unwrap()
        .public_docker_image_repository = "registry.example.com/ns/demo".into();
    check(&public, ["demo", "registry.example.com/ns/demo", "", ""]);
}

#[test]
fn tags_are_cut_at_about_forty_characters() {
    let five: Vec<_> = (1..=5).map(|i| tag(&format!("tag-00000{i}"), i)).collect();
    assert_eq!(
        row_cells(&stream(five), now())[2],
        "tag-000001,tag-000002,tag-000003 + 2 more..."
    );
    let long = vec![tag(&"x".repeat(50), 1), tag("y", 2)];
    let cells = row_cells(&stream(long), now());
    assert_eq!(cells[2], format!("{} + 1 more...", "x".repeat(50)));
}

#[test]
fn a_slight_overshoot_keeps_the_edge_even() {
    let tags = vec![
        tag(&"a".repeat(27), 1),
        tag(&"b".repeat(14), 2),
        tag("c", 3),
    ];
    let expected = format!("{},{} + 1 more...", "a".repeat(27), "b".repeat(14));
    assert_eq!(row_cells(&stream(tags), now())[2], expected);
}

#[test]
fn list_tables_carry_columns_rows_and_list_metadata() {
    let list = ImageStreamList {
        metadata: ListMeta {
            resource_version: Some("1234".into()),
            continue_: Some("tok".into()),
            ..ListMeta::default()
        },
        items: vec![stream(vec![tag("latest", 120)])],
        ..ImageStreamList::default()
    };
    let table = list_table(&list, IncludeObject::Metadata, now());
    assert_eq!(table["kind"], "Table");
    assert_eq!(table["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        table["metadata"],
        json!({"continue": "tok", "resourceVersion": "1234"})
    );
    let names: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Image Repository", "Tags", "Updated"]);
    assert_eq!(
        table["columnDefinitions"][0],
        json!({"name": "Name", "type": "string", "format": "name",
               "description": NAME_DESCRIPTION, "priority": 0})
    );
    let row = &table["rows"][0];
    assert_eq!(
        row["cells"],
        json!(["demo", "registry:5000/ns/demo", "latest", "2 minutes ago"])
    );
    assert_eq!(
        row["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
               "metadata": {"labels": {"app": "demo"}, "name": "demo",
                            "namespace": "ns", "resourceVersion": "42"}})
    );
}

#[test]
fn include_object_selects_the_row_object() {
    let one = stream(vec![]);
    let none = object_table(&one, IncludeObject::None, now());
    assert!(none["rows"][0].get("object").is_none());
    let full = object_table(&one, IncludeObject::Object, now());
    assert_eq!(
        full["rows"][0]["object"],
        serde_json::to_value(&one).unwrap()
    );
    assert_eq!(full["metadata"], json!({"resourceVersion": "42"}));
}

#[test]
fn watch_tables_may_omit_column_definitions() {
    let one = stream(vec![]);
    let first = watch_table(&one, IncludeObject::Metadata, true, now());
    let later = watch_table(&one, IncludeObject::Metadata, false, now());
    assert_eq!(first["columnDefinitions"].as_array().unwrap().len(), 4);
    assert_eq!(later["columnDefinitions"], json!([]));
    assert_eq!(later["rows"].as_array().unwrap().len(), 1);
}

#[test]
fn partial_object_metadata_keeps_only_metadata() {
    let object = json!({"kind": "ImageStream", "metadata": {"name": "a", "uid": "u"}, "spec": {}});
    let expected = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                          "metadata": {"name": "a", "uid": "u"}});
    assert_eq!(partial_object_metadata(&object), expected);
    let list =
        json!({"kind": "ImageStreamList", "metadata": {"resourceVersion": "9"}, "items": [object]});
    assert_eq!(
        partial_object_metadata_list(&list),
        json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
               "metadata": {"resourceVersion": "9"}, "items": [expected]})
    );
}

#[test]
fn kubectl_durations_keep_two_or_three_figures() {
    let cases = [
        (-5, "<invalid>"),
        (-1, "0s"),
        (45, "45s"),
        (119, "119s"),
        (150, "2m30s"),
        (600, "10m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 1200, "3h20m"),
        (30 * 3600, "30h"),
        (5 * 86400, "5d"),
        (5 * 86400 + 7200, "5d2h"),
        (100 * 86400, "100d"),
        (800 * 86400, "2y70d"),
        (10 * 365 * 86400, "10y"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(human_duration(SignedDuration::from_secs(seconds)), expected);
    }
}

#[test]
fn docker_durations_read_as_words() {
    let cases = [
        (0, "Less than a second"),
        (1, "1 second"),
        (45, "45 seconds"),
        (90, "About a minute"),
        (120, "2 minutes"),
        (59 * 60, "59 minutes"),
        (3600 + 1700, "About an hour"),
        (3600 + 1900, "2 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (3 * 365 * 86400, "3 years"),
    ];
    for (seconds, expected) in cases {
        assert_eq!(
            docker_human_duration(SignedDuration::from_secs(seconds)),
            expected
        );
    }
}
