//! Writing rewrites back: one `replace` operation at each rewritten field, so the patch
//! touches exactly those fields. (Mutating a clone of the whole object and diffing it, as
//! cert-manager does, cost a fifth of the webhook's CPU per request in `make bench`.)

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, ReplaceOperation};
use serde_json::Value;

use super::decision::Rewrite;
use super::locate::{at, field_path, Site, DOCKER_IMAGE};
use super::triggers::Fill;
use super::verdict::Verdict;
use crate::resolve::ResolvedVia;

/// A reference's site with the verdict on its reference.
pub(crate) type Finding<'a> = (&'a Site, &'a Verdict);

/// Writes every rewrite the verdicts call for: the patch against `object`, and the list of
/// what changed. Clones the object only when something changes.
pub(crate) fn rewrite(object: &Value, findings: &[Finding<'_>]) -> (Patch, Vec<Rewrite>) {
    let changing: Vec<(&Site, &Verdict, &str)> = findings
        .iter()
        .filter_map(|(site, verdict)| Some((*site, *verdict, verdict.rewrite_to.as_deref()?)))
        .filter(|(site, _, pull_spec)| changes(site, pull_spec))
        .collect();
    if changing.is_empty() {
        return (Patch::default(), Vec::new());
    }
    let mut operations = Vec::with_capacity(changing.len());
    let mut rewrites = Vec::with_capacity(changing.len());
    for (site, verdict, pull_spec) in changing {
        if let Some(operation) = replacement(object, site, pull_spec) {
            operations.push(operation);
            rewrites.push(describe(site, verdict, pull_spec));
        }
    }
    (Patch(operations), rewrites)
}

/// Adds to `patch` and `rewrites` the images triggers write where they differ from the
/// object's: a `replace`, or an `add` for a container that has no `image` yet (`resolve` can
/// splice only the former into YAML text).
pub(crate) fn fill(object: &Value, fills: &[Fill], patch: &mut Patch, rewrites: &mut Vec<Rewrite>) {
    for fill in fills {
        let current = at(object, &fill.pointer);
        if current.and_then(Value::as_str) == Some(fill.pull_spec.as_str()) {
            continue;
        }
        let Ok(path) = PointerBuf::parse(fill.pointer.as_str()) else {
            continue;
        };
        let value = Value::from(fill.pull_spec.as_str());
        patch.0.push(match current {
            Some(_) => PatchOperation::Replace(ReplaceOperation { path, value }),
            None => PatchOperation::Add(AddOperation { path, value }),
        });
        rewrites.push(Rewrite {
            path: field_path(&fill.pointer),
            from: current
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            to: fill.pull_spec.clone(),
            reason: format!(
                "the image.openshift.io/triggers annotation fills {} from {}: {}",
                fill.field_path, fill.from, fill.reason
            ),
            pinned: true,
        });
    }
}

/// The `replace` operation writing `pull_spec` at `site`, a site located in `object`, or
/// `None` if a build's `from` is not there.
fn replacement(object: &Value, site: &Site, pull_spec: &str) -> Option<PatchOperation> {
    let value = match site.holder.is_build_reference() {
        // A build's `from` object (a build site is only made for one): its other members stay.
        true => {
            let mut from = at(object, &site.pointer)?.as_object()?.clone();
            from.insert("kind".to_string(), Value::from(DOCKER_IMAGE));
            from.insert("name".to_string(), Value::from(pull_spec));
            from.remove("namespace");
            Value::Object(from)
        }
        // An image string is replaced whole: nothing of it is kept, so it is not looked up
        // again (walking the pointer cost ~1,700 instructions a rewrite).
        false => {
            debug_assert!(at(object, &site.pointer).is_some(), "{}", site.pointer);
            Value::from(pull_spec)
        }
    };
    let path = PointerBuf::parse(site.pointer.as_str()).ok()?;
    Some(PatchOperation::Replace(ReplaceOperation { path, value }))
}

fn describe(site: &Site, verdict: &Verdict, pull_spec: &str) -> Rewrite {
    // A build reference is rewritten as a whole object: report `…from`, not `…from.name`.
    let mut path = site.path();
    if site.holder.is_build_reference() {
        path.truncate(path.len() - ".name".len());
    }
    let reason = verdict
        .resolution
        .as_ref()
        .map(|found| found.reason.clone());
    let via = verdict
        .resolution
        .as_ref()
        .and_then(|found| found.outcome.as_ref().ok())
        .map(|resolved| resolved.via);
    Rewrite {
        path,
        from: site.reference.display(),
        to: pull_spec.to_string(),
        reason: reason.unwrap_or_default(),
        pinned: via.is_some_and(|via| via != ResolvedVia::PullThrough),
    }
}

fn changes(site: &Site, pull_spec: &str) -> bool {
    let reference = &site.reference;
    reference.kind != DOCKER_IMAGE || reference.name != pull_spec || !reference.namespace.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::locate::{shape, sites};
    use serde_json::json;

    /// Replaces every site of `object` with `pull_spec`, applies the patch to the original and
    /// compares with `expected`.
    fn check(kind: (&str, &str), object: Value, pull_spec: &str, expected: Value) {
        let operations = sites(&object, shape(kind.0, kind.1).unwrap())
            .iter()
            .filter(|site| changes(site, pull_spec))
            .filter_map(|site| replacement(&object, site, pull_spec))
            .collect();
        let patch = Patch(operations);
        let mut patched = object.clone();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(patched, expected);
    }

    #[test]
    fn pod_images_are_replaced_in_place() {
        let pod =
            json!({"spec": {"containers": [{"name": "a", "image": "mysql", "x-unknown": 1}]}});
        let expected = json!({"spec": {"containers": [{"name": "a", "image": "mysql@sha256:1", "x-unknown": 1}]}});
        check(("", "Pod"), pod, "mysql@sha256:1", expected);
    }

    #[test]
    fn build_references_become_docker_images_without_namespace() {
        let build = json!({"spec": {"strategy": {"sourceStrategy": {
            "from": {"kind": "ImageStreamTag", "name": "ruby:3", "namespace": "shared"}, "env": []}}}});
        let expected = json!({"spec": {"strategy": {"sourceStrategy": {
            "from": {"kind": "DockerImage", "name": "quay.io/r@sha256:1"}, "env": []}}}});
        check(
            ("build.openshift.io", "Build"),
            build,
            "quay.io/r@sha256:1",
            expected,
        );
    }

    #[test]
    fn identical_values_are_not_written() {
        let pod = json!({"spec": {"containers": [{"name": "a", "image": "mysql@sha256:1"}]}});
        let site = &sites(&pod, shape("", "Pod").unwrap())[0];
        assert!(!changes(site, "mysql@sha256:1"));
        assert!(changes(site, "mysql@sha256:2"));
    }
}
