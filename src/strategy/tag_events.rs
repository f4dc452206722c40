//! Tag histories: recording an event, following tracking tags, finding events (§4.6).
//!
//! These are OpenShift's `AddTagEventToImageStream`, `UpdateTrackingTags`, `LatestTaggedImage`
//! and `ResolveImageID`; the importer needs them as much as the stream rules do.

use std::collections::HashSet;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::text;
use crate::api::{ImageStream, ImageStreamStatus, NamedTagEventList, TagEvent};
use crate::reference::{is_valid_digest, DEFAULT_TAG};

/// Records `next` as the newest event of `tag`, collapsing it into the current newest event when
/// they share the reference or the image. Returns whether anything changed; any change clears
/// the tag's conditions. A collapsed event keeps its `created`.
pub fn add_tag_event(stream: &mut ImageStream, tag: &str, next: TagEvent) -> bool {
    let list = status_list_mut(stream, tag);
    let Some(previous) = list.items.first_mut() else {
        *list = NamedTagEventList {
            tag: tag.to_string(),
            items: vec![next],
            conditions: Vec::new(),
        };
        return true;
    };
    let same_reference = previous.docker_image_reference == next.docker_image_reference;
    let same_image = previous.image == next.image;
    let generation = next.generation;
    match (same_reference, same_image) {
        (true, true) if previous.generation == generation => return false,
        (true, true) => previous.generation = generation,
        (true, false) => {
            previous.image = next.image;
            previous.generation = generation;
        }
        (false, true) => {
            previous.docker_image_reference = next.docker_image_reference;
            previous.generation = generation;
        }
        (false, false) => list.items.insert(0, next),
    }
    list.conditions.clear();
    true
}

/// Gives `updated` to every spec tag that tracks status tag `updated_tag` of this stream
/// (`from.kind` `ImageStreamTag`, this namespace, `from.name` `<tag>` or `<this stream>:<tag>`), then
/// to every spec tag that tracks one of those, and so on down each chain (each tag once, so a
/// cycle ends). OpenShift moves a chain by one hop where it calls `UpdateTrackingTags`, and by
/// the tags its strategy's pass over changed status tags happens to visit in Go's map order,
/// so `prod` following `latest` following an imported `v1` may stay behind there; here every
/// tag of a chain of its own stream holds what the chain's head holds. Returns how many tags
/// changed.
pub fn update_tracking_chain(
    stream: &mut ImageStream,
    updated_tag: &str,
    updated: &TagEvent,
) -> usize {
    let mut reached: HashSet<String> = HashSet::from([updated_tag.to_string()]);
    let mut followed = vec![updated_tag.to_string()];
    let mut changed = 0;
    while let Some(tag) = followed.pop() {
        let trackers: Vec<String> = stream
            .spec
            .tags
            .iter()
            .filter(|tracker| tracked_tag(stream, tracker).is_some_and(|t| t == tag))
            .map(|tracker| tracker.name.clone())
            .collect();
        for tracker in trackers {
            if add_tag_event(stream, &tracker, updated.clone()) {
                changed += 1;
            }
            if reached.insert(tracker.clone()) {
                followed.push(tracker);
            }
        }
    }
    changed
}

/// Gives every spec tag that tracks status tag `followed_tag` of this stream the followed tag's
/// first condition (or none, when it has none), so a failed import of `8.0` shows on the
/// `latest` that follows it, as OpenShift 4's `UpdateTrackingTags` copies it. OpenShift's copy
/// also replaces a tracking tag's history with the condition alone (its
/// `AddTagConditionToImageStream`), which would leave `latest` with no image to pin while `8.0`
/// keeps its own; the history is kept here (README lists the difference). A tracking tag is never
/// imported itself, so its conditions are only ever its followed tag's. Returns how many tags
/// changed.
pub fn update_tracking_conditions(stream: &mut ImageStream, followed_tag: &str) -> usize {
    // Down each chain, as the events go (`update_tracking_chain`), each tag once.
    let all: Vec<(String, String)> = tracking_pairs(stream).collect();
    let mut reached: HashSet<&str> = HashSet::from([followed_tag]);
    let mut followed = vec![followed_tag];
    let mut changed = 0;
    while let Some(tag) = followed.pop() {
        let pairs: Vec<(String, String)> =
            all.iter().filter(|(_, of)| of == tag).cloned().collect();
        changed += mirror_conditions(stream, &pairs);
        for (tracker, _) in all.iter().filter(|(_, of)| of == tag) {
            if reached.insert(tracker) {
                followed.push(tracker);
            }
        }
    }
    changed
}

