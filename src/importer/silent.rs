//! Registries that did not answer, remembered for a while (pure: the clock is an argument).
//!
//! A registry that accepts connections and never answers costs every import that asks it the
//! whole timeout, and each such pass holds one of the importer's workers: fifty streams on one
//! firewalled registry would keep four workers busy for minutes, while other namespaces'
//! streams wait. Once a registry has not answered, the imports that would ask it in the next
//! [`QUIET`] fail at once, saying so, and are retried at the next interval like any failure;
//! the first answer from it (an error status included) ends the silence.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a registry that did not answer is not asked again.
pub const QUIET: Duration = Duration::from_secs(60);

/// Registry hosts that did not answer, and when.
#[derive(Debug, Default)]
pub struct SilentRegistries {
    since: HashMap<String, Instant>,
}

impl SilentRegistries {
    /// How long ago `host` last did not answer, if that was less than [`QUIET`] before `now`.
    pub fn silent_for(&self, host: &str, now: Instant) -> Option<Duration> {
        let ago = now.saturating_duration_since(*self.since.get(host)?);
        (ago < QUIET).then_some(ago)
    }

    /// Notes how `host` responded to a question asked at `now`: `answered` is false when it
    /// did not answer in time.
    pub fn record(&mut self, host: &str, answered: bool, now: Instant) {
        match answered {
            true => {
                self.since.remove(host);
            }
            false => {
                self.since.insert(host.to_string(), now);
            }
        }
        // Old entries go with any write, so the map holds only hosts silent recently.
        self.since
            .retain(|_, at| now.saturating_duration_since(*at) < QUIET);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_registry_is_left_alone_for_a_while_and_an_answer_ends_it() {
        let start = Instant::now();
        let at = |seconds: u64| start + Duration::from_secs(seconds);
        let mut silent = SilentRegistries::default();
        assert_eq!(silent.silent_for("quay.io", start), None);

        silent.record("quay.io", false, start);
        assert_eq!(
            silent.silent_for("quay.io", at(5)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            silent.silent_for("ghcr.io", at(5)),
            None,
            "other hosts are asked"
        );
        assert_eq!(
            silent.silent_for("quay.io", at(60)),
            None,
            "then asked again"
        );

        silent.record("quay.io", false, at(60));
        silent.record("quay.io", true, at(61));
        assert_eq!(silent.silent_for("quay.io", at(61)), None);
    }

    #[test]
    fn hosts_silent_long_ago_are_forgotten() {
        let start = Instant::now();
        let mut silent = SilentRegistries::default();
        silent.record("old.example", false, start);
        silent.record("new.example", false, start + Duration::from_secs(90));
        assert_eq!(silent.since.len(), 1);
        assert!(silent.since.contains_key("new.example"));
    }
}
