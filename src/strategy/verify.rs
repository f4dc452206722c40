//! The cross-namespace check on tag sources (OpenShift's `TagVerifier`, §4.6).
//!
//! Tagging an image from another namespace needs `get` on `imagestreams/layers` of the source
//! stream there. Only new or changed tags are checked, once per source stream.

use std::collections::BTreeMap;

use super::generation::tag_ref_changed;
use super::{text, Authorize};
use crate::api::{ImageStream, TagReference};
use crate::field::FieldError;

/// OpenShift's detail for a source name it cannot split.
pub(crate) const FROM_NAME_FORM: &str =
    "must be of the form <tag>, <repo>:<tag>, <id>, or <repo>@<id>";

/// The spec tags that are new, or changed per [`tag_ref_changed`], compared with `old`.
pub(crate) fn changed_tags<'s>(
    stream: &'s ImageStream,
    old: Option<&'s ImageStream>,
) -> impl Iterator<Item = &'s TagReference> {
    let old_tags = old.map(ImageStream::spec_tags_by_name).unwrap_or_default();
    stream.spec.tags.iter().filter(move |tag| {
        let old_tag = old_tags.get(tag.name.as_str()).copied();
        old_tag.is_none_or(|old_tag| tag_ref_changed(old_tag, tag, stream.namespace()))
    })
}

/// Splits an `ImageStreamTag` (`<tag>`, `<stream>:<tag>`) or `ImageStreamImage` (`<id>`,
/// `<stream>@<id>`) source name into stream and tag or ID; `None` for other kinds or more than
/// one separator.
pub(crate) fn parse_from_reference(
    stream_name: &str,
    kind: &str,
    name: &str,
) -> Option<(String, String)> {
    let separator = match kind {
        "ImageStreamTag" => ':',
        "ImageStreamImage" => '@',
        _ => return None,
    };
    let parts: Vec<&str> = name.split(separator).collect();
    match parts.as_slice() {
        [tag_or_id] => Some((stream_name.to_string(), tag_or_id.to_string())),
        [stream, tag_or_id] => Some((stream.to_string(), tag_or_id.to_string())),
        _ => None,
    }
}

/// What [`verify_cross_namespace`] found.
#[derive(Debug, Default)]
pub(crate) struct CrossNamespace {
    /// The errors to report.
    pub errors: Vec<FieldError>,
    /// The tags whose source was refused: they are not looked up, so the refusal reads the
    /// same whether or not the source exists.
    pub refused: Vec<String>,
}

