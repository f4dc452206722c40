//! The architectures of imported images, by digest: what admission needs to warn about a pin
//! its pod's nodes cannot run (`admission::arch_check`).
//!
//! Fed like the stream index, by a list and watch of the `images` collection
//! ([`run_platform_feed`](super::run_platform_feed)). Only images whose platform is known are
//! kept: a child of an index (`dockerImageMetadata.Architecture`, plus the
//! `imagelookup.io/architectures` annotation when the index lists it for several platforms)
//! and an index itself (`dockerImageManifests`). An image imported directly has no known
//! platform (no config blob is read) and costs nothing. An entry is a 32-byte SHA-256 and a
//! 2-byte set, about 40 bytes in the table; 100,000 images take about 4 MB.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde_json::Value;

use crate::admission::{Architectures, PlatformLookup};
use crate::importer::image::ARCHITECTURES_ANNOTATION;

/// Image digests and the architectures they run on.
#[derive(Debug, Default)]
pub struct Platforms {
    /// A std lock held only for a lookup or an insert, never across an `.await`.
    known: RwLock<HashMap<Digest, Architectures>>,
}

/// A `sha256:` digest's 32 bytes; images named with another algorithm are not kept.
pub(super) type Digest = [u8; 32];

impl Platforms {
    /// An empty map.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Replaces every entry with those of `images` (a listed snapshot).
    pub fn reset<'a>(&self, images: impl IntoIterator<Item = &'a Value>) {
        self.replace(images.into_iter().filter_map(entry).collect());
    }

    /// Replaces every entry with `fresh` (see [`entry`]).
    pub(super) fn replace(&self, fresh: HashMap<Digest, Architectures>) {
        let previous = std::mem::replace(&mut *self.write(), fresh);
        drop(previous);
    }

    /// Applies one stored change of `image`: its entry is added, or removed when `deleted`.
    pub fn apply(&self, image: &Value, deleted: bool) {
        let Some(digest) = name(image).and_then(parse_digest) else {
            return;
        };
        match (deleted, architectures_of(image)) {
            (false, Some(architectures)) => {
                self.write().insert(digest, architectures);
            }
            _ => {
                self.write().remove(&digest);
            }
        }
    }

    /// Number of images whose platform is known.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether no image's platform is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Digest, Architectures>> {
        self.known
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Digest, Architectures>> {
        self.known
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PlatformLookup for Platforms {
    fn architectures(&self, digest: &str) -> Option<Architectures> {
        let digest = parse_digest(digest)?;
        self.read().get(&digest).copied()
    }
}

/// The entry of a stored Image whose platform is known.
pub(super) fn entry(image: &Value) -> Option<(Digest, Architectures)> {
    let digest = parse_digest(name(image)?)?;
    Some((digest, architectures_of(image)?))
}

fn name(image: &Value) -> Option<&str> {
    image.pointer("/metadata/name")?.as_str()
}

/// The architectures a stored Image runs on, when known: its own `Architecture` and every
/// one its [`ARCHITECTURES_ANNOTATION`] lists, or every architecture its index lists. A name
/// outside the known set, or an index entry naming none, makes the whole image unknown (never
/// warned about); `unknown` entries are the attestations buildx adds, which run nowhere, and
/// are left out.
pub fn architectures_of(image: &Value) -> Option<Architectures> {
    let own = image
        .pointer("/dockerImageMetadata/Architecture")
        .and_then(Value::as_str);
    if let Some(own) = own.filter(|own| !own.is_empty()) {
        let listed = image
            .pointer("/metadata/annotations")
            .and_then(|annotations| annotations.get(ARCHITECTURES_ANNOTATION))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let others = listed.split(',').filter(|name| !name.is_empty());
        return Architectures::from_names(std::iter::once(own).chain(others));
    }
    let children = image.get("dockerImageManifests")?.as_array()?;
    let names: Option<Vec<&str>> = children
        .iter()
        .map(|child| child.get("architecture").and_then(Value::as_str))
        .filter(|name| *name != Some("unknown"))
        .collect();
    Architectures::from_names(names?)
}

/// The bytes of `sha256:<64 hex digits>`.
fn parse_digest(digest: &str) -> Option<Digest> {
    let hex = digest.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn set(names: &[&str]) -> Architectures {
        Architectures::from_names(names.iter().copied()).expect("known names")
    }

    fn child(architecture: &str) -> Value {
        json!({"digest": B, "os": "linux", "architecture": architecture})
    }

    fn image(name: &str, architecture: &str) -> Value {
        json!({"metadata": {"name": name},
               "dockerImageMetadata": {"Id": "sha256:c", "Architecture": architecture}})
    }

    #[test]
    fn an_image_runs_on_its_own_architecture_or_on_every_one_its_index_lists() {
        let check = |image: Value, expected: Option<&[&str]>| {
            assert_eq!(architectures_of(&image), expected.map(set), "{image}");
        };
        check(image(A, "arm64"), Some(&["arm64"]));
        check(image(A, ""), None);
        check(image(A, "sparc"), None);
        let annotated = |listed: &str| {
            let mut image = image(A, "amd64");
            image["metadata"]["annotations"] = json!({ARCHITECTURES_ANNOTATION: listed});
            image
        };
        check(annotated("amd64,arm64"), Some(&["amd64", "arm64"]));
        check(annotated("arm64"), Some(&["amd64", "arm64"]));
        check(annotated(""), Some(&["amd64"]));
        check(annotated("arm64,sparc"), None);
        check(json!({"dockerImageMetadata": {"Id": "sha256:c"}}), None);
        let index = |children: Vec<Value>| json!({"dockerImageManifests": children});
        check(
            index(vec![child("amd64"), child("arm64")]),
            Some(&["amd64", "arm64"]),
        );
        check(
            index(vec![child("amd64"), child("unknown")]),
            Some(&["amd64"]),
        );
        check(index(vec![child("amd64"), child("")]), None);
        check(index(vec![child("amd64"), json!({"digest": B})]), None);
        check(index(vec![]), None);
    }

    #[test]
    fn only_sha256_digests_are_kept() {
        let check = |digest: &str, kept: bool| {
            assert_eq!(parse_digest(digest).is_some(), kept, "{digest}");
        };
        check(A, true);
        check(&A.to_uppercase().replace("SHA256", "sha256"), true);
        check("sha256:abc", false);
        check(&A.replace("sha256", "sha512"), false);
        check(&A.replace('a', "g"), false);
    }

    #[test]
    fn the_map_follows_a_list_and_then_each_change() {
        let platforms = Platforms::default();
        platforms.reset(&[image(A, "amd64"), image(B, ""), json!({"metadata": {}})]);
        assert_eq!(platforms.len(), 1, "only known platforms are kept");
        assert_eq!(platforms.architectures(A), Some(set(&["amd64"])));
        assert_eq!(platforms.architectures(B), None);
        platforms.apply(&image(B, "arm64"), false);
        assert_eq!(platforms.architectures(B), Some(set(&["arm64"])));
        platforms.apply(&image(A, "amd64"), true);
        assert_eq!(platforms.architectures(A), None);
        platforms.reset(&[]);
        assert!(platforms.is_empty());
    }
}
