//! GET of one object and LIST of a collection, with Tables and PartialObjectMetadata.

use std::num::NonZeroUsize;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::{json, Value};

use super::Target;
use crate::api::ImageStreamList;
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::negotiate::{Encoding, Form, IncludeObject, Output};
use crate::apiserver::options::{ContinueToken, ListOptions, ListRead};
use crate::apiserver::presented::Presented;
use crate::apiserver::resource::Kind;
use crate::apiserver::state::ApiState;
use crate::apiserver::table;
use crate::store::{self, ReadAt};

mod namespace;

pub use namespace::namespace;

/// How long a list waits for a `resourceVersion` the store has not reached yet.
const WAIT_FOR_REVISION: Duration = Duration::from_secs(3);

/// The store pages through this many keys per round when selectors filter after the read.
const PAGE_BATCH: usize = 500;

/// `GET …/<name>`.
pub async fn get(state: &ApiState, target: &Target, output: Output) -> Result<Response, ApiError> {
    let object = state
        .store
        .get(&target.key())
        .await
        .map_err(|e| target.store_error(e))?;
    let presented = present(state, target.kind, &object.value);
    render_object(target.kind, presented, output)
}

/// Decorates a stored object for output.
pub fn present(state: &ApiState, kind: Kind, stored: &Value) -> Presented {
    kind.present(stored, &state.strategy)
}

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

fn yaml(body: &impl Serialize) -> Result<String, ApiError> {
    let mut tree = serde_json::to_value(body).map_err(ApiError::internal)?;
    sort_keys(&mut tree);
    serde_norway::to_string(&tree).map_err(ApiError::internal)
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

/// One list result before rendering.
pub struct Listing {
    /// Matching objects, decorated.
    pub items: Vec<Presented>,
    /// The snapshot revision.
    pub revision: u64,
    /// The continue token, when more matching objects may follow.
    pub continue_token: Option<String>,
}

/// `GET …/<collection>` (not a watch).
pub async fn list(
    state: &ApiState,
    target: &Target,
    options: &ListOptions,
    output: Output,
) -> Result<Response, ApiError> {
    let listing = collect(state, target, options).await?;
    render_list(target.kind, listing, output)
}

/// Reads the matching objects of a collection, one consistent snapshot, up to `limit`.
pub async fn collect(
    state: &ApiState,
    target: &Target,
    options: &ListOptions,
) -> Result<Listing, ApiError> {
    let (mut at, mut start_after) = start_of(state, target, &options.read).await?;
    let limit = options
        .limit
        .filter(|limit| *limit > 0)
        .map(|limit| limit as usize);
    let mut items = Vec::new();
    loop {
        let page_options = store::ListOptions {
            at,
            start_after: start_after.clone(),
            limit: NonZeroUsize::new(PAGE_BATCH),
        };
        let page = state
            .store
            .list(&target.prefix(), &page_options)
            .await
            .map_err(|e| list_error(state, e, &options.read, target))?;
        at = ReadAt::Exact(page.revision);
        let mut exhausted = !page.more;
        for (position, object) in page.items.iter().enumerate() {
            start_after = Some(object.key.clone());
            if options.matches(&object.value) {
                items.push(present(state, target.kind, &object.value));
            }
            if limit.is_some_and(|limit| items.len() >= limit) {
                exhausted = exhausted && position + 1 == page.items.len();
                let continue_token =
                    (!exhausted).then(|| continue_token(page.revision, &start_after));
                return Ok(Listing {
                    items,
                    revision: page.revision,
                    continue_token,
                });
            }
        }
        if exhausted {
            return Ok(Listing {
                items,
                revision: page.revision,
                continue_token: None,
            });
        }
    }
}

async fn start_of(
    state: &ApiState,
    target: &Target,
    read: &ListRead,
) -> Result<(ReadAt, Option<String>), ApiError> {
    Ok(match read {
        ListRead::Latest | ListRead::Any => (ReadAt::Current, None),
        ListRead::NotOlderThan(revision) => {
            state
                .store
                .wait_for_revision(*revision, WAIT_FOR_REVISION)
                .await
                .map_err(|e| target.store_error(e))?;
            (ReadAt::Current, None)
        }
        ListRead::Exact(revision) => (ReadAt::Exact(*revision), None),
        ListRead::Continue(token) => (ReadAt::Exact(token.rv), Some(token.start.clone())),
    })
}

fn list_error(state: &ApiState, error: store::Error, read: &ListRead, target: &Target) -> ApiError {
    match (error, read) {
        (store::Error::Expired { .. }, ListRead::Continue(token)) => {
            ApiError::continue_expired(fresh_token(state.store.current_revision(), token))
        }
        (error, _) => target.store_error(error),
    }
}

/// A token that lists the rest of an expired token's list (the keys after its last one) from
/// `revision`, the newest state: what the apiserver offers with an expired continue token,
/// whose `-1` revision means "the newest". None from an empty store, which has no revision
/// a token may name.
fn fresh_token(revision: u64, expired: &ContinueToken) -> Option<String> {
    let fresh = ContinueToken {
        rv: revision,
        start: expired.start.clone(),
    };
    (revision > 0).then(|| fresh.encode())
}

fn continue_token(revision: u64, start_after: &Option<String>) -> String {
    ContinueToken {
        rv: revision,
        start: start_after.clone().unwrap_or_default(),
    }
    .encode()
}

/// Renders a listing as a `…List`, a Table or a PartialObjectMetadataList.
pub fn render_list(kind: Kind, listing: Listing, output: Output) -> Result<Response, ApiError> {
    let body = match output.form {
        Form::Table { include_object } if kind == Kind::ImageStream => {
            stream_table(listing, include_object)?
        }
        Form::PartialObjectMetadata | Form::PartialObjectMetadataList => {
            let metadata = json!(ListMeta::of(&listing));
            let items: Vec<Value> = listing
                .items
                .into_iter()
                .map(Presented::into_value)
                .collect();
            let list = json!({"metadata": metadata, "items": items});
            table::partial_object_metadata_list(&list)
        }
        _ => {
            let list = ListBody {
                kind: kind.list_kind(),
                api_version: kind.api_version(),
                metadata: ListMeta::of(&listing),
                items: &listing.items,
            };
            return encoded(output, &list);
        }
    };
    encoded(output, &body)
}

/// A `…List` as written: the items are encoded straight from their presented form.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListBody<'a> {
    kind: &'static str,
    api_version: &'static str,
    metadata: ListMeta<'a>,
    items: &'a [Presented],
}

/// A list's `metadata`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta<'a> {
    resource_version: String,
    #[serde(rename = "continue", skip_serializing_if = "Option::is_none")]
    continue_token: Option<&'a str>,
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

    #[test]
    fn a_fresh_token_continues_after_the_expired_ones_last_key() {
        let expired = ContinueToken {
            rv: 3,
            start: "imagestreams/ns/a".into(),
        };
        let fresh = fresh_token(40, &expired).unwrap();
        let decoded = ContinueToken::decode(&fresh).unwrap();
        assert_eq!((decoded.rv, decoded.start), (40, expired.start.clone()));
        assert_eq!(fresh_token(0, &expired), None);
    }

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
                "items:\n- y:\n  - true\n  z: 1\nkind: K\nmetadata:\n  labels:\n    a: '2'\n    b: '1'\n  name: n\n".to_string(),
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
