//! `meta.k8s.io/v1` Tables with OpenShift's ImageStream columns, and the PartialObjectMetadata
//! forms (k8s-api-contract §2.6, §2.7, §3.7).
//!
//! Cell contents follow openshift-apiserver `pkg/image/printers/internalversion/printer.go`:
//! the repository prefers the public one, the tags are the status tags newest first and cut
//! at about 40 characters, and "Updated" is docker's `units.HumanDuration` plus ` ago`.

use jiff::{SignedDuration, Timestamp};
use serde_json::{json, Map, Value};

use super::negotiate::IncludeObject;
use crate::api::{ImageStream, ImageStreamList, NamedTagEventList};

/// The group/version of Tables and PartialObjectMetadata.
pub const META_API_VERSION: &str = "meta.k8s.io/v1";

/// The width OpenShift budgets for the Tags column.
const TAGS_WIDTH: usize = 40;

/// The Name column's description, as every printer in the apiserver writes it.
pub const NAME_DESCRIPTION: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const REPOSITORY_DESCRIPTION: &str = "DockerImageRepository represents the effective location this stream may be accessed at. May be empty until the server determines where the repository is located";

/// The four column definitions: Name, Image Repository, Tags, Updated.
pub fn column_definitions() -> Value {
    let column = |name: &str, format: &str, description: &str| {
        json!({"name": name, "type": "string", "format": format,
               "description": description, "priority": 0})
    };
    json!([
        column("Name", "name", NAME_DESCRIPTION),
        column("Image Repository", "", REPOSITORY_DESCRIPTION),
        column("Tags", "", "Human readable list of tags."),
        column("Updated", "", "Last update time."),
    ])
}

/// The cells of one stream's row: name, repository, tags, updated.
pub fn row_cells(stream: &ImageStream, now: Timestamp) -> [String; 4] {
    [
        stream.name().to_string(),
        repository(stream).to_string(),
        tags_up_to_width(status_tags(stream), TAGS_WIDTH),
        updated(status_tags(stream), now),
    ]
}

fn status_tags(stream: &ImageStream) -> &[NamedTagEventList] {
    stream.status.as_ref().map_or(&[], |s| s.tags.as_slice())
}

/// `status.publicDockerImageRepository`, else `spec.dockerImageRepository`, else the status one.
fn repository(stream: &ImageStream) -> &str {
    let public = stream
        .status
        .as_ref()
        .map_or("", |s| s.public_docker_image_repository.as_str());
    [public, stream.spec.docker_image_repository.as_str()]
        .into_iter()
        .find(|r| !r.is_empty())
        .unwrap_or_else(|| stream.status_repository())
}

/// When the tag last changed: its newest event, in whole seconds (OpenShift rounds).
fn tag_updated(tag: &NamedTagEventList) -> Option<i128> {
    let created = tag.items.first()?.created.0;
    Some((created.as_nanosecond() + 500_000_000).div_euclid(1_000_000_000))
}

/// `imageapi.SortStatusTags`: newest first, ties by name, tags without events last.
fn sorted_tag_names(tags: &[NamedTagEventList]) -> Vec<&str> {
    let mut sorted: Vec<&NamedTagEventList> = tags.iter().collect();
    sorted.sort_by(|a, b| {
        let newest_first = tag_updated(b).cmp(&tag_updated(a));
        newest_first.then_with(|| a.tag.cmp(&b.tag))
    });
    sorted.into_iter().map(|t| t.tag.as_str()).collect()
}

/// `printTagsUpToWidth`: at least one tag; a tag that overshoots is still shown when the
/// line would otherwise stay under 75% full and the overshoot is within 25%.
fn tags_up_to_width(tags: &[NamedTagEventList], width: usize) -> String {
    let names = sorted_tag_names(tags);
    let margin = (width / 4) as isize;
    let mut remaining = width as isize;
    let mut shown = names.len();
    for (i, name) in names.iter().enumerate() {
        let length = name.len() as isize;
        remaining -= length + 1;
        if remaining >= 0 {
            continue;
        }
        if i == 0 {
            shown = 1;
            break;
        }
        if margin < remaining + length && margin >= -remaining {
            continue;
        }
        shown = i;
        break;
    }
    let joined = names[..shown].join(",");
    match names.len() - shown {
        0 => joined,
        hidden => format!("{joined} + {hidden} more..."),
    }
}

/// `"<humanized> ago"` of the newest `items[0].created`, or `""`.
fn updated(tags: &[NamedTagEventList], now: Timestamp) -> String {
    let newest = tags
        .iter()
        .filter_map(|t| t.items.first())
        .map(|e| e.created.0)
        .max();
    newest.map_or_else(String::new, |created| {
        format!("{} ago", docker_human_duration(now.duration_since(created)))
    })
}

/// A Table of a list page, with its `resourceVersion`/`continue` so chunking works.
pub fn list_table(list: &ImageStreamList, include: IncludeObject, now: Timestamp) -> Value {
    let rows = list.items.iter().map(|s| row(s, include, now)).collect();
    let metadata = serde_json::to_value(&list.metadata).unwrap_or_else(|_| json!({}));
    table(metadata, column_definitions(), rows)
}

