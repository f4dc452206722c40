//! A document held as its JSON bytes, parsed on demand and shared while anyone holds the tree
//! (see the memory notes in [`history`](super::history)).

use std::sync::{Arc, Mutex, PoisonError, Weak};

use serde_json::Value;

use super::{Error, Result};

/// One document as its JSON bytes, with a weak cache of its parsed tree.
pub(crate) struct Doc {
    bytes: Box<[u8]>,
    /// The tree last handed out, if anyone still holds it. Locked while parsing, so that
    /// concurrent consumers of one document parse it once.
    tree: Mutex<Weak<Value>>,
}

impl Doc {
    /// The serialization of `tree`, remembering `tree` for as long as someone else holds it.
    pub(crate) fn of(tree: &Arc<Value>) -> Result<Self> {
        let bytes = serde_json::to_vec(&**tree).map_err(Error::internal)?;
        Ok(Self {
            bytes: bytes.into_boxed_slice(),
            tree: Mutex::new(Arc::downgrade(tree)),
        })
    }

    /// The JSON bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The parsed tree: the one still held elsewhere, or a fresh parse of the bytes.
    pub(crate) fn value(&self) -> Result<Arc<Value>> {
        let mut tree = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(value) = tree.upgrade() {
            return Ok(value);
        }
        let value: Value = serde_json::from_slice(&self.bytes)
            .map_err(|error| Error::internal(format!("corrupt history document: {error}")))?;
        let value = Arc::new(value);
        *tree = Arc::downgrade(&value);
        Ok(value)
    }

    /// The parsed tree if someone holds it, without parsing.
    pub(crate) fn alive(&self) -> Option<Arc<Value>> {
        let tree = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        tree.upgrade()
    }

    /// Whether a parsed tree of this document is alive (held by someone outside the history).
    #[cfg(test)]
    pub(crate) fn is_parsed(&self) -> bool {
        let tree = self.tree.lock().unwrap_or_else(PoisonError::into_inner);
        tree.strong_count() > 0
    }
}

impl std::fmt::Debug for Doc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.bytes))
    }
}

impl PartialEq for Doc {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}
