//! Just enough of Kubernetes' protobuf encoding to accept what kubectl sends for the core
//! types compiled into it: `kubectl create secret docker-registry` POSTs a `v1.Secret` as
//! `application/vnd.kubernetes.protobuf`, whatever discovery says, and does not retry as JSON;
//! so do `kubectl auth can-i` its SelfSubjectAccessReview and `can-i --list` its
//! SelfSubjectRulesReview (`kubectl auth whoami`'s SelfSubjectReview has nothing to read).
//!
//! The body is the magic `k8s\0`, then a `runtime.Unknown` whose `raw` field holds the
//! object's own message (`k8s.io/apimachinery/pkg/runtime/types_proto.go`). The few fields a
//! Secret needs are hand-decoded from the wire format; a protobuf crate with generated types
//! would be far more code than the dozen field numbers used here.
//!
//! ```text
//! "k8s\0" Unknown{1: TypeMeta{1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}
//! raw = Secret{1: ObjectMeta, 2: map data<string, bytes>, 3: type, 4: map stringData, 5: immutable}
//! ```

use base64::Engine;
use serde_json::{json, Map, Value};

/// The media type kubectl uses for protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The prefix of every Kubernetes protobuf body.
const MAGIC: &[u8] = b"k8s\0";

/// Why a protobuf body could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProtobufError {
    /// The body does not start with `k8s\0`.
    #[error("the body does not start with the protobuf magic number")]
    NoMagic,
    /// The wire format is broken.
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    /// The envelope holds another kind than the one addressed.
    #[error("the body holds {api_version}, Kind={kind}, not {expected}")]
    WrongKind {
        /// The envelope's apiVersion.
        api_version: String,
        /// The envelope's kind.
        kind: String,
        /// The kind addressed, as `<apiVersion>, Kind=<kind>`.
        expected: &'static str,
    },
    /// The envelope's raw bytes are encoded (e.g. gzip), which kubectl never does.
    #[error("unsupported content encoding {0:?}")]
    Encoded(String),
}

/// One decoded field: its number and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// Decodes a protobuf `v1.Secret` body into the JSON object a JSON client would have sent.
pub fn decode_secret(body: &[u8]) -> Result<Value, ProtobufError> {
    decode_secret_message(unwrap(body, ("v1", "Secret"), "v1, Kind=Secret")?)
}

/// Decodes a protobuf `authorization.k8s.io/v1` SelfSubjectAccessReview body into the JSON
/// object a JSON client would have sent (its spec: the status is the server's to fill).
pub fn decode_access_review(body: &[u8]) -> Result<Value, ProtobufError> {
    const KIND: (&str, &str) = ("authorization.k8s.io/v1", "SelfSubjectAccessReview");
    let raw = unwrap(
        body,
        KIND,
        "authorization.k8s.io/v1, Kind=SelfSubjectAccessReview",
    )?;
    let mut spec = Map::new();
    for (number, value) in fields(message_field(raw, 2)?)? {
        match (number, value) {
            (1, Wire::Bytes(attributes)) => {
                const NAMES: [&str; 7] = [
                    "namespace",
                    "verb",
                    "group",
                    "version",
                    "resource",
                    "subresource",
                    "name",
                ];
                let attributes = strings(attributes, &NAMES)?;
                spec.insert("resourceAttributes".into(), attributes);
            }
            (2, Wire::Bytes(attributes)) => {
                let attributes = strings(attributes, &["path", "verb"])?;
                spec.insert("nonResourceAttributes".into(), attributes);
            }
            _ => {}
        }
    }
    Ok(json!({"apiVersion": KIND.0, "kind": KIND.1, "spec": spec}))
}

