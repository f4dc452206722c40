//! Options of a single-object GET.

use crate::apiserver::error::ApiError;

use super::list::ResourceVersion;
use super::query::Query;

/// Options of a single-object GET.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GetOptions {
    /// `resourceVersion`: unset or `0` means the latest state, `N` at least revision N.
    pub resource_version: ResourceVersion,
}

impl GetOptions {
    /// Decodes `resourceVersion`.
    pub fn parse(query: &Query) -> Result<Self, ApiError> {
        let resource_version = ResourceVersion::parse(query.text("resourceVersion"))?;
        Ok(Self { resource_version })
    }
}
