//! Reading documents: what the lock hands out ([`Read`]) resolved into objects after the lock
//! is released, from the history window (its bytes parsed, or the tree someone else still
//! holds) or from the snapshot taken with it.

use std::sync::Arc;

use super::{
    disk::Snapshot,
    embedded::Shared,
    pages::readable,
    state::{Read, Source},
    Error, ListOptions, ListPage, Object, Result,
};

/// Pages with at most this many documents to read from the file are read inline. Measured on
/// 20,000 documents of 1.9 KB in a debug build: ~30 µs per document, all but a few of them
/// the JSON parse (the B-tree lookup of a cached page is negligible); a release build parses
/// several times faster, so 8 stay near the ~100 µs a task should run between awaits, and
/// for so few a handoff to the blocking pool (a thread wake-up each way) costs more than it
/// saves.
const INLINE_READS: usize = 8;

impl Shared {
    /// The current state of `key`, read outside the lock.
    ///
    /// Inline, not on the blocking pool: one document is one B-tree lookup (in redb's page
    /// cache for hot keys) and one parse; measured at ~30 µs in a debug build, the same as
    /// parsing the document alone.
    pub(crate) fn get(&self, key: &str) -> Result<Object> {
        let (source, snapshot) = self.read().get(key)?;
        fetch(source, snapshot.as_deref())
    }

    /// One page of a list, read outside the lock; on the blocking pool when it has more than
    /// [`INLINE_READS`] documents to read from the file.
    pub(crate) async fn list(&self, prefix: &str, options: &ListOptions) -> Result<ListPage> {
        let read = self.read().list(prefix, options)?;
        let stored = read
            .sources
            .iter()
            .filter(|s| matches!(s, Source::Stored { .. }));
        let skip = options.skip_unreadable;
        if stored.count() <= INLINE_READS {
            return resolve(read, skip);
        }
        tokio::task::spawn_blocking(move || resolve(read, skip))
            .await
            .map_err(Error::internal)?
    }
}

/// Reads the documents of a list page.
fn resolve(read: Read<Arc<Snapshot>>, skip_unreadable: bool) -> Result<ListPage> {
    let snapshot = read.snapshot.as_deref();
    let fetched = read
        .sources
        .into_iter()
        .map(|source| fetch(source, snapshot));
    let (items, unreadable) = readable(fetched, skip_unreadable)?;
    Ok(ListPage {
        items,
        revision: read.revision,
        more: read.more,
        unreadable,
    })
}

fn no_snapshot() -> Error {
    Error::internal("no store snapshot: the store is closed or its last snapshot failed")
}

