//! What a repository import writes (pure): spec tags, tag events or conditions, and the
//! annotations, through the same stream rules a client's write goes through.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{sets_tag, tag_source, RepositoryImport, CHECK_ANNOTATION, FAILURE_ANNOTATION};
use crate::api::{ImageStream, TagReference};
use crate::field::FieldError;
use crate::importer::outcome::{
    apply_outcome, imported_reference, Failure, ImportReason, Imported,
};
use crate::importer::plan::{TagImport, Trigger};
use crate::strategy::{self, Context};

/// What the registry said about a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listing {
    /// Its tags could not be listed.
    Failed(Failure),
    /// It was listed: how many tags it has, and each imported tag's outcome.
    Listed {
        /// The number of tags the registry listed.
        listed: usize,
        /// Each tag imported, with its outcome, in import order.
        outcomes: Vec<(String, Result<Imported, Failure>)>,
    },
}

/// `old` with `listing` recorded as of `ctx.now`: the spec tags of newly imported or changed
/// images (generation reset, so they take the stream's next generation), their events, the
/// conditions of failed tags, [`CHECK_ANNOTATION`] set and [`FAILURE_ANNOTATION`] set or
/// cleared. A tag whose spec tag in `old` points elsewhere ([`sets_tag`]) is left alone, and
/// its outcome ignored: `old` is the stream being written, which after a write conflict has a
/// user's edits made since the repository was listed. The spec and metadata go through
/// [`strategy::prepare_for_update`] and the status through
/// [`strategy::prepare_for_import_status_update`] on top of it, so the result is what a
/// client's update followed by a status write would store; their errors are returned.
pub fn apply_repository(
    old: &ImageStream,
    import: &RepositoryImport,
    listing: &Listing,
    ctx: &Context<'_>,
) -> Result<ImageStream, Vec<FieldError>> {
    let outcomes: Vec<_> = match listing {
        Listing::Failed(_) => &[][..],
        Listing::Listed { outcomes, .. } => outcomes.as_slice(),
    }
    .iter()
    .filter(|(tag, _)| sets_tag(old, import, tag))
    .collect();
    let mut spec = old.clone();
    for (tag, outcome) in &outcomes {
        if let Ok(imported) = outcome {
            if image_changed(old, import, tag, imported) {
                set_spec_tag(&mut spec, import, tag);
            }
        }
    }
    annotate(&mut spec, failure(listing, &outcomes, old), ctx.now);
    strategy::prepare_for_update(&mut spec, old, ctx)?;
    let mut status = spec.clone();
    for (tag, outcome) in outcomes {
        let generation = spec
            .spec_tag(tag)
            .and_then(|t| t.generation)
            .or(spec.metadata.generation)
            .unwrap_or(0);
        let tag_import = TagImport {
            tag: tag.clone(),
            source: tag_source(import, tag),
            insecure: import.insecure,
            mode: import.mode.clone(),
            generation,
            trigger: Trigger::Generation,
        };
        apply_outcome(&mut status, &tag_import, outcome, ctx.now);
    }
    strategy::prepare_for_import_status_update(&mut status, &spec, ctx)?;
    Ok(keep_check_time(old, status))
}

/// `next` with the check time of `old` when nothing else changed, as OpenShift leaves a
/// checked stream that did not change alone: a repository failing the same way again is not
/// rewritten every interval.
fn keep_check_time(old: &ImageStream, next: ImageStream) -> ImageStream {
    let before = old.metadata.annotations.as_ref();
    let Some(checked) = before
        .and_then(|a| a.get(CHECK_ANNOTATION))
        .filter(|at| !at.is_empty())
    else {
        return next;
    };
    let mut same = next.clone();
    let annotations = same.metadata.annotations.get_or_insert_with(BTreeMap::new);
    annotations.insert(CHECK_ANNOTATION.to_string(), checked.clone());
    match same == *old {
        true => same,
        false => next,
    }
}

