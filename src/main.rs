//! The `imagelookup` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of glibc's malloc: glibc gives each thread its own arena and keeps what a
/// thread freed for that thread, so the start-up load of 100,000 streams (parsed on whichever
/// worker ran the task) left ~260 MiB resident where mimalloc leaves ~200 MiB, and start-up
/// took no longer (glibc with `MALLOC_ARENA_MAX=2` matched the memory but doubled start-up).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    imagelookup::cli::run(imagelookup::cli::Cli::parse())
}