/// One document: held by the history, or read from the snapshot taken with it.
fn fetch(source: Source, snapshot: Option<&Snapshot>) -> Result<Object> {
    match source {
        Source::Held(held) => held.object(),
        Source::Stored { key, revision } => {
            snapshot.ok_or_else(no_snapshot)?.object(&key, revision)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroUsize;

    use futures::StreamExt;
    use serde_json::json;

    use super::*;
    use crate::store::{fixtures, EventKind, ReadAt, Store};

    const KEYS: usize = 12;

    /// The document's stamped `resourceVersion` must be its mod revision, and no newer than the
    /// revision the read reports.
    fn check(object: &Object, reported: u64) {
        let stamped = object.value["metadata"]["resourceVersion"].as_str();
        assert_eq!(
            stamped,
            Some(object.revision.to_string().as_str()),
            "{object:?}"
        );
        assert!(
            object.revision <= reported,
            "{object:?} in a read at {reported}"
        );
    }

    fn at(at: ReadAt, start_after: Option<String>, limit: usize) -> ListOptions {
        ListOptions {
            at,
            start_after,
            limit: NonZeroUsize::new(limit),
            skip_unreadable: false,
        }
    }

    /// Lists every key in pages of 5 from one snapshot, checking every page on the way;
    /// [`Error::Expired`] if the snapshot left the window meanwhile.
    async fn paged(store: &impl Store) -> Result<(Vec<Object>, u64)> {
        let first = store.list("k/", &at(ReadAt::Current, None, 5)).await?;
        let (revision, mut more, mut items) = (first.revision, first.more, first.items);
        while more {
            let last = items.last().map(|o| o.key.clone());
            let options = at(ReadAt::Exact(revision), last, 5);
            let page = store.list("k/", &options).await?;
            assert_eq!(page.revision, revision);
            more = page.more;
            items.extend(page.items);
        }
        items.iter().for_each(|object| check(object, revision));
        Ok((items, revision))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_racing_commits_never_return_a_document_newer_than_their_revision() {
        // Half the keys are rewritten, each every 6 revisions: with a window of 2, most of
        // them are read from the file, not from the history.
        let (_dir, store) = fixtures::file_store(2);
        let store = Arc::new(store);
        for i in 0..KEYS {
            let key = format!("k/{i:02}");
            store.create(&key, json!({"spec": {"n": 0}})).await.unwrap();
        }
        let writers = (0..2).map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                for n in 0..150 {
                    let key = format!("k/{:02}", (n * 5 + writer) % (KEYS / 2));
                    let value = json!({"spec": {"n": n}});
                    store.update(&key, value, None).await.unwrap();
                }
            })
        });
        let writers = futures::future::join_all(writers);
        tokio::pin!(writers);
        let (mut rounds, mut expired) = (0, 0);
        while futures::poll!(&mut writers).is_pending() {
            let object = store.get("k/03").await.unwrap();
            check(&object, store.current_revision());
            let Ok((items, revision)) = paged(&*store).await else {
                expired += 1;
                continue;
            };
            assert_eq!(items.len(), KEYS, "at {revision}");
            let whole = at(ReadAt::Exact(revision), None, 0);
            match store.list("k/", &whole).await {
                Ok(page) => assert_eq!(page.items, items, "at {revision}"),
                Err(error) => assert_eq!(error.reason(), "Expired"),
            }
            rounds += 1;
        }
        assert!(rounds > 0, "{rounds} whole reads, {expired} expired");
        assert_eq!(store.current_revision(), (KEYS + 300) as u64);
    }

    #[tokio::test]
    async fn a_deletion_outside_the_window_carries_the_last_state_read_from_the_file() {
        let (_dir, store) = fixtures::file_store(1);
        store
            .create("k/a", json!({"spec": {"x": 1}}))
            .await
            .unwrap(); // 1
        store.create("k/b", json!({})).await.unwrap(); // 2: revision 1 leaves the window
        let mut events = store.watch("k/", 2).await.unwrap();
        let deleted = store.delete("k/a", Some(1)).await.unwrap();
        let expected = json!({"spec": {"x": 1}, "metadata": {"resourceVersion": "3"}});
        assert_eq!((*deleted.value).clone(), expected);
        let event = events.next().await.unwrap().unwrap();
        assert_eq!((event.kind, &event.object), (EventKind::Deleted, &deleted));
        assert_eq!(
            event.prev.map(|o| o.value["spec"].clone()),
            Some(json!({"x": 1}))
        );
    }

    #[tokio::test]
    async fn a_reopened_store_reads_every_document_from_the_file() {
        let (dir, store) = fixtures::file_store(100);
        for i in 0..KEYS {
            let value = json!({"spec": {"n": i}});
            store.create(&format!("k/{i:02}"), value).await.unwrap();
        }
        store.delete("k/04", None).await.unwrap();
        let before = store.list("k/", &ListOptions::default()).await.unwrap();
        drop(store);
        let store = fixtures::reopen(&dir);
        let reopened_at = store.current_revision();
        let after = store.list("k/", &ListOptions::default()).await.unwrap();
        assert_eq!(after, before);
        for object in &before.items {
            assert_eq!(store.get(&object.key).await.ok().as_ref(), Some(object));
        }
        let (items, revision) = paged(&store).await.unwrap();
        assert_eq!((items, revision), (before.items.clone(), reopened_at));
        // The states these writes replace are read from the file, for the snapshot list below.
        store
            .update("k/00", json!({"spec": "new"}), None)
            .await
            .unwrap();
        let deleted = store.delete("k/01", Some(2)).await.unwrap();
        assert_eq!(deleted.value["spec"], json!({"n": 1}));
        let then = store
            .list("k/", &at(ReadAt::Exact(reopened_at), None, 0))
            .await;
        assert_eq!(then.unwrap().items, before.items);
    }
}
