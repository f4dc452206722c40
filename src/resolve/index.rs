//! The in-memory index of streams the resolver reads.

use std::collections::HashMap;
use std::sync::Arc;

use crate::api::ImageStream;

/// Read access to streams by namespace and name; O(1) in the number of streams.
pub trait StreamLookup {
    /// The stream `name` in `namespace`, if any.
    fn stream(&self, namespace: &str, name: &str) -> Option<&ImageStream>;
}

/// Streams keyed by namespace, then name. Values are `Arc` so a snapshot shares them.
#[derive(Clone, Debug, Default)]
pub struct Index {
    by_namespace: HashMap<String, HashMap<String, Arc<ImageStream>>>,
    len: usize,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a stream.
    pub fn upsert(&mut self, stream: Arc<ImageStream>) {
        let namespace = stream.namespace().to_string();
        let name = stream.name().to_string();
        let previous = self
            .by_namespace
            .entry(namespace)
            .or_default()
            .insert(name, stream);
        if previous.is_none() {
            self.len += 1;
        }
    }

    /// Removes a stream; returns whether it was present.
    pub fn remove(&mut self, namespace: &str, name: &str) -> bool {
        let Some(streams) = self.by_namespace.get_mut(namespace) else {
            return false;
        };
        let removed = streams.remove(name).is_some();
        if streams.is_empty() {
            self.by_namespace.remove(namespace);
        }
        if removed {
            self.len -= 1;
        }
        removed
    }

    /// Number of streams.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no stream.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops every stream (before a re-list).
    pub fn clear(&mut self) {
        self.by_namespace.clear();
        self.len = 0;
    }
}

impl FromIterator<ImageStream> for Index {
    fn from_iter<I: IntoIterator<Item = ImageStream>>(streams: I) -> Self {
        let mut index = Index::new();
        for stream in streams {
            index.upsert(Arc::new(stream));
        }
        index
    }
}

impl StreamLookup for Index {
    fn stream(&self, namespace: &str, name: &str) -> Option<&ImageStream> {
        self.by_namespace.get(namespace)?.get(name).map(Arc::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_replaces_and_remove_forgets() {
        let mut index: Index = [ImageStream::new("a", "x"), ImageStream::new("b", "x")]
            .into_iter()
            .collect();
        assert_eq!(index.len(), 2);
        index.upsert(Arc::new(ImageStream::new("a", "x")));
        assert_eq!(index.len(), 2);
        assert!(index.stream("a", "x").is_some());
        assert!(index.stream("a", "y").is_none());
        assert!(index.remove("a", "x"));
        assert!(!index.remove("a", "x"));
        assert_eq!(index.len(), 1);
        assert!(index.stream("a", "x").is_none());
    }
}
