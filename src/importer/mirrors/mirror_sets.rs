//! Registry mirrors for imports, read from OpenShift's mirror set objects (pure):
//! `ImageDigestMirrorSet` and `ImageTagMirrorSet` (`config.openshift.io/v1`) and the
//! `ImageContentSourcePolicy` they replace (`operator.openshift.io/v1alpha1`), in YAML or JSON,
//! one object per document or in a `List`, as `oc get idms,itms,icsp -o yaml` writes them.
//!
//! They become the `[[registry]]` tables OpenShift's machine-config operator renders from them
//! into the nodes' registries.conf (openshift/runtime-utils, `EditRegistriesConfig`): one table
//! per source; the mirrors every object lists for it merged into one order that keeps each
//! object's own order (a topological sort, ties by name: `(B, C)` and `(A, B)` give
//! `(A, B, C)`); a digest set's mirrors serve pulls by digest only, a tag set's pulls by tag
//! only, an `ImageContentSourcePolicy`'s are digest mirrors; `mirrorSourcePolicy:
//! NeverContactSource` on any object blocks the source itself.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::Deserialize;
use serde_json::Value;

use super::{referenceable, Mirror, Mirrors, Registry, Serves};

/// Why a mirror sets file cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MirrorSetsError {
    /// The text is not YAML or JSON.
    #[error("cannot read it as YAML or JSON: {0}")]
    Syntax(String),
    /// An object cannot be used as written.
    #[error("{object}: {why}")]
    Object {
        /// Which object: its kind and name, or its place in the file.
        object: String,
        /// What is wrong and what to write.
        why: String,
    },
}

/// Reads a file of mirror set objects into the mirrors they configure.
pub fn parse(text: &str) -> Result<Mirrors, MirrorSetsError> {
    let mut digest_sets = Sets::default();
    let mut tag_sets = Sets::default();
    for (index, object) in objects(text)?.iter().enumerate() {
        let invalid = |why: String| MirrorSetsError::Object {
            object: named(object, index),
            why,
        };
        let (sets, field) = match object["kind"].as_str() {
            Some("ImageDigestMirrorSet") => (&mut digest_sets, "imageDigestMirrors"),
            Some("ImageTagMirrorSet") => (&mut tag_sets, "imageTagMirrors"),
            Some("ImageContentSourcePolicy") => (&mut digest_sets, "repositoryDigestMirrors"),
            _ => {
                return Err(invalid(
                    "not a mirror set: keep only ImageDigestMirrorSet, ImageTagMirrorSet and \
                     ImageContentSourcePolicy objects in the file"
                        .to_string(),
                ))
            }
        };
        sets.add_object(object, field).map_err(invalid)?;
    }
    Ok(tables(digest_sets, tag_sets))
}

/// An object's kind and name for a message, or its place in the file.
fn named(object: &Value, index: usize) -> String {
    let kind = object["kind"].as_str().unwrap_or("object");
    match object["metadata"]["name"].as_str() {
        Some(name) => format!("{kind} {name:?}"),
        None => format!("{kind} {} of the file", index + 1),
    }
}

/// One registries.conf table per source: its digest mirrors, then its tag mirrors.
fn tables(digest_sets: Sets, tag_sets: Sets) -> Mirrors {
    let mut registries: BTreeMap<String, Registry> = BTreeMap::new();
    for (sets, serves) in [
        (digest_sets, Serves::DigestOnly),
        (tag_sets, Serves::TagOnly),
    ] {
        for (source, set) in sets.0 {
            let registry = registries
                .entry(source.clone())
                .or_insert_with(|| Registry {
                    prefix: source.clone(),
                    location: String::new(),
                    insecure: false,
                    blocked: false,
                    mirror_by_digest_only: false,
                    mirrors: Vec::new(),
                });
            registry.blocked |= set.never_contact_source;
            let merged = merged_order(&source, &set.lists);
            registry
                .mirrors
                .extend(merged.into_iter().map(|location| Mirror {
                    location,
                    insecure: false,
                    serves,
                }));
        }
    }
    Mirrors {
        registries: registries.into_values().collect(),
    }
}

/// The file's objects: every document, and the items of a `List`; empty documents skipped.
fn objects(text: &str) -> Result<Vec<Value>, MirrorSetsError> {
    crate::yaml_aliases::check(text.as_bytes())
        .map_err(|e| MirrorSetsError::Syntax(e.to_string()))?;
    let mut objects = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value =
            Value::deserialize(document).map_err(|e| MirrorSetsError::Syntax(e.to_string()))?;
        match value {
            Value::Null => {}
            Value::Object(ref map) if map.get("kind").and_then(Value::as_str) == Some("List") => {
                if let Some(Value::Array(items)) = map.get("items") {
                    objects.extend(items.iter().cloned());
                }
            }
            other => objects.push(other),
        }
    }
    Ok(objects)
}

/// One entry of a mirror set's list; another key (a typo of `mirrorSourcePolicy`) is refused,
/// as OpenShift's schema refuses it, rather than dropped with what it meant.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    source: String,
    #[serde(default)]
    mirrors: Vec<String>,
    #[serde(default)]
    mirror_source_policy: String,
}

