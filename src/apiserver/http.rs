//! Small HTTP helpers shared by the handlers: bounded body reading and JSON responses.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::Value;

use super::error::ApiError;

/// The largest request body accepted, as in the kube-apiserver.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// How much more of a body over [`MAX_BODY_BYTES`] is read, and dropped, before the 413 goes
/// out. A request answered while its client is still sending is cut off: HTTP/2 resets the
/// stream with `CANCEL` (curl then reports a framing error instead of the answer) and HTTP/1.1
/// closes the connection under the upload. Reading the rest first lets the client read the
/// Status and keep its connection; past this much, the client is cut off after all.
pub const DRAINED_BYTES: usize = 8 * MAX_BODY_BYTES;

/// Reads a request body of at most [`MAX_BODY_BYTES`]; larger ones get 413, once the client
/// has sent the rest (up to [`DRAINED_BYTES`] more).
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    read_body_within(body, MAX_BODY_BYTES).await
}

/// Reads a request body of at most `limit` bytes (at most [`MAX_BODY_BYTES`]); larger ones get
/// 413, once the client has sent the rest (up to [`DRAINED_BYTES`] more).
pub async fn read_body_within(mut body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let limit = limit.min(MAX_BODY_BYTES);
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(_) if received > limit => break,
            Err(error) => match crate::server::budget_exhausted(&error) {
                Some(exhausted) => return Err(ApiError::ServiceUnavailable(exhausted.to_string())),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "cannot read the request body: {error}"
                    )))
                }
            },
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received += data.len();
        match received {
            within if within <= limit => chunks.push(data),
            drained if drained <= limit + DRAINED_BYTES => chunks.clear(),
            _ => break,
        }
    }
    if received > limit {
        return Err(ApiError::RequestEntityTooLarge(format!(
            "the request body is larger than the limit of {limit} bytes"
        )));
    }
    Ok(match chunks.len() {
        1 => chunks.pop().unwrap_or_default(),
        _ => chunks.concat().into(),
    })
}

/// A JSON response with a status code and content type.
pub fn json(status: StatusCode, content_type: &'static str, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    bytes_response(status, content_type, bytes)
}

/// A response of pre-serialised bytes.
pub fn bytes_response(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response {
    let mut response = (status, bytes.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A header's value as text, if present and readable.
pub fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Adds `Warning: 299 - "<text>"` headers, as the apiserver does for field validation.
pub fn add_warnings(response: &mut Response, warnings: &[String]) {
    for warning in warnings {
        let quoted = format!(
            "299 - {}",
            serde_json::to_string(warning).unwrap_or_default()
        );
        if let Ok(value) = HeaderValue::from_str(&quoted) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::BodyBudget;

    #[tokio::test]
    async fn a_body_past_the_servers_budget_is_503_saying_why() {
        let spent = BodyBudget::new(0).count(Body::from("{}"));
        let error = read_body(spent).await.unwrap_err();
        assert_eq!(error.code(), 503);
        assert!(
            error.message().contains("too many large request bodies"),
            "{error:?}"
        );
        let ample = BodyBudget::new(1 << 10).count(Body::from("{}"));
        assert_eq!(&read_body(ample).await.unwrap()[..], b"{}");
    }
}
