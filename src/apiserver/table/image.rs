//! The Table of `images`, with OpenShift's columns (`oc get images`): the name (the digest)
//! and the pull spec the image was imported from.

use serde_json::{json, Value};

use super::{row_of, table, NAME_DESCRIPTION};
use crate::apiserver::negotiate::IncludeObject;

const REFERENCE_DESCRIPTION: &str =
    "DockerImageReference is the string that can be used to pull this image.";

/// The two column definitions: Name, Image Reference.
pub fn column_definitions() -> Value {
    json!([
        {"name": "Name", "type": "string", "format": "name",
         "description": NAME_DESCRIPTION, "priority": 0},
        {"name": "Image Reference", "type": "string", "format": "",
         "description": REFERENCE_DESCRIPTION, "priority": 0},
    ])
}

/// One image's row, with as much of the object as `include` asks.
pub fn row(image: &Value, include: IncludeObject) -> Value {
    let text = |value: &Value| value.as_str().unwrap_or("").to_string();
    let cells = json!([
        text(&image["metadata"]["name"]),
        text(&image["dockerImageReference"])
    ]);
    row_of(cells, image, include)
}

/// A Table of `images` under list `metadata` (its `resourceVersion` and `continue`).
pub fn list_table(images: &[Value], metadata: Value, include: IncludeObject) -> Value {
    let rows = images.iter().map(|image| row(image, include)).collect();
    table(metadata, column_definitions(), rows)
}

/// A Table of one image (a get, or a watch event's object): the column definitions only
/// `with_columns` (a watch sends them with its first event).
pub fn object_table(image: &Value, include: IncludeObject, with_columns: bool) -> Value {
    let metadata = match image["metadata"]["resourceVersion"].as_str() {
        Some(rv) => json!({ "resourceVersion": rv }),
        None => json!({}),
    };
    let columns = match with_columns {
        true => column_definitions(),
        false => json!([]),
    };
    table(metadata, columns, vec![row(image, include)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_row_names_its_digest_and_the_pull_spec_it_came_from() {
        let image = json!({"metadata": {"name": "sha256:abc", "resourceVersion": "7"},
                           "dockerImageReference": "quay.io/org/app@sha256:abc"});
        let table = object_table(&image, IncludeObject::None, true);
        assert_eq!(table["kind"], "Table");
        assert_eq!(table["metadata"], json!({"resourceVersion": "7"}));
        let names: Vec<&str> = table["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|column| column["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Name", "Image Reference"]);
        assert_eq!(
            table["rows"][0],
            json!({"cells": ["sha256:abc", "quay.io/org/app@sha256:abc"]})
        );
        let later = object_table(&image, IncludeObject::Metadata, false);
        assert_eq!(later["columnDefinitions"], json!([]));
        assert_eq!(later["rows"][0]["object"]["kind"], "PartialObjectMetadata");
        let listed = list_table(
            &[image.clone(), json!({})],
            json!({"continue": "x"}),
            IncludeObject::None,
        );
        assert_eq!(listed["metadata"], json!({"continue": "x"}));
        assert_eq!(listed["rows"][1], json!({"cells": ["", ""]}));
    }
}
