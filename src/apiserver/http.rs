//! Small HTTP helpers shared by the handlers: bounded body reading and JSON responses.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::Value;

use super::error::ApiError;

/// The largest request body accepted, as in the kube-apiserver.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// Reads a request body of at most [`MAX_BODY_BYTES`]; larger ones get 413.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match http_body_util::Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::RequestEntityTooLarge(format!(
                "the request body is larger than the limit of {MAX_BODY_BYTES} bytes"
            )))
        }
        Err(error) => Err(ApiError::bad_request(format!(
            "cannot read the request body: {error}"
        ))),
    }
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
