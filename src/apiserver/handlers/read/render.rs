//! Writing what a get or a list read: the negotiated form (object, Table, partial metadata)
//! in the negotiated encoding (compact or indented JSON, YAML).

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{json, Value};

use super::Listing;
use crate::api::ImageStreamList;
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::negotiate::{Encoding, Form, IncludeObject, Output};
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::Kind;
use crate::apiserver::table;

/// Renders one object in the negotiated form.
pub fn render_object(
    kind: Kind,
    presented: Presented,
    output: Output,
) -> Result<Response, ApiError> {
    let body = match output.form {
        Form::Table { include_object } if kind == Kind::ImageStream => {
            let stream = presented.into_stream()?;
            table::object_table(&stream, include_object, Timestamp::now())
        }
        Form::Table { include_object } if kind == Kind::Image => {
            table::image::object_table(&presented.into_value(), include_object, true)
        }
        Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
            table::partial_object_metadata(&presented.into_value())
        }
        _ => return encoded(output, &presented),
    };
    encoded(output, &body)
}

/// A 200 of `body` in the negotiated encoding. Compact JSON, the common case, is written
/// straight from the typed value; indented JSON too (in field order, as Go's
/// `json.MarshalIndent`); YAML goes through a tree so its keys can be sorted, as the
/// apiserver's `JSONToYAML` sorts them.
pub fn encoded(output: Output, body: &impl Serialize) -> Result<Response, ApiError> {
    let bytes = match output.encoding {
        Encoding::Json => serde_json::to_vec(body).map_err(ApiError::internal)?,
        Encoding::PrettyJson => serde_json::to_vec_pretty(body).map_err(ApiError::internal)?,
        Encoding::Yaml => yaml(body)?.into_bytes(),
    };
    Ok(http::bytes_response(
        StatusCode::OK,
        output.content_type(),
        bytes,
    ))
}

/// YAML that kubectl reads back as the same object (YAML 1.1 quoting: `"yes"` stays a string).
fn yaml(body: &impl Serialize) -> Result<String, ApiError> {
    let mut tree = serde_json::to_value(body).map_err(ApiError::internal)?;
    sort_keys(&mut tree);
    Ok(crate::manifest::to_yaml(&tree))
}

fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.sort_keys();
            fields.values_mut().for_each(sort_keys);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// Renders a listing as a `…List`, a Table or a PartialObjectMetadataList.
pub fn render_list(kind: Kind, listing: Listing, output: Output) -> Result<Response, ApiError> {
    let body = match output.form {
        Form::Table { include_object } if kind == Kind::ImageStream => {
            stream_table(listing, include_object)?
        }
        Form::Table { include_object } if kind == Kind::Image => {
            let (metadata, items) = metadata_and_items(listing);
            table::image::list_table(&items, metadata, include_object)
        }
        Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
            let (metadata, items) = metadata_and_items(listing);
            let list = json!({"metadata": metadata, "items": items});
            table::partial_object_metadata_list(&list)
        }
        _ => {
            let metadata = ListMeta::of(&listing);
            let list = list_body(kind, metadata, &listing.items);
            return encoded(output, &list);
        }
    };
    encoded(output, &body)
}

/// A listing's `metadata` and its items as trees, for the forms built from them.
fn metadata_and_items(listing: Listing) -> (Value, Vec<Value>) {
    let metadata = json!(ListMeta::of(&listing));
    let items = listing
        .items
        .into_iter()
        .map(Presented::into_value)
        .collect();
    (metadata, items)
}

/// A `…List` of `kind` as written, its items encoded straight from their presented form.
pub(super) fn list_body<'a>(
    kind: Kind,
    metadata: ListMeta<'a>,
    items: &'a [Presented],
) -> ListBody<'a> {
    ListBody {
        kind: kind.list_kind(),
        api_version: kind.api_version(),
        metadata,
        items,
    }
}

/// A `…List` as written: the items are encoded straight from their presented form.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListBody<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: ListMeta<'a>,
    items: &'a [Presented],
}

/// A list's `metadata`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListMeta<'a> {
    /// `metadata.resourceVersion`: the snapshot's revision.
    pub(super) resource_version: String,
    /// `metadata.continue`, when more matching objects may follow.
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    pub(super) continue_token: Option<&'a str>,
}

impl<'a> ListMeta<'a> {
    fn of(listing: &'a Listing) -> Self {
        Self {
            resource_version: listing.revision.to_string(),
            continue_token: listing.continue_token.as_deref(),
        }
    }
}

