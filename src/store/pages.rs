//! Reading a whole collection without holding all of it: one snapshot, page by page.
//!
//! Documents live on disk (embedded) or in etcd, and a list materialises each one it returns
//! as a parsed tree, many times the size of its JSON. The background readers that start from
//! a full list (the live index, the importer) keep only a small part of each object, so they
//! list in pages and drop each page before reading the next.

use std::num::NonZeroUsize;

use super::{ListOptions, ListPage, ReadAt, Result, Store};

/// The page size of [`for_each_page`]: large enough that round trips do not dominate, small
/// enough that one page of parsed documents stays a few MiB.
pub const PAGE_SIZE: usize = 500;

/// Lists everything under `prefix` from one snapshot (the first page's revision), handing each
/// page to `visit` in key order; returns that revision, from which a watch continues.
pub async fn for_each_page(
    store: &dyn Store,
    prefix: &str,
    mut visit: impl FnMut(ListPage),
) -> Result<u64> {
    let mut options = ListOptions {
        limit: NonZeroUsize::new(PAGE_SIZE),
        ..ListOptions::default()
    };
    loop {
        let page = store.list(prefix, &options).await?;
        let revision = page.revision;
        let next = page
            .items
            .last()
            .filter(|_| page.more)
            .map(|last| last.key.clone());
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
}
