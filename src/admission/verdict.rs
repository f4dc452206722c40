//! The decision for one distinct reference (openshift-semantics §3.4): resolve, apply the mode,
//! run the execution rules. Each distinct reference is decided once per request.

use super::locate::{Reference, Site, DOCKER_IMAGE};
use super::resolver::ReferenceResolver;
use super::rules::{self, ImageFacts, RuleContext};
use super::{modes, warnings, Request};
use crate::api::policy::{GroupResource, ImagePolicyConfig};
use crate::reference::ImageRef;
use crate::resolve::{Resolution, ResolveError, ResolvedVia};

/// OpenShift's rejection sentence, also the prefix of every denial detail.
pub(crate) const PROHIBITED: &str = "this image is prohibited by policy";

/// What happens to one reference.
#[derive(Clone, Debug, Default)]
pub(crate) struct Verdict {
    /// The resolution, when the mode asked for one.
    pub resolution: Option<Resolution>,
    /// The pull spec to write back, when rewriting applies.
    pub rewrite_to: Option<String>,
    /// The `Forbidden` detail, when the reference is rejected.
    pub rejection: Option<String>,
    /// Why the reference was not rewritten, not pinned, or rejected, for the user.
    pub warning: Option<warnings::Warning>,
}

/// The verdict of each distinct reference. A list rather than a hash map: an object holds a
/// handful of references, and comparing them costs less than hashing each with SipHash.
pub(crate) struct Verdicts<'s>(Vec<(&'s Reference, Verdict)>);

impl Verdicts<'_> {
    /// The verdict on `reference`, if it was among the sites.
    pub(crate) fn get(&self, reference: &Reference) -> Option<&Verdict> {
        self.0
            .iter()
            .find_map(|(decided, verdict)| (*decided == reference).then_some(verdict))
    }
}

/// Everything the per-reference decision depends on besides the reference.
pub(crate) struct Judge<'a, R: ?Sized> {
    pub config: &'a ImagePolicyConfig,
    pub resolver: &'a R,
    pub request: &'a Request<'a>,
    pub target: GroupResource,
    /// The resolve-names annotation is set.
    pub force: bool,
}

impl<R: ReferenceResolver + ?Sized> Judge<'_, R> {
    /// One verdict per distinct reference among `sites`.
    pub(crate) fn verdicts<'s>(&self, sites: &'s [Site]) -> Verdicts<'s> {
        let mut verdicts = Verdicts(Vec::with_capacity(sites.len()));
        for site in sites {
            if verdicts.get(&site.reference).is_none() {
                let verdict = self.verdict(&site.reference);
                verdicts.0.push((&site.reference, verdict));
            }
        }
        verdicts
    }

    fn verdict(&self, reference: &Reference) -> Verdict {
        let resolution = self.resolve(reference);
        let error = resolution
            .as_ref()
            .and_then(|found| found.outcome.as_ref().err());
        if let Some(error) = error.filter(|error| self.refuses(error)) {
            let rejection = Some(rejection_detail(Some(error)));
            let warning = resolution
                .as_ref()
                .and_then(|found| warnings::rejected(reference, found, self.request.namespace));
            return Verdict {
                rejection,
                resolution,
                warning,
                ..Verdict::default()
            };
        }
        let rewrite_to = resolution
            .as_ref()
            .and_then(|found| self.rewrite_target(found));
        let accepted = self.accepted(reference, resolution.as_ref());
        let rejection = (!accepted).then(|| rejection_detail(error));
        let warning = resolution.as_ref().and_then(|found| {
            warnings::explain(reference, found, rewrite_to.is_some(), self.force)
        });
        Verdict {
            resolution,
            rewrite_to,
            rejection,
            warning,
        }
    }

    /// Whether a failed resolution rejects the object: any failure under a failing mode, and
    /// under any mode a local name with no image and nowhere to pull it through, where a
    /// resolution would have been written back (as written it would pull another registry's
    /// image of that name).
    fn refuses(&self, error: &ResolveError) -> bool {
        if modes::fails_on_error(self.config) {
            return true;
        }
        let is_update = self.request.operation == super::Operation::Update;
        matches!(error, ResolveError::NoPullThrough { .. })
            && modes::rewrites(self.config, &self.target, true, is_update)
    }

    fn resolve(&self, reference: &Reference) -> Option<Resolution> {
        if !modes::requests_resolution(self.config, &self.target) {
            return None;
        }
        let object_ref = reference.as_object_ref();
        Some(
            self.resolver
                .resolve(&object_ref, self.request.namespace, self.force),
        )
    }

    fn rewrite_target(&self, resolution: &Resolution) -> Option<String> {
        let resolved = resolution.outcome.as_ref().ok()?;
        let is_update = self.request.operation == super::Operation::Update;
        let rewrite = modes::rewrites(self.config, &self.target, resolved.local_rewrite, is_update);
        rewrite.then(|| resolved.pull_spec.clone())
    }

    fn accepted(&self, reference: &Reference, resolution: Option<&Resolution>) -> bool {
        let context = RuleContext {
            integrated_registry: self.resolver.integrated_registry(),
            ignored_rules: self.request.ignored_rules,
        };
        let rules = &self.config.execution_rules;
        // The facts parse a pull spec; most policies have no execution rules to read them.
        if !rules::covers(rules, &self.target) {
            return true;
        }
        let facts = image_facts(reference, resolution, self.force);
        rules::accepts(rules, &self.target, &facts, context)
    }
}

