//! A small, static description of the ImageStream type: which fields exist and how each list
//! merges. Strategic merge patch, server-side apply and unknown-field detection all walk it, so
//! the merge keys live in one place.
//!
//! The list semantics are the ones OpenShift declares (`openshift/api: image/v1/types.go`) and
//! the ones `metav1.ObjectMeta` declares: `spec.tags` merges by `name`, `status.tags` by `tag`,
//! `metadata.ownerReferences` by `uid`, `metadata.finalizers` is a set; every other list is
//! atomic. `ObjectReference` and `OwnerReference` are `+structType=atomic` in Kubernetes, so
//! server-side apply owns them as one value.

/// One node of the schema tree.
#[derive(Debug)]
pub enum Node {
    /// A leaf: string, number, boolean, timestamp, or opaque JSON such as `fieldsV1`.
    Scalar,
    /// An object with declared fields.
    Struct {
        /// The Go type, as Go's JSON decoder names it in a type error (`v1.TagReference`).
        go_type: &'static str,
        /// The declared fields, in the order OpenShift documents them.
        fields: &'static [Field],
        /// Whether server-side apply treats the whole object as one value.
        atomic: bool,
    },
    /// A string-keyed map whose values share one schema (labels, annotations).
    Map {
        /// The Go type, as Go's JSON decoder names it in a type error (`map[string]string`).
        go_type: &'static str,
        /// The schema of every value.
        values: &'static Node,
    },
    /// A list of items.
    List {
        /// How two versions of the list combine.
        kind: ListKind,
        /// The schema of every item.
        item: &'static Node,
    },
}

/// A kind the patch code handles: what an apply configuration must name, the `apiVersion`
/// its managedFields entries carry, and its schema.
#[derive(Debug)]
pub struct ObjectType {
    /// `apiVersion`: `image.openshift.io/v1`, or `v1` for a Secret.
    pub api_version: &'static str,
    /// `kind`.
    pub kind: &'static str,
    /// The schema of the whole object.
    pub node: &'static Node,
}

/// A declared field of a [`Node::Struct`].
#[derive(Debug)]
pub struct Field {
    /// The JSON name.
    pub name: &'static str,
    /// The field's schema.
    pub node: &'static Node,
}

/// How a list combines with another version of itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// Replaced as a whole.
    Atomic,
    /// Items are objects identified by the value of this key field (`patchMergeKey`).
    Keyed(&'static str),
    /// Items are distinct scalars (`listType=set`).
    Set,
}

