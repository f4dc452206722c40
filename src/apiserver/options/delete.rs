//! Options of a DELETE: propagation policy, preconditions, `dryRun`, grace period.

use serde::Deserialize;
use serde_json::Value;

use crate::apiserver::error::{ApiError, GroupResource, DELETE_OPTIONS};
use crate::apiserver::negotiate::{body_format, decode_body};
use crate::field::FieldError;

use super::query::Query;
use super::write::dry_run_errors;

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
    /// `ignoreStoreReadErrorWithClusterBreakingPotential`: delete the object even though its
    /// stored document cannot be read (skipping preconditions and finalizers, as kube does).
    pub ignore_store_read_error: bool,
}

/// The JSON body as kubectl (`{"propagationPolicy":"Background"}`), kube-rs (`{}`) and
/// client-go send it; unknown members are ignored, as kube-apiserver's lenient decoder does,
/// but a body of another kind is refused (see [`DeleteBody::from_bytes`]).
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
    ignore_store_read_error_with_cluster_breaking_potential: Option<bool>,
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
            ignore_store_read_error_with_cluster_breaking_potential: query
                .flag(IGNORE_STORE_READ_ERROR),
        })
    }

    fn from_bytes(body: &[u8], content_type: Option<&str>) -> Result<Self, ApiError> {
        let value = decode_body(body, body_format(content_type)?)?;
        if value.is_null() {
            return Ok(Self::default());
        }
        // Sending the object itself as the body (a mistake some scripts make) must not delete.
        if let Some(kind) = value.get("kind").and_then(Value::as_str) {
            if kind != "DeleteOptions" {
                return Err(ApiError::BadRequest(format!(
                    "decoded object cannot be converted to DeleteOptions: the body is a {kind}; \
                     send DeleteOptions or no body"
                )));
            }
        }
        // serde reads a struct from an array by position: `"preconditions": ["x"]` would be
        // a uid precondition. Go's decoder refuses it.
        if value.get("preconditions").is_some_and(Value::is_array) {
            return Err(ApiError::BadRequest(
                "json: cannot unmarshal array into Go struct field DeleteOptions.preconditions \
                 of type v1.Preconditions"
                    .to_string(),
            ));
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
        let unsafe_delete =
            self.ignore_store_read_error_with_cluster_breaking_potential == Some(true);
        if unsafe_delete {
            errors.extend(self.unsafe_delete_conflicts());
        }
        if !errors.is_empty() {
            return Err(ApiError::invalid(DELETE_OPTIONS, "", errors));
        }
        Ok(DeleteOptions {
            grace_period_seconds: self.grace_period_seconds,
            propagation_policy: policy,
            orphan_dependents: self.orphan_dependents,
            preconditions: self.preconditions,
            dry_run: !dry_run.is_empty(),
            ignore_store_read_error: unsafe_delete,
        })
    }

    /// What an unsafe delete cannot honour: it removes the stored key as it is, so it cannot
    /// be a dry run, check preconditions, or wait or propagate (kube refuses them likewise).
    fn unsafe_delete_conflicts(&self) -> Vec<FieldError> {
        let detail = format!("cannot be set together with {IGNORE_STORE_READ_ERROR}");
        let mut errors = Vec::new();
        if !self.dry_run.is_empty() {
            let value = Value::from(self.dry_run.join(","));
            errors.push(FieldError::invalid("dryRun", value, &detail));
        }
        if let Some(policy) = &self.propagation_policy {
            let value = Value::from(policy.as_str());
            errors.push(FieldError::invalid("propagationPolicy", value, &detail));
        }
        if let Some(orphan) = self.orphan_dependents {
            let value = Value::from(orphan);
            errors.push(FieldError::invalid("orphanDependents", value, &detail));
        }
        if let Some(seconds) = self.grace_period_seconds {
            let value = Value::from(seconds);
            errors.push(FieldError::invalid("gracePeriodSeconds", value, &detail));
        }
        if self.preconditions != Preconditions::default() {
            let Preconditions {
                uid,
                resource_version,
            } = &self.preconditions;
            let value = serde_json::json!({"uid": uid, "resourceVersion": resource_version});
            errors.push(FieldError::invalid("preconditions", value, &detail));
        }
        errors
    }
}

/// The option that deletes an object whose stored document cannot be read.
pub const IGNORE_STORE_READ_ERROR: &str = "ignoreStoreReadErrorWithClusterBreakingPotential";

/// Where the unsafe delete does not apply: a readable object, or a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnsafeDeleteMisuse {
    /// The object reads fine: an ordinary delete removes it, with its checks.
    ReadableObject,
    /// DELETECOLLECTION: it would remove every object the selectors match, unchecked.
    Collection,
}

impl UnsafeDeleteMisuse {
    /// kube-apiserver's 422 for the option where it does not apply, in its words.
    pub fn refusal(self) -> ApiError {
        let detail = match self {
            Self::ReadableObject => {
                "is exclusively used to delete corrupt object(s), try again by removing this option"
            }
            Self::Collection => {
                "is not allowed with DELETECOLLECTION, try again after removing the option"
            }
        };
        let error = FieldError::invalid(IGNORE_STORE_READ_ERROR, Value::Bool(true), detail);
        ApiError::invalid(DELETE_OPTIONS, "", vec![error])
    }
}
