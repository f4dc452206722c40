//! The `imagelookup` subcommands.
