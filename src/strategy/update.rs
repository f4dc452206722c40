//! Update through the main resource, PUT or PATCH (§4.5).
//!
//! Status changes are ignored (the old status is kept), generations follow spec changes, and
//! tag events are recomputed for new or changed tags only.

use super::generation::set_update_generations;
use super::repository::set_repositories;
use super::{apply_defaults, compute_status_and_validate, defaulted, Context};
use crate::api::ImageStream;
use crate::field::FieldError;

/// The qualified kind Kubernetes' generic store uses for the missing-resourceVersion 422
/// (it names the resource, not the kind): pass it to [`crate::field::invalid_message`] with
/// the errors of [`require_resource_version`].
pub const PRECONDITION_QUALIFIED_KIND: &str = "imagestreams.image.openshift.io";

/// ImageStreams forbid unconditional updates: an update without `metadata.resourceVersion`
/// fails with Invalid `metadata.resourceVersion` "must be specified for an update". Detecting
/// a stale resourceVersion (409) is the store's job.
pub fn require_resource_version(stream: &ImageStream) -> Result<(), Vec<FieldError>> {
    match stream.metadata.resource_version.as_deref() {
        Some(version) if !version.is_empty() && version != "0" => Ok(()),
        // The generic store parses the version first; an absent one reads as 0.
        _ => Err(vec![FieldError::invalid(
            "metadata.resourceVersion",
            0,
            "must be specified for an update",
        )]),
    }
}

