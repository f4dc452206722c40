//! Listing a repository's tags (the distribution API's `tags/list`), page by page.

use std::collections::HashSet;

use oci_client::{Client, Reference};

use super::error::{classify, registry_only};
use super::{registry_auth, repository, ImportError, RegistryClient};
use crate::importer::credentials::Credential;
use crate::reference::ImageRef;

/// The most pages one listing reads: a registry that keeps answering with new tags past
/// this is cut short rather than listed forever.
const MAX_PAGES: usize = 100;

impl RegistryClient {
    /// Every tag of `repository` (a reference without tag or digest), in the registry's
    /// order, over the schemes `insecure` allows, as [`RegistryClient::fetch`] tries them.
    /// Asks the source only (as OpenShift lists tags), heeding and noting its silence as
    /// `fetch` does for each place.
    pub async fn list_tags(
        &self,
        repository: &ImageRef,
        insecure: bool,
        credential: &Credential,
    ) -> Result<Vec<String>, ImportError> {
        let reference = repository_reference(repository)?;
        let registry = reference.resolve_registry();
        let list = self.over_schemes(registry, insecure, credential, |key| {
            let reference = &reference;
            async move {
                let client = self.client(&key)?;
                self.list_pages(&client, reference, credential).await
            }
        });
        self.heeding_silence(repository, list).await
    }

    /// Reads pages until one is empty or brings no tag not seen yet: registries that do not
    /// paginate answer everything at once and an empty page after it; those that ignore
    /// `last` repeat the first page.
    async fn list_pages(
        &self,
        client: &Client,
        reference: &Reference,
        credential: &Credential,
    ) -> Result<Vec<String>, ImportError> {
        let auth = registry_auth(credential);
        let mut tags: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for _ in 0..MAX_PAGES {
            let last = tags.last().cloned();
            let call = client.list_tags(reference, &auth, None, last.as_deref());
            let page = tokio::time::timeout(self.timeout, call)
                .await
                .map_err(|_| ImportError::Timeout(self.timeout))?
                .map_err(classify)?;
            let fresh: Vec<String> = page
                .tags
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
