//! Query-string and body options of list, watch, get, write and delete requests, decoded and
//! validated the way kube-apiserver does it (k8s-api-contract §2.2, §2.3, §3.1, §3.5, §4).
//!
//! Order of checks, as in the apiserver: decoding (400), then option validation (422 with
//! `details.group: meta.k8s.io` and the options kind), then field-selector fields (400), then
//! what the storage layer checks (resourceVersion and continue token, 400).

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{
    ApiError, GroupKind, GroupResource, CREATE_OPTIONS, DELETE_OPTIONS, LIST_OPTIONS,
    PATCH_OPTIONS, UPDATE_OPTIONS,
};
use super::fields::{FieldSelector, FieldSet};
use super::negotiate::{body_format, decode_body, PatchKind};
use super::selector::LabelSelector;
use crate::field::{FieldError, FieldErrorType};

/// The longest `fieldManager` the apiserver accepts.
pub const FIELD_MANAGER_MAX_LENGTH: usize = 128;

// === Query ===

/// A decoded query string: `+` and `%XX` unescaped, empty pairs (kube-rs sends `?&limit=1`)
/// and undecodable pairs skipped, as Go's `url.ParseQuery` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Decodes `uri.query()` (without the leading `?`).
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty() && !pair.contains(';'))
            .filter_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                Some((unescape(key)?, unescape(value)?))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `key`, as the apiserver's parameter codec reads scalars.
    pub fn get(&self, key: &str) -> Option<&str> {
        let (_, value) = self.pairs.iter().find(|(k, _)| k == key)?;
        Some(value)
    }

    /// Every value of `key`, in order (`dryRun` may repeat).
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `apimachinery`'s bool conversion: anything but `0`, `f` or `false` is true.
    fn flag(&self, key: &str) -> Option<bool> {
        let value = self.get(key)?;
        let falsy =
            value == "0" || value.eq_ignore_ascii_case("f") || value.eq_ignore_ascii_case("false");
        Some(!falsy)
    }

    /// A base-10 integer; blank is unset, garbage is a 400 worded like Go's `strconv`.
    fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(value) = self.get(key).map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        value.parse().map(Some).map_err(|_| {
            let digits = value.trim_start_matches(['+', '-']);
            let why = match !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                true => "value out of range",
                false => "invalid syntax",
            };
            ApiError::BadRequest(format!("strconv.ParseInt: parsing {value:?}: {why}"))
        })
    }

    fn text(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }
}

fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

// === resource versions and continue tokens ===

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

/// The opaque `continue` token: the snapshot revision and the last key returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContinueToken {
    /// The store revision every page of this list is read at.
    pub rv: u64,
    /// The last key of the previous page; the next page starts strictly after it.
    pub start: String,
}

/// Wire form of [`ContinueToken`]: apiserver's shape, so the version can evolve.
#[derive(Serialize, Deserialize)]
struct TokenWire {
    v: String,
    rv: u64,
    start: String,
}

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

/// URL-safe base64; tokens are written unpadded but read either way.
const TOKEN_BASE64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

impl ContinueToken {
    /// The token to put in `metadata.continue`.
    pub fn encode(&self) -> String {
        let wire = TokenWire {
            v: TOKEN_VERSION.into(),
            rv: self.rv,
            start: self.start.clone(),
        };
        TOKEN_BASE64.encode(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// Reads a `continue` parameter; anything malformed is a 400.
    pub fn decode(token: &str) -> Result<Self, ApiError> {
        let invalid = |why: String| {
            ApiError::BadRequest(format!(
                "invalid continue token: continue key is not valid: {why}"
            ))
        };
        let bytes = TOKEN_BASE64
            .decode(token)
            .map_err(|e| invalid(e.to_string()))?;
        let wire: TokenWire = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if wire.v != TOKEN_VERSION {
            let why = format!("server does not recognize this encoded version {}", wire.v);
            return Err(invalid(why));
        }
        if wire.rv == 0 {
            let why = "incorrect encoded start resourceVersion (version meta.k8s.io/v1)";
            return Err(invalid(why.into()));
        }
        if wire.start.is_empty() {
            return Err(invalid(
                "encoded start key empty (version meta.k8s.io/v1)".into(),
            ));
        }
        Ok(Self {
            rv: wire.rv,
            start: wire.start,
        })
    }
}

// === list, watch and get ===

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
    /// Only changes after this revision (410 in-band if it is below the retained history).
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
            watch: query.flag("watch").unwrap_or(false),
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

/// Options of a single-object GET.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// `resourceVersion`: unset or `0` means the latest state, `N` at least revision N.
    pub resource_version: ResourceVersion,
}

impl GetOptions {
    /// Decodes `resourceVersion`.
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        let resource_version = ResourceVersion::parse(query.text("resourceVersion"))?;
        Ok(Self { resource_version })
    }
}

