//! Writes to the `/status` subresource (§4.8).
//!
//! Only `spec.tags` and `spec.dockerImageRepository` are reset to the stored values; other spec
//! fields such as `lookupPolicy` pass through (§6.14). Tracking tags are not updated.

use super::generation::{adopt_restored_events, set_observed_generations};
use super::repository::set_repositories;
use super::validation::{validate_status_update, whitelist_for};
use super::{apply_defaults, defaulted, Context};
use crate::api::ImageStream;
use crate::field::FieldError;

/// Prepares and validates `stream`, a client's status write over the stored `old`. Only
/// references not already present in the old status are parsed and checked against the
/// allowed registries (`ValidateImageStreamStatusUpdateWithWhitelister`).
///
/// The server decides what else of the body to keep (labels, annotations) and should still
/// [`super::decorate`] the response.
pub fn prepare_for_status_update(
    stream: &mut ImageStream,
    old: &ImageStream,
    ctx: &Context<'_>,
) -> Result<(), Vec<FieldError>> {
    let whitelist = whitelist_for(ctx.config, None);
    prepare_status(stream, old, ctx, whitelist)?;
    adopt_restored_events(stream);
    Ok(())
}

/// [`prepare_for_status_update`] for what an import records: every repository the stream
/// already references (spec or status) stays allowed, as OpenShift's internal update
/// (`ValidateImageStreamUpdateWithWhitelister`) allows it, so turning an allowed-registries
/// list on does not stop a stream's imports from the registries it already uses.
pub fn prepare_for_import_status_update(
    stream: &mut ImageStream,
    old: &ImageStream,
    ctx: &Context<'_>,
) -> Result<(), Vec<FieldError>> {
    let whitelist = whitelist_for(ctx.config, Some(old));
    prepare_status(stream, old, ctx, whitelist)
}

