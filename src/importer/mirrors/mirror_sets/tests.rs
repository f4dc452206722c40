use proptest::strategy::Strategy as _;

use super::*;
use crate::reference::ImageRef;

const DIGEST: &str = "sha256:0123456789012345678901234567890123456789012345678901234567890123";

/// The places `spec` is pulled from, as `[mirror ]reference`, or the blocking prefix.
fn places(mirrors: &Mirrors, spec: &str) -> Result<Vec<String>, String> {
    let source = ImageRef::parse(spec).unwrap();
    let listed = mirrors
        .pull_sources(&source, false)
        .map_err(|blocked| format!("blocked by {}", blocked.prefix))?;
    Ok(listed
        .iter()
        .map(|pull| {
            let mirror = if pull.mirror { "mirror " } else { "" };
            format!("{mirror}{}", pull.reference.exact())
        })
        .collect())
}

const MIGRATED: &str = r#"
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: release
spec:
  imageDigestMirrors:
  - source: quay.io/org
    mirrors:
    - mirror-b.local/org
    - mirror-c.local/org
---
apiVersion: config.openshift.io/v1
kind: ImageDigestMirrorSet
metadata:
  name: extra
spec:
  imageDigestMirrors:
  - source: quay.io/org
    mirrors:
    - mirror-a.local/org
    - mirror-b.local/org
---
apiVersion: config.openshift.io/v1
kind: ImageTagMirrorSet
metadata:
  name: tags
spec:
  imageTagMirrors:
  - source: quay.io/org
    mirrors:
    - tags.local/org
  - source: registry.redhat.io
    mirrors:
    - tags.local/redhat
    mirrorSourcePolicy: NeverContactSource
---
"#;

#[test]
fn digest_and_tag_sets_give_each_source_its_mirrors_for_its_kind_of_pull() {
    let mirrors = parse(MIGRATED).unwrap();
    let cases = [
        // (B, C) and (A, B) merge into (A, B, C), by digest only; the tag set by tag only.
        (
            format!("quay.io/org/app@{DIGEST}"),
            Ok(vec![
                format!("mirror mirror-a.local/org/app@{DIGEST}"),
                format!("mirror mirror-b.local/org/app@{DIGEST}"),
                format!("mirror mirror-c.local/org/app@{DIGEST}"),
                format!("quay.io/org/app@{DIGEST}"),
            ]),
        ),
        (
            "quay.io/org/app:v1".to_string(),
            Ok(vec![
                "mirror tags.local/org/app:v1".to_string(),
                "quay.io/org/app:v1".to_string(),
            ]),
        ),
        // NeverContactSource blocks the source: a tag has its mirror, a digest has none.
        (
            "registry.redhat.io/ubi9/ubi:9.4".to_string(),
            Ok(vec!["mirror tags.local/redhat/ubi9/ubi:9.4".to_string()]),
        ),
        (
            format!("registry.redhat.io/ubi9/ubi@{DIGEST}"),
            Err("blocked by registry.redhat.io".to_string()),
        ),
        (
            "quay.io/other/app:v1".to_string(),
            Ok(vec!["quay.io/other/app:v1".to_string()]),
        ),
    ];
    for (spec, expected) in cases {
        assert_eq!(places(&mirrors, &spec), expected, "{spec}");
    }
}

#[test]
fn a_content_source_policy_in_a_list_gives_digest_mirrors_and_contacts_the_source() {
    let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "operator.openshift.io/v1alpha1", "kind": "ImageContentSourcePolicy",
         "metadata": {"name": "icsp"},
         "spec": {"repositoryDigestMirrors": [
            {"source": "quay.io/org", "mirrors": ["mirror.local/org"]},
            {"source": "ghcr.io/only", "mirrors": []}]}}]}"#;
    let mirrors = parse(list).unwrap();
    assert_eq!(
        places(&mirrors, &format!("quay.io/org/app@{DIGEST}")),
        Ok(vec![
            format!("mirror mirror.local/org/app@{DIGEST}"),
            format!("quay.io/org/app@{DIGEST}"),
        ])
    );
    assert_eq!(
        places(&mirrors, "quay.io/org/app:v1"),
        Ok(vec!["quay.io/org/app:v1".to_string()])
    );
    // An entry without mirrors configures nothing.
    assert_eq!(mirrors.registries.len(), 1);
}

