//! The `image.openshift.io/triggers` annotation, applied when an object is written
//! (openshift-semantics §3.9; library-go `pkg/image/trigger/annotations.go`).
//!
//! On OpenShift a controller writes the newest image of each trigger's ImageStreamTag into the
//! container field the trigger names, whenever the tag moves. Here the webhook (and `resolve`)
//! does the same as the object is admitted, with the same parsing: the annotation is a JSON list
//! of `{from: {kind, name, namespace}, fieldPath, paused}`; a `fieldPath` is the object's pod
//! spec path then `containers[<index>]` or `containers[?(@.name=="<name>")]` (or
//! `initContainers[…]`) then `.image`; a trigger whose tag has no image yet leaves the field
//! alone. Where OpenShift logs and moves on, the user gets a warning instead.

use serde::Deserialize;
use serde_json::Value;

use super::locate::{self, ContainerList};
use super::resolver::ReferenceResolver;
use super::warnings::Warning;
use crate::resolve::{ObjectRef, Resolution, ResolvedVia};

/// The annotation holding an object's triggers.
pub const TRIGGERS_ANNOTATION: &str = "image.openshift.io/triggers";

/// Where warnings about the annotation itself point.
const ANNOTATION_PATH: &str = "metadata.annotations[image.openshift.io/triggers]";

// Go's decoder leaves a missing field empty: such a trigger fills nothing, the others apply.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Trigger {
    #[serde(default)]
    from: TriggerSource,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    paused: bool,
}

#[derive(Debug, Default, Deserialize)]
struct TriggerSource {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
}

/// One container image a trigger writes.
#[derive(Debug)]
pub(crate) struct Fill {
    /// JSON pointer to the container's `image`.
    pub pointer: String,
    /// The field as the trigger names it (`spec.template.spec.containers[?(@.name=="web")].image`).
    pub field_path: String,
    /// `ImageStreamTag <namespace>/<name>` or `ImageStreamTag <name>`, as the trigger says.
    pub from: String,
    /// The tag's newest image, with the tag's reference policy.
    pub pull_spec: String,
    /// The resolver's explanation.
    pub reason: String,
}

/// What an object's triggers do: the fields they fill, and warnings (with the field each
/// concerns) for those they cannot.
#[derive(Debug, Default)]
pub(crate) struct Triggers {
    /// The fields to write.
    pub fills: Vec<Fill>,
    /// Why a trigger, or the whole annotation, was not applied.
    pub warnings: Vec<(String, Warning)>,
}

impl Triggers {
    /// Adds `fill`; of two triggers naming one container in different words (by name and by
    /// index), the later wins, as when OpenShift's controller sets them in turn.
    fn add(&mut self, fill: Fill) {
        if let Some(earlier) = self.fills.iter().position(|f| f.pointer == fill.pointer) {
            let earlier = self.fills.remove(earlier);
            let summary = format!(
                "names the same container as the later trigger at {:?}, which is applied instead",
                fill.field_path
            );
            let subject = format!("trigger from {}", earlier.from);
            let warning = Warning::about_triggers(&subject, &summary, "");
            self.warnings.push((earlier.field_path, warning));
        }
        self.fills.push(fill);
    }

    /// Whether a trigger fills the field at `pointer` (which then is not looked up).
    pub(crate) fn fills_at(&self, pointer: &str) -> bool {
        self.fills.iter().any(|fill| fill.pointer == pointer)
    }
}

/// The triggers of `object`, whose pod spec is at the JSON pointer `spec`, resolved for an
/// object in `namespace`.
pub(crate) fn apply<R: ReferenceResolver + ?Sized>(
    object: &Value,
    spec: &str,
    namespace: &str,
    resolver: &R,
) -> Triggers {
    let mut outcome = Triggers::default();
    let Some(annotation) = annotation(object) else {
        return outcome;
    };
    let triggers = match parse(annotation) {
        Ok(triggers) => triggers,
        Err(why) => {
            let warning = Warning::about_triggers("the annotation", &why, "");
            outcome
                .warnings
                .push((ANNOTATION_PATH.to_string(), warning));
            return outcome;
        }
    };
    for trigger in triggers.iter().filter(|trigger| !trigger.paused) {
        match fill(object, spec, namespace, trigger, resolver) {
            Ok(fill) => outcome.add(fill),
            Err(warning) => {
                let path = match trigger.field_path.as_str() {
                    "" => ANNOTATION_PATH,
                    path => path,
                };
                outcome.warnings.push((path.to_string(), warning))
            }
        }
    }
    outcome
}

/// The annotation's text, if the object has one (any other JSON type is ignored, as a
/// Kubernetes annotation is always a string).
fn annotation(object: &Value) -> Option<&str> {
    let annotations = locate::at(object, "/metadata/annotations")?;
    locate::member(annotations, TRIGGERS_ANNOTATION)?.as_str()
}

/// The triggers of the annotation's text, refused whole when it is not a list of triggers or
/// two name one field (as OpenShift refuses them).
fn parse(annotation: &str) -> Result<Vec<Trigger>, String> {
    let triggers: Vec<Trigger> = serde_json::from_str(annotation).map_err(|error| {
        format!("not a JSON list of triggers ({error}), so no trigger is applied")
    })?;
    // A trigger without a fieldPath fills nothing: it names no field twice.
    for (index, trigger) in triggers.iter().enumerate() {
        if !trigger.field_path.is_empty()
            && triggers[..index]
                .iter()
                .any(|earlier| earlier.field_path == trigger.field_path)
        {
            return Err(format!(
                "two triggers name the fieldPath {:?}, so no trigger is applied (OpenShift \
                 refuses duplicate triggers)",
                trigger.field_path
            ));
        }
    }
    Ok(triggers)
}

