//! Checks and server-set fields of an object's metadata on create and update: type meta,
//! identity against the URL, names (and `generateName`), resourceVersion preconditions, and the
//! fields the server owns (uid, creationTimestamp, generation, …).

use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::{resource_version, Target};
use crate::apiserver::error::ApiError;
use crate::apiserver::resource::Kind;
use crate::store::Object;

/// Characters of the random `generateName` suffix, as the apiserver uses (no vowels).
const GENERATE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `apiVersion` and `kind`, when given, must be this kind's.
pub(super) fn check_type_meta(kind: Kind, object: &Value) -> Result<(), ApiError> {
    if !object.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    }
    crate::apiserver::resource::check_api_version_and_kind(
        object,
        kind.api_version(),
        kind.kind(),
    )?;
    // Before anything reads the body's metadata: a `metadata: "x"` would read as "no name".
    // (A stream's decode walks it again; the walk reads only containers and is cheap.)
    crate::apiserver::resource::check_shape(kind, object)?;
    check_metadata_scalars(kind, object)
}

/// The metadata members Go's decoder reads as strings.
const STRING_MEMBERS: [&str; 6] = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "selfLink",
];

/// The metadata members Go's decoder reads as RFC 3339 times (`metav1.Time`).
const TIME_MEMBERS: [&str; 2] = ["creationTimestamp", "deletionTimestamp"];

/// Metadata strings and times of another JSON type, or times that do not parse, are refused
/// (400) as kube-apiserver's decoder refuses them. Read here as absent, a numeric `name` was
/// answered "name or generateName is required" and a numeric `resourceVersion` "must be
/// specified for an update", which tell the client it sent nothing.
fn check_metadata_scalars(kind: Kind, object: &Value) -> Result<(), ApiError> {
    let Some(metadata) = object.get("metadata").and_then(Value::as_object) else {
        return Ok(());
    };
    let refused = |detail: String| Err(ApiError::undecodable(kind.kind(), detail));
    for member in STRING_MEMBERS {
        match metadata.get(member) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(other) => return refused(not_a(other, member, "string")),
        }
    }
    for member in TIME_MEMBERS {
        match metadata.get(member) {
            None | Some(Value::Null) => {}
            // Go's `metav1.Time` reads an empty string as no time.
            Some(Value::String(text)) if text.is_empty() || text.parse::<Timestamp>().is_ok() => {}
            Some(Value::String(text)) => {
                return refused(format!(
                    "metadata.{member}: parsing time {text:?} as \"2006-01-02T15:04:05Z07:00\": \
                     not an RFC 3339 time"
                ))
            }
            Some(other) => return refused(not_a(other, member, "v1.Time")),
        }
    }
    Ok(())
}

