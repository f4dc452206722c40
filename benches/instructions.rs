//! The `/mutate` handler's stages run a fixed number of times, for counting instructions under
//! callgrind: unlike time on a shared machine, the count is the same on every run, so a change
//! of a few percent shows. `make bench-instructions` runs it (needs valgrind).
//!
//! ```text
//! STAGE=parse|decide|respond|log|whole N=2000 valgrind --tool=callgrind target/release/deps/instructions-…
//! ```
//!
//! `scripts/count-instructions.sh` subtracts a run with `N=0` (the set-up) and divides by `N`.

use std::hint::black_box;
use std::time::Instant;

use imagelookup::admission::StreamResolver;
use imagelookup::api::policy::ImagePolicyConfig;
use imagelookup::cli::logging;
use imagelookup::resolve::ResolverConfig;
use imagelookup::webhook::{self, review};
use tracing_subscriber::util::SubscriberInitExt as _;

/// The allocator `imagelookup` runs with (src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[allow(dead_code)]
#[path = "support/fixtures.rs"]
mod fixtures;

fn main() {
    let runs: usize = std::env::var("N").map_or(1000, |n| n.parse().expect("N is a count"));
    let stage = std::env::var("STAGE").unwrap_or_else(|_| "whole".to_string());
    let body = fixtures::admission_review("ns-0").to_string().into_bytes();
    let config = ResolverConfig {
        registry_hostname: fixtures::REGISTRY.to_string(),
        ..ResolverConfig::default()
    };
    let policy = ImagePolicyConfig::default();
    let streams = fixtures::index(1, 10);
    let resolver = StreamResolver {
        config: &config,
        streams: &streams,
    };
    let request = review::parse(&body).expect("a valid review");
    let decision = review::decide(&request, &policy, &resolver);
    // The log line as `serve` writes it (text, no colour), to a sink: formatting and handing the
    // line to the background writer are counted, the writer thread's copy too. The other
    // stages run without a subscriber or its thread.
    let _flushed = (stage == "log").then(|| {
        let (writer, guard) = logging::log_writer(std::io::sink());
        let filter = tracing_subscriber::EnvFilter::new("info");
        logging::subscriber(logging::LogFormat::Text, filter, false, writer).init();
        guard
    });
    let outcome = webhook::outcome_of(&decision);
    let started = Instant::now();
    let mut answered = 0;
    for _ in 0..runs {
        answered += match stage.as_str() {
            "parse" => review::parse(black_box(&body)).map_or(0, |parsed| parsed.uid.len()),
            "decide" => review::decide(black_box(&request), &policy, &resolver)
                .rewrites
                .len(),
            "respond" => answer(&request.uid, black_box(&decision)).len(),
            "log" => {
                webhook::log_admission(black_box(&request), outcome, &decision, started);
                1
            }
            _ => {
                let parsed = review::parse(black_box(&body)).expect("a valid review");
                let decided = review::decide(&parsed, &policy, &resolver);
                answer(&parsed.uid, &decided).len()
            }
        };
    }
    // Printed so that no stage's result is unused.
    println!("{answered}");
}

fn answer(uid: &str, decision: &imagelookup::admission::Decision) -> Vec<u8> {
    review::respond(uid, decision).to_json()
}
