//! GET of one object and LIST of a collection, with Tables and PartialObjectMetadata.

use std::num::NonZeroUsize;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::Target;
use crate::api::{ImageStream, ImageStreamList};
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::negotiate::{IncludeObject, Output};
use crate::apiserver::options::{ContinueToken, ListOptions, ListRead};
use crate::apiserver::resource::{decode, Kind};
use crate::apiserver::state::ApiState;
use crate::apiserver::table;
use crate::store::{self, ReadAt};

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
    let value = present(state, target.kind, &object.value);
    render_object(target.kind, value, output)
}

/// Decorates a stored object for output.
pub fn present(state: &ApiState, kind: Kind, stored: &Value) -> Value {
    kind.present(stored, &state.strategy)
}

/// Renders one object in the negotiated form.
pub fn render_object(kind: Kind, value: Value, output: Output) -> Result<Response, ApiError> {
    let body = match output {
        Output::Table { include_object } if kind == Kind::ImageStream => {
            let stream: ImageStream = decode(&value)?;
            table::object_table(&stream, include_object, Timestamp::now())
        }
        Output::PartialObjectMetadata | Output::PartialObjectMetadataList => {
            table::partial_object_metadata(&value)
        }
        _ => value,
    };
    Ok(http::json(StatusCode::OK, "application/json", &body))
}

/// One list result before rendering.
pub struct Listing {
    /// Matching objects, decorated.
    pub items: Vec<Value>,
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
            .map_err(|e| list_error(e, &options.read, target))?;
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

fn list_error(error: store::Error, read: &ListRead, target: &Target) -> ApiError {
    match (error, read) {
        (store::Error::Expired { .. }, ListRead::Continue(_)) => ApiError::continue_expired(),
        (error, _) => target.store_error(error),
    }
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
    let mut metadata = json!({"resourceVersion": listing.revision.to_string()});
    if let Some(token) = &listing.continue_token {
        metadata["continue"] = json!(token);
    }
    let body = match output {
        Output::Table { include_object } if kind == Kind::ImageStream => {
            stream_table(listing, include_object)?
        }
        Output::PartialObjectMetadata | Output::PartialObjectMetadataList => {
            let list = json!({"metadata": metadata, "items": listing.items});
            table::partial_object_metadata_list(&list)
        }
        _ => {
            json!({"kind": kind.list_kind(), "apiVersion": kind.api_version(), "metadata": metadata,
                    "items": listing.items})
        }
    };
    Ok(http::json(StatusCode::OK, "application/json", &body))
}

fn stream_table(listing: Listing, include_object: IncludeObject) -> Result<Value, ApiError> {
    let items = listing
        .items
        .iter()
        .map(decode::<ImageStream>)
        .collect::<Result<Vec<_>, _>>()?;
    let mut list = ImageStreamList {
        items,
        ..ImageStreamList::default()
    };
    list.metadata.resource_version = Some(listing.revision.to_string());
    list.metadata.continue_ = listing.continue_token;
    Ok(table::list_table(&list, include_object, Timestamp::now()))
}
