//! Resolver benchmarks (filled in with the resolver).
fn main() {}
