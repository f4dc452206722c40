//! Create and update bodies: decoded from JSON, YAML or (for Secrets only, as kubectl's typed
//! client sends them) protobuf, then judged per `fieldValidation`.

use serde_json::Value;

use super::validation;
use crate::apiserver::error::ApiError;
use crate::apiserver::negotiate;
use crate::apiserver::options::FieldValidation;
use crate::apiserver::protobuf;
use crate::apiserver::resource::Kind;

/// A decoded body and the `Warning` texts its fields earned.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    /// The object, as JSON.
    pub object: Value,
    /// One text per problem under `fieldValidation=Warn`.
    pub warnings: Vec<String>,
}

/// Decodes the body of a create or update of `kind` sent with `content_type`.
pub fn decode(
    kind: Kind,
    content_type: Option<&str>,
    bytes: &[u8],
    directive: Option<FieldValidation>,
) -> Result<Decoded, ApiError> {
    if kind == Kind::Secret && is_protobuf(content_type) {
        // Protobuf has no unknown-field check: its decoder only reads the fields it knows.
        let object = protobuf::decode_secret(bytes)
            .map_err(|e| ApiError::bad_request(format!("error decoding protobuf: {e}")))?;
        return Ok(Decoded {
            object,
            warnings: Vec::new(),
        });
    }
    let format = negotiate::body_format(content_type)?;
    let bytes = match format {
        negotiate::BodyFormat::Yaml => negotiate::without_bom(bytes),
        negotiate::BodyFormat::Json => bytes,
    };
    let object = negotiate::decode_body(bytes, format)?;
    // Under `Ignore` (or no directive) problems are dropped, so the body is not scanned.
    let problems = match directive {
        Some(FieldValidation::Strict | FieldValidation::Warn) => {
            validation::body_problems(kind, bytes, format)
        }
        Some(FieldValidation::Ignore) | None => Vec::new(),
    };
    let warnings = validation::enforce_body(kind, directive, &problems, &object)?;
    Ok(Decoded { object, warnings })
}

fn is_protobuf(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case(protobuf::MEDIA_TYPE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// What decoding gives: the object's `metadata.name` and the warnings, or the error code.
    fn check(
        kind: Kind,
        content_type: &str,
        body: &[u8],
        directive: Option<FieldValidation>,
        expected: Result<(&str, usize), u16>,
    ) {
        let result = decode(kind, Some(content_type), body, directive).map(|decoded| {
            let name = decoded.object["metadata"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (name, decoded.warnings.len())
        });
        let expected = expected.map(|(name, warnings)| (name.to_string(), warnings));
        assert_eq!(result.map_err(|e| e.code()), expected, "{content_type}");
    }

    #[test]
    fn bodies_decode_by_content_type_and_kind() {
        let stream = json!({"metadata": {"name": "s"}, "spec": {"extra": 1}}).to_string();
        let warn = Some(FieldValidation::Warn);
        check(
            Kind::ImageStream,
            "application/json",
            stream.as_bytes(),
            warn,
            Ok(("s", 1)),
        );
        check(
            Kind::ImageStream,
            "application/json; charset=utf-8",
            stream.as_bytes(),
            None,
            Ok(("s", 0)),
        );
        check(
            Kind::ImageStream,
            "application/yaml",
            b"metadata:\n  name: y\n",
            warn,
            Ok(("y", 0)),
        );
        check(Kind::ImageStream, "application/json", b"{", None, Err(400));
        check(
            Kind::ImageStream,
            "application/json",
            stream.as_bytes(),
            Some(FieldValidation::Strict),
            Err(400),
        );
        check(
            Kind::ImageStream,
            protobuf::MEDIA_TYPE,
            b"k8s\0",
            None,
            Err(415),
        );
        check(
            Kind::Secret,
            "application/vnd.kubernetes.protobuf",
            b"{}",
            None,
            Err(400),
        );
        let secret = b"k8s\0\x0a\x0c\x0a\x02v1\x12\x06Secret\x12\x08\x0a\x06\x0a\x04pull";
        check(
            Kind::Secret,
            protobuf::MEDIA_TYPE,
            secret,
            Some(FieldValidation::Strict),
            Ok(("pull", 0)),
        );
    }
}
