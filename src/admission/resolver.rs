//! The seam between "where are the images" and "what do they resolve to": decisions ask a
//! [`ReferenceResolver`], so tests use a table (as OpenShift's tests use `resolveFunc`).

use super::platform::Architectures;
use crate::resolve::{self, Importing, Match, ObjectRef, Resolution, ResolverConfig, StreamLookup};

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

    /// The architectures the image `digest` is known to run on; `None` when unknown, which
    /// never warns. Called only for pins on objects whose pods require architectures.
    fn architectures(&self, digest: &str) -> Option<Architectures> {
        let _ = digest;
        None
    }

    /// Where the image `image` that `matched` found comes from (see
    /// [`resolve::importing_tag`]); `None` when unknown. Called only to word advice about
    /// import settings.
    fn importing_tag(&self, matched: &Match, image: &str) -> Option<Importing> {
        let _ = (matched, image);
        None
    }

    /// The pull spec of the newest event of the tag `matched` found, when that event names no
    /// image (see [`resolve::reference_only_pull_spec`]); `None` otherwise. Called only for
    /// triggers, which write it as OpenShift's trigger controller does.
    fn reference_only_pull_spec(&self, matched: &Match) -> Option<String> {
        let _ = matched;
        None
    }
}

/// Where the architectures of imported images are known (the live index's image platforms).
pub trait PlatformLookup {
    /// The architectures the image `digest` runs on, when known.
    fn architectures(&self, digest: &str) -> Option<Architectures>;
}

/// A resolver that also knows images' platforms: `resolver` answers references, `platforms`
/// the architectures of what they pin to.
#[derive(Clone, Copy, Debug)]
pub struct WithPlatforms<'a, R: ?Sized, P: ?Sized> {
    /// Resolves references.
    pub resolver: &'a R,
    /// Knows image platforms.
    pub platforms: &'a P,
}

impl<R, P> ReferenceResolver for WithPlatforms<'_, R, P>
where
    R: ReferenceResolver + ?Sized,
    P: PlatformLookup + ?Sized,
{
    fn resolve(
        &self,
        reference: &ObjectRef<'_>,
        object_namespace: &str,
        force: bool,
    ) -> Resolution {
        self.resolver.resolve(reference, object_namespace, force)
    }

    fn integrated_registry(&self) -> &str {
        self.resolver.integrated_registry()
    }

    fn architectures(&self, digest: &str) -> Option<Architectures> {
        self.platforms.architectures(digest)
    }

    fn importing_tag(&self, matched: &Match, image: &str) -> Option<Importing> {
        self.resolver.importing_tag(matched, image)
    }

    fn reference_only_pull_spec(&self, matched: &Match) -> Option<String> {
        self.resolver.reference_only_pull_spec(matched)
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

    fn importing_tag(&self, matched: &Match, image: &str) -> Option<Importing> {
        let Match {
            namespace,
            stream,
            tag,
            ..
        } = matched;
        resolve::importing_tag(self.streams, namespace, stream, tag, image)
    }

    fn reference_only_pull_spec(&self, matched: &Match) -> Option<String> {
        let Match {
            namespace,
            stream,
            tag,
            ..
        } = matched;
        resolve::reference_only_pull_spec(self.streams, namespace, stream, tag)
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