/// A Table of a single object (GET).
pub fn object_table(stream: &ImageStream, include: IncludeObject, now: Timestamp) -> Value {
    watch_table(stream, include, true, now)
}

/// The Table in one watch event's `object`: this stream's row only. Column definitions may
/// be sent on the first event only (`with_columns`), as recent apiservers do.
pub fn watch_table(
    stream: &ImageStream,
    include: IncludeObject,
    with_columns: bool,
    now: Timestamp,
) -> Value {
    let metadata = match &stream.metadata.resource_version {
        Some(rv) => json!({ "resourceVersion": rv }),
        None => json!({}),
    };
    let columns = match with_columns {
        true => column_definitions(),
        false => json!([]),
    };
    table(metadata, columns, vec![row(stream, include, now)])
}

/// `"<humanized> ago"` since an RFC 3339 time, or `""` without one (an Updated cell).
pub fn updated_ago(created: Option<&str>, now: Timestamp) -> String {
    let created = created.and_then(|text| text.parse::<Timestamp>().ok());
    created.map_or_else(String::new, |created| {
        format!("{} ago", docker_human_duration(now.duration_since(created)))
    })
}

/// A Table of `rows` under `columns`.
pub fn table(metadata: Value, columns: Value, rows: Vec<Value>) -> Value {
    json!({"kind": "Table", "apiVersion": META_API_VERSION, "metadata": metadata,
           "columnDefinitions": columns, "rows": rows})
}

fn row(stream: &ImageStream, include: IncludeObject, now: Timestamp) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), json!(row_cells(stream, now)));
    let object = match include {
        IncludeObject::None => None,
        IncludeObject::Metadata => Some(metadata_of(&stream.metadata)),
        IncludeObject::Object => serde_json::to_value(stream).ok(),
    };
    if let Some(object) = object {
        row.insert("object".into(), object);
    }
    Value::Object(row)
}

/// A row of `cells` for an object already in JSON form, with as much of it as `include` asks.
pub fn row_of(cells: Value, object: &Value, include: IncludeObject) -> Value {
    let mut row = json!({ "cells": cells });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_object_metadata(object),
        IncludeObject::Object => row["object"] = object.clone(),
    }
    row
}

fn metadata_of(metadata: &impl serde::Serialize) -> Value {
    let metadata = serde_json::to_value(metadata).unwrap_or_else(|_| json!({}));
    json!({"kind": "PartialObjectMetadata", "apiVersion": META_API_VERSION, "metadata": metadata})
}

/// The PartialObjectMetadata of an object (its full `metadata`, nothing else).
pub fn partial_object_metadata(object: &Value) -> Value {
    let metadata = object.get("metadata").cloned().unwrap_or_else(|| json!({}));
    metadata_of(&metadata)
}

/// The PartialObjectMetadataList of a list: its list metadata and each item's metadata.
pub fn partial_object_metadata_list(list: &Value) -> Value {
    let items: Vec<Value> = list["items"].as_array().map_or_else(Vec::new, |items| {
        items.iter().map(partial_object_metadata).collect()
    });
    let metadata = list.get("metadata").cloned().unwrap_or_else(|| json!({}));
    json!({"kind": "PartialObjectMetadataList", "apiVersion": META_API_VERSION,
           "metadata": metadata, "items": items})
}

/// kubectl's `duration.HumanDuration` (the AGE column): `45s`, `2m30s`, `3h`, `5d`, `2y10d`.
pub fn human_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    }
    if seconds < 0 {
        return "0s".into();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let (days, years) = (hours / 24, hours / 24 / 365);
    let with_rest = |big: String, rest: i64, unit: &str| match rest {
        0 => big,
        rest => format!("{big}{rest}{unit}"),
    };
    match () {
        _ if minutes < 10 => with_rest(format!("{minutes}m"), seconds % 60, "s"),
        _ if minutes < 60 * 3 => format!("{minutes}m"),
        _ if hours < 8 => with_rest(format!("{hours}h"), minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => with_rest(format!("{days}d"), hours % 24, "h"),
        _ if hours < 24 * 365 * 2 => format!("{days}d"),
        _ if hours < 24 * 365 * 8 => with_rest(format!("{years}y"), days % 365, "d"),
        _ => format!("{years}y"),
    }
}

/// docker's `units.HumanDuration`, which OpenShift's printers use: `2 minutes`, `About an hour`.
pub fn docker_human_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    let minutes = seconds / 60;
    // Hours round to nearest here, unlike every other unit.
    let hours = (duration.as_secs_f64() / 3600.0 + 0.5) as i64;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
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
        let object =
            json!({"kind": "ImageStream", "metadata": {"name": "a", "uid": "u"}, "spec": {}});
        let expected = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                              "metadata": {"name": "a", "uid": "u"}});
        assert_eq!(partial_object_metadata(&object), expected);
        let list = json!({"kind": "ImageStreamList", "metadata": {"resourceVersion": "9"}, "items": [object]});
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
}
