//! The order of a merged list, as apimachinery's strategic merge patch computes it
//! (`normalizeElementOrder` and `mergeSortedSlice` in `strategicpatch/patch.go`).
//!
//! Items named by the patch keep the patch's relative order; items only the server had keep
//! theirs; the two runs are interleaved using the positions the items had on the server. The
//! same rule orders associative lists after a server-side apply merge.

use std::collections::HashMap;

use serde_json::Value;

/// How items are told apart: by the value of a merge key, or by their whole value.
#[derive(Clone, Copy, Debug)]
pub enum Identity<'a> {
    /// Objects identified by this key field.
    Key(&'a str),
    /// Scalars identified by value.
    Value,
}

// === impl Identity ===

impl Identity<'_> {
    /// The identifying part of `item`, if it has one.
    pub fn of<'v>(&self, item: &'v Value) -> Option<&'v Value> {
        match self {
            Identity::Key(key) => item.get(*key),
            Identity::Value => Some(item),
        }
    }

    /// The position in `list` of the item identified like `item`.
    pub fn position(&self, list: &[Value], item: &Value) -> Option<usize> {
        let wanted = self.of(item)?;
        list.iter()
            .position(|candidate| self.of(candidate) == Some(wanted))
    }
}

/// An identity as text to look it up by, when it is a scalar (JSON text tells a string from a
/// number); an object or array is found by comparing values, as serde_json compares maps
/// regardless of their keys' order.
pub(super) fn identity_text(identity: &Value) -> Option<String> {
    match identity {
        Value::Array(_) | Value::Object(_) => None,
        scalar => Some(scalar.to_string()),
    }
}

/// Where each item of a list sits, by its identity: built once, so that ordering a list of n
/// items takes n lookups instead of n scans of the list (a stream's thousands of tags).
struct Positions<'a> {
    identity: Identity<'a>,
    /// First positions of the items with a scalar identity, by [`identity_text`].
    by_text: HashMap<String, usize>,
    /// The list, for an identity that is an object or an array.
    list: &'a [Value],
}

impl<'a> Positions<'a> {
    fn new(list: &'a [Value], identity: Identity<'a>) -> Self {
        let mut by_text = HashMap::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            if let Some(text) = identity.of(item).and_then(identity_text) {
                by_text.entry(text).or_insert(index);
            }
        }
        Self {
            identity,
            by_text,
            list,
        }
    }

    /// The position of the item identified like `item`, as [`Identity::position`] finds it.
    fn of(&self, item: &Value) -> Option<usize> {
        match identity_text(self.identity.of(item)?) {
            Some(text) => self.by_text.get(&text).copied(),
            None => self.identity.position(self.list, item),
        }
    }
}

/// Reorders `merged` so that items present in `patch_order` follow it, and the others keep
/// the order they had in `server_order`.
pub fn normalize(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    identity: Identity<'_>,
) -> Vec<Value> {
    let in_patch = Positions::new(patch_order, identity);
    let on_server = Positions::new(server_order, identity);
    let (mut from_patch, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| in_patch.of(item).is_some());
    sort_by_position(&mut from_patch, &in_patch);
    sort_by_position(&mut server_only, &on_server);
    interleave(server_only, from_patch, &on_server)
}

fn sort_by_position(items: &mut [Value], order: &Positions<'_>) {
    items.sort_by_cached_key(|item| order.of(item).unwrap_or(usize::MAX));
}

/// `mergeSortedSlice`: takes from `left` while its head sat before `right`'s head on the server.
fn interleave(left: Vec<Value>, right: Vec<Value>, on_server: &Positions<'_>) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => return out,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                matches!((on_server.of(l), on_server.of(r)), (Some(l), Some(r)) if l < r)
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(list: &[&str]) -> Vec<Value> {
        list.iter().map(|name| json!({"name": name})).collect()
    }

    fn check(merged: &[&str], patch: &[&str], server: &[&str], expected: &[&str]) {
        let result = normalize(
            names(merged),
            &names(patch),
            &names(server),
            Identity::Key("name"),
        );
        assert_eq!(result, names(expected));
    }

    #[test]
    fn patch_order_wins_and_server_items_keep_their_place() {
        check(
            &["a", "b", "c"],
            &["c", "a"],
            &["a", "b", "c"],
            &["b", "c", "a"],
        );
        // Like apimachinery, an item the server never had goes before the server's items.
        check(
            &["a", "b", "c", "d"],
            &["d"],
            &["a", "b", "c"],
            &["d", "a", "b", "c"],
        );
        check(&["a", "b", "x"], &["x", "b"], &["a", "b"], &["x", "a", "b"]);
        check(&["a"], &[], &["a"], &["a"]);
    }

    #[test]
    fn positions_are_found_as_a_scan_of_the_list_finds_them() {
        let list = vec![
            json!({"name": "a"}),
            json!({"name": 1}),
            json!({"name": "1"}),
            json!({"other": "a"}),
            json!({"name": "a"}),
            json!({"name": {"x": 1, "y": 2}}),
            json!({"name": null}),
            json!({"name": true}),
            json!("a"),
        ];
        let probes = [
            list.clone(),
            vec![
                json!({"name": "b"}),
                json!({"name": 1.0}),
                json!({"name": {"y": 2, "x": 1}}),
                json!({"name": false}),
                json!({}),
            ],
        ]
        .concat();
        for identity in [Identity::Key("name"), Identity::Value] {
            let positions = Positions::new(&list, identity);
            for probe in &probes {
                assert_eq!(
                    positions.of(probe),
                    identity.position(&list, probe),
                    "{identity:?} {probe}"
                );
            }
        }
    }

    #[test]
    fn scalars_are_identified_by_value() {
        let result = normalize(
            vec![json!("a"), json!("b"), json!("z")],
            &[json!("z"), json!("a")],
            &[json!("a"), json!("b")],
            Identity::Value,
        );
        assert_eq!(result, vec![json!("z"), json!("a"), json!("b")]);
    }
}
