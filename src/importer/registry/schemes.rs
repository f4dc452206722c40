//! The schemes an import tries in turn, and one error that tells every attempt.
//!
//! An insecure import tries HTTPS without verification, then plain HTTP when the connection
//! failed or went unanswered; an unanswered registry so holds a worker for both attempts (two
//! connect timeouts and the call's timeout: about 50 s at the default 30 s), and the failure
//! says so instead of naming only the last attempt's timeout.

use std::time::{Duration, Instant};

use super::error::ImportError;

/// How a registry is spoken to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Scheme {
    /// HTTPS, verifying the registry's certificate.
    Https,
    /// HTTPS without verification (`importPolicy.insecure`).
    HttpsUnverified,
    /// Plain HTTP (`importPolicy.insecure`, when HTTPS got no connection or no answer).
    Http,
}

/// The schemes an import tries, in order.
pub(super) fn schemes(insecure: bool) -> &'static [Scheme] {
    match insecure {
        true => &[Scheme::HttpsUnverified, Scheme::Http],
        false => &[Scheme::Https],
    }
}

/// Runs `call` with each of `schemes` in turn until one gets more than a failed or unanswered
/// connection; when every one fails so, the error tells each attempt (the first with how long
/// it took, the last's timeout saying its own).
pub(super) async fn over<T, F, Fut>(schemes: &[Scheme], call: F) -> Result<T, ImportError>
where
    F: Fn(Scheme) -> Fut,
    Fut: std::future::Future<Output = Result<T, ImportError>>,
{
    let mut failed: Option<(ImportError, Duration)> = None;
    for scheme in schemes {
        let started = Instant::now();
        let error = match call(*scheme).await {
            Err(error) if no_connection(&error) => error,
            // The call's own timeout ends an attempt that connected, so it is not tried over
            // another scheme; after an earlier attempt, it is how that one ended too.
            Err(error) if failed.is_some() && error.is_no_answer() => error,
            answered => return answered,
        };
        failed = Some(match failed {
            None => (error, started.elapsed()),
            Some((https, https_took)) => {
                let every = ImportError::EveryScheme {
                    https: Box::new(https),
                    https_took,
                    http: Box::new(error),
                };
                (every, started.elapsed())
            }
        });
    }
    Err(failed.map_or_else(
        || ImportError::transport("no scheme tried"),
        |(error, _)| error,
    ))
}

/// Whether the connection failed or went unanswered (over HTTPS, HTTP is tried next).
fn no_connection(error: &ImportError) -> bool {
    matches!(
        error,
        ImportError::Transport { .. } | ImportError::NoAnswer { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `over` the insecure schemes, each failing (or not) as `answers` says; the error's text.
    fn check(answers: [Result<(), ImportError>; 2]) -> Result<(), String> {
        let answers = std::sync::Mutex::new(Vec::from(answers));
        let call = |_| {
            let answer = answers.lock().unwrap().remove(0);
            async move { answer }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(over(schemes(true), call))
            .map_err(|error| error.to_string())
    }

    fn no_answer() -> ImportError {
        ImportError::NoAnswer {
            connect: true,
            message: "client error (Connect): operation timed out".into(),
        }
    }

    #[test]
    fn an_insecure_import_that_fails_both_ways_tells_both_attempts() {
        let timeout = ImportError::Timeout(Duration::from_secs(30));
        assert_eq!(
            check([Err(no_answer()), Err(timeout)]),
            Err(
                "over plain HTTP: timed out after 30s; before that, over HTTPS (failed after \
                 0s): client error (Connect): operation timed out"
                    .into()
            )
        );
    }

    #[test]
    fn the_first_scheme_that_connects_answers_alone() {
        assert_eq!(check([Err(no_answer()), Ok(())]), Ok(()));
        assert_eq!(
            check([Err(ImportError::NotFound), Err(no_answer())]),
            Err("not found".into())
        );
        assert_eq!(
            check([Err(no_answer()), Err(ImportError::Unauthorized)]),
            Err("unauthorized".into())
        );
    }
}