fn prepare_status(
    stream: &mut ImageStream,
    old: &ImageStream,
    ctx: &Context<'_>,
    whitelist: Option<super::whitelist::Whitelist>,
) -> Result<(), Vec<FieldError>> {
    let old = defaulted(old, ctx.config);
    apply_defaults(stream, &ctx.config.default_import_mode);
    stream.metadata.generation = old.metadata.generation;
    stream.spec.tags = old.spec.tags.clone();
    stream.spec.docker_image_repository = old.spec.docker_image_repository.clone();
    set_observed_generations(stream, &old);
    // OpenShift stores the body's values and recomputes them on every read; storing the
    // recomputed ones keeps stored and served objects alike (field selectors included).
    set_repositories(stream, ctx.config, true);
    let errors = validate_status_update(stream, &old, whitelist.as_ref());
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{
        docker_tag, event, history, istag, set_history, stream, with_ctx,
    };
    use crate::strategy::{AllowedRegistry, Config};

    fn at(c: char) -> String {
        format!("quay.io/o/app@{}", crate::strategy::testing::digest(c))
    }

    fn stored() -> ImageStream {
        let mut s = stream("ns", "app");
        s.metadata.generation = Some(3);
        let mut tag = docker_tag("t", "quay.io/o/app:1");
        tag.generation = Some(2);
        s.spec.tags = vec![tag, istag("follow", "t")];
        s.spec.docker_image_repository = "quay.io/o/app".into();
        set_history(&mut s, "t", vec![event(&at('1'), "i1", 2)]);
        s
    }

    fn write(
        mut new: ImageStream,
        old: &ImageStream,
        config: &Config,
    ) -> (ImageStream, Result<(), Vec<FieldError>>) {
        let result = with_ctx(config, vec![], true, |ctx| {
            prepare_for_status_update(&mut new, old, ctx)
        });
        (new, result)
    }

    #[test]
    fn a_restored_event_from_the_tag_s_own_source_is_adopted_as_its_import() {
        // A stream created anew from a backup: generation 1, its spec tag at 1.
        let mut created = stream("ns", "app");
        created.metadata.generation = Some(1);
        let mut tag = docker_tag("t", "quay.io/o/app:1");
        tag.generation = Some(1);
        let mut other = docker_tag("u", "quay.io/o/app:2");
        other.generation = Some(1);
        created.spec.tags = vec![tag, other];
        // The backup's status, from a history whose generations went to 7.
        let mut restore = created.clone();
        set_history(&mut restore, "t", vec![event(&at('1'), "i1", 7)]);
        let mirrored = format!(
            "mirror.local/o/app@{}",
            crate::strategy::testing::digest('2')
        );
        set_history(&mut restore, "u", vec![event(&mirrored, "i2", 7)]);
        let (written, result) = write(restore, &created, &Config::default());
        assert_eq!(result, Ok(()));
        assert_eq!(history(&written, "t"), [(at('1'), "i1".to_string(), 1)]);
        let observed = |tag| crate::importer::plan::observed_generation(&written, tag);
        assert_eq!(observed("t"), 1, "the importer counts it as imported");
        assert_eq!(observed("u"), -1, "not counted: imported again");
        // Pulled from elsewhere than the tag's source: left out, so it is imported again.
        assert_eq!(history(&written, "u"), [(mirrored, "i2".to_string(), 7)]);
    }

    #[test]
    fn an_import_may_record_new_images_from_repositories_the_stream_already_uses() {
        // The list was turned on after the stream was made: it names only another registry.
        let config = Config {
            allowed_registries: Some(vec![AllowedRegistry {
                domain_name: "ghcr.io".into(),
                insecure: false,
            }]),
            ..Config::default()
        };
        let old = stored();
        let mut body = old.clone();
        set_history(
            &mut body,
            "t",
            vec![event(&at('2'), "i2", 2), event(&at('1'), "i1", 2)],
        );
        let by_client = with_ctx(&config, vec![], true, |ctx| {
            prepare_for_status_update(&mut body.clone(), &old, ctx)
        });
        let denied = by_client.unwrap_err();
        assert!(
            denied[0].to_string().contains("not allowed by whitelist"),
            "{denied:?}"
        );
        let by_import = with_ctx(&config, vec![], true, |ctx| {
            prepare_for_import_status_update(&mut body.clone(), &old, ctx)
        });
        assert_eq!(by_import, Ok(()));
        let mut elsewhere = old.clone();
        let evil = format!("evil.io/o/app@{}", crate::strategy::testing::digest('3'));
        set_history(&mut elsewhere, "t", vec![event(&evil, "i3", 2)]);
        let refused = with_ctx(&config, vec![], true, |ctx| {
            prepare_for_import_status_update(&mut elsewhere, &old, ctx)
        })
        .unwrap_err();
        // A repository the stream never used is still refused.
        let message = refused[0].to_string();
        assert!(
            message.contains("registry \"evil.io\" not allowed"),
            "{message}"
        );
    }

    #[test]
    fn spec_tags_repository_and_generation_are_protected_but_lookup_policy_is_not() {
        let old = stored();
        let mut body = old.clone();
        body.metadata.generation = Some(50);
        body.spec.tags.clear();
        body.spec.docker_image_repository = "quay.io/o/elsewhere".into();
        body.spec.lookup_policy.local = true;
        body.status.as_mut().unwrap().docker_image_repository = "forged/value".into();
        let (new, result) = write(body, &old, &Config::default());
        assert_eq!(result, Ok(()));
        assert_eq!(new.metadata.generation, Some(3));
        assert_eq!(new.spec.tags.len(), 2);
        assert_eq!(new.spec.docker_image_repository, "quay.io/o/app");
        assert!(new.spec.lookup_policy.local);
        assert_eq!(
            new.status_repository(),
            "quay.io/o/app",
            "recomputed, not the body's"
        );
    }

    #[test]
    fn newest_events_without_generation_get_one() {
        let old = stored();
        let mut body = old.clone();
        set_history(
            &mut body,
            "t",
            vec![event(&at('2'), "i2", 0), event(&at('1'), "i1", 2)],
        );
        set_history(
            &mut body,
            "orphan",
            vec![event("quay.io/o/orphan:1", "o1", 0)],
        );
        let (new, result) = write(body, &old, &Config::default());
        assert_eq!(result, Ok(()));
        assert_eq!(
            history(&new, "t")[0].2,
            2,
            "changed: the spec tag's generation"
        );
        assert_eq!(
            history(&new, "orphan")[0].2,
            3,
            "no spec tag: the stream generation"
        );
    }

    #[test]
    fn status_writes_do_not_update_tracking_tags() {
        let old = stored();
        let mut body = old.clone();
        set_history(&mut body, "t", vec![event(&at('2'), "i2", 3)]);
        let (new, _) = write(body, &old, &Config::default());
        assert!(new.status_tag("follow").is_none());
    }

    #[test]
    fn only_new_references_are_validated() {
        let mut old = stored();
        set_history(&mut old, "legacy", vec![event("evil.io/o/app:1", "", 1)]);
        let config = Config {
            allowed_registries: Some(vec![AllowedRegistry {
                domain_name: "quay.io".into(),
                insecure: false,
            }]),
            ..Config::default()
        };
        let (_, result) = write(old.clone(), &old, &config);
        assert_eq!(result, Ok(()));
        let mut body = old.clone();
        set_history(
            &mut body,
            "t",
            vec![event("evil.io/o/new:1", "", 3), event(&at('1'), "i1", 2)],
        );
        let errors = write(body, &old, &config).1.unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status.tags[t].items[0].dockerImageReference"]);
    }
}
