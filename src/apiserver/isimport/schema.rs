//! The ImageStreamImport's schema, as Go's decoder reads a body: which members exist (for
//! `fieldValidation`) and where a struct is expected (an array there is a 400).

use crate::apiserver::patch::schema::{
    object, Field, Node, OBJECT_META, OBJECT_REFERENCE, SCALAR, TAG_IMPORT_POLICY,
    TAG_REFERENCE_POLICY,
};

static LOCAL_OBJECT_REFERENCE: Node =
    object("v1.LocalObjectReference", &[Field::new("name", &SCALAR)]);

static IMAGE_IMPORT_SPEC: Node = object(
    "v1.ImageImportSpec",
    &[
        Field::new("from", &OBJECT_REFERENCE),
        Field::new("to", &LOCAL_OBJECT_REFERENCE),
        Field::new("importPolicy", &TAG_IMPORT_POLICY),
        Field::new("referencePolicy", &TAG_REFERENCE_POLICY),
        Field::new("includeManifest", &SCALAR),
    ],
);

static IMAGE_IMPORTS: Node = Node::List {
    kind: crate::apiserver::patch::schema::ListKind::Atomic,
    item: &IMAGE_IMPORT_SPEC,
};

static REPOSITORY_IMPORT_SPEC: Node = object(
    "v1.RepositoryImportSpec",
    &[
        Field::new("from", &OBJECT_REFERENCE),
        Field::new("importPolicy", &TAG_IMPORT_POLICY),
        Field::new("referencePolicy", &TAG_REFERENCE_POLICY),
        Field::new("includeManifest", &SCALAR),
    ],
);

static IMAGE_STREAM_IMPORT_SPEC: Node = object(
    "v1.ImageStreamImportSpec",
    &[
        Field::new("import", &SCALAR),
        Field::new("repository", &REPOSITORY_IMPORT_SPEC),
        Field::new("images", &IMAGE_IMPORTS),
    ],
);

/// `image/v1 ImageStreamImportStatus`: the server's answer, whose members are not read from
/// a request.
static IMAGE_STREAM_IMPORT_STATUS: Node = object(
    "v1.ImageStreamImportStatus",
    &[
        Field::new("import", &SCALAR),
        Field::new("repository", &SCALAR),
        Field::new("images", &SCALAR),
    ],
);

/// `image/v1 ImageStreamImport` as a client sends it.
pub static IMAGE_STREAM_IMPORT: Node = object(
    "v1.ImageStreamImport",
    &[
        Field::new("kind", &SCALAR),
        Field::new("apiVersion", &SCALAR),
        Field::new("metadata", &OBJECT_META),
        Field::new("spec", &IMAGE_STREAM_IMPORT_SPEC),
        Field::new("status", &IMAGE_STREAM_IMPORT_STATUS),
    ],
);
