//! Imports a client asks for (`POST …/imagestreamimports`), as opposed to the controller's
//! background passes: the same registry client, credentials and failure wording, answered at
//! once rather than recorded by a pass.
//!
//! OpenShift's apiserver imports on request whatever its controllers do, so this works with
//! `serve --no-importer` too. A request asks the registry even when a background pass found
//! it silent or rate-limiting a moment ago: a user asking now wants the registry's own answer,
//! and the request as a whole is bounded by its caller. What it hears is noted for the
//! background importer, though: after a request's 429 the importer leaves that registry alone
//! for the minute too.

use std::time::Duration;

use serde_json::Value;

use super::credentials::Keyring;
use super::outcome::{sent_anonymously, Failure};
use super::plan::ImportMode;
use super::registry::{Fetched, ImportError, RegistryClient};
use super::registry_config::{RegistryConfig, SharedRegistryConfig};
use super::repository::listing_failure;
use super::silent::SharedSilence;
use crate::api::ImageStream;
use crate::metrics::{ImportLabels, ImporterMetrics};
use crate::reference::ImageRef;

/// The registry client of on-request imports, with the settings `serve` gives the importer.
pub struct OnRequest {
    registry: RegistryClient,
    timeout: Duration,
    /// Counts each answer (`imagelookup_imports`) and the history items dropped to fit a
    /// recorded import; shared with the background importer.
    metrics: ImporterMetrics,
    /// How many items of each status tag a recorded import keeps (`--keep-tag-revisions`).
    keep_tag_revisions: usize,
}

impl Default for OnRequest {
    /// The importer's defaults: a 30 s limit per registry call, the system's CAs.
    fn default() -> Self {
        Self::new(
            Duration::from_secs(30),
            RegistryConfig::default().fixed(),
            ImporterMetrics::default(),
        )
    }
}

/// Where one request's registry calls authenticate: the namespace's pull secrets, or nothing
/// (and why) when they could not be read.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// The namespace's pull secrets.
    pub secrets: Vec<Value>,
    /// Why they could not be read, if they could not.
    pub unreadable: Option<String>,
}

impl OnRequest {
    /// A client whose registry calls each give up after `timeout`, pulling through
    /// `registries`' mirrors and trusting the system's CAs and its own, counting in `metrics`
    /// each answer (`imagelookup_imports`) and the history a recorded import drops to fit.
    pub fn new(
        timeout: Duration,
        registries: SharedRegistryConfig,
        metrics: ImporterMetrics,
    ) -> Self {
        Self {
            registry: RegistryClient::new(timeout, registries),
            timeout,
            metrics,
            keep_tag_revisions: super::DEFAULT_KEEP_TAG_REVISIONS,
        }
    }

    /// Recorded imports keep each status tag's newest `keep` items (0: all), as the
    /// background importer's do.
    pub fn with_keep_tag_revisions(mut self, keep: usize) -> Self {
        self.keep_tag_revisions = keep;
        self
    }

    /// How many items of each status tag a recorded import keeps (0: all).
    pub fn keep_tag_revisions(&self) -> usize {
        self.keep_tag_revisions
    }

    /// Drops the oldest history of `next`, a recorded import the store refused as too large
    /// (`refused`), so that it fits where `old` fit ([`super::fit::make_room`]). `None` when
    /// that is not enough.
    pub fn make_room(
        &self,
        old: &ImageStream,
        next: &mut ImageStream,
        refused: &str,
    ) -> Option<usize> {
        let fitted = serde_json::to_vec(old).map_or(0, |bytes| bytes.len());
        super::fit::make_room(next, fitted, refused, &self.metrics.history_trimmed)
    }

    /// Notes what registries answer in `silence`, the background importer's
    /// ([`super::ImporterConfig::silent_registries`]).
    pub fn with_silence(mut self, silence: SharedSilence) -> Self {
        // Asked by a user: a silent registry is asked anyway, and how it answers is noted.
        self.registry = self.registry.with_silence(silence, false);
        self
    }

    /// The limit on each registry call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Resolves `source`: the images read (with their config blobs when `configs`), or the
    /// failure a tag condition would record.
    pub async fn fetch(
        &self,
        source: &ImageRef,
        mode: &ImportMode,
        insecure: bool,
        credentials: &Credentials,
        configs: bool,
    ) -> Result<Fetched, Failure> {
        let keyring = Keyring::from_secrets(&credentials.secrets);
        let fetched = self
            .registry
            .fetch(source, mode, insecure, &keyring, configs)
            .await;
        let fetched = fetched.map_err(|error| {
            let failure = error.failure(source);
            let failure = sent_anonymously(failure, credentials.unreadable.as_deref());
            (failure, error.cause())
        });
        self.metrics.count_import(match &fetched {
            Ok(fetched) => ImportLabels::answered(fetched.from_mirror),
            Err((failure, cause)) => ImportLabels::failed(failure.reason.as_str(), cause),
        });
        fetched.map_err(|(failure, _)| failure)
    }

    /// Every tag of `repository` (no tag or digest), or the failure OpenShift reports for a
    /// repository that cannot be listed.
    pub async fn list_tags(
        &self,
        repository: &ImageRef,
        insecure: bool,
        credentials: &Credentials,
    ) -> Result<Vec<String>, Failure> {
        let keyring = Keyring::from_secrets(&credentials.secrets);
        let listed = self
            .registry
            .list_tags(repository, insecure, &keyring)
            .await;
        listed.map_err(|error: ImportError| {
            let failure = listing_failure(&error, repository);
            let failure = sent_anonymously(failure, credentials.unreadable.as_deref());
            self.metrics
                .count_import(ImportLabels::failed(failure.reason.as_str(), error.cause()));
            failure
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::importer::outcome::ImportReason;

    #[tokio::test]
    async fn a_source_naming_only_a_registry_fails_without_asking_it() {
        let client = OnRequest::default();
        let failed = || ImportLabels::failed("Invalid", "no_repository");
        let check = |spec: &str| {
            let source = ImageRef::parse(spec).unwrap();
            let client = &client;
            async move {
                let none = Credentials::default();
                let failure = client
                    .fetch(&source, &ImportMode::legacy(), false, &none, false)
                    .await
                    .unwrap_err();
                (
                    failure.reason,
                    client.metrics.imports.get_or_create(&failed()).get(),
                )
            }
        };
        assert_eq!(check("quay.io").await, (ImportReason::Invalid, 1));
        assert_eq!(check("127.0.0.1:5000").await, (ImportReason::Invalid, 2));
    }
}
