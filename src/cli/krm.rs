//! `resolve` as a KRM function (the KRM Functions Specification that kustomize and kpt run):
//! a `ResourceList` in, the same `ResourceList` out with its items' references pinned and a
//! `results` list saying what was pinned, what was not and why, and what a policy rejected.
//! Its settings come from the list's `functionConfig` (see `settings`).

mod settings;

use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::{json, Value};

use super::resolve::{Finding, ObjectRef};
use crate::manifest::{self, Documents, Format, RenderError, Rendered};

pub use settings::{
    check_duplicates, value, ConfigError, Setting, Settings, CONFIG_API_VERSION, CONFIG_KIND,
};

/// Where a ResourceList's settings come from, in messages.
pub const FUNCTION_CONFIG: &str = "the ResourceList's functionConfig";

/// The one document of a manifest stream that is a KRM `ResourceList`.
pub fn resource_list(documents: &Documents) -> Option<&Value> {
    match documents.items.as_slice() {
        [list] if is_resource_list(list) => Some(list),
        _ => None,
    }
}

/// Whether a document is a KRM `ResourceList` (`config.kubernetes.io/v1`, or `v1beta1`).
fn is_resource_list(document: &Value) -> bool {
    let text = |field: &str| document.get(field).and_then(Value::as_str).unwrap_or("");
    text("kind") == "ResourceList" && text("apiVersion").starts_with("config.kubernetes.io/")
}

/// The `results` of the specification: the notices that concern no object (warnings), then one
/// entry per rewrite (info), warning and rejected field (error), each naming its object and,
/// where one is known, its field.
pub fn results(findings: &[Finding], notices: &[&str]) -> Value {
    let notices = notices
        .iter()
        .map(|notice| json!({"message": notice, "severity": "warning"}));
    let entries = findings.iter().flat_map(|finding| match finding {
        Finding::Rewritten(object, rewrite) => {
            let verb = if rewrite.pinned { "pinned" } else { "rewrote" };
            let (from, to, reason) = (&rewrite.from, &rewrite.to, &rewrite.reason);
            let message = format!("{verb} {from:?} to {to}: {reason}");
            vec![entry("info", &message, object, Some(&rewrite.path))]
        }
        Finding::Warning(object, text) => {
            // The field goes in `field`, so the message does not say it twice (kpt shows both).
            let field = field_of_warning(text);
            let message = field.map_or(text.as_str(), |field| &text[field.len() + 2..]);
            vec![entry("warning", message, object, field)]
        }
        Finding::Rejected(object, denial) => denial
            .errors
            .iter()
            .map(|error| entry("error", &error.to_string(), object, Some(&error.field)))
            .collect(),
    });
    Value::Array(notices.chain(entries).collect())
}

/// The field a warning starts with (`spec.containers[1].image: …`), if it starts with one: a
/// warning about a whole object (a Template's note) starts with prose.
fn field_of_warning(text: &str) -> Option<&str> {
    let (field, _) = text.split_once(": ")?;
    let is_path = field
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '[' | ']' | '_' | '-'));
    let starts_lower = field.starts_with(|c: char| c.is_ascii_lowercase());
    (is_path && starts_lower).then_some(field)
}

fn entry(severity: &str, message: &str, object: &ObjectRef, field: Option<&str>) -> Value {
    let mut resource = json!({"apiVersion": object.api_version, "kind": object.kind,
        "name": object.name});
    if !object.namespace.is_empty() {
        resource["namespace"] = json!(object.namespace);
    }
    let mut entry = json!({"message": message, "severity": severity, "resourceRef": resource});
    if let Some(path) = field {
        entry["field"] = json!({"path": path});
    }
    entry
}

