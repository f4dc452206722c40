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

pub mod image;

#[cfg(test)]
mod tests;
