//! Admission decisions: where each kind keeps its images, policy modes, and the patch.
//!
//! Pure and synchronous: the webhook translates an `AdmissionReview` into a [`Request`], calls
//! [`decide_with`] with the policy, the [`Pin`] and a [`ReferenceResolver`], and translates the
//! [`Decision`] back.
//!
//! ```text
//! Request -> early exits (coverage, Pin) -> triggers (image.openshift.io/triggers)
//!         -> locate sites, minus those a trigger fills -> drop unchanged (UPDATE)
//!         -> per distinct reference: resolve -> mode (fail? rewrite?) -> execution rules
//!         -> Decision { patch, rewrites, warnings, denial }
//! ```
//!
//! Implements openshift-semantics §3 with these deliberate differences:
//! - `pods/ephemeralcontainers` is handled (ephemeral containers only, even on controller-owned
//!   pods); ephemeral containers and image volumes are visited on every pod spec.
//! - Kinds without images are allowed unchanged instead of OpenShift's 403.
//! - Execution-rule conditions on image labels and annotations never match (no Image metadata).
//! - A rejected reference is reported at every field that uses it, not only the first.
//! - A reference pinned to an image whose known architectures the pod's required
//!   `kubernetes.io/arch` excludes is warned about (`arch_check`; OpenShift says nothing).
//! - [`Pin::Pods`] (`serve --pin=pods`, not in OpenShift) resolves Pods whatever owns them and
//!   leaves pod templates alone.
//! - The `image.openshift.io/triggers` annotation, which OpenShift's trigger controller applies
//!   when a tag moves, is applied when the object is written (`triggers`).

mod arch_check;
mod audit;
mod decide;
mod decision;
mod json_text;
mod locate;
mod modes;
mod patch;
mod pin;
mod platform;
mod request;
mod resolver;
mod rules;
mod sparse;
mod triggers;
mod unreadable;
mod update;
mod verdict;
mod warnings;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod scenarios;

pub use decide::{decide, decide_with};
pub use decision::{Decision, Denial, Rewrite, Skip, AUDIT_REWRITES, AUDIT_UNRESOLVED};
pub use json_text::JsonText;
pub use pin::Pin;
pub use platform::{Architectures, ARCH_LABEL};
pub use request::{ignored_rules, Operation, Request};
pub use resolver::{PlatformLookup, ReferenceResolver, StreamResolver, WithPlatforms};
pub use sparse::sparse_object;
pub use triggers::TRIGGERS_ANNOTATION;

/// Every reason a reference is counted unresolved (`imagelookup_unresolved_references_total`):
/// a resolution error's label, or a cause a warning names itself.
pub fn unresolved_reasons() -> impl Iterator<Item = &'static str> {
    let errors = crate::resolve::ResolveError::LABELS.into_iter();
    errors.chain(warnings::OWN_REASONS)
}
