//! What an import may ask for (pure): OpenShift's `ValidateImageStreamImport`, and the
//! allowed-registries check its REST makes for callers who may not create Images.

use k8s_openapi::api::core::v1::ObjectReference;

use super::{text, ImageStreamImport};
use crate::api::{ImageStream, TagReference};
use crate::field::FieldError;
use crate::reference::ImageRef;
use crate::strategy::{self, Context};

/// The annotation that lets a stream's repository be reached over plain HTTP.
const INSECURE_REPOSITORY: &str = "openshift.io/image.insecureRepository";

/// The field errors of `isi`, OpenShift's messages and paths.
pub fn validate(isi: &ImageStreamImport) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (index, image) in isi.spec.images.iter().enumerate() {
        let path = format!("spec.images[{index}]");
        if text(&image.from.kind) != "DockerImage" {
            errors.push(not_docker_image(&path, &image.from));
            continue;
        }
        if image.to.as_ref().is_some_and(|to| to.name.is_empty()) {
            let detail = "the name of the target tag must be specified";
            errors.push(FieldError::invalid(format!("{path}.to.name"), "", detail));
        }
        let name = text(&image.from.name);
        let name_path = format!("{path}.from.name");
        match ImageRef::parse(name) {
            _ if name.is_empty() => errors.push(FieldError::required(name_path, "")),
            Err(error) => errors.push(FieldError::invalid(name_path, name, error.to_string())),
            Ok(parsed) if !parsed.id.is_empty() && image.import_policy.scheduled => {
                let detail = "only tags can be scheduled for import";
                errors.push(FieldError::invalid(name_path, name, detail));
            }
            Ok(_) => {}
        }
    }
    if let Some(repository) = &isi.spec.repository {
        let path = "spec.repository";
        let name = text(&repository.from.name);
        let name_path = format!("{path}.from.name");
        if text(&repository.from.kind) != "DockerImage" {
            errors.push(not_docker_image(path, &repository.from));
        } else if name.is_empty() {
            let detail = "Docker image references require a name";
            errors.push(FieldError::required(name_path, detail));
        } else {
            match ImageRef::parse(name) {
                Err(error) => errors.push(FieldError::invalid(name_path, name, error.to_string())),
                Ok(parsed) if !parsed.id.is_empty() || !parsed.tag.is_empty() => {
                    let detail = "you must specify an image repository, not a tag or ID";
                    errors.push(FieldError::invalid(name_path, name, detail));
                }
                Ok(_) => {}
            }
        }
    }
    if isi.spec.images.is_empty() && isi.spec.repository.is_none() {
        let detail = "you must specify at least one image or a repository import";
        // apimachinery renders the nil it is given as the string "null".
        errors.push(FieldError::invalid("spec.images", "null", detail));
    }
    // `ValidateObjectMeta(…, ValidateImageStreamName, …)`: the import names the stream it
    // writes, so the stream's name rules apply (a `/` would address another object).
    errors.extend(crate::strategy::validate_metadata(&isi.metadata));
    errors
}

fn not_docker_image(path: &str, from: &ObjectReference) -> FieldError {
    let kind = text(&from.kind);
    FieldError::invalid(
        format!("{path}.from.kind"),
        kind,
        "only DockerImage is supported",
    )
}

/// The sources of a valid `isi` that the allowed registries (`ctx.config`) refuse, at their
/// paths in the import: OpenShift checks them, before asking any registry, for callers who
/// may not create Images. The check is the stream rules' own, run on a stream holding the
/// sources as tags, so an import is refused exactly where writing its tags would be.
pub fn disallowed_sources(isi: &ImageStreamImport, ctx: &Context<'_>) -> Vec<FieldError> {
    if ctx.config.allowed_registries.is_none() {
        return Vec::new();
    }
    let mut probe = ImageStream::new(
        isi.metadata.namespace.as_deref().unwrap_or("default"),
        "probe",
    );
    probe.spec.tags = isi
        .spec
        .images
        .iter()
        .enumerate()
        .map(|(index, image)| TagReference {
            name: probe_tag(index),
            from: Some(image.from.clone()),
            import_policy: image.import_policy.clone(),
            ..TagReference::default()
        })
        .collect();
    if let Some(repository) = &isi.spec.repository {
        probe.spec.docker_image_repository = text(&repository.from.name).to_string();
        if repository.import_policy.insecure {
            let annotations = probe
                .metadata
                .annotations
                .get_or_insert_with(Default::default);
            annotations.insert(INSECURE_REPOSITORY.to_string(), "true".to_string());
        }
    }
    let Err(errors) = strategy::prepare_for_create(&mut probe, ctx) else {
        return Vec::new();
    };
    errors
        .into_iter()
        .filter(|error| error.kind == crate::field::FieldErrorType::Forbidden)
        .filter_map(|error| {
            let field = import_path(&error.field, isi.spec.images.len())?;
            let detail = format!("importing images is forbidden: {}", error.detail);
            Some(FieldError::forbidden(field, detail))
        })
        .collect()
}

fn probe_tag(index: usize) -> String {
    format!("image-{index}")
}

