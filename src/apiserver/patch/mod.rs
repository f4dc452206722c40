//! (to be written)
pub mod error;
pub mod json;
pub mod merge;
pub mod order;
pub mod schema;
pub mod strategic;
