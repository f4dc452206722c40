//! Field selectors (`fieldSelector=`): apimachinery's `fields.ParseSelector` (`=`, `==`, `!=`,
//! commas meaning AND, `\` escapes in values) plus the per-kind check of which fields may be
//! selected on (k8s-api-contract §2.5). Selectors apply to lists and to watch events alike.

use serde_json::Value;

use super::error::ApiError;
use super::selector::SelectorError;

/// How a kind words the rejection of a field it does not index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownFieldStyle {
    /// `DefaultMetaV1FieldSelectorConversion`, what OpenShift's image API answers:
    /// `"<field>" is not a known field selector: only "metadata.name", "metadata.namespace"`.
    MetaOnly,
    /// The core group's conversion functions (Secrets): `field label not supported: <field>`.
    LabelNotSupported,
}

/// The fields one kind can be selected on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSet {
    /// The selectable field paths.
    pub fields: &'static [&'static str],
    /// How an unknown field is reported.
    pub unknown: UnknownFieldStyle,
}

/// ImageStream's selectable fields (openshift-apiserver `imageStreamFieldSelectorKeyConversionFunc`).
pub const IMAGE_STREAM_FIELDS: FieldSet = FieldSet {
    fields: &[
        "metadata.name",
        "metadata.namespace",
        "spec.dockerImageRepository",
        "status.dockerImageRepository",
    ],
    unknown: UnknownFieldStyle::MetaOnly,
};

/// Secret's selectable fields (the `/secrets` subresource passes selectors through).
pub const SECRET_FIELDS: FieldSet = FieldSet {
    fields: &["metadata.name", "metadata.namespace", "type"],
    unknown: UnknownFieldStyle::LabelNotSupported,
};

/// Event's selectable fields (kube-apiserver's `event.GetAttrs`), so the selectors `kubectl
/// describe` and `kubectl get events` send are accepted by an events watch.
pub const EVENT_FIELDS: FieldSet = FieldSet {
    fields: &[
        "metadata.name",
        "metadata.namespace",
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ],
    unknown: UnknownFieldStyle::LabelNotSupported,
};

impl FieldSet {
    /// Whether `field` can be selected on.
    pub fn contains(&self, field: &str) -> bool {
        self.fields.contains(&field)
    }

    fn reject(&self, field: &str) -> ApiError {
        ApiError::BadRequest(match self.unknown {
            UnknownFieldStyle::MetaOnly => format!(
                "{field:?} is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
            ),
            UnknownFieldStyle::LabelNotSupported => format!("field label not supported: {field}"),
        })
    }
}

/// Whether a term wants the field equal or unequal to its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldOp {
    /// `=` or `==`
    Equals,
    /// `!=`
    NotEquals,
}

/// One `field<op>value` term, value unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field path, e.g. `metadata.name`.
    pub field: String,
    /// The comparison.
    pub op: FieldOp,
    /// The literal value; a missing field compares as `""`.
    pub value: String,
}

/// A parsed field selector: the AND of its terms. The default matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the syntax only; see [`FieldSelector::check_fields`] for the per-kind check.
    pub fn parse(selector: &str) -> Result<Self, SelectorError> {
        let mut parts = split_terms(selector);
        parts.sort_unstable();
        let mut terms = Vec::new();
        for part in parts.into_iter().filter(|p| !p.is_empty()) {
            let Some((field, op, raw)) = split_term(part) else {
                return Err(SelectorError(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let value = unescape(raw)?;
            terms.push(FieldTerm {
                field: field.to_string(),
                op,
                value,
            });
        }
        Ok(Self { terms })
    }

    /// Parses and checks the fields against `set`: every error is a 400, as in the apiserver.
    pub fn parse_for(selector: &str, set: &FieldSet) -> Result<Self, ApiError> {
        let parsed = Self::parse(selector)?;
        parsed.check_fields(set)?;
        Ok(parsed)
    }

    /// Rejects the first (in sorted order) field the kind does not index.
    pub fn check_fields(&self, set: &FieldSet) -> Result<(), ApiError> {
        match self.terms.iter().find(|t| !set.contains(&t.field)) {
            Some(term) => Err(set.reject(&term.field)),
            None => Ok(()),
        }
    }

    /// The terms, sorted as apimachinery sorts them.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Whether this selector restricts nothing.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value `field` must equal, if the selector pins it (e.g. `metadata.name=demo`).
    pub fn required_value(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }

    /// Whether an object matches, reading each field as a dotted path into its JSON.
    pub fn matches(&self, object: &Value) -> bool {
        self.matches_with(|field| field_value(object, field))
    }

    /// Whether an object matches, with `lookup` returning each field's value (`""` if absent).
    pub fn matches_with(&self, lookup: impl Fn(&str) -> String) -> bool {
        self.terms.iter().all(|term| {
            let equal = lookup(&term.field) == term.value;
            equal == (term.op == FieldOp::Equals)
        })
    }
}

/// The string at a dotted path (`status.dockerImageRepository`), or `""`.
pub fn field_value(object: &Value, path: &str) -> String {
    let found = path
        .split('.')
        .try_fold(object, |value, key| value.as_object()?.get(key));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// Splits at commas not escaped by a backslash; escapes stay in the terms.
fn split_terms(selector: &str) -> Vec<&str> {
    if selector.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let (mut start, mut escaped) = (0, false);
    for (i, c) in selector.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&selector[start..]);
    terms
}

/// Splits at the first operator; `!=` and `==` win over `=` at the same position.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    const OPERATORS: [(&str, FieldOp); 3] = [
        ("!=", FieldOp::NotEquals),
        ("==", FieldOp::Equals),
        ("=", FieldOp::Equals),
    ];
    term.char_indices().find_map(|(i, _)| {
        let rest = &term[i..];
        OPERATORS
            .iter()
            .find(|(op, _)| rest.starts_with(op))
            .map(|(op, kind)| (&term[..i], *kind, &rest[op.len()..]))
    })
}

