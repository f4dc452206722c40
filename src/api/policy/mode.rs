//! The five resolution modes and the table of what each one does (openshift-semantics §3.3).

use std::fmt;
use std::str::FromStr;

use serde::{de, Deserialize, Deserializer, Serialize};

/// How image references are resolved and whether they are rewritten (§3.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub enum ResolveMode {
    /// Resolve, fail admission on error, rewrite on success.
    RequiredRewrite,
    /// Resolve, fail admission on error, never rewrite.
    Required,
    /// Resolve, ignore errors, rewrite on success.
    AttemptRewrite,
    /// Resolve, ignore errors, never rewrite (OpenShift's default).
    #[default]
    Attempt,
    /// Do not resolve.
    DoNotAttempt,
}

impl ResolveMode {
    /// Every mode, in the order OpenShift documents them.
    pub const ALL: [Self; 5] = [
        Self::RequiredRewrite,
        Self::Required,
        Self::AttemptRewrite,
        Self::Attempt,
        Self::DoNotAttempt,
    ];

    /// Whether references are resolved at all.
    pub fn attempts(self) -> bool {
        self != Self::DoNotAttempt
    }

    /// Whether a resolution error fails admission.
    pub fn fails(self) -> bool {
        matches!(self, Self::Required | Self::RequiredRewrite)
    }

    /// Whether a successful resolution is written back into the object.
    pub fn rewrites(self) -> bool {
        matches!(self, Self::AttemptRewrite | Self::RequiredRewrite)
    }

    /// The mode's name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiredRewrite => "RequiredRewrite",
            Self::Required => "Required",
            Self::AttemptRewrite => "AttemptRewrite",
            Self::Attempt => "Attempt",
            Self::DoNotAttempt => "DoNotAttempt",
        }
    }
}

impl fmt::Display for ResolveMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not one of the five modes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown image resolution mode {0:?}: expected RequiredRewrite, Required, AttemptRewrite, Attempt or DoNotAttempt")]
pub struct UnknownMode(pub String);

impl FromStr for ResolveMode {
    type Err = UnknownMode;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|mode| mode.as_str() == text)
            .ok_or_else(|| UnknownMode(text.to_string()))
    }
}

/// Reads a mode where absent, null and `""` all mean "unset".
pub(super) fn optional_mode<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<ResolveMode>, D::Error> {
    match Option::<String>::deserialize(deserializer)?.as_deref() {
        None | Some("") => Ok(None),
        Some(text) => text.parse().map(Some).map_err(de::Error::custom),
    }
}

/// Reads the global mode, where unset means `Attempt`.
pub(super) fn mode_or_attempt<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<ResolveMode, D::Error> {
    optional_mode(deserializer).map(Option::unwrap_or_default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_table_matches_openshift() {
        use ResolveMode::*;
        let table = [
            (RequiredRewrite, true, true, true),
            (Required, true, true, false),
            (AttemptRewrite, true, false, true),
            (Attempt, true, false, false),
            (DoNotAttempt, false, false, false),
        ];
        for (mode, attempts, fails, rewrites) in table {
            assert_eq!(
                (mode.attempts(), mode.fails(), mode.rewrites()),
                (attempts, fails, rewrites),
                "{mode}"
            );
            assert_eq!(mode.as_str().parse::<ResolveMode>(), Ok(mode));
        }
    }

    #[test]
    fn unknown_mode_names_the_valid_ones() {
        let error = "Sometimes".parse::<ResolveMode>().unwrap_err();
        assert!(error
            .to_string()
            .starts_with("unknown image resolution mode \"Sometimes\""));
    }
}