/// The field `trigger` fills and what with, or why it fills nothing.
fn fill<R: ReferenceResolver + ?Sized>(
    object: &Value,
    spec: &str,
    namespace: &str,
    trigger: &Trigger,
    resolver: &R,
) -> Result<Fill, Warning> {
    let source = source(&trigger.from);
    let subject = format!("trigger from {source}");
    let refuse = |summary: String| Warning::about_triggers(&subject, &summary, "");
    if trigger.from.kind != "ImageStreamTag" {
        return Err(refuse(format!(
            "from.kind is {:?}; only ImageStreamTag triggers are applied",
            trigger.from.kind
        )));
    }
    let pointer = container_image(object, spec, &trigger.field_path).map_err(refuse)?;
    let reference = ObjectRef {
        kind: "ImageStreamTag",
        name: &trigger.from.name,
        namespace: &trigger.from.namespace,
    };
    let resolution = resolver.resolve(&reference, namespace, false);
    if let Some(pull_spec) = newest_image(&resolution) {
        return Ok(Fill {
            pointer,
            field_path: trigger.field_path.clone(),
            from: source,
            pull_spec: pull_spec.to_string(),
            reason: resolution.reason,
        });
    }
    // A reference tag's newest event names a pull spec and no image: OpenShift's trigger
    // controller writes that pull spec.
    let referenced = resolution.matched.as_ref();
    match referenced.and_then(|matched| resolver.reference_only_pull_spec(matched)) {
        Some(pull_spec) => Ok(Fill {
            pointer,
            field_path: trigger.field_path.clone(),
            reason: format!(
                "the tag's newest event references {pull_spec} without an image id (a \
                 reference tag): written as it is, as OpenShift's trigger controller writes it"
            ),
            from: source,
            pull_spec,
        }),
        // Why the tag has no image, without what the resolver would do with a reference to it
        // (pull it by tag): the trigger writes nothing.
        None => Err(Warning::about_triggers(
            &subject,
            "no image to write yet, so the field is left as written",
            resolution
                .brief
                .as_ref()
                .map_or(&resolution.reason, |brief| &brief.summary),
        )),
    }
}

/// `<kind> [<namespace>/]<name>`.
fn source(from: &TriggerSource) -> String {
    match from.namespace.is_empty() {
        true => format!("{} {}", from.kind, from.name),
        false => format!("{} {}/{}", from.kind, from.namespace, from.name),
    }
}

/// The tag's newest image: a pinned pull spec, not the `<repository>:<tag>` of a tag without
/// one (OpenShift's trigger controller skips a tag with no status item).
fn newest_image(resolution: &Resolution) -> Option<&str> {
    let resolved = resolution.outcome.as_ref().ok()?;
    (resolved.via != ResolvedVia::PullThrough).then_some(resolved.pull_spec.as_str())
}

/// The JSON pointer to the image `field_path` names in `object`, whose pod spec is at `spec`,
/// or why it names none.
fn container_image(object: &Value, spec: &str, field_path: &str) -> Result<String, String> {
    let base = format!("{}.", spec.trim_start_matches('/').replace('/', "."));
    let Some(container) = field_path.strip_prefix(&base) else {
        return Err(format!(
            "the fieldPath is not in this object's pod spec ({base}…), so it is not applied"
        ));
    };
    let not_an_image = || {
        format!(
            "the fieldPath does not name a container's image ({base}containers[<index>].image or \
             {base}containers[?(@.name==\"<name>\")].image, or initContainers)"
        )
    };
    let (list, selector) = container_reference(container).ok_or_else(not_an_image)?;
    let items = |list: ContainerList| locate::items(object, &format!("{spec}/{}", list.key()));
    let (key, containers, index) = match selector.parse::<usize>() {
        Ok(index) => {
            let (key, containers) = (list.key(), items(list));
            if index >= containers.len() {
                let count = containers.len();
                return Err(format!("no container at index {index}: {key} has {count}"));
            }
            (key, containers, index)
        }
        Err(_) => {
            let name = selector
                .strip_prefix("?(@.name==\"")
                .and_then(|rest| rest.strip_suffix("\")"))
                .ok_or_else(not_an_image)?;
            let named = |container: &Value| {
                locate::member(container, "name").and_then(Value::as_str) == Some(name)
            };
            // As library-go's GetContainerByName: init containers first, then the others,
            // whichever list the path names.
            [ContainerList::Init, ContainerList::Regular]
                .into_iter()
                .find_map(|list| {
                    let containers = items(list);
                    let index = containers.iter().position(named)?;
                    Some((list.key(), containers, index))
                })
                .ok_or_else(|| {
                    format!("no container named {name:?} in initContainers or containers")
                })?
        }
    };
    if !containers[index].is_object() {
        return Err(format!("{key}[{index}] is not a container (a JSON object)"));
    }
    Ok(format!("{spec}/{key}/{index}/image"))
}

/// `containers[<selector>].image` (or `initContainers`): the list and the selector.
fn container_reference(path: &str) -> Option<(ContainerList, &str)> {
    let (list, rest) = match path.split_once('[')? {
        ("containers", rest) => (ContainerList::Regular, rest),
        ("initContainers", rest) => (ContainerList::Init, rest),
        _ => return None,
    };
    // As library-go reads it: the selector ends at the first `]`, and the dot before `image`
    // may be left out.
    let (selector, field) = rest.split_once(']')?;
    matches!(field, ".image" | "image").then_some((list, selector))
}

#[cfg(test)]
mod tests;
