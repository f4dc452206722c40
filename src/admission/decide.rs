//! The decision flow for one request (openshift-semantics §3.1, §3.3, §3.4).

use serde_json::Value;

use super::decision::{Decision, Denial, Rewrite, Skip};
use super::locate::{self, Shape, Site};
use super::patch::Finding;
use super::resolver::ReferenceResolver;
use super::triggers::{self, Triggers};
use super::verdict::{Judge, Verdicts};
use super::warnings::Warning;
use super::{
    arch_check, modes, patch, rules, unreadable, update, warnings, Operation, Pin, Request,
};
use crate::api::policy::ImagePolicyConfig;
use crate::field::FieldError;

/// Decides one admission request as OpenShift does ([`Pin::Templates`]). `config` must be
/// defaulted (see [`ImagePolicyConfig`]).
pub fn decide<R: ReferenceResolver + ?Sized>(
    request: &Request<'_>,
    config: &ImagePolicyConfig,
    resolver: &R,
) -> Decision {
    decide_with(request, config, Pin::Templates, resolver)
}

/// Decides one admission request, pinning pod specs where `pin` says. `config` must be
/// defaulted (see [`ImagePolicyConfig`]).
pub fn decide_with<R: ReferenceResolver + ?Sized>(
    request: &Request<'_>,
    config: &ImagePolicyConfig,
    pin: Pin,
    resolver: &R,
) -> Decision {
    let shape = match admissible(request, config, pin) {
        Ok(shape) => shape,
        Err(skip) => return skipped(skip),
    };
    let triggers = triggers_of(request, shape, resolver);
    let mut sites = sites_to_visit(request, shape);
    sites.retain(|site| !triggers.fills_at(&site.pointer));
    let judge = Judge {
        config,
        resolver,
        request,
        target: request.group_resource(),
        force: locate::resolves_all_names(request.object, shape),
    };
    let verdicts = judge.verdicts(&sites);
    assemble(request, shape, &sites, &verdicts, &triggers, resolver)
}

/// What the object's `image.openshift.io/triggers` fill: on the main resource of a kind with a
/// pod spec (an ephemeral container's write changes no trigger's field), except on an UPDATE
/// of a kind whose images are never rewritten then (a Job's template is immutable).
fn triggers_of<R: ReferenceResolver + ?Sized>(
    request: &Request<'_>,
    shape: Shape,
    resolver: &R,
) -> Triggers {
    let frozen = request.operation == Operation::Update
        && modes::never_rewritten_on_update(&request.group_resource());
    match shape {
        Shape::Pods { spec, .. } if !request.is_ephemeral_containers() && !frozen => {
            triggers::apply(request.object, spec, request.namespace, resolver)
        }
        _ => Triggers::default(),
    }
}

/// The early exits: only CREATE/UPDATE of main resources (and ephemeral containers) that some
/// rule covers, that `pin` leaves in (by default: not controller-owned), of a kind that has
/// images: a built-in one, or a custom resource whose rule gives its `podSpecPath`.
fn admissible(request: &Request<'_>, config: &ImagePolicyConfig, pin: Pin) -> Result<Shape, Skip> {
    match request.operation {
        Operation::Create | Operation::Update => {}
        Operation::Delete | Operation::Connect => return Err(Skip::Operation),
        Operation::Unknown => return Err(Skip::UnknownOperation),
    }
    if !request.subresource.is_empty() && !request.is_ephemeral_containers() {
        return Err(Skip::Subresource);
    }
    let target = request.group_resource();
    if !modes::covers(config, &target) && !rules::covers(&config.execution_rules, &target) {
        return Err(Skip::NotCovered);
    }
    let shape = locate::shape(request.group, request.kind)
        .or_else(|| config.pod_spec_path(&target).and_then(locate::shape_at));
    // Ephemeral containers never come from a controller's template, so they are checked even
    // on owned pods.
    let owned = || !request.is_ephemeral_containers() && has_controller(request.object);
    if let Some(skip) = pin.skip(shape, owned) {
        return Err(skip);
    }
    shape.ok_or(Skip::NoImages)
}

/// A pass-through decision; one for an operation no kube-apiserver sends says so, since its
/// answer would otherwise read like that of a DELETE.
fn skipped(skip: Skip) -> Decision {
    let mut decision = Decision::skipped(skip);
    if skip == Skip::UnknownOperation {
        decision.warnings = vec![Warning::unknown_operation().to_string()];
    }
    decision
}

fn has_controller(object: &Value) -> bool {
    locate::items(object, "/metadata/ownerReferences")
        .iter()
        .any(|owner| locate::member(owner, "controller") == Some(&Value::Bool(true)))
}