/// The output `ResourceList`: the input with `patches` applied to its items and `results` set.
/// YAML keeps the input's text (comments, quoting) with the results appended, unless that text
/// would not read back as the list it must be (the input has `results` already, or ends in a
/// way appending cannot follow), in which case the list is written anew and the reason noted.
pub fn render(
    documents: &Documents,
    patches: &[Patch],
    results: Value,
) -> Result<Rendered, RenderError> {
    if documents.format == Format::Json {
        let mut patch = patches.first().cloned().unwrap_or_default();
        patch.0.push(set_results(results));
        return manifest::render(documents, &[patch]);
    }
    // A list a function already wrote results into (this one's own output, piped through it
    // again): those results are dropped from the text and the new ones appended as usual.
    let without_results = manifest::without_last_key(documents, "results");
    let source = without_results.as_ref().unwrap_or(documents);
    let rendered = manifest::render(source, patches)?;
    // An item that lost its comments is told of where kpt and kustomize show what a function
    // said, not only on stderr.
    let mut results = results;
    if let Some(entries) = results.as_array_mut() {
        entries.extend(
            rendered
                .reformatted
                .iter()
                .map(|note| json!({"message": note, "severity": "warning"})),
        );
    }
    // The list as it must read back: the input's, patched (not a second parse of the output).
    let mut expected = documents.items.first().cloned().unwrap_or_default();
    if let Some(patch) = patches.first() {
        json_patch::patch(&mut expected, patch).map_err(|error| RenderError::Patch {
            position: 1,
            subject: "ResourceList".to_string(),
            error,
        })?;
    }
    let had_results = expected.get("results").is_some() && without_results.is_none();
    expected["results"] = results.clone();
    let mut text = rendered.text;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(manifest::line_break(&text));
    }
    let appended = manifest::to_yaml(&json!({ "results": results }));
    text.push_str(&manifest::with_line_breaks_of(appended, &text));
    if !had_results && read_back(&text) == [expected.clone()] {
        return Ok(Rendered { text, ..rendered });
    }
    let mut reformatted = rendered.reformatted;
    reformatted.push(String::from(
        "the ResourceList was reformatted, losing its comments and layout, because its results could not be appended to its text",
    ));
    Ok(Rendered {
        text: manifest::to_yaml(&expected),
        reformatted,
    })
}

/// The operation setting `results`, replacing any a previous function left.
fn set_results(results: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: "/results".parse().expect("a valid pointer"),
        value: results,
    })
}

/// The settings a `ResourceList`'s `functionConfig` carries.
pub fn function_config_settings(list: &Value) -> Result<Settings, ConfigError> {
    let config = list.get("functionConfig").unwrap_or(&Value::Null);
    Settings::from_config(config, FUNCTION_CONFIG)
}

