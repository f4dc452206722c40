//! PATCH of an ImageStreamTag, as the generic apiserver serves it on openshift-apiserver's
//! imagestreamtag REST (an `Updater`, so PATCH is get → patch the ImageStreamTag → `Update`):
//! the patch is applied to the ImageStreamTag as it is read, and the result is written exactly
//! as a PUT of it would be ([`super::update_tag`]).
//!
//! Server-side apply is not served: an ImageStreamTag is rebuilt from its stream on every read
//! (`newISTag`) and keeps no `managedFields`, so field ownership would be lost between two
//! applies (a field dropped from the configuration would never be removed).

use serde_json::Value;

use super::write::{check_object, IMAGE_STREAM_TAG};
use super::TagWrite;
use crate::apiserver::error::ApiError;
use crate::apiserver::patch::{json, merge, strategic, PatchKind};
use crate::apiserver::resource;
use crate::apiserver::unknown_fields::{self, FieldProblem};

/// The patch types an ImageStreamTag takes, as a 415 lists them.
pub const PATCH_MEDIA_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
];

/// What a 415 for server-side apply adds to kube's words.
const APPLY_REFUSED: &str = "server-side apply is not served for imagestreamtags (they keep no \
    managedFields): use kubectl apply without --server-side, or kubectl replace";

/// The 415 for a `Content-Type` that is no patch type served here.
pub fn unsupported_media_type(kind: Option<PatchKind>) -> ApiError {
    ApiError::UnsupportedMediaType {
        accepted: PATCH_MEDIA_TYPES.to_vec(),
        hint: (kind == Some(PatchKind::Apply)).then_some(APPLY_REFUSED),
    }
}

/// `view`, the ImageStreamTag as it is read, patched with `body`. A strategic merge follows
/// the ImageStreamTag's own schema: its only lists are ObjectMeta's (merged as on any object);
/// `image` and `conditions` are opaque there and replaced whole, which no write reads anyway.
pub fn apply(kind: PatchKind, view: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let patched = match kind {
        PatchKind::Json => json::apply(view, body),
        PatchKind::Merge => merge::apply(view, body),
        PatchKind::Strategic => strategic::apply(view, body, &IMAGE_STREAM_TAG),
        PatchKind::Apply => return Err(unsupported_media_type(Some(kind))),
    };
    patched.map_err(ApiError::from)
}

/// What `fieldValidation` judges of a patch: duplicate fields in its body, and unknown fields
/// of the patched ImageStreamTag that the view did not already have.
pub fn problems(body: &[u8], view: &Value, patched: &Value) -> Vec<FieldProblem> {
    let mut problems = unknown_fields::check_json(body, None).unwrap_or_default();
    let before = unknown_fields::unknown_fields(view, &IMAGE_STREAM_TAG);
    let after = unknown_fields::unknown_fields(patched, &IMAGE_STREAM_TAG);
    problems.extend(after.into_iter().filter(|p| !before.contains(p)));
    problems
}

/// The warning for a patch that removes labels the tag showed: they are its stream's, so they
/// stay (a write that sets other labels is warned about by `ignored_metadata_warnings`; one
/// that sends none cannot tell a removal from a file without labels, a patch can).
pub fn removed_labels_warning(view: &Value, patched: &Value) -> Option<String> {
    let labels = |object: &Value| {
        let labels = object["metadata"]["labels"].as_object();
        labels.filter(|labels| !labels.is_empty()).cloned()
    };
    let (shown, kept) = (labels(view)?, labels(patched));
    let removed = shown
        .keys()
        .any(|key| kept.as_ref().is_none_or(|kept| !kept.contains_key(key)));
    removed.then(|| super::write::ignored("labels", "label the imagestream instead"))
}

