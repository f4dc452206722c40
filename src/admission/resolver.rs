//! The seam between "where are the images" and "what do they resolve to": decisions ask a
//! [`ReferenceResolver`], so tests use a table (as OpenShift's tests use `resolveFunc`).

use crate::resolve::{self, ObjectRef, Resolution, ResolverConfig, StreamLookup};

/// Resolves one reference found on an object.
pub trait ReferenceResolver {
    /// Resolves `reference` for an object in `object_namespace`; `force` is true when the object
    /// carries `alpha.image.policy.openshift.io/resolve-names: "*"`.
    fn resolve(&self, reference: &ObjectRef<'_>, object_namespace: &str, force: bool)
        -> Resolution;

    /// The integrated registry host (`matchIntegratedRegistry`); empty when there is none.
    fn integrated_registry(&self) -> &str {
        ""
    }
}

/// The production resolver: [`resolve::resolve`] over a snapshot of streams.
#[derive(Clone, Copy, Debug)]
pub struct StreamResolver<'a, L: StreamLookup> {
    /// Resolution settings (the integrated registry host).
    pub config: &'a ResolverConfig,
    /// The streams to look names up in.
    pub streams: &'a L,
}

impl<L: StreamLookup> ReferenceResolver for StreamResolver<'_, L> {
    fn resolve(
        &self,
        reference: &ObjectRef<'_>,
        object_namespace: &str,
        force: bool,
    ) -> Resolution {
        resolve::resolve(
            reference,
            object_namespace,
            force,
            self.config,
            self.streams,
        )
    }

    fn integrated_registry(&self) -> &str {
        &self.config.registry_hostname
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::Index;

    #[test]
    fn stream_resolver_reports_the_configured_registry() {
        let config = ResolverConfig {
            registry_hostname: "registry.local:5000".to_string(),
            ..ResolverConfig::default()
        };
        let streams = Index::new();
        let resolver = StreamResolver {
            config: &config,
            streams: &streams,
        };
        assert_eq!(resolver.integrated_registry(), "registry.local:5000");
    }
}