/// Go's `json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type
/// string`.
fn not_a(value: &Value, member: &str, go_type: &str) -> String {
    let found = match value {
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    format!(
        "json: cannot unmarshal {found} into Go struct field ObjectMeta.metadata.{member} of type \
         {go_type}"
    )
}

/// Checks that the body names the URL's object and namespace (filling them when empty).
pub(super) fn check_identity(target: &Target, object: &Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    if name != target.name() {
        return Err(ApiError::name_mismatch(name, target.name()));
    }
    check_namespace(target, object)
}

fn check_namespace(target: &Target, object: &Value) -> Result<(), ApiError> {
    let in_body = object["metadata"]["namespace"].as_str().unwrap_or("");
    match target.namespace.as_deref() {
        Some(url) if !in_body.is_empty() && in_body != url => Err(ApiError::namespace_mismatch()),
        _ => Ok(()),
    }
}

/// Names, namespaces and stamps a new object; returns its name.
pub(super) fn prepare_create_metadata(
    target: &Target,
    object: &mut Value,
) -> Result<String, ApiError> {
    check_namespace(target, object)?;
    let metadata = metadata_mut(object);
    if metadata
        .get("resourceVersion")
        .and_then(Value::as_str)
        .is_some_and(|rv| !rv.is_empty())
    {
        return Err(ApiError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    if let Some(namespace) = &target.namespace {
        metadata.insert("namespace".into(), json!(namespace));
    }
    let name = match metadata
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        Some(name) => name.to_string(),
        None => generated_name(
            metadata
                .get("generateName")
                .and_then(Value::as_str)
                .unwrap_or(""),
        ),
    };
    metadata.insert("name".into(), json!(name));
    metadata.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    metadata.insert("creationTimestamp".into(), json!(now_rfc3339()));
    for server_owned in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "resourceVersion",
    ] {
        metadata.remove(server_owned);
    }
    Ok(name)
}

/// A name must be a usable path segment before it becomes a store key; the kind's own rules
/// give the detailed message first for ImageStreams.
pub(super) fn check_name(target: &Target, object: &Value) -> Result<(), ApiError> {
    let name = target.name();
    let bad = name.is_empty() || name.contains('/') || name == "." || name == "..";
    if !bad {
        return Ok(());
    }
    let error = match name.is_empty() {
        true => {
            crate::field::FieldError::required("metadata.name", "name or generateName is required")
        }
        false => {
            // apimachinery's `ValidatePathSegmentName` wording for each case.
            let reason = match name {
                "." | ".." => format!("may not be '{name}'"),
                _ => "may not contain '/'".to_string(),
            };
            crate::field::FieldError::invalid("metadata.name", name, reason)
        }
    };
    let shown = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    Err(ApiError::invalid(
        target.kind.group_kind(),
        shown,
        vec![error],
    ))
}

/// The length of a generated suffix, and the longest prefix kept before it, as
/// kube-apiserver's `SimpleNameGenerator`: a generated name is at most 63 characters.
const GENERATED_SUFFIX: usize = 5;
const GENERATED_PREFIX_MAX: usize = 63 - GENERATED_SUFFIX;

/// Whether a create body asks the server for its name (`generateName` and no `name`): a
/// create that finds the generated name taken is tried again with another.
pub(super) fn generates_name(object: &Value) -> bool {
    let metadata = &object["metadata"];
    metadata["name"].as_str().unwrap_or("").is_empty()
        && !metadata["generateName"].as_str().unwrap_or("").is_empty()
}

fn generated_name(prefix: &str) -> String {
    if prefix.is_empty() {
        return String::new();
    }
    let suffix: String = (0..GENERATED_SUFFIX)
        .map(|_| GENERATE_ALPHABET[rand::random_range(0..GENERATE_ALPHABET.len())] as char)
        .collect();
    format!("{}{suffix}", truncated(prefix, GENERATED_PREFIX_MAX))
}

/// `text` cut to at most `limit` bytes, at a character boundary.
fn truncated(text: &str, limit: usize) -> &str {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether a body's resourceVersion names none: kube-apiserver parses it as a number first,
/// so an empty one and `"0"` alike read as 0, "no version" (an unconditional update where the
/// kind allows one, a 422 where it does not).
pub(super) fn names_no_version(resource_version: &str) -> bool {
    resource_version.bytes().all(|b| b == b'0')
}

/// PUT needs the current resourceVersion: missing (or 0) is 422, stale is 409.
pub(super) fn require_matching_version(
    target: &Target,
    object: &Value,
    current: &Object,
) -> Result<(), ApiError> {
    let sent = resource_version(object);
    if names_no_version(sent) {
        // The parsed version is shown, as the generic store shows it: `Invalid value: 0`.
        let error = crate::field::FieldError::invalid(
            "metadata.resourceVersion",
            0,
            "must be specified for an update",
        );
        // The generic store names the resource here, not the kind (store.go `Update`:
        // "The Invalid error should have a field for Resource", kubernetes#18526).
        let kind = crate::apiserver::error::GroupKind::new(
            target.kind.group_resource().group,
            target.kind.plural(),
        );
        return Err(ApiError::invalid(kind, target.name(), vec![error]));
    }
    if sent != resource_version(&current.value) {
        return Err(ApiError::modified(
            target.kind.group_resource(),
            target.name(),
        ));
    }
    Ok(())
}

/// Keeps what only the server sets: creationTimestamp, deletion fields, generation, and the uid
/// unless the body names one (a different one is refused by the update rules); on `/status`,
/// all of the stored metadata.
pub(super) fn carry_server_metadata(object: &mut Value, current: &Value, status: bool) {
    let stored = current["metadata"].as_object().cloned().unwrap_or_default();
    let metadata = metadata_mut(object);
    if status {
        let managed = metadata.remove("managedFields");
        *metadata = stored;
        if let Some(managed) = managed {
            metadata.insert("managedFields".into(), managed);
        }
        return;
    }
    let names_uid = metadata
        .get("uid")
        .and_then(Value::as_str)
        .is_some_and(|uid| !uid.is_empty());
    if !names_uid {
        match stored.get("uid") {
            Some(uid) => metadata.insert("uid".into(), uid.clone()),
            None => metadata.remove("uid"),
        };
    }
    for field in ["creationTimestamp", "generation", "namespace"] {
        match stored.get(field) {
            Some(value) => metadata.insert(field.into(), value.clone()),
            None => metadata.remove(field),
        };
    }
    // kube-apiserver's `BeforeUpdate`: a stored deletionTimestamp stands whatever is sent, a
    // stored grace period when none is sent; one set by the client is refused by the update
    // rules (immutable), not dropped.
    if let Some(value) = stored.get("deletionTimestamp") {
        metadata.insert("deletionTimestamp".into(), value.clone());
    }
    if let (Some(value), false) = (
        stored.get("deletionGracePeriodSeconds"),
        metadata.contains_key("deletionGracePeriodSeconds"),
    ) {
        metadata.insert("deletionGracePeriodSeconds".into(), value.clone());
    }
}

/// Whether two versions of an object are the same apart from their resourceVersion.
pub(super) fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |value: &Value| {
        let mut copy = value.clone();
        if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("resourceVersion");
        }
        copy
    };
    strip(a) == strip(b)
}

