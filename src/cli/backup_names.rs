//! The names of the embedded store's backups (`serve --backup-dir`): `store-<UTC time>.redb`,
//! written as `store-<UTC time>.partial` until whole. `serve` reads them to know when the next
//! backup is due and which to remove; `restore-store` to find the newest in a directory, and
//! names the store it replaces `store.replaced-<UTC time>`. The
//! time is in the name, not taken from the file's mtime, so that a copy of the directory (a
//! sidecar shipping it away, `kubectl cp`) keeps its order.

use jiff::{civil::DateTime, tz::TimeZone, Timestamp};

const PREFIX: &str = "store-";
const SUFFIX: &str = ".redb";
/// Sorts as the time it names, so names sort in the order backups were written.
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// The names in the directory `dir` (those that are not UTF-8 are no backups of ours).
pub(crate) fn names_in(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Ok(name) = entry?.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// The name of a backup written at `at`.
pub(crate) fn backup_name(at: Timestamp) -> String {
    format!("{PREFIX}{}{SUFFIX}", at.strftime(TIME_FORMAT))
}

/// When the backup named `name` was written; `None` for any other file.
pub(crate) fn written_at(name: &str) -> Option<Timestamp> {
    let time = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    let time = time.strip_suffix('Z')?;
    let civil = DateTime::strptime("%Y%m%dT%H%M%S", time).ok()?;
    Some(civil.to_zoned(TimeZone::UTC).ok()?.timestamp())
}

/// The name a restore keeps the store it replaces under, beside it: `store.replaced-<UTC time>`.
pub(crate) fn replaced_name(at: Timestamp) -> String {
    format!("store.replaced-{}", at.strftime(TIME_FORMAT))
}

/// Whether `name` is a backup still being written, or left half written by a crash.
pub(crate) fn is_partial(name: &str) -> bool {
    name.starts_with(PREFIX) && name.ends_with(".partial")
}

/// The newest whole backup among `names`, by the time its name holds; `None` without one.
pub(crate) fn newest(names: &[String]) -> Option<&str> {
    names
        .iter()
        .filter_map(|name| Some((written_at(name)?, name.as_str())))
        .max()
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a timestamp")
    }

    #[test]
    fn backup_names_hold_their_time_and_sort_as_it() {
        let name = backup_name(at("2026-12-01T02:30:05.123Z"));
        assert_eq!(name, "store-20261201T023005Z.redb");
        assert_eq!(written_at(&name), Some(at("2026-12-01T02:30:05Z")));
        assert!(backup_name(at("2026-12-01T09:00:00Z")) < backup_name(at("2026-12-01T10:00:00Z")));
        for other in [
            "store",
            "store-x.redb",
            "store-20261201T023005Z.partial",
            "notes.txt",
        ] {
            assert_eq!(written_at(other), None, "{other}");
        }
    }

    #[test]
    fn the_newest_backup_is_the_latest_whole_one_named() {
        let names = |list: &[&str]| list.iter().map(|name| name.to_string()).collect::<Vec<_>>();
        let cases: [(&[&str], Option<&str>); 4] = [
            (&[], None),
            (
                &["store", "store-20261201T030000Z.partial", "notes.txt"],
                None,
            ),
            (
                &[
                    "store-20261201T010000Z.redb",
                    "store-20261201T040000Z.partial",
                    "store-20261201T030000Z.redb",
                    "store-20261130T230000Z.redb",
                ],
                Some("store-20261201T030000Z.redb"),
            ),
            (
                &["store-x.redb", "store-20261201T010000Z.redb"],
                Some("store-20261201T010000Z.redb"),
            ),
        ];
        for (list, expected) in cases {
            assert_eq!(newest(&names(list)), expected, "{list:?}");
        }
    }

    #[test]
    fn only_backups_of_ours_being_written_are_partial() {
        assert!(is_partial("store-20261201T030000Z.partial"));
        for other in ["store-20261201T030000Z.redb", "other.partial", "store"] {
            assert!(!is_partial(other), "{other}");
        }
    }
}
