//! Query-string and body options of list, watch, get, write and delete requests, decoded and
//! validated the way kube-apiserver does it (k8s-api-contract §2.2, §2.3, §3.1, §3.5, §4).
//!
//! Order of checks, as in the apiserver: decoding (400), then option validation (422 with
//! `details.group: meta.k8s.io` and the options kind), then field-selector fields (400), then
//! what the storage layer checks (resourceVersion and continue token, 400).

mod continue_token;
mod delete;
mod get;
mod list;
mod query;
mod write;

#[cfg(test)]
mod tests;

pub use continue_token::ContinueToken;
pub use delete::{DeleteOptions, Preconditions, PropagationPolicy, UnsafeDeleteMisuse};
pub use get::GetOptions;
pub use list::{ListOptions, ListRead, ListRequest, ResourceVersion, WatchOptions, WatchStart};
pub use query::Query;
pub use write::{FieldValidation, WriteOptions, WriteVerb, FIELD_MANAGER_MAX_LENGTH};
