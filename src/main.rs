//! The `imagelookup` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    imagelookup::cli::run(imagelookup::cli::Cli::parse())
}
