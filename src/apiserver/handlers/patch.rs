//! PATCH of an object or its `/status`: the four patch types, with server-side apply creating
//! missing objects, and a read-modify-write loop that retries when another writer got there
//! first (the store's compare-and-swap failed) — unless the patch itself named a
//! resourceVersion, which then acts as a precondition.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde_json::json;

use super::write::{self, WriteRequest};
use super::{resource_version, validation};
use crate::apiserver::error::ApiError;
use crate::apiserver::http;
use crate::apiserver::negotiate;
use crate::apiserver::options::WriteOptions;
use crate::apiserver::patch::{self, PatchContext, PatchKind, Subresource};
use crate::apiserver::resource::Kind;
use crate::store;

/// How long a patch keeps re-applying itself to the current object after losing races with
/// other writers (kube-apiserver retries until its request times out). A count would not do:
/// contenders committed in one group all read the same revision, and only one of them wins
/// per commit, so the last of N contenders needs N attempts.
const RETRY_BUDGET: Duration = Duration::from_secs(30);

/// `PATCH …/<name>` or `…/<name>/status`.
pub async fn patch(
    state: &crate::apiserver::ApiState,
    request: &WriteRequest<'_>,
    kind: PatchKind,
    options: &WriteOptions,
    body: &[u8],
    user_agent: &str,
) -> Result<Response, ApiError> {
    let target = request.target;
    let context = PatchContext {
        field_manager: Some(options.field_manager.as_str()).filter(|m| !m.is_empty()),
        user_agent: Some(user_agent),
        force: options.force,
        subresource: if target.subresource.as_deref() == Some("status") {
            Subresource::Status
        } else {
            Subresource::Main
        },
        now: Timestamp::now(),
        object_type: object_type(target.kind),
    };
    let body = match kind {
        PatchKind::Apply => negotiate::without_bom(body),
        _ => body,
    };
    if kind == PatchKind::Apply {
        // Before anything parses the configuration: see `negotiate::nesting` and
        // `yaml_aliases` (every later reader checks the aliases again, cheaply: this one
        // answers first).
        negotiate::nesting::check(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
        crate::yaml_aliases::check(body)
            .map_err(|e| ApiError::BadRequest(format!("error decoding YAML: {e}")))?;
    }
    let precondition = names_resource_version(kind, body);
    let deadline = Instant::now() + RETRY_BUDGET;
    while Instant::now() < deadline {
        let current = match state.store.get(&target.key()).await {
            Ok(current) => Some(current),
            Err(store::Error::NotFound { .. })
                if kind == PatchKind::Apply && target.subresource.is_none() =>
            {
                None
            }
            Err(error) => return Err(target.store_error(error)),
        };
        let live = current.as_ref().map(|c| &*c.value);
        let outcome =
            patch::apply_patch(kind, live, body, &context).map_err(|error| match error {
                // The patch module knows no resource; kube-apiserver's 404 names the object.
                patch::PatchError::NotFound => {
                    ApiError::not_found(target.kind.group_resource(), target.name())
                }
                other => ApiError::from(other),
            })?;
        if kind != PatchKind::Apply {
            validation::check_patched_decodes(target.kind, body, &outcome.object)?;
        }
        let problems = validation::patch_problems(
            target.kind,
            body,
            kind == PatchKind::Apply,
            live,
            &outcome.object,
        );
        let warnings = validation::enforce_patch(options.field_validation, &problems, body)?;
        let mut response = match current {
            None => match create(state, request, outcome.object).await? {
                Some(response) => response,
                None => continue,
            },
            Some(current) => {
                match update(state, request, outcome.object, &current, precondition).await? {
                    Some(response) => response,
                    None => continue,
                }
            }
        };
        http::add_warnings(&mut response, &warnings);
        return Ok(response);
    }
    Err(ApiError::modified(
        target.kind.group_resource(),
        target.name(),
    ))
}

/// The schema a kind is patched with. Images have none of their own and are patched as
/// streams have always been (no client applies them: the importer writes them).
fn object_type(kind: Kind) -> &'static patch::ObjectType {
    match kind {
        Kind::Secret => &patch::SECRET_TYPE,
        Kind::ImageStream | Kind::Image => &patch::IMAGE_STREAM_TYPE,
    }
}

