use serde_json::json;

use super::*;

/// A stream whose tags have items created at the given seconds, newest first.
fn stream(tags: &[(&str, &[i64])]) -> ImageStream {
    let tags: Vec<_> = tags
        .iter()
        .map(|(tag, times)| {
            let items: Vec<_> = times
                .iter()
                .map(|&second| {
                    json!({
                        "created": jiff::Timestamp::from_second(second).unwrap().to_string(),
                        "dockerImageReference": format!("quay.io/org/{tag}@sha256:{second:064}"),
                        "image": format!("sha256:{second:064}"),
                        "generation": 1,
                    })
                })
                .collect();
            json!({"tag": tag, "items": items})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"namespace": "ns", "name": "app"},
        "status": {"dockerImageRepository": "", "tags": tags},
    }))
    .unwrap()
}

/// Each tag's items, as their creation seconds.
fn history(stream: &ImageStream) -> Vec<(String, Vec<i64>)> {
    let tags = &stream.status.as_ref().unwrap().tags;
    tags.iter()
        .map(|list| {
            let seconds = list.items.iter().map(|e| e.created.0.as_second()).collect();
            (list.tag.clone(), seconds)
        })
        .collect()
}

fn len(stream: &ImageStream) -> usize {
    serde_json::to_vec(stream).unwrap().len()
}

fn item_len() -> usize {
    let one = stream(&[("a", &[1])]);
    let two = stream(&[("a", &[1, 2])]);
    len(&two) - len(&one)
}

#[test]
fn a_stream_within_the_target_is_left_alone() {
    let mut trimmed = stream(&[("a", &[3, 2, 1])]);
    let before = trimmed.clone();
    assert_eq!(trim_history_to(&mut trimmed, len(&before)), Some(0));
    assert_eq!(trimmed, before);
}

#[test]
fn the_oldest_items_across_tags_go_first_until_the_stream_fits() {
    let mut trimmed = stream(&[("a", &[50, 30, 10]), ("b", &[40, 20, 5])]);
    let target = len(&trimmed) - 2 * item_len() - 1;
    assert_eq!(trim_history_to(&mut trimmed, target), Some(3));
    assert_eq!(
        history(&trimmed),
        [("a".into(), vec![50, 30]), ("b".into(), vec![40])]
    );
    assert!(len(&trimmed) <= target, "{} > {target}", len(&trimmed));
}

#[test]
fn the_size_counted_while_trimming_is_the_trimmed_stream_s_size() {
    let mut trimmed = stream(&[("a", &[9, 8, 7, 6]), ("b", &[5, 4])]);
    let target = len(&trimmed) - 3 * item_len();
    assert_eq!(trim_history_to(&mut trimmed, target), Some(3));
    assert_eq!(len(&trimmed), target);
}

#[test]
fn a_tag_s_newest_item_stays_even_when_it_is_the_oldest_of_the_stream() {
    let mut trimmed = stream(&[("old", &[1]), ("new", &[30, 20, 10])]);
    let target = len(&trimmed) - item_len();
    assert_eq!(trim_history_to(&mut trimmed, target), Some(1));
    assert_eq!(
        history(&trimmed),
        [("old".into(), vec![1]), ("new".into(), vec![30, 20])]
    );
}

#[test]
fn items_of_one_time_go_from_the_end_of_their_tag() {
    let mut trimmed = stream(&[("a", &[7, 7, 7])]);
    let target = len(&trimmed) - item_len();
    assert_eq!(trim_history_to(&mut trimmed, target), Some(1));
    assert_eq!(history(&trimmed), [("a".into(), vec![7, 7])]);
}

#[test]
fn a_stream_too_large_without_any_older_item_is_left_as_it_was() {
    let mut trimmed = stream(&[("a", &[3, 2]), ("b", &[1])]);
    let before = trimmed.clone();
    let every_older_item_gone = len(&before) - item_len();
    assert_eq!(
        trim_history_to(&mut trimmed, every_older_item_gone - 1),
        None
    );
    assert_eq!(trimmed, before);
}

#[test]
fn the_target_is_a_sixteenth_below_what_last_fit_and_never_above_the_limit() {
    assert_eq!(room_target(16_000), 15_000);
    let limit = crate::store::MAX_OBJECT_BYTES;
    assert_eq!(room_target(limit * 2), limit - limit / 16);
}