/// Whether importing `imported` into `tag` changes what the tag records (OpenShift's
/// `hasTagChanged`): no spec tag or no event yet, another image or reference, or a spec
/// generation the newest event does not answer.
fn image_changed(
    old: &ImageStream,
    import: &RepositoryImport,
    tag: &str,
    imported: &Imported,
) -> bool {
    let (Some(spec), Some(newest)) = (old.spec_tag(tag), old.latest_event(tag)) else {
        return true;
    };
    let reference = imported_reference(&tag_source(import, tag), &imported.digest);
    newest.image != imported.digest
        || newest.docker_image_reference != reference
        || spec.generation.is_none_or(|g| g > newest.generation)
}

/// OpenShift's `ensureSpecTag` with reset: the tag points at the repository's tag, takes
/// the repository's import policy, keeps a reference policy it has, and its generation is
/// reset so that the update gives it the stream's next one.
fn set_spec_tag(stream: &mut ImageStream, import: &RepositoryImport, tag: &str) {
    let from = k8s_openapi::api::core::v1::ObjectReference {
        kind: Some("DockerImage".to_string()),
        name: Some(tag_source(import, tag).exact()),
        ..Default::default()
    };
    let index = match stream.spec.tags.iter().position(|t| t.name == tag) {
        Some(index) => index,
        None => {
            stream.spec.tags.push(TagReference {
                name: tag.to_string(),
                ..TagReference::default()
            });
            stream.spec.tags.len() - 1
        }
    };
    let spec = &mut stream.spec.tags[index];
    spec.from = Some(from);
    spec.reference = false;
    spec.generation = Some(0);
    spec.import_policy = crate::api::TagImportPolicy {
        insecure: import.insecure,
        ..Default::default()
    };
}

/// Why the import as a whole failed, if it did: the listing's failure, an empty repository,
/// or OpenShift's summary of the failed tags among `outcomes` (those the import sets).
fn failure(
    listing: &Listing,
    outcomes: &[&(String, Result<Imported, Failure>)],
    stream: &ImageStream,
) -> Option<Failure> {
    let listed = match listing {
        Listing::Failed(failure) => return Some(with_advice(failure, stream)),
        Listing::Listed { listed, .. } => *listed,
    };
    let failed = outcomes.iter().filter(|(_, o)| o.is_err()).count();
    let failure = match (listed, failed) {
        (0, _) => Failure {
            reason: ImportReason::NotFound,
            message: format!(
                "the repository {:?} has no tags; push one",
                stream.spec.docker_image_repository
            ),
        },
        (_, 0) => return None,
        (_, 1) => Failure {
            reason: ImportReason::ImportFailed,
            message: "one of the images from this repository failed to import; its tag's \
                      ImportSuccess condition says why"
                .to_string(),
        },
        (_, n) => Failure {
            reason: ImportReason::ImportFailed,
            message: format!(
                "{n} of the images from this repository failed to import; their tags' \
                 ImportSuccess conditions say why"
            ),
        },
    };
    Some(with_advice(&failure, stream))
}

/// `failure` as the annotation holds it: the reason, the message, and how the import is
/// tried again.
fn with_advice(failure: &Failure, stream: &ImageStream) -> Failure {
    let (namespace, name) = (stream.namespace(), stream.name());
    Failure {
        reason: failure.reason,
        message: format!(
            "{}: {}; it is tried again every import interval, or now once the annotation {} \
             is removed (kubectl -n {namespace} annotate is {name} {}-)",
            failure.reason, failure.message, CHECK_ANNOTATION, CHECK_ANNOTATION
        ),
    }
}