/// [`update_tracking_conditions`] for every tracking tag of the stream: passes over its spec
/// tags (a stream may have thousands) until none changes, so a tag deep in a chain gets its
/// followed tag's condition as it is after this write, whatever order the spec lists them in;
/// at most one pass per pair, which a cycle of trackers cannot outlast.
pub fn update_all_tracking_conditions(stream: &mut ImageStream) -> usize {
    let pairs: Vec<(String, String)> = tracking_pairs(stream).collect();
    let mut changed = 0;
    for _ in 0..=pairs.len() {
        match mirror_conditions(stream, &pairs) {
            0 => break,
            passed => changed += passed,
        }
    }
    changed
}

/// Each spec tag that tracks a tag of this stream, with the tag it tracks.
fn tracking_pairs(stream: &ImageStream) -> impl Iterator<Item = (String, String)> + '_ {
    stream.spec.tags.iter().filter_map(|tag| {
        tracked_tag(stream, tag).map(|followed| (tag.name.clone(), followed.to_string()))
    })
}

/// Copies each followed tag's first condition onto its tracker; returns how many changed.
fn mirror_conditions(stream: &mut ImageStream, pairs: &[(String, String)]) -> usize {
    let mut changed = 0;
    for (tracker, followed) in pairs {
        let conditions: Vec<_> = stream
            .status_tag(followed)
            .and_then(|list| list.conditions.first().cloned())
            .into_iter()
            .collect();
        if conditions.is_empty() && stream.status_tag(tracker).is_none() {
            continue;
        }
        let list = status_list_mut(stream, tracker);
        if list.conditions != conditions {
            list.conditions = conditions;
            changed += 1;
        }
    }
    changed
}

/// The tag of this stream that a spec tag tracks, if it tracks one.
fn tracked_tag<'t>(stream: &ImageStream, tag: &'t crate::api::TagReference) -> Option<&'t str> {
    let from = tag.from.as_ref()?;
    if text(&from.kind) != "ImageStreamTag" {
        return None;
    }
    let namespace = text(&from.namespace);
    if !namespace.is_empty() && namespace != stream.namespace() {
        return None;
    }
    let name = text(&from.name);
    let Some((stream_name, tracked)) = name.split_once(':') else {
        return Some(name);
    };
    if stream_name != stream.name() {
        return None;
    }
    Some(if tracked.is_empty() {
        DEFAULT_TAG
    } else {
        tracked
    })
}

/// The newest event of `tag` (`latest` when empty), if the tag has any.
pub fn latest_tagged_image<'s>(stream: &'s ImageStream, tag: &str) -> Option<&'s TagEvent> {
    stream.latest_event(if tag.is_empty() { DEFAULT_TAG } else { tag })
}

/// Why an image ID matched no event, or several images.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveImageIdError {
    /// No event's image matches the ID.
    #[error("imagestreamimage.image.openshift.io {0:?} not found")]
    NotFound(String),
    /// Several different images match the ID prefix.
    #[error(
        "Operation cannot be fulfilled on imagestreamimage.image.openshift.io {id:?}: \
         multiple images match the prefix {id:?}: {}", images.join(", ")
    )]
    Ambiguous {
        /// The ID or prefix searched.
        id: String,
        /// The matching images, sorted.
        images: Vec<String>,
    },
}

