//! Options of a list or a watch: `resourceVersion`, `resourceVersionMatch`, `continue`,
//! selectors, `limit`, `timeoutSeconds`, `sendInitialEvents`.

use serde_json::Value;

use crate::apiserver::error::{ApiError, LIST_OPTIONS};
use crate::apiserver::fields::{FieldSelector, FieldSet};
use crate::apiserver::selector::LabelSelector;
use crate::field::FieldError;

use super::continue_token::ContinueToken;
use super::query::Query;

/// A `resourceVersion` parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResourceVersion {
    /// Absent or empty: the most recent, consistent state.
    #[default]
    Unset,
    /// `"0"`: any state is fine (the apiserver may serve its cache).
    Any,
    /// A store revision.
    At(u64),
}

impl ResourceVersion {
    /// Parses a decimal revision; anything else is a 400.
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        match raw {
            "" => return Ok(Self::Unset),
            "0" => return Ok(Self::Any),
            _ => {}
        }
        let digits = raw.bytes().all(|b| b.is_ascii_digit());
        match raw.parse::<u64>() {
            Ok(revision) if digits => Ok(Self::At(revision)),
            _ => {
                let why = if digits {
                    "value out of range"
                } else {
                    "invalid syntax"
                };
                let detail = format!("strconv.ParseUint: parsing {raw:?}: {why}");
                let error = FieldError::invalid("resourceVersion", raw, detail);
                Err(ApiError::BadRequest(error.to_string()))
            }
        }
    }
}

/// Where a list reads, from `resourceVersion`, `resourceVersionMatch` and `continue`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListRead {
    /// No resourceVersion: a consistent read at the current revision.
    Latest,
    /// `resourceVersion=0`: any revision, the current one is fine.
    Any,
    /// At least this revision (`NotOlderThan`, or a bare resourceVersion): wait, then 504.
    NotOlderThan(u64),
    /// Exactly this revision (`Exact`): needs history, else 410.
    Exact(u64),
    /// The next page of an earlier list: same snapshot, keys after `start`.
    Continue(ContinueToken),
}

// === list and watch ===

/// Options of a list (or a deletecollection).
#[derive(Clone, Debug, PartialEq)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: LabelSelector,
    /// `fieldSelector`, already checked against the kind's fields.
    pub field_selector: FieldSelector,
    /// `limit`; `None` when absent or 0.
    pub limit: Option<u64>,
    /// Which state to read.
    pub read: ListRead,
    /// `timeoutSeconds`; `None` when absent or 0.
    pub timeout_seconds: Option<u64>,
}

impl ListOptions {
    /// Whether an object (its JSON) passes both selectors.
    pub fn matches(&self, object: &Value) -> bool {
        self.label_selector.matches_object(object) && self.field_selector.matches(object)
    }
}

/// Where a watch starts (k8s-api-contract §3.3, §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchStart {
    /// resourceVersion unset or `0`: synthetic `ADDED` for every matching object, then changes.
    Snapshot,
    /// `sendInitialEvents=false` without a revision: only changes from now on.
    Now,
    /// Only changes after this revision (410 in-band if it is below the retained history, 504
    /// `Too large resource version` in-band if the store does not reach it within seconds).
    After(u64),
    /// `sendInitialEvents=true`: `ADDED` for the current state (at least `not_older_than`),
    /// then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`, then changes.
    InitialEvents {
        /// The revision the initial state must reach, if one was given.
        not_older_than: Option<u64>,
    },
}

/// Options of a watch (`watch=true` or `watch=1` on a collection).
#[derive(Clone, Debug, PartialEq)]
pub struct WatchOptions {
    /// `labelSelector`.
    pub label_selector: LabelSelector,
    /// `fieldSelector`, already checked against the kind's fields.
    pub field_selector: FieldSelector,
    /// `resourceVersion`.
    pub resource_version: ResourceVersion,
    /// `sendInitialEvents`, if given (validation guarantees `resourceVersionMatch=NotOlderThan`).
    pub send_initial_events: Option<bool>,
    /// `allowWatchBookmarks`: never send a BOOKMARK unless it is set.
    pub allow_watch_bookmarks: bool,
    /// `timeoutSeconds`; `None` lets the server choose, `Some(0)` (a negative value) ends at once.
    pub timeout_seconds: Option<u64>,
}

impl WatchOptions {
    /// Whether an object (its JSON) passes both selectors; an update that moves an object
    /// out of the selection is sent as `DELETED`, one that moves it in as `ADDED`.
    pub fn matches(&self, object: &Value) -> bool {
        self.label_selector.matches_object(object) && self.field_selector.matches(object)
    }

    /// Where the stream begins.
    pub fn start(&self) -> WatchStart {
        let at = match self.resource_version {
            ResourceVersion::At(revision) => Some(revision),
            _ => None,
        };
        match (self.send_initial_events, at) {
            (Some(true), at) => WatchStart::InitialEvents { not_older_than: at },
            (_, Some(revision)) => WatchStart::After(revision),
            (Some(false), None) => WatchStart::Now,
            (None, None) => WatchStart::Snapshot,
        }
    }
}

/// A GET or a WATCH on a collection URL.
#[derive(Clone, Debug, PartialEq)]
pub enum ListRequest {
    /// A plain list.
    List(ListOptions),
    /// A watch stream.
    Watch(WatchOptions),
}