/// Decodes a protobuf `authorization.k8s.io/v1` SelfSubjectRulesReview body into the JSON
/// object a JSON client would have sent.
pub fn decode_rules_review(body: &[u8]) -> Result<Value, ProtobufError> {
    const KIND: (&str, &str) = ("authorization.k8s.io/v1", "SelfSubjectRulesReview");
    let raw = unwrap(
        body,
        KIND,
        "authorization.k8s.io/v1, Kind=SelfSubjectRulesReview",
    )?;
    let spec = strings(message_field(raw, 2)?, &["namespace"])?;
    Ok(json!({"apiVersion": KIND.0, "kind": KIND.1, "spec": spec}))
}

/// The object's own message inside the envelope of `body`, which must hold `(apiVersion,
/// kind)` (`expected` names it for the error).
fn unwrap<'a>(
    body: &'a [u8],
    (want_version, want_kind): (&str, &str),
    expected: &'static str,
) -> Result<&'a [u8], ProtobufError> {
    let envelope = body.strip_prefix(MAGIC).ok_or(ProtobufError::NoMagic)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (number, value) in fields(envelope)? {
        match (number, value) {
            (1, Wire::Bytes(type_meta)) => (api_version, kind) = decode_type_meta(type_meta)?,
            (2, Wire::Bytes(bytes)) => raw = bytes,
            (3, Wire::Bytes(encoding)) if !encoding.is_empty() => {
                return Err(ProtobufError::Encoded(text(encoding)?));
            }
            _ => {}
        }
    }
    if api_version != want_version || kind != want_kind {
        return Err(ProtobufError::WrongKind {
            api_version,
            kind,
            expected,
        });
    }
    Ok(raw)
}

/// The last value of the message field `number` of `message` (empty when absent).
fn message_field(message: &[u8], number: u64) -> Result<&[u8], ProtobufError> {
    let mut found = &[][..];
    for (field, value) in fields(message)? {
        if let (true, Wire::Bytes(bytes)) = (field == number, value) {
            found = bytes;
        }
    }
    Ok(found)
}

/// A message of string fields numbered from 1 as `names`, as a JSON object of those set (Go's
/// encoder writes every string field, set or not).
fn strings(message: &[u8], names: &[&str]) -> Result<Value, ProtobufError> {
    let mut object = Map::new();
    for (number, value) in fields(message)? {
        let name = usize::try_from(number)
            .ok()
            .and_then(|number| names.get(number.checked_sub(1)?));
        if let (Some(name), Wire::Bytes(bytes)) = (name, value) {
            if !bytes.is_empty() {
                object.insert((*name).into(), Value::from(text(bytes)?));
            }
        }
    }
    Ok(Value::Object(object))
}

fn decode_type_meta(bytes: &[u8]) -> Result<(String, String), ProtobufError> {
    let (mut api_version, mut kind) = (String::new(), String::new());
    for (number, value) in fields(bytes)? {
        match (number, value) {
            (1, Wire::Bytes(v)) => api_version = text(v)?,
            (2, Wire::Bytes(v)) => kind = text(v)?,
            _ => {}
        }
    }
    Ok((api_version, kind))
}

fn decode_secret_message(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret"});
    let (mut data, mut string_data) = (Map::new(), Map::new());
    for (number, value) in fields(bytes)? {
        match (number, value) {
            (1, Wire::Bytes(meta)) => secret["metadata"] = decode_object_meta(meta)?,
            (2, Wire::Bytes(entry)) => {
                let (key, value) = map_entry(entry)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(value);
                data.insert(text(key)?, Value::from(encoded));
            }
            (3, Wire::Bytes(v)) if !v.is_empty() => secret["type"] = Value::from(text(v)?),
            (4, Wire::Bytes(entry)) => {
                let (key, value) = map_entry(entry)?;
                string_data.insert(text(key)?, Value::from(text(value)?));
            }
            (5, Wire::Varint(v)) => secret["immutable"] = Value::from(v != 0),
            _ => {}
        }
    }
    for (field, map) in [("data", data), ("stringData", string_data)] {
        if !map.is_empty() {
            secret[field] = Value::Object(map);
        }
    }
    Ok(secret)
}

