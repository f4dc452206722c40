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

/// What serde_json writes for the same annotations: each non-empty list to a string, the
/// strings in a map.
fn serde_form(rewrites: &[Rewrite], unresolved: &[String]) -> String {
    let mut annotations = BTreeMap::new();
    if !rewrites.is_empty() {
        annotations.insert(AUDIT_REWRITES, serde_json::to_string(rewrites).unwrap());
    }
    if !unresolved.is_empty() {
        annotations.insert(AUDIT_UNRESOLVED, serde_json::to_string(unresolved).unwrap());
    }
    serde_json::to_string(&annotations).unwrap()
}

fn written(rewrites: &[Rewrite]) -> String {
    audit_annotations(rewrites, &[]).unwrap().get().to_string()
}

#[test]
fn no_rewrite_and_no_warning_is_no_annotation() {
    assert!(audit_annotations(&[], &[]).is_none());
}

#[test]
fn warnings_are_listed_beside_the_rewrites_as_serde_json_writes_them() {
    let rewrites = [rewrite("a", "mysql", "mysql@sha256:1", "pinned")];
    let warnings = [
        "spec.containers[1].image: tag \"x\" not found\n(see `imagelookup explain`)".to_string(),
        "spec.initContainers[0].image: \\ é".to_string(),
    ];
    for (rewrites, warnings) in [(&rewrites[..], &warnings[..]), (&[][..], &warnings[..1])] {
        let raw = audit_annotations(rewrites, warnings).unwrap();
        assert_eq!(raw.get(), serde_form(rewrites, warnings));
    }
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
        assert_eq!(written(&rewrites), serde_form(&rewrites, &[]));
    }
}

#[test]
fn the_annotation_reads_back_as_the_rewrites() {
    let rewrites = [rewrite("p", "a \"b\"", "c", "d\\e")];
    let raw = audit_annotations(&rewrites, &[]).unwrap();
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
        prop_assert_eq!(written(&rewrites), serde_form(&rewrites, &[]));
    }
}

proptest! {
    #[test]
    fn text_with_escapes_at_any_distance_is_escaped_as_serde_json_escapes_it(
        parts in proptest::collection::vec(("[a-z]{0,40}", "[\"\\\\\\n\u{1}]{0,3}"), 0..8),
    ) {
        let text: String = parts.iter().map(|(plain, special)| format!("{plain}{special}")).collect();
        let rewrites = [rewrite(&text, "f", "t", &text)];
        prop_assert_eq!(written(&rewrites), serde_form(&rewrites, &[]));
        let warnings = [text.clone()];
        let raw = audit_annotations(&rewrites, &warnings).unwrap();
        prop_assert_eq!(raw.get(), serde_form(&rewrites, &warnings));
    }
}
