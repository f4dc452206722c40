//! Field validation of a stream (§4.7) and of a `/status` write (§4.8).
//!
//! Paths use the tag name as a map key (`spec.tags[latest].from.name`), as OpenShift's
//! internal map representation does. Tag names and `lookupPolicy` are not validated.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::ObjectReference;

use super::names::validate_metadata;
use super::text;
use super::whitelist::{Transport, Whitelist};
use super::Config;
use crate::api::{
    ImageStream, TagReference, IMPORT_MODE_LEGACY, IMPORT_MODE_PRESERVE_ORIGINAL,
    REFERENCE_POLICY_LOCAL, REFERENCE_POLICY_SOURCE,
};
use crate::field::FieldError;
use crate::reference::ImageRef;

/// The annotation that marks a whole stream as pulled over plain HTTP.
const INSECURE_REPOSITORY_ANNOTATION: &str = "openshift.io/image.insecureRepository";

/// The whitelist for a write, when one is configured. On update, every repository the old
/// stream referenced (spec or status) stays allowed, so users can keep or remove them.
pub(crate) fn whitelist_for(config: &Config, old: Option<&ImageStream>) -> Option<Whitelist> {
    let allowed = config.allowed_registries.as_deref()?;
    let mut whitelist = Whitelist::new(allowed, &config.internal_registry_hostname);
    for pull_spec in old.into_iter().flat_map(referenced_pull_specs) {
        whitelist.allow_repository(&pull_spec);
    }
    Some(whitelist)
}

fn referenced_pull_specs(stream: &ImageStream) -> Vec<String> {
    let mut specs = vec![stream.spec.docker_image_repository.clone()];
    let docker_sources = stream.spec.tags.iter().filter_map(|tag| tag.from.as_ref());
    let docker_sources = docker_sources.filter(|from| text(&from.kind) == "DockerImage");
    specs.extend(docker_sources.map(|from| text(&from.name).to_string()));
    specs.extend(status_items(stream).map(|(_, _, item)| item.docker_image_reference.clone()));
    specs
}

/// Validates a whole stream as create and update do.
pub(crate) fn validate_stream(
    stream: &ImageStream,
    whitelist: Option<&Whitelist>,
) -> Vec<FieldError> {
    let mut errors = validate_metadata(&stream.metadata);
    let insecure = is_repository_insecure(stream);
    errors.extend(validate_spec_repository(
        &stream.spec.docker_image_repository,
        insecure,
        whitelist,
    ));
    for tag in &stream.spec.tags {
        errors.extend(validate_tag_reference(tag, insecure, whitelist));
    }
    errors.extend(validate_status_references(stream, insecure, whitelist));
    errors
}

/// Every `status.tags[*].items[*].dockerImageReference`: present, parseable, allowed.
fn validate_status_references(
    stream: &ImageStream,
    insecure_repository: bool,
    whitelist: Option<&Whitelist>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let insecure_tags = insecure_tags(stream);
    for (tag, index, item) in status_items(stream) {
        let path = status_path(tag, index);
        let reference = item.docker_image_reference.as_str();
        if reference.is_empty() {
            errors.push(FieldError::required(path, ""));
            continue;
        }
        let insecure = || insecure_repository || insecure_tags.contains(tag);
        errors.extend(parse_and_admit(reference, path, insecure, whitelist));
    }
    errors
}

/// Validates a `/status` write: only references absent from the old status are checked.
pub(crate) fn validate_status_update(
    stream: &ImageStream,
    old: &ImageStream,
    whitelist: Option<&Whitelist>,
) -> Vec<FieldError> {
    let insecure = is_repository_insecure(stream);
    let known: HashSet<&str> = status_items(old)
        .map(|(_, _, item)| item.docker_image_reference.as_str())
        .collect();
    let mut errors = Vec::new();
    let insecure_references = insecure_references(stream);
    for (tag, index, item) in status_items(stream) {
        let reference = item.docker_image_reference.as_str();
        if known.contains(reference) {
            continue;
        }
        let path = status_path(tag, index);
        let insecure = || insecure || insecure_references.contains(reference);
        errors.extend(parse_and_admit(reference, path, insecure, whitelist));
    }
    errors
}

/// A status reference must parse and pass the whitelist; whether it may be insecure is only
/// worked out for references that parse.
fn parse_and_admit(
    reference: &str,
    path: String,
    insecure: impl FnOnce() -> bool,
    whitelist: Option<&Whitelist>,
) -> Option<FieldError> {
    match ImageRef::parse(reference) {
        Err(error) => Some(FieldError::invalid(path, reference, error.to_string())),
        Ok(parsed) => admit(whitelist, &parsed, insecure(), path),
    }
}

/// One tag's source and policies, under `spec.tags[<tag>]`.
fn validate_tag_reference(
    tag: &TagReference,
    insecure_repository: bool,
    whitelist: Option<&Whitelist>,
) -> Vec<FieldError> {
    let path = format!("spec.tags[{}]", tag.name);
    let mut errors = Vec::new();
    if let Some(from) = &tag.from {
        let insecure = tag.import_policy.insecure || insecure_repository;
        errors.extend(validate_source(tag, from, &path, insecure, whitelist));
    }
    errors.extend(validate_policies(tag, &path));
    errors
}

