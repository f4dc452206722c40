//! Which spec tags need an import now (pure: the clock and the last import times arrive as
//! arguments, so the controller's decisions are table-tested here and its I/O stays thin).
//!
//! A tag needs an import when it is a `DockerImage` tag that is not `reference: true` and
//! either its generation is newer than anything observed for it (OpenShift's
//! `LatestObservedTagGeneration`: the newest event's generation, or a condition's, whichever is
//! higher) or it is due again: `importPolicy.scheduled` with its last import at least one
//! interval old, or, unlike OpenShift, its last import failed at least one interval ago.
//! Counting conditions as observed is what stops a failing tag from being retried on every
//! watch event; retrying it each interval is what lets a registry outage, a missing pull
//! secret or CA heal without anyone resetting the tag's generation.
//!
//! A generation above the stream's own `metadata.generation` cannot come from this stream's
//! history (generations only grow): it is a status restored from elsewhere (a backup written
//! back through `/status`), and is not counted as observed, or that tag would never import again.
//! The status write itself adopts a restored event pulled from its tag's current source as
//! that tag's import (`strategy::generation::adopt_restored_events`), so what reaches here
//! above the stream's generation came from elsewhere.

use std::collections::HashMap;
use std::time::Duration;

use jiff::Timestamp;

use super::outcome::IMPORT_SUCCESS;
use crate::api::{ImageStream, TagReference, IMPORT_MODE_PRESERVE_ORIGINAL};
use crate::reference::ImageRef;

/// What to do with a manifest list or image index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ImportMode {
    /// Record one platform's manifest: the preferred platform's, else linux/amd64's, else the
    /// first entry's.
    Legacy(PreferredPlatform),
    /// Record the list itself.
    PreserveOriginal,
}

/// The spec tag annotation naming the architecture a `Legacy` import prefers.
pub const PREFER_ARCH_ANNOTATION: &str = "importer.image.openshift.io/prefer-arch";

/// The spec tag annotation naming the operating system a `Legacy` import prefers.
pub const PREFER_OS_ANNOTATION: &str = "importer.image.openshift.io/prefer-os";

/// The platform a `Legacy` import of a spec tag prefers, from its annotations
/// ([`PREFER_ARCH_ANNOTATION`], [`PREFER_OS_ANNOTATION`]); empty parts are linux/amd64's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PreferredPlatform {
    /// The architecture (`arm64`), or empty.
    pub architecture: String,
    /// The operating system (`linux`), or empty.
    pub os: String,
}

impl PreferredPlatform {
    /// What `tag`'s annotations prefer.
    pub fn of(tag: &TagReference) -> Self {
        let annotation = |name: &str| {
            let annotations = tag.annotations.as_ref();
            annotations.and_then(|a| a.get(name)).cloned()
        };
        Self {
            architecture: annotation(PREFER_ARCH_ANNOTATION).unwrap_or_default(),
            os: annotation(PREFER_OS_ANNOTATION).unwrap_or_default(),
        }
    }
}

impl ImportMode {
    /// `Legacy` with no preference: linux/amd64, else the first entry.
    pub fn legacy() -> Self {
        Self::Legacy(PreferredPlatform::default())
    }
}

/// Why a tag is imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The spec tag's generation is newer than what the status has observed.
    Generation,
    /// The interval has passed since a scheduled tag's last import, or since a failed one.
    Scheduled,
}

/// One tag to import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagImport {
    /// The spec tag.
    pub tag: String,
    /// The parsed `from.name`.
    pub source: ImageRef,
    /// `importPolicy.insecure`: plain HTTP and unverified TLS are allowed.
    pub insecure: bool,
    /// `importPolicy.importMode`.
    pub mode: ImportMode,
    /// The generation the resulting event or condition records.
    pub generation: i64,
    /// Why the import happens.
    pub trigger: Trigger,
}

/// The clock and memory a plan is made with.
#[derive(Clone, Copy, Debug)]
pub struct Schedule<'a> {
    /// Now.
    pub now: Timestamp,
    /// How often scheduled tags are re-imported.
    pub interval: Duration,
    /// When each tag of this stream was last imported (by this process), by tag name.
    pub last_imports: &'a HashMap<String, Timestamp>,
}