// === writes ===

/// `fieldValidation`: what to do with unknown or duplicate fields in a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Accept, with one `Warning: 299 - "…"` header per problem.
    Warn,
    /// Refuse with 400 (create/update) or 422 (patch).
    Strict,
}

/// Which write the options belong to; it names the options kind in 422s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteVerb {
    /// POST.
    Create,
    /// PUT.
    Update,
    /// PATCH of this kind.
    Patch(PatchKind),
}

/// Query options shared by POST, PUT and PATCH.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// `dryRun=All`: run everything, persist nothing, emit no event.
    pub dry_run: bool,
    /// `fieldManager`, `""` when absent (required for apply).
    pub field_manager: String,
    /// `fieldValidation`, if given. The contract treats absent as `Ignore`; kube-apiserver's
    /// own default is `Warn`. The caller decides.
    pub field_validation: Option<FieldValidation>,
    /// `force`, if given (apply only).
    pub force: Option<bool>,
}

impl WriteOptions {
    /// Decodes and validates (`ValidateCreateOptions`, `…UpdateOptions`, `…PatchOptions`).
    pub fn parse(query: &Query, verb: WriteVerb) -> Result<Self, ApiError> {
        let dry_run: Vec<&str> = query.get_all("dryRun").collect();
        let validation = query.text("fieldValidation");
        let options = Self {
            dry_run: !dry_run.is_empty(),
            field_manager: query.text("fieldManager").to_string(),
            field_validation: match validation {
                "Ignore" => Some(FieldValidation::Ignore),
                "Warn" => Some(FieldValidation::Warn),
                "Strict" => Some(FieldValidation::Strict),
                _ => None,
            },
            force: query.flag("force"),
        };
        let mut errors = match verb {
            WriteVerb::Patch(kind) => options.patch_errors(kind),
            _ => Vec::new(),
        };
        errors.extend(field_manager_errors(&options.field_manager));
        errors.extend(dry_run_errors(&dry_run));
        if !validation.is_empty() && options.field_validation.is_none() {
            let supported = ["Ignore", "Strict", "Warn"];
            errors.push(FieldError::not_supported(
                "fieldValidation",
                validation,
                &supported,
            ));
        }
        match errors.is_empty() {
            true => Ok(options),
            false => Err(ApiError::invalid(verb.options_kind(), "", errors)),
        }
    }

    /// The apply-only rules of `ValidatePatchOptions`, as a 422 of `PatchOptions`.
    pub fn check_patch(&self, kind: PatchKind) -> Result<(), ApiError> {
        let errors = self.patch_errors(kind);
        match errors.is_empty() {
            true => Ok(()),
            false => Err(ApiError::invalid(PATCH_OPTIONS, "", errors)),
        }
    }

    /// Whether apply should take ownership from conflicting managers.
    pub fn forced(&self) -> bool {
        self.force == Some(true)
    }

    fn patch_errors(&self, kind: PatchKind) -> Vec<FieldError> {
        match kind {
            // Even `force=false` is refused: the apiserver checks presence, not value.
            PatchKind::Apply if self.field_manager.is_empty() => {
                vec![FieldError::required(
                    "fieldManager",
                    "is required for apply patch",
                )]
            }
            PatchKind::Apply => Vec::new(),
            _ if self.force.is_some() => vec![FieldError::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )],
            _ => Vec::new(),
        }
    }
}

