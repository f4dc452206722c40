//! API types: `image.openshift.io/v1` ImageStream and friends, and the ImagePolicy config.

pub mod imagestream;
pub mod policy;

pub use imagestream::*;