/// The references to decide: all of them, minus those unchanged since the stored object (unless
/// the resolve-names annotation flipped), minus non-ephemeral ones for the ephemeral subresource.
fn sites_to_visit(request: &Request<'_>, shape: Shape) -> Vec<Site> {
    let mut sites = locate::sites(request.object, shape);
    if request.is_ephemeral_containers() {
        sites.retain(|site| site.holder.is_ephemeral_container());
    }
    if let Some(old) = request.old_object {
        let flipped = locate::resolves_all_names(old, shape)
            != locate::resolves_all_names(request.object, shape);
        if !flipped {
            sites.retain(|site| !update::unchanged(site, shape, request.object, old));
        }
    }
    sites
}

/// Turns per-reference verdicts into the response: a denial if any reference is rejected,
/// otherwise the rewrites and their patch. Warnings are kept either way.
fn assemble<R: ReferenceResolver + ?Sized>(
    request: &Request<'_>,
    shape: Shape,
    sites: &[Site],
    verdicts: &Verdicts<'_>,
    triggers: &Triggers,
    resolver: &R,
) -> Decision {
    let findings: Vec<Finding<'_>> = sites
        .iter()
        .filter_map(|site| Some((site, verdicts.get(&site.reference)?)))
        .collect();
    let denied = findings
        .iter()
        .any(|(_, verdict)| verdict.rejection.is_some());
    // Nothing is pinned when the object is denied.
    let platforms = match denied {
        true => Vec::new(),
        false => arch_check::warnings(request.object, shape, &findings, resolver),
    };
    let platform_warnings = platforms
        .iter()
        .map(|(path, warning)| (path.clone(), warning));
    let unreadable_parts = unreadable_warnings(request, shape, triggers);
    // The path is formatted only for a reference that has a warning (most have none).
    let fitted = warnings::for_response(
        findings
            .iter()
            .filter_map(|(site, verdict)| {
                let warning = verdict.warning.as_ref()?;
                Some((site.path(), warning))
            })
            .chain(platform_warnings)
            .chain(trigger_warnings(triggers))
            .chain(
                unreadable_parts
                    .iter()
                    .map(|(path, warning)| (path.clone(), warning)),
            ),
    );
    let unresolved = findings
        .iter()
        .filter_map(|(_, verdict)| Some(verdict.warning.as_ref()?.reason()))
        .chain(platforms.iter().map(|(_, warning)| warning.reason()))
        .chain(
            triggers
                .warnings
                .iter()
                .map(|(_, warning)| warning.reason()),
        )
        .chain(unreadable_parts.iter().map(|(_, warning)| warning.reason()))
        .collect();
    let errors: Vec<FieldError> = findings
        .iter()
        .filter_map(|(site, verdict)| {
            let rejection = verdict.rejection.as_ref()?;
            Some(FieldError::forbidden(site.path(), rejection))
        })
        .collect();
    if !errors.is_empty() {
        let denial = Some(Denial::new(request, errors));
        return Decision {
            denial,
            warnings: fitted.response,
            whole_warnings: fitted.whole,
            unresolved,
            ..Decision::default()
        };
    }
    let (mut patch, mut rewrites) = patch::rewrite(request.object, &findings);
    patch::fill(request.object, &triggers.fills, &mut patch, &mut rewrites);
    note_architecture(&mut rewrites, &platforms);
    Decision {
        patch,
        rewrites,
        warnings: fitted.response,
        whole_warnings: fitted.whole,
        unresolved,
        ..Decision::default()
    }
}

/// A warning at each part of the object that cannot be read for its kind, so nothing there
/// was resolved (see [`unreadable`]); a field a trigger fills is no longer what was sent.
fn unreadable_warnings(
    request: &Request<'_>,
    shape: Shape,
    triggers: &Triggers,
) -> Vec<(String, Warning)> {
    unreadable::unreadable(request.object, shape)
        .into_iter()
        .filter(|part| !triggers.fills_at(&part.pointer))
        .map(|part| (part.path(), Warning::unreadable(&part.subject())))
        .collect()
}

/// The triggers' warnings, each at the field it concerns.
fn trigger_warnings(triggers: &Triggers) -> impl Iterator<Item = (String, &Warning)> {
    triggers
        .warnings
        .iter()
        .map(|(path, warning)| (path.clone(), warning))
}

/// Appends each architecture warning to the reason of the rewrite it concerns, so the audit
/// annotation keeps the whole sentence even when the response's warnings are cut short.
fn note_architecture(rewrites: &mut [Rewrite], platforms: &[(String, Warning)]) {
    for (path, warning) in platforms {
        if let Some(rewrite) = rewrites.iter_mut().find(|rewrite| rewrite.path == *path) {
            rewrite.reason.push_str("; ");
            rewrite.reason.push_str(warning);
        }
    }
}
