//! The order of a merged list, as apimachinery's strategic merge patch computes it
//! (`normalizeElementOrder` and `mergeSortedSlice` in `strategicpatch/patch.go`).
//!
//! Items named by the patch keep the patch's relative order; items only the server had keep
//! theirs; the two runs are interleaved using the positions the items had on the server. The
//! same rule orders associative lists after a server-side apply merge.

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

/// Reorders `merged` so that items present in `patch_order` follow it, and the others keep
/// the order they had in `server_order`.
pub fn normalize(
    merged: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    identity: Identity<'_>,
) -> Vec<Value> {
    let (mut from_patch, mut server_only): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|item| identity.position(patch_order, item).is_some());
    sort_by_position(&mut from_patch, patch_order, identity);
    sort_by_position(&mut server_only, server_order, identity);
    interleave(server_only, from_patch, server_order, identity)
}

fn sort_by_position(items: &mut [Value], order: &[Value], identity: Identity<'_>) {
    items.sort_by_key(|item| identity.position(order, item).unwrap_or(usize::MAX));
}

/// `mergeSortedSlice`: takes from `left` while its head sat before `right`'s head on the server.
fn interleave(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    identity: Identity<'_>,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => return out,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                let l = identity.position(server_order, l);
                let r = identity.position(server_order, r);
                matches!((l, r), (Some(l), Some(r)) if l < r)
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
