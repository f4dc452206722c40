use serde_json::json;

use super::*;

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).unwrap()
}

fn image(name: &str, created: i64, children: &[&str]) -> StoredImage {
    StoredImage {
        name: name.into(),
        last_used: Some(at(created)),
        children: children.iter().map(|c| c.to_string()).collect(),
        revision: 1,
        finalized: false,
    }
}

fn names(images: Vec<&StoredImage>) -> Vec<&str> {
    images.iter().map(|image| image.name.as_str()).collect()
}

#[test]
fn images_no_status_item_names_and_old_enough_are_pruned() {
    let referenced: HashSet<String> = ["kept".to_string(), "index".to_string()].into();
    let images = [
        image("kept", 0, &[]),
        image("dropped", 0, &[]),
        image("index", 0, &["child"]),
        image("child", 0, &[]),
        image("young", 100, &[]),
        StoredImage {
            last_used: None,
            ..image("undated", 0, &[])
        },
        StoredImage {
            finalized: true,
            ..image("finalized", 0, &[])
        },
    ];
    assert_eq!(
        names(unreferenced(&referenced, &images, at(50))),
        ["dropped"],
        "a referenced index keeps its children; young, undated and finalized images stay"
    );
    let none = HashSet::new();
    assert_eq!(
        names(unreferenced(&none, &images, at(50))),
        ["kept", "dropped", "index", "child"],
        "an unreferenced index no longer keeps its children"
    );
}

#[test]
fn a_stream_references_every_image_of_its_status_history() {
    let stream = json!({"status": {"tags": [
        {"tag": "a", "items": [{"image": "sha256:new"}, {"image": "sha256:old"}]},
        {"tag": "b", "items": [{"image": "sha256:b"}], "conditions": []},
        {"tag": "c"}
    ]}});
    let mut referenced = HashSet::new();
    referenced_by(&stream, &mut referenced);
    referenced_by(&json!({"spec": {}}), &mut referenced);
    let mut listed: Vec<&str> = referenced.iter().map(String::as_str).collect();
    listed.sort();
    assert_eq!(listed, ["sha256:b", "sha256:new", "sha256:old"]);
}

#[test]
fn a_stored_image_is_read_with_its_creation_time_and_children() {
    let document = json!({"metadata": {"name": "sha256:i", "creationTimestamp": "1970-01-01T00:01:40Z"},
                          "dockerImageManifests": [{"digest": "sha256:c1"}, {"digest": "sha256:c2"}]});
    assert_eq!(
        StoredImage::of(&document, 7),
        StoredImage {
            name: "sha256:i".into(),
            last_used: Some(at(100)),
            children: vec!["sha256:c1".into(), "sha256:c2".into()],
            revision: 7,
            finalized: false,
        }
    );
    let held = json!({"metadata": {"name": "x", "finalizers": ["example.com/hold"]}});
    assert!(StoredImage::of(&held, 1).finalized);
    let undated = StoredImage::of(&json!({"metadata": {"name": "x"}}), 1);
    assert_eq!(undated.last_used, None);
}

/// An old image an import found again (and marked before recording it) is as young as that
/// import: a pass that read it after the mark keeps it whatever its streams said a moment ago.
#[test]
fn an_image_an_import_found_again_is_aged_from_then() {
    let document = |annotation: &str| {
        json!({"metadata": {"name": "sha256:i", "creationTimestamp": "1970-01-01T00:01:40Z",
                            "annotations": {crate::importer::image::LAST_IMPORTED_ANNOTATION: annotation}}})
    };
    let found_again = StoredImage::of(&document("1970-01-01T00:16:40Z"), 1);
    assert_eq!(found_again.last_used, Some(at(1_000)));
    let none = HashSet::new();
    let images = [found_again, StoredImage::of(&document("garbage"), 1)];
    assert_eq!(
        names(unreferenced(&none, &images, at(500))),
        ["sha256:i"],
        "only the one without a readable mark is old enough"
    );
    assert_eq!(
        images[1].last_used,
        Some(at(100)),
        "an unreadable mark counts for nothing"
    );
}
