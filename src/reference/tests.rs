use super::*;

const D: &str = "sha256:e70f3bd4c0dc5bd4c2b2d1e14b9d3e8d8e8f7c6a2b0f9a5d4e3c2b1a09f8e7d6";

fn parts(registry: &str, namespace: &str, name: &str, tag: &str, id: &str) -> ImageRef {
    ImageRef {
        registry: registry.into(),
        namespace: namespace.into(),
        name: name.into(),
        tag: tag.into(),
        id: id.into(),
    }
}

fn check(spec: &str, expected: ImageRef) {
    assert_eq!(ImageRef::parse(spec), Ok(expected), "parsing {spec:?}");
}

fn check_error(spec: &str, expected: ParseError) {
    assert_eq!(ImageRef::parse(spec), Err(expected), "parsing {spec:?}");
}

#[test]
fn splits_references_like_library_go() {
    let hex = &D["sha256:".len()..];
    check("foo", parts("", "", "foo", "", ""));
    check("foo:tag", parts("", "", "foo", "tag", ""));
    check(&format!("sha256:{hex}"), parts("", "", "sha256", hex, ""));
    check(&format!("foo@{D}"), parts("", "", "foo", "", D));
    check("bar/foo", parts("", "bar", "foo", "", ""));
    check("bar/foo/baz", parts("", "bar", "foo/baz", "", ""));
    check("bar:5000/foo/baz", parts("bar:5000", "foo", "baz", "", ""));
    check("bar:5000/baz", parts("bar:5000", "", "baz", "", ""));
    check(
        "myregistry.io/foo",
        parts("myregistry.io", "", "foo", "", ""),
    );
    check("localhost/bar", parts("localhost", "", "bar", "", ""));
    check("docker.io/myapp", parts("docker.io", "", "myapp", "", ""));
    check(
        "docker.io/library/myapp",
        parts("docker.io", "library", "myapp", "", ""),
    );
    check(
        "docker.io/user/project/myapp",
        parts("docker.io", "user", "project/myapp", "", ""),
    );
    check("quay.io", parts("quay.io", "", "", "", ""));
    check("localhost:5000", parts("localhost:5000", "", "", "", ""));
    check("wildfly:15.0", parts("", "", "wildfly", "15.0", ""));
    check(&format!("mysql:5.7@{D}"), parts("", "", "mysql", "5.7", D));
}

#[test]
fn accepts_component_separators_per_grammar() {
    check("a__b", parts("", "", "a__b", "", ""));
    check("a--b", parts("", "", "a--b", "", ""));
    check("a.b_c-d", parts("a.b_c-d", "", "", "", ""));
    check(
        "Upper.Case.Host/repo",
        parts("Upper.Case.Host", "", "repo", "", ""),
    );
}

#[test]
fn rejects_malformed_references_with_library_go_messages() {
    use ParseError::*;
    check_error("", NameEmpty);
    check_error(
        "registry:3000/integration/imageStream:success",
        NameContainsUppercase,
    );
    check_error("MySQL", NameContainsUppercase);
    check_error("registry.io/foo/bar/:Tag", InvalidFormat);
    check_error("https://bar:5000/foo/baz", InvalidFormat);
    check_error(
        "foo@sha256:00000000000000000000000000000001",
        InvalidDigestLength,
    );
    check_error("abc@badid", InvalidFormat);
    check_error("index.docker.io/mysql@sha256:bad", InvalidFormat);
    check_error(&format!("@{D}"), InvalidFormat);
    check_error(":tag", InvalidFormat);
    check_error("bar/foo/baz////biz", InvalidFormat);
    check_error("//foo/baz/biz", InvalidFormat);
    check_error("ftp://baz/baz/biz", InvalidFormat);
    check_error("a___b", InvalidFormat);
    check_error("a-", InvalidFormat);
    check_error("-a", InvalidFormat);
    check_error("a_", InvalidFormat);
    check_error(&format!("foo@md5:{}", "a".repeat(32)), UnsupportedDigest);
    check_error(
        &format!("foo@sha256:{}", "A".repeat(64)),
        InvalidDigestFormat,
    );
    check_error(&format!("foo:{}", "t".repeat(129)), InvalidFormat);
    check_error(&"a".repeat(256), NameTooLong);
}

#[test]
fn tags_are_ascii_words_like_in_go() {
    check_error("mysql:t\u{e4}g", ParseError::InvalidFormat);
    check_error("mysql:\u{663}", ParseError::InvalidFormat);
    check("mysql:_x.y-z", parts("", "", "mysql", "_x.y-z", ""));
}

#[test]
fn accepts_longest_tag_and_name() {
    check(
        &format!("foo:{}", "t".repeat(128)),
        parts("", "", "foo", &"t".repeat(128), ""),
    );
    check(&"a".repeat(255), parts("", "", &"a".repeat(255), "", ""));
    let sha512 = format!("sha512:{}", "0".repeat(128));
    check(&format!("foo@{sha512}"), parts("", "", "foo", "", &sha512));
}

#[test]
fn short_names_are_single_segment_without_id() {
    let short = |spec: &str| ImageRef::parse(spec).unwrap().is_short_name();
    assert!(short("mysql"));
    assert!(short("mysql:5.7"));
    assert!(short("php:latest"));
    assert!(!short(&format!("mysql@{D}")));
    assert!(!short(&format!("mysql:5.7@{D}")));
    assert!(!short("library/mysql"));
    assert!(!short("myns/mysql"));
    assert!(!short("docker.io/mysql"));
    assert!(!short("localhost/mysql"));
    assert!(!short("quay.io"));
}

