//! What `spec.import: true` writes to the stream (pure): openshift-apiserver's
//! `importSuccessful`, `checkImportFailure` and `ensureSpecTag`, through the same stream rules
//! a client's update and status write go through, as the importer's repository import does.

use std::collections::BTreeMap;

use jiff::Timestamp;

use crate::api::{ImageStream, TagImportPolicy, TagReference, TagReferencePolicy};
use crate::field::FieldError;
pub use crate::importer::outcome::Imported;
use crate::importer::outcome::{
    apply_outcome, imported_reference, keep_revisions, Failure, IMPORT_SUCCESS,
};
use crate::importer::plan::{ImportMode, TagImport, Trigger};
use crate::importer::repository::CHECK_ANNOTATION;
use crate::object_meta::time::rfc3339;
use crate::reference::ImageRef;
use crate::strategy::{self, status_list_mut, update_tracking_conditions, Context};

/// One spec tag an import writes, with what the registry said.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedTag {
    /// The spec tag.
    pub tag: String,
    /// Its source, `from.name` of a `DockerImage` spec tag.
    pub from: String,
    /// Given to the spec tag.
    pub import_policy: TagImportPolicy,
    /// Given to the spec tag when it has none.
    pub reference_policy: TagReferencePolicy,
    /// A failed image still gets its spec tag (`spec.images`); a failed repository tag does
    /// not (`spec.repository`).
    pub tag_on_failure: bool,
    /// The image found, or why none was.
    pub outcome: Result<Imported, Failure>,
}

/// What one tag's status gets.
enum Record {
    /// A new event (and no conditions).
    Event(Imported),
    /// The same image again: only conditions cleared.
    Unchanged,
    /// An `ImportSuccess=False` condition.
    Condition(Failure),
}

/// The stream `namespace/name` (`old`, or a new one) with `tags` imported at `ctx.now`, or
/// `None` when an existing, already checked stream would not change. Spec, metadata and
/// status go through [`strategy::prepare_for_create`] or [`strategy::prepare_for_update`],
/// then [`strategy::prepare_for_import_status_update`]; their errors are returned for a 422.
/// Each status tag keeps its newest `keep_tag_revisions` items (0: all).
pub fn apply_import(
    old: Option<&ImageStream>,
    namespace: &str,
    name: &str,
    tags: &[ImportedTag],
    keep_tag_revisions: usize,
    ctx: &Context<'_>,
) -> Result<Option<ImageStream>, Vec<FieldError>> {
    let base = old
        .cloned()
        .unwrap_or_else(|| ImageStream::new(namespace, name));
    let mut spec = base.clone();
    let records: Vec<Option<Record>> = tags.iter().map(|t| set_spec(&mut spec, t)).collect();
    match old {
        None => strategy::prepare_for_create(&mut spec, ctx)?,
        Some(old) => strategy::prepare_for_update(&mut spec, old, ctx)?,
    }
    let mut next = spec.clone();
    for (imported, record) in tags.iter().zip(records) {
        record_status(&mut next, imported, record, ctx.now);
    }
    keep_revisions(&mut next, keep_tag_revisions);
    strategy::prepare_for_import_status_update(&mut next, &spec, ctx)?;
    let checked = annotation(&base).is_some();
    if old.is_some_and(|old| checked && next == *old) {
        return Ok(None);
    }
    let annotations = next.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(CHECK_ANNOTATION.to_string(), rfc3339(ctx.now));
    Ok(Some(next))
}

