//! OpenAPI documents: the v3 index (`/openapi/v3`), one v3 document per group-version
//! (`/openapi/v3/apis/image.openshift.io/v1`, `/openapi/v3/api/v1`) and the Swagger 2.0
//! document (`/openapi/v2`, JSON only).
//!
//! kubectl needs them for `apply`, `create -f`, `replace -f`, `edit` and `explain`
//! (contract §1.7): it checks that a PATCH operation tagged with the kind lists the
//! `fieldValidation` query parameter, and computes strategic merge patches from the schemas.
//! Paths come from the discovery resource table; schemas from `image_schemas` and
//! `meta_schemas`. Each group-version document holds exactly the schemas its paths reach.
//! All documents are built once and kept serialized.

mod image_schemas;
mod import_schemas;
mod meta_schemas;
mod params;
mod paths;
mod schema;
mod v2;
mod v2_proto;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::apiserver::discovery::{git_version, GroupVersion, GROUP_VERSIONS};

pub use paths::PATCH_CONTENT_TYPES;

/// The content type of every document we serve.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A document, kept both as a value and as the bytes to send.
#[derive(Debug)]
pub struct Document {
    value: Value,
    bytes: Bytes,
    hash: String,
}

impl Document {
    fn new(value: Value) -> Self {
        let bytes = Bytes::from(serde_json::to_vec(&value).expect("JSON values serialize"));
        let hash = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        Self { value, bytes, hash }
    }

    /// The document as JSON.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The serialized document (a cheap, reference-counted clone).
    pub fn bytes(&self) -> Bytes {
        self.bytes.clone()
    }

    /// Uppercase hex sha256 of [`Self::bytes`]: the `hash` the v3 index puts in its URLs, and
    /// a strong `ETag`. A request whose `?hash=` matches may be cached as immutable.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

static SCHEMAS: LazyLock<BTreeMap<String, Value>> = LazyLock::new(|| {
    let image = image_schemas::image_schemas();
    image
        .into_iter()
        .chain(meta_schemas::meta_schemas())
        .collect()
});

type GroupVersionDocument = (String, &'static GroupVersion, Document);

static GROUP_VERSION_DOCUMENTS: LazyLock<Vec<GroupVersionDocument>> = LazyLock::new(|| {
    let documented = GROUP_VERSIONS
        .iter()
        .filter(|gv| gv.resources.iter().any(|r| r.in_openapi));
    documented
        .map(|gv| {
            let document = Document::new(group_version_document(gv));
            (gv.openapi_path(), *gv, document)
        })
        .collect()
});

/// Which documents a caller is given: all of them, or, for the kube-apiserver's aggregator
/// (a caller the front proxy vouched for), only the groups an APIService routes here.
///
/// The aggregator merges every APIService's `/openapi/v3` paths into the cluster's and
/// routes `/openapi/v3/api/v1` to whichever backend lists it first in a Go map's random order,
/// with no check that the path belongs to the APIService's group; a Secrets-only `api/v1`
/// from here would then replace the cluster's core document at random (`kubectl explain
/// pods` failing, server-side validation of core kinds lost). kube-apiserver's own core group
/// is never reached through the aggregator, so it is not offered to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// A client of this server itself (kubectl with the standalone kubeconfig).
    Direct,
    /// The aggregator, fetching the documents it merges into the cluster's.
    Aggregator,
}

impl Audience {
    /// The audience of a caller: the aggregator when the front proxy vouched for it.
    pub fn of(delegated: bool) -> Self {
        if delegated {
            Self::Aggregator
        } else {
            Self::Direct
        }
    }

    /// Whether documents for this audience cover `gv`.
    fn covers(self, gv: &GroupVersion) -> bool {
        self == Self::Direct || !gv.group.is_empty()
    }
}

static INDEX: LazyLock<Document> = LazyLock::new(|| index(Audience::Direct));
static AGGREGATOR_INDEX: LazyLock<Document> = LazyLock::new(|| index(Audience::Aggregator));

fn index(audience: Audience) -> Document {
    let paths: Map<String, Value> = GROUP_VERSION_DOCUMENTS
        .iter()
        .filter(|(_, gv, _)| audience.covers(gv))
        .map(|(path, _, doc)| {
            (
                path.clone(),
                json!({"serverRelativeURL": server_relative_url(path, doc)}),
            )
        })
        .collect();
    Document::new(json!({"paths": paths}))
}

static V2: LazyLock<Document> = LazyLock::new(|| v2_document(Audience::Direct));
static AGGREGATOR_V2: LazyLock<Document> = LazyLock::new(|| v2_document(Audience::Aggregator));

fn v2_document(audience: Audience) -> Document {
    let mut all_paths = Map::new();
    for gv in GROUP_VERSIONS.iter().filter(|gv| audience.covers(gv)) {
        all_paths.extend(paths::paths(gv));
    }
    let schemas = reachable_schemas(&Value::Object(all_paths.clone()));
    Document::new(v2::document(&info(), &all_paths, &schemas))
}

/// `GET /openapi/v3`: the index of group-version documents with their hashed URLs.
pub fn v3_index(audience: Audience) -> &'static Document {
    match audience {
        Audience::Direct => &INDEX,
        Audience::Aggregator => &AGGREGATOR_INDEX,
    }
}

