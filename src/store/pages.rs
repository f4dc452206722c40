//! Reading a whole collection without holding all of it: one snapshot, page by page.
//!
//! Documents live on disk (embedded) or in etcd, and a list materialises each one it returns
//! as a parsed tree, many times the size of its JSON. The background readers that start from
//! a full list (the live index, the importer) keep only a small part of each object, so they
//! list in pages and drop each page before reading the next.

use std::num::NonZeroUsize;

use super::{Error, ListOptions, ListPage, Object, ReadAt, Result, Store, Unreadable};

/// The page size of [`for_each_page`]: large enough that round trips do not dominate, small
/// enough that one page of parsed documents stays a few MiB.
pub const PAGE_SIZE: usize = 500;

/// Lists everything under `prefix` from one snapshot (the first page's revision), handing each
/// page to `visit` in key order; returns that revision, from which a watch continues. An
/// unreadable document fails the list: for readers that must see every object (pruning).
pub async fn for_each_page(
    store: &dyn Store,
    prefix: &str,
    visit: impl FnMut(ListPage),
) -> Result<u64> {
    pages(store, prefix, false, visit).await
}

/// [`for_each_page`] for readers that one damaged object must not stop (the live index, the
/// importer): an unreadable document is left out of its page and listed in
/// [`ListPage::unreadable`] for the reader to report.
pub async fn for_each_readable_page(
    store: &dyn Store,
    prefix: &str,
    visit: impl FnMut(ListPage),
) -> Result<u64> {
    pages(store, prefix, true, visit).await
}

async fn pages(
    store: &dyn Store,
    prefix: &str,
    skip_unreadable: bool,
    mut visit: impl FnMut(ListPage),
) -> Result<u64> {
    let mut options = ListOptions {
        limit: NonZeroUsize::new(PAGE_SIZE),
        skip_unreadable,
        ..ListOptions::default()
    };
    loop {
        let page = store.list(prefix, &options).await?;
        let revision = page.revision;
        let next = last_key(&page).filter(|_| page.more).map(str::to_string);
        visit(page);
        match next {
            Some(last) => {
                options.at = ReadAt::Exact(revision);
                options.start_after = Some(last);
            }
            None => return Ok(revision),
        }
    }
}

/// Logs each document `reader` had to leave out, with how to remove it: an operator must learn
/// of it, though the reader goes on without it.
pub fn report_unreadable(reader: &str, unreadable: &[Unreadable]) {
    for object in unreadable {
        tracing::error!(key = %object.key, %reader, "{object}");
    }
}

/// The last key a page covered, readable or not: where the next page starts.
fn last_key(page: &ListPage) -> Option<&str> {
    let readable = page.items.last().map(|object| object.key.as_str());
    let unreadable = page.unreadable.last().map(|object| object.key.as_str());
    readable.max(unreadable)
}

/// The objects of one page, in key order; with `skip_unreadable` an unreadable document
/// ([`Error::Corrupt`]) is set aside instead of failing the page.
pub(crate) fn readable(
    results: impl Iterator<Item = Result<Object>>,
    skip_unreadable: bool,
) -> Result<(Vec<Object>, Vec<Unreadable>)> {
    let mut items = Vec::new();
    let mut unreadable = Vec::new();
    for result in results {
        match result {
            Ok(object) => items.push(object),
            Err(Error::Corrupt(object)) if skip_unreadable => unreadable.push(object),
            Err(error) => return Err(error),
        }
    }
    Ok((items, unreadable))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{EmbeddedOptions, EmbeddedStore};

    #[tokio::test]
    async fn every_object_is_visited_once_in_pages_and_the_revision_is_returned() {
        let store = EmbeddedStore::in_memory(EmbeddedOptions::default()).unwrap();
        let count = PAGE_SIZE * 2 + 3;
        for i in 0..count {
            let key = format!("things/ns/{i:05}");
            store
                .create(&key, json!({"metadata": {"name": i}}))
                .await
                .unwrap();
        }
        let before = store.current_revision();
        let mut seen = Vec::new();
        let mut pages = 0;
        let revision = for_each_page(&store, "things/", |page| {
            pages += 1;
            assert!(page.items.len() <= PAGE_SIZE);
            seen.extend(page.items.into_iter().map(|object| object.key));
        })
        .await
        .unwrap();
        assert_eq!(revision, before);
        assert_eq!(pages, 3);
        assert_eq!(seen.len(), count);
        assert!(
            seen.windows(2).all(|pair| pair[0] < pair[1]),
            "in key order, no repeats"
        );
    }

    fn object(key: &str) -> Object {
        Object {
            key: key.to_string(),
            value: std::sync::Arc::new(json!({})),
            revision: 1,
        }
    }

    fn corrupt(key: &str) -> Error {
        Error::corrupt(key, 2, "not json")
    }

    #[test]
    fn unreadable_documents_are_set_aside_only_when_asked_and_other_errors_always_fail() {
        let read = || vec![Ok(object("k/a")), Err(corrupt("k/b")), Ok(object("k/c"))];
        let (items, unreadable) = readable(read().into_iter(), true).unwrap();
        let keys: Vec<&str> = items.iter().map(|object| object.key.as_str()).collect();
        assert_eq!(keys, ["k/a", "k/c"]);
        assert_eq!(unreadable.len(), 1);
        assert_eq!(
            (unreadable[0].key.as_str(), unreadable[0].revision),
            ("k/b", 2)
        );
        let strict = readable(read().into_iter(), false).unwrap_err();
        assert!(matches!(strict, Error::Corrupt(_)), "{strict}");
        let unavailable = vec![Err(Error::Unavailable("disk".into()))];
        let failed = readable(unavailable.into_iter(), true).unwrap_err();
        assert!(matches!(failed, Error::Unavailable(_)), "{failed}");
    }

    #[test]
    fn the_next_page_starts_after_the_last_key_read_or_set_aside() {
        let page = |items: &[&str], unreadable: &[&str]| ListPage {
            items: items.iter().map(|key| object(key)).collect(),
            revision: 3,
            more: true,
            unreadable: unreadable
                .iter()
                .map(|key| match corrupt(key) {
                    Error::Corrupt(object) => object,
                    _ => unreachable!(),
                })
                .collect(),
        };
        assert_eq!(last_key(&page(&["k/a", "k/b"], &[])), Some("k/b"));
        assert_eq!(last_key(&page(&["k/a"], &["k/b"])), Some("k/b"));
        assert_eq!(last_key(&page(&["k/c"], &["k/b"])), Some("k/c"));
        assert_eq!(last_key(&page(&[], &["k/a", "k/b"])), Some("k/b"));
        assert_eq!(last_key(&page(&[], &[])), None);
    }
}
