//! Table tests of the options: decoding, validation and the apiserver's messages.

use base64::Engine;

use super::continue_token::TOKEN_BASE64;
use super::*;
use crate::apiserver::error::{ApiError, IMAGE_STREAMS};
use crate::apiserver::fields::IMAGE_STREAM_FIELDS;
use crate::apiserver::negotiate::PatchKind;

fn query(raw: &str) -> Query {
    Query::parse(Some(raw))
}

fn list(raw: &str) -> ListOptions {
    match ListRequest::parse(&query(raw), &IMAGE_STREAM_FIELDS, true) {
        Ok(ListRequest::List(options)) => options,
        other => panic!("{raw}: {other:?}"),
    }
}

fn watch(raw: &str) -> WatchOptions {
    match ListRequest::parse(&query(raw), &IMAGE_STREAM_FIELDS, true) {
        Ok(ListRequest::Watch(options)) => options,
        other => panic!("{raw}: {other:?}"),
    }
}

/// Expects an error with this code and exact message.
fn check_error(result: Result<impl std::fmt::Debug, ApiError>, code: u16, message: &str) {
    let error = result.unwrap_err();
    assert_eq!((error.code(), error.to_string().as_str()), (code, message));
}

fn check_list_error(raw: &str, watch_list: bool, code: u16, message: &str) {
    let parsed = ListRequest::parse(&query(raw), &IMAGE_STREAM_FIELDS, watch_list);
    check_error(parsed, code, message);
}

#[test]
fn queries_skip_empty_pairs_and_decode_escapes() {
    let parsed =
        query("&limit=1&&labelSelector=app%3Ddemo%2Ctier+in+%28a%29&bad=%zz&limit=2&x;y=1");
    assert_eq!(parsed.get("limit"), Some("1"));
    assert_eq!(parsed.get("labelSelector"), Some("app=demo,tier in (a)"));
    assert_eq!(parsed.get("bad"), None);
    assert_eq!(parsed.get("x;y"), None);
    assert_eq!(parsed.get_all("limit").collect::<Vec<_>>(), ["1", "2"]);
    assert_eq!(Query::parse(None), Query::default());
}

#[test]
fn observed_list_queries_decode() {
    let kubectl = list("limit=500");
    assert_eq!(
        (kubectl.limit, &kubectl.read),
        (Some(500), &ListRead::Latest)
    );
    let fallback = list("fieldSelector=metadata.name%3Ddemo&limit=500&resourceVersion=0");
    assert_eq!(fallback.read, ListRead::Any);
    assert_eq!(
        fallback.field_selector.required_value("metadata.name"),
        Some("demo")
    );
    let kube_rs = list("&fieldSelector=metadata.name=rs-a&labelSelector=app=a");
    assert_eq!(kube_rs.label_selector.to_string(), "app=a");
    assert_eq!(list("").limit, None);
    assert_eq!(list("limit=0").limit, None);
}

#[test]
fn parsed_selectors_filter_objects() {
    let object = serde_json::json!({"metadata": {"name": "demo", "labels": {"app": "a"}}});
    assert!(list("labelSelector=app%3Da&fieldSelector=metadata.name%3Ddemo").matches(&object));
    assert!(!list("labelSelector=app%3Db").matches(&object));
    assert!(watch("watch=true&fieldSelector=metadata.name%3Ddemo").matches(&object));
    assert!(!watch("watch=true&fieldSelector=metadata.name%21%3Ddemo").matches(&object));
}

#[test]
fn resource_versions_choose_the_read() {
    let cases = [
        ("resourceVersion=5", ListRead::NotOlderThan(5)),
        (
            "resourceVersion=5&resourceVersionMatch=NotOlderThan",
            ListRead::NotOlderThan(5),
        ),
        (
            "resourceVersion=5&resourceVersionMatch=Exact",
            ListRead::Exact(5),
        ),
        (
            "resourceVersion=0&resourceVersionMatch=NotOlderThan",
            ListRead::Any,
        ),
        ("resourceVersion=", ListRead::Latest),
    ];
    for (raw, expected) in cases {
        assert_eq!(list(raw).read, expected, "{raw}");
    }
}

