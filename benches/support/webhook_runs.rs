//! Parts 1 and 2 of issue #5: `/mutate` against `/noop` on the same server, and `/mutate` with
//! 10 against 100,000 streams indexed.
//!
//! ```text
//! check both servers patch the Pod ─> warm up ─> rounds × [noop@10, mutate@10, mutate@100k]
//!   (closed loop, interleaved so machine noise hits all three alike)
//!   ─> paced at half the no-op ceiling: noop@10, mutate@10, mutate@100k
//! ```

use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::Method;

use super::cpu;
use super::fixtures;
use super::loadgen::{self, Call, Expect, Load, Outcome, Pace, Target};
use super::report::{Latency, Scale, Webhook};
use super::stack::NOOP_BODY;

/// The namespace the Pod is created in; it exists in both indexes.
pub const NAMESPACE: &str = "ns-0";

/// The name of the server runtime's threads (see `benches/suite.rs`).
pub const SERVER_THREADS: &str = "server";
/// The name of the load generator runtime's threads.
pub const CLIENT_THREADS: &str = "loadgen";

/// How long and how hard.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Keep-alive connections.
    pub connections: usize,
    /// Interleaved closed-loop rounds.
    pub rounds: usize,
    /// Length of each closed-loop run.
    pub round: Duration,
    /// Length of each paced run.
    pub paced: Duration,
}

/// One endpoint of one server and the answer it must give.
struct Endpoint {
    target: Target,
    call: Call,
    answer: Bytes,
}

