//! After pinning: which pinned references name an image that the object's pods cannot run,
//! given the architectures their pod spec requires (see [`platform`]).
//!
//! The requirement is read first, from the object alone: a pod spec without one (most, and the
//! benchmark's) costs two map lookups and never asks for an image's platforms.

use serde_json::Value;

use super::locate::{self, Holder, Shape};
use super::patch::Finding;
use super::platform;
use super::resolver::ReferenceResolver;
use super::warnings::{self, Warning};
use crate::resolve::ResolvedVia;

/// The architecture warnings for `findings` on `object`, each with its field path.
pub(crate) fn warnings<R: ReferenceResolver + ?Sized>(
    object: &Value,
    shape: Shape,
    findings: &[Finding<'_>],
    resolver: &R,
) -> Vec<(String, Warning)> {
    let Shape::Pods { spec, .. } = shape else {
        return Vec::new();
    };
    let Some(required) = locate::at(object, spec).and_then(platform::required) else {
        return Vec::new();
    };
    findings
        .iter()
        .filter_map(|(site, verdict)| {
            // An image volume is mounted, never executed: any architecture will do.
            if matches!(site.holder, Holder::Volume { .. }) {
                return None;
            }
            let pinned = verdict.rewrite_to.as_deref()?;
            let resolution = verdict.resolution.as_ref()?;
            // A digest the object already named was the writer's choice, not a lookup's.
            let via = &resolution.outcome.as_ref().ok()?.via;
            if *via == ResolvedVia::Digest {
                return None;
            }
            let (_, digest) = pinned.rsplit_once('@')?;
            let image = resolver.architectures(digest)?;
            if !platform::mismatch(required, image) {
                return None;
            }
            let importing = resolution
                .matched
                .as_ref()
                .filter(|found| !found.tag.is_empty())
                .map(|found| (found, resolver.importing_tag(found, digest)));
            let written = site.reference.display();
            let warning = warnings::architecture_mismatch(&written, image, required, importing);
            Some((site.path(), warning))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{
        config, create, digest, failed, local, mk_pod, mk_workload, pull_through, FakeResolver,
        DEPLOYMENT, POD, SHA,
    };
    use super::super::platform::{Architectures, ARCH_LABEL};
    use super::super::resolver::{PlatformLookup, WithPlatforms};
    use super::super::{decide, Decision};
    use crate::resolve::{Match, ResolveError};

    /// The fixture digest runs on amd64 only; no other image's platform is known.
    struct AmdOnly;

    impl PlatformLookup for AmdOnly {
        fn architectures(&self, digest: &str) -> Option<Architectures> {
            (digest == SHA).then(|| Architectures::of("amd64").unwrap())
        }
    }

    fn decided(object: &serde_json::Value, kind: super::super::fixtures::Kind) -> Decision {
        let policy = config("resolveImages: AttemptRewrite\nresolutionRules: [{targetResource: {resource: pods}}, {targetResource: {group: apps, resource: deployments}}]");
        let written_digest = format!("quay.io/o/app@{SHA}");
        let mut pinned = local(&format!("quay.io/o/app@{SHA}"));
        pinned.matched = Some(Match {
            namespace: "ns".into(),
            stream: "app".into(),
            tag: "1".into(),
            ..Match::default()
        });
        let streams = FakeResolver::new(&[
            ("app:1", pinned),
            ("app:next", pull_through("quay.io/o/app:next")),
            ("gone", failed(ResolveError::LocalNotAllowed)),
            (&written_digest, digest(&written_digest)),
        ]);
        let resolver = WithPlatforms {
            resolver: &streams,
            platforms: &AmdOnly,
        };
        decide(&create(kind, object), &policy, &resolver)
    }

    fn on_arch(mut pod: serde_json::Value, arch: &str) -> serde_json::Value {
        pod["spec"]["nodeSelector"] = json!({ARCH_LABEL: arch});
        pod
    }

    #[test]
    fn a_pin_to_an_image_the_pods_nodes_cannot_run_is_warned_about_and_still_made() {
        let check = |object: serde_json::Value, kind, expected: &[&str]| {
            let decision = decided(&object, kind);
            let architecture: Vec<&str> = decision
                .warnings
                .iter()
                .filter(|warning| warning.contains("pinned to an image built for"))
                .map(|warning| warning.split(": ").next().unwrap())
                .collect();
            assert_eq!(architecture, expected, "{object}");
            let labelled = decision.unresolved.iter();
            let labelled = labelled.filter(|reason| **reason == "architecture_mismatch");
            assert_eq!(labelled.count(), expected.len());
            assert!(!decision.patch.0.is_empty() || expected.is_empty());
        };
        let pod = mk_pod(&[("a", "app:1"), ("b", "app:next")]);
        check(
            on_arch(pod.clone(), "arm64"),
            POD,
            &["spec.containers[0].image"],
        );
        check(on_arch(pod.clone(), "amd64"), POD, &[]);
        check(pod.clone(), POD, &[]);
        let written = mk_pod(&[("a", &format!("quay.io/o/app@{SHA}"))]);
        check(on_arch(written, "arm64"), POD, &[]);
        let spec = on_arch(
            json!({"spec": {"containers": [{"name": "a", "image": "app:1"}]}}),
            "s390x",
        );
        let deployment = mk_workload("/spec/template", spec);
        check(
            deployment,
            DEPLOYMENT,
            &["spec.template.spec.containers[0].image"],
        );
    }

    #[test]
    fn the_pinned_reference_is_still_written_the_warning_names_the_tag_and_the_audit_keeps_it() {
        let pod = on_arch(mk_pod(&[("a", "app:1")]), "arm64");
        let decision = decided(&pod, POD);
        assert_eq!(decision.rewrites.len(), 1);
        assert_eq!(decision.rewrites[0].to, format!("quay.io/o/app@{SHA}"));
        assert_eq!(decision.warnings.len(), 1);
        let warning = &decision.warnings[0];
        assert!(
            warning.starts_with(
                "spec.containers[0].image: \"app:1\" pinned to an image built for amd64, but \
                 the pod runs only on kubernetes.io/arch=arm64 nodes; import a multi-arch \
                 source with importPolicy.importMode: PreserveOriginal, or build the image \
                 for arm64"
            ),
            "{warning}"
        );
        assert!(warning.contains("(image stream ns/app tag \"1\", or the tag it follows)"));
        let reason = &decision.rewrites[0].reason;
        let note = warning.trim_start_matches("spec.containers[0].image: ");
        assert!(
            reason.ends_with(&format!("; {note}")),
            "the audit's reason: {reason}"
        );
    }

    #[test]
    fn an_image_volume_is_mounted_not_run_and_is_not_warned_about() {
        let mut pod = on_arch(mk_pod(&[("a", "quay.io/o/other:1")]), "arm64");
        pod["spec"]["volumes"] = json!([{"name": "data", "image": {"reference": "app:1"}}]);
        let decision = decided(&pod, POD);
        assert_eq!(decision.rewrites.len(), 1, "{decision:?}");
        assert!(decision.warnings.is_empty(), "{:?}", decision.warnings);
    }
}
