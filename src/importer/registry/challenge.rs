//! How a registry asks to be authenticated (`WWW-Authenticate` on `GET /v2/`) and what its
//! token realm answers: the distribution spec's token authentication, read without I/O.

use std::time::Duration;

use http_auth::ChallengeRef;

/// How long a token lasts when its answer does not say (the distribution spec's default).
pub(super) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// How long before it expires a token is replaced, so that no request carries it late.
const RENEW_BEFORE: Duration = Duration::from_secs(10);
/// The shortest lifetime a token is taken to have, as distribution's client takes it: a realm
/// answering a few seconds would otherwise have every request fetch a token first (one that
/// does expire sooner is refused, and fetched again then).
const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// The longest: a token is asked for again at least daily, and a lifetime a registry sends
/// cannot overflow the clock it is added to.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How a registry wants to be authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Challenge {
    /// It asks for nothing.
    None,
    /// HTTP Basic, with the user name and password.
    Basic,
    /// A bearer token from `realm`, for `service`.
    Bearer {
        /// The token server's URL.
        realm: String,
        /// What to name as the token's audience.
        service: Option<String>,
    },
}

/// The challenge of `WWW-Authenticate` headers: a bearer challenge with a realm if any
/// (what `docker` follows), else Basic if asked, else none.
pub(super) fn read(headers: &[&str]) -> Challenge {
    let parsed: Vec<ChallengeRef<'_>> = headers
        .iter()
        .flat_map(|header| http_auth::ChallengeParser::new(header))
        .filter_map(Result::ok)
        .collect();
    let bearer = parsed
        .iter()
        .filter(|c| c.scheme.eq_ignore_ascii_case("Bearer"))
        .find_map(|c| {
            let realm = param(c, "realm")?;
            Some(Challenge::Bearer {
                realm,
                service: param(c, "service"),
            })
        });
    let basic = parsed
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("Basic"))
        .then_some(Challenge::Basic);
    bearer.or(basic).unwrap_or(Challenge::None)
}

fn param(challenge: &ChallengeRef<'_>, name: &str) -> Option<String> {
    challenge
        .params
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.to_unescaped())
        .filter(|value| !value.is_empty())
}

/// A token realm's answer: the token, and how long to use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct TokenAnswer {
    /// The bearer token.
    pub token: String,
    /// How long it is used before another is asked for.
    pub lifetime: Duration,
}

#[derive(serde::Deserialize)]
struct Raw {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Reads a token realm's JSON answer: `token`, or OAuth2's `access_token`, used until a little
/// before `expires_in` seconds have passed (taken as one minute to a day).
pub(super) fn token_answer(body: &[u8]) -> Result<TokenAnswer, String> {
    let raw: Raw = serde_json::from_slice(body)
        .map_err(|error| format!("the registry's token answer does not decode: {error}"))?;
    let token = [raw.token, raw.access_token]
        .into_iter()
        .flatten()
        .find(|token| !token.is_empty())
        .ok_or("the registry's token answer holds no token")?;
    let lifetime = raw
        .expires_in
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
        .clamp(MIN_TOKEN_LIFETIME, MAX_TOKEN_LIFETIME)
        .saturating_sub(RENEW_BEFORE);
    Ok(TokenAnswer { token, lifetime })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: &str, service: Option<&str>) -> Challenge {
        Challenge::Bearer {
            realm: realm.into(),
            service: service.map(Into::into),
        }
    }

    #[test]
    fn challenges_are_read_as_docker_follows_them() {
        let hub = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#;
        let cases: Vec<(Vec<&str>, Challenge)> = vec![
            (vec![], Challenge::None),
            (
                vec![hub],
                bearer("https://auth.docker.io/token", Some("registry.docker.io")),
            ),
            (
                vec![r#"bearer REALM="https://r/t""#],
                bearer("https://r/t", None),
            ),
            (vec![r#"Basic realm="registry""#], Challenge::Basic),
            // A bearer challenge wins over Basic, in one header or in two.
            (
                vec![r#"Basic realm="x", Bearer realm="https://r/t",service="s""#],
                bearer("https://r/t", Some("s")),
            ),
            (
                vec![r#"Basic realm="x""#, r#"Bearer realm="https://r/t""#],
                bearer("https://r/t", None),
            ),
            // Quoted-pair escapes are undone.
            (
                vec![r#"Bearer realm="https://r/t?a=\"b\"""#],
                bearer(r#"https://r/t?a="b""#, None),
            ),
            // A bearer challenge without a realm names nowhere to ask.
            (vec![r#"Bearer service="s""#], Challenge::None),
            (
                vec![r#"Bearer realm="""#, r#"Basic realm="x""#],
                Challenge::Basic,
            ),
            // Unparseable headers are skipped.
            (
                vec!["Bearer realm=", r#"Basic realm="x""#],
                Challenge::Basic,
            ),
            (vec![r#"Negotiate"#], Challenge::None),
        ];
        for (headers, expected) in cases {
            assert_eq!(read(&headers), expected, "{headers:?}");
        }
    }

    #[test]
    fn token_answers_give_the_token_and_how_long_to_use_it() {
        let secs = Duration::from_secs;
        let cases: Vec<(&str, Result<TokenAnswer, &str>)> = vec![
            (
                r#"{"token":"t","expires_in":300,"issued_at":"2026-11-30T00:00:00Z"}"#,
                Ok(TokenAnswer {
                    token: "t".into(),
                    lifetime: secs(290),
                }),
            ),
            (
                r#"{"access_token":"a"}"#,
                Ok(TokenAnswer {
                    token: "a".into(),
                    lifetime: secs(50),
                }),
            ),
            (
                r#"{"token":"","access_token":"a","expires_in":5}"#,
                Ok(TokenAnswer {
                    token: "a".into(),
                    lifetime: secs(50),
                }),
            ),
            (
                r#"{"token":"t","expires_in":18446744073709551615}"#,
                Ok(TokenAnswer {
                    token: "t".into(),
                    lifetime: secs(24 * 60 * 60 - 10),
                }),
            ),
            (r#"{"expires_in":60}"#, Err("holds no token")),
            (r#"{"token":null}"#, Err("holds no token")),
            (r#"{"token":7}"#, Err("does not decode")),
            ("<html>", Err("does not decode")),
        ];
        for (body, expected) in cases {
            let answer = token_answer(body.as_bytes());
            match (&answer, expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, &want, "{body}"),
                (Err(got), Err(want)) => assert!(got.contains(want), "{body}: {got}"),
                _ => panic!("{body}: {answer:?}"),
            }
        }
    }
}
