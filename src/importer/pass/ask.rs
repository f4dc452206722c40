//! The registry questions of a pass, asked: each distinct source once, with the namespace's
//! pull secrets (anonymously when they cannot be read), unless its registry or repository
//! was silent a moment ago; images stored and every answer counted.

use std::time::Instant;

use futures::FutureExt;
use serde_json::Value;

use super::questions::{source_key, Answer, Pass};
use crate::api::ImageStream;
use crate::importer::outcome::{self, Imported};
use crate::importer::plan::TagImport;
use crate::importer::secrets::{self, ReadError};
use crate::importer::{credentials, image, Importer};
use crate::metrics::ImportLabels;

impl Importer {
    /// Asks the registry about every source of `imports` this pass has not asked about yet,
    /// then waits for the answers (see [`Pass::wait`]).
    pub(super) async fn answer<'a>(
        &'a self,
        stream: &ImageStream,
        imports: &[TagImport],
        pass: &mut Pass<'a>,
    ) {
        for import in imports {
            let key = source_key(import);
            if pass.answers.contains_key(&key) || !pass.asked.insert(key.clone()) {
                continue;
            }
            let read = match pass.secrets {
                Some(ref read) => read,
                None => pass
                    .secrets
                    .insert(self.pull_secrets(stream.namespace()).await),
            };
            // Unreadable secrets mean an anonymous import: public images still import.
            let (listed, unreadable) = match read {
                Ok(listed) => (listed.as_slice(), None),
                Err(error) => (&[][..], Some(error.to_string())),
            };
            let keyring = credentials::Keyring::from_secrets(listed);
            let question = self.ask(import.clone(), keyring, unreadable);
            pass.ask(question.map(|answer| (key, answer)).boxed());
        }
        pass.wait(imports).await;
    }

    /// One registry question, its images stored when it succeeds.
    pub(super) async fn ask(
        &self,
        import: TagImport,
        keyring: credentials::Keyring,
        unreadable: Option<String>,
    ) -> Answer {
        // The registry client skips, and notes, each place that did not answer a moment ago.
        let fetched = self
            .registry
            .fetch(
                &import.source,
                &import.mode,
                import.insecure,
                &keyring,
                false,
            )
            .await;
        let answer = match fetched {
            Ok(fetched) => {
                self.config
                    .metrics
                    .count_import(ImportLabels::answered(fetched.from_mirror));
                self.store_images(&fetched.images).await;
                let imported = Imported {
                    digest: fetched.digest,
                };
                Answer {
                    outcome: Ok(imported),
                    advise_reimport: false,
                    retry_in: None,
                }
            }
            Err(error) => {
                // A registry-only source renders empty; its registry is what was written.
                let source = match import.source.exact() {
                    exact if exact.is_empty() => import.source.registry.clone(),
                    exact => exact,
                };
                tracing::info!(%source, %error, "import failed");
                let failure = error.failure(&import.source);
                let explained = outcome::sent_anonymously(failure.clone(), unreadable.as_deref());
                self.config.metrics.count_import(ImportLabels::failed(
                    explained.reason.as_str(),
                    error.cause(),
                ));
                Answer {
                    // Whoever fixes the secrets' access must also import again.
                    advise_reimport: error.advises_a_fix() || explained != failure,
                    outcome: Err(explained),
                    retry_in: error.retry_in(),
                }
            }
        };
        answer
    }

    /// The docker-config Secrets of `namespace`, in name order.
    pub(super) async fn pull_secrets(&self, namespace: &str) -> Result<Vec<Value>, ReadError> {
        // A cluster that just did not answer is not asked again (and waited for) by every pass.
        if let Some(error) = self.secrets_outage().current(Instant::now()) {
            return Err(error);
        }
        let store = self.store.as_ref();
        let listed = self.config.pull_secrets.list(store, namespace).await;
        self.secrets_outage().record(&listed, Instant::now());
        if let Err(error) = &listed {
            self.config.metrics.pull_secrets_unreadable.inc();
            tracing::warn!(%namespace, %error, "cannot list pull secrets; importing anonymously");
        }
        listed
    }

    fn secrets_outage(&self) -> std::sync::MutexGuard<'_, secrets::Outage> {
        self.secrets_outage
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Stores each image unless one of that name exists (images are content-addressed).
    async fn store_images(&self, images: &[image::ImageRecord]) {
        image::store_images(self.store.as_ref(), images).await;
    }
}