/// Forbidden on `spec.tags[<tag>].from` for each new or changed tag whose source stream in
/// another namespace `authorize` refuses; Invalid on `from.name` when the source cannot be split.
pub(crate) fn verify_cross_namespace(
    stream: &ImageStream,
    old: Option<&ImageStream>,
    authorize: Authorize<'_>,
) -> CrossNamespace {
    let mut errors = Vec::new();
    let mut refused = Vec::new();
    let mut by_source: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for tag in changed_tags(stream, old) {
        let Some(from) = &tag.from else { continue };
        let namespace = text(&from.namespace);
        if namespace.is_empty() || namespace == stream.namespace() {
            continue;
        }
        let name = text(&from.name);
        match parse_from_reference(stream.name(), text(&from.kind), name) {
            Some((source, _)) => by_source
                .entry((namespace.to_string(), source))
                .or_default()
                .push(tag.name.clone()),
            None => errors.push(FieldError::invalid(
                format!("spec.tags[{}].from.name", tag.name),
                name,
                FROM_NAME_FORM,
            )),
        }
    }
    for ((namespace, source), tags) in by_source {
        let Err(reason) = authorize(&namespace, &source) else {
            continue;
        };
        // OpenShift appends the review's reason and evaluation error (here none).
        let detail = format!("{namespace}/{source}: {reason:?} \"\"");
        errors
            .extend(tags.iter().map(|tag| {
                FieldError::forbidden(format!("spec.tags[{tag}].from"), detail.clone())
            }));
        refused.extend(tags);
    }
    CrossNamespace { errors, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{docker_tag, istag, stream};

    fn foreign(name: &str, namespace: &str, from: &str) -> TagReference {
        let mut tag = istag(name, from);
        tag.from.as_mut().unwrap().namespace = Some(namespace.to_string());
        tag
    }

    fn check(
        old_tags: Vec<TagReference>,
        new_tags: Vec<TagReference>,
        allowed: &[(&str, &str)],
    ) -> (Vec<String>, Vec<(String, String)>) {
        let mut old = stream("namespace", "stream");
        old.spec.tags = old_tags;
        let mut new = stream("namespace", "stream");
        new.spec.tags = new_tags;
        let asked = std::cell::RefCell::new(Vec::new());
        let authorize = |ns: &str, s: &str| {
            asked.borrow_mut().push((ns.to_string(), s.to_string()));
            match allowed.contains(&(ns, s)) {
                true => Ok(()),
                false => Err(String::new()),
            }
        };
        let errors = verify_cross_namespace(&new, Some(&old), &authorize).errors;
        (
            errors.iter().map(ToString::to_string).collect(),
            asked.into_inner(),
        )
    }

    #[test]
    fn same_namespace_unchanged_and_docker_sources_are_not_reviewed() {
        let (errors, asked) = check(
            vec![],
            vec![
                foreign("a", "namespace", "other:latest"),
                docker_tag("b", "r/x:1"),
            ],
            &[],
        );
        assert!(errors.is_empty() && asked.is_empty());
        let tag = foreign("a", "otherns", "otherstream:latest");
        let (errors, asked) = check(vec![tag.clone()], vec![tag], &[]);
        assert!(errors.is_empty() && asked.is_empty());
    }

    #[test]
    fn new_cross_namespace_tags_are_reviewed_once_per_source_stream() {
        let tags = vec![
            foreign("latest", "otherns", "otherstream:latest"),
            foreign("other", "otherns", "otherstream:v1"),
            foreign("third", "secondns", "something:latest"),
        ];
        let (errors, asked) = check(vec![], tags, &[("secondns", "something")]);
        assert_eq!(
            asked,
            [
                ("otherns".to_string(), "otherstream".to_string()),
                ("secondns".to_string(), "something".to_string())
            ]
        );
        assert_eq!(
            errors,
            [
                "spec.tags[latest].from: Forbidden: otherns/otherstream: \"\" \"\"",
                "spec.tags[other].from: Forbidden: otherns/otherstream: \"\" \"\"",
            ]
        );
    }

    #[test]
    fn changed_source_is_reviewed_again() {
        let (_, asked) = check(
            vec![foreign("latest", "otherns", "otherstream:foo")],
            vec![foreign("latest", "otherns", "otherstream:latest")],
            &[("otherns", "otherstream")],
        );
        assert_eq!(asked.len(), 1);
    }

    #[test]
    fn unsplittable_sources_are_invalid() {
        let mut docker = docker_tag("d", "quay.io/o/x:1");
        docker.from.as_mut().unwrap().namespace = Some("otherns".into());
        let (errors, asked) = check(
            vec![],
            vec![docker, foreign("latest", "otherns", "a:b:c")],
            &[],
        );
        assert!(asked.is_empty());
        assert_eq!(
            errors,
            [
                format!(
                    "spec.tags[d].from.name: Invalid value: \"quay.io/o/x:1\": {FROM_NAME_FORM}"
                ),
                format!("spec.tags[latest].from.name: Invalid value: \"a:b:c\": {FROM_NAME_FORM}"),
            ]
        );
    }

    #[test]
    fn source_names_split_on_one_separator() {
        let split = |kind, name| parse_from_reference("self", kind, name);
        assert_eq!(
            split("ImageStreamTag", "v1"),
            Some(("self".into(), "v1".into()))
        );
        assert_eq!(
            split("ImageStreamTag", "s:v1"),
            Some(("s".into(), "v1".into()))
        );
        assert_eq!(
            split("ImageStreamImage", "s@sha256:ab"),
            Some(("s".into(), "sha256:ab".into()))
        );
        assert_eq!(split("ImageStreamTag", "a:b:c"), None);
        assert_eq!(split("DockerImage", "x"), None);
    }
}