/// The import's path for a probe stream's field path.
fn import_path(field: &str, images: usize) -> Option<String> {
    if field == "spec.dockerImageRepository" {
        return Some("spec.repository.from.name".to_string());
    }
    (0..images)
        .find(|index| field == format!("spec.tags[{}].from.name", probe_tag(*index)))
        .map(|index| format!("spec.images[{index}].from.name"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::with_ctx;
    use crate::strategy::{AllowedRegistry, Config};
    use serde_json::{json, Value};

    fn isi(spec: Value) -> ImageStreamImport {
        named("app", spec)
    }

    fn named(name: &str, spec: Value) -> ImageStreamImport {
        let metadata = json!({"name": name, "namespace": "ns"});
        serde_json::from_value(json!({"metadata": metadata, "spec": spec})).unwrap()
    }

    /// The rendered errors of `spec`.
    fn check(spec: Value, expected: &[&str]) {
        let errors: Vec<String> = validate(&isi(spec.clone()))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errors, expected, "{spec}");
    }

    fn image(from: Value) -> Value {
        json!({"images": [{"from": from, "to": {"name": "v1"}}]})
    }

    #[test]
    fn images_need_a_docker_image_that_parses() {
        check(
            image(json!({"kind": "DockerImage", "name": "quay.io/o/app:1"})),
            &[],
        );
        check(
            image(json!({"kind": "ImageStreamTag", "name": "app:1"})),
            &["spec.images[0].from.kind: Invalid value: \"ImageStreamTag\": only DockerImage is supported"],
        );
        check(
            image(json!({"kind": "DockerImage"})),
            &["spec.images[0].from.name: Required value"],
        );
        check(
            image(json!({"kind": "DockerImage", "name": "Quay.io/O/App"})),
            &["spec.images[0].from.name: Invalid value: \"Quay.io/O/App\": repository name must be lowercase"],
        );
        check(
            json!({"images": [{"from": {"kind": "DockerImage", "name": "a:1"}, "to": {"name": ""}}]}),
            &["spec.images[0].to.name: Invalid value: \"\": the name of the target tag must be specified"],
        );
        let digest = format!("a@sha256:{}", "0".repeat(64));
        check(
            json!({"images": [{"from": {"kind": "DockerImage", "name": digest},
                               "importPolicy": {"scheduled": true}}]}),
            &[&format!("spec.images[0].from.name: Invalid value: \"{digest}\": only tags can be scheduled for import")],
        );
    }

    #[test]
    fn the_import_is_named_by_the_stream_name_rules() {
        let spec = image(json!({"kind": "DockerImage", "name": "quay.io/o/app:1"}));
        let errors = |name: &str| -> Vec<String> {
            validate(&named(name, spec.clone()))
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert!(errors("app").is_empty());
        assert_eq!(
            errors("team/app"),
            ["metadata.name: Invalid value: \"team/app\": may not contain '/'"]
        );
        assert_eq!(
            errors("Bad_Name"),
            ["metadata.name: Invalid value: \"Bad_Name\": must match \"[a-z0-9]+(?:[._-][a-z0-9]+)*\""]
        );
        assert_eq!(
            errors(""),
            ["metadata.name: Required value: name or generateName is required"]
        );
    }

    #[test]
    fn a_repository_import_names_a_repository_without_tag_or_digest() {
        let repository =
            |name: &str| json!({"repository": {"from": {"kind": "DockerImage", "name": name}}});
        check(repository("quay.io/o/app"), &[]);
        check(
            repository("quay.io/o/app:1"),
            &["spec.repository.from.name: Invalid value: \"quay.io/o/app:1\": you must specify an image repository, not a tag or ID"],
        );
        check(
            repository(""),
            &["spec.repository.from.name: Required value: Docker image references require a name"],
        );
        check(
            json!({}),
            &["spec.images: Invalid value: \"null\": you must specify at least one image or a repository import"],
        );
    }

    #[test]
    fn sources_outside_the_allowed_registries_are_refused_at_their_import_paths() {
        let config = Config {
            allowed_registries: Some(vec![AllowedRegistry {
                domain_name: "quay.io".into(),
                insecure: false,
            }]),
            ..Config::default()
        };
        let spec = json!({
            "images": [{"from": {"kind": "DockerImage", "name": "quay.io/o/app:1"}},
                       {"from": {"kind": "DockerImage", "name": "evil.example.com/o/app:1"}}],
            "repository": {"from": {"kind": "DockerImage", "name": "evil.example.com/o/all"}}});
        let refused = with_ctx(&config, vec![], true, |ctx| {
            disallowed_sources(&isi(spec.clone()), ctx)
        });
        let fields: Vec<&str> = refused.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["spec.repository.from.name", "spec.images[1].from.name"]
        );
        assert!(
            refused[1].detail.contains("evil.example.com"),
            "{}",
            refused[1].detail
        );
        let open = with_ctx(&Config::default(), vec![], true, |ctx| {
            disallowed_sources(&isi(spec), ctx)
        });
        assert!(open.is_empty(), "no list: everything is allowed");
    }
}
