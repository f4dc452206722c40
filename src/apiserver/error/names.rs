//! Group-qualified resource and kind names, as Status `details` and messages print them.

use std::fmt;

/// A resource qualified by its API group, e.g. `imagestreams.image.openshift.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupResource {
    /// The API group; `""` for the core group.
    pub group: &'static str,
    /// The resource plural, e.g. `imagestreams`.
    pub resource: &'static str,
}

impl GroupResource {
    /// A group-qualified resource.
    pub const fn new(group: &'static str, resource: &'static str) -> Self {
        Self { group, resource }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            "" => f.write_str(self.resource),
            group => write!(f, "{}.{group}", self.resource),
        }
    }
}

/// A kind qualified by its API group, e.g. `ImageStream.image.openshift.io`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GroupKind {
    /// The API group; `""` for the core group.
    pub group: &'static str,
    /// The kind, e.g. `ImageStream`.
    pub kind: &'static str,
}

impl GroupKind {
    /// A group-qualified kind.
    pub const fn new(group: &'static str, kind: &'static str) -> Self {
        Self { group, kind }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.group {
            "" => f.write_str(self.kind),
            group => write!(f, "{}.{group}", self.kind),
        }
    }
}

/// `imagestreams.image.openshift.io`, the resource of every object error about streams.
pub const IMAGE_STREAMS: GroupResource = GroupResource::new(crate::api::GROUP, "imagestreams");
/// `ImageStream.image.openshift.io`, the kind of 422 validation errors about streams.
pub const IMAGE_STREAM_KIND: GroupKind = GroupKind::new(crate::api::GROUP, "ImageStream");
/// The `ImageStreamTag` kind, for its 422s.
pub const IMAGE_STREAM_TAG_KIND: GroupKind = GroupKind::new(crate::api::GROUP, "ImageStreamTag");
/// The kind of 422 errors about list and watch query parameters.
pub const LIST_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "ListOptions");
/// The kind of 422 errors about create query parameters.
pub const CREATE_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "CreateOptions");
/// The kind of 422 errors about update query parameters.
pub const UPDATE_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "UpdateOptions");
/// The kind of 422 errors about patch query parameters.
pub const PATCH_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "PatchOptions");
/// The kind of 422 errors about delete options.
pub const DELETE_OPTIONS: GroupKind = GroupKind::new("meta.k8s.io", "DeleteOptions");
