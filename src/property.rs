//! The runner of the crate's property tests (the webhook, API and manifest fuzzers): a fixed
//! number of cases per `make test`, `PROPTEST_CASES` for a longer run, nothing persisted.

use std::sync::atomic::{AtomicU32, Ordering};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Runs `cases` cases of `strategy` through `property` (`PROPTEST_CASES` overrides the count),
/// panicking with proptest's shrunk failure when one fails, or when fewer cases ran than asked
/// (a strategy rejecting its inputs); returns how many ran.
pub(crate) fn run_cases<S: Strategy>(
    strategy: S,
    cases: u32,
    property: impl Fn(S::Value) -> Result<(), String>,
) -> u32 {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|count| count.parse().ok())
        .unwrap_or(cases);
    let ran = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |input| {
        ran.fetch_add(1, Ordering::Relaxed);
        property(input).map_err(TestCaseError::fail)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    let ran = ran.into_inner();
    assert_eq!(ran, cases, "every case ran");
    ran
}