/// `GET /openapi/v3/<path>` (the `hash` query is ignored, as the apiserver serves the
/// current document whatever it says). `path` is e.g. `apis/image.openshift.io/v1`, with
/// or without a leading `/`.
pub fn v3_group_version(path: &str, audience: Audience) -> Option<&'static Document> {
    let path = path.trim_matches('/');
    GROUP_VERSION_DOCUMENTS
        .iter()
        .find(|(p, gv, _)| p == path && audience.covers(gv))
        .map(|(_, _, doc)| doc)
}

/// `GET /openapi/v2` when the client accepts JSON.
pub fn v2(audience: Audience) -> &'static Document {
    match audience {
        Audience::Direct => &V2,
        Audience::Aggregator => &AGGREGATOR_V2,
    }
}

/// `GET /openapi/v2` in protobuf ([`V2_PROTOBUF_CONTENT_TYPE`]), what kubectl asks for.
pub fn v2_protobuf(audience: Audience) -> Bytes {
    match audience {
        Audience::Direct => V2_PROTOBUF.clone(),
        Audience::Aggregator => AGGREGATOR_V2_PROTOBUF.clone(),
    }
}

/// The media type of the protobuf `/openapi/v2` answer, as kube-openapi writes it. Clients
/// ask with `…spec.v2@v1.0+protobuf`, but `@` is not allowed in a media type, and Go's
/// `mime.ParseMediaType` (which client-go runs on the answer) refuses it.
pub const V2_PROTOBUF_CONTENT_TYPE: &str =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

static V2_PROTOBUF: LazyLock<Bytes> = LazyLock::new(|| Bytes::from(v2_proto::document(V2.value())));
static AGGREGATOR_V2_PROTOBUF: LazyLock<Bytes> =
    LazyLock::new(|| Bytes::from(v2_proto::document(AGGREGATOR_V2.value())));

/// A schema by its full name (e.g. `com.github.openshift.api.image.v1.ImageStreamSpec`):
/// for code that needs the list-map keys or patch strategies of a field.
pub fn component(name: &str) -> Option<&'static Value> {
    SCHEMAS.get(name)
}

fn server_relative_url(path: &str, doc: &Document) -> String {
    format!("/openapi/v3/{path}?hash={}", doc.hash())
}

fn info() -> Value {
    json!({"title": "imagelookup", "version": git_version()})
}

fn group_version_document(gv: &GroupVersion) -> Value {
    let paths = Value::Object(paths::paths(gv));
    let schemas = reachable_schemas(&paths);
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
        "security": [{"BearerToken": []}],
    })
}

/// The schemas `root` refers to, directly or through other schemas, sorted by name so the
/// serialized document (and so its hash) is stable.
fn reachable_schemas(root: &Value) -> Map<String, Value> {
    let mut found: BTreeMap<String, Value> = BTreeMap::new();
    let mut pending = schema_refs(root);
    while let Some(name) = pending.pop() {
        if found.contains_key(&name) {
            continue;
        }
        if let Some(schema) = SCHEMAS.get(&name) {
            pending.extend(schema_refs(schema));
            found.insert(name, schema.clone());
        }
    }
    found.into_iter().collect()
}

/// Every `$ref` target under `value`, as schema names.
fn schema_refs(value: &Value) -> Vec<String> {
    let mut refs = Vec::new();
    visit_refs(value, &mut |target| {
        if let Some(name) = target.strip_prefix(schema::SCHEMA_REF_PREFIX) {
            refs.push(name.to_string());
        }
    });
    refs
}

fn visit_refs(value: &Value, visit: &mut impl FnMut(&str)) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                match (key.as_str(), child) {
                    ("$ref", Value::String(target)) => visit(target),
                    _ => visit_refs(child, visit),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| visit_refs(item, visit)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
