//! A YAML stream cut into runs of whole documents, so that `resolve` holds one run's node trees
//! and values at a time: kept whole, a stream costs about 14 KB per document (838 MB of memory
//! for 60,000 small Deployments), of which only the text in and out is needed throughout.
//!
//! A run ends before a document start marker: `---` at the start of a line, followed by a blank
//! or the line's end. YAML forbids such a line inside any scalar or collection (a block scalar's
//! lines are indented; a quoted or flow one may not put `---` at the first column), so a cut
//! there never splits a document. Anchors are local to their document. Directives (`%YAML`,
//! `%TAG`) apply to the document after them: a stream with any is kept whole.

/// How many documents one run holds.
pub const DOCUMENTS_PER_RUN: usize = 512;

/// `text` cut before every `per_run`-th document start marker (the documents before the first
/// marker, if any, go with the first run); the whole text when it has directives or at most
/// `per_run` markers.
pub fn split(text: &str, per_run: usize) -> Vec<&str> {
    let per_run = per_run.max(1);
    let mut cuts = Vec::new();
    let mut markers = 0usize;
    let mut line_start = 0usize;
    for line in text.split_inclusive('\n') {
        if line.starts_with('%') {
            return vec![text];
        }
        if starts_a_document(line) {
            if markers > 0 && markers % per_run == 0 {
                cuts.push(line_start);
            }
            markers += 1;
        }
        line_start += line.len();
    }
    let mut runs = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        runs.push(&text[start..cut]);
        start = cut;
    }
    runs.push(&text[start..]);
    runs
}

/// Whether `line` (with its line break) is a document start marker.
fn starts_a_document(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\n', '\r']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_cut_only_before_document_start_markers() {
        let cases: Vec<(&str, usize, Vec<&str>)> = vec![
            ("", 1, vec![""]),
            ("a: 1\n", 1, vec!["a: 1\n"]),
            // The implicit first document goes with the first marked one.
            (
                "a: 1\n---\nb: 2\n---\nc: 3\n",
                1,
                vec!["a: 1\n---\nb: 2\n", "---\nc: 3\n"],
            ),
            (
                "---\na: 1\n---\nb: 2\n",
                1,
                vec!["---\na: 1\n", "---\nb: 2\n"],
            ),
            ("---\na: 1\n---\nb: 2\n", 2, vec!["---\na: 1\n---\nb: 2\n"]),
            (
                "---\na\n---\nb\n---\nc\n",
                2,
                vec!["---\na\n---\nb\n", "---\nc\n"],
            ),
            // Markers with content, comments and CRLF line ends; a lone marker at the end.
            (
                "--- |\n  x\n--- # c\ny\r\n---\r\nz\n---",
                1,
                vec!["--- |\n  x\n", "--- # c\ny\r\n", "---\r\nz\n", "---"],
            ),
            // Not markers: more dashes, text after them, indented, or `...`.
            (
                "---\na: ----\n----\n  ---\n---x\n...\nb\n",
                1,
                vec!["---\na: ----\n----\n  ---\n---x\n...\nb\n"],
            ),
            // Directives belong to the next document: kept whole.
            (
                "---\na\n%YAML 1.1\n---\nb\n",
                1,
                vec!["---\na\n%YAML 1.1\n---\nb\n"],
            ),
        ];
        for (text, per_run, expected) in cases {
            assert_eq!(split(text, per_run), expected, "{text:?} by {per_run}");
        }
    }

    #[test]
    fn runs_put_back_together_are_the_text() {
        let text: String = (0..1_100)
            .map(|i| format!("---\nkind: Pod\nname: p{i}\n"))
            .collect();
        let cut = split(&text, DOCUMENTS_PER_RUN);
        assert_eq!(cut.len(), 3);
        assert_eq!(cut.concat(), text);
    }
}
