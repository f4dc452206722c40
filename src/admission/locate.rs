//! Where each kind keeps its image references (openshift-semantics §3.5, plus ephemeral
//! containers and image volumes), as JSON pointers into the object.
//!
//! ```text
//! Pod                      /spec
//! PodTemplate              /template/spec
//! RC, Deployment, … , DC   /spec/template/spec
//! CronJob                  /spec/jobTemplate/spec/template/spec
//! Build, BuildConfig       /spec/source/images/*/from, /spec/strategy/*Strategy/from
//! ```

use serde_json::{Map, Value};

use crate::api::policy::RESOLVE_NAMES_ANNOTATION;
use crate::resolve::ObjectRef;

/// The `kind` of a pod-spec reference and of a rewritten build reference.
pub(crate) const DOCKER_IMAGE: &str = "DockerImage";

/// Build strategies that carry a `from`, in the order OpenShift visits them.
pub(crate) const STRATEGIES: [&str; 3] = ["customStrategy", "dockerStrategy", "sourceStrategy"];

/// How a kind holds its images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A pod spec at `spec`, with the pod template's metadata at `template` when it has one.
    Pods {
        spec: &'static str,
        template: Option<&'static str>,
    },
    /// A Build or BuildConfig common spec at `/spec`.
    Build,
}

/// The container lists of a pod spec, in visiting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContainerList {
    Init,
    Regular,
    Ephemeral,
}

impl ContainerList {
    pub(crate) const ALL: [Self; 3] = [Self::Init, Self::Regular, Self::Ephemeral];

    pub(crate) fn key(self) -> &'static str {
        match self {
            Self::Init => "initContainers",
            Self::Regular => "containers",
            Self::Ephemeral => "ephemeralContainers",
        }
    }
}

/// What holds a reference; decides how UPDATE compares it with the old object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Holder {
    Container { list: ContainerList, name: String },
    Volume { name: String },
    SourceImage,
    Strategy,
}

impl Holder {
    pub(crate) fn is_ephemeral_container(&self) -> bool {
        matches!(
            self,
            Self::Container {
                list: ContainerList::Ephemeral,
                ..
            }
        )
    }

    /// Build references are whole `{kind, name, namespace}` objects, not pull-spec strings.
    pub(crate) fn is_build_reference(&self) -> bool {
        matches!(self, Self::SourceImage | Self::Strategy)
    }
}

/// A reference as written on the object: `{kind, name, namespace}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Reference {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl Reference {
    fn docker_image(pull_spec: &str) -> Self {
        Self {
            kind: DOCKER_IMAGE.to_string(),
            name: pull_spec.to_string(),
            namespace: String::new(),
        }
    }

    fn from_object(from: &Map<String, Value>) -> Self {
        let text = |key: &str| from.get(key).and_then(Value::as_str).unwrap_or_default();
        Self {
            kind: text("kind").to_string(),
            name: text("name").to_string(),
            namespace: text("namespace").to_string(),
        }
    }

    pub(crate) fn as_object_ref(&self) -> ObjectRef<'_> {
        ObjectRef {
            kind: &self.kind,
            name: &self.name,
            namespace: &self.namespace,
        }
    }

    /// How the reference reads in rewrites and warnings: the pull spec for `DockerImage`.
    pub(crate) fn display(&self) -> String {
        match (self.kind.as_str(), self.namespace.as_str()) {
            (DOCKER_IMAGE, _) => self.name.clone(),
            (kind, "") => format!("{kind} {}", self.name),
            (kind, namespace) => format!("{kind} {namespace}/{}", self.name),
        }
    }
}

/// One image reference on an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Site {
    /// JSON pointer to the image string (pod specs) or the `from` object (builds).
    pub pointer: String,
    pub reference: Reference,
    pub holder: Holder,
}

impl Site {
    /// The Kubernetes field path reported in errors, warnings and rewrites, derived from the
    /// pointer (`/spec/containers/0/image` → `spec.containers[0].image`; a build reference is
    /// reported at its `from.name`). Built only for the sites that are reported.
    pub(crate) fn path(&self) -> String {
        let mut path = field_path(&self.pointer);
        if self.holder.is_build_reference() {
            path.push_str(".name");
        }
        path
    }
}

