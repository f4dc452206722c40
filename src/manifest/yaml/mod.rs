//! YAML manifests kept as text: parsed into nodes that remember where they were written, read
//! into JSON values the way kubectl reads them (YAML 1.1; a KRM `ResourceList` the way kyaml
//! reads it, YAML 1.2: see [`Schema`]), and written back by splicing new
//! scalars into the original text, or, when that cannot be done safely, by re-serialising one
//! document so that its reader (kubectl, or kyaml for a `ResourceList`) still reads every
//! value the same.

mod emit;
mod scalar;
mod splice;
mod tree;
mod value;

use serde_json::Value;

pub(crate) use emit::emit;
pub(crate) use scalar::Schema;
pub(crate) use splice::{apply, replacements, scalar_edits, Replacement};
pub(crate) use tree::{Document, Node, NodeKind, Stream};
pub(crate) use value::scalar_key;

/// Parses a YAML stream into its node tree and each document's JSON value, read as `schema`
/// says; the message says what is wrong and, for a value JSON cannot hold or aliases that
/// expand the text past its budget ([`crate::yaml_aliases`]), in which document.
pub(crate) fn parse(text: &str, schema: Schema) -> Result<(Stream, Vec<Value>), String> {
    let stream = tree::parse(text, schema)?;
    // One budget for the whole text: aliases are per document, but what they may add is
    // measured against all the text that was read.
    let mut budget = crate::yaml_aliases::Budget::for_copies(text.len());
    let values = stream
        .documents
        .iter()
        .enumerate()
        .map(|(index, document)| {
            value::to_value(&document.root, schema, &mut budget)
                .map_err(|error| format!("document {}: {error}", index + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((stream, values))
}