/// What a path element resolves to when looking a child up.
#[derive(Clone, Copy, Debug)]
pub enum Child {
    /// A field declared by a struct.
    Declared(&'static Node),
    /// An entry of a map.
    Entry(&'static Node),
    /// Not in the schema.
    Unknown,
}

// === impl Node ===

impl Node {
    /// The child reached through the object key `name`.
    pub fn child(&self, name: &str) -> Child {
        match self {
            Node::Struct { fields, .. } => fields
                .iter()
                .find(|field| field.name == name)
                .map_or(Child::Unknown, |field| Child::Declared(field.node)),
            Node::Map { values, .. } => Child::Entry(values),
            Node::Scalar | Node::List { .. } => Child::Unknown,
        }
    }

    /// The schema of the child `name`, or `None` when the schema does not know it.
    pub fn child_node(&self, name: &str) -> Option<&'static Node> {
        match self.child(name) {
            Child::Declared(node) | Child::Entry(node) => Some(node),
            Child::Unknown => None,
        }
    }

    /// Whether server-side apply owns this node as a single value.
    pub fn is_atomic(&self) -> bool {
        match self {
            Node::Scalar => true,
            Node::Struct { atomic, .. } => *atomic,
            Node::Map { .. } => false,
            Node::List { kind, .. } => *kind == ListKind::Atomic,
        }
    }
}

impl Field {
    /// The field `name` of schema `node`.
    pub(crate) const fn new(name: &'static str, node: &'static Node) -> Self {
        Self { name, node }
    }
}

/// A struct whose fields server-side apply owns one by one.
pub(crate) const fn object(go_type: &'static str, fields: &'static [Field]) -> Node {
    Node::Struct {
        go_type,
        fields,
        atomic: false,
    }
}

const fn atomic_object(go_type: &'static str, fields: &'static [Field]) -> Node {
    Node::Struct {
        go_type,
        fields,
        atomic: true,
    }
}

const fn atomic_list(item: &'static Node) -> Node {
    Node::List {
        kind: ListKind::Atomic,
        item,
    }
}

/// A leaf value.
pub static SCALAR: Node = Node::Scalar;
static STRING_MAP: Node = Node::Map {
    go_type: "map[string]string",
    values: &SCALAR,
};
/// A Secret's `data`: base64 text in JSON, bytes in Go.
static BYTES_MAP: Node = Node::Map {
    go_type: "map[string][]uint8",
    values: &SCALAR,
};

/// `core/v1 ObjectReference` (`+structType=atomic`).
pub static OBJECT_REFERENCE: Node = atomic_object(
    "v1.ObjectReference",
    &[
        Field::new("kind", &SCALAR),
        Field::new("namespace", &SCALAR),
        Field::new("name", &SCALAR),
        Field::new("uid", &SCALAR),
        Field::new("apiVersion", &SCALAR),
        Field::new("resourceVersion", &SCALAR),
        Field::new("fieldPath", &SCALAR),
    ],
);

static OWNER_REFERENCE: Node = atomic_object(
    "v1.OwnerReference",
    &[
        Field::new("apiVersion", &SCALAR),
        Field::new("kind", &SCALAR),
        Field::new("name", &SCALAR),
        Field::new("uid", &SCALAR),
        Field::new("controller", &SCALAR),
        Field::new("blockOwnerDeletion", &SCALAR),
    ],
);

static MANAGED_FIELDS_ENTRY: Node = object(
    "v1.ManagedFieldsEntry",
    &[
        Field::new("manager", &SCALAR),
        Field::new("operation", &SCALAR),
        Field::new("apiVersion", &SCALAR),
        Field::new("time", &SCALAR),
        Field::new("fieldsType", &SCALAR),
        Field::new("fieldsV1", &SCALAR),
        Field::new("subresource", &SCALAR),
    ],
);

/// `meta/v1 ObjectMeta`, as a server stores it.
pub static OBJECT_META: Node = object(
    "v1.ObjectMeta",
    &[
        Field::new("name", &SCALAR),
        Field::new("generateName", &SCALAR),
        Field::new("namespace", &SCALAR),
        Field::new("selfLink", &SCALAR),
        Field::new("uid", &SCALAR),
        Field::new("resourceVersion", &SCALAR),
        Field::new("generation", &SCALAR),
        Field::new("creationTimestamp", &SCALAR),
        Field::new("deletionTimestamp", &SCALAR),
        Field::new("deletionGracePeriodSeconds", &SCALAR),
        Field::new("labels", &STRING_MAP),
        Field::new("annotations", &STRING_MAP),
        Field::new(
            "ownerReferences",
            &Node::List {
                kind: ListKind::Keyed("uid"),
                item: &OWNER_REFERENCE,
            },
        ),
        Field::new(
            "finalizers",
            &Node::List {
                kind: ListKind::Set,
                item: &SCALAR,
            },
        ),
        Field::new("managedFields", &atomic_list(&MANAGED_FIELDS_ENTRY)),
    ],
);

/// `image/v1 TagReference`, a stream's spec tag.
pub static TAG_REFERENCE: Node = object(
    "v1.TagReference",
    &[
        Field::new("name", &SCALAR),
        Field::new("annotations", &STRING_MAP),
        Field::new("from", &OBJECT_REFERENCE),
        Field::new("reference", &SCALAR),
        Field::new("generation", &SCALAR),
        Field::new("importPolicy", &TAG_IMPORT_POLICY),
        Field::new("referencePolicy", &TAG_REFERENCE_POLICY),
    ],
);

/// `image/v1 TagImportPolicy`.
pub static TAG_IMPORT_POLICY: Node = object(
    "v1.TagImportPolicy",
    &[
        Field::new("insecure", &SCALAR),
        Field::new("scheduled", &SCALAR),
        Field::new("importMode", &SCALAR),
    ],
);

/// `image/v1 TagReferencePolicy`.
pub static TAG_REFERENCE_POLICY: Node =
    object("v1.TagReferencePolicy", &[Field::new("type", &SCALAR)]);

static IMAGE_STREAM_SPEC: Node = object(
    "v1.ImageStreamSpec",
    &[
        Field::new(
            "lookupPolicy",
            &object("v1.ImageLookupPolicy", &[Field::new("local", &SCALAR)]),
        ),
        Field::new("dockerImageRepository", &SCALAR),
        Field::new(
            "tags",
            &Node::List {
                kind: ListKind::Keyed("name"),
                item: &TAG_REFERENCE,
            },
        ),
    ],
);

static TAG_EVENT: Node = object(
    "v1.TagEvent",
    &[
        Field::new("created", &SCALAR),
        Field::new("dockerImageReference", &SCALAR),
        Field::new("image", &SCALAR),
        Field::new("generation", &SCALAR),
    ],
);

static TAG_EVENT_CONDITION: Node = object(
    "v1.TagEventCondition",
    &[
        Field::new("type", &SCALAR),
        Field::new("status", &SCALAR),
        Field::new("lastTransitionTime", &SCALAR),
        Field::new("reason", &SCALAR),
        Field::new("message", &SCALAR),
        Field::new("generation", &SCALAR),
    ],
);

static NAMED_TAG_EVENT_LIST: Node = object(
    "v1.NamedTagEventList",
    &[
        Field::new("tag", &SCALAR),
        Field::new("items", &atomic_list(&TAG_EVENT)),
        Field::new("conditions", &atomic_list(&TAG_EVENT_CONDITION)),
    ],
);

static IMAGE_STREAM_STATUS: Node = object(
    "v1.ImageStreamStatus",
    &[
        Field::new("dockerImageRepository", &SCALAR),
        Field::new("publicDockerImageRepository", &SCALAR),
        Field::new(
            "tags",
            &Node::List {
                kind: ListKind::Keyed("tag"),
                item: &NAMED_TAG_EVENT_LIST,
            },
        ),
    ],
);

/// `image.openshift.io/v1 ImageStream`.
pub static IMAGE_STREAM: Node = object(
    "v1.ImageStream",
    &[
        Field::new("apiVersion", &SCALAR),
        Field::new("kind", &SCALAR),
        Field::new("metadata", &OBJECT_META),
        Field::new("spec", &IMAGE_STREAM_SPEC),
        Field::new("status", &IMAGE_STREAM_STATUS),
    ],
);

/// `core/v1 Secret`, as the Secrets this server stores are written (`data` and `stringData`
/// are maps: apply owns each key, as kube-apiserver's schema says).
pub static SECRET: Node = object(
    "v1.Secret",
    &[
        Field::new("apiVersion", &SCALAR),
        Field::new("kind", &SCALAR),
        Field::new("metadata", &OBJECT_META),
        Field::new("immutable", &SCALAR),
        Field::new("data", &BYTES_MAP),
        Field::new("stringData", &STRING_MAP),
        Field::new("type", &SCALAR),
    ],
);

/// ImageStreams.
pub static IMAGE_STREAM_TYPE: ObjectType = ObjectType {
    api_version: crate::api::imagestream::API_VERSION,
    kind: "ImageStream",
    node: &IMAGE_STREAM,
};

/// Secrets of the core group.
pub static SECRET_TYPE: ObjectType = ObjectType {
    api_version: "v1",
    kind: "Secret",
    node: &SECRET,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn list_kind(path: &[&str]) -> Option<ListKind> {
        let mut node: &Node = &IMAGE_STREAM;
        for name in path {
            node = node.child_node(name)?;
        }
        match node {
            Node::List { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    #[test]
    fn list_merge_keys_follow_openshift_and_object_meta() {
        let cases: &[(&[&str], ListKind)] = &[
            (&["spec", "tags"], ListKind::Keyed("name")),
            (&["status", "tags"], ListKind::Keyed("tag")),
            (&["metadata", "ownerReferences"], ListKind::Keyed("uid")),
            (&["metadata", "finalizers"], ListKind::Set),
            (&["metadata", "managedFields"], ListKind::Atomic),
        ];
        for (path, expected) in cases {
            assert_eq!(list_kind(path), Some(*expected), "{path:?}");
        }
    }

    #[test]
    fn map_entries_and_unknown_fields_resolve_differently() {
        let meta = IMAGE_STREAM.child_node("metadata").unwrap();
        let labels = meta.child_node("labels").unwrap();
        assert!(matches!(labels.child("anything"), Child::Entry(_)));
        assert!(matches!(meta.child("labelz"), Child::Unknown));
        assert!(matches!(meta.child("name"), Child::Declared(_)));
    }

    #[test]
    fn object_references_are_atomic_for_apply() {
        let spec = IMAGE_STREAM.child_node("spec").unwrap();
        let Node::List { item, .. } = spec.child_node("tags").unwrap() else {
            panic!("spec.tags is a list");
        };
        assert!(item.child_node("from").unwrap().is_atomic());
        assert!(!item.child_node("importPolicy").unwrap().is_atomic());
    }
}