/// The Kubernetes field path of a JSON pointer: `/spec/containers/0/image` →
/// `spec.containers[0].image`.
pub(crate) fn field_path(pointer: &str) -> String {
    let mut path = String::with_capacity(pointer.len() + 8);
    let tokens = Tokens {
        rest: pointer.split_once('/').map(|(_, rest)| rest),
    };
    for token in tokens {
        if !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_digit()) {
            path.push('[');
            path.push_str(token);
            path.push(']');
        } else {
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(token);
        }
    }
    path
}

/// The shape of `group`/`kind`, or `None` for kinds without images.
pub(crate) fn shape(group: &str, kind: &str) -> Option<Shape> {
    let template = Shape::Pods {
        spec: "/spec/template/spec",
        template: Some("/spec/template/metadata"),
    };
    match (group, kind) {
        ("", "Pod") => Some(Shape::Pods {
            spec: "/spec",
            template: None,
        }),
        ("", "PodTemplate") => Some(Shape::Pods {
            spec: "/template/spec",
            template: Some("/template/metadata"),
        }),
        ("batch", "CronJob") => Some(Shape::Pods {
            spec: "/spec/jobTemplate/spec/template/spec",
            template: Some("/spec/jobTemplate/spec/template/metadata"),
        }),
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet")
        | ("extensions", "Deployment" | "ReplicaSet" | "DaemonSet")
        | ("batch", "Job")
        | ("apps.openshift.io", "DeploymentConfig") => Some(template),
        ("build.openshift.io", "Build" | "BuildConfig") => Some(Shape::Build),
        _ => None,
    }
}

/// The shape of a custom resource whose pod spec is at `path` (a `podSpecPath`, one of
/// [`POD_SPEC_PATHS`](crate::api::policy::POD_SPEC_PATHS)): that of the built-in kind that keeps
/// it there; `None` for any other path.
pub(crate) fn shape_at(path: &str) -> Option<Shape> {
    let (spec, template) = match path {
        "spec" => ("/spec", None),
        "spec.template.spec" => ("/spec/template/spec", Some("/spec/template/metadata")),
        "spec.jobTemplate.spec.template.spec" => (
            "/spec/jobTemplate/spec/template/spec",
            Some("/spec/jobTemplate/spec/template/metadata"),
        ),
        "template.spec" => ("/template/spec", Some("/template/metadata")),
        _ => return None,
    };
    Some(Shape::Pods { spec, template })
}

/// Every reference on `object`, in OpenShift's visiting order.
pub(crate) fn sites(object: &Value, shape: Shape) -> Vec<Site> {
    match shape {
        Shape::Pods { spec, .. } => pod_spec_sites(object, spec),
        Shape::Build => build_sites(object),
    }
}

/// Whether the object asks for every reference to be looked up: the resolve-names annotation is
/// exactly `*` on the pod template's metadata or on the object's own metadata.
pub(crate) fn resolves_all_names(object: &Value, shape: Shape) -> bool {
    let template = match shape {
        Shape::Pods { template, .. } => template,
        Shape::Build => None,
    };
    let forced = |metadata: &str| {
        let annotations = at(object, metadata).and_then(|metadata| member(metadata, "annotations"));
        let value = annotations.and_then(|map| member(map, RESOLVE_NAMES_ANNOTATION));
        value.and_then(Value::as_str) == Some("*")
    };
    template.is_some_and(forced) || forced("/metadata")
}

/// The value at `pointer`, a JSON pointer made of plain keys and array indexes as this module
/// builds them (no `~` escapes). Unlike `Value::pointer`, which allocates an unescaped copy of
/// every token, it only borrows: it runs several times per reference on the webhook's path.
pub(crate) fn at<'v>(object: &'v Value, pointer: &str) -> Option<&'v Value> {
    let mut tokens = Tokens {
        rest: Some(pointer.strip_prefix('/')?),
    };
    tokens.try_fold(object, |value, token| match value {
        Value::Object(_) => member(value, token),
        Value::Array(items) => items.get(token.parse::<usize>().ok()?),
        _ => None,
    })
}

