//! Where the server's memory per stream goes: the heap bytes each in-memory form of one
//! stream takes, counted exactly by a counting allocator (requested sizes; malloc's own
//! per-allocation overhead comes on top). Written to `<target>/bench/memory.json` for the
//! suite's table.
//!
//! ```text
//! cargo bench --bench memory
//! ```
//!
//! - `stored_json`: the document as stored (what the redb file holds per object);
//! - `store_value`: the document parsed, an `Arc<serde_json::Value>` (with `preserve_order`,
//!   every object is an `IndexMap`): what a read or a watch event holds while it is served,
//!   and what each event of the watch history keeps; the store no longer keeps one per object;
//! - `index_stream`: the live index's copy, a `CompactStream` (one text arena and a few
//!   small tables, see `src/resolve/compact.rs`), plus its entry in the index's sets.
//!
//! Outside `cargo bench` (as `cargo test --all-targets` runs it) it does nothing.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "support/loadgen.rs"]
mod loadgen;
#[allow(dead_code)]
#[path = "support/report.rs"]
mod report;

/// Streams measured: enough that per-stream figures are stable.
const STREAMS: usize = 100_000;

/// The system allocator, keeping a running total of live requested bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which `System.alloc` shares.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout` (all allocations go there).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: as for `dealloc`; `new_size` is the caller's, checked by its contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes per stream that `build` leaves allocated.
fn per_stream<T>(build: impl FnOnce() -> T) -> (T, f64) {
    let before = LIVE.load(Ordering::Relaxed);
    let built = build();
    let grown = LIVE.load(Ordering::Relaxed) - before;
    (built, grown as f64 / STREAMS as f64)
}

fn main() -> anyhow::Result<()> {
    if !std::env::args().any(|arg| arg == "--bench") {
        eprintln!("memory: only runs under `cargo bench --bench memory` (make bench)");
        return Ok(());
    }
    let documents: Vec<Vec<u8>> = (0..STREAMS)
        .map(|i| {
            serde_json::to_vec(&fixtures::stored_stream(
                &format!("ns-{}", i / 100),
                i % 100,
            ))
        })
        .collect::<Result<_, _>>()?;
    let stored_json = documents.iter().map(Vec::len).sum::<usize>() as f64 / STREAMS as f64;
    let (values, store_value) = per_stream(|| {
        documents
            .iter()
            .map(|bytes| serde_json::from_slice(bytes).map(Arc::new))
            .collect::<Result<Vec<Arc<serde_json::Value>>, _>>()
    });
    let values = values?;
    let (index, index_stream) = per_stream(|| {
        // Decoded one at a time, as the feed's pages are: only compact forms stay.
        let streams = values.iter().filter_map(|value| {
            <imagelookup::api::ImageStream as serde::Deserialize>::deserialize(&**value).ok()
        });
        let index = imagelookup::live_index::LiveIndex::new();
        index.reset(streams, 1);
        index
    });
    anyhow::ensure!(index.len() == STREAMS, "indexed {}", index.len());
    let memory = report::Memory {
        stored_json,
        store_value,
        index_stream,
    };
    println!("{memory:#?}");
    let path = report::target_dir().join("bench/memory.json");
    std::fs::create_dir_all(path.parent().expect("a parent"))?;
    std::fs::write(&path, serde_json::to_string_pretty(&memory)?)?;
    println!("written to {}", path.display());
    Ok(())
}
