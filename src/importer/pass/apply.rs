//! A pass's answers applied to its stream through the status rules of an import, and a
//! written stream handed to the live index before the pass goes on.

use std::collections::HashMap;

use jiff::Timestamp;

use super::questions::{source_key, Answer, SourceKey};
use crate::api::ImageStream;
use crate::importer::fit;
use crate::importer::outcome::{self, Failure};
use crate::importer::plan::TagImport;
use crate::importer::Importer;
use crate::live_index;
use crate::store;
use crate::strategy;

impl Importer {
    /// The stream with every answer applied and the status rules run, or `None` when nothing
    /// changed.
    ///
    /// The write goes through [`strategy::prepare_for_import_status_update`], the status rules
    /// a client's `PUT …/status` meets, rather than a hand-made copy of what OpenShift's
    /// importer writes: the spec and generation stay protected, the repositories are
    /// recomputed, and new references meet the allowed-registries list (with the stream's
    /// own repositories allowed, as for OpenShift's imports). Tracking tags, which a `/status` write
    /// leaves alone, are updated by [`outcome::apply_outcome`] first, as OpenShift's import does.
    /// A reference the rules reject turns every import of the pass into a failure condition.
    pub(super) fn apply(
        &self,
        stream: &ImageStream,
        imports: &[TagImport],
        answers: &HashMap<SourceKey, Answer>,
        now: Timestamp,
    ) -> Option<ImageStream> {
        let outcome =
            |import: &TagImport| answers[&source_key(import)].for_tag(stream, &import.tag);
        let mut next = stream.clone();
        let changed = imports.iter().fold(false, |changed, import| {
            outcome::apply_outcome(&mut next, import, &outcome(import), now) | changed
        });
        if !changed {
            return None;
        }
        let errors = match self.prepare(&mut next, stream, now) {
            Ok(()) => return Some(next),
            Err(errors) => errors,
        };
        let failure = Failure::invalid(&errors);
        let mut next = stream.clone();
        let changed = imports.iter().fold(false, |changed, import| {
            outcome::apply_outcome(&mut next, import, &Err(failure.clone()), now) | changed
        });
        (changed && self.prepare(&mut next, stream, now).is_ok()).then_some(next)
    }

    fn prepare(
        &self,
        next: &mut ImageStream,
        old: &ImageStream,
        now: Timestamp,
    ) -> Result<(), Vec<crate::field::FieldError>> {
        self.with_rules(now, |ctx| {
            strategy::prepare_for_import_status_update(next, old, ctx)
        })
    }

    /// Runs `rule` with the stream rules' context at `now`: the server's settings, no other
    /// streams, every cross-namespace access allowed (the importer writes as the server).
    pub(super) fn with_rules<T>(
        &self,
        now: Timestamp,
        rule: impl FnOnce(&strategy::Context<'_>) -> T,
    ) -> T {
        let no_streams = crate::resolve::Index::default();
        let allow_all = |_: &str, _: &str| Ok(());
        rule(&strategy::Context {
            config: &self.config.strategy,
            now,
            streams: &no_streams,
            authorize: &allow_all,
        })
    }

    /// Writes `next` over `object`, the stream it was made from, each tag's history cut to
    /// `--keep-tag-revisions`; when the store refuses it as too large, the oldest history makes
    /// room ([`fit`]) and the write is tried once more. `next` is what was written.
    pub(super) async fn write(
        &self,
        store_key: &str,
        object: &store::Object,
        next: &mut ImageStream,
    ) -> Result<store::Object, store::Error> {
        // Every import write keeps each tag's newest `--keep-tag-revisions` items, whatever it
        // records (a tag's import or failure, a repository's listing); dropping items keeps
        // what the stream rules accepted acceptable.
        outcome::keep_revisions(next, self.config.keep_tag_revisions);
        let value = serde_json::to_value(&*next).expect("streams serialise");
        let refused = match self
            .store
            .update(store_key, value, Some(object.revision))
            .await
        {
            Err(store::Error::TooLarge(message)) => message,
            written => return written,
        };
        let fitted = serde_json::to_vec(&*object.value).map_or(0, |bytes| bytes.len());
        if fit::make_room(next, fitted, &refused, &self.config.metrics.history_trimmed).is_none() {
            return Err(store::Error::TooLarge(refused));
        }
        let value = serde_json::to_value(&*next).expect("streams serialise");
        self.store
            .update(store_key, value, Some(object.revision))
            .await
    }

    pub(super) fn note_write(&self, stored: &store::Object) {
        let (Some(index), Some(stream)) = (&self.index, live_index::decode(stored)) else {
            return;
        };
        index.apply(&stream, stored.revision, false);
    }
}
