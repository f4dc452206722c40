//! Image manifests and indexes as the importer reads them (pure).
//!
//! Docker schema 2 and OCI manifests give an image's config and layers; Docker manifest lists
//! and OCI indexes give per-platform children. Schema 1 manifests are not supported.

use serde::Deserialize;

use super::plan::PreferredPlatform;

/// Docker schema 2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// The manifest types the importer asks registries for, most specific first.
pub const ACCEPTED: [&str; 4] = [
    OCI_INDEX,
    DOCKER_MANIFEST_LIST,
    OCI_MANIFEST,
    DOCKER_MANIFEST,
];

/// Why a manifest could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not the shape of a manifest.
    #[error("the manifest does not decode: {0}")]
    Malformed(String),
    /// A media type or schema version the importer does not handle.
    #[error(
        "unsupported manifest type {0:?}: the importer reads Docker schema 2 and OCI image \
         manifests and indexes"
    )]
    Unsupported(String),
}

/// A blob a manifest refers to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    #[serde(default)]
    pub size: i64,
    /// The blob's media type.
    #[serde(default)]
    pub media_type: String,
}

/// One platform's manifest in an index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Child {
    /// The child manifest's digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// `amd64`, `arm64`, …; empty when the entry names no platform.
    pub architecture: String,
    /// `linux`, `windows`, …
    pub os: String,
    /// `v8`, …; often empty.
    pub variant: String,
}

/// What a manifest describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// A single image.
    Image {
        /// The config blob.
        config: Blob,
        /// The layers, base first.
        layers: Vec<Blob>,
    },
    /// A manifest list or image index.
    Index {
        /// The per-platform manifests, in order.
        children: Vec<Child>,
    },
}

/// A parsed manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// Its media type (from the document, or inferred for OCI documents that omit it).
    pub media_type: String,
    /// What it describes.
    pub content: Content,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    schema_version: i64,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    config: Option<Blob>,
    #[serde(default)]
    layers: Vec<Blob>,
    #[serde(default)]
    manifests: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    digest: String,
    #[serde(default)]
    media_type: String,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Default, Deserialize)]
struct Platform {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    variant: Option<String>,
}

impl Manifest {
    /// Parses a manifest body.
    pub fn parse(body: &[u8]) -> Result<Self, ManifestError> {
        let document: Document =
            serde_json::from_slice(body).map_err(|e| ManifestError::Malformed(e.to_string()))?;
        if document.schema_version != 2 {
            let version = document.schema_version;
            return Err(ManifestError::Unsupported(format!(
                "schemaVersion {version}"
            )));
        }
        let media_type = match (document.media_type.as_deref(), &document.manifests) {
            (Some(media_type), _) => media_type.to_string(),
            (None, Some(_)) => OCI_INDEX.to_string(),
            (None, None) => OCI_MANIFEST.to_string(),
        };
        let content = match media_type.as_str() {
            OCI_INDEX | DOCKER_MANIFEST_LIST => index(document)?,
            OCI_MANIFEST | DOCKER_MANIFEST => image(document)?,
            _ => return Err(ManifestError::Unsupported(media_type)),
        };
        Ok(Self {
            media_type,
            content,
        })
    }

    /// The children of an index; empty for an image.
    pub fn children(&self) -> &[Child] {
        match &self.content {
            Content::Index { children } => children,
            Content::Image { .. } => &[],
        }
    }
}

fn index(document: Document) -> Result<Content, ManifestError> {
    let entries = document
        .manifests
        .ok_or_else(|| ManifestError::Malformed("an index without manifests".into()))?;
    let children = entries.into_iter().map(Child::from).collect();
    Ok(Content::Index { children })
}

fn image(document: Document) -> Result<Content, ManifestError> {
    let config = document
        .config
        .ok_or_else(|| ManifestError::Malformed("an image manifest without config".into()))?;
    Ok(Content::Image {
        config,
        layers: document.layers,
    })
}

impl From<Entry> for Child {
    fn from(entry: Entry) -> Self {
        let platform = entry.platform.unwrap_or_default();
        Self {
            digest: entry.digest,
            media_type: entry.media_type,
            architecture: platform.architecture,
            os: platform.os,
            variant: platform.variant.unwrap_or_default(),
        }
    }
}

