//! A queue of the newest items, bounded by their number and by the bytes they hold.
//!
//! The in-memory windows over recent writes (the store's history, its ring of parsed trees,
//! the API's ring of encoded watch events) each keep the newest items; a count alone lets
//! large documents make them hundreds of MiB, so each is also bounded in bytes, down to a
//! floor of items kept whatever their size.

use std::collections::VecDeque;

/// How many items, and how many of their bytes, a [`BoundedQueue`] keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The most items kept.
    pub items: usize,
    /// The most bytes the kept items may hold, as their pushers count them.
    pub bytes: usize,
    /// The fewest items kept however many bytes they hold (at least the newest one).
    pub floor: usize,
}

/// The newest items pushed, oldest first, within [`Bounds`].
#[derive(Debug)]
pub struct BoundedQueue<T> {
    items: VecDeque<(T, usize)>,
    bytes: usize,
    bounds: Bounds,
}

impl<T> BoundedQueue<T> {
    /// An empty queue keeping what `bounds` allow.
    pub fn new(bounds: Bounds) -> Self {
        Self {
            items: VecDeque::new(),
            bytes: 0,
            bounds,
        }
    }

    /// Appends `item`, counted as `bytes`, and drops the oldest items past the bounds;
    /// returns how many were dropped.
    pub fn push(&mut self, item: T, bytes: usize) -> usize {
        self.bytes += bytes;
        self.items.push_back((item, bytes));
        let mut dropped = 0;
        while self.over_bounds() {
            let Some((_, bytes)) = self.items.pop_front() else {
                break;
            };
            self.bytes -= bytes;
            dropped += 1;
        }
        dropped
    }

    fn over_bounds(&self) -> bool {
        let floor = self.bounds.floor.max(1);
        self.items.len() > self.bounds.items
            || (self.bytes > self.bounds.bytes && self.items.len() > floor)
    }

    /// The items, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter().map(|(item, _)| item)
    }

    /// The items from the `start`-th oldest on (none past the end), found at once: a `skip`
    /// over [`Self::iter`] would step through every item before `start`.
    pub fn iter_from(
        &self,
        start: usize,
    ) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        let start = start.min(self.items.len());
        self.items.range(start..).map(|(item, _)| item)
    }

    /// The `index`-th oldest item.
    pub fn get(&self, index: usize) -> Option<&T> {
        self.items.get(index).map(|(item, _)| item)
    }

    /// How many items are kept.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no item is kept.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The bytes the kept items hold, as pushed.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops every item.
    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes = 0;
    }
}

impl<T> Default for BoundedQueue<T> {
    /// A queue that keeps nothing until given bounds (an unused ring).
    fn default() -> Self {
        Self::new(Bounds {
            items: 0,
            bytes: 0,
            floor: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterating_from_an_index_yields_the_items_from_there_on() {
        let mut queue = BoundedQueue::new(Bounds {
            items: 10,
            bytes: usize::MAX,
            floor: 1,
        });
        for item in 0..5 {
            queue.push(item, 1);
        }
        let from = |start| queue.iter_from(start).copied().collect::<Vec<_>>();
        assert_eq!(from(0), [0, 1, 2, 3, 4]);
        assert_eq!(from(3), [3, 4]);
        assert_eq!(from(5), Vec::<i32>::new());
        assert_eq!(from(usize::MAX), Vec::<i32>::new());
        assert_eq!(queue.iter_from(1).len(), 4);
    }

    /// Pushes items 0, 1, … of `sizes` into a queue with `bounds`; the items kept and the
    /// number dropped by each push.
    fn check(bounds: Bounds, sizes: &[usize], kept: &[usize], dropped: &[usize]) {
        let mut queue = BoundedQueue::new(bounds);
        let drops: Vec<usize> = sizes
            .iter()
            .enumerate()
            .map(|(item, &bytes)| queue.push(item, bytes))
            .collect();
        assert_eq!(
            queue.iter().copied().collect::<Vec<_>>(),
            kept,
            "{bounds:?}"
        );
        assert_eq!(drops, dropped, "{bounds:?}");
        let held: usize = kept.iter().map(|&item| sizes[item]).sum();
        assert_eq!(queue.bytes(), held, "the count follows what is kept");
    }

    #[test]
    fn the_oldest_items_leave_past_the_count_or_the_bytes_down_to_the_floor() {
        let by_count = Bounds {
            items: 2,
            bytes: usize::MAX,
            floor: 0,
        };
        check(by_count, &[1, 1, 1, 1], &[2, 3], &[0, 0, 1, 1]);
        let by_bytes = Bounds {
            items: 10,
            bytes: 10,
            floor: 0,
        };
        check(by_bytes, &[4, 4, 4, 1], &[1, 2, 3], &[0, 0, 1, 0]);
        let floored = Bounds {
            items: 10,
            bytes: 10,
            floor: 2,
        };
        check(floored, &[20, 20, 20], &[1, 2], &[0, 0, 1]);
    }

    #[test]
    fn the_newest_item_stays_whatever_its_size_and_an_unbounded_queue_keeps_nothing() {
        let small = Bounds {
            items: 10,
            bytes: 5,
            floor: 0,
        };
        check(small, &[1, 100], &[1], &[0, 1]);
        let mut unused = BoundedQueue::default();
        assert_eq!(unused.push("a", 1), 1);
        assert!(unused.is_empty());
    }
}
