//! Registries that did not answer, remembered for a while (pure: the clock is an argument).
//!
//! A registry that accepts connections and never answers costs every import that asks it the
//! whole timeout, and each such pass holds one of the importer's workers: fifty streams on one
//! firewalled registry would keep four workers busy for minutes, while other namespaces'
//! streams wait. Once something did not answer, the imports that would ask it in the next
//! [`QUIET`] fail at once, saying so, and are tried again when the quiet ends.
//!
//! What is remembered is what did not answer: the host when no connection could be made in
//! time, one repository when a request on a made connection went unanswered (a pull-through
//! cache hanging on one slow upstream answers its other repositories). Any answer from the
//! host (an error status included) ends the host's silence, except `429 Too Many Requests`:
//! a registry limiting its rate (Docker Hub's pull limit) is not asked for [`QUIET`] either,
//! so that the rest of a pass does not spend what is left of the limit on more refusals.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::importer::registry::ImportError;
use crate::reference::ImageRef;

/// How long something that did not answer is not asked again.
pub const QUIET: Duration = Duration::from_secs(60);

/// How a question to a registry went, for [`SilentRegistries::note`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// An answer, of any kind.
    Answer,
    /// A connection, but no answer to the request in time.
    NothingOnTheConnection,
    /// No connection in time.
    NoConnection,
    /// `429 Too Many Requests`: the host limits its rate.
    RateLimited,
}

impl Heard {
    /// How a question went that ended in `error` (`None`: it was answered).
    pub fn of(error: Option<&ImportError>) -> Self {
        match error {
            Some(error) if error.is_unreachable_host() => Self::NoConnection,
            Some(error) if error.is_no_answer() => Self::NothingOnTheConnection,
            Some(error) if error.is_rate_limited() => Self::RateLimited,
            _ => Self::Answer,
        }
    }
}

/// The registries heard from, shared by the background importer and the imports asked through
/// the API, so that what one learns (a 429 above all) spares the other a question.
pub type SharedSilence = std::sync::Arc<std::sync::Mutex<SilentRegistries>>;

/// Notes in `shared` how a question about `source` went, ignoring a poisoned lock (the map is
/// whole after any panic).
pub fn note(shared: &SharedSilence, source: &ImageRef, error: Option<&ImportError>) {
    let mut silent = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    silent.note(source, Heard::of(error), Instant::now());
}

/// The failure of a question about `source` not asked because its registry or repository
/// did not answer a moment ago; `None` when it may be asked.
pub fn unasked(shared: &SharedSilence, source: &ImageRef) -> Option<ImportError> {
    let silence = shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .silence(source, Instant::now())?;
    let Silence {
        what,
        ago,
        retry_in,
        why,
    } = silence;
    Some(ImportError::Silent {
        what,
        ago,
        retry_in,
        why,
    })
}

/// Why something is not asked for a while.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    /// It did not answer.
    NoAnswer,
    /// It answered `429 Too Many Requests`.
    RateLimited,
}

/// Hosts and `host/repository`s that did not answer, and when.
#[derive(Debug, Default)]
pub struct SilentRegistries {
    since: HashMap<String, (Instant, Why)>,
}

/// What is not asked now, how long ago it went silent, and how long until it is asked again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Silence {
    /// The host, or `host/repository`.
    pub what: String,
    /// How long ago it did not answer.
    pub ago: Duration,
    /// How long until it is asked again.
    pub retry_in: Duration,
    /// Why it is not asked.
    pub why: Why,
}

impl SilentRegistries {
    /// Whether `source` is not to be asked at `now`: its host, or its repository, did not
    /// answer less than [`QUIET`] ago.
    pub fn silence(&self, source: &ImageRef, now: Instant) -> Option<Silence> {
        let (host, repository) = keys(source);
        [host, repository].into_iter().find_map(|what| {
            let (at, why) = *self.since.get(&what)?;
            let ago = now.saturating_duration_since(at);
            (ago < QUIET).then(|| Silence {
                what,
                ago,
                retry_in: QUIET - ago,
                why,
            })
        })
    }