/// The ObjectMeta fields a client may set on create; server-set ones are ignored anyway.
fn decode_object_meta(bytes: &[u8]) -> Result<Value, ProtobufError> {
    let mut metadata = Map::new();
    let (mut labels, mut annotations, mut finalizers) = (Map::new(), Map::new(), Vec::new());
    for (number, value) in fields(bytes)? {
        let Wire::Bytes(v) = value else { continue };
        let name = match number {
            1 => "name",
            2 => "generateName",
            3 => "namespace",
            6 => "resourceVersion",
            11 | 12 => {
                let (key, value) = map_entry(v)?;
                let map = if number == 11 {
                    &mut labels
                } else {
                    &mut annotations
                };
                map.insert(text(key)?, Value::from(text(value)?));
                continue;
            }
            14 => {
                finalizers.push(Value::from(text(v)?));
                continue;
            }
            _ => continue,
        };
        // Go's encoder writes every string field, set or not.
        if !v.is_empty() {
            metadata.insert(name.into(), Value::from(text(v)?));
        }
    }
    for (field, map) in [("labels", labels), ("annotations", annotations)] {
        if !map.is_empty() {
            metadata.insert(field.into(), Value::Object(map));
        }
    }
    if !finalizers.is_empty() {
        metadata.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(metadata))
}

/// A map entry message: key is field 1, value field 2 (both length-delimited here).
fn map_entry(bytes: &[u8]) -> Result<(&[u8], &[u8]), ProtobufError> {
    let (mut key, mut value) = (&[][..], &[][..]);
    for (number, field) in fields(bytes)? {
        match (number, field) {
            (1, Wire::Bytes(k)) => key = k,
            (2, Wire::Bytes(v)) => value = v,
            _ => {}
        }
    }
    Ok((key, value))
}

fn text(bytes: &[u8]) -> Result<String, ProtobufError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtobufError::Malformed("a string is not UTF-8"))
}

/// Every field of one message, in order.
fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ProtobufError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut bytes)?),
            1 => skip(&mut bytes, 8)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| ProtobufError::Malformed("a length does not fit"))?;
                let (value, rest) = split(bytes, len)?;
                bytes = rest;
                Wire::Bytes(value)
            }
            5 => skip(&mut bytes, 4)?,
            _ => return Err(ProtobufError::Malformed("unsupported wire type")),
        };
        out.push((key >> 3, value));
    }
    Ok(out)
}

fn skip<'a>(bytes: &mut &'a [u8], len: usize) -> Result<Wire<'a>, ProtobufError> {
    *bytes = split(bytes, len)?.1;
    Ok(Wire::Fixed)
}

fn split(bytes: &[u8], len: usize) -> Result<(&[u8], &[u8]), ProtobufError> {
    match bytes.len() >= len {
        true => Ok(bytes.split_at(len)),
        false => Err(ProtobufError::Malformed("a field runs past the end")),
    }
}

