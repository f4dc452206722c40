use super::Missing;
use crate::api::ImageStream;
use crate::resolve::fixtures::*;
use crate::resolve::ResolvedVia::PullThrough;
use crate::resolve::{CompactStream, ObjectRef};

fn check_kind(stream: ImageStream, expected: Missing) {
    let compacted = CompactStream::from(&stream);
    assert_eq!(Missing::of(&compacted, "9"), expected, "{:?}", stream.spec);
}

#[test]
fn each_way_a_tag_lacks_an_image_is_told_apart_and_the_spec_tag_decides() {
    let m = "quay.io/o/m:9";
    let cases = [
        (local_mysql().importing("8", m), Missing::NoSuchTag),
        (local_mysql().importing("9", m), Missing::NotImported),
        (
            local_mysql().importing("9", m).empty_history("9"),
            Missing::NotImported,
        ),
        // reference: false now, so the importer replaces the old reference-only event.
        (
            local_mysql().importing("9", m).event("9", m, ""),
            Missing::NotImported,
        ),
        (
            local_mysql().importing("9", m).import_failed("9"),
            Missing::ImportFailed,
        ),
        (local_mysql().reference_tag("9", m), Missing::ReferenceOnly),
        (
            local_mysql().reference_tag("9", m).event("9", m, ""),
            Missing::ReferenceOnly,
        ),
        (
            local_mysql().reference_tag("9", m).importing("9", m),
            Missing::NotImported,
        ),
        (
            local_mysql().importing("9", m).reference_tag("9", m),
            Missing::ReferenceOnly,
        ),
        (
            local_mysql().importing("8", m).tracking("9", "8", ""),
            Missing::Follows,
        ),
        (
            local_mysql().tracking("9", "8", ""),
            Missing::FollowsAbsentTag,
        ),
        (
            local_mysql().event("8", m, D).tracking("9", "mysql:8", ""),
            Missing::Follows,
        ),
        (
            local_mysql().spec_from("9", "ImageStreamImage", "m@sha256:ab"),
            Missing::Follows,
        ),
        (local_mysql().spec_tag("9", LOCAL), Missing::NoSource),
        (
            local_mysql().spec_from("9", "Image", "x"),
            Missing::NoSource,
        ),
        (local_mysql().empty_history("9"), Missing::NoEvents),
        (local_mysql().event("9", m, ""), Missing::ReferenceOnly),
    ];
    for (stream, expected) in cases {
        check_kind(stream, expected);
    }
}

/// Resolves `mysql:9` in `stream` and checks it pulls through, with this reason.
fn check_missing(stream: ImageStream, expected: &str) {
    let resolution = run(&[stream], ObjectRef::docker_image("mysql:9"), false);
    assert_eq!(
        resolution.outcome,
        ok(&format!("{H}/ns/mysql:9"), true, PullThrough)
    );
    assert_eq!(resolution.reason, expected);
}

