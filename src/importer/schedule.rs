//! The importer's memory of time (pure): when each tag was last imported, when each stream's
//! next scheduled import falls due, and the rate limit on scheduled imports.
//!
//! Last import times live in memory only, as in OpenShift's scheduled-import controller. After
//! a restart a scheduled tag that already has status is taken as imported at first sight, so
//! a restart storms nothing: scheduled re-imports resume one interval later. A tag whose last
//! import failed is the exception: it is tried again at once, since a restart is when a fixed
//! CA file or pull-secret source takes effect.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;

use super::plan;
use super::push::record::RecordId;
use super::repository::RepositoryAttempts;
use crate::api::ImageStream;

/// The clock scheduling reads: the wall clock when the importer started, moved on by the
/// monotonic clock since. A step of the node's clock (NTP correcting it, a VM resumed) would
/// otherwise hold every scheduled import and retry back by the step, silently (none is behind
/// by the clock that moved back), or make them all due at once. What is written into objects
/// (events' `created`, conditions' times) keeps reading the wall clock.
#[derive(Clone, Copy, Debug)]
pub struct SchedulingClock {
    started_wall: Timestamp,
    started: tokio::time::Instant,
}

impl SchedulingClock {
    /// A clock reading the wall clock's time now.
    pub fn start() -> Self {
        Self {
            started_wall: Timestamp::now(),
            started: tokio::time::Instant::now(),
        }
    }

    /// The time for scheduling.
    pub fn now(&self) -> Timestamp {
        let elapsed = self.started.elapsed();
        self.started_wall
            .checked_add(elapsed)
            .unwrap_or(self.started_wall)
    }
}

/// Import times, due times and the scheduled-import budget.
#[derive(Debug)]
pub struct Scheduler {
    /// Last import per stream key (`ns/name`), then per tag.
    last: HashMap<String, HashMap<String, Timestamp>>,
    /// When each stream's next scheduled import falls due.
    due: HashMap<String, Timestamp>,
    /// What this process did with each stream's `spec.dockerImageRepository` import.
    repositories: HashMap<String, RepositoryAttempts>,
    /// Tags a registry said were pushed, per stream key, not yet taken by a pass, each with
    /// the push records that asked for it.
    pushed: HashMap<String, Pushed>,
    bucket: TokenBucket,
}

impl Scheduler {
    /// A scheduler allowing `per_minute` scheduled stream imports a minute (and bursts of as
    /// many), starting at `now`.
    pub fn new(per_minute: u32, now: Timestamp) -> Self {
        Self {
            last: HashMap::new(),
            due: HashMap::new(),
            repositories: HashMap::new(),
            pushed: HashMap::new(),
            bucket: TokenBucket::new(per_minute.max(1), now),
        }
    }

    /// The last import time of each tag of `stream` (key `key`). Scheduled tags that have
    /// status but no recorded import (imported before this process started) are recorded as
    /// imported `now`, unless that import failed; records of tags no longer in the spec are
    /// dropped.
    pub fn last_imports(
        &mut self,
        key: &str,
        stream: &ImageStream,
        now: Timestamp,
    ) -> HashMap<String, Timestamp> {
        let tags = self.last.entry(key.to_string()).or_default();
        tags.retain(|tag, _| stream.spec_tag(tag).is_some());
        for tag in &stream.spec.tags {
            let seen_before = stream
                .status_tag(&tag.name)
                .is_some_and(|list| !list.items.is_empty() || !list.conditions.is_empty());
            let failed = plan::last_import_failed(stream, &tag.name);
            if tag.import_policy.scheduled && seen_before && !failed {
                tags.entry(tag.name.clone()).or_insert(now);
            }
        }
        let imports = tags.clone();
        if imports.is_empty() {
            // Most streams schedule nothing: with 100,000 streams an empty record per stream
            // is ~10 MB the importer would hold for nothing.
            self.last.remove(key);
        }
        imports
    }

