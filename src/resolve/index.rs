//! The in-memory index of streams the resolver reads.
//!
//! One `Arc` per stream, in a set per namespace hashed by the stream's own name: no key
//! strings are allocated per stream.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::compact::{CompactStream, IntoCompact};
use super::tag_state::TagCounts;
use crate::api::ImageStream;

/// Read access to streams by namespace and name; O(1) in the number of streams.
pub trait StreamLookup {
    /// The stream `name` in `namespace`, if any.
    fn stream(&self, namespace: &str, name: &str) -> Option<&CompactStream>;
}

/// Streams keyed by namespace, then name. Values are `Arc` so a snapshot shares them.
#[derive(Clone, Debug, Default)]
pub struct Index {
    by_namespace: HashMap<Box<str>, HashSet<Entry>>,
    len: usize,
    /// Kept current on every change, so the metrics read it without walking the index.
    tags: TagCounts,
}

/// A stream in its namespace's set, hashed and compared by name so `&str` finds it, with its
/// spec tags counted by state: counted once, when it was compacted, not again when it leaves.
#[derive(Clone, Debug)]
struct Entry(Arc<CompactStream>, TagCounts);

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a stream; returns the one it replaced.
    pub fn upsert(&mut self, stream: impl IntoCompact) -> Option<Arc<CompactStream>> {
        let stream = stream.into_compact();
        let counts = TagCounts::of_stream(&stream);
        self.upsert_counted(stream, counts)
    }

    /// [`Self::upsert`] of a stream whose spec tags are counted already (`counts`, its
    /// [`TagCounts::of_stream`]): counting a stream of thousands of tags takes milliseconds,
    /// which a writer holding the live index's lock would make admission wait.
    pub fn upsert_counted(
        &mut self,
        stream: Arc<CompactStream>,
        counts: TagCounts,
    ) -> Option<Arc<CompactStream>> {
        debug_assert_eq!(
            counts,
            TagCounts::of_stream(&stream),
            "counted another stream"
        );
        self.tags.add(&counts);
        let streams = self
            .by_namespace
            .entry(stream.namespace().into())
            .or_default();
        let previous = streams.replace(Entry(stream, counts));
        match &previous {
            None => self.len += 1,
            Some(Entry(_, counted)) => self.tags.subtract(counted),
        }
        previous.map(|entry| entry.0)
    }

    /// Removes a stream; returns whether it was present.
    pub fn remove(&mut self, namespace: &str, name: &str) -> bool {
        let Some(streams) = self.by_namespace.get_mut(namespace) else {
            return false;
        };
        let removed = streams.take(name);
        if streams.is_empty() {
            self.by_namespace.remove(namespace);
        }
        if let Some(Entry(_, counted)) = &removed {
            self.len -= 1;
            self.tags.subtract(counted);
        }
        removed.is_some()
    }

    /// The shared stream `name` in `namespace`, if any.
    pub fn get(&self, namespace: &str, name: &str) -> Option<&Arc<CompactStream>> {
        let entry = self.by_namespace.get(namespace)?.get(name)?;
        Some(&entry.0)
    }

    /// Every stream with its spec tags counted, for [`Self::upsert_counted`] into another
    /// index without counting them again.
    pub fn iter_counted(&self) -> impl Iterator<Item = (&Arc<CompactStream>, TagCounts)> {
        self.by_namespace
            .values()
            .flatten()
            .map(|entry| (&entry.0, entry.1))
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every spec tag counted by state; O(1).
    pub fn tag_counts(&self) -> TagCounts {
        self.tags
    }

    /// Drops every stream (before a re-list).
    pub fn clear(&mut self) {
        self.by_namespace.clear();
        self.len = 0;
        self.tags = TagCounts::default();
    }
}

impl FromIterator<ImageStream> for Index {
    fn from_iter<I: IntoIterator<Item = ImageStream>>(streams: I) -> Self {
        let mut index = Index::new();
        for stream in streams {
            index.upsert(stream);
        }
        index
    }
}

impl FromIterator<CompactStream> for Index {
    fn from_iter<I: IntoIterator<Item = CompactStream>>(streams: I) -> Self {
        let mut index = Index::new();
        for stream in streams {
            index.upsert(stream);
        }
        index
    }
}

impl StreamLookup for Index {
    fn stream(&self, namespace: &str, name: &str) -> Option<&CompactStream> {
        self.get(namespace, name).map(Arc::as_ref)
    }
}

// === impl Entry ===

impl Borrow<str> for Entry {
    fn borrow(&self) -> &str {
        self.0.name()
    }
}

/// Hashes exactly as the name's `str` does, as `Borrow<str>` requires.
impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.name().hash(state);
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl Eq for Entry {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_replaces_and_remove_forgets() {
        let mut index: Index = [ImageStream::new("a", "x"), ImageStream::new("b", "x")]
            .into_iter()
            .collect();
        assert_eq!(index.len(), 2);
        let replaced = index.upsert(ImageStream::new("a", "x"));
        assert_eq!(
            replaced.map(|s| s.namespace().to_string()).as_deref(),
            Some("a")
        );
        assert_eq!(index.len(), 2);
        assert!(index.stream("a", "x").is_some());
        assert!(index.stream("a", "y").is_none());
        assert!(index.remove("a", "x"));
        assert!(!index.remove("a", "x"));
        assert_eq!(index.len(), 1);
        assert!(index.stream("a", "x").is_none());
        let names: Vec<_> = index
            .iter_counted()
            .map(|(s, _)| (s.namespace(), s.name()))
            .collect();
        assert_eq!(names, [("b", "x")]);
    }

    #[test]
    fn names_are_found_within_their_namespace_only() {
        let index: Index = ["x", "y", "z"]
            .into_iter()
            .map(|name| ImageStream::new("a", name))
            .chain([ImageStream::new("b", "w")])
            .collect();
        for name in ["x", "y", "z"] {
            assert_eq!(index.stream("a", name).map(CompactStream::name), Some(name));
            assert!(index.stream("b", name).is_none());
        }
        assert!(index.get("b", "w").is_some());
    }
}
