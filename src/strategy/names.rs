//! Name and namespace rules for streams (§4.7, apimachinery `ValidateObjectMeta`).
//!
//! A stream name must be a path segment and a single registry path component, because it
//! becomes part of `<registry>/<namespace>/<name>`.

use std::sync::LazyLock;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use regex::Regex;

use super::text;
use crate::field::FieldError;
use crate::reference::NAME_TOTAL_LENGTH_MAX;

/// distribution's repository path component, as OpenShift quotes it in its message.
const COMPONENT_PATTERN: &str = "[a-z0-9]+(?:[._-][a-z0-9]+)*";
const DNS1123_LABEL_PATTERN: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MAX: usize = 63;
/// apimachinery's wording, including the double space its example list produces.
const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case \
    alphanumeric characters or '-', and must start and end with an alphanumeric character \
    (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";

static COMPONENT_RE: LazyLock<Regex> = LazyLock::new(|| anchored(COMPONENT_PATTERN));
static DNS1123_LABEL_RE: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL_PATTERN));
static DNS1123_SUBDOMAIN_RE: LazyLock<Regex> = LazyLock::new(|| {
    anchored(&format!(
        r"{DNS1123_LABEL_PATTERN}(\.{DNS1123_LABEL_PATTERN})*"
    ))
});

fn anchored(pattern: &str) -> Regex {
    Regex::new(&format!("^(?:{pattern})$")).expect("name pattern compiles")
}

/// Errors for `metadata.generateName`, `metadata.name`, `metadata.namespace`, the
/// `namespace/name` length, in OpenShift's order, then labels, annotations, finalizers and
/// owner references ([`crate::object_meta`]).
pub(crate) fn validate_metadata(meta: &ObjectMeta) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let generate_name = text(&meta.generate_name);
    if !generate_name.is_empty() {
        for reason in stream_name_reasons(generate_name, true) {
            errors.push(FieldError::invalid(
                "metadata.generateName",
                generate_name,
                reason,
            ));
        }
    }
    let name = text(&meta.name);
    if name.is_empty() {
        errors.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for reason in stream_name_reasons(name, false) {
            errors.push(FieldError::invalid("metadata.name", name, reason));
        }
    }
    errors.extend(validate_namespace(text(&meta.namespace)));
    let namespace = text(&meta.namespace);
    if namespace.len() + 1 + name.len() > NAME_TOTAL_LENGTH_MAX {
        let detail =
            format!("'namespace/name' cannot be longer than {NAME_TOTAL_LENGTH_MAX} characters");
        errors.push(FieldError::invalid("metadata.name", name, detail));
    }
    errors.extend(crate::object_meta::validate(meta));
    errors
}

/// `ValidateImageStreamName`: path-segment rules first, then the component pattern.
fn stream_name_reasons(name: &str, prefix: bool) -> Vec<String> {
    let reasons = path_segment_reasons(name, prefix);
    if !reasons.is_empty() {
        return reasons;
    }
    if COMPONENT_RE.is_match(name) {
        return Vec::new();
    }
    vec![format!("must match {COMPONENT_PATTERN:?}")]
}

/// apimachinery's `ValidatePathSegmentName` reasons (`may not be '..'`, `may not contain '/'`).
pub(crate) fn path_segment_reasons(name: &str, prefix: bool) -> Vec<String> {
    if !prefix {
        if let Some(bad) = [".", ".."].into_iter().find(|bad| name == *bad) {
            return vec![format!("may not be '{bad}'")];
        }
    }
    ["/", "%"]
        .into_iter()
        .filter(|bad| name.contains(bad))
        .map(|bad| format!("may not contain '{bad}'"))
        .collect()
}

/// `metadata.namespace`: required, and a DNS-1123 label in apimachinery's words.
pub(crate) fn validate_namespace(namespace: &str) -> Vec<FieldError> {
    if namespace.is_empty() {
        return vec![FieldError::required("metadata.namespace", "")];
    }
    dns1123_label_reasons(namespace)
        .into_iter()
        .map(|reason| FieldError::invalid("metadata.namespace", namespace, reason))
        .collect()
}

fn dns1123_label_reasons(value: &str) -> Vec<String> {
    let mut reasons = Vec::new();
    if value.len() > DNS1123_LABEL_MAX {
        reasons.push(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    if !DNS1123_LABEL_RE.is_match(value) {
        if DNS1123_SUBDOMAIN_RE.is_match(value) {
            reasons.push("must not contain dots".to_string());
        } else {
            reasons.push(DNS1123_LABEL_MESSAGE.to_string());
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(namespace: &str, name: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(namespace.to_string()).filter(|n| !n.is_empty()),
            name: Some(name.to_string()).filter(|n| !n.is_empty()),
            ..ObjectMeta::default()
        }
    }

    fn check(namespace: &str, name: &str, expected: &[&str]) {
        let got: Vec<String> = validate_metadata(&meta(namespace, name))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, expected, "{namespace}/{name}");
    }

    #[test]
    fn valid_names_pass() {
        for name in ["mysql", "my-sql", "a.b_c-d", "0abc"] {
            check("ns", name, &[]);
        }
    }

    #[test]
    fn name_rules_match_openshift_wording() {
        check(
            "ns",
            "",
            &["metadata.name: Required value: name or generateName is required"],
        );
        check(
            "ns",
            "..",
            &["metadata.name: Invalid value: \"..\": may not be '..'"],
        );
        check(
            "ns",
            "a/b%c",
            &[
                "metadata.name: Invalid value: \"a/b%c\": may not contain '/'",
                "metadata.name: Invalid value: \"a/b%c\": may not contain '%'",
            ],
        );
        let pattern = "must match \"[a-z0-9]+(?:[._-][a-z0-9]+)*\"";
        for bad in ["MySQL", "a__b", "a-", "-a"] {
            check(
                "ns",
                bad,
                &[&format!("metadata.name: Invalid value: {bad:?}: {pattern}")],
            );
        }
    }

    #[test]
    fn namespace_must_be_an_rfc1123_label() {
        check("", "a", &["metadata.namespace: Required value"]);
        check(
            "a.b",
            "a",
            &["metadata.namespace: Invalid value: \"a.b\": must not contain dots"],
        );
        check(
            "Bad_NS",
            "a",
            &[&format!(
                "metadata.namespace: Invalid value: \"Bad_NS\": {DNS1123_LABEL_MESSAGE}"
            )],
        );
        let long = "n".repeat(64);
        check(
            &long,
            "a",
            &[&format!(
                "metadata.namespace: Invalid value: {long:?}: must be no more than 63 characters"
            )],
        );
    }

    #[test]
    fn namespace_and_name_together_fit_in_a_repository_name() {
        let name = "a".repeat(252);
        check("ns", &name[..252], &[]);
        let too_long = "a".repeat(253);
        check("ns", &too_long, &[&format!(
            "metadata.name: Invalid value: {too_long:?}: 'namespace/name' cannot be longer than 255 characters"
        )]);
    }

    #[test]
    fn generate_name_follows_the_name_rules_as_a_prefix() {
        let mut m = meta("ns", "app-x1");
        m.generate_name = Some("app-".into());
        let got: Vec<String> = validate_metadata(&m)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["metadata.generateName: Invalid value: \"app-\": must match \"[a-z0-9]+(?:[._-][a-z0-9]+)*\""]);
        m.generate_name = Some("app.".into());
        m.name = Some("app.x1".into());
        assert_eq!(validate_metadata(&m).len(), 1);
        m.generate_name = Some("app".into());
        assert!(validate_metadata(&m).is_empty());
    }
}
