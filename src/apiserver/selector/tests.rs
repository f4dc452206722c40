//! Table tests of parsing, matching and the error messages.

use super::*;
use serde_json::json;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Parses `selector` and checks it against each label set.
fn check(selector: &str, cases: &[(&[(&str, &str)], bool)]) {
    let parsed = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
    for (set, expected) in cases {
        assert_eq!(
            parsed.matches(&labels(set)),
            *expected,
            "{selector} on {set:?}"
        );
    }
}

fn check_error(selector: &str, expected: &str) {
    assert_eq!(
        LabelSelector::parse(selector).unwrap_err().to_string(),
        expected,
        "{selector}"
    );
}

#[test]
fn equality_operators_match_exact_values() {
    let app = [("app", "demo")];
    let other = [("app", "web")];
    for selector in ["app=demo", "app==demo", " app = demo ", "app in (demo)"] {
        check(selector, &[(&app, true), (&other, false), (&[], false)]);
    }
}

#[test]
fn negative_operators_match_objects_without_the_key() {
    let app = [("app", "demo")];
    let other = [("app", "web")];
    for selector in ["app!=demo", "app notin (demo,x)"] {
        check(selector, &[(&app, false), (&other, true), (&[], true)]);
    }
}

#[test]
fn existence_operators_look_only_at_the_key() {
    let set = [("tier", "")];
    check("tier", &[(&set, true), (&[], false)]);
    check("!tier", &[(&set, false), (&[], true)]);
}

#[test]
fn commas_are_and() {
    let both = [("a", "1"), ("b", "2")];
    let one = [("a", "1")];
    check(
        "a=1,b in (2,3),!c",
        &[
            (&both, true),
            (&one, false),
            (&[("a", "1"), ("b", "2"), ("c", "")], false),
        ],
    );
}

#[test]
fn numeric_comparisons_need_integer_labels() {
    let five = [("n", "5")];
    let word = [("n", "five")];
    check("n>4", &[(&five, true), (&word, false), (&[], false)]);
    check("n<5", &[(&five, false), (&[("n", "-3")], true)]);
}

#[test]
fn empty_values_are_allowed() {
    check("a=", &[(&[("a", "")], true), (&[("a", "x")], false)]);
    check("a in ()", &[(&[("a", "")], true)]);
    check("a in (,x)", &[(&[("a", "")], true), (&[("a", "x")], true)]);
}

/// apimachinery's parser reads `()` as the set of the empty value (its `Parse` doc gives
/// `z notin ()` as valid syntax), so its "values set can't be empty" error cannot come from a
/// selector string, and `in ()` is not a 400 there either.
#[test]
fn an_empty_value_set_holds_the_empty_value_as_in_apimachinery() {
    let empty = [("a", "")];
    let other = [("a", "x")];
    check("a in ()", &[(&empty, true), (&other, false), (&[], false)]);
    check(
        "a notin ()",
        &[(&empty, false), (&other, true), (&[], true)],
    );
    let parsed = LabelSelector::parse("a in (),b notin ()").unwrap();
    assert_eq!(parsed.to_string(), "a in (),b notin ()");
}

#[test]
fn keywords_are_identifiers_in_value_position() {
    check("in in (in,notin)", &[(&[("in", "notin")], true)]);
}

#[test]
fn prefixed_keys_are_accepted() {
    check(
        "app.kubernetes.io/name=demo",
        &[(&[("app.kubernetes.io/name", "demo")], true)],
    );
}

#[test]
fn empty_selector_matches_everything() {
    let everything = LabelSelector::parse("  ").unwrap();
    assert!(everything.is_empty());
    assert!(everything.matches(&labels(&[("x", "y")])));
}

#[test]
fn display_is_canonical_and_sorted_by_key() {
    let parsed = LabelSelector::parse("z notin (b,a), a==1, !x, y").unwrap();
    assert_eq!(parsed.to_string(), "a==1,!x,y,z notin (a,b)");
}

#[test]
fn matches_object_reads_metadata_labels() {
    let parsed = LabelSelector::parse("app=demo").unwrap();
    assert!(parsed.matches_object(&json!({"metadata": {"labels": {"app": "demo"}}})));
    assert!(!parsed.matches_object(&json!({"metadata": {}})));
}

#[test]
fn structural_errors_mirror_apimachinery() {
    check_error("app=demo,", "found '', expected: identifier after ','");
    check_error(
        "=demo",
        "found '=', expected: !, identifier, or 'end of string'",
    );
    check_error("!a=b", "found '=', expected: ',' or 'end of string'");
    check_error("a=b c", "found 'c', expected: ',' or 'end of string'");
}

#[test]
fn requirement_errors_are_prefixed() {
    check_error(
        "a b",
        "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'",
    );
    check_error(
        "a in b",
        "unable to parse requirement: found 'b' expected: '('",
    );
    check_error(
        "a in (b",
        "unable to parse requirement: found '', expected: ',' or ')'",
    );
    check_error(
        "a in (=)",
        "unable to parse requirement: found '=', expected: ',', ')' or identifier",
    );
    check_error(
        "a==!",
        "unable to parse requirement: found '!', expected: identifier",
    );
    check_error(
        "!",
        "unable to parse requirement: found '', expected: identifier",
    );
}

#[test]
fn invalid_keys_name_the_nil_path_like_apimachinery() {
    check_error("app:monolith", "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')");
    check_error("a/b/c=d", "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
    check_error("Bad_Prefix/x", "unable to parse requirement: <nil>: Invalid value: \"Bad_Prefix/x\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    let long = "k".repeat(64);
    check_error(
        &long,
        &format!("unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"),
    );
}

#[test]
fn invalid_values_name_the_value_path() {
    check_error("app=-x", "unable to parse requirement: values[0][app]: Invalid value: \"-x\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')");
    check_error(
        "n>x",
        "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer",
    );
    let single = LabelSelector::parse("n<-1").unwrap_err().to_string();
    assert!(
        single.starts_with(
            "unable to parse requirement: values[0][n]: Invalid value: \"-1\": a valid label"
        ),
        "{single}"
    );
    let several = LabelSelector::parse("n>-x").unwrap_err().to_string();
    assert!(several.starts_with("unable to parse requirement: [values[0]: Invalid value: \"-x\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][n]: Invalid value: \"-x\""), "{several}");
}

#[test]
fn selector_errors_become_bad_requests() {
    let error: ApiError = LabelSelector::parse("a b").unwrap_err().into();
    assert_eq!(error.code(), 400);
}