/// Changes the spec tag of `imported` as OpenShift does, and says what its status records:
/// nothing for a failure already recorded in the same words.
fn set_spec(stream: &mut ImageStream, imported: &ImportedTag) -> Option<Record> {
    let tag = imported.tag.as_str();
    let imported_image = match &imported.outcome {
        Err(failure) if same_condition(stream, tag, failure) => return None,
        Err(failure) => {
            match stream.spec.tags.iter_mut().find(|t| t.name == tag) {
                Some(spec) => spec.generation = Some(0),
                None if imported.tag_on_failure => ensure_spec_tag(stream, imported, false),
                None => {}
            }
            return Some(Record::Condition(failure.clone()));
        }
        Ok(image) => image,
    };
    let source = ImageRef::parse(&imported.from).unwrap_or_default();
    let reference = imported_reference(&source, &imported_image.digest);
    let changed = event_differs(stream, tag, &imported_image.digest, &reference)
        || generation_newer(stream, tag);
    let record = match changed || stream.spec_tag(tag).is_none() {
        true => {
            ensure_spec_tag(stream, imported, true);
            Record::Event(imported_image.clone())
        }
        false => Record::Unchanged,
    };
    if let Some(spec) = stream.spec.tags.iter_mut().find(|t| t.name == tag) {
        spec.import_policy = imported.import_policy.clone();
    }
    Some(record)
}

/// OpenShift's `ensureSpecTag`: without `reset` an existing tag is left alone; otherwise the
/// tag points at the source with the import's policy, its generation reset so that the write
/// gives it the stream's next one, keeping a reference policy it has.
fn ensure_spec_tag(stream: &mut ImageStream, imported: &ImportedTag, reset: bool) {
    let index = match stream.spec.tags.iter().position(|t| t.name == imported.tag) {
        Some(_) if !reset => return,
        Some(index) => index,
        None => {
            stream.spec.tags.push(TagReference {
                name: imported.tag.clone(),
                ..TagReference::default()
            });
            stream.spec.tags.len() - 1
        }
    };
    let spec = &mut stream.spec.tags[index];
    spec.from = Some(k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("DockerImage".to_string()),
        name: Some(imported.from.clone()),
        ..Default::default()
    });
    spec.generation = Some(0);
    spec.import_policy = imported.import_policy.clone();
    if spec.reference_policy.type_.is_empty() {
        spec.reference_policy = imported.reference_policy.clone();
    }
}

/// Records `record` on the status of `imported`'s tag, at the generation the write gave the
/// spec tag.
fn record_status(
    stream: &mut ImageStream,
    imported: &ImportedTag,
    record: Option<Record>,
    now: Timestamp,
) {
    let generation = stream
        .spec_tag(&imported.tag)
        .and_then(|t| t.generation)
        .or(stream.metadata.generation)
        .unwrap_or(0);
    let tag_import = TagImport {
        tag: imported.tag.clone(),
        source: ImageRef::parse(&imported.from).unwrap_or_default(),
        insecure: imported.import_policy.insecure,
        mode: ImportMode::legacy(),
        generation,
        trigger: Trigger::Generation,
    };
    match record {
        None => {}
        Some(Record::Event(image)) => {
            apply_outcome(stream, &tag_import, &Ok(image), now);
        }
        Some(Record::Condition(failure)) => {
            apply_outcome(stream, &tag_import, &Err(failure), now);
        }
        Some(Record::Unchanged) if stream.status_tag(&imported.tag).is_some() => {
            let list = status_list_mut(stream, &imported.tag);
            list.conditions.retain(|c| c.type_ != IMPORT_SUCCESS);
            update_tracking_conditions(stream, &imported.tag);
        }
        Some(Record::Unchanged) => {}
    }
}

/// OpenShift's `hasTagCondition`: the tag already carries this failure in the same words
/// (whatever its generation and time).
fn same_condition(stream: &ImageStream, tag: &str, failure: &Failure) -> bool {
    stream.status_tag(tag).is_some_and(|list| {
        list.conditions.iter().any(|c| {
            c.type_ == IMPORT_SUCCESS
                && c.status == "False"
                && c.reason == failure.reason.as_str()
                && c.message == failure.message
        })
    })
}

/// OpenShift's `differentTagEvent`: no event yet, or the newest names another image or
/// reference.
fn event_differs(stream: &ImageStream, tag: &str, digest: &str, reference: &str) -> bool {
    stream
        .latest_event(tag)
        .is_none_or(|newest| newest.image != digest || newest.docker_image_reference != reference)
}

/// OpenShift's `differentTagGeneration`: the spec tag is newer than its newest event.
fn generation_newer(stream: &ImageStream, tag: &str) -> bool {
    let (Some(spec), Some(newest)) = (stream.spec_tag(tag), stream.latest_event(tag)) else {
        return true;
    };
    spec.generation.is_none_or(|g| g > newest.generation)
}