/// Prepares and validates `stream`, the user's new version of the stored `old`.
///
/// The server still owns generic metadata (immutable name, namespace, uid, creationTimestamp).
pub fn prepare_for_update(
    stream: &mut ImageStream,
    old: &ImageStream,
    ctx: &Context<'_>,
) -> Result<(), Vec<FieldError>> {
    let config = ctx.config;
    let old = defaulted(old, config);
    apply_defaults(stream, &config.default_import_mode);
    stream.status = Some(old.status.clone().unwrap_or_default());
    set_repositories(stream, config, true);
    set_update_generations(stream, &old);
    compute_status_and_validate(stream, Some(&old), ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TagReference;
    use crate::field::invalid_message;
    use crate::strategy::testing::{
        digest, docker_tag, event, history, isimage, istag, set_history, stream, tag_generations,
        with_ctx,
    };
    use crate::strategy::{prepare_for_create, AllowedRegistry, Config};

    fn created(tags: Vec<TagReference>) -> ImageStream {
        let mut s = stream("ns", "app");
        s.spec.tags = tags;
        with_ctx(&Config::default(), vec![], true, |ctx| {
            prepare_for_create(&mut s, ctx)
        })
        .unwrap();
        s
    }

    fn update(
        mut new: ImageStream,
        old: &ImageStream,
        config: &Config,
    ) -> (ImageStream, Result<(), Vec<FieldError>>) {
        let result = with_ctx(config, vec![], true, |ctx| {
            prepare_for_update(&mut new, old, ctx)
        });
        (new, result)
    }

    fn ok(new: ImageStream, old: &ImageStream) -> ImageStream {
        let (new, result) = update(new, old, &Config::default());
        assert_eq!(result, Ok(()));
        new
    }

    #[test]
    fn derived_generation_example_through_the_entry_points() {
        let v1 = created(vec![docker_tag("latest", "quay.io/o/app:1")]);
        assert_eq!(
            (v1.metadata.generation, tag_generations(&v1)),
            (Some(1), vec![("latest".into(), Some(1))])
        );

        let mut edit = v1.clone();
        edit.spec.tags.push(docker_tag("v2", "quay.io/o/app:2"));
        let v2 = ok(edit, &v1);
        assert_eq!(v2.metadata.generation, Some(2));
        assert_eq!(
            tag_generations(&v2),
            [("latest".into(), Some(1)), ("v2".into(), Some(2))]
        );

        let mut edit = v2.clone();
        edit.spec.lookup_policy.local = true;
        let v3 = ok(edit, &v2);
        assert_eq!(v3.metadata.generation, Some(3));
        assert_eq!(tag_generations(&v3), tag_generations(&v2));
    }

    #[test]
    fn status_and_generation_sent_by_the_user_are_ignored() {
        let mut old = created(vec![]);
        set_history(
            &mut old,
            "kept",
            vec![event(&format!("quay.io/o/app@{}", digest('1')), "i1", 1)],
        );
        let mut edit = old.clone();
        edit.metadata.generation = Some(77);
        set_history(&mut edit, "forged", vec![event("evil.io/x:1", "", 1)]);
        let new = ok(edit, &old);
        assert_eq!(new.metadata.generation, Some(1));
        assert_eq!(history(&new, "kept").len(), 1);
        assert!(new.status_tag("forged").is_none());
    }

    #[test]
    fn tag_changes_and_referenced_tag_should_react() {
        let (e3, a2) = (digest('e'), digest('a'));
        let at = |d: &str| format!("reg:5000/ns/app@{d}");
        let mut old = created(vec![istag("t1", "app:other"), istag("t2", "app:t1")]);
        set_history(
            &mut old,
            "other",
            vec![event(&at(&a2), &a2, 1), event(&at(&e3), &e3, 1)],
        );
        set_history(&mut old, "t1", vec![event(&at(&a2), &a2, 1)]);
        set_history(&mut old, "t2", vec![event(&at(&a2), &a2, 1)]);
        let mut edit = old.clone();
        edit.spec.tags[0] = isimage("t1", &format!("app@{e3}"));
        let new = ok(edit, &old);
        assert_eq!(new.metadata.generation, Some(2));
        for tag in ["t1", "t2"] {
            let images: Vec<String> = history(&new, tag)
                .into_iter()
                .map(|(_, image, _)| image)
                .collect();
            assert_eq!(images, [e3.clone(), a2.clone()], "{tag}");
        }
        assert_eq!(
            history(&new, "t1")[0].2,
            2,
            "the new event answers the new tag generation"
        );
    }

    #[test]
    fn changing_only_the_kind_recomputes_nothing() {
        let mut reference = docker_tag("t", "app:src");
        reference.reference = true;
        let old = created(vec![reference.clone()]);
        let mut edit = old.clone();
        edit.spec.tags[0].from.as_mut().unwrap().kind = Some("ImageStreamTag".into());
        let new = ok(edit, &old);
        assert_eq!(new.metadata.generation, Some(2), "the spec did change");
        assert_eq!(tag_generations(&new), [("t".into(), Some(1))]);
        assert_eq!(history(&new, "t"), history(&old, "t"));
    }

    #[test]
    fn empty_status_tags_are_dropped() {
        let mut old = created(vec![]);
        set_history(&mut old, "empty", vec![]);
        let new = ok(old.clone(), &old);
        assert!(new.status_tag("empty").is_none());
    }

    #[test]
    fn references_already_in_the_stream_survive_a_new_whitelist() {
        let old = created(vec![docker_tag("t", "evil.io/o/app:1")]);
        let config = Config {
            allowed_registries: Some(vec![AllowedRegistry {
                domain_name: "quay.io".into(),
                insecure: false,
            }]),
            ..Config::default()
        };
        let (_, result) = update(old.clone(), &old, &config);
        assert_eq!(result, Ok(()));
        let mut edit = old.clone();
        edit.spec.tags.push(docker_tag("u", "evil.io/o/other:1"));
        let errors = update(edit, &old, &config).1.unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "spec.tags[u].from.name");
    }

    #[test]
    fn missing_resource_version_is_invalid() {
        let mut s = stream("ns", "app");
        for version in [None, Some(""), Some("0")] {
            s.metadata.resource_version = version.map(str::to_string);
            let errors = require_resource_version(&s).unwrap_err();
            assert_eq!(
                invalid_message(PRECONDITION_QUALIFIED_KIND, "app", &errors),
                "imagestreams.image.openshift.io \"app\" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"
            );
        }
        s.metadata.resource_version = Some("12".into());
        assert_eq!(require_resource_version(&s), Ok(()));
    }
}
