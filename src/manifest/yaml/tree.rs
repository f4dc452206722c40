//! The node tree of a YAML stream, every node with the byte range it was written at, so that a
//! scalar can be replaced in the text without touching anything around it.

use std::collections::BTreeSet;
use std::ops::Range;

use granit_parser::{Event, Parser, ScalarStyle, Span, StructureStyle, Tag};

use super::scalar::Schema;

/// Deeper nesting than this is refused: Kubernetes objects nest a few dozen levels at most, and
/// the tree is walked recursively.
const MAX_DEPTH: usize = 256;

/// A YAML stream: its documents in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Stream {
    /// Every document, empty ones included.
    pub documents: Vec<Document>,
}

/// One document of a stream.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Document {
    /// The root node (a null scalar for an empty document).
    pub root: Node,
    /// From the root node's first byte to the document's end (where `...`, the next `---` or the
    /// end of the text starts): what a re-serialised document replaces.
    pub content: Range<usize>,
    /// The anchors some alias refers to: nodes under them are shared.
    pub aliased: BTreeSet<usize>,
    /// The reader its plain scalars are resolved for.
    pub schema: Schema,
}

/// A node and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Node {
    /// Its bytes in the text (quotes included; for collections, from the first key or bracket).
    pub span: Range<usize>,
    /// The anchor defined on it, or 0.
    pub anchor: usize,
    /// Whether it sits inside a flow collection (`[…]`, `{…}`), where `,[]{}` and `:` end a plain scalar.
    pub flow: bool,
    /// What it is.
    pub kind: NodeKind,
}

/// The kinds of node.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum NodeKind {
    /// A scalar: its text after unescaping, how it was written, and its tag.
    Scalar {
        /// The text after unescaping and line folding.
        text: String,
        /// Plain, quoted or block.
        style: ScalarStyle,
        /// What the tag says about its type.
        tag: ScalarTag,
    },
    /// A sequence's items.
    Sequence(Vec<Node>),
    /// A mapping's key and value nodes, in order.
    Mapping(Vec<(Node, Node)>),
    /// `*name`: the anchor it refers to.
    Alias(usize),
}

/// How a scalar's tag bears on its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarTag {
    /// No tag: plain scalars resolve, quoted and block ones are strings.
    Untagged,
    /// `!!str`, `!!binary`, or a tag go-yaml does not resolve (`!custom`): a string.
    Str,
    /// `!!int`, `!!float`, `!!bool`, `!!null`, `!!timestamp`: resolved whatever the quoting.
    Resolve,
}

/// Parses every document of `text`, to be read as `schema` says; the message says what is
/// wrong and where.
pub(crate) fn parse(text: &str, schema: Schema) -> Result<Stream, String> {
    let mut builder = Builder {
        schema,
        ..Builder::default()
    };
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|error| error.to_string())?;
        builder.event(event, span)?;
    }
    Ok(Stream {
        documents: builder.documents,
    })
}

/// A collection still open: its node (children not yet attached) and its children so far.
struct Open {
    node: Node,
    children: Vec<Node>,
}