/// Server-side apply of a missing object: a create; `None` when another writer created it
/// first, so the apply is made again, as an update of that object.
async fn create(
    state: &crate::apiserver::ApiState,
    request: &WriteRequest<'_>,
    mut object: serde_json::Value,
) -> Result<Option<Response>, ApiError> {
    let named = object["metadata"]["name"]
        .as_str()
        .is_some_and(|name| !name.is_empty());
    if !named {
        object["metadata"]["name"] = json!(request.target.name());
    }
    // An apply configuration naming another object is refused, as on an existing one.
    super::object_meta::check_identity(request.target, &object)?;
    match write::create(state, request, object).await {
        Ok(response) => Ok(Some(response)),
        Err(ApiError::AlreadyExists { .. }) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Writes the patched object over `current`; `None` when another writer got there first and
/// the patch should be re-applied. With a `precondition` (the patch named a resourceVersion)
/// a lost race is a 409 instead: the named version is stale.
async fn update(
    state: &crate::apiserver::ApiState,
    request: &WriteRequest<'_>,
    mut object: serde_json::Value,
    current: &store::Object,
    precondition: bool,
) -> Result<Option<Response>, ApiError> {
    let target = request.target;
    if precondition && resource_version(&object) != resource_version(&current.value) {
        return Err(ApiError::modified(
            target.kind.group_resource(),
            target.name(),
        ));
    }
    // The patched object is checked before it is written into: a patch may have made
    // `metadata` an array or a string, where indexing it would panic.
    crate::apiserver::resource::check_shape(target.kind, &object)?;
    if !object["metadata"].is_object() && !object["metadata"].is_null() {
        return Err(ApiError::bad_request(
            "metadata must be an object; the patch made it something else",
        ));
    }
    object["metadata"]["resourceVersion"] = json!(resource_version(&current.value));
    super::object_meta::check_type_meta(target.kind, &object)?;
    // A patch may not rename the object or move it to another namespace (kube's checkName).
    super::object_meta::check_identity(target, &object)?;
    match write::replace(state, request, object, current).await {
        Ok(presented) => Ok(Some(write::respond(StatusCode::OK, presented))),
        Err(ApiError::Conflict { .. }) if !precondition => Ok(None),
        Err(error) => Err(error),
    }
}

/// Whether the patch body itself names `metadata.resourceVersion` (a JSON-patch op on that
/// path, or the field in a merge, strategic or apply body): it then acts as a precondition.
/// The patched object cannot tell, since it carries the current version either way.
fn names_resource_version(kind: PatchKind, body: &[u8]) -> bool {
    let parsed: Option<serde_json::Value> = match kind {
        PatchKind::Apply => crate::yaml_aliases::json_from_slice(body).ok(),
        _ => serde_json::from_slice(body).ok(),
    };
    match parsed {
        Some(serde_json::Value::Array(ops)) => ops
            .iter()
            .any(|op| op["path"] == "/metadata/resourceVersion"),
        Some(object) => !object["metadata"]["resourceVersion"].is_null(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_resource_version_in_the_patch_body_is_a_precondition() {
        let check = |kind, body: &str, expected| {
            assert_eq!(
                names_resource_version(kind, body.as_bytes()),
                expected,
                "{body}"
            );
        };
        check(
            PatchKind::Merge,
            r#"{"metadata":{"labels":{"a":"b"}}}"#,
            false,
        );
        check(
            PatchKind::Merge,
            r#"{"metadata":{"resourceVersion":"7"}}"#,
            true,
        );
        check(
            PatchKind::Strategic,
            r#"{"spec":{"lookupPolicy":{"local":true}}}"#,
            false,
        );
        check(
            PatchKind::Json,
            r#"[{"op":"test","path":"/metadata/resourceVersion","value":"7"}]"#,
            true,
        );
        check(
            PatchKind::Json,
            r#"[{"op":"replace","path":"/spec/lookupPolicy/local","value":true}]"#,
            false,
        );
        check(
            PatchKind::Apply,
            "metadata:\n  name: x\n  resourceVersion: \"3\"\n",
            true,
        );
        check(PatchKind::Apply, "metadata:\n  name: x\n", false);
    }
}