/// Sets [`CHECK_ANNOTATION`] to `now` (RFC 3339 in whole seconds, as Go's `time.RFC3339`)
/// and [`FAILURE_ANNOTATION`] to the failure, or removes it.
fn annotate(stream: &mut ImageStream, failure: Option<Failure>, now: Timestamp) {
    let annotations = stream
        .metadata
        .annotations
        .get_or_insert_with(BTreeMap::new);
    let checked = crate::object_meta::time::rfc3339(now);
    annotations.insert(CHECK_ANNOTATION.to_string(), checked);
    match failure {
        Some(failure) => annotations.insert(FAILURE_ANNOTATION.to_string(), failure.message),
        None => annotations.remove(FAILURE_ANNOTATION),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::plan::ImportMode;
    use crate::reference::ImageRef;
    use crate::strategy::testing::{digest, docker_tag, history, stream, with_ctx};
    use crate::strategy::Config;

    fn import() -> RepositoryImport {
        RepositoryImport {
            repository: ImageRef::parse("quay.io/o/app").unwrap(),
            insecure: true,
            mode: ImportMode::legacy(),
        }
    }

    /// A stored stream at generation 1 whose repository is `quay.io/o/app`.
    fn stored() -> ImageStream {
        let mut s = stream("ns", "app");
        s.metadata.generation = Some(1);
        s.spec.docker_image_repository = "quay.io/o/app".into();
        s
    }

    fn ok(c: char) -> Result<Imported, Failure> {
        Ok(Imported { digest: digest(c) })
    }

    fn not_found() -> Result<Imported, Failure> {
        Err(Failure {
            reason: ImportReason::NotFound,
            message: "gone".into(),
        })
    }

    fn listed(outcomes: Vec<(&str, Result<Imported, Failure>)>) -> Listing {
        Listing::Listed {
            listed: outcomes.len(),
            outcomes: outcomes
                .into_iter()
                .map(|(t, o)| (t.to_string(), o))
                .collect(),
        }
    }

    fn check(old: &ImageStream, listing: &Listing) -> ImageStream {
        let applied = with_ctx(&Config::default(), vec![], true, |ctx| {
            apply_repository(old, &import(), listing, ctx)
        });
        applied.expect("valid")
    }

    fn annotation<'s>(s: &'s ImageStream, key: &str) -> Option<&'s str> {
        s.metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }

    #[test]
    fn imported_tags_get_a_spec_tag_and_an_event_at_the_next_generation() {
        let next = check(&stored(), &listed(vec![("v1", ok('a')), ("v2", ok('b'))]));
        assert_eq!(next.metadata.generation, Some(2));
        let spec = next.spec_tag("v1").unwrap();
        let from = spec.from.as_ref().unwrap();
        assert_eq!(
            (from.kind.as_deref(), from.name.as_deref()),
            (Some("DockerImage"), Some("quay.io/o/app:v1"))
        );
        assert_eq!(spec.generation, Some(2));
        assert!(spec.import_policy.insecure && !spec.import_policy.scheduled);
        assert_eq!(spec.import_policy.import_mode, "Legacy");
        assert_eq!(spec.reference_policy.type_, "Source");
        let pinned = format!("quay.io/o/app@{}", digest('b'));
        assert_eq!(history(&next, "v2"), [(pinned, digest('b'), 2)]);
        assert_eq!(
            annotation(&next, CHECK_ANNOTATION),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(annotation(&next, FAILURE_ANNOTATION), None);
    }

    #[test]
    fn an_unchanged_image_moves_nothing_but_a_new_one_is_recorded_again() {
        let first = check(&stored(), &listed(vec![("v1", ok('a'))]));
        let again = check(&first, &listed(vec![("v1", ok('a'))]));
        assert_eq!(again.metadata.generation, Some(2));
        assert_eq!(again.spec, first.spec);
        let moved = check(&first, &listed(vec![("v1", ok('b'))]));
        assert_eq!(moved.metadata.generation, Some(3));
        let images: Vec<_> = history(&moved, "v1")
            .into_iter()
            .map(|(_, i, g)| (i, g))
            .collect();
        assert_eq!(images, [(digest('b'), 3), (digest('a'), 2)]);
    }

    #[test]
    fn failed_tags_get_a_condition_and_no_spec_tag_and_the_import_counts_as_failed() {
        let next = check(
            &stored(),
            &listed(vec![("v1", ok('a')), ("v2", not_found())]),
        );
        assert!(next.spec_tag("v2").is_none());
        let condition = &next.status_tag("v2").unwrap().conditions[0];
        assert_eq!(
            (
                condition.type_.as_str(),
                condition.reason.as_str(),
                condition.generation
            ),
            ("ImportSuccess", "NotFound", 2)
        );
        assert_eq!(
            annotation(&next, FAILURE_ANNOTATION),
            Some(
                "ImportFailed: one of the images from this repository failed to import; its \
                 tag's ImportSuccess condition says why; it is tried again every import \
                 interval, or now once the annotation openshift.io/image.dockerRepositoryCheck \
                 is removed (kubectl -n ns annotate is app openshift.io/image.dockerRepositoryCheck-)"
            )
        );
    }

    #[test]
    fn a_repository_that_failed_or_has_no_tags_records_why_and_a_later_success_clears_it() {
        let refused = Listing::Failed(Failure {
            reason: ImportReason::Unauthorized,
            message: "you may not have access".into(),
        });
        let failed = check(&stored(), &refused);
        assert_eq!(
            failed.metadata.generation,
            Some(1),
            "nothing in the spec moved"
        );
        let mut checked_before = failed.clone();
        let annotations = checked_before.metadata.annotations.as_mut().unwrap();
        annotations.insert(CHECK_ANNOTATION.into(), "2020-01-01T00:00:00Z".into());
        assert_eq!(
            check(&checked_before, &refused),
            checked_before,
            "the same failure again: left alone"
        );
        let recorded = annotation(&failed, FAILURE_ANNOTATION).unwrap();
        assert!(recorded.starts_with("Unauthorized: you may not have access; it is tried"));
        let empty = check(&stored(), &listed(vec![]));
        let recorded = annotation(&empty, FAILURE_ANNOTATION).unwrap();
        assert!(recorded
            .starts_with("NotFound: the repository \"quay.io/o/app\" has no tags; push one;"));
        let healed = check(&failed, &listed(vec![("v1", ok('a'))]));
        assert_eq!(annotation(&healed, FAILURE_ANNOTATION), None);
        assert!(annotation(&healed, CHECK_ANNOTATION).is_some());
    }

    #[test]
    fn an_existing_spec_tag_of_the_repository_keeps_its_reference_policy() {
        let mut old = stored();
        let mut local = docker_tag("v1", "quay.io/o/app:v1");
        local.reference_policy.type_ = "Local".into();
        local.generation = Some(1);
        old.spec.tags = vec![local];
        let next = check(&old, &listed(vec![("v1", ok('a'))]));
        let spec = next.spec_tag("v1").unwrap();
        assert_eq!(spec.reference_policy.type_, "Local");
        assert_eq!(spec.generation, Some(2));
        assert_eq!(next.latest_event("v1").unwrap().generation, 2);
    }

    /// The race QA found: the repository was listed from a stream without tag "1.0"; a user
    /// pointed "1.0" elsewhere while its manifest was fetched, and the import's write lost, so
    /// it records its listing on the stream read again.
    #[test]
    fn a_spec_tag_pointed_elsewhere_after_the_listing_keeps_its_source_and_gets_no_event() {
        let mut reread = stored();
        let mut own = docker_tag("1.0", "127.0.0.1:24001/demo/app:v1");
        own.generation = Some(2);
        reread.spec.tags = vec![own.clone()];
        reread.metadata.generation = Some(2);
        let failed = Err(Failure {
            reason: ImportReason::NotFound,
            message: "gone".into(),
        });
        for outcome in [ok('a'), failed] {
            let next = check(&reread, &listed(vec![("1.0", outcome), ("2.0", ok('b'))]));
            let kept = next.spec_tag("1.0").unwrap();
            let policy = (&kept.from, kept.generation, kept.import_policy.insecure);
            assert_eq!(
                policy,
                (&own.from, Some(2), false),
                "the user's tag as it was"
            );
            assert_eq!(next.status_tag("1.0"), None, "no event nor condition");
            assert_eq!(annotation(&next, FAILURE_ANNOTATION), None, "2.0 imported");
            let from = next.spec_tag("2.0").unwrap().from.clone().unwrap();
            assert_eq!(from.name.as_deref(), Some("quay.io/o/app:2.0"));
            assert_eq!(next.metadata.generation, Some(3), "2.0 moved it");
        }
    }
}
