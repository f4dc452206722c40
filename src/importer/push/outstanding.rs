//! Which push records still wait for some pass (pure): a record is deleted only once every
//! stream tag it brought forward has been through a pass that planned it after the push, so a
//! leader that stops in between leaves the record for the next one.

use std::collections::{HashMap, HashSet};

use super::record::RecordId;

/// Push records handled by this importer, with the stream tags each still waits for.
#[derive(Debug, Default)]
pub struct Outstanding {
    /// Record key → (the revision handled, its `(stream key, tag)` pairs not yet imported).
    records: HashMap<String, (u64, HashSet<(String, String)>)>,
}

impl Outstanding {
    /// Notes that `record` waits for `pairs`; a newer revision of the record (a later push of
    /// the same tag) replaces what an older one waited for.
    pub fn expect(&mut self, record: &RecordId, pairs: impl IntoIterator<Item = (String, String)>) {
        let (key, revision) = record;
        self.records
            .insert(key.clone(), (*revision, pairs.into_iter().collect()));
    }

    /// Notes that a pass of stream `stream` was through `tag` for `record`; returns the record
    /// when nothing is left waiting for it (to delete), unless it was rewritten since.
    pub fn handled(&mut self, record: &RecordId, stream: &str, tag: &str) -> Option<RecordId> {
        let (key, revision) = record;
        let (waiting_revision, pairs) = self.records.get_mut(key)?;
        if waiting_revision != revision {
            return None;
        }
        pairs.remove(&(stream.to_string(), tag.to_string()));
        if !pairs.is_empty() {
            return None;
        }
        self.records.remove(key);
        Some(record.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(stream: &str, tag: &str) -> (String, String) {
        (stream.to_string(), tag.to_string())
    }

    #[test]
    fn a_record_is_done_once_every_tag_it_brought_forward_was_imported() {
        let mut outstanding = Outstanding::default();
        let record = ("registrypushes/a".to_string(), 7);
        outstanding.expect(&record, [pair("ns/one", "v1"), pair("ns/two", "v1")]);
        assert_eq!(outstanding.handled(&record, "ns/one", "v1"), None);
        assert_eq!(outstanding.handled(&record, "ns/one", "v1"), None, "again");
        assert_eq!(
            outstanding.handled(&record, "ns/two", "v1"),
            Some(record.clone())
        );
        assert!(outstanding.records.is_empty());
        assert_eq!(outstanding.handled(&record, "ns/two", "v1"), None, "gone");
    }

    #[test]
    fn a_rewritten_record_waits_for_passes_after_its_new_push() {
        let mut outstanding = Outstanding::default();
        let older = ("registrypushes/a".to_string(), 7);
        let newer = ("registrypushes/a".to_string(), 9);
        outstanding.expect(&older, [pair("ns/one", "v1")]);
        outstanding.expect(&newer, [pair("ns/one", "v1")]);
        assert_eq!(
            outstanding.handled(&older, "ns/one", "v1"),
            None,
            "a pass that took the older push does not finish the newer"
        );
        assert_eq!(outstanding.records.len(), 1);
        assert_eq!(outstanding.handled(&newer, "ns/one", "v1"), Some(newer));
    }
}