/// Finds the one image in the whole history whose name (or digest hex) starts with `id`, and
/// returns a new event for it created `now`.
pub fn resolve_image_id(
    stream: &ImageStream,
    id: &str,
    now: Timestamp,
) -> Result<TagEvent, ResolveImageIdError> {
    let mut found: Option<&TagEvent> = None;
    let mut images = std::collections::BTreeSet::new();
    let all = stream
        .status
        .iter()
        .flat_map(|s| &s.tags)
        .flat_map(|l| &l.items);
    for event in all.filter(|event| image_matches(&event.image, id)) {
        found = Some(event);
        images.insert(event.image.clone());
    }
    match (found, images.len()) {
        (Some(event), 1) => Ok(TagEvent {
            created: Time(now),
            docker_image_reference: event.docker_image_reference.clone(),
            image: event.image.clone(),
            generation: 0,
        }),
        (_, 0) => Err(ResolveImageIdError::NotFound(id.to_string())),
        _ => Err(ResolveImageIdError::Ambiguous {
            id: id.to_string(),
            images: images.into_iter().collect(),
        }),
    }
}

/// library-go `DigestOrImageMatch`: a prefix of the image name, or of a digest's hex part.
fn image_matches(image: &str, id: &str) -> bool {
    let hex_matches = is_valid_digest(image)
        && image
            .split_once(':')
            .is_some_and(|(_, hex)| hex.starts_with(id));
    hex_matches || image.starts_with(id)
}