fn annotation(stream: &ImageStream) -> Option<&String> {
    stream.metadata.annotations.as_ref()?.get(CHECK_ANNOTATION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::outcome::ImportReason;
    use crate::strategy::testing::{
        digest, docker_tag, event, history, now, set_history, stream, with_ctx,
    };
    use crate::strategy::Config;

    const FROM: &str = "quay.io/o/app:v2";

    fn imported(tag: &str, outcome: Result<Imported, Failure>) -> ImportedTag {
        ImportedTag {
            tag: tag.into(),
            from: FROM.into(),
            import_policy: TagImportPolicy::default(),
            reference_policy: TagReferencePolicy::default(),
            tag_on_failure: true,
            outcome,
        }
    }

    fn ok(c: char) -> Result<Imported, Failure> {
        Ok(Imported { digest: digest(c) })
    }

    fn missing() -> Result<Imported, Failure> {
        Err(Failure {
            reason: ImportReason::NotFound,
            message: "not found".into(),
        })
    }

    fn check(old: Option<&ImageStream>, tags: &[ImportedTag]) -> Option<ImageStream> {
        check_keeping(0, old, tags)
    }

    fn check_keeping(
        keep: usize,
        old: Option<&ImageStream>,
        tags: &[ImportedTag],
    ) -> Option<ImageStream> {
        with_ctx(&Config::default(), vec![], true, |ctx| {
            apply_import(old, "ns", "app", tags, keep, ctx)
        })
        .expect("valid")
    }

    /// A stored stream with `v2` imported as `c` at generation 1, checked already.
    fn imported_stream(c: char) -> ImageStream {
        let mut s = stream("ns", "app");
        s.metadata.generation = Some(1);
        let mut tag = docker_tag("v2", FROM);
        tag.generation = Some(1);
        s.spec.tags = vec![tag];
        let pinned = format!("quay.io/o/app@{}", digest(c));
        set_history(&mut s, "v2", vec![event(&pinned, &digest(c), 1)]);
        s.metadata.annotations = Some(
            [(
                CHECK_ANNOTATION.to_string(),
                "2024-01-01T00:00:00Z".to_string(),
            )]
            .into(),
        );
        with_ctx(&Config::default(), vec![], true, |ctx| {
            let mut prepared = s.clone();
            strategy::prepare_for_status_update(&mut prepared, &s, ctx).unwrap();
            prepared
        })
    }

    #[test]
    fn a_new_stream_gets_the_spec_tag_its_event_and_the_check_annotation() {
        let next = check(None, &[imported("v2", ok('a'))]).unwrap();
        let pinned = format!("quay.io/o/app@{}", digest('a'));
        assert_eq!(history(&next, "v2"), [(pinned, digest('a'), 1)]);
        let spec = next.spec_tag("v2").unwrap();
        assert_eq!(spec.from.as_ref().unwrap().name.as_deref(), Some(FROM));
        assert_eq!(
            (spec.generation, next.metadata.generation),
            (Some(1), Some(1))
        );
        let checked = annotation(&next).unwrap();
        assert_eq!(checked, &rfc3339(now()));
    }

    #[test]
    fn a_new_image_of_an_existing_tag_is_a_new_event_at_the_next_generation() {
        let old = imported_stream('a');
        let next = check(Some(&old), &[imported("v2", ok('b'))]).unwrap();
        let images: Vec<String> = history(&next, "v2")
            .into_iter()
            .map(|(_, image, _)| image)
            .collect();
        assert_eq!(images, [digest('b'), digest('a')]);
        assert_eq!(next.latest_event("v2").unwrap().generation, 2);
        assert_eq!(next.spec_tag("v2").unwrap().generation, Some(2));

        let kept = check_keeping(1, Some(&old), &[imported("v2", ok('b'))]).unwrap();
        let images: Vec<String> = history(&kept, "v2")
            .into_iter()
            .map(|(_, image, _)| image)
            .collect();
        assert_eq!(images, [digest('b')], "--keep-tag-revisions 1");
    }

    #[test]
    fn the_same_image_again_leaves_a_checked_stream_unwritten() {
        let old = imported_stream('a');
        assert_eq!(check(Some(&old), &[imported("v2", ok('a'))]), None);
        let mut unchecked = old.clone();
        unchecked.metadata.annotations = None;
        let next = check(Some(&unchecked), &[imported("v2", ok('a'))]).unwrap();
        assert!(
            annotation(&next).is_some(),
            "an unchecked stream is annotated"
        );
        assert_eq!(history(&next, "v2").len(), 1);
    }

    #[test]
    fn a_failure_records_a_condition_and_an_image_gets_its_spec_tag_anyway() {
        let next = check(None, &[imported("v9", missing()), imported("v2", ok('a'))]).unwrap();
        let condition = &next.status_tag("v9").unwrap().conditions[0];
        assert_eq!(
            (condition.type_.as_str(), condition.status.as_str()),
            ("ImportSuccess", "False")
        );
        assert_eq!(
            (condition.reason.as_str(), condition.generation),
            ("NotFound", 1)
        );
        assert!(next.spec_tag("v9").is_some());
        assert!(
            next.latest_event("v2").is_some(),
            "the other image still imports"
        );
        let mut repository_tag = imported("r1", missing());
        repository_tag.tag_on_failure = false;
        let next = check(None, &[repository_tag]).unwrap();
        assert!(
            next.spec_tag("r1").is_none(),
            "a repository tag only gets a condition"
        );
        assert_eq!(next.status_tag("r1").unwrap().conditions.len(), 1);
    }

    #[test]
    fn the_same_failure_again_changes_nothing_but_a_success_clears_it() {
        let failed = check(Some(&imported_stream('a')), &[imported("v2", missing())]).unwrap();
        assert_eq!(failed.status_tag("v2").unwrap().conditions.len(), 1);
        assert_eq!(
            failed.spec_tag("v2").unwrap().generation,
            Some(2),
            "reset for the condition"
        );
        assert_eq!(check(Some(&failed), &[imported("v2", missing())]), None);
        let healed = check(Some(&failed), &[imported("v2", ok('b'))]).unwrap();
        assert!(healed.status_tag("v2").unwrap().conditions.is_empty());
        assert_eq!(healed.latest_event("v2").unwrap().image, digest('b'));
    }

    #[test]
    fn the_same_image_again_clears_a_failure_from_the_tags_that_track_it() {
        let mut old = imported_stream('a');
        old.spec
            .tags
            .push(crate::strategy::testing::istag("latest", "v2"));
        let failure = crate::api::TagEventCondition {
            type_: IMPORT_SUCCESS.into(),
            status: "False".into(),
            reason: "InternalError".into(),
            message: "the registry answered 503".into(),
            generation: 1,
            ..Default::default()
        };
        for tag in ["v2", "latest"] {
            status_list_mut(&mut old, tag).conditions = vec![failure.clone()];
        }
        let pinned = format!("quay.io/o/app@{}", digest('a'));
        set_history(&mut old, "latest", vec![event(&pinned, &digest('a'), 1)]);

        let next = check(Some(&old), &[imported("v2", ok('a'))]).unwrap();
        assert_eq!(history(&next, "v2").len(), 1, "the same image");
        assert!(next.status_tag("v2").unwrap().conditions.is_empty());
        let latest = next.status_tag("latest").unwrap();
        assert!(latest.conditions.is_empty(), "{latest:?}");
    }

    #[test]
    fn an_import_keeps_a_reference_policy_the_tag_has_and_sets_its_import_policy() {
        let mut old = imported_stream('a');
        old.spec.tags[0].reference_policy.type_ = "Local".into();
        let mut scheduled = imported("v2", ok('b'));
        scheduled.import_policy.scheduled = true;
        scheduled.reference_policy.type_ = "Source".into();
        let next = check(Some(&old), &[scheduled]).unwrap();
        let spec = next.spec_tag("v2").unwrap();
        assert_eq!(spec.reference_policy.type_, "Local");
        assert!(spec.import_policy.scheduled);
    }
}