impl WriteVerb {
    fn options_kind(self) -> GroupKind {
        match self {
            Self::Create => CREATE_OPTIONS,
            Self::Update => UPDATE_OPTIONS,
            Self::Patch(_) => PATCH_OPTIONS,
        }
    }
}

/// `ValidateFieldManager`: at most 128 bytes, printable characters only.
fn field_manager_errors(manager: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if manager.len() > FIELD_MANAGER_MAX_LENGTH {
        errors.push(FieldError {
            kind: FieldErrorType::TooLong,
            field: "fieldManager".into(),
            bad_value: None,
            detail: format!("may not be more than {FIELD_MANAGER_MAX_LENGTH} bytes"),
        });
    }
    for (position, c) in manager.char_indices() {
        if c.is_control() || (c.is_whitespace() && c != ' ') {
            let detail = format!(
                "invalid character U+{:04X} (at position {position})",
                c as u32
            );
            errors.push(FieldError::invalid("fieldManager", manager, detail));
        }
    }
    errors
}

/// `ValidateDryRun`: only `All`. The bad value prints as Go's `%#v` of a `[]string`.
fn dry_run_errors(values: &[&str]) -> Vec<FieldError> {
    if values.iter().all(|v| *v == "All") {
        return Vec::new();
    }
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    vec![FieldError {
        kind: FieldErrorType::NotSupported,
        field: "dryRun".into(),
        bad_value: None,
        detail: format!(
            "[]string{{{}}}: supported values: \"All\"",
            quoted.join(", ")
        ),
    }]
}

// === delete ===

/// `propagationPolicy`. With no garbage collector, all three delete at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropagationPolicy {
    /// Leave dependents.
    Orphan,
    /// Delete dependents in the background.
    Background,
    /// Delete dependents first.
    Foreground,
}

/// Conditions the object must meet to be deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    /// The object's `metadata.uid` must equal this.
    pub uid: Option<String>,
    /// The object's `metadata.resourceVersion` must equal this.
    pub resource_version: Option<String>,
}

impl Preconditions {
    /// A 409 Conflict unless the object's uid and resourceVersion meet the preconditions.
    pub fn check(
        &self,
        resource: GroupResource,
        name: &str,
        uid: &str,
        resource_version: &str,
    ) -> Result<(), ApiError> {
        let failed = |what: &str, wanted: &str, actual: &str| {
            ApiError::Conflict {
            resource,
            name: name.to_string(),
            reason: format!(
                "Precondition failed: {what} in precondition: {wanted}, {what} in object meta: {actual}"
            ),
        }
        };
        if let Some(wanted) = self.uid.as_deref().filter(|w| *w != uid) {
            return Err(failed("UID", wanted, uid));
        }
        match self.resource_version.as_deref() {
            Some(wanted) if wanted != resource_version => {
                Err(failed("ResourceVersion", wanted, resource_version))
            }
            _ => Ok(()),
        }
    }
}

/// `DeleteOptions`, from the body when there is one, else from the query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteOptions {
    /// Accepted and ignored: ImageStreams have no graceful deletion.
    pub grace_period_seconds: Option<i64>,
    /// `propagationPolicy`.
    pub propagation_policy: Option<PropagationPolicy>,
    /// The deprecated `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    /// `preconditions` (body only).
    pub preconditions: Preconditions,
    /// `dryRun: ["All"]`.
    pub dry_run: bool,
}

/// The JSON body as kubectl (`{"propagationPolicy":"Background"}`), kube-rs (`{}`) and
/// client-go send it; unknown members such as `kind` are ignored.
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeleteBody {
    grace_period_seconds: Option<i64>,
    propagation_policy: Option<String>,
    orphan_dependents: Option<bool>,
    #[serde(default)]
    preconditions: Preconditions,
    #[serde(default)]
    dry_run: Vec<String>,
}

