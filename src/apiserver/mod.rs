//! The `image.openshift.io/v1` API server: routes, discovery, OpenAPI, list/watch, writes,
//! patches, Tables and Kubernetes `Status` errors.

pub mod discovery;
pub mod encoded;
pub mod error;
pub mod fields;
#[cfg(test)]
mod fuzz;
pub mod handlers;
pub mod http;
pub mod isimage;
pub mod isimport;
pub mod istag;
pub mod list_gate;
pub mod negotiate;
pub mod openapi;
pub mod options;
pub mod patch;
pub mod path;
pub mod presented;
pub mod protobuf;
pub mod resource;
pub mod routes;
pub mod selector;
pub mod self_review;
pub mod state;
pub mod table;
pub mod unknown_fields;
pub mod watch_quota;

pub use routes::router;
pub use state::{ApiState, Auth, Caller};
