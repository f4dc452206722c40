//! JSON shapes for the generators: members present, absent or of another type, objects and
//! lists of them, and the values (names, references, numbers) at the edges of validation.

use proptest::prelude::*;
use serde_json::{json, Map, Value};

/// `strategy` as the member's value, or the member absent.
pub(super) fn maybe(strategy: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![3 => strategy.prop_map(Some), 1 => Just(None)].boxed()
}

/// The member present, mostly: members a client nearly always sends.
pub(super) fn usually(strategy: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![9 => strategy.prop_map(Some), 1 => Just(None)].boxed()
}

/// The member absent, mostly: members a client rarely sends.
pub(super) fn rarely(strategy: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![1 => strategy.prop_map(Some), 6 => Just(None)].boxed()
}

/// `usual` most of the time, else one of `others`.
pub(super) fn weighted(usual: &'static str, others: &[&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![9 => Just(Value::from(usual)), 1 => text_from(others)].boxed()
}

/// An object of `members` after `apiVersion` and `kind`: mostly `api_version` and `kind`,
/// else another group's, another kind, or empty (each also absent now and then).
pub(super) fn with_type(
    api_version: &'static str,
    kind: &'static str,
    members: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
) -> BoxedStrategy<Value> {
    let api_versions = &["v1", "image.openshift.io/v1", "image.openshift.io/v2", ""];
    let kinds = &["ImageStream", "ImageStreamTag", "Secret", "Pod", ""];
    let typed = vec![
        ("apiVersion", usually(weighted(api_version, api_versions))),
        ("kind", usually(weighted(kind, kinds))),
    ];
    object(typed.into_iter().chain(members).collect())
}

/// An object of the members present.
pub(super) fn object(
    members: Vec<(&'static str, BoxedStrategy<Option<Value>>)>,
) -> BoxedStrategy<Value> {
    let (names, values): (Vec<_>, Vec<_>) = members.into_iter().unzip();
    values
        .prop_map(move |values| {
            let members = names
                .iter()
                .zip(values)
                .filter_map(|(name, value)| value.map(|value| ((*name).to_string(), value)));
            Value::Object(members.collect::<Map<_, _>>())
        })
        .boxed()
}

/// A list of up to `most` items.
pub(super) fn list(item: BoxedStrategy<Value>, most: usize) -> BoxedStrategy<Value> {
    prop::collection::vec(item, 0..=most)
        .prop_map(Value::Array)
        .boxed()
}

/// One of `choices`.
pub(super) fn text_from(choices: &[&'static str]) -> BoxedStrategy<Value> {
    prop::sample::select(choices.to_vec())
        .prop_map(Value::from)
        .boxed()
}

/// `true` or `false`.
pub(super) fn boolean() -> BoxedStrategy<Value> {
    any::<bool>().prop_map(Value::from).boxed()
}

/// Small integers mostly, else any `i64`, a float, or one past `i64`.
pub(super) fn number() -> BoxedStrategy<Value> {
    prop_oneof![
        6 => (-2i64..5).prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| json!(f)),
        1 => Just(json!(u64::MAX)),
    ]
    .boxed()
}

/// Names valid and not: DNS subdomains, long ones, upper case, anything.
pub(super) fn name() -> BoxedStrategy<Value> {
    prop_oneof![
        4 => "[a-z0-9][a-z0-9.-]{0,20}",
        1 => "[a-z]{250,260}",
        1 => "[A-Za-z0-9:@/._ -]{0,30}",
        1 => ".{0,20}",
    ]
    .prop_map(Value::from)
    .boxed()
}

/// Tag names valid and not: short ones, too long ones, anything.
pub(super) fn tag_name() -> BoxedStrategy<Value> {
    prop_oneof![4 => "[a-z0-9][a-z0-9._-]{0,8}", 1 => "[a-z]{128,130}", 1 => ".{0,10}"]
        .prop_map(Value::from)
        .boxed()
}

/// Pull specs valid and not: short names, registries, digests, garbage.
pub(super) fn reference() -> BoxedStrategy<Value> {
    let digest = format!("sha256:{}", "a".repeat(64));
    prop_oneof![
        3 => "[a-z0-9]{1,8}(:[a-z0-9]{1,5})?",
        2 => "[a-z]{1,6}\\.io(:[0-9]{1,5})?/[a-z]{1,6}/[a-z]{1,6}:[a-z0-9]{1,4}",
        1 => Just(format!("quay.io/o/app@{digest}")),
        1 => Just(format!("app:1@{digest}")),
        1 => "[a-zA-Z0-9:@/._-]{0,40}",
        1 => ".{0,20}",
    ]
    .prop_map(Value::from)
    .boxed()
}

/// Labels or annotations: keys valid and not, values mostly strings.
pub(super) fn string_map() -> BoxedStrategy<Value> {
    let key = prop_oneof!["[a-z]{1,6}", "[a-z.]{1,10}/[a-z]{1,6}", ".{0,8}"];
    let value = prop_oneof![4 => "[a-z0-9 ]{0,10}".prop_map(Value::from), 1 => junk()];
    prop::collection::vec((key, value), 0..3)
        .prop_map(|entries| Value::Object(entries.into_iter().collect()))
        .boxed()
}

/// Any small JSON value.
pub(super) fn junk() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..3)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
    .boxed()
}