fn stream_table(listing: Listing, include_object: IncludeObject) -> Result<Value, ApiError> {
    let items = listing
        .items
        .into_iter()
        .map(Presented::into_stream)
        .collect::<Result<Vec<_>, _>>()?;
    let mut list = ImageStreamList {
        items,
        ..ImageStreamList::default()
    };
    list.metadata.resource_version = Some(listing.revision.to_string());
    list.metadata.continue_ = listing.continue_token;
    Ok(table::list_table(&list, include_object, Timestamp::now()))
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;
    use crate::strategy;

    fn body_text(response: Response) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let body = runtime.block_on(response.into_body().collect()).unwrap();
        String::from_utf8(body.to_bytes().to_vec()).unwrap()
    }

    fn listing(continue_token: Option<&str>) -> Listing {
        let config = strategy::Config::default();
        let stored = |name: &str| json!({"metadata": {"name": name, "namespace": "ns"}});
        Listing {
            items: vec![
                Kind::ImageStream.present(&stored("a"), &config),
                Kind::ImageStream.present(&json!({"metadata": {"name": 5}}), &config),
            ],
            revision: 7,
            continue_token: continue_token.map(String::from),
            turn: Some(crate::apiserver::list_gate::ListTurn::for_tests()),
        }
    }

    /// The list as it was built before items stayed typed: one tree, encoded once.
    fn as_one_tree(listing: &Listing, metadata: Value) -> String {
        let items: Vec<Value> = listing
            .items
            .iter()
            .map(|item| item.clone().into_value())
            .collect();
        let list = json!({"kind": "ImageStreamList", "apiVersion": "image.openshift.io/v1",
            "metadata": metadata, "items": items});
        serde_json::to_string(&list).unwrap()
    }

    #[test]
    fn a_list_is_written_as_the_tree_of_its_items() {
        let paged = listing(Some("token"));
        let expected = as_one_tree(&paged, json!({"resourceVersion": "7", "continue": "token"}));
        assert_eq!(
            body_text(render_list(Kind::ImageStream, paged, Output::JSON).unwrap()),
            expected
        );
        let last = listing(None);
        let expected = as_one_tree(&last, json!({"resourceVersion": "7"}));
        assert_eq!(
            body_text(render_list(Kind::ImageStream, last, Output::JSON).unwrap()),
            expected
        );
    }

    fn encode(encoding: Encoding, body: &Value) -> (String, String) {
        let response = encoded(Output::new(Form::Plain, encoding), body).unwrap();
        let content_type = response.headers()[axum::http::header::CONTENT_TYPE].clone();
        let content_type = content_type.to_str().unwrap().to_string();
        (content_type, body_text(response))
    }

    #[test]
    fn bodies_are_written_compact_indented_or_as_yaml_with_sorted_keys() {
        let body = json!({"kind": "K", "metadata": {"name": "n", "labels": {"b": "1", "a": "2"}},
                          "items": [{"z": 1, "y": [true]}]});
        let cases = [
            (Encoding::Json, "application/json", body.to_string()),
            (
                Encoding::PrettyJson,
                "application/json",
                serde_json::to_string_pretty(&body).unwrap(),
            ),
            (
                Encoding::Yaml,
                "application/yaml",
                // `y` and `n` are booleans to YAML 1.1 (kubectl), so they stay quoted.
                "items:\n- \"y\":\n  - true\n  z: 1\nkind: K\nmetadata:\n  labels:\n    a: \"2\"\n    b: \"1\"\n  name: \"n\"\n".to_string(),
            ),
        ];
        for (encoding, content_type, text) in cases {
            assert_eq!(
                encode(encoding, &body),
                (content_type.to_string(), text),
                "{encoding:?}"
            );
        }
        let pretty = encode(Encoding::PrettyJson, &body).1;
        assert!(pretty.starts_with("{\n  \"kind\": \"K\",\n"), "{pretty}");
    }

    #[test]
    fn a_pretty_list_holds_the_same_json_as_a_compact_one() {
        let output = Output::new(Form::Plain, Encoding::PrettyJson);
        let pretty = body_text(render_list(Kind::ImageStream, listing(None), output).unwrap());
        let compact =
            body_text(render_list(Kind::ImageStream, listing(None), Output::JSON).unwrap());
        assert!(pretty.lines().count() > 10, "{pretty}");
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(parse(&pretty), parse(&compact));
    }

    #[test]
    fn partial_metadata_lists_keep_the_continue_token() {
        let output = Output::new(Form::PartialObjectMetadataList, Encoding::Json);
        let body = body_text(render_list(Kind::ImageStream, listing(Some("t")), output).unwrap());
        let list: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            list["metadata"],
            json!({"resourceVersion": "7", "continue": "t"})
        );
        assert_eq!(list["items"][0]["metadata"]["name"], "a");
        assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    }
}