impl DeleteOptions {
    /// Decodes the body (JSON or YAML per `content_type`), or the query when the body is empty
    /// (the Python client sends none), then validates like `ValidateDeleteOptions`.
    pub fn parse(body: &[u8], content_type: Option<&str>, query: &Query) -> Result<Self, ApiError> {
        let raw = match body.iter().all(u8::is_ascii_whitespace) {
            true => DeleteBody::from_query(query)?,
            false => DeleteBody::from_bytes(body, content_type)?,
        };
        raw.validate()
    }
}

impl DeleteBody {
    fn from_query(query: &Query) -> Result<Self, ApiError> {
        Ok(Self {
            grace_period_seconds: query.int("gracePeriodSeconds")?,
            propagation_policy: query.get("propagationPolicy").map(str::to_string),
            orphan_dependents: query.flag("orphanDependents"),
            preconditions: Preconditions::default(),
            dry_run: query.get_all("dryRun").map(str::to_string).collect(),
        })
    }

    fn from_bytes(body: &[u8], content_type: Option<&str>) -> Result<Self, ApiError> {
        let value = decode_body(body, body_format(content_type)?)?;
        if value.is_null() {
            return Ok(Self::default());
        }
        serde_json::from_value(value)
            .map_err(|e| ApiError::BadRequest(format!("error decoding DeleteOptions: {e}")))
    }

