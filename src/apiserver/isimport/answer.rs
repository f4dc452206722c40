//! The answer of an import (pure): one `ImageImportStatus` per image and the repository's, as
//! openshift-apiserver's `importImages` and `importFromRepository` fill them.

use serde_json::{json, Map, Value};

use crate::importer::outcome::Failure;
use crate::importer::tag_order::{prioritized, MAX_TAGS_PER_REPOSITORY};
use crate::reference::ImageRef;

/// An image the registry had.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The digest a tag records (an index's own under PreserveOriginal).
    pub digest: String,
    /// The Image object, as stored or as it would be.
    pub image: Value,
    /// The images of an index imported whole (PreserveOriginal), each as an Image object.
    pub manifests: Vec<Value>,
}

/// What the registry said about one source.
pub type Outcome = Result<Found, Failure>;

/// The tag `source` names, as the answer shows it: Docker's default `latest` for a tag
/// import, nothing for an import by digest.
fn answered_tag(source: &ImageRef) -> String {
    match (source.id.is_empty(), source.tag.is_empty()) {
        (false, _) => String::new(),
        (true, true) => "latest".to_string(),
        (true, false) => source.tag.clone(),
    }
}

/// The members of an answered Image that only an import asking for manifests returns
/// (OpenShift's `clearManifests` empties them otherwise).
const MANIFEST_FIELDS: [&str; 2] = ["dockerImageManifest", "dockerImageConfig"];

/// `status.images[i]` for an import of `source`; its images keep their manifest and config
/// only when `include_manifest`.
pub fn image_status(source: &ImageRef, outcome: &Outcome, include_manifest: bool) -> Value {
    let mut status = found_status(outcome, include_manifest);
    let tag = answered_tag(source);
    if !tag.is_empty() {
        status.insert("tag".into(), tag.into());
    }
    Value::Object(status)
}

/// The `status`, `image` and `manifests` of one outcome.
fn found_status(outcome: &Outcome, include_manifest: bool) -> Map<String, Value> {
    let mut status = Map::new();
    let shown = |image: &Value| match include_manifest {
        true => image.clone(),
        false => without_manifest(image),
    };
    match outcome {
        Ok(found) => {
            status.insert("status".into(), success());
            status.insert("image".into(), shown(&found.image));
            if !found.manifests.is_empty() {
                let manifests: Vec<Value> = found.manifests.iter().map(shown).collect();
                status.insert("manifests".into(), manifests.into());
            }
        }
        Err(failure) => {
            status.insert("status".into(), failed(failure));
        }
    }
    status
}

/// `image` without its manifest and config.
fn without_manifest(image: &Value) -> Value {
    let mut image = image.clone();
    if let Some(members) = image.as_object_mut() {
        for field in MANIFEST_FIELDS {
            members.remove(field);
        }
    }
    image
}

/// The tags of a listed repository to import (the first [`MAX_TAGS_PER_REPOSITORY`] in
/// OpenShift's order) and the rest, which the answer lists as `additionalTags`.
pub fn split_repository_tags(listed: Vec<String>) -> (Vec<String>, Vec<String>) {
    let mut chosen = prioritized(listed);
    let additional = chosen.split_off(chosen.len().min(MAX_TAGS_PER_REPOSITORY));
    (chosen, additional)
}

/// `status.repository`: the listing's failure, or each chosen tag's outcome and the tags left
/// out, failing as a whole (`ImportFailed`) when any tag failed; manifests as for
/// [`image_status`].
pub fn repository_status(
    listing: &Result<Vec<(String, Outcome)>, Failure>,
    additional: &[String],
    include_manifest: bool,
) -> Value {
    let tags = match listing {
        Err(failure) => return json!({"status": failed(failure)}),
        Ok(tags) => tags,
    };
    let images: Vec<Value> = tags
        .iter()
        .map(|(tag, outcome)| {
            let mut status = found_status(outcome, include_manifest);
            status.insert("tag".into(), tag.clone().into());
            Value::Object(status)
        })
        .collect();
    let failures = tags.iter().filter(|(_, outcome)| outcome.is_err()).count();
    let status = match failures {
        0 => success(),
        1 => import_failed("one of the images from this repository failed to import"),
        n => import_failed(&format!(
            "{n} of the images from this repository failed to import"
        )),
    };
    let mut repository = json!({"status": status, "images": images});
    if !additional.is_empty() {
        repository["additionalTags"] = additional.into();
    }
    repository
}

fn success() -> Value {
    json!({"metadata": {}, "status": "Success"})
}

fn import_failed(message: &str) -> Value {
    let reason = crate::importer::outcome::ImportReason::ImportFailed.as_str();
    json!({"metadata": {}, "status": "Failure", "message": message, "reason": reason})
}

