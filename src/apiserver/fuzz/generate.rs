//! Generators of what a client may write: image streams, image stream tags and pull secrets,
//! each member of their schemas absent, of its type with values from the edges of what
//! validation takes, or of another type.

mod shape;

use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Value};

use self::shape::{
    boolean, junk, list, maybe, name, number, object, rarely, reference, string_map, tag_name,
    text_from, usually, weighted, with_type,
};

/// A resource written, each with one object (`base`) that replaces and patches address.
#[derive(Clone, Copy, Debug)]
pub(super) enum Resource {
    /// `imagestreams`, with its `status` subresource; the base stream is `s`.
    Streams,
    /// `imagestreamtags`: views of a stream's tag; the base is `s:1`.
    Tags,
    /// Core `secrets`, the docker-config kinds the importer reads; the base is `pull`.
    Secrets,
    /// `imagestreamimports`, created only; every reference they could fetch points at a
    /// closed port on 127.0.0.1 (see [`keep_on_loopback`]), so no case leaves the machine.
    Imports,
}

impl Resource {
    /// The collection's path in namespace `fz`.
    pub(super) fn collection(self) -> &'static str {
        match self {
            Self::Streams => "/apis/image.openshift.io/v1/namespaces/fz/imagestreams",
            Self::Tags => "/apis/image.openshift.io/v1/namespaces/fz/imagestreamtags",
            Self::Secrets => "/api/v1/namespaces/fz/secrets",
            Self::Imports => "/apis/image.openshift.io/v1/namespaces/fz/imagestreamimports",
        }
    }

    /// The name of the object replaces and patches address.
    pub(super) fn base(self) -> &'static str {
        match self {
            Self::Streams => "s",
            Self::Tags => "s:1",
            Self::Secrets => "pull",
            Self::Imports => "s",
        }
    }

    /// The kind an accepted write answers.
    pub(super) fn kind(self) -> &'static str {
        match self {
            Self::Streams => "ImageStream",
            Self::Tags => "ImageStreamTag",
            Self::Secrets => "Secret",
            Self::Imports => "ImageStreamImport",
        }
    }

    /// An object of this resource named `name` mostly (a new one when `None`).
    fn object(self, name: Option<&'static str>) -> BoxedStrategy<Value> {
        match self {
            Self::Streams => spoiled(named(stream(), name, "[a-z][a-z0-9-]{0,12}")),
            Self::Tags => spoiled(named(image_stream_tag(), name, "s:[a-z0-9]{1,4}")),
            Self::Secrets => spoiled(named(secret(), name, "[a-z][a-z0-9-]{0,12}")),
            // After spoiling: a spoiled member may put any word in a `from.name`.
            Self::Imports => spoiled(named(image_stream_import(), name, "[a-z][a-z0-9-]{0,12}"))
                .prop_map(|mut import| {
                    keep_on_loopback(&mut import);
                    import
                })
                .boxed(),
        }
    }
}

/// A write: its verb and body, against one resource.
#[derive(Clone, Debug)]
pub(super) enum Write {
    /// `POST` to the collection.
    Create(Value),
    /// `PUT` of the base object, or of its status; `current` sends the stored
    /// resourceVersion, as clients replacing what they read do.
    Replace {
        status: bool,
        current: bool,
        body: Value,
    },
    /// `PATCH` with this content type (merge, strategic merge, JSON patch, apply).
    Patch {
        status: bool,
        content_type: &'static str,
        body: Value,
    },
}

/// Any write to any resource, with an optional `fieldValidation`.
pub(super) fn write() -> impl Strategy<Value = (Resource, Write, Option<&'static str>)> {
    let resource = prop_oneof![
        4 => Just(Resource::Streams),
        2 => Just(Resource::Tags),
        1 => Just(Resource::Secrets),
        1 => Just(Resource::Imports),
    ];
    let validation = prop_oneof![
        8 => Just(None),
        2 => prop::sample::select(vec!["Strict", "Warn", "Ignore"]).prop_map(Some),
        1 => Just(Some("x")),
    ];
    (resource, validation).prop_flat_map(|(resource, validation)| {
        writes(resource).prop_map(move |write| (resource, write, validation))
    })
}

