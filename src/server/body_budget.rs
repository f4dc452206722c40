//! A budget of request body bytes buffered at once, for the routes that read a body before
//! they know whether its sender may send it: `/mutate` (authenticates no one by default; a
//! review may be 7 MiB) and `/registry-events` (a GitHub delivery's body carries its
//! signature). Without one, a caller opening 100 HTTP/2 streams of 7 MiB each on a few
//! connections holds gigabytes, and the fail-closed webhook's replicas are killed for memory.
//!
//! Each data frame of a guarded body takes permits (one per started KiB) from a semaphore shared
//! by every such request, without waiting: when none are left, the body fails with
//! [`BudgetExhausted`] (the route answers 503) instead of queueing, so a flood cannot hold
//! connections open either. The permits are given back when the body is dropped: once it has
//! been read whole into one buffer, which its handler turns into an answer at once. A body
//! must arrive within [`BODY_DEADLINE`]: one that trickles, or stops, fails and gives its
//! permits back, so slow senders cannot hold the budget.

use std::future::Future as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body::Frame;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bytes of guarded bodies buffered at once, by default: room for nine reviews of the
/// largest size, or thousands of usual ones (a few KiB), well inside the Deployment's 512 MiB.
pub const DEFAULT_BODY_BUDGET_BYTES: usize = 64 << 20;

/// The unit of the budget's permits.
const UNIT: usize = 1024;

/// How long a guarded body may take to arrive whole: a kube-apiserver sends a review at once,
/// and gives up on the webhook after at most 30 s.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a guarded body stopped: it did not arrive in time.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "the request body did not arrive within {} s; send it at once",
    BODY_DEADLINE.as_secs()
)]
pub struct BodyTooSlow;

/// Why a guarded body stopped: the budget is spent.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error(
    "the server is reading too many large request bodies at once ({limit} bytes in all); retry \
     in a moment, and check what sends them"
)]
pub struct BudgetExhausted {
    /// The budget, in bytes.
    pub limit: usize,
}

/// The shared budget.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl BodyBudget {
    /// A budget of `bytes` (rounded up to whole KiB).
    pub fn new(bytes: usize) -> Self {
        let units = bytes.div_ceil(UNIT).min(Semaphore::MAX_PERMITS);
        Self {
            permits: Arc::new(Semaphore::new(units)),
            limit: units * UNIT,
        }
    }

    /// `routes`, each request's body counted against this budget while it is read (a router
    /// without routes is returned as is: axum refuses a route layer over none).
    pub fn guard(&self, routes: Router) -> Router {
        if !routes.has_routes() {
            return routes;
        }
        routes.route_layer(axum::middleware::from_fn_with_state(self.clone(), budgeted))
    }

    /// `body`, counted against this budget, to arrive within [`BODY_DEADLINE`].
    pub fn count(&self, body: Body) -> Body {
        Body::new(Budgeted {
            inner: body,
            budget: self.clone(),
            held: None,
            deadline: Box::pin(tokio::time::sleep(BODY_DEADLINE)),
        })
    }
}

async fn budgeted(State(budget): State<BodyBudget>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    next.run(Request::from_parts(parts, budget.count(body)))
        .await
}

/// The [`BudgetExhausted`] that `error` is, or wraps.
pub fn budget_exhausted<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a BudgetExhausted> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(exhausted) = error.downcast_ref::<BudgetExhausted>() {
            return Some(exhausted);
        }
        current = error.source();
    }
    None
}

/// A body taking the budget's permits for each data frame it yields.
struct Budgeted {
    inner: Body,
    budget: BodyBudget,
    /// The permits of the frames yielded so far, given back when the body is dropped.
    held: Option<OwnedSemaphorePermit>,
    /// When the body must have arrived.
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Budgeted {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if self.deadline.as_mut().poll(context).is_ready() {
            self.held = None;
            return Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow))));
        }
        let frame = match Pin::new(&mut self.inner).poll_frame(context) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        let Some(data) = frame.data_ref() else {
            return Poll::Ready(Some(Ok(frame)));
        };
        let units = u32::try_from(data.len().div_ceil(UNIT)).unwrap_or(u32::MAX);
        let taken = self.budget.permits.clone().try_acquire_many_owned(units);
        let Ok(permits) = taken else {
            let limit = self.budget.limit;
            return Poll::Ready(Some(Err(axum::Error::new(BudgetExhausted { limit }))));
        };
        match &mut self.held {
            Some(held) => held.merge(permits),
            None => self.held = Some(permits),
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use futures::{stream, StreamExt as _};
    use http_body_util::BodyExt as _;

    use super::*;

    /// A body of `chunks` chunks of `size` bytes.
    fn body(chunks: usize, size: usize) -> Body {
        let frames =
            (0..chunks).map(move |_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; size])));
        Body::from_stream(stream::iter(frames))
    }

    #[tokio::test]
    async fn bodies_within_the_budget_are_read_and_give_their_share_back() {
        let budget = BodyBudget::new(8 * UNIT);
        for _ in 0..3 {
            let read = budget.count(body(4, 2 * UNIT)).collect().await.unwrap();
            assert_eq!(read.to_bytes().len(), 8 * UNIT);
        }
        assert_eq!(budget.permits.available_permits(), 8);
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_arrive_in_time_fails_and_gives_its_share_back() {
        let budget = BodyBudget::new(8 * UNIT);
        let first = stream::iter([Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 4 * UNIT]))]);
        // Four KiB, then nothing more: a sender that stopped.
        let trickle = first.chain(stream::pending());
        let mut body = budget.count(Body::from_stream(trickle));
        body.frame().await.unwrap().unwrap();
        assert_eq!(budget.permits.available_permits(), 4);
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(
            error.to_string().contains("did not arrive within 10 s"),
            "{error}"
        );
        assert_eq!(
            budget.permits.available_permits(),
            8,
            "given back at the deadline"
        );
    }

    #[tokio::test]
    async fn a_body_past_what_is_left_fails_as_exhausted_and_holds_nothing_after() {
        let budget = BodyBudget::new(8 * UNIT);
        let mut first = budget.count(body(1, 6 * UNIT));
        // Read, not yet dropped: its 6 KiB are held.
        let frame = first.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap().len(), 6 * UNIT);
        let error = budget.count(body(2, 2 * UNIT)).collect().await.unwrap_err();
        assert_eq!(budget_exhausted(&error).map(|e| e.limit), Some(8 * UNIT));
        assert!(
            error.to_string().contains("too many large request bodies"),
            "{error}"
        );
        drop(first);
        assert_eq!(
            budget.permits.available_permits(),
            8,
            "everything given back"
        );
    }
}
