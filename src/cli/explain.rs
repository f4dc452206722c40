//! `imagelookup explain`: how one reference parses and resolves, and why.

use serde_json::{json, Value};

use crate::reference::ImageRef;
use crate::resolve::{self, Index, ObjectRef, Resolution, ResolverConfig};

/// What `explain` found for one reference.
#[derive(Debug)]
pub struct Explanation {
    /// The reference as given.
    pub input: String,
    /// The parsed parts, or the parse error.
    pub parsed: Result<ImageRef, String>,
    /// The resolver's answer.
    pub resolution: Resolution,
}

/// Parses and resolves `reference` as a pod-spec image in `namespace`.
pub fn explain(
    reference: &str,
    namespace: &str,
    config: &ResolverConfig,
    index: &Index,
) -> Explanation {
    let parsed = ImageRef::parse(reference).map_err(|e| e.to_string());
    let resolution = resolve::resolve(
        &ObjectRef::docker_image(reference),
        namespace,
        false,
        config,
        index,
    );
    Explanation {
        input: reference.to_string(),
        parsed,
        resolution,
    }
}

impl Explanation {
    /// The machine-readable form: `reference`, `result`, `reason`, `matched`, `via`, `error`.
    pub fn to_json(&self) -> Value {
        let reference = match &self.parsed {
            Ok(parts) => json!({
                "registry": parts.registry, "namespace": parts.namespace, "name": parts.name,
                "tag": parts.tag, "id": parts.id, "short": parts.is_short_name(),
            }),
            Err(error) => json!({ "error": error }),
        };
        let (result, via, error) = match &self.resolution.outcome {
            Ok(resolved) => (
                json!(resolved.pull_spec),
                json!(format!("{:?}", resolved.via)),
                Value::Null,
            ),
            Err(error) => (Value::Null, Value::Null, json!(error.to_string())),
        };
        let matched = self.resolution.matched.as_ref().map(|m| {
            json!({
                "namespace": m.namespace, "stream": m.stream, "tag": m.tag, "streamFound": m.stream_found,
                "lookupLocal": m.lookup_local, "referencePolicy": m.reference_policy,
            })
        });
        json!({
            "input": self.input, "reference": reference, "matched": matched, "result": result,
            "via": via, "error": error, "reason": self.resolution.reason,
        })
    }

    /// The human-readable form, one labelled line per fact.
    pub fn to_text(&self) -> String {
        let mut lines = vec![format!("reference:  {}", self.input)];
        match &self.parsed {
            Ok(parts) => {
                for (label, value) in [
                    ("registry", &parts.registry),
                    ("namespace", &parts.namespace),
                    ("name", &parts.name),
                    ("tag", &parts.tag),
                    ("id", &parts.id),
                ] {
                    lines.push(format!("  {label:<10}{}", or_none(value)));
                }
            }
            Err(error) => lines.push(format!("  parse error: {error}")),
        }
        if let Some(m) = &self.resolution.matched {
            let found = if m.stream_found { "found" } else { "not found" };
            lines.push(format!(
                "stream:     {}/{} ({found}, lookupPolicy.local={})",
                m.namespace, m.stream, m.lookup_local
            ));
            lines.push(format!("tag:        {}", m.tag));
            lines.push(format!("policy:     {}", m.reference_policy));
        }
        match &self.resolution.outcome {
            Ok(resolved) => lines.push(format!("result:     {}", resolved.pull_spec)),
            Err(error) => lines.push(format!("result:     unresolved ({error})")),
        }
        lines.push(format!("reason:     {}", self.resolution.reason));
        lines.join("\n") + "\n"
    }
}

fn or_none(value: &str) -> &str {
    if value.is_empty() {
        "(none)"
    } else {
        value
    }
}
