//! Which of a repository's tags a repository import takes, in OpenShift's order (pure).
//!
//! openshift-apiserver's `importRepositoryFromDocker` (`pkg/image/apiserver/importer/
//! importer.go`) lists every tag, treats an empty one as `latest`, removes duplicates, sorts
//! them by name, then orders them with library-go's `imageutil.PrioritizeTags`
//! (`pkg/image/imageutil/helpers.go`) and imports the first `MaxImagesBulkImportedPerRepository`
//! (50 by default): `latest` first, then minor versions (`5.1`, `v5.1`, `5.1-rc1`) newest first,
//! then full semantic versions (`5.1.3`, `v5.1.3-beta.1`) newest first, then every other tag by
//! name. Versions are compared as `github.com/blang/semver` (v3) parses and compares them.

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// How many tags one repository import takes: OpenShift's default
/// `imagePolicyConfig.maxImagesBulkImportedPerRepository`.
pub const MAX_TAGS_PER_REPOSITORY: usize = 50;

/// The tag an empty listed tag stands for.
const LATEST: &str = "latest";

/// The tags to import first to last: `listed` without duplicates, an empty tag read as
/// `latest`, in `PrioritizeTags` order.
pub fn prioritized(listed: impl IntoIterator<Item = String>) -> Vec<String> {
    let unique: BTreeSet<String> = listed
        .into_iter()
        .map(|tag| match tag.is_empty() {
            true => LATEST.to_string(),
            false => tag,
        })
        .collect();
    let mut ranked: Vec<Ranked> = unique.into_iter().map(Ranked::of).collect();
    // Stable over the sorted names, as Go's sort over a sorted slice is in every case where
    // two tags compare equal (none do: a tag cannot hold the `+` of build metadata).
    ranked.sort_by(Ranked::compare);
    ranked.into_iter().map(|r| r.tag).collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Priority {
    Latest,
    Minor,
    Full,
    Other,
}

/// A tag with what `PrioritizeTags` orders it by.
#[derive(Debug)]
struct Ranked {
    tag: String,
    priority: Priority,
    version: Option<Version>,
    /// `v` when the tag starts with it, else empty.
    prefix: &'static str,
}

impl Ranked {
    fn of(tag: String) -> Self {
        let (prefix, short) = match tag.strip_prefix('v') {
            Some(rest) => ("v", rest),
            None => ("", tag.as_str()),
        };
        let (priority, version) = if tag == LATEST {
            (Priority::Latest, None)
        } else if let Some(version) = Version::parse(short) {
            (Priority::Full, Some(version))
        } else if let Some(version) = minor_version(short) {
            (Priority::Minor, Some(version))
        } else {
            (Priority::Other, None)
        };
        Self {
            priority,
            version,
            prefix,
            tag,
        }
    }

    fn compare(a: &Self, b: &Self) -> Ordering {
        let by_priority = a.priority.cmp(&b.priority);
        if by_priority != Ordering::Equal || a.priority == Priority::Latest {
            return by_priority;
        }
        if a.priority == Priority::Other {
            return a.tag.cmp(&b.tag);
        }
        // Newer versions first; the same version without `v` before the one with it.
        b.version
            .cmp(&a.version)
            .then_with(|| a.prefix.cmp(b.prefix))
    }
}

/// `5.1` as 5.1.0 and `5.1-rc1` as 5.1.0-rc1 (library-go's `reMinorSemantic` and
/// `reMinorWithPatch`, `\w` being `[0-9A-Za-z_]`).
fn minor_version(short: &str) -> Option<Version> {
    let (numbers, suffix) = match short.split_once('-') {
        Some((numbers, suffix)) => (numbers, Some(suffix)),
        None => (short, None),
    };
    let (major, minor) = numbers.split_once('.')?;
    if !all_digits(major) || !all_digits(minor) {
        return None;
    }
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    match suffix {
        None => Version::parse(&format!("{numbers}.0")),
        Some(suffix) if word(suffix) => Version::parse(&format!("{numbers}.0-{suffix}")),
        Some(_) => None,
    }
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// A version as blang/semver v3 parses it: `MAJOR.MINOR.PATCH[-PRE][+BUILD]`, numbers without
/// leading zeros, pre-release and build parts of `[0-9A-Za-z-]`. Build metadata does not
/// take part in the order, so it is checked and dropped.
#[derive(Debug, PartialEq, Eq)]
struct Version {
    core: [u64; 3],
    pre: Vec<Pre>,
}

/// A pre-release part: numbers sort before words.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Pre {
    Number(u64),
    Word(String),
}

impl Version {
    fn parse(text: &str) -> Option<Self> {
        let (rest, build) = match text.split_once('+') {
            Some((rest, build)) => (rest, Some(build)),
            None => (text, None),
        };
        if build.is_some_and(|b| !b.split('.').all(is_identifier)) {
            return None;
        }
        let (core, pre) = match rest.split_once('-') {
            Some((core, pre)) => (core, Some(pre)),
            None => (rest, None),
        };
        let mut numbers = core.splitn(3, '.').map(number);
        let core = [numbers.next()??, numbers.next()??, numbers.next()??];
        let pre = match pre {
            None => Vec::new(),
            Some(pre) => pre.split('.').map(pre_part).collect::<Option<_>>()?,
        };
        Some(Self { core, pre })
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.core.cmp(&other.core).then_with(|| {
            match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                // A release is newer than any of its pre-releases.
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            }
        })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn number(text: &str) -> Option<u64> {
    let leading_zero = text.len() > 1 && text.starts_with('0');
    (all_digits(text) && !leading_zero)
        .then(|| text.parse().ok())
        .flatten()
}

fn pre_part(text: &str) -> Option<Pre> {
    if all_digits(text) {
        return number(text).map(Pre::Number);
    }
    is_identifier(text).then(|| Pre::Word(text.to_string()))
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(listed: &[&str], expected: &[&str]) {
        let listed = listed.iter().map(|t| t.to_string());
        assert_eq!(prioritized(listed), expected, "{expected:?}");
    }

    #[test]
    fn latest_comes_first_then_minor_then_full_versions_newest_first_then_the_rest_by_name() {
        check(
            &[
                "other", "5.0", "v5.1", "5.1.3", "latest", "5.1", "abc", "4.9.9", "v6.0.0",
            ],
            &[
                "latest", "5.1", "v5.1", "5.0", "v6.0.0", "5.1.3", "4.9.9", "abc", "other",
            ],
        );
    }

    #[test]
    fn an_empty_tag_is_latest_and_duplicates_count_once() {
        check(&["", "latest", "1.0", "1.0"], &["latest", "1.0"]);
    }

    #[test]
    fn pre_releases_follow_their_release_and_minor_ones_rank_as_minor_versions() {
        check(
            &[
                "5.1-rc1",
                "5.1",
                "5.1-rc2",
                "5.2.0-beta.2",
                "5.2.0",
                "5.2.0-beta.10",
                "5.2.0-1",
            ],
            &[
                "5.1",
                "5.1-rc2",
                "5.1-rc1",
                "5.2.0",
                "5.2.0-beta.10",
                "5.2.0-beta.2",
                "5.2.0-1",
            ],
        );
    }

    #[test]
    fn numbers_compare_as_numbers_and_malformed_versions_are_other_tags() {
        check(
            &[
                "1.10", "1.9", "01.2", "1.2.03", "1", "v", "1.2.3.4", "1.2-rc_1", "1.2-a.b",
            ],
            &[
                "1.10", "1.9", "01.2", "1", "1.2-a.b", "1.2-rc_1", "1.2.03", "1.2.3.4", "v",
            ],
        );
    }

    #[test]
    fn versions_parse_as_blang_semver_does() {
        let parsed = |text: &str| Version::parse(text).map(|v| (v.core, v.pre.len()));
        assert_eq!(parsed("1.2.3"), Some(([1, 2, 3], 0)));
        assert_eq!(parsed("1.2.3-rc.1+build.5"), Some(([1, 2, 3], 2)));
        assert_eq!(parsed("0.0.0-x-y"), Some(([0, 0, 0], 1)));
        for bad in [
            "1.2",
            "1.2.3-",
            "1.2.3-01",
            "1.2.3+",
            "1.2.x",
            "1..3",
            "",
            "1.2.3-a_b",
        ] {
            assert_eq!(parsed(bad), None, "{bad}");
        }
        assert_eq!(
            parsed("18446744073709551616.0.0"),
            None,
            "beyond u64, as ParseUint"
        );
    }
}