    /// Records that `tags` of stream `key` were imported at `now`.
    pub fn record<'t>(
        &mut self,
        key: &str,
        tags: impl IntoIterator<Item = &'t str>,
        now: Timestamp,
    ) {
        let recorded = self.last.entry(key.to_string()).or_default();
        for tag in tags {
            recorded.insert(tag.to_string(), now);
        }
    }

    /// What this process did with the repository import of stream `key`.
    pub fn repository_attempts(&self, key: &str) -> RepositoryAttempts {
        self.repositories.get(key).cloned().unwrap_or_default()
    }

    /// Records that the repository of stream `key` was imported at `now`.
    pub fn record_repository_import(&mut self, key: &str, now: Timestamp) {
        self.repositories.entry(key.to_string()).or_default().last = Some(now);
    }

    /// Puts the import of `repository` by stream `key` off until `until`, then due as if never
    /// made: what it learnt was not recorded (its writes lost to another writer's).
    pub fn hold_repository_import(&mut self, key: &str, repository: &str, until: Timestamp) {
        let held = RepositoryAttempts {
            last: None,
            held_until: Some(until),
            held_repository: Some(repository.to_string()),
        };
        self.repositories.insert(key.to_string(), held);
    }

    /// Sets (or clears) when stream `key` next needs a scheduled import.
    pub fn set_due(&mut self, key: &str, due: Option<Timestamp>) {
        match due {
            Some(due) => self.due.insert(key.to_string(), due),
            None => self.due.remove(key),
        };
    }

    /// Forgets a deleted stream; returns its pushed tags, which no pass will import now.
    pub fn forget(&mut self, key: &str) -> Pushed {
        self.last.remove(key);
        self.due.remove(key);
        self.repositories.remove(key);
        self.pushed.remove(key).unwrap_or_default()
    }

    /// Notes that the sources of `tags` of stream `key` were pushed, as push record `record`
    /// says: the stream falls due at `now` (its pass still waits for the scheduled imports'
    /// budget), and that pass imports them whatever their last import.
    pub fn push(&mut self, key: &str, tags: &[String], record: &RecordId, now: Timestamp) {
        let pushed = self.pushed.entry(key.to_string()).or_default();
        for tag in tags {
            note_record(pushed.entry(tag.clone()).or_default(), record.clone());
        }
        let due = self.due.entry(key.to_string()).or_insert(now);
        *due = (*due).min(now);
    }

    /// Whether stream `key` has pushed tags no pass has taken yet.
    pub fn has_pushed(&self, key: &str) -> bool {
        self.pushed.contains_key(key)
    }

    /// The pushed tags of stream `key`, for a pass that is about to plan it; pushes noted
    /// from now on wait for the next pass (they keep the stream due), since this one may have
    /// asked the registry before them.
    pub fn take_pushed(&mut self, key: &str) -> Pushed {
        self.pushed.remove(key).unwrap_or_default()
    }

    /// Gives back pushed tags a pass took but could not finish (it failed on the store), for
    /// its retry.
    pub fn restore_pushed(&mut self, key: &str, taken: Pushed) {
        if taken.is_empty() {
            return;
        }
        let pushed = self.pushed.entry(key.to_string()).or_default();
        for (tag, records) in taken {
            let noted = pushed.entry(tag).or_default();
            records
                .into_iter()
                .for_each(|record| note_record(noted, record));
        }
    }

    /// Every stream key the scheduler holds anything for.
    pub fn stream_keys(&self) -> HashSet<String> {
        let timed = self.due.keys().chain(self.repositories.keys());
        let keys = self.last.keys().chain(timed).chain(self.pushed.keys());
        keys.cloned().collect()
    }

    /// Forgets the streams `listed` leaves out (deleted while the importer's watch was down,
    /// so no deletion reached `forget`); hands back their pushed tags, as `forget` does.
    pub fn retain_streams(&mut self, listed: impl Fn(&str) -> bool) -> Vec<(String, Pushed)> {
        self.last.retain(|key, _| listed(key));
        self.due.retain(|key, _| listed(key));
        self.repositories.retain(|key, _| listed(key));
        let gone: Vec<String> = self
            .pushed
            .keys()
            .filter(|key| !listed(key))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|key| self.pushed.remove(&key).map(|pushed| (key, pushed)))
            .collect()
    }

    /// The streams due at `now`, most overdue first, as many as the budget allows. They leave
    /// the due list; the rest wait for a later call.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<String> {
        let mut ready: Vec<(Timestamp, String)> = self
            .due
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(key, due)| (*due, key.clone()))
            .collect();
        ready.sort();
        ready.truncate(self.bucket.take(ready.len(), now));
        for (_, key) in &ready {
            self.due.remove(key);
        }
        ready.into_iter().map(|(_, key)| key).collect()
    }

    /// How long the most overdue stream still waiting for the budget has been due at `now`,
    /// and how many are due: `(0, 0)` when the budget keeps up with the schedule.
    pub fn behind(&self, now: Timestamp) -> (Duration, usize) {
        self.due.values().filter(|due| **due <= now).fold(
            (Duration::ZERO, 0),
            |(longest, count), due| {
                let waited = now.duration_since(*due).unsigned_abs();
                (longest.max(waited), count + 1)
            },
        )
    }
}

