//! Deleting the Image objects no stream references any more, as OpenShift's image pruner does
//! (`oc adm prune images`, run daily by OpenShift 4's ImagePruner, keeping images younger than
//! 60 minutes).
//!
//! The importer stores an Image per imported digest (for `/layers` and the architecture
//! warning) and never rewrites one; once `--keep-tag-revisions` or a status write has dropped
//! the last item naming it, nothing else would ever remove it. An image is kept while any
//! stream's `status.tags[].items[].image` names it, or names an index listing it, and while it
//! is younger than the grace period: an import stores its images before it records them, and an
//! import that finds an old image again marks it (`image::LAST_IMPORTED_ANNOTATION`) before it
//! records it. That closes the race of a pass that judged such an image unreferenced: marked
//! before the pass read it, it is young; marked after, its revision moved and the conditional
//! delete fails.

use std::collections::HashSet;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use super::Importer;
use crate::store::{self, collection_prefix, for_each_page, object_key};

/// When the pruner runs, and which unreferenced images it spares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneImages {
    /// How often (`--prune-images-interval`).
    pub every: Duration,
    /// Images younger than this are kept, referenced or not (OpenShift: 60 minutes).
    pub keep_younger_than: Duration,
}

/// The grace period of OpenShift's pruner.
pub const KEEP_YOUNGER_THAN: Duration = Duration::from_secs(60 * 60);

/// What the pruner reads of one stored Image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    /// The image's name, its digest.
    pub name: String,
    /// When it was stored, or last found again by an import (`image::last_used`); `None`:
    /// unreadable, and so never pruned.
    pub last_used: Option<Timestamp>,
    /// The digests of the manifests an index lists (`dockerImageManifests`).
    pub children: Vec<String>,
    /// The store revision it was read at: a delete never removes a rewritten image.
    pub revision: u64,
    /// Whether `metadata.finalizers` holds any: such an image is left to whoever deletes it
    /// through the API, which waits for them.
    pub finalized: bool,
}

impl StoredImage {
    /// The pruner's view of a stored Image document.
    pub fn of(document: &Value, revision: u64) -> Self {
        let metadata = &document["metadata"];
        let children = document["dockerImageManifests"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|child| child["digest"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            name: metadata["name"].as_str().unwrap_or("").to_string(),
            last_used: super::image::last_used(document),
            children,
            revision,
            finalized: metadata["finalizers"]
                .as_array()
                .is_some_and(|list| !list.is_empty()),
        }
    }
}

/// Every image a stream document's status names.
pub fn referenced_by(stream: &Value, into: &mut HashSet<String>) {
    let tags = stream["status"]["tags"].as_array().into_iter().flatten();
    for item in tags.flat_map(|tag| tag["items"].as_array().into_iter().flatten()) {
        if let Some(image) = item["image"].as_str() {
            into.insert(image.to_string());
        }
    }
}

/// The images of `images` to delete: neither named in `referenced` nor listed by an index
/// that is, stored or last found by an import before `cutoff`, and without finalizers.
pub fn unreferenced<'a>(
    referenced: &HashSet<String>,
    images: &'a [StoredImage],
    cutoff: Timestamp,
) -> Vec<&'a StoredImage> {
    let children: HashSet<&str> = images
        .iter()
        .filter(|image| referenced.contains(&image.name))
        .flat_map(|image| image.children.iter().map(String::as_str))
        .collect();
    images
        .iter()
        .filter(|image| {
            !referenced.contains(&image.name) && !children.contains(image.name.as_str())
        })
        .filter(|image| image.last_used.is_some_and(|used| used < cutoff))
        .filter(|image| !image.finalized)
        .collect()
}

impl Importer {
    /// Prunes unreferenced images every `prune.every`, while this replica leads.
    pub(super) async fn prune_images(self: std::sync::Arc<Self>, prune: PruneImages) {
        // Not at once: a new leader is busy listing every stream for its imports already.
        let first = tokio::time::Instant::now() + prune.every;
        let mut ticker = tokio::time::interval_at(first, prune.every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.prune_once(prune.keep_younger_than).await {
                Ok(0) => {}
                Ok(deleted) => {
                    self.config.metrics.images_pruned.inc_by(deleted as u64);
                    tracing::info!(deleted, "pruned images no stream references");
                }
                Err(error) => {
                    tracing::warn!(%error, "image pruning failed; trying again next interval")
                }
            }
        }
    }

    /// One pruning pass: the images, then the streams, each read in pages; then the deletes,
    /// each conditional on the revision read. Returns how many images went.
    async fn prune_once(&self, keep_younger_than: Duration) -> store::Result<usize> {
        let store = self.store.as_ref();
        // Images first: one stored after this list is not a candidate, whatever the streams say.
        let mut images = Vec::new();
        for_each_page(store, &collection_prefix("images", None), |page| {
            images.extend(
                page.items
                    .iter()
                    .map(|o| StoredImage::of(&o.value, o.revision)),
            );
        })
        .await?;
        let mut referenced = HashSet::new();
        for_each_page(store, &collection_prefix("imagestreams", None), |page| {
            page.items
                .iter()
                .for_each(|o| referenced_by(&o.value, &mut referenced));
        })
        .await?;
        let grace = jiff::SignedDuration::try_from(keep_younger_than).unwrap_or_default();
        let cutoff = Timestamp::now() - grace;
        let mut deleted = 0;
        for image in unreferenced(&referenced, &images, cutoff) {
            let key = object_key("images", None, &image.name);
            match store.delete(&key, Some(image.revision)).await {
                Ok(_) => deleted += 1,
                // Rewritten or deleted meanwhile: left for the next pass to judge.
                Err(store::Error::Conflict { .. } | store::Error::NotFound { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests;