fn writes(resource: Resource) -> BoxedStrategy<Write> {
    // Imports are only created.
    if matches!(resource, Resource::Imports) {
        return resource.object(Some("s")).prop_map(Write::Create).boxed();
    }
    // Only streams have a status subresource.
    let status = match resource {
        Resource::Streams => any::<bool>().boxed(),
        Resource::Tags | Resource::Secrets | Resource::Imports => Just(false).boxed(),
    };
    let patch_type = prop::sample::select(vec![
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ]);
    let base = Some(resource.base());
    prop_oneof![
        resource.object(None).prop_map(Write::Create),
        (
            status.clone(),
            prop::bool::weighted(0.8),
            resource.object(base)
        )
            .prop_map(|(status, current, body)| Write::Replace {
                status,
                current,
                body,
            }),
        (status.clone(), patch_type, resource.object(base)).prop_map(
            |(status, content_type, body)| Write::Patch {
                status,
                content_type,
                body,
            }
        ),
        (status, json_patch()).prop_map(|(status, body)| Write::Patch {
            status,
            content_type: "application/json-patch+json",
            body,
        }),
    ]
    .boxed()
}

/// A GET of a collection, an object or a subresource, with any of the list and watch
/// parameters, each valid or not, and sometimes a Table or YAML `Accept`.
pub(super) fn read() -> impl Strategy<Value = (String, &'static str)> {
    let path = prop::sample::select(vec![
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreams",
        "/apis/image.openshift.io/v1/imagestreams",
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreams/s",
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreams/s/layers",
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreams/s/secrets",
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreamtags",
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreamtags/s:1",
        "/apis/image.openshift.io/v1/namespaces/fz/imagestreamimages/s@sha256:1111",
        "/apis/image.openshift.io/v1/images",
        "/api/v1/namespaces/fz/secrets",
        "/api/v1/namespaces/fz/events",
        "/api/v1/namespaces/fz",
    ]);
    let parameter = prop_oneof![
        (
            "labelSelector",
            prop::sample::select(vec![
                "app=a",
                "app in (a,b)",
                "!app",
                "app!=",
                "a=b,c",
                "=x",
                "app notin ()",
                "a b",
                "app=%",
                "x in (",
                "a.b/c=d",
                ",",
            ])
        ),
        (
            "fieldSelector",
            prop::sample::select(vec![
                "metadata.name=s",
                "metadata.namespace!=fz",
                "spec.x=1",
                "metadata.name",
                "=",
                "a==b",
                "metadata.name=s\\,t",
                "type=kubernetes.io/dockerconfigjson",
            ])
        ),
        (
            "limit",
            prop::sample::select(vec!["0", "1", "-1", "500", "abc", "99999999999999999999"])
        ),
        (
            "continue",
            prop::sample::select(vec![
                "",
                "abc",
                "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJzIn0",
                "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTEsInN0YXJ0IjoiIn0",
                "e30",
                "%%%",
            ])
        ),
        (
            "resourceVersion",
            prop::sample::select(vec!["", "0", "1", "abc", "-1", "99999999999999999999"])
        ),
        (
            "resourceVersionMatch",
            prop::sample::select(vec!["", "Exact", "NotOlderThan", "x"])
        ),
        (
            "watch",
            prop::sample::select(vec!["true", "false", "1", "x"])
        ),
        (
            "timeoutSeconds",
            prop::sample::select(vec!["0", "1", "-1", "abc"])
        ),
        (
            "allowWatchBookmarks",
            prop::sample::select(vec!["true", "x"])
        ),
        (
            "sendInitialEvents",
            prop::sample::select(vec!["true", "false", "x"])
        ),
        ("pretty", prop::sample::select(vec!["true", "x"])),
    ];
    let accept = prop::sample::select(vec![
        "application/json",
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        "application/yaml",
        "application/vnd.kubernetes.protobuf",
        "*/*",
    ]);
    (path, prop::collection::vec(parameter, 0..5), accept).prop_map(|(path, parameters, accept)| {
        let query: Vec<String> = parameters
            .iter()
            .map(|(name, value)| {
                let value = percent_encoding::utf8_percent_encode(
                    value,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                format!("{name}={value}")
            })
            .collect();
        (format!("{path}?{}", query.join("&")), accept)
    })
}

/// `object`, mostly named `name` as the path says (a PUT of another name is one refusal among
/// many), or a valid new name from `fresh` when `None`, so that creates get past validation.
fn named(
    object: impl Strategy<Value = Value> + 'static,
    name: Option<&'static str>,
    fresh: &'static str,
) -> BoxedStrategy<Value> {
    (object, 0..5u8, fresh)
        .prop_map(move |(mut body, pick, fresh)| {
            if pick < 4 && body["metadata"].is_object() {
                body["metadata"]["name"] = Value::from(name.map_or(fresh, str::to_string));
            }
            body
        })
        .boxed()
}

/// `object` well typed three times in four, else with one member of any depth replaced by a
/// value of another type.
fn spoiled(object: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    let spoiled = (object.clone(), any::<prop::sample::Index>(), junk()).prop_map(
        |(mut body, index, junk)| {
            let mut paths = Vec::new();
            members(&body, &mut Vec::new(), &mut paths);
            if !paths.is_empty() {
                let path = &paths[index.index(paths.len())];
                *member_mut(&mut body, path) = junk;
            }
            body
        },
    );
    prop_oneof![3 => object, 1 => spoiled].boxed()
}

/// The paths of every member and item under `value` (as pointer tokens).
fn members(value: &Value, at: &mut Vec<String>, paths: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    for (token, child) in children {
        at.push(token);
        paths.push(at.clone());
        members(child, at, paths);
        at.pop();
    }
}

fn member_mut<'v>(value: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(value, |value, token| match value {
        Value::Array(items) => &mut items[token.parse::<usize>().expect("an index")],
        value => &mut value[token.as_str()],
    })
}