/// A failure as the `metav1.Status` OpenShift's errors carry: reason, message, and the HTTP
/// code the reason has.
fn failed(failure: &Failure) -> Value {
    let mut status = json!({"metadata": {}, "status": "Failure", "message": failure.message,
                            "reason": failure.reason.as_str()});
    if let Some(code) = failure.reason.code() {
        status["code"] = code.into();
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::outcome::ImportReason;

    fn found(digest: &str) -> Outcome {
        Ok(Found {
            digest: digest.into(),
            image: json!({"metadata": {"name": digest}}),
            manifests: Vec::new(),
        })
    }

    fn refused(reason: ImportReason, message: &str) -> Outcome {
        Err(Failure {
            reason,
            message: message.into(),
        })
    }

    #[test]
    fn each_image_is_answered_with_a_status_its_image_and_its_tag() {
        let check = |spec: &str, outcome: Outcome, expected: Value| {
            let source = ImageRef::parse(spec).unwrap();
            assert_eq!(image_status(&source, &outcome, false), expected, "{spec}");
        };
        check(
            "quay.io/o/app:v2",
            found("sha256:a"),
            json!({"status": {"metadata": {}, "status": "Success"},
                   "image": {"metadata": {"name": "sha256:a"}}, "tag": "v2"}),
        );
        check(
            "quay.io/o/app",
            refused(ImportReason::NotFound, "gone"),
            json!({"status": {"metadata": {}, "status": "Failure", "message": "gone",
                              "reason": "NotFound", "code": 404}, "tag": "latest"}),
        );
        let digest = format!("quay.io/o/app@sha256:{}", "b".repeat(64));
        check(
            &digest,
            refused(ImportReason::Unauthorized, "no"),
            json!({"status": {"metadata": {}, "status": "Failure", "message": "no",
                              "reason": "Unauthorized", "code": 401}}),
        );
    }

    #[test]
    fn an_index_imported_whole_lists_its_manifests() {
        let mut index = found("sha256:i").unwrap();
        index.manifests = vec![json!({"metadata": {"name": "sha256:c"}})];
        let source = ImageRef::parse("quay.io/o/app:1").unwrap();
        let status = image_status(&source, &Ok(index), false);
        assert_eq!(
            status["manifests"],
            json!([{"metadata": {"name": "sha256:c"}}])
        );
    }

    #[test]
    fn a_repository_answers_its_tags_and_lists_those_past_fifty_as_additional() {
        let listed: Vec<String> = (0..53)
            .map(|i| format!("t{i:02}"))
            .chain(["latest".into()])
            .collect();
        let (chosen, additional) = split_repository_tags(listed);
        assert_eq!(chosen.len(), MAX_TAGS_PER_REPOSITORY);
        assert_eq!(chosen[0], "latest");
        assert_eq!(additional, ["t49", "t50", "t51", "t52"]);
        let (few, none) = split_repository_tags(vec!["v1".into()]);
        assert_eq!((few.len(), none.len()), (1, 0));
    }

    #[test]
    fn a_repository_fails_as_a_whole_when_it_cannot_be_listed_or_a_tag_fails() {
        let check = |listing: Result<Vec<(String, Outcome)>, Failure>,
                     additional: &[String],
                     expected: Value| {
            let status = repository_status(&listing, additional, false);
            assert_eq!(status["status"], expected, "{status}");
            status
        };
        check(
            Err(Failure {
                reason: ImportReason::NotFound,
                message: "no repo".into(),
            }),
            &[],
            json!({"metadata": {}, "status": "Failure", "message": "no repo",
                   "reason": "NotFound", "code": 404}),
        );
        let ok = check(
            Ok(vec![("v1".into(), found("sha256:a"))]),
            &["v0".into()],
            json!({"metadata": {}, "status": "Success"}),
        );
        assert_eq!(ok["images"][0]["tag"], "v1");
        assert_eq!(ok["additionalTags"], json!(["v0"]));
        check(
            Ok(vec![
                ("v1".into(), refused(ImportReason::NotFound, "x")),
                ("v2".into(), found("sha256:b")),
            ]),
            &[],
            json!({"metadata": {}, "status": "Failure", "reason": "ImportFailed",
                   "message": "one of the images from this repository failed to import"}),
        );
        let two = check(
            Ok(vec![
                ("v1".into(), refused(ImportReason::NotFound, "x")),
                ("v2".into(), refused(ImportReason::NotFound, "y")),
            ]),
            &[],
            json!({"metadata": {}, "status": "Failure", "reason": "ImportFailed",
                   "message": "2 of the images from this repository failed to import"}),
        );
        assert!(two.get("additionalTags").is_none());
    }

    #[test]
    fn manifests_are_answered_only_to_an_import_that_asks_for_them() {
        let with_bodies = |name: &str| {
            json!({"metadata": {"name": name}, "dockerImageManifest": "{}",
                   "dockerImageConfig": "{\"os\":\"linux\"}"})
        };
        let mut index = found("sha256:i").unwrap();
        index.image = with_bodies("sha256:i");
        index.manifests = vec![with_bodies("sha256:c")];
        let source = ImageRef::parse("quay.io/o/app:1").unwrap();
        let check = |include: bool| {
            let status = image_status(&source, &Ok(index.clone()), include);
            let listing = Ok(vec![("1".to_string(), Ok(index.clone()))]);
            let repository = repository_status(&listing, &[], include);
            for image in [
                &status["image"],
                &status["manifests"][0],
                &repository["images"][0]["image"],
                &repository["images"][0]["manifests"][0],
            ] {
                for field in MANIFEST_FIELDS {
                    assert_eq!(image.get(field).is_some(), include, "{field}: {image}");
                }
            }
        };
        check(true);
        check(false);
    }
}
