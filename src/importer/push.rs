//! Registry push notifications: a registry says a tag was pushed, and the tags that follow it
//! and are imported again anyway (`importPolicy.scheduled`, or whose last import failed) are
//! imported at once instead of at their next scheduled import or retry.
//!
//! ```text
//! registry ──POST /registry-events──▶ any replica: parse (pure), record registrypushes/<source>
//!                                                        │ (store: survives a restart, reaches the leader)
//! leading importer ◀──list+watch registrypushes/────────┘
//!   followers (source → stream tags, from its streams' list+watch) → scheduler.push → queue
//!   → delete the record (compare-and-swap: a newer push of the same tag is handled again)
//! ```
//!
//! OpenShift has no counterpart for external registries (its integrated registry writes the
//! stream itself); scheduled imports poll every 15 minutes. A notification only brings forward
//! an import that would come anyway: other tags stay pinned to what was imported, as they
//! would without notifications, and a tag following a digest follows nothing a push can move.
//!
//! Tags are matched by source name, as written in the stream after a Docker client's defaults
//! (`mysql` is `docker.io/library/mysql:latest`); see [`source_key`].

pub mod followers;
pub mod notification;
pub mod outstanding;
pub mod record;

use crate::reference::{is_docker_hub, ImageRef};

/// The name a pushed tag and the spec tags following it are matched by:
/// `registry/repository:tag` with a Docker client's defaults filled in, the registry host in
/// lower case without HTTPS's default port (`:443`, as a registry's clients may or may not
/// write it) and Docker Hub's aliases written `docker.io`. `None` for a reference to a digest
/// (or a legacy image ID), which no push moves.
pub fn source_key(reference: &ImageRef) -> Option<String> {
    if !reference.id.is_empty() {
        return None;
    }
    let mut full = reference.clone();
    full.registry = full.registry.to_ascii_lowercase();
    let full = full.docker_client_defaults();
    let host = full.registry.strip_suffix(":443").unwrap_or(&full.registry);
    let registry = match is_docker_hub(host) {
        true => "docker.io",
        false => host,
    };
    let namespace = match full.namespace.is_empty() {
        true => String::new(),
        false => format!("{}/", full.namespace),
    };
    Some(format!("{registry}/{namespace}{}:{}", full.name, full.tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(reference: &str) -> Option<String> {
        source_key(&ImageRef::parse(reference).expect("a reference"))
    }

    #[test]
    fn source_keys_fill_a_docker_clients_defaults() {
        let table = [
            ("mysql", "docker.io/library/mysql:latest"),
            ("docker.io/mysql:8", "docker.io/library/mysql:8"),
            (
                "index.docker.io/library/mysql:8",
                "docker.io/library/mysql:8",
            ),
            ("registry-1.docker.io/org/app:1", "docker.io/org/app:1"),
            ("Quay.IO/org/app:1", "quay.io/org/app:1"),
            ("Docker.IO/mysql:8", "docker.io/library/mysql:8"),
            (
                "registry.example.com:443/team/app:1",
                "registry.example.com/team/app:1",
            ),
            (
                "registry.example.com:4430/team/app:1",
                "registry.example.com:4430/team/app:1",
            ),
            (
                "127.0.0.1:5000/team/deep/app:v2",
                "127.0.0.1:5000/team/deep/app:v2",
            ),
            ("localhost:5000/app", "localhost:5000/app:latest"),
        ];
        for (reference, expected) in table {
            assert_eq!(key(reference).as_deref(), Some(expected), "{reference}");
        }
    }

    #[test]
    fn references_to_a_digest_follow_no_push() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(key(&format!("quay.io/org/app@{digest}")), None);
        assert_eq!(key(&format!("quay.io/org/app:1@{digest}")), None);
    }
}