#[test]
fn pull_through_reasons_say_how_the_tag_lacks_an_image_and_what_gives_it_one() {
    let pulled = format!(
        "so it is pulled by tag through the integrated registry as {H}/ns/mysql:9 (allowed \
         by lookupPolicy.local=true)"
    );
    let of = "tag \"9\" of imagestream ns/mysql";
    let imported = local_mysql()
        .importing("8", "quay.io/o/m:8")
        .event("8", "m:8", D);
    let cases = [
        (
            imported.clone().event("latest", "m:l", D2),
            format!("imagestream ns/mysql has no tag \"9\" (its tags: \"8\", \"latest\"), {pulled}; check the tag name, or add the tag to spec.tags"),
        ),
        (
            imported.clone().importing("9", "quay.io/o/m:9"),
            format!("{of} is in spec.tags but not imported yet, {pulled}; wait for the import, or check that the importer runs and can pull the spec tag's from.name"),
        ),
        (
            imported.clone().importing("9", "quay.io/o/m:9").import_failed("9"),
            format!("{of} is in spec.tags but its import failed, {pulled}; the ImportSuccess condition of its status.tags entry says why; once that is fixed it is imported at the next retry, or at once when the tag's generation is set to 0"),
        ),
        (
            imported.clone().reference_tag("9", "quay.io/o/m:9").event("9", "quay.io/o/m:9", ""),
            format!("{of} only references \"quay.io/o/m:9\" without an image id (reference: true tags are never imported), {pulled}; set reference: false on the spec tag to import it and pin a digest"),
        ),
        (
            imported.clone().reference_tag("9", "quay.io/o/m:9"),
            format!("{of} has no image id (reference: true tags are never imported), {pulled}; set reference: false on the spec tag to import it and pin a digest"),
        ),
        (
            imported.clone().importing("10", "quay.io/o/m:10").tracking("9", "10", ""),
            format!("{of} follows imagestreamtag \"10\" and has no image copied from it yet, {pulled}; it gets one as soon as tag \"10\" has an image, so check that tag"),
        ),
        (
            imported.clone().reference_tag("10", "quay.io/o/m:10").event("10", "quay.io/o/m:10", "").tracking("9", "10", "").event("9", "quay.io/o/m:10", ""),
            format!("{of} follows imagestreamtag \"10\" and has no image copied from it yet, {pulled}; tag \"10\" is reference-only, so it has no image to copy; set reference: false on tag \"10\" to import it and pin a digest"),
        ),
        (
            imported.clone().tracking("9", "10", ""),
            format!("{of} follows tag \"10\", which the stream does not have (its tags: \"8\", \"9\"), {pulled}; add that tag to spec.tags, or point the spec tag's from at a tag the stream has"),
        ),
        (
            imported.clone().importing("10", "quay.io/o/m:10").tracking("9", "mysql:10", ""),
            format!("{of} follows imagestreamtag \"mysql:10\" and has no image copied from it yet, {pulled}; it gets one as soon as tag \"10\" has an image, so check that tag"),
        ),
        (
            imported.clone().tracking("9", "php:8", ""),
            format!("{of} follows imagestreamtag \"php:8\" and has no image copied from it yet, {pulled}; imagestreamtag \"php:8\" is copied only when the spec tag changes, so once it has an image, tag it again"),
        ),
        (
            imported.clone().spec_from("9", "ImageStreamImage", "php@sha256:abc"),
            format!("{of} follows imagestreamimage \"php@sha256:abc\" and has no image copied from it yet, {pulled}; imagestreamimage \"php@sha256:abc\" is copied only when the spec tag changes, so once it has an image, tag it again"),
        ),
        (
            imported.clone().spec_tag("9", ""),
            format!("{of} has no image, and its spec tag has no from to import or copy one, {pulled}; give the spec tag a from: a DockerImage to import, or an ImageStreamTag to follow"),
        ),
        (
            imported.clone().empty_history("9"),
            format!("{of} has no image yet (its status entry has no events), {pulled}; its conditions in status.tags may say why; add the tag to spec.tags to import it"),
        ),
        (
            imported.event("9", "quay.io/o/m:9", ""),
            format!("{of} only references \"quay.io/o/m:9\" without an image id (reference: true tags are never imported), {pulled}; set reference: false on the spec tag to import it and pin a digest"),
        ),
    ];
    for (stream, expected) in cases {
        check_missing(stream, &expected);
    }
}

#[test]
fn a_copy_from_another_namespace_is_named_with_its_namespace() {
    let mut stream = local_mysql().tracking("9", "mysql:9", "");
    let from = stream.spec.tags[0].from.as_mut().unwrap();
    from.namespace = Some("base".to_string());
    let reason = run(&[stream], ObjectRef::docker_image("mysql:9"), false).reason;
    let expected = "follows imagestreamtag \"base/mysql:9\" and has no image copied from it yet, so it is pulled";
    assert!(reason.contains(expected), "{reason}");
    let advice = "; imagestreamtag \"base/mysql:9\" is copied only when the spec tag changes";
    assert!(reason.contains(advice), "{reason}");
}

#[test]
fn a_missing_tag_lists_spec_tags_then_status_only_tags_up_to_eight() {
    let mut stream = local_mysql().event("pushed", "quay.io/o/m:p", D);
    for n in 0..9 {
        stream = stream.importing(&format!("t{n}"), "quay.io/o/m:t");
    }
    let reason = run(&[stream], ObjectRef::docker_image("mysql:9"), false).reason;
    let listed =
        "(its tags: \"t0\", \"t1\", \"t2\", \"t3\", \"t4\", \"t5\", \"t6\", \"t7\" and 2 more)";
    assert!(reason.contains(listed), "{reason}");
    let few = local_mysql()
        .event("pushed", "quay.io/o/m:p", D)
        .importing("8", "quay.io/o/m:8")
        .event("8", "m:8", D);
    let reason = run(&[few], ObjectRef::docker_image("mysql:9"), false).reason;
    assert!(reason.contains("(its tags: \"8\", \"pushed\")"), "{reason}");
}

#[test]
fn a_reference_only_newest_event_gives_its_pull_spec_and_any_other_tag_none() {
    let m = "quay.io/o/m:9";
    let digest = "sha256:0000000000000000000000000000000000000000000000000000000000000009";
    let streams: crate::resolve::Index = [
        local_mysql().reference_tag("9", m).event("9", m, ""),
        local_mysql().importing("8", m).event("8", m, digest),
    ]
    .into_iter()
    .map(|stream| {
        let mut stream = stream;
        let tag = stream.spec.tags[0].name.clone();
        stream.metadata.name = Some(format!("mysql-{tag}"));
        stream
    })
    .collect();
    let found =
        |stream: &str, tag: &str| super::reference_only_pull_spec(&streams, "ns", stream, tag);
    assert_eq!(found("mysql-9", "9").as_deref(), Some(m));
    assert_eq!(found("mysql-8", "8"), None, "an event naming an image");
    assert_eq!(found("mysql-9", "10"), None, "no such tag");
    assert_eq!(found("other", "9"), None, "no such stream");
}
