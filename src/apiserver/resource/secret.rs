//! Secrets' write rules, as kube-apiserver applies them to the docker-config types stored
//! here: `stringData` merged into `data`, each type's key required, `data` in base64.

use base64::Engine;
use serde_json::Value;

use super::{invalid_unless_empty, metadata_errors, Kind, SECRET_TYPES};
use crate::apiserver::error::ApiError;
use crate::field::FieldError;
use crate::object_meta::names::dns_subdomain_problems;
use crate::strategy;

/// The key a Secret of `secret_type` must carry in `data`, as kube-apiserver requires it.
fn required_secret_key(secret_type: &str) -> Option<&'static str> {
    match secret_type {
        "kubernetes.io/dockerconfigjson" => Some(".dockerconfigjson"),
        "kubernetes.io/dockercfg" => Some(".dockercfg"),
        _ => None,
    }
}

/// A Secret's write rules: `stringData` merged into `data` (base64, overriding the same key)
/// and dropped, as kube-apiserver does, then [`validate_secret`]. `stringData` is how pull
/// secrets are usually written in YAML; kept as written, the importer (which reads `data`)
/// would never see it.
pub(super) fn prepare_secret(object: &mut Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let Some(map) = object.as_object_mut() else {
        return validate_secret(object);
    };
    let Some(string_data) = map.remove("stringData") else {
        return validate_secret(object);
    };
    let mut errors = Vec::new();
    let mut merged = Vec::new();
    match string_data {
        Value::Object(entries) => {
            for (key, value) in entries {
                match value.as_str() {
                    Some(text) => merged.push((key, base64_text(text))),
                    None => errors.push(FieldError::invalid(
                        format!("stringData[{key}]"),
                        "<secret contents redacted>",
                        "must be a string",
                    )),
                }
            }
        }
        Value::Null => {}
        _ => errors.push(FieldError::invalid(
            "stringData",
            "<secret contents redacted>",
            "must be a map of strings",
        )),
    }
    invalid_unless_empty(Kind::Secret, &name, errors)?;
    if !merged.is_empty() {
        let data = map
            .entry("data")
            .or_insert_with(|| Value::Object(Default::default()));
        if !data.is_object() {
            *data = Value::Object(Default::default());
        }
        let data = data.as_object_mut().expect("made an object above");
        for (key, value) in merged {
            data.insert(key, Value::String(value));
        }
    }
    validate_secret(object)
}

