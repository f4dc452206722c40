//! Defaulting and the shape OpenShift gives a stream on its way in and out (§4.2).
//!
//! OpenShift keeps tags in maps internally, so duplicates collapse (last wins) and output is
//! sorted. We keep the v1 lists but give them the same shape: unique and sorted.

use crate::api::{ImageStream, NamedTagEventList, TagReference, REFERENCE_POLICY_SOURCE};
use crate::reference::ImageRef;

/// Applies the v1 defaults and the map shape: empty `referencePolicy.type` becomes `Source`,
/// empty `importPolicy.importMode` becomes `default_import_mode`, spec tags are unique by name
/// (last wins) and sorted, status tags unique by tag (last wins) and sorted.
///
/// Runs on every write before the rules, and on every read.
pub fn apply_defaults(stream: &mut ImageStream, default_import_mode: &str) {
    let tags = std::mem::take(&mut stream.spec.tags);
    stream.spec.tags = unique_sorted(tags, |tag| tag.name.clone());
    for tag in &mut stream.spec.tags {
        default_tag(tag, default_import_mode);
    }
    if let Some(status) = stream.status.as_mut() {
        let lists = std::mem::take(&mut status.tags);
        status.tags = unique_sorted(lists, |list: &NamedTagEventList| list.tag.clone());
    }
}

/// Strips a tag or ID from stored `spec.dockerImageRepository` and
/// `status.dockerImageRepository`: a legacy clean-up OpenShift applies on output only, because
/// validation forbids such values on write.
pub fn clean_output_repositories(stream: &mut ImageStream) {
    strip_tag_and_id(&mut stream.spec.docker_image_repository);
    if let Some(status) = stream.status.as_mut() {
        strip_tag_and_id(&mut status.docker_image_repository);
    }
}

fn default_tag(tag: &mut TagReference, default_import_mode: &str) {
    if tag.reference_policy.type_.is_empty() {
        tag.reference_policy.type_ = REFERENCE_POLICY_SOURCE.to_string();
    }
    if tag.import_policy.import_mode.is_empty() {
        tag.import_policy.import_mode = default_import_mode.to_string();
    }
}

/// Keeps the last item for each key, ordered by key.
fn unique_sorted<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut by_key = std::collections::BTreeMap::new();
    for item in items {
        by_key.insert(key(&item), item);
    }
    by_key.into_values().collect()
}

fn strip_tag_and_id(repository: &mut String) {
    if repository.is_empty() {
        return;
    }
    if let Ok(parsed) = ImageRef::parse(repository) {
        if !parsed.tag.is_empty() || !parsed.id.is_empty() {
            *repository = parsed.repository();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{ImageStreamStatus, TagReferencePolicy};
    use crate::strategy::testing::{docker_tag, stream};

    fn tag_with(name: &str, policy: &str, mode: &str) -> TagReference {
        let mut tag = docker_tag(name, "quay.io/o/x:1");
        tag.reference_policy = TagReferencePolicy::of(policy);
        tag.import_policy.import_mode = mode.to_string();
        tag
    }

    fn check(input: TagReference, default_mode: &str, policy: &str, mode: &str) {
        let mut s = stream("ns", "s");
        s.spec.tags.push(input);
        apply_defaults(&mut s, default_mode);
        let tag = &s.spec.tags[0];
        assert_eq!(tag.reference_policy.type_, policy);
        assert_eq!(tag.import_policy.import_mode, mode);
    }

    #[test]
    fn empty_policies_are_defaulted_and_set_ones_kept() {
        check(tag_with("t", "", ""), "Legacy", "Source", "Legacy");
        check(
            tag_with("t", "", ""),
            "PreserveOriginal",
            "Source",
            "PreserveOriginal",
        );
        check(
            tag_with("t", "Local", "PreserveOriginal"),
            "Legacy",
            "Local",
            "PreserveOriginal",
        );
        check(tag_with("t", "Bogus", "Bogus"), "Legacy", "Bogus", "Bogus");
    }

    #[test]
    fn duplicate_spec_tags_collapse_to_the_last_and_sort_by_name() {
        let mut s = stream("ns", "s");
        s.spec.tags = vec![
            tag_with("b", "Source", ""),
            tag_with("a", "Source", ""),
            tag_with("b", "Local", ""),
        ];
        apply_defaults(&mut s, "Legacy");
        let names: Vec<&str> = s.spec.tags.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(s.spec.tags[1].reference_policy.type_, "Local");
    }

    #[test]
    fn status_tags_are_unique_and_sorted_by_tag() {
        let mut s = stream("ns", "s");
        let list = |tag: &str, conditions: usize| NamedTagEventList {
            tag: tag.into(),
            conditions: vec![Default::default(); conditions],
            ..Default::default()
        };
        s.status = Some(ImageStreamStatus {
            tags: vec![list("z", 0), list("a", 0), list("z", 1)],
            ..Default::default()
        });
        apply_defaults(&mut s, "Legacy");
        let tags = &s.status.as_ref().unwrap().tags;
        assert_eq!(tags.len(), 2);
        assert_eq!((tags[0].tag.as_str(), tags[1].tag.as_str()), ("a", "z"));
        assert_eq!(tags[1].conditions.len(), 1);
    }

    #[test]
    fn output_clean_up_strips_tags_and_ids_from_stored_repositories() {
        let digest = format!("sha256:{}", "a".repeat(64));
        for (stored, shown) in [
            ("quay.io/o/x:1", "quay.io/o/x"),
            (&*format!("quay.io/o/x@{digest}"), "quay.io/o/x"),
            ("quay.io/o/x", "quay.io/o/x"),
            ("Not A Reference", "Not A Reference"),
            ("", ""),
        ] {
            let mut s = stream("ns", "s");
            s.spec.docker_image_repository = stored.to_string();
            s.status = Some(ImageStreamStatus {
                docker_image_repository: stored.to_string(),
                ..Default::default()
            });
            clean_output_repositories(&mut s);
            assert_eq!(s.spec.docker_image_repository, shown, "{stored}");
            assert_eq!(s.status_repository(), shown, "{stored}");
        }
    }
}