/// `from.name` is required; DockerImage names must parse (and be allowed) and only their tags
/// may be scheduled (a digest cannot change), stream kinds may not be scheduled, and no other
/// kind exists.
fn validate_source(
    tag: &TagReference,
    from: &ObjectReference,
    path: &str,
    insecure: bool,
    whitelist: Option<&Whitelist>,
) -> Vec<FieldError> {
    let name = text(&from.name);
    let name_path = format!("{path}.from.name");
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push(FieldError::required(name_path.clone(), ""));
    }
    match text(&from.kind) {
        "DockerImage" => match ImageRef::parse(name) {
            Err(error) if !name.is_empty() => {
                errors.push(FieldError::invalid(name_path, name, error.to_string()))
            }
            Ok(parsed) if !parsed.id.is_empty() && tag.import_policy.scheduled => {
                let detail = "only tags can be scheduled for import";
                errors.push(FieldError::invalid(name_path, name, detail))
            }
            // OpenShift also admits the empty reference of an empty name.
            parsed => errors.extend(admit(
                whitelist,
                &parsed.unwrap_or_default(),
                insecure,
                name_path,
            )),
        },
        "ImageStreamImage" | "ImageStreamTag" if tag.import_policy.scheduled => {
            let detail =
                "only tags pointing to Docker repositories may be scheduled for background import";
            errors.push(FieldError::invalid(
                format!("{path}.importPolicy.scheduled"),
                true,
                detail,
            ));
        }
        "ImageStreamImage" | "ImageStreamTag" => {}
        _ => {
            let detail = "valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'";
            errors.push(FieldError::required(format!("{path}.from.kind"), detail));
        }
    }
    errors
}

/// `referencePolicy.type` is `Source` or `Local`; `importPolicy.importMode` is empty, `Legacy`
/// or `PreserveOriginal`.
fn validate_policies(tag: &TagReference, path: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let policy = tag.reference_policy.type_.as_str();
    if policy != REFERENCE_POLICY_SOURCE && policy != REFERENCE_POLICY_LOCAL {
        let detail =
            format!("valid values are {REFERENCE_POLICY_SOURCE:?}, {REFERENCE_POLICY_LOCAL:?}");
        errors.push(FieldError::invalid(
            format!("{path}.referencePolicy.type"),
            policy,
            detail,
        ));
    }
    let mode = tag.import_policy.import_mode.as_str();
    if !mode.is_empty() && mode != IMPORT_MODE_LEGACY && mode != IMPORT_MODE_PRESERVE_ORIGINAL {
        let detail = format!(
            "invalid import mode, valid modes are '', '{IMPORT_MODE_LEGACY}', '{IMPORT_MODE_PRESERVE_ORIGINAL}'"
        );
        errors.push(FieldError::invalid(
            format!("{path}.importPolicy.importMode"),
            mode,
            detail,
        ));
    }
    errors
}

/// `spec.dockerImageRepository`: a repository without tag or ID.
fn validate_spec_repository(
    repository: &str,
    insecure: bool,
    whitelist: Option<&Whitelist>,
) -> Vec<FieldError> {
    const PATH: &str = "spec.dockerImageRepository";
    if repository.is_empty() {
        return Vec::new();
    }
    let parsed = match ImageRef::parse(repository) {
        Ok(parsed) => parsed,
        Err(error) => return vec![FieldError::invalid(PATH, repository, error.to_string())],
    };
    let mut errors = Vec::new();
    if !parsed.tag.is_empty() {
        errors.push(FieldError::invalid(
            PATH,
            repository,
            "the repository name may not contain a tag",
        ));
    }
    if !parsed.id.is_empty() {
        errors.push(FieldError::invalid(
            PATH,
            repository,
            "the repository name may not contain an ID",
        ));
    }
    if errors.is_empty() {
        errors.extend(admit(whitelist, &parsed, insecure, PATH.to_string()));
    }
    errors
}

fn admit(
    whitelist: Option<&Whitelist>,
    reference: &ImageRef,
    insecure: bool,
    path: String,
) -> Option<FieldError> {
    let denial = whitelist?
        .admit(reference, Transport::for_insecure(insecure))
        .err()?;
    Some(FieldError::forbidden(path, denial))
}

fn status_items(
    stream: &ImageStream,
) -> impl Iterator<Item = (&str, usize, &crate::api::TagEvent)> {
    let lists = stream.status.iter().flat_map(|status| &status.tags);
    lists.flat_map(|list| {
        list.items
            .iter()
            .enumerate()
            .map(move |(i, item)| (list.tag.as_str(), i, item))
    })
}

fn status_path(tag: &str, index: usize) -> String {
    format!("status.tags[{tag}].items[{index}].dockerImageReference")
}

fn is_repository_insecure(stream: &ImageStream) -> bool {
    let annotations = stream.metadata.annotations.as_ref();
    annotations
        .and_then(|a| a.get(INSECURE_REPOSITORY_ANNOTATION))
        .is_some_and(|v| v == "true")
}

/// The tags whose spec tag (the last of that name, as [`ImageStream::spec_tag`] finds it)
/// imports insecurely: built once, as status items are checked one by one.
fn insecure_tags(stream: &ImageStream) -> HashSet<&str> {
    stream
        .spec_tags_by_name()
        .into_iter()
        .filter_map(|(name, tag)| tag.import_policy.insecure.then_some(name))
        .collect()
}

/// The status references some item of an insecure tag holds.
fn insecure_references(stream: &ImageStream) -> HashSet<&str> {
    let tags = insecure_tags(stream);
    if tags.is_empty() {
        return HashSet::new();
    }
    status_items(stream)
        .filter(|(tag, _, _)| tags.contains(tag))
        .map(|(_, _, item)| item.docker_image_reference.as_str())
        .collect()
}

#[cfg(test)]
mod tests;