fn metadata_mut(object: &mut Value) -> &mut Map<String, Value> {
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    object["metadata"]
        .as_object_mut()
        .expect("metadata was just made an object")
}

/// Now, as Kubernetes writes timestamps: RFC 3339, whole seconds, UTC.
pub(super) fn now_rfc3339() -> String {
    crate::object_meta::time::rfc3339(Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_strings_and_times_of_another_type_are_refused_as_go_decodes_them() {
        let stream = |metadata: Value| json!({"metadata": metadata, "spec": {}});
        let refused = |member: &str, found: &str, go_type: &str| {
            Some(format!(
                "ImageStream in version \"v1\" cannot be handled as a ImageStream: json: cannot \
                 unmarshal {found} into Go struct field ObjectMeta.metadata.{member} of type {go_type}"
            ))
        };
        let cases = [
            (
                json!({"name": "a", "uid": "", "resourceVersion": null}),
                None,
            ),
            (
                json!({"creationTimestamp": "2026-12-02T08:00:00Z", "deletionTimestamp": ""}),
                None,
            ),
            (
                json!({"creationTimestamp": "2026-12-02T08:00:00.123+01:00"}),
                None,
            ),
            (json!({"name": 5}), refused("name", "number", "string")),
            (
                json!({"resourceVersion": 5}),
                refused("resourceVersion", "number", "string"),
            ),
            (json!({"uid": true}), refused("uid", "bool", "string")),
            (
                json!({"generateName": {}}),
                refused("generateName", "object", "string"),
            ),
            (
                json!({"namespace": ["a"]}),
                refused("namespace", "array", "string"),
            ),
            (
                json!({"deletionTimestamp": 7}),
                refused("deletionTimestamp", "number", "v1.Time"),
            ),
            (
                json!({"creationTimestamp": "garbage"}),
                Some(
                    "ImageStream in version \"v1\" cannot be handled as a ImageStream: \
                     metadata.creationTimestamp: parsing time \"garbage\" as \
                     \"2006-01-02T15:04:05Z07:00\": not an RFC 3339 time"
                        .to_string(),
                ),
            ),
        ];
        for (metadata, expected) in cases {
            let result = check_type_meta(Kind::ImageStream, &stream(metadata.clone()));
            match (expected, result) {
                (None, Ok(())) => {}
                (Some(message), Err(error)) => {
                    assert_eq!(error.code(), 400, "{metadata}");
                    assert_eq!(error.to_string(), message, "{metadata}");
                }
                (expected, result) => panic!("{metadata}: {result:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn generated_names_keep_at_most_58_characters_of_the_prefix_then_five_random_ones() {
        let name = generated_name("web-");
        assert_eq!(name.len(), 9, "{name}");
        assert!(name.starts_with("web-"), "{name}");
        let suffix = name.trim_start_matches("web-").as_bytes();
        assert!(
            suffix.iter().all(|c| GENERATE_ALPHABET.contains(c)),
            "{name}"
        );

        let long = "a".repeat(100);
        let name = generated_name(&long);
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.starts_with(&long[..58]), "{name}");
        assert_eq!(generated_name(""), "");
        assert_eq!(truncated("abé", 3), "ab", "never inside a character");
    }

    #[test]
    fn only_a_body_with_generate_name_and_no_name_has_its_name_generated() {
        let body = |metadata: Value| json!({ "metadata": metadata });
        assert!(generates_name(&body(json!({"generateName": "web-"}))));
        assert!(generates_name(&body(
            json!({"name": "", "generateName": "web-"})
        )));
        assert!(!generates_name(&body(
            json!({"name": "a", "generateName": "web-"})
        )));
        assert!(!generates_name(&body(json!({"generateName": ""}))));
        assert!(!generates_name(&body(json!({}))));
    }
}
