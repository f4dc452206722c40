use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn rewrite(path: &str, from: &str, to: &str, reason: &str) -> Rewrite {
    Rewrite {
        path: path.into(),
        from: from.into(),
        to: to.into(),
        reason: reason.into(),
        pinned: true,
    }
}

/// What serde_json writes for the same annotation: the rewrites to a string, the string in a
/// map.
fn serde_form(rewrites: &[Rewrite]) -> String {
    let inner = serde_json::to_string(rewrites).unwrap();
    let annotations = BTreeMap::from([(AUDIT_REWRITES, inner)]);
    serde_json::to_string(&annotations).unwrap()
}

fn written(rewrites: &[Rewrite]) -> String {
    audit_annotations(rewrites).unwrap().get().to_string()
}

#[test]
fn no_rewrite_is_no_annotation() {
    assert!(audit_annotations(&[]).is_none());
}

#[test]
fn the_annotation_is_serde_json_s_byte_for_byte() {
    let cases = [
        vec![rewrite(
            "spec.containers[0].image",
            "app-4:8",
            "quay.io/org/app-4@sha256:0123",
            "pinned by image stream ns/app-4, tag 8",
        )],
        vec![
            rewrite("a", "b", "c", "says \"quoted\" and back\\slash"),
            rewrite(
                "tab\there",
                "new\nline",
                "bell\u{7}",
                "\u{1f} \u{8}\u{c}\r del\u{7f} é ✓",
            ),
        ],
    ];
    for rewrites in cases {
        assert_eq!(written(&rewrites), serde_form(&rewrites));
    }
}

#[test]
fn the_annotation_reads_back_as_the_rewrites() {
    let rewrites = [rewrite("p", "a \"b\"", "c", "d\\e")];
    let raw = audit_annotations(&rewrites).unwrap();
    let outer: BTreeMap<String, String> = serde_json::from_str(raw.get()).unwrap();
    let inner: serde_json::Value = serde_json::from_str(&outer[AUDIT_REWRITES]).unwrap();
    assert_eq!(inner[0]["from"], "a \"b\"");
    assert_eq!(inner[0]["reason"], "d\\e");
}

proptest! {
    #[test]
    fn any_text_is_escaped_as_serde_json_escapes_it(
        fields in proptest::collection::vec(any::<String>(), 4..=8),
    ) {
        let rewrites: Vec<Rewrite> = fields
            .chunks_exact(4)
            .map(|f| rewrite(&f[0], &f[1], &f[2], &f[3]))
            .collect();
        prop_assert_eq!(written(&rewrites), serde_form(&rewrites));
    }
}

proptest! {
    #[test]
    fn text_with_escapes_at_any_distance_is_escaped_as_serde_json_escapes_it(
        parts in proptest::collection::vec(("[a-z]{0,40}", "[\"\\\\\\n\u{1}]{0,3}"), 0..8),
    ) {
        let text: String = parts.iter().map(|(plain, special)| format!("{plain}{special}")).collect();
        let rewrites = [rewrite(&text, "f", "t", &text)];
        prop_assert_eq!(written(&rewrites), serde_form(&rewrites));
    }
}