/// What execution rules may know: the resolved reference when there is one, else a best-effort
/// parse of a `DockerImage` reference as written.
fn image_facts(reference: &Reference, resolution: Option<&Resolution>, force: bool) -> ImageFacts {
    match resolution.map(|found| &found.outcome) {
        Some(Ok(resolved)) => ImageFacts {
            registry: registry_of(&resolved.pull_spec),
            integrated: match resolved.via {
                ResolvedVia::Digest => false,
                ResolvedVia::TagEvent | ResolvedVia::StreamImage => true,
                // OpenShift's `resolveImageStreamTag` clears IntegratedRegistry for a tag that
                // is missing only when the reference was partial (a short name, or any under
                // forced resolution); the rules then judge the pull spec's host.
                ResolvedVia::PullThrough => !(force || is_short_name(reference)),
            },
            image_resolved: resolved.via != ResolvedVia::PullThrough,
        },
        _ if reference.kind == DOCKER_IMAGE => ImageFacts {
            registry: registry_of(&reference.name),
            ..ImageFacts::default()
        },
        _ => ImageFacts::default(),
    }
}

/// A `DockerImage` reference with neither a registry nor a namespace: OpenShift's partial
/// reference.
fn is_short_name(reference: &Reference) -> bool {
    reference.kind == DOCKER_IMAGE
        && ImageRef::parse(&reference.name).is_ok_and(|parsed| parsed.is_short_name())
}

fn registry_of(pull_spec: &str) -> String {
    ImageRef::parse(pull_spec)
        .map(|parsed| parsed.registry)
        .unwrap_or_default()
}