impl Entry {
    /// Refuses what could not be rendered into a registries.conf table (a source that is not a
    /// scope, a mirror an image reference cannot be written with, an unknown policy).
    fn check(&self) -> Result<(), String> {
        if self.source.is_empty() {
            return Err("source is required: write the repository or registry mirrored".into());
        }
        if !valid_scope(&self.source) {
            return Err(format!(
                "source {:?}: a wildcard is only a leading `*.` before a host name",
                self.source
            ));
        }
        let unwritable =
            |place: &String| place.is_empty() || place.contains('*') || !referenceable(place);
        if let Some(mirror) = self.mirrors.iter().find(|m| unwritable(m)) {
            return Err(format!(
                "mirror {mirror:?}: write a registry host, optionally with a :port and a \
                 repository path, without a scheme or wildcards"
            ));
        }
        if !self.source.starts_with("*.") && unwritable(&self.source) {
            return Err(format!(
                "source {:?}: write a registry host, optionally with a :port and a repository \
                 path, without a scheme",
                self.source
            ));
        }
        match self.mirror_source_policy.as_str() {
            "" | "AllowContactingSource" | "NeverContactSource" => Ok(()),
            other => Err(format!(
                "mirrorSourcePolicy {other:?}: write AllowContactingSource or NeverContactSource"
            )),
        }
    }
}

/// Whether `scope` may be a registries.conf prefix: no wildcard, or `*.` and a host name
/// (runtime-utils' `IsValidRegistriesConfScope`).
fn valid_scope(scope: &str) -> bool {
    match scope.strip_prefix("*.") {
        Some(domain) => !domain.is_empty() && !domain.contains(['/', '@', ':', '*']),
        None => !scope.contains('*'),
    }
}

/// The mirror lists of each source, and whether any object says never to contact it.
#[derive(Default)]
struct Sets(BTreeMap<String, SourceSets>);

#[derive(Default)]
struct SourceSets {
    lists: Vec<Vec<String>>,
    never_contact_source: bool,
}

impl Sets {
    /// Records the entries of `object`'s `spec.<field>`, each checked; `spec` holds nothing
    /// else (a misspelt list would otherwise configure no mirror, silently).
    fn add_object(&mut self, object: &Value, field: &str) -> Result<(), String> {
        let keys = object["spec"]
            .as_object()
            .into_iter()
            .flat_map(|spec| spec.keys());
        if let Some(other) = keys.into_iter().find(|key| *key != field) {
            return Err(format!(
                "spec.{other}: unknown field; this kind's mirrors are in spec.{field}"
            ));
        }
        let entries = match object["spec"].get(field) {
            None | Some(Value::Null) => Vec::new(),
            Some(entries) => {
                Vec::<Entry>::deserialize(entries).map_err(|e| format!("spec.{field}: {e}"))?
            }
        };
        for (at, entry) in entries.into_iter().enumerate() {
            entry
                .check()
                .map_err(|why| format!("spec.{field}[{at}]: {why}"))?;
            self.add(entry);
        }
        Ok(())
    }

    /// Records an entry; one without mirrors configures nothing, as in runtime-utils.
    fn add(&mut self, entry: Entry) {
        if entry.mirrors.is_empty() {
            return;
        }
        let set = self.0.entry(entry.source).or_default();
        set.never_contact_source |= entry.mirror_source_policy == "NeverContactSource";
        set.lists.push(entry.mirrors);
    }
}

/// The mirrors of `lists` in one order that keeps each list's order where they agree, the
/// source last (dropped: it is tried after the mirrors anyway).
fn merged_order(source: &str, lists: &[Vec<String>]) -> Vec<String> {
    let mut graph = Graph::default();
    for list in lists {
        for mirror in list {
            graph.node(mirror);
        }
        for pair in list.windows(2) {
            graph.edge(&pair[0], &pair[1]);
        }
        match list.last() {
            Some(last) if !list.iter().any(|m| m == source) => graph.edge(last, source),
            _ => {}
        }
    }
    let mut order = graph.sorted();
    if order.last().map(String::as_str) == Some(source) {
        order.pop();
    }
    order
}

/// Which mirror comes before which: runtime-utils' `topoGraph`.
#[derive(Default)]
struct Graph {
    successors: BTreeMap<String, BTreeSet<String>>,
    predecessors: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    fn node(&mut self, name: &str) {
        self.successors.entry(name.to_string()).or_default();
        self.predecessors.entry(name.to_string()).or_default();
    }

    fn edge(&mut self, from: &str, to: &str) {
        self.node(from);
        self.node(to);
        if from != to {
            self.successors
                .get_mut(from)
                .map(|s| s.insert(to.to_string()));
            self.predecessors
                .get_mut(to)
                .map(|p| p.insert(from.to_string()));
        }
    }

    /// Kahn's topological sort, deterministic as runtime-utils': the nodes without
    /// predecessors first by name, each node's newly ready successors queued by name, and a
    /// loop broken at its first unused node by name.
    fn sorted(mut self) -> Vec<String> {
        let all: Vec<String> = self.predecessors.keys().cloned().collect();
        let mut ready: VecDeque<String> = all
            .iter()
            .filter(|node| self.predecessors[*node].is_empty())
            .cloned()
            .collect();
        let mut used = BTreeSet::new();
        let mut loop_breakers = all.iter();
        let mut order = Vec::with_capacity(all.len());
        while order.len() < all.len() {
            let node = match ready.pop_front() {
                Some(node) => node,
                None => match loop_breakers.find(|node| !used.contains(*node)) {
                    Some(node) => node.clone(),
                    None => break,
                },
            };
            if !used.insert(node.clone()) {
                continue;
            }
            for next in &self.successors[&node] {
                let waiting = self
                    .predecessors
                    .get_mut(next)
                    .expect("every node is in both maps");
                waiting.remove(&node);
                if waiting.is_empty() && !used.contains(next) {
                    ready.push_back(next.clone());
                }
            }
            order.push(node);
        }
        order
    }
}

#[cfg(test)]
mod tests;