#[test]
fn renders_exact_string_and_most_specific() {
    let exact = |r: ImageRef| r.exact();
    assert_eq!(
        exact(parts("", "", "mysql", "5.7", D)),
        format!("mysql@{D}")
    );
    assert_eq!(exact(parts("", "", "mysql", "", "10")), "mysql:10");
    assert_eq!(exact(parts("quay.io", "o", "m", "8", "")), "quay.io/o/m:8");
    assert_eq!(exact(parts("quay.io", "", "", "", "")), "");
    assert_eq!(
        parts("docker.io", "", "mysql", "", "").string(),
        "docker.io/library/mysql"
    );
    assert_eq!(
        parts("quay.io", "", "mysql", "", "").string(),
        "quay.io/mysql"
    );
    assert_eq!(
        parts("", "", "mysql", "5.7", D).most_specific(),
        parts("", "", "mysql", "", D)
    );
    assert_eq!(
        parts("", "", "mysql", "", "10").most_specific(),
        parts("", "", "mysql", "10", "")
    );
    assert_eq!(parts("a.io", "n", "m", "t", "").repository(), "a.io/n/m");
}

#[test]
fn docker_client_defaults_fill_hub_library_and_latest() {
    let defaulted = ImageRef::parse("mysql").unwrap().docker_client_defaults();
    assert_eq!(
        defaulted,
        parts("docker.io", "library", "mysql", "latest", "")
    );
    let quay = ImageRef::parse("quay.io/o/m")
        .unwrap()
        .docker_client_defaults();
    assert_eq!(quay, parts("quay.io", "o", "m", "latest", ""));
}

mod properties {
    use super::super::grammar::REFERENCE_RE;
    use super::super::*;
    use proptest::prelude::*;

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,6}((\\.|_|__|-{1,2})[a-z0-9]{1,6}){0,2}"
    }

    fn spec() -> impl Strategy<Value = String> {
        let host = prop_oneof![
            Just(String::new()),
            "[a-z]{1,8}\\.(io|com)(:[0-9]{2,5})?".prop_map(|h| format!("{h}/")),
            Just("localhost:5000/".to_string()),
        ];
        let path = prop::collection::vec(component(), 1..4).prop_map(|parts| parts.join("/"));
        let suffix = prop_oneof![
            Just(String::new()),
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}".prop_map(|t| format!(":{t}")),
            "[0-9a-f]{64}".prop_map(|h| format!("@sha256:{h}")),
        ];
        (host, path, suffix).prop_map(|(h, p, s)| format!("{h}{p}{s}"))
    }

    /// Strings over the grammar's alphabet, so that most land near its edges.
    fn oracle_input() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            "[a-z0-9]{1,4}",
            Just("/".to_string()),
            Just(":".to_string()),
            Just("@".to_string()),
            Just(".".to_string()),
            Just("_".to_string()),
            Just("__".to_string()),
            Just("-".to_string()),
            "[A-Z]{1,2}",
            Just("sha256:".to_string()),
            "[0-9a-f]{32}",
            Just("localhost".to_string()),
            Just("\u{e4}".to_string()),
        ];
        prop::collection::vec(piece, 0..10).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn rendering_a_parsed_reference_gives_it_back(spec in spec()) {
            let parsed = ImageRef::parse(&spec).expect("generated references are valid");
            // A dotted single segment is a bare registry, which renders empty by design.
            prop_assume!(!parsed.name.is_empty());
            prop_assert_eq!(parsed.exact(), spec);
        }

        #[test]
        fn the_scanner_accepts_exactly_what_the_grammar_regex_accepts(input in oracle_input()) {
            let by_regex = REFERENCE_RE.captures(&input).map(|c| {
                let part = |i| c.get(i).map_or("", |m| m.as_str()).to_string();
                (part(1), part(2), part(3))
            });
            let by_scanner = match_grammar(&input).map(|g| (g.name.to_string(), g.tag.to_string(), g.digest.to_string()));
            prop_assert_eq!(by_scanner, by_regex);
        }

        #[test]
        fn pinning_without_parsing_matches_parse_clear_tag_set_id_render(
            input in prop_oneof![spec(), oracle_input()],
            id in prop_oneof![Just(String::new()), Just("10".to_string()), "[0-9a-f]{64}".prop_map(|h| format!("sha256:{h}"))],
        ) {
            let by_parsing = ImageRef::parse(&input).ok().and_then(|mut parsed| {
                parsed.tag.clear();
                parsed.id = id.clone();
                Some(parsed.exact()).filter(|pinned| !pinned.is_empty())
            });
            prop_assert_eq!(pin(&input, &id), by_parsing);
            if let Some(base) = pin_base(&input) {
                prop_assert!(input.starts_with(base), "the base is a prefix the index can store as a length");
            }
        }

        #[test]
        fn parsing_arbitrary_text_never_panics_nor_grows(input in "\\PC{0,80}") {
            if let Ok(parsed) = ImageRef::parse(&input) {
                prop_assert!(parsed.exact().len() <= input.len());
            }
        }
    }
}