/// How often the scheduler should look for due streams: a quarter of the interval, between
/// 50 ms (short test intervals) and 5 s.
pub fn tick_period(interval: Duration) -> Duration {
    (interval / 4).clamp(Duration::from_millis(50), Duration::from_secs(5))
}

/// A stream's pushed tags, each with the push records that asked for it.
pub type Pushed = HashMap<String, Vec<RecordId>>;

/// Adds `record` to a tag's push records, keeping only the newest revision of each record key:
/// an older one can no longer be handled (a newer push rewrote it), and a stream whose passes
/// keep failing would otherwise gain one per push of its source.
fn note_record(records: &mut Vec<RecordId>, record: RecordId) {
    match records.iter_mut().find(|(key, _)| *key == record.0) {
        Some(noted) => noted.1 = noted.1.max(record.1),
        None => records.push(record),
    }
}

/// A token bucket refilled continuously at `per_minute` tokens a minute.
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    tokens: f64,
    per_second: f64,
    updated: Timestamp,
}

impl TokenBucket {
    fn new(per_minute: u32, now: Timestamp) -> Self {
        let capacity = f64::from(per_minute);
        Self {
            capacity,
            tokens: capacity,
            per_second: capacity / 60.0,
            updated: now,
        }
    }

    /// Takes up to `wanted` whole tokens; returns how many were granted.
    fn take(&mut self, wanted: usize, now: Timestamp) -> usize {
        let elapsed = now.duration_since(self.updated).as_secs_f64().max(0.0);
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.updated = now;
        let granted = (self.tokens.floor() as usize).min(wanted);
        self.tokens -= granted as f64;
        granted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategy::testing::{docker_tag, event, now, set_history, stream};
    use jiff::SignedDuration;

    fn later(seconds: i64) -> Timestamp {
        now() + SignedDuration::from_secs(seconds)
    }

    #[tokio::test(start_paused = true)]
    async fn the_scheduling_clock_moves_with_the_monotonic_clock_whatever_the_wall_clock_does() {
        let clock = SchedulingClock::start();
        let (started, wall) = (clock.now(), Timestamp::now());
        // An hour of monotonic time passes while the wall clock barely moves, as after the
        // node's clock was stepped back by an hour: scheduling sees the hour.
        tokio::time::advance(std::time::Duration::from_secs(3600)).await;
        let hour = SignedDuration::from_hours(1);
        assert_eq!(clock.now().duration_since(started), hour);
        assert!(Timestamp::now().duration_since(wall) < SignedDuration::from_mins(1));
    }

    fn scheduled_stream() -> ImageStream {
        let mut s = stream("ns", "app");
        for name in ["imported", "fresh"] {
            let mut tag = docker_tag(name, "quay.io/o/app:1");
            tag.import_policy.scheduled = true;
            s.spec.tags.push(tag);
        }
        set_history(&mut s, "imported", vec![event("r", "i", 1)]);
        s
    }

    #[test]
    fn tags_with_status_count_as_imported_at_first_sight() {
        let mut scheduler = Scheduler::new(60, now());
        let last = scheduler.last_imports("ns/app", &scheduled_stream(), now());
        assert_eq!(last.get("imported"), Some(&now()));
        assert_eq!(last.get("fresh"), None, "never imported: due at once");
        let again = scheduler.last_imports("ns/app", &scheduled_stream(), later(60));
        assert_eq!(
            again.get("imported"),
            Some(&now()),
            "the first sight is kept"
        );
    }

    #[test]
    fn a_tag_whose_import_failed_is_not_taken_as_imported_at_first_sight() {
        let mut s = scheduled_stream();
        let failed = crate::api::TagEventCondition {
            type_: "ImportSuccess".into(),
            status: "False".into(),
            reason: "Unauthorized".into(),
            generation: 1,
            ..Default::default()
        };
        let status = s.status.as_mut().expect("a status");
        let list = status.tags.iter_mut().find(|l| l.tag == "imported");
        list.expect("the imported tag").conditions.push(failed);
        let mut scheduler = Scheduler::new(60, now());
        let last = scheduler.last_imports("ns/app", &s, now());
        assert_eq!(
            last.get("imported"),
            None,
            "retried at once after a restart"
        );
        scheduler.record("ns/app", ["imported"], now());
        let again = scheduler.last_imports("ns/app", &s, later(60));
        assert_eq!(again.get("imported"), Some(&now()), "then once an interval");
    }

    #[test]
    fn a_push_makes_its_stream_due_and_its_tags_are_taken_once_or_given_back() {
        let mut scheduler = Scheduler::new(60, now());
        let (first, second) = (("r/a".to_string(), 1), ("r/b".to_string(), 2));
        scheduler.set_due("ns/app", Some(later(600)));
        scheduler.push("ns/app", &["v1".to_string()], &first, later(1));
        scheduler.push(
            "ns/app",
            &["v2".to_string(), "v1".to_string()],
            &second,
            later(2),
        );
        assert_eq!(
            scheduler.take_due(later(1)),
            ["ns/app"],
            "due at the first push"
        );
        assert!(scheduler.has_pushed("ns/app"));
        let taken = scheduler.take_pushed("ns/app");
        let expected = Pushed::from([
            ("v1".to_string(), vec![first.clone(), second.clone()]),
            ("v2".to_string(), vec![second.clone()]),
        ]);
        assert_eq!(taken, expected);
        assert!(!scheduler.has_pushed("ns/app"), "taken once");
        scheduler.restore_pushed("ns/app", taken);
        assert_eq!(scheduler.take_pushed("ns/app"), expected);
        scheduler.restore_pushed("ns/app", Pushed::new());
        assert!(
            !scheduler.has_pushed("ns/app"),
            "nothing given back, no entry"
        );
        scheduler.push("ns/app", &["v1".to_string()], &first, now());
        assert_eq!(
            scheduler.forget("ns/app").len(),
            1,
            "handed over when forgotten"
        );
        assert!(!scheduler.has_pushed("ns/app"));
        assert!(scheduler.take_due(later(5)).is_empty());
    }

    #[test]
    fn a_record_pushed_again_and_again_is_kept_once_at_its_newest_revision() {
        let mut scheduler = Scheduler::new(60, now());
        let tags = ["v1".to_string()];
        for revision in 1..=1000 {
            scheduler.push("ns/app", &tags, &("r/a".to_string(), revision), now());
            // A pass that takes them and fails gives them back.
            let taken = scheduler.take_pushed("ns/app");
            scheduler.restore_pushed("ns/app", taken);
        }
        scheduler.push("ns/app", &tags, &("r/b".to_string(), 7), now());
        scheduler.restore_pushed(
            "ns/app",
            Pushed::from([("v1".to_string(), vec![("r/a".to_string(), 3)])]),
        );
        let expected = vec![("r/a".to_string(), 1000), ("r/b".to_string(), 7)];
        assert_eq!(scheduler.take_pushed("ns/app")["v1"], expected);
    }

    #[test]
    fn streams_a_relist_leaves_out_are_forgotten_with_their_pushes() {
        let mut scheduler = Scheduler::new(60, now());
        for key in ["ns/kept", "ns/gone"] {
            scheduler.record(key, ["latest"], now());
            scheduler.record_repository_import(key, now());
            scheduler.push(
                key,
                &["latest".to_string()],
                &(format!("r/{key}"), 1),
                now(),
            );
        }
        assert_eq!(
            scheduler.stream_keys(),
            HashSet::from(["ns/kept".to_string(), "ns/gone".to_string()])
        );
        let dropped = scheduler.retain_streams(|key| key == "ns/kept");
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].0, "ns/gone");
        assert!(scheduler.has_pushed("ns/kept") && !scheduler.has_pushed("ns/gone"));
        assert!(scheduler.repository_attempts("ns/gone").last.is_none());
        assert!(scheduler.repository_attempts("ns/kept").last.is_some());
        assert_eq!(scheduler.take_due(later(5)), ["ns/kept"]);
    }

    #[test]
    fn records_of_removed_tags_are_dropped() {
        let mut scheduler = Scheduler::new(60, now());
        scheduler.record("ns/app", ["gone", "fresh"], now());
        let last = scheduler.last_imports("ns/app", &scheduled_stream(), now());
        assert!(!last.contains_key("gone"));
        assert!(last.contains_key("fresh"));
    }

    #[test]
    fn a_stream_that_schedules_nothing_leaves_no_record() {
        let mut scheduler = Scheduler::new(60, now());
        let unscheduled = stream("ns", "plain");
        assert!(scheduler
            .last_imports("ns/plain", &unscheduled, now())
            .is_empty());
        assert!(scheduler.last.is_empty());
        scheduler.last_imports("ns/app", &scheduled_stream(), now());
        assert_eq!(scheduler.last.len(), 1);
    }

    #[test]
    fn due_streams_come_out_most_overdue_first_and_once() {
        let mut scheduler = Scheduler::new(60, now());
        scheduler.set_due("b", Some(later(2)));
        scheduler.set_due("a", Some(later(1)));
        scheduler.set_due("c", Some(later(100)));
        assert!(scheduler.take_due(now()).is_empty());
        assert_eq!(scheduler.take_due(later(5)), ["a", "b"]);
        assert!(scheduler.take_due(later(5)).is_empty());
        scheduler.forget("c");
        assert!(scheduler.take_due(later(200)).is_empty());
        scheduler.record_repository_import("c", now());
        assert_eq!(scheduler.repository_attempts("c").last, Some(now()));
        scheduler.forget("c");
        assert_eq!(
            scheduler.repository_attempts("c").last,
            None,
            "forgotten with the stream"
        );
    }

    #[test]
    fn the_budget_limits_scheduled_imports_per_minute() {
        let mut scheduler = Scheduler::new(2, now());
        for key in ["a", "b", "c", "d"] {
            scheduler.set_due(key, Some(now()));
        }
        assert_eq!(scheduler.take_due(now()).len(), 2, "a burst of the budget");
        assert!(
            scheduler.take_due(later(10)).is_empty(),
            "a third of a token"
        );
        assert_eq!(
            scheduler.take_due(later(31)).len(),
            1,
            "one token a half minute"
        );
        assert_eq!(scheduler.take_due(later(3600)).len(), 1, "what is left");
    }

    #[test]
    fn behind_is_how_long_the_most_overdue_stream_left_by_the_budget_has_waited() {
        let mut scheduler = Scheduler::new(1, now());
        assert_eq!(scheduler.behind(now()), (Duration::ZERO, 0));
        scheduler.set_due("a", Some(now()));
        scheduler.set_due("b", Some(later(10)));
        scheduler.set_due("c", Some(later(500)));
        assert_eq!(scheduler.take_due(later(20)), ["a"], "the budget: one");
        assert_eq!(
            scheduler.behind(later(20)),
            (Duration::from_secs(10), 1),
            "b, due at 10; c is not due yet"
        );
        assert_eq!(scheduler.behind(later(600)), (Duration::from_secs(590), 2));
        assert_eq!(scheduler.take_due(later(600)).len(), 1);
        assert_eq!(scheduler.take_due(later(660)).len(), 1);
        assert_eq!(
            scheduler.behind(later(660)),
            (Duration::ZERO, 0),
            "caught up"
        );
    }

    #[test]
    fn ticks_are_a_quarter_interval_within_bounds() {
        assert_eq!(
            tick_period(Duration::from_secs(900)),
            Duration::from_secs(5)
        );
        assert_eq!(
            tick_period(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        assert_eq!(
            tick_period(Duration::from_millis(1)),
            Duration::from_millis(50)
        );
    }
}
