//! imagelookup: OpenShift's ImageStream image lookup for any Kubernetes cluster.
//!
//! # Layout
//!
//! The pure core (no I/O, no async):
//! - [`mod@reference`]: pull-spec parsing and rendering (library-go semantics).
//! - [`field`]: Kubernetes-style field errors.
//! - [`api`]: `image.openshift.io/v1` types and the ImagePolicy configuration.
//! - [`strategy`]: stream defaulting, validation, generations and status tags.
//! - [`resolve`]: the resolver over an in-memory index of streams.
//! - [`admission`]: where each kind keeps its images, policy modes, and the resulting patch.
//! - [`yaml_aliases`]: the byte budget YAML aliases may expand a text by.
//!
//! The edges (I/O):
//! - [`store`]: the storage trait and its embedded (redb) backend.
//! - [`apiserver`]: the `image.openshift.io/v1` API machinery.
//! - [`live_index`]: the resolver's index, kept current by the store's watch.
//! - [`importer`]: the tag importer filling `status.tags` from OCI registries.
//! - [`webhook`]: the mutating admission webhook (`/mutate`).
//! - [`metrics`]: Prometheus metrics.
//! - [`auth`]: bearer tokens and the namespace/verb policy.
//! - [`certs`], [`tls`], [`server`]: certificates, the reloading TLS listener, the HTTP server.
//! - [`manifest`], [`cli`]: manifest streams and the `imagelookup` subcommands.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

pub mod admission;
pub mod api;
pub mod apiserver;
pub mod auth;
pub mod bounded;
pub mod certs;
pub mod cli;
pub mod dirs;
pub mod field;
pub mod importer;
pub mod live_index;
pub mod manifest;
pub mod metrics;
pub mod object_meta;
pub mod panics;
#[cfg(test)]
mod property;
pub mod reference;
pub mod registry_events;
pub mod resolve;
pub mod server;
pub mod store;
pub mod strategy;
pub mod tls;
pub mod webhook;
pub mod yaml_aliases;
