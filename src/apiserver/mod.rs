//! The `image.openshift.io/v1` API server: routes, discovery, OpenAPI, list/watch, writes,
//! patches, Tables and Kubernetes `Status` errors.

pub mod discovery;
pub mod error;
pub mod fields;
pub mod negotiate;
pub mod openapi;
pub mod options;
pub mod patch;
pub mod selector;
pub mod table;
pub mod unknown_fields;