impl ListRequest {
    /// Decodes and validates a collection query. `watch_list` says whether streaming lists
    /// (`sendInitialEvents`) are served; if not they are refused with 422, never ignored.
    pub fn parse(query: &Query, fields: &FieldSet, watch_list: bool) -> Result<Self, ApiError> {
        let raw = RawList::decode(query)?;
        let errors = match raw.watch {
            true => raw.watch_errors(watch_list),
            false => raw.list_errors(),
        };
        if !errors.is_empty() {
            return Err(ApiError::invalid(LIST_OPTIONS, "", errors));
        }
        raw.field_selector.check_fields(fields)?;
        match raw.watch {
            true => raw.into_watch().map(Self::Watch),
            false => raw.into_list().map(Self::List),
        }
    }
}

/// `timeoutSeconds` as the watch handler reads it: 0 means "server default".
fn timeout(seconds: Option<i64>) -> Option<u64> {
    match seconds {
        Some(0) | None => None,
        Some(s) => Some(u64::try_from(s).unwrap_or(0)),
    }
}

/// `metav1.ListOptions` as decoded, before validation.
struct RawList<'q> {
    label_selector: LabelSelector,
    field_selector: FieldSelector,
    watch: bool,
    allow_watch_bookmarks: bool,
    resource_version: &'q str,
    resource_version_match: &'q str,
    timeout_seconds: Option<i64>,
    limit: Option<i64>,
    continue_token: &'q str,
    send_initial_events: Option<bool>,
}

impl<'q> RawList<'q> {
    fn decode(query: &'q Query) -> Result<Self, ApiError> {
        let timeout_seconds = query.int("timeoutSeconds")?;
        let limit = query.int("limit")?;
        if let Some(negative) = limit.filter(|l| *l < 0) {
            let detail = "must be greater than or equal to 0";
            let error = FieldError::invalid("limit", negative, detail);
            return Err(ApiError::BadRequest(error.to_string()));
        }
        Ok(Self {
            label_selector: LabelSelector::parse(query.text("labelSelector"))?,
            field_selector: FieldSelector::parse(query.text("fieldSelector"))?,
            watch: query.watch(),
            allow_watch_bookmarks: query.flag("allowWatchBookmarks").unwrap_or(false),
            resource_version: query.text("resourceVersion"),
            resource_version_match: query.text("resourceVersionMatch"),
            timeout_seconds,
            limit,
            continue_token: query.text("continue"),
            send_initial_events: query.flag("sendInitialEvents"),
        })
    }

    /// `ValidateListOptions` for a non-watch request.
    fn list_errors(&self) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let matching = self.resource_version_match;
        if !matching.is_empty() {
            if self.resource_version.is_empty() {
                errors.push(rvm_forbidden(
                    "resourceVersionMatch is forbidden unless resourceVersion is provided",
                ));
            }
            if !self.continue_token.is_empty() {
                errors.push(rvm_forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
            if !matches!(matching, "Exact" | "NotOlderThan") {
                errors.push(FieldError::not_supported(
                    "resourceVersionMatch",
                    matching,
                    &["Exact", "NotOlderThan", ""],
                ));
            }
            if matching == "Exact" && self.resource_version == "0" {
                errors.push(rvm_forbidden(
                    "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                ));
            }
        }
        if self.send_initial_events.is_some() {
            errors.push(FieldError::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        }
        errors
    }

    /// `validateWatchOptions`.
    fn watch_errors(&self, watch_list: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let matching = self.resource_version_match;
        if self.send_initial_events.is_some() {
            if matching != "NotOlderThan" {
                errors.push(rvm_forbidden(
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if !watch_list {
                errors.push(FieldError::forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
                ));
            }
        }
        if !matching.is_empty() {
            if self.send_initial_events.is_none() {
                errors.push(rvm_forbidden(
                    "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                ));
            }
            if matching != "NotOlderThan" {
                errors.push(FieldError::not_supported(
                    "resourceVersionMatch",
                    matching,
                    &["NotOlderThan"],
                ));
            }
            if !self.continue_token.is_empty() {
                errors.push(rvm_forbidden(
                    "resourceVersionMatch is forbidden when continue is provided",
                ));
            }
        }
        errors
    }

    fn into_list(self) -> Result<ListOptions, ApiError> {
        let resource_version = ResourceVersion::parse(self.resource_version)?;
        let read = if self.continue_token.is_empty() {
            match (resource_version, self.resource_version_match) {
                (ResourceVersion::Unset, _) => ListRead::Latest,
                (ResourceVersion::Any, _) => ListRead::Any,
                (ResourceVersion::At(rv), "Exact") => ListRead::Exact(rv),
                (ResourceVersion::At(rv), _) => ListRead::NotOlderThan(rv),
            }
        } else {
            let token = ContinueToken::decode(self.continue_token)?;
            if let ResourceVersion::At(_) = resource_version {
                return Err(ApiError::bad_request(
                    "specifying resource version is not allowed when using continue",
                ));
            }
            ListRead::Continue(token)
        };
        Ok(ListOptions {
            label_selector: self.label_selector,
            field_selector: self.field_selector,
            limit: self
                .limit
                .and_then(|l| u64::try_from(l).ok())
                .filter(|l| *l > 0),
            read,
            timeout_seconds: timeout(self.timeout_seconds),
        })
    }

    fn into_watch(self) -> Result<WatchOptions, ApiError> {
        Ok(WatchOptions {
            resource_version: ResourceVersion::parse(self.resource_version)?,
            label_selector: self.label_selector,
            field_selector: self.field_selector,
            send_initial_events: self.send_initial_events,
            allow_watch_bookmarks: self.allow_watch_bookmarks,
            timeout_seconds: timeout(self.timeout_seconds),
        })
    }
}

fn rvm_forbidden(detail: &str) -> FieldError {
    FieldError::forbidden("resourceVersionMatch", detail)
}
