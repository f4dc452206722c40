use super::*;
use crate::api::TagEventCondition;
use crate::strategy::status_list_mut;
use crate::strategy::testing::{
    digest, docker_tag, earlier, event, history, isimage, istag, now, set_history, stream, with_ctx,
};
use crate::strategy::Config;

type History = Vec<(&'static str, Vec<TagEvent>)>;

/// Runs the processing for `tags` over `existing` history; `previous` is the old spec (None on create).
fn run(
    tags: Vec<TagReference>,
    previous: Option<Vec<TagReference>>,
    existing: History,
    others: Vec<ImageStream>,
    config: &Config,
) -> (ImageStream, Vec<String>) {
    let mut new = stream("ns", "stream");
    new.metadata.generation = Some(1);
    new.spec.tags = tags;
    for (tag, items) in existing {
        set_history(&mut new, tag, items);
    }
    let old = previous.map(|tags| {
        let mut old = new.clone();
        old.spec.tags = tags;
        old
    });
    let errors = with_ctx(config, others, true, |ctx| {
        compute_status_tags(&mut new, old.as_ref(), ctx, &[])
    });
    (new, errors.iter().map(ToString::to_string).collect())
}

fn ok(
    tags: Vec<TagReference>,
    previous: Option<Vec<TagReference>>,
    existing: History,
) -> ImageStream {
    let (s, errors) = run(tags, previous, existing, vec![], &Config::default());
    assert!(errors.is_empty(), "{errors:?}");
    s
}

fn reference(mut tag: TagReference) -> TagReference {
    tag.reference = true;
    tag
}

fn refs(s: &ImageStream, tag: &str) -> Vec<(String, String)> {
    history(s, tag)
        .into_iter()
        .map(|(r, i, _)| (r, i))
        .collect()
}

fn pair(reference: &str, image: &str) -> (String, String) {
    (reference.to_string(), image.to_string())
}

#[test]
fn docker_sources_record_an_event_only_for_reference_tags() {
    let s = ok(
        vec![
            reference(docker_tag("t1", "reg:5000/ns/stream:t1")),
            docker_tag("t2", "quay.io/o/x:1"),
        ],
        None,
        vec![],
    );
    assert_eq!(refs(&s, "t1"), [pair("reg:5000/ns/stream:t1", "")]);
    assert_eq!(s.latest_event("t1").unwrap().created, Time(now()));
    assert!(s.status_tag("t2").is_none());
}

#[test]
fn tags_without_source_and_unchanged_tags_are_ignored() {
    let s = ok(
        vec![TagReference {
            name: "t1".into(),
            ..Default::default()
        }],
        None,
        vec![],
    );
    assert!(s.status.as_ref().is_none_or(|st| st.tags.is_empty()));
    let tags = vec![reference(docker_tag("t1", "v1image1"))];
    let s = ok(
        tags.clone(),
        Some(tags),
        vec![("t1", vec![event("reg/ns/stream:v1image1", "v1image1", 1)])],
    );
    assert_eq!(refs(&s, "t1"), [pair("reg/ns/stream:v1image1", "v1image1")]);
}

#[test]
fn new_tag_events_collapse_into_existing_history() {
    let e3 = digest('e');
    let s = ok(
        vec![
            reference(docker_tag("t1", "reg/ns/stream:v1image1")),
            reference(docker_tag("t2", "reg/ns/stream:v1image1")),
            reference(docker_tag("t3", &format!("@{e3}"))),
        ],
        Some(vec![
            docker_tag("t1", "t1"),
            docker_tag("t3", &format!("@{e3}")),
        ]),
        vec![
            ("t1", vec![event("reg/ns/stream:v1image1", "v1image1", 1)]),
            ("t3", vec![event(&format!("reg/ns/stream@{e3}"), &e3, 1)]),
        ],
    );
    assert_eq!(refs(&s, "t1"), [pair("reg/ns/stream:v1image1", "")]);
    assert_eq!(refs(&s, "t2"), [pair("reg/ns/stream:v1image1", "")]);
    assert_eq!(
        refs(&s, "t3"),
        [
            pair(&format!("@{e3}"), ""),
            pair(&format!("reg/ns/stream@{e3}"), &e3)
        ]
    );
}

#[test]
fn stream_tags_copy_the_newest_event_keeping_its_created_time() {
    let e3 = digest('e');
    let s = ok(
        vec![istag("t1", "stream:other")],
        None,
        vec![("other", vec![event(&format!("reg/ns/stream@{e3}"), &e3, 1)])],
    );
    assert_eq!(refs(&s, "t1"), [pair(&format!("reg/ns/stream@{e3}"), &e3)]);
    assert_eq!(s.latest_event("t1").unwrap().created, earlier());
    let s = ok(vec![istag("t1", "missing")], None, vec![]);
    assert!(
        s.status_tag("t1").is_none(),
        "a source without status is not an error"
    );
}

#[test]
fn tag_changes_and_referenced_tag_should_react() {
    let (e3, a2) = (digest('e'), digest('a'));
    let at = |d: &str| format!("reg:5000/ns/stream@{d}");
    let s = ok(
        vec![
            isimage("t1", &format!("stream@{e3}")),
            istag("t2", "stream:t1"),
        ],
        Some(vec![istag("t1", "stream:other"), istag("t2", "stream:t1")]),
        vec![
            (
                "other",
                vec![event(&at(&a2), &a2, 1), event(&at(&e3), &e3, 1)],
            ),
            ("t1", vec![event(&at(&a2), &a2, 1)]),
            ("t2", vec![event(&at(&a2), &a2, 1)]),
        ],
    );
    for tag in ["t1", "t2"] {
        assert_eq!(
            refs(&s, tag),
            [pair(&at(&e3), &e3), pair(&at(&a2), &a2)],
            "{tag}"
        );
    }
    assert_eq!(s.latest_event("t1").unwrap().created, Time(now()));
}

#[test]
fn stream_images_match_ids_and_legacy_ids() {
    let e3 = digest('e');
    let s = ok(
        vec![isimage("t1", &format!("stream@{e3}"))],
        None,
        vec![("other", vec![event(&format!("reg/ns/stream@{e3}"), &e3, 1)])],
    );
    assert_eq!(refs(&s, "t1"), [pair(&format!("reg/ns/stream@{e3}"), &e3)]);
    let s = ok(
        vec![isimage("t1", "stream@12345")],
        None,
        vec![("other", vec![event("reg/ns/stream:12345", "12345", 1)])],
    );
    assert_eq!(refs(&s, "t1"), [pair("reg/ns/stream:12345", "12345")]);
}

#[test]
fn stream_tags_in_other_streams_are_looked_up() {
    let e3 = digest('e');
    let mut other = stream("ns", "other");
    set_history(
        &mut other,
        "other",
        vec![event(&format!("reg/ns/other@{e3}"), &e3, 5)],
    );
    let (s, errors) = run(
        vec![istag("t1", "other:other")],
        None,
        vec![],
        vec![other],
        &Config::default(),
    );
    assert!(errors.is_empty());
    assert_eq!(history(&s, "t1"), [(format!("reg/ns/other@{e3}"), e3, 1)]);
}

#[test]
fn integrated_registry_copies_are_rewritten_to_this_stream() {
    let e3 = digest('e');
    let mut other = stream("shared", "base");
    set_history(
        &mut other,
        "v1",
        vec![event(&format!("int:5000/shared/base@{e3}"), &e3, 1)],
    );
    set_history(
        &mut other,
        "v2",
        vec![event(&format!("quay.io/shared/base@{e3}"), &e3, 1)],
    );
    let config = Config {
        internal_registry_hostname: "int:5000".into(),
        ..Config::default()
    };
    let from = |name: &str, source: &str| {
        let mut tag = istag(name, source);
        tag.from.as_mut().unwrap().namespace = Some("shared".into());
        tag
    };
    let tags = vec![
        from("a", "base:v1"),
        reference(from("b", "base:v1")),
        from("c", "base:v2"),
    ];
    let (s, errors) = run(tags, None, vec![], vec![other], &config);
    assert!(errors.is_empty());
    assert_eq!(refs(&s, "a")[0].0, format!("int:5000/ns/stream@{e3}"));
    assert_eq!(refs(&s, "b")[0].0, format!("int:5000/shared/base@{e3}"));
    assert_eq!(refs(&s, "c")[0].0, format!("quay.io/shared/base@{e3}"));
}

#[test]
fn copying_within_the_stream_stamps_the_source_generation() {
    let mut new = stream("ns", "stream");
    new.metadata.generation = Some(2);
    new.spec.tags = vec![istag("copy", "src")];
    set_history(&mut new, "src", vec![event("quay.io/o/x:1", "i", 1)]);
    let errors = with_ctx(&Config::default(), vec![], true, |ctx| {
        compute_status_tags(&mut new, None, ctx, &[])
    });
    assert!(errors.is_empty());
    assert_eq!(new.latest_event("copy").unwrap().generation, 2);
    assert_eq!(new.latest_event("src").unwrap().generation, 2);
}

#[test]
fn tracking_reacts_on_create_to_every_non_empty_tag() {
    let s = ok(
        vec![
            reference(docker_tag("base", "quay.io/o/x:1")),
            istag("follow", "base"),
        ],
        None,
        vec![],
    );
    assert_eq!(refs(&s, "follow"), [pair("quay.io/o/x:1", "")]);
}

#[test]
fn tracking_ignores_status_tags_unchanged_since_the_old_stream() {
    let tags = vec![istag("follow", "base"), docker_tag("base", "quay.io/o/x:1")];
    let s = ok(
        tags.clone(),
        Some(tags),
        vec![("base", vec![event("quay.io/o/x@sha256:1", "i", 1)])],
    );
    assert!(s.status_tag("follow").is_none());
}

#[test]
fn tracking_tags_carry_the_first_condition_of_the_tag_they_follow() {
    let tags = vec![istag("follow", "base"), docker_tag("base", "quay.io/o/x:1")];
    let failed = TagEventCondition {
        type_: "ImportSuccess".into(),
        status: "False".into(),
        reason: "NotFound".into(),
        message: "gone".into(),
        generation: 1,
        ..TagEventCondition::default()
    };
    let mut old = stream("ns", "s");
    old.spec.tags = tags.clone();
    set_history(
        &mut old,
        "base",
        vec![event("quay.io/o/x@sha256:1", "i", 1)],
    );
    set_history(
        &mut old,
        "follow",
        vec![event("quay.io/o/x@sha256:1", "i", 1)],
    );
    let mut new = old.clone();
    status_list_mut(&mut new, "base").conditions = vec![failed.clone()];
    with_ctx(&Config::default(), vec![], true, |ctx| {
        compute_status_tags(&mut new, Some(&old), ctx, &[])
    });
    let follow = new.status_tag("follow").unwrap();
    assert_eq!(follow.conditions, [failed]);
    assert_eq!(follow.items.len(), 1, "its history stays");

    let cleared = new.clone();
    let mut again = new.clone();
    status_list_mut(&mut again, "base").conditions.clear();
    with_ctx(&Config::default(), vec![], true, |ctx| {
        compute_status_tags(&mut again, Some(&cleared), ctx, &[])
    });
    assert!(again.status_tag("follow").unwrap().conditions.is_empty());
}

#[test]
fn tag_processing_errors_name_the_source() {
    let e = |tag: TagReference| {
        run(
            vec![tag],
            None,
            vec![(
                "a",
                vec![event("r1", &digest('e'), 1), event("r2", &digest('f'), 1)],
            )],
            vec![],
            &Config::default(),
        )
        .1
    };
    assert_eq!(e(isimage("t", "stream@sha256:0")), [
        "spec.tags[t].from.name: Invalid value: \"stream@sha256:0\": error generating tag event: imagestreamimage.image.openshift.io \"sha256:0\" not found",
    ]);
    let ambiguous = e(isimage("t", "sha256:"));
    assert!(
        ambiguous[0].contains("multiple images match the prefix \"sha256:\""),
        "{ambiguous:?}"
    );
    assert_eq!(
        e(istag("t", "a:b:c")),
        [format!(
            "spec.tags[t].from.name: Invalid value: \"a:b:c\": {FROM_NAME_FORM}"
        )]
    );
    assert_eq!(
        e(istag("t", "nowhere:latest")),
        ["spec.tags[t].from.name: Not found: \"nowhere:latest\""]
    );
    assert_eq!(
        e(crate::strategy::testing::tag_from("t", "Other", "x")),
        [format!(
            "spec.tags[t].from.name: Invalid value: \"x\": {FROM_NAME_FORM}"
        )]
    );
    assert_eq!(
        e(docker_tag("t", "")),
        [format!(
            "spec.tags[t].from.name: Invalid value: \"\": {FROM_NAME_FORM}"
        )]
    );
}

#[test]
fn errors_are_wrapped_in_one_internal_error_and_a_refused_source_is_not_looked_up() {
    let mut new = stream("ns", "app");
    new.metadata.generation = Some(1);
    let mut foreign = istag("x", "base:v1");
    foreign.from.as_mut().unwrap().namespace = Some("other".into());
    new.spec.tags = vec![isimage("a", "nope"), isimage("b", "nope"), foreign];
    let wrapped = with_ctx(&Config::default(), vec![], false, |ctx| {
        process_tags(&mut new, None, ctx)
    })
    .unwrap();
    assert_eq!(wrapped.kind.cause_reason(), "InternalError");
    assert_eq!(wrapped.field, "");
    assert_eq!(
        wrapped.body(),
        "Internal error: imagestreams \"app\" is invalid: [spec.tags[x].from: Forbidden: other/base: \"\" \"\", \
         spec.tags[a].from.name: Invalid value: \"nope\": error generating tag event: imagestreamimage.image.openshift.io \"nope\" not found, \
         spec.tags[b].from.name: Invalid value: \"nope\": error generating tag event: imagestreamimage.image.openshift.io \"nope\" not found]"
    );
}