/// A stream-shaped object: every member of the schema may be missing or of the wrong type.
fn stream() -> BoxedStrategy<Value> {
    let spec = object(vec![
        (
            "lookupPolicy",
            maybe(object(vec![(
                "local",
                maybe(any::<bool>().prop_map(Value::from).boxed()),
            )])),
        ),
        ("dockerImageRepository", maybe(reference())),
        ("tags", maybe(list(spec_tag(), 5))),
    ]);
    let status = object(vec![
        ("dockerImageRepository", maybe(reference())),
        ("tags", maybe(list(status_tag(), 3))),
    ]);
    with_type(
        "image.openshift.io/v1",
        "ImageStream",
        vec![
            ("metadata", usually(metadata())),
            ("spec", usually(spec)),
            ("status", maybe(status)),
        ],
    )
    .boxed()
}

/// An ImageStreamTag as clients write one: the tag's spec, the stream's lookup policy.
fn image_stream_tag() -> BoxedStrategy<Value> {
    let metadata = object(vec![
        ("name", usually(name())),
        ("namespace", maybe(weighted("fz", &["other", ""]))),
        ("resourceVersion", rarely(text_from(&["", "1", "abc"]))),
        ("annotations", maybe(string_map())),
        ("labels", rarely(string_map())),
    ]);
    let lookup = object(vec![("local", maybe(boolean()))]);
    with_type(
        "image.openshift.io/v1",
        "ImageStreamTag",
        vec![
            ("metadata", usually(metadata)),
            ("tag", maybe(spec_tag())),
            ("lookupPolicy", maybe(lookup)),
            ("generation", rarely(number())),
            ("image", rarely(junk())),
            ("conditions", rarely(list(junk(), 2))),
        ],
    )
}