    /// Notes how a question about `source` asked at `now` went.
    pub fn note(&mut self, source: &ImageRef, heard: Heard, now: Instant) {
        let (host, repository) = keys(source);
        match heard {
            Heard::Answer => {
                self.since.remove(&host);
                self.since.remove(&repository);
            }
            Heard::NothingOnTheConnection => {
                self.since.remove(&host);
                self.since.insert(repository, (now, Why::NoAnswer));
            }
            Heard::NoConnection => {
                self.since.insert(host, (now, Why::NoAnswer));
            }
            Heard::RateLimited => {
                self.since.insert(host, (now, Why::RateLimited));
            }
        }
        // Old entries go with any note, so the map holds only what went silent recently.
        self.since
            .retain(|_, (at, _)| now.saturating_duration_since(*at) < QUIET);
    }
}

/// The host and `host/repository` of `source`, with Docker's defaults.
fn keys(source: &ImageRef) -> (String, String) {
    let full = source.docker_client_defaults();
    let path = [full.namespace.as_str(), full.name.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    (full.registry.clone(), format!("{}/{path}", full.registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(pull_spec: &str) -> ImageRef {
        ImageRef::parse(pull_spec).unwrap()
    }

    #[test]
    fn an_unreachable_host_silences_all_its_repositories_for_a_while() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut silent = SilentRegistries::default();
        assert_eq!(silent.silence(&image("quay.io/a/x:1"), start), None);

        silent.note(&image("quay.io/a/x:1"), Heard::NoConnection, start);
        let expected = Silence {
            what: "quay.io".into(),
            ago: Duration::from_secs(5),
            retry_in: Duration::from_secs(55),
            why: Why::NoAnswer,
        };
        assert_eq!(
            silent.silence(&image("quay.io/b/y:2"), at(5)),
            Some(expected)
        );
        assert_eq!(silent.silence(&image("ghcr.io/a/x:1"), at(5)), None);
        assert_eq!(
            silent.silence(&image("quay.io/b/y:2"), at(60)),
            None,
            "asked again"
        );
    }

    #[test]
    fn an_unanswered_request_silences_only_its_repository() {
        let start = Instant::now();
        let mut silent = SilentRegistries::default();
        silent.note(
            &image("cache.local/slow/app:1"),
            Heard::NothingOnTheConnection,
            start,
        );
        let later = start + Duration::from_secs(1);
        let silence = silent.silence(&image("cache.local/slow/app:2"), later);
        assert_eq!(silence.map(|s| s.what), Some("cache.local/slow/app".into()));
        assert_eq!(
            silent.silence(&image("cache.local/fast/app:1"), later),
            None
        );
    }

    #[test]
    fn a_host_limiting_its_rate_is_not_asked_for_a_while_and_says_why() {
        let start = Instant::now();
        let mut silent = SilentRegistries::default();
        silent.note(&image("docker.io/library/a:1"), Heard::RateLimited, start);
        let later = start + Duration::from_secs(10);
        let silence = silent.silence(&image("redis:7"), later);
        let got = silence.map(|s| (s.what, s.why));
        assert_eq!(got, Some(("docker.io".into(), Why::RateLimited)));
        assert_eq!(silent.silence(&image("redis:7"), start + QUIET), None);
    }

    #[test]
    fn any_answer_ends_a_silence_and_old_ones_are_forgotten() {
        let start = Instant::now();
        let mut silent = SilentRegistries::default();
        silent.note(&image("quay.io/a/x:1"), Heard::NoConnection, start);
        silent.note(&image("quay.io/b/y:1"), Heard::Answer, start);
        assert_eq!(silent.silence(&image("quay.io/a/x:1"), start), None);

        silent.note(&image("old.example/a:1"), Heard::NoConnection, start);
        silent.note(
            &image("new.example/a:1"),
            Heard::NoConnection,
            start + QUIET,
        );
        assert_eq!(silent.since.len(), 1);
        assert!(silent.since.contains_key("new.example"));
    }
}