/// Undoes `\\`, `\,` and `\=`; other escapes and bare `,`/`=` are errors.
fn unescape(value: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(value.len());
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(SelectorError(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                )));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            // Go prints the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(SelectorError(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )))
            }
            _ => out.push(c),
        }
    }
    if escaped {
        return Err(SelectorError(
            "invalid field selector: invalid escape sequence: \\".into(),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stream() -> Value {
        json!({"metadata": {"name": "demo", "namespace": "ns"},
               "spec": {"dockerImageRepository": "quay.io/o/demo"},
               "status": {"dockerImageRepository": "registry:5000/ns/demo"}})
    }

    fn check(selector: &str, expected: bool) {
        let parsed = FieldSelector::parse_for(selector, &IMAGE_STREAM_FIELDS)
            .unwrap_or_else(|e| panic!("{selector}: {e}"));
        assert_eq!(parsed.matches(&stream()), expected, "{selector}");
    }

    fn check_error(selector: &str, set: &FieldSet, expected: &str) {
        let error = FieldSelector::parse_for(selector, set).unwrap_err();
        assert_eq!((error.code(), error.to_string().as_str()), (400, expected));
    }

    #[test]
    fn equality_terms_match_the_named_fields() {
        check("metadata.name=demo", true);
        check("metadata.name==demo", true);
        check("metadata.name=other", false);
        check("metadata.namespace=ns,metadata.name=demo", true);
        check("spec.dockerImageRepository=quay.io/o/demo", true);
        check("status.dockerImageRepository=registry:5000/ns/demo", true);
    }

    #[test]
    fn inequality_terms_match_other_values() {
        check("metadata.name!=demo", false);
        check("metadata.name!=other", true);
        check("metadata.namespace=ns,metadata.name!=demo", false);
    }

    #[test]
    fn empty_selector_matches_everything() {
        check("", true);
        check(",", true);
        assert!(FieldSelector::parse("").unwrap().is_empty());
    }

    #[test]
    fn missing_fields_compare_as_empty() {
        let object = json!({"metadata": {"name": "x"}});
        let empty = FieldSelector::parse("spec.dockerImageRepository=").unwrap();
        let not_empty = FieldSelector::parse("spec.dockerImageRepository!=a").unwrap();
        assert!(empty.matches(&object) && not_empty.matches(&object));
    }

    #[test]
    fn escaped_values_are_unescaped() {
        let parsed = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert_eq!(parsed.required_value("metadata.name"), Some(r"a,b=c\d"));
    }

    #[test]
    fn required_value_finds_pinned_names() {
        let parsed = FieldSelector::parse("metadata.namespace=ns,metadata.name=demo").unwrap();
        assert_eq!(parsed.required_value("metadata.name"), Some("demo"));
        let negated = FieldSelector::parse("metadata.name!=demo").unwrap();
        assert_eq!(negated.required_value("metadata.name"), None);
    }

    #[test]
    fn closures_supply_field_values() {
        let parsed =
            FieldSelector::parse_for("type=kubernetes.io/dockercfg", &SECRET_FIELDS).unwrap();
        assert!(parsed.matches_with(|f| if f == "type" {
            "kubernetes.io/dockercfg".into()
        } else {
            String::new()
        }));
        assert!(!parsed.matches_with(|_| String::new()));
    }

    #[test]
    fn unknown_fields_are_bad_requests() {
        check_error(
            "spec.foo=bar",
            &IMAGE_STREAM_FIELDS,
            "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        );
        check_error(
            "metadata.name=a,b.c=d,a.b=c",
            &IMAGE_STREAM_FIELDS,
            "\"a.b\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
        );
        check_error(
            "spec.foo=bar",
            &SECRET_FIELDS,
            "field label not supported: spec.foo",
        );
    }

    #[test]
    fn syntax_errors_mirror_apimachinery() {
        check_error(
            "metadata.name",
            &IMAGE_STREAM_FIELDS,
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
        );
        check_error(
            r"metadata.name=a\x",
            &IMAGE_STREAM_FIELDS,
            r"invalid field selector: invalid escape sequence: \x",
        );
        check_error(
            "metadata.name=a=b",
            &IMAGE_STREAM_FIELDS,
            "invalid field selector: unescaped character in value: 61",
        );
        check_error(
            r"metadata.name=a\",
            &IMAGE_STREAM_FIELDS,
            r"invalid field selector: invalid escape sequence: \",
        );
    }
}