/// An ImageStreamImport: images and a repository to import, each reference on 127.0.0.1:1 (a
/// closed port) or not a reference at all, so that no case leaves the machine.
fn image_stream_import() -> BoxedStrategy<Value> {
    let reference = prop_oneof![
        3 => "127\\.0\\.0\\.1:1/[a-z]{1,5}(:[a-z0-9]{1,3})?",
        1 => "127\\.0\\.0\\.1:1/[a-z]{1,5}@sha256:[0-9a-f]{64}",
        1 => prop::sample::select(vec!["", "UPPER/x", "a b", "@@", "127.0.0.1:1/x::y"])
            .prop_map(str::to_string),
    ]
    .prop_map(Value::from)
    .boxed();
    let repository_name = prop_oneof![
        3 => Just("127.0.0.1:1/repo".to_string()),
        1 => Just("127.0.0.1:1/repo:tag".to_string()),
        1 => Just("".to_string()),
    ]
    .prop_map(Value::from)
    .boxed();
    let from = |name: BoxedStrategy<Value>| {
        object(vec![
            (
                "kind",
                usually(weighted("DockerImage", &["ImageStreamTag", ""])),
            ),
            ("name", usually(name)),
        ])
    };
    let (policy, reference_policy) = (import_policy(), reference_policy());
    let image = object(vec![
        ("from", usually(from(reference))),
        ("to", maybe(object(vec![("name", maybe(tag_name()))]))),
        ("importPolicy", maybe(policy.clone())),
        ("referencePolicy", maybe(reference_policy.clone())),
        ("includeManifest", rarely(boolean())),
    ]);
    let repository = object(vec![
        ("from", usually(from(repository_name))),
        ("importPolicy", maybe(policy)),
        ("referencePolicy", maybe(reference_policy)),
        ("includeManifest", rarely(boolean())),
    ]);
    let spec = object(vec![
        ("import", maybe(boolean())),
        ("images", maybe(list(image, 3))),
        ("repository", rarely(repository)),
    ]);
    let metadata = object(vec![
        ("name", usually(name())),
        ("namespace", maybe(weighted("fz", &["other"]))),
        ("resourceVersion", rarely(text_from(&["", "1", "abc"]))),
    ]);
    with_type(
        "image.openshift.io/v1",
        "ImageStreamImport",
        vec![("metadata", usually(metadata)), ("spec", usually(spec))],
    )
}

/// Points every string an import could fetch (an image's or the repository's `from.name`,
/// whatever a spoiled member put there) at 127.0.0.1:1, a port nothing listens on, unless it
/// does already: a random short word is a Docker Hub reference.
fn keep_on_loopback(import: &mut Value) {
    let on_loopback = |name: &mut Value| {
        if let Some(text) = name
            .as_str()
            .filter(|text| !text.starts_with("127.0.0.1:1/"))
        {
            *name = Value::from(format!("127.0.0.1:1/{text}"));
        }
    };
    let spec = &mut import["spec"];
    if let Some(images) = spec.get_mut("images").and_then(Value::as_array_mut) {
        images
            .iter_mut()
            .filter_map(|image| image.pointer_mut("/from/name"))
            .for_each(on_loopback);
    }
    spec.pointer_mut("/repository/from/name").map(on_loopback);
}

/// A Secret of the kinds the importer reads, and of others: its data base64 of a docker
/// config, of anything, or not base64 at all.
fn secret() -> BoxedStrategy<Value> {
    let kind = text_from(&[
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/dockercfg",
        "Opaque",
        "kubernetes.io/basic-auth",
        "",
    ]);
    let config = prop_oneof![
        3 => (name(), ".{0,12}").prop_map(|(host, auth)| {
            let auth = base64::engine::general_purpose::STANDARD.encode(auth);
            json!({"auths": {host.as_str().unwrap_or("h"): {"auth": auth}}}).to_string()
        }),
        1 => junk().prop_map(|junk| junk.to_string()),
    ];
    let encoded = prop_oneof![
        4 => config.prop_map(|text| base64::engine::general_purpose::STANDARD.encode(text)),
        1 => "[A-Za-z0-9+/=!]{0,12}",
    ]
    .prop_map(Value::from)
    .boxed();
    let keys = || prop::sample::select(vec![".dockerconfigjson", ".dockercfg", "username", "a b"]);
    let data = prop::collection::vec((keys(), encoded), 0..3)
        .prop_map(|entries| {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
            )
        })
        .boxed();
    let string_data = prop::collection::vec((keys(), ".{0,20}"), 0..2)
        .prop_map(|entries| {
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), Value::from(v)))
                    .collect(),
            )
        })
        .boxed();
    let metadata = object(vec![
        ("name", usually(name())),
        ("namespace", maybe(weighted("fz", &["other"]))),
        ("labels", maybe(string_map())),
        ("resourceVersion", rarely(text_from(&["", "1", "abc"]))),
    ]);
    with_type(
        "v1",
        "Secret",
        vec![
            ("metadata", usually(metadata)),
            ("type", maybe(kind)),
            ("data", maybe(data)),
            ("stringData", rarely(string_data)),
            ("immutable", rarely(boolean())),
        ],
    )
}