/// The imports a stream needs now, and when its next scheduled import falls due.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Tags to import now.
    pub imports: Vec<TagImport>,
    /// The earliest time a scheduled tag not imported now becomes due.
    pub next_due: Option<Timestamp>,
}

/// Plans the imports of `stream` at `schedule.now`.
pub fn plan(stream: &ImageStream, schedule: &Schedule<'_>) -> Plan {
    let mut plan = Plan::default();
    let stream_generation = stream.metadata.generation.unwrap_or(0);
    for tag in &stream.spec.tags {
        let Some(source) = importable_source(tag) else {
            continue;
        };
        let generation = tag.generation.unwrap_or(stream_generation);
        let last = schedule.last_imports.get(&tag.name).copied();
        let retried = tag.import_policy.scheduled || last_import_failed(stream, &tag.name);
        let due_at = retried.then(|| due_after(last, schedule.interval));
        let trigger = if generation > observed_generation(stream, &tag.name) {
            Trigger::Generation
        } else if due_at.is_some_and(|due| due <= schedule.now) {
            Trigger::Scheduled
        } else {
            if let Some(due) = due_at {
                plan.next_due = Some(plan.next_due.map_or(due, |next| next.min(due)));
            }
            continue;
        };
        plan.imports.push(TagImport {
            tag: tag.name.clone(),
            source,
            insecure: tag.import_policy.insecure,
            mode: import_mode(tag),
            generation,
            trigger,
        });
    }
    plan
}

/// The parsed source of a tag the importer handles: `DockerImage`, not a reference.
fn importable_source(tag: &TagReference) -> Option<ImageRef> {
    let from = tag.from.as_ref()?;
    if from.kind.as_deref() != Some("DockerImage") || tag.reference {
        return None;
    }
    ImageRef::parse(from.name.as_deref()?).ok()
}

fn import_mode(tag: &TagReference) -> ImportMode {
    match tag.import_policy.import_mode.as_str() {
        IMPORT_MODE_PRESERVE_ORIGINAL => ImportMode::PreserveOriginal,
        _ => ImportMode::Legacy(PreferredPlatform::of(tag)),
    }
}

/// When a tag imported again every `interval` falls due; `now`-or-earlier (the epoch) when this
/// process has not imported it.
fn due_after(last: Option<Timestamp>, interval: Duration) -> Timestamp {
    match last {
        None => Timestamp::UNIX_EPOCH,
        Some(last) => last.saturating_add(interval).unwrap_or(Timestamp::MAX),
    }
}

/// The last-import time to record for a tag that should be tried again `wait` from `now`
/// rather than a whole `interval` later: a failed tag is due an interval after its last
/// import, so it is recorded as imported one interval before `now + wait`.
pub fn retried_in(now: Timestamp, wait: Duration, interval: Duration) -> Timestamp {
    now.checked_add(wait)
        .and_then(|at| at.checked_sub(interval))
        .unwrap_or(now)
}

/// Whether the tag's last import failed: its status carries `ImportSuccess=False` (a success
/// clears it).
pub fn last_import_failed(stream: &ImageStream, tag: &str) -> bool {
    stream.status_tag(tag).is_some_and(|list| {
        list.conditions
            .iter()
            .any(|c| c.type_ == IMPORT_SUCCESS && c.status == "False")
    })
}