fn varint(bytes: &mut &[u8]) -> Result<u64, ProtobufError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes
            .split_first()
            .ok_or(ProtobufError::Malformed("a varint runs past the end"))?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtobufError::Malformed("a varint is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes a length-delimited field.
    fn field(number: u64, value: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8];
        let mut len = value.len();
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            out.push(if len == 0 { byte } else { byte | 0x80 });
            if len == 0 {
                break;
            }
        }
        out.extend_from_slice(value);
        out
    }

    fn entry(key: &str, value: &[u8]) -> Vec<u8> {
        [field(1, key.as_bytes()), field(2, value)].concat()
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, raw)].concat()
    }

    fn docker_secret() -> Vec<u8> {
        let meta = [
            field(1, b"pull"),
            field(2, b""),
            field(3, b"ns"),
            field(11, &entry("app", b"web")),
            field(14, b"example.com/keep"),
        ]
        .concat();
        let long_value = vec![b'x'; 300];
        [
            field(1, &meta),
            field(2, &entry(".dockerconfigjson", b"{}")),
            field(2, &entry("big", &long_value)),
            field(3, b"kubernetes.io/dockerconfigjson"),
            vec![5 << 3, 1],
        ]
        .concat()
    }

    fn check(body: &[u8], expected: Result<Value, ProtobufError>) {
        assert_eq!(decode_secret(body), expected);
    }

    #[test]
    fn kubectl_secrets_decode_into_the_json_a_json_client_sends() {
        let mut decoded = decode_secret(&envelope("v1", "Secret", &docker_secret())).unwrap();
        let big = decoded["data"]["big"].take();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(big.as_str().unwrap())
                .unwrap()
                .len(),
            300
        );
        assert_eq!(
            decoded,
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "pull", "namespace": "ns", "labels": {"app": "web"},
                                "finalizers": ["example.com/keep"]},
                   "data": {".dockerconfigjson": "e30=", "big": null},
                   "type": "kubernetes.io/dockerconfigjson", "immutable": true})
        );
    }

    #[test]
    fn other_kinds_and_broken_bodies_are_refused() {
        check(
            &envelope("v1", "ConfigMap", b""),
            Err(ProtobufError::WrongKind {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                expected: "v1, Kind=Secret",
            }),
        );
        check(b"{\"kind\":\"Secret\"}", Err(ProtobufError::NoMagic));
        let mut truncated = envelope("v1", "Secret", &docker_secret());
        truncated.truncate(truncated.len() - 3);
        check(
            &truncated,
            Err(ProtobufError::Malformed("a field runs past the end")),
        );
        let gzipped = [envelope("v1", "Secret", b""), field(3, b"gzip")].concat();
        check(&gzipped, Err(ProtobufError::Encoded("gzip".into())));
    }

    #[test]
    fn kubectl_s_access_and_rules_reviews_decode_to_their_json_specs() {
        const GROUP: &str = "authorization.k8s.io/v1";
        // As Go writes them: every string field, set or not; an empty status.
        let resource = [
            field(1, b"team-a"),
            field(2, b"create"),
            field(3, b"image.openshift.io"),
            field(4, b"v1"),
            field(5, b"imagestreams"),
            field(6, b""),
            field(7, b""),
        ]
        .concat();
        let review = [field(1, b""), field(2, &field(1, &resource)), field(3, b"")].concat();
        let decoded = decode_access_review(&envelope(GROUP, "SelfSubjectAccessReview", &review));
        assert_eq!(
            decoded.unwrap(),
            json!({"apiVersion": GROUP, "kind": "SelfSubjectAccessReview",
                   "spec": {"resourceAttributes": {"namespace": "team-a", "verb": "create",
                            "group": "image.openshift.io", "version": "v1",
                            "resource": "imagestreams"}}})
        );
        let path = [field(1, b"/apis"), field(2, b"get")].concat();
        let review = [field(1, b""), field(2, &field(2, &path))].concat();
        let decoded = decode_access_review(&envelope(GROUP, "SelfSubjectAccessReview", &review));
        assert_eq!(
            decoded.unwrap()["spec"],
            json!({"nonResourceAttributes": {"path": "/apis", "verb": "get"}})
        );

        let rules = [field(1, b""), field(2, &field(1, b"team-a"))].concat();
        let decoded = decode_rules_review(&envelope(GROUP, "SelfSubjectRulesReview", &rules));
        assert_eq!(decoded.unwrap()["spec"], json!({"namespace": "team-a"}));

        let other = decode_rules_review(&envelope(GROUP, "SelfSubjectAccessReview", &rules));
        assert_eq!(
            other.unwrap_err().to_string(),
            "the body holds authorization.k8s.io/v1, Kind=SelfSubjectAccessReview, not \
             authorization.k8s.io/v1, Kind=SelfSubjectRulesReview"
        );
    }
}