/// The documents `text` holds, as `resolve`'s input would be read.
fn read_back(text: &str) -> Vec<Value> {
    manifest::parse_resource_list(text, "output")
        .map(|documents| documents.items)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::{Denial, Rewrite};
    use crate::field::FieldError;

    fn pod() -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            name: "db".into(),
            namespace: "demo".into(),
        }
    }

    #[test]
    fn results_say_what_was_pinned_warned_and_rejected_with_object_and_field() {
        let rewrite = Rewrite {
            path: "spec.containers[0].image".into(),
            from: "mysql:8".into(),
            to: "quay.io/example/mysql@sha256:1".into(),
            reason: "imagestream demo/mysql tag 8".into(),
            pinned: true,
        };
        let denial = Denial {
            group: String::new(),
            kind: "Pod".into(),
            name: "db".into(),
            errors: vec![FieldError::forbidden(
                "spec.containers[1].image",
                "no match",
            )],
            message: "Pod \"db\" is invalid".into(),
        };
        let unnamed = ObjectRef {
            namespace: String::new(),
            ..pod()
        };
        let findings = [
            Finding::Rewritten(pod(), rewrite),
            Finding::Warning(unnamed, "spec.containers[1].image: not pinned".into()),
            Finding::Rejected(pod(), denial),
        ];
        let reference =
            json!({"apiVersion": "v1", "kind": "Pod", "name": "db", "namespace": "demo"});
        let expected = json!([
            {"message": "pinned \"mysql:8\" to quay.io/example/mysql@sha256:1: imagestream demo/mysql tag 8",
             "severity": "info", "resourceRef": reference,
             "field": {"path": "spec.containers[0].image"}},
            {"message": "not pinned", "severity": "warning",
             "resourceRef": {"apiVersion": "v1", "kind": "Pod", "name": "db"},
             "field": {"path": "spec.containers[1].image"}},
            {"message": "spec.containers[1].image: Forbidden: no match", "severity": "error",
             "resourceRef": reference, "field": {"path": "spec.containers[1].image"}},
        ]);
        assert_eq!(results(&findings, &[]), expected);
        let notice = json!({"message": "no streams", "severity": "warning"});
        assert_eq!(results(&[], &["no streams"]), json!([notice]));
    }

    #[test]
    fn a_warning_s_field_is_the_path_it_starts_with() {
        let check = |text: &str, field: Option<&str>| assert_eq!(field_of_warning(text), field);
        check(
            "spec.containers[1].image: \"x\" not pinned",
            Some("spec.containers[1].image"),
        );
        check(
            "spec.initContainers[0].image: a: b",
            Some("spec.initContainers[0].image"),
        );
        check(
            "a template's objects are resolved once it is processed; pipe: x",
            None,
        );
        check("no colon here", None);
    }

    #[test]
    fn only_a_single_config_kubernetes_io_resource_list_is_one() {
        let read = |text: &str| manifest::parse(text, "in").unwrap();
        let list = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: []\n";
        assert!(resource_list(&read(list)).is_some());
        let beta = "apiVersion: config.kubernetes.io/v1beta1\nkind: ResourceList\nitems: []\n";
        assert!(resource_list(&read(beta)).is_some());
        let other = "apiVersion: example.com/v1\nkind: ResourceList\nitems: []\n";
        assert!(resource_list(&read(other)).is_none());
        let two = format!("{list}---\n{list}");
        assert!(resource_list(&read(&two)).is_none());
        assert!(resource_list(&read("apiVersion: v1\nkind: List\nitems: []\n")).is_none());
    }

    #[test]
    fn an_item_that_cannot_be_spliced_is_reformatted_alone_and_said_so_in_the_results() {
        let head = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- kind: Service  # the front door\n  spec: {ports: [{port: 80}]}\n";
        let pod = "- kind: Pod\n  metadata: {name: db}\n  spec:\n    containers:\n    - name: m\n      image: >-\n        mysql\n";
        let text = format!("{head}{pod}");
        let documents = manifest::parse(&text, "in").unwrap();
        let patch: Patch = serde_json::from_value(json!([{"op": "replace",
            "path": "/items/1/spec/containers/0/image", "value": "q/m@sha256:1"}]))
        .unwrap();
        let rendered = render(&documents, &[patch], json!([])).unwrap();
        assert!(rendered.text.starts_with(head), "{}", rendered.text);
        let read = read_back(&rendered.text);
        let image = &read[0]["items"][1]["spec"]["containers"][0]["image"];
        assert_eq!(image, "q/m@sha256:1");
        let results = read[0]["results"].as_array().unwrap();
        assert_eq!(results.len(), 1, "{results:?}");
        assert_eq!(results[0]["severity"], "warning");
        let message = results[0]["message"].as_str().unwrap();
        assert!(
            message.contains("item 1 (Pod/db) was reformatted"),
            "{message}"
        );
    }

    #[test]
    fn results_are_appended_to_the_yaml_text_keeping_its_comments() {
        let text =
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n# the items\nitems: []\n";
        let documents = manifest::parse(text, "in").unwrap();
        let rendered = render(
            &documents,
            &[],
            json!([{"message": "m", "severity": "info"}]),
        );
        let rendered = rendered.unwrap();
        assert_eq!(
            rendered.text,
            format!("{text}results:\n- message: m\n  severity: info\n")
        );
        assert!(rendered.reformatted.is_empty());
    }

    #[test]
    fn results_a_previous_function_left_at_the_end_are_replaced_keeping_the_text() {
        let head = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\n# the items\nitems:\n- {kind: ConfigMap, data: {mode: '0644'}}  # keep\n";
        let text = format!("{head}results:\n- message: old\n  severity: info\n");
        let documents = manifest::parse(&text, "in").unwrap();
        let new = json!([{"message": "new", "severity": "info"}]);
        let rendered = render(&documents, &[], new.clone()).unwrap();
        assert_eq!(
            rendered.text,
            format!("{head}results:\n- message: new\n  severity: info\n")
        );
        assert!(
            rendered.reformatted.is_empty(),
            "{:?}",
            rendered.reformatted
        );
        // Run on its own output, it writes the same text: idempotent.
        let again = manifest::parse(&rendered.text, "out").unwrap();
        assert_eq!(render(&again, &[], new).unwrap().text, rendered.text);
    }

    #[test]
    fn results_a_previous_function_left_elsewhere_are_replaced_and_the_list_reformatted() {
        let text = "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nresults:\n- message: old\nitems: []\n";
        let documents = manifest::parse(text, "in").unwrap();
        let rendered = render(&documents, &[], json!([])).unwrap();
        let read = read_back(&rendered.text);
        assert_eq!(read[0]["results"], json!([]));
        assert_eq!(rendered.reformatted.len(), 1, "{:?}", rendered.reformatted);
    }

    #[test]
    fn json_in_gets_json_out_with_results() {
        let text =
            r#"{"apiVersion": "config.kubernetes.io/v1", "kind": "ResourceList", "items": []}"#;
        let documents = manifest::parse(text, "in").unwrap();
        let rendered = render(&documents, &[], json!([])).unwrap();
        let value: Value = serde_json::from_str(&rendered.text).unwrap();
        assert_eq!(value["results"], json!([]));
        assert_eq!(value["kind"], "ResourceList");
    }
}