#[test]
fn observed_watch_queries_decode() {
    let kubectl = watch("resourceVersion=1006&watch=true");
    assert_eq!(kubectl.start(), WatchStart::After(1006));
    assert!(!kubectl.allow_watch_bookmarks);
    let by_name = watch("fieldSelector=metadata.name%3Ddemo&resourceVersion=0&watch=true");
    assert_eq!(by_name.start(), WatchStart::Snapshot);
    assert_eq!(
        by_name.field_selector.required_value("metadata.name"),
        Some("demo")
    );
    let kube_rs = watch("&watch=true&timeoutSeconds=2&allowWatchBookmarks=true&resourceVersion=0");
    assert_eq!(
        (kube_rs.start(), kube_rs.timeout_seconds),
        (WatchStart::Snapshot, Some(2))
    );
    assert!(kube_rs.allow_watch_bookmarks);
    let python = watch("timeoutSeconds=2&watch=true");
    assert_eq!(
        (python.start(), python.allow_watch_bookmarks),
        (WatchStart::Snapshot, false)
    );
    assert_eq!(
        watch("watch=1&resourceVersion=7").start(),
        WatchStart::After(7)
    );
    assert_eq!(
        watch("watch=true&timeoutSeconds=-1").timeout_seconds,
        Some(0)
    );
}

#[test]
fn streaming_lists_start_with_initial_events() {
    let kubectl = watch("allowWatchBookmarks=true&fieldSelector=metadata.name%3Ddemo&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&timeoutSeconds=336&watch=true");
    assert_eq!(
        kubectl.start(),
        WatchStart::InitialEvents {
            not_older_than: None
        }
    );
    assert_eq!(kubectl.timeout_seconds, Some(336));
    let kube_rs = watch("&watch=true&timeoutSeconds=290&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=0");
    assert_eq!(
        kube_rs.start(),
        WatchStart::InitialEvents {
            not_older_than: None
        }
    );
    let pinned = watch(
        "watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=9",
    );
    assert_eq!(
        pinned.start(),
        WatchStart::InitialEvents {
            not_older_than: Some(9)
        }
    );
    let without = watch("watch=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan");
    assert_eq!(without.start(), WatchStart::Now);
}

#[test]
fn streaming_lists_are_refused_when_not_served() {
    check_list_error(
        "allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&sendInitialEvents=true&watch=true",
        false,
        422,
        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
    );
}

