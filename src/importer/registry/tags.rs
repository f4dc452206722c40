//! Listing a repository's tags (the distribution API's `tags/list`), page by page.

use std::collections::HashSet;

use oci_client::Reference;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::error::registry_only;
use super::session::{Body, Session};
use super::{repository, ImportError, RegistryClient};
use crate::importer::credentials::Keyring;
use crate::reference::ImageRef;

/// The most pages one listing reads: a registry that keeps answering with new tags past
/// this is cut short rather than listed forever.
const MAX_PAGES: usize = 100;

impl RegistryClient {
    /// Every tag of `repository` (a reference without tag or digest), in the registry's
    /// order, over the schemes `insecure` allows, as [`RegistryClient::fetch`] tries them.
    /// Asks the source only (as OpenShift lists tags), with `keyring`'s credentials for it and
    /// then the global pull secret's, as `fetch` tries them, heeding and noting its silence as
    /// `fetch` does for each place.
    pub async fn list_tags(
        &self,
        repository: &ImageRef,
        insecure: bool,
        keyring: &Keyring,
    ) -> Result<Vec<String>, ImportError> {
        let reference = repository_reference(repository)?;
        let registry = reference.resolve_registry();
        let global = self.config.borrow().global_pull_secret.clone();
        let credentials = keyring.candidates_or(&global, repository);
        let list = self.over_schemes(registry, insecure, &credentials, |key| {
            let reference = &reference;
            async move {
                let session = self.session(&key)?;
                self.list_pages(&session, reference).await
            }
        });
        self.heeding_silence(repository, list).await
    }

    /// Reads pages until one is empty or brings no tag not seen yet: registries that do not
    /// paginate answer everything at once and an empty page after it; those that ignore
    /// `last` repeat the first page.
    async fn list_pages(
        &self,
        session: &Session,
        reference: &Reference,
    ) -> Result<Vec<String>, ImportError> {
        let mut tags: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for _ in 0..MAX_PAGES {
            let path = match tags.last() {
                None => "tags/list".to_string(),
                Some(last) => format!(
                    "tags/list?last={}",
                    utf8_percent_encode(last, NON_ALPHANUMERIC)
                ),
            };
            let call = session.get(reference.repository(), &path, Body::TagPage);
            let page = page_of(&self.within_timeout(call).await?.body)?;
            let fresh: Vec<String> = page
                .into_iter()
                .filter(|tag| seen.insert(tag.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            tags.extend(fresh);
        }
        Ok(tags)
    }
}

/// The tags a `tags/list` answer names (`"tags": null` for a repository without any).
fn page_of(body: &[u8]) -> Result<Vec<String>, ImportError> {
    #[derive(serde::Deserialize)]
    struct Page {
        #[serde(default)]
        tags: Option<Vec<String>>,
    }
    let page: Page = serde_json::from_slice(body).map_err(|error| {
        ImportError::Registry(format!("the registry's tag list does not decode: {error}"))
    })?;
    Ok(page.tags.unwrap_or_default())
}

/// The distribution reference of a repository, with Docker's defaults filled in.
fn repository_reference(source: &ImageRef) -> Result<Reference, ImportError> {
    let full = source.docker_client_defaults();
    if full.name.is_empty() {
        return Err(ImportError::NoRepository(registry_only(source)));
    }
    Ok(Reference::with_tag(
        full.registry.clone(),
        repository(&full),
        full.tag,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_fill_docker_defaults() {
        let check = |spec: &str, registry: &str, path: &str| {
            let reference = repository_reference(&ImageRef::parse(spec).unwrap()).unwrap();
            assert_eq!(
                (reference.registry(), reference.repository()),
                (registry, path),
                "{spec}"
            );
        };
        check("mysql", "docker.io", "library/mysql");
        check("quay.io/o/app", "quay.io", "o/app");
        check("127.0.0.1:5000/demo/app", "127.0.0.1:5000", "demo/app");
        let registry_only = repository_reference(&ImageRef::parse("quay.io").unwrap());
        assert!(matches!(registry_only, Err(ImportError::NoRepository(_))));
    }
}
