//! What an import's outcome does to a stream (pure).
//!
//! Success records a tag event pinned to the digest and collapses it into the history as
//! OpenShift's `AddTagEventToImageStream` does; failure sets the tag's `ImportSuccess=False`
//! condition as OpenShift's importer does.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::plan::TagImport;
use crate::api::{ImageStream, TagEvent, TagEventCondition};
use crate::reference::ImageRef;
use crate::strategy::{
    add_tag_event, status_list_mut, update_tracking_chain, update_tracking_conditions,
};

/// The condition type an import failure is reported under.
pub const IMPORT_SUCCESS: &str = "ImportSuccess";

/// A successful import: the image the tag now points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    /// The recorded image (a manifest digest).
    pub digest: String,
}

/// The Kubernetes status reason of a failed import, as OpenShift's importer reports it in a
/// tag condition and an ImageStreamImport's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportReason {
    /// The image, repository or tag does not exist (or is hidden from the caller).
    NotFound,
    /// The registry refused the credentials, or asked for some and none were sent.
    Unauthorized,
    /// Imports from the registry are not allowed (`--allowed-registries-for-import`, a blocked
    /// mirror).
    Forbidden,
    /// What the import would write, or the reference it names, is invalid.
    Invalid,
    /// The registry could not be reached or answered something unusable.
    InternalError,
    /// A repository import found no tag it could import.
    ImportFailed,
}

impl ImportReason {
    /// The reason as a `metav1.Status` and a tag condition spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::Unauthorized => "Unauthorized",
            Self::Forbidden => "Forbidden",
            Self::Invalid => "Invalid",
            Self::InternalError => "InternalError",
            Self::ImportFailed => "ImportFailed",
        }
    }

    /// The HTTP code a `metav1.Status` of this reason carries; `ImportFailed` is OpenShift's
    /// own reason, which its `Status` sends without one.
    pub fn code(self) -> Option<u16> {
        Some(match self {
            Self::NotFound => 404,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::Invalid => 422,
            Self::InternalError => 500,
            Self::ImportFailed => return None,
        })
    }
}

impl std::fmt::Display for ImportReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed import, as the tag condition reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Why, as a Kubernetes status reason.
    pub reason: ImportReason,
    /// A human-readable message.
    pub message: String,
}

impl Failure {
    /// The stream rules refused what an import would write: `Invalid`, their errors joined.
    pub fn invalid(errors: &[crate::field::FieldError]) -> Self {
        let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Self {
            reason: ImportReason::Invalid,
            message: messages.join("; "),
        }
    }
}

/// `failure` of an import sent without credentials because the namespace's pull secrets could
/// not be read (`unreadable`, the cause), with that cause appended when the registry refused
/// (`Unauthorized`) or hid (`NotFound`, what registries answer anonymous callers of a private
/// repository) the image: the registry's answer alone would send the reader to the wrong
/// place. Other failures (a timeout, a bad manifest) are not about credentials and stay as
/// they are.
pub fn sent_anonymously(failure: Failure, unreadable: Option<&str>) -> Failure {
    let Some(cause) = unreadable else {
        return failure;
    };
    if !matches!(
        failure.reason,
        ImportReason::Unauthorized | ImportReason::NotFound
    ) {
        return failure;
    }
    Failure {
        message: format!(
            "{}; the namespace's pull secrets could not be read: {cause}",
            failure.message
        ),
        ..failure
    }
}