#[test]
fn merged_orders_keep_each_lists_order_and_break_loops_by_name() {
    let list = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let cases: [(&[&[&str]], &[&str]); 6] = [
        (&[&["b", "c"], &["a", "b"]], &["a", "b", "c"]),
        (&[&["c"], &["a"]], &["a", "c"]),
        (&[&["z", "y"]], &["z", "y"]),
        // The source written among the mirrors stays where it is written.
        (&[&["m", "src", "n"]], &["m", "src", "n"]),
        (&[&["m", "src"]], &["m"]),
        // (a, b) and (b, a) loop: broken at "a".
        (&[&["a", "b"], &["b", "a"]], &["a", "b"]),
    ];
    for (lists, expected) in cases {
        let lists: Vec<Vec<String>> = lists.iter().map(|l| list(l)).collect();
        assert_eq!(merged_order("src", &lists), list(expected), "{lists:?}");
    }
}

#[test]
fn objects_that_cannot_be_used_are_refused_naming_them() {
    let object = |kind: &str, entries: &str| {
        let field = match kind {
            "ImageTagMirrorSet" => "imageTagMirrors",
            _ => "imageDigestMirrors",
        };
        format!("kind: {kind}\nmetadata: {{name: ms}}\nspec:\n  {field}: {entries}\n")
    };
    let cases = [
        (
            "kind: ConfigMap\nmetadata: {name: cm}\n".to_string(),
            "ConfigMap \"cm\": not a mirror set",
        ),
        (
            object("ImageDigestMirrorSet", "[{mirrors: [m.local]}]"),
            "ImageDigestMirrorSet \"ms\": spec.imageDigestMirrors[0]: source is required",
        ),
        (
            object(
                "ImageTagMirrorSet",
                "[{source: \"*quay.io\", mirrors: [m.local]}]",
            ),
            "source \"*quay.io\": a wildcard",
        ),
        (
            object(
                "ImageTagMirrorSet",
                "[{source: q.io, mirrors: [\"*.m.local\"]}]",
            ),
            "mirror \"*.m.local\"",
        ),
        (
            object(
                "ImageDigestMirrorSet",
                "[{source: q.io, mirrors: [m.local], mirrorSourcePolicy: Never}]",
            ),
            "mirrorSourcePolicy \"Never\"",
        ),
        (
            object("ImageDigestMirrorSet", "{source: q.io}"),
            "spec.imageDigestMirrors: invalid type",
        ),
        ("kind: [".to_string(), "cannot read it as YAML or JSON"),
        // A typo must not drop the mirrors, or a NeverContactSource, in silence.
        (
            object(
                "ImageDigestMirrorSet",
                "[{source: q.io, mirrors: [m.local], mirrorSourcePolicyX: NeverContactSource}]",
            ),
            "spec.imageDigestMirrors: unknown field `mirrorSourcePolicyX`",
        ),
        (
            object("ImageTagMirrorSet", "[{source: q.io, mirrors: [m.local]}]")
                .replace("imageTagMirrors", "imageTagMirror"),
            "ImageTagMirrorSet \"ms\": spec.imageTagMirror: unknown field; this kind's mirrors \
             are in spec.imageTagMirrors",
        ),
        (
            object("ImageDigestMirrorSet", "[]").replace("imageDigestMirrors", "imageTagMirrors"),
            "spec.imageTagMirrors: unknown field; this kind's mirrors are in spec.imageDigestMirrors",
        ),
    ];
    for (text, part) in cases {
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains(part), "{text}: {error}");
    }
    // A wildcard source is a registries.conf prefix: its mirrors serve every host under it.
    let wildcard = object(
        "ImageTagMirrorSet",
        "[{source: \"*.corp.example\", mirrors: [cache.local]}]",
    );
    let mirrors = parse(&wildcard).unwrap();
    assert_eq!(
        places(&mirrors, "registry.corp.example/team/app:v1"),
        Ok(vec![
            "mirror cache.local/team/app:v1".to_string(),
            "registry.corp.example/team/app:v1".to_string(),
        ])
    );
}