/// The history of `tag`, created empty in sorted position when missing.
pub fn status_list_mut<'s>(stream: &'s mut ImageStream, tag: &str) -> &'s mut NamedTagEventList {
    let status = stream.status.get_or_insert_with(ImageStreamStatus::default);
    let index = match status.tags.iter().position(|list| list.tag == tag) {
        Some(index) => index,
        None => {
            let index = status.tags.partition_point(|list| list.tag.as_str() < tag);
            let list = NamedTagEventList {
                tag: tag.to_string(),
                ..NamedTagEventList::default()
            };
            status.tags.insert(index, list);
            index
        }
    };
    &mut status.tags[index]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::TagEventCondition;
    use crate::strategy::testing::{
        digest, docker_tag, event, history, istag, now, set_history, stream,
    };

    fn triple(reference: &str, image: &str, generation: i64) -> (String, String, i64) {
        (reference.to_string(), image.to_string(), generation)
    }

    fn check(
        existing: Vec<TagEvent>,
        next: TagEvent,
        changed: bool,
        expected: Vec<(String, String, i64)>,
    ) {
        let mut s = stream("ns", "s");
        if !existing.is_empty() {
            set_history(&mut s, "t", existing);
            s.status.as_mut().unwrap().tags[0]
                .conditions
                .push(TagEventCondition::default());
        }
        assert_eq!(add_tag_event(&mut s, "t", next), changed);
        assert_eq!(history(&s, "t"), expected);
        let conditions = s.status_tag("t").unwrap().conditions.len();
        assert_eq!(
            conditions,
            usize::from(!changed),
            "conditions cleared iff changed"
        );
    }

    #[test]
    fn collapse_rules_follow_the_six_rows() {
        // No list, or an empty one: the list becomes [new].
        check(
            vec![],
            event("r1", "i1", 1),
            true,
            vec![triple("r1", "i1", 1)],
        );
        // Same reference, image and generation: no change.
        check(
            vec![event("r1", "i1", 1)],
            event("r1", "i1", 1),
            false,
            vec![triple("r1", "i1", 1)],
        );
        // Same reference and image: the generation is updated.
        check(
            vec![event("r1", "i1", 1)],
            event("r1", "i1", 2),
            true,
            vec![triple("r1", "i1", 2)],
        );
        // Same reference only: image and generation are updated.
        check(
            vec![event("r1", "i1", 1)],
            event("r1", "i2", 2),
            true,
            vec![triple("r1", "i2", 2)],
        );
        // Same image only: reference and generation are updated.
        check(
            vec![event("r1", "i1", 1)],
            event("r2", "i1", 2),
            true,
            vec![triple("r2", "i1", 2)],
        );
        // Otherwise the event is prepended.
        check(
            vec![event("r1", "i1", 1)],
            event("r2", "i2", 2),
            true,
            vec![triple("r2", "i2", 2), triple("r1", "i1", 1)],
        );
    }

    #[test]
    fn collapsed_events_keep_their_created_time() {
        let mut s = stream("ns", "s");
        set_history(&mut s, "t", vec![event("r1", "i1", 1)]);
        let mut next = event("r1", "i2", 2);
        next.created = Time(now());
        add_tag_event(&mut s, "t", next);
        assert_eq!(
            s.latest_event("t").unwrap().created,
            crate::strategy::testing::earlier()
        );
    }

    #[test]
    fn new_status_tags_are_inserted_in_sorted_order() {
        let mut s = stream("ns", "s");
        for tag in ["m", "z", "a"] {
            add_tag_event(&mut s, tag, event("r", "i", 1));
        }
        let tags: Vec<&str> = s
            .status
            .as_ref()
            .unwrap()
            .tags
            .iter()
            .map(|l| l.tag.as_str())
            .collect();
        assert_eq!(tags, ["a", "m", "z"]);
    }

    #[test]
    fn tracking_tags_follow_tags_of_this_stream_only() {
        let mut s = stream("ns", "s");
        let mut other_ns = istag("x1", "t1");
        other_ns.from.as_mut().unwrap().namespace = Some("elsewhere".into());
        let mut same_ns = istag("x2", "s:t1");
        same_ns.from.as_mut().unwrap().namespace = Some("ns".into());
        s.spec.tags = vec![
            istag("a", "t1"),
            istag("b", "s:t1"),
            istag("c", "other:t1"),
            istag("d", "t2"),
            docker_tag("e", "t1"),
            other_ns,
            same_ns,
        ];
        let changed = update_tracking_chain(&mut s, "t1", &event("r", "i", 3));
        assert_eq!(changed, 3);
        for (tag, tracks) in [
            ("a", true),
            ("b", true),
            ("c", false),
            ("d", false),
            ("e", false),
            ("x1", false),
            ("x2", true),
        ] {
            assert_eq!(!history(&s, tag).is_empty(), tracks, "{tag}");
        }
    }

    #[test]
    fn a_chain_of_tracking_tags_moves_to_its_end_whatever_the_tags_order() {
        let mut s = stream("ns", "s");
        // prod follows stable follows latest follows v1; loop follows itself through a cycle.
        s.spec.tags = vec![
            istag("a-prod", "stable"),
            istag("stable", "latest"),
            istag("latest", "v1"),
            docker_tag("v1", "quay.io/org/app:v1"),
            istag("other", "elsewhere"),
            istag("loop-a", "loop-b"),
            istag("loop-b", "loop-a"),
        ];
        let imported = event("r", "i", 3);
        assert_eq!(update_tracking_chain(&mut s, "v1", &imported), 3);
        for tag in ["latest", "stable", "a-prod"] {
            assert_eq!(history(&s, tag), [("r".into(), "i".into(), 3)], "{tag}");
        }
        assert!(history(&s, "other").is_empty());
        assert_eq!(
            update_tracking_chain(&mut s, "v1", &imported),
            0,
            "no change"
        );
        assert_eq!(update_tracking_chain(&mut s, "loop-a", &imported), 2);
    }

    #[test]
    fn conditions_go_down_a_chain_of_trackers_whatever_the_spec_order() {
        let failed = |tag: &str| crate::api::TagEventCondition {
            type_: "ImportSuccess".into(),
            status: "False".into(),
            reason: format!("NotFound {tag}"),
            ..Default::default()
        };
        let chain = |s: &mut ImageStream| {
            s.spec.tags = vec![
                istag("a-prod", "stable"),
                istag("stable", "latest"),
                istag("latest", "v1"),
                docker_tag("v1", "quay.io/org/app:v1"),
            ];
            status_list_mut(s, "v1").conditions = vec![failed("v1")];
        };
        let conditions =
            |s: &ImageStream, tag: &str| s.status_tag(tag).map(|list| list.conditions.clone());
        let mut s = stream("ns", "s");
        chain(&mut s);
        assert_eq!(update_tracking_conditions(&mut s, "v1"), 3);
        for tag in ["latest", "stable", "a-prod"] {
            assert_eq!(conditions(&s, tag), Some(vec![failed("v1")]), "{tag}");
        }
        // Cleared by a good import, down the chain too.
        status_list_mut(&mut s, "v1").conditions.clear();
        assert_eq!(update_tracking_conditions(&mut s, "v1"), 3);
        assert_eq!(conditions(&s, "a-prod"), Some(vec![]));

        let mut s = stream("ns", "s");
        chain(&mut s);
        assert_eq!(update_all_tracking_conditions(&mut s), 3);
        assert_eq!(conditions(&s, "a-prod"), Some(vec![failed("v1")]));
        assert_eq!(update_all_tracking_conditions(&mut s), 0);
        // A cycle settles.
        s.spec.tags.push(istag("loop-a", "loop-b"));
        s.spec.tags.push(istag("loop-b", "loop-a"));
        update_all_tracking_conditions(&mut s);
        assert_eq!(update_all_tracking_conditions(&mut s), 0);
    }

    #[test]
    fn tracking_an_empty_tag_after_the_colon_means_latest() {
        let mut s = stream("ns", "s");
        s.spec.tags = vec![istag("a", "s:")];
        assert_eq!(
            update_tracking_chain(&mut s, "latest", &event("r", "i", 1)),
            1
        );
    }

    #[test]
    fn latest_tagged_image_defaults_the_tag_and_ignores_empty_histories() {
        let mut s = stream("ns", "s");
        set_history(
            &mut s,
            "latest",
            vec![event("r2", "i2", 2), event("r1", "i1", 1)],
        );
        set_history(&mut s, "empty", vec![]);
        assert_eq!(latest_tagged_image(&s, "").unwrap().image, "i2");
        assert!(latest_tagged_image(&s, "empty").is_none());
        assert!(latest_tagged_image(&s, "missing").is_none());
    }

    fn resolve(id: &str) -> Result<(String, String), ResolveImageIdError> {
        let mut s = stream("ns", "s");
        set_history(
            &mut s,
            "a",
            vec![
                event("reg/ns/s@e3", &digest('e'), 1),
                event("reg/ns/s:12345", "12345", 1),
            ],
        );
        set_history(
            &mut s,
            "b",
            vec![
                event("other/e", &digest('e'), 1),
                event("x", &format!("sha256:e{}", "f".repeat(63)), 1),
            ],
        );
        resolve_image_id(&s, id, now()).map(|e| (e.docker_image_reference, e.image))
    }

    #[test]
    fn image_ids_resolve_by_unique_prefix() {
        let (_, image) = resolve(&digest('e')).unwrap();
        assert_eq!(image, digest('e'));
        assert_eq!(resolve("eee").unwrap().1, digest('e'));
        assert_eq!(
            resolve("123").unwrap(),
            ("reg/ns/s:12345".to_string(), "12345".to_string())
        );
        assert_eq!(
            resolve("sha256:0").unwrap_err().to_string(),
            "imagestreamimage.image.openshift.io \"sha256:0\" not found"
        );
        let ambiguous = resolve("e").unwrap_err().to_string();
        assert_eq!(
            ambiguous,
            format!(
                "Operation cannot be fulfilled on imagestreamimage.image.openshift.io \"e\": \
                 multiple images match the prefix \"e\": {}, sha256:e{}",
                digest('e'),
                "f".repeat(63)
            )
        );
    }

    #[test]
    fn resolved_events_are_created_now() {
        let mut s = stream("ns", "s");
        set_history(&mut s, "a", vec![event("r", &digest('a'), 4)]);
        let resolved = resolve_image_id(&s, "aaaa", now()).unwrap();
        assert_eq!(resolved.created, Time(now()));
        assert_eq!(resolved.generation, 0);
    }
}