    fn validate(self) -> Result<DeleteOptions, ApiError> {
        let mut errors = Vec::new();
        if let (Some(_), Some(policy)) = (self.orphan_dependents, &self.propagation_policy) {
            let detail = "orphanDependents and deletionPropagation cannot be both set";
            errors.push(FieldError::invalid(
                "propagationPolicy",
                Value::from(policy.as_str()),
                detail,
            ));
        }
        let policy = match self.propagation_policy.as_deref() {
            None => None,
            Some("Orphan") => Some(PropagationPolicy::Orphan),
            Some("Background") => Some(PropagationPolicy::Background),
            Some("Foreground") => Some(PropagationPolicy::Foreground),
            Some(other) => {
                let supported = ["Foreground", "Background", "Orphan", "nil"];
                errors.push(FieldError::not_supported(
                    "propagationPolicy",
                    other,
                    &supported,
                ));
                None
            }
        };
        let dry_run: Vec<&str> = self.dry_run.iter().map(String::as_str).collect();
        errors.extend(dry_run_errors(&dry_run));
        if !errors.is_empty() {
            return Err(ApiError::invalid(DELETE_OPTIONS, "", errors));
        }
        Ok(DeleteOptions {
            grace_period_seconds: self.grace_period_seconds,
            propagation_policy: policy,
            orphan_dependents: self.orphan_dependents,
            preconditions: self.preconditions,
            dry_run: !dry_run.is_empty(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::error::IMAGE_STREAMS;
    use crate::apiserver::fields::IMAGE_STREAM_FIELDS;

    fn query(raw: &str) -> Query {
        Query::parse(Some(raw))
    }

    fn list(raw: &str) -> ListOptions {
        match ListRequest::parse(&query(raw), &IMAGE_STREAM_FIELDS, true) {
            Ok(ListRequest::List(options)) => options,
            other => panic!("{raw}: {other:?}"),
        }
    }

    fn watch(raw: &str) -> WatchOptions {
        match ListRequest::parse(&query(raw), &IMAGE_STREAM_FIELDS, true) {
            Ok(ListRequest::Watch(options)) => options,
            other => panic!("{raw}: {other:?}"),
        }
    }

    /// Expects an error with this code and exact message.
    fn check_error(result: Result<impl std::fmt::Debug, ApiError>, code: u16, message: &str) {
        let error = result.unwrap_err();
        assert_eq!((error.code(), error.to_string().as_str()), (code, message));
    }

    fn check_list_error(raw: &str, watch_list: bool, code: u16, message: &str) {
        let parsed = ListRequest::parse(&query(raw), &IMAGE_STREAM_FIELDS, watch_list);
        check_error(parsed, code, message);
    }

    #[test]
    fn queries_skip_empty_pairs_and_decode_escapes() {
        let parsed =
            query("&limit=1&&labelSelector=app%3Ddemo%2Ctier+in+%28a%29&bad=%zz&limit=2&x;y=1");
        assert_eq!(parsed.get("limit"), Some("1"));
        assert_eq!(parsed.get("labelSelector"), Some("app=demo,tier in (a)"));
        assert_eq!(parsed.get("bad"), None);
        assert_eq!(parsed.get("x;y"), None);
        assert_eq!(parsed.get_all("limit").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(Query::parse(None), Query::default());
    }

    #[test]
    fn observed_list_queries_decode() {
        let kubectl = list("limit=500");
        assert_eq!(
            (kubectl.limit, &kubectl.read),
            (Some(500), &ListRead::Latest)
        );
        let fallback = list("fieldSelector=metadata.name%3Ddemo&limit=500&resourceVersion=0");
        assert_eq!(fallback.read, ListRead::Any);
        assert_eq!(
            fallback.field_selector.required_value("metadata.name"),
            Some("demo")
        );
        let kube_rs = list("&fieldSelector=metadata.name=rs-a&labelSelector=app=a");
        assert_eq!(kube_rs.label_selector.to_string(), "app=a");
        assert_eq!(list("").limit, None);
        assert_eq!(list("limit=0").limit, None);
    }

    #[test]
    fn parsed_selectors_filter_objects() {
        let object = serde_json::json!({"metadata": {"name": "demo", "labels": {"app": "a"}}});
        assert!(list("labelSelector=app%3Da&fieldSelector=metadata.name%3Ddemo").matches(&object));
        assert!(!list("labelSelector=app%3Db").matches(&object));
        assert!(watch("watch=true&fieldSelector=metadata.name%3Ddemo").matches(&object));
        assert!(!watch("watch=true&fieldSelector=metadata.name%21%3Ddemo").matches(&object));
    }

    #[test]
    fn resource_versions_choose_the_read() {
        let cases = [
            ("resourceVersion=5", ListRead::NotOlderThan(5)),
            (
                "resourceVersion=5&resourceVersionMatch=NotOlderThan",
                ListRead::NotOlderThan(5),
            ),
            (
                "resourceVersion=5&resourceVersionMatch=Exact",
                ListRead::Exact(5),
            ),
            (
                "resourceVersion=0&resourceVersionMatch=NotOlderThan",
                ListRead::Any,
            ),
            ("resourceVersion=", ListRead::Latest),
        ];
        for (raw, expected) in cases {
            assert_eq!(list(raw).read, expected, "{raw}");
        }
    }

    #[test]
    fn observed_watch_queries_decode() {
        let kubectl = watch("resourceVersion=1006&watch=true");
        assert_eq!(kubectl.start(), WatchStart::After(1006));
        assert!(!kubectl.allow_watch_bookmarks);
        let by_name = watch("fieldSelector=metadata.name%3Ddemo&resourceVersion=0&watch=true");
        assert_eq!(by_name.start(), WatchStart::Snapshot);
        assert_eq!(
            by_name.field_selector.required_value("metadata.name"),
            Some("demo")
        );
        let kube_rs =
            watch("&watch=true&timeoutSeconds=2&allowWatchBookmarks=true&resourceVersion=0");
        assert_eq!(
            (kube_rs.start(), kube_rs.timeout_seconds),
            (WatchStart::Snapshot, Some(2))
        );
        assert!(kube_rs.allow_watch_bookmarks);
        let python = watch("timeoutSeconds=2&watch=true");
        assert_eq!(
            (python.start(), python.allow_watch_bookmarks),
            (WatchStart::Snapshot, false)
        );
        assert_eq!(
            watch("watch=1&resourceVersion=7").start(),
            WatchStart::After(7)
        );
        assert_eq!(
            watch("watch=true&timeoutSeconds=-1").timeout_seconds,
            Some(0)
        );
    }

    #[test]
    fn streaming_lists_start_with_initial_events() {
        let kubectl = watch("allowWatchBookmarks=true&fieldSelector=metadata.name%3Ddemo&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&timeoutSeconds=336&watch=true");
        assert_eq!(
            kubectl.start(),
            WatchStart::InitialEvents {
                not_older_than: None
            }
        );
        assert_eq!(kubectl.timeout_seconds, Some(336));
        let kube_rs = watch("&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0");
        assert_eq!(
            kube_rs.start(),
            WatchStart::InitialEvents {
                not_older_than: None
            }
        );
        let pinned = watch(
            "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=9",
        );
        assert_eq!(
            pinned.start(),
            WatchStart::InitialEvents {
                not_older_than: Some(9)
            }
        );
        let without = watch("watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan");
        assert_eq!(without.start(), WatchStart::Now);
    }

    #[test]
    fn streaming_lists_are_refused_when_not_served() {
        check_list_error(
            "allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&watch=true",
            false,
            422,
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
        );
    }

    #[test]
    fn list_option_validation_errors_are_422_with_exact_causes() {
        let prefix = "ListOptions.meta.k8s.io \"\" is invalid: ";
        let cases = [
            ("resourceVersionMatch=NotOlderThan", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
            ("resourceVersion=0&resourceVersionMatch=Exact", "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""),
            ("resourceVersion=1&resourceVersionMatch=Newest", "resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\", \"\""),
            ("sendInitialEvents=true", "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
            ("resourceVersion=1&resourceVersionMatch=Exact&continue=abc", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"),
            ("watch=true&sendInitialEvents=true", "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
            ("watch=true&resourceVersionMatch=NotOlderThan", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
            ("watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&continue=x", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"),
        ];
        for (raw, cause) in cases {
            check_list_error(raw, true, 422, &format!("{prefix}{cause}"));
        }
        check_list_error(
            "watch=true&sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=3",
            true,
            422,
            &format!("{prefix}[resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]"),
        );
    }

    #[test]
    fn validation_errors_name_list_options_in_details() {
        let error =
            ListRequest::parse(&query("sendInitialEvents=true"), &IMAGE_STREAM_FIELDS, true)
                .unwrap_err();
        let status = error.status();
        assert_eq!(status["details"]["kind"], "ListOptions");
        assert_eq!(status["details"]["group"], "meta.k8s.io");
        assert_eq!(status["details"]["causes"][0]["field"], "sendInitialEvents");
    }

    #[test]
    fn malformed_parameters_are_bad_requests() {
        check_list_error(
            "limit=-1",
            true,
            400,
            "limit: Invalid value: -1: must be greater than or equal to 0",
        );
        check_list_error(
            "limit=ten",
            true,
            400,
            "strconv.ParseInt: parsing \"ten\": invalid syntax",
        );
        check_list_error(
            "timeoutSeconds=99999999999999999999",
            true,
            400,
            "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
        );
        check_list_error("resourceVersion=abc", true, 400, "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax");
        check_list_error(
            "labelSelector=a%20b",
            true,
            400,
            "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'",
        );
        check_list_error("fieldSelector=spec.foo%3Dbar", true, 400, "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
    }

    #[test]
    fn option_validation_precedes_the_field_check() {
        check_list_error(
            "fieldSelector=spec.foo%3Dbar&sendInitialEvents=true",
            true,
            422,
            "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
        );
    }

    #[test]
    fn continue_tokens_round_trip() {
        let token = ContinueToken {
            rv: 1234,
            start: "ns/demo".into(),
        };
        let encoded = token.encode();
        assert!(!encoded.contains(['+', '/', '=']), "{encoded}");
        assert_eq!(ContinueToken::decode(&encoded).unwrap(), token);
        let paged = list(&format!("limit=1&continue={encoded}&resourceVersion=0"));
        assert_eq!(
            (paged.limit, paged.read),
            (Some(1), ListRead::Continue(token))
        );
    }

    #[test]
    fn malformed_continue_tokens_are_bad_requests() {
        let encode = |json: &str| TOKEN_BASE64.encode(json);
        let prefix = "invalid continue token: continue key is not valid: ";
        let cases = [
            (
                encode(r#"{"v":"meta.k8s.io/v2","rv":1,"start":"a"}"#),
                "server does not recognize this encoded version meta.k8s.io/v2",
            ),
            (
                encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#),
                "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            ),
            (
                encode(r#"{"v":"meta.k8s.io/v1","rv":3,"start":""}"#),
                "encoded start key empty (version meta.k8s.io/v1)",
            ),
        ];
        for (token, why) in cases {
            check_error(
                ContinueToken::decode(&token),
                400,
                &format!("{prefix}{why}"),
            );
        }
        for garbage in ["!!!".to_string(), encode("not json")] {
            let error = ContinueToken::decode(&garbage).unwrap_err();
            assert_eq!(error.code(), 400);
            assert!(error.to_string().starts_with(prefix), "{error}");
        }
    }

    #[test]
    fn continue_with_a_resource_version_is_refused() {
        let token = ContinueToken {
            rv: 5,
            start: "a".into(),
        }
        .encode();
        check_list_error(
            &format!("continue={token}&resourceVersion=5"),
            true,
            400,
            "specifying resource version is not allowed when using continue",
        );
    }

    #[test]
    fn get_options_read_the_resource_version() {
        let parse = |raw| GetOptions::parse(&query(raw)).unwrap().resource_version;
        assert_eq!(parse(""), ResourceVersion::Unset);
        assert_eq!(parse("resourceVersion=0"), ResourceVersion::Any);
        assert_eq!(parse("resourceVersion=42"), ResourceVersion::At(42));
        assert!(GetOptions::parse(&query("resourceVersion=-1")).is_err());
    }

    fn write(raw: &str, verb: WriteVerb) -> Result<WriteOptions, ApiError> {
        WriteOptions::parse(&query(raw), verb)
    }

    #[test]
    fn observed_write_queries_decode() {
        let apply = write(
            "fieldManager=kubectl&fieldValidation=Strict&force=false",
            WriteVerb::Patch(PatchKind::Apply),
        )
        .unwrap();
        assert_eq!(
            (apply.field_manager.as_str(), apply.force, apply.forced()),
            ("kubectl", Some(false), false)
        );
        assert_eq!(apply.field_validation, Some(FieldValidation::Strict));
        let kube_rs = write(
            "&force=true&fieldManager=kube-rs-observe",
            WriteVerb::Patch(PatchKind::Apply),
        )
        .unwrap();
        assert!(kube_rs.forced());
        let dry = write(
            "dryRun=All&fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
            WriteVerb::Patch(PatchKind::Merge),
        )
        .unwrap();
        assert!(dry.dry_run);
        let replace = write(
            "fieldManager=kubectl-replace&fieldValidation=Ignore",
            WriteVerb::Update,
        )
        .unwrap();
        assert_eq!(replace.field_validation, Some(FieldValidation::Ignore));
        assert_eq!(
            write("", WriteVerb::Create).unwrap(),
            WriteOptions::default()
        );
    }

    #[test]
    fn write_option_errors_are_422_of_the_verbs_options_kind() {
        let long = "m".repeat(129);
        let cases = [
            ("dryRun=Some", WriteVerb::Create, "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Some\"}: supported values: \"All\"".to_string()),
            (&*format!("fieldManager={long}"), WriteVerb::Update, "UpdateOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes".to_string()),
            ("fieldManager=a%07", WriteVerb::Create, "CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Invalid value: \"a\\u{7}\": invalid character U+0007 (at position 1)".to_string()),
            ("fieldValidation=strict", WriteVerb::Create, "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"Ignore\", \"Strict\", \"Warn\"".to_string()),
            ("force=false", WriteVerb::Patch(PatchKind::Merge), "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch".to_string()),
            ("force=true", WriteVerb::Patch(PatchKind::Apply), "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".to_string()),
        ];
        for (raw, verb, message) in cases {
            check_error(write(raw, verb), 422, &message);
        }
    }

    #[test]
    fn force_check_is_available_on_its_own() {
        let options = write("force=true&fieldManager=x", WriteVerb::Update).unwrap();
        assert!(options.check_patch(PatchKind::Apply).is_ok());
        check_error(
            options.check_patch(PatchKind::Json),
            422,
            "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
        );
    }

    fn delete(body: &str, raw_query: &str) -> Result<DeleteOptions, ApiError> {
        DeleteOptions::parse(body.as_bytes(), Some("application/json"), &query(raw_query))
    }

    #[test]
    fn observed_delete_bodies_decode() {
        let background = Some(PropagationPolicy::Background);
        assert_eq!(delete("", "").unwrap(), DeleteOptions::default());
        assert_eq!(delete("{}", "").unwrap(), DeleteOptions::default());
        assert_eq!(
            delete(r#"{"propagationPolicy":"Background"}"#, "")
                .unwrap()
                .propagation_policy,
            background
        );
        let forced = delete(
            r#"{"gracePeriodSeconds":0,"propagationPolicy":"Background"}"#,
            "",
        )
        .unwrap();
        assert_eq!(forced.grace_period_seconds, Some(0));
        let cascade = delete(r#"{"propagationPolicy":"Foreground"}"#, "").unwrap();
        assert_eq!(
            cascade.propagation_policy,
            Some(PropagationPolicy::Foreground)
        );
        let full = delete(r#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"preconditions":{"uid":"u","resourceVersion":"7"}}"#, "").unwrap();
        assert!(full.dry_run);
        assert_eq!(
            full.preconditions,
            Preconditions {
                uid: Some("u".into()),
                resource_version: Some("7".into())
            }
        );
    }

    #[test]
    fn delete_options_come_from_the_query_only_without_a_body() {
        let from_query = delete(
            "",
            "gracePeriodSeconds=0&propagationPolicy=Orphan&dryRun=All",
        )
        .unwrap();
        assert_eq!(
            from_query.propagation_policy,
            Some(PropagationPolicy::Orphan)
        );
        assert!(from_query.dry_run);
        assert!(!delete("{}", "dryRun=All").unwrap().dry_run);
        let yaml = DeleteOptions::parse(
            b"propagationPolicy: Orphan\n",
            Some("application/yaml"),
            &Query::default(),
        );
        assert_eq!(
            yaml.unwrap().propagation_policy,
            Some(PropagationPolicy::Orphan)
        );
    }

    #[test]
    fn invalid_delete_options_are_422() {
        check_error(delete(r#"{"propagationPolicy":"Sideways"}"#, ""), 422,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
        check_error(delete(r#"{"propagationPolicy":"Orphan","orphanDependents":true}"#, ""), 422,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Orphan\": orphanDependents and deletionPropagation cannot be both set");
        check_error(delete("", "dryRun=x"), 422,
            "DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"x\"}: supported values: \"All\"");
    }

    #[test]
    fn malformed_delete_bodies_are_400() {
        assert_eq!(delete("{", "").unwrap_err().code(), 400);
        assert_eq!(
            delete(r#"{"gracePeriodSeconds":"soon"}"#, "")
                .unwrap_err()
                .code(),
            400
        );
        let protobuf = DeleteOptions::parse(
            b"\x0a\x02k8s",
            Some("application/vnd.kubernetes.protobuf"),
            &Query::default(),
        );
        assert_eq!(protobuf.unwrap_err().code(), 415);
    }

    #[test]
    fn preconditions_conflict_with_the_apiserver_wording() {
        let preconditions = Preconditions {
            uid: Some("X".into()),
            resource_version: Some("7".into()),
        };
        assert!(preconditions.check(IMAGE_STREAMS, "demo", "X", "7").is_ok());
        check_error(preconditions.check(IMAGE_STREAMS, "demo", "Y", "7"), 409,
            "Operation cannot be fulfilled on imagestreams.image.openshift.io \"demo\": Precondition failed: UID in precondition: X, UID in object meta: Y");
        check_error(preconditions.check(IMAGE_STREAMS, "demo", "X", "8"), 409,
            "Operation cannot be fulfilled on imagestreams.image.openshift.io \"demo\": Precondition failed: ResourceVersion in precondition: 7, ResourceVersion in object meta: 8");
        assert!(Preconditions::default()
            .check(IMAGE_STREAMS, "demo", "any", "1")
            .is_ok());
    }
}