/// Whether `before` comes before `after` in every list holding both (one consistent order).
fn consistent(lists: &[Vec<String>]) -> bool {
    // Consistent iff the mirrors can be taken one by one, each preceded in no list by one not
    // yet taken.
    let mut left: BTreeSet<&str> = lists.iter().flatten().map(String::as_str).collect();
    while !left.is_empty() {
        let first = left.iter().copied().find(|candidate| {
            lists.iter().all(|list| {
                let at = list.iter().position(|m| m == candidate);
                at.is_none_or(|at| list[..at].iter().all(|m| !left.contains(m.as_str())))
            })
        });
        match first {
            Some(first) => left.remove(first),
            None => return false,
        };
    }
    true
}

#[test]
fn merged_orders_hold_every_mirror_once_and_keep_every_consistent_lists_order() {
    use proptest::collection::vec;
    use proptest::sample::select;
    let mirror = select(vec!["a", "b", "c", "d", "e", "src"]);
    let list = vec(mirror, 1..5).prop_map(|names| {
        let mut unique: Vec<String> = Vec::new();
        for name in names {
            if !unique.iter().any(|m| m == name) {
                unique.push(name.to_string());
            }
        }
        unique
    });
    crate::property::run_cases(vec(list, 1..4), 2_000, |lists| {
        let merged = merged_order("src", &lists);
        // Each list implicitly ends with the source, as runtime-utils adds it after the last.
        let implied: Vec<Vec<String>> = lists
            .iter()
            .map(|list| {
                let mut list = list.clone();
                if !list.iter().any(|m| m == "src") {
                    list.push("src".to_string());
                }
                list
            })
            .collect();
        let but_source = |names: &mut dyn Iterator<Item = &String>| -> BTreeSet<String> {
            names.filter(|m| *m != "src").cloned().collect()
        };
        let unique = merged.iter().collect::<BTreeSet<_>>().len() == merged.len();
        let same = but_source(&mut merged.iter()) == but_source(&mut implied.iter().flatten());
        if !unique || !same || merged.last().is_some_and(|m| m == "src") {
            return Err(format!("{lists:?} merged into {merged:?}"));
        }
        if consistent(&implied) {
            for list in &implied {
                let at = |m: &String| merged.iter().position(|x| x == m);
                let places: Vec<_> = list.iter().filter_map(at).collect();
                if places.windows(2).any(|w| w[0] > w[1]) {
                    return Err(format!("{list:?} out of order in {merged:?} of {lists:?}"));
                }
            }
        }
        Ok(())
    });
}

#[test]
fn mirrors_and_sources_an_image_reference_cannot_name_are_refused() {
    let set = |source: &str, mirror: &str| {
        format!(
            "kind: ImageDigestMirrorSet\nmetadata: {{name: ms}}\nspec:\n  imageDigestMirrors:\n  \
             - source: \"{source}\"\n    mirrors: [\"{mirror}\"]\n"
        )
    };
    for (text, part) in [
        (
            set("quay.io/org", "https://m.local/org"),
            "mirror \"https://m.local/org\"",
        ),
        (
            set("quay.io/org", "[fd00::1]:5000/org"),
            "mirror \"[fd00::1]:5000/org\"",
        ),
        (
            set("https://quay.io/org", "m.local/org"),
            "source \"https://quay.io/org\"",
        ),
    ] {
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains(part), "{text}: {error}");
    }
}