/// Measures the webhook (10 streams at `small`, 100,000 at `large`); fills `scale`'s
/// throughput fields.
pub async fn measure(
    small: &Target,
    large: &Target,
    plan: Plan,
    scale: &mut Scale,
) -> anyhow::Result<Webhook> {
    let review = fixtures::admission_review(NAMESPACE).to_string();
    let noop = Endpoint {
        target: small.clone(),
        call: Call::json(Method::POST, "/noop", review.clone()),
        answer: Bytes::from_static(NOOP_BODY.as_bytes()),
    };
    let mutate = patched_endpoint(small, &review)
        .await
        .context("10 streams")?;
    let mutate_100k = patched_endpoint(large, &review)
        .await
        .context("100,000 streams")?;
    for endpoint in [&noop, &mutate, &mutate_100k] {
        load(
            endpoint,
            plan.connections,
            Duration::from_millis(500),
            Pace::Closed,
        )
        .await?;
    }
    let mut totals: [Measured; 3] = Default::default();
    let mut round_ratios = (Vec::new(), Vec::new());
    for round in 0..plan.rounds {
        let mut rps = [0.0; 3];
        for (i, endpoint) in [&noop, &mutate, &mutate_100k].into_iter().enumerate() {
            let measured = Measured::run(endpoint, plan.connections, plan.round).await?;
            rps[i] = measured.outcome.rps();
            eprintln!("  round {round} {}: {:.0} req/s", endpoint.label(), rps[i]);
            totals[i].add(measured);
        }
        round_ratios.0.push(rps[1] / rps[0]);
        round_ratios.1.push(rps[2] / rps[1]);
    }
    let [noop_total, mutate_total, large_total] = totals;
    let half_rate = noop_total.outcome.rps() / 2.0;
    let paced = |endpoint, rate| load(endpoint, plan.connections, plan.paced, Pace::Rate(rate));
    let noop_at_half = Latency::of(&paced(&noop, half_rate).await?);
    let mutate_at_half = Latency::of(&paced(&mutate, half_rate).await?);
    let own_half = mutate_total.outcome.rps() / 2.0;
    let mutate_at_half_own = Latency::of(&paced(&mutate, own_half).await?);
    scale.mutate_100k_at_half = Latency::of(&paced(&mutate_100k, half_rate).await?);
    scale.throughput_ratio = median(&round_ratios.1);
    scale.round_ratios = round_ratios.1;
    scale.mutate_100k_server_cpu_us = large_total.server_cpu_us();
    scale.mutate_100k = large_total.latency();
    let client_cpu_ns = [&noop_total, &mutate_total]
        .iter()
        .map(|m| m.client_cpu_ns)
        .sum::<u64>();
    let client_requests = noop_total.outcome.ok + mutate_total.outcome.ok;
    Ok(Webhook {
        connections: plan.connections,
        rounds: plan.rounds,
        throughput_ratio: median(&round_ratios.0),
        round_ratios: round_ratios.0,
        noop_server_cpu_us: noop_total.server_cpu_us(),
        mutate_server_cpu_us: mutate_total.server_cpu_us(),
        client_cpu_us: client_cpu_ns as f64 / 1e3 / client_requests.max(1) as f64,
        noop: noop_total.latency(),
        mutate: mutate_total.latency(),
        half_rate_rps: half_rate,
        noop_at_half,
        mutate_at_half,
        mutate_at_half_own,
    })
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A closed-loop run with the CPU time the server's and the load generator's threads spent.
#[derive(Default)]
struct Measured {
    outcome: Outcome,
    server_cpu_ns: u64,
    client_cpu_ns: u64,
}

impl Measured {
    async fn run(
        endpoint: &Endpoint,
        connections: usize,
        duration: Duration,
    ) -> anyhow::Result<Self> {
        let (server, client) = (
            cpu::server_cpu_ns(SERVER_THREADS),
            cpu::thread_cpu_ns(CLIENT_THREADS),
        );
        let outcome = load(endpoint, connections, duration, Pace::Closed).await?;
        Ok(Self {
            outcome,
            server_cpu_ns: cpu::server_cpu_ns(SERVER_THREADS).saturating_sub(server),
            client_cpu_ns: cpu::thread_cpu_ns(CLIENT_THREADS).saturating_sub(client),
        })
    }

    fn add(&mut self, other: Measured) {
        self.outcome.merge(other.outcome);
        self.server_cpu_ns += other.server_cpu_ns;
        self.client_cpu_ns += other.client_cpu_ns;
    }

    fn server_cpu_us(&self) -> f64 {
        self.server_cpu_ns as f64 / 1e3 / self.outcome.ok.max(1) as f64
    }

    fn latency(mut self) -> Latency {
        self.outcome.latencies.sort_unstable();
        Latency::of(&self.outcome)
    }
}

/// `/mutate` at `target`, after checking that it pins the two images a stream resolves.
async fn patched_endpoint(target: &Target, review: &str) -> anyhow::Result<Endpoint> {
    let call = Call::json(Method::POST, "/mutate", review.to_string());
    let (status, answer) = target.connect().await?.send(&call).await?;
    anyhow::ensure!(status.is_success(), "/mutate answered {status}: {answer:?}");
    let images = fixtures::patched_images(&answer, NAMESPACE)?;
    anyhow::ensure!(
        images == fixtures::expected_pod_images(NAMESPACE),
        "/mutate patched the Pod to {images:?}"
    );
    Ok(Endpoint {
        target: target.clone(),
        call,
        answer,
    })
}

async fn load(
    endpoint: &Endpoint,
    connections: usize,
    duration: Duration,
    pace: Pace,
) -> anyhow::Result<Outcome> {
    let load = Load {
        connections,
        duration,
        pace,
    };
    let expect = Expect::ok_with(endpoint.answer.clone());
    let outcome = loadgen::run(
        &endpoint.target,
        loadgen::same(endpoint.call.clone()),
        expect,
        load,
        None,
    )
    .await?;
    anyhow::ensure!(
        outcome.failed + outcome.mismatched == 0,
        "{}: {} failed, {} wrong answers",
        endpoint.label(),
        outcome.failed,
        outcome.mismatched
    );
    Ok(outcome)
}

impl Endpoint {
    fn label(&self) -> String {
        format!("{} {}", self.target.addr(), self.call.uri)
    }
}