/// The newest generation the status has answered for `tag`: the newest event's or any
/// condition's, whichever is higher; -1 when there is neither. Generations above the stream's
/// own (a status restored from another history) are left out.
pub fn observed_generation(stream: &ImageStream, tag: &str) -> i64 {
    let Some(list) = stream.status_tag(tag) else {
        return -1;
    };
    let ceiling = match stream.metadata.generation {
        Some(generation) if generation > 0 => generation,
        _ => i64::MAX,
    };
    let newest = list.items.first().map(|event| event.generation);
    let conditions = list.conditions.iter().map(|c| c.generation);
    newest
        .into_iter()
        .chain(conditions)
        .filter(|&generation| generation <= ceiling)
        .fold(-1, i64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::outcome::{apply_outcome, Failure, ImportReason, Imported};
    use crate::strategy::testing::{docker_tag, event, istag, now, set_history, stream, tag_from};
    use jiff::SignedDuration;

    const MINUTE: Duration = Duration::from_secs(60);

    fn not_found() -> Result<Imported, Failure> {
        Err(Failure {
            reason: ImportReason::NotFound,
            message: "gone".into(),
        })
    }

    fn minutes_ago(minutes: i64) -> Timestamp {
        now() - SignedDuration::from_mins(minutes)
    }

    /// A stream at generation 3 with one tag `t` from `quay.io/o/app:1` at `generation`.
    fn app(generation: i64, scheduled: bool) -> ImageStream {
        let mut s = stream("ns", "app");
        s.metadata.generation = Some(3);
        let mut tag = docker_tag("t", "quay.io/o/app:1");
        tag.generation = Some(generation);
        tag.import_policy.scheduled = scheduled;
        s.spec.tags = vec![tag];
        s
    }

    fn check(s: &ImageStream, last: Option<i64>, expected: Option<Trigger>) {
        let last_imports = last
            .map(|minutes| HashMap::from([("t".to_string(), minutes_ago(minutes))]))
            .unwrap_or_default();
        let schedule = Schedule {
            now: now(),
            interval: 15 * MINUTE,
            last_imports: &last_imports,
        };
        let triggers: Vec<Trigger> = plan(s, &schedule)
            .imports
            .iter()
            .map(|i| i.trigger)
            .collect();
        assert_eq!(triggers, Vec::from_iter(expected));
    }

    #[test]
    fn tags_without_status_are_imported() {
        check(&app(2, false), None, Some(Trigger::Generation));
    }

    #[test]
    fn tags_whose_generation_is_observed_wait() {
        let mut s = app(2, false);
        set_history(&mut s, "t", vec![event("quay.io/o/app@x", "x", 2)]);
        check(&s, None, None);
        s.spec.tags[0].generation = Some(3);
        check(&s, None, Some(Trigger::Generation));
    }

    #[test]
    fn a_recorded_failure_counts_as_observed_until_the_interval_has_passed() {
        let mut s = app(2, false);
        let import = plan_one(&s);
        assert!(apply_outcome(&mut s, &import, &not_found(), now()));
        assert!(last_import_failed(&s, "t"));
        check(&s, Some(0), None);
        check(&s, Some(14), None);
        check(&s, Some(15), Some(Trigger::Scheduled));
        // Not tried by this process (a restart): tried at once.
        check(&s, None, Some(Trigger::Scheduled));
    }

    #[test]
    fn a_tag_recorded_to_be_retried_soon_is_due_then_not_an_interval_later() {
        let mut s = app(2, false);
        let import = plan_one(&s);
        apply_outcome(&mut s, &import, &not_found(), now());
        let recorded = retried_in(now(), Duration::from_secs(40), 15 * MINUTE);
        let last = HashMap::from([("t".to_string(), recorded)]);
        let at = |seconds: i64| Schedule {
            now: now() + SignedDuration::from_secs(seconds),
            interval: 15 * MINUTE,
            last_imports: &last,
        };
        assert!(plan(&s, &at(39)).imports.is_empty());
        let due: Vec<Trigger> = plan(&s, &at(40))
            .imports
            .iter()
            .map(|i| i.trigger)
            .collect();
        assert_eq!(due, [Trigger::Scheduled]);
        assert_eq!(
            plan(&s, &at(0)).next_due,
            Some(now() + SignedDuration::from_secs(40))
        );
    }

    #[test]
    fn a_success_stops_the_retries_of_an_unscheduled_tag() {
        let mut s = app(2, false);
        let import = plan_one(&s);
        apply_outcome(&mut s, &import, &not_found(), now());
        let imported = Ok(Imported {
            digest: "sha256:x".into(),
        });
        assert!(apply_outcome(&mut s, &import, &imported, now()));
        assert!(!last_import_failed(&s, "t"));
        check(&s, Some(60), None);
        check(&s, None, None);
    }

    #[test]
    fn generations_restored_from_another_history_do_not_count_as_observed() {
        // The stream is at generation 3; a backup wrote back events and conditions at 9.
        let mut s = app(3, false);
        set_history(&mut s, "t", vec![event("quay.io/o/app@old", "old", 9)]);
        check(&s, None, Some(Trigger::Generation));
        assert_eq!(observed_generation(&s, "t"), -1);
        let import = plan_one(&s);
        apply_outcome(&mut s, &import, &not_found(), now());
        assert_eq!(observed_generation(&s, "t"), 3, "the failure here counts");
        check(&s, Some(0), None);
    }

    #[test]
    fn scheduled_tags_are_reimported_once_the_interval_has_passed() {
        let mut s = app(2, true);
        set_history(&mut s, "t", vec![event("quay.io/o/app@x", "x", 2)]);
        check(&s, Some(14), None);
        check(&s, Some(15), Some(Trigger::Scheduled));
        check(&s, None, Some(Trigger::Scheduled));
    }

    #[test]
    fn the_next_due_time_is_the_earliest_waiting_scheduled_tag() {
        let mut s = app(2, true);
        let mut other = docker_tag("u", "quay.io/o/app:2");
        other.generation = Some(2);
        other.import_policy.scheduled = true;
        s.spec.tags.push(other);
        set_history(&mut s, "t", vec![event("r", "x", 2)]);
        set_history(&mut s, "u", vec![event("r", "y", 2)]);
        let last = HashMap::from([
            ("t".to_string(), minutes_ago(5)),
            ("u".to_string(), minutes_ago(10)),
        ]);
        let schedule = Schedule {
            now: now(),
            interval: 15 * MINUTE,
            last_imports: &last,
        };
        let plan = plan(&s, &schedule);
        assert!(plan.imports.is_empty());
        assert_eq!(plan.next_due, Some(now() + SignedDuration::from_mins(5)));
    }

    #[test]
    fn only_docker_image_tags_that_are_not_references_are_imported() {
        let mut reference = docker_tag("t", "quay.io/o/app:1");
        reference.reference = true;
        let mut unparsable = docker_tag("t", "quay.io/o/app:1@sha256:bad");
        unparsable.generation = Some(1);
        for tag in [
            reference,
            istag("t", "other:1"),
            tag_from("t", "ImageStreamImage", "other@sha256:abc"),
            unparsable,
            crate::api::TagReference {
                name: "t".into(),
                ..Default::default()
            },
        ] {
            let mut s = app(2, false);
            s.spec.tags = vec![tag];
            check(&s, None, None);
        }
    }

    #[test]
    fn import_settings_come_from_the_spec_tag() {
        let mut s = app(2, false);
        s.spec.tags[0].import_policy.import_mode = "PreserveOriginal".into();
        s.spec.tags[0].import_policy.insecure = true;
        s.spec.tags[0].generation = None;
        let import = plan_one(&s);
        assert_eq!(import.mode, ImportMode::PreserveOriginal);
        assert!(import.insecure);
        assert_eq!(import.generation, 3, "no tag generation: the stream's");
        assert_eq!(import.source.exact(), "quay.io/o/app:1");
    }

    fn plan_one(s: &ImageStream) -> TagImport {
        let none = HashMap::new();
        let schedule = Schedule {
            now: now(),
            interval: MINUTE,
            last_imports: &none,
        };
        plan(s, &schedule).imports.remove(0)
    }

    #[test]
    fn observed_generation_takes_the_newest_event_or_any_condition() {
        let mut s = app(2, false);
        assert_eq!(observed_generation(&s, "t"), -1);
        set_history(&mut s, "t", vec![event("r", "x", 1)]);
        assert_eq!(observed_generation(&s, "t"), 1);
        let import = plan_one(&s);
        apply_outcome(&mut s, &import, &not_found(), now());
        assert_eq!(observed_generation(&s, "t"), 2);
    }
}
