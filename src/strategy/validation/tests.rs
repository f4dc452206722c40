use super::*;
use crate::strategy::testing::{docker_tag, event, isimage, istag, set_history, stream, tag_from};
use crate::strategy::AllowedRegistry;

fn messages(errors: Vec<FieldError>) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn check_tag(tag: TagReference, expected: &[&str]) {
    let mut s = stream("ns", "s");
    s.spec.tags.push(tag);
    crate::strategy::apply_defaults(&mut s, "Legacy");
    assert_eq!(messages(validate_stream(&s, None)), expected);
}

#[test]
fn tag_sources_are_checked_per_kind() {
    check_tag(docker_tag("t", "quay.io/o/x:1"), &[]);
    check_tag(
        docker_tag("t", ""),
        &["spec.tags[t].from.name: Required value"],
    );
    check_tag(
        docker_tag("t", "abc@badid"),
        &["spec.tags[t].from.name: Invalid value: \"abc@badid\": invalid reference format"],
    );
    check_tag(istag("t", "s:x"), &[]);
    check_tag(tag_from("t", "Other", "x"), &[
        "spec.tags[t].from.kind: Required value: valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'",
    ]);
    check_tag(tag_from("", "Other", ""), &[
        "spec.tags[].from.name: Required value",
        "spec.tags[].from.kind: Required value: valid values are 'DockerImage', 'ImageStreamImage', 'ImageStreamTag'",
    ]);
}

#[test]
fn only_docker_sources_may_be_scheduled() {
    let scheduled = |mut tag: TagReference| {
        tag.import_policy.scheduled = true;
        tag
    };
    check_tag(scheduled(docker_tag("t", "quay.io/o/x:1")), &[]);
    let digest =
        "quay.io/o/x@sha256:3c87c572822935df60f0f5d3665bd376841a7fcfeb806b5f212de6a00e9a7b25";
    check_tag(docker_tag("t", digest), &[]);
    check_tag(
        scheduled(docker_tag("t", digest)),
        &[&format!(
            "spec.tags[t].from.name: Invalid value: \"{digest}\": only tags can be scheduled for import"
        )],
    );
    let detail = "only tags pointing to Docker repositories may be scheduled for background import";
    check_tag(
        scheduled(istag("t", "s:x")),
        &[&format!(
            "spec.tags[t].importPolicy.scheduled: Invalid value: true: {detail}"
        )],
    );
    check_tag(
        scheduled(isimage("t", "s@sha256:x")),
        &[&format!(
            "spec.tags[t].importPolicy.scheduled: Invalid value: true: {detail}"
        )],
    );
}

#[test]
fn policies_must_have_known_values() {
    let mut tag = docker_tag("t", "quay.io/o/x:1");
    tag.reference_policy.type_ = "Remote".into();
    tag.import_policy.import_mode = "Everything".into();
    check_tag(tag, &[
        "spec.tags[t].referencePolicy.type: Invalid value: \"Remote\": valid values are \"Source\", \"Local\"",
        "spec.tags[t].importPolicy.importMode: Invalid value: \"Everything\": invalid import mode, valid modes are '', 'Legacy', 'PreserveOriginal'",
    ]);
}

#[test]
fn tag_names_and_lookup_policy_are_not_validated() {
    for name in ["", "Has Space", "a:b", "x/y", "UPPER"] {
        check_tag(docker_tag(name, "quay.io/o/x:1"), &[]);
    }
}

fn check_repository(repository: &str, expected: &[&str]) {
    let mut s = stream("ns", "s");
    s.spec.docker_image_repository = repository.to_string();
    assert_eq!(
        messages(validate_stream(&s, None)),
        expected,
        "{repository}"
    );
}

#[test]
fn spec_repository_must_be_a_bare_repository() {
    check_repository("quay.io/o/x", &[]);
    check_repository("quay.io/o/x:1", &["spec.dockerImageRepository: Invalid value: \"quay.io/o/x:1\": the repository name may not contain a tag"]);
    let digest = crate::strategy::testing::digest('a');
    let with_id = format!("quay.io/o/x@{digest}");
    check_repository(&with_id, &[&format!("spec.dockerImageRepository: Invalid value: {with_id:?}: the repository name may not contain an ID")]);
    check_repository("quay.io/o/x@sha256:bad", &["spec.dockerImageRepository: Invalid value: \"quay.io/o/x@sha256:bad\": invalid reference format"]);
    check_repository("Quay", &["spec.dockerImageRepository: Invalid value: \"Quay\": repository name must be lowercase"]);
}