/// The `/`-separated tokens of `rest`, as `str::split('/')` gives them. A plain byte loop:
/// pointer tokens are a few bytes long, and `split`'s searcher (a `memchr` set up per token)
/// cost more than the bytes it skipped; [`at`] runs ~16 times per admission.
struct Tokens<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|byte| byte == b'/') {
            Some(end) => {
                self.rest = Some(&rest[end + 1..]);
                Some(&rest[..end])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// The member `key` of an object. Objects read on the webhook's path are small (the sparse
/// reader keeps a handful of members each), and comparing a few keys costs less than hashing
/// one with the map's SipHash, which `Map::get` does on every call.
pub(crate) fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    const SCAN_UP_TO: usize = 8;
    let map = value.as_object()?;
    if map.len() <= SCAN_UP_TO {
        map.iter()
            .find_map(|(name, member)| (name == key).then_some(member))
    } else {
        map.get(key)
    }
}

/// The array at `pointer`, or nothing.
pub(crate) fn items<'v>(object: &'v Value, pointer: &str) -> &'v [Value] {
    at(object, pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn pod_spec_sites(object: &Value, spec: &str) -> Vec<Site> {
    // The pod spec walked to once, not once per list; no pointer is formatted for lists that
    // are absent, as most are.
    let Some(pod_spec) = at(object, spec) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for list in ContainerList::ALL {
        found.extend(container_sites(pod_spec, spec, list));
    }
    found.extend(volume_sites(pod_spec, spec));
    found
}

/// The array `key` of `pod_spec`, or nothing.
fn list_of<'v>(pod_spec: &'v Value, key: &str) -> &'v [Value] {
    member(pod_spec, key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// The containers of `list` in the pod spec at `spec` that name an image.
fn container_sites<'v>(
    pod_spec: &'v Value,
    spec: &'v str,
    list: ContainerList,
) -> impl Iterator<Item = Site> + 'v {
    let containers = list_of(pod_spec, list.key()).iter().enumerate();
    containers.filter_map(move |(index, container)| {
        let image = member(container, "image")?.as_str()?;
        Some(Site {
            pointer: item_pointer(spec, list.key(), index, "image"),
            reference: Reference::docker_image(image),
            holder: Holder::Container {
                list,
                name: text(container, "name"),
            },
        })
    })
}

/// `{parent}/{list}/{index}/{tail}`, the pointer to a field of a list's item, in one exact
/// allocation: `format!` here cost ~1,300 instructions a container, ~3 % of a `/mutate`.
fn item_pointer(parent: &str, list: &str, index: usize, tail: &str) -> String {
    let mut digits = itoa::Buffer::new();
    let index = digits.format(index);
    let mut pointer =
        String::with_capacity(parent.len() + list.len() + index.len() + tail.len() + 3);
    pointer.push_str(parent);
    for part in [list, index, tail] {
        pointer.push('/');
        pointer.push_str(part);
    }
    pointer
}

/// Image volumes (`volumes[*].image.reference`): beyond OpenShift, which predates them.
fn volume_sites<'v>(pod_spec: &'v Value, spec: &'v str) -> impl Iterator<Item = Site> + 'v {
    let volumes = list_of(pod_spec, "volumes").iter().enumerate();
    volumes.filter_map(move |(index, volume)| {
        let image = at(volume, "/image/reference")?.as_str()?;
        Some(Site {
            pointer: item_pointer(spec, "volumes", index, "image/reference"),
            reference: Reference::docker_image(image),
            holder: Holder::Volume {
                name: text(volume, "name"),
            },
        })
    })
}

fn build_sites(object: &Value) -> Vec<Site> {
    let images = items(object, "/spec/source/images").iter().enumerate();
    let sources = images.filter_map(|(index, image)| {
        let pointer = item_pointer("/spec/source", "images", index, "from");
        from_site(member(image, "from")?, pointer, Holder::SourceImage)
    });
    let strategies = STRATEGIES.into_iter().filter_map(|strategy| {
        let pointer = ["/spec/strategy/", strategy, "/from"].concat();
        from_site(at(object, &pointer)?, pointer, Holder::Strategy)
    });
    sources.chain(strategies).collect()
}

fn from_site(from: &Value, pointer: String, holder: Holder) -> Option<Site> {
    Some(Site {
        pointer,
        reference: Reference::from_object(from.as_object()?),
        holder,
    })
}

fn text(object: &Value, key: &str) -> String {
    object
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests;
