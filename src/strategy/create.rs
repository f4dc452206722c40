//! Create (§4.4): user status discarded (but for the images same-stream `ImageStreamImage`
//! tags name, see [`super::exported`]), generation 1, tag events computed, then validated.

use super::exported::seed_exported_images;
use super::generation::set_create_generations;
use super::repository::set_repositories;
use super::{apply_defaults, compute_status_and_validate, Context};
use crate::api::{ImageStream, ImageStreamStatus};
use crate::field::FieldError;

/// Prepares and validates a stream about to be created. On success the stream is what should
/// be stored; on failure the errors belong in a 422 (see [`super::QUALIFIED_KIND`]).
///
/// The server still owns the generic metadata (uid, creationTimestamp, generateName, …).
pub fn prepare_for_create(
    stream: &mut ImageStream,
    ctx: &Context<'_>,
) -> Result<(), Vec<FieldError>> {
    apply_defaults(stream, &ctx.config.default_import_mode);
    let submitted = stream.status.replace(ImageStreamStatus::default());
    if let Some(submitted) = &submitted {
        seed_exported_images(stream, submitted, ctx.now);
    }
    set_repositories(stream, ctx.config, false);
    set_create_generations(stream);
    compute_status_and_validate(stream, None, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::invalid_message;
    use crate::strategy::testing::{
        digest, docker_tag, event, history, isimage, istag, now, set_history, stream,
        tag_generations, with_ctx,
    };
    use crate::strategy::{Config, QUALIFIED_KIND};

    fn create(
        mut s: ImageStream,
        config: &Config,
        others: Vec<ImageStream>,
        allow: bool,
    ) -> (ImageStream, Result<(), Vec<FieldError>>) {
        let result = with_ctx(config, others, allow, |ctx| prepare_for_create(&mut s, ctx));
        (s, result)
    }

    fn registry() -> Config {
        Config {
            internal_registry_hostname: "int:5000".into(),
            external_registry_hostname: "ext.example.com".into(),
            ..Config::default()
        }
    }

    #[test]
    fn user_status_is_discarded_and_generations_start_at_one() {
        let mut s = stream("ns", "app");
        s.metadata.generation = Some(42);
        let mut tag = docker_tag("latest", "quay.io/o/app:1");
        tag.generation = Some(9);
        s.spec.tags = vec![tag, docker_tag("v2", "quay.io/o/app:2")];
        set_history(
            &mut s,
            "latest",
            vec![event("quay.io/o/app@sha256:1", "forged", 9)],
        );
        let (s, result) = create(s, &registry(), vec![], true);
        assert_eq!(result, Ok(()));
        assert_eq!(s.metadata.generation, Some(1));
        assert_eq!(
            tag_generations(&s),
            [("latest".into(), Some(1)), ("v2".into(), Some(1))]
        );
        let status = s.status.as_ref().unwrap();
        assert_eq!(status.docker_image_repository, "int:5000/ns/app");
        assert_eq!(
            status.public_docker_image_repository,
            "ext.example.com/ns/app"
        );
        assert!(status.tags.is_empty());
    }

    #[test]
    fn create_records_reference_and_copied_events() {
        let mut s = stream("ns", "app");
        let mut reference = docker_tag("ref", "quay.io/o/app:1");
        reference.reference = true;
        s.spec.tags = vec![reference, istag("follow", "ref")];
        let (s, result) = create(s, &Config::default(), vec![], true);
        assert_eq!(result, Ok(()));
        let expected = vec![("quay.io/o/app:1".to_string(), String::new(), 1)];
        assert_eq!(history(&s, "ref"), expected);
        assert_eq!(history(&s, "follow"), expected);
        assert_eq!(s.latest_event("ref").unwrap().created.0, now());
    }

    #[test]
    fn missing_stream_image_source_is_invalid_but_missing_stream_tag_is_not() {
        let mut s = stream("ns", "app");
        s.spec.tags = vec![istag("t", "app:missing")];
        assert_eq!(create(s, &Config::default(), vec![], true).1, Ok(()));

        let mut s = stream("ns", "app");
        s.spec.tags = vec![isimage("t", &format!("app@{}", digest('e')))];
        let errors = create(s, &Config::default(), vec![], true).1.unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].kind.cause_reason(), "InternalError");
        let message = invalid_message(QUALIFIED_KIND, "app", &errors);
        assert!(message.starts_with("ImageStream.image.openshift.io \"app\" is invalid: : Internal error: imagestreams \"app\" is invalid: spec.tags[t].from.name: Invalid value: "), "{message}");
        assert!(message.ends_with("not found"), "{message}");
    }

    #[test]
    fn an_exported_stream_s_own_image_tags_resolve_from_the_status_it_carries() {
        let image = digest('e');
        let pulled = format!("quay.io/o/app@{image}");
        let exported = || {
            let mut s = stream("ns", "app");
            let mut prod = isimage("prod", &format!("app@{image}"));
            prod.generation = Some(7);
            s.spec.tags = vec![docker_tag("latest", "quay.io/o/app:1"), prod];
            set_history(&mut s, "latest", vec![event(&pulled, &image, 6)]);
            set_history(&mut s, "prod", vec![event(&pulled, &image, 7)]);
            s
        };
        let (s, result) = create(exported(), &Config::default(), vec![], true);
        assert_eq!(result, Ok(()));
        // The tag's image, as a fresh event of this create; nothing else of the status kept.
        assert_eq!(history(&s, "prod"), [(pulled.clone(), image.clone(), 1)]);
        assert_eq!(s.latest_event("prod").unwrap().created.0, now());
        assert!(
            history(&s, "latest").is_empty(),
            "imported again, as on OpenShift"
        );

        // An image the exported status does not hold is refused as before; so is another
        // stream's image, which is read from the store only.
        let mut missing = exported();
        missing.spec.tags[1] = isimage("prod", &format!("app@{}", digest('f')));
        assert!(create(missing, &Config::default(), vec![], true).1.is_err());
        let mut other = exported();
        other.spec.tags[1] = isimage("prod", &format!("base@{image}"));
        assert!(create(other, &Config::default(), vec![], true).1.is_err());

        // A prefix two images of the exported status match stays refused, even though seeding
        // the other tag would leave it matching one.
        let similar = format!("sha256:e{}", "f".repeat(63));
        let mut ambiguous = exported();
        set_history(
            &mut ambiguous,
            "old",
            vec![event(&format!("quay.io/o/app@{similar}"), &similar, 5)],
        );
        ambiguous.spec.tags.push(isimage("stage", "app@sha256:e"));
        let errors = create(ambiguous, &Config::default(), vec![], true)
            .1
            .unwrap_err();
        let message = invalid_message(QUALIFIED_KIND, "app", &errors);
        assert!(message.contains("multiple images match"), "{message}");
        assert!(
            !message.contains("spec.tags[prod]"),
            "prod resolves: {message}"
        );
    }

    #[test]
    fn tag_errors_come_first_then_field_validation() {
        let mut s = stream("ns", "Bad");
        s.spec.tags = vec![crate::strategy::testing::tag_from("t", "Other", "x")];
        let errors = create(s, &Config::default(), vec![], true).1.unwrap_err();
        let reasons: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.kind.cause_reason(), e.field.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("InternalError", ""),
                ("FieldValueInvalid", "metadata.name"),
                ("FieldValueRequired", "spec.tags[t].from.kind"),
            ]
        );
    }

    #[test]
    fn cross_namespace_sources_need_authorization() {
        let mut base = stream("shared", "base");
        set_history(
            &mut base,
            "v1",
            vec![event(
                &format!("quay.io/shared/base@{}", digest('b')),
                "i1",
                1,
            )],
        );
        let mut from_shared = istag("t", "base:v1");
        from_shared.from.as_mut().unwrap().namespace = Some("shared".into());
        let mut s = stream("ns", "app");
        s.spec.tags = vec![from_shared];
        let (created, result) = create(s.clone(), &Config::default(), vec![base.clone()], true);
        assert_eq!(result, Ok(()));
        assert_eq!(history(&created, "t").len(), 1);
        let errors = create(s, &Config::default(), vec![base], false)
            .1
            .unwrap_err();
        assert!(
            errors[0]
                .detail
                .contains("spec.tags[t].from: Forbidden: shared/base"),
            "{errors:?}"
        );
    }

    #[test]
    fn duplicate_tags_collapse_before_anything_else() {
        let mut s = stream("ns", "app");
        let mut second = docker_tag("t", "quay.io/o/app:2");
        second.reference = true;
        s.spec.tags = vec![docker_tag("t", "quay.io/o/app:1"), second];
        let (s, result) = create(s, &Config::default(), vec![], true);
        assert_eq!(result, Ok(()));
        assert_eq!(s.spec.tags.len(), 1);
        assert_eq!(history(&s, "t")[0].0, "quay.io/o/app:2");
    }
}