fn base64_text(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// Whether `value` is base64 of a JSON document.
fn decodes_to_json(value: &Value) -> bool {
    let decoded = value
        .as_str()
        .and_then(|text| base64::engine::general_purpose::STANDARD.decode(text).ok());
    decoded.is_some_and(|bytes| serde_json::from_slice::<Value>(&bytes).is_ok())
}

/// kube-apiserver's `ValidateSecretUpdate`: `type` never changes, and an `immutable` Secret
/// keeps its data and stays immutable.
pub(super) fn check_secret_update(object: &Value, old: &Value) -> Result<(), ApiError> {
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let mut errors = Vec::new();
    let type_of = |secret: &Value| {
        secret
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (new_type, old_type) = (type_of(object), type_of(old));
    if new_type != old_type {
        errors.push(FieldError::invalid("type", new_type, "field is immutable"));
    }
    if old.get("immutable") == Some(&Value::Bool(true)) {
        let locked = "field is immutable when `immutable` is set";
        if object.get("data") != old.get("data") {
            errors.push(FieldError::forbidden("data", locked));
        }
        if object.get("immutable") != Some(&Value::Bool(true)) {
            errors.push(FieldError::forbidden("immutable", locked));
        }
    }
    invalid_unless_empty(Kind::Secret, name, errors)
}

fn validate_secret(object: &Value) -> Result<(), ApiError> {
    // Typed as kube-apiserver decodes it, so a field of the wrong type (`immutable: []`,
    // `finalizers: {}`) is a 400 naming it, not stored for clients to choke on.
    check_base64_data(object)?;
    super::decode::<k8s_openapi::api::core::v1::Secret>(object)?;
    let name = object["metadata"]["name"].as_str().unwrap_or("");
    let secret_type = object.get("type").and_then(Value::as_str).unwrap_or("");
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
    let mut errors = name_errors(name);
    errors.extend(strategy::validate_namespace(namespace));
    errors.extend(metadata_errors(object));
    if !SECRET_TYPES.contains(&secret_type) {
        errors.push(FieldError::not_supported(
            "type",
            secret_type,
            &SECRET_TYPES,
        ));
    }
    if let Some(key) = required_secret_key(secret_type) {
        match object["data"].get(key) {
            None => errors.push(FieldError::required(format!("data[{key}]"), "")),
            // kube-apiserver refuses a docker config that is not JSON; stored, it would be
            // ignored by the importer, which then pulls anonymously.
            Some(value) if !decodes_to_json(value) => errors.push(FieldError::invalid(
                format!("data[{key}]"),
                "<secret contents redacted>",
                "must be a base64-encoded JSON docker config",
            )),
            Some(_) => {}
        }
    }
    invalid_unless_empty(Kind::Secret, name, errors)
}

/// kube-apiserver's Secret name rule (a DNS-1123 subdomain), after the path-segment rules
/// streams use too, so `..` is refused as `may not be '..'`. A Secret whose name Kubernetes
/// cannot hold could not be copied into a cluster nor restored from a backup. An empty name is
/// left to the write path's own `name or generateName is required`.
fn name_errors(name: &str) -> Vec<FieldError> {
    if name.is_empty() {
        return Vec::new();
    }
    let mut reasons = strategy::path_segment_reasons(name, false);
    if reasons.is_empty() {
        reasons = dns_subdomain_problems(name);
    }
    reasons
        .into_iter()
        .map(|reason| FieldError::invalid("metadata.name", name, reason))
        .collect()
}

/// `data` that is not base64, in the words of Go's decoder (`illegal base64 data at input
/// byte 3`), which kube-apiserver answers before anything else.
fn check_base64_data(object: &Value) -> Result<(), ApiError> {
    use base64::DecodeError;
    let Some(data) = object.get("data").and_then(Value::as_object) else {
        return Ok(());
    };
    for text in data.values().filter_map(Value::as_str) {
        let at = match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(_) => continue,
            Err(DecodeError::InvalidByte(at, _) | DecodeError::InvalidLastSymbol(at, _)) => at,
            Err(DecodeError::InvalidLength(_) | DecodeError::InvalidPadding) => text.len(),
        };
        let detail = format!("illegal base64 data at input byte {at}");
        return Err(ApiError::undecodable(Kind::Secret.kind(), detail));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn string_data_is_merged_into_data_and_dropped_as_kube_apiserver_does() {
        let check = |mut secret: Value, expected: Result<Value, &str>| {
            let outcome = prepare_secret(&mut secret).map(|()| secret);
            match (outcome, expected) {
                (Ok(secret), Ok(expected)) => assert_eq!(secret, expected),
                (Err(error), Err(part)) => {
                    assert!(error.to_string().contains(part), "{error}")
                }
                (outcome, expected) => panic!("{outcome:?} where {expected:?} was expected"),
            }
        };
        let pull = |extra: Value| {
            let mut secret = json!({"metadata": {"name": "s", "namespace": "ns"},
                                    "type": "kubernetes.io/dockerconfigjson"});
            secret
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            secret
        };
        check(
            pull(json!({"stringData": {".dockerconfigjson": "{}"}})),
            Ok(pull(json!({"data": {".dockerconfigjson": "e30="}}))),
        );
        check(
            pull(
                json!({"data": {".dockerconfigjson": "eA==", "other": "eQ=="},
                        "stringData": {".dockerconfigjson": "{}"}}),
            ),
            Ok(pull(
                json!({"data": {".dockerconfigjson": "e30=", "other": "eQ=="}}),
            )),
        );
        check(
            pull(json!({"stringData": {".dockerconfigjson": true}})),
            Err("stringData[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\": must be a string"),
        );
        check(
            pull(json!({})),
            Err("data[.dockerconfigjson]: Required value"),
        );
        check(
            pull(json!({"stringData": {".dockerconfigjson": "{\"auths\": {"}})),
            Err("must be a base64-encoded JSON docker config"),
        );
    }

    #[test]
    fn only_docker_config_secrets_with_base64_data_are_stored() {
        let good = json!({"metadata": {"name": "s", "namespace": "ns"}, "type": "kubernetes.io/dockerconfigjson",
                          "data": {".dockerconfigjson": "e30="}});
        assert!(validate_secret(&good).is_ok());
        let opaque = json!({"metadata": {"name": "s", "namespace": "ns"}, "type": "Opaque"});
        let error = validate_secret(&opaque).unwrap_err().to_string();
        assert!(
            error.contains("type: Unsupported value: \"Opaque\""),
            "{error}"
        );
        // Not base64: the Secret does not decode, a 400 in the words of Go's decoder.
        for (text, at) in [("%%%", 0), ("e30 ", 3), ("e30", 3)] {
            let garbled = json!({"metadata": {"name": "s", "namespace": "ns"}, "type": "kubernetes.io/dockercfg", "data": {"x": text}});
            let error = validate_secret(&garbled).unwrap_err();
            assert_eq!(error.code(), 400);
            assert_eq!(
                error.to_string(),
                format!("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte {at}")
            );
        }
    }

    #[test]
    fn a_secrets_type_never_changes_and_an_immutable_one_keeps_its_data() {
        let secret = |kind: &str, data: &str, immutable: Option<bool>| {
            let mut secret = json!({"metadata": {"name": "s", "namespace": "ns"}, "type": kind, "data": {".dockercfg": data}});
            if let Some(immutable) = immutable {
                secret["immutable"] = json!(immutable);
            }
            secret
        };
        let messages = |new: &Value, old: &Value| match check_secret_update(new, old) {
            Ok(()) => String::new(),
            Err(error) => error.to_string(),
        };
        let cfg = "kubernetes.io/dockercfg";
        let old = secret(cfg, "e30=", None);
        assert_eq!(
            messages(&secret(cfg, "eyJ9", None), &old),
            "",
            "a mutable Secret changes"
        );
        let retyped = messages(
            &secret("kubernetes.io/dockerconfigjson", "e30=", None),
            &old,
        );
        assert!(
            retyped.contains(
                "type: Invalid value: \"kubernetes.io/dockerconfigjson\": field is immutable"
            ),
            "{retyped}"
        );
        let locked = secret(cfg, "e30=", Some(true));
        assert_eq!(messages(&locked, &locked), "");
        let changed = messages(&secret(cfg, "eyJ9", Some(true)), &locked);
        assert!(
            changed.contains("data: Forbidden: field is immutable when `immutable` is set"),
            "{changed}"
        );
        let unlocked = messages(&secret(cfg, "e30=", Some(false)), &locked);
        assert!(
            unlocked.contains("immutable: Forbidden: field is immutable when `immutable` is set"),
            "{unlocked}"
        );
    }

    #[test]
    fn fields_of_the_wrong_type_are_refused_naming_them() {
        let secret = |extra: Value| {
            let secret = json!({"metadata": {"name": "s", "namespace": "ns"}, "type": "kubernetes.io/dockerconfigjson",
                                "data": {".dockerconfigjson": "e30="}});
            crate::apiserver::patch::merge::apply(&secret, extra.to_string().as_bytes()).unwrap()
        };
        for (extra, field) in [
            (json!({"immutable": []}), "immutable"),
            (
                json!({"metadata": {"finalizers": {}}}),
                "metadata.finalizers",
            ),
            (json!({"type": 7}), "type"),
        ] {
            let error = validate_secret(&secret(extra)).unwrap_err();
            assert_eq!(error.code(), 400, "{field}");
            assert!(error.to_string().contains(field), "{field}: {error}");
        }
    }

    #[test]
    fn secret_names_and_namespaces_follow_kube_apiservers_rules() {
        let check = |namespace: &str, name: &str, expected: &[&str]| {
            let secret = json!({"metadata": {"name": name, "namespace": namespace},
                                "type": "kubernetes.io/dockercfg", "data": {".dockercfg": "e30="}});
            let found = match validate_secret(&secret) {
                Ok(()) => Vec::new(),
                Err(ApiError::Invalid { errors, .. }) => {
                    errors.iter().map(ToString::to_string).collect()
                }
                Err(other) => panic!("{other}"),
            };
            assert_eq!(found, expected, "{namespace}/{name}");
        };
        let subdomain = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
        let label = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
        check("team-a", "pull.example-1", &[]);
        check(
            "team-a",
            "UPPER",
            &[&format!(
                "metadata.name: Invalid value: \"UPPER\": {subdomain}"
            )],
        );
        check(
            "team-a",
            "a_b c",
            &[&format!(
                "metadata.name: Invalid value: \"a_b c\": {subdomain}"
            )],
        );
        check(
            "team-a",
            "..",
            &["metadata.name: Invalid value: \"..\": may not be '..'"],
        );
        check(
            "team-a",
            "a%b",
            &["metadata.name: Invalid value: \"a%b\": may not contain '%'"],
        );
        let long = "a".repeat(254);
        check(
            "team-a",
            &long,
            &[&format!(
                "metadata.name: Invalid value: \"{long}\": must be no more than 253 characters"
            )],
        );
        check(
            "UPPER",
            "s",
            &[&format!(
                "metadata.namespace: Invalid value: \"UPPER\": {label}"
            )],
        );
        check(
            "..",
            "s",
            &[&format!(
                "metadata.namespace: Invalid value: \"..\": {label}"
            )],
        );
        check(
            "x\u{0}y",
            "s",
            &[&format!(
                "metadata.namespace: Invalid value: \"x\\0y\": {label}"
            )],
        );
        check("", "s", &["metadata.namespace: Required value"]);
    }
}
