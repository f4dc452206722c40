//! Room for an import in a stream the store refuses as too large.
//!
//! Each image a tag moves to adds an item to its status history, and with
//! `--keep-tag-revisions 0` (keep all) nothing removes them: a stream of tags that move daily
//! reaches the store's object limit within a year or two, after which every import of it
//! failed (OpenShift's own image streams meet etcd's "request is too large" the same way).
//! Instead the importer drops the oldest history, never what a tag resolves to, until the
//! stream is a margin below the size it had when it last fit, and says so (a warning and
//! `imagelookup_importer_history_trimmed_total`).

use prometheus_client::metrics::counter::Counter;

use crate::api::ImageStream;

/// The size a stream that no longer fits is trimmed to: a sixteenth below the size it had when
/// the store last took it (`fitted`, its stored JSON), so that the next imports fit without
/// trimming again at once; never above the embedded store's limit.
pub fn room_target(fitted: usize) -> usize {
    let limit = fitted.min(crate::store::MAX_OBJECT_BYTES);
    limit - limit / 16
}

/// Drops the oldest history of `next`, a stream the store refused as too large (`refused`, its
/// message), to [`room_target`] of `fitted` (the JSON length of the stream it was made from),
/// and says so: a warning, and the items in `trimmed`. Returns how many items went, or `None`
/// when that is not enough.
pub fn make_room(
    next: &mut ImageStream,
    fitted: usize,
    refused: &str,
    trimmed: &Counter,
) -> Option<usize> {
    let dropped = trim_history_to(next, room_target(fitted)).filter(|&dropped| dropped > 0)?;
    tracing::warn!(
        namespace = next.metadata.namespace.as_deref().unwrap_or(""),
        name = next.metadata.name.as_deref().unwrap_or(""),
        dropped,
        refused,
        "the stream with its import no longer fit in the store: dropped its oldest status \
         history, each tag's newest item kept (--keep-tag-revisions bounds the history)"
    );
    trimmed.inc_by(dropped as u64);
    Some(dropped)
}

/// Drops the oldest status items of `stream` (by `created`, across its tags; never a tag's
/// newest item) until its JSON is at most `target` bytes. Returns how many went, or `None`,
/// leaving the stream as it was, when even dropping every older item leaves it over.
pub fn trim_history_to(stream: &mut ImageStream, target: usize) -> Option<usize> {
    let mut size = json_len(&*stream);
    if size <= target {
        return Some(0);
    }
    let status = stream.status.as_mut()?;
    let mut older: Vec<(usize, usize)> = status
        .tags
        .iter()
        .enumerate()
        .flat_map(|(tag, list)| (1..list.items.len()).map(move |item| (tag, item)))
        .collect();
    // Oldest first; within a tag a later item is older when the times tie.
    older.sort_by(|&(a_tag, a), &(b_tag, b)| {
        let created = |tag: usize, item: usize| status.tags[tag].items[item].created.0;
        created(a_tag, a).cmp(&created(b_tag, b)).then(b.cmp(&a))
    });
    let mut dropped = Vec::new();
    for (tag, item) in older {
        if size <= target {
            break;
        }
        // The item and the comma that separated it from its neighbour.
        size -= json_len(&status.tags[tag].items[item]) + 1;
        dropped.push((tag, item));
    }
    if size > target {
        return None;
    }
    let mut kept: Vec<Vec<bool>> = status
        .tags
        .iter()
        .map(|list| vec![true; list.items.len()])
        .collect();
    for &(tag, item) in &dropped {
        kept[tag][item] = false;
    }
    for (list, kept) in status.tags.iter_mut().zip(kept) {
        let mut kept = kept.into_iter();
        list.items.retain(|_| kept.next().unwrap_or(true));
    }
    Some(dropped.len())
}

fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len())
}

#[cfg(test)]
mod tests;