/// The write a patched ImageStreamTag makes, checked as a PUT body is (its `apiVersion`, `kind`,
/// shape and namespace); a patch may not rename it (kube's `checkName`).
pub fn tag_write(patched: &Value, namespace: &str, name: &str) -> Result<TagWrite, ApiError> {
    check_object(patched, namespace)?;
    let sent = patched["metadata"]["name"].as_str().unwrap_or("");
    if !sent.is_empty() && sent != name {
        return Err(ApiError::name_mismatch(sent, name));
    }
    resource::decode(patched)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// `db:8` as GET presents it: a spec tag with an annotation, an image, a condition.
    fn view() -> Value {
        json!({
            "kind": "ImageStreamTag", "apiVersion": "image.openshift.io/v1",
            "metadata": {"name": "db:8", "namespace": "ns", "resourceVersion": "7",
                         "labels": {"app": "db"}, "annotations": {"team": "data"}},
            "tag": {"name": "8", "annotations": {"team": "data"},
                    "from": {"kind": "DockerImage", "name": "quay.io/db:8"},
                    "referencePolicy": {"type": "Source"}},
            "generation": 2, "lookupPolicy": {"local": false},
            "conditions": [{"type": "ImportSuccess", "status": "False"}],
            "image": {"metadata": {"name": "sha256:aa"}, "dockerImageReference": "quay.io/db@sha256:aa"},
        })
    }

    /// Patches the view with `body`, and reads the write it makes: each `(pointer, value)` of
    /// `expected` is a field of it (`/tag/from/name`), or the refusal's code and words.
    fn check(kind: PatchKind, body: &str, expected: Result<&[(&str, Value)], (u16, &str)>) {
        let written = apply(kind, &view(), body.as_bytes())
            .and_then(|patched| tag_write(&patched, "ns", "db:8"))
            .map(|write| {
                json!({"resourceVersion": write.metadata.resource_version,
                       "annotations": write.metadata.annotations, "tag": write.tag})
            });
        match (written, expected) {
            (Ok(written), Ok(expected)) => {
                for (pointer, value) in expected {
                    let got = written.pointer(pointer).unwrap_or(&Value::Null);
                    assert_eq!(got, value, "{pointer} of {body}");
                }
            }
            (Err(error), Err((code, message))) => {
                assert_eq!(error.code(), code, "{body}: {error}");
                assert!(error.to_string().contains(message), "{body}: {error}");
            }
            (got, _) => panic!("{body}: {got:?}"),
        }
    }

    #[test]
    fn each_patch_type_changes_the_view_and_the_write_carries_the_result() {
        check(
            PatchKind::Merge,
            r#"{"tag": {"from": {"name": "quay.io/db:8.1"}, "referencePolicy": null}}"#,
            Ok(&[
                ("/tag/from/name", json!("quay.io/db:8.1")),
                ("/tag/from/kind", json!("DockerImage")),
                ("/tag/referencePolicy/type", json!("")),
                ("/tag/annotations", json!({"team": "data"})),
                ("/resourceVersion", json!("7")),
            ]),
        );
        check(
            PatchKind::Json,
            r#"[{"op": "replace", "path": "/tag/referencePolicy/type", "value": "Local"}]"#,
            Ok(&[
                ("/tag/referencePolicy/type", json!("Local")),
                ("/tag/from/name", json!("quay.io/db:8")),
            ]),
        );
        check(
            PatchKind::Strategic,
            r#"{"metadata": {"annotations": {"owner": "me"}}}"#,
            Ok(&[
                ("/annotations", json!({"team": "data", "owner": "me"})),
                ("/tag/annotations", json!({"team": "data"})),
            ]),
        );
        // `tag: null` leaves the spec tag to the update; a named version is carried along.
        check(
            PatchKind::Merge,
            r#"{"tag": null, "metadata": {"resourceVersion": "3"}}"#,
            Ok(&[("/tag", Value::Null), ("/resourceVersion", json!("3"))]),
        );
    }

    #[test]
    fn a_patch_that_breaks_the_object_is_refused_in_kubes_words() {
        check(
            PatchKind::Merge,
            r#"{"metadata": {"name": "db:9"}}"#,
            Err((400, "does not match the name on the URL (db:8)")),
        );
        check(
            PatchKind::Merge,
            r#"{"metadata": {"namespace": "other"}}"#,
            Err((400, "does not match the namespace sent on the request")),
        );
        check(
            PatchKind::Merge,
            r#"{"kind": "ImageStream"}"#,
            Err((400, "and kind (ImageStream) do not match")),
        );
        check(
            PatchKind::Strategic,
            r#"{"tag": []}"#,
            Err((400, "cannot unmarshal array into Go struct field")),
        );
        check(
            PatchKind::Json,
            r#"[{"op": "test", "path": "/metadata/resourceVersion", "value": "6"}]"#,
            Err((422, "the server rejected our request")),
        );
        check(PatchKind::Merge, "[1]", Err((400, "Invalid JSON Patch")));
        check(
            PatchKind::Apply,
            "tag: {}",
            Err((
                415,
                "use kubectl apply without --server-side, or kubectl replace",
            )),
        );
    }

    #[test]
    fn removing_a_label_the_tag_shows_is_warned_about() {
        let check = |patch: &str, warned: bool| {
            let patched = apply(PatchKind::Merge, &view(), patch.as_bytes()).unwrap();
            let warning = removed_labels_warning(&view(), &patched);
            assert_eq!(warning.is_some(), warned, "{patch}: {warning:?}");
        };
        check(r#"{"metadata": {"labels": {"app": null}}}"#, true);
        check(r#"{"metadata": {"labels": null}}"#, true);
        check(r#"{"metadata": {"labels": {"tier": "1"}}}"#, false);
        check(r#"{"metadata": {"annotations": {"a": "b"}}}"#, false);
    }

    #[test]
    fn field_validation_sees_duplicates_in_the_body_and_unknown_fields_it_adds() {
        let body = br#"{"spec": {"tags": []}, "tag": {"colour": 1, "colour": 2}}"#;
        let mut view_with_stray = view();
        view_with_stray["stray"] = json!(1);
        let patched = apply(PatchKind::Merge, &view_with_stray, body).unwrap();
        assert_eq!(
            problems(body, &view_with_stray, &patched),
            [
                FieldProblem::Duplicate("tag.colour".into()),
                FieldProblem::Unknown("tag.colour".into()),
                FieldProblem::Unknown("spec".into()),
            ]
        );
        let clean = br#"{"image": {"anything": 1}, "lookupPolicy": {"local": true}}"#;
        let patched = apply(PatchKind::Merge, &view(), clean).unwrap();
        assert!(problems(clean, &view(), &patched).is_empty());
    }
}
