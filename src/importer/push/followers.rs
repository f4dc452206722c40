//! Which stream tags follow which source (pure): the leading importer keeps this map from its
//! list and watch of the streams, so a push is matched without reading any stream.
//!
//! Only tags a push can bring forward are kept: `DockerImage` tags, not `reference: true`,
//! whose source names a tag, and that are imported again anyway: `importPolicy.scheduled`, or
//! whose last import failed (retried every interval; a stream created before its image was
//! pushed is the common case). Most streams have none and cost nothing here.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use super::source_key;
use crate::importer::outcome::IMPORT_SUCCESS;
use crate::reference::ImageRef;

/// One spec tag following one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followed {
    /// The source's [`source_key`].
    pub source: String,
    /// The spec tag's name.
    pub tag: String,
}

/// The spec tags of a stored stream (its JSON) that a push of their source brings forward.
pub fn followed(stream: &Value) -> Vec<Followed> {
    let Some(tags) = stream["spec"]["tags"].as_array() else {
        return Vec::new();
    };
    let failed = failed_imports(stream);
    tags.iter()
        .filter_map(|tag| followed_tag(tag, &failed))
        .collect()
}

fn followed_tag(tag: &Value, failed: &HashSet<&str>) -> Option<Followed> {
    let name = tag["name"].as_str()?;
    let scheduled = tag["importPolicy"]["scheduled"].as_bool() == Some(true);
    let reference = tag["reference"].as_bool() == Some(true);
    let from = &tag["from"];
    let retried = scheduled || failed.contains(name);
    if !retried || reference || from["kind"].as_str() != Some("DockerImage") {
        return None;
    }
    let source = ImageRef::parse(from["name"].as_str()?).ok()?;
    Some(Followed {
        source: source_key(&source)?,
        tag: name.to_string(),
    })
}

/// The status tags whose last import failed: an `ImportSuccess=False` condition, as
/// [`crate::importer::plan::last_import_failed`] reads the typed stream.
fn failed_imports(stream: &Value) -> HashSet<&str> {
    let Some(tags) = stream["status"]["tags"].as_array() else {
        return HashSet::new();
    };
    let failed = |tag: &&Value| {
        let conditions = tag["conditions"].as_array().into_iter().flatten();
        conditions
            .into_iter()
            .any(|c| c["type"] == IMPORT_SUCCESS && c["status"] == "False")
    };
    tags.iter()
        .filter(failed)
        .filter_map(|tag| tag["tag"].as_str())
        .collect()
}

/// Sources and the stream tags following each.
#[derive(Debug, Default)]
pub struct Followers {
    /// Source → stream key (`ns/name`) → its spec tags following the source.
    by_source: HashMap<String, BTreeMap<String, Vec<String>>>,
    /// Stream key → the sources it follows, to undo its entries.
    by_stream: HashMap<String, Vec<String>>,
}

impl Followers {
    /// Replaces what stream `key` follows with `followed`.
    pub fn update(&mut self, key: &str, followed: Vec<Followed>) {
        self.forget(key);
        if followed.is_empty() {
            return;
        }
        let mut sources = Vec::with_capacity(followed.len());
        for Followed { source, tag } in followed {
            let streams = self.by_source.entry(source.clone()).or_default();
            streams.entry(key.to_string()).or_default().push(tag);
            sources.push(source);
        }
        sources.sort_unstable();
        sources.dedup();
        self.by_stream.insert(key.to_string(), sources);
    }

    /// Forgets stream `key` (deleted).
    pub fn forget(&mut self, key: &str) {
        let Some(sources) = self.by_stream.remove(key) else {
            return;
        };
        for source in sources {
            let Some(streams) = self.by_source.get_mut(&source) else {
                continue;
            };
            streams.remove(key);
            if streams.is_empty() {
                self.by_source.remove(&source);
            }
        }
    }

    /// The streams (by key, in order) and their tags that follow `source`.
    pub fn of(&self, source: &str) -> Vec<(String, Vec<String>)> {
        self.by_source
            .get(source)
            .map(|streams| {
                streams
                    .iter()
                    .map(|(key, tags)| (key.clone(), tags.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stream(tags: Value) -> Value {
        json!({"metadata": {"name": "app"}, "spec": {"tags": tags}})
    }

    fn tag(name: &str, from: &str, scheduled: bool) -> Value {
        json!({"name": name, "from": {"kind": "DockerImage", "name": from},
               "importPolicy": {"scheduled": scheduled}})
    }

    #[test]
    fn scheduled_tags_and_tags_whose_import_failed_follow_their_source_tag() {
        let digest = format!("sha256:{}", "b".repeat(64));
        let mut reference = tag("ref", "quay.io/org/app:1", true);
        reference["reference"] = json!(true);
        let mut other_kind = tag("istag", "app:1", true);
        other_kind["from"]["kind"] = json!("ImageStreamTag");
        let tags = json!([
            tag("one", "quay.io/org/app:1", true),
            tag("latest", "mysql", true),
            tag("pinned", "quay.io/org/app:1", false),
            tag("failed", "quay.io/org/app:2", false),
            tag("digest", &format!("quay.io/org/app@{digest}"), true),
            tag("bad", "Not A Reference", true),
            reference,
            other_kind,
            {"name": "nofrom", "importPolicy": {"scheduled": true}},
        ]);
        let status = json!({"tags": [
            {"tag": "failed", "items": [], "conditions": [
                {"type": "ImportSuccess", "status": "False", "reason": "NotFound"}]},
            {"tag": "pinned", "items": [{"image": "sha256:x"}], "conditions": []},
        ]});
        let mut stream = stream(tags);
        stream["status"] = status;
        let expected = [
            ("quay.io/org/app:1", "one"),
            ("docker.io/library/mysql:latest", "latest"),
            ("quay.io/org/app:2", "failed"),
        ]
        .map(|(source, tag)| Followed {
            source: source.to_string(),
            tag: tag.to_string(),
        });
        assert_eq!(followed(&stream), expected);
        assert!(followed(&json!({"spec": {}})).is_empty());
    }

    #[test]
    fn followers_are_found_by_source_and_replaced_or_forgotten_with_their_stream() {
        let follow = |source: &str, tag: &str| Followed {
            source: source.to_string(),
            tag: tag.to_string(),
        };
        let mut followers = Followers::default();
        followers.update(
            "b/app",
            vec![follow("q/app:1", "one"), follow("q/app:1", "also")],
        );
        followers.update(
            "a/app",
            vec![follow("q/app:1", "v1"), follow("q/app:2", "v2")],
        );
        let expected = vec![
            ("a/app".to_string(), vec!["v1".to_string()]),
            (
                "b/app".to_string(),
                vec!["one".to_string(), "also".to_string()],
            ),
        ];
        assert_eq!(followers.of("q/app:1"), expected);
        assert_eq!(followers.by_stream.len(), 2);

        followers.update("a/app", vec![follow("q/app:3", "v3")]);
        assert_eq!(
            followers.of("q/app:1").len(),
            1,
            "a/app follows q/app:3 now"
        );
        assert!(followers.of("q/app:2").is_empty());
        followers.forget("b/app");
        assert!(followers.of("q/app:1").is_empty());
        followers.update("a/app", Vec::new());
        assert!(followers.by_stream.is_empty());
        assert!(followers.by_source.is_empty(), "no source left behind");
    }
}