#[test]
fn list_option_validation_errors_are_422_with_exact_causes() {
    let prefix = "ListOptions.meta.k8s.io \"\" is invalid: ";
    let cases = [
        ("resourceVersionMatch=NotOlderThan", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"),
        ("resourceVersion=0&resourceVersionMatch=Exact", "resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""),
        ("resourceVersion=1&resourceVersionMatch=Newest", "resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\", \"\""),
        ("sendInitialEvents=true", "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
        ("resourceVersion=1&resourceVersionMatch=Exact&continue=abc", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"),
        ("watch=true&sendInitialEvents=true", "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
        ("watch=true&resourceVersionMatch=NotOlderThan", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"),
        ("watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&continue=x", "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"),
    ];
    for (raw, cause) in cases {
        check_list_error(raw, true, 422, &format!("{prefix}{cause}"));
    }
    check_list_error(
        "watch=true&sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=3",
        true,
        422,
        &format!("{prefix}[resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]"),
    );
}

#[test]
fn validation_errors_name_list_options_in_details() {
    let error = ListRequest::parse(&query("sendInitialEvents=true"), &IMAGE_STREAM_FIELDS, true)
        .unwrap_err();
    let status = error.status();
    assert_eq!(status["details"]["kind"], "ListOptions");
    assert_eq!(status["details"]["group"], "meta.k8s.io");
    assert_eq!(status["details"]["causes"][0]["field"], "sendInitialEvents");
}

#[test]
fn malformed_parameters_are_bad_requests() {
    check_list_error(
        "limit=-1",
        true,
        400,
        "limit: Invalid value: -1: must be greater than or equal to 0",
    );
    check_list_error(
        "limit=ten",
        true,
        400,
        "strconv.ParseInt: parsing \"ten\": invalid syntax",
    );
    check_list_error(
        "timeoutSeconds=99999999999999999999",
        true,
        400,
        "strconv.ParseInt: parsing \"99999999999999999999\": value out of range",
    );
    check_list_error("resourceVersion=abc", true, 400, "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax");
    check_list_error(
        "labelSelector=a%20b",
        true,
        400,
        "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'",
    );
    check_list_error("fieldSelector=spec.foo%3Dbar", true, 400, "\"spec.foo\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\"");
}

#[test]
fn option_validation_precedes_the_field_check() {
    check_list_error(
        "fieldSelector=spec.foo%3Dbar&sendInitialEvents=true",
        true,
        422,
        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
    );
}

#[test]
fn continue_tokens_round_trip() {
    let token = ContinueToken {
        rv: 1234,
        start: "ns/demo".into(),
    };
    let encoded = token.encode();
    assert!(!encoded.contains(['+', '/', '=']), "{encoded}");
    assert_eq!(ContinueToken::decode(&encoded).unwrap(), token);
    let paged = list(&format!("limit=1&continue={encoded}&resourceVersion=0"));
    assert_eq!(
        (paged.limit, paged.read),
        (Some(1), ListRead::Continue(token))
    );
}

#[test]
fn malformed_continue_tokens_are_bad_requests() {
    let encode = |json: &str| TOKEN_BASE64.encode(json);
    let prefix = "invalid continue token: continue key is not valid: ";
    let cases = [
        (
            encode(r#"{"v":"meta.k8s.io/v2","rv":1,"start":"a"}"#),
            "server does not recognize this encoded version meta.k8s.io/v2",
        ),
        (
            encode(r#"{"v":"meta.k8s.io/v1","rv":0,"start":"a"}"#),
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ),
        (
            encode(r#"{"v":"meta.k8s.io/v1","rv":3,"start":""}"#),
            "encoded start key empty (version meta.k8s.io/v1)",
        ),
    ];
    for (token, why) in cases {
        check_error(
            ContinueToken::decode(&token),
            400,
            &format!("{prefix}{why}"),
        );
    }
    for garbage in ["!!!".to_string(), encode("not json")] {
        let error = ContinueToken::decode(&garbage).unwrap_err();
        assert_eq!(error.code(), 400);
        assert!(error.to_string().starts_with(prefix), "{error}");
    }
}

#[test]
fn continue_with_a_resource_version_is_refused() {
    let token = ContinueToken {
        rv: 5,
        start: "a".into(),
    }
    .encode();
    check_list_error(
        &format!("continue={token}&resourceVersion=5"),
        true,
        400,
        "specifying resource version is not allowed when using continue",
    );
}

#[test]
fn get_options_read_the_resource_version() {
    let parse = |raw| GetOptions::parse(&query(raw)).unwrap().resource_version;
    assert_eq!(parse(""), ResourceVersion::Unset);
    assert_eq!(parse("resourceVersion=0"), ResourceVersion::Any);
    assert_eq!(parse("resourceVersion=42"), ResourceVersion::At(42));
    assert!(GetOptions::parse(&query("resourceVersion=-1")).is_err());
}

fn write(raw: &str, verb: WriteVerb) -> Result<WriteOptions, ApiError> {
    WriteOptions::parse(&query(raw), verb)
}

#[test]
fn observed_write_queries_decode() {
    let apply = write(
        "fieldManager=kubectl&fieldValidation=Strict&force=false",
        WriteVerb::Patch(PatchKind::Apply),
    )
    .unwrap();
    assert_eq!(
        (apply.field_manager.as_str(), apply.force, apply.forced()),
        ("kubectl", Some(false), false)
    );
    assert_eq!(apply.field_validation, Some(FieldValidation::Strict));
    let kube_rs = write(
        "&force=true&fieldManager=kube-rs-observe",
        WriteVerb::Patch(PatchKind::Apply),
    )
    .unwrap();
    assert!(kube_rs.forced());
    let dry = write(
        "dryRun=All&fieldManager=kubectl-client-side-apply&fieldValidation=Strict",
        WriteVerb::Patch(PatchKind::Merge),
    )
    .unwrap();
    assert!(dry.dry_run);
    let replace = write(
        "fieldManager=kubectl-replace&fieldValidation=Ignore",
        WriteVerb::Update,
    )
    .unwrap();
    assert_eq!(replace.field_validation, Some(FieldValidation::Ignore));
    assert_eq!(
        write("", WriteVerb::Create).unwrap(),
        WriteOptions::default()
    );
}

#[test]
fn write_option_errors_are_422_of_the_verbs_options_kind() {
    let long = "m".repeat(129);
    let cases = [
        ("dryRun=Some", WriteVerb::Create, "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"Some\"}: supported values: \"All\"".to_string()),
        (&*format!("fieldManager={long}"), WriteVerb::Update, "UpdateOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes".to_string()),
        ("fieldManager=a%07", WriteVerb::Create, "CreateOptions.meta.k8s.io \"\" is invalid: fieldManager: Invalid value: \"a\\u{7}\": invalid character U+0007 (at position 1)".to_string()),
        ("fieldValidation=strict", WriteVerb::Create, "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"strict\": supported values: \"Ignore\", \"Strict\", \"Warn\"".to_string()),
        ("force=false", WriteVerb::Patch(PatchKind::Merge), "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch".to_string()),
        ("force=true", WriteVerb::Patch(PatchKind::Apply), "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".to_string()),
    ];
    for (raw, verb, message) in cases {
        check_error(write(raw, verb), 422, &message);
    }
}

#[test]
fn force_check_is_available_on_its_own() {
    let options = write("force=true&fieldManager=x", WriteVerb::Update).unwrap();
    assert!(options.check_patch(PatchKind::Apply).is_ok());
    check_error(
        options.check_patch(PatchKind::Json),
        422,
        "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be specified for non-apply patch",
    );
}

fn delete(body: &str, raw_query: &str) -> Result<DeleteOptions, ApiError> {
    DeleteOptions::parse(body.as_bytes(), Some("application/json"), &query(raw_query))
}

#[test]
fn an_unsafe_delete_is_asked_in_the_query_or_body_and_refuses_what_it_cannot_honour() {
    let unsafe_query = "ignoreStoreReadErrorWithClusterBreakingPotential=true";
    assert!(delete("", unsafe_query).unwrap().ignore_store_read_error);
    let body = r#"{"ignoreStoreReadErrorWithClusterBreakingPotential":true}"#;
    assert!(delete(body, "").unwrap().ignore_store_read_error);
    assert!(
        !delete("", "ignoreStoreReadErrorWithClusterBreakingPotential=false")
            .unwrap()
            .ignore_store_read_error
    );
    let conflicting = [
        (r#""dryRun":["All"]"#, "dryRun"),
        (r#""propagationPolicy":"Background""#, "propagationPolicy"),
        (r#""orphanDependents":false"#, "orphanDependents"),
        (r#""gracePeriodSeconds":0"#, "gracePeriodSeconds"),
        (r#""preconditions":{"uid":"u"}"#, "preconditions"),
    ];
    for (member, field) in conflicting {
        let body =
            format!(r#"{{"ignoreStoreReadErrorWithClusterBreakingPotential":true,{member}}}"#);
        let error = delete(&body, "").unwrap_err();
        let status = error.status();
        assert_eq!(status["code"], 422, "{status}");
        assert_eq!(status["details"]["causes"][0]["field"], field, "{status}");
        let message = status["details"]["causes"][0]["message"].as_str().unwrap();
        assert!(
            message.ends_with(
                "cannot be set together with ignoreStoreReadErrorWithClusterBreakingPotential"
            ),
            "{message}"
        );
    }
}

#[test]
fn observed_delete_bodies_decode() {
    let background = Some(PropagationPolicy::Background);
    assert_eq!(delete("", "").unwrap(), DeleteOptions::default());
    assert_eq!(delete("{}", "").unwrap(), DeleteOptions::default());
    assert_eq!(
        delete(r#"{"propagationPolicy":"Background"}"#, "")
            .unwrap()
            .propagation_policy,
        background
    );
    let forced = delete(
        r#"{"gracePeriodSeconds":0,"propagationPolicy":"Background"}"#,
        "",
    )
    .unwrap();
    assert_eq!(forced.grace_period_seconds, Some(0));
    let cascade = delete(r#"{"propagationPolicy":"Foreground"}"#, "").unwrap();
    assert_eq!(
        cascade.propagation_policy,
        Some(PropagationPolicy::Foreground)
    );
    let full = delete(r#"{"kind":"DeleteOptions","apiVersion":"v1","dryRun":["All"],"preconditions":{"uid":"u","resourceVersion":"7"}}"#, "").unwrap();
    assert!(full.dry_run);
    assert_eq!(
        full.preconditions,
        Preconditions {
            uid: Some("u".into()),
            resource_version: Some("7".into())
        }
    );
}

#[test]
fn delete_options_come_from_the_query_only_without_a_body() {
    let from_query = delete(
        "",
        "gracePeriodSeconds=0&propagationPolicy=Orphan&dryRun=All",
    )
    .unwrap();
    assert_eq!(
        from_query.propagation_policy,
        Some(PropagationPolicy::Orphan)
    );
    assert!(from_query.dry_run);
    assert!(!delete("{}", "dryRun=All").unwrap().dry_run);
    let yaml = DeleteOptions::parse(
        b"propagationPolicy: Orphan\n",
        Some("application/yaml"),
        &Query::default(),
    );
    assert_eq!(
        yaml.unwrap().propagation_policy,
        Some(PropagationPolicy::Orphan)
    );
}

#[test]
fn invalid_delete_options_are_422() {
    check_error(delete(r#"{"propagationPolicy":"Sideways"}"#, ""), 422,
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Sideways\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"");
    check_error(delete(r#"{"propagationPolicy":"Orphan","orphanDependents":true}"#, ""), 422,
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"Orphan\": orphanDependents and deletionPropagation cannot be both set");
    check_error(delete("", "dryRun=x"), 422,
        "DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{\"x\"}: supported values: \"All\"");
}

#[test]
fn malformed_delete_bodies_are_400() {
    assert_eq!(delete("{", "").unwrap_err().code(), 400);
    assert_eq!(
        delete(r#"{"gracePeriodSeconds":"soon"}"#, "")
            .unwrap_err()
            .code(),
        400
    );
    let protobuf = DeleteOptions::parse(
        b"\x0a\x02k8s",
        Some("application/vnd.kubernetes.protobuf"),
        &Query::default(),
    );
    assert_eq!(protobuf.unwrap_err().code(), 415);
    // An array is not read as preconditions by position (serde would take it as the uid).
    for body in [
        r#"{"preconditions":["nope",null]}"#,
        r#"{"preconditions":[]}"#,
    ] {
        check_error(
            delete(body, ""),
            400,
            "json: cannot unmarshal array into Go struct field DeleteOptions.preconditions of type v1.Preconditions",
        );
    }
}

#[test]
fn preconditions_conflict_with_the_apiserver_wording() {
    let preconditions = Preconditions {
        uid: Some("X".into()),
        resource_version: Some("7".into()),
    };
    assert!(preconditions.check(IMAGE_STREAMS, "demo", "X", "7").is_ok());
    check_error(preconditions.check(IMAGE_STREAMS, "demo", "Y", "7"), 409,
        "Operation cannot be fulfilled on imagestreams.image.openshift.io \"demo\": Precondition failed: UID in precondition: X, UID in object meta: Y");
    check_error(preconditions.check(IMAGE_STREAMS, "demo", "X", "8"), 409,
        "Operation cannot be fulfilled on imagestreams.image.openshift.io \"demo\": Precondition failed: ResourceVersion in precondition: 7, ResourceVersion in object meta: 8");
    assert!(Preconditions::default()
        .check(IMAGE_STREAMS, "demo", "any", "1")
        .is_ok());
}

#[test]
fn a_delete_body_of_another_kind_is_refused() {
    let object =
        r#"{"apiVersion":"image.openshift.io/v1","kind":"ImageStream","metadata":{"name":"x"}}"#;
    let error = delete(object, "").unwrap_err();
    assert!(
        matches!(&error, ApiError::BadRequest(message) if message.contains("the body is a ImageStream")),
        "{error:?}"
    );
    let typed = r#"{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"Orphan"}"#;
    assert_eq!(
        delete(typed, "").unwrap().propagation_policy,
        Some(PropagationPolicy::Orphan)
    );
}