#[test]
fn status_references_must_be_present_and_parse() {
    let mut s = stream("ns", "s");
    set_history(
        &mut s,
        "t",
        vec![
            event("quay.io/o/x:1", "", 1),
            event("", "", 1),
            event("Bad", "", 1),
        ],
    );
    assert_eq!(messages(validate_stream(&s, None)), [
        "status.tags[t].items[1].dockerImageReference: Required value",
        "status.tags[t].items[2].dockerImageReference: Invalid value: \"Bad\": repository name must be lowercase",
    ]);
}

fn allowed(domains: &[&str]) -> Config {
    Config {
        internal_registry_hostname: "int:5000".into(),
        allowed_registries: Some(
            domains
                .iter()
                .map(|d| AllowedRegistry {
                    domain_name: d.to_string(),
                    insecure: false,
                })
                .collect(),
        ),
        ..Config::default()
    }
}

#[test]
fn whitelist_forbids_sources_repositories_and_status_references() {
    let mut s = stream("ns", "s");
    s.spec.docker_image_repository = "evil.io/o/x".into();
    s.spec.tags = vec![
        docker_tag("a", "quay.io/o/x:1"),
        docker_tag("b", "evil.io/o/x:1"),
    ];
    set_history(
        &mut s,
        "a",
        vec![
            event("evil.io/o/x:2", "", 1),
            event("int:5000/ns/s:1", "", 1),
        ],
    );
    crate::strategy::apply_defaults(&mut s, "Legacy");
    let whitelist = whitelist_for(&allowed(&["quay.io"]), None);
    let denied =
        "Forbidden: registry \"evil.io\" not allowed by whitelist: \"int:5000\", \"quay.io:443\"";
    assert_eq!(
        messages(validate_stream(&s, whitelist.as_ref())),
        [
            format!("spec.dockerImageRepository: {denied}"),
            format!("spec.tags[b].from.name: {denied}"),
            format!("status.tags[a].items[0].dockerImageReference: {denied}"),
        ]
    );
    let old = s.clone();
    let whitelist = whitelist_for(&allowed(&["quay.io"]), Some(&old));
    assert!(validate_stream(&s, whitelist.as_ref()).is_empty());
}

#[test]
fn insecure_tags_are_admitted_over_either_transport() {
    let mut tag = docker_tag("a", "plain.io/o/x:1");
    let config = Config {
        allowed_registries: Some(vec![AllowedRegistry {
            domain_name: "plain.io".into(),
            insecure: true,
        }]),
        ..Config::default()
    };
    let mut s = stream("ns", "s");
    s.spec.tags.push(tag.clone());
    crate::strategy::apply_defaults(&mut s, "Legacy");
    assert_eq!(
        validate_stream(&s, whitelist_for(&config, None).as_ref()).len(),
        1
    );
    tag.import_policy.insecure = true;
    s.spec.tags = vec![tag];
    crate::strategy::apply_defaults(&mut s, "Legacy");
    assert!(validate_stream(&s, whitelist_for(&config, None).as_ref()).is_empty());
}

#[test]
fn status_writes_check_only_new_references() {
    let mut old = stream("ns", "s");
    set_history(&mut old, "t", vec![event("Legacy Bad", "", 1)]);
    let mut new = old.clone();
    set_history(
        &mut new,
        "t",
        vec![
            event("evil.io/o/x:2", "", 0),
            event("", "", 0),
            event("Legacy Bad", "", 1),
        ],
    );
    let whitelist = whitelist_for(&allowed(&["quay.io"]), None);
    assert_eq!(messages(validate_status_update(&new, &old, whitelist.as_ref())), [
        "status.tags[t].items[0].dockerImageReference: Forbidden: registry \"evil.io\" not allowed by whitelist: \"int:5000\", \"quay.io:443\"",
        "status.tags[t].items[1].dockerImageReference: Invalid value: \"\": repository name must have at least one component",
    ]);
}