/// The child a `Legacy` import records: the `preferred` platform's (its empty parts
/// linux/amd64's), else linux/amd64's, else the first entry.
///
/// OpenShift fills a preference's empty parts with the apiserver's own platform; a server
/// that may run on any architecture and serves amd64 clusters as often as not keeps the
/// deterministic part.
pub fn legacy_child<'a>(
    children: &'a [Child],
    preferred: &'a PreferredPlatform,
) -> Option<&'a Child> {
    let or_default = |value: &'a str, default: &'a str| match value {
        "" => default,
        value => value,
    };
    let architecture = or_default(&preferred.architecture, "amd64");
    let os = or_default(&preferred.os, "linux");
    let on = |os: &str, architecture: &str| {
        children
            .iter()
            .find(|child| child.os == os && child.architecture == architecture)
    };
    on(os, architecture)
        .or_else(|| on("linux", "amd64"))
        .or_else(|| children.first())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(document: serde_json::Value) -> Result<Manifest, ManifestError> {
        Manifest::parse(document.to_string().as_bytes())
    }

    fn child(architecture: &str, digest: &str) -> Child {
        Child {
            digest: digest.into(),
            os: "linux".into(),
            architecture: architecture.into(),
            ..Child::default()
        }
    }

    #[test]
    fn images_give_their_config_and_layers_in_order() {
        let manifest = parse(json!({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "c", "digest": "sha256:c", "size": 7},
            "layers": [{"mediaType": "l", "digest": "sha256:1", "size": 10},
                       {"mediaType": "l", "digest": "sha256:2", "size": 20}]
        }))
        .unwrap();
        assert_eq!(manifest.media_type, DOCKER_MANIFEST);
        let Content::Image { config, layers } = manifest.content else {
            panic!("an image");
        };
        assert_eq!(config.digest, "sha256:c");
        let digests: Vec<&str> = layers.iter().map(|l| l.digest.as_str()).collect();
        assert_eq!(digests, ["sha256:1", "sha256:2"]);
        assert_eq!(layers[1].size, 20);
    }

    #[test]
    fn indexes_give_their_platforms() {
        let manifest = parse(json!({
            "schemaVersion": 2,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": "sha256:a", "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": OCI_MANIFEST, "digest": "sha256:b", "size": 1}
            ]
        }))
        .unwrap();
        assert_eq!(manifest.media_type, OCI_INDEX, "inferred");
        let children = manifest.children();
        assert_eq!(children[0].variant, "v8");
        assert_eq!(children[1].architecture, "");
    }

    #[test]
    fn an_oci_manifest_without_media_type_is_an_image() {
        let manifest = parse(json!({"schemaVersion": 2,
            "config": {"mediaType": "c", "digest": "sha256:c", "size": 1}, "layers": []}))
        .unwrap();
        assert_eq!(manifest.media_type, OCI_MANIFEST);
        assert!(manifest.children().is_empty());
    }

    #[test]
    fn schema_one_and_unknown_types_are_unsupported() {
        let check = |document: serde_json::Value, message: &str| {
            assert_eq!(parse(document).unwrap_err().to_string(), message);
        };
        check(
            json!({"schemaVersion": 1, "name": "x"}),
            "unsupported manifest type \"schemaVersion 1\": the importer reads Docker schema 2 \
             and OCI image manifests and indexes",
        );
        check(
            json!({"schemaVersion": 2, "mediaType": "application/x"}),
            "unsupported manifest type \"application/x\": the importer reads Docker schema 2 \
             and OCI image manifests and indexes",
        );
        check(
            json!({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST}),
            "the manifest does not decode: an image manifest without config",
        );
        assert!(matches!(
            Manifest::parse(b"<html>"),
            Err(ManifestError::Malformed(_))
        ));
    }

    #[test]
    fn legacy_imports_prefer_linux_amd64_then_the_first_entry() {
        let none = PreferredPlatform::default();
        let check = |children: &[Child], expected: Option<&str>| {
            let chosen = legacy_child(children, &none);
            assert_eq!(chosen.map(|c| c.digest.as_str()), expected);
        };
        check(&[child("arm64", "a"), child("amd64", "b")], Some("b"));
        check(&[child("arm64", "a"), child("s390x", "b")], Some("a"));
        let mut windows = child("amd64", "w");
        windows.os = "windows".into();
        check(&[windows, child("arm64", "a")], Some("w"));
        check(&[], None);
    }

    #[test]
    fn legacy_imports_take_the_platform_a_tag_prefers_first() {
        let prefer = |architecture: &str, os: &str| PreferredPlatform {
            architecture: architecture.into(),
            os: os.into(),
        };
        let mut windows = child("amd64", "w");
        windows.os = "windows".into();
        let children = [child("amd64", "x"), child("arm64", "a"), windows];
        let check = |preferred: PreferredPlatform, expected: &str| {
            let chosen = legacy_child(&children, &preferred).unwrap();
            assert_eq!(chosen.digest, expected, "{preferred:?}");
        };
        check(prefer("arm64", ""), "a");
        check(prefer("arm64", "linux"), "a");
        check(prefer("", "windows"), "w");
        // Nothing for the preferred platform: linux/amd64, as without a preference.
        check(prefer("s390x", ""), "x");
        check(prefer("arm64", "windows"), "x");
    }
}