#[derive(Default)]
struct Builder {
    documents: Vec<Document>,
    open: Vec<Open>,
    root: Option<Node>,
    aliased: BTreeSet<usize>,
    schema: Schema,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), String> {
        let range = span
            .byte_range()
            .ok_or("the YAML parser reported no byte offsets")?;
        match event {
            Event::DocumentStart(..) => self.aliased.clear(),
            Event::DocumentEnd => self.end_document(range.start)?,
            Event::Scalar(text, style, anchor, tag) => {
                let tag = scalar_tag(tag.as_deref());
                let kind = NodeKind::Scalar {
                    text: text.into_owned(),
                    style,
                    tag,
                };
                self.attach(self.node(range, anchor, kind));
            }
            Event::Alias(anchor) => {
                self.aliased.insert(anchor);
                self.attach(self.node(range, 0, NodeKind::Alias(anchor)));
            }
            Event::SequenceStart(style, anchor, _) => {
                self.open(range, anchor, style, NodeKind::Sequence(Vec::new()))?
            }
            Event::MappingStart(style, anchor, _) => {
                self.open(range, anchor, style, NodeKind::Mapping(Vec::new()))?
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(range.end),
            _ => {}
        }
        Ok(())
    }

    fn node(&self, span: Range<usize>, anchor: usize, kind: NodeKind) -> Node {
        let flow = self.open.last().is_some_and(|parent| parent.node.flow);
        Node {
            span,
            anchor,
            flow,
            kind,
        }
    }

    fn open(
        &mut self,
        span: Range<usize>,
        anchor: usize,
        style: StructureStyle,
        kind: NodeKind,
    ) -> Result<(), String> {
        if self.open.len() >= MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let mut node = self.node(span, anchor, kind);
        // A flow collection's own children are in flow context, whatever its parent is.
        node.flow |= style == StructureStyle::Flow;
        self.open.push(Open {
            node,
            children: Vec::new(),
        });
        Ok(())
    }

    fn close(&mut self, end: usize) {
        let Some(Open { mut node, children }) = self.open.pop() else {
            return;
        };
        node.span.end = end;
        node.kind = match node.kind {
            NodeKind::Mapping(_) => NodeKind::Mapping(pairs(children)),
            _ => NodeKind::Sequence(children),
        };
        if let Some(parent) = self.open.last() {
            // `flow` of a collection meant "my children are in flow context"; for the node
            // itself what counts is its parent's context.
            node.flow = parent.node.flow;
        } else {
            node.flow = false;
        }
        self.attach(node);
    }

    fn attach(&mut self, node: Node) {
        match self.open.last_mut() {
            Some(parent) => parent.children.push(node),
            None => self.root = Some(node),
        }
    }

    fn end_document(&mut self, end: usize) -> Result<(), String> {
        let root = self.root.take().ok_or("a document has no content")?;
        self.documents.push(Document {
            content: root.span.start..end.max(root.span.start),
            root,
            aliased: std::mem::take(&mut self.aliased),
            schema: self.schema,
        });
        Ok(())
    }
}

fn pairs(children: Vec<Node>) -> Vec<(Node, Node)> {
    let mut pairs = Vec::with_capacity(children.len() / 2);
    let mut children = children.into_iter();
    while let (Some(key), Some(value)) = (children.next(), children.next()) {
        pairs.push((key, value));
    }
    pairs
}

fn scalar_tag(tag: Option<&Tag>) -> ScalarTag {
    let Some(tag) = tag else {
        return ScalarTag::Untagged;
    };
    match tag.core_suffix() {
        Some("int" | "float" | "bool" | "null" | "timestamp") => ScalarTag::Resolve,
        _ => ScalarTag::Str,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> (&str, ScalarStyle) {
        match &node.kind {
            NodeKind::Scalar { text, style, .. } => (text, *style),
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn mapping(node: &Node) -> &[(Node, Node)] {
        match &node.kind {
            NodeKind::Mapping(pairs) => pairs,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    #[test]
    fn scalar_spans_are_byte_ranges_that_include_the_quotes() {
        let text = "é: 'it''s'\nb: \"x\" # c\n";
        let stream = parse(text, Schema::Yaml11).unwrap();
        let pairs = mapping(&stream.documents[0].root);
        assert_eq!(&text[pairs[0].1.span.clone()], "'it''s'");
        assert_eq!(scalar(&pairs[0].1), ("it's", ScalarStyle::SingleQuoted));
        assert_eq!(&text[pairs[1].1.span.clone()], "\"x\"");
    }

    #[test]
    fn flow_context_is_known_for_every_node() {
        let stream = parse("a: {b: [c]}\nd: e\n", Schema::Yaml11).unwrap();
        let pairs = mapping(&stream.documents[0].root);
        let inner = mapping(&pairs[0].1);
        assert!(
            !pairs[0].1.flow,
            "the flow mapping itself is in block context"
        );
        assert!(inner[0].0.flow && inner[0].1.flow);
        assert!(!pairs[1].1.flow);
    }

    #[test]
    fn documents_keep_their_content_range_and_aliases() {
        let text = "# head\na: 1\n---\nx: &n 1\ny: *n\n...\n---\n";
        let stream = parse(text, Schema::Yaml11).unwrap();
        assert_eq!(stream.documents.len(), 3);
        assert_eq!(&text[stream.documents[0].content.clone()], "a: 1\n");
        assert_eq!(stream.documents[1].aliased, BTreeSet::from([1]));
        assert!(stream.documents[0].aliased.is_empty());
    }

    #[test]
    fn errors_and_runaway_nesting_are_reported() {
        assert!(parse("a: [1, 2\n", Schema::Yaml11)
            .unwrap_err()
            .contains("line 1"));
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse(&deep, Schema::Yaml11).is_err());
        assert!(parse("", Schema::Yaml11).unwrap().documents.is_empty());
    }
}