/// The `Forbidden` detail: the resolution error behind the rejection, if any, after the
/// prefix; NotFound errors leave only the prefix (OpenShift blanks their detail).
pub(crate) fn rejection_detail(error: Option<&ResolveError>) -> String {
    match error {
        None => PROHIBITED.to_string(),
        Some(error) if error.is_not_found() => format!("{PROHIBITED}: "),
        Some(error) => format!("{PROHIBITED}: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::fixtures::{config, create, mk_pod, FakeResolver, POD, SHA};
    use crate::resolve::Resolved;

    fn resolution(pull_spec: &str, via: ResolvedVia) -> Resolution {
        Resolution {
            outcome: Ok(Resolved {
                pull_spec: pull_spec.to_string(),
                local_rewrite: false,
                via,
                after_failed_import: false,
            }),
            matched: None,
            reason: String::new(),
            brief: None,
        }
    }

    fn docker(name: &str) -> Reference {
        Reference {
            kind: DOCKER_IMAGE.to_string(),
            name: name.to_string(),
            namespace: String::new(),
        }
    }

    #[test]
    fn facts_come_from_the_resolved_reference() {
        let stream = resolution(&format!("quay.io/o/m@{SHA}"), ResolvedVia::TagEvent);
        let facts = image_facts(&docker("m"), Some(&stream), false);
        assert_eq!(
            (
                facts.registry.as_str(),
                facts.integrated,
                facts.image_resolved
            ),
            ("quay.io", true, true)
        );
        let pull_through = resolution("quay.io/o/m:1", ResolvedVia::PullThrough);
        let facts = image_facts(&docker("m"), Some(&pull_through), false);
        assert!(!facts.image_resolved);
        assert!(
            !facts.integrated,
            "a short name's missing tag: not the integrated registry's"
        );
        assert_eq!(
            facts.registry, "quay.io",
            "the rules judge its host instead"
        );
        let full = docker("registry.local:5000/ns/m:1");
        assert!(image_facts(&full, Some(&pull_through), false).integrated);
        assert!(
            !image_facts(&full, Some(&pull_through), true).integrated,
            "forced"
        );
        let build_tag = Reference {
            kind: "ImageStreamTag".into(),
            ..docker("m:1")
        };
        assert!(image_facts(&build_tag, Some(&pull_through), false).integrated);
        let image = resolution(&format!("quay.io/o/m@{SHA}"), ResolvedVia::StreamImage);
        let stream_image = Reference {
            kind: "ImageStreamImage".into(),
            ..docker(&format!("m@{SHA}"))
        };
        assert!(image_facts(&stream_image, Some(&image), false).integrated);
        let digest = resolution(&format!("docker.io/m@{SHA}"), ResolvedVia::Digest);
        assert!(!image_facts(&docker("m"), Some(&digest), false).integrated);
    }

    #[test]
    fn facts_fall_back_to_the_written_reference() {
        let facts = image_facts(&docker("docker.io/library/mysql"), None, false);
        assert_eq!(facts.registry, "docker.io");
        assert!(!facts.image_resolved && !facts.integrated);
        let stream_tag = Reference {
            kind: "ImageStreamTag".into(),
            ..docker("docker.io/x:1")
        };
        assert_eq!(image_facts(&stream_tag, None, false), ImageFacts::default());
    }

    #[test]
    fn rejection_details_follow_openshift() {
        let not_found = ResolveError::StreamNotFound {
            namespace: "ns".into(),
            name: "m".into(),
        };
        assert_eq!(
            rejection_detail(Some(&not_found)),
            "this image is prohibited by policy: "
        );
        assert_eq!(
            rejection_detail(Some(&ResolveError::NotExact("docker.io/m".into()))),
            "this image is prohibited by policy: (docker.io/m) could not be resolved to an exact image reference"
        );
        assert_eq!(rejection_detail(None), "this image is prohibited by policy");
    }

    fn required_verdict(name: &str) -> Verdict {
        let config = config("resolveImages: Required");
        let pod = mk_pod(&[("a", name)]);
        let request = create(POD, &pod);
        let judge = Judge {
            config: &config,
            resolver: &FakeResolver::default(),
            request: &request,
            target: request.group_resource(),
            force: false,
        };
        judge.verdict(&docker(name))
    }

    #[test]
    fn a_required_rejection_of_a_missing_stream_also_says_why() {
        let verdict = required_verdict("nginx");
        let expected = "this image is prohibited by policy: ";
        assert_eq!(verdict.rejection.as_deref(), Some(expected));
        let warning = verdict.warning.unwrap_or_default();
        assert!(
            warning.starts_with("\"nginx\" rejected: ") && warning.contains("namespace \"ns\""),
            "{warning}"
        );
    }
}