/// `failure` ending with how to import `tag` of stream `namespace/name` again now, for a
/// failure whose fix (a policy flag, a CA, access to Secrets, a mirrored platform) does not
/// move the tag's generation: the fix alone leaves the condition in place until the next retry
/// (an `--import-interval` later), and a generation reset imports at once.
pub fn with_reimport_advice(failure: Failure, namespace: &str, name: &str, tag: &str) -> Failure {
    let patch = format!(r#"{{"spec":{{"tags":[{{"name":"{tag}","generation":0}}]}}}}"#);
    Failure {
        message: format!(
            "{}; then set the tag's generation to 0 (kubectl -n {namespace} patch is {name} \
             -p '{patch}') to import again now",
            failure.message
        ),
        ..failure
    }
}

/// The reference an import records: the source with its tag replaced by the digest
/// (`mysql:5.7` becomes `mysql@sha256:…`).
pub fn imported_reference(source: &ImageRef, digest: &str) -> String {
    let mut pinned = source.clone();
    pinned.id = digest.to_string();
    pinned.most_specific().exact()
}

/// Applies one import's outcome to `stream`. Returns whether the stream changed.
///
/// Success records the event (collapsing it as OpenShift does), passes the tag's newest event
/// to the tags tracking it, and clears an earlier failure. Failure sets the tag's only
/// condition to `ImportSuccess=False`, unless the same failure is already recorded (so a
/// failing scheduled import does not rewrite the stream every interval).
pub fn apply_outcome(
    stream: &mut ImageStream,
    import: &TagImport,
    outcome: &Result<Imported, Failure>,
    now: Timestamp,
) -> bool {
    match outcome {
        Ok(imported) => apply_success(stream, import, imported, now),
        Err(failure) => apply_failure(stream, import, failure, now),
    }
}

/// Drops the oldest items of every status tag of `stream` past the newest `keep`
/// (`--keep-tag-revisions`; 0 keeps every item, leaving trimming to whoever writes the status,
/// as OpenShift leaves it to `oc adm prune images --keep-tag-revisions`). Returns whether any
/// went.
pub fn keep_revisions(stream: &mut ImageStream, keep: usize) -> bool {
    let Some(status) = stream.status.as_mut().filter(|_| keep > 0) else {
        return false;
    };
    let mut trimmed = false;
    for list in &mut status.tags {
        trimmed |= list.items.len() > keep;
        list.items.truncate(keep);
    }
    trimmed
}

fn apply_success(
    stream: &mut ImageStream,
    import: &TagImport,
    imported: &Imported,
    now: Timestamp,
) -> bool {
    let event = TagEvent {
        created: Time(now),
        docker_image_reference: imported_reference(&import.source, &imported.digest),
        image: imported.digest.clone(),
        generation: import.generation,
    };
    let mut changed = add_tag_event(stream, &import.tag, event);
    if changed {
        if let Some(newest) = stream.latest_event(&import.tag).cloned() {
            update_tracking_chain(stream, &import.tag, &newest);
        }
    }
    let list = status_list_mut(stream, &import.tag);
    let before = list.conditions.len();
    list.conditions.retain(|c| c.type_ != IMPORT_SUCCESS);
    changed |= list.conditions.len() != before;
    changed |= update_tracking_conditions(stream, &import.tag) > 0;
    changed
}

fn apply_failure(
    stream: &mut ImageStream,
    import: &TagImport,
    failure: &Failure,
    now: Timestamp,
) -> bool {
    let condition = TagEventCondition {
        type_: IMPORT_SUCCESS.to_string(),
        status: "False".to_string(),
        last_transition_time: Some(Time(now)),
        reason: failure.reason.as_str().to_string(),
        message: failure.message.clone(),
        generation: import.generation,
    };
    let list = status_list_mut(stream, &import.tag);
    let same = |c: &TagEventCondition| {
        c.type_ == condition.type_
            && c.status == condition.status
            && c.reason == condition.reason
            && c.message == condition.message
            && c.generation == condition.generation
    };
    if list.conditions.len() == 1 && same(&list.conditions[0]) {
        return false;
    }
    list.conditions = vec![condition];
    update_tracking_conditions(stream, &import.tag);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::plan::{ImportMode, Trigger};
    use crate::strategy::testing::{digest, event, history, istag, now, set_history, stream};
    use jiff::SignedDuration;

    /// The import of tag `t` from `quay.io/o/app:1` at generation 2.
    fn tag_import() -> TagImport {
        TagImport {
            tag: "t".into(),
            source: ImageRef::parse("quay.io/o/app:1").unwrap(),
            insecure: false,
            mode: ImportMode::legacy(),
            generation: 2,
            trigger: Trigger::Generation,
        }
    }

    fn app() -> ImageStream {
        let mut s = stream("ns", "app");
        s.spec.tags = vec![crate::strategy::testing::docker_tag("t", "quay.io/o/app:1")];
        s
    }

    #[test]
    fn imported_references_replace_the_tag_with_the_digest() {
        let pin = |spec: &str| imported_reference(&ImageRef::parse(spec).unwrap(), &digest('a'));
        let a = digest('a');
        assert_eq!(pin("mysql:5.7"), format!("mysql@{a}"));
        assert_eq!(
            pin("127.0.0.1:5000/demo/app:v1"),
            format!("127.0.0.1:5000/demo/app@{a}")
        );
        assert_eq!(pin("quay.io/o/app"), format!("quay.io/o/app@{a}"));
        assert_eq!(
            pin(&format!("quay.io/o/app@{}", digest('b'))),
            format!("quay.io/o/app@{a}")
        );
    }

    fn ok(c: char) -> Result<Imported, Failure> {
        Ok(Imported { digest: digest(c) })
    }

    fn failed(message: &str) -> Result<Imported, Failure> {
        Err(Failure {
            reason: ImportReason::NotFound,
            message: message.into(),
        })
    }

    #[test]
    fn refusals_of_an_anonymous_import_say_why_no_credentials_were_sent() {
        let check = |reason: ImportReason, unreadable: Option<&str>, message: &str| {
            let failure = Failure {
                reason,
                message: "refused".into(),
            };
            let explained = sent_anonymously(failure, unreadable);
            assert_eq!(
                (explained.reason, explained.message.as_str()),
                (reason, message),
                "{reason} {unreadable:?}"
            );
        };
        let because = "the namespace's pull secrets could not be read";
        check(
            ImportReason::Unauthorized,
            Some("forbidden"),
            &format!("refused; {because}: forbidden"),
        );
        check(
            ImportReason::NotFound,
            Some("unreachable"),
            &format!("refused; {because}: unreachable"),
        );
        check(ImportReason::InternalError, Some("forbidden"), "refused");
        check(ImportReason::Unauthorized, None, "refused");
        check(ImportReason::NotFound, None, "refused");
    }

    #[test]
    fn advice_to_fix_something_ends_with_how_to_import_again_now() {
        let check = |tag: &str, message: &str| {
            let failure = Failure {
                reason: ImportReason::InternalError,
                message: "set importPolicy.insecure: true on the tag".into(),
            };
            let advised = with_reimport_advice(failure, "team", "app", tag);
            assert_eq!(advised.reason, ImportReason::InternalError);
            assert_eq!(advised.message, message, "{tag}");
        };
        check(
            "v1",
            "set importPolicy.insecure: true on the tag; then set the tag's generation to 0 \
             (kubectl -n team patch is app -p '{\"spec\":{\"tags\":[{\"name\":\"v1\",\
             \"generation\":0}]}}') to import again now",
        );
        check(
            "latest",
            "set importPolicy.insecure: true on the tag; then set the tag's generation to 0 \
             (kubectl -n team patch is app -p '{\"spec\":{\"tags\":[{\"name\":\"latest\",\
             \"generation\":0}]}}') to import again now",
        );
    }

    #[test]
    fn keeping_revisions_drops_each_tag_s_oldest_items_past_the_newest_few() {
        let images = |chars: &str| -> Vec<String> { chars.chars().map(digest).collect() };
        let mut s = app();
        let events = |chars: &str| -> Vec<TagEvent> {
            images(chars)
                .iter()
                .map(|d| event(&format!("quay.io/o/app@{d}"), d, 1))
                .collect()
        };
        set_history(&mut s, "t", events("dcba"));
        set_history(&mut s, "u", events("b"));
        let kept = |s: &ImageStream, tag: &str| -> Vec<String> {
            history(s, tag)
                .into_iter()
                .map(|(_, image, _)| image)
                .collect()
        };

        assert!(!keep_revisions(&mut s, 0), "0 keeps every item");
        assert_eq!(kept(&s, "t"), images("dcba"));
        assert!(keep_revisions(&mut s, 2));
        assert_eq!(kept(&s, "t"), images("dc"), "the newest first");
        assert_eq!(kept(&s, "u"), images("b"));
        assert!(!keep_revisions(&mut s, 2), "nothing more to drop");
        assert!(!keep_revisions(&mut stream("ns", "bare"), 1), "no status");
    }

    #[test]
    fn success_records_a_pinned_event_and_feeds_tracking_tags() {
        let mut s = app();
        s.spec.tags.push(istag("follow", "t"));
        let import = tag_import();
        assert!(apply_outcome(&mut s, &import, &ok('a'), now()));
        let pinned = format!("quay.io/o/app@{}", digest('a'));
        assert_eq!(history(&s, "t"), vec![(pinned.clone(), digest('a'), 2)]);
        assert_eq!(history(&s, "follow"), vec![(pinned, digest('a'), 2)]);
        assert_eq!(s.latest_event("t").unwrap().created, Time(now()));
        assert!(
            !apply_outcome(&mut s, &import, &ok('a'), now()),
            "same image again"
        );
    }

    #[test]
    fn a_failure_shows_on_the_tags_that_track_it_and_a_success_clears_it() {
        let mut s = app();
        s.spec.tags.push(istag("follow", "t"));
        let import = tag_import();
        assert!(apply_outcome(&mut s, &import, &ok('a'), now()));
        let pinned = format!("quay.io/o/app@{}", digest('a'));

        assert!(apply_outcome(&mut s, &import, &failed("gone"), now()));
        let follow = s.status_tag("follow").unwrap();
        assert_eq!(follow.conditions, s.status_tag("t").unwrap().conditions);
        assert_eq!(follow.conditions[0].reason, "NotFound");
        assert_eq!(
            history(&s, "follow"),
            vec![(pinned.clone(), digest('a'), 2)],
            "the tracking tag keeps its image (OpenShift drops it)"
        );

        assert!(
            apply_outcome(&mut s, &import, &ok('a'), now()),
            "the same image again clears the conditions"
        );
        assert!(s.status_tag("t").unwrap().conditions.is_empty());
        assert!(s.status_tag("follow").unwrap().conditions.is_empty());
        assert_eq!(history(&s, "follow"), vec![(pinned, digest('a'), 2)]);
    }

    #[test]
    fn a_new_image_is_prepended() {
        let mut s = app();
        let import = tag_import();
        apply_outcome(&mut s, &import, &ok('a'), now());
        apply_outcome(&mut s, &import, &ok('b'), now());
        let images: Vec<String> = history(&s, "t").into_iter().map(|(_, i, _)| i).collect();
        assert_eq!(images, [digest('b'), digest('a')]);
    }

    #[test]
    fn failure_sets_one_condition_and_keeps_the_history() {
        let mut s = app();
        set_history(&mut s, "t", vec![event("quay.io/o/app@x", "x", 1)]);
        let import = tag_import();
        assert!(apply_outcome(&mut s, &import, &failed("gone"), now()));
        let list = s.status_tag("t").unwrap();
        assert_eq!(list.items.len(), 1);
        let condition = &list.conditions[0];
        assert_eq!(
            (condition.type_.as_str(), condition.status.as_str()),
            ("ImportSuccess", "False")
        );
        assert_eq!(
            (condition.reason.as_str(), condition.message.as_str()),
            ("NotFound", "gone")
        );
        assert_eq!(condition.generation, 2);
        assert_eq!(condition.last_transition_time, Some(Time(now())));
    }

    #[test]
    fn the_same_failure_again_changes_nothing_but_a_new_one_replaces_it() {
        let mut s = app();
        let import = tag_import();
        let earlier = now() - SignedDuration::from_mins(30);
        apply_outcome(&mut s, &import, &failed("gone"), earlier);
        assert!(!apply_outcome(&mut s, &import, &failed("gone"), now()));
        assert_eq!(
            s.status_tag("t").unwrap().conditions[0].last_transition_time,
            Some(Time(earlier))
        );
        assert!(apply_outcome(&mut s, &import, &failed("other"), now()));
        assert_eq!(s.status_tag("t").unwrap().conditions.len(), 1);
    }

    #[test]
    fn success_clears_a_failure_even_when_the_image_is_unchanged() {
        let mut s = app();
        let import = tag_import();
        apply_outcome(&mut s, &import, &ok('a'), now());
        apply_outcome(&mut s, &import, &failed("registry down"), now());
        assert!(apply_outcome(&mut s, &import, &ok('a'), now()));
        assert!(s.status_tag("t").unwrap().conditions.is_empty());
    }
}