fn metadata() -> BoxedStrategy<Value> {
    let namespace = weighted("fz", &["other", ""]);
    let version = text_from(&["", "1", "abc", "99999999999999999999", "-1"]);
    let created = text_from(&["2026-01-01T00:00:00Z", "yesterday", ""]);
    object(vec![
        ("name", maybe(name())),
        ("generateName", rarely(name())),
        ("namespace", maybe(namespace)),
        ("resourceVersion", rarely(version)),
        ("generation", maybe(number())),
        ("uid", rarely(name())),
        ("creationTimestamp", rarely(created)),
        (
            "deletionTimestamp",
            rarely(text_from(&["2026-01-01T00:00:00Z"])),
        ),
        ("labels", maybe(string_map())),
        ("annotations", maybe(string_map())),
        ("finalizers", maybe(list(name(), 3))),
        ("managedFields", rarely(list(junk(), 2))),
        ("ownerReferences", rarely(list(junk(), 2))),
    ])
}

fn spec_tag() -> BoxedStrategy<Value> {
    let kind = text_from(&[
        "DockerImage",
        "ImageStreamTag",
        "ImageStreamImage",
        "Other",
        "",
    ]);
    let from = object(vec![
        ("kind", maybe(kind)),
        ("name", maybe(reference())),
        ("namespace", maybe(name())),
    ]);
    let (import_policy, reference_policy) = (import_policy(), reference_policy());
    object(vec![
        ("name", maybe(tag_name())),
        ("from", maybe(from)),
        ("importPolicy", maybe(import_policy)),
        ("referencePolicy", maybe(reference_policy)),
        ("reference", maybe(boolean())),
        ("generation", maybe(number())),
        ("annotations", maybe(string_map())),
    ])
}

/// A tag's `importPolicy`.
fn import_policy() -> BoxedStrategy<Value> {
    let mode = text_from(&["Legacy", "PreserveOriginal", "Other"]);
    object(vec![
        ("scheduled", maybe(boolean())),
        ("insecure", maybe(boolean())),
        ("importMode", maybe(mode)),
    ])
}

/// A tag's `referencePolicy`.
fn reference_policy() -> BoxedStrategy<Value> {
    object(vec![(
        "type",
        maybe(text_from(&["Source", "Local", "Other", ""])),
    )])
}

fn status_tag() -> BoxedStrategy<Value> {
    let event = object(vec![
        (
            "created",
            maybe(text_from(&["2026-01-01T00:00:00Z", "now"])),
        ),
        ("dockerImageReference", maybe(reference())),
        ("image", maybe(reference())),
        ("generation", maybe(number())),
    ]);
    let condition = object(vec![
        ("type", maybe(text_from(&["ImportSuccess", ""]))),
        ("status", maybe(text_from(&["True", "False", "Maybe"]))),
        ("reason", maybe(name())),
        ("message", maybe(name())),
        ("generation", maybe(number())),
    ]);
    object(vec![
        ("tag", maybe(tag_name())),
        ("items", maybe(list(event, 3))),
        ("conditions", maybe(list(condition, 2))),
    ])
}

/// A JSON Patch: operations on the paths a stream has, and on some it has not.
fn json_patch() -> BoxedStrategy<Value> {
    let path = text_from(&[
        "/spec",
        "/spec/tags",
        "/spec/tags/0",
        "/spec/tags/-",
        "/spec/tags/0/from",
        "/spec/tags/0/from/name",
        "/spec/tags/99",
        "/spec/lookupPolicy/local",
        "/metadata",
        "/metadata/name",
        "/metadata/namespace",
        "/metadata/labels",
        "/metadata/labels/a",
        "/metadata/resourceVersion",
        "/metadata/managedFields",
        "/status",
        "/status/tags/0/items/0",
        "/kind",
        "",
        "/",
        "/x~1y~0z",
        "spec",
    ]);
    let op = text_from(&["add", "remove", "replace", "move", "copy", "test", "other"]);
    let value = prop_oneof![spec_tag(), junk(), reference()].boxed();
    let operation = object(vec![
        ("op", usually(op)),
        ("path", usually(path.clone())),
        ("from", maybe(path)),
        ("value", maybe(value)),
    ]);
    prop_oneof![10 => list(operation, 4), 1 => junk()].boxed()
}
